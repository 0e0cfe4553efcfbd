//! `/health` (liveness) and `/health/ready` (readiness: databases reachable).

use std::collections::BTreeMap;
use std::time::Duration;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::app::SharedState;
use crate::error::Problem;
use crate::http::ApiTags;
use crate::http::problem::current_request_id;

/// How long each readiness check may take. Checks run side by side, so
/// `/health/ready` answers within about this long even when a database is
/// frozen (a probe that waits longer than 2 s is a probe that times out).
pub const READY_CHECK_TIMEOUT: Duration = Duration::from_millis(1500);

/// Liveness and readiness probes.
pub struct HealthApi;

/// The process is up.
#[derive(Object)]
pub struct Liveness {
    /// Always `ok`.
    pub status: String,
    /// Server version.
    pub version: String,
    /// Seconds since the process started.
    pub uptime_seconds: u64,
}

/// Every dependency answered.
#[derive(Object)]
pub struct Readiness {
    /// `ready`.
    pub status: String,
    /// Each checked part and its state (`ok`).
    pub checks: BTreeMap<String, String>,
}

/// Readiness outcome.
#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Ready to serve.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// A dependency is failing; `checks` names it.
    #[oai(status = 503, content_type = "application/problem+json")]
    NotReady(Json<Problem>),
}

#[OpenApi(tag = "ApiTags::System")]
impl HealthApi {
    /// Liveness: answers as long as the process runs.
    #[oai(path = "/health", method = "get")]
    async fn health(&self, state: Data<&SharedState>) -> Json<Liveness> {
        Json(Liveness {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_seconds: state.started_at.elapsed().as_secs(),
        })
    }

    /// Readiness: the global database and every opened tenant database answer,
    /// and each tenant's metadata cache is loaded. A 503 names the failing part.
    #[oai(path = "/health/ready", method = "get")]
    async fn ready(&self, state: Data<&SharedState>) -> ReadyResponse {
        let mut checks = BTreeMap::new();
        let mut failing = Vec::new();
        let state: &SharedState = &state;
        let tenants = state.databases.open_tenant_pools().await;
        let tenant_checks = tenants.iter().map(|(tenant_id, pool)| async move {
            let reachable = pool.ping(READY_CHECK_TIMEOUT).await;
            let cached = match &reachable {
                Ok(()) => crate::db::bounded(READY_CHECK_TIMEOUT, state.cache.get(&state.databases, *tenant_id))
                    .await
                    .unwrap_or_else(|| {
                        Err(crate::AppError::db_fault(
                            crate::error::DbFaultKind::Timeout,
                            "metadata cache not loaded in time",
                        ))
                    })
                    .map(|_| ()),
                Err(e) => Err(e.clone()),
            };
            (*tenant_id, reachable, cached)
        });
        let (global, tenant_results) = futures::join!(
            state.databases.global().ping(READY_CHECK_TIMEOUT),
            futures::future::join_all(tenant_checks)
        );
        record(&mut checks, &mut failing, "global_database".into(), global);
        for (tenant_id, reachable, cached) in tenant_results {
            record(
                &mut checks,
                &mut failing,
                format!("tenant_database_{tenant_id}"),
                reachable,
            );
            record(&mut checks, &mut failing, format!("metadata_cache_{tenant_id}"), cached);
        }
        if failing.is_empty() {
            ReadyResponse::Ready(Json(Readiness {
                status: "ready".into(),
                checks,
            }))
        } else {
            let mut problem = Problem::new(503, "not-ready", format!("not ready: {} failing", failing.join(", ")));
            problem.request_id = current_request_id();
            problem.checks = Some(checks);
            ReadyResponse::NotReady(Json(problem))
        }
    }
}

fn record(
    checks: &mut BTreeMap<String, String>,
    failing: &mut Vec<String>,
    part: String,
    result: crate::AppResult<()>,
) {
    match result {
        Ok(()) => {
            checks.insert(part, "ok".into());
        }
        Err(error) => {
            tracing::warn!(%part, %error, "readiness check failed");
            checks.insert(part.clone(), "unavailable".into());
            failing.push(part);
        }
    }
}
