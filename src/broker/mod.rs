//! The external data broker: the only way Camet calls third-party HTTP APIs
//! (weather, ERP, MES, ...) on behalf of widgets.
//!
//! It owns:
//! - the list of external APIs from `external_apis.yml` ([`ExternalApi`]),
//!   validated at start;
//! - one shared async HTTP client (connection pooling, connect timeout, no
//!   redirects) for every call;
//! - the call policy: each call is bounded by its API's `timeout_ms` (retry
//!   included), retried at most once and only when the connection could not
//!   be established, and fails with a [`BrokerError`] that concerns only the
//!   widget that asked;
//! - bearer tokens, read at call time from the environment variable named by
//!   `token_env` and never logged, cached, returned or shown in `Debug`;
//! - a short, bounded cache of successful answers.

mod cache;
mod config;
mod error;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};

pub use cache::MAX_ENTRIES as CACHE_MAX_ENTRIES;
pub use config::{ApiMethod, DEFAULT_TIMEOUT_MS, ExternalApi, TIMEOUT_MS_RANGE, parse_yaml, validate_all};
pub use error::BrokerError;

use cache::{ResponseCache, cache_key};

/// Upper bound for establishing a TCP (+TLS) connection, whatever the API's
/// `timeout_ms`; the call as a whole is bounded by `timeout_ms` anyway.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer body accepted; a larger one counts as invalid JSON so that
/// one API cannot exhaust the server's memory.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Label used in validation errors of [`DataBroker::new`].
const CONFIG_LABEL: &str = "external_apis.yml";

/// What a widget asks of an external API, on top of its configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrokerRequest {
    /// Query parameters appended to the API's `base_url`, in order.
    pub query: Vec<(String, String)>,
    /// JSON body, sent for `POST` APIs (ignored for `GET`).
    pub body: Option<serde_json::Value>,
}

impl BrokerRequest {
    /// Adds one query parameter.
    pub fn with_query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Sets the JSON body (sent for `POST` APIs).
    pub fn with_body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// The broker: configured APIs, the shared client and the answer cache.
///
/// Cheap to clone (everything is behind one `Arc`); `Send + Sync`.
#[derive(Clone)]
pub struct DataBroker {
    inner: Arc<Inner>,
}

struct Inner {
    /// In configuration order.
    apis: Vec<ExternalApi>,
    /// api_id -> index in `apis`.
    index: HashMap<String, usize>,
    client: reqwest::Client,
    cache: Mutex<ResponseCache>,
    cache_ttl: Duration,
}

impl std::fmt::Debug for DataBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataBroker")
            .field("api_ids", &self.api_ids())
            .field("cache_ttl", &self.inner.cache_ttl)
            .finish_non_exhaustive()
    }
}

/// How one attempt failed; `Connect` alone may be retried.
enum AttemptError {
    /// The connection could not be established: nothing was sent.
    Connect,
    /// Any other failure, final.
    Final(BrokerError),
}

impl DataBroker {
    /// A broker over these APIs (validated: unique ids, http(s) URLs, timeouts
    /// in 1..=60000 ms, plausible `token_env`), caching answers for
    /// `cache_ttl` (zero disables the cache).
    pub fn new(apis: Vec<ExternalApi>, cache_ttl: Duration) -> Result<Self, String> {
        validate_all(&apis).map_err(|e| format!("{CONFIG_LABEL}: {e}"))?;
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("camet/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client of the data broker: {e}"))?;
        let index = apis
            .iter()
            .enumerate()
            .map(|(i, api)| (api.api_id.clone(), i))
            .collect();
        Ok(DataBroker {
            inner: Arc::new(Inner {
                apis,
                index,
                client,
                cache: Mutex::new(ResponseCache::new(cache_ttl, cache::MAX_ENTRIES)),
                cache_ttl,
            }),
        })
    }

    /// Loads `external_apis.yml`. A missing file gives a broker without APIs
    /// (logged at info); an unreadable or invalid file is an error naming the
    /// file, and for an entry, the api_id and the field.
    pub fn from_file(path: &Path, cache_ttl: Duration) -> Result<DataBroker, String> {
        let label = path.display();
        let apis = match std::fs::read_to_string(path) {
            Ok(text) => parse_yaml(&text).map_err(|e| format!("{label}: {e}"))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!(path = %label, "no external APIs file; the data broker has no APIs");
                Vec::new()
            }
            Err(error) => return Err(format!("{label}: cannot read the file: {error}")),
        };
        let broker = DataBroker::new(apis, cache_ttl).map_err(|e| {
            // `new` labels errors with the default file name; use the real one.
            match e.strip_prefix(CONFIG_LABEL) {
                Some(rest) => format!("{label}{rest}"),
                None => e,
            }
        })?;
        tracing::info!(path = %label, apis = broker.inner.apis.len(), "external APIs loaded");
        Ok(broker)
    }

    /// The configured api_ids, in file order.
    pub fn api_ids(&self) -> Vec<&str> {
        self.inner.apis.iter().map(|api| api.api_id.as_str()).collect()
    }

    /// The configuration of one API.
    pub fn get_api(&self, api_id: &str) -> Option<&ExternalApi> {
        self.inner.index.get(api_id).map(|&i| &self.inner.apis[i])
    }

    /// Calls an external API and returns its JSON answer.
    ///
    /// Bounded by the API's `timeout_ms` (retry included); retried once only
    /// when the connection could not be established and time remains;
    /// successful answers are served from the cache for `cache_ttl`.
    pub async fn fetch(&self, api_id: &str, request: &BrokerRequest) -> Result<serde_json::Value, BrokerError> {
        let Some(api) = self.get_api(api_id) else {
            tracing::warn!(api_id, outcome = "unknown_api", "external API call refused");
            return Err(BrokerError::UnknownApi(api_id.to_owned()));
        };
        let started = Instant::now();
        let result = self.fetch_configured(api, request, started).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match &result {
            Ok((_, cached)) => {
                tracing::debug!(api_id, elapsed_ms, cached, outcome = "ok", "external API call");
            }
            Err(error) => {
                let status = match error {
                    BrokerError::Status(status) => Some(*status),
                    _ => None,
                };
                tracing::warn!(
                    api_id,
                    elapsed_ms,
                    outcome = error.kind(),
                    status,
                    "external API call failed"
                );
            }
        }
        result.map(|(value, _)| value)
    }

    /// Calls an external API for a series: only the parts of the answer at the API's
    /// operator-configured `labels_pointer` and `values_pointer` come back, as
    /// `{"labels": …, "values": …}` (`null` where the answer has nothing). Clients never choose
    /// which part of an answer they see.
    pub async fn fetch_series(&self, api_id: &str, request: &BrokerRequest) -> Result<serde_json::Value, BrokerError> {
        let answer = self.fetch(api_id, request).await?;
        // `fetch` succeeded, so the API exists.
        let api = self
            .get_api(api_id)
            .ok_or_else(|| BrokerError::UnknownApi(api_id.to_owned()))?;
        Ok(select_series(api, &answer))
    }

    /// The call itself; `Ok((answer, served_from_cache))`.
    async fn fetch_configured(
        &self,
        api: &ExternalApi,
        request: &BrokerRequest,
        started: Instant,
    ) -> Result<(serde_json::Value, bool), BrokerError> {
        let authorization = bearer_header(api)?;
        let mut url = api.base_url.clone();
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(request.query.iter());
        }
        let body = match (api.method, &request.body) {
            (ApiMethod::Post, Some(body)) => Some(serde_json::to_vec(body).map_err(|_| BrokerError::InvalidJson)?),
            _ => None,
        };
        let key = cache_key(
            &api.api_id,
            api.method.as_str(),
            url.as_str(),
            body.as_deref().unwrap_or_default(),
        );
        if let Some(value) = self.cache_lookup(&key) {
            return Ok((value, true));
        }

        let deadline = started + Duration::from_millis(api.timeout_ms);
        let timeout = BrokerError::Timeout {
            after_ms: api.timeout_ms,
        };
        let mut retried = false;
        let value = loop {
            let attempt = self.attempt(api, &url, authorization.as_ref(), body.as_ref());
            match tokio::time::timeout_at(deadline.into(), attempt).await {
                Err(_elapsed) => return Err(timeout),
                Ok(Ok(value)) => break value,
                Ok(Err(AttemptError::Connect)) if !retried && Instant::now() < deadline => {
                    tracing::debug!(api_id = %api.api_id, "external API connection failed; retrying once");
                    retried = true;
                }
                Ok(Err(AttemptError::Connect)) => return Err(BrokerError::Unreachable),
                Ok(Err(AttemptError::Final(error))) => return Err(error),
            }
        };
        self.cache_store(key, &value);
        Ok((value, false))
    }

    /// One HTTP exchange, reading and parsing the whole answer.
    async fn attempt(
        &self,
        api: &ExternalApi,
        url: &url::Url,
        authorization: Option<&HeaderValue>,
        body: Option<&Vec<u8>>,
    ) -> Result<serde_json::Value, AttemptError> {
        let method = match api.method {
            ApiMethod::Get => reqwest::Method::GET,
            ApiMethod::Post => reqwest::Method::POST,
        };
        let mut builder = self
            .inner
            .client
            .request(method, url.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value.clone());
        }
        if let Some(body) = body {
            builder = builder
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.clone());
        }
        let mut response = builder.send().await.map_err(classify)?;
        let status = response.status();
        if !status.is_success() {
            return Err(AttemptError::Final(BrokerError::Status(status.as_u16())));
        }
        if status == reqwest::StatusCode::NO_CONTENT {
            return Ok(serde_json::Value::Null);
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
        {
            return Err(AttemptError::Final(BrokerError::InvalidJson));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| AttemptError::Final(BrokerError::Unreachable))?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(AttemptError::Final(BrokerError::InvalidJson));
            }
            bytes.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&bytes).map_err(|_| AttemptError::Final(BrokerError::InvalidJson))
    }

    fn cache_lookup(&self, key: &cache::CacheKey) -> Option<serde_json::Value> {
        let mut cache = self.inner.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.enabled() {
            cache.get(key, Instant::now())
        } else {
            None
        }
    }

    fn cache_store(&self, key: cache::CacheKey, value: &serde_json::Value) {
        let mut cache = self.inner.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.enabled() {
            cache.insert(key, value.clone(), Instant::now());
        }
    }
}

/// The `Authorization` header for an API with a `token_env`, read now from the
/// environment and marked sensitive (hidden from `Debug` by the HTTP stack).
fn bearer_header(api: &ExternalApi) -> Result<Option<HeaderValue>, BrokerError> {
    let Some(variable) = &api.token_env else {
        return Ok(None);
    };
    let missing = || BrokerError::TokenMissing {
        variable: variable.clone(),
    };
    let token = std::env::var(variable).map_err(|_| missing())?;
    let token = token.trim();
    if token.is_empty() {
        return Err(missing());
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| missing())?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// Sorts a client error: only a failure to connect may be retried. The
/// error's text (which holds the URL) is deliberately dropped.
fn classify(error: reqwest::Error) -> AttemptError {
    if error.is_connect() && !error.is_timeout() {
        AttemptError::Connect
    } else if error.is_timeout() {
        // The client's connect timeout fired: the host does not answer.
        AttemptError::Final(BrokerError::Unreachable)
    } else if error.is_decode() {
        AttemptError::Final(BrokerError::InvalidJson)
    } else {
        AttemptError::Final(BrokerError::Unreachable)
    }
}

/// The labels and values of `answer` at `api`'s pointers, and nothing else of it.
fn select_series(api: &ExternalApi, answer: &serde_json::Value) -> serde_json::Value {
    let at = |pointer: &str| answer.pointer(pointer).cloned().unwrap_or(serde_json::Value::Null);
    serde_json::json!({"labels": at(&api.labels_pointer), "values": at(&api.values_pointer)})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(token_env: Option<&str>) -> ExternalApi {
        let mut api = ExternalApi::new("w", url::Url::parse("http://127.0.0.1:9/x?fixed=1").expect("url"));
        api.timeout_ms = 100;
        api.token_env = token_env.map(str::to_owned);
        api
    }

    #[test]
    fn series_keeps_only_what_the_operator_pointers_select() {
        let mut api = api(None);
        api.labels_pointer = "/hourly/time".to_owned();
        api.values_pointer = "/hourly/temp".to_owned();
        let answer = serde_json::json!({
            "hourly": {"time": ["10:00"], "temp": [1.5]},
            "headers": {"authorization": "Bearer secret"}
        });
        assert_eq!(
            select_series(&api, &answer),
            serde_json::json!({"labels": ["10:00"], "values": [1.5]})
        );
        let missing = select_series(&api, &serde_json::json!({"headers": ["Bearer secret"]}));
        assert_eq!(missing, serde_json::json!({"labels": null, "values": null}));
    }

    #[test]
    fn broker_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<DataBroker>();
    }

    #[test]
    fn new_rejects_duplicates_and_labels_the_file() {
        let err = DataBroker::new(vec![api(None), api(None)], Duration::ZERO).expect_err("duplicate");
        assert_eq!(err, "external_apis.yml: api \"w\": api_id is used more than once");
    }

    #[test]
    fn bearer_header_is_sensitive_and_hidden() {
        let variable = "CAMET_BROKER_UNIT_TOKEN_7f3a";
        // SAFETY: the variable name is unique to this test.
        unsafe { std::env::set_var(variable, " unit-secret-value ") };
        let header = bearer_header(&api(Some(variable))).expect("token").expect("header");
        assert!(header.is_sensitive());
        assert_eq!(header.to_str().expect("ascii"), "Bearer unit-secret-value");
        assert!(!format!("{header:?}").contains("unit-secret-value"));
        // SAFETY: as above.
        unsafe { std::env::set_var(variable, "  ") };
        assert_eq!(
            bearer_header(&api(Some(variable))),
            Err(BrokerError::TokenMissing {
                variable: variable.to_owned()
            })
        );
        assert_eq!(bearer_header(&api(None)), Ok(None));
    }

    #[test]
    fn debug_shows_no_secret() {
        let broker = DataBroker::new(vec![api(Some("SOME_TOKEN"))], Duration::from_secs(1)).expect("broker");
        let text = format!("{broker:?}");
        assert!(text.contains("\"w\""), "{text}");
    }
}
