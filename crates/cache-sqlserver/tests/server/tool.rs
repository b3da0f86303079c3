//! The `sql-cache` binary against a real server.

use std::process::Command;

use crate::common::{self, Tables};

fn sql_cache(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sql-cache"))
        .args(args)
        .output()
        .expect("the sql-cache binary runs")
}

#[tokio::test]
async fn create_twice_then_the_cache_uses_the_table() {
    let Some(cs) = common::connection_string("create_twice_then_the_cache_uses_the_table") else {
        return;
    };
    let tables = Tables::new(&cs);
    let t = common::unique_table("tool");
    tables.adopt(&t);
    let first = sql_cache(&["create", &cs, t.schema(), t.table()]);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stdout).contains("created successfully"));
    let second = sql_cache(&["create", &cs, t.schema(), t.table()]);
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("already exists"));

    use cache_abstractions::{DistributedCache, EntryOptions};
    let cache = common::cache_over(&cs, &t).await;
    cache
        .set("k", "v".into(), &EntryOptions::new())
        .await
        .unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn idempotent_script_runs_twice() {
    let Some(cs) = common::connection_string("idempotent_script_runs_twice") else {
        return;
    };
    let tables = Tables::new(&cs);
    let t = common::unique_table("script");
    tables.adopt(&t);
    let out = sql_cache(&["script", t.schema(), t.table(), "--idempotent"]);
    assert_eq!(out.status.code(), Some(0));
    let script = String::from_utf8(out.stdout).unwrap();
    let mut raw = common::raw(&cs).await;
    for _ in 0..2 {
        raw.simple_query(script.as_str())
            .await
            .unwrap()
            .into_results()
            .await
            .unwrap_or_else(|e| panic!("running the idempotent script: {e}"));
    }
    assert!(
        cache_sqlserver::schema::table_exists(&common::parse(&cs), &t)
            .await
            .unwrap()
    );
}
