//! The raw redis-rs baseline for the Redis sweeps: plain `GET`/`SET` on
//! one multiplexed connection shared by every task, the same closed loop
//! `cachectl bench` runs through the cache-redis backend. Prints a `Sweep`
//! as JSON on stdout.
//!
//! ```text
//! redis-raw --url redis://127.0.0.1:PORT/ [--quick]
//! ```
//!
//! Only ever pointed at the throwaway server `cargo xtask bench` starts.

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_benches::load::point;
use cache_benches::results::{Sweep, ThroughputPoint};
use cache_benches::{key, value, XorShift};
use hdrhistogram::Histogram;
use redis::aio::MultiplexedConnection;

const TARGET: &str = "redis-rs (raw)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let Some(url) = args
        .iter()
        .position(|a| a == "--url")
        .and_then(|i| args.get(i + 1))
    else {
        eprintln!("usage: redis-raw --url redis://127.0.0.1:PORT/ [--quick]");
        return ExitCode::FAILURE;
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("redis-raw: cannot start a tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(url, quick)) {
        Ok(sweep) => match serde_json::to_string_pretty(&sweep) {
            Ok(s) => {
                println!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("redis-raw: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("redis-raw: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str, quick: bool) -> redis::RedisResult<Sweep> {
    let (tasks, secs, sizes): (&[u32], u64, &[usize]) = if quick {
        (&[1, 8, 50, 128], 1, &[100, 1 << 20])
    } else {
        (
            &[1, 2, 4, 8, 16, 32, 50, 64, 128],
            3,
            &[100, 1 << 10, 10 << 10, 100 << 10, 1 << 20],
        )
    };
    let client = redis::Client::open(url)?;
    let con = client.get_multiplexed_async_connection().await?;
    let mut sweep = Sweep::default();
    sweep.notes.push(format!(
        "raw redis-rs: one multiplexed connection, {secs} s per point"
    ));

    // Throughput: GET of 1 KiB values over 10,000 keys.
    let keys: Arc<Vec<String>> = Arc::new((0..10_000).map(|i| format!("raw:{}", key(i))).collect());
    let v = value(1024, 1);
    populate(&con, &keys, &v).await?;
    for &t in tasks {
        let ops = throughput(&con, &keys, t, Duration::from_secs(secs)).await?;
        eprintln!("redis-raw: GET 1 KiB x{t}: {ops:.0} ops/s");
        sweep.throughput.push(ThroughputPoint {
            target: TARGET.into(),
            workload: "GET 1 KiB".into(),
            tasks: t,
            rounds: vec![ops],
        });
    }

    // Latency: one task, GET and SET at each value size.
    for &size in sizes {
        let n = if size >= 100 << 10 { 64 } else { 10_000 };
        let keys: Vec<String> = (0..n).map(|i| format!("raw:{}", key(i))).collect();
        let v = value(size, 2);
        populate(&con, &keys, &v).await?;
        for op in ["get", "set"] {
            let mut con = con.clone();
            let mut hist = // Bounded (1 ns .. 1 h): `saturating_record` clamps to the
        // bounds instead of growing the histogram.
        Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds");
            let mut rng = XorShift::new(5);
            let deadline = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < deadline {
                let k = &keys[rng.below(keys.len())];
                let t0 = Instant::now();
                if op == "get" {
                    let got: Option<Vec<u8>> =
                        redis::cmd("GET").arg(k).query_async(&mut con).await?;
                    black_box(got);
                } else {
                    let () = redis::cmd("SET")
                        .arg(k)
                        .arg(v.as_ref())
                        .query_async(&mut con)
                        .await?;
                }
                hist.saturating_record(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
            }
            let p = point(TARGET, op, size as u64, 1, &hist);
            eprintln!("redis-raw: {op} {size} B: p50 {} ns", p.p50_ns);
            sweep.latency.push(p);
        }
    }
    Ok(sweep)
}

async fn populate(
    con: &MultiplexedConnection,
    keys: &[String],
    v: &bytes::Bytes,
) -> redis::RedisResult<()> {
    let mut con = con.clone();
    for chunk in keys.chunks(100) {
        let mut pipe = redis::pipe();
        for k in chunk {
            pipe.cmd("SET").arg(k).arg(v.as_ref()).ignore();
        }
        let () = pipe.query_async(&mut con).await?;
    }
    Ok(())
}

async fn throughput(
    con: &MultiplexedConnection,
    keys: &Arc<Vec<String>>,
    tasks: u32,
    duration: Duration,
) -> redis::RedisResult<f64> {
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let mut con = con.clone();
            let keys = Arc::clone(keys);
            tokio::spawn(async move {
                let mut rng = XorShift::new(u64::from(t) + 1);
                let mut ops = 0u64;
                while Instant::now() < deadline {
                    let k = &keys[rng.below(keys.len())];
                    let got: Option<Vec<u8>> =
                        redis::cmd("GET").arg(k).query_async(&mut con).await?;
                    black_box(got);
                    ops += 1;
                }
                Ok::<u64, redis::RedisError>(ops)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h.await.expect("load task panicked")?;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}
