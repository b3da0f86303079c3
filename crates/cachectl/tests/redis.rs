//! The real binary against a throwaway `redis-server`: state crosses
//! separate invocations, as it does for a user.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_testkit::redis_server::RedisServer;

mod common;

fn cachectl(url: &str) -> Command {
    let mut cmd = common::cachectl();
    cmd.env("CACHE_URL", url);
    cmd
}

fn run(url: &str, args: &[&str]) -> Output {
    cachectl(url).args(args).output().expect("cachectl runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> &[u8] {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(o));
    &o.stdout
}

/// A server and a per-test instance name, so tests sharing it never collide.
fn server() -> Arc<RedisServer> {
    RedisServer::shared()
}

#[test]
fn set_get_inspect_refresh_remove_across_invocations() {
    let server = server();
    let url = server.url();
    let name = "cachectl-test-roundtrip:";
    let with = |args: &[&str]| {
        let mut all = vec!["--instance-name", name];
        all.extend_from_slice(args);
        run(&url, &all)
    };

    let o = with(&[
        "set",
        "greeting",
        "hello",
        "--sliding",
        "5m",
        "--absolute-in",
        "1h",
    ]);
    ok(&o);
    assert!(
        o.stderr.is_empty(),
        "no memory note for Redis: {}",
        stderr(&o)
    );
    assert_eq!(ok(&with(&["get", "greeting"])), b"hello");

    let o = with(&["inspect", "greeting", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(ok(&o)).unwrap();
    assert_eq!(v["size"], 5, "{v}");
    assert_eq!(v["sliding_expiration_ms"], 300_000, "{v}");
    assert!(v["absolute_expiration"].is_string(), "{v}");
    let left = v["expires_in_ms"].as_i64().unwrap();
    assert!((250_000..=300_000).contains(&left), "{v}");

    let table = String::from_utf8(ok(&with(&["inspect", "greeting"])).to_vec()).unwrap();
    assert!(table.contains("size        5 bytes"), "{table}");

    // The instance name is the Redis key prefix, as in .NET.
    assert_eq!(
        server
            .command(&["EXISTS", "cachectl-test-roundtrip:greeting"])
            .unwrap()
            .trim(),
        "1"
    );
    // Another instance name does not see it (contract rule 13).
    let o = run(&url, &["--instance-name", "other:", "get", "greeting"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));

    ok(&with(&["refresh", "greeting"]));
    ok(&with(&["remove", "greeting"]));
    let o = with(&["get", "greeting"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert_eq!(
        stderr(&o),
        "cachectl: no entry under key \"greeting\"\n",
        "no memory hint for Redis"
    );
    let o = with(&["inspect", "greeting"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn binary_value_from_stdin_round_trips() {
    let server = server();
    let url = server.url();
    let all: Vec<u8> = (0..=255u8).collect();
    let mut child = cachectl(&url)
        .args(["--instance-name", "cachectl-test-stdin:", "set", "bin", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&all).unwrap();
    ok(&child.wait_with_output().unwrap());
    let o = run(
        &url,
        &["--instance-name", "cachectl-test-stdin:", "get", "bin"],
    );
    assert_eq!(ok(&o), &all[..]);
}

#[test]
fn absolute_at_expiry_is_stored() {
    let server = server();
    let url = server.url();
    let args = [
        "--instance-name",
        "cachectl-test-at:",
        "set",
        "k",
        "v",
        "--absolute-at",
        "2999-12-31T23:00:00-01:00",
    ];
    ok(&run(&url, &args));
    let o = run(
        &url,
        &[
            "--instance-name",
            "cachectl-test-at:",
            "inspect",
            "k",
            "--json",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(ok(&o)).unwrap();
    assert_eq!(v["absolute_expiration"], "3000-01-01T00:00:00.000Z", "{v}");
    assert!(v["sliding_expiration_ms"].is_null(), "{v}");
}

#[test]
fn bench_against_redis() {
    let server = server();
    let o = run(
        &server.url(),
        &[
            "bench",
            "--json",
            "--ops",
            "3000",
            "--keys",
            "300",
            "--read-ratio",
            "1",
            "--concurrency",
            "8",
            "--key-prefix",
            "cachectl-test-bench:",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(ok(&o)).unwrap();
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    assert_eq!(v["backend"], "redis");
    assert_eq!(v["ops"], 3000);
    assert_eq!(v["errors"], 0);
    assert_eq!(v["hit_ratio"], 1.0, "{v}");
    for field in ["ops_per_sec", "p50_us", "p99_us", "p999_us"] {
        assert!(v[field].as_f64().unwrap() > 0.0, "{field}: {v}");
    }
    // Populated keys carry the bench's TTL, so they don't outlive it for long.
    let ttl: i64 = server
        .command(&["PTTL", "cachectl-test-bench:0"])
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= 600_000, "{ttl}");

    // On a multi-thread runtime (the default for Redis is one thread).
    let o = run(
        &server.url(),
        &[
            "bench",
            "--json",
            "--ops",
            "500",
            "--keys",
            "50",
            "--threads",
            "2",
            "--key-prefix",
            "cachectl-test-bench-mt:",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(ok(&o)).unwrap();
    assert_eq!(v["ops"], 500, "{v}");
    assert_eq!(v["errors"], 0, "{v}");
}

#[test]
fn unreachable_server_is_exit_3_quickly_without_password() {
    let mut server = RedisServer::start();
    let port = server.port();
    server.stop();
    let url = format!("redis://user:hunter2@127.0.0.1:{port}/");
    // The default 5 s timeout: a refused connect fails at once, not when
    // the timeout runs out.
    for args in [&["get", "k"][..], &["bench", "--ops", "10"]] {
        let started = Instant::now();
        let o = run(&url, args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(3), "{args:?}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("cachectl: error: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn invalid_key_on_redis_is_exit_3() {
    let server = server();
    let o = run(&server.url(), &["get", ""]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("invalid key"));
}
