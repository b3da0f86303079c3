//! The SQL this crate sends, built once per table. Identifiers are quoted;
//! every value is a bound parameter with a declared type.
//!
//! Where .NET's cache differs (its `SqlQueries.cs`):
//! - `get` is one statement: the sliding refresh is an `UPDATE .. RETURNING`
//!   inside a CTE, and a row that needs no refresh is read without being
//!   written; .NET sends an `UPDATE` then a `SELECT`.
//! - the new expiry is `LEAST(now + window, absoluteexpiration)`, the whole
//!   interval compared; .NET compares only the seconds field of
//!   `AGE(absoluteExpiration, now)`, so a window of 20 minutes with 2 hours
//!   left could be cut to the absolute expiration, and one with 30 s left
//!   pushed past it.
//! - a row past its `absoluteexpiration` is never returned, even when its
//!   `expiresattime` (written uncapped by .NET) has not passed.
//! - instants stay `timestamptz`; .NET casts them to `timestamp`, dropping
//!   the zone, and so depends on the session's `TimeZone`.

use tokio_postgres::types::Type;

use crate::table::TableName;

/// The statements of the cache's operations, prepared once per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Get,
    Refresh,
    Set,
    Remove,
    Inspect,
}

impl Op {
    pub(crate) const ALL: [Op; 5] = [Op::Get, Op::Refresh, Op::Set, Op::Remove, Op::Inspect];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The declared parameter types.
    pub(crate) fn types(self) -> &'static [Type] {
        match self {
            Op::Get | Op::Refresh | Op::Inspect => &[Type::VARCHAR, Type::TIMESTAMPTZ],
            Op::Set => &[
                Type::VARCHAR,
                Type::BYTEA,
                Type::TIMESTAMPTZ,
                Type::INT8,
                Type::TIMESTAMPTZ,
            ],
            Op::Remove => &[Type::VARCHAR],
        }
    }
}

/// The advisory-lock class for expired-row sweeps: the lock key is this in
/// the high 32 bits and the table's OID in the low 32 bits.
pub const SWEEP_LOCK_CLASS: i64 = 0x6463_6163; // "dcac"

/// The SQL of every statement for one table.
#[derive(Clone, Debug)]
pub(crate) struct Statements {
    ops: [String; 5],
    pub(crate) sweep_batch: String,
    pub(crate) sweep_lock: String,
    pub(crate) sweep_unlock: String,
    pub(crate) table_quoted: String,
}

/// Alive at `$2`: `expiresattime` not passed, nor the absolute expiration.
const ALIVE: &str = "id = $1 AND expiresattime >= $2 \
                     AND (absoluteexpiration IS NULL OR absoluteexpiration >= $2)";

/// The expiry after a read at `$2`: the window from now, capped.
const SLID: &str =
    "LEAST($2 + INTERVAL '1 second' * slidingexpirationinseconds, absoluteexpiration)";

impl Statements {
    pub(crate) fn new(table: &TableName) -> Statements {
        let t = table.quoted();
        // A row needs its window restarted when it has a real window and the
        // new expiry differs (it does not once capped at the absolute one).
        let slides = format!(
            "slidingexpirationinseconds BETWEEN 1 AND 2147483647 AND expiresattime <> {SLID}"
        );
        let get = format!(
            "WITH slid AS (\
             UPDATE {t} SET expiresattime = {SLID} WHERE {ALIVE} AND {slides} \
             RETURNING value, slidingexpirationinseconds) \
             SELECT value, slidingexpirationinseconds FROM slid \
             UNION ALL \
             SELECT value, slidingexpirationinseconds FROM {t} WHERE {ALIVE} AND ({slides}) IS NOT TRUE"
        );
        let refresh = format!("UPDATE {t} SET expiresattime = {SLID} WHERE {ALIVE} AND {slides}");
        let set = format!(
            "INSERT INTO {t} (id, value, expiresattime, slidingexpirationinseconds, absoluteexpiration) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value, \
             expiresattime = EXCLUDED.expiresattime, \
             slidingexpirationinseconds = EXCLUDED.slidingexpirationinseconds, \
             absoluteexpiration = EXCLUDED.absoluteexpiration"
        );
        let remove = format!("DELETE FROM {t} WHERE id = $1");
        let inspect = format!(
            "SELECT octet_length(value), expiresattime, slidingexpirationinseconds, absoluteexpiration \
             FROM {t} WHERE {ALIVE}"
        );
        let sweep_batch = format!(
            "DELETE FROM {t} WHERE id IN (\
             SELECT id FROM {t} WHERE expiresattime < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
        );
        let key = format!("(({SWEEP_LOCK_CLASS}::bigint << 32) | $1::text::regclass::oid::bigint)");
        Statements {
            ops: [get, refresh, set, remove, inspect],
            sweep_batch,
            sweep_lock: format!("SELECT pg_try_advisory_lock{key}"),
            sweep_unlock: format!("SELECT pg_advisory_unlock{key}"),
            table_quoted: t,
        }
    }

    pub(crate) fn sql(&self, op: Op) -> &str {
        &self.ops[op.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_quotes_the_table_and_binds_values() {
        let t = TableName::new("Odd \"s\"", "t").unwrap();
        let s = Statements::new(&t);
        for op in Op::ALL {
            let sql = s.sql(op);
            assert!(sql.contains(r#""Odd ""s"""."t""#), "{op:?}: {sql}");
            let params = (1..=op.types().len()).all(|i| sql.contains(&format!("${i}")));
            assert!(params, "{op:?} uses every declared parameter");
            assert!(!sql.contains(&format!("${}", op.types().len() + 1)));
        }
        assert!(s.sql(Op::Set).contains("ON CONFLICT (id) DO UPDATE"));
        assert!(s.sql(Op::Get).starts_with("WITH slid AS (UPDATE"));
        assert!(s.sweep_lock.contains("pg_try_advisory_lock"));
    }
}
