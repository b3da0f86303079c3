//! Settings, from environment variables or the matching command-line flags
//! (a flag wins over its variable).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// One setting: its flag, its environment variable, its default and what it does.
struct Setting {
    flag: &'static str,
    env: &'static str,
    default: &'static str,
    help: &'static str,
}

const LISTEN: Setting = Setting {
    flag: "--listen",
    env: "LISTEN",
    default: "127.0.0.1:3000",
    help: "address and port to serve on (port 0: any free port)",
};
const NAME: Setting = Setting {
    flag: "--name",
    env: "SERVER_NAME",
    default: "",
    help: "this server's name in responses (default: its listen address)",
};
const CACHE_URL: Setting = Setting {
    flag: "--cache-url",
    env: "CACHE_URL",
    default: "memory://",
    help: "memory://, redis://host:port[/db] (or rediss://, redis+cluster://, ...), sqlserver://... or Server=...;Database=...",
};
const INSTANCE_NAME: Setting = Setting {
    flag: "--instance-name",
    env: "CACHE_INSTANCE_NAME",
    default: "example-web:",
    help: "key prefix in a shared cache (.NET's InstanceName)",
};
const SQL_SCHEMA: Setting = Setting {
    flag: "--sql-schema",
    env: "CACHE_SQL_SCHEMA",
    default: "dbo",
    help: "SQL Server: the cache table's schema",
};
const SQL_TABLE: Setting = Setting {
    flag: "--sql-table",
    env: "CACHE_SQL_TABLE",
    default: "Cache",
    help: "SQL Server: the cache table (made by `sql-cache create`)",
};
const CACHE_TIMEOUT: Setting = Setting {
    flag: "--cache-timeout-ms",
    env: "CACHE_TIMEOUT_MS",
    default: "1000",
    help: "longest wait for a shared cache (per connect and per command) before serving from the upstream",
};
const ABSOLUTE: Setting = Setting {
    flag: "--absolute-secs",
    env: "CACHE_ABSOLUTE_SECS",
    default: "300",
    help: "an entry is recomputed at the latest this long after it was cached (0: never)",
};
const SLIDING: Setting = Setting {
    flag: "--sliding-secs",
    env: "CACHE_SLIDING_SECS",
    default: "60",
    help: "an entry nobody reads for this long is dropped (0: never)",
};
const UPSTREAM_DELAY: Setting = Setting {
    flag: "--upstream-delay-ms",
    env: "UPSTREAM_DELAY_MS",
    default: "300",
    help: "how long the simulated upstream takes per lookup",
};

const SETTINGS: [&Setting; 10] = [
    &LISTEN,
    &NAME,
    &CACHE_URL,
    &INSTANCE_NAME,
    &SQL_SCHEMA,
    &SQL_TABLE,
    &CACHE_TIMEOUT,
    &ABSOLUTE,
    &SLIDING,
    &UPSTREAM_DELAY,
];

/// The service's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// This server's name in responses; `None` means its listen address.
    pub name: Option<String>,
    /// Which cache backend to use.
    pub cache_url: String,
    /// The key prefix in a shared cache (Redis).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub instance_name: String,
    /// SQL Server: the cache table's schema.
    #[cfg_attr(not(feature = "sqlserver"), allow(dead_code))]
    pub sql_schema: String,
    /// SQL Server: the cache table.
    #[cfg_attr(not(feature = "sqlserver"), allow(dead_code))]
    pub sql_table: String,
    /// The longest wait for a shared cache, per connect and per command.
    #[cfg_attr(not(any(feature = "redis", feature = "sqlserver")), allow(dead_code))]
    pub cache_timeout: Duration,
    /// Absolute expiry, relative to when the entry is cached.
    pub absolute: Option<Duration>,
    /// Sliding expiry.
    pub sliding: Option<Duration>,
    /// The simulated upstream's latency.
    pub upstream_delay: Duration,
}

/// What [`Config::from_args`] found instead of a configuration.
#[derive(Debug)]
pub enum ConfigError {
    /// `--help` was asked for.
    Help,
    /// A setting is missing its value or is malformed.
    Invalid(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Help => f.write_str("help requested"),
            ConfigError::Invalid(msg) => f.write_str(msg),
        }
    }
}

/// The usage text for `--help`.
pub fn usage() -> String {
    let mut s = String::from(
        "cache-example-web: a slow product lookup served through a distributed cache\n\n\
         usage: cache-example-web [FLAG VALUE]...\n\n\
         Every flag can also be set by its environment variable; the flag wins.\n\n",
    );
    for set in SETTINGS {
        let default = if set.default.is_empty() {
            String::new()
        } else {
            format!(" [default: {}]", set.default)
        };
        s.push_str(&format!(
            "  {:<22} {:<20} {}{}\n",
            set.flag, set.env, set.help, default
        ));
    }
    s
}

impl Config {
    /// Reads the settings from `args` (without the program name), falling
    /// back to the environment as read by `env`, then to the defaults.
    pub fn from_args<I, E>(args: I, env: E) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = String>,
        E: Fn(&str) -> Option<String>,
    {
        let mut flags: Vec<(&'static str, String)> = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                return Err(ConfigError::Help);
            }
            // Both `--flag value` and `--flag=value`.
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_string(), Some(v.to_string())),
                None => (arg.clone(), None),
            };
            let Some(setting) = SETTINGS.iter().find(|s| s.flag == flag) else {
                // Only the flag: a mistyped `--cache_url=redis://:pw@h`
                // must not print the password.
                return Err(ConfigError::Invalid(format!(
                    "unknown argument '{flag}' (see --help)"
                )));
            };
            let value = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| ConfigError::Invalid(format!("{flag} needs a value")))?,
            };
            flags.push((setting.flag, value));
        }
        let get = |s: &Setting| -> String {
            flags
                .iter()
                .rev()
                .find(|(f, _)| *f == s.flag)
                .map(|(_, v)| v.clone())
                .or_else(|| env(s.env).filter(|v| !v.is_empty()))
                .unwrap_or_else(|| s.default.to_string())
        };

        let listen = get(&LISTEN);
        let listen = listen.parse::<SocketAddr>().map_err(|_| {
            ConfigError::Invalid(format!(
                "{}/{}: '{listen}' is not an address such as 127.0.0.1:3000",
                LISTEN.flag, LISTEN.env
            ))
        })?;
        let name = Some(get(&NAME)).filter(|n| !n.is_empty());
        Ok(Config {
            listen,
            name,
            cache_url: get(&CACHE_URL),
            instance_name: get(&INSTANCE_NAME),
            sql_schema: get(&SQL_SCHEMA),
            sql_table: get(&SQL_TABLE),
            cache_timeout: millis(&CACHE_TIMEOUT, &get(&CACHE_TIMEOUT))?,
            absolute: seconds(&ABSOLUTE, &get(&ABSOLUTE))?,
            sliding: seconds(&SLIDING, &get(&SLIDING))?,
            upstream_delay: millis(&UPSTREAM_DELAY, &get(&UPSTREAM_DELAY))?,
        })
    }
}

/// Seconds, fractions allowed (`1.5`); `0` means "not set".
fn seconds(setting: &Setting, value: &str) -> Result<Option<Duration>, ConfigError> {
    let invalid = || {
        ConfigError::Invalid(format!(
            "{}/{}: '{value}' is not a number of seconds",
            setting.flag, setting.env
        ))
    };
    let secs: f64 = value.trim().parse().map_err(|_| invalid())?;
    let d = Duration::try_from_secs_f64(secs).map_err(|_| invalid())?;
    Ok(Some(d).filter(|d| !d.is_zero()))
}

/// Whole milliseconds.
fn millis(setting: &Setting, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| {
            ConfigError::Invalid(format!(
                "{}/{}: '{value}' is not a number of milliseconds",
                setting.flag, setting.env
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_args(args.iter().map(|s| s.to_string()), move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults() {
        let c = parse(&[], &[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.cache_url, "memory://");
        assert_eq!(c.name, None);
        assert_eq!(c.absolute, Some(Duration::from_secs(300)));
        assert_eq!(c.sliding, Some(Duration::from_secs(60)));
        assert_eq!(c.upstream_delay, Duration::from_millis(300));
        assert_eq!(c.cache_timeout, Duration::from_secs(1));
    }

    #[test]
    fn flags_win_over_env() {
        let c = parse(
            &["--name", "a", "--absolute-secs=1.5"],
            &[("SERVER_NAME", "b"), ("CACHE_SLIDING_SECS", "0")],
        )
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("a"));
        assert_eq!(c.absolute, Some(Duration::from_millis(1500)));
        assert_eq!(c.sliding, None);
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        for args in [
            &["--listen", "nowhere"][..],
            &["--absolute-secs", "-1"],
            &["--sliding-secs", "NaN"],
            &["--upstream-delay-ms", "soon"],
            &["--bogus", "1"],
            &["--name"],
        ] {
            assert!(
                matches!(parse(args, &[]), Err(ConfigError::Invalid(_))),
                "{args:?}"
            );
        }
        assert!(matches!(parse(&["--help"], &[]), Err(ConfigError::Help)));
        // A mistyped flag with an inline URL: the password is not echoed.
        let e = parse(&["--cache_url=redis://:s3cret@h"], &[]).unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(e.to_string().contains("--cache_url"), "{e}");
    }
}
