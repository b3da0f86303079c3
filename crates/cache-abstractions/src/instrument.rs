//! Traces and metrics for every operation of any [`DistributedCache`],
//! written once as a decorator: [`Instrumented`].
//!
//! ```
//! # #[cfg(all(feature = "tracing", feature = "metrics"))] {
//! use std::sync::Arc;
//! use cache_abstractions::{DistributedCache, InstrumentExt, KeyPolicy};
//!
//! fn observed(cache: Arc<dyn DistributedCache>) -> Arc<dyn DistributedCache> {
//!     // "redis", "microsoft.sql_server", "postgresql", "memory", ...
//!     Arc::new(cache.instrumented("redis").keys(KeyPolicy::Hashed))
//! }
//! # }
//! ```
//!
//! With the `tracing` feature, each operation runs inside one span named
//! after it (`cache.get`, `cache.set`, `cache.refresh`, `cache.remove`,
//! `cache.inspect`, `cache.ping`) at INFO level, target
//! `cache_abstractions::instrument`, with these fields:
//!
//! | field | value |
//! |---|---|
//! | `db.system.name` | the backend name given to [`InstrumentExt::instrumented`] |
//! | `db.operation.name` | `get`, `set`, `refresh`, `remove`, `inspect`, `ping` |
//! | `cache.outcome` | `hit`, `miss` (get, inspect), `ok` (the others) or `error` |
//! | `error.type` | the [`ErrorKind`](crate::ErrorKind) in snake case (`timeout`, `connection`, ...), on errors |
//! | `otel.kind` / `otel.status_code` | `client` / `ERROR` on errors (read by `tracing-opentelemetry`) |
//! | `cache.duration_ms` | the operation's wall time in milliseconds |
//! | `cache.key` | only with [`KeyPolicy::Hashed`] or [`KeyPolicy::Truncated`] |
//!
//! Values are never recorded. Keys can hold personal data, so they are left
//! out unless a [`KeyPolicy`] says otherwise. A backend's own events
//! (reconnects, script reloads, sweeps) land inside the span: the backend's
//! future runs in it.
//!
//! With the `metrics` feature, through the `metrics` facade (install the
//! recorder before instrumenting: the handles are registered once, when the
//! cache is wrapped):
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `db.client.operation.duration` | histogram, seconds | `db.system.name`, `db.operation.name`, `error.type` on errors |
//! | `cache.operations` | counter | `db.system.name`, `db.operation.name`, `cache.outcome`, `error.type` on errors |
//!
//! The clock is read only while a span is enabled or metrics are on; with
//! neither, the wrapper costs a branch and a callsite check per operation.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
#[cfg(any(feature = "tracing", feature = "metrics"))]
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;

use crate::{Capabilities, DistributedCache, EntryInfo, EntryOptions, Error, Result};

/// Whether and how keys appear in traces (never in metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyPolicy {
    /// No key in traces (the default: keys can hold personal data).
    #[default]
    Omit,
    /// A 64-bit keyed hash of the key, as 16 hex digits: equal keys give equal
    /// hashes for the life of the wrapper, and the hash keys are random per
    /// process, so a dictionary of likely keys can't reverse it.
    Hashed,
    /// The first `n` characters of the key, then `…` when it was longer.
    Truncated(usize),
}

/// A [`DistributedCache`] that traces and measures every operation of the
/// cache it wraps; made by [`InstrumentExt::instrumented`].
pub struct Instrumented<C> {
    inner: C,
    backend: String,
    keys: KeyPolicy,
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    hasher: RandomState,
    #[cfg(feature = "metrics")]
    metrics: Option<metrics_handles::Handles>,
}

impl<C: fmt::Debug> fmt::Debug for Instrumented<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented")
            .field("backend", &self.backend)
            .field("keys", &self.keys)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// Wraps any cache in [`Instrumented`].
pub trait InstrumentExt: DistributedCache + Sized {
    /// Traces and measures every operation, labelled with `backend` (use
    /// OpenTelemetry's `db.system.name` values where one exists: `redis`,
    /// `microsoft.sql_server`, `postgresql`; else a short name like `memory`).
    fn instrumented(self, backend: impl Into<String>) -> Instrumented<Self> {
        Instrumented::new(self, backend)
    }
}

impl<C: DistributedCache> InstrumentExt for C {}

impl<C> Instrumented<C> {
    /// See [`InstrumentExt::instrumented`].
    pub fn new(inner: C, backend: impl Into<String>) -> Self {
        let backend = backend.into();
        Instrumented {
            #[cfg(feature = "metrics")]
            metrics: Some(metrics_handles::Handles::register(&backend)),
            inner,
            backend,
            keys: KeyPolicy::Omit,
            hasher: RandomState::new(),
        }
    }

    /// Whether and how keys appear in traces (without the `tracing`
    /// feature there are none, and this has no effect).
    pub fn keys(mut self, policy: KeyPolicy) -> Self {
        self.keys = policy;
        self
    }

    /// Turns metrics off (traces only) for this cache.
    #[cfg(feature = "metrics")]
    pub fn without_metrics(mut self) -> Self {
        self.metrics = None;
        self
    }

    /// The wrapped cache.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The wrapped cache, unwrapped.
    pub fn into_inner(self) -> C {
        self.inner
    }

    /// The key as [`KeyPolicy`] allows it in a trace.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    fn shown_key(&self, key: &str) -> Option<String> {
        match self.keys {
            KeyPolicy::Omit => None,
            KeyPolicy::Hashed => Some(format!("{:016x}", self.hasher.hash_one(key))),
            KeyPolicy::Truncated(n) => Some(match key.char_indices().nth(n) {
                Some((cut, _)) => format!("{}…", &key[..cut]),
                None => key.to_string(),
            }),
        }
    }
}

/// One operation, as traces and metrics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Get,
    Set,
    Refresh,
    Remove,
    Inspect,
    Ping,
}

impl Op {
    #[cfg(feature = "metrics")]
    const ALL: [Op; 6] = [
        Op::Get,
        Op::Set,
        Op::Refresh,
        Op::Remove,
        Op::Inspect,
        Op::Ping,
    ];

    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Refresh => "refresh",
            Op::Remove => "remove",
            Op::Inspect => "inspect",
            Op::Ping => "ping",
        }
    }
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Hit,
    Miss,
    Ok,
}

impl Outcome {
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    fn name(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Ok => "ok",
        }
    }
}

/// The error kind in snake case (`InvalidKey` -> `invalid_key`): OpenTelemetry's
/// `error.type`, low-cardinality. Built from the kind's name so a new kind
/// needs no change here.
fn error_type(error: &Error) -> String {
    let mut out = String::new();
    for (i, c) in format!("{:?}", error.kind()).chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The span of one operation; the literal name needs a macro (a span's
/// name is part of its static callsite).
#[cfg(feature = "tracing")]
macro_rules! op_span {
    ($name:literal, $op:expr, $backend:expr) => {
        tracing::info_span!(
            $name,
            db.system.name = %$backend,
            db.operation.name = $op.name(),
            cache.outcome = tracing::field::Empty,
            error.type = tracing::field::Empty,
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            cache.duration_ms = tracing::field::Empty,
            cache.key = tracing::field::Empty,
        )
    };
}

impl<C: DistributedCache> Instrumented<C> {
    /// Runs `work` as operation `op` on `key`, traced and measured.
    async fn observe<T>(
        &self,
        op: Op,
        key: Option<&str>,
        work: impl std::future::Future<Output = Result<T>>,
        outcome: impl FnOnce(&T) -> Outcome,
    ) -> Result<T> {
        #[cfg(feature = "tracing")]
        let span = match op {
            Op::Get => op_span!("cache.get", op, self.backend),
            Op::Set => op_span!("cache.set", op, self.backend),
            Op::Refresh => op_span!("cache.refresh", op, self.backend),
            Op::Remove => op_span!("cache.remove", op, self.backend),
            Op::Inspect => op_span!("cache.inspect", op, self.backend),
            Op::Ping => op_span!("cache.ping", op, self.backend),
        };
        #[cfg(feature = "tracing")]
        let traced = !span.is_disabled();
        #[cfg(not(feature = "tracing"))]
        let traced = false;
        #[cfg(feature = "metrics")]
        let measured = self.metrics.is_some();
        #[cfg(not(feature = "metrics"))]
        let measured = false;

        if !traced && !measured {
            // Nobody listens: no clock, no formatting.
            return work.await;
        }
        #[cfg(feature = "tracing")]
        if let Some(shown) = key.and_then(|k| self.shown_key(k)).filter(|_| traced) {
            span.record("cache.key", shown.as_str());
        }
        #[cfg(not(feature = "tracing"))]
        let _ = key;

        #[cfg(any(feature = "tracing", feature = "metrics"))]
        {
            let start = Instant::now();
            #[cfg(feature = "tracing")]
            let result = tracing::Instrument::instrument(work, span.clone()).await;
            #[cfg(not(feature = "tracing"))]
            let result = work.await;
            let elapsed = start.elapsed();
            let ended = result.as_ref().map(outcome);
            let error = result.as_ref().err().map(error_type);

            #[cfg(feature = "tracing")]
            if traced {
                span.record("cache.duration_ms", elapsed.as_secs_f64() * 1e3);
                match (&ended, &error) {
                    (Ok(o), _) => {
                        span.record("cache.outcome", o.name());
                    }
                    (Err(_), Some(kind)) => {
                        span.record("cache.outcome", "error");
                        span.record("error.type", kind.as_str());
                        span.record("otel.status_code", "ERROR");
                    }
                    (Err(_), None) => {}
                }
            }
            #[cfg(feature = "metrics")]
            if let Some(handles) = &self.metrics {
                match (ended, error) {
                    (Ok(o), _) => handles.record(op, o, elapsed),
                    (Err(_), kind) => metrics_handles::record_error(
                        &self.backend,
                        op,
                        kind.unwrap_or_default(),
                        elapsed,
                    ),
                }
            }
            result
        }
        #[cfg(not(any(feature = "tracing", feature = "metrics")))]
        {
            let _ = outcome;
            work.await
        }
    }
}

fn found<T>(value: &Option<T>) -> Outcome {
    if value.is_some() {
        Outcome::Hit
    } else {
        Outcome::Miss
    }
}

// The lint fails the build when the trait gains a method this wrapper does
// not forward (it would silently fall back to the trait's default).
#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<C: DistributedCache> DistributedCache for Instrumented<C> {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.observe(Op::Get, Some(key), self.inner.get(key), found)
            .await
    }

    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        let work = self.inner.set(key, value, options);
        self.observe(Op::Set, Some(key), work, |()| Outcome::Ok)
            .await
    }

    async fn refresh(&self, key: &str) -> Result<()> {
        let work = self.inner.refresh(key);
        self.observe(Op::Refresh, Some(key), work, |()| Outcome::Ok)
            .await
    }

    async fn remove(&self, key: &str) -> Result<()> {
        let work = self.inner.remove(key);
        self.observe(Op::Remove, Some(key), work, |()| Outcome::Ok)
            .await
    }

    async fn inspect(&self, key: &str) -> Result<Option<EntryInfo>> {
        self.observe(Op::Inspect, Some(key), self.inner.inspect(key), found)
            .await
    }

    async fn ping(&self) -> Result<()> {
        self.observe(Op::Ping, None, self.inner.ping(), |()| Outcome::Ok)
            .await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}

/// The metric names, one place (docs/observability.md lists them).
pub mod names {
    /// Histogram, seconds: OpenTelemetry's database client operation duration.
    pub const OPERATION_DURATION: &str = "db.client.operation.duration";
    /// Counter: operations by backend, operation and outcome (no
    /// OpenTelemetry convention exists for cache operations).
    pub const OPERATIONS: &str = "cache.operations";
    /// Label: the backend (OpenTelemetry `db.system.name`).
    pub const SYSTEM: &str = "db.system.name";
    /// Label: the operation (OpenTelemetry `db.operation.name`).
    pub const OPERATION: &str = "db.operation.name";
    /// Label: `hit`, `miss`, `ok` or `error`.
    pub const OUTCOME: &str = "cache.outcome";
    /// Label: the error kind in snake case, on errors (OpenTelemetry `error.type`).
    pub const ERROR_TYPE: &str = "error.type";
}

#[cfg(feature = "metrics")]
mod metrics_handles {
    //! Handles registered once per wrapper, so the hot path does no lookup.

    use std::time::Duration;

    use metrics::{Counter, Histogram, Unit};

    use super::names::*;
    use super::{Op, Outcome};

    #[derive(Debug)]
    struct OpHandles {
        hit_or_ok: Counter,
        miss: Counter,
        duration: Histogram,
    }

    #[derive(Debug)]
    pub(super) struct Handles {
        ops: Vec<OpHandles>,
    }

    impl Handles {
        pub(super) fn register(backend: &str) -> Self {
            metrics::describe_histogram!(
                OPERATION_DURATION,
                Unit::Seconds,
                "Duration of cache operations"
            );
            metrics::describe_counter!(OPERATIONS, Unit::Count, "Cache operations by outcome");
            let ops = Op::ALL
                .iter()
                .map(|op| {
                    let counter = |outcome: &'static str| {
                        metrics::counter!(
                            OPERATIONS,
                            SYSTEM => backend.to_string(),
                            OPERATION => op.name(),
                            OUTCOME => outcome,
                        )
                    };
                    let reads = matches!(op, Op::Get | Op::Inspect);
                    OpHandles {
                        hit_or_ok: counter(if reads { "hit" } else { "ok" }),
                        miss: counter("miss"),
                        duration: metrics::histogram!(
                            OPERATION_DURATION,
                            SYSTEM => backend.to_string(),
                            OPERATION => op.name(),
                        ),
                    }
                })
                .collect();
            Handles { ops }
        }

        pub(super) fn record(&self, op: Op, outcome: Outcome, elapsed: Duration) {
            // `ops` follows `Op::ALL`, which follows the declaration order.
            let Some(h) = self.ops.get(op as usize) else {
                return;
            };
            match outcome {
                Outcome::Miss => h.miss.increment(1),
                Outcome::Hit | Outcome::Ok => h.hit_or_ok.increment(1),
            }
            h.duration.record(elapsed.as_secs_f64());
        }
    }

    /// Errors are rare and their kinds many: registered when they happen.
    pub(super) fn record_error(backend: &str, op: Op, kind: String, elapsed: Duration) {
        metrics::counter!(
            OPERATIONS,
            SYSTEM => backend.to_string(),
            OPERATION => op.name(),
            OUTCOME => "error",
            ERROR_TYPE => kind.clone(),
        )
        .increment(1);
        metrics::histogram!(
            OPERATION_DURATION,
            SYSTEM => backend.to_string(),
            OPERATION => op.name(),
            ERROR_TYPE => kind,
        )
        .record(elapsed.as_secs_f64());
    }
}
