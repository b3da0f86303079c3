//! The expired-row sweep against the real server: batches, one runner at a
//! time across instances, and the background schedule.

use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::{DistributedCache, EntryOptions, ManualClock};
use cache_postgres::{PostgresCache, SweepOutcome, TableName, SWEEP_LOCK_CLASS};

use crate::common::{self, Schema};

fn cache_with(t: &TableName, clock: &ManualClock, batch: u32, background: bool) -> PostgresCache {
    common::builder(t)
        .clock(Arc::new(clock.clone()))
        .sweep_batch_size(batch)
        .background_sweep(background)
        .expired_items_deletion_interval(Duration::from_secs(300))
        .build()
        .unwrap()
}

async fn fill(cache: &PostgresCache, prefix: &str, expired: usize, live: usize) {
    let soon = EntryOptions::new().expires_in(Duration::from_secs(60));
    let later = EntryOptions::new().expires_in(Duration::from_secs(86_400));
    for i in 0..expired {
        cache
            .set(&format!("{prefix}:expired:{i}"), "x".into(), &soon)
            .await
            .unwrap();
    }
    for i in 0..live {
        cache
            .set(&format!("{prefix}:live:{i}"), "x".into(), &later)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_sweep_deletes_in_batches_and_keeps_live_rows() {
    let schema = Schema::new("sweep_batches").await;
    let t = schema.create_table("c").await;
    let clock = ManualClock::starting_now();
    let cache = cache_with(&t, &clock, 100, false);
    fill(&cache, "b", 250, 5).await;
    clock.advance(Duration::from_secs(120));
    assert_eq!(
        cache.delete_expired_items().await.unwrap(),
        SweepOutcome::Deleted {
            rows: 250,
            batches: 3
        }
    );
    let raw = common::raw().await;
    assert_eq!(common::row_count(&raw, &t).await, 5, "live rows stay");
    assert_eq!(
        cache.delete_expired_items().await.unwrap(),
        SweepOutcome::Deleted {
            rows: 0,
            batches: 1
        }
    );
}

#[tokio::test]
async fn one_instance_sweeps_at_a_time() {
    let schema = Schema::new("sweep_single").await;
    let t = schema.create_table("c").await;
    let clock = ManualClock::starting_now();
    let a = cache_with(&t, &clock, 50, false);
    let b = cache_with(&t, &clock, 50, false);
    fill(&a, "s", 120, 2).await;
    clock.advance(Duration::from_secs(120));

    // Another session holds the table's sweep lock: both instances stand back.
    let holder = common::raw().await;
    let key = format!("(({SWEEP_LOCK_CLASS}::bigint << 32) | $1::text::regclass::oid::bigint)");
    let name = t.quoted();
    let got: bool = holder
        .query_one(&format!("SELECT pg_try_advisory_lock{key}"), &[&name])
        .await
        .unwrap()
        .get(0);
    assert!(got, "the test takes the lock");
    assert_eq!(a.delete_expired_items().await.unwrap(), SweepOutcome::Busy);
    assert_eq!(b.delete_expired_items().await.unwrap(), SweepOutcome::Busy);
    let raw = common::raw().await;
    assert_eq!(
        common::row_count(&raw, &t).await,
        122,
        "nothing deleted while the lock is held"
    );
    holder
        .query_one(&format!("SELECT pg_advisory_unlock{key}"), &[&name])
        .await
        .unwrap();

    // Both at once: the rows are deleted once, by whichever gets the lock.
    let (ra, rb) = tokio::join!(a.delete_expired_items(), b.delete_expired_items());
    let deleted: u64 = [ra.unwrap(), rb.unwrap()]
        .into_iter()
        .map(|o| match o {
            SweepOutcome::Deleted { rows, .. } => rows,
            _ => 0,
        })
        .sum();
    assert_eq!(deleted, 120);
    assert_eq!(common::row_count(&raw, &t).await, 2);
    // The lock was released: a later sweep runs.
    assert!(matches!(
        a.delete_expired_items().await.unwrap(),
        SweepOutcome::Deleted { .. }
    ));
}

#[tokio::test]
async fn the_sweep_runs_in_the_background_when_due() {
    let schema = Schema::new("sweep_background").await;
    let t = schema.create_table("c").await;
    let clock = ManualClock::starting_now();
    let cache = cache_with(&t, &clock, 1000, true);
    fill(&cache, "g", 3, 1).await;
    let raw = common::raw().await;
    assert_eq!(
        common::row_count(&raw, &t).await,
        4,
        "not due yet: nothing swept"
    );
    clock.advance(Duration::from_secs(6 * 60));
    // Any operation starts the due sweep without waiting for it.
    cache.get("g:live:0").await.unwrap();
    let mut rows = common::row_count(&raw, &t).await;
    for _ in 0..100 {
        if rows == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        rows = common::row_count(&raw, &t).await;
    }
    assert_eq!(
        rows, 1,
        "the background sweep did not delete the 3 expired rows"
    );
}
