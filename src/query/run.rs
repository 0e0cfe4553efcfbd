//! Runs a [`KpiQuery`]: per line, the planned set and the downtime events
//! once, then for each fine cell (line × time cell × product) its additive
//! parts; rows and totals add parts and derive ratios from the sums
//! (semantics §9). Takes a connection and the cached configuration, never
//! the application state.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::analytics::buckets::{BucketInterval, generate_buckets};
use crate::analytics::downtime::{DowntimeEvent, DowntimeThreshold};
use crate::analytics::interval::{Interval, IntervalSet};
use crate::analytics::losses::{ClassifiedStop, LossClass, LossInput, Losses, ProductFlow, compute_losses};
use crate::analytics::oee::{OeeInput, OeeResult, ProductCount, compute_oee};
use crate::analytics::shifts::{Schedule, ShiftRule, planned_set};
use crate::db::DbConn;
use crate::detections::store::DetectionFilter;
use crate::error::{AppError, AppResult, FieldError};
use crate::plant::cache::PlantSnapshot;
use crate::query::model::{Dimension, Grain, KpiQuery};
use crate::reasons::assigned::StopClasses;
use crate::rollup::read;

/// Additive parts of a cell: summed across cells, then ratios derived.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    /// |P ∩ cell| in microseconds.
    pub planned_micros: i64,
    /// The line's events clipped to the cell's planned set.
    pub events: Vec<DowntimeEvent>,
    /// Input-area counts per product (with its ideal rate).
    pub inputs: BTreeMap<i32, u64>,
    /// Output-area counts per product.
    pub outputs: BTreeMap<i32, u64>,
    /// With loss measures: the stops' classes and the micro-stops.
    pub losses: LossParts,
}

/// The additive parts of the loss split (semantics §10) beyond [`Parts`]'s:
/// filled only when a loss measure is asked for.
#[derive(Debug, Clone, Default)]
pub struct LossParts {
    /// Each piece of `Parts::events` with its stop's loss class and reason.
    pub stops: Vec<ClassifiedStop>,
    /// The micro-stop pieces inside the cell, µs.
    pub micro_stops: Vec<i64>,
}

impl Parts {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Parts) {
        self.planned_micros = self.planned_micros.saturating_add(other.planned_micros);
        self.events.extend(other.events.iter().cloned());
        for (id, n) in &other.inputs {
            *self.inputs.entry(*id).or_insert(0) += n;
        }
        for (id, n) in &other.outputs {
            *self.outputs.entry(*id).or_insert(0) += n;
        }
        self.losses.stops.extend(other.losses.stops.iter().cloned());
        self.losses.micro_stops.extend(other.losses.micro_stops.iter().copied());
    }

    /// The loss split of these parts (semantics §10 over summed parts);
    /// TEEP over `calendar_micros` (none when 0).
    pub fn loss_split(&self, snapshot: &PlantSnapshot, calendar_micros: i64) -> Losses {
        let ids: std::collections::BTreeSet<i32> = self.inputs.keys().chain(self.outputs.keys()).copied().collect();
        let flows: Vec<ProductFlow> = ids
            .into_iter()
            .map(|product_id| {
                let input_count = self.inputs.get(&product_id).copied().unwrap_or(0);
                ProductFlow {
                    product_id,
                    input_count,
                    output_count: self.outputs.get(&product_id).copied().unwrap_or(0),
                    production_std: snapshot.product_count(product_id, input_count).production_std,
                }
            })
            .collect();
        compute_losses(&LossInput {
            planned_micros: self.planned_micros,
            stops: &self.losses.stops,
            micro_stop_micros: &self.losses.micro_stops,
            products: &flows,
            calendar_micros,
        })
    }

    /// The OEE fields of these parts (semantics §5 over summed parts) and
    /// the weight, kg.
    pub fn figures(&self, snapshot: &PlantSnapshot) -> (OeeResult, Decimal) {
        let products: Vec<ProductCount> = self
            .inputs
            .iter()
            .map(|(id, n)| snapshot.product_count(*id, *n))
            .collect();
        let result = compute_oee(&OeeInput {
            planned_micros: self.planned_micros,
            events: &self.events,
            products: &products,
            good_units: self.outputs.values().sum(),
        });
        let weight = snapshot.weight_of(self.outputs.iter().map(|(id, n)| (*id, *n)));
        (result, weight)
    }
}

/// Where a row sits: one value per requested dimension, and its time cell.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RowKey {
    /// The line, with the `line` dimension.
    pub line_id: Option<i32>,
    /// The time cell's start (with a grain), then its ordinal among the
    /// query's time cells (matches a comparison's rows).
    pub time: Option<(DateTime<Utc>, usize)>,
    /// The shift, with the `shift` dimension or the shift grain (`Some(None)`:
    /// a line without shifts, planned around the clock).
    pub shift_id: Option<Option<i32>>,
    /// The product, with the `product` dimension.
    pub product_id: Option<i32>,
}

/// A query's answer before formatting.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// Rows in key order.
    pub rows: BTreeMap<RowKey, Parts>,
    /// The ungrouped query over the same lines and filters.
    pub totals: Parts,
    /// The earliest rollup watermark of the lines read, if every line has one.
    pub data_as_of: Option<DateTime<Utc>>,
    /// Why a line is not in the answer.
    pub warnings: Vec<String>,
}

/// One time cell of a line: its planned set, start and shift.
struct TimeCell {
    planned: IntervalSet,
    start: Option<DateTime<Utc>>,
    ordinal: usize,
    shift: Option<Option<i32>>,
}

/// The shifts that plan `line_id` (active, applying to it), restricted to
/// `filter` when it is not empty.
fn line_shifts<'a>(rules: &'a [ShiftRule], line_id: i32, filter: &[i32]) -> Vec<&'a ShiftRule> {
    rules
        .iter()
        .filter(|s| s.active && s.applies_to_line(line_id))
        .filter(|s| filter.is_empty() || filter.contains(&s.shift_id))
        .collect()
}

/// The planned set of `line_id` for the query: P, or with a shift filter
/// the union of those shifts' occurrences; breaks and calendar days are
/// taken out either way (the engine's [`planned_set`] is the one place P is
/// formed).
fn planned_of(
    query: &KpiQuery,
    schedule: &Schedule,
    line_id: i32,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> IntervalSet {
    if query.shift_ids.is_empty() {
        return planned_set(schedule, line_id, tz, &query.range, now, None);
    }
    query.shift_ids.iter().fold(IntervalSet::new(), |set, id| {
        set.union(&planned_set(schedule, line_id, tz, &query.range, now, Some(*id)))
    })
}

/// The time cells of one line (pure).
fn time_cells(
    query: &KpiQuery,
    schedule: &Schedule,
    line_id: i32,
    planned: &IntervalSet,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> AppResult<Vec<TimeCell>> {
    let shifts = line_shifts(&schedule.shifts, line_id, &query.shift_ids);
    let by_shift = query.has(Dimension::Shift) || query.grain == Some(Grain::Shift);
    // (shift, its planned set); a line planned around the clock has one
    // shift group without a shift.
    let groups: Vec<(Option<Option<i32>>, IntervalSet)> = if !by_shift {
        vec![(None, planned.clone())]
    } else if shifts.is_empty() {
        vec![(Some(None), planned.clone())]
    } else {
        shifts
            .iter()
            .map(|s| {
                let own = planned_set(schedule, line_id, tz, &query.range, now, Some(s.shift_id));
                (Some(Some(s.shift_id)), own.intersection(planned))
            })
            .collect()
    };
    let mut cells = Vec::new();
    match query.grain {
        None => {
            for (shift, set) in groups {
                cells.push(TimeCell {
                    planned: set,
                    start: None,
                    ordinal: 0,
                    shift,
                });
            }
        }
        Some(Grain::Bucket(interval)) => {
            let buckets = generate_buckets(interval, tz, &query.range, now)
                .map_err(|e| AppError::invalid_fields(vec![FieldError::new("grain", e.to_string())]))?;
            for (shift, set) in &groups {
                for (ordinal, bucket) in buckets.buckets.iter().enumerate() {
                    cells.push(TimeCell {
                        planned: set.intersect_interval(&Interval::new(bucket.start, bucket.end)),
                        start: Some(bucket.start),
                        ordinal,
                        shift: *shift,
                    });
                }
            }
        }
        Some(Grain::Shift) => {
            let clipped = query.range.clip_to_now(now);
            for (shift, set) in &groups {
                let occurrences: Vec<Interval> = match (shift, clipped) {
                    (Some(Some(id)), Some(clipped)) => shifts
                        .iter()
                        .filter(|s| s.shift_id == *id)
                        .flat_map(|s| s.occurrences(tz, &clipped))
                        .collect(),
                    // Around the clock: one cell per local day.
                    (_, Some(_)) => generate_buckets(BucketInterval::OneDay, tz, &query.range, now)
                        .map_err(|e| AppError::invalid_fields(vec![FieldError::new("grain", e.to_string())]))?
                        .buckets
                        .iter()
                        .map(|b| Interval::new(b.start, b.end))
                        .collect(),
                    (_, None) => Vec::new(),
                };
                // An occurrence wholly inside the line's calendar days (a
                // holiday, a shutdown) did not run: it has no row, rather
                // than a row of nothing planned.
                let days_off = match clipped {
                    Some(clipped) => schedule.calendar_set(line_id, tz, &clipped),
                    None => IntervalSet::new(),
                };
                let occurrences = occurrences.into_iter().filter(|o| {
                    clipped
                        .and_then(|c| o.intersect(&c))
                        .is_none_or(|seen| !days_off.contains_interval(&seen))
                });
                for (ordinal, occurrence) in occurrences.enumerate() {
                    cells.push(TimeCell {
                        planned: set.intersect_interval(&occurrence),
                        start: Some(occurrence.start),
                        ordinal,
                        shift: *shift,
                    });
                }
            }
        }
    }
    Ok(cells)
}

/// The pieces of `events` inside `set`.
fn clip_events(events: &[DowntimeEvent], set: &IntervalSet) -> Vec<DowntimeEvent> {
    let mut out = Vec::new();
    for event in events {
        let span = Interval::new(event.start, event.end);
        for piece in set.intersect_interval(&span).intervals() {
            out.push(DowntimeEvent {
                start: piece.start,
                end: piece.end,
                duration_micros: piece.duration_micros(),
                ongoing: event.ongoing && piece.end == event.end,
            });
        }
    }
    out
}

/// The micro-stops of a basis (semantics §10): the gaps of its timeline
/// inside P longer than the line's `micro_stop_threshold` and not longer
/// than the basis's downtime threshold, whole (clip them to cells after).
pub async fn micro_stop_events(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    basis: &LineBasis,
    now: DateTime<Utc>,
) -> AppResult<Vec<DowntimeEvent>> {
    let line = snapshot
        .lines
        .get(&basis.line_id)
        .ok_or_else(|| AppError::internal("a measured line left the configuration"))?;
    let micro = DowntimeThreshold::from_seconds(i64::from(line.micro_stop_threshold)).map_err(AppError::internal)?;
    if micro >= basis.threshold {
        return Ok(Vec::new());
    }
    // Every gap longer than the micro-stop threshold is an event at that
    // threshold; those not longer than the downtime threshold are the
    // micro-stops.
    let shorter = read::downtime_events(
        conn,
        basis.line_id,
        basis.areas.output_area_id,
        &read::GapQuery {
            planned: &basis.planned,
            threshold: micro,
            now,
        },
        basis.rolled,
        basis.minutes.as_ref(),
    )
    .await?;
    Ok(shorter
        .into_iter()
        .filter(|event| event.duration_micros <= basis.threshold.micros())
        .collect())
}

/// The loss parts of `events` and `micro_stops` inside `set`: each stop
/// piece with its stop's class and reason from `classes` (joined on the
/// stop's start; unassigned when absent), and the micro-stop pieces.
pub fn loss_parts(
    classes: &StopClasses,
    micro_stops: &[DowntimeEvent],
    events: &[DowntimeEvent],
    set: &IntervalSet,
) -> LossParts {
    let pieces = |event: &DowntimeEvent| set.intersect_interval(&Interval::new(event.start, event.end));
    let mut stops = Vec::new();
    for event in events {
        let (reason_id, loss_class) = classes
            .get(&event.start)
            .copied()
            .unwrap_or((None, LossClass::Unassigned));
        for piece in pieces(event).intervals() {
            stops.push(ClassifiedStop {
                duration_micros: piece.duration_micros(),
                loss_class,
                reason_id,
            });
        }
    }
    let micro_stops = micro_stops
        .iter()
        .flat_map(|event| {
            pieces(event)
                .intervals()
                .iter()
                .map(Interval::duration_micros)
                .collect::<Vec<_>>()
        })
        .collect();
    LossParts { stops, micro_stops }
}

/// Input and output counts per product (only `product_ids`, or all when
/// empty) inside each of `sets`, read together (see
/// [`read::counts_of_cells`]).
pub async fn counts_within(
    conn: &mut DbConn,
    basis: &LineBasis,
    product_ids: &[i32],
    sets: &[&IntervalSet],
) -> AppResult<Vec<(BTreeMap<i32, u64>, BTreeMap<i32, u64>)>> {
    let (input, output) = (basis.areas.input_area_id, basis.areas.output_area_id);
    let filter = DetectionFilter {
        within: Vec::new(),
        product_ids: product_ids.to_vec(),
        area_ids: basis.areas.counted(),
    };
    let cells: Vec<Vec<Interval>> = sets.iter().map(|set| set.intervals().to_vec()).collect();
    let found = read::counts_of_cells(conn, basis.line_id, &cells, &filter, basis.rolled).await?;
    Ok(found
        .into_iter()
        .map(|per_area| {
            let of = |area: i32| per_area.get(&area).cloned().unwrap_or_default();
            (of(input), of(output))
        })
        .collect())
}

/// The number of rows a query would have for `line_count` lines, before
/// any read: a request over the cell limit is refused before it costs.
pub fn estimated_cells(query: &KpiQuery, snapshot: &PlantSnapshot, now: DateTime<Utc>) -> usize {
    let schedule = snapshot.schedule();
    let lines = if query.has(Dimension::Line) {
        query.lines.len()
    } else {
        1
    };
    let products = if query.has(Dimension::Product) {
        if query.product_ids.is_empty() {
            snapshot.products.len().max(1)
        } else {
            query.product_ids.len()
        }
    } else {
        1
    };
    let time = query.lines.iter().map(|line| {
        let planned = planned_of(query, &schedule, *line, snapshot.timezone, now);
        time_cells(query, &schedule, *line, &planned, snapshot.timezone, now).map_or(usize::MAX, |c| c.len())
    });
    time.max().unwrap_or(0).saturating_mul(lines).saturating_mul(products)
}

/// Lines read at once, each on its own connection of the tenant's pool:
/// a plant of many lines answers in about the time of its slowest lines,
/// not their sum, without taking the whole pool.
const LINES_AT_ONCE: usize = 4;

/// What one line adds to an answer.
#[derive(Default)]
struct LineAnswer {
    rows: Vec<(RowKey, Parts)>,
    totals: Parts,
    /// `None` inside `Some`: the line has no watermark yet.
    watermark: Option<Option<DateTime<Utc>>>,
    warning: Option<String>,
}

/// Runs `query` against the tenant database of `pool`, lines side by side.
pub async fn run(
    pool: &crate::db::DbPool,
    snapshot: &PlantSnapshot,
    query: &KpiQuery,
    now: DateTime<Utc>,
) -> AppResult<Answer> {
    use futures::stream::{self, StreamExt, TryStreamExt};
    let per_line: Vec<LineAnswer> = stream::iter(query.lines.iter().copied())
        .map(|line_id| async move {
            let mut conn = pool.get().await?;
            run_line(&mut conn, snapshot, query, now, line_id).await
        })
        .buffered(LINES_AT_ONCE)
        .try_collect()
        .await?;
    let mut answer = Answer::default();
    let mut every_line_rolled = true;
    for line in per_line {
        answer.warnings.extend(line.warning);
        match line.watermark {
            Some(Some(mark)) => answer.data_as_of = Some(answer.data_as_of.map_or(mark, |seen| seen.min(mark))),
            Some(None) => every_line_rolled = false,
            None => {}
        }
        answer.totals.add(&line.totals);
        for (key, parts) in line.rows {
            // Across lines the same group adds its lines' parts.
            answer.rows.entry(key).or_default().add(&parts);
        }
    }
    if !every_line_rolled {
        answer.data_as_of = None;
    }
    Ok(answer)
}

/// What every view of one line starts from: its areas, threshold and
/// rollup state, its planned set for the query and its downtime events
/// over that set, computed once.
#[derive(Debug, Clone)]
pub struct LineBasis {
    /// The line.
    pub line_id: i32,
    /// Its input and output areas.
    pub areas: crate::analytics::areas::LineAreas,
    /// The query's threshold, or the line's own.
    pub threshold: DowntimeThreshold,
    /// Its rollup watermark and gap floor.
    pub rolled: crate::rollup::store::Rolled,
    /// P over the query's range (with a shift filter, those shifts' occurrences).
    pub planned: IntervalSet,
    /// Where units count: `planned` with the stops the tenant's rule took
    /// out of it (a stop's name does not change what the line made).
    /// Equal to `planned` when no such stop meets the range.
    pub counted: IntervalSet,
    /// Downtime events inside `planned`.
    pub events: Vec<DowntimeEvent>,
    /// The output area's minute rollup over the clipped range, when asked
    /// for and read anyway by the gap analysis (a chart can share it).
    pub minutes: Option<read::MinuteRows>,
}

/// The basis of `line_id` for `query`; `Ok(Err(why))` when the line was not
/// named and cannot be measured (it is then left out with a warning).
/// With `keep_minutes` the gap analysis reads the output area's minute
/// rollup over the whole clipped range and keeps it, where it reads
/// minutes at all.
pub async fn line_basis(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    query: &KpiQuery,
    now: DateTime<Utc>,
    line_id: i32,
    keep_minutes: bool,
) -> AppResult<Result<LineBasis, String>> {
    let line = snapshot.lines.get(&line_id).ok_or_else(|| {
        AppError::invalid_fields(vec![FieldError::new(
            "line_ids",
            format!("line {line_id} does not exist"),
        )])
    })?;
    let areas = match snapshot.line_areas(line_id) {
        Ok(areas) => areas,
        Err(e) if !query.lines_named => {
            return Ok(Err(format!("line {line_id} ({}) is left out: {e}", line.line_name)));
        }
        Err(e) => {
            return Err(AppError::invalid_fields(vec![FieldError::new(
                "line_ids",
                format!("line {line_id}: {e}"),
            )]));
        }
    };
    let threshold = match query.threshold {
        Some(t) => t,
        None => DowntimeThreshold::from_seconds(i64::from(line.downtime_threshold)).map_err(AppError::internal)?,
    };
    let rolled = crate::rollup::store::rolled(conn, line_id).await?;
    // Stops explained as planned leave P too, under the tenant's rule;
    // units count over P without them (what the line made it made,
    // whatever a stop is called).
    let mut schedule = snapshot.schedule();
    let counted = planned_of(query, &schedule, line_id, snapshot.timezone, now);
    let stops = crate::reasons::assigned::reason_stops(conn, snapshot, line_id, &query.range).await?;
    let planned = if stops.is_empty() {
        counted.clone()
    } else {
        schedule.reason_stops.insert(line_id, stops);
        planned_of(query, &schedule, line_id, snapshot.timezone, now)
    };
    // Minute rows are read ahead only when the gap analysis needs them too;
    // stored gaps serve it without them.
    let gaps_serve = rolled.gaps_serving(threshold).is_some();
    let minutes = match (rolled.watermark, query.range.clip_to_now(now)) {
        (Some(_), Some(clipped))
            if keep_minutes && !gaps_serve && threshold.micros() >= read::SPAN_THRESHOLD_MICROS =>
        {
            Some(read::minute_rows(conn, line_id, areas.output_area_id, clipped, rolled.watermark).await?)
        }
        _ => None,
    };
    let events = read::downtime_events(
        conn,
        line_id,
        areas.output_area_id,
        &read::GapQuery {
            planned: &planned,
            threshold,
            now,
        },
        rolled,
        minutes.as_ref(),
    )
    .await?;
    Ok(Ok(LineBasis {
        line_id,
        areas,
        threshold,
        rolled,
        planned,
        counted,
        events,
        minutes,
    }))
}

/// One line's rows and totals.
async fn run_line(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    query: &KpiQuery,
    now: DateTime<Utc>,
    line_id: i32,
) -> AppResult<LineAnswer> {
    let tz = snapshot.timezone;
    let schedule = snapshot.schedule();
    let mut answer = LineAnswer::default();
    let basis = match line_basis(conn, snapshot, query, now, line_id, false).await? {
        Ok(basis) => basis,
        Err(why) => {
            answer.warning = Some(why);
            return Ok(answer);
        }
    };
    answer.watermark = Some(basis.rolled.watermark);
    let (planned, events) = (&basis.planned, &basis.events);
    let cells = time_cells(query, &schedule, line_id, planned, tz, now)?;
    // Cells come from the range and the shifts, not from P: the cells of
    // the counted set are the same cells, one for one.
    let counting_cells = if basis.counted == basis.planned {
        None
    } else {
        Some(time_cells(query, &schedule, line_id, &basis.counted, tz, now)?)
    };
    let mut sets: Vec<&IntervalSet> = vec![&basis.counted];
    sets.extend(
        counting_cells
            .as_ref()
            .unwrap_or(&cells)
            .iter()
            .map(|cell| &cell.planned),
    );
    let mut counted = counts_within(conn, &basis, &query.product_ids, &sets)
        .await?
        .into_iter();
    let (inputs, outputs) = counted.next().unwrap_or_default();
    // What loss measures are made of, read only when one is asked for.
    let loss_basis = if query.wants_losses() {
        Some((
            crate::reasons::assigned::stop_classes(conn, snapshot, line_id, &query.range).await?,
            micro_stop_events(conn, snapshot, &basis, now).await?,
        ))
    } else {
        None
    };
    let loss_parts = |events: &[DowntimeEvent], set: &IntervalSet| {
        loss_basis
            .as_ref()
            .map(|(classes, micro_stops)| loss_parts(classes, micro_stops, events, set))
            .unwrap_or_default()
    };
    answer.totals = Parts {
        planned_micros: planned.total_micros(),
        events: events.clone(),
        inputs,
        outputs,
        losses: loss_parts(events, planned),
    };
    for (cell, (inputs, outputs)) in cells.iter().zip(counted) {
        let cell_events = clip_events(events, &cell.planned);
        let line_parts = Parts {
            planned_micros: cell.planned.total_micros(),
            losses: loss_parts(events, &cell.planned),
            events: cell_events,
            inputs,
            outputs,
        };
        let key = RowKey {
            line_id: query.has(Dimension::Line).then_some(line_id),
            time: cell.start.map(|start| (start, cell.ordinal)),
            shift_id: cell.shift,
            product_id: None,
        };
        if !query.has(Dimension::Product) {
            answer.rows.push((key, line_parts));
            continue;
        }
        // A product row holds the lines that counted the product in the
        // cell, each with its planned time and downtime (a stopped line is
        // stopped for every product it makes). Naming a product in the
        // filter only restricts the counts: it adds no row for a line that
        // did not make it, so a row never depends on the filter.
        let products: std::collections::BTreeSet<i32> = line_parts
            .inputs
            .keys()
            .chain(line_parts.outputs.keys())
            .copied()
            .collect();
        for product_id in products {
            let only = |counts: &BTreeMap<i32, u64>| {
                counts
                    .get(&product_id)
                    .map(|n| BTreeMap::from([(product_id, *n)]))
                    .unwrap_or_default()
            };
            answer.rows.push((
                RowKey {
                    product_id: Some(product_id),
                    ..key.clone()
                },
                Parts {
                    planned_micros: line_parts.planned_micros,
                    events: line_parts.events.clone(),
                    inputs: only(&line_parts.inputs),
                    outputs: only(&line_parts.outputs),
                    losses: line_parts.losses.clone(),
                },
            ));
        }
    }
    Ok(answer)
}
