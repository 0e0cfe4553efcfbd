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
