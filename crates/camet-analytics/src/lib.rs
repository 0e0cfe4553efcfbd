//! The analytics engine: the exact KPI math of Camet Analytics
//! (the semantics document, §1–§6).
//!
//! This module owns planned time, downtime gap analysis, OEE and time
//! buckets. It is pure: no I/O, no database, no clock. Callers pass the
//! tenant's time zone, the plant configuration, detection instants (or
//! per-minute summaries) and `now`; the same inputs always give the same
//! numbers, which is what lets rollup-backed answers be checked against raw
//! scans.
//!
//! Conventions:
//! - instants are `DateTime<Utc>` with microsecond precision
//!   ([`time::truncate_micros`]); ranges are half-open [`Interval`]s;
//! - durations are integer microseconds, converted to seconds only for output;
//! - percentages are exact decimals rounded half away from zero to 2 places;
//! - every computation is clipped at `now`: nothing after it is planned,
//!   counted or a downtime.
//!
//! Typical flow for `/metrics/oee`: [`time::parse_range`] →
//! [`areas::select_areas`] → [`shifts::plan`] → [`downtime::downtime_events`]
//! (or [`downtime::downtime_events_from_spans`] on rollups) →
//! [`oee::compute_oee`]. Persisted events are recomputed over
//! [`reconcile::expand_window`] and written with [`reconcile::reconcile_events`].

pub mod areas;
pub mod buckets;
pub mod downtime;
pub mod error;
pub mod gaps;
pub mod interval;
pub mod losses;
pub mod oee;
pub mod reconcile;
pub mod shifts;
pub mod time;

pub use areas::{AreaRef, AreaType, LineAreas, select_areas};
pub use buckets::{Bucket, BucketInterval, BucketSeries, MAX_BUCKETS, generate_buckets};
pub use downtime::{
    DetectionSpan, DowntimeEvent, DowntimeThreshold, SpanError, downtime_events, downtime_events_from_spans,
};
pub use error::AnalyticsError;
pub use gaps::{Gap, GapFloor, downtime_events_from_gaps, gaps_between, split_gap, timeline_gaps};
pub use interval::{Interval, IntervalSet, micros_to_seconds};
pub use losses::{ClassifiedStop, LossBucket, LossClass, LossInput, Losses, ProductFlow, compute_losses};
pub use oee::{OeeInput, OeeResult, ProductCount, compute_oee, total_weight};
pub use reconcile::{EventWrite, ReconcilePlan, StoredEvent, expand_window, reconcile_events};
pub use shifts::{CalendarEntry, Plan, PlanBasis, Schedule, ShiftBreak, ShiftRule, counting_scope, plan, planned_set};
pub use time::{DEFAULT_MAX_RANGE_DAYS, format_instant, parse_instant, parse_range, resolve_local, validate_range};
