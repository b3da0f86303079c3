//! What the connection pool reports: `tracing` events when a connection is
//! made (the first, and every reconnect after a broken one) and when no
//! pooled connection comes, and, with the `metrics` feature,
//! OpenTelemetry's connection-pool gauges (docs/observability.md lists the
//! names). Called only off the hot path: when a lane asks the pool again.

/// The backend's name in traces and metrics (OpenTelemetry `db.system.name`).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
const SYSTEM: &str = "redis";

/// After a checkout, or a failed one: the pool's gauges now.
pub(crate) fn pool_state(max: u32, state: &bb8::State) {
    #[cfg(feature = "metrics")]
    cache_abstractions::instrument::pool::record_state(SYSTEM, max, state);
    #[cfg(not(feature = "metrics"))]
    let _ = (max, state);
}

/// The pool opened a connection (the first, or one replacing a broken one).
pub(crate) fn connected() {
    tracing::debug!("cache-redis: connected");
}

/// No pooled connection: a connect failed, or none came free in time.
/// The error names the host, never a password.
pub(crate) fn checkout_failed(error: &cache_abstractions::Error) {
    tracing::warn!(
        error = %error,
        error.type = ?error.kind(),
        "cache-redis: no pooled connection"
    );
}
