//! Live monitoring (issue 15): line state, the event stream (order, resume,
//! caps, slow clients), alert rules and their firings, and two instances
//! sharing events through a real Redis.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::common::{Backend, LinePlant, TestApp, backends, expect_problem};
use crate::shared_limits::{redis_or_skip, two_instances};

/// One server-sent event as a client reads it.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: Option<u64>,
    pub event: String,
    pub data: Value,
}

/// Parses complete frames off the front of `buffer`.
fn frames(buffer: &mut String) -> Vec<Sse> {
    let mut out = Vec::new();
    while let Some(end) = buffer.find("\n\n") {
        let frame: String = buffer.drain(..end + 2).collect();
        let (mut id, mut event, mut data) = (None, String::from("message"), None);
        for line in frame.lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("event: ") {
                event = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = serde_json::from_str(v).ok();
            }
        }
        if let Some(data) = data {
            out.push(Sse { id, event, data });
        }
    }
    out
}

/// An open stream, read by a task into a channel.
pub struct Stream {
    events: mpsc::UnboundedReceiver<Sse>,
    task: tokio::task::JoinHandle<()>,
}

impl Stream {
    /// Opens `/api/v1/stream` on `app`, resuming after `last` if given.
    pub async fn open(app: &TestApp, token: &str, last: Option<u64>) -> Stream {
        let mut request = app
            .client
            .get(app.url("/api/v1/stream"))
            .bearer_auth(token)
            .timeout(Duration::from_secs(600));
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last.to_string());
        }
        let response = request.send().await.expect("stream request");
        assert_eq!(response.status(), 200, "stream opened");
        assert!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"))
        );
        let (sender, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut body = response.bytes_stream();
            let mut buffer = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                for event in frames(&mut buffer) {
                    if sender.send(event).is_err() {
                        return;
                    }
                }
            }
        });
        Stream { events, task }
    }

    /// The next event satisfying `wanted`, skipping others (kept in `seen`);
    /// panics after `within`.
    pub async fn until(&mut self, seen: &mut Vec<Sse>, within: Duration, wanted: impl Fn(&Sse) -> bool) -> Sse {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) => {
                    seen.push(event.clone());
                    if wanted(&event) {
                        return event;
                    }
                }
                Ok(None) => panic!("the stream ended; seen {seen:?}"),
                Err(_) => panic!("no wanted event within {within:?}; seen {seen:?}"),
            }
        }
    }

    /// Closes the connection.
    pub fn close(self) {
        self.task.abort();
    }
}

fn now_s() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A tenant with a 24/7 line (threshold 60 s) and one product.
async fn live_plant(app: &TestApp, name: &str) -> LinePlant {
    app.line_plant(
        name,
        json!({"line_name": "Live", "line_code": "LV1", "downtime_threshold": 60}),
        &[json!({"product_name": "P", "product_code": "P", "production_std": 3600, "product_weight": "1"})],
        &[],
    )
    .await
}

async fn ingest_at(app: &TestApp, plant: &LinePlant, instants: &[DateTime<Utc>]) -> Value {
    let items: Vec<Value> = instants
        .iter()
        .flat_map(|t| {
            [
                json!({"detected_at": stamp(*t), "area_id": plant.input, "product_id": plant.products[0]}),
                json!({"detected_at": stamp(*t), "area_id": plant.output, "product_id": plant.products[0]}),
            ]
        })
        .collect();
    app.post_ok(
        &plant.token(),
        &format!("/api/v1/lines/{}/detections", plant.line_id),
        json!(items),
    )
    .await
}

fn of_line(event: &Sse, line_id: i64, kind: &str) -> bool {
    event.event == kind && event.data["line_id"] == line_id
}

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_opens_and_closes_on_the_stream_in_order_and_the_state_follows() {
    for backend in backends() {
        let app = TestApp::start_with(backend, &[("CAMET_LIVE_TICK_SECS", "1")]).await;
        let plant = live_plant(&app, "Live Stops").await;
        let t = now_s() - chrono::Duration::seconds(600);
        app.state.clock.pin(t);
        let mut stream = Stream::open(&app, &plant.token(), None).await;
        let mut seen = Vec::new();
        let answer = ingest_at(
            &app,
            &plant,
            &[t - chrono::Duration::seconds(30), t - chrono::Duration::seconds(10)],
        )
        .await;
        assert_eq!(answer["inserted"], 4, "{backend:?}");
        let production = stream
            .until(&mut seen, WAIT, |e| of_line(e, plant.line_id, "production"))
            .await;
        assert_eq!(production.data["inserted"], 4, "{backend:?}: {production:?}");
        let minutes = production.data["minutes"].as_array().expect("minutes");
        let outputs: u64 = minutes.iter().map(|m| m["output"].as_u64().unwrap_or(0)).sum();
        assert_eq!(outputs, 2, "{backend:?}: {production:?}");
        stream
            .until(&mut seen, WAIT, |e| {
                of_line(e, plant.line_id, "line_state") && e.data["state"] == "running"
            })
            .await;

        // Two minutes without output: longer than the 60 s threshold.
        app.state.clock.pin(t + chrono::Duration::seconds(120));
        let started = stream
            .until(&mut seen, WAIT, |e| of_line(e, plant.line_id, "downtime_started"))
            .await;
        assert_eq!(
            started.data["start"],
            camet::analytics::time::format_instant(t - chrono::Duration::seconds(10), chrono_tz::UTC),
            "{backend:?}"
        );
        let states = app
            .authed(Method::GET, "/api/v1/lines/state", &plant.tenant.viewer.1)
            .send()
            .await
            .expect("state");
        assert_eq!(states.status(), 200);
        let states: Value = states.json().await.expect("json");
        let line = &states["items"][0];
        assert_eq!(line["state"], "stopped", "{backend:?}: {states}");
        assert_eq!(line["current_stop_seconds"], 130.0, "{backend:?}: {states}");

        // Output again: the stop ends where the first new detection is.
        ingest_at(&app, &plant, &[t + chrono::Duration::seconds(120)]).await;
        let ended = stream
            .until(&mut seen, WAIT, |e| of_line(e, plant.line_id, "downtime_ended"))
            .await;
        assert_eq!(ended.data["duration_seconds"], 130.0, "{backend:?}: {ended:?}");
        stream
            .until(&mut seen, WAIT, |e| {
                of_line(e, plant.line_id, "line_state") && e.data["state"] == "running"
            })
            .await;
        assert!(started.id < ended.id, "{backend:?}: started before ended");
        let ids: Vec<u64> = seen.iter().filter_map(|e| e.id).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{backend:?}: ids increase: {ids:?}"
        );
        stream.close();
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_resumes_and_streams_are_per_tenant_and_authenticated() {
    for backend in backends() {
        let app = TestApp::start_with(backend, &[("CAMET_STREAM_BACKLOG", "50")]).await;
        let mine = app.tenant_fixture("Live Resume").await;
        let theirs = app.tenant_fixture("Live Others").await;
        let bus = &app.state.live;
        let mut first = Stream::open(&app, &mine.viewer.1, None).await;
        for n in 0..3 {
            bus.publish(
                theirs.tenant_id,
                camet::live::event::EventKind::Kpi,
                json!({"n": n, "secret": true}),
            )
            .await;
            bus.publish(mine.tenant_id, camet::live::event::EventKind::Kpi, json!({"n": n}))
                .await;
        }
        let mut seen = Vec::new();
        let second = first.until(&mut seen, WAIT, |e| e.data["n"] == 1).await;
        first.until(&mut seen, WAIT, |e| e.data["n"] == 2).await;
        assert!(
            seen.iter().all(|e| e.data.get("secret").is_none()),
            "{backend:?}: another tenant's event leaked: {seen:?}"
        );
        first.close();
        for n in 3..5 {
            bus.publish(mine.tenant_id, camet::live::event::EventKind::Kpi, json!({"n": n}))
                .await;
        }
        let mut resumed = Stream::open(&app, &mine.viewer.1, second.id).await;
        let mut again = Vec::new();
        resumed.until(&mut again, WAIT, |e| e.data["n"] == 4).await;
        let order: Vec<i64> = again.iter().filter_map(|e| e.data["n"].as_i64()).collect();
        assert_eq!(
            order,
            vec![2, 3, 4],
            "{backend:?}: the events after the one named, in order"
        );
        resumed.close();

        // An id older than anything kept: told to reload.
        let mut gap = Stream::open(&app, &mine.viewer.1, Some(1)).await;
        let mut told = Vec::new();
        gap.until(&mut told, WAIT, |e| e.event == "resync").await;
        gap.close();

        let bad = app
            .authed(Method::GET, "/api/v1/stream?last_event_id=yesterday", &mine.viewer.1)
            .send()
            .await
            .expect("request");
        expect_problem(bad, 422).await;
        let anonymous = app.get("/api/v1/stream").await;
        expect_problem(anonymous, 401).await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_over_the_cap_get_429_and_a_closed_one_frees_its_place() {
    for backend in backends() {
        let app = TestApp::start_with(backend, &[("CAMET_STREAMS_PER_TENANT", "2")]).await;
        let fixture = app.tenant_fixture("Live Caps").await;
        let a = Stream::open(&app, &fixture.viewer.1, None).await;
        let b = Stream::open(&app, &fixture.admin.1, None).await;
        let refused = app
            .authed(Method::GET, "/api/v1/stream", &fixture.viewer.1)
            .send()
            .await
            .expect("request");
        assert!(refused.headers().contains_key("retry-after"), "{backend:?}");
        expect_problem(refused, 429).await;
        // Another tenant has its own cap.
        let other = app.tenant_fixture("Live Caps Other").await;
        let c = Stream::open(&app, &other.viewer.1, None).await;
        a.close();
        let deadline = tokio::time::Instant::now() + WAIT;
        while app.state.live.open_streams() > 2 && tokio::time::Instant::now() < deadline {
            // The server notices the closed connection at its next write.
            app.state
                .live
                .publish(
                    fixture.tenant_id,
                    camet::live::event::EventKind::Kpi,
                    json!({"ping": true}),
                )
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let d = Stream::open(&app, &fixture.viewer.1, None).await;
        for stream in [b, c, d] {
            stream.close();
        }
        app.stop().await;
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_memory_stays_bounded() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::start_with(Backend::Sqlite, &[("CAMET_STREAM_CLIENT_BUFFER", "16")]).await;
    let fixture = app.tenant_fixture("Live Slow").await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    // A small receive window: the kernel holds little for the client.
    socket.set_recv_buffer_size(4096).expect("buffer");
    let mut connection = socket
        .connect(address.parse().expect("address"))
        .await
        .expect("connect");
    let request = format!(
        "GET /api/v1/stream HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nAccept: text/event-stream\r\n\r\n",
        fixture.viewer.1
    );
    connection.write_all(request.as_bytes()).await.expect("send");
    let mut head = [0u8; 12];
    connection.read_exact(&mut head).await.expect("answer");
    assert_eq!(&head, b"HTTP/1.1 200", "the stream opened");
    assert_eq!(app.state.live.open_streams(), 1);
    let before = rss_kib();
    // 40 000 events of 4 KiB (160 MiB) while the client reads nothing more.
    let padding = "x".repeat(4096);
    for n in 0..40_000 {
        app.state
            .live
            .publish(
                fixture.tenant_id,
                camet::live::event::EventKind::Production,
                json!({"n": n, "pad": padding}),
            )
            .await;
        if n % 1000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while app.state.live.open_streams() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let grown = rss_kib().saturating_sub(before);
    assert_eq!(
        app.state.live.open_streams(),
        0,
        "the slow client still holds its stream"
    );
    assert_eq!(app.state.live.dropped_slow(), 1);
    // The backlog (1000 × 4 KiB) and the client's queue (16 frames) are all
    // that is kept; 160 MiB went by.
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
    drop(connection);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rules_are_checked_audited_and_need_the_right_role() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let plant = live_plant(&app, "Live Rules").await;
        let manager = &plant.tenant.manager.1;
        let rule = json!({"name": "Long stop", "kind": "stop_longer_than", "line_id": plant.line_id, "threshold_seconds": 300, "emails": ["ops@example.com"]});
        let denied = app
            .authed(Method::POST, "/api/v1/alerts/rules", &plant.tenant.viewer.1)
            .json(&rule)
            .send()
            .await
            .expect("request");
        expect_problem(denied, 403).await;
        let created = app.post_ok(manager, "/api/v1/alerts/rules", rule).await;
        let rule_id = created["rule_id"].as_i64().expect("id");
        assert_eq!(created["emails"], json!(["ops@example.com"]));
        let bad = app
            .authed(Method::POST, "/api/v1/alerts/rules", manager)
            .json(&json!({"name": "", "kind": "oee_below", "line_id": 999, "threshold_seconds": 5, "emails": ["x"]}))
            .send()
            .await
            .expect("request");
        let problem = expect_problem(bad, 422).await;
        let mut fields = crate::common::problem_fields(&problem);
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["emails[0]", "line_id", "name", "target", "threshold_seconds"],
            "{backend:?}: {problem}"
        );
        let replaced = app
            .authed(Method::PUT, &format!("/api/v1/alerts/rules/{rule_id}"), manager)
            .json(&json!({"name": "OEE", "kind": "oee_below", "target": 65.5}))
            .send()
            .await
            .expect("request");
        assert_eq!(replaced.status(), 200);
        let replaced: Value = replaced.json().await.expect("json");
        assert_eq!(replaced["target"], 65.5);
        assert_eq!(replaced["window_seconds"], 900);
        assert_eq!(replaced["line_id"], Value::Null);
        let listed: Value = app
            .authed(Method::GET, "/api/v1/alerts/rules", &plant.tenant.viewer.1)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
        let deleted = app
            .authed(Method::DELETE, &format!("/api/v1/alerts/rules/{rule_id}"), manager)
            .send()
            .await
            .expect("request");
        assert_eq!(deleted.status(), 204);
        let gone = app
            .authed(Method::GET, &format!("/api/v1/alerts/rules/{rule_id}"), manager)
            .send()
            .await
            .expect("request");
        expect_problem(gone, 404).await;
        for mark in ["ack", "resolve"] {
            let missing = app
                .authed(Method::POST, &format!("/api/v1/alerts/424242/{mark}"), manager)
                .send()
                .await
                .expect("request");
            expect_problem(missing, 404).await;
        }
        // Every change is in the audit log.
        let audit: Value = app
            .authed(
                Method::GET,
                "/api/v1/audit?action=alert_rules.create",
                &plant.tenant.admin.1,
            )
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert!(audit.to_string().contains("alert_rules.create"), "{backend:?}: {audit}");
        app.stop().await;
    }
}

/// Two instances on one database and one Redis: a batch posted to one
/// reaches a stream on the other; a stop fires one alert, not two, which
/// can be acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_events_and_fire_an_alert_once() {
    if !redis_or_skip("live events across instances") {
        return;
    }
    for backend in backends() {
        let settings = [("CAMET_LIVE_TICK_SECS", "1"), ("CAMET_ALERT_JOB_SECS", "10")];
        let (first, second) = two_instances(backend, &settings).await;
        let plant = live_plant(&first, "Live Shared").await;
        second
            .state
            .cache
            .reload(&second.state.databases, plant.tenant.tenant_id)
            .await
            .expect("cache");
        let t = now_s() - chrono::Duration::seconds(900);
        first.state.clock.pin(t);
        second.state.clock.pin(t);
        let manager = &plant.tenant.manager.1;
        first
            .post_ok(
                manager,
                "/api/v1/alerts/rules",
                json!({"name": "Stop > 30 s", "kind": "stop_longer_than", "threshold_seconds": 30}),
            )
            .await;
        let mut stream = Stream::open(&second, &plant.tenant.viewer.1, None).await;
        let mut seen = Vec::new();
        ingest_at(&first, &plant, &[t - chrono::Duration::seconds(5)]).await;
        let production = stream
            .until(&mut seen, WAIT, |e| of_line(e, plant.line_id, "production"))
            .await;
        assert_eq!(production.data["inserted"], 2, "{backend:?}");

        // A stop of 5 minutes on both clocks: one alert, whichever instance evaluates.
        let later = t + chrono::Duration::seconds(300);
        first.state.clock.pin(later);
        second.state.clock.pin(later);
        stream
            .until(&mut seen, WAIT, |e| of_line(e, plant.line_id, "downtime_started"))
            .await;
        let alert = stream.until(&mut seen, WAIT, |e| e.event == "alert").await;
        assert_eq!(alert.data["kind"], "stop_longer_than", "{backend:?}");
        // Two more evaluation periods: still one firing.
        tokio::time::sleep(Duration::from_secs(21)).await;
        let alerts: Value = second
            .authed(Method::GET, "/api/v1/alerts", &plant.tenant.viewer.1)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        assert_eq!(alerts["total"], 1, "{backend:?}: {alerts}");
        assert_eq!(seen.iter().filter(|e| e.event == "alert").count(), 1, "{backend:?}");
        assert_eq!(
            seen.iter().filter(|e| e.event == "downtime_started").count(),
            1,
            "{backend:?}"
        );
        let alert_id = alerts["items"][0]["alert_id"].as_i64().expect("id");
        assert_eq!(alerts["items"][0]["active"], true);
        let acked = first
            .post_ok(manager, &format!("/api/v1/alerts/{alert_id}/ack"), json!({}))
            .await;
        assert_eq!(acked["status"], "acknowledged", "{backend:?}");
        assert_eq!(acked["acknowledged_by"], plant.tenant.manager.0);
        // A second acknowledgement, by somebody else, keeps the first.
        let again = second
            .post_ok(
                &plant.tenant.admin.1,
                &format!("/api/v1/alerts/{alert_id}/ack"),
                json!({}),
            )
            .await;
        assert_eq!(again["acknowledged_by"], plant.tenant.manager.0, "{backend:?}");
        assert_eq!(again["acknowledged_at"], acked["acknowledged_at"], "{backend:?}");

        // Output again: the stop ends and the firing resolves itself.
        ingest_at(&second, &plant, &[later]).await;
        stream
            .until(&mut seen, WAIT, |e| of_line(e, plant.line_id, "downtime_ended"))
            .await;
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut resolved = Value::Null;
        while tokio::time::Instant::now() < deadline {
            resolved = second
                .authed(Method::GET, "/api/v1/alerts?status=resolved", &plant.tenant.viewer.1)
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            if resolved["total"] == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert_eq!(resolved["total"], 1, "{backend:?}: {resolved}");
        assert_eq!(resolved["items"][0]["active"], false);
        stream.close();
        second.stop().await;
        first.stop().await;
    }
}

/// A stream writes nothing but heartbeats for longer than the connection's
/// request-head deadline: it stays open (the deadline counts from the last
/// byte written).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_outlives_the_head_deadline() {
    let app = TestApp::start_with(
        Backend::Sqlite,
        &[
            ("CAMET_HEADER_READ_TIMEOUT_SECS", "2"),
            ("CAMET_STREAM_HEARTBEAT_SECS", "60"),
        ],
    )
    .await;
    let fixture = app.tenant_fixture("Live Idle").await;
    let mut stream = Stream::open(&app, &fixture.viewer.1, None).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    app.state
        .live
        .publish(
            fixture.tenant_id,
            camet::live::event::EventKind::Kpi,
            json!({"late": true}),
        )
        .await;
    let mut seen = Vec::new();
    stream.until(&mut seen, WAIT, |e| e.data["late"] == true).await;
    assert_eq!(app.state.live.open_streams(), 1);
    stream.close();
    app.stop().await;
}

/// End to end on both backends: a stop on a line queues signed
/// `downtime_started` and `alert` webhooks, which reach a real receiver
/// on loopback, and the alert's e-mail is queued in the tenant's language.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_reaches_a_webhook_receiver_as_signed_downtime_and_alert_messages() {
    for backend in backends() {
        let mut settings = crate::webhooks::LOOPBACK.to_vec();
        settings.extend([("CAMET_LIVE_TICK_SECS", "1"), ("CAMET_ALERT_JOB_SECS", "10")]);
        let app = TestApp::start_with(backend, &settings).await;
        let plant = live_plant(&app, "Live Hooks").await;
        let (addr, seen) = crate::webhooks::receiver(&[], 200).await;
        let created = app
            .post_ok(
                &plant.token(),
                "/api/v1/webhooks",
                json!({"url": format!("http://{addr}/hook"), "events": ["alert", "downtime_started"]}),
            )
            .await;
        seen.lock().expect("receiver").secret = created["secret"].as_str().map(str::to_owned);
        app.post_ok(
            &plant.tenant.manager.1,
            "/api/v1/alerts/rules",
            json!({"name": "Parada", "kind": "stop_longer_than", "line_id": plant.line_id, "threshold_seconds": 30}),
        )
        .await;
        let t = now_s() - chrono::Duration::seconds(900);
        app.state.clock.pin(t);
        ingest_at(&app, &plant, &[t - chrono::Duration::seconds(5)]).await;
        app.state.clock.pin(t + chrono::Duration::seconds(300));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
        let types = loop {
            let types: Vec<String> = {
                let state = seen.lock().expect("receiver");
                assert!(
                    state.received.iter().all(|r| r.signature_ok),
                    "{backend:?}: a bad signature"
                );
                state
                    .received
                    .iter()
                    .filter_map(|r| serde_json::from_str::<Value>(&r.body).ok())
                    .filter_map(|b| b["type"].as_str().map(str::to_owned))
                    .collect()
            };
            if types.len() >= 2 || tokio::time::Instant::now() > deadline {
                break types;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let mut sorted = types.clone();
        sorted.sort();
        assert_eq!(sorted, ["alert", "downtime_started"], "{backend:?}: {types:?}");
        app.stop().await;
    }
}
