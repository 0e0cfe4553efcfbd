//! `GET /api/v1/metrics/losses` on both backends (semantics §10), on the
//! hand-checked day of `kpi.rs`: one shift, Monday 2026-11-16 08:00-10:00
//! (P = 7 200 s), products A (100 u/h: 36 s each) and B (60 u/h: 60 s).
//! Input in P: A 08:00:10, A 08:10, A 08:20, B 08:30. Output in P:
//! A 08:00:30, A 08:10:30, B 08:30:30. Timeline gaps of the output area in
//! P: 30 s, 600 s, 1 200 s, 5 370 s.
//!
//! Every figure below is worked out by hand:
//! - ideal time = 3 × 36 + 1 × 60 = 168 s; quality loss: A lost 3 − 2 = 1
//!   unit = 36 s, B none; fully productive = 168 − 36 = 132 s;
//! - threshold 300 s: stops 600 + 1 200 + 5 370 = 7 170 s (unassigned),
//!   operating 30 s; micro-stops (gaps > 30 s and ≤ 300 s): none — the
//!   30 s gap is not *longer* than 30 s; speed loss = 30 − 168 − 0 = −138 s;
//!   132 + 36 − 138 + 0 + 7 170 = 7 200 ✓;
//! - threshold 1 000 s: stops 1 200 + 5 370 = 6 570 s, operating 630 s;
//!   the 600 s gap is a micro-stop; speed loss = 630 − 168 − 600 = −138 s;
//!   132 + 36 − 138 + 600 + 6 570 = 7 200 ✓;
//! - TEEP = OEE × P ÷ calendar = 1.75 % × 7 200 ÷ 86 400 = 0.1458 → 0.15.

use crate::common::{TestApp, backends, expect_problem};
use reqwest::Method;
use serde_json::{Value, json};

struct Line {
    token: String,
    viewer: String,
    line_id: i64,
}

async fn known_line(app: &TestApp) -> Line {
    let plant = app.known_day_plant("Losses").await;
    Line {
        token: plant.token(),
        viewer: plant.tenant.viewer.1.clone(),
        line_id: plant.line_id,
    }
}

/// The line's persisted events of the day, after one downtime job run.
async fn persisted_events(app: &TestApp, line: &Line) -> Vec<Value> {
    camet::kpi::pending::recalculate_all(&app.state.databases, &app.state.cache, chrono::Utc::now())
        .await
        .expect("downtime job");
    app.authed(
        Method::GET,
        &format!(
            "/api/v1/downtime/{}/events?start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z",
            line.line_id
        ),
        &line.token,
    )
    .send()
    .await
    .expect("events")
    .json()
    .await
    .expect("json")
}

/// The id of the tenant's reason `code` (the default tree).
async fn reason_id(app: &TestApp, line: &Line, code: &str) -> i64 {
    let page: Value = app
        .authed(
            Method::GET,
            "/api/v1/production/downtime-reasons?limit=1000",
            &line.token,
        )
        .send()
        .await
        .expect("reasons")
        .json()
        .await
        .expect("json");
    page["items"]
        .as_array()
        .and_then(|items| items.iter().find(|r| r["code"] == code))
        .and_then(|r| r["reason_id"].as_i64())
        .unwrap_or_else(|| panic!("reason {code} in {page}"))
}

/// Assigns `reason` to the persisted `event`.
async fn assign(app: &TestApp, line: &Line, event: &Value, reason: i64) {
    app.post_ok(
        &line.token,
        &format!("/api/v1/downtime/{}/reasons", line.line_id),
        json!({"event_ids": [event["event_id"]], "reason_id": reason, "comment": "explained"}),
    )
    .await;
}

async fn losses(app: &TestApp, line: &Line, extra: &str) -> reqwest::Response {
    let path = format!(
        "/api/v1/metrics/losses?line_id={}&start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z{extra}",
        line.line_id
    );
    app.authed(Method::GET, &path, &line.token).send().await.expect("get")
}

async fn losses_ok(app: &TestApp, line: &Line, extra: &str) -> Value {
    let response = losses(app, line, extra).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_known_day_splits_into_the_hand_computed_losses() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        let answer = losses_ok(&app, &line, "").await;
        assert_eq!(answer["planned_time_seconds"], 7200.0);
        assert_eq!(answer["operating_time_seconds"], 30.0);
        assert_eq!(answer["downtime_threshold_seconds"], 300.0);
        assert_eq!(answer["micro_stop_threshold_seconds"], 30.0);
        assert_eq!(
            answer["losses"],
            json!([{"loss_class": "unassigned", "reason_id": null, "seconds": 7170.0, "count": 3}])
        );
        assert_eq!(answer["micro_stops"], json!({"count": 0, "seconds": 0.0}));
        assert_eq!(answer["ideal_time_seconds"], 168.0);
        assert_eq!(answer["quality_loss_seconds"], 36.0);
        assert_eq!(answer["speed_loss_seconds"], -138.0);
        assert_eq!(answer["fully_productive_seconds"], 132.0);
        assert_eq!(crate::common::loss_parts_micros(&answer), 7_200_000_000);
        // No breakdown has been assigned: nothing to take a mean of.
        assert_eq!(answer["mtbf_seconds"], Value::Null);
        assert_eq!(answer["mttr_seconds"], Value::Null);
        assert_eq!(answer["teep"], 0.15);
        assert_eq!(answer["warnings"], json!([]));

        // The OEE of the same request has the same planned and operating time.
        let oee = app
            .post_ok(
                &line.token,
                "/api/v1/metrics/oee",
                json!({"line_id": line.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"}),
            )
            .await;
        assert_eq!(oee["planned_time_seconds"], answer["planned_time_seconds"]);
        assert_eq!(oee["operating_time_seconds"], answer["operating_time_seconds"]);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_under_the_downtime_threshold_is_a_micro_stop() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        let answer = losses_ok(&app, &line, "&downtime_threshold=1000").await;
        assert_eq!(
            answer["losses"],
            json!([{"loss_class": "unassigned", "reason_id": null, "seconds": 6570.0, "count": 2}])
        );
        assert_eq!(answer["operating_time_seconds"], 630.0);
        assert_eq!(answer["micro_stops"], json!({"count": 1, "seconds": 600.0}));
        assert_eq!(answer["speed_loss_seconds"], -138.0);
        assert_eq!(answer["fully_productive_seconds"], 132.0);
        assert_eq!(crate::common::loss_parts_micros(&answer), 7_200_000_000);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_losses_requests_are_422_naming_the_field() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        for (extra, field) in [
            ("&downtime_threshold=0", "downtime_threshold"),
            ("&product_ids=999999", "product_ids"),
            ("&shift_id=999999", "shift_id"),
        ] {
            let problem = expect_problem(losses(&app, &line, extra).await, 422).await;
            assert!(
                crate::common::problem_fields(&problem).contains(&field),
                "{backend:?} {extra}: {problem}"
            );
        }
        let backwards = format!(
            "/api/v1/metrics/losses?line_id={}&start_date=2026-11-17T00:00:00Z&end_date=2026-11-16T00:00:00Z",
            line.line_id
        );
        let response = app
            .authed(Method::GET, &backwards, &line.token)
            .send()
            .await
            .expect("get");
        expect_problem(response, 422).await;
        app.stop().await;
    }
}

/// Reasons split the stops by class: the 1 200 s stop explained as a jam
/// (a breakdown) and the 600 s one as a changeover (setup); the 5 370 s
/// stop stays unassigned. MTBF = 30 s operating ÷ 1 breakdown; MTTR =
/// 1 200 s. The parts still add up to 7 200 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigned_reasons_split_the_stops_by_loss_class() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        let events = persisted_events(&app, &line).await;
        assert_eq!(events.len(), 3, "{backend:?}: {events:?}");
        let (jam, changeover) = (
            reason_id(&app, &line, "BRK-JAM").await,
            reason_id(&app, &line, "SET-CHANGEOVER").await,
        );
        assign(&app, &line, &events[1], jam).await;
        assign(&app, &line, &events[0], changeover).await;
        let answer = losses_ok(&app, &line, "").await;
        assert_eq!(
            answer["losses"],
            json!([
                {"loss_class": "breakdown", "reason_id": jam, "seconds": 1200.0, "count": 1},
                {"loss_class": "setup", "reason_id": changeover, "seconds": 600.0, "count": 1},
                {"loss_class": "unassigned", "reason_id": null, "seconds": 5370.0, "count": 1}
            ]),
            "{backend:?}"
        );
        assert_eq!(answer["mtbf_seconds"], 30.0);
        assert_eq!(answer["mttr_seconds"], 1200.0);
        assert_eq!(crate::common::loss_parts_micros(&answer), 7_200_000_000);
        loss_measures_by_hour_add_up(&app, &line).await;
        app.stop().await;
    }
}

/// The tenant's planned-stops rule (semantics §10) on the known day, with
/// the 1 200 s stop 08:10:30-08:30:30 explained as a break (loss class
/// `planned`):
/// - rule on (the default): the break leaves P: planned 7 200 − 1 200 =
///   6 000 s; stops 600 + 5 370 = 5 970 s (2); operating 30 s as before;
///   availability 30 ÷ 6 000 = 0.5 %. Units count over P without the
///   break (a stop's name does not change what the line made): input A 3,
///   B 1 (the input at 08:20 and at 08:30 inside the break too), output 3.
///   Losses: 132 + 36 − 138 + 5 970 = 6 000 ✓.
/// - rule off: the break is downtime of class `planned`: planned 7 200 s,
///   stops 7 170 s (3), availability 30 ÷ 7 200 = 0.42 %.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_explained_as_planned_leaves_planned_time_under_the_tenant_rule() {
    let day = |line: &Line| json!({"line_id": line.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"});
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        let tenant: Value = app
            .authed(Method::GET, "/api/v1/tenant", &line.viewer)
            .send()
            .await
            .expect("tenant")
            .json()
            .await
            .expect("json");
        assert_eq!(
            tenant["planned_stops_reduce_planned_time"], true,
            "{backend:?}: {tenant}"
        );
        let events = persisted_events(&app, &line).await;
        assert_eq!(events.len(), 3, "{backend:?}: {events:?}");
        let break_reason = reason_id(&app, &line, "PLN-BREAK").await;
        assign(&app, &line, &events[1], break_reason).await;

        let oee = app.post_ok(&line.viewer, "/api/v1/metrics/oee", day(&line)).await;
        assert_eq!(oee["planned_time_seconds"], 6000.0, "{backend:?}: {oee}");
        assert_eq!(oee["total_downtime_seconds"], 5970.0);
        assert_eq!(oee["downtime_count"], 2);
        assert_eq!(oee["operating_time_seconds"], 30.0);
        assert_eq!(oee["availability"], 0.5);
        assert_eq!(oee["total_production"], 4);
        assert_eq!(oee["good_units"], 3);
        assert_eq!(oee["planned_stops_reduce_planned_time"], true);
        let answer = losses_ok(&app, &line, "").await;
        assert_eq!(answer["planned_time_seconds"], 6000.0);
        assert_eq!(
            answer["losses"],
            json!([{"loss_class": "unassigned", "reason_id": null, "seconds": 5970.0, "count": 2}]),
            "{backend:?}"
        );
        assert_eq!(answer["fully_productive_seconds"], 132.0);
        assert_eq!(crate::common::loss_parts_micros(&answer), 6_000_000_000);
        assert_eq!(answer["planned_stops_reduce_planned_time"], true);
        // The KPI query is the same computation: the same planned time.
        let query = app
            .post_ok(
                &line.viewer,
                "/api/v1/metrics/query",
                json!({"line_ids": [line.line_id], "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z",
                       "measures": ["planned_time_seconds", "total_downtime_seconds", "availability", "good_units"]}),
            )
            .await;
        assert_eq!(query["totals"]["planned_time_seconds"], 6000.0, "{backend:?}: {query}");
        assert_eq!(query["totals"]["total_downtime_seconds"], 5970.0);
        assert_eq!(query["totals"]["good_units"], 3);
        assert_eq!(query["meta"]["planned_stops_reduce_planned_time"], true);
        // The break stays a persisted event with its reason: only reads apply the rule.
        let kept = persisted_events(&app, &line).await;
        assert_eq!(kept.len(), 3, "{backend:?}: {kept:?}");
        assert_eq!(kept[1]["reason_id"], break_reason);

        // A viewer may not change the rule; an admin may.
        let rules = |token: &str, reduce: bool| {
            app.authed(Method::PUT, "/api/v1/tenant/rules", token)
                .json(&json!({"planned_stops_reduce_planned_time": reduce}))
                .send()
        };
        expect_problem(rules(&line.viewer, false).await.expect("put"), 403).await;
        let changed = rules(&line.token, false).await.expect("put");
        assert_eq!(changed.status(), 200);
        let changed: Value = changed.json().await.expect("json");
        assert_eq!(changed["planned_stops_reduce_planned_time"], false);

        let oee = app.post_ok(&line.viewer, "/api/v1/metrics/oee", day(&line)).await;
        assert_eq!(oee["planned_time_seconds"], 7200.0, "{backend:?}: {oee}");
        assert_eq!(oee["total_downtime_seconds"], 7170.0);
        assert_eq!(oee["downtime_count"], 3);
        assert_eq!(oee["availability"], 0.42);
        assert_eq!(oee["good_units"], 3);
        assert_eq!(oee["planned_stops_reduce_planned_time"], false);
        let answer = losses_ok(&app, &line, "").await;
        assert_eq!(
            answer["losses"],
            json!([
                {"loss_class": "planned", "reason_id": break_reason, "seconds": 1200.0, "count": 1},
                {"loss_class": "unassigned", "reason_id": null, "seconds": 5970.0, "count": 2}
            ]),
            "{backend:?}"
        );
        assert_eq!(crate::common::loss_parts_micros(&answer), 7_200_000_000);
        // The change is in the audit trail.
        let audit: Value = app
            .authed(Method::GET, "/api/v1/audit?action=settings.update", &line.token)
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("json");
        assert!(
            audit.to_string().contains("planned_stops_reduce_planned_time"),
            "{backend:?}: {audit}"
        );
        app.stop().await;
    }
}

/// Every loss measure of `/metrics/query`.
const LOSS_MEASURES: [&str; 13] = [
    "ideal_time_seconds",
    "fully_productive_seconds",
    "quality_loss_seconds",
    "speed_loss_seconds",
    "micro_stop_seconds",
    "micro_stop_count",
    "breakdown_seconds",
    "setup_seconds",
    "minor_stop_seconds",
    "planned_stop_seconds",
    "unassigned_stop_seconds",
    "mtbf_seconds",
    "mttr_seconds",
];

/// The loss measures of `/metrics/query` by hour, after the reasons of
/// `assigned_reasons_split_the_stops_by_loss_class`:
/// - 08:00-09:00: planned 3 600 s; setup 600 (08:00:30-08:10:30),
///   breakdown 1 200 (08:10:30-08:30:30), unassigned 1 770 (the piece
///   08:30:30-09:00 of the 5 370 s stop); operating 30 s; every unit of
///   the day in it: ideal 168, quality loss 36, speed −138, fully
///   productive 132: 132 + 36 − 138 + 600 + 1 200 + 1 770 = 3 600 ✓;
/// - 09:00-10:00: planned 3 600 s, all unassigned stop;
/// - totals: those of `/metrics/losses`.
async fn loss_measures_by_hour_add_up(app: &TestApp, line: &Line) {
    let mut measures = vec!["planned_time_seconds"];
    measures.extend(LOSS_MEASURES);
    let answer = app
        .post_ok(
            &line.viewer,
            "/api/v1/metrics/query",
            json!({"line_ids": [line.line_id], "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z",
                   "grain": "1hour", "measures": measures}),
        )
        .await;
    let micros = |v: &Value| (v.as_f64().unwrap_or(0.0) * 1e6).round() as i64;
    let split = |row: &Value| -> i64 {
        [
            "fully_productive_seconds",
            "quality_loss_seconds",
            "speed_loss_seconds",
            "micro_stop_seconds",
            "breakdown_seconds",
            "setup_seconds",
            "minor_stop_seconds",
            "planned_stop_seconds",
            "unassigned_stop_seconds",
        ]
        .iter()
        .map(|key| micros(&row[*key]))
        .sum()
    };
    let rows = answer["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 24, "{answer}");
    for row in &rows {
        assert_eq!(split(row), micros(&row["planned_time_seconds"]), "{row}");
    }
    let eight = rows
        .iter()
        .find(|row| {
            row["bucket_start"]
                .as_str()
                .is_some_and(|s| s.starts_with("2026-11-16T08:00"))
        })
        .cloned()
        .unwrap_or_else(|| panic!("08:00 row in {answer}"));
    for (key, value) in [
        ("planned_time_seconds", json!(3600.0)),
        ("setup_seconds", json!(600.0)),
        ("breakdown_seconds", json!(1200.0)),
        ("unassigned_stop_seconds", json!(1770.0)),
        ("ideal_time_seconds", json!(168.0)),
        ("quality_loss_seconds", json!(36.0)),
        ("speed_loss_seconds", json!(-138.0)),
        ("fully_productive_seconds", json!(132.0)),
        ("micro_stop_count", json!(0)),
        ("mtbf_seconds", json!(30.0)),
        ("mttr_seconds", json!(1200.0)),
    ] {
        assert_eq!(eight[key], value, "{key} in {eight}");
    }
    let totals = &answer["totals"];
    assert_eq!(split(totals), 7_200_000_000, "{totals}");
    for (key, value) in [
        ("breakdown_seconds", json!(1200.0)),
        ("setup_seconds", json!(600.0)),
        ("unassigned_stop_seconds", json!(5370.0)),
        ("fully_productive_seconds", json!(132.0)),
        ("mtbf_seconds", json!(30.0)),
        ("mttr_seconds", json!(1200.0)),
    ] {
        assert_eq!(totals[key], value, "{key} in {totals}");
    }
    // Unknown loss-like names are still refused, naming the field.
    let response = app
        .authed(Method::POST, "/api/v1/metrics/query", &line.viewer)
        .json(&json!({"line_ids": [line.line_id], "preset": "yesterday", "measures": ["teep"]}))
        .send()
        .await
        .expect("query");
    let problem = expect_problem(response, 422).await;
    assert!(
        crate::common::problem_fields(&problem).contains(&"measures"),
        "{problem}"
    );
}
