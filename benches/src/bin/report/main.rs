//! Writes `performance.md` and its SVG plots from the results of one
//! `cargo xtask bench` run.
//!
//! ```text
//! report --results <dir> --docs <dir>
//! ```
//!
//! `--results` is the folder `cargo xtask bench` filled (criterion's
//! output, the sweeps' and the footprint's JSON, `hybrid-ratio.json`,
//! `postgres-paired.json`, `redis/` with `redis-curves.json` and
//! redis-benchmark's CSV, callgrind's summaries, `env.txt`); `--docs`
//! receives `performance.md` and `perf/*.svg`. Every number in the report
//! comes from that one folder; a missing optional file makes its figures
//! "not in this run", never an error. One module per section (`memory`,
//! `hybrid`, `redis`, `postgres`, `other`), each adding its rows to the
//! targets table and to "What each figure compares" (`figures`).

mod charts;
mod figures;
mod fmt;
mod hybrid;
mod inputs;
mod instructions;
mod memory;
mod other;
mod postgres;
mod redis;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cache_benches::results::{Footprint, Sweep};
use serde_json::Value;

use crate::figures::{figures_table, Figure};

use crate::fmt::{targets_table, TargetRow};
use crate::inputs::{
    env_get, read_criterion, read_env, read_json, read_profile, read_redis, Estimate, RedisResults,
};
use crate::memory::{criterion_section, footprint_section, memory_sweep_section, profile_section};
use crate::other::other_criterion;
use crate::redis::redis_section;

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
    generate(&results, &docs)
}

/// Writes `docs/performance.md` and `docs/perf/*.svg` from `results`.
fn generate(results: &Path, docs: &Path) -> Res {
    let perf = docs.join("perf");
    fs::create_dir_all(&perf).map_err(|e| format!("cannot create {}: {e}", perf.display()))?;

    let env = read_env(&results.join("env.txt"));
    let criterion = read_criterion(&results.join("criterion"));
    let sweep: Sweep = read_json(&results.join("sweep-memory.json"))?;
    let footprint: Vec<Footprint> = read_json(&results.join("footprint.json"))?;
    let redis = read_redis(&results.join("redis"));
    let profile = read_profile(&results.join("callgrind"));

    // Optional: each says "not in this run" when its file is missing.
    let hybrid_ratio: Option<Value> = read_json(&results.join("hybrid-ratio.json")).ok();
    let postgres_paired: Option<Value> = read_json(&results.join("postgres-paired.json")).ok();

    let mut md = String::new();
    let mut targets: Vec<TargetRow> = Vec::new();
    let mut figures: Vec<Figure> = memory::figures(&criterion, &sweep, &footprint, &profile);

    header(&mut md, &env);

    // Each section adds its target rows and figure rows as it is written;
    // the tables of both go first.
    let crit_md = criterion_section(&criterion, &mut targets);
    let sweep_md = memory_sweep_section(&sweep, &perf, &mut targets)?;
    let foot_md = footprint_section(&footprint, &mut targets);
    let hybrid_md = hybrid::section(
        &criterion,
        hybrid_ratio.as_ref(),
        &mut targets,
        &mut figures,
    );
    let redis_md = redis_section(&redis, &perf, &mut targets, &mut figures)?;
    redis::criterion_targets(&criterion, &mut targets);
    let postgres_md = postgres::section(
        &criterion,
        postgres_paired.as_ref(),
        env_get(&env, "postgres"),
        &mut targets,
        &mut figures,
    );
    let mut other_md = String::new();
    other_criterion(&mut other_md, &criterion, &mut figures);
    let profile_md = profile_section(&profile);
    let instructions_md = instructions::section(
        &results.join("instructions.tsv"),
        &mut targets,
        &mut figures,
    );

    targets_table(&mut md, &targets);
    figures_table(&mut md, &figures);
    for part in [
        crit_md,
        sweep_md,
        foot_md,
        hybrid_md,
        redis_md,
        postgres_md,
        other_md,
        profile_md,
        instructions_md,
    ] {
        md.push_str(&part);
    }
    analysis(&mut md);
    missing(&mut md, &env, &redis, &criterion);

    let path = docs.join("performance.md");
    fs::write(&path, md).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("report: wrote {}", path.display());
    Ok(())
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
         run, where each backend and its baseline alternate. \"What each figure compares\", \
         after the targets, names each figure's harness, runtime, command and concurrency, \
         and says which comparisons are like for like.\n"
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
        ("PostgreSQL server", "postgres"),
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

/// Hand-written reading of the profiles, kept beside the benches.
fn analysis(md: &mut String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("analysis.md");
    if let Ok(text) = fs::read_to_string(&path) {
        let _ = writeln!(md, "{}\n", text.trim_end());
    }
}

fn missing(
    md: &mut String,
    env: &[(String, String)],
    r: &RedisResults,
    criterion: &BTreeMap<String, Estimate>,
) {
    let mut items: Vec<String> = env
        .iter()
        .filter(|(k, _)| k == "missing")
        .map(|(_, v)| v.clone())
        .collect();
    if r.benchmark.is_empty() && r.cachectl.is_empty() {
        items.push("no Redis results in this run".into());
    }
    if !criterion.keys().any(|id| id.starts_with("sqlserver_")) {
        items.push(
            "SQL Server: not measured in this run (needs a server; `CACHE_TEST_SQLSERVER`)".into(),
        );
    }
    let _ = writeln!(md, "## Not in this run\n");
    for i in items {
        let _ = writeln!(md, "- {i}");
    }
    md.push('\n');
}

#[cfg(test)]
mod tests;
