//! Request rate limiting and client-address resolution.
//!
//! This module owns:
//! - [`RateLimits`]: every rate-limiting bucket of the process. Every request is first limited per
//!   client address ([`RateLimits::check_ip`]) and refused while its address has used up its failed
//!   authentications ([`RateLimits::check_auth_failures`]), both before any credential is looked
//!   at; a valid credential then adds its own per-key or per-user quota ([`RateLimits::check`]).
//!   Login attempts are limited per (client IP, username) at their own quota. A refusal carries a
//!   [`RetryAfter`].
//! - [`TrustedProxies`]: which TCP peers may tell us the client address through
//!   `X-Forwarded-For`, and the resolution of that address.
//!
//! Quotas use governor's GCRA: `n` per minute means a burst of `n`, then one more request every
//! `60 / n` seconds. All buckets live in one table whose size is capped (see [`RateLimits`] for the
//! eviction policy), so an attacker rotating addresses or usernames costs bounded memory.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, MonotonicClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::{Quota, RateLimiter};
use ipnet::{IpNet, Ipv4Net};

/// Contract default: requests per minute per client.
pub const DEFAULT_PER_MINUTE: NonZeroU32 = NonZeroU32::new(100).unwrap();
/// Contract default: login attempts per minute per (client IP, username).
pub const LOGIN_PER_MINUTE: NonZeroU32 = NonZeroU32::new(5).unwrap();
/// Contract default: requests per minute per client address, whatever credentials they carry.
/// Higher than the per-principal quota because several users (a plant's NAT) share one address.
pub const IP_PER_MINUTE: NonZeroU32 = NonZeroU32::new(1000).unwrap();
/// Contract default: failed authentications (bad password, token or API key) per minute per client
/// address.
pub const AUTH_FAILURES_PER_MINUTE: NonZeroU32 = NonZeroU32::new(20).unwrap();
/// A sensible cap on tracked buckets: an entry costs roughly 100 bytes, so about 10 MB at most.
pub const DEFAULT_MAX_TRACKED_KEYS: usize = 100_000;

/// Longer client keys are cut, so a careless caller cannot make one entry large.
const MAX_KEY_BYTES: usize = 128;
/// Usernames in login keys are cut to this many characters (before lowercasing).
const MAX_USERNAME_CHARS: usize = 64;
/// How often (in clock time, nanoseconds) a check also drops the buckets that are back to full.
const SWEEP_EVERY_NANOS: u64 = 60_000_000_000;
/// Beyond this many hops, an `X-Forwarded-For` chain is treated as malformed: real deployments have
/// a handful of proxies, and a client must not make us walk an arbitrarily long header.
const MAX_FORWARDED_HOPS: usize = 32;

tokio::task_local! {
    /// The quotas the request being served met, by policy name (see [`note`]).
    static NOTED: Arc<Mutex<Vec<(&'static str, QuotaState)>>>;
}

/// Records that the request being served met the quota `policy` (`address`, `client`, `login`,
/// `auth-failures`) and where its client now stands in it; the response then carries it in the
/// `RateLimit-Policy` and `RateLimit` headers. A policy noted twice keeps its last state. Outside
/// [`noting`] it does nothing.
pub fn note(policy: &'static str, state: QuotaState) {
    let _ = NOTED.try_with(|noted| {
        let mut noted = noted.lock().unwrap_or_else(PoisonError::into_inner);
        noted.retain(|(name, _)| *name != policy);
        noted.push((policy, state));
    });
}

/// Runs `work` collecting the quotas it [`note`]s.
pub async fn noting<F: std::future::Future>(work: F) -> (F::Output, Vec<(&'static str, QuotaState)>) {
    let noted = Arc::new(Mutex::new(Vec::new()));
    let output = NOTED.scope(noted.clone(), work).await;
    let noted = std::mem::take(&mut *noted.lock().unwrap_or_else(PoisonError::into_inner));
    (output, noted)
}

/// The `RateLimit-Policy` and `RateLimit` header values (IETF draft
/// draft-ietf-httpapi-ratelimit-headers-09, structured-field lists) for `noted` quotas:
/// `"client";q=100;w=60` and `"client";r=97;t=2`. `None` when nothing was noted.
pub fn header_values(noted: &[(&'static str, QuotaState)]) -> Option<(String, String)> {
    if noted.is_empty() {
        return None;
    }
    let policies: Vec<String> = noted
        .iter()
        .map(|(name, s)| format!("\"{name}\";q={};w={}", s.limit, s.window_secs))
        .collect();
    let states: Vec<String> = noted
        .iter()
        .map(|(name, s)| format!("\"{name}\";r={};t={}", s.remaining, s.reset_secs))
        .collect();
    Some((policies.join(", "), states.join(", ")))
}

/// How long a refused client must wait before a retry can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    /// Whole seconds, rounded up and at least 1: the value of the `Retry-After` header.
    pub seconds: u64,
}

impl RetryAfter {
    /// The wait rounded up to whole seconds, at least 1.
    pub(crate) fn from_wait(wait: Duration) -> Self {
        // Rounding down would send the client back too early, only to be refused again.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self {
            seconds: seconds.max(1),
        }
    }
}

/// A quota and where one client stands in it: what the IETF draft `RateLimit-Policy` and
/// `RateLimit` headers tell (draft-ietf-httpapi-ratelimit-headers-09).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaState {
    /// Requests per window (`q`).
    pub limit: u32,
    /// The window, seconds (`w`).
    pub window_secs: u64,
    /// Requests that would still be accepted now (`r`).
    pub remaining: u32,
    /// Seconds until the whole quota is available again (`t`); 0 when it is.
    pub reset_secs: u64,
}

impl fmt::Display for RetryAfter {
    /// The `Retry-After` header value (delta-seconds).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.seconds)
    }
}

/// All rate-limiting state of the process. Share one instance (e.g. in an `Arc` or the app state);
/// every method takes `&self` and is safe to call from many tasks at once.
///
/// # Memory and eviction policy
/// Buckets of every quota, and of logins, live in one table holding at most `max_tracked_keys`
/// entries (never more: no slack). A bucket is a key plus its GCRA "theoretical arrival time" (TAT);
/// once the TAT is in the past the bucket is back to full and is exactly equivalent to an absent one.
/// - At most once per minute of clock time, a check drops every full bucket (lossless);
///   [`RateLimits::retain_recent`] does the same on demand.
/// - When a new key arrives and the table is full, full buckets are dropped first; if that frees
///   less than an eighth of the table, the buckets with the earliest TAT are evicted until an eighth
///   is free. Those are the clients closest to a full bucket, so forgetting them grants the least
///   extra allowance; throttled clients are evicted last. An attacker rotating addresses (each new
///   key holding a single request) thus fills the table with its own cheap entries, which go first,
///   and cannot reset the bucket of a client it got throttled. Freeing an eighth at a time keeps the
///   O(table) scan amortised to a few steps per new key.
pub struct RateLimits<C: Clock = MonotonicClock> {
    default_quota: Quota,
    login_quota: Quota,
    ip_quota: Quota,
    failure_quota: Quota,
    clock: C,
    epoch: C::Instant,
    store: Store,
    /// Buckets shared with the other instances, when configured.
    shared: Option<crate::http::shared_limits::SharedBuckets>,
}

impl RateLimits<MonotonicClock> {
    /// Limits at `default_per_minute` per client key (unless a key has its own quota) and
    /// `login_per_minute` per (IP, username), tracking at most `max_tracked_keys` buckets in all
    /// (a cap of 0 is taken as 1).
    pub fn new(default_per_minute: NonZeroU32, login_per_minute: NonZeroU32, max_tracked_keys: usize) -> Self {
        Self::with_clock(default_per_minute, login_per_minute, max_tracked_keys, MonotonicClock)
    }
}

impl<C: Clock> RateLimits<C> {
    /// As [`RateLimits::new`], with another time source (tests use governor's `FakeRelativeClock`).
    pub fn with_clock(
        default_per_minute: NonZeroU32,
        login_per_minute: NonZeroU32,
        max_tracked_keys: usize,
        clock: C,
    ) -> Self {
        let epoch = clock.now();
        Self {
            default_quota: Quota::per_minute(default_per_minute),
            login_quota: Quota::per_minute(login_per_minute),
            ip_quota: Quota::per_minute(IP_PER_MINUTE),
            failure_quota: Quota::per_minute(AUTH_FAILURES_PER_MINUTE),
            clock,
            epoch,
            store: Store::new(max_tracked_keys),
            shared: None,
        }
    }

    /// Decides through buckets shared with every other instance (see
    /// [`crate::http::shared_limits`]); the instance's own buckets then only
    /// serve while Redis does not answer.
    pub fn with_shared(mut self, shared: crate::http::shared_limits::SharedBuckets) -> Self {
        self.shared = Some(shared);
        self
    }

    /// [`RateLimits::check_ip`] and [`RateLimits::ip_state`] in one decision,
    /// shared across instances when configured.
    pub async fn admit_ip(&self, ip: IpAddr) -> (Result<(), RetryAfter>, QuotaState) {
        self.admit_key(self.ip_quota, address_key(ip), true).await
    }

    /// [`RateLimits::check_auth_failures`] and its state (counts nothing).
    pub async fn admit_auth_failures(&self, ip: IpAddr) -> (Result<(), RetryAfter>, QuotaState) {
        self.admit_key(self.failure_quota, failure_key(ip), false).await
    }

    /// [`RateLimits::record_auth_failure`], shared across instances when configured.
    pub async fn count_auth_failure(&self, ip: IpAddr) {
        let _ = self.admit_key(self.failure_quota, failure_key(ip), true).await;
    }

    /// [`RateLimits::check`] and [`RateLimits::client_state`] in one decision.
    pub async fn admit(&self, key: &str, per_minute: Option<NonZeroU32>) -> (Result<(), RetryAfter>, QuotaState) {
        let quota = self.client_quota(per_minute);
        self.admit_key(quota, client_key(key), true).await
    }

    /// [`RateLimits::check_login`] and [`RateLimits::login_state`] in one decision.
    pub async fn admit_login(&self, ip: IpAddr, username: &str) -> (Result<(), RetryAfter>, QuotaState) {
        self.admit_key(self.login_quota, login_key(ip, username), true).await
    }

    /// A key's own quota, or the default one.
    fn client_quota(&self, per_minute: Option<NonZeroU32>) -> Quota {
        per_minute.map_or(self.default_quota, Quota::per_minute)
    }

    async fn admit_key(&self, quota: Quota, key: String, commit: bool) -> (Result<(), RetryAfter>, QuotaState) {
        if let Some(shared) = &self.shared
            && let Some(decided) = shared.decide(quota, &key, commit).await
        {
            return (decided.decision, decided.state);
        }
        let decision = self.decide(quota, key.clone(), commit);
        (decision, self.peek(quota, &key))
    }

    /// Sets the quota of [`RateLimits::check_ip`] (default [`IP_PER_MINUTE`]).
    pub fn with_ip_quota(mut self, per_minute: NonZeroU32) -> Self {
        self.ip_quota = Quota::per_minute(per_minute);
        self
    }

    /// Sets the quota of failed authentications per address (default [`AUTH_FAILURES_PER_MINUTE`]).
    pub fn with_auth_failure_quota(mut self, per_minute: NonZeroU32) -> Self {
        self.failure_quota = Quota::per_minute(per_minute);
        self
    }

    /// Counts one request from `ip`, whatever credentials it carries (IPv6 grouped by /64 as in
    /// [`ip_key`]). Called before credentials are looked at, so neither a forged nor a valid
    /// credential takes a request out of its address's budget.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        self.decide(self.ip_quota, address_key(ip), true)
    }

    /// Whether `ip` may still present a credential: refused once the address has failed
    /// authentication as often as its quota allows, until the bucket refills. Counts nothing; call
    /// it before any credential is looked at, and [`RateLimits::record_auth_failure`] after a
    /// refusal.
    pub fn check_auth_failures(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        self.decide(self.failure_quota, failure_key(ip), false)
    }

    /// Counts one failed authentication (wrong password, refused token or API key) from `ip`.
    pub fn record_auth_failure(&self, ip: IpAddr) {
        // A failure beyond the quota changes nothing: the address is refused until it refills.
        let _ = self.decide(self.failure_quota, failure_key(ip), true);
    }

    /// Counts one request of the client `key` (e.g. `"user:12"`, `"apikey:7"`, or [`ip_key`]) against
    /// `per_minute` requests per minute, or the default quota when `None`. A key keeps its bucket
    /// when its quota changes. Keys longer than 128 bytes are cut.
    pub fn check(&self, key: &str, per_minute: Option<NonZeroU32>) -> Result<(), RetryAfter> {
        let quota = self.client_quota(per_minute);
        self.decide(quota, client_key(key), true)
    }

    /// Counts one login attempt for `username` from `ip`. Usernames are trimmed, lowercased and cut
    /// to 64 characters, so case variants share a bucket; IPv6 clients are grouped by /64 as in
    /// [`ip_key`]. Independent of [`RateLimits::check`] buckets.
    pub fn check_login(&self, ip: IpAddr, username: &str) -> Result<(), RetryAfter> {
        self.decide(self.login_quota, login_key(ip, username), true)
    }

    /// Where the client `key` stands in its quota (as [`RateLimits::check`] counts it), for the
    /// `RateLimit` header. Changes nothing.
    pub fn client_state(&self, key: &str, per_minute: Option<NonZeroU32>) -> QuotaState {
        let quota = self.client_quota(per_minute);
        self.peek(quota, &client_key(key))
    }

    /// Where `ip` stands in the per-address quota of [`RateLimits::check_ip`]. Changes nothing.
    pub fn ip_state(&self, ip: IpAddr) -> QuotaState {
        self.peek(self.ip_quota, &address_key(ip))
    }

    /// Where (`ip`, `username`) stands in the login quota of [`RateLimits::check_login`].
    /// Changes nothing.
    pub fn login_state(&self, ip: IpAddr, username: &str) -> QuotaState {
        self.peek(self.login_quota, &login_key(ip, username))
    }

    /// Where `ip` stands in its failed-authentication quota. Changes nothing.
    pub fn auth_failure_state(&self, ip: IpAddr) -> QuotaState {
        self.peek(self.failure_quota, &failure_key(ip))
    }

    /// The quota state of `key` now, from its bucket's TAT. Under governor's GCRA a request is
    /// allowed while `now >= tat - tau` (with `tau = t * (burst - 1)`) and then moves the TAT to
    /// `max(tat, now) + t`; so `1 + (now + tau - tat) / t` more requests fit now, and the bucket is
    /// full again (the window "resets") once `tat <= now`.
    fn peek(&self, quota: Quota, key: &str) -> QuotaState {
        let now = self.now();
        let tat = self.store.lock().tats.get(key).copied().unwrap_or(now).max(now);
        let t = u64::try_from(quota.replenish_interval().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        let burst = quota.burst_size().get();
        let tau = t.saturating_mul(u64::from(burst) - 1);
        let remaining = match (now.saturating_add(tau)).checked_sub(tat) {
            Some(slack) => u32::try_from(slack / t + 1).unwrap_or(u32::MAX).min(burst),
            None => 0,
        };
        QuotaState {
            limit: burst,
            window_secs: window_secs(quota),
            remaining,
            reset_secs: (tat - now).div_ceil(1_000_000_000),
        }
    }

    /// Number of buckets currently held (never more than the configured cap).
    pub fn tracked_keys(&self) -> usize {
        self.store.lock().tats.len()
    }

    /// Drops every bucket that is back to full (indistinguishable from an unseen key) and releases
    /// spare memory. Checks already do this once a minute; call it from a timer to also reclaim
    /// memory while traffic is idle.
    pub fn retain_recent(&self) {
        let now = self.now();
        let mut table = self.store.lock();
        table.sweep(now);
        table.last_sweep = now;
        if table.tats.capacity() > 4 * table.tats.len().max(256) {
            table.tats.shrink_to_fit();
        }
    }

    fn now(&self) -> u64 {
        self.clock.now().duration_since(self.epoch).as_u64()
    }

    /// Decides one request of `key` under `quota`; with `commit` false, only tells what the decision
    /// would be and leaves the bucket as it was.
    fn decide(&self, quota: Quota, key: String, commit: bool) -> Result<(), RetryAfter> {
        let now = self.now();
        // A governor limiter is only GCRA parameters plus a start instant; its state lives in our
        // shared, capped table. Building one per decision over that table, with a clock pinned to
        // `now`, costs a few multiplications and keeps the table on one absolute time base whatever
        // the quota, which is what lets one cap and one eviction order cover all buckets.
        let limiter: RateLimiter<String, PinnedStore<'_>, PinnedClock, NoOpMiddleware<Nanos>> = RateLimiter::new(
            quota,
            PinnedStore {
                store: &self.store,
                now,
                commit,
            },
            PinnedClock(Nanos::new(now)),
        );
        limiter
            .check_key(&key)
            .map_err(|not_until| RetryAfter::from_wait(not_until.wait_time_from(limiter.clock().now())))
    }
}

impl<C: Clock> fmt::Debug for RateLimits<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimits")
            .field("default_per_minute", &self.default_quota.burst_size())
            .field("login_per_minute", &self.login_quota.burst_size())
            .field("max_tracked_keys", &self.store.cap)
            .finish_non_exhaustive()
    }
}

/// The window of a quota in whole seconds (the `w` of the `RateLimit-Policy`
/// header): the time a full burst takes to refill.
pub(crate) fn window_secs(quota: Quota) -> u64 {
    RetryAfter::from_wait(quota.replenish_interval().saturating_mul(quota.burst_size().get())).seconds
}

/// The rate-limit key of a client known only by its address: `ip:203.0.113.9`, or for IPv6 the
/// /64 network (`ip:2001:db8:1:2::/64`), because one subscriber usually holds a whole /64 and could
/// otherwise rotate through addresses at will. IPv4-mapped IPv6 addresses count as IPv4.
pub fn ip_key(ip: IpAddr) -> String {
    format!("ip:{}", client_prefix(ip))
}

/// The bucket of a client key (the prefix keeps caller keys apart from
/// login and failure keys in the shared table); keys longer than 128
/// bytes are cut.
fn client_key(key: &str) -> String {
    format!("r|{}", truncate_utf8(key, MAX_KEY_BYTES))
}

/// The bucket of every request of a client address.
fn address_key(ip: IpAddr) -> String {
    client_key(&ip_key(ip))
}

fn login_key(ip: IpAddr, username: &str) -> String {
    let username: String = username
        .trim()
        .chars()
        .take(MAX_USERNAME_CHARS)
        .flat_map(char::to_lowercase)
        .collect();
    // The address part never contains '|', so the key is unambiguous whatever the username.
    format!("l|{}|{username}", client_prefix(ip))
}

fn failure_key(ip: IpAddr) -> String {
    format!("f|{}", client_prefix(ip))
}

fn client_prefix(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

fn truncate_utf8(s: &str, max_bytes: usize) -> &str {
    let mut end = s.len().min(max_bytes);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The bucket table: key → TAT in nanoseconds since the `RateLimits` epoch.
struct Table {
    tats: HashMap<String, u64>,
    last_sweep: u64,
}

impl Table {
    /// Drops buckets whose TAT is not after `now`: GCRA treats them exactly like unseen keys.
    fn sweep(&mut self, now: u64) {
        self.tats.retain(|_, tat| *tat > now);
    }

    /// Makes room for one new key under `cap` (see the policy on [`RateLimits`]).
    fn make_room(&mut self, now: u64, cap: usize) {
        if self.tats.len() < cap {
            return;
        }
        self.sweep(now);
        self.last_sweep = now;
        let low_water = cap - (cap / 8).max(1);
        if self.tats.len() > low_water {
            self.evict_earliest(self.tats.len() - low_water);
        }
    }

    /// Evicts the `n` buckets with the earliest TAT (`n` >= 1 and < len).
    fn evict_earliest(&mut self, n: usize) {
        let mut tats: Vec<u64> = self.tats.values().copied().collect();
        let (_, &mut threshold, _) = tats.select_nth_unstable(n - 1);
        let below = tats.iter().filter(|&&tat| tat < threshold).count();
        // Ties at the threshold: evict just enough of them to reach `n`.
        let mut ties_to_evict = n - below;
        self.tats.retain(|_, tat| {
            if *tat < threshold {
                false
            } else if *tat == threshold && ties_to_evict > 0 {
                ties_to_evict -= 1;
                false
            } else {
                true
            }
        });
    }
}

struct Store {
    table: Mutex<Table>,
    cap: usize,
}

impl Store {
    fn new(cap: usize) -> Self {
        let table = Table {
            tats: HashMap::new(),
            last_sweep: 0,
        };
        Self {
            table: Mutex::new(table),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table holds plain integers, valid after any panic, so a poisoned lock is still usable.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The table seen by a limiter started at `now`: governor's TATs are relative to that start.
struct PinnedStore<'a> {
    store: &'a Store,
    now: u64,
    /// False for a dry run: the decision is computed, the table is not changed.
    commit: bool,
}

impl StateStore for PinnedStore<'_> {
    type Key = String;

    fn measure_and_replace<T, F, E>(&self, key: &String, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let now = self.now;
        let mut table = self.store.lock();
        if now.saturating_sub(table.last_sweep) >= SWEEP_EVERY_NANOS {
            table.sweep(now);
            table.last_sweep = now;
        }
        if let Some(tat) = table.tats.get_mut(key) {
            // A TAT already in the past becomes 0 (= now), which GCRA treats like an unseen key.
            let (outcome, next) = f(Some(Nanos::new(tat.saturating_sub(now))))?;
            if self.commit {
                *tat = now.saturating_add(next.as_u64());
            }
            return Ok(outcome);
        }
        let (outcome, next) = f(None)?;
        if !self.commit {
            return Ok(outcome);
        }
        table.make_room(now, self.store.cap);
        table.tats.insert(key.clone(), now.saturating_add(next.as_u64()));
        Ok(outcome)
    }
}

/// A clock stopped at the instant read once per decision, so the limiter's start, the decision
/// and the reported wait all use the same `now`.
struct PinnedClock(Nanos);

impl Clock for PinnedClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        self.0
    }
}

/// The proxies allowed to report the client address in `X-Forwarded-For`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of IP addresses and CIDR networks, IPv4 or IPv6
    /// (`"10.0.0.0/8, 192.0.2.7, 2001:db8::/32"`). Blank entries are skipped. A network with host
    /// bits set (`10.0.0.1/8`) is refused rather than widened, since it is most likely a typo that
    /// would trust far more addresses than meant. The error names the bad entry.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = if let Ok(ip) = entry.parse::<IpAddr>() {
                IpNet::from(ip)
            } else {
                let net: IpNet = entry.parse().map_err(|_| {
                    format!("trusted proxy entry {entry:?} is neither an IP address nor a CIDR network")
                })?;
                if net != net.trunc() {
                    return Err(format!(
                        "trusted proxy entry {entry:?} has host bits set; did you mean {}?",
                        net.trunc()
                    ));
                }
                net
            };
            nets.push(canonical_net(net));
        }
        Ok(Self(nets))
    }

    /// No trusted proxy: `X-Forwarded-For` is always ignored.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request from TCP peer `peer` carrying `x_forwarded_for` (when the
    /// request has several such header lines, join their values with `,` in order).
    ///
    /// The header is believed only when `peer` is trusted: then the client is the right-most hop
    /// that is not a trusted proxy, as hops further left were written by the client and may be
    /// forged. An unparsable hop (or a chain longer than 32 hops) ends the walk at the last good
    /// hop, possibly the peer itself. Hops may carry a port (`192.0.2.1:4711`, `[2001:db8::1]:443`).
    /// The result is canonical: IPv4-mapped IPv6 addresses come back as IPv4.
    pub fn client_ip(&self, peer: IpAddr, x_forwarded_for: Option<&str>) -> IpAddr {
        let mut client = peer.to_canonical();
        let Some(header) = x_forwarded_for else {
            return client;
        };
        if !self.is_trusted(client) {
            return client;
        }
        for (hops, entry) in header.rsplit(',').enumerate() {
            if hops == MAX_FORWARDED_HOPS {
                break;
            }
            let Some(hop) = parse_hop(entry) else {
                break;
            };
            client = hop;
            if !self.is_trusted(hop) {
                break;
            }
        }
        client
    }
}

fn parse_hop(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|sa| sa.ip()))
        .ok()?;
    Some(ip.to_canonical())
}

/// Writes IPv4-mapped IPv6 networks (`::ffff:10.0.0.0/104`) as IPv4, matching canonical addresses.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
        && let Ok(v4net) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(v4net);
    }
    net
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn limits(default: u32, login: u32, cap: usize) -> (RateLimits<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (
            RateLimits::with_clock(nz(default), nz(login), cap, clock.clone()),
            clock,
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RateLimits>();
        assert_send_sync::<TrustedProxies>();
    }

    #[test]
    fn request_over_quota_is_refused_and_others_are_not() {
        let (rl, _) = limits(100, 5, 1000);
        for i in 0..100 {
            assert_eq!(rl.check("user:1", None), Ok(()), "request {i}");
        }
        let refused = rl.check("user:1", None).unwrap_err();
        // 100/min replenishes one request every 0.6 s, rounded up.
        assert_eq!(refused.seconds, 1);
        assert_eq!(refused.to_string(), "1");
        assert_eq!(rl.check("user:2", None), Ok(()));
        assert_eq!(rl.check("apikey:1", None), Ok(()));
        assert_eq!(rl.check(&ip_key(ip("203.0.113.9")), None), Ok(()));
    }

    #[test]
    fn quota_state_counts_what_check_would_still_accept() {
        // 4 per minute: one request every 15 s, a burst of 4.
        let (rl, clock) = limits(4, 5, 1000);
        let state = |rl: &RateLimits<FakeRelativeClock>| rl.client_state("k", None);
        assert_eq!(
            state(&rl),
            QuotaState {
                limit: 4,
                window_secs: 60,
                remaining: 4,
                reset_secs: 0
            }
        );
        rl.check("k", None).unwrap();
        assert_eq!((state(&rl).remaining, state(&rl).reset_secs), (3, 15));
        rl.check("k", None).unwrap();
        rl.check("k", None).unwrap();
        rl.check("k", None).unwrap();
        assert_eq!((state(&rl).remaining, state(&rl).reset_secs), (0, 60));
        // The oracle is `check` itself: `remaining` requests pass, the next is refused.
        assert!(rl.check("k", None).is_err());
        clock.advance(Duration::from_secs(31));
        let now = state(&rl);
        assert_eq!((now.remaining, now.reset_secs), (2, 29));
        assert_eq!(rl.check("k", None), Ok(()));
        assert_eq!(rl.check("k", None), Ok(()));
        assert!(rl.check("k", None).is_err());
        // Another key, and a key with its own quota, stand apart.
        assert_eq!(rl.client_state("other", None).remaining, 4);
        assert_eq!(rl.client_state("k", Some(nz(600))).limit, 600);
        assert_eq!(rl.login_state(ip("192.0.2.1"), "Ana").limit, 5);
        assert_eq!(rl.ip_state(ip("192.0.2.1")).limit, IP_PER_MINUTE.get());
    }

    #[test]
    fn retry_after_is_long_enough_and_not_longer() {
        let (rl, clock) = limits(2, 5, 1000);
        rl.check("k", None).unwrap();
        rl.check("k", None).unwrap();
        assert_eq!(rl.check("k", None), Err(RetryAfter { seconds: 30 }));
        clock.advance(Duration::from_millis(29_500));
        assert_eq!(rl.check("k", None), Err(RetryAfter { seconds: 1 }));
        clock.advance(Duration::from_millis(500));
        assert_eq!(rl.check("k", None), Ok(()));
        assert!(rl.check("k", None).is_err());
        clock.advance(Duration::from_secs(60));
        assert_eq!(rl.check("k", None), Ok(()));
        assert_eq!(rl.check("k", None), Ok(()));
        assert!(rl.check("k", None).is_err());
    }

    #[test]
    fn per_key_quota_overrides_the_default() {
        let (rl, _) = limits(100, 5, 1000);
        for _ in 0..250 {
            rl.check("apikey:sensor", Some(nz(250))).unwrap();
        }
        assert!(rl.check("apikey:sensor", Some(nz(250))).is_err());
        for _ in 0..3 {
            rl.check("apikey:tiny", Some(nz(3))).unwrap();
        }
        let refused = rl.check("apikey:tiny", Some(nz(3))).unwrap_err();
        assert_eq!(refused.seconds, 20);
        for _ in 0..100 {
            rl.check("apikey:plain", None).unwrap();
        }
        assert!(rl.check("apikey:plain", None).is_err());
    }

    #[test]
    fn login_attempts_are_limited_per_ip_and_username() {
        let (rl, clock) = limits(100, 5, 1000);
        let a = ip("198.51.100.1");
        let b = ip("198.51.100.2");
        for _ in 0..5 {
            rl.check_login(a, "alice").unwrap();
        }
        assert_eq!(rl.check_login(a, "alice"), Err(RetryAfter { seconds: 12 }));
        assert_eq!(rl.check_login(a, "bob"), Ok(()));
        assert_eq!(rl.check_login(b, "alice"), Ok(()));
        // Case and surrounding blanks do not make a new bucket.
        assert!(rl.check_login(a, "ALICE").is_err());
        assert!(rl.check_login(a, "  Alice\t").is_err());
        // IPv4-mapped form of the same client shares the bucket.
        assert!(rl.check_login(ip("::ffff:198.51.100.1"), "alice").is_err());
        // Login buckets are apart from request buckets.
        assert_eq!(rl.check(&ip_key(a), None), Ok(()));
        clock.advance(Duration::from_secs(12));
        assert_eq!(rl.check_login(a, "Alice"), Ok(()));
        assert!(rl.check_login(a, "alice").is_err());
    }

    #[test]
    fn ip_buckets_are_apart_from_principal_buckets() {
        let (rl, _) = limits(100, 5, 1000);
        let rl = rl.with_ip_quota(nz(3));
        let a = ip("198.51.100.1");
        for _ in 0..3 {
            rl.check_ip(a).unwrap();
        }
        assert_eq!(rl.check_ip(a), Err(RetryAfter { seconds: 20 }));
        assert_eq!(rl.check_ip(ip("198.51.100.2")), Ok(()));
        assert_eq!(rl.check("user:1", None), Ok(()));
    }

    #[test]
    fn auth_failures_are_checked_without_counting_and_refuse_once_used_up() {
        let (rl, clock) = limits(100, 5, 1000);
        let rl = rl.with_auth_failure_quota(nz(3));
        let a = ip("198.51.100.1");
        // Checking alone never uses the budget.
        for _ in 0..100 {
            rl.check_auth_failures(a).unwrap();
        }
        assert_eq!(rl.tracked_keys(), 0, "a dry run stores nothing");
        for _ in 0..3 {
            rl.check_auth_failures(a).unwrap();
            rl.record_auth_failure(a);
        }
        assert_eq!(rl.check_auth_failures(a), Err(RetryAfter { seconds: 20 }));
        assert_eq!(rl.check_auth_failures(ip("198.51.100.2")), Ok(()));
        // Failures are apart from request and login buckets of the same address.
        assert_eq!(rl.check_ip(a), Ok(()));
        assert_eq!(rl.check_login(a, "alice"), Ok(()));
        clock.advance(Duration::from_secs(20));
        assert_eq!(rl.check_auth_failures(a), Ok(()));
        rl.record_auth_failure(a);
        assert!(rl.check_auth_failures(a).is_err());
    }

    #[test]
    fn long_usernames_are_cut_and_share_a_bucket() {
        let (rl, _) = limits(1, 1, 1000);
        let base = "x".repeat(MAX_USERNAME_CHARS);
        rl.check_login(ip("192.0.2.1"), &format!("{base}a")).unwrap();
        assert!(rl.check_login(ip("192.0.2.1"), &format!("{base}b")).is_err());
        let huge = "é".repeat(100_000);
        rl.check_login(ip("192.0.2.1"), &huge).unwrap();
        rl.check(&huge, None).unwrap();
        // Keys are cut at 128 bytes: 64 two-byte characters.
        assert!(rl.check(&"é".repeat(64), None).is_err());
    }

    #[test]
    fn memory_stays_under_the_cap() {
        let cap = 10_000;
        let (rl, _) = limits(100, 5, cap);
        for i in 0..200_000u32 {
            rl.check(&format!("ip:{i}"), None).unwrap();
            if i % 10_000 == 0 {
                rl.check_login(IpAddr::from(i.to_be_bytes()), "admin").unwrap();
            }
            assert!(rl.tracked_keys() <= cap);
        }
        assert!(rl.tracked_keys() > cap / 2, "eviction frees an eighth, not everything");
    }

    #[test]
    fn flood_of_new_keys_does_not_reset_a_throttled_client() {
        let (rl, _) = limits(100, 5, 1000);
        for _ in 0..100 {
            rl.check("user:victim", None).unwrap();
        }
        for _ in 0..5 {
            rl.check_login(ip("192.0.2.1"), "root").unwrap();
        }
        for i in 0..20_000u32 {
            rl.check(&ip_key(IpAddr::from(i.to_be_bytes())), None).unwrap();
        }
        assert!(rl.tracked_keys() <= 1000);
        assert!(rl.check("user:victim", None).is_err());
        assert!(rl.check_login(ip("192.0.2.1"), "root").is_err());
    }

    #[test]
    fn full_buckets_are_dropped_without_changing_decisions() {
        let (rl, clock) = limits(100, 5, 1000);
        for i in 0..50 {
            rl.check(&format!("k{i}"), None).unwrap();
        }
        for _ in 0..100 {
            rl.check("busy", None).unwrap();
        }
        assert_eq!(rl.tracked_keys(), 51);
        clock.advance(Duration::from_secs(1));
        rl.retain_recent();
        // Single requests replenished after 0.6 s; the busy bucket is still far from full.
        assert_eq!(rl.tracked_keys(), 1);
        assert!(rl.check("busy", None).is_ok());
        assert!(rl.check("busy", None).is_err());
        // Checks also sweep once a minute on their own.
        clock.advance(Duration::from_nanos(SWEEP_EVERY_NANOS));
        rl.check("fresh", None).unwrap();
        assert_eq!(rl.tracked_keys(), 1);
    }

    #[test]
    fn tiny_cap_still_limits() {
        let (rl, _) = limits(1, 5, 0);
        rl.check("a", None).unwrap();
        assert!(rl.check("a", None).is_err());
        rl.check("b", None).unwrap();
        assert_eq!(rl.tracked_keys(), 1);
    }

    #[test]
    fn concurrent_checks_allow_exactly_the_quota() {
        let (rl, _) = limits(50, 5, 1000);
        let rl = Arc::new(rl);
        let allowed: usize = (0..4)
            .map(|_| {
                let rl = Arc::clone(&rl);
                std::thread::spawn(move || (0..100).filter(|_| rl.check("shared", None).is_ok()).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(allowed, 50);
    }

    #[test]
    fn real_clock_limits_too() {
        let rl = RateLimits::new(nz(2), LOGIN_PER_MINUTE, DEFAULT_MAX_TRACKED_KEYS);
        rl.check("k", None).unwrap();
        rl.check("k", None).unwrap();
        let refused = rl.check("k", None).unwrap_err();
        assert!((29..=30).contains(&refused.seconds), "{refused:?}");
        assert!(format!("{rl:?}").contains("RateLimits"));
    }

    #[test]
    fn ip_keys_group_ipv6_by_64() {
        assert_eq!(ip_key(ip("203.0.113.9")), "ip:203.0.113.9");
        assert_eq!(ip_key(ip("::ffff:203.0.113.9")), "ip:203.0.113.9");
        assert_eq!(ip_key(ip("2001:db8:1:2:aaaa::1")), "ip:2001:db8:1:2::/64");
        assert_eq!(ip_key(ip("2001:db8:1:2:bbbb::7")), ip_key(ip("2001:db8:1:2::1")));
        assert_ne!(ip_key(ip("2001:db8:1:3::1")), ip_key(ip("2001:db8:1:2::1")));
    }

    #[test]
    fn parse_trusted_proxies() {
        let tp = TrustedProxies::parse(" 10.0.0.0/8, 192.0.2.7 ,, 2001:db8::/32,::ffff:172.16.0.0/108, ").unwrap();
        assert!(tp.is_trusted(ip("10.200.3.4")));
        assert!(tp.is_trusted(ip("192.0.2.7")));
        assert!(!tp.is_trusted(ip("192.0.2.8")));
        assert!(tp.is_trusted(ip("2001:db8:ffff::1")));
        assert!(!tp.is_trusted(ip("2001:db9::1")));
        assert!(tp.is_trusted(ip("172.16.9.9")));
        assert!(tp.is_trusted(ip("::ffff:10.0.0.1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert_eq!(TrustedProxies::parse(" , ").unwrap(), TrustedProxies::none());

        let err = TrustedProxies::parse("10.0.0.1, proxy.internal").unwrap_err();
        assert!(err.contains("\"proxy.internal\""), "{err}");
        let err = TrustedProxies::parse("10.0.0.0/33").unwrap_err();
        assert!(err.contains("\"10.0.0.0/33\""), "{err}");
        let err = TrustedProxies::parse("10.0.0.1/8").unwrap_err();
        assert!(err.contains("10.0.0.0/8"), "{err}");
    }

    #[test]
    fn xff_from_untrusted_peer_is_ignored() {
        let tp = TrustedProxies::parse("10.0.0.1").unwrap();
        let peer = ip("198.51.100.7");
        assert_eq!(tp.client_ip(peer, Some("203.0.113.9")), peer);
        assert_eq!(TrustedProxies::none().client_ip(peer, Some("203.0.113.9")), peer);
        assert_eq!(tp.client_ip(peer, None), peer);
    }

    #[test]
    fn xff_from_trusted_peer_gives_right_most_untrusted_hop() {
        let tp = TrustedProxies::parse("10.0.0.1").unwrap();
        let proxy = ip("10.0.0.1");
        assert_eq!(tp.client_ip(proxy, Some("203.0.113.9")), ip("203.0.113.9"));
        // The client forged the left part; only what our proxy appended counts.
        assert_eq!(tp.client_ip(proxy, Some("1.2.3.4, 203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(tp.client_ip(proxy, Some("1.2.3.4,203.0.113.9")), ip("203.0.113.9"));
        assert_eq!(tp.client_ip(proxy, None), proxy);
        assert_eq!(tp.client_ip(proxy, Some("")), proxy);
    }

    #[test]
    fn xff_through_a_chain_of_proxies() {
        let tp = TrustedProxies::parse("10.0.0.1, 10.0.0.2, 10.0.0.3").unwrap();
        let xff = "6.6.6.6, 203.0.113.9, 10.0.0.3, 10.0.0.2";
        assert_eq!(tp.client_ip(ip("10.0.0.1"), Some(xff)), ip("203.0.113.9"));
        // Every hop trusted: the left-most (nearest the client) is the best we know.
        assert_eq!(tp.client_ip(ip("10.0.0.1"), Some("10.0.0.3, 10.0.0.2")), ip("10.0.0.3"));
        // Several header lines joined in order.
        assert_eq!(
            tp.client_ip(ip("10.0.0.1"), Some("6.6.6.6, 203.0.113.9,10.0.0.2")),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn xff_trust_by_cidr() {
        let tp = TrustedProxies::parse("10.0.0.0/8, 172.16.0.0/12").unwrap();
        let xff = "203.0.113.9, 172.20.1.1, 10.9.9.9";
        assert_eq!(tp.client_ip(ip("10.1.2.3"), Some(xff)), ip("203.0.113.9"));
        assert_eq!(tp.client_ip(ip("11.0.0.1"), Some(xff)), ip("11.0.0.1"));
    }

    #[test]
    fn xff_with_ipv6() {
        let tp = TrustedProxies::parse("2001:db8:ffff::/48, 10.0.0.1").unwrap();
        let proxy = ip("2001:db8:ffff::10");
        assert_eq!(tp.client_ip(proxy, Some("2001:db8:1::5")), ip("2001:db8:1::5"));
        assert_eq!(
            tp.client_ip(proxy, Some("203.0.113.9, 2001:db8:ffff::20")),
            ip("203.0.113.9")
        );
        assert_eq!(tp.client_ip(proxy, Some("[2001:db8:1::5]:443")), ip("2001:db8:1::5"));
        assert_eq!(tp.client_ip(proxy, Some("203.0.113.9:51234")), ip("203.0.113.9"));
        // A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6.
        assert_eq!(
            tp.client_ip(ip("::ffff:10.0.0.1"), Some("::ffff:203.0.113.9")),
            ip("203.0.113.9")
        );
        assert_eq!(
            tp.client_ip(ip("::ffff:198.51.100.1"), Some("203.0.113.9")),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn xff_garbage_stops_at_the_last_good_hop() {
        let tp = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let proxy = ip("10.0.0.1");
        assert_eq!(tp.client_ip(proxy, Some("unknown")), proxy);
        assert_eq!(tp.client_ip(proxy, Some("203.0.113.9, garbage")), proxy);
        assert_eq!(
            tp.client_ip(proxy, Some("203.0.113.9, not-an-ip, 10.0.0.2")),
            ip("10.0.0.2")
        );
        assert_eq!(tp.client_ip(proxy, Some("203.0.113.9,,10.0.0.2")), ip("10.0.0.2"));
        assert_eq!(
            tp.client_ip(proxy, Some("  203.0.113.9  ,   10.0.0.2  ")),
            ip("203.0.113.9")
        );
        assert_eq!(tp.client_ip(proxy, Some("203.0.113.9 , 10.0.0.2 ,")), proxy);
        assert_eq!(tp.client_ip(proxy, Some("203.0.113.9 10.0.0.2")), proxy);
        let long = format!("203.0.113.9{}", ", 10.0.0.2".repeat(100));
        assert_eq!(tp.client_ip(proxy, Some(&long)), ip("10.0.0.2"));
    }
}
