//! Webhook subscriptions and their deliveries.
//!
//! A subscription (`webhooks`) names a URL and the event types it takes; its
//! secret (`whsec_…`) is made here, shown once and kept to sign. Raising an
//! event ([`enqueue`]) writes one `webhook_deliveries` row per subscribed
//! active webhook; [`deliver_due`] POSTs what is due, signed with the
//! Standard Webhooks headers, and records each attempt's outcome on its row
//! (status code, error, latency) when the attempt ends.
//!
//! Retries: a non-2xx answer, a timeout (10 s) or a refused target is a
//! failed attempt, retried after [`retry::backoff`]; after the last attempt
//! (8 by default) the delivery is `failed`. A 2xx makes it `delivered`.
//! Five deliveries of one webhook ending `failed` in a row disable it
//! (`is_active` false, with `disabled_at` and `disabled_reason`); one
//! `delivered` resets the count. A disabled webhook's queued deliveries end
//! `failed` and it gets no new ones; delete it and subscribe again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::RunQueryDsl;
use futures::StreamExt;
use serde::Serialize;

use crate::audit::{AuditEntry, OutboxConn};
use crate::db::dialect::DialectConn;
use crate::db::schema::tenant::{webhook_deliveries, webhooks};
use crate::db::{DbConn, DbPool};
use crate::error::{AppError, AppResult, FieldError};
use crate::notify::{clip, retry, signing, ssrf};

/// Webhook event types a subscription can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// An alert rule fired.
    Alert,
    /// A line stopped.
    DowntimeStarted,
    /// A stop ended.
    DowntimeEnded,
    /// A shift ended (with its report).
    ShiftEnded,
}

impl EventType {
    /// Every event type.
    pub const ALL: [EventType; 4] = [
        EventType::Alert,
        EventType::DowntimeStarted,
        EventType::DowntimeEnded,
        EventType::ShiftEnded,
    ];

    /// The name in payloads and subscriptions (`alert`, `downtime_started`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Alert => "alert",
            EventType::DowntimeStarted => "downtime_started",
            EventType::DowntimeEnded => "downtime_ended",
            EventType::ShiftEnded => "shift_ended",
        }
    }

    /// The event type named `name`.
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// Most webhooks one tenant may have (disabled ones count).
pub const MAX_PER_TENANT: i64 = 20;
/// Deliveries of one webhook ending `failed` in a row that disable it.
pub const DISABLE_AFTER_FAILURES: i32 = 5;
/// How long one attempt may take, connection and answer included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of an answer read (the rest is dropped).
const MAX_ANSWER_BYTES: usize = 4096;
/// Deliveries one run sends per tenant, and how many at once.
const BATCH: i64 = 40;
const CONCURRENT: usize = 8;

/// Delivery statuses.
pub mod status {
    /// Waiting for its next attempt.
    pub const PENDING: &str = "pending";
    /// A 2xx answer came back.
    pub const DELIVERED: &str = "delivered";
    /// Every attempt failed (or the webhook was disabled).
    pub const FAILED: &str = "failed";
}

/// A stored subscription. `secret` is only for signing and the creation
/// answer; lists never show it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    /// Id.
    pub webhook_id: i32,
    /// Target URL.
    pub url: String,
    /// JSON array of event type names.
    pub events: String,
    /// `whsec_` + base64.
    pub secret: String,
    /// False once disabled.
    pub is_active: bool,
    /// Deliveries ended `failed` in a row.
    pub consecutive_failures: i32,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// When it was disabled.
    pub disabled_at: Option<NaiveDateTime>,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
}

impl WebhookRow {
    /// The event types it takes (unknown names, never written, are skipped).
    pub fn event_types(&self) -> Vec<EventType> {
        serde_json::from_str::<Vec<String>>(&self.events)
            .unwrap_or_default()
            .iter()
            .filter_map(|name| EventType::parse(name))
            .collect()
    }
}

/// One message for one webhook, with its latest attempt.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    /// Id.
    pub delivery_id: i64,
    /// The webhook.
    pub webhook_id: i32,
    /// `webhook-id` header (`msg_…`), the same on every attempt.
    pub message_id: String,
    /// Event type name.
    pub event_type: String,
    /// The JSON body sent.
    pub payload: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: NaiveDateTime,
    /// HTTP status of the latest attempt, if an answer came.
    pub last_status_code: Option<i32>,
    /// What went wrong in the latest attempt.
    pub last_error: Option<String>,
    /// Duration of the latest attempt.
    pub latency_ms: Option<i64>,
    /// Queued.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// When a 2xx came back.
    pub delivered_at: Option<NaiveDateTime>,
}

/// What a client asks to subscribe.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Target URL.
    pub url: String,
    /// Event type names.
    pub events: Vec<String>,
}

/// The audit view of a webhook: never its secret.
#[derive(Serialize)]
struct Audited<'a> {
    url: &'a str,
    events: Vec<&'static str>,
}

/// Checks `names`: at least one, no repeats, each a known event type.
pub fn parse_events(names: &[String]) -> Result<Vec<EventType>, FieldError> {
    if names.is_empty() {
        return Err(FieldError::new("events", "name at least one event type"));
    }
    let mut events = Vec::with_capacity(names.len());
    for name in names {
        let Some(event) = EventType::parse(name) else {
            let known: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
            return Err(FieldError::new(
                "events",
                format!("unknown event type {name:?}; known: {}", known.join(", ")),
            ));
        };
        if events.contains(&event) {
            return Err(FieldError::new("events", format!("{name:?} is named twice")));
        }
        events.push(event);
    }
    Ok(events)
}

/// Checks a subscription: its URL's form and addresses (a name that does
/// not resolve yet is accepted: every delivery checks again) and its events.
async fn validate(input: &NewWebhook, allow_private: bool) -> AppResult<(String, Vec<EventType>)> {
    let mut errors = Vec::new();
    let url = match ssrf::parse_url(&input.url) {
        Ok(url) => match ssrf::check_target(&url, allow_private).await {
            Ok(_) => Some(url.to_string()),
            Err(refused) => {
                errors.push(FieldError::new("url", refused));
                None
            }
        },
        Err(message) => {
            errors.push(FieldError::new("url", message));
            None
        }
    };
    let events = parse_events(&input.events).map_err(|e| errors.push(e)).ok();
    match (url, events) {
        (Some(url), Some(events)) if errors.is_empty() => Ok((url, events)),
        _ => Err(AppError::invalid_fields(errors)),
    }
}

/// Subscribes a webhook (a 422 naming `url` or `events` when invalid, a
/// 409 past [`MAX_PER_TENANT`]); returns the row with its new secret.
/// `audit` gets the entity and values (never the secret).
pub async fn create(
    conn: &mut DbConn,
    input: &NewWebhook,
    allow_private: bool,
    audit: &AuditEntry,
    now: DateTime<Utc>,
) -> AppResult<WebhookRow> {
    let (url, events) = validate(input, allow_private).await?;
    let names: Vec<&'static str> = events.iter().map(|e| e.as_str()).collect();
    let events_json = serde_json::to_string(&names).map_err(AppError::internal)?;
    let secret = signing::new_secret();
    let now = now.naive_utc();
    let id = crate::write_tx!(conn, |c| {
        let count = webhooks::table.count().get_result::<i64>(c).await?;
        if count >= MAX_PER_TENANT {
            return Err(AppError::Conflict(format!(
                "a tenant may have at most {MAX_PER_TENANT} webhooks; delete one first"
            )));
        }
        diesel::insert_into(webhooks::table)
            .values((
                webhooks::url.eq(&url),
                webhooks::events.eq(&events_json),
                webhooks::secret.eq(&secret),
                webhooks::is_active.eq(true),
                webhooks::consecutive_failures.eq(0),
                webhooks::created_at.eq(now),
                webhooks::updated_at.eq(now),
            ))
            .execute(c)
            .await?;
        let id = i32::try_from(c.last_insert_id().await?).map_err(AppError::internal)?;
        let audited = Audited {
            url: &url,
            events: names.clone(),
        };
        let entry = audit
            .clone()
            .entity("webhook", id)
            .values::<(), _>(None, Some(&audited));
        c.write_outbox(&entry).await?;
        Ok::<_, AppError>(id)
    })?;
    get(conn, id).await
}

/// The tenant's webhooks, oldest first.
pub async fn list(conn: &mut DbConn) -> AppResult<Vec<WebhookRow>> {
    Ok(crate::with_conn!(conn, |c| webhooks::table
        .order(webhooks::webhook_id.asc())
        .select(WebhookRow::as_select())
        .load(c)
        .await)?)
}

/// Webhook `id`, or a 404.
pub async fn get(conn: &mut DbConn, id: i32) -> AppResult<WebhookRow> {
    crate::with_conn!(conn, |c| webhooks::table
        .find(id)
        .select(WebhookRow::as_select())
        .first(c)
        .await
        .optional())?
    .ok_or_else(|| AppError::NotFound(format!("webhook {id} not found")))
}

/// Deletes webhook `id` and its delivery log (queued messages are not sent).
pub async fn delete(conn: &mut DbConn, id: i32, audit: &AuditEntry) -> AppResult<()> {
    let before = get(conn, id).await?;
    let audited = Audited {
        url: &before.url,
        events: before.event_types().iter().map(|e| e.as_str()).collect(),
    };
    let entry = audit
        .clone()
        .entity("webhook", id)
        .values::<_, ()>(Some(&audited), None);
    crate::write_tx!(conn, |c| {
        diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(id)))
            .execute(c)
            .await?;
        diesel::delete(webhooks::table.find(id)).execute(c).await?;
        c.write_outbox(&entry).await?;
        Ok::<_, AppError>(())
    })
}

/// A page of webhook `id`'s deliveries, newest first, and how many it has.
pub async fn deliveries(conn: &mut DbConn, id: i32, limit: i64, offset: i64) -> AppResult<(Vec<DeliveryRow>, i64)> {
    get(conn, id).await?;
    let (rows, total) = crate::with_conn!(conn, |c| {
        let rows = webhook_deliveries::table
            .filter(webhook_deliveries::webhook_id.eq(id))
            .order(webhook_deliveries::delivery_id.desc())
            .limit(limit)
            .offset(offset)
            .select(DeliveryRow::as_select())
            .load(c)
            .await?;
        let total = webhook_deliveries::table
            .filter(webhook_deliveries::webhook_id.eq(id))
            .count()
            .get_result::<i64>(c)
            .await?;
        Ok::<_, diesel::result::Error>((rows, total))
    })?;
    Ok((rows, total))
}

/// The JSON body of a message: `{"type", "timestamp", "data"}`.
pub fn payload(event_type: EventType, data: &serde_json::Value, now: DateTime<Utc>) -> String {
    serde_json::json!({
        "type": event_type.as_str(),
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
}

/// Queues one message of `event_type` for every active webhook of the
/// tenant subscribed to it; returns how many deliveries were queued. Body:
/// `{"type": "<event_type>", "timestamp": RFC3339, "data": data}`. All
/// webhooks get the same `webhook-id` (`msg_<uuid>`) for one message.
pub async fn enqueue(
    conn: &mut DbConn,
    event_type: EventType,
    data: &serde_json::Value,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let active: Vec<WebhookRow> = crate::with_conn!(conn, |c| webhooks::table
        .filter(webhooks::is_active.eq(true))
        .select(WebhookRow::as_select())
        .load(c)
        .await)?;
    let targets: Vec<i32> = active
        .iter()
        .filter(|w| w.event_types().contains(&event_type))
        .map(|w| w.webhook_id)
        .collect();
    if targets.is_empty() {
        return Ok(0);
    }
    let body = payload(event_type, data, now);
    let message_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let at = now.naive_utc();
    crate::write_tx!(conn, |c| {
        for webhook_id in &targets {
            diesel::insert_into(webhook_deliveries::table)
                .values((
                    webhook_deliveries::webhook_id.eq(webhook_id),
                    webhook_deliveries::message_id.eq(&message_id),
                    webhook_deliveries::event_type.eq(event_type.as_str()),
                    webhook_deliveries::payload.eq(&body),
                    webhook_deliveries::status.eq(status::PENDING),
                    webhook_deliveries::attempts.eq(0),
                    webhook_deliveries::next_attempt_at.eq(at),
                    webhook_deliveries::created_at.eq(at),
                    webhook_deliveries::updated_at.eq(at),
                ))
                .execute(c)
                .await?;
        }
        Ok::<_, AppError>(())
    })?;
    crate::notify::wake();
    Ok(targets.len())
}

/// How deliveries are sent: the configuration values they need.
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    /// `CAMET_WEBHOOKS_ALLOW_PRIVATE`.
    pub allow_private: bool,
    /// `CAMET_WEBHOOK_RETRY_BASE_MS`.
    pub retry_base: Duration,
    /// `CAMET_WEBHOOK_MAX_ATTEMPTS`.
    pub max_attempts: i32,
}

/// Sends webhook deliveries: one HTTP client (no redirects, no proxy, the
/// guarded resolver) shared by every attempt.
pub struct Sender {
    client: reqwest::Client,
    settings: DeliverySettings,
}

impl Sender {
    /// A sender with `settings`.
    pub fn new(settings: DeliverySettings) -> AppResult<Sender> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(ATTEMPT_TIMEOUT)
            .dns_resolver(std::sync::Arc::new(ssrf::GuardedResolver {
                allow_private: settings.allow_private,
            }))
            .user_agent(concat!("Camet-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(AppError::internal)?;
        Ok(Sender { client, settings })
    }

    /// The settings it sends with.
    pub fn settings(&self) -> DeliverySettings {
        self.settings
    }

    /// One attempt of `delivery` to `webhook`, never an error: what
    /// happened is the outcome.
    async fn attempt(&self, webhook: &WebhookRow, delivery: &DeliveryRow) -> Attempt {
        let started = Instant::now();
        let result = tokio::time::timeout(ATTEMPT_TIMEOUT, self.post(webhook, delivery)).await;
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match result {
            Ok(Ok(code)) => Attempt {
                status_code: Some(i32::from(code.0)),
                error: code.1,
                latency_ms: Some(latency_ms),
                delivered: (200..300).contains(&code.0),
            },
            Ok(Err(error)) => Attempt::failed(error, Some(latency_ms)),
            Err(_) => Attempt::failed(
                format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()),
                Some(latency_ms),
            ),
        }
    }

    /// Checks the target and POSTs; the answer's status and, for a non-2xx,
    /// the start of its body.
    async fn post(&self, webhook: &WebhookRow, delivery: &DeliveryRow) -> Result<(u16, Option<String>), String> {
        let url = ssrf::parse_url(&webhook.url)?;
        ssrf::check_target(&url, self.settings.allow_private).await?;
        let timestamp = crate::clock::now_utc().timestamp();
        let signature = signing::sign(&webhook.secret, &delivery.message_id, timestamp, &delivery.payload)?;
        let mut response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &delivery.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let code = response.status().as_u16();
        // Read a little of the answer (so the connection ends cleanly), never all of it.
        let mut answer = Vec::new();
        while answer.len() < MAX_ANSWER_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => answer.extend_from_slice(&chunk),
                _ => break,
            }
        }
        answer.truncate(MAX_ANSWER_BYTES);
        let error = (!(200..300).contains(&code)).then(|| {
            let text = String::from_utf8_lossy(&answer);
            let text = text.trim();
            if text.is_empty() {
                format!("HTTP {code}")
            } else {
                format!("HTTP {code}: {}", clip(text, 200))
            }
        });
        Ok((code, error))
    }
}

/// A reqwest error in words, with its causes (a refused address shows up
/// as the resolver's message).
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attempt {
    status_code: Option<i32>,
    error: Option<String>,
    latency_ms: Option<i64>,
    delivered: bool,
}

impl Attempt {
    fn failed(error: String, latency_ms: Option<i64>) -> Attempt {
        Attempt {
            status_code: None,
            error: Some(error),
            latency_ms,
            delivered: false,
        }
    }
}

/// What recording an attempt does to its delivery. Pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The delivery's new status.
    pub status: &'static str,
    /// Attempts made, this one included.
    pub attempts: i32,
    /// When to try again (pending only).
    pub retry_in: Option<Duration>,
}

/// The transition after an attempt (`delivered` or not) of a delivery that
/// had `attempts` before.
pub fn transition(delivered: bool, attempts: i32, max_attempts: i32, retry_base: Duration, random: f64) -> Transition {
    let attempts = attempts.saturating_add(1);
    let (status, retry_in) = if delivered {
        (status::DELIVERED, None)
    } else if attempts < max_attempts {
        let wait = retry::backoff(attempts.unsigned_abs(), retry_base, random);
        (status::PENDING, Some(wait))
    } else {
        (status::FAILED, None)
    };
    Transition {
        status,
        attempts,
        retry_in,
    }
}

/// Whether a webhook with `failures` deliveries ended `failed` in a row is
/// disabled.
pub fn disables(failures: i32) -> bool {
    failures >= DISABLE_AFTER_FAILURES
}

/// Sends the tenant's due deliveries (at most a batch per run, a few at
/// once) and records each attempt when it ends; returns how many attempts
/// were made. Timing follows the system clock: `webhook-timestamp` must be
/// real time for receivers to accept it.
pub async fn deliver_due(pool: &DbPool, sender: &Sender) -> AppResult<usize> {
    let now = crate::clock::now_naive();
    let mut conn = pool.get().await?;
    let due: Vec<DeliveryRow> = crate::with_conn!(&mut conn, |c| webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(status::PENDING))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .order((
            webhook_deliveries::next_attempt_at.asc(),
            webhook_deliveries::delivery_id.asc()
        ))
        .limit(BATCH)
        .select(DeliveryRow::as_select())
        .load(c)
        .await)?;
    if due.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i32> = due.iter().map(|d| d.webhook_id).collect();
    let hooks: HashMap<i32, WebhookRow> = crate::with_conn!(&mut conn, |c| webhooks::table
        .filter(webhooks::webhook_id.eq_any(&ids))
        .select(WebhookRow::as_select())
        .load(c)
        .await)?
    .into_iter()
    .map(|w| (w.webhook_id, w))
    .collect();
    // No connection is held while attempts run.
    drop(conn);
    let hooks = &hooks;
    let results: Vec<AppResult<bool>> = futures::stream::iter(due)
        .map(|delivery| async move {
            let Some(webhook) = hooks.get(&delivery.webhook_id) else {
                // Deleted since: its deliveries went with it.
                return Ok(false);
            };
            if !webhook.is_active {
                let reason = webhook.disabled_reason.as_deref().unwrap_or("webhook disabled");
                give_up(
                    pool,
                    &delivery,
                    &format!("not sent: the webhook is disabled ({reason})"),
                )
                .await?;
                return Ok(false);
            }
            let attempt = sender.attempt(webhook, &delivery).await;
            record(pool, sender.settings, webhook, &delivery, &attempt).await?;
            Ok(true)
        })
        .buffer_unordered(CONCURRENT)
        .collect()
        .await;
    let mut attempted = 0;
    for result in results {
        if result? {
            attempted += 1;
        }
    }
    Ok(attempted)
}

/// Ends a delivery `failed` without an attempt.
async fn give_up(pool: &DbPool, delivery: &DeliveryRow, why: &str) -> AppResult<()> {
    let now = crate::clock::now_naive();
    let mut conn = pool.get().await?;
    crate::with_conn!(&mut conn, |c| diesel::update(
        webhook_deliveries::table
            .find(delivery.delivery_id)
            .filter(webhook_deliveries::status.eq(status::PENDING))
    )
    .set((
        webhook_deliveries::status.eq(status::FAILED),
        webhook_deliveries::last_error.eq(Some(clip(why, 480))),
        webhook_deliveries::updated_at.eq(now),
    ))
    .execute(c)
    .await)?;
    Ok(())
}

/// Records one attempt on its delivery and, when the delivery ends, on its
/// webhook (the failure count, disabling), in one transaction.
async fn record(
    pool: &DbPool,
    settings: DeliverySettings,
    webhook: &WebhookRow,
    delivery: &DeliveryRow,
    attempt: &Attempt,
) -> AppResult<()> {
    let now = crate::clock::now_naive();
    let mut conn = pool.get().await?;
    let webhook_id = webhook.webhook_id;
    let error = attempt.error.as_deref().map(|e| clip(e, 480));
    let next = transition(
        attempt.delivered,
        delivery.attempts,
        settings.max_attempts,
        settings.retry_base,
        rand::random::<f64>(),
    );
    let next_attempt_at = match next.retry_in {
        Some(wait) => now + chrono::Duration::from_std(wait).map_err(AppError::internal)?,
        None => delivery.next_attempt_at,
    };
    crate::write_tx!(&mut conn, |c| {
        let changed = diesel::update(
            webhook_deliveries::table
                .find(delivery.delivery_id)
                .filter(webhook_deliveries::status.eq(status::PENDING)),
        )
        .set((
            webhook_deliveries::status.eq(next.status),
            webhook_deliveries::attempts.eq(next.attempts),
            webhook_deliveries::next_attempt_at.eq(next_attempt_at),
            webhook_deliveries::last_status_code.eq(attempt.status_code),
            webhook_deliveries::last_error.eq(&error),
            webhook_deliveries::latency_ms.eq(attempt.latency_ms),
            webhook_deliveries::updated_at.eq(now),
            webhook_deliveries::delivered_at.eq(attempt.delivered.then_some(now)),
        ))
        .execute(c)
        .await?;
        // Gone (its webhook deleted meanwhile), or recorded already.
        if changed == 0 || next.status == status::PENDING {
            return Ok::<_, AppError>(());
        }
        let hook = || webhooks::table.find(webhook_id);
        if next.status == status::DELIVERED {
            diesel::update(hook())
                .set(webhooks::consecutive_failures.eq(0))
                .execute(c)
                .await?;
            return Ok(());
        }
        // An increment in place: deliveries of one webhook end concurrently.
        diesel::update(hook())
            .set((
                webhooks::consecutive_failures.eq(webhooks::consecutive_failures + 1),
                webhooks::updated_at.eq(now),
            ))
            .execute(c)
            .await?;
        let failures: i32 = hook().select(webhooks::consecutive_failures).first(c).await?;
        if disables(failures) {
            let reason = format!(
                "{failures} deliveries in a row failed; the last: {}",
                error.as_deref().unwrap_or("no answer")
            );
            let disabled = diesel::update(hook().filter(webhooks::is_active.eq(true)))
                .set((
                    webhooks::is_active.eq(false),
                    webhooks::disabled_at.eq(Some(now)),
                    webhooks::disabled_reason.eq(Some(clip(&reason, 480))),
                ))
                .execute(c)
                .await?;
            if disabled > 0 {
                tracing::warn!(webhook_id, %reason, "webhook disabled");
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(100);

    #[test]
    fn event_names_round_trip_and_are_checked() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Some(event));
        }
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_events(&names(&["alert", "shift_ended"])),
            Ok(vec![EventType::Alert, EventType::ShiftEnded])
        );
        for bad in [&[][..], &["alert", "alert"], &["Alert"], &["line_state"]] {
            let error = parse_events(&names(bad)).expect_err("refused");
            assert_eq!(error.field, "events");
        }
    }

    #[test]
    fn a_2xx_delivers() {
        let t = transition(true, 3, 8, BASE, 0.5);
        assert_eq!((t.status, t.attempts, t.retry_in), (status::DELIVERED, 4, None));
    }

    #[test]
    fn a_failure_retries_until_the_last_attempt_then_fails() {
        let t = transition(false, 0, 8, BASE, 0.5);
        assert_eq!(
            (t.status, t.attempts, t.retry_in),
            (status::PENDING, 1, Some(Duration::from_millis(50)))
        );
        let t = transition(false, 2, 8, BASE, 0.5);
        assert_eq!(
            t.retry_in,
            Some(Duration::from_millis(200)),
            "the third retry's ceiling is 4 × base"
        );
        let t = transition(false, 7, 8, BASE, 0.5);
        assert_eq!((t.status, t.attempts, t.retry_in), (status::FAILED, 8, None));
        let t = transition(false, 0, 1, BASE, 0.5);
        assert_eq!(t.status, status::FAILED, "one attempt allowed: no retry");
    }

    #[test]
    fn the_fifth_failed_delivery_in_a_row_disables_the_webhook() {
        assert!(!disables(DISABLE_AFTER_FAILURES - 1));
        assert!(disables(DISABLE_AFTER_FAILURES));
        assert_eq!(DISABLE_AFTER_FAILURES, 5);
    }

    #[test]
    fn the_payload_has_type_timestamp_and_data() {
        let at = DateTime::parse_from_rfc3339("2026-12-02T08:30:00Z")
            .expect("instant")
            .to_utc();
        let body: serde_json::Value = serde_json::from_str(&payload(
            EventType::DowntimeStarted,
            &serde_json::json!({"line_id": 1}),
            at,
        ))
        .expect("json");
        assert_eq!(
            body,
            serde_json::json!({"type": "downtime_started", "timestamp": "2026-12-02T08:30:00.000Z", "data": {"line_id": 1}})
        );
    }
}
