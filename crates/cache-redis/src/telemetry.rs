//! This backend's pool telemetry (the shared `PoolTelemetry`; the names are
//! in docs/observability.md).

use cache_abstractions::support::pool::PoolTelemetry;

/// The pool's events and gauges, under OpenTelemetry's `db.system.name`.
pub(crate) static POOL: PoolTelemetry = PoolTelemetry::new("redis", "cache-redis");

/// The pool opened a connection (the first, or one replacing a broken one).
pub(crate) fn connected() {
    tracing::debug!("cache-redis: connected");
}

/// The server had lost the sliding-read script (restarted, failed over, or
/// `SCRIPT FLUSH`): the read ran it with `EVAL`, which reloads it.
pub(crate) fn script_reloaded() {
    tracing::debug!(reason = "NOSCRIPT", "cache-redis: script reloaded");
}

/// The server refuses scripting (commands renamed, or an ACL without
/// `@scripting`): sliding reads use two commands from now on. Once per
/// cache: the switch is permanent.
pub(crate) fn scripting_unavailable() {
    tracing::warn!("cache-redis: scripting unavailable, using commands");
}
