//! `/metrics/query` on both backends, on the hand-checked day of `kpi.rs`
//! with a second shift and a second line; every figure is worked out by
//! hand from the semantics document (§2, §4, §5, §9).
//!
//! Tenant in UTC. Shifts (every line): Morning Monday 08:00-10:00 and
//! Afternoon Monday 10:00-12:00, so each line's P on 2026-11-16 is
//! [08:00, 12:00) (14 400 s). Threshold 300 s. Products A (100 u/h, 2.5 kg)
//! and B (60 u/h, 1.25 kg).
//! Line 1 holds the known day: input A 08:00:10, A 08:10, A 08:20, B 08:30,
//! A 11:00; output A 08:00:30, A 08:10:30, B 08:30:30, A 12:00.
//! Its gaps in P (points 08:00, 08:00:30, 08:10:30, 08:30:30, 12:00): 30 s,
//! 600 s, 1 200 s, 12 570 s -> three events, 14 370 s (§4).
//! Line 2 has no detection: one event over its whole P (14 400 s).

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestApp, backends, expect_problem, problem_fields};

struct Plant {
    token: String,
    viewer: String,
    line1: i64,
    line2: i64,
    morning: i64,
    afternoon: i64,
    product_a: i64,
    product_b: i64,
}

async fn plant(app: &TestApp) -> Plant {
    let tenant = app.tenant_fixture("Query").await;
    let token = tenant.admin.1.clone();
    let id = |v: Value, key: &str| v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v}"));
    let mut lines = Vec::new();
    let mut areas = Vec::new();
    for (name, code) in [("Line 1", "L1"), ("Line 2", "L2")] {
        let (line_id, input, output) = app
            .line_with_areas(
                &token,
                json!({"line_name": name, "line_code": code, "downtime_threshold": 300}),
            )
            .await;
        lines.push(line_id);
        areas.push((input, output));
    }
    let product = |name: &str, code: &str, std: i32, weight: &str| json!({"product_name": name, "product_code": code, "production_std": std, "product_weight": weight});
    let a = id(
        app.post_ok(
            &token,
            "/api/v1/production/products",
            product("Producto A", "A", 100, "2.5"),
        )
        .await,
        "product_id",
    );
    let b = id(
        app.post_ok(
            &token,
            "/api/v1/production/products",
            product("Producto B", "B", 60, "1.25"),
        )
        .await,
        "product_id",
    );
    let shift = |name: &str, start: &str, end: &str| json!({"shift_name": name, "days_implemented": ["Monday"], "start_time": start, "end_time": end, "is_overnight": false});
    let morning = id(
        app.post_ok(&token, "/api/v1/production/shifts", shift("Morning", "08:00", "10:00"))
            .await,
        "shift_id",
    );
    let afternoon = id(
        app.post_ok(
            &token,
            "/api/v1/production/shifts",
            shift("Afternoon", "10:00", "12:00"),
        )
        .await,
        "shift_id",
    );
    let (input, output) = areas[0];
    app.post_ok(
        &token,
        &format!("/api/v1/lines/{}/detections", lines[0]),
        crate::common::known_day_detections(input, output, a, b),
    )
    .await;
    Plant {
        token,
        viewer: tenant.viewer.1.clone(),
        line1: lines[0],
        line2: lines[1],
        morning,
        afternoon,
        product_a: a,
        product_b: b,
    }
}

const DAY: (&str, &str) = ("2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z");

async fn query(app: &TestApp, token: &str, body: Value) -> Value {
    app.post_ok(token, "/api/v1/metrics/query", body).await
}

fn row<'a>(answer: &'a Value, key: &str, value: i64) -> &'a Value {
    answer["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key} = {value} in {answer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_by_shift_table_holds_the_hand_computed_figures() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        // A viewer may run queries.
        let answer = query(
            &app,
            &p.viewer,
            json!({"line_ids": [p.line1], "start_date": DAY.0, "end_date": DAY.1, "dimensions": ["line", "shift"]}),
        )
        .await;
        assert_eq!(answer["meta"]["row_count"], 2, "{backend:?}: {answer}");
        let morning = row(&answer, "shift_id", p.morning);
        // §9: the morning's P is [08:00, 10:00); the line's events clipped to
        // it are 600 + 1 200 + 5 370 s: the figures of the one-shift day.
        assert_eq!(morning["line_name"], "Line 1");
        assert_eq!(morning["shift_name"], "Morning");
        assert_eq!(morning["planned_time_seconds"], 7200.0);
        assert_eq!(morning["total_downtime_seconds"], 7170.0);
        assert_eq!(morning["downtime_count"], 3);
        assert_eq!(morning["operating_time_seconds"], 30.0);
        assert_eq!(morning["availability"], 0.42);
        assert_eq!(morning["total_production"], 4);
        assert_eq!(morning["good_units"], 3);
        assert_eq!(morning["rejected_units"], 1);
        assert_eq!(morning["performance"], 560.0);
        assert_eq!(morning["quality"], 75.0);
        assert_eq!(morning["oee"], 1.75);
        assert_eq!(morning["total_weight"], 6.25);
        // The afternoon [10:00, 12:00): the last event's piece 10:00-12:00,
        // one input (A 11:00), no output (12:00 lies outside).
        let afternoon = row(&answer, "shift_id", p.afternoon);
        assert_eq!(afternoon["planned_time_seconds"], 7200.0);
        assert_eq!(afternoon["total_downtime_seconds"], 7200.0);
        assert_eq!(afternoon["downtime_count"], 1);
        assert_eq!(afternoon["operating_time_seconds"], 0.0);
        assert_eq!(afternoon["availability"], 0.0);
        assert_eq!(afternoon["total_production"], 1);
        assert_eq!(afternoon["good_units"], 0);
        assert_eq!(afternoon["quality"], 0.0);
        assert_eq!(afternoon["oee"], 0.0);
        // Totals: the ungrouped query, ratios from summed parts (§9):
        // operating 30 of 14 400 s = 0.21 %; ideal 4/100 h + 1/60 h = 204 s
        // over 30 s = 680 %; quality 3 of 5 = 60 %; OEE 0.2083.. x 680 x 60
        // / 10 000 = 0.85. Three events, not 3 + 1: the last is one stop.
        let totals = &answer["totals"];
        assert_eq!(totals["planned_time_seconds"], 14400.0);
        assert_eq!(totals["total_downtime_seconds"], 14370.0);
        assert_eq!(totals["downtime_count"], 3);
        assert_eq!(totals["availability"], 0.21);
        assert_eq!(totals["performance"], 680.0);
        assert_eq!(totals["quality"], 60.0);
        assert_eq!(totals["oee"], 0.85);
        // Every cell equals the single-line OEE of the same shift.
        for shift in [p.morning, p.afternoon] {
            let single = app
                .post_ok(
                    &p.token,
                    "/api/v1/metrics/oee",
                    json!({"line_id": p.line1, "start_date": DAY.0, "end_date": DAY.1, "shift_id": shift}),
                )
                .await;
            let cell = row(&answer, "shift_id", shift);
            for key in [
                "planned_time_seconds",
                "total_downtime_seconds",
                "downtime_count",
                "operating_time_seconds",
                "availability",
                "total_production",
                "good_units",
                "performance",
                "quality",
                "oee",
                "total_weight",
            ] {
                assert_eq!(cell[key], single[key], "{backend:?}: shift {shift}, {key}");
            }
        }
        let columns: Vec<&str> = answer["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| c["key"].as_str().expect("key"))
            .collect();
        assert_eq!(columns[..4], ["line_id", "line_name", "shift_id", "shift_name"]);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_products_days_and_comparisons_add_parts_never_ratios() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        // Every active line when none is named; one row per line.
        let by_line = query(
            &app,
            &p.token,
            json!({"start_date": DAY.0, "end_date": DAY.1, "dimensions": ["line"], "measures": ["planned_time_seconds", "operating_time_seconds", "availability", "downtime_count"]}),
        )
        .await;
        assert_eq!(by_line["meta"]["row_count"], 2);
        let line2 = row(&by_line, "line_id", p.line2);
        assert_eq!(line2["planned_time_seconds"], 14400.0);
        assert_eq!(line2["operating_time_seconds"], 0.0);
        assert_eq!(line2["downtime_count"], 1);
        // Σ operating / Σ planned = 30 / 28 800 = 0.10 %, not the mean of
        // 0.21 and 0.
        assert_eq!(by_line["totals"]["planned_time_seconds"], 28800.0);
        assert_eq!(by_line["totals"]["availability"], 0.1);
        assert_eq!(by_line["totals"]["downtime_count"], 4);
        assert_eq!(
            by_line["columns"].as_array().expect("columns").len(),
            2 + 4,
            "only the measures asked"
        );
        // By product: each product keeps the line's planned time and
        // downtime and counts only itself (§9).
        let by_product = query(
            &app,
            &p.token,
            json!({"line_ids": [p.line1], "start_date": DAY.0, "end_date": DAY.1, "dimensions": ["product"]}),
        )
        .await;
        let a = row(&by_product, "product_id", p.product_a);
        assert_eq!(a["planned_time_seconds"], 14400.0);
        assert_eq!(a["total_production"], 4);
        assert_eq!(a["good_units"], 2);
        assert_eq!(a["total_weight"], 5.0);
        // Ideal 4/100 h = 144 s over 30 s operating.
        assert_eq!(a["performance"], 480.0);
        let b = row(&by_product, "product_id", p.product_b);
        assert_eq!(b["total_production"], 1);
        assert_eq!(b["good_units"], 1);
        // Daily grain: one row per local day with its start.
        let daily = query(
            &app,
            &p.token,
            json!({"line_ids": [p.line1], "start_date": "2026-11-15T00:00:00Z", "end_date": "2026-11-17T00:00:00Z", "grain": "1day", "measures": ["planned_time_seconds", "good_units"]}),
        )
        .await;
        let rows = daily["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["bucket_start"], "2026-11-15T00:00:00+00:00");
        assert_eq!(rows[0]["planned_time_seconds"], 0.0);
        assert_eq!(rows[1]["planned_time_seconds"], 14400.0);
        assert_eq!(rows[1]["good_units"], 3);
        // Shift grain: one row per occurrence, on the day it starts.
        let occurrences = query(
            &app,
            &p.token,
            json!({"line_ids": [p.line1], "start_date": DAY.0, "end_date": DAY.1, "grain": "shift", "measures": ["good_units"]}),
        )
        .await;
        let starts: Vec<&str> = occurrences["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["bucket_start"].as_str().expect("start"))
            .collect();
        assert_eq!(starts, ["2026-11-16T08:00:00+00:00", "2026-11-16T10:00:00+00:00"]);
        // Compared with the day before (no shift on Sunday).
        let compared = query(
            &app,
            &p.token,
            json!({"line_ids": [p.line1], "start_date": DAY.0, "end_date": DAY.1, "measures": ["planned_time_seconds", "good_units"], "compare": "previous_period"}),
        )
        .await;
        let only = &compared["rows"][0];
        assert_eq!(only["planned_time_seconds"], 14400.0);
        assert_eq!(only["planned_time_seconds_previous"], 0.0);
        assert_eq!(only["planned_time_seconds_delta"], 14400.0);
        assert_eq!(only["good_units_delta"], 3.0);
        assert_eq!(compared["totals"]["good_units_previous"], 0);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_get_form_answers_csv_equal_to_the_json_rows() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        let path = format!(
            "/api/v1/metrics/query?line_ids={},{}&start_date={}&end_date={}&dimensions=line,shift&measures=good_units,oee,availability",
            p.line1, p.line2, DAY.0, DAY.1
        );
        let as_json: Value = app
            .authed(Method::GET, &path, &p.viewer)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        for (extra, accept) in [("&format=csv", "*/*"), ("", "text/csv")] {
            let response = app
                .authed(Method::GET, &format!("{path}{extra}"), &p.viewer)
                .header("accept", accept)
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), 200);
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .expect("type")
                    .starts_with("text/csv")
            );
            assert!(
                response.headers()["content-disposition"]
                    .to_str()
                    .expect("disposition")
                    .contains("camet-query-20261116.csv")
            );
            let text = response.text().await.expect("text");
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
            let keys: Vec<String> = as_json["columns"]
                .as_array()
                .expect("columns")
                .iter()
                .map(|c| c["key"].as_str().expect("key").to_owned())
                .collect();
            assert_eq!(header, keys);
            let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("record")).collect();
            let rows = as_json["rows"].as_array().expect("rows");
            assert_eq!(records.len(), rows.len(), "{backend:?}");
            for (record, row) in records.iter().zip(rows) {
                for (key, field) in keys.iter().zip(record.iter()) {
                    let expected = match &row[key] {
                        Value::Null => String::new(),
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    assert_eq!(field, expected, "{backend:?}: {key}");
                }
            }
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_names_unsupported_filters_and_oversized_answers_are_422_naming_the_field() {
    for backend in backends() {
        let app = TestApp::start_with(backend, &[("CAMET_QUERY_MAX_CELLS", "30")]).await;
        let p = plant(&app).await;
        let send = |body: Value| {
            app.authed(Method::POST, "/api/v1/metrics/query", &p.token)
                .json(&body)
                .send()
        };
        for (body, field) in [
            (json!({"preset": "last_fortnight"}), "preset"),
            (
                json!({"start_date": DAY.0, "end_date": DAY.1, "measures": ["oee", "mtbf"]}),
                "measures",
            ),
            (
                json!({"start_date": DAY.0, "end_date": DAY.1, "dimensions": ["area"]}),
                "dimensions",
            ),
            (
                json!({"start_date": DAY.0, "end_date": DAY.1, "grain": "15min"}),
                "grain",
            ),
            (
                json!({"start_date": DAY.0, "end_date": DAY.1, "area_ids": [1]}),
                "area_ids",
            ),
            (
                json!({"start_date": DAY.0, "end_date": DAY.1, "compare": "last_decade"}),
                "compare",
            ),
            (
                json!({"start_date": DAY.0, "end_date": DAY.1, "format": "pdf"}),
                "format",
            ),
            (
                json!({"start_date": DAY.0, "end_date": DAY.1, "line_ids": [999999]}),
                "line_ids",
            ),
            (json!({"start_date": DAY.0}), "start_date"),
            (
                json!({"preset": "today", "start_date": DAY.0, "end_date": DAY.1}),
                "preset",
            ),
            // 2 lines x 24 hours = 48 rows, over the limit of 30.
            (
                json!({"start_date": DAY.0, "end_date": DAY.1, "dimensions": ["line"], "grain": "1hour"}),
                "grain",
            ),
        ] {
            let problem = expect_problem(send(body.clone()).await.expect("request"), 422).await;
            assert!(
                problem_fields(&problem).contains(&field),
                "{backend:?}: {body} -> {problem}"
            );
        }
        // A line without areas cannot be measured: named, it is a 422;
        // implied by "every line", it is left out and the answer says so.
        let bare = app
            .post_ok(
                &p.token,
                "/api/v1/production/lines",
                json!({"line_name": "Bare", "line_code": "B0", "downtime_threshold": 300}),
            )
            .await["line_id"]
            .as_i64()
            .expect("line id");
        let named = send(json!({"start_date": DAY.0, "end_date": DAY.1, "line_ids": [bare]}))
            .await
            .expect("request");
        assert!(problem_fields(&expect_problem(named, 422).await).contains(&"line_ids"));
        let every = query(
            &app,
            &p.token,
            json!({"start_date": DAY.0, "end_date": DAY.1, "dimensions": ["line"]}),
        )
        .await;
        assert_eq!(every["meta"]["row_count"], 2, "{backend:?}");
        let warnings = every["meta"]["warnings"].to_string();
        assert!(warnings.contains("Bare") && warnings.contains("left out"), "{warnings}");
        // A preset is a typed range: yesterday, in the tenant's zone.
        let answer = query(
            &app,
            &p.token,
            json!({"preset": "yesterday", "measures": ["good_units"]}),
        )
        .await;
        assert_eq!(answer["query"]["preset"], "yesterday");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subtotals_group_by_the_first_dimension_and_count_planned_time_once() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        let by_line = query(
            &app,
            &p.token,
            json!({"start_date": DAY.0, "end_date": DAY.1, "dimensions": ["line"]}),
        )
        .await;
        assert!(
            by_line["subtotals"].is_null(),
            "one grouping: the rows are the subtotals"
        );
        // Line × product: a line's subtotal holds its planned time once, not
        // once per product row, and equals the line's own row above.
        let by_line_product = query(
            &app,
            &p.token,
            json!({"start_date": DAY.0, "end_date": DAY.1, "dimensions": ["line", "product"]}),
        )
        .await;
        let subtotals = by_line_product["subtotals"].as_array().expect("subtotals");
        assert_eq!(subtotals.len(), 2, "{backend:?}: one per line");
        for subtotal in subtotals {
            let line_id = subtotal["line_id"].as_i64().expect("line_id");
            assert_eq!(
                subtotal,
                row(&by_line, "line_id", line_id),
                "{backend:?} line {line_id}"
            );
        }
        let line1 = row(&by_line, "line_id", p.line1);
        let product_rows: Vec<&Value> = by_line_product["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["line_id"] == p.line1)
            .collect();
        assert_eq!(product_rows.len(), 2, "products A and B on line 1");
        assert!(
            product_rows
                .iter()
                .all(|r| r["planned_time_seconds"] == line1["planned_time_seconds"]),
            "each product row keeps the line's planned time; the subtotal holds it once"
        );
        // Line × day: the same subtotals, over the whole range.
        let by_line_day = query(
            &app,
            &p.token,
            json!({"start_date": "2026-11-15T00:00:00Z", "end_date": DAY.1, "dimensions": ["line"], "grain": "1day"}),
        )
        .await;
        let over_two_days = query(
            &app,
            &p.token,
            json!({"start_date": "2026-11-15T00:00:00Z", "end_date": DAY.1, "dimensions": ["line"]}),
        )
        .await;
        assert_eq!(by_line_day["subtotals"], over_two_days["rows"]);
        app.stop().await;
    }
}
