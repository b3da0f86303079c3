//! `pg-cache`: creates the table a PostgreSQL distributed cache uses (the
//! table of .NET's `Microsoft.Extensions.Caching.Postgres`), or prints its
//! script.
//!
//! Exit codes: 0 success; 1 the operation failed (the table exists, the
//! server cannot be reached, the login is refused, a file cannot be
//! written); 2 the command line is wrong (usage is printed). The command
//! line, its exit codes and its secret-free messages are
//! `cache_abstractions::support::tool`'s.

use std::process::ExitCode;

use cache_abstractions::support::tool::{self, TableArgs, TableCommand, Tool};
use cache_abstractions::ErrorKind;
use cache_postgres::schema::{self, CreateOutcome, TableOptions};
use cache_postgres::TableName;

/// Creates the table a PostgreSQL distributed cache uses (ASP.NET Core's
/// Microsoft.Extensions.Caching.Postgres and the Rust cache-postgres crate
/// share it).
#[derive(clap::Parser, Debug)]
#[command(
    name = "pg-cache",
    version,
    override_usage = "pg-cache create <connection> <schema> <table> [--wal]\n       \
                      pg-cache script <schema> <table> [-o|--output <file>] [-i|--idempotent] [--wal]",
    after_help = "<connection> is a postgres:// URL or a libpq string (\"host=db user=app ...\").\n\
                  Names are taken as written (quoted); .NET folds its names to lower case.\n\n\
                  Exit codes: 0 success, 1 failure, 2 wrong command line."
)]
struct Cli {
    #[command(subcommand)]
    command: TableCommand,
    /// A logged table (default: UNLOGGED, as .NET makes it).
    #[arg(long, global = true)]
    wal: bool,
}

fn main() -> ExitCode {
    tool::main(run)
}

fn run(tool: &Tool, cli: Cli) -> Result<(), ExitCode> {
    let options = TableOptions::default().wal(cli.wal);
    match cli.command {
        TableCommand::Script(args) => {
            let table = table_name(tool, &args.table)?;
            let text = schema::script(&table, &options, args.idempotent);
            tool.write_script(&text, args.output.as_deref())
        }
        TableCommand::Create(args) => {
            let table = table_name(tool, &args.table)?;
            let connection = args.connection.as_str();
            match tool.block_on(schema::create_table(connection, &table, &options))? {
                Ok(CreateOutcome::Created) => {
                    println!("Table {table} and its index were created.");
                    Ok(())
                }
                Ok(_) => Err(tool.failure(format_args!(
                    "table {table} already exists; give another name, or drop it first"
                ))),
                // A bad connection string is the command line's fault.
                Err(e)
                    if e.kind() == ErrorKind::Config
                        && e.message().contains("connection string") =>
                {
                    Err(tool.usage_error(e))
                }
                Err(e) => Err(tool.failure(format_args!(
                    "cannot create {table} on {}: {e}",
                    cache_postgres::redact(connection)
                ))),
            }
        }
    }
}

/// A bad name is the command line's fault.
fn table_name(tool: &Tool, args: &TableArgs) -> Result<TableName, ExitCode> {
    TableName::new(&args.schema, &args.table).map_err(|e| tool.usage_error(e.message()))
}
