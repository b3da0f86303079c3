//! The memory backend: criterion single calls, the sweeps, the footprint
//! and the callgrind profile.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use cache_benches::results::{median, Footprint, LatencyPoint, Sweep, ThroughputPoint};

use crate::charts::{latency_chart, throughput_chart};
use crate::figures::Figure;
use crate::fmt::{ns, opt_ns, rank, rate, size, TargetRow};
use crate::inputs::{Estimate, Profile};
use crate::Res;

/// Targets of issue 5, as ratios.
pub(crate) const GET_VS_MOKA_MAX: f64 = 1.3;

pub(crate) const SCALING_MIN: f64 = 1.6;

pub(crate) const FOOTPRINT_MAX: f64 = 0.30;

/// The workload of the sweep's scaling measurement.
pub(crate) const SCALING: &str = "scaling: get 1 KiB";

/// The sweep's machine-availability probe (see `Kind::Probe`).
pub(crate) const PROBE: &str = "CPU probe";

pub(crate) fn criterion_section(
    c: &BTreeMap<String, Estimate>,
    targets: &mut Vec<TargetRow>,
) -> String {
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

    md
}

pub(crate) fn memory_sweep_section(
    sweep: &Sweep,
    perf: &Path,
    targets: &mut Vec<TargetRow>,
) -> Res<String> {
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

pub(crate) fn latency_table(md: &mut String, pts: &[&LatencyPoint]) {
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
pub(crate) fn scaling_section(md: &mut String, sweep: &Sweep, targets: &mut Vec<TargetRow>) {
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

pub(crate) fn footprint_section(f: &[Footprint], targets: &mut Vec<TargetRow>) -> String {
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

pub(crate) fn profile_section(p: &Profile) -> String {
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

/// The rows of "What each figure compares" for the memory sections
/// present in this run.
pub(crate) fn figures(
    c: &BTreeMap<String, Estimate>,
    sweep: &Sweep,
    footprint: &[Footprint],
    profile: &Profile,
) -> Vec<Figure> {
    let mut out = Vec::new();
    if c.contains_key("get_hit_1KiB/memory") {
        out.push(Figure {
            figure: "memory single calls",
            kind: "wall clock",
            harness: "criterion (`benches/benches/memory.rs`)",
            runtime: "none (polled in place)",
            command: "the backend's call / raw moka / `RwLock<HashMap>`, same keys",
            concurrency: "1",
            like_for_like: true,
        });
    }
    if !sweep.throughput.is_empty() || !sweep.latency.is_empty() {
        out.push(Figure {
            figure: "memory throughput and latency sweeps, 2-thread scaling",
            kind: "wall clock",
            harness: "`sweep`, the caches taking turns",
            runtime: "multi-thread tokio, one worker a core",
            command: "get / 90% get + 10% set, same keys",
            concurrency: "1-N tasks",
            like_for_like: true,
        });
    }
    if !footprint.is_empty() {
        out.push(Figure {
            figure: "resident memory per entry",
            kind: "resident memory (`VmRSS`)",
            harness: "`footprint`, each case in a fresh process",
            runtime: "none",
            command: "insert N entries",
            concurrency: "1",
            like_for_like: true,
        });
    }
    if !profile.is_empty() {
        out.push(Figure {
            figure: "where the time goes (memory)",
            kind: "**instruction counts** (callgrind)",
            harness: "`profile`",
            runtime: "none",
            command: "the backend's call / raw moka's",
            concurrency: "1",
            like_for_like: true,
        });
    }
    out
}
