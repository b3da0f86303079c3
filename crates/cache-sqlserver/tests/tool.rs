//! The `sql-cache` binary without a server: arguments, exit codes, scripts,
//! and a failed connection (which must not print the password).
#![cfg(feature = "tool")]

use std::process::{Command, Output};

fn sql_cache(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sql-cache"))
        .args(args)
        .output()
        .expect("the sql-cache binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn no_arguments_prints_usage_and_exits_2() {
    let out = sql_cache(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("Usage:"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_or_extra_arguments_exit_2() {
    for args in [
        &["create"][..],
        &["create", "Server=tcp:h,1433"][..],
        &["create", "Server=tcp:h,1433", "dbo"][..],
        &["script"][..],
        &["script", "dbo"][..],
        &["script", "dbo", "Cache", "extra"][..],
        &["script", "dbo", "Cache", "-o"][..],
        &["script", "dbo", "Cache", "--frobnicate"][..],
        &["frobnicate"][..],
    ] {
        let out = sql_cache(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stderr).contains("Usage:"), "{args:?}");
    }
}

#[test]
fn bad_names_and_connection_strings_exit_2() {
    for args in [
        &["script", "dbo", "Cache "][..],
        &["script", "", "Cache"][..],
        &["create", "Server=h;Bogus=1", "dbo", "Cache"][..],
        &["create", "Server=h", "dbo", ""][..],
    ] {
        let out = sql_cache(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn help_and_version_exit_0() {
    let out = sql_cache(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("sql-cache create <connection-string> <schema> <table>"));
    let out = sql_cache(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("sql-cache "));
}

#[test]
fn script_prints_the_ddl() {
    let out = sql_cache(&["script", "dbo", "Cache"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.starts_with("CREATE TABLE [dbo].[Cache]("), "{s}");
    assert!(s.contains("Id nvarchar(449) COLLATE SQL_Latin1_General_CP1_CS_AS NOT NULL"));
    assert!(s.contains(
        "CREATE NONCLUSTERED INDEX Index_ExpiresAtTime ON [dbo].[Cache](ExpiresAtTime);"
    ));
    assert!(!s.contains("IF NOT EXISTS"));
}

#[test]
fn idempotent_script_to_a_file() {
    let dir = std::env::temp_dir().join(format!("sql-cache-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cache.sql");
    let path = file.to_str().unwrap();
    for flag in ["-i", "--idempotent"] {
        let out = sql_cache(&["script", "app", "Sessions", flag, "-o", path]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty());
        let s = std::fs::read_to_string(&file).unwrap();
        assert!(
            s.starts_with("IF NOT EXISTS (SELECT * FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = N'app' AND TABLE_NAME = N'Sessions')\nBEGIN\nCREATE TABLE [app].[Sessions]("),
            "{s}"
        );
        assert!(s.ends_with("END\n"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unwritable_output_exits_1() {
    let out = sql_cache(&[
        "script",
        "dbo",
        "Cache",
        "-o",
        "/nonexistent-dir/x/cache.sql",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot write"));
}

#[test]
fn misplaced_secrets_are_never_echoed() {
    // A connection string or URL where a command or option was expected
    // (issue 10, finding 2): usage error, and the secret stays out.
    for args in [
        &["sqlserver://sa:Sup3rSecret!@host/db"][..],
        &["mssql://sa:Sup3rSecret!@host"][..],
        &["Server=h;Password=Sup3rSecret!"][..],
        &["sa:Sup3rSecret!@host:1433"][..],
        &["--password=Sup3rSecret!"][..],
        &["script", "dbo", "Cache", "--password=Sup3rSecret!"][..],
        &[
            "create",
            "Server=h",
            "dbo",
            "Cache",
            "Password=Sup3rSecret!",
        ][..],
    ] {
        let out = sql_cache(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let all = text(&out.stderr) + &text(&out.stdout);
        assert!(!all.contains("Sup3rSecret!"), "{args:?}: {all}");
    }
    // A plain word is still named, so a typo is easy to see.
    let err = text(&sql_cache(&["crate"]).stderr);
    assert!(err.contains("\"crate\""), "{err}");
}

#[test]
fn unreachable_server_exits_1_without_the_password() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let cs =
        format!("Server=tcp:127.0.0.1,{port};User Id=sa;Password=Sup3rSecret!;Connect Timeout=5");
    let out = sql_cache(&["create", &cs, "dbo", "Cache"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("127.0.0.1"), "{err}");
    assert!(!err.contains("Sup3rSecret!"), "{err}");
    assert!(!text(&out.stdout).contains("Sup3rSecret!"));
}

#[cfg(unix)]
#[test]
fn non_utf8_argument_exits_2_without_a_panic() {
    use std::os::unix::ffi::OsStrExt;
    let out = Command::new(env!("CARGO_BIN_EXE_sql-cache"))
        .args(["script", "dbo"])
        .arg(std::ffi::OsStr::from_bytes(b"Cache\xff"))
        .output()
        .expect("the sql-cache binary runs");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
