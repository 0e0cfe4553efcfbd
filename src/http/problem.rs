//! The one place where errors become HTTP responses: [`AppError`] →
//! status + `application/problem+json`. Handler results use [`ApiError`] so
//! the OpenAPI document lists the problem responses; errors raised outside
//! handlers (unknown route, wrong method, panics, body limits) are turned into
//! the same shape by [`ensure_problem`].

use poem::http::StatusCode;
use poem::web::Json as PoemJson;
use poem::{IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;

use crate::error::{AppError, Problem};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

tokio::task_local! {
    /// The id of the request being served, set by the request middleware.
    pub static REQUEST_ID: String;
}

/// The current request id, when serving a request.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Logs what the client must not see, and fills in the request id.
fn finish(error: &AppError) -> Problem {
    match error {
        AppError::Internal(cause) | AppError::Config(cause) => tracing::error!(%cause, "internal error"),
        AppError::DatabaseUnavailable(cause) => tracing::warn!(%cause, "database unavailable"),
        _ => {}
    }
    let mut problem = error.to_problem();
    problem.request_id = current_request_id();
    problem
}

/// Error responses of API operations, all `application/problem+json`.
#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ApiError {
    /// Malformed request: invalid JSON or a parameter of the wrong type.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing, invalid or expired credentials.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// Authenticated but not allowed.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// Unknown resource (or another tenant's).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// Conflict with existing data (duplicate code or username).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// Request body too large.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body's `Content-Type` is not one the operation reads (send
    /// `application/json`), or is missing.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// Well-formed but invalid; `errors` names each field.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Rate limited; retry after the given seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] String),
    /// Unexpected server error (logged with the request id).
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// A database is temporarily unavailable, the server is busy, or the
    /// request ran past its deadline; retry after the given seconds.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] String),
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        let problem = Json(finish(&error));
        match error {
            AppError::BadRequest(_) => ApiError::BadRequest(problem),
            AppError::Unauthorized(_) => ApiError::Unauthorized(problem),
            AppError::Forbidden(_) => ApiError::Forbidden(problem),
            AppError::NotFound(_) => ApiError::NotFound(problem),
            // Never raised by an operation (routing answers it), kept total.
            AppError::MethodNotAllowed(_) => ApiError::BadRequest(problem),
            AppError::Conflict(_) => ApiError::Conflict(problem),
            AppError::PayloadTooLarge(_) => ApiError::PayloadTooLarge(problem),
            // Never raised by an operation (the body is read before), kept total.
            AppError::RequestTimeout(_) => ApiError::BadRequest(problem),
            AppError::UnsupportedMediaType(_) => ApiError::UnsupportedMediaType(problem),
            AppError::Validation { .. } => ApiError::Unprocessable(problem),
            AppError::RateLimited { retry_after_secs, .. } => {
                ApiError::TooManyRequests(problem, retry_after_secs.to_string())
            }
            AppError::DatabaseUnavailable(fault) => {
                ApiError::Unavailable(problem, fault.kind.retry_after_secs().to_string())
            }
            AppError::Overloaded { retry_after_secs, .. } => {
                ApiError::Unavailable(problem, retry_after_secs.to_string())
            }
            AppError::Config(_) | AppError::Internal(_) => ApiError::Internal(problem),
        }
    }
}

/// Request parsing failures of poem-openapi. Syntax errors (bad JSON, a
/// number where a string belongs) are 400; a value that parsed but broke a
/// declared constraint (length, range, pattern) is a 422 naming the field.
fn from_request_error(error: poem::Error) -> ApiError {
    ApiError::from(app_error_from_poem(&error))
}

/// poem-openapi reports constraint failures as "field `name` verification failed".
fn violated_field(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("field `")?;
    let (field, rest) = rest.split_once('`')?;
    rest.contains("verification failed").then(|| field.to_owned())
}

/// `error` as a poem error raised by an extractor, carrying the [`AppError`]
/// itself so that [`app_error_from_poem`] gives it back unchanged: a refused
/// credential keeps its own detail and a 429 its `Retry-After`.
pub fn carry(error: AppError) -> poem::Error {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    poem::Error::new(error, status)
}

/// Classifies a poem error by status, keeping poem's message (which names the
/// parameter or the JSON position and holds no internal detail) for 4xx.
fn app_error_from_poem(error: &poem::Error) -> AppError {
    if let Some(carried) = error.downcast_ref::<AppError>() {
        return carried.clone();
    }
    let status = error.status();
    let message = error.to_string();
    match status {
        StatusCode::BAD_REQUEST => match violated_field(&message) {
            Some(field) => AppError::invalid_field(field, message),
            None => AppError::BadRequest(message),
        },
        StatusCode::UNAUTHORIZED => AppError::Unauthorized(
            "missing or malformed credentials: send `Authorization: Bearer <access token>` or `X-API-Key: <key>`"
                .into(),
        ),
        StatusCode::FORBIDDEN => AppError::Forbidden(message),
        StatusCode::NOT_FOUND => AppError::NotFound(message),
        StatusCode::METHOD_NOT_ALLOWED => AppError::MethodNotAllowed(message),
        StatusCode::PAYLOAD_TOO_LARGE => AppError::PayloadTooLarge(message),
        StatusCode::REQUEST_TIMEOUT => AppError::RequestTimeout(message),
        StatusCode::UNPROCESSABLE_ENTITY => AppError::invalid_field("body", message),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => AppError::UnsupportedMediaType(message),
        s if s.is_client_error() => AppError::BadRequest(message),
        _ => AppError::Internal(message),
    }
}

/// A problem+json response for `error`.
pub fn problem_response(error: &AppError) -> Response {
    let problem = finish(error);
    problem_to_response(problem, error)
}

fn problem_to_response(problem: Problem, error: &AppError) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = PoemJson(problem).with_status(status).into_response();
    response.headers_mut().insert(
        poem::http::header::CONTENT_TYPE,
        poem::http::HeaderValue::from_static(PROBLEM_JSON),
    );
    if let Some(retry_after_secs) = error.retry_after_secs()
        && let Ok(value) = poem::http::HeaderValue::from_str(&retry_after_secs.to_string())
    {
        response.headers_mut().insert(poem::http::header::RETRY_AFTER, value);
    }
    if let AppError::RequestTimeout(_) = error {
        // The rest of the body may still come, or never: do not wait for it.
        response.headers_mut().insert(
            poem::http::header::CONNECTION,
            poem::http::HeaderValue::from_static("close"),
        );
    }
    response
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON))
}

/// Makes sure an error leaves as problem+json, whatever produced it: route
/// not found, method not allowed, a panic, a poem extractor error.
pub async fn ensure_problem(result: poem::Result<Response>) -> Response {
    let response = match result {
        Ok(response) => response,
        Err(error) if error.is_from_response() => error.into_response(),
        Err(error) => return problem_response(&app_error_from_poem(&error)),
    };
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(&response) {
        return response;
    }
    let error = match status {
        StatusCode::NOT_FOUND => AppError::NotFound("no such resource".into()),
        StatusCode::METHOD_NOT_ALLOWED => {
            AppError::MethodNotAllowed("this method is not allowed on this resource".into())
        }
        s if s.is_server_error() => AppError::Internal(format!("{status} response without a problem body")),
        _ => {
            let body = response.into_body().into_string().await.unwrap_or_default();
            app_error_from_poem(&poem::Error::from_string(body, status))
        }
    };
    problem_response(&error)
}
