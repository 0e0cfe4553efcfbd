//! `GET /api/v1/audit`: the tenant's audit log for admins, filtered and
//! keyset-paginated (newest first).

use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::app::SharedState;
use crate::audit::{self, AuditFilter, AuditRecord};
use crate::error::AppError;
use crate::http::ApiTags;
use crate::http::caller::{Caller, ReadAudit};
use crate::http::problem::ApiError;

/// One audit entry.
#[derive(Object)]
pub struct AuditView {
    /// Id.
    pub audit_id: i64,
    /// Acting user.
    #[oai(nullable)]
    pub user_id: Option<i32>,
    /// What happened (`login`, `login_failed`, `account_locked`, `user.update`, ...).
    pub action: String,
    /// Entity kind.
    #[oai(nullable)]
    pub entity: Option<String>,
    /// Entity id.
    #[oai(nullable)]
    pub entity_id: Option<String>,
    /// Values before (JSON).
    #[oai(nullable)]
    pub old_values: Option<serde_json::Value>,
    /// Values after (JSON).
    #[oai(nullable)]
    pub new_values: Option<serde_json::Value>,
    /// Client IP.
    #[oai(nullable)]
    pub ip: Option<String>,
    /// User agent.
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// Request id.
    #[oai(nullable)]
    pub request_id: Option<String>,
    /// When (UTC).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn parse_json(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

impl From<AuditRecord> for AuditView {
    fn from(r: AuditRecord) -> Self {
        AuditView {
            audit_id: r.audit_id,
            user_id: r.user_id,
            action: r.action,
            entity: r.entity,
            entity_id: r.entity_id,
            old_values: parse_json(r.old_values),
            new_values: parse_json(r.new_values),
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            created_at: r.created_at.and_utc(),
        }
    }
}

/// A page of audit entries.
#[derive(Object)]
pub struct AuditPage {
    /// Entries, newest first.
    pub items: Vec<AuditView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<i64>,
}

/// The audit log.
pub struct AuditApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Audit")]
impl AuditApi {
    /// The tenant's audit log (admins), newest first.
    #[oai(path = "/audit", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadAudit>,
        /// Exact action, e.g. `login_failed`.
        #[oai(validator(max_length = 64))]
        action: Query<Option<String>>,
        /// Acting user.
        user_id: Query<Option<i32>>,
        /// Entity kind, e.g. `user`.
        #[oai(validator(max_length = 64))]
        entity: Query<Option<String>>,
        /// Entity id.
        #[oai(validator(max_length = 64))]
        entity_id: Query<Option<String>>,
        /// From this instant (RFC 3339, inclusive).
        start_date: Query<Option<chrono::DateTime<chrono::FixedOffset>>>,
        /// Before this instant (RFC 3339).
        end_date: Query<Option<chrono::DateTime<chrono::FixedOffset>>>,
        /// Page size (1-500).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<i64>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<i64>>,
    ) -> Result<Json<AuditPage>, ApiError> {
        for (field, at) in [("start_date", start_date.0), ("end_date", end_date.0)] {
            if at.is_some_and(|t| !crate::analytics::time::is_sane_instant(t.to_utc())) {
                return Err(AppError::invalid_field(
                    field,
                    "must lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
                )
                .into());
            }
        }
        let start = start_date.0.map(|t| t.naive_utc());
        let end = end_date.0.map(|t| t.naive_utc());
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            return Err(AppError::invalid_field("end_date", "must be after start_date").into());
        }
        let filter = AuditFilter {
            action: action.0,
            user_id: user_id.0,
            entity: entity.0,
            entity_id: entity_id.0,
            start,
            end,
        };
        // Configuration changes queue their entries in the tenant database;
        // move them over first so the log is complete.
        audit::forward_soon(&state.databases, caller.tenant_id).await;
        let (rows, next_cursor) = audit::list(&state.databases, caller.tenant_id, &filter, limit.0, cursor.0).await?;
        Ok(Json(AuditPage {
            items: rows.into_iter().map(AuditView::from).collect(),
            next_cursor,
        }))
    }
}

fn default_limit() -> i64 {
    50
}
