//! With no server (a refused port): a failed checkout is a `tracing` event,
//! and the pool's gauges (`db.client.connection.*`, feature `metrics`) say
//! what the pool holds: nothing open, nothing waiting, its maximum.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_abstractions::instrument::names;
use cache_abstractions::DistributedCache;
use cache_sqlserver::SqlServerCache;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tracing_subscriber::layer::SubscriberExt;

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

#[test]
fn a_refused_connect_is_an_event_and_the_gauges_show_an_empty_pool() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let recorder = DebuggingRecorder::new();
    let events = Events::default();
    let subscriber = tracing_subscriber::registry().with(events.clone());
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(subscriber, || {
            let cache = SqlServerCache::builder()
                .connection_string(&format!(
                    "Server=tcp:127.0.0.1,{port};Database=d;User Id=sa;Password=Hunter2!;TrustServerCertificate=true"
                ))
                .schema("dbo")
                .table("Cache")
                .pool_size(5)
                .connect_timeout(Duration::from_secs(2))
                .build()
                .unwrap();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async { cache.get("k").await.unwrap_err() });
        })
    });
    let events = events.0.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|m| m == "cache-sqlserver: no pooled connection"),
        "{events:?}"
    );
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
    let gauge = |key: String| {
        gauges
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{key} in {gauges:?}"))
    };
    let system = format!("{}=microsoft.sql_server", names::SYSTEM);
    assert_eq!(gauge(format!("{}{{{system}}}", names::CONNECTION_MAX)), 5.0);
    for state in ["idle", "used"] {
        let key = format!(
            "{}{{{}={state},{system}}}",
            names::CONNECTION_COUNT,
            names::CONNECTION_STATE
        );
        assert_eq!(gauge(key), 0.0, "{gauges:?}");
    }
    assert_eq!(
        gauge(format!("{}{{{system}}}", names::CONNECTION_PENDING)),
        0.0
    );
}
