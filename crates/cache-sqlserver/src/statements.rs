//! The statements this crate runs against a cache table, with their bound
//! parameters: built once per table, tested offline, bound by [`crate::pool`].
//!
//! Every value is a parameter (`@P1`, `@P2`, … in tiberius's naming); only
//! the validated, bracket-quoted table name is pasted into the text. Each
//! batch starts by copying its parameters into variables named as in .NET's
//! statements (`@Id`, `@UtcNow`, …), so the text reads like .NET's.
//!
//! Where these differ from .NET's statements, and why:
//! - A key lives under its own text or, when a different key the column's
//!   collation calls equal holds that `Id`, under an escaped `Id` (see
//!   [`crate::keys`]). Rows are matched with `Id IN (@Id, @EscId)` (primary
//!   key seeks) **and** a byte comparison, so a key is never answered with
//!   another key's value.
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
use crate::keys::StoredIds;
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
    /// `nvarchar`, or a typed NULL.
    OptText(Option<&'a str>),
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
            Param::OptText(s) => ColumnData::String(s.map(Into::into)),
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
        let bytes = |v: &str| format!("CAST({v} AS varbinary({KEY_BYTES}))");
        let matched = format!(
            "Id IN (@Id, @EscId) AND ({id} = {key} OR {id} = {esc})",
            id = bytes("Id"),
            key = bytes("@Id"),
            esc = bytes("@EscId"),
        );
        let slide = format!(
            "UPDATE {t} SET ExpiresAtTime = \
             CASE WHEN AbsoluteExpiration <= DATEADD(SECOND, SlidingExpirationInSeconds, @UtcNow) \
             THEN AbsoluteExpiration \
             ELSE DATEADD(SECOND, SlidingExpirationInSeconds, @UtcNow) END \
             WHERE {matched} AND @UtcNow <= ExpiresAtTime \
             AND SlidingExpirationInSeconds BETWEEN 1 AND 2147483647 \
             AND (AbsoluteExpiration IS NULL OR AbsoluteExpiration <> ExpiresAtTime);"
        );
        let alive = "@UtcNow <= ExpiresAtTime AND (AbsoluteExpiration IS NULL OR @UtcNow <= AbsoluteExpiration)";
        let ids = "DECLARE @Id nvarchar(449) = @P1, @EscId nvarchar(449) = @P2";
        let ids_now = format!("SET NOCOUNT ON;\n{ids}, @UtcNow datetimeoffset = @P3;");
        let resource = "DECLARE @Resource nvarchar(255) = CONCAT(N'cache-sqlserver:expired-items:', DB_ID(), N':', OBJECT_ID(@P1));";
        let columns = "(Id, Value, ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration)";
        let values = "@P3, @ExpiresAtTime, @SlidingExpirationInSeconds, @AbsoluteExpiration";
        Statements {
            quoted: t.clone(),
            get: format!(
                "{ids_now}\n{slide}\n\
                 SELECT Value, ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration \
                 FROM {t} WHERE {matched} AND {alive};"
            ),
            refresh: format!("{ids_now}\n{slide}"),
            set: format!(
                "SET NOCOUNT ON;\n\
                 {ids}, @ExpiresAtTime datetimeoffset = @P4, \
                 @SlidingExpirationInSeconds bigint = @P5, @AbsoluteExpiration datetimeoffset = @P6;\n\
                 UPDATE {t} SET Value = @P3, ExpiresAtTime = @ExpiresAtTime, \
                 SlidingExpirationInSeconds = @SlidingExpirationInSeconds, \
                 AbsoluteExpiration = @AbsoluteExpiration WHERE {matched};\n\
                 IF (@@ROWCOUNT = 0)\n\
                 BEGIN\n\
                 IF EXISTS (SELECT 1 FROM {t} WHERE Id = @Id AND {id} <> {key})\n\
                 BEGIN\n\
                 IF (@EscId IS NULL)\n\
                 BEGIN\n\
                 THROW {COLLISION_ERROR}, N'the key equals another stored key under the table''s collation and is too long to store escaped', 1;\n\
                 END\n\
                 INSERT INTO {t} {columns} VALUES (@EscId, {values});\n\
                 END\n\
                 ELSE\n\
                 BEGIN\n\
                 INSERT INTO {t} {columns} VALUES (@Id, {values});\n\
                 END\n\
                 END",
                id = bytes("Id"),
                key = bytes("@Id"),
            ),
            remove: format!(
                "SET NOCOUNT ON;\n{ids};\nDELETE FROM {t} WHERE {matched};"
            ),
            inspect: format!(
                "{ids_now}\n\
                 SELECT DATALENGTH(Value), ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration \
                 FROM {t} WHERE {matched} AND {alive};"
            ),
            exists: format!(
                "SET NOCOUNT ON;\n{ids};\n\
                 SELECT COUNT_BIG(*) FROM {t} WHERE {matched};"
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
    pub(crate) fn get<'a>(&'a self, ids: &'a StoredIds<'_>, now: SqlInstant) -> Statement<'a> {
        self.ids_now(&self.get, ids, now)
    }

    /// Slides the window without reading the value.
    pub(crate) fn refresh<'a>(&'a self, ids: &'a StoredIds<'_>, now: SqlInstant) -> Statement<'a> {
        self.ids_now(&self.refresh, ids, now)
    }

    /// UPDATE, then INSERT when no row was updated (as .NET does: MERGE
    /// races without HOLDLOCK and is missing on some T-SQL servers). The
    /// INSERT uses the escaped `Id` when a different key the collation
    /// calls equal holds the plain one; with no escape to use, it fails
    /// with [`COLLISION_ERROR`].
    pub(crate) fn set<'a>(
        &'a self,
        ids: &'a StoredIds<'_>,
        value: &'a [u8],
        row: &NewRow,
    ) -> Statement<'a> {
        Statement {
            sql: &self.set,
            params: vec![
                Param::Text(&ids.plain),
                Param::OptText(ids.escaped.as_deref()),
                Param::Binary(value),
                Param::Instant(Some(row.expires_at)),
                Param::BigInt(row.sliding_seconds),
                Param::Instant(row.absolute),
            ],
        }
    }

    /// Deletes the entry.
    pub(crate) fn remove<'a>(&'a self, ids: &'a StoredIds<'_>) -> Statement<'a> {
        Statement {
            sql: &self.remove,
            params: id_params(ids),
        }
    }

    /// Describes the live entry without sliding it. Columns:
    /// DATALENGTH(Value), ExpiresAtTime, SlidingExpirationInSeconds,
    /// AbsoluteExpiration.
    pub(crate) fn inspect<'a>(&'a self, ids: &'a StoredIds<'_>, now: SqlInstant) -> Statement<'a> {
        self.ids_now(&self.inspect, ids, now)
    }

    /// How many rows hold exactly this key (0 or 1); used after repeated
    /// duplicate-key errors to tell a racing writer of the same key from a
    /// key the collation equates with another stored one.
    pub(crate) fn exists<'a>(&'a self, ids: &'a StoredIds<'_>) -> Statement<'a> {
        Statement {
            sql: &self.exists,
            params: id_params(ids),
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

    fn ids_now<'a>(
        &'a self,
        sql: &'a str,
        ids: &'a StoredIds<'_>,
        now: SqlInstant,
    ) -> Statement<'a> {
        let mut params = id_params(ids);
        params.push(Param::Instant(Some(now)));
        Statement { sql, params }
    }
}

/// The error number the set batch raises for a key it cannot store.
pub(crate) const COLLISION_ERROR: u32 = 50_001;

fn id_params<'a>(ids: &'a StoredIds<'_>) -> Vec<Param<'a>> {
    vec![
        Param::Text(&ids.plain),
        Param::OptText(ids.escaped.as_deref()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::stored_ids;
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

    const MATCHED: &str =
        "Id IN (@Id, @EscId) AND (CAST(Id AS varbinary(898)) = CAST(@Id AS varbinary(898)) \
                           OR CAST(Id AS varbinary(898)) = CAST(@EscId AS varbinary(898)))";
    const IDS: &str = "DECLARE @Id nvarchar(449) = @P1, @EscId nvarchar(449) = @P2";

    fn id_params(escaped: &str) -> Vec<Param<'_>> {
        vec![Param::Text("k"), Param::OptText(Some(escaped))]
    }

    #[test]
    fn get_is_one_batch_sliding_then_selecting() {
        let s = statements();
        let ids = stored_ids("k").unwrap();
        let st = s.get(&ids, i(100));
        assert_eq!(
            st.sql,
            format!(
                "SET NOCOUNT ON;\n{IDS}, @UtcNow datetimeoffset = @P3;\n\
                 UPDATE [dbo].[Cache]]x] SET ExpiresAtTime = CASE WHEN AbsoluteExpiration <= \
                 DATEADD(SECOND, SlidingExpirationInSeconds, @UtcNow) THEN AbsoluteExpiration \
                 ELSE DATEADD(SECOND, SlidingExpirationInSeconds, @UtcNow) END \
                 WHERE {MATCHED} AND @UtcNow <= ExpiresAtTime AND SlidingExpirationInSeconds BETWEEN 1 AND 2147483647 \
                 AND (AbsoluteExpiration IS NULL OR AbsoluteExpiration <> ExpiresAtTime);\n\
                 SELECT Value, ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration \
                 FROM [dbo].[Cache]]x] WHERE {MATCHED} \
                 AND @UtcNow <= ExpiresAtTime AND (AbsoluteExpiration IS NULL OR @UtcNow <= AbsoluteExpiration);"
            )
        );
        let mut want = id_params("~~escaped~~k");
        want.push(Param::Instant(Some(i(100))));
        assert_eq!(st.params, want);
    }

    #[test]
    fn refresh_is_the_sliding_update_alone() {
        let s = statements();
        let ids = stored_ids("k").unwrap();
        let st = s.refresh(&ids, i(5));
        assert!(st.sql.contains("UPDATE [dbo].[Cache]]x] SET ExpiresAtTime"));
        assert!(!st.sql.contains("SELECT"));
        assert!(
            !st.sql.contains("DATEDIFF"),
            "DATEDIFF overflows for far deadlines"
        );
        let mut want = id_params("~~escaped~~k");
        want.push(Param::Instant(Some(i(5))));
        assert_eq!(st.params, want);
    }

    #[test]
    fn set_updates_then_inserts_under_the_free_id() {
        let s = statements();
        let row = NewRow {
            expires_at: i(160),
            sliding_seconds: Some(60),
            absolute: None,
        };
        let ids = stored_ids("k").unwrap();
        let st = s.set(&ids, b"v", &row);
        let t = "[dbo].[Cache]]x]";
        let columns = "(Id, Value, ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration)";
        let values = "@P3, @ExpiresAtTime, @SlidingExpirationInSeconds, @AbsoluteExpiration";
        assert_eq!(
            st.sql,
            format!(
                "SET NOCOUNT ON;\n{IDS}, @ExpiresAtTime datetimeoffset = @P4, \
                 @SlidingExpirationInSeconds bigint = @P5, @AbsoluteExpiration datetimeoffset = @P6;\n\
                 UPDATE {t} SET Value = @P3, ExpiresAtTime = @ExpiresAtTime, \
                 SlidingExpirationInSeconds = @SlidingExpirationInSeconds, \
                 AbsoluteExpiration = @AbsoluteExpiration WHERE {MATCHED};\n\
                 IF (@@ROWCOUNT = 0)\nBEGIN\n\
                 IF EXISTS (SELECT 1 FROM {t} WHERE Id = @Id AND CAST(Id AS varbinary(898)) <> CAST(@Id AS varbinary(898)))\n\
                 BEGIN\nIF (@EscId IS NULL)\nBEGIN\n\
                 THROW 50001, N'the key equals another stored key under the table''s collation and is too long to store escaped', 1;\n\
                 END\nINSERT INTO {t} {columns} VALUES (@EscId, {values});\nEND\n\
                 ELSE\nBEGIN\nINSERT INTO {t} {columns} VALUES (@Id, {values});\nEND\nEND"
            )
        );
        assert_eq!(
            st.params,
            vec![
                Param::Text("k"),
                Param::OptText(Some("~~escaped~~k")),
                Param::Binary(b"v"),
                Param::Instant(Some(i(160))),
                Param::BigInt(Some(60)),
                Param::Instant(None),
            ]
        );
        assert!(!st.sql.contains("MERGE"));
    }

    #[test]
    fn a_key_without_room_for_an_escape_binds_null() {
        let s = statements();
        let long = "é".repeat(449);
        let ids = stored_ids(&long).unwrap();
        let st = s.remove(&ids);
        assert_eq!(st.params, vec![Param::Text(&long), Param::OptText(None)]);
        assert_eq!(
            Param::OptText(None).to_column_data(),
            ColumnData::String(None)
        );
    }

    #[test]
    fn remove_inspect_and_exists() {
        let s = statements();
        let ids = stored_ids("k").unwrap();
        let r = s.remove(&ids);
        assert_eq!(
            r.sql,
            format!("SET NOCOUNT ON;\n{IDS};\nDELETE FROM [dbo].[Cache]]x] WHERE {MATCHED};")
        );
        assert_eq!(r.params, id_params("~~escaped~~k"));
        let ins = s.inspect(&ids, i(1));
        assert!(ins.sql.contains("SELECT DATALENGTH(Value), ExpiresAtTime"));
        assert!(
            !ins.sql.contains("UPDATE"),
            "inspect must not slide the window"
        );
        assert_eq!(ins.params.len(), 3);
        let e = s.exists(&ids);
        assert!(e.sql.ends_with(&format!(
            "SELECT COUNT_BIG(*) FROM [dbo].[Cache]]x] WHERE {MATCHED};"
        )));
        assert_eq!(e.params, id_params("~~escaped~~k"));
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
