//! Pre-aggregated detections per line, so month-long KPIs read thousands of
//! rows instead of millions while staying exactly equal to a raw scan.
//!
//! Two rollups per line: `detection_minute_<id>` (per area and UTC minute:
//! count, first and last instant — enough for gap analysis whenever the
//! threshold is at least a minute) and `detection_hour_<id>` (per area, UTC
//! hour and product: count). API ingest adds to them in its own
//! transaction; rows written straight into the raw table are folded in by a
//! leased job up to a per-line watermark (`now − settle`), or on request for
//! older backfills. Readers take whole units before the watermark from the
//! rollups and everything else (partial units at window edges, time past
//! the watermark) from raw rows.
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
