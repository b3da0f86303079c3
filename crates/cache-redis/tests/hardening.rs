//! Holes a hostile tester found (issue 10), each kept closed, and expiry
//! driven by an injected clock instead of sleeps.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cache_abstractions::support::dotnet::Ticks;
use cache_abstractions::{DistributedCache, EntryOptions, ErrorKind, ManualClock};
use cache_redis::RedisCache;
use cache_testkit::redis_server::RedisServer;

fn pttl(server: &RedisServer, key: &str) -> i64 {
    server
        .command(&["PTTL", key])
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn cache_on(server: &RedisServer) -> RedisCache {
    RedisCache::builder()
        .url(&server.url())
        .connect_timeout(Duration::from_secs(2))
        .command_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Issue 10, item 3: without scripting a sliding get is a read then a TTL
/// change; a `set` landing in between must keep its own expiry (here: none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overwrite_racing_a_scriptless_sliding_get_keeps_its_own_ttl() {
    let server = RedisServer::builder()
        .args(["--rename-command", "EVALSHA", ""])
        .args(["--rename-command", "EVAL", ""])
        .start();
    let cache = Arc::new(
        RedisCache::builder()
            .url(&server.url())
            .scripting(false)
            .pool_size(4)
            .build()
            .unwrap(),
    );
    let sliding = EntryOptions::new().sliding(Duration::from_secs(30));
    const KEYS: usize = 300;
    for i in 0..KEYS {
        cache
            .set(&format!("k{i}"), "old".into(), &sliding)
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..KEYS {
        let c = Arc::clone(&cache);
        tasks.push(tokio::spawn(async move {
            let key = format!("k{i}");
            let none = EntryOptions::new();
            let (got, set) = tokio::join!(c.get(&key), c.set(&key, "new".into(), &none));
            got.unwrap();
            set.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let kept_old_ttl: Vec<String> = (0..KEYS)
        .map(|i| format!("k{i}"))
        .filter(|k| pttl(&server, k) != -1)
        .collect();
    assert!(
        kept_old_ttl.is_empty(),
        "{} of {KEYS} keys written without expiry kept a TTL: {:?}",
        kept_old_ttl.len(),
        &kept_old_ttl[..kept_old_ttl.len().min(5)]
    );
}

/// Issue 10, item 4: a NOPERM on one key is that operation's error, with a
/// readable message, and scripting stays on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_permission_error_leaves_scripting_on() {
    let server = RedisServer::start();
    server
        .command(&["ACL", "SETUSER", "app", "on", ">app-pw", "~mine:*", "+@all"])
        .unwrap();
    let cache = RedisCache::builder()
        .url(&format!("redis://app:app-pw@127.0.0.1:{}/", server.port()))
        .build()
        .unwrap();
    let sliding = EntryOptions::new().sliding(Duration::from_secs(60));
    cache.set("mine:a", "v".into(), &sliding).await.unwrap();
    let err = cache.get("theirs:a").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert!(err.message().contains("NOPERM"), "{}", err.message());
    assert!(!err.to_string().contains("()"), "{err}");
    assert!(cache.uses_scripting(), "one NOPERM turned scripting off");
    assert_eq!(
        cache.get("mine:a").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    assert!(cache.uses_scripting());
}

/// Issue 10, item 5: the script refuses what the decoder refuses, so it
/// never moves the TTL of an entry the client then reports as corrupt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_script_never_slides_an_entry_the_decoder_rejects() {
    let server = RedisServer::start();
    let cache = cache_on(&server);
    for (i, sldexp) in [
        "9999999999999999999",
        "9223372036854775808",
        "0",
        "0600000000",
    ]
    .into_iter()
    .enumerate()
    {
        let key = format!("bad{i}");
        server
            .command(&["HSET", &key, "absexp", "-1", "sldexp", sldexp, "data", "x"])
            .unwrap();
        server.command(&["PEXPIRE", &key, "100000"]).unwrap();
        let err = cache.get(&key).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CorruptEntry, "{sldexp}: {err}");
        let t = pttl(&server, &key);
        assert!(
            (0..=100_000).contains(&t),
            "{sldexp}: the script moved the TTL to {t}"
        );
    }
    assert!(cache.uses_scripting());
}

/// Issue 10, item 9 (and item 8's error model): NOAUTH when no password
/// was given, and a wrong password, are Authentication errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noauth_and_a_wrong_password_are_authentication_errors() {
    let server = RedisServer::start();
    // Set after start: the fixture checks readiness without a password.
    server
        .command(&["CONFIG", "SET", "requirepass", "right-pw"])
        .unwrap();
    let no_password = RedisCache::builder()
        .url(&format!("redis://127.0.0.1:{}/", server.port()))
        .build()
        .unwrap();
    for err in [
        no_password.ping().await.unwrap_err(),
        no_password.get("k").await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
        assert!(!err.is_retryable());
        assert!(err.message().contains("NOAUTH"), "{}", err.message());
    }
    let wrong = RedisCache::builder()
        .url(&format!("redis://:wrong-pw@127.0.0.1:{}/", server.port()))
        .build()
        .unwrap();
    let err = wrong.ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(!format!("{err} {err:?}").contains("wrong-pw"));
    let right = RedisCache::builder()
        .url(&format!("redis://:right-pw@127.0.0.1:{}/", server.port()))
        .build()
        .unwrap();
    right.ping().await.unwrap();
}

/// Issue 10, item 1: .NET's `SlidingExpiration = TimeSpan.MaxValue` and a
/// TTL past year 9999 decode, and every instant stops at 9999-12-31.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_and_ttls_past_year_9999_saturate() {
    let server = RedisServer::start();
    let cache = cache_on(&server);
    let max = i64::MAX.to_string();
    server
        .command(&[
            "HSET", "forever", "absexp", "-1", "sldexp", &max, "data", "x",
        ])
        .unwrap();
    server
        .command(&["PEXPIRE", "forever", "300000000000000"])
        .unwrap();
    let info = cache.inspect("forever").await.unwrap().expect("an entry");
    assert_eq!(info.sliding_expiration, Some(Ticks::MAX.to_duration()));
    let expires = info.expires_at.expect("a TTL");
    assert!(expires <= Ticks::MAX_DATETIME.to_instant(), "{expires:?}");
    assert_eq!(
        cache.get("forever").await.unwrap().as_deref(),
        Some(&b"x"[..])
    );
    let info = cache.inspect("forever").await.unwrap().expect("an entry");
    assert_eq!(info.expires_at, Some(Ticks::MAX_DATETIME.to_instant()));
}

/// The injected clock dates entries: absolute expiry and sliding TTLs come
/// from it, so expiry is tested by moving it, not by sleeping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_follows_the_injected_clock() {
    let server = RedisServer::shared();
    let clock = ManualClock::new(SystemTime::now());
    let cache = RedisCache::builder()
        .url(&server.url())
        .instance_name(&format!("clock{}:", std::process::id()))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let key = "k";
    let full = format!("{}{key}", cache.instance_name());
    let options = EntryOptions::new()
        .expires_in(Duration::from_secs(100))
        .sliding(Duration::from_secs(60));
    cache.set(key, "v".into(), &options).await.unwrap();
    let written: i64 = server
        .command(&["HGET", &full, "absexp"])
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        written,
        Ticks::from_instant(clock.now() + Duration::from_secs(100)).get()
    );
    // 50 s later by the clock, a read slides to what is left of the
    // absolute deadline (50 s), not the full 60 s window.
    clock.advance(Duration::from_secs(50));
    assert!(cache.get(key).await.unwrap().is_some());
    let t = pttl(&server, &full);
    assert!((40_000..=50_000).contains(&t), "TTL after the slide: {t}");
    // Past the absolute deadline by the clock: a miss, whatever Redis's
    // own TTL says.
    clock.advance(Duration::from_secs(51));
    assert_eq!(cache.get(key).await.unwrap(), None);
    assert!(cache.inspect(key).await.unwrap().is_none());
}

use cache_abstractions::Clock as _;

/// Connecting is lazy, for a cluster too: a cluster that is down when the
/// cache is built fails each operation within its own budget, however many
/// wait for the connection at once (rule 15), and build itself never fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_down_at_start_fails_every_waiter_within_its_budget() {
    let closed: Vec<u16> = (0..2)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    let url = format!(
        "redis+cluster://127.0.0.1:{},127.0.0.1:{}",
        closed[0], closed[1]
    );
    let (connect, command) = (Duration::from_millis(500), Duration::from_millis(500));
    let cache = Arc::new(
        RedisCache::builder()
            .url(&url)
            .connect_timeout(connect)
            .command_timeout(command)
            .build()
            .expect("build does no I/O"),
    );
    let started = std::time::Instant::now();
    let waiters: Vec<_> = (0..8)
        .map(|i| {
            let c = Arc::clone(&cache);
            tokio::spawn(async move { c.get(&format!("k{i}")).await })
        })
        .collect();
    for w in waiters {
        let err = w.await.unwrap().unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Connection | ErrorKind::Timeout),
            "{err}"
        );
    }
    let took = started.elapsed();
    assert!(
        took < connect + command + Duration::from_secs(2),
        "the last waiter took {took:?}"
    );
}
