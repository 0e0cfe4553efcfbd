//! Rollup maintenance: adding an ingested batch to the rollups inside its
//! own transaction, rebuilding a range from raw rows (direct writes,
//! backfills), and the per-line watermark that says before which instant the
//! rollups include rows written straight into the raw table.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Nullable, Timestamp};
use diesel_async::RunQueryDsl;

use crate::analytics::gaps::GapFloor;
use crate::analytics::interval::Interval;
use crate::db::DbConn;
use crate::db::dialect::{BulkInsert, BulkValue, SqlDialect};
use crate::db::line_tables::{DetectionRow, day_table, detection_table, hour_table, minute_table};
use crate::error::{AppError, AppResult};
use crate::rollup::gaps::GapWriter;
use crate::rollup::plan::{Grain, aggregate, days_of};

/// Rollup rows per multi-row statement.
const CHUNK: usize = 1000;

/// Longest range rebuilt in one transaction, so a large backfill never holds
/// locks (or an SQLite write lock) for long.
const REBUILD_STEP_HOURS: i64 = 24;

/// The tables of one line that rollup maintenance touches.
#[derive(Debug, Clone)]
pub struct RollupTables {
    /// The line.
    pub line_id: i32,
    /// `detection_line_<id>`.
    pub raw: String,
    /// `detection_minute_<id>`.
    pub minutes: String,
    /// `detection_hour_<id>`.
    pub hours: String,
    /// `detection_day_<id>`.
    pub days: String,
}

impl RollupTables {
    /// The tables of line `line_id`.
    pub fn of(line_id: i32) -> AppResult<Self> {
        Ok(RollupTables {
            line_id,
            raw: detection_table(line_id)?,
            minutes: minute_table(line_id)?,
            hours: hour_table(line_id)?,
            days: day_table(line_id)?,
        })
    }
}

#[derive(QueryableByName)]
struct LockedRows {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct LineId {
    #[allow(dead_code)]
    #[diesel(sql_type = Integer)]
    line_id: i32,
}

#[derive(QueryableByName)]
struct Floor {
    #[diesel(sql_type = Nullable<BigInt>)]
    gap_floor_us: Option<i64>,
}

#[derive(QueryableByName)]
struct Earliest {
    #[diesel(sql_type = Nullable<Timestamp>)]
    at: Option<NaiveDateTime>,
}

/// Rollup writes on a concrete connection, inside the caller's transaction.
pub trait RollupWriter: Send {
    /// Serialises the rollup and gap maintenance of one line until commit:
    /// gaps are split from what the previous writer left, so two batches
    /// must not read the same gap. MySQL locks the line's row; SQLite
    /// writers are serialised already. Ingest takes it after inserting its
    /// raw rows (batches insert side by side), a rebuild after share-locking
    /// its raw range: always raw range first, then the line, so the two
    /// never wait for each other in a cycle. Reads of rollups and gaps after
    /// it lock what they read, so they see the last writer's commit.
    fn lock_line(&mut self, line_id: i32) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;

    /// True when the line's raw table holds no detection at all.
    fn line_is_empty(&mut self, line_id: i32) -> impl std::future::Future<Output = AppResult<bool>> + Send;

    /// The gap floor stored with the line's watermark, `Ok(None)` when the
    /// line has no watermark or its gaps were never built.
    fn stored_floor(
        &mut self,
        line_id: i32,
    ) -> impl std::future::Future<Output = diesel::QueryResult<Option<GapFloor>>> + Send;

    /// Adds freshly inserted detections to the line's rollups (accumulating
    /// into existing rows) and splits the stored gaps they fall into, with
    /// the line's stored floor, or `floor` when it has none yet.
    fn add_to_rollups(
        &mut self,
        line_id: i32,
        rows: &[&DetectionRow],
        floor: GapFloor,
    ) -> impl std::future::Future<Output = AppResult<()>> + Send;

    /// After a line's first detections went in through [`Self::add_to_rollups`]
    /// (`was_empty`: the raw table was empty before them) and no watermark
    /// exists yet, sets the watermark at `now` with `floor`: the rollups and
    /// gaps of such a line are complete, so reads trust them from the first
    /// request and the watermark job never rebuilds that history.
    fn trust_new_line(
        &mut self,
        line_id: i32,
        was_empty: bool,
        now: NaiveDateTime,
        floor: GapFloor,
    ) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;

    /// Replaces the rollups of `[start, end)` (whole hours) with aggregates
    /// of the raw rows; returns how many raw rows they cover. On MySQL the raw range is share-locked first, so an
    /// ingest into it either committed before (and is in the aggregates) or
    /// waits and then adds itself on top.
    fn rebuild_rollups(
        &mut self,
        tables: &RollupTables,
        start: NaiveDateTime,
        end: NaiveDateTime,
        floor: GapFloor,
    ) -> impl std::future::Future<Output = AppResult<i64>> + Send;

    /// Marks `[start, end)` of line `line_id` for the downtime job: the
    /// persisted events there are recomputed on its next run
    /// (`kpi::pending`).
    fn mark_pending(
        &mut self,
        line_id: i32,
        start: NaiveDateTime,
        end: NaiveDateTime,
    ) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;

    /// Stores line `line_id`'s watermark and gap floor (insert or update).
    fn set_watermark(
        &mut self,
        line_id: i32,
        mark: NaiveDateTime,
        now: NaiveDateTime,
        floor: GapFloor,
    ) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;
}

crate::impl_for_connections!(RollupWriter {
    async fn lock_line(&mut self, line_id: i32) -> diesel::QueryResult<()> {
        diesel::sql_query(format!(
            "SELECT line_id FROM production_line WHERE line_id = ?{}",
            <Self as SqlDialect>::LOCK_FOR_UPDATE
        ))
        .bind::<Integer, _>(line_id)
        .load::<LineId>(self)
        .await?;
        Ok(())
    }

    async fn line_is_empty(&mut self, line_id: i32) -> AppResult<bool> {
        let raw = detection_table(line_id)?;
        let any = diesel::sql_query(format!("SELECT MIN(detected_at) AS at FROM (SELECT detected_at FROM {raw} LIMIT 1) one"))
            .get_result::<Earliest>(self)
            .await?;
        Ok(any.at.is_none())
    }

    async fn stored_floor(&mut self, line_id: i32) -> diesel::QueryResult<Option<GapFloor>> {
        let rows = diesel::sql_query("SELECT gap_floor_us FROM rollup_watermark WHERE line_id = ?")
            .bind::<Integer, _>(line_id)
            .load::<Floor>(self)
            .await?;
        Ok(rows.into_iter().find_map(|r| r.gap_floor_us).and_then(GapFloor::from_micros))
    }

    async fn trust_new_line(&mut self, line_id: i32, was_empty: bool, now: NaiveDateTime, floor: GapFloor) -> diesel::QueryResult<()> {
        use crate::db::schema::tenant::rollup_watermark as w;
        use diesel::ExpressionMethods;
        if !was_empty {
            return Ok(());
        }
        // A locking read: another batch's first watermark may have committed
        // after this transaction's snapshot.
        let existing = diesel::sql_query(format!(
            "SELECT line_id FROM rollup_watermark WHERE line_id = ?{}",
            <Self as SqlDialect>::LOCK_FOR_UPDATE
        ))
        .bind::<Integer, _>(line_id)
        .load::<LineId>(self)
        .await?;
        if existing.is_empty() {
            diesel::insert_into(w::table)
                .values((
                    w::line_id.eq(line_id),
                    w::watermark.eq(Grain::Minute.floor_naive(now)),
                    w::refreshed_at.eq(now),
                    w::gap_floor_us.eq(Some(floor.micros())),
                    w::provisional.eq(true),
                ))
                .execute(self)
                .await?;
        }
        Ok(())
    }

    async fn add_to_rollups(&mut self, line_id: i32, rows: &[&DetectionRow], floor: GapFloor) -> AppResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let floor = self.stored_floor(line_id).await?.unwrap_or(floor);
        let first = rows.iter().map(|r| r.detected_at).min();
        let last = rows.iter().map(|r| r.detected_at).max();
        if let (Some(first), Some(last)) = (first, last) {
            // The stops these rows end or split lie around them: the job
            // widens the span to the stops' true edges.
            self.mark_pending(line_id, first, last + chrono::TimeDelta::microseconds(1)).await?;
        }
        // Before the minute rollup grows: its first and last instants are
        // where the unbounded gaps of the store end.
        self.add_to_gaps(line_id, rows, floor).await?;
        let tables = RollupTables::of(line_id)?;
        let (minutes, hours) = aggregate(rows.iter().copied());
        let head = format!(
            "INSERT INTO {} (area_id, minute_start, n, first_at, last_at) VALUES ",
            tables.minutes
        );
        for chunk in minutes.chunks(CHUNK) {
            self.bulk_insert(&head, chunk, <Self as SqlDialect>::ACCUMULATE_MINUTE, |row| {
                [
                    BulkValue::Int(row.area_id.into()),
                    BulkValue::Timestamp(row.minute),
                    BulkValue::Int(row.n),
                    BulkValue::Timestamp(row.first_at),
                    BulkValue::Timestamp(row.last_at),
                ]
            })
            .await?;
        }
        let head = format!("INSERT INTO {} (area_id, hour_start, product_id, n) VALUES ", tables.hours);
        for chunk in hours.chunks(CHUNK) {
            self.bulk_insert(&head, chunk, <Self as SqlDialect>::ACCUMULATE_HOUR, |row| {
                [
                    BulkValue::Int(row.area_id.into()),
                    BulkValue::Timestamp(row.hour),
                    BulkValue::Int(row.product_id.into()),
                    BulkValue::Int(row.n),
                ]
            })
            .await?;
        }
        let head = format!("INSERT INTO {} (area_id, day_start, product_id, n) VALUES ", tables.days);
        for chunk in days_of(&hours).chunks(CHUNK) {
            self.bulk_insert(&head, chunk, <Self as SqlDialect>::ACCUMULATE_DAY, |row| {
                [
                    BulkValue::Int(row.area_id.into()),
                    BulkValue::Timestamp(row.day),
                    BulkValue::Int(row.product_id.into()),
                    BulkValue::Int(row.n),
                ]
            })
            .await?;
        }
        Ok(())
    }

    async fn rebuild_rollups(
        &mut self,
        tables: &RollupTables,
        start: NaiveDateTime,
        end: NaiveDateTime,
        floor: GapFloor,
    ) -> AppResult<i64> {
        let RollupTables {
            line_id,
            raw,
            minutes,
            hours,
            days,
        } = tables;
        let locked = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM {raw} WHERE detected_at >= ? AND detected_at < ?{}",
            <Self as SqlDialect>::LOCK_FOR_SHARE
        ))
        .bind::<Timestamp, _>(start)
        .bind::<Timestamp, _>(end)
        .get_result::<LockedRows>(self)
        .await?
        .n;
        self.lock_line(*line_id).await?;
        // Rows written straight into the raw table (folded in here) change
        // the stops of the span as ingest's do.
        self.mark_pending(*line_id, start, end).await?;
        diesel::sql_query(format!("DELETE FROM {minutes} WHERE minute_start >= ? AND minute_start < ?"))
            .bind::<Timestamp, _>(start)
            .bind::<Timestamp, _>(end)
            .execute(self)
            .await?;
        let minute = <Self as SqlDialect>::minute_of("detected_at");
        diesel::sql_query(format!(
            "INSERT INTO {minutes} (area_id, minute_start, n, first_at, last_at) \
             SELECT area_id, {minute} AS m, COUNT(*), MIN(detected_at), MAX(detected_at) FROM {raw} \
             WHERE detected_at >= ? AND detected_at < ? GROUP BY area_id, m"
        ))
        .bind::<Timestamp, _>(start)
        .bind::<Timestamp, _>(end)
        .execute(self)
        .await?;
        diesel::sql_query(format!("DELETE FROM {hours} WHERE hour_start >= ? AND hour_start < ?"))
            .bind::<Timestamp, _>(start)
            .bind::<Timestamp, _>(end)
            .execute(self)
            .await?;
        let hour = <Self as SqlDialect>::hour_of("detected_at");
        diesel::sql_query(format!(
            "INSERT INTO {hours} (area_id, hour_start, product_id, n) \
             SELECT area_id, {hour} AS h, product_id, COUNT(*) FROM {raw} \
             WHERE detected_at >= ? AND detected_at < ? GROUP BY area_id, h, product_id"
        ))
        .bind::<Timestamp, _>(start)
        .bind::<Timestamp, _>(end)
        .execute(self)
        .await?;
        // Days are sums of their hours: recount every day the range touches.
        let (first_day, end_day) = (
            Grain::Day.floor_naive(start),
            Grain::Day.ceil(end.and_utc()).naive_utc(),
        );
        diesel::sql_query(format!("DELETE FROM {days} WHERE day_start >= ? AND day_start < ?"))
            .bind::<Timestamp, _>(first_day)
            .bind::<Timestamp, _>(end_day)
            .execute(self)
            .await?;
        let day = <Self as SqlDialect>::day_of("hour_start");
        diesel::sql_query(format!(
            "INSERT INTO {days} (area_id, day_start, product_id, n) \
             SELECT area_id, {day} AS d, product_id, SUM(n) FROM {hours} \
             WHERE hour_start >= ? AND hour_start < ? GROUP BY area_id, d, product_id"
        ))
        .bind::<Timestamp, _>(first_day)
        .bind::<Timestamp, _>(end_day)
        .execute(self)
        .await?;
        // The minute rollup is exact up to `end` now: the gaps read their
        // neighbours from it.
        self.rebuild_gaps(*line_id, start, end, floor).await?;
        Ok(locked)
    }

    async fn mark_pending(&mut self, line_id: i32, start: NaiveDateTime, end: NaiveDateTime) -> diesel::QueryResult<()> {
        use crate::db::schema::tenant::downtime_pending as p;
        use diesel::ExpressionMethods;
        if start < end {
            diesel::insert_into(p::table)
                .values((p::line_id.eq(line_id), p::span_start.eq(start), p::span_end.eq(end)))
                .execute(self)
                .await?;
        }
        Ok(())
    }

    async fn set_watermark(&mut self, line_id: i32, mark: NaiveDateTime, now: NaiveDateTime, floor: GapFloor) -> diesel::QueryResult<()> {
        use crate::db::schema::tenant::rollup_watermark as w;
        use diesel::{ExpressionMethods, QueryDsl};
        let updated = diesel::update(w::table.filter(w::line_id.eq(line_id)))
            .set((
                w::watermark.eq(mark),
                w::refreshed_at.eq(now),
                w::gap_floor_us.eq(Some(floor.micros())),
                w::provisional.eq(false),
            ))
            .execute(self)
            .await?;
        if updated == 0 {
            diesel::insert_into(w::table)
                .values((
                    w::line_id.eq(line_id),
                    w::watermark.eq(mark),
                    w::refreshed_at.eq(now),
                    w::gap_floor_us.eq(Some(floor.micros())),
                ))
                .execute(self)
                .await?;
        }
        Ok(())
    }
});

/// The watermark of line `line_id`: rollup units wholly before it include
/// every row written before the last rebuild. `None` until the first
/// rebuild (then every query reads raw rows).
pub async fn watermark(conn: &mut DbConn, line_id: i32) -> AppResult<Option<DateTime<Utc>>> {
    use crate::db::schema::tenant::rollup_watermark as w;
    use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
    let mark = crate::with_conn!(conn, |c| w::table
        .filter(w::line_id.eq(line_id))
        .select(w::watermark)
        .first::<NaiveDateTime>(c)
        .await
        .optional())?;
    Ok(mark.map(|m| m.and_utc()))
}

/// Every line's watermark in this tenant database, by line id (for the
/// watermark lag of `/metrics`).
pub async fn watermarks(conn: &mut DbConn) -> AppResult<Vec<(i32, DateTime<Utc>)>> {
    use crate::db::schema::tenant::rollup_watermark as w;
    use diesel::{ExpressionMethods, QueryDsl};
    let marks = crate::with_conn!(conn, |c| w::table
        .select((w::line_id, w::watermark))
        .order(w::line_id.asc())
        .load::<(i32, NaiveDateTime)>(c)
        .await)?;
    Ok(marks.into_iter().map(|(line, mark)| (line, mark.and_utc())).collect())
}

/// What a rebuild did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildReport {
    /// Start of the rebuilt range (whole hours).
    pub start: Option<DateTime<Utc>>,
    /// End of the rebuilt range.
    pub end: Option<DateTime<Utc>>,
    /// Hours rebuilt.
    pub hours: i64,
    /// Raw detections those hours hold.
    pub rows: i64,
}

/// Rebuilds line `line_id`'s rollups over `range` widened to whole hours, in
/// transactions of at most a day each. When `new_watermark` is given it is
/// stored in the transaction of the last step, so no rebuilt range is ever
/// read as rolled before its rebuild committed.
pub async fn rebuild(
    conn: &mut DbConn,
    line_id: i32,
    range: Interval,
    new_watermark: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    floor: GapFloor,
) -> AppResult<RebuildReport> {
    let tables = RollupTables::of(line_id)?;
    let start = Grain::Hour.floor(range.start);
    let end = Grain::Hour.ceil(range.end);
    let mut steps = Vec::new();
    let mut cursor = start;
    while cursor < end {
        let step_end = (cursor + Duration::hours(REBUILD_STEP_HOURS)).min(end);
        steps.push((cursor, step_end));
        cursor = step_end;
    }
    if steps.is_empty() && new_watermark.is_some() {
        steps.push((start, start));
    }
    let mut report = RebuildReport::default();
    let count = steps.len();
    for (index, (from, to)) in steps.into_iter().enumerate() {
        let mark = new_watermark.filter(|_| index + 1 == count);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = crate::write_tx!(&mut *conn, |c| {
                let rows = if from < to {
                    c.rebuild_rollups(&tables, from.naive_utc(), to.naive_utc(), floor)
                        .await?
                } else {
                    0
                };
                if let Some(mark) = mark {
                    c.set_watermark(line_id, mark.naive_utc(), now.naive_utc(), floor)
                        .await?;
                }
                Ok::<_, AppError>(rows)
            });
            match result {
                Ok(rows) => {
                    report.rows += rows;
                    break;
                }
                Err(error) if attempt < 3 && error.is_lock_contention() => {
                    tracing::info!(line_id, %error, "rollup rebuild collided with a writer; retrying");
                }
                Err(error) => return Err(error),
            }
        }
        report.hours += (to - from).num_hours();
    }
    if start < end {
        report.start = Some(start);
        report.end = Some(end);
    }
    Ok(report)
}

/// Moves line `line_id`'s watermark to `now − settle` (whole minutes),
/// rebuilding from raw rows everything since the previous watermark minus
/// `trailing` (late direct writes), or the whole history on the first run
/// and whenever the gaps were built with another floor than `floor`.
/// Returns the new watermark and what was rebuilt.
pub async fn advance(
    conn: &mut DbConn,
    line_id: i32,
    now: DateTime<Utc>,
    settle: Duration,
    trailing: Duration,
    floor: GapFloor,
) -> AppResult<(DateTime<Utc>, RebuildReport)> {
    let target = Grain::Minute.floor(now - settle);
    let trusted = match mark_of(conn, line_id).await? {
        Some(mark) if mark.floor == Some(floor) && !mark.provisional => Some(mark.watermark),
        // Ingest set this watermark on a new line: its history is trusted
        // unless rows were also written straight into the raw table.
        Some(mark) if mark.floor == Some(floor) && holds_only_rolled_rows(conn, line_id).await? => Some(mark.watermark),
        _ => None,
    };
    let start = match trusted {
        Some(previous) => previous.min(target) - trailing,
        None => earliest(conn, line_id).await?.unwrap_or(target).min(target),
    };
    let report = rebuild(conn, line_id, Interval::new(start, target), Some(target), now, floor).await?;
    Ok((target, report))
}

/// A line's watermark row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LineMark {
    watermark: DateTime<Utc>,
    floor: Option<GapFloor>,
    provisional: bool,
}

async fn mark_of(conn: &mut DbConn, line_id: i32) -> AppResult<Option<LineMark>> {
    use crate::db::schema::tenant::rollup_watermark as w;
    use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
    let row = crate::with_conn!(conn, |c| w::table
        .filter(w::line_id.eq(line_id))
        .select((w::watermark, w::gap_floor_us, w::provisional))
        .first::<(NaiveDateTime, Option<i64>, bool)>(c)
        .await
        .optional())?;
    Ok(row.map(|(mark, floor, provisional)| LineMark {
        watermark: mark.and_utc(),
        floor: floor.and_then(GapFloor::from_micros),
        provisional,
    }))
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = Nullable<BigInt>)]
    n: Option<i64>,
}

/// Days of raw rows counted per statement: a year-long line counted at once
/// runs past the statement timeout.
const COUNT_STEP_DAYS: i64 = 7;

/// True when every raw row of the line is in its hour rollup (no row was
/// written straight into the raw table): raw and rolled rows counted week
/// by week, once per line, stopping at the first week that differs.
async fn holds_only_rolled_rows(conn: &mut DbConn, line_id: i32) -> AppResult<bool> {
    let tables = RollupTables::of(line_id)?;
    let (Some(first), Some(last)) = (earliest(conn, line_id).await?, latest(conn, line_id).await?) else {
        return Ok(true);
    };
    let raw_sql = format!(
        "SELECT COUNT(*) AS n FROM {} WHERE detected_at >= ? AND detected_at < ?",
        tables.raw
    );
    let rolled_sql = format!(
        "SELECT CAST(SUM(n) AS SIGNED) AS n FROM {} WHERE hour_start >= ? AND hour_start < ?",
        tables.hours
    );
    let end = Grain::Hour.floor(last) + Duration::hours(1);
    let mut cursor = Grain::Hour.floor(first);
    while cursor < end {
        let step_end = (cursor + Duration::days(COUNT_STEP_DAYS)).min(end);
        let (from, to) = (cursor.naive_utc(), step_end.naive_utc());
        let (raw, rolled) = crate::with_conn!(conn, |c| {
            let raw = diesel::sql_query(raw_sql.as_str())
                .bind::<Timestamp, _>(from)
                .bind::<Timestamp, _>(to)
                .get_result::<Total>(c)
                .await?;
            let rolled = diesel::sql_query(rolled_sql.as_str())
                .bind::<Timestamp, _>(from)
                .bind::<Timestamp, _>(to)
                .get_result::<Total>(c)
                .await?;
            Ok::<_, diesel::result::Error>((raw.n.unwrap_or(0), rolled.n.unwrap_or(0)))
        })?;
        if raw != rolled {
            return Ok(false);
        }
        cursor = step_end;
    }
    Ok(true)
}

/// What a line's rollups hold, read once per request: whole units before
/// `watermark` include every row written before it, and the stored gaps
/// (and day rollup) were built with `gap_floor`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rolled {
    /// The watermark, `None` before the first rebuild or ingest.
    pub watermark: Option<DateTime<Utc>>,
    /// The gap floor, `None` while the gaps and days were never built.
    pub gap_floor: Option<GapFloor>,
}

impl Rolled {
    /// The watermark and floor when stored gaps answer gap analysis with
    /// `threshold`.
    pub fn gaps_serving(&self, threshold: crate::analytics::DowntimeThreshold) -> Option<(DateTime<Utc>, GapFloor)> {
        let floor = self.gap_floor.filter(|f| f.serves(threshold))?;
        Some((self.watermark?, floor))
    }

    /// True when the day rollup holds the line's whole history before the
    /// watermark (it is built with the gaps).
    pub fn days_kept(&self) -> bool {
        self.watermark.is_some() && self.gap_floor.is_some()
    }
}

/// Line `line_id`'s watermark and gap floor, in one read.
pub async fn rolled(conn: &mut DbConn, line_id: i32) -> AppResult<Rolled> {
    Ok(mark_of(conn, line_id)
        .await?
        .map_or_else(Rolled::default, |mark| Rolled {
            watermark: Some(mark.watermark),
            gap_floor: mark.floor,
        }))
}

/// The floor line `line_id`'s stored gaps were built with, if they were.
pub async fn gap_floor(conn: &mut DbConn, line_id: i32) -> AppResult<Option<GapFloor>> {
    Ok(crate::with_conn!(conn, |c| c.stored_floor(line_id).await)?)
}

/// The earliest raw detection of a line, if any.
async fn earliest(conn: &mut DbConn, line_id: i32) -> AppResult<Option<DateTime<Utc>>> {
    raw_edge(conn, line_id, "MIN").await
}

/// The latest raw detection of a line, if any.
async fn latest(conn: &mut DbConn, line_id: i32) -> AppResult<Option<DateTime<Utc>>> {
    raw_edge(conn, line_id, "MAX").await
}

async fn raw_edge(conn: &mut DbConn, line_id: i32, function: &'static str) -> AppResult<Option<DateTime<Utc>>> {
    let raw = detection_table(line_id)?;
    let sql = format!("SELECT {function}(detected_at) AS at FROM {raw}");
    let row = crate::with_conn!(conn, |c| diesel::sql_query(sql.as_str())
        .get_result::<Earliest>(c)
        .await)?;
    Ok(row.at.map(|t| t.and_utc()))
}

/// What the watermark job takes from the configuration, read once per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollupSettings {
    /// How long after a detection's instant a direct write may still land
    /// (`CAMET_ROLLUP_SETTLE_SECS`): the watermark stays that far behind now.
    pub settle: Duration,
    /// How far before the previous watermark each run rebuilds again, for
    /// late direct writes (`CAMET_ROLLUP_TRAILING_SECS`).
    pub trailing: Duration,
    /// The gap floor new gaps are stored with (`CAMET_GAP_FLOOR_SECS`).
    pub gap_floor: GapFloor,
}

impl RollupSettings {
    /// The settings of `config`.
    pub fn from_config(config: &crate::config::Config) -> AppResult<Self> {
        Ok(RollupSettings {
            settle: Duration::seconds(i64::try_from(config.rollup_settle_secs).map_err(AppError::internal)?),
            trailing: Duration::seconds(i64::try_from(config.rollup_trailing_secs).map_err(AppError::internal)?),
            gap_floor: config.gap_floor(),
        })
    }
}

/// Advances the watermark of every line of every tenant; a failing line is
/// logged and retried at the next run. Returns how many lines advanced.
pub async fn advance_all(
    databases: &crate::db::Databases,
    cache: &crate::plant::cache::MetadataCache,
    settings: RollupSettings,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let mut advanced = 0;
    for tenant_id in crate::tenants::all_ids(databases).await? {
        let snapshot = cache.get(databases, tenant_id).await?;
        let pool = databases.tenant(tenant_id).await?;
        let mut conn = pool.get().await?;
        for line_id in snapshot.lines.keys() {
            match advance(
                &mut conn,
                *line_id,
                now,
                settings.settle,
                settings.trailing,
                settings.gap_floor,
            )
            .await
            {
                Ok(_) => advanced += 1,
                Err(error) => {
                    tracing::warn!(tenant_id, line_id, %error, "rollup watermark did not advance; retried next run")
                }
            }
        }
    }
    Ok(advanced)
}
