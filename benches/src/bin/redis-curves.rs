//! Like-for-like Redis throughput curves for the report: the cache-redis
//! backend's `get` beside raw redis-rs sending the same command, at each
//! concurrency, in one harness. Prints a `Sweep` as JSON on stdout.
//!
//! ```text
//! redis-curves --url redis://127.0.0.1:PORT/ [--quick]
//! ```
//!
//! Both sides: the same 1,024 keys of 1 KiB (written once by the cache, so
//! both read the same hashes), the same command (`HMGET key absexp sldexp
//! data`: what the cache sends for an entry without a sliding window), one
//! multiplexed connection, the same current-thread tokio runtime (the
//! connection's driver and the tasks share one thread, so the curve is one
//! client thread's), the same closed loop (N tasks, each reading its next
//! key as soon as the previous reply arrives). The two sides alternate in
//! short slices, the order swapped every round, so both see the same
//! background load on a shared machine; each round records one slice of
//! each.
//!
//! Only ever pointed at the throwaway server `cargo xtask bench` starts.

use std::hint::black_box;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use cache_abstractions::{DistributedCache, EntryOptions};
use cache_benches::results::{Sweep, ThroughputPoint};
use cache_benches::{key, value};
use cache_redis::RedisCache;
use redis::aio::MultiplexedConnection;
use tokio::runtime::Runtime;

/// The curves' names in the report (the cache first, then its baseline).
const CACHE: &str = "cache-redis";
const RAW: &str = "redis-rs (raw)";
/// The workload, as the report labels it.
const WORKLOAD: &str = "HMGET 1 KiB, like for like";
/// Keys read (a power of two: the loops mask the index).
const KEYS: usize = 1024;
/// Operations a task may run in one slice at most (a bound beside the clock).
const MAX_OPS_PER_TASK: u64 = 10_000_000;

struct Plan {
    tasks: &'static [usize],
    rounds: usize,
    slice: Duration,
}

const FULL: Plan = Plan {
    tasks: &[1, 2, 4, 8, 16, 32, 50, 64, 128, 256],
    rounds: 8,
    slice: Duration::from_millis(250),
};
const QUICK: Plan = Plan {
    tasks: &[1, 50, 128, 256],
    rounds: 4,
    slice: Duration::from_millis(150),
};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("redis-curves: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let plan = if args.iter().any(|a| a == "--quick") {
        QUICK
    } else {
        FULL
    };
    let url = args
        .iter()
        .position(|a| a == "--url")
        .and_then(|i| args.get(i + 1))
        .ok_or("usage: redis-curves --url redis://127.0.0.1:PORT/ [--quick]")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    let cache = Rc::new(
        RedisCache::builder()
            .url(url)
            .build()
            .map_err(|e| e.to_string())?,
    );
    let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
    let raw = rt
        .block_on(client.get_multiplexed_async_connection())
        .map_err(|e| e.to_string())?;
    let keys: Rc<Vec<String>> = Rc::new((0..KEYS).map(|i| format!("curves:{}", key(i))).collect());
    rt.block_on(async {
        for (i, k) in keys.iter().enumerate() {
            cache
                .set(k, value(1024, i as u8), &EntryOptions::new())
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(())
    })?;

    let mut sweep = Sweep::default();
    sweep.notes.push(format!(
        "`benches/src/bin/redis-curves.rs`: one current-thread tokio runtime, one multiplexed \
         connection a side, `HMGET key absexp sldexp data` on 1,024 keys of 1 KiB, {} rounds \
         of one {} ms slice a side, alternating (order swapped every round)",
        plan.rounds,
        plan.slice.as_millis()
    ));
    for &tasks in plan.tasks {
        // Warm-up: both sides settled (connections, buffers, the runtime).
        let side = |is_cache: bool| {
            let (cache, raw, keys) = (Rc::clone(&cache), raw.clone(), Rc::clone(&keys));
            slice(&rt, tasks, plan.slice, is_cache, cache, raw, keys)
        };
        side(true)?;
        side(false)?;
        let (mut c, mut r) = (Vec::new(), Vec::new());
        for round in 0..plan.rounds {
            if round.is_multiple_of(2) {
                c.push(side(true)?);
                r.push(side(false)?);
            } else {
                r.push(side(false)?);
                c.push(side(true)?);
            }
        }
        eprintln!(
            "redis-curves: {tasks} task(s): cache {:.0} ops/s, raw {:.0} ops/s (medians)",
            cache_benches::results::median(&c),
            cache_benches::results::median(&r)
        );
        for (target, rounds) in [(CACHE, c), (RAW, r)] {
            sweep.throughput.push(ThroughputPoint {
                target: target.into(),
                workload: WORKLOAD.into(),
                tasks: tasks as u32,
                rounds,
            });
        }
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&sweep).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// Gets per second of `tasks` tasks reading for `slice` through the cache
/// (`is_cache`) or the raw connection. Every read must hit.
fn slice(
    rt: &Runtime,
    tasks: usize,
    slice: Duration,
    is_cache: bool,
    cache: Rc<RedisCache>,
    raw: MultiplexedConnection,
    keys: Rc<Vec<String>>,
) -> Result<f64, String> {
    let local = tokio::task::LocalSet::new();
    local.block_on(rt, async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let (cache, mut raw, keys) = (Rc::clone(&cache), raw.clone(), Rc::clone(&keys));
                tokio::task::spawn_local(async move {
                    let mut n = 0u64;
                    let mut i = t * 7919;
                    while n < MAX_OPS_PER_TASK && start.elapsed() < slice {
                        let k = &keys[i & (KEYS - 1)];
                        let hit = if is_cache {
                            cache.get(k).await.map_err(|e| e.to_string())?.is_some()
                        } else {
                            let v: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
                                .arg(k)
                                .arg("absexp")
                                .arg("sldexp")
                                .arg("data")
                                .query_async(&mut raw)
                                .await
                                .map_err(|e| e.to_string())?;
                            black_box(v).last().is_some_and(Option::is_some)
                        };
                        if !hit {
                            return Err(format!("{k}: a miss; the figure would mix in misses"));
                        }
                        i = i.wrapping_add(1);
                        n += 1;
                    }
                    Ok::<u64, String>(n)
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.map_err(|e| e.to_string())??;
        }
        Ok(total as f64 / start.elapsed().as_secs_f64())
    })
}
