//! Where a line's planned time went (semantics §10): the engine's basis of
//! a single-line query (planned set, downtime events, counts) plus each
//! event's reason class and the micro-stops, split by
//! [`crate::analytics::losses`]. Takes a connection and the cached
//! configuration; the JSON view lives in `http::kpi_views`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::analytics::downtime::DowntimeThreshold;
use crate::analytics::interval::Interval;
use crate::analytics::losses::{ClassifiedStop, LossClass, LossInput, Losses, ProductFlow, compute_losses};
use crate::db::DbConn;
use crate::error::{AppError, AppResult};
use crate::kpi::Prepared;
use crate::plant::cache::PlantSnapshot;
use crate::query::run::counts_within;
use crate::rollup::read::{self, GapQuery};

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
    /// Up to when direct writes are included (as the OEE's).
    pub data_as_of: DateTime<Utc>,
}

/// The reason and loss class of each event, joined on its start instant
/// with the persisted events (people assign reasons to those).
pub type StopClasses = HashMap<DateTime<Utc>, (Option<i32>, LossClass)>;

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
    let stops: Vec<ClassifiedStop> = basis
        .events
        .iter()
        .map(|event| {
            let (reason_id, loss_class) = classes
                .get(&event.start)
                .copied()
                .unwrap_or((None, LossClass::Unassigned));
            ClassifiedStop {
                duration_micros: event.duration_micros,
                loss_class,
                reason_id,
            }
        })
        .collect();
    let micro_stops = if micro_threshold < basis.threshold {
        // Every gap of the timeline longer than the micro-stop threshold
        // is an event at that threshold; those not longer than the
        // downtime threshold are the micro-stops.
        let shorter = read::downtime_events(
            conn,
            basis.line_id,
            basis.areas.output_area_id,
            &GapQuery {
                planned: &basis.planned,
                threshold: micro_threshold,
                now,
            },
            basis.rolled,
            basis.minutes.as_ref(),
        )
        .await?;
        shorter
            .into_iter()
            .map(|event| event.duration_micros)
            .filter(|micros| *micros <= basis.threshold.micros())
            .collect()
    } else {
        Vec::new()
    };
    let products = &prepared.query.product_ids;
    let counted = counts_within(conn, basis, products, &[&basis.planned]).await?;
    let (inputs, outputs) = counted.into_iter().next().unwrap_or_default();
    let mut warnings = Vec::new();
    let mut flows: Vec<ProductFlow> = Vec::new();
    for product_id in inputs.keys().chain(outputs.keys()) {
        if flows.iter().any(|f| f.product_id == *product_id) {
            continue;
        }
        let input_count = inputs.get(product_id).copied().unwrap_or(0);
        let product = snapshot.product_count(*product_id, input_count);
        let production_std = product.production_std;
        if input_count > 0 && production_std.is_none_or(|s| s <= rust_decimal::Decimal::ZERO) {
            warnings.push(format!(
                "product '{}' (id {product_id}) has no positive production_std: ideal time, speed loss, quality loss and fully productive time cannot be computed",
                product.product_name
            ));
        }
        flows.push(ProductFlow {
            product_id: *product_id,
            input_count,
            output_count: outputs.get(product_id).copied().unwrap_or(0),
            production_std,
        });
    }
    let calendar_micros = prepared
        .query
        .range
        .clip_to_now(now)
        .map_or(0, |clipped| clipped.duration_micros());
    let losses = compute_losses(&LossInput {
        planned_micros: basis.planned.total_micros(),
        stops: &stops,
        micro_stop_micros: &micro_stops,
        products: &flows,
        calendar_micros,
    });
    Ok(LineLosses {
        line_id: basis.line_id,
        range: prepared.query.range,
        downtime_threshold: basis.threshold,
        micro_stop_threshold: micro_threshold,
        losses,
        warnings,
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
    let line_id = prepared.basis.line_id;
    let window = prepared.query.range;
    let records = super::persisted::list(conn, snapshot, line_id, window).await?;
    Ok(records
        .into_iter()
        .filter_map(|record| {
            let reason = record.reason_id.and_then(|id| snapshot.reasons.get(&id))?;
            Some((record.start, (Some(reason.reason_id), reason.loss())))
        })
        .collect())
}
