//! Detections on both backends: ingest (validation with failing indexes,
//! all-or-nothing, idempotency on external_id, limits, rights), keyset
//! listing with enrichment and filters, direct writes, query log, generate.

use crate::common::{TestApp, backends, expect_problem};
use camet::with_conn;
use diesel_async::RunQueryDsl;
use reqwest::Method;
use serde_json::{Value, json};

struct Plant {
    tenant_id: i32,
    viewer: String,
    token: String,
    line_id: i64,
    input: i64,
    output: i64,
    product_a: i64,
    product_b: i64,
    other_line_area: i64,
}

/// A tenant in Santiago with one line (input, output), a second line, two products.
async fn plant(app: &TestApp) -> Plant {
    let f = app.tenant_fixture("Det").await;
    // The fixture tenant is UTC; use Santiago to see offsets in responses.
    let token = f.admin.1.clone();
    let pool = app.state.databases.global().clone();
    let mut conn = pool.get().await.expect("conn");
    let tenant_id = f.tenant_id;
    with_conn!(&mut conn, |c| diesel::sql_query(format!(
        "UPDATE tenant SET timezone = 'America/Santiago' WHERE tenant_id = {tenant_id}"
    ))
    .execute(c)
    .await)
    .expect("zone");
    let line = app
        .post_ok(
            &token,
            "/api/v1/production/lines",
            json!({"line_name": "L", "line_code": "L1"}),
        )
        .await;
    let line_id = line["line_id"].as_i64().expect("line");
    let other = app
        .post_ok(
            &token,
            "/api/v1/production/lines",
            json!({"line_name": "O", "line_code": "L2"}),
        )
        .await;
    let area = |name: &str, kind: &str, line: i64, order: i32| json!({"line_id": line, "area_name": name, "area_type": kind, "area_order": order});
    let input = app
        .post_ok(&token, "/api/v1/production/areas", area("Entrada", "input", line_id, 1))
        .await["area_id"]
        .as_i64()
        .expect("id");
    let output = app
        .post_ok(&token, "/api/v1/production/areas", area("Salida", "output", line_id, 3))
        .await["area_id"]
        .as_i64()
        .expect("id");
    let other_line_area = app
        .post_ok(
            &token,
            "/api/v1/production/areas",
            area("Otra", "input", other["line_id"].as_i64().expect("id"), 1),
        )
        .await["area_id"]
        .as_i64()
        .expect("id");
    let product_a = app
        .post_ok(
            &token,
            "/api/v1/production/products",
            json!({"product_name": "Producto A", "product_code": "PA", "production_std": 100}),
        )
        .await["product_id"]
        .as_i64()
        .expect("id");
    let product_b = app
        .post_ok(
            &token,
            "/api/v1/production/products",
            json!({"product_name": "Producto B", "product_code": "PB"}),
        )
        .await["product_id"]
        .as_i64()
        .expect("id");
    Plant {
        tenant_id,
        viewer: f.viewer.1.clone(),
        token,
        line_id,
        input,
        output,
        product_a,
        product_b,
        other_line_area,
    }
}

fn det(at: &str, area: i64, product: i64, external: Option<&str>) -> Value {
    match external {
        Some(e) => json!({"detected_at": at, "area_id": area, "product_id": product, "external_id": e}),
        None => json!({"detected_at": at, "area_id": area, "product_id": product}),
    }
}

async fn ingest(app: &TestApp, p: &Plant, items: Value) -> reqwest::Response {
    app.authed(
        Method::POST,
        &format!("/api/v1/lines/{}/detections", p.line_id),
        &p.token,
    )
    .json(&items)
    .send()
    .await
    .expect("ingest")
}

async fn list(app: &TestApp, p: &Plant, query: &str) -> reqwest::Response {
    app.authed(
        Method::GET,
        &format!("/api/v1/data/detections?line_id={}&{query}", p.line_id),
        &p.token,
    )
    .send()
    .await
    .expect("list")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingested_detections_are_listed_enriched_with_the_tenant_offset() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        let body = json!([
            det("2026-11-16T10:00:00-03:00", p.input, p.product_a, Some("e1")),
            det("2026-11-16 10:00:30", p.output, p.product_a, Some("e2")),
            det("2026-11-16T13:01:00Z", p.input, p.product_b, None),
        ]);
        let outcome: Value = ingest(&app, &p, body).await.json().await.expect("json");
        assert_eq!(outcome, json!({"received": 3, "inserted": 3, "duplicates": 0}));
        let page: Value = list(&app, &p, "start_date=2026-11-16T00:00:00&end_date=2026-11-17T00:00:00")
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(page["total"], 3);
        let first = &page["items"][0];
        assert_eq!(
            first["detected_at"], "2026-11-16T10:00:00-03:00",
            "local time without offset means tenant time"
        );
        assert_eq!(page["items"][1]["detected_at"], "2026-11-16T10:00:30-03:00");
        assert_eq!(first["product_name"], "Producto A");
        assert_eq!(first["area_name"], "Entrada");
        assert_eq!(first["external_id"], "e1");
        assert!(page["next_cursor"].is_null());
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_invalid_item_rejects_the_batch_naming_each_failing_index() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        let body = json!([
            det("2026-11-16T10:00:00Z", p.input, p.product_a, None),
            det("2026-11-16T10:00:01Z", p.other_line_area, p.product_a, None),
            det("2026-11-16T10:00:02Z", p.input, 999_999, None),
            det("yesterday", p.input, p.product_a, None),
            det("2099-01-01T00:00:00Z", p.output, p.product_b, None),
        ]);
        let problem = expect_problem(ingest(&app, &p, body).await, 422).await;
        let fields = crate::common::problem_fields(&problem);
        assert_eq!(
            fields,
            ["[1].area_id", "[2].product_id", "[3].detected_at", "[4].detected_at"],
            "{problem}"
        );
        let page: Value = list(
            &app,
            &p,
            "start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z",
        )
        .await
        .json()
        .await
        .expect("json");
        assert_eq!(page["total"], 0, "nothing of the rejected batch was stored");

        let empty = expect_problem(ingest(&app, &p, json!([])).await, 422).await;
        assert_eq!(empty["errors"][0]["field"], "items");
        let unknown_line = app
            .authed(Method::POST, "/api/v1/lines/424242/detections", &p.token)
            .json(&json!([det("2026-11-16T10:00:00Z", p.input, p.product_a, None)]))
            .send()
            .await
            .expect("ingest");
        expect_problem(unknown_line, 404).await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_external_id_is_counted_once() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        let first = json!([
            det("2026-11-16T10:00:00Z", p.input, p.product_a, Some("cam1-0001")),
            det("2026-11-16T10:00:00Z", p.input, p.product_a, Some("cam1-0001")),
            det("2026-11-16T10:00:05Z", p.input, p.product_a, Some("cam1-0002")),
        ]);
        let outcome: Value = ingest(&app, &p, first.clone()).await.json().await.expect("json");
        assert_eq!(outcome, json!({"received": 3, "inserted": 2, "duplicates": 1}));
        let retry: Value = ingest(&app, &p, first).await.json().await.expect("json");
        assert_eq!(
            retry,
            json!({"received": 3, "inserted": 0, "duplicates": 3}),
            "a retried batch adds nothing"
        );
        assert_eq!(listed_on_the_16th(&app, &p).await, 2);
        app.stop().await;
    }
}

/// How many detections the list finds on 2026-11-16 (UTC).
async fn listed_on_the_16th(app: &TestApp, p: &Plant) -> u64 {
    let page: Value = list(app, p, "start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z")
        .await
        .json()
        .await
        .expect("json");
    page["total"].as_u64().expect("total")
}

/// Ingest inserts a batch's keys optimistically; a chunk that meets a stored
/// key must still store the batch's new keys and rows, once each, and
/// report the stored ones as duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_mixing_stored_and_new_external_ids_stores_only_the_new_ones() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        let at = |i: usize| format!("2026-11-16T10:{:02}:{:02}Z", i / 60, i % 60);
        let first: Vec<Value> = (0..5)
            .map(|i| det(&at(i), p.input, p.product_a, Some(&format!("mix-{i}"))))
            .collect();
        let outcome: Value = ingest(&app, &p, json!(first)).await.json().await.expect("json");
        assert_eq!(outcome, json!({"received": 5, "inserted": 5, "duplicates": 0}));
        // Keys 3 and 4 are stored; 5 to 9 are new, and 7 comes twice.
        let mut mixed: Vec<Value> = (3..10)
            .map(|i| det(&at(i), p.input, p.product_a, Some(&format!("mix-{i}"))))
            .collect();
        mixed.push(det(&at(20), p.input, p.product_a, Some("mix-7")));
        let outcome: Value = ingest(&app, &p, json!(mixed)).await.json().await.expect("json");
        assert_eq!(
            outcome,
            json!({"received": 8, "inserted": 5, "duplicates": 3}),
            "{backend:?}"
        );
        let again: Value = ingest(&app, &p, json!(mixed)).await.json().await.expect("json");
        assert_eq!(
            again,
            json!({"received": 8, "inserted": 0, "duplicates": 8}),
            "{backend:?}"
        );
        assert_eq!(listed_on_the_16th(&app, &p).await, 10, "{backend:?}");
        app.stop().await;
    }
}

/// Bulk INSERTs carry their values as SQL text: keys holding quotes,
/// backslashes, comment markers and non-ASCII text must be stored and
/// matched verbatim, and microseconds must survive, on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_with_sql_metacharacters_and_microsecond_instants_are_stored_verbatim() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        let keys = [
            "it's",
            r"back\slash\'",
            "\"); DROP TABLE detection_key_1; --",
            "ñandú 🚀 x'00'",
            "0x41",
        ];
        let instants = [
            "2026-11-16T10:00:00Z",
            "2026-11-16T10:00:00.000001Z",
            "2026-11-16T10:00:00.5Z",
            "2026-11-16T10:00:01.123456Z",
            "2026-11-16T10:00:02.999999Z",
        ];
        let batch: Vec<Value> = keys
            .iter()
            .zip(instants)
            .map(|(key, at)| det(at, p.input, p.product_a, Some(key)))
            .collect();
        let outcome: Value = ingest(&app, &p, json!(batch)).await.json().await.expect("json");
        assert_eq!(
            outcome,
            json!({"received": 5, "inserted": 5, "duplicates": 0}),
            "{backend:?}"
        );
        let retry: Value = ingest(&app, &p, json!(batch)).await.json().await.expect("json");
        assert_eq!(
            retry,
            json!({"received": 5, "inserted": 0, "duplicates": 5}),
            "{backend:?}"
        );
        let page: Value = list(
            &app,
            &p,
            "start_date=2026-11-16T10:00:00Z&end_date=2026-11-16T10:00:03Z",
        )
        .await
        .json()
        .await
        .expect("json");
        let stored: Vec<(String, String)> = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| {
                (
                    item["external_id"].as_str().expect("key").to_owned(),
                    item["detected_at"].as_str().expect("instant").to_owned(),
                )
            })
            .collect();
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        assert_eq!(
            stored.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            keys,
            "{backend:?}"
        );
        // Tenant time (UTC-3) with the sub-second part as sent.
        let fractions: Vec<&str> = stored.iter().map(|(_, at)| &at[16..at.len() - 6]).collect();
        assert_eq!(
            fractions,
            [":00", ":00.000001", ":00.500", ":01.123456", ":02.999999"],
            "{backend:?}: {stored:?}"
        );
        // Only the first instant lies in [10:00:00, 10:00:00.000001).
        let first: Value = list(
            &app,
            &p,
            "start_date=2026-11-16T10:00:00Z&end_date=2026-11-16T10:00:00.000001Z",
        )
        .await
        .json()
        .await
        .expect("json");
        assert_eq!(first["total"], 1, "{backend:?}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_hold_up_to_ten_thousand_items_and_ingest_accepts_bodies_over_one_mebibyte() {
    let app = TestApp::start(crate::common::Backend::Sqlite).await;
    let p = plant(&app).await;
    let long = "x".repeat(90);
    let items: Vec<Value> = (0..10_000)
        .map(|i| {
            det(
                &format!("2026-11-16T10:{:02}:{:02}Z", (i / 60) % 60, i % 60),
                p.input,
                p.product_a,
                Some(&format!("{long}{i:05}")),
            )
        })
        .collect();
    let body = serde_json::to_vec(&items).expect("json");
    assert!(
        body.len() > 1024 * 1024,
        "the batch is larger than the general 1 MiB limit"
    );
    let outcome: Value = ingest(&app, &p, Value::Array(items)).await.json().await.expect("json");
    assert_eq!(outcome["inserted"], 10_000);
    let too_many: Vec<Value> = (0..10_001)
        .map(|_| det("2026-11-16T10:00:00Z", p.input, p.product_a, None))
        .collect();
    let problem = expect_problem(ingest(&app, &p, Value::Array(too_many)).await, 422).await;
    assert_eq!(problem["errors"][0]["field"], "items");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyset_pages_are_stable_while_rows_arrive_and_direct_writes_are_seen() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        let items: Vec<Value> = (0..25)
            .map(|i| det(&format!("2026-11-16T10:00:{i:02}Z"), p.input, p.product_a, None))
            .collect();
        ingest(&app, &p, Value::Array(items)).await;
        let range = "start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z";
        let first: Value = list(&app, &p, &format!("{range}&limit=10"))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(first["items"].as_array().map(Vec::len), Some(10));
        // A row arriving before the cursor position does not shift later pages.
        ingest(
            &app,
            &p,
            json!([det("2026-11-16T09:00:00Z", p.input, p.product_a, None)]),
        )
        .await;
        let cursor = first["next_cursor"].as_str().expect("cursor").to_owned();
        let second: Value = list(&app, &p, &format!("{range}&limit=10&cursor={cursor}"))
            .await
            .json()
            .await
            .expect("json");
        let cursor = second["next_cursor"].as_str().expect("cursor").to_owned();
        let third: Value = list(&app, &p, &format!("{range}&limit=10&cursor={cursor}"))
            .await
            .json()
            .await
            .expect("json");
        assert!(third["next_cursor"].is_null());
        let mut ids: Vec<i64> = [&first, &second, &third]
            .iter()
            .flat_map(|page| page["items"].as_array().cloned().unwrap_or_default())
            .filter_map(|item| item["detection_id"].as_i64())
            .collect();
        assert_eq!(ids.len(), 25, "every original row once");
        // dedup() only removes adjacent repeats: sort first so a row seen on
        // two pages is caught wherever it appears.
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 25, "no row on two pages");

        // Another system writes straight into the line's table.
        let pool = app.state.databases.tenant(p.tenant_id).await.expect("pool");
        let mut conn = pool.get().await.expect("conn");
        let line_id = p.line_id;
        let input = p.input;
        let product = p.product_b;
        with_conn!(&mut conn, |c| diesel::sql_query(format!(
            "INSERT INTO detection_line_{line_id} (detected_at, area_id, product_id) VALUES ('2026-11-16 11:00:00', {input}, {product})"
        ))
        .execute(c)
        .await)
        .expect("direct write");
        drop(conn);
        let page: Value = list(&app, &p, &format!("{range}&product_ids={}", p.product_b))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(page["total"], 1, "{page}");
        assert_eq!(page["items"][0]["product_name"], "Producto B");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_by_product_area_and_shift_and_refuses_bad_parameters() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        // Monday 2026-11-16, Santiago (UTC-3): 07:30 and 20:00 local.
        ingest(
            &app,
            &p,
            json!([
                det("2026-11-16T07:30:00", p.input, p.product_a, None),
                det("2026-11-16T07:31:00", p.output, p.product_b, None),
                det("2026-11-16T20:00:00", p.input, p.product_a, None),
            ]),
        )
        .await;
        let shift = app.post_ok(&p.token,
            "/api/v1/production/shifts",
            json!({"shift_name": "Mañana", "days_implemented": ["Monday"], "start_time": "07:00", "end_time": "15:00", "is_overnight": false}),
        )
        .await;
        let range = "start_date=2026-11-16T00:00:00&end_date=2026-11-17T00:00:00";
        let total = |v: Value| v["total"].as_i64().unwrap_or(-1);
        assert_eq!(
            total(
                list(&app, &p, &format!("{range}&product_ids={}", p.product_a))
                    .await
                    .json()
                    .await
                    .expect("json")
            ),
            2
        );
        assert_eq!(
            total(
                list(&app, &p, &format!("{range}&area_ids={},{}", p.output, p.input))
                    .await
                    .json()
                    .await
                    .expect("json")
            ),
            3
        );
        assert_eq!(
            total(
                list(&app, &p, &format!("{range}&area_ids={}", p.output))
                    .await
                    .json()
                    .await
                    .expect("json")
            ),
            1
        );
        let in_shift: Value = list(&app, &p, &format!("{range}&shift_id={}", shift["shift_id"]))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(
            total(in_shift),
            2,
            "only the 07:30 and 07:31 detections fall in the 07-15 shift"
        );

        let cases = [
            (
                "start_date=2026-11-17T00:00:00Z&end_date=2026-11-16T00:00:00Z",
                "end_date",
            ),
            (&format!("{range}&product_ids=a,b")[..], "product_ids"),
            (&format!("{range}&cursor=garbage")[..], "cursor"),
            ("start_date=not-a-date&end_date=2026-11-16T00:00:00Z", "start_date"),
        ];
        for (query, field) in cases {
            let problem = expect_problem(list(&app, &p, query).await, 422).await;
            assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
        }
        let other_tenant = app.tenant_fixture("Other").await;
        let foreign = app
            .authed(
                Method::GET,
                &format!("/api/v1/data/detections?line_id={}&{range}", p.line_id),
                &other_tenant.admin.1,
            )
            .send()
            .await
            .expect("list");
        expect_problem(foreign, 404).await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_cannot_ingest_manager_keys_can_and_data_queries_are_logged() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        let one = json!([det("2026-11-16T10:00:00Z", p.input, p.product_a, None)]);
        let denied = app
            .authed(
                Method::POST,
                &format!("/api/v1/lines/{}/detections", p.line_id),
                &p.viewer,
            )
            .json(&one)
            .send()
            .await
            .expect("ingest");
        expect_problem(denied, 403).await;
        let key = app
            .post_ok(
                &p.token,
                "/api/v1/api-keys",
                json!({"name": "gateway", "role": "manager", "rate_limit_per_minute": 6000}),
            )
            .await;
        let sensor = app
            .client
            .post(app.url(&format!("/api/v1/lines/{}/detections", p.line_id)))
            .header("x-api-key", key["key"].as_str().expect("key"))
            .json(&one)
            .send()
            .await
            .expect("ingest");
        assert_eq!(sensor.status(), 200);

        list(
            &app,
            &p,
            "start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z",
        )
        .await;
        let mut conn = app.state.databases.global().get().await.expect("conn");
        #[derive(diesel::QueryableByName)]
        struct Logged {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let logged: Logged = with_conn!(&mut conn, |c| diesel::sql_query(
            "SELECT COUNT(*) AS n FROM user_query WHERE query_type = 'detections'"
        )
        .get_result(c)
        .await)
        .expect("count");
        assert_eq!(logged.n, 1);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_writes_a_realistic_volume_for_a_configured_line() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let seed = camet::demo::seed(&app.state.databases, app.state.hashing, 1)
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
        let request = camet::detections::generate::GenerateRequest {
            tenant_id: seed.tenant_id,
            line_id: seed.line_id,
            days: 2,
            units_per_second: 0.05,
            seed: 7,
            until: chrono::DateTime::parse_from_rfc3339("2026-11-19T12:00:00Z")
                .expect("date")
                .to_utc(),
        };
        let written = camet::detections::generate::run(crate::common::generate_sink(&app.state), &request)
            .await
            .expect("generate");
        // Tuesday noon to Thursday noon (Santiago) is all planned: about
        // 0.05 x 3 areas x 172 800 s = 25 920 expected. The generator is
        // seeded, so its output is one exact figure on every backend and run;
        // any change to the generator or the plan shows up here.
        assert_eq!(written, 24_060);
        app.stop().await;
    }
}
