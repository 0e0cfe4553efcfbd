//! `/metrics`: Prometheus (OpenMetrics text) metrics of this process.
//!
//! - requests by route template (`/api/v1/metrics/oee`,
//!   `/api/v1/production/lines/{line_id}`: path parameters stay named, never
//!   raw values), method and status class, and a latency histogram;
//! - background job runs, failures and durations per job;
//! - detections ingested through the API;
//! - read when scraped: the rollup watermark lag of every line (seconds
//!   behind the state's clock) and the connections in use and idle of every
//!   open database pool.
//!
//! Labels are bounded: a path that matches no route of the API is `other`.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::http::routes::{OPENAPI, PathTemplate, most_specific};

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

/// Labels of a background job.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
}

/// Labels of a line's watermark lag.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LineLabels {
    tenant_id: String,
    line_id: String,
}

/// Labels of a pool's connections.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: String,
    state: String,
}

/// Labels of a pool's size limit.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolNameLabels {
    pool: String,
}

/// The recorders of background jobs (clones share the counts).
#[derive(Clone, Debug)]
pub struct JobMetrics {
    runs: Family<JobLabels, Counter>,
    failures: Family<JobLabels, Counter>,
    duration: Family<JobLabels, Histogram, fn() -> Histogram>,
}

fn job_histogram() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

impl JobMetrics {
    fn new() -> JobMetrics {
        JobMetrics {
            runs: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(job_histogram as fn() -> Histogram),
        }
    }

    /// Records one run of `job` that took `seconds` and failed or not.
    pub fn observe(&self, job: &str, failed: bool, seconds: f64) {
        let labels = JobLabels { job: job.to_owned() };
        self.runs.get_or_create(&labels).inc();
        if failed {
            self.failures.get_or_create(&labels).inc();
        }
        self.duration.get_or_create(&labels).observe(seconds);
    }
}

/// The process's metrics that are counted as things happen.
#[derive(Debug)]
pub struct HttpMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    jobs: JobMetrics,
    ingested: Counter,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("camet");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 1 ms to about 16 s.
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        let jobs = JobMetrics::new();
        let ingested = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template, method and status class",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            latency.clone(),
        );
        registry.register(
            "job_runs",
            "Runs of each background job (a run that found the job's lease held elsewhere counts too)",
            jobs.runs.clone(),
        );
        registry.register(
            "job_failures",
            "Failed runs of each background job",
            jobs.failures.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Duration of each background job run",
            jobs.duration.clone(),
        );
        registry.register(
            "detections_ingested",
            "Detections stored through the ingest API (duplicates not counted)",
            ingested.clone(),
        );
        HttpMetrics {
            registry,
            requests,
            latency,
            jobs,
            ingested,
        }
    }
}

/// Route templates of the API, read once from its own OpenAPI document.
static TEMPLATES: LazyLock<Vec<(PathTemplate, String)>> = LazyLock::new(|| {
    OPENAPI
        .get("paths")
        .and_then(|p| p.as_object())
        .map(|paths| {
            paths
                .keys()
                .map(|template| (PathTemplate::parse(template), template.clone()))
                .collect()
        })
        .unwrap_or_default()
});

/// The route label of a path: the API's route template that serves it (as
/// the router picks it: a literal beats a parameter), `/docs`,
/// `/openapi.json`, `/metrics`, or `other`.
pub fn route_label(path: &str) -> String {
    if let Some((_, template)) = most_specific(TEMPLATES.iter(), path, |(template, _)| template) {
        return template.clone();
    }
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next()) {
        (Some(first @ ("docs" | "openapi.json" | "metrics")), _) => format!("/{first}"),
        _ => "other".into(),
    }
}

/// Figures read when `/metrics` is scraped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// `(tenant_id, line_id, seconds)`: how far each line's rollup watermark is behind now.
    pub watermark_lag: Vec<(i32, i32, f64)>,
    /// `(pool, stats)`: `global` and `tenant_<id>` for each open tenant pool.
    pub pools: Vec<(String, crate::db::PoolStats)>,
    /// Tenant databases that could not be read in time (their lag is missing).
    pub unreadable: u64,
}

impl HttpMetrics {
    /// Records one finished request.
    pub fn observe(&self, method: &str, path: &str, status: u16, seconds: f64) {
        let route = route_label(path);
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

    /// The job recorders (shared with the counts rendered here).
    pub fn jobs(&self) -> JobMetrics {
        self.jobs.clone()
    }

    /// Counts `count` detections stored through the ingest API.
    pub fn ingested(&self, count: usize) {
        self.ingested.inc_by(count as u64);
    }

    /// The metrics in OpenMetrics text format, with `snapshot`'s gauges.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut scraped = Registry::with_prefix("camet");
        let lag = Family::<LineLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        for (tenant_id, line_id, seconds) in &snapshot.watermark_lag {
            lag.get_or_create(&LineLabels {
                tenant_id: tenant_id.to_string(),
                line_id: line_id.to_string(),
            })
            .set(*seconds);
        }
        scraped.register(
            "rollup_watermark_lag_seconds",
            "How far each line's rollup watermark is behind now",
            lag,
        );
        let connections = Family::<PoolLabels, Gauge>::default();
        let max = Family::<PoolNameLabels, Gauge>::default();
        for (pool, stats) in &snapshot.pools {
            for (state, count) in [("in_use", stats.in_use), ("idle", stats.idle)] {
                connections
                    .get_or_create(&PoolLabels {
                        pool: pool.clone(),
                        state: state.to_owned(),
                    })
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
            max.get_or_create(&PoolNameLabels { pool: pool.clone() })
                .set(i64::try_from(stats.max).unwrap_or(i64::MAX));
        }
        scraped.register(
            "db_pool_connections",
            "Connections of each database pool, in use or idle",
            connections,
        );
        scraped.register("db_pool_max_connections", "Size limit of each database pool", max);
        let unreadable = Gauge::<i64>::default();
        unreadable.set(i64::try_from(snapshot.unreadable).unwrap_or(i64::MAX));
        scraped.register(
            "metrics_unreadable_tenant_databases",
            "Tenant databases this scrape could not read in time (their watermark lag is missing)",
            unreadable,
        );

        let mut out = String::new();
        let encoded = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &scraped))
            .and_then(|()| encode_eof(&mut out));
        if let Err(e) = encoded {
            tracing::error!(error = %e, "could not encode metrics");
        }
        out
    }
}

/// How long reading one tenant's watermarks may take during a scrape.
const SCRAPE_READ_LIMIT: Duration = Duration::from_secs(2);

/// Reads the gauges of a scrape: watermark lag of every line of every
/// tenant, and every open pool's connections. A database that does not
/// answer in time is counted as unreadable, never an error of the scrape.
pub async fn snapshot(state: &crate::app::AppState) -> Snapshot {
    let now = state.clock.now();
    let mut snapshot = Snapshot::default();
    let tenants = match crate::db::bounded(SCRAPE_READ_LIMIT, crate::tenants::all_ids(&state.databases)).await {
        Some(Ok(ids)) => ids,
        _ => {
            snapshot.unreadable += 1;
            Vec::new()
        }
    };
    for tenant_id in tenants {
        let read = async {
            let pool = state.databases.tenant(tenant_id).await?;
            let mut conn = pool.get().await?;
            crate::rollup::store::watermarks(&mut conn).await
        };
        match crate::db::bounded(SCRAPE_READ_LIMIT, read).await {
            Some(Ok(marks)) => snapshot.watermark_lag.extend(
                marks
                    .into_iter()
                    .map(|(line_id, mark)| (tenant_id, line_id, (now - mark).num_milliseconds() as f64 / 1000.0)),
            ),
            Some(Err(error)) => {
                tracing::warn!(tenant_id, %error, "metrics: cannot read the rollup watermarks");
                snapshot.unreadable += 1;
            }
            None => {
                tracing::warn!(tenant_id, "metrics: the rollup watermarks did not come in time");
                snapshot.unreadable += 1;
            }
        }
    }
    snapshot
        .pools
        .push(("global".to_owned(), state.databases.global().stats()));
    let mut tenant_pools = state.databases.open_tenant_pools().await;
    tenant_pools.sort_by_key(|(id, _)| *id);
    snapshot.pools.extend(
        tenant_pools
            .into_iter()
            .map(|(id, pool)| (format!("tenant_{id}"), pool.stats())),
    );
    snapshot
}

/// `GET /metrics`.
#[poem::handler]
pub async fn metrics_endpoint(state: poem::web::Data<&crate::app::SharedState>) -> poem::Response {
    let snapshot = snapshot(&state).await;
    poem::Response::builder()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render(&snapshot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_reduce_to_their_route_templates() {
        assert_eq!(
            route_label("/api/v1/production/lines/7"),
            "/api/v1/production/lines/{line_id}"
        );
        assert_eq!(route_label("/api/v1/production/lines"), "/api/v1/production/lines");
        assert_eq!(route_label("/api/v1/metrics/oee"), "/api/v1/metrics/oee");
        assert_eq!(route_label("/api/v1/metrics/summary"), "/api/v1/metrics/summary");
        assert_eq!(
            route_label("/api/v1/downtime/3/events"),
            "/api/v1/downtime/{line_id}/events"
        );
        assert_eq!(
            route_label("/api/v1/downtime/3/9"),
            "/api/v1/downtime/{line_id}/{event_id}"
        );
        assert_eq!(route_label("/api/v1/auth/login"), "/api/v1/auth/login");
        assert_eq!(route_label("/health/ready"), "/health/ready");
        assert_eq!(route_label("/docs/swagger-ui.css"), "/docs");
        assert_eq!(route_label("/api/v1/<script>"), "other");
        assert_eq!(route_label("/api/v1/production/lines/7/x/y"), "other");
        assert_eq!(route_label("/wp-admin"), "other");
    }

    #[test]
    fn observations_are_rendered_in_openmetrics_text() {
        let metrics = HttpMetrics::default();
        metrics.observe("GET", "/api/v1/production/lines", 200, 0.004);
        metrics.observe("BREW", "/x", 418, 0.001);
        metrics.jobs().observe("rollup_watermark", true, 0.5);
        metrics.ingested(3);
        let snapshot = Snapshot {
            watermark_lag: vec![(2, 5, 90.5)],
            pools: vec![(
                "global".into(),
                crate::db::PoolStats {
                    in_use: 1,
                    idle: 3,
                    max: 5,
                },
            )],
            unreadable: 0,
        };
        let text = metrics.render(&snapshot);
        for expected in [
            r#"camet_http_requests_total{method="GET",route="/api/v1/production/lines",status="2xx"} 1"#,
            r#"camet_http_requests_total{method="other",route="other",status="4xx"} 1"#,
            r#"camet_job_runs_total{job="rollup_watermark"} 1"#,
            r#"camet_job_failures_total{job="rollup_watermark"} 1"#,
            r#"camet_job_duration_seconds_count{job="rollup_watermark"} 1"#,
            "camet_detections_ingested_total 3",
            r#"camet_rollup_watermark_lag_seconds{tenant_id="2",line_id="5"} 90.5"#,
            r#"camet_db_pool_connections{pool="global",state="in_use"} 1"#,
            r#"camet_db_pool_connections{pool="global",state="idle"} 3"#,
            r#"camet_db_pool_max_connections{pool="global"} 5"#,
        ] {
            assert!(text.contains(expected), "{expected} in:\n{text}");
        }
        assert!(text.contains("camet_http_request_duration_seconds_bucket"));
        assert_eq!(text.matches("# EOF").count(), 1, "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
