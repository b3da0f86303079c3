//! `pg-cache`: creates the table a PostgreSQL distributed cache uses (the
//! table of .NET's `Microsoft.Extensions.Caching.Postgres`), or prints its
//! script.
//!
//! Exit codes: 0 success; 1 the operation failed (the table exists, the
//! server cannot be reached, the login is refused, a file cannot be
//! written); 2 the command line is wrong (usage is printed).

use std::io::Write;
use std::process::ExitCode;

use cache_postgres::schema::{self, CreateOutcome, TableOptions};
use cache_postgres::TableName;

const USAGE: &str = "\
Creates the table a PostgreSQL distributed cache uses (ASP.NET Core's
Microsoft.Extensions.Caching.Postgres and the Rust cache-postgres crate
share it).

Usage:
  pg-cache create <connection> <schema> <table> [--wal]
  pg-cache script <schema> <table> [-o|--output <file>] [-i|--idempotent] [--wal]

<connection> is a postgres:// URL or a libpq string (\"host=db user=app ...\").
Names are taken as written (quoted); .NET folds its names to lower case.

Commands:
  create   Creates the table and its index in one transaction; fails if
           the table exists.
  script   Prints (or writes to <file>) the SQL that creates them;
           --idempotent makes running it twice harmless.

Options:
  --wal           A logged table (default: UNLOGGED, as .NET makes it).
  -h, --help      Shows this text.
  -V, --version   Shows the version.

Exit codes: 0 success, 1 failure, 2 wrong command line.";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Help,
    Version,
    Create {
        connection: String,
        table: TableName,
        options: TableOptions,
    },
    Script {
        table: TableName,
        options: TableOptions,
        output: Option<String>,
        idempotent: bool,
    },
}

fn parse(args: &[String]) -> Result<Command, String> {
    let mut positional: Vec<&str> = Vec::new();
    let mut output = None;
    let mut idempotent = false;
    let mut wal = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-i" | "--idempotent" => idempotent = true,
            "--wal" => wal = true,
            "-o" | "--output" => {
                output = Some(
                    iter.next()
                        .ok_or(format!("{arg} needs a file name"))?
                        .clone(),
                );
            }
            a if a.starts_with("--output=") => output = Some(a["--output=".len()..].to_owned()),
            // Never echo an argument that may be a connection string.
            a if a.starts_with('-') && a.len() > 1 => {
                return Err(if a.contains('=') || a.contains("://") {
                    "unknown option".to_owned()
                } else {
                    format!("unknown option {a:?}")
                });
            }
            a => positional.push(a),
        }
    }
    let options = TableOptions::default().wal(wal);
    let name = |schema: &str, table: &str| {
        TableName::new(schema, table).map_err(|e| e.message().to_owned())
    };
    match positional.as_slice() {
        ["create", connection, schema, table] => {
            if output.is_some() || idempotent {
                return Err("create takes no -o or -i".into());
            }
            Ok(Command::Create {
                connection: (*connection).to_owned(),
                table: name(schema, table)?,
                options,
            })
        }
        ["create", rest @ ..] => Err(format!(
            "create needs <connection> <schema> <table> ({} given)",
            rest.len()
        )),
        ["script", schema, table] => Ok(Command::Script {
            table: name(schema, table)?,
            options,
            output,
            idempotent,
        }),
        ["script", rest @ ..] => Err(format!(
            "script needs <schema> <table> ({} given)",
            rest.len()
        )),
        [] => Err("a command is required".into()),
        // The command left out: the first argument may be a connection string.
        [other, ..] if other.contains(['=', ':', '@']) => {
            Err("unknown command (the first argument must be create or script)".into())
        }
        [other, ..] => Err(format!("unknown command {other:?}")),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("pg-cache: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

fn failure(message: &str) -> ExitCode {
    eprintln!("pg-cache: {message}");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    // `std::env::args` panics on an argument that is not UTF-8.
    let args: Option<Vec<String>> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string().ok())
        .collect();
    let Some(args) = args else {
        return usage_error("an argument is not valid UTF-8");
    };
    match parse(&args) {
        Err(message) => usage_error(&message),
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("pg-cache {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Script {
            table,
            options,
            output,
            idempotent,
        }) => {
            let text = schema::script(&table, &options, idempotent);
            let written = match &output {
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(text.as_bytes()).and_then(|()| out.flush())
                }
                Some(file) => std::fs::write(file, text),
            };
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => failure(&format!(
                    "cannot write {}: {e}",
                    output.as_deref().unwrap_or("the script")
                )),
            }
        }
        Ok(Command::Create {
            connection,
            table,
            options,
        }) => create(&connection, &table, &options),
    }
}

fn create(connection: &str, table: &TableName, options: &TableOptions) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return failure(&format!("cannot start: {e}")),
    };
    match runtime.block_on(schema::create_table(connection, table, options)) {
        Ok(CreateOutcome::Created) => {
            println!("Table {table} and its index were created.");
            ExitCode::SUCCESS
        }
        Ok(_) => failure(&format!(
            "table {table} already exists; give another name, or drop it first"
        )),
        // A bad connection string is the command line's fault.
        Err(e)
            if e.kind() == cache_abstractions::ErrorKind::Config
                && e.message().contains("connection string") =>
        {
            usage_error(&e.to_string())
        }
        Err(e) => failure(&format!(
            "cannot create {table} on {}: {e}",
            cache_postgres::redact(connection)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_both_commands_with_options_anywhere() {
        let t = TableName::new("public", "cache").unwrap();
        assert_eq!(
            parse(&args(&[
                "script", "-i", "public", "cache", "-o", "f.sql", "--wal"
            ])),
            Ok(Command::Script {
                table: t.clone(),
                options: TableOptions::default().wal(true),
                output: Some("f.sql".into()),
                idempotent: true
            })
        );
        assert_eq!(
            parse(&args(&["create", "host=db", "public", "cache"])),
            Ok(Command::Create {
                connection: "host=db".into(),
                table: t,
                options: TableOptions::default()
            })
        );
    }

    #[test]
    fn rejects_wrong_command_lines_without_echoing_secrets() {
        for bad in [
            &[][..],
            &["script"][..],
            &["script", "public"][..],
            &["script", "s", "t", "extra"][..],
            &["script", "s", "t", "-o"][..],
            &["script", "s", "t", "--bogus"][..],
            &["script", "s", ""][..],
            &["create", "host=db", "s"][..],
            &["create", "host=db", "s", "t", "-i"][..],
            &["drop", "s", "t"][..],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
        let e = parse(&args(&["postgres://u:hunter2@db/app", "s", "t"])).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        let e = parse(&args(&["create", "--password=hunter2", "s", "t"])).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }
}
