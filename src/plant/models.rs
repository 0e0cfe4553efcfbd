//! Database rows of the plant configuration (kept apart from API types).
//! `Row` types are read; `New*` types are both inserted and used as the
//! full change set of an update.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::{AsChangeset, Insertable, Queryable, Selectable};
use serde::Serialize;

use crate::db::decimal::DbDecimal;
use crate::db::schema::tenant::{area, calendar_entry, filter, incident, product, production_line, shift};

/// Serialises an exact decimal as its string form (audit values).
fn decimal_text<S: serde::Serializer>(value: &Option<DbDecimal>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(d) => s.serialize_some(&d.0.normalize().to_string()),
        None => s.serialize_none(),
    }
}

/// A production line row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = production_line)]
pub struct LineRow {
    /// Id.
    pub line_id: i32,
    /// Name.
    pub line_name: String,
    /// Code, unique within the tenant.
    pub line_code: String,
    /// Inactive (deleted) lines are hidden from lists and jobs.
    pub is_active: bool,
    /// Target availability, percent.
    #[serde(serialize_with = "decimal_text")]
    pub availability: Option<DbDecimal>,
    /// Target performance, percent.
    #[serde(serialize_with = "decimal_text")]
    pub performance: Option<DbDecimal>,
    /// Gap (seconds) above which the line counts as stopped.
    pub downtime_threshold: i32,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Soft-deletion instant.
    pub deleted_at: Option<NaiveDateTime>,
    /// Gap (seconds) above which a gap is a micro-stop (at most `downtime_threshold`).
    pub micro_stop_threshold: i32,
}

/// A new or changed production line.
#[derive(Debug, Clone, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = production_line, treat_none_as_null = true)]
pub struct NewLine {
    /// Name.
    pub line_name: String,
    /// Code.
    pub line_code: String,
    /// Active.
    pub is_active: bool,
    /// Target availability, percent.
    #[serde(serialize_with = "decimal_text")]
    pub availability: Option<DbDecimal>,
    /// Target performance, percent.
    #[serde(serialize_with = "decimal_text")]
    pub performance: Option<DbDecimal>,
    /// Downtime threshold, seconds.
    pub downtime_threshold: i32,
    /// Created.
    #[diesel(skip_update)]
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Micro-stop threshold, seconds.
    pub micro_stop_threshold: i32,
}

/// An area row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = area)]
pub struct AreaRow {
    /// Id.
    pub area_id: i32,
    /// Line.
    pub line_id: i32,
    /// Name.
    pub area_name: String,
    /// `input`, `process` or `output`.
    pub area_type: String,
    /// Position along the line.
    pub area_order: i32,
    /// Sensor region, x1.
    pub coord_x1: Option<i32>,
    /// Sensor region, y1.
    pub coord_y1: Option<i32>,
    /// Sensor region, x2.
    pub coord_x2: Option<i32>,
    /// Sensor region, y2.
    pub coord_y2: Option<i32>,
    /// Active.
    pub is_active: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new or changed area.
#[derive(Debug, Clone, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = area, treat_none_as_null = true)]
pub struct NewArea {
    /// Line.
    pub line_id: i32,
    /// Name.
    pub area_name: String,
    /// `input`, `process` or `output`.
    pub area_type: String,
    /// Position along the line.
    pub area_order: i32,
    /// Sensor region, x1.
    pub coord_x1: Option<i32>,
    /// Sensor region, y1.
    pub coord_y1: Option<i32>,
    /// Sensor region, x2.
    pub coord_x2: Option<i32>,
    /// Sensor region, y2.
    pub coord_y2: Option<i32>,
    /// Active.
    pub is_active: bool,
    /// Created.
    #[diesel(skip_update)]
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A product row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = product)]
pub struct ProductRow {
    /// Id.
    pub product_id: i32,
    /// Name.
    pub product_name: String,
    /// Code.
    pub product_code: String,
    /// Weight, kg (exact).
    #[serde(serialize_with = "decimal_text")]
    pub product_weight: Option<DbDecimal>,
    /// Colour for charts.
    pub product_color: Option<String>,
    /// Ideal rate, units per hour.
    #[serde(serialize_with = "decimal_text")]
    pub production_std: Option<DbDecimal>,
    /// Units per batch.
    pub product_per_batch: Option<i32>,
    /// Active.
    pub is_active: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new or changed product.
#[derive(Debug, Clone, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = product, treat_none_as_null = true)]
pub struct NewProduct {
    /// Name.
    pub product_name: String,
    /// Code.
    pub product_code: String,
    /// Weight, kg (exact).
    #[serde(serialize_with = "decimal_text")]
    pub product_weight: Option<DbDecimal>,
    /// Colour for charts (CSS colour).
    pub product_color: Option<String>,
    /// Ideal rate, units per hour.
    #[serde(serialize_with = "decimal_text")]
    pub production_std: Option<DbDecimal>,
    /// Units per batch.
    pub product_per_batch: Option<i32>,
    /// Active.
    pub is_active: bool,
    /// Created.
    #[diesel(skip_update)]
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A shift row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = shift)]
pub struct ShiftRow {
    /// Id.
    pub shift_id: i32,
    /// Name.
    pub shift_name: String,
    /// Description.
    pub description: Option<String>,
    /// Active.
    pub shift_status: bool,
    /// JSON array of weekday names.
    pub days_implemented: String,
    /// Local start time.
    pub start_time: NaiveTime,
    /// Local end time.
    pub end_time: NaiveTime,
    /// Ends on the next day.
    pub is_overnight: bool,
    /// JSON array of line ids; null means every line.
    pub line_ids: Option<String>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// JSON array of breaks `{start_time, end_time}` (`HH:MM:SS`).
    pub breaks: String,
}

/// A new or changed shift.
#[derive(Debug, Clone, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = shift, treat_none_as_null = true)]
pub struct NewShift {
    /// Name.
    pub shift_name: String,
    /// Description.
    pub description: Option<String>,
    /// Active.
    pub shift_status: bool,
    /// JSON array of weekday names.
    pub days_implemented: String,
    /// Local start time.
    pub start_time: NaiveTime,
    /// Local end time.
    pub end_time: NaiveTime,
    /// Ends on the next day.
    pub is_overnight: bool,
    /// JSON array of line ids; null means every line.
    pub line_ids: Option<String>,
    /// Created.
    #[diesel(skip_update)]
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// JSON array of breaks `{start_time, end_time}` (`HH:MM:SS`).
    pub breaks: String,
}

/// A break inside a shift as stored (in the JSON of `shift.breaks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredBreak {
    /// Local start.
    pub start_time: NaiveTime,
    /// Local end.
    pub end_time: NaiveTime,
}

/// The breaks stored in a shift row (none when the text cannot be read:
/// validation on write makes that impossible through the API).
pub fn stored_breaks(text: &str) -> Vec<StoredBreak> {
    serde_json::from_str(text).unwrap_or_default()
}

/// A calendar entry row: a holiday or shutdown.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = calendar_entry)]
pub struct CalendarRow {
    /// Id.
    pub entry_id: i32,
    /// Name.
    pub name: String,
    /// First local day.
    pub start_date: NaiveDate,
    /// Last local day (included).
    pub end_date: NaiveDate,
    /// JSON array of line ids; empty means every line.
    pub line_ids: String,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl CalendarRow {
    /// The lines it stops (empty: every line); `None` when the stored text
    /// cannot be read (never through the API), so that a damaged per-line
    /// entry is not taken for one of every line.
    pub fn lines(&self) -> Option<Vec<i32>> {
        serde_json::from_str(&self.line_ids).ok()
    }
}

/// A new or changed calendar entry.
#[derive(Debug, Clone, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = calendar_entry)]
pub struct NewCalendarEntry {
    /// Name.
    pub name: String,
    /// First local day.
    pub start_date: NaiveDate,
    /// Last local day (included).
    pub end_date: NaiveDate,
    /// JSON array of line ids; empty means every line.
    pub line_ids: String,
    /// Created.
    #[diesel(skip_update)]
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A dashboard filter row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = filter)]
pub struct FilterRow {
    /// Id.
    pub filter_id: i32,
    /// Name.
    pub filter_name: String,
    /// Registered filter type.
    pub class_name: String,
    /// Description.
    pub description: Option<String>,
    /// Active.
    pub filter_status: bool,
    /// JSON default value.
    pub default_value: Option<String>,
    /// JSON extra settings.
    pub additional_filter: Option<String>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new or changed dashboard filter.
#[derive(Debug, Clone, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = filter, treat_none_as_null = true)]
pub struct NewFilter {
    /// Name.
    pub filter_name: String,
    /// Registered filter type.
    pub class_name: String,
    /// Description.
    pub description: Option<String>,
    /// Active.
    pub filter_status: bool,
    /// JSON default value.
    pub default_value: Option<String>,
    /// JSON extra settings.
    pub additional_filter: Option<String>,
    /// Created.
    #[diesel(skip_update)]
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// An incident row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Serialize)]
#[diesel(table_name = incident)]
pub struct IncidentRow {
    /// Id.
    pub incident_id: i32,
    /// Failure type: a `breakdown` downtime reason.
    pub failure_id: Option<i32>,
    /// Line.
    pub line_id: Option<i32>,
    /// Description.
    pub description: Option<String>,
    /// Reported (UTC).
    pub reported_at: NaiveDateTime,
    /// Resolved (UTC).
    pub resolved_at: Option<NaiveDateTime>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new or changed incident.
#[derive(Debug, Clone, Insertable, AsChangeset, Serialize)]
#[diesel(table_name = incident, treat_none_as_null = true)]
pub struct NewIncident {
    /// Failure type: a `breakdown` downtime reason.
    pub failure_id: Option<i32>,
    /// Line.
    pub line_id: Option<i32>,
    /// Description.
    pub description: Option<String>,
    /// Reported (UTC).
    pub reported_at: NaiveDateTime,
    /// Resolved (UTC).
    pub resolved_at: Option<NaiveDateTime>,
    /// Created.
    #[diesel(skip_update)]
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}
