//! The typed KPI query and its parsing from the wire form: after
//! [`parse`], nothing is a string (semantics §9, `docs/query.md`).

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::analytics::buckets::BucketInterval;
use crate::analytics::downtime::DowntimeThreshold;
use crate::analytics::interval::Interval;
use crate::analytics::shifts::ShiftRule;
use crate::analytics::time::{local_midnight, parse_range, to_local};
use crate::error::FieldError;
use crate::plant::cache::PlantSnapshot;

/// A figure a query can ask for (the OEE fields of semantics §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Measure {
    /// |P| in seconds.
    PlannedTimeSeconds,
    /// Planned minus downtime.
    OperatingTimeSeconds,
    /// Σ downtime event durations inside the cell.
    TotalDowntimeSeconds,
    /// Downtime events (pieces inside the cell).
    DowntimeCount,
    /// Input-area detections.
    TotalProduction,
    /// Output-area detections.
    GoodUnits,
    /// max(total − good, 0).
    RejectedUnits,
    /// Σ good units × product weight, kg.
    TotalWeight,
    /// Operating / planned, percent.
    Availability,
    /// Ideal / operating, percent.
    Performance,
    /// Good / total, percent.
    Quality,
    /// A × P × Q, percent.
    Oee,
    /// Σ input counts × ideal cycle time (semantics §10).
    IdealTimeSeconds,
    /// Ideal time − quality loss.
    FullyProductiveSeconds,
    /// Σ max(input − output, 0) × ideal cycle time, per product.
    QualityLossSeconds,
    /// Operating − ideal − micro-stops.
    SpeedLossSeconds,
    /// Gaps longer than the line's micro-stop threshold, not stops.
    MicroStopSeconds,
    /// Their number.
    MicroStopCount,
    /// Stops of loss class `breakdown`.
    BreakdownSeconds,
    /// Stops of loss class `setup`.
    SetupSeconds,
    /// Stops of loss class `minor_stop`.
    MinorStopSeconds,
    /// Stops of loss class `planned` (when the tenant's rule keeps them in P).
    PlannedStopSeconds,
    /// Stops without a reason.
    UnassignedStopSeconds,
    /// Operating time ÷ breakdown stops.
    MtbfSeconds,
    /// Mean breakdown length.
    MttrSeconds,
}

/// How a column's values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Whole number.
    Integer,
    /// Decimal number.
    Number,
    /// Percent, 2 decimals.
    Percent,
}

impl Measure {
    /// The OEE fields: the answer's measures when none are named.
    pub const OEE_FIELDS: [Measure; 12] = [
        Measure::PlannedTimeSeconds,
        Measure::OperatingTimeSeconds,
        Measure::TotalDowntimeSeconds,
        Measure::DowntimeCount,
        Measure::TotalProduction,
        Measure::GoodUnits,
        Measure::RejectedUnits,
        Measure::TotalWeight,
        Measure::Availability,
        Measure::Performance,
        Measure::Quality,
        Measure::Oee,
    ];

    /// The loss measures (semantics §10): named, never by default, since
    /// they read the assigned reasons and a second gap analysis.
    pub const LOSSES: [Measure; 13] = [
        Measure::IdealTimeSeconds,
        Measure::FullyProductiveSeconds,
        Measure::QualityLossSeconds,
        Measure::SpeedLossSeconds,
        Measure::MicroStopSeconds,
        Measure::MicroStopCount,
        Measure::BreakdownSeconds,
        Measure::SetupSeconds,
        Measure::MinorStopSeconds,
        Measure::PlannedStopSeconds,
        Measure::UnassignedStopSeconds,
        Measure::MtbfSeconds,
        Measure::MttrSeconds,
    ];

    /// Every measure.
    pub fn every() -> impl Iterator<Item = Measure> {
        Self::OEE_FIELDS.into_iter().chain(Self::LOSSES)
    }

    /// Whether it is a loss measure.
    pub fn is_loss(self) -> bool {
        Self::LOSSES.contains(&self)
    }

    /// The field name.
    pub fn key(self) -> &'static str {
        match self {
            Measure::PlannedTimeSeconds => "planned_time_seconds",
            Measure::OperatingTimeSeconds => "operating_time_seconds",
            Measure::TotalDowntimeSeconds => "total_downtime_seconds",
            Measure::DowntimeCount => "downtime_count",
            Measure::TotalProduction => "total_production",
            Measure::GoodUnits => "good_units",
            Measure::RejectedUnits => "rejected_units",
            Measure::TotalWeight => "total_weight",
            Measure::Availability => "availability",
            Measure::Performance => "performance",
            Measure::Quality => "quality",
            Measure::Oee => "oee",
            Measure::IdealTimeSeconds => "ideal_time_seconds",
            Measure::FullyProductiveSeconds => "fully_productive_seconds",
            Measure::QualityLossSeconds => "quality_loss_seconds",
            Measure::SpeedLossSeconds => "speed_loss_seconds",
            Measure::MicroStopSeconds => "micro_stop_seconds",
            Measure::MicroStopCount => "micro_stop_count",
            Measure::BreakdownSeconds => "breakdown_seconds",
            Measure::SetupSeconds => "setup_seconds",
            Measure::MinorStopSeconds => "minor_stop_seconds",
            Measure::PlannedStopSeconds => "planned_stop_seconds",
            Measure::UnassignedStopSeconds => "unassigned_stop_seconds",
            Measure::MtbfSeconds => "mtbf_seconds",
            Measure::MttrSeconds => "mttr_seconds",
        }
    }

    /// A column heading.
    pub fn label(self) -> &'static str {
        match self {
            Measure::PlannedTimeSeconds => "Planned time",
            Measure::OperatingTimeSeconds => "Operating time",
            Measure::TotalDowntimeSeconds => "Downtime",
            Measure::DowntimeCount => "Stops",
            Measure::TotalProduction => "Total production",
            Measure::GoodUnits => "Good units",
            Measure::RejectedUnits => "Rejected units",
            Measure::TotalWeight => "Weight",
            Measure::Availability => "Availability",
            Measure::Performance => "Performance",
            Measure::Quality => "Quality",
            Measure::Oee => "OEE",
            Measure::IdealTimeSeconds => "Ideal time",
            Measure::FullyProductiveSeconds => "Fully productive time",
            Measure::QualityLossSeconds => "Quality loss",
            Measure::SpeedLossSeconds => "Speed loss",
            Measure::MicroStopSeconds => "Micro-stops",
            Measure::MicroStopCount => "Micro-stop count",
            Measure::BreakdownSeconds => "Breakdowns",
            Measure::SetupSeconds => "Setup",
            Measure::MinorStopSeconds => "Minor stops",
            Measure::PlannedStopSeconds => "Planned stops",
            Measure::UnassignedStopSeconds => "Unassigned stops",
            Measure::MtbfSeconds => "MTBF",
            Measure::MttrSeconds => "MTTR",
        }
    }

    /// The unit (`s`, `units`, `kg`, `%`, or empty for a count of stops).
    pub fn unit(self) -> &'static str {
        match self {
            Measure::PlannedTimeSeconds | Measure::OperatingTimeSeconds | Measure::TotalDowntimeSeconds => "s",
            Measure::DowntimeCount | Measure::MicroStopCount => "",
            Measure::TotalProduction | Measure::GoodUnits | Measure::RejectedUnits => "units",
            Measure::TotalWeight => "kg",
            Measure::Availability | Measure::Performance | Measure::Quality | Measure::Oee => "%",
            _ => "s",
        }
    }

    /// How the values read.
    pub fn kind(self) -> ValueKind {
        match self {
            Measure::DowntimeCount
            | Measure::MicroStopCount
            | Measure::TotalProduction
            | Measure::GoodUnits
            | Measure::RejectedUnits => ValueKind::Integer,
            Measure::Availability | Measure::Performance | Measure::Quality | Measure::Oee => ValueKind::Percent,
            _ => ValueKind::Number,
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::every().find(|m| m.key() == name)
    }
}

/// What rows are grouped by, besides time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    /// One group per line.
    Line,
    /// One group per shift (the line's planned time in that shift).
    Shift,
    /// One group per product (the line's planned time, that product's counts).
    Product,
}

impl Dimension {
    /// Every dimension.
    pub const ALL: [Dimension; 3] = [Dimension::Line, Dimension::Shift, Dimension::Product];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Line => "line",
            Dimension::Shift => "shift",
            Dimension::Product => "product",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

/// The time axis of the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    /// One row per shift occurrence, on the production day it starts.
    Shift,
    /// One row per calendar bucket in the tenant's zone.
    Bucket(BucketInterval),
}

impl Grain {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Shift => "shift",
            Grain::Bucket(interval) => interval.as_str(),
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "shift" => Some(Grain::Shift),
            "1hour" => Some(Grain::Bucket(BucketInterval::OneHour)),
            "1day" => Some(Grain::Bucket(BucketInterval::OneDay)),
            "1week" => Some(Grain::Bucket(BucketInterval::OneWeek)),
            "1month" => Some(Grain::Bucket(BucketInterval::OneMonth)),
            _ => None,
        }
    }
}

/// The earlier range a query is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// The range shifted back by its own length.
    PreviousPeriod,
    /// The same local dates one year earlier.
    PreviousYear,
}

impl Compare {
    /// Every comparison.
    pub const ALL: [Compare; 2] = [Compare::PreviousPeriod, Compare::PreviousYear];

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Compare::PreviousPeriod => "previous_period",
            Compare::PreviousYear => "previous_year",
        }
    }

    /// The earlier range.
    pub fn earlier(self, range: &Interval, tz: Tz) -> Option<Interval> {
        match self {
            Compare::PreviousPeriod => {
                let length = range.end - range.start;
                Some(Interval::new(range.start - length, range.start))
            }
            Compare::PreviousYear => {
                let back = |t: DateTime<Utc>| {
                    to_local(t, tz)
                        .checked_sub_months(Months::new(12))
                        .map(|local| crate::analytics::time::resolve_local(tz, local))
                };
                Some(Interval::new(back(range.start)?, back(range.end)?))
            }
        }
    }
}

/// Named ranges in the tenant's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Local midnight today to local midnight tomorrow.
    Today,
    /// The local day before today.
    Yesterday,
    /// Monday 00:00 of this week to next Monday.
    ThisWeek,
    /// The week before this one.
    LastWeek,
    /// The 1st of this month to the 1st of the next.
    ThisMonth,
    /// The month before this one.
    LastMonth,
    /// The seven whole local days before today.
    Last7Days,
    /// The thirty whole local days before today.
    Last30Days,
    /// The occurrence of the lines' shifts running now (the latest to
    /// start, when several are).
    CurrentShift,
    /// The latest occurrence of the lines' shifts that has ended.
    PreviousShift,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 10] = [
        Preset::Today,
        Preset::Yesterday,
        Preset::ThisWeek,
        Preset::LastWeek,
        Preset::ThisMonth,
        Preset::LastMonth,
        Preset::Last7Days,
        Preset::Last30Days,
        Preset::CurrentShift,
        Preset::PreviousShift,
    ];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Today => "today",
            Preset::Yesterday => "yesterday",
            Preset::ThisWeek => "this_week",
            Preset::LastWeek => "last_week",
            Preset::ThisMonth => "this_month",
            Preset::LastMonth => "last_month",
            Preset::Last7Days => "last_7_days",
            Preset::Last30Days => "last_30_days",
            Preset::CurrentShift => "current_shift",
            Preset::PreviousShift => "previous_shift",
        }
    }

    /// The range in zone `tz` at `now`: whole local days, from local
    /// midnight to local midnight (23 or 25 hours on DST days), or for the
    /// shift presets one occurrence of `shifts`. `None` when there is none.
    pub fn range(self, tz: Tz, now: DateTime<Utc>, shifts: &[&ShiftRule]) -> Option<Interval> {
        if matches!(self, Preset::CurrentShift | Preset::PreviousShift) {
            // An occurrence lasts less than two days: three days back cover
            // the latest one that ended.
            let around = Interval::new(now - TimeDelta::try_days(3)?, now + TimeDelta::try_days(2)?);
            let occurrences = shifts.iter().flat_map(|s| s.occurrences(tz, &around));
            return match self {
                Preset::CurrentShift => occurrences.filter(|o| o.contains(now)).max_by_key(|o| (o.start, o.end)),
                _ => occurrences.filter(|o| o.end <= now).max_by_key(|o| (o.end, o.start)),
            };
        }
        let today = to_local(now, tz).date();
        let days = |first: NaiveDate, count: i64| -> Option<Interval> {
            let end = first.checked_add_signed(TimeDelta::try_days(count)?)?;
            Some(Interval::new(local_midnight(tz, first), local_midnight(tz, end)))
        };
        let monday =
            today.checked_sub_signed(TimeDelta::try_days(i64::from(today.weekday().num_days_from_monday()))?)?;
        let first_of_month = today.with_day(1)?;
        match self {
            Preset::Today => days(today, 1),
            Preset::Yesterday => days(today.pred_opt()?, 1),
            Preset::ThisWeek => days(monday, 7),
            Preset::LastWeek => days(monday.checked_sub_signed(TimeDelta::try_days(7)?)?, 7),
            Preset::ThisMonth => Some(Interval::new(
                local_midnight(tz, first_of_month),
                local_midnight(tz, first_of_month.checked_add_months(Months::new(1))?),
            )),
            Preset::LastMonth => Some(Interval::new(
                local_midnight(tz, first_of_month.checked_sub_months(Months::new(1))?),
                local_midnight(tz, first_of_month),
            )),
            Preset::Last7Days => days(today.checked_sub_signed(TimeDelta::try_days(7)?)?, 7),
            Preset::Last30Days => days(today.checked_sub_signed(TimeDelta::try_days(30)?)?, 30),
            Preset::CurrentShift | Preset::PreviousShift => None,
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// The query as a client sends it (JSON body or query parameters), before
/// any check.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct QueryForm {
    /// Lines; none: every active line.
    pub line_ids: Option<Vec<i32>>,
    /// Absolute range start.
    pub start_date: Option<String>,
    /// Absolute range end.
    pub end_date: Option<String>,
    /// Or a named range.
    pub preset: Option<String>,
    /// Time axis.
    pub grain: Option<String>,
    /// Groups.
    pub dimensions: Option<Vec<String>>,
    /// Figures; none: all.
    pub measures: Option<Vec<String>>,
    /// Only these products.
    pub product_ids: Option<Vec<i32>>,
    /// Only these areas (not supported: OEE counts each line's input and output areas).
    pub area_ids: Option<Vec<i32>>,
    /// Only these shifts' occurrences.
    pub shift_ids: Option<Vec<i32>>,
    /// Seconds; none: each line's own.
    pub downtime_threshold: Option<f64>,
    /// Compared range.
    pub compare: Option<String>,
}

/// A checked query: every value typed.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiQuery {
    /// Lines, ascending, each once.
    pub lines: Vec<i32>,
    /// Whether the client named the lines (else: every active line, and a
    /// line that cannot be measured is left out with a warning).
    pub lines_named: bool,
    /// `[start, end)`.
    pub range: Interval,
    /// The preset the range came from, if any.
    pub preset: Option<Preset>,
    /// Time axis; none: one row per group.
    pub grain: Option<Grain>,
    /// Groups, each once, in [`Dimension`] order.
    pub dimensions: Vec<Dimension>,
    /// Figures, each once, in the order asked.
    pub measures: Vec<Measure>,
    /// Only these products (empty: all).
    pub product_ids: Vec<i32>,
    /// Only these shifts (empty: all).
    pub shift_ids: Vec<i32>,
    /// None: each line's own.
    pub threshold: Option<DowntimeThreshold>,
    /// Compared range, if any.
    pub compare: Option<Compare>,
}

impl KpiQuery {
    /// Whether rows are grouped by `dimension`.
    pub fn has(&self, dimension: Dimension) -> bool {
        self.dimensions.contains(&dimension)
    }

    /// Whether a loss measure is asked for (the reasons and micro-stops are
    /// read only then).
    pub fn wants_losses(&self) -> bool {
        self.measures.iter().any(|m| m.is_loss())
    }

    /// The query of this one's group subtotals, when its rows have more
    /// than one grouping (two dimensions, or a dimension and a grain): the
    /// same lines, range and filters grouped by the first dimension only,
    /// over the whole range. Run as a query of its own, a subtotal is
    /// exact like a total: planned time and stops count once per line, not
    /// once per product or time cell.
    pub fn subtotal_query(&self) -> Option<KpiQuery> {
        let first = *self.dimensions.as_slice().first()?;
        let groupings = self.dimensions.len() + usize::from(self.grain.is_some());
        (groupings > 1).then(|| KpiQuery {
            dimensions: vec![first],
            grain: None,
            compare: None,
            ..self.clone()
        })
    }
}

/// Each id once, sorted: repeated ids in a filter change nothing but the
/// size of every statement's IN list.
pub fn distinct(mut ids: Vec<i32>) -> Vec<i32> {
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Checks `form` against the tenant's configuration; every problem is
/// reported at once, each naming its field.
pub fn parse(
    form: &QueryForm,
    snapshot: &PlantSnapshot,
    now: DateTime<Utc>,
    max_range_days: u32,
) -> Result<KpiQuery, Vec<FieldError>> {
    let mut errors = Vec::new();
    let tz = snapshot.timezone;
    let lines = match form.line_ids.as_deref() {
        None | Some([]) => snapshot
            .lines
            .values()
            .filter(|l| l.is_active)
            .map(|l| l.line_id)
            .collect(),
        Some(ids) => {
            for id in ids {
                if !snapshot.lines.get(id).is_some_and(|l| l.is_active) {
                    errors.push(FieldError::new("line_ids", format!("line {id} does not exist")));
                }
            }
            distinct(ids.to_vec())
        }
    };
    let (range, preset) = match (&form.preset, &form.start_date, &form.end_date) {
        (Some(name), None, None) => match Preset::parse(name.trim()) {
            Some(preset) => {
                let rules = snapshot.shift_rules();
                let shifts: Vec<&ShiftRule> = rules
                    .iter()
                    .filter(|s| s.active && lines.iter().any(|line| s.applies_to_line(*line)))
                    .collect();
                match preset.range(tz, now, &shifts) {
                    Some(range) => (Some(range), Some(preset)),
                    None => {
                        let why = match preset {
                            Preset::CurrentShift => "no shift of these lines is running now",
                            Preset::PreviousShift => "no shift of these lines has ended in the last three days",
                            _ => "the range cannot be formed at this date",
                        };
                        errors.push(FieldError::new("preset", why));
                        (None, Some(preset))
                    }
                }
            }
            None => {
                let known: Vec<&str> = Preset::ALL.iter().map(|p| p.as_str()).collect();
                errors.push(FieldError::new(
                    "preset",
                    format!("unknown preset {name:?}; one of {}", known.join(", ")),
                ));
                (None, None)
            }
        },
        (Some(_), _, _) => {
            errors.push(FieldError::new(
                "preset",
                "give either preset or start_date and end_date, not both",
            ));
            (None, None)
        }
        (None, Some(start), Some(end)) => match parse_range(start, end, tz, max_range_days) {
            Ok(range) => (Some(range), None),
            Err(problems) => {
                errors.extend(problems.into_iter().map(FieldError::from));
                (None, None)
            }
        },
        (None, _, _) => {
            errors.push(FieldError::new(
                "start_date",
                "give start_date and end_date, or a preset",
            ));
            (None, None)
        }
    };
    let grain = match form.grain.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => Grain::parse(name).or_else(|| {
            errors.push(FieldError::new(
                "grain",
                format!("unknown grain {name:?}; one of shift, 1hour, 1day, 1week, 1month"),
            ));
            None
        }),
    };
    let mut dimensions = Vec::new();
    for name in form.dimensions.iter().flatten() {
        match Dimension::parse(name.trim()) {
            Some(d) => dimensions.push(d),
            None => errors.push(FieldError::new(
                "dimensions",
                format!("unknown dimension {name:?}; any of line, shift, product"),
            )),
        }
    }
    dimensions.sort_unstable();
    dimensions.dedup();
    let measures = match &form.measures {
        None => Measure::OEE_FIELDS.to_vec(),
        Some(names) if names.is_empty() => Measure::OEE_FIELDS.to_vec(),
        Some(names) => {
            let mut measures = Vec::new();
            for name in names {
                match Measure::parse(name.trim()) {
                    Some(m) if !measures.contains(&m) => measures.push(m),
                    Some(_) => {}
                    None => errors.push(FieldError::new(
                        "measures",
                        format!(
                            "unknown measure {name:?}; any of {}",
                            Measure::every().map(Measure::key).collect::<Vec<_>>().join(", ")
                        ),
                    )),
                }
            }
            measures
        }
    };
    let product_ids = distinct(form.product_ids.clone().unwrap_or_default());
    for id in &product_ids {
        if !snapshot.products.contains_key(id) {
            errors.push(FieldError::new("product_ids", format!("product {id} does not exist")));
        }
    }
    let shift_ids = distinct(form.shift_ids.clone().unwrap_or_default());
    for id in &shift_ids {
        if !snapshot.shifts.contains_key(id) {
            errors.push(FieldError::new("shift_ids", format!("shift {id} does not exist")));
        }
    }
    if form.area_ids.as_ref().is_some_and(|ids| !ids.is_empty()) {
        errors.push(FieldError::new(
            "area_ids",
            "not supported: OEE counts each line's input and output areas (semantics §3); \
             use /data/detections for other areas",
        ));
    }
    let threshold = match form.downtime_threshold {
        None => None,
        Some(seconds) => DowntimeThreshold::from_seconds_f64(seconds)
            .map_err(|e| errors.push(FieldError::new("downtime_threshold", e.to_string())))
            .ok(),
    };
    let compare = match form.compare.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => Compare::parse(name).or_else(|| {
            errors.push(FieldError::new(
                "compare",
                format!("unknown comparison {name:?}; one of previous_period, previous_year"),
            ));
            None
        }),
    };
    match range {
        Some(range) if errors.is_empty() => Ok(KpiQuery {
            lines_named: form.line_ids.as_ref().is_some_and(|ids| !ids.is_empty()),
            lines,
            range,
            preset,
            grain,
            dimensions,
            measures,
            product_ids,
            shift_ids,
            threshold,
            compare,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn subtotals_group_by_the_first_dimension_when_rows_have_two_groupings() {
        let base = KpiQuery {
            lines: vec![1, 2],
            lines_named: true,
            range: crate::analytics::interval::Interval::new(
                chrono::DateTime::UNIX_EPOCH,
                chrono::DateTime::UNIX_EPOCH,
            ),
            preset: None,
            grain: None,
            dimensions: vec![Dimension::Line],
            measures: Measure::OEE_FIELDS.to_vec(),
            product_ids: vec![3],
            shift_ids: Vec::new(),
            threshold: None,
            compare: Some(Compare::PreviousPeriod),
        };
        assert_eq!(base.subtotal_query(), None, "one grouping: the rows are the subtotals");
        let by_day = KpiQuery {
            grain: Some(Grain::Bucket(crate::analytics::buckets::BucketInterval::OneDay)),
            ..base.clone()
        };
        let sub = by_day.subtotal_query().expect("line × day has line subtotals");
        assert_eq!(
            (sub.dimensions.clone(), sub.grain, sub.compare),
            (vec![Dimension::Line], None, None)
        );
        assert_eq!(
            (sub.lines.clone(), sub.product_ids.clone()),
            (vec![1, 2], vec![3]),
            "same lines and filters"
        );
        let by_shift_product = KpiQuery {
            dimensions: vec![Dimension::Shift, Dimension::Product],
            ..base.clone()
        };
        assert_eq!(
            by_shift_product.subtotal_query().map(|q| q.dimensions),
            Some(vec![Dimension::Shift])
        );
        let grain_only = KpiQuery {
            dimensions: Vec::new(),
            ..by_day
        };
        assert_eq!(
            grain_only.subtotal_query(),
            None,
            "time alone: the totals are its subtotal"
        );
    }

    use super::*;
    use chrono::TimeZone;

    fn at(tz: Tz, y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, m, d, h, 0, 0)
            .single()
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn presets_are_whole_local_days_in_the_tenant_zone() {
        let tz: Tz = "America/Santiago".parse().expect("zone");
        // Saturday 2026-11-28, 15:00 local.
        let now = at(tz, 2026, 11, 28, 15);
        let range = |p: Preset| p.range(tz, now, &[]).expect("range");
        assert_eq!(
            range(Preset::Today),
            Interval::new(at(tz, 2026, 11, 28, 0), at(tz, 2026, 11, 29, 0))
        );
        assert_eq!(
            range(Preset::Yesterday),
            Interval::new(at(tz, 2026, 11, 27, 0), at(tz, 2026, 11, 28, 0))
        );
        assert_eq!(
            range(Preset::ThisWeek),
            Interval::new(at(tz, 2026, 11, 23, 0), at(tz, 2026, 11, 30, 0))
        );
        assert_eq!(
            range(Preset::LastWeek),
            Interval::new(at(tz, 2026, 11, 16, 0), at(tz, 2026, 11, 23, 0))
        );
        assert_eq!(
            range(Preset::ThisMonth),
            Interval::new(at(tz, 2026, 11, 1, 0), at(tz, 2026, 12, 1, 0))
        );
        assert_eq!(
            range(Preset::LastMonth),
            Interval::new(at(tz, 2026, 10, 1, 0), at(tz, 2026, 11, 1, 0))
        );
        assert_eq!(
            range(Preset::Last7Days),
            Interval::new(at(tz, 2026, 11, 21, 0), at(tz, 2026, 11, 28, 0))
        );
        assert_eq!(
            range(Preset::Last30Days),
            Interval::new(at(tz, 2026, 10, 29, 0), at(tz, 2026, 11, 28, 0))
        );
    }

    #[test]
    fn a_preset_over_a_dst_change_keeps_local_midnights() {
        let tz: Tz = "Europe/Madrid".parse().expect("zone");
        // Sunday 2026-10-25 is 25 hours long in Madrid.
        let now = at(tz, 2026, 10, 26, 9);
        let yesterday = Preset::Yesterday.range(tz, now, &[]).expect("range");
        assert_eq!(yesterday.duration_micros(), 25 * 3_600_000_000);
    }

    #[test]
    fn shift_presets_are_the_running_and_the_last_ended_occurrence() {
        let tz: Tz = "America/Santiago".parse().expect("zone");
        let rule = |id: i32, start: u32, end: u32| ShiftRule {
            shift_id: id,
            start_time: chrono::NaiveTime::from_hms_opt(start, 0, 0).expect("time"),
            end_time: chrono::NaiveTime::from_hms_opt(end, 0, 0).expect("time"),
            is_overnight: end <= start,
            days: chrono::WeekdaySet::ALL,
            active: true,
            line_ids: None,
            breaks: Vec::new(),
        };
        let (day, night) = (rule(1, 7, 19), rule(2, 19, 7));
        let shifts = [&day, &night];
        // 02:00 local on Saturday 2026-11-28: the night shift that began
        // Friday 19:00 runs; the day shift of Friday ended last.
        let now = at(tz, 2026, 11, 28, 2);
        assert_eq!(
            Preset::CurrentShift.range(tz, now, &shifts),
            Some(Interval::new(at(tz, 2026, 11, 27, 19), at(tz, 2026, 11, 28, 7)))
        );
        assert_eq!(
            Preset::PreviousShift.range(tz, now, &shifts),
            Some(Interval::new(at(tz, 2026, 11, 27, 7), at(tz, 2026, 11, 27, 19)))
        );
        assert_eq!(Preset::CurrentShift.range(tz, now, &[]), None);
    }

    #[test]
    fn comparisons_go_back_by_the_length_or_by_a_local_year() {
        let tz: Tz = "Europe/Madrid".parse().expect("zone");
        let range = Interval::new(at(tz, 2026, 11, 2, 0), at(tz, 2026, 11, 9, 0));
        assert_eq!(
            Compare::PreviousPeriod.earlier(&range, tz),
            Some(Interval::new(at(tz, 2026, 10, 26, 0), at(tz, 2026, 11, 2, 0)))
        );
        assert_eq!(
            Compare::PreviousYear.earlier(&range, tz),
            Some(Interval::new(at(tz, 2025, 11, 2, 0), at(tz, 2025, 11, 9, 0)))
        );
    }
}
