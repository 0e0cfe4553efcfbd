//! Tenant lifecycle: the global `tenant` row plus the tenant's own database
//! (created and migrated together; a failure undoes both).

use chrono::NaiveDateTime;
use chrono_tz::Tz;
use diesel::{ExpressionMethods, Insertable, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::RunQueryDsl;

use crate::clock::now_naive;
use crate::db::Databases;
use crate::db::dialect::DialectConn;
use crate::db::schema::global::tenant;
use crate::error::{AppError, AppResult};
use crate::{with_conn, write_tx};

/// A tenant as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = tenant)]
pub struct Tenant {
    /// Id.
    pub tenant_id: i32,
    /// Company (plant) name.
    pub company_name: String,
    /// IANA time zone of the plant.
    pub timezone: String,
    /// Inactive tenants cannot log in.
    pub is_active: bool,
    /// Free-form JSON settings.
    pub config_tenant: Option<String>,
    /// Customer since.
    pub asociated_since: NaiveDateTime,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl Tenant {
    /// The tenant's time zone (stored values are validated on write).
    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(Tz::UTC)
    }

    /// The tenant's language for names and labels: `"language"` of its
    /// settings (`config_tenant`) when that is `es` or `en`, else `es`, the
    /// language widgets and filters use when a request names none.
    pub fn language(&self) -> &'static str {
        let configured = self
            .config_tenant
            .as_deref()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .and_then(|settings| {
                settings
                    .get("language")
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_ascii_lowercase)
            });
        match configured.as_deref() {
            Some(lang) if lang.starts_with("en") => "en",
            _ => "es",
        }
    }
}

/// What a client needs to know about its tenant (`GET /api/v1/tenant`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantProfile {
    /// Id.
    pub tenant_id: i32,
    /// Company (plant) name.
    pub name: String,
    /// IANA time zone: local dates and shifts are read in it.
    pub timezone: String,
    /// Default language of names and labels (`es` or `en`).
    pub language: &'static str,
    /// Keys of the enabled dashboard filters (the fields of
    /// `POST /dashboard/run {filters}`), in resolution order.
    pub filters: Vec<&'static str>,
    /// The planned-stops rule (semantics §10).
    pub planned_stops_reduce_planned_time: bool,
}

/// The keys of the filters a tenant has enabled (active rows of a registered
/// type), in the registry's order, each once.
pub fn enabled_filter_keys(snapshot: &crate::plant::cache::PlantSnapshot) -> Vec<&'static str> {
    crate::dashboard::filters::registry()
        .iter()
        .filter(|kind| {
            snapshot
                .filters
                .values()
                .any(|row| row.filter_status && row.class_name == kind.class_name())
        })
        .map(|kind| kind.key())
        .collect()
}

/// The profile of `tenant_id`, from its global row and its metadata snapshot.
pub async fn profile(
    databases: &Databases,
    cache: &crate::plant::cache::MetadataCache,
    tenant_id: i32,
) -> AppResult<TenantProfile> {
    let tenant = find(databases, tenant_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("tenant {tenant_id} does not exist")))?;
    let snapshot = cache.get(databases, tenant_id).await?;
    Ok(TenantProfile {
        tenant_id,
        language: tenant.language(),
        name: tenant.company_name,
        timezone: tenant.timezone,
        filters: enabled_filter_keys(&snapshot),
        planned_stops_reduce_planned_time: snapshot.planned_stops_reduce_planned_time,
    })
}

#[derive(Insertable)]
#[diesel(table_name = tenant)]
struct NewTenant<'a> {
    company_name: &'a str,
    timezone: &'a str,
    is_active: bool,
    asociated_since: NaiveDateTime,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// Validates a tenant name and IANA zone, returning the canonical zone name.
pub fn validate(name: &str, timezone: &str) -> AppResult<String> {
    let mut errors = Vec::new();
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 {
        errors.push(crate::error::FieldError::new("name", "must be 1 to 200 characters"));
    }
    let zone = timezone.parse::<Tz>().map_err(|_| ());
    if zone.is_err() {
        errors.push(crate::error::FieldError::new(
            "timezone",
            format!("{timezone:?} is not an IANA time zone (e.g. America/Santiago, Europe/Madrid, UTC)"),
        ));
    }
    match zone {
        Ok(zone) if errors.is_empty() => Ok(zone.name().to_owned()),
        _ => Err(AppError::invalid_fields(errors)),
    }
}

/// Creates a tenant and its database; returns the tenant id.
pub async fn create(databases: &Databases, name: &str, timezone: &str) -> AppResult<i32> {
    let zone = validate(name, timezone)?;
    let now = now_naive();
    let row = NewTenant {
        company_name: name.trim(),
        timezone: &zone,
        is_active: true,
        asociated_since: now,
        created_at: now,
        updated_at: now,
    };
    let mut conn = databases.global().get().await?;
    let tenant_id = write_tx!(&mut conn, |c| {
        diesel::insert_into(tenant::table).values(&row).execute(c).await?;
        Ok::<_, AppError>(c.last_insert_id().await?)
    })?;
    let tenant_id = i32::try_from(tenant_id).map_err(AppError::internal)?;

    if let Err(error) = databases.prepare_tenant(tenant_id).await {
        // Nothing half-made stays behind: remove the database and the row.
        tracing::error!(tenant_id, %error, "tenant database creation failed; rolling back");
        if let Err(e) = databases.drop_tenant_database(tenant_id).await {
            tracing::error!(tenant_id, error = %e, "could not remove the tenant database");
        }
        let removed = with_conn!(&mut conn, |c| diesel::delete(tenant::table.find(tenant_id))
            .execute(c)
            .await);
        if let Err(e) = removed {
            tracing::error!(tenant_id, error = %e, "could not remove the tenant row");
        }
        return Err(error);
    }
    Ok(tenant_id)
}

/// The tenant with this id, if any.
pub async fn find(databases: &Databases, tenant_id: i32) -> AppResult<Option<Tenant>> {
    let mut conn = databases.global().get().await?;
    let found = with_conn!(&mut conn, |c| tenant::table
        .find(tenant_id)
        .select(Tenant::as_select())
        .first(c)
        .await
        .optional())?;
    Ok(found)
}

/// Ids of every tenant (for migrations at start).
pub async fn all_ids(databases: &Databases) -> AppResult<Vec<i32>> {
    let mut conn = databases.global().get().await?;
    let ids = with_conn!(&mut conn, |c| tenant::table
        .select(tenant::tenant_id)
        .order(tenant::tenant_id.asc())
        .load::<i32>(c)
        .await)?;
    Ok(ids)
}

/// How many tenants exist (the demo seeds only an empty installation).
pub async fn count(databases: &Databases) -> AppResult<i64> {
    let mut conn = databases.global().get().await?;
    let n = with_conn!(&mut conn, |c| tenant::table.count().get_result::<i64>(c).await)?;
    Ok(n)
}

/// Applies pending migrations to every tenant database.
pub async fn migrate_all(databases: &Databases) -> AppResult<usize> {
    let ids = all_ids(databases).await?;
    for id in &ids {
        databases.prepare_tenant(*id).await?;
    }
    Ok(ids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_time_zones_and_empty_names_are_named() {
        let Err(AppError::Validation { errors, .. }) = validate(" ", "Mars/Olympus") else {
            panic!("expected a validation error");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "timezone"]);
    }

    #[test]
    fn valid_zone_is_canonical() {
        assert_eq!(
            validate("Plant", "America/Santiago").ok().as_deref(),
            Some("America/Santiago")
        );
    }
}
