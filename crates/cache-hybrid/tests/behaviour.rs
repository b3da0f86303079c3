//! HybridCache behaviour beyond the kit: the typed API, soft timeouts,
//! eager refresh, flags, validation, the invalidation hook, counters and
//! compression. The distributed tier is a cache-memory instance.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_abstractions::{DistributedCache, ErrorKind};
use cache_hybrid::{FactoryError, Flags, HybridCache, HybridEntryOptions, Invalidation, Source};
use cache_memory::MemoryCache;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Product {
    id: u64,
    name: String,
}

fn pair() -> (HybridCache, HybridCache, Arc<MemoryCache>) {
    let tier = Arc::new(MemoryCache::new());
    (
        HybridCache::new(tier.clone()),
        HybridCache::new(tier.clone()),
        tier,
    )
}

fn teapot() -> Product {
    Product {
        id: 7,
        name: "teapot".into(),
    }
}

#[tokio::test]
async fn typed_values_round_trip_and_other_types_are_misses() {
    let (a, b, _) = pair();
    let opts = HybridEntryOptions::new();
    let made = a
        .get_or_create("p:7", &opts, || async { Ok::<_, std::io::Error>(teapot()) })
        .await
        .unwrap();
    assert_eq!(
        (made.value, made.source, made.stale),
        (teapot(), Source::Factory, false)
    );
    let local = a.get::<Product>("p:7").await.unwrap().unwrap();
    assert_eq!((local.value, local.source), (teapot(), Source::Local));
    let shared = b.get::<Product>("p:7").await.unwrap().unwrap();
    assert_eq!(
        (shared.value, shared.source),
        (teapot(), Source::Distributed)
    );
    // Another type under the key, or the bytes API: a miss, never a wrong value.
    assert!(a.get::<u64>("p:7").await.unwrap().is_none());
    assert!(b.get_bytes("p:7").await.unwrap().is_none());
}

#[tokio::test]
async fn the_factorys_error_is_the_source() {
    let cache = HybridCache::local_only();
    let err = cache
        .get_or_create::<u32, _, _, _>("k", &HybridEntryOptions::new(), || async {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such product",
            ))
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend);
    let source = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<FactoryError>())
        .expect("FactoryError source");
    assert_eq!(source.to_string(), "no such product");
    assert!(source.inner().downcast_ref::<std::io::Error>().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_timeout_serves_stale_and_the_factory_finishes_in_the_background() {
    let (cache, _, _) = pair();
    let opts = HybridEntryOptions::new()
        .expires_in(Duration::from_millis(1000))
        .fail_safe(Duration::from_secs(60))
        .soft_timeout(Duration::from_millis(100));
    cache
        .get_or_create("k", &opts, || async { Ok::<_, std::io::Error>(1u32) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let slow = cache
        .get_or_create("k", &opts, || async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok::<_, std::io::Error>(2u32)
        })
        .await
        .unwrap();
    assert_eq!(
        (slow.value, slow.stale),
        (1, true),
        "the stale value after the soft timeout"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let later = cache
        .get_or_create("k", &opts, || async { Ok::<_, std::io::Error>(3u32) })
        .await
        .unwrap();
    assert_eq!(
        (later.value, later.stale),
        (2, false),
        "the background factory's value"
    );
    assert_eq!(cache.stats().factory_calls, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_refresh_replaces_the_value_before_it_expires() {
    let (cache, _, _) = pair();
    let opts = HybridEntryOptions::new()
        .expires_in(Duration::from_millis(1500))
        .eager_refresh(0.3);
    cache
        .get_or_create("k", &opts, || async { Ok::<_, std::io::Error>(1u32) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let hit = cache
        .get_or_create("k", &opts, || async { Ok::<_, std::io::Error>(2u32) })
        .await
        .unwrap();
    assert_eq!(
        (hit.value, hit.source),
        (1, Source::Local),
        "eager refresh never makes the caller wait"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refreshed = cache
        .get_or_create("k", &opts, || async { Ok::<_, std::io::Error>(3u32) })
        .await
        .unwrap();
    assert_eq!((refreshed.value, refreshed.source), (2, Source::Local));
    assert_eq!(cache.stats().factory_calls, 2);
}

#[tokio::test]
async fn flags_skip_tiers() {
    let (a, b, tier) = pair();
    let local_only = HybridEntryOptions::new().flags(Flags::default().local_only());
    a.set("only-here", &1u32, &local_only).await.unwrap();
    assert!(tier.get("only-here").await.unwrap().is_none());
    assert!(b.get::<u32>("only-here").await.unwrap().is_none());
    assert_eq!(a.get::<u32>("only-here").await.unwrap().unwrap().value, 1);

    let no_local = HybridEntryOptions::new().flags(Flags::default().without_local_write());
    a.set("shared-only", &2u32, &no_local).await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let got = a
        .get_or_create("shared-only", &no_local, move || async move {
            c.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(9u32)
        })
        .await
        .unwrap();
    assert_eq!((got.value, got.source), (2, Source::Distributed));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn bad_keys_and_options_are_rejected_before_any_work() {
    let cache = HybridCache::local_only();
    let err = cache
        .get_or_create("", &HybridEntryOptions::new(), || async {
            Ok::<_, std::io::Error>(1u8)
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    let bad = HybridEntryOptions::new().sliding(Duration::ZERO);
    let err = cache.set("k", &1u8, &bad).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidOptions, Some("sliding_expiration"))
    );
    let err = cache.remove_by_tag("").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOptions);
}

#[tokio::test]
async fn the_invalidation_hook_hears_every_change() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    let cache = HybridCache::builder()
        .on_invalidation(Arc::new(move |what: Invalidation<'_>| {
            let entry = match what {
                Invalidation::Key(k) => format!("key {k}"),
                Invalidation::Tag(t, _) => format!("tag {t}"),
                _ => "other".into(),
            };
            log.lock().unwrap().push(entry);
        }))
        .build()
        .unwrap();
    cache
        .set("a", &1u8, &HybridEntryOptions::new())
        .await
        .unwrap();
    cache.remove("a").await.unwrap();
    cache.remove_by_tag("t").await.unwrap();
    assert_eq!(*heard.lock().unwrap(), ["key a", "key a", "tag t"]);
}

#[tokio::test]
async fn counters_follow_the_tiers() {
    let (a, b, _) = pair();
    let opts = HybridEntryOptions::new();
    a.get_or_create("k", &opts, || async { Ok::<_, std::io::Error>(1u8) })
        .await
        .unwrap();
    a.get_or_create("k", &opts, || async { Ok::<_, std::io::Error>(1u8) })
        .await
        .unwrap();
    b.get_or_create("k", &opts, || async { Ok::<_, std::io::Error>(1u8) })
        .await
        .unwrap();
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(
        (sa.factory_calls, sa.local_hits, sa.distributed_hits),
        (1, 1, 0)
    );
    assert_eq!(
        (sb.factory_calls, sb.local_hits, sb.distributed_hits),
        (0, 0, 1)
    );
    // a: the first call missed both tiers; b: only the local one.
    assert_eq!((sa.local_misses, sa.distributed_misses), (1, 1));
    assert_eq!((sb.local_misses, sb.distributed_misses), (1, 0));
    // Plain gets count the same way: a miss of both tiers, then a hit.
    assert!(b.get::<u8>("absent").await.unwrap().is_none());
    assert_eq!(b.get::<u8>("k").await.unwrap().map(|f| f.value), Some(1));
    let sb = b.stats();
    assert_eq!(
        (sb.local_hits, sb.local_misses, sb.distributed_misses),
        (1, 2, 1)
    );
}

#[cfg(feature = "lz4")]
#[tokio::test]
async fn large_values_are_compressed_in_the_distributed_tier() {
    let (a, b, tier) = pair();
    let big = "x".repeat(64 * 1024);
    a.set("big", &big, &HybridEntryOptions::new())
        .await
        .unwrap();
    let stored = tier.get("big").await.unwrap().unwrap();
    assert!(
        stored.len() < big.len() / 4,
        "stored {} bytes",
        stored.len()
    );
    assert_eq!(stored[3] & 0x80, 0x80, "the compression flag");
    assert_eq!(b.get::<String>("big").await.unwrap().unwrap().value, big);
}

#[cfg(feature = "postcard")]
#[tokio::test]
async fn postcard_and_json_payloads_never_mix() {
    let tier = Arc::new(MemoryCache::new());
    let json = HybridCache::new(tier.clone());
    let compact = HybridCache::builder()
        .distributed(tier.clone())
        .codec(cache_hybrid::Codec::Postcard)
        .build()
        .unwrap();
    compact
        .set("p", &teapot(), &HybridEntryOptions::new())
        .await
        .unwrap();
    assert_eq!(
        compact.get::<Product>("p").await.unwrap().unwrap().value,
        teapot()
    );
    assert!(
        json.get::<Product>("p").await.unwrap().is_none(),
        "a postcard payload read as JSON"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_invalidated_while_the_factory_runs_invalidates_its_value() {
    let cache = HybridCache::local_only();
    let opts = HybridEntryOptions::new().tag("t");
    let (c, o) = (cache.clone(), opts.clone());
    let first = tokio::spawn(async move {
        c.get_or_create("k", &o, || async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok::<_, std::io::Error>(1u32) // read before the invalidation
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    cache.remove_by_tag("t").await.unwrap();
    assert_eq!(first.await.unwrap().unwrap().value, 1, "its callers get it");
    let next = cache
        .get_or_create("k", &opts, || async { Ok::<_, std::io::Error>(2u32) })
        .await
        .unwrap();
    assert_eq!(
        next.value, 2,
        "a value computed across remove_by_tag must not be served after it"
    );
}

#[tokio::test]
async fn a_backplane_can_evict_another_instances_copies_at_once() {
    let tier = Arc::new(MemoryCache::new());
    let heard = Arc::new(Mutex::new(
        Vec::<(Option<String>, Option<(String, u64)>)>::new(),
    ));
    let log = heard.clone();
    let a = HybridCache::builder()
        .distributed(tier.clone())
        .on_invalidation(Arc::new(move |what: Invalidation<'_>| {
            let entry = match what {
                Invalidation::Key(k) => (Some(k.to_owned()), None),
                Invalidation::Tag(t, at) => (None, Some((t.to_owned(), at))),
                _ => (None, None),
            };
            log.lock().unwrap().push(entry);
        }))
        .tag_check_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let b = HybridCache::builder()
        .distributed(tier)
        .tag_check_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let opts = HybridEntryOptions::new().tag("t");
    a.set("k", &1u8, &opts).await.unwrap();
    a.set("j", &1u8, &opts).await.unwrap();
    assert_eq!(b.get::<u8>("k").await.unwrap().unwrap().value, 1);
    assert_eq!(b.get::<u8>("j").await.unwrap().unwrap().value, 1);
    a.set("k", &2u8, &opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2)).await;
    a.remove_by_tag("t").await.unwrap();
    // What a backplane would deliver to B.
    let messages = heard.lock().unwrap().clone();
    for (key, tag) in messages {
        if let Some(k) = key {
            b.evict_local(&k).await;
        }
        if let Some((t, at)) = tag {
            b.evict_local_tag(&t, at);
        }
    }
    assert!(
        b.get::<u8>("j").await.unwrap().is_none(),
        "tagged copy still served"
    );
    assert!(
        b.get::<u8>("k").await.unwrap().is_none(),
        "tagged copy still served"
    );
}
