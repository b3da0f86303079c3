//! Driver errors onto the cache's [`ErrorKind`]s: [`classify`] is the one
//! place that decides a kind for a tiberius error; [`from_connect`] maps a
//! failed connect (which also covers TCP and the connect timeout).
//!
//! Messages say what this crate was doing; the driver's error is kept as
//! `source`, never repeated in the message. No message holds a password.

use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::{Error, ErrorKind};

/// Why a connect failed; cheap to clone, so one failure reaches every
/// operation waiting for a connection, each with the driver's own error.
#[derive(Clone, Debug)]
pub(crate) enum ConnectError {
    /// TCP failed (refused, unreachable, reset).
    Unreachable {
        addr: String,
        source: Arc<std::io::Error>,
    },
    /// The TDS login failed (TLS, login refused, database, protocol).
    Driver {
        addr: String,
        source: tiberius::error::Error,
    },
    /// No answer within the connect timeout.
    TimedOut { addr: String, after: Duration },
    /// Azure SQL redirected more than once.
    Redirected,
}

/// SQL Server's error numbers this crate reacts to.
pub(crate) mod codes {
    /// Violation of a PRIMARY KEY constraint.
    pub(crate) const DUPLICATE_KEY: u32 = 2627;
    /// Cannot insert a duplicate key row (unique index).
    pub(crate) const DUPLICATE_INDEX_KEY: u32 = 2601;
    /// Invalid object name: the table does not exist.
    pub(crate) const INVALID_OBJECT: u32 = 208;
    /// There is already an object named … in the database.
    pub(crate) const OBJECT_EXISTS: u32 = 2714;
    /// Login failed.
    pub(crate) const LOGIN_FAILED: u32 = 18456;
    /// Cannot open the database requested by the login.
    pub(crate) const CANNOT_OPEN_DATABASE: u32 = 4060;
    /// Chosen as a deadlock victim.
    pub(crate) const DEADLOCK: u32 = 1205;
    /// Lock request time out period exceeded.
    pub(crate) const LOCK_TIMEOUT: u32 = 1222;
}

/// The one mapping from a driver error to a kind, whether a retry may help
/// (when it differs from the kind's default), and, for the server errors
/// that have one, a message that says what to do.
fn classify(e: &tiberius::error::Error) -> (ErrorKind, Option<bool>, Option<&'static str>) {
    use tiberius::error::Error as T;
    match e {
        T::Io { .. } | T::Tls(_) | T::Protocol(_) | T::Routing { .. } => {
            (ErrorKind::Connection, None, None)
        }
        T::Server(token) => server_error(token.code()),
        _ => (ErrorKind::Backend, None, None),
    }
}

/// [`classify`] for an error the server sent, by its number.
fn server_error(code: u32) -> (ErrorKind, Option<bool>, Option<&'static str>) {
    match code {
        codes::LOGIN_FAILED => (
            ErrorKind::Authentication,
            None,
            Some("the server refused the login (check User Id and Password)"),
        ),
        codes::CANNOT_OPEN_DATABASE => (
            ErrorKind::Config,
            None,
            Some("the server cannot open the database named in the connection string"),
        ),
        codes::INVALID_OBJECT => (
            ErrorKind::Config,
            None,
            Some("the cache table does not exist (create it with `sql-cache create`)"),
        ),
        codes::DEADLOCK | codes::LOCK_TIMEOUT => (ErrorKind::Backend, Some(true), None),
        _ => (ErrorKind::Backend, None, None),
    }
}

/// The cache error for a driver error met while doing `context`.
pub(crate) fn map_error(e: tiberius::error::Error, context: &str) -> Error {
    let (kind, retryable, advice) = classify(&e);
    let mut err = Error::new(
        kind,
        advice.map_or_else(|| context.to_owned(), str::to_owned),
    )
    .with_source(e);
    if let Some(r) = retryable {
        err = err.with_retryable(r);
    }
    err
}

/// The cache error for a failed connect.
pub(crate) fn from_connect(e: ConnectError) -> Error {
    match e {
        ConnectError::Unreachable { addr, source } => {
            Error::new(ErrorKind::Connection, format!("cannot reach {addr}")).with_source(source)
        }
        ConnectError::Driver { addr, source } => {
            map_error(source, &format!("connecting to {addr}"))
        }
        ConnectError::TimedOut { addr, after } => Error::new(
            ErrorKind::Timeout,
            format!("connecting to {addr} took longer than the connect timeout ({after:?})"),
        ),
        ConnectError::Redirected => Error::new(
            ErrorKind::Connection,
            "the server redirected the connection more than once",
        ),
    }
}

/// bb8 gave up waiting for a connection: the last connect failure if there
/// was one (it says why), else a `Timeout`.
pub(crate) fn pool_timeout(waited: Duration, last: Option<ConnectError>) -> Error {
    match last {
        Some(e @ (ConnectError::Unreachable { .. } | ConnectError::Driver { .. })) => {
            from_connect(e)
        }
        _ => Error::new(
            ErrorKind::Timeout,
            format!("no connection became available within {waited:?}"),
        ),
    }
}

/// The server's error number, if `e` came from the server.
pub(crate) fn server_code(e: &Error) -> Option<u32> {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<tiberius::error::Error>())
        .and_then(tiberius::error::Error::code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_connection_errors() {
        let e = map_error(
            tiberius::error::Error::Io {
                kind: std::io::ErrorKind::ConnectionReset,
                message: "reset".into(),
            },
            "get",
        );
        assert_eq!(e.kind(), ErrorKind::Connection);
        assert!(e.is_retryable());
        let e = map_error(tiberius::error::Error::Tls("bad cert".into()), "connect");
        assert_eq!(e.kind(), ErrorKind::Connection);
        assert_eq!(server_code(&e), None);
    }

    #[test]
    fn a_refused_login_is_authentication_and_not_retryable() {
        let (kind, retryable, advice) = server_error(codes::LOGIN_FAILED);
        assert_eq!(kind, ErrorKind::Authentication);
        assert_eq!(retryable, None);
        assert!(!kind.is_retryable());
        assert!(advice.is_some_and(|a| a.contains("Password")));
        assert_eq!(server_error(codes::DEADLOCK).1, Some(true));
    }

    #[test]
    fn pool_timeouts_are_timeouts_unless_a_connect_failed() {
        let e = pool_timeout(Duration::from_secs(1), None);
        assert_eq!(e.kind(), ErrorKind::Timeout);
        let refused = ConnectError::Unreachable {
            addr: "127.0.0.1:1".into(),
            source: Arc::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        };
        let e = pool_timeout(Duration::ZERO, Some(refused));
        assert_eq!(e.kind(), ErrorKind::Connection);
        assert!(e.is_retryable());
        // The real error stays the source, not a copy as text.
        let source = std::error::Error::source(&e).expect("a source");
        assert!(!e.message().contains(&source.to_string()), "{e}");
    }
}
