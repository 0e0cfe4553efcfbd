//! The HTTP shapes of rollup refreshes: the body
//! [`crate::http::data_api`] takes and the JSON view of what
//! [`crate::rollup::service`] returns, with instants written in the
//! tenant's offset. The domain types know nothing of poem or of JSON.

use chrono_tz::Tz;

use crate::analytics::time::format_instant;
use crate::rollup::service::Refreshed;

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
