//! Regression tests of the auth holes of issue 11, on both backends: the
//! session fork through concurrent refreshes, privilege escalation through API
//! keys and self-edits, unbounded login hashing, and usernames that revealed
//! other tenants.

use crate::common::{TestApp, backends, expect_problem};
use reqwest::Method;

/// Issue 11 item 1: N concurrent refreshes with one token give exactly one
/// new pair; the loser is treated as reuse, so the winner's chain dies too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_with_one_token_fork_no_session() {
    const N: usize = 20;
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let tenant = camet::tenants::create(&app.state.databases, "Fork", "UTC")
            .await
            .expect("tenant");
        app.create_user(tenant, "forker", camet::auth::roles::Role::Viewer)
            .await;
        let login = app.login_ok("forker").await;
        let token = login["refresh_token"].as_str().expect("rt").to_owned();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..N {
            let request = app
                .client
                .post(app.url("/api/v1/auth/refresh"))
                .json(&serde_json::json!({"refresh_token": token}));
            tasks.spawn(async move {
                let response = request.send().await.expect("refresh");
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.expect("json");
                (status, body)
            });
        }
        let mut winners = Vec::new();
        let mut losers = 0;
        while let Some(joined) = tasks.join_next().await {
            let (status, body) = joined.expect("task");
            match status {
                200 => winners.push(body),
                401 => losers += 1,
                other => panic!("{backend:?}: unexpected status {other}: {body}"),
            }
        }
        assert_eq!(winners.len(), 1, "{backend:?}: exactly one refresh wins");
        assert_eq!(losers, N - 1, "{backend:?}");
        // The losers count as reuse: the session is revoked, so the winner's
        // new pair no longer works either.
        let winner = &winners[0];
        let access = winner["access_token"].as_str().expect("access");
        expect_problem(
            app.authed(Method::GET, "/api/v1/auth/me", access)
                .send()
                .await
                .expect("me"),
            401,
        )
        .await;
        let next = app
            .client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&serde_json::json!({"refresh_token": winner["refresh_token"]}))
            .send()
            .await
            .expect("refresh");
        expect_problem(next, 401).await;
        let reuse_rows = audit_count(&app, "refresh_reuse_detected").await;
        assert!(reuse_rows >= 1, "{backend:?}: reuse audited ({reuse_rows})");
        app.stop().await;
    }
}

/// Number of audit rows with `action`.
async fn audit_count(app: &TestApp, action: &str) -> i64 {
    use camet::db::schema::global::audit_log;
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    let mut conn = app.state.databases.global().get().await.expect("conn");
    let action = action.to_owned();
    camet::with_conn!(&mut conn, |c| audit_log::table
        .filter(audit_log::action.eq(&action))
        .count()
        .get_result::<i64>(c)
        .await)
    .expect("count")
}
