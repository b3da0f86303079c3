//! HybridCache for Rust: a bounded in-process tier in front of any
//! [`DistributedCache`](cache_abstractions::DistributedCache), with
//! get-or-create, per-key stampede protection, tags and fail-safe: what
//! .NET's `HybridCache` and FusionCache give .NET services.
//!
//! - [`HybridCache::get_or_create`]: the value from the local tier, else the
//!   distributed tier, else the factory, whose value is then stored in both.
//!   Concurrent calls for one key in one process share **one** factory run.
//! - **Cancellation and panics.** The factory runs on a task of its own: a
//!   caller that is cancelled (its future dropped) does not cancel it, and
//!   the other callers get its value. A panicking or failing factory gives
//!   every waiting caller an error and caches nothing; the next call runs
//!   the factory again. Nobody hangs: the in-flight entry is removed however
//!   the computation ends.
//! - **Per-entry options** ([`HybridEntryOptions`]): distributed expiration
//!   (absolute, relative, sliding), local expiration (never longer than the
//!   distributed one), [`Flags`] to skip a tier, tags.
//! - **Tags**: [`HybridCache::remove_by_tag`] invalidates every entry
//!   carrying the tag, in every instance sharing the distributed tier, on any
//!   backend (see docs/hybrid.md for the staleness window).
//! - **Resilience**: fail-safe (serve a stale copy when the factory fails;
//!   [`Fetched::stale`] says so), soft and hard factory timeouts, eager
//!   refresh. A distributed-tier outage never fails `get_or_create`: it is
//!   logged (`tracing`, target `cache_hybrid`) and counted in
//!   [`HybridStats::distributed_errors`].
//! - **Backplane** ([`backplane`]): other instances drop their local copies
//!   within milliseconds of a change here (Redis pub/sub with the `redis`
//!   feature, or [`MemoryBackplane`]); while it is down, local copies live
//!   at most a short, configurable time.
//! - **Payloads** carry a small versioned header with a checksum (see the
//!   `format` table in docs/hybrid.md): a foreign, corrupt or other-codec
//!   payload is a miss and gets overwritten, never a wrong value.
//!
//! ```
//! use cache_hybrid::{HybridCache, HybridEntryOptions};
//! use cache_memory::MemoryCache;
//! use serde::{Deserialize, Serialize};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! #[derive(Serialize, Deserialize)]
//! struct Product { id: u64, name: String }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_abstractions::Result<()> {
//! // Any backend as the distributed tier: MemoryCache here, Redis or SQL
//! // Server in production (e.g. `distcache::open(url)?`).
//! let cache = HybridCache::new(Arc::new(MemoryCache::new()));
//! let options = HybridEntryOptions::new()
//!     .expires_in(Duration::from_secs(600))
//!     .local_expiration(Duration::from_secs(60))
//!     .tag("catalog")
//!     .fail_safe(Duration::from_secs(3600));
//! let product = cache
//!     .get_or_create("product:42", &options, || async {
//!         // The slow lookup; runs once however many callers ask at once.
//!         Ok::<_, std::io::Error>(Product { id: 42, name: "teapot".into() })
//!     })
//!     .await?;
//! assert_eq!(product.value.name, "teapot");
//! assert!(!product.stale);
//! # Ok(()) }
//! ```
#![doc(test(attr(deny(warnings))))]

pub mod backplane;
mod builder;
mod cache;
mod codec;
mod flight;
mod format;
#[cfg(feature = "metrics")]
pub mod metrics;
mod options;
mod outcome;
#[cfg(feature = "redis")]
mod redis_backplane;
mod tags;

pub use backplane::{Backplane, MemoryBackplane};
pub use builder::{
    HybridCacheBuilder, Invalidation, InvalidationHook, DEFAULT_COMPRESSION_THRESHOLD,
    DEFAULT_LOCAL_CAPACITY_BYTES, DEFAULT_TAG_CHECK_INTERVAL, DEFAULT_TAG_KEY_PREFIX,
};
pub use cache::HybridCache;
pub use codec::Codec;
pub use options::{Flags, HybridEntryOptions, DEFAULT_EXPIRATION, MAX_TAGS, MAX_TAG_LEN};
pub use outcome::{FactoryError, Fetched, HybridStats, Source};
