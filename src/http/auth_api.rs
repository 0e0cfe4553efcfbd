//! `/api/v1/auth`: login, refresh, logout, me. Thin: parse, rate-limit,
//! delegate to [`crate::auth::sessions`], map.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::app::SharedState;
use crate::auth::principal::Principal;
use crate::auth::rights::Right;
use crate::auth::roles::Role;
use crate::auth::sessions::{self, IssuedTokens, UserRow};
use crate::error::AppError;
use crate::http::ApiTags;
use crate::http::caller::{Authenticated, Caller};
use crate::http::client_info;
use crate::http::problem::ApiError;
use crate::http::security::{BearerAuth, counting_failures};

/// Credentials.
#[derive(Object)]
pub struct LoginRequest {
    /// Login name.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub username: String,
    /// Password.
    #[oai(validator(min_length = 1, max_length = 1024))]
    pub password: String,
    /// The tenant the user belongs to. Usernames are unique per tenant, so a
    /// username held in more than one tenant logs in only with its tenant;
    /// clients that know their tenant should always send it.
    #[oai(nullable)]
    pub tenant_id: Option<i32>,
}

/// A refresh token to exchange.
#[derive(Object)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh (single use).
    #[oai(validator(min_length = 1, max_length = 512))]
    pub refresh_token: String,
}

/// A user as seen through the API.
#[derive(Object, Debug, Clone, serde::Serialize)]
pub struct UserView {
    /// Id.
    pub user_id: i32,
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Tenant.
    pub tenant_id: i32,
    /// Effective rights (role adjusted by `permissions`).
    pub permissions: Vec<Right>,
    /// Active.
    pub is_active: bool,
}

impl From<&UserRow> for UserView {
    fn from(user: &UserRow) -> Self {
        UserView {
            user_id: user.user_id,
            username: user.username.clone(),
            email: user.email.clone(),
            role: user.role(),
            tenant_id: user.tenant_id,
            permissions: user.principal(None).rights.into_iter().collect(),
            is_active: user.is_active,
        }
    }
}

/// Tokens for a user.
#[derive(Object)]
pub struct TokenResponse {
    /// JWT to send as `Authorization: Bearer <token>`.
    pub access_token: String,
    /// Single-use token for `POST /api/v1/auth/refresh`.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The user.
    pub user: UserView,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(tokens: IssuedTokens) -> Self {
        TokenResponse {
            user: UserView::from(&tokens.user),
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: "Bearer".into(),
            expires_in: tokens.expires_in,
        }
    }
}

/// The caller.
#[derive(Object)]
pub struct MeResponse {
    /// Tenant.
    pub tenant_id: i32,
    /// User id (absent for API keys).
    #[oai(nullable)]
    pub user_id: Option<i32>,
    /// Login name (absent for API keys).
    #[oai(nullable)]
    pub username: Option<String>,
    /// API key id (absent for users).
    #[oai(nullable)]
    pub api_key_id: Option<i32>,
    /// Role.
    pub role: Role,
    /// Effective rights.
    pub permissions: Vec<Right>,
}

impl From<&Principal> for MeResponse {
    fn from(p: &Principal) -> Self {
        MeResponse {
            tenant_id: p.tenant_id,
            user_id: p.user_id,
            username: p.username.clone(),
            api_key_id: p.api_key_id,
            role: p.role,
            permissions: p.rights.iter().copied().collect(),
        }
    }
}

/// Empty success.
#[derive(ApiResponse)]
pub enum NoContent {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// Authentication endpoints.
pub struct AuthApi;

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Log in with username and password; returns an access token (short-lived)
    /// and a refresh token (single use). Unknown users and wrong passwords get
    /// the same 401. 5 attempts per minute per (IP, username), then 429.
    #[oai(path = "/login", method = "post")]
    async fn login(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: Json<LoginRequest>,
    ) -> Result<Json<TokenResponse>, ApiError> {
        let client = client_info(req, &state);
        if let Some(ip) = client.ip {
            let (checked, standing) = state.limits.admit_login(ip, &body.username).await;
            crate::http::rate_limit::note("login", standing);
            if let Err(retry) = checked {
                return Err(AppError::RateLimited {
                    message: "too many login attempts; retry later".into(),
                    retry_after_secs: retry.seconds,
                }
                .into());
            }
        }
        let tokens = counting_failures(
            &state,
            req,
            sessions::login(
                &state,
                &body.username,
                body.tenant_id,
                &body.password,
                &client,
                state.clock.now(),
            )
            .await,
        )
        .await?;
        Ok(Json(tokens.into()))
    }

    /// Exchange a refresh token for a new pair. Each refresh token works once;
    /// presenting a used one revokes the whole session.
    #[oai(path = "/refresh", method = "post")]
    async fn refresh(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        body: Json<RefreshRequest>,
    ) -> Result<Json<TokenResponse>, ApiError> {
        let client = client_info(req, &state);
        let tokens = counting_failures(
            &state,
            req,
            sessions::refresh(&state, &body.refresh_token, &client, state.clock.now()).await,
        )
        .await?;
        Ok(Json(tokens.into()))
    }

    /// Log out: the session ends; its access token stops working at once.
    #[oai(path = "/logout", method = "post")]
    async fn logout(&self, state: Data<&SharedState>, req: &Request, auth: BearerAuth) -> Result<NoContent, ApiError> {
        let client = client_info(req, &state);
        sessions::logout(&state, auth.principal()?, &client, state.clock.now()).await?;
        Ok(NoContent::Done)
    }

    /// The caller: user or API key, tenant, role and effective rights.
    #[oai(path = "/me", method = "get")]
    async fn me(&self, caller: Caller<Authenticated>) -> Result<Json<MeResponse>, ApiError> {
        Ok(Json(MeResponse::from(caller.principal())))
    }
}
