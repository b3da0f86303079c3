//! A fixed number of warm operations of one case, for callgrind's
//! instruction counts (host- and load-independent, unlike seconds):
//!
//! ```text
//! instructions <case> <ops> [--url redis://127.0.0.1:PORT/] [--tasks N]
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_loop*' \
//!     instructions memory-get 100000
//! ```
//!
//! Every case fills 1,024 keys with 1 KiB values of their own and runs a
//! warm-up first; only [`measured_loop`] is collected, so callgrind's total
//! divided by `ops` is the cost of one operation, setup excluded.
//! `cargo xtask bench` runs each case under callgrind and prints the table.
//!
//! In-process cases (no runtime; the futures never wait and are polled by
//! [`block_on`]):
//! - `memory-get`: cache-memory `get` hit, entries without expiry;
//! - `memory-get-abs`: the same with an absolute expiry (1 h) on every
//!   entry, as the hybrid cache's local tier stores them;
//! - `moka-get`: raw `moka::sync::Cache<String, Bytes>` get (baseline);
//! - `hybrid-local-hit`: cache-hybrid `get_bytes` served by its local tier;
//! - `memory-get-dyn`: `memory-get` through `Box<dyn DistributedCache>`, as
//!   an application holds an opened cache (the baseline of the next two);
//! - `instrumented-get`: the same wrapped in `Instrumented` (features
//!   `tracing` and `metrics`) with no recorder and no subscriber;
//! - `recorded-get`: the same with the Prometheus recorder of
//!   metrics-exporter-prometheus installed before wrapping (default
//!   sampling), still no subscriber;
//! - `quick_cache-get`, `sharded-lru-get`: the store candidates of
//!   [`cache_benches::candidates`], raw, like `moka-get`.
//!
//! Redis cases (`--url` of a throwaway server; one current-thread tokio
//! runtime, so the connection's driver task runs on this thread and is
//! counted; the server's instructions are another process's and are not):
//! - `redis-get`: cache-redis `get` hit (it sends `HMGET key absexp sldexp
//!   data` for an entry without a sliding window);
//! - `raw-hmget`: the same `HMGET` through redis-rs on one multiplexed
//!   connection (baseline).
//!
//! `--tasks N` (Redis cases) splits the operations over N concurrent tasks.

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_abstractions::{DistributedCache, EntryOptions, InstrumentExt};
use cache_benches::candidates::{QuickCache, ShardedLru};
use cache_benches::{block_on, key, value};
use cache_hybrid::{HybridCache, HybridEntryOptions};
use cache_memory::MemoryCache;
use cache_redis::RedisCache;
use redis::aio::MultiplexedConnection;
use tokio::runtime::Runtime;

/// Keys filled before measuring (a power of two: the loops mask the index).
const KEYS: usize = 1024;
/// Bytes per value.
const SIZE: usize = 1024;

/// The cases, in the order `cargo xtask bench` prints them.
const CASES: &str = "memory-get, memory-get-abs, moka-get, hybrid-local-hit, \
                     memory-get-dyn, instrumented-get, recorded-get, \
                     quick_cache-get, sharded-lru-get, redis-get, raw-hmget";

enum Case {
    Memory(MemoryCache),
    Moka(moka::sync::Cache<String, Bytes>),
    Hybrid(HybridCache),
    Dyn(Box<dyn DistributedCache>),
    Quick(QuickCache),
    Lru(ShardedLru),
    Redis(Runtime, Arc<RedisCache>),
    RawHmget(Runtime, MultiplexedConnection),
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("instructions: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        || format!("usage: instructions <case> <ops> [--url URL] [--tasks N]; cases: {CASES}");
    let (Some(name), Some(ops)) = (args.first(), args.get(1)) else {
        return Err(usage());
    };
    let ops: usize = ops.parse().map_err(|e| format!("ops: {e}; {}", usage()))?;
    let flag = |f: &str| {
        args.iter()
            .position(|a| a == f)
            .and_then(|i| args.get(i + 1))
    };
    let tasks: usize = flag("--tasks")
        .map_or(Ok(1), |s| s.parse())
        .map_err(|e| format!("--tasks: {e}"))?
        .max(1);
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    let url = || flag("--url").ok_or_else(|| format!("{name} needs --url"));
    let case = match name.as_str() {
        "memory-get" => Case::Memory(memory(&keys, &EntryOptions::new())?),
        "memory-get-abs" => Case::Memory(memory(
            &keys,
            &EntryOptions::new().expires_in(Duration::from_secs(3600)),
        )?),
        "moka-get" => {
            let c = moka::sync::Cache::new(1 << 24);
            fill(&keys, |k, v| c.insert(k.to_owned(), v));
            Case::Moka(c)
        }
        "hybrid-local-hit" => {
            let c = HybridCache::new(Arc::new(MemoryCache::new()));
            let o = HybridEntryOptions::new().expires_in(Duration::from_secs(3600));
            let mut err = None;
            fill(&keys, |k, v| {
                if let Err(e) = block_on(c.set_bytes(k, v, &o)) {
                    err = Some(e.to_string());
                }
            });
            err.map_or(Ok(()), Err)?;
            Case::Hybrid(c)
        }
        "memory-get-dyn" => Case::Dyn(Box::new(memory(&keys, &EntryOptions::new())?)),
        "instrumented-get" => Case::Dyn(Box::new(
            memory(&keys, &EntryOptions::new())?.instrumented("memory"),
        )),
        "recorded-get" => {
            // Installed before wrapping: the wrapper registers its handles then.
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            metrics::set_global_recorder(recorder).map_err(|e| e.to_string())?;
            Case::Dyn(Box::new(
                memory(&keys, &EntryOptions::new())?.instrumented("memory"),
            ))
        }
        "quick_cache-get" => {
            let c = QuickCache::new(1 << 20);
            fill(&keys, |k, v| c.insert(k.to_owned(), v));
            Case::Quick(c)
        }
        "sharded-lru-get" => {
            let c = ShardedLru::new(1 << 20);
            fill(&keys, |k, v| c.insert(k.to_owned(), v));
            Case::Lru(c)
        }
        "redis-get" => {
            let rt = runtime()?;
            let cache = Arc::new(
                RedisCache::builder()
                    .url(url()?)
                    .build()
                    .map_err(|e| e.to_string())?,
            );
            rt.block_on(async {
                for (i, k) in keys.iter().enumerate() {
                    cache
                        .set(k, value(SIZE, i as u8), &EntryOptions::new())
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok::<_, String>(())
            })?;
            Case::Redis(rt, cache)
        }
        "raw-hmget" => {
            let rt = runtime()?;
            let client = redis::Client::open(url()?.as_str()).map_err(|e| e.to_string())?;
            // The cache's default command timeout (redis-rs's own default,
            // 500 ms, times requests out under valgrind at 1,024 tasks).
            let config = redis::AsyncConnectionConfig::new()
                .set_response_timeout(Some(Duration::from_secs(5)));
            let mut conn = rt
                .block_on(client.get_multiplexed_async_connection_with_config(&config))
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                for (i, k) in keys.iter().enumerate() {
                    let () = redis::cmd("HSET")
                        .arg(k)
                        .arg("absexp")
                        .arg(-1)
                        .arg("sldexp")
                        .arg(-1)
                        .arg("data")
                        .arg(&value(SIZE, i as u8)[..])
                        .query_async(&mut conn)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok::<_, String>(())
            })?;
            Case::RawHmget(rt, conn)
        }
        other => return Err(format!("unknown case {other:?}; cases: {CASES}")),
    };
    // Warm-up: connections settled, lazily built state in place, and
    // every key read once.
    warm_up(&case, &keys, tasks);
    let hits = measured_loop(&case, &keys, ops, tasks);
    if hits != ops {
        return Err(format!(
            "{name}: {hits} of {ops} reads hit; the figure would mix in misses"
        ));
    }
    Ok(())
}

fn runtime() -> Result<Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))
}

fn fill(keys: &[String], mut insert: impl FnMut(&str, Bytes)) {
    for (i, k) in keys.iter().enumerate() {
        insert(k, value(SIZE, i as u8));
    }
}

fn memory(keys: &[String], options: &EntryOptions) -> Result<MemoryCache, String> {
    let c = MemoryCache::builder()
        .capacity_bytes(1 << 30)
        .build()
        .map_err(|e| e.to_string())?;
    let mut err = None;
    fill(keys, |k, v| {
        if let Err(e) = block_on(c.set(k, v, options)) {
            err = Some(e.to_string());
        }
    });
    err.map_or(Ok(c), Err)
}

/// Not collected: only `measured_loop` matches the toggle.
#[inline(never)]
fn warm_up(case: &Case, keys: &[String], tasks: usize) {
    black_box(ops_loop(case, keys, 2 * KEYS, tasks));
}

/// The operations callgrind collects; returns how many were hits.
#[inline(never)]
fn measured_loop(case: &Case, keys: &[String], ops: usize, tasks: usize) -> usize {
    ops_loop(case, keys, ops, tasks)
}

#[inline(always)]
fn ops_loop(case: &Case, keys: &[String], ops: usize, tasks: usize) -> usize {
    let mut hits = 0;
    let mut each = |hit: bool| hits += usize::from(hit);
    match case {
        Case::Memory(c) => (0..ops).for_each(|i| {
            each(
                black_box(block_on(c.get(black_box(&keys[i & (KEYS - 1)]))))
                    .is_ok_and(|v| v.is_some()),
            )
        }),
        Case::Dyn(c) => (0..ops).for_each(|i| {
            each(
                black_box(block_on(c.get(black_box(&keys[i & (KEYS - 1)]))))
                    .is_ok_and(|v| v.is_some()),
            )
        }),
        Case::Moka(c) => (0..ops)
            .for_each(|i| each(black_box(c.get(black_box(&keys[i & (KEYS - 1)]))).is_some())),
        Case::Hybrid(c) => (0..ops).for_each(|i| {
            each(
                black_box(block_on(c.get_bytes(black_box(&keys[i & (KEYS - 1)]))))
                    .is_ok_and(|v| v.is_some()),
            )
        }),
        Case::Quick(c) => (0..ops).for_each(|i| {
            each(black_box(c.get(black_box(keys[i & (KEYS - 1)].as_str()))).is_some())
        }),
        Case::Lru(c) => (0..ops)
            .for_each(|i| each(black_box(c.get(black_box(&keys[i & (KEYS - 1)]))).is_some())),
        Case::Redis(rt, cache) => {
            let cache = Arc::clone(cache);
            hits = spread(rt, keys, ops, tasks, move |k| {
                let cache = Arc::clone(&cache);
                async move { matches!(cache.get(&k).await, Ok(Some(_))) }
            });
        }
        Case::RawHmget(rt, conn) => {
            let conn = conn.clone();
            hits = spread(rt, keys, ops, tasks, move |k| {
                let mut conn = conn.clone();
                async move {
                    let r: redis::RedisResult<Vec<Option<Vec<u8>>>> = redis::cmd("HMGET")
                        .arg(&*k)
                        .arg("absexp")
                        .arg("sldexp")
                        .arg("data")
                        .query_async(&mut conn)
                        .await;
                    matches!(r.as_deref(), Ok([_, _, Some(_)]))
                }
            });
        }
    }
    hits
}

/// `ops` calls of `op` spread over `tasks` tasks on the current-thread
/// runtime; returns how many returned true.
fn spread<F, Fut>(rt: &Runtime, keys: &[String], ops: usize, tasks: usize, op: F) -> usize
where
    F: Fn(Arc<str>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let keys: Arc<[Arc<str>]> = keys.iter().map(|k| Arc::from(k.as_str())).collect();
    let op = Arc::new(op);
    rt.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let keys = Arc::clone(&keys);
                let op = Arc::clone(&op);
                let n = ops / tasks + usize::from(t < ops % tasks);
                tokio::spawn(async move {
                    let mut hits = 0;
                    for i in 0..n {
                        let k = Arc::clone(&keys[(t * 7 + i) & (KEYS - 1)]);
                        hits += usize::from(black_box(op(k).await));
                    }
                    hits
                })
            })
            .collect();
        let mut hits = 0;
        for h in handles {
            hits += h.await.unwrap_or(0);
        }
        hits
    })
}
