//! `HybridCache::record_metrics` publishes the tiers' counters and the
//! local tier's size under a real (debugging) recorder.

use cache_hybrid::metrics as names;
use cache_hybrid::{HybridCache, HybridEntryOptions};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[test]
fn counters_and_local_size_are_published() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let cache = HybridCache::local_only();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let opts = HybridEntryOptions::new();
            for _ in 0..3 {
                let v = cache
                    .get_or_create("k", &opts, || async { Ok::<_, std::io::Error>(7u32) })
                    .await
                    .unwrap();
                assert_eq!(v.value, 7u32);
            }
        });
    metrics::with_local_recorder(&recorder, || cache.record_metrics("test"));
    let mut seen = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let mut labels: Vec<String> = key
            .key()
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        let v = match value {
            DebugValue::Counter(n) => n as f64,
            DebugValue::Gauge(g) => g.0,
            DebugValue::Histogram(_) => continue,
        };
        seen.push((format!("{}{{{}}}", key.key().name(), labels.join(",")), v));
    }
    let get = |key: &str| {
        seen.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{key} in {seen:?}"))
    };
    let local_hits = format!(
        "{}{{cache.name=test,cache.request.type=hit,cache.tier=local}}",
        names::REQUESTS
    );
    assert_eq!(get(&local_hits), 2.0, "{seen:?}");
    let local_misses = format!(
        "{}{{cache.name=test,cache.request.type=miss,cache.tier=local}}",
        names::REQUESTS
    );
    // The first call found nothing locally; no distributed tier, no
    // distributed miss.
    assert_eq!(get(&local_misses), 1.0, "{seen:?}");
    let distributed_misses = format!(
        "{}{{cache.name=test,cache.request.type=miss,cache.tier=distributed}}",
        names::REQUESTS
    );
    assert_eq!(get(&distributed_misses), 0.0, "{seen:?}");
    assert_eq!(
        get(&format!("{}{{cache.name=test}}", names::FACTORY_CALLS)),
        1.0
    );
    let entries = format!("{}{{cache.name=test,cache.tier=local}}", names::ENTRIES);
    assert_eq!(get(&entries), 1.0, "{seen:?}");
    let evictions = format!("{}{{cache.name=test,cache.tier=local}}", names::EVICTIONS);
    assert_eq!(get(&evictions), 0.0, "{seen:?}");
}

#[test]
fn local_evictions_are_published() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let cache = HybridCache::builder()
        .local_capacity_bytes(64 << 10)
        .build()
        .unwrap();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            for i in 0..200 {
                let opts = HybridEntryOptions::new();
                cache
                    .set_bytes(&format!("k{i}"), vec![0u8; 1024].into(), &opts)
                    .await
                    .unwrap();
            }
        });
    metrics::with_local_recorder(&recorder, || cache.record_metrics("small"));
    let evicted = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find_map(|(key, _, _, value)| match value {
            DebugValue::Counter(n) if key.key().name() == names::EVICTIONS => Some(n),
            _ => None,
        });
    // 200 entries of 1 KiB never fit in 64 KiB.
    assert!(evicted.is_some_and(|n| n >= 100), "{evicted:?}");
}
