//! `OpenOptions::instrument`: the facade wraps what it opens in
//! `Instrumented`, named after the backend it dispatched to (OpenTelemetry's
//! `db.system.name`), for memory and a real redis-server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use distcache::instrument::names;
use distcache::{
    DistributedCache, DistributedCacheExt, EntryOptions, Instrumentation, OpenOptions,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Every span opened: its name and its `db.system.name`.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, String)>>>);

struct System(String);

impl Visit for System {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == names::SYSTEM {
            self.0 = format!("{value:?}");
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == names::SYSTEM {
            self.0 = value.to_owned();
        }
    }
}

impl<S: Subscriber> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut system = System(String::new());
        attrs.record(&mut system);
        let name = attrs.metadata().name().to_owned();
        self.0.lock().unwrap().push((name, system.0));
    }
}

/// One test at a time under a scoped subscriber: tracing recomputes its
/// global max level and callsite interest whenever one comes or goes.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `cache.operations` counters recorded, by their labels.
type Counters = HashMap<Vec<(String, String)>, u64>;

/// Opens `url` instrumented, under a capturing subscriber and a debugging
/// recorder, and runs a set, a hit and a miss on it.
fn observed(url: &str) -> (Vec<(String, String)>, Counters) {
    let _turn = one_at_a_time();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(subscriber, || {
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
        })
    });
    let mut counters = Counters::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        if let DebugValue::Counter(n) = value {
            if key.key().name() == names::OPERATIONS {
                let mut labels: Vec<(String, String)> = key
                    .key()
                    .labels()
                    .map(|l| (l.key().to_owned(), l.value().to_owned()))
                    .collect();
                labels.sort();
                counters.insert(labels, n);
            }
        }
    }
    let spans = spans.0.lock().unwrap().clone();
    (spans, counters)
}

fn get_count(counters: &Counters, system: &str, outcome: &str) -> Option<u64> {
    let mut labels = vec![
        (names::SYSTEM.to_owned(), system.to_owned()),
        (names::OPERATION.to_owned(), "get".to_owned()),
        (names::OUTCOME.to_owned(), outcome.to_owned()),
    ];
    labels.sort();
    counters.get(&labels).copied()
}

fn assert_observed_as(url: &str, system: &str) {
    let (spans, counters) = observed(url);
    let ours: Vec<&(String, String)> = spans
        .iter()
        .filter(|(name, _)| name.starts_with("cache."))
        .collect();
    let names: Vec<&str> = ours.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["cache.set", "cache.get", "cache.get", "cache.remove"]
    );
    assert!(ours.iter().all(|(_, s)| s == system), "{ours:?}");
    assert_eq!(get_count(&counters, system, "hit"), Some(1), "{counters:?}");
    assert_eq!(
        get_count(&counters, system, "miss"),
        Some(1),
        "{counters:?}"
    );
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
    let (spans, counters) = {
        let _turn = one_at_a_time();
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let spans = Spans::default();
        let subscriber = tracing_subscriber::registry().with(spans.clone());
        metrics::with_local_recorder(&recorder, || {
            tracing::subscriber::with_default(subscriber, || {
                let cache = distcache::open("memory://").unwrap();
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap()
                    .block_on(async { cache.get("k").await.unwrap() });
            })
        });
        let spans = spans.0.lock().unwrap().clone();
        (spans, snapshotter.snapshot().into_vec())
    };
    assert!(
        spans.iter().all(|(n, _)| !n.starts_with("cache.")),
        "{spans:?}"
    );
    assert!(counters.is_empty(), "{counters:?}");
}
