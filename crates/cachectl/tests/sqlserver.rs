//! The real binary against SQL Server, across separate invocations.
//!
//! Built only with the `sqlserver-tests` feature, and then needs
//! `CACHE_TEST_SQLSERVER` to hold a connection string (the same variable
//! cache-sqlserver's server tests use): without it each test fails, so a
//! missing server never counts as a pass. Each test makes its own table and
//! drops it afterwards.

use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use distcache::cache_sqlserver::{schema, TableName};

const ENV: &str = "CACHE_TEST_SQLSERVER";

fn connection_string(test: &str) -> Option<String> {
    match std::env::var(ENV) {
        Ok(s) if !s.trim().is_empty() => Some(s),
        _ => panic!(
            "cachectl: {test}: built with sqlserver-tests but {ENV} is not set; \
             set it to a connection string, or build without the feature"
        ),
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime")
        .block_on(f)
}

/// A fresh table, dropped on drop.
struct Table {
    cs: String,
    name: TableName,
}

impl Table {
    fn create(cs: &str, tag: &str) -> Table {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("cachectl_{tag}_{}_{nanos}", std::process::id());
        let name = TableName::new("dbo", &name).expect("a valid table name");
        block_on(schema::create_table(&cs.parse().expect("parses"), &name))
            .expect("the test table is created");
        Table {
            cs: cs.to_string(),
            name,
        }
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        if let Err(e) = block_on(schema::drop_table(
            &self.cs.parse().expect("parses"),
            &self.name,
        )) {
            eprintln!("cachectl tests: could not drop {}: {e}", self.name.quoted());
        }
    }
}

mod common;

fn cachectl(cs: &str, table: &Table, args: &[&str]) -> Output {
    common::cachectl()
        .env("CACHE_URL", cs)
        .env("CACHE_SQL_SCHEMA", table.name.schema())
        .env("CACHE_SQL_TABLE", table.name.table())
        .args(["--timeout", "30s"])
        .args(args)
        .output()
        .expect("cachectl runs")
}

#[track_caller]
fn ok(o: &Output) -> &[u8] {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    &o.stdout
}

#[test]
fn set_get_inspect_remove_across_invocations() {
    let Some(cs) = connection_string("set_get_inspect_remove_across_invocations") else {
        return;
    };
    let table = Table::create(&cs, "rt");
    ok(&cachectl(
        &cs,
        &table,
        &[
            "set",
            "greeting",
            "hello",
            "--sliding",
            "5m",
            "--absolute-in",
            "1h",
        ],
    ));
    assert_eq!(ok(&cachectl(&cs, &table, &["get", "greeting"])), b"hello");
    let o = cachectl(&cs, &table, &["inspect", "greeting", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(ok(&o)).unwrap();
    assert_eq!(v["size"], 5, "{v}");
    assert_eq!(v["sliding_expiration_ms"], 300_000, "{v}");
    ok(&cachectl(&cs, &table, &["refresh", "greeting"]));
    ok(&cachectl(&cs, &table, &["remove", "greeting"]));
    let o = cachectl(&cs, &table, &["get", "greeting"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
}

#[test]
fn bench_against_sqlserver() {
    let Some(cs) = connection_string("bench_against_sqlserver") else {
        return;
    };
    let table = Table::create(&cs, "bench");
    let o = cachectl(
        &cs,
        &table,
        &[
            "bench", "--json", "--ops", "500", "--keys", "50", "-c", "4", "-r", "1",
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(ok(&o)).unwrap();
    assert_eq!(v["backend"], "sqlserver");
    assert_eq!(v["ops"], 500);
    assert_eq!(v["errors"], 0, "{v}");
    assert_eq!(v["hit_ratio"], 1.0, "{v}");
}
