//! KPIs on both backends, on hand-built data whose answers are worked out by
//! hand from the semantics document (section numbers in comments).
//!
//! Line (UTC tenant): input and output areas, threshold 300 s. Products A
//! (100 u/h, 2.5 kg) and B (60 u/h, 1.25 kg). One shift, Monday 2026-11-16
//! 08:00-10:00, so P = [08:00, 10:00) (7 200 s).
//! Input:  A 08:00:10, A 08:10, A 08:20, B 08:30 (in P); A 11:00 (outside P).
//! Output: A 08:00:30, A 08:10:30, B 08:30:30 (in P); A 12:00 (outside P).
//! Gaps in P (points 08:00, 08:00:30, 08:10:30, 08:30:30, 10:00): 30 s,
//! 600 s, 1 200 s, 5 370 s -> three events > 300 s, 7 170 s in all (§4).

use crate::common::{TestApp, backends, expect_problem};
use reqwest::Method;
use serde_json::{Value, json};

struct Line {
    token: String,
    line_id: i64,
    product_a: i64,
}

async fn known_line(app: &TestApp) -> Line {
    let plant = app.known_day_plant("Kpi").await;
    Line {
        token: plant.token(),
        line_id: plant.line_id,
        product_a: plant.products[0],
    }
}

fn day(line: &Line) -> Value {
    json!({"line_id": line.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oee_matches_the_hand_computed_figures() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        let oee = app.post_ok(&line.token, "/api/v1/metrics/oee", day(&line)).await;
        // §2: only the shift is planned.
        assert_eq!(oee["planned_time_seconds"], 7200.0);
        // §4: three gaps longer than 300 s inside P.
        assert_eq!(oee["downtime_count"], 3);
        assert_eq!(oee["total_downtime_seconds"], 7170.0);
        assert_eq!(oee["operating_time_seconds"], 30.0);
        // §5: availability 30/7200 = 0.4166.. -> 0.42.
        assert_eq!(oee["availability"], 0.42);
        // §5: input detections inside P only (not 5, not every area).
        assert_eq!(oee["total_production"], 4);
        assert_eq!(oee["good_units"], 3);
        assert_eq!(oee["rejected_units"], 1);
        // §5: ideal time 3/100 h + 1/60 h = 168 s over 30 s operating = 560 %, not capped.
        assert_eq!(oee["performance"], 560.0);
        assert_eq!(oee["quality"], 75.0);
        // §5: 0.41666.. x 560 x 75 / 10 000 = 1.75 exactly, from unrounded factors.
        assert_eq!(oee["oee"], 1.75);
        // Good units x weight: 2 x 2.5 + 1 x 1.25.
        assert_eq!(oee["total_weight"], 6.25);
        assert_eq!(oee["warnings"], json!([]));

        // The GET form for ERP pulls answers the same.
        let pulled: Value = app
            .authed(
                Method::GET,
                &format!(
                    "/api/v1/metrics/oee?line_id={}&start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z",
                    line.line_id
                ),
                &line.token,
            )
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        let without_time = |mut v: Value| {
            v.as_object_mut().map(|o| o.remove("data_as_of"));
            v
        };
        assert_eq!(without_time(pulled), without_time(oee));
        app.stop().await;
    }
}

/// A product filter repeating one id 40 000 times is the filter of that id,
/// not a statement over either backend's bound-parameter limit (a 500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_filter_with_repeated_ids_is_the_filter_of_those_ids() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        let mut once = day(&line);
        once["product_ids"] = json!([line.product_a]);
        let mut repeated = day(&line);
        repeated["product_ids"] = json!(vec![line.product_a; 40_000]);
        let expected = app.post_ok(&line.token, "/api/v1/metrics/oee", once).await;
        let answer = app.post_ok(&line.token, "/api/v1/metrics/oee", repeated).await;
        for field in ["total_production", "good_units", "total_weight", "downtime_count"] {
            assert_eq!(answer[field], expected[field], "{backend:?}: {field}");
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_filters_apply_to_production_counts_only() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        let mut body = day(&line);
        body["product_ids"] = json!([line.product_a]);
        let oee = app.post_ok(&line.token, "/api/v1/metrics/oee", body).await;
        assert_eq!(
            oee["downtime_count"], 3,
            "a stopped line is stopped whatever the product"
        );
        assert_eq!(oee["total_production"], 3);
        assert_eq!(oee["good_units"], 2);
        // 3/100 h = 108 s over 30 s = 360 %; quality 2/3 = 66.67; oee 0.41666.. x 360 x 66.66.. / 10 000 = 1.
        assert_eq!(oee["performance"], 360.0);
        assert_eq!(oee["quality"], 66.67);
        assert_eq!(oee["oee"], 1.0);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_counts_the_whole_range_but_downtime_only_inside_planned_time() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        let summary = app.post_ok(&line.token, "/api/v1/metrics/summary", day(&line)).await;
        assert_eq!(summary["total_production"], 5, "input detections over the whole range");
        assert_eq!(
            summary["product_distribution"],
            json!({"Producto A": 3, "Producto B": 1}),
            "output detections"
        );
        assert_eq!(summary["total_weight"], 8.75, "3 x 2.5 + 1 x 1.25, exact");
        assert_eq!(summary["downtime_count"], 3);
        assert_eq!(summary["total_downtime_seconds"], 7170.0);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downtime_events_follow_the_threshold_and_never_span_unplanned_time() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        let path = |threshold: &str| {
            format!(
                "/api/v1/downtime?line_id={}&start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z{threshold}",
                line.line_id
            )
        };
        let events: Value = app
            .authed(Method::GET, &path(""), &line.token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(events["downtime_threshold"], 300.0);
        assert_eq!(
            events["events"],
            json!([
                {"start": "2026-11-16T08:00:30+00:00", "end": "2026-11-16T08:10:30+00:00", "duration_seconds": 600.0, "ongoing": false},
                {"start": "2026-11-16T08:10:30+00:00", "end": "2026-11-16T08:30:30+00:00", "duration_seconds": 1200.0, "ongoing": false},
                {"start": "2026-11-16T08:30:30+00:00", "end": "2026-11-16T10:00:00+00:00", "duration_seconds": 5370.0, "ongoing": false},
            ])
        );
        let longer: Value = app
            .authed(Method::GET, &path("&downtime_threshold=1000"), &line.token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(longer["downtime_count"], 2);
        assert_eq!(longer["total_downtime_seconds"], 6570.0);
        let bad = app
            .authed(Method::GET, &path("&downtime_threshold=0"), &line.token)
            .send()
            .await
            .expect("get");
        assert_eq!(
            expect_problem(bad, 422).await["errors"][0]["field"],
            "downtime_threshold"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_without_ideal_rate_nulls_performance_with_a_warning_and_bad_requests_are_422() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        let c = app
            .post_ok(
                &line.token,
                "/api/v1/production/products",
                json!({"product_name": "Producto C", "product_code": "C"}),
            )
            .await["product_id"]
            .as_i64()
            .expect("id");
        let areas: Value = app
            .authed(
                Method::GET,
                &format!("/api/v1/production/areas?line_id={}&area_type=input", line.line_id),
                &line.token,
            )
            .send()
            .await
            .expect("areas")
            .json()
            .await
            .expect("json");
        let input = areas["items"][0]["area_id"].as_i64().expect("input");
        app.post_ok(
            &line.token,
            &format!("/api/v1/lines/{}/detections", line.line_id),
            json!([{"detected_at": "2026-11-16T09:00:00Z", "area_id": input, "product_id": c}]),
        )
        .await;
        let oee = app.post_ok(&line.token, "/api/v1/metrics/oee", day(&line)).await;
        assert!(oee["performance"].is_null() && oee["oee"].is_null(), "{oee}");
        assert!(
            oee["warnings"][0].as_str().unwrap_or_default().contains("Producto C"),
            "{oee}"
        );
        assert_eq!(oee["availability"], 0.42, "the other factors are still given");

        let mut reversed = day(&line);
        reversed["end_date"] = json!("2026-11-15T00:00:00Z");
        let problem = expect_problem(
            app.authed(Method::POST, "/api/v1/metrics/oee", &line.token)
                .json(&reversed)
                .send()
                .await
                .expect("post"),
            422,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "end_date");

        let bare = app
            .post_ok(
                &line.token,
                "/api/v1/production/lines",
                json!({"line_name": "Empty", "line_code": "E1"}),
            )
            .await;
        let mut no_areas = day(&line);
        no_areas["line_id"] = bare["line_id"].clone();
        let problem = expect_problem(
            app.authed(Method::POST, "/api/v1/metrics/oee", &line.token)
                .json(&no_areas)
                .send()
                .await
                .expect("post"),
            422,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "line_id");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(&bare["line_id"].to_string()),
            "{problem}"
        );
        app.stop().await;
    }
}

async fn persisted(app: &TestApp, line: &Line) -> Vec<Value> {
    let path = format!(
        "/api/v1/downtime/{}/events?start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z",
        line.line_id
    );
    let body: Value = app
        .authed(Method::GET, &path, &line.token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    body.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persisted_events_are_recomputed_idempotently_and_keep_their_reasons_when_split() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        let window =
            json!({"line_id": line.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"});
        let first = app
            .post_ok(&line.token, "/api/v1/downtime/recalculate", window.clone())
            .await;
        assert_eq!(first, json!({"inserted": 3, "updated": 0, "deleted": 0, "orphaned": 0}));
        let again = app
            .post_ok(&line.token, "/api/v1/downtime/recalculate", window.clone())
            .await;
        assert_eq!(
            again,
            json!({"inserted": 0, "updated": 0, "deleted": 0, "orphaned": 0}),
            "recomputing changes nothing"
        );
        let events = persisted(&app, &line).await;
        assert_eq!(events.len(), 3);
        assert_eq!(events[1]["start"], "2026-11-16T08:10:30+00:00");
        assert_eq!(events[1]["duration_seconds"], 1200.0, "the same events as on the fly");

        // Someone explains the 08:10:30-08:30:30 stop.
        let id = events[1]["event_id"].as_i64().expect("id");
        let explained = app
            .authed(
                Method::PUT,
                &format!("/api/v1/downtime/{}/{id}", line.line_id),
                &line.token,
            )
            .json(&json!({"reason_code": "JAM", "reason": "Atasco en cinta"}))
            .send()
            .await
            .expect("put");
        assert_eq!(explained.status(), 200);
        // A late detection at 08:20 splits it in two stops (570 s and 630 s, both > 300 s).
        let areas: Value = app
            .authed(
                Method::GET,
                &format!("/api/v1/production/areas?line_id={}&area_type=output", line.line_id),
                &line.token,
            )
            .send()
            .await
            .expect("areas")
            .json()
            .await
            .expect("json");
        let output = areas["items"][0]["area_id"].as_i64().expect("output");
        app.post_ok(
            &line.token,
            &format!("/api/v1/lines/{}/detections", line.line_id),
            json!([{"detected_at": "2026-11-16T08:20:00Z", "area_id": output, "product_id": line.product_a}]),
        )
        .await;
        app.post_ok(&line.token, "/api/v1/downtime/recalculate", window).await;
        let events = persisted(&app, &line).await;
        assert_eq!(events.len(), 4, "{events:?}");
        for part in &events[1..3] {
            assert_eq!(
                part["reason_code"], "JAM",
                "both parts of the split stop keep the reason: {events:?}"
            );
        }
        assert!(events[0]["reason_code"].is_null() && events[3]["reason_code"].is_null());

        let audit: Value = app
            .authed(Method::GET, "/api/v1/audit?action=downtime.reason", &line.token)
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("json");
        assert_eq!(audit["items"][0]["new_values"]["reason_code"], "JAM");
        let missing = app
            .authed(
                Method::PUT,
                &format!("/api/v1/downtime/{}/999999", line.line_id),
                &line.token,
            )
            .json(&json!({"reason": "x"}))
            .send()
            .await
            .expect("put");
        expect_problem(missing, 404).await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recalculation_job_covers_every_active_line_and_is_idempotent() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        // The job looks back from "now": pin it to the fixture's next day, so
        // the test means the same whatever day it runs.
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-17T06:00:00Z")
            .expect("fixture instant")
            .to_utc();
        app.state.clock.pin(now);
        let window = chrono::Duration::days(30);
        let lines = crate::common::recalculate_downtime(&app.state, window, now)
            .await
            .expect("job");
        assert_eq!(lines, 1, "the line with areas (lines without areas are skipped)");
        assert_eq!(persisted(&app, &line).await.len(), 3);
        crate::common::recalculate_downtime(&app.state, window, now)
            .await
            .expect("job again");
        assert_eq!(persisted(&app, &line).await.len(), 3);
        // Leases: free -> ours (and renewable); held live by another instance -> not ours.
        let ttl = std::time::Duration::from_secs(60);
        assert!(camet::jobs::take_lease(&app.state, "t", ttl).await.expect("lease"));
        assert!(camet::jobs::take_lease(&app.state, "t", ttl).await.expect("renew"));
        let mut conn = app.state.databases.global().get().await.expect("conn");
        camet::with_conn!(&mut conn, |c| diesel_async::RunQueryDsl::execute(
            diesel::sql_query(
                "UPDATE job_lease SET holder = 'another-instance', expires_at = '2999-01-01 00:00:00' WHERE name = 't'"
            ),
            c
        )
        .await)
        .expect("steal");
        drop(conn);
        assert!(
            !camet::jobs::take_lease(&app.state, "t", ttl).await.expect("lease"),
            "a live lease of another instance blocks"
        );
        app.stop().await;
    }
}
