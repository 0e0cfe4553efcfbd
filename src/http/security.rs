//! Authentication of API requests: a bearer access token (users) or an
//! `X-API-Key` (machine clients). The checkers resolve the caller, apply its
//! rate limit, and fail with the same problem+json as everything else.

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::{ApiKey, Bearer};

use crate::app::SharedState;
use crate::auth::principal::Principal;
use crate::auth::sessions;
use crate::error::{AppError, AppResult};
use crate::http::problem::problem_response;

fn state_of(req: &Request) -> AppResult<&SharedState> {
    req.data::<SharedState>()
        .ok_or_else(|| AppError::internal("application state missing"))
}

fn as_poem(error: AppError) -> poem::Error {
    poem::Error::from_response(problem_response(&error))
}

/// Applies the caller's own rate limit (per key or per user).
async fn limit(state: &SharedState, principal: &Principal) -> AppResult<()> {
    let key = principal.rate_key();
    let (checked, standing) = state.limits.admit(&key, principal.rate_limit_per_minute).await;
    crate::http::rate_limit::note("client", standing);
    checked.map_err(|retry| AppError::RateLimited {
        message: "rate limit exceeded; retry later".into(),
        retry_after_secs: retry.seconds,
    })
}

/// A refused credential counts against the client address's failed authentications (the address
/// is then refused before any lookup, see `middleware`); database trouble does not.
pub async fn count_failure(state: &SharedState, req: &Request, error: &AppError) {
    if matches!(error, AppError::Unauthorized(_)) {
        crate::http::middleware::record_auth_failure(state, req).await;
    }
}

/// `outcome`, after counting it as a failed authentication when it is one
/// (see [`count_failure`]).
pub async fn counting_failures<T>(state: &SharedState, req: &Request, outcome: AppResult<T>) -> AppResult<T> {
    if let Err(error) = &outcome {
        count_failure(state, req, error).await;
    }
    outcome
}

// Checkers succeed whenever their credential is present and carry the
// outcome instead: poem-openapi keeps only the last scheme's error when it
// tries several, which would replace "session expired" or a 429 with a
// generic "missing credentials".
async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<AppResult<Principal>> {
    let state = state_of(req).map_err(as_poem)?;
    Ok(async {
        let principal = counting_failures(
            state,
            req,
            sessions::authenticate_bearer(state, &bearer.token, state.clock.now()).await,
        )
        .await?;
        limit(state, &principal).await?;
        Ok(principal)
    }
    .await)
}

async fn check_api_key(req: &Request, key: ApiKey) -> poem::Result<AppResult<Principal>> {
    let state = state_of(req).map_err(as_poem)?;
    Ok(async {
        let principal = counting_failures(
            state,
            req,
            sessions::authenticate_api_key(state, &key.key, state.clock.now()).await,
        )
        .await?;
        limit(state, &principal).await?;
        Ok(principal)
    }
    .await)
}

/// A user's access token from `POST /api/v1/auth/login`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub AppResult<Principal>);

impl BearerAuth {
    /// The authenticated user, or why not.
    pub fn principal(&self) -> AppResult<&Principal> {
        self.0.as_ref().map_err(Clone::clone)
    }
}

/// An API key of a machine client (ERP, sensor gateway).
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "X-API-Key", key_in = "header", checker = "check_api_key")]
pub struct ApiKeyAuth(pub AppResult<Principal>);

/// Either credential.
#[derive(SecurityScheme)]
pub enum Auth {
    /// Bearer access token.
    Bearer(BearerAuth),
    /// API key.
    ApiKey(ApiKeyAuth),
}

impl Auth {
    /// The authenticated caller, or why the credential was refused (401/429).
    pub fn principal(&self) -> AppResult<&Principal> {
        match self {
            Auth::Bearer(BearerAuth(p)) | Auth::ApiKey(ApiKeyAuth(p)) => p.as_ref().map_err(Clone::clone),
        }
    }

    /// [`Auth::principal`], by value.
    pub fn into_principal(self) -> AppResult<Principal> {
        match self {
            Auth::Bearer(BearerAuth(p)) | Auth::ApiKey(ApiKeyAuth(p)) => p,
        }
    }
}
