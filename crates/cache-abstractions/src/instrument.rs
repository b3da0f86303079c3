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
//! With the `metrics` feature, through the `metrics` facade. Install the
//! recorder (globally, or as the local recorder) *before* wrapping: the
//! handles are registered once, when the cache is wrapped, and a wrapper made
//! while no recorder is installed records no metrics at all.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `db.client.operation.duration` | histogram, seconds | `db.system.name`, `db.operation.name`, `error.type` on errors |
//! | `cache.operations` | counter | `db.system.name`, `db.operation.name`, `cache.outcome`, `error.type` on errors |
//!
//! Every operation is counted. Its duration goes to the histogram every
//! time when the operation waited (a network round trip), but only 1 in 64
//! times when the wrapped cache answered it without waiting
//! ([`DistributedCache::get_now`]: an in-process get), whose cost the clock
//! reads would exceed; [`Instrumented::sample_latency`] sets one rate for
//! both. A get answered without waiting is also counted at once, with no
//! future around the wrapped cache's: the get returns a ready future, and
//! the wrapper's own `get_now` answers as the wrapped cache's does (when no
//! subscriber wants spans), so a wrapped in-process cache keeps its fast
//! path behind an `Arc<dyn DistributedCache>`.
//!
//! The clock is read only while a span is enabled or metrics are on; with
//! neither, the wrapper costs a branch and a callsite check per operation.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
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

/// How [`Instrumented`] observes a cache, as one value (what
/// `OpenOptions::instrument` takes, so a facade can wrap what it opens).
///
/// ```
/// # #[cfg(feature = "metrics")] {
/// use cache_abstractions::instrument::Instrumentation;
/// use cache_abstractions::KeyPolicy;
///
/// let how = Instrumentation::new().keys(KeyPolicy::Hashed).sample_latency(16);
/// assert_eq!(how.latency_sample, Some(16));
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Instrumentation {
    /// Whether and how keys appear in traces ([`KeyPolicy::Omit`] by default).
    pub keys: KeyPolicy,
    /// Whether metrics are recorded (true by default; they still need a
    /// recorder installed before wrapping).
    #[cfg(feature = "metrics")]
    pub metrics: bool,
    /// Time 1 in this many operations for the duration histogram (1 times
    /// every one); `None`, the default, samples by how the operation was
    /// answered: see [`Instrumented::sample_latency`].
    #[cfg(feature = "metrics")]
    pub latency_sample: Option<u32>,
}

impl Default for Instrumentation {
    fn default() -> Self {
        Instrumentation {
            keys: KeyPolicy::Omit,
            #[cfg(feature = "metrics")]
            metrics: true,
            #[cfg(feature = "metrics")]
            latency_sample: None,
        }
    }
}

impl Instrumentation {
    /// Traces and metrics with every default: no keys, latency sampled by
    /// how each operation was answered.
    pub fn new() -> Self {
        Instrumentation::default()
    }

    /// Sets [`keys`](Self::keys).
    #[must_use]
    pub fn keys(mut self, policy: KeyPolicy) -> Self {
        self.keys = policy;
        self
    }

    /// Turns metrics off (traces only).
    #[cfg(feature = "metrics")]
    #[must_use]
    pub fn without_metrics(mut self) -> Self {
        self.metrics = false;
        self
    }

    /// Sets [`latency_sample`](Self::latency_sample).
    #[cfg(feature = "metrics")]
    #[must_use]
    pub fn sample_latency(mut self, one_in: u32) -> Self {
        self.latency_sample = Some(one_in);
        self
    }

    /// Wraps `inner` as these settings say.
    pub fn apply<C>(&self, inner: C, backend: impl Into<String>) -> Instrumented<C> {
        let wrapped = Instrumented::new(inner, backend).keys(self.keys);
        #[cfg(feature = "metrics")]
        let wrapped = match (self.metrics, self.latency_sample) {
            (false, _) => wrapped.without_metrics(),
            (true, Some(one_in)) => wrapped.sample_latency(one_in),
            (true, None) => wrapped,
        };
        wrapped
    }
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
            metrics: metrics_handles::Handles::register(&backend),
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

    /// Times only about 1 in `one_in` operations (rounded up to a power of
    /// two; 0 and 1 time every one) for the duration histogram, picked at
    /// random per thread, whether or not they waited. Counters still count
    /// every operation.
    ///
    /// Without it the sampling is automatic: a get the wrapped cache
    /// answered without waiting ([`DistributedCache::get_now`], an
    /// in-process cache) is timed 1 in 64, every operation that waits is
    /// timed. Reading the clock twice and pushing a histogram sample is most
    /// of what a recorder costs per operation (docs/observability.md has
    /// the figures), more than the in-process get itself; next to a network
    /// round trip it is nothing. `sample_latency(1)` times every one anyway.
    ///
    /// The histogram's quantiles stay unbiased, but its `_count` and `_sum`
    /// then cover only the sampled operations: take rates from
    /// `cache.operations`.
    #[cfg(feature = "metrics")]
    pub fn sample_latency(mut self, one_in: u32) -> Self {
        if let Some(handles) = &mut self.metrics {
            let mask = one_in.max(1).next_power_of_two() - 1;
            handles.waited_mask = mask;
            handles.answered_mask = mask;
        }
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

/// The span of an operation (none without the `tracing` feature).
#[cfg(feature = "tracing")]
type OpSpan = tracing::Span;
/// Without the `tracing` feature there is never a span.
#[cfg(not(feature = "tracing"))]
#[derive(Debug)]
enum OpSpan {}

/// What the trait's methods return (`async_trait`'s boxed future).
type OpFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

impl<C: DistributedCache> Instrumented<C> {
    /// The operation's span if a subscriber wants it.
    #[inline(always)]
    fn span(&self, op: Op) -> Option<OpSpan> {
        if !self.may_trace() {
            return None;
        }
        self.make_span(op)
    }

    /// [`span`](Self::span) past the level check: out of line, so the
    /// check stays a few instructions in every operation.
    #[inline(never)]
    fn make_span(&self, op: Op) -> Option<OpSpan> {
        #[cfg(feature = "tracing")]
        {
            let span = match op {
                Op::Get => op_span!("cache.get", op, self.backend),
                Op::Set => op_span!("cache.set", op, self.backend),
                Op::Refresh => op_span!("cache.refresh", op, self.backend),
                Op::Remove => op_span!("cache.remove", op, self.backend),
                Op::Inspect => op_span!("cache.inspect", op, self.backend),
                Op::Ping => op_span!("cache.ping", op, self.backend),
            };
            (!span.is_disabled()).then_some(span)
        }
        #[cfg(not(feature = "tracing"))]
        {
            let _ = op;
            None
        }
    }

    /// Whether a subscriber may want spans of this wrapper (then a get goes
    /// through [`get`](DistributedCache::get), whose span covers the
    /// operation): the subscribers' most verbose level, one atomic load.
    /// With no subscriber it is OFF, and no span is even built (which
    /// matters when tracing's `log` feature is on: then a disabled span
    /// still formats its fields for the `log` crate).
    #[inline(always)]
    fn may_trace(&self) -> bool {
        #[cfg(feature = "tracing")]
        {
            use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
            tracing::Level::INFO <= STATIC_MAX_LEVEL
                && tracing::Level::INFO <= LevelFilter::current()
        }
        #[cfg(not(feature = "tracing"))]
        false
    }

    /// The wrapped cache's [`get_now`](DistributedCache::get_now), counted
    /// (and timed when sampled) here and now, then handed to `value` or
    /// `failed`; `None` when it must wait. Only where no span is wanted:
    /// there is none to run it in. (Handed on rather than returned: a
    /// `Result` with an `Error` in it is large, and this way the hit's value
    /// alone is moved, the whole answer never copied.)
    #[inline(always)]
    fn get_answered<R>(
        &self,
        key: &str,
        value: impl FnOnce(Option<Bytes>) -> R,
        failed: impl FnOnce(Error) -> R,
    ) -> Option<R> {
        #[cfg(feature = "metrics")]
        let start = match &self.metrics {
            Some(handles) => handles.answered_start(),
            None => None,
        };
        #[cfg(not(feature = "metrics"))]
        let start = ();
        Some(match self.inner.get_now(key) {
            None => return None,
            Some(Ok(v)) => {
                #[cfg(feature = "metrics")]
                if let Some(handles) = &self.metrics {
                    handles.answered(Op::Get, found(&v), start);
                }
                value(v)
            }
            Some(Err(e)) => self.get_failed(e, start, failed),
        })
    }

    /// An answered get that failed: counted (and timed) as an error.
    #[cold]
    #[inline(never)]
    fn get_failed<R>(
        &self,
        e: Error,
        #[cfg(feature = "metrics")] start: Option<Instant>,
        #[cfg(not(feature = "metrics"))] _: (),
        failed: impl FnOnce(Error) -> R,
    ) -> R {
        #[cfg(feature = "metrics")]
        if self.metrics.is_some() {
            let elapsed = start.map(|s| s.elapsed());
            metrics_handles::record_error(&self.backend, Op::Get, error_type(&e), elapsed);
        }
        failed(e)
    }

    /// A get that is measured and not traced: out of line, so that an
    /// unobserved get passes straight through.
    #[inline(never)]
    fn get_measured<'a>(&'a self, key: &'a str) -> OpFuture<'a, Option<Bytes>> {
        // An in-process cache answers now: counted here, and one boxed
        // future (this one, as small as they come) instead of the wrapped
        // cache's and a measuring one around it.
        if let Some(answered) = self.get_answered(key, answered_value, answered_error) {
            return answered;
        }
        self.get_waiting(key)
    }

    /// A get that may be traced, or that the wrapped cache must wait for:
    /// out of line, so that the answered get above stays a small function.
    #[inline(never)]
    fn get_waiting<'a>(&'a self, key: &'a str) -> OpFuture<'a, Option<Bytes>> {
        let span = self.span(Op::Get);
        if span.is_none() && self.may_trace() {
            // A subscriber, but not for these spans.
            if let Some(answered) = self.get_answered(key, answered_value, answered_error) {
                return answered;
            }
        }
        self.run_in(span, Op::Get, Some(key), self.inner.get(key), found)
    }

    /// Runs `work` (the wrapped cache's future) as operation `op` on `key`.
    fn run<'a, T: Send + 'a>(
        &'a self,
        op: Op,
        key: Option<&'a str>,
        work: OpFuture<'a, T>,
        outcome: fn(&T) -> Outcome,
    ) -> OpFuture<'a, T> {
        self.run_in(self.span(op), op, key, work, outcome)
    }

    /// [`run`](Self::run) with the span already made (or not).
    ///
    /// When no subscriber wants the span and no recorder was installed, the
    /// wrapped cache's own future is returned as it is: no second boxed
    /// future, no clock, no formatting.
    #[inline]
    fn run_in<'a, T: Send + 'a>(
        &'a self,
        span: Option<OpSpan>,
        op: Op,
        key: Option<&'a str>,
        work: OpFuture<'a, T>,
        outcome: fn(&T) -> Outcome,
    ) -> OpFuture<'a, T> {
        let Some(span) = span else {
            // Metrics alone: a small hand-written future, not `observe`'s
            // state machine (see docs/observability.md for what it saves).
            #[cfg(feature = "metrics")]
            if let Some(handles) = &self.metrics {
                return Box::pin(handles.measure(&self.backend, op, work, outcome));
            }
            return work;
        };
        Box::pin(self.observe(Some(span), op, key, work, outcome))
    }

    async fn observe<T>(
        &self,
        span: Option<OpSpan>,
        op: Op,
        key: Option<&str>,
        work: OpFuture<'_, T>,
        outcome: fn(&T) -> Outcome,
    ) -> Result<T> {
        let start = Instant::now();
        #[cfg(feature = "tracing")]
        let result = match &span {
            Some(span) => {
                if let Some(shown) = key.and_then(|k| self.shown_key(k)) {
                    span.record("cache.key", shown.as_str());
                }
                // The backend's own events land in the operation's span.
                tracing::Instrument::instrument(work, span.clone()).await
            }
            None => work.await,
        };
        #[cfg(not(feature = "tracing"))]
        let result = {
            let _ = key;
            work.await
        };
        let elapsed = start.elapsed();
        let ended = result.as_ref().map(outcome);
        let error = result.as_ref().err().map(error_type);

        #[cfg(feature = "tracing")]
        if let Some(span) = &span {
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
        #[cfg(not(feature = "tracing"))]
        let _ = span;
        #[cfg(feature = "metrics")]
        if let Some(handles) = &self.metrics {
            match (ended, error) {
                (Ok(o), _) => handles.record(op, o, Some(elapsed)),
                (Err(_), kind) => {
                    let kind = kind.unwrap_or_default();
                    metrics_handles::record_error(&self.backend, op, kind, Some(elapsed));
                }
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (op, ended, error);
        result
    }
}

/// A get's value, answered without waiting, as the trait's future.
#[inline(always)]
fn answered_value<'a>(value: Option<Bytes>) -> OpFuture<'a, Option<Bytes>> {
    match value {
        Some(value) => Box::pin(Hit(Some(value))),
        None => Box::pin(Miss),
    }
}

/// A get's error, answered without waiting, as the trait's future.
#[cold]
fn answered_error<'a>(e: Error) -> OpFuture<'a, Option<Bytes>> {
    Box::pin(std::future::ready(Err(e)))
}

/// A get answered with a value: the future holds only the value (the
/// whole `Result` would be twice the size). A miss is [`Miss`], zero-sized,
/// so boxing it allocates nothing.
struct Hit(Option<Bytes>);

impl Future for Hit {
    type Output = Result<Option<Bytes>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        // `Bytes` is `Unpin`.
        std::task::Poll::Ready(Ok(self.get_mut().0.take()))
    }
}

/// A get answered with a miss.
struct Miss;

impl Future for Miss {
    type Output = Result<Option<Bytes>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(None))
    }
}

fn found<T>(value: &Option<T>) -> Outcome {
    if value.is_some() {
        Outcome::Hit
    } else {
        Outcome::Miss
    }
}

fn done(_: &()) -> Outcome {
    Outcome::Ok
}

// The methods are written with `async_trait`'s expanded signatures, not as
// `async fn`, so that an unobserved call returns the wrapped cache's future
// itself (see `run`). The lint fails the build when the trait gains a
// method this wrapper does not forward (it would silently fall back to the
// trait's default).
#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<C: DistributedCache> DistributedCache for Instrumented<C> {
    fn get<'s, 'k, 'async_trait>(&'s self, key: &'k str) -> OpFuture<'async_trait, Option<Bytes>>
    where
        's: 'async_trait,
        'k: 'async_trait,
        Self: 'async_trait,
    {
        #[cfg(feature = "metrics")]
        let measured = self.metrics.is_some();
        #[cfg(not(feature = "metrics"))]
        let measured = false;
        if self.may_trace() {
            return self.get_waiting(key);
        }
        if !measured {
            // Nothing to trace, nothing to measure: the wrapped cache's own
            // future, as it is (the cheapest there is), before this
            // function has even set up a frame.
            return self.inner.get(key);
        }
        self.get_measured(key)
    }

    /// The wrapped cache's answer, counted as a get; `None` when it must
    /// wait, and also whenever a tracing subscriber may want the get's span
    /// (the caller's `get` then makes it around the operation).
    fn get_now(&self, key: &str) -> Option<Result<Option<Bytes>>> {
        if self.may_trace() {
            return None;
        }
        self.get_answered(key, Ok, Err)
    }

    fn set<'s, 'k, 'o, 'async_trait>(
        &'s self,
        key: &'k str,
        value: Bytes,
        options: &'o EntryOptions,
    ) -> OpFuture<'async_trait, ()>
    where
        's: 'async_trait,
        'k: 'async_trait,
        'o: 'async_trait,
        Self: 'async_trait,
    {
        self.run(
            Op::Set,
            Some(key),
            self.inner.set(key, value, options),
            done,
        )
    }

    fn refresh<'s, 'k, 'async_trait>(&'s self, key: &'k str) -> OpFuture<'async_trait, ()>
    where
        's: 'async_trait,
        'k: 'async_trait,
        Self: 'async_trait,
    {
        self.run(Op::Refresh, Some(key), self.inner.refresh(key), done)
    }

    fn remove<'s, 'k, 'async_trait>(&'s self, key: &'k str) -> OpFuture<'async_trait, ()>
    where
        's: 'async_trait,
        'k: 'async_trait,
        Self: 'async_trait,
    {
        self.run(Op::Remove, Some(key), self.inner.remove(key), done)
    }

    fn inspect<'s, 'k, 'async_trait>(
        &'s self,
        key: &'k str,
    ) -> OpFuture<'async_trait, Option<EntryInfo>>
    where
        's: 'async_trait,
        'k: 'async_trait,
        Self: 'async_trait,
    {
        self.run(Op::Inspect, Some(key), self.inner.inspect(key), found)
    }

    fn ping<'s, 'async_trait>(&'s self) -> OpFuture<'async_trait, ()>
    where
        's: 'async_trait,
        Self: 'async_trait,
    {
        self.run(Op::Ping, None, self.inner.ping(), done)
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
    /// Gauge: a pool's connections by `db.client.connection.state`
    /// (OpenTelemetry's connection-pool metric).
    pub const CONNECTION_COUNT: &str = "db.client.connection.count";
    /// Label: `idle` or `used`.
    pub const CONNECTION_STATE: &str = "db.client.connection.state";
    /// Gauge: the most connections a pool opens (OpenTelemetry).
    pub const CONNECTION_MAX: &str = "db.client.connection.max";
    /// Gauge: operations waiting for a pooled connection (OpenTelemetry).
    pub const CONNECTION_PENDING: &str = "db.client.connection.pending_requests";
}

/// Pool gauges for backends on bb8 (SQL Server, PostgreSQL, Redis), written once.
#[cfg(all(feature = "metrics", feature = "backend-support"))]
#[cfg_attr(
    docsrs,
    doc(cfg(all(feature = "metrics", feature = "backend-support")))
)]
pub mod pool {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::names::*;

    /// Operations waiting for a pooled connection, counted by the backend
    /// around its checkout. bb8's own statistics can't say: a get whose
    /// future is dropped (a cancelled operation, or one a failed connect
    /// ended early) stays "started" in them forever.
    #[derive(Debug, Default)]
    pub struct Waiters(AtomicU64);

    impl Waiters {
        /// None waiting (a `static` per backend crate).
        pub const fn new() -> Self {
            Waiters(AtomicU64::new(0))
        }

        /// Counts one waiter until the guard is dropped (also when the
        /// waiting future is).
        pub fn enter(&self) -> Waiting<'_> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Waiting(&self.0)
        }

        /// How many wait now.
        pub fn count(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    /// One waiter; see [`Waiters::enter`].
    #[derive(Debug)]
    pub struct Waiting<'a>(&'a AtomicU64);

    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Sets OpenTelemetry's connection-pool gauges from a bb8 pool's state:
    /// `db.client.connection.count` {state = idle | used},
    /// `db.client.connection.max` and
    /// `db.client.connection.pending_requests` (`waiting`), labelled with
    /// `db.system.name` = `system` (so the pools of one backend share the
    /// series; the last one to report wins). Backends call it after each
    /// checkout, failed or not (the state changes then): a few registry
    /// lookups, next to a network round trip.
    pub fn record_state(system: &'static str, max: u32, state: &bb8::State, waiting: u64) {
        let idle = state.idle_connections;
        let used = state.connections.saturating_sub(idle);
        metrics::gauge!(CONNECTION_COUNT, SYSTEM => system, CONNECTION_STATE => "idle")
            .set(f64::from(idle));
        metrics::gauge!(CONNECTION_COUNT, SYSTEM => system, CONNECTION_STATE => "used")
            .set(f64::from(used));
        metrics::gauge!(CONNECTION_MAX, SYSTEM => system).set(f64::from(max));
        metrics::gauge!(CONNECTION_PENDING, SYSTEM => system).set(waiting as f64);
    }
}

#[cfg(feature = "metrics")]
mod metrics_handles {
    //! Handles registered once per wrapper, so the hot path does no lookup,
    //! and the future that records into them.

    use std::cell::Cell;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{ready, Context, Poll};
    use std::time::{Duration, Instant};

    use metrics::{Counter, Histogram, Unit};

    use super::names::*;
    use super::{error_type, Op, OpFuture, Outcome};
    use crate::Result;

    #[derive(Debug)]
    struct OpHandles {
        hit_or_ok: Counter,
        miss: Counter,
        duration: Histogram,
    }

    #[derive(Debug)]
    pub(super) struct Handles {
        /// By `Op as usize` (the order of `Op::ALL`).
        ops: [OpHandles; 6],
        /// Time an operation that waited when `random & waited_mask == 0`
        /// (0: always).
        pub(super) waited_mask: u32,
        /// The same for an operation answered without waiting
        /// ([`get_now`](crate::DistributedCache::get_now)).
        pub(super) answered_mask: u32,
    }

    impl Handles {
        /// The handles, or `None` when no recorder is installed (the
        /// facade's no-op recorder is the only zero-sized one it has): then
        /// the handles would all be no-ops, and not reading the clock for
        /// them is what keeps an unobserved cache at full speed.
        pub(super) fn register(backend: &str) -> Option<Self> {
            if metrics::with_recorder(|r| std::mem::size_of_val(r) == 0) {
                return None;
            }
            metrics::describe_histogram!(
                OPERATION_DURATION,
                Unit::Seconds,
                "Duration of cache operations"
            );
            metrics::describe_counter!(OPERATIONS, Unit::Count, "Cache operations by outcome");
            let ops = Op::ALL.map(|op| {
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
            });
            Some(Handles {
                ops,
                waited_mask: 0,
                answered_mask: ANSWERED_SAMPLE - 1,
            })
        }

        /// Counts one operation, and records its duration when it was timed.
        #[inline]
        pub(super) fn record(&self, op: Op, outcome: Outcome, elapsed: Option<Duration>) {
            let h = &self.ops[op as usize];
            match outcome {
                Outcome::Miss => h.miss.increment(1),
                Outcome::Hit | Outcome::Ok => h.hit_or_ok.increment(1),
            }
            if let Some(elapsed) = elapsed {
                h.duration.record(elapsed.as_secs_f64());
            }
        }

        /// `work`, counted (and timed, if sampled) when it ends.
        pub(super) fn measure<'a, T>(
            &'a self,
            backend: &'a str,
            op: Op,
            work: OpFuture<'a, T>,
            outcome: fn(&T) -> Outcome,
        ) -> Measured<'a, T> {
            Measured {
                work,
                handles: self,
                backend,
                op,
                outcome,
                start: None,
            }
        }

        /// Before asking for an answer without waiting: the instant it
        /// starts if it is to be timed (sampled).
        #[inline(always)]
        pub(super) fn answered_start(&self) -> Option<Instant> {
            if self.answered_mask == 0 {
                return Some(Instant::now());
            }
            // A countdown, restarted at a random value averaging the rate:
            // a decrement per operation (the xorshift runs only when it
            // reaches zero), yet no fixed period that alternating
            // operations could fall in step with.
            thread_local! {
                static LEFT: Cell<u32> = const { Cell::new(1) };
            }
            LEFT.with(|left| {
                let n = left.get() - 1;
                if n != 0 {
                    left.set(n);
                    return None;
                }
                left.set(restart(self.answered_mask));
                Some(now())
            })
        }

        /// Counts a successful answer given without waiting (and times
        /// it, when [`answered_start`](Self::answered_start) gave an
        /// instant); errors go to [`record_error`].
        #[inline(always)]
        pub(super) fn answered(&self, op: Op, outcome: Outcome, start: Option<Instant>) {
            let h = &self.ops[op as usize];
            match outcome {
                Outcome::Miss => h.miss.increment(1),
                Outcome::Hit | Outcome::Ok => h.hit_or_ok.increment(1),
            }
            if let Some(start) = start {
                timed(&h.duration, start);
            }
        }
    }

    /// A countdown's next start, at random from 1 to `2 * mask + 1`: about
    /// `mask + 1` on average.
    #[cold]
    fn restart(mask: u32) -> u32 {
        (next_random() & (2 * mask + 1)).max(1)
    }

    /// The clock, out of line: read for 1 in 64 answered operations.
    #[cold]
    #[inline(never)]
    fn now() -> Instant {
        Instant::now()
    }

    /// Records the time since `start`, out of line like [`now`].
    #[cold]
    #[inline(never)]
    fn timed(histogram: &Histogram, start: Instant) {
        histogram.record(start.elapsed().as_secs_f64());
    }

    /// Operations answered without waiting are timed 1 in this many unless
    /// `sample_latency` says otherwise: a power of two. The clock reads and
    /// the histogram push cost more than such an operation
    /// (docs/observability.md, "What it costs").
    const ANSWERED_SAMPLE: u32 = 64;

    /// Whether to time this operation: `mask` 0 times every one.
    #[inline]
    fn sampled(mask: u32) -> bool {
        mask == 0 || next_random() & mask == 0
    }

    /// A per-thread xorshift: which operations are timed. Random rather
    /// than every n-th, so a thread that alternates operations still gets
    /// each kind sampled.
    #[inline]
    fn next_random() -> u32 {
        thread_local! {
            static STATE: Cell<u32> = const { Cell::new(0x9e37_79b9) };
        }
        STATE.with(|s| {
            let mut x = s.get();
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            s.set(x);
            x
        })
    }

    /// The future of a measured (not traced) operation: the wrapped one,
    /// then a count and a duration. Written by hand rather than as an
    /// `async fn`: smaller, and no state machine around the inner future.
    pub(super) struct Measured<'a, T> {
        work: OpFuture<'a, T>,
        handles: &'a Handles,
        backend: &'a str,
        op: Op,
        outcome: fn(&T) -> Outcome,
        /// When the first poll began (`Some(None)` once it began untimed).
        start: Option<Option<Instant>>,
    }

    impl<T> Future for Measured<'_, T> {
        type Output = Result<T>;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
            // Every field is `Unpin` (the inner future is boxed).
            let this = self.get_mut();
            let start = *this
                .start
                .get_or_insert_with(|| sampled(this.handles.waited_mask).then(Instant::now));
            let result = ready!(this.work.as_mut().poll(cx));
            let elapsed = start.map(|s| s.elapsed());
            match &result {
                Ok(value) => this.handles.record(this.op, (this.outcome)(value), elapsed),
                Err(e) => record_error(this.backend, this.op, error_type(e), elapsed),
            }
            Poll::Ready(result)
        }
    }

    /// Errors are rare and their kinds many: registered when they happen.
    #[cold]
    pub(super) fn record_error(backend: &str, op: Op, kind: String, elapsed: Option<Duration>) {
        metrics::counter!(
            OPERATIONS,
            SYSTEM => backend.to_string(),
            OPERATION => op.name(),
            OUTCOME => "error",
            ERROR_TYPE => kind.clone(),
        )
        .increment(1);
        if let Some(elapsed) = elapsed {
            metrics::histogram!(
                OPERATION_DURATION,
                SYSTEM => backend.to_string(),
                OPERATION => op.name(),
                ERROR_TYPE => kind,
            )
            .record(elapsed.as_secs_f64());
        }
    }
}
