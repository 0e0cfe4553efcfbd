// Camet patch (see vendor/README.md): the upstream helper turned every
// non-constraint MySQL error into `DatabaseErrorKind::Unknown` carrying only
// the message text, so callers could not tell a lost connection or a
// deadlock from a bug without matching that text. This version keeps the
// driver's error number and maps connection loss and SQLSTATE 40001 to
// diesel's own kinds.
use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind};
use diesel::ConnectionError;
use mysql_async::{DriverError, Error};

pub(super) struct ErrorHelper(pub(super) Error);

/// The prefix of [`DatabaseErrorInformation::details`] for errors produced by
/// this connection: `mysql-errno:<number>` for server errors (e.g. 1213,
/// 1205, 1969, 3024, 1927), `mysql-errno:io` for I/O errors on the socket,
/// `mysql-errno:closed` when the driver found the connection closed.
pub const MYSQL_ERRNO_PREFIX: &str = "mysql-errno:";

/// The error information of a MySQL error: the message plus its error number.
#[derive(Debug)]
struct MysqlErrorInformation {
    message: String,
    errno: String,
}

impl DatabaseErrorInformation for MysqlErrorInformation {
    fn message(&self) -> &str {
        &self.message
    }
    fn details(&self) -> Option<&str> {
        Some(&self.errno)
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

fn info(message: String, errno: impl std::fmt::Display) -> Box<MysqlErrorInformation> {
    Box::new(MysqlErrorInformation {
        message,
        errno: format!("{MYSQL_ERRNO_PREFIX}{errno}"),
    })
}

impl From<ErrorHelper> for diesel::result::Error {
    fn from(ErrorHelper(e): ErrorHelper) -> Self {
        match e {
            Error::Server(e) => {
                let kind = match e.code {
                    1062 | 1586 | 1859 => DatabaseErrorKind::UniqueViolation,
                    1216 | 1217 | 1451 | 1452 | 1830 | 1834 => {
                        DatabaseErrorKind::ForeignKeyViolation
                    }
                    1792 => DatabaseErrorKind::ReadOnlyTransaction,
                    1048 | 1364 => DatabaseErrorKind::NotNullViolation,
                    3819 => DatabaseErrorKind::CheckViolation,
                    // ER_LOCK_DEADLOCK: SQLSTATE 40001, the transaction was rolled back.
                    1213 => DatabaseErrorKind::SerializationFailure,
                    // Server shutdown, connection killed, server gone away, lost connection.
                    1053 | 1927 | 2006 | 2013 => DatabaseErrorKind::ClosedConnection,
                    _ => DatabaseErrorKind::Unknown,
                };
                diesel::result::Error::DatabaseError(kind, info(e.message, e.code))
            }
            Error::Io(e) => diesel::result::Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection,
                info(e.to_string(), "io"),
            ),
            Error::Driver(DriverError::ConnectionClosed) => diesel::result::Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection,
                info(DriverError::ConnectionClosed.to_string(), "closed"),
            ),
            e => diesel::result::Error::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new(e.to_string()) as _,
            ),
        }
    }
}

impl From<ErrorHelper> for diesel::result::ConnectionError {
    fn from(ErrorHelper(e): ErrorHelper) -> Self {
        match e {
            Error::Driver(e) => ConnectionError::BadConnection(e.to_string()),
            Error::Io(e) => ConnectionError::BadConnection(e.to_string()),
            Error::Other(e) => ConnectionError::BadConnection(e.to_string()),
            Error::Server(_) => ConnectionError::CouldntSetupConfiguration(ErrorHelper(e).into()),
            Error::Url(e) => ConnectionError::InvalidConnectionUrl(e.to_string()),
        }
    }
}
