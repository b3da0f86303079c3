//! What the connection pool reports: `tracing` events when a connection is
//! made (the first, and every reconnect after a broken one) and when no
//! pooled connection comes, and, with the `metrics` feature,
//! OpenTelemetry's connection-pool gauges (docs/observability.md lists the
//! names). Called only off the hot path: when a lane asks the pool again.

/// The backend's name in traces and metrics (OpenTelemetry `db.system.name`).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
const SYSTEM: &str = "redis";

/// Operations of this backend waiting for a pooled connection.
#[cfg(feature = "metrics")]
static WAITERS: cache_abstractions::instrument::pool::Waiters =
    cache_abstractions::instrument::pool::Waiters::new();

/// `checkout`, counted as waiting while it runs; then the pool's gauges.
pub(crate) async fn checkout<T>(
    max: u32,
    state: impl FnOnce() -> bb8::State,
    checkout: impl std::future::Future<Output = T>,
) -> T {
    #[cfg(feature = "metrics")]
    {
        let waiting = WAITERS.enter();
        let out = checkout.await;
        drop(waiting);
        cache_abstractions::instrument::pool::record_state(SYSTEM, max, &state(), WAITERS.count());
        out
    }
    #[cfg(not(feature = "metrics"))]
    {
        let _ = (max, state);
        checkout.await
    }
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
