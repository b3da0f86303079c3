//! What `Instrumented` costs on the cheapest operation there is: a memory
//! get (hit, 1 KiB value), plain against instrumented, in one process.
//!
//! Sides:
//! - `plain`: `MemoryCache` as is;
//! - `no-recorder`: `.instrumented("memory")` with no metrics recorder and
//!   no tracing subscriber installed (features `tracing` and `metrics` on);
//! - `recorder`: the same with a Prometheus recorder
//!   (metrics-exporter-prometheus, what examples/web serves) installed
//!   before wrapping, and still no tracing subscriber; the default
//!   sampling, which times 1 in 64 of these gets (answered without
//!   waiting) for the duration histogram and counts every one;
//! - `every-op`: the same, timing every get
//!   (`Instrumented::sample_latency(1)`), to show what that costs.
//!
//! `cargo bench -p cache-benches --bench instrument` times the sides in
//! alternating rounds (so drift on a shared machine hits all of them) and
//! prints the median ns per get of each and the ratios to `plain`.
//!
//! `instrument --callgrind SIDE N` does N gets on one side and nothing
//! else, for `valgrind --tool=callgrind`: the difference between the
//! instruction counts of two runs (N and 2N) over N is the instructions per
//! get, the same on any host. docs/observability.md has the commands and
//! the figures.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use cache_abstractions::{DistributedCache, EntryOptions, InstrumentExt};
use cache_benches::{block_on, key, value};
use cache_memory::MemoryCache;

/// Keys cycled over (a power of two, cycled with a mask).
const KEYS: usize = 1024;
/// Gets per side per round.
const GETS: usize = 200_000;
/// Rounds of the alternating wall-clock run.
const ROUNDS: usize = 15;

const SIDES: [&str; 4] = ["plain", "no-recorder", "recorder", "every-op"];

fn keys() -> Vec<String> {
    (0..KEYS).map(key).collect()
}

fn cache(side: &str, keys: &[String]) -> Box<dyn DistributedCache> {
    let memory = MemoryCache::new();
    let options = EntryOptions::new();
    for (i, k) in keys.iter().enumerate() {
        block_on(memory.set(k, value(1024, i as u8), &options)).expect("a memory set succeeds");
    }
    match side {
        "plain" => Box::new(memory),
        "no-recorder" => Box::new(memory.instrumented("memory")),
        "recorder" | "every-op" => {
            // Installed before wrapping: the wrapper registers its handles then.
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            // A second install (another side already did it) is harmless.
            let _ = metrics::set_global_recorder(recorder);
            let wrapped = memory.instrumented("memory");
            if side == "every-op" {
                Box::new(wrapped.sample_latency(1))
            } else {
                Box::new(wrapped)
            }
        }
        other => panic!("unknown side {other:?}; sides: {SIDES:?}"),
    }
}

/// `n` gets cycling over the keys; the values' total length, so nothing is
/// optimised away.
fn gets(cache: &dyn DistributedCache, keys: &[String], n: usize) -> usize {
    let mut total = 0;
    for i in 0..n {
        let hit: Option<Bytes> =
            block_on(cache.get(black_box(&keys[i & (KEYS - 1)]))).expect("a memory get succeeds");
        total += hit.map_or(0, |v| v.len());
    }
    total
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let keys = keys();
    if let Some(i) = args.iter().position(|a| a == "--callgrind") {
        let side = args.get(i + 1).map(String::as_str).unwrap_or("plain");
        let n = args
            .get(i + 2)
            .and_then(|n| n.parse().ok())
            .unwrap_or(100_000);
        let cache = cache(side, &keys);
        println!("{side}: {} bytes read", gets(&*cache, &keys, n));
        return;
    }
    // Wall clock: the recorder side last at build time (installing a global
    // recorder must not reach the other sides' wrappers, built before it).
    let caches: Vec<_> = SIDES.iter().map(|s| cache(s, &keys)).collect();
    let mut samples = vec![Vec::new(); SIDES.len()];
    for c in &caches {
        gets(&**c, &keys, GETS); // warm up
    }
    for _ in 0..ROUNDS {
        for (c, out) in caches.iter().zip(&mut samples) {
            let start = Instant::now();
            black_box(gets(&**c, &keys, GETS));
            out.push(start.elapsed().as_nanos() as f64 / GETS as f64);
        }
    }
    let medians: Vec<f64> = samples.into_iter().map(median).collect();
    println!("memory get (hit, 1 KiB), median of {ROUNDS} alternating rounds of {GETS}:");
    for (side, ns) in SIDES.iter().zip(&medians) {
        println!(
            "  {side:<12} {ns:7.1} ns/get  {:.3}x plain",
            ns / medians[0]
        );
    }
}
