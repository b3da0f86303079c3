//! The JSON records the sweeps and the footprint measurement write and the
//! report reads. Every figure in the report comes from one of these files,
//! all written by the same `cargo xtask bench` run.

use serde::{Deserialize, Serialize};

/// Throughput of one cache at one concurrency.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ThroughputPoint {
    /// The cache (`memory`, `moka (raw)`, `redis`, ...).
    pub target: String,
    /// The workload (`get 1 KiB`, `90% get / 10% set 1 KiB`, ...).
    pub workload: String,
    /// Concurrent tasks.
    pub tasks: u32,
    /// Operations per second of each round, in the order run.
    pub rounds: Vec<f64>,
}

impl ThroughputPoint {
    /// The best round: on a shared machine, the one least disturbed by
    /// other processes.
    pub fn best(&self) -> f64 {
        self.rounds.iter().copied().fold(0.0, f64::max)
    }

    /// The median round.
    pub fn median(&self) -> f64 {
        median(&self.rounds)
    }
}

/// Latency percentiles of one operation on one cache at one value size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LatencyPoint {
    /// The cache.
    pub target: String,
    /// `get` or `set`.
    pub op: String,
    /// Bytes per value.
    pub value_size: u64,
    /// Concurrent tasks while measuring.
    pub tasks: u32,
    /// Operations timed.
    pub samples: u64,
    /// Median, nanoseconds.
    pub p50_ns: u64,
    /// 90th percentile, nanoseconds.
    pub p90_ns: u64,
    /// 99th percentile, nanoseconds.
    pub p99_ns: u64,
    /// 99.9th percentile, nanoseconds.
    pub p999_ns: u64,
    /// Slowest, nanoseconds.
    pub max_ns: u64,
}

/// What a sweep measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Sweep {
    /// Throughput against concurrency.
    pub throughput: Vec<ThroughputPoint>,
    /// Latency percentiles against value size.
    pub latency: Vec<LatencyPoint>,
    /// How the sweep was run (durations, rounds, runtime), for the report.
    pub notes: Vec<String>,
}

/// Resident memory of one cache holding `entries` values.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Footprint {
    /// The cache (`memory`, `moka (raw)`, ..., or `values only`).
    pub target: String,
    /// Entries inserted.
    pub entries: u64,
    /// Bytes per value.
    pub value_size: u64,
    /// Bytes of all keys together.
    pub key_bytes: u64,
    /// Resident bytes before the first insert (cache built, values not yet made).
    pub rss_before: u64,
    /// Resident bytes after every insert (and moka's pending tasks run).
    pub rss_after: u64,
    /// Bytes the cache's own accounting charges (`weighted_size`), if it has one.
    pub charged: Option<u64>,
}

impl Footprint {
    /// Bytes of all values together: the payload.
    pub fn payload(&self) -> u64 {
        self.entries * self.value_size
    }

    /// Resident bytes the entries added.
    pub fn delta(&self) -> u64 {
        self.rss_after.saturating_sub(self.rss_before)
    }

    /// Resident bytes per entry.
    pub fn per_entry(&self) -> f64 {
        self.delta() as f64 / self.entries as f64
    }

    /// Resident bytes over the payload, as a fraction of it (0.3 = 30% over).
    pub fn overhead(&self) -> f64 {
        self.delta() as f64 / self.payload() as f64 - 1.0
    }
}

/// The median of `xs` (0 when empty).
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
