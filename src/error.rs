//! The crate's one error type, [`AppError`], and the single place that maps it
//! to an HTTP status and an RFC 9457 problem+json body.
//!
//! Internal details (SQL, paths, driver messages) are logged with the request
//! id and never sent to the client.

use serde::Serialize;

/// Result alias used across the crate.
pub type AppResult<T> = Result<T, AppError>;

/// One invalid field of a request, as listed in a 422 problem's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, poem_openapi::Object)]
pub struct FieldError {
    /// The field, as named in the request (e.g. `start_date`, `items[3].area_id`).
    pub field: String,
    /// What is wrong with it, in plain words.
    pub message: String,
}

impl FieldError {
    /// A field error from anything printable.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything that can go wrong while serving a request or running a command.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppError {
    /// The request body or a parameter could not be parsed (malformed JSON, wrong type).
    #[error("{0}")]
    BadRequest(String),
    /// Missing, invalid or expired credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// Unknown resource, or one that belongs to another tenant.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not with this HTTP method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A uniqueness or state conflict (duplicate code or username).
    #[error("{0}")]
    Conflict(String),
    /// The body exceeds the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request body did not arrive within the body read timeout.
    #[error("{0}")]
    RequestTimeout(String),
    /// The request body's `Content-Type` is not one the operation reads
    /// (or is missing).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed but invalid input; each bad field is named.
    #[error("{message}")]
    Validation {
        /// Summary for `detail`.
        message: String,
        /// The fields at fault.
        errors: Vec<FieldError>,
    },
    /// Too many requests; the client may retry after this many seconds.
    #[error("{message}")]
    RateLimited {
        /// Summary for `detail`.
        message: String,
        /// Seconds until a retry can succeed (the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// The server is too busy for this request right now (e.g. every
    /// password-hashing slot is taken); the client may retry after this many seconds.
    #[error("{message}")]
    Overloaded {
        /// Summary for `detail`.
        message: String,
        /// Seconds until a retry may succeed (the `Retry-After` header).
        retry_after_secs: u64,
    },
    /// A transient database fault (connection lost, timeout, lock
    /// contention): a 503 with `Retry-After`; the server keeps running.
    #[error("database unavailable: {0}")]
    DatabaseUnavailable(DbFault),
    /// Invalid configuration, named by its variable (startup only).
    #[error("{0}")]
    Config(String),
    /// Anything else: a bug or an unexpected failure. Never shown to clients.
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// A transient database fault of `kind`; `cause` is only logged.
    pub fn db_fault(kind: DbFaultKind, cause: impl std::fmt::Display) -> Self {
        AppError::DatabaseUnavailable(DbFault {
            kind,
            cause: cause.to_string(),
        })
    }

    /// The kind of database fault, when this is one.
    pub fn db_fault_kind(&self) -> Option<DbFaultKind> {
        match self {
            AppError::DatabaseUnavailable(fault) => Some(fault.kind),
            _ => None,
        }
    }

    /// True for lock contention worth another attempt of the whole
    /// transaction: a deadlock victim, a lock wait timeout, SQLite's busy
    /// database. The transaction was rolled back, so running it again is safe.
    pub fn is_lock_contention(&self) -> bool {
        self.db_fault_kind() == Some(DbFaultKind::Contention)
    }

    /// Seconds a client should wait before retrying (`Retry-After`), for the
    /// errors that have one.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            AppError::RateLimited { retry_after_secs, .. } | AppError::Overloaded { retry_after_secs, .. } => {
                Some(*retry_after_secs)
            }
            AppError::DatabaseUnavailable(fault) => Some(fault.kind.retry_after_secs()),
            _ => None,
        }
    }

    /// A 422 with a single field error.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        AppError::Validation {
            message: format!("{}: {}", error.field, error.message),
            errors: vec![error],
        }
    }

    /// A 422 with several field errors (at least one).
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let message = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        AppError::Validation { message, errors }
    }

    /// An internal error from anything printable; logged, never shown.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        AppError::Internal(error.to_string())
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::MethodNotAllowed(_) => 405,
            AppError::Conflict(_) => 409,
            AppError::PayloadTooLarge(_) => 413,
            AppError::RequestTimeout(_) => 408,
            AppError::UnsupportedMediaType(_) => 415,
            AppError::Validation { .. } => 422,
            AppError::RateLimited { .. } => 429,
            AppError::DatabaseUnavailable(_) | AppError::Overloaded { .. } => 503,
            AppError::Config(_) | AppError::Internal(_) => 500,
        }
    }

    /// The problem+json body for this error. Internal and database errors get a
    /// generic `detail`; their real cause is only logged.
    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let (slug, detail) = match self {
            AppError::BadRequest(m) => ("bad-request", m.clone()),
            AppError::Unauthorized(m) => ("unauthorized", m.clone()),
            AppError::Forbidden(m) => ("forbidden", m.clone()),
            AppError::NotFound(m) => ("not-found", m.clone()),
            AppError::MethodNotAllowed(m) => ("method-not-allowed", m.clone()),
            AppError::Conflict(m) => ("conflict", m.clone()),
            AppError::PayloadTooLarge(m) => ("payload-too-large", m.clone()),
            AppError::RequestTimeout(m) => ("request-timeout", m.clone()),
            AppError::UnsupportedMediaType(m) => ("unsupported-media-type", m.clone()),
            AppError::Validation { message, .. } => ("validation-error", message.clone()),
            AppError::RateLimited { message, .. } => ("rate-limited", message.clone()),
            AppError::Overloaded { message, .. } => ("overloaded", message.clone()),
            AppError::DatabaseUnavailable(fault) => (
                "database-unavailable",
                match fault.kind {
                    DbFaultKind::Timeout => "The database did not answer in time; retry shortly.",
                    DbFaultKind::ConnectionLost | DbFaultKind::Contention => {
                        "A database is temporarily unavailable; retry shortly."
                    }
                }
                .to_owned(),
            ),
            AppError::Config(_) | AppError::Internal(_) => (
                "internal-error",
                "An unexpected error occurred; it has been logged with the request id.".to_owned(),
            ),
        };
        let mut problem = Problem::new(status, slug, detail);
        if let AppError::Validation { errors, .. } = self {
            problem.errors = Some(errors.clone());
        }
        problem
    }
}

/// An RFC 9457 problem details body (`application/problem+json`).
#[derive(Debug, Clone, Serialize, poem_openapi::Object)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:camet:problem:<kind>`).
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short, human summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this request, in plain words.
    pub detail: String,
    /// The `X-Request-Id` of the request, to quote when reporting a problem.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// For validation errors (422): every invalid field.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// For readiness failures (503): the state of each checked part.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<std::collections::BTreeMap<String, String>>,
}

impl Problem {
    /// A problem of the given status, kind slug and detail.
    pub fn new(status: u16, slug: &str, detail: impl Into<String>) -> Self {
        let title = poem::http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error")
            .to_owned();
        Problem {
            problem_type: format!("urn:camet:problem:{slug}"),
            title,
            status,
            detail: detail.into(),
            request_id: None,
            errors: None,
            checks: None,
        }
    }
}

impl From<crate::analytics::error::AnalyticsError> for FieldError {
    fn from(error: crate::analytics::error::AnalyticsError) -> Self {
        FieldError::new(error.field(), error.to_string())
    }
}

/// Every failing field of a parsed request (e.g. both range bounds) in one 422.
impl From<Vec<crate::analytics::error::AnalyticsError>> for AppError {
    fn from(errors: Vec<crate::analytics::error::AnalyticsError>) -> Self {
        AppError::invalid_fields(errors.into_iter().map(FieldError::from).collect())
    }
}

impl From<diesel::result::Error> for AppError {
    /// Constraint violations become 409/422; transient faults (by the
    /// driver's kind and error number, see [`crate::db::fault`]) a 503;
    /// anything else an internal error. The driver's message is kept for the log.
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        if let Some(kind) = crate::db::fault::classify(&error) {
            return AppError::db_fault(kind, error);
        }
        match &error {
            Error::NotFound => AppError::NotFound("resource not found".to_owned()),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => AppError::Conflict(format!(
                "a record with the same unique value already exists ({})",
                info.message()
            )),
            Error::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                AppError::invalid_field("reference", "refers to a record that does not exist")
            }
            _ => AppError::Internal(format!("database error: {error}")),
        }
    }
}

impl From<diesel::ConnectionError> for AppError {
    fn from(error: diesel::ConnectionError) -> Self {
        AppError::db_fault(DbFaultKind::ConnectionLost, error)
    }
}

impl From<deadpool::managed::PoolError<diesel_async::pooled_connection::PoolError>> for AppError {
    fn from(error: deadpool::managed::PoolError<diesel_async::pooled_connection::PoolError>) -> Self {
        use deadpool::managed::PoolError;
        use diesel_async::pooled_connection::PoolError as Backend;
        let kind = match &error {
            PoolError::Timeout(_) => DbFaultKind::Timeout,
            PoolError::Backend(Backend::QueryError(query)) => {
                crate::db::fault::classify(query).unwrap_or(DbFaultKind::ConnectionLost)
            }
            PoolError::Backend(Backend::ConnectionError(_))
            | PoolError::Closed
            | PoolError::NoRuntimeSpecified
            | PoolError::PostCreateHook(_) => DbFaultKind::ConnectionLost,
        };
        AppError::db_fault(kind, error)
    }
}

/// What kind of transient fault a database had. Decided from the driver's
/// error kind and number, never from message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFaultKind {
    /// The connection was closed, killed or lost, or none could be opened.
    ConnectionLost,
    /// A statement, a connection wait or the request's deadline ran out.
    Timeout,
    /// A deadlock victim or a lock wait timeout (SQLite: the database is busy).
    Contention,
}

impl DbFaultKind {
    /// The `Retry-After` a client gets for this kind of fault.
    pub fn retry_after_secs(self) -> u64 {
        match self {
            DbFaultKind::Contention => 1,
            DbFaultKind::ConnectionLost | DbFaultKind::Timeout => 5,
        }
    }
}

impl std::fmt::Display for DbFaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DbFaultKind::ConnectionLost => "connection lost",
            DbFaultKind::Timeout => "timeout",
            DbFaultKind::Contention => "lock contention",
        })
    }
}

/// A transient database fault: its kind decides the answer, its cause (the
/// driver's message) goes to the log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbFault {
    /// What happened.
    pub kind: DbFaultKind,
    /// The driver's description, for the log.
    pub cause: String,
}

impl std::fmt::Display for DbFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.cause)
    }
}
