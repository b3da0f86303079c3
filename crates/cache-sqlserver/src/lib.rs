//! A [`DistributedCache`](cache_abstractions::DistributedCache) on SQL Server
//! that uses the tables .NET's `dotnet sql-cache create` makes, unchanged, so
//! Rust services and ASP.NET Core apps share entries both ways.
//!
//! - [`SqlServerCache`] and its [`builder`](SqlServerCache::builder).
//! - [`ConnectionString`]: the ADO.NET form .NET apps use, or a
//!   `sqlserver://` URL; passwords never appear in `Debug` or errors.
//! - [`TableName`]: validated, bracket-quoted schema and table names.
//! - [`schema`]: the table's DDL, its idempotent script and table creation,
//!   as the `sql-cache` tool (a binary of this crate) uses them.
//!
//! It fixes .NET's known defects while keeping the rows compatible: long
//! keys are refused instead of truncated onto each other, `ExpiresAtTime` is
//! capped at the absolute expiration, and expired rows are deleted in batches
//! by one instance at a time.
// Examples define async functions to show calls; no server exists to run them against.
#![doc(test(attr(deny(warnings), allow(dead_code))))]

mod builder;
mod cache;
mod cleanup;
mod config;
mod conn;
mod connstr;
mod error;
mod format;
// Decoders for the fuzz targets and property tests only: not API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod ident;
mod keys;
pub mod schema;
mod sqltime;
mod statements;
mod telemetry;

pub use builder::SqlServerCacheBuilder;
pub use cache::{
    SqlServerCache, DEFAULT_CLEANUP_BATCH_SIZE, DEFAULT_DELETION_INTERVAL,
    DEFAULT_SLIDING_EXPIRATION, MAX_KEY_UNITS, MIN_DELETION_INTERVAL,
};
pub use cleanup::CleanupOutcome;
pub use connstr::{is_connection_string, redact, ConnectionString, Encrypt, URL_SCHEMES};
pub use ident::TableName;
