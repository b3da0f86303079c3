//! The hybrid kit: what every [`HybridCache`] must do, whatever tiers it
//! runs over (local only, memory or Redis as the distributed tier, ...).
//!
//! A test file implements [`HybridHarness`] (the distributed tier for a
//! namespace, or none) and calls [`hybrid_suite!`](crate::hybrid_suite):
//!
//! ```ignore
//! struct OverMemory(std::sync::Mutex<HashMap<String, Arc<MemoryCache>>>);
//!
//! #[cache_testkit::async_trait]
//! impl HybridHarness for OverMemory {
//!     async fn tier(&self, namespace: &str) -> Option<Arc<dyn DistributedCache>> { /* one per namespace */ }
//! }
//!
//! cache_testkit::hybrid_suite!(|| async { OverMemory::default() });
//! ```
//!
//! The kit drives the cache through [`HybridUnderTest`], implemented for
//! [`HybridCache`]; a harness may return another implementation from
//! [`HybridHarness::build`] (the kit's own tests pass deliberately broken
//! ones, which must fail it).

mod cases;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cache_abstractions::{BoxError, DistributedCache, Result};
pub use cache_hybrid::{Fetched, HybridCache, HybridEntryOptions, Source};
use futures::future::BoxFuture;

use crate::harness::Outage;
use crate::runner::Outcome;

/// A factory as the kit passes it: boxed, so any implementation can take it.
pub type Factory =
    Box<dyn FnOnce() -> BoxFuture<'static, std::result::Result<Bytes, BoxError>> + Send>;

/// The operations the kit checks, over bytes.
#[async_trait]
pub trait HybridUnderTest: Send + Sync + 'static {
    /// [`HybridCache::get_or_create_bytes`].
    async fn get_or_create(
        &self,
        key: &str,
        options: &HybridEntryOptions,
        factory: Factory,
    ) -> Result<Fetched<Bytes>>;
    /// [`HybridCache::get_bytes`].
    async fn get(&self, key: &str) -> Result<Option<Fetched<Bytes>>>;
    /// [`HybridCache::set_bytes`].
    async fn set(&self, key: &str, value: Bytes, options: &HybridEntryOptions) -> Result<()>;
    /// [`HybridCache::remove`].
    async fn remove(&self, key: &str) -> Result<()>;
    /// [`HybridCache::remove_by_tag`].
    async fn remove_by_tag(&self, tag: &str) -> Result<()>;
}

#[async_trait]
impl HybridUnderTest for HybridCache {
    async fn get_or_create(
        &self,
        key: &str,
        options: &HybridEntryOptions,
        factory: Factory,
    ) -> Result<Fetched<Bytes>> {
        self.get_or_create_bytes(key, options, factory).await
    }
    async fn get(&self, key: &str) -> Result<Option<Fetched<Bytes>>> {
        self.get_bytes(key).await
    }
    async fn set(&self, key: &str, value: Bytes, options: &HybridEntryOptions) -> Result<()> {
        self.set_bytes(key, value, options).await
    }
    async fn remove(&self, key: &str) -> Result<()> {
        HybridCache::remove(self, key).await
    }
    async fn remove_by_tag(&self, tag: &str) -> Result<()> {
        HybridCache::remove_by_tag(self, tag).await
    }
}

/// How the kit wants an instance configured.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct KitSettings {
    /// The tag check interval (short, so cross-instance cases are quick).
    pub tag_check_interval: Duration,
}

impl Default for KitSettings {
    fn default() -> Self {
        KitSettings {
            tag_check_interval: Duration::from_millis(100),
        }
    }
}

/// One tier combination under test.
#[async_trait]
pub trait HybridHarness: Send + Sync + 'static {
    /// The distributed tier for `namespace`, shared by every call with the
    /// same namespace (so two instances can share it); `None`: local only.
    async fn tier(&self, namespace: &str) -> Option<Arc<dyn DistributedCache>>;

    /// The cache under test over `tier`. The default builds a
    /// [`HybridCache`] with `settings`.
    fn build(
        &self,
        tier: Option<Arc<dyn DistributedCache>>,
        settings: &KitSettings,
    ) -> Arc<dyn HybridUnderTest> {
        let mut b = HybridCache::builder().tag_check_interval(settings.tag_check_interval);
        if let Some(t) = tier {
            b = b.distributed(t);
        }
        Arc::new(b.build().expect("valid settings"))
    }

    /// A distributed tier on a server the kit may stop and start. `None`:
    /// the kit simulates the outage with a tier that fails every call.
    async fn outage(&self) -> Option<Box<dyn Outage>> {
        None
    }
}

/// A case of the hybrid kit.
pub type HybridCaseFn =
    for<'a> fn(&'a dyn HybridHarness) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

macro_rules! define_hybrid_kit {
    ($d:tt; $($name:ident),* $(,)?) => {
        /// The names of every hybrid case.
        pub const HYBRID_CASES: &[&str] = &[$(stringify!($name)),*];

        /// The hybrid case called `name`, if there is one.
        pub fn hybrid_case(name: &str) -> Option<HybridCaseFn> {
            match name {
                $(stringify!($name) => Some(|h| Box::pin(cases::$name(h))),)*
                _ => None,
            }
        }

        /// Declares one `#[test]` per hybrid case, each against the harness
        /// `$make` (an `async fn() -> impl HybridHarness` or such a closure) builds.
        #[macro_export]
        macro_rules! hybrid_suite {
            ($d make:expr) => {
                $(
                    #[test]
                    fn $name() {
                        $d crate::hybrid::run_hybrid_case(stringify!($name), $d make);
                    }
                )*
            };
        }
    };
}

define_hybrid_kit!($;
    single_flight_100_callers_one_factory_call,
    cancelled_leader_waiters_still_get_a_value,
    panicking_factory_fails_waiters_then_retries,
    factory_error_reaches_waiters_and_is_not_cached,
    set_get_remove_round_trip,
    tags_invalidate_across_instances,
    fail_safe_serves_stale_when_factory_fails,
    tier_down_never_fails_get_or_create,
    local_never_outlives_distributed,
    sliding_expiration_is_honoured,
    foreign_or_corrupt_payload_is_a_miss,
);

/// Runs the hybrid case `name` against the harness `make` builds, on a
/// fresh multi-thread runtime; panics when the case fails.
pub fn run_hybrid_case<H, F, Fut>(name: &str, make: F)
where
    H: HybridHarness,
    F: FnOnce() -> Fut,
    Fut: Future<Output = H>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cache-testkit: cannot start a tokio runtime");
    let outcome = runtime.block_on(async {
        let harness = make().await;
        run_hybrid_case_with(name, &harness).await
    });
    if let Outcome::Skipped(reason) = outcome {
        eprintln!("cache-testkit: SKIPPED {name}: {reason}");
    }
}

/// Runs one hybrid case against a built harness; panics when it fails.
pub async fn run_hybrid_case_with(name: &str, harness: &dyn HybridHarness) -> Outcome {
    let Some(case) = hybrid_case(name) else {
        panic!("cache-testkit: no hybrid case named {name:?}");
    };
    case(harness).await
}
