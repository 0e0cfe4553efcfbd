//! KPIs of a line over a range: OEE and its factors, the production summary
//! and on-the-fly downtime events. Configuration comes from the metadata
//! cache, detections from exact queries of the line's table, and every
//! number from the pure [`crate::analytics`] engine, rule by rule as the
//! semantics document defines them.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

pub mod persisted;
pub mod series;

use crate::analytics::areas::LineAreas;
use crate::analytics::downtime::{DowntimeEvent, DowntimeThreshold};
use crate::analytics::interval::{IntervalSet, micros_to_seconds};
use crate::analytics::oee::{OeeInput, OeeResult, ProductCount, compute_oee};
use crate::analytics::time::{format_instant, parse_range};
use crate::app::AppState;
use crate::auth::principal::Principal;
use crate::detections::line_of;
use crate::detections::store::DetectionFilter;
use crate::error::{AppError, AppResult, FieldError};
use crate::plant::cache::PlantSnapshot;
use crate::rollup::read;

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

/// Everything resolved once for a request.
struct Context {
    snapshot: std::sync::Arc<PlantSnapshot>,
    tz: Tz,
    range: crate::analytics::interval::Interval,
    areas: LineAreas,
    planned: IntervalSet,
    scope: IntervalSet,
    threshold: DowntimeThreshold,
    /// The line's rollup watermark and gap floor (see [`crate::rollup`]).
    rolled: crate::rollup::store::Rolled,
}

impl Context {
    /// Up to when the figures include rows written straight into the raw
    /// table: the watermark (later direct writes before it need a rollup
    /// refresh), or now when nothing was read from rollups.
    fn data_as_of(&self, now: DateTime<Utc>) -> String {
        format_instant(self.rolled.watermark.map_or(now, |w| w.min(now)), self.tz)
    }
}

fn windows(set: &IntervalSet) -> Vec<(NaiveDateTime, NaiveDateTime)> {
    DetectionFilter::windows(set.intervals())
}

async fn context(
    state: &AppState,
    principal: &Principal,
    filters: &KpiFilters,
    now: DateTime<Utc>,
) -> AppResult<Context> {
    let snapshot = state.cache.get(&state.databases, principal.tenant_id).await?;
    let line = line_of(&snapshot, filters.line_id)?.clone();
    let tz = snapshot.timezone;
    let mut errors: Vec<FieldError> = Vec::new();
    let range = parse_range(&filters.start_date, &filters.end_date, tz, state.config.max_range_days)
        .map_err(|e| e.into_iter().map(FieldError::from).collect::<Vec<_>>());
    let threshold = match filters.downtime_threshold {
        Some(seconds) => DowntimeThreshold::from_seconds_f64(seconds),
        None => DowntimeThreshold::from_seconds(i64::from(line.downtime_threshold)),
    }
    .map_err(|e| FieldError::new("downtime_threshold", e.to_string()));
    errors.extend(unknown_ids(
        &snapshot,
        filters.product_ids.as_deref().unwrap_or_default(),
        filters.shift_id,
    ));
    let areas = snapshot
        .line_areas(filters.line_id)
        .map_err(|e| FieldError::new("line_id", e.to_string()));
    let (range, threshold, areas) = match (range, threshold, areas) {
        (Ok(r), Ok(t), Ok(a)) if errors.is_empty() => (r, t, a),
        (r, t, a) => {
            errors.extend(r.err().unwrap_or_default());
            errors.extend(t.err());
            errors.extend(a.err());
            return Err(AppError::invalid_fields(errors));
        }
    };
    let rolled = {
        let pool = state.databases.tenant(principal.tenant_id).await?;
        let mut conn = pool.get().await?;
        crate::rollup::store::rolled(&mut conn, filters.line_id).await?
    };
    let rules = snapshot.shift_rules();
    let planned = crate::analytics::shifts::planned_set(&rules, filters.line_id, tz, &range, now, filters.shift_id);
    let scope = crate::analytics::shifts::counting_scope(&rules, filters.line_id, tz, &range, now, filters.shift_id);
    Ok(Context {
        snapshot,
        tz,
        range,
        areas,
        planned,
        scope,
        threshold,
        rolled,
    })
}

/// Downtime events of the line inside the planned set (all output
/// detections), and with `for_chart` the minute rows a chart can share.
async fn events(
    state: &AppState,
    principal: &Principal,
    line_id: i32,
    ctx: &Context,
    now: DateTime<Utc>,
    for_chart: bool,
) -> AppResult<(Vec<DowntimeEvent>, Option<read::MinuteRows>)> {
    let pool = state.databases.tenant(principal.tenant_id).await?;
    let mut conn = pool.get().await?;
    let output = ctx.areas.output_area_id;
    // Minute rows are read ahead for a chart only when the gap analysis
    // needs them too; stored gaps serve it without them.
    let gaps_serve = ctx.rolled.gaps_serving(ctx.threshold).is_some();
    let minutes = match (ctx.rolled.watermark, ctx.range.clip_to_now(now)) {
        (Some(_), Some(clipped))
            if for_chart && !gaps_serve && ctx.threshold.micros() >= read::SPAN_THRESHOLD_MICROS =>
        {
            Some(read::minute_rows(&mut conn, line_id, output, clipped, ctx.rolled.watermark).await?)
        }
        _ => None,
    };
    let events = read::downtime_events(
        &mut conn,
        line_id,
        output,
        &read::GapQuery {
            planned: &ctx.planned,
            threshold: ctx.threshold,
            now,
        },
        ctx.rolled,
        minutes.as_ref(),
    )
    .await?;
    Ok((events, minutes))
}

/// A decimal as a JSON number (percentages, kg): exact to its 2 decimals.
fn number(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
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
    /// Up to when rows written straight into the raw table are included (the rollup watermark); API-ingested detections always are.
    pub data_as_of: String,
}

fn oee_response(
    filters: &KpiFilters,
    ctx: &Context,
    result: OeeResult,
    weight: Decimal,
    now: DateTime<Utc>,
    range: (String, String),
) -> OeeResponse {
    OeeResponse {
        line_id: filters.line_id,
        start_date: range.0,
        end_date: range.1,
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
        data_as_of: ctx.data_as_of(now),
    }
}

fn weight_of(ctx: &Context, counts: &[(i32, u64)]) -> Decimal {
    ctx.snapshot.weight_of(counts.iter().copied())
}

/// What OEE, summary and downtime of one line and range share: the resolved
/// context and the downtime events. Computed once, it serves every KPI of
/// that line, range, shift and threshold, whatever their product filters.
pub struct Prepared {
    ctx: Context,
    events: Vec<DowntimeEvent>,
    minutes: Option<read::MinuteRows>,
}

impl Prepared {
    /// The output area's minute rollup read for gap analysis, if any.
    pub fn minute_rows(&self) -> Option<&read::MinuteRows> {
        self.minutes.as_ref()
    }

    /// The downtime events, as real instants (the views of
    /// [`downtime_with`] list them in the same order).
    pub fn events(&self) -> &[DowntimeEvent] {
        &self.events
    }
}

/// Resolves and validates `filters` and computes the downtime events.
pub async fn prepare(
    state: &AppState,
    principal: &Principal,
    filters: &KpiFilters,
    now: DateTime<Utc>,
) -> AppResult<Prepared> {
    prepare_sharing(state, principal, filters, now, false).await
}

/// [`prepare`]; with `for_chart`, the output area's minute rollup over the
/// whole clipped range is read once and kept, so a production chart of the
/// same request reuses it (see [`Prepared::minute_rows`]). Without a chart
/// the gap analysis reads only the planned windows' minutes.
pub async fn prepare_sharing(
    state: &AppState,
    principal: &Principal,
    filters: &KpiFilters,
    now: DateTime<Utc>,
    for_chart: bool,
) -> AppResult<Prepared> {
    let ctx = context(state, principal, filters, now).await?;
    let (events, minutes) = events(state, principal, filters.line_id, &ctx, now, for_chart).await?;
    Ok(Prepared { ctx, events, minutes })
}

/// The product filter of `filters`, each id checked against the cache.
fn products_of(prepared: &Prepared, filters: &KpiFilters) -> AppResult<Vec<i32>> {
    let ids = crate::query::model::distinct(filters.product_ids.clone().unwrap_or_default());
    let unknown = unknown_ids(&prepared.ctx.snapshot, &ids, None);
    if unknown.is_empty() {
        Ok(ids)
    } else {
        Err(AppError::invalid_fields(unknown))
    }
}

/// Input-area and output-area detections per product inside `within`,
/// read in the same statements.
async fn input_output_counts(
    conn: &mut crate::db::DbConn,
    line_id: i32,
    ctx: &Context,
    within: Vec<(chrono::NaiveDateTime, chrono::NaiveDateTime)>,
    product_ids: Vec<i32>,
) -> AppResult<(Vec<(i32, u64)>, Vec<(i32, u64)>)> {
    let (input, output) = (ctx.areas.input_area_id, ctx.areas.output_area_id);
    let filter = DetectionFilter {
        within,
        product_ids,
        area_ids: ctx.areas.counted(),
    };
    let counts = read::counts_by_area_and_product(conn, line_id, &filter, ctx.rolled).await?;
    let of = |area: i32| -> Vec<(i32, u64)> {
        counts
            .get(&area)
            .map(|per_product| per_product.iter().map(|(p, n)| (*p, *n)).collect())
            .unwrap_or_default()
    };
    Ok((of(input), of(output)))
}

/// OEE and its factors.
pub async fn oee(
    state: &AppState,
    principal: &Principal,
    filters: &KpiFilters,
    now: DateTime<Utc>,
) -> AppResult<OeeResponse> {
    let prepared = prepare(state, principal, filters, now).await?;
    oee_with(state, principal, &prepared, filters, now).await
}

/// OEE from a [`Prepared`] of the same line, range, shift and threshold;
/// `filters.product_ids` selects the counted products.
pub async fn oee_with(
    state: &AppState,
    principal: &Principal,
    prepared: &Prepared,
    filters: &KpiFilters,
    now: DateTime<Utc>,
) -> AppResult<OeeResponse> {
    let (ctx, events) = (&prepared.ctx, &prepared.events);
    let product_ids = products_of(prepared, filters)?;
    let pool = state.databases.tenant(principal.tenant_id).await?;
    let mut conn = pool.get().await?;
    let (inputs, outputs) =
        input_output_counts(&mut conn, filters.line_id, ctx, windows(&ctx.planned), product_ids).await?;
    let products: Vec<ProductCount> = inputs
        .iter()
        .map(|(id, n)| ctx.snapshot.product_count(*id, *n))
        .collect();
    let good_units: u64 = outputs.iter().map(|(_, n)| n).sum();
    let result = compute_oee(&OeeInput {
        planned_micros: ctx.planned.total_micros(),
        events,
        products: &products,
        good_units,
    });
    let weight = weight_of(ctx, &outputs);
    let range = (
        format_instant(ctx.range.start, ctx.tz),
        format_instant(ctx.range.end, ctx.tz),
    );
    Ok(oee_response(filters, ctx, result, weight, now, range))
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
    pub product_distribution: std::collections::BTreeMap<String, u64>,
    /// The same per product id, with colours (for charts; not serialised).
    #[oai(skip)]
    pub product_slices: Vec<ProductSlice>,
    /// Downtime events (inside planned time, as in the OEE).
    pub downtime_count: u64,
    /// Their total duration.
    pub total_downtime_seconds: f64,
    /// Up to when rows written straight into the raw table are included (the rollup watermark); API-ingested detections always are.
    pub data_as_of: String,
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

/// The production summary.
pub async fn summary(
    state: &AppState,
    principal: &Principal,
    filters: &KpiFilters,
    now: DateTime<Utc>,
) -> AppResult<SummaryResponse> {
    let prepared = prepare(state, principal, filters, now).await?;
    summary_with(state, principal, &prepared, filters, now).await
}

/// The summary from a [`Prepared`] (see [`oee_with`]).
pub async fn summary_with(
    state: &AppState,
    principal: &Principal,
    prepared: &Prepared,
    filters: &KpiFilters,
    now: DateTime<Utc>,
) -> AppResult<SummaryResponse> {
    let (ctx, events) = (&prepared.ctx, &prepared.events);
    let product_ids = products_of(prepared, filters)?;
    let pool = state.databases.tenant(principal.tenant_id).await?;
    let mut conn = pool.get().await?;
    let (inputs, outputs) =
        input_output_counts(&mut conn, filters.line_id, ctx, windows(&ctx.scope), product_ids).await?;
    let mut distribution = std::collections::BTreeMap::new();
    let mut slices = Vec::new();
    for (id, n) in &outputs {
        let product = ctx.snapshot.products.get(id);
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
    Ok(SummaryResponse {
        line_id: filters.line_id,
        total_production: inputs.iter().map(|(_, n)| n).sum(),
        total_weight: number(weight_of(ctx, &outputs)),
        product_distribution: distribution,
        product_slices: slices,
        downtime_count: events.len() as u64,
        total_downtime_seconds: micros_to_seconds(crate::analytics::downtime::total_downtime_micros(events)),
        data_as_of: ctx.data_as_of(now),
    })
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

/// Downtime events computed on the fly (semantics §4).
pub async fn downtime(
    state: &AppState,
    principal: &Principal,
    filters: &KpiFilters,
    now: DateTime<Utc>,
) -> AppResult<DowntimeResponse> {
    let prepared = prepare(state, principal, filters, now).await?;
    Ok(downtime_with(&prepared, filters, now))
}

/// The events of a [`Prepared`].
pub fn downtime_with(prepared: &Prepared, filters: &KpiFilters, now: DateTime<Utc>) -> DowntimeResponse {
    let (ctx, events) = (&prepared.ctx, &prepared.events);
    DowntimeResponse {
        line_id: filters.line_id,
        downtime_threshold: micros_to_seconds(ctx.threshold.micros()),
        downtime_count: events.len() as u64,
        total_downtime_seconds: micros_to_seconds(crate::analytics::downtime::total_downtime_micros(events)),
        events: events
            .iter()
            .map(|e| DowntimeEventView {
                start: format_instant(e.start, ctx.tz),
                end: format_instant(e.end, ctx.tz),
                duration_seconds: micros_to_seconds(e.duration_micros),
                ongoing: e.ongoing,
            })
            .collect(),
        data_as_of: ctx.data_as_of(now),
    }
}
