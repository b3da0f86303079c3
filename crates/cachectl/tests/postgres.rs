//! The real binary against the machine's PostgreSQL (127.0.0.1:5432, or
//! `CACHE_TEST_POSTGRES`), through the `distcache` facade: state crosses
//! separate invocations. Each run makes and drops its own schema.

use std::process::{Command, Output};

use cache_postgres::schema::{script, TableOptions};
use cache_postgres::TableName;

mod common;

fn server_url() -> String {
    std::env::var("CACHE_TEST_POSTGRES")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Runs SQL through `psql` (the server's own client, installed beside it).
fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .expect("psql runs (PostgreSQL's client must be installed for this suite)");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A schema of this test's own, dropped even when the test fails.
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn new(url: &str) -> Self {
        let name = format!("cachectl_test_{}_{}", std::process::id(), rand_suffix());
        let table = TableName::new(&name, "cache").expect("a valid name");
        let ddl = script(&table, &TableOptions::default(), false);
        psql(url, &format!("CREATE SCHEMA \"{name}\";\n{ddl}"));
        Schema {
            url: url.to_owned(),
            name,
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                self.url.as_str(),
                "-q",
                "-c",
                &format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name),
            ])
            .output();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0)
}

fn run(url: &str, schema: &str, args: &[&str]) -> Output {
    let mut all = vec!["--schema", schema, "--table", "cache"];
    all.extend_from_slice(args);
    common::cachectl()
        .env("CACHE_URL", url)
        .args(&all)
        .output()
        .expect("cachectl runs")
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn set_get_inspect_remove_across_invocations() {
    let url = server_url();
    let schema = Schema::new(&url);
    let s = schema.name.as_str();

    ok(&run(
        &url,
        s,
        &["set", "greeting", "hello", "--sliding", "5m"],
    ));
    assert_eq!(ok(&run(&url, s, &["get", "greeting"])), "hello");
    let shown = ok(&run(&url, s, &["inspect", "greeting"]));
    assert!(shown.contains("5 bytes"), "{shown}");
    assert!(shown.contains("5m"), "{shown}");
    ok(&run(&url, s, &["remove", "greeting"]));
    assert_eq!(run(&url, s, &["get", "greeting"]).status.code(), Some(1));
}

#[test]
fn an_unreachable_server_is_exit_3_without_the_password() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("its address").port();
    drop(listener);
    let url = format!("postgres://app:Sup3rSecret@127.0.0.1:{port}/test");
    let out = run(&url, "public", &["get", "k"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connection error"), "{err}");
    assert!(!err.contains("Sup3rSecret"), "{err}");
}
