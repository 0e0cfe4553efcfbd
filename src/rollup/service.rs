//! The rollup refresh a client asks for after backfilling rows straight into
//! a line's raw table: the rebuild over a checked range and what it did. The
//! HTTP layer parses the request and writes the answer
//! (`http::data_api`).

use chrono::{DateTime, Utc};

use crate::analytics::gaps::GapFloor;
use crate::analytics::interval::Interval;
use crate::db::DbConn;
use crate::error::AppResult;
use crate::rollup::store;

/// What a refresh rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refreshed {
    /// The line.
    pub line_id: i32,
    /// The rebuilt range (whole hours) and what it held; empty when nothing was due.
    pub rebuilt: store::RebuildReport,
    /// The line's watermark after the rebuild.
    pub data_as_of: Option<DateTime<Utc>>,
}

/// Rebuilds line `line_id`'s rollups over `range` clipped at `now`. The
/// caller has checked that the line is the tenant's. `default_floor` is
/// the configured gap floor, used only when the line has no gaps yet.
pub async fn refresh(
    conn: &mut DbConn,
    line_id: i32,
    range: Interval,
    now: DateTime<Utc>,
    default_floor: GapFloor,
) -> AppResult<Refreshed> {
    // The gaps of the range are rebuilt with the floor the rest of the
    // line's gaps have; a new floor is the watermark job's to apply.
    let floor = store::gap_floor(conn, line_id).await?.unwrap_or(default_floor);
    let rebuilt = match range.clip_to_now(now) {
        Some(clipped) => store::rebuild(conn, line_id, clipped, None, now, floor).await?,
        None => store::RebuildReport::default(),
    };
    let data_as_of = store::watermark(conn, line_id).await?;
    Ok(Refreshed {
        line_id,
        rebuilt,
        data_as_of,
    })
}
