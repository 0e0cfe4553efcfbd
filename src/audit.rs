//! The audit log: every mutating request and every authentication event.
//! Entries are written inside the same transaction as the change they
//! describe, so a change whose audit row cannot be written is not committed.

use std::net::IpAddr;

use chrono::NaiveDateTime;
use diesel::Insertable;
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::clock::now_naive;
use crate::db::schema::global::audit_log;

/// Who made a request and from where: copied into audit rows.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ClientInfo {
    /// Client IP (after trusted-proxy resolution).
    pub ip: Option<IpAddr>,
    /// `User-Agent`, truncated.
    pub user_agent: Option<String>,
    /// `X-Request-Id` of the request.
    pub request_id: Option<String>,
}

impl ClientInfo {
    /// A client with no network details (CLI, background jobs).
    pub fn internal() -> ClientInfo {
        ClientInfo {
            ip: None,
            user_agent: None,
            request_id: None,
        }
    }
}

/// One audit row to write.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// Tenant concerned.
    pub tenant_id: Option<i32>,
    /// Acting user, if known.
    pub user_id: Option<i32>,
    /// What happened, e.g. `login`, `login_failed`, `user.update`.
    pub action: String,
    /// Kind of entity changed (`user`, `api_key`, `line`, ...).
    pub entity: Option<String>,
    /// Its id.
    pub entity_id: Option<String>,
    /// JSON of the values before an update or delete.
    pub old_values: Option<String>,
    /// JSON of the values after a create or update.
    pub new_values: Option<String>,
    /// Request details.
    pub client: ClientInfo,
    /// When.
    pub created_at: NaiveDateTime,
    /// Where a forwarded entry came from (`tenant:<id>:outbox:<n>`), so
    /// forwarding twice never writes it twice.
    pub source: Option<String>,
}

impl AuditEntry {
    /// An entry for `action` by `user_id` in `tenant_id`, now.
    pub fn new(action: &str, tenant_id: Option<i32>, user_id: Option<i32>, client: &ClientInfo) -> AuditEntry {
        AuditEntry {
            tenant_id,
            user_id,
            action: action.to_owned(),
            entity: None,
            entity_id: None,
            old_values: None,
            new_values: None,
            client: client.clone(),
            created_at: now_naive(),
            source: None,
        }
    }

    /// Names the entity concerned.
    pub fn entity(mut self, entity: &str, id: impl ToString) -> AuditEntry {
        self.entity = Some(entity.to_owned());
        self.entity_id = Some(id.to_string());
        self
    }

    /// Records values before and after (serialised as JSON; secrets must not be passed).
    pub fn values<T: Serialize, U: Serialize>(mut self, old: Option<&T>, new: Option<&U>) -> AuditEntry {
        self.old_values = old.and_then(|v| serde_json::to_string(v).ok());
        self.new_values = new.and_then(|v| serde_json::to_string(v).ok());
        self
    }
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct AuditRow<'a> {
    tenant_id: Option<i32>,
    user_id: Option<i32>,
    action: &'a str,
    entity: Option<&'a str>,
    entity_id: Option<&'a str>,
    old_values: Option<&'a str>,
    new_values: Option<&'a str>,
    ip: Option<String>,
    user_agent: Option<&'a str>,
    request_id: Option<&'a str>,
    source: Option<&'a str>,
    created_at: NaiveDateTime,
}

/// Writes audit rows on a concrete connection, inside the caller's transaction.
pub trait AuditConn: Send {
    /// Inserts `entry`.
    fn write_audit(&mut self, entry: &AuditEntry) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;
}

crate::impl_for_connections!(AuditConn {
    async fn write_audit(&mut self, entry: &AuditEntry) -> diesel::QueryResult<()> {
        let row = AuditRow {
            tenant_id: entry.tenant_id,
            user_id: entry.user_id,
            action: &entry.action,
            entity: entry.entity.as_deref(),
            entity_id: entry.entity_id.as_deref(),
            old_values: entry.old_values.as_deref(),
            new_values: entry.new_values.as_deref(),
            ip: entry.client.ip.map(|ip| ip.to_string()),
            user_agent: entry.client.user_agent.as_deref(),
            request_id: entry.client.request_id.as_deref(),
            source: entry.source.as_deref(),
            created_at: entry.created_at,
        };
        diesel::insert_into(audit_log::table).values(&row).execute(self).await.map(|_| ())
    }
});

/// An audit row as read back.
#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable, Serialize)]
#[diesel(table_name = audit_log)]
pub struct AuditRecord {
    /// Id (newest rows have the highest ids).
    pub audit_id: i64,
    /// Tenant.
    pub tenant_id: Option<i32>,
    /// Acting user.
    pub user_id: Option<i32>,
    /// What happened.
    pub action: String,
    /// Entity kind.
    pub entity: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// JSON before.
    pub old_values: Option<String>,
    /// JSON after.
    pub new_values: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// When.
    pub created_at: NaiveDateTime,
}

/// Filters of an audit query (all optional, combined with AND).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact action.
    pub action: Option<String>,
    /// Acting user.
    pub user_id: Option<i32>,
    /// Entity kind.
    pub entity: Option<String>,
    /// Entity id.
    pub entity_id: Option<String>,
    /// From this instant (inclusive).
    pub start: Option<NaiveDateTime>,
    /// Before this instant.
    pub end: Option<NaiveDateTime>,
}

/// A tenant's audit rows, newest first, keyset-paginated by id: pass the
/// last page's `next_cursor` as `before_id`.
pub async fn list(
    databases: &crate::db::Databases,
    tenant_id: i32,
    filter: &AuditFilter,
    limit: i64,
    before_id: Option<i64>,
) -> crate::AppResult<(Vec<AuditRecord>, Option<i64>)> {
    use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
    let mut conn = databases.global().get().await?;
    let rows: Vec<AuditRecord> = crate::with_conn!(&mut conn, |c| {
        let mut query = audit_log::table.filter(audit_log::tenant_id.eq(tenant_id)).into_boxed();
        if let Some(action) = &filter.action {
            query = query.filter(audit_log::action.eq(action.clone()));
        }
        if let Some(user_id) = filter.user_id {
            query = query.filter(audit_log::user_id.eq(user_id));
        }
        if let Some(entity) = &filter.entity {
            query = query.filter(audit_log::entity.eq(entity.clone()));
        }
        if let Some(entity_id) = &filter.entity_id {
            query = query.filter(audit_log::entity_id.eq(entity_id.clone()));
        }
        if let Some(start) = filter.start {
            query = query.filter(audit_log::created_at.ge(start));
        }
        if let Some(end) = filter.end {
            query = query.filter(audit_log::created_at.lt(end));
        }
        if let Some(before) = before_id {
            query = query.filter(audit_log::audit_id.lt(before));
        }
        query
            .order(audit_log::audit_id.desc())
            .limit(limit + 1)
            .select(AuditRecord::as_select())
            .load(c)
            .await
    })?;
    let mut rows = rows;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.audit_id)
    } else {
        None
    };
    Ok((rows, next))
}

/// Writes audit entries into a tenant database's outbox, inside the
/// transaction of the configuration change they describe.
pub trait OutboxConn: Send {
    /// Queues `entry` for forwarding to the global audit log.
    fn write_outbox(&mut self, entry: &AuditEntry)
    -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;
}

crate::impl_for_connections!(OutboxConn {
    async fn write_outbox(&mut self, entry: &AuditEntry) -> diesel::QueryResult<()> {
        use crate::db::schema::tenant::audit_outbox;
        use diesel::ExpressionMethods;
        let text = serde_json::to_string(entry).map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?;
        diesel::insert_into(audit_outbox::table)
            .values((audit_outbox::entry.eq(text), audit_outbox::created_at.eq(entry.created_at)))
            .execute(self)
            .await
            .map(|_| ())
    }
});

/// [`forward_outbox`] when the caller must not fail on it: the entries stay
/// queued and the periodic job (or the next write or audit read) moves them.
pub async fn forward_soon(databases: &crate::db::Databases, tenant_id: i32) {
    let result = match forward_outbox(databases, tenant_id).await {
        // A concurrent forwarder wrote some of the same entries first (their
        // sources are unique); once more skips them and clears the outbox.
        Err(crate::AppError::Conflict(_)) => forward_outbox(databases, tenant_id).await,
        other => other,
    };
    if let Err(error) = result {
        tracing::warn!(tenant_id, %error, "audit forwarding delayed; the outbox keeps the entries");
    }
}

/// Moves a tenant's queued audit entries into the global audit log. Safe to
/// run any number of times, concurrently too: each entry carries a unique
/// `source`, so an entry forwarded twice is written once. Returns how many
/// entries were moved.
pub async fn forward_outbox(databases: &crate::db::Databases, tenant_id: i32) -> crate::AppResult<usize> {
    use crate::db::schema::tenant::audit_outbox;
    use diesel::{ExpressionMethods, QueryDsl};
    let tenant_pool = databases.tenant(tenant_id).await?;
    let mut tenant_conn = tenant_pool.get().await?;
    let queued: Vec<(i64, String)> = crate::with_conn!(&mut tenant_conn, |c| audit_outbox::table
        .select((audit_outbox::outbox_id, audit_outbox::entry))
        .order(audit_outbox::outbox_id.asc())
        .limit(500)
        .load(c)
        .await)?;
    let Some(last) = queued.last().map(|(id, _)| *id) else {
        return Ok(0);
    };
    let mut entries = Vec::with_capacity(queued.len());
    for (id, text) in &queued {
        match serde_json::from_str::<AuditEntry>(text) {
            Ok(mut entry) => {
                entry.tenant_id = Some(tenant_id);
                entry.source = Some(format!("tenant:{tenant_id}:outbox:{id}"));
                entries.push(entry);
            }
            Err(e) => {
                tracing::error!(tenant_id, outbox_id = id, error = %e, "unreadable audit outbox entry kept for inspection")
            }
        }
    }
    let sources: Vec<String> = entries.iter().filter_map(|e| e.source.clone()).collect();
    let mut global = databases.global().get().await?;
    crate::write_tx!(&mut global, |c| {
        let already: Vec<Option<String>> = audit_log::table
            .filter(audit_log::source.eq_any(&sources))
            .select(audit_log::source)
            .load(c)
            .await?;
        for entry in &entries {
            if !already.contains(&entry.source) {
                c.write_audit(entry).await?;
            }
        }
        Ok::<_, crate::AppError>(())
    })?;
    let forwarded: Vec<i64> = queued
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| sources.contains(&format!("tenant:{tenant_id}:outbox:{id}")))
        .collect();
    crate::with_conn!(&mut tenant_conn, |c| diesel::delete(
        audit_outbox::table
            .filter(audit_outbox::outbox_id.eq_any(&forwarded))
            .filter(audit_outbox::outbox_id.le(last))
    )
    .execute(c)
    .await)?;
    Ok(forwarded.len())
}
