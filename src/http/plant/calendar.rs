//! `/api/v1/production/calendar`: holidays and shutdowns. An entry takes
//! the local days `start_date..=end_date` out of the planned time of the
//! lines it names (every line when `line_ids` is empty), whatever shift runs
//! then. Deleting removes the entry: its days are planned again.

use chrono::{DateTime, Utc};
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
use crate::plant::inputs::CalendarInput;
use crate::plant::models::CalendarRow;
use crate::plant::service::{self, Actor};

/// A holiday or shutdown.
#[derive(Object)]
pub struct CalendarEntryView {
    /// Id.
    pub entry_id: i32,
    /// Name.
    pub name: String,
    /// First local day, `YYYY-MM-DD`.
    pub start_date: String,
    /// Last local day, `YYYY-MM-DD` (included).
    pub end_date: String,
    /// Lines it stops; empty means every line.
    pub line_ids: Vec<i32>,
    /// Created (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
}

impl From<CalendarRow> for CalendarEntryView {
    fn from(r: CalendarRow) -> Self {
        CalendarEntryView {
            entry_id: r.entry_id,
            line_ids: r.lines().unwrap_or_default(),
            name: r.name,
            start_date: r.start_date.format("%Y-%m-%d").to_string(),
            end_date: r.end_date.format("%Y-%m-%d").to_string(),
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
        }
    }
}

page_type!(CalendarPage, CalendarEntryView, "A page of calendar entries.");
created_type!(CalendarCreated, CalendarEntryView);

/// Holidays and shutdowns.
pub struct CalendarApi;

#[OpenApi(prefix_path = "/api/v1/production", tag = "ApiTags::Production")]
impl CalendarApi {
    /// List calendar entries by start date, optionally only those stopping a
    /// line (entries for every line included).
    #[oai(path = "/calendar", method = "get")]
    async fn list_calendar(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        /// Only entries that stop this line.
        line_id: Query<Option<i32>>,
        /// Page size (1-1000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
    ) -> Result<Json<CalendarPage>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let mut rows: Vec<&CalendarRow> = snapshot
            .calendar
            .values()
            .filter(|e| {
                line_id
                    .0
                    .is_none_or(|line| e.lines().is_some_and(|ids| ids.is_empty() || ids.contains(&line)))
            })
            .collect();
        rows.sort_by_key(|e| (e.start_date, e.entry_id));
        Ok(Json(CalendarPage::select(rows, limit.0, offset.0)))
    }

    /// Create a holiday or shutdown.
    #[oai(path = "/calendar", method = "post")]
    async fn create_calendar_entry(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        body: Json<CalendarInput>,
    ) -> Result<CalendarCreated, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::create_calendar_entry(&state.plant(), &actor, body.0).await?;
        Ok(CalendarCreated::Created(Json(row.into())))
    }

    /// Read a calendar entry.
    #[oai(path = "/calendar/:entry_id", method = "get")]
    async fn get_calendar_entry(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        entry_id: Path<i32>,
    ) -> Result<Json<CalendarEntryView>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let row = found(
            snapshot.calendar.get(&entry_id.0).cloned(),
            "calendar entry",
            entry_id.0,
        )?;
        Ok(Json(row.into()))
    }

    /// Replace a calendar entry's fields.
    #[oai(path = "/calendar/:entry_id", method = "put")]
    async fn update_calendar_entry(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        entry_id: Path<i32>,
        body: Json<CalendarInput>,
    ) -> Result<Json<CalendarEntryView>, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        let row = service::update_calendar_entry(&state.plant(), &actor, entry_id.0, body.0).await?;
        Ok(Json(row.into()))
    }

    /// Delete a calendar entry: its days are planned again.
    #[oai(path = "/calendar/:entry_id", method = "delete")]
    async fn delete_calendar_entry(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        entry_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let client = client_info(req, &state);
        let actor = Actor {
            principal: &caller,
            client: &client,
        };
        service::delete_calendar_entry(&state.plant(), &actor, entry_id.0).await?;
        Ok(NoContent::Done)
    }
}
