//! KPIs of one line over a range — OEE and its factors, the production
//! summary, downtime events — as views of the one query engine
//! ([`crate::query`]). A request becomes a typed single-line
//! [`KpiQuery`] once ([`line_query`]); its [`LineBasis`] (planned set and
//! downtime events) is computed once ([`prepare`]) and every view reads its
//! counts through the engine. Takes a connection and the cached
//! configuration, never the application state; the HTTP shapes live in
//! `http`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;

pub mod losses;
pub mod pending;
pub mod persisted;
pub mod series;

use crate::analytics::downtime::{DowntimeEvent, DowntimeThreshold, total_downtime_micros};
use crate::analytics::interval::{Interval, IntervalSet, micros_to_seconds};
use crate::analytics::time::parse_range;
use crate::db::DbConn;
use crate::detections::line_of;
use crate::error::{AppError, AppResult, FieldError};
use crate::plant::cache::PlantSnapshot;
use crate::query::model::{KpiQuery, Measure, distinct};
use crate::query::run::{LineBasis, Parts, counts_within, line_basis};

/// 422 fields for product and shift ids the tenant does not have.
pub(crate) fn unknown_ids(snapshot: &PlantSnapshot, product_ids: &[i32], shift_id: Option<i32>) -> Vec<FieldError> {
    let mut errors: Vec<FieldError> = product_ids
        .iter()
        .filter(|id| !snapshot.products.contains_key(id))
        .map(|id| FieldError::new("product_ids", format!("product {id} does not exist")))
        .collect();
    if let Some(shift) = shift_id.filter(|s| !snapshot.shifts.contains_key(s)) {
        errors.push(FieldError::new("shift_id", format!("shift {shift} does not exist")));
    }
    errors
}

/// One line's KPI request as a client names it (an HTTP body or query, a
/// widget's params), before any check.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LineForm {
    /// Line.
    pub line_id: i32,
    /// Range start: RFC 3339, or tenant local time without an offset.
    pub start_date: String,
    /// Range end, exclusive.
    pub end_date: String,
    /// Only these products in the production counts.
    pub product_ids: Vec<i32>,
    /// Only this shift's occurrences.
    pub shift_id: Option<i32>,
    /// Seconds; none: the line's own.
    pub downtime_threshold: Option<f64>,
}

/// One line's KPI request with every value typed, not yet checked
/// against the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LineRequest {
    /// Line.
    pub line_id: i32,
    /// `[start, end)`.
    pub range: Interval,
    /// Only these products in the production counts (empty: all).
    pub product_ids: Vec<i32>,
    /// Only this shift's occurrences.
    pub shift_id: Option<i32>,
    /// None: the line's own.
    pub threshold: Option<DowntimeThreshold>,
}

/// The 422 fields of `request` against the configuration (products,
/// shift, the line's areas); empty when it can be measured.
fn configuration_errors(
    snapshot: &PlantSnapshot,
    line_id: i32,
    product_ids: &[i32],
    shift_id: Option<i32>,
) -> Vec<FieldError> {
    let mut errors = unknown_ids(snapshot, product_ids, shift_id);
    if let Err(e) = snapshot.line_areas(line_id) {
        errors.push(FieldError::new("line_id", e.to_string()));
    }
    errors
}

fn single_line(request: &LineRequest) -> KpiQuery {
    KpiQuery {
        lines: vec![request.line_id],
        lines_named: true,
        range: request.range,
        preset: None,
        grain: None,
        dimensions: Vec::new(),
        measures: Measure::OEE_FIELDS.to_vec(),
        product_ids: distinct(request.product_ids.clone()),
        shift_ids: request.shift_id.into_iter().collect(),
        threshold: request.threshold,
        compare: None,
    }
}

/// Checks a typed `request` and makes it the single-line query of the
/// engine: 404 for a line the tenant does not have, else one 422 naming
/// every failing field.
pub fn checked_query(request: &LineRequest, snapshot: &PlantSnapshot) -> AppResult<KpiQuery> {
    line_of(snapshot, request.line_id)?;
    let errors = configuration_errors(snapshot, request.line_id, &request.product_ids, request.shift_id);
    if errors.is_empty() {
        Ok(single_line(request))
    } else {
        Err(AppError::invalid_fields(errors))
    }
}

/// Types and checks `form` (see [`checked_query`]); every failing field is
/// reported at once.
pub fn line_query(form: &LineForm, snapshot: &PlantSnapshot, max_range_days: u32) -> AppResult<KpiQuery> {
    line_of(snapshot, form.line_id)?;
    let mut errors: Vec<FieldError> = Vec::new();
    let range = parse_range(&form.start_date, &form.end_date, snapshot.timezone, max_range_days)
        .map_err(|e| errors.extend(e.into_iter().map(FieldError::from)))
        .ok();
    let threshold = form
        .downtime_threshold
        .map(DowntimeThreshold::from_seconds_f64)
        .transpose()
        .map_err(|e| errors.push(FieldError::new("downtime_threshold", e.to_string())))
        .ok()
        .flatten();
    errors.extend(configuration_errors(
        snapshot,
        form.line_id,
        &form.product_ids,
        form.shift_id,
    ));
    match range {
        Some(range) if errors.is_empty() => Ok(single_line(&LineRequest {
            line_id: form.line_id,
            range,
            product_ids: form.product_ids.clone(),
            shift_id: form.shift_id,
            threshold,
        })),
        _ => Err(AppError::invalid_fields(errors)),
    }
}

/// A single-line query with its basis: computed once, it serves every view
/// of that line, range, shift and threshold, whatever their products.
#[derive(Debug, Clone)]
pub struct Prepared {
    query: KpiQuery,
    basis: LineBasis,
}

impl Prepared {
    /// The output area's minute rollup the gap analysis read, if kept.
    pub fn minute_rows(&self) -> Option<&crate::rollup::read::MinuteRows> {
        self.basis.minutes.as_ref()
    }

    /// The query it answers.
    pub fn query(&self) -> &KpiQuery {
        &self.query
    }

    fn line_id(&self) -> i32 {
        self.basis.line_id
    }

    /// The shift the query is restricted to, if any.
    fn shift_id(&self) -> Option<i32> {
        self.query.shift_ids.as_slice().first().copied()
    }

    /// The line's rollup watermark clipped at now, if it has one: an
    /// answer over a range ending before it is settled.
    pub fn watermark(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.basis.rolled.watermark.map(|w| w.min(now))
    }

    /// Up to when rows written straight into the raw table are included:
    /// the watermark (later direct writes before it need a rollup
    /// refresh), or now when nothing was read from rollups.
    fn data_as_of(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.watermark(now).unwrap_or(now)
    }
}

/// Computes the basis of a single-line `query` (see [`line_query`]). With
/// `keep_minutes`, the minute rows the gap analysis reads are kept for a
/// production chart of the same request ([`Prepared::minute_rows`]).
pub async fn prepare(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    query: KpiQuery,
    now: DateTime<Utc>,
    keep_minutes: bool,
) -> AppResult<Prepared> {
    let [line_id] = query.lines[..] else {
        return Err(AppError::internal("a line KPI query names exactly one line"));
    };
    let basis = line_basis(conn, snapshot, &query, now, line_id, keep_minutes)
        .await?
        .map_err(|why| AppError::invalid_field("line_id", why))?;
    Ok(Prepared { query, basis })
}

/// A decimal as a JSON number (percentages, kg): exact to its 2 decimals.
fn number(d: rust_decimal::Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// OEE of a line over a range (semantics §5).
#[derive(Debug, Clone, PartialEq)]
pub struct Oee {
    /// Line.
    pub line_id: i32,
    /// The range asked for.
    pub range: Interval,
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
    /// Ideal time / operating time × 100; none when a counted product has no `production_std`.
    pub performance: Option<f64>,
    /// Good / total × 100 (100 when nothing was produced).
    pub quality: f64,
    /// Availability × performance × quality / 10 000; none with performance.
    pub oee: Option<f64>,
    /// Σ good units × product weight, kg, 2 decimals.
    pub total_weight: f64,
    /// Why a figure is none or doubtful.
    pub warnings: Vec<String>,
    /// The tenant's rule that formed P: stops with a `planned` reason left
    /// it (true) or counted as downtime (false).
    pub planned_stops_reduce_planned_time: bool,
    /// See [`Prepared::data_as_of`].
    pub data_as_of: DateTime<Utc>,
}

/// Input and output counts per product of `products` inside `set`.
async fn counts_in(
    conn: &mut DbConn,
    prepared: &Prepared,
    products: &[i32],
    set: &IntervalSet,
) -> AppResult<(BTreeMap<i32, u64>, BTreeMap<i32, u64>)> {
    let counted = counts_within(conn, &prepared.basis, products, &[set]).await?;
    Ok(counted.into_iter().next().unwrap_or_default())
}

/// OEE and its factors: the engine's ungrouped figures of the line,
/// counting only `products` (all when empty).
pub async fn oee(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    prepared: &Prepared,
    products: &[i32],
    now: DateTime<Utc>,
) -> AppResult<Oee> {
    let basis = &prepared.basis;
    let (inputs, outputs) = counts_in(conn, prepared, products, &basis.counted).await?;
    let parts = Parts {
        planned_micros: basis.planned.total_micros(),
        events: basis.events.clone(),
        inputs,
        outputs,
        ..Parts::default()
    };
    let (result, weight) = parts.figures(snapshot);
    Ok(Oee {
        line_id: prepared.line_id(),
        range: prepared.query.range,
        planned_time_seconds: result.planned_time_seconds,
        total_downtime_seconds: result.total_downtime_seconds,
        downtime_count: result.downtime_count,
        operating_time_seconds: result.operating_time_seconds,
        availability: number(result.availability),
        total_production: result.total_production,
        good_units: result.good_units,
        rejected_units: result.rejected_units,
        performance: result.performance.map(number),
        quality: number(result.quality),
        oee: result.oee.map(number),
        total_weight: number(weight),
        warnings: result.warnings,
        planned_stops_reduce_planned_time: snapshot.planned_stops_reduce_planned_time,
        data_as_of: prepared.data_as_of(now),
    })
}

/// Production summary (semantics §5, last rule).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Line.
    pub line_id: i32,
    /// Input-area detections over the range (a shift's occurrences with a shift).
    pub total_production: u64,
    /// Σ output-area detections × product weight, kg, 2 decimals.
    pub total_weight: f64,
    /// Output-area detections per product name.
    pub product_distribution: BTreeMap<String, u64>,
    /// The same per product id, with colours (for charts).
    pub product_slices: Vec<ProductSlice>,
    /// Downtime events (inside planned time, as in the OEE).
    pub downtime_count: u64,
    /// Their total duration.
    pub total_downtime_seconds: f64,
    /// See [`Prepared::data_as_of`].
    pub data_as_of: DateTime<Utc>,
}

/// One product's share of the output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductSlice {
    /// Product.
    pub product_id: i32,
    /// Its name.
    pub product_name: String,
    /// Its chart colour, when set.
    pub color: Option<String>,
    /// Output-area detections.
    pub count: u64,
}

/// The production summary: counts over the whole range (a shift's
/// occurrences with a shift), not only planned time; downtime as in the OEE.
pub async fn summary(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    prepared: &Prepared,
    products: &[i32],
    now: DateTime<Utc>,
) -> AppResult<Summary> {
    let scope = crate::analytics::shifts::counting_scope(
        &snapshot.schedule(),
        prepared.line_id(),
        snapshot.timezone,
        &prepared.query.range,
        now,
        prepared.shift_id(),
    );
    let (inputs, outputs) = counts_in(conn, prepared, products, &scope).await?;
    let mut distribution = BTreeMap::new();
    let mut slices = Vec::new();
    for (id, n) in &outputs {
        let product = snapshot.products.get(id);
        let name = product
            .map(|p| p.product_name.clone())
            .unwrap_or_else(|| format!("product {id}"));
        *distribution.entry(name.clone()).or_insert(0) += n;
        slices.push(ProductSlice {
            product_id: *id,
            product_name: name,
            color: product.and_then(|p| p.product_color.clone()),
            count: *n,
        });
    }
    let events = &prepared.basis.events;
    Ok(Summary {
        line_id: prepared.line_id(),
        total_production: inputs.values().sum(),
        total_weight: number(snapshot.weight_of(outputs.iter().map(|(id, n)| (*id, *n)))),
        product_distribution: distribution,
        product_slices: slices,
        downtime_count: events.len() as u64,
        total_downtime_seconds: micros_to_seconds(total_downtime_micros(events)),
        data_as_of: prepared.data_as_of(now),
    })
}

/// Downtime events of a line (semantics §4).
#[derive(Debug, Clone, PartialEq)]
pub struct Downtime {
    /// Line.
    pub line_id: i32,
    /// Threshold used.
    pub threshold: DowntimeThreshold,
    /// Events in time order.
    pub events: Vec<DowntimeEvent>,
    /// See [`Prepared::data_as_of`].
    pub data_as_of: DateTime<Utc>,
}

impl Downtime {
    /// Their total duration, seconds.
    pub fn total_seconds(&self) -> f64 {
        micros_to_seconds(total_downtime_micros(&self.events))
    }
}

/// The downtime events computed on the fly: the basis's own.
pub fn downtime(prepared: &Prepared, now: DateTime<Utc>) -> Downtime {
    Downtime {
        line_id: prepared.line_id(),
        threshold: prepared.basis.threshold,
        events: prepared.basis.events.clone(),
        data_as_of: prepared.data_as_of(now),
    }
}
