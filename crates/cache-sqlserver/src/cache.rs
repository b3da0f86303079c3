//! [`SqlServerCache`]: the [`DistributedCache`] over a `dotnet sql-cache` table.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use cache_abstractions::{
    Capabilities, Clock, DistributedCache, EntryInfo, EntryOptions, Error, KeyLimit, Result,
    SystemClock, MAX_SLIDING_EXPIRATION,
};

use crate::cleanup::{self, with_timeout, CleanupOutcome, Schedule};
use crate::connstr::ConnectionString;
use crate::decode;
use crate::ident::TableName;
use crate::keys::{self, StoredIds};
use crate::pool::{self, codes, Manager};
use crate::sqltime::SqlInstant;
use crate::statements::{NewRow, Statement, Statements, COLLISION_ERROR};
use tiberius::ColumnData;

/// The longest key in UTF-16 code units: `Id nvarchar(449)`.
pub const MAX_KEY_UNITS: usize = 449;
/// .NET's `DefaultSlidingExpiration`.
pub const DEFAULT_SLIDING_EXPIRATION: Duration = Duration::from_secs(20 * 60);
/// .NET's default `ExpiredItemsDeletionInterval`.
pub const DEFAULT_DELETION_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// .NET's minimum `ExpiredItemsDeletionInterval`.
pub const MIN_DELETION_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Rows per cleanup `DELETE`, well below lock escalation (5000 locks).
pub const DEFAULT_CLEANUP_BATCH_SIZE: u32 = 1000;
const MAX_CLEANUP_BATCH_SIZE: u32 = 4000;
const DEFAULT_POOL_SIZE: u32 = 10;
/// ADO.NET's default `CommandTimeout`.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A [`DistributedCache`] over a SQL Server table made by
/// `dotnet sql-cache create` (or this crate's `sql-cache create`), sharing
/// entries both ways with ASP.NET Core's `SqlServerCache`.
///
/// Each operation is one round trip on a pooled connection: `get` slides the
/// window and reads the value in one batch; `set` is `UPDATE` then, when no
/// row matched, `INSERT`, in one batch.
///
/// ```no_run
/// use cache_abstractions::{DistributedCache, EntryOptions};
/// use cache_sqlserver::SqlServerCache;
/// use std::time::Duration;
///
/// # async fn run() -> cache_abstractions::Result<()> {
/// let cache = SqlServerCache::builder()
///     .connection_string("Server=tcp:db,1433;Database=app;User Id=svc;Password=…;TrustServerCertificate=true")
///     .schema("dbo")
///     .table("Cache")
///     .default_sliding_expiration(Duration::from_secs(600))
///     .build()
///     .await?;
/// cache.set("greeting", "hello".into(), &EntryOptions::new()).await?;
/// assert_eq!(cache.get("greeting").await?.as_deref(), Some(&b"hello"[..]));
/// # Ok(())
/// # }
/// ```
///
/// # Keys
///
/// Keys are stored whole or refused: longer than 449 UTF-16 code units is
/// [`ErrorKind::InvalidKey`](cache_abstractions::ErrorKind::InvalidKey)
/// before any I/O. The key column's collation calls some distinct strings
/// equal (`"k"` and `"k "`, `"ß"` and `"ss"`, `"é"` precomposed or not,
/// full-width letters); a key is stored under its own text, so ASP.NET Core
/// apps share it, unless a *different* key the collation equates already
/// holds that row; then it is stored under an escaped `Id` only this crate
/// reads. Rows are matched byte for byte, so one key is never answered with
/// another key's value.
#[derive(Clone)]
pub struct SqlServerCache {
    inner: Arc<Inner>,
}

struct Inner {
    pool: bb8::Pool<Manager>,
    /// Failed connects, to fail a waiting operation at once.
    failures: pool::FailureSource,
    statements: Statements,
    table: TableName,
    server: String,
    clock: Arc<dyn Clock>,
    capabilities: Capabilities,
    connect_timeout: Duration,
    command_timeout: Duration,
    cleanup_batch_size: u32,
    schedule: Option<Schedule>,
}

impl fmt::Debug for SqlServerCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection string is shown without its password.
        f.debug_struct("SqlServerCache")
            .field("server", &self.inner.server)
            .field("table", &self.inner.table.quoted())
            .field("default_options", &self.inner.capabilities.default_options)
            .field("command_timeout", &self.inner.command_timeout)
            .finish_non_exhaustive()
    }
}

impl SqlServerCache {
    /// A builder; only the connection string and table are required.
    pub fn builder() -> SqlServerCacheBuilder {
        SqlServerCacheBuilder::default()
    }

    /// A cache with every other option at its default.
    pub async fn connect(connection_string: &str, schema: &str, table: &str) -> Result<Self> {
        SqlServerCache::builder()
            .connection_string(connection_string)
            .schema(schema)
            .table(table)
            .build()
            .await
    }

    /// The table this cache uses.
    pub fn table(&self) -> &TableName {
        &self.inner.table
    }

    /// Deletes expired rows now, in batches, unless another instance is
    /// doing so. The cache also does this by itself in the background, at
    /// most once per `expired_items_deletion_interval`.
    ///
    /// It runs on a connection of its own, outside the pool, so a long
    /// cleanup never holds up the cache's operations.
    pub async fn delete_expired_items(&self) -> Result<CleanupOutcome> {
        let mut conn = self.inner.pool.dedicated_connection().await?;
        cleanup::run(
            &mut conn,
            &self.inner.statements,
            self.inner.clock.now(),
            self.inner.cleanup_batch_size,
            self.inner.command_timeout,
        )
        .await
    }

    /// Rule 5, before any I/O: not empty, at most 449 UTF-16 units; then
    /// the `Id`s the key may be stored under.
    fn check_key<'k>(&self, key: &'k str) -> Result<StoredIds<'k>> {
        self.inner.capabilities.validate_key(key)?;
        keys::stored_ids(key)
    }

    fn now(&self) -> Result<(SystemTime, SqlInstant)> {
        let now = self.inner.clock.now();
        let at = SqlInstant::from_system_time(now)
            .map_err(|_| Error::config("the clock reads a time SQL Server cannot store"))?;
        Ok((now, at))
    }

    async fn conn(&self) -> Result<bb8::PooledConnection<'_, Manager>> {
        // Subscribe before asking, so a connect bb8 starts for us is seen.
        let mut failures = pool::ConnectFailures::subscribe(&self.inner.failures);
        tokio::select! {
            biased;
            r = self.inner.pool.get() => {
                r.map_err(|e| pool::map_pool_error(e, self.inner.connect_timeout))
            }
            e = failures.next() => Err(e),
        }
    }

    /// Starts a background cleanup when one is due; never waits for it.
    fn maybe_cleanup(&self, now: SystemTime) {
        let Some(schedule) = &self.inner.schedule else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !schedule.claim(now) {
            return;
        }
        let cache = self.clone();
        runtime.spawn(async move {
            // Ends the run even if the task is cancelled or panics.
            let _finish = Finish(cache.clone());
            match cache.delete_expired_items().await {
                Ok(CleanupOutcome::Deleted { rows, batches }) => tracing::debug!(
                    table = %cache.inner.table, rows, batches,
                    "cache-sqlserver: deleted expired rows"
                ),
                Ok(CleanupOutcome::Busy) => tracing::debug!(
                    table = %cache.inner.table,
                    "cache-sqlserver: another instance is deleting expired rows"
                ),
                Err(e) => tracing::warn!(
                    table = %cache.inner.table, error = %e,
                    "cache-sqlserver: deleting expired rows failed; will retry after the next interval"
                ),
            }
        });
    }

    /// Runs the statement `build` makes on a pooled connection, within the
    /// command timeout. `build` gets the clock's time read once the
    /// connection is in hand: `@UtcNow` is the time of the statement, not of
    /// the wait for a connection. A deadlock victim's batch was rolled back
    /// whole, so it is run once more before the error is reported. When
    /// the statement succeeds, a due background cleanup is started.
    async fn query<'a, F>(&'a self, build: F) -> Result<Vec<Vec<ColumnData<'static>>>>
    where
        F: Fn(SystemTime, SqlInstant) -> Result<Statement<'a>> + Send,
    {
        let mut retried = false;
        loop {
            let mut conn = self.conn().await?;
            let (now, at) = self.now()?;
            let st = build(now, at)?;
            match with_timeout(self.inner.command_timeout, conn.rows(&st)).await {
                Err(e) if !retried && pool::server_code(&e) == Some(codes::DEADLOCK) => {
                    retried = true;
                }
                Ok(rows) => {
                    drop(conn);
                    self.maybe_cleanup(now);
                    return Ok(rows);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[async_trait]
impl DistributedCache for SqlServerCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let ids = self.check_key(key)?;
        self.now()?;
        let rows = self
            .query(|_, at| Ok(self.inner.statements.get(&ids, at)))
            .await?;
        match one_row(rows)? {
            None => Ok(None),
            Some(cells) => Ok(Some(decode::entry(cells)?.value)),
        }
    }

    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        let ids = self.check_key(key)?;
        let (now, _) = self.now()?;
        let options = if options.is_empty() {
            &self.inner.capabilities.default_options
        } else {
            options
        };
        // Validated before any I/O; resolved again once a connection is in
        // hand, so a slow connect does not eat into the entry's lifetime.
        let expiry = options.resolve(now)?;
        NewRow::new(&expiry, now)?;
        self.inner.capabilities.validate_value(value.len())?;
        let value = &value;
        let statement = |now: SystemTime, _| {
            // An absolute instant that passed while connecting: write the
            // row as first resolved; it is dead either way.
            let expiry = options.resolve(now).unwrap_or(expiry);
            let row = NewRow::new(&expiry, now)?;
            Ok(self.inner.statements.set(&ids, value, &row))
        };
        // A duplicate key means another writer inserted between our UPDATE
        // and INSERT: run the batch again, which now updates that row (the
        // same key) or picks the escaped Id (a key the collation equates).
        let mut last = None;
        for _ in 0..2 {
            match self.query(statement).await {
                Ok(_) => return Ok(()),
                Err(e) if is_duplicate_key(&e) => last = Some(e),
                Err(e) if pool::server_code(&e) == Some(COLLISION_ERROR) => {
                    return Err(collision(e));
                }
                Err(e) => return Err(e),
            }
        }
        // Still racing after a retry: the key's row exists (a writer of the
        // same key won, as in .NET) or it cannot be stored at all.
        let rows = self
            .query(|_, _| Ok(self.inner.statements.exists(&ids)))
            .await?;
        match one_row(rows)?.map(decode::count).transpose()? {
            Some(n) if n > 0 => Ok(()),
            _ => Err(match last {
                Some(e) => collision(e),
                None => Error::invalid_key("the key could not be stored"),
            }),
        }
    }

    async fn refresh(&self, key: &str) -> Result<()> {
        let ids = self.check_key(key)?;
        self.now()?;
        self.query(|_, at| Ok(self.inner.statements.refresh(&ids, at)))
            .await?;
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<()> {
        let ids = self.check_key(key)?;
        self.query(|_, _| Ok(self.inner.statements.remove(&ids)))
            .await?;
        Ok(())
    }

    async fn inspect(&self, key: &str) -> Result<Option<EntryInfo>> {
        let ids = self.check_key(key)?;
        self.now()?;
        let rows = self
            .query(|_, at| Ok(self.inner.statements.inspect(&ids, at)))
            .await?;
        one_row(rows)?.map(decode::info).transpose()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities.clone()
    }
}

fn is_duplicate_key(e: &Error) -> bool {
    matches!(
        pool::server_code(e),
        Some(codes::DUPLICATE_KEY | codes::DUPLICATE_INDEX_KEY)
    )
}

fn collision(source: Error) -> Error {
    Error::invalid_key(
        "the table's collation equates this key with another stored key, \
         and it cannot be stored under an escaped Id",
    )
    .with_source(source)
}

/// Marks the background cleanup run as over when dropped.
struct Finish(SqlServerCache);

impl Drop for Finish {
    fn drop(&mut self) {
        if let Some(s) = &self.0.inner.schedule {
            s.finish();
        }
    }
}

/// At most one row: the key is the primary key.
fn one_row<T>(rows: Vec<T>) -> Result<Option<T>> {
    let n = rows.len();
    let mut rows = rows.into_iter();
    match (rows.next(), n) {
        (None, _) => Ok(None),
        (Some(row), 1) => Ok(Some(row)),
        (Some(_), n) => Err(Error::corrupt(format!(
            "{n} rows match one key; is the table's primary key missing?"
        ))),
    }
}

/// Builds a [`SqlServerCache`]; every option is validated by
/// [`build`](Self::build), which does not connect (the first operation does,
/// so an app can start while the database is still coming up).
#[derive(Clone, Default)]
#[must_use]
pub struct SqlServerCacheBuilder {
    connection_string: Option<String>,
    connection: Option<ConnectionString>,
    schema: Option<String>,
    table: Option<String>,
    default_sliding_expiration: Option<Duration>,
    expired_items_deletion_interval: Option<Duration>,
    background_cleanup: Option<bool>,
    cleanup_batch_size: Option<u32>,
    pool_size: Option<u32>,
    connect_timeout: Option<Duration>,
    command_timeout: Option<Duration>,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for SqlServerCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Parsing here would hide the raw string's problems; just hide it.
        f.debug_struct("SqlServerCacheBuilder")
            .field(
                "connection_string",
                &self.connection_string.as_ref().map(|_| "<hidden>"),
            )
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field(
                "default_sliding_expiration",
                &self.default_sliding_expiration,
            )
            .field(
                "expired_items_deletion_interval",
                &self.expired_items_deletion_interval,
            )
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

impl SqlServerCacheBuilder {
    /// The ADO.NET connection string (or a `sqlserver://` URL). Required.
    pub fn connection_string(mut self, s: &str) -> Self {
        self.connection_string = Some(s.to_owned());
        self.connection = None;
        self
    }

    /// An already parsed connection string (replaces
    /// [`connection_string`](Self::connection_string)).
    pub fn connection(mut self, cs: ConnectionString) -> Self {
        self.connection = Some(cs);
        self.connection_string = None;
        self
    }

    /// The table's schema (default `dbo`).
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = Some(schema.to_owned());
        self
    }

    /// The table's name. Required.
    pub fn table(mut self, table: &str) -> Self {
        self.table = Some(table.to_owned());
        self
    }

    /// The sliding window of entries set with empty options (default 20 min,
    /// as .NET's `DefaultSlidingExpiration`).
    pub fn default_sliding_expiration(mut self, d: Duration) -> Self {
        self.default_sliding_expiration = Some(d);
        self
    }

    /// How often expired rows are deleted (default 30 min, at least 5 min).
    pub fn expired_items_deletion_interval(mut self, d: Duration) -> Self {
        self.expired_items_deletion_interval = Some(d);
        self
    }

    /// Whether this instance deletes expired rows in the background (default
    /// true). Turn it off when another process does the cleanup.
    pub fn background_cleanup(mut self, on: bool) -> Self {
        self.background_cleanup = Some(on);
        self
    }

    /// Rows per cleanup `DELETE` (default 1000, at most 4000).
    pub fn cleanup_batch_size(mut self, rows: u32) -> Self {
        self.cleanup_batch_size = Some(rows);
        self
    }

    /// The most connections held open (default 10).
    pub fn pool_size(mut self, n: u32) -> Self {
        self.pool_size = Some(n);
        self
    }

    /// How long opening a connection may take (default: the connection
    /// string's `Connect Timeout`, else 15 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d);
        self
    }

    /// How long one statement may take (default 30 s).
    pub fn command_timeout(mut self, d: Duration) -> Self {
        self.command_timeout = Some(d);
        self
    }

    /// The clock `@UtcNow` is read from (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Validates the options and makes the cache, without connecting.
    /// Errors are [`ErrorKind::Config`](cache_abstractions::ErrorKind::Config) naming the option.
    pub async fn build(self) -> Result<SqlServerCache> {
        let settings = self.validate()?;
        let manager = Manager::new(
            settings.connection.tiberius_config(),
            settings.connect_timeout,
        );
        let failures = manager.failure_source();
        let pool = bb8::Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(0))
            .connection_timeout(settings.connect_timeout)
            // A refused connection fails the operation at once (rule 15)
            // instead of retrying until the timeout.
            .retry_connection(false)
            .error_sink(Box::new(pool::FailureSink(Arc::clone(&failures))))
            // Checking every checkout would double the round trips; a
            // connection cut short is discarded by `has_broken` instead.
            .test_on_check_out(false)
            .build_unchecked(manager);
        let now = settings.clock.now();
        Ok(SqlServerCache {
            inner: Arc::new(Inner {
                pool,
                failures,
                statements: Statements::new(&settings.table),
                server: settings.connection.redacted(),
                table: settings.table,
                capabilities: Capabilities::new()
                    .with_max_key_length(KeyLimit::Utf16Units(MAX_KEY_UNITS))
                    .with_max_value_size(Some(i32::MAX as usize))
                    .with_expiry_granularity(Duration::from_secs(1))
                    .with_default_options(EntryOptions::new().sliding(settings.default_sliding))
                    .with_shared(true),
                clock: settings.clock,
                connect_timeout: settings.connect_timeout,
                command_timeout: settings.command_timeout,
                cleanup_batch_size: settings.cleanup_batch_size,
                schedule: settings
                    .background_cleanup
                    .then(|| Schedule::new(settings.deletion_interval, now)),
            }),
        })
    }

    fn validate(self) -> Result<Settings> {
        let connection = match (self.connection, self.connection_string) {
            (Some(cs), _) => cs,
            (None, Some(raw)) => ConnectionString::parse(&raw)?,
            (None, None) => return Err(Error::config("connection_string is required")),
        };
        let table = TableName::new(
            self.schema.as_deref().unwrap_or("dbo"),
            self.table
                .as_deref()
                .ok_or_else(|| Error::config("table is required"))?,
        )?;
        let default_sliding = self
            .default_sliding_expiration
            .unwrap_or(DEFAULT_SLIDING_EXPIRATION);
        if default_sliding.is_zero() || default_sliding > MAX_SLIDING_EXPIRATION {
            return Err(Error::config(
                "default_sliding_expiration must be more than zero and at most 2147483647 seconds",
            ));
        }
        let deletion_interval = self
            .expired_items_deletion_interval
            .unwrap_or(DEFAULT_DELETION_INTERVAL);
        if deletion_interval < MIN_DELETION_INTERVAL {
            return Err(Error::config(format!(
                "expired_items_deletion_interval must be at least {MIN_DELETION_INTERVAL:?} (got {deletion_interval:?})"
            )));
        }
        let cleanup_batch_size = self
            .cleanup_batch_size
            .unwrap_or(DEFAULT_CLEANUP_BATCH_SIZE);
        if !(1..=MAX_CLEANUP_BATCH_SIZE).contains(&cleanup_batch_size) {
            return Err(Error::config(format!(
                "cleanup_batch_size must be 1 ..= {MAX_CLEANUP_BATCH_SIZE}"
            )));
        }
        let pool_size = self.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
        if pool_size == 0 {
            return Err(Error::config("pool_size must be at least 1"));
        }
        let connect_timeout = self.connect_timeout.unwrap_or(connection.connect_timeout());
        let command_timeout = self.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT);
        for (name, d) in [
            ("connect_timeout", connect_timeout),
            ("command_timeout", command_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::config(format!("{name} must be more than zero")));
            }
        }
        Ok(Settings {
            connection,
            table,
            default_sliding,
            deletion_interval,
            background_cleanup: self.background_cleanup.unwrap_or(true),
            cleanup_batch_size,
            pool_size,
            connect_timeout,
            command_timeout,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
        })
    }
}

struct Settings {
    connection: ConnectionString,
    table: TableName,
    default_sliding: Duration,
    deletion_interval: Duration,
    background_cleanup: bool,
    cleanup_batch_size: u32,
    pool_size: u32,
    connect_timeout: Duration,
    command_timeout: Duration,
    clock: Arc<dyn Clock>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_abstractions::ErrorKind;

    #[test]
    fn at_most_one_row_per_key() {
        assert_eq!(one_row(Vec::<u8>::new()).unwrap(), None);
        assert_eq!(one_row(vec![7]).unwrap(), Some(7));
        let e = one_row(vec![1, 2]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CorruptEntry);
    }
}
