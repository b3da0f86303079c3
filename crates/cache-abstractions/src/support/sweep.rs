//! Deleting expired rows of a table-backed cache in the background: when
//! one is due ([`Schedule`]), the batch loop's rule ([`Batches`]) and
//! what one did ([`SweepOutcome`]).
//!
//! .NET deletes every expired row in one statement, from every app
//! instance, at every interval. A backend here takes a session lock on the
//! table first (SQL Server's `sp_getapplock`, PostgreSQL's
//! `pg_try_advisory_lock`, never waiting: another holder means
//! [`SweepOutcome::Busy`]), then deletes at most `batch` rows per statement
//! until a batch comes back short. The lock and the statements are the
//! backend's; the schedule, the loop's rule ([`Batches`]) and the report
//! are here.
//!
//! A background sweep starts from an operation of the cache (no timer task
//! to own and stop): [`Schedule::spawn_if_due`] claims the slot and spawns
//! the sweep on the caller's runtime, never waiting for it, and logs how it
//! ended, in one place ([`Schedule::spawn_if_due`]'s task).
//!
//! ```
//! use cache_abstractions::support::sweep::{Batches, SweepOutcome};
//!
//! // 2500 expired rows, 1000 per statement: three statements, the last short.
//! let mut left = 2500u64;
//! let mut batches = Batches::new(1000);
//! loop {
//!     let deleted = left.min(1000); // DELETE .. LIMIT 1000
//!     left -= deleted;
//!     if !batches.record(deleted) {
//!         break;
//!     }
//! }
//! assert_eq!(batches.outcome(), SweepOutcome::Deleted { rows: 2500, batches: 3 });
//! ```

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::{max_absolute_expiration, Result};

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

/// The batch loop's count and its stopping rule: run one `DELETE` of at
/// most `batch` expired rows, [`record`](Self::record) how many it deleted,
/// and go on while it says so (until a batch comes back short); the first
/// error ends the sweep. Each statement is its own short transaction, so
/// row locks stay few and brief.
///
/// (A counter rather than a loop taking an async closure: a closure that
/// borrows the connection makes a future the compiler cannot prove `Send`,
/// and background sweeps are spawned.)
#[derive(Clone, Copy, Debug)]
pub struct Batches {
    batch: u32,
    rows: u64,
    batches: u32,
}

impl Batches {
    /// No statement run yet; at most `batch` rows per statement.
    pub fn new(batch: u32) -> Batches {
        Batches {
            batch,
            rows: 0,
            batches: 0,
        }
    }

    /// Counts one statement that deleted `deleted` rows; true when another
    /// should run (this one came back full).
    pub fn record(&mut self, deleted: u64) -> bool {
        self.batches = self.batches.saturating_add(1);
        self.rows = self.rows.saturating_add(deleted);
        deleted >= u64::from(self.batch)
    }

    /// What the statements recorded so far did.
    pub fn outcome(&self) -> SweepOutcome {
        SweepOutcome::Deleted {
            rows: self.rows,
            batches: self.batches,
        }
    }
}

/// When an instance's next background sweep is due, and whether one is
/// running: at most one per interval, never two at once. Clones share the
/// schedule.
#[derive(Clone)]
pub struct Schedule {
    state: Arc<State>,
    /// Whose sweep it is, for the log: the crate and the table.
    backend: &'static str,
    table: Arc<str>,
}

struct State {
    interval: Duration,
    next_due: Mutex<SystemTime>,
    running: AtomicBool,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("backend", &self.backend)
            .field("table", &self.table)
            .field("interval", &self.state.interval)
            .finish_non_exhaustive()
    }
}

/// The sweep a [`Schedule::claim`] started; dropping it ends the sweep (on
/// success, error, cancellation or panic alike).
#[derive(Debug)]
#[must_use = "the sweep counts as running until this is dropped"]
pub struct Running {
    state: Arc<State>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.state.running.store(false, Ordering::Release);
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("State")
    }
}

impl Schedule {
    /// The schedule of `backend`'s (a crate name, for the log) sweeps of
    /// `table`; the first is due one interval after `start`, as in .NET.
    pub fn new(
        interval: Duration,
        start: SystemTime,
        backend: &'static str,
        table: impl fmt::Display,
    ) -> Schedule {
        Schedule {
            state: Arc::new(State {
                interval,
                next_due: Mutex::new(later(start, interval)),
                running: AtomicBool::new(false),
            }),
            backend,
            table: table.to_string().into(),
        }
    }

    /// Whether to start a sweep at `now`: if so, the next is pushed one
    /// interval on, and none starts until the returned [`Running`] is
    /// dropped.
    pub fn claim(&self, now: SystemTime) -> Option<Running> {
        let mut due = self
            .state
            .next_due
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if now < *due || self.state.running.swap(true, Ordering::AcqRel) {
            return None;
        }
        *due = later(now, self.state.interval);
        Some(Running {
            state: Arc::clone(&self.state),
        })
    }

    /// Starts `sweep()` on the current tokio runtime when one is due at
    /// `now`, and returns at once (true when it started one). Outside a
    /// runtime nothing starts and nothing is claimed. How the sweep ended is
    /// logged (`tracing`, debug; a failure at warn) when it completes.
    pub fn spawn_if_due<F, Fut>(&self, now: SystemTime, sweep: F) -> bool
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<SweepOutcome>> + Send + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let Some(running) = self.claim(now) else {
            return false;
        };
        let sweep = sweep();
        let schedule = self.clone();
        runtime.spawn(async move {
            let _running = running;
            let started = std::time::Instant::now();
            let outcome = sweep.await;
            schedule.completed(&outcome, started.elapsed());
        });
        true
    }

    /// The one place a background sweep completes: a `tracing` event (debug;
    /// a failure at warn) and, with the `metrics` feature, the sweep metrics
    /// listed in docs/observability.md.
    fn completed(&self, outcome: &Result<SweepOutcome>, took: Duration) {
        let (backend, table) = (self.backend, &*self.table);
        let millis = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        match outcome {
            Ok(SweepOutcome::Deleted { rows, batches }) => tracing::debug!(
                backend,
                table,
                rows,
                batches,
                duration_ms = millis,
                "{backend}: deleted expired rows"
            ),
            Ok(SweepOutcome::Busy) => tracing::debug!(
                backend,
                table,
                "{backend}: another instance is deleting expired rows"
            ),
            Err(e) => tracing::warn!(
                backend, table, error = %e, duration_ms = millis,
                "{backend}: deleting expired rows failed; will retry after the next interval"
            ),
        }
        #[cfg(feature = "metrics")]
        record(backend, outcome, took);
    }
}

/// The sweep's metrics: runs by outcome, rows deleted, duration, labelled
/// like every other metric here by OpenTelemetry's `db.system.name` (the
/// schedule knows its backend by crate name, which the log lines keep).
#[cfg(feature = "metrics")]
fn record(backend: &'static str, outcome: &Result<SweepOutcome>, took: Duration) {
    let backend = match backend {
        "cache-postgres" => "postgresql",
        "cache-sqlserver" => "microsoft.sql_server",
        other => other,
    };
    let label = match outcome {
        Ok(SweepOutcome::Deleted { .. }) => "deleted",
        Ok(SweepOutcome::Busy) => "busy",
        Err(_) => "error",
    };
    metrics::counter!("cache.sweep.runs", "db.system.name" => backend, "outcome" => label)
        .increment(1);
    if let Ok(SweepOutcome::Deleted { rows, .. }) = outcome {
        metrics::counter!("cache.sweep.deleted_rows", "db.system.name" => backend).increment(*rows);
        metrics::histogram!("cache.sweep.duration", "db.system.name" => backend)
            .record(took.as_secs_f64());
    }
}

/// `at + interval`; an interval too long for `SystemTime` means "not
/// before the end of time" (never "now", which would sweep on every
/// operation).
fn later(at: SystemTime, interval: Duration) -> SystemTime {
    at.checked_add(interval)
        .unwrap_or_else(|| at.max(max_absolute_expiration()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, ErrorKind};
    use std::time::UNIX_EPOCH;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn schedule(interval: Duration) -> Schedule {
        Schedule::new(interval, t(0), "test", "\"s\".\"t\"")
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn at_most_one_sweep_per_interval() {
        let s = schedule(Duration::from_secs(300));
        assert!(s.claim(t(299)).is_none(), "not before the first interval");
        let run = s.claim(t(300));
        assert!(run.is_some());
        drop(run);
        assert!(
            s.claim(t(599)).is_none(),
            "next one an interval after the last start"
        );
        assert!(s.claim(t(600)).is_some());
    }

    #[test]
    fn never_two_at_once_even_past_the_interval() {
        let s = schedule(Duration::from_secs(300));
        let run = s.claim(t(300)).unwrap();
        assert!(s.clone().claim(t(10_000)).is_none(), "one is running");
        drop(run);
        assert!(s.claim(t(10_000)).is_some());
    }

    #[test]
    fn an_interval_too_long_for_system_time_means_never_again() {
        let s = schedule(Duration::MAX);
        assert!(s.claim(t(1_000_000)).is_none());
        // Once one has started, the next is due never, not "now".
        *s.state.next_due.lock().unwrap() = t(0);
        drop(s.claim(t(10)).unwrap());
        assert!(s.claim(t(20)).is_none());
    }

    #[test]
    fn batches_go_on_while_full_and_stop_at_the_first_short_one() {
        let mut b = Batches::new(10);
        assert_eq!(
            b.outcome(),
            SweepOutcome::Deleted {
                rows: 0,
                batches: 0
            }
        );
        assert!(b.record(10));
        assert!(b.record(10));
        assert!(!b.record(3));
        assert_eq!(
            b.outcome(),
            SweepOutcome::Deleted {
                rows: 23,
                batches: 3
            }
        );
        let mut empty = Batches::new(10);
        assert!(!empty.record(0), "an empty table: one statement");
        assert_eq!(
            empty.outcome(),
            SweepOutcome::Deleted {
                rows: 0,
                batches: 1
            }
        );
    }

    #[test]
    fn spawn_if_due_runs_the_sweep_once_and_frees_the_slot_after_it() {
        let s = schedule(Duration::from_secs(300));
        assert!(!s.spawn_if_due(t(300), || async { Ok(SweepOutcome::Busy) }));
        block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel();
            assert!(!s.spawn_if_due(t(1), || async { Ok(SweepOutcome::Busy) }));
            assert!(s.spawn_if_due(t(300), move || async move {
                let _ = tx.send(());
                Err(Error::new(ErrorKind::Connection, "down"))
            }));
            rx.await.unwrap();
            // The task ends (and frees the slot) right after its future.
            for _ in 0..100 {
                if !s.state.running.load(Ordering::Acquire) {
                    break;
                }
                tokio::task::yield_now().await;
            }
            assert!(s.claim(t(600)).is_some(), "the failed sweep freed the slot");
        });
    }
}
