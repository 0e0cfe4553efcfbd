//! The downtime reason tree (issue 14 item 2): per tenant, categories and
//! reasons with a code, names in Spanish and English, a colour and a loss
//! class (`breakdown`, `setup`, `minor_stop`, `planned`, `unassigned`). A
//! category is a reason without a parent; the tree has two levels, so a
//! reason's parent is always a category.
//!
//! The failure types of the original design are the tree's `breakdown`
//! reasons (one catalog): `/production/failures` shows the breakdown reasons
//! without children, keeping their ids, so incidents keep naming them.
//!
//! The tree is small and read on every downtime answer, so it lives in the
//! plant snapshot (`PlantSnapshot::reasons`). Writes here take a connection,
//! the snapshot and an audit entry to fill; each runs in one transaction
//! with the `config_version` bump and the audit outbox entry. The caller
//! forwards the entry and reloads the snapshot afterwards. Deleting a
//! reason that events, incidents or other reasons use is a 409: deactivate
//! it instead (`is_active: false`), which keeps it on the events that have
//! it and refuses new assignments.

use chrono::NaiveDateTime;
use diesel::{ExpressionMethods, Insertable, QueryDsl, Queryable, Selectable};
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::audit::{AuditEntry, OutboxConn};
use crate::db::DbConn;
use crate::db::dialect::DialectConn;
use crate::db::schema::tenant::{config_version, downtime_reason, incident};
use crate::error::{AppError, AppResult, FieldError};
use crate::plant::cache::PlantSnapshot;

pub mod assigned;

/// Where a stop's time goes in the loss split: the engine's classes.
pub use crate::analytics::losses::LossClass;

/// The class named `text`, if any.
pub fn parse_class(text: &str) -> Option<LossClass> {
    text.trim().parse().ok()
}

/// The colour a reason of `class` gets when none is given (the default
/// tree's category colour).
pub fn default_color(class: LossClass) -> &'static str {
    match class {
        LossClass::Breakdown => "#dc2626",
        LossClass::Setup => "#f59e0b",
        LossClass::MinorStop => "#eab308",
        LossClass::Planned => "#2563eb",
        LossClass::Unassigned => "#9ca3af",
    }
}

/// A row of `downtime_reason`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = downtime_reason)]
pub struct ReasonRow {
    /// Id.
    pub reason_id: i32,
    /// Its category; `None` for a category.
    pub parent_id: Option<i32>,
    /// Code, unique in the tenant.
    pub code: String,
    /// Spanish name.
    pub name_es: String,
    /// English name.
    pub name_en: String,
    /// Description.
    pub description: Option<String>,
    /// CSS hex colour.
    pub color: String,
    /// Loss class (one of [`LossClass`]; the database holds its name).
    pub loss_class: String,
    /// Assignable; an inactive reason stays on the events that have it.
    pub is_active: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

impl ReasonRow {
    /// Its name in `language` (`en` or else Spanish).
    pub fn name(&self, language: &str) -> &str {
        if language == "en" { &self.name_en } else { &self.name_es }
    }

    /// Its loss class (a stored name no version wrote reads as `unassigned`).
    pub fn loss(&self) -> LossClass {
        parse_class(&self.loss_class).unwrap_or(LossClass::Unassigned)
    }

    /// Whether this is a failure type of `/production/failures`: a
    /// breakdown reason without reasons under it.
    pub fn is_failure_type(&self, snapshot: &PlantSnapshot) -> bool {
        self.loss() == LossClass::Breakdown && !has_children(snapshot, self.reason_id)
    }
}

/// A new or changed reason, validated.
#[derive(Debug, Clone, PartialEq, Eq, Insertable, diesel::AsChangeset, Serialize)]
#[diesel(table_name = downtime_reason, treat_none_as_null = true)]
pub struct NewReason {
    /// Its category.
    pub parent_id: Option<i32>,
    /// Code.
    pub code: String,
    /// Spanish name.
    pub name_es: String,
    /// English name.
    pub name_en: String,
    /// Description.
    pub description: Option<String>,
    /// CSS hex colour.
    pub color: String,
    /// Loss class name.
    pub loss_class: String,
    /// Assignable.
    pub is_active: bool,
    /// Created.
    #[diesel(skip_update)]
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
}

/// What a client sends to create or replace a reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReasonInput {
    /// Its category (a reason without parent); none: it is a category.
    pub parent_id: Option<i32>,
    /// Code: 1 to 40 letters, digits, `-`, `_`, `.`; unique in the tenant.
    pub code: String,
    /// Name, in the tenant's language (and in the other one unless given).
    pub name: String,
    /// Spanish name, when it differs from `name`.
    pub name_es: Option<String>,
    /// English name, when it differs from `name`.
    pub name_en: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// CSS hex colour; default the category's, else the loss class's.
    pub color: Option<String>,
    /// Loss class; default the category's (required for a category).
    pub loss_class: Option<String>,
    /// Assignable; default true (or unchanged on replace).
    pub is_active: Option<bool>,
}

#[derive(Default)]
struct Check(Vec<FieldError>);

impl Check {
    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        let trimmed = value.trim();
        if trimmed.is_empty() || trimmed.chars().count() > max {
            self.fail(field, format!("must be 1 to {max} characters"));
        } else if trimmed.chars().any(char::is_control) {
            self.fail(field, "must not contain control characters");
        }
        trimmed.to_owned()
    }

    fn finish<T>(self, value: T) -> AppResult<T> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(AppError::invalid_fields(self.0))
        }
    }
}

/// Whether `text` is `#` followed by 3, 4, 6 or 8 hex digits.
fn is_hex_colour(text: &str) -> bool {
    text.strip_prefix('#')
        .is_some_and(|hex| matches!(hex.len(), 3 | 4 | 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn valid_code(code: &str) -> bool {
    (1..=40).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Whether any reason has `reason_id` as its parent.
pub fn has_children(snapshot: &PlantSnapshot, reason_id: i32) -> bool {
    snapshot.reasons.values().any(|r| r.parent_id == Some(reason_id))
}

impl ReasonInput {
    /// Validates into a row, every bad field named at once. `current` is
    /// the reason being replaced, if any.
    pub fn into_row(
        self,
        snapshot: &PlantSnapshot,
        current: Option<&ReasonRow>,
        now: NaiveDateTime,
    ) -> AppResult<NewReason> {
        let mut check = Check::default();
        let code = self.code.trim().to_owned();
        // A code another reason holds is a 409, from the unique index (as
        // for lines and products), so two concurrent creations cannot both win.
        if !valid_code(&code) {
            check.fail("code", "must be 1 to 40 characters: letters, digits, '-', '_' or '.'");
        }
        let name = check.text("name", &self.name, 120);
        let name_es = match &self.name_es {
            Some(text) => check.text("name_es", text, 120),
            None => name.clone(),
        };
        let name_en = match &self.name_en {
            Some(text) => check.text("name_en", text, 120),
            None => name.clone(),
        };
        // `name` is the tenant's language; an explicit name of that language wins.
        let (name_es, name_en) = match snapshot.language {
            "en" if self.name_en.is_none() => (name_es, name),
            "es" if self.name_es.is_none() => (name, name_en),
            _ => (name_es, name_en),
        };
        let description = self
            .description
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                if d.chars().count() > 500 || d.chars().any(|c| c.is_control() && c != '\n') {
                    check.fail(
                        "description",
                        "must be at most 500 characters without control characters",
                    );
                }
                d.to_owned()
            });
        let parent = match self.parent_id {
            None => None,
            Some(parent_id) => match snapshot.reasons.get(&parent_id) {
                None => {
                    check.fail("parent_id", format!("reason {parent_id} does not exist"));
                    None
                }
                Some(_) if Some(parent_id) == current.map(|c| c.reason_id) => {
                    check.fail("parent_id", "a reason cannot be its own category");
                    None
                }
                Some(p) if p.parent_id.is_some() => {
                    check.fail(
                        "parent_id",
                        format!("reason {parent_id} is not a category: the tree has two levels"),
                    );
                    None
                }
                Some(p) => Some(p),
            },
        };
        if self.parent_id.is_some()
            && let Some(c) = current
            && has_children(snapshot, c.reason_id)
        {
            check.fail(
                "parent_id",
                format!("reason {} has reasons under it, so it stays a category", c.reason_id),
            );
        }
        let loss = match (&self.loss_class, parent) {
            (Some(text), _) => match parse_class(text) {
                Some(class) => class,
                None => {
                    check.fail(
                        "loss_class",
                        "must be one of breakdown, setup, minor_stop, planned, unassigned",
                    );
                    LossClass::Unassigned
                }
            },
            (None, Some(p)) => p.loss(),
            (None, None) => {
                check.fail("loss_class", "is required for a category (a reason without parent_id)");
                LossClass::Unassigned
            }
        };
        let color = match self.color.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => {
                if !is_hex_colour(c) {
                    check.fail("color", "must be a CSS hex colour: #rgb, #rgba, #rrggbb or #rrggbbaa");
                }
                c.to_ascii_lowercase()
            }
            None => parent.map_or_else(|| default_color(loss).to_owned(), |p| p.color.clone()),
        };
        check.finish(NewReason {
            parent_id: self.parent_id,
            code,
            name_es,
            name_en,
            description,
            color,
            loss_class: loss.as_str().to_owned(),
            is_active: self.is_active.or(current.map(|c| c.is_active)).unwrap_or(true),
            created_at: now,
            updated_at: now,
        })
    }
}

/// Bumps the tenant's configuration version inside a write transaction.
trait BumpVersion: Send {
    fn bump_version(&mut self, now: NaiveDateTime)
    -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;
}

crate::impl_for_connections!(BumpVersion {
    async fn bump_version(&mut self, now: NaiveDateTime) -> diesel::QueryResult<()> {
        diesel::update(config_version::table.filter(config_version::id.eq(1)))
            .set((config_version::version.eq(config_version::version + 1), config_version::updated_at.eq(now)))
            .execute(self)
            .await
            .map(|_| ())
    }
});

/// A reason's row, locked until the transaction ends: shared by whoever
/// assigns it to events, exclusive by a delete. On MariaDB the two then queue
/// behind each other, so a delete never leaves events naming a reason that
/// is gone, and an assignment never names one deleted meanwhile (downtime
/// tables are per line, so no foreign key guards them). SQLite runs one
/// write transaction at a time anyway.
pub trait ReasonLock: Send {
    /// Under the lock: `Some(is_active)`, or `None` when reason `id` is gone.
    fn lock_reason(
        &mut self,
        id: i32,
        exclusive: bool,
    ) -> impl std::future::Future<Output = diesel::QueryResult<Option<bool>>> + Send;

    /// What still uses reason `id`: reasons under it, and downtime events of
    /// `line_ids` that carry it, as the transaction sees them.
    fn reason_uses(
        &mut self,
        id: i32,
        line_ids: &[i32],
    ) -> impl std::future::Future<Output = AppResult<ReasonUses>> + Send;
}

/// What keeps a reason from being deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReasonUses {
    /// Reasons whose category it is.
    pub children: i64,
    /// Downtime events that carry it.
    pub events: i64,
}

#[derive(diesel::QueryableByName)]
struct ActiveFlag {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_active: bool,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

crate::impl_for_connections!(ReasonLock {
    async fn lock_reason(&mut self, id: i32, exclusive: bool) -> diesel::QueryResult<Option<bool>> {
        let lock = if exclusive {
            <Self as crate::db::dialect::SqlDialect>::LOCK_FOR_UPDATE
        } else {
            <Self as crate::db::dialect::SqlDialect>::LOCK_FOR_SHARE
        };
        let rows: Vec<ActiveFlag> =
            diesel::sql_query(format!("SELECT is_active FROM downtime_reason WHERE reason_id = ?{lock}"))
                .bind::<diesel::sql_types::Integer, _>(id)
                .load(self)
                .await?;
        Ok(rows.into_iter().next().map(|row| row.is_active))
    }

    async fn reason_uses(&mut self, id: i32, line_ids: &[i32]) -> AppResult<ReasonUses> {
        let children = downtime_reason::table
            .filter(downtime_reason::parent_id.eq(id))
            .count()
            .get_result::<i64>(self)
            .await?;
        let mut events = 0;
        for line_id in line_ids {
            let table = crate::db::line_tables::downtime_table(*line_id)?;
            let count: Count = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table} WHERE reason_id = ?"))
                .bind::<diesel::sql_types::Integer, _>(id)
                .get_result(self)
                .await?;
            events += count.n;
        }
        Ok(ReasonUses { children, events })
    }
});

fn not_found(id: i32) -> AppError {
    AppError::NotFound(format!("downtime reason {id} not found"))
}

/// The reason `id` of the snapshot, or a 404.
pub fn get(snapshot: &PlantSnapshot, id: i32) -> AppResult<&ReasonRow> {
    snapshot.reasons.get(&id).ok_or_else(|| not_found(id))
}

/// Creates a reason; returns its id. `audit` gets the entity and values.
pub async fn create(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    input: ReasonInput,
    audit: &AuditEntry,
) -> AppResult<i32> {
    let now = crate::clock::now_naive();
    let row = input.into_row(snapshot, None, now)?;
    crate::write_tx!(conn, |c| {
        diesel::insert_into(downtime_reason::table)
            .values(&row)
            .execute(c)
            .await?;
        let id = i32::try_from(c.last_insert_id().await?).map_err(AppError::internal)?;
        c.bump_version(now).await?;
        let entry = audit
            .clone()
            .entity("downtime_reason", id)
            .values::<(), _>(None, Some(&row));
        c.write_outbox(&entry).await?;
        Ok::<_, AppError>(id)
    })
}

/// Replaces reason `id`'s fields.
pub async fn update(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    id: i32,
    input: ReasonInput,
    audit: &AuditEntry,
) -> AppResult<()> {
    let before = get(snapshot, id)?;
    let now = crate::clock::now_naive();
    let row = input.into_row(snapshot, Some(before), now)?;
    crate::write_tx!(conn, |c| {
        diesel::update(downtime_reason::table.find(id))
            .set(&row)
            .execute(c)
            .await?;
        c.bump_version(now).await?;
        let entry = audit
            .clone()
            .entity("downtime_reason", id)
            .values(Some(before), Some(&row));
        c.write_outbox(&entry).await?;
        Ok::<_, AppError>(())
    })
}

/// Deletes reason `id`; a 409 while reasons sit under it, incidents name
/// it or persisted downtime events carry it (deactivate it instead).
pub async fn delete(conn: &mut DbConn, snapshot: &PlantSnapshot, id: i32, audit: &AuditEntry) -> AppResult<()> {
    delete_as(conn, snapshot, id, audit, "downtime_reason").await
}

/// [`delete`], audited as an `entity`.
async fn delete_as(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    id: i32,
    audit: &AuditEntry,
    entity: &str,
) -> AppResult<()> {
    let before = get(snapshot, id)?;
    let line_ids: Vec<i32> = snapshot.lines.keys().copied().collect();
    let now = crate::clock::now_naive();
    crate::write_tx!(conn, |c| {
        // Checked under the row's lock, not against the snapshot: an
        // assignment that took the reason first (here or on another
        // instance) has committed by now and counts; one that comes later
        // waits for this delete and then finds the reason gone.
        if c.lock_reason(id, true).await?.is_none() {
            return Err(not_found(id));
        }
        let uses = c.reason_uses(id, &line_ids).await?;
        if uses.children > 0 {
            return Err(AppError::Conflict(format!(
                "downtime reason {id} has reasons under it; delete or move them first"
            )));
        }
        if uses.events > 0 {
            return Err(AppError::Conflict(format!(
                "downtime reason {id} is assigned to {} downtime event(s); deactivate it instead (is_active: false)",
                uses.events
            )));
        }
        let used = incident::table
            .filter(incident::failure_id.eq(id))
            .count()
            .get_result::<i64>(c)
            .await?;
        if used > 0 {
            return Err(AppError::Conflict(format!(
                "downtime reason {id} is referenced by {used} incident(s); delete or change them first"
            )));
        }
        diesel::delete(downtime_reason::table.find(id)).execute(c).await?;
        c.bump_version(now).await?;
        let entry = audit.clone().entity(entity, id).values::<_, ()>(Some(before), None);
        c.write_outbox(&entry).await?;
        Ok::<_, AppError>(())
    })
}

// ---- failure types: the breakdown reasons without children ----------------

/// A failure type as `/production/failures` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureFields {
    /// Kind of failure (the reason's name).
    pub type_failure: String,
    /// Description.
    pub description: Option<String>,
}

/// The failure types (breakdown reasons without children, active ones),
/// oldest first.
pub fn failure_types(snapshot: &PlantSnapshot) -> Vec<&ReasonRow> {
    snapshot
        .reasons
        .values()
        .filter(|r| r.is_active && r.is_failure_type(snapshot))
        .collect()
}

/// Failure type `id` (an inactive one too), or a 404.
pub fn failure_type(snapshot: &PlantSnapshot, id: i32) -> AppResult<&ReasonRow> {
    snapshot
        .reasons
        .get(&id)
        .filter(|r| r.is_failure_type(snapshot))
        .ok_or_else(|| AppError::NotFound(format!("failure {id} not found")))
}

/// The category new failure types go under: the default tree's
/// `BREAKDOWN`, else the first breakdown category, else none.
fn breakdown_category(snapshot: &PlantSnapshot) -> Option<&ReasonRow> {
    let categories = || {
        snapshot
            .reasons
            .values()
            .filter(|r| r.parent_id.is_none() && r.loss() == LossClass::Breakdown)
    };
    categories()
        .find(|r| r.code == "BREAKDOWN")
        .or_else(|| categories().next())
}

/// Creates a failure type: a breakdown reason under the breakdown
/// category, named `type_failure` in both languages, with code
/// `FAILURE-<id>`. Returns its id.
pub async fn create_failure(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    fields: FailureFields,
    audit: &AuditEntry,
) -> AppResult<i32> {
    let now = crate::clock::now_naive();
    let parent = breakdown_category(snapshot);
    let row = NewReason {
        parent_id: parent.map(|p| p.reason_id),
        // A placeholder unique to this transaction, replaced once the id is known.
        code: format!("pending-{}", uuid::Uuid::new_v4().simple()),
        name_es: fields.type_failure.clone(),
        name_en: fields.type_failure.clone(),
        description: fields.description.clone(),
        color: parent.map_or_else(|| default_color(LossClass::Breakdown).to_owned(), |p| p.color.clone()),
        loss_class: LossClass::Breakdown.as_str().to_owned(),
        is_active: true,
        created_at: now,
        updated_at: now,
    };
    crate::write_tx!(conn, |c| {
        diesel::insert_into(downtime_reason::table)
            .values(&row)
            .execute(c)
            .await?;
        let id = i32::try_from(c.last_insert_id().await?).map_err(AppError::internal)?;
        let code = format!("FAILURE-{id}");
        diesel::update(downtime_reason::table.find(id))
            .set(downtime_reason::code.eq(&code))
            .execute(c)
            .await?;
        c.bump_version(now).await?;
        let stored = NewReason { code, ..row.clone() };
        let entry = audit.clone().entity("failure", id).values::<(), _>(None, Some(&stored));
        c.write_outbox(&entry).await?;
        Ok::<_, AppError>(id)
    })
}

/// Renames failure type `id`: the name in the tenant's language changes,
/// and the other language's too when it was the same text (a name given
/// through this endpoint, which knows one language only).
pub async fn update_failure(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    id: i32,
    fields: FailureFields,
    audit: &AuditEntry,
) -> AppResult<()> {
    let before = failure_type(snapshot, id)?;
    let now = crate::clock::now_naive();
    let old_name = before.name(snapshot.language).to_owned();
    let follow = |name: &str| {
        if name == old_name {
            fields.type_failure.clone()
        } else {
            name.to_owned()
        }
    };
    let (name_es, name_en) = if snapshot.language == "en" {
        (follow(&before.name_es), fields.type_failure.clone())
    } else {
        (fields.type_failure.clone(), follow(&before.name_en))
    };
    let row = NewReason {
        parent_id: before.parent_id,
        code: before.code.clone(),
        name_es,
        name_en,
        description: fields.description.clone(),
        color: before.color.clone(),
        loss_class: before.loss_class.clone(),
        is_active: before.is_active,
        created_at: before.created_at,
        updated_at: now,
    };
    crate::write_tx!(conn, |c| {
        diesel::update(downtime_reason::table.find(id))
            .set(&row)
            .execute(c)
            .await?;
        c.bump_version(now).await?;
        let entry = audit.clone().entity("failure", id).values(Some(before), Some(&row));
        c.write_outbox(&entry).await?;
        Ok::<_, AppError>(())
    })
}

/// Deletes failure type `id`, on the same terms as [`delete`].
pub async fn delete_failure(conn: &mut DbConn, snapshot: &PlantSnapshot, id: i32, audit: &AuditEntry) -> AppResult<()> {
    failure_type(snapshot, id)?;
    delete_as(conn, snapshot, id, audit, "failure").await
}

/// Whether `id` names a breakdown reason (what an incident's
/// `failure_id` may name).
pub fn is_breakdown(snapshot: &PlantSnapshot, id: i32) -> bool {
    snapshot
        .reasons
        .get(&id)
        .is_some_and(|r| r.loss() == LossClass::Breakdown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i32, parent: Option<i32>, code: &str, class: &str) -> ReasonRow {
        let now = chrono::DateTime::UNIX_EPOCH.naive_utc();
        ReasonRow {
            reason_id: id,
            parent_id: parent,
            code: code.to_owned(),
            name_es: format!("{code} es"),
            name_en: format!("{code} en"),
            description: None,
            color: "#123456".to_owned(),
            loss_class: class.to_owned(),
            is_active: true,
            created_at: now,
            updated_at: now,
        }
    }

    fn snapshot() -> PlantSnapshot {
        let mut s = PlantSnapshot {
            language: "es",
            ..PlantSnapshot::default()
        };
        for r in [
            row(1, None, "BREAKDOWN", "breakdown"),
            row(2, Some(1), "BRK-JAM", "breakdown"),
            row(3, None, "PLANNED", "planned"),
        ] {
            s.reasons.insert(r.reason_id, r);
        }
        s
    }

    fn now() -> NaiveDateTime {
        chrono::DateTime::UNIX_EPOCH.naive_utc()
    }

    #[test]
    fn a_reason_inherits_class_and_colour_from_its_category_and_names_from_name() {
        let row = ReasonInput {
            parent_id: Some(3),
            code: "PLN-LUNCH".to_owned(),
            name: "Almuerzo".to_owned(),
            name_en: Some("Lunch".to_owned()),
            ..ReasonInput::default()
        }
        .into_row(&snapshot(), None, now())
        .expect("valid");
        assert_eq!(row.loss_class, "planned");
        assert_eq!(row.color, "#123456");
        assert_eq!((row.name_es.as_str(), row.name_en.as_str()), ("Almuerzo", "Lunch"));
    }

    #[test]
    fn every_bad_field_is_named() {
        let fields = |input: ReasonInput, current: Option<&ReasonRow>| -> Vec<String> {
            match input.into_row(&snapshot(), current, now()) {
                Err(AppError::Validation { errors, .. }) => errors.into_iter().map(|e| e.field).collect(),
                other => panic!("expected a 422, got {other:?}"),
            }
        };
        assert_eq!(
            fields(
                ReasonInput {
                    code: "bad code!".to_owned(),
                    name: " ".to_owned(),
                    color: Some("red".to_owned()),
                    loss_class: Some("lunch".to_owned()),
                    parent_id: Some(2),
                    ..ReasonInput::default()
                },
                None
            ),
            ["code", "name", "parent_id", "loss_class", "color"]
        );
        // A category without a class; a category moved under another.
        assert_eq!(
            fields(
                ReasonInput {
                    code: "NEW".to_owned(),
                    name: "X".to_owned(),
                    ..ReasonInput::default()
                },
                None
            ),
            ["loss_class"]
        );
        let s = snapshot();
        assert_eq!(
            fields(
                ReasonInput {
                    code: "BREAKDOWN".to_owned(),
                    name: "X".to_owned(),
                    parent_id: Some(3),
                    ..ReasonInput::default()
                },
                s.reasons.get(&1)
            ),
            ["parent_id"]
        );
    }

    #[test]
    fn failure_types_are_the_breakdown_reasons_without_children() {
        let s = snapshot();
        let ids: Vec<i32> = failure_types(&s).iter().map(|r| r.reason_id).collect();
        assert_eq!(ids, [2]);
        assert!(failure_type(&s, 1).is_err() && failure_type(&s, 3).is_err());
        assert_eq!(breakdown_category(&s).map(|r| r.reason_id), Some(1));
    }

    #[test]
    fn loss_classes_round_trip() {
        for class in LossClass::ALL {
            assert_eq!(parse_class(class.as_str()), Some(class));
        }
        assert_eq!(parse_class("failure"), None);
    }
}
