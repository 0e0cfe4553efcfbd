//! Where a line's planned time went (semantics §10): the engine's basis of
//! a single-line query (planned set, downtime events, counts) plus each
//! event's reason class and the micro-stops, split by
//! [`crate::analytics::losses`]. Takes a connection and the cached
//! configuration; the JSON view lives in `http::kpi_views`.

use chrono::{DateTime, Utc};

use crate::analytics::downtime::DowntimeThreshold;
use crate::analytics::interval::Interval;
use crate::analytics::losses::Losses;
use crate::db::DbConn;
use crate::error::{AppError, AppResult};
use crate::kpi::Prepared;
use crate::plant::cache::PlantSnapshot;
use crate::query::run::{Parts, counts_within, loss_parts, micro_stop_events};

/// The loss split of one line over a range.
#[derive(Debug, Clone, PartialEq)]
pub struct LineLosses {
    /// Line.
    pub line_id: i32,
    /// The range asked for.
    pub range: Interval,
    /// Gaps longer than this are stops.
    pub downtime_threshold: DowntimeThreshold,
    /// Gaps longer than this, and not stops, are micro-stops.
    pub micro_stop_threshold: DowntimeThreshold,
    /// The split.
    pub losses: Losses,
    /// Why a figure is none.
    pub warnings: Vec<String>,
    /// The tenant's planned-stops rule that formed P (semantics §10).
    pub planned_stops_reduce_planned_time: bool,
    /// Up to when direct writes are included (as the OEE's).
    pub data_as_of: DateTime<Utc>,
}

/// The reason and loss class of each event, joined on its start instant
/// with the persisted events (people assign reasons to those).
pub use crate::reasons::assigned::StopClasses;

/// The loss split of `prepared`'s line, counting only `products` (all when
/// empty); `classes` gives the events' reasons (unassigned when absent).
pub async fn losses(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    prepared: &Prepared,
    classes: &StopClasses,
    now: DateTime<Utc>,
) -> AppResult<LineLosses> {
    let basis = &prepared.basis;
    let line = snapshot
        .lines
        .get(&basis.line_id)
        .ok_or_else(|| AppError::internal("a prepared line left the configuration"))?;
    let micro_threshold = micro_stop_threshold(line)?;
    let micro_stops = micro_stop_events(conn, snapshot, basis, now).await?;
    let counted = counts_within(conn, basis, &prepared.query.product_ids, &[&basis.counted]).await?;
    let (inputs, outputs) = counted.into_iter().next().unwrap_or_default();
    let warnings = inputs
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(id, n)| snapshot.product_count(*id, *n))
        .filter(|product| product.production_std.is_none_or(|s| s <= rust_decimal::Decimal::ZERO))
        .map(|product| {
            format!(
                "product '{}' (id {}) has no positive production_std: ideal time, speed loss, quality loss and fully productive time cannot be computed",
                product.product_name, product.product_id
            )
        })
        .collect();
    let parts = Parts {
        planned_micros: basis.planned.total_micros(),
        losses: loss_parts(classes, &micro_stops, &basis.events, &basis.planned),
        events: basis.events.clone(),
        inputs,
        outputs,
    };
    let calendar_micros = prepared
        .query
        .range
        .clip_to_now(now)
        .map_or(0, |clipped| clipped.duration_micros());
    let losses = parts.loss_split(snapshot, calendar_micros);
    Ok(LineLosses {
        line_id: basis.line_id,
        range: prepared.query.range,
        downtime_threshold: basis.threshold,
        micro_stop_threshold: micro_threshold,
        losses,
        warnings,
        planned_stops_reduce_planned_time: snapshot.planned_stops_reduce_planned_time,
        data_as_of: prepared.data_as_of(now),
    })
}

/// The line's micro-stop threshold.
fn micro_stop_threshold(line: &crate::plant::models::LineRow) -> AppResult<DowntimeThreshold> {
    DowntimeThreshold::from_seconds(i64::from(line.micro_stop_threshold)).map_err(AppError::internal)
}

/// The reason and loss class of every persisted event of the prepared
/// line's range, keyed by start instant (a reason no longer in the tree
/// reads as unassigned).
pub async fn stop_classes(conn: &mut DbConn, snapshot: &PlantSnapshot, prepared: &Prepared) -> AppResult<StopClasses> {
    crate::reasons::assigned::stop_classes(conn, snapshot, prepared.basis.line_id, &prepared.query.range).await
}
