//! Connections: a small bb8 manager over tiberius (bb8-tiberius pins an older
//! tiberius), statement execution, and the mapping of driver errors onto
//! [`ErrorKind`]s.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::{Error, ErrorKind, Result};
use tiberius::{Client, ColumnData, ToSql};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::statements::Statement;

/// SQL Server's error numbers this crate reacts to.
pub(crate) mod codes {
    /// Violation of a PRIMARY KEY constraint.
    pub(crate) const DUPLICATE_KEY: u32 = 2627;
    /// Cannot insert a duplicate key row (unique index).
    pub(crate) const DUPLICATE_INDEX_KEY: u32 = 2601;
    /// Invalid object name: the table does not exist.
    pub(crate) const INVALID_OBJECT: u32 = 208;
    /// There is already an object named … in the database.
    pub(crate) const OBJECT_EXISTS: u32 = 2714;
    /// Login failed.
    pub(crate) const LOGIN_FAILED: u32 = 18456;
    /// Cannot open the database requested by the login.
    pub(crate) const CANNOT_OPEN_DATABASE: u32 = 4060;
    /// Chosen as a deadlock victim.
    pub(crate) const DEADLOCK: u32 = 1205;
    /// Lock request time out period exceeded.
    pub(crate) const LOCK_TIMEOUT: u32 = 1222;
}

/// Opens connections for the pool; holds the driver configuration, which
/// includes the password, so its `Debug` shows the address only.
pub(crate) struct Manager {
    config: tiberius::Config,
    connect_timeout: Duration,
    failures: FailureSource,
}

/// Where failed connection attempts are announced.
pub(crate) type FailureSource = Arc<watch::Sender<Option<(ErrorKind, String)>>>;

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
            failures: Arc::new(watch::Sender::new(None)),
        }
    }

    /// Tells of every failed connection attempt from now on. bb8 only
    /// reports a failed connect as a timeout once its whole wait is over;
    /// callers race this against the pool to fail at once instead.
    pub(crate) fn failure_source(&self) -> FailureSource {
        Arc::clone(&self.failures)
    }

    /// One connection outside any pool (the `sql-cache` tool, cleanup tests).
    pub(crate) async fn open(&self) -> Result<Conn> {
        let addr = self.config.get_addr();
        match tokio::time::timeout(self.connect_timeout, connect(self.config.clone())).await {
            Ok(Ok(client)) => Ok(Conn {
                client,
                broken: false,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "connecting to {addr} took longer than the connect timeout ({:?})",
                    self.connect_timeout
                ),
            )),
        }
    }
}

async fn connect(mut config: tiberius::Config) -> Result<Client<Compat<TcpStream>>> {
    // Azure SQL may redirect once to another gateway; follow it, but only once.
    for _ in 0..2 {
        let addr = config.get_addr();
        let tcp = TcpStream::connect(&addr).await.map_err(|e| {
            Error::new(ErrorKind::Connection, format!("cannot reach {addr}")).with_source(e)
        })?;
        // Requests are small batches: don't let Nagle hold them back.
        let _ = tcp.set_nodelay(true);
        match Client::connect(config.clone(), tcp.compat_write()).await {
            Ok(client) => return Ok(client),
            Err(tiberius::error::Error::Routing { host, port }) => {
                config.host(host);
                config.port(port);
            }
            Err(e) => return Err(map_error(e, &format!("connecting to {addr}"))),
        }
    }
    Err(Error::new(
        ErrorKind::Connection,
        "the server redirected the connection more than once",
    ))
}

impl bb8::ManageConnection for Manager {
    type Connection = Conn;
    type Error = Error;

    async fn connect(&self) -> Result<Conn> {
        // A failure is announced by bb8 through `FailureSink`, not here: bb8
        // calls the sink only after it has freed the failed attempt's slot,
        // so an operation woken by the announcement can start a new attempt
        // at once instead of waiting out the whole connect timeout.
        self.open().await
    }

    async fn is_valid(&self, conn: &mut Conn) -> Result<()> {
        conn.execute_sql("SELECT 1").await
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.broken
    }
}

/// Receives bb8's reports of failed connection attempts and announces them
/// to waiting operations.
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

/// A subscription to failed connection attempts.
#[derive(Debug)]
pub(crate) struct ConnectFailures(watch::Receiver<Option<(ErrorKind, String)>>);

impl ConnectFailures {
    pub(crate) fn subscribe(source: &FailureSource) -> Self {
        ConnectFailures(source.subscribe())
    }

    /// The next connection failure after the subscription was made.
    pub(crate) async fn next(&mut self) -> Error {
        loop {
            if self.0.changed().await.is_err() {
                // The pool is gone; the caller's pool future decides.
                return std::future::pending().await;
            }
            if let Some((kind, text)) = self.0.borrow_and_update().clone() {
                return Error::new(kind, text);
            }
        }
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

/// The server's error number, if `e` came from the server.
pub(crate) fn server_code(e: &Error) -> Option<u32> {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<tiberius::error::Error>())
        .and_then(tiberius::error::Error::code)
}

/// Driver errors onto kinds: broken transport is `Connection`; a server's
/// refusal of the login or database is `Config` (retrying won't help); a
/// deadlock or lock timeout is a retryable `Backend` error.
pub(crate) fn map_error(e: tiberius::error::Error, context: &str) -> Error {
    use tiberius::error::Error as T;
    let (kind, retryable, what) = match &e {
        T::Io { .. } | T::Tls(_) | T::Protocol(_) | T::Routing { .. } => {
            (ErrorKind::Connection, None, context.to_owned())
        }
        T::Server(token) => match token.code() {
            codes::LOGIN_FAILED => (
                ErrorKind::Config,
                None,
                "the server refused the login (check User Id and Password)".to_owned(),
            ),
            codes::CANNOT_OPEN_DATABASE => (
                ErrorKind::Config,
                None,
                "the server cannot open the database named in the connection string".to_owned(),
            ),
            codes::INVALID_OBJECT => (
                ErrorKind::Config,
                None,
                "the cache table does not exist (create it with `sql-cache create`)".to_owned(),
            ),
            codes::DEADLOCK | codes::LOCK_TIMEOUT => {
                (ErrorKind::Backend, Some(true), context.to_owned())
            }
            _ => (ErrorKind::Backend, None, context.to_owned()),
        },
        _ => (ErrorKind::Backend, None, context.to_owned()),
    };
    let mut err = Error::new(kind, what).with_source(e);
    if let Some(r) = retryable {
        err = err.with_retryable(r);
    }
    err
}

/// bb8's errors onto kinds: a connection error as it was, the pool's own
/// wait as `Timeout`.
pub(crate) fn map_pool_error(e: bb8::RunError<Error>, waited: Duration) -> Error {
    match e {
        bb8::RunError::User(e) => e,
        bb8::RunError::TimedOut => Error::new(
            ErrorKind::Timeout,
            format!("no connection became available within {waited:?}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_connection_errors() {
        let e = map_error(
            tiberius::error::Error::Io {
                kind: std::io::ErrorKind::ConnectionReset,
                message: "reset".into(),
            },
            "get",
        );
        assert_eq!(e.kind(), ErrorKind::Connection);
        assert!(e.is_retryable());
        let e = map_error(tiberius::error::Error::Tls("bad cert".into()), "connect");
        assert_eq!(e.kind(), ErrorKind::Connection);
        assert_eq!(server_code(&e), None);
    }

    #[test]
    fn pool_timeouts_are_timeouts() {
        let e = map_pool_error(bb8::RunError::TimedOut, Duration::from_secs(1));
        assert_eq!(e.kind(), ErrorKind::Timeout);
        let inner = Error::new(ErrorKind::Connection, "refused");
        assert_eq!(
            map_pool_error(bb8::RunError::User(inner), Duration::ZERO).kind(),
            ErrorKind::Connection
        );
    }

    #[tokio::test]
    async fn a_refused_connection_fails_fast_with_connection() {
        // Bind then drop a listener: the port is free and refuses.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let cs = crate::ConnectionString::parse(&format!(
            "Server=tcp:127.0.0.1,{port};User Id=u;Password=hunter2"
        ))
        .unwrap();
        let m = Manager::new(cs.tiberius_config(), Duration::from_secs(5));
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
        let cs = crate::ConnectionString::parse(&format!("Server=tcp:127.0.0.1,{port}")).unwrap();
        let m = Manager::new(cs.tiberius_config(), Duration::from_millis(300));
        let started = std::time::Instant::now();
        let e = m.open().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        assert!(started.elapsed() < Duration::from_secs(3));
        hold.abort();
    }
}
