//! Rules 1, 2, 4, 5 and 6: what can be checked without waiting.

use bytes::Bytes;
use cache_abstractions::{
    max_absolute_expiration, EntryOptions, ErrorKind, KeyLimit, MAX_SLIDING_EXPIRATION,
};
use std::time::{Duration, SystemTime};

use crate::harness::Harness;
use crate::runner::Outcome;
use crate::support::*;

async fn round_trip(h: &dyn Harness, values: &[(&str, Bytes)]) -> Outcome {
    let cache = fresh(h).await;
    let max = cache.capabilities().max_value_size;
    let mut skipped = Vec::new();
    for (name, value) in values {
        if max.is_some_and(|m| value.len() > m) {
            skipped.push(*name);
            continue;
        }
        let k = key(name);
        ok(
            cache.set(&k, value.clone(), &EntryOptions::new()).await,
            &format!("set {name}"),
        );
        let got = ok(cache.get(&k).await, &format!("get {name}"));
        expect_value(got, Some(value), &format!("round trip of {name}"));
        ok(cache.remove(&k).await, "remove");
    }
    if skipped.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Skipped(format!(
            "values larger than the backend's max_value_size ({max:?}): {skipped:?}"
        ))
    }
}

/// Rule 1: small values, the empty value included, round trip exactly.
pub async fn rule_01_round_trip_small_values(h: &dyn Harness) -> Outcome {
    round_trip(
        h,
        &[
            ("empty", Bytes::new()),
            ("one zero byte", Bytes::from_static(&[0])),
            ("text", Bytes::from_static("héllo, wörld ✓".as_bytes())),
            (
                "invalid utf-8",
                Bytes::from_static(&[0xff, 0xfe, 0x00, 0xc3]),
            ),
        ],
    )
    .await
}

/// Rule 1: every byte value survives, in order.
pub async fn rule_01_round_trip_all_byte_values(h: &dyn Harness) -> Outcome {
    let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    round_trip(h, &[("all 256 byte values", Bytes::from(all))]).await
}

/// Rule 1: a 1 MiB value round trips.
pub async fn rule_01_round_trip_1mib(h: &dyn Harness) -> Outcome {
    round_trip(h, &[("1 MiB", random_bytes(1 << 20))]).await
}

/// Rule 1: a 16 MiB value round trips.
pub async fn rule_01_round_trip_16mib(h: &dyn Harness) -> Outcome {
    round_trip(h, &[("16 MiB", random_bytes(16 << 20))]).await
}

/// Rule 2: a key never set is a miss, not an error.
pub async fn rule_02_miss_returns_none(h: &dyn Harness) -> Outcome {
    let cache = fresh(h).await;
    for tag in ["never-set", "unicode-ключ-🔑"] {
        let got = ok(cache.get(&key(tag)).await, "get of a missing key");
        expect_value(got, None, "get of a key never set");
    }
    Outcome::Passed
}

/// Rule 4: remove and refresh of a missing key succeed and create nothing.
pub async fn rule_04_missing_key_remove_and_refresh(h: &dyn Harness) -> Outcome {
    let cache = fresh(h).await;
    let k = key("missing");
    ok(cache.remove(&k).await, "remove of a missing key");
    ok(cache.refresh(&k).await, "refresh of a missing key");
    expect_value(
        ok(cache.get(&k).await, "get"),
        None,
        "get after refresh/remove of a missing key",
    );
    Outcome::Passed
}

/// Rule 4 (and the `remove` operation): remove deletes, and only its key.
pub async fn rule_04_remove_deletes_only_its_key(h: &dyn Harness) -> Outcome {
    let cache = fresh(h).await;
    let (a, b) = (key("a"), key("b"));
    ok(
        cache.set(&a, "A".into(), &EntryOptions::new()).await,
        "set a",
    );
    ok(
        cache.set(&b, "B".into(), &EntryOptions::new()).await,
        "set b",
    );
    ok(cache.remove(&a).await, "remove a");
    expect_value(ok(cache.get(&a).await, "get a"), None, "removed key");
    expect_value(ok(cache.get(&b).await, "get b"), Some(b"B"), "other key");
    ok(cache.remove(&a).await, "second remove of a");
    Outcome::Passed
}

/// Rule 5: keys that differ only in case, spaces, script, Unicode
/// normalization, collation equivalence (ß/ss, full-width letters) or a
/// late character of a long common prefix never collide.
pub async fn rule_05_distinct_keys_never_collide(h: &dyn Harness) -> Outcome {
    let cache = fresh(h).await;
    let base = key("");
    // Long keys share a 300-character prefix, or as long a one as the
    // declared key limit leaves room for (a correct backend with a short
    // limit must not fail here for rejecting the kit's keys).
    let room = match cache.capabilities().max_key_length {
        KeyLimit::Utf8Bytes(n) | KeyLimit::Utf16Units(n) => n.saturating_sub(base.len()),
        _ => 301,
    };
    if room < 8 {
        return Outcome::Skipped(format!(
            "the declared key limit leaves {room} units after the kit's {}-character prefix",
            base.len()
        ));
    }
    let long = "p".repeat(room.min(301) - 1);
    let suffixes = [
        "k".to_string(),
        "K".to_string(),
        "k ".to_string(),
        " k".to_string(),
        "k  ".to_string(),
        "ключ".to_string(),
        "КЛЮЧ".to_string(),
        "🔑".to_string(),
        "k:1".to_string(),
        "k:10".to_string(),
        // Equal under accent-, width- or expansion-insensitive collations
        // (SQL Server's defaults), distinct as strings.
        "\u{e9}".to_string(),
        "e\u{301}".to_string(),
        "ß".to_string(),
        "ss".to_string(),
        "\u{ff4b}".to_string(),
        format!("{long}a"),
        format!("{long}b"),
        format!("{long}A"),
    ];
    let keys: Vec<String> = suffixes.iter().map(|s| format!("{base}{s}")).collect();
    for (i, k) in keys.iter().enumerate() {
        ok(
            cache
                .set(k, Bytes::from(format!("value {i}")), &EntryOptions::new())
                .await,
            &format!("set {k:?}"),
        );
    }
    for (i, k) in keys.iter().enumerate() {
        let want = format!("value {i}");
        expect_value(
            ok(cache.get(k).await, "get"),
            Some(want.as_bytes()),
            &format!("key {k:?} (collides with a similar key?)"),
        );
    }
    Outcome::Passed
}

/// Rule 5: the empty key is rejected by every operation with `InvalidKey`.
pub async fn rule_05_empty_key_rejected(h: &dyn Harness) -> Outcome {
    let cache = fresh(h).await;
    fails_with(cache.get("").await, ErrorKind::InvalidKey, "get(\"\")");
    fails_with(
        cache.set("", "v".into(), &EntryOptions::new()).await,
        ErrorKind::InvalidKey,
        "set(\"\")",
    );
    fails_with(
        cache.refresh("").await,
        ErrorKind::InvalidKey,
        "refresh(\"\")",
    );
    fails_with(
        cache.remove("").await,
        ErrorKind::InvalidKey,
        "remove(\"\")",
    );
    Outcome::Passed
}

/// `units` of key length in `limit`'s unit, in characters that are longer
/// in the other measures: é (2 UTF-8 bytes, 1 UTF-16 unit) and, for UTF-16
/// limits, a few 😀 (4 bytes, 2 units, 1 char).
fn fill_units(limit: KeyLimit, units: usize) -> String {
    match limit {
        KeyLimit::Utf16Units(_) => {
            let astral = (units / 2).min(4);
            let mut s: String = std::iter::repeat_n('😀', astral).collect();
            s.extend(std::iter::repeat_n('é', units - 2 * astral));
            s
        }
        _ => {
            let mut s: String = std::iter::repeat_n('é', units / 2).collect();
            s.extend(std::iter::repeat_n('e', units % 2));
            s
        }
    }
}

/// Rule 5: a key at the backend's limit is stored whole; one unit longer is
/// rejected with `InvalidKey` and never truncated onto another key. Keys are
/// measured in the declared unit: the keys mix characters whose lengths in
/// bytes, UTF-16 units and chars all differ.
pub async fn rule_05_key_length_limit(h: &dyn Harness) -> Outcome {
    let cache = fresh(h).await;
    let prefix = key("");
    let limit = cache.capabilities().max_key_length;
    let max = match limit {
        KeyLimit::Utf16Units(n) | KeyLimit::Utf8Bytes(n) => n,
        KeyLimit::Unlimited => {
            // No limit declared: long keys must be stored whole.
            let a = format!("{prefix}{}a", "x".repeat(20_000));
            let b = format!("{prefix}{}b", "x".repeat(20_000));
            ok(
                cache.set(&a, "A".into(), &EntryOptions::new()).await,
                "set long a",
            );
            ok(
                cache.set(&b, "B".into(), &EntryOptions::new()).await,
                "set long b",
            );
            expect_value(
                ok(cache.get(&a).await, "get"),
                Some(b"A"),
                "20 000-char key a",
            );
            expect_value(
                ok(cache.get(&b).await, "get"),
                Some(b"B"),
                "20 000-char key b",
            );
            return Outcome::Passed;
        }
        _ => return Outcome::Skipped("unknown key limit kind".into()),
    };
    let used = prefix.len(); // ASCII prefix: one unit per char either way
    if max <= used + 2 {
        return Outcome::Skipped(format!("key limit {max} is shorter than the kit's prefix"));
    }
    // The fill is `max - used - 1` units of the declared kind, made of
    // characters whose length differs in every other measure (chars, UTF-8
    // bytes, UTF-16 units), so a backend that measures in the wrong unit
    // either rejects a key within its limit or accepts one over it.
    let fill = fill_units(limit, max - used - 1);
    let at_limit_a = format!("{prefix}{fill}a");
    let at_limit_b = format!("{prefix}{fill}b");
    let over = format!("{at_limit_a}c");
    ok(
        cache
            .set(&at_limit_a, "A".into(), &EntryOptions::new())
            .await,
        &format!("set of a key exactly at the declared {limit:?}"),
    );
    ok(
        cache
            .set(&at_limit_b, "B".into(), &EntryOptions::new())
            .await,
        "set of a second key at the limit",
    );
    fails_with(
        cache.set(&over, "OVER".into(), &EntryOptions::new()).await,
        ErrorKind::InvalidKey,
        &format!("set of a key one unit over the declared {limit:?} (stored cut short?)"),
    );
    fails_with(
        cache.get(&over).await,
        ErrorKind::InvalidKey,
        "get over the limit",
    );
    fails_with(
        cache.refresh(&over).await,
        ErrorKind::InvalidKey,
        "refresh over the limit",
    );
    fails_with(
        cache.remove(&over).await,
        ErrorKind::InvalidKey,
        "remove over the limit",
    );
    expect_value(
        ok(cache.get(&at_limit_a).await, "get"),
        Some(b"A"),
        "key at the limit after a longer key sharing its prefix was rejected",
    );
    expect_value(
        ok(cache.get(&at_limit_b).await, "get"),
        Some(b"B"),
        "second key at the limit",
    );
    Outcome::Passed
}

/// Rule 6: invalid options are rejected with `InvalidOptions` naming the
/// field, and the entry already under the key is left as it was.
pub async fn rule_06_invalid_options_rejected(h: &dyn Harness) -> Outcome {
    let cache = fresh(h).await;
    let k = key("existing");
    ok(
        cache.set(&k, "old".into(), &EntryOptions::new()).await,
        "set",
    );
    let past = SystemTime::now() - Duration::from_secs(60);
    let cases = [
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
            EntryOptions::new()
                .sliding(Duration::from_secs(60))
                .expires_at(past),
            "absolute_expiration",
        ),
        (
            EntryOptions::new().sliding(Duration::from_secs(u64::MAX / 4)),
            "sliding_expiration",
        ),
        (
            EntryOptions::new().sliding(MAX_SLIDING_EXPIRATION + Duration::from_secs(1)),
            "sliding_expiration",
        ),
        // Huge values must be rejected, not overflow (`now + d` panics).
        (
            EntryOptions::new().sliding(Duration::MAX),
            "sliding_expiration",
        ),
        (
            EntryOptions::new().expires_in(Duration::MAX),
            "absolute_expiration_relative_to_now",
        ),
        (
            EntryOptions::new().expires_at(max_absolute_expiration() + Duration::from_secs(1)),
            "absolute_expiration",
        ),
    ];
    for (options, field) in cases {
        let what = format!("set with {options:?}");
        match cache.set(&k, "new".into(), &options).await {
            Ok(()) => panic!("{what}: accepted invalid options"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{what}: {e}");
                assert_eq!(
                    e.field(),
                    Some(field),
                    "{what}: error names the wrong field: {e}"
                );
            }
        }
        expect_value(
            ok(cache.get(&k).await, "get"),
            Some(b"old"),
            &format!("entry after a rejected {what}"),
        );
    }
    let fresh_key = key("never");
    fails_with(
        cache
            .set(
                &fresh_key,
                "x".into(),
                &EntryOptions::new().sliding(Duration::ZERO),
            )
            .await,
        ErrorKind::InvalidOptions,
        "set of a new key with invalid options",
    );
    expect_value(
        ok(cache.get(&fresh_key).await, "get"),
        None,
        "a rejected set must write nothing",
    );
    Outcome::Passed
}
