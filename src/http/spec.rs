//! The OpenAPI document as clients receive it: poem-openapi's generated
//! document, corrected in this one place before it is served at
//! `/openapi.json`, printed by `camet openapi` and read by the route table.
//!
//! Two corrections:
//! - **Plain references.** poem-openapi emits a field whose type is another
//!   schema and which has a description as `allOf: [{$ref}, {description}]`.
//!   Generators read that as a composition: openapi-python-client, for one,
//!   cannot compose an enum and drops every schema that holds one (the login
//!   answer, the user and API-key bodies). Such a field becomes `{$ref}`
//!   (with its description beside it, which OpenAPI 3.0 tools ignore), or,
//!   when it may be `null`, `{anyOf: [{$ref}], nullable: true}`, the one
//!   OpenAPI 3.0 way to say "this schema or null".
//! - **Examples** from [`crate::http::examples`]: on request bodies, the main
//!   responses and the parameters Swagger UI's "Try it out" needs, so the
//!   pre-filled request works against the demo plant.
//!
//! The document is edited as a [`Doc`], which keeps the generated order of
//! every object's members (serde_json's `Value` would sort them, and
//! properties would no longer read in their declared order).

use std::fmt;
use std::sync::LazyLock;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::http::examples;

/// Annotation keywords that may sit beside a reference without changing
/// which values are valid.
const ANNOTATIONS: [&str; 6] = [
    "description",
    "title",
    "nullable",
    "readOnly",
    "writeOnly",
    "deprecated",
];

/// The corrected document as pretty JSON, built once.
static DOCUMENT_TEXT: LazyLock<String> = LazyLock::new(|| corrected(&crate::http::api_service().spec()));

/// The document clients receive, as pretty JSON.
pub fn document_text() -> &'static str {
    &DOCUMENT_TEXT
}

/// `GET /openapi.json`: the corrected document.
#[poem::handler]
pub fn serve() -> poem::Response {
    poem::Response::builder()
        .content_type("application/json; charset=utf-8")
        .body(document_text())
}

/// A generated document (JSON text) with both corrections, as pretty JSON.
/// Text that is not JSON (never the case for poem-openapi's) is returned as is.
pub fn corrected(generated: &str) -> String {
    let Ok(mut document) = serde_json::from_str::<Doc>(generated) else {
        return generated.to_owned();
    };
    plain_references(&mut document);
    examples::apply(&mut document);
    serde_json::to_string_pretty(&document).unwrap_or_else(|_| generated.to_owned())
}

/// A JSON value whose objects keep the order of their members.
#[derive(Debug, Clone, PartialEq)]
pub enum Doc {
    /// `null`, a boolean, a number or a string.
    Scalar(Value),
    /// An array.
    Array(Vec<Doc>),
    /// An object, members in order.
    Object(Vec<(String, Doc)>),
}

impl Doc {
    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Doc> {
        match self {
            Doc::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The member `key` of an object, to change.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Doc> {
        match self {
            Doc::Object(members) => members.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The member at the end of `keys`.
    pub fn at_mut(&mut self, keys: &[&str]) -> Option<&mut Doc> {
        keys.iter().try_fold(self, |doc, key| doc.get_mut(key))
    }

    /// Sets the member `key` of an object (in place when present, else last).
    /// Does nothing to anything but an object.
    pub fn insert(&mut self, key: &str, value: Doc) {
        if let Doc::Object(members) = self {
            match members.iter_mut().find(|(k, _)| k == key) {
                Some((_, slot)) => *slot = value,
                None => members.push((key.to_owned(), value)),
            }
        }
    }

    /// The string, when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Doc::Scalar(Value::String(s)) => Some(s),
            _ => None,
        }
    }
}

impl From<&Value> for Doc {
    fn from(value: &Value) -> Self {
        match value {
            Value::Array(items) => Doc::Array(items.iter().map(Doc::from).collect()),
            Value::Object(members) => Doc::Object(members.iter().map(|(k, v)| (k.clone(), Doc::from(v))).collect()),
            scalar => Doc::Scalar(scalar.clone()),
        }
    }
}

impl Serialize for Doc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Doc::Scalar(value) => value.serialize(serializer),
            Doc::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Doc::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DocVisitor;

        impl<'de> Visitor<'de> for DocVisitor {
            type Value = Doc;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Doc, E> {
                Ok(Doc::Scalar(Value::Null))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Doc, E> {
                Ok(Doc::Scalar(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Doc, E> {
                Ok(Doc::Scalar(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Doc, E> {
                Ok(Doc::Scalar(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Doc, E> {
                Ok(Doc::Scalar(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Doc, E> {
                Ok(Doc::Scalar(Value::String(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Doc, E> {
                Ok(Doc::Scalar(Value::String(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Doc::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc, A::Error> {
                let mut members = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Doc>()? {
                    members.push((key, value));
                }
                Ok(Doc::Object(members))
            }
        }

        deserializer.deserialize_any(DocVisitor)
    }
}

/// Rewrites every `allOf: [{$ref}, {annotations}]` (and `allOf: [{$ref}]`)
/// into a plain reference, keeping the description and nullability.
pub fn plain_references(doc: &mut Doc) {
    match doc {
        Doc::Object(members) => {
            if let Some(reference) = single_reference(members) {
                let kept = |key: &str| members.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
                let mut plain = Vec::new();
                if let Some(description) = kept("description") {
                    plain.push(("description".to_owned(), description));
                }
                let reference = Doc::Scalar(Value::String(reference));
                if kept("nullable") == Some(Doc::Scalar(Value::Bool(true))) {
                    plain.push(("nullable".to_owned(), Doc::Scalar(Value::Bool(true))));
                    let branch = Doc::Object(vec![("$ref".to_owned(), reference)]);
                    plain.push(("anyOf".to_owned(), Doc::Array(vec![branch])));
                } else {
                    plain.push(("$ref".to_owned(), reference));
                }
                for keyword in ["default", "example"] {
                    if let Some(value) = kept(keyword) {
                        plain.push((keyword.to_owned(), value));
                    }
                }
                *members = plain;
            }
            for (_, child) in members.iter_mut() {
                plain_references(child);
            }
        }
        Doc::Array(items) => items.iter_mut().for_each(plain_references),
        Doc::Scalar(_) => {}
    }
}

/// The target of an `allOf` that only wraps one reference in annotations.
fn single_reference(members: &[(String, Doc)]) -> Option<String> {
    let Some((_, Doc::Array(parts))) = members.iter().find(|(k, _)| k == "allOf") else {
        return None;
    };
    let mut reference = None;
    for part in parts {
        let Doc::Object(part) = part else { return None };
        if let Some((_, target)) = part.iter().find(|(k, _)| k == "$ref") {
            if reference.is_some() || part.len() != 1 {
                return None;
            }
            reference = Some(target.as_str()?.to_owned());
        } else if !part.iter().all(|(k, _)| ANNOTATIONS.contains(&k.as_str())) {
            return None;
        }
    }
    // Anything else beside the allOf (a type, properties) is a real composition.
    let extra = members
        .iter()
        .any(|(k, _)| k != "allOf" && k != "default" && k != "example" && !ANNOTATIONS.contains(&k.as_str()));
    if extra { None } else { reference }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rewritten(value: Value) -> Value {
        let mut doc = Doc::from(&value);
        plain_references(&mut doc);
        serde_json::to_value(&doc).expect("json")
    }

    #[test]
    fn wrapped_references_become_plain_and_keep_nullability() {
        let doc = rewritten(json!({
            "role": {"description": "Role.", "allOf": [{"$ref": "#/r/Role"}, {"description": "Role."}]},
            "maybe": {"description": "New role.", "nullable": true,
                      "allOf": [{"$ref": "#/r/Role"}, {"description": "New role.", "nullable": true}]},
            "composed": {"allOf": [{"$ref": "#/r/A"}, {"type": "object", "properties": {}}]},
        }));
        assert_eq!(doc["role"], json!({"description": "Role.", "$ref": "#/r/Role"}));
        assert_eq!(
            doc["maybe"],
            json!({"description": "New role.", "nullable": true, "anyOf": [{"$ref": "#/r/Role"}]})
        );
        assert_eq!(
            doc["composed"]["allOf"][1]["type"], "object",
            "a real composition stays"
        );
    }

    #[test]
    fn members_keep_their_generated_order() {
        let text = r#"{"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {"/b": {}, "/a": {}}}"#;
        let out = corrected(text);
        let positions: Vec<usize> = [
            "\"openapi\"",
            "\"info\"",
            "\"title\"",
            "\"version\"",
            "\"/b\"",
            "\"/a\"",
        ]
        .iter()
        .map(|key| out.find(key).expect(key))
        .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{out}");
    }
}
