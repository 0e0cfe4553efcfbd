//! Typed configuration, read once from the environment (and an optional
//! `.env`), validated at start. Every error names the variable at fault.
//! docs/configuration.md documents each variable; keep the two in step.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::error::AppError;

/// Default `DATABASE_URL`: the embedded SQLite database in `./camet-data`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./camet-data/camet.db";
/// Default `CAMET_BIND`.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// Default `CAMET_DB_POOL_SIZE`: small, because the original target is shared
/// hosting with few connections.
pub const DEFAULT_POOL_SIZE: u32 = 5;

/// Where the data lives, parsed from `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// Embedded SQLite: the global database file; tenant files sit beside it.
    Sqlite {
        /// Path of the global database file.
        path: PathBuf,
    },
    /// MySQL 8 / MariaDB 10.6+: the global database `database`; tenants get
    /// `<database>_tenant_<id>` on the same server.
    Mysql {
        /// `mysql://user:pass@host:port` without a database (secret inside).
        server_url: String,
        /// The URL's query (`?prefer_socket=false&...`), or empty: driver
        /// options such as TLS settings, kept for every database.
        options: String,
        /// Name of the global database.
        database: String,
        /// `host:port`, safe to print.
        host_port: String,
    },
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The MySQL URL carries a password: print only what is safe.
        match self {
            DatabaseUrl::Sqlite { path } => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Mysql {
                host_port, database, ..
            } => write!(f, "mysql://***@{host_port}/{database}"),
        }
    }
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH` or `mysql://user:pass@host:port/db`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(path) = raw.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://./camet-data/camet.db".into());
            }
            if path == ":memory:" {
                return Err(
                    "in-memory SQLite is not supported: each pooled connection would see its own empty database".into(),
                );
            }
            return Ok(DatabaseUrl::Sqlite {
                path: PathBuf::from(path),
            });
        }
        if raw.starts_with("mysql://") || raw.starts_with("mariadb://") {
            let url = url::Url::parse(&raw.replacen("mariadb://", "mysql://", 1))
                .map_err(|e| format!("not a valid URL: {e}"))?;
            let host = url.host_str().filter(|h| !h.is_empty()).ok_or("the URL has no host")?;
            let port = url.port().unwrap_or(3306);
            let database = url.path().trim_start_matches('/').to_owned();
            if database.is_empty() {
                return Err("the URL names no database, e.g. mysql://user:pass@127.0.0.1:3306/camet".into());
            }
            if !is_safe_identifier(&database) {
                return Err("the database name may only contain letters, digits and underscores".into());
            }
            let options = url.query().map(|q| format!("?{q}")).unwrap_or_default();
            let mut server = url.clone();
            server.set_path("");
            server.set_query(None);
            let server_url = server.as_str().trim_end_matches('/').to_owned();
            return Ok(DatabaseUrl::Mysql {
                server_url,
                options,
                database,
                host_port: format!("{host}:{port}"),
            });
        }
        Err("must start with sqlite:// or mysql://".into())
    }
}

impl DatabaseUrl {
    /// For MySQL: the connection URL of `database` (or of the server alone),
    /// with the configured driver options.
    pub fn mysql_url(&self, database: Option<&str>) -> Option<String> {
        match self {
            DatabaseUrl::Mysql {
                server_url, options, ..
            } => Some(match database {
                Some(db) => format!("{server_url}/{db}{options}"),
                None => format!("{server_url}{options}"),
            }),
            DatabaseUrl::Sqlite { .. } => None,
        }
    }
}

/// True for names safe to splice into DDL: ASCII letters, digits, underscore,
/// at most 48 characters (room for the `_tenant_<id>` suffix within MySQL's 64).
pub fn is_safe_identifier(name: &str) -> bool {
    !name.is_empty() && name.len() <= 48 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (default).
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// A secret string whose `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    /// The secret itself; call only where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The whole configuration of a Camet process.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: backend and location of the databases.
    pub database_url: DatabaseUrl,
    /// `CAMET_BIND`: address the API listens on.
    pub bind: SocketAddr,
    /// `CAMET_JWT_SECRET`: token signing secret; `None` means "use the one
    /// stored in the data directory, generating it on first start".
    pub jwt_secret: Option<Secret>,
    /// `CAMET_DATA_DIR`: where the generated secret (and SQLite files by
    /// default) live. Defaults to the SQLite file's folder, else `./camet-data`.
    pub data_dir: PathBuf,
    /// `CAMET_DB_POOL_SIZE`: connections per database pool.
    pub db_pool_size: u32,
    /// `CAMET_DB_TIMEOUT_SECS`: how long to wait for a connection before a 503.
    pub db_timeout_secs: u64,
    /// `CAMET_DB_STATEMENT_TIMEOUT_SECS`: longest a single statement may run
    /// (MariaDB `max_statement_time`, MySQL `max_execution_time`, SQLite
    /// `busy_timeout`) before it fails into a 503 (default 10).
    pub db_statement_timeout_secs: u64,
    /// `CAMET_REQUEST_TIMEOUT_SECS`: longest a request may take in its
    /// handler; past it the work is dropped (its database connections closed)
    /// and the client gets a 503 with `Retry-After` (default 15).
    pub request_timeout_secs: u64,
    /// `CAMET_LOG`: tracing filter (e.g. `info`, `camet=debug`).
    pub log_filter: String,
    /// `CAMET_LOG_FORMAT`: `text` or `json`.
    pub log_format: LogFormat,
    /// `CAMET_SHUTDOWN_GRACE_SECS`: how long in-flight requests may take to finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// `CAMET_HEADER_READ_TIMEOUT_SECS`: how long a connection may take to send a
    /// complete request head before it is closed (default 10; slowloris defence).
    pub header_read_timeout_secs: u64,
    /// `CAMET_BODY_READ_TIMEOUT_SECS`: how long a request body may take to arrive
    /// before the request is answered 408 and the connection closed (default 30).
    pub body_read_timeout_secs: u64,
    /// `CAMET_MAX_RANGE_DAYS`: longest query range accepted (default 400 days).
    pub max_range_days: u32,
    /// `CAMET_DOWNTIME_JOB_SECS`: how often persisted downtime events are recomputed (default 900).
    pub downtime_job_secs: u64,
    /// `CAMET_DOWNTIME_WINDOW_SECS`: how far back each run recomputes (default 7200).
    pub downtime_window_secs: u64,
    /// `CAMET_EXTERNAL_APIS`: path of the data broker's API list (default `external_apis.yml`; absent file: none).
    pub external_apis_path: std::path::PathBuf,
    /// `CAMET_BROKER_CACHE_SECS`: how long external answers are reused (default 30; 0 disables).
    pub broker_cache_secs: u64,
    /// `CAMET_ROLLUP_JOB_SECS`: how often rollup watermarks advance (default 60).
    pub rollup_job_secs: u64,
    /// `CAMET_ROLLUP_SETTLE_SECS`: how long a direct write may lag its `detected_at` (default 120).
    pub rollup_settle_secs: u64,
    /// `CAMET_ROLLUP_TRAILING_SECS`: how far before the watermark each run rebuilds again (default 600).
    pub rollup_trailing_secs: u64,
    /// `CAMET_GAP_FLOOR_SECS`: gaps between detections longer than this are
    /// stored, so gap analysis for any threshold at or above it reads stops,
    /// not detections (default 5, 1..=3600; changing it rebuilds the gaps).
    pub gap_floor_secs: u64,
    /// `CAMET_CACHE_REFRESH_SECS`: how often each instance checks whether
    /// another one changed a tenant's configuration (default 2 s).
    pub cache_refresh_secs: u64,
    /// `CAMET_PARTITION_MONTHS_AHEAD`: monthly detection partitions kept ready ahead (MySQL; default 3).
    pub partition_months_ahead: u32,
    /// `CAMET_PARTITION_RETENTION_MONTHS`: drop detection partitions older than this many
    /// months (MySQL). Unset: never drop anything.
    pub partition_retention_months: Option<u32>,
    /// `CAMET_INGEST_HORIZON_DAYS`: ingest refuses a `detected_at` more than this many days
    /// before the server clock (default 3650).
    pub ingest_horizon_days: u32,
    /// `CAMET_INGEST_MAX_FUTURE_SECS`: ingest refuses a `detected_at` more than this many seconds
    /// after the server clock, allowing for sensor clock drift (default 300).
    pub ingest_max_future_secs: u32,
    /// `CAMET_QUERY_MAX_CELLS`: most rows one `/metrics/query` answer may
    /// have (default 2000); more is a 422 suggesting a coarser grain.
    pub query_max_cells: usize,
    /// `CAMET_EXPORT_MAX_CONCURRENT`: detection exports one tenant may run at
    /// once on this instance (default 2); one more is a 429. Each export
    /// reads page after page for as long as its client keeps reading.
    pub export_max_concurrent: u32,
    /// `CAMET_EXPORT_PAGE_ROWS`: detections read per page of an export
    /// (default 5000): what one export holds in memory at a time. The
    /// database connection goes back to its pool between pages, so a slow
    /// reader does not keep one.
    pub export_page_rows: u32,
    /// `CAMET_EXPORT_XLSX_MAX_ROWS`: most detections one XLSX export may hold
    /// (default 200 000, at most Excel's 1 048 575 data rows); more is a 422
    /// suggesting CSV, which streams any size.
    pub export_xlsx_max_rows: u32,
    /// `CAMET_REDIS_URL` / `CAMET_REDIS_PREFIX`: state shared by every
    /// instance (rate limits); unset: each instance keeps its own.
    pub redis: Option<RedisConfig>,
    /// Line state, the event stream and alert evaluation.
    pub live: LiveConfig,
    /// Authentication, sessions and limits.
    pub auth: AuthConfig,
    /// Outgoing deliveries: webhooks and e-mail.
    pub notify: NotifyConfig,
}

/// Settings of outgoing deliveries (webhooks, alert e-mail).
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// `CAMET_DELIVERY_JOB_SECS`: how often due webhooks and mail are sent
    /// (default 5, at least 1); an enqueue also wakes the job at once.
    pub delivery_job_secs: u64,
    /// `CAMET_WEBHOOKS_ALLOW_PRIVATE`: allow webhook targets in loopback,
    /// private, link-local and other internal ranges (default false).
    pub webhooks_allow_private: bool,
    /// `CAMET_WEBHOOK_RETRY_BASE_MS`: the first retry's longest wait; each
    /// further retry doubles it, up to an hour, with full jitter (default 5000).
    pub webhook_retry_base_ms: u64,
    /// `CAMET_WEBHOOK_MAX_ATTEMPTS`: attempts per webhook delivery before it
    /// is `failed` (default 8, 1 to 8).
    pub webhook_max_attempts: u32,
    /// `CAMET_SMTP_URL`: `smtp://[user:password@]host:port` (`?tls=required`
    /// for STARTTLS) or `smtps://…`; unset: no alert e-mail.
    pub smtp_url: Option<Secret>,
    /// `CAMET_SMTP_FROM`: the sender of alert e-mail (default `camet@localhost`).
    pub smtp_from: String,
}

impl NotifyConfig {
    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, AppError> {
        let webhooks_allow_private = match var(lookup, "CAMET_WEBHOOKS_ALLOW_PRIVATE").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(invalid(
                    "CAMET_WEBHOOKS_ALLOW_PRIVATE",
                    format!("expected true or false, got {other:?}"),
                ));
            }
        };
        let smtp_url = match var(lookup, "CAMET_SMTP_URL") {
            None => None,
            Some(raw) => {
                let parsed =
                    url::Url::parse(&raw).map_err(|e| invalid("CAMET_SMTP_URL", format!("not a valid URL: {e}")))?;
                if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none_or(str::is_empty) {
                    return Err(invalid(
                        "CAMET_SMTP_URL",
                        "expected smtp://host:port or smtps://host:port",
                    ));
                }
                Some(Secret::new(raw))
            }
        };
        let smtp_from = var(lookup, "CAMET_SMTP_FROM").unwrap_or_else(|| "camet@localhost".to_owned());
        if smtp_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(invalid(
                "CAMET_SMTP_FROM",
                format!(
                    "expected an address such as camet@example.com or \"Camet <camet@example.com>\", got {smtp_from:?}"
                ),
            ));
        }
        Ok(NotifyConfig {
            delivery_job_secs: parse_number(lookup, "CAMET_DELIVERY_JOB_SECS", 5, 1, 3600)?,
            webhooks_allow_private,
            webhook_retry_base_ms: parse_number(lookup, "CAMET_WEBHOOK_RETRY_BASE_MS", 5000, 1, 3_600_000)?,
            webhook_max_attempts: parse_number(lookup, "CAMET_WEBHOOK_MAX_ATTEMPTS", 8, 1, 8)?,
            smtp_url,
            smtp_from,
        })
    }
}

/// Line state, the event stream (`/api/v1/stream`) and alert evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConfig {
    /// `CAMET_LIVE_TICK_SECS`: how often line states are evaluated and their
    /// changes published (default 2, 1..=60).
    pub tick_secs: u64,
    /// `CAMET_LIVE_KPI_SECS`: how often shift-to-date OEE is published per
    /// line as a `kpi` event (default 60, 10..=3600).
    pub kpi_secs: u64,
    /// `CAMET_ALERT_JOB_SECS`: how often alert rules are evaluated (default 30, ≥ 10).
    pub alert_job_secs: u64,
    /// `CAMET_STREAM_HEARTBEAT_SECS`: comment sent on an idle stream so
    /// proxies keep it open (default 15, 1..=300).
    pub heartbeat_secs: u64,
    /// `CAMET_STREAM_MAX_SECS`: a stream is closed after this long; the
    /// client reconnects with `Last-Event-ID` and authenticates again, so a
    /// revoked credential stops receiving (default 3600, 10..=86 400).
    pub stream_max_secs: u64,
    /// `CAMET_STREAMS_PER_TENANT`: open streams one tenant may hold on one
    /// instance (default 200); one more is a 429.
    pub streams_per_tenant: usize,
    /// `CAMET_STREAMS_PER_INSTANCE`: open streams one instance holds at most
    /// (default 5000); one more is a 429.
    pub streams_per_instance: usize,
    /// `CAMET_STREAM_BACKLOG`: events kept per tenant for `Last-Event-ID`
    /// (default 1000, 10..=100 000).
    pub backlog: usize,
    /// `CAMET_STREAM_CLIENT_BUFFER`: events queued for one client before it
    /// counts as too slow and is dropped (default 256, 8..=65 536).
    pub client_buffer: usize,
}

impl LiveConfig {
    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<LiveConfig, AppError> {
        Ok(LiveConfig {
            tick_secs: parse_number(lookup, "CAMET_LIVE_TICK_SECS", 2, 1, 60)?,
            kpi_secs: parse_number(lookup, "CAMET_LIVE_KPI_SECS", 60, 10, 3600)?,
            alert_job_secs: parse_number(lookup, "CAMET_ALERT_JOB_SECS", 30, 10, 86_400)?,
            heartbeat_secs: parse_number(lookup, "CAMET_STREAM_HEARTBEAT_SECS", 15, 1, 300)?,
            stream_max_secs: parse_number(lookup, "CAMET_STREAM_MAX_SECS", 3600, 10, 86_400)?,
            streams_per_tenant: parse_number(lookup, "CAMET_STREAMS_PER_TENANT", 200, 1, 100_000)?,
            streams_per_instance: parse_number(lookup, "CAMET_STREAMS_PER_INSTANCE", 5000, 1, 1_000_000)?,
            backlog: parse_number(lookup, "CAMET_STREAM_BACKLOG", 1000, 10, 100_000)?,
            client_buffer: parse_number(lookup, "CAMET_STREAM_CLIENT_BUFFER", 256, 8, 65_536)?,
        })
    }
}

/// Where instances share state.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `CAMET_REDIS_URL`: `redis://[user:password@]host:port[/db]` (may hold a password).
    pub url: Secret,
    /// `CAMET_REDIS_PREFIX`: first part of every key (default `camet`), so
    /// several deployments can share one Redis: instances with the same
    /// prefix share their limits.
    pub prefix: String,
}

impl RedisConfig {
    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, AppError> {
        let Some(url) = var(lookup, "CAMET_REDIS_URL") else {
            return Ok(None);
        };
        if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("redis+unix://")) {
            return Err(invalid(
                "CAMET_REDIS_URL",
                "must start with redis://, rediss:// or redis+unix://",
            ));
        }
        let prefix = var(lookup, "CAMET_REDIS_PREFIX").unwrap_or_else(|| "camet".to_owned());
        let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
        if prefix.len() > 64 || !prefix.chars().all(safe) {
            return Err(invalid(
                "CAMET_REDIS_PREFIX",
                "at most 64 letters, digits and _ - . : characters",
            ));
        }
        Ok(Some(Self {
            url: Secret::new(url),
            prefix,
        }))
    }
}

/// Settings of authentication, sessions, rate limits and browser access.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `CAMET_ACCESS_TOKEN_TTL_SECS`: access token lifetime (default 15 min).
    pub access_token_ttl_secs: i64,
    /// `CAMET_SESSION_IDLE_TIMEOUT_SECS`: a session unused this long is closed (default 30 min).
    pub session_idle_timeout_secs: i64,
    /// `CAMET_SESSION_LIFETIME_SECS`: absolute lifetime of a session and its refresh tokens (default 7 days).
    pub session_lifetime_secs: i64,
    /// `CAMET_MAX_SESSIONS_PER_USER`: open sessions per user; the oldest is closed beyond it (default 3).
    pub max_sessions_per_user: i64,
    /// `CAMET_RATE_LIMIT_PER_MINUTE`: requests per minute per API key, user or IP (default 100).
    pub rate_limit_per_minute: std::num::NonZeroU32,
    /// `CAMET_LOGIN_RATE_LIMIT_PER_MINUTE`: login attempts per minute per (IP, username) (default 5).
    pub login_rate_limit_per_minute: std::num::NonZeroU32,
    /// `CAMET_IP_RATE_LIMIT_PER_MINUTE`: requests per minute per client IP, counted before any
    /// credential is looked at, whatever the request carries (default 1000).
    pub ip_rate_limit_per_minute: std::num::NonZeroU32,
    /// `CAMET_AUTH_FAILURE_LIMIT_PER_MINUTE`: failed authentications (password, token, API key) per
    /// minute per client IP; beyond it the address gets 429 before its credentials are looked at
    /// (default 20).
    pub auth_failure_limit_per_minute: std::num::NonZeroU32,
    /// `CAMET_LOCKOUT_THRESHOLD`: consecutive failed logins that lock an account (default 10).
    pub lockout_threshold: i32,
    /// `CAMET_LOCKOUT_SECS`: how long a locked account stays locked (default 15 min).
    pub lockout_secs: i64,
    /// `CAMET_TRUSTED_PROXIES`: comma-separated IPs/CIDRs whose `X-Forwarded-For` is believed.
    pub trusted_proxies: crate::http::rate_limit::TrustedProxies,
    /// `CAMET_CORS_ORIGINS`: comma-separated origins allowed by CORS (none by default).
    pub cors_origins: Vec<String>,
    /// `CAMET_HSTS`: send `Strict-Transport-Security` (set when served over HTTPS).
    pub hsts: bool,
    /// `CAMET_ARGON2_MEMORY_KIB` / `_ITERATIONS` / `_PARALLELISM`: password hashing cost.
    /// Settings below OWASP's minimum are refused unless `argon2_allow_weak`.
    pub hashing: crate::auth::password::HashingParams,
    /// `CAMET_ARGON2_MAX_CONCURRENT_MEMORY_MIB`: memory all password hashes in
    /// flight may use together (default 64 MiB: 3 hashes of 19 MiB; at least one).
    pub argon2_max_concurrent_memory_mib: u32,
    /// `CAMET_ARGON2_QUEUE_WAIT_MS`: how long a login waits for a hashing slot
    /// before a 503 with `Retry-After` (default 2000 ms; 0 answers at once).
    pub argon2_queue_wait_ms: u64,
    /// `CAMET_ARGON2_ALLOW_WEAK`: accept Argon2 settings below OWASP's minimum.
    /// For test suites only (logged loudly at start); default false.
    pub argon2_allow_weak: bool,
}

/// Reads a variable through `lookup`, treating empty values as absent.
fn var(lookup: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn invalid(name: &str, message: impl fmt::Display) -> AppError {
    AppError::Config(format!("invalid {name}: {message}"))
}

fn parse_number<T: std::str::FromStr + PartialOrd + fmt::Display>(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &str,
    default: T,
    min: T,
    max: T,
) -> Result<T, AppError> {
    match var(lookup, name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<T>() {
            Ok(v) if v >= min && v <= max => Ok(v),
            _ => Err(invalid(
                name,
                format!("expected a whole number from {min} to {max}, got {raw:?}"),
            )),
        },
    }
}

impl Config {
    /// The configured floor of stored gaps (parsing bounds it to 1..=3600 s).
    pub fn gap_floor(&self) -> crate::analytics::GapFloor {
        i64::try_from(self.gap_floor_secs)
            .ok()
            .and_then(crate::analytics::GapFloor::from_seconds)
            .unwrap_or_default()
    }

    /// Reads the process environment, after loading `.env` if present.
    pub fn from_env() -> Result<Config, AppError> {
        // A missing .env is normal; a malformed one is worth saying.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(AppError::Config(format!("invalid .env file: {e}"))),
        }
        Config::from_lookup(&|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable source (tests pass a map).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, AppError> {
        let raw_url = var(lookup, "DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let database_url = DatabaseUrl::parse(&raw_url).map_err(|m| invalid("DATABASE_URL", m))?;

        let raw_bind = var(lookup, "CAMET_BIND").unwrap_or_else(|| DEFAULT_BIND.to_owned());
        let bind: SocketAddr = raw_bind.parse().map_err(|_| {
            invalid(
                "CAMET_BIND",
                format!("expected host:port such as 127.0.0.1:8080, got {raw_bind:?}"),
            )
        })?;

        let jwt_secret = match var(lookup, "CAMET_JWT_SECRET") {
            Some(s) if s.len() < 32 => {
                return Err(invalid("CAMET_JWT_SECRET", "must be at least 32 characters"));
            }
            other => other.map(Secret::new),
        };

        let data_dir = match var(lookup, "CAMET_DATA_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => match &database_url {
                DatabaseUrl::Sqlite { path } => path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from(".")),
                DatabaseUrl::Mysql { .. } => PathBuf::from("./camet-data"),
            },
        };

        let log_format = match var(lookup, "CAMET_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "CAMET_LOG_FORMAT",
                    format!("expected json or text, got {other:?}"),
                ));
            }
        };
        let log_filter = var(lookup, "CAMET_LOG").unwrap_or_else(|| "info".to_owned());
        if tracing_subscriber::EnvFilter::try_new(&log_filter).is_err() {
            return Err(invalid("CAMET_LOG", format!("not a valid filter: {log_filter:?}")));
        }

        Ok(Config {
            database_url,
            bind,
            jwt_secret,
            data_dir,
            db_pool_size: parse_number(lookup, "CAMET_DB_POOL_SIZE", DEFAULT_POOL_SIZE, 1, 512)?,
            db_timeout_secs: parse_number(lookup, "CAMET_DB_TIMEOUT_SECS", 5, 1, 300)?,
            db_statement_timeout_secs: parse_number(lookup, "CAMET_DB_STATEMENT_TIMEOUT_SECS", 10, 1, 3600)?,
            request_timeout_secs: parse_number(lookup, "CAMET_REQUEST_TIMEOUT_SECS", 15, 1, 3600)?,
            log_filter,
            log_format,
            shutdown_grace_secs: parse_number(lookup, "CAMET_SHUTDOWN_GRACE_SECS", 30, 0, 3600)?,
            header_read_timeout_secs: parse_number(lookup, "CAMET_HEADER_READ_TIMEOUT_SECS", 10, 1, 600)?,
            body_read_timeout_secs: parse_number(lookup, "CAMET_BODY_READ_TIMEOUT_SECS", 30, 1, 3600)?,
            max_range_days: parse_number(lookup, "CAMET_MAX_RANGE_DAYS", 400, 1, 3660)?,
            downtime_job_secs: parse_number(lookup, "CAMET_DOWNTIME_JOB_SECS", 900, 10, 86_400)?,
            downtime_window_secs: parse_number(lookup, "CAMET_DOWNTIME_WINDOW_SECS", 7200, 60, 31 * 86_400)?,
            external_apis_path: lookup("CAMET_EXTERNAL_APIS")
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "external_apis.yml".to_owned())
                .into(),
            broker_cache_secs: parse_number(lookup, "CAMET_BROKER_CACHE_SECS", 30, 0, 3600)?,
            rollup_job_secs: parse_number(lookup, "CAMET_ROLLUP_JOB_SECS", 60, 5, 86_400)?,
            rollup_settle_secs: parse_number(lookup, "CAMET_ROLLUP_SETTLE_SECS", 120, 0, 86_400)?,
            rollup_trailing_secs: parse_number(lookup, "CAMET_ROLLUP_TRAILING_SECS", 600, 0, 31 * 86_400)?,
            gap_floor_secs: parse_number(lookup, "CAMET_GAP_FLOOR_SECS", 5, 1, 3600)?,
            cache_refresh_secs: parse_number(lookup, "CAMET_CACHE_REFRESH_SECS", 2, 1, 3600)?,
            partition_months_ahead: parse_number(lookup, "CAMET_PARTITION_MONTHS_AHEAD", 3, 1, 120)?,
            partition_retention_months: match var(lookup, "CAMET_PARTITION_RETENTION_MONTHS") {
                None => None,
                Some(_) => Some(parse_number(lookup, "CAMET_PARTITION_RETENTION_MONTHS", 12, 1, 1200)?),
            },
            ingest_horizon_days: parse_number(lookup, "CAMET_INGEST_HORIZON_DAYS", 3650, 1, 36_500)?,
            ingest_max_future_secs: parse_number(lookup, "CAMET_INGEST_MAX_FUTURE_SECS", 300, 0, 86_400)?,
            query_max_cells: parse_number(lookup, "CAMET_QUERY_MAX_CELLS", 2000, 1, 100_000)?,
            export_max_concurrent: parse_number(lookup, "CAMET_EXPORT_MAX_CONCURRENT", 2, 1, 100)?,
            export_page_rows: parse_number(lookup, "CAMET_EXPORT_PAGE_ROWS", 5000, 1, 100_000)?,
            export_xlsx_max_rows: parse_number(lookup, "CAMET_EXPORT_XLSX_MAX_ROWS", 200_000, 1, 1_048_575)?,
            redis: RedisConfig::from_lookup(lookup)?,
            live: LiveConfig::from_lookup(lookup)?,
            auth: AuthConfig::from_lookup(lookup)?,
            notify: NotifyConfig::from_lookup(lookup)?,
        })
    }
}

impl AuthConfig {
    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<AuthConfig, AppError> {
        let per_minute = |name: &str, default: u32| -> Result<std::num::NonZeroU32, AppError> {
            let value = parse_number(lookup, name, default, 1, 1_000_000)?;
            std::num::NonZeroU32::new(value).ok_or_else(|| invalid(name, "must be at least 1"))
        };
        let trusted_proxies =
            crate::http::rate_limit::TrustedProxies::parse(&var(lookup, "CAMET_TRUSTED_PROXIES").unwrap_or_default())
                .map_err(|m| invalid("CAMET_TRUSTED_PROXIES", m))?;
        let cors_origins = var(lookup, "CAMET_CORS_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>();
        if let Some(bad) = cors_origins
            .iter()
            .find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/'))
        {
            return Err(invalid(
                "CAMET_CORS_ORIGINS",
                format!("{bad:?} is not an origin like https://app.example.com"),
            ));
        }
        let hsts = match var(lookup, "CAMET_HSTS").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => return Err(invalid("CAMET_HSTS", format!("expected true or false, got {other:?}"))),
        };
        let hashing = crate::auth::password::HashingParams {
            memory_kib: parse_number(lookup, "CAMET_ARGON2_MEMORY_KIB", 19 * 1024, 8, 4 * 1024 * 1024)?,
            iterations: parse_number(lookup, "CAMET_ARGON2_ITERATIONS", 2, 1, 100)?,
            parallelism: parse_number(lookup, "CAMET_ARGON2_PARALLELISM", 1, 1, 64)?,
        };
        let argon2_allow_weak = match var(lookup, "CAMET_ARGON2_ALLOW_WEAK").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(invalid(
                    "CAMET_ARGON2_ALLOW_WEAK",
                    format!("expected true or false, got {other:?}"),
                ));
            }
        };
        if !argon2_allow_weak && !hashing.meets_owasp_minimum() {
            return Err(invalid(
                "CAMET_ARGON2_MEMORY_KIB",
                format!(
                    "{} KiB with CAMET_ARGON2_ITERATIONS={} is below OWASP's Argon2id minimum \
                     (19456 KiB with 2 iterations, or 12288/3, 9216/4, 7168/5, 47104/1); \
                     CAMET_ARGON2_ALLOW_WEAK=true exists for test suites only",
                    hashing.memory_kib, hashing.iterations
                ),
            ));
        }
        Ok(AuthConfig {
            access_token_ttl_secs: parse_number(lookup, "CAMET_ACCESS_TOKEN_TTL_SECS", 900, 30, 86_400)?,
            session_idle_timeout_secs: parse_number(lookup, "CAMET_SESSION_IDLE_TIMEOUT_SECS", 1800, 1, 86_400 * 30)?,
            session_lifetime_secs: parse_number(lookup, "CAMET_SESSION_LIFETIME_SECS", 7 * 86_400, 60, 365 * 86_400)?,
            max_sessions_per_user: parse_number(lookup, "CAMET_MAX_SESSIONS_PER_USER", 3, 1, 1000)?,
            rate_limit_per_minute: per_minute("CAMET_RATE_LIMIT_PER_MINUTE", 100)?,
            login_rate_limit_per_minute: per_minute("CAMET_LOGIN_RATE_LIMIT_PER_MINUTE", 5)?,
            ip_rate_limit_per_minute: per_minute("CAMET_IP_RATE_LIMIT_PER_MINUTE", 1000)?,
            auth_failure_limit_per_minute: per_minute("CAMET_AUTH_FAILURE_LIMIT_PER_MINUTE", 20)?,
            lockout_threshold: parse_number(lookup, "CAMET_LOCKOUT_THRESHOLD", 10, 1, 1000)?,
            lockout_secs: parse_number(lookup, "CAMET_LOCKOUT_SECS", 900, 1, 86_400 * 30)?,
            trusted_proxies,
            cors_origins,
            hsts,
            hashing,
            argon2_max_concurrent_memory_mib: parse_number(
                lookup,
                "CAMET_ARGON2_MAX_CONCURRENT_MEMORY_MIB",
                64,
                1,
                1024 * 1024,
            )?,
            argon2_queue_wait_ms: parse_number(lookup, "CAMET_ARGON2_QUEUE_WAIT_MS", 2000, 0, 60_000)?,
            argon2_allow_weak,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config_from(pairs: &[(&str, &str)]) -> Result<Config, AppError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(&|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_give_embedded_sqlite_on_localhost() {
        let config = config_from(&[]).expect("defaults are valid");
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.database_url,
            DatabaseUrl::Sqlite {
                path: PathBuf::from("./camet-data/camet.db")
            }
        );
        assert_eq!(config.data_dir, PathBuf::from("./camet-data"));
        assert_eq!(config.db_pool_size, DEFAULT_POOL_SIZE);
    }

    #[test]
    fn each_invalid_variable_is_named_in_the_error() {
        for (name, value) in [
            ("DATABASE_URL", "postgres://x"),
            ("DATABASE_URL", "mysql://u:p@host"),
            ("DATABASE_URL", "sqlite://:memory:"),
            ("CAMET_BIND", "nowhere"),
            ("CAMET_JWT_SECRET", "short"),
            ("CAMET_DB_POOL_SIZE", "0"),
            ("CAMET_DB_POOL_SIZE", "many"),
            ("CAMET_LOG_FORMAT", "xml"),
            ("CAMET_LOG", "[[["),
            ("CAMET_TRUSTED_PROXIES", "10.0.0.1/8"),
            ("CAMET_CORS_ORIGINS", "app.example.com"),
            ("CAMET_RATE_LIMIT_PER_MINUTE", "0"),
            ("CAMET_HSTS", "maybe"),
            ("CAMET_ARGON2_MEMORY_KIB", "1024"),
            ("CAMET_ARGON2_ITERATIONS", "1"),
            ("CAMET_ARGON2_ALLOW_WEAK", "perhaps"),
            ("CAMET_ARGON2_MAX_CONCURRENT_MEMORY_MIB", "0"),
            ("CAMET_ARGON2_QUEUE_WAIT_MS", "-1"),
            ("CAMET_DELIVERY_JOB_SECS", "0"),
            ("CAMET_WEBHOOKS_ALLOW_PRIVATE", "yes"),
            ("CAMET_WEBHOOK_RETRY_BASE_MS", "0"),
            ("CAMET_WEBHOOK_MAX_ATTEMPTS", "9"),
            ("CAMET_SMTP_URL", "http://mail.example.com"),
            ("CAMET_SMTP_FROM", "not an address"),
        ] {
            let error = config_from(&[(name, value)]).expect_err(name).to_string();
            assert!(error.contains(name), "{error} should name {name}");
        }
    }

    #[test]
    fn mysql_url_splits_server_and_database_and_hides_password() {
        let with_options = DatabaseUrl::parse("mysql://u:p@db.internal:3307/camet?prefer_socket=false").expect("valid");
        assert_eq!(
            with_options.mysql_url(Some("camet_tenant_4")).as_deref(),
            Some("mysql://u:p@db.internal:3307/camet_tenant_4?prefer_socket=false")
        );
        let url = DatabaseUrl::parse("mysql://camet:s3cret@127.0.0.1:3306/camet").expect("valid");
        match &url {
            DatabaseUrl::Mysql {
                server_url, database, ..
            } => {
                assert_eq!(server_url, "mysql://camet:s3cret@127.0.0.1:3306");
                assert_eq!(database, "camet");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn mysql_database_names_cannot_inject_sql() {
        assert!(DatabaseUrl::parse("mysql://u:p@h/camet`;drop").is_err());
        assert!(is_safe_identifier("camet_test_01"));
        assert!(!is_safe_identifier("a-b"));
    }

    #[test]
    fn weak_argon2_settings_need_the_explicit_test_escape() {
        let weak = [("CAMET_ARGON2_MEMORY_KIB", "1024"), ("CAMET_ARGON2_ITERATIONS", "1")];
        let error = config_from(&weak).expect_err("weak refused").to_string();
        assert!(
            error.contains("CAMET_ARGON2_MEMORY_KIB") && error.contains("OWASP"),
            "{error}"
        );
        let config = config_from(&[weak[0], weak[1], ("CAMET_ARGON2_ALLOW_WEAK", "true")]).expect("escape");
        assert!(config.auth.argon2_allow_weak);
        let owasp_t3 = config_from(&[("CAMET_ARGON2_MEMORY_KIB", "12288"), ("CAMET_ARGON2_ITERATIONS", "3")]);
        assert!(owasp_t3.is_ok());
        let defaults = config_from(&[]).expect("defaults");
        assert_eq!(defaults.auth.argon2_max_concurrent_memory_mib, 64);
        assert_eq!(defaults.auth.argon2_queue_wait_ms, 2000);
    }

    #[test]
    fn delivery_defaults_and_a_secret_smtp_url() {
        let defaults = config_from(&[]).expect("defaults");
        assert_eq!(defaults.notify.delivery_job_secs, 5);
        assert!(!defaults.notify.webhooks_allow_private);
        assert_eq!(defaults.notify.webhook_retry_base_ms, 5000);
        assert_eq!(defaults.notify.webhook_max_attempts, 8);
        assert!(defaults.notify.smtp_url.is_none());
        assert_eq!(defaults.notify.smtp_from, "camet@localhost");
        let config = config_from(&[(
            "CAMET_SMTP_URL",
            "smtp://camet:hunter22@mail.example.com:587?tls=required",
        )])
        .expect("valid");
        assert!(config.notify.smtp_url.is_some());
        assert!(!format!("{config:?}").contains("hunter22"));
    }

    #[test]
    fn secret_debug_is_redacted() {
        let config = config_from(&[("CAMET_JWT_SECRET", "0123456789abcdef0123456789abcdef")]).expect("valid");
        assert!(!format!("{config:?}").contains("0123456789abcdef"));
    }
}
