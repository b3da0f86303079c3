//! The pool's gauges (`db.client.connection.*`, feature `metrics`) and its
//! events, against a throwaway redis-server, under a real (debugging)
//! recorder and a capturing subscriber.

use std::sync::{Arc, Mutex};

use cache_abstractions::instrument::names;
use cache_abstractions::{DistributedCache, EntryOptions};
use cache_redis::RedisCache;
use cache_testkit::redis_server::RedisServer;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tracing_subscriber::layer::SubscriberExt;

/// The tests here run one at a time: the count of operations waiting for a
/// connection is one per process (`pending_requests` is labelled by backend
/// only), so one test's refused connect would show up in another's gauge.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The message of every event.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

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

/// Runs `work` on one thread under both; the events and the gauges
/// (`name{sorted labels}` → value).
fn observed(work: impl std::future::Future<Output = ()>) -> (Vec<String>, Vec<(String, f64)>) {
    let recorder = DebuggingRecorder::new();
    let events = Events::default();
    let subscriber = tracing_subscriber::registry().with(events.clone());
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(subscriber, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(work)
        })
    });
    let mut gauges = Vec::new();
    for (key, _, _, value) in recorder.snapshotter().snapshot().into_vec() {
        if let DebugValue::Gauge(v) = value {
            let mut labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            gauges.push((format!("{}{{{}}}", key.key().name(), labels.join(",")), v.0));
        }
    }
    let events = events.0.lock().unwrap().clone();
    (events, gauges)
}

#[test]
fn pool_gauges_and_the_connect_event() {
    let _serial = serial();
    let server = RedisServer::shared();
    let (events, gauges) = observed(async {
        let cache = RedisCache::builder()
            .url(&server.url())
            .pool_size(4)
            .build()
            .unwrap();
        cache
            .set("telemetry:k", "v".into(), &EntryOptions::new())
            .await
            .unwrap();
        cache.remove("telemetry:k").await.unwrap();
    });
    let gauge = |key: String| {
        gauges
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{key} in {gauges:?}"))
    };
    let system = format!("{}=redis", names::SYSTEM);
    assert_eq!(gauge(format!("{}{{{system}}}", names::CONNECTION_MAX)), 4.0);
    let used = format!(
        "{}{{{}=used,{system}}}",
        names::CONNECTION_COUNT,
        names::CONNECTION_STATE
    );
    assert!(gauge(used) >= 1.0, "{gauges:?}");
    assert_eq!(
        gauge(format!("{}{{{system}}}", names::CONNECTION_PENDING)),
        0.0
    );
    assert!(
        events.iter().any(|m| m == "cache-redis: connected"),
        "{events:?}"
    );
}

#[test]
fn a_failed_connect_is_an_event() {
    let _serial = serial();
    let (events, _) = observed(async {
        // Nobody listens on port 1: the connect is refused at once.
        let cache = RedisCache::builder()
            .url("redis://127.0.0.1:1")
            .build()
            .unwrap();
        cache.get("k").await.unwrap_err();
    });
    assert!(
        events
            .iter()
            .any(|m| m == "cache-redis: no pooled connection"),
        "{events:?}"
    );
}
