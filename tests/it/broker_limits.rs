//! The broker limits docs/security.md (API7, API10) states and no test
//! checked (issue 10 item 6): redirects are refused (so a token never reaches
//! another host), answers over 8 MiB are refused whether announced or
//! streamed (exactly 8 MiB passes), a body that stalls half-way ends in the
//! API's timeout, and nothing but a failure to connect is retried (each
//! case counts the requests the server saw). The broker touches no
//! database, so these run once, not per backend. No assertion is about
//! wall-clock time: each call is only wrapped in a generous bound (20 s)
//! against a hang, far above the timeouts the broker itself enforces.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use camet::broker::{ApiMethod, BrokerError, BrokerRequest, DataBroker, ExternalApi, MAX_RESPONSE_BYTES};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server does after reading a request's head.
#[derive(Clone)]
enum Behaviour {
    /// Writes these bytes, then closes.
    Answer(Arc<Vec<u8>>),
    /// Writes these bytes, then keeps the connection open without a word
    /// (until the client gives up, at most 10 s).
    Stall(Arc<Vec<u8>>),
}

struct Server {
    port: u16,
    hits: Arc<AtomicUsize>,
    authorizations: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    async fn start(behaviour: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let hits = Arc::new(AtomicUsize::new(0));
        let authorizations = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (task_hits, task_auth) = (hits.clone(), authorizations.clone());
        tokio::spawn(async move {
            // Bounded: no test makes more than a few connections.
            for _ in 0..16 {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (behaviour, hits, auth) = (behaviour.clone(), task_hits.clone(), task_auth.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&chunk[..n]),
                        }
                    }
                    hits.fetch_add(1, Ordering::SeqCst);
                    let text = String::from_utf8_lossy(&head).into_owned();
                    if let Some(value) = text
                        .split("\r\n")
                        .filter_map(|l| l.split_once(':'))
                        .find(|(n, _)| n.trim().eq_ignore_ascii_case("authorization"))
                        .map(|(_, v)| v.trim().to_owned())
                        && let Ok(mut seen) = auth.lock()
                    {
                        seen.push(value);
                    }
                    match behaviour {
                        Behaviour::Answer(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                            let _ = stream.shutdown().await;
                        }
                        Behaviour::Stall(bytes) => {
                            let _ = stream.write_all(&bytes).await;
                            let _ = stream.flush().await;
                            tokio::time::sleep(Duration::from_secs(10)).await;
                        }
                    }
                });
            }
        });
        Server {
            port,
            hits,
            authorizations,
        }
    }

    fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://127.0.0.1:{}/data", self.port)).expect("url")
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn head(status: &str, extra: &str) -> String {
    format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Connection: close\r\n\r\n")
}

fn answer(head: String, body: &[u8]) -> Behaviour {
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    Behaviour::Answer(Arc::new(bytes))
}

/// A JSON string document of exactly `len` bytes: `"aaa…"`.
fn json_of_len(len: usize) -> Vec<u8> {
    let mut body = vec![b'a'; len];
    body[0] = b'"';
    body[len - 1] = b'"';
    body
}

fn broker_for(url: url::Url, token_env: Option<&str>) -> DataBroker {
    broker_with_timeout(url, token_env, 300)
}

/// Reading and parsing 8 MiB in a debug build on a busy machine can take a
/// while: the size cases get a roomier timeout, so they fail only on size.
fn broker_with_timeout(url: url::Url, token_env: Option<&str>, timeout_ms: u64) -> DataBroker {
    DataBroker::new(
        vec![ExternalApi {
            api_id: "ext".to_owned(),
            base_url: url,
            method: ApiMethod::Get,
            timeout_ms,
            token_env: token_env.map(str::to_owned),
            labels_pointer: "/labels".to_owned(),
            values_pointer: "/values".to_owned(),
        }],
        Duration::ZERO,
    )
    .expect("valid broker")
}

async fn fetch(broker: &DataBroker) -> Result<serde_json::Value, BrokerError> {
    tokio::time::timeout(Duration::from_secs(20), broker.fetch("ext", &BrokerRequest::default()))
        .await
        .expect("the broker ends every call within its own bound")
}

#[tokio::test]
async fn a_redirect_is_refused_and_the_token_never_reaches_the_other_host() {
    const VAR: &str = "CAMET_TEST_BROKER_LIMITS_TOKEN";
    // SAFETY: set once, before any thread of this test reads it; no other test uses this name.
    unsafe { std::env::set_var(VAR, "s3cret-token") };
    let elsewhere = Server::start(answer(head("200 OK", "Content-Length: 2\r\n"), b"{}")).await;
    let location = format!("Location: {}\r\nContent-Length: 0\r\n", elsewhere.url());
    let server = Server::start(answer(head("302 Found", &location), b"")).await;
    let broker = broker_for(server.url(), Some(VAR));
    assert_eq!(fetch(&broker).await, Err(BrokerError::Status(302)));
    assert_eq!(server.hits(), 1, "asked once, not retried");
    assert_eq!(
        server.authorizations.lock().map(|a| a.clone()).unwrap_or_default(),
        vec!["Bearer s3cret-token".to_owned()],
        "the configured host got the token"
    );
    assert_eq!(elsewhere.hits(), 0, "the redirect target was never called");
}

#[tokio::test]
async fn an_answer_of_exactly_8_mib_passes_and_one_byte_more_is_refused() {
    assert_eq!(MAX_RESPONSE_BYTES, 8 * 1024 * 1024);
    // Streamed without a length (read until the server closes).
    let exact = Server::start(answer(head("200 OK", ""), &json_of_len(MAX_RESPONSE_BYTES))).await;
    let value = fetch(&broker_with_timeout(exact.url(), None, 8000))
        .await
        .expect("exactly 8 MiB");
    assert_eq!(value.as_str().map(str::len), Some(MAX_RESPONSE_BYTES - 2));
    let over = Server::start(answer(head("200 OK", ""), &json_of_len(MAX_RESPONSE_BYTES + 1))).await;
    assert_eq!(
        fetch(&broker_with_timeout(over.url(), None, 8000)).await,
        Err(BrokerError::InvalidJson)
    );
    assert_eq!(over.hits(), 1, "refused, not retried");
    // Announced by Content-Length: refused before reading (the server
    // sends only the head, so reading the body would stall to the timeout).
    let announced = Server::start(Behaviour::Stall(Arc::new(
        head("200 OK", &format!("Content-Length: {}\r\n", MAX_RESPONSE_BYTES + 1)).into_bytes(),
    )))
    .await;
    assert_eq!(
        fetch(&broker_for(announced.url(), None)).await,
        Err(BrokerError::InvalidJson)
    );
    assert_eq!(announced.hits(), 1);
}

#[tokio::test]
async fn a_body_that_stalls_half_way_ends_in_the_timeout_and_is_not_retried() {
    let server = Server::start(Behaviour::Stall(Arc::new(
        format!("{}{{\"values\": [1, 2,", head("200 OK", "Content-Length: 100\r\n")).into_bytes(),
    )))
    .await;
    let error = fetch(&broker_for(server.url(), None)).await.expect_err("stalled");
    assert_eq!(error, BrokerError::Timeout { after_ms: 300 });
    assert_eq!(server.hits(), 1, "a timeout is never retried");
}

#[tokio::test]
async fn only_a_failure_to_connect_is_retried() {
    // A connection cut before the body is complete: unreachable, once.
    let cut = Server::start(answer(head("200 OK", "Content-Length: 100\r\n"), b"{\"a\":")).await;
    assert_eq!(fetch(&broker_for(cut.url(), None)).await, Err(BrokerError::Unreachable));
    assert_eq!(cut.hits(), 1, "a broken answer is not retried");
    // A server error: its status, once.
    let failing = Server::start(answer(head("503 Service Unavailable", "Content-Length: 2\r\n"), b"{}")).await;
    assert_eq!(
        fetch(&broker_for(failing.url(), None)).await,
        Err(BrokerError::Status(503))
    );
    assert_eq!(failing.hits(), 1, "a status is not retried");
    // Not JSON: once.
    let garbage = Server::start(answer(head("200 OK", "Content-Length: 5\r\n"), b"hello")).await;
    assert_eq!(
        fetch(&broker_for(garbage.url(), None)).await,
        Err(BrokerError::InvalidJson)
    );
    assert_eq!(garbage.hits(), 1, "a bad body is not retried");
}
