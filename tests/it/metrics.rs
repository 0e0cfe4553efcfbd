//! `/metrics`: requests by route template, job runs, ingested detections,
//! rollup watermark lag per line and database pool connections, on both
//! backends.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::common::{TestApp, backends};

/// The value of the series named exactly `series` (name and labels), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    response.text().await.expect("metrics text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_name_route_templates_count_ingest_and_read_watermark_lag_and_pools() {
    for backend in backends() {
        // The jobs that read tenant databases run once at start (before the
        // tenant exists) and not again during the test.
        let app = TestApp::start_with(
            backend,
            &[
                ("CAMET_ROLLUP_JOB_SECS", "86400"),
                ("CAMET_DOWNTIME_JOB_SECS", "86400"),
                ("CAMET_CACHE_REFRESH_SECS", "3600"),
                ("CAMET_ROLLUP_SETTLE_SECS", "120"),
                ("CAMET_DB_POOL_SIZE", "4"),
            ],
        )
        .await;

        // Each job ran once at start; the first scrape that sees the
        // rollup job's run also shows it did not fail.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut text = scrape(&app).await;
        while value(&text, r#"camet_job_runs_total{job="rollup_watermark"}"#).is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            text = scrape(&app).await;
        }
        assert_eq!(
            value(&text, r#"camet_job_runs_total{job="rollup_watermark"}"#),
            Some(1.0),
            "{backend:?}: {text}"
        );
        assert_eq!(
            value(&text, r#"camet_job_failures_total{job="rollup_watermark"}"#),
            None,
            "{text}"
        );
        assert_eq!(
            value(&text, r#"camet_job_duration_seconds_count{job="rollup_watermark"}"#),
            Some(1.0),
            "{text}"
        );

        let now = Utc.with_ymd_and_hms(2026, 11, 16, 12, 0, 30).single().expect("instant");
        app.state.clock.pin(now);
        let plant = app
            .line_plant(
                "Metrics",
                json!({"line_name": "M", "line_code": "M1", "downtime_threshold": 120}),
                &[json!({"product_name": "P", "product_code": "P", "production_std": 120, "product_weight": "1.5"})],
                &[json!({"shift_name": "Día", "days_implemented": ["Monday"], "start_time": "08:00", "end_time": "12:00", "is_overnight": false})],
            )
            .await;
        let token = plant.token();
        let product = plant.products[0];
        let detection = |at: &str, id: &str| json!({"detected_at": format!("2026-11-16T{at}Z"), "area_id": plant.input, "product_id": product, "external_id": id});
        let ingest = format!("/api/v1/lines/{}/detections", plant.line_id);
        // 3 new, then 2 repeated + 1 new: 4 stored.
        let first = app
            .post_ok(
                &token,
                &ingest,
                json!([
                    detection("08:00:00", "a"),
                    detection("08:01:00", "b"),
                    detection("08:02:00", "c")
                ]),
            )
            .await;
        assert_eq!(first["inserted"], 3, "{first}");
        let second = app
            .post_ok(
                &token,
                &ingest,
                json!([
                    detection("08:00:00", "a"),
                    detection("08:01:00", "b"),
                    detection("08:03:00", "d")
                ]),
            )
            .await;
        assert_eq!(second["inserted"], 1, "{second}");

        // Two KPI routes with bodies missing every field (422): separate series.
        for route in ["/api/v1/metrics/oee", "/api/v1/metrics/summary"] {
            let response = app
                .authed(reqwest::Method::POST, route, &token)
                .json(&json!({}))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), 422, "{route}");
        }
        let line_path = format!("/api/v1/production/lines/{}", plant.line_id);
        let response = app
            .authed(reqwest::Method::GET, &line_path, &token)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);

        // The watermark moves to now − settle, in whole minutes:
        // 12:00:30 − 120 s = 11:58:30 → 11:58:00, so the lag is 150 s.
        crate::common::advance_rollups(&app.state, now).await.expect("advance");

        let text = scrape(&app).await;
        let tenant_id = plant.tenant.tenant_id;
        let expected = [
            (
                r#"camet_http_requests_total{method="POST",route="/api/v1/lines/{line_id}/detections",status="2xx"}"#
                    .to_owned(),
                2.0,
            ),
            (
                r#"camet_http_requests_total{method="POST",route="/api/v1/metrics/oee",status="4xx"}"#.to_owned(),
                1.0,
            ),
            (
                r#"camet_http_requests_total{method="POST",route="/api/v1/metrics/summary",status="4xx"}"#.to_owned(),
                1.0,
            ),
            (
                r#"camet_http_requests_total{method="GET",route="/api/v1/production/lines/{line_id}",status="2xx"}"#
                    .to_owned(),
                1.0,
            ),
            ("camet_detections_ingested_total".to_owned(), 4.0),
            (
                format!(
                    r#"camet_rollup_watermark_lag_seconds{{tenant_id="{tenant_id}",line_id="{}"}}"#,
                    plant.line_id
                ),
                150.0,
            ),
            (r#"camet_db_pool_max_connections{pool="global"}"#.to_owned(), 4.0),
            (
                format!(r#"camet_db_pool_max_connections{{pool="tenant_{tenant_id}"}}"#),
                4.0,
            ),
            ("camet_metrics_unreadable_tenant_databases".to_owned(), 0.0),
        ];
        for (series, figure) in &expected {
            assert_eq!(value(&text, series), Some(*figure), "{backend:?} {series} in:\n{text}");
        }
        // No raw ids in route labels.
        assert!(
            !text.contains(&format!("/production/lines/{}\"", plant.line_id)),
            "{text}"
        );

        // Holding every connection of the tenant's pool: 4 in use, 0 idle,
        // and the scrape cannot read that tenant's watermarks in time.
        let pool = app.state.databases.tenant(tenant_id).await.expect("pool");
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(pool.get().await.expect("connection"));
        }
        let text = scrape(&app).await;
        let tenant_pool = format!("tenant_{tenant_id}");
        assert_eq!(
            value(
                &text,
                &format!(r#"camet_db_pool_connections{{pool="{tenant_pool}",state="in_use"}}"#)
            ),
            Some(4.0),
            "{text}"
        );
        assert_eq!(
            value(
                &text,
                &format!(r#"camet_db_pool_connections{{pool="{tenant_pool}",state="idle"}}"#)
            ),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            value(&text, "camet_metrics_unreadable_tenant_databases"),
            Some(1.0),
            "{text}"
        );
        drop(held);
        app.stop().await;
    }
}
