//! cache-hybrid beside what it is built from, in three short parts:
//!
//! 1. `hybrid_local_hit_1KiB`: a local-tier hit (`get_bytes`, named
//!    `cache` so the report divides by it, and `get_or_create_bytes` with
//!    its factory closure) beside a cache-memory
//!    `get` and a raw moka `get` of the same 1 KiB values. Polled with
//!    [`block_on`] like the memory bench: no runtime, the call as a user
//!    makes it. Goal: a hit at most 1.5x a cache-memory get.
//! 2. `hybrid_miss_1KiB`: `get_or_create_bytes` (`cache`) on a key never seen (local
//!    miss, distributed miss, factory, both writes) beside the plain
//!    `get` + `set` a hand-written get-or-compute does on cache-memory.
//! 3. `--ratio`: hit throughput of 50 tasks on a 2-worker runtime, hybrid
//!    over Redis (every key held locally) beside cache-redis `get`, in
//!    alternating 200 ms slices (robust to a busy machine), printed as
//!    ops/s and their ratio (with `--json PATH`, also as JSON for the
//!    report). Goal: at least 20x.
//!
//! Run: `cargo bench -p cache-benches --bench hybrid` (Criterion groups,
//! about a minute) and `cargo bench -p cache-benches --bench hybrid -- --ratio`
//! (about 10 s, needs `redis-server`).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cache_abstractions::{DistributedCache, EntryOptions};
use cache_benches::{block_on, key, value};
use cache_hybrid::{HybridCache, HybridEntryOptions};
use cache_memory::MemoryCache;
use cache_redis::RedisCache;
use cache_testkit::redis_server::RedisServer;
use criterion::{Criterion, Throughput};

/// Keys each benchmark cycles over (a power of two, cycled with a mask).
const KEYS: usize = 1024;
const SIZE: usize = 1024;

fn keys() -> Vec<String> {
    (0..KEYS).map(key).collect()
}

fn options() -> HybridEntryOptions {
    HybridEntryOptions::new().expires_in(Duration::from_secs(3600))
}

fn local_hit(c: &mut Criterion) {
    let keys = keys();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hybrid = HybridCache::new(Arc::new(MemoryCache::new()));
    let memory = MemoryCache::new();
    let moka: moka::sync::Cache<String, Bytes> =
        moka::sync::Cache::builder().max_capacity(1 << 30).build();
    rt.block_on(async {
        for (i, k) in keys.iter().enumerate() {
            let v = value(SIZE, i as u8);
            hybrid
                .set_bytes(k, v.clone(), &options())
                .await
                .expect("set");
            memory
                .set(
                    k,
                    v.clone(),
                    &EntryOptions::new().expires_in(Duration::from_secs(3600)),
                )
                .await
                .expect("set");
            moka.insert(k.clone(), v);
        }
    });
    let mut g = c.benchmark_group("hybrid_local_hit_1KiB");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut i = 0;
    // "cache" is the function the report divides by (docs/performance.md).
    g.bench_function("cache", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            let hit = block_on(hybrid.get_bytes(black_box(&keys[i]))).expect("get");
            debug_assert!(hit.is_some());
            hit
        })
    });
    let opts = options();
    g.bench_function("hybrid_get_or_create_bytes", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            // A hit never reaches the runtime (only a miss spawns).
            block_on(
                hybrid.get_or_create_bytes(black_box(&keys[i]), &opts, || async {
                    Ok::<_, std::io::Error>(Bytes::new())
                }),
            )
            .expect("hit")
        })
    });
    g.bench_function("cache_memory_get", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            block_on(memory.get(black_box(&keys[i]))).expect("get")
        })
    });
    g.bench_function("raw_moka_get", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            moka.get(black_box(&keys[i]))
        })
    });
    g.finish();
}

fn miss(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let v = value(SIZE, 3);
    let hybrid = HybridCache::new(Arc::new(MemoryCache::new()));
    let memory = MemoryCache::new();
    let next = AtomicU64::new(0);
    let fresh = || format!("miss:{:012}", next.fetch_add(1, Ordering::Relaxed));
    let mut g = c.benchmark_group("hybrid_miss_1KiB");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(1));
    let opts = options();
    g.bench_function("cache", |b| {
        b.iter(|| {
            let k = fresh();
            let made = v.clone();
            rt.block_on(hybrid.get_or_create_bytes(&k, &opts, move || async move {
                Ok::<_, std::io::Error>(made)
            }))
            .expect("miss")
        })
    });
    let plain = EntryOptions::new().expires_in(Duration::from_secs(3600));
    g.bench_function("cache_memory_get_then_set", |b| {
        b.iter(|| {
            let k = fresh();
            rt.block_on(async {
                if memory.get(&k).await.expect("get").is_none() {
                    memory.set(&k, v.clone(), &plain).await.expect("set");
                }
            })
        })
    });
    g.finish();
}

/// What the throughput tasks read from.
#[derive(Clone)]
enum Reader {
    Hybrid(Arc<HybridCache>),
    Redis(Arc<RedisCache>),
}

impl Reader {
    async fn get(&self, key: &str) {
        let hit = match self {
            Reader::Hybrid(h) => h.get_bytes(key).await.expect("hybrid get").map(|f| f.value),
            Reader::Redis(r) => r.get(key).await.expect("redis get"),
        };
        debug_assert!(hit.is_some());
    }
}

/// Gets per second of `tasks` tasks reading for `slice`. Each task holds
/// its own handles (no shared reference count bumped per get) and reads
/// the clock every 64 gets.
fn rate(
    rt: &tokio::runtime::Runtime,
    tasks: usize,
    slice: Duration,
    reader: &Reader,
    keys: &Arc<Vec<String>>,
) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let (reader, keys) = (reader.clone(), Arc::clone(keys));
                tokio::spawn(async move {
                    let mut n = 0u64;
                    let mut i = t * 7;
                    // Bounded: the slice ends it, and so does a count cap.
                    while n < 20_000_000 && (!n.is_multiple_of(64) || start.elapsed() < slice) {
                        reader.get(&keys[i & (KEYS - 1)]).await;
                        i = i.wrapping_add(1);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.expect("task");
        }
        total as f64 / start.elapsed().as_secs_f64()
    })
}

fn ratio() {
    let server = RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let redis = Arc::new(
        RedisCache::builder()
            .url(&server.url())
            .build()
            .expect("redis cache"),
    );
    let hybrid = Arc::new(HybridCache::new(redis.clone()));
    let keys = Arc::new(keys());
    rt.block_on(async {
        for (i, k) in keys.iter().enumerate() {
            hybrid
                .set_bytes(k, value(SIZE, i as u8), &options())
                .await
                .expect("populate");
        }
    });
    let (h, r) = (Reader::Hybrid(hybrid), Reader::Redis(redis));
    let slice = Duration::from_millis(200);
    // Warm-up: connections, pools, caches.
    rate(&rt, 50, slice, &h, &keys);
    rate(&rt, 50, slice, &r, &keys);
    let (mut hs, mut rs) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        hs.push(rate(&rt, 50, slice, &h, &keys));
        rs.push(rate(&rt, 50, slice, &r, &keys));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (hybrid_rounds, redis_rounds) = (hs.clone(), rs.clone());
    let (hm, rm) = (median(&mut hs), median(&mut rs));
    println!(
        "hit throughput, 1 KiB, 50 tasks, 2 workers: hybrid (local hit over Redis) {hm:.0} ops/s, cache-redis get {rm:.0} ops/s, hybrid/redis {:.1}x (goal >= 20x)",
        hm / rm
    );
    // `--json PATH`: the same figures for the report (`cargo xtask bench`).
    let args: Vec<String> = std::env::args().collect();
    if let Some(path) = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
    {
        let record = serde_json::json!({
            "tasks": 50,
            "workers": 2,
            "value_size": SIZE,
            "slice_ms": slice.as_millis() as u64,
            "hybrid_ops_per_sec": hm,
            "redis_ops_per_sec": rm,
            "ratio": hm / rm,
            "hybrid_rounds": hybrid_rounds,
            "redis_rounds": redis_rounds,
        });
        std::fs::write(path, record.to_string()).expect("write the --json file");
    }
}

fn main() {
    if std::env::args().any(|a| a == "--ratio") {
        ratio();
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    local_hit(&mut c);
    miss(&mut c);
    c.final_summary();
}
