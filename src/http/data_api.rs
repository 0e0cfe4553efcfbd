//! Detections over HTTP: `POST /api/v1/lines/{line_id}/detections` (ingest),
//! `POST /api/v1/lines/{line_id}/rollups/refresh` (after a backfill) and
//! `GET /api/v1/data/detections` (keyset-paginated, enriched) and
//! `GET /api/v1/data/detections/export` (every page as one CSV or XLSX
//! file, see [`crate::http::exports`]). Thin: guard, parse, delegate to
//! [`crate::detections`], map.

use poem::http::HeaderMap;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;

use crate::app::SharedState;
use crate::auth::principal::Principal;
use crate::detections::{self, DetectionQuery, IngestSettings, NewDetection};
use crate::error::{AppError, AppResult};
use crate::http::ApiTags;
use crate::http::caller::{Caller, IngestDetections, ReadData};
use crate::http::data_views::{
    DetectionInput, DetectionPage, IngestOutcome, RollupRefreshRequest, RollupRefreshResponse,
};
use crate::http::formats::{FileAnswer, Format, negotiate};
use crate::http::problem::ApiError;
use crate::live::event::EventKind;

/// Parses a comma-separated id list (`product_ids=1,2`).
pub fn id_list(field: &str, raw: Option<&str>) -> AppResult<Vec<i32>> {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Vec::new());
    };
    let ids: Result<Vec<i32>, _> = raw.split(',').map(|s| s.trim().parse::<i32>()).collect();
    match ids {
        Ok(ids) if ids.len() <= 1000 => Ok(ids),
        Ok(_) => Err(AppError::invalid_field(field, "at most 1000 ids")),
        Err(_) => Err(AppError::invalid_field(
            field,
            "must be comma-separated integer ids, e.g. 1,2,3",
        )),
    }
}

fn default_limit() -> i64 {
    1000
}

/// A page of `query` as JSON.
async fn page_view(state: &SharedState, principal: &Principal, query: &DetectionQuery) -> AppResult<DetectionPage> {
    let snapshot = state.cache.get(&state.databases, principal.tenant_id).await?;
    let pool = state.databases.tenant(principal.tenant_id).await?;
    let max_days = state.config.max_range_days;
    let page = detections::list(&pool, &snapshot, query, state.clock.now(), max_days).await?;
    Ok(DetectionPage::view(page, snapshot.timezone))
}

/// Detections.
pub struct DataApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Data")]
impl DataApi {
    /// Ingest a batch of up to 10 000 detections into a line. All or nothing:
    /// one invalid item rejects the batch, and the 422 names each failing
    /// index (`[3].area_id`). A repeated `external_id` is not counted twice.
    #[oai(path = "/lines/:line_id/detections", method = "post")]
    async fn ingest(
        &self,
        state: Data<&SharedState>,
        req: &poem::Request,
        caller: Caller<IngestDetections>,
        line_id: Path<i32>,
        body: Json<Vec<DetectionInput>>,
    ) -> Result<Json<IngestOutcome>, ApiError> {
        let principal = &*caller;
        let client = crate::http::client_info(req, &state);
        let snapshot = state.cache.get(&state.databases, principal.tenant_id).await?;
        let pool = state.databases.tenant(principal.tenant_id).await?;
        // One pass that moves each item's strings: no per-row copy.
        let items: Vec<NewDetection> = body.0.into_iter().map(NewDetection::from).collect();
        let settings = IngestSettings::from_config(&state.config);
        let now = state.clock.now();
        let done = detections::ingest(&pool, &snapshot, principal, &client, line_id.0, &items, now, settings).await?;
        state.metrics.ingested(done.inserted);
        if done.inserted > 0 {
            let data = crate::live::evaluator::production_data(&snapshot, line_id.0, &done, now);
            state
                .live
                .publish(principal.tenant_id, EventKind::Production, data)
                .await;
        }
        crate::audit::forward_soon(&state.databases, principal.tenant_id).await;
        Ok(Json(done.into()))
    }

    /// Rebuild a line's rollups from its raw rows over a range. Needed only
    /// after rows were written straight into `detection_line_<id>` more than
    /// the settle window (`CAMET_ROLLUP_SETTLE_SECS`) after their
    /// `detected_at` (a backfill); API ingest keeps the rollups current itself.
    #[oai(path = "/lines/:line_id/rollups/refresh", method = "post")]
    async fn refresh_rollups(
        &self,
        state: Data<&SharedState>,
        caller: Caller<IngestDetections>,
        line_id: Path<i32>,
        body: Json<RollupRefreshRequest>,
    ) -> Result<Json<RollupRefreshResponse>, ApiError> {
        let principal = &*caller;
        let line_id = line_id.0;
        let snapshot = state.cache.get(&state.databases, principal.tenant_id).await?;
        detections::line_of(&snapshot, line_id)?;
        let tz = snapshot.timezone;
        let range =
            crate::analytics::time::parse_range(&body.start_date, &body.end_date, tz, state.config.max_range_days)
                .map_err(AppError::from)?;
        let pool = state.databases.tenant(principal.tenant_id).await?;
        let mut conn = pool.get().await?;
        let refreshed =
            crate::rollup::service::refresh(&mut conn, line_id, range, state.clock.now(), state.config.gap_floor())
                .await?;
        tracing::info!(
            tenant_id = principal.tenant_id,
            line_id,
            hours = refreshed.rebuilt.hours,
            detections = refreshed.rebuilt.rows,
            "rollups refreshed on request"
        );
        Ok(Json(RollupRefreshResponse::view(refreshed, tz)))
    }

    /// A line's detections in time order, enriched with product and area
    /// names. Keyset-paginated: pass `next_cursor` back as `cursor`.
    #[oai(path = "/data/detections", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        /// Line.
        line_id: Query<i32>,
        /// Range start, RFC 3339 (without offset: tenant local time), inclusive.
        start_date: Query<String>,
        /// Range end, exclusive.
        end_date: Query<String>,
        /// Only these products (comma-separated ids).
        product_ids: Query<Option<String>>,
        /// Only these areas (comma-separated ids).
        area_ids: Query<Option<String>>,
        /// Only detections inside this shift's occurrences.
        shift_id: Query<Option<i32>>,
        /// Page size (1-10000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "10000")))]
        limit: Query<i64>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 64))]
        cursor: Query<Option<String>>,
    ) -> Result<Json<DetectionPage>, ApiError> {
        let principal = &*caller;
        let query = DetectionQuery {
            line_id: line_id.0,
            start_date: start_date.0,
            end_date: end_date.0,
            product_ids: id_list("product_ids", product_ids.0.as_deref())?,
            area_ids: id_list("area_ids", area_ids.0.as_deref())?,
            shift_id: shift_id.0,
            limit: limit.0,
            cursor: cursor.0,
        };
        let filters = serde_json::json!({
            "line_id": query.line_id, "start_date": query.start_date, "end_date": query.end_date,
            "product_ids": query.product_ids, "area_ids": query.area_ids, "shift_id": query.shift_id,
            "limit": query.limit, "cursor": query.cursor,
        });
        let work = page_view(&state, principal, &query);
        Ok(Json(
            crate::query_log::timed(&state, principal, "detections", &filters, work).await?,
        ))
    }

    /// A line's detections over a range as one file: CSV (the default;
    /// streamed, any length) or XLSX (at most `CAMET_EXPORT_XLSX_MAX_ROWS`
    /// rows, else a 422 suggesting CSV), chosen by `format=` or `Accept`.
    ///
    /// The rows, their order and the filters are those of
    /// `GET /data/detections` read page after page; the range is bounded by
    /// `CAMET_MAX_RANGE_DAYS`. A tenant runs at most
    /// `CAMET_EXPORT_MAX_CONCURRENT` exports at once per instance; one more
    /// is a 429. A CSV that fails after it started ends without its final
    /// chunk (an incomplete transfer), never as a short file.
    #[oai(path = "/data/detections/export", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn export(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        headers: &HeaderMap,
        /// Line.
        line_id: Query<i32>,
        /// Range start, RFC 3339 (without offset: tenant local time), inclusive.
        #[oai(validator(max_length = 64))]
        start_date: Query<String>,
        /// Range end, exclusive.
        #[oai(validator(max_length = 64))]
        end_date: Query<String>,
        /// Only these products (comma-separated ids).
        product_ids: Query<Option<String>>,
        /// Only these areas (comma-separated ids).
        area_ids: Query<Option<String>>,
        /// Only detections inside this shift's occurrences.
        shift_id: Query<Option<i32>>,
        /// `csv` (default) or `xlsx`; or ask by `Accept`.
        #[oai(validator(max_length = 8))]
        format: Query<Option<String>>,
    ) -> Result<FileAnswer, ApiError> {
        let principal = &*caller;
        let format = negotiate(format.0.as_deref(), headers, &[Format::Csv, Format::Xlsx])?;
        let query = DetectionQuery {
            line_id: line_id.0,
            start_date: start_date.0,
            end_date: end_date.0,
            product_ids: id_list("product_ids", product_ids.0.as_deref())?,
            area_ids: id_list("area_ids", area_ids.0.as_deref())?,
            shift_id: shift_id.0,
            limit: i64::from(state.config.export_page_rows),
            cursor: None,
        };
        let slot = state.exports.try_take(principal.tenant_id)?;
        let filters = serde_json::json!({
            "line_id": query.line_id, "start_date": query.start_date, "end_date": query.end_date,
            "product_ids": query.product_ids, "area_ids": query.area_ids, "shift_id": query.shift_id,
            "format": format.name(),
        });
        let work = crate::http::exports::detections(&state, principal, &query, format, slot);
        Ok(FileAnswer(
            crate::query_log::timed(&state, principal, "detections_export", &filters, work).await?,
        ))
    }
}
