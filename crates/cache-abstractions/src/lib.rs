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
//! Backends live in their own crates: `cache-memory` (in-process),
//! `cache-redis`, `cache-sqlserver`. Code written against
//! `Arc<dyn DistributedCache>` works with any of them.
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
mod options;

#[cfg(feature = "blocking")]
pub use blocking::BlockingCache;
pub use cache::{DistributedCache, EntryInfo};
pub use capabilities::{Capabilities, KeyLimit};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{BoxError, Error, ErrorKind, Result};
pub use ext::DistributedCacheExt;
#[cfg(any(feature = "tracing", feature = "metrics"))]
pub use instrument::{InstrumentExt, Instrumented, KeyPolicy};
pub use options::{
    max_absolute_expiration, round_up, EntryOptions, Expiry, MAX_ABSOLUTE_EXPIRATION_UNIX_SECS,
    MAX_SLIDING_EXPIRATION,
};

/// Re-exported so backends implement the trait with the same macro version.
pub use async_trait::async_trait;
/// Re-exported: values are [`Bytes`], cheap to clone and share.
pub use bytes::Bytes;
