//! The failures of one external API call. Their messages are safe to show to
//! an API client: they name the failure, never a token, a URL or a query.

/// Why a call to an external API produced no data.
///
/// Each failure concerns only the widget that asked for that API; none is a
/// failure of the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// No API with this id is configured in `external_apis.yml`.
    #[error("external API \"{0}\" is not configured")]
    UnknownApi(String),
    /// The API needs a token, and the environment variable that should hold it
    /// is unset, empty or not usable in an HTTP header. Names the variable,
    /// never its value.
    #[error("the token of the external API is not configured (environment variable {variable} is unset or empty)")]
    TokenMissing {
        /// Name of the environment variable (`token_env`).
        variable: String,
    },
    /// No complete answer within the API's `timeout_ms` (retry included).
    #[error("the external API did not answer within {after_ms} ms")]
    Timeout {
        /// The API's `timeout_ms`.
        after_ms: u64,
    },
    /// The connection could not be established (after one retry) or broke
    /// before the answer was complete.
    #[error("the external API is unreachable")]
    Unreachable,
    /// The API answered with a status outside 2xx.
    #[error("the external API answered with HTTP status {0}")]
    Status(u16),
    /// The API answered 2xx with a body that is not JSON (or is too large).
    #[error("the external API answered with a body that is not valid JSON")]
    InvalidJson,
}

impl BrokerError {
    /// A stable, machine-readable name of the failure: `unknown_api`,
    /// `token_missing`, `timeout`, `unreachable`, `bad_status`, `invalid_json`.
    pub fn kind(&self) -> &'static str {
        match self {
            BrokerError::UnknownApi(_) => "unknown_api",
            BrokerError::TokenMissing { .. } => "token_missing",
            BrokerError::Timeout { .. } => "timeout",
            BrokerError::Unreachable => "unreachable",
            BrokerError::Status(_) => "bad_status",
            BrokerError::InvalidJson => "invalid_json",
        }
    }

    /// The client-safe message naming the API that failed, e.g.
    /// `external API "weather" did not answer within 2000 ms`.
    pub fn message_for(&self, api_id: &str) -> String {
        match self {
            BrokerError::UnknownApi(id) => format!("external API \"{id}\" is not configured"),
            BrokerError::TokenMissing { variable } => format!(
                "the token of external API \"{api_id}\" is not configured \
                 (environment variable {variable} is unset or empty)"
            ),
            BrokerError::Timeout { after_ms } => {
                format!("external API \"{api_id}\" did not answer within {after_ms} ms")
            }
            BrokerError::Unreachable => format!("external API \"{api_id}\" is unreachable"),
            BrokerError::Status(status) => {
                format!("external API \"{api_id}\" answered with HTTP status {status}")
            }
            BrokerError::InvalidJson => {
                format!("external API \"{api_id}\" answered with a body that is not valid JSON")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_messages() {
        let timeout = BrokerError::Timeout { after_ms: 2000 };
        assert_eq!(timeout.kind(), "timeout");
        assert_eq!(
            timeout.message_for("weather"),
            "external API \"weather\" did not answer within 2000 ms"
        );
        assert_eq!(timeout.to_string(), "the external API did not answer within 2000 ms");
        assert_eq!(BrokerError::Status(503).kind(), "bad_status");
        assert_eq!(
            BrokerError::UnknownApi("x".into()).to_string(),
            "external API \"x\" is not configured"
        );
        let missing = BrokerError::TokenMissing {
            variable: "W_TOKEN".into(),
        };
        assert_eq!(missing.kind(), "token_missing");
        assert!(missing.to_string().contains("W_TOKEN"));
    }
}
