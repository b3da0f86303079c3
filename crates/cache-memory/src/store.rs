//! [`Store`]: the entries (a [quick_cache] S3-FIFO cache bounded in bytes)
//! and the clock their expiry is judged by, shared by the cache and its
//! reaper.
//!
//! quick_cache has no expiry of its own, so expiry is lazy: every read
//! checks the entry's deadline (and evicts it if dead), and
//! [`Store::sweep`] drops every dead entry at once (the reaper's job).
//!
//! [quick_cache]: https://docs.rs/quick_cache

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use cache_abstractions::Clock;
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, OptionsBuilder, Weighter};

use crate::format::{to_micros, Stored};
use crate::key::StoredKey;

/// Bytes charged per entry on top of key and value, so the size limit
/// tracks resident memory.
///
/// Measured with `benches/src/bin/footprint.rs` (100k entries of 1 KiB,
/// 12-byte keys, glibc malloc, quick_cache 0.7): 91 bytes of resident
/// memory per entry beyond its key and value bytes. That is the store's
/// slot (inline key, value handle, deadline, queue links), its hash-table
/// slot, and glibc's header and rounding on the value's block; 5 bytes
/// more cover the hash table at its emptiest (just after it grows). A
/// sliding entry adds one shared block of about 80 bytes, and a key over
/// 22 bytes one block of its own; this figure leaves both out.
pub(crate) const ENTRY_OVERHEAD: u64 = 96;

/// Each shard of the store holds at least this much of the capacity. An
/// entry must fit in one shard, so this is also the least a cache of at
/// least twice this capacity accepts as one entry (rule 1 wants 16 MiB
/// values to round-trip in the default 200 MiB cache).
const SHARD_MIN_BYTES: u64 = 32 << 20;

/// quick_cache's share of a shard for its "hot" queue (its default). It
/// never admits an entry heavier than that share, so this also bounds the
/// heaviest entry (see [`Store::max_weight`]).
const HOT_ALLOCATION: f64 = 0.97;

/// A guess of the average entry's weight (a 1 KiB value), for quick_cache's
/// sizing: the number of recently evicted keys it remembers (its ghost
/// queue: half the estimated entries, a slot of ~90 B each, not charged to
/// the limit, so at most ~4.4% over it) and the least number of entries a
/// shard is built for.
const TYPICAL_ENTRY_BYTES: u64 = 1024;

pub(crate) type Entries = Cache<StoredKey, Stored, Weigh, DefaultHashBuilder, CountEvictions>;

/// Counts the entries the store drops to stay within its size limit
/// (quick_cache's eviction hook; removals, expiry and replacements are not
/// evictions). One relaxed increment per eviction, on the `set` that caused it.
#[derive(Clone, Debug, Default)]
pub(crate) struct CountEvictions(Arc<AtomicU64>);

impl CountEvictions {
    pub(crate) fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Lifecycle<StoredKey, Stored> for CountEvictions {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), _: StoredKey, _: Stored) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Weighs an entry: key, value and [`ENTRY_OVERHEAD`].
#[derive(Clone, Debug)]
pub(crate) struct Weigh;

impl Weighter<StoredKey, Stored> for Weigh {
    fn weight(&self, key: &StoredKey, entry: &Stored) -> u64 {
        weight(key.as_bytes().len(), entry.value().len())
    }
}

pub(crate) fn weight(key_len: usize, value_len: usize) -> u64 {
    (key_len as u64)
        .saturating_add(value_len as u64)
        .saturating_add(ENTRY_OVERHEAD)
}

pub(crate) struct Store {
    pub(crate) entries: Entries,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) evictions: CountEvictions,
    /// The heaviest entry the store admits (see [`Store::max_weight`]).
    max_weight: u64,
}

impl Store {
    pub(crate) fn new(capacity: u64, clock: Arc<dyn Clock>) -> Store {
        let shards = shards(capacity);
        let estimated = usize::try_from(capacity / TYPICAL_ENTRY_BYTES)
            .unwrap_or(usize::MAX)
            // quick_cache merges shards built for fewer than 32 entries.
            .max(32 * shards);
        let options = OptionsBuilder::new()
            .shards(shards)
            .estimated_items_capacity(estimated)
            .weight_capacity(capacity)
            .hot_allocation(HOT_ALLOCATION)
            .build()
            .expect("every option is set");
        let evictions = CountEvictions::default();
        let entries = Cache::with_options(
            options,
            Weigh,
            DefaultHashBuilder::default(),
            evictions.clone(),
        );
        // quick_cache's own rule (`CacheShard::new`): an entry heavier than
        // a shard's hot share is dropped as soon as it is inserted.
        let shard = entries.shard_capacity();
        let max_weight = ((shard as f64 * HOT_ALLOCATION) as u64).clamp(shard.min(1), shard);
        Store {
            entries,
            clock,
            evictions,
            max_weight,
        }
    }

    /// The heaviest entry ([`weight`]) the store keeps: a shard's hot share.
    /// `set` refuses heavier ones, which the store would silently drop.
    pub(crate) fn max_weight(&self) -> u64 {
        self.max_weight
    }

    /// Drops every entry that is dead now. Takes each shard's write lock
    /// in turn, for one pass over its entries.
    pub(crate) fn sweep(&self) {
        let now = to_micros(self.clock.now());
        self.entries.retain(|_, entry| entry.is_alive(now));
    }
}

/// quick_cache's default shard count (four a core), a power of two, but
/// never so many that a shard holds less than [`SHARD_MIN_BYTES`]; one
/// shard below twice that.
fn shards(capacity: u64) -> usize {
    let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let by_size = usize::try_from(capacity / SHARD_MIN_BYTES).unwrap_or(usize::MAX);
    let n = cores.saturating_mul(4).min(by_size).max(1);
    1 << n.ilog2()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_abstractions::SystemClock;

    #[test]
    fn shards_never_hold_less_than_the_minimum() {
        assert_eq!(shards(1), 1);
        assert_eq!(shards(2 * SHARD_MIN_BYTES - 1), 1);
        for capacity in [2 * SHARD_MIN_BYTES, 200 << 20, 64 << 20, u64::MAX] {
            let n = shards(capacity) as u64;
            assert!(n.is_power_of_two());
            assert!(capacity / n >= SHARD_MIN_BYTES, "{capacity}: {n}");
        }
    }

    #[test]
    fn the_heaviest_entry_is_a_shards_hot_share() {
        for capacity in [ENTRY_OVERHEAD + 100, 64 << 10, 200 << 20] {
            let store = Store::new(capacity, Arc::new(SystemClock));
            let shard = store.entries.shard_capacity();
            assert_eq!(shard, capacity.div_ceil(store.entries.num_shards() as u64));
            assert!(store.max_weight() <= shard && store.max_weight() * 100 >= shard * 96);
        }
        // The default cache takes a 16 MiB value whole.
        let store = Store::new(crate::DEFAULT_CAPACITY_BYTES, Arc::new(SystemClock));
        assert!(store.max_weight() >= weight(256, 16 << 20));
    }
}
