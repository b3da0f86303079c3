//! PostgreSQL (issue 13): get and set through cache-postgres beside raw
//! tokio-postgres running the same prepared statements.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::figures::Figure;
use crate::fmt::{ns, TargetRow};
use crate::inputs::Estimate;

/// Goal: the cache's throughput at least this fraction of raw
/// tokio-postgres's, i.e. raw time / cache time ≥ 0.9.
const VS_RAW_MIN: f64 = 0.9;
/// The criterion groups of `benches/benches/postgres.rs`, as (label, group, paired op).
const OPS: [(&str, &str, &str); 3] = [
    (
        "`get`, sliding entry (the read moves its expiry)",
        "postgres_get_sliding_1KiB",
        "get_sliding",
    ),
    (
        "`get`, absolute entry",
        "postgres_get_absolute_1KiB",
        "get_absolute",
    ),
    (
        "`set` (`INSERT .. ON CONFLICT DO UPDATE`)",
        "postgres_set_1KiB",
        "",
    ),
];
/// The prefix of every PostgreSQL criterion group.
pub(crate) const GROUP_PREFIX: &str = "postgres_";

/// The section; `paired` is `postgres-paired.json`, `server` what
/// `cargo xtask bench` says about the server (`env.txt`'s `postgres`).
pub(crate) fn section(
    c: &BTreeMap<String, Estimate>,
    paired: Option<&Value>,
    server: &str,
    targets: &mut Vec<TargetRow>,
    figures: &mut Vec<Figure>,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## PostgreSQL\n");
    let any = OPS
        .iter()
        .any(|(_, g, _)| c.contains_key(&format!("{g}/cache")));
    if !any && paired.is_none() {
        let _ = writeln!(
            md,
            "Not measured in this run (server: {server}; see \"Not in this run\"). \
             `cargo xtask bench` runs `benches/benches/postgres.rs` against the server at \
             `CACHE_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`).\n"
        );
        for (label, _, _) in OPS {
            targets.push(TargetRow {
                what: format!(
                    "cache-postgres {label} vs raw tokio-postgres (raw time / cache time)"
                ),
                measured: "not in this run".into(),
                ratio: f64::NAN,
                limit: format!("≥ {VS_RAW_MIN}x"),
                pass: None,
            });
        }
        return md;
    }
    let version = paired
        .and_then(|p| p["server_version"].as_str())
        .unwrap_or("version unknown");
    let _ = writeln!(
        md,
        "`benches/benches/postgres.rs` against {server} (PostgreSQL {version}), in a schema \
         of its own dropped afterwards; 256 keys of 1 KiB. Both sides run the same prepared \
         statements (`cache_postgres::schema::operation_sql`) on one connection each (the \
         cache's pool holds one), plain TCP, one call at a time (`block_on`) on a \
         2-worker tokio runtime: the difference is the crate's own cost (pool checkout, \
         validation, timeouts, decoding, `async_trait`). **The ratio is raw time / cache \
         time**, i.e. the cache's throughput as a fraction of raw tokio-postgres's: 1.00x is \
         no overhead, 0.90x (the goal's floor) is the cache taking 11% longer per call.\n"
    );
    let _ = writeln!(
        md,
        "The criterion columns come from separate measurement windows; the paired columns \
         alternate one cache call and one raw call ({} rounds), so a busy machine slows both \
         alike, and are the figures the targets use where they exist.\n",
        paired
            .and_then(|p| p["rounds"].as_u64())
            .map_or("-".into(), |n| n.to_string())
    );
    let _ = writeln!(
        md,
        "| operation | cache (criterion) | raw (criterion) | raw / cache | cache (paired) | raw (paired) | raw / cache (paired) |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    let paired_op = |op: &str| -> Option<(f64, f64)> {
        let ops = paired?["ops"].as_array()?;
        let o = ops.iter().find(|o| o["op"] == op)?;
        Some((o["cache_us"].as_f64()? * 1e3, o["raw_us"].as_f64()? * 1e3))
    };
    let x = |r: f64| {
        if r.is_finite() {
            format!("{r:.2}x")
        } else {
            "-".into()
        }
    };
    for (label, group, op) in OPS {
        let cache = c.get(&format!("{group}/cache")).map(|e| e.mean);
        let raw = c
            .get(&format!("{group}/raw_tokio_postgres"))
            .map(|e| e.mean);
        let crit = match (cache, raw) {
            (Some(a), Some(b)) => b / a,
            _ => f64::NAN,
        };
        let p = if op.is_empty() { None } else { paired_op(op) };
        let pr = p.map_or(f64::NAN, |(a, b)| b / a);
        let opt = |v: Option<f64>| v.map_or("not in this run".into(), ns);
        // The paired loop measures the gets only.
        let paired_cell = |v: Option<f64>| if op.is_empty() { "-".into() } else { opt(v) };
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} | {} | {} | {} |",
            opt(cache),
            opt(raw),
            x(crit),
            paired_cell(p.map(|v| v.0)),
            paired_cell(p.map(|v| v.1)),
            x(pr)
        );
        let (ratio, measured, how) = if pr.is_finite() {
            (pr, p, "paired")
        } else {
            (crit, cache.zip(raw), "criterion")
        };
        targets.push(TargetRow {
            what: format!(
                "cache-postgres {label} vs raw tokio-postgres, same statement ({how}; raw time / cache time)"
            ),
            measured: measured.map_or("not in this run".into(), |(a, b)| {
                format!("{} vs {}", ns(a), ns(b))
            }),
            ratio,
            limit: format!("≥ {VS_RAW_MIN}x"),
            pass: ratio.is_finite().then_some(ratio >= VS_RAW_MIN),
        });
    }
    md.push('\n');
    figures.push(Figure {
        figure: "PostgreSQL single calls",
        kind: "wall clock",
        harness: "criterion (separate windows) and a paired loop (alternating calls), `benches/benches/postgres.rs`",
        runtime: "one multi-thread tokio runtime, 2 workers, `block_on` per call",
        command: "the same prepared statements on both sides (`UPDATE .. RETURNING`, `INSERT .. ON CONFLICT`)",
        concurrency: "1 (one connection a side)",
        like_for_like: true,
    });
    md
}
