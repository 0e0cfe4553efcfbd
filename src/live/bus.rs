//! The event bus of one instance: publishing, fan-out across instances,
//! the per-tenant backlog behind `Last-Event-ID`, and the bounded queue of
//! every open stream.
//!
//! Without Redis, an event goes straight to this instance's subscribers.
//! With `CAMET_REDIS_URL`, every event goes through one Redis channel
//! (shared by the instances with the same prefix), and each instance,
//! this one included, delivers what it receives there: every instance sees
//! the same events in the same order with the same ids, so a client may
//! resume on another instance. Ids are increasing microsecond-based
//! numbers (`max(previous + 1, now in µs)`), drawn by Redis's clock when it
//! is there, so ids stay increasing across restarts too.
//!
//! A stream never lets memory grow: its events go through a queue of
//! `CAMET_STREAM_CLIENT_BUFFER` frames; a client that lets it fill (or falls
//! behind the tenant's channel) is dropped and its slot freed.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::{broadcast, mpsc};

use super::event::{EventKind, HEARTBEAT, LiveEvent};
use crate::config::{LiveConfig, RedisConfig};
use crate::error::AppError;

/// Longest wait for Redis when publishing.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause before the subscriber reconnects after Redis failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Draws the next id and publishes `id event` on the channel, atomically, so
/// the order on the channel is the order of the ids.
const PUBLISH: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local id = redis.call('INCR', KEYS[1])
if id < now then
  id = now
  redis.call('SET', KEYS[1], string.format('%.0f', id))
end
local text = string.format('%.0f', id)
redis.call('PUBLISH', KEYS[2], text .. ' ' .. ARGV[1])
return text
";

/// An event with its SSE frame, rendered once for every stream.
#[derive(Debug)]
pub struct Published {
    /// The event.
    pub event: LiveEvent,
    /// [`LiveEvent::frame`].
    pub frame: Bytes,
}

/// What one tenant's streams share on this instance.
struct TenantChannel {
    sender: broadcast::Sender<Arc<Published>>,
    backlog: VecDeque<Arc<Published>>,
    open_streams: usize,
}

struct Inner {
    settings: LiveConfig,
    tenants: Mutex<HashMap<i32, TenantChannel>>,
    open_streams: AtomicU64,
    last_id: AtomicU64,
    dropped_slow: AtomicU64,
    redis: Option<RedisFanout>,
}

struct RedisFanout {
    connection: redis::aio::ConnectionManager,
    script: redis::Script,
    id_key: String,
    channel: String,
}

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamRefused {
    /// The tenant holds `CAMET_STREAMS_PER_TENANT` streams on this instance.
    TenantFull(usize),
    /// The instance holds `CAMET_STREAMS_PER_INSTANCE` streams.
    InstanceFull(usize),
}

impl From<StreamRefused> for AppError {
    fn from(refused: StreamRefused) -> Self {
        let detail = match refused {
            StreamRefused::TenantFull(cap) => {
                format!("your organisation already has {cap} open event streams on this server; close one first")
            }
            StreamRefused::InstanceFull(cap) => {
                format!("this server already holds {cap} open event streams; try again shortly")
            }
        };
        AppError::RateLimited {
            message: detail,
            retry_after_secs: 5,
        }
    }
}

/// The instance's bus; cheap to clone.
#[derive(Clone)]
pub struct LiveBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LiveBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveBus")
            .field("redis", &self.inner.redis.is_some())
            .field("open_streams", &self.open_streams())
            .finish()
    }
}

fn now_micros() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0)
}

impl LiveBus {
    /// A bus delivering in this process only.
    pub fn local(settings: LiveConfig) -> LiveBus {
        LiveBus {
            inner: Arc::new(Inner {
                settings,
                tenants: Mutex::new(HashMap::new()),
                open_streams: AtomicU64::new(0),
                last_id: AtomicU64::new(0),
                dropped_slow: AtomicU64::new(0),
                redis: None,
            }),
        }
    }

    /// A bus fanning out through Redis (see the module doc); starts the
    /// subscriber, which ends when the last handle of the bus is dropped.
    pub fn with_redis(settings: LiveConfig, redis_config: &RedisConfig) -> Result<LiveBus, AppError> {
        let client = redis::Client::open(redis_config.url.expose())
            .map_err(|e| AppError::Config(format!("invalid CAMET_REDIS_URL: {e}")))?;
        let manager_settings = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let connection = redis::aio::ConnectionManager::new_lazy_with_config(client.clone(), manager_settings)
            .map_err(|e| AppError::Config(format!("CAMET_REDIS_URL: {e}")))?;
        let channel = format!("{}:live:events", redis_config.prefix);
        let bus = LiveBus {
            inner: Arc::new(Inner {
                settings,
                tenants: Mutex::new(HashMap::new()),
                open_streams: AtomicU64::new(0),
                last_id: AtomicU64::new(0),
                dropped_slow: AtomicU64::new(0),
                redis: Some(RedisFanout {
                    connection,
                    script: redis::Script::new(PUBLISH),
                    id_key: format!("{}:live:last_id", redis_config.prefix),
                    channel: channel.clone(),
                }),
            }),
        };
        tokio::spawn(subscribe(Arc::downgrade(&bus.inner), client, channel));
        Ok(bus)
    }

    /// Streams open on this instance.
    pub fn open_streams(&self) -> u64 {
        self.inner.open_streams.load(Ordering::Relaxed)
    }

    /// Streams dropped so far because their client did not keep up.
    pub fn dropped_slow(&self) -> u64 {
        self.inner.dropped_slow.load(Ordering::Relaxed)
    }

    /// Publishes an event of `tenant_id` to every stream of the tenant, on
    /// every instance. Never fails: with Redis unreachable the event reaches
    /// this instance's streams only, and a warning is logged.
    pub async fn publish(&self, tenant_id: i32, kind: EventKind, data: serde_json::Value) {
        let mut event = LiveEvent {
            id: 0,
            tenant_id,
            kind,
            data,
        };
        if let Some(redis) = &self.inner.redis {
            let text = match serde_json::to_string(&event) {
                Ok(text) => text,
                Err(error) => {
                    tracing::error!(%error, "live event not serialisable; dropped");
                    return;
                }
            };
            let mut connection = redis.connection.clone();
            let sent = tokio::time::timeout(
                REDIS_TIMEOUT,
                redis
                    .script
                    .key(&redis.id_key)
                    .key(&redis.channel)
                    .arg(text)
                    .invoke_async::<String>(&mut connection),
            )
            .await;
            match sent {
                Ok(Ok(_)) => return,
                Ok(Err(error)) => tracing::warn!(%error, "Redis refused a live event; delivered on this instance only"),
                Err(_) => tracing::warn!("Redis did not answer in time; live event delivered on this instance only"),
            }
        }
        event.id = self.next_local_id();
        self.inner.deliver(event);
    }

    fn next_local_id(&self) -> u64 {
        let now = now_micros();
        let previous = self
            .inner
            .last_id
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some((last + 1).max(now)))
            .unwrap_or(0);
        (previous + 1).max(now)
    }

    /// Opens a stream of `tenant_id`'s events: those after `last_event_id`
    /// still in the backlog first, then every new one. Refused when a cap is
    /// reached.
    pub fn open(&self, tenant_id: i32, last_event_id: Option<u64>) -> Result<Subscription, StreamRefused> {
        let settings = &self.inner.settings;
        let mut tenants = self.inner.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let open = self.inner.open_streams.load(Ordering::SeqCst);
        if open >= settings.streams_per_instance as u64 {
            return Err(StreamRefused::InstanceFull(settings.streams_per_instance));
        }
        let channel = self.inner.channel(&mut tenants, tenant_id);
        if channel.open_streams >= settings.streams_per_tenant {
            return Err(StreamRefused::TenantFull(settings.streams_per_tenant));
        }
        channel.open_streams += 1;
        self.inner.open_streams.fetch_add(1, Ordering::SeqCst);
        // Under the lock no event is delivered: the backlog read and the
        // subscription meet without a gap or an overlap.
        let receiver = channel.sender.subscribe();
        let (replay, missed) = match last_event_id {
            None => (Vec::new(), false),
            Some(last) => {
                let oldest = channel.backlog.front().map(|p| p.event.id);
                let replay: Vec<Bytes> = channel
                    .backlog
                    .iter()
                    .filter(|p| p.event.id > last)
                    .map(|p| p.frame.clone())
                    .collect();
                // Events between `last` and the oldest kept one may be lost.
                let missed = oldest.is_some_and(|oldest| oldest > last.saturating_add(1));
                (replay, missed)
            }
        };
        Ok(Subscription {
            replay,
            missed,
            receiver,
            slot: Slot {
                inner: self.inner.clone(),
                tenant_id,
            },
        })
    }
}

impl Inner {
    fn channel<'a>(&self, tenants: &'a mut HashMap<i32, TenantChannel>, tenant_id: i32) -> &'a mut TenantChannel {
        let capacity = self.settings.client_buffer.max(64);
        tenants.entry(tenant_id).or_insert_with(|| TenantChannel {
            sender: broadcast::channel(capacity).0,
            backlog: VecDeque::new(),
            open_streams: 0,
        })
    }

    /// Hands an event with its id to this instance's streams and backlog.
    fn deliver(&self, event: LiveEvent) {
        self.last_id.fetch_max(event.id, Ordering::SeqCst);
        let published = Arc::new(Published {
            frame: Bytes::from(event.frame()),
            event,
        });
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        let channel = self.channel(&mut tenants, published.event.tenant_id);
        if channel.backlog.len() >= self.settings.backlog {
            channel.backlog.pop_front();
        }
        channel.backlog.push_back(published.clone());
        // No receiver is not an error: nobody is watching this tenant here.
        let _ = channel.sender.send(published);
    }
}

/// Receives the channel's events and delivers them here, reconnecting after
/// a failure, until the bus is gone.
async fn subscribe(bus: Weak<Inner>, client: redis::Client, channel: String) {
    loop {
        if bus.strong_count() == 0 {
            return;
        }
        let mut pubsub = match tokio::time::timeout(REDIS_TIMEOUT * 4, client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(error)) => {
                tracing::warn!(%error, "live events: cannot reach Redis; retrying");
                tokio::time::sleep(RECONNECT_AFTER).await;
                continue;
            }
            Err(_) => {
                tracing::warn!("live events: Redis did not answer; retrying");
                tokio::time::sleep(RECONNECT_AFTER).await;
                continue;
            }
        };
        if let Err(error) = pubsub.subscribe(&channel).await {
            tracing::warn!(%error, "live events: subscription refused; retrying");
            tokio::time::sleep(RECONNECT_AFTER).await;
            continue;
        }
        let mut messages = pubsub.into_on_message();
        loop {
            // Wake now and then to notice a dropped bus on a quiet channel.
            let message = match tokio::time::timeout(Duration::from_secs(5), messages.next()).await {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(_) => {
                    if bus.strong_count() == 0 {
                        return;
                    }
                    continue;
                }
            };
            let Some(inner) = bus.upgrade() else { return };
            match parse_message(message.get_payload_bytes()) {
                Some(event) => inner.deliver(event),
                None => tracing::warn!("live events: unreadable message on the channel ignored"),
            }
        }
        tracing::warn!("live events: Redis subscription ended; reconnecting");
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// `"<id> <event JSON>"` as published by [`PUBLISH`].
fn parse_message(payload: &[u8]) -> Option<LiveEvent> {
    let text = std::str::from_utf8(payload).ok()?;
    let (id, json) = text.split_once(' ')?;
    let mut event: LiveEvent = serde_json::from_str(json).ok()?;
    event.id = id.parse().ok()?;
    Some(event)
}

/// Frees a stream's place in the caps when the stream ends.
struct Slot {
    inner: Arc<Inner>,
    tenant_id: i32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.inner.open_streams.fetch_sub(1, Ordering::SeqCst);
        let mut tenants = self.inner.tenants.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(channel) = tenants.get_mut(&self.tenant_id) {
            channel.open_streams = channel.open_streams.saturating_sub(1);
        }
    }
}

/// An open stream before its frames flow.
pub struct Subscription {
    replay: Vec<Bytes>,
    missed: bool,
    receiver: broadcast::Receiver<Arc<Published>>,
    slot: Slot,
}

/// How a stream ended, for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The client went away.
    ClientGone,
    /// The client did not read fast enough.
    TooSlow,
    /// `CAMET_STREAM_MAX_SECS` passed.
    MaxDuration,
    /// The bus was dropped (shutdown).
    BusGone,
}

impl Subscription {
    /// Whether events between the client's `Last-Event-ID` and the oldest
    /// one kept may be lost (the client should reload the state).
    pub fn missed(&self) -> bool {
        self.missed
    }

    /// Starts forwarding frames: the replay, then new events and
    /// heartbeats. The returned queue ends when the stream does.
    pub fn start(self, first: Option<Bytes>) -> mpsc::Receiver<Bytes> {
        let settings = self.slot.inner.settings.clone();
        let (sender, receiver) = mpsc::channel(settings.client_buffer);
        let dropped = self.slot.inner.clone();
        tokio::spawn(async move {
            let end = forward(self, first, sender, &settings).await;
            if end == StreamEnd::TooSlow {
                dropped.dropped_slow.fetch_add(1, Ordering::Relaxed);
                tracing::info!("event stream dropped: its client did not keep up");
            }
        });
        receiver
    }
}

async fn forward(
    subscription: Subscription,
    first: Option<Bytes>,
    sender: mpsc::Sender<Bytes>,
    settings: &LiveConfig,
) -> StreamEnd {
    let Subscription {
        replay,
        mut receiver,
        slot,
        ..
    } = subscription;
    let _slot = slot;
    let heartbeat_every = Duration::from_secs(settings.heartbeat_secs);
    // The replay may be longer than the queue: the client gets a heartbeat
    // period per frame to take it.
    for frame in first.into_iter().chain(replay) {
        match tokio::time::timeout(heartbeat_every, sender.send(frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return StreamEnd::ClientGone,
            Err(_) => return StreamEnd::TooSlow,
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(settings.stream_max_secs);
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat_every, heartbeat_every);
    loop {
        let frame = tokio::select! {
            biased;
            _ = sender.closed() => return StreamEnd::ClientGone,
            _ = tokio::time::sleep_until(deadline) => return StreamEnd::MaxDuration,
            received = receiver.recv() => match received {
                Ok(published) => published.frame.clone(),
                Err(broadcast::error::RecvError::Lagged(_)) => return StreamEnd::TooSlow,
                Err(broadcast::error::RecvError::Closed) => return StreamEnd::BusGone,
            },
            _ = heartbeat.tick() => Bytes::from_static(HEARTBEAT.as_bytes()),
        };
        match sender.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => return StreamEnd::TooSlow,
            Err(mpsc::error::TrySendError::Closed(_)) => return StreamEnd::ClientGone,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LiveConfig {
        LiveConfig {
            tick_secs: 2,
            kpi_secs: 60,
            alert_job_secs: 30,
            heartbeat_secs: 60,
            stream_max_secs: 3600,
            streams_per_tenant: 2,
            streams_per_instance: 3,
            backlog: 10,
            client_buffer: 8,
        }
    }

    fn ids(frames: &[Bytes]) -> Vec<u64> {
        frames
            .iter()
            .filter_map(|f| {
                std::str::from_utf8(f)
                    .ok()?
                    .strip_prefix("id: ")?
                    .split('\n')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect()
    }

    async fn take(receiver: &mut mpsc::Receiver<Bytes>, n: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        for _ in 0..n {
            match tokio::time::timeout(Duration::from_secs(5), receiver.recv()).await {
                Ok(Some(frame)) => out.push(frame),
                _ => break,
            }
        }
        out
    }

    #[tokio::test]
    async fn ids_increase_and_a_stream_sees_only_its_tenant() {
        let bus = LiveBus::local(settings());
        let mut mine = bus.open(1, None).expect("open").start(None);
        bus.publish(2, EventKind::Kpi, serde_json::json!({"t": 2})).await;
        for n in 0..3 {
            bus.publish(1, EventKind::Kpi, serde_json::json!({"n": n})).await;
        }
        let frames = take(&mut mine, 3).await;
        let seen = ids(&frames);
        assert_eq!(seen.len(), 3);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        assert!(frames.iter().all(|f| !String::from_utf8_lossy(f).contains("\"t\"")));
    }

    #[tokio::test]
    async fn last_event_id_replays_what_came_after_and_flags_a_gap() {
        let bus = LiveBus::local(settings());
        for n in 0..15 {
            bus.publish(1, EventKind::Production, serde_json::json!({"n": n})).await;
        }
        // The backlog keeps 10: the first 5 are gone.
        let kept: Vec<u64> = {
            let tenants = bus.inner.tenants.lock().expect("lock");
            tenants[&1].backlog.iter().map(|p| p.event.id).collect()
        };
        assert_eq!(kept.len(), 10);
        let resume = bus.open(1, Some(kept[6])).expect("open");
        assert!(!resume.missed());
        let mut frames = resume.start(None);
        assert_eq!(ids(&take(&mut frames, 3).await), kept[7..].to_vec());
        let too_old = bus.open(1, Some(kept[0] - 5)).expect("open");
        assert!(too_old.missed(), "the client asked for events no longer kept");
    }

    #[tokio::test]
    async fn caps_refuse_the_next_stream_and_a_closed_one_frees_its_place() {
        let bus = LiveBus::local(settings());
        let a = bus.open(1, None).expect("first");
        let _b = bus.open(1, None).expect("second");
        assert_eq!(bus.open(1, None).err(), Some(StreamRefused::TenantFull(2)));
        let _c = bus.open(2, None).expect("another tenant");
        assert_eq!(bus.open(3, None).err(), Some(StreamRefused::InstanceFull(3)));
        drop(a);
        assert_eq!(bus.open_streams(), 2);
        bus.open(1, None).expect("a place was freed");
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_dropped_and_frees_its_place() {
        let bus = LiveBus::local(settings());
        let frames = bus.open(1, None).expect("open").start(None);
        // Nobody reads `frames`: the queue of 8 fills, then the stream ends.
        for n in 0..200 {
            bus.publish(1, EventKind::Production, serde_json::json!({"n": n})).await;
            tokio::task::yield_now().await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while bus.open_streams() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(bus.open_streams(), 0, "the slow stream still holds its place");
        assert_eq!(bus.dropped_slow(), 1);
        assert!(frames.len() <= 8, "queued {} frames", frames.len());
    }

    #[test]
    fn a_channel_message_is_read_back_with_its_id() {
        let event = LiveEvent {
            id: 0,
            tenant_id: 4,
            kind: EventKind::Alert,
            data: serde_json::json!({"a": 1}),
        };
        let text = format!("1764000000000001 {}", serde_json::to_string(&event).expect("json"));
        let read = parse_message(text.as_bytes()).expect("parsed");
        assert_eq!(read.id, 1_764_000_000_000_001);
        assert_eq!(read.tenant_id, 4);
        assert!(parse_message(b"garbage").is_none());
    }
}
