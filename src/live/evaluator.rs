//! The periodic live work of the instance holding the live leases: line
//! state changes and shift ends (`live_state`), shift-to-date OEE (`kpi`
//! events) and alert rules. Each change is published on the bus and, for
//! the event types webhooks subscribe to, queued for delivery.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use super::alerts::{self, Firing, Rule, RuleKind};
use super::bus::LiveBus;
use super::classify::{LineState, shift_ends};
use super::event::EventKind;
use super::state::{self, LineStatus, ShiftFigures, Transition};
use crate::analytics::interval::Interval;
use crate::analytics::time::to_local;
use crate::db::schema::tenant::live_cursor;
use crate::db::{Databases, DbConn};
use crate::error::{AppError, AppResult};
use crate::plant::cache::{MetadataCache, PlantSnapshot};

/// Shift ends older than this are not reported after a pause (the
/// evaluator was down): a report days late helps nobody.
const SHIFT_END_CATCH_UP: Duration = Duration::hours(12);

/// An instant in the tenant's offset, as every answer writes it.
fn stamp(snapshot: &PlantSnapshot, t: DateTime<Utc>) -> String {
    crate::analytics::time::format_instant(t, snapshot.timezone)
}

fn line_name(snapshot: &PlantSnapshot, line_id: i32) -> String {
    snapshot
        .lines
        .get(&line_id)
        .map_or_else(|| format!("#{line_id}"), |l| l.line_name.clone())
}

fn spanish(snapshot: &PlantSnapshot) -> bool {
    snapshot.language == "es"
}

/// Where the work of one tenant goes.
pub struct Outlets<'a> {
    /// The bus of this instance.
    pub bus: &'a LiveBus,
}

impl Outlets<'_> {
    async fn emit(
        &self,
        conn: &mut DbConn,
        tenant_id: i32,
        kind: EventKind,
        data: Value,
        now: DateTime<Utc>,
    ) -> AppResult<()> {
        crate::live::deliveries::queue(conn, kind, &data, now).await?;
        self.bus.publish(tenant_id, kind, data).await;
        Ok(())
    }
}

/// A tenant's configuration and a connection to its database.
async fn open_tenant(
    databases: &Databases,
    cache: &MetadataCache,
    tenant_id: i32,
) -> AppResult<(std::sync::Arc<PlantSnapshot>, DbConn)> {
    let snapshot = cache.get(databases, tenant_id).await?;
    let conn = databases.tenant(tenant_id).await?.get().await?;
    Ok((snapshot, conn))
}

/// Logs a tenant's failure; the other tenants go on.
fn log_failure(tenant_id: i32, outcome: AppResult<()>) {
    if let Err(error) = outcome {
        tracing::warn!(tenant_id, %error, "live evaluation failed for a tenant");
    }
}

/// Observes every line of every tenant and publishes what changed, then
/// reports the shift occurrences that ended since the last run.
pub async fn tick_states(
    databases: &Databases,
    cache: &MetadataCache,
    out: &Outlets<'_>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    for tenant_id in crate::tenants::all_ids(databases).await? {
        log_failure(tenant_id, tick_tenant(databases, cache, tenant_id, out, now).await);
    }
    Ok(())
}

async fn tick_tenant(
    databases: &Databases,
    cache: &MetadataCache,
    tenant_id: i32,
    out: &Outlets<'_>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let (snapshot, mut conn) = open_tenant(databases, cache, tenant_id).await?;
    for transition in state::advance(&mut conn, &snapshot, now).await? {
        for (kind, data) in transition_events(&snapshot, &transition, now) {
            out.emit(&mut conn, tenant_id, kind, data, now).await?;
        }
    }
    report_shift_ends(&mut conn, tenant_id, &snapshot, out, now).await
}

/// The events of one state change: the new state, and the stop it ended
/// or opened.
pub fn transition_events(snapshot: &PlantSnapshot, t: &Transition, now: DateTime<Utc>) -> Vec<(EventKind, Value)> {
    let name = line_name(snapshot, t.line_id);
    let mut events = Vec::new();
    if let Some((start, end)) = t.stop_ended() {
        events.push((
            EventKind::DowntimeEnded,
            json!({
                "line_id": t.line_id,
                "line_name": name,
                "start": stamp(snapshot, start),
                "end": stamp(snapshot, end),
                "duration_seconds": (end - start).num_milliseconds() as f64 / 1000.0,
            }),
        ));
    }
    events.push((
        EventKind::LineState,
        json!({
            "line_id": t.line_id,
            "line_name": name,
            "state": t.next.state.name(),
            "since": t.next.since.map(|s| stamp(snapshot, s)),
            "previous": t.previous.map(|p| p.state.name()),
            "at": stamp(snapshot, now),
        }),
    ));
    if let Some(start) = t.stop_started() {
        let threshold = snapshot.lines.get(&t.line_id).map(|l| l.downtime_threshold);
        events.push((
            EventKind::DowntimeStarted,
            json!({
                "line_id": t.line_id,
                "line_name": name,
                "start": stamp(snapshot, start),
                "threshold_seconds": threshold,
            }),
        ));
    }
    events
}

async fn cursor(conn: &mut DbConn, name: &str) -> AppResult<Option<DateTime<Utc>>> {
    let rows: Vec<chrono::NaiveDateTime> = crate::with_conn!(conn, |c| live_cursor::table
        .select(live_cursor::at)
        .filter(live_cursor::name.eq(name))
        .load(c)
        .await)?;
    Ok(rows.into_iter().next().map(|t| t.and_utc()))
}

async fn set_cursor(conn: &mut DbConn, name: &str, at: DateTime<Utc>) -> AppResult<()> {
    crate::with_conn!(conn, |c| {
        let updated = diesel::update(live_cursor::table.filter(live_cursor::name.eq(name)))
            .set(live_cursor::at.eq(at.naive_utc()))
            .execute(c)
            .await?;
        if updated == 0 {
            diesel::insert_into(live_cursor::table)
                .values((live_cursor::name.eq(name), live_cursor::at.eq(at.naive_utc())))
                .execute(c)
                .await?;
        }
        Ok::<_, AppError>(())
    })
}

fn figures_json(snapshot: &PlantSnapshot, figures: &ShiftFigures) -> Value {
    let oee = &figures.oee;
    json!({
        "shift_id": figures.shift_id,
        "start": stamp(snapshot, figures.range.start),
        "end": stamp(snapshot, figures.range.end),
        "planned_time_seconds": oee.planned_time_seconds,
        "total_downtime_seconds": oee.total_downtime_seconds,
        "downtime_count": oee.downtime_count,
        "total_production": oee.total_production,
        "good_units": oee.good_units,
        "rejected_units": oee.rejected_units,
        "availability": oee.availability,
        "performance": oee.performance,
        "quality": oee.quality,
        "oee": oee.oee,
    })
}

fn shift_name(snapshot: &PlantSnapshot, shift_id: i32) -> String {
    snapshot
        .shifts
        .get(&shift_id)
        .map_or_else(|| format!("#{shift_id}"), |s| s.shift_name.clone())
}

async fn report_shift_ends(
    conn: &mut DbConn,
    tenant_id: i32,
    snapshot: &PlantSnapshot,
    out: &Outlets<'_>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    const NAME: &str = "shift_ends";
    let Some(after) = cursor(conn, NAME).await? else {
        // First run: from now on, no report of the past.
        return set_cursor(conn, NAME, now).await;
    };
    let after = after.max(now - SHIFT_END_CATCH_UP);
    if now <= after {
        return Ok(());
    }
    let rules = snapshot.shift_rules();
    let shift_rules: Vec<Rule> = alerts::list_rules(conn)
        .await?
        .into_iter()
        .filter(|r| r.is_active && r.kind == RuleKind::ShiftEnded)
        .collect();
    for line in snapshot.lines.values().filter(|l| l.is_active) {
        for (shift_id, occurrence) in shift_ends(&rules, line.line_id, snapshot.timezone, after, now) {
            let figures = state::figures_over(conn, snapshot, line.line_id, Some(shift_id), occurrence, now).await?;
            let mut data = figures_json(snapshot, &figures);
            data["line_id"] = json!(line.line_id);
            data["line_name"] = json!(line.line_name);
            data["shift_name"] = json!(shift_name(snapshot, shift_id));
            out.emit(conn, tenant_id, EventKind::ShiftEnded, data, now).await?;
            for rule in shift_rules.iter().filter(|r| r.watches(line.line_id)) {
                let firing = Firing {
                    rule_id: rule.rule_id,
                    line_id: line.line_id,
                    kind: RuleKind::ShiftEnded,
                    message: shift_message(snapshot, &line.line_name, shift_id, &figures),
                    value: figures.oee.oee,
                    key: format!("{shift_id}@{}", occurrence.end.timestamp()),
                    lasting: false,
                };
                fire_and_notify(conn, tenant_id, snapshot, rule, &firing, out, now).await?;
            }
        }
    }
    set_cursor(conn, NAME, now).await
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.1} %"))
}

fn shift_message(snapshot: &PlantSnapshot, line: &str, shift_id: i32, figures: &ShiftFigures) -> String {
    let shift = shift_name(snapshot, shift_id);
    let oee = &figures.oee;
    if spanish(snapshot) {
        format!(
            "Línea {line}: fin del turno {shift}: {} buenas, {} rechazadas, OEE {}",
            oee.good_units,
            oee.rejected_units,
            percent(oee.oee)
        )
    } else {
        format!(
            "Line {line}: shift {shift} ended: {} good, {} rejected, OEE {}",
            oee.good_units,
            oee.rejected_units,
            percent(oee.oee)
        )
    }
}

/// Publishes shift-to-date OEE of every line in a shift, as `kpi` events.
pub async fn publish_kpis(
    databases: &Databases,
    cache: &MetadataCache,
    bus: &LiveBus,
    now: DateTime<Utc>,
) -> AppResult<()> {
    for tenant_id in crate::tenants::all_ids(databases).await? {
        log_failure(tenant_id, kpis_of_tenant(databases, cache, tenant_id, bus, now).await);
    }
    Ok(())
}

async fn kpis_of_tenant(
    databases: &Databases,
    cache: &MetadataCache,
    tenant_id: i32,
    bus: &LiveBus,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let (snapshot, mut conn) = open_tenant(databases, cache, tenant_id).await?;
    for line in snapshot.lines.values().filter(|l| l.is_active) {
        if snapshot.line_areas(line.line_id).is_err() {
            continue;
        }
        if let Some(figures) = state::shift_oee(&mut conn, &snapshot, line.line_id, now).await? {
            let mut data = figures_json(&snapshot, &figures);
            data["line_id"] = json!(line.line_id);
            data["line_name"] = json!(line.line_name);
            data["at"] = json!(stamp(&snapshot, now));
            bus.publish(tenant_id, EventKind::Kpi, data).await;
        }
    }
    Ok(())
}

/// What a rule found on a line: the value, the firing's key and message.
struct Finding {
    value: Option<f64>,
    key: String,
    message: String,
}

/// Evaluates every active rule of every tenant: fires what became true,
/// clears what is no longer.
pub async fn evaluate_alerts(
    databases: &Databases,
    cache: &MetadataCache,
    out: &Outlets<'_>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    for tenant_id in crate::tenants::all_ids(databases).await? {
        log_failure(tenant_id, alerts_of_tenant(databases, cache, tenant_id, out, now).await);
    }
    Ok(())
}

async fn alerts_of_tenant(
    databases: &Databases,
    cache: &MetadataCache,
    tenant_id: i32,
    out: &Outlets<'_>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let (snapshot, mut conn) = open_tenant(databases, cache, tenant_id).await?;
    let conn = &mut conn;
    let snapshot = &*snapshot;
    let rules: Vec<Rule> = alerts::list_rules(conn)
        .await?
        .into_iter()
        .filter(|r| r.is_active && r.kind != RuleKind::ShiftEnded)
        .collect();
    if rules.is_empty() {
        return Ok(());
    }
    let statuses: BTreeMap<i32, LineStatus> = state::current(conn, snapshot, now)
        .await?
        .into_iter()
        .map(|s| (s.line_id, s))
        .collect();
    let active = alerts::active_pairs(conn).await?;
    let mut shift_figures: BTreeMap<i32, Option<ShiftFigures>> = BTreeMap::new();
    for rule in &rules {
        for status in statuses.values().filter(|s| rule.watches(s.line_id)) {
            let finding = find(conn, snapshot, rule, status, &mut shift_figures, now).await?;
            let is_active = active.contains(&(rule.rule_id, status.line_id));
            match finding {
                Some(finding) if !is_active => {
                    let firing = Firing {
                        rule_id: rule.rule_id,
                        line_id: status.line_id,
                        kind: rule.kind,
                        message: finding.message,
                        value: finding.value,
                        key: finding.key,
                        lasting: true,
                    };
                    fire_and_notify(conn, tenant_id, snapshot, rule, &firing, out, now).await?;
                }
                None if is_active => alerts::clear(conn, rule.rule_id, status.line_id, now).await?,
                _ => {}
            }
        }
    }
    Ok(())
}

async fn find(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    rule: &Rule,
    status: &LineStatus,
    shift_figures: &mut BTreeMap<i32, Option<ShiftFigures>>,
    now: DateTime<Utc>,
) -> AppResult<Option<Finding>> {
    let es = spanish(snapshot);
    let line = &status.line_name;
    let minutes = |s: f64| (s / 60.0).floor();
    Ok(match rule.kind {
        RuleKind::StopLongerThan => {
            let limit = f64::from(rule.threshold_seconds.unwrap_or(0));
            match (status.held.state, status.held.since, status.current_stop_seconds) {
                (LineState::Stopped, Some(since), Some(lasted)) if lasted > limit => {
                    let local = to_local(since, snapshot.timezone).format("%H:%M");
                    Some(Finding {
                        value: Some(lasted),
                        key: format!("stop@{}", since.timestamp_micros()),
                        message: if es {
                            format!("Línea {line} parada desde las {local} ({} min)", minutes(lasted))
                        } else {
                            format!("Line {line} stopped since {local} ({} min)", minutes(lasted))
                        },
                    })
                }
                _ => None,
            }
        }
        RuleKind::NoDataFor => {
            let Some(planned_start) = status.planned_start else {
                return Ok(None);
            };
            let last = state::last_any_detection(conn, snapshot, status.line_id, now).await?;
            let quiet_since = last.map_or(planned_start, |l| l.max(planned_start));
            let quiet = (now - quiet_since).num_milliseconds() as f64 / 1000.0;
            (quiet > f64::from(rule.threshold_seconds.unwrap_or(0))).then(|| Finding {
                value: Some(quiet),
                key: format!("quiet@{}", quiet_since.timestamp_micros()),
                message: if es {
                    format!("Línea {line}: sin detecciones desde hace {} min", minutes(quiet))
                } else {
                    format!("Line {line}: no detections for {} min", minutes(quiet))
                },
            })
        }
        kind if kind.is_factor() => {
            if let std::collections::btree_map::Entry::Vacant(slot) = shift_figures.entry(status.line_id) {
                let figures = match snapshot.line_areas(status.line_id) {
                    Ok(_) => state::shift_oee(conn, snapshot, status.line_id, now).await?,
                    Err(_) => None,
                };
                slot.insert(figures);
            }
            let Some(Some(figures)) = shift_figures.get(&status.line_id) else {
                return Ok(None);
            };
            let oee = &figures.oee;
            if oee.planned_time_seconds < f64::from(rule.window_seconds.unwrap_or(0)) {
                return Ok(None);
            }
            let (value, factor_es, factor_en) = match kind {
                RuleKind::OeeBelow => (oee.oee, "OEE", "OEE"),
                RuleKind::AvailabilityBelow => (Some(oee.availability), "disponibilidad", "availability"),
                RuleKind::PerformanceBelow => (oee.performance, "rendimiento", "performance"),
                _ => (Some(oee.quality), "calidad", "quality"),
            };
            let target = rule.target().unwrap_or(0.0);
            match value {
                Some(v) if v < target => Some(Finding {
                    value: Some(v),
                    key: format!(
                        "shift{}@{}",
                        figures.shift_id.unwrap_or(0),
                        figures.range.start.timestamp()
                    ),
                    message: if es {
                        format!("Línea {line}: {factor_es} del turno {v:.1} % por debajo del objetivo {target} %")
                    } else {
                        format!("Line {line}: shift {factor_en} {v:.1} % below the target {target} %")
                    },
                }),
                _ => None,
            }
        }
        RuleKind::RejectedRatioAbove => {
            if snapshot.line_areas(status.line_id).is_err() {
                return Ok(None);
            }
            let window = Duration::seconds(i64::from(rule.window_seconds.unwrap_or(60)));
            let range = Interval::new(now - window, now + Duration::seconds(1));
            let figures = state::figures_over(conn, snapshot, status.line_id, None, range, now).await?;
            let produced = figures.oee.total_production;
            if produced == 0 {
                return Ok(None);
            }
            let ratio = figures.oee.rejected_units as f64 * 100.0 / produced as f64;
            let target = rule.target().unwrap_or(100.0);
            (ratio > target).then(|| Finding {
                value: Some(ratio),
                key: format!("rejected@{}", now.timestamp_micros()),
                message: if es {
                    format!(
                        "Línea {line}: {ratio:.1} % rechazado en los últimos {} min, por encima del límite {target} %",
                        window.num_minutes()
                    )
                } else {
                    format!(
                        "Line {line}: {ratio:.1} % rejected over the last {} min, above the limit {target} %",
                        window.num_minutes()
                    )
                },
            })
        }
        _ => None,
    })
}

/// Stores a firing and, when it is new, publishes it, queues its webhooks
/// and mails the rule's addresses.
async fn fire_and_notify(
    conn: &mut DbConn,
    tenant_id: i32,
    snapshot: &PlantSnapshot,
    rule: &Rule,
    firing: &Firing,
    out: &Outlets<'_>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Some(alert) = alerts::fire(conn, firing, now).await? else {
        return Ok(());
    };
    let data = json!({
        "alert_id": alert.alert_id,
        "rule_id": rule.rule_id,
        "rule_name": rule.name,
        "kind": rule.kind.name(),
        "line_id": alert.line_id,
        "line_name": line_name(snapshot, alert.line_id),
        "message": alert.message,
        "value": alert.value,
        "threshold_seconds": rule.threshold_seconds,
        "target": rule.target(),
        "fired_at": stamp(snapshot, alert.fired_at),
    });
    out.emit(conn, tenant_id, EventKind::Alert, data, now).await?;
    crate::live::deliveries::mail_alert(conn, snapshot, rule, &alert, now).await
}

/// The `production` event of an ingest: what it stored, per minute, as
/// input and output units (other areas are counted under `other`).
pub fn production_data(
    snapshot: &PlantSnapshot,
    line_id: i32,
    ingested: &crate::detections::Ingested,
    now: DateTime<Utc>,
) -> Value {
    let areas = snapshot.line_areas(line_id).ok();
    let mut minutes: BTreeMap<chrono::NaiveDateTime, (u64, u64, u64)> = BTreeMap::new();
    for count in &ingested.per_minute {
        let entry = minutes.entry(count.minute).or_default();
        match areas {
            Some(a) if a.input_area_id == count.area_id => entry.0 += count.n,
            Some(a) if a.output_area_id == count.area_id => entry.1 += count.n,
            _ => entry.2 += count.n,
        }
    }
    json!({
        "line_id": line_id,
        "line_name": line_name(snapshot, line_id),
        "inserted": ingested.inserted,
        "duplicates": ingested.duplicates,
        "minutes": minutes
            .into_iter()
            .map(|(minute, (input, output, other))| json!({
                "minute": stamp(snapshot, minute.and_utc()),
                "input": input,
                "output": output,
                "other": other,
            }))
            .collect::<Vec<_>>(),
        "at": stamp(snapshot, now),
    })
}
