//! Backplane scenarios shared by every transport's tests: three instances
//! over one distributed tier and one backplane.

#![allow(dead_code)] // each test crate uses a part

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_abstractions::DistributedCache;
use cache_hybrid::{Backplane, HybridCache, HybridEntryOptions};

/// How long a change may take to reach the others before a test fails: far
/// above the expected milliseconds, so a loaded machine does not fail it,
/// and far below the local expirations, so a missing backplane does.
pub const PROPAGATION_BOUND: Duration = Duration::from_secs(10);

/// An instance whose local copies would live for an hour and whose tag
/// instants would be trusted for an hour without a backplane: only the
/// backplane can make it see a change in a test's time.
pub fn instance(
    tier: Arc<dyn DistributedCache>,
    backplane: Arc<dyn Backplane>,
    outage: Duration,
) -> HybridCache {
    HybridCache::builder()
        .distributed(tier)
        .backplane(backplane)
        .default_local_expiration(Duration::from_secs(3600))
        .tag_check_interval(Duration::from_secs(3600))
        .outage_local_expiration(outage)
        .build()
        .expect("valid settings, within a runtime")
}

/// Polls `check` until it holds or `within` passes; whether it held.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits until every instance has connected `times` times in all.
pub async fn connected(caches: &[&HybridCache], times: u64) {
    let all = || async { caches.iter().all(|c| c.stats().backplane_connects >= times) };
    assert!(
        eventually(PROPAGATION_BOUND, all).await,
        "the backplane did not (re)connect"
    );
}

pub async fn value(cache: &HybridCache, key: &str) -> Option<String> {
    cache
        .get::<String>(key)
        .await
        .expect("get")
        .map(|f| f.value)
}

/// Stores `key` = `v` in `a`'s distributed tier (through a cache without
/// a backplane, so no message is in flight afterwards) and makes `others`
/// hold it locally.
pub async fn seed(a: &HybridCache, others: &[&HybridCache], key: &str, v: &str, tag: &str) {
    seed_with(a, others, key, v, tag, false).await;
}

/// [`seed`]; with `tracked` (server-assisted invalidation), the seeding
/// write's own invalidation reaches the others at some point, so each is
/// polled until it holds `v` locally.
pub async fn seed_with(
    a: &HybridCache,
    others: &[&HybridCache],
    key: &str,
    v: &str,
    tag: &str,
    tracked: bool,
) {
    let options = HybridEntryOptions::new()
        .expires_in(Duration::from_secs(3600))
        .tag(tag);
    let quiet = HybridCache::new(Arc::clone(a.distributed().expect("a distributed tier")));
    quiet.set(key, v, &options).await.expect("set");
    if tracked {
        for o in others {
            assert!(eventually(PROPAGATION_BOUND, || held_locally(o, key, v)).await);
        }
        return;
    }
    for o in others {
        assert_eq!(value(o, key).await.as_deref(), Some(v));
        // Now a local hit: without a backplane it would stay for an hour.
        let local = o.get::<String>(key).await.unwrap().unwrap();
        assert_eq!(local.source, cache_hybrid::Source::Local);
    }
}

/// Whether `o` answers `v` from its local tier (a read that misses fills it).
pub async fn held_locally(o: &HybridCache, key: &str, v: &str) -> bool {
    let read = o.get::<String>(key).await.expect("get");
    read.is_some_and(|f| f.value == v && f.source == cache_hybrid::Source::Local)
}

/// set, remove and remove_by_tag on `a` reach `b` and `c`.
pub async fn changes_reach_the_others(a: &HybridCache, b: &HybridCache, c: &HybridCache) {
    changes_reach(a, b, c, false).await;
    // An instance ignores its own messages: they are not counted as applied.
    assert_eq!(a.stats().backplane_messages, 0);
}

/// [`changes_reach_the_others`]; `tracked`: the instances also hear the
/// server's invalidations (their own writes' included).
pub async fn changes_reach(a: &HybridCache, b: &HybridCache, c: &HybridCache, tracked: bool) {
    connected(&[a, b, c], 1).await;
    let others = [b, c];

    seed_with(a, &others, "bp:set", "old", "t-set", tracked).await;
    a.set("bp:set", "new", &HybridEntryOptions::new())
        .await
        .unwrap();
    for o in others {
        let fresh = || async { value(o, "bp:set").await.as_deref() == Some("new") };
        assert!(
            eventually(PROPAGATION_BOUND, fresh).await,
            "set did not reach"
        );
    }

    seed_with(a, &others, "bp:remove", "old", "t-remove", tracked).await;
    a.remove("bp:remove").await.unwrap();
    for o in others {
        let gone = || async { value(o, "bp:remove").await.is_none() };
        assert!(
            eventually(PROPAGATION_BOUND, gone).await,
            "remove did not reach"
        );
    }

    seed_with(a, &others, "bp:tagged", "old", "t-tag", tracked).await;
    a.remove_by_tag("t-tag").await.unwrap();
    for o in others {
        let gone = || async { value(o, "bp:tagged").await.is_none() };
        assert!(
            eventually(PROPAGATION_BOUND, gone).await,
            "remove_by_tag did not reach"
        );
    }

    seed_with(a, &others, "bp:all", "old", "t-all", tracked).await;
    // Behind the caches' back: only clear_local_everywhere makes them re-read.
    a.distributed().unwrap().remove("bp:all").await.unwrap();
    a.clear_local_everywhere();
    for o in others {
        let gone = || async { value(o, "bp:all").await.is_none() };
        assert!(
            eventually(PROPAGATION_BOUND, gone).await,
            "clear_local_everywhere did not reach"
        );
    }
}
