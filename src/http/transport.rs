//! Manners of the connection below the API: a deadline on reading each
//! request head (slowloris), and the `Allow` header of 405 answers.
//!
//! poem 3.1 builds hyper's connection itself and gives hyper no timer, so
//! hyper's own `header_read_timeout` never runs, and poem's `idle_timeout`
//! is reset by every byte (a client trickling one byte a second keeps it
//! alive). [`DeadlineAcceptor`] wraps the TCP acceptor instead: each
//! connection must deliver a complete request head (up to its empty line)
//! within the header timeout, counted from the accept and, on keep-alive
//! connections, from the last byte of the previous response (so a long
//! response such as an event stream keeps its connection while it writes). A connection
//! that misses it is closed. The body deadline is enforced where the body is
//! read (`http::middleware`), which can still answer 408.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use poem::{Endpoint, IntoResponse, Request, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::http::routes::{OPENAPI, PathTemplate, most_specific};

/// An acceptor whose connections must send each request head within `header_timeout`.
pub struct DeadlineAcceptor<A> {
    inner: A,
    header_timeout: Duration,
}

impl<A> DeadlineAcceptor<A> {
    /// Wraps `inner`.
    pub fn new(inner: A, header_timeout: Duration) -> Self {
        Self { inner, header_timeout }
    }
}

impl<A: Acceptor> Acceptor for DeadlineAcceptor<A> {
    type Io = HeadDeadline<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((HeadDeadline::new(io, self.header_timeout), local, remote, scheme))
    }
}

/// The start of the HTTP/2 prior-knowledge preface: binary framing follows,
/// which has no head to time.
const H2_PREFACE: &[u8; 4] = b"PRI ";

/// Where the connection is, as seen from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request head: whether any of it (other than the empty
    /// lines a client may send first) has arrived, and how many line feeds
    /// end what has (carriage returns between them ignored).
    Head { started: bool, newlines: usize },
    /// The head arrived: the body (timed by the middleware) and the handler run.
    Request,
    /// HTTP/2 prior knowledge: no head deadline.
    Passthrough,
}

/// A connection whose request heads must arrive before a deadline.
pub struct HeadDeadline<T> {
    inner: T,
    timeout: Duration,
    phase: Phase,
    /// The first bytes of the connection, to recognise HTTP/2.
    prefix: [u8; 4],
    prefix_len: usize,
    deadline: Pin<Box<Sleep>>,
}

impl<T> HeadDeadline<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            phase: Phase::Head {
                started: false,
                newlines: 0,
            },
            prefix: [0; 4],
            prefix_len: 0,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    /// Follows the bytes just read: recognises HTTP/2 and the end of a head.
    fn observe(&mut self, bytes: &[u8]) {
        if self.prefix_len < self.prefix.len() {
            let take = (self.prefix.len() - self.prefix_len).min(bytes.len());
            self.prefix[self.prefix_len..self.prefix_len + take].copy_from_slice(&bytes[..take]);
            self.prefix_len += take;
            if &self.prefix == H2_PREFACE {
                self.phase = Phase::Passthrough;
                return;
            }
        }
        if let Phase::Head {
            mut started,
            mut newlines,
        } = self.phase
        {
            // A head ends with an empty line: two line feeds with at most
            // carriage returns between them (`\r\n\r\n`, or the bare `\n\n`
            // that parsers also accept).
            for &byte in bytes {
                match byte {
                    b'\n' if started => newlines += 1,
                    b'\n' | b'\r' => {}
                    _ => {
                        started = true;
                        newlines = 0;
                    }
                }
                if newlines == 2 {
                    self.phase = Phase::Request;
                    return;
                }
            }
            self.phase = Phase::Head { started, newlines };
        }
    }

    /// After a response byte went out, the next head is awaited afresh,
    /// counted from the last byte of the response: a response that goes on
    /// (an event stream's frames and heartbeats) keeps pushing the deadline
    /// until the client starts sending its next head.
    fn rearm(&mut self) {
        let at = Instant::now() + self.timeout;
        match self.phase {
            Phase::Request => {
                self.phase = Phase::Head {
                    started: false,
                    newlines: 0,
                };
                self.deadline.as_mut().reset(at);
            }
            Phase::Head { started: false, .. } => self.deadline.as_mut().reset(at),
            _ => {}
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "request head not received in time")
}

impl<T: AsyncRead + Unpin> AsyncRead for HeadDeadline<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let waiting_for_head = matches!(this.phase, Phase::Head { .. });
        // A head that is still incomplete at the deadline closes the
        // connection, however many bytes trickle in.
        if waiting_for_head && this.deadline.as_mut().poll(cx).is_ready() {
            tracing::debug!("closing a connection whose request head was not received in time");
            return Poll::Ready(Err(timed_out()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.observe(&buf.filled()[before..]);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for HeadDeadline<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.rearm();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.rearm();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One path template of the API (`/api/v1/users/{user_id}`) and its methods.
struct RouteMethods {
    template: PathTemplate,
    allow: String,
}

/// The API's routes and methods, read once from its own OpenAPI document,
/// so the `Allow` header can never disagree with the routes.
static ROUTES: LazyLock<Vec<RouteMethods>> = LazyLock::new(|| {
    let Some(paths) = OPENAPI.get("paths").and_then(|p| p.as_object()) else {
        return Vec::new();
    };
    paths
        .iter()
        .map(|(template, operations)| {
            let mut methods: Vec<String> = operations
                .as_object()
                .map(|ops| ops.keys().map(|m| m.to_ascii_uppercase()).collect())
                .unwrap_or_default();
            // poem answers HEAD wherever GET is served.
            if methods.iter().any(|m| m == "GET") {
                methods.push("HEAD".to_owned());
            }
            let order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
            methods.sort_by_key(|m| order.iter().position(|o| o == m).unwrap_or(order.len()));
            RouteMethods {
                template: PathTemplate::parse(template),
                allow: methods.join(", "),
            }
        })
        .collect()
});

/// The methods the route matching `path` accepts, as an `Allow` value.
/// Like the router, a literal segment beats a parameter.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    most_specific(ROUTES.iter(), path, |route| &route.template).map(|route| route.allow.as_str())
}

/// Adds `Allow` to every 405 answer (RFC 9110 §15.5.6 requires it).
pub async fn allow_on_405<E: Endpoint>(next: std::sync::Arc<E>, req: Request) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let mut response = next.call(req).await?.into_response();
    if response.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(poem::http::header::ALLOW)
        && let Some(allow) = allowed_methods(&path)
    {
        response
            .headers_mut()
            .insert(poem::http::header::ALLOW, poem::http::HeaderValue::from_static(allow));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_the_methods_of_the_most_literal_route() {
        assert_eq!(allowed_methods("/api/v1/auth/login"), Some("POST"));
        assert_eq!(allowed_methods("/api/v1/users/7"), Some("GET, HEAD, PUT, DELETE"));
        assert_eq!(allowed_methods("/api/v1/downtime/3/events"), Some("GET, HEAD"));
        assert_eq!(allowed_methods("/api/v1/downtime/3/9"), Some("PUT"));
        assert_eq!(allowed_methods("/api/v1/nope"), None);
    }

    #[tokio::test]
    async fn the_end_of_a_head_is_found_across_reads() {
        let mut conn = HeadDeadline::new((), Duration::from_secs(1));
        conn.observe(b"GET / HTTP/1.1\r\nHost: x\r\n\r");
        assert_eq!(
            conn.phase,
            Phase::Head {
                started: true,
                newlines: 1
            }
        );
        conn.observe(b"\n");
        assert_eq!(conn.phase, Phase::Request);
        let mut bare = HeadDeadline::new((), Duration::from_secs(1));
        bare.observe(b"GET / HTTP/1.1\nHost: x\n");
        assert_eq!(
            bare.phase,
            Phase::Head {
                started: true,
                newlines: 1
            }
        );
        // Empty lines before a request do not end a head that never started.
        let mut blank = HeadDeadline::new((), Duration::from_secs(1));
        blank.observe(b"\r\n\r\n\n\n");
        assert_eq!(
            blank.phase,
            Phase::Head {
                started: false,
                newlines: 0
            }
        );
        bare.observe(b"\n");
        assert_eq!(bare.phase, Phase::Request);
        let mut h2 = HeadDeadline::new((), Duration::from_secs(1));
        h2.observe(b"PR");
        h2.observe(b"I * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        assert_eq!(h2.phase, Phase::Passthrough);
    }
}
