//! [`DistributedCache::get_now`]: a get answered without waiting is exactly
//! the get. A backend that never answers (the default, every backend with a
//! network round trip) passes trivially.

use cache_abstractions::{DistributedCache, EntryOptions, ErrorKind};

use super::expiry::{absent, present, set, Cache, Got};
use crate::harness::Harness;
use crate::runner::Outcome;
use crate::support::*;

/// A read as a caller with a fast path makes it: `get_now`, and `get` when
/// the backend must wait (so the entry's window restarts either way and the
/// timeline holds for a backend that answers only sometimes).
async fn read(cache: &Cache, k: &str) -> Got {
    match cache.get_now(k) {
        Some(answered) => answered,
        None => cache.get(k).await,
    }
}

/// When `get_now` answers, it agrees with `get`: a hit's value, a miss, an
/// invalid key's `InvalidKey`, an expired entry (absolute or sliding) a
/// miss, a sliding window restarted by each answered read and not made
/// immortal by one.
pub async fn get_now_agrees_with_get(h: &dyn Harness) -> Outcome {
    on_schedule(|| agrees_with_get(h)).await
}

async fn agrees_with_get(h: &dyn Harness) -> Timed {
    let cache = fresh(h).await;
    let hit = key("now-hit");
    let (absolute, idle) = (key("now-absolute"), key("now-idle"));
    let (kept, left) = (key("now-read-every-second"), key("now-read-once"));
    let t = Timeline::start(&*cache).await;
    set(&cache, &hit, "v", &EntryOptions::new()).await;
    set(&cache, &absolute, "v", &expires_in(1.0)).await;
    set(&cache, &idle, "v", &sliding(1.0)).await;
    set(&cache, &kept, "v", &sliding(2.0)).await;
    set(&cache, &left, "v", &sliding(2.0)).await;
    let got_hit = cache.get_now(&hit);
    let got_miss = cache.get_now(&key("now-never-set"));
    let got_invalid = cache.get_now("");
    let got_absolute = cache.get_now(&absolute);
    t.on_time(0.0, "the sets and first reads")?;
    if let Some(got) = got_hit {
        present(got, "v", "get_now of an entry just set");
    }
    if let Some(got) = got_miss {
        absent(got, "get_now of a key never set");
    }
    if let Some(got) = got_invalid {
        fails_with(got, ErrorKind::InvalidKey, "get_now(\"\")");
    }
    if let Some(got) = got_absolute {
        present(got, "v", "get_now of a 1 s absolute entry right after set");
    }
    for i in 1..=3 {
        let at = f64::from(i);
        t.at(at).await;
        let got_kept = read(&cache, &kept).await;
        let got_left = if i == 1 {
            Some(read(&cache, &left).await)
        } else {
            None
        };
        let expired = if i == 2 {
            Some((cache.get_now(&absolute), cache.get_now(&idle)))
        } else {
            None
        };
        t.on_time(at, "reads")?;
        present(
            got_kept,
            "v",
            &format!(
                "2 s sliding entry read with get_now every second, read {i} ({i} s after set)"
            ),
        );
        if let Some(got) = got_left {
            present(
                got,
                "v",
                "2 s sliding entry, read with get_now 1 s after set",
            );
        }
        if let Some((got_absolute, got_idle)) = expired {
            if let Some(got) = got_absolute {
                absent(got, "get_now of a 1 s absolute entry 2 s after set");
            }
            if let Some(got) = got_idle {
                absent(got, "get_now of an idle 1 s sliding entry 2 s after set");
            }
        }
    }
    t.at(4.0).await;
    absent(
        cache.get(&left).await,
        "2 s sliding entry read with get_now 1 s after set, 4 s after set (3 s idle)",
    );
    Ok(Outcome::Passed)
}
