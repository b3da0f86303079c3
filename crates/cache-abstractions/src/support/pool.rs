//! What a pooled backend reports around its connection checkout: a
//! `tracing` event when no pooled connection comes and, with the `metrics`
//! feature, OpenTelemetry's connection-pool gauges (docs/observability.md
//! lists the names). One value per backend, in a `static`.

/// A backend's pool telemetry: its names and its count of waiting operations.
#[derive(Debug)]
pub struct PoolTelemetry {
    /// OpenTelemetry `db.system.name` (the metrics' label).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    system: &'static str,
    /// The crate name that starts the events' messages.
    crate_name: &'static str,
    #[cfg(feature = "metrics")]
    waiters: crate::instrument::pool::Waiters,
}

impl PoolTelemetry {
    /// Telemetry for the backend named `system` (OpenTelemetry) and
    /// `crate_name` (in messages, e.g. `cache-postgres`).
    pub const fn new(system: &'static str, crate_name: &'static str) -> Self {
        PoolTelemetry {
            system,
            crate_name,
            #[cfg(feature = "metrics")]
            waiters: crate::instrument::pool::Waiters::new(),
        }
    }

    /// `checkout`, counted as waiting while it runs; then the pool's gauges.
    pub async fn checkout<T>(
        &self,
        max: u32,
        state: impl FnOnce() -> bb8::State,
        checkout: impl std::future::Future<Output = T>,
    ) -> T {
        #[cfg(feature = "metrics")]
        {
            let waiting = self.waiters.enter();
            let out = checkout.await;
            drop(waiting);
            crate::instrument::pool::record_state(self.system, max, &state(), self.waiters.count());
            out
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (max, state);
            checkout.await
        }
    }

    /// No pooled connection: a connect failed, or none came free in time
    /// (pool exhaustion). A WARN event inside the operation's span; the
    /// error names the host, never a password.
    pub fn checkout_failed(&self, error: &crate::Error) {
        tracing::warn!(
            error = %error,
            error.type = ?error.kind(),
            "{}: no pooled connection",
            self.crate_name
        );
    }
}
