//! The settings every table-backed cache (SQL Server, PostgreSQL) takes,
//! with .NET's defaults and one set of checks: a builder keeps them in a
//! [`TableSettings`] (its setters fill it in, [`TableSettings::from_options`]
//! takes [`OpenOptions`]' shared ones) and its `build` calls
//! [`TableSettings::check`] with the backend's [`Limits`]. The single checks
//! ([`default_sliding`], [`sweep_interval`], [`batch_size`], [`pool_size`],
//! [`positive`]) are public for settings of other shapes.
//!
//! Every check fails with [`ErrorKind::Config`](crate::ErrorKind::Config)
//! naming the setting as the builder spells it, and never quotes anything
//! but the durations and numbers it was given.
//!
//! ```
//! use cache_abstractions::support::settings;
//! use std::time::Duration;
//!
//! // Not set: .NET's 20 minutes.
//! assert_eq!(settings::default_sliding(None)?, settings::DEFAULT_SLIDING_EXPIRATION);
//! assert!(settings::sweep_interval(Some(Duration::from_secs(60))).is_err());
//! assert_eq!(settings::batch_size("sweep_batch_size", None, 1000, 4000)?, 1000);
//! # Ok::<(), cache_abstractions::Error>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{Clock, Error, OpenOptions, Result, SystemClock, MAX_SLIDING_EXPIRATION};

/// .NET's `DefaultSlidingExpiration`: entries set with empty options slide
/// for 20 minutes.
pub const DEFAULT_SLIDING_EXPIRATION: Duration = Duration::from_secs(20 * 60);
/// .NET's default `ExpiredItemsDeletionInterval`.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// .NET's minimum `ExpiredItemsDeletionInterval` (shorter ones throw there).
pub const MIN_SWEEP_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Rows per sweep `DELETE`: small transactions, short row locks.
pub const DEFAULT_SWEEP_BATCH_SIZE: u32 = 1000;
/// Pooled connections when none is asked for.
pub const DEFAULT_POOL_SIZE: u32 = 10;
/// ADO.NET's and Npgsql's default `CommandTimeout`.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A table cache builder's settings as its setters leave them (`None`:
/// not set, the default applies). The connection is the backend's own.
#[derive(Clone, Default)]
pub struct TableSettings {
    /// The table's schema (`schema`).
    pub schema: Option<String>,
    /// The table (`table`); required.
    pub table: Option<String>,
    /// `default_sliding_expiration`.
    pub default_sliding_expiration: Option<Duration>,
    /// `expired_items_deletion_interval`.
    pub sweep_interval: Option<Duration>,
    /// Whether this instance sweeps in the background (default true).
    pub background_sweep: Option<bool>,
    /// Rows per sweep statement.
    pub sweep_batch_size: Option<u32>,
    /// `pool_size`.
    pub pool_size: Option<u32>,
    /// `connect_timeout`.
    pub connect_timeout: Option<Duration>,
    /// `command_timeout`.
    pub command_timeout: Option<Duration>,
    /// The clock "now" is read from (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for TableSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableSettings")
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field(
                "default_sliding_expiration",
                &self.default_sliding_expiration,
            )
            .field("sweep_interval", &self.sweep_interval)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

/// What differs by backend in [`TableSettings::check`].
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The builder's name for the batch size (`sweep_batch_size`,
    /// `cleanup_batch_size`), for error messages.
    pub batch_setting: &'static str,
    /// The most rows per sweep statement.
    pub max_batch: u32,
    /// The connect timeout when the builder sets none: the connection
    /// string's, else the backend's default.
    pub connect_timeout: Duration,
}

/// [`TableSettings`] checked, defaults filled in (schema and table are left
/// to the backend, whose names follow its server's rules).
#[derive(Clone)]
pub struct Checked {
    /// The sliding window of entries set with empty options.
    pub default_sliding: Duration,
    /// How often expired rows are swept.
    pub sweep_interval: Duration,
    /// Whether this instance sweeps in the background.
    pub background_sweep: bool,
    /// Rows per sweep statement.
    pub sweep_batch_size: u32,
    /// The most pooled connections.
    pub pool_size: u32,
    /// How long opening a connection may take.
    pub connect_timeout: Duration,
    /// How long one statement may take.
    pub command_timeout: Duration,
    /// The clock "now" is read from.
    pub clock: Arc<dyn Clock>,
}

impl fmt::Debug for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checked")
            .field("default_sliding", &self.default_sliding)
            .field("sweep_interval", &self.sweep_interval)
            .field("pool_size", &self.pool_size)
            .field("command_timeout", &self.command_timeout)
            .finish_non_exhaustive()
    }
}

impl TableSettings {
    /// The settings `OpenOptions` shares with every backend: `timeout` is
    /// both the connect and the command timeout; `pool_size`, `schema`,
    /// `table` and `clock` are the settings of those names;
    /// `instance_name` (a Redis setting) does not apply.
    pub fn from_options(options: &OpenOptions) -> TableSettings {
        TableSettings {
            schema: options.schema.clone(),
            table: options.table.clone(),
            pool_size: options.pool_size,
            connect_timeout: options.timeout,
            command_timeout: options.timeout,
            clock: options.clock.clone(),
            ..TableSettings::default()
        }
    }

    /// Every setting but the names, checked, in the order the builder
    /// documents them; defaults filled in (.NET's, and `limits`'s).
    pub fn check(&self, limits: &Limits) -> Result<Checked> {
        Ok(Checked {
            default_sliding: default_sliding(self.default_sliding_expiration)?,
            sweep_interval: sweep_interval(self.sweep_interval)?,
            background_sweep: self.background_sweep.unwrap_or(true),
            sweep_batch_size: batch_size(
                limits.batch_setting,
                self.sweep_batch_size,
                DEFAULT_SWEEP_BATCH_SIZE,
                limits.max_batch,
            )?,
            pool_size: pool_size(self.pool_size)?,
            connect_timeout: positive(
                "connect_timeout",
                self.connect_timeout.unwrap_or(limits.connect_timeout),
            )?,
            command_timeout: positive(
                "command_timeout",
                self.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
            )?,
            clock: self.clock.clone().unwrap_or_else(|| Arc::new(SystemClock)),
        })
    }
}

/// The sliding window of entries set with empty options (builder setting
/// `default_sliding_expiration`): more than zero and at most
/// [`MAX_SLIDING_EXPIRATION`]; [`DEFAULT_SLIDING_EXPIRATION`] when unset.
pub fn default_sliding(set: Option<Duration>) -> Result<Duration> {
    let window = set.unwrap_or(DEFAULT_SLIDING_EXPIRATION);
    if window.is_zero() || window > MAX_SLIDING_EXPIRATION {
        return Err(Error::config(
            "default_sliding_expiration must be more than zero and at most 2147483647 seconds",
        ));
    }
    Ok(window)
}

/// How often expired rows are swept (builder setting
/// `expired_items_deletion_interval`): at least [`MIN_SWEEP_INTERVAL`];
/// [`DEFAULT_SWEEP_INTERVAL`] when unset.
pub fn sweep_interval(set: Option<Duration>) -> Result<Duration> {
    let interval = set.unwrap_or(DEFAULT_SWEEP_INTERVAL);
    if interval < MIN_SWEEP_INTERVAL {
        return Err(Error::config(format!(
            "expired_items_deletion_interval must be at least {MIN_SWEEP_INTERVAL:?} (got {interval:?})"
        )));
    }
    Ok(interval)
}

/// Rows per sweep statement (the builder setting `name`): `1 ..= max`;
/// `default` when unset. The most differs by server (SQL Server escalates
/// to a table lock past 5000 row locks).
pub fn batch_size(name: &str, set: Option<u32>, default: u32, max: u32) -> Result<u32> {
    let rows = set.unwrap_or(default);
    if !(1..=max).contains(&rows) {
        return Err(Error::config(format!("{name} must be 1 ..= {max}")));
    }
    Ok(rows)
}

/// The most pooled connections (builder setting `pool_size`): at least 1;
/// [`DEFAULT_POOL_SIZE`] when unset.
pub fn pool_size(set: Option<u32>) -> Result<u32> {
    let n = set.unwrap_or(DEFAULT_POOL_SIZE);
    if n == 0 {
        return Err(Error::config("pool_size must be at least 1"));
    }
    Ok(n)
}

/// A timeout (the builder setting `name`) that must be more than zero.
pub fn positive(name: &str, d: Duration) -> Result<Duration> {
    if d.is_zero() {
        return Err(Error::config(format!("{name} must be more than zero")));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn names_the_setting(r: Result<impl std::fmt::Debug>, name: &str) {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.message().contains(name), "{e}");
    }

    const LIMITS: Limits = Limits {
        batch_setting: "sweep_batch_size",
        max_batch: 4000,
        connect_timeout: Duration::from_secs(15),
    };

    #[test]
    fn table_settings_take_the_shared_options_and_check_every_field() {
        let options = OpenOptions::new()
            .timeout(Duration::from_secs(2))
            .pool_size(3)
            .schema("app")
            .table("cache")
            .instance_name("ignored:");
        let s = TableSettings::from_options(&options);
        assert_eq!(
            (s.schema.as_deref(), s.table.as_deref()),
            (Some("app"), Some("cache"))
        );
        let c = s.check(&LIMITS).unwrap();
        assert_eq!(
            (c.pool_size, c.connect_timeout, c.command_timeout),
            (3, Duration::from_secs(2), Duration::from_secs(2))
        );
        let c = TableSettings::default().check(&LIMITS).unwrap();
        assert_eq!(
            (c.default_sliding, c.sweep_interval, c.background_sweep),
            (DEFAULT_SLIDING_EXPIRATION, DEFAULT_SWEEP_INTERVAL, true)
        );
        assert_eq!(
            (
                c.sweep_batch_size,
                c.pool_size,
                c.connect_timeout,
                c.command_timeout
            ),
            (1000, 10, Duration::from_secs(15), DEFAULT_COMMAND_TIMEOUT)
        );
        for (bad, name) in [
            (
                TableSettings {
                    sweep_batch_size: Some(4001),
                    ..TableSettings::default()
                },
                "sweep_batch_size",
            ),
            (
                TableSettings {
                    connect_timeout: Some(Duration::ZERO),
                    ..TableSettings::default()
                },
                "connect_timeout",
            ),
            (
                TableSettings {
                    sweep_interval: Some(Duration::from_secs(1)),
                    ..TableSettings::default()
                },
                "expired_items_deletion_interval",
            ),
        ] {
            names_the_setting(bad.check(&LIMITS).map(|_| ()), name);
        }
    }

    #[test]
    fn unset_settings_take_dotnets_defaults() {
        assert_eq!(default_sliding(None).unwrap(), Duration::from_secs(1200));
        assert_eq!(sweep_interval(None).unwrap(), Duration::from_secs(1800));
        assert_eq!(pool_size(None).unwrap(), 10);
        assert_eq!(batch_size("b", None, 7, 9).unwrap(), 7);
    }

    #[test]
    fn limits_are_inclusive() {
        let s = Duration::from_secs;
        assert_eq!(default_sliding(Some(s(1))).unwrap(), s(1));
        assert_eq!(
            default_sliding(Some(MAX_SLIDING_EXPIRATION)).unwrap(),
            MAX_SLIDING_EXPIRATION
        );
        assert_eq!(sweep_interval(Some(s(300))).unwrap(), s(300));
        assert_eq!(batch_size("b", Some(1), 7, 9).unwrap(), 1);
        assert_eq!(batch_size("b", Some(9), 7, 9).unwrap(), 9);
        assert_eq!(pool_size(Some(1)).unwrap(), 1);
        assert_eq!(
            positive("t", Duration::from_nanos(1)).unwrap().as_nanos(),
            1
        );
    }

    #[test]
    fn out_of_range_settings_are_config_errors_naming_them() {
        let s = Duration::from_secs;
        names_the_setting(
            default_sliding(Some(Duration::ZERO)),
            "default_sliding_expiration",
        );
        names_the_setting(
            default_sliding(Some(MAX_SLIDING_EXPIRATION + s(1))),
            "default_sliding_expiration",
        );
        names_the_setting(
            sweep_interval(Some(s(299))),
            "expired_items_deletion_interval",
        );
        names_the_setting(
            batch_size("cleanup_batch_size", Some(0), 7, 9),
            "cleanup_batch_size",
        );
        names_the_setting(
            batch_size("sweep_batch_size", Some(10), 7, 9),
            "sweep_batch_size",
        );
        names_the_setting(pool_size(Some(0)), "pool_size");
        names_the_setting(
            positive("command_timeout", Duration::ZERO),
            "command_timeout",
        );
    }
}
