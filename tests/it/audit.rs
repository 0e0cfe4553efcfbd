//! The audit log on both backends: auth events and admin changes with old
//! and new values, filters and pagination, and atomicity (no audit row, no change).

use crate::common::{Backend, TestApp, backends, expect_problem};
use camet::with_conn;
use diesel_async::SimpleAsyncConnection;
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_record_old_and_new_values_and_auth_events_are_recorded() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Audit").await;
        expect_problem(app.login("audit_viewer", "Wrong-password-1").await, 401).await;
        let put = app
            .authed(Method::PUT, &format!("/api/v1/users/{}", f.viewer.0), &f.admin.1)
            .header("x-request-id", "change-42")
            .header("user-agent", "audit-test")
            .json(&serde_json::json!({"role": "manager"}))
            .send()
            .await
            .expect("put");
        assert_eq!(put.status(), 200);
        let page: serde_json::Value = app
            .authed(Method::GET, "/api/v1/audit?entity=user&action=user.update", &f.admin.1)
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("json");
        let item = &page["items"][0];
        assert_eq!(item["old_values"]["role"], "viewer");
        assert_eq!(item["new_values"]["role"], "manager");
        assert_eq!(item["user_id"], f.admin.0);
        assert_eq!(item["entity_id"], f.viewer.0.to_string());
        assert_eq!(item["request_id"], "change-42");
        assert_eq!(item["user_agent"], "audit-test");
        assert_eq!(item["ip"], "127.0.0.1");
        assert!(item["old_values"].get("password_hash").is_none());

        let all: serde_json::Value = app
            .authed(Method::GET, "/api/v1/audit?limit=500", &f.admin.1)
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("json");
        let actions: Vec<&str> = all["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|i| i["action"].as_str())
            .collect();
        for expected in ["login", "login_failed", "user.update"] {
            assert!(actions.contains(&expected), "{expected} in {actions:?}");
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_pages_follow_the_cursor_without_gaps_or_repeats() {
    let app = TestApp::start(Backend::Sqlite).await;
    let f = app.tenant_fixture("Pages").await;
    for i in 0..7 {
        let r = app
            .authed(Method::PUT, &format!("/api/v1/users/{}", f.viewer.0), &f.admin.1)
            .json(&serde_json::json!({"email": format!("v{i}@pages.cl")}))
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), 200);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let path = match cursor {
            Some(c) => format!("/api/v1/audit?action=user.update&limit=3&cursor={c}"),
            None => "/api/v1/audit?action=user.update&limit=3".to_owned(),
        };
        let page: serde_json::Value = app
            .authed(Method::GET, &path, &f.admin.1)
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("json");
        for item in page["items"].as_array().expect("items") {
            seen.push(item["audit_id"].as_i64().expect("id"));
        }
        match page["next_cursor"].as_i64() {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats: {seen:?}"
    );
    let bad = app
        .authed(
            Method::GET,
            "/api/v1/audit?start_date=2026-01-02T00:00:00Z&end_date=2026-01-01T00:00:00Z",
            &f.admin.1,
        )
        .send()
        .await
        .expect("audit");
    assert_eq!(expect_problem(bad, 422).await["errors"][0]["field"], "end_date");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_audit_row_cannot_be_written_is_not_committed() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Atomic").await;
        // Break the audit table underneath the running server.
        let mut conn = app.state.databases.global().get().await.expect("conn");
        with_conn!(&mut conn, |c| c
            .batch_execute("ALTER TABLE audit_log RENAME TO audit_log_gone")
            .await)
        .expect("rename");
        let put = app
            .authed(Method::PUT, &format!("/api/v1/users/{}", f.viewer.0), &f.admin.1)
            .json(&serde_json::json!({"role": "admin"}))
            .send()
            .await
            .expect("put");
        let body = expect_problem(put, 500).await;
        assert!(
            !body["detail"].as_str().unwrap_or_default().contains("audit_log"),
            "no SQL leaks: {body}"
        );
        with_conn!(&mut conn, |c| c
            .batch_execute("ALTER TABLE audit_log_gone RENAME TO audit_log")
            .await)
        .expect("restore");
        drop(conn);
        let user: serde_json::Value = app
            .authed(Method::GET, &format!("/api/v1/users/{}", f.viewer.0), &f.admin.1)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(
            user["role"], "viewer",
            "{backend:?}: the change was rolled back with its audit row"
        );
        app.stop().await;
    }
}
