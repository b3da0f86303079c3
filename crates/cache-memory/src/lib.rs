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
//!   configurations use) enforced by [moka]'s TinyLFU admission and LRU eviction.
//! - Expired entries are reclaimed by moka's timer wheel on every operation
//!   and by a background reaper when idle, so dead keys never pile up.
//! - No global lock: moka is a concurrent hash table; a sliding read is one
//!   atomic `fetch_max`.
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
//! [moka]: https://docs.rs/moka
#![doc(test(attr(deny(warnings))))]

// The README (shown on crates.io) is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod builder;
mod cache;
mod config;
mod format;
mod reaper;

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
