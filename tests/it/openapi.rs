//! The OpenAPI document: served at /openapi.json, valid OpenAPI 3, and equal
//! to the committed openapi/openapi.json.

use crate::common::{Backend, TestApp};

const REGENERATE: &str = "regenerate it with: cargo run -- openapi > openapi/openapi.json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_document_is_valid_openapi_3_and_matches_the_committed_one() {
    let app = TestApp::start(Backend::Sqlite).await;
    let served: serde_json::Value = app.get("/openapi.json").await.json().await.expect("json");
    app.stop().await;

    assert!(
        served["openapi"].as_str().unwrap_or_default().starts_with("3."),
        "OpenAPI 3: {}",
        served["openapi"]
    );
    // A typed parse catches structural mistakes a string compare would not.
    let typed: openapiv3::OpenAPI = serde_json::from_value(served.clone()).expect("a valid OpenAPI 3 document");
    assert!(typed.paths.paths.contains_key("/health"));

    let committed_text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
        .unwrap_or_else(|e| panic!("openapi/openapi.json is missing ({e}); {REGENERATE}"));
    let committed: serde_json::Value = serde_json::from_str(&committed_text)
        .unwrap_or_else(|e| panic!("openapi/openapi.json is not JSON ({e}); {REGENERATE}"));
    assert!(
        served == committed,
        "the served OpenAPI document differs from openapi/openapi.json; {REGENERATE}"
    );
}

#[test]
fn every_operation_documents_its_problem_responses() {
    let doc: serde_json::Value = serde_json::from_str(&camet::http::openapi_json()).expect("json");
    // The Problem schema is the RFC 9457 shape the server sends.
    let problem = &doc["components"]["schemas"]["Problem"];
    let mut required: Vec<&str> = problem["required"]
        .as_array()
        .expect("Problem.required")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    required.sort_unstable();
    assert_eq!(required, ["detail", "status", "title", "type"], "{problem}");

    let paths = doc["paths"].as_object().expect("paths");
    let mut operations = 0;
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            operations += 1;
            let at = format!("{method} {path}");
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                operation["summary"].is_string() || operation["description"].is_string(),
                "{at} is documented"
            );
            assert!(
                responses.keys().any(|code| code.starts_with('2')),
                "{at} documents a success: {:?}",
                responses.keys()
            );
            // Every error status is a problem+json body of the Problem schema, and nothing else.
            for (code, response) in responses.iter().filter(|(c, _)| c.starts_with(['4', '5'])) {
                let content = response["content"].as_object().expect("content");
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/problem+json"],
                    "{at} {code}"
                );
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem",
                    "{at} {code}"
                );
            }
            // The statuses each kind of operation can return are documented.
            let mut expected: Vec<&str> = Vec::new();
            let secured = operation["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured {
                expected.extend(["401", "403", "429", "500", "503"]);
            }
            if operation.get("requestBody").is_some() || operation.get("parameters").is_some() {
                expected.extend(["400", "422"]);
            }
            if path == "/health/ready" {
                expected.push("503");
            }
            for code in expected {
                assert!(responses.contains_key(code), "{at} documents its {code} problem");
            }
        }
    }
    // Only the liveness probe answers without any problem response.
    let bare: Vec<String> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .filter(|(_, op)| {
                    op["responses"]
                        .as_object()
                        .is_some_and(|r| !r.keys().any(|c| c.starts_with(['4', '5'])))
                })
                .map(move |(method, _)| format!("{method} {path}"))
        })
        .collect();
    assert_eq!(bare, ["get /health"]);
    assert!(operations > 50, "the whole API is checked: {operations}");
}

#[test]
fn optional_properties_are_declared_nullable_because_they_serialise_as_null() {
    // Found by schemathesis: `Option` fields answer `null`, which OpenAPI 3.0
    // only allows when the property says `nullable: true`. Problem bodies
    // omit their optional members instead, so they are exempt.
    let doc: serde_json::Value = serde_json::from_str(&camet::http::openapi_json()).expect("json");
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let mut missing = Vec::new();
    for (name, schema) in schemas {
        if name == "Problem" {
            continue;
        }
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        for (property, definition) in schema["properties"].as_object().into_iter().flatten() {
            let optional = !required.contains(&property.as_str());
            let has_default = definition.get("default").is_some();
            if optional && !has_default && definition["nullable"] != true {
                missing.push(format!("{name}.{property}"));
            }
        }
    }
    assert!(missing.is_empty(), "optional properties without nullable: {missing:?}");
}

/// Every schema in `doc` that wraps a single `$ref` in `allOf` (what
/// generators read as a composition, and openapi-python-client cannot
/// compose for an enum), by JSON pointer.
fn wrapped_references(value: &serde_json::Value, at: &str, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(object) => {
            // A wrapper is an allOf whose only part is a reference; an allOf
            // that adds its own properties beside one (the typed widget
            // results' discriminator) is a real composition.
            if let Some(parts) = object.get("allOf").and_then(|a| a.as_array())
                && parts.len() == 1
                && parts[0].get("$ref").is_some()
            {
                found.push(at.to_owned());
            }
            for (key, child) in object {
                wrapped_references(child, &format!("{at}/{key}"), found);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                wrapped_references(child, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn no_reference_is_wrapped_in_all_of() {
    let doc: serde_json::Value = serde_json::from_str(&camet::http::openapi_json()).expect("json");
    let mut found = Vec::new();
    wrapped_references(&doc, "", &mut found);
    assert!(found.is_empty(), "allOf with a single $ref at {found:?}");
    // The enum fields are plain references, or "reference or null".
    let role = &doc["components"]["schemas"]["CreateUserRequest"]["properties"]["role"];
    assert_eq!(role["$ref"], "#/components/schemas/Role", "{role}");
    let new_role = &doc["components"]["schemas"]["UpdateUserRequest"]["properties"]["role"];
    assert_eq!(new_role["nullable"], true, "{new_role}");
    assert_eq!(
        new_role["anyOf"],
        serde_json::json!([{"$ref": "#/components/schemas/Role"}])
    );
}

/// Why `value` does not fit `schema` (OpenAPI 3.0 subset the document uses:
/// `$ref`, `anyOf`, `allOf`, `nullable`, `type`, `enum`, `required`,
/// `properties`, `additionalProperties`, `items`), written here so the check
/// shares nothing with the server's own strict-JSON walk.
fn misfits(doc: &serde_json::Value, value: &serde_json::Value, schema: &serde_json::Value, at: &str) -> Vec<String> {
    use serde_json::Value;
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return misfits(doc, value, &doc["components"]["schemas"][name], at);
    }
    if value.is_null() {
        return if schema["nullable"] == true || schema.as_object().is_some_and(|o| o.is_empty()) {
            Vec::new()
        } else {
            vec![format!("{at}: null where the schema is not nullable")]
        };
    }
    if let Some(any) = schema["anyOf"].as_array() {
        return if any.iter().any(|s| misfits(doc, value, s, at).is_empty()) {
            Vec::new()
        } else {
            vec![format!("{at}: fits no anyOf branch")]
        };
    }
    let mut out = Vec::new();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(misfits(doc, value, part, at));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        out.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let fits = match schema["type"].as_str() {
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("array") => value.is_array(),
        Some("object") => value.is_object(),
        _ => true,
    };
    if !fits {
        out.push(format!("{at}: {value} is not a {}", schema["type"]));
        return out;
    }
    if let Value::Object(object) = value {
        for name in schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !object.contains_key(name) {
                out.push(format!("{at}: missing required {name}"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, item) in object {
            match properties.and_then(|p| p.get(name)) {
                Some(property) => out.extend(misfits(doc, item, property, &format!("{at}.{name}"))),
                None => match &schema["additionalProperties"] {
                    Value::Object(extra) => out.extend(misfits(
                        doc,
                        item,
                        &Value::Object(extra.clone()),
                        &format!("{at}.{name}"),
                    )),
                    _ if properties.is_some() => out.push(format!("{at}: unknown property {name}")),
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            out.extend(misfits(doc, item, item_schema, &format!("{at}[{i}]")));
        }
    }
    out
}

#[test]
fn every_request_body_has_an_example_and_every_example_fits_its_schema() {
    let doc: serde_json::Value = serde_json::from_str(&camet::http::openapi_json()).expect("json");
    let mut bodies = 0;
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let at = format!("{method} {path}");
            for (media_type, media) in operation["requestBody"]["content"].as_object().into_iter().flatten() {
                bodies += 1;
                match media.get("example") {
                    None => problems.push(format!("{at} ({media_type}): no request example")),
                    Some(example) => problems.extend(misfits(&doc, example, &media["schema"], &format!("{at} body"))),
                }
            }
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                for media in response["content"].as_object().into_iter().flatten().map(|(_, m)| m) {
                    if let Some(example) = media.get("example") {
                        problems.extend(misfits(&doc, example, &media["schema"], &format!("{at} {status}")));
                    }
                }
            }
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if let Some(example) = parameter.get("example") {
                    let name = parameter["name"].as_str().unwrap_or_default();
                    problems.extend(misfits(&doc, example, &parameter["schema"], &format!("{at} {name}")));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(bodies >= 29, "every request body is checked: {bodies}");
    // Every example of the table found its operation, response and parameter.
    for examples in camet::http::examples::all() {
        let operation = &doc["paths"][examples.path][examples.method];
        assert!(
            operation.is_object(),
            "no operation {} {}",
            examples.method,
            examples.path
        );
        for (status, _) in &examples.responses {
            let content = operation["responses"][status]["content"].as_object().expect("content");
            // The examples are JSON; CSV and XLSX forms of an answer have none.
            assert!(
                content
                    .iter()
                    .filter(|(media_type, _)| media_type.contains("json"))
                    .all(|(_, m)| m.get("example").is_some()),
                "{} {status}",
                examples.path
            );
        }
        for (name, _) in &examples.parameters {
            let parameters = operation["parameters"].as_array().expect("parameters");
            assert!(
                parameters
                    .iter()
                    .any(|p| p["name"] == *name && p.get("example").is_some()),
                "{} {}: parameter {name}",
                examples.method,
                examples.path
            );
        }
    }
    // The main answers carry one.
    for (method, path, status) in [
        ("post", "/api/v1/auth/login", "200"),
        ("post", "/api/v1/metrics/oee", "200"),
        ("post", "/api/v1/metrics/summary", "200"),
        ("get", "/api/v1/downtime", "200"),
        ("post", "/api/v1/users", "201"),
        ("post", "/api/v1/api-keys", "201"),
        ("post", "/api/v1/lines/{line_id}/detections", "200"),
        ("get", "/api/v1/tenant", "200"),
    ] {
        let content = doc["paths"][path][method]["responses"][status]["content"]
            .as_object()
            .expect("content");
        assert!(
            content
                .iter()
                .filter(|(media_type, _)| media_type.contains("json"))
                .all(|(_, m)| m.get("example").is_some()),
            "{method} {path} {status}"
        );
    }
}

/// What Swagger UI's "Try it out" sends for `operation` as filled: path and
/// query parameters from their examples, the body from the request example.
fn filled_request(
    operation: &serde_json::Value,
    path: &str,
) -> (String, Vec<(String, String)>, Option<serde_json::Value>) {
    let mut url_path = path.to_owned();
    let mut query = Vec::new();
    for parameter in operation["parameters"].as_array().into_iter().flatten() {
        let Some(example) = parameter.get("example") else {
            assert_ne!(
                parameter["required"], true,
                "{path}: required {} has no example",
                parameter["name"]
            );
            continue;
        };
        let name = parameter["name"].as_str().expect("name");
        let text = match example {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match parameter["in"].as_str() {
            Some("path") => url_path = url_path.replace(&format!("{{{name}}}"), &text),
            Some("query") => query.push((name.to_owned(), text)),
            _ => {}
        }
    }
    let body = operation["requestBody"]["content"]
        .as_object()
        .and_then(|content| content.values().next())
        .and_then(|media| media.get("example"))
        .cloned();
    (url_path, query, body)
}

/// Operations whose example cannot succeed as filled on a fresh demo plant,
/// and why.
const NOT_TRIED: [(&str, &str, &str); 2] = [
    (
        "put",
        "/api/v1/downtime/{line_id}/{event_id}",
        "needs a persisted stop, whose id depends on the day the demo was made",
    ),
    (
        "post",
        "/api/v1/downtime/{line_id}/reasons",
        "needs persisted stops, whose ids depend on the day the demo was made",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_request_succeeds_as_filled_against_the_demo_plant() {
    let doc: serde_json::Value = serde_json::from_str(&camet::http::openapi_json()).expect("json");
    for backend in crate::common::backends() {
        let app = TestApp::start(backend).await;
        let seed = camet::demo::seed(&app.state.databases, app.state.hashing, 7)
            .await
            .expect("demo");
        assert_eq!(
            (seed.tenant_id, seed.line_id),
            (1, 1),
            "the examples name the demo's ids"
        );
        // Seeded straight into the databases (before serving, in production):
        // read the plant afresh, as a start would.
        app.state
            .cache
            .reload(&app.state.databases, seed.tenant_id)
            .await
            .expect("plant snapshot");
        let mut access_token = String::new();
        let mut refresh_token = String::new();
        let mut tried = 0;
        for examples in camet::http::examples::all() {
            if NOT_TRIED
                .iter()
                .any(|(m, p, _)| *m == examples.method && *p == examples.path)
            {
                continue;
            }
            let operation = &doc["paths"][examples.path][examples.method];
            let (path, query, mut body) = filled_request(operation, examples.path);
            // The two values no document can know: the printed password and a live refresh token.
            if examples.path == "/api/v1/auth/login" {
                body = body.map(|mut b| {
                    b["password"] = seed.password.clone().into();
                    b
                });
            }
            if examples.path == "/api/v1/auth/refresh" {
                body = Some(serde_json::json!({"refresh_token": refresh_token}));
            }
            let method: reqwest::Method = examples.method.to_uppercase().parse().expect("method");
            let mut request = app.client.request(method, app.url(&path)).query(&query);
            if !access_token.is_empty() {
                request = request.bearer_auth(&access_token);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let answer: serde_json::Value = response.json().await.unwrap_or_default();
            assert!(
                (200..300).contains(&status),
                "{backend:?} {} {path}: {status} {answer}",
                examples.method
            );
            tried += 1;
            if examples.path == "/api/v1/auth/login" {
                access_token = answer["access_token"].as_str().expect("access token").to_owned();
                refresh_token = answer["refresh_token"].as_str().expect("refresh token").to_owned();
            }
        }
        assert_eq!(tried, camet::http::examples::all().len() - NOT_TRIED.len());
        app.stop().await;
    }
}
