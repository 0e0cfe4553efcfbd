//! Exact reads over a line's detections that take whole rollup units before
//! the watermark and raw rows for the rest. Each answer equals the raw scan
//! of the same request (property-tested against it in `tests/it/rollups.rs`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Timestamp};
use diesel_async::RunQueryDsl;

use crate::analytics::buckets::BucketSeries;
use crate::analytics::downtime::{
    DetectionSpan, DowntimeEvent, DowntimeThreshold, clip_plan_to_now, downtime_events_from_spans,
};
use crate::analytics::interval::{Interval, IntervalSet};
use crate::db::DbConn;
use crate::db::line_tables::{day_table, hour_table, minute_table};
use crate::detections::store::{self, DetectionFilter};
use crate::error::AppResult;
use crate::rollup::plan::{Grain, Levels, buckets_align, split, split_levels};
use crate::rollup::store::Rolled;

/// The shortest threshold for which per-minute spans are exact in gap analysis.
pub const SPAN_THRESHOLD_MICROS: i64 = 60_000_000;

fn intervals(windows: &[(NaiveDateTime, NaiveDateTime)]) -> Vec<Interval> {
    windows
        .iter()
        .map(|(start, end)| Interval::new(start.and_utc(), end.and_utc()))
        .collect()
}

/// `WHERE` text over a rollup table: unit starts inside the hull of the
/// rolled windows, then the optional area and product lists (bound in that
/// order). One range, not one per window: MariaDB plans a long OR of
/// bound ranges badly (a year of shifts was 4x slower than a month with the
/// same rows), so rows outside the windows are dropped in Rust instead.
fn rollup_clause(column: &str, areas: usize, products: usize) -> String {
    format!("{column} >= ? AND {column} < ?{}", id_lists(areas, products))
}

/// ` AND area_id IN (...)` and ` AND product_id IN (...)` with as many
/// placeholders as ids, each left out when its list is empty (bound by
/// `bind_ids!` in that order).
fn id_lists(areas: usize, products: usize) -> String {
    let mut clause = String::new();
    if areas > 0 {
        clause.push_str(&format!(" AND area_id IN ({})", vec!["?"; areas].join(", ")));
    }
    if products > 0 {
        clause.push_str(&format!(" AND product_id IN ({})", vec!["?"; products].join(", ")));
    }
    clause
}

/// The hull of sorted, disjoint windows.
fn hull(windows: &[Interval]) -> Option<Interval> {
    Some(Interval::new(windows.first()?.start, windows.last()?.end))
}

/// Binds the area list, then the product list (the order of every
/// rollup clause here).
macro_rules! bind_ids {
    ($query:expr, $areas:expr, $products:expr) => {{
        let mut query = $query;
        for id in $areas {
            query = query.bind::<Integer, _>(*id);
        }
        for id in $products {
            query = query.bind::<Integer, _>(*id);
        }
        query
    }};
}

macro_rules! bind_rollup {
    ($query:expr, $hull:expr, $areas:expr, $products:expr) => {{
        let query = $query
            .bind::<Timestamp, _>($hull.start.naive_utc())
            .bind::<Timestamp, _>($hull.end.naive_utc());
        bind_ids!(query, $areas, $products)
    }};
}

#[derive(QueryableByName)]
struct UnitCount {
    #[diesel(sql_type = Timestamp)]
    unit: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(Debug, Clone, QueryableByName)]
struct MinuteSpan {
    #[diesel(sql_type = Timestamp)]
    unit: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Timestamp)]
    first_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    last_at: NaiveDateTime,
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Pieces per statement: well under SQLite's 500 compound SELECTs.
const PIECES_PER_QUERY: usize = 100;

/// Bound parameters per statement: under SQLite's 32 766 and MySQL's 65 535.
const MAX_BOUND_PARAMETERS: usize = 30_000;

/// One piece of a rollup read: a primary-key range of one table, then the
/// optional area and product lists. Pieces are joined with UNION ALL, not
/// OR: neither SQLite (which then walks every row of the area, testing
/// each range) nor MariaDB plans a long OR of ranges as well as separate
/// ranges.
fn piece_select(table: &str, column: &str, areas: usize, products: usize) -> String {
    format!(
        "SELECT area_id, product_id, n FROM {table} WHERE {}",
        rollup_clause(column, areas, products)
    )
}

/// Counts per area and product.
pub type AreaProductCounts = BTreeMap<i32, BTreeMap<i32, u64>>;

/// Sums per area and product of a rollup table (`detection_day_*` or
/// `detection_hour_*`) over whole units inside `pieces`.
async fn rolled_counts(
    conn: &mut DbConn,
    table: &str,
    (column, grain): (&str, Grain),
    pieces: &[Interval],
    filter: &DetectionFilter,
    tally: &mut Tally<'_>,
) -> AppResult<()> {
    if !filter.area_ids.is_empty() {
        return unit_counts(conn, table, (column, grain), pieces, filter, tally).await;
    }
    let select = piece_select(table, column, filter.area_ids.len(), filter.product_ids.len());
    // Each piece binds its range and both lists: stay under both backends'
    // bound-parameter limits whatever the lists hold.
    let per_piece = 2 + filter.area_ids.len() + filter.product_ids.len();
    let per_query = (MAX_BOUND_PARAMETERS / per_piece).clamp(1, PIECES_PER_QUERY);
    for chunk in pieces.chunks(per_query) {
        let sql = format!(
            "SELECT area_id, product_id, SUM(n) AS n FROM ({}) pieces GROUP BY area_id, product_id",
            vec![select.as_str(); chunk.len()].join(" UNION ALL ")
        );
        let rows = crate::with_conn!(conn, |c, DB| {
            let mut query = diesel::sql_query(sql.as_str()).into_boxed::<DB>();
            for piece in chunk {
                query = bind_rollup!(query, piece, &filter.area_ids, &filter.product_ids);
            }
            query.load::<store::AreaProductCountRow>(c).await
        })?;
        tally.add(rows);
    }
    Ok(())
}

/// Unit starts per statement. MariaDB turns an IN list of 1 000 values or
/// more into a join with a derived table and then scans the area's rows
/// (`in_predicate_conversion_threshold`).
const UNITS_PER_QUERY: usize = 900;

/// Whether rollup rows count for or against the answer.
#[derive(Debug, Clone, Copy)]
enum Sign {
    Add,
    Subtract,
}

/// Counts per area and product being summed, and the sign of the rows
/// read next.
struct Tally<'a> {
    totals: &'a mut AreaProductCounts,
    sign: Sign,
}

impl Tally<'_> {
    /// Adds or subtracts rows. Subtracted hours always belong to a day
    /// added before them (the day rollup is the sum of its hours, kept in
    /// the same transaction), so a count never goes below zero; a
    /// saturating subtraction keeps a broken rollup from wrapping around.
    fn add(&mut self, rows: Vec<store::AreaProductCountRow>) {
        for row in rows {
            let total = self
                .totals
                .entry(row.area_id)
                .or_default()
                .entry(row.product_id)
                .or_insert(0);
            *total = match self.sign {
                Sign::Add => total.saturating_add(count(row.n)),
                Sign::Subtract => total.saturating_sub(count(row.n)),
            };
        }
    }
}

/// Runs `select` (given the IN list's placeholders) once per 900 unit
/// starts (see [`UNITS_PER_QUERY`]), binding the units, then the area and
/// product lists of `filter`, and returns every row.
async fn load_at_units<R>(
    conn: &mut DbConn,
    units: &[NaiveDateTime],
    filter: &DetectionFilter,
    select: impl Fn(&str) -> String,
) -> AppResult<Vec<R>>
where
    R: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::mysql::Mysql> + Send + 'static,
{
    let listed = filter.area_ids.len() + filter.product_ids.len();
    let per_query = UNITS_PER_QUERY.min(MAX_BOUND_PARAMETERS.saturating_sub(listed)).max(1);
    let mut all = Vec::new();
    for chunk in units.chunks(per_query) {
        let sql = select(&vec!["?"; chunk.len()].join(", "));
        let rows = crate::with_conn!(conn, |c, DB| {
            let mut query = diesel::sql_query(sql.as_str()).into_boxed::<DB>();
            for unit in chunk {
                query = query.bind::<Timestamp, _>(*unit);
            }
            bind_ids!(query, &filter.area_ids, &filter.product_ids)
                .load::<R>(c)
                .await
        })?;
        all.extend(rows);
    }
    Ok(all)
}

/// [`rolled_counts`] for a filter naming its areas: every unit start of the
/// pieces in one IN list. Both backends then seek each (area, unit) in the
/// primary key and plan the statement once, where one range per piece cost
/// MariaDB an optimisation and index dives each (a year of weekly windows,
/// about 150 pieces, took 30 ms against 17 ms).
async fn unit_counts(
    conn: &mut DbConn,
    table: &str,
    (column, grain): (&str, Grain),
    pieces: &[Interval],
    filter: &DetectionFilter,
    tally: &mut Tally<'_>,
) -> AppResult<()> {
    let units: Vec<NaiveDateTime> = units_of(pieces, grain).map(|u| u.naive_utc()).collect();
    let tail = id_lists(filter.area_ids.len(), filter.product_ids.len());
    let rows = load_at_units::<store::AreaProductCountRow>(conn, &units, filter, |list| {
        format!("SELECT area_id, product_id, SUM(n) AS n FROM {table} WHERE {column} IN ({list}){tail} GROUP BY area_id, product_id")
    })
    .await?;
    tally.add(rows);
    Ok(())
}

/// How `windows` divide between the day and hour rollups and raw rows
/// under `rolled`: whole days only when the line's history has a day
/// rollup (see [`split_levels`]).
fn levels_of(windows: &[Interval], rolled: Rolled) -> Levels {
    if rolled.days_kept() {
        return split_levels(windows, rolled.watermark);
    }
    let hours = split(windows, Grain::Hour, rolled.watermark);
    Levels {
        hours: hours.rolled,
        raw: hours.raw,
        ..Default::default()
    }
}

/// Matching detections per product (all areas of the filter together).
pub async fn counts_by_product(
    conn: &mut DbConn,
    line_id: i32,
    filter: &DetectionFilter,
    rolled: Rolled,
) -> AppResult<Vec<(i32, u64)>> {
    let mut totals: BTreeMap<i32, u64> = BTreeMap::new();
    for per_product in counts_by_area_and_product(conn, line_id, filter, rolled)
        .await?
        .into_values()
    {
        for (product_id, n) in per_product {
            *totals.entry(product_id).or_insert(0) += n;
        }
    }
    Ok(totals.into_iter().filter(|(_, n)| *n > 0).collect())
}

/// Matching detections per area and product: whole UTC days from the day
/// rollup (when the line's history has one), whole hours at the edges
/// from the hour rollup, the rest raw, every area of the filter in the
/// same statements. The cost follows the number of planned windows, not
/// the length of the range. An empty area list means every area; zero
/// counts are left out.
pub async fn counts_by_area_and_product(
    conn: &mut DbConn,
    line_id: i32,
    filter: &DetectionFilter,
    rolled: Rolled,
) -> AppResult<AreaProductCounts> {
    let levels = levels_of(&intervals(&filter.within), rolled);
    let mut totals = AreaProductCounts::new();
    for (table, column, grain, pieces, sign) in [
        (day_table(line_id)?, "day_start", Grain::Day, &levels.days, Sign::Add),
        (
            hour_table(line_id)?,
            "hour_start",
            Grain::Hour,
            &levels.hours,
            Sign::Add,
        ),
        (
            hour_table(line_id)?,
            "hour_start",
            Grain::Hour,
            &levels.less_hours,
            Sign::Subtract,
        ),
    ] {
        if !pieces.is_empty() {
            rolled_counts(
                conn,
                &table,
                (column, grain),
                pieces,
                filter,
                &mut Tally {
                    totals: &mut totals,
                    sign,
                },
            )
            .await?;
        }
    }
    if !levels.raw.is_empty() {
        let raw = DetectionFilter {
            within: DetectionFilter::windows(&levels.raw),
            ..filter.clone()
        };
        for (area_id, product_id, n) in store::counts_by_area_and_product(conn, line_id, &raw).await? {
            *totals.entry(area_id).or_default().entry(product_id).or_insert(0) += n;
        }
    }
    for per_product in totals.values_mut() {
        per_product.retain(|_, n| *n > 0);
    }
    totals.retain(|_, per_product| !per_product.is_empty());
    Ok(totals)
}

/// One area's minute-rollup rows over an interval, read once so that the
/// gap analysis and the production chart of one request share the read.
#[derive(Debug, Clone)]
pub struct MinuteRows {
    area_id: i32,
    hull: Interval,
    watermark: Option<DateTime<Utc>>,
    rows: Vec<MinuteSpan>,
}

impl MinuteRows {
    /// The shared rows when they were read for this area, around `span`,
    /// under the same watermark as the caller's split.
    fn covering<'a>(
        shared: Option<&'a MinuteRows>,
        area_id: i32,
        span: &Interval,
        watermark: Option<DateTime<Utc>>,
    ) -> Option<&'a MinuteRows> {
        shared.filter(|m| m.area_id == area_id && m.hull.contains_interval(span) && m.watermark == watermark)
    }

    /// The watermark the rows were read under.
    pub fn watermark(&self) -> Option<DateTime<Utc>> {
        self.watermark
    }

    fn inside<'a>(&'a self, rolled: &'a IntervalSet) -> impl Iterator<Item = &'a MinuteSpan> + 'a {
        self.rows.iter().filter(|r| rolled.contains(r.unit.and_utc()))
    }
}

async fn load_minutes(conn: &mut DbConn, line_id: i32, area_id: i32, span: Interval) -> AppResult<Vec<MinuteSpan>> {
    let table = minute_table(line_id)?;
    let sql = format!(
        "SELECT minute_start AS unit, n, first_at, last_at FROM {table} WHERE {} ORDER BY minute_start",
        rollup_clause("minute_start", 1, 0)
    );
    Ok(crate::with_conn!(conn, |c, DB| {
        bind_rollup!(
            diesel::sql_query(sql.as_str()).into_boxed::<DB>(),
            span,
            &[area_id],
            &[] as &[i32]
        )
        .load::<MinuteSpan>(c)
        .await
    })?)
}

/// Reads one area's minute rollup over `span` for later shared use by
/// reads that split their windows under the same `watermark`.
pub async fn minute_rows(
    conn: &mut DbConn,
    line_id: i32,
    area_id: i32,
    span: Interval,
    watermark: Option<DateTime<Utc>>,
) -> AppResult<MinuteRows> {
    Ok(MinuteRows {
        area_id,
        hull: span,
        watermark,
        rows: load_minutes(conn, line_id, area_id, span).await?,
    })
}

/// Detection spans of one area inside `windows`, ascending: one per rolled
/// minute, one per raw instant elsewhere.
async fn spans(
    conn: &mut DbConn,
    line_id: i32,
    area_id: i32,
    windows: &[Interval],
    watermark: Option<DateTime<Utc>>,
    shared: Option<&MinuteRows>,
) -> AppResult<Vec<DetectionSpan>> {
    let parts = split(windows, Grain::Minute, watermark);
    let mut spans: Vec<DetectionSpan> = Vec::new();
    if let Some(span) = hull(&parts.rolled) {
        let rolled = IntervalSet::from_intervals(parts.rolled.iter().copied());
        let as_span = |r: &MinuteSpan| DetectionSpan {
            first: r.first_at.and_utc(),
            last: r.last_at.and_utc(),
        };
        match MinuteRows::covering(shared, area_id, &span, watermark) {
            Some(cached) => spans.extend(cached.inside(&rolled).map(as_span)),
            None => {
                let rows = load_minutes(conn, line_id, area_id, span).await?;
                spans.extend(rows.iter().filter(|r| rolled.contains(r.unit.and_utc())).map(as_span));
            }
        }
    }
    let raw = DetectionFilter {
        within: DetectionFilter::windows(&parts.raw),
        product_ids: Vec::new(),
        area_ids: vec![area_id],
    };
    spans.extend(
        store::instants(conn, line_id, &raw)
            .await?
            .into_iter()
            .map(|t| DetectionSpan::instant(t.and_utc())),
    );
    spans.sort();
    Ok(spans)
}

/// What gap analysis asks: the planned set, the threshold and now.
#[derive(Debug, Clone, Copy)]
pub struct GapQuery<'a> {
    /// The planned set P.
    pub planned: &'a IntervalSet,
    /// Gaps longer than this are stops.
    pub threshold: DowntimeThreshold,
    /// Nothing at or after now is a stop.
    pub now: DateTime<Utc>,
}

/// Downtime events of the planned set from the output area's detections
/// (semantics §4): the stored gaps when the threshold is at least the gap
/// floor, else per-minute spans when the threshold allows it, else raw
/// instants.
pub async fn downtime_events(
    conn: &mut DbConn,
    line_id: i32,
    output_area_id: i32,
    gaps: &GapQuery<'_>,
    rolled: Rolled,
    shared: Option<&MinuteRows>,
) -> AppResult<Vec<DowntimeEvent>> {
    let GapQuery {
        planned,
        threshold,
        now,
    } = *gaps;
    if let Some((mark, floor)) = rolled.gaps_serving(threshold) {
        let query = crate::rollup::gaps::StoredGapQuery {
            planned,
            threshold,
            now,
            floor,
            watermark: mark,
        };
        return crate::rollup::gaps::downtime_events(conn, line_id, output_area_id, &query).await;
    }
    let watermark = rolled.watermark;
    // Spans must not straddle a boundary of P clipped at now: split over
    // exactly those intervals.
    let windows: Vec<Interval> = clip_plan_to_now(planned, now).intervals().to_vec();
    let watermark = watermark.filter(|_| threshold.micros() >= SPAN_THRESHOLD_MICROS);
    let found = spans(conn, line_id, output_area_id, &windows, watermark, shared).await?;
    match downtime_events_from_spans(planned, found.iter().copied(), threshold, now) {
        Ok(events) => Ok(events),
        Err(error) => {
            // A contract breach is a bug; answer from raw instants rather than wrongly.
            tracing::error!(line_id, %error, "span gap analysis refused its input; using raw instants");
            let raw = spans(conn, line_id, output_area_id, &windows, None, None).await?;
            let instants: Vec<DateTime<Utc>> = raw.iter().map(|s| s.first).collect();
            Ok(crate::analytics::downtime::downtime_events(
                planned, &instants, threshold, now,
            ))
        }
    }
}

/// Matching detections per bucket of `series`. `filter.within` are the
/// windows to count in (the series' clipped range, or a shift's
/// occurrences inside it). Uses the hour rollup when every bucket boundary
/// is a whole UTC hour, else the minute rollup (no product filter) when
/// every boundary is a whole minute, or minute rows already read.
pub async fn bucket_counts(
    conn: &mut DbConn,
    line_id: i32,
    filter: &DetectionFilter,
    series: &BucketSeries,
    watermark: Option<DateTime<Utc>>,
    shared: Option<&MinuteRows>,
) -> AppResult<Vec<u64>> {
    let boundaries = || series.buckets.iter().skip(1).map(|b| b.start);
    let by_minute = filter.product_ids.is_empty() && buckets_align(boundaries(), Grain::Minute);
    let by_hour = buckets_align(boundaries(), Grain::Hour);
    // Hours are 60 times fewer rows than minutes; minutes only when the
    // buckets need them or a KPI of the same request already read them.
    let grain = match (by_minute, by_hour) {
        (true, _) if shared.is_some() => Some(Grain::Minute),
        (_, true) => Some(Grain::Hour),
        (true, false) => Some(Grain::Minute),
        (false, false) => None,
    };
    let windows = intervals(&filter.within);
    let parts = match grain {
        Some(grain) => split(&windows, grain, watermark),
        None => split(&windows, Grain::Hour, None),
    };
    let mut counts = vec![0u64; series.len()];
    let one_area = match filter.area_ids.as_slice() {
        [area] if grain == Some(Grain::Minute) => Some(*area),
        _ => None,
    };
    let cached =
        hull(&parts.rolled).and_then(|span| one_area.and_then(|a| MinuteRows::covering(shared, a, &span, watermark)));
    if let Some(cached) = cached {
        let inside = IntervalSet::from_intervals(parts.rolled.iter().copied());
        let rolled = series.sum_counts(cached.inside(&inside).map(|r| (r.unit.and_utc(), count(r.n))));
        for (total, n) in counts.iter_mut().zip(rolled) {
            *total += n;
        }
    } else if let (Some(grain), Some(span)) = (grain, hull(&parts.rolled)) {
        let (table, column, products) = match grain {
            Grain::Minute => (minute_table(line_id)?, "minute_start", &[] as &[i32]),
            Grain::Hour => (hour_table(line_id)?, "hour_start", filter.product_ids.as_slice()),
            Grain::Day => (day_table(line_id)?, "day_start", filter.product_ids.as_slice()),
        };
        // No GROUP BY: the buckets add up every area's and product's rows
        // anyway, and grouping by the unit made MariaDB sort a month of
        // minutes (15 ms against 8 ms for the plain index range).
        let sql = format!(
            "SELECT {column} AS unit, n FROM {table} WHERE {}",
            rollup_clause(column, filter.area_ids.len(), products.len())
        );
        let rows = crate::with_conn!(conn, |c, DB| {
            bind_rollup!(
                diesel::sql_query(sql.as_str()).into_boxed::<DB>(),
                span,
                &filter.area_ids,
                products
            )
            .load::<UnitCount>(c)
            .await
        })?;
        let inside = IntervalSet::from_intervals(parts.rolled.iter().copied());
        let rolled = series.sum_counts(
            rows.into_iter()
                .filter(|r| inside.contains(r.unit.and_utc()))
                .map(|r| (r.unit.and_utc(), count(r.n))),
        );
        for (total, n) in counts.iter_mut().zip(rolled) {
            *total += n;
        }
    }
    let raw = DetectionFilter {
        within: DetectionFilter::windows(&parts.raw),
        ..filter.clone()
    };
    let instants: Vec<DateTime<Utc>> = store::instants(conn, line_id, &raw)
        .await?
        .into_iter()
        .map(|t| t.and_utc())
        .collect();
    for (total, n) in counts.iter_mut().zip(series.count_sorted(&instants)) {
        *total += n;
    }
    Ok(counts)
}

#[derive(QueryableByName)]
struct HourCount {
    #[diesel(sql_type = Integer)]
    area_id: i32,
    #[diesel(sql_type = Integer)]
    product_id: i32,
    #[diesel(sql_type = Timestamp)]
    unit: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The rows of the rollup `table` at the given unit starts, by unit: one
/// IN list per 900 units (see [`UNITS_PER_QUERY`]), each row once.
async fn rows_at_units(
    conn: &mut DbConn,
    table: &str,
    column: &str,
    units: &std::collections::BTreeSet<DateTime<Utc>>,
    filter: &DetectionFilter,
) -> AppResult<BTreeMap<DateTime<Utc>, Vec<(i32, i32, u64)>>> {
    let units: Vec<NaiveDateTime> = units.iter().map(|u| u.naive_utc()).collect();
    let tail = id_lists(filter.area_ids.len(), filter.product_ids.len());
    let rows = load_at_units::<HourCount>(conn, &units, filter, |list| {
        format!("SELECT area_id, product_id, {column} AS unit, n FROM {table} WHERE {column} IN ({list}){tail}")
    })
    .await?;
    let mut by_unit: BTreeMap<DateTime<Utc>, Vec<(i32, i32, u64)>> = BTreeMap::new();
    for row in rows {
        by_unit
            .entry(row.unit.and_utc())
            .or_default()
            .push((row.area_id, row.product_id, count(row.n)));
    }
    Ok(by_unit)
}

/// The unit starts of whole-unit `pieces`.
fn units_of(pieces: &[Interval], grain: Grain) -> impl Iterator<Item = DateTime<Utc>> + '_ {
    let step = chrono::TimeDelta::microseconds(grain.micros());
    pieces.iter().flat_map(move |piece| {
        std::iter::successors(Some(piece.start), move |unit| Some(*unit + step))
            .take_while(move |unit| *unit < piece.end)
    })
}

/// [`counts_by_area_and_product`] of many cells of one line (each a sorted,
/// disjoint set of windows; cells may overlap), in one pass: every cell is
/// split into whole days, hours at their edges (a day mostly inside less
/// its hours outside) and raw pieces as that function does; the day and
/// hour rows all cells need are read once, by unit, and summed per cell in
/// memory; only partial hours and time after the watermark are read raw,
/// per cell. A grouped query's hundreds of cells cost a few statements
/// instead of hundreds. `filter.within` is ignored.
pub async fn counts_of_cells(
    conn: &mut DbConn,
    line_id: i32,
    cells: &[Vec<Interval>],
    filter: &DetectionFilter,
    rolled: Rolled,
) -> AppResult<Vec<AreaProductCounts>> {
    if let [windows] = cells {
        // One cell (every single-line view): the database sums the rows and
        // sends a few totals back, instead of every unit's rows.
        let filter = DetectionFilter {
            within: DetectionFilter::windows(windows),
            ..filter.clone()
        };
        return Ok(vec![counts_by_area_and_product(conn, line_id, &filter, rolled).await?]);
    }
    let levels: Vec<Levels> = cells.iter().map(|windows| levels_of(windows, rolled)).collect();
    let day_units: std::collections::BTreeSet<DateTime<Utc>> =
        levels.iter().flat_map(|l| units_of(&l.days, Grain::Day)).collect();
    let hour_units: std::collections::BTreeSet<DateTime<Utc>> = levels
        .iter()
        .flat_map(|l| units_of(&l.hours, Grain::Hour).chain(units_of(&l.less_hours, Grain::Hour)))
        .collect();
    let days = if day_units.is_empty() {
        BTreeMap::new()
    } else {
        rows_at_units(conn, &day_table(line_id)?, "day_start", &day_units, filter).await?
    };
    let hours = if hour_units.is_empty() {
        BTreeMap::new()
    } else {
        rows_at_units(conn, &hour_table(line_id)?, "hour_start", &hour_units, filter).await?
    };
    let mut answers = Vec::with_capacity(cells.len());
    for level in &levels {
        let mut signed: BTreeMap<(i32, i32), i128> = BTreeMap::new();
        let mut add = |rows: &BTreeMap<DateTime<Utc>, Vec<(i32, i32, u64)>>, pieces: &[Interval], sign: i128| {
            for piece in pieces {
                for (area_id, product_id, n) in rows.range(piece.start..piece.end).flat_map(|(_, rows)| rows) {
                    *signed.entry((*area_id, *product_id)).or_insert(0) += sign * i128::from(*n);
                }
            }
        };
        add(&days, &level.days, 1);
        add(&hours, &level.hours, 1);
        add(&hours, &level.less_hours, -1);
        if !level.raw.is_empty() {
            let raw = DetectionFilter {
                within: DetectionFilter::windows(&level.raw),
                ..filter.clone()
            };
            for (area_id, product_id, n) in store::counts_by_area_and_product(conn, line_id, &raw).await? {
                *signed.entry((area_id, product_id)).or_insert(0) += i128::from(n);
            }
        }
        let mut answer = AreaProductCounts::new();
        for ((area_id, product_id), n) in signed {
            // A day row is the sum of its hour rows: never below zero.
            let n = u64::try_from(n).unwrap_or(0);
            if n > 0 {
                answer.entry(area_id).or_default().insert(product_id, n);
            }
        }
        answers.push(answer);
    }
    Ok(answers)
}
