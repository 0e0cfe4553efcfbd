//! The downtime reason tree (issue 14 item 2), on both backends: the
//! default tree of a new tenant in Spanish and English, reason CRUD and its
//! validation, failure types as breakdown reasons, one and many events
//! explained at once (all or nothing, audited, refused to a viewer and
//! across tenants), reasons surviving a recomputation that splits a stop,
//! deleting a reason in use (409), and old per-line downtime tables
//! upgraded in place.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestApp, backends, expect_problem, problem_fields};

/// Codes of the default tree, with their Spanish and English names, loss
/// class and category code (spelled out here, not read from the code).
const DEFAULT_TREE: [(&str, &str, &str, &str, Option<&str>); 17] = [
    ("BREAKDOWN", "Avería", "Breakdown", "breakdown", None),
    ("SETUP", "Preparación", "Setup", "setup", None),
    ("MINOR", "Parada menor", "Minor stop", "minor_stop", None),
    ("PLANNED", "Parada planificada", "Planned stop", "planned", None),
    ("UNASSIGNED", "Sin asignar", "Unassigned", "unassigned", None),
    (
        "BRK-MECH",
        "Avería mecánica",
        "Mechanical failure",
        "breakdown",
        Some("BREAKDOWN"),
    ),
    (
        "BRK-ELEC",
        "Avería eléctrica",
        "Electrical failure",
        "breakdown",
        Some("BREAKDOWN"),
    ),
    ("BRK-JAM", "Atasco", "Jam", "breakdown", Some("BREAKDOWN")),
    (
        "BRK-CONTROL",
        "Fallo de sensor o control",
        "Sensor or control failure",
        "breakdown",
        Some("BREAKDOWN"),
    ),
    (
        "SET-CHANGEOVER",
        "Cambio de producto",
        "Changeover",
        "setup",
        Some("SETUP"),
    ),
    ("SET-ADJUST", "Ajuste", "Adjustment", "setup", Some("SETUP")),
    (
        "MIN-BLOCKED",
        "Bloqueo o falta de material",
        "Blocked or starved",
        "minor_stop",
        Some("MINOR"),
    ),
    (
        "MIN-CLEAN",
        "Limpieza breve",
        "Quick clean-up",
        "minor_stop",
        Some("MINOR"),
    ),
    ("PLN-BREAK", "Descanso", "Break", "planned", Some("PLANNED")),
    (
        "PLN-MAINT",
        "Mantenimiento planificado",
        "Planned maintenance",
        "planned",
        Some("PLANNED"),
    ),
    ("PLN-NOORDERS", "Sin pedidos", "No orders", "planned", Some("PLANNED")),
    ("PLN-MEETING", "Reunión", "Meeting", "planned", Some("PLANNED")),
];

async fn send(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app.authed(method, path, token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

async fn ok_json(app: &TestApp, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
    let response = send(app, method.clone(), path, token, body).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    assert!((200..300).contains(&status), "{method} {path}: {status} {body}");
    body
}

async fn all_reasons(app: &TestApp, token: &str) -> Vec<Value> {
    ok_json(
        app,
        Method::GET,
        "/api/v1/production/downtime-reasons?include_inactive=true&limit=1000",
        token,
        None,
    )
    .await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn by_code<'a>(reasons: &'a [Value], code: &str) -> &'a Value {
    reasons
        .iter()
        .find(|r| r["code"] == code)
        .unwrap_or_else(|| panic!("no reason {code} in {reasons:?}"))
}

fn id(value: &Value, key: &str) -> i64 {
    value[key].as_i64().unwrap_or_else(|| panic!("{key} in {value}"))
}

/// Sets the tenant's language in its global row and reloads its snapshot.
async fn set_language(app: &TestApp, tenant_id: i32, language: &str) {
    use camet::db::schema::global::tenant;
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    let settings = json!({"language": language}).to_string();
    let mut conn = app.state.databases.global().get().await.expect("global connection");
    camet::with_conn!(&mut conn, |c| diesel::update(
        tenant::table.filter(tenant::tenant_id.eq(tenant_id))
    )
    .set(tenant::config_tenant.eq(Some(settings.clone())))
    .execute(c)
    .await)
    .expect("set language");
    drop(conn);
    app.state
        .cache
        .reload(&app.state.databases, tenant_id)
        .await
        .expect("reload");
}

/// The tenant's configuration version, as its snapshot holds it.
async fn version(app: &TestApp, tenant_id: i32) -> i64 {
    app.state
        .cache
        .get(&app.state.databases, tenant_id)
        .await
        .expect("snapshot")
        .version
}

/// The audit entries of `action` (forwarded soon after the change: bounded wait).
async fn audit_entries(app: &TestApp, token: &str, action: &str, at_least: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let page = ok_json(
            app,
            Method::GET,
            &format!("/api/v1/audit?action={action}&limit=500"),
            token,
            None,
        )
        .await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= at_least || started.elapsed() > Duration::from_secs(10) {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_tenant_starts_with_the_default_tree_named_in_its_language() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Arbol").await;
        let reasons = all_reasons(&app, &f.viewer.1).await;
        assert_eq!(reasons.len(), DEFAULT_TREE.len(), "{backend:?}: {reasons:?}");
        for (code, es, en, class, parent) in DEFAULT_TREE {
            let r = by_code(&reasons, code);
            assert_eq!(r["name"], es, "{backend:?} {code}: Spanish by default");
            assert_eq!((r["name_es"].as_str(), r["name_en"].as_str()), (Some(es), Some(en)));
            assert_eq!(r["loss_class"], class, "{code}");
            assert!(r["color"].as_str().is_some_and(|c| c.starts_with('#')), "{r}");
            assert_eq!(r["is_active"], true);
            match parent {
                None => assert!(r["parent_id"].is_null(), "{code} is a category"),
                Some(p) => assert_eq!(r["parent_id"], by_code(&reasons, p)["reason_id"], "{code}"),
            }
        }
        // Tree order: each category, then its reasons.
        let codes: Vec<&str> = reasons.iter().filter_map(|r| r["code"].as_str()).collect();
        assert_eq!(&codes[..3], ["BREAKDOWN", "BRK-MECH", "BRK-ELEC"], "{codes:?}");
        // A filter by loss class.
        let planned = ok_json(
            &app,
            Method::GET,
            "/api/v1/production/downtime-reasons?loss_class=planned",
            &f.viewer.1,
            None,
        )
        .await;
        assert_eq!(planned["total"], 5);
        // The failure types are the breakdown reasons without children.
        let failures = ok_json(&app, Method::GET, "/api/v1/production/failures", &f.viewer.1, None).await;
        let types: Vec<&str> = failures["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["type_failure"].as_str())
            .collect();
        assert_eq!(
            types,
            [
                "Avería mecánica",
                "Avería eléctrica",
                "Atasco",
                "Fallo de sensor o control"
            ]
        );

        // An English tenant sees the English names.
        set_language(&app, f.tenant_id, "en").await;
        let reasons = all_reasons(&app, &f.viewer.1).await;
        for (code, _, en, _, _) in DEFAULT_TREE {
            assert_eq!(by_code(&reasons, code)["name"], en, "{backend:?} {code}");
        }
        let jam = id(by_code(&reasons, "BRK-JAM"), "reason_id");
        let failure = ok_json(
            &app,
            Method::GET,
            &format!("/api/v1/production/failures/{jam}"),
            &f.viewer.1,
            None,
        )
        .await;
        assert_eq!(failure["type_failure"], "Jam");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasons_are_created_replaced_and_deleted_and_every_bad_field_is_named() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Crud").await;
        let t = &f.manager.1;
        let reasons = all_reasons(&app, t).await;
        let setup = id(by_code(&reasons, "SETUP"), "reason_id");
        let before = version(&app, f.tenant_id).await;

        // A reason under SETUP takes its class and colour; English name given.
        let created = send(
            &app,
            Method::POST,
            "/api/v1/production/downtime-reasons",
            t,
            Some(json!({"parent_id": setup, "code": "SET-CLEAN", "name": "Limpieza de cambio", "name_en": "Changeover clean-up"})),
        )
        .await;
        assert_eq!(created.status(), 201, "{backend:?}");
        let created: Value = created.json().await.expect("json");
        assert_eq!(created["loss_class"], "setup");
        assert_eq!(created["color"], by_code(&reasons, "SETUP")["color"]);
        assert_eq!(created["name"], "Limpieza de cambio");
        assert_eq!(created["name_en"], "Changeover clean-up");
        assert!(
            version(&app, f.tenant_id).await > before,
            "a reason write bumps the configuration version"
        );
        let clean = id(&created, "reason_id");

        // A category needs its class; a new one with its own colour.
        let category = ok_json(
            &app,
            Method::POST,
            "/api/v1/production/downtime-reasons",
            t,
            Some(json!({"code": "QUALITY", "name": "Calidad", "name_en": "Quality", "loss_class": "breakdown", "color": "#ABCDEF"})),
        )
        .await;
        assert_eq!(category["color"], "#abcdef");
        assert!(category["parent_id"].is_null());

        // Replace: rename, move under the new category, deactivate.
        let replaced = ok_json(
            &app,
            Method::PUT,
            &format!("/api/v1/production/downtime-reasons/{clean}"),
            t,
            Some(json!({"parent_id": id(&category, "reason_id"), "code": "Q-CLEAN", "name": "Limpieza", "loss_class": "minor_stop", "color": "#123", "is_active": false})),
        )
        .await;
        assert_eq!(replaced["code"], "Q-CLEAN");
        assert_eq!(replaced["loss_class"], "minor_stop");
        assert_eq!(replaced["is_active"], false);
        assert_eq!(replaced["name_en"], "Limpieza", "name without name_en names both");
        let listed = ok_json(&app, Method::GET, "/api/v1/production/downtime-reasons", t, None).await;
        assert!(
            !listed["items"]
                .as_array()
                .expect("items")
                .iter()
                .any(|r| r["reason_id"] == clean),
            "inactive reasons are hidden unless asked for"
        );

        // Every bad field named at once.
        let problem = expect_problem(
            send(
                &app,
                Method::POST,
                "/api/v1/production/downtime-reasons",
                t,
                Some(json!({"parent_id": clean, "code": "bad code!", "name": " ", "color": "red", "loss_class": "lunch"})),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(
            problem_fields(&problem),
            ["code", "name", "parent_id", "loss_class", "color"],
            "{backend:?}: {problem}"
        );
        let problem = expect_problem(
            send(
                &app,
                Method::POST,
                "/api/v1/production/downtime-reasons",
                t,
                Some(json!({"parent_id": 999_999, "code": "X1", "name": "X"})),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(problem_fields(&problem), ["parent_id", "loss_class"]);
        let problem = expect_problem(
            send(
                &app,
                Method::POST,
                "/api/v1/production/downtime-reasons",
                t,
                Some(json!({"code": "X2", "name": "X", "loss_class": "planned", "color": "#fff", "description": "x".repeat(501)})),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(problem_fields(&problem), ["description"]);
        // A category with reasons stays a category.
        let problem = expect_problem(
            send(
                &app,
                Method::PUT,
                &format!("/api/v1/production/downtime-reasons/{setup}"),
                t,
                Some(json!({"parent_id": id(&category, "reason_id"), "code": "SETUP", "name": "Preparación", "loss_class": "setup"})),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(problem_fields(&problem), ["parent_id"]);
        // A code another reason holds is a conflict.
        expect_problem(
            send(
                &app,
                Method::POST,
                "/api/v1/production/downtime-reasons",
                t,
                Some(json!({"parent_id": setup, "code": "SET-ADJUST", "name": "Otro"})),
            )
            .await,
            409,
        )
        .await;
        // Malformed: a string where the id goes is a problem naming it, never a 500.
        let response = send(
            &app,
            Method::POST,
            "/api/v1/production/downtime-reasons",
            t,
            Some(json!({"parent_id": "one", "code": "X3", "name": "X"})),
        )
        .await;
        let status = response.status().as_u16();
        assert!(status == 400 || status == 422, "{backend:?}: {status}");
        let problem = expect_problem(response, status).await;
        assert!(problem.to_string().contains("parent_id"), "{problem}");
        // A viewer reads but cannot write.
        expect_problem(
            send(
                &app,
                Method::POST,
                "/api/v1/production/downtime-reasons",
                &f.viewer.1,
                Some(json!({"parent_id": setup, "code": "V1", "name": "V"})),
            )
            .await,
            403,
        )
        .await;

        // Delete: a category with reasons is a 409; a reason without use goes.
        expect_problem(
            send(
                &app,
                Method::DELETE,
                &format!("/api/v1/production/downtime-reasons/{}", id(&category, "reason_id")),
                t,
                None,
            )
            .await,
            409,
        )
        .await;
        assert_eq!(
            send(
                &app,
                Method::DELETE,
                &format!("/api/v1/production/downtime-reasons/{clean}"),
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
                &format!("/api/v1/production/downtime-reasons/{clean}"),
                t,
                None,
            )
            .await,
            404,
        )
        .await;
        expect_problem(
            send(
                &app,
                Method::DELETE,
                &format!("/api/v1/production/downtime-reasons/{clean}"),
                t,
                None,
            )
            .await,
            404,
        )
        .await;

        // Each write is audited with its values.
        let created_entries = audit_entries(&app, &f.admin.1, "downtime_reason.create", 2).await;
        assert_eq!(created_entries.len(), 2, "{backend:?}: {created_entries:?}");
        let deleted = audit_entries(&app, &f.admin.1, "downtime_reason.delete", 1).await;
        assert_eq!(deleted[0]["entity"], "downtime_reason");
        assert_eq!(deleted[0]["entity_id"], clean.to_string());
        assert_eq!(deleted[0]["old_values"]["code"], "Q-CLEAN");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_types_are_breakdown_reasons_of_one_catalog() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Fallos").await;
        let t = &f.admin.1;
        let failure = ok_json(
            &app,
            Method::POST,
            "/api/v1/production/failures",
            t,
            Some(json!({"type_failure": "Rotura de film", "description": "Film roto en la envolvedora"})),
        )
        .await;
        let failure_id = id(&failure, "failure_id");
        let reason = ok_json(
            &app,
            Method::GET,
            &format!("/api/v1/production/downtime-reasons/{failure_id}"),
            t,
            None,
        )
        .await;
        let reasons = all_reasons(&app, t).await;
        assert_eq!(reason["loss_class"], "breakdown", "{backend:?}");
        assert_eq!(reason["code"], format!("FAILURE-{failure_id}"));
        assert_eq!(reason["parent_id"], by_code(&reasons, "BREAKDOWN")["reason_id"]);
        assert_eq!(
            (reason["name_es"].as_str(), reason["name_en"].as_str()),
            (Some("Rotura de film"), Some("Rotura de film"))
        );
        assert_eq!(reason["description"], "Film roto en la envolvedora");
        // Renamed through the failures API, seen through the reasons API.
        ok_json(
            &app,
            Method::PUT,
            &format!("/api/v1/production/failures/{failure_id}"),
            t,
            Some(json!({"type_failure": "Film roto"})),
        )
        .await;
        let renamed = ok_json(
            &app,
            Method::GET,
            &format!("/api/v1/production/downtime-reasons/{failure_id}"),
            t,
            None,
        )
        .await;
        assert_eq!(
            (renamed["name_es"].as_str(), renamed["name_en"].as_str()),
            (Some("Film roto"), Some("Film roto"))
        );
        // An incident is filed under a breakdown reason, not under another class.
        let setup = id(by_code(&reasons, "SET-ADJUST"), "reason_id");
        let problem = expect_problem(
            send(
                &app,
                Method::POST,
                "/api/v1/production/incidents",
                t,
                Some(json!({"failure_id": setup, "reported_at": "2026-11-20T10:00:00Z"})),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(problem_fields(&problem), ["failure_id"]);
        // A category is no failure type.
        let category = id(by_code(&reasons, "BREAKDOWN"), "reason_id");
        expect_problem(
            send(
                &app,
                Method::GET,
                &format!("/api/v1/production/failures/{category}"),
                t,
                None,
            )
            .await,
            404,
        )
        .await;
        let created = audit_entries(&app, t, "failure.create", 1).await;
        assert_eq!(created[0]["entity_id"], failure_id.to_string());
        app.stop().await;
    }
}

struct Line {
    token: String,
    line_id: i64,
    output: i64,
    product: i64,
}

/// The hand-checked day (`common::known_day_detections`): three stops of
/// line K1 on 2026-11-16, 08:00:30-08:10:30, 08:10:30-08:30:30 and
/// 08:30:30-10:00, persisted by the recalculation endpoint.
async fn recalculated_line(app: &TestApp, name: &str) -> (crate::common::LinePlant, Line) {
    let plant = app
        .line_plant(
            name,
            json!({"line_name": "K", "line_code": "K1", "downtime_threshold": 300}),
            &[
                json!({"product_name": "Producto A", "product_code": "A", "production_std": 100}),
                json!({"product_name": "Producto B", "product_code": "B", "production_std": 60}),
            ],
            &[json!({"shift_name": "Mañana", "days_implemented": ["Monday"], "start_time": "08:00", "end_time": "10:00", "is_overnight": false})],
        )
        .await;
    let token = plant.token();
    app.post_ok(
        &token,
        &format!("/api/v1/lines/{}/detections", plant.line_id),
        crate::common::known_day_detections(plant.input, plant.output, plant.products[0], plant.products[1]),
    )
    .await;
    let window =
        json!({"line_id": plant.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"});
    let report = app.post_ok(&token, "/api/v1/downtime/recalculate", window).await;
    assert_eq!(report["inserted"], 3);
    let line = Line {
        token,
        line_id: plant.line_id,
        output: plant.output,
        product: plant.products[0],
    };
    (plant, line)
}

async fn events(app: &TestApp, line: &Line) -> Vec<Value> {
    ok_json(
        app,
        Method::GET,
        &format!(
            "/api/v1/downtime/{}/events?start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z",
            line.line_id
        ),
        &line.token,
        None,
    )
    .await
    .as_array()
    .cloned()
    .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_events_get_one_reason_at_once_all_or_nothing_and_keep_it_through_a_split() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let (plant, line) = recalculated_line(&app, "Bulk").await;
        let t = &line.token;
        let reasons = all_reasons(&app, t).await;
        let jam = by_code(&reasons, "BRK-JAM").clone();
        let jam_id = id(&jam, "reason_id");
        let changeover = id(by_code(&reasons, "SET-CHANGEOVER"), "reason_id");
        let listed = events(&app, &line).await;
        assert_eq!(listed.len(), 3, "{backend:?}");
        assert!(
            listed
                .iter()
                .all(|e| e["reason_id"].is_null() && e["loss_class"] == "unassigned")
        );
        let ids: Vec<i64> = listed.iter().map(|e| id(e, "event_id")).collect();
        let bulk = format!("/api/v1/downtime/{}/reasons", line.line_id);

        // Unknown ids, an unknown reason: 422 naming them, nothing written.
        let problem = expect_problem(
            send(
                &app,
                Method::POST,
                &bulk,
                t,
                Some(json!({"event_ids": [ids[0], 999_999, 888_888], "reason_id": jam_id})),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(problem_fields(&problem), ["event_ids"]);
        let message = problem["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("999999") && message.contains("888888"),
            "{backend:?}: {problem}"
        );
        let problem = expect_problem(
            send(
                &app,
                Method::POST,
                &bulk,
                t,
                Some(json!({"event_ids": [ids[0]], "reason_id": 999_999})),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(problem_fields(&problem), ["reason_id"]);
        // Bounded: no empty list, not more than 500 ids.
        for event_ids in [json!([]), json!((1..=501).collect::<Vec<i64>>())] {
            let problem = expect_problem(
                send(
                    &app,
                    Method::POST,
                    &bulk,
                    t,
                    Some(json!({"event_ids": event_ids, "reason_id": jam_id})),
                )
                .await,
                422,
            )
            .await;
            assert_eq!(problem_fields(&problem), ["event_ids"], "{problem}");
        }
        assert!(events(&app, &line).await.iter().all(|e| e["reason_id"].is_null()));
        // A viewer cannot assign; a line of another tenant is not found.
        expect_problem(
            send(
                &app,
                Method::POST,
                &bulk,
                &plant.tenant.viewer.1,
                Some(json!({"event_ids": [ids[0]], "reason_id": jam_id})),
            )
            .await,
            403,
        )
        .await;
        expect_problem(
            send(
                &app,
                Method::PUT,
                &format!("/api/v1/downtime/{}/{}", line.line_id, ids[0]),
                &plant.tenant.viewer.1,
                Some(json!({"reason_id": jam_id})),
            )
            .await,
            403,
        )
        .await;
        let other = app.tenant_fixture("Otra").await;
        expect_problem(
            send(
                &app,
                Method::POST,
                &bulk,
                &other.admin.1,
                Some(json!({"event_ids": [ids[0]], "reason_id": 1})),
            )
            .await,
            404,
        )
        .await;

        // The first two stops at once, with a comment.
        let assigned = ok_json(
            &app,
            Method::POST,
            &bulk,
            t,
            Some(json!({"event_ids": [ids[1], ids[0], ids[1]], "reason_id": jam_id, "comment": "Atasco en cinta"})),
        )
        .await;
        assert_eq!(assigned.as_array().map(Vec::len), Some(2), "{assigned}");
        let listed = events(&app, &line).await;
        for e in &listed[..2] {
            assert_eq!(e["reason_id"], jam_id, "{backend:?}: {e}");
            assert_eq!(e["reason_name"], "Atasco");
            assert_eq!(e["reason_color"], jam["color"]);
            assert_eq!(e["loss_class"], "breakdown");
            assert_eq!(e["reason_code"], "BRK-JAM");
            assert_eq!(e["reason"], "Atasco en cinta");
        }
        assert!(listed[2]["reason_id"].is_null());
        // One audit entry per event.
        let entries = audit_entries(&app, &plant.tenant.admin.1, "downtime.reason", 2).await;
        assert_eq!(entries.len(), 2, "{entries:?}");
        for e in &entries {
            assert_eq!(e["entity"], "downtime_event");
            assert_eq!(e["new_values"]["reason_id"], jam_id);
            assert!(e["old_values"]["reason_id"].is_null());
        }
        // Without a comment, each keeps its own; the single PUT replaces all.
        let put = ok_json(
            &app,
            Method::PUT,
            &format!("/api/v1/downtime/{}/{}", line.line_id, ids[2]),
            t,
            Some(json!({"reason_id": changeover, "reason": "Cambio a producto B"})),
        )
        .await;
        assert_eq!(put["loss_class"], "setup");
        assert_eq!(put["reason_code"], "SET-CHANGEOVER", "the code follows the reason");
        let problem = expect_problem(
            send(
                &app,
                Method::PUT,
                &format!("/api/v1/downtime/{}/{}", line.line_id, ids[2]),
                t,
                Some(json!({"reason_id": 999_999, "incident_id": 999_999})),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(problem_fields(&problem), ["reason_id", "incident_id"]);

        // An incident of the line explains the second stop.
        let incident = ok_json(
            &app,
            Method::POST,
            "/api/v1/production/incidents",
            t,
            Some(json!({"failure_id": jam_id, "line_id": line.line_id, "reported_at": "2026-11-16T08:12:00Z"})),
        )
        .await;
        let incident_id = id(&incident, "incident_id");
        ok_json(
            &app,
            Method::POST,
            &bulk,
            t,
            Some(json!({"event_ids": [ids[1]], "reason_id": jam_id, "incident_id": incident_id})),
        )
        .await;
        let listed = events(&app, &line).await;
        assert_eq!(listed[1]["incident_id"], incident_id);
        assert_eq!(listed[1]["reason"], "Atasco en cinta", "no comment given: kept");

        // A late detection at 08:20 splits the second stop; both parts keep
        // the reason, the comment and the incident.
        app.post_ok(
            t,
            &format!("/api/v1/lines/{}/detections", line.line_id),
            json!([{"detected_at": "2026-11-16T08:20:00Z", "area_id": line.output, "product_id": line.product}]),
        )
        .await;
        let window =
            json!({"line_id": line.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"});
        app.post_ok(t, "/api/v1/downtime/recalculate", window.clone()).await;
        let again = app.post_ok(t, "/api/v1/downtime/recalculate", window).await;
        assert_eq!(again, json!({"inserted": 0, "updated": 0, "deleted": 0, "orphaned": 0}));
        let listed = events(&app, &line).await;
        assert_eq!(listed.len(), 4, "{backend:?}: {listed:?}");
        for part in &listed[1..3] {
            assert_eq!(part["reason_id"], jam_id, "{backend:?}: {listed:?}");
            assert_eq!(part["reason_name"], "Atasco");
            assert_eq!(part["reason"], "Atasco en cinta");
            assert_eq!(part["incident_id"], incident_id);
        }
        assert_eq!(listed[3]["reason_id"], changeover);

        // A reason in use cannot be deleted (nor can its incident's): deactivate it.
        let problem = expect_problem(
            send(
                &app,
                Method::DELETE,
                &format!("/api/v1/production/downtime-reasons/{changeover}"),
                t,
                None,
            )
            .await,
            409,
        )
        .await;
        assert!(
            problem["detail"].as_str().unwrap_or_default().contains("deactivate"),
            "{problem}"
        );
        let mut retired = by_code(&reasons, "SET-CHANGEOVER").clone();
        retired["is_active"] = json!(false);
        ok_json(
            &app,
            Method::PUT,
            &format!("/api/v1/production/downtime-reasons/{changeover}"),
            t,
            Some(retired),
        )
        .await;
        let listed = events(&app, &line).await;
        assert_eq!(
            listed[3]["reason_name"], "Cambio de producto",
            "kept where it was given"
        );
        // Re-saving that event keeps the inactive reason; new assignments are refused.
        ok_json(
            &app,
            Method::PUT,
            &format!("/api/v1/downtime/{}/{}", line.line_id, id(&listed[3], "event_id")),
            t,
            Some(json!({"reason_id": changeover, "reason": "Cambio a producto B (revisado)"})),
        )
        .await;
        let problem = expect_problem(
            send(
                &app,
                Method::POST,
                &bulk,
                t,
                Some(json!({"event_ids": [id(&listed[0], "event_id")], "reason_id": changeover})),
            )
            .await,
            422,
        )
        .await;
        assert_eq!(problem_fields(&problem), ["reason_id"]);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_sees_and_changes_only_its_own_reasons() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let a = app.tenant_fixture("Alfa").await;
        let b = app.tenant_fixture("Beta").await;
        let own = ok_json(
            &app,
            Method::POST,
            "/api/v1/production/downtime-reasons",
            &a.admin.1,
            Some(json!({"code": "ALFA-SECRET", "name": "Solo Alfa", "loss_class": "planned"})),
        )
        .await;
        let path = format!("/api/v1/production/downtime-reasons/{}", id(&own, "reason_id"));
        // B's database has no such id: not found, whatever the method.
        for (method, body) in [
            (Method::GET, None),
            (
                Method::PUT,
                Some(json!({"code": "STOLEN", "name": "x", "loss_class": "planned"})),
            ),
            (Method::DELETE, None),
        ] {
            expect_problem(send(&app, method.clone(), &path, &b.admin.1, body).await, 404).await;
        }
        let text = send(
            &app,
            Method::GET,
            "/api/v1/production/downtime-reasons?include_inactive=true&limit=1000",
            &b.admin.1,
            None,
        )
        .await
        .text()
        .await
        .expect("body");
        assert!(!text.contains("ALFA-SECRET"), "{backend:?}: {text}");
        let still = ok_json(&app, Method::GET, &path, &a.viewer.1, None).await;
        assert_eq!(still["code"], "ALFA-SECRET");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downtime_table_of_an_earlier_version_is_upgraded_in_place() {
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let (plant, line) = recalculated_line(&app, "Upgrade").await;
        let line_id = i32::try_from(line.line_id).expect("id");
        let table = format!("downtime_events_{line_id}");
        let pool = app.state.databases.tenant(plant.tenant.tenant_id).await.expect("pool");
        let mut conn = pool.get().await.expect("connection");
        // The shape this table had before reasons had ids, with one explained stop.
        let old = match backend {
            crate::common::Backend::Mysql => format!(
                "DROP TABLE {table};
                CREATE TABLE {table} (
                    event_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                    start_time DATETIME(6) NOT NULL,
                    end_time DATETIME(6) NOT NULL,
                    duration_us BIGINT NOT NULL,
                    is_ongoing BOOLEAN NOT NULL DEFAULT FALSE,
                    reason_code VARCHAR(40) NULL,
                    reason VARCHAR(500) NULL,
                    created_at DATETIME(6) NOT NULL,
                    updated_at DATETIME(6) NOT NULL,
                    UNIQUE KEY uq_downtime_start (start_time),
                    KEY idx_downtime_time (start_time, end_time)
                ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;"
            ),
            crate::common::Backend::Sqlite => format!(
                "DROP TABLE {table};
                CREATE TABLE {table} (
                    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
                    start_time TIMESTAMP NOT NULL,
                    end_time TIMESTAMP NOT NULL,
                    duration_us BIGINT NOT NULL,
                    is_ongoing BOOLEAN NOT NULL DEFAULT 0,
                    reason_code TEXT NULL,
                    reason TEXT NULL,
                    created_at TIMESTAMP NOT NULL,
                    updated_at TIMESTAMP NOT NULL,
                    CONSTRAINT uq_{table}_start UNIQUE (start_time)
                );
                CREATE INDEX idx_{table}_time ON {table} (start_time, end_time);"
            ),
        };
        let insert = format!(
            "INSERT INTO {table} (start_time, end_time, duration_us, is_ongoing, reason_code, reason, created_at, updated_at) \
             VALUES ('2026-11-16 08:10:30', '2026-11-16 08:30:30', 1200000000, 0, 'JAM', 'Atasco', '2026-11-16 09:00:00', '2026-11-16 09:00:00')"
        );
        camet::with_conn!(&mut conn, |c| c.batch_execute(&old).await).expect("old table");
        camet::with_conn!(&mut conn, |c| diesel::sql_query(insert.as_str()).execute(c).await).expect("old row");
        // Laid out again, as every start does (twice: idempotent).
        let now = chrono::Utc::now().naive_utc();
        for _ in 0..2 {
            camet::db::line_tables::create_line_tables(&mut conn, line_id, now)
                .await
                .expect("upgrade");
        }
        drop(conn);
        // The old row is there with the new columns empty; the endpoints work on it.
        let listed = events(&app, &line).await;
        assert_eq!(listed.len(), 1, "{backend:?}: {listed:?}");
        assert_eq!(listed[0]["reason_code"], "JAM");
        assert!(listed[0]["reason_id"].is_null() && listed[0]["incident_id"].is_null());
        let reasons = all_reasons(&app, &line.token).await;
        let jam = id(by_code(&reasons, "BRK-JAM"), "reason_id");
        let assigned = ok_json(
            &app,
            Method::POST,
            &format!("/api/v1/downtime/{line_id}/reasons"),
            &line.token,
            Some(json!({"event_ids": [id(&listed[0], "event_id")], "reason_id": jam})),
        )
        .await;
        assert_eq!(assigned[0]["reason_id"], jam);
        assert_eq!(assigned[0]["reason"], "Atasco");
        let window =
            json!({"line_id": line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"});
        let report = app.post_ok(&line.token, "/api/v1/downtime/recalculate", window).await;
        assert_eq!(report["inserted"], 2, "{backend:?}: {report}");
        let listed = events(&app, &line).await;
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[1]["reason_id"], jam, "the explained stop kept its reason");
        app.stop().await;
    }
}

const SQLITE_TENANT: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations/sqlite/tenant");
const MYSQL_TENANT: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("migrations/mysql/tenant");

/// The tenant migrations from `2026-11-30-000001_downtime_reasons` on,
/// reverted (newest first) or run again, on `pool`.
async fn reasons_migration(pool: &camet::db::DbPool, revert: bool) {
    use diesel::migration::MigrationSource;
    use diesel_async::AsyncMigrationHarness;
    use diesel_migrations::MigrationHarness;
    macro_rules! apply {
        ($pool:expr, $set:expr, $backend:ty) => {{
            let conn = $pool.get().await.expect("connection");
            tokio::task::spawn_blocking(move || {
                let mut harness = AsyncMigrationHarness::new(conn);
                if revert {
                    let mut ours: Vec<_> = MigrationSource::<$backend>::migrations(&$set)
                        .expect("migrations")
                        .into_iter()
                        .filter(|m| m.name().version().to_string().replace('-', "").as_str() >= "20261130000001")
                        .collect();
                    ours.sort_by_key(|m| m.name().version().to_string().replace('-', ""));
                    assert!(!ours.is_empty(), "the reasons migration is embedded");
                    for migration in ours.iter().rev() {
                        harness.revert_migration(migration.as_ref()).expect("revert");
                    }
                } else {
                    harness.run_pending_migrations($set).expect("migrate");
                }
            })
            .await
            .expect("join");
        }};
    }
    match pool {
        camet::db::DbPool::Sqlite(pool) => apply!(pool, SQLITE_TENANT, diesel::sqlite::Sqlite),
        camet::db::DbPool::Mysql(pool) => apply!(pool, MYSQL_TENANT, diesel::mysql::Mysql),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_types_of_an_earlier_version_become_breakdown_reasons_with_their_ids() {
    use diesel_async::SimpleAsyncConnection;
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Migrada").await;
        let pool = app.state.databases.tenant(f.tenant_id).await.expect("pool");
        // Back to the schema before reasons (reverting turns the default
        // tree's breakdown reasons into failure types: dropped here), with
        // two failure types (ids 3 and 40, as a plant that deleted some
        // would have) and an incident.
        reasons_migration(&pool, true).await;
        let mut conn = pool.get().await.expect("connection");
        camet::with_conn!(&mut conn, |c| c
            .batch_execute(
                "DELETE FROM failure; \
                 INSERT INTO failure (failure_id, type_failure, description, created_at, updated_at) VALUES \
                 (3, 'Atasco de cinta', 'Cinta de salida', '2026-01-05 10:00:00', '2026-01-05 10:00:00'), \
                 (40, 'Fallo de etiquetadora', NULL, '2026-02-01 08:00:00', '2026-02-01 08:00:00'); \
                 INSERT INTO incident (failure_id, line_id, description, reported_at, resolved_at, created_at, updated_at) VALUES \
                 (40, NULL, 'Etiquetas torcidas', '2026-02-02 09:00:00', NULL, '2026-02-02 09:00:00', '2026-02-02 09:00:00');"
            )
            .await)
        .expect("old rows");
        drop(conn);
        reasons_migration(&pool, false).await;
        app.state
            .cache
            .reload(&app.state.databases, f.tenant_id)
            .await
            .expect("reload");

        let reasons = all_reasons(&app, &f.admin.1).await;
        assert_eq!(reasons.len(), DEFAULT_TREE.len() + 2, "{backend:?}: {reasons:?}");
        let breakdown = by_code(&reasons, "BREAKDOWN")["reason_id"].clone();
        for (failure_id, name) in [(3, "Atasco de cinta"), (40, "Fallo de etiquetadora")] {
            let r = by_code(&reasons, &format!("FAILURE-{failure_id}"));
            assert_eq!(r["reason_id"], failure_id, "{backend:?}: the id is kept");
            assert_eq!((r["name_es"].as_str(), r["name_en"].as_str()), (Some(name), Some(name)));
            assert_eq!(r["loss_class"], "breakdown");
            assert_eq!(r["parent_id"], breakdown);
        }
        assert_eq!(by_code(&reasons, "FAILURE-3")["description"], "Cinta de salida");
        // The tree came after them: no id taken twice.
        let mut ids: Vec<i64> = reasons.iter().map(|r| id(r, "reason_id")).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), reasons.len());
        // Through the failures API, and still under the incident.
        let failures = ok_json(&app, Method::GET, "/api/v1/production/failures", &f.admin.1, None).await;
        let listed: Vec<(i64, String)> = failures["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                (
                    id(i, "failure_id"),
                    i["type_failure"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert!(listed.contains(&(3, "Atasco de cinta".to_owned())), "{listed:?}");
        assert!(listed.contains(&(40, "Fallo de etiquetadora".to_owned())));
        let incidents = ok_json(
            &app,
            Method::GET,
            "/api/v1/production/incidents?failure_id=40",
            &f.admin.1,
            None,
        )
        .await;
        assert_eq!(incidents["total"], 1);
        expect_problem(
            send(&app, Method::DELETE, "/api/v1/production/failures/40", &f.admin.1, None).await,
            409,
        )
        .await;
        // A new failure type gets the next id.
        let created = ok_json(
            &app,
            Method::POST,
            "/api/v1/production/failures",
            &f.admin.1,
            Some(json!({"type_failure": "Nueva"})),
        )
        .await;
        assert!(id(&created, "failure_id") > ids.last().copied().unwrap_or_default());
        app.stop().await;
    }
}

/// A delete that comes while an assignment of the same reason is in flight
/// (here a transaction that took the reason, as `POST .../reasons` does, and
/// wrote it on an event, then holds its commit) waits for it and answers
/// 409: it never leaves an event naming a reason that is gone. Checking the
/// events before its own transaction, the delete answered 204 on both
/// backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_racing_an_assignment_waits_for_it_and_refuses() {
    use camet::reasons::ReasonLock;
    use diesel::sql_types::{BigInt, Integer};
    use diesel_async::RunQueryDsl;

    for backend in backends() {
        let app = TestApp::start(backend).await;
        let (plant, line) = recalculated_line(&app, "Race").await;
        let t = &line.token;
        let reasons = all_reasons(&app, t).await;
        let category = id(by_code(&reasons, "SET-CHANGEOVER"), "parent_id");
        let created = app
            .post_ok(
                t,
                "/api/v1/production/downtime-reasons",
                json!({"parent_id": category, "code": "SET-RACE", "name": "Carrera", "name_en": "Race"}),
            )
            .await;
        let reason_id = id(&created, "reason_id") as i32;
        let event_id = id(&events(&app, &line).await[0], "event_id");
        let table = camet::db::line_tables::downtime_table(line.line_id as i32).expect("table");

        let pool = app.state.databases.tenant(plant.tenant.tenant_id).await.expect("pool");
        let mut conn = pool.get().await.expect("conn");
        let (taken, taken_seen) = tokio::sync::oneshot::channel::<()>();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let assignment = tokio::spawn(async move {
            camet::write_tx!(&mut conn, |c, DB| {
                assert_eq!(c.lock_reason(reason_id, false).await?, Some(true));
                diesel::sql_query(format!("UPDATE {table} SET reason_id = ? WHERE event_id = ?"))
                    .into_boxed::<DB>()
                    .bind::<Integer, _>(reason_id)
                    .bind::<BigInt, _>(event_id)
                    .execute(c)
                    .await?;
                let _ = taken.send(());
                let _ = released.await;
                Ok::<_, camet::error::AppError>(())
            })
        });
        taken_seen.await.expect("assignment under way");
        let path = format!("/api/v1/production/downtime-reasons/{reason_id}");
        let delete = tokio::spawn({
            let request = app.authed(Method::DELETE, &path, t);
            async move { request.send().await.expect("request") }
        });
        // Give the delete time to reach the reason's lock; if it arrives
        // later, it simply sees the committed assignment (and still must 409).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        release.send(()).expect("assignment waiting");
        assignment.await.expect("join").expect("assignment commits");
        let problem = expect_problem(delete.await.expect("join"), 409).await;
        assert!(
            problem["detail"].as_str().unwrap_or_default().contains("deactivate"),
            "{backend:?}: {problem}"
        );
        let listed = events(&app, &line).await;
        assert!(
            listed.iter().any(|e| e["reason_id"] == json!(reason_id)),
            "{backend:?}: {listed:?}"
        );
        app.stop().await;
    }
}
