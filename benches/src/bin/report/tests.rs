//! The generator against results folders made here: one with a figure of
//! every kind the new sections read, one with nothing optional. Both must
//! write a report, and say what each figure compares and what is missing.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::json;

use super::generate;

/// A fresh folder under the system's temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "distcache-report-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(dir.join("results")).expect("scratch folder");
        Scratch(dir)
    }
    fn results(&self) -> PathBuf {
        self.0.join("results")
    }
    fn docs(&self) -> PathBuf {
        self.0.join("docs")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("a parent")).expect("folder");
    fs::write(path, text).expect("write");
}

/// The results every run has (memory sweeps and footprint, possibly empty).
fn minimal(results: &Path, env: &str) {
    write(&results.join("env.txt"), env);
    write(
        &results.join("sweep-memory.json"),
        r#"{"throughput":[],"latency":[],"notes":[]}"#,
    );
    write(&results.join("footprint.json"), "[]");
}

/// One criterion estimate, laid out as criterion writes it.
fn estimate(results: &Path, id: &str, mean_ns: f64) {
    let dir = results
        .join("criterion")
        .join(id.replace('/', "_"))
        .join("new");
    write(
        &dir.join("benchmark.json"),
        &json!({ "full_id": id }).to_string(),
    );
    let ci = json!({ "lower_bound": mean_ns * 0.9, "upper_bound": mean_ns * 1.1 });
    write(
        &dir.join("estimates.json"),
        &json!({ "mean": { "point_estimate": mean_ns, "confidence_interval": ci } }).to_string(),
    );
}

fn curve(target: &str, tasks: u32, rounds: &[f64]) -> serde_json::Value {
    json!({ "target": target, "workload": "HMGET 1 KiB, like for like", "tasks": tasks, "rounds": rounds })
}

#[test]
fn every_new_section_is_written_from_its_results() {
    let s = Scratch::new();
    let r = s.results();
    minimal(
        &r,
        "command\tcargo xtask bench --quick\npostgres\t127.0.0.1:5432, database `test`\n",
    );
    estimate(&r, "hybrid_local_hit_1KiB/cache", 300.0);
    estimate(&r, "hybrid_local_hit_1KiB/cache_memory_get", 250.0);
    estimate(&r, "hybrid_local_hit_1KiB/raw_moka_get", 150.0);
    estimate(&r, "hybrid_miss_1KiB/cache", 40_000.0);
    estimate(&r, "hybrid_miss_1KiB/cache_memory_get_then_set", 20_000.0);
    estimate(&r, "postgres_get_sliding_1KiB/cache", 500_000.0);
    estimate(
        &r,
        "postgres_get_sliding_1KiB/raw_tokio_postgres",
        400_000.0,
    );
    estimate(&r, "postgres_set_1KiB/cache", 400_000.0);
    estimate(&r, "postgres_set_1KiB/raw_tokio_postgres", 380_000.0);
    write(
        &r.join("hybrid-ratio.json"),
        &json!({ "tasks": 50, "workers": 2, "slice_ms": 200,
                 "hybrid_ops_per_sec": 2.5e6, "redis_ops_per_sec": 1.0e5 })
        .to_string(),
    );
    write(
        &r.join("postgres-paired.json"),
        &json!({ "server_version": "16.4", "rounds": 1500,
                 "ops": [{ "op": "get_sliding", "cache_us": 500.0, "raw_us": 475.0 }] })
        .to_string(),
    );
    let curves = json!({
        "throughput": [
            curve("cache-redis", 1, &[40e3, 42e3]), curve("redis-rs (raw)", 1, &[41e3, 42e3]),
            curve("cache-redis", 50, &[180e3, 170e3]), curve("redis-rs (raw)", 50, &[200e3, 190e3]),
        ],
        "latency": [],
        "notes": ["one current-thread tokio runtime"],
    });
    write(
        &r.join("redis").join("redis-curves.json"),
        &curves.to_string(),
    );
    write(
        &r.join("redis").join("redis-benchmark-c50-d1024.csv"),
        "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\"GET\",\"60000.00\",\"0.5\",\"0.1\",\"0.4\",\"0.9\",\"1.2\",\"3.0\"\n",
    );
    write(
        &r.join("redis").join("redis-benchmark-P16-c50-d1024.csv"),
        "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\"GET\",\"1000000.00\",\"0.5\",\"0.1\",\"0.4\",\"0.9\",\"1.2\",\"3.0\"\n",
    );

    write(
        &r.join("instructions.tsv"),
        "what\tcase\tinstructions_per_op\tbaseline\tbaseline_instructions_per_op\tratio\ttasks\n\
         instrumented memory get, no recorder\tinstrumented-get\t603\tmemory-get-dyn\t594\t1.015\t1\n\
         instrumented memory get, Prometheus recorder\trecorded-get\t680\tmemory-get-dyn\t594\t1.145\t1\n",
    );

    generate(&r, &s.docs()).expect("the report");
    let md = fs::read_to_string(s.docs().join("performance.md")).expect("performance.md");
    for want in [
        "## Instructions per operation (callgrind)",
        "| instrumented memory get, no recorder | 603 | memory-get-dyn | 594 | 1.015 |",
        // The overhead goals are judged on the instruction counts.
        "both through `dyn DistributedCache` (instructions, callgrind) | 603 vs 594 instructions | 1.01x | ≤ 1.05x | **pass**",
        "(default sampling) vs the plain memory get (instructions, callgrind) | 680 vs 594 instructions | 1.15x | ≤ 1.10x | **MISS**",
        "## Hybrid cache",
        "hybrid local-tier hit (1 KiB) latency vs a cache-memory get | 300 ns vs 250 ns | 1.20x | ≤ 1.5x | **pass**",
        "hybrid hit throughput (local tier over Redis) vs cache-redis get, 50 tasks | 2.50 M/s vs 100 k/s | 25.00x | ≥ 20x | **pass**",
        "hybrid `get_or_create` on a miss vs a plain get + set (cache-memory) | 40.00 µs vs 20.00 µs | 2.00x",
        "## PostgreSQL",
        "PostgreSQL 16.4",
        // Paired figures win over criterion's where both exist: 475 / 500.
        "(paired; raw time / cache time) | 500.00 µs vs 475.00 µs | 0.95x | ≥ 0.9x | **pass**",
        // The set has criterion figures only: 380 / 400.
        "(criterion; raw time / cache time) | 400.00 µs vs 380.00 µs | 0.95x",
        // The absolute get ran in neither.
        "| not in this run | - | ≥ 0.9x | info |",
        "## What each figure compares",
        "| Redis throughput, redis-benchmark curve (dashed) |",
        // Like for like at 50 tasks: the median of 0.9 and 0.8947.
        "same current-thread runtime, alternating, 50 task(s) (cache / raw throughput) | 175 k/s vs 195 k/s | 0.90x | ≥ 0.95x | **MISS**",
        "**not like for like**",
        "(like for like: cache / raw 0.90x)",
        "`redis-benchmark -P 16 -c 50` GET | 175 k/s vs 1.00 M/s |",
        "SQL Server: not measured in this run",
    ] {
        assert!(md.contains(want), "missing {want:?} in:\n{md}");
    }
    // Hybrid and PostgreSQL groups have their own sections, not the generic table.
    assert!(!md.contains("| hybrid_miss_1KiB |"), "{md}");
    assert!(!md.contains("| postgres_set_1KiB |"), "{md}");
    assert!(s.docs().join("perf").join("throughput-redis.svg").exists());
}

#[test]
fn a_run_without_optional_results_says_what_is_missing() {
    let s = Scratch::new();
    let r = s.results();
    minimal(
        &r,
        "postgres\tno PostgreSQL server at 127.0.0.1:5432 (refused)\nmissing\tPostgreSQL bench not run: no PostgreSQL server at 127.0.0.1:5432 (refused)\n",
    );
    generate(&r, &s.docs()).expect("the report");
    let md = fs::read_to_string(s.docs().join("performance.md")).expect("performance.md");
    for want in [
        "## Hybrid cache\n\nNot measured in this run",
        "Not measured in this run (server: no PostgreSQL server at 127.0.0.1:5432 (refused)",
        "- PostgreSQL bench not run: no PostgreSQL server at 127.0.0.1:5432",
        "- no Redis results in this run",
        "hybrid hit throughput (local tier over Redis) vs cache-redis get, 50 tasks | not in this run | - | ≥ 20x | info |",
        "alternating, 256 task(s) (cache / raw throughput) | not in this run | - | ≥ 0.95x | info |",
        "Prometheus recorder installed (default sampling) vs the plain memory get (instructions, callgrind) | not in this run | - | ≤ 1.10x | info |",
    ] {
        assert!(md.contains(want), "missing {want:?} in:\n{md}");
    }
}
