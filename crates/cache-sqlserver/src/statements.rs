//! The statements this crate runs against a cache table, with their bound
//! parameters: built once per table, tested offline, bound by [`crate::pool`].
//!
//! Every value is a parameter (`@P1`, `@P2`, … in tiberius's naming); only
//! the validated, bracket-quoted table name is pasted into the text. Each
//! batch starts by copying its parameters into variables named as in .NET's
//! statements (`@Id`, `@UtcNow`, …), so the text reads like .NET's.
//!
//! Where these differ from .NET's statements, and why:
//! - Rows are matched with `Id = @Id` (the primary key seek) **and** a binary
//!   comparison of the key: the column's collation ignores trailing spaces
//!   and characters without a sort weight, and a cache must never answer one
//!   key with another key's value.
//! - The sliding update compares `AbsoluteExpiration` with `DATEADD(...)`
//!   instead of `DATEDIFF(SECOND, ...)`, which overflows `int` for
//!   absolute expirations more than 68 years away, and it only touches rows
//!   whose window `DATEADD` can add (1 ..= 2^31-1 s); other rows are left for
//!   the decoder to report as corrupt.
//! - Get also checks `AbsoluteExpiration`, so a row written by .NET with an
//!   uncapped `ExpiresAtTime` is never returned after its hard deadline.
//! - `ExpiresAtTime` on set is computed by the caller from the same `@UtcNow`
//!   and capped at `AbsoluteExpiration`.
//! - Nothing reads the row counts of a batch: `@@ROWCOUNT` is used inside the
//!   batch, and counts the caller needs come back as a `SELECT`.

use std::time::{Duration, SystemTime};

use cache_abstractions::{round_up, Error, Expiry, Result};
use tiberius::ColumnData;

use crate::ident::TableName;
use crate::sqltime::SqlInstant;

/// The widest key in bytes: `nvarchar(449)` is 898 bytes of UTF-16.
const KEY_BYTES: usize = 898;

/// A statement's text and its parameters, in order (`@P1` first).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Statement<'a> {
    pub(crate) sql: &'a str,
    pub(crate) params: Vec<Param<'a>>,
}

/// A bound parameter, typed so that NULLs carry their SQL type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Param<'a> {
    /// `nvarchar`.
    Text(&'a str),
    /// `varbinary`.
    Binary(&'a [u8]),
    /// `datetimeoffset(7)`, or a typed NULL.
    Instant(Option<SqlInstant>),
    /// `bigint`, or a typed NULL.
    BigInt(Option<i64>),
    /// `int`.
    Int(i32),
}

impl<'a> Param<'a> {
    /// The TDS value tiberius sends.
    pub(crate) fn to_column_data(&self) -> ColumnData<'a> {
        match *self {
            Param::Text(s) => ColumnData::String(Some(s.into())),
            Param::Binary(b) => ColumnData::Binary(Some(b.into())),
            Param::Instant(i) => ColumnData::DateTimeOffset(i.map(SqlInstant::to_tds)),
            Param::BigInt(n) => ColumnData::I64(n),
            Param::Int(n) => ColumnData::I32(Some(n)),
        }
    }
}

/// The row values `set` writes, computed from the resolved options and the
/// time of the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NewRow {
    pub(crate) expires_at: SqlInstant,
    pub(crate) sliding_seconds: Option<i64>,
    pub(crate) absolute: Option<SqlInstant>,
}

impl NewRow {
    /// The row for `expiry` set at `now`: the sliding window in whole seconds
    /// rounded up (never zero), and `ExpiresAtTime` = `now + window` capped at
    /// the absolute expiration (.NET leaves it uncapped), or the absolute
    /// expiration alone.
    pub(crate) fn new(expiry: &Expiry, now: SystemTime) -> Result<Self> {
        let sliding = expiry.sliding.map(|s| round_up(s, Duration::from_secs(1)));
        let sliding_seconds = match sliding {
            None => None,
            Some(s) => Some(i64::try_from(s.as_secs()).map_err(|_| {
                Error::invalid_options("sliding_expiration", "is too long for SQL Server")
            })?),
        };
        let absolute = expiry
            .absolute
            .map(SqlInstant::from_system_time)
            .transpose()?;
        let slide_end = match sliding {
            None => None,
            Some(s) => {
                let end = now.checked_add(s).ok_or_else(|| {
                    Error::invalid_options("sliding_expiration", "reaches past the year 9999")
                })?;
                Some(match SqlInstant::from_system_time(end) {
                    Ok(end) => end,
                    // Past year 9999 but capped by an absolute expiration: fine.
                    Err(_) if absolute.is_some() => SqlInstant::max(),
                    Err(_) => {
                        return Err(Error::invalid_options(
                            "sliding_expiration",
                            "reaches past the year 9999",
                        ))
                    }
                })
            }
        };
        let expires_at = match (slide_end, absolute) {
            (Some(s), Some(a)) => s.min(a),
            (Some(s), None) => s,
            (None, Some(a)) => a,
            (None, None) => {
                return Err(Error::invalid_options(
                    "sliding_expiration",
                    "SQL Server entries need a sliding or an absolute expiration",
                ))
            }
        };
        Ok(NewRow {
            expires_at,
            sliding_seconds,
            absolute,
        })
    }
}

/// Every statement for one table, built once.
#[derive(Clone, Debug)]
pub(crate) struct Statements {
    quoted: String,
    get: String,
    refresh: String,
    set: String,
    remove: String,
    inspect: String,
    exists: String,
    lock: String,
    delete_batch: String,
    unlock: String,
}

impl Statements {
    pub(crate) fn new(table: &TableName) -> Self {
        let t = table.quoted();
        let exact = format!(
            "Id = @Id AND CAST(Id AS varbinary({KEY_BYTES})) = CAST(@Id AS varbinary({KEY_BYTES}))"
        );
        let slide = format!(
            "UPDATE {t} SET ExpiresAtTime = \
             CASE WHEN AbsoluteExpiration <= DATEADD(SECOND, SlidingExpirationInSeconds, @UtcNow) \
             THEN AbsoluteExpiration \
             ELSE DATEADD(SECOND, SlidingExpirationInSeconds, @UtcNow) END \
             WHERE {exact} AND @UtcNow <= ExpiresAtTime \
             AND SlidingExpirationInSeconds BETWEEN 1 AND 2147483647 \
             AND (AbsoluteExpiration IS NULL OR AbsoluteExpiration <> ExpiresAtTime);"
        );
        let alive = "@UtcNow <= ExpiresAtTime AND (AbsoluteExpiration IS NULL OR @UtcNow <= AbsoluteExpiration)";
        let id_now =
            "SET NOCOUNT ON;\nDECLARE @Id nvarchar(449) = @P1, @UtcNow datetimeoffset = @P2;";
        let resource = "DECLARE @Resource nvarchar(255) = CONCAT(N'cache-sqlserver:expired-items:', DB_ID(), N':', OBJECT_ID(@P1));";
        Statements {
            quoted: t.clone(),
            get: format!(
                "{id_now}\n{slide}\n\
                 SELECT Value, ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration \
                 FROM {t} WHERE {exact} AND {alive};"
            ),
            refresh: format!("{id_now}\n{slide}"),
            set: format!(
                "SET NOCOUNT ON;\n\
                 DECLARE @Id nvarchar(449) = @P1, @ExpiresAtTime datetimeoffset = @P3, \
                 @SlidingExpirationInSeconds bigint = @P4, @AbsoluteExpiration datetimeoffset = @P5;\n\
                 UPDATE {t} SET Value = @P2, ExpiresAtTime = @ExpiresAtTime, \
                 SlidingExpirationInSeconds = @SlidingExpirationInSeconds, \
                 AbsoluteExpiration = @AbsoluteExpiration WHERE {exact};\n\
                 IF (@@ROWCOUNT = 0)\n\
                 BEGIN\n\
                 INSERT INTO {t} (Id, Value, ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration) \
                 VALUES (@Id, @P2, @ExpiresAtTime, @SlidingExpirationInSeconds, @AbsoluteExpiration);\n\
                 END"
            ),
            remove: format!(
                "SET NOCOUNT ON;\nDECLARE @Id nvarchar(449) = @P1;\nDELETE FROM {t} WHERE {exact};"
            ),
            inspect: format!(
                "{id_now}\n\
                 SELECT DATALENGTH(Value), ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration \
                 FROM {t} WHERE {exact} AND {alive};"
            ),
            exists: format!(
                "SET NOCOUNT ON;\nDECLARE @Id nvarchar(449) = @P1;\n\
                 SELECT COUNT_BIG(*) FROM {t} WHERE {exact};"
            ),
            lock: format!(
                "SET NOCOUNT ON;\n{resource}\nDECLARE @Result int;\n\
                 EXEC @Result = sp_getapplock @Resource = @Resource, @LockMode = 'Exclusive', \
                 @LockOwner = 'Session', @LockTimeout = 0;\n\
                 SELECT @Result;"
            ),
            delete_batch: format!(
                "SET NOCOUNT ON;\nDECLARE @UtcNow datetimeoffset = @P1;\n\
                 DELETE TOP (@P2) FROM {t} WHERE @UtcNow > ExpiresAtTime;\n\
                 SELECT CAST(@@ROWCOUNT AS bigint);"
            ),
            unlock: format!(
                "SET NOCOUNT ON;\n{resource}\n\
                 EXEC sp_releaseapplock @Resource = @Resource, @LockOwner = 'Session';"
            ),
        }
    }

    /// Slides the window (when the entry has one) and reads the entry: one
    /// batch, one round trip. Columns: Value, ExpiresAtTime,
    /// SlidingExpirationInSeconds, AbsoluteExpiration.
    pub(crate) fn get<'a>(&'a self, key: &'a str, now: SqlInstant) -> Statement<'a> {
        self.key_now(&self.get, key, now)
    }

    /// Slides the window without reading the value.
    pub(crate) fn refresh<'a>(&'a self, key: &'a str, now: SqlInstant) -> Statement<'a> {
        self.key_now(&self.refresh, key, now)
    }

    /// UPDATE, then INSERT when no row was updated (as .NET does: MERGE
    /// races without HOLDLOCK and is missing on some T-SQL servers).
    pub(crate) fn set<'a>(&'a self, key: &'a str, value: &'a [u8], row: &NewRow) -> Statement<'a> {
        Statement {
            sql: &self.set,
            params: vec![
                Param::Text(key),
                Param::Binary(value),
                Param::Instant(Some(row.expires_at)),
                Param::BigInt(row.sliding_seconds),
                Param::Instant(row.absolute),
            ],
        }
    }

    /// Deletes the entry.
    pub(crate) fn remove<'a>(&'a self, key: &'a str) -> Statement<'a> {
        Statement {
            sql: &self.remove,
            params: vec![Param::Text(key)],
        }
    }

    /// Describes the live entry without sliding it. Columns:
    /// DATALENGTH(Value), ExpiresAtTime, SlidingExpirationInSeconds,
    /// AbsoluteExpiration.
    pub(crate) fn inspect<'a>(&'a self, key: &'a str, now: SqlInstant) -> Statement<'a> {
        self.key_now(&self.inspect, key, now)
    }

    /// How many rows hold exactly `key` (0 or 1); used after a duplicate-key
    /// error to tell a racing insert of the same key from a key the column's
    /// collation cannot tell apart from another.
    pub(crate) fn exists<'a>(&'a self, key: &'a str) -> Statement<'a> {
        Statement {
            sql: &self.exists,
            params: vec![Param::Text(key)],
        }
    }

    /// Takes the table's cleanup lock for this session without waiting;
    /// selects sp_getapplock's result (>= 0: granted).
    pub(crate) fn cleanup_lock(&self) -> Statement<'_> {
        Statement {
            sql: &self.lock,
            params: vec![Param::Text(self.quoted_name())],
        }
    }

    /// Deletes at most `batch` expired rows; selects how many it deleted.
    pub(crate) fn cleanup_batch(&self, now: SqlInstant, batch: i32) -> Statement<'_> {
        Statement {
            sql: &self.delete_batch,
            params: vec![Param::Instant(Some(now)), Param::Int(batch)],
        }
    }

    /// Releases the cleanup lock.
    pub(crate) fn cleanup_unlock(&self) -> Statement<'_> {
        Statement {
            sql: &self.unlock,
            params: vec![Param::Text(self.quoted_name())],
        }
    }

    fn quoted_name(&self) -> &str {
        &self.quoted
    }

    fn key_now<'a>(&'a self, sql: &'a str, key: &'a str, now: SqlInstant) -> Statement<'a> {
        Statement {
            sql,
            params: vec![Param::Text(key), Param::Instant(Some(now))],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_abstractions::{EntryOptions, ErrorKind};
    use std::time::UNIX_EPOCH;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn i(secs: u64) -> SqlInstant {
        SqlInstant::from_system_time(t(secs)).unwrap()
    }

    fn statements() -> Statements {
        Statements::new(&TableName::new("dbo", "Cache]x").unwrap())
    }

    const EXACT: &str = "Id = @Id AND CAST(Id AS varbinary(898)) = CAST(@Id AS varbinary(898))";

    #[test]
    fn get_is_one_batch_sliding_then_selecting() {
        let s = statements();
        let st = s.get("k", i(100));
        assert_eq!(
            st.sql,
            "SET NOCOUNT ON;\nDECLARE @Id nvarchar(449) = @P1, @UtcNow datetimeoffset = @P2;\n\
             UPDATE [dbo].[Cache]]x] SET ExpiresAtTime = CASE WHEN AbsoluteExpiration <= \
             DATEADD(SECOND, SlidingExpirationInSeconds, @UtcNow) THEN AbsoluteExpiration \
             ELSE DATEADD(SECOND, SlidingExpirationInSeconds, @UtcNow) END \
             WHERE Id = @Id AND CAST(Id AS varbinary(898)) = CAST(@Id AS varbinary(898)) \
             AND @UtcNow <= ExpiresAtTime AND SlidingExpirationInSeconds BETWEEN 1 AND 2147483647 \
             AND (AbsoluteExpiration IS NULL OR AbsoluteExpiration <> ExpiresAtTime);\n\
             SELECT Value, ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration \
             FROM [dbo].[Cache]]x] WHERE Id = @Id AND CAST(Id AS varbinary(898)) = CAST(@Id AS varbinary(898)) \
             AND @UtcNow <= ExpiresAtTime AND (AbsoluteExpiration IS NULL OR @UtcNow <= AbsoluteExpiration);"
        );
        assert_eq!(
            st.params,
            vec![Param::Text("k"), Param::Instant(Some(i(100)))]
        );
    }

    #[test]
    fn refresh_is_the_sliding_update_alone() {
        let s = statements();
        let st = s.refresh("k", i(5));
        assert!(st.sql.contains("UPDATE [dbo].[Cache]]x] SET ExpiresAtTime"));
        assert!(!st.sql.contains("SELECT"));
        assert!(
            !st.sql.contains("DATEDIFF"),
            "DATEDIFF overflows for far deadlines"
        );
        assert_eq!(
            st.params,
            vec![Param::Text("k"), Param::Instant(Some(i(5)))]
        );
    }

    #[test]
    fn set_updates_then_inserts_with_every_value_bound() {
        let s = statements();
        let row = NewRow {
            expires_at: i(160),
            sliding_seconds: Some(60),
            absolute: None,
        };
        let st = s.set("k", b"v", &row);
        assert_eq!(
            st.sql,
            format!(
                "SET NOCOUNT ON;\nDECLARE @Id nvarchar(449) = @P1, @ExpiresAtTime datetimeoffset = @P3, \
                 @SlidingExpirationInSeconds bigint = @P4, @AbsoluteExpiration datetimeoffset = @P5;\n\
                 UPDATE [dbo].[Cache]]x] SET Value = @P2, ExpiresAtTime = @ExpiresAtTime, \
                 SlidingExpirationInSeconds = @SlidingExpirationInSeconds, \
                 AbsoluteExpiration = @AbsoluteExpiration WHERE {EXACT};\n\
                 IF (@@ROWCOUNT = 0)\nBEGIN\n\
                 INSERT INTO [dbo].[Cache]]x] (Id, Value, ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration) \
                 VALUES (@Id, @P2, @ExpiresAtTime, @SlidingExpirationInSeconds, @AbsoluteExpiration);\nEND"
            )
        );
        assert_eq!(
            st.params,
            vec![
                Param::Text("k"),
                Param::Binary(b"v"),
                Param::Instant(Some(i(160))),
                Param::BigInt(Some(60)),
                Param::Instant(None),
            ]
        );
        assert!(!st.sql.contains("MERGE"));
    }

    #[test]
    fn remove_inspect_and_exists() {
        let s = statements();
        let r = s.remove("k");
        assert_eq!(
            r.sql,
            format!("SET NOCOUNT ON;\nDECLARE @Id nvarchar(449) = @P1;\nDELETE FROM [dbo].[Cache]]x] WHERE {EXACT};")
        );
        assert_eq!(r.params, vec![Param::Text("k")]);
        let ins = s.inspect("k", i(1));
        assert!(ins.sql.contains("SELECT DATALENGTH(Value), ExpiresAtTime"));
        assert!(
            !ins.sql.contains("UPDATE"),
            "inspect must not slide the window"
        );
        assert_eq!(
            ins.params,
            vec![Param::Text("k"), Param::Instant(Some(i(1)))]
        );
        let e = s.exists("k");
        assert!(e.sql.ends_with(&format!(
            "SELECT COUNT_BIG(*) FROM [dbo].[Cache]]x] WHERE {EXACT};"
        )));
        assert_eq!(e.params, vec![Param::Text("k")]);
    }

    #[test]
    fn cleanup_is_locked_and_batched() {
        let s = statements();
        let lock = s.cleanup_lock();
        assert!(lock.sql.contains("sp_getapplock @Resource = @Resource, @LockMode = 'Exclusive', @LockOwner = 'Session', @LockTimeout = 0"));
        assert!(lock.sql.contains("OBJECT_ID(@P1)"));
        assert_eq!(lock.params, vec![Param::Text("[dbo].[Cache]]x]")]);
        let batch = s.cleanup_batch(i(9), 500);
        assert_eq!(
            batch.sql,
            "SET NOCOUNT ON;\nDECLARE @UtcNow datetimeoffset = @P1;\n\
             DELETE TOP (@P2) FROM [dbo].[Cache]]x] WHERE @UtcNow > ExpiresAtTime;\n\
             SELECT CAST(@@ROWCOUNT AS bigint);"
        );
        assert_eq!(
            batch.params,
            vec![Param::Instant(Some(i(9))), Param::Int(500)]
        );
        let unlock = s.cleanup_unlock();
        assert!(unlock
            .sql
            .contains("sp_releaseapplock @Resource = @Resource, @LockOwner = 'Session'"));
        assert_eq!(unlock.params, lock.params);
    }

    #[test]
    fn params_bind_as_typed_tds_values() {
        assert_eq!(Param::BigInt(None).to_column_data(), ColumnData::I64(None));
        assert_eq!(
            Param::Instant(None).to_column_data(),
            ColumnData::DateTimeOffset(None)
        );
        assert_eq!(Param::Int(3).to_column_data(), ColumnData::I32(Some(3)));
        assert_eq!(
            Param::Text("k").to_column_data(),
            ColumnData::String(Some("k".into()))
        );
        assert_eq!(
            Param::Binary(b"v").to_column_data(),
            ColumnData::Binary(Some((&b"v"[..]).into()))
        );
        assert_eq!(
            Param::Instant(Some(i(0))).to_column_data(),
            ColumnData::DateTimeOffset(Some(i(0).to_tds()))
        );
    }

    fn row(options: EntryOptions, now: u64) -> Result<NewRow> {
        NewRow::new(&options.resolve(t(now))?, t(now))
    }

    #[test]
    fn new_row_rounds_sliding_up_to_whole_seconds() {
        let r = row(EntryOptions::new().sliding(Duration::from_millis(300)), 100).unwrap();
        assert_eq!(r.sliding_seconds, Some(1));
        assert_eq!(r.expires_at, i(101));
        assert_eq!(r.absolute, None);
        let r = row(
            EntryOptions::new().sliding(Duration::from_millis(1500)),
            100,
        )
        .unwrap();
        assert_eq!(r.sliding_seconds, Some(2));
    }

    #[test]
    fn new_row_caps_expires_at_at_absolute() {
        // .NET would write ExpiresAtTime = now + 60 s here.
        let r = row(
            EntryOptions::new()
                .sliding(Duration::from_secs(60))
                .expires_in(Duration::from_secs(10)),
            100,
        )
        .unwrap();
        assert_eq!(r.expires_at, i(110));
        assert_eq!(r.absolute, Some(i(110)));
        assert_eq!(r.sliding_seconds, Some(60));
        // A window shorter than the deadline is not capped.
        let r = row(
            EntryOptions::new()
                .sliding(Duration::from_secs(5))
                .expires_at(t(1000)),
            100,
        )
        .unwrap();
        assert_eq!((r.expires_at, r.absolute), (i(105), Some(i(1000))));
    }

    #[test]
    fn new_row_absolute_only() {
        let r = row(
            EntryOptions::new().expires_in(Duration::from_millis(300)),
            100,
        )
        .unwrap();
        assert_eq!(r.sliding_seconds, None);
        assert_eq!(r.absolute, r.expires_at.into());
        assert_eq!(
            r.expires_at.to_system_time(),
            t(100) + Duration::from_millis(300)
        );
    }

    #[test]
    fn new_row_without_any_expiry_is_refused() {
        let e = NewRow::new(&Expiry::NEVER, t(1)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions);
    }

    #[test]
    fn new_row_sliding_past_year_9999() {
        let near_end = t(cache_abstractions::MAX_ABSOLUTE_EXPIRATION_UNIX_SECS - 10);
        let sliding = Expiry::new(None, Some(Duration::from_secs(60)));
        let e = NewRow::new(&sliding, near_end).unwrap_err();
        assert_eq!(e.field(), Some("sliding_expiration"));
        let capped = Expiry::new(
            Some(near_end + Duration::from_secs(5)),
            Some(Duration::from_secs(60)),
        );
        let r = NewRow::new(&capped, near_end).unwrap();
        assert_eq!(r.expires_at, r.absolute.unwrap());
    }
}
