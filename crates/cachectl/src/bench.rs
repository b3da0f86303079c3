//! `cachectl bench`: a closed-loop load generator.
//!
//! `concurrency` tasks each loop over random keys of a pre-populated key
//! space, doing a get with probability `read_ratio` and a set otherwise,
//! until the deadline or their share of `--ops`. Each task records
//! latencies in its own HDR histogram, merged when all are done, so the hot
//! path takes no lock. A thread of its own drives the progress bar, so it
//! keeps moving even when a task never yields.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use distcache::{Bytes, DistributedCache, EntryOptions};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::json;
use tokio::task::JoinSet;

use crate::cli::BenchArgs;
use crate::failure::{one_line, Failure};

/// The largest value `--value-size` accepts (Redis's own limit).
pub const MAX_VALUE_SIZE: u64 = 512 << 20;
/// The most concurrent tasks.
pub const MAX_CONCURRENCY: u64 = 10_000;

/// The most bytes of values all tasks of a run hold at once
/// (`--value-size` times `--concurrency`).
pub const MAX_IN_FLIGHT_BYTES: u64 = 1 << 30;
/// A task yields to the scheduler after this many operations, so tasks on
/// a backend that never suspends (memory) still interleave.
const YIELD_EVERY: u64 = 32;
/// An operation slower than this (ns) publishes the progress count at once.
const SLOW_OP_NS: u128 = 20_000;

/// The runtime threads for a run: `--threads` if given, else 1 for Redis
/// and one per core for memory and SQL Server.
///
/// A Redis client's work per operation is small next to the server's, and
/// one thread that runs every task and the connections' I/O does it
/// without waking other threads (no cross-thread wake-ups, no work
/// stealing) and leaves the other cores to a server on the same machine.
/// Against a local redis-server on 2 cores, 50 tasks did about 1.9x the
/// gets per second on one thread that they did on a 2-worker runtime (see
/// docs/backends/redis.md). `memory://` operations are all client work, so
/// they get every core; SQL Server keeps the multi-thread runtime it was
/// measured with.
///
/// `backend` is what `distcache::backend_of` says of the URL.
pub fn threads(requested: Option<usize>, backend: Option<&str>) -> usize {
    match (requested, backend) {
        (Some(n), _) => n.max(1),
        (None, Some("redis")) => 1,
        (None, _) => thread::available_parallelism().map_or(1, usize::from),
    }
}

/// When the measurement stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this long.
    After(Duration),
    /// After this many operations in total.
    Ops(u64),
}

/// Everything a run needs, checked.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Concurrent tasks.
    pub concurrency: u64,
    /// Bytes per value.
    pub value_size: usize,
    /// Distinct keys.
    pub keys: u64,
    /// Fraction of gets.
    pub read_ratio: f64,
    /// When to stop.
    pub stop: Stop,
    /// Prefix of every key.
    pub key_prefix: String,
    /// Expiry of written entries.
    pub ttl: Duration,
    /// Whether to write every key first.
    pub populate: bool,
    /// Whether to draw a progress bar (only when stderr is a terminal).
    pub progress: bool,
    /// `memory`, `redis` or `sqlserver`.
    pub backend: String,
    /// The cache URL, passwords redacted.
    pub url: String,
}

impl BenchConfig {
    /// The config from the command line.
    pub fn from_args(args: &BenchArgs, backend: &str, redacted_url: &str) -> Result<Self, Failure> {
        if args.value_size > MAX_VALUE_SIZE {
            return Err(Failure::usage(format!(
                "--value-size {} is over the limit of {} bytes (512 MiB)",
                args.value_size, MAX_VALUE_SIZE
            )));
        }
        if args.concurrency > MAX_CONCURRENCY {
            return Err(Failure::usage(format!(
                "--concurrency {} is over the limit of {MAX_CONCURRENCY}",
                args.concurrency
            )));
        }
        // Every task holds a value of its own, and the backend a copy in its
        // command: bounded together, so no pair of limits aborts on allocation.
        let in_flight = args.value_size.saturating_mul(args.concurrency);
        if in_flight > MAX_IN_FLIGHT_BYTES {
            return Err(Failure::usage(format!(
                "--value-size {} x --concurrency {} is {} bytes in flight, over the limit of \
                 {MAX_IN_FLIGHT_BYTES} (1 GiB); lower one of them",
                args.value_size, args.concurrency, in_flight
            )));
        }
        if args.ops.is_none() && args.duration.is_zero() {
            return Err(Failure::usage("--duration must be greater than zero"));
        }
        if args.ttl.is_zero() {
            return Err(Failure::usage("--ttl must be greater than zero"));
        }
        Ok(BenchConfig {
            concurrency: args.concurrency,
            value_size: usize::try_from(args.value_size)
                .map_err(|_| Failure::usage("--value-size is too large for this machine"))?,
            keys: args.keys,
            read_ratio: args.read_ratio,
            stop: match args.ops {
                Some(n) => Stop::Ops(n),
                None => Stop::After(args.duration),
            },
            key_prefix: args.key_prefix.clone(),
            ttl: args.ttl,
            populate: !args.no_populate,
            progress: !args.quiet && std::io::stderr().is_terminal(),
            backend: backend.to_string(),
            url: redacted_url.to_string(),
        })
    }
}

/// What one task saw.
#[derive(Debug)]
struct Tally {
    latency_ns: Histogram<u64>,
    reads: u64,
    hits: u64,
    writes: u64,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            // Auto-resizing, 3 significant digits: only the range actually
            // seen costs memory.
            latency_ns: Histogram::new(3).expect("3 significant digits is a valid precision"),
            reads: 0,
            hits: 0,
            writes: 0,
            errors: 0,
            first_error: None,
        }
    }

    fn error(&mut self, e: &distcache::Error) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(one_line(&e.to_string()));
        }
    }

    fn merge(&mut self, other: Tally) {
        // Both auto-resize, so adding never fails for lack of range.
        let _ = self.latency_ns.add(&other.latency_ns);
        self.reads += other.reads;
        self.hits += other.hits;
        self.writes += other.writes;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct Report {
    config: BenchConfig,
    elapsed: Duration,
    tally: Tally,
    interrupted: bool,
}

impl Report {
    /// Operations attempted (including failed ones).
    pub fn ops(&self) -> u64 {
        self.tally.reads + self.tally.writes + self.tally.errors
    }

    /// Operations per second over the measured time.
    pub fn ops_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ops() as f64 / secs
        } else {
            0.0
        }
    }

    /// Hits over successful gets; `None` without gets.
    pub fn hit_ratio(&self) -> Option<f64> {
        (self.tally.reads > 0).then(|| self.tally.hits as f64 / self.tally.reads as f64)
    }

    /// Whether every operation failed (the run is then a failure).
    pub fn all_failed(&self) -> bool {
        self.ops() > 0 && self.tally.errors == self.ops()
    }

    /// The first error seen, if any.
    pub fn first_error(&self) -> Option<&str> {
        self.tally.first_error.as_deref()
    }

    /// Errors seen.
    pub fn errors(&self) -> u64 {
        self.tally.errors
    }

    /// The latency at `q` (0..=1) in microseconds; `None` with no successful op.
    fn quantile_us(&self, q: f64) -> Option<f64> {
        let h = &self.tally.latency_ns;
        (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
    }

    fn max_us(&self) -> Option<f64> {
        let h = &self.tally.latency_ns;
        (!h.is_empty()).then(|| h.max() as f64 / 1000.0)
    }

    fn mean_us(&self) -> Option<f64> {
        let h = &self.tally.latency_ns;
        (!h.is_empty()).then(|| h.mean() / 1000.0)
    }

    /// The `--json` object.
    pub fn to_json(&self) -> serde_json::Value {
        let c = &self.config;
        let r3 = |x: Option<f64>| x.map(|v| (v * 1000.0).round() / 1000.0);
        json!({
            "backend": c.backend,
            "url": c.url,
            "concurrency": c.concurrency,
            "value_size": c.value_size,
            "keys": c.keys,
            "read_ratio": c.read_ratio,
            "populated": c.populate,
            "duration_secs": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "interrupted": self.interrupted,
            "ops": self.ops(),
            "ops_per_sec": self.ops_per_sec().round(),
            "reads": self.tally.reads,
            "writes": self.tally.writes,
            "hits": self.tally.hits,
            "misses": self.tally.reads - self.tally.hits,
            "errors": self.tally.errors,
            "first_error": self.tally.first_error,
            "hit_ratio": self.hit_ratio(),
            "mean_us": r3(self.mean_us()),
            "p50_us": r3(self.quantile_us(0.50)),
            "p90_us": r3(self.quantile_us(0.90)),
            "p99_us": r3(self.quantile_us(0.99)),
            "p999_us": r3(self.quantile_us(0.999)),
            "max_us": r3(self.max_us()),
        })
    }

    /// The human-readable table.
    pub fn to_table(&self) -> String {
        let c = &self.config;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "cachectl bench: {url}\n\
             {conc} tasks, {keys} keys, {size} B values, {reads:.0}% reads{pop}{int}\n",
            url = c.url,
            conc = c.concurrency,
            keys = thousands(c.keys),
            size = thousands(c.value_size as u64),
            reads = c.read_ratio * 100.0,
            pop = if c.populate {
                ""
            } else {
                ", not pre-populated"
            },
            int = if self.interrupted {
                " (interrupted)"
            } else {
                ""
            },
        );
        let _ = writeln!(
            s,
            "  throughput  {} ops/s",
            thousands(self.ops_per_sec().round() as u64)
        );
        let _ = writeln!(
            s,
            "  operations  {} in {:.2} s",
            thousands(self.ops()),
            self.elapsed.as_secs_f64()
        );
        let hit = match self.hit_ratio() {
            Some(r) => format!("{:.2}%", r * 100.0),
            None => "n/a (no reads)".into(),
        };
        let _ = writeln!(
            s,
            "  hit ratio   {hit}  ({} reads, {} hits, {} writes)",
            thousands(self.tally.reads),
            thousands(self.tally.hits),
            thousands(self.tally.writes)
        );
        let err = match &self.tally.first_error {
            Some(first) => format!("{}  (first: {first})", thousands(self.tally.errors)),
            None => "0".into(),
        };
        let _ = writeln!(s, "  errors      {err}");
        let _ = writeln!(s);
        let cols = [
            ("mean", self.mean_us()),
            ("p50", self.quantile_us(0.50)),
            ("p90", self.quantile_us(0.90)),
            ("p99", self.quantile_us(0.99)),
            ("p99.9", self.quantile_us(0.999)),
            ("max", self.max_us()),
        ];
        let mut head = String::from("  latency   ");
        let mut vals = String::from("            ");
        for (name, v) in cols {
            let _ = write!(head, " {name:>10}");
            let _ = write!(vals, " {:>10}", v.map_or("-".into(), format_us));
        }
        let _ = writeln!(s, "{head}\n{vals}");
        s
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds in a readable unit: `850 ns`, `12.3 µs`, `4.56 ms`, `1.20 s`.
pub fn format_us(us: f64) -> String {
    if us < 1.0 {
        format!("{:.0} ns", us * 1000.0)
    } else if us < 100.0 {
        format!("{us:.1} µs")
    } else if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

/// Shared state the progress thread reads.
#[derive(Debug, Default)]
struct Shared {
    done: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
}

/// A thread that redraws a progress bar ten times a second until dropped.
struct Ticker {
    bar: ProgressBar,
    finished: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Ticker {
    fn start(
        visible: bool,
        prefix: &'static str,
        len: u64,
        shared: Arc<Shared>,
        describe: impl Fn(&ProgressBar, &Shared, Duration) + Send + 'static,
    ) -> Ticker {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(len), target);
        let style = ProgressStyle::with_template("{prefix:>10.bold} [{bar:32.cyan/blue}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(prefix);
        let finished = Arc::new(AtomicBool::new(false));
        let handle = visible
            .then(|| {
                let bar = bar.clone();
                let finished = Arc::clone(&finished);
                let started = Instant::now();
                thread::Builder::new()
                    .name("cachectl-progress".into())
                    .spawn(move || {
                        while !finished.load(Ordering::Relaxed) {
                            describe(&bar, &shared, started.elapsed());
                            thread::sleep(Duration::from_millis(100));
                        }
                    })
                    .ok()
            })
            .flatten();
        Ticker {
            bar,
            finished,
            handle,
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.finished.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        self.bar.finish_and_clear();
    }
}

fn key(buf: &mut String, prefix: &str, i: u64) {
    buf.clear();
    buf.push_str(prefix);
    let _ = write!(buf, "{i}");
}

/// Runs the benchmark: populate, then measure.
pub async fn run(cache: Arc<dyn DistributedCache>, config: BenchConfig) -> Result<Report, Failure> {
    let mut value = vec![0u8; config.value_size];
    rand::rng().fill_bytes(&mut value);
    let value = Bytes::from(value);
    let options = EntryOptions::new().expires_in(config.ttl);

    let shared = Arc::new(Shared::default());
    let ctrl_c = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                shared.stop.store(true, Ordering::Relaxed);
            }
        })
    };
    let result = async {
        if config.populate {
            populate(&cache, &config, &value, &options, &shared).await?;
        }
        measure(&cache, &config, &value, &options, &shared).await
    }
    .await;
    ctrl_c.abort();
    result
}

/// Writes every key once, `concurrency` at a time. One failed write up front
/// ends the run (the cache is unusable); later failures are counted.
async fn populate(
    cache: &Arc<dyn DistributedCache>,
    config: &BenchConfig,
    value: &Bytes,
    options: &EntryOptions,
    shared: &Arc<Shared>,
) -> Result<(), Failure> {
    let mut first = String::new();
    key(&mut first, &config.key_prefix, 0);
    cache
        .set(&first, value.clone(), options)
        .await
        .map_err(|e| {
            Failure::cache(format!(
                "cannot populate the key space: {}",
                one_line(&e.to_string())
            ))
        })?;
    shared.done.store(1, Ordering::Relaxed);

    let ticker = Ticker::start(
        config.progress,
        "populate",
        config.keys,
        Arc::clone(shared),
        |bar, s, _| {
            bar.set_position(s.done.load(Ordering::Relaxed));
            bar.set_message(format!(
                "{} keys",
                thousands(s.done.load(Ordering::Relaxed))
            ));
        },
    );
    let tasks = config.concurrency.min(config.keys);
    let mut set = JoinSet::new();
    for t in 0..tasks {
        let cache = Arc::clone(cache);
        let value = value.clone();
        let options = options.clone();
        let prefix = config.key_prefix.clone();
        let keys = config.keys;
        let shared = Arc::clone(shared);
        set.spawn(async move {
            let mut buf = String::new();
            // Task t writes keys t, t + tasks, ...; key 0 is already written.
            let mut i = if t == 0 { tasks } else { t };
            let mut n = 0u64;
            while i < keys && !shared.stop.load(Ordering::Relaxed) {
                key(&mut buf, &prefix, i);
                if cache.set(&buf, value.clone(), &options).await.is_err() {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                }
                shared.done.fetch_add(1, Ordering::Relaxed);
                i += tasks;
                n += 1;
                if n.is_multiple_of(YIELD_EVERY) {
                    tokio::task::yield_now().await;
                }
            }
        });
    }
    while let Some(joined) = set.join_next().await {
        joined.map_err(|e| Failure::cache(format!("a populate task failed: {e}")))?;
    }
    drop(ticker);
    shared.done.store(0, Ordering::Relaxed);
    shared.errors.store(0, Ordering::Relaxed);
    Ok(())
}

async fn measure(
    cache: &Arc<dyn DistributedCache>,
    config: &BenchConfig,
    value: &Bytes,
    options: &EntryOptions,
    shared: &Arc<Shared>,
) -> Result<Report, Failure> {
    let (len, total_ops) = match config.stop {
        Stop::After(d) => (d.as_millis().max(1) as u64, None),
        Stop::Ops(n) => (n, Some(n)),
    };
    let stop = config.stop;
    let ticker = Ticker::start(
        config.progress,
        "bench",
        len,
        Arc::clone(shared),
        move |bar, s, elapsed| {
            let done = s.done.load(Ordering::Relaxed);
            let errors = s.errors.load(Ordering::Relaxed);
            let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
            let errs = if errors > 0 {
                format!(", {} errors", thousands(errors))
            } else {
                String::new()
            };
            match stop {
                Stop::After(d) => {
                    bar.set_position(elapsed.as_millis().min(d.as_millis()) as u64);
                    bar.set_message(format!(
                        "{:.1}/{:.0}s  {} ops  {} ops/s{errs}",
                        elapsed.as_secs_f64().min(d.as_secs_f64()),
                        d.as_secs_f64(),
                        thousands(done),
                        thousands(rate as u64)
                    ));
                }
                Stop::Ops(_) => {
                    bar.set_position(done);
                    bar.set_message(format!(
                        "{} ops  {} ops/s{errs}",
                        thousands(done),
                        thousands(rate as u64)
                    ));
                }
            }
        },
    );

    let started = Instant::now();
    let deadline = match config.stop {
        // A duration past what an Instant can hold means "no deadline".
        Stop::After(d) => started.checked_add(d),
        Stop::Ops(_) => None,
    };
    let conc = config.concurrency;
    let mut set = JoinSet::new();
    for t in 0..conc {
        let quota = total_ops.map(|n| n / conc + u64::from(t < n % conc));
        if quota == Some(0) {
            continue;
        }
        let cache = Arc::clone(cache);
        let value = value.clone();
        let options = options.clone();
        let prefix = config.key_prefix.clone();
        let keys = config.keys;
        let read_ratio = config.read_ratio;
        let shared = Arc::clone(shared);
        set.spawn(async move {
            let mut rng = SmallRng::from_rng(&mut rand::rng());
            let mut tally = Tally::new();
            let mut buf = String::new();
            let mut n = 0u64;
            let mut pending = 0u64;
            // When the last operation ended: the deadline check needs no
            // clock read of its own.
            let mut now = Instant::now();
            loop {
                if quota.is_some_and(|q| n >= q)
                    || deadline.is_some_and(|d| now >= d)
                    || shared.stop.load(Ordering::Relaxed)
                {
                    break;
                }
                key(&mut buf, &prefix, rng.random_range(0..keys));
                let read = rng.random::<f64>() < read_ratio;
                let t0 = Instant::now();
                let outcome = if read {
                    cache.get(&buf).await.map(|v| v.is_some())
                } else {
                    cache
                        .set(&buf, value.clone(), &options)
                        .await
                        .map(|()| false)
                };
                now = Instant::now();
                let ns = now.duration_since(t0).as_nanos().max(1);
                match outcome {
                    Ok(hit) => {
                        let _ = tally
                            .latency_ns
                            .record(u64::try_from(ns).unwrap_or(u64::MAX));
                        if read {
                            tally.reads += 1;
                            tally.hits += u64::from(hit);
                        } else {
                            tally.writes += 1;
                        }
                    }
                    Err(e) => {
                        tally.error(&e);
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += 1;
                // The progress count is shared: touch it once per batch of
                // fast operations, at once after a slow one.
                pending += 1;
                if pending >= YIELD_EVERY || ns > SLOW_OP_NS {
                    shared.done.fetch_add(pending, Ordering::Relaxed);
                    pending = 0;
                }
                if n.is_multiple_of(YIELD_EVERY) {
                    tokio::task::yield_now().await;
                    now = Instant::now();
                }
            }
            shared.done.fetch_add(pending, Ordering::Relaxed);
            tally
        });
    }
    let mut total = Tally::new();
    while let Some(joined) = set.join_next().await {
        let tally = joined.map_err(|e| Failure::cache(format!("a bench task failed: {e}")))?;
        total.merge(tally);
    }
    let elapsed = started.elapsed();
    drop(ticker);
    Ok(Report {
        config: config.clone(),
        elapsed,
        tally: total,
        interrupted: shared.stop.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use distcache::cache_memory::MemoryCache;

    fn config(stop: Stop, read_ratio: f64) -> BenchConfig {
        BenchConfig {
            concurrency: 4,
            value_size: 16,
            keys: 100,
            read_ratio,
            stop,
            key_prefix: "b:".into(),
            ttl: Duration::from_secs(60),
            populate: true,
            progress: false,
            backend: "memory".into(),
            url: "memory://".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ops_mode_runs_exactly_n_and_all_reads_hit() {
        let cache: Arc<dyn DistributedCache> = Arc::new(MemoryCache::new());
        let report = run(Arc::clone(&cache), config(Stop::Ops(1001), 1.0))
            .await
            .unwrap();
        assert_eq!(report.ops(), 1001);
        assert_eq!(report.hit_ratio(), Some(1.0));
        assert_eq!(report.tally.writes, 0);
        // Every key was populated.
        for i in 0..100 {
            assert!(cache.get(&format!("b:{i}")).await.unwrap().is_some(), "{i}");
        }
        let j = report.to_json();
        for field in ["ops_per_sec", "p50_us", "p99_us", "p999_us", "hit_ratio"] {
            assert!(j[field].is_number(), "{field}: {j}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn duration_mode_stops_and_writes_only_have_no_hit_ratio() {
        let cache: Arc<dyn DistributedCache> = Arc::new(MemoryCache::new());
        let mut c = config(Stop::After(Duration::from_millis(200)), 0.0);
        c.populate = false;
        let report = run(cache, c).await.unwrap();
        assert!(report.ops() > 0);
        assert!(
            report.elapsed < Duration::from_secs(2),
            "{:?}",
            report.elapsed
        );
        assert_eq!(report.hit_ratio(), None);
        assert!(report.to_json()["hit_ratio"].is_null());
        assert!(report.to_table().contains("n/a (no reads)"));
    }

    /// Sets succeed (or not); every get fails.
    #[derive(Debug)]
    struct Broken {
        sets_fail: bool,
    }

    #[distcache::async_trait]
    impl DistributedCache for Broken {
        async fn get(&self, _: &str) -> distcache::Result<Option<Bytes>> {
            Err(distcache::Error::new(
                distcache::ErrorKind::Timeout,
                "no answer",
            ))
        }
        async fn set(&self, _: &str, _: Bytes, _: &EntryOptions) -> distcache::Result<()> {
            if self.sets_fail {
                Err(distcache::Error::new(
                    distcache::ErrorKind::Connection,
                    "refused",
                ))
            } else {
                Ok(())
            }
        }
        async fn refresh(&self, _: &str) -> distcache::Result<()> {
            Ok(())
        }
        async fn remove(&self, _: &str) -> distcache::Result<()> {
            Ok(())
        }
        fn capabilities(&self) -> distcache::Capabilities {
            distcache::Capabilities::new()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn errors_are_counted_and_all_failing_is_reported() {
        let cache: Arc<dyn DistributedCache> = Arc::new(Broken { sets_fail: false });
        let report = run(cache, config(Stop::Ops(50), 1.0)).await.unwrap();
        assert_eq!(report.ops(), 50);
        assert_eq!(report.errors(), 50);
        assert!(report.all_failed());
        assert_eq!(report.first_error(), Some("timed out: no answer"));
        assert_eq!(report.hit_ratio(), None);
        let j = report.to_json();
        assert!(j["p50_us"].is_null(), "{j}");
        assert_eq!(j["first_error"], "timed out: no answer");
        assert!(report
            .to_table()
            .contains("50  (first: timed out: no answer)"));

        // Half the operations failing is a result, not a failure.
        let cache: Arc<dyn DistributedCache> = Arc::new(Broken { sets_fail: false });
        let report = run(cache, config(Stop::Ops(400), 0.5)).await.unwrap();
        assert!(report.errors() > 0 && !report.all_failed());
    }

    #[tokio::test]
    async fn a_cache_that_refuses_writes_stops_before_measuring() {
        let cache: Arc<dyn DistributedCache> = Arc::new(Broken { sets_fail: true });
        let e = run(cache, config(Stop::Ops(50), 1.0)).await.unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert_eq!(
            e.message(),
            "cannot populate the key space: connection error: refused"
        );
    }

    #[test]
    fn one_thread_for_redis_unless_asked() {
        let (redis, sql, memory) = (Some("redis"), Some("sqlserver"), Some("memory"));
        assert_eq!(threads(None, redis), 1);
        assert!(threads(None, sql) >= 1);
        assert!(threads(None, memory) >= 1);
        assert_eq!(threads(Some(3), sql), 3);
        assert_eq!(threads(Some(4), redis), 4);
        assert_eq!(threads(Some(1), memory), 1);
    }

    #[test]
    fn formatting() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(format_us(0.42), "420 ns");
        assert_eq!(format_us(12.34), "12.3 µs");
        assert_eq!(format_us(450.0), "450 µs");
        assert_eq!(format_us(4560.0), "4.56 ms");
        assert_eq!(format_us(1_200_000.0), "1.20 s");
    }
}
