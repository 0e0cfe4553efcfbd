//! `GET /api/v1/tenant` on both backends: every caller sees its own tenant
//! (name, time zone, language, enabled filter keys), and the demo enables
//! every filter.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestApp, backends, expect_problem};

/// Every filter key, in the registry's resolution order (written out here,
/// not read from the code under test).
const ALL_FILTER_KEYS: [&str; 8] = [
    "line_id",
    "date_range",
    "product_ids",
    "area_ids",
    "shift_id",
    "interval",
    "downtime_threshold",
    "show_stops",
];

async fn tenant_of(request: reqwest::RequestBuilder) -> Value {
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), 200, "{}", response.url());
    response.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_caller_sees_its_own_tenant_and_its_enabled_filters() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let alpha = app.tenant_fixture("Alpha Works").await;
        let beta = app.tenant_fixture("Beta Mill").await;

        // Alpha enables two filters (out of registry order) and one disabled one.
        for (class, status) in [
            ("ShowStopsFilter", true),
            ("LineFilter", true),
            ("IntervalFilter", false),
        ] {
            app.post_ok(
                &alpha.admin.1,
                "/api/v1/production/filters",
                json!({"filter_name": class, "class_name": class, "filter_status": status}),
            )
            .await;
        }

        for token in [&alpha.admin.1, &alpha.viewer.1] {
            let seen = tenant_of(app.authed(Method::GET, "/api/v1/tenant", token)).await;
            assert_eq!(
                seen,
                json!({
                    "tenant_id": alpha.tenant_id,
                    "name": "Alpha Works",
                    "timezone": "UTC",
                    "language": "es",
                    "filters": ["line_id", "show_stops"],
                    "planned_stops_reduce_planned_time": true
                }),
                "{backend:?}"
            );
        }

        // Beta's viewer, and an API key of Beta, see Beta only.
        let key = app
            .post_ok(
                &beta.admin.1,
                "/api/v1/api-keys",
                json!({"name": "erp", "role": "viewer"}),
            )
            .await["key"]
            .as_str()
            .expect("key")
            .to_owned();
        let by_viewer = tenant_of(app.authed(Method::GET, "/api/v1/tenant", &beta.viewer.1)).await;
        let by_key = tenant_of(app.client.get(app.url("/api/v1/tenant")).header("x-api-key", &key)).await;
        for seen in [by_viewer, by_key] {
            assert_eq!(seen["tenant_id"], beta.tenant_id, "{backend:?}");
            assert_eq!(seen["name"], "Beta Mill");
            assert_eq!(seen["filters"], json!([]), "Alpha's filters are not Beta's");
        }
        assert_ne!(alpha.tenant_id, beta.tenant_id);

        expect_problem(app.get("/api/v1/tenant").await, 401).await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_enables_every_filter() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let seed = camet::demo::seed(&app.state.databases, app.state.hashing, 1)
            .await
            .expect("demo");
        // Seeded straight into the databases (before serving, in production):
        // read the plant afresh, as a start would.
        app.state
            .cache
            .reload(&app.state.databases, seed.tenant_id)
            .await
            .expect("plant snapshot");
        let token = app.login_ok_with(&seed.username, &seed.password).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let seen = tenant_of(app.authed(Method::GET, "/api/v1/tenant", &token)).await;
        assert_eq!(
            seen,
            json!({
                "tenant_id": seed.tenant_id,
                "name": "Demo Plant",
                "timezone": "America/Santiago",
                "language": "es",
                "filters": ALL_FILTER_KEYS,
                "planned_stops_reduce_planned_time": true
            }),
            "{backend:?}"
        );
        // The filter panel offers the same eight, each once.
        let panel: Value = app
            .authed(Method::GET, "/api/v1/dashboard/filters", &token)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        let mut keys: Vec<&str> = panel
            .as_array()
            .expect("filters")
            .iter()
            .filter_map(|f| f["key"].as_str())
            .collect();
        keys.sort_unstable();
        let mut expected = ALL_FILTER_KEYS.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected, "{backend:?}");
        app.stop().await;
    }
}
