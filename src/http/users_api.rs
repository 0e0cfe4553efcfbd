//! `/api/v1/users` and `/api/v1/api-keys`: tenant administration. Thin:
//! guard, delegate to [`crate::auth::admin`], map.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::app::SharedState;
use crate::auth::admin::{self, ApiKeyRow, UserChanges};
use crate::auth::rights::{Permissions, Right};
use crate::auth::roles::Role;
use crate::auth::users::NewUser;
use crate::http::ApiTags;
use crate::http::auth_api::{NoContent, UserView};
use crate::http::caller::{Authenticated, Caller, ManageApiKeys, ManageUsers};
use crate::http::client_info;
use crate::http::problem::ApiError;

/// Rights adjustments: rights added to or removed from the role's.
#[derive(Object, Debug, Clone, Default)]
pub struct PermissionsInput {
    /// Rights added.
    #[oai(default)]
    pub grant: Vec<Right>,
    /// Rights removed (wins over grant).
    #[oai(default)]
    pub deny: Vec<Right>,
}

impl From<PermissionsInput> for Permissions {
    fn from(p: PermissionsInput) -> Self {
        Permissions {
            grant: p.grant.into_iter().collect(),
            deny: p.deny.into_iter().collect(),
        }
    }
}

/// A new user.
#[derive(Object)]
pub struct CreateUserRequest {
    /// Login name, unique within the tenant: letters, digits, `._@-`.
    #[oai(validator(min_length = 3, max_length = 100))]
    pub username: String,
    /// E-mail.
    #[oai(validator(min_length = 3, max_length = 254))]
    pub email: String,
    /// Role.
    pub role: Role,
    /// Initial password (policy: 10+ characters, not common, two kinds of characters).
    #[oai(validator(max_length = 1024))]
    pub password: String,
    /// Optional rights adjustments.
    #[oai(nullable)]
    pub permissions: Option<PermissionsInput>,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Object)]
pub struct UpdateUserRequest {
    /// New role.
    #[oai(nullable)]
    pub role: Option<Role>,
    /// Activate or deactivate.
    #[oai(nullable)]
    pub is_active: Option<bool>,
    /// New e-mail.
    #[oai(validator(max_length = 254))]
    #[oai(nullable)]
    pub email: Option<String>,
    /// New rights adjustments (replace the stored ones).
    #[oai(nullable)]
    pub permissions: Option<PermissionsInput>,
}

/// A password change.
#[derive(Object)]
pub struct PasswordChangeRequest {
    /// The current password (required to change your own).
    #[oai(validator(max_length = 1024))]
    #[oai(nullable)]
    pub old_password: Option<String>,
    /// The new password.
    #[oai(validator(max_length = 1024))]
    pub new_password: String,
}

/// A page of users.
#[derive(Object)]
pub struct UserPage {
    /// Users of this page.
    pub items: Vec<UserView>,
    /// Users matching in all.
    pub total: i64,
    /// Page size used.
    pub limit: i64,
    /// Offset used.
    pub offset: i64,
}

/// A user was created.
#[derive(ApiResponse)]
pub enum UserCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<UserView>),
}

/// An API key as listed (the key itself is never shown again).
#[derive(Object)]
pub struct ApiKeyView {
    /// Id.
    pub api_key_id: i32,
    /// Label.
    pub name: String,
    /// First characters of the key, to recognise it.
    pub key_prefix: String,
    /// Role.
    pub role: Role,
    /// Own per-minute quota (default when absent).
    #[oai(nullable)]
    pub rate_limit_per_minute: Option<i32>,
    /// Created (UTC).
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last use (UTC).
    #[oai(nullable)]
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Revocation (UTC).
    #[oai(nullable)]
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ApiKeyRow> for ApiKeyView {
    fn from(row: ApiKeyRow) -> Self {
        ApiKeyView {
            api_key_id: row.api_key_id,
            name: row.name,
            key_prefix: row.key_prefix,
            role: row.role.parse().unwrap_or(Role::Viewer),
            rate_limit_per_minute: row.rate_limit_per_minute,
            created_at: row.created_at.and_utc(),
            last_used_at: row.last_used_at.map(|t| t.and_utc()),
            revoked_at: row.revoked_at.map(|t| t.and_utc()),
        }
    }
}

/// A new API key.
#[derive(Object)]
pub struct CreateApiKeyRequest {
    /// Label (e.g. "ERP pull", "line 1 gateway").
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// Role the key acts with.
    pub role: Role,
    /// Own per-minute request quota (sensors and ERP post often).
    #[oai(nullable)]
    pub rate_limit_per_minute: Option<i32>,
}

/// A created key: `key` is shown this once; store it safely.
#[derive(Object)]
pub struct CreatedApiKey {
    /// The key, to send as `X-API-Key`. Shown only now.
    pub key: String,
    /// The stored key's details.
    pub api_key: ApiKeyView,
}

/// An API key was created.
#[derive(ApiResponse)]
pub enum ApiKeyCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<CreatedApiKey>),
}

/// Users and API keys of the caller's tenant.
pub struct UsersApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Users")]
impl UsersApi {
    /// List the tenant's users (admins).
    #[oai(path = "/users", method = "get")]
    async fn list_users(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ManageUsers>,
        /// Page size (1-500).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
        /// Include deactivated users.
        #[oai(default)]
        include_inactive: Query<bool>,
    ) -> Result<Json<UserPage>, ApiError> {
        let page = admin::list_users(&state, caller.tenant_id, include_inactive.0, limit.0, offset.0).await?;
        Ok(Json(UserPage {
            items: page.items.iter().map(UserView::from).collect(),
            total: page.total,
            limit: limit.0,
            offset: offset.0,
        }))
    }

    /// Create a user in the caller's tenant (admins). Weak passwords are a 422 naming the rule.
    #[oai(path = "/users", method = "post")]
    async fn create_user(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManageUsers>,
        body: Json<CreateUserRequest>,
    ) -> Result<UserCreated, ApiError> {
        let principal = caller.principal();
        let body = body.0;
        let new = NewUser {
            tenant_id: principal.tenant_id,
            username: body.username,
            email: body.email,
            role: body.role,
            password: body.password,
        };
        let permissions = body.permissions.map(Permissions::from);
        principal.require_all(
            &permissions.clone().unwrap_or_default().effective(new.role),
            "the new user",
        )?;
        let client = client_info(req, &state);
        let entry = crate::audit::AuditEntry::new("user.create", Some(principal.tenant_id), principal.user_id, &client).values::<(), _>(
            None,
            Some(&serde_json::json!({"username": new.username, "email": new.email, "role": new.role, "permissions": permissions})),
        );
        let id = crate::auth::users::create_audited(
            &state.databases,
            state.hashing,
            Some(&state.hash_pool),
            &new,
            permissions.as_ref(),
            Some(entry),
        )
        .await?;
        let user = admin::get_user(&state, principal.tenant_id, id).await?;
        Ok(UserCreated::Created(Json(UserView::from(&user))))
    }

    /// Read a user of the caller's tenant (admins).
    #[oai(path = "/users/:user_id", method = "get")]
    async fn get_user(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ManageUsers>,
        user_id: Path<i32>,
    ) -> Result<Json<UserView>, ApiError> {
        let user = admin::get_user(&state, caller.tenant_id, user_id.0).await?;
        Ok(Json(UserView::from(&user)))
    }

    /// Change a user's role, active flag, e-mail or permissions (admins). Audited with old and new values.
    #[oai(path = "/users/:user_id", method = "put")]
    async fn update_user(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManageUsers>,
        user_id: Path<i32>,
        body: Json<UpdateUserRequest>,
    ) -> Result<Json<UserView>, ApiError> {
        let body = body.0;
        let changes = UserChanges {
            role: body.role,
            is_active: body.is_active,
            email: body.email,
            permissions: body.permissions.map(Permissions::from),
        };
        let user = admin::update_user(&state, &caller, user_id.0, changes, &client_info(req, &state)).await?;
        Ok(Json(UserView::from(&user)))
    }

    /// Deactivate a user (history keeps them); their sessions end at once (admins).
    #[oai(path = "/users/:user_id", method = "delete")]
    async fn delete_user(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManageUsers>,
        user_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        admin::deactivate_user(&state, &caller, user_id.0, &client_info(req, &state)).await?;
        Ok(NoContent::Done)
    }

    /// Change a password: your own with the old password, or another user's as an admin.
    /// The user's other sessions end.
    #[oai(path = "/users/:user_id/password", method = "post")]
    async fn change_password(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<Authenticated>,
        user_id: Path<i32>,
        body: Json<PasswordChangeRequest>,
    ) -> Result<NoContent, ApiError> {
        // An API key has no password of its own: it may only set another's, as an admin.
        if caller.user_id.is_none() {
            caller.require(Right::ManageUsers)?;
        }
        admin::change_password(
            &state,
            &caller,
            user_id.0,
            body.old_password.as_deref(),
            &body.new_password,
            &client_info(req, &state),
        )
        .await?;
        Ok(NoContent::Done)
    }

    /// Issue an API key for a machine client (admins). The key is returned once.
    #[oai(path = "/api-keys", method = "post")]
    async fn create_api_key(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManageApiKeys>,
        body: Json<CreateApiKeyRequest>,
    ) -> Result<ApiKeyCreated, ApiError> {
        let (row, key) = admin::create_api_key(
            &state,
            &caller,
            &body.name,
            body.role,
            body.rate_limit_per_minute,
            &client_info(req, &state),
        )
        .await?;
        Ok(ApiKeyCreated::Created(Json(CreatedApiKey {
            key,
            api_key: row.into(),
        })))
    }

    /// List the tenant's API keys, revoked ones included (admins).
    #[oai(path = "/api-keys", method = "get")]
    async fn list_api_keys(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ManageApiKeys>,
    ) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
        let keys = admin::list_api_keys(&state, caller.tenant_id).await?;
        Ok(Json(keys.into_iter().map(ApiKeyView::from).collect()))
    }

    /// Revoke an API key; it stops working at once (admins).
    #[oai(path = "/api-keys/:api_key_id", method = "delete")]
    async fn revoke_api_key(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManageApiKeys>,
        api_key_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        admin::revoke_api_key(
            &state,
            &caller,
            api_key_id.0,
            &client_info(req, &state),
            state.clock.now(),
        )
        .await?;
        Ok(NoContent::Done)
    }
}

fn default_limit() -> i64 {
    50
}
