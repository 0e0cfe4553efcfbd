//! The HTTP layer: poem + poem-openapi. Handlers here only parse, authorize,
//! delegate to the domain modules and map results; every error leaves as
//! problem+json (see [`problem`]).

pub mod docs;
pub mod health;
pub mod middleware;
pub mod problem;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{OpenApiService, Tags};

use crate::app::SharedState;

/// Tags grouping operations in the OpenAPI document and Swagger UI.
#[derive(Tags)]
pub enum ApiTags {
    /// Liveness and readiness of the service.
    System,
}

/// Every API of the service, combined into one OpenAPI document.
pub fn api_service() -> OpenApiService<health::HealthApi, ()> {
    OpenApiService::new(health::HealthApi, "Camet Analytics API", env!("CARGO_PKG_VERSION")).description(
        "Headless API for industrial production monitoring: detections from vision sensors in, \
         exact KPIs (planned time, downtime, OEE) and Chart.js-ready series out. \
         Errors are RFC 9457 problem+json. Numbers follow the analytics semantics document.",
    )
}

/// The OpenAPI document as pretty JSON (what `/openapi.json` serves and
/// `openapi/openapi.json` commits).
pub fn openapi_json() -> String {
    api_service().spec()
}

/// The whole HTTP application: API, `/openapi.json`, `/docs`, middleware.
pub fn app(state: SharedState) -> impl Endpoint {
    let api = api_service();
    let spec = api.spec_endpoint();
    Route::new()
        .at("/openapi.json", spec)
        .at("/docs", docs::redirect_to_slash)
        .at("/docs/", docs::swagger_ui)
        .at("/docs/*path", docs::swagger_ui)
        .nest("/", api)
        .with(poem::middleware::CatchPanic::new())
        .around(middleware::request_context)
        .data(state)
}
