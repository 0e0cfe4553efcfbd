//! `/api/v1/production/lines`: production lines. A line's detection and
//! downtime storage is created with it; deleting deactivates and keeps its
//! history.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use rust_decimal::Decimal;

use super::{default_limit, found, utc};
use crate::app::SharedState;
use crate::http::auth_api::NoContent;
use crate::http::caller::{Caller, ManagePlant, ReadData};
use crate::http::problem::ApiError;
use crate::http::{ApiTags, client_info};
use crate::plant::inputs::LineInput;
use crate::plant::models::LineRow;
use crate::plant::service::{self, Actor};

/// A production line.
#[derive(Object)]
pub struct LineView {
    /// Id.
    pub line_id: i32,
    /// Name.
    pub line_name: String,
    /// Code.
    pub line_code: String,
    /// False once deleted.
    pub is_active: bool,
    /// Target availability, percent.
    #[oai(nullable)]
    pub availability: Option<Decimal>,
    /// Target performance, percent.
    #[oai(nullable)]
    pub performance: Option<Decimal>,
    /// Gap in seconds above which the line counts as stopped.
    pub downtime_threshold: i32,
    /// Gap in seconds without output above which a gap is a micro-stop (up
    /// to `downtime_threshold`).
    pub micro_stop_threshold: i32,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
    /// Deleted (UTC).
    #[oai(nullable)]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<LineRow> for LineView {
    fn from(r: LineRow) -> Self {
        LineView {
            line_id: r.line_id,
            line_name: r.line_name,
            line_code: r.line_code,
            is_active: r.is_active,
            availability: r.availability.map(|d| d.0.normalize()),
            performance: r.performance.map(|d| d.0.normalize()),
            downtime_threshold: r.downtime_threshold,
            micro_stop_threshold: r.micro_stop_threshold,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            deleted_at: r.deleted_at.map(utc),
        }
    }
}

page_type!(LinePage, LineView, "A page of lines.");
created_type!(LineCreated, LineView);

/// Production lines.
pub struct LinesApi;

#[OpenApi(prefix_path = "/api/v1/production", tag = "ApiTags::Production")]
impl LinesApi {
    /// List lines (active ones unless `include_inactive`).
    #[oai(path = "/lines", method = "get")]
    async fn list_lines(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        /// Include deleted lines.
        #[oai(default)]
        include_inactive: Query<bool>,
        /// Page size (1-1000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<LinePage>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let rows = snapshot
            .lines
            .values()
            .filter(|l| include_inactive.0 || l.is_active)
            .collect();
        Ok(Json(LinePage::select(rows, limit.0, offset.0)))
    }

    /// Create a line; its detection and downtime storage is created with it.
    #[oai(path = "/lines", method = "post")]
    async fn create_line(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        body: Json<LineInput>,
    ) -> Result<LineCreated, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::create_line(&state.plant(), &actor, body.0).await?;
        Ok(LineCreated::Created(Json(row.into())))
    }

    /// Read a line (deleted ones too).
    #[oai(path = "/lines/:line_id", method = "get")]
    async fn get_line(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        line_id: Path<i32>,
    ) -> Result<Json<LineView>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let row = found(snapshot.lines.get(&line_id.0).cloned(), "line", line_id.0)?;
        Ok(Json(row.into()))
    }

    /// Replace a line's fields.
    #[oai(path = "/lines/:line_id", method = "put")]
    async fn update_line(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        line_id: Path<i32>,
        body: Json<LineInput>,
    ) -> Result<Json<LineView>, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::update_line(&state.plant(), &actor, line_id.0, body.0).await?;
        Ok(Json(row.into()))
    }

    /// Delete a line: it is deactivated; its history is kept.
    #[oai(path = "/lines/:line_id", method = "delete")]
    async fn delete_line(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        line_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        service::delete_line(&state.plant(), &actor, line_id.0).await?;
        Ok(NoContent::Done)
    }
}
