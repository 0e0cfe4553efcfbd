//! The API's own route table, read once from its generated OpenAPI document,
//! and path-template matching that agrees with the router: the `Allow`
//! header of a 405 and the strict JSON check both find their operation here.

use std::sync::LazyLock;

use serde_json::Value;

/// The generated OpenAPI document, parsed once.
pub static OPENAPI: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(&crate::http::openapi_json()).unwrap_or(Value::Null));

/// A path template such as `/api/v1/users/{user_id}`, split into segments:
/// `Some(literal)` or `None` for a `{parameter}`.
#[derive(Debug, Clone)]
pub struct PathTemplate {
    segments: Vec<Option<String>>,
}

impl PathTemplate {
    /// Splits a template of the OpenAPI document.
    pub fn parse(template: &str) -> PathTemplate {
        PathTemplate {
            segments: template
                .split('/')
                .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned()))
                .collect(),
        }
    }

    /// Whether `parts` (a request path split on `/`) fits: literals equal, a
    /// parameter takes any non-empty segment.
    fn matches(&self, parts: &[&str]) -> bool {
        self.segments.len() == parts.len()
            && self.segments.iter().zip(parts).all(|(segment, part)| match segment {
                Some(literal) => literal == part,
                None => !part.is_empty(),
            })
    }

    /// Like the router, a literal segment beats a parameter at the first
    /// place two templates differ.
    fn specificity(&self) -> Vec<bool> {
        self.segments.iter().map(Option::is_some).collect()
    }
}

/// Of `candidates`, the one whose template the router would choose for `path`.
pub fn most_specific<'a, T>(
    candidates: impl IntoIterator<Item = &'a T>,
    path: &str,
    template: impl Fn(&T) -> &PathTemplate,
) -> Option<&'a T> {
    let parts: Vec<&str> = path.split('/').collect();
    candidates
        .into_iter()
        .filter(|candidate| template(candidate).matches(&parts))
        .max_by_key(|candidate| template(candidate).specificity())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_beats_a_parameter_and_parameters_take_no_empty_segment() {
        let templates = [
            PathTemplate::parse("/api/v1/downtime/{line_id}/{event_id}"),
            PathTemplate::parse("/api/v1/downtime/{line_id}/events"),
        ];
        let pick = |path| most_specific(&templates, path, |t| t).map(|t| t.segments.clone());
        assert_eq!(pick("/api/v1/downtime/3/events"), Some(templates[1].segments.clone()));
        assert_eq!(pick("/api/v1/downtime/3/9"), Some(templates[0].segments.clone()));
        assert_eq!(pick("/api/v1/downtime//9"), None);
        assert_eq!(pick("/api/v1/downtime/3"), None);
    }
}
