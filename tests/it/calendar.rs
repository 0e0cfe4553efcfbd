//! Planned stops (semantics §2 and §10) on both backends: shift breaks,
//! holidays and shutdowns (`/production/calendar`), and the line's
//! `micro_stop_threshold`. Every figure is worked out by hand below.
//!
//! The golden days. Tenant in UTC; line L1 (threshold 300 s) with areas In
//! and Out, product A (120 u/h, 2 kg); a second line L2 with areas and no
//! detection. Shift "Día" Monday and Tuesday 08:00-12:00 (every line) with a
//! break 10:00-10:30. Holiday on Tuesday 2026-11-17 (every line); a shutdown
//! of L2 alone on Monday 2026-11-16.
//!
//! Detections of L1 (product A):
//! - input:  Mon 08:00:10, 08:01:10, 09:55:10, 10:31:40, 11:00:00, 11:58:10; Tue 09:00:00
//! - output: Mon 08:00:30, 08:01:30, 09:55:30, 10:32:00, 11:58:30; Tue 09:00:20
//!
//! Range Monday 00:00 - Wednesday 00:00:
//! - P (§2, §10) = Mon [08:00, 10:00) ∪ [10:30, 12:00) = 7 200 + 5 400 =
//!   12 600 s. Tuesday is a holiday: its shift does not count, 0 s.
//! - Downtime (§4) per maximal interval of P:
//!   [08:00, 10:00): points 08:00, 08:00:30, 08:01:30, 09:55:30, 10:00; gaps
//!   30, 60, 6 840, 270 s -> one event 08:01:30-09:55:30 (6 840 s).
//!   [10:30, 12:00): points 10:30, 10:32, 11:58:30, 12:00; gaps 120, 5 190,
//!   90 s -> one event 10:32-11:58:30 (5 190 s).
//!   Two events, 12 030 s. Without the break, 09:55:30-10:32 (2 190 s) would
//!   be a third stop: the break splits P, so the gap across it is no stop.
//! - Operating 12 600 - 12 030 = 570 s; availability 570 / 12 600 =
//!   4.5238.. -> 4.52.
//! - Input inside P: 6 (the Tuesday unit is outside P); good 5; rejected 1.
//! - Ideal time 6 / 120 h = 180 s; performance 180 / 570 = 31.578.. -> 31.58.
//! - Quality 5 / 6 = 83.333.. -> 83.33.
//! - OEE = 570/12 600 × 180/570 × 5/6 = 900 / 75 600 = 1.1904.. -> 1.19.
//! - Weight 5 × 2 = 10.00 kg.
//! - The summary (§5) counts the whole range: 7 input units.
//! - L2: Monday is shut down, Tuesday a holiday: 0 s planned.

use crate::common::{TestApp, backends, expect_problem, problem_fields};
use reqwest::Method;
use serde_json::{Value, json};

const RANGE: (&str, &str) = ("2026-11-16T00:00:00Z", "2026-11-18T00:00:00Z");
const MONDAY: (&str, &str) = ("2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z");

struct Plant {
    token: String,
    viewer: String,
    line1: i64,
    line2: i64,
    shift_id: i64,
}

fn id(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v}"))
}

fn shift_body(days: &[&str], breaks: Value) -> Value {
    json!({"shift_name": "Día", "days_implemented": days, "start_time": "08:00", "end_time": "12:00", "is_overnight": false, "breaks": breaks})
}

fn lunch() -> Value {
    json!([{"start_time": "10:00", "end_time": "10:30"}])
}

/// The plant of the module doc, with the shift's `breaks` and `days` as given.
async fn plant(app: &TestApp, name: &str, days: &[&str], breaks: Value) -> Plant {
    let tenant = app.tenant_fixture(name).await;
    let token = tenant.admin.1.clone();
    let (line1, input, output) = app
        .line_with_areas(
            &token,
            json!({"line_name": "L1", "line_code": "L1", "downtime_threshold": 300}),
        )
        .await;
    let (line2, _, _) = app
        .line_with_areas(
            &token,
            json!({"line_name": "L2", "line_code": "L2", "downtime_threshold": 300}),
        )
        .await;
    let product = id(
        &app.post_ok(
            &token,
            "/api/v1/production/products",
            json!({"product_name": "Producto A", "product_code": "A", "production_std": 120, "product_weight": "2"}),
        )
        .await,
        "product_id",
    );
    let shift_id = id(
        &app.post_ok(&token, "/api/v1/production/shifts", shift_body(days, breaks))
            .await,
        "shift_id",
    );
    let d = |at: &str, area: i64| json!({"detected_at": at, "area_id": area, "product_id": product});
    let mut batch = Vec::new();
    for t in ["08:00:10", "08:01:10", "09:55:10", "10:31:40", "11:00:00", "11:58:10"] {
        batch.push(d(&format!("2026-11-16T{t}Z"), input));
    }
    for t in ["08:00:30", "08:01:30", "09:55:30", "10:32:00", "11:58:30"] {
        batch.push(d(&format!("2026-11-16T{t}Z"), output));
    }
    batch.push(d("2026-11-17T09:00:00Z", input));
    batch.push(d("2026-11-17T09:00:20Z", output));
    app.post_ok(&token, &format!("/api/v1/lines/{line1}/detections"), json!(batch))
        .await;
    Plant {
        token,
        viewer: tenant.viewer.1.clone(),
        line1,
        line2,
        shift_id,
    }
}

async fn calendar(app: &TestApp, token: &str, name: &str, from: &str, to: &str, lines: Value) -> i64 {
    id(
        &app.post_ok(
            token,
            "/api/v1/production/calendar",
            json!({"name": name, "start_date": from, "end_date": to, "line_ids": lines}),
        )
        .await,
        "entry_id",
    )
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.authed(Method::GET, path, token).send().await.expect("request");
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

fn events(answer: &Value) -> Vec<(String, String, f64)> {
    answer["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["start"].as_str().expect("start").to_owned(),
                e["end"].as_str().expect("end").to_owned(),
                e["duration_seconds"].as_f64().expect("duration"),
            )
        })
        .collect()
}

fn ev(start: &str, end: &str, seconds: f64) -> (String, String, f64) {
    (
        format!("2026-11-16T{start}+00:00"),
        format!("2026-11-16T{end}+00:00"),
        seconds,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_break_and_a_holiday_come_out_of_planned_time_everywhere() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app, "Golden", &["Monday", "Tuesday"], lunch()).await;
        calendar(&app, &p.token, "Feriado", "2026-11-17", "2026-11-17", json!([])).await;
        calendar(
            &app,
            &p.token,
            "Mantención L2",
            "2026-11-16",
            "2026-11-16",
            json!([p.line2]),
        )
        .await;
        let range = json!({"line_id": p.line1, "start_date": RANGE.0, "end_date": RANGE.1});

        let oee = app.post_ok(&p.token, "/api/v1/metrics/oee", range.clone()).await;
        assert_eq!(oee["planned_time_seconds"], 12600.0, "{oee}");
        assert_eq!(oee["downtime_count"], 2);
        assert_eq!(oee["total_downtime_seconds"], 12030.0);
        assert_eq!(oee["operating_time_seconds"], 570.0);
        assert_eq!(oee["availability"], 4.52);
        assert_eq!(oee["total_production"], 6);
        assert_eq!(oee["good_units"], 5);
        assert_eq!(oee["rejected_units"], 1);
        assert_eq!(oee["performance"], 31.58);
        assert_eq!(oee["quality"], 83.33);
        assert_eq!(oee["oee"], 1.19);
        assert_eq!(oee["total_weight"], 10.0);

        // The events: the gap across the break is no stop.
        let path = format!(
            "/api/v1/downtime?line_id={}&start_date={}&end_date={}",
            p.line1, RANGE.0, RANGE.1
        );
        let downtime = get_json(&app, &p.viewer, &path).await;
        assert_eq!(
            events(&downtime),
            vec![ev("08:01:30", "09:55:30", 6840.0), ev("10:32:00", "11:58:30", 5190.0)]
        );

        // The summary counts the whole range (Tuesday's unit too); its
        // downtime is the OEE's.
        let summary = app.post_ok(&p.token, "/api/v1/metrics/summary", range.clone()).await;
        assert_eq!(summary["total_production"], 7);
        assert_eq!(summary["downtime_count"], 2);
        assert_eq!(summary["total_downtime_seconds"], 12030.0);

        // The query engine by shift occurrence: Monday's row holds the same
        // figures; Tuesday's occurrence is a holiday and has no row.
        let measures = json!([
            "planned_time_seconds",
            "total_downtime_seconds",
            "downtime_count",
            "availability",
            "performance",
            "quality",
            "oee",
            "good_units"
        ]);
        let by_shift = app
            .post_ok(
                &p.token,
                "/api/v1/metrics/query",
                json!({"line_ids": [p.line1], "start_date": RANGE.0, "end_date": RANGE.1, "grain": "shift", "dimensions": ["shift"], "measures": measures}),
            )
            .await;
        let rows = by_shift["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 1, "{by_shift}");
        let monday = &rows[0];
        assert_eq!(monday["shift_id"], p.shift_id);
        assert_eq!(monday["bucket_start"], "2026-11-16T08:00:00+00:00");
        for (key, value) in [
            ("planned_time_seconds", json!(12600.0)),
            ("total_downtime_seconds", json!(12030.0)),
            ("downtime_count", json!(2)),
            ("availability", json!(4.52)),
            ("performance", json!(31.58)),
            ("quality", json!(83.33)),
            ("oee", json!(1.19)),
            ("good_units", json!(5)),
        ] {
            assert_eq!(monday[key], value, "{key} of {monday}");
            assert_eq!(by_shift["totals"][key], value, "totals {key}");
        }

        // Per line: L2 is shut down on Monday and on holiday on Tuesday.
        let by_line = app
            .post_ok(
                &p.token,
                "/api/v1/metrics/query",
                json!({"start_date": RANGE.0, "end_date": RANGE.1, "dimensions": ["line"], "measures": ["planned_time_seconds", "downtime_count"]}),
            )
            .await;
        let planned_of = |line: i64| {
            by_line["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .find(|r| r["line_id"] == line)
                .map(|r| r["planned_time_seconds"].clone())
        };
        assert_eq!(planned_of(p.line1), Some(json!(12600.0)), "{by_line}");
        assert_eq!(planned_of(p.line2), Some(json!(0.0)), "{by_line}");
        assert_eq!(by_line["totals"]["planned_time_seconds"], 12600.0);
        assert_eq!(by_line["totals"]["downtime_count"], 2);

        // Widgets see the same planned time: the OEE card (2) and the stops card (8).
        let params = json!({"params": {"line_id": p.line1, "start_date": RANGE.0, "end_date": RANGE.1}});
        let card = app
            .post_ok(&p.viewer, "/api/v1/dashboard/widgets/2/data", params.clone())
            .await;
        assert_eq!(card["data"]["value"], 1.19, "{card}");
        let stops = app.post_ok(&p.viewer, "/api/v1/dashboard/widgets/8/data", params).await;
        assert_eq!(stops["data"]["value"], 2, "{stops}");
        app.stop().await;
    }
}

/// The persisted events of L1 on Monday.
async fn persisted(app: &TestApp, p: &Plant) -> Vec<(String, String, f64)> {
    let path = format!(
        "/api/v1/downtime/{}/events?start_date={}&end_date={}",
        p.line1, MONDAY.0, MONDAY.1
    );
    let body = get_json(app, &p.token, &path).await;
    events(&json!({"events": body}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persisted_events_follow_breaks_and_calendar_changes() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app, "Persisted", &["Monday"], json!([])).await;
        // Writes recompute a window that looks back from now: pin now after
        // the fixture's days, so the test means the same whatever day it runs.
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
            .expect("instant")
            .to_utc();
        app.state.clock.pin(now);
        let monday = json!({"line_id": p.line1, "start_date": MONDAY.0, "end_date": MONDAY.1});
        // Without a break, P = 08:00-12:00 and the gap 09:55:30-10:32 is a
        // stop. (Creating the shift stored nothing: nothing was stored to fix.)
        let first = app
            .post_ok(&p.token, "/api/v1/downtime/recalculate", monday.clone())
            .await;
        assert_eq!(first["inserted"], 3, "{first}");
        assert_eq!(
            persisted(&app, &p).await,
            vec![
                ev("08:01:30", "09:55:30", 6840.0),
                ev("09:55:30", "10:32:00", 2190.0),
                ev("10:32:00", "11:58:30", 5190.0)
            ]
        );
        // Adding the lunch break recomputes the stored events at once: no
        // stored stop runs across the break any more.
        let response = app
            .authed(
                Method::PUT,
                &format!("/api/v1/production/shifts/{}", p.shift_id),
                &p.token,
            )
            .json(&shift_body(&["Monday"], lunch()))
            .send()
            .await
            .expect("put");
        assert_eq!(response.status(), 200);
        let stored = persisted(&app, &p).await;
        assert_eq!(
            stored,
            vec![ev("08:01:30", "09:55:30", 6840.0), ev("10:32:00", "11:58:30", 5190.0)]
        );
        // A holiday on Monday for L1: nothing planned, nothing stored.
        let holiday = calendar(&app, &p.token, "Feriado", "2026-11-16", "2026-11-16", json!([p.line1])).await;
        assert_eq!(persisted(&app, &p).await, vec![]);
        let oee = app.post_ok(&p.token, "/api/v1/metrics/oee", monday.clone()).await;
        assert_eq!(oee["planned_time_seconds"], 0.0);
        // Moving it to L2 plans L1 again; deleting it changes nothing more for L1.
        let moved = app
            .authed(Method::PUT, &format!("/api/v1/production/calendar/{holiday}"), &p.token)
            .json(&json!({"name": "Feriado", "start_date": "2026-11-16", "end_date": "2026-11-16", "line_ids": [p.line2]}))
            .send()
            .await
            .expect("put");
        assert_eq!(moved.status(), 200);
        assert_eq!(persisted(&app, &p).await, stored);
        let deleted = app
            .authed(
                Method::DELETE,
                &format!("/api/v1/production/calendar/{holiday}"),
                &p.token,
            )
            .send()
            .await
            .expect("delete");
        assert_eq!(deleted.status(), 204);
        assert_eq!(persisted(&app, &p).await, stored);
        // Every change is in the audit log with the person who made it.
        let audit = get_json(&app, &p.token, "/api/v1/audit?entity=calendar_entry&limit=50").await;
        let actions: Vec<&str> = audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["action"].as_str())
            .collect();
        for action in ["calendar.create", "calendar.update", "calendar.delete"] {
            assert!(actions.contains(&action), "{action} in {actions:?}");
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calendar_crud_validates_every_field_and_stays_in_its_tenant() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app, "Crud", &["Monday"], json!([])).await;
        let entry = app
            .post_ok(
                &p.token,
                "/api/v1/production/calendar",
                json!({"name": " Navidad ", "start_date": "2026-12-25", "end_date": "2026-12-25"}),
            )
            .await;
        let entry_id = id(&entry, "entry_id");
        assert_eq!(entry["name"], "Navidad");
        assert_eq!(entry["start_date"], "2026-12-25");
        assert_eq!(entry["end_date"], "2026-12-25");
        assert_eq!(entry["line_ids"], json!([]), "absent line_ids: every line");
        let shutdown = calendar(
            &app,
            &p.token,
            "Parada L2",
            "2026-12-28",
            "2027-01-03",
            json!([p.line2, p.line2]),
        )
        .await;
        let read = get_json(&app, &p.viewer, &format!("/api/v1/production/calendar/{shutdown}")).await;
        assert_eq!(read["line_ids"], json!([p.line2]), "ids stored once");
        // Lists: by start date; with line_id, the entries that stop that line.
        let all = get_json(&app, &p.viewer, "/api/v1/production/calendar").await;
        assert_eq!(all["total"], 2);
        assert_eq!(all["items"][0]["entry_id"], entry_id);
        let of_line1 = get_json(
            &app,
            &p.viewer,
            &format!("/api/v1/production/calendar?line_id={}", p.line1),
        )
        .await;
        assert_eq!(of_line1["total"], 1);
        let of_line2 = get_json(
            &app,
            &p.viewer,
            &format!("/api/v1/production/calendar?line_id={}", p.line2),
        )
        .await;
        assert_eq!(of_line2["total"], 2);

        // Every invalid field is a 422 naming it.
        let post = |body: Value| {
            app.authed(Method::POST, "/api/v1/production/calendar", &p.token)
                .json(&body)
                .send()
        };
        let cases = [
            (
                json!({"name": "", "start_date": "2026-12-25", "end_date": "2026-12-25"}),
                "name",
            ),
            (
                json!({"name": "x", "start_date": "2026-13-01", "end_date": "2026-12-25"}),
                "start_date",
            ),
            (
                json!({"name": "x", "start_date": "25/12/2026", "end_date": "2026-12-25"}),
                "start_date",
            ),
            (
                json!({"name": "x", "start_date": "2026-12-25", "end_date": "2026-12-25T00:00"}),
                "end_date",
            ),
            (
                json!({"name": "x", "start_date": "1969-12-31", "end_date": "1970-01-01"}),
                "start_date",
            ),
            (
                json!({"name": "x", "start_date": "2026-12-25", "end_date": "2026-12-24"}),
                "end_date",
            ),
            // 2026-01-01..2027-01-02 is 367 days.
            (
                json!({"name": "x", "start_date": "2026-01-01", "end_date": "2027-01-02"}),
                "end_date",
            ),
            (
                json!({"name": "x", "start_date": "2026-12-25", "end_date": "2026-12-25", "line_ids": [999_999]}),
                "line_ids",
            ),
        ];
        for (body, field) in cases {
            let problem = expect_problem(post(body.clone()).await.expect("post"), 422).await;
            assert_eq!(problem_fields(&problem), vec![field], "{body}: {problem}");
        }
        // 366 days is the longest entry.
        calendar(&app, &p.token, "Año", "2028-01-01", "2028-12-31", json!([])).await;
        // A value of the wrong JSON type is a 422 naming it too.
        let wrong_type = post(json!({"name": "x", "start_date": 20261225, "end_date": "2026-12-25"}))
            .await
            .expect("post");
        assert_eq!(
            problem_fields(&expect_problem(wrong_type, 422).await),
            vec!["start_date"]
        );
        // Viewers read, managers and admins write.
        let denied = app
            .authed(Method::POST, "/api/v1/production/calendar", &p.viewer)
            .json(&json!({"name": "x", "start_date": "2026-12-25", "end_date": "2026-12-25"}))
            .send()
            .await
            .expect("post");
        expect_problem(denied, 403).await;

        // PUT replaces; DELETE removes; unknown ids are 404.
        let put = app
            .authed(Method::PUT, &format!("/api/v1/production/calendar/{entry_id}"), &p.token)
            .json(&json!({"name": "Nochebuena y Navidad", "start_date": "2026-12-24", "end_date": "2026-12-25", "line_ids": [p.line1]}))
            .send()
            .await
            .expect("put");
        assert_eq!(put.status(), 200);
        let put: Value = put.json().await.expect("json");
        assert_eq!(put["start_date"], "2026-12-24");
        assert_eq!(put["line_ids"], json!([p.line1]));
        let bad_put = app
            .authed(
                Method::PUT,
                &format!("/api/v1/production/calendar/{entry_id}"),
                &p.token,
            )
            .json(&json!({"name": "x", "start_date": "2026-12-26", "end_date": "2026-12-25"}))
            .send()
            .await
            .expect("put");
        assert_eq!(problem_fields(&expect_problem(bad_put, 422).await), vec!["end_date"]);
        for method in [Method::GET, Method::DELETE] {
            let missing = app
                .authed(method.clone(), "/api/v1/production/calendar/987654", &p.token)
                .send()
                .await
                .expect("request");
            expect_problem(missing, 404).await;
        }
        let deleted = app
            .authed(
                Method::DELETE,
                &format!("/api/v1/production/calendar/{entry_id}"),
                &p.token,
            )
            .send()
            .await
            .expect("delete");
        assert_eq!(deleted.status(), 204);
        let gone = app
            .authed(
                Method::GET,
                &format!("/api/v1/production/calendar/{entry_id}"),
                &p.token,
            )
            .send()
            .await
            .expect("get");
        expect_problem(gone, 404).await;

        // Another tenant sees none of it, cannot touch it, cannot name our
        // lines, and its own holiday does not stop our lines.
        let other = app.tenant_fixture("Other").await;
        let theirs = get_json(&app, &other.admin.1, "/api/v1/production/calendar").await;
        assert_eq!(theirs["total"], 0);
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let response = app
                .authed(
                    method.clone(),
                    &format!("/api/v1/production/calendar/{shutdown}"),
                    &other.admin.1,
                )
                .json(&json!({"name": "x", "start_date": "2026-12-25", "end_date": "2026-12-25"}))
                .send()
                .await
                .expect("request");
            expect_problem(response, 404).await;
        }
        let foreign_line = app
            .authed(Method::POST, "/api/v1/production/calendar", &other.admin.1)
            .json(&json!({"name": "x", "start_date": "2026-11-16", "end_date": "2026-11-16", "line_ids": [p.line1]}))
            .send()
            .await
            .expect("post");
        assert_eq!(
            problem_fields(&expect_problem(foreign_line, 422).await),
            vec!["line_ids"]
        );
        calendar(
            &app,
            &other.admin.1,
            "Their holiday",
            "2026-11-16",
            "2026-11-16",
            json!([]),
        )
        .await;
        let oee = app
            .post_ok(
                &p.token,
                "/api/v1/metrics/oee",
                json!({"line_id": p.line1, "start_date": MONDAY.0, "end_date": MONDAY.1}),
            )
            .await;
        assert_eq!(oee["planned_time_seconds"], 14400.0, "our Monday shift, no break");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_breaks_are_validated_and_read_back() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app, "Breaks", &["Monday"], json!([])).await;
        let post = |breaks: Value| {
            app.authed(Method::POST, "/api/v1/production/shifts", &p.token)
                .json(&shift_body(&["Monday"], breaks))
                .send()
        };
        let at = |a: &str, b: &str| json!({"start_time": a, "end_time": b});
        let nine: Vec<Value> = (0..9)
            .map(|i| at(&format!("08:{:02}", i * 5), &format!("08:{:02}", i * 5 + 1)))
            .collect();
        let cases = [
            (json!([at("07:30", "08:15")]), "breaks[0]"),
            (json!([at("11:45", "12:15")]), "breaks[0]"),
            (json!([at("10:00", "10:30"), at("10:15", "10:45")]), "breaks[1]"),
            (json!([at("10:00", "10:00")]), "breaks[0].end_time"),
            (json!([at("10h", "10:30")]), "breaks[0].start_time"),
            (json!([at("10:00", "25:00")]), "breaks[0].end_time"),
            (json!(nine), "breaks"),
            (json!([at("08:00", "12:00")]), "breaks"),
        ];
        for (breaks, field) in cases {
            let problem = expect_problem(post(breaks.clone()).await.expect("post"), 422).await;
            assert_eq!(problem_fields(&problem), vec![field], "{breaks}: {problem}");
        }
        // Back-to-back breaks are fine, returned in occurrence order.
        let ok = app
            .post_ok(
                &p.token,
                "/api/v1/production/shifts",
                shift_body(&["Monday"], json!([at("11:00", "11:15"), at("10:45", "11:00")])),
            )
            .await;
        assert_eq!(
            ok["breaks"],
            json!([
                {"start_time": "10:45:00", "end_time": "11:00:00"},
                {"start_time": "11:00:00", "end_time": "11:15:00"}
            ])
        );
        // A night shift's break after midnight, and one across midnight.
        let night = app
            .post_ok(
                &p.token,
                "/api/v1/production/shifts",
                json!({"shift_name": "Noche", "days_implemented": ["Monday"], "start_time": "22:00", "end_time": "06:00", "is_overnight": true, "breaks": [at("02:00", "02:30"), at("23:50", "00:10")]}),
            )
            .await;
        assert_eq!(night["breaks"][0]["start_time"], "23:50:00");
        assert_eq!(night["breaks"][1]["start_time"], "02:00:00");
        let night_id = id(&night, "shift_id");
        // Monday's night from 22:00 to Tuesday 06:00 without 40 minutes,
        // alone (shift filter): 8 h - 30 min - 20 min = 25 800 s.
        let oee = app
            .post_ok(
                &p.token,
                "/api/v1/metrics/oee",
                json!({"line_id": p.line1, "start_date": "2026-11-16T12:00:00Z", "end_date": "2026-11-17T12:00:00Z", "shift_id": night_id}),
            )
            .await;
        assert_eq!(oee["planned_time_seconds"], 25800.0, "{oee}");
        let outside_night = expect_problem(
            app.authed(Method::POST, "/api/v1/production/shifts", &p.token)
                .json(&json!({"shift_name": "Noche", "days_implemented": ["Monday"], "start_time": "22:00", "end_time": "06:00", "is_overnight": true, "breaks": [at("06:00", "06:30")]}))
                .send()
                .await
                .expect("post"),
            422,
        )
        .await;
        assert_eq!(problem_fields(&outside_night), vec!["breaks[0]"]);
        // A shift listed without breaks reads back an empty list.
        let plain = get_json(&app, &p.viewer, &format!("/api/v1/production/shifts/{}", p.shift_id)).await;
        assert_eq!(plain["breaks"], json!([]));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn micro_stop_threshold_defaults_and_is_validated_against_the_downtime_threshold() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let tenant = app.tenant_fixture("Micro").await;
        let token = tenant.admin.1.clone();
        let line = app
            .post_ok(
                &token,
                "/api/v1/production/lines",
                json!({"line_name": "M", "line_code": "M1"}),
            )
            .await;
        assert_eq!(line["micro_stop_threshold"], 30);
        assert_eq!(line["downtime_threshold"], 300);
        // A downtime threshold under 30 s lowers the default with it.
        let short = app
            .post_ok(
                &token,
                "/api/v1/production/lines",
                json!({"line_name": "S", "line_code": "S1", "downtime_threshold": 10}),
            )
            .await;
        assert_eq!(short["micro_stop_threshold"], 10);
        let given = app
            .post_ok(
                &token,
                "/api/v1/production/lines",
                json!({"line_name": "G", "line_code": "G1", "downtime_threshold": 120, "micro_stop_threshold": 120}),
            )
            .await;
        assert_eq!(
            given["micro_stop_threshold"], 120,
            "equal to the downtime threshold is allowed"
        );
        let line_id = id(&line, "line_id");
        for (body, field) in [
            (
                json!({"line_name": "M", "line_code": "M1", "micro_stop_threshold": 0}),
                "micro_stop_threshold",
            ),
            (
                json!({"line_name": "M", "line_code": "M1", "micro_stop_threshold": -5}),
                "micro_stop_threshold",
            ),
            (
                json!({"line_name": "M", "line_code": "M1", "downtime_threshold": 60, "micro_stop_threshold": 61}),
                "micro_stop_threshold",
            ),
        ] {
            let response = app
                .authed(Method::PUT, &format!("/api/v1/production/lines/{line_id}"), &token)
                .json(&body)
                .send()
                .await
                .expect("put");
            let problem = expect_problem(response, 422).await;
            assert_eq!(problem_fields(&problem), vec![field], "{body}");
        }
        let put = app
            .authed(Method::PUT, &format!("/api/v1/production/lines/{line_id}"), &token)
            .json(&json!({"line_name": "M", "line_code": "M1", "downtime_threshold": 60, "micro_stop_threshold": 15}))
            .send()
            .await
            .expect("put");
        assert_eq!(put.status(), 200);
        let read = get_json(&app, &tenant.viewer.1, &format!("/api/v1/production/lines/{line_id}")).await;
        assert_eq!(read["micro_stop_threshold"], 15);
        let wrong_type = app
            .authed(Method::POST, "/api/v1/production/lines", &token)
            .json(&json!({"line_name": "W", "line_code": "W1", "micro_stop_threshold": "30s"}))
            .send()
            .await
            .expect("post");
        assert_eq!(
            problem_fields(&expect_problem(wrong_type, 422).await),
            vec!["micro_stop_threshold"]
        );
        app.stop().await;
    }
}
