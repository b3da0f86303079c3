//! Failing fast on pooled connects: [`ConnectFailures`].
//!
//! bb8 lets a caller waiting in `Pool::get` learn that the connect attempt
//! made for it failed only once the caller's whole `connection_timeout` is
//! over, and then only as `TimedOut`. A cache must fail a refused connect
//! at once, with the driver's error (contract rule 15). So the pool is
//! built with `retry_connection(false)` and [`ConnectFailures::sink`] as
//! its error sink, and operations check connections out through
//! [`ConnectFailures::checkout`], which races the pool against the next
//! announced failure.
//!
//! Why the sink and not the manager's `connect`: bb8 calls the sink only
//! after it has released the failed attempt's place in the pool, so a
//! caller woken by the announcement that asks again starts a new attempt at
//! once. (Announcing from `connect` would race with that release: a
//! checkout in between would wait, with no attempt under way, for bb8's
//! timeout.)
//!
//! The error is the manager's own error type, cloned to every waiter, so
//! each gets the real error (its kind, source chain and retryability once
//! the backend maps it), never a copy reduced to text.
//!
//! ```
//! use cache_abstractions::support::connect::{Checkout, ConnectFailures};
//!
//! #[derive(Debug)]
//! struct Manager;
//! impl bb8::ManageConnection for Manager {
//!     type Connection = ();
//!     type Error = std::io::ErrorKind;
//!     async fn connect(&self) -> Result<(), Self::Error> {
//!         Err(std::io::ErrorKind::ConnectionRefused)
//!     }
//!     async fn is_valid(&self, _: &mut ()) -> Result<(), Self::Error> { Ok(()) }
//!     fn has_broken(&self, _: &mut ()) -> bool { false }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let failures = ConnectFailures::new();
//! let pool = bb8::Pool::builder()
//!     .retry_connection(false)
//!     .error_sink(failures.sink())
//!     .connection_timeout(std::time::Duration::from_secs(30))
//!     .build_unchecked(Manager);
//! // Fails at once with the manager's error, not after 30 s.
//! match failures.checkout(&pool).await {
//!     Err(Checkout::Failed(e)) => assert_eq!(e, std::io::ErrorKind::ConnectionRefused),
//!     other => panic!("{:?}", other.map(drop)),
//! };
//! # });
//! ```

use std::fmt;
use std::sync::Arc;

use bb8::{ManageConnection, Pool, PooledConnection, RunError};
use tokio::sync::watch;

/// Where a pool's failed connect attempts are announced; clones share it.
/// The last failure is kept, so a checkout that timed out can say why.
pub struct ConnectFailures<E> {
    tx: Arc<watch::Sender<Option<E>>>,
}

/// Why [`ConnectFailures::checkout`] got no connection.
#[derive(Debug)]
pub enum Checkout<E> {
    /// A connect attempt made while this checkout waited failed with this
    /// error (or bb8 returned it directly).
    Failed(E),
    /// The pool's `connection_timeout` ran out; the last failed attempt,
    /// if any, says why.
    TimedOut {
        /// The most recent connect failure of this pool, if there was one.
        last_failure: Option<E>,
    },
}

impl<E> Clone for ConnectFailures<E> {
    fn clone(&self) -> Self {
        ConnectFailures {
            tx: Arc::clone(&self.tx),
        }
    }
}

impl<E> fmt::Debug for ConnectFailures<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectFailures")
    }
}

impl<E> Default for ConnectFailures<E> {
    fn default() -> Self {
        ConnectFailures {
            tx: Arc::new(watch::Sender::new(None)),
        }
    }
}

impl<E: Clone + Send + Sync + 'static> ConnectFailures<E> {
    /// A broadcast with no failure yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The error sink to give bb8's `Builder::error_sink`.
    pub fn sink(&self) -> Box<dyn bb8::ErrorSink<E>> {
        Box::new(self.clone())
    }

    /// The most recent failure, if any.
    pub fn last(&self) -> Option<E> {
        self.tx.borrow().clone()
    }

    /// A connection from `pool`, or the first connect failure announced
    /// while waiting for one.
    pub async fn checkout<'a, M>(
        &self,
        pool: &'a Pool<M>,
    ) -> Result<PooledConnection<'a, M>, Checkout<E>>
    where
        M: ManageConnection<Error = E>,
    {
        // Subscribe before asking, so the failure of a connect bb8 starts
        // for this checkout is seen.
        let mut rx = self.tx.subscribe();
        rx.mark_unchanged();
        tokio::select! {
            biased;
            got = pool.get() => got.map_err(|e| match e {
                RunError::User(e) => Checkout::Failed(e),
                RunError::TimedOut => Checkout::TimedOut { last_failure: self.last() },
            }),
            e = next_failure(&mut rx) => Err(Checkout::Failed(e)),
        }
    }
}

async fn next_failure<E: Clone>(rx: &mut watch::Receiver<Option<E>>) -> E {
    loop {
        if rx.changed().await.is_err() {
            // Cannot happen while `self` holds the sender; let the pool decide.
            return std::future::pending().await;
        }
        if let Some(e) = rx.borrow_and_update().clone() {
            return e;
        }
    }
}

impl<E: Clone + Send + Sync + 'static> bb8::ErrorSink<E> for ConnectFailures<E> {
    fn sink(&self, error: E) {
        self.tx.send_replace(Some(error));
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<E>> {
        Box::new(self.clone())
    }
}
