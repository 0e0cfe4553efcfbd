//! Rate limits shared by several instances through a real Redis
//! (`CAMET_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`): before,
//! each instance kept its own buckets, so two instances let a user make
//! twice the quota. Each test uses its own key prefix, so tests run in
//! parallel on one Redis.

use reqwest::Method;

use crate::common::{Backend, PASSWORD, TestApp, backends, skipped_without};

pub fn redis_url() -> String {
    std::env::var("CAMET_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned())
}

/// Whether the test Redis answers; without it a test is skipped loudly, and
/// fails in CI.
pub fn redis_or_skip(what: &str) -> bool {
    use std::io::{Read, Write};
    let address = redis_url()
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:6379")
        .to_owned();
    let answered = std::net::TcpStream::connect(&address).is_ok_and(|mut stream| {
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    });
    if !answered {
        skipped_without(
            "Redis",
            what,
            &format!("no Redis at {address}; set CAMET_TEST_REDIS_URL"),
        );
    }
    answered
}

/// Two servers on the same databases and the same Redis prefix.
pub async fn two_instances(backend: Backend, extra: &[(&str, &str)]) -> (TestApp, TestApp) {
    let prefix = format!("camet-test-{}", uuid::Uuid::new_v4().simple());
    let url = redis_url();
    let mut settings: Vec<(&str, &str)> = vec![
        ("CAMET_REDIS_URL", url.as_str()),
        ("CAMET_REDIS_PREFIX", prefix.as_str()),
    ];
    settings.extend_from_slice(extra);
    let first = TestApp::start_with(backend, &settings).await;
    let database_url = first.db.database_url.clone();
    let data_dir = first.db.dir.path().display().to_string();
    let mut shared = settings.clone();
    shared.push(("DATABASE_URL", database_url.as_str()));
    shared.push(("CAMET_DATA_DIR", data_dir.as_str()));
    let second = TestApp::start_with(backend, &shared).await;
    (first, second)
}

/// Sends `count` GETs of a cheap authenticated resource, alternating
/// between the instances; returns how many were accepted and the statuses.
async fn alternate(first: &TestApp, second: &TestApp, token: &str, count: usize) -> (usize, Vec<u16>) {
    let mut statuses = Vec::new();
    for i in 0..count {
        let app = if i % 2 == 0 { first } else { second };
        let response = app
            .authed(Method::GET, "/api/v1/auth/me", token)
            .send()
            .await
            .expect("request");
        statuses.push(response.status().as_u16());
    }
    (statuses.iter().filter(|s| **s == 200).count(), statuses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_with_one_redis_grant_a_user_the_quota_once_not_twice() {
    if !redis_or_skip("shared rate limits") {
        return;
    }
    for backend in backends() {
        let (first, second) = two_instances(backend, &[("CAMET_RATE_LIMIT_PER_MINUTE", "10")]).await;
        let fixture = first.tenant_fixture("Shared Limits").await;
        let token = fixture.viewer.1.clone();
        let (accepted, statuses) = alternate(&first, &second, &token, 30).await;
        // A burst of 10, refilled at one every 6 s: a slow run may see one more.
        assert!(
            (10..=11).contains(&accepted),
            "{backend:?}: {accepted} of 30 accepted across two instances with a quota of 10: {statuses:?}"
        );
        assert!(
            statuses.iter().skip(accepted).all(|s| *s == 429),
            "{backend:?}: once spent, both instances refuse: {statuses:?}"
        );
        // The quota state in the headers is the shared one.
        let refused = second
            .authed(Method::GET, "/api/v1/auth/me", &token)
            .send()
            .await
            .expect("request");
        assert_eq!(refused.status(), 429);
        let state = refused
            .headers()
            .get("ratelimit")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(state.contains("\"client\";r=0"), "{backend:?}: {state}");
        assert!(refused.headers().contains_key("retry-after"));
        second.stop().await;
        first.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_and_failed_authentications_are_counted_across_instances() {
    if !redis_or_skip("shared login limits") {
        return;
    }
    for backend in backends() {
        let (first, second) = two_instances(backend, &[("CAMET_LOGIN_RATE_LIMIT_PER_MINUTE", "5")]).await;
        let tenant_id = camet::tenants::create(&first.state.databases, "Logins", "UTC")
            .await
            .expect("tenant");
        first
            .create_user(tenant_id, "shared_login", camet::auth::roles::Role::Viewer)
            .await;
        // Five attempts per minute per (address, username), the contract
        // default (the harness raises it; set back here): three wrong passwords on one instance, two on the other,
        // then even the right password is refused on either.
        for (i, app) in [&first, &first, &first, &second, &second].into_iter().enumerate() {
            let status = app.login("shared_login", "wrong-password-1").await.status().as_u16();
            assert_eq!(status, 401, "{backend:?}: attempt {i}");
        }
        for app in [&first, &second] {
            let response = app.login("shared_login", PASSWORD).await;
            assert_eq!(
                response.status(),
                429,
                "{backend:?}: the sixth attempt, on any instance"
            );
        }
        second.stop().await;
        first.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_of_an_address_are_counted_across_instances() {
    if !redis_or_skip("shared failed-authentication limits") {
        return;
    }
    for backend in backends() {
        let (first, second) = two_instances(backend, &[("CAMET_AUTH_FAILURE_LIMIT_PER_MINUTE", "4")]).await;
        let fixture = first.tenant_fixture("Failures").await;
        // Four forged tokens, two per instance, use up the address's failures.
        for (i, app) in [&first, &second, &first, &second].into_iter().enumerate() {
            let status = app
                .authed(Method::GET, "/api/v1/auth/me", "forged.token.value")
                .send()
                .await
                .expect("request")
                .status()
                .as_u16();
            assert_eq!(status, 401, "{backend:?}: forged token {i}");
        }
        // Then a valid token is refused before it is looked at, on both.
        for app in [&first, &second] {
            let status = app
                .authed(Method::GET, "/api/v1/auth/me", &fixture.admin.1)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16();
            assert_eq!(status, 429, "{backend:?}");
        }
        second.stop().await;
        first.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_answering_redis_each_instance_still_limits_on_its_own() {
    for backend in backends() {
        // Nothing listens on port 1: every decision falls back to the
        // instance's own buckets, and no request fails for it.
        let app = TestApp::start_with(
            backend,
            &[
                ("CAMET_REDIS_URL", "redis://127.0.0.1:1"),
                ("CAMET_RATE_LIMIT_PER_MINUTE", "5"),
            ],
        )
        .await;
        let fixture = app.tenant_fixture("No Redis").await;
        let mut statuses = Vec::new();
        for _ in 0..8 {
            let response = app
                .authed(Method::GET, "/api/v1/auth/me", &fixture.viewer.1)
                .send()
                .await
                .expect("request");
            statuses.push(response.status().as_u16());
        }
        assert_eq!(statuses[..5], [200; 5], "{backend:?}: {statuses:?}");
        assert!(statuses[5..].iter().all(|s| *s == 429), "{backend:?}: {statuses:?}");
        app.stop().await;
    }
}

#[test]
fn a_redis_url_of_another_scheme_or_an_unsafe_prefix_is_refused_at_start() {
    let lookup = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    };
    for pairs in [
        &[("CAMET_REDIS_URL", "http://127.0.0.1:6379")][..],
        &[
            ("CAMET_REDIS_URL", "redis://127.0.0.1:6379"),
            ("CAMET_REDIS_PREFIX", "camet prod"),
        ][..],
    ] {
        let error = camet::config::Config::from_lookup(&lookup(pairs)).expect_err("refused");
        assert!(error.to_string().contains("CAMET_REDIS"), "{error}");
    }
}
