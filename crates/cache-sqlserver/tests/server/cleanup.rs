//! Expired-row cleanup against a real server: batches, one runner at a
//! time across instances, and the background schedule.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_abstractions::{DistributedCache, EntryOptions, ManualClock};
use cache_sqlserver::{CleanupOutcome, SqlServerCache, TableName};
use tiberius::ColumnData;

use crate::common::{self, Tables};

async fn cache_with(
    cs: &str,
    t: &TableName,
    clock: &ManualClock,
    batch: u32,
    background: bool,
) -> SqlServerCache {
    SqlServerCache::builder()
        .connection_string(cs)
        .schema(t.schema())
        .table(t.table())
        .clock(Arc::new(clock.clone()))
        .cleanup_batch_size(batch)
        .background_cleanup(background)
        .expired_items_deletion_interval(Duration::from_secs(300))
        .build()
        .unwrap()
}

async fn fill(cache: &SqlServerCache, prefix: &str, expired: usize, live: usize) {
    for i in 0..expired {
        cache
            .set(
                &format!("{prefix}:expired:{i}"),
                "x".into(),
                &EntryOptions::new().expires_in(Duration::from_secs(60)),
            )
            .await
            .unwrap();
    }
    for i in 0..live {
        cache
            .set(
                &format!("{prefix}:live:{i}"),
                "x".into(),
                &EntryOptions::new().expires_in(Duration::from_secs(86_400)),
            )
            .await
            .unwrap();
    }
}

async fn row_count(raw: &mut common::Raw, t: &TableName) -> i64 {
    let rows = common::query(
        raw,
        &format!("SELECT COUNT_BIG(*) FROM {}", t.quoted()),
        &[],
    )
    .await;
    match rows.first().and_then(|r| r.first()) {
        Some(ColumnData::I64(Some(n))) => *n,
        other => panic!("count was {other:?}"),
    }
}

#[tokio::test]
async fn cleanup_deletes_in_batches() {
    let Some(cs) = common::connection_string("cleanup_deletes_in_batches") else {
        return;
    };
    let tables = Tables::new(&cs);
    let t = tables.create("batches").await;
    let clock = ManualClock::starting_now();
    let cache = cache_with(&cs, &t, &clock, 100, false).await;
    fill(&cache, "b", 250, 5).await;
    clock.advance(Duration::from_secs(120));
    assert_eq!(
        cache.delete_expired_items().await.unwrap(),
        CleanupOutcome::Deleted {
            rows: 250,
            batches: 3
        }
    );
    let mut raw = common::raw(&cs).await;
    assert_eq!(row_count(&mut raw, &t).await, 5, "live rows stay");
    assert_eq!(
        cache.delete_expired_items().await.unwrap(),
        CleanupOutcome::Deleted {
            rows: 0,
            batches: 1
        }
    );
}

#[tokio::test]
async fn one_instance_cleans_at_a_time() {
    let Some(cs) = common::connection_string("one_instance_cleans_at_a_time") else {
        return;
    };
    let tables = Tables::new(&cs);
    let t = tables.create("single_runner").await;
    let clock = ManualClock::starting_now();
    let a = cache_with(&cs, &t, &clock, 50, false).await;
    let b = cache_with(&cs, &t, &clock, 50, false).await;
    fill(&a, "s", 120, 2).await;
    clock.advance(Duration::from_secs(120));

    // Another session holds the table's cleanup lock: both instances stand back.
    let mut holder = common::raw(&cs).await;
    let lock = "DECLARE @Resource nvarchar(255) = CONCAT(N'cache-sqlserver:expired-items:', DB_ID(), N':', OBJECT_ID(@P1)); \
                DECLARE @Result int; \
                EXEC @Result = sp_getapplock @Resource = @Resource, @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = 0; \
                SELECT @Result;";
    let quoted = ColumnData::String(Some(t.quoted().into()));
    let got = common::query(&mut holder, lock, std::slice::from_ref(&quoted)).await;
    assert_eq!(
        got[0][0],
        ColumnData::I32(Some(0)),
        "the test takes the lock"
    );
    assert_eq!(
        a.delete_expired_items().await.unwrap(),
        CleanupOutcome::Busy
    );
    assert_eq!(
        b.delete_expired_items().await.unwrap(),
        CleanupOutcome::Busy
    );
    let mut raw = common::raw(&cs).await;
    assert_eq!(
        row_count(&mut raw, &t).await,
        122,
        "nothing deleted while the lock is held"
    );
    let release = "DECLARE @Resource nvarchar(255) = CONCAT(N'cache-sqlserver:expired-items:', DB_ID(), N':', OBJECT_ID(@P1)); \
                   EXEC sp_releaseapplock @Resource = @Resource, @LockOwner = 'Session';";
    common::query(&mut holder, release, std::slice::from_ref(&quoted)).await;

    // Both at once: the rows are deleted once, by whichever gets the lock.
    let (ra, rb) = tokio::join!(a.delete_expired_items(), b.delete_expired_items());
    let deleted: u64 = [ra.unwrap(), rb.unwrap()]
        .into_iter()
        .map(|o| match o {
            CleanupOutcome::Deleted { rows, .. } => rows,
            _ => 0,
        })
        .sum();
    assert_eq!(deleted, 120);
    assert_eq!(row_count(&mut raw, &t).await, 2);
}

#[tokio::test]
async fn cleanup_runs_in_the_background_when_due() {
    let Some(cs) = common::connection_string("cleanup_runs_in_the_background_when_due") else {
        return;
    };
    let tables = Tables::new(&cs);
    let t = tables.create("background").await;
    let clock = ManualClock::starting_now();
    let cache = cache_with(&cs, &t, &clock, 1000, true).await;
    fill(&cache, "g", 3, 1).await;
    clock.advance(Duration::from_secs(6 * 60));
    // Any operation starts the due run without waiting for it.
    let started = Instant::now();
    cache.get("g:live:0").await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut raw = common::raw(&cs).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while row_count(&mut raw, &t).await != 1 {
        assert!(
            Instant::now() < deadline,
            "the background cleanup did not run within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
