//! The instruction-count table (callgrind), and the goals judged on it:
//! issue 14's instrumentation overhead, where wall-clock ratios of a
//! ~100 ns operation swing with the host and instruction counts do not.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use crate::figures::Figure;
use crate::fmt::TargetRow;

/// The instrumentation overhead goals: (case in `instructions.tsv`, target
/// row, the most instructions the wrapper may cost over the plain get).
const OVERHEAD_GOALS: [(&str, &str, f64); 2] = [
    (
        "instrumented-get",
        "instrumented memory get (no recorder, no subscriber) vs the plain memory get, both through `dyn DistributedCache` (instructions, callgrind)",
        1.05,
    ),
    (
        "recorded-get",
        "instrumented memory get with the Prometheus recorder installed (default sampling) vs the plain memory get (instructions, callgrind)",
        1.10,
    ),
];

/// The instruction-count table `cargo xtask bench` writes
/// (`instructions.tsv`, from `benches/src/bin/instructions.rs` under
/// callgrind), or nothing when the run had none.
pub(crate) fn section(
    path: &Path,
    targets: &mut Vec<TargetRow>,
    figures: &mut Vec<Figure>,
) -> String {
    let mut md = String::new();
    let Ok(text) = fs::read_to_string(path) else {
        for (_, what, max) in OVERHEAD_GOALS {
            targets.push(TargetRow {
                what: what.into(),
                measured: "not in this run".into(),
                ratio: f64::NAN,
                limit: format!("≤ {max:.2}x"),
                pass: None,
            });
        }
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
        if let [what, case, a, base, b, ratio, _tasks] = f[..] {
            let _ = writeln!(md, "| {what} | {a} | {base} | {b} | {ratio} |");
            if let Some((_, goal, max)) = OVERHEAD_GOALS.iter().find(|(c, ..)| *c == case) {
                let r: f64 = ratio.parse().unwrap_or(f64::NAN);
                targets.push(TargetRow {
                    what: (*goal).into(),
                    measured: format!("{a} vs {b} instructions"),
                    ratio: r,
                    limit: format!("≤ {max:.2}x"),
                    pass: r.is_finite().then_some(r <= *max),
                });
            }
        }
    }
    md.push('\n');
    figures.push(Figure {
        figure: "instructions per operation",
        kind: "**instruction counts** (callgrind): the same on any machine and load",
        harness: "`instructions`, warm operations, only `measured_loop` collected",
        runtime: "none (in-process) / one current-thread tokio runtime (Redis, client side only)",
        command: "the same call or command on both sides (`HMGET` for Redis)",
        concurrency: "1; 256 tasks (Redis)",
        like_for_like: true,
    });
    md
}
