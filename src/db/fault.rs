//! Classifies database errors into transient fault kinds from the driver's
//! codes, never from message text:
//!
//! - diesel's [`DatabaseErrorKind`]: `ClosedConnection` / `UnableToSendCommand`
//!   (connection lost), `SerializationFailure` (SQLSTATE 40001: deadlock victim);
//! - the MySQL/MariaDB error number that the patched diesel-async
//!   (`vendor/diesel-async`, see `vendor/README.md`) keeps in
//!   `details()` as `mysql-errno:<n>`: 1205 lock wait timeout, 1213 deadlock,
//!   1969 (MariaDB `max_statement_time`) / 3024 (MySQL `max_execution_time`) /
//!   1317 (interrupted) statement timeouts, 1053 / 1927 (`KILL CONNECTION`) /
//!   2006 / 2013 / socket I/O lost connections, 1040 / 1203 too many connections;
//! - SQLite's result codes `SQLITE_BUSY`, `SQLITE_LOCKED` and
//!   `SQLITE_INTERRUPT`. diesel drops the code of a SQLite error and keeps
//!   only `sqlite3_errmsg`, which for these codes is exactly SQLite's own
//!   `sqlite3_errstr(code)`: the error is matched against that table entry,
//!   in full, as a lookup of the code (not a search in free text).
//!
//! Constraint violations and everything else are not faults: the caller maps
//! them to 409/422 or to an internal error.

use std::ffi::CStr;
use std::sync::OnceLock;

use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error};

use crate::error::DbFaultKind;

/// The transient fault kind of `error`, or `None` when it is not one.
pub fn classify(error: &Error) -> Option<DbFaultKind> {
    match error {
        Error::DatabaseError(kind, info) => match kind {
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => {
                Some(DbFaultKind::ConnectionLost)
            }
            DatabaseErrorKind::SerializationFailure => Some(DbFaultKind::Contention),
            DatabaseErrorKind::Unknown => mysql_errno(info.as_ref())
                .and_then(mysql_kind)
                .or_else(|| sqlite_kind(info.as_ref())),
            _ => None,
        },
        // A commit that failed and then could not be rolled back: the commit's
        // error says what happened.
        Error::RollbackErrorOnCommit { commit_error, .. } => classify(commit_error),
        _ => None,
    }
}

/// What the patched MySQL driver reports in `details()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MysqlErrno {
    /// A server error number.
    Server(u16),
    /// An I/O error on the socket, or the driver found it closed.
    Socket,
}

fn mysql_errno(info: &(dyn DatabaseErrorInformation + Send + Sync)) -> Option<MysqlErrno> {
    let code = info.details()?.strip_prefix(diesel_async::MYSQL_ERRNO_PREFIX)?;
    match code {
        "io" | "closed" => Some(MysqlErrno::Socket),
        number => number.parse().ok().map(MysqlErrno::Server),
    }
}

fn mysql_kind(errno: MysqlErrno) -> Option<DbFaultKind> {
    match errno {
        MysqlErrno::Socket => Some(DbFaultKind::ConnectionLost),
        MysqlErrno::Server(code) => match code {
            // ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK
            1205 | 1213 => Some(DbFaultKind::Contention),
            // ER_STATEMENT_TIMEOUT (MariaDB), ER_QUERY_TIMEOUT (MySQL), ER_QUERY_INTERRUPTED
            1969 | 3024 | 1317 => Some(DbFaultKind::Timeout),
            // ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED, CR_SERVER_GONE_ERROR,
            // CR_SERVER_LOST, ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS
            1053 | 1927 | 2006 | 2013 | 1040 | 1203 => Some(DbFaultKind::ConnectionLost),
            _ => None,
        },
    }
}

/// SQLite's fixed text for a primary result code (`sqlite3_errstr`).
fn sqlite_errstr(code: i32) -> &'static str {
    // SAFETY: sqlite3_errstr returns a pointer to a static, NUL-terminated
    // English string for any code (unknown codes get "unknown error"); it
    // needs no open connection and is thread-safe.
    let text = unsafe { CStr::from_ptr(libsqlite3_sys::sqlite3_errstr(code)) };
    text.to_str().unwrap_or("")
}

fn sqlite_kind(info: &(dyn DatabaseErrorInformation + Send + Sync)) -> Option<DbFaultKind> {
    static TABLE: OnceLock<Vec<(&'static str, DbFaultKind)>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        [
            (libsqlite3_sys::SQLITE_BUSY, DbFaultKind::Contention),
            (libsqlite3_sys::SQLITE_LOCKED, DbFaultKind::Contention),
            (libsqlite3_sys::SQLITE_INTERRUPT, DbFaultKind::Timeout),
        ]
        .into_iter()
        .map(|(code, kind)| (sqlite_errstr(code), kind))
        .filter(|(text, _)| !text.is_empty())
        .collect()
    });
    if info.details().is_some() {
        return None;
    }
    table
        .iter()
        .find(|(text, _)| *text == info.message())
        .map(|(_, kind)| *kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Info {
        message: String,
        details: Option<String>,
    }

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            &self.message
        }
        fn details(&self) -> Option<&str> {
            self.details.as_deref()
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            None
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn error(kind: DatabaseErrorKind, message: &str, details: Option<&str>) -> Error {
        Error::DatabaseError(
            kind,
            Box::new(Info {
                message: message.to_owned(),
                details: details.map(str::to_owned),
            }),
        )
    }

    fn mysql(code: &str, message: &str) -> Error {
        error(
            DatabaseErrorKind::Unknown,
            message,
            Some(&format!("{}{code}", diesel_async::MYSQL_ERRNO_PREFIX)),
        )
    }

    #[test]
    fn mysql_error_numbers_decide_the_kind_whatever_the_message_says() {
        let cases = [
            ("1205", Some(DbFaultKind::Contention)),
            ("1213", Some(DbFaultKind::Contention)),
            ("1969", Some(DbFaultKind::Timeout)),
            ("3024", Some(DbFaultKind::Timeout)),
            ("1927", Some(DbFaultKind::ConnectionLost)),
            ("2013", Some(DbFaultKind::ConnectionLost)),
            ("io", Some(DbFaultKind::ConnectionLost)),
            ("closed", Some(DbFaultKind::ConnectionLost)),
            ("1064", None),
            ("1146", None),
        ];
        for (code, expected) in cases {
            // The message is deliberately misleading: only the number counts.
            assert_eq!(
                classify(&mysql(code, "deadlock found; lost connection")),
                expected,
                "{code}"
            );
        }
    }

    #[test]
    fn messages_alone_classify_nothing() {
        for text in [
            "Deadlock found when trying to get lock",
            "Lost connection to server",
            "io error",
        ] {
            assert_eq!(classify(&error(DatabaseErrorKind::Unknown, text, None)), None, "{text}");
        }
    }

    #[test]
    fn diesel_kinds_classify_without_a_number() {
        assert_eq!(
            classify(&error(DatabaseErrorKind::ClosedConnection, "x", None)),
            Some(DbFaultKind::ConnectionLost)
        );
        assert_eq!(
            classify(&error(DatabaseErrorKind::SerializationFailure, "x", None)),
            Some(DbFaultKind::Contention)
        );
        assert_eq!(classify(&error(DatabaseErrorKind::UniqueViolation, "x", None)), None);
        assert_eq!(classify(&Error::NotFound), None);
    }

    #[test]
    fn sqlite_busy_and_locked_are_contention_by_their_result_code() {
        let busy = sqlite_errstr(libsqlite3_sys::SQLITE_BUSY);
        assert!(!busy.is_empty());
        assert_eq!(
            classify(&error(DatabaseErrorKind::Unknown, busy, None)),
            Some(DbFaultKind::Contention)
        );
        let locked = sqlite_errstr(libsqlite3_sys::SQLITE_LOCKED);
        assert_eq!(
            classify(&error(DatabaseErrorKind::Unknown, locked, None)),
            Some(DbFaultKind::Contention)
        );
        // A longer text that merely mentions it is not the code's entry.
        let longer = format!("{busy} (while doing something)");
        assert_eq!(classify(&error(DatabaseErrorKind::Unknown, &longer, None)), None);
    }
}
