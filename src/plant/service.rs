//! Writes of plant configuration. Each change runs in one tenant
//! transaction together with the `config_version` bump and its audit entry
//! (outbox), then the audit entry is forwarded and the metadata cache
//! reloaded before the caller answers. Deleting what history depends on
//! deactivates instead. Downtime reasons (and the failure types among them)
//! are written by [`crate::reasons`] on a connection handed over from here.

use chrono::NaiveDateTime;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::analytics::interval::Interval;
use crate::audit::{AuditEntry, ClientInfo, OutboxConn};
use crate::auth::principal::Principal;
use crate::clock::now_naive;
use crate::db::dialect::DialectConn;
use crate::db::line_tables;
use crate::db::schema::tenant::{
    area, calendar_entry, config_version, filter, incident, plant_settings, product, production_line, shift,
};
use crate::error::{AppError, AppResult};
use crate::plant::PlantContext;
use crate::plant::cache::PlantSnapshot;
use crate::plant::inputs::{
    AreaInput, CalendarInput, FailureInput, FilterInput, IncidentInput, LineInput, ProductInput, ShiftInput,
};
use crate::plant::models::{AreaRow, CalendarRow, FilterRow, IncidentRow, LineRow, ProductRow, ShiftRow};
use crate::reasons::{self, ReasonInput, ReasonRow};
use crate::{with_conn, write_tx};
use std::sync::Arc;

/// Who changes configuration, for the audit entry.
pub struct Actor<'a> {
    /// The caller.
    pub principal: &'a Principal,
    /// Request details.
    pub client: &'a ClientInfo,
}

impl Actor<'_> {
    fn entry<Old: Serialize, New: Serialize>(
        &self,
        action: &str,
        entity: &str,
        id: i32,
        old: Option<&Old>,
        new: Option<&New>,
    ) -> AuditEntry {
        AuditEntry::new(
            action,
            Some(self.principal.tenant_id),
            self.principal.user_id,
            self.client,
        )
        .entity(entity, id)
        .values(old, new)
    }
}

/// Bumps the tenant's configuration version (inside the change's transaction).
pub trait VersionConn: Send {
    /// `version = version + 1`.
    fn bump_config_version(
        &mut self,
        now: NaiveDateTime,
    ) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;
}

crate::impl_for_connections!(VersionConn {
    async fn bump_config_version(&mut self, now: NaiveDateTime) -> diesel::QueryResult<()> {
        diesel::update(config_version::table.filter(config_version::id.eq(1)))
            .set((config_version::version.eq(config_version::version + 1), config_version::updated_at.eq(now)))
            .execute(self)
            .await
            .map(|_| ())
    }
});

/// Runs `$body` (yielding `(value, audit entry)`) in a tenant write
/// transaction with the version bump and the outbox entry; then forwards the
/// audit entry and reloads the cache. Evaluates to `AppResult<value>`.
macro_rules! config_change {
    ($state:expr, $tenant:expr, |$c:ident| $body:expr) => {
        async {
            let tenant_id: i32 = $tenant;
            let pool = $state.databases.tenant(tenant_id).await?;
            let mut conn = pool.get().await?;
            let now = now_naive();
            let value = write_tx!(&mut conn, |$c| {
                let (value, entry): (_, AuditEntry) = $body;
                $c.bump_config_version(now).await?;
                $c.write_outbox(&entry).await?;
                Ok::<_, AppError>(value)
            })?;
            drop(conn);
            after_change($state, tenant_id).await?;
            Ok::<_, AppError>(value)
        }
        .await
    };
}

/// Forwards the audit entry (a failure only delays it: the outbox keeps it)
/// and reloads the cache so the response and every later read see the change.
async fn after_change(state: &PlantContext<'_>, tenant_id: i32) -> AppResult<()> {
    crate::audit::forward_soon(state.databases, tenant_id).await;
    state.cache.reload(state.databases, tenant_id).await?;
    Ok(())
}

fn not_found(kind: &str, id: i32) -> AppError {
    AppError::NotFound(format!("{kind} {id} not found"))
}

fn id32(id: i64) -> AppResult<i32> {
    i32::try_from(id).map_err(AppError::internal)
}

// ---- lines -------------------------------------------------------------

/// Creates a line and its per-line detection and downtime tables.
pub async fn create_line(state: &PlantContext<'_>, actor: &Actor<'_>, input: LineInput) -> AppResult<LineRow> {
    let row = input.into_row(now_naive(), None)?;
    let tenant_id = actor.principal.tenant_id;
    let line_id = config_change!(state, tenant_id, |c| {
        diesel::insert_into(production_line::table)
            .values(&row)
            .execute(c)
            .await?;
        let id = id32(c.last_insert_id().await?)?;
        (id, actor.entry::<(), _>("line.create", "line", id, None, Some(&row)))
    })?;
    // DDL commits implicitly on MySQL, so it runs after the row's transaction;
    // if it fails the line is removed again: no line exists without storage.
    let pool = state.databases.tenant(tenant_id).await?;
    let mut conn = pool.get().await?;
    // Partitions are laid out around the injected clock, so a pinned clock
    // gives the same layout on any day.
    let laid_out_at = state.clock.now_naive();
    if let Err(error) = line_tables::create_line_tables(&mut conn, line_id, laid_out_at).await {
        let removed = with_conn!(&mut conn, |c| diesel::delete(production_line::table.find(line_id))
            .execute(c)
            .await);
        if let Err(e) = removed {
            tracing::error!(line_id, error = %e, "could not remove a line whose tables failed");
        }
        state.cache.reload(state.databases, tenant_id).await?;
        return Err(error);
    }
    let snapshot = state.cache.get(state.databases, tenant_id).await?;
    snapshot
        .lines
        .get(&line_id)
        .cloned()
        .ok_or_else(|| not_found("line", line_id))
}

/// Replaces a line's editable fields.
pub async fn update_line(
    state: &PlantContext<'_>,
    actor: &Actor<'_>,
    line_id: i32,
    input: LineInput,
) -> AppResult<LineRow> {
    let tenant_id = actor.principal.tenant_id;
    let before = state
        .cache
        .get(state.databases, tenant_id)
        .await?
        .lines
        .get(&line_id)
        .cloned()
        .ok_or_else(|| not_found("line", line_id))?;
    let row = input.into_row(now_naive(), Some(before.is_active))?;
    let deleted_at = if row.is_active {
        None
    } else {
        before.deleted_at.or(Some(now_naive()))
    };
    config_change!(state, tenant_id, |c| {
        diesel::update(production_line::table.find(line_id))
            .set((&row, production_line::deleted_at.eq(deleted_at)))
            .execute(c)
            .await?;
        (
            (),
            actor.entry("line.update", "line", line_id, Some(&before), Some(&row)),
        )
    })?;
    let snapshot = state.cache.get(state.databases, tenant_id).await?;
    snapshot
        .lines
        .get(&line_id)
        .cloned()
        .ok_or_else(|| not_found("line", line_id))
}

/// Deletes a line: it is deactivated, its history and tables are kept.
pub async fn delete_line(state: &PlantContext<'_>, actor: &Actor<'_>, line_id: i32) -> AppResult<()> {
    let tenant_id = actor.principal.tenant_id;
    let before = state
        .cache
        .get(state.databases, tenant_id)
        .await?
        .lines
        .get(&line_id)
        .cloned()
        .ok_or_else(|| not_found("line", line_id))?;
    let now = now_naive();
    config_change!(state, tenant_id, |c| {
        diesel::update(production_line::table.find(line_id))
            .set((
                production_line::is_active.eq(false),
                production_line::deleted_at.eq(Some(now)),
                production_line::updated_at.eq(now),
            ))
            .execute(c)
            .await?;
        (
            (),
            actor.entry::<_, ()>("line.delete", "line", line_id, Some(&before), None),
        )
    })
}

// ---- areas, products, shifts, filters: same shape, soft delete ----------

macro_rules! soft_crud {
    (
        $create:ident, $update:ident, $delete:ident,
        kind = $kind:literal, table = $table:ident, map = $map:ident, row = $row:ty,
        input = $input:ty, active = $active:ident,
        convert = |$inp:ident, $snap:ident, $now:ident, $current:ident| $convert:expr
    ) => {
        #[doc = concat!("Creates a ", $kind, ".")]
        pub async fn $create(state: &PlantContext<'_>, actor: &Actor<'_>, $inp: $input) -> AppResult<$row> {
            let tenant_id = actor.principal.tenant_id;
            let $snap = state.cache.get(state.databases, tenant_id).await?;
            let $now = now_naive();
            let $current: Option<bool> = None;
            let row = $convert?;
            let id = config_change!(state, tenant_id, |c| {
                diesel::insert_into($table::table).values(&row).execute(c).await?;
                let id = id32(c.last_insert_id().await?)?;
                (
                    id,
                    actor.entry::<(), _>(concat!($kind, ".create"), $kind, id, None, Some(&row)),
                )
            })?;
            let snapshot = state.cache.get(state.databases, tenant_id).await?;
            snapshot
                .$map
                .get(&id)
                .cloned()
                .ok_or_else(|| not_found($kind, id))
        }

        #[doc = concat!("Replaces a ", $kind, "'s editable fields.")]
        pub async fn $update(state: &PlantContext<'_>, actor: &Actor<'_>, id: i32, $inp: $input) -> AppResult<$row> {
            let tenant_id = actor.principal.tenant_id;
            let $snap = state.cache.get(state.databases, tenant_id).await?;
            let before = $snap.$map.get(&id).cloned().ok_or_else(|| not_found($kind, id))?;
            let $now = now_naive();
            let $current = Some(before.$active);
            let row = $convert?;
            config_change!(state, tenant_id, |c| {
                diesel::update($table::table.find(id))
                    .set(&row)
                    .execute(c)
                    .await?;
                (
                    (),
                    actor.entry(concat!($kind, ".update"), $kind, id, Some(&before), Some(&row)),
                )
            })?;
            let snapshot = state.cache.get(state.databases, tenant_id).await?;
            snapshot
                .$map
                .get(&id)
                .cloned()
                .ok_or_else(|| not_found($kind, id))
        }

        #[doc = concat!("Deletes a ", $kind, ": it is deactivated and disappears from lists; history keeps it.")]
        pub async fn $delete(state: &PlantContext<'_>, actor: &Actor<'_>, id: i32) -> AppResult<()> {
            let tenant_id = actor.principal.tenant_id;
            let before = state
                .cache
                .get(state.databases, tenant_id)
                .await?
                .$map
                .get(&id)
                .cloned()
                .ok_or_else(|| not_found($kind, id))?;
            let now = now_naive();
            config_change!(state, tenant_id, |c| {
                diesel::update($table::table.find(id))
                    .set(($table::$active.eq(false), $table::updated_at.eq(now)))
                    .execute(c)
                    .await?;
                (
                    (),
                    actor.entry::<_, ()>(concat!($kind, ".delete"), $kind, id, Some(&before), None),
                )
            })
        }
    };
}

soft_crud!(
    create_area,
    update_area,
    delete_area,
    kind = "area",
    table = area,
    map = areas,
    row = AreaRow,
    input = AreaInput,
    active = is_active,
    convert = |input, snapshot, now, current| input.into_row(&snapshot, now, current)
);
soft_crud!(
    create_product,
    update_product,
    delete_product,
    kind = "product",
    table = product,
    map = products,
    row = ProductRow,
    input = ProductInput,
    active = is_active,
    convert = |input, snapshot, now, current| {
        let _ = &snapshot;
        input.into_row(now, current)
    }
);
soft_crud!(
    create_shift_row,
    update_shift_row,
    delete_shift_row,
    kind = "shift",
    table = shift,
    map = shifts,
    row = ShiftRow,
    input = ShiftInput,
    active = shift_status,
    convert = |input, snapshot, now, current| input.into_row(&snapshot, now, current)
);
soft_crud!(
    create_filter,
    update_filter,
    delete_filter,
    kind = "filter",
    table = filter,
    map = filters,
    row = FilterRow,
    input = FilterInput,
    active = filter_status,
    convert = |input, snapshot, now, current| {
        let _ = &snapshot;
        input.into_row(now, current)
    }
);

// ---- planned time: shifts and calendar -----------------------------------

/// How far back persisted downtime events are recomputed when a shift
/// changes (its times, days, lines, status or breaks move P on every past
/// occurrence), from the first event stored there (nothing stored, nothing
/// to fix); older windows are recomputed on request with
/// `POST /downtime/recalculate`. Calendar entries are recomputed over their
/// own days, which are bounded.
pub const SHIFT_CHANGE_RECOMPUTE_DAYS: i64 = 31;

/// The lines a shift or calendar entry plans or stops: `None` for every line.
fn lines_of(ids: Option<Vec<i32>>) -> Option<Vec<i32>> {
    ids.filter(|ids| !ids.is_empty())
}

/// After P changed on `lines` (all lines when `None`) over `windows`:
/// recomputes the persisted downtime events there, so that no stored event
/// runs across a break or a holiday, and forwards their audit entries. The
/// change itself is committed; a failure here is logged, the events of the
/// job's window are redone by the job, older ones by `POST
/// /downtime/recalculate`.
async fn after_plan_change(
    state: &PlantContext<'_>,
    actor: &Actor<'_>,
    lines: Option<Vec<i32>>,
    windows: &[Interval],
    only_where_stored: bool,
) -> AppResult<()> {
    let tenant_id = actor.principal.tenant_id;
    let snapshot = state.cache.get(state.databases, tenant_id).await?;
    let lines: Vec<i32> = match lines {
        Some(ids) => ids,
        None => snapshot.lines.keys().copied().collect(),
    };
    let audit = AuditEntry::new(
        "downtime.recalculate",
        Some(tenant_id),
        actor.principal.user_id,
        actor.client,
    );
    let pool = state.databases.tenant(tenant_id).await?;
    let now = state.clock.now();
    match crate::kpi::persisted::recalculate_after_plan_change(
        &pool,
        &snapshot,
        &lines,
        windows,
        only_where_stored,
        now,
        &audit,
    )
    .await
    {
        Ok(report) if report.wrote() => crate::audit::forward_soon(state.databases, tenant_id).await,
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(tenant_id, %error, "persisted downtime events not recomputed after a planned-time change")
        }
    }
    Ok(())
}

/// The last [`SHIFT_CHANGE_RECOMPUTE_DAYS`] days up to now.
fn recent_window(state: &PlantContext<'_>) -> Interval {
    let now = state.clock.now();
    Interval::new(now - chrono::Duration::days(SHIFT_CHANGE_RECOMPUTE_DAYS), now)
}

/// Lines a stored shift applies to (`None`: every line).
fn shift_lines(row: &ShiftRow) -> Option<Vec<i32>> {
    lines_of(row.line_ids.as_deref().and_then(|t| serde_json::from_str(t).ok()))
}

/// Union of two line scopes (`None`: every line).
fn both(a: Option<Vec<i32>>, b: Option<Vec<i32>>) -> Option<Vec<i32>> {
    let (mut a, b) = (a?, b?);
    a.extend(b);
    a.sort_unstable();
    a.dedup();
    Some(a)
}

/// Creates a shift; the persisted events of its lines are recomputed over
/// the recent past.
pub async fn create_shift(state: &PlantContext<'_>, actor: &Actor<'_>, input: ShiftInput) -> AppResult<ShiftRow> {
    let row = create_shift_row(state, actor, input).await?;
    after_plan_change(state, actor, shift_lines(&row), &[recent_window(state)], true).await?;
    Ok(row)
}

/// Replaces a shift's fields (breaks included); the persisted events of the
/// lines it planned or plans now are recomputed over the recent past.
pub async fn update_shift(
    state: &PlantContext<'_>,
    actor: &Actor<'_>,
    id: i32,
    input: ShiftInput,
) -> AppResult<ShiftRow> {
    let before = state
        .cache
        .get(state.databases, actor.principal.tenant_id)
        .await?
        .shifts
        .get(&id)
        .cloned();
    let row = update_shift_row(state, actor, id, input).await?;
    let lines = both(before.as_ref().and_then(shift_lines), shift_lines(&row));
    after_plan_change(state, actor, lines, &[recent_window(state)], true).await?;
    Ok(row)
}

/// Deletes (deactivates) a shift; its lines' persisted events are
/// recomputed over the recent past.
pub async fn delete_shift(state: &PlantContext<'_>, actor: &Actor<'_>, id: i32) -> AppResult<()> {
    let before = state
        .cache
        .get(state.databases, actor.principal.tenant_id)
        .await?
        .shifts
        .get(&id)
        .cloned();
    delete_shift_row(state, actor, id).await?;
    let lines = before.as_ref().and_then(shift_lines);
    after_plan_change(state, actor, lines, &[recent_window(state)], true).await
}

/// The instants of a calendar entry's days in the tenant's zone, and its lines.
fn entry_scope(row: &CalendarRow, tz: chrono_tz::Tz) -> (Interval, Option<Vec<i32>>) {
    let entry = crate::analytics::shifts::CalendarEntry {
        entry_id: row.entry_id,
        start_date: row.start_date,
        end_date: row.end_date,
        line_ids: Vec::new(),
    };
    (entry.interval(tz), row.lines().and_then(|ids| lines_of(Some(ids))))
}

/// One calendar entry from the cache.
pub async fn get_calendar_entry(state: &PlantContext<'_>, tenant_id: i32, id: i32) -> AppResult<CalendarRow> {
    state
        .cache
        .get(state.databases, tenant_id)
        .await?
        .calendar
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("calendar entry", id))
}

/// Creates a holiday or shutdown; the persisted events of its lines over its
/// days are recomputed.
pub async fn create_calendar_entry(
    state: &PlantContext<'_>,
    actor: &Actor<'_>,
    input: CalendarInput,
) -> AppResult<CalendarRow> {
    let tenant_id = actor.principal.tenant_id;
    let snapshot = state.cache.get(state.databases, tenant_id).await?;
    let row = input.into_row(&snapshot, now_naive())?;
    let id = config_change!(state, tenant_id, |c| {
        diesel::insert_into(calendar_entry::table)
            .values(&row)
            .execute(c)
            .await?;
        let id = id32(c.last_insert_id().await?)?;
        (
            id,
            actor.entry::<(), _>("calendar.create", "calendar_entry", id, None, Some(&row)),
        )
    })?;
    let created = get_calendar_entry(state, tenant_id, id).await?;
    let (days, lines) = entry_scope(&created, snapshot.timezone);
    after_plan_change(state, actor, lines, &[days], false).await?;
    Ok(created)
}

/// Replaces a calendar entry; persisted events are recomputed over its old
/// and its new days, on its old and new lines.
pub async fn update_calendar_entry(
    state: &PlantContext<'_>,
    actor: &Actor<'_>,
    id: i32,
    input: CalendarInput,
) -> AppResult<CalendarRow> {
    let tenant_id = actor.principal.tenant_id;
    let snapshot = state.cache.get(state.databases, tenant_id).await?;
    let before = snapshot
        .calendar
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("calendar entry", id))?;
    let row = input.into_row(&snapshot, now_naive())?;
    config_change!(state, tenant_id, |c| {
        diesel::update(calendar_entry::table.find(id))
            .set(&row)
            .execute(c)
            .await?;
        (
            (),
            actor.entry("calendar.update", "calendar_entry", id, Some(&before), Some(&row)),
        )
    })?;
    let after = get_calendar_entry(state, tenant_id, id).await?;
    let (old_days, old_lines) = entry_scope(&before, snapshot.timezone);
    let (new_days, new_lines) = entry_scope(&after, snapshot.timezone);
    after_plan_change(state, actor, both(old_lines, new_lines), &[old_days, new_days], false).await?;
    Ok(after)
}

/// Deletes a calendar entry (for real: it carries no history of its own);
/// its days are planned again and their persisted events recomputed.
pub async fn delete_calendar_entry(state: &PlantContext<'_>, actor: &Actor<'_>, id: i32) -> AppResult<()> {
    let tenant_id = actor.principal.tenant_id;
    let snapshot = state.cache.get(state.databases, tenant_id).await?;
    let before = snapshot
        .calendar
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("calendar entry", id))?;
    config_change!(state, tenant_id, |c| {
        diesel::delete(calendar_entry::table.find(id)).execute(c).await?;
        (
            (),
            actor.entry::<_, ()>("calendar.delete", "calendar_entry", id, Some(&before), None),
        )
    })?;
    let (days, lines) = entry_scope(&before, snapshot.timezone);
    after_plan_change(state, actor, lines, &[days], false).await
}

// ---- downtime reasons (and failure types, their breakdown leaves) ------

/// The audit entry of a change by `actor`, to be filled by the domain.
fn audit_of(actor: &Actor<'_>, action: &str) -> AuditEntry {
    AuditEntry::new(
        action,
        Some(actor.principal.tenant_id),
        actor.principal.user_id,
        actor.client,
    )
}

/// Runs a reason write on a connection of the tenant's pool with its
/// current snapshot, then forwards the audit entry and reloads the cache;
/// answers the fresh snapshot and what the write returned.
macro_rules! reason_change {
    ($state:expr, $tenant:expr, |$conn:ident, $snap:ident| $body:expr) => {
        async {
            let tenant_id: i32 = $tenant;
            let $snap = $state.cache.get($state.databases, tenant_id).await?;
            let pool = $state.databases.tenant(tenant_id).await?;
            let mut conn = pool.get().await?;
            let value = {
                let $conn = &mut conn;
                $body.await?
            };
            drop(conn);
            after_change($state, tenant_id).await?;
            let fresh = $state.cache.get($state.databases, tenant_id).await?;
            Ok::<_, AppError>((fresh, value))
        }
        .await
    };
}

/// Creates a downtime reason; answers it with the snapshot that holds it.
pub async fn create_reason(
    state: &PlantContext<'_>,
    actor: &Actor<'_>,
    input: ReasonInput,
) -> AppResult<(Arc<PlantSnapshot>, ReasonRow)> {
    let audit = audit_of(actor, "downtime_reason.create");
    let (snapshot, id) = reason_change!(state, actor.principal.tenant_id, |conn, snapshot| {
        reasons::create(conn, &snapshot, input, &audit)
    })?;
    let row = reasons::get(&snapshot, id)?.clone();
    Ok((snapshot, row))
}

/// Replaces a downtime reason.
pub async fn update_reason(
    state: &PlantContext<'_>,
    actor: &Actor<'_>,
    id: i32,
    input: ReasonInput,
) -> AppResult<(Arc<PlantSnapshot>, ReasonRow)> {
    let audit = audit_of(actor, "downtime_reason.update");
    let (snapshot, ()) = reason_change!(state, actor.principal.tenant_id, |conn, snapshot| {
        reasons::update(conn, &snapshot, id, input, &audit)
    })?;
    let row = reasons::get(&snapshot, id)?.clone();
    Ok((snapshot, row))
}

/// Deletes a downtime reason (409 while in use; see [`reasons::delete`]).
pub async fn delete_reason(state: &PlantContext<'_>, actor: &Actor<'_>, id: i32) -> AppResult<()> {
    let audit = audit_of(actor, "downtime_reason.delete");
    reason_change!(state, actor.principal.tenant_id, |conn, snapshot| {
        reasons::delete(conn, &snapshot, id, &audit)
    })?;
    Ok(())
}

/// Creates a failure type (a breakdown reason).
pub async fn create_failure(
    state: &PlantContext<'_>,
    actor: &Actor<'_>,
    input: FailureInput,
) -> AppResult<(Arc<PlantSnapshot>, ReasonRow)> {
    let fields = input.into_fields()?;
    let audit = audit_of(actor, "failure.create");
    let (snapshot, id) = reason_change!(state, actor.principal.tenant_id, |conn, snapshot| {
        reasons::create_failure(conn, &snapshot, fields, &audit)
    })?;
    let row = reasons::failure_type(&snapshot, id)?.clone();
    Ok((snapshot, row))
}

/// Renames a failure type.
pub async fn update_failure(
    state: &PlantContext<'_>,
    actor: &Actor<'_>,
    id: i32,
    input: FailureInput,
) -> AppResult<(Arc<PlantSnapshot>, ReasonRow)> {
    let fields = input.into_fields()?;
    let audit = audit_of(actor, "failure.update");
    let (snapshot, ()) = reason_change!(state, actor.principal.tenant_id, |conn, snapshot| {
        reasons::update_failure(conn, &snapshot, id, fields, &audit)
    })?;
    let row = reasons::failure_type(&snapshot, id)?.clone();
    Ok((snapshot, row))
}

/// Deletes a failure type; refused (409) while incidents or events use it.
pub async fn delete_failure(state: &PlantContext<'_>, actor: &Actor<'_>, id: i32) -> AppResult<()> {
    let audit = audit_of(actor, "failure.delete");
    reason_change!(state, actor.principal.tenant_id, |conn, snapshot| {
        reasons::delete_failure(conn, &snapshot, id, &audit)
    })?;
    Ok(())
}

// ---- incidents: not cached, hard delete -----------------------------------

/// Incidents, newest first, optionally of one line or failure type.
pub async fn list_incidents(
    state: &PlantContext<'_>,
    tenant_id: i32,
    line_id: Option<i32>,
    failure_id: Option<i32>,
    limit: i64,
    offset: i64,
) -> AppResult<(Vec<IncidentRow>, i64)> {
    let pool = state.databases.tenant(tenant_id).await?;
    let mut conn = pool.get().await?;
    Ok(with_conn!(&mut conn, |c| {
        let mut rows = incident::table.into_boxed();
        let mut count = incident::table.into_boxed();
        if let Some(line) = line_id {
            rows = rows.filter(incident::line_id.eq(line));
            count = count.filter(incident::line_id.eq(line));
        }
        if let Some(f) = failure_id {
            rows = rows.filter(incident::failure_id.eq(f));
            count = count.filter(incident::failure_id.eq(f));
        }
        let rows = rows
            .order((incident::reported_at.desc(), incident::incident_id.desc()))
            .limit(limit)
            .offset(offset)
            .select(IncidentRow::as_select())
            .load(c)
            .await?;
        let total = count.count().get_result::<i64>(c).await?;
        Ok::<_, diesel::result::Error>((rows, total))
    })?)
}

/// One incident.
pub async fn get_incident(state: &PlantContext<'_>, tenant_id: i32, id: i32) -> AppResult<IncidentRow> {
    let pool = state.databases.tenant(tenant_id).await?;
    let mut conn = pool.get().await?;
    with_conn!(&mut conn, |c| incident::table
        .find(id)
        .select(IncidentRow::as_select())
        .first(c)
        .await
        .optional())?
    .ok_or_else(|| not_found("incident", id))
}

/// Records an incident.
pub async fn create_incident(
    state: &PlantContext<'_>,
    actor: &Actor<'_>,
    input: IncidentInput,
) -> AppResult<IncidentRow> {
    let tenant_id = actor.principal.tenant_id;
    let snapshot = state.cache.get(state.databases, tenant_id).await?;
    let known = input.failure_id.is_none_or(|id| reasons::is_breakdown(&snapshot, id));
    let row = input.into_row(&snapshot, known, now_naive())?;
    let id = config_change!(state, tenant_id, |c| {
        diesel::insert_into(incident::table).values(&row).execute(c).await?;
        let id = id32(c.last_insert_id().await?)?;
        (
            id,
            actor.entry::<(), _>("incident.create", "incident", id, None, Some(&row)),
        )
    })?;
    get_incident(state, tenant_id, id).await
}

/// Replaces an incident.
pub async fn update_incident(
    state: &PlantContext<'_>,
    actor: &Actor<'_>,
    id: i32,
    input: IncidentInput,
) -> AppResult<IncidentRow> {
    let tenant_id = actor.principal.tenant_id;
    let before = get_incident(state, tenant_id, id).await?;
    let snapshot = state.cache.get(state.databases, tenant_id).await?;
    let known = input.failure_id.is_none_or(|id| reasons::is_breakdown(&snapshot, id));
    let row = input.into_row(&snapshot, known, now_naive())?;
    config_change!(state, tenant_id, |c| {
        diesel::update(incident::table.find(id)).set(&row).execute(c).await?;
        (
            (),
            actor.entry("incident.update", "incident", id, Some(&before), Some(&row)),
        )
    })?;
    get_incident(state, tenant_id, id).await
}

/// Deletes an incident.
pub async fn delete_incident(state: &PlantContext<'_>, actor: &Actor<'_>, id: i32) -> AppResult<()> {
    let tenant_id = actor.principal.tenant_id;
    let before = get_incident(state, tenant_id, id).await?;
    config_change!(state, tenant_id, |c| {
        diesel::delete(incident::table.find(id)).execute(c).await?;
        (
            (),
            actor.entry::<_, ()>("incident.delete", "incident", id, Some(&before), None),
        )
    })
}

// ---- analytics rules -------------------------------------------------

/// The rule as audited.
#[derive(Serialize)]
struct PlannedStopsRule {
    planned_stops_reduce_planned_time: bool,
}

/// Sets the tenant's planned-stops rule (semantics §10): whether stops with
/// a reason of loss class `planned` leave the planned time. Every KPI read
/// after the answer applies it; persisted events do not change (the rule
/// is applied when they are read).
pub async fn set_planned_stops_rule(state: &PlantContext<'_>, actor: &Actor<'_>, reduce: bool) -> AppResult<()> {
    let tenant_id = actor.principal.tenant_id;
    let snapshot = state.cache.get(state.databases, tenant_id).await?;
    let before = PlannedStopsRule {
        planned_stops_reduce_planned_time: snapshot.planned_stops_reduce_planned_time,
    };
    let after = PlannedStopsRule {
        planned_stops_reduce_planned_time: reduce,
    };
    config_change!(state, tenant_id, |c| {
        let now = now_naive();
        let changed = diesel::update(plant_settings::table.filter(plant_settings::id.eq(1)))
            .set((
                plant_settings::planned_stops_reduce_planned_time.eq(reduce),
                plant_settings::updated_at.eq(now),
            ))
            .execute(c)
            .await?;
        if changed == 0 {
            diesel::insert_into(plant_settings::table)
                .values((
                    plant_settings::id.eq(1),
                    plant_settings::planned_stops_reduce_planned_time.eq(reduce),
                    plant_settings::updated_at.eq(now),
                ))
                .execute(c)
                .await?;
        }
        (
            (),
            actor.entry("settings.update", "plant_settings", 1, Some(&before), Some(&after)),
        )
    })
}
