//! `/api/v1/production/shifts`: shifts, the planned time of the lines they
//! apply to (every line unless `line_ids` names some), less their breaks.
//! Deleting deactivates.

use chrono::{DateTime, NaiveTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::{default_limit, found, utc};
use crate::app::SharedState;
use crate::http::auth_api::NoContent;
use crate::http::caller::{Caller, ManagePlant, ReadData};
use crate::http::problem::ApiError;
use crate::http::{ApiTags, client_info};
use crate::plant::inputs::ShiftInput;
use crate::plant::models::{ShiftRow, stored_breaks};
use crate::plant::service::{self, Actor};

/// A shift.
#[derive(Object)]
pub struct ShiftView {
    /// Id.
    pub shift_id: i32,
    /// Name.
    pub shift_name: String,
    /// Description.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Active.
    pub shift_status: bool,
    /// Weekday names.
    pub days_implemented: Vec<String>,
    /// Local start, `HH:MM:SS`.
    pub start_time: String,
    /// Local end, `HH:MM:SS`.
    pub end_time: String,
    /// Ends on the next day.
    pub is_overnight: bool,
    /// Lines it applies to; absent means every line.
    #[oai(nullable)]
    pub line_ids: Option<Vec<i32>>,
    /// Breaks inside every occurrence, in occurrence order (not planned time).
    pub breaks: Vec<BreakView>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

/// A break inside a shift.
#[derive(Object)]
pub struct BreakView {
    /// Local start, `HH:MM:SS`.
    pub start_time: String,
    /// Local end, `HH:MM:SS` (after midnight when before the start).
    pub end_time: String,
}

/// Shift times leave as `HH:MM:SS`, the form shifts are written in.
fn hms(t: NaiveTime) -> String {
    t.format("%H:%M:%S").to_string()
}

impl From<ShiftRow> for ShiftView {
    fn from(r: ShiftRow) -> Self {
        ShiftView {
            shift_id: r.shift_id,
            shift_name: r.shift_name,
            description: r.description,
            shift_status: r.shift_status,
            days_implemented: serde_json::from_str(&r.days_implemented).unwrap_or_default(),
            start_time: hms(r.start_time),
            end_time: hms(r.end_time),
            is_overnight: r.is_overnight,
            line_ids: r.line_ids.and_then(|t| serde_json::from_str(&t).ok()),
            breaks: stored_breaks(&r.breaks)
                .into_iter()
                .map(|b| BreakView {
                    start_time: hms(b.start_time),
                    end_time: hms(b.end_time),
                })
                .collect(),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

page_type!(ShiftPage, ShiftView, "A page of shifts.");
created_type!(ShiftCreated, ShiftView);

/// Shifts.
pub struct ShiftsApi;

#[OpenApi(prefix_path = "/api/v1/production", tag = "ApiTags::Production")]
impl ShiftsApi {
    /// List shifts, optionally only those applying to a line.
    #[oai(path = "/shifts", method = "get")]
    async fn list_shifts(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        /// Only shifts that apply to this line.
        line_id: Query<Option<i32>>,
        /// Include inactive shifts.
        #[oai(default)]
        include_inactive: Query<bool>,
        /// Page size (1-1000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<ShiftPage>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let applies: Vec<i32> = match line_id.0 {
            Some(line) => snapshot
                .shift_rules()
                .into_iter()
                .filter(|r| r.applies_to_line(line))
                .map(|r| r.shift_id)
                .collect(),
            None => snapshot.shifts.keys().copied().collect(),
        };
        let rows = snapshot
            .shifts
            .values()
            .filter(|s| include_inactive.0 || s.shift_status)
            .filter(|s| applies.contains(&s.shift_id))
            .collect();
        Ok(Json(ShiftPage::select(rows, limit.0, offset.0)))
    }

    /// Create a shift.
    #[oai(path = "/shifts", method = "post")]
    async fn create_shift(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        body: Json<ShiftInput>,
    ) -> Result<ShiftCreated, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::create_shift(&state.plant(), &actor, body.0).await?;
        Ok(ShiftCreated::Created(Json(row.into())))
    }

    /// Read a shift.
    #[oai(path = "/shifts/:shift_id", method = "get")]
    async fn get_shift(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        shift_id: Path<i32>,
    ) -> Result<Json<ShiftView>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let row = found(snapshot.shifts.get(&shift_id.0).cloned(), "shift", shift_id.0)?;
        Ok(Json(row.into()))
    }

    /// Replace a shift's fields.
    #[oai(path = "/shifts/:shift_id", method = "put")]
    async fn update_shift(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        shift_id: Path<i32>,
        body: Json<ShiftInput>,
    ) -> Result<Json<ShiftView>, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::update_shift(&state.plant(), &actor, shift_id.0, body.0).await?;
        Ok(Json(row.into()))
    }

    /// Delete a shift: it is deactivated.
    #[oai(path = "/shifts/:shift_id", method = "delete")]
    async fn delete_shift(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        shift_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        service::delete_shift(&state.plant(), &actor, shift_id.0).await?;
        Ok(NoContent::Done)
    }
}
