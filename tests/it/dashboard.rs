//! Dashboards on both backends: the admin layout over hand-built data with
//! known answers and over the demo data (compared with counts taken from the
//! line's table),
//! registry failures isolated to their widget, external widgets through the
//! data broker against a real loopback server (success, 500, malformed JSON,
//! timeout, refused connection), templates, catalog, filters and languages;
//! the Chart.js configurations of chart widgets and the typed widget results.

use std::time::{Duration, Instant};

use crate::common::{TestApp, backends, expect_problem};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The line of `tests/kpi.rs`: UTC tenant, shift Monday 2026-11-16 08:00-10:00,
/// threshold 300 s. Input: A 08:00:10, A 08:10, A 08:20, B 08:30, A 11:00.
/// Output: A 08:00:30, A 08:10:30, B 08:30:30, A 12:00.
struct Plant {
    token: String,
    manager: String,
    viewer: String,
    line_id: i64,
}

async fn known_plant(app: &TestApp) -> Plant {
    let product = |name: &str, code: &str, std: u32, kg: &str, colour: &str| json!({"product_name": name, "product_code": code, "production_std": std, "product_weight": kg, "product_color": colour});
    let plant = app
        .line_plant(
            "Dash",
            json!({"line_name": "K", "line_code": "K1", "downtime_threshold": 300}),
            &[product("Producto A", "A", 100, "2.5", "#ff0000"), product("Producto B", "B", 60, "1.25", "#00ff00")],
            &[json!({"shift_name": "Mañana", "days_implemented": ["Monday"], "start_time": "08:00", "end_time": "10:00", "is_overnight": false})],
        )
        .await;
    let (token, line_id, input, output) = (plant.token(), plant.line_id, plant.input, plant.output);
    let (a, b) = (plant.products[0], plant.products[1]);
    for (name, class, default) in [
        ("Fechas", "DateRangeFilter", json!({"preset": "last_7_days"})),
        ("Línea", "LineFilter", Value::Null),
        ("Intervalo", "IntervalFilter", json!({"interval": "1hour"})),
        ("Productos", "ProductFilter", json!([])),
        ("Paradas", "ShowStopsFilter", json!(true)),
    ] {
        app.post_ok(
            &token,
            "/api/v1/production/filters",
            json!({"filter_name": name, "class_name": class, "default_value": default}),
        )
        .await;
    }
    app.post_ok(
        &token,
        &format!("/api/v1/lines/{line_id}/detections"),
        crate::common::known_day_detections(input, output, a, b),
    )
    .await;
    Plant {
        token,
        manager: plant.tenant.manager.1,
        viewer: plant.tenant.viewer.1,
        line_id,
    }
}

fn the_day(line_id: i64) -> Value {
    json!({"filters": {"line_id": line_id, "date_range": {"start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"}}})
}

fn widget(run: &Value, id: i64) -> &Value {
    run["widgets"]
        .as_array()
        .and_then(|ws| ws.iter().find(|w| w["widget_id"] == id))
        .unwrap_or_else(|| panic!("widget {id} in {run}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_layout_answers_the_hand_computed_figures() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = known_plant(&app).await;
        let run = app.post_ok(&p.token, "/api/v1/dashboard/run", the_day(p.line_id)).await;
        let ids: Vec<i64> = run["widgets"]
            .as_array()
            .expect("widgets")
            .iter()
            .filter_map(|w| w["widget_id"].as_i64())
            .collect();
        assert_eq!(
            ids,
            vec![1, 2, 3, 4, 5, 6, 10, 11],
            "the original admin layout, then the loss widgets, in order"
        );
        for w in run["widgets"].as_array().expect("widgets") {
            assert!(w["error"].is_null(), "{w}");
            assert!(w["layout"]["w"].as_i64().is_some(), "{w}");
        }

        // Line chart: the tenant's default interval is 1hour; output detections per local hour.
        let chart = &widget(&run, 1)["data"];
        assert_eq!(chart["labels"].as_array().map(Vec::len), Some(24));
        assert_eq!(chart["labels"][8], "2026-11-16 08:00");
        let data = &chart["datasets"][0]["data"];
        assert_eq!((data[8].clone(), data[12].clone()), (json!(3), json!(1)));
        assert_eq!(
            data.as_array().map(|d| d.iter().filter_map(Value::as_u64).sum::<u64>()),
            Some(4)
        );
        assert_eq!(chart["datasets"][0]["label"], "Producción");
        assert_eq!(
            chart["stops"].as_array().map(Vec::len),
            Some(3),
            "show_stops defaults to true"
        );

        assert_eq!(
            widget(&run, 2)["data"],
            json!({"value": 1.75, "unit": "%", "label": "OEE", "kpi_type": "oee"})
        );
        assert_eq!(widget(&run, 3)["data"]["value"], 5, "input over the whole range");
        assert_eq!(widget(&run, 3)["data"]["unit"], "unidades");
        let bars = &widget(&run, 4)["data"];
        assert_eq!(bars["labels"], json!(["Entrada", "Salida", "Descarte"]));
        assert_eq!(bars["datasets"][0]["data"], json!([5, 4, 1]));
        let pie = &widget(&run, 5)["data"];
        assert_eq!(pie["labels"], json!(["Producto A", "Producto B"]));
        assert_eq!(pie["datasets"][0]["data"], json!([3, 1]));
        assert_eq!(pie["datasets"][0]["backgroundColor"], json!(["#ff0000", "#00ff00"]));
        let table = &widget(&run, 6)["data"];
        assert_eq!(
            table["columns"],
            json!([
                {"key": "start", "label": "Inicio"},
                {"key": "end", "label": "Fin"},
                {"key": "duration", "label": "Duración"},
                {"key": "reason", "label": "Razón"}
            ])
        );
        let durations: Vec<&str> = table["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|r| r["duration"].as_str())
            .collect();
        assert_eq!(durations, vec!["00:10:00", "00:20:00", "01:29:30"]);
        assert_eq!(table["rows"][0]["start"], "2026-11-16T08:00:30+00:00");

        // Through the rollups (the chart then reuses the gap analysis' minute rows): same answers.
        let next_morning = chrono::DateTime::parse_from_rfc3339("2026-11-17T06:00:00Z")
            .expect("fixture instant")
            .to_utc();
        app.state.clock.pin(next_morning);
        let advanced = crate::common::advance_rollups(&app.state, next_morning)
            .await
            .expect("advance");
        assert_eq!(advanced, 1);
        let rolled = app.post_ok(&p.token, "/api/v1/dashboard/run", the_day(p.line_id)).await;
        for id in [1, 2, 3, 4, 5, 6, 10, 11] {
            let mut before = widget(&run, id)["data"].clone();
            let mut after = widget(&rolled, id)["data"].clone();
            for data in [&mut before, &mut after] {
                data.as_object_mut().map(|o| o.remove("data_as_of"));
            }
            assert_eq!(before, after, "widget {id}");
        }

        // Shared data: the two KPI cards, the bars and the pie share one
        // summary; the table, the chart's stops and the Pareto one list of
        // stops; the waterfall adds the loss split.
        assert_eq!(run["meta"]["computations"], 5, "{}", run["meta"]);
        assert!(run["meta"]["elapsed_ms"].as_f64().is_some());

        // English labels on request, or from Accept-Language.
        let english: Value = app
            .authed(Method::POST, "/api/v1/dashboard/run", &p.token)
            .header("accept-language", "en-GB,en;q=0.8")
            .json(&the_day(p.line_id))
            .send()
            .await
            .expect("run")
            .json()
            .await
            .expect("json");
        assert_eq!(
            widget(&english, 4)["data"]["labels"],
            json!(["Input", "Output", "Rejected"])
        );
        assert_eq!(
            widget(&english, 6)["data"]["columns"][0],
            json!({"key": "start", "label": "Start"})
        );

        // A viewer gets the viewer layout; filters it may not set are named.
        let viewer = app
            .post_ok(&p.viewer, "/api/v1/dashboard/run", the_day(p.line_id))
            .await;
        assert_eq!(viewer["widgets"].as_array().map(Vec::len), Some(3));
        let bad = app
            .authed(Method::POST, "/api/v1/dashboard/run", &p.token)
            .json(&json!({"filters": {"line_id": 999, "shift_id": 1, "date_range": {"preset": "someday"}}}))
            .send()
            .await
            .expect("run");
        let problem = expect_problem(bad, 422).await;
        let fields = crate::common::problem_fields(&problem);
        assert_eq!(
            fields,
            vec!["filters.shift_id", "filters.line_id", "filters.date_range"],
            "{problem}"
        );

        // The run is recorded in user_query.
        let recorded = camet::with_conn!(&mut app.state.databases.global().get().await.expect("conn"), |c| {
            use diesel::{ExpressionMethods, QueryDsl};
            use diesel_async::RunQueryDsl;
            camet::db::schema::global::user_query::table
                .filter(camet::db::schema::global::user_query::query_type.eq("dashboard_run"))
                .count()
                .get_result::<i64>(c)
                .await
        })
        .expect("count");
        // The run, the run over rollups, the English run and the viewer's; the
        // refused run (422) is not a query.
        assert_eq!(recorded, 4);
        drop(p.manager);
        app.stop().await;
    }
}

/// The plugin options of the production chart: `(from, to, start)` per stop.
fn stop_ranges(chart: &Value) -> Vec<(u64, u64, String)> {
    chart["options"]["plugins"]["camet_stops"]["ranges"]
        .as_array()
        .unwrap_or_else(|| panic!("camet_stops ranges in {chart}"))
        .iter()
        .map(|r| {
            (
                r["from"].as_u64().unwrap_or(u64::MAX),
                r["to"].as_u64().unwrap_or(u64::MAX),
                r["start"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_widgets_carry_chart_js_configurations() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = known_plant(&app).await;
        let run = app.post_ok(&p.token, "/api/v1/dashboard/run", the_day(p.line_id)).await;

        // Production chart, hourly over Monday 2026-11-16 (UTC). Planned time is
        // the shift 08:00-10:00, so only the 08:00 and 09:00 buckets are planned.
        // Output detections: 08:00:30, 08:10:30, 08:30:30 (hour 8: 3), none in
        // hour 9 (planned: 0, not null), 12:00 (off shift but produced: 1, shown).
        // Every other hour is off shift and empty: null, so the line breaks.
        let line = widget(&run, 1);
        assert_eq!(line["widget_type"], "line_chart");
        let chart = &line["chart"];
        assert_eq!(chart["type"], "line");
        assert_eq!(chart["data"]["labels"], line["data"]["labels"]);
        let mut expected = vec![Value::Null; 24];
        expected[8] = json!(3);
        expected[9] = json!(0);
        expected[12] = json!(1);
        assert_eq!(chart["data"]["datasets"][0]["data"], Value::Array(expected));
        assert_eq!(chart["data"]["datasets"][0]["spanGaps"], false);
        assert_eq!(chart["data"]["datasets"][0]["label"], "Producción");
        // `data` keeps every bucket's count for existing clients.
        assert_eq!(line["data"]["datasets"][0]["data"][0], 0);
        assert!(line["data"]["datasets"][0].get("spanGaps").is_none());
        let options = &chart["options"];
        assert_eq!(
            options["scales"]["x"]["title"],
            json!({"display": true, "text": "Hora local (UTC)"})
        );
        assert_eq!(
            options["scales"]["y"]["title"],
            json!({"display": true, "text": "Unidades por hora"})
        );
        assert_eq!(options["scales"]["y"]["beginAtZero"], true);
        assert_eq!(options["locale"], "es");
        assert_eq!(options["maintainAspectRatio"], false);
        // Stops (threshold 300 s, gaps inside 08:00-10:00): 08:00:30-08:10:30 and
        // 08:10:30-08:30:30 in the 08:00 bucket (label 8); 08:30:30-10:00 from the
        // 08:00 bucket to the 09:00 one: its end, 10:00, is exclusive.
        assert_eq!(
            stop_ranges(chart),
            vec![
                (8, 8, "2026-11-16T08:00:30+00:00".to_owned()),
                (8, 8, "2026-11-16T08:10:30+00:00".to_owned()),
                (8, 9, "2026-11-16T08:30:30+00:00".to_owned()),
            ]
        );
        assert_eq!(
            chart["options"]["plugins"]["camet_stops"]["ranges"][2]["duration_seconds"],
            5370.0
        );
        // The same stops as the table's rows, in the same order.
        let starts: Vec<&str> = widget(&run, 6)["data"]["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter_map(|r| r["start"].as_str())
            .collect();
        assert_eq!(
            starts,
            stop_ranges(chart).iter().map(|r| r.2.as_str()).collect::<Vec<_>>()
        );

        // Bars and pie: Chart.js types, the data as it is, axes titled with units.
        let bars = widget(&run, 4);
        assert_eq!(bars["widget_type"], "comparison_bar");
        assert_eq!(bars["chart"]["type"], "bar");
        assert_eq!(bars["chart"]["data"], bars["data"]);
        assert_eq!(bars["chart"]["data"]["datasets"][0]["data"], json!([5, 4, 1]));
        assert_eq!(bars["chart"]["options"]["scales"]["y"]["title"]["text"], "Unidades");
        assert_eq!(bars["chart"]["options"]["plugins"]["legend"]["display"], false);
        let pie = widget(&run, 5);
        assert_eq!(pie["widget_type"], "pie_chart");
        assert_eq!(pie["chart"]["type"], "pie");
        assert_eq!(pie["chart"]["data"], pie["data"]);
        assert!(pie["chart"]["options"].get("scales").is_none(), "a pie has no axes");

        // Cards and tables keep their own shapes, without a chart.
        for id in [2, 3, 6] {
            assert!(widget(&run, id).get("chart").is_none(), "widget {id}");
        }
        // The table's columns name row keys.
        let table = &widget(&run, 6)["data"];
        let keys: Vec<&str> = table["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .filter_map(|c| c["key"].as_str())
            .collect();
        assert_eq!(keys, vec!["start", "end", "duration", "reason"]);
        let rows = table["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 3);
        for row in rows {
            for key in &keys {
                assert!(row.get(*key).is_some_and(|v| !v.is_null()), "{key} in {row}");
            }
        }

        // English: titles and locale follow the request.
        let english = app
            .post_ok(&p.token, "/api/v1/dashboard/run?lang=en", the_day(p.line_id))
            .await;
        let options = &widget(&english, 1)["chart"]["options"];
        assert_eq!(options["scales"]["y"]["title"]["text"], "Units per hour");
        assert_eq!(options["scales"]["x"]["title"]["text"], "Local time (UTC)");
        assert_eq!(options["locale"], "en");

        // Without show_stops the chart has no stops to shade.
        let no_stops = app
            .post_ok(
                &p.token,
                "/api/v1/dashboard/widgets/1/data",
                json!({"params": {"line_id": p.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z", "interval": "1hour", "show_stops": false}}),
            )
            .await;
        assert_eq!(no_stops["widget_type"], "line_chart");
        assert!(no_stops["chart"]["options"]["plugins"].get("camet_stops").is_none());
        assert!(no_stops["data"].get("stops").is_none());
        assert_eq!(no_stops["chart"]["data"]["datasets"][0]["data"][0], Value::Null);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_types_widget_results_by_widget_type() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let doc: Value = app.get("/openapi.json").await.json().await.expect("json");
        let schemas = &doc["components"]["schemas"];
        let result = &schemas["WidgetResult"];
        assert_eq!(result["discriminator"]["propertyName"], "widget_type", "{result}");
        let mut mapped: Vec<&str> = result["discriminator"]["mapping"]
            .as_object()
            .expect("mapping")
            .keys()
            .map(String::as_str)
            .collect();
        mapped.sort_unstable();
        assert_eq!(
            mapped,
            vec![
                "comparison_bar",
                "kpi_card",
                "line_chart",
                "pareto_chart",
                "pie_chart",
                "table",
                "unknown",
                "waterfall_chart"
            ]
        );
        assert_eq!(result["oneOf"].as_array().map(Vec::len), Some(8));
        // Each type's data is its own object, not an untyped value.
        // A reference: bare, or (optional data) "the reference or null".
        let ref_of = |property: &Value| {
            property["$ref"]
                .as_str()
                .or_else(|| property["anyOf"][0]["$ref"].as_str())
                .map(str::to_owned)
        };
        let data_ref = |widget: &str| ref_of(&schemas[widget]["properties"]["data"]);
        assert_eq!(
            data_ref("LineChartWidget").as_deref(),
            Some("#/components/schemas/LineChartData")
        );
        assert_eq!(
            data_ref("KpiCardWidget").as_deref(),
            Some("#/components/schemas/KpiCardData")
        );
        assert_eq!(
            data_ref("TableWidget").as_deref(),
            Some("#/components/schemas/TableData")
        );
        assert_eq!(
            data_ref("PieChartWidget").as_deref(),
            Some("#/components/schemas/ChartJsData")
        );
        assert_eq!(
            ref_of(&schemas["ChartJs"]["properties"]["type"]).as_deref(),
            Some("#/components/schemas/ChartType")
        );
        assert_eq!(schemas["ChartType"]["enum"], json!(["line", "bar", "pie", "doughnut"]));
        app.stop().await;
    }
}

/// Detections of `area_type` on the line in `[start, end)` (RFC 3339),
/// counted straight from the line's table: an oracle that shares no code
/// with the KPI engine or the rollups.
async fn counted_in_table(app: &TestApp, tenant_id: i32, line_id: i32, area_type: &str, start: &str, end: &str) -> u64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let naive = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .unwrap_or_else(|e| panic!("{t}: {e}"))
            .naive_utc()
            .format("%Y-%m-%d %H:%M:%S%.6f")
            .to_string()
    };
    let sql = format!(
        "SELECT COUNT(*) AS n FROM detection_line_{line_id} d JOIN area a ON a.area_id = d.area_id \
         WHERE a.line_id = {line_id} AND a.area_type = '{area_type}' AND d.detected_at >= '{}' AND d.detected_at < '{}'",
        naive(start),
        naive(end)
    );
    let pool = app.state.databases.tenant(tenant_id).await.expect("pool");
    let mut conn = pool.get().await.expect("conn");
    let count: Count = camet::with_conn!(&mut conn, |c| diesel_async::RunQueryDsl::get_result(
        diesel::sql_query(&sql),
        c
    )
    .await)
    .expect("count");
    u64::try_from(count.n).expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_layout_over_the_demo_data_agrees_with_counts_taken_from_the_table() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let seed = camet::demo::seed(&app.state.databases, app.state.hashing, 2)
            .await
            .expect("demo");
        // The demo is seeded straight into the databases, before serving in
        // production; here the server already runs and its jobs may have
        // cached the tenant's plant half-seeded: read it afresh, as a start would.
        app.state
            .cache
            .reload(&app.state.databases, seed.tenant_id)
            .await
            .expect("plant snapshot");
        let token = app.login_ok_with(&seed.username, &seed.password).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        // The demo's own filter defaults: last 7 days, 15-minute interval, its line.
        let run = app
            .post_ok(&token, "/api/v1/dashboard/run", json!({"filters": {}}))
            .await;
        for w in run["widgets"].as_array().expect("widgets") {
            assert!(w["error"].is_null(), "{w}");
        }
        let range = &run["meta"]["filters"];
        assert_eq!(range["interval"], "15min");
        let (start, end) = (
            range["start_date"].as_str().expect("start"),
            range["end_date"].as_str().expect("end"),
        );
        // The oracle: rows counted in the line's table by area type (not the
        // KPI endpoints, which call the same functions as the widgets).
        let input = counted_in_table(&app, seed.tenant_id, seed.line_id, "input", start, end).await;
        let output = counted_in_table(&app, seed.tenant_id, seed.line_id, "output", start, end).await;
        assert!(output > 100, "the demo produced in its last two days: {output}");
        assert!(input >= output, "{input} in, {output} out");

        assert_eq!(widget(&run, 3)["data"]["value"], input, "input over the range");
        assert_eq!(
            widget(&run, 4)["data"]["datasets"][0]["data"],
            json!([input, output, input - output]),
            "input, output, rejected"
        );
        let chart: u64 = widget(&run, 1)["data"]["datasets"][0]["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(chart, output, "every output detection lands in one 15-minute bucket");
        let pie: u64 = widget(&run, 5)["data"]["datasets"][0]["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(pie, output, "the product split covers every output detection");
        // Stops and OEE are checked against hand-derived figures in
        // the_admin_layout_answers_the_hand_computed_figures; here only their
        // agreement between the two widgets that show them.
        assert_eq!(
            widget(&run, 1)["data"]["stops"].as_array().map(Vec::len),
            widget(&run, 6)["data"]["rows"].as_array().map(Vec::len)
        );
        app.stop().await;
    }
}

/// A one-route HTTP server answering every request with `status`, `body`
/// after `delay`.
async fn external_api(status: u16, body: &'static str, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/series")
}

async fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}/series")
}

async fn put_admin_layout(app: &TestApp, token: &str, grid: Value) {
    let response = app
        .authed(Method::PUT, "/api/v1/dashboard/templates/admin", token)
        .json(&json!({"grid": grid}))
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_widgets_fail_alone_and_slow_apis_only_cost_their_timeout() {
    let ok = external_api(200, r#"{"hours":["10:00","11:00"],"temp":[12.5,14]}"#, Duration::ZERO).await;
    let broken = external_api(500, r#"{"error":"down"}"#, Duration::ZERO).await;
    let garbled = external_api(200, "{not json", Duration::ZERO).await;
    let slow = external_api(200, r#"{"labels":[],"values":[]}"#, Duration::from_secs(10)).await;
    let refused = refused_url().await;
    let dir = tempfile::tempdir().expect("dir");
    let apis = dir.path().join("external_apis.yml");
    let yaml = format!(
        "apis:\n  - {{api_id: weather, base_url: '{ok}', timeout_ms: 2000, labels_pointer: /hours, values_pointer: /temp}}\n  - {{api_id: broken, base_url: '{broken}', timeout_ms: 2000}}\n  - {{api_id: garbled, base_url: '{garbled}', timeout_ms: 2000}}\n  - {{api_id: slow, base_url: '{slow}', timeout_ms: 500}}\n  - {{api_id: refused, base_url: '{refused}', timeout_ms: 2000}}\n"
    );
    std::fs::write(&apis, yaml).expect("write yml");
    let path = apis.display().to_string();
    for backend in backends() {
        let app = TestApp::start_with(
            backend,
            &[("CAMET_EXTERNAL_APIS", &path), ("CAMET_BROKER_CACHE_SECS", "0")],
        )
        .await;
        let p = known_plant(&app).await;
        // A catalog row whose class this server does not know.
        camet::with_conn!(&mut app.state.databases.global().get().await.expect("conn"), |c| {
            use diesel_async::RunQueryDsl;
            diesel::sql_query(
                "INSERT INTO widget_catalog (widget_id, widget_name, widget_type, class_name, source_type, required_params, created_at) \
                 VALUES (100, 'Ghost', 'line_chart', 'NoSuchWidget', 'internal', '{}', '2026-11-22 00:00:00')",
            )
            .execute(c)
            .await
        })
        .expect("insert ghost");
        let external = |api: &str| json!({"api_id": api, "label": "°C"});
        put_admin_layout(
            &app,
            &p.token,
            json!([
                {"widget_id": 100, "x": 0, "y": 0, "w": 6, "h": 2},
                {"widget_id": 2, "x": 6, "y": 0, "w": 6, "h": 2},
                {"widget_id": 9, "x": 0, "y": 2, "w": 6, "h": 2, "params": external("weather")},
                {"widget_id": 9, "x": 6, "y": 2, "w": 6, "h": 2, "params": external("broken")},
                {"widget_id": 9, "x": 0, "y": 4, "w": 6, "h": 2, "params": external("garbled")},
                {"widget_id": 9, "x": 6, "y": 4, "w": 6, "h": 2, "params": external("slow")},
                {"widget_id": 9, "x": 0, "y": 6, "w": 6, "h": 2, "params": external("refused")},
                {"widget_id": 9, "x": 6, "y": 6, "w": 6, "h": 2, "params": external("nowhere")},
                {"widget_id": 3, "x": 0, "y": 8, "w": 6, "h": 2, "params": {"kpi_type": "colour"}}
            ]),
        )
        .await;
        let started = Instant::now();
        let run = app.post_ok(&p.token, "/api/v1/dashboard/run", the_day(p.line_id)).await;
        let took = started.elapsed();
        // The slow API answers after 10 s and has a 500 ms deadline; the other
        // calls run beside it. A run that waited for any answer past its
        // deadline would take at least 10 s, so this bound (20 times the
        // slowest deadline) fails only on that, never on a busy machine.
        assert!(
            took < Duration::from_secs(10),
            "the run waited for the slow API's answer instead of its deadline: {took:?}"
        );
        let ws = run["widgets"].as_array().expect("widgets");
        let kinds: Vec<&str> = ws.iter().map(|w| w["error"]["kind"].as_str().unwrap_or("ok")).collect();
        assert_eq!(
            kinds,
            vec![
                "unknown_widget",
                "ok",
                "ok",
                "external_bad_status",
                "external_invalid_json",
                "external_timeout",
                "external_unreachable",
                "external_unknown_api",
                "invalid_params"
            ],
            "{run}"
        );
        assert_eq!(ws[1]["data"]["value"], 1.75, "the OEE card is unharmed");
        assert_eq!(ws[2]["data"]["labels"], json!(["10:00", "11:00"]));
        assert_eq!(ws[2]["data"]["datasets"][0]["data"], json!([12.5, 14]));
        assert_eq!(ws[2]["data"]["datasets"][0]["label"], "°C");
        // Its Chart.js configuration: a line, the series as it came, the unit on the value axis.
        assert_eq!(ws[2]["widget_type"], "line_chart");
        assert_eq!(ws[2]["chart"]["type"], "line");
        assert_eq!(ws[2]["chart"]["data"]["labels"], json!(["10:00", "11:00"]));
        assert_eq!(ws[2]["chart"]["data"]["datasets"][0]["data"], json!([12.5, 14]));
        assert_eq!(ws[2]["chart"]["options"]["scales"]["y"]["title"]["text"], "°C");
        // A failed chart has neither data nor chart; an unknown class keeps its catalog type.
        assert_eq!((&ws[3]["data"], &ws[3]["chart"]), (&Value::Null, &Value::Null));
        assert_eq!(ws[0]["widget_type"], "line_chart");
        assert_eq!(ws[8]["error"]["field"], "params.kpi_type");
        assert!(
            ws[0]["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("NoSuchWidget"))
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_catalog_filters_and_single_widgets() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = known_plant(&app).await;
        let get = |path: &'static str, token: &str| app.authed(Method::GET, path, token).send();

        let layout: Value = get("/api/v1/dashboard/layout", &p.token)
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(layout["grid"].as_array().map(Vec::len), Some(8));
        assert_eq!(
            layout["grid"][0],
            json!({"widget_id": 1, "x": 0, "y": 0, "w": 8, "h": 4, "params": null})
        );

        // Templates: admins only, unknown widgets and bad cells named.
        let forbidden = app
            .authed(Method::PUT, "/api/v1/dashboard/templates/viewer", &p.viewer)
            .json(&json!({"grid": []}))
            .send()
            .await
            .expect("put");
        expect_problem(forbidden, 403).await;
        let bad = app
            .authed(Method::PUT, "/api/v1/dashboard/templates/viewer", &p.token)
            .json(&json!({"grid": [{"widget_id": 5, "x": 0, "y": 0, "w": 6, "h": 2}, {"widget_id": 77, "x": 0, "y": 0, "w": 13, "h": 2}]}))
            .send()
            .await
            .expect("put");
        let problem = expect_problem(bad, 422).await;
        let fields = crate::common::problem_fields(&problem);
        assert_eq!(fields, vec!["grid[1].widget_id", "grid[1].w"]);
        let role = app
            .authed(Method::PUT, "/api/v1/dashboard/templates/owner", &p.token)
            .json(&json!({"grid": []}))
            .send()
            .await
            .expect("put");
        expect_problem(role, 422).await;
        let stored = app
            .authed(Method::PUT, "/api/v1/dashboard/templates/viewer", &p.token)
            .json(&json!({"grid": [{"widget_id": 5, "x": 0, "y": 0, "w": 12, "h": 4}]}))
            .send()
            .await
            .expect("put");
        assert_eq!(stored.status(), 200);
        let viewer_layout: Value = get("/api/v1/dashboard/layout", &p.viewer)
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(viewer_layout["grid"].as_array().map(Vec::len), Some(1));

        // Catalog: admins and managers.
        expect_problem(
            get("/api/v1/dashboard/widgets/catalog", &p.viewer).await.expect("get"),
            403,
        )
        .await;
        let catalog: Value = get("/api/v1/dashboard/widgets/catalog", &p.manager)
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        let entries = catalog.as_array().expect("catalog");
        assert_eq!(entries.len(), 11);
        assert!(entries.iter().all(|e| e["required_params"]["type"] == "object"));
        assert_eq!(entries[8]["source_type"], "external");

        // Filters: the tenant's rows, with options from the cache and defaults.
        let filters: Value = get("/api/v1/dashboard/filters", &p.viewer)
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        let keys: Vec<&str> = filters
            .as_array()
            .expect("filters")
            .iter()
            .filter_map(|f| f["key"].as_str())
            .collect();
        assert_eq!(
            keys,
            vec!["date_range", "line_id", "interval", "product_ids", "show_stops"]
        );
        assert_eq!(filters[1]["options"][0]["value"], p.line_id);
        assert_eq!(filters[1]["default"], p.line_id, "no tenant default: the first line");
        assert_eq!(filters[2]["default"], json!({"interval": "1hour"}));
        assert_eq!(filters[3]["options"].as_array().map(Vec::len), Some(2));

        // One widget: params validated against its schema, the field named.
        let params =
            json!({"line_id": p.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"});
        let card = app
            .post_ok(&p.viewer, "/api/v1/dashboard/widgets/8/data", json!({"params": params}))
            .await;
        assert_eq!(
            card["data"],
            json!({"value": 3, "unit": "paradas", "label": "Paradas", "kpi_type": "downtime_count"})
        );
        let mut wrong = params.clone();
        wrong["kpi_type"] = json!("colour");
        let bad = app
            .authed(Method::POST, "/api/v1/dashboard/widgets/2/data", &p.viewer)
            .json(&json!({"params": wrong}))
            .send()
            .await
            .expect("post");
        let problem = expect_problem(bad, 422).await;
        assert_eq!(problem["errors"][0]["field"], "params.kpi_type", "{problem}");
        let missing = app
            .authed(Method::POST, "/api/v1/dashboard/widgets/2/data", &p.viewer)
            .json(&json!({"params": {"line_id": p.line_id}}))
            .send()
            .await
            .expect("post");
        expect_problem(missing, 422).await;
        let unknown = app
            .authed(Method::POST, "/api/v1/dashboard/widgets/404/data", &p.viewer)
            .json(&json!({"params": params}))
            .send()
            .await
            .expect("post");
        expect_problem(unknown, 404).await;
        let english = app
            .post_ok(
                &p.viewer,
                "/api/v1/dashboard/widgets/8/data?lang=en",
                json!({"params": params}),
            )
            .await;
        assert_eq!(english["data"]["label"], "Stops");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_downtime_table_shows_the_reason_given_on_the_persisted_stop() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = known_plant(&app).await;
        let window =
            json!({"line_id": p.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"});
        app.post_ok(&p.token, "/api/v1/downtime/recalculate", window).await;
        let persisted: Value = app
            .authed(
                reqwest::Method::GET,
                &format!(
                    "/api/v1/downtime/{}/events?start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z",
                    p.line_id
                ),
                &p.token,
            )
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let events = persisted["items"].as_array().or(persisted.as_array()).expect("events");
        let second = events
            .iter()
            .find(|e| e["start"] == "2026-11-16T08:10:30+00:00")
            .expect("the 08:10:30 stop");
        let id = second["event_id"].as_i64().expect("id");
        let explained = app
            .authed(
                reqwest::Method::PUT,
                &format!("/api/v1/downtime/{}/{id}", p.line_id),
                &p.token,
            )
            .json(&json!({"reason_code": "JAM", "reason": "Atasco en cinta"}))
            .send()
            .await
            .expect("put");
        assert_eq!(explained.status(), 200);
        let run = app.post_ok(&p.token, "/api/v1/dashboard/run", the_day(p.line_id)).await;
        let rows = widget(&run, 6)["data"]["rows"].as_array().cloned().expect("rows");
        let reasons: Vec<Value> = rows.iter().map(|r| r["reason"].clone()).collect();
        assert_eq!(
            reasons,
            vec![json!("N/A"), json!("Atasco en cinta"), json!("N/A")],
            "the reason joins its stop by start instant: {rows:?}"
        );
        app.stop().await;
    }
}
