//! Embedded migrations for both backends and both kinds of database, under
//! `migrations/<backend>/<global|tenant>/` with identical folder names.

use diesel_async::AsyncMigrationHarness;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::db::DbPool;
use crate::error::{AppError, AppResult};

const SQLITE_GLOBAL: EmbeddedMigrations = embed_migrations!("migrations/sqlite/global");
const SQLITE_TENANT: EmbeddedMigrations = embed_migrations!("migrations/sqlite/tenant");
const MYSQL_GLOBAL: EmbeddedMigrations = embed_migrations!("migrations/mysql/global");
const MYSQL_TENANT: EmbeddedMigrations = embed_migrations!("migrations/mysql/tenant");

/// Which set of migrations.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Global,
    Tenant,
}

/// Applies pending global migrations; returns how many ran.
pub async fn run_global(pool: &DbPool) -> AppResult<usize> {
    run(pool, Kind::Global).await
}

/// Applies pending tenant migrations; returns how many ran.
pub async fn run_tenant(pool: &DbPool) -> AppResult<usize> {
    run(pool, Kind::Tenant).await
}

/// diesel's harness is synchronous; it runs on a blocking thread so the async
/// runtime (of any flavour) keeps serving while migrations apply.
async fn run(pool: &DbPool, kind: Kind) -> AppResult<usize> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| AppError::Internal(format!("migration failed: {e}"));
    match pool {
        DbPool::Sqlite(pool) => {
            let conn = pool.get().await?;
            let set = match kind {
                Kind::Global => SQLITE_GLOBAL,
                Kind::Tenant => SQLITE_TENANT,
            };
            tokio::task::spawn_blocking(move || {
                let mut harness = AsyncMigrationHarness::new(conn);
                harness.run_pending_migrations(set).map(|v| v.len()).map_err(failed)
            })
            .await
            .map_err(AppError::internal)?
        }
        DbPool::Mysql(pool) => {
            // Migrations may take longer than the per-statement bound of
            // pooled connections: lift it on a connection taken out of the
            // pool, which is closed afterwards instead of returned.
            let mut conn = diesel_async::pooled_connection::deadpool::Object::take(pool.get().await?);
            lift_statement_timeout(&mut conn).await;
            let set = match kind {
                Kind::Global => MYSQL_GLOBAL,
                Kind::Tenant => MYSQL_TENANT,
            };
            tokio::task::spawn_blocking(move || {
                let mut harness = AsyncMigrationHarness::new(conn);
                harness.run_pending_migrations(set).map(|v| v.len()).map_err(failed)
            })
            .await
            .map_err(AppError::internal)?
        }
    }
}

/// Removes the session's statement time limit (MariaDB `max_statement_time`,
/// else MySQL `max_execution_time`). A server knowing neither has no limit.
async fn lift_statement_timeout(conn: &mut diesel_async::AsyncMysqlConnection) {
    use diesel_async::SimpleAsyncConnection;
    for statement in [
        "SET SESSION max_statement_time = 0",
        "SET SESSION max_execution_time = 0",
    ] {
        if conn.batch_execute(statement).await.is_ok() {
            return;
        }
    }
}
