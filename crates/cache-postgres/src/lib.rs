//! A [`DistributedCache`](cache_abstractions::DistributedCache) on PostgreSQL
//! that uses the table of .NET's `Microsoft.Extensions.Caching.Postgres`
//! unchanged, so Rust services and ASP.NET Core apps share entries both ways.
//!
//! - [`PostgresCache`], built by [`PostgresCacheBuilder`] from a
//!   `postgres://` URL or a libpq `key=value` string
//!   ([`PostgresCacheBuilder::from_url`]); TLS through rustls with libpq's
//!   `sslmode` meanings; passwords never appear in `Debug` or errors
//!   ([`redact`]).
//! - [`TableName`]: validated schema and table names, always quoted.
//! - [`schema`]: the table's DDL, its scripts and table creation, as the
//!   `pg-cache` tool (a binary of this crate) uses them.
//!
//! It fixes .NET's known defects while keeping the rows compatible: a read
//! is one statement (the sliding refresh an `UPDATE .. RETURNING`), the
//! window is compared as a whole interval and capped at the absolute
//! expiration, instants stay `timestamptz`, names are quoted, and expired
//! rows are swept in batches by one instance at a time.
//!
//! ```no_run
//! use cache_abstractions::{DistributedCache, EntryOptions, OpenOptions};
//! use cache_postgres::PostgresCacheBuilder;
//! use std::time::Duration;
//!
//! # async fn run() -> cache_abstractions::Result<()> {
//! let options = OpenOptions::new().table("cache").timeout(Duration::from_secs(5));
//! let cache = PostgresCacheBuilder::from_url("postgres://app@db/app", &options)?.build()?;
//! cache.ping().await?; // connect now rather than on first use
//! cache
//!     .set("user:42", "Ada".into(), &EntryOptions::new().sliding(Duration::from_secs(600)))
//!     .await?;
//! # Ok(())
//! # }
//! ```
// Examples need a server, so most define functions that are compiled, not run.
#![doc(test(attr(deny(warnings), allow(dead_code))))]

mod builder;
mod cache;
mod conn;
mod connstr;
mod error;
mod format;
pub mod schema;
mod statements;
mod sweep;
mod table;
mod telemetry;
mod tls;

pub use builder::{
    PostgresCacheBuilder, DEFAULT_SCHEMA, DEFAULT_SLIDING_EXPIRATION, DEFAULT_SWEEP_BATCH_SIZE,
    DEFAULT_SWEEP_INTERVAL, MIN_SWEEP_INTERVAL,
};
pub use cache::PostgresCache;
pub use connstr::{is_connection_string, redact, RootCerts, SslMode, URL_SCHEMES};
pub use format::{MAX_KEY_UNITS, MAX_VALUE_BYTES};
pub use statements::SWEEP_LOCK_CLASS;
pub use sweep::SweepOutcome;
pub use table::TableName;
