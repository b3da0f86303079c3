//! Deleting expired rows: batched, one instance at a time, in the background.
//!
//! .NET runs `DELETE FROM t WHERE expiresAtTime < now` from every instance,
//! each interval: one statement over every expired row, all instances at
//! once. Here an instance first takes a session advisory lock on the table
//! (`pg_try_advisory_lock`, never waiting: another holder means "busy"),
//! then deletes at most `batch` rows per statement, each its own short
//! transaction, until a batch comes back short. When a sweep is due, the
//! batch loop and the outcome are `cache_abstractions::support::sweep`'s;
//! the lock and the statements are here.

use std::time::{Duration, SystemTime};

use cache_abstractions::support::statement::within;
use cache_abstractions::support::sweep::Batches;
pub use cache_abstractions::support::sweep::SweepOutcome;
use cache_abstractions::{Error, ErrorKind, Result};

use crate::conn::Conn;
use crate::statements::Statements;

/// Sweeps on `conn`, a connection of its own: closing it (when the caller
/// drops it) also releases the lock if a statement failed half-way.
pub(crate) async fn run(
    conn: &mut Conn,
    statements: &Statements,
    now: SystemTime,
    batch: u32,
    statement_timeout: Duration,
) -> Result<SweepOutcome> {
    let table = statements.table_quoted.as_str();
    let locked = within(
        statement_timeout,
        conn.query_sql(&statements.sweep_lock, &[&table], "taking the sweep lock"),
    )
    .await?;
    let granted: bool = locked
        .first()
        .and_then(|r| r.try_get(0).ok())
        .ok_or_else(|| Error::new(ErrorKind::Backend, "the sweep lock answered no row"))?;
    if !granted {
        return Ok(SweepOutcome::Busy);
    }
    let limit = i64::from(batch);
    let mut batches = Batches::new(batch);
    loop {
        let deleted = within(
            statement_timeout,
            conn.execute_sql(
                &statements.sweep_batch,
                &[&now, &limit],
                "deleting expired rows",
            ),
        )
        .await?;
        if !batches.record(deleted) {
            break;
        }
    }
    within(
        statement_timeout,
        conn.query_sql(
            &statements.sweep_unlock,
            &[&table],
            "releasing the sweep lock",
        ),
    )
    .await?;
    Ok(batches.outcome())
}
