//! Strict JSON types in request bodies.
//!
//! poem-openapi reads a JSON number or boolean sent where its schema declares a string as that
//! value's text (`"line_name": 123` becomes `"123"`), so a client's type error passes silently and
//! the document promises a type the server does not hold to. This module holds every request
//! body to the types the OpenAPI document declares, in one place, before any handler parses it:
//! the request bodies' schemas are read once from the generated document itself, so a new field
//! is covered without any per-field code. A value of the wrong JSON type, or a required field
//! left out, is a 422 naming its field (`line_name`, `[3].detected_at`).
//!
//! Exact decimals (`format: decimal`) keep accepting numbers, as documented (`"production_std":
//! 60`). Booleans and integers were already refused by poem-openapi, as a 400; they are now the
//! same 422 naming the field as every other invalid value.

use std::sync::LazyLock;

use serde_json::Value;

use crate::error::{AppError, FieldError};
use crate::http::routes::{OPENAPI, PathTemplate, most_specific};

/// Field errors reported at most in one 422.
const MAX_ERRORS: usize = 100;
/// Deepest nesting walked (bodies are shallow; this bounds hostile ones).
const MAX_DEPTH: usize = 32;

/// The request body schema of each operation, from the generated OpenAPI document.
struct BodySchemas {
    /// (method, path template, body schema).
    operations: Vec<(String, PathTemplate, Value)>,
    /// `components.schemas`, for `$ref`s.
    components: serde_json::Map<String, Value>,
}

static SCHEMAS: LazyLock<BodySchemas> = LazyLock::new(|| BodySchemas::from_spec(&OPENAPI));

impl BodySchemas {
    fn from_spec(spec: &Value) -> Self {
        let mut operations = Vec::new();
        if let Some(paths) = spec.get("paths").and_then(Value::as_object) {
            for (path, methods) in paths {
                let template = PathTemplate::parse(path);
                for (method, operation) in methods.as_object().into_iter().flatten() {
                    let schema = operation
                        .pointer("/requestBody/content")
                        .and_then(Value::as_object)
                        .and_then(|content| content.iter().find(|(ty, _)| ty.contains("json")))
                        .and_then(|(_, media)| media.get("schema"));
                    if let Some(schema) = schema {
                        operations.push((method.to_ascii_uppercase(), template.clone(), schema.clone()));
                    }
                }
            }
        }
        let components = spec
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Self { operations, components }
    }

    /// The body schema of `method path`: the operation the router would choose.
    fn schema_for(&self, method: &str, path: &str) -> Option<&Value> {
        let same_method = self.operations.iter().filter(|(m, _, _)| m == method);
        most_specific(same_method, path, |(_, template, _)| template).map(|(_, _, schema)| schema)
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        let mut schema = schema;
        // References chain at most a few times; bounded anyway.
        for _ in 0..8 {
            match schema
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .and_then(|name| self.components.get(name))
            {
                Some(target) => schema = target,
                None => break,
            }
        }
        schema
    }

    fn walk(&self, value: &Value, schema: &Value, field: &str, depth: usize, errors: &mut Vec<FieldError>) {
        if depth > MAX_DEPTH || errors.len() >= MAX_ERRORS || value.is_null() {
            return;
        }
        let schema = self.resolve(schema);
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.walk(value, part, field, depth + 1, errors);
            }
        }
        // "This schema or null" (`http::spec`): the one branch holds for any non-null value.
        if let Some([only]) = schema.get("anyOf").and_then(Value::as_array).map(Vec::as_slice) {
            self.walk(value, only, field, depth + 1, errors);
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("string") => {
                let lenient = schema.get("format").and_then(Value::as_str) == Some("decimal");
                let wrong = match value {
                    Value::Number(_) if !lenient => Some("a number"),
                    Value::Bool(_) => Some("a boolean"),
                    Value::Array(_) => Some("an array"),
                    Value::Object(_) => Some("an object"),
                    _ => None,
                };
                if let Some(wrong) = wrong {
                    let name = if field.is_empty() { "body" } else { field };
                    errors.push(FieldError::new(name, format!("must be a JSON string, not {wrong}")));
                }
            }
            Some(expected @ ("boolean" | "integer" | "number")) => {
                let fits = match expected {
                    "boolean" => value.is_boolean(),
                    "integer" => value.is_i64() || value.is_u64(),
                    _ => value.is_number(),
                };
                if !fits {
                    let name = if field.is_empty() { "body" } else { field };
                    errors.push(FieldError::new(name, format!("must be a JSON {expected}")));
                }
            }
            Some("object") => {
                let Some(object) = value.as_object() else {
                    return;
                };
                // A required field left out (or null where the schema does
                // not allow it) is as invalid as one of the wrong type:
                // poem-openapi's own 400 would not name it.
                for name in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                    let Some(name) = name.as_str() else { continue };
                    let nullable = schema
                        .pointer(&format!(
                            "/properties/{}/nullable",
                            name.replace('~', "~0").replace('/', "~1")
                        ))
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    if object.get(name).is_none_or(|item| item.is_null() && !nullable) {
                        errors.push(FieldError::new(join_field(field, name), "is required"));
                    }
                }
                let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
                    return;
                };
                for (name, property) in properties {
                    if let Some(item) = object.get(name) {
                        self.walk(item, property, &join_field(field, name), depth + 1, errors);
                    }
                }
            }
            Some("array") => {
                let (Some(items), Some(item_schema)) = (value.as_array(), schema.get("items")) else {
                    return;
                };
                for (i, item) in items.iter().enumerate() {
                    self.walk(item, item_schema, &format!("{field}[{i}]"), depth + 1, errors);
                    if errors.len() >= MAX_ERRORS {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
}

/// `name` inside `field` (`line_name`, `[3].detected_at`, `rule.kind`).
fn join_field(field: &str, name: &str) -> String {
    if field.is_empty() {
        name.to_owned()
    } else {
        format!("{field}.{name}")
    }
}

/// Checks a JSON request body of `method path` against the types its operation declares. A body
/// that is not JSON, or a route without a JSON body, is left to the handler's own parsing.
pub fn check_body(method: &str, path: &str, body: &[u8]) -> Result<(), AppError> {
    let Some(schema) = SCHEMAS.schema_for(method, path) else {
        return Ok(());
    };
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    let mut errors = Vec::new();
    SCHEMAS.walk(&value, schema, "", 0, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::invalid_fields(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_booleans_are_not_strings() {
        let err = check_body(
            "POST",
            "/api/v1/production/lines",
            br#"{"line_name": 123, "line_code": true}"#,
        )
        .expect_err("coerced");
        let AppError::Validation { errors, .. } = err else {
            panic!("not a 422: {err:?}")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["line_code", "line_name"]);
        check_body(
            "POST",
            "/api/v1/production/lines",
            br#"{"line_name": "L", "line_code": "L1"}"#,
        )
        .expect("strings");
        // Decimals keep accepting numbers.
        check_body(
            "POST",
            "/api/v1/production/products",
            br#"{"product_name": "P", "product_code": "P1", "production_std": 60}"#,
        )
        .expect("decimal");
        // Arrays name the index; path parameters match any value.
        let err = check_body(
            "POST",
            "/api/v1/lines/7/detections",
            br#"[{"detected_at": "2026-11-20T10:00:00Z", "area_id": 1, "product_id": 1}, {"detected_at": 1, "area_id": 1, "product_id": 1}]"#,
        )
        .expect_err("number instant");
        assert!(format!("{err:?}").contains("[1].detected_at"), "{err:?}");
        // A field that is "an enum or null" is still held to its type.
        let err = check_body("PUT", "/api/v1/users/7", br#"{"role": 5}"#).expect_err("number role");
        assert!(format!("{err:?}").contains("\"role\""), "{err:?}");
        check_body("PUT", "/api/v1/users/7", br#"{"role": null}"#).expect("null role");
        // Required fields left out, or null, are named (poem-openapi's 400 named none).
        let err = check_body("POST", "/api/v1/production/lines", br#"{"line_name": null}"#).expect_err("missing");
        let AppError::Validation { errors, .. } = err else {
            panic!("not a 422: {err:?}")
        };
        let missing: Vec<(&str, &str)> = errors.iter().map(|e| (e.field.as_str(), e.message.as_str())).collect();
        assert_eq!(missing, [("line_name", "is required"), ("line_code", "is required")]);
        let err = check_body(
            "POST",
            "/api/v1/lines/7/detections",
            br#"[{"detected_at": "2026-11-20T10:00:00Z", "area_id": 1, "product_id": 1}, {"area_id": 1, "product_id": 1}]"#,
        )
        .expect_err("no instant");
        assert!(format!("{err:?}").contains("[1].detected_at"), "{err:?}");
        // Not JSON, or no JSON body: left to the handler.
        check_body("POST", "/api/v1/production/lines", b"{not json").expect("handler decides");
        check_body("GET", "/api/v1/production/lines", br#"{"line_name": 1}"#).expect("no body");
    }
}
