//! Transport manners on both backends: 405 answers name the allowed methods,
//! and slow or stalled clients (slowloris) lose their connection within the
//! configured header and body read timeouts while others are served.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{TestApp, backends, expect_problem};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_methods_answer_405_with_an_allow_header_listing_the_routes_methods() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let cases = [
            (reqwest::Method::POST, "/health", "GET, HEAD"),
            (reqwest::Method::DELETE, "/api/v1/auth/login", "POST"),
            (reqwest::Method::PATCH, "/api/v1/users/5", "GET, HEAD, PUT, DELETE"),
            (reqwest::Method::POST, "/api/v1/downtime/3/events", "GET, HEAD"),
            (reqwest::Method::GET, "/api/v1/lines/3/detections", "POST"),
        ];
        for (method, path, allow) in cases {
            let response = app
                .client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .expect("request");
            let header = response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            assert_eq!(header.as_deref(), Some(allow), "{backend:?} {method} {path}");
            let body = expect_problem(response, 405).await;
            assert_eq!(
                body["type"], "urn:camet:problem:method-not-allowed",
                "{backend:?} {path}"
            );
        }
        app.stop().await;
    }
}

/// How long a stalled connection may stay open beyond its timeout (generous:
/// the machine is shared and busy).
const MARGIN: Duration = Duration::from_secs(5);

/// Reads until the server closes the connection, at most `bound`; returns
/// what the server sent, or `None` when it was still open at the bound.
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(bound, read_all).await.ok()?;
    Some(String::from_utf8_lossy(&received).into_owned())
}

async fn connect_and_send(app: &TestApp, bytes: &[u8]) -> TcpStream {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    if !bytes.is_empty() {
        stream.write_all(bytes).await.expect("send");
    }
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_heads_and_bodies_lose_their_connection_while_others_are_served() {
    for backend in backends() {
        let app = TestApp::start_with(
            backend,
            &[
                ("CAMET_HEADER_READ_TIMEOUT_SECS", "1"),
                ("CAMET_BODY_READ_TIMEOUT_SECS", "2"),
            ],
        )
        .await;
        let header_bound = Duration::from_secs(1) + MARGIN;
        let body_bound = Duration::from_secs(2) + MARGIN;

        let mut silent = connect_and_send(&app, b"").await;
        let mut half_line = connect_and_send(&app, b"GET /health HTT").await;
        let mut blank_lines = connect_and_send(&app, b"\r\n\r\n\n\n").await;
        let mut half_headers = connect_and_send(&app, b"GET /health HTTP/1.1\r\nHost: camet\r\nX-Slow: ").await;
        let mut half_body = connect_and_send(
            &app,
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: camet\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username\": \"sl",
        )
        .await;

        // Meanwhile, others are served.
        let health = app.get("/health").await;
        assert_eq!(health.status(), 200, "{backend:?}");

        // A client trickling a header byte every 200 ms never completes its
        // head: activity does not extend the deadline (at most 60 bytes, 12 s).
        let mut trickle = connect_and_send(&app, b"GET /health HTTP/1.1\r\nHost: camet\r\nX-Trickle: ").await;
        let mut trickle_closed = false;
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if trickle.write_all(b"a").await.is_err() {
                trickle_closed = true;
                break;
            }
        }
        assert!(
            trickle_closed,
            "{backend:?}: a trickling head kept its connection for 12 s"
        );

        for (name, stream) in [
            ("silent", &mut silent),
            ("half request line", &mut half_line),
            ("blank lines only", &mut blank_lines),
            ("half headers", &mut half_headers),
        ] {
            let answer = read_until_closed(stream, header_bound).await;
            assert!(
                answer.is_some(),
                "{backend:?}: the {name} connection was still open {header_bound:?} after connecting"
            );
        }
        let answer = read_until_closed(&mut half_body, body_bound).await;
        let answer = answer.unwrap_or_else(|| panic!("{backend:?}: a stalled body kept its connection"));
        assert!(answer.starts_with("HTTP/1.1 408"), "{backend:?}: {answer}");
        assert!(answer.contains("application/problem+json"), "{backend:?}: {answer}");

        // A complete request on a fresh connection is still served, and a
        // whole request sent at once is untouched by the deadlines.
        let mut complete = connect_and_send(
            &app,
            b"GET /health HTTP/1.1\r\nHost: camet\r\nConnection: close\r\n\r\n",
        )
        .await;
        let answer = read_until_closed(&mut complete, header_bound).await.unwrap_or_default();
        assert!(answer.starts_with("HTTP/1.1 200"), "{backend:?}: {answer}");
        let health = app.get("/health").await;
        assert_eq!(health.status(), 200, "{backend:?}");
        app.stop().await;
    }
}
