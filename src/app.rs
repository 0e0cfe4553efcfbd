//! The application state shared by every handler and background job.

use std::sync::Arc;
use std::time::Instant;

use crate::auth::password::HashingParams;
use crate::config::{Config, Secret};
use crate::db::Databases;

/// Everything a request handler may need, built once at start.
pub struct AppState {
    /// The validated configuration.
    pub config: Config,
    /// Pools of the global and tenant databases.
    pub databases: Arc<Databases>,
    /// Argon2id parameters for new password hashes.
    pub hashing: HashingParams,
    /// The bounded pool every password hash of a request runs in.
    pub hash_pool: crate::auth::password::HashPool,
    /// Secret that signs access tokens (from config or the data directory).
    pub jwt_secret: Secret,
    /// When the process started, for `/health`.
    pub started_at: Instant,
    /// Issues and verifies access tokens.
    pub signer: crate::auth::tokens::TokenSigner,
    /// HTTP counters and latencies for `/metrics`.
    pub metrics: crate::http::metrics::HttpMetrics,
    /// Plant configuration of every tenant, in memory.
    pub cache: crate::plant::cache::MetadataCache,
    /// Request and login rate limits.
    pub limits: crate::http::rate_limit::RateLimits,
    /// A real Argon2id hash of a random password: unknown usernames are
    /// checked against it so a failed login takes the same time either way.
    pub dummy_hash: String,
    /// The external data broker (APIs of `external_apis.yml`).
    pub broker: crate::broker::DataBroker,
    /// "Now" for every request and job; tests pin it to their fixtures' dates.
    pub clock: crate::clock::Clock,
    /// Slots bounding the detection exports each tenant runs at once.
    pub exports: crate::http::export_slots::ExportSlots,
    /// This process's server instance, as a lease holder (tests run several
    /// instances in one process).
    pub instance_id: String,
    /// Live events: publishing, fan-out, streams.
    pub live: crate::live::bus::LiveBus,
}

impl AppState {
    /// What the plant module needs of this state, lent for one call.
    pub fn plant(&self) -> crate::plant::PlantContext<'_> {
        crate::plant::PlantContext {
            databases: &self.databases,
            cache: &self.cache,
            clock: &self.clock,
            config: &self.config,
        }
    }
}

/// Shared handle to the state.
pub type SharedState = Arc<AppState>;
