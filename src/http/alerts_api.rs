//! `/api/v1/alerts/rules` (alert rules: CRUD, audited) and `/api/v1/alerts`
//! (their firings: list, acknowledge, resolve). Thin: parse, authorize, call
//! [`crate::live::alerts`], map. Reading needs `read_data`; changing rules
//! and handling firings needs `manage_plant`.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use crate::analytics::time::format_instant;
use crate::app::SharedState;
use crate::audit::AuditEntry;
use crate::http::auth_api::NoContent;
use crate::http::caller::{Caller, ManagePlant, ReadData};
use crate::http::problem::ApiError;
use crate::http::{ApiTags, client_info};
use crate::live::alerts::{self, Alert, AlertFilter, AlertStatus, FiringMark, Rule, RuleInput};

/// An alert rule.
#[derive(Object, Debug, Clone)]
pub struct AlertRuleView {
    /// Id.
    pub rule_id: i32,
    /// Name.
    pub name: String,
    /// `stop_longer_than`, `no_data_for`, `oee_below`, `availability_below`,
    /// `performance_below`, `quality_below`, `rejected_ratio_above` or `shift_ended`.
    pub kind: String,
    /// The line watched; null: every line.
    #[oai(nullable)]
    pub line_id: Option<i32>,
    /// Seconds (`stop_longer_than`, `no_data_for`).
    #[oai(nullable)]
    pub threshold_seconds: Option<i32>,
    /// Percent (factor rules: fire below it; `rejected_ratio_above`: above it).
    #[oai(nullable)]
    pub target: Option<f64>,
    /// Seconds: the planned time a factor rule waits for before judging, or
    /// the window of `rejected_ratio_above`.
    #[oai(nullable)]
    pub window_seconds: Option<i32>,
    /// Addresses mailed when it fires.
    pub emails: Vec<String>,
    /// Whether it is evaluated.
    pub is_active: bool,
    /// Created (UTC).
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last change (UTC).
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<Rule> for AlertRuleView {
    fn from(rule: Rule) -> Self {
        AlertRuleView {
            rule_id: rule.rule_id,
            target: rule.target(),
            name: rule.name,
            kind: rule.kind.name().to_owned(),
            line_id: rule.line_id,
            threshold_seconds: rule.threshold_seconds,
            window_seconds: rule.window_seconds,
            emails: rule.emails,
            is_active: rule.is_active,
            created_at: rule.created_at.and_utc(),
            updated_at: rule.updated_at.and_utc(),
        }
    }
}

/// An alert rule to create or replace.
#[derive(Object, Debug, Clone)]
pub struct AlertRuleRequest {
    /// Name, 1–120 characters.
    #[oai(validator(max_length = 120))]
    pub name: String,
    /// See [`AlertRuleView::kind`].
    #[oai(validator(max_length = 32))]
    pub kind: String,
    /// One line; null or absent: every line.
    #[oai(nullable)]
    pub line_id: Option<i32>,
    /// Seconds, 1 to 2 592 000: required by `stop_longer_than` and `no_data_for`.
    #[oai(nullable)]
    pub threshold_seconds: Option<i64>,
    /// Percent, 0–100 with at most two decimals: required by the factor
    /// rules and `rejected_ratio_above`.
    #[oai(nullable)]
    pub target: Option<f64>,
    /// Seconds: factor rules judge after this much planned time in the
    /// shift (default 900); `rejected_ratio_above` needs it (≥ 60).
    #[oai(nullable)]
    pub window_seconds: Option<i64>,
    /// Up to 10 addresses mailed when it fires (needs `CAMET_SMTP_URL`).
    #[oai(default, validator(max_items = 10))]
    pub emails: Vec<String>,
    /// Default true on create, unchanged on replace.
    #[oai(nullable)]
    pub is_active: Option<bool>,
}

impl From<AlertRuleRequest> for RuleInput {
    fn from(r: AlertRuleRequest) -> Self {
        RuleInput {
            name: r.name,
            kind: r.kind,
            line_id: r.line_id,
            threshold_seconds: r.threshold_seconds,
            target: r.target,
            window_seconds: r.window_seconds,
            emails: r.emails,
            is_active: r.is_active,
        }
    }
}

/// Every rule of the tenant.
#[derive(Object, Debug, Clone)]
pub struct AlertRuleList {
    /// By id.
    pub items: Vec<AlertRuleView>,
}

/// What people did with a firing.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "AlertStatus", rename_all = "snake_case")]
pub enum AlertStatusView {
    /// Nobody looked yet.
    Open,
    /// Somebody saw it.
    Acknowledged,
    /// Its condition cleared, or somebody closed it.
    Resolved,
}

impl From<AlertStatus> for AlertStatusView {
    fn from(status: AlertStatus) -> Self {
        match status {
            AlertStatus::Open => AlertStatusView::Open,
            AlertStatus::Acknowledged => AlertStatusView::Acknowledged,
            AlertStatus::Resolved => AlertStatusView::Resolved,
        }
    }
}

impl From<AlertStatusView> for AlertStatus {
    fn from(status: AlertStatusView) -> Self {
        match status {
            AlertStatusView::Open => AlertStatus::Open,
            AlertStatusView::Acknowledged => AlertStatus::Acknowledged,
            AlertStatusView::Resolved => AlertStatus::Resolved,
        }
    }
}

/// A firing of a rule.
#[derive(Object, Debug, Clone)]
pub struct AlertView {
    /// Id.
    pub alert_id: i64,
    /// The rule.
    pub rule_id: i32,
    /// The line.
    pub line_id: i32,
    /// The rule's kind.
    pub kind: String,
    /// What people did with it.
    pub status: AlertStatusView,
    /// Whether its condition still holds (it does not fire again meanwhile).
    pub active: bool,
    /// In the tenant's language.
    pub message: String,
    /// What was measured: seconds, or percent.
    #[oai(nullable)]
    pub value: Option<f64>,
    /// When it fired, in the tenant's offset.
    pub fired_at: String,
    /// When it was acknowledged.
    #[oai(nullable)]
    pub acknowledged_at: Option<String>,
    /// By whom (user id).
    #[oai(nullable)]
    pub acknowledged_by: Option<i32>,
    /// When it was resolved.
    #[oai(nullable)]
    pub resolved_at: Option<String>,
    /// By whom (user id); null when its condition cleared.
    #[oai(nullable)]
    pub resolved_by: Option<i32>,
}

impl AlertView {
    fn view(alert: Alert, tz: chrono_tz::Tz) -> Self {
        AlertView {
            alert_id: alert.alert_id,
            rule_id: alert.rule_id,
            line_id: alert.line_id,
            kind: alert.kind,
            status: alert.status.into(),
            active: alert.active,
            message: alert.message,
            value: alert.value,
            fired_at: format_instant(alert.fired_at, tz),
            acknowledged_at: alert.acknowledged_at.map(|t| format_instant(t, tz)),
            acknowledged_by: alert.acknowledged_by,
            resolved_at: alert.resolved_at.map(|t| format_instant(t, tz)),
            resolved_by: alert.resolved_by,
        }
    }
}

/// A page of firings, newest first.
#[derive(Object, Debug, Clone)]
pub struct AlertPage {
    /// This page.
    pub items: Vec<AlertView>,
    /// Matching in all.
    pub total: i64,
    /// Page size used.
    pub limit: i64,
    /// Offset used.
    pub offset: i64,
}

/// Created.
#[derive(ApiResponse)]
pub enum AlertRuleCreated {
    /// Created.
    #[oai(status = 201)]
    Created(Json<AlertRuleView>),
}

fn default_limit() -> i64 {
    100
}

/// Alert rules and alerts.
pub struct AlertsApi;

impl AlertsApi {
    async fn mark(
        state: &SharedState,
        req: &Request,
        caller: &crate::auth::principal::Principal,
        alert_id: i64,
        mark: FiringMark,
    ) -> Result<Json<AlertView>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let pool = state.databases.tenant(caller.tenant_id).await?;
        let mut conn = pool.get().await?;
        let audit = Self::audit(req, state, caller, mark.action());
        let alert = alerts::mark(&mut conn, alert_id, mark, caller.user_id, &audit).await?;
        crate::audit::forward_soon(&state.databases, caller.tenant_id).await;
        Ok(Json(AlertView::view(alert, snapshot.timezone)))
    }

    fn audit(
        req: &Request,
        state: &SharedState,
        caller: &crate::auth::principal::Principal,
        action: &str,
    ) -> AuditEntry {
        AuditEntry::new(action, Some(caller.tenant_id), caller.user_id, &client_info(req, state))
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Live")]
impl AlertsApi {
    /// Every alert rule of the tenant.
    #[oai(path = "/alerts/rules", method = "get")]
    async fn list_rules(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
    ) -> Result<Json<AlertRuleList>, ApiError> {
        let pool = state.databases.tenant(caller.tenant_id).await?;
        let mut conn = pool.get().await?;
        let items = alerts::list_rules(&mut conn)
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        Ok(Json(AlertRuleList { items }))
    }

    /// Create an alert rule (at most 100 per tenant). Each kind takes its own
    /// fields; one 422 names every field that is missing, not used or wrong.
    #[oai(path = "/alerts/rules", method = "post")]
    async fn create_rule(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        body: Json<AlertRuleRequest>,
    ) -> Result<AlertRuleCreated, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let pool = state.databases.tenant(caller.tenant_id).await?;
        let mut conn = pool.get().await?;
        let audit = Self::audit(req, &state, &caller, "alert_rules.create");
        let rule = alerts::create_rule(&mut conn, &snapshot, &body.0.into(), &audit).await?;
        crate::audit::forward_soon(&state.databases, caller.tenant_id).await;
        Ok(AlertRuleCreated::Created(Json(rule.into())))
    }

    /// Read an alert rule.
    #[oai(path = "/alerts/rules/:rule_id", method = "get")]
    async fn get_rule(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        rule_id: Path<i32>,
    ) -> Result<Json<AlertRuleView>, ApiError> {
        let pool = state.databases.tenant(caller.tenant_id).await?;
        let mut conn = pool.get().await?;
        Ok(Json(alerts::get_rule(&mut conn, rule_id.0).await?.into()))
    }

    /// Replace an alert rule. Its active firing (if any) is closed: the
    /// changed rule judges afresh.
    #[oai(path = "/alerts/rules/:rule_id", method = "put")]
    async fn update_rule(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        rule_id: Path<i32>,
        body: Json<AlertRuleRequest>,
    ) -> Result<Json<AlertRuleView>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let pool = state.databases.tenant(caller.tenant_id).await?;
        let mut conn = pool.get().await?;
        let audit = Self::audit(req, &state, &caller, "alert_rules.update");
        let rule = alerts::update_rule(&mut conn, &snapshot, rule_id.0, &body.0.into(), &audit).await?;
        crate::audit::forward_soon(&state.databases, caller.tenant_id).await;
        Ok(Json(rule.into()))
    }

    /// Delete an alert rule; its firings stay in `/alerts`.
    #[oai(path = "/alerts/rules/:rule_id", method = "delete")]
    async fn delete_rule(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        rule_id: Path<i32>,
    ) -> Result<NoContent, ApiError> {
        let pool = state.databases.tenant(caller.tenant_id).await?;
        let mut conn = pool.get().await?;
        let audit = Self::audit(req, &state, &caller, "alert_rules.delete");
        alerts::delete_rule(&mut conn, rule_id.0, &audit).await?;
        crate::audit::forward_soon(&state.databases, caller.tenant_id).await;
        Ok(NoContent::Done)
    }

    /// Firings of the tenant's rules, newest first.
    #[oai(path = "/alerts", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list_alerts(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        /// Only this status.
        status: Query<Option<AlertStatusView>>,
        /// Only this line.
        line_id: Query<Option<i32>>,
        /// Only this rule.
        rule_id: Query<Option<i32>>,
        /// Page size (1-1000).
        #[oai(default = "default_limit", validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<i64>,
        /// Rows to skip.
        #[oai(default, validator(minimum(value = "0"), maximum(value = "1000000")))]
        offset: Query<i64>,
    ) -> Result<Json<AlertPage>, ApiError> {
        let snapshot = state.cache.get(&state.databases, caller.tenant_id).await?;
        let pool = state.databases.tenant(caller.tenant_id).await?;
        let mut conn = pool.get().await?;
        let filter = AlertFilter {
            status: status.0.map(Into::into),
            line_id: line_id.0,
            rule_id: rule_id.0,
            limit: limit.0,
            offset: offset.0,
        };
        let (alerts, total) = alerts::list_alerts(&mut conn, &filter).await?;
        Ok(Json(AlertPage {
            items: alerts
                .into_iter()
                .map(|a| AlertView::view(a, snapshot.timezone))
                .collect(),
            total,
            limit: limit.0,
            offset: offset.0,
        }))
    }

    /// Acknowledge a firing: somebody saw it. Repeating it changes nothing.
    #[oai(path = "/alerts/:alert_id/ack", method = "post")]
    async fn acknowledge(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        alert_id: Path<i64>,
    ) -> Result<Json<AlertView>, ApiError> {
        Self::mark(&state, req, &caller, alert_id.0, FiringMark::Acknowledged).await
    }

    /// Resolve a firing by hand. While its condition still holds it does
    /// not fire again.
    #[oai(path = "/alerts/:alert_id/resolve", method = "post")]
    async fn resolve(
        &self,
        state: Data<&SharedState>,
        req: &Request,
        caller: Caller<ManagePlant>,
        alert_id: Path<i64>,
    ) -> Result<Json<AlertView>, ApiError> {
        Self::mark(&state, req, &caller, alert_id.0, FiringMark::Resolved).await
    }
}
