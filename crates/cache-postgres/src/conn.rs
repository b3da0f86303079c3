//! Connections: a bb8 manager over tokio-postgres (with rustls), each
//! connection keeping its prepared statements, and the announcement of
//! failed connects so waiting operations fail at once.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cache_abstractions::{Error, ErrorKind, Result};
use tokio::sync::watch;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::connstr::Target;
use crate::error;
use crate::statements::{Op, Statements};

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
        let what = || format!("connecting to {}", self.target.host_label());
        let connect = self.target.pg.connect(self.tls.clone());
        let (client, connection) = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| error::timed_out(&what(), self.connect_timeout))?
            .map_err(|e| error::map(e, &what()))?;
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
        })
    }
}

impl bb8::ManageConnection for Manager {
    type Connection = Conn;
    type Error = Error;

    async fn connect(&self) -> Result<Conn> {
        // A failure reaches waiting operations through `FailureSink`, which
        // bb8 calls after freeing the attempt's slot.
        self.open().await
    }

    async fn is_valid(&self, conn: &mut Conn) -> Result<()> {
        conn.client
            .simple_query("")
            .await
            .map(|_| ())
            .map_err(|e| error::map(e, "checking a pooled connection"))
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.is_closed()
    }
}

/// A connection and the statements prepared on it so far.
pub(crate) struct Conn {
    client: Client,
    prepared: [Option<Statement>; Op::ALL.len()],
    statements: Arc<Statements>,
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

    /// Runs `op` and returns its rows. A failed statement is prepared anew
    /// next time (the table may have been dropped and made again).
    pub(crate) async fn query(
        &mut self,
        op: Op,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let st = self.prepared(op).await?;
        let result = self.client.query(&st, params).await;
        result.map_err(|e| {
            self.prepared[op.index()] = None;
            error::map(e, op_name(op))
        })
    }

    /// Runs `op` and returns the number of rows it changed.
    pub(crate) async fn execute(&mut self, op: Op, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let st = self.prepared(op).await?;
        let result = self.client.execute(&st, params).await;
        result.map_err(|e| {
            self.prepared[op.index()] = None;
            error::map(e, op_name(op))
        })
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

/// Where failed connection attempts are announced.
pub(crate) type FailureSource = Arc<watch::Sender<Option<(ErrorKind, String)>>>;

/// Receives bb8's reports of failed connection attempts and announces them.
#[derive(Clone)]
pub(crate) struct FailureSink(pub(crate) FailureSource);

impl fmt::Debug for FailureSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FailureSink")
    }
}

impl bb8::ErrorSink<Error> for FailureSink {
    fn sink(&self, e: Error) {
        let full = e.to_string();
        let prefix = format!("{}: ", e.kind());
        let text = full.strip_prefix(&prefix).unwrap_or(&full).to_owned();
        self.0.send_replace(Some((e.kind(), text)));
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<Error>> {
        Box::new(self.clone())
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
    failures: FailureSource,
}

impl Pool {
    /// A pool that connects lazily: nothing is opened until first use.
    pub(crate) fn new(manager: Manager, size: u32) -> Pool {
        Pool {
            pool: OnceLock::new(),
            manager,
            size,
            failures: Arc::new(watch::Sender::new(None)),
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
                .error_sink(Box::new(FailureSink(Arc::clone(&self.failures))))
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
        // Subscribe before asking, so a connect bb8 starts for us is seen.
        let mut failures = self.failures.subscribe();
        failures.mark_unchanged();
        let timeout = self.manager.connect_timeout;
        tokio::select! {
            biased;
            r = self.pool().get() => r.map_err(|e| error::pool(e, timeout)),
            e = next_failure(&mut failures) => Err(e),
        }
    }

    /// A connection of its own, outside the pool.
    pub(crate) async fn dedicated(&self) -> Result<Conn> {
        self.manager.open().await
    }
}

async fn next_failure(rx: &mut watch::Receiver<Option<(ErrorKind, String)>>) -> Error {
    loop {
        if rx.changed().await.is_err() {
            // The pool is gone; the pool future decides.
            return std::future::pending().await;
        }
        if let Some((kind, text)) = rx.borrow_and_update().clone() {
            return Error::new(kind, text);
        }
    }
}
