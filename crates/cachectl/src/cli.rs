//! The command line: clap definitions and the value parsers for durations,
//! instants, ratios and sizes.

use std::time::{Duration, SystemTime};

use clap::{Args, Parser, Subcommand};

use distcache::OpenOptions;

/// The help's epilogue: what this build opens comes from the facade, so
/// the list can never disagree with it.
fn after_help() -> String {
    format!(
        "\
CACHE URLS:
  This cachectl opens {}.
  memory:// (the default) is an in-process cache. It lives only as long as this one
  cachectl invocation, so `set` then `get` in two runs never meet; it is the default
  for `bench`. memory://?capacity=64MiB sets its size limit (default 200MiB).
  docs/cachectl.md shows every URL form of every backend.

EXIT CODES:
  0  success
  1  miss: `get` or `inspect` found no entry under the key
  2  usage: bad arguments, duration, timestamp or URL (nothing was sent to the cache)
  3  the cache or backend failed: invalid key or entry options, connection refused,
     login rejected, timeout, corrupt entry, unsupported operation

Passwords in URLs and connection strings are never printed.",
        distcache::supported()
    )
}

/// `cachectl`: read, write, inspect and load-test a distributed cache.
#[derive(Debug, Parser)]
#[command(
    name = "cachectl",
    version,
    about = "Read, write, inspect and load-test a distributed cache (memory, Redis, SQL Server, PostgreSQL)",
    after_help = after_help(),
    arg_required_else_help = true,
    max_term_width = 100
)]
pub struct Cli {
    /// The cache to use: a URL (see CACHE URLS below) or an ADO.NET connection string.
    #[arg(
        long,
        short = 'u',
        global = true,
        help_heading = "Connection",
        env = "CACHE_URL",
        hide_env_values = true,
        default_value = "memory://",
        value_name = "URL"
    )]
    pub url: String,

    /// Redis: the key prefix that isolates this app's entries (.NET's InstanceName).
    #[arg(
        long,
        global = true,
        help_heading = "Connection",
        env = "CACHE_INSTANCE_NAME",
        hide_env_values = true,
        value_name = "NAME"
    )]
    pub instance_name: Option<String>,

    /// SQL Server, PostgreSQL: the schema of the cache table.
    #[arg(
        long,
        global = true,
        help_heading = "Connection",
        env = "CACHE_SQL_SCHEMA",
        hide_env_values = true,
        default_value = "dbo",
        value_name = "SCHEMA"
    )]
    pub schema: String,

    /// SQL Server, PostgreSQL: the cache table, as made by `dotnet sql-cache create`,
    /// `sql-cache create` or `pg-cache create` (required for both).
    #[arg(
        long,
        global = true,
        help_heading = "Connection",
        env = "CACHE_SQL_TABLE",
        hide_env_values = true,
        value_name = "TABLE"
    )]
    pub table: Option<String>,

    /// The backend's connect timeout and per-operation timeout (e.g. 500ms, 10s; at most 10m).
    #[arg(long, global = true, help_heading = "Connection", default_value = "5s", value_parser = parse_timeout, value_name = "DURATION")]
    pub timeout: Duration,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The settings beside the URL, for `distcache::open_with`.
    pub fn open_options(&self) -> OpenOptions {
        let pool_size = match &self.command {
            Command::Bench(b) => u32::try_from(b.concurrency.min(64)).unwrap_or(64),
            _ => 1,
        };
        let mut options = OpenOptions::new()
            .timeout(self.timeout)
            .pool_size(pool_size)
            .schema(&self.schema);
        if let Some(name) = &self.instance_name {
            options = options.instance_name(name);
        }
        if let Some(table) = &self.table {
            options = options.table(table);
        }
        options
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the value under KEY to stdout, raw (exit 1 on a miss).
    ///
    /// Restarts the entry's sliding window, as any read does.
    Get {
        /// The key.
        key: String,
    },
    /// Store VALUE under KEY, replacing any earlier value and expiry.
    ///
    /// With no expiry flag the backend's default applies: none for memory and
    /// Redis, a 20-minute sliding window for SQL Server.
    Set {
        /// The key.
        key: String,
        /// The value; `-` reads it (raw bytes) from stdin.
        #[arg(allow_hyphen_values = true)]
        value: String,
        /// The expiry.
        #[command(flatten)]
        expiry: ExpiryArgs,
    },
    /// Restart KEY's sliding window without reading the value (a missing key is not an error).
    Refresh {
        /// The key.
        key: String,
    },
    /// Delete KEY (a missing key is not an error).
    Remove {
        /// The key.
        key: String,
    },
    /// Show KEY's size and expiry as stored, without touching its sliding window (exit 1 on a miss).
    Inspect {
        /// The key.
        key: String,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Load-test the cache: concurrent random gets and sets over a pre-populated key space.
    ///
    /// With no flags it runs for 5 s against the in-process memory cache.
    Bench(BenchArgs),
}

/// When a `set` entry expires.
#[derive(Debug, Args)]
pub struct ExpiryArgs {
    /// Expire this long after the set (e.g. 500ms, 20s, 5m, 1h).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub absolute_in: Option<Duration>,
    /// Expire at this instant (RFC 3339, e.g. 2030-01-31T12:00:00Z or ...+02:00).
    #[arg(long, value_parser = parse_rfc3339, value_name = "RFC3339")]
    pub absolute_at: Option<SystemTime>,
    /// Expire when not read or refreshed for this long (e.g. 20m).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub sliding: Option<Duration>,
}

/// `cachectl bench` settings.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Concurrent tasks issuing operations.
    #[arg(long, short = 'c', default_value = "16", value_parser = parse_count, value_name = "N")]
    pub concurrency: u64,
    /// Bytes per value written (accepts suffixes: 4KiB, 1MB).
    #[arg(long, default_value = "100", value_parser = parse_size, value_name = "BYTES")]
    pub value_size: u64,
    /// Distinct keys in the key space.
    #[arg(long, short = 'k', default_value = "10000", value_parser = parse_count, value_name = "N")]
    pub keys: u64,
    /// Fraction of operations that are gets; the rest are sets (0.0 to 1.0).
    #[arg(long, short = 'r', default_value = "0.9", value_parser = parse_ratio, value_name = "RATIO")]
    pub read_ratio: f64,
    /// How long to measure (e.g. 10s, 1m).
    #[arg(long, short = 'd', default_value = "5s", value_parser = parse_duration, value_name = "DURATION", conflicts_with = "ops")]
    pub duration: Duration,
    /// Stop after this many operations instead of after --duration.
    #[arg(long, short = 'n', value_parser = parse_count, value_name = "N")]
    pub ops: Option<u64>,
    /// Prefix of the benchmark's keys.
    #[arg(long, default_value = "cachectl:bench:", value_name = "PREFIX")]
    pub key_prefix: String,
    /// Expiry of the entries the benchmark writes, so they don't outlive it for long.
    #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    pub ttl: Duration,
    /// Skip writing every key before measuring (reads of unwritten keys miss).
    #[arg(long)]
    pub no_populate: bool,
    /// Threads that run the benchmark's tasks: 1 runs everything on one
    /// thread (the default for Redis, whose client work per operation is
    /// small: no hand-offs between threads, and the other cores stay free
    /// for a server on the same machine); more runs a multi-thread runtime
    /// with that many workers (the default for memory:// and SQL Server is
    /// one per core).
    #[arg(long, short = 't', value_parser = parse_threads, value_name = "N")]
    pub threads: Option<usize>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// A duration such as `500ms`, `20s`, `5m`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("expected a duration such as 500ms, 20s or 5m".into());
    }
    // A bare number is ambiguous (seconds? milliseconds?): ask for a unit.
    if t.bytes().all(|b| b.is_ascii_digit()) && t != "0" {
        return Err(format!("'{t}' has no unit; write e.g. {t}s or {t}ms"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{e}; expected a duration such as 500ms, 20s or 5m"))
}

/// The longest `--timeout`: past it a stuck server is better reported
/// than waited for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// `--timeout`: a duration above zero, at most [`MAX_TIMEOUT`].
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("must be greater than zero (e.g. 500ms)".into());
    }
    if d > MAX_TIMEOUT {
        return Err(format!(
            "{} is over the limit of {}",
            humantime::format_duration(d),
            humantime::format_duration(MAX_TIMEOUT)
        ));
    }
    Ok(d)
}

/// An RFC 3339 instant: `2030-01-31T12:00:00Z`, with optional fractional
/// seconds and a `Z` or `±HH:MM` offset.
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, String> {
    const HINT: &str = "expected an RFC 3339 timestamp such as 2030-01-31T12:00:00Z";
    let t = s.trim();
    let bad = |why: &str| format!("{why}; {HINT}");
    // Split off a numeric offset (humantime handles only `Z`).
    let split = t
        .len()
        .checked_sub(6)
        .filter(|&i| t.is_char_boundary(i))
        .map(|i| t.split_at(i));
    let (local, offset_secs) = match split {
        Some((head, tail)) if head.contains('T') || head.contains('t') || head.contains(' ') => {
            match parse_offset(tail) {
                Some(secs) => (format!("{head}Z"), secs),
                None => (t.to_string(), 0),
            }
        }
        _ => (t.to_string(), 0),
    };
    if !local.ends_with(['Z', 'z']) {
        return Err(bad("missing time zone (Z or ±HH:MM)"));
    }
    // Only digits, separators, `T` and `Z` are valid, so uppercasing is safe.
    let utc =
        humantime::parse_rfc3339(&local.to_ascii_uppercase()).map_err(|e| bad(&e.to_string()))?;
    // Local time = UTC + offset, so UTC = local - offset.
    let shifted = if offset_secs >= 0 {
        utc.checked_sub(Duration::from_secs(offset_secs.unsigned_abs()))
    } else {
        utc.checked_add(Duration::from_secs(offset_secs.unsigned_abs()))
    };
    shifted.ok_or_else(|| bad("out of range"))
}

/// `+HH:MM` / `-HH:MM` as seconds east of UTC.
fn parse_offset(tail: &str) -> Option<i64> {
    let b = tail.as_bytes();
    if b.len() != 6 || b[3] != b':' {
        return None;
    }
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let num = |x: &[u8]| -> Option<i64> {
        if x.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(x).ok()?.parse().ok()
        } else {
            None
        }
    };
    let (h, m) = (num(&b[1..3])?, num(&b[4..6])?);
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// A whole number of at least 1 (`_` allowed as a digit separator).
pub fn parse_count(s: &str) -> Result<u64, String> {
    match s.trim().replace('_', "").parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a whole number")),
    }
}

/// The most runtime threads `--threads` accepts.
pub const MAX_THREADS: usize = 1024;

/// A thread count, 1 to [`MAX_THREADS`].
pub fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().replace('_', "").parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) if n > MAX_THREADS => Err(format!("{n} is over the limit of {MAX_THREADS}")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{s}' is not a whole number")),
    }
}

/// A fraction from 0.0 to 1.0.
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number; expected 0.0 to 1.0"))?;
    if !(0.0..=1.0).contains(&r) {
        return Err(format!("{r} is outside 0.0 to 1.0"));
    }
    Ok(r)
}

/// A byte count with an optional unit: `100`, `4KiB`, `1MB`, `2 MiB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size; expected e.g. 100, 4KiB or 1MB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit '{other}'; use B, KB, KiB, MB, MiB, GB or GiB"
            ))
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("11m").is_err());
        assert!(parse_timeout("100000000000000y").is_err());
        assert_eq!(parse_timeout("10m"), Ok(MAX_TIMEOUT));
        assert_eq!(parse_timeout("1ms"), Ok(Duration::from_millis(1)));
    }

    #[test]
    fn rfc3339_with_z_and_offsets() {
        let at = |s| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap());
        assert_eq!(at("1970-01-01T00:01:00Z"), Ok(Duration::from_secs(60)));
        assert_eq!(at("1970-01-01t00:01:00z"), Ok(Duration::from_secs(60)));
        assert_eq!(at("1970-01-01T02:01:00+02:00"), Ok(Duration::from_secs(60)));
        assert_eq!(at("1970-01-01T00:00:00-00:01"), Ok(Duration::from_secs(60)));
        assert_eq!(
            at("1970-01-01T00:00:01.250Z"),
            Ok(Duration::from_millis(1250))
        );
        assert!(parse_rfc3339("2030-01-01T00:00:00")
            .unwrap_err()
            .contains("time zone"));
        assert!(parse_rfc3339("tomorrow").is_err());
        assert!(parse_rfc3339("2030-13-01T00:00:00Z").is_err());
        assert!(parse_rfc3339("2030-01-01T00:00:00+25:00").is_err());
    }

    #[test]
    fn odd_input_never_panics() {
        let odd = [
            "",
            " ",
            "€",
            "2030-01-01T00:00:00€€",
            "ééééééé",
            "+00:00",
            "T+00:00",
            "%",
            "%%%",
            "\u{0}",
            "9999999999999999999999s",
            "1e999",
            "-",
            "=",
            ";;=;",
            "a://",
            "://",
            "redis://@",
            "redis://:@",
            "Server='unterminated",
            "Password=\"x",
        ];
        for s in odd {
            let _ = parse_duration(s);
            let _ = parse_rfc3339(s);
            let _ = parse_ratio(s);
            let _ = parse_size(s);
            let _ = parse_count(s);
            let _ = parse_timeout(s);
            let _ = distcache::Scrubber::new([s]).scrub(s);
        }
    }

    #[test]
    fn ratios_and_sizes() {
        assert_eq!(parse_ratio("0.9"), Ok(0.9));
        assert_eq!(parse_ratio("1"), Ok(1.0));
        assert!(parse_ratio("1.5").is_err());
        assert!(parse_ratio("NaN").is_err());
        assert!(parse_ratio("x").is_err());
        assert_eq!(parse_count("1_000"), Ok(1000));
        assert!(parse_count("0").is_err());
        assert!(parse_count("-1").is_err());
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("1 MB"), Ok(1_000_000));
        assert!(parse_size("1XB").is_err());
        assert!(parse_size("KB").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }
}
