//! Conditional KPI answers. An answer whose whole range lies before its data
//! watermark is settled: it carries an `ETag` and `Cache-Control: private,
//! max-age`, and a request whose `If-None-Match` names that tag gets a 304
//! without a body. The tag is a hash of what the answer says (not of its
//! bytes: a timing or a workbook's creation date does not change it), so a
//! late detection that changes a figure changes the tag too.

use chrono::{DateTime, Utc};
use poem::http::{HeaderMap, HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::registry::{MetaHeader, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use sha2::{Digest, Sha256};

/// How long a client may reuse a settled answer without asking again.
pub const SETTLED_MAX_AGE_SECS: u32 = 300;

/// Whether an answer over a range ending at `range_end` is settled: every
/// line's rollups cover the range (`data_as_of`, the earliest watermark
/// clipped at now, is at or after its end).
pub fn settled(range_end: DateTime<Utc>, data_as_of: Option<DateTime<Utc>>) -> bool {
    data_as_of.is_some_and(|mark| range_end <= mark)
}

/// The weak entity tag of `content` (what the answer says, in a canonical
/// form chosen by the caller) written as `variant` (json, csv, xlsx).
pub fn tag_of(content: &serde_json::Value, variant: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(variant.as_bytes());
    hasher.update([0]);
    hasher.update(content.to_string().as_bytes());
    let digest = hasher.finalize();
    format!("W/\"{}\"", hex::encode(&digest[..16]))
}

/// Whether `If-None-Match` in `headers` names `tag` (weak comparison, as
/// RFC 9110 asks for `If-None-Match`; `*` matches any).
pub fn not_modified(headers: &HeaderMap, tag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let wanted = opaque(tag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| candidate.trim() == "*" || opaque(candidate) == wanted)
}

/// An answer, or a 304 when the client holds it already.
pub enum Conditional<R> {
    /// The answer; `tag` when it is settled.
    Fresh {
        /// The answer itself.
        answer: R,
        /// Its entity tag when settled.
        tag: Option<String>,
    },
    /// The client's copy (named by `If-None-Match`) is current.
    NotModified {
        /// The tag it named.
        tag: String,
    },
}

/// What a request's validators decide before an answer is written.
pub enum Precondition {
    /// The client holds the answer tagged so: send a 304.
    Held(String),
    /// Write the answer, with this tag when it is settled.
    Write(Option<String>),
}

impl Precondition {
    /// The decision for an answer saying `content` (computed only when
    /// `is_settled`) written as `variant`.
    pub fn check(
        is_settled: bool,
        content: impl FnOnce() -> serde_json::Value,
        variant: &str,
        headers: &HeaderMap,
    ) -> Self {
        if !is_settled {
            return Precondition::Write(None);
        }
        let tag = tag_of(&content(), variant);
        if not_modified(headers, &tag) {
            Precondition::Held(tag)
        } else {
            Precondition::Write(Some(tag))
        }
    }
}

impl<R> Conditional<R> {
    /// `answer`, tagged from `content` when `is_settled`, or a 304 when the
    /// request already holds that tag.
    pub fn of(
        answer: R,
        is_settled: bool,
        content: impl FnOnce() -> serde_json::Value,
        variant: &str,
        headers: &HeaderMap,
    ) -> Self {
        match Precondition::check(is_settled, content, variant, headers) {
            Precondition::Held(tag) => Conditional::NotModified { tag },
            Precondition::Write(tag) => Conditional::Fresh { answer, tag },
        }
    }
}

/// A JSON answer made conditional (see [`Conditional::of`]); the tag is
/// computed from the value's JSON only when it is settled.
pub fn json_answer<T: poem_openapi::types::ToJSON>(
    value: T,
    is_settled: bool,
    headers: &HeaderMap,
) -> Conditional<poem_openapi::payload::Json<T>> {
    let content = is_settled.then(|| value.to_json().unwrap_or_default());
    Conditional::of(
        poem_openapi::payload::Json(value),
        is_settled,
        || content.unwrap_or_default(),
        "json",
        headers,
    )
}

fn with_validator(mut response: Response, tag: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(tag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("private, max-age={SETTLED_MAX_AGE_SECS}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

impl<R: IntoResponse> IntoResponse for Conditional<R> {
    fn into_response(self) -> Response {
        match self {
            Conditional::Fresh { answer, tag: None } => answer.into_response(),
            Conditional::Fresh { answer, tag: Some(tag) } => with_validator(answer.into_response(), &tag),
            Conditional::NotModified { tag } => {
                with_validator(Response::builder().status(StatusCode::NOT_MODIFIED).finish(), &tag)
            }
        }
    }
}

fn validator_headers() -> Vec<MetaHeader> {
    vec![
        MetaHeader {
            name: "ETag".to_owned(),
            description: Some("Set when the whole range lies before the data watermark (a settled answer).".to_owned()),
            required: false,
            deprecated: false,
            schema: String::schema_ref(),
        },
        MetaHeader {
            name: "Cache-Control".to_owned(),
            description: Some(format!("`private, max-age={SETTLED_MAX_AGE_SECS}` with an `ETag`.")),
            required: false,
            deprecated: false,
            schema: String::schema_ref(),
        },
    ]
}

impl<R: ApiResponse> ApiResponse for Conditional<R> {
    fn meta() -> MetaResponses {
        let mut meta = R::meta();
        for response in &mut meta.responses {
            if response.status == Some(200) {
                response.headers.extend(validator_headers());
            }
        }
        meta.responses.push(MetaResponse {
            description: "The answer the client holds (`If-None-Match`) is current.",
            status: Some(304),
            status_range: None,
            content: vec![],
            headers: validator_headers(),
        });
        meta
    }

    fn register(registry: &mut Registry) {
        R::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(if_none_match: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(if_none_match).expect("header"),
        );
        headers
    }

    #[test]
    fn a_tag_names_the_content_and_its_variant() {
        let a = serde_json::json!({"oee": 1.75});
        let b = serde_json::json!({"oee": 1.76});
        assert_eq!(tag_of(&a, "json"), tag_of(&a.clone(), "json"));
        assert_ne!(tag_of(&a, "json"), tag_of(&b, "json"));
        assert_ne!(tag_of(&a, "json"), tag_of(&a, "csv"));
        assert!(tag_of(&a, "json").starts_with("W/\""));
    }

    #[test]
    fn if_none_match_compares_weakly_and_lists_and_star_match() {
        let tag = tag_of(&serde_json::json!(1), "json");
        let strong = tag.trim_start_matches("W/").to_owned();
        assert!(not_modified(&headers(&tag), &tag));
        assert!(not_modified(&headers(&strong), &tag));
        assert!(not_modified(&headers(&format!("\"x\", {tag}")), &tag));
        assert!(not_modified(&headers("*"), &tag));
        assert!(!not_modified(&headers("\"other\""), &tag));
        assert!(!not_modified(&HeaderMap::new(), &tag));
    }

    #[test]
    fn only_a_range_before_the_watermark_is_settled() {
        let at = |h: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, 16)
                .and_then(|d| d.and_hms_opt(h, 0, 0))
                .map(|t| t.and_utc())
                .expect("instant")
        };
        assert!(settled(at(10), Some(at(10))));
        assert!(settled(at(9), Some(at(10))));
        assert!(!settled(at(11), Some(at(10))));
        assert!(!settled(at(9), None), "no watermark: nothing is settled");
    }

    #[test]
    fn a_settled_answer_the_client_holds_is_a_304_with_its_tag() {
        let content = || serde_json::json!({"rows": []});
        let tag = tag_of(&content(), "json");
        match Conditional::of("body", true, content, "json", &headers(&tag)) {
            Conditional::NotModified { tag: named } => assert_eq!(named, tag),
            Conditional::Fresh { .. } => panic!("a 304 was due"),
        }
        match Conditional::of("body", false, content, "json", &headers(&tag)) {
            Conditional::Fresh { tag: None, .. } => {}
            _ => panic!("an unsettled answer has no tag"),
        }
    }
}
