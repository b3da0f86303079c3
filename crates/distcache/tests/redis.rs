//! Every Redis URL form opens through the facade without a server (opening
//! is lazy), a real redis-server round-trips, and passwords never show.

use distcache::{DistributedCache, DistributedCacheExt, EntryOptions, ErrorKind, OpenOptions};

use cache_testkit::redis_server::RedisServer;
use std::time::Duration;

#[tokio::test]
async fn every_redis_url_form_opens_without_a_server() {
    // Port 1 and a socket path nobody listens on: nothing is contacted.
    for url in [
        "redis://:hunter2@127.0.0.1:1/0",
        "rediss://user:hunter2@127.0.0.1:1",
        "redis+cluster://:hunter2@127.0.0.1:1,127.0.0.1:2",
        "rediss+cluster://127.0.0.1:1",
        "unix:///nonexistent/redis.sock",
        "redis+unix:///nonexistent/redis.sock?pass=hunter2",
    ] {
        let options = OpenOptions::new().timeout(Duration::from_millis(300));
        let cache = distcache::open_with(url, &options)
            .unwrap_or_else(|e| panic!("{}: {e:#}", distcache::redact(url)));
        // The first use connects, and fails as a retryable connection error.
        let err = cache.ping().await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Connection | ErrorKind::Timeout),
            "{}: {err:?}",
            distcache::redact(url)
        );
        let shown = format!("{err:?} {} {cache:?}", distcache::redact(url));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

#[tokio::test]
async fn a_real_server_round_trips_and_pings() {
    let server = RedisServer::shared();
    let options = OpenOptions::new().instance_name("distcache-test:");
    let cache = distcache::open_with(&server.url(), &options).unwrap();
    cache.ping().await.unwrap();
    let opts = EntryOptions::new().expires_in(Duration::from_secs(60));
    cache
        .set_string("k", "via the facade", &opts)
        .await
        .unwrap();
    assert_eq!(
        cache.get_string("k").await.unwrap().as_deref(),
        Some("via the facade")
    );
    // The instance name from the options is the key prefix.
    let raw = server
        .command(&["HGET", "distcache-test:k", "data"])
        .unwrap();
    assert!(raw.contains("via the facade"), "{raw}");
    cache.remove("k").await.unwrap();
}

#[tokio::test]
async fn wrong_password_is_an_authentication_error() {
    let server = RedisServer::start();
    // Set after start: the fixture's readiness probe logs in without a password.
    server
        .command(&["CONFIG", "SET", "requirepass", "right"])
        .unwrap();
    let url = format!("redis://:wrong@127.0.0.1:{}", server.port());
    let cache = distcache::open(&url).unwrap();
    let err = cache.ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err:#}");
    assert!(!err.is_retryable());
}

#[test]
fn redis_redaction_goes_through_the_backend() {
    let shown = distcache::redact("redis://app:hunter2@cache:6379/0");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("cache:6379"), "{shown}");
}
