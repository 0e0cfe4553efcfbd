//! History-complete persisted downtime events: the spans of a line's
//! history whose events must be recomputed (`downtime_pending`). Ingest,
//! the watermark job's folding of direct writes and a rollup refresh add
//! the span their rows cover (in their own transactions, see
//! `rollup::store`); the downtime job recomputes those spans, merged and
//! cut into days, with [`super::persisted::recalculate`] (which keeps every
//! assigned reason), then deletes exactly the marks it read. A crash in
//! between only repeats work: recomputing is idempotent.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Timestamp};
use diesel_async::RunQueryDsl;

use crate::analytics::interval::{Interval, IntervalSet};
use crate::db::DbConn;
use crate::error::{AppError, AppResult};
use crate::plant::cache::{MetadataCache, PlantSnapshot};

/// Marks read per line and run: a flood of small batches is merged a
/// thousand at a time.
const MARKS_PER_RUN: i64 = 1000;

/// Days of history recomputed per line and run; the rest stays pending
/// for the next run, so one run stays bounded whatever was backfilled.
pub const DAYS_PER_RUN: usize = 62;

#[derive(QueryableByName)]
struct MarkRow {
    #[diesel(sql_type = BigInt)]
    pending_id: i64,
    #[diesel(sql_type = Timestamp)]
    span_start: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    span_end: NaiveDateTime,
}

#[derive(QueryableByName)]
struct EdgeRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<Timestamp>)]
    at: Option<NaiveDateTime>,
}

#[derive(QueryableByName)]
struct LineRow {
    #[diesel(sql_type = Integer)]
    line_id: i32,
}

/// Whether any span of line `line_id` meeting `range` still waits for the
/// job (an answer over it may lack events or hold stale ones).
pub async fn is_pending(conn: &mut DbConn, line_id: i32, range: Interval) -> AppResult<bool> {
    let rows = crate::with_conn!(conn, |c| diesel::sql_query(
        "SELECT line_id FROM downtime_pending WHERE line_id = ? AND span_start < ? AND span_end > ? LIMIT 1"
    )
    .bind::<Integer, _>(line_id)
    .bind::<Timestamp, _>(range.end.naive_utc())
    .bind::<Timestamp, _>(range.start.naive_utc())
    .load::<LineRow>(c)
    .await)?;
    Ok(rows.iter().any(|row| row.line_id == line_id))
}

/// The first detection of line `line_id`: nothing before it is
/// recomputed (a line's history starts with its data).
async fn first_detection(conn: &mut DbConn, line_id: i32) -> AppResult<Option<DateTime<Utc>>> {
    let table = crate::db::line_tables::detection_table(line_id)?;
    let rows = crate::with_conn!(conn, |c| diesel::sql_query(format!(
        "SELECT MIN(detected_at) AS at FROM {table}"
    ))
    .load::<EdgeRow>(c)
    .await)?;
    Ok(rows.into_iter().find_map(|r| r.at).map(|at| at.and_utc()))
}

/// Cuts `set` into pieces of at most a UTC day each (each recomputation
/// reads one piece's detections), the first `budget` of them, and what is
/// left over.
fn day_pieces(set: &IntervalSet, budget: usize) -> (Vec<Interval>, Vec<Interval>) {
    let mut pieces = Vec::new();
    for interval in set.intervals() {
        let mut start = interval.start;
        while start < interval.end {
            let end = (start + Duration::days(1)).min(interval.end);
            pieces.push(Interval::new(start, end));
            start = end;
        }
    }
    let rest = pieces.split_off(budget.min(pieces.len()));
    (pieces, rest)
}

/// What one line's run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PendingReport {
    /// Marks read and removed.
    pub marks: usize,
    /// Day pieces recomputed.
    pub pieces: usize,
    /// Day pieces left for the next run.
    pub left: usize,
    /// Whether any recomputation wrote.
    pub wrote: bool,
}

/// Recomputes the pending spans of line `line_id`, at most
/// [`DAYS_PER_RUN`] days of them.
pub async fn recalculate_line(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    line_id: i32,
    now: DateTime<Utc>,
    audit: &crate::audit::AuditEntry,
) -> AppResult<PendingReport> {
    let marks = crate::with_conn!(conn, |c| {
        diesel::sql_query(
        "SELECT pending_id, span_start, span_end FROM downtime_pending WHERE line_id = ? ORDER BY pending_id LIMIT ?"
    )
    .bind::<Integer, _>(line_id)
    .bind::<BigInt, _>(MARKS_PER_RUN)
    .load::<MarkRow>(c)
    .await
    })?;
    if marks.is_empty() {
        return Ok(PendingReport::default());
    }
    let floor = first_detection(conn, line_id).await?;
    let spans: Vec<Interval> = marks
        .iter()
        .filter_map(|m| {
            let start = m.span_start.and_utc().max(floor.unwrap_or(now));
            let end = m.span_end.and_utc().min(now);
            (start < end).then(|| Interval::new(start, end))
        })
        .collect();
    let (pieces, rest) = day_pieces(&IntervalSet::from_intervals(spans), DAYS_PER_RUN);
    let mut report = PendingReport {
        marks: marks.len(),
        pieces: pieces.len(),
        left: rest.len(),
        wrote: false,
    };
    for piece in pieces {
        report.wrote |= super::persisted::recalculate(conn, snapshot, line_id, piece, now, audit)
            .await?
            .wrote();
    }
    let ids: Vec<i64> = marks.iter().map(|m| m.pending_id).collect();
    crate::write_tx!(conn, |c, DB| {
        // Exactly the marks read: one committed since stays for the next run.
        for chunk in ids.chunks(500) {
            let list = vec!["?"; chunk.len()].join(", ");
            let mut delete = diesel::sql_query(format!("DELETE FROM downtime_pending WHERE pending_id IN ({list})"))
                .into_boxed::<DB>();
            for id in chunk {
                delete = delete.bind::<BigInt, _>(*id);
            }
            delete.execute(c).await?;
        }
        for piece in &rest {
            diesel::sql_query("INSERT INTO downtime_pending (line_id, span_start, span_end) VALUES (?, ?, ?)")
                .into_boxed::<DB>()
                .bind::<Integer, _>(line_id)
                .bind::<Timestamp, _>(piece.start.naive_utc())
                .bind::<Timestamp, _>(piece.end.naive_utc())
                .execute(c)
                .await?;
        }
        Ok::<_, AppError>(())
    })?;
    Ok(report)
}

/// The job's pass over every tenant: each active line's pending spans,
/// then the audit entries of the tenants where it wrote. Returns the day
/// pieces recomputed.
pub async fn recalculate_all(
    databases: &crate::db::Databases,
    cache: &MetadataCache,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let mut pieces = 0;
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
            let run = async {
                let mut conn = pool.get().await?;
                recalculate_line(&mut conn, &snapshot, line.line_id, now, &audit).await
            };
            match run.await {
                Ok(report) => {
                    pieces += report.pieces;
                    wrote |= report.wrote;
                }
                // A line without input/output areas has no downtime to compute.
                Err(AppError::Validation { .. }) => {}
                Err(error) => {
                    tracing::warn!(tenant_id, line_id = line.line_id, %error, "pending downtime recalculation failed; retried next run")
                }
            }
        }
        if wrote {
            crate::audit::forward_soon(databases, tenant_id).await;
        }
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0)
            .single()
            .expect("valid instant")
    }

    #[test]
    fn spans_are_cut_into_days_and_the_budget_leaves_the_rest() {
        let set = IntervalSet::from_intervals(vec![
            Interval::new(at(1, 6), at(3, 12)),
            Interval::new(at(5, 0), at(5, 1)),
        ]);
        let (pieces, rest) = day_pieces(&set, 2);
        assert_eq!(
            pieces,
            vec![Interval::new(at(1, 6), at(2, 6)), Interval::new(at(2, 6), at(3, 6))]
        );
        assert_eq!(
            rest,
            vec![Interval::new(at(3, 6), at(3, 12)), Interval::new(at(5, 0), at(5, 1))]
        );
        let (all, none) = day_pieces(&set, 100);
        assert_eq!((all.len(), none.len()), (4, 0));
    }
}
