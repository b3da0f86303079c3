//! What a backend's telemetry tests observe (feature `telemetry`): the
//! `tracing` events and spans it emits and the `metrics` it records, caught
//! on the test's own thread by a capturing subscriber and a debugging
//! recorder.
//!
//! ```ignore
//! use cache_testkit::telemetry::Capture;
//!
//! let capture = Capture::new();
//! capture.block_on(async {
//!     let cache = MyCache::connect("…").await.unwrap();
//!     cache.get("k").await.unwrap();
//! });
//! assert!(capture.messages().iter().any(|m| m == "my-cache: connected"));
//! let gauges = capture.gauges();
//! assert_eq!(gauges["db.client.connection.max{db.system.name=mine}"], 4.0);
//! ```
//!
//! Metrics are keyed `name{label=value,…}`, labels sorted by name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One event: its level, its message and its other fields, as text (a
/// string field without quotes, anything else as `Debug` shows it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// The event's level.
    pub level: Level,
    /// Its message.
    pub message: String,
    /// Its other fields, by name.
    pub fields: BTreeMap<String, String>,
}

/// One span, as opened: its name and the fields it was opened with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// The span's name (`cache.get`, …).
    pub name: String,
    /// The fields given when it was opened, by name.
    pub fields: BTreeMap<String, String>,
}

/// A debugging recorder and a capturing subscriber, installed on the
/// current thread only while [`run`](Self::run) or
/// [`block_on`](Self::block_on) runs.
///
/// One `Capture` at a time per test binary: [`new`](Self::new) waits for
/// the previous one to be dropped. Tests of one binary share what is
/// process-wide: a pool's count of waiting operations is labelled by
/// backend only, so one test's refused connect would show up in another's
/// gauge; and `tracing` recomputes its global level and callsite interest
/// whenever a scoped subscriber comes or goes, which can hide an event from
/// the subscriber of a test running alongside.
pub struct Capture {
    recorder: DebuggingRecorder,
    snapshotter: Snapshotter,
    layer: Capturing,
    counted: Mutex<Counted>,
    _turn: MutexGuard<'static, ()>,
}

/// What earlier snapshots drained from the recorder.
#[derive(Default)]
struct Counted {
    counters: BTreeMap<String, u64>,
    seen: BTreeSet<String>,
}

impl Capture {
    /// Takes this binary's turn (see the type's docs) and starts empty.
    pub fn new() -> Self {
        static TURN: Mutex<()> = Mutex::new(());
        // A test that failed while holding the turn must not fail the rest.
        let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        let recorder = DebuggingRecorder::new();
        Capture {
            snapshotter: recorder.snapshotter(),
            recorder,
            layer: Capturing::default(),
            counted: Mutex::default(),
            _turn: turn,
        }
    }

    /// Runs `work` on this thread with the recorder and the subscriber
    /// installed. Whatever it spawns on other threads is not observed:
    /// drive futures on a current-thread runtime.
    pub fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        let subscriber = tracing_subscriber::registry().with(self.layer.clone());
        metrics::with_local_recorder(&self.recorder, || {
            tracing::subscriber::with_default(subscriber, work)
        })
    }

    /// Runs `work` to completion on a fresh current-thread runtime, inside
    /// [`run`](Self::run).
    pub fn block_on<T>(&self, work: impl Future<Output = T>) -> T {
        self.run(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime")
                .block_on(work)
        })
    }

    /// Every event so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.layer.events.lock().unwrap().clone()
    }

    /// The message of every event so far, in order.
    pub fn messages(&self) -> Vec<String> {
        self.layer
            .events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.message.clone())
            .collect()
    }

    /// Fails the test, listing every message seen, unless an event with
    /// exactly this message was emitted.
    #[track_caller]
    pub fn assert_message(&self, message: &str) {
        let seen = self.messages();
        assert!(
            seen.iter().any(|m| m == message),
            "no event {message:?} among {seen:?}"
        );
    }

    /// Every span opened so far, in order.
    pub fn spans(&self) -> Vec<Span> {
        self.layer.spans.lock().unwrap().clone()
    }

    /// Every gauge's value, by `name{sorted labels}`.
    ///
    /// The debugging recorder resets a gauge when it is read: read them
    /// once, after the work (counters are not lost: they are kept for
    /// [`counters`](Self::counters)).
    pub fn gauges(&self) -> BTreeMap<String, f64> {
        let mut gauges = BTreeMap::new();
        self.snapshot(|key, value| {
            if let DebugValue::Gauge(v) = value {
                gauges.insert(key, v.0);
            }
        });
        gauges
    }

    /// What every counter counted since [`new`](Self::new), by
    /// `name{sorted labels}`. Can be called as often as needed (while the
    /// work runs, to wait for a count).
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.snapshot(|_, _| {});
        self.counted.lock().unwrap().counters.clone()
    }

    /// The key of every metric of any kind recorded so far.
    pub fn recorded(&self) -> BTreeSet<String> {
        self.snapshot(|_, _| {});
        self.counted.lock().unwrap().seen.clone()
    }

    /// Drains the recorder: counters are added up here, every key is
    /// remembered, and each value is handed to `each`.
    fn snapshot(&self, mut each: impl FnMut(String, &DebugValue)) {
        let mut counted = self.counted.lock().unwrap();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let mut labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let key = format!("{}{{{}}}", key.key().name(), labels.join(","));
            if let DebugValue::Counter(n) = value {
                *counted.counters.entry(key.clone()).or_default() += n;
            }
            counted.seen.insert(key.clone());
            each(key, &value);
        }
    }
}

impl Default for Capture {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("events", &self.layer.events.lock().unwrap().len())
            .field("spans", &self.layer.spans.lock().unwrap().len())
            .finish_non_exhaustive()
    }
}

/// The layer: appends every event and every opened span.
#[derive(Clone, Default)]
struct Capturing {
    events: Arc<Mutex<Vec<Event>>>,
    spans: Arc<Mutex<Vec<Span>>>,
}

struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
}

impl<S: Subscriber> Layer<S> for Capturing {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        self.events.lock().unwrap().push(Event {
            level: *event.metadata().level(),
            message,
            fields: fields.0,
        });
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        attrs.record(&mut fields);
        self.spans.lock().unwrap().push(Span {
            name: attrs.metadata().name().into(),
            fields: fields.0,
        });
    }
}
