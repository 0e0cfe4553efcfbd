//! The KPI query (`/metrics/query`): one typed question — lines × range ×
//! grain × dimensions × measures × filters, optionally compared with an
//! earlier range — answered as a table whose every cell is computed from
//! additive parts and whose ratios are derived from summed parts
//! (semantics §9, `docs/query.md`). Parsing ([`model`]), reading parts
//! ([`run`]) and laying out the table ([`table`]) take a connection and the
//! cached configuration, never HTTP types or the application state.

pub mod model;
pub mod run;
pub mod table;
