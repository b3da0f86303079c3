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
