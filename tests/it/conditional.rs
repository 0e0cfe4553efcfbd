//! Conditional answers (issue 13, item 7): a KPI answer whose whole range
//! lies before the data watermark carries an `ETag` and `Cache-Control:
//! private, max-age`; `If-None-Match` with that tag gives a 304 without a
//! body; a late detection changes the tag; an answer reaching past the
//! watermark has none.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestApp, backends, known_day_detections};

const DAY: &str = "start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z";

struct Day {
    token: String,
    line_id: i64,
    input: i64,
    output: i64,
    product: i64,
}

async fn known_day(app: &TestApp) -> Day {
    let product = |name: &str, code: &str| json!({"product_name": name, "product_code": code, "production_std": 100, "product_weight": "2.5"});
    let plant = app
        .line_plant(
            "Conditional",
            json!({"line_name": "K", "line_code": "K1", "downtime_threshold": 300}),
            &[product("A", "A"), product("B", "B")],
            &[json!({"shift_name": "Mañana", "days_implemented": ["Monday"], "start_time": "08:00", "end_time": "12:00", "is_overnight": false})],
        )
        .await;
    let token = plant.token();
    // A new line's first detections set its watermark at now: the day is settled.
    app.post_ok(
        &token,
        &format!("/api/v1/lines/{}/detections", plant.line_id),
        known_day_detections(plant.input, plant.output, plant.products[0], plant.products[1]),
    )
    .await;
    Day {
        token,
        line_id: plant.line_id,
        input: plant.input,
        output: plant.output,
        product: plant.products[0],
    }
}

async fn get(app: &TestApp, token: &str, path: &str, if_none_match: Option<&str>) -> reqwest::Response {
    let mut request = app.authed(Method::GET, path, token);
    if let Some(tag) = if_none_match {
        request = request.header("If-None-Match", tag);
    }
    request.send().await.expect("request")
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The tag of a settled 200 answer, after checking its cache headers.
async fn settled_tag(app: &TestApp, token: &str, path: &str) -> (String, Value) {
    let response = get(app, token, path, None).await;
    assert_eq!(response.status(), 200, "{path}");
    let tag = header(&response, "etag").unwrap_or_else(|| panic!("{path}: a settled answer has an ETag"));
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("private, max-age=300"),
        "{path}"
    );
    let body = response.bytes().await.expect("body");
    (tag, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settled_answers_carry_an_etag_and_if_none_match_gives_a_304() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let day = known_day(&app).await;
        let paths = [
            format!("/api/v1/metrics/oee?line_id={}&{DAY}", day.line_id),
            format!("/api/v1/downtime?line_id={}&{DAY}", day.line_id),
            format!("/api/v1/downtime?line_id={}&{DAY}&format=csv", day.line_id),
            format!(
                "/api/v1/metrics/query?line_ids={}&{DAY}&dimensions=line,product",
                day.line_id
            ),
            format!(
                "/api/v1/metrics/query?line_ids={}&{DAY}&dimensions=line&format=csv",
                day.line_id
            ),
            format!("/api/v1/metrics/query?line_ids={}&{DAY}&format=xlsx", day.line_id),
        ];
        let mut tags = Vec::new();
        for path in &paths {
            let (tag, _) = settled_tag(&app, &day.token, path).await;
            let again = get(&app, &day.token, path, Some(&tag)).await;
            assert_eq!(again.status(), 304, "{backend:?} {path}: the client holds the answer");
            assert_eq!(header(&again, "etag").as_deref(), Some(tag.as_str()));
            assert!(again.bytes().await.expect("body").is_empty(), "a 304 has no body");
            let other = get(&app, &day.token, path, Some("W/\"not-this-one\"")).await;
            assert_eq!(other.status(), 200, "{path}: another tag is answered in full");
            tags.push(tag);
        }
        let distinct: std::collections::BTreeSet<&String> = tags.iter().collect();
        assert_eq!(
            distinct.len(),
            tags.len(),
            "each answer and format has its own tag: {tags:?}"
        );

        // The POST of the summary is conditional too.
        let summary = app
            .authed(Method::POST, "/api/v1/metrics/summary", &day.token)
            .json(&json!({"line_id": day.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"}))
            .send()
            .await
            .expect("summary");
        let tag = header(&summary, "etag").expect("the settled summary has an ETag");
        let held = app
            .authed(Method::POST, "/api/v1/metrics/summary", &day.token)
            .header("If-None-Match", &tag)
            .json(&json!({"line_id": day.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"}))
            .send()
            .await
            .expect("summary");
        assert_eq!(held.status(), 304);

        // A late detection inside the settled day changes what the answer
        // says, and so its tag: the old tag is answered in full.
        let oee_path = &paths[0];
        let (before, before_body) = settled_tag(&app, &day.token, oee_path).await;
        app.post_ok(
            &day.token,
            &format!("/api/v1/lines/{}/detections", day.line_id),
            json!([
                {"detected_at": "2026-11-16T09:00:00Z", "area_id": day.input, "product_id": day.product},
                {"detected_at": "2026-11-16T09:00:20Z", "area_id": day.output, "product_id": day.product}
            ]),
        )
        .await;
        let after = get(&app, &day.token, oee_path, Some(&before)).await;
        assert_eq!(
            after.status(),
            200,
            "{backend:?}: the late detection changed the answer"
        );
        assert_ne!(header(&after, "etag").as_deref(), Some(before.as_str()));
        let after_body: Value = after.json().await.expect("json");
        assert_ne!(after_body["good_units"], before_body["good_units"]);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_reaching_past_the_watermark_has_no_etag() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let day = known_day(&app).await;
        for path in [
            format!(
                "/api/v1/metrics/oee?line_id={}&start_date=2026-11-16T00:00:00Z&end_date=2026-12-31T00:00:00Z",
                day.line_id
            ),
            format!("/api/v1/metrics/query?line_ids={}&preset=today", day.line_id),
        ] {
            let response = get(&app, &day.token, &path, Some("*")).await;
            assert_eq!(
                response.status(),
                200,
                "{backend:?} {path}: never a 304 for an unsettled answer"
            );
            assert_eq!(header(&response, "etag"), None, "{path}");
            assert_eq!(
                header(&response, "cache-control").as_deref(),
                Some("no-store"),
                "{path}: the default of every answer"
            );
        }
        app.stop().await;
    }
}
