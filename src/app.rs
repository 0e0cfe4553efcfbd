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
    /// Secret that signs access tokens (from config or the data directory).
    pub jwt_secret: Secret,
    /// When the process started, for `/health`.
    pub started_at: Instant,
}

/// Shared handle to the state.
pub type SharedState = Arc<AppState>;
