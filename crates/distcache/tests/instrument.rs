//! `OpenOptions::instrument`: the facade wraps what it opens in
//! `Instrumented`, named after the backend it dispatched to (OpenTelemetry's
//! `db.system.name`), for memory and a real redis-server.

use cache_testkit::telemetry::{Capture, Span};
use distcache::instrument::names;
use distcache::{
    DistributedCache, DistributedCacheExt, EntryOptions, Instrumentation, OpenOptions,
};

/// Opens `url` instrumented, under a capturing subscriber and a debugging
/// recorder, and runs a set, a hit and a miss on it.
fn observed(url: &str) -> Capture {
    let capture = Capture::new();
    capture.run(|| {
        let options = OpenOptions::new()
            .instance_name("distcache-instrument:")
            .instrument(Instrumentation::new());
        let cache = distcache::open_with(url, &options).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let opts = EntryOptions::new();
                cache.set_string("k", "v", &opts).await.unwrap();
                assert_eq!(cache.get_string("k").await.unwrap().as_deref(), Some("v"));
                assert_eq!(cache.get_string("absent").await.unwrap(), None);
                cache.remove("k").await.unwrap();
            });
    });
    capture
}

/// The `cache.operations` count of gets of `system` with `outcome`.
fn get_count(capture: &Capture, system: &str, outcome: &str) -> Option<u64> {
    let mut labels = [
        format!("{}={system}", names::SYSTEM),
        format!("{}=get", names::OPERATION),
        format!("{}={outcome}", names::OUTCOME),
    ];
    labels.sort();
    let key = format!("{}{{{}}}", names::OPERATIONS, labels.join(","));
    capture.counters().get(&key).copied()
}

/// The spans of our operations (`cache.*`).
fn ours(capture: &Capture) -> Vec<Span> {
    let mut spans = capture.spans();
    spans.retain(|s| s.name.starts_with("cache."));
    spans
}

fn assert_observed_as(url: &str, system: &str) {
    let capture = observed(url);
    let ours = ours(&capture);
    let opened: Vec<&str> = ours.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        opened,
        ["cache.set", "cache.get", "cache.get", "cache.remove"]
    );
    assert!(
        ours.iter()
            .all(|s| s.fields.get(names::SYSTEM).map(String::as_str) == Some(system)),
        "{ours:?}"
    );
    let counters = capture.counters();
    assert_eq!(get_count(&capture, system, "hit"), Some(1), "{counters:?}");
    assert_eq!(get_count(&capture, system, "miss"), Some(1), "{counters:?}");
}

#[test]
fn memory_is_traced_and_measured_as_memory() {
    assert_observed_as("memory://", "memory");
}

#[cfg(feature = "redis")]
#[test]
fn a_real_redis_is_traced_and_measured_as_redis() {
    let server = cache_testkit::redis_server::RedisServer::shared();
    assert_observed_as(&server.url(), "redis");
}

#[test]
fn off_by_default() {
    let capture = Capture::new();
    capture.run(|| {
        let cache = distcache::open("memory://").unwrap();
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(async { cache.get("k").await.unwrap() });
    });
    let ours = ours(&capture);
    assert!(ours.is_empty(), "{ours:?}");
    let recorded = capture.recorded();
    assert!(recorded.is_empty(), "{recorded:?}");
}
