//! `cargo xtask fuzz`: runs every cargo-fuzz target in `fuzz/` for a
//! bounded time each (see docs/reliability.md).
//!
//! - `--quick`: 15 s a target (CI-friendly: about 2 minutes plus the build).
//! - `--time SECS`: SECS a target (the documented long run used 600).
//! - `--build`: builds the targets only.
//! - any other argument names a target to run (default: all).
//!
//! libFuzzer's instrumentation needs unstable compiler options. The machine
//! has one (stable) toolchain, so unless it is a nightly the task sets
//! `RUSTC_BOOTSTRAP=1`, which unlocks them on stable, for the fuzz build only.
//! Targets run without a sanitizer (`--sanitizer none`): the workspace
//! forbids `unsafe` code, so AddressSanitizer would find nothing the panics
//! don't, at several times the cost. Debug assertions are on, so integer
//! overflow panics instead of wrapping. A crash fails the task and leaves
//! its input under `fuzz/artifacts/<target>/`.

use std::process::Command;

use crate::{cargo, root, run, Result};

/// Seconds per target with `--quick`.
const QUICK_SECS: u64 = 15;
/// Seconds per target by default.
const DEFAULT_SECS: u64 = 120;

/// What the arguments ask for.
struct Plan {
    secs: u64,
    build_only: bool,
    targets: Vec<String>,
}

fn plan(args: &[String]) -> Result<Plan> {
    let mut plan = Plan {
        secs: DEFAULT_SECS,
        build_only: false,
        targets: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => plan.secs = QUICK_SECS,
            "--build" => plan.build_only = true,
            "--time" => {
                let secs = it.next().ok_or("--time needs a number of seconds")?;
                plan.secs =
                    secs.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("--time: {secs:?} is not a positive whole number")
                    })?;
            }
            flag if flag.starts_with('-') => return Err(format!("fuzz: unknown flag {flag:?}")),
            target => plan.targets.push(target.to_string()),
        }
    }
    Ok(plan)
}

/// `cargo fuzz …` in `fuzz/`, with the toolchain switch it needs.
fn cargo_fuzz() -> Command {
    let mut cmd = cargo();
    cmd.arg("fuzz");
    if !is_nightly() {
        cmd.env("RUSTC_BOOTSTRAP", "1");
    }
    cmd
}

fn is_nightly() -> bool {
    Command::new("rustc")
        .arg("-V")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("nightly"))
}

/// Installs cargo-fuzz when missing (from crates.io, as any cargo tool).
fn ensure_cargo_fuzz() -> Result {
    let present = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    run(cargo().args(["install", "cargo-fuzz", "--locked"]))
}

/// The targets `fuzz/Cargo.toml` declares.
fn all_targets() -> Result<Vec<String>> {
    let out = cargo_fuzz()
        .arg("list")
        .current_dir(root().join("fuzz"))
        .output()
        .map_err(|e| format!("cannot run cargo fuzz list: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo fuzz list failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

pub(crate) fn run_task(args: &[String]) -> Result {
    let plan = plan(args)?;
    ensure_cargo_fuzz()?;
    let known = all_targets()?;
    let targets = if plan.targets.is_empty() {
        known
    } else {
        if let Some(t) = plan.targets.iter().find(|t| !known.contains(t)) {
            return Err(format!(
                "fuzz: no target {t:?}; targets: {}",
                known.join(", ")
            ));
        }
        plan.targets
    };
    let fuzz_dir = root().join("fuzz");
    run(cargo_fuzz()
        .args(["build", "--sanitizer", "none", "--debug-assertions"])
        .current_dir(&fuzz_dir))?;
    if plan.build_only {
        return Ok(());
    }
    let mut failed = Vec::new();
    for target in &targets {
        // Each target keeps its corpus in fuzz/corpus/<target> (ignored by
        // git), so longer runs build on earlier ones.
        let outcome = run(cargo_fuzz()
            .args([
                "run",
                "--sanitizer",
                "none",
                "--debug-assertions",
                target,
                "--",
            ])
            .arg(format!("-max_total_time={}", plan.secs))
            .args([
                "-rss_limit_mb=2048",
                "-max_len=4096",
                "-print_final_stats=1",
            ])
            .current_dir(&fuzz_dir));
        if outcome.is_err() {
            failed.push(target.as_str());
        }
    }
    if failed.is_empty() {
        eprintln!(
            "xtask: fuzz: {} targets ran {} s each without a crash",
            targets.len(),
            plan.secs
        );
        Ok(())
    } else {
        Err(format!(
            "fuzz: {} crashed; inputs under fuzz/artifacts/<target>/ (replay: cd fuzz && \
             RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none -a <target> <file>)",
            failed.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_set_the_time_and_targets() {
        let p = plan(&args(&["--quick", "redis_hash"])).unwrap();
        assert_eq!((p.secs, p.build_only), (QUICK_SECS, false));
        assert_eq!(p.targets, ["redis_hash"]);
        assert_eq!(plan(&args(&["--time", "600"])).unwrap().secs, 600);
        assert!(plan(&args(&["--build"])).unwrap().build_only);
        assert!(plan(&args(&["--time", "0"])).is_err());
        assert!(plan(&args(&["--time"])).is_err());
        assert!(plan(&args(&["--fast"])).is_err());
    }
}
