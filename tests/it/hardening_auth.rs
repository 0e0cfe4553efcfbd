//! Regression tests of the auth holes of issue 11, on both backends: the
//! session fork through concurrent refreshes, privilege escalation through API
//! keys and self-edits, unbounded login hashing, and usernames that revealed
//! other tenants.

use crate::common::{PASSWORD, TestApp, backends, expect_problem};
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

/// Issue 11 item 4: password hashes run in a bounded pool. With one slot and
/// no waiting, concurrent logins beyond the slot get a 503 with `Retry-After`
/// instead of each allocating the hash's memory; nothing else goes wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_logins_beyond_the_hashing_pool_get_503_with_retry_after() {
    const N: usize = 24;
    for backend in backends() {
        // 32 MiB per hash (slow enough to overlap) and a 32 MiB budget: one slot.
        let app = TestApp::start_with(
            backend,
            &[
                ("CAMET_ARGON2_MEMORY_KIB", "32768"),
                ("CAMET_ARGON2_ITERATIONS", "3"),
                ("CAMET_ARGON2_MAX_CONCURRENT_MEMORY_MIB", "32"),
                ("CAMET_ARGON2_QUEUE_WAIT_MS", "0"),
            ],
        )
        .await;
        assert_eq!(app.state.hash_pool.size(), 1);
        let tenant = camet::tenants::create(&app.state.databases, "Flood", "UTC")
            .await
            .expect("tenant");
        app.create_user(tenant, "flooded", camet::auth::roles::Role::Viewer)
            .await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..N {
            let password = if i % 2 == 0 { PASSWORD } else { "Wrong-password-1" };
            let request = app
                .client
                .post(app.url("/api/v1/auth/login"))
                .json(&serde_json::json!({"username": "flooded", "password": password}));
            tasks.spawn(async move { request.send().await.expect("login") });
        }
        let mut overloaded = 0;
        while let Some(joined) = tasks.join_next().await {
            let response = joined.expect("task");
            match response.status().as_u16() {
                200 | 401 => {}
                503 => {
                    overloaded += 1;
                    let retry = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    assert!(retry.is_some_and(|s| s >= 1), "{backend:?}: Retry-After {retry:?}");
                    let body = expect_problem(response, 503).await;
                    assert_eq!(body["type"], "urn:camet:problem:overloaded");
                }
                other => panic!("{backend:?}: unexpected status {other}"),
            }
        }
        assert!(overloaded > 0, "{backend:?}: some logins found the pool full");
        // The pool frees up: a login afterwards works.
        app.login_ok("flooded").await;
        app.stop().await;
    }
}

/// PUT /api/v1/users/{id} with `body` as `token`; returns the status.
async fn put_user(app: &TestApp, token: &str, user_id: i32, body: serde_json::Value) -> u16 {
    app.authed(Method::PUT, &format!("/api/v1/users/{user_id}"), token)
        .json(&body)
        .send()
        .await
        .expect("put")
        .status()
        .as_u16()
}

/// POST /api/v1/api-keys as `token` with `role`; returns the status and body.
async fn create_key(app: &TestApp, token: &str, role: &str) -> (u16, serde_json::Value) {
    let response = app
        .authed(Method::POST, "/api/v1/api-keys", token)
        .json(&serde_json::json!({"name": "escalation", "role": role}))
        .send()
        .await
        .expect("create key");
    (response.status().as_u16(), response.json().await.expect("json"))
}

/// GET /api/v1/auth/me with an API key: status and effective rights.
async fn key_me(app: &TestApp, key: &str) -> (u16, Vec<String>) {
    let response = app
        .client
        .get(app.url("/api/v1/auth/me"))
        .header("x-api-key", key)
        .send()
        .await
        .expect("me");
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("json");
    let rights = body["permissions"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    (status, rights)
}

fn new_user(name: &str, role: &str) -> serde_json::Value {
    serde_json::json!({"username": name, "email": format!("{name}@example.com"), "role": role, "password": "Quarry-gate-77"})
}

/// Issue 11 item 2, first reproduction: a manager granted `manage_api_keys`
/// created an admin key (201) and with it an admin user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_cannot_mint_a_key_above_their_own_rights() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Esc1").await;
        let grant = serde_json::json!({"permissions": {"grant": ["manage_api_keys"]}});
        assert_eq!(put_user(&app, &f.admin.1, f.manager.0, grant).await, 200);
        let (status, body) = create_key(&app, &f.manager.1, "admin").await;
        assert_eq!(status, 403, "{backend:?}: admin key from a manager: {body}");
        // A key within the manager's rights is fine, and cannot create users.
        let (status, body) = create_key(&app, &f.manager.1, "manager").await;
        assert_eq!(status, 201, "{backend:?}: {body}");
        let key = body["key"].as_str().expect("key");
        let created = app
            .client
            .post(app.url("/api/v1/users"))
            .header("x-api-key", key)
            .json(&new_user("escalated_admin", "admin"))
            .send()
            .await
            .expect("create user");
        expect_problem(created, 403).await;
        app.stop().await;
    }
}

/// Issue 11 item 2, second reproduction: an admin denied `manage_plant` minted
/// an admin key that was allowed what the admin was denied. Also: a key's
/// rights follow its creator at every use (deny, demotion, deactivation).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_rights_never_exceed_its_creators_current_rights() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Esc2").await;
        let second_admin = app
            .create_user(f.tenant_id, "esc2_admin2", camet::auth::roles::Role::Admin)
            .await;
        let second_token = app.login_ok("esc2_admin2").await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();

        // Denied at creation.
        let deny = serde_json::json!({"permissions": {"deny": ["manage_plant"]}});
        assert_eq!(put_user(&app, &f.admin.1, second_admin, deny).await, 200);
        let (status, body) = create_key(&app, &second_token, "admin").await;
        assert_eq!(status, 403, "{backend:?}: {body}");
        assert!(
            body["detail"].as_str().unwrap_or_default().contains("manage_plant"),
            "{body}"
        );

        // Denied at use: a key minted before the deny loses the right with its creator.
        let clear = serde_json::json!({"permissions": {"grant": [], "deny": []}});
        assert_eq!(put_user(&app, &f.admin.1, second_admin, clear).await, 200);
        let second_token = app.login_ok("esc2_admin2").await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let (status, body) = create_key(&app, &second_token, "admin").await;
        assert_eq!(status, 201, "{backend:?}: {body}");
        let key = body["key"].as_str().expect("key").to_owned();
        assert!(key_me(&app, &key).await.1.contains(&"manage_plant".to_owned()));
        let deny = serde_json::json!({"permissions": {"deny": ["manage_plant"]}});
        assert_eq!(put_user(&app, &f.admin.1, second_admin, deny).await, 200);
        let (status, rights) = key_me(&app, &key).await;
        assert_eq!(status, 200);
        assert!(!rights.contains(&"manage_plant".to_owned()), "{backend:?}: {rights:?}");
        let line = app
            .client
            .post(app.url("/api/v1/production/lines"))
            .header("x-api-key", &key)
            .json(&serde_json::json!({"line_name": "", "line_code": "x"}))
            .send()
            .await
            .expect("line");
        expect_problem(line, 403).await;

        // Demoted creator: the admin key now has a viewer's rights at most.
        assert_eq!(
            put_user(&app, &f.admin.1, second_admin, serde_json::json!({"role": "viewer"})).await,
            200
        );
        let (_, rights) = key_me(&app, &key).await;
        assert!(!rights.contains(&"manage_users".to_owned()), "{backend:?}: {rights:?}");
        assert!(
            rights.iter().all(|r| r == "read_data" || r == "run_dashboards"),
            "{rights:?}"
        );

        // Deactivated creator: the key stops working.
        let deleted = app
            .authed(Method::DELETE, &format!("/api/v1/users/{second_admin}"), &f.admin.1)
            .send()
            .await
            .expect("delete");
        assert_eq!(deleted.status(), 204);
        assert_eq!(key_me(&app, &key).await.0, 401, "{backend:?}");
        app.stop().await;
    }
}

/// Issue 11 item 2, third reproduction: a holder of `manage_users` lifted
/// their own deny or raised their own role through PUT /users/{self}; and
/// handing out (or taking over, by password) rights one does not hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_raises_their_own_rights_or_hands_out_rights_they_lack() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let f = app.tenant_fixture("Esc3").await;
        let grant = serde_json::json!({"permissions": {"grant": ["manage_users"], "deny": ["manage_plant"]}});
        assert_eq!(put_user(&app, &f.admin.1, f.manager.0, grant).await, 200);
        let manager_token = app.login_ok("esc3_manager").await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let me = f.manager.0;
        for body in [
            serde_json::json!({"role": "admin"}),
            serde_json::json!({"permissions": {"grant": ["manage_users"], "deny": []}}),
            serde_json::json!({"permissions": {"grant": ["manage_users", "read_audit"], "deny": ["manage_plant"]}}),
        ] {
            assert_eq!(
                put_user(&app, &manager_token, me, body.clone()).await,
                403,
                "{backend:?}: {body}"
            );
        }
        // An admin cannot lift their own deny either.
        let deny = serde_json::json!({"permissions": {"deny": ["read_audit"]}});
        assert_eq!(put_user(&app, &f.admin.1, f.admin.0, deny).await, 403, "{backend:?}");
        // Own e-mail still works.
        assert_eq!(
            put_user(&app, &manager_token, me, serde_json::json!({"email": "m@esc3.cl"})).await,
            200
        );

        // No creating an admin user, no promoting the viewer beyond oneself,
        // no taking over the admin by resetting their password.
        let created = app
            .authed(Method::POST, "/api/v1/users", &manager_token)
            .json(&new_user("esc3_new_admin", "admin"))
            .send()
            .await
            .expect("create");
        expect_problem(created, 403).await;
        let promote = serde_json::json!({"role": "manager"});
        assert_eq!(
            put_user(&app, &manager_token, f.viewer.0, promote).await,
            403,
            "{backend:?}"
        );
        let takeover = app
            .authed(
                Method::POST,
                &format!("/api/v1/users/{}/password", f.admin.0),
                &manager_token,
            )
            .json(&serde_json::json!({"new_password": "Taken-over-99"}))
            .send()
            .await
            .expect("password");
        expect_problem(takeover, 403).await;
        // Within their rights it works: a new viewer.
        let created = app
            .authed(Method::POST, "/api/v1/users", &manager_token)
            .json(&new_user("esc3_new_viewer", "viewer"))
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), 201, "{backend:?}");
        app.stop().await;
    }
}

/// Issue 11 item 8: usernames were unique across tenants, so creating a user
/// answered 409 "already taken" for a name of another tenant. Now they are
/// unique per tenant: the answer is the same as for any new name, and a name
/// held in two tenants logs in naming its tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_user_reveals_nothing_about_other_tenants() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let a = app.tenant_fixture("NamesA").await;
        let b = app.tenant_fixture("NamesB").await;
        let create = |token: &str, password: &str| {
            app.authed(Method::POST, "/api/v1/users", token)
                .json(&serde_json::json!({"username": "shared.name", "email": "s@example.com", "role": "viewer", "password": password}))
                .send()
        };
        assert_eq!(create(&a.admin.1, "Quarry-gate-77").await.expect("a").status(), 201);
        let in_b = create(&b.admin.1, "Harbour-gate-88").await.expect("b");
        assert_eq!(
            in_b.status(),
            201,
            "{backend:?}: a name of tenant A is free in tenant B"
        );
        let user_b: serde_json::Value = in_b.json().await.expect("json");
        assert_eq!(user_b["tenant_id"], b.tenant_id);
        // Within one tenant the name is still unique.
        expect_problem(create(&b.admin.1, "Harbour-gate-88").await.expect("dup"), 409).await;

        // Ambiguous without a tenant: the one answer of every failed login.
        let login = |tenant: Option<i32>, password: &str| {
            app.client
                .post(app.url("/api/v1/auth/login"))
                .json(&serde_json::json!({"username": "shared.name", "password": password, "tenant_id": tenant}))
                .send()
        };
        let mut ambiguous = expect_problem(login(None, "Quarry-gate-77").await.expect("login"), 401).await;
        let mut wrong = expect_problem(login(Some(a.tenant_id), "Wrong-password-1").await.expect("login"), 401).await;
        ambiguous.as_object_mut().expect("object").remove("request_id");
        wrong.as_object_mut().expect("object").remove("request_id");
        assert_eq!(ambiguous, wrong, "{backend:?}");
        for (tenant, password) in [(a.tenant_id, "Quarry-gate-77"), (b.tenant_id, "Harbour-gate-88")] {
            let ok = login(Some(tenant), password).await.expect("login");
            assert_eq!(ok.status(), 200, "{backend:?}: tenant {tenant}");
            let body: serde_json::Value = ok.json().await.expect("json");
            assert_eq!(body["user"]["tenant_id"], tenant);
        }
        // The other tenant's password does not open this tenant's account.
        expect_problem(login(Some(a.tenant_id), "Harbour-gate-88").await.expect("login"), 401).await;
        // Names held once still log in without a tenant (the demo, existing clients).
        app.login_ok("namesa_admin").await;
        let _ = PASSWORD;
        app.stop().await;
    }
}
