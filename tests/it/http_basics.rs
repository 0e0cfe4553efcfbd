//! Serving basics on both backends: health, readiness, problem+json for every
//! error, request ids, security headers, body limits, Swagger UI.

use crate::common::{TestApp, backends, expect_problem};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_liveness_and_readiness_names_each_database() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let live = app.get("/health").await;
        assert_eq!(live.status(), 200);
        let body: serde_json::Value = live.json().await.expect("json");
        assert_eq!(body["status"], "ok");

        camet::tenants::create(&app.state.databases, "Ready Plant", "UTC")
            .await
            .expect("tenant");
        let ready = app.get("/health/ready").await;
        assert_eq!(ready.status(), 200, "{backend:?}");
        let body: serde_json::Value = ready.json().await.expect("json");
        assert_eq!(body["checks"]["global_database"], "ok");
        assert_eq!(body["checks"]["tenant_database_1"], "ok");
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_wrong_methods_are_problem_json() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let body = expect_problem(app.get("/api/v1/nothing-here").await, 404).await;
        assert_eq!(body["type"], "urn:camet:problem:not-found");
        let wrong_method = app.client.post(app.url("/health")).send().await.expect("request");
        let body = expect_problem(wrong_method, 405).await;
        assert!(body["request_id"].is_string());
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_when_plain_and_generated_otherwise() {
    let app = TestApp::start(crate::common::Backend::Sqlite).await;
    let echoed = app
        .client
        .get(app.url("/health"))
        .header("x-request-id", "erp-pull-42")
        .send()
        .await
        .expect("request");
    assert_eq!(echoed.headers()["x-request-id"], "erp-pull-42");

    let hostile = app
        .client
        .get(app.url("/nope"))
        .header("x-request-id", "<script>alert(1)</script>")
        .send()
        .await
        .expect("request");
    let generated = hostile.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    assert_ne!(generated, "<script>alert(1)</script>");
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let body = expect_problem(hostile, 404).await;
    assert_eq!(body["request_id"], generated.as_str(), "the problem quotes the same id");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::start(crate::common::Backend::Sqlite).await;
    for path in ["/health", "/nope", "/docs/", "/openapi.json"] {
        let response = app.get(path).await;
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        let csp = headers["content-security-policy"].to_str().expect("ascii");
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert!(headers.contains_key("x-request-id"), "{path}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_one_mebibyte_are_refused_with_413() {
    let app = TestApp::start(crate::common::Backend::Sqlite).await;
    let big = vec![b'a'; 1024 * 1024 + 1];
    let declared = app
        .client
        .post(app.url("/health"))
        .body(big.clone())
        .send()
        .await
        .expect("request");
    let body = expect_problem(declared, 413).await;
    assert!(body["detail"].as_str().unwrap_or_default().contains("limit"));

    // A chunked body has no Content-Length to trust: it is measured while read.
    let stream = futures::stream::iter(
        big.chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let chunked = app
        .client
        .post(app.url("/health"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .expect("request");
    expect_problem(chunked, 413).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_is_served_at_docs_and_points_at_this_servers_document() {
    let app = TestApp::start(crate::common::Backend::Sqlite).await;
    let redirect = app.get("/docs").await;
    assert!(redirect.status().is_redirection());
    assert_eq!(redirect.headers()["location"], "/docs/");

    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "Swagger UI page");

    let initializer = app.get("/docs/swagger-initializer.js").await.text().await.expect("js");
    assert!(initializer.contains("\"url\": \"/openapi.json\""), "{initializer}");
    assert!(initializer.contains("\"tryItOutEnabled\": true"));

    for asset in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        assert_eq!(app.get(&format!("/docs/{asset}")).await.status(), 200, "{asset}");
    }
    expect_problem(app.get("/docs/missing.js").await, 404).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_only_configured_origins_and_hsts_is_sent_when_configured() {
    let app = crate::common::TestApp::start_with(
        crate::common::Backend::Sqlite,
        &[
            ("CAMET_CORS_ORIGINS", "https://dash.example.com"),
            ("CAMET_HSTS", "true"),
        ],
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("https://dash.example.com").await.expect("preflight");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://dash.example.com"
    );
    let refused = preflight("https://evil.example.net").await.expect("preflight");
    assert!(!refused.headers().contains_key("access-control-allow-origin"));
    let health = app.get("/health").await;
    assert!(
        health.headers()["strict-transport-security"]
            .to_str()
            .unwrap_or_default()
            .contains("max-age=")
    );
    app.stop().await;

    // Without configuration: no CORS grant, no HSTS.
    let plain = crate::common::TestApp::start(crate::common::Backend::Sqlite).await;
    let response = plain
        .client
        .get(plain.url("/health"))
        .header("origin", "https://dash.example.com")
        .send()
        .await
        .expect("request");
    assert!(!response.headers().contains_key("access-control-allow-origin"));
    assert!(!response.headers().contains_key("strict-transport-security"));
    plain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_template_in_prometheus_format() {
    let app = crate::common::TestApp::start(crate::common::Backend::Sqlite).await;
    assert_eq!(app.get("/health").await.status(), 200);
    assert_eq!(app.get("/api/v1/production/lines/99999").await.status(), 401);
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.expect("text");
    assert!(
        text.contains(r#"camet_http_requests_total{method="GET",route="/health",status="2xx"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/v1/production/lines/{line_id}",status="4xx"} 1"#),
        "{text}"
    );
    assert!(!text.contains("99999"), "paths never become labels");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_an_unsupported_content_type_are_415_problems() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let fixture = app.tenant_fixture("Media Types").await;
        let login = app.url("/api/v1/auth/login");
        let form = app
            .client
            .post(&login)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("username=media_types_admin&password=x")
            .send()
            .await
            .expect("request");
        let body = expect_problem(form, 415).await;
        assert_eq!(body["type"], "urn:camet:problem:unsupported-media-type", "{backend:?}");
        assert!(
            body["detail"].as_str().unwrap_or_default().contains("Content-Type"),
            "{body}"
        );

        let unlabelled = app
            .client
            .post(&login)
            .body(r#"{"username": "a", "password": "b"}"#)
            .send()
            .await
            .expect("request");
        expect_problem(unlabelled, 415).await;

        // Authenticated operations too, and XML is no JSON.
        let xml = app
            .authed(reqwest::Method::POST, "/api/v1/metrics/oee", &fixture.admin.1)
            .header("content-type", "application/xml")
            .body("<kpi/>")
            .send()
            .await
            .expect("request");
        expect_problem(xml, 415).await;

        // JSON with a charset is JSON; malformed JSON stays a 400.
        let charset = app
            .client
            .post(&login)
            .header("content-type", "application/json; charset=utf-8")
            .body(r#"{"username": "media_types_admin", "password": "Harbour-lights-42"}"#)
            .send()
            .await
            .expect("request");
        assert_eq!(charset.status(), 200, "{backend:?}");
        let broken = app
            .client
            .post(&login)
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .expect("request");
        expect_problem(broken, 400).await;
        // Well-formed JSON without a required field is a 422 naming it.
        let missing = app
            .client
            .post(&login)
            .header("content-type", "application/json")
            .body(r#"{"username": "media_types_admin"}"#)
            .send()
            .await
            .expect("request");
        let problem = expect_problem(missing, 422).await;
        assert_eq!(
            problem["errors"],
            serde_json::json!([{"field": "password", "message": "is required"}]),
            "{backend:?}"
        );
        app.stop().await;
    }
}

/// The members of a `RateLimit-Policy` or `RateLimit` header (a structured
/// field list such as `"client";q=3;w=60, "address";q=50;w=60`): name →
/// parameters.
fn rate_limit_members(
    response: &reqwest::Response,
    header: &str,
) -> std::collections::BTreeMap<String, Vec<(String, u64)>> {
    let text = response
        .headers()
        .get(header)
        .unwrap_or_else(|| panic!("{header} on {}", response.url()))
        .to_str()
        .expect("ascii");
    text.split(',')
        .map(|member| {
            let mut parts = member.trim().split(';');
            let name = parts.next().expect("name").trim_matches('"').to_owned();
            let parameters = parts
                .map(|p| {
                    let (k, v) = p.split_once('=').expect("key=value");
                    (k.to_owned(), v.parse().expect("integer"))
                })
                .collect();
            (name, parameters)
        })
        .collect()
}

fn parameter(members: &std::collections::BTreeMap<String, Vec<(String, u64)>>, name: &str, key: &str) -> u64 {
    members[name]
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{name} has no {key}: {members:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limited_routes_carry_rate_limit_headers_and_a_429_says_what_ran_out() {
    for backend in backends() {
        let app = TestApp::start_with(
            backend,
            &[
                ("CAMET_RATE_LIMIT_PER_MINUTE", "3"),
                ("CAMET_LOGIN_RATE_LIMIT_PER_MINUTE", "2"),
                ("CAMET_IP_RATE_LIMIT_PER_MINUTE", "500"),
            ],
        )
        .await;
        // Logs in each fixture user once (one login attempt each).
        let fixture = app.tenant_fixture("Quota Works").await;

        // Health probes are not limited, so they say nothing.
        let health = app.get("/health").await;
        assert!(!health.headers().contains_key("ratelimit"), "{backend:?}");
        assert!(!health.headers().contains_key("ratelimit-policy"));

        // 3 per minute per user: r counts down 2, 1, 0; then a 429.
        for expected in [2, 1, 0] {
            let me = app
                .authed(reqwest::Method::GET, "/api/v1/auth/me", &fixture.viewer.1)
                .send()
                .await
                .expect("request");
            assert_eq!(me.status(), 200);
            let policy = rate_limit_members(&me, "ratelimit-policy");
            assert_eq!(parameter(&policy, "client", "q"), 3);
            assert_eq!(parameter(&policy, "client", "w"), 60);
            assert_eq!(parameter(&policy, "address", "q"), 500);
            let state = rate_limit_members(&me, "ratelimit");
            assert_eq!(parameter(&state, "client", "r"), expected, "{backend:?}");
            // The quota is whole again at most one window after the last request.
            let reset = parameter(&state, "client", "t");
            assert!((1..=60).contains(&reset), "t = {reset}");
        }
        let refused = app
            .authed(reqwest::Method::GET, "/api/v1/auth/me", &fixture.viewer.1)
            .send()
            .await
            .expect("request");
        assert_eq!(refused.status(), 429, "{backend:?}");
        let retry_after: u64 = refused.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        let state = rate_limit_members(&refused, "ratelimit");
        assert_eq!(parameter(&state, "client", "r"), 0);
        assert!(
            parameter(&state, "client", "t") >= retry_after,
            "the whole quota is back no sooner than the next request"
        );
        assert_eq!(
            parameter(&rate_limit_members(&refused, "ratelimit-policy"), "client", "q"),
            3
        );
        expect_problem(refused, 429).await;

        // Login: 2 per minute per (address, username); the fixture used one.
        let second = app.login("quota_works_admin", crate::common::PASSWORD).await;
        assert_eq!(second.status(), 200);
        let state = rate_limit_members(&second, "ratelimit");
        assert_eq!(parameter(&state, "login", "r"), 0, "{backend:?}");
        assert_eq!(
            parameter(&rate_limit_members(&second, "ratelimit-policy"), "login", "q"),
            2
        );
        let third = app.login("quota_works_admin", crate::common::PASSWORD).await;
        assert_eq!(third.status(), 429);
        assert!(third.headers().contains_key("retry-after"));
        assert_eq!(parameter(&rate_limit_members(&third, "ratelimit"), "login", "r"), 0);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_configured_origins_a_preflight_is_405_with_allow_as_the_readme_says() {
    let app = TestApp::start(crate::common::Backend::Sqlite).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/tenant"))
        .header("origin", "https://dash.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.headers()["allow"], "GET, HEAD");
    assert!(!preflight.headers().contains_key("access-control-allow-origin"));
    expect_problem(preflight, 405).await;
    app.stop().await;
}
