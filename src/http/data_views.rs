//! The HTTP shapes of detections and rollup refreshes: the bodies
//! [`crate::http::data_api`] takes and the JSON views of what
//! [`crate::detections`] and [`crate::rollup::service`] return, with
//! instants written in the tenant's offset. The domain types know nothing
//! of poem or of JSON.

use chrono_tz::Tz;

use crate::analytics::time::format_instant;
use crate::detections::{Detection, Ingested, NewDetection, Page};
use crate::rollup::service::Refreshed;

/// One detection as sent by a sensor pipeline.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct DetectionInput {
    /// When the unit was seen: RFC 3339; without an offset it is local time in the tenant's zone.
    #[oai(validator(max_length = 64))]
    pub detected_at: String,
    /// Area of this line that saw it.
    pub area_id: i32,
    /// Product recognised.
    pub product_id: i32,
    /// The sender's id of this event; a repeated one is not counted twice.
    #[oai(validator(max_length = 100))]
    #[oai(nullable)]
    pub external_id: Option<String>,
}

impl From<DetectionInput> for NewDetection {
    // Moves the strings: ingest converts a whole batch without copying a byte.
    fn from(input: DetectionInput) -> Self {
        NewDetection {
            detected_at: input.detected_at,
            area_id: input.area_id,
            product_id: input.product_id,
            external_id: input.external_id,
        }
    }
}

/// What an ingest did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Object)]
pub struct IngestOutcome {
    /// Items received.
    pub received: usize,
    /// Items stored.
    pub inserted: usize,
    /// Items skipped because their `external_id` was already stored.
    pub duplicates: usize,
}

impl From<Ingested> for IngestOutcome {
    fn from(done: Ingested) -> Self {
        IngestOutcome {
            received: done.received,
            inserted: done.inserted,
            duplicates: done.duplicates,
        }
    }
}

/// A detection enriched with names from the metadata cache.
#[derive(Debug, Clone, poem_openapi::Object, serde::Serialize)]
pub struct DetectionView {
    /// Id (unique per line).
    pub detection_id: i64,
    /// Line.
    pub line_id: i32,
    /// When, with the tenant's UTC offset at that instant.
    pub detected_at: String,
    /// Area.
    pub area_id: i32,
    /// Area name (from the cache).
    #[oai(nullable)]
    pub area_name: Option<String>,
    /// Product.
    pub product_id: i32,
    /// Product name (from the cache).
    #[oai(nullable)]
    pub product_name: Option<String>,
    /// The sender's id, if any.
    #[oai(nullable)]
    pub external_id: Option<String>,
}

impl DetectionView {
    /// `detection` with its instant in `tz`.
    pub fn view(detection: Detection, tz: Tz) -> Self {
        DetectionView {
            detection_id: detection.detection_id,
            line_id: detection.line_id,
            detected_at: format_instant(detection.detected_at, tz),
            area_id: detection.area_id,
            area_name: detection.area_name,
            product_id: detection.product_id,
            product_name: detection.product_name,
            external_id: detection.external_id,
        }
    }
}

/// A page of detections.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct DetectionPage {
    /// Rows in (detected_at, detection_id) order.
    pub items: Vec<DetectionView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
    /// Rows matching the filters in all.
    pub total: i64,
}

impl DetectionPage {
    /// `page` with instants in `tz`.
    pub fn view(page: Page, tz: Tz) -> Self {
        DetectionPage {
            items: page.items.into_iter().map(|d| DetectionView::view(d, tz)).collect(),
            next_cursor: page.next_cursor,
            total: page.total,
        }
    }
}

/// A range whose rollups to rebuild from raw rows.
#[derive(Debug, Clone, poem_openapi::Object, serde::Serialize)]
pub struct RollupRefreshRequest {
    /// Range start (RFC 3339; without offset: tenant local time). Widened to the whole UTC hour.
    #[oai(validator(max_length = 64))]
    pub start_date: String,
    /// Range end, exclusive; clipped at now and widened to the whole UTC hour.
    #[oai(validator(max_length = 64))]
    pub end_date: String,
}

/// What a refresh rebuilt.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct RollupRefreshResponse {
    /// Line.
    pub line_id: i32,
    /// Start of the rebuilt range (whole hour, tenant offset); null when nothing was due.
    #[oai(nullable)]
    pub rebuilt_from: Option<String>,
    /// End of the rebuilt range, exclusive.
    #[oai(nullable)]
    pub rebuilt_to: Option<String>,
    /// Hours rebuilt.
    pub hours: i64,
    /// Raw detections inside them, now all reflected in the rollups.
    pub detections: i64,
    /// The line's watermark (direct writes before it, made before this call, are now counted).
    #[oai(nullable)]
    pub data_as_of: Option<String>,
}

impl RollupRefreshResponse {
    /// `refreshed` with instants in `tz`.
    pub fn view(refreshed: Refreshed, tz: Tz) -> Self {
        RollupRefreshResponse {
            line_id: refreshed.line_id,
            rebuilt_from: refreshed.rebuilt.start.map(|t| format_instant(t, tz)),
            rebuilt_to: refreshed.rebuilt.end.map(|t| format_instant(t, tz)),
            hours: refreshed.rebuilt.hours,
            detections: refreshed.rebuilt.rows,
            data_as_of: refreshed.data_as_of.map(|t| format_instant(t, tz)),
        }
    }
}
