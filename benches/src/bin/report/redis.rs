//! Redis: the like-for-like curves, the reference curves, latency against
//! value size, and the instruction counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use cache_benches::results::{median, LatencyPoint, ThroughputPoint};

use crate::charts::{chart, color_of, latency_chart, ops_per_sec, Axes, Series, GREY};
use crate::figures::Figure;
use crate::fmt::{ns, rate, TargetRow};
use crate::inputs::{Estimate, RedisResults};
use crate::memory::latency_table;
use crate::Res;

/// Issue 5: the cache at 50 tasks against `redis-benchmark -c 50` (not like for like).
const VS_BENCHMARK_MIN: f64 = 1.0;
/// Issue 5: a get at most this many times raw redis-rs sending the same command.
const VS_RAW_MAX: f64 = 1.10;
/// Issue 15: cache / raw throughput, same `HMGET`, at least this at [`CURVE_TARGET_TASKS`].
const CURVE_MIN: f64 = 0.95;
const CURVE_TARGET_TASKS: [u32; 4] = [1, 50, 128, 256];
/// Issue 15: one client thread at least this fraction of the pipelined ceiling.
const CEILING_MIN: f64 = 0.30;
/// The concurrency of the redis-benchmark target.
const BENCHMARK_TASKS: u32 = 50;
/// The like-for-like curves' names (`benches/src/bin/redis-curves.rs`).
const CACHE: &str = "cache-redis";
const RAW: &str = "redis-rs (raw)";
const REFERENCE: &str = "redis-benchmark GET (reference: other harness)";

/// The median of the per-round ratios cache / raw at `tasks` (the rounds
/// alternate, so each pair saw the same machine), and both medians.
fn curve_ratio(curves: &[ThroughputPoint], tasks: u32) -> Option<(f64, f64, f64)> {
    let at = |n: &str| curves.iter().find(|p| p.target == n && p.tasks == tasks);
    let (c, r) = (at(CACHE)?, at(RAW)?);
    let pairs: Vec<f64> = c
        .rounds
        .iter()
        .zip(&r.rounds)
        .filter(|(_, r)| **r > 0.0)
        .map(|(c, r)| c / r)
        .collect();
    (!pairs.is_empty()).then(|| (median(&pairs), c.median(), r.median()))
}

/// The Redis criterion targets (`benches/benches/redis.rs`, one task).
pub(crate) fn criterion_targets(c: &BTreeMap<String, Estimate>, targets: &mut Vec<TargetRow>) {
    let get = |id: &str| c.get(id).map(|e| e.mean);
    if let (Some(cache), Some(raw)) = (get("get_hit_1KiB/cache"), get("get_hit_1KiB/raw EVALSHA")) {
        let r = cache / raw;
        targets.push(TargetRow {
            what:
                "cache-redis get (hit, 1 KiB) over raw redis-rs issuing the same command (EVALSHA), criterion, 1 task (cache time / raw time)"
                    .into(),
            measured: format!("{} vs {}", ns(cache), ns(raw)),
            ratio: r,
            limit: format!("≤ {VS_RAW_MAX}x"),
            pass: Some(r <= VS_RAW_MAX),
        });
    }
    if let (Some(cache), Some(raw)) = (
        get("get_sliding_1KiB/cache"),
        get("get_sliding_1KiB/raw EVALSHA"),
    ) {
        let r = cache / raw;
        targets.push(TargetRow {
            what: "cache-redis sliding get vs one raw round trip (EVALSHA); two round trips would be about 2x (cache time / raw time)".into(),
            measured: format!("{} vs {}", ns(cache), ns(raw)),
            ratio: r,
            limit: "≈ 1x (one round trip; judged < 1.5x)".into(),
            pass: Some(r < 1.5),
        });
    }
}

pub(crate) fn redis_section(
    r: &RedisResults,
    perf: &Path,
    targets: &mut Vec<TargetRow>,
    figures: &mut Vec<Figure>,
) -> Res<String> {
    let mut md = String::new();
    if r.benchmark.is_empty() && r.cachectl.is_empty() && r.raw.is_none() && r.curves.is_none() {
        // No section, but the goals stay in the targets table, marked as
        // not measured (no curves: nothing is drawn).
        curves_section(&mut String::new(), r, perf, targets, figures)?;
        return Ok(md);
    }
    let _ = writeln!(md, "## Redis\n");
    let _ = writeln!(
        md,
        "A throwaway `redis-server` on a free loopback port (no persistence), on the same \
         2 cores as the clients, so client and server compete for them.\n"
    );
    curves_section(&mut md, r, perf, targets, figures)?;
    other_harnesses(&mut md, r, figures);
    // Latency vs value size, one task.
    let mut lat: Vec<LatencyPoint> = Vec::new();
    for ((op, c, d), v) in &r.cachectl {
        if *c != 1 {
            continue;
        }
        let us = |k: &str| (v[k].as_f64().unwrap_or(f64::NAN) * 1000.0).round() as u64;
        lat.push(LatencyPoint {
            target: "cache-redis".into(),
            op: op.clone(),
            value_size: *d,
            tasks: 1,
            samples: v["ops"].as_u64().unwrap_or(0),
            p50_ns: us("p50_us"),
            p90_ns: us("p90_us"),
            p99_ns: us("p99_us"),
            p999_ns: us("p999_us"),
            max_ns: us("max_us"),
        });
    }
    for ((test, c, d), l) in &r.benchmark {
        if *c != 1 {
            continue;
        }
        let ms = |x: f64| (x * 1e6).round() as u64;
        lat.push(LatencyPoint {
            target: "redis-benchmark".into(),
            op: test.to_lowercase(),
            value_size: *d,
            tasks: 1,
            samples: 0,
            p50_ns: ms(l.p50_ms),
            p90_ns: 0,
            p99_ns: ms(l.p99_ms),
            p999_ns: 0,
            max_ns: 0,
        });
    }
    if let Some(raw) = &r.raw {
        lat.extend(raw.latency.iter().cloned());
    }
    for op in ["get", "set"] {
        let pts: Vec<&LatencyPoint> = lat.iter().filter(|p| p.op == op).collect();
        if pts.is_empty() {
            continue;
        }
        let file = format!("latency-redis-{op}.svg");
        latency_chart(
            &perf.join(&file),
            &format!("Redis {op} latency, one task (p50 solid, p99 dashed)"),
            &pts,
        )?;
        let _ = writeln!(
            md,
            "### {op} latency against value size (one task)\n\n![Redis {op} latency](perf/{file})\n"
        );
        let (sent, plain) = if op == "get" {
            ("`HMGET`", "`GET`")
        } else {
            ("`MULTI` `DEL` `HSET` `PEXPIRE` `EXEC`", "`SET`")
        };
        let _ = writeln!(
            md,
            "Wall clock, **not like for like**: each curve is its own harness and command. \
             `cache-redis` is `cachectl bench -c 1` (current-thread runtime; the backend's \
             {op} sends {sent}); `redis-rs (raw)` is `redis-raw` (multi-thread runtime, plain \
             {plain}); `redis-benchmark` sends {plain} and reports p50 and p99 only, rounded \
             to its own resolution.\n"
        );
        latency_table(&mut md, &pts);
    }
    if !lat.is_empty() {
        figures.push(Figure {
            figure: "Redis latency against value size",
            kind: "wall clock",
            harness: "`cachectl bench` / `redis-raw` / `redis-benchmark`",
            runtime: "current-thread tokio / multi-thread tokio / C event loop",
            command: "`HMGET` or `MULTI`..`EXEC` (cache) / `GET`, `SET` (raw, redis-benchmark)",
            concurrency: "1",
            like_for_like: false,
        });
    }
    Ok(md)
}

/// The like-for-like curves (cache and raw redis-rs, same `HMGET`, same
/// runtime, alternating) with `redis-benchmark` as a separately labelled
/// reference curve, and the targets of issues 5, 14 and 15.
fn curves_section(
    md: &mut String,
    r: &RedisResults,
    perf: &Path,
    targets: &mut Vec<TargetRow>,
    figures: &mut Vec<Figure>,
) -> Res {
    let curves: &[ThroughputPoint] = r.curves.as_ref().map_or(&[], |s| &s.throughput);
    let reference: Vec<(u32, f64)> = r
        .benchmark
        .iter()
        .filter(|((test, _, d), _)| test == "GET" && *d == 1024)
        .map(|((_, c, _), l)| (*c, l.rps))
        .collect();
    let _ = writeln!(
        md,
        "### Throughput against concurrency: cache against raw redis-rs, like for like\n"
    );
    if curves.is_empty() {
        let _ = writeln!(
            md,
            "The like-for-like curves are not in this run (`redis-curves` did not run; see \
             \"Not in this run\").\n"
        );
    } else {
        let mut series = Vec::new();
        for name in [CACHE, RAW] {
            let mut pts: Vec<(f64, f64)> = curves
                .iter()
                .filter(|p| p.target == name)
                .map(|p| (f64::from(p.tasks), p.median()))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            series.push(Series {
                name: format!("{name}, HMGET"),
                color: color_of(name),
                dashed: false,
                points: pts,
            });
        }
        if !reference.is_empty() {
            series.push(Series {
                name: REFERENCE.into(),
                color: GREY,
                dashed: true,
                points: reference.iter().map(|(c, v)| (f64::from(*c), *v)).collect(),
            });
        }
        chart(
            &perf.join("throughput-redis.svg"),
            &Axes {
                title: "Redis get 1 KiB: cache-redis vs raw redis-rs (same HMGET, same runtime)",
                x_desc: "concurrent tasks (redis-benchmark: connections)",
                y_desc: "operations per second",
                log_y: false,
                x_fmt: &|x| format!("{x:.0}"),
                y_fmt: &ops_per_sec,
            },
            &series,
        )?;
        let note = r
            .curves
            .as_ref()
            .map(|s| s.notes.join("; "))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "![Redis throughput](perf/throughput-redis.svg)\n\n\
             Wall clock. **The two solid curves are like for like**: {note}. Each point is \
             the median of its side's slices; the ratio is the median of the per-round ratios \
             (each round's two slices saw the same machine).\n"
        );
        let _ = writeln!(
            md,
            "The dashed curve is a **reference from another harness, not like for like**: \
             `redis-benchmark -t get -d 1024 -c N` is the server's own C client, N \
             connections with one request in flight on each (no pipelining), sending `GET` \
             of a plain string; a multiplexed redis-rs connection (both solid curves) \
             pipelines the requests of all its tasks on one connection. A pipelined client \
             beating an unpipelined one says little about either: compare the cache with \
             raw redis-rs (the ratio column) instead.\n"
        );
        let mut tasks: Vec<u32> = curves.iter().map(|p| p.tasks).collect();
        tasks.sort_unstable();
        tasks.dedup();
        let _ = writeln!(
            md,
            "| tasks | cache-redis (HMGET) | raw redis-rs (HMGET) | cache / raw (like for like) | redis-benchmark GET, N connections (reference) |"
        );
        let _ = writeln!(md, "|---:|---:|---:|---:|---:|");
        for t in &tasks {
            let (ratio, c, rw) = curve_ratio(curves, *t).unwrap_or((f64::NAN, f64::NAN, f64::NAN));
            let reference = reference
                .iter()
                .find(|(c, _)| c == t)
                .map_or("-".into(), |(_, v)| rate(*v));
            let _ = writeln!(
                md,
                "| {t} | {} | {} | {ratio:.2}x | {reference} |",
                rate(c),
                rate(rw)
            );
        }
        md.push('\n');
        figures.push(Figure {
            figure: "Redis throughput curves (solid)",
            kind: "wall clock",
            harness: "`redis-curves`, alternating slices",
            runtime: "one current-thread tokio runtime (one client thread), one multiplexed connection a side",
            command: "`HMGET key absexp sldexp data` on both sides",
            concurrency: "1-256 tasks",
            like_for_like: true,
        });
        if !reference.is_empty() {
            figures.push(Figure {
                figure: "Redis throughput, redis-benchmark curve (dashed)",
                kind: "wall clock",
                harness: "`redis-benchmark` (C)",
                runtime: "its own event loop, one thread",
                command: "`GET`, no pipelining",
                concurrency: "N connections, one request in flight each",
                like_for_like: false,
            });
        }
    }
    for t in CURVE_TARGET_TASKS {
        let got = curve_ratio(curves, t);
        targets.push(TargetRow {
            what: format!(
                "cache-redis get vs raw redis-rs, same `HMGET`, same current-thread runtime, alternating, {t} task(s) (cache / raw throughput)"
            ),
            measured: got.map_or("not in this run".into(), |(_, c, r)| {
                format!("{} vs {}", rate(c), rate(r))
            }),
            ratio: got.map_or(f64::NAN, |g| g.0),
            limit: format!("≥ {CURVE_MIN}x"),
            pass: got.map(|g| g.0 >= CURVE_MIN),
        });
        if t == BENCHMARK_TASKS {
            // Issue 14: the old headline, with what it compares and the
            // like-for-like ratio beside it.
            let cache = curves
                .iter()
                .find(|p| p.target == CACHE && p.tasks == t)
                .map(ThroughputPoint::median);
            let bench = reference.iter().find(|(c, _)| *c == t).map(|(_, v)| *v);
            let ratio = cache.zip(bench).map_or(f64::NAN, |(a, b)| a / b);
            targets.push(TargetRow {
                what: format!(
                    "cache-redis get at {t} tasks vs `redis-benchmark -t get -c {t}` (**not like for like**: one multiplexed connection pipelining {t} tasks' requests against {t} connections with one request in flight each; the like-for-like ratio is the row above)"
                ),
                measured: match (cache, bench, got) {
                    (Some(a), Some(b), Some(g)) => format!(
                        "{} vs {} (like for like: cache / raw {:.2}x)",
                        rate(a),
                        rate(b),
                        g.0
                    ),
                    (Some(a), Some(b), None) => format!("{} vs {}", rate(a), rate(b)),
                    _ => "not in this run".into(),
                },
                ratio,
                limit: format!("≥ {VS_BENCHMARK_MIN}x"),
                pass: ratio.is_finite().then_some(ratio >= VS_BENCHMARK_MIN),
            });
        }
    }
    // Issue 15: one client thread against the server's pipelined ceiling.
    let best = curves
        .iter()
        .filter(|p| p.target == CACHE)
        .map(ThroughputPoint::median)
        .fold(f64::NAN, f64::max);
    let ceiling = r.ceiling.as_ref().map(|l| l.rps);
    let share = ceiling.map_or(f64::NAN, |c| best / c);
    if let Some(c) = ceiling {
        let _ = writeln!(
            md,
            "The server's ceiling: `redis-benchmark -t get -d 1024 -P 16 -c 50` (16 requests \
             pipelined on each of 50 connections) reached {}; the best cache-redis figure on \
             one client thread above is {} ({:.0}% of it).\n",
            rate(c),
            if best.is_finite() {
                rate(best)
            } else {
                "-".into()
            },
            share * 100.0
        );
        figures.push(Figure {
            figure: "Redis pipelined ceiling",
            kind: "wall clock",
            harness: "`redis-benchmark -P 16 -c 50` (C)",
            runtime: "its own event loop, one thread",
            command: "`GET`, 16 pipelined per connection",
            concurrency: "50 connections",
            like_for_like: false,
        });
    }
    targets.push(TargetRow {
        what: "one client thread (best cache-redis point of the curve) vs the server's pipelined ceiling, `redis-benchmark -P 16 -c 50` GET".into(),
        measured: match ceiling {
            Some(c) if best.is_finite() => format!("{} vs {}", rate(best), rate(c)),
            _ => "not in this run".into(),
        },
        ratio: share,
        limit: format!("≥ {CEILING_MIN:.2}x ({:.0}%)", CEILING_MIN * 100.0),
        pass: share.is_finite().then_some(share >= CEILING_MIN),
    });
    Ok(())
}

/// The other harnesses' throughput (`cachectl bench`, `redis-raw`): kept
/// as a table, apart from the like-for-like curves.
fn other_harnesses(md: &mut String, r: &RedisResults, figures: &mut Vec<Figure>) {
    let mut cols: Vec<(&str, Vec<(u32, f64)>)> = Vec::new();
    let cachectl: Vec<(u32, f64)> = r
        .cachectl
        .iter()
        .filter(|((op, _, d), _)| op == "get" && *d == 1024)
        .filter_map(|((_, c, _), v)| Some((*c, v["ops_per_sec"].as_f64()?)))
        .collect();
    if !cachectl.is_empty() {
        cols.push(("`cachectl bench` (cache-redis, HMGET)", cachectl));
    }
    if let Some(raw) = &r.raw {
        let pts: Vec<(u32, f64)> = raw.throughput.iter().map(|p| (p.tasks, p.best())).collect();
        if !pts.is_empty() {
            cols.push(("`redis-raw` (raw redis-rs, plain GET)", pts));
        }
    }
    if cols.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "### Throughput in other harnesses (not like for like)\n"
    );
    let _ = writeln!(
        md,
        "Wall clock, each column its own harness: `cachectl bench --json` (the CLI's load \
         generator, on its default for Redis, one current-thread tokio runtime; random keys \
         of 10,000; the backend's `get`, which sends `HMGET`) and \
         `benches/src/bin/redis-raw.rs` (plain `GET` on one multiplexed redis-rs connection, \
         on a multi-thread tokio runtime with a worker a core). They differ from each other \
         and from the curves above in harness, runtime and command, so no ratio is drawn \
         between them.\n"
    );
    let mut tasks: Vec<u32> = cols
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.0))
        .collect();
    tasks.sort_unstable();
    tasks.dedup();
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let _ = writeln!(md, "| tasks | {} |", names.join(" | "));
    let _ = writeln!(md, "|---:|{}", "---:|".repeat(names.len()));
    for t in tasks {
        let cells: Vec<String> = cols
            .iter()
            .map(|(_, v)| {
                v.iter()
                    .find(|p| p.0 == t)
                    .map_or("-".into(), |p| rate(p.1))
            })
            .collect();
        let _ = writeln!(md, "| {t} | {} |", cells.join(" | "));
    }
    md.push('\n');
    figures.push(Figure {
        figure: "Redis throughput in other harnesses",
        kind: "wall clock",
        harness: "`cachectl bench` / `redis-raw`",
        runtime:
            "current-thread tokio (cachectl) / multi-thread tokio, a worker a core (redis-raw)",
        command: "`HMGET` (cache) / `GET` (raw)",
        concurrency: "1-256 tasks",
        like_for_like: false,
    });
}
