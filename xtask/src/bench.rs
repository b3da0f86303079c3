//! `cargo xtask bench [--quick]`: every benchmark in one run, then the
//! performance report.
//!
//! 1. The criterion benches of the `cache-benches` package (`benches/`),
//!    each bench target in turn; results go to `<results>/criterion`, and
//!    `DISTCACHE_BENCH_RESULTS` names `<results>` to the benches that write
//!    figures of their own (the PostgreSQL bench's paired loop). The
//!    PostgreSQL bench runs against `CACHE_TEST_POSTGRES` (default
//!    127.0.0.1:5432, database `test`) and is skipped, with the reason in
//!    the report, when nothing listens there. Then the hybrid bench's
//!    `--ratio` mode (hit throughput beside a Redis get, its own throwaway
//!    `redis-server`) into `<results>/hybrid-ratio.json`.
//! 2. The sweeps (`sweep`: throughput against concurrency, latency against
//!    value size) and the footprint measurement (`footprint`), built in
//!    release mode from the same package.
//! 3. Redis, when `redis-server` is installed: a throwaway server on a free
//!    loopback port (never 6379), loaded by `redis-curves` (cache-redis
//!    beside raw redis-rs, same `HMGET`, same runtime, alternating: the
//!    like-for-like curves), by `redis-benchmark` (the reference curve, and
//!    `-P 16 -c 50` for the server's pipelined ceiling) and by
//!    `cachectl bench --json` at each concurrency and value size.
//!    Then instructions per operation (`instructions`, under callgrind)
//!    for each backend's hot call beside its raw baseline, printed as a
//!    table and written to `<results>/instructions.tsv` (quick runs too).
//! 4. A callgrind profile of the memory backend's hot calls beside moka's
//!    (full run only, when valgrind is installed).
//! 5. `report`, which writes `docs/performance.md` and `docs/perf/*.svg`.
//!
//! `--instructions` runs step 3b alone (about a minute, any machine load).
//!
//! `--quick` is a smoke run (short criterion times, fewer sweep points, no
//! profile) that writes its report under the results folder, never over
//! the committed one in `docs/`. Nothing here asserts on timings.
//!
//! Results go to `$CARGO_TARGET_DIR/bench-results` (or `target/...`).

use std::env;
use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{cargo, root, run as run_cmd, Result};

/// The concurrencies of the Redis sweep (the memory sweep has its own).
const REDIS_TASKS_FULL: &[u32] = &[1, 2, 4, 8, 16, 32, 50, 64, 128, 256];
const REDIS_TASKS_QUICK: &[u32] = &[1, 50, 128, 256];
/// The value sizes of the Redis latency sweep.
const REDIS_SIZES_FULL: &[u64] = &[100, 1 << 10, 10 << 10, 100 << 10, 1 << 20];
const REDIS_SIZES_QUICK: &[u64] = &[100, 1 << 20];

/// Where the PostgreSQL bench looks for its server when `CACHE_TEST_POSTGRES`
/// is not set (`benches/benches/postgres.rs`'s default).
const POSTGRES_DEFAULT: (Ipv4Addr, u16) = (Ipv4Addr::LOCALHOST, 5432);
/// The environment variable the benches read the results folder from.
const RESULTS_ENV: &str = "DISTCACHE_BENCH_RESULTS";

/// Calls per callgrind case (instruction counts are exact, so few suffice).
const PROFILE_CALLS: u32 = 100_000;

struct Options {
    quick: bool,
    /// `--instructions`: only the instruction-count table (about a minute).
    instructions_only: bool,
}

pub(crate) fn run(args: &[String]) -> Result {
    let mut opts = Options {
        quick: false,
        instructions_only: false,
    };
    for a in args {
        match a.as_str() {
            "--quick" => opts.quick = true,
            "--instructions" => opts.instructions_only = true,
            other => {
                return Err(format!(
                    "bench: unknown argument {other:?} (--quick, --instructions)"
                ))
            }
        }
    }
    let started = Instant::now();
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_relative() { root().join(p) } else { p })
        .unwrap_or_else(|| root().join("target"));
    let out = target_dir.join("bench-results");
    if out.exists() {
        fs::remove_dir_all(&out).map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
    }
    fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;

    if opts.instructions_only {
        run_cmd(cargo().args([
            "build",
            "--release",
            "-p",
            "cache-benches",
            "--bin",
            "instructions",
        ]))?;
        let table = instructions(&target_dir.join("release").join("instructions"), &out)?;
        println!("{table}");
        return Ok(());
    }

    let mut env_lines = machine(&opts);
    env_lines.push(("load_before".into(), loadavg()));

    // 0. Build everything first, then run the built executables directly,
    //    so a commit landing mid-run cannot mix two versions of the code in
    //    one report (`cargo bench` would rebuild between bench targets).
    let mut missing: Vec<String> = Vec::new();
    let benches = bench_executables()?;
    run_cmd(cargo().args(["build", "--release", "-p", "cache-benches", "--bins"]))?;
    let cachectl_built = match run_cmd(cargo().args(["build", "--release", "-p", "cachectl"])) {
        Ok(()) => true,
        Err(e) => {
            missing.push(format!("cachectl does not build: {e}"));
            false
        }
    };
    env_lines.push(("git".into(), git_state()));
    let built = Instant::now();
    let mut stages = vec![format!("builds {:.0} s", started.elapsed().as_secs_f64())];

    // 1. Criterion.
    let crit_args: &[&str] = if opts.quick {
        &[
            "--warm-up-time",
            "0.2",
            "--measurement-time",
            "0.5",
            "--nresamples",
            "10000",
        ]
    } else {
        &["--warm-up-time", "2", "--measurement-time", "5"]
    };
    let (postgres_line, postgres_up) = postgres_server();
    env_lines.push(("postgres".into(), postgres_line.clone()));
    for (bench, exe) in &benches {
        if bench == "postgres" && !postgres_up {
            eprintln!("xtask: bench postgres skipped: {postgres_line}");
            missing.push(format!("PostgreSQL bench not run: {postgres_line}"));
            continue;
        }
        let result = run_cmd(
            Command::new(exe)
                .arg("--bench")
                .args(crit_args)
                .env("CRITERION_HOME", out.join("criterion"))
                .env(RESULTS_ENV, &out),
        );
        match (bench.as_str(), result) {
            (_, Ok(())) => {}
            // The memory benches are this task's own: they must run.
            ("memory", Err(e)) => return Err(e),
            (_, Err(e)) => {
                eprintln!("xtask: bench {bench} failed; the report says so: {e}");
                missing.push(format!("criterion bench `{bench}` failed: {e}"));
            }
        }
    }

    // 1b. The hybrid cache's hit throughput beside a Redis get.
    if let Some((_, exe)) = benches.iter().find(|(n, _)| n == "hybrid") {
        let json = out.join("hybrid-ratio.json");
        if let Err(e) = run_cmd(Command::new(exe).arg("--ratio").arg("--json").arg(&json)) {
            eprintln!("xtask: hybrid --ratio failed; the report says so: {e}");
            missing.push(format!(
                "hybrid hit throughput beside Redis (`hybrid --ratio`, needs redis-server): {e}"
            ));
        }
    }

    stages.push(format!("criterion {:.0} s", built.elapsed().as_secs_f64()));
    let mark = Instant::now();

    // 2. Sweeps and footprint.
    let bin = |name: &str| target_dir.join("release").join(name);
    let mut sweep = Command::new(bin("sweep"));
    if opts.quick {
        sweep.arg("--quick");
    }
    capture(&mut sweep, &out.join("sweep-memory.json"))?;
    capture(
        &mut Command::new(bin("footprint")),
        &out.join("footprint.json"),
    )?;

    stages.push(format!(
        "memory sweeps {:.0} s",
        mark.elapsed().as_secs_f64()
    ));
    let mark = Instant::now();

    // 3. Redis.
    match redis(&opts, &target_dir, &out, cachectl_built) {
        Ok(mut lines) => env_lines.append(&mut lines),
        Err(e) => {
            eprintln!("xtask: Redis part skipped: {e}");
            missing.push(format!("Redis: {e}"));
        }
    }

    stages.push(format!("Redis {:.0} s", mark.elapsed().as_secs_f64()));
    let mark = Instant::now();

    // 3b. Instructions per operation (callgrind), quick runs included:
    //     counts, not seconds, so they compare across machines and commits.
    match instructions(&bin("instructions"), &out) {
        Ok(table) => eprintln!("{table}"),
        Err(e) => {
            eprintln!("xtask: instruction counts skipped: {e}");
            missing.push(format!("instruction counts: {e}"));
        }
    }
    stages.push(format!(
        "instruction counts {:.0} s",
        mark.elapsed().as_secs_f64()
    ));
    let mark = Instant::now();

    // 4. Profile.
    if !opts.quick {
        if let Err(e) = profile(&bin("profile"), &out) {
            eprintln!("xtask: profile skipped: {e}");
            missing.push(format!("callgrind profile: {e}"));
        }
    }

    if !opts.quick {
        stages.push(format!("profile {:.0} s", mark.elapsed().as_secs_f64()));
    }

    // 5. Report.
    env_lines.push(("load_after".into(), loadavg()));
    env_lines.push((
        "elapsed".into(),
        format!(
            "{:.0} s, builds included ({})",
            started.elapsed().as_secs_f64(),
            stages.join(", ")
        ),
    ));
    for m in &missing {
        env_lines.push(("missing".into(), m.clone()));
    }
    let env_text: String = env_lines
        .iter()
        .map(|(k, v)| format!("{k}\t{}\n", v.replace(['\n', '\t'], " ")))
        .collect();
    fs::write(out.join("env.txt"), env_text).map_err(|e| format!("cannot write env.txt: {e}"))?;
    let docs = if opts.quick {
        out.join("docs")
    } else {
        root().join("docs")
    };
    run_cmd(
        Command::new(bin("report"))
            .arg("--results")
            .arg(&out)
            .arg("--docs")
            .arg(&docs),
    )?;
    eprintln!(
        "xtask: bench done in {:.0} s; report: {}",
        started.elapsed().as_secs_f64(),
        docs.join("performance.md").display()
    );
    Ok(())
}

/// Builds the criterion benches of the benches package and returns each
/// bench target's name and executable, `memory` first.
fn bench_executables() -> Result<Vec<(String, PathBuf)>> {
    let mut cmd = cargo();
    cmd.args([
        "bench",
        "-p",
        "cache-benches",
        "--benches",
        "--no-run",
        "--message-format=json",
    ]);
    eprintln!("xtask: $ {}", render(&cmd));
    let output = cmd
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo bench --no-run: {e}"))?;
    if !output.status.success() {
        return Err(format!("building the benches failed ({})", output.status));
    }
    // One JSON object a line; std only, so pick the two fields by hand.
    let text = String::from_utf8_lossy(&output.stdout);
    let mut found: Vec<(String, PathBuf)> = text
        .lines()
        .filter(|l| {
            l.contains("\"reason\":\"compiler-artifact\"") && l.contains("\"kind\":[\"bench\"]")
        })
        .filter_map(|l| {
            let name = json_str(l, "\"name\":\"")?;
            let exe = json_str(l, "\"executable\":\"")?;
            Some((name, PathBuf::from(exe)))
        })
        .collect();
    found.sort_by_key(|(n, _)| (n != "memory", n.clone()));
    found.dedup_by(|a, b| a.0 == b.0);
    if !found.iter().any(|(n, _)| n == "memory") {
        return Err("no `memory` bench executable was built".into());
    }
    Ok(found)
}

/// The string value following `key` (e.g. `"name":"`) in one line of
/// cargo's JSON; cargo escapes only quotes and backslashes in these fields.
fn json_str(line: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(key)? + key.len()..];
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

/// The commit, and whether the working tree differs from it in tracked
/// files (other work in progress in a shared tree).
fn git_state() -> String {
    let dir = root().to_string_lossy().into_owned();
    let head = stdout_of("git", &["-C", &dir, "rev-parse", "--short", "HEAD"])
        .unwrap_or_else(|| "unknown".into());
    let dirty = stdout_of(
        "git",
        &["-C", &dir, "status", "--porcelain", "--untracked-files=no"],
    )
    .map_or(0, |s| s.lines().count());
    if dirty == 0 {
        head
    } else {
        format!("{head} (built with {dirty} tracked file(s) differing from it in the working tree)")
    }
}

/// Runs `cmd`, writing its standard output to `path`.
fn capture(cmd: &mut Command, path: &Path) -> Result {
    eprintln!("xtask: $ {} > {}", render(cmd), path.display());
    let output = cmd
        .current_dir(root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", render(cmd)))?;
    if !output.status.success() {
        return Err(format!("{} failed ({})", render(cmd), output.status));
    }
    fs::write(path, &output.stdout).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn render(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// The standard output of a command, trimmed; `None` if it cannot run or fails.
fn stdout_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// What the report says about the machine and the run.
fn machine(opts: &Options) -> Vec<(String, String)> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let command = if opts.quick {
        "cargo xtask bench --quick"
    } else {
        "cargo xtask bench"
    };
    vec![
        ("command".into(), command.into()),
        ("cpu".into(), model),
        ("cores".into(), cores.to_string()),
        ("memory".into(), mem),
        (
            "kernel".into(),
            stdout_of("uname", &["-sr"]).unwrap_or_else(|| "unknown".into()),
        ),
        (
            "rustc".into(),
            stdout_of("rustc", &["-V"]).unwrap_or_else(|| "unknown".into()),
        ),
        (
            "date".into(),
            stdout_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default(),
        ),
        ("quick".into(), opts.quick.to_string()),
    ]
}

/// What the report says about the PostgreSQL server, and whether the
/// bench can reach it: `CACHE_TEST_POSTGRES` when set (the bench reports
/// its own failure), else a connection attempt to 127.0.0.1:5432.
fn postgres_server() -> (String, bool) {
    if env::var("CACHE_TEST_POSTGRES").is_ok_and(|v| !v.trim().is_empty()) {
        // Never printed: the URL may hold a password.
        return ("the server named by `CACHE_TEST_POSTGRES`".into(), true);
    }
    let (ip, port) = POSTGRES_DEFAULT;
    let addr = std::net::SocketAddr::from((ip, port));
    match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(_) => (format!("{ip}:{port}, database `test`"), true),
        Err(e) => (
            format!(
                "no PostgreSQL server at {ip}:{port} ({e}); start one (trust auth, database \
                 `test`) or set `CACHE_TEST_POSTGRES`"
            ),
            false,
        ),
    }
}

/// A `redis-server` of our own, killed on drop.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn start_redis(out: &Path) -> Result<Server> {
    // A free port from the kernel, never the machine's own Redis on 6379.
    let port = loop {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| format!("no free port: {e}"))?;
        let p = l.local_addr().map_err(|e| e.to_string())?.port();
        if p != 6379 {
            break p;
        }
    };
    let dir = out.join("redis-data");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start redis-server: {e}"))?;
    let server = Server { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if Instant::now() > deadline {
            return Err("redis-server did not start listening within 10 s".into());
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(server)
}

/// The Redis sweeps: `redis-benchmark` (the server's own client, the
/// ceiling), `cache-benches`' raw redis-rs loop when it exists, and
/// `cachectl bench` through the cache-redis backend.
fn redis(
    opts: &Options,
    target_dir: &Path,
    out: &Path,
    cachectl_built: bool,
) -> Result<Vec<(String, String)>> {
    let version = stdout_of("redis-server", &["--version"])
        .ok_or("redis-server is not installed (apt-get install redis-server)")?;
    let server = start_redis(out)?;
    let port = server.port.to_string();
    let url = format!("redis://127.0.0.1:{port}/");
    let dir = out.join("redis");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let tasks = if opts.quick {
        REDIS_TASKS_QUICK
    } else {
        REDIS_TASKS_FULL
    };
    let sizes = if opts.quick {
        REDIS_SIZES_QUICK
    } else {
        REDIS_SIZES_FULL
    };
    let secs = if opts.quick { 1 } else { 3 };

    // redis-benchmark: GET of 1 KiB values at each concurrency, and GET at
    // 50 clients for each value size. It runs for a count of requests; aim
    // at about `secs` seconds at ~50k requests/s per connection-ish.
    let requests = if opts.quick { 20_000 } else { 100_000 };
    for &c in tasks {
        capture(
            Command::new("redis-benchmark")
                .args(["-h", "127.0.0.1", "-p", &port, "-t", "get,set"])
                .args(["-c", &c.to_string(), "-n", &requests.to_string()])
                .args(["-d", "1024", "-r", "10000", "--csv"]),
            &dir.join(format!("redis-benchmark-c{c}-d1024.csv")),
        )?;
    }
    // The server's pipelined ceiling (issue 15: one client thread against it).
    capture(
        Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "-p", &port, "-t", "get"])
            .args(["-P", "16", "-c", "50", "-n", &(requests * 10).to_string()])
            .args(["-d", "1024", "-r", "10000", "--csv"]),
        &dir.join("redis-benchmark-P16-c50-d1024.csv"),
    )?;
    for &d in sizes {
        capture(
            Command::new("redis-benchmark")
                .args(["-h", "127.0.0.1", "-p", &port, "-t", "get,set"])
                .args(["-c", "1", "-n", &(requests / 4).to_string()])
                .args(["-d", &d.to_string(), "-r", "1000", "--csv"]),
            &dir.join(format!("redis-benchmark-c1-d{d}.csv")),
        )?;
    }

    // cachectl bench (the cache-redis backend), when it builds.
    let mut lines = vec![("redis_server".to_string(), version)];
    if cachectl_built {
        let cachectl = target_dir.join("release").join("cachectl");
        let mut runs: Vec<(String, u32, u64, f64)> = Vec::new();
        for &c in tasks {
            runs.push((format!("cachectl-c{c}-d1024-get"), c, 1024, 1.0));
        }
        for &d in sizes {
            runs.push((format!("cachectl-c1-d{d}-get"), 1, d, 1.0));
            runs.push((format!("cachectl-c1-d{d}-set"), 1, d, 0.0));
        }
        for (name, c, d, ratio) in runs {
            let keys = if d >= 100 << 10 { 64 } else { 10_000 };
            let r = capture(
                Command::new(&cachectl)
                    .args(["--url", &url, "bench", "--json", "--quiet"])
                    .args(["-c", &c.to_string(), "--value-size", &d.to_string()])
                    .args(["-k", &keys.to_string(), "-r", &ratio.to_string()])
                    .args(["-d", &format!("{secs}s")]),
                &dir.join(format!("{name}.json")),
            );
            if let Err(e) = r {
                lines.push(("missing".into(), format!("cachectl bench: {e}")));
                break;
            }
        }
    }
    // The like-for-like curves: cache-redis and raw redis-rs, same HMGET,
    // same current-thread runtime, alternating.
    let mut curves = Command::new(target_dir.join("release").join("redis-curves"));
    curves.args(["--url", &url]);
    if opts.quick {
        curves.arg("--quick");
    }
    if let Err(e) = capture(&mut curves, &dir.join("redis-curves.json")) {
        lines.push((
            "missing".into(),
            format!("like-for-like Redis curves (redis-curves): {e}"),
        ));
    }
    // The raw redis-rs loop, once the benches package has one.
    let raw = target_dir.join("release").join("redis-raw");
    if raw.exists() {
        let mut cmd = Command::new(&raw);
        cmd.args(["--url", &url]);
        if opts.quick {
            cmd.arg("--quick");
        }
        if let Err(e) = capture(&mut cmd, &dir.join("raw-redis-rs.json")) {
            lines.push(("missing".into(), format!("raw redis-rs loop: {e}")));
        }
    } else {
        lines.push((
            "missing".into(),
            "raw redis-rs baseline loop not built yet".into(),
        ));
    }
    drop(server);
    Ok(lines)
}

/// Instruction counts of the memory backend's hot calls beside moka's, by
/// callgrind (counts, not seconds: the same whatever else the machine does).
fn profile(bin: &Path, out: &Path) -> Result {
    stdout_of("valgrind", &["--version"]).ok_or("valgrind is not installed")?;
    let dir = out.join("callgrind");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for case in [
        "memory-get",
        "moka-get",
        "memory-sliding-get",
        "memory-set",
        "moka-set",
    ] {
        let data = dir.join(format!("{case}.out"));
        run_cmd(
            Command::new("valgrind")
                .args(["--tool=callgrind", "--quiet", "--collect-atstart=no"])
                .arg("--toggle-collect=*measured_loop*")
                .arg(format!("--callgrind-out-file={}", data.display()))
                .arg(bin)
                .args([case, &PROFILE_CALLS.to_string()]),
        )?;
        capture(
            // Exclusive counts: each function's own instructions.
            Command::new("callgrind_annotate").args(["--threshold=99", &data.to_string_lossy()]),
            &dir.join(format!("{case}.txt")),
        )?;
    }
    Ok(())
}

/// One row of the instruction-count table: the case measured, its
/// baseline, operations, and extra arguments.
struct Pair {
    what: &'static str,
    case: &'static str,
    baseline: &'static str,
    ops: u32,
    tasks: u32,
}

/// The pairs `cargo xtask bench` reports (the baselines are measured once
/// each and reused).
const PAIRS: &[Pair] = &[
    Pair {
        what: "memory get hit",
        case: "memory-get",
        baseline: "moka-get",
        ops: 20_000,
        tasks: 1,
    },
    Pair {
        what: "hybrid local hit",
        case: "hybrid-local-hit",
        baseline: "memory-get-abs",
        ops: 20_000,
        tasks: 1,
    },
    Pair {
        what: "instrumented memory get, no recorder",
        case: "instrumented-get",
        baseline: "memory-get-dyn",
        ops: 20_000,
        tasks: 1,
    },
    Pair {
        what: "instrumented memory get, Prometheus recorder",
        case: "recorded-get",
        baseline: "memory-get-dyn",
        ops: 20_000,
        tasks: 1,
    },
    Pair {
        what: "store candidate: quick_cache get",
        case: "quick_cache-get",
        baseline: "moka-get",
        ops: 20_000,
        tasks: 1,
    },
    Pair {
        what: "store candidate: sharded LRU get",
        case: "sharded-lru-get",
        baseline: "moka-get",
        ops: 20_000,
        tasks: 1,
    },
    Pair {
        what: "Redis get, client side, 1 task",
        case: "redis-get",
        baseline: "raw-hmget",
        ops: 5_000,
        tasks: 1,
    },
    Pair {
        what: "Redis get, client side, 256 tasks",
        case: "redis-get",
        baseline: "raw-hmget",
        ops: 5_000,
        tasks: 256,
    },
];

/// Instructions per operation of every [`PAIRS`] case and baseline, by
/// callgrind over `benches/src/bin/instructions.rs` (only its
/// `measured_loop` is collected: warm operations, setup excluded). The
/// Redis cases run against a throwaway `redis-server`; only this process's
/// (the client's) instructions are counted. Returns the printed table.
fn instructions(bin: &Path, out: &Path) -> Result<String> {
    stdout_of("valgrind", &["--version"]).ok_or("valgrind is not installed")?;
    let dir = out.join("callgrind-instructions");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let server = start_redis(out).ok();
    let url = server
        .as_ref()
        .map(|s| format!("redis://127.0.0.1:{}/", s.port));
    let mut cache: Vec<(String, Option<f64>)> = Vec::new();
    let mut per_op = |case: &str, ops: u32, tasks: u32| -> Option<f64> {
        let label = format!("{case}-t{tasks}");
        if let Some((_, v)) = cache.iter().find(|(l, _)| *l == label) {
            return *v;
        }
        let data = dir.join(format!("{label}.out"));
        let mut cmd = Command::new("valgrind");
        cmd.args(["--tool=callgrind", "--quiet", "--dump-instr=no"])
            .args(["--collect-atstart=no", "--toggle-collect=*measured_loop*"])
            .arg(format!("--callgrind-out-file={}", data.display()))
            .arg(bin)
            .args([case, &ops.to_string(), "--tasks", &tasks.to_string()])
            .stdout(Stdio::null());
        let needs_redis = case.starts_with("redis") || case.starts_with("raw");
        let v = match (&url, needs_redis) {
            (None, true) => None,
            (Some(u), true) => {
                cmd.args(["--url", u]);
                run_cmd(&mut cmd).ok().and_then(|()| totals(&data))
            }
            (_, false) => run_cmd(&mut cmd).ok().and_then(|()| totals(&data)),
        }
        .map(|total| total as f64 / f64::from(ops));
        cache.push((label, v));
        v
    };
    let mut tsv = String::from(
        "what\tcase\tinstructions_per_op\tbaseline\tbaseline_instructions_per_op\tratio\ttasks\n",
    );
    let mut table = String::from(
        "instructions per operation (callgrind; warm operations, setup excluded; client side only for Redis)\n",
    );
    table.push_str(&format!(
        "{:<36} {:>10}  {:<18} {:>10}  {:>6}\n",
        "what", "instr/op", "baseline", "instr/op", "ratio"
    ));
    let fmt = |v: Option<f64>| v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.0}"));
    for p in PAIRS {
        let a = per_op(p.case, p.ops, p.tasks);
        let b = per_op(p.baseline, p.ops, p.tasks);
        let ratio = a.zip(b).map(|(a, b)| a / b);
        let r = ratio.map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}x"));
        table.push_str(&format!(
            "{:<36} {:>10}  {:<18} {:>10}  {:>6}\n",
            p.what,
            fmt(a),
            p.baseline,
            fmt(b),
            r
        ));
        tsv.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            p.what,
            p.case,
            fmt(a),
            p.baseline,
            fmt(b),
            ratio.map_or_else(|| "n/a".to_string(), |r| format!("{r:.3}")),
            p.tasks
        ));
    }
    drop(server);
    fs::write(out.join("instructions.tsv"), tsv).map_err(|e| e.to_string())?;
    fs::write(out.join("instructions.txt"), &table).map_err(|e| e.to_string())?;
    Ok(table)
}

/// The `totals:` line of a callgrind output file.
fn totals(path: &Path) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}
