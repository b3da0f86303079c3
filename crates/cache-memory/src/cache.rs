//! [`MemoryCache`]: the [`DistributedCache`] impl over moka.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_abstractions::{
    async_trait, Bytes, Capabilities, Clock, DistributedCache, EntryInfo, EntryOptions, Error,
    ErrorKind, Result,
};
use moka::ops::compute::Op;
use moka::sync::Cache;

use crate::builder::MemoryCacheBuilder;
use crate::config::Config;
use crate::format::{to_micros, Stored, GRANULARITY};
use crate::reaper;

/// Bytes charged per entry on top of key and value, so the size limit
/// tracks resident memory.
///
/// Measured with `benches/src/bin/footprint.rs` (100k entries of 1 KiB,
/// glibc malloc, moka 0.12): about 425 bytes of resident memory per entry
/// beyond its key and value bytes: moka's own blocks (entry info, value
/// entry, deque nodes, key `Arc`, hash bucket), the key and value
/// allocations' headers and rounding. Entries without a sliding window live
/// inline in moka's value slot (see [`Stored`]); a sliding entry adds one
/// shared block of about 80 bytes, which this figure leaves out.
const ENTRY_OVERHEAD: u64 = 424;

/// An in-process cache. Clones share the same entries.
#[derive(Clone)]
pub struct MemoryCache {
    inner: Arc<Inner>,
}

struct Inner {
    entries: Cache<String, Stored>,
    clock: Arc<dyn Clock>,
    capabilities: Capabilities,
    capacity: u64,
    _reaper: Option<reaper::Reaper>,
}

impl fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCache")
            .field("entries", &self.inner.entries.entry_count())
            .field("weighted_size", &self.inner.entries.weighted_size())
            .field("capacity_bytes", &self.inner.capacity)
            .field("clock", &self.inner.clock)
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
    /// (moka updates it asynchronously; call [`run_pending_tasks`](Self::run_pending_tasks) first
    /// for an exact figure).
    pub fn entry_count(&self) -> u64 {
        self.inner.entries.entry_count()
    }

    /// The bytes charged against the size limit.
    pub fn weighted_size(&self) -> u64 {
        self.inner.entries.weighted_size()
    }

    /// Applies pending evictions and reclaims expired entries now.
    pub fn run_pending_tasks(&self) {
        self.inner.entries.run_pending_tasks();
    }

    /// The entry under `key` if alive now; restarts its sliding window when `touch`.
    fn live(&self, key: &str, touch: bool) -> Option<Stored> {
        let entry = self.inner.entries.get(key)?;
        if entry.never_expires() {
            return Some(entry);
        }
        let now = to_micros(self.inner.clock.now());
        if !entry.is_alive(now) {
            // Invisible now (rule 11), and evicted now: left to moka's timer
            // (which a read may have pushed past the real deadline) a dead
            // entry could stay counted, holding its memory, for as long as
            // reads of it kept coming.
            self.evict_if_dead(key);
            return None;
        }
        if touch {
            entry.touch(now);
        }
        Some(entry)
    }
}

impl MemoryCache {
    /// Removes the entry under `key` if it is still dead: atomically per
    /// key, so a fresh entry set concurrently is never the one removed.
    fn evict_if_dead(&self, key: &str) {
        let clock = &self.inner.clock;
        self.inner
            .entries
            .entry_by_ref(key)
            .and_compute_with(|current| match current {
                Some(e) if !e.value().is_alive(to_micros(clock.now())) => Op::Remove,
                _ => Op::Nop,
            });
    }
}

#[async_trait]
impl DistributedCache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.inner.capabilities.validate_key(key)?;
        Ok(self.live(key, true).map(Stored::into_value))
    }

    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        let caps = &self.inner.capabilities;
        caps.validate_key(key)?;
        let now = self.inner.clock.now();
        let expiry = options.resolve(now)?;
        caps.validate_value(value.len())?;
        // moka never keeps an entry heavier than the whole capacity: it
        // would be dropped at once and `set` would seem to have worked.
        if u64::from(weight(key.len(), value.len())) > self.inner.capacity {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "key and value ({} bytes) with the per-entry overhead exceed this cache's capacity of {} bytes",
                    key.len().saturating_add(value.len()),
                    self.inner.capacity
                ),
            ));
        }
        let entry = Stored::new(value, expiry, now);
        self.inner.entries.insert(key.to_owned(), entry);
        Ok(())
    }

    async fn refresh(&self, key: &str) -> Result<()> {
        self.inner.capabilities.validate_key(key)?;
        self.live(key, true);
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<()> {
        self.inner.capabilities.validate_key(key)?;
        self.inner.entries.invalidate(key);
        Ok(())
    }

    async fn inspect(&self, key: &str) -> Result<Option<EntryInfo>> {
        self.inner.capabilities.validate_key(key)?;
        Ok(self.live(key, false).map(|e| e.info()))
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
        let policy = ExpiryPolicy {
            clock: Arc::clone(&config.clock),
        };
        let entries = Cache::builder()
            .max_capacity(config.capacity)
            .weigher(|k: &String, e: &Stored| weight(k.len(), e.value().len()))
            .expire_after(policy)
            .build();
        let max_value = config.capacity.saturating_sub(ENTRY_OVERHEAD);
        let capabilities = Capabilities::new()
            .with_max_value_size(Some(usize::try_from(max_value).unwrap_or(usize::MAX)))
            .with_expiry_granularity(GRANULARITY);
        let reaper = config
            .reap_interval
            .map(|every| reaper::Reaper::spawn(entries.clone(), every));
        Inner {
            entries,
            clock: config.clock,
            capabilities,
            capacity: config.capacity,
            _reaper: reaper,
        }
    }
}

fn weight(key_len: usize, value_len: usize) -> u32 {
    let bytes = (key_len as u64)
        .saturating_add(value_len as u64)
        .saturating_add(ENTRY_OVERHEAD);
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// Tells moka when an entry may be reclaimed. Visibility is decided by
/// [`Stored::is_alive`] against the cache's clock; this only has to keep
/// moka from dropping an entry before that deadline.
struct ExpiryPolicy {
    clock: Arc<dyn Clock>,
}

impl moka::Expiry<String, Stored> for ExpiryPolicy {
    fn expire_after_create(&self, _: &String, e: &Stored, _: Instant) -> Option<Duration> {
        e.time_to_live(to_micros(self.clock.now()))
    }

    fn expire_after_update(
        &self,
        _: &String,
        e: &Stored,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        // A set replaces value and options (rule 3): start from the new entry.
        e.time_to_live(to_micros(self.clock.now()))
    }

    fn expire_after_read(
        &self,
        _: &String,
        e: &Stored,
        _: Instant,
        remaining: Option<Duration>,
        _: Instant,
    ) -> Option<Duration> {
        if !matches!(e, Stored::Sliding(_)) {
            // Reads never change a fixed entry's expiry: skip the clock.
            return remaining;
        }
        let now = to_micros(self.clock.now());
        if !e.is_alive(now) {
            // Dead by the cache's clock: the read is a miss and evicts it
            // (`MemoryCache::live`); never push a dead entry's timer.
            return remaining;
        }
        // A sliding read may extend the entry by up to one window (the
        // caller touches it after this returns).
        match (remaining, e.window_from(now)) {
            (Some(r), Some(w)) => Some(r.max(w)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
