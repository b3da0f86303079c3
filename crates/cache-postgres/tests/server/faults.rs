//! Faults against the real server: an unreachable server fails at once, the
//! server killing the cache's connections is survived by the same instance,
//! a refused login and a missing table are told apart.

use std::time::Duration;

use cache_abstractions::{DistributedCache, EntryOptions, ErrorKind};
use cache_postgres::PostgresCache;

use crate::common::{self, Schema};

#[tokio::test]
async fn an_unreachable_server_is_a_connection_error_at_once() {
    // A port that was just free refuses connections.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cache = PostgresCache::builder()
        .connection_string(&format!(
            "postgres://postgres:hunter2@127.0.0.1:{port}/test"
        ))
        .table("cache")
        .connect_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    // Well under the 60 s connect timeout: the refusal itself ends the wait.
    let e = tokio::time::timeout(Duration::from_secs(20), cache.get("k"))
        .await
        .expect("the refused connect must not wait for the connect timeout")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(e.is_retryable());
    let e = tokio::time::timeout(Duration::from_secs(20), cache.ping())
        .await
        .expect("ping fails at once too")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(!format!("{e} {e:?} {cache:?}").contains("hunter2"));
}

#[tokio::test]
async fn the_same_instance_recovers_after_the_server_kills_its_connections() {
    let schema = Schema::new("faults_kill").await;
    let t = schema.create_table("c").await;
    let app = common::unique("app");
    let cache = common::builder(&t)
        .connection_string(&common::url_with(&format!("application_name={app}")))
        .pool_size(3)
        .build()
        .unwrap();
    cache
        .set("k", "v1".into(), &EntryOptions::new())
        .await
        .unwrap();
    // Open several pooled connections.
    let (a, b, c) = tokio::join!(cache.get("k"), cache.get("k"), cache.get("k"));
    for r in [a, b, c] {
        assert_eq!(r.unwrap().as_deref(), Some(&b"v1"[..]));
    }
    let raw = common::raw().await;
    let killed: i64 = raw
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1) AS k",
            &[&app],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed >= 1, "the cache's connections were found");
    // The closed connections are noticed and replaced.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v1"[..]));
    cache
        .set("k", "v2".into(), &EntryOptions::new())
        .await
        .unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v2"[..]));
}

#[tokio::test]
async fn a_refused_login_is_an_authentication_error() {
    let cache = PostgresCache::builder()
        .connection_string("postgres://distcache_no_such_role:pw@127.0.0.1:5432/test")
        .table("cache")
        .build()
        .unwrap();
    let e = cache.ping().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authentication, "{e}");
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn a_missing_table_is_a_config_error_naming_the_tool() {
    let schema = Schema::new("faults_table").await;
    let cache = common::cache(&schema.table("absent"));
    for e in [
        cache.ping().await.unwrap_err(),
        cache.get("k").await.unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.to_string().contains("pg-cache create"), "{e}");
    }
    // Created afterwards: the same instance works (nothing stale was kept).
    schema.create_table("absent").await;
    cache
        .set("k", "v".into(), &EntryOptions::new())
        .await
        .unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn ping_round_trips_on_the_table() {
    let schema = Schema::new("faults_ping").await;
    let t = schema.create_table("c").await;
    common::cache(&t).ping().await.unwrap();
}

#[tokio::test]
async fn a_statement_past_its_timeout_is_cancelled_and_the_cache_goes_on() {
    let schema = Schema::new("faults_timeout").await;
    let t = schema.create_table("c").await;
    let app = common::unique("app");
    let cache = common::builder(&t)
        .connection_string(&common::url_with(&format!("application_name={app}")))
        .command_timeout(Duration::from_secs(1))
        .pool_size(1)
        .build()
        .unwrap();
    cache
        .set("locked", "v1".into(), &EntryOptions::new())
        .await
        .unwrap();
    // Another session holds the row: the cache's next write to it blocks.
    let mut holder = common::raw().await;
    let tx = holder.transaction().await.unwrap();
    tx.execute(
        &format!(
            "SELECT 1 FROM {} WHERE id = 'locked' FOR UPDATE",
            t.quoted()
        ),
        &[],
    )
    .await
    .unwrap();
    let e = cache
        .set("locked", "v2".into(), &EntryOptions::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    // The blocked statement was cancelled on the server, not left waiting
    // for the lock (and the one pooled connection was replaced).
    let raw = common::raw().await;
    let mut waiting = 1;
    for _ in 0..50 {
        waiting = raw
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
                &[&app],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if waiting == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        waiting, 0,
        "the timed-out statement still runs on the server"
    );
    cache
        .set("other", "x".into(), &EntryOptions::new())
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        cache.get("locked").await.unwrap().as_deref(),
        Some(&b"v1"[..])
    );
}
