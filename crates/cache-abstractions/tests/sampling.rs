//! `Instrumented::sample_latency`: every operation counted, about 1 in n
//! timed, under a real (debugging) recorder and no tracing subscriber.

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

/// (misses counted, durations recorded) after `gets` gets sampled 1 in `one_in`.
fn run(one_in: u32, gets: usize) -> (u64, usize) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let cache = Instrumentation::new()
            .sample_latency(one_in)
            .apply(Empty, "empty");
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
