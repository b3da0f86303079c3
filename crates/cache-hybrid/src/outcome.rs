//! What a read returns besides the value, the factory's error type, counters.

use std::error::Error as StdError;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cache_abstractions::BoxError;

/// Where a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// The in-process tier.
    Local,
    /// The distributed tier.
    Distributed,
    /// The factory ran (in this call or in a concurrent one it joined).
    Factory,
}

/// A value and how it was obtained.
///
/// `stale` is true when fail-safe served a copy past its expiration because
/// the factory failed or timed out (or the distributed tier was down and
/// the factory failed): the caller may want to say so (a header, a metric).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fetched<T> {
    /// The value.
    pub value: T,
    /// The tier it came from, or the factory.
    pub source: Source,
    /// Whether it is a stale copy served by fail-safe.
    pub stale: bool,
}

impl<T> Fetched<T> {
    pub(crate) fn new(value: T, source: Source, stale: bool) -> Self {
        Fetched {
            value,
            source,
            stale,
        }
    }

    /// The value alone.
    pub fn into_value(self) -> T {
        self.value
    }
}

/// The factory's own error, kept as the `source` of the
/// [`Error`](cache_abstractions::Error) every waiting caller receives
/// (kind `Backend`, message "the factory failed").
///
/// ```
/// use cache_hybrid::FactoryError;
///
/// fn is_factory_failure(e: &cache_abstractions::Error) -> bool {
///     std::error::Error::source(e).is_some_and(|s| s.is::<FactoryError>())
/// }
/// # let _ = is_factory_failure;
/// ```
#[derive(Clone)]
pub struct FactoryError {
    inner: Arc<dyn StdError + Send + Sync>,
}

impl FactoryError {
    pub(crate) fn new(e: BoxError) -> Self {
        FactoryError {
            inner: Arc::from(e),
        }
    }

    /// The error the factory returned.
    pub fn inner(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.inner
    }
}

impl fmt::Debug for FactoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}

impl fmt::Display for FactoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.inner, f)
    }
}

impl StdError for FactoryError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner.source()
    }
}

/// Counters since the cache was built (see [`HybridCache::stats`](crate::HybridCache::stats)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HybridStats {
    /// Reads answered by the in-process tier.
    pub local_hits: u64,
    /// Lookups the in-process tier could not answer (absent, expired,
    /// tagged out, another type): with `local_hits`, its hit ratio.
    pub local_misses: u64,
    /// Reads answered by the distributed tier.
    pub distributed_hits: u64,
    /// Reads of the distributed tier that found nothing usable (absent,
    /// expired, foreign, unreachable): with `distributed_hits`, its hit
    /// ratio. Never counted without a distributed tier.
    pub distributed_misses: u64,
    /// Factory runs started (eager refreshes included).
    pub factory_calls: u64,
    /// Factory runs that failed, panicked or hit the hard timeout.
    pub factory_errors: u64,
    /// Stale copies served by fail-safe or a soft timeout.
    pub stale_served: u64,
    /// Distributed-tier operations that failed (absorbed or returned).
    pub distributed_errors: u64,
    /// Backplane (re)connects (each one cleared the local tier).
    pub backplane_connects: u64,
    /// Backplane messages from other instances applied to the local tier.
    pub backplane_messages: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub local_hits: AtomicU64,
    pub local_misses: AtomicU64,
    pub distributed_hits: AtomicU64,
    pub distributed_misses: AtomicU64,
    pub factory_calls: AtomicU64,
    pub factory_errors: AtomicU64,
    pub stale_served: AtomicU64,
    pub distributed_errors: AtomicU64,
    pub backplane_connects: AtomicU64,
    pub backplane_messages: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> HybridStats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        HybridStats {
            local_hits: r(&self.local_hits),
            local_misses: r(&self.local_misses),
            distributed_hits: r(&self.distributed_hits),
            distributed_misses: r(&self.distributed_misses),
            factory_calls: r(&self.factory_calls),
            factory_errors: r(&self.factory_errors),
            stale_served: r(&self.stale_served),
            distributed_errors: r(&self.distributed_errors),
            backplane_connects: r(&self.backplane_connects),
            backplane_messages: r(&self.backplane_messages),
        }
    }
}
