//! Users of a tenant: creation with validation and the password policy.

use chrono::NaiveDateTime;
use diesel::Insertable;
use diesel_async::RunQueryDsl;

use crate::audit::{AuditConn, AuditEntry};
use crate::auth::password::{self, HashingParams};
use crate::auth::rights::Permissions;
use crate::auth::roles::Role;
use crate::clock::now_naive;
use crate::db::Databases;
use crate::db::dialect::DialectConn;
use crate::db::schema::global::app_user;
use crate::error::{AppError, AppResult, FieldError};
use crate::{tenants, write_tx};

/// What is needed to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Tenant the user belongs to.
    pub tenant_id: i32,
    /// Login name, unique within the tenant (other tenants may use it too).
    pub username: String,
    /// E-mail address.
    pub email: String,
    /// Role within the tenant.
    pub role: Role,
    /// Clear-text password (checked against the policy, then hashed).
    pub password: String,
}

#[derive(Insertable)]
#[diesel(table_name = app_user)]
struct NewUserRow<'a> {
    tenant_id: i32,
    username: &'a str,
    email: &'a str,
    password_hash: &'a str,
    role: &'a str,
    permissions: Option<&'a str>,
    is_active: bool,
    failed_login_count: i32,
    password_changed_at: NaiveDateTime,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// Usernames: 3-100 characters of letters, digits and `._@-`.
pub fn validate_username(username: &str) -> Result<(), String> {
    let ok_len = (3..=100).contains(&username.chars().count());
    let ok_chars = username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err("must be 3 to 100 characters: letters, digits, '.', '_', '@' or '-'".into())
    }
}

/// A plausible address: one `@`, non-empty local part, a dotted domain, no spaces.
pub fn validate_email(email: &str) -> Result<(), String> {
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if valid {
        Ok(())
    } else {
        Err("is not a valid e-mail address".into())
    }
}

/// Creates a user after validating every field; returns the user id.
/// A username taken in the same tenant is a 409 (other tenants' names are
/// neither checked nor revealed); an unknown tenant a 404.
pub async fn create(databases: &Databases, params: HashingParams, new: &NewUser) -> AppResult<i32> {
    create_audited(databases, params, None, new, None, None).await
}

/// [`create`], writing `audit` (with the new user's id) in the same transaction.
/// Requests pass their `pool`, so the hash counts against the bounded pool.
pub async fn create_audited(
    databases: &Databases,
    params: HashingParams,
    pool: Option<&password::HashPool>,
    new: &NewUser,
    permissions: Option<&Permissions>,
    audit: Option<AuditEntry>,
) -> AppResult<i32> {
    let mut errors = Vec::new();
    if let Err(m) = validate_username(&new.username) {
        errors.push(FieldError::new("username", m));
    }
    if let Err(m) = validate_email(&new.email) {
        errors.push(FieldError::new("email", m));
    }
    if let Err(m) = password::check_policy(&new.password) {
        errors.push(FieldError::new("password", m));
    }
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    if tenants::find(databases, new.tenant_id).await?.is_none() {
        return Err(AppError::NotFound(format!("tenant {} does not exist", new.tenant_id)));
    }
    let hash = match pool {
        Some(pool) => pool.hash(&new.password, params).await?,
        None => password::hash(&new.password, params).await?,
    };
    let permissions_json = permissions
        .filter(|p| **p != Permissions::default())
        .map(serde_json::to_string)
        .transpose()
        .map_err(AppError::internal)?;
    let now = now_naive();
    let row = NewUserRow {
        tenant_id: new.tenant_id,
        username: &new.username,
        email: &new.email,
        password_hash: &hash,
        role: new.role.as_str(),
        permissions: permissions_json.as_deref(),
        is_active: true,
        failed_login_count: 0,
        password_changed_at: now,
        created_at: now,
        updated_at: now,
    };
    let mut conn = databases.global().get().await?;
    let result = write_tx!(&mut conn, |c| {
        diesel::insert_into(app_user::table).values(&row).execute(c).await?;
        let id = c.last_insert_id().await?;
        if let Some(entry) = &audit {
            c.write_audit(&entry.clone().entity("user", id)).await?;
        }
        Ok::<_, AppError>(id)
    });
    match result {
        Ok(id) => i32::try_from(id).map_err(AppError::internal),
        Err(AppError::Conflict(_)) => Err(AppError::Conflict(format!(
            "username {:?} is already taken in this tenant",
            new.username
        ))),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_emails_are_checked() {
        assert!(validate_username("ana.perez").is_ok());
        assert!(validate_username("x").is_err());
        assert!(validate_username("robert'); DROP TABLE").is_err());
        assert!(validate_email("ana@plant.cl").is_ok());
        for bad in [
            "ana",
            "@plant.cl",
            "ana@plant",
            "ana@@plant.cl",
            "a na@plant.cl",
            "ana@.cl",
        ] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }
}
