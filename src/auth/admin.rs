//! Tenant administration of users and API keys: list, read, update,
//! deactivate, password changes, key issue and revocation. Every query is
//! scoped to the caller's tenant (another tenant's id is a 404), and every
//! change is audited in the same transaction.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::app::AppState;
use crate::audit::{AuditConn, AuditEntry, ClientInfo};
use crate::auth::password;
use crate::auth::principal::Principal;
use crate::auth::rights::Permissions;
use crate::auth::roles::Role;
use crate::auth::sessions::UserRow;
use crate::auth::tokens::hash_token;
use crate::auth::users::validate_email;
use crate::db::dialect::DialectConn;
use crate::db::schema::global::{api_key, app_user, user_login};
use crate::error::{AppError, AppResult, FieldError};
use crate::{with_conn, write_tx};

/// A page of results.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Rows of this page.
    pub items: Vec<T>,
    /// Rows matching in all.
    pub total: i64,
}

/// The values of a user that an audit row records (no secrets).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UserAuditView {
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// Role.
    pub role: String,
    /// Active.
    pub is_active: bool,
    /// Permissions JSON.
    pub permissions: Option<String>,
}

impl From<&UserRow> for UserAuditView {
    fn from(u: &UserRow) -> Self {
        UserAuditView {
            username: u.username.clone(),
            email: u.email.clone(),
            role: u.role.clone(),
            is_active: u.is_active,
            permissions: u.permissions.clone(),
        }
    }
}

fn not_found_user(id: i32) -> AppError {
    AppError::NotFound(format!("user {id} not found"))
}

/// Lists the tenant's users, oldest first.
pub async fn list_users(
    state: &AppState,
    tenant_id: i32,
    include_inactive: bool,
    limit: i64,
    offset: i64,
) -> AppResult<Page<UserRow>> {
    let mut conn = state.databases.global().get().await?;
    let (items, total) = with_conn!(&mut conn, |c| {
        let mut query = app_user::table.filter(app_user::tenant_id.eq(tenant_id)).into_boxed();
        let mut count = app_user::table.filter(app_user::tenant_id.eq(tenant_id)).into_boxed();
        if !include_inactive {
            query = query.filter(app_user::is_active.eq(true));
            count = count.filter(app_user::is_active.eq(true));
        }
        let items = query
            .order(app_user::user_id.asc())
            .limit(limit)
            .offset(offset)
            .select(UserRow::as_select())
            .load(c)
            .await?;
        let total = count.count().get_result::<i64>(c).await?;
        Ok::<_, diesel::result::Error>((items, total))
    })?;
    Ok(Page { items, total })
}

/// One user of the tenant.
pub async fn get_user(state: &AppState, tenant_id: i32, user_id: i32) -> AppResult<UserRow> {
    let mut conn = state.databases.global().get().await?;
    with_conn!(&mut conn, |c| app_user::table
        .filter(app_user::tenant_id.eq(tenant_id))
        .filter(app_user::user_id.eq(user_id))
        .select(UserRow::as_select())
        .first(c)
        .await
        .optional())?
    .ok_or_else(|| not_found_user(user_id))
}

/// The user of the tenant with login name `username` (operators name users
/// by login at the command line).
pub async fn user_by_username(state: &AppState, tenant_id: i32, username: &str) -> AppResult<UserRow> {
    let mut conn = state.databases.global().get().await?;
    with_conn!(&mut conn, |c| app_user::table
        .filter(app_user::tenant_id.eq(tenant_id))
        .filter(app_user::username.eq(username))
        .select(UserRow::as_select())
        .first(c)
        .await
        .optional())?
    .ok_or_else(|| AppError::NotFound(format!("no user {username:?} in tenant {tenant_id}")))
}

/// A partial update of a user (absent fields stay).
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// New role.
    pub role: Option<Role>,
    /// Activate or deactivate.
    pub is_active: Option<bool>,
    /// New e-mail.
    pub email: Option<String>,
    /// New permissions (replaces the stored ones).
    pub permissions: Option<Permissions>,
}

/// Applies `changes` to a user of the caller's tenant. Deactivating a user
/// closes their sessions. An admin cannot demote or deactivate themself
/// (that could leave a tenant without an admin).
pub async fn update_user(
    state: &AppState,
    actor: &Principal,
    user_id: i32,
    changes: UserChanges,
    client: &ClientInfo,
) -> AppResult<UserRow> {
    if let Some(email) = &changes.email
        && let Err(m) = validate_email(email)
    {
        return Err(AppError::invalid_fields(vec![FieldError::new("email", m)]));
    }
    let before = get_user(state, actor.tenant_id, user_id).await?;
    let before_permissions = Permissions::from_stored(before.permissions.as_deref());
    let role_changes = changes.role.is_some_and(|r| r != before.role());
    let permissions_change = changes.permissions.as_ref().is_some_and(|p| *p != before_permissions);
    if actor.owner_id == Some(user_id) && (role_changes || permissions_change) {
        return Err(AppError::Forbidden(
            "nobody changes their own role or permissions; ask another admin".into(),
        ));
    }
    if role_changes || permissions_change {
        let role = changes.role.unwrap_or_else(|| before.role());
        let permissions = changes.permissions.clone().unwrap_or(before_permissions);
        actor.require_all(&permissions.effective(role), "the user")?;
    }
    if actor.user_id == Some(user_id)
        && (changes.is_active == Some(false) || changes.role.is_some_and(|r| r != Role::Admin))
    {
        return Err(AppError::invalid_field(
            "user_id",
            "you cannot deactivate or demote yourself; ask another admin",
        ));
    }
    let permissions_json = match &changes.permissions {
        None => before.permissions.clone(),
        Some(p) if *p == Permissions::default() => None,
        Some(p) => Some(serde_json::to_string(p).map_err(AppError::internal)?),
    };
    let role = changes
        .role
        .map(|r| r.as_str().to_owned())
        .unwrap_or_else(|| before.role.clone());
    let is_active = changes.is_active.unwrap_or(before.is_active);
    let email = changes.email.clone().unwrap_or_else(|| before.email.clone());
    let now = crate::clock::now_naive();
    let mut after = before.clone();
    after.role = role.clone();
    after.is_active = is_active;
    after.email = email.clone();
    after.permissions = permissions_json.clone();
    let entry = AuditEntry::new("user.update", Some(actor.tenant_id), actor.user_id, client)
        .entity("user", user_id)
        .values(Some(&UserAuditView::from(&before)), Some(&UserAuditView::from(&after)));
    let tenant_id = actor.tenant_id;
    let mut conn = state.databases.global().get().await?;
    write_tx!(&mut conn, |c| {
        diesel::update(
            app_user::table
                .filter(app_user::tenant_id.eq(tenant_id))
                .filter(app_user::user_id.eq(user_id)),
        )
        .set((
            app_user::role.eq(&role),
            app_user::is_active.eq(is_active),
            app_user::email.eq(&email),
            app_user::permissions.eq(&permissions_json),
            app_user::updated_at.eq(now),
        ))
        .execute(c)
        .await?;
        if !is_active {
            c.close_sessions_of(user_id, None, "deactivated", now).await?;
        }
        c.write_audit(&entry).await?;
        Ok::<_, AppError>(())
    })?;
    get_user(state, actor.tenant_id, user_id).await
}

/// Closes a user's open sessions (all but `keep`).
trait SessionCloser: Send {
    fn close_sessions_of(
        &mut self,
        user_id: i32,
        keep: Option<i64>,
        reason: &'static str,
        now: NaiveDateTime,
    ) -> impl std::future::Future<Output = diesel::QueryResult<usize>> + Send;
}

crate::impl_for_connections!(SessionCloser {
    async fn close_sessions_of(&mut self, user_id: i32, keep: Option<i64>, reason: &'static str, now: NaiveDateTime) -> diesel::QueryResult<usize> {
        diesel::update(
            user_login::table
                .filter(user_login::user_id.eq(user_id))
                .filter(user_login::logout_at.is_null())
                .filter(user_login::login_id.ne(keep.unwrap_or(-1))),
        )
        .set((user_login::logout_at.eq(Some(now)), user_login::logout_reason.eq(Some(reason))))
        .execute(self)
        .await
    }
});

/// Deactivates a user (history keeps referring to them) and closes their sessions.
pub async fn deactivate_user(state: &AppState, actor: &Principal, user_id: i32, client: &ClientInfo) -> AppResult<()> {
    if actor.user_id == Some(user_id) {
        return Err(AppError::invalid_field(
            "user_id",
            "you cannot delete yourself; ask another admin",
        ));
    }
    let before = get_user(state, actor.tenant_id, user_id).await?;
    let now = crate::clock::now_naive();
    let mut after = before.clone();
    after.is_active = false;
    let entry = AuditEntry::new("user.delete", Some(actor.tenant_id), actor.user_id, client)
        .entity("user", user_id)
        .values(Some(&UserAuditView::from(&before)), Some(&UserAuditView::from(&after)));
    let tenant_id = actor.tenant_id;
    let mut conn = state.databases.global().get().await?;
    write_tx!(&mut conn, |c| {
        diesel::update(
            app_user::table
                .filter(app_user::tenant_id.eq(tenant_id))
                .filter(app_user::user_id.eq(user_id)),
        )
        .set((app_user::is_active.eq(false), app_user::updated_at.eq(now)))
        .execute(c)
        .await?;
        c.close_sessions_of(user_id, None, "deactivated", now).await?;
        c.write_audit(&entry).await?;
        Ok::<_, AppError>(())
    })
}

/// Changes a password: users change their own with the old one; holders of
/// `manage_users` change others' without it. Other sessions of that user are
/// closed (a stolen session does not survive a password change).
pub async fn change_password(
    state: &AppState,
    actor: &Principal,
    user_id: i32,
    old_password: Option<&str>,
    new_password: &str,
    client: &ClientInfo,
) -> AppResult<()> {
    let own = actor.user_id == Some(user_id);
    if !own {
        actor.require(crate::auth::rights::Right::ManageUsers)?;
    }
    let user = get_user(state, actor.tenant_id, user_id).await?;
    if !own {
        // Setting someone's password is acting as them: only over users
        // whose rights the actor holds too.
        actor.require_all(&user.principal(None).rights, "taking over this user")?;
    }
    if own {
        let Some(old) = old_password else {
            return Err(AppError::invalid_field(
                "old_password",
                "is required to change your own password",
            ));
        };
        if !state.hash_pool.verify(old, &user.password_hash).await? {
            return Err(AppError::invalid_field(
                "old_password",
                "does not match the current password",
            ));
        }
    }
    if let Err(m) = password::check_policy(new_password) {
        return Err(AppError::invalid_field("new_password", m));
    }
    let hash = state.hash_pool.hash(new_password, state.hashing).await?;
    let now = crate::clock::now_naive();
    let keep = if own { actor.session_id } else { None };
    let entry = AuditEntry::new("user.password", Some(actor.tenant_id), actor.user_id, client).entity("user", user_id);
    let mut conn = state.databases.global().get().await?;
    write_tx!(&mut conn, |c| {
        diesel::update(app_user::table.find(user_id))
            .set((
                app_user::password_hash.eq(&hash),
                app_user::password_changed_at.eq(now),
                app_user::updated_at.eq(now),
                app_user::failed_login_count.eq(0),
                app_user::locked_until.eq(None::<NaiveDateTime>),
            ))
            .execute(c)
            .await?;
        c.close_sessions_of(user_id, keep, "password_changed", now).await?;
        c.write_audit(&entry).await?;
        Ok::<_, AppError>(())
    })
}

/// An API key as stored (its hash never leaves this module).
#[derive(Debug, Clone, Queryable, Selectable, Serialize)]
#[diesel(table_name = api_key)]
pub struct ApiKeyRow {
    /// Id.
    pub api_key_id: i32,
    /// Tenant.
    pub tenant_id: i32,
    /// Label.
    pub name: String,
    /// First characters, to recognise a key.
    pub key_prefix: String,
    /// Role.
    pub role: String,
    /// Own per-minute quota.
    pub rate_limit_per_minute: Option<i32>,
    /// Creator.
    pub created_by: Option<i32>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last use.
    pub last_used_at: Option<NaiveDateTime>,
    /// Revocation.
    pub revoked_at: Option<NaiveDateTime>,
}

/// Prefix of every key, so leaked keys are easy to recognise in scanners.
pub const KEY_PREFIX: &str = "cmt_";

/// Issues an API key; returns its row and the key itself (shown once).
pub async fn create_api_key(
    state: &AppState,
    actor: &Principal,
    name: &str,
    role: Role,
    rate_limit_per_minute: Option<i32>,
    client: &ClientInfo,
) -> AppResult<(ApiKeyRow, String)> {
    let mut errors = Vec::new();
    if name.trim().is_empty() || name.chars().count() > 100 {
        errors.push(FieldError::new("name", "must be 1 to 100 characters"));
    }
    if rate_limit_per_minute.is_some_and(|q| !(1..=1_000_000).contains(&q)) {
        errors.push(FieldError::new(
            "rate_limit_per_minute",
            "must be between 1 and 1000000",
        ));
    }
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    // A key acts on its creator's authority: never beyond the creator's own
    // effective rights (checked again at every use). A key creating a key
    // passes on its own creator.
    let Some(owner_id) = actor.owner_id else {
        return Err(AppError::Forbidden(
            "only a user's authority can back an API key".into(),
        ));
    };
    actor.require_all(&Permissions::default().effective(role), "the key")?;
    let (secret, _) = crate::auth::tokens::new_refresh_token();
    let key = format!("{KEY_PREFIX}{secret}");
    let key_hash = hash_token(&key);
    let prefix: String = key.chars().take(12).collect();
    let now = crate::clock::now_naive();
    let tenant_id = actor.tenant_id;
    let entry = AuditEntry::new("api_key.create", Some(tenant_id), actor.user_id, client).values::<(), _>(
        None,
        Some(&serde_json::json!({"name": name.trim(), "role": role, "key_prefix": prefix, "rate_limit_per_minute": rate_limit_per_minute})),
    );
    let mut conn = state.databases.global().get().await?;
    let id = write_tx!(&mut conn, |c| {
        diesel::insert_into(api_key::table)
            .values((
                api_key::tenant_id.eq(tenant_id),
                api_key::name.eq(name.trim()),
                api_key::key_prefix.eq(&prefix),
                api_key::key_hash.eq(&key_hash),
                api_key::role.eq(role.as_str()),
                api_key::rate_limit_per_minute.eq(rate_limit_per_minute),
                api_key::created_by.eq(Some(owner_id)),
                api_key::created_at.eq(now),
            ))
            .execute(c)
            .await?;
        let id = c.last_insert_id().await?;
        c.write_audit(&entry.clone().entity("api_key", id)).await?;
        Ok::<_, AppError>(id)
    })?;
    let id = i32::try_from(id).map_err(AppError::internal)?;
    let row = get_api_key(state, tenant_id, id).await?;
    Ok((row, key))
}

/// One API key of the tenant.
pub async fn get_api_key(state: &AppState, tenant_id: i32, id: i32) -> AppResult<ApiKeyRow> {
    let mut conn = state.databases.global().get().await?;
    with_conn!(&mut conn, |c| api_key::table
        .filter(api_key::tenant_id.eq(tenant_id))
        .filter(api_key::api_key_id.eq(id))
        .select(ApiKeyRow::as_select())
        .first(c)
        .await
        .optional())?
    .ok_or_else(|| AppError::NotFound(format!("API key {id} not found")))
}

/// The tenant's API keys (revoked ones too, marked).
pub async fn list_api_keys(state: &AppState, tenant_id: i32) -> AppResult<Vec<ApiKeyRow>> {
    let mut conn = state.databases.global().get().await?;
    Ok(with_conn!(&mut conn, |c| api_key::table
        .filter(api_key::tenant_id.eq(tenant_id))
        .order(api_key::api_key_id.asc())
        .select(ApiKeyRow::as_select())
        .load(c)
        .await)?)
}

/// Revokes a key: it stops working at once.
pub async fn revoke_api_key(
    state: &AppState,
    actor: &Principal,
    id: i32,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let before = get_api_key(state, actor.tenant_id, id).await?;
    if before.revoked_at.is_some() {
        return Ok(());
    }
    let tenant_id = actor.tenant_id;
    let entry = AuditEntry::new("api_key.revoke", Some(tenant_id), actor.user_id, client)
        .entity("api_key", id)
        .values::<_, ()>(Some(&before), None);
    let mut conn = state.databases.global().get().await?;
    write_tx!(&mut conn, |c| {
        diesel::update(
            api_key::table
                .filter(api_key::tenant_id.eq(tenant_id))
                .filter(api_key::api_key_id.eq(id)),
        )
        .set(api_key::revoked_at.eq(Some(now.naive_utc())))
        .execute(c)
        .await?;
        c.write_audit(&entry).await?;
        Ok::<_, AppError>(())
    })
}
