//! Throughput against concurrency and latency percentiles against value
//! size, for the memory backend and its raw baselines, in one process and
//! one run. Prints a `Sweep` as JSON on stdout.
//!
//! ```text
//! sweep [--quick]
//! ```
//!
//! Throughput: closed-loop tasks (1, 2, 4, ... 128) on a tokio multi-thread
//! runtime with one worker per core, over 10,000 keys of 1 KiB; rounds are
//! interleaved (each round visits every concurrency and every cache) so a
//! burst of load from elsewhere on the machine hits all of them alike.
//! Latency: one task timing each call with `Instant::now()`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use cache_benches::load::{self, Load, Op};
use cache_benches::results::{Sweep, ThroughputPoint};
use cache_benches::{key, value, Kind, Target};

/// Large enough that no measurement evicts.
const CAPACITY: u64 = 4 << 30;

struct Plan {
    scaling_pairs: usize,
    scaling_window: Duration,
    scaling_cap: Duration,
    tasks: Vec<usize>,
    rounds: usize,
    point: Duration,
    sizes: Vec<usize>,
    latency_time: Duration,
    latency_samples: u64,
}

fn main() -> ExitCode {
    let quick = std::env::args().skip(1).any(|a| a == "--quick");
    let plan = if quick {
        Plan {
            scaling_pairs: 6,
            scaling_window: Duration::from_millis(50),
            scaling_cap: Duration::from_secs(8),
            tasks: vec![1, 2, 8, 128],
            rounds: 2,
            point: Duration::from_millis(200),
            sizes: vec![100, 10 << 10, 1 << 20],
            latency_time: Duration::from_millis(100),
            latency_samples: 200_000,
        }
    } else {
        Plan {
            scaling_pairs: 40,
            scaling_window: Duration::from_millis(100),
            scaling_cap: Duration::from_secs(240),
            tasks: vec![1, 2, 4, 8, 16, 32, 64, 128],
            rounds: 3,
            point: Duration::from_millis(500),
            sizes: vec![100, 1 << 10, 10 << 10, 100 << 10, 1 << 20],
            latency_time: Duration::from_millis(500),
            latency_samples: 2_000_000,
        }
    };
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sweep: cannot start a tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut sweep = Sweep::default();
    sweep.notes.push(format!(
        "tokio multi-thread runtime, {workers} worker threads; throughput: {} round(s) of {:?} per point, interleaved; latency: one task, up to {:?} or {} calls per point",
        plan.rounds, plan.point, plan.latency_time, plan.latency_samples
    ));
    let pairs = scaling(&rt, &plan, &mut sweep);
    sweep.notes.push(format!(
        "scaling: {pairs} pairs of {:?} windows (1 task, then 2 tasks) per cache, interleaved; \
         at least {} pairs, then more until the CPU probe shows a free second core (best 2-task \
         window at least {PROBE_FREE}x its best 1-task window) or {:?} have passed",
        plan.scaling_window, plan.scaling_pairs, plan.scaling_cap
    ));
    throughput(&rt, &plan, &mut sweep);
    latency(&rt, &plan, &mut sweep);
    match serde_json::to_string_pretty(&sweep) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sweep: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workload name of the scaling measurement (the report looks for it).
const SCALING: &str = "scaling: get 1 KiB";

/// One task against two, in many short windows, each 1-task window right
/// before its 2-task one and the caches (and the CPU probe) taking turns:
/// other processes on the machine come and go in bursts, and short,
/// adjacent windows let both sides of a pair see the same machine.
/// The probe ratio taken to mean the second core was free.
const PROBE_FREE: f64 = 1.8;

/// Returns the number of pairs run.
fn scaling(rt: &tokio::runtime::Runtime, plan: &Plan, sweep: &mut Sweep) -> usize {
    const KEYS: usize = 10_000;
    let keys = Arc::new((0..KEYS).map(key).collect::<Vec<_>>());
    let v = value(1024, 7);
    let targets: Vec<Arc<Target>> = Kind::ALL
        .into_iter()
        .chain([Kind::Probe])
        .map(|k| {
            let t = Target::new(k, CAPACITY);
            load::populate(rt, &t, &keys, v.len());
            Arc::new(t)
        })
        .collect();
    let mut points: Vec<ThroughputPoint> = Vec::new();
    for t in &targets {
        for tasks in [1u32, 2] {
            points.push(ThroughputPoint {
                target: t.kind().name().to_string(),
                workload: SCALING.to_string(),
                tasks,
                rounds: Vec::new(),
            });
        }
    }
    let started = std::time::Instant::now();
    let probe = targets
        .iter()
        .position(|t| t.kind() == Kind::Probe)
        .expect("the probe is a target");
    let mut pairs = 0;
    loop {
        let free = points[probe * 2 + 1].best() >= PROBE_FREE * points[probe * 2].best();
        if pairs >= plan.scaling_pairs && (free || started.elapsed() >= plan.scaling_cap) {
            break;
        }
        pairs += 1;
        for (i, t) in targets.iter().enumerate() {
            for (j, tasks) in [1usize, 2].into_iter().enumerate() {
                let l = Load {
                    tasks,
                    duration: plan.scaling_window,
                    read_percent: 100,
                };
                let ops = load::throughput(rt, t, &keys, &v, &l);
                points[i * 2 + j].rounds.push(ops);
            }
        }
    }
    for p in &points {
        eprintln!(
            "sweep: {SCALING}: {} x{}: best {:.0} ops/s",
            p.target,
            p.tasks,
            p.best()
        );
    }
    sweep.throughput.extend(points);
    pairs
}

fn throughput(rt: &tokio::runtime::Runtime, plan: &Plan, sweep: &mut Sweep) {
    const KEYS: usize = 10_000;
    let keys = Arc::new((0..KEYS).map(key).collect::<Vec<_>>());
    let v = value(1024, 7);
    for (read_percent, workload) in [(100, "get 1 KiB"), (90, "90% get / 10% set, 1 KiB")] {
        let targets: Vec<Arc<Target>> = Kind::ALL
            .into_iter()
            .map(|k| {
                let t = Target::new(k, CAPACITY);
                load::populate(rt, &t, &keys, v.len());
                Arc::new(t)
            })
            .collect();
        // Warm up every cache and the runtime's threads once.
        for t in &targets {
            let warm = Load {
                tasks: 2,
                duration: plan.point / 4,
                read_percent,
            };
            load::throughput(rt, t, &keys, &v, &warm);
        }
        let mut points: Vec<ThroughputPoint> = Vec::new();
        for _ in 0..plan.rounds {
            for &tasks in &plan.tasks {
                for t in &targets {
                    let l = Load {
                        tasks,
                        duration: plan.point,
                        read_percent,
                    };
                    let ops = load::throughput(rt, t, &keys, &v, &l);
                    let name = t.kind().name();
                    match points
                        .iter_mut()
                        .find(|p| p.target == name && p.tasks as usize == tasks)
                    {
                        Some(p) => p.rounds.push(ops),
                        None => points.push(ThroughputPoint {
                            target: name.to_string(),
                            workload: workload.to_string(),
                            tasks: tasks as u32,
                            rounds: vec![ops],
                        }),
                    }
                    eprintln!("sweep: {workload}: {name} x{tasks}: {ops:.0} ops/s");
                }
            }
        }
        sweep.throughput.extend(points);
    }
}

fn latency(rt: &tokio::runtime::Runtime, plan: &Plan, sweep: &mut Sweep) {
    for &size in &plan.sizes {
        // At most 64 MiB of values per cache, and at least 64 keys.
        let n = (64usize << 20).div_ceil(size).clamp(64, 10_000);
        let keys: Vec<String> = (0..n).map(key).collect();
        let v = value(size, 9);
        for kind in Kind::ALL {
            let t = Target::new(kind, CAPACITY);
            load::populate(rt, &t, &keys, size);
            for op in [Op::Get, Op::Set] {
                let p = load::latency(
                    rt,
                    &t,
                    &keys,
                    &v,
                    op,
                    plan.latency_time,
                    plan.latency_samples,
                );
                eprintln!(
                    "sweep: {} {} {size} B: p50 {} ns, p99 {} ns",
                    p.target, p.op, p.p50_ns, p.p99_ns
                );
                sweep.latency.push(p);
            }
        }
    }
}
