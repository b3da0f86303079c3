//! [`SqlServerCacheBuilder`]: every option, validated into a [`Config`]
//! by `build`, which does no I/O.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::support::settings::{self, DEFAULT_COMMAND_TIMEOUT};
use cache_abstractions::{Clock, Error, OpenOptions, Result, SystemClock};

use crate::cache::{SqlServerCache, DEFAULT_CLEANUP_BATCH_SIZE};
use crate::config::Config;
use crate::connstr::ConnectionString;
use crate::ident::TableName;

/// Below SQL Server's lock escalation (5000 locks).
const MAX_CLEANUP_BATCH_SIZE: u32 = 4000;

impl SqlServerCache {
    /// A builder; only the connection string and table are required.
    pub fn builder() -> SqlServerCacheBuilder {
        SqlServerCacheBuilder::default()
    }
}

/// Builds a [`SqlServerCache`]; every option is validated by
/// [`build`](Self::build), which does no I/O (the first operation connects,
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
    /// A builder from an ADO.NET connection string or a `sqlserver://` /
    /// `mssql://` URL and the settings shared by every backend: `timeout`
    /// sets both the connect and the command timeout; `pool_size`,
    /// `schema`, `table` and `clock` map onto the builder's settings of
    /// those names; `instance_name` (a Redis setting) does not apply and is
    /// ignored. The text is parsed here, without I/O; errors never repeat
    /// a password. The table is still required (here or in `options`).
    ///
    /// ```
    /// use cache_abstractions::OpenOptions;
    /// use cache_sqlserver::SqlServerCacheBuilder;
    ///
    /// let options = OpenOptions::new().table("Cache");
    /// let cache = SqlServerCacheBuilder::from_url(
    ///     "Server=tcp:db,1433;Database=app;User Id=svc;Password=…",
    ///     &options,
    /// )?
    /// .build()?;
    /// assert_eq!(cache.table().quoted(), "[dbo].[Cache]");
    /// # Ok::<(), cache_abstractions::Error>(())
    /// ```
    pub fn from_url(text: &str, options: &OpenOptions) -> Result<Self> {
        let mut builder = SqlServerCache::builder().connection(ConnectionString::parse(text)?);
        if let Some(timeout) = options.timeout {
            builder = builder.connect_timeout(timeout).command_timeout(timeout);
        }
        if let Some(size) = options.pool_size {
            builder = builder.pool_size(size);
        }
        if let Some(schema) = &options.schema {
            builder = builder.schema(schema);
        }
        if let Some(table) = &options.table {
            builder = builder.table(table);
        }
        if let Some(clock) = &options.clock {
            builder = builder.clock(Arc::clone(clock));
        }
        Ok(builder)
    }

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

    /// Validates the options and makes the cache, without any I/O: it
    /// never blocks and needs no runtime. The first operation (or
    /// [`ping`](cache_abstractions::DistributedCache::ping)) connects.
    /// Errors are [`ErrorKind::Config`](cache_abstractions::ErrorKind::Config) naming the option.
    pub fn build(self) -> Result<SqlServerCache> {
        Ok(SqlServerCache::new(self.validate()?))
    }

    fn validate(self) -> Result<Config> {
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
        let default_sliding = settings::default_sliding(self.default_sliding_expiration)?;
        let deletion_interval = settings::sweep_interval(self.expired_items_deletion_interval)?;
        let cleanup_batch_size = settings::batch_size(
            "cleanup_batch_size",
            self.cleanup_batch_size,
            DEFAULT_CLEANUP_BATCH_SIZE,
            MAX_CLEANUP_BATCH_SIZE,
        )?;
        let pool_size = settings::pool_size(self.pool_size)?;
        let connect_timeout = settings::positive(
            "connect_timeout",
            self.connect_timeout.unwrap_or(connection.connect_timeout()),
        )?;
        let command_timeout = settings::positive(
            "command_timeout",
            self.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT),
        )?;
        Ok(Config {
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
