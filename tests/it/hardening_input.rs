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
