//! The server suite: runs against a real SQL Server whenever
//! `CACHE_TEST_SQLSERVER` holds a connection string, for example
//! `server=tcp:127.0.0.1,1433;user=sa;password=…;database=master;TrustServerCertificate=true`.
//! It is built only with the `server-tests` feature (`cargo xtask test` turns
//! it on when the variable is set), and with the feature but without the
//! variable every test fails: a skipped server test must never count as a
//! pass.
//!
//! It needs nothing but that string and the right to create tables: every
//! test creates its own uniquely named tables and drops them afterwards,
//! also when it fails, so it can run against any server, repeatedly.

mod cleanup;
mod common;
mod conformance;
mod interop;
mod login;
mod proxy;
mod soak;
#[cfg(feature = "tool")]
mod tool;
