//! The pool's gauges (`db.client.connection.*`, feature `metrics`) and its
//! events, against a throwaway redis-server, under a real (debugging)
//! recorder and a capturing subscriber; and the sliding-read script's
//! events (reloaded after NOSCRIPT, scripting refused).

use std::time::Duration;

use cache_abstractions::instrument::names;
use cache_abstractions::{DistributedCache, EntryOptions};
use cache_redis::RedisCache;
use cache_testkit::redis_server::RedisServer;
use cache_testkit::telemetry::Capture;
use tracing::Level;

#[test]
fn pool_gauges_and_the_connect_event() {
    let server = RedisServer::shared();
    let capture = Capture::new();
    capture.block_on(async {
        let cache = RedisCache::builder()
            .url(&server.url())
            .pool_size(4)
            .build()
            .unwrap();
        cache
            .set("telemetry:k", "v".into(), &EntryOptions::new())
            .await
            .unwrap();
        cache.remove("telemetry:k").await.unwrap();
    });
    let gauges = capture.gauges();
    let gauge = |key: String| {
        *gauges
            .get(&key)
            .unwrap_or_else(|| panic!("{key} in {gauges:?}"))
    };
    let system = format!("{}=redis", names::SYSTEM);
    assert_eq!(gauge(format!("{}{{{system}}}", names::CONNECTION_MAX)), 4.0);
    let used = format!(
        "{}{{{}=used,{system}}}",
        names::CONNECTION_COUNT,
        names::CONNECTION_STATE
    );
    assert!(gauge(used) >= 1.0, "{gauges:?}");
    assert_eq!(
        gauge(format!("{}{{{system}}}", names::CONNECTION_PENDING)),
        0.0
    );
    capture.assert_message("cache-redis: connected");
}

#[test]
fn a_failed_connect_is_an_event() {
    let capture = Capture::new();
    capture.block_on(async {
        // Nobody listens on port 1: the connect is refused at once.
        let cache = RedisCache::builder()
            .url("redis://127.0.0.1:1")
            .build()
            .unwrap();
        cache.get("k").await.unwrap_err();
    });
    capture.assert_message("cache-redis: no pooled connection");
}

/// The events whose message is `message`.
fn named(capture: &Capture, message: &str) -> Vec<cache_testkit::telemetry::Event> {
    let mut events = capture.events();
    events.retain(|e| e.message == message);
    events
}

#[test]
fn a_script_reload_after_noscript_is_an_event() {
    const RELOADED: &str = "cache-redis: script reloaded";
    // Its own server: the test flushes its scripts.
    let server = RedisServer::start();
    let capture = Capture::new();
    capture.block_on(async {
        let cache = RedisCache::builder().url(&server.url()).build().unwrap();
        let sliding = EntryOptions::new().sliding(Duration::from_secs(60));
        cache.set("s", "v".into(), &sliding).await.unwrap();
        // Loads the script if the server did not have it yet (one event
        // then, on this fresh server).
        cache.get("s").await.unwrap();
        let before = named(&capture, RELOADED).len();
        server.command(&["SCRIPT", "FLUSH"]).unwrap();
        assert_eq!(cache.get("s").await.unwrap().as_deref(), Some(&b"v"[..]));
        let reloads = named(&capture, RELOADED);
        assert_eq!(reloads.len(), before + 1, "{:?}", capture.events());
        let reload = reloads.last().unwrap();
        assert_eq!(reload.level, Level::DEBUG);
        assert_eq!(
            reload.fields.get("reason").map(String::as_str),
            Some("NOSCRIPT")
        );
        // Cached again: the next read needs no reload.
        cache.get("s").await.unwrap();
        assert_eq!(named(&capture, RELOADED).len(), before + 1);
        assert!(cache.uses_scripting());
    });
}

#[test]
fn refused_scripting_is_said_once() {
    const UNAVAILABLE: &str = "cache-redis: scripting unavailable, using commands";
    let server = RedisServer::builder()
        .args(["--rename-command", "EVALSHA", ""])
        .args(["--rename-command", "EVAL", ""])
        .start();
    let capture = Capture::new();
    capture.block_on(async {
        let cache = RedisCache::builder().url(&server.url()).build().unwrap();
        let sliding = EntryOptions::new().sliding(Duration::from_secs(60));
        cache.set("s", "v".into(), &sliding).await.unwrap();
        assert!(cache.uses_scripting());
        // Concurrent reads all try the script and are all refused: said
        // once all the same, and never again after.
        let reads = futures::future::join_all((0..4).map(|_| cache.get("s"))).await;
        for read in reads {
            assert_eq!(read.unwrap().as_deref(), Some(&b"v"[..]));
        }
        cache.get("s").await.unwrap();
        cache.refresh("s").await.unwrap();
        assert!(!cache.uses_scripting());
    });
    let said = named(&capture, UNAVAILABLE);
    assert_eq!(said.len(), 1, "{:?}", capture.events());
    assert_eq!(said[0].level, Level::WARN);
}
