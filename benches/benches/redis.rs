//! The Redis backend beside a raw redis-rs baseline that sends the same
//! commands on one multiplexed connection, against a throwaway
//! `redis-server` on a loopback port (started here, killed at the end).
//!
//! Per-operation groups (one task): `get_hit_1KiB`, `get_miss`,
//! `set/{100B,1KiB,64KiB}`, `get_sliding_1KiB`. The baselines issue what
//! the cache sends: `EVALSHA` of the cache's own read script for gets (so
//! the comparison is the client side: pool, validation, `async_trait`),
//! plus `HMGET` of the three fields (what .NET sends) for a non-sliding hit,
//! and `MULTI DEL HSET PEXPIRE EXEC` for sets.
//!
//! Throughput groups (`throughput_get_1KiB/{1,50}`): that many tasks share
//! the cache (or the one raw connection) and run gets of 1 KiB hits; the
//! reported rate is operations per second over all tasks.
//!
//! Run with `cargo bench -p cache-benches --bench redis`. With `-- --ratio`
//! it instead measures the cache's get throughput against raw `HMGET` in
//! alternating slices (robust to a busy machine) at 1, 50, 128 and 256
//! tasks on two workers and at 256-1024 tasks on one thread, and prints the
//! ratios (see [`ratio`]).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cache_abstractions::support::dotnet::Ticks;
use cache_abstractions::{DistributedCache, EntryOptions};
use cache_benches::{key, value};
use cache_redis::RedisCache;
use cache_testkit::redis_server::RedisServer;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use redis::aio::MultiplexedConnection;
use redis::{Script, Value};
use tokio::runtime::Runtime;

/// Keys each benchmark cycles over (a power of two, cycled with a mask).
const KEYS: usize = 1024;

struct Setup {
    rt: Runtime,
    _server: RedisServer,
    port: u16,
    cache: Arc<RedisCache>,
    raw: MultiplexedConnection,
    keys: Vec<String>,
    sha: String,
}

/// One task at a time runs on a current-thread runtime (the connection's
/// driver and the loop share the thread, as in a latency-bound service);
/// concurrent tasks on a 2-worker multi-thread runtime.
fn setup(multi_thread: bool) -> Setup {
    let server = RedisServer::start();
    let rt = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("runtime");
    let url = server.url();
    let (cache, raw) = rt.block_on(async {
        let cache = RedisCache::builder().url(&url).build().expect("cache");
        let raw = redis::Client::open(url.as_str())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("raw connection");
        (Arc::new(cache), raw)
    });
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    // One get loads the cache's script into the server's script cache.
    rt.block_on(async { cache.get("probe").await.expect("get") });
    let sha = Script::new(RedisCache::sliding_read_script())
        .get_hash()
        .to_string();
    Setup {
        rt,
        port: server.port(),
        _server: server,
        cache,
        raw,
        keys,
        sha,
    }
}

fn populate(s: &Setup, v: &Bytes, options: &EntryOptions) {
    s.rt.block_on(async {
        for k in &s.keys {
            s.cache.set(k, v.clone(), options).await.expect("populate");
        }
    });
}

fn now_ticks() -> String {
    Ticks::from_instant(std::time::SystemTime::now()).to_string()
}

async fn raw_evalsha(conn: &mut MultiplexedConnection, sha: &str, key: &str, data: bool) -> Value {
    redis::cmd("EVALSHA")
        .arg(sha)
        .arg(1)
        .arg(key)
        .arg(now_ticks())
        .arg(if data { "1" } else { "0" })
        .query_async(conn)
        .await
        .expect("evalsha")
}

async fn raw_hmget(conn: &mut MultiplexedConnection, key: &str) -> Value {
    redis::cmd("HMGET")
        .arg(key)
        .arg("absexp")
        .arg("sldexp")
        .arg("data")
        .query_async(conn)
        .await
        .expect("hmget")
}

/// Times `iters` runs of `op` on the runtime.
fn timed<F, Fut>(rt: &Runtime, iters: u64, mut op: F) -> Duration
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters as usize {
            op(i & (KEYS - 1)).await;
        }
        start.elapsed()
    })
}

fn per_operation(c: &mut Criterion) {
    let setup = setup(false);
    let s = &setup;
    let v = value(1024, 1);

    populate(s, &v, &EntryOptions::new());
    let mut g = c.benchmark_group("get_hit_1KiB");
    g.bench_function("cache", |b| {
        b.iter_custom(|n| {
            timed(&s.rt, n, |i| async move {
                black_box(s.cache.get(&s.keys[i]).await.expect("get"));
            })
        })
    });
    g.bench_function("raw EVALSHA", |b| {
        b.iter_custom(|n| {
            timed(&s.rt, n, |i| {
                let mut conn = s.raw.clone();
                async move {
                    black_box(raw_evalsha(&mut conn, &s.sha, &s.keys[i], true).await);
                }
            })
        })
    });
    g.bench_function("raw HMGET", |b| {
        b.iter_custom(|n| {
            timed(&s.rt, n, |i| {
                let mut conn = s.raw.clone();
                async move {
                    black_box(raw_hmget(&mut conn, &s.keys[i]).await);
                }
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("get_miss");
    let absent: Vec<String> = (0..KEYS).map(|i| format!("absent:{i:05}")).collect();
    let absent = &absent;
    g.bench_function("cache", |b| {
        b.iter_custom(|n| {
            timed(&s.rt, n, |i| async move {
                black_box(s.cache.get(&absent[i]).await.expect("get"));
            })
        })
    });
    g.bench_function("raw EVALSHA", |b| {
        b.iter_custom(|n| {
            timed(&s.rt, n, |i| {
                let mut conn = s.raw.clone();
                async move {
                    black_box(raw_evalsha(&mut conn, &s.sha, &absent[i], true).await);
                }
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group("set");
    let options = EntryOptions::new().expires_in(Duration::from_secs(600));
    for (size, label) in [(100, "100B"), (1024, "1KiB"), (64 * 1024, "64KiB")] {
        let v = value(size, 3);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(BenchmarkId::new("cache", label), |b| {
            b.iter_custom(|n| {
                timed(&s.rt, n, |i| {
                    let v = v.clone();
                    let options = &options;
                    async move {
                        s.cache.set(&s.keys[i], v, options).await.expect("set");
                    }
                })
            })
        });
        g.bench_function(BenchmarkId::new("raw MULTI", label), |b| {
            b.iter_custom(|n| {
                timed(&s.rt, n, |i| {
                    let mut conn = s.raw.clone();
                    let v = v.clone();
                    async move {
                        let k = &s.keys[i];
                        let mut pipe = redis::pipe();
                        pipe.atomic()
                            .cmd("DEL")
                            .arg(k)
                            .ignore()
                            .cmd("HSET")
                            .arg(k)
                            .arg("absexp")
                            .arg(now_ticks())
                            .arg("sldexp")
                            .arg("-1")
                            .arg("data")
                            .arg(&v[..])
                            .ignore()
                            .cmd("PEXPIRE")
                            .arg(k)
                            .arg(600_000)
                            .ignore();
                        let () = pipe.query_async(&mut conn).await.expect("set");
                    }
                })
            })
        });
    }
    g.finish();

    populate(
        s,
        &v,
        &EntryOptions::new().sliding(Duration::from_secs(600)),
    );
    let mut g = c.benchmark_group("get_sliding_1KiB");
    g.bench_function("cache", |b| {
        b.iter_custom(|n| {
            timed(&s.rt, n, |i| async move {
                black_box(s.cache.get(&s.keys[i]).await.expect("get"));
            })
        })
    });
    g.bench_function("raw EVALSHA", |b| {
        b.iter_custom(|n| {
            timed(&s.rt, n, |i| {
                let mut conn = s.raw.clone();
                async move {
                    black_box(raw_evalsha(&mut conn, &s.sha, &s.keys[i], true).await);
                }
            })
        })
    });
    g.finish();
}

/// `n` gets spread over `tasks` tasks; returns the wall time.
fn concurrent<F, Fut>(rt: &Runtime, n: u64, tasks: usize, op: F) -> Duration
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    rt.block_on(async {
        let per_task = (n as usize).div_ceil(tasks);
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let op = Arc::clone(&op);
                tokio::spawn(async move {
                    for i in 0..per_task {
                        op((t * 7919 + i) & (KEYS - 1)).await;
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("task");
        }
        start.elapsed()
    })
}

fn throughput(c: &mut Criterion) {
    let setup = setup(true);
    let s = &setup;
    let v = value(1024, 5);
    populate(s, &v, &EntryOptions::new());
    let keys = Arc::new(s.keys.clone());
    let mut g = c.benchmark_group("throughput_get_1KiB");
    g.throughput(Throughput::Elements(1));
    for tasks in [1usize, 50] {
        let cache = Arc::clone(&s.cache);
        let k = Arc::clone(&keys);
        g.bench_function(BenchmarkId::new("cache", tasks), |b| {
            b.iter_custom(|n| {
                let cache = Arc::clone(&cache);
                let k = Arc::clone(&k);
                concurrent(&s.rt, n, tasks, move |i| {
                    let cache = Arc::clone(&cache);
                    let k = Arc::clone(&k);
                    async move {
                        black_box(cache.get(&k[i]).await.expect("get"));
                    }
                })
            })
        });
        for (label, script) in [("raw EVALSHA", true), ("raw HMGET", false)] {
            let raw = s.raw.clone();
            let k = Arc::clone(&keys);
            let sha = s.sha.clone();
            g.bench_function(BenchmarkId::new(label, tasks), |b| {
                b.iter_custom(|n| {
                    let raw = raw.clone();
                    let k = Arc::clone(&k);
                    let sha = sha.clone();
                    concurrent(&s.rt, n, tasks, move |i| {
                        let mut conn = raw.clone();
                        let k = Arc::clone(&k);
                        let sha = sha.clone();
                        async move {
                            let v = if script {
                                raw_evalsha(&mut conn, &sha, &k[i], true).await
                            } else {
                                raw_hmget(&mut conn, &k[i]).await
                            };
                            black_box(v);
                        }
                    })
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = per_operation, throughput
}

/// Gets per second of `tasks` tasks running `op` for `slice`.
fn rate<F, Fut>(rt: &Runtime, tasks: usize, slice: Duration, op: Arc<F>) -> (u64, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    rt.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let op = Arc::clone(&op);
                tokio::spawn(async move {
                    let mut done = 0u64;
                    while start.elapsed() < slice {
                        op((t * 7919 + done as usize) & (KEYS - 1)).await;
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await.expect("task");
        }
        (total, start.elapsed())
    })
}

/// `--ratio`: the cache's get throughput over raw `HMGET`'s, measured in
/// alternating 250 ms slices (20 of each) so that both see the same
/// background load on a shared machine:
///
/// - on a 2-worker multi-thread runtime at 1, 50, 128 and 256 tasks (the
///   like-for-like ratio of issue 15);
/// - on one thread (current-thread runtime, so the connection's driver
///   shares the thread with the tasks) at 256, 512 and 1024 tasks, beside
///   `redis-benchmark -P 16 -c 50 -t get -d 1024` on the same server (the
///   server's pipelined ceiling).
///
/// Prints a readable line and a machine-readable one per point:
///
/// ```text
/// ratio\truntime=multi_thread_2\ttasks=256\tcache_ops_s=..\traw_ops_s=..\tcache_over_raw=0.981\tload1=3.12
/// ceiling\tcommand=redis-benchmark -P 16 -c 50 -t get -d 1024\tops_s=..\tload1=..
/// ```
fn ratio() {
    for (flavour, tasks) in [
        ("multi_thread_2", &[1usize, 50, 128, 256][..]),
        ("current_thread", &[256, 512, 1024][..]),
    ] {
        let setup = setup(flavour == "multi_thread_2");
        ratio_points(&setup, flavour, tasks);
    }
}

fn ratio_points(s: &Setup, flavour: &str, concurrency: &[usize]) {
    populate(s, &value(1024, 5), &EntryOptions::new());
    // The key redis-benchmark's GET reads.
    let mut raw = s.raw.clone();
    s.rt.block_on(async {
        let () = redis::cmd("SET")
            .arg("key:__rand_int__")
            .arg(&value(1024, 6)[..])
            .query_async(&mut raw)
            .await
            .expect("set redis-benchmark's key");
    });
    let keys = Arc::new(s.keys.clone());
    let slice = Duration::from_millis(250);
    let mut ceiling = Vec::new();
    for &tasks in concurrency {
        let cache = Arc::clone(&s.cache);
        let k = Arc::clone(&keys);
        let cache_op = Arc::new(move |i: usize| {
            let cache = Arc::clone(&cache);
            let k = Arc::clone(&k);
            async move {
                black_box(cache.get(&k[i]).await.expect("get"));
            }
        });
        let raw = s.raw.clone();
        let k = Arc::clone(&keys);
        let raw_op = Arc::new(move |i: usize| {
            let mut conn = raw.clone();
            let k = Arc::clone(&k);
            async move {
                black_box(raw_hmget(&mut conn, &k[i]).await);
            }
        });
        // Warm both up (the cache settles on plain HMGET reads).
        rate(&s.rt, tasks, slice, Arc::clone(&cache_op));
        rate(&s.rt, tasks, slice, Arc::clone(&raw_op));
        let (mut c_ops, mut c_time, mut r_ops, mut r_time) = (0, Duration::ZERO, 0, Duration::ZERO);
        let mut bench_rates = Vec::new();
        for round in 0..20u32 {
            let (n, t) = rate(&s.rt, tasks, slice, Arc::clone(&cache_op));
            c_ops += n;
            c_time += t;
            let (n, t) = rate(&s.rt, tasks, slice, Arc::clone(&raw_op));
            r_ops += n;
            r_time += t;
            // redis-benchmark in the same alternation, every fourth round.
            if round.is_multiple_of(4) {
                if flavour == "multi_thread_2" && tasks == 50 {
                    bench_rates.extend(redis_benchmark_get(s.port, 1));
                }
                if flavour == "current_thread" {
                    ceiling.extend(redis_benchmark_get(s.port, 16));
                }
            }
        }
        let c = c_ops as f64 / c_time.as_secs_f64();
        let r = r_ops as f64 / r_time.as_secs_f64();
        let load = load1();
        println!(
            "get 1 KiB, {flavour}, {tasks} task(s): cache {c:.0} ops/s, raw HMGET {r:.0} ops/s, cache/raw {:.3} (load {load})",
            c / r
        );
        println!(
            "ratio\truntime={flavour}\ttasks={tasks}\tcache_ops_s={c:.0}\traw_ops_s={r:.0}\tcache_over_raw={:.3}\tload1={load}",
            c / r
        );
        if !bench_rates.is_empty() {
            let b = bench_rates.iter().sum::<f64>() / bench_rates.len() as f64;
            println!(
                "redis-benchmark -t get -c 50 -d 1024: {b:.0} requests/s; cache/redis-benchmark {:.2}, raw/redis-benchmark {:.2}",
                c / b,
                r / b
            );
        }
        if !ceiling.is_empty() {
            let b = ceiling.iter().sum::<f64>() / ceiling.len() as f64;
            println!(
                "  one thread against redis-benchmark -P 16 -c 50 -t get -d 1024 ({b:.0} requests/s): cache {:.1}%, raw {:.1}%",
                100.0 * c / b,
                100.0 * r / b
            );
        }
    }
    if !ceiling.is_empty() {
        let b = ceiling.iter().sum::<f64>() / ceiling.len() as f64;
        println!(
            "ceiling\tcommand=redis-benchmark -P 16 -c 50 -t get -d 1024\tops_s={b:.0}\tload1={}",
            load1()
        );
    }
}

/// The one-minute load average, for the record beside each figure.
fn load1() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "n/a".into())
}

/// One `redis-benchmark -t get -c 50 -d 1024 -P <pipeline>` run against
/// the bench's server (its key holds a 1 KiB value); `None` if it is not
/// installed.
fn redis_benchmark_get(port: u16, pipeline: u32) -> Option<f64> {
    let requests = if pipeline > 1 { "400000" } else { "50000" };
    let out = std::process::Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-t", "get", "-c", "50", "-d", "1024", "-q"])
        .args(["-P", &pipeline.to_string(), "-n", requests])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "\n");
    let last = text
        .lines()
        .rev()
        .find(|l| l.contains("requests per second"))?;
    last.split_whitespace()
        .rev()
        .skip_while(|w| *w != "requests")
        .nth(1)
        .and_then(|n| n.parse().ok())
}

fn main() {
    if std::env::args().any(|a| a == "--ratio") {
        ratio();
    } else {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}
