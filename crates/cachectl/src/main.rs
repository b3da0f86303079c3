//! `cachectl`: get, set, refresh, remove and inspect cache entries, and
//! load-test a cache, on memory, Redis or SQL Server, from the command line.
//!
//! Every failure is one line on stderr (`cachectl: error: ...`) and a
//! distinct exit status: 0 success, 1 miss, 2 usage, 3 cache or backend
//! error. See `cachectl --help` and `docs/cachectl.md`.

mod bench;
mod cli;
mod commands;
mod failure;

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::error::ErrorKind as ClapErrorKind;
use clap::Parser;
use distcache::{Bytes, DistributedCache, Error, ErrorKind, Scrubber};

use crate::cli::{BenchArgs, Cli, Command};
use crate::failure::{Failure, Outcome, EXIT_USAGE};

fn main() -> ExitCode {
    // Built first: every line printed from here on goes through it.
    let scrubber = Scrubber::from_args_and_env(&["CACHE_URL"]);
    // A bug must still end in one line, not a backtrace.
    let hook_scrubber = scrubber.clone();
    std::panic::set_hook(Box::new(move |info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        say(&hook_scrubber.scrub(&format!(
            "cachectl: error: internal error: {}{at} (this is a bug; please report it)",
            failure::one_line(&what)
        )));
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(&e, &scrubber),
    };
    match run(cli, &scrubber) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Miss(message)) => {
            say(&scrubber.scrub(&format!("cachectl: {message}")));
            ExitCode::from(Outcome::Miss(message).exit_code())
        }
        Err(failure) => {
            say(&scrubber.scrub(&format!("cachectl: error: {}", failure.message())));
            failure.process_exit()
        }
    }
}

/// One line to stderr; a closed stderr is not worth a panic. Callers pass
/// text through the [`Scrubber`] first.
fn say(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

/// Help and version go to stdout (exit 0); no arguments at all prints the
/// help to stderr (exit 2); every other clap error becomes one line (exit 2).
fn clap_exit(e: &clap::Error, scrubber: &Scrubber) -> ExitCode {
    match e.kind() {
        ClapErrorKind::DisplayHelp | ClapErrorKind::DisplayVersion => {
            let text = scrubber.scrub(&e.render().to_string());
            let _ = io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        ClapErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let text = scrubber.scrub(&e.render().to_string());
            let _ = io::stderr().lock().write_all(text.as_bytes());
            ExitCode::from(EXIT_USAGE)
        }
        _ => {
            // The first paragraph of clap's message, joined onto one line
            // (the usage and tips that follow are for --help).
            let text = e.render().to_string();
            let first: Vec<&str> = text
                .lines()
                .map(str::trim)
                .skip_while(|l| l.is_empty())
                .take_while(|l| !l.is_empty())
                .collect();
            let first = first.join(" ");
            let first = first.strip_prefix("error: ").unwrap_or(&first);
            say(&scrubber.scrub(&format!("cachectl: error: {first} (see --help)")));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Reads a `set` value: the argument itself, or stdin for `-`.
fn read_value(arg: &str) -> Result<Bytes, Failure> {
    if arg != "-" {
        return Ok(Bytes::copy_from_slice(arg.as_bytes()));
    }
    let mut buf = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut buf)
        .map_err(|e| Failure::usage(format!("cannot read the value from stdin: {e}")))?;
    Ok(Bytes::from(buf))
}

fn run(cli: Cli, scrubber: &Scrubber) -> Result<Outcome, Failure> {
    let backend = distcache::backend_of(&cli.url);
    if backend == Some("sqlserver") && cli.table.is_none() {
        return Err(Failure::usage(
            "SQL Server needs the cache table: pass --table NAME (or set CACHE_SQL_TABLE)",
        ));
    }
    let threads = match &cli.command {
        Command::Bench(args) => Some(bench::threads(args.threads, backend)),
        _ => None,
    };
    let mut builder = match threads {
        // One thread: the tasks and the connections' I/O never hand work
        // to another thread (see `bench::threads`).
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = builder
        .enable_all()
        .thread_name("cachectl")
        .build()
        .map_err(|e| Failure::cache(format!("cannot start the async runtime: {e}")))?;
    // Open (no I/O: it checks the URL and settings) and read stdin before
    // anything is sent.
    let cache = {
        let _inside = runtime.enter();
        distcache::open_with(&cli.url, &cli.open_options()).map_err(open_failure)?
    };
    let value = match &cli.command {
        Command::Set { value, .. } => Some(read_value(value)?),
        _ => None,
    };
    let kind = backend.unwrap_or("unknown");
    let result = runtime.block_on(execute(&cli, cache, kind, value, scrubber));
    // Don't wait for a backend's connection tasks to wind down.
    runtime.shutdown_background();
    result
}

/// Opening fails only on the URL or settings: a usage error (exit 2) when
/// they are invalid.
fn open_failure(e: Error) -> Failure {
    match e.kind() {
        ErrorKind::Config => Failure::usage(failure::chain(&e)),
        _ => Failure::from(e),
    }
}

/// The outer deadline: the backend's own timeouts (set to `--timeout`)
/// give more precise errors, so they get a head start.
fn deadline(cli: &Cli) -> Duration {
    cli.timeout
        .saturating_mul(2)
        .saturating_add(Duration::from_millis(500))
}

async fn execute(
    cli: &Cli,
    cache: Arc<dyn DistributedCache>,
    kind: &str,
    value: Option<Bytes>,
    scrubber: &Scrubber,
) -> Result<Outcome, Failure> {
    match &cli.command {
        Command::Bench(args) => bench_command(cli, cache, args, kind, scrubber).await,
        _ => match tokio::time::timeout(deadline(cli), single_command(cli, cache, value)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::cache(format!(
                "timed out after {} talking to {}",
                humantime::format_duration(deadline(cli)),
                distcache::redact(&cli.url)
            ))),
        },
    }
}

/// `bench`: the report to stdout; exit 3 when every operation failed.
async fn bench_command(
    cli: &Cli,
    cache: Arc<dyn DistributedCache>,
    args: &BenchArgs,
    kind: &str,
    scrubber: &Scrubber,
) -> Result<Outcome, Failure> {
    let config = bench::BenchConfig::from_args(args, kind, &distcache::redact(&cli.url))?;
    // Connect within the deadline, as the single commands do.
    match tokio::time::timeout(deadline(cli), cache.ping()).await {
        Ok(pinged) => pinged?,
        Err(_) => {
            return Err(Failure::cache(format!(
                "timed out after {} connecting to {}",
                humantime::format_duration(deadline(cli)),
                distcache::redact(&cli.url)
            )))
        }
    }
    let report = bench::run(cache, config).await?;
    let text = if args.json {
        format!("{}\n", report.to_json())
    } else {
        report.to_table()
    };
    let mut out = io::stdout().lock();
    let text = scrubber.scrub(&text);
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if report.all_failed() {
        return Err(Failure::cache(format!(
            "every one of the {} operations failed; first error: {}",
            report.errors(),
            report.first_error().unwrap_or("unknown")
        )));
    }
    Ok(Outcome::Ok)
}

/// The single-key commands: one operation (the first one connects).
async fn single_command(
    cli: &Cli,
    cache: Arc<dyn DistributedCache>,
    value: Option<Bytes>,
) -> Result<Outcome, Failure> {
    let mut out = io::stdout().lock();
    Ok(match &cli.command {
        Command::Get { key } => commands::get(&*cache, key, &mut out).await?,
        Command::Set { key, expiry, .. } => {
            let options = commands::entry_options(expiry);
            let outcome = commands::set(&*cache, key, value.unwrap_or_default(), &options).await?;
            if !cache.capabilities().shared {
                say(
                    "cachectl: note: memory:// lives only for this run; the entry is gone \
                     when cachectl exits (use a shared cache's URL to keep it)",
                );
            }
            outcome
        }
        Command::Refresh { key } => commands::refresh(&*cache, key).await?,
        Command::Remove { key } => commands::remove(&*cache, key).await?,
        Command::Inspect { key, json } => commands::inspect(&*cache, key, *json, &mut out).await?,
        // Dispatched to bench_command by `execute`.
        Command::Bench(_) => Outcome::Ok,
    })
}
