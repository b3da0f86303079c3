//! Settings, from command-line flags or their environment variables (a flag
//! wins over its variable), parsed by clap.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use clap::Parser;
use distcache::{EntryOptions, OpenOptions};

/// The longest `--cache-timeout-ms` and `--upstream-delay-ms`: one minute.
const MAX_MILLIS: u64 = 60_000;

/// cache-example-web: a slow product lookup served through a distributed cache.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "cache-example-web",
    about = "A slow product lookup served through a distributed cache",
    after_help = "Every flag can also be set by its environment variable; the flag wins. \
                  Passwords in CACHE_URL are never printed."
)]
pub struct Config {
    /// Address and port to serve on (port 0: any free port).
    #[arg(long, env = "LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// This server's name in responses (default: its listen address).
    #[arg(long, env = "SERVER_NAME")]
    pub name: Option<String>,

    /// The cache: memory://, a Redis URL, a SQL Server URL or connection
    /// string (whatever this build's distcache opens).
    #[arg(
        long,
        env = "CACHE_URL",
        default_value = "memory://",
        hide_env_values = true
    )]
    pub cache_url: String,

    /// Key prefix in a shared cache (.NET's InstanceName).
    #[arg(long, env = "CACHE_INSTANCE_NAME", default_value = "example-web:")]
    pub instance_name: String,

    /// SQL Server, PostgreSQL: the cache table's schema (PostgreSQL: usually `public`).
    #[arg(long, env = "CACHE_SQL_SCHEMA", default_value = "dbo")]
    pub sql_schema: String,

    /// SQL Server, PostgreSQL: the cache table (made by `sql-cache create` or `pg-cache create`).
    #[arg(long, env = "CACHE_SQL_TABLE", default_value = "Cache")]
    pub sql_table: String,

    /// Longest wait for a shared cache (per connect and per command) before
    /// serving from the upstream, in milliseconds (1 to 60000).
    #[arg(long = "cache-timeout-ms", env = "CACHE_TIMEOUT_MS", default_value = "1000", value_parser = parse_timeout_ms)]
    pub cache_timeout: Duration,

    /// An entry is recomputed at the latest this many seconds after it was
    /// cached (fractions allowed; 0: never).
    #[arg(long = "absolute-secs", env = "CACHE_ABSOLUTE_SECS", default_value = "300", value_parser = parse_seconds)]
    absolute_secs: Duration,

    /// An entry nobody reads for this many seconds is dropped (0: never).
    #[arg(long = "sliding-secs", env = "CACHE_SLIDING_SECS", default_value = "60", value_parser = parse_seconds)]
    sliding_secs: Duration,

    /// How long the simulated upstream takes per lookup, in milliseconds (at most 60000).
    #[arg(long = "upstream-delay-ms", env = "UPSTREAM_DELAY_MS", default_value = "300", value_parser = parse_delay_ms)]
    pub upstream_delay: Duration,

    /// How instances tell each other to drop their local copies after an
    /// update: `auto` (Redis pub/sub when the cache is Redis, else none),
    /// `redis` (pub/sub, required), `tracking` (pub/sub, and writes by other
    /// applications to the same keys too: Redis 6+ `CLIENT TRACKING`), or
    /// `off` (each local copy lives until it expires).
    #[arg(long, env = "CACHE_BACKPLANE", value_enum, default_value_t = BackplaneMode::Auto)]
    pub backplane: BackplaneMode,
}

/// `--backplane`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackplaneMode {
    /// Redis pub/sub when the cache is one Redis server; none otherwise.
    Auto,
    /// Redis pub/sub; the cache must be one Redis server.
    Redis,
    /// Redis pub/sub with server-assisted invalidation (RESP3 `CLIENT
    /// TRACKING`): a write by any client to a key under the instance name
    /// evicts the local copies too.
    Tracking,
    /// No backplane.
    Off,
}

impl Config {
    /// Absolute expiry, relative to when the entry is cached; `None`: never.
    pub fn absolute(&self) -> Option<Duration> {
        Some(self.absolute_secs).filter(|d| !d.is_zero())
    }

    /// Sliding expiry; `None`: never.
    pub fn sliding(&self) -> Option<Duration> {
        Some(self.sliding_secs).filter(|d| !d.is_zero())
    }

    /// The settings beside the URL, for `distcache::open_with`.
    pub fn open_options(&self) -> OpenOptions {
        OpenOptions::new()
            .timeout(self.cache_timeout)
            .instance_name(&self.instance_name)
            .schema(&self.sql_schema)
            .table(&self.sql_table)
    }

    /// The entry options every product is cached with, checked now against
    /// the same rules every `set` applies, so expiry settings no cache would
    /// accept stop the server at startup instead of failing every request.
    pub fn entry_options(&self) -> Result<EntryOptions, String> {
        let options = crate::app::entry_options(self.absolute(), self.sliding());
        options
            .resolve(SystemTime::now())
            .map_err(|e| format!("--absolute-secs / --sliding-secs: {e}"))?;
        Ok(options)
    }
}

/// Seconds, fractions allowed (`1.5`); `0` means "not set".
fn parse_seconds(value: &str) -> Result<Duration, String> {
    let invalid = || format!("'{value}' is not a number of seconds");
    let secs: f64 = value.trim().parse().map_err(|_| invalid())?;
    Duration::try_from_secs_f64(secs).map_err(|_| invalid())
}

/// Whole milliseconds, at most [`MAX_MILLIS`].
fn millis(value: &str) -> Result<Duration, String> {
    let ms: u64 = value
        .trim()
        .parse()
        .map_err(|_| format!("'{value}' is not a whole number of milliseconds"))?;
    if ms > MAX_MILLIS {
        return Err(format!("{ms} ms is over the limit of {MAX_MILLIS} ms"));
    }
    Ok(Duration::from_millis(ms))
}

fn parse_timeout_ms(value: &str) -> Result<Duration, String> {
    match millis(value)? {
        d if d.is_zero() => Err("must be at least 1 ms".into()),
        d => Ok(d),
    }
}

fn parse_delay_ms(value: &str) -> Result<Duration, String> {
    millis(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("cache-example-web").chain(args.iter().copied()))
    }

    #[test]
    fn defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.cache_url, "memory://");
        assert_eq!(c.absolute(), Some(Duration::from_secs(300)));
        assert_eq!(c.sliding(), Some(Duration::from_secs(60)));
        assert_eq!(c.upstream_delay, Duration::from_millis(300));
        assert_eq!(c.cache_timeout, Duration::from_secs(1));
        assert!(c.entry_options().is_ok());
        assert_eq!(c.backplane, BackplaneMode::Auto);
        let c = parse(&["--backplane", "off"]).unwrap();
        assert_eq!(c.backplane, BackplaneMode::Off);
        assert!(parse(&["--backplane", "carrier-pigeon"]).is_err());
    }

    #[test]
    fn flags_and_zero_meaning_never() {
        let c = parse(&["--name", "a", "--absolute-secs=1.5", "--sliding-secs", "0"]).unwrap();
        assert_eq!(c.name.as_deref(), Some("a"));
        assert_eq!(c.absolute(), Some(Duration::from_millis(1500)));
        assert_eq!(c.sliding(), None);
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        for args in [
            &["--listen", "nowhere"][..],
            &["--absolute-secs", "-1"],
            &["--sliding-secs", "NaN"],
            &["--upstream-delay-ms", "soon"],
            &["--upstream-delay-ms", "60001"],
            &["--cache-timeout-ms", "0"],
            &["--cache-timeout-ms", "99999999999999999999"],
            &["--bogus", "1"],
            &["--name"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn expiry_no_cache_accepts_is_refused_up_front() {
        // Issue 10, item 8: 1e15 s parsed, then failed every set.
        for args in [
            &["--absolute-secs", "1e15"][..],
            &["--sliding-secs", "1e12"],
        ] {
            let c = parse(args).unwrap();
            let e = c.entry_options().unwrap_err();
            assert!(e.contains("invalid entry options"), "{args:?}: {e}");
        }
    }
}
