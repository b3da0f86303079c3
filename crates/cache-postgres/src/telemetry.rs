//! What the pool reports: a `tracing` event when a connect fails, and,
//! with the `metrics` feature, OpenTelemetry's connection-pool gauges
//! (docs/observability.md lists the names).

/// The backend's name in traces and metrics (OpenTelemetry `db.system.name`).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
const SYSTEM: &str = "postgresql";

/// After a checkout, or a failed one: the pool's gauges now.
pub(crate) fn pool_state(max: u32, state: &bb8::State) {
    #[cfg(feature = "metrics")]
    cache_abstractions::instrument::pool::record_state(SYSTEM, max, state);
    #[cfg(not(feature = "metrics"))]
    let _ = (max, state);
}

/// No pooled connection: a connect failed, or none came free in time
/// (pool exhaustion). An event inside the operation's span; the error names
/// the host, never a password.
pub(crate) fn checkout_failed(error: &cache_abstractions::Error) {
    tracing::warn!(
        error = %error,
        error.type = ?error.kind(),
        "cache-postgres: no pooled connection"
    );
}
