//! The pool's gauges (`db.client.connection.*`, feature `metrics`) against
//! the PostgreSQL server on this machine (`CACHE_TEST_POSTGRES`), in a
//! schema of its own, under a real (debugging) recorder.

#[allow(dead_code)]
#[path = "server/common.rs"]
mod common;

use std::collections::HashMap;

use cache_abstractions::instrument::names;
use cache_abstractions::{DistributedCache, EntryOptions};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// The tests here run one at a time: the count of operations waiting for a
/// connection is one per process (`pending_requests` is labelled by backend
/// only), so a test's refused connect or sweep would show up in another's
/// gauge.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every gauge recorded, by name and sorted labels.
fn gauges(recorder: &DebuggingRecorder) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
        if let DebugValue::Gauge(v) = value {
            let mut labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            out.insert(format!("{}{{{}}}", key.key().name(), labels.join(",")), v.0);
        }
    }
    out
}

#[test]
fn pool_gauges_follow_checkouts() {
    let _serial = serial();
    let recorder = DebuggingRecorder::new();
    // One thread: the local recorder is this thread's, and the cache's
    // futures run on it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let schema = rt.block_on(common::Schema::new("telemetry"));
    let table = rt.block_on(schema.create_table("cache"));
    metrics::with_local_recorder(&recorder, || {
        let cache = common::builder(&table).pool_size(3).build().unwrap();
        rt.block_on(async {
            cache
                .set("k", "v".into(), &EntryOptions::new())
                .await
                .unwrap();
            assert!(cache.get("k").await.unwrap().is_some());
        });
    });
    let seen = gauges(&recorder);
    let system = format!("{}=postgresql", names::SYSTEM);
    let gauge = |name: &str, extra: Option<&str>| {
        let mut labels = vec![system.clone()];
        labels.extend(extra.map(str::to_owned));
        labels.sort();
        let key = format!("{name}{{{}}}", labels.join(","));
        *seen
            .get(&key)
            .unwrap_or_else(|| panic!("{key} in {seen:?}"))
    };
    assert_eq!(gauge(names::CONNECTION_MAX, None), 3.0);
    // The get checked out the one connection the set opened: in use then.
    let used = gauge(
        names::CONNECTION_COUNT,
        Some("db.client.connection.state=used"),
    );
    let idle = gauge(
        names::CONNECTION_COUNT,
        Some("db.client.connection.state=idle"),
    );
    assert_eq!(used, 1.0, "{seen:?}");
    assert!((0.0..=2.0).contains(&idle), "{seen:?}");
    assert_eq!(gauge(names::CONNECTION_PENDING, None), 0.0);
    drop(rt);
}

/// The message of every event.
#[derive(Clone, Default)]
struct Events(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Events {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0.lock().unwrap().push(m.0);
    }
}

#[test]
fn a_failed_connect_is_an_event() {
    let _serial = serial();
    use tracing_subscriber::layer::SubscriberExt;
    let events = Events::default();
    let subscriber = tracing_subscriber::registry().with(events.clone());
    tracing::subscriber::with_default(subscriber, || {
        // Nobody listens on port 1: the connect is refused at once.
        let cache = cache_postgres::PostgresCache::builder()
            .connection_string("postgres://postgres@127.0.0.1:1/test")
            .table("cache")
            .build()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { cache.get("k").await.unwrap_err() });
    });
    let seen = events.0.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|m| m == "cache-postgres: no pooled connection"),
        "{seen:?}"
    );
}

/// Adds what the counters counted since the last snapshot (a snapshot of
/// the debugging recorder drains its counters) to `out`, by name and sorted
/// labels.
fn counters(recorder: &DebuggingRecorder, out: &mut HashMap<String, u64>) {
    for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
        if let DebugValue::Counter(v) = value {
            let mut labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            *out.entry(format!("{}{{{}}}", key.key().name(), labels.join(",")))
                .or_default() += v;
        }
    }
}

#[test]
fn a_background_sweep_is_counted() {
    let _serial = serial();
    use std::sync::Arc;
    use std::time::Duration;

    let recorder = DebuggingRecorder::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let schema = rt.block_on(common::Schema::new("telemetry_sweep"));
    let table = rt.block_on(schema.create_table("cache"));
    let clock = cache_abstractions::ManualClock::starting_now();
    let runs = "cache.sweep.runs{db.system.name=postgresql,outcome=deleted}";
    let deleted = "cache.sweep.deleted_rows{db.system.name=postgresql}";
    let mut seen = HashMap::new();
    metrics::with_local_recorder(&recorder, || {
        let cache = common::builder(&table)
            .clock(Arc::new(clock.clone()))
            .background_sweep(true)
            .expired_items_deletion_interval(Duration::from_secs(300))
            .build()
            .unwrap();
        rt.block_on(async {
            let soon = EntryOptions::new().expires_in(Duration::from_secs(60));
            for i in 0..3 {
                cache
                    .set(&format!("old{i}"), "x".into(), &soon)
                    .await
                    .unwrap();
            }
            clock.advance(Duration::from_secs(6 * 60));
            // Starts the due sweep on this runtime; it runs while we wait.
            cache.get("absent").await.unwrap();
            for _ in 0..100 {
                counters(&recorder, &mut seen);
                if seen.get(runs).is_some_and(|n| *n > 0) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    });
    counters(&recorder, &mut seen);
    assert_eq!(seen.get(runs), Some(&1), "{seen:?}");
    assert_eq!(seen.get(deleted), Some(&3), "{seen:?}");
    drop(rt);
}
