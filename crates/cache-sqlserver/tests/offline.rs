//! The cache without a server: validation before any I/O, builder options,
//! capabilities, redaction, and fast failures when the server is away.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cache_abstractions::{DistributedCache, EntryOptions, ErrorKind, KeyLimit, ManualClock};
use cache_sqlserver::SqlServerCache;

/// A port on loopback with nothing listening.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn cs(port: u16) -> String {
    format!("Server=tcp:127.0.0.1,{port};Database=d;User Id=sa;Password=Hunter2!;TrustServerCertificate=true")
}

async fn offline_cache() -> SqlServerCache {
    SqlServerCache::builder()
        .connection_string(&cs(closed_port()))
        .schema("dbo")
        .table("Cache")
        .connect_timeout(Duration::from_secs(2))
        .command_timeout(Duration::from_secs(2))
        .build()
        .expect("build does not connect")
}

#[tokio::test]
async fn capabilities_describe_sql_server() {
    let cache = offline_cache().await;
    let caps = cache.capabilities();
    assert_eq!(caps.max_key_length, KeyLimit::Utf16Units(449));
    assert_eq!(caps.expiry_granularity, Duration::from_secs(1));
    assert_eq!(
        caps.default_options,
        EntryOptions::new().sliding(Duration::from_secs(1200))
    );
    assert!(caps.shared);
    let custom = SqlServerCache::builder()
        .connection_string(&cs(1))
        .table("t")
        .default_sliding_expiration(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(
        custom.capabilities().default_options.sliding_expiration(),
        Some(Duration::from_secs(60))
    );
    assert_eq!(custom.table().schema(), "dbo");
}

#[tokio::test]
async fn keys_are_checked_before_any_io() {
    let cache = offline_cache().await;
    let at_limit = "é".repeat(449);
    let over = format!("{at_limit}x");
    // 449 astral characters are 898 units: far over.
    let astral = "😀".repeat(225);
    let marked_too_long = format!("~~escaped~~{}", "b".repeat(430));
    for bad in ["", over.as_str(), astral.as_str(), marked_too_long.as_str()] {
        for (op, r) in [
            ("get", cache.get(bad).await.map(|_| ())),
            (
                "set",
                cache.set(bad, "v".into(), &EntryOptions::new()).await,
            ),
            ("refresh", cache.refresh(bad).await),
            ("remove", cache.remove(bad).await),
            ("inspect", cache.inspect(bad).await.map(|_| ())),
        ] {
            let e = r.expect_err("invalid key accepted");
            assert_eq!(e.kind(), ErrorKind::InvalidKey, "{op}({bad:?}): {e}");
        }
    }
    // Valid keys reach the network (and fail there, the server being away).
    for good in [
        at_limit.as_str(),
        " leading",
        "k\t",
        "😀".repeat(224).as_str(),
    ] {
        let e = cache.get(good).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connection, "{good:?}: {e}");
    }
}

#[tokio::test]
async fn options_are_checked_before_any_io() {
    let cache = offline_cache().await;
    let past = SystemTime::now() - Duration::from_secs(1);
    for (options, field) in [
        (
            EntryOptions::new().sliding(Duration::ZERO),
            "sliding_expiration",
        ),
        (
            EntryOptions::new().expires_in(Duration::ZERO),
            "absolute_expiration_relative_to_now",
        ),
        (EntryOptions::new().expires_at(past), "absolute_expiration"),
        (
            EntryOptions::new().sliding(Duration::from_secs(u64::MAX / 4)),
            "sliding_expiration",
        ),
    ] {
        let e = cache.set("k", "v".into(), &options).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{options:?}: {e}");
        assert_eq!(e.field(), Some(field));
    }
}

#[tokio::test]
async fn builder_validates_every_option() {
    let good = || {
        SqlServerCache::builder()
            .connection_string(&cs(1))
            .table("t")
    };
    let cases = [
        ("no connection string", SqlServerCache::builder().table("t")),
        (
            "no table",
            SqlServerCache::builder().connection_string(&cs(1)),
        ),
        (
            "bad connection string",
            good().connection_string("Server=h;Nope=1"),
        ),
        ("bad table", good().table("bad\nname")),
        ("bad schema", good().schema("")),
        (
            "zero sliding",
            good().default_sliding_expiration(Duration::ZERO),
        ),
        (
            "huge sliding",
            good().default_sliding_expiration(Duration::from_secs(1 << 40)),
        ),
        (
            "interval under 5 min",
            good().expired_items_deletion_interval(Duration::from_secs(299)),
        ),
        ("zero pool", good().pool_size(0)),
        (
            "zero connect timeout",
            good().connect_timeout(Duration::ZERO),
        ),
        (
            "zero command timeout",
            good().command_timeout(Duration::ZERO),
        ),
        ("zero batch", good().cleanup_batch_size(0)),
        (
            "batch over lock escalation",
            good().cleanup_batch_size(5000),
        ),
    ];
    for (name, builder) in cases {
        let e = builder.build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{name}: {e}");
    }
    assert!(good()
        .expired_items_deletion_interval(Duration::from_secs(300))
        .pool_size(1)
        .cleanup_batch_size(4000)
        .clock(Arc::new(ManualClock::starting_now()))
        .build()
        .is_ok());
    // Long intervals and timeouts are fine (once a panic in `build`).
    assert!(good()
        .expired_items_deletion_interval(Duration::MAX)
        .connect_timeout(Duration::MAX)
        .command_timeout(Duration::MAX)
        .build()
        .is_ok());
}

#[test]
fn build_is_lazy_needs_no_runtime_and_debug_hides_the_password() {
    // No tokio runtime here: build does no I/O and spawns nothing.
    let cache = SqlServerCache::builder()
        .connection_string(&cs(closed_port()))
        .table("Cache")
        .build()
        .unwrap();
    let debug = format!("{cache:?}");
    assert!(!debug.contains("Hunter2!"), "{debug}");
    assert!(debug.contains("[dbo].[Cache]"), "{debug}");
    let builder = format!("{:?}", SqlServerCache::builder().connection_string(&cs(1)));
    assert!(!builder.contains("Hunter2!"), "{builder}");
}

#[tokio::test]
async fn connect_and_ping_connect_now() {
    let err = SqlServerCache::connect(&cs(closed_port()), "dbo", "Cache")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(!format!("{err} {err:?}").contains("Hunter2!"));
    let cache = offline_cache().await;
    let err = cache.ping().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
}

#[test]
fn from_url_takes_the_shared_options() {
    use cache_abstractions::OpenOptions;
    let options = OpenOptions::new()
        .schema("app")
        .table("Sessions")
        .timeout(Duration::from_secs(3));
    let cache = cache_sqlserver::SqlServerCacheBuilder::from_url(&cs(1), &options)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(cache.table().quoted(), "[app].[Sessions]");
    // No table anywhere: a Config error naming it.
    let err = cache_sqlserver::SqlServerCacheBuilder::from_url(&cs(1), &OpenOptions::new())
        .unwrap()
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("table"), "{err}");
    // A bad string never shows its password.
    let err = cache_sqlserver::SqlServerCacheBuilder::from_url(
        "Server=db;Pasword=Hunter2!",
        &OpenOptions::new(),
    )
    .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("Hunter2!"));
    assert_eq!(
        cache_sqlserver::redact("Server=db;Pasword=Hunter2!"),
        "server=***;pasword=***"
    );
    assert!(cache_sqlserver::is_connection_string(&cs(1)));
    assert!(cache_sqlserver::URL_SCHEMES.contains(&"sqlserver"));
}

#[tokio::test]
async fn server_away_fails_fast_with_connection_and_no_password() {
    let cache = offline_cache().await;
    let started = Instant::now();
    let results = [
        cache.get("k").await.map(|_| ()),
        cache.set("k", "v".into(), &EntryOptions::new()).await,
        cache.refresh("k").await,
        cache.remove("k").await,
        cache.inspect("k").await.map(|_| ()),
        cache.delete_expired_items().await.map(|_| ()),
    ];
    for r in results {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
        assert!(e.is_retryable());
        assert!(!format!("{e} {e:?}").contains("Hunter2!"));
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn silent_server_times_out_within_the_connect_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let cache = SqlServerCache::builder()
        .connection_string(&cs(port))
        .table("Cache")
        .connect_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let started = Instant::now();
    let e = cache.get("k").await.unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Connection),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connects_fail_every_concurrent_caller_at_once() {
    // A long connect timeout: only fail-fast handling can keep this quick.
    let cache = std::sync::Arc::new(
        SqlServerCache::builder()
            .connection_string(&cs(closed_port()))
            .table("Cache")
            .pool_size(3)
            .connect_timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
    );
    for round in 0..3 {
        let started = Instant::now();
        let gets = (0..20).map(|i| {
            let cache = std::sync::Arc::clone(&cache);
            tokio::spawn(async move { cache.get(&format!("k{i}")).await })
        });
        for r in futures_join(gets).await {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::Connection);
        }
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "round {round}: 20 concurrent gets took {took:?} to fail on a refused port"
        );
    }
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task did not panic"));
    }
    out
}
