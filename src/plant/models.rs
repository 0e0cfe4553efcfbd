//! Database rows of the plant configuration (kept apart from API types).

use chrono::{NaiveDateTime, NaiveTime};
use diesel::{Insertable, Queryable, Selectable};

use crate::db::decimal::DbDecimal;
use crate::db::schema::tenant::{area, filter, product, production_line, shift};

/// A production line row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = production_line)]
pub struct LineRow {
    /// Id.
    pub line_id: i32,
    /// Name.
    pub line_name: String,
    /// Code, unique within the tenant.
    pub line_code: String,
    /// Inactive lines are hidden from lists and jobs.
    pub is_active: bool,
    /// Target availability, percent.
    pub availability: Option<DbDecimal>,
    /// Target performance, percent.
    pub performance: Option<DbDecimal>,
    /// Gap (seconds) above which the line counts as stopped.
    pub downtime_threshold: i32,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Soft-deletion instant.
    pub deleted_at: Option<NaiveDateTime>,
}

/// A new production line.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = production_line)]
pub struct NewLine {
    /// Name.
    pub line_name: String,
    /// Code.
    pub line_code: String,
    /// Active.
    pub is_active: bool,
    /// Target availability, percent.
    pub availability: Option<DbDecimal>,
    /// Target performance, percent.
    pub performance: Option<DbDecimal>,
    /// Downtime threshold, seconds.
    pub downtime_threshold: i32,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new area.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = area)]
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
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new product.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = product)]
pub struct NewProduct {
    /// Name.
    pub product_name: String,
    /// Code.
    pub product_code: String,
    /// Weight, kg (exact).
    pub product_weight: Option<DbDecimal>,
    /// Colour for charts (CSS colour).
    pub product_color: Option<String>,
    /// Ideal rate, units per hour.
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

/// A new shift.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = shift)]
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
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// A new dashboard filter.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = filter)]
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
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}
