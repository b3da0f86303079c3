//! Expiry without sleeping: a [`ManualClock`] moves time by hand.

use std::time::Duration;

use super::*;
use cache_abstractions::{Clock, ErrorKind, ManualClock};

/// On a whole second, so the checks below land exactly on deadlines (the
/// cache keeps instants in microseconds, rounding deadlines up).
fn cache_with_clock() -> (MemoryCache, ManualClock) {
    let clock = ManualClock::new(std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let cache = MemoryCache::builder()
        .clock(Arc::new(clock.clone()))
        .reap_interval(None)
        .build()
        .unwrap();
    (cache, clock)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[tokio::test]
async fn absolute_expiry_follows_the_clock() {
    let (cache, clock) = cache_with_clock();
    let opts = EntryOptions::new().expires_in(secs(10));
    cache.set("k", "v".into(), &opts).await.unwrap();
    clock.advance(secs(9));
    assert!(cache.get("k").await.unwrap().is_some());
    clock.advance(secs(1));
    assert!(cache.get("k").await.unwrap().is_none());
}

#[tokio::test]
async fn sliding_reads_extend_until_the_absolute_cap() {
    let (cache, clock) = cache_with_clock();
    let opts = EntryOptions::new().sliding(secs(10)).expires_in(secs(25));
    cache.set("k", "v".into(), &opts).await.unwrap();
    for _ in 0..2 {
        clock.advance(secs(9));
        assert!(cache.get("k").await.unwrap().is_some());
    }
    clock.advance(secs(6)); // t = 24: window would reach 28, cap is 25
    cache.refresh("k").await.unwrap();
    clock.advance(secs(1)); // t = 25
    assert!(cache.get("k").await.unwrap().is_none());
}

#[tokio::test]
async fn idle_sliding_entry_expires_and_refresh_does_not_revive() {
    let (cache, clock) = cache_with_clock();
    cache
        .set("k", "v".into(), &EntryOptions::new().sliding(secs(5)))
        .await
        .unwrap();
    clock.advance(secs(5));
    cache.refresh("k").await.unwrap();
    assert!(cache.get("k").await.unwrap().is_none());
}

#[tokio::test]
async fn inspect_does_not_slide() {
    let (cache, clock) = cache_with_clock();
    let start = clock.now();
    cache
        .set("k", "value".into(), &EntryOptions::new().sliding(secs(5)))
        .await
        .unwrap();
    clock.advance(secs(4));
    let info = cache.inspect("k").await.unwrap().unwrap();
    assert_eq!(info.size, 5);
    assert_eq!(info.sliding_expiration, Some(secs(5)));
    assert_eq!(info.expires_at, Some(start + secs(5)));
    clock.advance(secs(1));
    assert!(cache.inspect("k").await.unwrap().is_none());
}

#[tokio::test]
async fn size_limit_evicts_and_rejects_oversized_values() {
    let cache = MemoryCache::builder()
        .capacity_bytes(64 * 1024)
        .reap_interval(None)
        .build()
        .unwrap();
    let big = Bytes::from(vec![0u8; 128 * 1024]);
    let err = cache
        .set("big", big, &EntryOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    for i in 0..200 {
        let v = Bytes::from(vec![1u8; 1024]);
        cache
            .set(&format!("k{i}"), v, &EntryOptions::new())
            .await
            .unwrap();
    }
    cache.run_pending_tasks();
    assert!(
        cache.weighted_size() <= 64 * 1024,
        "{}",
        cache.weighted_size()
    );
    assert!(cache.entry_count() < 200);
    // Every entry set and no longer held was evicted for room (nothing
    // expired or was removed), and the refused one never entered.
    assert_eq!(cache.evictions(), 200 - cache.entry_count());
    // Removals and expiry sweeps are not evictions.
    let before = cache.evictions();
    for i in 0..200 {
        cache.remove(&format!("k{i}")).await.unwrap();
    }
    cache.run_pending_tasks();
    assert_eq!((cache.evictions(), cache.entry_count()), (before, 0));
}

#[tokio::test]
async fn expired_entries_are_reclaimed_without_reads() {
    let cache = MemoryCache::builder()
        .reap_interval(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    let opts = EntryOptions::new().expires_in(Duration::from_millis(100));
    for i in 0..1000 {
        cache
            .set(&format!("k{i}"), "v".into(), &opts)
            .await
            .unwrap();
    }
    cache.run_pending_tasks();
    assert_eq!(cache.entry_count(), 1000);
    // No reads or writes happen meanwhile: only the reaper can reclaim them.
    for _ in 0..50 {
        if cache.entry_count() == 0 {
            assert_eq!(cache.weighted_size(), 0);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "dead entries were not reclaimed: {} left",
        cache.entry_count()
    );
}

#[tokio::test]
async fn reaper_thread_ends_with_the_cache() {
    let count = || {
        std::fs::read_dir("/proc/self/task")
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = count();
    let caches: Vec<MemoryCache> = (0..20).map(|_| MemoryCache::new()).collect();
    assert!(count() >= before + 20);
    drop(caches);
    for _ in 0..100 {
        if count() <= before {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!(
        "reaper threads outlived their caches: {} > {before}",
        count()
    );
}

#[test]
fn weight_saturates() {
    assert_eq!(weight(usize::MAX, usize::MAX), u64::MAX);
    assert_eq!(weight(3, 5), 3 + 5 + ENTRY_OVERHEAD);
}

#[tokio::test]
async fn entry_that_cannot_fit_with_its_key_is_rejected_not_dropped() {
    // The value alone fits (the declared max_value_size), but key + value +
    // overhead is over the largest entry: the store would drop it at once,
    // so `set` must say so instead of succeeding and losing the entry
    // (rule 1).
    let cache = MemoryCache::builder()
        .capacity_bytes(ENTRY_OVERHEAD + 200)
        .reap_interval(None)
        .build()
        .unwrap();
    let max = cache.capabilities().max_value_size.unwrap();
    assert_eq!(max as u64 + ENTRY_OVERHEAD, cache.inner.store.max_weight());
    let value = Bytes::from(vec![7u8; max]);
    let err = cache
        .set("key", value.clone(), &EntryOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    // Exactly at the limit is stored and read back, also over an earlier entry.
    let fits = value.slice(..max - 3);
    for _ in 0..2 {
        cache
            .set("key", fits.clone(), &EntryOptions::new())
            .await
            .unwrap();
        assert_eq!(cache.get("key").await.unwrap(), Some(fits.clone()));
    }
}

#[tokio::test]
async fn the_default_cache_takes_a_16_mib_value() {
    let cache = MemoryCache::builder().reap_interval(None).build().unwrap();
    let value = Bytes::from(vec![1u8; 16 << 20]);
    cache
        .set("k", value.clone(), &EntryOptions::new())
        .await
        .unwrap();
    assert_eq!(cache.get("k").await.unwrap(), Some(value));
}

#[tokio::test]
async fn clear_and_sweep_drop_entries_and_their_weight() {
    let (cache, clock) = cache_with_clock();
    let short = EntryOptions::new().expires_in(secs(5));
    let sliding = EntryOptions::new().sliding(secs(5));
    for i in 0..100 {
        let opts = match i % 3 {
            0 => &short,
            1 => &sliding,
            _ => &EntryOptions::new(),
        };
        cache.set(&format!("k{i}"), "v".into(), opts).await.unwrap();
    }
    assert_eq!(cache.entry_count(), 100);
    clock.advance(secs(4));
    cache.refresh("k1").await.unwrap();
    clock.advance(secs(1));
    cache.run_pending_tasks();
    // The 33 never-expiring entries, and the one sliding entry refreshed.
    assert_eq!(cache.entry_count(), 34);
    let kept: u64 = (0..100)
        .filter(|i| i % 3 == 2 || *i == 1)
        .map(|i| weight(format!("k{i}").len(), 1))
        .sum();
    assert_eq!(cache.weighted_size(), kept);
    assert!(cache.get("k1").await.unwrap().is_some());
    cache.clear();
    assert_eq!((cache.entry_count(), cache.weighted_size()), (0, 0));
    assert!(cache.get("k2").await.unwrap().is_none());
    // Still usable.
    cache.set("k2", "v".into(), &short).await.unwrap();
    assert!(cache.get("k2").await.unwrap().is_some());
    assert!(clock.now() > std::time::UNIX_EPOCH);
}

/// Issue 10, item 1: an absolute expiration after year 2554 (where a u64 of
/// nanoseconds ends) is kept and reported, not turned into "none".
#[tokio::test]
async fn expirations_up_to_year_9999_are_kept() {
    let cache = MemoryCache::new();
    let year_3000 = std::time::UNIX_EPOCH + secs(32_503_680_000);
    let latest = cache_abstractions::max_absolute_expiration();
    for at in [year_3000, latest] {
        let opts = EntryOptions::new().expires_at(at);
        cache.set("k", "v".into(), &opts).await.unwrap();
        let info = cache.inspect("k").await.unwrap().unwrap();
        assert_eq!(info.absolute_expiration, Some(at));
        assert_eq!(info.expires_at, Some(at));
        assert!(cache.get("k").await.unwrap().is_some());
    }
    // A sliding window from such an entry is capped by it, not "never".
    let opts = EntryOptions::new()
        .expires_at(year_3000)
        .sliding(cache_abstractions::MAX_SLIDING_EXPIRATION);
    cache.set("s", "v".into(), &opts).await.unwrap();
    let info = cache.inspect("s").await.unwrap().unwrap();
    assert!(info.expires_at.is_some_and(|t| t <= year_3000), "{info:?}");
}

/// Issue 10, item 6: a dead entry is evicted by the next access, not left
/// holding its memory while misses of it keep coming.
#[tokio::test]
async fn a_dead_entry_is_evicted_by_the_next_access() {
    let (cache, clock) = cache_with_clock();
    let opts = EntryOptions::new().sliding(secs(3600));
    for i in 0..100 {
        cache
            .set(&format!("k{i}"), "v".into(), &opts)
            .await
            .unwrap();
        cache.inspect(&format!("k{i}")).await.unwrap();
    }
    assert_eq!(cache.entry_count(), 100);
    clock.advance(secs(7200));
    for round in 0..3 {
        for i in 0..100 {
            assert_eq!(
                cache.get(&format!("k{i}")).await.unwrap(),
                None,
                "round {round}"
            );
        }
    }
    // No sweep ran (no reaper, no run_pending_tasks): the reads evicted them.
    assert_eq!(cache.entry_count(), 0, "dead entries still held");
}

#[tokio::test]
async fn get_sync_at_judges_and_slides_at_the_given_instant() {
    let (cache, clock) = cache_with_clock();
    let opts = EntryOptions::new().sliding(secs(10));
    cache.set("k", "v".into(), &opts).await.unwrap();
    let t0 = clock.now();
    // Judged at the given instant, not the clock's (which stays at t0).
    assert!(cache.get_sync_at("k", t0 + secs(9)).unwrap().is_some());
    // That read restarted the window at t0 + 9: alive until t0 + 19.
    assert!(cache.get_sync_at("k", t0 + secs(18)).unwrap().is_some());
    assert!(cache.get_sync_at("k", t0 + secs(29)).unwrap().is_none());
    // A dead-at-that-instant read never removes an entry the clock still
    // sees alive (only the clock's own judgement evicts).
    clock.advance(secs(1));
    assert!(cache.get("k").await.unwrap().is_some());
    assert_eq!(
        cache.get_sync_at("", t0).unwrap_err().kind(),
        ErrorKind::InvalidKey
    );
}
