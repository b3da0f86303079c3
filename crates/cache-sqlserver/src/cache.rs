//! [`SqlServerCache`]: the [`DistributedCache`] over a `dotnet sql-cache` table.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use cache_abstractions::{
    Capabilities, Clock, DistributedCache, EntryInfo, EntryOptions, Error, KeyLimit, Result,
};

use cache_abstractions::support::expiry::SetExpiry;
use cache_abstractions::support::statement::{at_most_one as one_row, within as with_timeout};
use cache_abstractions::support::sweep::Schedule;

use crate::cleanup::{self, CleanupOutcome};
use crate::config::Config;
use crate::conn::{Connector, Manager};
use crate::error::{codes, server_code};
use crate::format;
use crate::ident::TableName;
use crate::keys::{self, StoredIds};
use crate::sqltime::SqlInstant;
use crate::statements::{NewRow, Statement, Statements, COLLISION_ERROR};
use tiberius::ColumnData;

/// The longest key in UTF-16 code units: `Id nvarchar(449)`.
pub const MAX_KEY_UNITS: usize = 449;
pub use cache_abstractions::support::settings::{
    DEFAULT_SLIDING_EXPIRATION, DEFAULT_SWEEP_BATCH_SIZE as DEFAULT_CLEANUP_BATCH_SIZE,
    DEFAULT_SWEEP_INTERVAL as DEFAULT_DELETION_INTERVAL,
    MIN_SWEEP_INTERVAL as MIN_DELETION_INTERVAL,
};

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
///     .build()?; // no I/O: the first operation connects
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
    conn: Connector,
    statements: Statements,
    table: TableName,
    server: String,
    clock: Arc<dyn Clock>,
    capabilities: Capabilities,
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

impl Inner {
    fn new(config: Config, conn: Connector) -> Inner {
        let schedule = config.background_cleanup.then(|| {
            let now = config.clock.now();
            Schedule::new(
                config.deletion_interval,
                now,
                "cache-sqlserver",
                &config.table,
            )
        });
        Inner {
            conn,
            statements: Statements::new(&config.table),
            server: config.connection.redacted(),
            table: config.table,
            capabilities: Capabilities::new()
                .with_max_key_length(KeyLimit::Utf16Units(MAX_KEY_UNITS))
                .with_max_value_size(Some(i32::MAX as usize))
                .with_expiry_granularity(Duration::from_secs(1))
                .with_default_options(EntryOptions::new().sliding(config.default_sliding))
                .with_shared(true),
            clock: config.clock,
            command_timeout: config.command_timeout,
            cleanup_batch_size: config.cleanup_batch_size,
            schedule,
        }
    }
}

impl SqlServerCache {
    /// A cache with every other option at its default that has connected
    /// and run a statement (the builder's
    /// [`build`](crate::SqlServerCacheBuilder::build) connects lazily instead).
    pub async fn connect(connection_string: &str, schema: &str, table: &str) -> Result<Self> {
        let cache = SqlServerCache::builder()
            .connection_string(connection_string)
            .schema(schema)
            .table(table)
            .build()?;
        cache.ping().await?;
        Ok(cache)
    }

    /// The cache for validated settings (no I/O).
    pub(crate) fn new(config: Config) -> SqlServerCache {
        let conn = Connector::new(
            config.connection.driver_config(),
            config.pool_size,
            config.connect_timeout,
        );
        SqlServerCache {
            inner: Arc::new(Inner::new(config, conn)),
        }
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
        let mut conn = self.inner.conn.dedicated().await?;
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
        self.inner.conn.get().await
    }

    /// Starts a background cleanup when one is due; never waits for it.
    fn maybe_cleanup(&self, now: SystemTime) {
        if let Some(schedule) = &self.inner.schedule {
            let cache = self.clone();
            schedule.spawn_if_due(now, || async move { cache.delete_expired_items().await });
        }
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
                Err(e) if !retried && server_code(&e) == Some(codes::DEADLOCK) => {
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
            Some(cells) => Ok(Some(format::entry(cells)?.value)),
        }
    }

    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        let ids = self.check_key(key)?;
        let (now, _) = self.now()?;
        // Validated before any I/O; resolved again once a connection is in
        // hand, so a slow connect does not eat into the entry's lifetime.
        let expiry = SetExpiry::new(options, &self.inner.capabilities.default_options, now)?;
        NewRow::new(&expiry.first(), now)?;
        self.inner.capabilities.validate_value(value.len())?;
        let value = &value;
        let statement = |now: SystemTime, _| {
            let row = NewRow::new(&expiry.at(now), now)?;
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
                Err(e) if server_code(&e) == Some(COLLISION_ERROR) => {
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
        match one_row(rows)?.map(format::count).transpose()? {
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
        one_row(rows)?.map(format::info).transpose()
    }

    /// Connects if need be and runs `SELECT 1` (one round trip).
    async fn ping(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        with_timeout(self.inner.command_timeout, conn.execute_sql("SELECT 1")).await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities.clone()
    }
}

fn is_duplicate_key(e: &Error) -> bool {
    matches!(
        server_code(e),
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
