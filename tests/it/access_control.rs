//! Access control on both backends: a role × route-class matrix proving each
//! role gets exactly its rights, permissions that grant and deny, and tenant
//! isolation (another tenant's resources are a 404, by id and in lists).

use crate::common::{TestApp, backends, expect_problem};
use reqwest::Method;

/// One representative, side-effect-free route per route class, and the
/// status a caller with / without the class's right gets.
fn route_classes() -> Vec<(&'static str, Method, &'static str, Option<serde_json::Value>)> {
    vec![
        ("any authenticated", Method::GET, "/api/v1/auth/me", None),
        ("manage_users", Method::GET, "/api/v1/users", None),
        (
            "manage_users (write)",
            Method::POST,
            "/api/v1/users",
            Some(serde_json::json!({"username": "xyz", "email": "bad", "role": "viewer", "password": "short"})),
        ),
        ("manage_api_keys", Method::GET, "/api/v1/api-keys", None),
        ("read_audit", Method::GET, "/api/v1/audit", None),
        ("read_data", Method::GET, "/api/v1/production/lines", None),
        (
            "manage_plant",
            Method::POST,
            "/api/v1/production/lines",
            Some(serde_json::json!({"line_name": "", "line_code": "x"})),
        ),
        ("manage_system", Method::GET, "/api/v1/system/partitions", None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_gets_exactly_its_rights() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let fixture = app.tenant_fixture("Matrix").await;
        // allowed: the guard lets it through (200, or 422 for the deliberately invalid write).
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
            for ((class, method, path, body), allowed) in route_classes().into_iter().zip(allowed) {
                let mut request = app.authed(method.clone(), path, token);
                if let Some(body) = &body {
                    request = request.json(body);
                }
                let status = request.send().await.expect("request").status().as_u16();
                if allowed {
                    assert!(
                        status == 200 || status == 422,
                        "{backend:?} {role} on {class}: {status}"
                    );
                } else {
                    assert_eq!(status, 403, "{backend:?} {role} on {class}");
                }
            }
        }
        // Unauthenticated: 401 everywhere.
        for (class, method, path, _) in route_classes() {
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
        assert!(names.iter().all(|n| n.starts_with("beta_")), "{names:?}");
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
        assert!(
            keys.as_array().expect("keys").iter().all(|k| k["name"] == "B gateway"),
            "{keys}"
        );
        let audit: serde_json::Value = app
            .authed(Method::GET, "/api/v1/audit?limit=500", &b.admin.1)
            .send()
            .await
            .expect("audit")
            .json()
            .await
            .expect("json");
        for item in audit["items"].as_array().expect("items") {
            assert_ne!(
                item["user_id"],
                serde_json::json!(a.admin.0),
                "tenant A's audit rows are not listed to B"
            );
        }
        app.stop().await;
    }
}
