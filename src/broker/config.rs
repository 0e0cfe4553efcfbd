//! `external_apis.yml`: the list of external APIs the broker may call, parsed
//! and validated at start so that a bad entry stops the server with a message
//! naming the API and the field instead of failing later, per widget.

use std::collections::HashSet;

use serde_yaml_ng::{Mapping, Value};
use url::Url;

/// Longest accepted `api_id`.
const MAX_API_ID_LEN: usize = 64;
/// Longest accepted `token_env` (environment variable name).
const MAX_TOKEN_ENV_LEN: usize = 128;
/// Bounds of `timeout_ms`, inclusive.
pub const TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 1..=60_000;
/// `timeout_ms` when an entry does not give one.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// `labels_pointer` when an entry does not give one.
pub const DEFAULT_LABELS_POINTER: &str = "/labels";
/// `values_pointer` when an entry does not give one.
pub const DEFAULT_VALUES_POINTER: &str = "/values";
/// Longest accepted JSON pointer.
const MAX_POINTER_LEN: usize = 256;

/// The HTTP method used to call an external API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiMethod {
    /// `GET`: the request's query is appended to `base_url`, no body.
    Get,
    /// `POST`: the query is appended to `base_url` and the body is sent as JSON.
    Post,
}

impl ApiMethod {
    /// The method as written on the wire (`GET`, `POST`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApiMethod::Get => "GET",
            ApiMethod::Post => "POST",
        }
    }

    /// Parses `GET` / `POST`, case-insensitively.
    pub fn parse(text: &str) -> Option<ApiMethod> {
        if text.eq_ignore_ascii_case("GET") {
            Some(ApiMethod::Get)
        } else if text.eq_ignore_ascii_case("POST") {
            Some(ApiMethod::Post)
        } else {
            None
        }
    }
}

impl std::fmt::Display for ApiMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One external API from `external_apis.yml`.
///
/// Holds no secret: `token_env` is the NAME of the environment variable that
/// holds the bearer token, which is read at call time only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalApi {
    /// Identifier widgets use to ask for this API (letters, digits, `_`, `-`).
    pub api_id: String,
    /// The URL called; a request's query parameters are appended to it.
    pub base_url: Url,
    /// `GET` or `POST`.
    pub method: ApiMethod,
    /// Upper bound of one call, retry included, in milliseconds (1..=60000).
    pub timeout_ms: u64,
    /// Name of the environment variable holding the bearer token, if any.
    pub token_env: Option<String>,
    /// JSON pointer (RFC 6901) to the labels array in the API's answer. Fixed by the operator:
    /// a client choosing it could point a widget at any part of the answer, e.g. the request
    /// headers an echoing API sends back, bearer token included.
    pub labels_pointer: String,
    /// JSON pointer to the values array in the API's answer, fixed by the operator likewise.
    pub values_pointer: String,
}

impl ExternalApi {
    /// An entry with the default method (`GET`), timeout and pointers, and no token.
    pub fn new(api_id: impl Into<String>, base_url: Url) -> Self {
        Self {
            api_id: api_id.into(),
            base_url,
            method: ApiMethod::Get,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            token_env: None,
            labels_pointer: DEFAULT_LABELS_POINTER.to_owned(),
            values_pointer: DEFAULT_VALUES_POINTER.to_owned(),
        }
    }
}

impl ExternalApi {
    /// Checks one entry on its own (uniqueness is checked by
    /// [`validate_all`]). The error names the API and the field, e.g.
    /// `api "weather": timeout_ms must be between 1 and 60000`.
    pub fn validate(&self) -> Result<(), String> {
        let label = api_label(Some(&self.api_id), 0);
        if self.api_id.is_empty() {
            return Err(format!("{label}: api_id must not be empty"));
        }
        if self.api_id.len() > MAX_API_ID_LEN
            || !self
                .api_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "{label}: api_id must be at most {MAX_API_ID_LEN} letters, digits, '_' or '-'"
            ));
        }
        validate_url(&self.base_url).map_err(|why| format!("{label}: base_url {why}"))?;
        if !TIMEOUT_MS_RANGE.contains(&self.timeout_ms) {
            return Err(format!(
                "{label}: timeout_ms must be between {} and {}",
                TIMEOUT_MS_RANGE.start(),
                TIMEOUT_MS_RANGE.end()
            ));
        }
        if let Some(name) = &self.token_env
            && !is_env_var_name(name)
        {
            return Err(format!(
                "{label}: token_env must be the name of an environment variable \
                 (letters, digits and '_', not starting with a digit)"
            ));
        }
        for (field, pointer) in [
            ("labels_pointer", &self.labels_pointer),
            ("values_pointer", &self.values_pointer),
        ] {
            if !is_json_pointer(pointer) {
                return Err(format!(
                    "{label}: {field} must be a JSON pointer such as /hourly/time \
                     (empty or starting with '/', at most {MAX_POINTER_LEN} characters)"
                ));
            }
        }
        Ok(())
    }
}

/// Validates every entry and the uniqueness of the `api_id`s.
pub fn validate_all(apis: &[ExternalApi]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for api in apis {
        api.validate()?;
        if !seen.insert(api.api_id.as_str()) {
            return Err(format!(
                "{}: api_id is used more than once",
                api_label(Some(&api.api_id), 0)
            ));
        }
    }
    Ok(())
}

/// Parses the text of `external_apis.yml`: either a mapping with an `apis`
/// list or a bare list. An empty document is an empty list. Errors are not
/// prefixed with the file name (the caller adds it).
pub fn parse_yaml(text: &str) -> Result<Vec<ExternalApi>, String> {
    let document: Value = serde_yaml_ng::from_str(text).map_err(|e| format!("invalid YAML: {e}"))?;
    let entries = match document {
        Value::Null => return Ok(Vec::new()),
        Value::Sequence(entries) => entries,
        Value::Mapping(mut top) => {
            if let Some(key) = top.keys().find(|k| k.as_str() != Some("apis")) {
                return Err(format!("unknown top-level key {}; expected `apis`", describe_key(key)));
            }
            match top.remove("apis") {
                None | Some(Value::Null) => return Ok(Vec::new()),
                Some(Value::Sequence(entries)) => entries,
                Some(_) => return Err("`apis` must be a list of APIs".to_owned()),
            }
        }
        _ => return Err("expected a list of APIs, or a mapping with an `apis` list".to_owned()),
    };
    let apis = entries
        .iter()
        .enumerate()
        .map(|(index, entry)| parse_entry(entry, index + 1))
        .collect::<Result<Vec<_>, _>>()?;
    validate_all(&apis)?;
    Ok(apis)
}

/// Parses one list entry; `position` is 1-based, used when `api_id` is absent.
fn parse_entry(entry: &Value, position: usize) -> Result<ExternalApi, String> {
    let Some(map) = entry.as_mapping() else {
        return Err(format!("{}: must be a mapping of fields", api_label(None, position)));
    };
    let id_value = map.get("api_id");
    let label = api_label(id_value.and_then(Value::as_str), position);
    check_known_keys(map, &label)?;

    let api_id = match id_value {
        Some(Value::String(id)) => id.clone(),
        Some(_) => return Err(format!("{label}: api_id must be a string")),
        None => return Err(format!("{label}: api_id is required")),
    };
    let base_url = match map.get("base_url") {
        Some(Value::String(text)) => {
            Url::parse(text.trim()).map_err(|e| format!("{label}: base_url is not a valid URL ({e})"))?
        }
        Some(_) => return Err(format!("{label}: base_url must be a string")),
        None => return Err(format!("{label}: base_url is required")),
    };
    let method = match map.get("method") {
        None | Some(Value::Null) => ApiMethod::Get,
        Some(Value::String(text)) => {
            ApiMethod::parse(text.trim()).ok_or_else(|| format!("{label}: method must be GET or POST"))?
        }
        Some(_) => return Err(format!("{label}: method must be GET or POST")),
    };
    let timeout_ms = match map.get("timeout_ms") {
        None | Some(Value::Null) => DEFAULT_TIMEOUT_MS,
        Some(value) => value.as_u64().ok_or_else(|| {
            format!(
                "{label}: timeout_ms must be between {} and {}",
                TIMEOUT_MS_RANGE.start(),
                TIMEOUT_MS_RANGE.end()
            )
        })?,
    };
    let token_env = match map.get("token_env") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) if name.trim().is_empty() => {
            return Err(format!(
                "{label}: token_env must not be empty (omit it when no token is needed)"
            ));
        }
        Some(Value::String(name)) => Some(name.trim().to_owned()),
        Some(_) => return Err(format!("{label}: token_env must be a string")),
    };
    let pointer = |field: &str, default: &str| match map.get(field) {
        None | Some(Value::Null) => Ok(default.to_owned()),
        Some(Value::String(text)) => Ok(text.trim().to_owned()),
        Some(_) => Err(format!("{label}: {field} must be a string")),
    };
    let api = ExternalApi {
        api_id,
        base_url,
        method,
        timeout_ms,
        token_env,
        labels_pointer: pointer("labels_pointer", DEFAULT_LABELS_POINTER)?,
        values_pointer: pointer("values_pointer", DEFAULT_VALUES_POINTER)?,
    };
    api.validate()?;
    Ok(api)
}

/// Rejects keys this file format does not know (a typo would otherwise be
/// silently ignored, e.g. `token: ...` instead of `token_env`).
fn check_known_keys(map: &Mapping, label: &str) -> Result<(), String> {
    const KNOWN: [&str; 7] = [
        "api_id",
        "base_url",
        "method",
        "timeout_ms",
        "token_env",
        "labels_pointer",
        "values_pointer",
    ];
    for key in map.keys() {
        if !key.as_str().is_some_and(|k| KNOWN.contains(&k)) {
            return Err(format!(
                "{label}: unknown field {}; expected one of {}",
                describe_key(key),
                KNOWN.join(", ")
            ));
        }
    }
    Ok(())
}

/// A key for an error message, without echoing values (only keys, which are
/// field names).
fn describe_key(key: &Value) -> String {
    match key.as_str() {
        Some(k) => format!("`{}`", k.chars().take(64).collect::<String>()),
        None => "(not a string)".to_owned(),
    }
}

/// `api "weather"`, or `api #3` when the entry has no usable id.
fn api_label(api_id: Option<&str>, position: usize) -> String {
    match api_id {
        Some(id) if !id.is_empty() => format!("api \"{}\"", id.chars().take(MAX_API_ID_LEN).collect::<String>()),
        _ if position > 0 => format!("api #{position}"),
        _ => "api \"\"".to_owned(),
    }
}

/// Why a base URL is not acceptable, as the end of a sentence.
fn validate_url(url: &Url) -> Result<(), &'static str> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not embed credentials; use token_env");
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment");
    }
    Ok(())
}

/// An RFC 6901 JSON pointer: empty (the whole answer) or `/`-separated tokens, `~` only as `~0`/`~1`.
fn is_json_pointer(pointer: &str) -> bool {
    let escapes_ok = pointer
        .split('~')
        .skip(1)
        .all(|rest| rest.starts_with('0') || rest.starts_with('1'));
    pointer.len() <= MAX_POINTER_LEN && (pointer.is_empty() || pointer.starts_with('/')) && escapes_ok
}

/// A portable environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_TOKEN_ENV_LEN
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(id: &str) -> ExternalApi {
        let mut api = ExternalApi::new(id, Url::parse("http://127.0.0.1:9000/x").expect("url"));
        api.timeout_ms = 1000;
        api
    }

    #[test]
    fn pointers_default_and_must_be_json_pointers() {
        let apis = parse_yaml("- api_id: w\n  base_url: http://h/\n").expect("defaults");
        assert_eq!(apis[0].labels_pointer, "/labels");
        assert_eq!(apis[0].values_pointer, "/values");
        let apis = parse_yaml(
            "- api_id: w\n  base_url: http://h/\n  labels_pointer: /hourly/time\n  values_pointer: /a~1b/0\n",
        )
        .expect("given");
        assert_eq!(apis[0].labels_pointer, "/hourly/time");
        assert_eq!(apis[0].values_pointer, "/a~1b/0");
        for (text, field) in [
            ("labels_pointer: hourly", "labels_pointer"),
            ("values_pointer: /a~2", "values_pointer"),
            ("values_pointer: 3", "values_pointer must be a string"),
        ] {
            let err = parse_yaml(&format!("- api_id: w\n  base_url: http://h/\n  {text}\n")).expect_err(text);
            assert!(err.contains(field), "{text}: {err}");
        }
    }

    #[test]
    fn valid_entry_passes() {
        let mut a = api("weather-1_b");
        a.token_env = Some("WEATHER_TOKEN".to_owned());
        assert_eq!(a.validate(), Ok(()));
    }

    #[test]
    fn bad_ids_are_rejected() {
        for id in ["", "has space", "dot.ted", "é", &"x".repeat(65)] {
            let err = api(id).validate().expect_err(id);
            assert!(err.contains("api_id"), "{err}");
        }
    }

    #[test]
    fn timeout_bounds() {
        for (ms, ok) in [(0, false), (1, true), (60_000, true), (60_001, false)] {
            let mut a = api("w");
            a.timeout_ms = ms;
            let result = a.validate();
            assert_eq!(result.is_ok(), ok, "{ms}: {result:?}");
            if let Err(err) = result {
                assert_eq!(err, "api \"w\": timeout_ms must be between 1 and 60000");
            }
        }
    }

    #[test]
    fn urls_must_be_http_without_credentials() {
        for url in [
            "ftp://h/x",
            "file:///etc/passwd",
            "http://user:pw@h/x",
            "http://h/x#frag",
        ] {
            let mut a = api("w");
            a.base_url = Url::parse(url).expect("url");
            let err = a.validate().expect_err(url);
            assert!(err.starts_with("api \"w\": base_url"), "{err}");
            assert!(!err.contains("pw"), "{err}");
        }
    }

    #[test]
    fn token_env_must_be_a_variable_name() {
        for name in ["", "1ABC", "A-B", "A B", "A=B"] {
            let mut a = api("w");
            a.token_env = Some(name.to_owned());
            let err = a.validate().expect_err(name);
            assert!(err.contains("token_env"), "{err}");
        }
    }

    #[test]
    fn duplicate_ids_are_rejected() {
        let err = validate_all(&[api("a"), api("b"), api("a")]).expect_err("duplicate");
        assert_eq!(err, "api \"a\": api_id is used more than once");
    }

    #[test]
    fn yaml_forms() {
        let listed = "apis:\n  - api_id: w\n    base_url: https://example.test/f\n    method: post\n    timeout_ms: 250\n    token_env: W_TOKEN\n";
        let apis = parse_yaml(listed).expect("apis form");
        assert_eq!(apis.len(), 1);
        assert_eq!(apis[0].method, ApiMethod::Post);
        assert_eq!(apis[0].timeout_ms, 250);
        assert_eq!(apis[0].token_env.as_deref(), Some("W_TOKEN"));

        let bare = "- api_id: w\n  base_url: http://h/\n";
        let apis = parse_yaml(bare).expect("bare list");
        assert_eq!(apis[0].method, ApiMethod::Get);
        assert_eq!(apis[0].timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(apis[0].token_env, None);

        assert_eq!(parse_yaml("").expect("empty"), Vec::new());
        assert_eq!(parse_yaml("apis:\n").expect("no apis"), Vec::new());
    }

    #[test]
    fn yaml_errors_name_api_and_field() {
        let cases = [
            (
                "- api_id: w\n  base_url: http://h/\n  timeout_ms: -5\n",
                "api \"w\": timeout_ms",
            ),
            (
                "- api_id: w\n  base_url: http://h/\n  timeout_ms: abc\n",
                "api \"w\": timeout_ms",
            ),
            ("- api_id: w\n  base_url: not a url\n", "api \"w\": base_url"),
            (
                "- api_id: w\n  base_url: http://h/\n  method: PUT\n",
                "api \"w\": method",
            ),
            (
                "- api_id: w\n  base_url: http://h/\n  token: s3cret\n",
                "api \"w\": unknown field `token`",
            ),
            ("- base_url: http://h/\n", "api #1: api_id is required"),
            ("- api_id: w\n", "api \"w\": base_url is required"),
            ("- just a string\n", "api #1: must be a mapping"),
            ("other: 1\n", "unknown top-level key `other`"),
            ("apis: [\n", "invalid YAML"),
        ];
        for (text, expected) in cases {
            let err = parse_yaml(text).expect_err(text);
            assert!(err.contains(expected), "{text:?} gave {err:?}, expected {expected:?}");
            assert!(!err.contains("s3cret"), "{err}");
        }
    }
}
