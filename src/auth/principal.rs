//! Who is calling: a user (through a session) or an API key, always bound to
//! one tenant, with the effective rights of its role and permissions.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use crate::auth::rights::Right;
use crate::auth::roles::Role;
use crate::error::{AppError, AppResult};

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Tenant every query of this request is scoped to.
    pub tenant_id: i32,
    /// The user, for session-authenticated requests.
    pub user_id: Option<i32>,
    /// The user's login name.
    pub username: Option<String>,
    /// The API key, for machine clients.
    pub api_key_id: Option<i32>,
    /// The session (`user_login`), for users.
    pub session_id: Option<i64>,
    /// The user whose authority this caller acts on: the user themself, or
    /// the creator of the API key. A key's rights never exceed that user's.
    pub owner_id: Option<i32>,
    /// Role (of the user or key).
    pub role: Role,
    /// Effective rights.
    pub rights: BTreeSet<Right>,
    /// Per-minute quota of this caller, when it differs from the default (API keys).
    pub rate_limit_per_minute: Option<NonZeroU32>,
}

impl Principal {
    /// True when the caller holds `right`.
    pub fn has(&self, right: Right) -> bool {
        self.rights.contains(&right)
    }

    /// The route guard: a 403 unless the caller holds `right`.
    pub fn require(&self, right: Right) -> AppResult<()> {
        if self.has(right) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "this action needs the {} right",
                right_name(right)
            )))
        }
    }

    /// A 403 unless every right of `wanted` is one the caller holds: nobody
    /// hands out (to a user or an API key) rights they do not hold themself.
    pub fn require_all(&self, wanted: &BTreeSet<Right>, what: &str) -> AppResult<()> {
        let missing: Vec<String> = wanted.difference(&self.rights).map(|r| right_name(*r)).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "{what} would hold rights you do not hold: {}",
                missing.join(", ")
            )))
        }
    }

    /// The rate-limit bucket of this caller.
    pub fn rate_key(&self) -> String {
        match (self.api_key_id, self.user_id) {
            (Some(key), _) => format!("apikey:{key}"),
            (None, Some(user)) => format!("user:{user}"),
            (None, None) => format!("tenant:{}", self.tenant_id),
        }
    }
}

/// The snake_case name of a right, as in `permissions`.
pub fn right_name(right: Right) -> String {
    serde_json::to_value(right)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{right:?}"))
}
