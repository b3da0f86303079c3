//! wip
// Temporary while the cache is being wired in.
#![allow(dead_code)]
mod connstr;
mod decode;
mod ident;
mod sqltime;
mod statements;
pub use connstr::{ConnectionString, Encrypt};
pub use ident::TableName;
