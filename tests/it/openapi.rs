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
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let responses = operation["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path} documents responses");
            assert!(
                operation["summary"].is_string() || operation["description"].is_string(),
                "{method} {path} is documented"
            );
        }
    }
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
