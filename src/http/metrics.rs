//! `/metrics`: Prometheus (OpenMetrics text) counters of requests by route
//! class, method and status class, and a latency histogram. Labels are
//! bounded: paths are reduced to their route class, never kept verbatim.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of one request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: String,
}

/// Labels of a latency observation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// The process's HTTP metrics.
#[derive(Debug)]
pub struct HttpMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("camet");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 1 ms to about 16 s.
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        registry.register(
            "http_requests",
            "HTTP requests by route class, method and status class",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route class",
            latency.clone(),
        );
        HttpMetrics {
            registry,
            requests,
            latency,
        }
    }
}

/// The route class of a path: `/api/v1/<resource>`, `/health`, `/docs`,
/// `/openapi.json`, `/metrics`, or `other` (keeps label cardinality bounded).
pub fn route_class(path: &str) -> String {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("api"), Some("v1"), Some(resource)) if !resource.is_empty() && resource.len() <= 32 => {
            let known = resource.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
            if known {
                format!("/api/v1/{resource}")
            } else {
                "other".into()
            }
        }
        (Some(first @ ("health" | "docs" | "openapi.json" | "metrics")), _, _) => format!("/{first}"),
        _ => "other".into(),
    }
}

impl HttpMetrics {
    /// Records one finished request.
    pub fn observe(&self, method: &str, path: &str, status: u16, seconds: f64) {
        let route = route_class(path);
        let method = match method {
            "GET" | "POST" | "PUT" | "DELETE" | "OPTIONS" | "HEAD" | "PATCH" => method.to_owned(),
            _ => "other".to_owned(),
        };
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.clone(),
                status: format!("{}xx", status / 100),
            })
            .inc();
        self.latency.get_or_create(&RouteLabels { route }).observe(seconds);
    }

    /// The metrics in OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) = encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "could not encode metrics");
        }
        out
    }
}

/// `GET /metrics`.
#[poem::handler]
pub fn metrics_endpoint(state: poem::web::Data<&crate::app::SharedState>) -> poem::Response {
    poem::Response::builder()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_reduce_to_bounded_route_classes() {
        assert_eq!(route_class("/api/v1/production/lines/7"), "/api/v1/production");
        assert_eq!(route_class("/api/v1/auth/login"), "/api/v1/auth");
        assert_eq!(route_class("/health/ready"), "/health");
        assert_eq!(route_class("/docs/swagger-ui.css"), "/docs");
        assert_eq!(route_class("/api/v1/<script>"), "other");
        assert_eq!(route_class("/wp-admin"), "other");
    }

    #[test]
    fn observations_are_rendered_in_openmetrics_text() {
        let metrics = HttpMetrics::default();
        metrics.observe("GET", "/api/v1/production/lines", 200, 0.004);
        metrics.observe("BREW", "/x", 418, 0.001);
        let text = metrics.render();
        assert!(
            text.contains(r#"camet_http_requests_total{method="GET",route="/api/v1/production",status="2xx"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"camet_http_requests_total{method="other",route="other",status="4xx"} 1"#),
            "{text}"
        );
        assert!(text.contains("camet_http_request_duration_seconds_bucket"));
        assert!(text.ends_with("# EOF\n"));
    }
}
