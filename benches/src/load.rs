//! The load loops of the sweeps: closed-loop tasks on a tokio multi-thread
//! runtime, each picking random keys of a pre-populated key space.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::runtime::Runtime;

use crate::results::LatencyPoint;
use crate::{value, Target, XorShift};

/// Operations a task runs between looks at the clock; it yields to the
/// scheduler after each batch, so many tasks on few threads interleave
/// (the memory backend and the raw baselines never suspend on their own).
const BATCH: u64 = 64;

/// One throughput measurement.
#[derive(Clone, Debug)]
pub struct Load {
    /// Concurrent tasks.
    pub tasks: usize,
    /// How long to run.
    pub duration: Duration,
    /// Percent of operations that are gets (the rest are sets).
    pub read_percent: u32,
}

/// Writes a value of `size` bytes under every key, each in an allocation
/// of its own as in a real cache. (One `Bytes` shared by every key would
/// put every get's reference-count increment on the same cache line, and
/// the cores would contend for it: a benchmark artefact.)
pub fn populate(rt: &Runtime, target: &Target, keys: &[String], size: usize) {
    rt.block_on(async {
        for (i, k) in keys.iter().enumerate() {
            target.set(k, value(size, i as u8)).await;
        }
    });
}

/// Runs `load` against `target` and returns operations per second. Sets
/// write a fresh copy of `value`.
pub fn throughput(
    rt: &Runtime,
    target: &Arc<Target>,
    keys: &Arc<Vec<String>>,
    value: &Bytes,
    load: &Load,
) -> f64 {
    rt.block_on(async {
        let start = Instant::now();
        let deadline = start + load.duration;
        let handles: Vec<_> = (0..load.tasks)
            .map(|t| {
                let target = Arc::clone(target);
                let keys = Arc::clone(keys);
                let template = value.clone();
                let read_percent = load.read_percent as usize;
                tokio::spawn(async move {
                    let mut rng = XorShift::new(t as u64 + 1);
                    let mut ops = 0u64;
                    loop {
                        for _ in 0..BATCH {
                            let k = &keys[rng.below(keys.len())];
                            if read_percent >= 100 || rng.below(100) < read_percent {
                                black_box(target.get(k).await);
                            } else {
                                // A fresh value per set, as a service
                                // receives it (the same for every cache).
                                let v = Bytes::copy_from_slice(&template);
                                target.set(k, v).await;
                            }
                        }
                        ops += BATCH;
                        if Instant::now() >= deadline {
                            break ops;
                        }
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        let mut total = 0u64;
        for h in handles {
            total += h.await.expect("load task panicked");
        }
        total as f64 / start.elapsed().as_secs_f64()
    })
}

/// The operation a latency measurement times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A get of a present key.
    Get,
    /// A set (overwriting a present key).
    Set,
}

impl Op {
    /// `get` or `set`.
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
        }
    }
}

/// Times single operations from one task for `duration` (at most
/// `max_samples`) and returns their percentiles. The keys must be populated
/// with values of `value.len()` bytes.
pub fn latency(
    rt: &Runtime,
    target: &Target,
    keys: &[String],
    value: &Bytes,
    op: Op,
    duration: Duration,
    max_samples: u64,
) -> LatencyPoint {
    let hist = rt.block_on(async {
        let mut hist = // Bounded (1 ns .. 1 h): `saturating_record` clamps to the
        // bounds instead of growing the histogram.
        Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid bounds");
        let mut rng = XorShift::new(99);
        let deadline = Instant::now() + duration;
        let mut n = 0u64;
        while n < max_samples && (!n.is_multiple_of(BATCH) || Instant::now() < deadline) {
            let k = &keys[rng.below(keys.len())];
            let t0 = Instant::now();
            match op {
                Op::Get => {
                    black_box(target.get(k).await);
                }
                Op::Set => target.set(k, value.clone()).await,
            }
            let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
            hist.saturating_record(ns.max(1));
            n += 1;
        }
        hist
    });
    point(
        target.kind().name(),
        op.name(),
        value.len() as u64,
        1,
        &hist,
    )
}

/// A [`LatencyPoint`] from a histogram of nanoseconds.
pub fn point(
    target: &str,
    op: &str,
    value_size: u64,
    tasks: u32,
    hist: &Histogram<u64>,
) -> LatencyPoint {
    LatencyPoint {
        target: target.to_string(),
        op: op.to_string(),
        value_size,
        tasks,
        samples: hist.len(),
        p50_ns: hist.value_at_quantile(0.50),
        p90_ns: hist.value_at_quantile(0.90),
        p99_ns: hist.value_at_quantile(0.99),
        p999_ns: hist.value_at_quantile(0.999),
        max_ns: hist.max(),
    }
}
