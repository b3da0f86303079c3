//! The real binary: exit codes, stdout and stderr, on the memory backend
//! (which lives for one invocation, so no state crosses runs here).

use std::io::Write;
use std::process::{Command, Output, Stdio};

mod common;
use common::cachectl;

fn run(args: &[&str]) -> Output {
    cachectl().args(args).output().expect("cachectl runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit status `code`, nothing on stdout, and exactly one stderr line
/// starting `cachectl: error: ` and containing `needle`.
#[track_caller]
fn assert_error(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(o.stdout.is_empty(), "stdout: {:?}", o.stdout);
    assert_eq!(err.lines().count(), 1, "one line expected: {err}");
    assert!(err.starts_with("cachectl: error: "), "{err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

#[test]
fn get_miss_is_exit_1_with_message_and_empty_stdout() {
    let o = run(&["get", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(
        err.starts_with("cachectl: no entry under key \"nope\""),
        "{err}"
    );
    assert!(
        err.contains("memory://"),
        "hint about the in-process cache: {err}"
    );
}

#[test]
fn inspect_miss_is_exit_1() {
    let o = run(&["inspect", "nope", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
}

#[test]
fn set_refresh_remove_succeed_on_memory() {
    let o = run(&["set", "k", "v", "--sliding", "5m", "--absolute-in", "1h"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("note: memory://"), "{}", stderr(&o));
    for args in [["refresh", "k"], ["remove", "k"]] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{args:?}");
    }
    let o = run(&[
        "set",
        "k",
        "v",
        "--absolute-at",
        "2999-01-01T00:00:00+01:00",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn set_reads_stdin_for_dash() {
    let mut child = cachectl()
        .args(["set", "k", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&[0u8, 1, 2, 255])
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn url_from_env_and_flag() {
    let o = cachectl()
        .env("CACHE_URL", "memcached://h")
        .args(["get", "k"])
        .output()
        .unwrap();
    assert_error(&o, 2, "unknown cache URL scheme `memcached`");
    // The flag wins over the environment.
    let o = cachectl()
        .env("CACHE_URL", "memcached://h")
        .args(["--url", "memory://", "get", "k"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // A global flag may follow the subcommand.
    let o = run(&["get", "k", "--url", "memory://?capacity=1MiB"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

#[test]
fn bad_url_scheme_is_usage_error_without_password() {
    let o = run(&["--url", "ftp://admin:hunter2@host/x", "get", "k"]);
    assert_error(&o, 2, "unknown cache URL scheme `ftp`");
    assert!(!stderr(&o).contains("hunter2"));
    let o = run(&["--url", "localhost:6379", "get", "k"]);
    assert_error(&o, 2, "a host without a URL scheme");
    let o = run(&["--url", "memory://?capacity=huge", "get", "k"]);
    assert_error(&o, 2, "capacity");
}

#[test]
fn bad_duration_is_usage_error() {
    let o = run(&["set", "k", "v", "--sliding", "5 parsecs"]);
    assert_error(&o, 2, "--sliding");
    let o = run(&["set", "k", "v", "--absolute-in", "10"]);
    assert_error(&o, 2, "no unit");
    let o = run(&["bench", "--duration", "soon"]);
    assert_error(&o, 2, "--duration");
}

#[test]
fn bad_rfc3339_is_usage_error() {
    let o = run(&["set", "k", "v", "--absolute-at", "tomorrow"]);
    assert_error(&o, 2, "RFC 3339");
    let o = run(&["set", "k", "v", "--absolute-at", "2030-01-01T00:00:00"]);
    assert_error(&o, 2, "time zone");
}

#[test]
fn empty_key_is_cache_error() {
    for args in [
        &["get", ""][..],
        &["set", "", "v"],
        &["remove", ""],
        &["refresh", ""],
        &["inspect", ""],
    ] {
        let o = run(args);
        assert_error(&o, 3, "invalid key");
    }
}

#[test]
fn invalid_options_are_cache_errors_naming_the_field() {
    let o = run(&["set", "k", "v", "--sliding", "0s"]);
    assert_error(&o, 3, "sliding_expiration");
    let o = run(&["set", "k", "v", "--absolute-in", "0ms"]);
    assert_error(&o, 3, "absolute_expiration_relative_to_now");
    let o = run(&["set", "k", "v", "--absolute-at", "2001-01-01T00:00:00Z"]);
    assert_error(&o, 3, "absolute_expiration must be later than now");
}

#[test]
fn usage_errors_are_one_line() {
    let o = run(&["frobnicate"]);
    assert_error(&o, 2, "unrecognized subcommand 'frobnicate'");
    let o = run(&["get"]);
    assert_error(&o, 2, "KEY");
    let o = run(&["bench", "--read-ratio", "1.5"]);
    assert_error(&o, 2, "outside 0.0 to 1.0");
    let o = run(&["bench", "--ops", "10", "--duration", "1s"]);
    assert_error(&o, 2, "cannot be used with");
    let o = run(&["bench", "--threads", "0"]);
    assert_error(&o, 2, "must be at least 1");
}

#[test]
fn help_and_version_exit_0_and_no_args_shows_help() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let help = String::from_utf8_lossy(&o.stdout);
    for needle in [
        "EXIT CODES",
        "memory://",
        "redis://",
        "sqlserver://",
        "CACHE_URL",
    ] {
        assert!(help.contains(needle), "{needle} missing from help");
    }
    let o = run(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Usage"));
}

#[test]
fn help_never_shows_the_url_from_the_environment() {
    let o = cachectl()
        .env("CACHE_URL", "redis://u:topsecret@h")
        .arg("--help")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&o.stdout).contains("topsecret"));
}

fn bench_json(extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["bench", "--json", "--ops", "2000", "--keys", "200"];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Not a terminal: no progress bar, nothing at all on stderr.
    assert!(o.stderr.is_empty(), "stderr: {:?}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one JSON line: {text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn bench_json_has_the_fields_and_reads_hit() {
    let v = bench_json(&["--read-ratio", "1.0", "--concurrency", "4"]);
    for field in [
        "ops_per_sec",
        "p50_us",
        "p99_us",
        "p999_us",
        "hit_ratio",
        "duration_secs",
        "value_size",
        "read_ratio",
    ] {
        assert!(v[field].is_number(), "{field}: {v}");
    }
    assert_eq!(v["hit_ratio"], 1.0, "{v}");
    assert_eq!(v["ops"], 2000);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["concurrency"], 4);
    assert_eq!(v["keys"], 200);
    assert_eq!(v["backend"], "memory");
    assert!(v["p50_us"].as_f64() <= v["p99_us"].as_f64());
    assert!(v["p99_us"].as_f64() <= v["p999_us"].as_f64());
}

#[test]
fn bench_on_one_thread_or_several() {
    for threads in ["1", "3"] {
        let v = bench_json(&["--threads", threads, "--read-ratio", "0.9"]);
        assert_eq!(v["ops"], 2000, "--threads {threads}: {v}");
        assert_eq!(v["errors"], 0, "--threads {threads}: {v}");
    }
}

#[test]
fn bench_mixed_and_unpopulated() {
    let v = bench_json(&["--read-ratio", "0.5", "--value-size", "1KiB"]);
    assert_eq!(v["value_size"], 1024);
    assert!(v["writes"].as_u64().unwrap() > 0);
    let v = bench_json(&["--read-ratio", "1", "--no-populate"]);
    assert_eq!(v["hit_ratio"], 0.0, "nothing was written: {v}");
}

#[test]
fn bench_table_without_progress_bar_when_not_a_tty() {
    let o = run(&["bench", "--duration", "300ms", "--keys", "100"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        o.stderr.is_empty(),
        "no bar off a terminal: {:?}",
        stderr(&o)
    );
    let table = String::from_utf8(o.stdout).unwrap();
    for needle in ["ops/s", "p50", "p99", "p99.9", "hit ratio"] {
        assert!(table.contains(needle), "{needle} missing:\n{table}");
    }
}

#[cfg(feature = "sqlserver")]
#[test]
fn sqlserver_needs_a_table_and_reports_refusal_without_password() {
    let conn =
        "Server=127.0.0.1,1;Database=app;User Id=sa;Password='s3cr;et';TrustServerCertificate=true";
    let o = run(&["--url", conn, "get", "k"]);
    assert_error(&o, 2, "--table");
    // Port 1 on loopback refuses at once.
    for url in [conn, "sqlserver://sa:s3cr%3Bet@127.0.0.1:1/app"] {
        let o = run(&["--url", url, "--table", "Cache", "get", "k"]);
        assert_error(&o, 3, "connection error");
        assert!(!stderr(&o).contains("s3cr"), "{}", stderr(&o));
    }
    let o = cachectl()
        .env("CACHE_URL", "Server=127.0.0.1,1;Password=x;Nonsense=1")
        .env("CACHE_SQL_TABLE", "Cache")
        .args(["get", "k"])
        .output()
        .unwrap();
    // A malformed connection string is caught when opening: a usage error.
    assert_error(&o, 2, "invalid configuration");
}

#[cfg(feature = "redis")]
#[test]
fn malformed_redis_url_is_a_usage_error_without_password() {
    let o = run(&["--url", "redis://u:pw999@[::1", "get", "k"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!stderr(&o).contains("pw999"), "{}", stderr(&o));
}

#[cfg(not(feature = "redis"))]
#[test]
fn redis_without_the_feature_is_a_usage_error() {
    let o = run(&["--url", "redis://127.0.0.1:1/", "get", "k"]);
    assert_error(&o, 2, "unknown cache URL scheme `redis`");
}

/// Runs `cachectl ARGS` on a pseudo-terminal through util-linux `script`,
/// returning what the terminal showed; `None` (test skipped) without it.
fn on_a_terminal(args: &str) -> Option<String> {
    let bin = env!("CARGO_BIN_EXE_cachectl");
    let probe = Command::new("script").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("cachectl: SKIPPED terminal test: util-linux `script` is not installed");
        return None;
    }
    let o = Command::new("script")
        .args(["-qec", &format!("'{bin}' {args}"), "/dev/null"])
        .env_remove("CACHE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("script runs");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn bench_draws_a_progress_bar_only_on_a_terminal_without_quiet() {
    let Some(shown) = on_a_terminal("bench --duration 400ms --keys 100") else {
        return;
    };
    assert!(shown.contains("bench"), "{shown}");
    assert!(shown.contains("ops/s"), "{shown}");
    // The bar redraws its line in place.
    assert!(shown.contains("\u{1b}[2K"), "no bar drawn: {shown:?}");
    let Some(quiet) = on_a_terminal("bench --duration 200ms --keys 100 --quiet") else {
        return;
    };
    assert!(quiet.contains("throughput"), "{quiet}");
    assert!(
        !quiet.contains("\u{1b}[2K"),
        "bar drawn despite --quiet: {quiet:?}"
    );
}

#[test]
fn timeouts_are_bounded_up_front() {
    // Zero would leave the backend's own default under a 500 ms deadline;
    // an enormous one would overflow the deadline arithmetic.
    for timeout in ["0s", "11m", "18000000000000000000s"] {
        let o = run(&["--timeout", timeout, "get", "k"]);
        assert_error(&o, 2, "--timeout");
    }
    let o = run(&["--timeout", "10m", "get", "k"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}

/// Issue 10, item 2: every user mistake that carries a password, fed to the
/// real binary; the password must never reach stdout or stderr (clap's own
/// messages echo arguments, so they go through the redactor too).
#[test]
fn no_mistake_prints_the_password() {
    const SECRET: &str = "hunter2";
    let mistakes: &[&[&str]] = &[
        // A URL without its scheme.
        &["--url", "app:hunter2@host:6379", "get", "k"],
        &["--url", ":hunter2@host:6379", "get", "k"],
        // An unknown scheme whose password holds /, ? and #.
        &["--url", "nosuch://u:hunter2/x?y#z@h", "get", "k"],
        &["--url", "nosuch://u:pre/hunter2?q#f@h/p", "get", "k"],
        // A URL as a positional argument, as the subcommand, as another
        // flag's value, after a misspelt flag.
        &["get", "k", "redis://u:hunter2@h:6379"],
        &["redis://u:hunter2@h:6379", "get", "k"],
        &["app:hunter2@host:6379"],
        &["--timeout", "redis://u:hunter2@h:6379", "get", "k"],
        &["--timeout=redis://u:hunter2@h:6379", "get", "k"],
        &["--ulr", "redis://u:hunter2@h:6379", "get", "k"],
        &["--url=app:hunter2@host", "get", "k"],
        &["set", "k", "v", "--sliding", "Server=h;Password=hunter2"],
        // Connection strings: no table, a bad key, a refused connect.
        &["--url", "Server=h;Password=hunter2", "get", "k"],
        &[
            "--url",
            "Server=h;Password=hunter2;Bogus=1",
            "--table",
            "T",
            "get",
            "k",
        ],
        &[
            "--url",
            "Server=127.0.0.1,1;Password=hunter2;TrustServerCertificate=true",
            "--table",
            "T",
            "--timeout",
            "300ms",
            "get",
            "k",
        ],
        // Refused connects on the network backends.
        &[
            "--url",
            "redis://u:hunter2@127.0.0.1:1",
            "--timeout",
            "300ms",
            "get",
            "k",
        ],
        &[
            "--url",
            "redis://u:hunter2@127.0.0.1:1",
            "--timeout",
            "300ms",
            "bench",
            "--duration",
            "100ms",
        ],
    ];
    for args in mistakes {
        let o = run(args);
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!shown.contains(SECRET), "{args:?} printed: {shown}");
        assert_ne!(o.status.code(), Some(0), "{args:?}: {shown}");
    }
    // From the environment too.
    let o = cachectl()
        .env("CACHE_URL", "app:hunter2@host:6379")
        .args(["get", "k"])
        .output()
        .unwrap();
    assert!(!stderr(&o).contains(SECRET), "{}", stderr(&o));
}
