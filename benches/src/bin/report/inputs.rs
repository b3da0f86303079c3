//! Reading one run's results folder: `env.txt`, criterion's estimates,
//! redis-benchmark's CSV, cachectl's JSON, callgrind's summaries.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use cache_benches::results::Sweep;
use serde_json::Value;

use crate::Res;

/// `env.txt`: one `key<TAB>value` a line; keys may repeat (`missing`).
pub(crate) fn read_env(path: &Path) -> Vec<(String, String)> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn env_get<'a>(env: &'a [(String, String)], key: &str) -> &'a str {
    env.iter()
        .find(|(k, _)| k == key)
        .map_or("unknown", |(_, v)| v.as_str())
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Res<T> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// One criterion benchmark: its id and the estimates of one iteration.
#[derive(Debug, Clone)]
pub(crate) struct Estimate {
    pub(crate) mean: f64,
    pub(crate) lower: f64,
    pub(crate) upper: f64,
}

/// Criterion's results by full id (`group/function[/value]`).
pub(crate) fn read_criterion(dir: &Path) -> BTreeMap<String, Estimate> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if !p.is_dir() {
                continue;
            }
            if p.file_name().is_some_and(|n| n == "new") {
                let bench: Option<Value> = read_json(&p.join("benchmark.json")).ok();
                let est: Option<Value> = read_json(&p.join("estimates.json")).ok();
                if let (Some(b), Some(e)) = (bench, est) {
                    let id = b["full_id"].as_str().unwrap_or_default().to_string();
                    let f = |k: &str, f: &str| e[k][f].as_f64().unwrap_or(f64::NAN);
                    let ci = |k: &str, f: &str| {
                        e[k]["confidence_interval"][f].as_f64().unwrap_or(f64::NAN)
                    };
                    out.insert(
                        id,
                        Estimate {
                            mean: f("mean", "point_estimate"),
                            lower: ci("mean", "lower_bound"),
                            upper: ci("mean", "upper_bound"),
                        },
                    );
                }
            } else {
                stack.push(p);
            }
        }
    }
    out
}

/// One redis-benchmark line: requests per second and latencies in ms.
#[derive(Debug, Clone, Default)]
pub(crate) struct RbLine {
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

/// What the Redis part of the run left.
#[derive(Debug, Default)]
pub(crate) struct RedisResults {
    /// (test, clients, value size) -> line.
    pub(crate) benchmark: BTreeMap<(String, u32, u64), RbLine>,
    /// (op, tasks, value size) -> cachectl's JSON.
    pub(crate) cachectl: BTreeMap<(String, u32, u64), Value>,
    /// The raw redis-rs loop (`redis-raw`, plain GET), if it ran.
    pub(crate) raw: Option<Sweep>,
    /// The like-for-like curves (`redis-curves`: cache and raw HMGET), if they ran.
    pub(crate) curves: Option<Sweep>,
    /// `redis-benchmark -P 16 -c 50` GET: the server's pipelined ceiling.
    pub(crate) ceiling: Option<RbLine>,
}

/// The file stem of the pipelined `redis-benchmark` run (`cargo xtask bench`).
pub(crate) const CEILING: &str = "redis-benchmark-P16-c50-d1024";

/// The lines of one `redis-benchmark --csv` output: (test, figures).
fn redis_benchmark_csv(p: &Path) -> Vec<(String, RbLine)> {
    let mut out = Vec::new();
    let text = fs::read_to_string(p).unwrap_or_default();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().map(csv).unwrap_or_default();
    let col = |h: &str| header.iter().position(|x| x == h);
    for l in lines {
        let f = csv(l);
        let num = |h: &str| {
            col(h)
                .and_then(|i| f.get(i))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        let Some(test) = f.first() else { continue };
        out.push((
            test.clone(),
            RbLine {
                rps: num("rps"),
                p50_ms: num("p50_latency_ms"),
                p99_ms: num("p99_latency_ms"),
            },
        ));
    }
    out
}

pub(crate) fn read_redis(dir: &Path) -> RedisResults {
    let mut r = RedisResults::default();
    let Ok(entries) = fs::read_dir(dir) else {
        return r;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(rest) = name.strip_prefix("redis-benchmark-c") {
            // redis-benchmark-c{c}-d{d}.csv
            let Some((c, d)) = rest.split_once("-d") else {
                continue;
            };
            let (Ok(c), Ok(d)) = (c.parse::<u32>(), d.parse::<u64>()) else {
                continue;
            };
            for (test, line) in redis_benchmark_csv(&p) {
                r.benchmark.insert((test, c, d), line);
            }
        } else if let Some(rest) = name.strip_prefix("cachectl-c") {
            // cachectl-c{c}-d{d}-{op}.json
            let parts: Vec<&str> = rest.split('-').collect();
            if let [c, d, op] = parts[..] {
                let (Ok(c), Some(Ok(d))) =
                    (c.parse::<u32>(), d.strip_prefix('d').map(str::parse::<u64>))
                else {
                    continue;
                };
                if let Ok(v) = read_json::<Value>(&p) {
                    r.cachectl.insert((op.to_string(), c, d), v);
                }
            }
        } else if name == "raw-redis-rs" {
            r.raw = read_json(&p).ok();
        } else if name == "redis-curves" {
            r.curves = read_json(&p).ok();
        } else if name == CEILING {
            r.ceiling = redis_benchmark_csv(&p)
                .into_iter()
                .find_map(|(test, line)| (test == "GET").then_some(line));
        }
    }
    r
}

pub(crate) fn csv(line: &str) -> Vec<String> {
    line.split(',')
        .map(|f| f.trim().trim_matches('"').to_string())
        .collect()
}

/// callgrind summaries by case: (instructions per call, top functions).
pub(crate) type Profile = BTreeMap<String, (f64, Vec<(f64, String)>)>;

/// Reads the callgrind summaries.
pub(crate) fn read_profile(dir: &Path) -> Profile {
    let mut out = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "txt") {
            continue;
        }
        let case = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = fs::read_to_string(&p).unwrap_or_default();
        let count = |l: &str| -> Option<u64> {
            l.split_whitespace()
                .next()
                .and_then(|n| n.replace(',', "").parse().ok())
        };
        let total = text
            .lines()
            .find(|l| l.contains("PROGRAM TOTALS"))
            .and_then(count)
            .unwrap_or(0);
        let calls: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("Profiled target:"))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1.0);
        let top: Vec<(f64, String)> = text
            .lines()
            .skip_while(|l| !l.contains("file:function"))
            .skip(2)
            .filter_map(|l| {
                let n = count(l)?;
                let func = l.split_once(")  ")?.1;
                Some((n as f64 / calls, short_function(func)))
            })
            .collect();
        out.insert(case, (total as f64 / calls, top));
    }
    out
}

/// `path/file.rs:crate::module::function [binary]` -> `crate::module::function`.
pub(crate) fn short_function(s: &str) -> String {
    let s = s.rsplit_once(" [").map_or(s, |(a, _)| a);
    let s = match s
        .find(".rs:")
        .or_else(|| s.find(".c:"))
        .or_else(|| s.find(".S:"))
    {
        Some(i) => &s[s[i..].find(':').map_or(0, |j| i + j + 1)..],
        None => s.rsplit_once(':').map_or(s, |(_, b)| b),
    };
    s.to_string()
}
