//! Alert rules (per tenant, audited) and their firings. A rule's condition
//! is checked by the evaluator ([`super::evaluator`]); a firing is stored
//! once and stays `active` while the condition holds, so it is not
//! repeated; when the condition clears it is resolved on its own.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use serde::Serialize;

use crate::audit::{AuditEntry, OutboxConn};
use crate::db::DbConn;
use crate::db::dialect::DialectConn;
use crate::db::schema::tenant::{alert, alert_rule};
use crate::error::{AppError, AppResult, FieldError};
use crate::plant::cache::PlantSnapshot;

/// Rules one tenant may have.
pub const MAX_RULES: i64 = 100;
/// Addresses one rule may mail.
pub const MAX_EMAILS: usize = 10;
/// Longest threshold or window: 30 days.
const MAX_SECONDS: i64 = 30 * 86_400;

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// A stop lasting longer than `threshold_seconds`.
    StopLongerThan,
    /// No detection in any area for `threshold_seconds` inside planned time.
    NoDataFor,
    /// Shift-to-date OEE below `target` % after `window_seconds` of planned time.
    OeeBelow,
    /// The same for availability.
    AvailabilityBelow,
    /// The same for performance.
    PerformanceBelow,
    /// The same for quality.
    QualityBelow,
    /// Rejected units above `target` % of the production of the last `window_seconds`.
    RejectedRatioAbove,
    /// A shift occurrence ended (a shift report).
    ShiftEnded,
}

impl RuleKind {
    /// Every kind.
    pub const ALL: [RuleKind; 8] = [
        RuleKind::StopLongerThan,
        RuleKind::NoDataFor,
        RuleKind::OeeBelow,
        RuleKind::AvailabilityBelow,
        RuleKind::PerformanceBelow,
        RuleKind::QualityBelow,
        RuleKind::RejectedRatioAbove,
        RuleKind::ShiftEnded,
    ];

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            RuleKind::StopLongerThan => "stop_longer_than",
            RuleKind::NoDataFor => "no_data_for",
            RuleKind::OeeBelow => "oee_below",
            RuleKind::AvailabilityBelow => "availability_below",
            RuleKind::PerformanceBelow => "performance_below",
            RuleKind::QualityBelow => "quality_below",
            RuleKind::RejectedRatioAbove => "rejected_ratio_above",
            RuleKind::ShiftEnded => "shift_ended",
        }
    }

    /// From the wire name.
    pub fn parse(text: &str) -> Option<RuleKind> {
        RuleKind::ALL.into_iter().find(|k| k.name() == text)
    }

    fn needs_threshold(self) -> bool {
        matches!(self, RuleKind::StopLongerThan | RuleKind::NoDataFor)
    }

    fn needs_target(self) -> bool {
        !matches!(
            self,
            RuleKind::StopLongerThan | RuleKind::NoDataFor | RuleKind::ShiftEnded
        )
    }

    /// Whether the rule compares a shift-to-date factor.
    pub fn is_factor(self) -> bool {
        matches!(
            self,
            RuleKind::OeeBelow | RuleKind::AvailabilityBelow | RuleKind::PerformanceBelow | RuleKind::QualityBelow
        )
    }
}

/// Default planned time a factor rule waits for before judging (15 min):
/// the first minutes of a shift say little.
pub const DEFAULT_FACTOR_WINDOW_SECONDS: i32 = 900;

/// A rule as a client sends it, unchecked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleInput {
    /// Name, 1–120 characters.
    pub name: String,
    /// A [`RuleKind`] name.
    pub kind: String,
    /// One line; none: every line.
    pub line_id: Option<i32>,
    /// Seconds (`stop_longer_than`, `no_data_for`).
    pub threshold_seconds: Option<i64>,
    /// Percent, 0–100, two decimals at most (factor and rejected-ratio rules).
    pub target: Option<f64>,
    /// Seconds: minimum planned time (factor rules), or the window (rejected ratio).
    pub window_seconds: Option<i64>,
    /// Addresses mailed on firing.
    pub emails: Vec<String>,
    /// Whether it is evaluated (default true).
    pub is_active: Option<bool>,
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// Id.
    pub rule_id: i32,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: RuleKind,
    /// Line (none: every line).
    pub line_id: Option<i32>,
    /// Seconds.
    pub threshold_seconds: Option<i32>,
    /// Percent × 100.
    pub target_bp: Option<i32>,
    /// Seconds.
    pub window_seconds: Option<i32>,
    /// Addresses mailed on firing.
    pub emails: Vec<String>,
    /// Whether it is evaluated.
    pub is_active: bool,
    /// Created (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

impl Rule {
    /// The target in percent.
    pub fn target(&self) -> Option<f64> {
        self.target_bp.map(|bp| f64::from(bp) / 100.0)
    }

    /// Whether it watches `line_id`.
    pub fn watches(&self, line_id: i32) -> bool {
        self.line_id.is_none_or(|l| l == line_id)
    }
}

/// A checked rule, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize, diesel::Insertable, diesel::AsChangeset)]
#[diesel(table_name = alert_rule, treat_none_as_null = true)]
struct RuleValues {
    name: String,
    kind: String,
    line_id: Option<i32>,
    threshold_seconds: Option<i32>,
    target_bp: Option<i32>,
    window_seconds: Option<i32>,
    emails: Option<String>,
    is_active: bool,
    updated_at: NaiveDateTime,
}

fn seconds(errors: &mut Vec<FieldError>, field: &str, value: Option<i64>, min: i64) -> Option<i32> {
    let value = value?;
    if !(min..=MAX_SECONDS).contains(&value) {
        errors.push(FieldError::new(
            field,
            format!("must be between {min} and {MAX_SECONDS} seconds"),
        ));
        return None;
    }
    i32::try_from(value).ok()
}

/// Checks `input` against the configuration; one 422 names every bad field.
fn check(
    input: &RuleInput,
    snapshot: &PlantSnapshot,
    current: Option<&Rule>,
    now: NaiveDateTime,
) -> AppResult<RuleValues> {
    let mut errors = Vec::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        errors.push(FieldError::new("name", "must be 1 to 120 characters"));
    }
    let kind = RuleKind::parse(&input.kind);
    if kind.is_none() {
        let names: Vec<&str> = RuleKind::ALL.iter().map(|k| k.name()).collect();
        errors.push(FieldError::new("kind", format!("must be one of {}", names.join(", "))));
    }
    if let Some(line_id) = input.line_id
        && !snapshot.lines.get(&line_id).is_some_and(|l| l.is_active)
    {
        errors.push(FieldError::new("line_id", format!("line {line_id} does not exist")));
    }
    let threshold = seconds(&mut errors, "threshold_seconds", input.threshold_seconds, 1);
    let window = seconds(&mut errors, "window_seconds", input.window_seconds, 0);
    let target_bp = match input.target {
        None => None,
        Some(t) if t.is_finite() && (0.0..=100.0).contains(&t) && ((t * 100.0).round() - t * 100.0).abs() < 1e-6 => {
            Some((t * 100.0).round() as i32)
        }
        Some(_) => {
            errors.push(FieldError::new(
                "target",
                "must be a percentage from 0 to 100 with at most two decimals",
            ));
            None
        }
    };
    if input.emails.len() > MAX_EMAILS {
        errors.push(FieldError::new("emails", format!("at most {MAX_EMAILS} addresses")));
    }
    for (i, address) in input.emails.iter().enumerate() {
        if !crate::notify::mail::valid_address(address) {
            errors.push(FieldError::new(format!("emails[{i}]"), "not a valid e-mail address"));
        }
    }
    if let Some(kind) = kind {
        if kind.needs_threshold() && input.threshold_seconds.is_none() {
            errors.push(FieldError::new(
                "threshold_seconds",
                format!("required for {}", kind.name()),
            ));
        }
        if !kind.needs_threshold() && input.threshold_seconds.is_some() {
            errors.push(FieldError::new(
                "threshold_seconds",
                format!("not used by {}", kind.name()),
            ));
        }
        if kind.needs_target() && input.target.is_none() {
            errors.push(FieldError::new("target", format!("required for {}", kind.name())));
        }
        if !kind.needs_target() && input.target.is_some() {
            errors.push(FieldError::new("target", format!("not used by {}", kind.name())));
        }
        if kind == RuleKind::RejectedRatioAbove && input.window_seconds.is_none_or(|w| w < 60) {
            errors.push(FieldError::new(
                "window_seconds",
                "required for rejected_ratio_above: at least 60 seconds",
            ));
        }
        if !kind.needs_target() && input.window_seconds.is_some() {
            errors.push(FieldError::new(
                "window_seconds",
                format!("not used by {}", kind.name()),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    let kind = kind.ok_or_else(|| AppError::internal("kind checked above"))?;
    let window = match kind {
        k if k.is_factor() => Some(window.unwrap_or(DEFAULT_FACTOR_WINDOW_SECONDS)),
        _ => window,
    };
    let emails = (!input.emails.is_empty())
        .then(|| serde_json::to_string(&input.emails))
        .transpose()
        .map_err(AppError::internal)?;
    Ok(RuleValues {
        name: name.to_owned(),
        kind: kind.name().to_owned(),
        line_id: input.line_id,
        threshold_seconds: threshold,
        target_bp,
        window_seconds: window,
        emails,
        is_active: input.is_active.or(current.map(|c| c.is_active)).unwrap_or(true),
        updated_at: now,
    })
}

type RuleTuple = (
    i32,
    String,
    String,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<String>,
    bool,
    NaiveDateTime,
    NaiveDateTime,
);

fn rule_of(row: RuleTuple) -> Option<Rule> {
    let (
        rule_id,
        name,
        kind,
        line_id,
        threshold_seconds,
        target_bp,
        window_seconds,
        emails,
        is_active,
        created_at,
        updated_at,
    ) = row;
    Some(Rule {
        rule_id,
        name,
        kind: RuleKind::parse(&kind)?,
        line_id,
        threshold_seconds,
        target_bp,
        window_seconds,
        emails: emails.and_then(|e| serde_json::from_str(&e).ok()).unwrap_or_default(),
        is_active,
        created_at,
        updated_at,
    })
}

macro_rules! rule_columns {
    () => {
        (
            alert_rule::rule_id,
            alert_rule::name,
            alert_rule::kind,
            alert_rule::line_id,
            alert_rule::threshold_seconds,
            alert_rule::target_bp,
            alert_rule::window_seconds,
            alert_rule::emails,
            alert_rule::is_active,
            alert_rule::created_at,
            alert_rule::updated_at,
        )
    };
}

/// Every rule of the tenant, by id.
pub async fn list_rules(conn: &mut DbConn) -> AppResult<Vec<Rule>> {
    let rows: Vec<RuleTuple> = crate::with_conn!(conn, |c| alert_rule::table
        .select(rule_columns!())
        .order(alert_rule::rule_id)
        .load::<RuleTuple>(c)
        .await)?;
    Ok(rows.into_iter().filter_map(rule_of).collect())
}

/// Rule `rule_id`, or a 404.
pub async fn get_rule(conn: &mut DbConn, rule_id: i32) -> AppResult<Rule> {
    let rows: Vec<RuleTuple> = crate::with_conn!(conn, |c| alert_rule::table
        .select(rule_columns!())
        .filter(alert_rule::rule_id.eq(rule_id))
        .load::<RuleTuple>(c)
        .await)?;
    rows.into_iter()
        .find_map(rule_of)
        .ok_or_else(|| AppError::NotFound(format!("alert rule {rule_id} not found")))
}

/// Creates a rule; 409 past [`MAX_RULES`].
pub async fn create_rule(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    input: &RuleInput,
    audit: &AuditEntry,
) -> AppResult<Rule> {
    let now = crate::clock::now_naive();
    let values = check(input, snapshot, None, now)?;
    let id = crate::write_tx!(conn, |c| {
        let count: i64 = alert_rule::table.count().get_result(c).await?;
        if count >= MAX_RULES {
            return Err(AppError::Conflict(format!(
                "a tenant may have at most {MAX_RULES} alert rules; delete one first"
            )));
        }
        diesel::insert_into(alert_rule::table)
            .values((&values, alert_rule::created_at.eq(now)))
            .execute(c)
            .await?;
        let id = i32::try_from(c.last_insert_id().await?).map_err(AppError::internal)?;
        let entry = audit
            .clone()
            .entity("alert_rule", id)
            .values::<(), _>(None, Some(&values));
        c.write_outbox(&entry).await?;
        Ok::<_, AppError>(id)
    })?;
    get_rule(conn, id).await
}

/// Replaces rule `rule_id`'s fields.
pub async fn update_rule(
    conn: &mut DbConn,
    snapshot: &PlantSnapshot,
    rule_id: i32,
    input: &RuleInput,
    audit: &AuditEntry,
) -> AppResult<Rule> {
    let before = get_rule(conn, rule_id).await?;
    let now = crate::clock::now_naive();
    let values = check(input, snapshot, Some(&before), now)?;
    crate::write_tx!(conn, |c| {
        diesel::update(alert_rule::table.filter(alert_rule::rule_id.eq(rule_id)))
            .set(&values)
            .execute(c)
            .await?;
        // A changed rule starts afresh: its open firings no longer describe it.
        diesel::update(alert::table.filter(alert::rule_id.eq(rule_id).and(alert::active.eq(true))))
            .set(alert::active.eq(false))
            .execute(c)
            .await?;
        let entry = audit
            .clone()
            .entity("alert_rule", rule_id)
            .values(Some(&before), Some(&values));
        c.write_outbox(&entry).await?;
        Ok::<_, AppError>(())
    })?;
    get_rule(conn, rule_id).await
}

/// Deletes rule `rule_id`; its firings stay in the history.
pub async fn delete_rule(conn: &mut DbConn, rule_id: i32, audit: &AuditEntry) -> AppResult<()> {
    let before = get_rule(conn, rule_id).await?;
    crate::write_tx!(conn, |c| {
        diesel::delete(alert_rule::table.filter(alert_rule::rule_id.eq(rule_id)))
            .execute(c)
            .await?;
        diesel::update(alert::table.filter(alert::rule_id.eq(rule_id).and(alert::active.eq(true))))
            .set(alert::active.eq(false))
            .execute(c)
            .await?;
        let entry = audit
            .clone()
            .entity("alert_rule", rule_id)
            .values::<_, ()>(Some(&before), None);
        c.write_outbox(&entry).await?;
        Ok::<_, AppError>(())
    })
}

/// What people did with a firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Nobody looked yet.
    Open,
    /// Somebody saw it.
    Acknowledged,
    /// Over: its condition cleared, or somebody closed it.
    Resolved,
}

impl AlertStatus {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    fn parse(text: &str) -> AlertStatus {
        match text {
            "acknowledged" => AlertStatus::Acknowledged,
            "resolved" => AlertStatus::Resolved,
            _ => AlertStatus::Open,
        }
    }
}

/// A stored firing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Id.
    pub alert_id: i64,
    /// The rule that fired.
    pub rule_id: i32,
    /// The line.
    pub line_id: i32,
    /// The rule's kind.
    pub kind: String,
    /// What people did with it.
    pub status: AlertStatus,
    /// Whether its condition still holds.
    pub active: bool,
    /// In the tenant's language.
    pub message: String,
    /// The measured value (seconds or percent).
    pub value: Option<f64>,
    /// When it fired (UTC).
    pub fired_at: DateTime<Utc>,
    /// When and by whom it was acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// User id.
    pub acknowledged_by: Option<i32>,
    /// When it was resolved (by its condition clearing when `resolved_by` is none).
    pub resolved_at: Option<DateTime<Utc>>,
    /// User id.
    pub resolved_by: Option<i32>,
}

type AlertTuple = (
    i64,
    i32,
    i32,
    String,
    String,
    bool,
    String,
    Option<i64>,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<i32>,
    Option<NaiveDateTime>,
    Option<i32>,
);

macro_rules! alert_columns {
    () => {
        (
            alert::alert_id,
            alert::rule_id,
            alert::line_id,
            alert::kind,
            alert::status,
            alert::active,
            alert::message,
            alert::value_milli,
            alert::fired_at,
            alert::acknowledged_at,
            alert::acknowledged_by,
            alert::resolved_at,
            alert::resolved_by,
        )
    };
}

fn alert_of(row: AlertTuple) -> Alert {
    let (
        alert_id,
        rule_id,
        line_id,
        kind,
        status,
        active,
        message,
        value,
        fired,
        acked,
        acked_by,
        resolved,
        resolved_by,
    ) = row;
    Alert {
        alert_id,
        rule_id,
        line_id,
        kind,
        status: AlertStatus::parse(&status),
        active,
        message,
        value: value.map(|v| v as f64 / 1000.0),
        fired_at: fired.and_utc(),
        acknowledged_at: acked.map(|t| t.and_utc()),
        acknowledged_by: acked_by,
        resolved_at: resolved.map(|t| t.and_utc()),
        resolved_by,
    }
}

/// Which firings to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    /// Only this status.
    pub status: Option<AlertStatus>,
    /// Only this line.
    pub line_id: Option<i32>,
    /// Only this rule.
    pub rule_id: Option<i32>,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

/// Firings, newest first, and how many match in all.
pub async fn list_alerts(conn: &mut DbConn, filter: &AlertFilter) -> AppResult<(Vec<Alert>, i64)> {
    let (rows, total) = crate::with_conn!(conn, |c, DB| {
        let filtered = || {
            let mut query = alert::table.into_boxed::<DB>();
            if let Some(status) = filter.status {
                query = query.filter(alert::status.eq(status.name()));
            }
            if let Some(line_id) = filter.line_id {
                query = query.filter(alert::line_id.eq(line_id));
            }
            if let Some(rule_id) = filter.rule_id {
                query = query.filter(alert::rule_id.eq(rule_id));
            }
            query
        };
        let total: i64 = filtered().count().get_result(c).await?;
        let rows: Vec<AlertTuple> = filtered()
            .select(alert_columns!())
            .order(alert::alert_id.desc())
            .limit(filter.limit)
            .offset(filter.offset)
            .load(c)
            .await?;
        Ok::<_, AppError>((rows, total))
    })?;
    Ok((rows.into_iter().map(alert_of).collect(), total))
}

/// Firing `alert_id`, or a 404.
pub async fn get_alert(conn: &mut DbConn, alert_id: i64) -> AppResult<Alert> {
    let rows: Vec<AlertTuple> = crate::with_conn!(conn, |c| alert::table
        .select(alert_columns!())
        .filter(alert::alert_id.eq(alert_id))
        .load(c)
        .await)?;
    rows.into_iter()
        .next()
        .map(alert_of)
        .ok_or_else(|| AppError::NotFound(format!("alert {alert_id} not found")))
}

/// What a person does to a firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FiringMark {
    /// Somebody saw it: an open firing becomes `acknowledged`; the first
    /// acknowledgement is kept.
    Acknowledged,
    /// Closed by hand. While its condition holds it stays active, so it
    /// does not fire again.
    Resolved,
}

impl FiringMark {
    /// The audit action.
    pub fn action(self) -> &'static str {
        match self {
            FiringMark::Acknowledged => "alerts.acknowledge",
            FiringMark::Resolved => "alerts.resolve",
        }
    }
}

/// Marks a firing (audited); repeating a mark changes nothing. A 404 for an
/// unknown firing.
pub async fn mark(
    conn: &mut DbConn,
    alert_id: i64,
    mark: FiringMark,
    user_id: Option<i32>,
    audit: &AuditEntry,
) -> AppResult<Alert> {
    get_alert(conn, alert_id).await?;
    let now = crate::clock::now_naive();
    crate::write_tx!(conn, |c| {
        let this = alert::alert_id.eq(alert_id);
        match mark {
            FiringMark::Acknowledged => {
                diesel::update(alert::table.filter(this.and(alert::acknowledged_at.is_null())))
                    .set((alert::acknowledged_at.eq(now), alert::acknowledged_by.eq(user_id)))
                    .execute(c)
                    .await?;
                diesel::update(alert::table.filter(this.and(alert::status.eq("open"))))
                    .set(alert::status.eq(AlertStatus::Acknowledged.name()))
                    .execute(c)
                    .await?;
            }
            FiringMark::Resolved => {
                diesel::update(alert::table.filter(this.and(alert::status.ne("resolved"))))
                    .set((
                        alert::status.eq(AlertStatus::Resolved.name()),
                        alert::resolved_at.eq(now),
                        alert::resolved_by.eq(user_id),
                    ))
                    .execute(c)
                    .await?;
            }
        }
        c.write_outbox(&audit.clone().entity("alert", alert_id)).await?;
        Ok::<_, AppError>(())
    })?;
    get_alert(conn, alert_id).await
}

/// A firing the evaluator wants stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// The rule.
    pub rule_id: i32,
    /// The line.
    pub line_id: i32,
    /// The rule's kind.
    pub kind: RuleKind,
    /// In the tenant's language.
    pub message: String,
    /// The measured value.
    pub value: Option<f64>,
    /// Distinguishes firings of one rule and line (e.g. the stop's start):
    /// the same key is never stored twice.
    pub key: String,
    /// Whether it stays active (a condition) or is a one-off notice.
    pub lasting: bool,
}

/// The (rule, line) pairs with an active firing.
pub async fn active_pairs(conn: &mut DbConn) -> AppResult<std::collections::BTreeSet<(i32, i32)>> {
    let rows: Vec<(i32, i32)> = crate::with_conn!(conn, |c| alert::table
        .select((alert::rule_id, alert::line_id))
        .filter(alert::active.eq(true))
        .load(c)
        .await)?;
    Ok(rows.into_iter().collect())
}

/// Stores `firing` unless one with its key is stored; returns the new
/// alert, or none when it was already there.
pub async fn fire(conn: &mut DbConn, firing: &Firing, now: DateTime<Utc>) -> AppResult<Option<Alert>> {
    let message: String = firing.message.chars().take(500).collect();
    let value = firing
        .value
        .filter(|v| v.is_finite())
        .map(|v| (v * 1000.0).round() as i64);
    let key: String = firing.key.chars().take(64).collect();
    let inserted = crate::write_tx!(conn, |c| {
        let exists: i64 = alert::table
            .filter(alert::rule_id.eq(firing.rule_id))
            .filter(alert::line_id.eq(firing.line_id))
            .filter(alert::fire_key.eq(&key))
            .count()
            .get_result(c)
            .await?;
        if exists > 0 {
            return Ok::<_, AppError>(None);
        }
        diesel::insert_into(alert::table)
            .values((
                alert::rule_id.eq(firing.rule_id),
                alert::line_id.eq(firing.line_id),
                alert::kind.eq(firing.kind.name()),
                alert::status.eq(AlertStatus::Open.name()),
                alert::active.eq(firing.lasting),
                alert::message.eq(&message),
                alert::value_milli.eq(value),
                alert::fire_key.eq(&key),
                alert::fired_at.eq(now.naive_utc()),
            ))
            .execute(c)
            .await?;
        Ok(Some(c.last_insert_id().await?))
    })?;
    match inserted {
        Some(id) => get_alert(conn, id).await.map(Some),
        None => Ok(None),
    }
}

/// Clears the active firing of (rule, line): its condition no longer
/// holds. One not resolved by hand is resolved now.
pub async fn clear(conn: &mut DbConn, rule_id: i32, line_id: i32, now: DateTime<Utc>) -> AppResult<()> {
    let active = alert::rule_id
        .eq(rule_id)
        .and(alert::line_id.eq(line_id))
        .and(alert::active.eq(true));
    crate::write_tx!(conn, |c| {
        diesel::update(alert::table.filter(active).filter(alert::status.ne("resolved")))
            .set((
                alert::status.eq(AlertStatus::Resolved.name()),
                alert::resolved_at.eq(now.naive_utc()),
            ))
            .execute(c)
            .await?;
        diesel::update(alert::table.filter(active))
            .set(alert::active.eq(false))
            .execute(c)
            .await?;
        Ok::<_, AppError>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: &str) -> RuleInput {
        RuleInput {
            name: "Long stop".into(),
            kind: kind.into(),
            ..RuleInput::default()
        }
    }

    fn fields(result: AppResult<RuleValues>) -> Vec<String> {
        match result {
            Err(AppError::Validation { errors, .. }) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    fn now() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .expect("time")
            .naive_utc()
    }

    #[test]
    fn each_kind_asks_for_its_own_fields_and_refuses_the_others() {
        let snapshot = PlantSnapshot::default();
        assert_eq!(
            fields(check(&input("stop_longer_than"), &snapshot, None, now())),
            ["threshold_seconds"]
        );
        let mut stop = input("stop_longer_than");
        stop.threshold_seconds = Some(600);
        stop.target = Some(50.0);
        assert_eq!(fields(check(&stop, &snapshot, None, now())), ["target"]);
        let mut oee = input("oee_below");
        oee.target = Some(65.5);
        let checked = check(&oee, &snapshot, None, now()).expect("valid");
        assert_eq!(checked.target_bp, Some(6550));
        assert_eq!(checked.window_seconds, Some(DEFAULT_FACTOR_WINDOW_SECONDS));
        let mut ratio = input("rejected_ratio_above");
        ratio.target = Some(5.0);
        assert_eq!(fields(check(&ratio, &snapshot, None, now())), ["window_seconds"]);
        assert!(check(&input("shift_ended"), &snapshot, None, now()).is_ok());
        assert_eq!(fields(check(&input("sometimes"), &snapshot, None, now())), ["kind"]);
    }

    #[test]
    fn targets_lines_names_and_addresses_are_checked() {
        let snapshot = PlantSnapshot::default();
        let rule = RuleInput {
            name: " ".into(),
            kind: "quality_below".into(),
            line_id: Some(9),
            target: Some(100.001),
            emails: vec![
                "ops@example.com".into(),
                "not an address".into(),
                "a@b\r\nBcc: x@y.z".into(),
            ],
            ..RuleInput::default()
        };
        assert_eq!(
            fields(check(&rule, &snapshot, None, now())),
            ["name", "line_id", "target", "emails[1]", "emails[2]"]
        );
    }

    #[test]
    fn kinds_round_trip() {
        for kind in RuleKind::ALL {
            assert_eq!(RuleKind::parse(kind.name()), Some(kind));
        }
    }
}
