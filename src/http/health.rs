//! `/health` (liveness) and `/health/ready` (readiness: databases reachable).

use std::collections::BTreeMap;

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::app::SharedState;
use crate::error::Problem;
use crate::http::ApiTags;
use crate::http::problem::current_request_id;

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
        let global = state.databases.global().ping().await;
        record(&mut checks, &mut failing, "global_database".into(), global);
        for (tenant_id, pool) in state.databases.open_tenant_pools().await {
            let reachable = pool.ping().await;
            let cached = match &reachable {
                Ok(()) => state.cache.get(&state.databases, tenant_id).await.map(|_| ()),
                Err(e) => Err(e.clone()),
            };
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
