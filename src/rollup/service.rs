//! The rollup refresh a client asks for after backfilling rows straight into
//! a line's raw table: validation, the rebuild, and the answer.

use chrono::{DateTime, Utc};

use crate::analytics::interval::Interval;
use crate::analytics::time::{format_instant, parse_range};
use crate::app::AppState;
use crate::auth::principal::Principal;
use crate::detections::line_of;
use crate::error::AppResult;
use crate::rollup::store;

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

/// Rebuilds line `line_id`'s rollups over the requested range.
pub async fn refresh(
    state: &AppState,
    principal: &Principal,
    line_id: i32,
    request: &RollupRefreshRequest,
    now: DateTime<Utc>,
) -> AppResult<RollupRefreshResponse> {
    let snapshot = state.cache.get(&state.databases, principal.tenant_id).await?;
    line_of(&snapshot, line_id)?;
    let tz = snapshot.timezone;
    let range = parse_range(&request.start_date, &request.end_date, tz, state.config.max_range_days)?;
    let pool = state.databases.tenant(principal.tenant_id).await?;
    let mut conn = pool.get().await?;
    // The gaps of the range are rebuilt with the floor the rest of the
    // line's gaps have; a new floor is the watermark job's to apply.
    let floor = store::gap_floor(&mut conn, line_id)
        .await?
        .unwrap_or_else(|| state.config.gap_floor());
    let report = match range.clip_to_now(now) {
        Some(clipped) => {
            store::rebuild(
                &mut conn,
                line_id,
                Interval::new(clipped.start, clipped.end),
                None,
                now,
                floor,
            )
            .await?
        }
        None => store::RebuildReport::default(),
    };
    let mark = store::watermark(&mut conn, line_id).await?;
    tracing::info!(
        tenant_id = principal.tenant_id,
        line_id,
        hours = report.hours,
        detections = report.rows,
        "rollups refreshed on request"
    );
    Ok(RollupRefreshResponse {
        line_id,
        rebuilt_from: report.start.map(|t| format_instant(t, tz)),
        rebuilt_to: report.end.map(|t| format_instant(t, tz)),
        hours: report.hours,
        detections: report.rows,
        data_as_of: mark.map(|t| format_instant(t, tz)),
    })
}
