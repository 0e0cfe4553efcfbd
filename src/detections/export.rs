//! Detection exports: all of a line's detections over a range, read as a
//! stream of keyset pages in (detected_at, detection_id) order — the order
//! and filters of the paginated listing. Each page takes a connection, reads
//! and gives it back, so an export of any length holds one page in memory
//! and a connection only while a page is read; dropping the stream (a
//! client gone) ends the reading, closing the connection of a page in flight.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use futures::Stream;

use crate::analytics::time::parse_range;
use crate::db::DbPool;
use crate::detections::store::{self, DetectionFilter};
use crate::detections::{Detection, DetectionQuery, enrich, line_of, scope};
use crate::error::{AppResult, DbFaultKind};
use crate::plant::cache::PlantSnapshot;

/// A validated export: which line, which rows, with the names to show.
#[derive(Clone)]
pub struct ExportPlan {
    line_id: i32,
    filter: DetectionFilter,
    snapshot: Arc<PlantSnapshot>,
}

/// Checks the line and the range (at most `max_range_days`) of `query` and
/// fixes what the export reads. `query.limit` and `query.cursor` are not
/// used: an export reads every page.
pub fn plan(
    snapshot: Arc<PlantSnapshot>,
    query: &DetectionQuery,
    now: DateTime<Utc>,
    max_range_days: u32,
) -> AppResult<ExportPlan> {
    line_of(&snapshot, query.line_id)?;
    let tz = snapshot.timezone;
    let range = parse_range(&query.start_date, &query.end_date, tz, max_range_days)?;
    let filter = DetectionFilter {
        within: scope(&snapshot, query.line_id, tz, &range, now, query.shift_id),
        product_ids: query.product_ids.clone(),
        area_ids: query.area_ids.clone(),
    };
    Ok(ExportPlan {
        line_id: query.line_id,
        filter,
        snapshot,
    })
}

impl ExportPlan {
    /// How many detections the export holds now (rows ingested while it
    /// streams may add to it).
    pub async fn count(&self, pool: &DbPool) -> AppResult<i64> {
        let mut conn = pool.get().await?;
        store::count(&mut conn, self.line_id, &self.filter).await
    }

    /// The detections, `page_rows` at a time. A page that takes longer than
    /// `page_deadline` ends the stream with a timeout fault, and any error
    /// ends it after being yielded.
    pub fn pages(
        self,
        pool: DbPool,
        page_rows: u32,
        page_deadline: Duration,
    ) -> impl Stream<Item = AppResult<Vec<Detection>>> + Send + 'static {
        let limit = i64::from(page_rows.max(1));
        let plan = Arc::new(self);
        // `None`: the last page was read; `Some(after)`: read after `after`.
        let start: Option<Option<(NaiveDateTime, i64)>> = Some(None);
        futures::stream::try_unfold(start, move |position| {
            let (pool, plan) = (pool.clone(), plan.clone());
            async move {
                let Some(after) = position else {
                    return Ok(None);
                };
                // The inner scope decides whether a dropped connection is
                // closed, so it must be the one that also sees a drop from
                // outside; a deadline drops it too.
                let read = crate::db::bounded(
                    page_deadline,
                    crate::db::close_if_dropped(async {
                        let mut conn = pool.get().await?;
                        store::page(&mut conn, plan.line_id, &plan.filter, after, limit).await
                    }),
                );
                let rows = read.await.ok_or_else(|| {
                    crate::error::AppError::db_fault(
                        DbFaultKind::Timeout,
                        format!("an export page ran past {} s", page_deadline.as_secs()),
                    )
                })??;
                if rows.is_empty() {
                    return Ok(None);
                }
                let next = (rows.len() as i64 == limit)
                    .then(|| rows.last().map(|r| (r.detected_at, r.detection_id)))
                    .flatten();
                let views = rows
                    .into_iter()
                    .map(|r| enrich(r, plan.line_id, &plan.snapshot))
                    .collect();
                Ok(Some((views, next.map(Some))))
            }
        })
    }
}
