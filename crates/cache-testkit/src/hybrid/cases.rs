//! The hybrid kit's cases. Each uses fresh keys and namespaces; waits are
//! generous multiples of the expirations under test, and no case asserts on
//! how long anything took.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use cache_abstractions::{Capabilities, DistributedCache, EntryOptions, Error, ErrorKind, Result};
use futures::FutureExt;
use tokio::sync::Semaphore;

use super::{Factory, HybridHarness, HybridUnderTest, KitSettings};
use crate::harness::Outage;
use crate::runner::Outcome;
use crate::support::{key, namespace};
use cache_hybrid::HybridEntryOptions;

/// The longest any single operation may take before the case calls it a hang.
const HANG: Duration = Duration::from_secs(20);

/// A factory that counts its calls, waits `delay`, then returns `value`.
fn counted(calls: &Arc<AtomicUsize>, value: &'static str, delay: Duration) -> Factory {
    let calls = Arc::clone(calls);
    Box::new(move || {
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            Ok(Bytes::from_static(value.as_bytes()))
        }
        .boxed()
    })
}

/// A factory that counts its calls and fails.
fn failing(calls: &Arc<AtomicUsize>, delay: Duration) -> Factory {
    let calls = Arc::clone(calls);
    Box::new(move || {
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            Err("the upstream is down".into())
        }
        .boxed()
    })
}

/// A factory that must not run.
fn never(what: &'static str) -> Factory {
    Box::new(move || {
        async move { panic!("{what}: the factory ran, but the value should have been cached") }
            .boxed()
    })
}

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(HANG, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {HANG:?} (a hang or a lost wake-up)"),
    }
}

#[track_caller]
fn value(r: Result<cache_hybrid::Fetched<Bytes>>, what: &str) -> cache_hybrid::Fetched<Bytes> {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: unexpected error: {e} ({e:?})"),
    }
}

async fn instance(h: &dyn HybridHarness, ns: &str) -> Arc<dyn HybridUnderTest> {
    h.build(h.tier(ns).await, &KitSettings::default())
}

fn opts() -> HybridEntryOptions {
    HybridEntryOptions::new().expires_in(Duration::from_secs(60))
}

pub(super) async fn single_flight_100_callers_one_factory_call(h: &dyn HybridHarness) -> Outcome {
    let cache = instance(h, &namespace()).await;
    let k = key("stampede");
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (cache, k, f) = (
            Arc::clone(&cache),
            k.clone(),
            counted(&calls, "v1", Duration::from_millis(200)),
        );
        tasks.push(tokio::spawn(async move {
            cache.get_or_create(&k, &opts(), f).await
        }));
    }
    for t in tasks {
        let got = value(
            within("a concurrent caller", t).await.expect("caller task"),
            "concurrent get_or_create",
        );
        assert_eq!(got.value, "v1");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "100 concurrent callers on one key must share exactly 1 factory call"
    );
    Outcome::Passed
}

pub(super) async fn cancelled_leader_waiters_still_get_a_value(h: &dyn HybridHarness) -> Outcome {
    let cache = instance(h, &namespace()).await;
    let k = key("cancel");
    let gate = Arc::new(Semaphore::new(0));
    let entered = Arc::new(Semaphore::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let gated = |gate: &Arc<Semaphore>, entered: &Arc<Semaphore>| -> Factory {
        let (gate, entered, calls) = (Arc::clone(gate), Arc::clone(entered), Arc::clone(&calls));
        Box::new(move || {
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                entered.add_permits(1);
                let _ = gate.acquire().await;
                Ok(Bytes::from_static(b"made"))
            }
            .boxed()
        })
    };
    let leader = {
        let (cache, k, f) = (Arc::clone(&cache), k.clone(), gated(&gate, &entered));
        tokio::spawn(async move { cache.get_or_create(&k, &opts(), f).await })
    };
    // The leader's factory is running; queue the waiters behind it.
    let _ = within("the leader's factory to start", entered.acquire()).await;
    let mut waiters = Vec::new();
    for _ in 0..5 {
        let (cache, k, f) = (Arc::clone(&cache), k.clone(), gated(&gate, &entered));
        waiters.push(tokio::spawn(async move {
            cache.get_or_create(&k, &opts(), f).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    leader.abort();
    assert!(
        leader.await.is_err_and(|e| e.is_cancelled()),
        "the leader should have been cancelled"
    );
    gate.add_permits(1000);
    for w in waiters {
        let got = value(
            within("a waiter after the leader was cancelled", w)
                .await
                .expect("waiter task"),
            "waiter",
        );
        assert_eq!(got.value, "made");
    }
    let n = calls.load(Ordering::SeqCst);
    assert!(
        (1..=2).contains(&n),
        "the factory ran {n} times for one cancelled leader and 5 waiters"
    );
    let again = value(
        within(
            "a later call",
            cache.get_or_create(&k, &opts(), never("after the waiters")),
        )
        .await,
        "later call",
    );
    assert_eq!(again.value, "made");
    Outcome::Passed
}

pub(super) async fn panicking_factory_fails_waiters_then_retries(h: &dyn HybridHarness) -> Outcome {
    let cache = instance(h, &namespace()).await;
    let k = key("panic");
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (cache, k) = (Arc::clone(&cache), k.clone());
        let f: Factory = Box::new(|| {
            async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!("factory blew up (deliberately, in a test)")
            }
            .boxed()
        });
        tasks.push(tokio::spawn(async move {
            cache.get_or_create(&k, &opts(), f).await
        }));
    }
    for t in tasks {
        match within("a caller of a panicking factory", t).await {
            Ok(Err(_)) => {}
            Ok(Ok(v)) => panic!("a panicking factory gave a caller a value: {v:?}"),
            Err(e) => panic!("the panic escaped into the caller's task: {e}"),
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let got = value(
        within(
            "the retry",
            cache.get_or_create(&k, &opts(), counted(&calls, "ok", Duration::ZERO)),
        )
        .await,
        "the call after a panic",
    );
    assert_eq!(got.value, "ok");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the next call must run its factory"
    );
    Outcome::Passed
}

pub(super) async fn factory_error_reaches_waiters_and_is_not_cached(
    h: &dyn HybridHarness,
) -> Outcome {
    let cache = instance(h, &namespace()).await;
    let k = key("error");
    let calls = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (cache, k, f) = (
            Arc::clone(&cache),
            k.clone(),
            failing(&calls, Duration::from_millis(100)),
        );
        tasks.push(tokio::spawn(async move {
            cache.get_or_create(&k, &opts(), f).await
        }));
    }
    for t in tasks {
        let r = within("a caller of a failing factory", t)
            .await
            .expect("caller task");
        let e = r.expect_err("a failing factory gave a caller a value");
        assert!(
            e.to_string().contains("the upstream is down")
                || std::error::Error::source(&e).is_some(),
            "the factory's error should reach the caller: {e}"
        );
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "10 concurrent callers of a failing factory: 1 call"
    );
    assert!(
        cache.get(&k).await.is_ok_and(|v| v.is_none()),
        "a failure must not be cached"
    );
    let ok_calls = Arc::new(AtomicUsize::new(0));
    let got = value(
        cache
            .get_or_create(&k, &opts(), counted(&ok_calls, "ok", Duration::ZERO))
            .await,
        "retry",
    );
    assert_eq!(
        (got.value.as_ref(), ok_calls.load(Ordering::SeqCst)),
        (&b"ok"[..], 1)
    );
    Outcome::Passed
}

pub(super) async fn set_get_remove_round_trip(h: &dyn HybridHarness) -> Outcome {
    let ns = namespace();
    let cache = instance(h, &ns).await;
    let k = key("rt");
    assert!(value_of(cache.get(&k).await).is_none());
    cache
        .set(&k, Bytes::from_static(b"one"), &opts())
        .await
        .expect("set");
    assert_eq!(value_of(cache.get(&k).await).as_deref(), Some(&b"one"[..]));
    if h.tier(&ns).await.is_some() {
        // Another instance sees it through the distributed tier.
        let other = instance(h, &ns).await;
        assert_eq!(value_of(other.get(&k).await).as_deref(), Some(&b"one"[..]));
        other.remove(&k).await.expect("remove");
        assert_eq!(value_of(other.get(&k).await), None);
    }
    cache.remove(&k).await.expect("remove");
    assert_eq!(value_of(cache.get(&k).await), None);
    Outcome::Passed
}

fn value_of(r: Result<Option<cache_hybrid::Fetched<Bytes>>>) -> Option<Bytes> {
    match r {
        Ok(v) => v.map(|f| f.value),
        Err(e) => panic!("get: unexpected error: {e}"),
    }
}

pub(super) async fn tags_invalidate_across_instances(h: &dyn HybridHarness) -> Outcome {
    let ns = namespace();
    let a = instance(h, &ns).await;
    let shared = h.tier(&ns).await.is_some();
    let b = if shared {
        instance(h, &ns).await
    } else {
        Arc::clone(&a)
    };
    let (tagged, untagged) = (key("tagged"), key("untagged"));
    let with_tag = opts().tag("kit-tag").tag("other");
    value(
        a.get_or_create(
            &tagged,
            &with_tag,
            counted(&Arc::default(), "old", Duration::ZERO),
        )
        .await,
        "A creates",
    );
    value(
        a.get_or_create(
            &untagged,
            &opts(),
            counted(&Arc::default(), "keep", Duration::ZERO),
        )
        .await,
        "A creates",
    );
    // B holds its own local copies.
    assert_eq!(
        value(
            b.get_or_create(&tagged, &with_tag, never("B, before"))
                .await,
            "B reads"
        )
        .value,
        "old"
    );
    assert_eq!(
        value(
            b.get_or_create(&untagged, &opts(), never("B, before"))
                .await,
            "B reads"
        )
        .value,
        "keep"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    a.remove_by_tag("kit-tag").await.expect("remove_by_tag");
    // A sees it at once; B within its tag check interval.
    let calls = Arc::new(AtomicUsize::new(0));
    assert_eq!(
        value(
            a.get_or_create(&tagged, &with_tag, counted(&calls, "new", Duration::ZERO))
                .await,
            "A after"
        )
        .value,
        "new",
        "instance A still served an entry removed by tag"
    );
    tokio::time::sleep(KitSettings::default().tag_check_interval * 3).await;
    let fresh = value(
        b.get_or_create(&tagged, &with_tag, counted(&calls, "new-b", Duration::ZERO))
            .await,
        "B after",
    );
    assert_ne!(
        fresh.value, "old",
        "instance B still served an entry removed by tag"
    );
    assert_eq!(
        value(
            b.get_or_create(&untagged, &opts(), never("untagged")).await,
            "B"
        )
        .value,
        "keep",
        "an entry without the tag must survive remove_by_tag"
    );
    Outcome::Passed
}

pub(super) async fn fail_safe_serves_stale_when_factory_fails(h: &dyn HybridHarness) -> Outcome {
    let cache = instance(h, &namespace()).await;
    let (k, plain) = (key("failsafe"), key("no-failsafe"));
    let safe = HybridEntryOptions::new()
        .expires_in(Duration::from_millis(400))
        .fail_safe(Duration::from_secs(60));
    let unsafe_ = HybridEntryOptions::new().expires_in(Duration::from_millis(400));
    value(
        cache
            .get_or_create(&k, &safe, counted(&Arc::default(), "v1", Duration::ZERO))
            .await,
        "create",
    );
    value(
        cache
            .get_or_create(
                &plain,
                &unsafe_,
                counted(&Arc::default(), "v1", Duration::ZERO),
            )
            .await,
        "create",
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let got = value(
        cache
            .get_or_create(&k, &safe, failing(&calls, Duration::ZERO))
            .await,
        "fail-safe read",
    );
    assert_eq!(got.value, "v1");
    assert!(
        got.stale,
        "a value served by fail-safe must say it is stale"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the factory must have been tried"
    );
    assert!(
        cache
            .get_or_create(&plain, &unsafe_, failing(&calls, Duration::ZERO))
            .await
            .is_err(),
        "without fail-safe an expired entry must not be served"
    );
    // A hard timeout is a failure too.
    let slow: Factory = Box::new(|| {
        async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Bytes::new())
        }
        .boxed()
    });
    let got = value(
        cache
            .get_or_create(
                &k,
                &safe.clone().hard_timeout(Duration::from_millis(100)),
                slow,
            )
            .await,
        "hard timeout",
    );
    assert!(got.stale && got.value == "v1");
    // Then with the distributed tier down as well (a real outage when the
    // harness has one).
    let Some((cache, mut down)) = downable(h).await else {
        return Outcome::Passed;
    };
    value(
        cache
            .get_or_create(&k, &safe, counted(&Arc::default(), "v2", Duration::ZERO))
            .await,
        "create",
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    down.stop().await;
    let got = value(
        within(
            "fail-safe with the tier down",
            cache.get_or_create(&k, &safe, failing(&calls, Duration::ZERO)),
        )
        .await,
        "tier down, factory failing",
    );
    down.start().await;
    assert!(
        got.stale && got.value == "v2",
        "fail-safe with the tier down: {got:?}"
    );
    Outcome::Passed
}

/// A distributed tier the case can take down: the harness's real outage,
/// or a simulated one.
enum Down {
    Real(Box<dyn Outage>),
    Simulated(Arc<Flaky>),
}

impl Down {
    async fn stop(&mut self) {
        match self {
            Down::Real(o) => o.stop().await,
            Down::Simulated(f) => f.down.store(true, Ordering::SeqCst),
        }
    }

    async fn start(&mut self) {
        match self {
            Down::Real(o) => o.start().await,
            Down::Simulated(f) => f.down.store(false, Ordering::SeqCst),
        }
    }
}

/// A cache under test over a tier that can be taken down; `None` when
/// local only.
async fn downable(h: &dyn HybridHarness) -> Option<(Arc<dyn HybridUnderTest>, Down)> {
    if let Some(o) = h.outage().await {
        return Some((
            h.build(Some(o.cache()), &KitSettings::default()),
            Down::Real(o),
        ));
    }
    let flaky = Arc::new(Flaky::new(h.tier(&namespace()).await?));
    let cache = h.build(Some(flaky.clone()), &KitSettings::default());
    Some((cache, Down::Simulated(flaky)))
}

pub(super) async fn tier_down_never_fails_get_or_create(h: &dyn HybridHarness) -> Outcome {
    let Some((cache, mut down)) = downable(h).await else {
        return Outcome::Skipped("local only: there is no distributed tier to take down".into());
    };
    down.stop().await;
    let k = key("down");
    let calls = Arc::new(AtomicUsize::new(0));
    let got = value(
        within(
            "get_or_create with the tier down",
            cache.get_or_create(&k, &opts(), counted(&calls, "v", Duration::ZERO)),
        )
        .await,
        "get_or_create with the distributed tier down",
    );
    assert_eq!(got.value, "v");
    let again = value(
        within(
            "again",
            cache.get_or_create(&k, &opts(), never("tier down, local copy")),
        )
        .await,
        "local copy",
    );
    assert_eq!(again.value, "v");
    let tagged = value(
        within(
            "tagged",
            cache.get_or_create(
                &key("down-tag"),
                &opts().tag("t"),
                counted(&calls, "t", Duration::ZERO),
            ),
        )
        .await,
        "a tagged entry with the tier down",
    );
    assert_eq!(tagged.value, "t");
    down.start().await;
    Outcome::Passed
}

pub(super) async fn local_never_outlives_distributed(h: &dyn HybridHarness) -> Outcome {
    let cache = instance(h, &namespace()).await;
    let k = key("local-cap");
    let options = HybridEntryOptions::new()
        .expires_in(Duration::from_millis(600))
        .local_expiration(Duration::from_secs(3600));
    value(
        cache
            .get_or_create(
                &k,
                &options,
                counted(&Arc::default(), "old", Duration::ZERO),
            )
            .await,
        "create",
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let got = value(
        cache
            .get_or_create(&k, &options, counted(&calls, "new", Duration::ZERO))
            .await,
        "after expiry",
    );
    assert_eq!(
        got.value, "new",
        "the local copy outlived the distributed expiration"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(value_of(cache.get(&k).await).is_some_and(|v| v == "new"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        value_of(cache.get(&k).await),
        None,
        "get returned a value past its expiration"
    );
    Outcome::Passed
}

pub(super) async fn sliding_expiration_is_honoured(h: &dyn HybridHarness) -> Outcome {
    let cache = instance(h, &namespace()).await;
    let k = key("sliding");
    let options = HybridEntryOptions::new().sliding(Duration::from_millis(1200));
    let calls = Arc::new(AtomicUsize::new(0));
    value(
        cache
            .get_or_create(&k, &options, counted(&calls, "v", Duration::ZERO))
            .await,
        "create",
    );
    // Read every 300 ms for 3.6 s: three windows, never idle for one.
    for i in 0..12 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = value(
            cache
                .get_or_create(&k, &options, counted(&calls, "again", Duration::ZERO))
                .await,
            "read",
        );
        assert_eq!(
            got.value, "v",
            "read {i}: a sliding entry read every 300 ms expired (window 1.2 s)"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let got = value(
        cache
            .get_or_create(&k, &options, counted(&calls, "fresh", Duration::ZERO))
            .await,
        "after idle",
    );
    assert_eq!(
        got.value, "fresh",
        "a sliding entry idle for twice its window was still served"
    );
    Outcome::Passed
}

pub(super) async fn foreign_or_corrupt_payload_is_a_miss(h: &dyn HybridHarness) -> Outcome {
    let ns = namespace();
    let Some(tier) = h.tier(&ns).await else {
        return Outcome::Skipped("local only: nothing foreign can reach the local tier".into());
    };
    let writer = instance(h, &ns).await;
    let model = key("model");
    writer
        .set(&model, Bytes::from_static(b"genuine"), &opts())
        .await
        .expect("set");
    let genuine = tier
        .get(&model)
        .await
        .expect("tier get")
        .expect("the hybrid wrote the tier");
    let mut variants: Vec<(&str, Bytes)> = vec![
        (
            "plain text, as ASP.NET Core's SetString writes",
            Bytes::from_static(b"hello from .NET"),
        ),
        ("JSON", Bytes::from_static(b"{\"name\":\"x\"}")),
        ("empty", Bytes::new()),
        ("truncated header", genuine.slice(..genuine.len().min(10))),
    ];
    let mut flipped = genuine.to_vec();
    if let Some(last) = flipped.last_mut() {
        *last ^= 0x01; // the value's last byte: "genuinf"
    }
    variants.push(("one bit flipped in the value", Bytes::from(flipped)));
    let mut version = genuine.to_vec();
    if version.len() > 2 {
        version[2] = version[2].wrapping_add(1);
    }
    variants.push(("another format version", Bytes::from(version)));
    for (what, bytes) in variants {
        let k = key("foreign");
        tier.set(
            &k,
            bytes,
            &EntryOptions::new().expires_in(Duration::from_secs(60)),
        )
        .await
        .expect("write foreign");
        // A fresh instance: nothing local.
        let reader = instance(h, &ns).await;
        assert_eq!(
            value_of(reader.get(&k).await),
            None,
            "{what}: get returned something"
        );
        let calls = Arc::new(AtomicUsize::new(0));
        let got = value(
            reader
                .get_or_create(&k, &opts(), counted(&calls, "mine", Duration::ZERO))
                .await,
            what,
        );
        assert_eq!(
            got.value, "mine",
            "{what}: get_or_create returned the foreign value"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "{what}: the factory should have run"
        );
        // Overwritten: another fresh instance reads the new value from the tier.
        let third = instance(h, &ns).await;
        assert_eq!(
            value_of(third.get(&k).await).as_deref(),
            Some(&b"mine"[..]),
            "{what}: not overwritten"
        );
    }
    Outcome::Passed
}

/// A distributed tier that fails every call while `down`.
#[derive(Debug)]
pub(crate) struct Flaky {
    inner: Arc<dyn DistributedCache>,
    pub(crate) down: AtomicBool,
}

impl Flaky {
    pub(crate) fn new(inner: Arc<dyn DistributedCache>) -> Self {
        Flaky {
            inner,
            down: AtomicBool::new(false),
        }
    }

    fn check(&self) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(Error::new(
                ErrorKind::Connection,
                "the distributed tier is down (simulated)",
            ))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl DistributedCache for Flaky {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.check()?;
        self.inner.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        self.check()?;
        self.inner.set(key, value, options).await
    }
    async fn refresh(&self, key: &str) -> Result<()> {
        self.check()?;
        self.inner.refresh(key).await
    }
    async fn remove(&self, key: &str) -> Result<()> {
        self.check()?;
        self.inner.remove(key).await
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}
