//! [`MemoryCache`]: the [`DistributedCache`] impl over the [`Store`].

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use cache_abstractions::{
    async_trait, Bytes, Capabilities, DistributedCache, EntryInfo, EntryOptions, Error, ErrorKind,
    Result,
};

use crate::builder::MemoryCacheBuilder;
use crate::config::Config;
use crate::format::{to_micros, Stored, GRANULARITY};
use crate::key::StoredKey;
use crate::reaper;
use crate::store::{weight, Store, ENTRY_OVERHEAD};

/// An in-process cache. Clones share the same entries.
#[derive(Clone)]
pub struct MemoryCache {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<Store>,
    capabilities: Capabilities,
    capacity: u64,
    _reaper: Option<reaper::Reaper>,
}

impl fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = &self.inner.store;
        f.debug_struct("MemoryCache")
            .field("entries", &store.entries.len())
            .field("weighted_size", &store.entries.weight())
            .field("capacity_bytes", &self.inner.capacity)
            .field("shards", &store.entries.num_shards())
            .field("clock", &store.clock)
            .finish()
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        MemoryCache::new()
    }
}

impl MemoryCache {
    /// A cache with the defaults: 200 MiB, the system clock, a reaper every minute.
    pub fn new() -> Self {
        MemoryCache::from_config(Config::default())
    }

    pub(crate) fn from_config(config: Config) -> Self {
        MemoryCache {
            inner: Arc::new(Inner::new(config)),
        }
    }

    /// A builder for the size limit, clock and reaper interval.
    pub fn builder() -> MemoryCacheBuilder {
        MemoryCacheBuilder::default()
    }

    /// The number of entries held, expired ones not yet reclaimed included
    /// (call [`run_pending_tasks`](Self::run_pending_tasks) first to leave
    /// them out).
    pub fn entry_count(&self) -> u64 {
        self.inner.store.entries.len() as u64
    }

    /// The bytes charged against the size limit.
    pub fn weighted_size(&self) -> u64 {
        self.inner.store.entries.weight()
    }

    /// How many entries the cache has dropped to stay within its size
    /// limit since it was built (expired and removed entries are not
    /// counted). A steady rise means the limit is too small for the working
    /// set.
    ///
    /// ```
    /// use cache_abstractions::{DistributedCache, EntryOptions};
    /// use cache_memory::MemoryCache;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_abstractions::Result<()> {
    /// let cache = MemoryCache::builder().capacity_bytes(64 << 10).build()?;
    /// for i in 0..200 {
    ///     cache.set(&format!("k{i}"), vec![0; 1024].into(), &EntryOptions::new()).await?;
    /// }
    /// assert!(cache.evictions() > 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn evictions(&self) -> u64 {
        self.inner.store.evictions.count()
    }

    /// Drops every entry at once, freeing their memory before it returns.
    /// For a hybrid cache's local tier that can no longer trust what it
    /// holds (a backplane outage).
    pub fn clear(&self) {
        self.inner.store.entries.clear();
    }

    /// Reclaims expired entries now: one pass over every entry, as the
    /// reaper makes. (Evictions for the size limit need no such call: they
    /// happen in `set`, before it returns.)
    pub fn run_pending_tasks(&self) {
        self.inner.store.sweep();
    }

    /// [`get`](DistributedCache::get) without the `async`: the memory
    /// backend never waits, so a caller holding the concrete type (the
    /// hybrid cache's local tier) can skip the boxed future the trait's
    /// `async_trait` method costs on every call. Same rules: the key is
    /// validated, an expired entry is a miss, a sliding window restarts.
    ///
    /// ```
    /// use cache_abstractions::{DistributedCache, EntryOptions};
    /// use cache_memory::MemoryCache;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_abstractions::Result<()> {
    /// let cache = MemoryCache::new();
    /// cache.set("k", "v".into(), &EntryOptions::new()).await?;
    /// assert_eq!(cache.get_sync("k")?.as_deref(), Some(&b"v"[..]));
    /// assert_eq!(cache.get_sync("absent")?, None);
    /// # Ok(())
    /// # }
    /// ```
    // Inlined into other crates' callers (the `Instrumented` wrapper's
    // answered get, through `get_now`): its frame alone was ~4% of a get.
    #[inline]
    pub fn get_sync(&self, key: &str) -> Result<Option<Bytes>> {
        self.inner.capabilities.validate_key(key)?;
        Ok(self.live(key, true, None).map(Stored::into_value))
    }

    /// [`get_sync`](Self::get_sync) judged at `now` instead of a fresh
    /// reading of the cache's clock: for a caller that has just read the
    /// same clock (the hybrid cache's local tier reads it once per lookup,
    /// and a clock read is a sizeable share of an in-process get). An entry
    /// is alive, and a sliding window restarts, as at `now`; a `now` from
    /// another clock makes entries live longer or shorter for this read.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use cache_abstractions::{DistributedCache, EntryOptions};
    /// use cache_memory::MemoryCache;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> cache_abstractions::Result<()> {
    /// let cache = MemoryCache::new();
    /// let options = EntryOptions::new().expires_in(Duration::from_secs(60));
    /// cache.set("k", "v".into(), &options).await?;
    /// let now = SystemTime::now();
    /// assert!(cache.get_sync_at("k", now)?.is_some());
    /// assert!(cache.get_sync_at("k", now + Duration::from_secs(61))?.is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn get_sync_at(&self, key: &str, now: SystemTime) -> Result<Option<Bytes>> {
        self.inner.capabilities.validate_key(key)?;
        Ok(self
            .live(key, true, Some(to_micros(now)))
            .map(Stored::into_value))
    }

    /// The entry under `key` if alive at `now` (the clock's reading when
    /// `None`, taken only for an entry that can expire); restarts its
    /// sliding window when `touch` (which also counts as a use for
    /// eviction; an inspection does not).
    fn live(&self, key: &str, touch: bool, now: Option<u64>) -> Option<Stored> {
        let store = &self.inner.store;
        let key = key.as_bytes();
        let entry = if touch {
            store.entries.get(key)
        } else {
            store.entries.peek(key)
        }?;
        if entry.never_expires() {
            return Some(entry);
        }
        let now = now.unwrap_or_else(|| to_micros(store.clock.now()));
        if !entry.is_alive(now) {
            // Invisible now (rule 11), and evicted now, so a dead entry
            // never holds its memory until the next sweep while reads of
            // it keep coming. Only if still dead: atomically per key, so a
            // fresh entry set concurrently is never the one removed.
            store
                .entries
                .remove_if(key, |e| !e.is_alive(to_micros(store.clock.now())));
            return None;
        }
        if touch {
            entry.touch(now);
        }
        Some(entry)
    }
}

#[async_trait]
impl DistributedCache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.get_sync(key)
    }

    /// Always `Some`: the memory backend never waits. Inlined into callers
    /// (the `Instrumented` wrapper) in other crates.
    #[inline]
    fn get_now(&self, key: &str) -> Option<Result<Option<Bytes>>> {
        Some(self.get_sync(key))
    }

    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        let caps = &self.inner.capabilities;
        caps.validate_key(key)?;
        let now = self.inner.store.clock.now();
        let expiry = options.resolve(now)?;
        caps.validate_value(value.len())?;
        // The store would drop an entry heavier than its limit at once,
        // and `set` would seem to have worked.
        let max = self.inner.store.max_weight();
        if weight(key.len(), value.len()) > max {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "key and value ({} bytes) with the per-entry overhead exceed this cache's largest entry of {max} bytes (capacity {} bytes)",
                    key.len().saturating_add(value.len()),
                    self.inner.capacity
                ),
            ));
        }
        let entry = Stored::new(value, expiry, now);
        self.inner.store.entries.insert(StoredKey::new(key), entry);
        Ok(())
    }

    async fn refresh(&self, key: &str) -> Result<()> {
        self.inner.capabilities.validate_key(key)?;
        self.live(key, true, None);
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<()> {
        self.inner.capabilities.validate_key(key)?;
        self.inner.store.entries.remove(key.as_bytes());
        Ok(())
    }

    async fn inspect(&self, key: &str) -> Result<Option<EntryInfo>> {
        self.inner.capabilities.validate_key(key)?;
        Ok(self.live(key, false, None).map(|e| e.info()))
    }

    /// Always succeeds: an in-process cache has no connection to check.
    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities.clone()
    }
}

impl Inner {
    fn new(config: Config) -> Self {
        let store = Arc::new(Store::new(config.capacity, config.clock));
        let max_value = store.max_weight().saturating_sub(ENTRY_OVERHEAD);
        let capabilities = Capabilities::new()
            .with_max_value_size(Some(usize::try_from(max_value).unwrap_or(usize::MAX)))
            .with_expiry_granularity(GRANULARITY);
        let reaper = config
            .reap_interval
            .map(|every| reaper::Reaper::spawn(Arc::clone(&store), every));
        Inner {
            store,
            capabilities,
            capacity: config.capacity,
            _reaper: reaper,
        }
    }
}

#[cfg(test)]
mod tests;
