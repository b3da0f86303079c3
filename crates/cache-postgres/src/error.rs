//! tokio-postgres errors onto [`ErrorKind`]s, in one function.

use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::{BoxError, Error, ErrorKind};
use tokio_postgres::error::SqlState;

/// Maps a driver error. `context` says what was being done ("connecting to
/// db:5432", "get"); it never holds a secret.
///
/// - the server's SQLSTATE decides when there is one: a refused login is
///   an authentication error, a missing database, schema or table a
///   configuration error, a server shutting down a connection error,
///   a cancelled statement a timeout, a deadlock a retryable backend error;
/// - a closed connection, an I/O or TLS failure is `Connection` (at once:
///   a refused TCP connect is never turned into a wait);
/// - the rest is `Backend`.
pub(crate) fn map(e: tokio_postgres::Error, context: &str) -> Error {
    let (kind, what, retryable) = classify(&e, context);
    finish(kind, what, retryable, e)
}

fn finish(
    kind: ErrorKind,
    what: String,
    retryable: Option<bool>,
    source: impl Into<BoxError>,
) -> Error {
    let err = Error::new(kind, what).with_source(source);
    match retryable {
        Some(r) => err.with_retryable(r),
        None => err,
    }
}

/// A failed connect, as bb8's error sink hands it to every operation
/// waiting for a connection (so it is `Clone`; each waiter gets the real
/// driver error as its source).
#[derive(Clone, Debug)]
pub(crate) enum ConnectError {
    /// The driver's error (refused, TLS, login, missing database).
    Driver {
        what: String,
        source: Arc<tokio_postgres::Error>,
    },
    /// No answer within the connect timeout.
    TimedOut { what: String, after: Duration },
}

impl ConnectError {
    pub(crate) fn driver(e: tokio_postgres::Error, what: String) -> ConnectError {
        ConnectError::Driver {
            what,
            source: Arc::new(e),
        }
    }
}

/// A connect failure as the operation's error.
pub(crate) fn from_connect(e: ConnectError) -> Error {
    match e {
        ConnectError::Driver { what, source } => {
            let (kind, what, retryable) = classify(&source, &what);
            finish(kind, what, retryable, source)
        }
        ConnectError::TimedOut { what, after } => timed_out(&what, after),
    }
}

/// bb8 gave up waiting: the last connect failure says why, if there was one.
pub(crate) fn pool_timeout(waited: Duration, last: Option<ConnectError>) -> Error {
    match last {
        Some(e) => from_connect(e),
        None => Error::new(
            ErrorKind::Timeout,
            format!("no connection became available within {waited:?}"),
        ),
    }
}

fn classify(e: &tokio_postgres::Error, context: &str) -> (ErrorKind, String, Option<bool>) {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let said = |what: &str| format!("{context}: {what}");
        return if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            (
                ErrorKind::Authentication,
                said("the server refused the login (check user and password)"),
                Some(false),
            )
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            (
                ErrorKind::Config,
                said("the database named in the connection string does not exist"),
                None,
            )
        } else if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::INVALID_SCHEMA_NAME {
            (
                ErrorKind::Config,
                said("the cache table does not exist (create it with `pg-cache create`)"),
                None,
            )
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            (
                ErrorKind::Config,
                said("the user may not use the cache table"),
                None,
            )
        } else if *code == SqlState::QUERY_CANCELED {
            (
                ErrorKind::Timeout,
                said("the statement was cancelled"),
                None,
            )
        } else if code.code().starts_with("57P") || code.code().starts_with("08") {
            // admin/crash shutdown, cannot connect now; connection exceptions.
            (
                ErrorKind::Connection,
                said("the server ended the connection"),
                None,
            )
        } else if *code == SqlState::TOO_MANY_CONNECTIONS {
            (
                ErrorKind::Connection,
                said("the server has no free connection slot"),
                None,
            )
        } else if *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
        {
            (ErrorKind::Backend, said("a transient conflict"), Some(true))
        } else if *code == SqlState::UNTRANSLATABLE_CHARACTER
            || *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE
        {
            (
                ErrorKind::InvalidKey,
                said("the database's encoding cannot store the key's characters"),
                None,
            )
        } else if *code == SqlState::PROGRAM_LIMIT_EXCEEDED || *code == SqlState::OUT_OF_MEMORY {
            (
                ErrorKind::Unsupported,
                said("the server cannot store an entry this large"),
                None,
            )
        } else {
            (
                ErrorKind::Backend,
                said("the server refused the statement"),
                None,
            )
        };
    }
    if e.is_closed() {
        return (
            ErrorKind::Connection,
            format!("{context}: the connection was closed"),
            None,
        );
    }
    let top = e.to_string();
    let cause = std::error::Error::source(e)
        .map(ToString::to_string)
        .unwrap_or_default();
    if top.starts_with("authentication error") || cause.contains("password missing") {
        return (
            ErrorKind::Authentication,
            format!("{context}: the login failed (check user and password)"),
            Some(false),
        );
    }
    if top.starts_with("invalid configuration") || top.starts_with("invalid connection string") {
        return (
            ErrorKind::Config,
            format!("{context}: invalid connection settings"),
            None,
        );
    }
    if top.starts_with("timeout") {
        return (ErrorKind::Timeout, format!("{context}: timed out"), None);
    }
    if top.starts_with("error connecting")
        || top.starts_with("error communicating")
        || top.starts_with("error performing TLS")
        || top.starts_with("unexpected message")
        || top.starts_with("error parsing response")
    {
        return (ErrorKind::Connection, context.to_owned(), None);
    }
    (ErrorKind::Backend, context.to_owned(), None)
}

/// A statement or connect that outlived its time.
pub(crate) fn timed_out(what: &str, limit: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("{what} took longer than its timeout ({limit:?})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeouts_say_why() {
        let e = pool_timeout(Duration::from_secs(1), None);
        assert_eq!(e.kind(), ErrorKind::Timeout);
        let slow = ConnectError::TimedOut {
            what: "connecting to db".into(),
            after: Duration::from_secs(2),
        };
        let e = pool_timeout(Duration::from_secs(1), Some(slow));
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.to_string().contains("connecting to db"), "{e}");
    }
}
