//! A line's stored gaps (`detection_gap_<id>`): per area, every gap longer
//! than the line's gap floor between consecutive detections. Ingest splits
//! the gaps its detections fall into, rebuilds recompute a range from raw
//! rows, both inside their own transaction; gap analysis for a threshold at
//! or above the floor reads only the gaps longer than the threshold (the
//! `length_class` index), the area's first and last detection, and raw rows
//! after the watermark. The math, and why it is exact, is
//! [`crate::analytics::gaps`].

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Nullable, Timestamp};
use diesel_async::RunQueryDsl;

use crate::analytics::downtime::{DowntimeEvent, DowntimeThreshold, clip_plan_to_now};
use crate::analytics::gaps::{Gap, GapFloor, downtime_events_from_gaps, gaps_between, split_gap, timeline_gaps};
use crate::analytics::interval::IntervalSet;
use crate::db::DbConn;
use crate::db::dialect::SqlDialect;
use crate::db::line_tables::{DetectionRow, gap_table, minute_table};
use crate::detections::store::{self as detections, DetectionFilter};
use crate::error::AppResult;

/// The largest length class: durations are whole seconds of at most 44 bits.
const MAX_LENGTH_CLASS: i32 = 44;

/// Gaps inserted per multi-row statement.
const CHUNK: usize = 1000;

/// The length class of a gap: the bit length of its whole seconds. It only
/// grows with the length, so every gap longer than T has a class at least
/// that of T, and readers ask the index for those classes only.
pub fn length_class(micros: i64) -> i32 {
    let seconds = u64::try_from(micros / 1_000_000).unwrap_or(0);
    i32::try_from(64 - seconds.leading_zeros()).unwrap_or(MAX_LENGTH_CLASS)
}

#[derive(QueryableByName)]
struct Instant {
    #[diesel(sql_type = Nullable<Timestamp>)]
    at: Option<NaiveDateTime>,
}

#[derive(QueryableByName)]
struct StoredGap {
    #[diesel(sql_type = Timestamp)]
    gap_start: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    gap_end: NaiveDateTime,
}

impl StoredGap {
    fn gap(&self) -> Gap {
        Gap::between(self.gap_start.and_utc(), self.gap_end.and_utc())
    }
}

#[derive(QueryableByName)]
struct AreaInstant {
    #[diesel(sql_type = Integer)]
    area_id: i32,
    #[diesel(sql_type = Timestamp)]
    detected_at: NaiveDateTime,
}

fn naive(t: Option<DateTime<Utc>>) -> Option<NaiveDateTime> {
    t.map(|t| t.naive_utc())
}

/// Gap maintenance on a concrete connection, inside the caller's
/// transaction (which holds the line's lock, see
/// [`crate::rollup::store::RollupWriter::lock_line`]).
pub trait GapWriter: Send {
    /// Splits the stored gaps that the freshly inserted `rows` fall into.
    /// Must run before the rows are added to the minute rollup, whose first
    /// and last instants say where the unbounded gaps begin and end.
    fn add_to_gaps(
        &mut self,
        line_id: i32,
        rows: &[&DetectionRow],
        floor: GapFloor,
    ) -> impl std::future::Future<Output = AppResult<()>> + Send;

    /// Replaces the gaps touching `[start, end)` with gaps of the raw rows;
    /// the minute rollup must already be exact up to `start`.
    fn rebuild_gaps(
        &mut self,
        line_id: i32,
        start: NaiveDateTime,
        end: NaiveDateTime,
        floor: GapFloor,
    ) -> impl std::future::Future<Output = AppResult<()>> + Send;

    /// Inserts the bounded gaps of `gaps` for one area.
    fn insert_gap_rows(
        &mut self,
        table: &str,
        area_id: i32,
        gaps: &[Gap],
    ) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;
}

crate::impl_for_connections!(GapWriter {
    async fn insert_gap_rows(&mut self, table: &str, area_id: i32, gaps: &[Gap]) -> diesel::QueryResult<()> {
        use crate::db::dialect::{BulkInsert, BulkValue};
        let bounded: Vec<(NaiveDateTime, NaiveDateTime, i64)> = gaps
            .iter()
            .filter_map(|g| Some((naive(g.after)?, naive(g.before)?, g.micros()?)))
            .collect();
        let head = format!("INSERT INTO {table} (area_id, gap_start, gap_end, duration_us, length_class) VALUES ");
        for chunk in bounded.chunks(CHUNK) {
            self.bulk_insert(&head, chunk, "", |(start, end, micros)| {
                [
                    BulkValue::Int(area_id.into()),
                    BulkValue::Timestamp(*start),
                    BulkValue::Timestamp(*end),
                    BulkValue::Int(*micros),
                    BulkValue::Int(length_class(*micros).into()),
                ]
            })
            .await?;
        }
        Ok(())
    }

    async fn add_to_gaps(&mut self, line_id: i32, rows: &[&DetectionRow], floor: GapFloor) -> AppResult<()> {
        use diesel_async::AsyncConnectionCore;
        type Db<C> = <C as AsyncConnectionCore>::Backend;
        let gaps = gap_table(line_id)?;
        let minutes = minute_table(line_id)?;
        let mut by_area: BTreeMap<i32, Vec<DateTime<Utc>>> = BTreeMap::new();
        for row in rows {
            by_area.entry(row.area_id).or_default().push(row.detected_at.and_utc());
        }
        for (area_id, mut instants) in by_area {
            instants.sort_unstable();
            instants.dedup();
            let (Some(&first_new), Some(&last_new)) = (<[_]>::first(&instants), <[_]>::last(&instants)) else {
                continue;
            };
            let edge = |order: &str, column: &str| {
                format!(
                    "SELECT {column} AS at FROM {minutes} WHERE area_id = ? ORDER BY minute_start {order} LIMIT 1{}",
                    <Self as SqlDialect>::LOCK_FOR_UPDATE
                )
            };
            let first = diesel::sql_query(edge("ASC", "first_at"))
                .bind::<Integer, _>(area_id)
                .load::<Instant>(self)
                .await?
                .into_iter()
                .find_map(|r| r.at);
            let last = diesel::sql_query(edge("DESC", "last_at"))
                .bind::<Integer, _>(area_id)
                .load::<Instant>(self)
                .await?
                .into_iter()
                .find_map(|r| r.at);
            let mut open: Vec<Gap> = Vec::new();
            match (first, last) {
                (Some(first), Some(last)) => {
                    open.push(Gap { after: None, before: Some(first.and_utc()) });
                    let holding = diesel::sql_query(format!(
                        "SELECT gap_start, gap_end FROM {gaps} WHERE area_id = ? AND gap_start < ? \
                         ORDER BY gap_start DESC LIMIT 1{}",
                        <Self as SqlDialect>::LOCK_FOR_UPDATE
                    ))
                    .bind::<Integer, _>(area_id)
                    .bind::<Timestamp, _>(first_new.naive_utc())
                    .load::<StoredGap>(self)
                    .await?;
                    let inner = diesel::sql_query(format!(
                        "SELECT gap_start, gap_end FROM {gaps} WHERE area_id = ? AND gap_start >= ? AND gap_start < ? \
                         ORDER BY gap_start{}",
                        <Self as SqlDialect>::LOCK_FOR_UPDATE
                    ))
                    .bind::<Integer, _>(area_id)
                    .bind::<Timestamp, _>(first_new.naive_utc())
                    .bind::<Timestamp, _>(last_new.naive_utc())
                    .load::<StoredGap>(self)
                    .await?;
                    open.extend(holding.iter().chain(inner.iter()).map(StoredGap::gap));
                    open.push(Gap { after: Some(last.and_utc()), before: None });
                }
                _ => open.push(Gap { after: None, before: None }),
            }
            let mut removed: Vec<NaiveDateTime> = Vec::new();
            let mut added: Vec<Gap> = Vec::new();
            for gap in open {
                let lo = instants.partition_point(|t| gap.after.is_some_and(|a| *t <= a));
                let inside: Vec<DateTime<Utc>> = instants[lo..]
                    .iter()
                    .copied()
                    .take_while(|t| gap.before.is_none_or(|b| *t < b))
                    .collect();
                if inside.is_empty() {
                    continue;
                }
                if let (Some(after), Some(_)) = (gap.after, gap.before) {
                    removed.push(after.naive_utc());
                }
                added.extend(split_gap(gap, &inside, floor));
            }
            for chunk in removed.chunks(CHUNK) {
                let mut query = diesel::sql_query(format!(
                    "DELETE FROM {gaps} WHERE area_id = ? AND gap_start IN ({})",
                    vec!["?"; chunk.len()].join(", ")
                ))
                .into_boxed::<Db<Self>>()
                .bind::<Integer, _>(area_id);
                for start in chunk {
                    query = query.bind::<Timestamp, _>(*start);
                }
                query.execute(self).await?;
            }
            self.insert_gap_rows(&gaps, area_id, &added).await?;
        }
        Ok(())
    }

    async fn rebuild_gaps(&mut self, line_id: i32, start: NaiveDateTime, end: NaiveDateTime, floor: GapFloor) -> AppResult<()> {
        let gaps = gap_table(line_id)?;
        let minutes = minute_table(line_id)?;
        let raw = crate::db::line_tables::detection_table(line_id)?;
        let rows = diesel::sql_query(format!(
            "SELECT area_id, detected_at FROM {raw} WHERE detected_at >= ? AND detected_at < ?"
        ))
        .bind::<Timestamp, _>(start)
        .bind::<Timestamp, _>(end)
        .load::<AreaInstant>(self)
        .await?;
        let mut by_area: BTreeMap<i32, Vec<DateTime<Utc>>> = BTreeMap::new();
        for row in rows {
            by_area.entry(row.area_id).or_default().push(row.detected_at.and_utc());
        }
        for (area_id, mut instants) in by_area {
            instants.sort_unstable();
            let before = diesel::sql_query(format!(
                "SELECT last_at AS at FROM {minutes} WHERE area_id = ? AND minute_start < ? ORDER BY minute_start DESC LIMIT 1"
            ))
            .bind::<Integer, _>(area_id)
            .bind::<Timestamp, _>(start)
            .load::<Instant>(self)
            .await?
            .into_iter()
            .find_map(|r| r.at);
            let after = diesel::sql_query(format!(
                "SELECT first_at AS at FROM {minutes} WHERE area_id = ? AND minute_start >= ? ORDER BY minute_start LIMIT 1"
            ))
            .bind::<Integer, _>(area_id)
            .bind::<Timestamp, _>(end)
            .load::<Instant>(self)
            .await?
            .into_iter()
            .find_map(|r| r.at);
            // Every gap with an end inside the range opens at or after the
            // last detection before it (any gap, when there is none).
            match before {
                Some(from) => {
                    diesel::sql_query(format!(
                        "DELETE FROM {gaps} WHERE area_id = ? AND gap_start >= ? AND gap_start < ?"
                    ))
                    .bind::<Integer, _>(area_id)
                    .bind::<Timestamp, _>(from)
                    .bind::<Timestamp, _>(end)
                    .execute(self)
                    .await?
                }
                None => {
                    diesel::sql_query(format!("DELETE FROM {gaps} WHERE area_id = ? AND gap_start < ?"))
                        .bind::<Integer, _>(area_id)
                        .bind::<Timestamp, _>(end)
                        .execute(self)
                        .await?
                }
            };
            let points: Vec<DateTime<Utc>> = before
                .map(|t| t.and_utc())
                .into_iter()
                .chain(instants)
                .chain(after.map(|t| t.and_utc()))
                .collect();
            self.insert_gap_rows(&gaps, area_id, &gaps_between(&points, floor)).await?;
        }
        Ok(())
    }
});

/// What gap analysis from stored gaps needs to know besides the plan.
#[derive(Debug, Clone, Copy)]
pub struct StoredGapQuery<'a> {
    /// The planned set P.
    pub planned: &'a IntervalSet,
    /// Gaps longer than this are stops; at least `floor`.
    pub threshold: DowntimeThreshold,
    /// Nothing at or after now is a stop.
    pub now: DateTime<Utc>,
    /// The line's gap floor.
    pub floor: GapFloor,
    /// Before it the stored gaps are complete.
    pub watermark: DateTime<Utc>,
}

/// Downtime events of the planned set from one area's stored gaps (those
/// longer than the threshold), its first and last detection, and raw rows
/// after the watermark.
pub async fn downtime_events(
    conn: &mut DbConn,
    line_id: i32,
    area_id: i32,
    query: &StoredGapQuery<'_>,
) -> AppResult<Vec<DowntimeEvent>> {
    let plan = clip_plan_to_now(query.planned, query.now);
    let (Some(head), Some(tail)) = (plan.intervals().first(), plan.intervals().last()) else {
        return Ok(Vec::new());
    };
    let cut = query.watermark.min(tail.end);
    let low = head.start.min(cut);
    let gaps = gap_table(line_id)?;
    let minutes = minute_table(line_id)?;
    let threshold = query.threshold.micros();
    let classes: Vec<i32> = (length_class(threshold)..=MAX_LENGTH_CLASS).collect();
    let holding_sql = format!(
        "SELECT gap_start, gap_end FROM {gaps} WHERE area_id = ? AND gap_start < ? ORDER BY gap_start DESC LIMIT 1"
    );
    let long_sql = format!(
        "SELECT gap_start, gap_end FROM {gaps} WHERE area_id = ? AND length_class IN ({}) \
         AND gap_start >= ? AND gap_start < ? AND duration_us > ?",
        vec!["?"; classes.len()].join(", ")
    );
    let edge_sql = |order: &str, column: &str| {
        format!("SELECT {column} AS at FROM {minutes} WHERE area_id = ? ORDER BY minute_start {order} LIMIT 1")
    };
    let (first_sql, last_sql) = (edge_sql("ASC", "first_at"), edge_sql("DESC", "last_at"));
    let (holding, long, first, last) = crate::with_conn!(conn, |c, DB| {
        let holding = diesel::sql_query(holding_sql.as_str())
            .bind::<Integer, _>(area_id)
            .bind::<Timestamp, _>(low.naive_utc())
            .load::<StoredGap>(c)
            .await?;
        let mut long = diesel::sql_query(long_sql.as_str())
            .into_boxed::<DB>()
            .bind::<Integer, _>(area_id);
        for class in &classes {
            long = long.bind::<Integer, _>(*class);
        }
        let long = long
            .bind::<Timestamp, _>(low.naive_utc())
            .bind::<Timestamp, _>(cut.naive_utc())
            .bind::<BigInt, _>(threshold)
            .load::<StoredGap>(c)
            .await?;
        let first = diesel::sql_query(first_sql.as_str())
            .bind::<Integer, _>(area_id)
            .load::<Instant>(c)
            .await?;
        let last = diesel::sql_query(last_sql.as_str())
            .bind::<Integer, _>(area_id)
            .load::<Instant>(c)
            .await?;
        Ok::<_, diesel::result::Error>((holding, long, first, last))
    })?;
    let mut stored: Vec<Gap> = holding.iter().chain(long.iter()).map(StoredGap::gap).collect();
    stored.sort_unstable();
    stored.dedup();
    let first = first.into_iter().find_map(|r| r.at).map(|t| t.and_utc());
    let last = last.into_iter().find_map(|r| r.at).map(|t| t.and_utc());
    let raw = if cut < tail.end {
        let filter = DetectionFilter {
            within: vec![(cut.naive_utc(), tail.end.naive_utc())],
            product_ids: Vec::new(),
            area_ids: vec![area_id],
        };
        detections::instants(conn, line_id, &filter)
            .await?
            .into_iter()
            .map(|t| t.and_utc())
            .collect()
    } else {
        Vec::new()
    };
    let timeline = timeline_gaps(&stored, first, last, cut, &raw, query.floor);
    Ok(downtime_events_from_gaps(
        query.planned,
        &timeline,
        query.threshold,
        query.now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_classes_grow_with_length() {
        assert_eq!(length_class(0), 0);
        assert_eq!(length_class(999_999), 0);
        assert_eq!(length_class(1_000_000), 1);
        assert_eq!(length_class(5_000_001), 3);
        assert_eq!(length_class(30_000_000), 5);
        assert_eq!(length_class(i64::MAX), 44);
        let mut previous = 0;
        for micros in (0..100_000_000_000i64).step_by(7_777_777) {
            let class = length_class(micros);
            assert!(class >= previous);
            previous = class;
        }
    }
}
