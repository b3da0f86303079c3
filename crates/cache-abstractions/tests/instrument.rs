//! `Instrumented` under a real tracing subscriber and a real metrics
//! recorder: one span per operation with its outcome, counters and
//! histograms by backend, operation and outcome, and never a value.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cache_abstractions::instrument::names as metric_names;
use cache_abstractions::{
    async_trait, Bytes, Capabilities, DistributedCache, EntryInfo, EntryOptions, Error, ErrorKind,
    InstrumentExt, Instrumentation, KeyPolicy, Result,
};
use metrics::{SharedString, Unit};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A toy cache: a map; the key "down" fails with a timeout, and a get logs
/// an event (as a backend logs a reconnect).
#[derive(Debug, Default)]
struct Toy(Mutex<HashMap<String, Bytes>>);

fn down(key: &str) -> Result<()> {
    if key == "down" {
        Err(Error::new(ErrorKind::Timeout, "the toy is down"))
    } else {
        Ok(())
    }
}

#[async_trait]
impl DistributedCache for Toy {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        down(key)?;
        tracing::info!("toy backend looked up a key");
        Ok(self.0.lock().unwrap().get(key).cloned())
    }
    async fn set(&self, key: &str, value: Bytes, _: &EntryOptions) -> Result<()> {
        down(key)?;
        self.0.lock().unwrap().insert(key.into(), value);
        Ok(())
    }
    async fn refresh(&self, key: &str) -> Result<()> {
        down(key)
    }
    async fn remove(&self, key: &str) -> Result<()> {
        down(key)?;
        self.0.lock().unwrap().remove(key);
        Ok(())
    }
    async fn inspect(&self, key: &str) -> Result<Option<EntryInfo>> {
        down(key)?;
        let map = self.0.lock().unwrap();
        Ok(map
            .get(key)
            .map(|v| EntryInfo::new(v.len(), None, None, None)))
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
}

/// The toy answering gets without waiting, as an in-process cache does
/// ([`DistributedCache::get_now`]); counts the gets that went the waiting way.
#[derive(Debug, Default)]
struct Quick {
    toy: Toy,
    waited: AtomicUsize,
}

#[async_trait]
impl DistributedCache for Quick {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.waited.fetch_add(1, Ordering::Relaxed);
        self.toy.get(key).await
    }
    fn get_now(&self, key: &str) -> Option<Result<Option<Bytes>>> {
        Some(down(key).map(|()| self.toy.0.lock().unwrap().get(key).cloned()))
    }
    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        self.toy.set(key, value, options).await
    }
    async fn refresh(&self, key: &str) -> Result<()> {
        self.toy.refresh(key).await
    }
    async fn remove(&self, key: &str) -> Result<()> {
        self.toy.remove(key).await
    }
    fn capabilities(&self) -> Capabilities {
        self.toy.capabilities()
    }
}

/// A closed span: its name and every field recorded on it, as text.
#[derive(Clone, Debug, Default)]
struct SpanRecord {
    name: String,
    fields: HashMap<String, String>,
    events: Vec<String>,
}

#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<SpanRecord>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut record = SpanRecord {
            name: attrs.metadata().name().into(),
            ..SpanRecord::default()
        };
        attrs.record(&mut Fields(&mut record.fields));
        ctx.span(id).unwrap().extensions_mut().insert(record);
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut ext = span.extensions_mut();
        let record = ext.get_mut::<SpanRecord>().unwrap();
        values.record(&mut Fields(&mut record.fields));
    }
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.event_span(event) {
            let mut fields = HashMap::new();
            event.record(&mut Fields(&mut fields));
            let mut ext = span.extensions_mut();
            if let Some(record) = ext.get_mut::<SpanRecord>() {
                record
                    .events
                    .push(fields.remove("message").unwrap_or_default());
            }
        }
    }
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        let record = span.extensions_mut().remove::<SpanRecord>().unwrap();
        self.0.lock().unwrap().push(record);
    }
}

fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// Serializes the tests that install a scoped subscriber or look at what
/// was recorded without one: a callsite's interest is global, so while one
/// thread's subscriber is installed another thread's spans are built too
/// (then `Instrumented` takes its traced path and times every operation).
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `work` under a subscriber that keeps every closed span.
///
/// One at a time: tracing recomputes its global max level and callsite
/// interest whenever a scoped subscriber comes or goes, and two tests doing
/// that at once on different threads can see each other's half-done update.
fn traced(work: impl std::future::Future<Output = ()>) -> Vec<SpanRecord> {
    let _turn = one_at_a_time();
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    tracing::subscriber::with_default(subscriber, || block_on(work));
    let out = spans.0.lock().unwrap().clone();
    out
}

/// Each span's name and `cache.outcome`, in order.
fn outcomes(spans: &[SpanRecord]) -> Vec<(&str, Option<&str>)> {
    spans
        .iter()
        .map(|s| (s.name.as_str(), field(s, "cache.outcome")))
        .collect()
}

fn field<'a>(span: &'a SpanRecord, name: &str) -> Option<&'a str> {
    span.fields.get(name).map(String::as_str)
}

#[test]
fn one_span_per_operation_with_backend_outcome_and_duration() {
    let spans = traced(async {
        let cache = Toy::default().instrumented("toy");
        let value = Bytes::from_static(b"secret value");
        cache.set("k", value, &EntryOptions::new()).await.unwrap();
        assert!(cache.get("k").await.unwrap().is_some());
        assert!(cache.get("absent").await.unwrap().is_none());
        cache.refresh("k").await.unwrap();
        assert!(cache.inspect("k").await.unwrap().is_some());
        cache.remove("k").await.unwrap();
        cache.ping().await.unwrap();
        let err = cache.get("down").await.unwrap_err();
        assert!(err.is_retryable());
    });
    let seen = outcomes(&spans);
    assert_eq!(
        seen,
        [
            ("cache.set", Some("ok")),
            ("cache.get", Some("hit")),
            ("cache.get", Some("miss")),
            ("cache.refresh", Some("ok")),
            ("cache.inspect", Some("hit")),
            ("cache.remove", Some("ok")),
            ("cache.ping", Some("ok")),
            ("cache.get", Some("error")),
        ]
    );
    for span in &spans {
        assert_eq!(field(span, "db.system.name"), Some("toy"), "{span:?}");
        let op = span.name.strip_prefix("cache.").unwrap();
        assert_eq!(field(span, "db.operation.name"), Some(op));
        assert_eq!(field(span, "otel.kind"), Some("client"));
        let ms: f64 = field(span, "cache.duration_ms").unwrap().parse().unwrap();
        assert!(ms >= 0.0, "{span:?}");
        // Keys are left out by default; values always are.
        assert_eq!(field(span, "cache.key"), None, "{span:?}");
        assert!(!format!("{span:?}").contains("secret"), "{span:?}");
    }
    let failed = spans.last().unwrap();
    assert_eq!(field(failed, "error.type"), Some("timeout"));
    assert_eq!(field(failed, "otel.status_code"), Some("ERROR"));
    assert_eq!(field(&spans[1], "error.type"), None);
    // The backend's own event lands inside the operation's span.
    assert_eq!(spans[1].events, ["toy backend looked up a key"]);
}

#[test]
fn keys_appear_only_hashed_or_truncated_when_asked() {
    let spans = traced(async {
        let hashed = Toy::default().instrumented("toy").keys(KeyPolicy::Hashed);
        hashed.get("user:alice@example.com").await.unwrap();
        hashed.get("user:alice@example.com").await.unwrap();
        hashed.get("user:bob@example.com").await.unwrap();
        let truncated = Toy::default()
            .instrumented("toy")
            .keys(KeyPolicy::Truncated(5));
        truncated.get("user:alice@example.com").await.unwrap();
        truncated.get("ünï").await.unwrap();
    });
    let keys: Vec<&str> = spans
        .iter()
        .map(|s| field(s, "cache.key").unwrap())
        .collect();
    assert_eq!(keys[0], keys[1], "equal keys, equal hashes");
    assert_ne!(keys[0], keys[2]);
    assert!(keys[0].len() == 16 && keys[0].chars().all(|c| c.is_ascii_hexdigit()));
    assert!(!keys[0].contains("alice"));
    assert_eq!(keys[3], "user:…");
    assert_eq!(keys[4], "ünï", "a key within the limit is shown whole");
}

/// Runs `work` with a debugging recorder installed; what it recorded.
fn measured(work: impl std::future::Future<Output = ()>) -> Snapshot {
    let _turn = one_at_a_time();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || block_on(work));
    snapshotter.snapshot().into_vec()
}

type Snapshot = Vec<(CompositeKey, Option<Unit>, Option<SharedString>, DebugValue)>;

fn labels(key: &CompositeKey) -> Vec<(String, String)> {
    let mut out: Vec<_> = key
        .key()
        .labels()
        .map(|l| (l.key().to_string(), l.value().to_string()))
        .collect();
    out.sort();
    out
}

fn counter(snapshot: &Snapshot, wanted: &[(&str, &str)]) -> Option<u64> {
    let mut wanted: Vec<(String, String)> = wanted
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    wanted.sort();
    snapshot.iter().find_map(|(key, _, _, value)| match value {
        DebugValue::Counter(n)
            if key.kind() == MetricKind::Counter
                && key.key().name() == metric_names::OPERATIONS
                && labels(key) == wanted =>
        {
            Some(*n)
        }
        _ => None,
    })
}

fn histogram_len(snapshot: &Snapshot, op: &str, error: Option<&str>) -> usize {
    snapshot
        .iter()
        .filter(|(key, unit, _, _)| {
            key.key().name() == metric_names::OPERATION_DURATION
                && *unit == Some(Unit::Seconds)
                && labels(key).contains(&("db.operation.name".into(), op.into()))
                && labels(key)
                    .iter()
                    .find(|(k, _)| k == "error.type")
                    .map(|(_, v)| v.as_str())
                    == error
        })
        .map(|(_, _, _, value)| match value {
            DebugValue::Histogram(samples) => samples.len(),
            _ => 0,
        })
        .sum()
}

#[test]
fn counters_and_histograms_by_backend_operation_and_outcome() {
    let snapshot = measured(async {
        let cache = Toy::default().instrumented("toy");
        let opts = EntryOptions::new();
        cache
            .set("k", Bytes::from_static(b"v"), &opts)
            .await
            .unwrap();
        cache.get("k").await.unwrap();
        cache.get("k").await.unwrap();
        cache.get("absent").await.unwrap();
        cache.remove("k").await.unwrap();
        cache.refresh("down").await.unwrap_err();
    });
    let ops = |op, outcome| {
        counter(
            &snapshot,
            &[
                ("db.system.name", "toy"),
                ("db.operation.name", op),
                ("cache.outcome", outcome),
            ],
        )
    };
    assert_eq!(ops("get", "hit"), Some(2));
    assert_eq!(ops("get", "miss"), Some(1));
    assert_eq!(ops("set", "ok"), Some(1));
    assert_eq!(ops("remove", "ok"), Some(1));
    assert_eq!(ops("refresh", "ok"), Some(0));
    let errors = counter(
        &snapshot,
        &[
            ("db.system.name", "toy"),
            ("db.operation.name", "refresh"),
            ("cache.outcome", "error"),
            ("error.type", "timeout"),
        ],
    );
    assert_eq!(errors, Some(1));
    assert_eq!(histogram_len(&snapshot, "get", None), 3);
    assert_eq!(histogram_len(&snapshot, "set", None), 1);
    assert_eq!(histogram_len(&snapshot, "refresh", Some("timeout")), 1);
    // No label carries a key or a value.
    for (key, _, _, _) in &snapshot {
        for (_, v) in labels(key) {
            assert!(
                !["k", "absent", "v", "down"].contains(&v.as_str()),
                "{key:?}"
            );
        }
    }
}

#[test]
fn without_metrics_nothing_is_recorded() {
    let snapshot = measured(async {
        let cache = Toy::default().instrumented("toy").without_metrics();
        cache.get("k").await.unwrap();
    });
    let recorded: Vec<_> = snapshot
        .into_iter()
        .filter(|(_, _, _, v)| matches!(v, DebugValue::Counter(n) if *n > 0))
        .collect();
    assert!(recorded.is_empty(), "{recorded:?}");
}

#[test]
fn a_wrapper_made_with_no_recorder_installed_measures_nothing() {
    // No recorder at wrap time: the wrapper turns metrics off (and never
    // reads the clock for them), even once a recorder is installed.
    let cache = Toy::default().instrumented("toy");
    let snapshot = measured(async move {
        cache.get("k").await.unwrap();
        cache.get("down").await.unwrap_err();
    });
    assert!(snapshot.is_empty(), "{snapshot:?}");
}

#[test]
fn instrumentation_settings_apply() {
    let spans = traced(async {
        let how = Instrumentation::new().keys(KeyPolicy::Truncated(2));
        let cache = how.apply(Toy::default(), "toy");
        cache.get("abc").await.unwrap();
    });
    assert_eq!(field(&spans[0], "cache.key"), Some("ab…"));
    let snapshot = measured(async {
        let how = Instrumentation::new().without_metrics();
        how.apply(Toy::default(), "toy").get("k").await.unwrap();
    });
    let counted = snapshot
        .iter()
        .any(|(_, _, _, v)| matches!(v, DebugValue::Counter(n) if *n > 0));
    assert!(!counted, "{snapshot:?}");
}

#[test]
fn a_get_answered_without_waiting_is_counted_on_the_spot() {
    let quick = Arc::new(Quick::default());
    let snapshot = measured(async {
        // Wrapped while the recorder is installed (and through `Arc`'s
        // forwarding, which must keep `get_now`).
        let cache = Arc::new(Arc::clone(&quick).instrumented("quick"));
        let opts = EntryOptions::new();
        cache
            .set("k", Bytes::from_static(b"v"), &opts)
            .await
            .unwrap();
        assert!(cache.get("k").await.unwrap().is_some());
        assert!(cache.get("absent").await.unwrap().is_none());
        assert!(cache.get("down").await.is_err());
        // Behind `dyn`, the wrapper's own `get_now` answers (and counts).
        let shared: Arc<dyn DistributedCache> = cache;
        let answered = shared.get_now("k").expect("answered without waiting");
        assert!(answered.unwrap().is_some());
    });
    assert_eq!(
        quick.waited.load(Ordering::Relaxed),
        0,
        "every get took the wrapped cache's answer, none its future"
    );
    let gets = |outcome| {
        counter(
            &snapshot,
            &[
                ("db.system.name", "quick"),
                ("db.operation.name", "get"),
                ("cache.outcome", outcome),
            ],
        )
    };
    assert_eq!(gets("hit"), Some(2));
    assert_eq!(gets("miss"), Some(1));
    let errors = counter(
        &snapshot,
        &[
            ("db.system.name", "quick"),
            ("db.operation.name", "get"),
            ("cache.outcome", "error"),
            ("error.type", "timeout"),
        ],
    );
    assert_eq!(errors, Some(1));
    // The set waited: timed, as always.
    assert_eq!(histogram_len(&snapshot, "set", None), 1);
}

#[test]
fn a_traced_get_waits_in_its_span_even_when_it_could_answer_at_once() {
    let quick = Arc::new(Quick::default());
    let cache = Arc::clone(&quick).instrumented("quick");
    let spans = traced(async move {
        cache
            .set("k", Bytes::from_static(b"v"), &EntryOptions::new())
            .await
            .unwrap();
        assert!(cache.get("k").await.unwrap().is_some());
        assert!(cache.get("absent").await.unwrap().is_none());
        // No span could cover an answer given here: the caller must `get`.
        assert!(cache.get_now("k").is_none());
    });
    let seen = outcomes(&spans);
    assert_eq!(
        seen,
        [
            ("cache.set", Some("ok")),
            ("cache.get", Some("hit")),
            ("cache.get", Some("miss")),
        ]
    );
    assert_eq!(spans[1].events, ["toy backend looked up a key"]);
    assert_eq!(quick.waited.load(Ordering::Relaxed), 2);
}
