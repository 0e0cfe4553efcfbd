//! The external data broker against a real (tiny) HTTP server on 127.0.0.1:
//! answers, failures isolated as typed errors, time bounds, cache, tokens
//! never leaked, and `external_apis.yml` loading.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use camet::broker::{ApiMethod, BrokerError, BrokerRequest, DataBroker, ExternalApi};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// What the test server answers to every request.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: &'static str,
    delay: Duration,
}

impl Reply {
    fn json(body: &'static str) -> Reply {
        Reply {
            status: 200,
            body,
            delay: Duration::ZERO,
        }
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 server: one request per connection, always `reply`.
struct TestServer {
    port: u16,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TestServer {
    async fn start(reply: Reply) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind test server");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (task_hits, task_seen) = (hits.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (reply, hits, seen) = (reply.clone(), task_hits.clone(), task_seen.clone());
                tokio::spawn(async move {
                    let _ = serve_one(stream, reply, hits, seen).await;
                });
            }
        });
        TestServer { port, hits, seen }
    }

    fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("http://127.0.0.1:{}{path}", self.port)).expect("url")
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    async fn last(&self) -> Seen {
        self.seen.lock().await.last().cloned().expect("a request was received")
    }
}

/// Reads one request, records it, waits `reply.delay`, answers.
async fn serve_one(
    mut stream: TcpStream,
    reply: Reply,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Option<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    hits.fetch_add(1, Ordering::SeqCst);
    seen.lock().await.push(Seen {
        request_line,
        headers,
        body,
    });
    tokio::time::sleep(reply.delay).await;
    let response = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        reply.status,
        reply.body.len(),
        reply.body
    );
    stream.write_all(response.as_bytes()).await.ok()?;
    stream.shutdown().await.ok()
}

fn api(id: &str, base_url: url::Url, timeout_ms: u64, token_env: Option<&str>) -> ExternalApi {
    let mut api = ExternalApi::new(id, base_url);
    api.method = ApiMethod::Get;
    api.timeout_ms = timeout_ms;
    api.token_env = token_env.map(str::to_owned);
    api
}

fn broker(apis: Vec<ExternalApi>, ttl: Duration) -> DataBroker {
    DataBroker::new(apis, ttl).expect("valid broker")
}

#[tokio::test]
async fn success_returns_json_and_sends_the_bearer_token() {
    let server = TestServer::start(Reply::json(r#"{"temp": 21.5, "unit": "C"}"#)).await;
    let variable = "CAMET_TEST_BROKER_TOKEN_SUCCESS";
    // SAFETY: this variable name is used by this test only.
    unsafe { std::env::set_var(variable, "tok-success-123") };
    let broker = broker(
        vec![api(
            "weather",
            server.url("/forecast?units=metric"),
            2000,
            Some(variable),
        )],
        Duration::ZERO,
    );
    let request = BrokerRequest::default().with_query("city", "Lyon & co");
    // The future is Send: widgets may spawn it.
    let handle = {
        let broker = broker.clone();
        tokio::spawn(async move { broker.fetch("weather", &request).await })
    };
    let value = handle.await.expect("join").expect("answer");
    assert_eq!(value, json!({"temp": 21.5, "unit": "C"}));

    let seen = server.last().await;
    assert_eq!(seen.header("authorization"), Some("Bearer tok-success-123"));
    assert!(
        seen.request_line
            .starts_with("GET /forecast?units=metric&city=Lyon+%26+co "),
        "{}",
        seen.request_line
    );
    assert!(!format!("{broker:?}").contains("tok-success-123"));
}

#[tokio::test]
async fn post_sends_the_body_as_json() {
    let server = TestServer::start(Reply::json(r#"[1, 2, 3]"#)).await;
    let mut erp = api("erp", server.url("/orders"), 2000, None);
    erp.method = ApiMethod::Post;
    let broker = broker(vec![erp], Duration::ZERO);
    let request = BrokerRequest::default().with_body(json!({"line": 4}));
    assert_eq!(broker.fetch("erp", &request).await, Ok(json!([1, 2, 3])));
    let seen = server.last().await;
    assert!(seen.request_line.starts_with("POST /orders "), "{}", seen.request_line);
    assert_eq!(seen.header("content-type"), Some("application/json"));
    assert_eq!(seen.header("authorization"), None);
    let body: serde_json::Value = serde_json::from_slice(&seen.body).expect("json body");
    assert_eq!(body, json!({"line": 4}));
}

#[tokio::test]
async fn server_error_is_a_bad_status() {
    let server = TestServer::start(Reply {
        status: 500,
        body: r#"{"error": "boom"}"#,
        delay: Duration::ZERO,
    })
    .await;
    let broker = broker(vec![api("mes", server.url("/"), 2000, None)], Duration::from_secs(30));
    let error = broker.fetch("mes", &BrokerRequest::default()).await.expect_err("500");
    assert_eq!(error, BrokerError::Status(500));
    assert_eq!(error.kind(), "bad_status");
    // Failures are not cached, and a status is not retried.
    let _ = broker.fetch("mes", &BrokerRequest::default()).await;
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn malformed_json_is_invalid_json() {
    let server = TestServer::start(Reply::json("{not json")).await;
    let broker = broker(vec![api("mes", server.url("/"), 2000, None)], Duration::ZERO);
    let error = broker
        .fetch("mes", &BrokerRequest::default())
        .await
        .expect_err("bad json");
    assert_eq!(error, BrokerError::InvalidJson);
    assert_eq!(error.kind(), "invalid_json");
}

#[tokio::test]
async fn slow_server_times_out_within_the_bound() {
    let server = TestServer::start(Reply {
        status: 200,
        body: "{}",
        delay: Duration::from_secs(5),
    })
    .await;
    let broker = broker(vec![api("slow", server.url("/"), 300, None)], Duration::ZERO);
    let started = Instant::now();
    let error = broker
        .fetch("slow", &BrokerRequest::default())
        .await
        .expect_err("timeout");
    let elapsed = started.elapsed();
    assert_eq!(error, BrokerError::Timeout { after_ms: 300 });
    assert_eq!(error.kind(), "timeout");
    assert_eq!(
        error.message_for("slow"),
        "external API \"slow\" did not answer within 300 ms"
    );
    // The error is the broker's own deadline, not the server's answer: the
    // server answers only after 5 s, so anything that waited for it would
    // have ended later than that (a margin of 16 times the deadline, so a
    // busy machine cannot make this flaky). It never fires early.
    assert!(elapsed < Duration::from_secs(5), "waited for the server: {elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(290),
        "fired before its deadline: {elapsed:?}"
    );
    // A timeout is never retried.
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn refused_connection_is_unreachable() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
    let broker = broker(vec![api("down", url, 2000, None)], Duration::ZERO);
    let error = broker
        .fetch("down", &BrokerRequest::default())
        .await
        .expect_err("refused");
    // Unreachable, not Timeout: a refused connection is reported as such,
    // without waiting for the 2 s deadline.
    assert_eq!(error, BrokerError::Unreachable);
    assert_eq!(error.kind(), "unreachable");
}

#[tokio::test]
async fn identical_calls_are_served_from_the_cache() {
    let server = TestServer::start(Reply::json(r#"{"n": 1}"#)).await;
    let broker = broker(vec![api("kpi", server.url("/"), 2000, None)], Duration::from_secs(30));
    let request = BrokerRequest::default().with_query("line", "1");
    assert_eq!(broker.fetch("kpi", &request).await, Ok(json!({"n": 1})));
    assert_eq!(broker.fetch("kpi", &request).await, Ok(json!({"n": 1})));
    assert_eq!(server.hits(), 1, "the second identical call must not reach the server");
    // A different query is a different entry.
    let other = BrokerRequest::default().with_query("line", "2");
    assert_eq!(broker.fetch("kpi", &other).await, Ok(json!({"n": 1})));
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn zero_ttl_disables_the_cache() {
    let server = TestServer::start(Reply::json(r#"{"n": 1}"#)).await;
    let broker = broker(vec![api("kpi", server.url("/"), 2000, None)], Duration::ZERO);
    for _ in 0..3 {
        assert_eq!(
            broker.fetch("kpi", &BrokerRequest::default()).await,
            Ok(json!({"n": 1}))
        );
    }
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn missing_token_fails_without_calling_and_without_leaking() {
    let server = TestServer::start(Reply::json("{}")).await;
    let variable = "CAMET_TEST_BROKER_TOKEN_MISSING";
    // SAFETY: this variable name is used by this test only.
    unsafe { std::env::remove_var(variable) };
    let broker = broker(
        vec![api("weather", server.url("/"), 2000, Some(variable))],
        Duration::from_secs(30),
    );
    let error = broker
        .fetch("weather", &BrokerRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(
        error,
        BrokerError::TokenMissing {
            variable: variable.to_owned()
        }
    );
    assert_eq!(error.kind(), "token_missing");
    assert_eq!(server.hits(), 0);

    // Set, answered and cached; then emptied: the token is required again
    // and no message shows its former value.
    // SAFETY: as above.
    unsafe { std::env::set_var(variable, "tok-missing-secret") };
    assert_eq!(broker.fetch("weather", &BrokerRequest::default()).await, Ok(json!({})));
    // SAFETY: as above.
    unsafe { std::env::set_var(variable, "") };
    let error = broker
        .fetch("weather", &BrokerRequest::default())
        .await
        .expect_err("empty");
    assert_eq!(error.kind(), "token_missing");
    for text in [
        error.to_string(),
        error.message_for("weather"),
        format!("{error:?}"),
        format!("{broker:?}"),
    ] {
        assert!(!text.contains("tok-missing-secret"), "{text}");
    }
}

#[tokio::test]
async fn unknown_api_is_reported() {
    let broker = broker(Vec::new(), Duration::ZERO);
    let error = broker
        .fetch("nope", &BrokerRequest::default())
        .await
        .expect_err("unknown");
    assert_eq!(error, BrokerError::UnknownApi("nope".to_owned()));
    assert_eq!(error.kind(), "unknown_api");
    assert_eq!(error.to_string(), "external API \"nope\" is not configured");
}

#[test]
fn yaml_file_is_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("external_apis.yml");
    std::fs::write(
        &path,
        "apis:\n  - api_id: weather\n    base_url: http://127.0.0.1:9000/forecast\n    method: GET\n    \
         timeout_ms: 2000\n    token_env: WEATHER_TOKEN   # optional\n  - api_id: erp\n    \
         base_url: https://erp.example.test/api\n    method: POST\n    timeout_ms: 500\n",
    )
    .expect("write");
    let broker = DataBroker::from_file(&path, Duration::from_secs(10)).expect("valid file");
    assert_eq!(broker.api_ids(), vec!["weather", "erp"]);
    let weather = broker.get_api("weather").expect("weather");
    assert_eq!(weather.base_url.as_str(), "http://127.0.0.1:9000/forecast");
    assert_eq!(weather.method, ApiMethod::Get);
    assert_eq!(weather.timeout_ms, 2000);
    assert_eq!(weather.token_env.as_deref(), Some("WEATHER_TOKEN"));
    let erp = broker.get_api("erp").expect("erp");
    assert_eq!(erp.method, ApiMethod::Post);
    assert_eq!(erp.token_env, None);
    assert!(broker.get_api("other").is_none());
}

#[test]
fn missing_yaml_file_gives_an_empty_broker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = DataBroker::from_file(&dir.path().join("external_apis.yml"), Duration::ZERO).expect("empty");
    assert!(broker.api_ids().is_empty());
}

#[test]
fn invalid_yaml_field_names_the_api_and_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("external_apis.yml");
    std::fs::write(
        &path,
        "apis:\n  - api_id: weather\n    base_url: http://127.0.0.1:9000/forecast\n    timeout_ms: 0\n",
    )
    .expect("write");
    let error = DataBroker::from_file(&path, Duration::ZERO).expect_err("invalid");
    assert_eq!(
        error,
        format!(
            "{}: api \"weather\": timeout_ms must be between 1 and 60000",
            path.display()
        )
    );

    std::fs::write(&path, "- api_id: ftp\n  base_url: ftp://files.example.test/\n").expect("write");
    let error = DataBroker::from_file(&path, Duration::ZERO).expect_err("scheme");
    assert!(
        error.ends_with("api \"ftp\": base_url must be an http:// or https:// URL"),
        "{error}"
    );

    std::fs::write(
        &path,
        "- api_id: a\n  base_url: http://h/\n- api_id: a\n  base_url: http://h/\n",
    )
    .expect("write");
    let error = DataBroker::from_file(&path, Duration::ZERO).expect_err("duplicate");
    assert!(error.ends_with("api \"a\": api_id is used more than once"), "{error}");
}

#[test]
fn unreadable_yaml_file_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory cannot be read as a file.
    let error = DataBroker::from_file(dir.path(), Duration::ZERO).expect_err("unreadable");
    assert!(error.contains("cannot read the file"), "{error}");
}
