//! The hybrid cache's tiers through the `metrics` facade (feature
//! `metrics`): its counters since it was built and the local tier's size,
//! published when asked ([`HybridCache::record_metrics`]), so the hot path
//! pays nothing for them. docs/observability.md lists the names.

use metrics::Unit;

use crate::HybridCache;

/// Counter: lookups by `cache.tier` and `cache.request.type` (`hit` or
/// `miss`; .NET's memory-cache names): each tier's hit ratio.
pub const REQUESTS: &str = "cache.requests";
/// Counter: factory runs (values computed because neither tier had one).
pub const FACTORY_CALLS: &str = "cache.factory.calls";
/// Counter: factory runs that failed, panicked or timed out.
pub const FACTORY_ERRORS: &str = "cache.factory.errors";
/// Counter: stale values served while a slow factory went on.
pub const STALE_SERVED: &str = "cache.stale_served";
/// Counter: distributed-tier failures absorbed (logged, never returned).
pub const DISTRIBUTED_ERRORS: &str = "cache.distributed.errors";
/// Counter: entries the local tier dropped to stay within its size limit
/// (`MemoryCache::evictions`); a steady rise means it is too small.
pub const EVICTIONS: &str = "cache.evictions";
/// Gauge: entries in the local tier (.NET's name).
pub const ENTRIES: &str = "cache.entries";
/// Gauge, bytes: the local tier's weighted size (.NET's name).
pub const ESTIMATED_SIZE: &str = "cache.estimated_size";
/// Label: `local` or `distributed`.
pub const TIER: &str = "cache.tier";
/// Label: `hit` or `miss`.
pub const REQUEST_TYPE: &str = "cache.request.type";

impl HybridCache {
    /// Publishes this cache's counters (since it was built) and its local
    /// tier's size to the installed `metrics` recorder, labelled
    /// `cache.name` = `name`. Call it before each scrape (a Prometheus
    /// handler can call it first) or on a timer; nothing is recorded in
    /// between, so the hot path pays nothing.
    pub fn record_metrics(&self, name: &str) {
        let stats = self.stats();
        let name = name.to_owned();
        metrics::describe_counter!(
            REQUESTS,
            Unit::Count,
            "Hybrid cache lookups, by tier and hit or miss"
        );
        for (tier, kind, count) in [
            ("local", "hit", stats.local_hits),
            ("local", "miss", stats.local_misses),
            ("distributed", "hit", stats.distributed_hits),
            ("distributed", "miss", stats.distributed_misses),
        ] {
            metrics::counter!(REQUESTS, "cache.name" => name.clone(), TIER => tier, REQUEST_TYPE => kind)
                .absolute(count);
        }
        for (metric, value) in [
            (FACTORY_CALLS, stats.factory_calls),
            (FACTORY_ERRORS, stats.factory_errors),
            (STALE_SERVED, stats.stale_served),
            (DISTRIBUTED_ERRORS, stats.distributed_errors),
        ] {
            metrics::counter!(metric, "cache.name" => name.clone()).absolute(value);
        }
        // Entries are counted as they are stored and dropped; expired ones
        // the reaper has not reclaimed yet (at most its interval) count too.
        // No sweep here: that would be a pass over every entry per scrape.
        let local = self.local_tier();
        metrics::describe_counter!(
            EVICTIONS,
            Unit::Count,
            "Entries the local tier dropped for room"
        );
        metrics::counter!(EVICTIONS, "cache.name" => name.clone(), TIER => "local")
            .absolute(local.evictions());
        metrics::gauge!(ENTRIES, "cache.name" => name.clone(), TIER => "local")
            .set(local.entry_count() as f64);
        metrics::describe_gauge!(
            ESTIMATED_SIZE,
            Unit::Bytes,
            "Weighted size of the local tier"
        );
        metrics::gauge!(ESTIMATED_SIZE, "cache.name" => name, TIER => "local")
            .set(local.weighted_size() as f64);
    }
}
