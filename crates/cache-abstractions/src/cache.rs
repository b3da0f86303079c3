//! The [`DistributedCache`] trait and its forwarding impls.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;

use crate::capabilities::Capabilities;
use crate::error::{Error, Result};
use crate::options::EntryOptions;

/// A cache shared by every instance of an app: ASP.NET Core's
/// `IDistributedCache`, with its known defects fixed.
///
/// Implement these four operations (plus [`capabilities`](Self::capabilities));
/// conveniences such as strings and serde types live in
/// [`DistributedCacheExt`](crate::DistributedCacheExt), and synchronous code
/// uses [`BlockingCache`](crate::BlockingCache). A backend whose reads never
/// wait (in-process) also implements [`get_now`](Self::get_now). The trait is dyn-compatible:
/// `Arc<dyn DistributedCache>` is the usual way to hold one.
///
/// ```
/// use cache_abstractions::{DistributedCache, EntryOptions};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// async fn remember(cache: Arc<dyn DistributedCache>) -> cache_abstractions::Result<()> {
///     let options = EntryOptions::new().sliding(Duration::from_secs(300));
///     cache.set("session:42", "hello".into(), &options).await?;
///     assert_eq!(cache.get("session:42").await?.as_deref(), Some(&b"hello"[..]));
///     cache.refresh("session:42").await?; // restart the sliding window
///     cache.remove("session:42").await?;
///     Ok(())
/// }
/// ```
///
/// # Contract
///
/// Every backend must behave as follows; `cache-testkit` turns each rule into
/// tests, and a backend conforms when the whole kit passes against it. Where
/// a backend cannot honour a rule it says so in its [`Capabilities`] and the
/// kit skips the rule with a visible reason.
///
/// | op | meaning |
/// |---|---|
/// | `get(key)` | the value if present and not expired, else `None`. Resets the sliding window of the entry it returns. |
/// | `set(key, value, options)` | stores the value **and its options**, replacing any earlier value and options under that key. |
/// | `refresh(key)` | resets the sliding window without transferring the value. No entry: success, nothing happens. |
/// | `remove(key)` | deletes the entry. No entry: success. |
///
/// 1. **Round trip.** `set` then `get` returns exactly the bytes set: empty
///    values, all 256 byte values, values of 1 MiB and 16 MiB.
/// 2. **Miss.** `get` of a key never set returns `Ok(None)`, not an error.
/// 3. **Overwrite.** A second `set` replaces value *and* options: an entry
///    first set with a 1 s expiry and then with none does not expire (.NET's
///    Redis cache keeps the old TTL).
/// 4. **Remove / refresh of a missing key** succeed and change nothing.
/// 5. **Keys** are Unicode strings; distinct keys never collide (case,
///    trailing spaces, long common prefixes). An empty key, or one longer than
///    the backend stores whole, fails with
///    [`ErrorKind::InvalidKey`](crate::ErrorKind::InvalidKey) before any I/O
///    (.NET's SQL Server cache silently truncates long keys).
/// 6. **Options are validated** before any I/O, by every backend alike, with
///    [`ErrorKind::InvalidOptions`](crate::ErrorKind::InvalidOptions) naming
///    the field: a zero relative or sliding duration, an absolute expiration
///    at or before now (see [`EntryOptions::resolve`]).
/// 7. **Absolute expiration**: present before the instant, never returned
///    after it. With an instant and a relative duration, the earlier wins.
/// 8. **Sliding expiration**: an entry not read or refreshed for the window is
///    gone; every successful `get` or `refresh` restarts the window; the window
///    never extends past the absolute expiration.
/// 9. **No options** means the backend's documented default
///    ([`Capabilities::default_options`]): no expiry for memory and Redis, a
///    20-minute sliding window for SQL Server.
/// 10. **Atomic set.** No reader sees a new value with old options, or a
///     value without its expiry; a crash mid-set can't leave an entry that
///     never expires.
/// 11. **Expired is invisible**, even before the backend deletes it.
/// 12. **Concurrency.** Concurrent sets and gets never produce torn or mixed
///     values, panics or deadlocks.
/// 13. **Isolation.** Caches with different instance names (Redis) or tables
///     (SQL Server) never see each other's entries.
/// 14. **Foreign or corrupt data** under a key gives
///     [`ErrorKind::CorruptEntry`](crate::ErrorKind::CorruptEntry) or a miss,
///     never a panic or a wrong value.
/// 15. **Backend down.** Operations fail with `Connection` or `Timeout` within
///     the configured timeout; when the server returns, the same instance
///     works again.
/// 16. **Cancellation.** Dropping an operation's future part-way leaves the
///     old or the new entry, never a mix, and the cache stays usable.
///
/// Durations below the backend's granularity are rounded **up**
/// ([`round_up`](crate::round_up)), never down to zero.
#[async_trait]
pub trait DistributedCache: Send + Sync + Debug {
    /// The value under `key` if present and not expired; restarts its sliding window.
    async fn get(&self, key: &str) -> Result<Option<Bytes>>;

    /// A [`get`](Self::get) answered without waiting, for backends whose
    /// reads never wait (in-process ones such as the memory backend).
    ///
    /// `Some(r)`: `r` is exactly what `get` would have returned, under the
    /// same rules (the key validated, an expired entry a miss, a sliding
    /// window restarted), and the read has happened. `None` (the default):
    /// this backend must wait, nothing was read; call `get`.
    ///
    /// It spares the boxed future of `get` where a caller (a wrapper such as
    /// the `Instrumented` decorator, or a cache tier) would otherwise await
    /// a value that is already there: on an in-process get of a hundred
    /// nanoseconds, that box is a good part of the cost. A backend that can
    /// answer only sometimes (a connection not yet made) returns `None` then.
    /// The conformance kit checks that a `Some` agrees with `get`.
    ///
    /// ```
    /// use cache_abstractions::{Bytes, DistributedCache, Result};
    ///
    /// async fn read(cache: &dyn DistributedCache, key: &str) -> Result<Option<Bytes>> {
    ///     match cache.get_now(key) {
    ///         Some(answered) => answered,
    ///         None => cache.get(key).await,
    ///     }
    /// }
    /// ```
    fn get_now(&self, key: &str) -> Option<Result<Option<Bytes>>> {
        let _ = key;
        None
    }

    /// Stores `value` and `options` under `key`, replacing both.
    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()>;

    /// Restarts the sliding window of `key` without reading its value.
    async fn refresh(&self, key: &str) -> Result<()>;

    /// Deletes `key`; a missing key is not an error.
    async fn remove(&self, key: &str) -> Result<()>;

    /// Describes the stored entry without touching its sliding window
    /// (for tools such as `cachectl inspect`).
    ///
    /// The default returns [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported).
    async fn inspect(&self, key: &str) -> Result<Option<EntryInfo>> {
        let _ = key;
        Err(Error::unsupported("this backend cannot inspect entries"))
    }

    /// Checks that the backend is reachable: connects if not yet connected
    /// and makes one round trip. For startup checks and health endpoints
    /// (building a cache does no I/O; see the crate's build policy).
    ///
    /// The default refreshes a probe key (a missing key is a success that
    /// changes nothing, contract rule 4), which is one round trip on any
    /// backend; a backend overrides it with something cheaper (Redis `PING`)
    /// or, when it has no connection at all, with `Ok(())`.
    async fn ping(&self) -> Result<()> {
        self.refresh(PING_KEY).await
    }

    /// What this backend can do; see [`Capabilities`].
    fn capabilities(&self) -> Capabilities;
}

/// The key the default [`DistributedCache::ping`] refreshes.
const PING_KEY: &str = "distcache:ping";

/// An entry as stored, from [`DistributedCache::inspect`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryInfo {
    /// The value's length in bytes.
    pub size: usize,
    /// The hard deadline, if any.
    pub absolute_expiration: Option<SystemTime>,
    /// The sliding window, if any.
    pub sliding_expiration: Option<Duration>,
    /// When the entry dies unless read or refreshed, if ever.
    pub expires_at: Option<SystemTime>,
}

impl EntryInfo {
    /// An entry description from its parts.
    pub fn new(
        size: usize,
        absolute_expiration: Option<SystemTime>,
        sliding_expiration: Option<Duration>,
        expires_at: Option<SystemTime>,
    ) -> Self {
        EntryInfo {
            size,
            absolute_expiration,
            sliding_expiration,
            expires_at,
        }
    }
}

/// What the trait's methods return (`async_trait`'s boxed future).
type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// Forwards every method, so a wrapper can never silently fall back to a
/// provided default (the lint below fails the build if one is missing).
///
/// The methods are written with `async_trait`'s expanded signatures and
/// return the inner cache's future itself: an `async fn` here would box a
/// second future around it on every call through an `Arc<dyn
/// DistributedCache>` (what the facade returns; method resolution picks
/// this impl before the `dyn` one), about 230 instructions on a memory get
/// of 600.
macro_rules! forward {
    ($($ty:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        #[async_trait]
        impl<T: DistributedCache + ?Sized> DistributedCache for $ty {
            fn get<'s, 'k, 'async_trait>(&'s self, key: &'k str) -> Boxed<'async_trait, Option<Bytes>>
            where
                's: 'async_trait,
                'k: 'async_trait,
                Self: 'async_trait,
            {
                (**self).get(key)
            }
            fn get_now(&self, key: &str) -> Option<Result<Option<Bytes>>> {
                (**self).get_now(key)
            }
            fn set<'s, 'k, 'o, 'async_trait>(
                &'s self,
                key: &'k str,
                value: Bytes,
                options: &'o EntryOptions,
            ) -> Boxed<'async_trait, ()>
            where
                's: 'async_trait,
                'k: 'async_trait,
                'o: 'async_trait,
                Self: 'async_trait,
            {
                (**self).set(key, value, options)
            }
            fn refresh<'s, 'k, 'async_trait>(&'s self, key: &'k str) -> Boxed<'async_trait, ()>
            where
                's: 'async_trait,
                'k: 'async_trait,
                Self: 'async_trait,
            {
                (**self).refresh(key)
            }
            fn remove<'s, 'k, 'async_trait>(&'s self, key: &'k str) -> Boxed<'async_trait, ()>
            where
                's: 'async_trait,
                'k: 'async_trait,
                Self: 'async_trait,
            {
                (**self).remove(key)
            }
            fn inspect<'s, 'k, 'async_trait>(
                &'s self,
                key: &'k str,
            ) -> Boxed<'async_trait, Option<EntryInfo>>
            where
                's: 'async_trait,
                'k: 'async_trait,
                Self: 'async_trait,
            {
                (**self).inspect(key)
            }
            fn ping<'s, 'async_trait>(&'s self) -> Boxed<'async_trait, ()>
            where
                's: 'async_trait,
                Self: 'async_trait,
            {
                (**self).ping()
            }
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
        }
    )*};
}

forward!(Arc<T>, Box<T>, &T);
