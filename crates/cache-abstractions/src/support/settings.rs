//! The settings every table-backed cache (SQL Server, PostgreSQL) takes,
//! with .NET's defaults and one set of checks, so a builder says only which
//! setting it validates: [`default_sliding`], [`sweep_interval`],
//! [`batch_size`], [`pool_size`], [`positive`].
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

use std::time::Duration;

use crate::{Error, Result, MAX_SLIDING_EXPIRATION};

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
