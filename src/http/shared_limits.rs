//! Rate-limit buckets shared by every instance through Redis
//! (`CAMET_REDIS_URL`).
//!
//! Each instance's own buckets ([`super::rate_limit::RateLimits`]) let N
//! instances behind a load balancer grant N times every quota, login
//! attempts and failed authentications included. With Redis, every decision
//! runs one Lua script that applies the same GCRA as the local buckets to a
//! key shared by all instances, on Redis's clock, atomically: a check and
//! its commit cannot interleave with another instance's.
//!
//! Redis down or slow is not an outage: the decision falls back to the
//! instance's own buckets (still limited, per instance), a warning is logged,
//! and Redis is not asked again for a few seconds, so a dead Redis costs
//! requests no timeout each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::Quota;

use crate::config::RedisConfig;
use crate::error::AppError;
use crate::http::rate_limit::{QuotaState, RetryAfter, window_secs};

/// Longest wait for Redis on a request's path (connect or answer).
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// How long an instance decides alone after Redis failed.
const DEGRADED_FOR: Duration = Duration::from_secs(5);

/// GCRA over one key, in microseconds of Redis's clock. ARGV: emission
/// interval `t`, burst, commit (1 or 0). The bucket holds its theoretical
/// arrival time (TAT) and expires when it is back to full. Returns
/// {allowed, wait before a retry, remaining, until full again}.
const GCRA: &str = r"
local t = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tau = t * (burst - 1)
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local allowed = 0
local wait = 0
if now >= tat - tau then
  allowed = 1
  if ARGV[3] == '1' then
    tat = tat + t
    redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
  end
else
  wait = tat - tau - now
end
local remaining = 0
local slack = now + tau - tat
if slack >= 0 then remaining = math.min(math.floor(slack / t) + 1, burst) end
return {allowed, wait, remaining, tat - now}
";

/// The buckets every instance with the same Redis and prefix shares.
pub struct SharedBuckets {
    connection: redis::aio::ConnectionManager,
    prefix: String,
    script: redis::Script,
    started: Instant,
    /// Milliseconds after `started` until which Redis is not asked.
    degraded_until_ms: AtomicU64,
}

/// What a shared bucket decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedDecision {
    /// Accepted, or how long to wait.
    pub decision: Result<(), RetryAfter>,
    /// Where the key stands now.
    pub state: QuotaState,
}

impl std::fmt::Debug for SharedBuckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBuckets")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl SharedBuckets {
    /// Buckets in the Redis of `config`. Connects lazily: a Redis that is
    /// down at start delays nothing; only a malformed URL is an error.
    pub fn new(config: &RedisConfig) -> Result<Self, AppError> {
        let client = redis::Client::open(config.url.expose())
            .map_err(|e| AppError::Config(format!("invalid CAMET_REDIS_URL: {e}")))?;
        let settings = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let connection = redis::aio::ConnectionManager::new_lazy_with_config(client, settings)
            .map_err(|e| AppError::Config(format!("CAMET_REDIS_URL: {e}")))?;
        Ok(Self {
            connection,
            prefix: config.prefix.clone(),
            script: redis::Script::new(GCRA),
            started: Instant::now(),
            degraded_until_ms: AtomicU64::new(0),
        })
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Decides one request of `key` under `quota` (with `commit` false, only
    /// tells). `None` when Redis could not answer: the caller decides with
    /// its own buckets.
    pub async fn decide(&self, quota: Quota, key: &str, commit: bool) -> Option<SharedDecision> {
        if self.elapsed_ms() < self.degraded_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        let t = u64::try_from(quota.replenish_interval().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let burst = quota.burst_size().get();
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(format!("{}:rl:{key}", self.prefix));
        invocation.arg(t).arg(burst).arg(u8::from(commit));
        let answer = invocation.invoke_async::<(i64, i64, i64, i64)>(&mut connection);
        let reply = match tokio::time::timeout(REDIS_TIMEOUT, answer).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => return self.degrade(&error.to_string()),
            Err(_) => return self.degrade("no answer in time"),
        };
        let (allowed, wait_us, remaining, full_in_us) = reply;
        let micros = |n: i64| Duration::from_micros(u64::try_from(n).unwrap_or(0));
        Some(SharedDecision {
            decision: if allowed == 1 {
                Ok(())
            } else {
                Err(RetryAfter::from_wait(micros(wait_us)))
            },
            state: QuotaState {
                limit: burst,
                window_secs: window_secs(quota),
                remaining: u32::try_from(remaining).unwrap_or(0),
                reset_secs: u64::try_from(full_in_us).unwrap_or(0).div_ceil(1_000_000),
            },
        })
    }

    fn degrade(&self, why: &str) -> Option<SharedDecision> {
        let until = self
            .elapsed_ms()
            .saturating_add(u64::try_from(DEGRADED_FOR.as_millis()).unwrap_or(5_000));
        self.degraded_until_ms.store(until, Ordering::Relaxed);
        // Redis is not asked again during the period: about one warning per period.
        tracing::warn!(
            error = why,
            "Redis did not answer a rate-limit decision; this instance limits on its own for {} s",
            DEGRADED_FOR.as_secs()
        );
        None
    }
}
