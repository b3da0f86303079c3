//! Resident memory per entry: `N` entries of `S` bytes in the memory
//! backend, beside the raw baselines and the bare values, each measured in
//! a fresh process of its own (so one case's freed memory is never reused
//! by the next).
//!
//! ```text
//! footprint [--entries 100000] [--value-size 1024]       # every case, JSON array on stdout
//! footprint --case memory [--entries N] [--value-size S] # one case, one JSON object
//! ```
//!
//! Resident memory is read from `/proc/self/status` (`VmRSS`, the same
//! figure as `/proc/self/statm`'s resident pages) before the first insert
//! and after the last one (with moka's pending work run).

use std::hint::black_box;
use std::process::{Command, ExitCode};

use bytes::Bytes;
use cache_benches::results::Footprint;
use cache_benches::{block_on, key, value, Kind, Target};

/// The cases, each in its own process: the payload alone, then each cache.
const CASES: [&str; 4] = ["values", "memory", "moka", "rwlock"];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("footprint: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let entries: u64 = flag("--entries")
        .map_or(Ok(100_000), |s| s.parse())
        .map_err(|e| format!("--entries: {e}"))?;
    let value_size: u64 = flag("--value-size")
        .map_or(Ok(1024), |s| s.parse())
        .map_err(|e| format!("--value-size: {e}"))?;
    match flag("--case") {
        Some(case) => {
            let f = measure(&case, entries, value_size)?;
            println!("{}", serde_json::to_string(&f).map_err(|e| e.to_string())?);
        }
        None => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut all = Vec::new();
            for case in CASES {
                let out = Command::new(&exe)
                    .args(["--case", case])
                    .args(["--entries", &entries.to_string()])
                    .args(["--value-size", &value_size.to_string()])
                    .output()
                    .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
                if !out.status.success() {
                    return Err(format!(
                        "case {case} failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
                let f: Footprint =
                    serde_json::from_slice(&out.stdout).map_err(|e| format!("case {case}: {e}"))?;
                all.push(f);
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?
            );
        }
    }
    Ok(())
}

/// Resident bytes of this process.
fn rss() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| "no VmRSS in /proc/self/status".to_string())
}

fn measure(case: &str, entries: u64, value_size: u64) -> Result<Footprint, String> {
    let n = usize::try_from(entries).map_err(|e| e.to_string())?;
    let size = usize::try_from(value_size).map_err(|e| e.to_string())?;
    let key_bytes: u64 = (0..n).map(|i| key(i).len() as u64).sum();
    // The memory backend's default size limit, or room for every entry if
    // that is more; moka's frequency sketch switches on at half the limit,
    // so it is counted here as it would be in a service.
    let capacity = cache_memory::DEFAULT_CAPACITY_BYTES.max((value_size + 1024) * entries);
    let (target_name, rss_before, rss_after, charged) = match case {
        "values" => {
            // The payload and keys alone, held in two vectors sized up
            // front: what any cache must hold at the least.
            let mut keys: Vec<String> = Vec::with_capacity(n);
            let mut values: Vec<Bytes> = Vec::with_capacity(n);
            // Touch the vectors' pages so they count in `before`.
            keys.extend((0..n).map(|_| String::new()));
            values.extend((0..n).map(|_| Bytes::new()));
            let before = rss()?;
            for i in 0..n {
                keys[i] = key(i);
                values[i] = value(size, i as u8);
            }
            let after = rss()?;
            black_box((&keys, &values));
            ("values only".to_string(), before, after, None)
        }
        other => {
            let kind: Kind = other.parse()?;
            let target = match kind {
                // Sized in entries, as a user of raw moka would: twice the
                // entries measured (half full, like the backend above).
                Kind::Moka => Target::Moka(moka::sync::Cache::new(entries * 2)),
                _ => Target::new(kind, capacity),
            };
            let before = rss()?;
            for i in 0..n {
                block_on(target.set(&key(i), value(size, i as u8)));
            }
            let charged = match &target {
                Target::Memory(c) => {
                    c.run_pending_tasks();
                    Some(c.weighted_size())
                }
                Target::Moka(c) => {
                    c.run_pending_tasks();
                    None
                }
                Target::RwLock(_) | Target::Probe => None,
            };
            let after = rss()?;
            // Every entry is still there (nothing was evicted).
            let last = block_on(target.get(&key(n - 1)));
            if n > 0 && last.is_none() {
                return Err(format!("{other}: entries were evicted while measuring"));
            }
            black_box(&target);
            (kind.name().to_string(), before, after, charged)
        }
    };
    Ok(Footprint {
        target: target_name,
        entries,
        value_size,
        key_bytes,
        rss_before,
        rss_after,
        charged,
    })
}
