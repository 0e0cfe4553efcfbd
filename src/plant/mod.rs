//! Plant configuration of a tenant: lines, areas, products, shifts, filters.
//! Stored in the tenant database; creating a line also creates its per-line
//! detection and downtime tables.

pub mod cache;
pub mod inputs;
pub mod models;
pub mod partitions;
pub mod service;
pub mod store;

/// What plant configuration needs of the running service, lent by the
/// caller: the databases, the metadata cache a change reloads, the clock and
/// the configuration (partition horizons). The field names are the
/// application state's, so the caller builds it in one line and this module
/// never sees that state.
#[derive(Clone, Copy)]
pub struct PlantContext<'a> {
    pub databases: &'a crate::db::Databases,
    pub cache: &'a cache::MetadataCache,
    pub clock: &'a crate::clock::Clock,
    pub config: &'a crate::config::Config,
}
