//! Rules 10, 12, 13, 14, 15 and 16: atomicity, concurrency, isolation,
//! foreign data, outages and cancellation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cache_abstractions::{DistributedCache, EntryOptions, ErrorKind, Result};
use rand::Rng;

use crate::harness::Harness;
use crate::runner::Outcome;
use crate::support::*;

/// Rule 10: a set cancelled at any of its await points never leaves a value
/// without its expiry, nor a new value with the old options. Each set
/// carries a 1 s expiry and is dropped after 1, 2, 3, … polls, over a fresh
/// key and over one holding an entry without expiry; 2.5 s later the fresh
/// keys must be empty and the others hold the old value or nothing.
pub async fn rule_10_set_is_atomic(h: &dyn Harness) -> Outcome {
    let cache = fresh(h).await;
    let options = expires_in(1.0);
    let mut fresh_keys = Vec::new();
    let mut overwritten = Vec::new();
    for polls in 1..=12 {
        let k = key(&format!("atomic-fresh-{polls}"));
        let _ = PollLimit::new(cache.set(&k, "new".into(), &options), polls).await;
        fresh_keys.push((polls, k));
        let k = key(&format!("atomic-overwrite-{polls}"));
        ok(
            cache.set(&k, "old".into(), &EntryOptions::new()).await,
            "set without expiry",
        );
        let _ = PollLimit::new(cache.set(&k, "new".into(), &options), polls).await;
        overwritten.push((polls, k));
    }
    // Settle in-flight work, then let every expiry pass.
    sleep(2.5).await;
    for (polls, k) in &fresh_keys {
        expect_value(
            ok(cache.get(k).await, "get"),
            None,
            &format!(
                "new key set with a 1 s expiry, cancelled after {polls} polls, 2.5 s later \
                 (value stored without its expiry?)"
            ),
        );
    }
    for (polls, k) in &overwritten {
        let got = ok(cache.get(k).await, "get");
        assert!(
            got.as_deref() != Some(b"new"),
            "entry without expiry overwritten by a set with a 1 s expiry, cancelled after \
             {polls} polls: 2.5 s later it holds the new value (new value with the old options?)"
        );
    }
    Outcome::Passed
}

/// Rule 12: many tasks set and get the same and different keys at once;
/// every get returns a whole value written under that key.
pub async fn rule_12_concurrent_access_never_tears(h: &dyn Harness) -> Outcome {
    let cache = fresh(h).await;
    let base = key("");
    const SLOTS: u8 = 4;
    const WRITERS: u8 = 12;
    const ROUNDS: u32 = 40;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let cache = Arc::clone(&cache);
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 0..ROUNDS {
                let (slot, len, read) = {
                    let mut rng = rand::rng();
                    (
                        rng.random_range(0..SLOTS),
                        rng.random_range(16..48 * 1024),
                        rng.random_bool(0.5),
                    )
                };
                let k = format!("{base}{slot}");
                if read {
                    match cache.get(&k).await {
                        Ok(None) => {}
                        Ok(Some(v)) => {
                            if let Err(why) = check_tagged(&v, slot) {
                                return Err(format!("get of {k}: {why}"));
                            }
                        }
                        Err(e) => return Err(format!("get of {k} failed: {e}")),
                    }
                } else {
                    let v = tagged_value(slot, writer, seq, len);
                    if let Err(e) = cache.set(&k, v, &EntryOptions::new()).await {
                        return Err(format!("set of {k} failed: {e}"));
                    }
                }
            }
            Ok(())
        }));
    }
    let all = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(tasks))
        .await
        .expect("concurrent tasks did not finish within 60 s (deadlock?)");
    for r in all {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(why)) => panic!("concurrent access: {why}"),
            Err(join) => panic!("a concurrent task panicked: {join}"),
        }
    }
    for slot in 0..SLOTS {
        let k = format!("{base}{slot}");
        if let Some(v) = ok(cache.get(&k).await, "final get") {
            if let Err(why) = check_tagged(&v, slot) {
                panic!("final value of {k}: {why}");
            }
        }
    }
    Outcome::Passed
}

/// Rule 13: caches of different namespaces never see each other's entries.
pub async fn rule_13_namespaces_are_isolated(h: &dyn Harness) -> Outcome {
    let (ns_a, ns_b) = (namespace(), namespace());
    let a = cache_in(h, &ns_a).await;
    let b = cache_in(h, &ns_b).await;
    let k = key("shared-name");
    ok(
        a.set(&k, "A".into(), &EntryOptions::new()).await,
        "set in A",
    );
    expect_value(
        ok(b.get(&k).await, "get in B"),
        None,
        "B reading a key only A set",
    );
    ok(b.set(&k, "B".into(), &expires_in(60.0)).await, "set in B");
    expect_value(
        ok(a.get(&k).await, "get in A"),
        Some(b"A"),
        "A after B set the same key",
    );
    expect_value(ok(b.get(&k).await, "get in B"), Some(b"B"), "B's own entry");
    ok(b.remove(&k).await, "remove in B");
    expect_value(
        ok(a.get(&k).await, "get in A"),
        Some(b"A"),
        "A after B removed the same key",
    );
    ok(a.remove(&k).await, "remove in A");
    Outcome::Passed
}

/// Rule 14: foreign or corrupt data under a key is a miss or `CorruptEntry`,
/// never a panic or a wrong value; remove clears it and the key is usable.
pub async fn rule_14_foreign_data_is_corrupt_or_miss(h: &dyn Harness) -> Outcome {
    let variants = h.foreign_data();
    if variants.is_empty() {
        return Outcome::Skipped(format!("no foreign data to inject: {}", h.skip_reason()));
    }
    let ns = namespace();
    let cache = cache_in(h, &ns).await;
    for (i, name) in variants.iter().enumerate() {
        let k = key(&format!("foreign-{i}"));
        ok(
            h.write_foreign(&ns, &k, i).await,
            &format!("harness writing {name}"),
        );
        let what = format!("{name} under the key");
        match cache.get(&k).await {
            Ok(None) => {}
            Err(e) if e.kind() == ErrorKind::CorruptEntry => {}
            Ok(Some(v)) => panic!("get with {what}: returned a value of {} bytes", v.len()),
            Err(e) => panic!("get with {what}: expected a miss or CorruptEntry, got {e}"),
        }
        match cache.refresh(&k).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::CorruptEntry => {}
            Err(e) => panic!("refresh with {what}: expected Ok or CorruptEntry, got {e}"),
        }
        match cache.inspect(&k).await {
            Ok(None) => {}
            Ok(Some(info)) => panic!("inspect with {what}: described it as an entry: {info:?}"),
            Err(e) if matches!(e.kind(), ErrorKind::CorruptEntry | ErrorKind::Unsupported) => {}
            Err(e) => panic!("inspect with {what}: expected a miss or CorruptEntry, got {e}"),
        }
        ok(cache.remove(&k).await, &format!("remove with {what}"));
        ok(
            cache.set(&k, "fine".into(), &EntryOptions::new()).await,
            "set after remove",
        );
        expect_value(
            ok(cache.get(&k).await, "get"),
            Some(b"fine"),
            "entry after foreign data removed",
        );
    }
    Outcome::Passed
}

type Op<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>>;

fn is_outage_error<T>(r: &Result<T>) -> bool {
    matches!(r, Err(e) if matches!(e.kind(), ErrorKind::Connection | ErrorKind::Timeout))
}

/// Rule 15: with the server down every operation fails with `Connection` or
/// `Timeout` within the configured timeout (validation still comes first);
/// when it is back, the same cache instance works again.
pub async fn rule_15_backend_down_fails_fast_and_recovers(h: &dyn Harness) -> Outcome {
    let Some(mut outage) = h.outage().await else {
        return Outcome::Skipped(format!("no outage fixture: {}", h.skip_reason()));
    };
    let cache = outage.cache();
    let k = key("outage");
    ok(
        cache.set(&k, "before".into(), &EntryOptions::new()).await,
        "set before the outage",
    );
    outage.stop().await;
    let limit = outage.timeout() + Duration::from_secs(2);
    let no_options = EntryOptions::new();
    let ops: [(&str, Op<'_>); 4] = [
        ("get", Box::pin(async { cache.get(&k).await.map(|_| ()) })),
        ("set", Box::pin(cache.set(&k, "during".into(), &no_options))),
        ("refresh", Box::pin(cache.refresh(&k))),
        ("remove", Box::pin(cache.remove(&k))),
    ];
    for (name, op) in ops {
        let started = Instant::now();
        // Past the limit the verdict is settled: waiting longer only slows
        // the kit down.
        let r = tokio::time::timeout(limit, op).await;
        let took = started.elapsed();
        match r {
            Err(_) => panic!(
                "{name} with the server down did not fail within the configured timeout + 2 s \
                 ({limit:?}): it hangs"
            ),
            Ok(r) => {
                assert!(
                    is_outage_error(&r),
                    "{name} with the server down: expected Connection or Timeout, got {r:?}"
                );
                assert!(
                    took <= limit,
                    "{name} with the server down took {took:?}, over the configured timeout + 2 s \
                     ({limit:?})"
                );
            }
        }
    }
    // Validation comes before any I/O, so it answers even with the server down.
    let bounded = |what: &'static str| {
        move |r: std::result::Result<Result<()>, tokio::time::error::Elapsed>| match r {
            Ok(r) => r,
            Err(_) => panic!("{what} with the server down hung for over {limit:?}"),
        }
    };
    fails_with(
        bounded("get(\"\")")(
            tokio::time::timeout(limit, async { cache.get("").await.map(|_| ()) }).await,
        ),
        ErrorKind::InvalidKey,
        "get(\"\") with the server down (I/O before validation?)",
    );
    fails_with(
        bounded("set with invalid options")(
            tokio::time::timeout(
                limit,
                cache.set(&k, "x".into(), &EntryOptions::new().sliding(Duration::ZERO)),
            )
            .await,
        ),
        ErrorKind::InvalidOptions,
        "invalid options with the server down (I/O before validation?)",
    );
    outage.start().await;
    let recovery = outage.recovery_timeout();
    let deadline = Instant::now() + recovery;
    loop {
        let attempt =
            tokio::time::timeout(limit, cache.set(&k, "after".into(), &EntryOptions::new())).await;
        match attempt {
            Ok(Ok(())) => break,
            _ if Instant::now() < deadline => sleep(0.2).await,
            Ok(Err(e)) => panic!(
                "the same cache instance did not recover within {recovery:?} of the server's \
                 return: {e}"
            ),
            Err(_) => panic!(
                "the same cache instance did not recover within {recovery:?} of the server's \
                 return: set hangs"
            ),
        }
    }
    expect_value(
        ok(cache.get(&k).await, "get after recovery"),
        Some(b"after"),
        "entry after recovery",
    );
    Outcome::Passed
}

/// Rule 16: a set dropped part-way leaves the old or the new value, whole;
/// gets dropped part-way leave the cache usable.
pub async fn rule_16_cancellation_leaves_old_or_new(h: &dyn Harness) -> Outcome {
    let cache = fresh(h).await;
    let old = random_bytes(64 * 1024);
    let new = random_bytes(64 * 1024);
    for polls in 0..12 {
        let k = key(&format!("cancel-{polls}"));
        ok(
            cache.set(&k, old.clone(), &EntryOptions::new()).await,
            "set old",
        );
        let _ = PollLimit::new(cache.set(&k, new.clone(), &EntryOptions::new()), polls).await;
        let _ = PollLimit::new(cache.get(&k), polls).await;
        let _ = PollLimit::new(cache.refresh(&k), polls).await;
        // Let anything the dropped futures left in flight land.
        sleep(0.05).await;
        let got = ok(
            within(
                &format!("get after operations cancelled at poll {polls}"),
                cache.get(&k),
            )
            .await,
            "get after a cancelled set",
        );
        match got {
            Some(v) if v == old || v == new => {}
            Some(v) => panic!(
                "after a set cancelled at poll {polls}: the value is neither the old nor the \
                 new one ({} bytes; a mix of both?)",
                v.len()
            ),
            None => panic!(
                "after a set cancelled at poll {polls}: the old entry is gone and no new one"
            ),
        }
        ok(
            within(
                "set after cancellations",
                cache.set(&k, Bytes::from_static(b"usable"), &EntryOptions::new()),
            )
            .await,
            "set after cancellations (cache unusable after a cancelled operation?)",
        );
        expect_value(
            ok(
                within("get after cancellations", cache.get(&k)).await,
                "get",
            ),
            Some(b"usable"),
            "cache after cancellations",
        );
    }
    Outcome::Passed
}

/// Runs `fut`, failing the case if it takes over 10 s: an operation wedged
/// by an earlier cancelled one must fail the case, not hang it.
async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within 10 s (wedged by a cancelled operation?)"),
    }
}
