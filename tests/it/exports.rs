//! Formats and exports on both backends: `/metrics/query` and `/downtime`
//! as CSV and XLSX read back (csv, calamine) equal their JSON answers cell
//! by cell; a detection export read in many small pages equals the JSON
//! listing row for row; unknown formats are 422s; viewer API keys export;
//! the per-tenant export bound answers 429.
//!
//! The plant is `query.rs`'s: tenant in UTC, shifts Morning (Monday
//! 08:00-10:00) and Afternoon (10:00-12:00), line 1 with the known day of
//! `kpi.rs` on Monday 2026-11-16, line 2 without detections.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, NaiveDate};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestApp, backends, expect_problem, problem_fields};

const DAY: (&str, &str) = ("2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z");
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

struct Plant {
    admin: String,
    viewer: String,
    tenant_id: i32,
    line1: i64,
    line2: i64,
    input: i64,
    output: i64,
    products: Vec<i64>,
}

async fn plant(app: &TestApp) -> Plant {
    let product = |name: &str, code: &str, std: i32, weight: &str| json!({"product_name": name, "product_code": code, "production_std": std, "product_weight": weight});
    let shift = |name: &str, start: &str, end: &str| json!({"shift_name": name, "days_implemented": ["Monday"], "start_time": start, "end_time": end, "is_overnight": false});
    let p = app
        .line_plant(
            "Exports",
            json!({"line_name": "Línea 1, \"norte\"", "line_code": "L1", "downtime_threshold": 300}),
            &[
                product("Producto A", "A", 100, "2.5"),
                product("Producto B", "B", 60, "1.25"),
            ],
            &[shift("Morning", "08:00", "10:00"), shift("Afternoon", "10:00", "12:00")],
        )
        .await;
    let admin = p.token();
    let (line2, _, _) = app
        .line_with_areas(
            &admin,
            json!({"line_name": "Line 2", "line_code": "L2", "downtime_threshold": 300}),
        )
        .await;
    app.post_ok(
        &admin,
        &format!("/api/v1/lines/{}/detections", p.line_id),
        crate::common::known_day_detections(p.input, p.output, p.products[0], p.products[1]),
    )
    .await;
    Plant {
        admin,
        viewer: p.tenant.viewer.1.clone(),
        tenant_id: p.tenant.tenant_id,
        line1: p.line_id,
        line2,
        input: p.input,
        output: p.output,
        products: p.products,
    }
}

/// GETs `path` with `token`, asking for `accept`; the answer must be a 200.
async fn fetch(app: &TestApp, path: &str, token: &str, accept: &str) -> reqwest::Response {
    let response = app
        .authed(Method::GET, path, token)
        .header("accept", accept)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200, "{path}");
    response
}

async fn json_of(app: &TestApp, path: &str, token: &str) -> Value {
    fetch(app, path, token, "application/json")
        .await
        .json()
        .await
        .expect("json")
}

/// A file answer's bytes, after checking its type and file name.
async fn file_of(response: reqwest::Response, content_type: &str, name_part: &str) -> Vec<u8> {
    let header = |name: &str| response.headers()[name].to_str().expect("header").to_owned();
    assert!(
        header("content-type").starts_with(content_type),
        "{}",
        header("content-type")
    );
    let disposition = header("content-disposition");
    assert!(
        disposition.starts_with("attachment; filename=\"") && disposition.contains(name_part),
        "{disposition}"
    );
    response.bytes().await.expect("body").to_vec()
}

/// The CSV text of a JSON value, as the server writes it.
fn csv_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Asserts the CSV `bytes` hold `keys` as header and `rows` (JSON objects) as records.
fn assert_csv_equals(bytes: &[u8], keys: &[String], rows: &[Value], at: &str) {
    let text = std::str::from_utf8(bytes).expect("utf-8");
    assert!(text.ends_with("\r\n"), "{at}: CRLF records");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
    assert_eq!(header, keys, "{at}");
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("record")).collect();
    assert_eq!(records.len(), rows.len(), "{at}: rows");
    for (i, (record, row)) in records.iter().zip(rows).enumerate() {
        for (key, field) in keys.iter().zip(record.iter()) {
            assert_eq!(field, csv_text(&row[key]), "{at}: row {i} {key}");
        }
    }
}

/// Days since 1899-12-30 of the local reading of an RFC 3339 instant: how
/// Excel holds a date-time.
fn excel_serial(instant: &str) -> f64 {
    let local = DateTime::parse_from_rfc3339(instant)
        .unwrap_or_else(|e| panic!("{instant}: {e}"))
        .naive_local();
    let epoch = NaiveDate::from_ymd_opt(1899, 12, 30)
        .expect("epoch")
        .and_hms_opt(0, 0, 0)
        .expect("midnight");
    (local - epoch).num_microseconds().expect("micros") as f64 / 86_400e6
}

/// Asserts an XLSX cell holds the JSON `value` of a column of `kind`:
/// numbers as numbers, percentages as fractions, instants as Excel
/// date-times (to the millisecond), null as a blank.
fn assert_cell(cell: Option<&Data>, value: &Value, kind: &str, at: &str) {
    let number = |cell: Option<&Data>| match cell {
        Some(Data::Float(f)) => *f,
        Some(Data::Int(i)) => *i as f64,
        Some(Data::DateTime(d)) => d.as_f64(),
        other => panic!("{at}: a number expected, got {other:?} for {value}"),
    };
    match (kind, value) {
        (_, Value::Null) => assert!(matches!(cell, None | Some(Data::Empty)), "{at}: blank, got {cell:?}"),
        ("percent", Value::Number(n)) => {
            let expected = n.as_f64().expect("f64") / 100.0;
            assert!((number(cell) - expected).abs() < 1e-12, "{at}: {cell:?} vs {expected}");
            assert!(matches!(cell, Some(Data::Float(_))), "{at}: a plain number: {cell:?}");
        }
        ("datetime", Value::String(s)) => {
            assert!(matches!(cell, Some(Data::DateTime(_))), "{at}: a date-time: {cell:?}");
            assert!(
                (number(cell) - excel_serial(s)).abs() * 86_400.0 < 0.001,
                "{at}: {cell:?} vs {s}"
            );
        }
        (_, Value::Number(n)) => assert_eq!(number(cell), n.as_f64().expect("f64"), "{at}"),
        (_, Value::Bool(b)) => assert_eq!(cell, Some(&Data::Bool(*b)), "{at}"),
        (_, Value::String(s)) => assert_eq!(cell, Some(&Data::String(s.clone())), "{at}"),
        (_, other) => panic!("{at}: unexpected value {other}"),
    }
}

/// The XLSX `bytes`: its two sheets' names, then the data and "Query" sheets.
fn open_xlsx(bytes: Vec<u8>, data_sheet: &str) -> (calamine::Range<Data>, calamine::Range<Data>) {
    let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).expect("an XLSX file");
    assert_eq!(workbook.sheet_names(), [data_sheet, "Query"]);
    let data = workbook.worksheet_range(data_sheet).expect("data sheet");
    let about = workbook.worksheet_range("Query").expect("query sheet");
    (data, about)
}

/// Asserts the data sheet holds `columns` (key, kind) as header and `rows` below it.
fn assert_sheet_equals(data: &calamine::Range<Data>, columns: &[(String, String)], rows: &[Value], at: &str) {
    assert_eq!(data.height(), rows.len() + 1, "{at}: header and rows");
    for (c, (key, _)) in columns.iter().enumerate() {
        assert_eq!(data.get((0, c)), Some(&Data::String(key.clone())), "{at}: header {c}");
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, (key, kind)) in columns.iter().enumerate() {
            assert_cell(data.get((r + 1, c)), &row[key], kind, &format!("{at}: row {r} {key}"));
        }
    }
}

/// The value beside `field` on the "Query" sheet.
fn about<'a>(sheet: &'a calamine::Range<Data>, field: &str) -> Option<&'a Data> {
    (0..sheet.height())
        .find(|&r| sheet.get((r, 0)) == Some(&Data::String(field.to_owned())))
        .and_then(|r| sheet.get((r, 1)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_by_line_and_shift_with_compare_reads_back_equal_from_csv_and_xlsx() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        let path = format!(
            "/api/v1/metrics/query?line_ids={},{}&start_date={}&end_date={}&dimensions=line,shift&compare=previous_period",
            p.line1, p.line2, DAY.0, DAY.1
        );
        let answer = json_of(&app, &path, &p.viewer).await;
        let rows = answer["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 4, "{backend:?}: 2 lines x 2 shifts: {answer}");
        let columns: Vec<(String, String)> = answer["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .map(|c| {
                (
                    c["key"].as_str().expect("key").to_owned(),
                    c["type"].as_str().expect("type").to_owned(),
                )
            })
            .collect();
        let keys: Vec<String> = columns.iter().map(|(k, _)| k.clone()).collect();
        assert!(keys.contains(&"oee_previous".to_owned()) && keys.contains(&"oee_delta".to_owned()));

        // CSV by format= and by Accept.
        for (extra, accept) in [("&format=csv", "*/*"), ("", "text/csv")] {
            let response = fetch(&app, &format!("{path}{extra}"), &p.viewer, accept).await;
            let bytes = file_of(response, "text/csv", "camet-query-20261116.csv").await;
            assert_csv_equals(&bytes, &keys, rows, &format!("{backend:?} csv {accept}"));
        }
        // XLSX by format= (winning over Accept) and by Accept.
        for (extra, accept) in [("&format=xlsx", "text/csv"), ("", XLSX)] {
            let response = fetch(&app, &format!("{path}{extra}"), &p.viewer, accept).await;
            let bytes = file_of(response, XLSX, "camet-query-20261116.xlsx").await;
            let (data, query) = open_xlsx(bytes, "KPIs");
            assert_sheet_equals(&data, &columns, rows, &format!("{backend:?} xlsx {accept}"));
            assert_eq!(about(&query, "row_count"), Some(&Data::Float(4.0)));
            assert_eq!(about(&query, "compare"), Some(&Data::String("previous_period".into())));
            assert_eq!(
                about(&query, "dimensions"),
                Some(&Data::String("[\"line\",\"shift\"]".into()))
            );
            // Clipped at now, which moved on between the two requests.
            let as_of = excel_serial(answer["meta"]["data_as_of"].as_str().expect("data_as_of"));
            match about(&query, "data_as_of") {
                Some(Data::DateTime(at)) => assert!((at.as_f64() - as_of).abs() * 86_400.0 < 60.0, "{at:?}"),
                other => panic!("data_as_of: {other:?}"),
            }
            for (key, kind) in &columns {
                if let Some(total) = answer["totals"].get(key) {
                    assert_cell(about(&query, &format!("total.{key}")), total, kind, key);
                }
            }
        }
        // POST takes the format in its body.
        let response = app
            .authed(Method::POST, "/api/v1/metrics/query", &p.viewer)
            .json(&json!({"line_ids": [p.line1, p.line2], "start_date": DAY.0, "end_date": DAY.1, "dimensions": ["line", "shift"], "compare": "previous_period", "format": "xlsx"}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        let (data, _) = open_xlsx(file_of(response, XLSX, ".xlsx").await, "KPIs");
        assert_sheet_equals(&data, &columns, rows, &format!("{backend:?} post xlsx"));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_downtime_list_reads_back_equal_from_csv_and_xlsx() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        let path = format!(
            "/api/v1/downtime?line_id={}&start_date={}&end_date={}",
            p.line1, DAY.0, DAY.1
        );
        let answer = json_of(&app, &path, &p.viewer).await;
        let events: Vec<Value> = answer["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| {
                let mut row = e.clone();
                row["line_id"] = answer["line_id"].clone();
                row
            })
            .collect();
        assert_eq!(events.len(), 3, "{backend:?}: the hand-checked stops: {answer}");
        let columns: Vec<(String, String)> = [
            ("line_id", "integer"),
            ("start", "datetime"),
            ("end", "datetime"),
            ("duration_seconds", "number"),
            ("ongoing", "boolean"),
        ]
        .iter()
        .map(|(k, t)| ((*k).to_owned(), (*t).to_owned()))
        .collect();
        let keys: Vec<String> = columns.iter().map(|(k, _)| k.clone()).collect();
        let name = format!("camet-downtime-line{}", p.line1);

        let csv = file_of(
            fetch(&app, &format!("{path}&format=csv"), &p.viewer, "*/*").await,
            "text/csv",
            &name,
        )
        .await;
        assert_csv_equals(&csv, &keys, &events, &format!("{backend:?} downtime csv"));
        let xlsx = file_of(fetch(&app, &path, &p.viewer, XLSX).await, XLSX, &name).await;
        let (data, query) = open_xlsx(xlsx, "Downtime");
        assert_sheet_equals(&data, &columns, &events, &format!("{backend:?} downtime xlsx"));
        assert_eq!(about(&query, "downtime_count"), Some(&Data::Float(3.0)));
        assert_cell(
            about(&query, "total_downtime_seconds"),
            &answer["total_downtime_seconds"],
            "number",
            "total",
        );
        app.stop().await;
    }
}

/// Every detection of the JSON listing, read in pages of `limit`.
async fn listed(app: &TestApp, token: &str, query: &str, limit: usize) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/api/v1/data/detections?{query}&limit={limit}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = json_of(app, &path, token).await;
        rows.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return rows,
        }
    }
    panic!("the listing did not end within 100 pages");
}

const DETECTION_COLUMNS: [(&str, &str); 8] = [
    ("detection_id", "integer"),
    ("line_id", "integer"),
    ("detected_at", "datetime"),
    ("area_id", "integer"),
    ("area_name", "string"),
    ("product_id", "integer"),
    ("product_name", "string"),
    ("external_id", "string"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_of_detections_exported_in_small_pages_equals_the_json_listing() {
    for backend in backends() {
        let app = TestApp::start_with(backend, &[("CAMET_EXPORT_PAGE_ROWS", "4")]).await;
        let p = plant(&app).await;
        // More rows over the month, some at the same instant (the keyset's
        // tie-break), with ids that need CSV quoting.
        let more: Vec<Value> = (0..23)
            .map(|i| {
                json!({
                    "detected_at": format!("2026-11-{:02}T{:02}:00:00.{:03}Z", 2 + i % 20, 6 + i % 5, (i % 3) * 250),
                    "area_id": if i % 2 == 0 { p.input } else { p.output },
                    "product_id": p.products[i % 2],
                    "external_id": if i % 4 == 0 { Value::Null } else { json!(format!("ev,\"{i}\"")) },
                })
            })
            .collect();
        app.post_ok(&p.admin, &format!("/api/v1/lines/{}/detections", p.line1), json!(more))
            .await;
        app.post_ok(
            &p.admin,
            &format!("/api/v1/lines/{}/detections", p.line1),
            json!([{"detected_at": "2026-11-16T08:00:10Z", "area_id": p.input, "product_id": p.products[1]}]),
        )
        .await;
        let month = format!(
            "line_id={}&start_date=2026-11-01T00:00:00Z&end_date=2026-12-01T00:00:00Z",
            p.line1
        );
        let rows = listed(&app, &p.viewer, &month, 7).await;
        assert_eq!(rows.len(), 33, "{backend:?}: 9 + 23 + 1");
        let columns: Vec<(String, String)> = DETECTION_COLUMNS
            .iter()
            .map(|(k, t)| ((*k).to_owned(), (*t).to_owned()))
            .collect();
        let keys: Vec<String> = columns.iter().map(|(k, _)| k.clone()).collect();
        let name = format!("camet-detections-line{}-20261101-20261201", p.line1);

        // CSV is the default, by Accept too.
        for (extra, accept) in [("", "*/*"), ("&format=csv", XLSX), ("", "text/csv")] {
            let path = format!("/api/v1/data/detections/export?{month}{extra}");
            let csv = file_of(
                fetch(&app, &path, &p.viewer, accept).await,
                "text/csv",
                &format!("{name}.csv"),
            )
            .await;
            assert_csv_equals(&csv, &keys, &rows, &format!("{backend:?} export csv {extra} {accept}"));
        }
        for (extra, accept) in [("&format=xlsx", "*/*"), ("", XLSX)] {
            let path = format!("/api/v1/data/detections/export?{month}{extra}");
            let xlsx = file_of(
                fetch(&app, &path, &p.viewer, accept).await,
                XLSX,
                &format!("{name}.xlsx"),
            )
            .await;
            let (data, query) = open_xlsx(xlsx, "Detections");
            assert_sheet_equals(&data, &columns, &rows, &format!("{backend:?} export xlsx"));
            assert_eq!(about(&query, "row_count"), Some(&Data::Float(33.0)));
        }
        // The listing's filters apply alike.
        let outputs = format!("{month}&area_ids={}", p.output);
        let rows = listed(&app, &p.viewer, &outputs, 5).await;
        let csv = file_of(
            fetch(
                &app,
                &format!("/api/v1/data/detections/export?{outputs}"),
                &p.viewer,
                "*/*",
            )
            .await,
            "text/csv",
            ".csv",
        )
        .await;
        assert_csv_equals(&csv, &keys, &rows, &format!("{backend:?} export of one area"));
        // Over the XLSX cap: a 422 on format that points to CSV.
        app.stop().await;
        let app = TestApp::start_with(backend, &[("CAMET_EXPORT_XLSX_MAX_ROWS", "5")]).await;
        let p = plant(&app).await;
        let month = format!(
            "line_id={}&start_date=2026-11-01T00:00:00Z&end_date=2026-12-01T00:00:00Z",
            p.line1
        );
        let problem = expect_problem(
            app.authed(
                Method::GET,
                &format!("/api/v1/data/detections/export?{month}&format=xlsx"),
                &p.viewer,
            )
            .send()
            .await
            .expect("request"),
            422,
        )
        .await;
        assert_eq!(problem_fields(&problem), ["format"]);
        assert!(problem["detail"].as_str().expect("detail").contains("csv"), "{problem}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_formats_and_overlong_ranges_are_422s_naming_the_field() {
    for backend in backends() {
        let app = TestApp::start_with(backend, &[("CAMET_MAX_RANGE_DAYS", "31")]).await;
        let p = plant(&app).await;
        let day = format!("start_date={}&end_date={}", DAY.0, DAY.1);
        for (path, field) in [
            (format!("/api/v1/metrics/query?{day}&format=pdf"), "format"),
            (
                format!("/api/v1/downtime?line_id={}&{day}&format=ods", p.line1),
                "format",
            ),
            (
                format!("/api/v1/data/detections/export?line_id={}&{day}&format=pdf", p.line1),
                "format",
            ),
            // The export offers files only; JSON pages are the listing's.
            (
                format!("/api/v1/data/detections/export?line_id={}&{day}&format=json", p.line1),
                "format",
            ),
            (
                format!(
                    "/api/v1/data/detections/export?line_id={}&start_date=2026-01-01T00:00:00Z&end_date=2026-12-01T00:00:00Z",
                    p.line1
                ),
                "end_date",
            ),
        ] {
            let problem = expect_problem(
                app.authed(Method::GET, &path, &p.viewer).send().await.expect("request"),
                422,
            )
            .await;
            assert!(
                problem_fields(&problem).contains(&field),
                "{backend:?} {path}: {problem}"
            );
        }
        let problem = expect_problem(
            app.authed(Method::POST, "/api/v1/metrics/query", &p.viewer)
                .json(&json!({"start_date": DAY.0, "end_date": DAY.1, "format": "xls"}))
                .send()
                .await
                .expect("request"),
            422,
        )
        .await;
        assert_eq!(problem_fields(&problem), ["format"]);
        // Another tenant's line is not found, in any format.
        let other = app.tenant_fixture("Other").await;
        let problem = expect_problem(
            app.authed(
                Method::GET,
                &format!("/api/v1/data/detections/export?line_id={}&{day}", p.line1),
                &other.viewer.1,
            )
            .send()
            .await
            .expect("request"),
            404,
        )
        .await;
        assert!(problem["detail"].is_string());
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_api_key_runs_queries_and_exports_and_the_export_bound_answers_429() {
    for backend in backends() {
        let app = TestApp::start_with(backend, &[("CAMET_EXPORT_MAX_CONCURRENT", "1")]).await;
        let p = plant(&app).await;
        let created: Value = app
            .post_ok(
                &p.admin,
                "/api/v1/api-keys",
                json!({"name": "BI export", "role": "viewer"}),
            )
            .await;
        let key = created["key"].as_str().expect("key").to_owned();
        let with_key = |path: String| app.client.get(app.url(&path)).header("x-api-key", key.clone()).send();
        let day = format!("start_date={}&end_date={}", DAY.0, DAY.1);
        for path in [
            format!("/api/v1/metrics/query?{day}&dimensions=line&format=xlsx"),
            format!("/api/v1/downtime?line_id={}&{day}&format=csv", p.line1),
            format!("/api/v1/data/detections/export?line_id={}&{day}", p.line1),
            format!("/api/v1/data/detections/export?line_id={}&{day}&format=xlsx", p.line1),
        ] {
            let response = with_key(path.clone()).await.expect("request");
            assert_eq!(response.status(), 200, "{backend:?} {path}");
            assert!(!response.bytes().await.expect("body").is_empty());
        }
        // The tenant's one slot taken (as by an export still streaming): the
        // next export is refused at once, and runs once the slot is free.
        let export = format!("/api/v1/data/detections/export?line_id={}&{day}", p.line1);
        let slot = app.state.exports.try_take(p.tenant_id).expect("the tenant's slot");
        let problem = expect_problem(with_key(export.clone()).await.expect("request"), 429).await;
        assert!(
            problem["detail"].as_str().expect("detail").contains("export"),
            "{problem}"
        );
        // Other tenants keep their own slots.
        let other = app.tenant_fixture("Elsewhere").await;
        let (other_line, _, _) = app
            .line_with_areas(
                &other.admin.1,
                json!({"line_name": "X", "line_code": "X1", "downtime_threshold": 300}),
            )
            .await;
        let response = app
            .authed(
                Method::GET,
                &format!("/api/v1/data/detections/export?line_id={other_line}&{day}"),
                &other.viewer.1,
            )
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        drop(slot);
        let response = with_key(export.clone()).await.expect("request");
        assert_eq!(response.status(), 200);
        // A finished export gives its slot back: one after another all run.
        response.bytes().await.expect("body");
        for _ in 0..3 {
            let response = with_key(export.clone()).await.expect("request");
            assert_eq!(response.status(), 200, "{backend:?}");
            response.bytes().await.expect("body");
        }
        // A client that goes away mid-export frees its slot too.
        let response = with_key(export.clone()).await.expect("request");
        assert_eq!(response.status(), 200);
        drop(response);
        let mut freed = false;
        for _ in 0..50 {
            if app.state.exports.try_take(p.tenant_id).is_ok() {
                freed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(freed, "{backend:?}: the slot of a dropped export is freed");
        app.stop().await;
    }
}
