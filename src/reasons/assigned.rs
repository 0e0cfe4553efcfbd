//! The reasons people assigned to persisted events, as KPI reads need
//! them: the loss class of each stop (joined on its start instant) and the
//! stops that leave P.
//!
//! Planned stops from reasons (semantics §10): when the tenant's rule
//! `planned_stops_reduce_planned_time` holds, a persisted event whose
//! reason has the loss class `planned` (a break, planned maintenance, no
//! orders) leaves the planned time P of its line, as ISO 22400 takes planned
//! downtime out of planned busy time. This module reads those events and
//! hands them to the engine's `Schedule`, the one place P is formed.
//!
//! Only KPI reads apply them, and only to planned time and downtime: units
//! count over P without them (a stop's name does not change what the line
//! made), and the recomputation of persisted events forms P without them,
//! or explaining a stop would make it vanish from the events that carry
//! its reason.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{Integer, Timestamp};
use diesel_async::RunQueryDsl;

use crate::analytics::interval::{Interval, IntervalSet};
use crate::analytics::losses::LossClass;
use crate::db::DbConn;
use crate::db::line_tables::downtime_table;
use crate::error::AppResult;
use crate::plant::cache::PlantSnapshot;

#[derive(QueryableByName)]
struct StopRow {
    #[diesel(sql_type = Timestamp)]
    start_time: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    end_time: NaiveDateTime,
}

/// The reasons of loss class `planned` in the tenant's tree.
fn planned_reason_ids(snapshot: &PlantSnapshot) -> Vec<i32> {
    snapshot
        .reasons
        .values()
        .filter(|r| r.loss() == LossClass::Planned)
        .map(|r| r.reason_id)
        .collect()
}

/// The time the rule takes out of P of `line_id` around `range`: the
/// persisted events with a planned reason, `[start, end)`. Empty, without
/// a read, when the rule is off or the tree has no planned reason.
pub async fn reason_stops(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    line_id: i32,
    range: &Interval,
) -> AppResult<IntervalSet> {
    if !snapshot.planned_stops_reduce_planned_time {
        return Ok(IntervalSet::new());
    }
    let ids = planned_reason_ids(snapshot);
    if ids.is_empty() {
        return Ok(IntervalSet::new());
    }
    // The ids are the tree's own integers, never request text.
    let list = ids.iter().map(i32::to_string).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT start_time, end_time FROM {} WHERE start_time < ? AND end_time > ? AND reason_id IN ({list})",
        downtime_table(line_id)?
    );
    let rows: Vec<StopRow> = crate::with_conn!(conn, |c, DB| diesel::sql_query(sql.as_str())
        .into_boxed::<DB>()
        .bind::<Timestamp, _>(range.end.naive_utc())
        .bind::<Timestamp, _>(range.start.naive_utc())
        .load::<StopRow>(c)
        .await)?;
    Ok(IntervalSet::from_intervals(rows.into_iter().map(|row| {
        Interval::new(row.start_time.and_utc(), row.end_time.and_utc())
    })))
}

#[derive(QueryableByName)]
struct AssignedRow {
    #[diesel(sql_type = Timestamp)]
    start_time: NaiveDateTime,
    #[diesel(sql_type = Integer)]
    reason_id: i32,
}

/// The reason and loss class of each stop, keyed by start instant
/// (on-the-fly events join on it).
pub type StopClasses = HashMap<DateTime<Utc>, (Option<i32>, LossClass)>;

/// The reason and loss class of every persisted event of `line_id` with a
/// reason, meeting `range`. A reason no longer in the tree reads as no
/// reason (unassigned).
pub async fn stop_classes(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    line_id: i32,
    range: &Interval,
) -> AppResult<StopClasses> {
    let sql = format!(
        "SELECT start_time, reason_id FROM {} WHERE start_time < ? AND end_time > ? AND reason_id IS NOT NULL",
        downtime_table(line_id)?
    );
    let rows: Vec<AssignedRow> = crate::with_conn!(conn, |c, DB| diesel::sql_query(sql.as_str())
        .into_boxed::<DB>()
        .bind::<Timestamp, _>(range.end.naive_utc())
        .bind::<Timestamp, _>(range.start.naive_utc())
        .load::<AssignedRow>(c)
        .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let reason = snapshot.reasons.get(&row.reason_id)?;
            Some((row.start_time.and_utc(), (Some(reason.reason_id), reason.loss())))
        })
        .collect())
}
