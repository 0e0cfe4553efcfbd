//! Dashboards over HTTP: layouts and templates, the widget catalog, the
//! active filters, one widget's data and `/dashboard/run`. Thin: guard,
//! parse, delegate to [`crate::dashboard`], map.

use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use serde_json::{Map, Value};

use crate::app::SharedState;
use crate::auth::principal::Principal;
use crate::auth::roles::Role;
use crate::dashboard::catalog;
use crate::dashboard::filters::{self, FilterContext};
use crate::dashboard::orchestrator;
use crate::dashboard::widgets::Lang;
use crate::error::{AppError, AppResult};
use crate::http::ApiTags;
use crate::http::caller::{Caller, ManageDashboards, ManageTemplates, RunDashboards};
use crate::http::dashboard_views::{ActiveFilter, CatalogWidget, Layout, RunResponse, WidgetResult};
use crate::http::problem::ApiError;

/// Body of `POST /dashboard/run`.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct RunRequest {
    /// Filter values by key (`line_id`, `date_range`, `product_ids`, `area_ids`,
    /// `shift_id`, `interval`, `downtime_threshold`, `show_stops`); absent keys
    /// take the tenant's defaults (see `GET /dashboard/filters`).
    #[oai(default)]
    pub filters: Value,
}

/// Body of `POST /dashboard/widgets/{widget_id}/data`.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct WidgetDataRequest {
    /// Params, validated against the widget's `required_params` JSON Schema.
    pub params: Value,
}

fn object(field: &str, value: Value) -> AppResult<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(AppError::invalid_field(field, "must be a JSON object")),
    }
}

/// What the dashboard reads for `principal`'s tenant, taken from the
/// application state here so that [`crate::dashboard`] never sees it.
async fn sources<'a>(state: &'a SharedState, principal: &Principal) -> AppResult<orchestrator::Sources<'a>> {
    Ok(orchestrator::Sources {
        databases: &state.databases,
        pool: state.databases.tenant(principal.tenant_id).await?,
        snapshot: state.cache.get(&state.databases, principal.tenant_id).await?,
        broker: &state.broker,
        max_range_days: state.config.max_range_days,
    })
}

fn language(req: &poem::Request, lang: Option<&str>) -> Lang {
    let header = req.headers().get("accept-language").and_then(|v| v.to_str().ok());
    Lang::pick(lang, header)
}

/// Dashboards.
pub struct DashboardApi;

#[OpenApi(prefix_path = "/api/v1/dashboard", tag = "ApiTags::Dashboards")]
impl DashboardApi {
    /// The caller's role layout: the tenant's template, else the built-in default.
    #[oai(path = "/layout", method = "get")]
    async fn layout(&self, state: Data<&SharedState>, caller: Caller<RunDashboards>) -> Result<Json<Layout>, ApiError> {
        let principal = &*caller;
        let layout = catalog::layout_for(&state.databases, principal.tenant_id, principal.role).await?;
        Ok(Json(layout.into()))
    }

    /// Store a role's layout for the tenant (admin). Unknown widget ids are a 422.
    #[oai(path = "/templates/:role", method = "put")]
    async fn put_template(
        &self,
        state: Data<&SharedState>,
        req: &poem::Request,
        caller: Caller<ManageTemplates>,
        role: Path<String>,
        body: Json<Layout>,
    ) -> Result<Json<Layout>, ApiError> {
        let principal = &*caller;
        let role: Role = role.0.parse().map_err(|e: String| AppError::invalid_field("role", e))?;
        let client = crate::http::client_info(req, &state);
        let audit = crate::audit::AuditEntry::new(
            "dashboard.template.put",
            Some(principal.tenant_id),
            principal.user_id,
            &client,
        );
        let layout = catalog::Layout::from(body.0);
        let stored = catalog::store_template(&state.databases, principal.tenant_id, role, &layout, audit).await?;
        Ok(Json(stored.into()))
    }

    /// The widget catalog (admin, manager).
    ///
    /// Built-in widget names come in the chosen language; names an operator
    /// changed stay as written.
    #[oai(path = "/widgets/catalog", method = "get")]
    async fn catalog(
        &self,
        state: Data<&SharedState>,
        req: &poem::Request,
        _caller: Caller<ManageDashboards>,
        /// `es` (default) or `en`; else `Accept-Language`.
        lang: Query<Option<String>>,
    ) -> Result<Json<Vec<CatalogWidget>>, ApiError> {
        let lang = language(req, lang.0.as_deref());
        Ok(Json(
            catalog::load_in(&state.databases, lang)
                .await?
                .into_values()
                .map(CatalogWidget::from)
                .collect(),
        ))
    }

    /// The tenant's active filters with their options and defaults, to build a filter panel.
    ///
    /// A filter named with its type's built-in name (e.g. `Línea`) is named
    /// in the chosen language (`Line`), and so is a built-in description; a
    /// tenant's own names stay as written.
    #[oai(path = "/filters", method = "get")]
    async fn filters(
        &self,
        state: Data<&SharedState>,
        req: &poem::Request,
        caller: Caller<RunDashboards>,
        /// `es` (default) or `en`; else `Accept-Language`.
        lang: Query<Option<String>>,
    ) -> Result<Json<Vec<ActiveFilter>>, ApiError> {
        let principal = &*caller;
        let snapshot = state.cache.get(&state.databases, principal.tenant_id).await?;
        let ctx = FilterContext {
            snapshot: &snapshot,
            tz: snapshot.timezone,
            now: state.clock.now(),
            max_range_days: state.config.max_range_days,
        };
        let active = filters::active(&ctx, language(req, lang.0.as_deref()));
        Ok(Json(active.into_iter().map(ActiveFilter::from).collect()))
    }

    /// One widget's Chart.js-ready data. Params failing the widget's schema
    /// are a 422 naming the field; other failures come back in `error`.
    #[oai(path = "/widgets/:widget_id/data", method = "post")]
    async fn widget_data(
        &self,
        state: Data<&SharedState>,
        req: &poem::Request,
        caller: Caller<RunDashboards>,
        widget_id: Path<i32>,
        /// `es` (default) or `en`; else `Accept-Language`.
        lang: Query<Option<String>>,
        body: Json<WidgetDataRequest>,
    ) -> Result<Json<WidgetResult>, ApiError> {
        let principal = &*caller;
        let params = object("params", body.0.params)?;
        let logged = Value::Object(params.clone());
        let lang = language(req, lang.0.as_deref());
        let sources = sources(&state, principal).await?;
        let work = orchestrator::widget_data(&sources, widget_id.0, params, lang, state.clock.now());
        Ok(Json(
            crate::query_log::timed(&state, principal, "dashboard_widget", &logged, work)
                .await?
                .into(),
        ))
    }

    /// Run the caller's layout: filters validated by the filter registry,
    /// shared data computed once, widgets concurrently, one `error` per
    /// failing widget, timings in `meta`.
    #[oai(path = "/run", method = "post")]
    async fn run(
        &self,
        state: Data<&SharedState>,
        req: &poem::Request,
        caller: Caller<RunDashboards>,
        /// `es` (default) or `en`; else `Accept-Language`.
        lang: Query<Option<String>>,
        body: Json<RunRequest>,
    ) -> Result<Json<RunResponse>, ApiError> {
        let principal = &*caller;
        let filters = object("filters", body.0.filters)?;
        let lang = language(req, lang.0.as_deref());
        let sources = sources(&state, principal).await?;
        let work = orchestrator::run(&sources, principal, &filters, lang, state.clock.now());
        Ok(Json(
            crate::query_log::timed(&state, principal, "dashboard_run", &filters, work)
                .await?
                .into(),
        ))
    }
}
