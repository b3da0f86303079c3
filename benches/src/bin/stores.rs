//! The in-process store evaluation of issue 15, in counts that do not
//! depend on the machine's load: heap per entry (a counting global
//! allocator) and hit ratio on a skewed (Zipf) trace with a bounded
//! capacity, for moka (cache-memory's store until issue 15), cache-memory
//! itself (on quick_cache since),
//! quick_cache, a sharded LRU map and a `RwLock<HashMap>` floor. Instructions
//! per get hit come from `instructions` under callgrind (`cargo xtask bench`).
//!
//! ```text
//! stores [--entries 20000] [--value-size 1024] [--requests 400000]
//! ```
//!
//! Prints two tab-separated tables on stdout.

use std::alloc::System;
use std::collections::HashMap;
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::RwLock;

use bytes::Bytes;
use cache_abstractions::{DistributedCache, EntryOptions};
use cache_benches::candidates::{QuickCache, ShardedLru};
use cache_benches::{block_on, key, value, XorShift};
use cache_memory::MemoryCache;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The stores compared; each fills a fresh instance.
const STORES: [&str; 5] = [
    "moka",
    "cache-memory",
    "quick_cache",
    "sharded-lru",
    "rwlock-hashmap",
];

/// Keys in the skewed trace's universe, and the share of them that fits.
const UNIVERSE: usize = 100_000;
const FITS: usize = UNIVERSE / 20;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: usize| -> Result<usize, String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(Ok(default), |s| {
                s.parse().map_err(|e| format!("{name}: {e}"))
            })
    };
    let parsed = (|| {
        Ok::<_, String>((
            flag("--entries", 20_000)?,
            flag("--value-size", 1024)?,
            flag("--requests", 400_000)?,
        ))
    })();
    let (entries, size, requests) = match parsed {
        Ok(v) => v,
        Err(e) => {
            eprintln!("stores: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("# heap per entry: {entries} entries, {size}-byte values, 12-byte keys, every entry read once");
    println!(
        "store\tbytes_per_entry\tblocks_per_entry\tbytes_with_malloc_headers\tratio_to_payload"
    );
    for store in STORES {
        let (bytes, blocks) = footprint(store, entries, size);
        // glibc: 8 bytes of header a block, rounded up to 16: ~16 a block on average.
        let with_headers = bytes + 16.0 * blocks;
        println!(
            "{store}\t{bytes:.0}\t{blocks:.2}\t{with_headers:.0}\t{:.3}",
            with_headers / size as f64
        );
    }
    println!();
    println!("# hit ratio: Zipf trace over {UNIVERSE} keys, capacity {FITS} entries, {requests} requests, get then insert on a miss");
    println!("store\ts=0.8\ts=1.0\ts=1.2");
    for store in STORES.iter().filter(|s| **s != "rwlock-hashmap") {
        let ratios: Vec<String> = [0.8, 1.0, 1.2]
            .iter()
            .map(|&s| format!("{:.4}", hit_ratio(store, s, requests)))
            .collect();
        println!("{store}\t{}", ratios.join("\t"));
    }
    ExitCode::SUCCESS
}

/// One store of either kind, `String -> Bytes`.
enum Store {
    Moka(moka::sync::Cache<String, Bytes>),
    Memory(MemoryCache),
    Quick(QuickCache),
    Lru(ShardedLru),
    Map(RwLock<HashMap<String, Bytes>>),
}

impl Store {
    /// A store holding at most `capacity` entries of `size` bytes.
    fn new(name: &str, capacity: usize, size: usize) -> Store {
        match name {
            "moka" => Store::Moka(moka::sync::Cache::new(capacity as u64)),
            // cache-memory is bounded in bytes; it charges key, value and
            // its per-entry overhead (96 B), so this holds `capacity`
            // entries of `size` bytes.
            "cache-memory" => Store::Memory(
                MemoryCache::builder()
                    .capacity_bytes((capacity * (size + 12 + 96)) as u64)
                    .build()
                    .expect("a non-zero capacity is valid"),
            ),
            "quick_cache" => Store::Quick(QuickCache::new(capacity)),
            "sharded-lru" => Store::Lru(ShardedLru::new(capacity)),
            _ => Store::Map(RwLock::new(HashMap::new())),
        }
    }

    fn get(&self, k: &str) -> Option<Bytes> {
        match self {
            Store::Moka(c) => c.get(k),
            Store::Memory(c) => block_on(c.get(k)).ok().flatten(),
            Store::Quick(c) => c.get(k),
            Store::Lru(c) => c.get(k),
            Store::Map(m) => m.read().ok()?.get(k).cloned(),
        }
    }

    fn insert(&self, k: &str, v: Bytes) {
        match self {
            Store::Moka(c) => c.insert(k.to_owned(), v),
            Store::Memory(c) => {
                let _ = block_on(c.set(k, v, &EntryOptions::new()));
            }
            Store::Quick(c) => c.insert(k.to_owned(), v),
            Store::Lru(c) => c.insert(k.to_owned(), v),
            Store::Map(m) => {
                if let Ok(mut m) = m.write() {
                    m.insert(k.to_owned(), v);
                }
            }
        }
    }

    /// moka's bookkeeping runs in batches; settle it before counting
    /// (for cache-memory, a sweep: nothing is pending).
    fn settle(&self) {
        match self {
            Store::Moka(c) => c.run_pending_tasks(),
            Store::Memory(c) => c.run_pending_tasks(),
            _ => {}
        }
    }
}

/// Net heap bytes and blocks per entry after filling `entries` and
/// reading each once (a `Bytes` made from a `Vec` gains a shared header on
/// its first clone, as it does in a service).
fn footprint(name: &str, entries: usize, size: usize) -> (f64, f64) {
    let keys: Vec<String> = (0..entries).map(key).collect();
    let store = Store::new(name, entries * 2, size);
    store.settle();
    let region = Region::new(GLOBAL);
    for (i, k) in keys.iter().enumerate() {
        store.insert(k, value(size, i as u8));
    }
    store.settle();
    for k in &keys {
        black_box(store.get(k));
    }
    store.settle();
    let s = region.change();
    // stats_alloc already adds a realloc's growth to `bytes_allocated` (and
    // a shrink to `bytes_deallocated`); `bytes_reallocated` is the same
    // delta again, so adding it would count a growing `Vec` twice.
    let bytes = s.bytes_allocated as f64 - s.bytes_deallocated as f64;
    let blocks = s.allocations as f64 - s.deallocations as f64;
    black_box(&store);
    (bytes / entries as f64, blocks / entries as f64)
}

/// The share of `requests` draws from a Zipf(`s`) law over [`UNIVERSE`]
/// keys that hit, with a capacity of [`FITS`] entries and an insert after
/// every miss. Values are 1 KiB of shared static bytes (no allocation).
fn hit_ratio(name: &str, s: f64, requests: usize) -> f64 {
    static PAYLOAD: [u8; 1024] = [7; 1024];
    let keys: Vec<String> = (0..UNIVERSE).map(key).collect();
    // Cumulative weights 1/rank^s, then a binary search per draw.
    let mut cdf = Vec::with_capacity(UNIVERSE);
    let mut sum = 0.0;
    for rank in 1..=UNIVERSE {
        sum += 1.0 / (rank as f64).powf(s);
        cdf.push(sum);
    }
    let store = Store::new(name, FITS, PAYLOAD.len());
    let mut rng = XorShift::new(42);
    let mut hits = 0usize;
    // A warm-up pass of the same length fills the store first.
    for round in 0..2 {
        for _ in 0..requests {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * sum;
            let i = cdf.partition_point(|&c| c < u).min(UNIVERSE - 1);
            // Scatter ranks over the key space so no store gains from key order.
            let k = &keys[(i * 7919) % UNIVERSE];
            if store.get(k).is_some() {
                hits += usize::from(round == 1);
            } else {
                store.insert(k, Bytes::from_static(&PAYLOAD));
            }
        }
    }
    hits as f64 / requests as f64
}
