//! Per-key single flight: at most one computation per key at a time.
//!
//! A computation runs on a task of its own, so the caller that started it
//! may be cancelled (its future dropped) without cancelling the work: every
//! other caller keeps waiting on the same shared result, and nobody has to
//! take over or start again. The map entry is removed by a guard that the
//! task owns, so it goes away however the task ends (value, error, panic,
//! abort), and the next caller starts afresh: no hang, no lost wake-up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use cache_abstractions::{Error, ErrorKind, Result};
use futures::future::{BoxFuture, FutureExt, Shared};

use crate::format::Payload;
use crate::outcome::{FactoryError, Source};

/// A computation's result, shared by every caller that waited for it.
#[derive(Debug)]
pub(crate) struct Done {
    /// The payload in its local form (uncompressed).
    pub payload: Payload,
    pub source: Source,
    pub stale: bool,
}

/// A failure, shared by every waiting caller; each gets its own [`Error`].
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    kind: ErrorKind,
    message: Arc<str>,
    factory: Option<FactoryError>,
}

impl Failure {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<Arc<str>>) -> Self {
        Failure {
            kind,
            message: message.into(),
            factory: None,
        }
    }

    pub(crate) fn factory(error: FactoryError) -> Self {
        Failure {
            kind: ErrorKind::Backend,
            message: "the factory failed".into(),
            factory: Some(error),
        }
    }

    pub(crate) fn to_error(&self) -> Error {
        let e = Error::new(self.kind, self.message.to_string());
        match &self.factory {
            Some(f) => e.with_source(f.clone()),
            None => e,
        }
    }
}

pub(crate) type Outcome = std::result::Result<Arc<Done>, Failure>;
pub(crate) type Waiter = Shared<BoxFuture<'static, Outcome>>;

#[derive(Debug, Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, Running>>,
    next_id: AtomicU64,
}

#[derive(Debug)]
struct Running {
    id: u64,
    waiter: Waiter,
}

impl Flights {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Running>> {
        // Nothing panics while holding the lock; a poisoned map is still consistent.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a computation for `key` is running.
    pub(crate) fn is_running(&self, key: &str) -> bool {
        self.lock().contains_key(key)
    }

    /// The running computation for `key`, or a new one: `start` gets the
    /// guard that removes the entry when dropped, and returns the work,
    /// which is spawned. Returns the waiter and whether this call started it.
    pub(crate) fn join_or_start(
        self: &Arc<Self>,
        key: &str,
        start: impl FnOnce(FlightGuard) -> BoxFuture<'static, Outcome>,
    ) -> Result<(Waiter, bool)> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::config(
                "HybridCache computes values on tokio tasks: call it inside a tokio runtime",
            )
        })?;
        let mut map = self.lock();
        if let Some(running) = map.get(key) {
            return Ok((running.waiter.clone(), false));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let guard = FlightGuard {
            flights: Arc::clone(self),
            key: key.to_owned(),
            id,
        };
        // The task can't remove its entry before it is inserted: removal
        // takes this lock, which is held until the insert below.
        let task = runtime.spawn(start(guard));
        let waiter = async move {
            task.await.unwrap_or_else(|e| {
                Err(Failure::new(
                    ErrorKind::Backend,
                    format!("the cache's computation ended abnormally: {e}"),
                ))
            })
        }
        .boxed()
        .shared();
        map.insert(
            key.to_owned(),
            Running {
                id,
                waiter: waiter.clone(),
            },
        );
        Ok((waiter, true))
    }
}

/// Removes its flight from the map when dropped, if it is still the one there.
#[derive(Debug)]
pub(crate) struct FlightGuard {
    flights: Arc<Flights>,
    key: String,
    id: u64,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut map = self.flights.lock();
        if map.get(&self.key).is_some_and(|r| r.id == self.id) {
            map.remove(&self.key);
        }
    }
}
