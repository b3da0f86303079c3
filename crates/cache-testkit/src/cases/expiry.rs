//! Rules 3, 7, 8, 9 and 11, and the rounding rule of the contract's "Time"
//! section. Whole seconds with at least a second of margin each side; checks
//! that can run side by side do, so each case waits only a few seconds.
//!
//! Every case here runs on a [`Timeline`]: steps are slept to as instants
//! after the attempt's start, and a step that ran more than [`SLACK`] late
//! makes the attempt inconclusive (retried) instead of judged, so an
//! overloaded machine can't fail a correct backend.

use std::sync::Arc;
use std::time::SystemTime;

use cache_abstractions::{round_up, DistributedCache, EntryInfo, EntryOptions, ErrorKind};

use crate::harness::Harness;
use crate::runner::Outcome;
use crate::support::*;

pub(super) type Cache = Arc<dyn DistributedCache>;
pub(super) type Got = cache_abstractions::Result<Option<bytes::Bytes>>;

pub(super) async fn set(cache: &Cache, k: &str, v: &'static str, options: &EntryOptions) {
    ok(
        cache.set(k, v.into(), options).await,
        &format!("set {k} with {options:?}"),
    );
}

/// Sets `k` with options made just before the set (an instant is taken
/// from the clock at that moment). An instant that a slow machine let pass
/// before the set reached the backend is rightly rejected; that makes the
/// attempt late, not the backend wrong.
async fn set_at(
    cache: &Cache,
    k: &str,
    name: &str,
    options: fn() -> EntryOptions,
) -> Result<(), Late> {
    let options = options();
    match cache.set(k, "v".into(), &options).await {
        Ok(()) => Ok(()),
        Err(e)
            if e.kind() == ErrorKind::InvalidOptions
                && options
                    .absolute_expiration()
                    .is_some_and(|at| at <= SystemTime::now()) =>
        {
            Err(Late(format!(
                "{name}: the instant passed before the set landed"
            )))
        }
        Err(e) => panic!("set {k} ({name}): unexpected error: {e} ({e:?})"),
    }
}

#[track_caller]
pub(super) fn present(got: Got, v: &str, what: &str) {
    expect_value(ok(got, what), Some(v.as_bytes()), what);
}

#[track_caller]
pub(super) fn absent(got: Got, what: &str) {
    expect_value(ok(got, what), None, what);
}

/// Rule 3: a second set without expiry clears the first set's expiry
/// (absolute or sliding), and a second expiry replaces the first.
pub async fn rule_03_overwrite_replaces_expiry(h: &dyn Harness) -> Outcome {
    on_schedule(|| overwrite_replaces_expiry(h)).await
}

async fn overwrite_replaces_expiry(h: &dyn Harness) -> Timed {
    let cache = fresh(h).await;
    let (a, b, c) = (
        key("abs-then-none"),
        key("sliding-then-none"),
        key("abs-then-longer"),
    );
    let t = Timeline::start(&*cache).await;
    set(&cache, &a, "a1", &expires_in(1.0)).await;
    set(&cache, &b, "b1", &sliding(1.0)).await;
    set(&cache, &c, "c1", &expires_in(1.0)).await;
    set(&cache, &a, "a2", &EntryOptions::new()).await;
    set(&cache, &b, "b2", &EntryOptions::new()).await;
    set(&cache, &c, "c2", &expires_in(30.0)).await;
    // The overwrites must land while the first expiries are still pending.
    t.on_time(0.0, "the sets")?;
    t.at(2.5).await;
    present(
        cache.get(&a).await,
        "a2",
        "entry set with 1 s expiry, then with none, after 2.5 s",
    );
    present(
        cache.get(&b).await,
        "b2",
        "entry set with 1 s sliding, then with none, after 2.5 s",
    );
    present(
        cache.get(&c).await,
        "c2",
        "entry set with 1 s expiry, then with 30 s, after 2.5 s",
    );
    Ok(Outcome::Passed)
}

/// Rule 3: a second set with an expiry adds it to an entry that had none.
pub async fn rule_03_overwrite_adds_expiry(h: &dyn Harness) -> Outcome {
    on_schedule(|| overwrite_adds_expiry(h)).await
}

async fn overwrite_adds_expiry(h: &dyn Harness) -> Timed {
    let cache = fresh(h).await;
    let k = key("none-then-abs");
    set(&cache, &k, "v1", &EntryOptions::new()).await;
    let t = Timeline::start(&*cache).await;
    set(&cache, &k, "v2", &expires_in(1.0)).await;
    let got = cache.get(&k).await;
    t.on_time(0.0, "set and get")?;
    present(got, "v2", "new value right after overwrite");
    t.at(2.5).await;
    absent(
        cache.get(&k).await,
        "entry overwritten with a 1 s expiry, after 2.5 s",
    );
    Ok(Outcome::Passed)
}

/// Rule 7: absolute expiration as an instant and relative to now, and the
/// earlier of the two winning when both are given.
pub async fn rule_07_absolute_expiration(h: &dyn Harness) -> Outcome {
    on_schedule(|| absolute_expiration(h)).await
}

async fn absolute_expiration(h: &dyn Harness) -> Timed {
    let cache = fresh(h).await;
    let t = Timeline::start(&*cache).await;
    type Make = fn() -> EntryOptions;
    let cases: [(&str, Make); 4] = [
        ("relative 1 s", || expires_in(1.0)),
        ("instant now+1 s", || {
            EntryOptions::new().expires_at(SystemTime::now() + secs(1.0))
        }),
        ("instant now+1 s with relative 60 s", || {
            EntryOptions::new()
                .expires_at(SystemTime::now() + secs(1.0))
                .expires_in(secs(60.0))
        }),
        ("instant now+60 s with relative 1 s", || {
            EntryOptions::new()
                .expires_at(SystemTime::now() + secs(60.0))
                .expires_in(secs(1.0))
        }),
    ];
    let keys: Vec<String> = cases.iter().map(|(n, _)| key(n)).collect();
    for ((name, options), k) in cases.iter().zip(&keys) {
        set_at(&cache, k, name, *options).await?;
    }
    let long = key("relative 4 s");
    set(&cache, &long, "long", &expires_in(4.0)).await;
    let mut fresh_reads = Vec::new();
    for k in &keys {
        fresh_reads.push(cache.get(k).await);
    }
    t.on_time(0.0, "sets and gets")?;
    for ((name, _), got) in cases.iter().zip(fresh_reads) {
        present(got, "v", &format!("{name}: right after set"));
    }
    t.at(2.2).await;
    for ((name, _), k) in cases.iter().zip(&keys) {
        absent(cache.get(k).await, &format!("{name}: 2.2 s after set"));
        // A miss must not bring it back either.
        absent(
            cache.get(k).await,
            &format!("{name}: second get after expiry"),
        );
    }
    let got = cache.get(&long).await;
    t.on_time(2.2, "gets")?;
    present(got, "long", "relative 4 s, 2.2 s after set");
    Ok(Outcome::Passed)
}

/// Rule 7: reads and refreshes never extend an absolute expiration, as an
/// instant or relative to now (a relative expiry is not a sliding window).
///
/// 3 s entries read (or refreshed) 1 s and 2 s after set must be gone 4 s
/// after set; a backend that restarted them on each access would still hold
/// them until 5 s. Whole seconds, 1 s margins.
pub async fn rule_07_reads_never_extend_absolute(h: &dyn Harness) -> Outcome {
    on_schedule(|| reads_never_extend_absolute(h)).await
}

async fn reads_never_extend_absolute(h: &dyn Harness) -> Timed {
    let cache = fresh(h).await;
    let t = Timeline::start(&*cache).await;
    type Make = fn() -> EntryOptions;
    let entries: [(&str, String, Make, bool); 3] = [
        (
            "relative 3 s, read",
            key("relative read"),
            || expires_in(3.0),
            true,
        ),
        (
            "relative 3 s, refreshed",
            key("relative refreshed"),
            || expires_in(3.0),
            false,
        ),
        (
            "instant now+3 s, read",
            key("instant read"),
            || EntryOptions::new().expires_at(SystemTime::now() + secs(3.0)),
            true,
        ),
    ];
    for (name, k, options, _) in &entries {
        set_at(&cache, k, name, *options).await?;
    }
    t.on_time(0.0, "the sets")?;
    for at in [1.0, 2.0] {
        t.at(at).await;
        let mut reads = Vec::new();
        for (name, k, _, read) in &entries {
            if *read {
                reads.push((*name, cache.get(k).await));
            } else {
                ok(cache.refresh(k).await, &format!("refresh of {name}"));
            }
        }
        t.on_time(at, "reads and refreshes")?;
        for (name, got) in reads {
            present(got, "v", &format!("{name} {at} s after set"));
        }
    }
    t.at(4.0).await;
    for (name, k, _, _) in &entries {
        absent(
            cache.get(k).await,
            &format!("{name} 1 s and 2 s after set, 4 s after set (accesses extended it?)"),
        );
    }
    Ok(Outcome::Passed)
}

/// Rule 8: an idle sliding entry expires.
pub async fn rule_08_sliding_expires_when_idle(h: &dyn Harness) -> Outcome {
    on_schedule(|| sliding_expires_when_idle(h)).await
}

async fn sliding_expires_when_idle(h: &dyn Harness) -> Timed {
    let cache = fresh(h).await;
    let k = key("idle");
    let t = Timeline::start(&*cache).await;
    set(&cache, &k, "v", &sliding(2.0)).await;
    let got = cache.get(&k).await;
    t.on_time(0.0, "set and get")?;
    present(got, "v", "sliding entry right after set");
    t.at(3.2).await;
    absent(cache.get(&k).await, "2 s sliding entry idle for 3.2 s");
    Ok(Outcome::Passed)
}

/// Rule 8: each get restarts the window, so regular reads keep an entry
/// alive past its first window, and a read does not make it immortal.
///
/// Two 2 s sliding entries side by side: `kept` is read every second and
/// must be there 3 s after set (1 s past its first window); `left` is read
/// once at 1 s and must be gone 4 s after set (1 s past the window that
/// read restarted). A third, only inspected at 1 s and 2 s, must be gone at
/// 3 s: `inspect` never slides. Whole seconds, 1 s margins, 4 s in all.
pub async fn rule_08_get_restarts_window(h: &dyn Harness) -> Outcome {
    on_schedule(|| get_restarts_window(h)).await
}

async fn get_restarts_window(h: &dyn Harness) -> Timed {
    let cache = fresh(h).await;
    let (kept, left) = (key("read every second"), key("read once"));
    let inspected = key("inspected");
    let t = Timeline::start(&*cache).await;
    set(&cache, &kept, "v", &sliding(2.0)).await;
    set(&cache, &left, "v", &sliding(2.0)).await;
    set(&cache, &inspected, "v", &sliding(2.0)).await;
    t.on_time(0.0, "the sets")?;
    for i in 1..=3 {
        let at = f64::from(i);
        t.at(at).await;
        let got_kept = cache.get(&kept).await;
        let got_left = if i == 1 {
            Some(cache.get(&left).await)
        } else {
            None
        };
        let inspect = if i < 3 {
            Some(cache.inspect(&inspected).await)
        } else {
            None
        };
        t.on_time(at, "reads")?;
        present(
            got_kept,
            "v",
            &format!("2 s sliding entry read every second, read {i} ({i} s after set)"),
        );
        if let Some(got) = got_left {
            present(got, "v", "2 s sliding entry, 1 s after set");
        }
        match inspect {
            None | Some(Ok(_)) => {}
            Some(Err(e)) if e.kind() == ErrorKind::Unsupported => {}
            Some(Err(e)) => panic!("inspect of a 2 s sliding entry {i} s after set: {e}"),
        }
        if i == 3 {
            absent(
                cache.get(&inspected).await,
                "2 s sliding entry only inspected, 1 s and 2 s after set, 3 s after set \
                 (inspect restarted the window?)",
            );
        }
    }
    t.at(4.0).await;
    absent(
        cache.get(&left).await,
        "2 s sliding entry read 1 s after set, 4 s after set (3 s idle)",
    );
    Ok(Outcome::Passed)
}

/// Rule 8: refresh restarts the window without reading the value, and does
/// not make the entry immortal. The same timeline as
/// [`rule_08_get_restarts_window`], with refreshes in place of reads.
pub async fn rule_08_refresh_restarts_window(h: &dyn Harness) -> Outcome {
    on_schedule(|| refresh_restarts_window(h)).await
}

async fn refresh_restarts_window(h: &dyn Harness) -> Timed {
    let cache = fresh(h).await;
    let (kept, left) = (key("refreshed every second"), key("refreshed once"));
    let t = Timeline::start(&*cache).await;
    set(&cache, &kept, "v", &sliding(2.0)).await;
    set(&cache, &left, "v", &sliding(2.0)).await;
    t.on_time(0.0, "the sets")?;
    for i in 1..=2 {
        let at = f64::from(i);
        t.at(at).await;
        ok(cache.refresh(&kept).await, "refresh");
        if i == 1 {
            ok(cache.refresh(&left).await, "refresh");
        }
        t.on_time(at, "refreshes")?;
    }
    t.at(3.0).await;
    let got = cache.get(&kept).await;
    t.on_time(3.0, "get")?;
    // 3 s after set: alive only because the refreshes slid the window.
    present(
        got,
        "v",
        "2 s sliding entry refreshed 1 s and 2 s after set, 3 s after set",
    );
    t.at(4.0).await;
    absent(
        cache.get(&left).await,
        "2 s sliding entry refreshed 1 s after set, 4 s after set (3 s idle)",
    );
    Ok(Outcome::Passed)
}

/// Rule 8: the window never reaches past the absolute expiration, neither
/// at set nor after a read.
pub async fn rule_08_sliding_capped_by_absolute(h: &dyn Harness) -> Outcome {
    on_schedule(|| sliding_capped_by_absolute(h)).await
}

async fn sliding_capped_by_absolute(h: &dyn Harness) -> Timed {
    let cache = fresh(h).await;
    let options = EntryOptions::new().sliding(secs(4.0)).expires_in(secs(1.5));
    let (unread, read) = (key("unread"), key("read"));
    let t = Timeline::start(&*cache).await;
    set(&cache, &unread, "v", &options).await;
    set(&cache, &read, "v", &options).await;
    t.on_time(0.0, "the sets")?;
    t.at(0.5).await;
    let got = cache.get(&read).await;
    t.on_time(0.5, "get")?;
    present(got, "v", "entry 0.5 s after set");
    t.at(3.0).await;
    absent(
        cache.get(&unread).await,
        "4 s sliding entry with 1.5 s absolute expiry, 3 s after set (unread)",
    );
    absent(
        cache.get(&read).await,
        "4 s sliding entry with 1.5 s absolute expiry, read at 0.5 s, 3 s after set",
    );
    Ok(Outcome::Passed)
}

/// Rule 9: empty options mean the backend's declared default.
pub async fn rule_09_no_options_uses_default(h: &dyn Harness) -> Outcome {
    on_schedule(|| no_options_uses_default(h)).await
}

async fn no_options_uses_default(h: &dyn Harness) -> Timed {
    let cache = fresh(h).await;
    let default = cache.capabilities().default_options;
    let k = key("default");
    let t = Timeline::start(&*cache).await;
    set(&cache, &k, "v", &EntryOptions::new()).await;
    t.on_time(0.0, "the set")?;
    // Where the backend can describe the entry, it must carry the default:
    // a 20-minute default can't be waited for, but it can be seen.
    match cache.inspect(&k).await {
        Ok(Some(info)) => check_default(&info, &default, cache.capabilities().expiry_granularity),
        Ok(None) => panic!("inspect of an entry just set without options: no entry"),
        Err(e) if e.kind() == ErrorKind::Unsupported => {}
        Err(e) => panic!("inspect of an entry just set without options: {e}"),
    }
    let quickest = [
        default.sliding_expiration(),
        default.absolute_expiration_relative_to_now(),
    ]
    .into_iter()
    .flatten()
    .min();
    match quickest {
        None => {
            t.at(2.5).await;
            present(
                cache.get(&k).await,
                "v",
                "entry without options (default: no expiry), after 2.5 s",
            );
        }
        Some(d) if d <= secs(3.0) => {
            t.at(d.as_secs_f64() + 1.5).await;
            absent(
                cache.get(&k).await,
                "entry without options, after its default expiry",
            );
        }
        Some(d) => {
            t.at(2.5).await;
            let got = cache.get(&k).await;
            t.on_time(2.5, "get")?;
            present(
                got,
                "v",
                &format!("entry without options (default expiry {d:?}), after 2.5 s"),
            );
        }
    }
    Ok(Outcome::Passed)
}

/// Asserts that `info` describes an entry stored with the `default` options.
#[track_caller]
fn check_default(info: &EntryInfo, default: &EntryOptions, granularity: std::time::Duration) {
    let want_sliding = default
        .sliding_expiration()
        .map(|s| round_up(s, granularity));
    let got_sliding = info.sliding_expiration.map(|s| round_up(s, granularity));
    assert_eq!(
        got_sliding,
        want_sliding,
        "entry set without options: its sliding window is {:?}, the declared default is {:?} \
         (default options not applied?)",
        info.sliding_expiration,
        default.sliding_expiration()
    );
    let want_absolute = default.absolute_expiration().is_some()
        || default.absolute_expiration_relative_to_now().is_some();
    assert_eq!(
        info.absolute_expiration.is_some(),
        want_absolute,
        "entry set without options: absolute expiration {:?}, the declared default is {default:?} \
         (default options not applied?)",
        info.absolute_expiration
    );
    if default.is_empty() {
        assert_eq!(
            info.expires_at, None,
            "entry set without options, default no expiry: inspect says it expires"
        );
    }
}

/// Rule 11: an expired entry is never returned, whether it is first read
/// or first refreshed after expiring, and neither brings it back; remove
/// and a new set work on its key.
pub async fn rule_11_expired_is_invisible(h: &dyn Harness) -> Outcome {
    on_schedule(|| expired_is_invisible(h)).await
}

async fn expired_is_invisible(h: &dyn Harness) -> Timed {
    let cache = fresh(h).await;
    let entries = [
        (
            key("absolute, refreshed"),
            "absolute 1 s",
            expires_in(1.0),
            true,
        ),
        (key("sliding, refreshed"), "sliding 1 s", sliding(1.0), true),
        (
            key("absolute, read"),
            "absolute 1 s",
            expires_in(1.0),
            false,
        ),
        (key("sliding, read"), "sliding 1 s", sliding(1.0), false),
    ];
    let t = Timeline::start(&*cache).await;
    for (k, _, options, _) in &entries {
        set(&cache, k, "v", options).await;
    }
    t.on_time(0.0, "the sets")?;
    t.at(2.2).await;
    for (k, name, _, refresh_first) in &entries {
        let how = if *refresh_first {
            ok(cache.refresh(k).await, "refresh of an expired entry");
            "and a refresh"
        } else {
            "read first"
        };
        absent(
            cache.get(k).await,
            &format!("{name} entry after 2.2 s {how}"),
        );
        absent(
            cache.get(k).await,
            &format!("{name} entry after 2.2 s {how}, second get"),
        );
        ok(cache.remove(k).await, "remove of an expired entry");
        set(&cache, k, "again", &EntryOptions::new()).await;
        present(
            cache.get(k).await,
            "again",
            "new entry under an expired key",
        );
    }
    Ok(Outcome::Passed)
}

/// Contract, "Time": durations below the backend's granularity round up,
/// never down to zero (an entry set with 300 ms is there right after set).
pub async fn time_sub_granularity_rounds_up(h: &dyn Harness) -> Outcome {
    on_schedule(|| sub_granularity_rounds_up(h)).await
}

async fn sub_granularity_rounds_up(h: &dyn Harness) -> Timed {
    let cache = fresh(h).await;
    type Make = fn() -> EntryOptions;
    let cases: [(&str, Make); 3] = [
        ("relative 300 ms", || expires_in(0.3)),
        ("sliding 300 ms", || sliding(0.3)),
        // The instant is taken just before its set, so no time is lost.
        ("instant now+300 ms", || {
            EntryOptions::new().expires_at(SystemTime::now() + secs(0.3))
        }),
    ];
    for (name, options) in cases {
        let k = key(name);
        // Judged only if set and get took under 250 ms: a correct backend
        // with millisecond granularity may drop the entry at 300 ms.
        let t = Timeline::start(&*cache).await;
        ok(cache.set(&k, "v".into(), &options()).await, name);
        let got = cache.get(&k).await;
        t.within(secs(0.25), &format!("{name}: set and get"))?;
        present(
            got,
            "v",
            &format!("{name}: right after set (rounded down to zero?)"),
        );
    }
    let k = key("relative 300 ms, later");
    let t = Timeline::start(&*cache).await;
    ok(cache.set(&k, "v".into(), &expires_in(0.3)).await, "set");
    t.on_time(0.0, "the set")?;
    t.at(2.5).await;
    absent(cache.get(&k).await, "300 ms entry after 2.5 s");
    Ok(Outcome::Passed)
}
