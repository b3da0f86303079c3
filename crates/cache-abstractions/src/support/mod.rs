//! Shared parts for backend authors (feature `backend-support`, off by
//! default): what two network backends would otherwise each write.
//!
//! - [`dotnet`]: .NET ticks ([`dotnet::Ticks`]), the time unit of every
//!   stored form ASP.NET Core shares (Redis's `absexp`/`sldexp`, SQL
//!   Server's `datetimeoffset`), with saturating, clamping conversions.
//! - [`connect`]: the broadcast of failed pooled connects
//!   ([`connect::ConnectFailures`]), so an operation waiting for a new
//!   bb8 connection fails at once with the driver's real error instead of
//!   waiting out the connect timeout.
//! - [`expiry`]: when a `set` resolves its options (before any I/O, and
//!   again at the time of the write), with the cache's defaults for empty
//!   options.
//! - [`settings`]: the settings of table-backed caches (SQL Server,
//!   PostgreSQL) with .NET's defaults and one set of checks.
//! - [`statement`]: one statement bounded by the command timeout, and the
//!   at-most-one-row rule of a key lookup.
//! - [`sweep`]: the background sweep of expired rows: its schedule, the
//!   batch loop and the one place a sweep's end is logged.
//! - [`tool`] (feature `tool-support`, which adds clap): the command line
//!   of a table tool (`create`, `script`), its exit codes, and messages
//!   that never repeat a secret.
//!
//! # Why a feature of this crate, not a crate of its own
//!
//! Both parts are small and every backend already depends on this crate;
//! a separate crate would add one more version to keep in step for a few
//! hundred lines. The feature keeps them out of applications' builds:
//! an app that only codes against [`DistributedCache`](crate::DistributedCache)
//! compiles neither bb8 nor these modules. Backend crates turn it on in
//! their own `[dependencies]`; tests and benchmarks that need ticks turn it
//! on in `[dev-dependencies]`.

pub mod connect;
pub mod dotnet;
pub mod expiry;
pub mod pool;
pub mod settings;
pub mod statement;
pub mod sweep;
#[cfg(feature = "tool-support")]
#[cfg_attr(docsrs, doc(cfg(feature = "tool-support")))]
pub mod tool;
