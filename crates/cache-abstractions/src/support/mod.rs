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
