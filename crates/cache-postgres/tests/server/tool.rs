//! The `pg-cache` tool against the real server: exit codes, and scripts
//! that make a working table (the idempotent one twice).

use std::process::{Command, Output};

use cache_abstractions::{DistributedCache, EntryOptions};
use cache_postgres::schema;

use crate::common::{self, Schema};

fn pg_cache(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pg-cache"))
        .args(args)
        .output()
        .expect("pg-cache runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn create_makes_a_working_table_once() {
    let schema = Schema::new("tool_create").await;
    let url = common::url();
    let ok = pg_cache(&["create", &url, &schema.name, "cache"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let t = schema.table("cache");
    assert!(schema::table_exists(&url, &t).await.unwrap());
    let cache = common::cache(&t);
    cache
        .set("k", "v".into(), &EntryOptions::new())
        .await
        .unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));

    let again = pg_cache(&["create", &url, &schema.name, "cache", "--wal"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("already exists"), "{}", text(&again));
}

#[tokio::test]
async fn failures_and_bad_command_lines_have_their_exit_codes() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = format!("postgres://postgres:hunter2@127.0.0.1:{port}/test");
    let o = pg_cache(&["create", &down, "public", "cache"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!text(&o).contains("hunter2"), "{}", text(&o));
    for bad in [
        &["create", "host=db"][..],
        &["script", "public"][..],
        &["frobnicate"][..],
        &[
            "create",
            "host=db password=hunter2 sslmode=bogus",
            "public",
            "cache",
        ][..],
    ] {
        let o = pg_cache(bad);
        assert_ne!(o.status.code(), Some(0), "{bad:?}: {}", text(&o));
        assert!(!text(&o).contains("hunter2"), "{}", text(&o));
    }
    assert_eq!(pg_cache(&["script", "public"]).status.code(), Some(2));
    assert_eq!(pg_cache(&["--version"]).status.code(), Some(0));
}

#[tokio::test]
async fn scripts_make_the_table_and_the_idempotent_one_runs_twice() {
    let schema = Schema::new("tool_script").await;
    let client = common::raw().await;
    let plain = pg_cache(&["script", &schema.name, "plain"]);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain));
    client
        .batch_execute(&String::from_utf8(plain.stdout).unwrap())
        .await
        .unwrap();
    let file = std::env::temp_dir().join(format!("{}.sql", common::unique("script")));
    let file_arg = file.display().to_string();
    let o = pg_cache(&["script", "-i", &schema.name, "again", "-o", &file_arg]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let script = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_file(&file);
    client.batch_execute(&script).await.unwrap();
    client.batch_execute(&script).await.unwrap();
    for table in ["plain", "again"] {
        let cache = common::cache(&schema.table(table));
        cache
            .set("k", table.into(), &EntryOptions::new())
            .await
            .unwrap();
        assert_eq!(
            cache.get("k").await.unwrap().as_deref(),
            Some(table.as_bytes())
        );
    }
}
