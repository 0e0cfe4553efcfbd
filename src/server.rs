//! Startup sequence and serving: open and migrate the databases, seed the demo
//! on an empty embedded installation, bind, serve, shut down gracefully on
//! SIGINT/SIGTERM (in-flight requests finish within the grace period).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::listener::{Acceptor, Listener, TcpListener};

use crate::app::{AppState, SharedState};
use crate::auth::secret;
use crate::config::Config;
use crate::db::{Backend, Databases};
use crate::demo::{self, DemoSeed};
use crate::error::{AppError, AppResult};
use crate::{http, tenants};

/// Builds the application state: databases opened and migrated (global and
/// every tenant), secret resolved.
pub async fn prepare(config: Config) -> AppResult<SharedState> {
    let jwt_secret = secret::resolve(&config)?;
    let databases = Databases::open(&config).await?;
    tenants::migrate_all(&databases).await?;
    crate::dashboard::catalog::seed_builtin(&databases).await?;
    let broker = crate::broker::DataBroker::from_file(
        &config.external_apis_path,
        std::time::Duration::from_secs(config.broker_cache_secs),
    )
    .map_err(AppError::Config)?;
    let hashing = config.auth.hashing;
    let hash_pool = crate::auth::password::HashPool::new(
        config.auth.argon2_max_concurrent_memory_mib,
        hashing.memory_kib,
        std::time::Duration::from_millis(config.auth.argon2_queue_wait_ms),
    );
    let dummy_hash = crate::auth::password::hash(&crate::auth::password::generate(), hashing).await?;
    let signer = crate::auth::tokens::TokenSigner::new(&jwt_secret, config.auth.access_token_ttl_secs);
    let limits = crate::http::rate_limit::RateLimits::new(
        config.auth.rate_limit_per_minute,
        config.auth.login_rate_limit_per_minute,
        crate::http::rate_limit::DEFAULT_MAX_TRACKED_KEYS,
    )
    .with_ip_quota(config.auth.ip_rate_limit_per_minute)
    .with_auth_failure_quota(config.auth.auth_failure_limit_per_minute);
    let limits = match &config.redis {
        Some(redis) => limits.with_shared(crate::http::shared_limits::SharedBuckets::new(redis)?),
        None => limits,
    };
    let exports = crate::http::export_slots::ExportSlots::new(config.export_max_concurrent);
    // A stream must write more often than the connection's head deadline
    // (see `http::transport`), or an idle one would be closed.
    let mut live_settings = config.live.clone();
    live_settings.heartbeat_secs = live_settings
        .heartbeat_secs
        .min((config.header_read_timeout_secs / 2).max(1));
    let live = match &config.redis {
        Some(redis) => crate::live::bus::LiveBus::with_redis(live_settings, redis)?,
        None => crate::live::bus::LiveBus::local(live_settings),
    };
    let state = Arc::new(AppState {
        instance_id: uuid::Uuid::new_v4().to_string(),
        live,
        config,
        databases,
        hashing,
        hash_pool,
        jwt_secret,
        started_at: Instant::now(),
        signer,
        limits,
        dummy_hash,
        cache: crate::plant::cache::MetadataCache::default(),
        metrics: crate::http::metrics::HttpMetrics::default(),
        broker,
        clock: crate::clock::Clock::system(),
        exports,
    });
    // Load every tenant's configuration now, so the first requests are served from memory.
    for tenant_id in tenants::all_ids(&state.databases).await? {
        state.cache.reload(&state.databases, tenant_id).await?;
    }
    Ok(state)
}

/// Seeds the demo plant when the embedded database holds no tenant yet.
/// Never runs against MySQL (use `camet demo` there).
pub async fn seed_demo_if_empty(state: &AppState) -> AppResult<Option<DemoSeed>> {
    if state.databases.backend() != Backend::Sqlite || tenants::count(&state.databases).await? > 0 {
        return Ok(None);
    }
    demo::seed(&state.databases, state.hashing, 7).await.map(Some)
}

/// A server running in the background (tests and `serve`).
pub struct RunningServer {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting connections, lets in-flight requests finish, waits.
    pub async fn stop(mut self) -> AppResult<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.handle
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)
    }
}

/// Binds `addr` and serves the API in a background task until `stop` or
/// `external_shutdown` resolves.
pub async fn start(
    state: SharedState,
    addr: SocketAddr,
    external_shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> AppResult<RunningServer> {
    let acceptor = TcpListener::bind(addr)
        .into_acceptor()
        .await
        .map_err(|e| AppError::Config(format!("invalid CAMET_BIND: cannot listen on {addr}: {e}")))?;
    let header_timeout = Duration::from_secs(state.config.header_read_timeout_secs);
    let acceptor = http::transport::DeadlineAcceptor::new(acceptor, header_timeout);
    let bound = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .ok_or_else(|| AppError::internal("listener has no socket address"))?;
    let grace = Duration::from_secs(state.config.shutdown_grace_secs);
    let jobs = crate::jobs::spawn_all(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = http::app(state);
    let handle = tokio::spawn(async move {
        let signal = async move {
            tokio::select! {
                // A dropped handle is not a stop request.
                _ = async { if rx.await.is_err() { std::future::pending::<()>().await } } => {},
                _ = external_shutdown => {},
            }
            tracing::info!("shutting down: no new connections, finishing in-flight requests");
        };
        let served = poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, signal, Some(grace))
            .await;
        jobs.stop().await;
        served
    });
    Ok(RunningServer {
        addr: bound,
        shutdown: Some(tx),
        handle,
    })
}

/// A future that resolves on SIGINT or SIGTERM. The handlers are installed
/// when this is called, not when the future is first polled: the server
/// announces itself before its task polls the future, and a SIGTERM sent in
/// between (a supervisor, a test under load) must still be a graceful stop,
/// not the default action that kills the process.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt()).ok();
        let terminate = signal(SignalKind::terminate()).ok();
        async move {
            let wait = |sig: Option<tokio::signal::unix::Signal>| async move {
                match sig {
                    Some(mut sig) => {
                        sig.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(interrupt) => {},
                _ = wait(terminate) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// `camet serve`: prepare, seed the demo if asked and empty, serve until a signal.
pub async fn serve(config: Config, demo_allowed: bool) -> AppResult<()> {
    let bind = config.bind;
    // Loud, and only where it matters: a server taking logins (one-shot CLI
    // commands keep their one-line stderr).
    let hashing = config.auth.hashing;
    if config.auth.argon2_allow_weak && !hashing.meets_owasp_minimum() {
        tracing::error!(
            memory_kib = hashing.memory_kib,
            iterations = hashing.iterations,
            "CAMET_ARGON2_ALLOW_WEAK=true: password hashes are BELOW OWASP's minimum; for test suites only, never in production"
        );
    }
    let state = prepare(config).await?;
    let seeded = if demo_allowed {
        seed_demo_if_empty(&state).await?
    } else {
        None
    };
    let running = start(state, bind, shutdown_signal()).await?;
    let base = format!("http://{}", running.addr);
    println!("Camet Analytics is listening on {base}");
    println!("  API docs (Swagger UI): {base}/docs");
    println!("  OpenAPI document:      {base}/openapi.json");
    if let Some(seed) = seeded {
        println!(
            "Demo plant created (tenant {}, line {}, {} detections).",
            seed.tenant_id, seed.line_id, seed.detections
        );
        println!("  Log in as username: {}", seed.username);
        println!("            password: {}", seed.password);
        println!("  The password is shown only this once.");
    }
    tracing::info!(addr = %running.addr, "listening");
    running
        .handle
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::internal)
}
