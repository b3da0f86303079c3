//! In-process store candidates for cache-memory, measured beside moka by
//! `src/bin/instructions.rs` (instructions per get hit) and
//! `src/bin/stores.rs` (heap per entry, hit ratio on a skewed trace):
//! quick_cache (S3-FIFO) and a sharded map with a policy of our own
//! ([`ShardedLru`]), raw (`String -> Bytes`, no expiry). cache-memory
//! moved to quick_cache after this comparison (issue 15); see
//! benches/analysis.md for the figures and the decision.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::num::NonZeroUsize;
use std::sync::Mutex;

use bytes::Bytes;

/// Shards of [`ShardedLru`]: a power of two, enough that two threads
/// rarely meet on one lock.
const SHARDS: usize = 16;

/// A `String -> Bytes` map in `SHARDS` shards, each an LRU list behind a
/// mutex: the "sharded map with our own policy" candidate. A read moves the
/// entry to the front, so reads take the shard's lock exclusively.
pub struct ShardedLru {
    shards: Vec<Mutex<lru::LruCache<String, Bytes>>>,
    hasher: RandomState,
}

impl fmt::Debug for ShardedLru {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedLru")
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl ShardedLru {
    /// A map that holds at most `capacity` entries (at least one a shard).
    pub fn new(capacity: usize) -> Self {
        let per = NonZeroUsize::new(capacity.div_ceil(SHARDS)).unwrap_or(NonZeroUsize::MIN);
        ShardedLru {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(lru::LruCache::new(per)))
                .collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &str) -> &Mutex<lru::LruCache<String, Bytes>> {
        // The top bits pick the shard; the map inside uses its own hasher.
        let h = self.hasher.hash_one(key);
        &self.shards[(h >> 60) as usize & (SHARDS - 1)]
    }

    /// Reads `key`, marking it most recently used.
    pub fn get(&self, key: &str) -> Option<Bytes> {
        let mut shard = self.shard(key).lock().unwrap_or_else(|p| p.into_inner());
        shard.get(key).cloned()
    }

    /// Writes `value` under `key`, evicting the shard's least recently used
    /// entry when it is full.
    pub fn insert(&self, key: String, value: Bytes) {
        let mut shard = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        shard.put(key, value);
    }
}

/// `quick_cache`'s concurrent cache, `String -> Bytes`, bounded in entries.
pub type QuickCache = quick_cache::sync::Cache<String, Bytes>;
