//! The HTTP layer: poem + poem-openapi. Handlers here only parse, authorize
//! (a [`caller::Caller`] argument names the right they need), delegate to the
//! domain modules and map results; every error leaves as problem+json (see
//! [`problem`]).

pub mod alerts_api;
pub mod audit_api;
pub mod auth_api;
pub mod caller;
pub mod conditional;
pub mod dashboard_api;
pub mod dashboard_views;
pub mod data_api;
pub mod data_views;
pub mod docs;
pub mod examples;
pub mod export_slots;
pub mod exports;
pub mod formats;
pub mod health;
pub mod kpi_api;
pub mod kpi_views;
pub mod live_api;
pub mod losses_api;
pub mod metrics;
pub mod middleware;
pub mod plant;
pub mod problem;
pub mod query_api;
pub mod rate_limit;
pub mod routes;
pub mod security;
pub mod shared_limits;
pub mod spec;
pub mod strict_json;
pub mod tenant_api;
pub mod transport;
pub mod users_api;
pub mod webhooks_api;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

use crate::app::SharedState;

/// Tags grouping operations in the OpenAPI document and Swagger UI.
#[derive(Tags)]
pub enum ApiTags {
    /// Liveness and readiness of the service.
    System,
    /// Login, tokens and sessions.
    Auth,
    /// The caller's tenant: name, time zone, language, enabled filters.
    Tenant,
    /// Users and API keys of the tenant (admins).
    Users,
    /// The audit log (admins).
    Audit,
    /// Plant configuration: lines, areas, products, shifts, filters, failures, incidents.
    Production,
    /// Detections: ingest and raw data.
    Data,
    /// KPIs: OEE, summary, downtime.
    Kpi,
    /// Dashboards: layouts, widget catalog, filters, widget data and runs.
    Dashboards,
    /// Live: line state now, the event stream, alert rules and alerts, webhooks.
    Live,
}

/// The combined API structs, one per domain; the plant's are one per
/// resource, nested because poem-openapi combines at most 16 in a tuple.
pub type Apis = (
    health::HealthApi,
    auth_api::AuthApi,
    tenant_api::TenantApi,
    users_api::UsersApi,
    audit_api::AuditApi,
    plant::PlantApis,
    data_api::DataApi,
    kpi_api::KpiApi,
    losses_api::LossesApi,
    query_api::QueryApi,
    dashboard_api::DashboardApi,
    (live_api::LiveApi, alerts_api::AlertsApi, webhooks_api::WebhooksApi),
);

/// Every API of the service, combined into one OpenAPI document.
pub fn api_service() -> OpenApiService<Apis, ()> {
    let apis = (
        health::HealthApi,
        auth_api::AuthApi,
        tenant_api::TenantApi,
        users_api::UsersApi,
        audit_api::AuditApi,
        plant::apis(),
        data_api::DataApi,
        kpi_api::KpiApi,
        losses_api::LossesApi,
        query_api::QueryApi,
        dashboard_api::DashboardApi,
        (live_api::LiveApi, alerts_api::AlertsApi, webhooks_api::WebhooksApi),
    );
    OpenApiService::new(apis, "Camet Analytics API", env!("CARGO_PKG_VERSION")).description(
        "Headless API for industrial production monitoring: detections from vision sensors in, \
         exact KPIs (planned time, downtime, OEE) and Chart.js-ready series out. \
         Errors are RFC 9457 problem+json. Numbers follow the analytics semantics document.",
    )
}

/// The OpenAPI document as pretty JSON (what `/openapi.json` serves and
/// `openapi/openapi.json` commits): the generated one with the corrections
/// of [`spec`].
pub fn openapi_json() -> String {
    spec::document_text().to_owned()
}

/// Who is calling, for audit rows: client IP (X-Forwarded-For believed only
/// from trusted proxies), user agent and request id.
pub fn client_info(req: &poem::Request, state: &crate::app::AppState) -> crate::audit::ClientInfo {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let forwarded = (!forwarded.is_empty()).then(|| forwarded.join(","));
    let ip = peer.map(|peer| state.config.auth.trusted_proxies.client_ip(peer, forwarded.as_deref()));
    let user_agent = req
        .headers()
        .get(poem::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect());
    crate::audit::ClientInfo {
        ip,
        user_agent,
        request_id: problem::current_request_id(),
    }
}

/// The whole HTTP application: API, `/openapi.json`, `/docs`, middleware.
pub fn app(state: SharedState) -> impl Endpoint {
    let api = api_service();
    let origins = state.config.auth.cors_origins.clone();
    let cors = poem::middleware::Cors::new()
        .allow_origins(origins.iter().map(String::as_str))
        .allow_methods(["GET", "POST", "PUT", "DELETE", "OPTIONS"])
        .allow_headers([
            "authorization",
            "content-type",
            "x-api-key",
            "x-request-id",
            "accept-language",
        ])
        .expose_headers(["x-request-id", "retry-after", "ratelimit", "ratelimit-policy"])
        .max_age(600);
    Route::new()
        .at("/openapi.json", spec::serve)
        .at("/metrics", metrics::metrics_endpoint)
        .at("/docs", docs::redirect_to_slash)
        .at("/docs/", docs::swagger_ui)
        .at("/docs/*path", docs::swagger_ui)
        .nest("/", api)
        .with(poem::middleware::CatchPanic::new())
        .with_if(!origins.is_empty(), cors)
        .around(middleware::request_context)
        .around(transport::allow_on_405)
        .data(state)
}
