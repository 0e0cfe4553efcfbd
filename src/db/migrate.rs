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
            let conn = pool.get().await?;
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
