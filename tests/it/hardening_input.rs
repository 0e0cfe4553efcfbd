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
