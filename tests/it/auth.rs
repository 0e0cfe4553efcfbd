//! Authentication on both backends: login, identical failures, refresh
//! rotation and reuse detection, logout, idle timeout, session cap, lockout,
//! rate limits, hostile tokens and inputs, API keys.

use crate::common::{Backend, PASSWORD, TestApp, backends, expect_problem};
use reqwest::Method;

fn b64(value: &serde_json::Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_returns_tokens_and_the_user_and_me_describes_the_caller() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let tenant = camet::tenants::create(&app.state.databases, "Plant", "UTC")
            .await
            .expect("tenant");
        app.create_user(tenant, "ana", camet::auth::roles::Role::Manager).await;
        let body = app.login_ok("ana").await;
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["user"]["username"], "ana");
        assert_eq!(body["user"]["role"], "manager");
        assert_eq!(body["user"]["tenant_id"], tenant);
        assert!(body["user"].get("password_hash").is_none());
        let token = body["access_token"].as_str().expect("token");
        let me: serde_json::Value = app
            .authed(Method::GET, "/api/v1/auth/me", token)
            .send()
            .await
            .expect("me")
            .json()
            .await
            .expect("json");
        assert_eq!(me["username"], "ana");
        assert!(
            me["permissions"]
                .as_array()
                .expect("rights")
                .contains(&serde_json::json!("manage_plant"))
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_and_wrong_password_get_the_identical_answer() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let tenant = camet::tenants::create(&app.state.databases, "Plant", "UTC")
            .await
            .expect("tenant");
        app.create_user(tenant, "ana", camet::auth::roles::Role::Viewer).await;
        let mut bodies = Vec::new();
        for (user, password) in [
            ("ana", "Wrong-password-1"),
            ("nobody", "Wrong-password-1"),
            ("admin' OR '1'='1", "x' OR 1=1 --"),
        ] {
            let mut body = expect_problem(app.login(user, password).await, 401).await;
            body.as_object_mut().expect("object").remove("request_id");
            bodies.push(body);
        }
        assert_eq!(bodies[0], bodies[1], "unknown user vs wrong password");
        assert_eq!(bodies[0], bodies[2], "SQL-looking input is just a wrong login");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_a_replayed_refresh_token_revokes_the_session() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let tenant = camet::tenants::create(&app.state.databases, "Plant", "UTC")
            .await
            .expect("tenant");
        app.create_user(tenant, "ana", camet::auth::roles::Role::Viewer).await;
        let first = app.login_ok("ana").await;
        let refresh = |token: &str| {
            app.client
                .post(app.url("/api/v1/auth/refresh"))
                .json(&serde_json::json!({"refresh_token": token}))
                .send()
        };
        let second: serde_json::Value = refresh(first["refresh_token"].as_str().expect("rt"))
            .await
            .expect("refresh")
            .json()
            .await
            .expect("json");
        let new_access = second["access_token"].as_str().expect("new access").to_owned();
        assert_ne!(second["refresh_token"], first["refresh_token"], "rotated");
        assert_eq!(
            app.authed(Method::GET, "/api/v1/auth/me", &new_access)
                .send()
                .await
                .expect("me")
                .status(),
            200
        );

        // Replaying the used token: refused, and the whole session dies.
        let replay = refresh(first["refresh_token"].as_str().expect("rt"))
            .await
            .expect("replay");
        let body = expect_problem(replay, 401).await;
        assert!(body["detail"].as_str().unwrap_or_default().contains("already used"));
        expect_problem(
            app.authed(Method::GET, "/api/v1/auth/me", &new_access)
                .send()
                .await
                .expect("me"),
            401,
        )
        .await;
        expect_problem(
            refresh(second["refresh_token"].as_str().expect("rt"))
                .await
                .expect("after revoke"),
            401,
        )
        .await;
        expect_problem(refresh("made-up-token").await.expect("unknown"), 401).await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_kills_the_access_token_at_once() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let tenant = camet::tenants::create(&app.state.databases, "Plant", "UTC")
            .await
            .expect("tenant");
        app.create_user(tenant, "ana", camet::auth::roles::Role::Viewer).await;
        let tokens = app.login_ok("ana").await;
        let access = tokens["access_token"].as_str().expect("token");
        let out = app
            .authed(Method::POST, "/api/v1/auth/logout", access)
            .send()
            .await
            .expect("logout");
        assert_eq!(out.status(), 204);
        expect_problem(
            app.authed(Method::GET, "/api/v1/auth/me", access)
                .send()
                .await
                .expect("me"),
            401,
        )
        .await;
        let refresh = app
            .client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&serde_json::json!({"refresh_token": tokens["refresh_token"]}))
            .send()
            .await
            .expect("refresh");
        expect_problem(refresh, 401).await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_refused() {
    for backend in backends() {
        // Time is the server's pinned clock, not a sleep: log in, use the
        // session just inside the idle timeout, then stay idle just past it
        // (600 s in all, inside the access token's 15 minutes).
        let app = TestApp::start_with(backend, &[("CAMET_SESSION_IDLE_TIMEOUT_SECS", "300")]).await;
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-16T08:00:00Z")
            .expect("instant")
            .to_utc();
        app.state.clock.pin(t0);
        let tenant = camet::tenants::create(&app.state.databases, "Plant", "UTC")
            .await
            .expect("tenant");
        app.create_user(tenant, "ana", camet::auth::roles::Role::Viewer).await;
        let access = app.login_ok("ana").await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let me = || app.authed(Method::GET, "/api/v1/auth/me", &access).send();
        app.state.clock.pin(t0 + chrono::Duration::seconds(299));
        assert_eq!(
            me().await.expect("me").status(),
            200,
            "{backend:?}: 299 s idle is within 300 s"
        );
        app.state.clock.pin(t0 + chrono::Duration::seconds(299 + 301));
        let body = expect_problem(me().await.expect("me"), 401).await;
        assert!(
            body["detail"].as_str().unwrap_or_default().contains("inactivity"),
            "{backend:?}: {body}"
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_session_cap_the_oldest_session_is_closed() {
    for backend in backends() {
        let app = TestApp::start_with(backend, &[("CAMET_MAX_SESSIONS_PER_USER", "2")]).await;
        let tenant = camet::tenants::create(&app.state.databases, "Plant", "UTC")
            .await
            .expect("tenant");
        app.create_user(tenant, "ana", camet::auth::roles::Role::Viewer).await;
        let mut tokens = Vec::new();
        for _ in 0..3 {
            tokens.push(
                app.login_ok("ana").await["access_token"]
                    .as_str()
                    .expect("token")
                    .to_owned(),
            );
        }
        let mut statuses = Vec::new();
        for token in &tokens {
            statuses.push(
                app.authed(Method::GET, "/api/v1/auth/me", token)
                    .send()
                    .await
                    .expect("me")
                    .status()
                    .as_u16(),
            );
        }
        assert_eq!(statuses, [401, 200, 200], "the oldest session was closed");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_account_and_the_lockout_is_audited() {
    for backend in backends() {
        let app = TestApp::start_with(
            backend,
            &[("CAMET_LOCKOUT_THRESHOLD", "3"), ("CAMET_LOCKOUT_SECS", "600")],
        )
        .await;
        let fixture = app.tenant_fixture("Lock").await;
        for _ in 0..3 {
            expect_problem(app.login("lock_viewer", "Wrong-password-1").await, 401).await;
        }
        // Locked: even the right password is refused, with the same answer.
        let body = expect_problem(app.login("lock_viewer", PASSWORD).await, 401).await;
        assert_eq!(body["detail"], "invalid username or password");
        let audit: serde_json::Value = app
            .authed(Method::GET, "/api/v1/audit?action=account_locked", &fixture.admin.1)
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("json");
        let items = audit["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{audit}");
        assert_eq!(items[0]["entity_id"], fixture.viewer.0.to_string());
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_are_limited_per_ip_and_username_with_retry_after() {
    let app = TestApp::start_with(Backend::Sqlite, &[("CAMET_LOGIN_RATE_LIMIT_PER_MINUTE", "5")]).await;
    for _ in 0..5 {
        expect_problem(app.login("victim", "Wrong-password-1").await, 401).await;
    }
    let limited = app.login("victim", "Wrong-password-1").await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1);
    expect_problem(limited, 429).await;
    // Another username from the same IP is a different bucket.
    expect_problem(app.login("someone-else", "Wrong-password-1").await, 401).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_rate_limited_per_user_and_per_ip_with_retry_after() {
    // The per-user quota (3) trips first; the address's quota (8, counted on every request since
    // credentials no longer exempt a request from it) trips once anonymous requests add up.
    let app = TestApp::start_with(
        Backend::Sqlite,
        &[
            ("CAMET_RATE_LIMIT_PER_MINUTE", "3"),
            ("CAMET_IP_RATE_LIMIT_PER_MINUTE", "8"),
        ],
    )
    .await;
    let tenant = camet::tenants::create(&app.state.databases, "Plant", "UTC")
        .await
        .expect("tenant");
    app.create_user(tenant, "ana", camet::auth::roles::Role::Viewer).await;
    let access = app.login_ok("ana").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    for _ in 0..3 {
        assert_eq!(
            app.authed(Method::GET, "/api/v1/auth/me", &access)
                .send()
                .await
                .expect("me")
                .status(),
            200
        );
    }
    let limited = app
        .authed(Method::GET, "/api/v1/auth/me", &access)
        .send()
        .await
        .expect("me");
    assert!(limited.headers().contains_key("retry-after"));
    expect_problem(limited, 429).await;

    // Every request counts against the client IP's bucket (1 login + 4 authenticated above).
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.get("/api/v1/nothing").await.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Health probes are never limited.
    assert_eq!(app.get("/health").await.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_expired_and_alg_none_tokens_are_refused() {
    let app = TestApp::start(Backend::Sqlite).await;
    let tenant = camet::tenants::create(&app.state.databases, "Plant", "UTC")
        .await
        .expect("tenant");
    app.create_user(tenant, "ana", camet::auth::roles::Role::Viewer).await;
    let access = app.login_ok("ana").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let parts: Vec<&str> = access.split('.').collect();

    let claims = serde_json::json!({"sub": 1, "tid": tenant, "sid": 1, "role": "admin", "iat": 0, "exp": 4_000_000_000i64, "jti": "x"});
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    let none = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(&claims)
    );
    let expired_claims =
        serde_json::json!({"sub": 1, "tid": tenant, "sid": 1, "role": "viewer", "iat": 0, "exp": 1_000, "jti": "y"});
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &expired_claims,
        &jsonwebtoken::EncodingKey::from_secret(crate::common::TEST_SECRET.as_bytes()),
    )
    .expect("encode");
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(crate::common::TEST_SECRET.as_bytes()),
    )
    .expect("encode");
    for (name, token) in [
        ("tampered", tampered),
        ("alg none", none),
        ("expired", expired),
        ("HS512", hs512),
        ("garbage", "abc".into()),
    ] {
        let response = app
            .authed(Method::GET, "/api/v1/auth/me", &token)
            .send()
            .await
            .expect("me");
        expect_problem(response, 401).await;
        let _ = name;
    }
    let no_credentials = expect_problem(app.get("/api/v1/auth/me").await, 401).await;
    assert!(no_credentials["detail"].as_str().unwrap_or_default().contains("Bearer"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversized_and_hostile_inputs_are_refused_cleanly() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let malformed = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body("{\"username\": \"ana\",")
            .send()
            .await
            .expect("request");
        let body = expect_problem(malformed, 400).await;
        assert!(body["detail"].as_str().unwrap_or_default().contains("EOF"), "{body}");

        let wrong_type = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": 42, "password": []}))
            .send()
            .await
            .expect("request");
        // Wrong JSON types are a 422 naming each field (strict types, issue 11).
        let body = expect_problem(wrong_type, 422).await;
        assert_eq!(body["errors"][0]["field"], "password", "{body}");
        assert_eq!(body["errors"][1]["field"], "username", "{body}");

        let long_name = "a".repeat(101);
        let body = expect_problem(app.login(&long_name, "x").await, 422).await;
        assert_eq!(body["errors"][0]["field"], "username");

        let nul = expect_problem(app.login("ana\u{0000}'; DROP TABLE app_user; --", "x").await, 401).await;
        assert_eq!(nul["detail"], "invalid username or password");
        // The table is still there: a real login still works.
        let tenant = camet::tenants::create(&app.state.databases, "Plant", "UTC")
            .await
            .expect("tenant");
        app.create_user(tenant, "ana", camet::auth::roles::Role::Viewer).await;
        app.login_ok("ana").await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_authenticate_with_their_role_and_quota_and_stop_when_revoked() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let fixture = app.tenant_fixture("Keys").await;
        let created = app
            .authed(Method::POST, "/api/v1/api-keys", &fixture.admin.1)
            .json(&serde_json::json!({"name": "ERP pull", "role": "viewer", "rate_limit_per_minute": 2}))
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), 201);
        let created: serde_json::Value = created.json().await.expect("json");
        let key = created["key"].as_str().expect("key").to_owned();
        assert!(key.starts_with("cmt_"));
        let key_id = created["api_key"]["api_key_id"].as_i64().expect("id");

        let me = |key: String| {
            let request = app.client.get(app.url("/api/v1/auth/me")).header("x-api-key", key);
            async move { request.send().await.expect("me") }
        };
        let first = me(key.clone()).await;
        assert_eq!(first.status(), 200);
        let body: serde_json::Value = first.json().await.expect("json");
        assert_eq!(body["role"], "viewer");
        assert_eq!(body["api_key_id"], key_id);
        assert_eq!(body["tenant_id"], fixture.tenant_id);
        assert_eq!(me(key.clone()).await.status(), 200);
        expect_problem(me(key.clone()).await, 429).await;

        let listed: serde_json::Value = app
            .authed(Method::GET, "/api/v1/api-keys", &fixture.admin.1)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        assert!(listed.to_string().find(&key).is_none(), "the key is never listed");
        assert!(listed[0]["last_used_at"].is_string());

        let revoked = app
            .authed(Method::DELETE, &format!("/api/v1/api-keys/{key_id}"), &fixture.admin.1)
            .send()
            .await
            .expect("revoke");
        assert_eq!(revoked.status(), 204);
        expect_problem(me(key).await, 401).await;
        expect_problem(me("cmt_forged".into()).await, 401).await;
        app.stop().await;
    }
}
