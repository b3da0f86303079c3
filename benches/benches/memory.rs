//! The memory backend beside its raw baselines, in one run: moka used
//! directly (`moka::sync::Cache<String, Bytes>`, what a user would write)
//! and a `RwLock<HashMap<String, Bytes>>`.
//!
//! The backend's calls are async; [`block_on`] polls each future once with
//! a no-op waker (the memory backend never waits), so the numbers are the
//! call a user makes, `async_trait`'s boxing included, and no runtime.
//!
//! Run with `cargo bench -p cache-benches --bench memory`, or as part of
//! `cargo xtask bench`.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use cache_abstractions::{DistributedCache, EntryOptions};
use cache_benches::{block_on, key, value, Kind, Target};
use cache_memory::MemoryCache;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// Keys each benchmark cycles over (a power of two, cycled with a mask).
const KEYS: usize = 1024;
/// Large enough that no benchmark evicts.
const CAPACITY: u64 = 1 << 30;

fn keys() -> Vec<String> {
    (0..KEYS).map(key).collect()
}

fn populated(kind: Kind, keys: &[String], v: &Bytes) -> Target {
    let t = Target::new(kind, CAPACITY);
    // A value of its own per key, as in a real cache.
    for (i, k) in keys.iter().enumerate() {
        block_on(t.set(k, value(v.len(), i as u8)));
    }
    t
}

fn get_hit(c: &mut Criterion) {
    let keys = keys();
    let v = value(1024, 1);
    let mut g = c.benchmark_group("get_hit_1KiB");
    for kind in Kind::ALL {
        let t = populated(kind, &keys, &v);
        let mut i = 0;
        g.bench_function(kind.arg(), |b| {
            b.iter(|| {
                i = (i + 1) & (KEYS - 1);
                let hit = block_on(t.get(black_box(&keys[i])));
                debug_assert!(hit.is_some());
                hit
            })
        });
    }
    g.finish();
}

fn get_miss(c: &mut Criterion) {
    let keys = keys();
    let absent: Vec<String> = (0..KEYS).map(|i| format!("absent:{i:05}")).collect();
    let v = value(1024, 2);
    let mut g = c.benchmark_group("get_miss");
    for kind in Kind::ALL {
        let t = populated(kind, &keys, &v);
        let mut i = 0;
        g.bench_function(kind.arg(), |b| {
            b.iter(|| {
                i = (i + 1) & (KEYS - 1);
                block_on(t.get(black_box(&absent[i])))
            })
        });
    }
    g.finish();
}

fn set(c: &mut Criterion) {
    let keys = keys();
    let mut g = c.benchmark_group("set");
    for (size, label) in [(100, "100B"), (1024, "1KiB"), (64 * 1024, "64KiB")] {
        // The user hands over a `Bytes` they already have: a set is a
        // reference-count increment plus the insert, never a copy.
        let v = value(size, 3);
        for kind in Kind::ALL {
            let t = populated(kind, &keys, &v);
            let mut i = 0;
            g.bench_with_input(BenchmarkId::new(kind.arg(), label), &v, |b, v| {
                b.iter(|| {
                    i = (i + 1) & (KEYS - 1);
                    block_on(t.set(black_box(&keys[i]), v.clone()))
                })
            });
        }
    }
    g.finish();
}

/// A get that restarts a sliding window, beside moka's own idle expiry
/// (`time_to_idle`), the closest raw equivalent.
fn sliding_get(c: &mut Criterion) {
    let keys = keys();
    let v = value(1024, 4);
    let window = Duration::from_secs(300);
    let mut g = c.benchmark_group("sliding_get_1KiB");

    let memory = MemoryCache::builder()
        .capacity_bytes(CAPACITY)
        .build()
        .expect("a non-zero capacity is valid");
    let options = EntryOptions::new().sliding(window);
    for (i, k) in keys.iter().enumerate() {
        block_on(memory.set(k, value(v.len(), i as u8), &options)).expect("set");
    }
    let mut i = 0;
    g.bench_function("memory", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            block_on(memory.get(black_box(&keys[i]))).expect("get")
        })
    });

    let moka: moka::sync::Cache<String, Bytes> = moka::sync::Cache::builder()
        .max_capacity(1 << 24)
        .time_to_idle(window)
        .build();
    for (i, k) in keys.iter().enumerate() {
        moka.insert(k.clone(), value(v.len(), i as u8));
    }
    let mut i = 0;
    g.bench_function("moka_tti", |b| {
        b.iter(|| {
            i = (i + 1) & (KEYS - 1);
            moka.get(black_box(&keys[i]))
        })
    });
    g.finish();
}

criterion_group!(benches, get_hit, get_miss, set, sliding_get);
criterion_main!(benches);
