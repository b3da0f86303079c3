//! The hybrid cache (issue 11): a local-tier hit beside a cache-memory get
//! and a raw moka get, hit throughput beside a Redis get, and
//! `get_or_create` on a miss beside a plain get + set.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::figures::Figure;
use crate::fmt::{ns, rate, TargetRow};
use crate::inputs::Estimate;

/// Goal: a local-tier hit at most this many times a cache-memory get.
const HIT_VS_MEMORY_MAX: f64 = 1.5;
/// Goal: hit throughput at 50 tasks at least this many times a Redis get's.
const THROUGHPUT_VS_REDIS_MIN: f64 = 20.0;
/// The criterion groups of `benches/benches/hybrid.rs`.
pub(crate) const HIT: &str = "hybrid_local_hit_1KiB";
pub(crate) const MISS: &str = "hybrid_miss_1KiB";

/// The section, or a line saying it was not measured; `ratio` is
/// `hybrid-ratio.json` (`hybrid --ratio --json`).
pub(crate) fn section(
    c: &BTreeMap<String, Estimate>,
    ratio: Option<&Value>,
    targets: &mut Vec<TargetRow>,
    figures: &mut Vec<Figure>,
) -> String {
    let mut md = String::new();
    let get = |f: &str| c.get(f).map(|e| e.mean);
    let _ = writeln!(md, "## Hybrid cache\n");
    let has_hit = get(&format!("{HIT}/cache")).is_some();
    let has_miss = get(&format!("{MISS}/cache")).is_some();
    if !has_hit && !has_miss && ratio.is_none() {
        let _ = writeln!(md, "Not measured in this run (see \"Not in this run\").\n");
        // The goals stay in the targets table, marked as not measured.
        targets.push(TargetRow {
            what: "hybrid local-tier hit (1 KiB) latency vs a cache-memory get".into(),
            measured: "not in this run".into(),
            ratio: f64::NAN,
            limit: format!("≤ {HIT_VS_MEMORY_MAX}x"),
            pass: None,
        });
        throughput(&mut String::new(), None, targets, figures);
        return md;
    }
    let _ = writeln!(
        md,
        "`benches/benches/hybrid.rs`. Single calls (criterion) are polled in place with a \
         no-op waker like the memory backend's (no runtime): a local-tier hit never waits. \
         1,024 keys of 1 KiB, each stored with a 1 h expiry (the local tier holds entries \
         with an absolute expiry). Mean time per call with its 95% confidence interval; the \
         ratio is the hybrid call over this row's call.\n"
    );
    let cell = |id: &str| {
        c.get(id).map_or("not in this run".to_string(), |e| {
            format!("{} ({}–{})", ns(e.mean), ns(e.lower), ns(e.upper))
        })
    };
    let over = |a: &str, b: &str| match (get(a), get(b)) {
        (Some(a), Some(b)) => a / b,
        _ => f64::NAN,
    };
    let x = |r: f64| {
        if r.is_finite() {
            format!("{r:.2}x")
        } else {
            "-".into()
        }
    };
    let hit = format!("{HIT}/cache");
    let miss = format!("{MISS}/cache");
    let _ = writeln!(md, "| call | mean (95% CI) | hybrid / this |");
    let _ = writeln!(md, "|---|---:|---:|");
    for (label, id, base) in [
        ("hybrid `get_bytes`, local-tier hit", hit.clone(), ""),
        (
            "hybrid `get_or_create_bytes`, local-tier hit",
            format!("{HIT}/hybrid_get_or_create_bytes"),
            "",
        ),
        (
            "cache-memory `get` (the local tier's store)",
            format!("{HIT}/cache_memory_get"),
            "base",
        ),
        (
            "raw moka `get` (`moka::sync::Cache<String, Bytes>`)",
            format!("{HIT}/raw_moka_get"),
            "base",
        ),
        (
            "hybrid `get_or_create_bytes` on a miss (local miss, distributed miss, factory, both writes; distributed tier: cache-memory)",
            miss.clone(),
            "",
        ),
        (
            "cache-memory `get` then `set` (a hand-written get-or-compute)",
            format!("{MISS}/cache_memory_get_then_set"),
            "miss",
        ),
    ] {
        let r = match base {
            "base" => x(over(&hit, &id)),
            "miss" => x(over(&miss, &id)),
            _ => "-".into(),
        };
        let _ = writeln!(md, "| {label} | {} | {r} |", cell(&id));
    }
    md.push('\n');
    if has_hit {
        let r = over(&hit, &format!("{HIT}/cache_memory_get"));
        targets.push(TargetRow {
            what: "hybrid local-tier hit (1 KiB) latency vs a cache-memory get".into(),
            measured: pair(get(&hit), get(&format!("{HIT}/cache_memory_get"))),
            ratio: r,
            limit: format!("≤ {HIT_VS_MEMORY_MAX}x"),
            pass: r.is_finite().then_some(r <= HIT_VS_MEMORY_MAX),
        });
        let r = over(&hit, &format!("{HIT}/raw_moka_get"));
        targets.push(TargetRow {
            what: "hybrid local-tier hit (1 KiB) latency vs a raw moka get".into(),
            measured: pair(get(&hit), get(&format!("{HIT}/raw_moka_get"))),
            ratio: r,
            limit: "- (no goal; the store's own cost)".into(),
            pass: None,
        });
        figures.push(Figure {
            figure: "hybrid single calls (local hit)",
            kind: "wall clock",
            harness: "criterion (`benches/benches/hybrid.rs`)",
            runtime: "none (polled in place)",
            command: "hybrid `get_bytes` / cache-memory `get` / raw moka `get`, same keys",
            concurrency: "1",
            like_for_like: true,
        });
    }
    if has_miss {
        let r = over(&miss, &format!("{MISS}/cache_memory_get_then_set"));
        targets.push(TargetRow {
            what: "hybrid `get_or_create` on a miss vs a plain get + set (cache-memory)".into(),
            measured: pair(
                get(&miss),
                get(&format!("{MISS}/cache_memory_get_then_set")),
            ),
            ratio: r,
            limit: "- (no goal; the cost of single-flight and two tiers)".into(),
            pass: None,
        });
        figures.push(Figure {
            figure: "hybrid single calls (miss)",
            kind: "wall clock",
            harness: "criterion (`benches/benches/hybrid.rs`)",
            runtime: "one current-thread tokio runtime (a miss spawns)",
            command: "`get_or_create_bytes` on a new key / `get` + `set` on a new key",
            concurrency: "1",
            like_for_like: true,
        });
    }
    throughput(&mut md, ratio, targets, figures);
    md
}

/// `cache / baseline` as text.
fn pair(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{} vs {}", ns(a), ns(b)),
        _ => "not in this run".into(),
    }
}

fn throughput(
    md: &mut String,
    ratio: Option<&Value>,
    targets: &mut Vec<TargetRow>,
    figures: &mut Vec<Figure>,
) {
    let what = "hybrid hit throughput (local tier over Redis) vs cache-redis get, 50 tasks";
    let Some(v) = ratio else {
        let _ = writeln!(
            md,
            "Hit throughput against Redis: not in this run (`hybrid --ratio` needs \
             `redis-server`).\n"
        );
        targets.push(TargetRow {
            what: what.into(),
            measured: "not in this run".into(),
            ratio: f64::NAN,
            limit: format!("≥ {THROUGHPUT_VS_REDIS_MIN}x"),
            pass: None,
        });
        return;
    };
    let num = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let (h, r) = (num("hybrid_ops_per_sec"), num("redis_ops_per_sec"));
    let x = h / r;
    let _ = writeln!(
        md,
        "### Hit throughput against a Redis get\n\n\
         `benches/benches/hybrid.rs --ratio`: {} tasks on a {}-worker multi-thread tokio \
         runtime read 1,024 keys of 1 KiB, through a hybrid cache over cache-redis (every \
         key held in the local tier) and through cache-redis alone against a throwaway \
         `redis-server`, in alternating {} ms slices; medians of the slices.\n",
        v["tasks"].as_u64().unwrap_or(50),
        v["workers"].as_u64().unwrap_or(2),
        v["slice_ms"].as_u64().unwrap_or(0)
    );
    let _ = writeln!(
        md,
        "| hybrid (local hit) | cache-redis get | hybrid / redis |\n|---:|---:|---:|\n| {} | {} | {x:.1}x |\n",
        rate(h),
        rate(r)
    );
    targets.push(TargetRow {
        what: what.into(),
        measured: format!("{} vs {}", rate(h), rate(r)),
        ratio: x,
        limit: format!("≥ {THROUGHPUT_VS_REDIS_MIN}x"),
        pass: x.is_finite().then_some(x >= THROUGHPUT_VS_REDIS_MIN),
    });
    figures.push(Figure {
        figure: "hybrid hit throughput vs Redis get",
        kind: "wall clock",
        harness: "`hybrid --ratio`, alternating 200 ms slices",
        runtime: "one multi-thread tokio runtime, 2 workers",
        command: "hybrid `get_bytes` (local hit) / cache-redis `get` (`HMGET`)",
        concurrency: "50 tasks",
        like_for_like: true,
    });
}
