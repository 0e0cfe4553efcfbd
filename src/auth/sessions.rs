//! Sessions: login, refresh-token rotation with reuse detection, logout, and
//! the per-request check that an access token's session is still alive.
//!
//! Every login, logout, refresh and failure writes an audit row in the same
//! transaction as the change.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::{
    ExpressionMethods, Insertable, JoinOnDsl, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper,
};
use diesel_async::RunQueryDsl;

use crate::app::AppState;
use crate::audit::{AuditConn, AuditEntry, ClientInfo};
use crate::auth::principal::Principal;
use crate::auth::rights::Permissions;
use crate::auth::roles::Role;
use crate::auth::tokens::{TokenError, hash_token, new_refresh_token};
use crate::db::dialect::DialectConn;
use crate::db::schema::global::{api_key, app_user, refresh_token, tenant, user_login};
use crate::error::{AppError, AppResult};
use crate::{with_conn, write_tx};

/// The one answer to any failed login, whatever the reason (unknown user,
/// wrong password, locked or inactive account), so none can be told apart.
pub const LOGIN_FAILED: &str = "invalid username or password";

/// A user as stored. The password hash never leaves the auth module in a response.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = app_user)]
pub struct UserRow {
    /// Id.
    pub user_id: i32,
    /// Tenant.
    pub tenant_id: i32,
    /// Login name.
    pub username: String,
    /// E-mail.
    pub email: String,
    /// Argon2id PHC hash.
    pub password_hash: String,
    /// Role text.
    pub role: String,
    /// Permissions JSON.
    pub permissions: Option<String>,
    /// Active.
    pub is_active: bool,
    /// Consecutive failed logins.
    pub failed_login_count: i32,
    /// Locked until this instant.
    pub locked_until: Option<NaiveDateTime>,
    /// Last successful login.
    pub last_login_at: Option<NaiveDateTime>,
    /// Last password change.
    pub password_changed_at: NaiveDateTime,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl UserRow {
    /// The stored role (an unknown one reads as viewer, the least privileged).
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Viewer)
    }

    /// The principal this user acts as in session `session_id`.
    pub fn principal(&self, session_id: Option<i64>) -> Principal {
        let role = self.role();
        Principal {
            tenant_id: self.tenant_id,
            user_id: Some(self.user_id),
            username: Some(self.username.clone()),
            api_key_id: None,
            session_id,
            owner_id: Some(self.user_id),
            role,
            rights: Permissions::from_stored(self.permissions.as_deref()).effective(role),
            rate_limit_per_minute: None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = user_login)]
struct SessionRow {
    login_id: i64,
    user_id: i32,
    last_seen_at: NaiveDateTime,
    logout_at: Option<NaiveDateTime>,
    expires_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = user_login)]
struct NewSession<'a> {
    user_id: i32,
    tenant_id: i32,
    login_at: NaiveDateTime,
    last_seen_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    ip: Option<String>,
    user_agent: Option<&'a str>,
}

/// Tokens handed to a client after login or refresh.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    /// JWT access token.
    pub access_token: String,
    /// Opaque single-use refresh token.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The user.
    pub user: UserRow,
}

fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

fn seconds(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// Verifies a login; on success opens a session (closing the oldest beyond
/// the per-user cap) and issues tokens. Every outcome is audited.
pub async fn login(
    state: &AppState,
    username: &str,
    tenant_id: Option<i32>,
    password_text: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> AppResult<IssuedTokens> {
    let settings = &state.config.auth;
    let mut conn = state.databases.global().get().await?;
    // Usernames are unique per tenant: without a tenant, a name held in two
    // tenants matches no one (and fails exactly like an unknown name).
    let found: Vec<(UserRow, bool)> = with_conn!(&mut conn, |c| {
        let mut query = app_user::table
            .inner_join(tenant::table.on(tenant::tenant_id.eq(app_user::tenant_id)))
            .filter(app_user::username.eq(username))
            .into_boxed();
        if let Some(tenant_id) = tenant_id {
            query = query.filter(app_user::tenant_id.eq(tenant_id));
        }
        query
            .select((UserRow::as_select(), tenant::is_active))
            .limit(2)
            .load(c)
            .await
    })?;
    let matches = found.len();
    let single = if matches == 1 { found.into_iter().next() } else { None };

    let Some((user, tenant_active)) = single else {
        // Same work as a real check, so timing does not reveal unknown names.
        let _ = state.hash_pool.verify(password_text, &state.dummy_hash).await?;
        let reason = if matches == 0 {
            "unknown_user"
        } else {
            "ambiguous_username"
        };
        // No tenant on the row: the tenant_id was the caller's claim, and an
        // unauthenticated caller must not write into a tenant's audit trail.
        let entry = AuditEntry::new("login_failed", None, None, client).values::<(), _>(
            None,
            Some(&serde_json::json!({"username": username, "tenant_id": tenant_id, "reason": reason})),
        );
        write_tx!(&mut conn, |c| Ok::<_, AppError>(c.write_audit(&entry).await?))?;
        return Err(AppError::Unauthorized(LOGIN_FAILED.into()));
    };

    let locked = user.locked_until.is_some_and(|until| until > naive(now));
    let usable = user.is_active && tenant_active && !locked;
    let password_ok = state.hash_pool.verify(password_text, &user.password_hash).await?;

    if !(usable && password_ok) {
        let reason = if locked {
            "locked"
        } else if !user.is_active || !tenant_active {
            "inactive"
        } else {
            "wrong_password"
        };
        let failures = if reason == "wrong_password" {
            user.failed_login_count + 1
        } else {
            user.failed_login_count
        };
        let lock_now = reason == "wrong_password" && failures >= settings.lockout_threshold;
        let lock_until = naive(now + seconds(settings.lockout_secs));
        let failed = AuditEntry::new("login_failed", Some(user.tenant_id), Some(user.user_id), client)
            .entity("user", user.user_id)
            .values::<(), _>(
                None,
                Some(&serde_json::json!({"reason": reason, "failed_login_count": failures})),
            );
        let lockout = AuditEntry::new("account_locked", Some(user.tenant_id), Some(user.user_id), client)
            .entity("user", user.user_id)
            .values::<(), _>(
                None,
                Some(&serde_json::json!({"locked_until": lock_until, "after_failures": failures})),
            );
        let user_id = user.user_id;
        write_tx!(&mut conn, |c| {
            if reason == "wrong_password" {
                diesel::update(app_user::table.find(user_id))
                    .set((
                        app_user::failed_login_count.eq(if lock_now { 0 } else { failures }),
                        app_user::locked_until.eq(if lock_now { Some(lock_until) } else { None }),
                    ))
                    .execute(c)
                    .await?;
            }
            c.write_audit(&failed).await?;
            if lock_now {
                c.write_audit(&lockout).await?;
            }
            Ok::<_, AppError>(())
        })?;
        if lock_now {
            tracing::warn!(user_id, "account locked after repeated failed logins");
        }
        return Err(AppError::Unauthorized(LOGIN_FAILED.into()));
    }

    let (refresh, refresh_hash) = new_refresh_token();
    let new_session = NewSession {
        user_id: user.user_id,
        tenant_id: user.tenant_id,
        login_at: naive(now),
        last_seen_at: naive(now),
        expires_at: naive(now + seconds(settings.session_lifetime_secs)),
        ip: client.ip.map(|ip| ip.to_string()),
        user_agent: client.user_agent.as_deref(),
    };
    let max_sessions = settings.max_sessions_per_user;
    let (user_id, tenant_id) = (user.user_id, user.tenant_id);
    let audit_login = AuditEntry::new("login", Some(tenant_id), Some(user_id), client).entity("user", user_id);
    let session_id = write_tx!(&mut conn, |c| {
        diesel::update(app_user::table.find(user_id))
            .set((
                app_user::failed_login_count.eq(0),
                app_user::locked_until.eq(None::<NaiveDateTime>),
                app_user::last_login_at.eq(Some(naive(now))),
            ))
            .execute(c)
            .await?;
        let open: Vec<i64> = user_login::table
            .filter(user_login::user_id.eq(user_id))
            .filter(user_login::logout_at.is_null())
            .filter(user_login::expires_at.gt(naive(now)))
            .order(user_login::login_at.asc())
            .select(user_login::login_id)
            .load(c)
            .await?;
        let excess = (open.len() as i64 + 1 - max_sessions).max(0) as usize;
        let oldest: Vec<i64> = open.into_iter().take(excess).collect();
        if !oldest.is_empty() {
            diesel::update(user_login::table.filter(user_login::login_id.eq_any(&oldest)))
                .set((
                    user_login::logout_at.eq(Some(naive(now))),
                    user_login::logout_reason.eq(Some("session_limit")),
                ))
                .execute(c)
                .await?;
        }
        diesel::insert_into(user_login::table)
            .values(&new_session)
            .execute(c)
            .await?;
        let session_id = c.last_insert_id().await?;
        diesel::insert_into(refresh_token::table)
            .values((
                refresh_token::token_hash.eq(&refresh_hash),
                refresh_token::login_id.eq(session_id),
                refresh_token::issued_at.eq(naive(now)),
            ))
            .execute(c)
            .await?;
        c.write_audit(&audit_login.clone().values::<(), _>(
            None,
            Some(&serde_json::json!({"session_id": session_id, "closed_sessions": oldest})),
        ))
        .await?;
        Ok::<_, AppError>(session_id)
    })?;
    let (access, _) = state
        .signer
        .issue(user.user_id, user.tenant_id, session_id, &user.role, now)
        .map_err(AppError::internal)?;
    Ok(IssuedTokens {
        access_token: access,
        refresh_token: refresh,
        expires_in: state.signer.ttl_secs,
        user,
    })
}

enum RefreshOutcome {
    Rotated { user: Box<UserRow>, session_id: i64 },
    Reused,
    Invalid,
}

/// Exchanges a refresh token for a new pair. Each refresh token works once;
/// presenting a used one revokes its whole session.
pub async fn refresh(
    state: &AppState,
    token: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> AppResult<IssuedTokens> {
    let settings = &state.config.auth;
    let presented = hash_token(token);
    let (next, next_hash) = new_refresh_token();
    let idle = seconds(settings.session_idle_timeout_secs);
    let client = client.clone();
    let mut conn = state.databases.global().get().await?;
    let outcome = write_tx!(&mut conn, |c| {
        let stored: Option<(i64, Option<NaiveDateTime>)> = refresh_token::table
            .find(&presented)
            .select((refresh_token::login_id, refresh_token::used_at))
            .first(c)
            .await
            .optional()?;
        let Some((login_id, used_at)) = stored else {
            return Ok::<_, AppError>(RefreshOutcome::Invalid);
        };
        let (session, user, tenant_active): (SessionRow, UserRow, bool) = user_login::table
            .inner_join(app_user::table.on(app_user::user_id.eq(user_login::user_id)))
            .inner_join(tenant::table.on(tenant::tenant_id.eq(app_user::tenant_id)))
            .filter(user_login::login_id.eq(login_id))
            .select((SessionRow::as_select(), UserRow::as_select(), tenant::is_active))
            .first(c)
            .await?;
        let alive = session.logout_at.is_none()
            && session.expires_at > naive(now)
            && session.last_seen_at + idle > naive(now)
            && user.is_active
            && tenant_active;
        if used_at.is_none() && !alive {
            let entry = AuditEntry::new("refresh_failed", Some(user.tenant_id), Some(user.user_id), &client)
                .entity("session", login_id);
            c.write_audit(&entry).await?;
            return Ok(RefreshOutcome::Invalid);
        }
        // The claim: one conditional update whose affected-row count decides.
        // The read above is a plain snapshot read, so two concurrent refreshes
        // can both see `used_at` empty (MySQL's REPEATABLE READ); the update is
        // a locking read of the current row, so exactly one of them changes it
        // and every other one, blocked until that one commits, changes nothing
        // and is treated as reuse.
        let claimed = if used_at.is_some() {
            0
        } else {
            diesel::update(
                refresh_token::table
                    .find(&presented)
                    .filter(refresh_token::used_at.is_null()),
            )
            .set(refresh_token::used_at.eq(Some(naive(now))))
            .execute(c)
            .await?
        };
        if claimed != 1 {
            diesel::update(user_login::table.find(login_id).filter(user_login::logout_at.is_null()))
                .set((
                    user_login::logout_at.eq(Some(naive(now))),
                    user_login::logout_reason.eq(Some("refresh_reuse")),
                ))
                .execute(c)
                .await?;
            let entry = AuditEntry::new(
                "refresh_reuse_detected",
                Some(user.tenant_id),
                Some(user.user_id),
                &client,
            )
            .entity("session", login_id);
            c.write_audit(&entry).await?;
            return Ok(RefreshOutcome::Reused);
        }
        diesel::insert_into(refresh_token::table)
            .values((
                refresh_token::token_hash.eq(&next_hash),
                refresh_token::login_id.eq(login_id),
                refresh_token::issued_at.eq(naive(now)),
            ))
            .execute(c)
            .await?;
        diesel::update(user_login::table.find(login_id))
            .set(user_login::last_seen_at.eq(naive(now)))
            .execute(c)
            .await?;
        let entry =
            AuditEntry::new("refresh", Some(user.tenant_id), Some(user.user_id), &client).entity("session", login_id);
        c.write_audit(&entry).await?;
        Ok(RefreshOutcome::Rotated {
            user: Box::new(user),
            session_id: login_id,
        })
    })?;
    match outcome {
        RefreshOutcome::Rotated { user, session_id } => {
            let (access, _) = state
                .signer
                .issue(user.user_id, user.tenant_id, session_id, &user.role, now)
                .map_err(AppError::internal)?;
            Ok(IssuedTokens {
                access_token: access,
                refresh_token: next,
                expires_in: state.signer.ttl_secs,
                user: *user,
            })
        }
        RefreshOutcome::Reused => Err(AppError::Unauthorized(
            "this refresh token was already used; the session has been revoked, log in again".into(),
        )),
        RefreshOutcome::Invalid => Err(AppError::Unauthorized("invalid or expired refresh token".into())),
    }
}

/// Closes the caller's session: its access and refresh tokens stop working at once.
pub async fn logout(state: &AppState, principal: &Principal, client: &ClientInfo, now: DateTime<Utc>) -> AppResult<()> {
    let Some(session_id) = principal.session_id else {
        return Err(AppError::BadRequest(
            "API keys have no session to log out of; revoke the key instead".into(),
        ));
    };
    let entry =
        AuditEntry::new("logout", Some(principal.tenant_id), principal.user_id, client).entity("session", session_id);
    let mut conn = state.databases.global().get().await?;
    write_tx!(&mut conn, |c| {
        diesel::update(
            user_login::table
                .find(session_id)
                .filter(user_login::logout_at.is_null()),
        )
        .set((
            user_login::logout_at.eq(Some(naive(now))),
            user_login::logout_reason.eq(Some("logout")),
        ))
        .execute(c)
        .await?;
        c.write_audit(&entry).await?;
        Ok::<_, AppError>(())
    })
}

/// Checks an access token and its session; returns the caller. A closed,
/// expired or idle session is refused at once (and an idle one is closed).
pub async fn authenticate_bearer(state: &AppState, token: &str, now: DateTime<Utc>) -> AppResult<Principal> {
    let claims = state.signer.verify(token, now).map_err(|e| match e {
        TokenError::Expired => AppError::Unauthorized("the access token has expired; refresh it".into()),
        TokenError::Invalid => AppError::Unauthorized("invalid access token".into()),
    })?;
    let mut conn = state.databases.global().get().await?;
    let found: Option<(SessionRow, UserRow, bool)> = with_conn!(&mut conn, |c| user_login::table
        .inner_join(app_user::table.on(app_user::user_id.eq(user_login::user_id)))
        .inner_join(tenant::table.on(tenant::tenant_id.eq(app_user::tenant_id)))
        .filter(user_login::login_id.eq(claims.sid))
        .select((SessionRow::as_select(), UserRow::as_select(), tenant::is_active))
        .first(c)
        .await
        .optional())?;
    let Some((session, user, tenant_active)) = found else {
        return Err(AppError::Unauthorized("invalid access token".into()));
    };
    if session.user_id != claims.sub || user.tenant_id != claims.tid {
        return Err(AppError::Unauthorized("invalid access token".into()));
    }
    if session.logout_at.is_some() || session.expires_at <= naive(now) {
        return Err(AppError::Unauthorized("the session has ended; log in again".into()));
    }
    if session.last_seen_at + seconds(state.config.auth.session_idle_timeout_secs) <= naive(now) {
        let sid = session.login_id;
        with_conn!(&mut conn, |c| diesel::update(
            user_login::table.find(sid).filter(user_login::logout_at.is_null())
        )
        .set((
            user_login::logout_at.eq(Some(naive(now))),
            user_login::logout_reason.eq(Some("idle_timeout"))
        ))
        .execute(c)
        .await)?;
        return Err(AppError::Unauthorized(
            "the session expired after inactivity; log in again".into(),
        ));
    }
    if !user.is_active || !tenant_active {
        return Err(AppError::Unauthorized("the account is inactive".into()));
    }
    // Touch at most every 15 s: idle detection needs no finer grain.
    if naive(now) - session.last_seen_at > seconds(15) {
        let sid = session.login_id;
        with_conn!(&mut conn, |c| diesel::update(user_login::table.find(sid))
            .set(user_login::last_seen_at.eq(naive(now)))
            .execute(c)
            .await)?;
    }
    Ok(user.principal(Some(session.login_id)))
}

/// Checks an API key (`X-API-Key`); returns the machine caller. The key's
/// rights are those of its role *and* of its creator as the creator stands
/// now (role, grants and denies): a creator demoted or denied later takes the
/// key down with them, and a key whose creator is gone or inactive is refused.
pub async fn authenticate_api_key(state: &AppState, key: &str, now: DateTime<Utc>) -> AppResult<Principal> {
    let hash = hash_token(key.trim());
    let mut conn = state.databases.global().get().await?;
    type KeyRow = (i32, i32, String, Option<i32>, Option<NaiveDateTime>, bool, Option<i32>);
    let found: Option<KeyRow> = with_conn!(&mut conn, |c| api_key::table
        .inner_join(tenant::table.on(tenant::tenant_id.eq(api_key::tenant_id)))
        .filter(api_key::key_hash.eq(&hash))
        .filter(api_key::revoked_at.is_null())
        .select((
            api_key::api_key_id,
            api_key::tenant_id,
            api_key::role,
            api_key::rate_limit_per_minute,
            api_key::last_used_at,
            tenant::is_active,
            api_key::created_by,
        ))
        .first(c)
        .await
        .optional())?;
    let refused = || AppError::Unauthorized("invalid API key".into());
    let Some((key_id, tenant_id, role, quota, last_used, tenant_active, created_by)) = found else {
        return Err(refused());
    };
    if !tenant_active {
        return Err(refused());
    }
    // No creator on record: no authority to bound the key by, so no key.
    let Some(creator_id) = created_by else {
        return Err(refused());
    };
    let creator: Option<UserRow> = with_conn!(&mut conn, |c| app_user::table
        .filter(app_user::user_id.eq(creator_id))
        .filter(app_user::tenant_id.eq(tenant_id))
        .select(UserRow::as_select())
        .first(c)
        .await
        .optional())?;
    let Some(creator) = creator.filter(|u| u.is_active) else {
        return Err(refused());
    };
    if last_used.is_none_or(|t| naive(now) - t > seconds(60)) {
        with_conn!(&mut conn, |c| diesel::update(api_key::table.find(key_id))
            .set(api_key::last_used_at.eq(Some(naive(now))))
            .execute(c)
            .await)?;
    }
    let role: Role = role.parse().unwrap_or(Role::Viewer);
    let creator_rights = creator.principal(None).rights;
    Ok(Principal {
        tenant_id,
        user_id: None,
        username: None,
        api_key_id: Some(key_id),
        session_id: None,
        owner_id: Some(creator_id),
        role,
        rights: Permissions::default()
            .effective(role)
            .intersection(&creator_rights)
            .copied()
            .collect(),
        rate_limit_per_minute: quota
            .and_then(|q| u32::try_from(q).ok())
            .and_then(std::num::NonZeroU32::new),
    })
}
