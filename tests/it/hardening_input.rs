//! Regression tests of issue 11 (items 3, 6 and 7), each an attack that used to work: limits
//! skipped by any credential header, loosely typed and out-of-range input, and external widget
//! pointers chosen by the caller. Every test runs on each backend of `backends()`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestApp, backends, expect_problem};

/// A request from client address `ip`, told through `X-Forwarded-For` by the loopback peer (the
/// tests that use it trust 127.0.0.1 as a proxy).
fn from(app: &TestApp, method: Method, path: &str, ip: &str) -> reqwest::RequestBuilder {
    app.client.request(method, app.url(path)).header("x-forwarded-for", ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_header_does_not_skip_the_per_ip_limit() {
    for backend in backends() {
        let app = TestApp::start_with(
            backend,
            &[
                ("CAMET_IP_RATE_LIMIT_PER_MINUTE", "20"),
                ("CAMET_TRUSTED_PROXIES", "127.0.0.1"),
            ],
        )
        .await;
        // Password spraying: 300 logins with a (bogus) bearer header from one address.
        let mut statuses = Vec::new();
        for i in 0..300 {
            let response = from(&app, Method::POST, "/api/v1/auth/login", "198.51.100.7")
                .bearer_auth("x")
                .json(&json!({"username": format!("user{i}"), "password": "Wrong-password-1"}))
                .send()
                .await
                .expect("login");
            let status = response.status().as_u16();
            if status == 429 {
                assert!(
                    response.headers().contains_key("retry-after"),
                    "429 without Retry-After"
                );
            }
            statuses.push(status);
        }
        let limited = statuses.iter().filter(|&&s| s == 429).count();
        let refused = statuses.iter().filter(|&&s| s == 401).count();
        assert!(
            refused <= 20,
            "{backend:?}: {refused} attempts got through: {statuses:?}"
        );
        assert_eq!(limited + refused, 300, "{backend:?}: {statuses:?}");
        // The same with an API key header, on an authenticated route.
        let mut statuses = Vec::new();
        for _ in 0..30 {
            let response = from(&app, Method::GET, "/api/v1/auth/me", "198.51.100.8")
                .header("x-api-key", "cmt_forged")
                .send()
                .await
                .expect("me");
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses.last(), Some(&429), "{backend:?}: {statuses:?}");
        // Another address has its own budget.
        let other = from(&app, Method::POST, "/api/v1/auth/login", "198.51.100.9")
            .bearer_auth("x")
            .json(&json!({"username": "ana", "password": "Wrong-password-1"}))
            .send()
            .await
            .expect("login");
        expect_problem(other, 401).await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_are_limited_per_ip_before_any_lookup() {
    for backend in backends() {
        let app = TestApp::start_with(
            backend,
            &[
                ("CAMET_AUTH_FAILURE_LIMIT_PER_MINUTE", "5"),
                ("CAMET_TRUSTED_PROXIES", "127.0.0.1"),
            ],
        )
        .await;
        let fixture = app.tenant_fixture("Flood").await;
        let created: Value = app
            .post_ok(
                &fixture.admin.1,
                "/api/v1/api-keys",
                json!({"name": "gateway", "role": "viewer"}),
            )
            .await;
        let key = created["key"].as_str().expect("key").to_owned();
        let me_with_key = |ip: &str, key: &str| {
            from(&app, Method::GET, "/api/v1/auth/me", ip)
                .header("x-api-key", key)
                .send()
        };

        // Invalid bearer tokens: 5 refusals, then 429 before the token is even decoded.
        let attacker = "203.0.113.5";
        for i in 0..5 {
            let response = from(&app, Method::GET, "/api/v1/auth/me", attacker)
                .bearer_auth(format!("forged-{i}"))
                .send()
                .await
                .expect("me");
            expect_problem(response, 401).await;
        }
        let limited = from(&app, Method::GET, "/api/v1/auth/me", attacker)
            .bearer_auth("forged")
            .send()
            .await
            .expect("me");
        assert!(limited.headers().contains_key("retry-after"));
        expect_problem(limited, 429).await;
        // Refused before lookup: even a valid key and the right password are not looked at.
        expect_problem(me_with_key(attacker, &key).await.expect("me"), 429).await;
        let login = from(&app, Method::POST, "/api/v1/auth/login", attacker)
            .json(&json!({"username": "flood_viewer", "password": crate::common::PASSWORD}))
            .send()
            .await
            .expect("login");
        expect_problem(login, 429).await;

        // Invalid API keys from a second address, and password spraying from a third.
        let second = "203.0.113.6";
        for i in 0..5 {
            expect_problem(me_with_key(second, &format!("cmt_forged{i}")).await.expect("me"), 401).await;
        }
        expect_problem(me_with_key(second, "cmt_forged").await.expect("me"), 429).await;
        let third = "203.0.113.7";
        for i in 0..5 {
            let login = from(&app, Method::POST, "/api/v1/auth/login", third)
                .json(&json!({"username": format!("someone{i}"), "password": "Wrong-password-1"}))
                .send()
                .await
                .expect("login");
            expect_problem(login, 401).await;
        }
        let login = from(&app, Method::POST, "/api/v1/auth/login", third)
            .json(&json!({"username": "flood_viewer", "password": crate::common::PASSWORD}))
            .send()
            .await
            .expect("login");
        expect_problem(login, 429).await;

        // A clean address is unaffected, and successes never count as failures.
        for _ in 0..10 {
            assert_eq!(me_with_key("203.0.113.8", &key).await.expect("me").status(), 200);
        }
        app.stop().await;
    }
}

/// A loopback API that answers every request with the request's own header lines (as an array of
/// strings, `headers`, with as many `ones`), plus a plain two-point series at `/labels`, `/values`.
async fn header_echo_api() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Bounded: at most 16 reads or 64 KiB, until the end of the headers.
                for _ in 0..16 {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                    if request.windows(4).any(|w| w == b"\r\n\r\n") || request.len() > 65_536 {
                        break;
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let headers: Vec<&str> = text.split("\r\n").skip(1).take_while(|line| !line.is_empty()).collect();
                let body = json!({
                    "labels": ["a", "b"],
                    "values": [1, 2],
                    "headers": headers,
                    "ones": vec![1; headers.len()],
                })
                .to_string();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/echo")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_cannot_point_an_external_widget_at_the_configured_token() {
    let token_var = "CAMET_IT_ECHO_TOKEN_4b1d";
    let token = "echo-secret-token-93f1";
    // SAFETY: the variable name is unique to this test.
    unsafe { std::env::set_var(token_var, token) };
    let echo = header_echo_api().await;
    let dir = tempfile::tempdir().expect("dir");
    let apis = dir.path().join("external_apis.yml");
    std::fs::write(
        &apis,
        format!("apis:\n  - {{api_id: echo, base_url: '{echo}', timeout_ms: 2000, token_env: {token_var}}}\n"),
    )
    .expect("write yml");
    let path = apis.display().to_string();
    for backend in backends() {
        let app = TestApp::start_with(
            backend,
            &[("CAMET_EXTERNAL_APIS", &path), ("CAMET_BROKER_CACHE_SECS", "0")],
        )
        .await;
        let fixture = app.tenant_fixture("Echo").await;
        let widget = |params: Value| {
            app.authed(Method::POST, "/api/v1/dashboard/widgets/9/data", &fixture.viewer.1)
                .json(&json!({"params": params}))
                .send()
        };
        // The API does receive the token (so the attack had something to read)...
        let plain = widget(json!({"api_id": "echo"})).await.expect("post");
        assert_eq!(plain.status(), 200, "{backend:?}");
        let text = plain.text().await.expect("body");
        let plain: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(plain["data"]["labels"], json!(["a", "b"]), "{plain}");
        assert!(!text.contains(token), "{backend:?}: token leaked: {text}");
        // ...but a request cannot choose where the widget reads from.
        for attack in [
            json!({"api_id": "echo", "labels_pointer": "/headers", "values_pointer": "/ones"}),
            json!({"api_id": "echo", "labels_pointer": "/headers"}),
            json!({"api_id": "echo", "values_pointer": "/headers"}),
        ] {
            let response = widget(attack.clone()).await.expect("post");
            let status = response.status().as_u16();
            let text = response.text().await.expect("body");
            assert!(!text.contains(token), "{backend:?}: token leaked by {attack}: {text}");
            assert_eq!(status, 422, "{backend:?}: {attack} gave {text}");
            let problem: Value = serde_json::from_str(&text).expect("json");
            let field = problem["errors"][0]["field"].as_str().unwrap_or_default();
            assert!(field.ends_with("_pointer"), "{problem}");
        }
        // Nor through a layout run: even an admin's template cannot carry pointers.
        let run = app
            .authed(Method::PUT, "/api/v1/dashboard/templates/viewer", &fixture.admin.1)
            .json(&json!({"grid": [{"widget_id": 9, "x": 0, "y": 0, "w": 6, "h": 2,
                "params": {"api_id": "echo", "labels_pointer": "/headers", "values_pointer": "/ones"}}]}))
            .send()
            .await
            .expect("put");
        let status = run.status().as_u16();
        let text = run.text().await.expect("body");
        assert!(!text.contains(token), "{text}");
        if status == 200 {
            let run = app
                .authed(Method::POST, "/api/v1/dashboard/run", &fixture.viewer.1)
                .json(&json!({}))
                .send()
                .await
                .expect("run");
            let text = run.text().await.expect("body");
            assert!(!text.contains(token), "{backend:?}: token leaked by a run: {text}");
        } else {
            assert_eq!(status, 422, "{text}");
        }
        app.stop().await;
    }
}

/// A tenant with one line (input and output areas) and one product; returns the admin token, the
/// line, its input area and the product.
async fn small_plant(app: &TestApp, name: &str) -> (String, i64, i64, i64) {
    let plant = app
        .line_plant(
            name,
            json!({"line_name": "L", "line_code": "L1"}),
            &[json!({"product_name": "P", "product_code": "P1", "production_std": 60})],
            &[],
        )
        .await;
    (plant.token(), plant.line_id, plant.input, plant.products[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colours_must_be_css_hex() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let (token, ..) = small_plant(&app, "Colours").await;
        let product = |code: &str, colour: Value| {
            app.authed(Method::POST, "/api/v1/production/products", &token)
                .json(&json!({"product_name": "X", "product_code": code, "product_color": colour}))
                .send()
        };
        for (i, bad) in [
            "url(javascript:alert(1))",
            "steelblue",
            "#ef4444;background:url(x)",
            "#12345",
            "ef4444",
            "expression(alert(1))",
        ]
        .into_iter()
        .enumerate()
        {
            let body = expect_problem(product(&format!("B{i}"), json!(bad)).await.expect("post"), 422).await;
            assert_eq!(body["errors"][0]["field"], "product_color", "{backend:?} {bad}: {body}");
        }
        for (i, good) in ["#fff", "#EF4444", "#ef444480", "#abcd"].into_iter().enumerate() {
            let response = product(&format!("G{i}"), json!(good)).await.expect("post");
            assert_eq!(response.status(), 201, "{backend:?} {good}");
            let created: Value = response.json().await.expect("json");
            assert_eq!(created["product_color"], good.to_ascii_lowercase());
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instants_outside_1970_to_9999_are_422_everywhere() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let (token, line_id, input, product) = small_plant(&app, "Years").await;
        let get = |path: String| app.authed(Method::GET, &path, &token).send();
        for (start, end) in [
            ("0000-01-01", "0000-01-02"),
            ("0000-01-01T00:00:00Z", "0000-01-02T00:00:00Z"),
            ("1969-12-31T00:00:00Z", "1970-01-02T00:00:00Z"),
        ] {
            for path in [
                format!("/api/v1/data/detections?line_id={line_id}&start_date={start}&end_date={end}"),
                format!("/api/v1/metrics/oee?line_id={line_id}&start_date={start}&end_date={end}"),
            ] {
                let body = expect_problem(get(path.clone()).await.expect("get"), 422).await;
                assert_eq!(body["errors"][0]["field"], "start_date", "{backend:?} {path}: {body}");
            }
            let body = app
                .authed(Method::POST, "/api/v1/metrics/oee", &token)
                .json(&json!({"line_id": line_id, "start_date": start, "end_date": end}))
                .send()
                .await
                .expect("post");
            expect_problem(body, 422).await;
        }
        for query in [
            "start_date=0000-01-01T00:00:00Z",
            "end_date=0001-01-01T00:00:00%2B01:00",
        ] {
            let body = expect_problem(get(format!("/api/v1/audit?{query}")).await.expect("audit"), 422).await;
            let field = body["errors"][0]["field"].as_str().unwrap_or_default().to_owned();
            assert!(query.starts_with(&field), "{backend:?} {query}: {body}");
        }
        let incident = app
            .authed(Method::POST, "/api/v1/production/incidents", &token)
            .json(&json!({"line_id": line_id, "reported_at": "0000-01-01T00:00:00Z"}))
            .send()
            .await
            .expect("incident");
        let body = expect_problem(incident, 422).await;
        assert_eq!(body["errors"][0]["field"], "reported_at", "{backend:?}: {body}");

        // Ingest: year 1, beyond the horizon, too far ahead; each named by index.
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .expect("now")
            .to_utc();
        app.state.clock.pin(now);
        let item = |at: &str| json!({"detected_at": at, "area_id": input, "product_id": product});
        let ingest = |items: Vec<Value>| {
            app.authed(Method::POST, &format!("/api/v1/lines/{line_id}/detections"), &token)
                .json(&items)
                .send()
        };
        let response = ingest(vec![
            item("2026-11-20T11:00:00Z"),
            item("0001-01-01T00:00:00Z"),
            item("2016-11-01T00:00:00Z"),
            item("2026-11-20T12:10:00Z"),
            item("2017-01-01T00:00:00Z"),
        ])
        .await
        .expect("ingest");
        let body = expect_problem(response, 422).await;
        let fields = crate::common::problem_fields(&body);
        assert_eq!(
            fields,
            ["[1].detected_at", "[2].detected_at", "[3].detected_at"],
            "{backend:?}: {body}"
        );
        // Nothing of the refused batch was stored; the in-window items alone go in.
        let response = ingest(vec![item("2026-11-20T11:00:00Z"), item("2017-01-01T00:00:00Z")])
            .await
            .expect("ingest");
        assert_eq!(response.status(), 200, "{backend:?}: {:?}", response.text().await);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_window_is_configurable() {
    for backend in backends() {
        let app = TestApp::start_with(
            backend,
            &[
                ("CAMET_INGEST_HORIZON_DAYS", "30"),
                ("CAMET_INGEST_MAX_FUTURE_SECS", "0"),
            ],
        )
        .await;
        let (token, line_id, input, product) = small_plant(&app, "Window").await;
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .expect("now")
            .to_utc();
        app.state.clock.pin(now);
        let item = |at: &str| json!({"detected_at": at, "area_id": input, "product_id": product});
        let response = app
            .authed(Method::POST, &format!("/api/v1/lines/{line_id}/detections"), &token)
            .json(&json!([
                item("2026-10-20T11:59:59Z"),
                item("2026-10-21T12:00:00Z"),
                item("2026-11-20T12:00:01Z")
            ]))
            .send()
            .await
            .expect("ingest");
        let body = expect_problem(response, 422).await;
        let fields = crate::common::problem_fields(&body);
        assert_eq!(fields, ["[0].detected_at", "[2].detected_at"], "{backend:?}: {body}");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_types_are_strict_in_request_bodies() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let (token, line_id, input, product) = small_plant(&app, "Strict").await;
        let post = |path: String, body: Value| app.authed(Method::POST, &path, &token).json(&body).send();
        let cases = [
            (
                "/api/v1/production/lines".to_owned(),
                json!({"line_name": 123, "line_code": "L9"}),
                "line_name",
            ),
            (
                "/api/v1/production/lines".to_owned(),
                json!({"line_name": "L", "line_code": "L9", "is_active": "true"}),
                "is_active",
            ),
            (
                "/api/v1/production/products".to_owned(),
                json!({"product_name": "P", "product_code": "P9", "product_color": true}),
                "product_color",
            ),
            (
                format!("/api/v1/lines/{line_id}/detections"),
                json!([{"detected_at": 1_763_640_000, "area_id": input, "product_id": product}]),
                "[0].detected_at",
            ),
        ];
        for (path, body, field) in cases {
            let response = post(path.clone(), body.clone()).await.expect("post");
            let status = response.status().as_u16();
            let text = response.text().await.expect("body");
            assert_eq!(status, 422, "{backend:?} {path} {body}: {text}");
            let problem: Value = serde_json::from_str(&text).expect("json");
            assert_eq!(problem["errors"][0]["field"], field, "{backend:?}: {problem}");
        }
        // Nothing was stored by the refused bodies.
        let lines: Value = app
            .authed(Method::GET, "/api/v1/production/lines", &token)
            .send()
            .await
            .expect("lines")
            .json()
            .await
            .expect("json");
        assert!(!lines.to_string().contains("L9"), "{lines}");
        app.stop().await;
    }
}
