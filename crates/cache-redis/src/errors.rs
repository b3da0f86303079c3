//! Mapping redis-rs errors onto the cache's [`ErrorKind`]s.
//!
//! Messages are built here from the operation and the error's category, and
//! the driver error is kept as `source`. Connection details (URLs, and so
//! passwords) never enter a message: the driver errors raised while a
//! connection is in use carry none.

use cache_abstractions::{Error, ErrorKind};
use redis::{RedisError, ServerErrorKind};

/// Whether a reply error says the key holds something other than a hash.
fn is_wrong_type(e: &RedisError) -> bool {
    e.code() == Some("WRONGTYPE")
        || e.detail().is_some_and(|d| d.contains("WRONGTYPE"))
        || e.to_string().contains("WRONGTYPE")
}

/// Whether the connection this error came from should be replaced. A
/// timeout does not count: the server may merely be slow, and a retry
/// would double the wait.
pub(crate) fn breaks_connection(e: &RedisError) -> bool {
    !e.is_timeout() && (e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error())
}

/// Whether the server refused scripting (`EVALSHA` renamed away, or an ACL
/// without `@scripting`), so the two-command fallback must be used.
pub(crate) fn is_scripting_disabled(e: &RedisError) -> bool {
    if e.kind() == redis::ErrorKind::Server(ServerErrorKind::NoPerm) || e.code() == Some("NOPERM") {
        return true;
    }
    let text = e.to_string().to_ascii_lowercase();
    text.contains("unknown command") && text.contains("eval")
}

fn classify(e: &RedisError) -> ErrorKind {
    if is_wrong_type(e) {
        ErrorKind::CorruptEntry
    } else if matches!(
        e.kind(),
        redis::ErrorKind::AuthenticationFailed | redis::ErrorKind::InvalidClientConfig
    ) {
        // Wrong credentials or settings: retrying will not help.
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
    match classify(&e) {
        ErrorKind::CorruptEntry => Error::corrupt(format!(
            "{op}: the key holds a Redis value that is not a cache entry (WRONGTYPE)"
        ))
        .with_source(e),
        kind => Error::new(kind, format!("redis {op} failed ({})", e.category())).with_source(e),
    }
}

/// The cache error for a failed connection attempt: anything that is not
/// a configuration or timeout problem (refused, reset, a TLS handshake
/// failure) is a `Connection` error.
pub(crate) fn from_connect(e: RedisError) -> Error {
    let kind = match classify(&e) {
        ErrorKind::Backend | ErrorKind::CorruptEntry => ErrorKind::Connection,
        kind => kind,
    };
    Error::new(kind, format!("redis connect failed ({})", e.category())).with_source(e)
}

/// The cache error for an operation whose connect attempt failed: as
/// [`from_connect`], naming the operation.
pub(crate) fn from_connect_in(op: &'static str, e: RedisError) -> Error {
    let kind = match classify(&e) {
        ErrorKind::Backend | ErrorKind::CorruptEntry => ErrorKind::Connection,
        kind => kind,
    };
    Error::new(
        kind,
        format!("redis {op}: cannot connect ({})", e.category()),
    )
    .with_source(e)
}

/// The cache error for an operation that ran out of its time budget.
pub(crate) fn timed_out(op: &'static str, after: std::time::Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("redis {op} did not complete within {after:?}"),
    )
}
