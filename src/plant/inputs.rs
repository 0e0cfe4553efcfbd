//! What clients send to create or replace plant configuration, and its
//! validation into database rows. Every bad field is reported at once, by
//! name, in one 422.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};
use poem_openapi::Object;
use rust_decimal::Decimal;

use crate::analytics::shifts::{ShiftBreak, ShiftRule, parse_days};
use crate::db::decimal::DbDecimal;
use crate::error::{AppError, AppResult, FieldError};
use crate::plant::cache::PlantSnapshot;
use crate::plant::models::{
    NewArea, NewCalendarEntry, NewFilter, NewIncident, NewLine, NewProduct, NewShift, StoredBreak,
};

/// Filter types the filter registry knows (`filter.class_name`).
pub const FILTER_CLASSES: &[&str] = &[
    "DateRangeFilter",
    "LineFilter",
    "ProductFilter",
    "AreaFilter",
    "ShiftFilter",
    "IntervalFilter",
    "DowntimeThresholdFilter",
    "ShowStopsFilter",
];

/// Area kinds.
pub const AREA_TYPES: &[&str] = &["input", "process", "output"];

/// Collects field errors while converting.
#[derive(Default)]
struct Check(Vec<FieldError>);

impl Check {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        let trimmed = value.trim();
        if trimmed.is_empty() || trimmed.chars().count() > max {
            self.fail(field, format!("must be 1 to {max} characters"));
        } else if trimmed.chars().any(char::is_control) {
            self.fail(field, "must not contain control characters");
        }
        trimmed.to_owned()
    }

    fn optional_text(&mut self, field: &str, value: &Option<String>, max: usize) -> Option<String> {
        value.as_ref().map(|v| v.trim()).filter(|v| !v.is_empty()).map(|v| {
            if v.chars().count() > max || v.chars().any(|c| c.is_control() && c != '\n') {
                self.fail(
                    field,
                    format!("must be at most {max} characters without control characters"),
                );
            }
            v.to_owned()
        })
    }

    /// An optional CSS hex colour (`#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`), stored lowercase.
    /// Nothing else: the value reaches chart styles and HTML in clients, where named colours buy
    /// little and any free text (`url(javascript:…)`, `expression(…)`) is a place for injection.
    fn hex_colour(&mut self, field: &str, value: &Option<String>) -> Option<String> {
        let colour = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        if !is_hex_colour(colour) {
            self.fail(field, "must be a CSS hex colour: #rgb, #rgba, #rrggbb or #rrggbbaa");
        }
        Some(colour.to_ascii_lowercase())
    }

    fn code(&mut self, field: &str, value: &str) -> String {
        let code = value.trim();
        let valid =
            (1..=40).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid {
            self.fail(field, "must be 1 to 40 characters: letters, digits, '-', '_' or '.'");
        }
        code.to_owned()
    }

    fn decimal(
        &mut self,
        field: &str,
        value: Option<Decimal>,
        min: Decimal,
        min_inclusive: bool,
        max: Option<Decimal>,
    ) -> Option<DbDecimal> {
        let value = value?;
        let above_min = if min_inclusive { value >= min } else { value > min };
        let below_max = max.is_none_or(|m| value <= m);
        match (above_min, below_max) {
            (true, true) => {}
            (false, _) if min_inclusive => self.fail(field, format!("must be at least {min}")),
            (false, _) => self.fail(field, format!("must be greater than {min}")),
            (true, false) => self.fail(field, format!("must be at most {}", max.unwrap_or_default())),
        }
        Some(DbDecimal(value))
    }

    fn time(&mut self, field: &str, value: &str) -> NaiveTime {
        let parsed = NaiveTime::parse_from_str(value.trim(), "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(value.trim(), "%H:%M"))
            .ok()
            .filter(|_| matches!(value.trim().len(), 5 | 8));
        match parsed {
            Some(t) => t,
            None => {
                self.fail(field, "must be a time of day as HH:MM or HH:MM:SS");
                NaiveTime::MIN
            }
        }
    }

    /// Validates a shift's breaks against its times (when those are valid):
    /// at most [`MAX_BREAKS`], each of positive length and inside the
    /// occurrence, none overlapping another; returns them in occurrence order.
    fn breaks(&mut self, input: &[BreakInput], shift: Option<(NaiveTime, NaiveTime, bool)>) -> Vec<StoredBreak> {
        if input.len() > MAX_BREAKS {
            self.fail("breaks", format!("at most {MAX_BREAKS} breaks per shift"));
            return Vec::new();
        }
        let mut parsed = Vec::with_capacity(input.len());
        for (i, b) in input.iter().enumerate() {
            let errors = self.0.len();
            let start_time = self.time(&format!("breaks[{i}].start_time"), &b.start_time);
            let end_time = self.time(&format!("breaks[{i}].end_time"), &b.end_time);
            if self.0.len() > errors {
                continue;
            }
            if start_time == end_time {
                self.fail(&format!("breaks[{i}].end_time"), "must differ from start_time");
                continue;
            }
            parsed.push((i, ShiftBreak { start_time, end_time }));
        }
        let Some((start_time, end_time, is_overnight)) = shift else {
            return Vec::new();
        };
        let rule = ShiftRule {
            shift_id: 0,
            start_time,
            end_time,
            is_overnight,
            days: chrono::WeekdaySet::ALL,
            active: true,
            line_ids: None,
            breaks: Vec::new(),
        };
        let length = rule.wall_seconds();
        let mut placed: Vec<(i64, i64, usize, ShiftBreak)> = Vec::with_capacity(parsed.len());
        for (i, b) in parsed {
            let (offset, len) = rule.break_offsets(&b);
            if offset + len > length {
                self.fail(
                    &format!("breaks[{i}]"),
                    format!(
                        "must lie inside the shift ({} to {}{})",
                        start_time.format("%H:%M:%S"),
                        end_time.format("%H:%M:%S"),
                        if rule.ends_next_day() { " the next day" } else { "" }
                    ),
                );
                continue;
            }
            placed.push((offset, len, i, b));
        }
        placed.sort_by_key(|(offset, ..)| *offset);
        for pair in placed.windows(2) {
            let ((a_offset, a_len, a, _), (b_offset, _, b, _)) = (&pair[0], &pair[1]);
            if a_offset + a_len > *b_offset {
                self.fail(
                    &format!("breaks[{}]", a.max(b)),
                    format!("overlaps breaks[{}]", a.min(b)),
                );
            }
        }
        if !placed.is_empty() && placed.iter().map(|(_, len, ..)| len).sum::<i64>() >= length {
            self.fail("breaks", "breaks must leave some of the shift planned");
        }
        placed
            .into_iter()
            .map(|(.., b)| StoredBreak {
                start_time: b.start_time,
                end_time: b.end_time,
            })
            .collect()
    }

    fn finish<T>(self, value: T) -> AppResult<T> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(AppError::invalid_fields(self.0))
        }
    }
}

/// Whether `text` is `#` followed by 3, 4, 6 or 8 hex digits.
pub fn is_hex_colour(text: &str) -> bool {
    text.strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 4 | 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn hundred() -> Decimal {
    Decimal::ONE_HUNDRED
}

/// A production line.
#[derive(Object, Debug, Clone)]
pub struct LineInput {
    /// Name.
    pub line_name: String,
    /// Code, unique within the tenant (letters, digits, `-_.`).
    pub line_code: String,
    /// Active (default true on create; unchanged when absent on update).
    #[oai(nullable)]
    pub is_active: Option<bool>,
    /// Target availability, percent (0-100).
    #[oai(nullable)]
    pub availability: Option<Decimal>,
    /// Target performance, percent (0-100).
    #[oai(nullable)]
    pub performance: Option<Decimal>,
    /// Gap in seconds above which the line counts as stopped (> 0, default 300).
    #[oai(nullable)]
    pub downtime_threshold: Option<i32>,
    /// Gap in seconds without output above which a gap counts as a
    /// micro-stop, up to `downtime_threshold` (> 0 and not above it; default
    /// 30, or `downtime_threshold` when that is lower).
    #[oai(nullable)]
    pub micro_stop_threshold: Option<i32>,
}

/// The micro-stop threshold of a line when none is given, seconds.
pub const DEFAULT_MICRO_STOP_THRESHOLD: i32 = 30;

/// Breaks a shift may have.
pub const MAX_BREAKS: usize = 8;

/// Longest calendar entry, in days (both ends included).
pub const MAX_CALENDAR_DAYS: i64 = 366;

impl LineInput {
    /// Validates into a row; `current_active` is the stored flag on update.
    pub fn into_row(self, now: NaiveDateTime, current_active: Option<bool>) -> AppResult<NewLine> {
        let mut check = Check::default();
        let line_name = check.text("line_name", &self.line_name, 120);
        let line_code = check.code("line_code", &self.line_code);
        let availability = check.decimal("availability", self.availability, Decimal::ZERO, true, Some(hundred()));
        let performance = check.decimal("performance", self.performance, Decimal::ZERO, true, Some(hundred()));
        let downtime_threshold = self.downtime_threshold.unwrap_or(300);
        if downtime_threshold <= 0 {
            check.fail("downtime_threshold", "must be a positive number of seconds");
        }
        // Absent: 30 s, or the downtime threshold when that is lower (a
        // field nobody sent is never the one a 422 names).
        let micro_stop_threshold = match self.micro_stop_threshold {
            Some(given) => given,
            None if downtime_threshold > 0 => DEFAULT_MICRO_STOP_THRESHOLD.min(downtime_threshold),
            None => DEFAULT_MICRO_STOP_THRESHOLD,
        };
        if self.micro_stop_threshold.is_some() {
            if micro_stop_threshold <= 0 {
                check.fail("micro_stop_threshold", "must be a positive number of seconds");
            } else if micro_stop_threshold > downtime_threshold && downtime_threshold > 0 {
                check.fail(
                    "micro_stop_threshold",
                    format!(
                        "must not exceed downtime_threshold ({downtime_threshold} s): a longer gap is a stop, not a micro-stop"
                    ),
                );
            }
        }
        check.finish(NewLine {
            line_name,
            line_code,
            is_active: self.is_active.or(current_active).unwrap_or(true),
            availability,
            performance,
            downtime_threshold,
            created_at: now,
            updated_at: now,
            micro_stop_threshold,
        })
    }
}

/// An area of a line where a sensor counts units.
#[derive(Object, Debug, Clone)]
pub struct AreaInput {
    /// Line the area belongs to.
    pub line_id: i32,
    /// Name.
    pub area_name: String,
    /// `input`, `process` or `output`.
    pub area_type: String,
    /// Position along the line (input lowest).
    #[oai(nullable)]
    pub area_order: Option<i32>,
    /// Sensor region, x1.
    #[oai(nullable)]
    pub coord_x1: Option<i32>,
    /// Sensor region, y1.
    #[oai(nullable)]
    pub coord_y1: Option<i32>,
    /// Sensor region, x2.
    #[oai(nullable)]
    pub coord_x2: Option<i32>,
    /// Sensor region, y2.
    #[oai(nullable)]
    pub coord_y2: Option<i32>,
    /// Active (default true on create; unchanged when absent on update).
    #[oai(nullable)]
    pub is_active: Option<bool>,
}

impl AreaInput {
    /// Validates into a row; the line must exist and not be deleted.
    pub fn into_row(
        self,
        snapshot: &PlantSnapshot,
        now: NaiveDateTime,
        current_active: Option<bool>,
    ) -> AppResult<NewArea> {
        let mut check = Check::default();
        let area_name = check.text("area_name", &self.area_name, 120);
        let area_type = self.area_type.trim().to_lowercase();
        if !AREA_TYPES.contains(&area_type.as_str()) {
            check.fail("area_type", format!("must be one of {}", AREA_TYPES.join(", ")));
        }
        match snapshot.lines.get(&self.line_id) {
            None => check.fail("line_id", format!("line {} does not exist", self.line_id)),
            Some(line) if !line.is_active => check.fail("line_id", format!("line {} is deleted", self.line_id)),
            Some(_) => {}
        }
        for (field, value) in [
            ("coord_x1", self.coord_x1),
            ("coord_y1", self.coord_y1),
            ("coord_x2", self.coord_x2),
            ("coord_y2", self.coord_y2),
        ] {
            if value.is_some_and(|v| v < 0) {
                check.fail(field, "must not be negative");
            }
        }
        check.finish(NewArea {
            line_id: self.line_id,
            area_name,
            area_type,
            area_order: self.area_order.unwrap_or(0),
            coord_x1: self.coord_x1,
            coord_y1: self.coord_y1,
            coord_x2: self.coord_x2,
            coord_y2: self.coord_y2,
            is_active: self.is_active.or(current_active).unwrap_or(true),
            created_at: now,
            updated_at: now,
        })
    }
}

/// A product.
#[derive(Object, Debug, Clone)]
pub struct ProductInput {
    /// Name.
    pub product_name: String,
    /// Code, unique within the tenant.
    pub product_code: String,
    /// Weight in kg, exact decimal, not negative (e.g. `"5.5"`).
    #[oai(nullable)]
    pub product_weight: Option<Decimal>,
    /// Colour for charts: a CSS hex colour (`#rgb`, `#rgba`, `#rrggbb` or `#rrggbbaa`, e.g. `#ef4444`).
    #[oai(nullable)]
    pub product_color: Option<String>,
    /// Ideal rate in units per hour (> 0); needed for performance and OEE.
    #[oai(nullable)]
    pub production_std: Option<Decimal>,
    /// Units per batch (> 0).
    #[oai(nullable)]
    pub product_per_batch: Option<i32>,
    /// Active (default true on create; unchanged when absent on update).
    #[oai(nullable)]
    pub is_active: Option<bool>,
}

impl ProductInput {
    /// Validates into a row.
    pub fn into_row(self, now: NaiveDateTime, current_active: Option<bool>) -> AppResult<NewProduct> {
        let mut check = Check::default();
        let product_name = check.text("product_name", &self.product_name, 120);
        let product_code = check.code("product_code", &self.product_code);
        let product_weight = check.decimal("product_weight", self.product_weight, Decimal::ZERO, true, None);
        let production_std = check.decimal("production_std", self.production_std, Decimal::ZERO, false, None);
        if self.product_per_batch.is_some_and(|n| n <= 0) {
            check.fail("product_per_batch", "must be greater than 0");
        }
        let product_color = check.hex_colour("product_color", &self.product_color);
        check.finish(NewProduct {
            product_name,
            product_code,
            product_weight,
            product_color,
            production_std,
            product_per_batch: self.product_per_batch,
            is_active: self.is_active.or(current_active).unwrap_or(true),
            created_at: now,
            updated_at: now,
        })
    }
}

/// A shift: local start and end times on the given weekdays.
#[derive(Object, Debug, Clone)]
pub struct ShiftInput {
    /// Name.
    pub shift_name: String,
    /// Description.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Active (default true on create; unchanged when absent on update).
    #[oai(nullable)]
    pub shift_status: Option<bool>,
    /// Weekday names (`Monday`..`Sunday`; Spanish names are accepted too).
    pub days_implemented: Vec<String>,
    /// Local start, `HH:MM` or `HH:MM:SS`.
    pub start_time: String,
    /// Local end, `HH:MM` or `HH:MM:SS`.
    pub end_time: String,
    /// True when the shift ends on the next day; must agree with the times
    /// (an overnight shift ends at or before its start time of day).
    pub is_overnight: bool,
    /// Lines the shift applies to; absent or empty means every line.
    #[oai(nullable)]
    pub line_ids: Option<Vec<i32>>,
    /// Breaks inside every occurrence (at most 8), local times; absent or
    /// empty: none. Each lies inside the shift (a break of a night shift
    /// may be after midnight) and they do not overlap. Break time is a
    /// planned stop: it is not planned time.
    #[oai(nullable)]
    pub breaks: Option<Vec<BreakInput>>,
}

/// A break inside a shift.
#[derive(Object, Debug, Clone)]
pub struct BreakInput {
    /// Local start, `HH:MM` or `HH:MM:SS`.
    pub start_time: String,
    /// Local end, `HH:MM` or `HH:MM:SS` (after midnight when before the start).
    pub end_time: String,
}

impl ShiftInput {
    /// Validates into a row; listed lines must exist.
    pub fn into_row(
        self,
        snapshot: &PlantSnapshot,
        now: NaiveDateTime,
        current_active: Option<bool>,
    ) -> AppResult<NewShift> {
        let mut check = Check::default();
        let shift_name = check.text("shift_name", &self.shift_name, 120);
        let description = check.optional_text("description", &self.description, 500);
        if self.days_implemented.is_empty() {
            check.fail("days_implemented", "must list at least one weekday");
        }
        let days = parse_days(self.days_implemented.iter().map(String::as_str));
        if let Err(message) = &days {
            check.fail("days_implemented", message.clone());
        }
        let start_time = check.time("start_time", &self.start_time);
        let end_time = check.time("end_time", &self.end_time);
        if check.0.iter().all(|e| e.field != "start_time" && e.field != "end_time") {
            if self.is_overnight && end_time > start_time {
                check.fail(
                    "is_overnight",
                    format!(
                        "an overnight shift must end at or before its start time of day ({} > {})",
                        self.end_time, self.start_time
                    ),
                );
            }
            if !self.is_overnight && end_time <= start_time {
                check.fail(
                    "is_overnight",
                    format!(
                        "a shift ending at or before it starts ({} <= {}) crosses midnight: set is_overnight to true",
                        self.end_time, self.start_time
                    ),
                );
            }
        }
        let line_ids = self.line_ids.filter(|ids| !ids.is_empty());
        if let Some(ids) = &line_ids {
            for id in ids {
                if !snapshot.lines.contains_key(id) {
                    check.fail("line_ids", format!("line {id} does not exist"));
                }
            }
        }
        let times_valid = check
            .0
            .iter()
            .all(|e| !matches!(e.field.as_str(), "start_time" | "end_time" | "is_overnight"));
        let breaks = check.breaks(
            self.breaks.as_deref().unwrap_or_default(),
            times_valid.then_some((start_time, end_time, self.is_overnight)),
        );
        let breaks = serde_json::to_string(&breaks).map_err(AppError::internal)?;
        // Store English names whatever language was sent, so every reader agrees.
        let canonical: Vec<String> = match &days {
            Ok(set) => set
                .iter(chrono::Weekday::Mon)
                .map(|d| weekday_name(d).to_owned())
                .collect(),
            Err(_) => Vec::new(),
        };
        let days_implemented = serde_json::to_string(&canonical).map_err(AppError::internal)?;
        let line_ids = line_ids
            .map(|ids| serde_json::to_string(&ids))
            .transpose()
            .map_err(AppError::internal)?;
        check.finish(NewShift {
            shift_name,
            description,
            shift_status: self.shift_status.or(current_active).unwrap_or(true),
            days_implemented,
            start_time,
            end_time,
            is_overnight: self.is_overnight,
            line_ids,
            created_at: now,
            updated_at: now,
            breaks,
        })
    }
}

/// A holiday or shutdown.
#[derive(Object, Debug, Clone)]
pub struct CalendarInput {
    /// Name (e.g. "Fiestas Patrias", "Annual maintenance").
    pub name: String,
    /// First local day, `YYYY-MM-DD`.
    pub start_date: String,
    /// Last local day, `YYYY-MM-DD`, included; an entry spans at most 366
    /// days.
    pub end_date: String,
    /// Lines it stops; absent or empty means every line.
    #[oai(nullable)]
    pub line_ids: Option<Vec<i32>>,
}

impl CalendarInput {
    /// Validates into a row: real dates, start not after end, at most
    /// [`MAX_CALENDAR_DAYS`] days, listed lines exist.
    pub fn into_row(self, snapshot: &PlantSnapshot, now: NaiveDateTime) -> AppResult<NewCalendarEntry> {
        let mut check = Check::default();
        let name = check.text("name", &self.name, 120);
        let mut date = |field: &str, value: &str| {
            let parsed = NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
                .ok()
                .filter(|_| value.trim().len() == 10);
            match parsed {
                None => check.fail(field, "must be a local date as YYYY-MM-DD"),
                Some(d) if !(1970..=9999).contains(&d.year()) => {
                    check.fail(field, "must lie between 1970-01-01 and 9999-12-31");
                    return None;
                }
                Some(_) => {}
            }
            parsed
        };
        let start_date = date("start_date", &self.start_date);
        let end_date = date("end_date", &self.end_date);
        if let (Some(start), Some(end)) = (start_date, end_date) {
            if end < start {
                check.fail("end_date", format!("must not be before start_date ({start})"));
            } else if (end - start).num_days() + 1 > MAX_CALENDAR_DAYS {
                check.fail(
                    "end_date",
                    format!("an entry spans at most {MAX_CALENDAR_DAYS} days; split longer shutdowns"),
                );
            }
        }
        let mut line_ids = self.line_ids.unwrap_or_default();
        line_ids.sort_unstable();
        line_ids.dedup();
        for id in &line_ids {
            if !snapshot.lines.contains_key(id) {
                check.fail("line_ids", format!("line {id} does not exist"));
            }
        }
        let line_ids = serde_json::to_string(&line_ids).map_err(AppError::internal)?;
        let fallback = NaiveDate::MIN;
        check.finish(NewCalendarEntry {
            name,
            start_date: start_date.unwrap_or(fallback),
            end_date: end_date.unwrap_or(fallback),
            line_ids,
            created_at: now,
            updated_at: now,
        })
    }
}

/// English name of a weekday.
pub fn weekday_name(day: chrono::Weekday) -> &'static str {
    match day {
        chrono::Weekday::Mon => "Monday",
        chrono::Weekday::Tue => "Tuesday",
        chrono::Weekday::Wed => "Wednesday",
        chrono::Weekday::Thu => "Thursday",
        chrono::Weekday::Fri => "Friday",
        chrono::Weekday::Sat => "Saturday",
        chrono::Weekday::Sun => "Sunday",
    }
}

/// A dashboard filter of the tenant.
#[derive(Object, Debug, Clone)]
pub struct FilterInput {
    /// Name shown to users.
    pub filter_name: String,
    /// A registered filter type (e.g. `DateRangeFilter`).
    pub class_name: String,
    /// Description.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Active (default true on create; unchanged when absent on update).
    #[oai(nullable)]
    pub filter_status: Option<bool>,
    /// Default value (any JSON).
    #[oai(nullable)]
    pub default_value: Option<serde_json::Value>,
    /// Extra settings (any JSON).
    #[oai(nullable)]
    pub additional_filter: Option<serde_json::Value>,
}

impl FilterInput {
    /// Validates into a row; the class must be registered.
    pub fn into_row(self, now: NaiveDateTime, current_active: Option<bool>) -> AppResult<NewFilter> {
        let mut check = Check::default();
        let filter_name = check.text("filter_name", &self.filter_name, 120);
        let description = check.optional_text("description", &self.description, 500);
        if !FILTER_CLASSES.contains(&self.class_name.as_str()) {
            check.fail(
                "class_name",
                format!("unknown filter type; registered: {}", FILTER_CLASSES.join(", ")),
            );
        }
        let default_value = self.default_value.map(|v| v.to_string());
        let additional_filter = self.additional_filter.map(|v| v.to_string());
        if default_value.as_ref().is_some_and(|v| v.len() > 10_000) {
            check.fail("default_value", "must be at most 10000 characters of JSON");
        }
        if additional_filter.as_ref().is_some_and(|v| v.len() > 10_000) {
            check.fail("additional_filter", "must be at most 10000 characters of JSON");
        }
        check.finish(NewFilter {
            filter_name,
            class_name: self.class_name,
            description,
            filter_status: self.filter_status.or(current_active).unwrap_or(true),
            default_value,
            additional_filter,
            created_at: now,
            updated_at: now,
        })
    }
}

/// A kind of failure.
#[derive(Object, Debug, Clone)]
pub struct FailureInput {
    /// Kind of failure (e.g. "Atasco en cinta").
    pub type_failure: String,
    /// Description.
    #[oai(nullable)]
    pub description: Option<String>,
}

impl FailureInput {
    /// Validates into the fields of a failure type (a breakdown reason).
    pub fn into_fields(self) -> AppResult<crate::reasons::FailureFields> {
        let mut check = Check::default();
        let type_failure = check.text("type_failure", &self.type_failure, 120);
        let description = check.optional_text("description", &self.description, 500);
        check.finish(crate::reasons::FailureFields {
            type_failure,
            description,
        })
    }
}

/// An incident on a line.
#[derive(Object, Debug, Clone)]
pub struct IncidentInput {
    /// Failure type: a `breakdown` downtime reason.
    #[oai(nullable)]
    pub failure_id: Option<i32>,
    /// Line.
    #[oai(nullable)]
    pub line_id: Option<i32>,
    /// Description.
    #[oai(nullable)]
    pub description: Option<String>,
    /// When it was reported (RFC 3339).
    pub reported_at: DateTime<FixedOffset>,
    /// When it was resolved (RFC 3339), not before `reported_at`.
    #[oai(nullable)]
    pub resolved_at: Option<DateTime<FixedOffset>>,
}

impl IncidentInput {
    /// Validates into a row; `failure_exists` says whether the failure id
    /// names a failure type (a `breakdown` downtime reason).
    pub fn into_row(
        self,
        snapshot: &PlantSnapshot,
        failure_exists: bool,
        now: NaiveDateTime,
    ) -> AppResult<NewIncident> {
        let mut check = Check::default();
        let description = check.optional_text("description", &self.description, 500);
        if let Some(line_id) = self.line_id
            && !snapshot.lines.contains_key(&line_id)
        {
            check.fail("line_id", format!("line {line_id} does not exist"));
        }
        if let Some(failure_id) = self.failure_id
            && !failure_exists
        {
            check.fail("failure_id", format!("failure {failure_id} does not exist"));
        }
        for (field, at) in [
            ("reported_at", Some(self.reported_at)),
            ("resolved_at", self.resolved_at),
        ] {
            if at.is_some_and(|t| !crate::analytics::time::is_sane_instant(t.to_utc())) {
                check.fail(field, "must lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z");
            }
        }
        let reported_at = crate::clock::truncate_naive(self.reported_at.naive_utc());
        let resolved_at = self.resolved_at.map(|t| crate::clock::truncate_naive(t.naive_utc()));
        if resolved_at.is_some_and(|r| r < reported_at) {
            check.fail("resolved_at", "must not be before reported_at");
        }
        check.finish(NewIncident {
            failure_id: self.failure_id,
            line_id: self.line_id,
            description,
            reported_at,
            resolved_at,
            created_at: now,
            updated_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_colours_only() {
        for ok in ["#fff", "#FFFA", "#ef4444", "#EF444480"] {
            assert!(is_hex_colour(ok), "{ok}");
        }
        for bad in [
            "",
            "#",
            "ef4444",
            "#ef4444f",
            "#ef44444444",
            "#ggg",
            "steelblue",
            "url(javascript:alert(1))",
            "#fff;background:url(x)",
            "＃fff",
        ] {
            assert!(!is_hex_colour(bad), "{bad}");
        }
    }
}
