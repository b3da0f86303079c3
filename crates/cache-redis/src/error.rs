//! Mapping redis-rs errors onto the cache's [`ErrorKind`]s: [`classify`] is
//! the one place that decides a kind.
//!
//! Messages are built here from the operation and what went wrong, and the
//! driver error is kept as `source` (never repeated in the message).
//! Connection details (URLs, and so passwords) never enter a message: the
//! driver errors raised while a connection is in use carry none.

use std::time::Duration;

use cache_abstractions::{Error, ErrorKind};
use redis::{RedisError, ServerErrorKind};

/// Whether a reply error says the key holds something other than a hash.
fn is_wrong_type(e: &RedisError) -> bool {
    e.code() == Some("WRONGTYPE")
        || e.detail().is_some_and(|d| d.contains("WRONGTYPE"))
        || e.to_string().contains("WRONGTYPE")
}

/// Whether the server said a password is needed (`NOAUTH`) or refused the
/// one given (`WRONGPASS`, or redis-rs's own authentication failure).
fn is_auth_refusal(e: &RedisError) -> bool {
    if e.kind() == redis::ErrorKind::AuthenticationFailed {
        return true;
    }
    let code = e.code().unwrap_or_default();
    if matches!(code, "NOAUTH" | "WRONGPASS") {
        return true;
    }
    let text = e.to_string();
    text.contains("NOAUTH") || text.contains("WRONGPASS")
}

/// Whether an ACL denied this operation (`NOPERM`).
fn is_no_perm(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(ServerErrorKind::NoPerm)
        || e.code() == Some("NOPERM")
        || e.to_string().contains("NOPERM")
}

/// Whether the connection this error came from should be replaced. A
/// timeout does not count: the server may merely be slow, and a retry
/// would double the wait.
pub(crate) fn breaks_connection(e: &RedisError) -> bool {
    !e.is_timeout() && (e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error())
}

/// Whether the server refused *scripting itself* (`EVALSHA` renamed away,
/// or an ACL without `@scripting`), so the two-command fallback must be
/// used. A `NOPERM` about a key (the user's key pattern) is not: it stays
/// that operation's error, and scripting stays on.
pub(crate) fn is_scripting_disabled(e: &RedisError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    let names_eval = text.contains("'evalsha'") || text.contains("'eval'");
    if is_no_perm(e) {
        // "NOPERM User u has no permissions to run the 'evalsha' command".
        return names_eval && text.contains("command");
    }
    text.contains("unknown command") && text.contains("eval")
}

/// The one mapping from a driver error to a kind.
fn classify(e: &RedisError) -> ErrorKind {
    if is_wrong_type(e) {
        ErrorKind::CorruptEntry
    } else if is_auth_refusal(e) {
        // A rejected login: retrying with the same settings will not help,
        // but it is not a malformed setting either (a rotated password).
        ErrorKind::Authentication
    } else if e.kind() == redis::ErrorKind::InvalidClientConfig {
        ErrorKind::Config
    } else if e.is_timeout() {
        ErrorKind::Timeout
    } else if breaks_connection(e)
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            redis::ErrorKind::ClusterConnectionNotFound
                | redis::ErrorKind::Server(
                    ServerErrorKind::ClusterDown
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                )
        )
    {
        ErrorKind::Connection
    } else {
        ErrorKind::Backend
    }
}

/// The cache error for a failed `op` (e.g. `"get"`).
pub(crate) fn from_redis(op: &'static str, e: RedisError) -> Error {
    let kind = classify(&e);
    let message = match kind {
        ErrorKind::CorruptEntry => {
            format!("{op}: the key holds a Redis value that is not a cache entry (WRONGTYPE)")
        }
        ErrorKind::Authentication => auth_message(op, &e),
        _ if is_no_perm(&e) => format!(
            "redis {op}: the server's ACL does not let this user run it on this key (NOPERM)"
        ),
        _ => format!("redis {op} failed ({})", describe(&e)),
    };
    Error::new(kind, message).with_source(e)
}

/// The cache error for an operation whose connect attempt failed: anything
/// that is not a login, configuration or timeout problem (refused, reset,
/// a TLS handshake failure) is a `Connection` error.
pub(crate) fn from_connect(op: &'static str, e: RedisError) -> Error {
    let kind = match classify(&e) {
        ErrorKind::Backend | ErrorKind::CorruptEntry => ErrorKind::Connection,
        kind => kind,
    };
    let message = match kind {
        ErrorKind::Authentication => auth_message(op, &e),
        _ => format!("redis {op}: cannot connect ({})", describe(&e)),
    };
    Error::new(kind, message).with_source(e)
}

/// bb8 gave up waiting for a connection: say why if a connect attempt failed.
pub(crate) fn pool_timeout(op: &'static str, waited: Duration, last: Option<RedisError>) -> Error {
    match last {
        Some(e) if !e.is_timeout() => {
            let kind = match classify(&e) {
                ErrorKind::Authentication => ErrorKind::Authentication,
                _ => ErrorKind::Connection,
            };
            Error::new(
                kind,
                format!(
                    "redis {op}: no connection within {waited:?} ({})",
                    describe(&e)
                ),
            )
            .with_source(e)
        }
        _ => timed_out(op, waited),
    }
}

/// The cache error for an operation that ran out of its time budget.
pub(crate) fn timed_out(op: &'static str, after: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("redis {op} did not complete within {after:?}"),
    )
}

fn auth_message(op: &'static str, e: &RedisError) -> String {
    let text = e.to_string();
    if text.contains("NOAUTH") {
        format!("redis {op}: the server requires a password and none was given (NOAUTH)")
    } else {
        format!("redis {op}: the server rejected the user name or password")
    }
}

/// A short, secret-free description: the driver's category, or the reply
/// code when the category is empty (server errors).
fn describe(e: &RedisError) -> String {
    match (e.category(), e.code()) {
        ("", Some(code)) => code.to_string(),
        ("", None) => "unexpected reply".to_string(),
        (category, _) => category.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(code: &str, detail: &str) -> RedisError {
        // What the driver makes of an error reply.
        let reply = format!("-{code} {detail}\r\n");
        redis::parse_redis_value(reply.as_bytes())
            .and_then(redis::Value::extract_error)
            .unwrap_err()
    }

    #[test]
    fn a_key_permission_error_does_not_disable_scripting() {
        let key = server_error("NOPERM", "No permissions to access a key");
        assert!(!is_scripting_disabled(&key), "{key}");
        let e = from_redis("get", key);
        assert_eq!(e.kind(), ErrorKind::Backend);
        assert!(e.message().contains("NOPERM"), "{}", e.message());
        assert!(!e.message().contains("()"), "{}", e.message());
        let script = server_error(
            "NOPERM",
            "User u has no permissions to run the 'evalsha' command",
        );
        assert!(is_scripting_disabled(&script), "{script}");
    }

    #[test]
    fn noauth_and_wrongpass_are_authentication_errors() {
        for (code, detail) in [
            ("NOAUTH", "Authentication required."),
            (
                "WRONGPASS",
                "invalid username-password pair or user is disabled.",
            ),
        ] {
            let e = from_redis("get", server_error(code, detail));
            assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
            assert!(!e.is_retryable());
        }
    }
}
