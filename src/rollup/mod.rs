//! Pre-aggregated detections per line, so month-long KPIs read thousands of
//! rows instead of millions while staying exactly equal to a raw scan.
//!
//! Per line: `detection_minute_<id>` (per area and UTC minute: count, first
//! and last instant), `detection_hour_<id>` and `detection_day_<id>` (per
//! area, UTC hour or day, and product: count), and `detection_gap_<id>`
//! (per area, the gaps between consecutive detections longer than the gap
//! floor). API ingest adds to all of them in its own transaction; rows
//! written straight into the raw table are folded in by a leased job up to
//! a per-line watermark (`now − settle`), or on request for older backfills.
//! Readers take whole days, then whole hours, before the watermark from the
//! rollups, gap analysis from the stored gaps (threshold at or above the
//! floor) or minute spans, and everything else (partial units at window
//! edges, time past the watermark) from raw rows.
//!
//! - [`gaps`]: the stored gaps between detections (gap analysis for any
//!   threshold at or above the gap floor).
//! - [`plan`]: pure splitting of windows and aggregation of batches.
//! - [`store`]: maintenance (upserts, rebuilds, the watermark).
//! - [`read`]: the exact queries KPIs and charts use.
//! - [`service`]: the refresh requested over HTTP after a backfill.

pub mod gaps;
pub mod plan;
pub mod read;
pub mod service;
pub mod store;
