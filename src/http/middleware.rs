//! Cross-cutting request handling: request ids, structured access logs,
//! security headers, body size limits, and the guarantee that every error
//! leaves as problem+json.

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::{HeaderValue, header};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

use crate::app::SharedState;
use crate::error::{AppError, DbFaultKind};
use crate::http::problem::{REQUEST_ID, ensure_problem, problem_response};
use crate::http::rate_limit;

/// Request body limit (contract: 1 MiB).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Body limit of detection ingest (contract: 8 MiB).
pub const INGEST_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Body read timeout when the app state is missing (it never is when serving).
const DEFAULT_BODY_READ_TIMEOUT_SECS: u64 = 30;

/// Header carrying the request id, in and out.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Content-Security-Policy that lets Swagger UI (same-origin scripts, inline
/// styles, data: images) work and nothing else.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                   script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/// A client-supplied id is kept when it is short and plain, so ids can be
/// followed across services; anything else is replaced.
fn request_id_from(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

fn body_limit_for(req: &Request) -> usize {
    let path = req.uri().path();
    if path.starts_with("/api/v1/lines/") && path.ends_with("/detections") {
        INGEST_BODY_LIMIT
    } else {
        BODY_LIMIT
    }
}

/// How much of an oversized body is still read (and thrown away) before the
/// 413 is sent: a client that is still uploading when the server answers and
/// closes would otherwise see a connection reset instead of the 413.
/// Anything larger is cut off at once.
const DRAIN_CAP: u64 = 32 * 1024 * 1024;

/// Reads the body up to the limit (whatever Content-Length claims), so an
/// oversized or lying request is a 413 before any handler parses it; a body
/// still incomplete after `timeout` is a 408 (slow-body defence).
async fn limit_body(mut req: Request, timeout: Duration) -> Result<Request, AppError> {
    use futures::StreamExt;

    let limit = body_limit_for(&req);
    let too_large = || AppError::PayloadTooLarge(format!("the request body exceeds the limit of {limit} bytes"));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_CAP) {
        return Err(too_large());
    }
    if declared == Some(0) || (declared.is_none() && !req.headers().contains_key(header::TRANSFER_ENCODING)) {
        return Ok(req);
    }
    let mut stream = req.take_body().into_bytes_stream();
    let mut kept = Vec::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    let mut seen: u64 = 0;
    let deadline = tokio::time::Instant::now() + timeout;
    let too_slow =
        || AppError::RequestTimeout(format!("the request body did not arrive within {}s", timeout.as_secs()));
    while let Some(chunk) = tokio::time::timeout_at(deadline, stream.next())
        .await
        .map_err(|_| too_slow())?
    {
        let chunk = chunk.map_err(|e| AppError::BadRequest(format!("could not read the request body: {e}")))?;
        seen += chunk.len() as u64;
        if seen > DRAIN_CAP {
            break;
        }
        if seen <= limit as u64 {
            kept.extend_from_slice(&chunk);
        }
    }
    if seen > limit as u64 {
        return Err(too_large());
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    if is_json {
        crate::http::strict_json::check_body(req.method().as_str(), req.uri().path(), &kept)?;
    }
    req.set_body(Body::from_bytes(kept.into()));
    Ok(req)
}

/// Limits every request per client IP, and refuses addresses that used up their failed
/// authentications, before any credential is looked at: a forged `Authorization` or `X-API-Key`
/// header must not buy a way around the address's budget, and a flood of guessed credentials stops
/// costing lookups. Valid credentials add their own per-key or per-user quota later
/// (`http::security`). Health probes are exempt so a load balancer never trips the limit.
async fn limit_by_address(state: &SharedState, req: &Request) -> Result<(), AppError> {
    let path = req.uri().path();
    if path.starts_with("/health") {
        return Ok(());
    }
    let info = crate::http::client_info(req, state);
    let Some(ip) = info.ip else { return Ok(()) };
    let refused = |retry: crate::http::rate_limit::RetryAfter, message: &str| AppError::RateLimited {
        message: message.into(),
        retry_after_secs: retry.seconds,
    };
    let (checked, standing) = state.limits.admit_ip(ip).await;
    rate_limit::note("address", standing);
    checked.map_err(|retry| refused(retry, "rate limit exceeded; retry later"))?;
    let headers = req.headers();
    let presents_credentials = headers.contains_key(header::AUTHORIZATION)
        || headers.contains_key("x-api-key")
        || path.starts_with("/api/v1/auth/");
    if presents_credentials && let (Err(retry), standing) = state.limits.admit_auth_failures(ip).await {
        rate_limit::note("auth-failures", standing);
        return Err(refused(retry, "too many failed authentications; retry later"));
    }
    Ok(())
}

/// Counts a failed authentication of the request's client address (see [`limit_by_address`]).
pub async fn record_auth_failure(state: &crate::app::AppState, req: &Request) {
    if let Some(ip) = crate::http::client_info(req, state).ip {
        state.limits.count_auth_failure(ip).await;
    }
}

fn set_security_headers(response: &mut Response, request_id: &str, hsts: bool) {
    let headers = response.headers_mut();
    if hsts {
        headers.insert(
            "strict-transport-security",
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
}

/// Runs the handler for at most `limit` (`CAMET_REQUEST_TIMEOUT_SECS`).
/// Past it the handler is dropped where it stands — the database
/// connections it held are closed, not pooled (see [`crate::db::bounded`]) —
/// and the client gets a 503 with `Retry-After`. An open transaction is
/// rolled back by the database when its connection closes, so nothing half
/// done stays; a write that committed just before the deadline stays
/// committed (clients retry with the same external ids).
async fn within_deadline(limit: Duration, handled: impl std::future::Future<Output = Response>) -> Response {
    match crate::db::bounded(limit, handled).await {
        Some(response) => response,
        None => problem_response(&AppError::db_fault(
            DbFaultKind::Timeout,
            format!("the request ran past its deadline of {} s", limit.as_secs()),
        )),
    }
}

/// The outermost middleware: gives the request an id (task-local, in the log
/// span and in the response), enforces the body limit, converts any error to
/// problem+json, sets the security headers and logs one line per request.
pub async fn request_context<E: Endpoint>(next: Arc<E>, req: Request) -> poem::Result<Response> {
    let request_id = request_id_from(&req);
    let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    let started = Instant::now();
    let state = req.data::<SharedState>().cloned();
    let hsts = state.as_ref().is_some_and(|s| s.config.auth.hsts);
    let work = async {
        if let Some(state) = &state
            && let Err(error) = limit_by_address(state, &req).await
        {
            return problem_response(&error);
        }
        let body_timeout = Duration::from_secs(
            state
                .as_ref()
                .map_or(DEFAULT_BODY_READ_TIMEOUT_SECS, |s| s.config.body_read_timeout_secs),
        );
        match limit_body(req, body_timeout).await {
            Ok(req) => {
                let handled = async { ensure_problem(next.call(req).await.map(IntoResponse::into_response)).await };
                match state.as_ref().map(|s| s.config.request_timeout_secs) {
                    Some(secs) => within_deadline(Duration::from_secs(secs), handled).await,
                    None => handled.await,
                }
            }
            Err(error) => problem_response(&error),
        }
    };
    let (mut response, quotas) =
        rate_limit::noting(REQUEST_ID.scope(request_id.clone(), work.instrument(span.clone()))).await;
    set_security_headers(&mut response, &request_id, hsts);
    if let Some((policy, state)) = rate_limit::header_values(&quotas)
        && let (Ok(policy), Ok(state)) = (HeaderValue::from_str(&policy), HeaderValue::from_str(&state))
    {
        response.headers_mut().insert("ratelimit-policy", policy);
        response.headers_mut().insert("ratelimit", state);
    }
    if response.status() == poem::http::StatusCode::SERVICE_UNAVAILABLE
        && !response.headers().contains_key(header::RETRY_AFTER)
    {
        // Readiness and any other 503: tell clients when to come back.
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(DbFaultKind::ConnectionLost.retry_after_secs()),
        );
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(state) = &state {
        state.metrics.observe(&method, &path, status, elapsed);
    }
    let elapsed_ms = elapsed * 1000.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, elapsed_ms, "request failed");
        } else {
            tracing::info!(status, elapsed_ms, "request finished");
        }
    });
    Ok(response)
}
