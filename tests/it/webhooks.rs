//! Signed webhooks (issue 15, deliveries), on both backends, against a real
//! receiver on loopback started by the test: it checks every Standard
//! Webhooks signature with the secret of the creation answer and answers
//! as told (500 then 200: one delivery, two attempts with one webhook-id).
//! Also: the secret never listed, private targets refused (at creation with
//! a 422 naming `url`, and again at delivery), only admins manage webhooks,
//! a cap per tenant, and a webhook whose deliveries keep failing disabled.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use camet::notify::webhooks::{self, EventType};
use hmac::{Hmac, Mac};
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{EndpointExt, Route, handler};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{TestApp, backends, expect_problem, problem_fields};

/// Settings of a server whose receiver lives on loopback.
pub const LOOPBACK: [(&str, &str); 3] = [
    ("CAMET_WEBHOOKS_ALLOW_PRIVATE", "true"),
    ("CAMET_DELIVERY_JOB_SECS", "1"),
    ("CAMET_WEBHOOK_RETRY_BASE_MS", "100"),
];

/// The longest any wait for the delivery job may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub body: String,
    pub signature_ok: bool,
}

/// What the receiver knows and answers.
#[derive(Default)]
pub struct ReceiverState {
    /// The secret to verify with (known once the webhook is created).
    pub secret: Option<String>,
    /// Statuses to answer, in order; then `otherwise`.
    plan: VecDeque<u16>,
    otherwise: u16,
    pub received: Vec<Received>,
}

pub type Shared = Arc<Mutex<ReceiverState>>;

/// Verifies a Standard Webhooks signature independently of Camet's code.
fn signature_matches(secret: &str, id: &str, timestamp: &str, body: &str, header: &str) -> bool {
    let Some(key) = secret.strip_prefix("whsec_").and_then(|k| STANDARD.decode(k).ok()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    // The header may carry several space-separated signatures.
    header.split(' ').any(|candidate| candidate == expected)
}

#[handler]
async fn receive(req: &poem::Request, body: String, state: Data<&Shared>) -> poem::http::StatusCode {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let mut state = state.lock().expect("receiver state");
    let signature_ok = state
        .secret
        .as_deref()
        .is_some_and(|secret| signature_matches(secret, &id, &timestamp, &body, &signature));
    state.received.push(Received {
        id,
        timestamp: timestamp.parse().unwrap_or(0),
        body,
        signature_ok,
    });
    let status = state.plan.pop_front().unwrap_or(state.otherwise);
    poem::http::StatusCode::from_u16(status).expect("status")
}

/// A receiver on 127.0.0.1 answering `plan`, then `otherwise`.
pub async fn receiver(plan: &[u16], otherwise: u16) -> (SocketAddr, Shared) {
    let shared: Shared = Arc::new(Mutex::new(ReceiverState {
        plan: plan.iter().copied().collect(),
        otherwise,
        ..ReceiverState::default()
    }));
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind receiver");
    let addr = acceptor.local_addr()[0]
        .as_socket_addr()
        .copied()
        .expect("a TCP address");
    let app = Route::new().at("/hook", poem::post(receive)).data(shared.clone());
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
    });
    (addr, shared)
}

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

/// Queues one message of `event` in the tenant, as the alert evaluator does.
async fn enqueue(app: &TestApp, tenant_id: i32, event: EventType, data: Value) -> usize {
    let pool = app.state.databases.tenant(tenant_id).await.expect("tenant pool");
    let mut conn = pool.get().await.expect("tenant connection");
    webhooks::enqueue(&mut conn, event, &data, app.state.clock.now())
        .await
        .expect("enqueue")
}

/// Polls `path` until `done` holds for its answer (at most [`DEADLINE`]).
async fn wait_for(app: &TestApp, path: &str, token: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let answer = ok_json(app, Method::GET, path, token, None).await;
        if done(&answer) {
            return answer;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{what} within {DEADLINE:?}; last: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_delivery_answered_500_then_200_is_retried_and_recorded_once() {
    for backend in backends() {
        let app = TestApp::start_with(backend, &LOOPBACK).await;
        let f = app.tenant_fixture("Ganchos").await;
        let (addr, seen) = receiver(&[500, 200], 200).await;
        let created = ok_json(
            &app,
            Method::POST,
            "/api/v1/webhooks",
            &f.admin.1,
            Some(json!({"url": format!("http://{addr}/hook"), "events": ["alert", "downtime_started"]})),
        )
        .await;
        let secret = created["secret"]
            .as_str()
            .expect("secret in the creation answer")
            .to_owned();
        assert!(secret.starts_with("whsec_"), "{created}");
        assert_eq!(created["events"], json!(["alert", "downtime_started"]));
        assert_eq!(created["is_active"], true);
        let webhook_id = created["webhook_id"].as_i64().expect("id");
        seen.lock().expect("state").secret = Some(secret.clone());

        // The list never shows the secret.
        let listed = send(&app, Method::GET, "/api/v1/webhooks", &f.admin.1, None).await;
        assert_eq!(listed.status(), 200);
        let text = listed.text().await.expect("body");
        assert!(!text.contains(&secret) && !text.contains("whsec_"), "{text}");
        let list: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
        assert!(list[0].get("secret").is_none(), "{list}");

        // Only subscribed event types are queued.
        assert_eq!(enqueue(&app, f.tenant_id, EventType::ShiftEnded, json!({})).await, 0);
        let data = json!({"rule_id": 3, "line_id": 1, "message": "Línea 1 detenida 12 min"});
        assert_eq!(enqueue(&app, f.tenant_id, EventType::Alert, data.clone()).await, 1);

        let path = format!("/api/v1/webhooks/{webhook_id}/deliveries");
        let page = wait_for(&app, &path, &f.admin.1, "the delivery is delivered", |page| {
            page["items"][0]["status"] == "delivered"
        })
        .await;
        assert_eq!(page["total"], 1, "{backend:?}: one delivery recorded: {page}");
        let delivery = &page["items"][0];
        assert_eq!(delivery["attempts"], 2, "{delivery}");
        assert_eq!(delivery["last_status_code"], 200, "{delivery}");
        assert_eq!(delivery["event_type"], "alert");
        assert!(delivery["latency_ms"].as_i64().is_some(), "{delivery}");
        assert!(delivery["delivered_at"].is_string(), "{delivery}");
        assert!(delivery["next_attempt_at"].is_null(), "{delivery}");
        let message_id = delivery["message_id"].as_str().expect("message id").to_owned();
        assert!(message_id.starts_with("msg_"), "{message_id}");

        let received = seen.lock().expect("state").received.clone();
        assert_eq!(received.len(), 2, "{backend:?}: 500, then 200: {received:?}");
        let now = chrono::Utc::now().timestamp();
        for request in &received {
            assert_eq!(request.id, message_id, "the same webhook-id on every attempt");
            assert!(request.signature_ok, "the signature verifies: {request:?}");
            assert!(
                (now - request.timestamp).abs() < 300,
                "a current timestamp: {request:?}"
            );
            let body: Value = serde_json::from_str(&request.body).expect("JSON body");
            assert_eq!(body["type"], "alert");
            assert_eq!(body["data"], data);
            assert!(
                chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap_or_default()).is_ok(),
                "{body}"
            );
        }
        assert_eq!(received[0].body, received[1].body, "the same body on every attempt");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_are_refused_and_only_admins_manage_webhooks() {
    for backend in backends() {
        let app = TestApp::start_with(
            backend,
            &[("CAMET_DELIVERY_JOB_SECS", "1"), ("CAMET_WEBHOOK_MAX_ATTEMPTS", "1")],
        )
        .await;
        let f = app.tenant_fixture("Privado").await;
        let (addr, seen) = receiver(&[], 200).await;
        for url in [
            format!("http://{addr}/hook"),
            format!("http://localhost:{}/hook", addr.port()),
            "http://169.254.169.254/latest/meta-data".to_owned(),
            "http://[::1]/hook".to_owned(),
            "http://10.0.0.8/hook".to_owned(),
        ] {
            let response = send(
                &app,
                Method::POST,
                "/api/v1/webhooks",
                &f.admin.1,
                Some(json!({"url": url, "events": ["alert"]})),
            )
            .await;
            let problem = expect_problem(response, 422).await;
            assert_eq!(problem_fields(&problem), ["url"], "{backend:?} {url}: {problem}");
        }
        for (body, field) in [
            (json!({"url": "ftp://example.com/x", "events": ["alert"]}), "url"),
            (json!({"url": "https://u:p@example.com/x", "events": ["alert"]}), "url"),
            (json!({"url": "https://hooks.example.com/x", "events": []}), "events"),
            (
                json!({"url": "https://hooks.example.com/x", "events": ["alert", "alert"]}),
                "events",
            ),
            (
                json!({"url": "https://hooks.example.com/x", "events": ["line_state"]}),
                "events",
            ),
        ] {
            let response = send(&app, Method::POST, "/api/v1/webhooks", &f.admin.1, Some(body.clone())).await;
            let problem = expect_problem(response, 422).await;
            assert_eq!(problem_fields(&problem), [field], "{body}: {problem}");
        }

        // Managers and viewers may not see or touch webhooks.
        for token in [&f.manager.1, &f.viewer.1] {
            let body = json!({"url": "https://hooks.example.com/x", "events": ["alert"]});
            expect_problem(
                send(&app, Method::POST, "/api/v1/webhooks", token, Some(body)).await,
                403,
            )
            .await;
            expect_problem(send(&app, Method::GET, "/api/v1/webhooks", token, None).await, 403).await;
        }

        // A name that does not resolve yet is accepted (each delivery checks
        // again); 20 per tenant, then a 409.
        let mut ids = Vec::new();
        for i in 0..20 {
            let created = ok_json(
                &app,
                Method::POST,
                "/api/v1/webhooks",
                &f.admin.1,
                Some(json!({"url": format!("https://hooks-{i}.invalid/camet"), "events": ["shift_ended"]})),
            )
            .await;
            ids.push(created["webhook_id"].as_i64().expect("id"));
        }
        let body = json!({"url": "https://one-more.invalid/camet", "events": ["alert"]});
        let problem = expect_problem(
            send(&app, Method::POST, "/api/v1/webhooks", &f.admin.1, Some(body)).await,
            409,
        )
        .await;
        assert!(
            problem["detail"].as_str().unwrap_or_default().contains("20"),
            "{problem}"
        );
        for id in &ids[1..] {
            let response = send(
                &app,
                Method::DELETE,
                &format!("/api/v1/webhooks/{id}"),
                &f.admin.1,
                None,
            )
            .await;
            assert_eq!(response.status(), 204);
        }
        let response = send(
            &app,
            Method::DELETE,
            &format!("/api/v1/webhooks/{}", ids[1]),
            &f.admin.1,
            None,
        )
        .await;
        expect_problem(response, 404).await;
        let response = send(
            &app,
            Method::GET,
            &format!("/api/v1/webhooks/{}/deliveries", ids[1]),
            &f.admin.1,
            None,
        )
        .await;
        expect_problem(response, 404).await;

        // A webhook whose target became private (written straight to the
        // database, as if its name now resolved inside): the delivery is
        // refused before any connection, with a clear error.
        {
            use camet::db::schema::tenant::webhooks as table;
            use diesel::{ExpressionMethods, QueryDsl};
            use diesel_async::RunQueryDsl;
            let pool = app.state.databases.tenant(f.tenant_id).await.expect("pool");
            let mut conn = pool.get().await.expect("connection");
            let url = format!("http://{addr}/hook");
            camet::with_conn!(&mut conn, |c| diesel::update(
                table::table.filter(table::webhook_id.eq(ids[0] as i32))
            )
            .set((table::url.eq(&url), table::events.eq(r#"["alert"]"#)))
            .execute(c)
            .await)
            .expect("retarget");
        }
        assert_eq!(enqueue(&app, f.tenant_id, EventType::Alert, json!({"n": 1})).await, 1);
        let path = format!("/api/v1/webhooks/{}/deliveries", ids[0]);
        let page = wait_for(&app, &path, &f.admin.1, "the refused delivery ends", |page| {
            page["items"][0]["status"] == "failed"
        })
        .await;
        let error = page["items"][0]["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("127.0.0.1") && error.contains("refused"), "{error}");
        assert!(page["items"][0]["last_status_code"].is_null(), "{page}");
        assert!(
            seen.lock().expect("state").received.is_empty(),
            "no request reached the target"
        );

        // Creation and deletion are audited, without the secret.
        let started = Instant::now();
        loop {
            let page = ok_json(
                &app,
                Method::GET,
                "/api/v1/audit?action=webhooks.create&limit=50",
                &f.admin.1,
                None,
            )
            .await;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if items.len() >= 20 {
                assert!(!page.to_string().contains("whsec_"), "no secret in the audit log");
                assert_eq!(items[0]["entity"], "webhook");
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "audit entries: {page}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_whose_deliveries_keep_failing_is_disabled() {
    for backend in backends() {
        let app = TestApp::start_with(
            backend,
            &[
                LOOPBACK[0],
                LOOPBACK[1],
                ("CAMET_WEBHOOK_RETRY_BASE_MS", "50"),
                ("CAMET_WEBHOOK_MAX_ATTEMPTS", "2"),
            ],
        )
        .await;
        let f = app.tenant_fixture("Caido").await;
        let (addr, seen) = receiver(&[], 503).await;
        let created = ok_json(
            &app,
            Method::POST,
            "/api/v1/webhooks",
            &f.admin.1,
            Some(json!({"url": format!("http://{addr}/hook"), "events": ["downtime_ended"]})),
        )
        .await;
        let webhook_id = created["webhook_id"].as_i64().expect("id");
        for n in 0..5 {
            assert_eq!(
                enqueue(&app, f.tenant_id, EventType::DowntimeEnded, json!({"n": n})).await,
                1
            );
        }
        let list = wait_for(
            &app,
            "/api/v1/webhooks",
            &f.admin.1,
            "the webhook is disabled",
            |list| list[0]["is_active"] == false,
        )
        .await;
        let hook = &list[0];
        assert_eq!(hook["consecutive_failures"], 5, "{backend:?}: {hook}");
        assert!(hook["disabled_at"].is_string(), "{hook}");
        let reason = hook["disabled_reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("5 deliveries in a row failed") && reason.contains("503"),
            "{reason}"
        );

        let page = ok_json(
            &app,
            Method::GET,
            &format!("/api/v1/webhooks/{webhook_id}/deliveries"),
            &f.admin.1,
            None,
        )
        .await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 5, "{page}");
        for item in &items {
            assert_eq!(item["status"], "failed", "{item}");
            assert_eq!(item["attempts"], 2, "{item}");
            assert_eq!(item["last_status_code"], 503, "{item}");
            assert!(
                item["last_error"].as_str().unwrap_or_default().contains("HTTP 503"),
                "{item}"
            );
        }
        assert_eq!(seen.lock().expect("state").received.len(), 10, "two attempts each");
        // A disabled webhook gets nothing new.
        assert_eq!(enqueue(&app, f.tenant_id, EventType::DowntimeEnded, json!({})).await, 0);
        app.stop().await;
    }
}
