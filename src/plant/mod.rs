//! Plant configuration of a tenant: lines, areas, products, shifts, filters.
//! Stored in the tenant database; creating a line also creates its per-line
//! detection and downtime tables.

pub mod cache;
pub mod inputs;
pub mod models;
pub mod partitions;
pub mod service;
pub mod store;
