//! Writes `performance.md` and its SVG plots from the results of one
//! `cargo xtask bench` run.
//!
//! ```text
//! report --results <dir> --docs <dir>
//! ```
//!
//! `--results` is the folder `cargo xtask bench` filled (criterion's
//! output, the sweeps' and the footprint's JSON, redis-benchmark's CSV,
//! callgrind's summaries, `env.txt`); `--docs` receives `performance.md`
//! and `perf/*.svg`. Every number in the report comes from that one folder.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cache_benches::results::{median, Footprint, LatencyPoint, Sweep, ThroughputPoint};
use plotters::prelude::*;
use serde_json::Value;

/// Targets of issue 5, as ratios.
const GET_VS_MOKA_MAX: f64 = 1.3;
const SCALING_MIN: f64 = 1.6;
const FOOTPRINT_MAX: f64 = 0.30;
const REDIS_VS_BENCHMARK_MIN: f64 = 1.0;
const REDIS_VS_RAW_MAX: f64 = 1.10;
/// The concurrency of the redis-benchmark target.
const REDIS_TARGET_TASKS: u32 = 50;
/// The workload of the sweep's scaling measurement.
const SCALING: &str = "scaling: get 1 KiB";
/// The sweep's machine-availability probe (see `Kind::Probe`).
const PROBE: &str = "CPU probe";

type Res<T = ()> = Result<T, String>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Res {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from)
    };
    let results = flag("--results").ok_or("usage: report --results <dir> --docs <dir>")?;
    let docs = flag("--docs").ok_or("usage: report --results <dir> --docs <dir>")?;
    let perf = docs.join("perf");
    fs::create_dir_all(&perf).map_err(|e| format!("cannot create {}: {e}", perf.display()))?;

    let env = read_env(&results.join("env.txt"));
    let criterion = read_criterion(&results.join("criterion"));
    let sweep: Sweep = read_json(&results.join("sweep-memory.json"))?;
    let footprint: Vec<Footprint> = read_json(&results.join("footprint.json"))?;
    let redis = read_redis(&results.join("redis"));
    let profile = read_profile(&results.join("callgrind"));

    let mut md = String::new();
    let mut targets: Vec<TargetRow> = Vec::new();

    header(&mut md, &env);

    // Memory: criterion.
    let crit_md = criterion_section(&criterion, &mut targets);
    // Memory: sweeps (plots first, so the tables can name them).
    let sweep_md = memory_sweep_section(&sweep, &perf, &mut targets)?;
    let foot_md = footprint_section(&footprint, &mut targets);
    let redis_md = redis_section(&redis, &perf, &mut targets)?;
    let profile_md = profile_section(&profile);

    targets_table(&mut md, &targets);
    md.push_str(&crit_md);
    md.push_str(&sweep_md);
    md.push_str(&foot_md);
    md.push_str(&redis_md);
    md.push_str(&profile_md);
    md.push_str(&instructions_section(&results.join("instructions.tsv")));
    analysis(&mut md);
    missing(&mut md, &env, &redis);

    let path = docs.join("performance.md");
    fs::write(&path, md).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("report: wrote {}", path.display());
    Ok(())
}

// ---------------------------------------------------------------- inputs

/// `env.txt`: one `key<TAB>value` a line; keys may repeat (`missing`).
fn read_env(path: &Path) -> Vec<(String, String)> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn env_get<'a>(env: &'a [(String, String)], key: &str) -> &'a str {
    env.iter()
        .find(|(k, _)| k == key)
        .map_or("unknown", |(_, v)| v.as_str())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Res<T> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// One criterion benchmark: its id and the estimates of one iteration.
#[derive(Debug, Clone)]
struct Estimate {
    mean: f64,
    lower: f64,
    upper: f64,
}

/// Criterion's results by full id (`group/function[/value]`).
fn read_criterion(dir: &Path) -> BTreeMap<String, Estimate> {
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
struct RbLine {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// What the Redis part of the run left.
#[derive(Debug, Default)]
struct RedisResults {
    /// (test, clients, value size) -> line.
    benchmark: BTreeMap<(String, u32, u64), RbLine>,
    /// (op, tasks, value size) -> cachectl's JSON.
    cachectl: BTreeMap<(String, u32, u64), Value>,
    /// The raw redis-rs loop, if it ran.
    raw: Option<Sweep>,
}

fn read_redis(dir: &Path) -> RedisResults {
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
            let text = fs::read_to_string(&p).unwrap_or_default();
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
                r.benchmark.insert(
                    (test.clone(), c, d),
                    RbLine {
                        rps: num("rps"),
                        p50_ms: num("p50_latency_ms"),
                        p99_ms: num("p99_latency_ms"),
                    },
                );
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
        }
    }
    r
}

fn csv(line: &str) -> Vec<String> {
    line.split(',')
        .map(|f| f.trim().trim_matches('"').to_string())
        .collect()
}

/// callgrind summaries by case: (instructions per call, top functions).
type Profile = BTreeMap<String, (f64, Vec<(f64, String)>)>;

/// Reads the callgrind summaries.
fn read_profile(dir: &Path) -> Profile {
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
fn short_function(s: &str) -> String {
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

// ---------------------------------------------------------------- sections

struct TargetRow {
    what: String,
    measured: String,
    ratio: f64,
    limit: String,
    pass: Option<bool>,
}

fn verdict(pass: Option<bool>) -> &'static str {
    match pass {
        Some(true) => "**pass**",
        Some(false) => "**MISS**",
        None => "info",
    }
}

fn header(md: &mut String, env: &[(String, String)]) {
    let quick = env_get(env, "quick") == "true";
    let _ = writeln!(md, "# Performance\n");
    let _ = writeln!(
        md,
        "Generated by `{}` from one run; every table and figure below (each backend beside \
         its raw baselines) comes from that run. Do not edit by hand: rerun the command.\n",
        env_get(env, "command")
    );
    let _ = writeln!(
        md,
        "Two kinds of figures: **instruction counts** (\"Instructions per operation\" and \
         \"Where the time goes\", callgrind) and allocation counts are the same on any \
         machine and under any load, so they compare across machines and commits; every \
         other figure is **wall clock** (or resident memory) and compares only within this \
         run, where each backend and its baseline alternate. The table at the end \
         (\"What each figure is\") names each figure's harness, runtime, command and \
         concurrency.\n"
    );
    if quick {
        let _ = writeln!(
            md,
            "> **Smoke run (`--quick`)**: short measurements and few points; numbers are \
             indicative only.\n"
        );
    }
    let _ = writeln!(md, "## Machine and versions\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    for (label, key) in [
        ("CPU", "cpu"),
        ("cores", "cores"),
        ("memory", "memory"),
        ("kernel", "kernel"),
        ("rustc", "rustc"),
        ("redis-server", "redis_server"),
        ("date", "date"),
        ("commit", "git"),
        ("load average before / after", "load_before"),
        ("run time", "elapsed"),
    ] {
        let mut v = env_get(env, key).to_string();
        if key == "load_before" {
            v = format!("{v} / {}", env_get(env, "load_after"));
        }
        let _ = writeln!(md, "| {label} | {v} |");
    }
    let _ = writeln!(
        md,
        "\nTo reproduce: `{}` at the workspace root (results land in \
         `$CARGO_TARGET_DIR/bench-results`; the full run rewrites this file and `docs/perf/`).\n",
        env_get(env, "command")
    );
    let _ = writeln!(
        md,
        "The machine is a shared 2-core VM: other processes may run beside the \
         benchmarks (see the load average). Ratios between a backend and its baseline \
         are measured in the same run, interleaved, and are far more stable than the \
         absolute numbers.\n"
    );
}

fn targets_table(md: &mut String, rows: &[TargetRow]) {
    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "| target | measured | ratio | limit | result |");
    let _ = writeln!(md, "|---|---|---:|---|---|");
    for r in rows {
        let ratio = if r.ratio.is_finite() {
            format!("{:.2}x", r.ratio)
        } else {
            "-".into()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            r.what,
            r.measured,
            ratio,
            r.limit,
            verdict(r.pass)
        );
    }
    md.push('\n');
}

fn ns(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x >= 1e6 {
        format!("{:.2} ms", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.2} µs", x / 1e3)
    } else {
        format!("{x:.0} ns")
    }
}

fn rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M/s", x / 1e6)
    } else {
        format!("{:.0} k/s", x / 1e3)
    }
}

/// An axis tick on the (decimal) log scale of value sizes.
fn tick_size(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.0} MB", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.0} kB", x / 1e3)
    } else {
        format!("{x:.0} B")
    }
}

fn size(b: u64) -> String {
    if b >= 1 << 20 && b.is_multiple_of(1 << 20) {
        format!("{} MiB", b >> 20)
    } else if b >= 1 << 10 && b.is_multiple_of(1 << 10) {
        format!("{} KiB", b >> 10)
    } else {
        format!("{b} B")
    }
}

fn criterion_section(c: &BTreeMap<String, Estimate>, targets: &mut Vec<TargetRow>) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## Memory backend: single calls (criterion)\n");
    let _ = writeln!(
        md,
        "`benches/benches/memory.rs`. One call per iteration on one thread; the \
         backend's async calls are polled to completion with a no-op waker (it never \
         waits), so the time is what a caller sees, `async_trait`'s boxing included, \
         without any runtime. 1024 keys, cycled. Mean time per call with its 95% \
         confidence interval; the ratio is memory / moka (raw).\n"
    );
    let _ = writeln!(
        md,
        "| benchmark | memory | moka (raw) | RwLock<HashMap> (raw) | memory / moka |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|");
    let cell = |id: &str| {
        c.get(id).map_or("-".to_string(), |e| {
            format!("{} ({}–{})", ns(e.mean), ns(e.lower), ns(e.upper))
        })
    };
    let ratio = |a: &str, b: &str| match (c.get(a), c.get(b)) {
        (Some(a), Some(b)) => a.mean / b.mean,
        _ => f64::NAN,
    };
    let rows: [(&str, String, String, String); 6] = [
        (
            "get, hit, 1 KiB",
            "get_hit_1KiB/memory".into(),
            "get_hit_1KiB/moka".into(),
            "get_hit_1KiB/rwlock".into(),
        ),
        (
            "get, miss",
            "get_miss/memory".into(),
            "get_miss/moka".into(),
            "get_miss/rwlock".into(),
        ),
        (
            "set, 100 B",
            "set/memory/100B".into(),
            "set/moka/100B".into(),
            "set/rwlock/100B".into(),
        ),
        (
            "set, 1 KiB",
            "set/memory/1KiB".into(),
            "set/moka/1KiB".into(),
            "set/rwlock/1KiB".into(),
        ),
        (
            "set, 64 KiB",
            "set/memory/64KiB".into(),
            "set/moka/64KiB".into(),
            "set/rwlock/64KiB".into(),
        ),
        (
            "sliding get, 1 KiB (baseline: moka with `time_to_idle`)",
            "sliding_get_1KiB/memory".into(),
            "sliding_get_1KiB/moka_tti".into(),
            String::new(),
        ),
    ];
    for (label, m, k, r) in &rows {
        let rr = ratio(m, k);
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} | {} |",
            cell(m),
            cell(k),
            if r.is_empty() { "-".into() } else { cell(r) },
            if rr.is_finite() {
                format!("{rr:.2}x")
            } else {
                "-".into()
            }
        );
    }
    md.push('\n');
    let get = ratio("get_hit_1KiB/memory", "get_hit_1KiB/moka");
    targets.push(TargetRow {
        what: "memory get (hit, 1 KiB) latency vs moka's raw get".into(),
        measured: format!(
            "{} vs {}",
            c.get("get_hit_1KiB/memory")
                .map_or("-".into(), |e| ns(e.mean)),
            c.get("get_hit_1KiB/moka")
                .map_or("-".into(), |e| ns(e.mean))
        ),
        ratio: get,
        limit: format!("≤ {GET_VS_MOKA_MAX}x"),
        pass: get.is_finite().then_some(get <= GET_VS_MOKA_MAX),
    });
    other_criterion(&mut md, c, targets);
    md
}

/// The function ids of the memory benches (everything else is another backend's).
const MEMORY_IDS: [&str; 4] = ["memory", "moka", "rwlock", "moka_tti"];

/// The other backends' criterion benches (benches/benches/redis.rs,
/// sqlserver.rs), each beside the raw baselines of its own group.
fn other_criterion(md: &mut String, c: &BTreeMap<String, Estimate>, targets: &mut Vec<TargetRow>) {
    let mut groups: BTreeMap<String, Vec<(String, &Estimate)>> = BTreeMap::new();
    for (id, e) in c {
        let mut parts = id.splitn(3, '/');
        let (Some(group), Some(func)) = (parts.next(), parts.next()) else {
            continue;
        };
        if MEMORY_IDS.contains(&func) {
            continue;
        }
        let rest = parts.next().map(|v| format!("/{v}")).unwrap_or_default();
        groups
            .entry(format!("{group}{rest}"))
            .or_default()
            .push((func.to_string(), e));
    }
    if groups.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Other backends: single calls (criterion)\n");
    let _ = writeln!(
        md,
        "From the other bench targets in `benches/benches/` (their own baselines, \
         written by each backend's engineer), run in the same `cargo xtask bench`. \
         `cache` is the backend; the others are raw clients issuing the same commands. \
         The ratio is cache / baseline.\n"
    );
    let _ = writeln!(
        md,
        "| benchmark | function | mean (95% CI) | cache / this |"
    );
    let _ = writeln!(md, "|---|---|---:|---:|");
    for (group, funcs) in &groups {
        let cache = funcs
            .iter()
            .find(|(f, _)| f == "cache")
            .map(|(_, e)| e.mean);
        for (f, e) in funcs {
            let r = match cache {
                Some(m) if f != "cache" => format!("{:.2}x", m / e.mean),
                _ => "-".into(),
            };
            let _ = writeln!(
                md,
                "| {group} | {f} | {} ({}–{}) | {r} |",
                ns(e.mean),
                ns(e.lower),
                ns(e.upper)
            );
        }
    }
    md.push('\n');
    let get = |id: &str| c.get(id).map(|e| e.mean);
    if let (Some(cache), Some(raw)) = (get("get_hit_1KiB/cache"), get("get_hit_1KiB/raw EVALSHA")) {
        let r = cache / raw;
        targets.push(TargetRow {
            what:
                "cache-redis get (hit, 1 KiB) over raw redis-rs issuing the same command (EVALSHA)"
                    .into(),
            measured: format!("{} vs {}", ns(cache), ns(raw)),
            ratio: r,
            limit: format!("≤ {REDIS_VS_RAW_MAX}x"),
            pass: Some(r <= REDIS_VS_RAW_MAX),
        });
    }
    if let (Some(cache), Some(raw)) = (
        get("get_sliding_1KiB/cache"),
        get("get_sliding_1KiB/raw EVALSHA"),
    ) {
        let r = cache / raw;
        targets.push(TargetRow {
            what: "cache-redis sliding get vs one raw round trip (EVALSHA); two round trips would be about 2x".into(),
            measured: format!("{} vs {}", ns(cache), ns(raw)),
            ratio: r,
            limit: "≈ 1x (one round trip; judged < 1.5x)".into(),
            pass: Some(r < 1.5),
        });
    }
}

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREY: RGBColor = RGBColor(110, 110, 110);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const RED: RGBColor = RGBColor(214, 39, 40);
const PURPLE: RGBColor = RGBColor(148, 103, 189);

fn color_of(target: &str) -> RGBColor {
    match target {
        "memory" => BLUE,
        "moka (raw)" => ORANGE,
        "RwLock<HashMap> (raw)" => GREY,
        "cache-redis" => GREEN,
        "redis-rs (raw)" => PURPLE,
        "redis-benchmark" => RED,
        _ => BLACK,
    }
}

struct Series {
    name: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// What a chart's axes say.
struct Axes<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    log_y: bool,
    x_fmt: &'a dyn Fn(f64) -> String,
    y_fmt: &'a dyn Fn(f64) -> String,
}

/// A line chart with a logarithmic x axis (and optionally y axis).
fn chart(path: &Path, axes: &Axes<'_>, series: &[Series]) -> Res {
    let Axes {
        title,
        x_desc,
        y_desc,
        log_y,
        x_fmt,
        y_fmt,
    } = *axes;
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return Ok(()); // nothing to draw
    }
    if x0 == x1 {
        x1 = x0 * 2.0;
    }
    let e = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let root = SVGBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(80);
    let draw = |s: &Series| {
        let style = s.color.stroke_width(2);
        (s.points.clone(), style)
    };
    macro_rules! finish {
        ($chart:expr) => {{
            let mut c = $chart;
            c.configure_mesh()
                .x_desc(x_desc)
                .y_desc(y_desc)
                .x_label_formatter(&|x| x_fmt(*x))
                .y_label_formatter(&|y| y_fmt(*y))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(|x| e(&x))?;
            for s in series {
                let (points, style) = draw(s);
                let color = s.color;
                let anno = if s.dashed {
                    c.draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))
                        .map_err(|x| e(&x))?
                } else {
                    c.draw_series(LineSeries::new(points.clone(), style))
                        .map_err(|x| e(&x))?
                };
                let dashed = s.dashed;
                anno.label(s.name.clone()).legend(move |(x, y)| {
                    let end = if dashed { x + 8 } else { x + 20 };
                    PathElement::new(vec![(x, y), (end, y)], color.stroke_width(2))
                });
                c.draw_series(
                    points
                        .iter()
                        .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
                )
                .map_err(|x| e(&x))?;
            }
            c.configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .draw()
                .map_err(|x| e(&x))?;
        }};
    }
    if log_y {
        let lo = (y0 * 0.7).max(1e-9);
        let hi = y1 * 1.5;
        finish!(builder
            .build_cartesian_2d((x0..x1).log_scale(), (lo..hi).log_scale())
            .map_err(|x| e(&x))?);
    } else {
        finish!(builder
            .build_cartesian_2d((x0..x1).log_scale(), 0.0..y1 * 1.1)
            .map_err(|x| e(&x))?);
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

fn throughput_chart(path: &Path, title: &str, points: &[&ThroughputPoint]) -> Res {
    let mut by: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for p in points {
        by.entry(p.target.clone())
            .or_default()
            .push((f64::from(p.tasks), p.best()));
    }
    let series: Vec<Series> = order(by.into_iter())
        .map(|(name, mut pts)| {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                color: color_of(&name),
                dashed: false,
                name,
                points: pts,
            }
        })
        .collect();
    let axes = Axes {
        title,
        x_desc: "concurrent tasks",
        y_desc: "operations per second",
        log_y: false,
        x_fmt: &|x| format!("{x:.0}"),
        y_fmt: &|y| {
            if y >= 1e6 {
                format!("{:.1}M", y / 1e6)
            } else {
                format!("{:.0}k", y / 1e3)
            }
        },
    };
    chart(path, &axes, &series)
}

/// The backend first, then the baselines, in a fixed order.
fn order<T>(it: impl Iterator<Item = (String, T)>) -> impl Iterator<Item = (String, T)> {
    let rank = |n: &str| match n {
        "memory" | "cache-redis" => 0,
        "moka (raw)" | "redis-rs (raw)" => 1,
        _ => 2,
    };
    let mut v: Vec<_> = it.collect();
    v.sort_by_key(|(n, _)| rank(n));
    v.into_iter()
}

fn latency_chart(path: &Path, title: &str, points: &[&LatencyPoint]) -> Res {
    let mut by: BTreeMap<String, Vec<&LatencyPoint>> = BTreeMap::new();
    for p in points {
        by.entry(p.target.clone()).or_default().push(p);
    }
    let mut series = Vec::new();
    for (name, mut pts) in order(by.into_iter()) {
        pts.sort_by_key(|p| p.value_size);
        for (label, dashed, f) in [
            (
                "p50",
                false,
                (|p: &LatencyPoint| p.p50_ns) as fn(&LatencyPoint) -> u64,
            ),
            ("p99", true, |p: &LatencyPoint| p.p99_ns),
        ] {
            series.push(Series {
                name: format!("{name} {label}"),
                color: color_of(&name),
                dashed,
                points: pts
                    .iter()
                    .map(|p| (p.value_size as f64, f(p) as f64))
                    .collect(),
            });
        }
    }
    let axes = Axes {
        title,
        x_desc: "value size (bytes)",
        y_desc: "latency",
        log_y: true,
        x_fmt: &tick_size,
        y_fmt: &ns,
    };
    chart(path, &axes, &series)
}

fn memory_sweep_section(sweep: &Sweep, perf: &Path, targets: &mut Vec<TargetRow>) -> Res<String> {
    let mut md = String::new();
    let _ = writeln!(md, "## Memory backend: throughput against concurrency\n");
    let _ = writeln!(
        md,
        "`benches/src/bin/sweep.rs`. Closed-loop tasks over 10,000 keys of 1 KiB, each \
         yielding to the scheduler every 64 calls. {} The figure and table show the best \
         round (the least disturbed by other processes on this shared machine); the \
         median is in brackets.\n",
        sweep
            .notes
            .iter()
            .filter(|n| !n.starts_with("scaling"))
            .map(|n| format!("{n}."))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut workloads: Vec<&str> = sweep
        .throughput
        .iter()
        .map(|p| p.workload.as_str())
        .collect();
    workloads.dedup();
    workloads.retain(|w| *w != SCALING);
    for (i, w) in workloads.iter().enumerate() {
        let all: Vec<&ThroughputPoint> = sweep
            .throughput
            .iter()
            .filter(|p| p.workload == *w)
            .collect();
        let pts: Vec<&ThroughputPoint> =
            all.iter().copied().filter(|p| p.target != PROBE).collect();
        let file = if i == 0 {
            "throughput-memory.svg".to_string()
        } else {
            format!("throughput-memory-{}.svg", i + 1)
        };
        throughput_chart(
            &perf.join(&file),
            &format!("memory backend vs raw baselines: {w}"),
            &pts,
        )?;
        let _ = writeln!(md, "### {w}\n\n![throughput, {w}](perf/{file})\n");
        let mut tasks: Vec<u32> = pts.iter().map(|p| p.tasks).collect();
        tasks.sort_unstable();
        tasks.dedup();
        let mut names: Vec<String> = pts.iter().map(|p| p.target.clone()).collect();
        names.sort_by_key(|n| (rank(n), n.clone()));
        names.dedup();
        let _ = writeln!(md, "| tasks | {} |", names.join(" | "));
        let _ = writeln!(md, "|---:|{}", "---:|".repeat(names.len()));
        for t in &tasks {
            let cells: Vec<String> = names
                .iter()
                .map(|n| {
                    pts.iter()
                        .find(|p| &p.target == n && p.tasks == *t)
                        .map_or("-".into(), |p| {
                            format!("{} ({})", rate(p.best()), rate(p.median()))
                        })
                })
                .collect();
            let _ = writeln!(md, "| {t} | {} |", cells.join(" | "));
        }
        let best = |n: &str| {
            let at = |t: u32| pts.iter().find(|p| p.target == n && p.tasks == t);
            match (at(1), at(2)) {
                (Some(a), Some(b)) => b.best() / a.best(),
                _ => f64::NAN,
            }
        };
        let _ = writeln!(
            md,
            "\n2 tasks over 1 task (best rounds): {}\n",
            names
                .iter()
                .map(|n| format!("{n} {:.2}x", best(n)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    scaling_section(&mut md, sweep, targets);

    let _ = writeln!(md, "## Memory backend: latency against value size\n");
    let _ = writeln!(
        md,
        "One task timing each call with `Instant::now()` (about 20 ns of the figure is \
         the clock itself). Values are handed over as `Bytes`, so no in-process cache \
         copies them: a set costs the same at 100 B and at 1 MiB, and the differences \
         between sizes are cache-miss effects of the smaller key spaces used for big \
         values (64 MiB of values per cache at most).\n"
    );
    for op in ["get", "set"] {
        let pts: Vec<&LatencyPoint> = sweep.latency.iter().filter(|p| p.op == op).collect();
        if pts.is_empty() {
            continue;
        }
        let file = format!("latency-memory-{op}.svg");
        latency_chart(
            &perf.join(&file),
            &format!("{op} latency (p50 solid, p99 dashed): memory vs raw baselines"),
            &pts,
        )?;
        let _ = writeln!(md, "### {op}\n\n![{op} latency](perf/{file})\n");
        latency_table(&mut md, &pts);
    }
    Ok(md)
}

fn latency_table(md: &mut String, pts: &[&LatencyPoint]) {
    let _ = writeln!(md, "| cache | value | p50 | p90 | p99 | p99.9 | calls |");
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    let mut sorted: Vec<&&LatencyPoint> = pts.iter().collect();
    sorted.sort_by_key(|p| (p.value_size, rank(&p.target)));
    for p in sorted {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            p.target,
            size(p.value_size),
            opt_ns(p.p50_ns),
            opt_ns(p.p90_ns),
            opt_ns(p.p99_ns),
            opt_ns(p.p999_ns),
            if p.samples == 0 {
                "-".to_string()
            } else {
                p.samples.to_string()
            }
        );
    }
    md.push('\n');
}

/// Throughput with 2 tasks over 1, from the interleaved short windows.
fn scaling_section(md: &mut String, sweep: &Sweep, targets: &mut Vec<TargetRow>) {
    let pts: Vec<&ThroughputPoint> = sweep
        .throughput
        .iter()
        .filter(|p| p.workload == SCALING)
        .collect();
    if pts.is_empty() {
        return;
    }
    let at = |n: &str, t: u32| pts.iter().find(|p| p.target == n && p.tasks == t);
    let ratios = |n: &str| -> (f64, f64, usize) {
        match (at(n, 1), at(n, 2)) {
            (Some(a), Some(b)) => {
                let pairs: Vec<f64> = a
                    .rounds
                    .iter()
                    .zip(&b.rounds)
                    .filter(|(x, _)| **x > 0.0)
                    .map(|(x, y)| y / x)
                    .collect();
                (b.best() / a.best(), median(&pairs), pairs.len())
            }
            _ => (f64::NAN, f64::NAN, 0),
        }
    };
    let mut names: Vec<String> = pts.iter().map(|p| p.target.clone()).collect();
    names.sort_by_key(|n| (rank(n), n.clone()));
    names.dedup();
    let _ = writeln!(md, "### Scaling: 2 threads against 1 (get 1 KiB)\n");
    let _ = writeln!(
        md,
        "The runtime has one worker thread per core, so 1 task keeps one core busy and \
         2 tasks both. Measured in many short windows, each 1-task window right before \
         its 2-task one, the caches taking turns ({}). The CPU probe is pure arithmetic \
         with no shared memory: it reaches 2.0x only when the second core is really \
         free, so it says how much of the machine the measurement had. **Best** is the \
         best 2-task window over the best 1-task window (the least disturbed of each); \
         **median pair** is the median of the per-pair ratios.\n",
        sweep
            .notes
            .iter()
            .find(|n| n.starts_with("scaling"))
            .map_or("", String::as_str)
    );
    let _ = writeln!(
        md,
        "| cache | 1 task, best | 2 tasks, best | best | median pair |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|");
    for n in &names {
        let (b, m, _) = ratios(n);
        let _ = writeln!(
            md,
            "| {n} | {} | {} | {b:.2}x | {m:.2}x |",
            at(n, 1).map_or("-".into(), |p| rate(p.best())),
            at(n, 2).map_or("-".into(), |p| rate(p.best())),
        );
    }
    md.push('\n');
    let (b, m, _) = ratios("memory");
    let (probe, _, _) = ratios(PROBE);
    targets.push(TargetRow {
        what: "memory throughput, 2 threads vs 1 (get 1 KiB)".into(),
        measured: format!(
            "best {b:.2}x, median pair {m:.2}x (CPU probe best {probe:.2}x: how free the second core was)"
        ),
        ratio: b,
        limit: format!("≥ {SCALING_MIN}x"),
        pass: b.is_finite().then_some(b >= SCALING_MIN),
    });
}

/// A latency, or `-` where the tool did not report it (0).
fn opt_ns(x: u64) -> String {
    if x == 0 {
        "-".into()
    } else {
        ns(x as f64)
    }
}

fn rank(target: &str) -> u8 {
    match target {
        "memory" | "cache-redis" => 0,
        "moka (raw)" | "redis-rs (raw)" => 1,
        _ => 2,
    }
}

fn footprint_section(f: &[Footprint], targets: &mut Vec<TargetRow>) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## Memory backend: resident memory per entry\n");
    let _ = writeln!(
        md,
        "`benches/src/bin/footprint.rs`: each case in a fresh process; resident memory \
         (`VmRSS`) before the first insert and after the last (moka's pending work run). \
         The payload is the values alone; keys (`bench:000000`, 12 bytes) count as \
         overhead. The memory backend runs with its default 200 MiB limit (raised if the \
         entries need more), raw moka sized at twice the entries, so moka's frequency \
         sketch is counted in both as in a real service. `values only` holds the same \
         keys and values in two vectors: the floor any cache starts from (the allocator's \
         own cost per value).\n"
    );
    let _ = writeln!(
        md,
        "| case | entries | value | resident added | per entry | over payload | charged to the size limit per entry |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    for x in f {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.1} MiB | {:.0} B | {:.1}% | {} |",
            x.target,
            x.entries,
            size(x.value_size),
            x.delta() as f64 / f64::from(1 << 20),
            x.per_entry(),
            x.overhead() * 100.0,
            x.charged.map_or("-".into(), |c| format!(
                "{:.0} B",
                c as f64 / x.entries as f64
            ))
        );
    }
    md.push('\n');
    let get = |name: &str| f.iter().find(|x| x.target == name);
    if let Some(m) = get("memory") {
        let overhead = m.overhead();
        targets.push(TargetRow {
            what: format!(
                "memory per-entry overhead over payload ({} entries of {})",
                m.entries,
                size(m.value_size)
            ),
            measured: format!(
                "{:.0} B per entry for {} B values",
                m.per_entry(),
                m.value_size
            ),
            ratio: 1.0 + overhead,
            limit: format!("≤ {:.2}x (30% over)", 1.0 + FOOTPRINT_MAX),
            pass: Some(overhead <= FOOTPRINT_MAX),
        });
        let _ = writeln!(
            md,
            "Where the memory backend's bytes per entry go, by difference:\n"
        );
        let key = m.key_bytes as f64 / m.entries as f64;
        let mut rows: Vec<(String, f64)> = vec![("value (payload)".into(), m.value_size as f64)];
        if let Some(v) = get("values only") {
            rows.push((
                format!("key ({key:.0} B) and the allocator's headers (values only − payload)"),
                v.per_entry() - m.value_size as f64,
            ));
            if let Some(k) = get("moka (raw)") {
                rows.push((
                    "moka's own bookkeeping (raw moka − values only)".into(),
                    k.per_entry() - v.per_entry(),
                ));
                rows.push((
                    "the backend's own entry and expiry data (memory − raw moka)".into(),
                    m.per_entry() - k.per_entry(),
                ));
            }
        }
        let _ = writeln!(md, "| part | bytes per entry |\n|---|---:|");
        for (what, b) in rows {
            let _ = writeln!(md, "| {what} | {b:.0} |");
        }
        if let Some(c) = m.charged {
            let charged = c as f64 / m.entries as f64;
            let _ = writeln!(
                md,
                "\nThe size limit charges {charged:.0} B per entry (key + value + \
                 `ENTRY_OVERHEAD`), against {:.0} B resident: the limit {} real memory use by \
                 {:.0} B per entry.\n",
                m.per_entry(),
                if charged < m.per_entry() {
                    "undercounts"
                } else {
                    "overcounts"
                },
                (m.per_entry() - charged).abs()
            );
        }
    }
    md
}

fn redis_section(r: &RedisResults, perf: &Path, targets: &mut Vec<TargetRow>) -> Res<String> {
    let mut md = String::new();
    if r.benchmark.is_empty() && r.cachectl.is_empty() && r.raw.is_none() {
        return Ok(md);
    }
    let _ = writeln!(md, "## Redis\n");
    let _ = writeln!(
        md,
        "A throwaway `redis-server` on a free loopback port (no persistence), on the same \
         2 cores as the clients. `cache-redis` is measured through `cachectl bench --json` \
         (closed-loop tasks, random keys of a populated key space); `redis-rs (raw)` is the \
         same loop on one multiplexed redis-rs connection with plain GET/SET; \
         `redis-benchmark` is the server's own C client with `-c` connections and one \
         request in flight on each (no pipelining), whereas a multiplexed connection \
         pipelines the requests of all its tasks; client and server share the 2 cores.\n"
    );
    // Throughput vs concurrency, GET 1 KiB.
    let mut pts: Vec<ThroughputPoint> = Vec::new();
    for ((test, c, d), l) in &r.benchmark {
        if test == "GET" && *d == 1024 {
            pts.push(ThroughputPoint {
                target: "redis-benchmark".into(),
                workload: "GET 1 KiB".into(),
                tasks: *c,
                rounds: vec![l.rps],
            });
        }
    }
    for ((op, c, d), v) in &r.cachectl {
        if op == "get" && *d == 1024 {
            if let Some(ops) = v["ops_per_sec"].as_f64() {
                pts.push(ThroughputPoint {
                    target: "cache-redis".into(),
                    workload: "GET 1 KiB".into(),
                    tasks: *c,
                    rounds: vec![ops],
                });
            }
        }
    }
    if let Some(raw) = &r.raw {
        pts.extend(raw.throughput.iter().cloned());
    }
    if !pts.is_empty() {
        let refs: Vec<&ThroughputPoint> = pts.iter().collect();
        throughput_chart(
            &perf.join("throughput-redis.svg"),
            "Redis GET 1 KiB: cache-redis vs raw redis-rs vs redis-benchmark",
            &refs,
        )?;
        let _ = writeln!(
            md,
            "### Throughput against concurrency (GET, 1 KiB)\n\n![Redis throughput](perf/throughput-redis.svg)\n\n\
             Wall clock, and **not like for like**: each curve is its own harness. \
             `cache-redis` is `cachectl bench` (the backend's `get`, which sends `HMGET key absexp \
             sldexp data`; multi-thread tokio runtime, one task a client); `redis-rs (raw)` is \
             `benches/src/bin/redis-raw.rs` (plain `GET` on one multiplexed connection, \
             multi-thread runtime); `redis-benchmark` is the server's own C client (`GET`, \
             one connection a client). Compare the cache with raw redis-rs by the like-for-like \
             figures instead: the instruction counts below (same `HMGET`, same current-thread \
             runtime, same task count) and `cargo bench -p cache-benches --bench redis -- --ratio` \
             (alternating slices, same runtime).\n"
        );
        let mut names: Vec<String> = pts.iter().map(|p| p.target.clone()).collect();
        names.sort_by_key(|n| (rank(n), n.clone()));
        names.dedup();
        let mut tasks: Vec<u32> = pts.iter().map(|p| p.tasks).collect();
        tasks.sort_unstable();
        tasks.dedup();
        let _ = writeln!(md, "| tasks | {} |", names.join(" | "));
        let _ = writeln!(md, "|---:|{}", "---:|".repeat(names.len()));
        for t in &tasks {
            let cells: Vec<String> = names
                .iter()
                .map(|n| {
                    pts.iter()
                        .find(|p| &p.target == n && p.tasks == *t)
                        .map_or("-".into(), |p| rate(p.best()))
                })
                .collect();
            let _ = writeln!(md, "| {t} | {} |", cells.join(" | "));
        }
        md.push('\n');
        let at = |n: &str, t: u32| pts.iter().find(|p| p.target == n && p.tasks == t);
        let ours = at("cache-redis", REDIS_TARGET_TASKS);
        let bench = at("redis-benchmark", REDIS_TARGET_TASKS);
        let ratio = match (ours, bench) {
            (Some(a), Some(b)) => a.best() / b.best(),
            _ => f64::NAN,
        };
        targets.push(TargetRow {
            what: format!(
                "cache-redis GET throughput vs redis-benchmark GET at {REDIS_TARGET_TASKS} tasks"
            ),
            measured: match (ours, bench) {
                (Some(a), Some(b)) => format!("{} vs {}", rate(a.best()), rate(b.best())),
                _ => "-".into(),
            },
            ratio,
            limit: format!("≥ {REDIS_VS_BENCHMARK_MIN}x"),
            pass: ratio.is_finite().then_some(ratio >= REDIS_VS_BENCHMARK_MIN),
        });
        let raw = at("redis-rs (raw)", REDIS_TARGET_TASKS);
        let over = match (ours, raw) {
            (Some(a), Some(b)) => b.best() / a.best(),
            _ => f64::NAN,
        };
        targets.push(TargetRow {
            what: format!(
                "cache-redis vs raw redis-rs plain GET on one multiplexed connection, throughput at {REDIS_TARGET_TASKS} tasks (raw / cache; informational: the .NET-compatible format needs a script, not a plain GET)"
            ),
            measured: match (ours, raw) {
                (Some(a), Some(b)) => format!("{} vs {}", rate(a.best()), rate(b.best())),
                _ => "raw redis-rs loop not run".into(),
            },
            ratio: over,
            limit: "-".into(),
            pass: None,
        });
    }
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
        let _ = writeln!(
            md,
            "(redis-benchmark reports p50 and p99 only, rounded to its own resolution.)\n"
        );
        latency_table(&mut md, &pts);
    }
    Ok(md)
}

/// The instruction-count table `cargo xtask bench` writes
/// (`instructions.tsv`, from `benches/src/bin/instructions.rs` under
/// callgrind), or nothing when the run had none.
fn instructions_section(path: &Path) -> String {
    let mut md = String::new();
    let Ok(text) = fs::read_to_string(path) else {
        return md;
    };
    let _ = writeln!(md, "## Instructions per operation (callgrind)\n");
    let _ = writeln!(
        md,
        "Counts, not seconds: comparable across machines, machine load and commits. \
         `benches/src/bin/instructions.rs` runs a fixed number of warm operations of one \
         case (1,024 keys of 1 KiB, filled and read once first) and callgrind collects only \
         its `measured_loop`. In-process cases are polled on the calling thread (no runtime). \
         Redis cases run on one current-thread tokio runtime against a throwaway \
         `redis-server`, so the connection's driver task is counted and the server (another \
         process) and the kernel are not: client-side user-space instructions only. Both \
         sides of a Redis row send the same `HMGET key absexp sldexp data` with the same \
         task count.\n"
    );
    let _ = writeln!(
        md,
        "| what | instructions per op | baseline | baseline instructions per op | ratio |\n|---|---:|---|---:|---:|"
    );
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        if let [what, _case, a, base, b, ratio, _tasks] = f[..] {
            let _ = writeln!(md, "| {what} | {a} | {base} | {b} | {ratio} |");
        }
    }
    md.push('\n');
    md
}

fn profile_section(p: &Profile) -> String {
    let mut md = String::new();
    if p.is_empty() {
        return md;
    }
    let _ = writeln!(md, "## Where the time goes (callgrind)\n");
    let _ = writeln!(
        md,
        "`perf stat` reports no hardware counters on this VM, so the profile is \
         valgrind's callgrind over `benches/src/bin/profile.rs`: a fixed number of calls \
         (1024 keys of 1 KiB populated first), only the call loop collected. \
         Instructions are counted, not timed, so these figures do not depend on what else \
         the machine was doing.\n"
    );
    let _ = writeln!(md, "| case | instructions per call |\n|---|---:|");
    for (case, (per_call, _)) in p {
        let _ = writeln!(md, "| `{case}` | {per_call:.0} |");
    }
    md.push('\n');
    for case in ["memory-get", "moka-get"] {
        let Some((per_call, top)) = p.get(case) else {
            continue;
        };
        let _ = writeln!(
            md,
            "Functions with the most instructions of their own, `{case}` \
             ({per_call:.0} per call):\n"
        );
        let _ = writeln!(md, "| instructions per call | function |\n|---:|---|");
        let mut seen = 0;
        for (n, f) in top.iter().take(15) {
            let _ = writeln!(md, "| {n:.0} | `{}` |", f.replace('|', "\\|"));
            seen += 1;
        }
        if seen == 0 {
            md.push_str("| - | - |\n");
        }
        md.push('\n');
    }
    md
}

/// Hand-written reading of the profiles, kept beside the benches.
fn analysis(md: &mut String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("analysis.md");
    if let Ok(text) = fs::read_to_string(&path) {
        let _ = writeln!(md, "{}\n", text.trim_end());
    }
}

fn missing(md: &mut String, env: &[(String, String)], r: &RedisResults) {
    let mut items: Vec<String> = env
        .iter()
        .filter(|(k, _)| k == "missing")
        .map(|(_, v)| v.clone())
        .collect();
    if r.benchmark.is_empty() && r.cachectl.is_empty() {
        items.push("no Redis results in this run".into());
    }
    items.push(
        "SQL Server: not measured in this run (needs a server; `CACHE_TEST_SQLSERVER`)".into(),
    );
    let _ = writeln!(md, "## Not in this run\n");
    for i in items {
        let _ = writeln!(md, "- {i}");
    }
    md.push('\n');
}
