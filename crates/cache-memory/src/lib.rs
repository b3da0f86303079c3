//! The in-process [`DistributedCache`](cache_abstractions::DistributedCache) backend: the embedded default.
//!
//! Entries live in this process only, so this backend is for a single
//! instance, for tests, and as the fallback when no shared store is
//! configured; code written against `Arc<dyn DistributedCache>` moves to
//! Redis or SQL Server by changing one line.
//!
//! - Absolute and sliding expiry per the contract, checked on every read
//!   against an injectable [`Clock`](cache_abstractions::Clock) (so tests can move time by hand).
//! - A size limit in bytes (default 200 MiB, as .NET's `MemoryCache` sample
//!   configurations use) enforced by [quick_cache]'s S3-FIFO eviction, in
//!   `set` itself. An entry must fit in 97% of one shard of the store, and
//!   a shard holds at least 32 MiB (caches under 64 MiB have one): the
//!   default cache takes entries up to about 48 MiB, a 64 MiB one up to
//!   31 MiB; [`Capabilities::max_value_size`](cache_abstractions::Capabilities::max_value_size)
//!   says how much.
//! - Expiry is lazy: a read checks the entry's deadline (and evicts it if
//!   dead), and a background reaper sweeps out every dead entry once a
//!   minute, so dead keys never pile up.
//! - No global lock: the store is sharded, a read takes its shard's lock
//!   shared, and a sliding read moves the deadline with one atomic
//!   `fetch_max`.
//! - Lean entries: a short key (up to 22 bytes), the value's handle and the
//!   deadline live in the store's slot; the only heap block per entry is
//!   the value's own. Sliding entries add one shared block.
//!
//! ```
//! use cache_abstractions::{DistributedCacheExt, EntryOptions};
//! use cache_memory::MemoryCache;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_abstractions::Result<()> {
//! let cache = MemoryCache::new();
//! let options = EntryOptions::new().sliding(Duration::from_secs(60));
//! cache.set_string("greeting", "hello", &options).await?;
//! assert_eq!(cache.get_string("greeting").await?.as_deref(), Some("hello"));
//! # Ok(()) }
//! ```
//!
//! [quick_cache]: https://docs.rs/quick_cache
#![doc(test(attr(deny(warnings))))]

// The README (shown on crates.io) is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod builder;
mod cache;
mod config;
mod format;
mod key;
mod reaper;
mod store;

use std::time::Duration;

pub use builder::MemoryCacheBuilder;
pub use cache::MemoryCache;

/// The default size limit: 200 MiB of keys, values and bookkeeping.
pub const DEFAULT_CAPACITY_BYTES: u64 = 200 * 1024 * 1024;

/// How often an idle cache is swept for expired entries by default.
pub const DEFAULT_REAP_INTERVAL: Duration = Duration::from_secs(60);

/// The URL schemes this backend opens: `memory://` (see
/// [`MemoryCacheBuilder::from_url`]).
pub const URL_SCHEMES: &[&str] = &["memory"];

/// The text with every secret hidden. A memory URL holds none, but a
/// mistyped one may carry a `user:password@` part, which is hidden.
///
/// ```
/// assert_eq!(cache_memory::redact("memory://?capacity=1MiB"), "memory://?capacity=1MiB");
/// assert_eq!(cache_memory::redact("memory://me:pw@x"), "memory://***@x");
/// ```
pub fn redact(text: &str) -> String {
    let Some(at) = text.rfind('@') else {
        return text.to_owned();
    };
    let start = text.find("//").map_or(0, |i| i + 2);
    if start > at {
        return text.to_owned();
    }
    format!("{}***{}", &text[..start], &text[at..])
}
