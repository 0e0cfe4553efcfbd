//! Persisted downtime events (`downtime_events_<line>`): recomputed over a
//! window by the same gap analysis as the on-the-fly events, reconciled with
//! what is stored so that recomputing twice changes nothing and a reason a
//! person assigned is never lost; people attach reasons with `PUT`.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;

use crate::analytics::downtime::{DowntimeThreshold, downtime_events};
use crate::analytics::interval::{Interval, micros_to_seconds};
use crate::analytics::reconcile::{StoredEvent, expand_window, reconcile_events};
use crate::analytics::time::format_instant;
use crate::app::AppState;
use crate::db::line_tables::downtime_table;
use crate::detections::line_of;
use crate::detections::store::{self, DetectionFilter};
use crate::error::{AppError, AppResult};

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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, poem_openapi::Object)]
pub struct RecalculateReport {
    /// Events added.
    pub inserted: usize,
    /// Events whose bounds changed.
    pub updated: usize,
    /// Events that no longer exist.
    pub deleted: usize,
    /// Events kept only because a person gave them a reason no new event carries.
    pub orphaned: usize,
}

async fn rows_overlapping(conn: &mut crate::db::DbConn, table: &str, window: Interval) -> AppResult<Vec<EventRow>> {
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
pub async fn recalculate(
    state: &AppState,
    tenant_id: i32,
    line_id: i32,
    window: Interval,
    now: DateTime<Utc>,
    audit: &crate::audit::AuditEntry,
) -> AppResult<RecalculateReport> {
    use crate::audit::OutboxConn;
    let snapshot = state.cache.get(&state.databases, tenant_id).await?;
    let line = line_of(&snapshot, line_id)?.clone();
    let tz = snapshot.timezone;
    let threshold = DowntimeThreshold::from_seconds(i64::from(line.downtime_threshold))
        .map_err(|e| AppError::invalid_field("downtime_threshold", e.to_string()))?;
    let output = snapshot
        .line_areas(line_id)
        .map_err(|e| AppError::invalid_field("line_id", e.to_string()))?
        .output_area_id;
    let window = Interval::new(window.start, window.end.min(now));
    if window.end <= window.start {
        return Ok(RecalculateReport::default());
    }
    let reach = Interval::new(
        window.start - Duration::seconds(LOOKBACK),
        window.end + Duration::seconds(LOOKBACK),
    );
    let planned = crate::analytics::shifts::planned_set(&snapshot.shift_rules(), line_id, tz, &reach, now, None);
    let pool = state.databases.tenant(tenant_id).await?;
    let mut conn = pool.get().await?;
    let outputs: Vec<DateTime<Utc>> = store::instants(
        &mut conn,
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
    let stored: Vec<StoredEvent> = rows_overlapping(&mut conn, &table, span)
        .await?
        .iter()
        .map(EventRow::stored)
        .collect();
    let plan = reconcile_events(&stored, &fresh);
    let report = RecalculateReport {
        inserted: plan.inserts.len(),
        updated: plan.updates.len(),
        deleted: plan.deletes.len(),
        orphaned: plan.orphaned.len(),
    };
    if report.inserted + report.updated + report.deleted == 0 {
        return Ok(report);
    }
    let stamp = now.naive_utc();
    crate::write_tx!(&mut conn, |c, DB| {
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
    drop(conn);
    crate::audit::forward_soon(&state.databases, tenant_id).await;
    Ok(report)
}

/// A persisted event.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct PersistedEvent {
    /// Id (per line).
    pub event_id: i64,
    /// Start, tenant offset.
    pub start: String,
    /// End, tenant offset.
    pub end: String,
    /// Duration in seconds.
    pub duration_seconds: f64,
    /// Still stopped when last computed.
    pub ongoing: bool,
    /// Reason code a person assigned.
    #[oai(nullable)]
    pub reason_code: Option<String>,
    /// Reason a person wrote.
    #[oai(nullable)]
    pub reason: Option<String>,
}

fn view(row: &EventRow, tz: chrono_tz::Tz) -> PersistedEvent {
    let start = row.start_time.and_utc();
    let end = row.end_time.and_utc();
    PersistedEvent {
        event_id: row.event_id,
        start: format_instant(start, tz),
        end: format_instant(end, tz),
        duration_seconds: micros_to_seconds((end - start).num_microseconds().unwrap_or(0)),
        ongoing: row.is_ongoing,
        reason_code: row.reason_code.clone(),
        reason: row.reason.clone(),
    }
}

/// Persisted events of a line overlapping `range`.
pub async fn list(state: &AppState, tenant_id: i32, line_id: i32, range: Interval) -> AppResult<Vec<PersistedEvent>> {
    let snapshot = state.cache.get(&state.databases, tenant_id).await?;
    line_of(&snapshot, line_id)?;
    let tz = snapshot.timezone;
    let pool = state.databases.tenant(tenant_id).await?;
    let mut conn = pool.get().await?;
    let rows = rows_overlapping(&mut conn, &downtime_table(line_id)?, range).await?;
    Ok(rows.iter().map(|r| view(r, tz)).collect())
}

/// Sets an event's reason.
pub async fn set_reason(
    state: &AppState,
    tenant_id: i32,
    line_id: i32,
    event_id: i64,
    reason_code: Option<String>,
    reason: Option<String>,
    audit: &crate::audit::AuditEntry,
) -> AppResult<PersistedEvent> {
    use crate::audit::OutboxConn;
    let snapshot = state.cache.get(&state.databases, tenant_id).await?;
    line_of(&snapshot, line_id)?;
    let tz = snapshot.timezone;
    let table = downtime_table(line_id)?;
    let pool = state.databases.tenant(tenant_id).await?;
    let mut conn = pool.get().await?;
    let sql = format!(
        "SELECT event_id, start_time, end_time, is_ongoing, reason_code, reason FROM {table} WHERE event_id = ?"
    );
    let entry = audit.clone().entity("downtime_event", format!("{line_id}/{event_id}"));
    crate::write_tx!(&mut conn, |c, DB| {
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
    let row = crate::with_conn!(&mut conn, |c, DB| diesel::sql_query(sql.as_str())
        .into_boxed::<DB>()
        .bind::<BigInt, _>(event_id)
        .get_result::<EventRow>(c)
        .await)?;
    Ok(view(&row, tz))
}

/// The job: recompute the recent window of every active line of every tenant.
pub async fn recalculate_recent(state: &AppState, window: Duration, now: DateTime<Utc>) -> AppResult<usize> {
    let mut lines = 0;
    for tenant_id in crate::tenants::all_ids(&state.databases).await? {
        let snapshot = state.cache.get(&state.databases, tenant_id).await?;
        for line in snapshot.lines.values().filter(|l| l.is_active) {
            let audit = crate::audit::AuditEntry::new(
                "downtime.recalculate",
                Some(tenant_id),
                None,
                &crate::audit::ClientInfo::internal(),
            );
            match recalculate(
                state,
                tenant_id,
                line.line_id,
                Interval::new(now - window, now),
                now,
                &audit,
            )
            .await
            {
                Ok(_) => lines += 1,
                // A line without input/output areas has no downtime to compute.
                Err(AppError::Validation { .. }) => {}
                Err(error) => {
                    tracing::warn!(tenant_id, line_id = line.line_id, %error, "downtime recalculation failed; retried next run")
                }
            }
        }
    }
    Ok(lines)
}
