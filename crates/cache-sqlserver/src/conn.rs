//! Connections: [`Connector`] holds the bb8 pool (a small manager over
//! tiberius; bb8-tiberius pins an older tiberius), made on first use so
//! that building a cache does no I/O and needs no runtime; [`Conn`] runs
//! statements.
//!
//! A refused connect fails the operation waiting for it at once (contract
//! rule 15): the pool does not retry connects, and operations check
//! connections out through the shared
//! [`ConnectFailures`](cache_abstractions::support::connect::ConnectFailures),
//! which hands every waiter the real [`ConnectError`] (mapped by
//! [`error::from_connect`]).

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cache_abstractions::support::connect::{Checkout, ConnectFailures};
use cache_abstractions::Result;
use tiberius::{Client, ColumnData, ToSql};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::error::{self, map_error, ConnectError};
use crate::statements::Statement;
use crate::telemetry;

/// Opens connections for the pool; holds the driver configuration, which
/// includes the password, so its `Debug` shows the address only.
pub(crate) struct Manager {
    config: tiberius::Config,
    connect_timeout: Duration,
}

impl fmt::Debug for Manager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Manager")
            .field("addr", &self.config.get_addr())
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Manager {
    pub(crate) fn new(config: tiberius::Config, connect_timeout: Duration) -> Self {
        Manager {
            config,
            connect_timeout,
        }
    }

    /// One connection outside any pool (the `sql-cache` tool, cleanup tests).
    pub(crate) async fn open(&self) -> Result<Conn> {
        self.try_open().await.map_err(error::from_connect)
    }

    async fn try_open(&self) -> Result<Conn, ConnectError> {
        let addr = self.config.get_addr().to_string();
        match tokio::time::timeout(self.connect_timeout, connect(self.config.clone())).await {
            Ok(Ok(client)) => Ok(Conn {
                client,
                broken: false,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(ConnectError::TimedOut {
                addr,
                after: self.connect_timeout,
            }),
        }
    }
}

async fn connect(mut config: tiberius::Config) -> Result<Client<Compat<TcpStream>>, ConnectError> {
    // Azure SQL may redirect once to another gateway; follow it, but only once.
    for _ in 0..2 {
        let addr = config.get_addr().to_string();
        let tcp = match TcpStream::connect(&addr).await {
            Ok(tcp) => tcp,
            Err(e) => {
                return Err(ConnectError::Unreachable {
                    addr,
                    source: Arc::new(e),
                })
            }
        };
        // Requests are small batches: don't let Nagle hold them back.
        let _ = tcp.set_nodelay(true);
        match Client::connect(config.clone(), tcp.compat_write()).await {
            Ok(client) => return Ok(client),
            Err(tiberius::error::Error::Routing { host, port }) => {
                config.host(host);
                config.port(port);
            }
            Err(source) => return Err(ConnectError::Driver { addr, source }),
        }
    }
    Err(ConnectError::Redirected)
}

impl bb8::ManageConnection for Manager {
    type Connection = Conn;
    type Error = ConnectError;

    async fn connect(&self) -> Result<Conn, ConnectError> {
        // A failure is announced by bb8 through the error sink, not here:
        // see `cache_abstractions::support::connect`.
        self.try_open().await
    }

    async fn is_valid(&self, conn: &mut Conn) -> Result<(), ConnectError> {
        let addr = self.config.get_addr().to_string();
        conn.broken = true;
        let result = async {
            conn.client
                .simple_query("SELECT 1")
                .await?
                .into_results()
                .await
        }
        .await;
        match result {
            Ok(_) => {
                conn.broken = false;
                Ok(())
            }
            Err(source) => Err(ConnectError::Driver { addr, source }),
        }
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken
    }
}

/// The pool, made on first use, and its connect failures.
pub(crate) struct Connector {
    config: tiberius::Config,
    pool_size: u32,
    connect_timeout: Duration,
    pool: OnceLock<bb8::Pool<Manager>>,
    failures: ConnectFailures<ConnectError>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("addr", &self.config.get_addr())
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// No I/O: the pool is made by the first operation.
    pub(crate) fn new(config: tiberius::Config, pool_size: u32, connect_timeout: Duration) -> Self {
        Connector {
            config,
            pool_size,
            connect_timeout,
            pool: OnceLock::new(),
            failures: ConnectFailures::new(),
        }
    }

    fn pool(&self) -> &bb8::Pool<Manager> {
        // bb8 spawns its reaper on the current runtime: made here, inside
        // an operation, never in the synchronous `build`.
        self.pool.get_or_init(|| {
            bb8::Pool::builder()
                .max_size(self.pool_size)
                .min_idle(Some(0))
                .connection_timeout(self.connect_timeout)
                // A refused connection fails the operation at once (rule 15)
                // instead of retrying until the timeout.
                .retry_connection(false)
                .error_sink(self.failures.sink())
                // Checking every checkout would double the round trips; a
                // connection cut short is discarded by `has_broken` instead.
                .test_on_check_out(false)
                .build_unchecked(Manager::new(self.config.clone(), self.connect_timeout))
        })
    }

    /// A pooled connection, or the first connect failure while waiting.
    pub(crate) async fn get(&self) -> Result<bb8::PooledConnection<'_, Manager>> {
        let checked_out = telemetry::POOL
            .checkout(
                self.pool_size,
                || self.pool().state(),
                self.failures.checkout(self.pool()),
            )
            .await;
        checked_out.map_err(|e| {
            let error = match e {
                Checkout::Failed(e) => error::from_connect(e),
                Checkout::TimedOut { last_failure } => {
                    error::pool_timeout(self.connect_timeout, last_failure)
                }
            };
            telemetry::POOL.checkout_failed(&error);
            error
        })
    }

    /// A connection of its own, outside the pool's count.
    pub(crate) async fn dedicated(&self) -> Result<Conn> {
        self.pool()
            .dedicated_connection()
            .await
            .map_err(error::from_connect)
    }
}

/// A connection. `broken` is set while a request is in flight and cleared
/// when its answer has been read: a request cut short (an I/O error, a
/// timeout, a dropped future) leaves the connection mid-conversation, and the
/// pool then discards it instead of handing it out again.
pub(crate) struct Conn {
    client: Client<Compat<TcpStream>>,
    broken: bool,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("broken", &self.broken)
            .finish()
    }
}

impl Conn {
    /// Runs a statement that returns no rows the caller needs.
    pub(crate) async fn execute(&mut self, st: &Statement<'_>) -> Result<()> {
        self.rows(st).await.map(|_| ())
    }

    /// Runs a statement and returns the rows of every result set, as cells.
    pub(crate) async fn rows(
        &mut self,
        st: &Statement<'_>,
    ) -> Result<Vec<Vec<ColumnData<'static>>>> {
        let data: Vec<ColumnData<'_>> = st.params.iter().map(|p| p.to_column_data()).collect();
        let params: Vec<&dyn ToSql> = data.iter().map(|d| d as &dyn ToSql).collect();
        self.broken = true;
        let result = async {
            let stream = self.client.query(st.sql, &params).await?;
            stream.into_results().await
        }
        .await;
        self.settle(result.map(|sets| {
            sets.into_iter()
                .flatten()
                .map(|row| row.into_iter().collect())
                .collect()
        }))
    }

    /// Runs plain SQL without parameters (DDL, health checks).
    pub(crate) async fn execute_sql(&mut self, sql: &str) -> Result<()> {
        self.broken = true;
        let result = async { self.client.simple_query(sql).await?.into_results().await }.await;
        self.settle(result.map(|_| ()))
    }

    /// Marks the connection unusable (a session-scoped lock may be held).
    pub(crate) fn discard(&mut self) {
        self.broken = true;
    }

    fn settle<T>(&mut self, result: tiberius::Result<T>) -> Result<T> {
        match result {
            Ok(v) => {
                self.broken = false;
                Ok(v)
            }
            // The server answered with an error: the conversation is intact.
            Err(e @ tiberius::error::Error::Server(_)) => {
                self.broken = false;
                Err(map_error(e, "the statement failed"))
            }
            Err(e) => Err(map_error(e, "the connection failed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_abstractions::ErrorKind;

    fn config(port: u16, extra: &str) -> tiberius::Config {
        crate::ConnectionString::parse(&format!("Server=tcp:127.0.0.1,{port}{extra}"))
            .unwrap()
            .driver_config()
    }

    #[tokio::test]
    async fn a_refused_connection_fails_fast_with_connection() {
        // Bind then drop a listener: the port is free and refuses.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let m = Manager::new(
            config(port, ";User Id=u;Password=hunter2"),
            Duration::from_secs(5),
        );
        let e = m.open().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
        assert!(!format!("{e} {e:?} {m:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn a_silent_server_times_out_within_the_connect_timeout() {
        // Accepts TCP but never answers the TDS prelogin.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let m = Manager::new(config(port, ""), Duration::from_millis(300));
        let started = std::time::Instant::now();
        let e = m.open().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        assert!(started.elapsed() < Duration::from_secs(3));
        hold.abort();
    }
}
