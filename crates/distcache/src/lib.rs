//! Open any distributed cache from a URL: memory, Redis or SQL Server,
//! behind one [`DistributedCache`] trait (ASP.NET Core's
//! `IDistributedCache`, for Rust). This crate is the one dependency an app
//! needs; it re-exports the trait, options, errors and the blocking facade.
//!
//! ```
//! use distcache::{DistributedCacheExt, EntryOptions};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> distcache::Result<()> {
//! // From configuration: "redis://:pw@cache:6379", "Server=db;Database=app;...", ...
//! let cache = distcache::open("memory://")?;
//! let options = EntryOptions::new().sliding(Duration::from_secs(300));
//! cache.set_string("session:42", "hello", &options).await?;
//! assert_eq!(cache.get_string("session:42").await?.as_deref(), Some("hello"));
//! # Ok(()) }
//! ```
//!
//! # What opens what
//!
//! | text | backend | feature |
//! |---|---|---|
//! | `memory://`, `memory://?capacity=64MiB` | in-process ([`cache_memory`]) | `memory` (default) |
//! | `redis://`, `rediss://`, `redis+unix://`, `unix://`, `redis+cluster://`, `rediss+cluster://` | Redis (`cache-redis`) | `redis` |
//! | `sqlserver://`, `mssql://`, an ADO.NET string (`Server=..;Database=..;`) | SQL Server (`cache-sqlserver`); needs [`OpenOptions::table`] | `sqlserver` |
//! | `postgres://`, `postgresql://`, a libpq string (`host=.. dbname=..`) | PostgreSQL (`cache-postgres`) | `postgres` |
//!
//! The facade only dispatches: each backend crate says which schemes (and
//! connection strings) it takes, parses them and hides their secrets. A
//! scheme no compiled-in backend takes is an [`ErrorKind::Config`] error
//! naming that scheme and nothing else of the text.
//!
//! # Opening does no I/O
//!
//! [`open`] and [`open_with`] are synchronous: they validate the settings and
//! return at once (see the build policy in [`cache_abstractions`]). The
//! first operation connects; call [`DistributedCache::ping`] at startup or
//! from a health endpoint to check the server now.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> distcache::Result<()> {
//! use distcache::{DistributedCache, OpenOptions};
//! use std::time::Duration;
//!
//! let options = OpenOptions::new().timeout(Duration::from_secs(2)).instance_name("shop:");
//! let cache = distcache::open_with("memory://", &options)?;
//! cache.ping().await?;
//! # Ok(()) }
//! ```
//!
//! # Traces and metrics
//!
//! With the `tracing` and/or `metrics` features,
//! [`OpenOptions::instrument`] wraps the opened cache in [`Instrumented`]:
//! one span per operation and operation counters and durations, labelled
//! with the backend as OpenTelemetry names it (`memory`, `redis`,
//! `microsoft.sql_server`, `postgresql`). Install the metrics recorder
//! first. docs/observability.md lists every name.
//!
//! ```
//! # #[cfg(feature = "metrics")] {
//! use distcache::{Instrumentation, OpenOptions};
//!
//! let options = OpenOptions::new().instrument(Instrumentation::new());
//! let cache = distcache::open_with("memory://", &options)?;
//! assert!(format!("{cache:?}").starts_with("Instrumented"));
//! # }
//! # Ok::<(), distcache::Error>(())
//! ```
//!
//! # Logging a URL
//!
//! Never log a cache URL as given: [`redact`] hides every password of any
//! text [`open`] takes (and all of a text it cannot read).
//!
//! ```
//! assert_eq!(distcache::redact("memory://?capacity=1MiB"), "memory://?capacity=1MiB");
//! assert!(!distcache::redact("nosuch://user:hunter2@host").contains("hunter2"));
//! ```
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod registry;
mod scrub;

use std::sync::Arc;

pub use cache_abstractions::*;
pub use scrub::Scrubber;

/// The in-process backend, for its own builder and sizes.
#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
pub use cache_memory;
/// The Redis backend, for its own builder (cluster nodes, TLS, scripts).
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use cache_redis;
/// The SQL Server backend, for its own builder (cleanup, default window).
#[cfg(feature = "sqlserver")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlserver")))]
pub use cache_sqlserver;

/// The PostgreSQL backend, for its own builder, table tools and TLS settings.
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use cache_postgres;

use registry::Found;

/// Opens the cache `url` names, with every default. No I/O; see
/// [`open_with`].
///
/// # Errors
///
/// [`ErrorKind::Config`] for a URL or connection string no compiled-in
/// backend takes, or one its backend finds invalid.
pub fn open(url: &str) -> Result<Arc<dyn DistributedCache>> {
    open_with(url, &OpenOptions::new())
}

/// Opens the cache `url` names, with settings beside the URL (timeouts, pool
/// size, Redis instance name, SQL table, clock). Synchronous and without
/// I/O: the backend connects on first use (or on
/// [`ping`](DistributedCache::ping)).
///
/// Surrounding whitespace is ignored (configuration files often leave some).
///
/// # Errors
///
/// [`ErrorKind::Config`] for a URL or connection string no compiled-in
/// backend takes, or one its backend finds invalid. Messages never quote
/// the text: it may hold a password.
pub fn open_with(url: &str, options: &OpenOptions) -> Result<Arc<dyn DistributedCache>> {
    let text = url.trim();
    match registry::find(text) {
        Found::Backend(backend) => {
            let cache = (backend.open)(text, options)?;
            #[cfg(any(feature = "tracing", feature = "metrics"))]
            if let Some(how) = &options.instrumentation {
                return Ok(Arc::new(how.apply(cache, backend.system)));
            }
            Ok(cache)
        }
        other => Err(registry::not_openable(&other)),
    }
}

/// `text` with every secret hidden, for logs and messages. Never fails.
///
/// The backend that takes `text` redacts it. Text no backend takes is
/// hidden after its scheme (`app:pw@host` becomes `app:***`), or entirely,
/// since nothing says where its secrets are; only text with none of the
/// characters credentials are written with (`:`, `@`, `=`, `;`, `/`) is
/// returned as it is (a plain word, such as a mistyped subcommand).
///
/// ```
/// assert_eq!(distcache::redact("nosuch://me:hunter2@host"), "nosuch:***");
/// assert_eq!(distcache::redact(":hunter2@host:6379"), "***");
/// assert_eq!(distcache::redact("gett"), "gett");
/// ```
pub fn redact(text: &str) -> String {
    match registry::find(text.trim()) {
        Found::Backend(backend) => (backend.redact)(text.trim()),
        Found::UnknownScheme(scheme, _) if scheme.len() <= 24 => format!("{scheme}:***"),
        _ if !text.contains([':', '@', '=', ';', '/']) => text.to_owned(),
        _ => "***".to_owned(),
    }
}

/// The backend `url` would open (`"memory"`, `"redis"`, `"sqlserver"`), if
/// this build has it. No parsing beyond the scheme; [`open`] may still
/// refuse the text.
///
/// ```
/// assert_eq!(distcache::backend_of("memory://"), Some("memory"));
/// assert_eq!(distcache::backend_of("nosuch://x"), None);
/// ```
pub fn backend_of(url: &str) -> Option<&'static str> {
    match registry::find(url.trim()) {
        Found::Backend(backend) => Some(backend.name),
        _ => None,
    }
}

/// What this build opens, for help texts: every URL scheme as `scheme://`,
/// and "a connection string" when a backend takes one, comma-separated.
///
/// ```
/// assert!(distcache::supported().contains("memory://"));
/// ```
pub fn supported() -> String {
    registry::known()
}
