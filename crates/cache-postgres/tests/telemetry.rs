//! The pool's gauges (`db.client.connection.*`, feature `metrics`) against
//! the PostgreSQL server on this machine (`CACHE_TEST_POSTGRES`), in a
//! schema of its own, under a real (debugging) recorder.

#[allow(dead_code)]
#[path = "server/common.rs"]
mod common;

use cache_abstractions::instrument::names;
use cache_abstractions::{DistributedCache, EntryOptions};
use cache_testkit::telemetry::Capture;

#[test]
fn pool_gauges_follow_checkouts() {
    let capture = Capture::new();
    // One thread: the capture is this thread's, and the cache's futures
    // run on it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let schema = rt.block_on(common::Schema::new("telemetry"));
    let table = rt.block_on(schema.create_table("cache"));
    capture.run(|| {
        let cache = common::builder(&table).pool_size(3).build().unwrap();
        rt.block_on(async {
            cache
                .set("k", "v".into(), &EntryOptions::new())
                .await
                .unwrap();
            assert!(cache.get("k").await.unwrap().is_some());
        });
    });
    let seen = capture.gauges();
    let system = format!("{}=postgresql", names::SYSTEM);
    let gauge = |name: &str, extra: Option<&str>| {
        let mut labels = vec![system.clone()];
        labels.extend(extra.map(str::to_owned));
        labels.sort();
        let key = format!("{name}{{{}}}", labels.join(","));
        *seen
            .get(&key)
            .unwrap_or_else(|| panic!("{key} in {seen:?}"))
    };
    assert_eq!(gauge(names::CONNECTION_MAX, None), 3.0);
    // The get checked out the one connection the set opened: in use then.
    let used = gauge(
        names::CONNECTION_COUNT,
        Some("db.client.connection.state=used"),
    );
    let idle = gauge(
        names::CONNECTION_COUNT,
        Some("db.client.connection.state=idle"),
    );
    assert_eq!(used, 1.0, "{seen:?}");
    assert!((0.0..=2.0).contains(&idle), "{seen:?}");
    assert_eq!(gauge(names::CONNECTION_PENDING, None), 0.0);
    drop(rt);
}

#[test]
fn a_failed_connect_is_an_event() {
    let capture = Capture::new();
    capture.run(|| {
        // Nobody listens on port 1: the connect is refused at once.
        let cache = cache_postgres::PostgresCache::builder()
            .connection_string("postgres://postgres@127.0.0.1:1/test")
            .table("cache")
            .build()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async { cache.get("k").await.unwrap_err() });
    });
    capture.assert_message("cache-postgres: no pooled connection");
}

#[test]
fn a_background_sweep_is_counted() {
    use std::sync::Arc;
    use std::time::Duration;

    let capture = Capture::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let schema = rt.block_on(common::Schema::new("telemetry_sweep"));
    let table = rt.block_on(schema.create_table("cache"));
    let clock = cache_abstractions::ManualClock::starting_now();
    let runs = "cache.sweep.runs{db.system.name=postgresql,outcome=deleted}";
    let deleted = "cache.sweep.deleted_rows{db.system.name=postgresql}";
    capture.run(|| {
        let cache = common::builder(&table)
            .clock(Arc::new(clock.clone()))
            .background_sweep(true)
            .expired_items_deletion_interval(Duration::from_secs(300))
            .build()
            .unwrap();
        rt.block_on(async {
            let soon = EntryOptions::new().expires_in(Duration::from_secs(60));
            for i in 0..3 {
                cache
                    .set(&format!("old{i}"), "x".into(), &soon)
                    .await
                    .unwrap();
            }
            clock.advance(Duration::from_secs(6 * 60));
            // Starts the due sweep on this runtime; it runs while we wait.
            cache.get("absent").await.unwrap();
            for _ in 0..100 {
                if capture.counters().get(runs).is_some_and(|n| *n > 0) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    });
    let seen = capture.counters();
    assert_eq!(seen.get(runs), Some(&1), "{seen:?}");
    assert_eq!(seen.get(deleted), Some(&3), "{seen:?}");
    drop(rt);
}
