//! The soak bites: its verifier, run against deliberately broken caches,
//! counts each kind of wrong value and each slow error, and counts nothing
//! against an honest cache. (A soak that can't fail is no evidence.)

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cache_abstractions::{Capabilities, DistributedCache, EntryOptions, Error, ErrorKind, Result};
use cache_testkit::soak::{self, Chaos, Fault, NoChaos, SoakConfig, SoakReport};

/// How a [`BrokenCache`] misbehaves (every `EVERY`-th call of the kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    /// None: an honest in-memory map.
    Honest,
    /// A get returns the value last written under another key.
    OtherKeysValue,
    /// A get returns the value cut short.
    TornValue,
    /// A set is acknowledged but keeps the previous value.
    KeepsOldVersion,
    /// A set is acknowledged but nothing is stored.
    DropsWrites,
    /// A remove is acknowledged but the value stays.
    IgnoresRemove,
    /// An error arrives long after the configured timeout.
    SlowErrors,
}

const EVERY: u64 = 7;
/// How long [`Bug::SlowErrors`] takes to fail: over `op_timeout + grace`.
const SLOW: Duration = Duration::from_millis(250);

/// A map-backed cache with one deliberate bug.
struct BrokenCache {
    bug: Bug,
    map: Mutex<HashMap<String, Bytes>>,
    /// The last value set under any key, for [`Bug::OtherKeysValue`].
    last: Mutex<Option<(String, Bytes)>>,
    calls: AtomicU64,
}

impl fmt::Debug for BrokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokenCache")
            .field("bug", &self.bug)
            .finish()
    }
}

impl BrokenCache {
    fn new(bug: Bug) -> Arc<BrokenCache> {
        Arc::new(BrokenCache {
            bug,
            map: Mutex::new(HashMap::new()),
            last: Mutex::new(None),
            calls: AtomicU64::new(0),
        })
    }

    /// Whether this call is one that misbehaves.
    fn strikes(&self, bug: Bug) -> bool {
        self.bug == bug && self.calls.fetch_add(1, Ordering::Relaxed) % EVERY == EVERY - 1
    }
}

#[async_trait]
impl DistributedCache for BrokenCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        if self.strikes(Bug::SlowErrors) {
            tokio::time::sleep(SLOW).await;
            return Err(Error::new(ErrorKind::Timeout, "late"));
        }
        let value = self.map.lock().unwrap().get(key).cloned();
        if self.strikes(Bug::OtherKeysValue) {
            let last = self.last.lock().unwrap().clone();
            if let Some((_, v)) = last.filter(|(k, _)| k != key) {
                return Ok(Some(v));
            }
        }
        if let Some(v) = &value {
            if v.len() > 1 && self.strikes(Bug::TornValue) {
                return Ok(Some(v.slice(..v.len() - 1)));
            }
        }
        Ok(value)
    }

    async fn set(&self, key: &str, value: Bytes, _options: &EntryOptions) -> Result<()> {
        if self.strikes(Bug::KeepsOldVersion) && self.map.lock().unwrap().contains_key(key) {
            return Ok(());
        }
        if self.strikes(Bug::DropsWrites) {
            self.map.lock().unwrap().remove(key);
            return Ok(());
        }
        *self.last.lock().unwrap() = Some((key.to_string(), value.clone()));
        self.map.lock().unwrap().insert(key.to_string(), value);
        Ok(())
    }

    async fn refresh(&self, _key: &str) -> Result<()> {
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<()> {
        if !self.strikes(Bug::IgnoresRemove) {
            self.map.lock().unwrap().remove(key);
        }
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
}

fn config() -> SoakConfig {
    let mut c = SoakConfig::short(Duration::from_secs(10));
    c.tasks = 4;
    c.keys_per_task = 3;
    c.max_ops_per_task = 3_000;
    c.op_timeout = Duration::from_millis(100);
    c.grace = Duration::from_millis(100);
    c.value_sizes = vec![64, 1000];
    c
}

async fn soak_with(bug: Bug) -> SoakReport {
    let mut config = config();
    if bug == Bug::SlowErrors {
        // Each slow error costs a quarter second: fewer operations.
        config.max_ops_per_task = 100;
    }
    let report = soak::run(BrokenCache::new(bug), &mut NoChaos, &config).await;
    eprintln!("{bug:?}:\n{report}");
    report
}

#[tokio::test]
async fn an_honest_cache_counts_nothing() {
    let r = soak_with(Bug::Honest).await;
    assert_eq!(r.wrong_values(), 0, "{r}");
    assert_eq!(r.timing_failures(), 0, "{r}");
    assert_eq!(r.errors, 0, "{r}");
    // Every planned operation, plus one recovery read per key.
    assert!(r.hits > 0 && r.ops() == 4 * 3_000 + 4 * 3, "{r}");
}

#[tokio::test]
async fn another_keys_value_is_counted() {
    let r = soak_with(Bug::OtherKeysValue).await;
    assert!(r.wrong_key > 0, "{r}");
}

#[tokio::test]
async fn a_torn_value_is_counted() {
    let r = soak_with(Bug::TornValue).await;
    assert!(r.torn > 0, "{r}");
    assert_eq!(r.wrong_key + r.stale + r.lost + r.phantom, 0, "{r}");
}

#[tokio::test]
async fn an_old_version_after_a_newer_acknowledged_one_is_counted() {
    let r = soak_with(Bug::KeepsOldVersion).await;
    assert!(r.stale > 0, "{r}");
    assert_eq!(r.wrong_key + r.torn + r.phantom, 0, "{r}");
}

#[tokio::test]
async fn a_dropped_acknowledged_write_is_counted() {
    let r = soak_with(Bug::DropsWrites).await;
    assert!(r.lost > 0, "{r}");
}

#[tokio::test]
async fn a_value_back_after_an_acknowledged_remove_is_counted() {
    let r = soak_with(Bug::IgnoresRemove).await;
    assert!(r.stale > 0, "{r}");
}

#[tokio::test]
async fn an_error_slower_than_the_timeout_is_counted() {
    let r = soak_with(Bug::SlowErrors).await;
    assert!(r.slow_errors > 0, "{r}");
    assert!(r.max_error_latency >= SLOW, "{r}");
    assert_eq!(r.wrong_values(), 0, "{r}");
}

/// A fault that loses data excuses a miss after it; the same miss with no
/// such fault is a lost write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_losing_fault_excuses_misses_and_nothing_else_does() {
    /// Wipes the map at every injection, a moment after it begins.
    struct Wipe(Arc<BrokenCache>, bool);

    #[async_trait]
    impl Chaos for Wipe {
        fn faults(&self) -> Vec<Fault> {
            vec![Fault {
                name: "wipe",
                loses_data: self.1,
            }]
        }
        async fn inject(&mut self, _fault: usize) {
            // The store dies a moment after the fault begins, as a killed
            // server does: writes in between are acknowledged, then lost.
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.0.map.lock().unwrap().clear();
        }
        async fn heal(&mut self, _fault: usize) {}
    }

    let mut c = config();
    c.max_ops_per_task = u64::MAX;
    // Several wipes, so a busy machine still sees some.
    c.duration = Duration::from_secs(3);
    c.calm_for = Duration::from_millis(150);
    c.fault_for = Duration::from_millis(50);
    for declared in [true, false] {
        let cache = BrokenCache::new(Bug::Honest);
        let mut chaos = Wipe(Arc::clone(&cache), declared);
        let r = soak::run(cache, &mut chaos, &c).await;
        eprintln!("wipe declared as losing data: {declared}\n{r}");
        assert!(r.faults.get("wipe").is_some_and(|n| *n > 0), "{r}");
        if declared {
            assert_eq!(r.wrong_values(), 0, "{r}");
        } else {
            assert!(r.lost > 0, "{r}");
        }
    }
}
