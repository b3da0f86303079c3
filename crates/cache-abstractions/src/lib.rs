//! One small async trait for a cache shared by every instance of an app:
//! what ASP.NET Core's `IDistributedCache` gives .NET services, for Rust.
//!
//! - [`DistributedCache`]: `get`, `set`, `refresh`, `remove`; its docs carry the
//!   contract every backend must meet.
//! - [`EntryOptions`]: absolute (instant or relative) and sliding expiration.
//! - [`DistributedCacheExt`]: strings, default options and serde types.
//! - [`BlockingCache`]: the same operations from synchronous code (feature
//!   `blocking`, on by default).
//! - [`Error`] with an [`ErrorKind`] to match on and [`Error::is_retryable`].
//!
//! - [`OpenOptions`] and [`url_scheme`]: what every backend's from-URL
//!   constructor shares.
//!
//! Backends live in their own crates: `cache-memory` (in-process),
//! `cache-redis`, `cache-sqlserver`. Code written against
//! `Arc<dyn DistributedCache>` works with any of them; the `distcache` crate
//! opens any of them from a URL (`distcache::open("redis://..")`).
//!
//! # Build policy (every backend)
//!
//! Each backend crate exports the same pieces, so one facade can open any
//! of them and an app can swap them by changing a URL:
//!
//! - `URL_SCHEMES`: the URL schemes it opens (lower case);
//! - `redact(text)`: the text with every secret hidden (never fails);
//! - `<Backend>CacheBuilder::from_url(text, &OpenOptions)`: a builder from a
//!   URL (or, for SQL backends, a connection string), without I/O;
//! - `<Backend>CacheBuilder::build()`: **synchronous**; it validates the
//!   settings without I/O and never blocks. A bad setting is an
//!   [`ErrorKind::Config`] error here, at once.
//!
//! Connecting is **lazy**: the first operation (or [`DistributedCache::ping`])
//! connects, and a server that is down surfaces as a `Connection` or
//! `Timeout` error from that operation, retryable, never as a failed build.
//! So an app starts even while its cache server is still starting, and a
//! health endpoint calls `ping()` to report it. A login the server rejects
//! is an [`ErrorKind::Authentication`] error, not retryable.
//!
//! ```
//! use cache_abstractions::{DistributedCache, DistributedCacheExt, EntryOptions};
//! use std::time::Duration;
//!
//! async fn cached_profile(cache: &dyn DistributedCache, user: u64) -> cache_abstractions::Result<String> {
//!     let key = format!("profile:{user}");
//!     if let Some(hit) = cache.get_string(&key).await? {
//!         return Ok(hit);
//!     }
//!     let fresh = format!("profile of {user}"); // the expensive lookup
//!     let options = EntryOptions::new()
//!         .expires_in(Duration::from_secs(3600))
//!         .sliding(Duration::from_secs(300));
//!     cache.set_string(&key, &fresh, &options).await?;
//!     Ok(fresh)
//! }
//! ```
// Examples define functions that take a cache; no backend exists in this crate to call them with.
#![doc(test(attr(deny(warnings), allow(dead_code))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The README (shown on crates.io) is compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "blocking")]
mod blocking;
mod cache;
mod capabilities;
mod clock;
mod error;
mod ext;
#[cfg(any(feature = "tracing", feature = "metrics"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tracing", feature = "metrics"))))]
pub mod instrument;
mod open;
mod options;
#[cfg(feature = "backend-support")]
pub mod support;

#[cfg(feature = "blocking")]
pub use blocking::BlockingCache;
pub use cache::{DistributedCache, EntryInfo};
pub use capabilities::{Capabilities, KeyLimit};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{BoxError, Error, ErrorKind, Result};
pub use ext::DistributedCacheExt;
#[cfg(any(feature = "tracing", feature = "metrics"))]
pub use instrument::{InstrumentExt, Instrumentation, Instrumented, KeyPolicy};
pub use open::{url_scheme, OpenOptions};
pub use options::{
    max_absolute_expiration, round_up, EntryOptions, Expiry, MAX_ABSOLUTE_EXPIRATION_UNIX_SECS,
    MAX_SLIDING_EXPIRATION,
};

/// Re-exported so backends implement the trait with the same macro version.
pub use async_trait::async_trait;
/// Re-exported: values are [`Bytes`], cheap to clone and share.
pub use bytes::Bytes;
