//! Tenant isolation over every plant, data, KPI, downtime, rollup and
//! dashboard route (issue 10 item 6), on both backends: tenant B's admin
//! user and B's admin API key, aimed at tenant A's ids, get a 404 (the
//! dashboard run, whose line is a filter value, a 422 naming
//! `filters.line_id`), never a byte of A's data; B's lists show only B's
//! rows; and A's data is unchanged afterwards.
//!
//! Tenants have a database each, so ids repeat across tenants: A makes three
//! of everything and B one, and the matrix aims at A's third, an id that B's
//! database does not hold (so a 404 can only mean "not yours", and a route
//! that looked in A's database would answer 200 with A's names).

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestApp, backends, known_day_detections};

/// In every name A gives its objects; B must never see it.
const SECRET: &str = "ALPHASECRET";
/// In the names of B's own objects.
const OWN: &str = "BETAOWN";

fn id_of(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// A's third line, its areas, product, shift, filter, failure, incident and
/// a persisted downtime event of that line.
struct Targets {
    line: i64,
    input: i64,
    output: i64,
    product: i64,
    shift: i64,
    filter: i64,
    failure: i64,
    incident: i64,
    event: i64,
}

/// Creates, as `token`'s tenant, `count` of each kind named with `tag`, the
/// last line with areas and the known day's detections; returns the last ids.
async fn make_plant(app: &TestApp, token: &str, tag: &str, count: usize) -> Targets {
    let mut t = Targets {
        line: 0,
        input: 0,
        output: 0,
        product: 0,
        shift: 0,
        filter: 0,
        failure: 0,
        incident: 0,
        event: 0,
    };
    for i in 0..count {
        let line = app
            .post_ok(
                token,
                "/api/v1/production/lines",
                json!({"line_name": format!("{tag} line {i}"), "line_code": format!("L{i}"), "downtime_threshold": 300}),
            )
            .await;
        t.line = id_of(&line, "line_id");
        let area = |name: String, kind: &str, order: i32| json!({"line_id": t.line, "area_name": name, "area_type": kind, "area_order": order});
        t.input = id_of(
            &app.post_ok(
                token,
                "/api/v1/production/areas",
                area(format!("{tag} in {i}"), "input", 1),
            )
            .await,
            "area_id",
        );
        t.output = id_of(
            &app.post_ok(
                token,
                "/api/v1/production/areas",
                area(format!("{tag} out {i}"), "output", 2),
            )
            .await,
            "area_id",
        );
        t.product = id_of(
            &app.post_ok(
                token,
                "/api/v1/production/products",
                json!({"product_name": format!("{tag} product {i}"), "product_code": format!("P{i}"), "production_std": 100, "product_weight": "2.5"}),
            )
            .await,
            "product_id",
        );
        t.shift = id_of(
            &app.post_ok(
                token,
                "/api/v1/production/shifts",
                json!({"shift_name": format!("{tag} shift {i}"), "days_implemented": ["Monday"], "start_time": "08:00", "end_time": "10:00", "is_overnight": false}),
            )
            .await,
            "shift_id",
        );
        t.filter = id_of(
            &app.post_ok(
                token,
                "/api/v1/production/filters",
                json!({"filter_name": format!("{tag} filter {i}"), "class_name": "DateRangeFilter", "default_value": {"preset": "last_7_days"}}),
            )
            .await,
            "filter_id",
        );
        t.failure = id_of(
            &app.post_ok(
                token,
                "/api/v1/production/failures",
                json!({"type_failure": format!("{tag} failure {i}")}),
            )
            .await,
            "failure_id",
        );
        t.incident = id_of(
            &app.post_ok(
                token,
                "/api/v1/production/incidents",
                json!({"failure_id": t.failure, "line_id": t.line, "description": format!("{tag} incident {i}"), "reported_at": "2026-11-16T10:00:00Z"}),
            )
            .await,
            "incident_id",
        );
    }
    app.post_ok(
        token,
        &format!("/api/v1/lines/{}/detections", t.line),
        known_day_detections(t.input, t.output, t.product, t.product),
    )
    .await;
    app.post_ok(
        token,
        "/api/v1/downtime/recalculate",
        json!({"line_id": t.line, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"}),
    )
    .await;
    let events: Value = app
        .authed(
            Method::GET,
            &format!(
                "/api/v1/downtime/{}/events?start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z",
                t.line
            ),
            token,
        )
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    // The known day has three stops (tests/it/kpi.rs).
    assert_eq!(events.as_array().map(Vec::len), Some(3), "{events}");
    t.event = id_of(&events[2], "event_id");
    t
}

/// What A's admin sees of A's third line: to compare before and after.
async fn a_view(app: &TestApp, token: &str, t: &Targets) -> Vec<String> {
    let day = "start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z";
    let mut seen = Vec::new();
    for path in [
        format!("/api/v1/production/lines/{}", t.line),
        format!("/api/v1/production/areas/{}", t.input),
        format!("/api/v1/production/products/{}", t.product),
        format!("/api/v1/production/shifts/{}", t.shift),
        format!("/api/v1/production/filters/{}", t.filter),
        format!("/api/v1/production/failures/{}", t.failure),
        format!("/api/v1/production/incidents/{}", t.incident),
        format!("/api/v1/downtime/{}/events?{day}", t.line),
        format!("/api/v1/data/detections?line_id={}&{day}", t.line),
        format!("/api/v1/metrics/oee?line_id={}&{day}", t.line),
        "/api/v1/dashboard/layout".to_owned(),
    ] {
        let response = app.authed(Method::GET, &path, token).send().await.expect("get");
        assert_eq!(response.status(), 200, "A reads its own {path}");
        let mut body: Value = response.json().await.expect("json");
        // Freshness stamps move with the clock; everything else must not.
        if let Some(o) = body.as_object_mut() {
            o.remove("data_as_of");
        }
        seen.push(format!("{path} {body}"));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_reaches_none_of_a_tenants_plant_data_kpis_downtime_or_dashboard() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        app.state.clock.pin(
            chrono::DateTime::parse_from_rfc3339("2026-11-18T06:00:00Z")
                .expect("instant")
                .to_utc(),
        );
        let a = app.tenant_fixture("Alpha").await;
        let b = app.tenant_fixture("Beta").await;
        let t = make_plant(&app, &a.admin.1, SECRET, 3).await;
        let own = make_plant(&app, &b.admin.1, OWN, 1).await;
        for (name, a_id, b_id) in [
            ("line", t.line, own.line),
            ("area", t.input, own.input),
            ("product", t.product, own.product),
            ("shift", t.shift, own.shift),
            ("filter", t.filter, own.filter),
            ("failure", t.failure, own.failure),
            ("incident", t.incident, own.incident),
        ] {
            assert!(
                a_id > b_id,
                "{name}: A's target id {a_id} must not exist in B (B's last is {b_id})"
            );
        }
        let key: Value = app
            .post_ok(
                &b.admin.1,
                "/api/v1/api-keys",
                json!({"name": "B gateway", "role": "admin"}),
            )
            .await;
        let b_key = key["key"].as_str().expect("key").to_owned();
        let before = a_view(&app, &a.admin.1, &t).await;

        let day = "start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z";
        let window =
            json!({"line_id": t.line, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"});
        // Bodies that are valid in B (they name B's own line and failure),
        // so only the target id can make them fail.
        let mut matrix: Vec<(Method, String, Option<Value>, u16)> = Vec::new();
        for (kind, id, body) in [
            (
                "lines",
                t.line,
                json!({"line_name": "stolen", "line_code": "ST", "downtime_threshold": 60}),
            ),
            (
                "areas",
                t.input,
                json!({"line_id": own.line, "area_name": "stolen", "area_type": "input", "area_order": 1}),
            ),
            (
                "products",
                t.product,
                json!({"product_name": "stolen", "product_code": "ST", "production_std": 1, "product_weight": "1"}),
            ),
            (
                "shifts",
                t.shift,
                json!({"shift_name": "stolen", "days_implemented": ["Monday"], "start_time": "01:00", "end_time": "02:00", "is_overnight": false}),
            ),
            (
                "filters",
                t.filter,
                json!({"filter_name": "stolen", "class_name": "DateRangeFilter", "default_value": {"preset": "last_7_days"}}),
            ),
            ("failures", t.failure, json!({"type_failure": "stolen"})),
            (
                "incidents",
                t.incident,
                json!({"failure_id": own.failure, "line_id": own.line, "reported_at": "2026-11-16T10:00:00Z"}),
            ),
        ] {
            let path = format!("/api/v1/production/{kind}/{id}");
            matrix.push((Method::GET, path.clone(), None, 404));
            matrix.push((Method::PUT, path.clone(), Some(body), 404));
            matrix.push((Method::DELETE, path, None, 404));
        }
        let line = t.line;
        matrix.extend([
            (
                Method::POST,
                format!("/api/v1/lines/{line}/detections"),
                Some(json!([{"detected_at": "2026-11-16T09:00:00Z", "area_id": t.input, "product_id": t.product}])),
                404,
            ),
            (
                Method::POST,
                format!("/api/v1/lines/{line}/rollups/refresh"),
                Some(json!({"start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"})),
                404,
            ),
            (
                Method::GET,
                format!("/api/v1/data/detections?line_id={line}&{day}"),
                None,
                404,
            ),
            (Method::POST, "/api/v1/metrics/oee".to_owned(), Some(window.clone()), 404),
            (Method::GET, format!("/api/v1/metrics/oee?line_id={line}&{day}"), None, 404),
            (Method::POST, "/api/v1/metrics/summary".to_owned(), Some(window.clone()), 404),
            (Method::GET, format!("/api/v1/downtime?line_id={line}&{day}"), None, 404),
            (
                Method::POST,
                "/api/v1/downtime/recalculate".to_owned(),
                Some(window.clone()),
                404,
            ),
            (Method::GET, format!("/api/v1/downtime/{line}/events?{day}"), None, 404),
            (
                Method::PUT,
                format!("/api/v1/downtime/{line}/{}", t.event),
                Some(json!({"reason_code": "X", "reason": "stolen"})),
                404,
            ),
            // A's event id through B's own line: B has no such event.
            (
                Method::PUT,
                format!("/api/v1/downtime/{}/{}", own.line, t.event + 100),
                Some(json!({"reason_code": "X", "reason": "stolen"})),
                404,
            ),
            (
                Method::POST,
                "/api/v1/dashboard/widgets/8/data".to_owned(),
                Some(
                    json!({"params": {"line_id": line, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"}}),
                ),
                // A widget's errors travel in its envelope (200), as `not_found`.
                200,
            ),
            (
                Method::POST,
                "/api/v1/dashboard/run".to_owned(),
                Some(
                    json!({"filters": {"line_id": line, "date_range": {"start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"}}}),
                ),
                422,
            ),
        ]);
        for (method, path, body, expected) in &matrix {
            for who in ["B's admin user", "B's admin API key"] {
                let request = if who.ends_with("user") {
                    app.authed(method.clone(), path, &b.admin.1)
                } else {
                    app.client
                        .request(method.clone(), app.url(path))
                        .header("x-api-key", &b_key)
                };
                let request = match body {
                    Some(body) => request.json(body),
                    None => request,
                };
                let response = request.send().await.expect("request");
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let text = response.text().await.expect("body");
                assert_eq!(status, *expected, "{backend:?} {who}: {method} {path}: {text}");
                if *expected == 200 {
                    let envelope: Value = serde_json::from_str(&text).expect("widget envelope");
                    assert_eq!(envelope["data"], Value::Null, "{backend:?} {who}: {path}: {text}");
                    assert_eq!(
                        envelope["error"]["kind"], "not_found",
                        "{backend:?} {who}: {path}: {text}"
                    );
                } else {
                    assert!(
                        content_type.starts_with("application/problem+json"),
                        "{backend:?} {who}: {method} {path}: {content_type}"
                    );
                }
                assert!(
                    !text.contains(SECRET),
                    "{backend:?} {who}: {method} {path} leaks A's data: {text}"
                );
                if *expected == 422 {
                    assert!(text.contains("filters.line_id"), "{backend:?} {who}: {path}: {text}");
                }
            }
        }

        // B's lists and dashboard show B's own rows and none of A's.
        for path in [
            "/api/v1/production/lines",
            "/api/v1/production/areas",
            "/api/v1/production/products",
            "/api/v1/production/shifts",
            "/api/v1/production/filters",
            "/api/v1/production/failures",
            "/api/v1/production/incidents",
            "/api/v1/dashboard/filters",
        ] {
            let response = app.authed(Method::GET, path, &b.admin.1).send().await.expect("list");
            assert_eq!(response.status(), 200, "{backend:?}: {path}");
            let text = response.text().await.expect("body");
            assert!(text.contains(OWN), "{backend:?}: B sees its own rows in {path}: {text}");
            assert!(!text.contains(SECRET), "{backend:?}: {path} leaks A's rows: {text}");
        }
        // B's run of its own line counts B's rows only (A has the same day
        // on a line of the same name pattern; a mix would double the counts).
        let run = app
            .post_ok(
                &b.admin.1,
                "/api/v1/metrics/summary",
                json!({"line_id": own.line, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"}),
            )
            .await;
        assert_eq!(
            run["total_production"], 5,
            "{backend:?}: the known day's 5 inputs: {run}"
        );
        // B's admin rewrites B's admin template; A's layout stays as it was.
        let put = app
            .authed(Method::PUT, "/api/v1/dashboard/templates/admin", &b.admin.1)
            .json(&json!({"grid": [{"widget_id": 5, "x": 0, "y": 0, "w": 12, "h": 4}]}))
            .send()
            .await
            .expect("put");
        assert_eq!(put.status(), 200, "{backend:?}: B edits its own template");

        let after = a_view(&app, &a.admin.1, &t).await;
        assert_eq!(before, after, "{backend:?}: A's data is unchanged by B's attempts");
        app.stop().await;
    }
}
