//! Each line's state as the evaluator keeps it: observed from the minute
//! rollup (kept by ingest, and by the watermark job for direct writes),
//! compared with the state last published (`line_live_state`), and turned
//! into transitions. Also the shift-to-date OEE of a line.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::sql_types::{Integer, Nullable, Timestamp};
use diesel::{ExpressionMethods, QueryDsl, QueryableByName};
use diesel_async::RunQueryDsl;

use super::classify::{Classified, LineState, Observation, ShiftToDate, classify, planning, shift_to_date};
use crate::analytics::interval::{Interval, micros_to_seconds};
use crate::db::DbConn;
use crate::db::line_tables::{detection_table, minute_table};
use crate::db::schema::tenant::line_live_state;
use crate::error::{AppError, AppResult};
use crate::plant::cache::PlantSnapshot;
use crate::plant::models::LineRow;

#[derive(QueryableByName)]
struct Instant {
    #[diesel(sql_type = Nullable<Timestamp>)]
    at: Option<NaiveDateTime>,
}

/// The latest detection of `area_id`, from the minute rollup: one row by
/// the primary key, however long the line has been quiet.
async fn last_detection(
    conn: &mut DbConn,
    line_id: i32,
    area_id: i32,
    now: DateTime<Utc>,
) -> AppResult<Option<DateTime<Utc>>> {
    let sql = format!(
        "SELECT last_at AS at FROM {} WHERE area_id = ? AND minute_start <= ? ORDER BY minute_start DESC LIMIT 1",
        minute_table(line_id)?
    );
    let rows = crate::with_conn!(conn, |c| diesel::sql_query(sql)
        .bind::<Integer, _>(area_id)
        .bind::<Timestamp, _>(now.naive_utc())
        .load::<Instant>(c)
        .await)?;
    Ok(rows.into_iter().find_map(|r| r.at).map(|at| at.and_utc().min(now)))
}

/// The latest detection of any active area of `line_id`.
pub async fn last_any_detection(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    line_id: i32,
    now: DateTime<Utc>,
) -> AppResult<Option<DateTime<Utc>>> {
    let mut last = None;
    for area in snapshot.areas_of_line(line_id).into_iter().filter(|a| a.is_active) {
        last = last.max(last_detection(conn, line_id, area.area_id, now).await?);
    }
    Ok(last)
}

/// The first detection of `area_id` after `after` (not later than `until`).
async fn first_detection_after(
    conn: &mut DbConn,
    line_id: i32,
    area_id: i32,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> AppResult<Option<DateTime<Utc>>> {
    let sql = format!(
        "SELECT detected_at AS at FROM {} WHERE detected_at > ? AND detected_at <= ? AND area_id = ? \
         ORDER BY detected_at LIMIT 1",
        detection_table(line_id)?
    );
    let rows = crate::with_conn!(conn, |c| diesel::sql_query(sql)
        .bind::<Timestamp, _>(after.naive_utc())
        .bind::<Timestamp, _>(until.naive_utc())
        .bind::<Integer, _>(area_id)
        .load::<Instant>(c)
        .await)?;
    Ok(rows.into_iter().find_map(|r| r.at).map(|at| at.and_utc()))
}

/// A line's observation at `now`, classified.
struct Observed {
    classified: Classified,
    planned_start: Option<DateTime<Utc>>,
    planned_last_end: Option<DateTime<Utc>>,
    output_area: Option<i32>,
}

async fn observe(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    schedule: &crate::analytics::shifts::Schedule,
    line: &LineRow,
    now: DateTime<Utc>,
) -> AppResult<Observed> {
    let output_area = snapshot.line_areas(line.line_id).ok().map(|a| a.output_area_id);
    let last_output = match output_area {
        Some(area) => last_detection(conn, line.line_id, area, now).await?,
        None => None,
    };
    let planning = planning(schedule, line.line_id, snapshot.timezone, now);
    let classified = classify(&Observation {
        now,
        planning,
        last_output,
        has_output_area: output_area.is_some(),
        threshold_micros: i64::from(line.downtime_threshold.max(1)) * 1_000_000,
    });
    Ok(Observed {
        classified,
        planned_start: planning.current.map(|iv| iv.start),
        planned_last_end: planning.last_end,
        output_area,
    })
}

/// A line's state with the time it took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    /// The state.
    pub state: LineState,
    /// Since when (none when unknown: a line that never had data).
    pub since: Option<DateTime<Utc>>,
}

#[derive(diesel::Queryable)]
struct StoredRow {
    line_id: i32,
    state: String,
    since: Option<NaiveDateTime>,
}

/// The states last published, per line.
async fn stored(conn: &mut DbConn) -> AppResult<std::collections::BTreeMap<i32, Held>> {
    let rows: Vec<StoredRow> = crate::with_conn!(conn, |c| line_live_state::table
        .select((line_live_state::line_id, line_live_state::state, line_live_state::since))
        .load::<StoredRow>(c)
        .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some((
                r.line_id,
                Held {
                    state: LineState::parse(&r.state)?,
                    since: r.since.map(|s| s.and_utc()),
                },
            ))
        })
        .collect())
}

async fn store(conn: &mut DbConn, line_id: i32, held: Held, now: DateTime<Utc>) -> AppResult<()> {
    let values = (
        line_live_state::state.eq(held.state.name()),
        line_live_state::since.eq(held.since.map(|s| s.naive_utc())),
        line_live_state::updated_at.eq(now.naive_utc()),
    );
    crate::with_conn!(conn, |c| {
        let updated = diesel::update(line_live_state::table.filter(line_live_state::line_id.eq(line_id)))
            .set(values)
            .execute(c)
            .await?;
        if updated == 0 {
            diesel::insert_into(line_live_state::table)
                .values((line_live_state::line_id.eq(line_id), values))
                .execute(c)
                .await?;
        }
        Ok::<_, AppError>(())
    })
}

/// One line's state now, for `GET /lines/state`.
#[derive(Debug, Clone, PartialEq)]
pub struct LineStatus {
    /// Line.
    pub line_id: i32,
    /// Its name.
    pub line_name: String,
    /// State and since when.
    pub held: Held,
    /// Seconds the current stop has lasted (stopped only).
    pub current_stop_seconds: Option<f64>,
    /// Where the planned stretch holding now started (none: unplanned).
    pub planned_start: Option<DateTime<Utc>>,
}

fn active_lines(snapshot: &PlantSnapshot) -> impl Iterator<Item = &LineRow> {
    snapshot.lines.values().filter(|l| l.is_active)
}

/// Every active line's state at `now`: observed afresh, with the published
/// `since` when the published state is the same.
pub async fn current(conn: &mut DbConn, snapshot: &PlantSnapshot, now: DateTime<Utc>) -> AppResult<Vec<LineStatus>> {
    let published = stored(conn).await?;
    let schedule = snapshot.schedule();
    let mut out = Vec::new();
    for line in active_lines(snapshot) {
        let observed = observe(conn, snapshot, &schedule, line, now).await?;
        let state = observed.classified.state;
        let since = match (observed.classified.since, published.get(&line.line_id)) {
            (Some(since), _) => Some(since),
            (None, Some(held)) if held.state == state => held.since,
            (None, _) => match state {
                LineState::Running => observed.planned_start,
                _ => None,
            },
        };
        out.push(LineStatus {
            line_id: line.line_id,
            line_name: line.line_name.clone(),
            held: Held { state, since },
            current_stop_seconds: (state == LineState::Stopped)
                .then(|| since.map(|s| micros_to_seconds((now - s).num_microseconds().unwrap_or(0))))
                .flatten(),
            planned_start: observed.planned_start,
        });
    }
    Ok(out)
}

/// A change of one line's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Line.
    pub line_id: i32,
    /// The state published before (none: never observed).
    pub previous: Option<Held>,
    /// The state now.
    pub next: Held,
    /// When the previous stop ended, if one did.
    pub stop_ended_at: Option<DateTime<Utc>>,
}

impl Transition {
    /// The stop this transition opened, if any.
    pub fn stop_started(&self) -> Option<DateTime<Utc>> {
        (self.next.state == LineState::Stopped)
            .then_some(self.next.since)
            .flatten()
    }

    /// The stop this transition closed: `(start, end)`.
    pub fn stop_ended(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let previous = self.previous.filter(|p| p.state == LineState::Stopped)?;
        Some((previous.since?, self.stop_ended_at?))
    }
}

/// Observes every active line, stores what changed and returns the
/// changes. Run by one instance at a time (the `live_state` lease), so each
/// change is published once.
pub async fn advance(conn: &mut DbConn, snapshot: &PlantSnapshot, now: DateTime<Utc>) -> AppResult<Vec<Transition>> {
    let published = stored(conn).await?;
    let schedule = snapshot.schedule();
    let mut transitions = Vec::new();
    for line in active_lines(snapshot) {
        let observed = observe(conn, snapshot, &schedule, line, now).await?;
        let previous = published.get(&line.line_id).copied();
        let state = observed.classified.state;
        let unchanged = previous
            .is_some_and(|p| p.state == state && (state != LineState::Stopped || p.since == observed.classified.since));
        if unchanged {
            continue;
        }
        // When the previous stop ended: at the first output after it
        // started, or where planned time ended, or now.
        let stop_ended_at = match previous {
            Some(Held {
                state: LineState::Stopped,
                since: Some(started),
            }) => {
                let first_output = match observed.output_area {
                    Some(area) => first_detection_after(conn, line.line_id, area, started, now).await?,
                    None => None,
                };
                Some(match state {
                    LineState::Unplanned => observed.planned_last_end.filter(|end| *end >= started).unwrap_or(now),
                    _ => first_output.unwrap_or(now),
                })
            }
            _ => None,
        };
        let since = match state {
            LineState::Stopped | LineState::Unplanned => observed.classified.since,
            LineState::Running => match previous.map(|p| p.state) {
                Some(LineState::Stopped) => stop_ended_at,
                Some(LineState::Unplanned) => observed.planned_start,
                _ => Some(now),
            },
            LineState::NoData => Some(now),
        };
        let next = Held { state, since };
        store(conn, line.line_id, next, now).await?;
        transitions.push(Transition {
            line_id: line.line_id,
            previous,
            next,
            stop_ended_at,
        });
    }
    Ok(transitions)
}

/// The time and OEE of a line's shift to date.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftFigures {
    /// The shift (none: a line without shifts, measured over the local day).
    pub shift_id: Option<i32>,
    /// The occurrence (or day) measured, clipped at now by the engine.
    pub range: Interval,
    /// Its OEE.
    pub oee: crate::kpi::Oee,
}

/// The OEE of `line_id` over its current shift occurrence up to `now`;
/// none outside every shift.
pub async fn shift_oee(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    line_id: i32,
    now: DateTime<Utc>,
) -> AppResult<Option<ShiftFigures>> {
    let (shift_id, range) = match shift_to_date(&snapshot.shift_rules(), line_id, snapshot.timezone, now) {
        ShiftToDate::Shift { shift_id, occurrence } => (Some(shift_id), occurrence),
        ShiftToDate::Day(day) => (None, day),
        ShiftToDate::Off => return Ok(None),
    };
    figures_over(conn, snapshot, line_id, shift_id, range, now)
        .await
        .map(Some)
}

/// The OEE of `line_id` over `range` (one shift's occurrences when `shift_id`).
pub async fn figures_over(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    line_id: i32,
    shift_id: Option<i32>,
    range: Interval,
    now: DateTime<Utc>,
) -> AppResult<ShiftFigures> {
    let query = crate::kpi::checked_query(
        &crate::kpi::LineRequest {
            line_id,
            range,
            product_ids: Vec::new(),
            shift_id,
            threshold: None,
        },
        snapshot,
    )?;
    let prepared = crate::kpi::prepare(conn, snapshot, query, now, false).await?;
    let oee = crate::kpi::oee(conn, snapshot, &prepared, &[], now).await?;
    Ok(ShiftFigures { shift_id, range, oee })
}
