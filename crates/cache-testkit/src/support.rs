//! Small helpers shared by the cases: fresh names, assertions with context,
//! self-checking values, and a future that is dropped after N polls.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cache_abstractions::{DistributedCache, EntryOptions, ErrorKind, Result};
use rand::Rng;

use crate::harness::Harness;
use crate::runner::Outcome;

/// A fresh namespace, so cases never share one by accident.
pub(crate) fn namespace() -> String {
    format!("ck{:012x}:", rand::rng().random::<u64>() & 0xffff_ffff_ffff)
}

/// A fresh key, unique to this case run.
pub(crate) fn key(tag: &str) -> String {
    format!("kit:{:016x}:{tag}", rand::rng().random::<u64>())
}

/// A cache for a fresh namespace.
pub(crate) async fn fresh(h: &dyn Harness) -> Arc<dyn DistributedCache> {
    cache_in(h, &namespace()).await
}

/// A cache for `ns`; a harness that cannot make one fails the case.
pub(crate) async fn cache_in(h: &dyn Harness, ns: &str) -> Arc<dyn DistributedCache> {
    match h.cache(ns).await {
        Ok(c) => c,
        Err(e) => panic!("harness could not make a cache for namespace {ns:?}: {e}"),
    }
}

/// Unwraps an operation's result, failing the case with `what` on error.
#[track_caller]
pub(crate) fn ok<T>(r: Result<T>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e} ({e:?})"),
    }
}

/// Asserts that `r` failed with `kind`.
#[track_caller]
pub(crate) fn fails_with<T: std::fmt::Debug>(r: Result<T>, kind: ErrorKind, what: &str) {
    match r {
        Ok(v) => panic!("{what}: expected an error of kind {kind:?}, got Ok({v:?})"),
        Err(e) => assert_eq!(e.kind(), kind, "{what}: wrong error kind: {e}"),
    }
}

pub(crate) fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

pub(crate) async fn sleep(s: f64) {
    tokio::time::sleep(secs(s)).await;
}

pub(crate) fn expires_in(s: f64) -> EntryOptions {
    EntryOptions::new().expires_in(secs(s))
}

pub(crate) fn sliding(s: f64) -> EntryOptions {
    EntryOptions::new().sliding(secs(s))
}

/// Gets `key` and asserts the value is exactly `want` (or a miss for `None`).
#[track_caller]
pub(crate) fn expect_value(got: Option<Bytes>, want: Option<&[u8]>, what: &str) {
    match (got.as_deref(), want) {
        (None, None) => {}
        (Some(g), Some(w)) if g == w => {}
        (g, w) => panic!("{what}: expected {}, got {}", describe(w), describe(g)),
    }
}

fn describe(v: Option<&[u8]>) -> String {
    match v {
        None => "a miss".into(),
        Some(b) if b.len() <= 32 => match std::str::from_utf8(b) {
            Ok(text) => format!("{text:?}"),
            // Not text: show the bytes, so two different values never print alike.
            Err(_) => format!("b\"{}\"", b.escape_ascii()),
        },
        Some(b) => format!("{} bytes starting {:?}", b.len(), &b[..16]),
    }
}

/// Random bytes of `len`.
pub(crate) fn random_bytes(len: usize) -> Bytes {
    let mut v = vec![0u8; len];
    rand::rng().fill(&mut v[..]);
    Bytes::from(v)
}

/// A value that proves itself whole: a header naming the key slot, writer
/// and sequence, a body derived from them, and the length at both ends.
pub(crate) fn tagged_value(slot: u8, writer: u8, seq: u32, len: usize) -> Bytes {
    let len = len.max(16);
    let mut v = Vec::with_capacity(len);
    v.push(slot);
    v.push(writer);
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(&(len as u32).to_le_bytes());
    let fill = pattern(slot, writer, seq);
    while v.len() < len - 4 {
        v.push(fill.wrapping_add(v.len() as u8));
    }
    v.extend_from_slice(&(len as u32).to_le_bytes());
    Bytes::from(v)
}

fn pattern(slot: u8, writer: u8, seq: u32) -> u8 {
    slot.wrapping_mul(31) ^ writer.wrapping_mul(7) ^ (seq as u8)
}

/// Checks a [`tagged_value`]: whole, and written for `slot`.
pub(crate) fn check_tagged(v: &[u8], slot: u8) -> std::result::Result<(), String> {
    if v.len() < 16 {
        return Err(format!("value of {} bytes is too short", v.len()));
    }
    let len = u32::from_le_bytes([v[6], v[7], v[8], v[9]]) as usize;
    if len != v.len() {
        return Err(format!("header says {len} bytes, value has {}", v.len()));
    }
    if v[0] != slot {
        return Err(format!(
            "value written for key slot {} read from slot {slot}",
            v[0]
        ));
    }
    let seq = u32::from_le_bytes([v[2], v[3], v[4], v[5]]);
    let expected = tagged_value(slot, v[1], seq, len);
    if v != &expected[..] {
        return Err("value is torn or mixed".into());
    }
    Ok(())
}

/// How late a step of a timing case may finish before its verdict means
/// nothing. Every timing check keeps at least 1 s of margin, so a step on
/// time (within this slack) still has half a second to spare.
pub(crate) const SLACK: Duration = Duration::from_millis(500);

/// The kit fell behind its own timeline (an overloaded machine, a stalled
/// runtime): the attempt proves nothing either way and is run again.
#[derive(Debug)]
pub(crate) struct Late(pub(crate) String);

/// What one attempt of a timing case concludes.
pub(crate) type Timed = std::result::Result<Outcome, Late>;

/// A timing case's clock: steps are planned at whole (or half) seconds after
/// the start, slept to as absolute instants (so delays never accumulate),
/// and checked for lateness before their results are judged. A check that
/// ran late could see an entry expire that a correct backend still held, or
/// miss one a broken backend let live too long; either way it is retried,
/// never judged.
pub(crate) struct Timeline {
    start: Instant,
}

impl Timeline {
    /// Starts the clock after one warm-up operation on `cache` (a miss
    /// read of a fresh key, which changes nothing): a backend that connects
    /// lazily logs in there, so its login time (half a second against a
    /// remote SQL Server) never counts against the timeline. Take it just
    /// before the first write of the attempt.
    pub(crate) async fn start(cache: &dyn DistributedCache) -> Self {
        ok(cache.get(&key("warm-up")).await, "warm-up get");
        Timeline {
            start: Instant::now(),
        }
    }

    /// Sleeps until `at` seconds after the start.
    pub(crate) async fn at(&self, at: f64) {
        tokio::time::sleep_until((self.start + secs(at)).into()).await;
    }

    /// Checks that the steps planned for `at` seconds after the start are
    /// done within [`SLACK`]; call it after the steps, before judging them.
    pub(crate) fn on_time(&self, at: f64, what: &str) -> std::result::Result<(), Late> {
        self.within(secs(at) + SLACK, what)
    }

    /// Checks that no more than `limit` has passed since the start.
    pub(crate) fn within(&self, limit: Duration, what: &str) -> std::result::Result<(), Late> {
        let took = self.start.elapsed();
        if took > limit {
            return Err(Late(format!(
                "{what}: done {took:.2?} after the start, planned by {limit:.2?}"
            )));
        }
        Ok(())
    }
}

/// Runs a timing case's attempts until one keeps to its timeline (at most
/// three). Falling behind three times in a row fails the case as
/// inconclusive, saying so: that is the test machine, not the backend.
pub(crate) async fn on_schedule<F, Fut>(mut attempt: F) -> Outcome
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Timed>,
{
    let mut lates = Vec::new();
    for _ in 0..3 {
        match attempt().await {
            Ok(outcome) => return outcome,
            Err(Late(why)) => {
                eprintln!("cache-testkit: fell behind the timeline ({why}); trying again");
                lates.push(why);
            }
        }
    }
    panic!(
        "inconclusive: the kit fell behind its own timeline three times, so the timing \
         checks prove nothing (an overloaded machine? run fewer tests at once): {lates:?}"
    )
}

/// Polls `fut` at most `polls` times, then drops it: a deterministic way to
/// cancel an operation at each of its await points in turn.
pub(crate) struct PollLimit<F> {
    fut: Pin<Box<F>>,
    left: usize,
}

impl<F: Future> PollLimit<F> {
    pub(crate) fn new(fut: F, polls: usize) -> Self {
        PollLimit {
            fut: Box::pin(fut),
            left: polls,
        }
    }
}

impl<F: Future> Future for PollLimit<F> {
    /// `Some` when the inner future finished within the limit.
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        match self.fut.as_mut().poll(cx) {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending if self.left == 0 => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_values_detect_tearing_and_misplacement() {
        let a = tagged_value(1, 2, 3, 100);
        assert!(check_tagged(&a, 1).is_ok());
        assert!(check_tagged(&a, 2).is_err());
        let b = tagged_value(1, 5, 9, 100);
        let mut torn = a.to_vec();
        torn[50..].copy_from_slice(&b[50..]);
        assert!(check_tagged(&torn, 1).is_err());
        assert!(check_tagged(&a[..99], 1).is_err());
    }
}
