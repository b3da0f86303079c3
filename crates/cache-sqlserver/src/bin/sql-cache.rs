//! `sql-cache`: creates the table a SQL Server distributed cache uses (the
//! same table as .NET's `dotnet sql-cache`), or prints its script.
//!
//! Exit codes: 0 success; 1 the operation failed (the table exists, the
//! server cannot be reached, a file cannot be written); 2 the command line
//! is wrong (usage is printed).

use std::io::Write;
use std::process::ExitCode;

use cache_sqlserver::schema::{self, CreateOutcome};
use cache_sqlserver::TableName;

const USAGE: &str = "\
Creates the table a SQL Server distributed cache uses (ASP.NET Core's
SqlServerCache and the Rust cache-sqlserver crate share it).

Usage:
  sql-cache create <connection-string> <schema> <table>
  sql-cache script <schema> <table> [-o|--output <file>] [-i|--idempotent]

Commands:
  create   Creates the table and its index; fails if the table exists.
  script   Prints (or writes to <file>) the SQL that creates them;
           --idempotent wraps it so running it twice is harmless.

Options:
  -h, --help      Shows this text.
  -V, --version   Shows the version.

Exit codes: 0 success, 1 failure, 2 wrong command line.";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    Help,
    Version,
    Create {
        connection_string: String,
        schema: String,
        table: String,
    },
    Script {
        schema: String,
        table: String,
        output: Option<String>,
        idempotent: bool,
    },
}

fn parse(args: &[String]) -> Result<Command, String> {
    let mut positional = Vec::new();
    let mut output = None;
    let mut idempotent = false;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-h" | "--help" | "-?" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "-i" | "--idempotent" => idempotent = true,
            "-o" | "--output" => match iter.next() {
                Some(file) => output = Some(file.clone()),
                None => return Err(format!("{arg} needs a file name")),
            },
            a if a.starts_with("--output=") => output = Some(a["--output=".len()..].to_owned()),
            // A lone "-" or a negative-looking value is positional; other dashes are options.
            a if a.starts_with('-')
                && a.len() > 1
                && positional.first().is_none_or(|c: &String| c != "create") =>
            {
                return Err(format!("unknown option {}", shown(a)))
            }
            _ => positional.push(arg.clone()),
        }
    }
    let mut p = positional.into_iter();
    let command = p.next().ok_or("a command is required")?;
    let rest: Vec<String> = p.collect();
    match command.as_str() {
        "create" => {
            if output.is_some() || idempotent {
                return Err("create takes no -o or -i".into());
            }
            match <[String; 3]>::try_from(rest) {
                Ok([connection_string, schema, table]) => Ok(Command::Create {
                    connection_string,
                    schema,
                    table,
                }),
                Err(rest) => Err(format!(
                    "create needs <connection-string> <schema> <table> ({} given)",
                    rest.len()
                )),
            }
        }
        "script" => match <[String; 2]>::try_from(rest) {
            Ok([schema, table]) => Ok(Command::Script {
                schema,
                table,
                output,
                idempotent,
            }),
            Err(rest) => Err(format!(
                "script needs <schema> <table> ({} given)",
                rest.len()
            )),
        },
        other => Err(format!(
            "unknown command {} (the first argument must be create or script)",
            shown(other)
        )),
    }
}

/// An argument as it may appear in a message: echoed only when it is a
/// plain word. Anything else (a connection string or URL given where a
/// command was expected, `--password=..`) may hold a secret, so it is never
/// printed.
fn shown(arg: &str) -> String {
    let plain = arg.len() <= 40
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        format!("{arg:?}")
    } else {
        "(not shown: it may hold a secret)".to_owned()
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("sql-cache: {message}\n\n{USAGE}");
    ExitCode::from(2)
}

fn failure(message: &str) -> ExitCode {
    eprintln!("sql-cache: {message}");
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
    let command = match parse(&args) {
        Ok(c) => c,
        Err(message) => return usage_error(&message),
    };
    match command {
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("sql-cache {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Script {
            schema,
            table,
            output,
            idempotent,
        } => {
            let table = match TableName::new(&schema, &table) {
                Ok(t) => t,
                Err(e) => return usage_error(e.message()),
            };
            let text = schema::script(&table, idempotent);
            match output {
                None => {
                    let mut out = std::io::stdout().lock();
                    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                        Ok(()) => ExitCode::SUCCESS,
                        Err(e) => failure(&format!("cannot write the script: {e}")),
                    }
                }
                Some(file) => match std::fs::write(&file, text) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => failure(&format!("cannot write {file:?}: {e}")),
                },
            }
        }
        Command::Create {
            connection_string,
            schema,
            table,
        } => {
            let table = match TableName::new(&schema, &table) {
                Ok(t) => t,
                Err(e) => return usage_error(e.message()),
            };
            let connection = match cache_sqlserver::ConnectionString::parse(&connection_string) {
                Ok(cs) => cs,
                Err(e) => return usage_error(&e.to_string()),
            };
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => return failure(&format!("cannot start: {e}")),
            };
            match runtime.block_on(schema::create_table(&connection, &table)) {
                Ok(CreateOutcome::Created) => {
                    println!("Table and index were created successfully.");
                    ExitCode::SUCCESS
                }
                Ok(CreateOutcome::AlreadyExists) => failure(&format!(
                    "Table with schema '{}' and name '{}' already exists. Provide a different table name and try again.",
                    table.schema(),
                    table.table()
                )),
                Ok(_) => failure("unexpected result"),
                Err(e) => failure(&format!("An error occurred. {e}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_script_with_options_anywhere() {
        assert_eq!(
            parse(&args(&["script", "-i", "dbo", "Cache", "-o", "f.sql"])),
            Ok(Command::Script {
                schema: "dbo".into(),
                table: "Cache".into(),
                output: Some("f.sql".into()),
                idempotent: true
            })
        );
        assert_eq!(
            parse(&args(&[
                "script",
                "dbo",
                "Cache",
                "--output=x",
                "--idempotent"
            ])),
            Ok(Command::Script {
                schema: "dbo".into(),
                table: "Cache".into(),
                output: Some("x".into()),
                idempotent: true
            })
        );
    }

    #[test]
    fn parses_create() {
        assert_eq!(
            parse(&args(&["create", "Server=h", "dbo", "Cache"])),
            Ok(Command::Create {
                connection_string: "Server=h".into(),
                schema: "dbo".into(),
                table: "Cache".into()
            })
        );
    }

    #[test]
    fn rejects_wrong_command_lines() {
        for bad in [
            &[][..],
            &["script"][..],
            &["script", "dbo"][..],
            &["script", "dbo", "t", "extra"][..],
            &["script", "dbo", "t", "-o"][..],
            &["script", "dbo", "t", "--bogus"][..],
            &["create", "Server=h", "dbo"][..],
            &["create", "Server=h", "dbo", "t", "-i"][..],
            &["drop", "dbo", "t"][..],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?}");
        }
        // The command left out: the connection string is not echoed.
        let e = parse(&args(&["Server=h;Password=hunter2", "dbo", "t"])).unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
        assert_eq!(parse(&args(&["script", "--help"])), Ok(Command::Help));
    }
}
