//! Production over time (semantics §6): detections per local-time bucket,
//! output area unless areas are named, exact through the rollups.

use chrono::{DateTime, Utc};

use crate::analytics::buckets::{BucketInterval, generate_buckets};
use crate::analytics::interval::Interval;
use crate::analytics::time::format_instant;
use crate::db::DbConn;
use crate::detections::line_of;
use crate::detections::store::DetectionFilter;
use crate::error::{AppError, AppResult, FieldError};
use crate::plant::cache::PlantSnapshot;
use crate::rollup::read;

/// What a production chart asks for, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesFilters {
    /// Line.
    pub line_id: i32,
    /// `[start, end)`.
    pub range: Interval,
    /// Bucket width.
    pub interval: BucketInterval,
    /// Only these products (empty: all).
    pub product_ids: Vec<i32>,
    /// These areas instead of the output area.
    pub area_ids: Vec<i32>,
    /// Only detections inside this shift's occurrences.
    pub shift_id: Option<i32>,
}

/// Counts per bucket, with their local labels.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Series {
    /// `YYYY-MM-DD HH:MM`, local bucket starts.
    pub labels: Vec<String>,
    /// Detections per bucket.
    pub counts: Vec<u64>,
    /// See the KPI responses' `data_as_of`.
    pub data_as_of: String,
    /// The real `[start, end)` of each bucket, in label order (so charts
    /// can place instants, such as stops, on the labels).
    pub bounds: Vec<Interval>,
    /// Per bucket: does it meet the line's planned time P (semantics §2;
    /// with a `shift_id`, that shift's occurrences)? Charts break their
    /// line where it does not, so time off shift does not look like a stop.
    pub planned: Vec<bool>,
    /// The bucket width.
    pub interval: BucketInterval,
    /// The tenant's IANA time zone, in which the labels read.
    pub timezone: String,
}

/// Detections per bucket of a line over a range; `shared` are minute rows
/// a KPI of the same request already read (used only where they cover the
/// same area and range).
pub async fn production_series(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    filters: &SeriesFilters,
    now: DateTime<Utc>,
    shared: Option<&read::MinuteRows>,
) -> AppResult<Series> {
    line_of(snapshot, filters.line_id)?;
    let tz = snapshot.timezone;
    let mut errors: Vec<FieldError> = Vec::new();
    let range = filters.range;
    errors.extend(super::unknown_ids(snapshot, &filters.product_ids, None));
    for id in &filters.area_ids {
        if snapshot.areas.get(id).is_none_or(|a| a.line_id != filters.line_id) {
            errors.push(FieldError::new(
                "area_ids",
                format!("area {id} is not an area of line {}", filters.line_id),
            ));
        }
    }
    errors.extend(super::unknown_ids(snapshot, &[], filters.shift_id));
    let areas = if filters.area_ids.is_empty() {
        snapshot
            .line_areas(filters.line_id)
            .map(|a| vec![a.output_area_id])
            .map_err(|e| errors.push(FieldError::new("line_id", e.to_string())))
            .ok()
    } else {
        Some(filters.area_ids.clone())
    };
    let (Some(areas), true) = (areas, errors.is_empty()) else {
        return Err(AppError::invalid_fields(errors));
    };
    let series = generate_buckets(filters.interval, tz, &range, now)
        .map_err(|e| AppError::invalid_field("interval", e.to_string()))?;
    let schedule = snapshot.schedule();
    let scope = crate::analytics::shifts::counting_scope(&schedule, filters.line_id, tz, &range, now, filters.shift_id);
    let watermark = match shared {
        // Split under the watermark the shared rows were read with.
        Some(rows) => rows.watermark(),
        None => crate::rollup::store::watermark(conn, filters.line_id).await?,
    };
    let filter = DetectionFilter {
        within: DetectionFilter::windows(scope.intervals()),
        product_ids: crate::query::model::distinct(filters.product_ids.clone()),
        area_ids: areas,
    };
    let counts = read::bucket_counts(conn, filters.line_id, &filter, &series, watermark, shared).await?;
    let planned_set =
        crate::analytics::shifts::planned_set(&schedule, filters.line_id, tz, &range, now, filters.shift_id);
    let bounds: Vec<Interval> = series.buckets.iter().map(|b| Interval::new(b.start, b.end)).collect();
    Ok(Series {
        labels: series.labels(),
        counts,
        data_as_of: format_instant(watermark.map_or(now, |w| w.min(now)), tz),
        planned: bounds
            .iter()
            .map(|b| !planned_set.intersect_interval(b).is_empty())
            .collect(),
        bounds,
        interval: filters.interval,
        timezone: tz.name().to_owned(),
    })
}
