//! The loss widgets of the dashboard (docs/dashboards.md "Loss widgets") on
//! both backends, on the hand-checked day of `losses.rs`: one shift,
//! Monday 2026-11-16 08:00-10:00 (P = 7 200 s), threshold 300 s, products
//! A (100 u/h) and B (60 u/h); stops 600 s (08:00:30), 1 200 s (08:10:30)
//! and 5 370 s (08:30:30); operating 30 s; ideal 168 s; quality loss 36 s;
//! speed loss −138 s; fully productive 132 s; calendar 86 400 s.
//!
//! With the 1 200 s stop explained as a jam (breakdown) and the 600 s one
//! as a changeover (setup), worked out by hand:
//! - Pareto: Unassigned 5 370 s, 5 370 / 7 170 = 74.90 %; Jam 1 200 s,
//!   6 570 / 7 170 = 91.63 %; Changeover 600 s, 100 %;
//! - waterfall: 86 400 → 79 200 not planned → 7 200 → 7 170 stops → 30 →
//!   −138 (no micro-stop; speed −138) → 168 → 36 → 132;
//! - table: each stop's reason name, colour, class and the comment.

use crate::common::{TestApp, backends};
use reqwest::Method;
use serde_json::{Value, json};

struct Line {
    token: String,
    line_id: i64,
}

const DAY: (&str, &str) = ("2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z");

/// The known day's line, with the filters a run needs (line and dates).
async fn known_line(app: &TestApp) -> Line {
    let plant = app.known_day_plant("LossWidgets").await;
    let (token, line_id) = (plant.token(), plant.line_id);
    for (name, class, default) in [
        ("Fechas", "DateRangeFilter", json!({"preset": "last_7_days"})),
        ("Línea", "LineFilter", Value::Null),
    ] {
        app.post_ok(
            &token,
            "/api/v1/production/filters",
            json!({"filter_name": name, "class_name": class, "default_value": default}),
        )
        .await;
    }
    Line { token, line_id }
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.authed(Method::GET, path, token).send().await.expect("get");
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

/// A reason of the tenant's default tree, by code.
struct Reason {
    id: i64,
    name_es: String,
    name_en: String,
    color: String,
}

/// Persists the day's stops and explains the 1 200 s one as a jam and the
/// 600 s one as a changeover (with a comment); returns (jam, changeover).
async fn explain_two_stops(app: &TestApp, line: &Line) -> (Reason, Reason) {
    camet::kpi::pending::recalculate_all(&app.state.databases, &app.state.cache, chrono::Utc::now())
        .await
        .expect("downtime job");
    let events = get_json(
        app,
        &line.token,
        &format!(
            "/api/v1/downtime/{}/events?start_date={}&end_date={}",
            line.line_id, DAY.0, DAY.1
        ),
    )
    .await;
    let events = events.as_array().cloned().expect("events");
    assert_eq!(events.len(), 3, "{events:?}");
    let page = get_json(app, &line.token, "/api/v1/production/downtime-reasons?limit=1000").await;
    let reasons = page["items"].as_array().cloned().unwrap_or_default();
    let reason = |code: &str| {
        let r = reasons
            .iter()
            .find(|r| r["code"] == code)
            .unwrap_or_else(|| panic!("reason {code}"));
        let text = |key: &str| r[key].as_str().unwrap_or_else(|| panic!("{key} of {code}")).to_owned();
        Reason {
            id: r["reason_id"].as_i64().expect("id"),
            name_es: text("name_es"),
            name_en: text("name_en"),
            color: text("color"),
        }
    };
    let (jam, changeover) = (reason("BRK-JAM"), reason("SET-CHANGEOVER"));
    for (event, reason, comment) in [(&events[1], &jam, "cinta 3"), (&events[0], &changeover, "lote 42")] {
        app.post_ok(
            &line.token,
            &format!("/api/v1/downtime/{}/reasons", line.line_id),
            json!({"event_ids": [event["event_id"]], "reason_id": reason.id, "comment": comment}),
        )
        .await;
    }
    (jam, changeover)
}

/// One widget's data over the day (`extra` params merged in).
async fn widget_data(app: &TestApp, line: &Line, widget_id: i64, lang: &str, extra: Value) -> Value {
    let mut params = json!({"line_id": line.line_id, "start_date": DAY.0, "end_date": DAY.1});
    if let (Some(map), Value::Object(more)) = (params.as_object_mut(), extra) {
        map.extend(more);
    }
    let answer = app
        .post_ok(
            &line.token,
            &format!("/api/v1/dashboard/widgets/{widget_id}/data?lang={lang}"),
            json!({"params": params}),
        )
        .await;
    assert!(answer["error"].is_null(), "widget {widget_id}: {answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pareto_sorts_reasons_by_downtime_with_the_cumulative_percent() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        let (jam, changeover) = explain_two_stops(&app, &line).await;
        let pareto = widget_data(&app, &line, 10, "es", json!({})).await;
        assert_eq!(pareto["widget_type"], "pareto_chart");
        assert_eq!(
            pareto["data"],
            json!({
                "bars": [
                    {"reason_id": null, "label": "Sin asignar", "loss_class": "unassigned", "color": "#9ca3af",
                     "seconds": 5370.0, "count": 1, "cumulative_percent": 74.9},
                    {"reason_id": jam.id, "label": jam.name_es, "loss_class": "breakdown", "color": jam.color,
                     "seconds": 1200.0, "count": 1, "cumulative_percent": 91.63},
                    {"reason_id": changeover.id, "label": changeover.name_es, "loss_class": "setup", "color": changeover.color,
                     "seconds": 600.0, "count": 1, "cumulative_percent": 100.0}
                ],
                "total_seconds": 7170.0
            }),
            "{backend:?}"
        );
        // A mixed Chart.js chart: coloured bars on `y`, the cumulative line on `y1`.
        let chart = &pareto["chart"];
        assert_eq!(chart["type"], "bar");
        assert_eq!(
            chart["data"]["labels"],
            json!(["Sin asignar", jam.name_es, changeover.name_es])
        );
        let line_set = &chart["data"]["datasets"][0];
        assert_eq!(
            (&line_set["type"], &line_set["yAxisID"], &line_set["data"]),
            (&json!("line"), &json!("y1"), &json!([74.9, 91.63, 100.0]))
        );
        let bars = &chart["data"]["datasets"][1];
        assert_eq!(bars["yAxisID"], "y");
        assert_eq!(bars["data"], json!([5370.0, 1200.0, 600.0]));
        assert_eq!(bars["backgroundColor"], json!(["#9ca3af", jam.color, changeover.color]));
        let y1 = &chart["options"]["scales"]["y1"];
        assert_eq!(
            (&y1["position"], &y1["min"], &y1["max"]),
            (&json!("right"), &json!(0.0), &json!(100.0))
        );

        // English names; a threshold of 1 000 s leaves the 600 s changeover out.
        let english = widget_data(&app, &line, 10, "en", json!({"downtime_threshold": 1000})).await;
        let labels: Vec<(Value, Value, Value)> = english["data"]["bars"]
            .as_array()
            .expect("bars")
            .iter()
            .map(|b| {
                (
                    b["label"].clone(),
                    b["seconds"].clone(),
                    b["cumulative_percent"].clone(),
                )
            })
            .collect();
        assert_eq!(
            labels,
            vec![
                (json!("Unassigned"), json!(5370.0), json!(81.74)),
                (json!(jam.name_en), json!(1200.0), json!(100.0)),
            ],
            "{backend:?}"
        );
        app.stop().await;
    }
}

/// The waterfall's steps are the figures of `/metrics/losses` for the same params.
fn assert_waterfall_matches_losses(waterfall: &Value, losses: &Value, calendar: f64) {
    let seconds = |key: &str| {
        waterfall["data"]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .find(|s| s["key"] == key)
            .and_then(|s| s["seconds"].as_f64())
            .unwrap_or_else(|| panic!("step {key} in {waterfall}"))
    };
    let f = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("a number: {v}"));
    let stops: f64 = losses["losses"]
        .as_array()
        .expect("losses")
        .iter()
        .map(|l| f(&l["seconds"]))
        .sum();
    assert_eq!(seconds("calendar"), calendar);
    assert_eq!(seconds("not_planned"), calendar - f(&losses["planned_time_seconds"]));
    assert_eq!(seconds("planned"), f(&losses["planned_time_seconds"]));
    assert_eq!(seconds("availability_loss"), stops);
    assert_eq!(seconds("operating"), f(&losses["operating_time_seconds"]));
    assert_eq!(
        seconds("performance_loss"),
        f(&losses["micro_stops"]["seconds"]) + f(&losses["speed_loss_seconds"])
    );
    assert_eq!(seconds("net"), f(&losses["ideal_time_seconds"]));
    assert_eq!(seconds("quality_loss"), f(&losses["quality_loss_seconds"]));
    assert_eq!(seconds("fully_productive"), f(&losses["fully_productive_seconds"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_waterfall_is_the_loss_split_of_metrics_losses_as_floating_bars() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        explain_two_stops(&app, &line).await;
        let waterfall = widget_data(&app, &line, 11, "es", json!({})).await;
        assert_eq!(waterfall["widget_type"], "waterfall_chart");
        let steps: Vec<(Value, Value, Value)> = waterfall["data"]["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .map(|s| (s["key"].clone(), s["kind"].clone(), s["seconds"].clone()))
            .collect();
        let step = |key: &str, kind: &str, seconds: f64| (json!(key), json!(kind), json!(seconds));
        assert_eq!(
            steps,
            vec![
                step("calendar", "time", 86400.0),
                step("not_planned", "loss", 79200.0),
                step("planned", "time", 7200.0),
                step("availability_loss", "loss", 7170.0),
                step("operating", "time", 30.0),
                step("performance_loss", "loss", -138.0),
                step("net", "time", 168.0),
                step("quality_loss", "loss", 36.0),
                step("fully_productive", "time", 132.0),
            ],
            "{backend:?}"
        );
        assert_eq!(waterfall["data"]["warnings"], json!([]));
        let chart = &waterfall["chart"];
        assert_eq!(chart["type"], "bar");
        assert_eq!(chart["data"]["labels"][0], "Tiempo calendario");
        // Each bar floats over [low, high]; the negative speed loss reaches above operating time.
        assert_eq!(
            chart["data"]["datasets"][0]["data"],
            json!([
                [0.0, 86400.0],
                [7200.0, 86400.0],
                [0.0, 7200.0],
                [30.0, 7200.0],
                [0.0, 30.0],
                [30.0, 168.0],
                [0.0, 168.0],
                [132.0, 168.0],
                [0.0, 132.0]
            ])
        );
        let path = |extra: &str| {
            format!(
                "/api/v1/metrics/losses?line_id={}&start_date={}&end_date={}{extra}",
                line.line_id, DAY.0, DAY.1
            )
        };
        let losses = get_json(&app, &line.token, &path("")).await;
        assert_waterfall_matches_losses(&waterfall, &losses, 86400.0);
        // At 1 000 s the 600 s gap is a micro-stop: still the same figures.
        let wider = widget_data(&app, &line, 11, "en", json!({"downtime_threshold": 1000})).await;
        let losses = get_json(&app, &line.token, &path("&downtime_threshold=1000")).await;
        assert_waterfall_matches_losses(&wider, &losses, 86400.0);
        assert_eq!(
            wider["data"]["steps"][5]["seconds"], 462.0,
            "600 s micro-stop − 138 s speed"
        );
        assert_eq!(wider["chart"]["data"]["labels"][8], "Fully productive time");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_downtime_table_names_the_assigned_reason_with_its_colour_and_keeps_the_comment() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        let before = widget_data(&app, &line, 6, "es", json!({})).await;
        assert_eq!(before["data"]["rows"][1]["reason"], "N/A");
        let (jam, changeover) = explain_two_stops(&app, &line).await;
        let table = widget_data(&app, &line, 6, "es", json!({})).await;
        let rows = table["data"]["rows"].as_array().cloned().expect("rows");
        let said: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!([
                    r["reason"],
                    r["reason_id"],
                    r["reason_name"],
                    r["color"],
                    r["loss_class"],
                    r["comment"]
                ])
            })
            .collect();
        assert_eq!(
            said,
            vec![
                json!([
                    changeover.name_es,
                    changeover.id,
                    changeover.name_es,
                    changeover.color,
                    "setup",
                    "lote 42"
                ]),
                json!([jam.name_es, jam.id, jam.name_es, jam.color, "breakdown", "cinta 3"]),
                json!(["N/A", null, null, "#9ca3af", "unassigned", null]),
            ],
            "{backend:?}"
        );
        // The fields existing clients read are all still there.
        assert_eq!(rows[1]["start"], "2026-11-16T08:10:30+00:00");
        assert_eq!(
            (&rows[1]["duration"], &rows[1]["ongoing"]),
            (&json!("00:20:00"), &json!(false))
        );
        let keys: Vec<&str> = table["data"]["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(|c| c["key"].as_str())
            .collect();
        assert_eq!(keys, vec!["start", "end", "duration", "reason"]);
        let english = widget_data(&app, &line, 6, "en", json!({})).await;
        assert_eq!(english["data"]["rows"][1]["reason"], json!(jam.name_en));
        assert_eq!(english["data"]["columns"][3]["label"], "Reason");
        app.stop().await;
    }
}

/// Every chart of the admin layout is a Chart.js configuration as it is:
/// a known type, one value per label in every dataset (a number, `null` or
/// `[low, high]`), and nothing but JSON data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_layout_runs_the_loss_widgets_as_plain_chart_js_configurations() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let line = known_line(&app).await;
        explain_two_stops(&app, &line).await;
        let run = app
            .post_ok(
                &line.token,
                "/api/v1/dashboard/run",
                json!({"filters": {"line_id": line.line_id, "date_range": {"start_date": DAY.0, "end_date": DAY.1}}}),
            )
            .await;
        let widgets = run["widgets"].as_array().cloned().expect("widgets");
        let ids: Vec<i64> = widgets.iter().filter_map(|w| w["widget_id"].as_i64()).collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6, 10, 11]);
        for w in &widgets {
            assert!(w["error"].is_null(), "{backend:?}: {w}");
            let Some(chart) = w.get("chart") else { continue };
            let kind = chart["type"].as_str().unwrap_or_default();
            assert!(["line", "bar", "pie", "doughnut"].contains(&kind), "{w}");
            let labels = chart["data"]["labels"].as_array().map(Vec::len);
            for dataset in chart["data"]["datasets"].as_array().expect("datasets") {
                let data = dataset["data"].as_array().expect("data");
                assert_eq!(Some(data.len()), labels, "{w}");
                for value in data {
                    let fine = value.is_number()
                        || value.is_null()
                        || value
                            .as_array()
                            .is_some_and(|pair| pair.len() == 2 && pair.iter().all(Value::is_number));
                    assert!(fine, "{value} in {w}");
                }
            }
        }
        // The Pareto shares the table's stops, the waterfall shares the
        // OEE's basis: one more computation (the loss split) than before.
        assert_eq!(run["meta"]["computations"], 5, "{}", run["meta"]);
        let pareto = widgets.iter().find(|w| w["widget_id"] == 10).expect("pareto");
        assert_eq!(pareto["data"]["total_seconds"], 7170.0);
        let waterfall = widgets.iter().find(|w| w["widget_id"] == 11).expect("waterfall");
        assert_eq!(waterfall["data"]["steps"][8]["seconds"], 132.0);
        app.stop().await;
    }
}
