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
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;

use crate::analytics::downtime::{DowntimeThreshold, downtime_events};
use crate::analytics::interval::Interval;
use crate::analytics::reconcile::{StoredEvent, expand_window, reconcile_events};
use crate::db::DbConn;
use crate::db::line_tables::downtime_table;
use crate::detections::line_of;
use crate::detections::store::{self, DetectionFilter};
use crate::error::{AppError, AppResult};
use crate::plant::cache::{MetadataCache, PlantSnapshot};

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
}

impl EventRow {
    fn stored(&self) -> StoredEvent {
        StoredEvent {
            event_id: self.event_id,
            start: self.start_time.and_utc(),
            end: self.end_time.and_utc(),
            ongoing: self.is_ongoing,
            reason_code: self.reason_code.clone(),
            reason: self.reason.clone(),
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
    let sql = format!(
        "SELECT event_id, start_time, end_time, is_ongoing, reason_code, reason FROM {table} \
         WHERE start_time < ? AND end_time > ? ORDER BY start_time"
    );
    Ok(crate::with_conn!(conn, |c, DB| diesel::sql_query(sql.as_str())
        .into_boxed::<DB>()
        .bind::<Timestamp, _>(window.end.naive_utc())
        .bind::<Timestamp, _>(window.start.naive_utc())
        .load::<EventRow>(c)
        .await)?)
}

/// The reason given on each persisted event of line `line_id` meeting
/// `window`, keyed by its start instant (on-the-fly events join on it).
pub async fn reasons_by_start(
    conn: &mut crate::db::DbConn,
    line_id: i32,
    window: Interval,
) -> AppResult<std::collections::HashMap<DateTime<Utc>, String>> {
    let rows = rows_overlapping(conn, &downtime_table(line_id)?, window).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let start = r.start_time.and_utc();
            r.reason.or(r.reason_code).map(|reason| (start, reason))
        })
        .collect())
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
                "UPDATE {table} SET start_time = ?, end_time = ?, duration_us = ?, is_ongoing = ?, reason_code = ?, reason = ?, updated_at = ? WHERE event_id = ?"
            ))
            .into_boxed::<DB>()
            .bind::<Timestamp, _>(write.event.start.naive_utc())
            .bind::<Timestamp, _>(write.event.end.naive_utc())
            .bind::<BigInt, _>(write.event.duration_micros)
            .bind::<Bool, _>(write.event.ongoing)
            .bind::<Nullable<Text>, _>(write.reason_code.clone())
            .bind::<Nullable<Text>, _>(write.reason.clone())
            .bind::<Timestamp, _>(stamp)
            .bind::<BigInt, _>(*id)
            .execute(c)
            .await?;
        }
        for write in &plan.inserts {
            diesel::sql_query(format!(
                "INSERT INTO {table} (start_time, end_time, duration_us, is_ongoing, reason_code, reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .into_boxed::<DB>()
            .bind::<Timestamp, _>(write.event.start.naive_utc())
            .bind::<Timestamp, _>(write.event.end.naive_utc())
            .bind::<BigInt, _>(write.event.duration_micros)
            .bind::<Bool, _>(write.event.ongoing)
            .bind::<Nullable<Text>, _>(write.reason_code.clone())
            .bind::<Nullable<Text>, _>(write.reason.clone())
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
    /// Reason a person wrote.
    pub reason: Option<String>,
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

/// Sets an event's reason; its audit entry waits in the outbox.
pub async fn set_reason(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    line_id: i32,
    event_id: i64,
    reason_code: Option<String>,
    reason: Option<String>,
    audit: &crate::audit::AuditEntry,
) -> AppResult<DowntimeRecord> {
    use crate::audit::OutboxConn;
    line_of(snapshot, line_id)?;
    let table = downtime_table(line_id)?;
    let sql = format!(
        "SELECT event_id, start_time, end_time, is_ongoing, reason_code, reason FROM {table} WHERE event_id = ?"
    );
    let entry = audit.clone().entity("downtime_event", format!("{line_id}/{event_id}"));
    crate::write_tx!(conn, |c, DB| {
        let before = match diesel::sql_query(sql.as_str())
            .into_boxed::<DB>()
            .bind::<BigInt, _>(event_id)
            .get_result::<EventRow>(c)
            .await
        {
            Ok(row) => row,
            Err(diesel::result::Error::NotFound) => {
                return Err(AppError::NotFound(format!(
                    "downtime event {event_id} of line {line_id} not found"
                )));
            }
            Err(other) => return Err(other.into()),
        };
        diesel::sql_query(format!(
            "UPDATE {table} SET reason_code = ?, reason = ?, updated_at = ? WHERE event_id = ?"
        ))
        .into_boxed::<DB>()
        .bind::<Nullable<Text>, _>(reason_code.clone())
        .bind::<Nullable<Text>, _>(reason.clone())
        .bind::<Timestamp, _>(crate::clock::now_naive())
        .bind::<BigInt, _>(event_id)
        .execute(c)
        .await?;
        let entry = entry.clone().values(
            Some(&serde_json::json!({"reason_code": before.reason_code, "reason": before.reason})),
            Some(&serde_json::json!({"reason_code": reason_code, "reason": reason})),
        );
        c.write_outbox(&entry).await?;
        Ok::<_, AppError>(())
    })?;
    let row = crate::with_conn!(conn, |c, DB| diesel::sql_query(sql.as_str())
        .into_boxed::<DB>()
        .bind::<BigInt, _>(event_id)
        .get_result::<EventRow>(c)
        .await)?;
    Ok(row.into())
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
