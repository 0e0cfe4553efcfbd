//! Database access for both backends: SQLite (embedded default) and
//! MySQL/MariaDB (production).
//!
//! Each query is written once: [`DbConn`] is an enum of the two pooled
//! connection types and [`with_conn!`](crate::with_conn) /
//! [`write_tx!`](crate::write_tx) expand the same diesel body in each arm.
//! SQL that differs between dialects lives in [`dialect`] only.
//!
//! Layout (as the original design): one global database (tenants, users,
//! sessions, audit, dashboards) and one database per tenant (plant
//! configuration, per-line detection and downtime tables). [`Databases`] owns
//! one pool per database.

pub mod decimal;
pub mod dialect;
pub mod fault;
pub mod line_tables;
pub mod migrate;
pub mod schema;

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use diesel::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, SimpleAsyncConnection};
use futures::FutureExt;
use tokio::sync::RwLock;

use crate::config::{Config, DatabaseUrl};
use crate::error::{AppError, AppResult, DbFaultKind};

/// The async SQLite connection: diesel's sync connection run on blocking threads.
pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

/// Which database engine a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite files.
    Sqlite,
    /// MySQL 8 or MariaDB 10.6+.
    Mysql,
}

/// A pool of connections to one database.
#[derive(Clone)]
pub enum DbPool {
    /// SQLite pool.
    Sqlite(Pool<SqliteConn>),
    /// MySQL pool.
    Mysql(Pool<AsyncMysqlConnection>),
}

/// One pooled connection, of either backend.
pub enum DbConn {
    /// SQLite connection.
    Sqlite(Pooled<SqliteConn>),
    /// MySQL connection.
    Mysql(Pooled<AsyncMysqlConnection>),
}

tokio::task_local! {
    /// Set by [`bounded`] when the work it runs is abandoned at its deadline.
    static ABANDONED: Arc<AtomicBool>;
}

/// Runs `work` for at most `limit`. When the limit passes, the work is
/// dropped where it stands, and every connection it held is closed instead of
/// going back to its pool: a statement may still be running on it, or a
/// result still be waiting, so its state is unknown. `None` means the limit
/// passed.
pub async fn bounded<F: std::future::Future>(limit: Duration, work: F) -> Option<F::Output> {
    abandon_on(work, tokio::time::sleep(limit)).await
}

/// Runs `work` until `cancel` resolves first; then drops it like
/// [`bounded`] does at its deadline (its connections closed, not pooled).
/// `None` means it was cancelled.
pub async fn abandon_on<F: std::future::Future>(work: F, cancel: impl std::future::Future) -> Option<F::Output> {
    let abandoned = Arc::new(AtomicBool::new(false));
    let mut work = Box::pin(ABANDONED.scope(abandoned.clone(), work));
    tokio::select! {
        output = &mut work => Some(output),
        _ = cancel => {
            abandoned.store(true, Ordering::SeqCst);
            // The task-local is set again while the inner future is dropped,
            // so each `Pooled` inside sees the flag.
            drop(work);
            None
        }
    }
}

/// Runs `work` like an ordinary future, except that when it is dropped
/// before `work` is done, the connections `work` holds are closed rather
/// than pooled, as [`bounded`] does at its deadline. For work whose owner can
/// vanish mid-statement: a streamed answer whose client went away.
pub fn close_if_dropped<F: std::future::Future>(work: F) -> CloseIfDropped<F> {
    let abandoned = Arc::new(AtomicBool::new(false));
    CloseIfDropped {
        work: Some(Box::pin(ABANDONED.scope(abandoned.clone(), work))),
        abandoned,
    }
}

/// Work run with its own "abandoned" flag in scope.
type FlaggedWork<F> = std::pin::Pin<Box<tokio::task::futures::TaskLocalFuture<Arc<AtomicBool>, F>>>;

/// The future of [`close_if_dropped`].
pub struct CloseIfDropped<F: std::future::Future> {
    work: Option<FlaggedWork<F>>,
    abandoned: Arc<AtomicBool>,
}

impl<F: std::future::Future> std::future::Future for CloseIfDropped<F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let this = self.get_mut();
        let Some(work) = this.work.as_mut() else {
            // Polled again after it finished: nothing more will come.
            return std::task::Poll::Pending;
        };
        let output = std::task::ready!(work.as_mut().poll(cx));
        this.work = None;
        std::task::Poll::Ready(output)
    }
}

impl<F: std::future::Future> Drop for CloseIfDropped<F> {
    fn drop(&mut self) {
        if self.work.is_some() {
            self.abandoned.store(true, Ordering::SeqCst);
            // The task-local is set again while the inner future is dropped,
            // so each `Pooled` inside sees the flag.
            self.work = None;
        }
    }
}

/// A connection taken from a pool. Dropped normally it goes back to the
/// pool (which checks it before the next use); dropped because [`bounded`]
/// abandoned the work using it, it is closed and its pool slot freed.
pub struct Pooled<C: 'static>(Option<Object<C>>)
where
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>;

impl<C: 'static> Pooled<C>
where
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
{
    fn new(object: Object<C>) -> Self {
        Pooled(Some(object))
    }

    fn object(&self) -> &Object<C> {
        // Only `Drop` empties the option.
        self.0.as_ref().expect("a pooled connection is present until dropped")
    }

    fn object_mut(&mut self) -> &mut Object<C> {
        self.0.as_mut().expect("a pooled connection is present until dropped")
    }
}

impl<C: 'static> Deref for Pooled<C>
where
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
{
    type Target = C;
    fn deref(&self) -> &C {
        self.object()
    }
}

impl<C: 'static> DerefMut for Pooled<C>
where
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
{
    fn deref_mut(&mut self) -> &mut C {
        self.object_mut()
    }
}

impl<C: 'static> Drop for Pooled<C>
where
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
{
    fn drop(&mut self) {
        let abandoned = ABANDONED.try_with(|flag| flag.load(Ordering::SeqCst)).unwrap_or(false);
        if abandoned && let Some(object) = self.0.take() {
            tracing::warn!("closing a database connection abandoned at its deadline");
            drop(Object::take(object));
        }
    }
}

/// Runs the same diesel body against whichever backend `$conn` is.
/// Inside the body, `$c` is `&mut` the concrete connection; the optional
/// second name is bound to the diesel backend type (for boxed queries).
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, |$c:ident, $db:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite(pooled) => {
                #[allow(dead_code)]
                type $db = diesel::sqlite::Sqlite;
                let $c: &mut $crate::db::SqliteConn = &mut *pooled;
                $body
            }
            $crate::db::DbConn::Mysql(pooled) => {
                #[allow(dead_code)]
                type $db = diesel::mysql::Mysql;
                let $c: &mut diesel_async::AsyncMysqlConnection = &mut *pooled;
                $body
            }
        }
    };
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite(pooled) => {
                let $c: &mut $crate::db::SqliteConn = &mut *pooled;
                $body
            }
            $crate::db::DbConn::Mysql(pooled) => {
                let $c: &mut diesel_async::AsyncMysqlConnection = &mut *pooled;
                $body
            }
        }
    };
}

/// Runs the same diesel body in a write transaction on either backend. The
/// body is an async block yielding `AppResult<T>`; an error rolls back.
/// SQLite uses `BEGIN IMMEDIATE` so concurrent writers queue on the busy
/// timeout instead of failing with "database is locked" on upgrade.
#[macro_export]
macro_rules! write_tx {
    ($conn:expr, |$c:ident, $db:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite(pooled) => {
                #[allow(dead_code)]
                type $db = diesel::sqlite::Sqlite;
                let conn: &mut $crate::db::SqliteConn = &mut *pooled;
                conn.immediate_transaction(async |$c| $body).await
            }
            $crate::db::DbConn::Mysql(pooled) => {
                #[allow(dead_code)]
                type $db = diesel::mysql::Mysql;
                let conn: &mut diesel_async::AsyncMysqlConnection = &mut *pooled;
                diesel_async::AsyncConnection::transaction(conn, async |$c| $body).await
            }
        }
    };
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConn::Sqlite(pooled) => {
                let conn: &mut $crate::db::SqliteConn = &mut *pooled;
                conn.immediate_transaction(async |$c| $body).await
            }
            $crate::db::DbConn::Mysql(pooled) => {
                let conn: &mut diesel_async::AsyncMysqlConnection = &mut *pooled;
                diesel_async::AsyncConnection::transaction(conn, async |$c| $body).await
            }
        }
    };
}

/// Implements a trait for both concrete connection types with one body, for
/// helpers called inside [`write_tx!`](crate::write_tx) bodies.
#[macro_export]
macro_rules! impl_for_connections {
    ($trait:path { $($body:tt)* }) => {
        impl $trait for $crate::db::SqliteConn { $($body)* }
        impl $trait for diesel_async::AsyncMysqlConnection { $($body)* }
    };
}

impl DbPool {
    /// Takes a connection, waiting at most the configured timeout (then a
    /// 503) in all: for a free slot, checking idle connections, opening one.
    pub async fn get(&self) -> AppResult<DbConn> {
        let limit = self.timeout();
        let taken = tokio::time::timeout(limit, async {
            Ok::<_, AppError>(match self {
                DbPool::Sqlite(pool) => DbConn::Sqlite(Pooled::new(pool.get().await?)),
                DbPool::Mysql(pool) => DbConn::Mysql(Pooled::new(pool.get().await?)),
            })
        })
        .await;
        match taken {
            Ok(conn) => conn,
            Err(_) => Err(AppError::db_fault(
                DbFaultKind::Timeout,
                format!("no database connection within {} ms", limit.as_millis()),
            )),
        }
    }

    /// How long [`get`](Self::get) may take.
    fn timeout(&self) -> Duration {
        let timeouts = match self {
            DbPool::Sqlite(pool) => pool.timeouts(),
            DbPool::Mysql(pool) => pool.timeouts(),
        };
        timeouts.wait.unwrap_or(Duration::from_secs(5))
    }

    /// The backend of this pool.
    pub fn backend(&self) -> Backend {
        match self {
            DbPool::Sqlite(_) => Backend::Sqlite,
            DbPool::Mysql(_) => Backend::Mysql,
        }
    }

    /// A cheap round trip within `limit`, for readiness checks (a
    /// connection that did not answer in time is closed, not pooled).
    pub async fn ping(&self, limit: Duration) -> AppResult<()> {
        let round_trip = async {
            let mut conn = self.get().await?;
            with_conn!(&mut conn, |c| c.batch_execute("SELECT 1").await)?;
            Ok(())
        };
        bounded(limit, round_trip).await.unwrap_or_else(|| {
            Err(AppError::db_fault(
                DbFaultKind::Timeout,
                format!("no answer to a ping within {} ms", limit.as_millis()),
            ))
        })
    }
}

/// How a pool's connections are used right now (for `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections handed out.
    pub in_use: usize,
    /// Open connections waiting in the pool.
    pub idle: usize,
    /// The pool's size limit.
    pub max: usize,
}

impl DbPool {
    /// Connections in use and idle.
    pub fn stats(&self) -> PoolStats {
        let status = match self {
            DbPool::Sqlite(pool) => pool.status(),
            DbPool::Mysql(pool) => pool.status(),
        };
        PoolStats {
            in_use: status.size.saturating_sub(status.available),
            idle: status.available,
            max: status.max_size,
        }
    }

    /// SQLite only: writes a transactionally consistent copy of this
    /// database to `target` (`VACUUM INTO`, one read transaction), while
    /// other connections keep reading and writing (WAL). `target` must not exist.
    pub async fn vacuum_into(&self, target: &Path) -> AppResult<()> {
        if self.backend() != Backend::Sqlite {
            return Err(AppError::BadRequest("VACUUM INTO copies SQLite databases only".into()));
        }
        let target = target
            .to_str()
            .ok_or_else(|| AppError::BadRequest(format!("{} is not a UTF-8 path", target.display())))?
            .to_owned();
        let mut conn = self.get().await?;
        with_conn!(&mut conn, |c| {
            use diesel_async::RunQueryDsl;
            diesel::sql_query("VACUUM INTO ?")
                .bind::<diesel::sql_types::Text, _>(&target)
                .execute(c)
                .await
        })?;
        Ok(())
    }
}

impl DbConn {
    /// The backend of this connection.
    pub fn backend(&self) -> Backend {
        match self {
            DbConn::Sqlite(_) => Backend::Sqlite,
            DbConn::Mysql(_) => Backend::Mysql,
        }
    }
}

/// Pool settings shared by every database of a process.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Connections per pool.
    pub size: u32,
    /// How long to wait for (or to open) a connection before giving up.
    pub timeout: Duration,
    /// Longest a single statement may run (MySQL `max_statement_time` /
    /// `max_execution_time`, SQLite `busy_timeout`).
    pub statement_timeout: Duration,
}

impl PoolSettings {
    /// How long checking an idle connection before reuse may take; a
    /// connection that does not answer in time is dropped and another taken.
    fn recycle_timeout(&self) -> Duration {
        self.timeout.min(Duration::from_secs(2))
    }
}

fn sqlite_pool(path: &Path, settings: PoolSettings) -> AppResult<DbPool> {
    let url = path.to_string_lossy().into_owned();
    let mut manager_config = ManagerConfig::<SqliteConn>::default();
    let busy_ms = settings.statement_timeout.as_millis();
    manager_config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        async move {
            let mut conn = SqliteConn::establish(&url).await?;
            // busy_timeout comes first: switching to (or checking) WAL needs
            // a lock that another connection may hold for a moment (a
            // checkpoint, the last connection closing), and without a busy
            // handler that moment fails the new connection at once. WAL lets
            // readers run beside the single writer; busy_timeout makes writers
            // queue (for at most the statement timeout, then SQLITE_BUSY, a
            // 503) instead of failing; foreign keys are off by default.
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
            ))
            .await
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(url, manager_config);
    let pool = Pool::builder(manager)
        .max_size(settings.size as usize)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(settings.timeout))
        .create_timeout(Some(settings.timeout))
        .recycle_timeout(Some(settings.recycle_timeout()))
        .build()
        .map_err(AppError::internal)?;
    Ok(DbPool::Sqlite(pool))
}

/// The statement that bounds every statement of a new MySQL session:
/// MariaDB's `max_statement_time` (seconds, every statement), else MySQL's
/// `max_execution_time` (milliseconds, SELECTs).
fn mysql_statement_timeouts(limit: Duration) -> [String; 2] {
    [
        format!("SET SESSION max_statement_time = {}", limit.as_secs_f64()),
        format!("SET SESSION max_execution_time = {}", limit.as_millis()),
    ]
}

fn mysql_pool(url: &str, settings: PoolSettings) -> AppResult<DbPool> {
    let mut manager_config = ManagerConfig::<AsyncMysqlConnection>::default();
    let statements = mysql_statement_timeouts(settings.statement_timeout);
    manager_config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        let statements = statements.clone();
        async move {
            let mut conn = AsyncMysqlConnection::establish(&url).await?;
            let mut last = None;
            for statement in &statements {
                match conn.batch_execute(statement).await {
                    Ok(()) => return Ok(conn),
                    Err(error) => last = Some(error),
                }
            }
            Err(diesel::ConnectionError::CouldntSetupConfiguration(
                last.unwrap_or(diesel::result::Error::NotFound),
            ))
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncMysqlConnection>::new_with_config(url, manager_config);
    let pool = Pool::builder(manager)
        .max_size(settings.size as usize)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(settings.timeout))
        .create_timeout(Some(settings.timeout))
        .recycle_timeout(Some(settings.recycle_timeout()))
        .build()
        .map_err(AppError::internal)?;
    Ok(DbPool::Mysql(pool))
}

/// The file of tenant `tenant_id` beside the global SQLite database `global`:
/// `camet.db` → `camet_tenant_7.db`.
pub fn sqlite_tenant_path(global: &Path, tenant_id: i32) -> PathBuf {
    let stem = global
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "camet".into());
    global.with_file_name(format!("{stem}_tenant_{tenant_id}.db"))
}

/// All databases of a Camet deployment: the global one and each tenant's.
pub struct Databases {
    location: DatabaseUrl,
    settings: PoolSettings,
    global: DbPool,
    tenants: RwLock<HashMap<i32, DbPool>>,
}

impl Databases {
    /// Opens the global database, creating it (and its folder) when missing,
    /// and applies pending global migrations. Fails with a one-line message
    /// naming `DATABASE_URL` when the database cannot be reached.
    pub async fn open(config: &Config) -> AppResult<Arc<Databases>> {
        let settings = PoolSettings {
            size: config.db_pool_size,
            timeout: Duration::from_secs(config.db_timeout_secs),
            statement_timeout: Duration::from_secs(config.db_statement_timeout_secs),
        };
        let global = match &config.database_url {
            DatabaseUrl::Sqlite { path } => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        AppError::Config(format!(
                            "invalid DATABASE_URL: cannot create folder {}: {e}",
                            parent.display()
                        ))
                    })?;
                }
                sqlite_pool(path, settings)?
            }
            location @ DatabaseUrl::Mysql {
                database, host_port, ..
            } => {
                let server_url = location.mysql_url(None).unwrap_or_default();
                dialect::mysql_create_database(&server_url, database, settings.timeout)
                    .await
                    .map_err(|e| {
                        AppError::db_fault(
                            DbFaultKind::ConnectionLost,
                            format!("cannot reach MySQL at {host_port} (DATABASE_URL): {e}"),
                        )
                    })?;
                mysql_pool(&location.mysql_url(Some(database)).unwrap_or_default(), settings)?
            }
        };
        let databases = Arc::new(Databases {
            location: config.database_url.clone(),
            settings,
            global,
            tenants: RwLock::new(HashMap::new()),
        });
        migrate::run_global(&databases.global).await.map_err(|e| match e {
            AppError::DatabaseUnavailable(fault) => AppError::db_fault(
                fault.kind,
                format!(
                    "cannot open the database (DATABASE_URL={:?}): {}",
                    config.database_url, fault.cause
                ),
            ),
            AppError::Internal(m) => AppError::db_fault(
                DbFaultKind::ConnectionLost,
                format!("cannot open the database (DATABASE_URL={:?}): {m}", config.database_url),
            ),
            other => other,
        })?;
        Ok(databases)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.global.backend()
    }

    /// The global database pool.
    pub fn global(&self) -> &DbPool {
        &self.global
    }

    /// Where tenant `tenant_id`'s SQLite file lives (SQLite only).
    pub fn tenant_sqlite_path(&self, tenant_id: i32) -> Option<PathBuf> {
        match &self.location {
            DatabaseUrl::Sqlite { path } => Some(sqlite_tenant_path(path, tenant_id)),
            DatabaseUrl::Mysql { .. } => None,
        }
    }

    /// The MySQL database name of tenant `tenant_id` (MySQL only).
    pub fn tenant_mysql_database(&self, tenant_id: i32) -> Option<String> {
        match &self.location {
            DatabaseUrl::Mysql { database, .. } => Some(format!("{database}_tenant_{tenant_id}")),
            DatabaseUrl::Sqlite { .. } => None,
        }
    }

    /// Creates tenant `tenant_id`'s database if needed, applies its
    /// migrations and creates any missing per-line table. Idempotent.
    pub async fn prepare_tenant(&self, tenant_id: i32) -> AppResult<DbPool> {
        if let (Some(server_url), Some(name)) = (self.location.mysql_url(None), self.tenant_mysql_database(tenant_id)) {
            dialect::mysql_create_database(&server_url, &name, self.settings.timeout)
                .await
                .map_err(|e| {
                    AppError::db_fault(
                        DbFaultKind::ConnectionLost,
                        format!("cannot create tenant database {name}: {e}"),
                    )
                })?;
        }
        let pool = self.open_tenant_pool(tenant_id)?;
        migrate::run_tenant(&pool).await?;
        line_tables::ensure_all(&pool, crate::clock::now_naive()).await?;
        self.tenants.write().await.insert(tenant_id, pool.clone());
        Ok(pool)
    }

    /// Removes tenant `tenant_id`'s database (used to undo a failed tenant creation).
    pub async fn drop_tenant_database(&self, tenant_id: i32) -> AppResult<()> {
        self.tenants.write().await.remove(&tenant_id);
        match &self.location {
            DatabaseUrl::Mysql { .. } => {
                if let (Some(server_url), Some(name)) =
                    (self.location.mysql_url(None), self.tenant_mysql_database(tenant_id))
                {
                    dialect::mysql_drop_database(&server_url, &name, self.settings.timeout)
                        .await
                        .map_err(AppError::internal)?;
                }
            }
            DatabaseUrl::Sqlite { .. } => {
                if let Some(path) = self.tenant_sqlite_path(tenant_id) {
                    for suffix in ["", "-wal", "-shm"] {
                        let file = PathBuf::from(format!("{}{suffix}", path.display()));
                        if file.exists() {
                            std::fs::remove_file(&file).map_err(AppError::internal)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The pool of tenant `tenant_id`, opened on first use. The tenant must
    /// exist (callers check the global row first).
    pub async fn tenant(&self, tenant_id: i32) -> AppResult<DbPool> {
        if let Some(pool) = self.tenants.read().await.get(&tenant_id) {
            return Ok(pool.clone());
        }
        let mut tenants = self.tenants.write().await;
        if let Some(pool) = tenants.get(&tenant_id) {
            return Ok(pool.clone());
        }
        let pool = self.open_tenant_pool(tenant_id)?;
        tenants.insert(tenant_id, pool.clone());
        Ok(pool)
    }

    /// Every tenant pool opened so far, for readiness checks.
    pub async fn open_tenant_pools(&self) -> Vec<(i32, DbPool)> {
        self.tenants
            .read()
            .await
            .iter()
            .map(|(id, pool)| (*id, pool.clone()))
            .collect()
    }

    fn open_tenant_pool(&self, tenant_id: i32) -> AppResult<DbPool> {
        match &self.location {
            DatabaseUrl::Sqlite { .. } => {
                let path = self
                    .tenant_sqlite_path(tenant_id)
                    .ok_or_else(|| AppError::internal("no SQLite path for tenant"))?;
                sqlite_pool(&path, self.settings)
            }
            DatabaseUrl::Mysql { .. } => {
                let url = self
                    .tenant_mysql_database(tenant_id)
                    .and_then(|name| self.location.mysql_url(Some(&name)))
                    .ok_or_else(|| AppError::internal("no MySQL database name for tenant"))?;
                mysql_pool(&url, self.settings)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::Connection;
    use diesel::connection::SimpleConnection;

    fn settings() -> PoolSettings {
        PoolSettings {
            size: 2,
            timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(10),
        }
    }

    /// A new pooled SQLite connection waits for a lock another connection
    /// holds for a moment instead of failing at once: CI once failed a test
    /// with "database is locked" because `journal_mode` ran before the busy
    /// handler was set.
    #[tokio::test]
    async fn a_new_sqlite_connection_waits_for_a_briefly_held_lock() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("locked.db");
        let url = path.to_str().expect("utf-8 path").to_owned();
        {
            // The file exists and is already in WAL mode, as a running server leaves it.
            let pool = sqlite_pool(&path, settings()).expect("pool");
            drop(pool.get().await.expect("first connection"));
        }

        let mut holder = diesel::SqliteConnection::establish(&url).expect("holder");
        holder
            .batch_execute("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;")
            .expect("exclusive lock");

        let pool = sqlite_pool(&path, settings()).expect("pool");
        let waiting = tokio::spawn(async move { pool.get().await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !waiting.is_finished(),
            "the new connection must wait for the lock, not fail"
        );
        holder.batch_execute("COMMIT;").expect("release");
        drop(holder);

        let outcome = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the connection is made once the lock is released")
            .expect("task");
        assert!(outcome.is_ok(), "connection failed: {:?}", outcome.err());
    }
}
