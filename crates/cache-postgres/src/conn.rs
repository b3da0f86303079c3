//! Connections: a bb8 manager over tokio-postgres (with rustls), each
//! connection keeping its prepared statements, and the announcement of
//! failed connects so waiting operations fail at once.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cache_abstractions::support::connect::{Checkout, ConnectFailures};
use cache_abstractions::Result;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::connstr::Target;
use crate::error::{self, ConnectError};
use crate::statements::{Op, Statements};
use crate::telemetry;

/// Opens connections; holds the driver settings (with the password), so its
/// `Debug` shows the redacted target only.
#[derive(Clone)]
pub(crate) struct Manager {
    target: Target,
    tls: MakeRustlsConnect,
    connect_timeout: Duration,
    statements: Arc<Statements>,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("server", &self.target.redacted)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Manager {
    pub(crate) fn new(
        target: Target,
        tls: MakeRustlsConnect,
        connect_timeout: Duration,
        statements: Arc<Statements>,
    ) -> Manager {
        Manager {
            target,
            tls,
            connect_timeout,
            statements,
        }
    }

    /// One connection outside any pool (the sweep, the tool).
    pub(crate) async fn open(&self) -> Result<Conn> {
        self.try_open().await.map_err(error::from_connect)
    }

    async fn try_open(&self) -> std::result::Result<Conn, ConnectError> {
        let what = || format!("connecting to {}", self.target.host_label());
        let connect = self.target.pg.connect(self.tls.clone());
        let (client, connection) = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| ConnectError::TimedOut {
                what: what(),
                after: self.connect_timeout,
            })?
            .map_err(|e| ConnectError::driver(e, what()))?;
        // The connection object does the I/O; it ends when the server or
        // the client closes, which `Client::is_closed` then reports.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "cache-postgres: connection ended");
            }
        });
        Ok(Conn {
            client,
            prepared: Default::default(),
            statements: Arc::clone(&self.statements),
            in_flight: false,
            tls: self.tls.clone(),
        })
    }
}

impl bb8::ManageConnection for Manager {
    type Connection = Conn;
    type Error = ConnectError;

    async fn connect(&self) -> std::result::Result<Conn, ConnectError> {
        // A failure reaches waiting operations through bb8's error sink
        // (see `cache_abstractions::support::connect`).
        self.try_open().await
    }

    async fn is_valid(&self, conn: &mut Conn) -> std::result::Result<(), ConnectError> {
        conn.client
            .simple_query("")
            .await
            .map(|_| ())
            .map_err(|e| ConnectError::driver(e, "checking a pooled connection".to_owned()))
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.in_flight || conn.client.is_closed()
    }
}

/// A connection and the statements prepared on it so far.
pub(crate) struct Conn {
    client: Client,
    prepared: [Option<Statement>; Op::ALL.len()],
    statements: Arc<Statements>,
    /// Set while a statement of the cache runs. A statement cut short (its
    /// timeout, a dropped future) may still be running on the server, and
    /// the next user of the connection would wait behind it: such a
    /// connection is discarded (closing it ends the statement) rather than
    /// returned to the pool.
    in_flight: bool,
    /// For cancel requests, which go over a connection of their own.
    tls: MakeRustlsConnect,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("closed", &self.client.is_closed())
            .finish_non_exhaustive()
    }
}

impl Conn {
    /// Whether the server or the network ended this connection.
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    async fn prepared(&mut self, op: Op) -> Result<Statement> {
        if let Some(st) = &self.prepared[op.index()] {
            return Ok(st.clone());
        }
        let st = self
            .client
            .prepare_typed(self.statements.sql(op), op.types())
            .await
            .map_err(|e| error::map(e, "preparing a statement"))?;
        self.prepared[op.index()] = Some(st.clone());
        Ok(st)
    }

    /// Runs `op` within `limit` and returns its rows. A failed statement is
    /// prepared anew next time (the table may have been dropped and made
    /// again).
    pub(crate) async fn query(
        &mut self,
        op: Op,
        params: &[&(dyn ToSql + Sync)],
        limit: Duration,
    ) -> Result<Vec<Row>> {
        let st = self.start(op).await?;
        let run = tokio::time::timeout(limit, self.client.query(&st, params)).await;
        self.finish(op, run, limit)
    }

    /// Runs `op` within `limit` and returns the number of rows it changed.
    pub(crate) async fn execute(
        &mut self,
        op: Op,
        params: &[&(dyn ToSql + Sync)],
        limit: Duration,
    ) -> Result<u64> {
        let st = self.start(op).await?;
        let run = tokio::time::timeout(limit, self.client.execute(&st, params)).await;
        self.finish(op, run, limit)
    }

    async fn start(&mut self, op: Op) -> Result<Statement> {
        self.in_flight = true;
        let st = self.prepared(op).await;
        if st.is_err() {
            self.in_flight = false;
        }
        st
    }

    /// The statement's outcome. One that ran out of time is cancelled on
    /// the server and its connection discarded (`in_flight` stays set).
    fn finish<T>(
        &mut self,
        op: Op,
        run: std::result::Result<
            std::result::Result<T, tokio_postgres::Error>,
            tokio::time::error::Elapsed,
        >,
        limit: Duration,
    ) -> Result<T> {
        match run {
            Ok(result) => {
                self.in_flight = false;
                result.map_err(|e| {
                    self.prepared[op.index()] = None;
                    error::map(e, op_name(op))
                })
            }
            Err(_) => {
                self.cancel();
                Err(error::timed_out(op_name(op), limit))
            }
        }
    }

    /// Asks the server to cancel whatever this connection runs, in the
    /// background (a statement blocked on a lock would otherwise run on
    /// after its connection is closed).
    fn cancel(&self) {
        let token = self.client.cancel_token();
        let tls = self.tls.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = token.cancel_query(tls).await {
                    tracing::debug!(error = %e, "cache-postgres: cancelling a timed-out statement failed");
                }
            });
        }
    }

    /// Runs SQL outside the cache's own statements (sweep, schema).
    pub(crate) async fn query_sql(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        context: &str,
    ) -> Result<Vec<Row>> {
        self.client
            .query(sql, params)
            .await
            .map_err(|e| error::map(e, context))
    }

    /// Runs SQL and returns the rows it changed.
    pub(crate) async fn execute_sql(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        context: &str,
    ) -> Result<u64> {
        self.client
            .execute(sql, params)
            .await
            .map_err(|e| error::map(e, context))
    }

    /// Runs several statements without parameters (DDL).
    pub(crate) async fn batch(&mut self, sql: &str, context: &str) -> Result<()> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| error::map(e, context))
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Get => "get",
        Op::Refresh => "refresh",
        Op::Set => "set",
        Op::Remove => "remove",
        Op::Inspect => "inspect",
    }
}

/// The pool and the failures of its connects. bb8 starts a reaper task
/// when a pool is made, which needs a runtime, so the pool is made on first
/// use: building the cache stays synchronous and free of I/O.
#[derive(Debug)]
pub(crate) struct Pool {
    pool: OnceLock<bb8::Pool<Manager>>,
    manager: Manager,
    size: u32,
    failures: ConnectFailures<ConnectError>,
}

impl Pool {
    /// A pool that connects lazily: nothing is opened until first use.
    pub(crate) fn new(manager: Manager, size: u32) -> Pool {
        Pool {
            pool: OnceLock::new(),
            manager,
            size,
            failures: ConnectFailures::new(),
        }
    }

    fn pool(&self) -> &bb8::Pool<Manager> {
        self.pool.get_or_init(|| {
            bb8::Pool::builder()
                .max_size(self.size)
                .min_idle(Some(0))
                .connection_timeout(self.manager.connect_timeout)
                // A refused connect fails the operation at once (rule 15)
                // instead of being retried until the timeout.
                .retry_connection(false)
                .error_sink(self.failures.sink())
                // A closed connection is skipped by `get` below; checking
                // every checkout with a round trip would double the latency.
                .test_on_check_out(false)
                .build_unchecked(self.manager.clone())
        })
    }

    /// A pooled connection that is not known to be closed. A connect that
    /// fails while we wait ends the wait at once with its error.
    pub(crate) async fn get(&self) -> Result<bb8::PooledConnection<'_, Manager>> {
        // Idle connections the server closed (restart, pg_terminate_backend)
        // are dropped here; bb8 discards them as broken. Bounded: at most
        // every idle connection, then a fresh one.
        for _ in 0..=self.pool().state().connections {
            let conn = self.checkout().await?;
            if !conn.is_closed() {
                return Ok(conn);
            }
        }
        self.checkout().await
    }

    async fn checkout(&self) -> Result<bb8::PooledConnection<'_, Manager>> {
        let checked_out = telemetry::POOL
            .checkout(
                self.size,
                || self.pool().state(),
                self.failures.checkout(self.pool()),
            )
            .await;
        checked_out.map_err(|e| {
            let error = match e {
                Checkout::Failed(e) => error::from_connect(e),
                Checkout::TimedOut { last_failure } => {
                    error::pool_timeout(self.manager.connect_timeout, last_failure)
                }
            };
            telemetry::POOL.checkout_failed(&error);
            error
        })
    }

    /// A connection of its own, outside the pool.
    pub(crate) async fn dedicated(&self) -> Result<Conn> {
        self.manager.open().await
    }
}
