//! Deleting expired rows: batched, one instance at a time, in the background.
//!
//! .NET deletes every expired row in one statement, from every app instance,
//! which escalates to a table lock and deadlocks on big tables. Here one
//! instance at a time (an `sp_getapplock` session lock on the table, taken
//! without waiting) deletes `TOP (n)` rows per statement until a batch comes
//! back short, so each transaction stays small and below SQL Server's lock
//! escalation threshold (5000 locks). When a run is due, the batch loop
//! and the outcome are `cache_abstractions::support::sweep`'s; the lock and
//! the statements are here.

use std::time::{Duration, SystemTime};

use cache_abstractions::support::statement::within;
use cache_abstractions::support::sweep::Batches;
/// What one cleanup run did: [`Deleted`](CleanupOutcome::Deleted) `rows`
/// in `batches` `DELETE TOP (n)` statements, or
/// [`Busy`](CleanupOutcome::Busy) when another instance (or session) was
/// cleaning the table and nothing was done.
pub use cache_abstractions::support::sweep::SweepOutcome as CleanupOutcome;
use cache_abstractions::Result;

use crate::conn::Conn;
use crate::format;
use crate::sqltime::SqlInstant;
use crate::statements::Statements;

/// Runs one cleanup on `conn`: lock, delete in batches, unlock. On any error
/// the connection is discarded, which also ends the session and so releases
/// a lock the failed run may still hold.
pub(crate) async fn run(
    conn: &mut Conn,
    statements: &Statements,
    now: SystemTime,
    batch_size: u32,
    command_timeout: Duration,
) -> Result<CleanupOutcome> {
    let result = run_locked(conn, statements, now, batch_size, command_timeout).await;
    if result.is_err() {
        conn.discard();
    }
    result
}

async fn run_locked(
    conn: &mut Conn,
    statements: &Statements,
    now: SystemTime,
    batch_size: u32,
    command_timeout: Duration,
) -> Result<CleanupOutcome> {
    let now = SqlInstant::from_system_time(now)?;
    let lock = statements.cleanup_lock();
    let granted = single(within(command_timeout, conn.rows(&lock)).await?)?;
    if granted < 0 {
        return Ok(CleanupOutcome::Busy);
    }
    let batch = i32::try_from(batch_size).unwrap_or(i32::MAX);
    let mut batches = Batches::new(batch.unsigned_abs());
    loop {
        let st = statements.cleanup_batch(now, batch);
        let deleted = single(within(command_timeout, conn.rows(&st)).await?)?;
        if !batches.record(u64::try_from(deleted).unwrap_or(0)) {
            break;
        }
    }
    let unlock = statements.cleanup_unlock();
    within(command_timeout, conn.execute(&unlock)).await?;
    Ok(batches.outcome())
}

fn single(rows: Vec<Vec<tiberius::ColumnData<'static>>>) -> Result<i64> {
    match <[Vec<tiberius::ColumnData<'static>>; 1]>::try_from(rows) {
        Ok([row]) => format::count(row),
        Err(rows) => Err(cache_abstractions::Error::new(
            cache_abstractions::ErrorKind::Backend,
            format!("expected one row from the server, got {}", rows.len()),
        )),
    }
}
