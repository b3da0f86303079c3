//! `Instrumented::sample_latency` and the default sampling: every operation
//! counted, about 1 in n timed, under a real (debugging) recorder and no
//! tracing subscriber.

use cache_abstractions::instrument::names;
use cache_abstractions::{
    async_trait, Bytes, Capabilities, DistributedCache, EntryInfo, EntryOptions, Instrumentation,
    Result,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// Always empty.
#[derive(Debug)]
struct Empty;

#[async_trait]
impl DistributedCache for Empty {
    async fn get(&self, _: &str) -> Result<Option<Bytes>> {
        Ok(None)
    }
    async fn set(&self, _: &str, _: Bytes, _: &EntryOptions) -> Result<()> {
        Ok(())
    }
    async fn refresh(&self, _: &str) -> Result<()> {
        Ok(())
    }
    async fn remove(&self, _: &str) -> Result<()> {
        Ok(())
    }
    async fn inspect(&self, _: &str) -> Result<Option<EntryInfo>> {
        Ok(None)
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
}

/// Always empty, and says so without waiting, as an in-process cache does.
#[derive(Debug)]
struct EmptyNow;

#[async_trait]
impl DistributedCache for EmptyNow {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        Empty.get(key).await
    }
    fn get_now(&self, _: &str) -> Option<Result<Option<Bytes>>> {
        Some(Ok(None))
    }
    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        Empty.set(key, value, options).await
    }
    async fn refresh(&self, key: &str) -> Result<()> {
        Empty.refresh(key).await
    }
    async fn remove(&self, key: &str) -> Result<()> {
        Empty.remove(key).await
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
}

/// (misses counted, durations recorded) after `gets` gets sampled 1 in `one_in`.
fn run(one_in: u32, gets: usize) -> (u64, usize) {
    run_on(Empty, Some(one_in), gets)
}

/// The same on `cache`, with `one_in` `None` for the default sampling.
fn run_on(cache: impl DistributedCache, one_in: Option<u32>, gets: usize) -> (u64, usize) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let mut how = Instrumentation::new();
        how.latency_sample = one_in;
        let cache = how.apply(cache, "empty");
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async {
                for _ in 0..gets {
                    cache.get("k").await.unwrap();
                }
            });
    });
    let (mut misses, mut timed) = (0, 0);
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let get = key
            .key()
            .labels()
            .any(|l| l.key() == names::OPERATION && l.value() == "get");
        match value {
            DebugValue::Counter(n)
                if get
                    && key.key().name() == names::OPERATIONS
                    && key.key().labels().any(|l| l.value() == "miss") =>
            {
                misses = n;
            }
            DebugValue::Histogram(samples) if get => timed += samples.len(),
            _ => {}
        }
    }
    (misses, timed)
}

#[test]
fn every_operation_is_counted_and_about_one_in_n_timed() {
    let (misses, timed) = run(4, 400);
    assert_eq!(misses, 400, "every operation is counted");
    // About 100; 0 or 400 would mean sampling is off or broken.
    assert!((20..=250).contains(&timed), "{timed} of 400 timed");
}

#[test]
fn one_in_one_times_every_operation() {
    assert_eq!(run(1, 50), (50, 50));
    assert_eq!(run(0, 50), (50, 50));
}

#[test]
fn by_default_answered_gets_are_timed_one_in_64_and_waiting_ones_always() {
    let (misses, timed) = run_on(EmptyNow, None, 6400);
    assert_eq!(misses, 6400, "every answered get is counted");
    // About 100; 6400 would mean every one was timed.
    assert!((30..=250).contains(&timed), "{timed} of 6400 timed");
    assert_eq!(run_on(Empty, None, 200), (200, 200));
}

#[test]
fn an_explicit_rate_applies_to_answered_gets_too() {
    assert_eq!(run_on(EmptyNow, Some(1), 200), (200, 200));
    let (misses, timed) = run_on(EmptyNow, Some(4), 400);
    assert_eq!(misses, 400);
    assert!((20..=250).contains(&timed), "{timed} of 400 timed");
}
