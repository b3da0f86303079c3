//! A Redis backend for [`cache_abstractions::DistributedCache`] that shares
//! entries with ASP.NET Core's `RedisCache`
//! (`Microsoft.Extensions.Caching.StackExchangeRedis`), runs on Redis
//! Cluster, and recovers from server restarts on its own.
//!
//! ```no_run
//! use cache_abstractions::{DistributedCache, DistributedCacheExt, EntryOptions};
//! use cache_redis::RedisCache;
//! use std::time::Duration;
//!
//! # async fn demo() -> cache_abstractions::Result<()> {
//! let cache = RedisCache::builder()
//!     .url("redis://127.0.0.1:6379/")
//!     .instance_name("shop:") // same as the .NET app's InstanceName
//!     .build()?; // no I/O: the first operation connects
//! cache.ping().await?; // optional: connect now, at startup
//! let options = EntryOptions::new().sliding(Duration::from_secs(300));
//! cache.set_string("cart:42", "3 items", &options).await?;
//! assert_eq!(cache.get_string("cart:42").await?.as_deref(), Some("3 items"));
//! # Ok(())
//! # }
//! ```
//!
//! # URLs
//!
//! | form | meaning |
//! |---|---|
//! | `redis://[user[:password]@]host[:port][/db]` | one server, plain TCP (port 6379 by default) |
//! | `rediss://[user[:password]@]host[:port][/db]` | one server over TLS, verified against the system trust store or [`RedisCacheBuilder::tls_root_certificate`]; append `#insecure` to skip verification |
//! | `redis+unix:///path/to.sock[?db=N&user=U&pass=P]`, `unix:///path/to.sock` | one server over a Unix socket |
//! | `redis+cluster://[user[:password]@]host:port,host:port,…` | a Redis Cluster through these seed nodes (plain TCP) |
//! | `rediss+cluster://[user[:password]@]host:port,…` | the same over TLS |
//!
//! [`RedisCacheBuilder::cluster_nodes`] takes a cluster as a list of
//! `redis://`/`rediss://` URLs instead. User name and password may also be
//! set with [`RedisCacheBuilder::username`] and [`RedisCacheBuilder::password`]
//! (percent-encode them in a URL). Passwords never appear in `Debug` output
//! or error messages.
//!
//! # Stored format
//!
//! Exactly .NET's: under `instance_name` bytes followed by the key's UTF-8
//! bytes, a hash with the fields `absexp` (absolute expiration, .NET ticks
//! since 0001-01-01 UTC), `sldexp` (sliding window in ticks) and `data` (the
//! value), `-1` for an absent expiration; the key's TTL is the earlier of
//! the absolute expiration and the sliding window. Where .NET is wrong this
//! crate differs only in *how* it writes, never in *what*:
//!
//! - `set` is one atomic round trip (`MULTI`, `DEL`, `HSET`, `PEXPIRE`,
//!   `EXEC`): no window where the value exists without its expiry, and an
//!   overwrite replaces the old TTL (.NET keeps it).
//! - TTLs are milliseconds rounded up, never 0 (.NET's `EXPIRE 0` deletes).
//! - A sliding `get` or `refresh` is one round trip through a server script
//!   (`EVALSHA`, loaded once and reloaded after `NOSCRIPT`). A server that
//!   refuses scripting (commands renamed, or an ACL without `@scripting`)
//!   gets two round trips instead, detected on the first call: the read,
//!   then the TTL set and checked in one `MULTI`/`EXEC`, corrected if a
//!   `set` replaced the entry in between (so an overwrite never keeps the
//!   old TTL). A `NOPERM` on a key is that operation's error and leaves
//!   scripting on. The switch is a WARN event, once; a reload a DEBUG one.
//! - An entry whose absolute expiration has passed is a miss even if Redis
//!   still holds the key.
//! - A key holding anything else (a string, a list, a hash with malformed
//!   fields) is [`ErrorKind::CorruptEntry`](cache_abstractions::ErrorKind),
//!   never a panic or a wrong value.
//!
//! # Connections and errors
//!
//! [`RedisCacheBuilder::build`] validates the settings without I/O; the
//! first operation connects (or [`ping`](cache_abstractions::DistributedCache::ping),
//! for a startup check). A rejected login (`NOAUTH` when no password was
//! given, a wrong password) is
//! [`ErrorKind::Authentication`](cache_abstractions::ErrorKind), not retryable.
//!
//! One server: a bb8 pool of multiplexed connections; each operation clones
//! a pooled connection and returns the slot at once, so concurrent
//! operations pipeline on shared connections. A cluster: one cluster
//! connection, which routes by slot and reconnects itself. An operation
//! fails with `Connection` or `Timeout` within `connect_timeout` +
//! `command_timeout`; after the server comes back, the same `RedisCache`
//! works again (broken connections are replaced).
//!
//! # TLS
//!
//! Feature `tls-rustls` (default): rustls with the ring provider, no
//! system OpenSSL. Feature `tls-native-tls`: the platform's stack, used
//! only with `default-features = false`.
//!
//! # Capabilities
//!
//! Keys up to 512 MiB including the instance name (lower it with
//! [`RedisCacheBuilder::max_key_bytes`]), values up to 512 MiB, millisecond
//! expiry granularity, no default expiry, shared between processes.
// Examples need a server, so they define functions that are compiled, not run.
#![doc(test(attr(deny(warnings), allow(dead_code))))]

mod backplane;
mod builder;
mod cache;
mod config;
mod conn;
mod error;
mod format;
// Decoders for the fuzz targets and property tests only: not API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod scripts;
mod telemetry;
mod tracking;
mod url;

pub use backplane::{PubSubEvent, RedisBackplane, BACKPLANE_CHANNEL_SUFFIX};
pub use builder::RedisCacheBuilder;
pub use cache::RedisCache;
pub use url::{redact, URL_SCHEMES};
