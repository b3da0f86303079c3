//! The stored layout, shared with .NET's `Microsoft.Extensions.Caching.Postgres`
//! (one row per entry), and the conversions between rows and entries.
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `id` | `VARCHAR(449) COLLATE "C"` primary key | the key, whole |
//! | `value` | `BYTEA NOT NULL` | the value |
//! | `expiresattime` | `TIMESTAMPTZ NOT NULL` | when the entry dies unless read or refreshed |
//! | `slidingexpirationinseconds` | `BIGINT NULL` | the sliding window, whole seconds |
//! | `absoluteexpiration` | `TIMESTAMPTZ NULL` | the hard deadline |

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use cache_abstractions::{
    max_absolute_expiration, round_up, EntryInfo, Error, Expiry, Result, MAX_SLIDING_EXPIRATION,
};
use tokio_postgres::Row;

/// The longest key: `id VARCHAR(449)`. PostgreSQL counts characters; the
/// limit is enforced in UTF-16 code units, as .NET counts a string's
/// length, so a key that fits here fits for .NET apps too.
pub const MAX_KEY_UNITS: usize = 449;

/// The largest value: PostgreSQL stores at most 1 GB in one field.
pub const MAX_VALUE_BYTES: usize = (1 << 30) - 1;

/// What `set` writes: the row's expiry columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NewRow {
    pub(crate) expires_at: SystemTime,
    pub(crate) sliding_seconds: Option<i64>,
    pub(crate) absolute: Option<SystemTime>,
}

impl NewRow {
    /// The row for `expiry` written at `now`: the window in whole seconds
    /// (rounded up, never to zero), and `expiresattime` = now + window
    /// capped at the absolute expiration (.NET leaves it uncapped).
    pub(crate) fn new(expiry: &Expiry, now: SystemTime) -> NewRow {
        let sliding = expiry.sliding.map(|s| round_up(s, Duration::from_secs(1)));
        let rounded = Expiry::new(expiry.absolute, sliding);
        NewRow {
            // Only a window of more than SystemTime's range has no
            // deadline; windows are at most 68 years, so this is a guard.
            expires_at: rounded
                .deadline_from(now)
                .unwrap_or_else(max_absolute_expiration),
            sliding_seconds: sliding.map(|s| i64::try_from(s.as_secs()).unwrap_or(i64::MAX)),
            absolute: expiry.absolute,
        }
    }
}

/// A stored window, checked: `NULL` is none; 1 ..= 2147483647 seconds is a
/// window; anything else no working writer stores (rule 14).
pub(crate) fn sliding_of(seconds: Option<i64>) -> Result<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if s >= 1 && s as u64 <= MAX_SLIDING_EXPIRATION.as_secs() => {
            Ok(Some(Duration::from_secs(s as u64)))
        }
        Some(s) => Err(Error::corrupt(format!(
            "the row's slidingexpirationinseconds is {s}; a window is 1 to 2147483647 seconds"
        ))),
    }
}

/// The value of the row a `get` returned: `(value, slidingexpirationinseconds)`.
pub(crate) fn value_of(row: &Row) -> Result<Bytes> {
    let value: Vec<u8> = row.try_get(0).map_err(column_error)?;
    let sliding: Option<i64> = row.try_get(1).map_err(column_error)?;
    sliding_of(sliding)?;
    Ok(Bytes::from(value))
}

/// An `inspect` row: `(octet_length(value), expiresattime,
/// slidingexpirationinseconds, absoluteexpiration)`.
pub(crate) fn info_of(row: &Row) -> Result<EntryInfo> {
    let size: i32 = row.try_get(0).map_err(column_error)?;
    let expires_at: SystemTime = row.try_get(1).map_err(column_error)?;
    let sliding = sliding_of(row.try_get(2).map_err(column_error)?)?;
    let absolute: Option<SystemTime> = row.try_get(3).map_err(column_error)?;
    Ok(EntryInfo::new(
        usize::try_from(size).unwrap_or(0),
        absolute,
        sliding,
        Some(expires_at),
    ))
}

/// A column that is not what the layout says (a foreign table, a changed
/// type, `-infinity`): corrupt, never a panic.
fn column_error(e: tokio_postgres::Error) -> Error {
    Error::corrupt("a column of the row does not have the cache table's type").with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn windows_round_up_to_whole_seconds_and_cap_at_absolute() {
        let now = t(1_000);
        let row = NewRow::new(&Expiry::new(None, Some(Duration::from_millis(300))), now);
        assert_eq!(row.sliding_seconds, Some(1));
        assert_eq!(row.expires_at, t(1_001));
        let row = NewRow::new(
            &Expiry::new(Some(t(1_005)), Some(Duration::from_secs(60))),
            now,
        );
        assert_eq!(row.expires_at, t(1_005), "capped (.NET writes now + 60 s)");
        assert_eq!(row.absolute, Some(t(1_005)));
        let row = NewRow::new(&Expiry::new(Some(t(2_000)), None), now);
        assert_eq!((row.expires_at, row.sliding_seconds), (t(2_000), None));
    }

    #[test]
    fn only_real_windows_are_read() {
        assert_eq!(sliding_of(None).unwrap(), None);
        assert_eq!(sliding_of(Some(1)).unwrap(), Some(Duration::from_secs(1)));
        assert!(sliding_of(Some(i64::from(i32::MAX))).is_ok());
        for bad in [0, -1, i64::from(i32::MAX) + 1, i64::MAX, i64::MIN] {
            let e = sliding_of(Some(bad)).unwrap_err();
            assert_eq!(e.kind(), cache_abstractions::ErrorKind::CorruptEntry);
        }
    }
}
