//! Deleting expired rows: batched, one instance at a time, in the background.
//!
//! .NET runs `DELETE FROM t WHERE expiresAtTime < now` from every instance,
//! each interval: one statement over every expired row, all instances at
//! once. Here an instance first takes a session advisory lock on the table
//! (`pg_try_advisory_lock`, never waiting: another holder means "busy"),
//! then deletes at most `batch` rows per statement, each its own short
//! transaction, until a batch comes back short.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use cache_abstractions::{max_absolute_expiration, Error, ErrorKind, Result};

use crate::conn::Conn;
use crate::error::timed_out;
use crate::statements::Statements;

/// What one sweep did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SweepOutcome {
    /// This instance held the lock and deleted `rows` expired rows in
    /// `batches` statements.
    Deleted {
        /// Rows deleted.
        rows: u64,
        /// `DELETE` statements run (the last one came back short).
        batches: u32,
    },
    /// Another instance (or session) holds the table's sweep lock; nothing
    /// was done.
    Busy,
}

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
    let mut rows = 0u64;
    let mut batches = 0u32;
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
        batches = batches.saturating_add(1);
        rows = rows.saturating_add(deleted);
        if deleted < u64::from(batch) {
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
    Ok(SweepOutcome::Deleted { rows, batches })
}

/// `fut`, or a `Timeout` error after `limit`.
pub(crate) async fn within<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| Err(timed_out("the statement", limit)))
}

/// When the next background sweep is due, and whether one is running.
#[derive(Debug)]
pub(crate) struct Schedule {
    interval: Duration,
    next_due: Mutex<SystemTime>,
    running: AtomicBool,
}

impl Schedule {
    /// The first sweep is due one interval after `start`.
    pub(crate) fn new(interval: Duration, start: SystemTime) -> Schedule {
        Schedule {
            interval,
            next_due: Mutex::new(later(start, interval)),
            running: AtomicBool::new(false),
        }
    }

    /// Whether to start a sweep now; if so the next one is pushed an
    /// interval on, and none starts until [`finish`](Self::finish).
    pub(crate) fn claim(&self, now: SystemTime) -> bool {
        let mut due = self.next_due.lock().unwrap_or_else(|p| p.into_inner());
        if now < *due || self.running.swap(true, Ordering::AcqRel) {
            return false;
        }
        *due = later(now, self.interval);
        true
    }

    /// Ends the sweep [`claim`](Self::claim) started.
    pub(crate) fn finish(&self) {
        self.running.store(false, Ordering::Release);
    }
}

/// `at + interval`, or the end of time when that overflows (never "now").
fn later(at: SystemTime, interval: Duration) -> SystemTime {
    at.checked_add(interval)
        .unwrap_or_else(|| at.max(max_absolute_expiration()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn at_most_one_sweep_per_interval_and_never_two_at_once() {
        let s = Schedule::new(Duration::from_secs(300), t(0));
        assert!(!s.claim(t(299)));
        assert!(s.claim(t(300)));
        assert!(!s.claim(t(10_000)), "one is running");
        s.finish();
        assert!(s.claim(t(10_000)));
        s.finish();
        assert!(!s.claim(t(10_299)));
    }

    #[test]
    fn an_endless_interval_never_comes_due() {
        let s = Schedule::new(Duration::MAX, t(0));
        assert!(!s.claim(t(1_000_000_000)));
    }
}
