//! This backend's pool telemetry (the shared `PoolTelemetry`; the names are
//! in docs/observability.md).

use cache_abstractions::support::pool::PoolTelemetry;

/// The pool's events and gauges, under OpenTelemetry's `db.system.name`.
pub(crate) static POOL: PoolTelemetry = PoolTelemetry::new("redis", "cache-redis");

/// The pool opened a connection (the first, or one replacing a broken one).
pub(crate) fn connected() {
    tracing::debug!("cache-redis: connected");
}
