//! The users API on both backends: create (policy, duplicates), update,
//! deactivate (sessions end), password changes.

use crate::common::{PASSWORD, TestApp, backends, expect_problem};
use reqwest::Method;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_create_users_with_the_password_policy_and_unique_names() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Acme").await;
        let create = |body: serde_json::Value| app.authed(Method::POST, "/api/v1/users", &f.admin.1).json(&body).send();
        let created = create(serde_json::json!({"username": "luis", "email": "luis@acme.cl", "role": "viewer", "password": "Quarry-gate-77"}))
            .await
            .expect("create");
        assert_eq!(created.status(), 201);
        let user: serde_json::Value = created.json().await.expect("json");
        assert_eq!(user["tenant_id"], f.tenant_id);
        app.login_ok_with("luis", "Quarry-gate-77").await;

        for (password, rule) in [
            ("Ab1!", "10 characters"),
            ("password123", "common"),
            ("onlylowercaseletters", "two kinds"),
        ] {
            let weak = create(
                serde_json::json!({"username": "weak", "email": "w@acme.cl", "role": "viewer", "password": password}),
            )
            .await
            .expect("create");
            let body = expect_problem(weak, 422).await;
            assert_eq!(body["errors"][0]["field"], "password");
            assert!(
                body["errors"][0]["message"].as_str().unwrap_or_default().contains(rule),
                "{body}"
            );
        }
        let bad_email = create(serde_json::json!({"username": "mail", "email": "not-an-email", "role": "viewer", "password": "Quarry-gate-77"})).await.expect("create");
        assert_eq!(expect_problem(bad_email, 422).await["errors"][0]["field"], "email");
        let duplicate = create(serde_json::json!({"username": "luis", "email": "l2@acme.cl", "role": "viewer", "password": "Quarry-gate-77"})).await.expect("create");
        expect_problem(duplicate, 409).await;
        let bad_role = create(
            serde_json::json!({"username": "r", "email": "r@acme.cl", "role": "owner", "password": "Quarry-gate-77"}),
        )
        .await
        .expect("create");
        assert!(matches!(bad_role.status().as_u16(), 400 | 422));
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivating_a_user_ends_their_sessions_and_hides_them_from_lists() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Acme").await;
        let deleted = app
            .authed(Method::DELETE, &format!("/api/v1/users/{}", f.viewer.0), &f.admin.1)
            .send()
            .await
            .expect("delete");
        assert_eq!(deleted.status(), 204);
        expect_problem(
            app.authed(Method::GET, "/api/v1/auth/me", &f.viewer.1)
                .send()
                .await
                .expect("me"),
            401,
        )
        .await;
        expect_problem(app.login("acme_viewer", PASSWORD).await, 401).await;
        let list: serde_json::Value = app
            .authed(Method::GET, "/api/v1/users", &f.admin.1)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        assert_eq!(list["total"], 2);
        let all: serde_json::Value = app
            .authed(Method::GET, "/api/v1/users?include_inactive=true", &f.admin.1)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        assert_eq!(all["total"], 3);
        // An admin cannot lock themself out.
        let own = app
            .authed(Method::DELETE, &format!("/api/v1/users/{}", f.admin.0), &f.admin.1)
            .send()
            .await
            .expect("delete");
        expect_problem(own, 422).await;
        let demote = app
            .authed(Method::PUT, &format!("/api/v1/users/{}", f.admin.0), &f.admin.1)
            .json(&serde_json::json!({"role": "viewer"}))
            .send()
            .await
            .expect("put");
        // Changing one's own role is now refused outright (403, issue 11 item 2),
        // before the 422 that kept admins from demoting themselves.
        expect_problem(demote, 403).await;
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_changes_need_the_old_password_for_oneself_and_end_other_sessions() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Acme").await;
        let other_session = app.login_ok("acme_viewer").await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let path = format!("/api/v1/users/{}/password", f.viewer.0);
        let no_old = app
            .authed(Method::POST, &path, &f.viewer.1)
            .json(&serde_json::json!({"new_password": "Fresh-river-88"}))
            .send()
            .await
            .expect("post");
        assert_eq!(expect_problem(no_old, 422).await["errors"][0]["field"], "old_password");
        let wrong_old = app
            .authed(Method::POST, &path, &f.viewer.1)
            .json(&serde_json::json!({"old_password": "Nope-nope-123", "new_password": "Fresh-river-88"}))
            .send()
            .await
            .expect("post");
        expect_problem(wrong_old, 422).await;
        let weak = app
            .authed(Method::POST, &path, &f.viewer.1)
            .json(&serde_json::json!({"old_password": PASSWORD, "new_password": "short"}))
            .send()
            .await
            .expect("post");
        assert_eq!(expect_problem(weak, 422).await["errors"][0]["field"], "new_password");
        let ok = app
            .authed(Method::POST, &path, &f.viewer.1)
            .json(&serde_json::json!({"old_password": PASSWORD, "new_password": "Fresh-river-88"}))
            .send()
            .await
            .expect("post");
        assert_eq!(ok.status(), 204);
        assert_eq!(
            app.authed(Method::GET, "/api/v1/auth/me", &f.viewer.1)
                .send()
                .await
                .expect("me")
                .status(),
            200,
            "this session stays"
        );
        expect_problem(
            app.authed(Method::GET, "/api/v1/auth/me", &other_session)
                .send()
                .await
                .expect("me"),
            401,
        )
        .await;
        app.login_ok_with("acme_viewer", "Fresh-river-88").await;

        // A viewer cannot change someone else's; an admin can, without the old one.
        let others = format!("/api/v1/users/{}/password", f.manager.0);
        let denied = app
            .authed(Method::POST, &others, &f.viewer.1)
            .json(&serde_json::json!({"new_password": "Fresh-river-88"}))
            .send()
            .await
            .expect("post");
        expect_problem(denied, 403).await;
        let by_admin = app
            .authed(Method::POST, &others, &f.admin.1)
            .json(&serde_json::json!({"new_password": "Admin-set-pass-55"}))
            .send()
            .await
            .expect("post");
        assert_eq!(by_admin.status(), 204);
        expect_problem(
            app.authed(Method::GET, "/api/v1/auth/me", &f.manager.1)
                .send()
                .await
                .expect("me"),
            401,
        )
        .await;
        // The reset takes effect: the old password is refused, the new one logs in.
        expect_problem(app.login("acme_manager", PASSWORD).await, 401).await;
        let session = app.login_ok_with("acme_manager", "Admin-set-pass-55").await;
        assert_eq!(session["user"]["user_id"], f.manager.0, "{session}");
        app.stop().await;
    }
}
