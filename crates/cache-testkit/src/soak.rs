//! A chaos soak for any [`DistributedCache`]: many tasks set, get, refresh
//! and remove keys while a [`Chaos`] hook breaks the backend (pauses,
//! kills and restarts its server, cuts connections mid-reply), and a
//! verifier counts every wrong value and every error that took longer than
//! the cache's timeout. Both must be 0.
//!
//! ```no_run
//! use cache_testkit::soak::{self, NoChaos, SoakConfig};
//! # async fn demo(cache: std::sync::Arc<dyn cache_abstractions::DistributedCache>) {
//! let config = SoakConfig::short(std::time::Duration::from_secs(5));
//! let report = soak::run(cache, &mut NoChaos, &config).await;
//! report.assert_clean();
//! # }
//! ```
//!
//! # What is checked
//!
//! Every key has exactly one writer (the task that owns it), so its
//! operations form one sequence. Each `set` or `remove` gets the key's next
//! *version*; a value encodes its key, its version, its length and filler
//! bytes derived from both, so a read can tell exactly what it got.
//!
//! An operation is **acknowledged** when it returned `Ok` to its caller. An
//! operation that returned an error (or was abandoned at the soak's hang
//! limit) is **indeterminate**: the server may or may not have applied it,
//! and may still apply it later (a command sent just before a pause waits
//! in the server's socket buffer and runs when the server resumes, even
//! after the client gave up on it). With `a` the last acknowledged
//! operation on the key when a `get` started, the `get` is wrong when it
//! returns:
//!
//! - **wrong key**: a well-formed value of another key;
//! - **torn**: bytes that are not a whole value written by the soak
//!   (length, filler or header wrong);
//! - **phantom**: a version never written as a `set` of this key;
//! - **stale**: an *acknowledged* `set` older than `a` (a superseded
//!   write came back, or a removed value reappeared);
//! - **lost**: nothing, when `a` is a `set`, no later operation on the key
//!   is indeterminate, and no fault that loses data (a server restart
//!   without persistence) was under way at any time since `a` was *sent*
//!   (a restart while a write is in flight may wipe it even though its
//!   reply arrives).
//!
//! An indeterminate `set` older than `a` that comes back is not counted as
//! wrong (it may have landed late, as explained above) but is reported as
//! a *late landing*. Entries are written without expiry or with a sliding
//! window far longer than the soak, so expiry never explains a miss.
//!
//! An error is **slow** when it took longer than [`SoakConfig::op_timeout`]
//! (the cache's own configured bound) plus [`SoakConfig::grace`]; an
//! operation still pending at [`SoakConfig::hang_limit`] is abandoned and
//! counted as **hung**. Successful operations may take any time (a short
//! pause ends before the timeout).
//!
//! After the chaos ends and the backend is healed, every key must become
//! readable again within [`SoakConfig::recovery`] (rule 15); keys that do
//! not are counted as **unrecovered**.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use cache_abstractions::{DistributedCache, EntryOptions, Result};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::harness::Outage;

/// One kind of fault a [`Chaos`] hook can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// A short name for reports, e.g. `"SIGSTOP"`.
    pub name: &'static str,
    /// Whether the backend's data may be gone after it (a restart without
    /// persistence): a miss after it is then no lost write.
    pub loses_data: bool,
}

/// Breaks a backend on purpose and heals it again; the soak calls
/// [`inject`](Chaos::inject) then, after [`SoakConfig::fault_for`],
/// [`heal`](Chaos::heal) with the same index, one fault at a time.
#[async_trait]
pub trait Chaos: Send {
    /// The faults this hook can inject; the soak goes round them in order.
    fn faults(&self) -> Vec<Fault>;

    /// Starts fault number `fault` (an index into [`faults`](Chaos::faults)).
    async fn inject(&mut self, fault: usize);

    /// Ends fault number `fault`: afterwards the backend must work again.
    async fn heal(&mut self, fault: usize);
}

/// No faults: the soak then checks plain concurrent use.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoChaos;

#[async_trait]
impl Chaos for NoChaos {
    fn faults(&self) -> Vec<Fault> {
        Vec::new()
    }

    async fn inject(&mut self, _fault: usize) {}

    async fn heal(&mut self, _fault: usize) {}
}

/// A conformance-kit [`Outage`] as one fault: stop the server, start it
/// again. `loses_data` says whether its restart empties the store.
pub struct OutageChaos {
    outage: Box<dyn Outage>,
    loses_data: bool,
}

impl fmt::Debug for OutageChaos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutageChaos")
            .field("loses_data", &self.loses_data)
            .finish_non_exhaustive()
    }
}

impl OutageChaos {
    /// Wraps `outage`; the soak runs against `outage.cache()`.
    pub fn new(outage: Box<dyn Outage>, loses_data: bool) -> Self {
        OutageChaos { outage, loses_data }
    }

    /// The outage's cache (the one the soak must use).
    pub fn cache(&self) -> Arc<dyn DistributedCache> {
        self.outage.cache()
    }

    /// The outage's configured timeout.
    pub fn timeout(&self) -> Duration {
        self.outage.timeout()
    }
}

#[async_trait]
impl Chaos for OutageChaos {
    fn faults(&self) -> Vec<Fault> {
        vec![Fault {
            name: "server stopped and started",
            loses_data: self.loses_data,
        }]
    }

    async fn inject(&mut self, _fault: usize) {
        self.outage.stop().await;
    }

    async fn heal(&mut self, _fault: usize) {
        self.outage.start().await;
    }
}

/// How long and how hard to soak.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SoakConfig {
    /// Concurrent tasks, each owning its own keys.
    pub tasks: usize,
    /// Keys per task.
    pub keys_per_task: usize,
    /// How long the tasks run (then the chaos ends and recovery is checked).
    pub duration: Duration,
    /// At most this many operations per task, whatever the time.
    pub max_ops_per_task: u64,
    /// The cache's own bound on a failing operation (its configured
    /// timeouts).
    pub op_timeout: Duration,
    /// Scheduling slack on top of `op_timeout` before an error counts as
    /// slow (2 s, as in the kit's rule 15 case: the machine may be busy).
    pub grace: Duration,
    /// An operation still pending this long is abandoned and counted as
    /// hung.
    pub hang_limit: Duration,
    /// Calm time before each fault.
    pub calm_for: Duration,
    /// How long each fault lasts.
    pub fault_for: Duration,
    /// How long the backend may take to serve every key again after the
    /// last fault is healed.
    pub recovery: Duration,
    /// Value sizes to pick from (bytes; at least the header's length is
    /// used). Large ones make a cut land inside a value.
    pub value_sizes: Vec<usize>,
    /// Prepended to every key, so soaks sharing a store never meet.
    pub key_prefix: String,
    /// Seed of the operation mix (the run is still timing-dependent).
    pub seed: u64,
}

impl SoakConfig {
    /// A run of about `duration` with 8 tasks of 4 keys, faults every
    /// second or so, and a 3 s operation bound.
    pub fn short(duration: Duration) -> Self {
        SoakConfig {
            tasks: 8,
            keys_per_task: 4,
            duration,
            max_ops_per_task: 1_000_000,
            op_timeout: Duration::from_secs(3),
            grace: Duration::from_secs(2),
            hang_limit: Duration::from_secs(30),
            calm_for: Duration::from_millis(800),
            fault_for: Duration::from_millis(1200),
            recovery: Duration::from_secs(20),
            value_sizes: vec![32, 300, 4 * 1024, 48 * 1024],
            key_prefix: format!("soak:{:08x}:", rand::random::<u32>()),
            seed: rand::random(),
        }
    }
}

/// What a soak counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SoakReport {
    /// Operations run, by kind.
    pub sets: u64,
    /// `get` operations run.
    pub gets: u64,
    /// `refresh` operations run.
    pub refreshes: u64,
    /// `remove` operations run.
    pub removes: u64,
    /// Operations that returned an error (any kind).
    pub errors: u64,
    /// `get`s that returned a value.
    pub hits: u64,
    /// Wrong values: another key's.
    pub wrong_key: u64,
    /// Wrong values: not a whole value written by the soak.
    pub torn: u64,
    /// Wrong values: a version never written as a set of the key.
    pub phantom: u64,
    /// Wrong values: an acknowledged set older than the last acknowledged
    /// operation on the key.
    pub stale: u64,
    /// Misses where an acknowledged set must still be there.
    pub lost: u64,
    /// Indeterminate (failed) sets older than the last acknowledged
    /// operation that came back: allowed, reported.
    pub late_landings: u64,
    /// Errors that took longer than `op_timeout + grace`.
    pub slow_errors: u64,
    /// Operations abandoned at `hang_limit`.
    pub hung: u64,
    /// Keys not readable again within `recovery` after the last fault.
    pub unrecovered: u64,
    /// The slowest error seen.
    pub max_error_latency: Duration,
    /// Faults injected, by name.
    pub faults: BTreeMap<&'static str, u64>,
    /// The first few wrong values, described (for the failure message).
    pub examples: Vec<String>,
}

/// How many wrong values are described in [`SoakReport::examples`].
const MAX_EXAMPLES: usize = 8;

impl SoakReport {
    /// Every operation run.
    pub fn ops(&self) -> u64 {
        self.sets + self.gets + self.refreshes + self.removes
    }

    /// Wrong values of every kind (wrong key, torn, phantom, stale, lost).
    pub fn wrong_values(&self) -> u64 {
        self.wrong_key + self.torn + self.phantom + self.stale + self.lost
    }

    /// Errors over the bound, hung operations and unrecovered keys.
    pub fn timing_failures(&self) -> u64 {
        self.slow_errors + self.hung + self.unrecovered
    }

    /// Panics, with the report, unless nothing went wrong.
    pub fn assert_clean(&self) {
        assert!(
            self.wrong_values() == 0 && self.timing_failures() == 0,
            "the soak found problems:\n{self}"
        );
    }

    fn merge(&mut self, other: &SoakReport) {
        self.sets += other.sets;
        self.gets += other.gets;
        self.refreshes += other.refreshes;
        self.removes += other.removes;
        self.errors += other.errors;
        self.hits += other.hits;
        self.wrong_key += other.wrong_key;
        self.torn += other.torn;
        self.phantom += other.phantom;
        self.stale += other.stale;
        self.lost += other.lost;
        self.late_landings += other.late_landings;
        self.slow_errors += other.slow_errors;
        self.hung += other.hung;
        self.unrecovered += other.unrecovered;
        self.max_error_latency = self.max_error_latency.max(other.max_error_latency);
        for (name, n) in &other.faults {
            *self.faults.entry(name).or_default() += n;
        }
        for e in &other.examples {
            if self.examples.len() < MAX_EXAMPLES {
                self.examples.push(e.clone());
            }
        }
    }

    fn example(&mut self, text: impl FnOnce() -> String) {
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(text());
        }
    }
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ops {} (set {}, get {} with {} hits, refresh {}, remove {}), errors {}",
            self.ops(),
            self.sets,
            self.gets,
            self.hits,
            self.refreshes,
            self.removes,
            self.errors
        )?;
        writeln!(
            f,
            "wrong values {} (wrong key {}, torn {}, phantom {}, stale {}, lost {}); \
             late landings of failed sets {}",
            self.wrong_values(),
            self.wrong_key,
            self.torn,
            self.phantom,
            self.stale,
            self.lost,
            self.late_landings
        )?;
        writeln!(
            f,
            "slow errors {}, hung {}, unrecovered keys {}; slowest error {:?}",
            self.slow_errors, self.hung, self.unrecovered, self.max_error_latency
        )?;
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(name, n)| format!("{name} x{n}"))
            .collect();
        write!(f, "faults: {}", faults.join(", "))?;
        for e in &self.examples {
            write!(f, "\n  e.g. {e}")?;
        }
        Ok(())
    }
}

/// Runs the soak against `cache` while `chaos` breaks it, and returns the
/// counts. Never panics on the cache's behaviour: the caller decides (most
/// call [`SoakReport::assert_clean`]). Needs a multi-threaded runtime only
/// if the chaos hook blocks.
pub async fn run(
    cache: Arc<dyn DistributedCache>,
    chaos: &mut dyn Chaos,
    config: &SoakConfig,
) -> SoakReport {
    let epoch = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + config.duration;
    let mut workers = Vec::with_capacity(config.tasks);
    for task in 0..config.tasks {
        let worker = Worker::new(task, Arc::clone(&cache), config, Arc::clone(&epoch));
        workers.push(tokio::spawn(worker.run(deadline)));
    }
    let mut report = SoakReport::default();
    let faults = chaos.faults();
    let mut next = 0;
    // One fault at a time, each healed before the next; none starts that
    // could not end before the deadline.
    while !faults.is_empty()
        && Instant::now() + config.calm_for + config.fault_for < deadline
        && !workers.iter().all(|w| w.is_finished())
    {
        tokio::time::sleep(config.calm_for).await;
        let i = next % faults.len();
        next += 1;
        // A data-losing fault makes the data epoch odd before it starts and
        // even again once it is healed. A write sent while the epoch is odd
        // may be wiped at any moment until the heal (a set can land between
        // "the fault begins" and "the process dies", and a read can see the
        // wipe before `inject` returns), so such a write never makes a miss
        // a lost write; see `judge`.
        let loses_data = faults[i].loses_data;
        let new_epoch = || {
            if loses_data {
                epoch.fetch_add(1, Ordering::AcqRel);
            }
        };
        new_epoch();
        chaos.inject(i).await;
        *report.faults.entry(faults[i].name).or_default() += 1;
        tokio::time::sleep(config.fault_for).await;
        chaos.heal(i).await;
        new_epoch();
    }
    let mut finished = Vec::with_capacity(workers.len());
    for w in workers {
        match w.await {
            Ok(worker) => finished.push(worker),
            // A panicking cache: let the test see it.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("a soak task was cancelled: {e}"),
        }
    }
    for mut worker in finished {
        worker.recover().await;
        report.merge(&worker.report);
    }
    report
}

/// The outcome of one set or remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    Set { acked: bool },
    Remove { acked: bool },
}

impl Write {
    fn acked(self) -> bool {
        matches!(
            self,
            Write::Set { acked: true } | Write::Remove { acked: true }
        )
    }
}

/// What one task knows about one of its keys.
#[derive(Debug, Default)]
struct KeyHistory {
    /// Every write by version (versions start at 1).
    writes: Vec<Write>,
    /// The last acknowledged write: version and the data epoch then.
    last_acked: Option<(u64, u64)>,
}

impl KeyHistory {
    fn next_version(&self) -> u64 {
        self.writes.len() as u64 + 1
    }

    fn record(&mut self, write: Write, epoch: u64) {
        self.writes.push(write);
        if write.acked() {
            self.last_acked = Some((self.writes.len() as u64, epoch));
        }
    }

    fn write(&self, version: u64) -> Option<Write> {
        let i = usize::try_from(version.checked_sub(1)?).ok()?;
        self.writes.get(i).copied()
    }

    /// Whether any write after `version` is indeterminate.
    fn indeterminate_after(&self, version: u64) -> bool {
        self.writes
            .iter()
            .skip(usize::try_from(version).unwrap_or(usize::MAX))
            .any(|w| !w.acked())
    }
}

/// One soak task: owns its keys and their histories.
struct Worker {
    task: usize,
    cache: Arc<dyn DistributedCache>,
    keys: Vec<(String, KeyHistory)>,
    config: SoakConfig,
    epoch: Arc<AtomicU64>,
    rng: SmallRng,
    report: SoakReport,
    ops: u64,
}

/// What one `get` returned, judged.
enum Verdict {
    Fine,
    WrongKey(String),
    Torn,
    Phantom(u64),
    Stale { got: u64, acked: u64 },
    LateLanding,
    Lost { acked: u64 },
}

impl Worker {
    fn new(
        task: usize,
        cache: Arc<dyn DistributedCache>,
        config: &SoakConfig,
        epoch: Arc<AtomicU64>,
    ) -> Self {
        let keys = (0..config.keys_per_task)
            .map(|k| {
                (
                    format!("{}t{task}k{k}", config.key_prefix),
                    KeyHistory::default(),
                )
            })
            .collect();
        Worker {
            task,
            cache,
            keys,
            config: config.clone(),
            epoch,
            rng: SmallRng::seed_from_u64(config.seed ^ (task as u64).wrapping_mul(0x9E37_79B9)),
            report: SoakReport::default(),
            ops: 0,
        }
    }

    async fn run(mut self, deadline: Instant) -> Self {
        while Instant::now() < deadline && self.ops < self.config.max_ops_per_task {
            self.ops += 1;
            if self.ops.is_multiple_of(16) {
                // A cache that never waits (in memory) must not starve the
                // chaos loop or the other tasks.
                tokio::task::yield_now().await;
            }
            let k = self.rng.random_range(0..self.keys.len());
            match self.rng.random_range(0..10u8) {
                0..=2 => self.set(k).await,
                3..=7 => self.get(k).await,
                8 => self.refresh(k).await,
                _ => self.remove(k).await,
            }
        }
        self
    }

    /// Runs one operation under the hang limit; records its error timing.
    async fn timed<T>(
        &mut self,
        op: impl std::future::Future<Output = Result<T>>,
    ) -> Option<Result<T>> {
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.config.hang_limit, op).await;
        let took = started.elapsed();
        match outcome {
            Err(_) => {
                self.report.errors += 1;
                self.report.hung += 1;
                self.report.max_error_latency = self.report.max_error_latency.max(took);
                let task = self.task;
                self.report
                    .example(|| format!("task {task}: an operation hung for {took:?}"));
                None
            }
            Ok(Err(e)) => {
                self.report.errors += 1;
                self.report.max_error_latency = self.report.max_error_latency.max(took);
                if took > self.config.op_timeout + self.config.grace {
                    self.report.slow_errors += 1;
                    let task = self.task;
                    self.report
                        .example(|| format!("task {task}: an error took {took:?}: {}", e.kind()));
                }
                Some(Err(e))
            }
            Ok(Ok(v)) => Some(Ok(v)),
        }
    }

    async fn set(&mut self, k: usize) {
        self.report.sets += 1;
        let version = self.keys[k].1.next_version();
        let size = self.config.value_sizes[self.rng.random_range(0..self.config.value_sizes.len())];
        let value = encode(&self.keys[k].0, version, size);
        // Half the entries slide, so reads take the sliding path too; the
        // window is far longer than any soak.
        let options = if self.rng.random_bool(0.5) {
            EntryOptions::new().sliding(Duration::from_secs(24 * 3600))
        } else {
            EntryOptions::new()
        };
        let cache = Arc::clone(&self.cache);
        let key = self.keys[k].0.clone();
        // The data epoch when the write *started*: a restart while it is
        // in flight may wipe it even if the reply arrives.
        let epoch = self.epoch.load(Ordering::Acquire);
        let r = self.timed(cache.set(&key, value, &options)).await;
        let acked = matches!(r, Some(Ok(())));
        self.keys[k].1.record(Write::Set { acked }, epoch);
    }

    async fn remove(&mut self, k: usize) {
        self.report.removes += 1;
        let cache = Arc::clone(&self.cache);
        let key = self.keys[k].0.clone();
        let epoch = self.epoch.load(Ordering::Acquire);
        let r = self.timed(cache.remove(&key)).await;
        let acked = matches!(r, Some(Ok(())));
        self.keys[k].1.record(Write::Remove { acked }, epoch);
    }

    async fn refresh(&mut self, k: usize) {
        self.report.refreshes += 1;
        let cache = Arc::clone(&self.cache);
        let key = self.keys[k].0.clone();
        let _ = self.timed(cache.refresh(&key)).await;
    }

    async fn get(&mut self, k: usize) {
        self.report.gets += 1;
        let cache = Arc::clone(&self.cache);
        let key = self.keys[k].0.clone();
        let acked_before = self.keys[k].1.last_acked;
        let r = self.timed(cache.get(&key)).await;
        let Some(Ok(got)) = r else { return };
        if got.is_some() {
            self.report.hits += 1;
        }
        let epoch_now = self.epoch.load(Ordering::Acquire);
        let verdict = judge(
            &key,
            &self.keys[k].1,
            acked_before,
            epoch_now,
            got.as_deref(),
        );
        let task = self.task;
        match verdict {
            Verdict::Fine => {}
            Verdict::LateLanding => self.report.late_landings += 1,
            Verdict::WrongKey(other) => {
                self.report.wrong_key += 1;
                self.report
                    .example(|| format!("task {task}: get({key}) returned {other}'s value"));
            }
            Verdict::Torn => {
                self.report.torn += 1;
                self.report
                    .example(|| format!("task {task}: get({key}) returned a torn value"));
            }
            Verdict::Phantom(v) => {
                self.report.phantom += 1;
                self.report
                    .example(|| format!("task {task}: get({key}) returned version {v}, never set"));
            }
            Verdict::Stale { got, acked } => {
                self.report.stale += 1;
                self.report.example(|| {
                    format!(
                        "task {task}: get({key}) returned version {got} after version {acked} \
                         was acknowledged"
                    )
                });
            }
            Verdict::Lost { acked } => {
                self.report.lost += 1;
                self.report.example(|| {
                    format!("task {task}: get({key}) missed acknowledged set version {acked}")
                });
            }
        }
    }

    /// After the chaos: every key must answer a `get` again within the
    /// recovery time, and what it returns is judged as usual.
    async fn recover(&mut self) {
        for k in 0..self.keys.len() {
            let deadline = Instant::now() + self.config.recovery;
            loop {
                let cache = Arc::clone(&self.cache);
                let key = self.keys[k].0.clone();
                let limit = self.config.op_timeout + self.config.grace;
                match tokio::time::timeout(limit, cache.get(&key)).await {
                    Ok(Ok(_)) => {
                        self.get(k).await;
                        break;
                    }
                    _ if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    _ => {
                        self.report.unrecovered += 1;
                        let task = self.task;
                        self.report.example(|| {
                            format!("task {task}: {key} still failing after the recovery time")
                        });
                        break;
                    }
                }
            }
        }
    }
}

/// Judges what a `get` of `key` returned, given the key's writes so far and
/// the last acknowledged write when the `get` started.
fn judge(
    key: &str,
    history: &KeyHistory,
    acked_before: Option<(u64, u64)>,
    epoch_now: u64,
    got: Option<&[u8]>,
) -> Verdict {
    let Some(bytes) = got else {
        return match acked_before {
            Some((a, epoch)) if matches!(history.write(a), Some(Write::Set { .. })) => {
                // Excused: a data-losing fault began since (the epoch moved
                // on), or one was under way when the write was sent (odd).
                let sent_during_fault = !epoch.is_multiple_of(2);
                if epoch != epoch_now || sent_during_fault || history.indeterminate_after(a) {
                    Verdict::Fine
                } else {
                    Verdict::Lost { acked: a }
                }
            }
            _ => Verdict::Fine,
        };
    };
    let (owner, version) = match decode(bytes) {
        Decoded::Whole { key, version } => (key, version),
        Decoded::Torn => return Verdict::Torn,
    };
    if owner != key {
        return Verdict::WrongKey(owner);
    }
    let write = history.write(version);
    let Some(Write::Set { acked }) = write else {
        return Verdict::Phantom(version);
    };
    match acked_before {
        Some((a, _)) if version < a => {
            if acked {
                Verdict::Stale {
                    got: version,
                    acked: a,
                }
            } else {
                Verdict::LateLanding
            }
        }
        _ => Verdict::Fine,
    }
}

/// A value's header: `soak|<key>|<version>|<length>|`, then filler.
const MAGIC: &str = "soak|";

/// The value of version `version` of `key`: about `size` bytes (never less
/// than its header), self-describing and checkable.
pub fn encode(key: &str, version: u64, size: usize) -> Bytes {
    let head_len_guess = MAGIC.len() + key.len() + 2 * 20 + 3;
    let total = size.max(head_len_guess);
    let header = format!("{MAGIC}{key}|{version}|{total:020}|");
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(header.as_bytes());
    let mut state = seed(key, version);
    while out.len() < total {
        out.push(next_byte(&mut state));
    }
    Bytes::from(out)
}

/// What [`decode`] made of a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole value written by [`encode`].
    Whole {
        /// The key it was written for.
        key: String,
        /// Its version.
        version: u64,
    },
    /// Anything else: cut short, mixed, or foreign.
    Torn,
}

/// Checks a value written by [`encode`] byte for byte.
pub fn decode(bytes: &[u8]) -> Decoded {
    let Some(rest) = bytes.strip_prefix(MAGIC.as_bytes()) else {
        return Decoded::Torn;
    };
    // key | version | length | filler; the key holds no '|'.
    let mut parts = rest.splitn(4, |&b| b == b'|');
    let (Some(key), Some(version), Some(total), Some(_)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Decoded::Torn;
    };
    let parse = |b: &[u8]| std::str::from_utf8(b).ok()?.parse::<u64>().ok();
    let (Ok(key), Some(version), Some(total)) =
        (std::str::from_utf8(key), parse(version), parse(total))
    else {
        return Decoded::Torn;
    };
    if u64::try_from(bytes.len()).ok() != Some(total) || encode(key, version, 0).len() > bytes.len()
    {
        return Decoded::Torn;
    }
    let expected = encode(key, version, bytes.len());
    if expected.as_ref() != bytes {
        return Decoded::Torn;
    }
    Decoded::Whole {
        key: key.to_string(),
        version,
    }
}

/// FNV-1a of the key and version: the filler's seed.
fn seed(key: &str, version: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes().chain(version.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h | 1
}

/// xorshift64: cheap filler that differs per key and version.
fn next_byte(state: &mut u64) -> u8 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 24) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_decode_to_their_key_and_version() {
        for size in [0, 10, 100, 5000] {
            let v = encode("soak:t1k2", 7, size);
            assert!(v.len() >= size);
            assert_eq!(
                decode(&v),
                Decoded::Whole {
                    key: "soak:t1k2".into(),
                    version: 7
                }
            );
        }
    }

    #[test]
    fn any_damage_is_torn() {
        let v = encode("k", 3, 200).to_vec();
        assert_eq!(decode(&v[..v.len() - 1]), Decoded::Torn);
        let mut flipped = v.clone();
        flipped[150] ^= 1;
        assert_eq!(decode(&flipped), Decoded::Torn);
        // Another version's filler under this header.
        let other = encode("k", 4, 200);
        let mut mixed = v[..100].to_vec();
        mixed.extend_from_slice(&other[100..]);
        assert_eq!(decode(&mixed), Decoded::Torn);
        assert_eq!(decode(b""), Decoded::Torn);
        assert_eq!(decode(b"soak|k|1|"), Decoded::Torn);
    }

    fn history(writes: &[Write]) -> KeyHistory {
        let mut h = KeyHistory::default();
        for w in writes {
            h.record(*w, 0);
        }
        h
    }

    const SET_OK: Write = Write::Set { acked: true };
    const SET_FAILED: Write = Write::Set { acked: false };
    const REMOVE_OK: Write = Write::Remove { acked: true };
    const REMOVE_FAILED: Write = Write::Remove { acked: false };

    fn verdict(h: &KeyHistory, epoch_now: u64, got: Option<Bytes>) -> &'static str {
        match judge("k", h, h.last_acked, epoch_now, got.as_deref()) {
            Verdict::Fine => "fine",
            Verdict::WrongKey(_) => "wrong key",
            Verdict::Torn => "torn",
            Verdict::Phantom(_) => "phantom",
            Verdict::Stale { .. } => "stale",
            Verdict::LateLanding => "late",
            Verdict::Lost { .. } => "lost",
        }
    }

    #[test]
    fn the_verifier_applies_the_acknowledgement_rules() {
        let h = history(&[SET_OK, SET_FAILED, SET_OK]);
        assert_eq!(verdict(&h, 0, Some(encode("k", 3, 64))), "fine");
        assert_eq!(verdict(&h, 0, Some(encode("k", 1, 64))), "stale");
        assert_eq!(verdict(&h, 0, Some(encode("k", 2, 64))), "late");
        assert_eq!(verdict(&h, 0, Some(encode("k", 4, 64))), "phantom");
        assert_eq!(verdict(&h, 0, Some(encode("other", 3, 64))), "wrong key");
        assert_eq!(verdict(&h, 0, Some(Bytes::from_static(b"junk"))), "torn");
        assert_eq!(verdict(&h, 0, None), "lost");
        // A restart (new data epoch) since the acknowledgement excuses a miss.
        assert_eq!(verdict(&h, 1, None), "fine");
        // So does one under way when the write was sent (odd epoch), even
        // if the read sees the wipe before the fault's epoch moves on.
        let mut during = history(&[SET_OK]);
        during.last_acked = Some((1, 1));
        assert_eq!(verdict(&during, 1, None), "fine");
        during.last_acked = Some((1, 2));
        assert_eq!(verdict(&during, 2, None), "lost");
        // A failed set after the acknowledged one may have landed.
        let h = history(&[SET_OK, SET_FAILED]);
        assert_eq!(verdict(&h, 0, Some(encode("k", 2, 64))), "fine");
        assert_eq!(verdict(&h, 0, Some(encode("k", 1, 64))), "fine");
        // An acknowledged remove: a miss is right, the old value is stale.
        let h = history(&[SET_OK, REMOVE_OK]);
        assert_eq!(verdict(&h, 0, None), "fine");
        assert_eq!(verdict(&h, 0, Some(encode("k", 1, 64))), "stale");
        assert_eq!(verdict(&h, 0, Some(encode("k", 2, 64))), "phantom");
        // A failed remove after an acknowledged set may have landed.
        let h = history(&[SET_OK, REMOVE_FAILED]);
        assert_eq!(verdict(&h, 0, None), "fine");
        // Nothing acknowledged yet: anything the key's own sets wrote.
        let h = history(&[SET_FAILED]);
        assert_eq!(verdict(&h, 0, None), "fine");
        assert_eq!(verdict(&h, 0, Some(encode("k", 1, 64))), "fine");
    }
}
