//! Deleting expired rows: batched, one instance at a time, in the background.
//!
//! .NET deletes every expired row in one statement, from every app instance,
//! which escalates to a table lock and deadlocks on big tables. Here one
//! instance at a time (an `sp_getapplock` session lock on the table, taken
//! without waiting) deletes `TOP (n)` rows per statement until a batch comes
//! back short, so each transaction stays small and below SQL Server's lock
//! escalation threshold (5000 locks).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use cache_abstractions::Result;

use crate::conn::Conn;
use crate::format;
use crate::sqltime::SqlInstant;
use crate::statements::Statements;

/// What one cleanup run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CleanupOutcome {
    /// This instance held the lock and deleted `rows` expired rows in
    /// `batches` statements.
    Deleted {
        /// Rows deleted.
        rows: u64,
        /// `DELETE TOP (n)` statements run (the last one came back short).
        batches: u32,
    },
    /// Another instance (or session) was cleaning the table; nothing was done.
    Busy,
}

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
    let granted = single(with_timeout(command_timeout, conn.rows(&lock)).await?)?;
    if granted < 0 {
        return Ok(CleanupOutcome::Busy);
    }
    let batch = i32::try_from(batch_size).unwrap_or(i32::MAX);
    let mut rows = 0u64;
    let mut batches = 0u32;
    loop {
        let st = statements.cleanup_batch(now, batch);
        let deleted = single(with_timeout(command_timeout, conn.rows(&st)).await?)?;
        batches = batches.saturating_add(1);
        rows = rows.saturating_add(u64::try_from(deleted).unwrap_or(0));
        if deleted < i64::from(batch) {
            break;
        }
    }
    let unlock = statements.cleanup_unlock();
    with_timeout(command_timeout, conn.execute(&unlock)).await?;
    Ok(CleanupOutcome::Deleted { rows, batches })
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

pub(crate) async fn with_timeout<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| {
        Err(cache_abstractions::Error::new(
            cache_abstractions::ErrorKind::Timeout,
            format!("the statement took longer than the command timeout ({limit:?})"),
        ))
    })
}

/// When the next background run is due, and whether one is running.
#[derive(Debug)]
pub(crate) struct Schedule {
    interval: Duration,
    next_due: Mutex<SystemTime>,
    running: AtomicBool,
}

impl Schedule {
    /// The first run is due one interval after `start`, as in .NET.
    pub(crate) fn new(interval: Duration, start: SystemTime) -> Self {
        Schedule {
            interval,
            next_due: Mutex::new(later(start, interval)),
            running: AtomicBool::new(false),
        }
    }

    /// Whether the caller should start a run now; if so, the next run is
    /// pushed one interval on and the schedule counts as running until
    /// [`finish`](Self::finish). At most one run per interval per instance,
    /// and never two at once.
    pub(crate) fn claim(&self, now: SystemTime) -> bool {
        let mut due = self.next_due.lock().unwrap_or_else(|p| p.into_inner());
        if now < *due || self.running.swap(true, Ordering::AcqRel) {
            return false;
        }
        *due = later(now, self.interval);
        true
    }

    /// Ends the run [`claim`](Self::claim) started.
    pub(crate) fn finish(&self) {
        self.running.store(false, Ordering::Release);
    }
}

/// `at + interval`; an interval too long for `SystemTime` means "not
/// before the end of time" (never "now", which would run every time).
fn later(at: SystemTime, interval: Duration) -> SystemTime {
    at.checked_add(interval)
        .unwrap_or_else(|| at.max(cache_abstractions::max_absolute_expiration()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn runs_at_most_once_per_interval() {
        let s = Schedule::new(Duration::from_secs(300), t(0));
        assert!(!s.claim(t(299)), "not before the first interval");
        assert!(s.claim(t(300)));
        assert!(!s.claim(t(301)));
        s.finish();
        assert!(
            !s.claim(t(599)),
            "next run one interval after the last start"
        );
        assert!(s.claim(t(600)));
    }

    #[test]
    fn never_two_runs_at_once() {
        let s = Schedule::new(Duration::from_secs(300), t(0));
        assert!(s.claim(t(300)));
        // Even when a run outlasts the interval, no second one starts.
        assert!(!s.claim(t(10_000)));
        s.finish();
        assert!(s.claim(t(10_000)));
    }

    #[test]
    fn an_interval_too_long_for_system_time_means_never_again() {
        // Used to panic (`start + interval`) when the cache was built.
        let s = Schedule::new(Duration::MAX, t(0));
        assert!(!s.claim(t(1_000_000)));
        // Once a run has started, the next is not due "now" (which would
        // run a cleanup on every operation) but never.
        *s.next_due.lock().unwrap() = t(0);
        assert!(s.claim(t(10)));
        s.finish();
        assert!(!s.claim(t(20)), "a second run right after the first");
    }
}
