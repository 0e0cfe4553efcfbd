//! KPI endpoints: `/api/v1/metrics/oee` (POST, and GET for ERP pulls),
//! `/api/v1/metrics/summary`, `/api/v1/downtime`. Thin: guard, parse,
//! delegate to [`crate::kpi`], record the query, map.

use poem::http::HeaderMap;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;

use crate::app::SharedState;
use crate::auth::principal::Principal;
use crate::error::AppResult;
use crate::http::ApiTags;
use crate::http::caller::{Caller, ManagePlant, ReadData};
use crate::http::conditional::{Conditional, Precondition, json_answer};
use crate::http::data_api::id_list;
use crate::http::formats::{Format, Formatted, negotiate};
use crate::http::kpi_views::{
    DowntimeResponse, KpiFilters, OeeResponse, PersistedEvent, RecalculateReport, SummaryResponse,
};
use crate::http::problem::ApiError;
use crate::kpi::{self, persisted};
use crate::plant::cache::PlantSnapshot;

#[allow(clippy::too_many_arguments)]
fn from_query(
    line_id: i32,
    start_date: String,
    end_date: String,
    product_ids: Option<&str>,
    shift_id: Option<i32>,
    downtime_threshold: Option<f64>,
) -> AppResult<KpiFilters> {
    let ids = id_list("product_ids", product_ids)?;
    Ok(KpiFilters {
        line_id,
        start_date,
        end_date,
        product_ids: (!ids.is_empty()).then_some(ids),
        shift_id,
        downtime_threshold,
    })
}

/// The single-line query of `filters`, typed once and prepared on one
/// connection that the view then reads through.
async fn prepared(
    state: &SharedState,
    principal: &Principal,
    filters: &KpiFilters,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<(std::sync::Arc<PlantSnapshot>, crate::db::DbConn, kpi::Prepared)> {
    let snapshot = state.cache.get(&state.databases, principal.tenant_id).await?;
    let query = kpi::line_query(&filters.form(), &snapshot, state.config.max_range_days)?;
    let pool = state.databases.tenant(principal.tenant_id).await?;
    let mut conn = pool.get().await?;
    let prepared = kpi::prepare(&mut conn, &snapshot, query, now, false).await?;
    Ok((snapshot, conn, prepared))
}

/// A view and whether it is settled (its range ends before the line's
/// watermark; see [`crate::http::conditional`]).
type Settled<T> = (T, bool);

fn is_settled(prepared: &kpi::Prepared, now: chrono::DateTime<chrono::Utc>) -> bool {
    crate::http::conditional::settled(prepared.query().range.end, prepared.watermark(now))
}

async fn oee_view(state: &SharedState, principal: &Principal, filters: &KpiFilters) -> AppResult<Settled<OeeResponse>> {
    let now = state.clock.now();
    let (snapshot, mut conn, prepared) = prepared(state, principal, filters, now).await?;
    let products = prepared.query().product_ids.clone();
    let oee = kpi::oee(&mut conn, &snapshot, &prepared, &products, now).await?;
    Ok((OeeResponse::view(oee, snapshot.timezone), is_settled(&prepared, now)))
}

async fn summary_view(
    state: &SharedState,
    principal: &Principal,
    filters: &KpiFilters,
) -> AppResult<Settled<SummaryResponse>> {
    let now = state.clock.now();
    let (snapshot, mut conn, prepared) = prepared(state, principal, filters, now).await?;
    let products = prepared.query().product_ids.clone();
    let summary = kpi::summary(&mut conn, &snapshot, &prepared, &products, now).await?;
    Ok((
        SummaryResponse::view(summary, snapshot.timezone),
        is_settled(&prepared, now),
    ))
}

async fn downtime_view(
    state: &SharedState,
    principal: &Principal,
    filters: &KpiFilters,
) -> AppResult<Settled<DowntimeResponse>> {
    let now = state.clock.now();
    let (snapshot, _conn, prepared) = prepared(state, principal, filters, now).await?;
    Ok((
        DowntimeResponse::view(kpi::downtime(&prepared, now), snapshot.timezone),
        is_settled(&prepared, now),
    ))
}

/// A window to recompute persisted events over.
#[derive(Debug, Clone, poem_openapi::Object, serde::Serialize)]
pub struct RecalculateRequest {
    /// Line.
    pub line_id: i32,
    /// Window start (RFC 3339; without offset: tenant local time).
    #[oai(validator(max_length = 64))]
    pub start_date: String,
    /// Window end.
    #[oai(validator(max_length = 64))]
    pub end_date: String,
}

/// What a person says about a stop. `PUT` replaces every field: an absent
/// one is cleared.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct ReasonRequest {
    /// A reason of the tenant's tree (`/production/downtime-reasons`); it
    /// must be active, unless the event already has it.
    #[oai(nullable)]
    pub reason_id: Option<i32>,
    /// Short code; default the code of `reason_id`.
    #[oai(validator(max_length = 40))]
    #[oai(nullable)]
    pub reason_code: Option<String>,
    /// Free text: the comment.
    #[oai(validator(max_length = 500))]
    #[oai(nullable)]
    pub reason: Option<String>,
    /// The incident the stop belongs to (of this line, or of no line).
    #[oai(nullable)]
    pub incident_id: Option<i32>,
}

/// One reason for many events of a line.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct BulkReasonRequest {
    /// The events, ids of the line (1 to 500; repeated ids count once).
    #[oai(validator(min_items = 1, max_items = 500))]
    pub event_ids: Vec<i64>,
    /// A reason of the tenant's tree; it must be active.
    pub reason_id: i32,
    /// Comment: replaces each event's comment when given; when absent each keeps its own.
    #[oai(validator(max_length = 500))]
    #[oai(nullable)]
    pub comment: Option<String>,
    /// Incident to attach every event to (of this line, or of no line);
    /// when absent each keeps its own.
    #[oai(nullable)]
    pub incident_id: Option<i32>,
}

/// `[start, end)` read in the tenant's zone, at most `CAMET_MAX_RANGE_DAYS` long.
fn range_of(
    state: &SharedState,
    snapshot: &PlantSnapshot,
    start: &str,
    end: &str,
) -> AppResult<crate::analytics::interval::Interval> {
    Ok(crate::analytics::time::parse_range(
        start,
        end,
        snapshot.timezone,
        state.config.max_range_days,
    )?)
}

/// The tenant's snapshot and the pool of its database.
async fn tenant_db(
    state: &SharedState,
    tenant_id: i32,
) -> AppResult<(std::sync::Arc<PlantSnapshot>, crate::db::DbPool)> {
    let snapshot = state.cache.get(&state.databases, tenant_id).await?;
    let pool = state.databases.tenant(tenant_id).await?;
    Ok((snapshot, pool))
}

/// The persisted events of a range, and whether the range waits for the
/// downtime job.
#[derive(poem_openapi::ApiResponse)]
pub enum PersistedEvents {
    /// The events stored now.
    #[oai(status = 200)]
    Listed(
        Json<Vec<PersistedEvent>>,
        /// `true` while detections that arrived for this range (ingest, a
        /// rollup refresh, direct writes folded in) wait for the downtime
        /// job: the list may still lack events or hold stale ones; ask
        /// again after the job's next run (`CAMET_DOWNTIME_JOB_SECS`).
        #[oai(header = "X-Events-Pending")]
        bool,
    ),
}

/// KPIs.
pub struct KpiApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Kpi")]
impl KpiApi {
    /// OEE of a line over `[start_date, end_date)`: planned time, downtime,
    /// availability, performance, quality, OEE, production counts and weight.
    ///
    /// Every field follows the semantics in `docs/semantics.md` of the
    /// repository: planned time (§2), input and output areas (§3), downtime
    /// (§4), OEE (§5), exactness and `data_as_of` (§8).
    #[oai(path = "/metrics/oee", method = "post")]
    async fn oee(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        headers: &HeaderMap,
        body: Json<KpiFilters>,
    ) -> Result<Conditional<Json<OeeResponse>>, ApiError> {
        let principal = &*caller;
        let (response, settled) =
            crate::query_log::timed(&state, principal, "oee", &body.0, oee_view(&state, principal, &body.0)).await?;
        Ok(json_answer(response, settled, headers))
    }

    /// The same OEE as a GET, for ERP systems that pull KPIs.
    ///
    /// Same fields and rules as the POST: `docs/semantics.md` §1-§5 and §8.
    #[oai(path = "/metrics/oee", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn oee_get(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        headers: &HeaderMap,
        /// Line.
        line_id: Query<i32>,
        /// Range start (RFC 3339; without offset: tenant local time), inclusive.
        #[oai(validator(max_length = 64))]
        start_date: Query<String>,
        /// Range end, exclusive.
        #[oai(validator(max_length = 64))]
        end_date: Query<String>,
        /// Only these products in the production counts (comma-separated ids).
        product_ids: Query<Option<String>>,
        /// Only this shift's occurrences.
        shift_id: Query<Option<i32>>,
        /// Gap in seconds above which the line counts as stopped.
        downtime_threshold: Query<Option<f64>>,
    ) -> Result<Conditional<Json<OeeResponse>>, ApiError> {
        let principal = &*caller;
        let filters = from_query(
            line_id.0,
            start_date.0,
            end_date.0,
            product_ids.0.as_deref(),
            shift_id.0,
            downtime_threshold.0,
        )?;
        let (response, settled) = crate::query_log::timed(
            &state,
            principal,
            "oee",
            &filters,
            oee_view(&state, principal, &filters),
        )
        .await?;
        Ok(json_answer(response, settled, headers))
    }

    /// Production summary: total production, weight, product distribution and downtime.
    ///
    /// Counts over the whole range (a shift's occurrences with `shift_id`),
    /// not only planned time; downtime as in the OEE. See `docs/semantics.md` §5.
    #[oai(path = "/metrics/summary", method = "post")]
    async fn summary(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        headers: &HeaderMap,
        body: Json<KpiFilters>,
    ) -> Result<Conditional<Json<SummaryResponse>>, ApiError> {
        let principal = &*caller;
        let (response, settled) = crate::query_log::timed(
            &state,
            principal,
            "summary",
            &body.0,
            summary_view(&state, principal, &body.0),
        )
        .await?;
        Ok(json_answer(response, settled, headers))
    }

    /// Downtime events computed on the fly: gaps between output detections
    /// longer than the threshold, inside planned time only; JSON, or one
    /// row per event as CSV or XLSX (`format=` or `Accept`).
    ///
    /// The gap analysis of `docs/semantics.md` §4; the last event is
    /// `ongoing` when it runs up to now.
    #[oai(path = "/downtime", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn downtime(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        headers: &HeaderMap,
        /// Line.
        line_id: Query<i32>,
        /// Range start, inclusive.
        #[oai(validator(max_length = 64))]
        start_date: Query<String>,
        /// Range end, exclusive.
        #[oai(validator(max_length = 64))]
        end_date: Query<String>,
        /// Gap in seconds above which the line counts as stopped; default the line's.
        downtime_threshold: Query<Option<f64>>,
        /// Only this shift's occurrences.
        shift_id: Query<Option<i32>>,
        /// `json` (default), `csv` or `xlsx`; or ask by `Accept`.
        #[oai(validator(max_length = 8))]
        format: Query<Option<String>>,
    ) -> Result<Conditional<Formatted<DowntimeResponse>>, ApiError> {
        let principal = &*caller;
        let format = negotiate(format.0.as_deref(), headers, &[Format::Json, Format::Csv, Format::Xlsx])?;
        let filters = from_query(
            line_id.0,
            start_date.0,
            end_date.0,
            None,
            shift_id.0,
            downtime_threshold.0,
        )?;
        let (response, settled) = crate::query_log::timed(
            &state,
            principal,
            "downtime",
            &filters,
            downtime_view(&state, principal, &filters),
        )
        .await?;
        // The tag names the events whatever the format they are written in.
        let tag = match Precondition::check(
            settled,
            || response.to_json().unwrap_or_default(),
            format.name(),
            headers,
        ) {
            Precondition::Held(tag) => return Ok(Conditional::NotModified { tag }),
            Precondition::Write(tag) => tag,
        };
        let answer = if format == Format::Json {
            Formatted::Json(response)
        } else {
            Formatted::File(crate::http::exports::downtime_file(format, &response, &filters).await?)
        };
        Ok(Conditional::Fresh { answer, tag })
    }

    /// Recompute the persisted downtime events of a line over a window (also
    /// done every 15 minutes for recent windows). Idempotent; assigned
    /// reasons are kept, also when late data splits a stop.
    ///
    /// Same gap analysis as `docs/semantics.md` §4, with the line's own threshold.
    #[oai(path = "/downtime/recalculate", method = "post")]
    async fn recalculate(
        &self,
        state: Data<&SharedState>,
        req: &poem::Request,
        caller: Caller<ManagePlant>,
        body: Json<RecalculateRequest>,
    ) -> Result<Json<RecalculateReport>, ApiError> {
        let principal = &*caller;
        let (snapshot, pool) = tenant_db(&state, principal.tenant_id).await?;
        let window = range_of(&state, &snapshot, &body.start_date, &body.end_date)?;
        let client = crate::http::client_info(req, &state);
        let audit = crate::audit::AuditEntry::new(
            "downtime.recalculate",
            Some(principal.tenant_id),
            principal.user_id,
            &client,
        );
        let mut conn = pool.get().await?;
        let report =
            persisted::recalculate(&mut conn, &snapshot, body.line_id, window, state.clock.now(), &audit).await?;
        // Forwarding takes a connection of its own: give this one back first.
        drop(conn);
        if report.wrote() {
            crate::audit::forward_soon(&state.databases, principal.tenant_id).await;
        }
        Ok(Json(report.into()))
    }

    /// Persisted downtime events of a line (with ids and reasons) overlapping a range.
    ///
    /// They follow the data: the downtime job recomputes every span whose
    /// detections changed, whenever they arrived. The `X-Events-Pending`
    /// header says whether this range still waits for it.
    #[oai(path = "/downtime/:line_id/events", method = "get")]
    async fn persisted(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        /// Line.
        line_id: poem_openapi::param::Path<i32>,
        /// Range start, inclusive.
        #[oai(validator(max_length = 64))]
        start_date: Query<String>,
        /// Range end, exclusive.
        #[oai(validator(max_length = 64))]
        end_date: Query<String>,
    ) -> Result<PersistedEvents, ApiError> {
        let principal = &*caller;
        let (snapshot, pool) = tenant_db(&state, principal.tenant_id).await?;
        let range = range_of(&state, &snapshot, &start_date.0, &end_date.0)?;
        let mut conn = pool.get().await?;
        let events = persisted::list(&mut conn, &snapshot, line_id.0, range).await?;
        let pending = crate::kpi::pending::is_pending(&mut conn, line_id.0, range).await?;
        Ok(PersistedEvents::Listed(
            Json(events.into_iter().map(|e| PersistedEvent::view(e, &snapshot)).collect()),
            pending,
        ))
    }

    /// Set the reason of a persisted downtime event: a reason of the tree
    /// (`reason_id`), a code, a comment (`reason`) and an incident. Audited
    /// (`downtime.reason`).
    #[oai(path = "/downtime/:line_id/:event_id", method = "put")]
    async fn set_reason(
        &self,
        state: Data<&SharedState>,
        req: &poem::Request,
        caller: Caller<ManagePlant>,
        /// Line.
        line_id: poem_openapi::param::Path<i32>,
        /// Event.
        event_id: poem_openapi::param::Path<i64>,
        body: Json<ReasonRequest>,
    ) -> Result<Json<PersistedEvent>, ApiError> {
        let principal = &*caller;
        let body = body.0;
        let client = crate::http::client_info(req, &state);
        let audit =
            crate::audit::AuditEntry::new("downtime.reason", Some(principal.tenant_id), principal.user_id, &client);
        let (snapshot, pool) = tenant_db(&state, principal.tenant_id).await?;
        let mut conn = pool.get().await?;
        let event = persisted::set_reason(
            &mut conn,
            &snapshot,
            line_id.0,
            event_id.0,
            persisted::EventReason {
                reason_code: body.reason_code,
                reason: body.reason,
                reason_id: body.reason_id,
                incident_id: body.incident_id,
            },
            &audit,
        )
        .await?;
        // Forwarding takes a connection of its own: give this one back first.
        drop(conn);
        crate::audit::forward_soon(&state.databases, principal.tenant_id).await;
        Ok(Json(PersistedEvent::view(event, &snapshot)))
    }

    /// Assign one reason to many persisted events of a line at once, all or
    /// nothing: an unknown event id, an unknown or inactive reason is a 422
    /// naming them, and nothing changes. One audit entry per event
    /// (`downtime.reason`). Answers the events, by start.
    #[oai(path = "/downtime/:line_id/reasons", method = "post")]
    async fn assign_reasons(
        &self,
        state: Data<&SharedState>,
        req: &poem::Request,
        caller: Caller<ManagePlant>,
        /// Line.
        line_id: poem_openapi::param::Path<i32>,
        body: Json<BulkReasonRequest>,
    ) -> Result<Json<Vec<PersistedEvent>>, ApiError> {
        let principal = &*caller;
        let body = body.0;
        let client = crate::http::client_info(req, &state);
        let audit =
            crate::audit::AuditEntry::new("downtime.reason", Some(principal.tenant_id), principal.user_id, &client);
        let (snapshot, pool) = tenant_db(&state, principal.tenant_id).await?;
        let mut conn = pool.get().await?;
        let events = persisted::assign_reasons(
            &mut conn,
            &snapshot,
            line_id.0,
            persisted::BulkAssignment {
                event_ids: body.event_ids,
                reason_id: body.reason_id,
                comment: body.comment,
                incident_id: body.incident_id,
            },
            &audit,
        )
        .await?;
        // Forwarding takes a connection of its own: give this one back first.
        drop(conn);
        crate::audit::forward_soon(&state.databases, principal.tenant_id).await;
        Ok(Json(
            events.into_iter().map(|e| PersistedEvent::view(e, &snapshot)).collect(),
        ))
    }
}
