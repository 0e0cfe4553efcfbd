//! Plant configuration on both backends: CRUD with soft delete, validation
//! naming every bad field, conflicts, per-line storage, rights, isolation,
//! the metadata cache across two server instances, and (MariaDB) partitions.

use std::time::Duration;

use chrono::{TimeZone, Utc};

use crate::common::{Backend, TestApp, backends, expect_problem, mysql_or_skip};
use camet::with_conn;
use diesel_async::RunQueryDsl;
use reqwest::Method;
use serde_json::{Value, json};

async fn send(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app.authed(method, path, token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

async fn ok_json(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let body: Value = response.json().await.expect("json body");
    assert_eq!(got, status, "{body}");
    body
}

fn line(code: &str) -> Value {
    json!({"line_name": format!("Línea {code}"), "line_code": code, "availability": "95", "performance": "85.5", "downtime_threshold": 300})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_entity_has_crud_with_soft_delete_where_history_depends_on_it() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Crud").await;
        let t = &f.manager.1;

        let created = ok_json(
            send(&app, Method::POST, "/api/v1/production/lines", t, Some(line("L1"))).await,
            201,
        )
        .await;
        let line_id = created["line_id"].as_i64().expect("id");
        assert_eq!(created["performance"], "85.5");
        let area = ok_json(
            send(
                &app,
                Method::POST,
                "/api/v1/production/areas",
                t,
                Some(json!({"line_id": line_id, "area_name": "Entrada", "area_type": "input", "area_order": 1})),
            )
            .await,
            201,
        )
        .await;
        let product = ok_json(
            send(&app, Method::POST, "/api/v1/production/products", t, Some(json!({"product_name": "Producto A", "product_code": "PA", "product_weight": "0.1", "production_std": 100, "product_color": "#ef4444"}))).await,
            201,
        )
        .await;
        assert_eq!(product["product_weight"], "0.1", "exact decimal");
        let shift = ok_json(
            send(&app, Method::POST, "/api/v1/production/shifts", t, Some(json!({"shift_name": "Noche", "days_implemented": ["lunes", "Tuesday"], "start_time": "23:00", "end_time": "07:00", "is_overnight": true, "line_ids": [line_id]}))).await,
            201,
        )
        .await;
        assert_eq!(shift["days_implemented"], json!(["Monday", "Tuesday"]));
        assert_eq!(shift["start_time"], "23:00:00");
        let filter = ok_json(
            send(&app, Method::POST, "/api/v1/production/filters", t, Some(json!({"filter_name": "Fechas", "class_name": "DateRangeFilter", "default_value": {"preset": "last_7_days"}}))).await,
            201,
        )
        .await;
        assert_eq!(filter["default_value"]["preset"], "last_7_days");
        let failure = ok_json(
            send(
                &app,
                Method::POST,
                "/api/v1/production/failures",
                t,
                Some(json!({"type_failure": "Atasco"})),
            )
            .await,
            201,
        )
        .await;
        let incident = ok_json(
            send(&app, Method::POST, "/api/v1/production/incidents", t, Some(json!({"failure_id": failure["failure_id"], "line_id": line_id, "reported_at": "2026-11-20T10:00:00-03:00"}))).await,
            201,
        )
        .await;
        assert_eq!(incident["reported_at"], "2026-11-20T13:00:00+00:00");

        // Read, list, replace.
        let got = ok_json(
            send(
                &app,
                Method::GET,
                &format!("/api/v1/production/lines/{line_id}"),
                &f.viewer.1,
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(got["line_code"], "L1");
        let mut changed = line("L1");
        changed["line_name"] = json!("Línea renombrada");
        let put = ok_json(
            send(
                &app,
                Method::PUT,
                &format!("/api/v1/production/lines/{line_id}"),
                t,
                Some(changed),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(put["line_name"], "Línea renombrada");
        let areas = ok_json(
            send(
                &app,
                Method::GET,
                &format!("/api/v1/production/areas?line_id={line_id}"),
                &f.viewer.1,
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(areas["total"], 1);

        // Soft deletes: gone from lists, still readable, shown on request.
        for (kind, id) in [
            ("lines", line_id),
            ("areas", area["area_id"].as_i64().unwrap_or_default()),
            ("products", product["product_id"].as_i64().unwrap_or_default()),
            ("shifts", shift["shift_id"].as_i64().unwrap_or_default()),
            ("filters", filter["filter_id"].as_i64().unwrap_or_default()),
        ] {
            assert_eq!(
                send(
                    &app,
                    Method::DELETE,
                    &format!("/api/v1/production/{kind}/{id}"),
                    t,
                    None
                )
                .await
                .status(),
                204,
                "{kind}"
            );
            let list = ok_json(
                send(&app, Method::GET, &format!("/api/v1/production/{kind}"), t, None).await,
                200,
            )
            .await;
            assert_eq!(list["total"], 0, "{kind} hidden after delete");
            let all = ok_json(
                send(
                    &app,
                    Method::GET,
                    &format!("/api/v1/production/{kind}?include_inactive=true"),
                    t,
                    None,
                )
                .await,
                200,
            )
            .await;
            assert_eq!(all["total"], 1, "{kind} kept for history");
            assert_eq!(
                send(&app, Method::GET, &format!("/api/v1/production/{kind}/{id}"), t, None)
                    .await
                    .status(),
                200
            );
        }
        let deleted_line = ok_json(
            send(
                &app,
                Method::GET,
                &format!("/api/v1/production/lines/{line_id}"),
                t,
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(deleted_line["is_active"], false);
        assert!(deleted_line["deleted_at"].is_string());

        // A failure in use cannot be deleted; after its incident is gone it can.
        let failure_id = failure["failure_id"].as_i64().unwrap_or_default();
        expect_problem(
            send(
                &app,
                Method::DELETE,
                &format!("/api/v1/production/failures/{failure_id}"),
                t,
                None,
            )
            .await,
            409,
        )
        .await;
        let incident_id = incident["incident_id"].as_i64().unwrap_or_default();
        assert_eq!(
            send(
                &app,
                Method::DELETE,
                &format!("/api/v1/production/incidents/{incident_id}"),
                t,
                None
            )
            .await
            .status(),
            204
        );
        assert_eq!(
            send(
                &app,
                Method::DELETE,
                &format!("/api/v1/production/failures/{failure_id}"),
                t,
                None
            )
            .await
            .status(),
            204
        );
        expect_problem(
            send(
                &app,
                Method::GET,
                &format!("/api/v1/production/failures/{failure_id}"),
                t,
                None,
            )
            .await,
            404,
        )
        .await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_configuration_is_a_422_naming_each_bad_field() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Valid").await;
        let t = &f.admin.1;
        let fields = |body: Value| -> Vec<String> {
            body["errors"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e["field"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            (
                "lines",
                json!({"line_name": "", "line_code": "bad code!", "availability": "120", "downtime_threshold": 0}),
                vec!["line_name", "line_code", "availability", "downtime_threshold"],
            ),
            (
                "areas",
                json!({"line_id": 999, "area_name": "X", "area_type": "entrada", "coord_x1": -1}),
                vec!["area_type", "line_id", "coord_x1"],
            ),
            (
                "products",
                json!({"product_name": "P", "product_code": "P1", "product_weight": "-0.5", "production_std": "0", "product_per_batch": 0}),
                vec!["product_weight", "production_std", "product_per_batch"],
            ),
            (
                "shifts",
                json!({"shift_name": "S", "days_implemented": ["Funday"], "start_time": "25:00", "end_time": "7", "is_overnight": false}),
                vec!["days_implemented", "start_time", "end_time"],
            ),
            (
                "shifts",
                json!({"shift_name": "S", "days_implemented": ["Monday"], "start_time": "08:00", "end_time": "16:00", "is_overnight": true}),
                vec!["is_overnight"],
            ),
            (
                "shifts",
                json!({"shift_name": "S", "days_implemented": ["Monday"], "start_time": "22:00", "end_time": "06:00", "is_overnight": false, "line_ids": [42]}),
                vec!["is_overnight", "line_ids"],
            ),
            (
                "filters",
                json!({"filter_name": "F", "class_name": "EvalFilter"}),
                vec!["class_name"],
            ),
            (
                "incidents",
                json!({"failure_id": 77, "reported_at": "2026-11-20T10:00:00Z", "resolved_at": "2026-11-20T09:00:00Z"}),
                vec!["failure_id", "resolved_at"],
            ),
        ];
        for (kind, body, expected) in cases {
            let response = send(
                &app,
                Method::POST,
                &format!("/api/v1/production/{kind}"),
                t,
                Some(body.clone()),
            )
            .await;
            let problem = expect_problem(response, 422).await;
            let mut got = fields(problem.clone());
            got.sort();
            let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            want.sort();
            assert_eq!(got, want, "{backend:?} {kind} {body}: {problem}");
        }
        // Malformed values are 400, not 500.
        let bad_decimal = send(
            &app,
            Method::POST,
            "/api/v1/production/products",
            t,
            Some(json!({"product_name": "P", "product_code": "P1", "product_weight": "heavy"})),
        )
        .await;
        assert_eq!(bad_decimal.status(), 400);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_codes_conflict_and_lines_get_their_own_storage() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Dup").await;
        let t = &f.admin.1;
        let first = ok_json(
            send(&app, Method::POST, "/api/v1/production/lines", t, Some(line("LX"))).await,
            201,
        )
        .await;
        expect_problem(
            send(&app, Method::POST, "/api/v1/production/lines", t, Some(line("LX"))).await,
            409,
        )
        .await;
        let product = json!({"product_name": "P", "product_code": "SKU-1"});
        ok_json(
            send(
                &app,
                Method::POST,
                "/api/v1/production/products",
                t,
                Some(product.clone()),
            )
            .await,
            201,
        )
        .await;
        expect_problem(
            send(&app, Method::POST, "/api/v1/production/products", t, Some(product)).await,
            409,
        )
        .await;

        // The new line's detection and downtime tables exist and take rows.
        let line_id = first["line_id"].as_i64().expect("id");
        let pool = app.state.databases.tenant(f.tenant_id).await.expect("pool");
        let mut conn = pool.get().await.expect("conn");
        let inserted = with_conn!(&mut conn, |c| diesel::sql_query(format!(
            "INSERT INTO detection_line_{line_id} (detected_at, area_id, product_id) VALUES ('2026-11-20 10:00:00', 1, 1)"
        ))
        .execute(c)
        .await)
        .expect("detection table");
        assert_eq!(inserted, 1);
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let events: Count = with_conn!(&mut conn, |c| diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM downtime_events_{line_id}"
        ))
        .get_result(c)
        .await)
        .expect("downtime table exists");
        assert_eq!(events.n, 0, "the new line's downtime table is there, empty");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_read_managers_write_and_other_tenants_see_nothing() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let a = app.tenant_fixture("Ten A").await;
        let b = app.tenant_fixture("Ten B").await;
        expect_problem(
            send(
                &app,
                Method::POST,
                "/api/v1/production/lines",
                &a.viewer.1,
                Some(line("V1")),
            )
            .await,
            403,
        )
        .await;
        let created = ok_json(
            send(
                &app,
                Method::POST,
                "/api/v1/production/lines",
                &a.manager.1,
                Some(line("M1")),
            )
            .await,
            201,
        )
        .await;
        let id = created["line_id"].as_i64().expect("id");
        assert_eq!(
            send(&app, Method::GET, "/api/v1/production/lines", &a.viewer.1, None)
                .await
                .status(),
            200
        );

        for (method, body) in [
            (Method::GET, None),
            (Method::PUT, Some(line("M1"))),
            (Method::DELETE, None),
        ] {
            expect_problem(
                send(
                    &app,
                    method,
                    &format!("/api/v1/production/lines/{id}"),
                    &b.admin.1,
                    body,
                )
                .await,
                404,
            )
            .await;
        }
        let b_list = ok_json(
            send(
                &app,
                Method::GET,
                "/api/v1/production/lines?include_inactive=true",
                &b.admin.1,
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(b_list["total"], 0);
        // Tenant B can reuse A's code: codes are unique per tenant.
        ok_json(
            send(
                &app,
                Method::POST,
                "/api/v1/production/lines",
                &b.admin.1,
                Some(line("M1")),
            )
            .await,
            201,
        )
        .await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_changes_are_audited_with_old_and_new_values() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Aud").await;
        let created = ok_json(
            send(
                &app,
                Method::POST,
                "/api/v1/production/lines",
                &f.admin.1,
                Some(line("A1")),
            )
            .await,
            201,
        )
        .await;
        let id = created["line_id"].as_i64().expect("id");
        let mut changed = line("A1");
        changed["downtime_threshold"] = json!(600);
        ok_json(
            send(
                &app,
                Method::PUT,
                &format!("/api/v1/production/lines/{id}"),
                &f.admin.1,
                Some(changed),
            )
            .await,
            200,
        )
        .await;
        let audit = ok_json(
            send(&app, Method::GET, "/api/v1/audit?action=line.update", &f.admin.1, None).await,
            200,
        )
        .await;
        let item = &audit["items"][0];
        assert_eq!(item["old_values"]["downtime_threshold"], 300);
        assert_eq!(item["new_values"]["downtime_threshold"], 600);
        assert_eq!(item["entity"], "line");
        let created_entry = ok_json(
            send(&app, Method::GET, "/api/v1/audit?action=line.create", &f.admin.1, None).await,
            200,
        )
        .await;
        assert_eq!(
            created_entry["items"].as_array().map(Vec::len),
            Some(1),
            "forwarded exactly once"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_instance_sees_configuration_changes_within_seconds() {
    for backend in backends() {
        let first = TestApp::start_with(backend, &[("CAMET_CACHE_REFRESH_SECS", "1")]).await;
        let f = first.tenant_fixture("Shared").await;
        let url = first.db.database_url.clone();
        let data_dir = first.db.dir.path().display().to_string();
        let second = TestApp::start_with(
            backend,
            &[
                ("DATABASE_URL", url.as_str()),
                ("CAMET_DATA_DIR", data_dir.as_str()),
                ("CAMET_CACHE_REFRESH_SECS", "1"),
            ],
        )
        .await;
        // Warm the second instance's cache, then change the configuration through the first.
        let before = ok_json(
            send(&second, Method::GET, "/api/v1/production/lines", &f.admin.1, None).await,
            200,
        )
        .await;
        assert_eq!(before["total"], 0);
        ok_json(
            send(
                &first,
                Method::POST,
                "/api/v1/production/lines",
                &f.admin.1,
                Some(line("S1")),
            )
            .await,
            201,
        )
        .await;
        let mut seen = false;
        for _ in 0..40 {
            let lines = ok_json(
                send(&second, Method::GET, "/api/v1/production/lines", &f.admin.1, None).await,
                200,
            )
            .await;
            if lines["total"] == 1 {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(seen, "{backend:?}: the second instance reloaded its cache");
        second.stop().await;
        first.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_detection_tables_are_partitioned_monthly_and_maintained_under_a_lock() {
    if mysql_or_skip("production::mysql_detection_tables_are_partitioned... (partitions exist on MySQL only)").is_none()
    {
        let app = TestApp::start(Backend::Sqlite).await;
        let f = app.tenant_fixture("Parts").await;
        ok_json(
            send(
                &app,
                Method::POST,
                "/api/v1/production/lines",
                &f.admin.1,
                Some(line("P1")),
            )
            .await,
            201,
        )
        .await;
        let listed = ok_json(
            send(&app, Method::GET, "/api/v1/system/partitions", &f.admin.1, None).await,
            200,
        )
        .await;
        assert_eq!(listed[0]["partitioned"], false);
        app.stop().await;
        return;
    }
    let app = TestApp::start_with(
        Backend::Mysql,
        &[
            ("CAMET_PARTITION_MONTHS_AHEAD", "3"),
            ("CAMET_PARTITION_RETENTION_MONTHS", "1"),
        ],
    )
    .await;
    // The layout follows the server's clock, pinned to mid-June so the
    // expected months do not depend on the day the suite runs.
    let pinned = Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0).single().expect("instant");
    app.state.clock.pin(pinned);
    let f = app.tenant_fixture("Parts").await;
    ok_json(
        send(
            &app,
            Method::POST,
            "/api/v1/production/lines",
            &f.admin.1,
            Some(line("P1")),
        )
        .await,
        201,
    )
    .await;
    expect_problem(
        send(&app, Method::GET, "/api/v1/system/partitions", &f.manager.1, None).await,
        403,
    )
    .await;
    let listed = ok_json(
        send(&app, Method::GET, "/api/v1/system/partitions", &f.admin.1, None).await,
        200,
    )
    .await;
    let names = |v: &Value| -> Vec<String> {
        v[0]["partitions"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p["name"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let initial = names(&listed);
    assert_eq!(listed[0]["partitioned"], true);
    assert_eq!(initial.last().map(String::as_str), Some("pmax"));
    assert_eq!(
        initial.len(),
        6,
        "previous month, this month, 3 ahead, pmax: {initial:?}"
    );
    assert_eq!(
        initial.as_slice().first().map(String::as_str),
        Some("p202605"),
        "{initial:?}"
    );

    // Two months later: two new months are added and, with a 1-month
    // retention, partitions wholly older than last month are dropped.
    let later = camet::db::line_tables::month_start_after(pinned.date_naive(), 2).expect("date");
    assert_eq!(later.to_string(), "2026-08-01");
    let report = camet::plant::partitions::maintain_tenant(&app.state.plant(), f.tenant_id, later)
        .await
        .expect("maintain");
    assert!(report.ran);
    assert_eq!(report.created.len(), 2, "{report:?}");
    assert!(!report.dropped.is_empty(), "{report:?}");
    let after = names(
        &ok_json(
            send(&app, Method::GET, "/api/v1/system/partitions", &f.admin.1, None).await,
            200,
        )
        .await,
    );
    for dropped in &report.dropped {
        let name = dropped.rsplit('.').next().unwrap_or_default();
        assert!(!after.iter().any(|n| n == name), "{name} dropped: {after:?}");
    }
    // Idempotent: running again changes nothing.
    let again = camet::plant::partitions::maintain_tenant(&app.state.plant(), f.tenant_id, later)
        .await
        .expect("maintain");
    assert!(again.created.is_empty() && again.dropped.is_empty(), "{again:?}");

    // While another instance holds the lock, a run does nothing.
    let pool = app.state.databases.tenant(f.tenant_id).await.expect("pool");
    let mut holder = pool.get().await.expect("conn");
    with_conn!(&mut holder, |c| diesel::sql_query(
        "SELECT GET_LOCK(CONCAT('camet_partitions_', DATABASE()), 0)"
    )
    .execute(c)
    .await)
    .expect("lock");
    let blocked = camet::plant::partitions::maintain_tenant(&app.state.plant(), f.tenant_id, later)
        .await
        .expect("maintain");
    assert!(!blocked.ran, "another instance holds the lock");
    drop(holder);
    app.stop().await;
}
