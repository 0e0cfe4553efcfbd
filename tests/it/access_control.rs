//! Access control on both backends: a role × route-class matrix proving each
//! role gets exactly its rights, permissions that grant and deny, and tenant
//! isolation (another tenant's resources are a 404, by id and in lists).

use crate::common::{TestApp, backends, expect_problem};
use reqwest::Method;

/// One representative, side-effect-free route per route class, and the
/// status a caller WITH the class's right gets: 200 for the reads, 422 for
/// the deliberately invalid writes (validation runs only after the guard).
/// A caller without the right gets 403.
type RouteClass = (&'static str, Method, &'static str, Option<serde_json::Value>, u16);

fn route_classes() -> Vec<RouteClass> {
    vec![
        ("any authenticated", Method::GET, "/api/v1/auth/me", None, 200),
        ("manage_users", Method::GET, "/api/v1/users", None, 200),
        (
            "manage_users (write)",
            Method::POST,
            "/api/v1/users",
            Some(serde_json::json!({"username": "xyz", "email": "bad", "role": "viewer", "password": "short"})),
            422,
        ),
        ("manage_api_keys", Method::GET, "/api/v1/api-keys", None, 200),
        ("read_audit", Method::GET, "/api/v1/audit", None, 200),
        ("read_data", Method::GET, "/api/v1/production/lines", None, 200),
        (
            "manage_plant",
            Method::POST,
            "/api/v1/production/lines",
            Some(serde_json::json!({"line_name": "", "line_code": "x"})),
            422,
        ),
        ("manage_system", Method::GET, "/api/v1/system/partitions", None, 200),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_gets_exactly_its_rights() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let fixture = app.tenant_fixture("Matrix").await;
        // allowed: the guard lets it through (the class's own status, never 403).
        let expected: [(&str, &String, [bool; 8]); 3] = [
            (
                "admin",
                &fixture.admin.1,
                [true, true, true, true, true, true, true, true],
            ),
            (
                "manager",
                &fixture.manager.1,
                [true, false, false, false, false, true, true, false],
            ),
            (
                "viewer",
                &fixture.viewer.1,
                [true, false, false, false, false, true, false, false],
            ),
        ];
        for (role, token, allowed) in expected {
            for ((class, method, path, body, granted), allowed) in route_classes().into_iter().zip(allowed) {
                let mut request = app.authed(method.clone(), path, token);
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let status = request.send().await.expect("request").status().as_u16();
                if allowed {
                    assert_eq!(status, granted, "{backend:?} {role} on {class}");
                } else {
                    assert_eq!(status, 403, "{backend:?} {role} on {class}");
                }
            }
        }
        // Unauthenticated: 401 everywhere.
        for (class, method, path, _, _) in route_classes() {
            let status = app
                .client
                .request(method, app.url(path))
                .send()
                .await
                .expect("request")
                .status();
            assert_eq!(status, 401, "anonymous on {class}");
        }
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_grant_and_deny_named_rights() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let fixture = app.tenant_fixture("Perm").await;
        let grant = app
            .authed(
                Method::PUT,
                &format!("/api/v1/users/{}", fixture.viewer.0),
                &fixture.admin.1,
            )
            .json(&serde_json::json!({"permissions": {"grant": ["read_audit"], "deny": ["run_dashboards"]}}))
            .send()
            .await
            .expect("update");
        assert_eq!(grant.status(), 200);
        let view: serde_json::Value = grant.json().await.expect("json");
        assert_eq!(view["permissions"], serde_json::json!(["read_data", "read_audit"]));
        // Effective at once, on the existing session.
        let audit = app
            .authed(Method::GET, "/api/v1/audit", &fixture.viewer.1)
            .send()
            .await
            .expect("audit");
        assert_eq!(audit.status(), 200);

        let deny = app
            .authed(
                Method::PUT,
                &format!("/api/v1/users/{}", fixture.manager.0),
                &fixture.admin.1,
            )
            .json(&serde_json::json!({"role": "admin", "permissions": {"deny": ["manage_users"]}}))
            .send()
            .await
            .expect("update");
        assert_eq!(deny.status(), 200);
        expect_problem(
            app.authed(Method::GET, "/api/v1/users", &fixture.manager.1)
                .send()
                .await
                .expect("users"),
            403,
        )
        .await;
        assert_eq!(
            app.authed(Method::GET, "/api/v1/api-keys", &fixture.manager.1)
                .send()
                .await
                .expect("keys")
                .status(),
            200
        );
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_resources_are_404_by_id_and_absent_from_lists() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let a = app.tenant_fixture("Alpha").await;
        let b = app.tenant_fixture("Beta").await;
        let key_a: serde_json::Value = app
            .authed(Method::POST, "/api/v1/api-keys", &a.admin.1)
            .json(&serde_json::json!({"name": "A gateway", "role": "admin"}))
            .send()
            .await
            .expect("key")
            .json()
            .await
            .expect("json");
        let key_a_id = key_a["api_key"]["api_key_id"].as_i64().expect("id");
        let key_b: serde_json::Value = app
            .authed(Method::POST, "/api/v1/api-keys", &b.admin.1)
            .json(&serde_json::json!({"name": "B gateway", "role": "admin"}))
            .send()
            .await
            .expect("key")
            .json()
            .await
            .expect("json");
        let b_key = key_b["key"].as_str().expect("key").to_owned();

        let user_a = a.viewer.0;
        let by_id: Vec<(Method, String, Option<serde_json::Value>)> = vec![
            (Method::GET, format!("/api/v1/users/{user_a}"), None),
            (
                Method::PUT,
                format!("/api/v1/users/{user_a}"),
                Some(serde_json::json!({"role": "admin"})),
            ),
            (Method::DELETE, format!("/api/v1/users/{user_a}"), None),
            (
                Method::POST,
                format!("/api/v1/users/{user_a}/password"),
                Some(serde_json::json!({"new_password": "Another-strong-pass-9"})),
            ),
            (Method::DELETE, format!("/api/v1/api-keys/{key_a_id}"), None),
        ];
        for (method, path, body) in &by_id {
            // As tenant B's admin user and as tenant B's admin API key.
            let as_user = app.authed(method.clone(), path, &b.admin.1);
            let as_key = app
                .client
                .request(method.clone(), app.url(path))
                .header("x-api-key", &b_key);
            for request in [as_user, as_key] {
                let request = match body {
                    Some(body) => request.json(body),
                    None => request,
                };
                let response = request.send().await.expect("request");
                expect_problem(response, 404).await;
            }
        }
        // A's user is untouched.
        let still: serde_json::Value = app
            .authed(Method::GET, &format!("/api/v1/users/{user_a}"), &a.admin.1)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(still["role"], "viewer");
        assert_eq!(still["is_active"], true);

        // Lists only show B's own.
        let users: serde_json::Value = app
            .authed(Method::GET, "/api/v1/users", &b.admin.1)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        let names: Vec<&str> = users["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|u| u["username"].as_str())
            .collect();
        let mut names = names;
        names.sort_unstable();
        assert_eq!(names, ["beta_admin", "beta_manager", "beta_viewer"]);
        let keys: serde_json::Value = app
            .client
            .get(app.url("/api/v1/api-keys"))
            .header("x-api-key", &b_key)
            .send()
            .await
            .expect("keys")
            .json()
            .await
            .expect("json");
        let key_names: Vec<&str> = keys
            .as_array()
            .expect("keys")
            .iter()
            .filter_map(|k| k["name"].as_str())
            .collect();
        assert_eq!(key_names, ["B gateway"], "{keys}");
        let audit: serde_json::Value = app
            .authed(Method::GET, "/api/v1/audit?limit=500", &b.admin.1)
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("json");
        // B's own rows are there (so the check below is not over an empty
        // list) and every actor named is one of B's users.
        let items = audit["items"].as_array().expect("items");
        let b_users = [b.admin.0, b.manager.0, b.viewer.0];
        let logins: Vec<i64> = items
            .iter()
            .filter(|i| i["action"] == "login")
            .filter_map(|i| i["user_id"].as_i64())
            .collect();
        for user in b_users {
            assert!(logins.contains(&i64::from(user)), "B's user {user} logged in: {audit}");
        }
        for item in items {
            if let Some(user) = item["user_id"].as_i64() {
                assert!(
                    b_users.iter().any(|b| i64::from(*b) == user),
                    "only B's actors are listed to B: {item}"
                );
            }
        }
        app.stop().await;
    }
}

/// The `Caller<right>` guard answers with the same problems the handlers
/// used to return themselves: the 403 names the missing right, a refused
/// credential keeps its own 401 detail (not the generic "missing"
/// one), and every problem carries the request id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_answers_with_the_exact_problems() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let fixture = app.tenant_fixture("Guard").await;
        let line = serde_json::json!({"line_name": "Line G", "line_code": "LG"});

        let response = app
            .authed(Method::POST, "/api/v1/production/lines", &fixture.viewer.1)
            .json(&line)
            .send()
            .await
            .expect("viewer write");
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let forbidden = expect_problem(response, 403).await;
        assert_eq!(forbidden["type"], "urn:camet:problem:forbidden", "{backend:?}");
        assert_eq!(forbidden["title"], "Forbidden");
        assert_eq!(forbidden["detail"], "this action needs the manage_plant right");
        assert_eq!(forbidden["request_id"].as_str(), request_id.as_deref());

        let key: serde_json::Value = app
            .authed(Method::POST, "/api/v1/api-keys", &fixture.admin.1)
            .json(&serde_json::json!({"name": "Reader", "role": "viewer"}))
            .send()
            .await
            .expect("key")
            .json()
            .await
            .expect("json");
        let key = key["key"].as_str().expect("key").to_owned();
        let by_key = app
            .client
            .get(app.url("/api/v1/system/partitions"))
            .header("x-api-key", &key)
            .send()
            .await
            .expect("viewer key on partitions");
        let by_key = expect_problem(by_key, 403).await;
        assert_eq!(by_key["detail"], "this action needs the manage_system right");

        let anonymous = app
            .client
            .post(app.url("/api/v1/production/lines"))
            .json(&line)
            .send()
            .await
            .expect("anonymous write");
        let anonymous = expect_problem(anonymous, 401).await;
        assert_eq!(anonymous["type"], "urn:camet:problem:unauthorized");
        assert_eq!(
            anonymous["detail"],
            "missing or malformed credentials: send `Authorization: Bearer <access token>` or `X-API-Key: <key>`"
        );

        let forged = app
            .authed(Method::GET, "/api/v1/production/lines", "not-a-token")
            .send()
            .await
            .expect("forged token");
        let forged = expect_problem(forged, 401).await;
        assert_eq!(forged["detail"], "invalid access token");

        // The guard let the holders of the right through to the handler.
        let created = app
            .authed(Method::POST, "/api/v1/production/lines", &fixture.manager.1)
            .json(&line)
            .send()
            .await
            .expect("manager write");
        assert_eq!(created.status(), 201, "{backend:?}");
        let listed: serde_json::Value = app
            .client
            .get(app.url("/api/v1/production/lines"))
            .header("x-api-key", &key)
            .send()
            .await
            .expect("viewer key read")
            .json()
            .await
            .expect("json");
        assert_eq!(listed["total"], 1, "{listed}");
        app.stop().await;
    }
}
