//! Rollup maintenance: adding an ingested batch to the rollups inside its
//! own transaction, rebuilding a range from raw rows (direct writes,
//! backfills), and the per-line watermark that says before which instant the
//! rollups include rows written straight into the raw table.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Nullable, Timestamp};
use diesel_async::RunQueryDsl;

use crate::analytics::interval::Interval;
use crate::db::DbConn;
use crate::db::dialect::SqlDialect;
use crate::db::line_tables::{DetectionRow, detection_table, hour_table, minute_table};
use crate::error::{AppError, AppResult};
use crate::rollup::plan::{Grain, aggregate};

/// Rollup rows per multi-row statement.
const CHUNK: usize = 1000;

/// Longest range rebuilt in one transaction, so a large backfill never holds
/// locks (or an SQLite write lock) for long.
const REBUILD_STEP_HOURS: i64 = 24;

/// The tables of one line that rollup maintenance touches.
#[derive(Debug, Clone)]
pub struct RollupTables {
    /// `detection_line_<id>`.
    pub raw: String,
    /// `detection_minute_<id>`.
    pub minutes: String,
    /// `detection_hour_<id>`.
    pub hours: String,
}

impl RollupTables {
    /// The tables of line `line_id`.
    pub fn of(line_id: i32) -> AppResult<Self> {
        Ok(RollupTables {
            raw: detection_table(line_id)?,
            minutes: minute_table(line_id)?,
            hours: hour_table(line_id)?,
        })
    }
}

#[derive(QueryableByName)]
struct LockedRows {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Earliest {
    #[diesel(sql_type = Nullable<Timestamp>)]
    at: Option<NaiveDateTime>,
}

/// Rollup writes on a concrete connection, inside the caller's transaction.
pub trait RollupWriter: Send {
    /// Adds freshly inserted detections to the line's rollups (accumulating
    /// into existing rows).
    fn add_to_rollups(
        &mut self,
        line_id: i32,
        rows: &[&DetectionRow],
    ) -> impl std::future::Future<Output = AppResult<()>> + Send;

    /// Replaces the rollups of `[start, end)` (whole hours) with aggregates
    /// of the raw rows; returns how many raw rows they cover. On MySQL the raw range is share-locked first, so an
    /// ingest into it either committed before (and is in the aggregates) or
    /// waits and then adds itself on top.
    fn rebuild_rollups(
        &mut self,
        tables: &RollupTables,
        start: NaiveDateTime,
        end: NaiveDateTime,
    ) -> impl std::future::Future<Output = diesel::QueryResult<i64>> + Send;

    /// Stores line `line_id`'s watermark (insert or update).
    fn set_watermark(
        &mut self,
        line_id: i32,
        mark: NaiveDateTime,
        now: NaiveDateTime,
    ) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;
}

crate::impl_for_connections!(RollupWriter {
    async fn add_to_rollups(&mut self, line_id: i32, rows: &[&DetectionRow]) -> AppResult<()> {
        use diesel_async::AsyncConnectionCore;
        type Db<C> = <C as AsyncConnectionCore>::Backend;
        if rows.is_empty() {
            return Ok(());
        }
        let tables = RollupTables::of(line_id)?;
        let (minutes, hours) = aggregate(rows.iter().copied());
        for chunk in minutes.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO {} (area_id, minute_start, n, first_at, last_at) VALUES {}{}",
                tables.minutes,
                vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", "),
                <Self as SqlDialect>::ACCUMULATE_MINUTE
            );
            let mut query = diesel::sql_query(sql).into_boxed::<Db<Self>>();
            for row in chunk {
                query = query
                    .bind::<Integer, _>(row.area_id)
                    .bind::<Timestamp, _>(row.minute)
                    .bind::<BigInt, _>(row.n)
                    .bind::<Timestamp, _>(row.first_at)
                    .bind::<Timestamp, _>(row.last_at);
            }
            query.execute(self).await?;
        }
        for chunk in hours.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO {} (area_id, hour_start, product_id, n) VALUES {}{}",
                tables.hours,
                vec!["(?, ?, ?, ?)"; chunk.len()].join(", "),
                <Self as SqlDialect>::ACCUMULATE_HOUR
            );
            let mut query = diesel::sql_query(sql).into_boxed::<Db<Self>>();
            for row in chunk {
                query = query
                    .bind::<Integer, _>(row.area_id)
                    .bind::<Timestamp, _>(row.hour)
                    .bind::<Integer, _>(row.product_id)
                    .bind::<BigInt, _>(row.n);
            }
            query.execute(self).await?;
        }
        Ok(())
    }

    async fn rebuild_rollups(
        &mut self,
        tables: &RollupTables,
        start: NaiveDateTime,
        end: NaiveDateTime,
    ) -> diesel::QueryResult<i64> {
        let RollupTables { raw, minutes, hours } = tables;
        let locked = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM {raw} WHERE detected_at >= ? AND detected_at < ?{}",
            <Self as SqlDialect>::LOCK_FOR_SHARE
        ))
        .bind::<Timestamp, _>(start)
        .bind::<Timestamp, _>(end)
        .get_result::<LockedRows>(self)
        .await?
        .n;
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
        Ok(locked)
    }

    async fn set_watermark(&mut self, line_id: i32, mark: NaiveDateTime, now: NaiveDateTime) -> diesel::QueryResult<()> {
        use crate::db::schema::tenant::rollup_watermark as w;
        use diesel::{ExpressionMethods, QueryDsl};
        let updated = diesel::update(w::table.filter(w::line_id.eq(line_id)))
            .set((w::watermark.eq(mark), w::refreshed_at.eq(now)))
            .execute(self)
            .await?;
        if updated == 0 {
            diesel::insert_into(w::table)
                .values((w::line_id.eq(line_id), w::watermark.eq(mark), w::refreshed_at.eq(now)))
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
                    c.rebuild_rollups(&tables, from.naive_utc(), to.naive_utc()).await?
                } else {
                    0
                };
                if let Some(mark) = mark {
                    c.set_watermark(line_id, mark.naive_utc(), now.naive_utc()).await?;
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
/// `trailing` (late direct writes), or the whole history on the first run.
/// Returns the new watermark.
pub async fn advance(
    conn: &mut DbConn,
    line_id: i32,
    now: DateTime<Utc>,
    settle: Duration,
    trailing: Duration,
) -> AppResult<DateTime<Utc>> {
    let target = Grain::Minute.floor(now - settle);
    let start = match watermark(conn, line_id).await? {
        Some(previous) => previous.min(target) - trailing,
        None => earliest(conn, line_id).await?.unwrap_or(target).min(target),
    };
    rebuild(conn, line_id, Interval::new(start, target), Some(target), now).await?;
    Ok(target)
}

/// The earliest raw detection of a line, if any.
async fn earliest(conn: &mut DbConn, line_id: i32) -> AppResult<Option<DateTime<Utc>>> {
    let raw = detection_table(line_id)?;
    let sql = format!("SELECT MIN(detected_at) AS at FROM {raw}");
    let row = crate::with_conn!(conn, |c| diesel::sql_query(sql.as_str())
        .get_result::<Earliest>(c)
        .await)?;
    Ok(row.at.map(|t| t.and_utc()))
}

/// Advances the watermark of every line of every tenant; a failing line is
/// logged and retried at the next run. Returns how many lines advanced.
pub async fn advance_all(state: &crate::app::AppState, now: DateTime<Utc>) -> AppResult<usize> {
    let settle = Duration::seconds(i64::try_from(state.config.rollup_settle_secs).map_err(AppError::internal)?);
    let trailing = Duration::seconds(i64::try_from(state.config.rollup_trailing_secs).map_err(AppError::internal)?);
    let mut advanced = 0;
    for tenant_id in crate::tenants::all_ids(&state.databases).await? {
        let snapshot = state.cache.get(&state.databases, tenant_id).await?;
        let pool = state.databases.tenant(tenant_id).await?;
        let mut conn = pool.get().await?;
        for line_id in snapshot.lines.keys() {
            match advance(&mut conn, *line_id, now, settle, trailing).await {
                Ok(_) => advanced += 1,
                Err(error) => {
                    tracing::warn!(tenant_id, line_id, %error, "rollup watermark did not advance; retried next run")
                }
            }
        }
    }
    Ok(advanced)
}
