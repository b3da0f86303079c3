//! Sharing entries with ASP.NET Core's RedisCache: entries written with raw
//! commands in .NET's exact layout read back right (expiry included), and
//! entries this crate writes have exactly .NET's fields and values.

mod common;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cache_abstractions::support::dotnet::Ticks;
use cache_abstractions::{DistributedCache, EntryOptions};
use cache_redis::RedisCache;
use cache_testkit::redis_server::RedisServer;
use common::{cmd, raw, Store};
use redis::Value;

/// .NET ticks of an instant (the shared type's conversion is checked
/// against .NET's own values in cache-abstractions).
fn ticks(t: SystemTime) -> i64 {
    Ticks::from_instant(t).get()
}

const SECOND_TICKS: i64 = Ticks::PER_SECOND.get();

fn unique(tag: &str) -> String {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("interop:{tag}:{n}")
}

async fn pttl(store: &Store, key: &str) -> i64 {
    match raw(store, &cmd(&["PTTL", key])).await.unwrap() {
        Value::Int(n) => n,
        other => panic!("PTTL reply {other:?}"),
    }
}

async fn hgetall(store: &Store, key: &str) -> HashMap<String, Vec<u8>> {
    let reply = raw(store, &cmd(&["HGETALL", key])).await.unwrap();
    let items: Vec<Value> = match reply {
        Value::Array(items) => items,
        Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        other => panic!("HGETALL reply {other:?}"),
    };
    let mut map = HashMap::new();
    let mut it = items.into_iter();
    while let (Some(Value::BulkString(k)), Some(Value::BulkString(v))) = (it.next(), it.next()) {
        map.insert(String::from_utf8(k).unwrap(), v);
    }
    map
}

fn field_i64(map: &HashMap<String, Vec<u8>>, name: &str) -> i64 {
    std::str::from_utf8(&map[name]).unwrap().parse().unwrap()
}

async fn cache(store: &Store, instance: &str) -> RedisCache {
    RedisCache::builder()
        .url(&store.url())
        .instance_name(instance)
        .build()
        .unwrap()
}

/// Writes an entry exactly as .NET's RedisCache does (HSET, then a TTL).
async fn dotnet_write(
    store: &Store,
    key: &str,
    absexp: i64,
    sldexp: i64,
    data: &str,
    ttl_ms: Option<i64>,
) {
    let (a, s) = (absexp.to_string(), sldexp.to_string());
    raw(
        store,
        &cmd(&["HSET", key, "absexp", &a, "sldexp", &s, "data", data]),
    )
    .await
    .unwrap();
    if let Some(ms) = ttl_ms {
        raw(store, &cmd(&["PEXPIRE", key, &ms.to_string()]))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotnet_entries_read_back_with_their_expiry() {
    let server = RedisServer::shared();
    let store = Store::Server(server);
    for instance in ["", "app:"] {
        let c = cache(&store, instance).await;
        let now = SystemTime::now();
        let redis_key = |k: &str| format!("{instance}{k}");

        // Absolute only: read as is, the TTL is not moved by a read.
        let k = unique("abs");
        let abs = ticks(now + Duration::from_secs(60));
        dotnet_write(&store, &redis_key(&k), abs, -1, "absolute", Some(30_000)).await;
        assert_eq!(c.get(&k).await.unwrap().as_deref(), Some(&b"absolute"[..]));
        assert!(
            pttl(&store, &redis_key(&k)).await <= 30_000,
            "a read moved an absolute TTL"
        );
        let info = c.inspect(&k).await.unwrap().expect("inspect absolute");
        assert_eq!(info.sliding_expiration, None);
        assert_eq!(info.size, 8);
        let at = info.absolute_expiration.unwrap();
        assert!(
            at.duration_since(now + Duration::from_secs(60))
                .unwrap_or_default()
                < Duration::from_millis(1)
        );

        // Sliding only: a get slides the TTL back to the full window.
        let k = unique("sld");
        dotnet_write(
            &store,
            &redis_key(&k),
            -1,
            10 * SECOND_TICKS,
            "sliding",
            Some(2_000),
        )
        .await;
        assert_eq!(c.get(&k).await.unwrap().as_deref(), Some(&b"sliding"[..]));
        let t = pttl(&store, &redis_key(&k)).await;
        assert!((8_000..=10_000).contains(&t), "sliding TTL after get: {t}");
        raw(&store, &cmd(&["PEXPIRE", &redis_key(&k), "2000"]))
            .await
            .unwrap();
        c.refresh(&k).await.unwrap();
        let t = pttl(&store, &redis_key(&k)).await;
        assert!(
            (8_000..=10_000).contains(&t),
            "sliding TTL after refresh: {t}"
        );

        // Both: the slide is capped by the absolute expiration.
        let k = unique("both");
        let abs = ticks(SystemTime::now() + Duration::from_secs(5));
        dotnet_write(
            &store,
            &redis_key(&k),
            abs,
            60 * SECOND_TICKS,
            "both",
            Some(1_000),
        )
        .await;
        assert_eq!(c.get(&k).await.unwrap().as_deref(), Some(&b"both"[..]));
        let t = pttl(&store, &redis_key(&k)).await;
        assert!((3_000..=5_000).contains(&t), "capped TTL after get: {t}");

        // Neither: no TTL before or after a read.
        let k = unique("none");
        dotnet_write(&store, &redis_key(&k), -1, -1, "forever", None).await;
        assert_eq!(c.get(&k).await.unwrap().as_deref(), Some(&b"forever"[..]));
        assert_eq!(pttl(&store, &redis_key(&k)).await, -1);

        // Absolute expiration passed, key still in Redis: a miss.
        let k = unique("stale");
        let past = ticks(SystemTime::now() - Duration::from_secs(1));
        dotnet_write(
            &store,
            &redis_key(&k),
            past,
            60 * SECOND_TICKS,
            "stale",
            None,
        )
        .await;
        assert_eq!(c.get(&k).await.unwrap(), None);
        c.refresh(&k).await.unwrap();
        assert_eq!(c.inspect(&k).await.unwrap(), None);
        assert_eq!(
            pttl(&store, &redis_key(&k)).await,
            -1,
            "a stale entry was slid"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_entries_have_exactly_dotnets_fields() {
    let store = Store::Server(RedisServer::shared());
    let c = cache(&store, "svc:").await;
    let cases: [(&str, EntryOptions); 4] = [
        ("none", EntryOptions::new()),
        (
            "abs",
            EntryOptions::new().expires_in(Duration::from_secs(90)),
        ),
        (
            "sld",
            EntryOptions::new().sliding(Duration::from_millis(20_500)),
        ),
        (
            "both",
            EntryOptions::new()
                .expires_in(Duration::from_secs(90))
                .sliding(Duration::from_secs(30)),
        ),
    ];
    for (tag, options) in cases {
        let k = unique(tag);
        let before = ticks(SystemTime::now());
        c.set(&k, "value ✓".into(), &options).await.unwrap();
        let after = ticks(SystemTime::now());
        // The instance name is a plain prefix: no separator added.
        let redis_key = format!("svc:{k}");
        let fields = hgetall(&store, &redis_key).await;
        let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["absexp", "data", "sldexp"], "{tag}");
        assert_eq!(fields["data"], "value ✓".as_bytes(), "{tag}");
        let abs = field_i64(&fields, "absexp");
        let sld = field_i64(&fields, "sldexp");
        let t = pttl(&store, &redis_key).await;
        match tag {
            "none" => {
                assert_eq!((abs, sld), (-1, -1));
                assert_eq!(t, -1);
            }
            "abs" => {
                assert!((before + 90 * SECOND_TICKS..=after + 90 * SECOND_TICKS).contains(&abs));
                assert_eq!(sld, -1);
                assert!((88_000..=90_000).contains(&t), "{t}");
            }
            "sld" => {
                assert_eq!((abs, sld), (-1, 205_000_000));
                assert!((19_000..=20_500).contains(&t), "{t}");
            }
            _ => {
                assert!((before + 90 * SECOND_TICKS..=after + 90 * SECOND_TICKS).contains(&abs));
                assert_eq!(sld, 30 * SECOND_TICKS);
                assert!((28_000..=30_000).contains(&t), "{t}");
            }
        }
        // An overwrite without options clears the old TTL (.NET keeps it).
        c.set(&k, "again".into(), &EntryOptions::new())
            .await
            .unwrap();
        assert_eq!(
            pttl(&store, &redis_key).await,
            -1,
            "{tag}: overwrite kept a TTL"
        );
        let fields = hgetall(&store, &redis_key).await;
        assert_eq!(field_i64(&fields, "absexp"), -1);
        assert_eq!(field_i64(&fields, "sldexp"), -1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_fields_from_an_older_writer_vanish_on_set() {
    let store = Store::Server(RedisServer::shared());
    let c = cache(&store, "").await;
    let k = unique("extra");
    raw(
        &store,
        &cmd(&[
            "HSET", &k, "absexp", "-1", "sldexp", "-1", "data", "x", "extra", "y",
        ]),
    )
    .await
    .unwrap();
    c.set(&k, "new".into(), &EntryOptions::new()).await.unwrap();
    assert_eq!(hgetall(&store, &k).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_second_ttls_round_up_never_to_zero() {
    let store = Store::Server(RedisServer::shared());
    let c = cache(&store, "").await;
    let k = unique("tiny");
    c.set(
        &k,
        "v".into(),
        &EntryOptions::new().expires_in(Duration::from_micros(1)),
    )
    .await
    .unwrap();
    // 1 µs becomes PEXPIRE 1, not EXPIRE 0 (which would delete at once):
    // the key existed with a TTL of at most 1 ms.
    let t = pttl(&store, &k).await;
    assert!(t == -2 || (0..=1).contains(&t), "{t}");
    let k = unique("sub-second");
    c.set(
        &k,
        "v".into(),
        &EntryOptions::new().sliding(Duration::from_millis(400)),
    )
    .await
    .unwrap();
    let t = pttl(&store, &k).await;
    assert!((1..=400).contains(&t), "{t}");
    assert_eq!(c.get(&k).await.unwrap().as_deref(), Some(&b"v"[..]));
}
