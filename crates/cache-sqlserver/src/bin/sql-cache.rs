//! `sql-cache`: creates the table a SQL Server distributed cache uses (the
//! same table as .NET's `dotnet sql-cache`), or prints its script.
//!
//! Exit codes: 0 success; 1 the operation failed (the table exists, the
//! server cannot be reached, a file cannot be written); 2 the command line
//! is wrong (usage is printed). The command line, its exit codes and its
//! secret-free messages are `cache_abstractions::support::tool`'s.

use std::process::ExitCode;

use cache_abstractions::support::tool::{self, TableArgs, TableCommand, Tool};
use cache_sqlserver::schema::{self, CreateOutcome};
use cache_sqlserver::{ConnectionString, TableName};

/// Creates the table a SQL Server distributed cache uses (ASP.NET Core's
/// SqlServerCache and the Rust cache-sqlserver crate share it).
#[derive(clap::Parser, Debug)]
#[command(
    name = "sql-cache",
    version,
    override_usage = "sql-cache create <connection-string> <schema> <table>\n       \
                      sql-cache script <schema> <table> [-o|--output <file>] [-i|--idempotent]",
    after_help = "<connection-string> is an ADO.NET connection string or a sqlserver:// URL.\n\n\
                  Exit codes: 0 success, 1 failure, 2 wrong command line."
)]
struct Cli {
    #[command(subcommand)]
    command: TableCommand,
}

fn main() -> ExitCode {
    tool::main(run)
}

fn run(tool: &Tool, cli: Cli) -> Result<(), ExitCode> {
    match cli.command {
        TableCommand::Script(args) => {
            let table = table_name(tool, &args.table)?;
            let text = schema::script(&table, args.idempotent);
            tool.write_script(&text, args.output.as_deref())
        }
        TableCommand::Create(args) => {
            let table = table_name(tool, &args.table)?;
            let connection =
                ConnectionString::parse(&args.connection).map_err(|e| tool.usage_error(e))?;
            match tool.block_on(schema::create_table(&connection, &table))? {
                Ok(CreateOutcome::Created) => {
                    println!("Table and index were created successfully.");
                    Ok(())
                }
                Ok(CreateOutcome::AlreadyExists) => Err(tool.failure(format_args!(
                    "Table with schema '{}' and name '{}' already exists. Provide a different table name and try again.",
                    table.schema(),
                    table.table()
                ))),
                Ok(_) => Err(tool.failure("unexpected result")),
                // The error names the server without its password.
                Err(e) => Err(tool.failure(format_args!("An error occurred. {e}"))),
            }
        }
    }
}

/// A bad name is the command line's fault.
fn table_name(tool: &Tool, args: &TableArgs) -> Result<TableName, ExitCode> {
    TableName::new(&args.schema, &args.table).map_err(|e| tool.usage_error(e.message()))
}
