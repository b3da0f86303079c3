//! The command line of a table tool (`sql-cache`, `pg-cache`): the
//! commands `create` and `script` ([`TableCommand`]), exit codes, writing a script, and error messages
//! that never repeat an argument that may hold a secret (feature
//! `tool-support`).
//!
//! Exit codes: 0 success; [`FAILURE`] (1) the operation failed (the table
//! exists, the server cannot be reached, a file cannot be written);
//! [`USAGE`] (2) the command line is wrong (the usage is printed).
//!
//! clap's own error messages quote the argument at fault. A connection
//! string given where a command was expected (`tool "Password=..."`), or an
//! option such as `--password=...`, would then be printed; so a wrong
//! command line is described here instead, quoting only arguments that are
//! plain words ([`shown`]).
//!
//! ```
//! use cache_abstractions::support::tool::{self, TableCommand};
//!
//! #[derive(clap::Parser)]
//! #[command(name = "my-cache", version)]
//! struct Cli {
//!     #[command(subcommand)]
//!     command: TableCommand,
//! }
//!
//! let parsed = tool::parse_from::<Cli, _>(["my-cache", "script", "app", "cache", "-i"]);
//! let Ok(Cli { command: TableCommand::Script(args) }) = parsed else { panic!() };
//! assert_eq!((args.table.schema.as_str(), args.idempotent), ("app", true));
//! // A misplaced secret is a usage error that does not repeat it.
//! assert!(tool::parse_from::<Cli, _>(["my-cache", "Password=hunter2"]).is_err());
//! ```

use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};

/// Exit code: the operation failed.
pub const FAILURE: u8 = 1;
/// Exit code: the command line is wrong.
pub const USAGE: u8 = 2;

/// `<schema> <table>`: the cache table, as written.
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct TableArgs {
    /// The table's schema.
    #[arg(value_name = "schema")]
    pub schema: String,
    /// The table.
    #[arg(value_name = "table")]
    pub table: String,
}

/// `create <connection> <schema> <table>`.
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct CreateArgs {
    /// The server: a connection string or URL (never printed back).
    #[arg(value_name = "connection")]
    pub connection: String,
    /// The table to create.
    #[command(flatten)]
    pub table: TableArgs,
}

/// `script <schema> <table> [-o <file>] [-i]`.
#[derive(clap::Args, Clone, Debug, PartialEq, Eq)]
pub struct ScriptArgs {
    /// The table the script creates.
    #[command(flatten)]
    pub table: TableArgs,
    /// Writes the script to this file instead of standard output.
    #[arg(short, long, value_name = "file")]
    pub output: Option<PathBuf>,
    /// Makes running the script twice harmless.
    #[arg(short, long)]
    pub idempotent: bool,
}

/// The two commands of every table tool, for a clap `Parser`'s
/// `#[command(subcommand)]` field.
#[derive(clap::Subcommand, Clone, Debug, PartialEq, Eq)]
pub enum TableCommand {
    /// Creates the table and its index; fails if the table exists.
    Create(CreateArgs),
    /// Prints (or writes to the -o file) the SQL that creates them;
    /// --idempotent makes running it twice harmless.
    Script(ScriptArgs),
}

/// The tool's name and usage lines, for its messages.
#[derive(Clone, Debug)]
pub struct Tool {
    name: String,
    usage: String,
}

impl Tool {
    /// The tool whose command line is `P`.
    pub fn of<P: CommandFactory>() -> Tool {
        let mut command = P::command();
        Tool {
            name: command.get_name().to_owned(),
            usage: command.render_usage().to_string(),
        }
    }

    /// Prints `message` and the usage to standard error; exit code
    /// [`USAGE`].
    pub fn usage_error(&self, message: impl fmt::Display) -> ExitCode {
        eprintln!(
            "{}: {message}\n\n{}\n\nFor more, run `{} --help`.",
            self.name, self.usage, self.name
        );
        ExitCode::from(USAGE)
    }

    /// Prints `message` to standard error; exit code [`FAILURE`].
    pub fn failure(&self, message: impl fmt::Display) -> ExitCode {
        eprintln!("{}: {message}", self.name);
        ExitCode::from(FAILURE)
    }

    /// Writes `script` to `output`, or to standard output when there is
    /// none.
    pub fn write_script(&self, script: &str, output: Option<&Path>) -> Result<(), ExitCode> {
        let written = match output {
            None => {
                let mut out = std::io::stdout().lock();
                out.write_all(script.as_bytes()).and_then(|()| out.flush())
            }
            Some(file) => std::fs::write(file, script),
        };
        written.map_err(|e| match output {
            None => self.failure(format_args!("cannot write the script: {e}")),
            Some(file) => self.failure(format_args!("cannot write {}: {e}", file.display())),
        })
    }

    /// Runs `work` to its end on a runtime of its own (the tool's one
    /// connection needs no more than one thread).
    pub fn block_on<F: Future>(&self, work: F) -> Result<F::Output, ExitCode> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| self.failure(format_args!("cannot start: {e}")))?;
        Ok(runtime.block_on(work))
    }
}

/// The tool's `main`: parses the process's arguments as `P` and runs `run`
/// on them. Help and version go to standard output with exit code 0; a
/// wrong command line is [`USAGE`]; `run`'s `Err` is its exit code.
pub fn main<P: Parser>(run: impl FnOnce(&Tool, P) -> Result<(), ExitCode>) -> ExitCode {
    let tool = Tool::of::<P>();
    match parse_from::<P, _>(std::env::args_os()) {
        Ok(parsed) => match run(&tool, parsed) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        },
        Err(code) => code,
    }
}

/// `args` (the first being the program) parsed as `P`; on a wrong command
/// line the message (never quoting a possible secret) and the usage are
/// printed and the exit code returned. `--help` and `--version` print and
/// return [`ExitCode::SUCCESS`] as the `Err`.
pub fn parse_from<P, I>(args: I) -> Result<P, ExitCode>
where
    P: Parser,
    I: IntoIterator,
    I::Item: Into<OsString> + Clone,
{
    P::try_parse_from(args).map_err(|e| match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Clap's own text: help and version quote no argument.
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => Tool::of::<P>().usage_error(describe(&e)),
    })
}

/// What is wrong with the command line, quoting only plain words.
fn describe(e: &clap::Error) -> String {
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(v)) => v.clone(),
        Some(ContextValue::StyledStr(s)) => vec![s.to_string()],
        Some(ContextValue::StyledStrs(v)) => v.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    };
    // Names of the tool's own arguments (`--output <file>`, `<schema>`):
    // safe to print; the user's values are not.
    let ours = context(ContextKind::InvalidArg).join(", ");
    match e.kind() {
        ErrorKind::InvalidSubcommand => format!(
            "unknown command {} (the first argument must be a command: create or script)",
            shown_all(&context(ContextKind::InvalidSubcommand))
        ),
        ErrorKind::UnknownArgument => format!(
            "unknown option or extra argument {}",
            shown_all(&context(ContextKind::InvalidArg))
        ),
        ErrorKind::MissingRequiredArgument => format!("missing {ours}"),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "a command is required".to_owned()
        }
        ErrorKind::InvalidUtf8 => "an argument is not valid UTF-8".to_owned(),
        ErrorKind::ArgumentConflict => format!("{ours} cannot be given with another argument"),
        _ if !ours.is_empty() => format!("wrong value for {ours}"),
        _ => "the command line is wrong".to_owned(),
    }
}

fn shown_all(args: &[String]) -> String {
    match args {
        [] => "(not shown)".to_owned(),
        args => args.iter().map(|a| shown(a)).collect::<Vec<_>>().join(" "),
    }
}

/// An argument as a message may show it: quoted when it is a plain word
/// (letters, digits, `-`, `_`, `.`; at most 40 characters), so a typo is
/// easy to see; otherwise (a connection string, a URL, `--password=..`)
/// not at all, since it may hold a secret.
pub fn shown(arg: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser, Debug, PartialEq, Eq)]
    #[command(name = "t-cache", version)]
    struct Cli {
        #[command(subcommand)]
        command: TableCommand,
    }

    use TableCommand as Command;

    fn parse(args: &[&str]) -> std::result::Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("t-cache").chain(args.iter().copied()))
    }

    fn table(schema: &str, table: &str) -> TableArgs {
        TableArgs {
            schema: schema.into(),
            table: table.into(),
        }
    }

    #[test]
    fn both_commands_parse_with_options_anywhere_after_the_command() {
        assert_eq!(
            parse(&["script", "-i", "dbo", "Cache", "-o", "f.sql"]).unwrap(),
            Cli {
                command: Command::Script(ScriptArgs {
                    table: table("dbo", "Cache"),
                    output: Some("f.sql".into()),
                    idempotent: true,
                })
            }
        );
        assert_eq!(
            parse(&["script", "dbo", "Cache", "--output=x", "--idempotent"]).unwrap(),
            Cli {
                command: Command::Script(ScriptArgs {
                    table: table("dbo", "Cache"),
                    output: Some("x".into()),
                    idempotent: true,
                })
            }
        );
        assert_eq!(
            parse(&["create", "Server=h", "dbo", "Cache"]).unwrap(),
            Cli {
                command: Command::Create(CreateArgs {
                    connection: "Server=h".into(),
                    table: table("dbo", "Cache"),
                })
            }
        );
    }

    #[test]
    fn wrong_command_lines_are_errors_that_never_quote_a_secret() {
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
            &["Server=h;Password=hunter2", "dbo", "t"][..],
            &["postgres://u:hunter2@db/app"][..],
            &["--password=hunter2"][..],
            &["script", "dbo", "t", "--password=hunter2"][..],
            &["create", "Server=h", "dbo", "t", "Password=hunter2"][..],
            &["create", "--password=hunter2", "dbo", "t"][..],
        ] {
            let e = parse(bad).expect_err(&format!("{bad:?}"));
            let message = describe(&e);
            assert!(!message.contains("hunter2"), "{bad:?}: {message}");
        }
        // A plain word is named, so a typo is easy to see.
        let e = parse(&["crate"]).unwrap_err();
        assert!(describe(&e).contains("\"crate\""), "{}", describe(&e));
        let e = parse(&["script", "dbo"]).unwrap_err();
        assert!(describe(&e).contains("<table>"), "{}", describe(&e));
    }

    #[test]
    fn help_and_version_are_not_usage_errors() {
        for args in [&["--help"][..], &["--version"], &["script", "--help"]] {
            let e = parse(args).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion),
                "{args:?}"
            );
        }
    }

    #[test]
    fn only_plain_words_are_shown() {
        assert_eq!(shown("crate"), "\"crate\"");
        for secret in [
            "Server=h;Password=x",
            "sqlserver://sa:x@h",
            "sa:x@host:1433",
            "--password=x",
            &"a".repeat(41),
        ] {
            assert!(shown(secret).starts_with("(not shown"), "{secret}");
        }
    }

    #[test]
    fn a_script_that_cannot_be_written_is_a_failure() {
        let tool = Tool::of::<Cli>();
        assert!(tool.usage.contains("t-cache"), "{}", tool.usage);
        let bad = Path::new("/nonexistent-dir/x/cache.sql");
        assert_eq!(
            tool.write_script("SELECT 1;", Some(bad)),
            Err(ExitCode::from(FAILURE))
        );
    }
}
