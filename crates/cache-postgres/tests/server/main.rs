//! The server suite: runs against the PostgreSQL server on this machine and
//! in CI (`CACHE_TEST_POSTGRES`, by default
//! `postgres://postgres@127.0.0.1:5432/test`, trust auth). It is always
//! built and run: with no server every test FAILS (never skips), so a
//! missing server can never count as a pass.
//!
//! Every test makes its own uniquely named schema and drops it at the end
//! (also when it fails), and touches nothing else in the database.

mod common;
mod conformance;
mod facade;
mod faults;
mod interop;
mod proxy;
mod soak;
mod sweep;
mod tls;
#[cfg(feature = "tool")]
mod tool;
