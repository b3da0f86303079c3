//! The cases, one public async function per named test, grouped by rule.
//!
//! Every case makes its own namespace and keys, so cases run in parallel
//! against one server.

pub mod basic;
pub mod blocking;
pub mod expiry;
pub mod faults;
pub mod now;
