//! The server suite: runs against a real SQL Server whenever
//! `CACHE_TEST_SQLSERVER` holds a connection string, for example
//! `server=tcp:127.0.0.1,1433;user=sa;password=…;database=master;TrustServerCertificate=true`.
//! Without it every test prints a SKIPPED line and returns: a skipped test
//! proves nothing about the server.
//!
//! It needs nothing but that string and the right to create tables: every
//! test creates its own uniquely named tables and drops them afterwards,
//! also when it fails, so it can run against any server, repeatedly.

mod cleanup;
mod common;
mod conformance;
mod interop;
mod proxy;
mod tool;
