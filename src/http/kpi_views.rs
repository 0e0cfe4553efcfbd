//! The HTTP shapes of the single-line KPIs: the request every KPI endpoint
//! takes ([`KpiFilters`]) and the JSON views of [`crate::kpi`]'s answers,
//! with instants written in the tenant's offset, and those of the persisted
//! downtime events ([`crate::kpi::persisted`]). The domain types know
//! nothing of poem or of JSON.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::analytics::interval::micros_to_seconds;
use crate::analytics::time::format_instant;
use crate::kpi::persisted::{DowntimeRecord, Recalculated};
use crate::kpi::{Downtime, LineForm, Oee, Summary};

/// What every KPI request names.
#[derive(Debug, Clone, poem_openapi::Object, serde::Serialize)]
pub struct KpiFilters {
    /// Line.
    pub line_id: i32,
    /// Range start: RFC 3339, or local time in the tenant's zone without an offset. Inclusive.
    #[oai(validator(max_length = 64))]
    pub start_date: String,
    /// Range end, exclusive. May lie in the future (everything is clipped at now).
    #[oai(validator(max_length = 64))]
    pub end_date: String,
    /// Only these products in the production counts (downtime ignores it: a stopped line is stopped).
    #[oai(nullable)]
    pub product_ids: Option<Vec<i32>>,
    /// Only this shift's occurrences form the planned time.
    #[oai(nullable)]
    pub shift_id: Option<i32>,
    /// Gap in seconds above which the line counts as stopped (> 0); default the line's own.
    #[oai(nullable)]
    pub downtime_threshold: Option<f64>,
}

impl KpiFilters {
    /// The request as the domain's unchecked form.
    pub fn form(&self) -> LineForm {
        LineForm {
            line_id: self.line_id,
            start_date: self.start_date.clone(),
            end_date: self.end_date.clone(),
            product_ids: self.product_ids.clone().unwrap_or_default(),
            shift_id: self.shift_id,
            downtime_threshold: self.downtime_threshold,
        }
    }
}

fn instant(at: DateTime<Utc>, tz: Tz) -> String {
    format_instant(at, tz)
}

/// OEE of a line over a range (semantics §5).
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct OeeResponse {
    /// Line.
    pub line_id: i32,
    /// Range start, tenant offset.
    pub start_date: String,
    /// Range end, tenant offset.
    pub end_date: String,
    /// |P|: planned time inside the range, clipped at now.
    pub planned_time_seconds: f64,
    /// Sum of downtime event durations.
    pub total_downtime_seconds: f64,
    /// Number of downtime events.
    pub downtime_count: u64,
    /// Planned minus downtime.
    pub operating_time_seconds: f64,
    /// Operating / planned × 100 (0 when nothing is planned).
    pub availability: f64,
    /// Input-area detections inside P (product filter applies).
    pub total_production: u64,
    /// Output-area detections inside P (product filter applies).
    pub good_units: u64,
    /// max(total_production − good_units, 0).
    pub rejected_units: u64,
    /// Ideal time / operating time × 100; null when a counted product has no `production_std`.
    #[oai(nullable)]
    pub performance: Option<f64>,
    /// Good / total × 100 (100 when nothing was produced).
    pub quality: f64,
    /// Availability × performance × quality / 10 000 (from unrounded factors); null with performance.
    #[oai(nullable)]
    pub oee: Option<f64>,
    /// Σ good units × product weight, kg, 2 decimals.
    pub total_weight: f64,
    /// Why a figure is null or doubtful.
    pub warnings: Vec<String>,
    /// The tenant's rule that formed the planned time: true when stops whose
    /// reason has the loss class `planned` left it, false when they counted
    /// as downtime (`GET /tenant`).
    pub planned_stops_reduce_planned_time: bool,
    /// Up to when rows written straight into the raw table are included (the rollup watermark); API-ingested detections always are.
    pub data_as_of: String,
}

impl OeeResponse {
    /// `oee` with instants in `tz`.
    pub fn view(oee: Oee, tz: Tz) -> Self {
        OeeResponse {
            line_id: oee.line_id,
            start_date: instant(oee.range.start, tz),
            end_date: instant(oee.range.end, tz),
            planned_time_seconds: oee.planned_time_seconds,
            total_downtime_seconds: oee.total_downtime_seconds,
            downtime_count: oee.downtime_count,
            operating_time_seconds: oee.operating_time_seconds,
            availability: oee.availability,
            total_production: oee.total_production,
            good_units: oee.good_units,
            rejected_units: oee.rejected_units,
            performance: oee.performance,
            quality: oee.quality,
            oee: oee.oee,
            total_weight: oee.total_weight,
            warnings: oee.warnings,
            planned_stops_reduce_planned_time: oee.planned_stops_reduce_planned_time,
            data_as_of: instant(oee.data_as_of, tz),
        }
    }
}

/// Production summary (semantics §5, last rule).
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct SummaryResponse {
    /// Line.
    pub line_id: i32,
    /// Input-area detections over the range (a shift's occurrences with `shift_id`).
    pub total_production: u64,
    /// Σ output-area detections × product weight, kg, 2 decimals.
    pub total_weight: f64,
    /// Output-area detections per product name.
    pub product_distribution: BTreeMap<String, u64>,
    /// Downtime events (inside planned time, as in the OEE).
    pub downtime_count: u64,
    /// Their total duration.
    pub total_downtime_seconds: f64,
    /// Up to when rows written straight into the raw table are included (the rollup watermark); API-ingested detections always are.
    pub data_as_of: String,
}

impl SummaryResponse {
    /// `summary` with instants in `tz`.
    pub fn view(summary: Summary, tz: Tz) -> Self {
        SummaryResponse {
            line_id: summary.line_id,
            total_production: summary.total_production,
            total_weight: summary.total_weight,
            product_distribution: summary.product_distribution,
            downtime_count: summary.downtime_count,
            total_downtime_seconds: summary.total_downtime_seconds,
            data_as_of: instant(summary.data_as_of, tz),
        }
    }
}

/// One downtime event.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct DowntimeEventView {
    /// Start (last detection before the stop, or the start of planned time), tenant offset.
    pub start: String,
    /// End (first detection after, end of planned time, or now), tenant offset.
    pub end: String,
    /// Duration in seconds.
    pub duration_seconds: f64,
    /// True when the line is still stopped.
    pub ongoing: bool,
}

/// Downtime events of a line.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct DowntimeResponse {
    /// Line.
    pub line_id: i32,
    /// Threshold used, seconds.
    pub downtime_threshold: f64,
    /// Events in time order.
    pub events: Vec<DowntimeEventView>,
    /// Number of events.
    pub downtime_count: u64,
    /// Their total duration.
    pub total_downtime_seconds: f64,
    /// Up to when rows written straight into the raw table are included (the rollup watermark); API-ingested detections always are.
    pub data_as_of: String,
}

impl DowntimeResponse {
    /// `downtime` with instants in `tz`.
    pub fn view(downtime: Downtime, tz: Tz) -> Self {
        DowntimeResponse {
            line_id: downtime.line_id,
            downtime_threshold: micros_to_seconds(downtime.threshold.micros()),
            downtime_count: downtime.events.len() as u64,
            total_downtime_seconds: downtime.total_seconds(),
            events: downtime
                .events
                .iter()
                .map(|e| DowntimeEventView {
                    start: instant(e.start, tz),
                    end: instant(e.end, tz),
                    duration_seconds: micros_to_seconds(e.duration_micros),
                    ongoing: e.ongoing,
                })
                .collect(),
            data_as_of: instant(downtime.data_as_of, tz),
        }
    }
}

/// What a recalculation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, poem_openapi::Object)]
pub struct RecalculateReport {
    /// Events added.
    pub inserted: usize,
    /// Events whose bounds changed.
    pub updated: usize,
    /// Events that no longer exist.
    pub deleted: usize,
    /// Events kept only because a person gave them a reason no new event carries.
    pub orphaned: usize,
}

impl From<Recalculated> for RecalculateReport {
    fn from(report: Recalculated) -> Self {
        RecalculateReport {
            inserted: report.inserted,
            updated: report.updated,
            deleted: report.deleted,
            orphaned: report.orphaned,
        }
    }
}

/// A persisted event.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct PersistedEvent {
    /// Id (per line).
    pub event_id: i64,
    /// Start, tenant offset.
    pub start: String,
    /// End, tenant offset.
    pub end: String,
    /// Duration in seconds.
    pub duration_seconds: f64,
    /// Still stopped when last computed.
    pub ongoing: bool,
    /// Reason of the tenant's tree a person assigned.
    #[oai(nullable)]
    pub reason_id: Option<i32>,
    /// That reason's name, in the tenant's language.
    #[oai(nullable)]
    pub reason_name: Option<String>,
    /// That reason's colour.
    #[oai(nullable)]
    pub reason_color: Option<String>,
    /// That reason's loss class; `unassigned` when the event has none.
    pub loss_class: crate::http::plant::reasons::LossClassView,
    /// Reason code a person assigned.
    #[oai(nullable)]
    pub reason_code: Option<String>,
    /// Reason a person wrote (the comment).
    #[oai(nullable)]
    pub reason: Option<String>,
    /// The incident the stop belongs to.
    #[oai(nullable)]
    pub incident_id: Option<i32>,
}

impl PersistedEvent {
    /// `event` with instants in the snapshot's zone and its reason's name
    /// (tenant language), colour and loss class.
    pub fn view(event: DowntimeRecord, snapshot: &crate::plant::cache::PlantSnapshot) -> Self {
        let tz = snapshot.timezone;
        let reason = event.reason_id.and_then(|id| snapshot.reasons.get(&id));
        PersistedEvent {
            event_id: event.event_id,
            start: instant(event.start, tz),
            end: instant(event.end, tz),
            // A span of more than 292 000 years has no microsecond count; none is stored.
            duration_seconds: micros_to_seconds((event.end - event.start).num_microseconds().unwrap_or(0)),
            ongoing: event.ongoing,
            reason_id: event.reason_id,
            reason_name: reason.map(|r| r.name(snapshot.language).to_owned()),
            reason_color: reason.map(|r| r.color.clone()),
            loss_class: reason
                .map_or(crate::reasons::LossClass::Unassigned, |r| r.loss())
                .into(),
            reason_code: event.reason_code,
            reason: event.reason,
            incident_id: event.incident_id,
        }
    }
}
