//! Project tasks, run as `cargo xtask <task>`.
//!
//! - `test`: the whole test suite, after making sure the services the tests
//!   start themselves (redis-server, openssl for TLS certificates) are installed.
//! - `lint`: formatting, clippy with warnings denied, docs with warnings
//!   denied, and the publish dry run of every crate.
//! - `ci`: `lint` then `test`, what `.ci/run` and the GitHub workflow run.
//! - `bench [--quick]`: the benchmarks and the performance report.
//! - `package`: the publish dry run alone.
//! - `fuzz [--quick]`: every fuzz target in `fuzz/` for a bounded time.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod fuzz;
mod leaks;
mod services;

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    let result = match task {
        "test" => test(rest),
        "lint" => lint(),
        "ci" => lint().and_then(|()| test(rest)),
        "package" => package(),
        "bench" => bench::run(rest),
        "fuzz" => fuzz::run_task(rest),
        "help" | "-h" | "--help" => {
            print!("{}", HELP);
            Ok(())
        }
        other => Err(format!("unknown task {other:?}\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

const HELP: &str = "\
usage: cargo xtask <task>

tasks:
  test [ARGS]     the whole test suite (installs redis-server if missing and root)
  lint            fmt check, clippy -D warnings, docs -D warnings, package dry run
  ci              lint, then test
  package         cargo publish --workspace --dry-run
  bench [--quick] criterion benches + cachectl sweeps, writes docs/performance.md
  bench --instructions  only the instructions-per-operation table (callgrind, ~2 min)
  fuzz [--quick | --time SECS | --build] [TARGET...]
                  each cargo-fuzz target for 15 s (--quick), SECS, or 120 s
";

/// The workspace root (xtask lives one level below it).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command in the workspace root, echoing it; fails on a non-zero exit.
pub(crate) fn run(cmd: &mut Command) -> Result {
    eprintln!("xtask: $ {}", render(cmd));
    let status = cmd
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", render(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({status})", render(cmd)))
    }
}

fn render(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

pub(crate) fn cargo() -> Command {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The variable that holds a SQL Server connection string for the suites
/// that need a live server.
const SQLSERVER_ENV: &str = "CACHE_TEST_SQLSERVER";

/// Features that build the suites needing a live SQL Server.
const SQLSERVER_FEATURES: &str = "cache-sqlserver/server-tests,cachectl/sqlserver-tests";

/// Features that every run turns on: the telemetry suites (traces, metrics,
/// pool gauges, sweep metrics) are test targets with `required-features`,
/// which cargo silently leaves out when nothing in the workspace enables
/// them; a suite that never runs cannot fail.
const TELEMETRY_FEATURES: &str = "cache-abstractions/tracing,cache-abstractions/metrics,\
    cache-redis/metrics,cache-postgres/metrics,cache-sqlserver/metrics,cache-hybrid/metrics,\
    distcache/tracing,distcache/metrics,distcache/redis,distcache/sqlserver";

/// The whole suite: doc tests, then every unit and integration test. The
/// SQL Server suites are built only when a server is given, so without one
/// they are reported as not run instead of counting as passes.
fn test(extra: &[String]) -> Result {
    services::ensure()?;
    let sqlserver = env::var(SQLSERVER_ENV).is_ok_and(|s| !s.trim().is_empty());
    let features = if sqlserver {
        format!("{TELEMETRY_FEATURES},{SQLSERVER_FEATURES}")
    } else {
        TELEMETRY_FEATURES.to_string()
    };
    let features = ["--features", features.as_str()];
    // Said before the run, so the test summary stays the last word.
    if !sqlserver {
        eprintln!(
            "xtask: NOT RUN: the SQL Server suites (cache-sqlserver tests/server, cachectl \
             tests/sqlserver) need a server: set {SQLSERVER_ENV} to a connection string \
             to run them"
        );
    }
    let servers_before = leaks::kit_servers();
    run(cargo().args(["test", "--workspace", "--doc"]))?;
    let tests = if has_nextest() {
        // Profile in .config/nextest.toml: more threads than cores, since
        // the kit's timing cases mostly sleep.
        run(cargo()
            .args(["nextest", "run", "--workspace", "--no-fail-fast"])
            .args(features)
            .args(extra))
    } else {
        eprintln!("xtask: cargo-nextest not found; using cargo test (slower)");
        run(cargo()
            .args(["test", "--workspace", "--lib", "--bins", "--tests"])
            .args(features)
            .args(extra)
            .args(["--", "--test-threads", "8"]))
    };
    // Checked even when a test failed: the servers are killed either way.
    let leaks = leaks::check(&servers_before);
    tests.and(leaks)
}

fn lint() -> Result {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo()
        .args(["doc", "--workspace", "--no-deps", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings"))?;
    package()
}

/// Every publishable crate packages and builds on its own, in dependency
/// order, against the others as they would be published.
fn package() -> Result {
    forget_packaged_sources()?;
    run(cargo().args(["publish", "--workspace", "--dry-run", "--allow-dirty"]))
}

/// The dry run serves the freshly packaged crates from a local registry in
/// `target/package`, and cargo unpacks each into
/// `$CARGO_HOME/registry/src/-<hash of that path>/NAME-VERSION` once: a
/// later dry run from the same folder finds the old unpack (same version,
/// `.cargo-ok` present) and verifies the dependents against *stale* sources
/// (a method added since is "not found"). Those `-<hash>` folders hold only
/// such local-registry unpacks (crates.io's are `index.crates.io-...`), so
/// they are removed before each dry run, with `target/package` itself and
/// our crates' fingerprints: cargo never re-checks a registry crate's build
/// by its files, so the verify builds would also reuse stale artifacts.
fn forget_packaged_sources() -> Result {
    let target = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let packaged = target.join("package");
    if packaged.exists() {
        std::fs::remove_dir_all(&packaged)
            .map_err(|e| format!("cannot remove {}: {e}", packaged.display()))?;
    }
    // The verify builds share target/debug, where the packaged crates'
    // builds sit under the same package ids as last time: forget the
    // fingerprints of our own crates so they are rebuilt (dependencies
    // from crates.io stay).
    let fingerprints = target.join("debug").join(".fingerprint");
    if let Ok(entries) = std::fs::read_dir(&fingerprints) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = ["cache-", "distcache-", "cachectl-"]
                .iter()
                .any(|prefix| name.starts_with(prefix));
            if ours {
                let path = entry.path();
                std::fs::remove_dir_all(&path)
                    .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            }
        }
    }
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry").join("src")) else {
        return Ok(());
    };
    let Ok(entries) = std::fs::read_dir(&src) else {
        return Ok(()); // nothing unpacked yet
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with('-') {
            let path = entry.path();
            std::fs::remove_dir_all(&path)
                .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
        }
    }
    Ok(())
}
