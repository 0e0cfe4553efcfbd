//! Persisted downtime events (`downtime_events_<line>`): recomputed over a
//! window by the same gap analysis as the on-the-fly events, reconciled with
//! what is stored so that recomputing twice changes nothing and a reason a
//! person assigned is never lost; people attach reasons with `PUT`.
//!
//! Functions take a connection and the tenant's snapshot; the caller
//! forwards the audit entries they queue (`crate::audit::forward_soon`)
//! once the connection is back in the pool. The JSON views live in
//! `http::kpi_views`.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;

use crate::analytics::downtime::{DowntimeThreshold, downtime_events};
use crate::analytics::interval::Interval;
use crate::analytics::reconcile::{StoredEvent, expand_window, reconcile_events};
use crate::db::DbConn;
use crate::db::line_tables::downtime_table;
use crate::detections::line_of;
use crate::detections::store::{self, DetectionFilter};
use crate::error::{AppError, AppResult, FieldError};
use crate::plant::cache::{MetadataCache, PlantSnapshot};
use crate::reasons::ReasonLock;

/// How far before a window a stop may have started (and is traced back).
const LOOKBACK: i64 = 24 * 3600;

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = BigInt)]
    event_id: i64,
    #[diesel(sql_type = Timestamp)]
    start_time: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    end_time: NaiveDateTime,
    #[diesel(sql_type = Bool)]
    is_ongoing: bool,
    #[diesel(sql_type = Nullable<Text>)]
    reason_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    reason: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    reason_id: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    incident_id: Option<i32>,
}

/// The columns [`EventRow`] reads.
const EVENT_COLUMNS: &str = "event_id, start_time, end_time, is_ongoing, reason_code, reason, reason_id, incident_id";

impl EventRow {
    fn stored(&self) -> StoredEvent {
        StoredEvent {
            event_id: self.event_id,
            start: self.start_time.and_utc(),
            end: self.end_time.and_utc(),
            ongoing: self.is_ongoing,
            reason_code: self.reason_code.clone(),
            reason: self.reason.clone(),
            reason_id: self.reason_id,
            incident_id: self.incident_id,
        }
    }
}

/// What a recalculation changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recalculated {
    /// Events added.
    pub inserted: usize,
    /// Events whose bounds changed.
    pub updated: usize,
    /// Events that no longer exist.
    pub deleted: usize,
    /// Events kept only because a person gave them a reason no new event carries.
    pub orphaned: usize,
}

impl Recalculated {
    /// Whether anything was written (and an audit entry queued).
    pub fn wrote(&self) -> bool {
        self.inserted + self.updated + self.deleted > 0
    }
}

async fn rows_overlapping(conn: &mut DbConn, table: &str, window: Interval) -> AppResult<Vec<EventRow>> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM {table} WHERE start_time < ? AND end_time > ? ORDER BY start_time");
    Ok(crate::with_conn!(conn, |c, DB| diesel::sql_query(sql.as_str())
        .into_boxed::<DB>()
        .bind::<Timestamp, _>(window.end.naive_utc())
        .bind::<Timestamp, _>(window.start.naive_utc())
        .load::<EventRow>(c)
        .await)?)
}

/// Recomputes line `line_id`'s persisted events over `window` (widened to
/// the true edges of the stops it cuts). Idempotent; keeps assigned reasons.
/// When it [wrote](Recalculated::wrote), an audit entry waits in the outbox.
pub async fn recalculate(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    line_id: i32,
    window: Interval,
    now: DateTime<Utc>,
    audit: &crate::audit::AuditEntry,
) -> AppResult<Recalculated> {
    use crate::audit::OutboxConn;
    let line = line_of(snapshot, line_id)?.clone();
    let tz = snapshot.timezone;
    let threshold = DowntimeThreshold::from_seconds(i64::from(line.downtime_threshold))
        .map_err(|e| AppError::invalid_field("downtime_threshold", e.to_string()))?;
    let output = snapshot
        .line_areas(line_id)
        .map_err(|e| AppError::invalid_field("line_id", e.to_string()))?
        .output_area_id;
    let window = Interval::new(window.start, window.end.min(now));
    if window.end <= window.start {
        return Ok(Recalculated::default());
    }
    let reach = Interval::new(
        window.start - Duration::seconds(LOOKBACK),
        window.end + Duration::seconds(LOOKBACK),
    );
    let planned = crate::analytics::shifts::planned_set(&snapshot.schedule(), line_id, tz, &reach, now, None);
    let outputs: Vec<DateTime<Utc>> = store::instants(
        conn,
        line_id,
        &DetectionFilter {
            within: DetectionFilter::windows(planned.intervals()),
            product_ids: Vec::new(),
            area_ids: vec![output],
        },
    )
    .await?
    .into_iter()
    .map(|t| t.and_utc())
    .collect();
    let last_before = outputs.iter().rev().find(|t| **t < window.start).copied();
    let first_from_end = outputs.iter().find(|t| **t >= window.end).copied();
    let span = expand_window(&planned, window, last_before, first_from_end);
    let scoped = planned.intersect_interval(&span);
    let fresh = downtime_events(&scoped, &outputs, threshold, now);
    let table = downtime_table(line_id)?;
    let stored: Vec<StoredEvent> = rows_overlapping(conn, &table, span)
        .await?
        .iter()
        .map(EventRow::stored)
        .collect();
    let plan = reconcile_events(&stored, &fresh);
    let report = Recalculated {
        inserted: plan.inserts.len(),
        updated: plan.updates.len(),
        deleted: plan.deletes.len(),
        orphaned: plan.orphaned.len(),
    };
    if !report.wrote() {
        return Ok(report);
    }
    let stamp = now.naive_utc();
    crate::write_tx!(conn, |c, DB| {
        for id in &plan.deletes {
            diesel::sql_query(format!("DELETE FROM {table} WHERE event_id = ?"))
                .into_boxed::<DB>()
                .bind::<BigInt, _>(*id)
                .execute(c)
                .await?;
        }
        for (id, write) in &plan.updates {
            diesel::sql_query(format!(
                "UPDATE {table} SET start_time = ?, end_time = ?, duration_us = ?, is_ongoing = ?, reason_code = ?, reason = ?, reason_id = ?, incident_id = ?, updated_at = ? WHERE event_id = ?"
            ))
            .into_boxed::<DB>()
            .bind::<Timestamp, _>(write.event.start.naive_utc())
            .bind::<Timestamp, _>(write.event.end.naive_utc())
            .bind::<BigInt, _>(write.event.duration_micros)
            .bind::<Bool, _>(write.event.ongoing)
            .bind::<Nullable<Text>, _>(write.reason_code.clone())
            .bind::<Nullable<Text>, _>(write.reason.clone())
            .bind::<Nullable<Integer>, _>(write.reason_id)
            .bind::<Nullable<Integer>, _>(write.incident_id)
            .bind::<Timestamp, _>(stamp)
            .bind::<BigInt, _>(*id)
            .execute(c)
            .await?;
        }
        for write in &plan.inserts {
            diesel::sql_query(format!(
                "INSERT INTO {table} (start_time, end_time, duration_us, is_ongoing, reason_code, reason, reason_id, incident_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .into_boxed::<DB>()
            .bind::<Timestamp, _>(write.event.start.naive_utc())
            .bind::<Timestamp, _>(write.event.end.naive_utc())
            .bind::<BigInt, _>(write.event.duration_micros)
            .bind::<Bool, _>(write.event.ongoing)
            .bind::<Nullable<Text>, _>(write.reason_code.clone())
            .bind::<Nullable<Text>, _>(write.reason.clone())
            .bind::<Nullable<Integer>, _>(write.reason_id)
            .bind::<Nullable<Integer>, _>(write.incident_id)
            .bind::<Timestamp, _>(stamp)
            .bind::<Timestamp, _>(stamp)
            .execute(c)
            .await?;
        }
        let entry = audit.clone().entity("line", line_id).values::<(), _>(
            None,
            Some(&serde_json::json!({
                "window": [span.start, span.end],
                "inserted": report.inserted, "updated": report.updated,
                "deleted": report.deleted, "orphaned": report.orphaned,
            })),
        );
        c.write_outbox(&entry).await?;
        Ok::<_, AppError>(())
    })?;
    Ok(report)
}

/// Recomputes the persisted events of the active lines among `lines` over
/// each of `windows` (clipped at now) after their planned time changed
/// (breaks, shifts, calendar entries): an event must not run across a break
/// or a holiday that P no longer holds. A line without input/output areas
/// has no events and is skipped. With `only_where_stored`, a window is
/// recomputed from the first stored event that meets it, and not at all
/// when none does: a shift change fixes what is stored without writing
/// stops the job never wrote. Returns what was written in all; the audit
/// entries wait in the outbox.
pub async fn recalculate_after_plan_change(
    pool: &crate::db::DbPool,
    snapshot: &PlantSnapshot,
    lines: &[i32],
    windows: &[Interval],
    only_where_stored: bool,
    now: DateTime<Utc>,
    audit: &crate::audit::AuditEntry,
) -> AppResult<Recalculated> {
    let mut total = Recalculated::default();
    for line_id in lines {
        if !snapshot.lines.get(line_id).is_some_and(|l| l.is_active) {
            continue;
        }
        for window in windows {
            let mut window = Interval::new(window.start, window.end.min(now));
            if window.is_empty() {
                continue;
            }
            let mut conn = pool.get().await?;
            if only_where_stored {
                let stored = rows_overlapping(&mut conn, &downtime_table(*line_id)?, window).await?;
                match stored.iter().map(|row| row.start_time).min() {
                    None => continue,
                    Some(first) => window = Interval::new(window.start.max(first.and_utc()), window.end),
                }
            }
            match recalculate(&mut conn, snapshot, *line_id, window, now, audit).await {
                Ok(report) => {
                    total.inserted += report.inserted;
                    total.updated += report.updated;
                    total.deleted += report.deleted;
                    total.orphaned += report.orphaned;
                }
                Err(AppError::Validation { .. }) => break,
                Err(other) => return Err(other),
            }
        }
    }
    Ok(total)
}

/// A persisted downtime event.
#[derive(Debug, Clone, PartialEq)]
pub struct DowntimeRecord {
    /// Id (per line).
    pub event_id: i64,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// Still stopped when last computed.
    pub ongoing: bool,
    /// Reason code a person assigned.
    pub reason_code: Option<String>,
    /// Reason a person wrote (the comment).
    pub reason: Option<String>,
    /// Reason of the tenant's tree a person assigned.
    pub reason_id: Option<i32>,
    /// Incident the stop is attached to.
    pub incident_id: Option<i32>,
}

impl From<EventRow> for DowntimeRecord {
    fn from(row: EventRow) -> Self {
        DowntimeRecord {
            event_id: row.event_id,
            start: row.start_time.and_utc(),
            end: row.end_time.and_utc(),
            ongoing: row.is_ongoing,
            reason_code: row.reason_code,
            reason: row.reason,
            reason_id: row.reason_id,
            incident_id: row.incident_id,
        }
    }
}

/// Persisted events of a line overlapping `range`.
pub async fn list(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    line_id: i32,
    range: Interval,
) -> AppResult<Vec<DowntimeRecord>> {
    line_of(snapshot, line_id)?;
    let rows = rows_overlapping(conn, &downtime_table(line_id)?, range).await?;
    Ok(rows.into_iter().map(DowntimeRecord::from).collect())
}

/// What a person says about a stop: a reason of the tenant's tree, a
/// short code, a free-text comment and the incident it belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EventReason {
    /// Short code; mirrors the code of `reason_id` when not given.
    pub reason_code: Option<String>,
    /// Free text (the comment).
    pub reason: Option<String>,
    /// Reason of the tenant's tree.
    pub reason_id: Option<i32>,
    /// Incident the stop belongs to.
    pub incident_id: Option<i32>,
}

/// Most events one bulk assignment may name.
pub const MAX_BULK_EVENTS: usize = 500;

/// A reason a person may assign now: it exists and is active, or it is
/// the one the event already has (re-saving an event whose reason was
/// deactivated since keeps it).
fn assignable<'a>(
    snapshot: &'a PlantSnapshot,
    reason_id: i32,
    already: &[Option<i32>],
) -> Result<&'a crate::reasons::ReasonRow, FieldError> {
    match snapshot.reasons.get(&reason_id) {
        None => Err(FieldError::new(
            "reason_id",
            format!("reason {reason_id} does not exist"),
        )),
        Some(r) if !r.is_active && !already.iter().all(|a| *a == Some(reason_id)) => {
            Err(FieldError::new("reason_id", format!("reason {reason_id} is inactive")))
        }
        Some(r) => Ok(r),
    }
}

/// A 422 when the reason an assignment names was deleted after the
/// snapshot was read (its row locked: see [`ReasonLock`]).
fn reason_still_there(locked: Option<bool>, reason_id: i32) -> AppResult<()> {
    match locked {
        Some(_) => Ok(()),
        None => Err(AppError::invalid_fields(vec![FieldError::new(
            "reason_id",
            format!("reason {reason_id} does not exist"),
        )])),
    }
}

#[derive(QueryableByName)]
struct IncidentLine {
    #[diesel(sql_type = Nullable<Integer>)]
    line_id: Option<i32>,
}

/// Whether incident `incident_id` exists and may explain a stop of
/// `line_id` (an incident filed on another line may not).
async fn incident_problem(conn: &mut DbConn, line_id: i32, incident_id: i32) -> AppResult<Option<FieldError>> {
    let found = crate::with_conn!(conn, |c, DB| diesel::sql_query(
        "SELECT line_id FROM incident WHERE incident_id = ?"
    )
    .into_boxed::<DB>()
    .bind::<Integer, _>(incident_id)
    .load::<IncidentLine>(c)
    .await)?;
    Ok(match found.into_iter().next() {
        None => Some(FieldError::new(
            "incident_id",
            format!("incident {incident_id} does not exist"),
        )),
        Some(IncidentLine { line_id: Some(other) }) if other != line_id => Some(FieldError::new(
            "incident_id",
            format!("incident {incident_id} belongs to line {other}, not line {line_id}"),
        )),
        Some(_) => None,
    })
}

fn invalid(errors: Vec<FieldError>) -> AppResult<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid_fields(errors))
    }
}

fn ids_sql(table: &str, ids: &[i64]) -> String {
    format!(
        "SELECT {EVENT_COLUMNS} FROM {table} WHERE event_id IN ({}) ORDER BY start_time",
        vec!["?"; ids.len()].join(", ")
    )
}

/// Sets what a person says about one event (`PUT`: every field replaced;
/// the code mirrors the reason's when not given); its audit entry waits
/// in the outbox.
pub async fn set_reason(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    line_id: i32,
    event_id: i64,
    mut given: EventReason,
    audit: &crate::audit::AuditEntry,
) -> AppResult<DowntimeRecord> {
    use crate::audit::OutboxConn;
    line_of(snapshot, line_id)?;
    let table = downtime_table(line_id)?;
    let sql = ids_sql(&table, &[event_id]);
    let before = crate::with_conn!(conn, |c, DB| diesel::sql_query(sql.as_str())
        .into_boxed::<DB>()
        .bind::<BigInt, _>(event_id)
        .load::<EventRow>(c)
        .await)?
    .into_iter()
    .next()
    .ok_or_else(|| AppError::NotFound(format!("downtime event {event_id} of line {line_id} not found")))?;
    let mut errors = Vec::new();
    if let Some(reason_id) = given.reason_id {
        match assignable(snapshot, reason_id, &[before.reason_id]) {
            Ok(reason) => {
                given.reason_code = given.reason_code.or_else(|| Some(reason.code.clone()));
            }
            Err(e) => errors.push(e),
        }
    }
    if let Some(incident_id) = given.incident_id {
        errors.extend(incident_problem(conn, line_id, incident_id).await?);
    }
    invalid(errors)?;
    let entry = audit.clone().entity("downtime_event", format!("{line_id}/{event_id}"));
    let old = EventReason {
        reason_code: before.reason_code.clone(),
        reason: before.reason.clone(),
        reason_id: before.reason_id,
        incident_id: before.incident_id,
    };
    crate::write_tx!(conn, |c, DB| {
        if let Some(reason_id) = given.reason_id {
            reason_still_there(c.lock_reason(reason_id, false).await?, reason_id)?;
        }
        let updated = diesel::sql_query(format!(
            "UPDATE {table} SET reason_code = ?, reason = ?, reason_id = ?, incident_id = ?, updated_at = ? WHERE event_id = ?"
        ))
        .into_boxed::<DB>()
        .bind::<Nullable<Text>, _>(given.reason_code.clone())
        .bind::<Nullable<Text>, _>(given.reason.clone())
        .bind::<Nullable<Integer>, _>(given.reason_id)
        .bind::<Nullable<Integer>, _>(given.incident_id)
        .bind::<Timestamp, _>(crate::clock::now_naive())
        .bind::<BigInt, _>(event_id)
        .execute(c)
        .await?;
        if updated == 0 {
            // A recomputation removed it since it was read.
            return Err(AppError::NotFound(format!(
                "downtime event {event_id} of line {line_id} not found"
            )));
        }
        c.write_outbox(&entry.clone().values(Some(&old), Some(&given))).await?;
        Ok::<_, AppError>(())
    })?;
    let row = crate::with_conn!(conn, |c, DB| diesel::sql_query(sql.as_str())
        .into_boxed::<DB>()
        .bind::<BigInt, _>(event_id)
        .get_result::<EventRow>(c)
        .await)?;
    Ok(row.into())
}

/// A reason for many events of one line at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkAssignment {
    /// The events (ids of the line), 1 to [`MAX_BULK_EVENTS`].
    pub event_ids: Vec<i64>,
    /// The reason.
    pub reason_id: i32,
    /// Comment: replaces each event's comment when given, else each keeps its own.
    pub comment: Option<String>,
    /// Incident: attached to each event when given, else each keeps its own.
    pub incident_id: Option<i32>,
}

/// Assigns one reason to many events of a line, all or nothing: an
/// unknown event id, an unknown or inactive reason, or an incident of
/// another line is a 422 naming them and nothing is written. One audit
/// entry per event (action and entity as for `PUT`) waits in the outbox.
/// Returns the events as stored now, by start.
pub async fn assign_reasons(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    line_id: i32,
    assignment: BulkAssignment,
    audit: &crate::audit::AuditEntry,
) -> AppResult<Vec<DowntimeRecord>> {
    use crate::audit::OutboxConn;
    line_of(snapshot, line_id)?;
    let table = downtime_table(line_id)?;
    let mut ids = assignment.event_ids.clone();
    ids.sort_unstable();
    ids.dedup();
    let mut errors = Vec::new();
    if ids.is_empty() || ids.len() > MAX_BULK_EVENTS {
        errors.push(FieldError::new(
            "event_ids",
            format!("must name 1 to {MAX_BULK_EVENTS} events"),
        ));
    }
    if let Some(comment) = &assignment.comment
        && (comment.chars().count() > 500 || comment.chars().any(|c| c.is_control() && c != '\n'))
    {
        errors.push(FieldError::new(
            "comment",
            "must be at most 500 characters without control characters",
        ));
    }
    let reason = match snapshot.reasons.get(&assignment.reason_id) {
        Some(r) if r.is_active => Some(r),
        Some(_) => {
            errors.push(FieldError::new(
                "reason_id",
                format!("reason {} is inactive", assignment.reason_id),
            ));
            None
        }
        None => {
            errors.push(FieldError::new(
                "reason_id",
                format!("reason {} does not exist", assignment.reason_id),
            ));
            None
        }
    };
    if let Some(incident_id) = assignment.incident_id {
        errors.extend(incident_problem(conn, line_id, incident_id).await?);
    }
    invalid(errors)?;
    let code = reason.map(|r| r.code.clone());
    let sql = ids_sql(&table, &ids);
    let comment = assignment
        .comment
        .clone()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let now = crate::clock::now_naive();
    crate::write_tx!(conn, |c, DB| {
        reason_still_there(c.lock_reason(assignment.reason_id, false).await?, assignment.reason_id)?;
        let mut query = diesel::sql_query(sql.as_str()).into_boxed::<DB>();
        for id in &ids {
            query = query.bind::<BigInt, _>(*id);
        }
        let before = query.load::<EventRow>(c).await?;
        if before.len() != ids.len() {
            let unknown: Vec<String> = ids
                .iter()
                .filter(|id| !before.iter().any(|r| r.event_id == **id))
                .map(i64::to_string)
                .collect();
            return Err(AppError::invalid_fields(vec![FieldError::new(
                "event_ids",
                format!("no downtime event {} on line {line_id}", unknown.join(", ")),
            )]));
        }
        let mut update = diesel::sql_query(format!(
            "UPDATE {table} SET reason_id = ?, reason_code = ?, reason = COALESCE(?, reason), \
             incident_id = COALESCE(?, incident_id), updated_at = ? WHERE event_id IN ({})",
            vec!["?"; ids.len()].join(", ")
        ))
        .into_boxed::<DB>()
        .bind::<Integer, _>(assignment.reason_id)
        .bind::<Nullable<Text>, _>(code.clone())
        .bind::<Nullable<Text>, _>(comment.clone())
        .bind::<Nullable<Integer>, _>(assignment.incident_id)
        .bind::<Timestamp, _>(now);
        for id in &ids {
            update = update.bind::<BigInt, _>(*id);
        }
        update.execute(c).await?;
        for row in &before {
            let old = EventReason {
                reason_code: row.reason_code.clone(),
                reason: row.reason.clone(),
                reason_id: row.reason_id,
                incident_id: row.incident_id,
            };
            let new = EventReason {
                reason_code: code.clone(),
                reason: comment.clone().or_else(|| row.reason.clone()),
                reason_id: Some(assignment.reason_id),
                incident_id: assignment.incident_id.or(row.incident_id),
            };
            let entry = audit
                .clone()
                .entity("downtime_event", format!("{line_id}/{}", row.event_id))
                .values(Some(&old), Some(&new));
            c.write_outbox(&entry).await?;
        }
        Ok::<_, AppError>(())
    })?;
    let rows = crate::with_conn!(conn, |c, DB| {
        let mut query = diesel::sql_query(sql.as_str()).into_boxed::<DB>();
        for id in &ids {
            query = query.bind::<BigInt, _>(*id);
        }
        query.load::<EventRow>(c).await
    })?;
    Ok(rows.into_iter().map(DowntimeRecord::from).collect())
}

/// The job: recompute the recent window of every active line of every
/// tenant, then forward the audit entries of the tenants where it wrote.
/// Returns how many lines were recomputed.
pub async fn recalculate_recent(
    databases: &crate::db::Databases,
    cache: &MetadataCache,
    window: Duration,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let mut lines = 0;
    for tenant_id in crate::tenants::all_ids(databases).await? {
        let snapshot = cache.get(databases, tenant_id).await?;
        let pool = databases.tenant(tenant_id).await?;
        let mut wrote = false;
        for line in snapshot.lines.values().filter(|l| l.is_active) {
            let audit = crate::audit::AuditEntry::new(
                "downtime.recalculate",
                Some(tenant_id),
                None,
                &crate::audit::ClientInfo::internal(),
            );
            // A connection per line, as a request would take: one lost
            // connection fails one line, not the rest of the tenant.
            let run = async {
                let mut conn = pool.get().await?;
                recalculate(
                    &mut conn,
                    &snapshot,
                    line.line_id,
                    Interval::new(now - window, now),
                    now,
                    &audit,
                )
                .await
            };
            match run.await {
                Ok(report) => {
                    lines += 1;
                    wrote |= report.wrote();
                }
                // A line without input/output areas has no downtime to compute.
                Err(AppError::Validation { .. }) => {}
                Err(error) => {
                    tracing::warn!(tenant_id, line_id = line.line_id, %error, "downtime recalculation failed; retried next run")
                }
            }
        }
        if wrote {
            crate::audit::forward_soon(databases, tenant_id).await;
        }
    }
    Ok(lines)
}
