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
