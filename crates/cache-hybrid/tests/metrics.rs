//! `HybridCache::record_metrics` publishes the tiers' counters and the
//! local tier's size and evictions under a real (debugging) recorder
//! (`cache_testkit::telemetry::Capture`).

use cache_hybrid::metrics as names;
use cache_hybrid::{HybridCache, HybridEntryOptions};
use cache_testkit::telemetry::Capture;

/// `name{sorted labels}` as the capture writes metric keys.
fn key(name: &str, labels: &str) -> String {
    format!("{name}{{{labels}}}")
}

#[test]
fn counters_and_local_size_are_published() {
    let capture = Capture::new();
    let cache = HybridCache::local_only();
    capture.block_on(async {
        let opts = HybridEntryOptions::new();
        for _ in 0..3 {
            let v = cache
                .get_or_create("k", &opts, || async { Ok::<_, std::io::Error>(7u32) })
                .await
                .unwrap();
            assert_eq!(v.value, 7u32);
        }
    });
    capture.run(|| cache.record_metrics("test"));
    // Gauges first: reading drains them (counters are kept by the capture).
    let gauges = capture.gauges();
    let counters = capture.counters();
    let counter = |k: &str| {
        *counters
            .get(k)
            .unwrap_or_else(|| panic!("{k} in {counters:?}"))
    };
    let tier = |t: &str, kind: &str| {
        key(
            names::REQUESTS,
            &format!("cache.name=test,cache.request.type={kind},cache.tier={t}"),
        )
    };
    assert_eq!(counter(&tier("local", "hit")), 2);
    // The first call found nothing locally; no distributed tier, no
    // distributed miss.
    assert_eq!(counter(&tier("local", "miss")), 1);
    assert_eq!(counter(&tier("distributed", "miss")), 0);
    assert_eq!(counter(&key(names::FACTORY_CALLS, "cache.name=test")), 1);
    let local = "cache.name=test,cache.tier=local";
    assert_eq!(
        gauges.get(&key(names::ENTRIES, local)),
        Some(&1.0),
        "{gauges:?}"
    );
    assert_eq!(counter(&key(names::EVICTIONS, local)), 0);
}

#[test]
fn local_evictions_are_published() {
    let capture = Capture::new();
    let cache = HybridCache::builder()
        .local_capacity_bytes(64 << 10)
        .build()
        .unwrap();
    capture.block_on(async {
        for i in 0..200 {
            let opts = HybridEntryOptions::new();
            cache
                .set_bytes(&format!("k{i}"), vec![0u8; 1024].into(), &opts)
                .await
                .unwrap();
        }
    });
    capture.run(|| cache.record_metrics("small"));
    let counters = capture.counters();
    let evicted = counters.get(&key(names::EVICTIONS, "cache.name=small,cache.tier=local"));
    // 200 entries of 1 KiB never fit in 64 KiB.
    assert!(evicted.is_some_and(|&n| n >= 100), "{counters:?}");
}
