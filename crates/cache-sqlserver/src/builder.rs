//! [`SqlServerCacheBuilder`]: every option, validated into a [`Config`]
//! by `build`, which does no I/O.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::support::settings::{Limits, TableSettings};
use cache_abstractions::{Clock, Error, OpenOptions, Result};

use crate::cache::SqlServerCache;
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
    settings: TableSettings,
}

impl fmt::Debug for SqlServerCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Parsing here would hide the raw string's problems; just hide it.
        f.debug_struct("SqlServerCacheBuilder")
            .field(
                "connection_string",
                &self.connection_string.as_ref().map(|_| "<hidden>"),
            )
            .field("settings", &self.settings)
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
        builder.settings = TableSettings::from_options(options);
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
        self.settings.schema = Some(schema.to_owned());
        self
    }

    /// The table's name. Required.
    pub fn table(mut self, table: &str) -> Self {
        self.settings.table = Some(table.to_owned());
        self
    }

    /// The sliding window of entries set with empty options (default 20 min,
    /// as .NET's `DefaultSlidingExpiration`).
    pub fn default_sliding_expiration(mut self, d: Duration) -> Self {
        self.settings.default_sliding_expiration = Some(d);
        self
    }

    /// How often expired rows are deleted (default 30 min, at least 5 min).
    pub fn expired_items_deletion_interval(mut self, d: Duration) -> Self {
        self.settings.sweep_interval = Some(d);
        self
    }

    /// Whether this instance deletes expired rows in the background (default
    /// true). Turn it off when another process does the cleanup.
    pub fn background_cleanup(mut self, on: bool) -> Self {
        self.settings.background_sweep = Some(on);
        self
    }

    /// Rows per cleanup `DELETE` (default 1000, at most 4000).
    pub fn cleanup_batch_size(mut self, rows: u32) -> Self {
        self.settings.sweep_batch_size = Some(rows);
        self
    }

    /// The most connections held open (default 10).
    pub fn pool_size(mut self, n: u32) -> Self {
        self.settings.pool_size = Some(n);
        self
    }

    /// How long opening a connection may take (default: the connection
    /// string's `Connect Timeout`, else 15 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.settings.connect_timeout = Some(d);
        self
    }

    /// How long one statement may take (default 30 s).
    pub fn command_timeout(mut self, d: Duration) -> Self {
        self.settings.command_timeout = Some(d);
        self
    }

    /// The clock `@UtcNow` is read from (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.settings.clock = Some(clock);
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
            self.settings.schema.as_deref().unwrap_or("dbo"),
            self.settings
                .table
                .as_deref()
                .ok_or_else(|| Error::config("table is required"))?,
        )?;
        let checked = self.settings.check(&Limits {
            batch_setting: "cleanup_batch_size",
            max_batch: MAX_CLEANUP_BATCH_SIZE,
            connect_timeout: connection.connect_timeout(),
        })?;
        Ok(Config {
            connection,
            table,
            default_sliding: checked.default_sliding,
            deletion_interval: checked.sweep_interval,
            background_cleanup: checked.background_sweep,
            cleanup_batch_size: checked.sweep_batch_size,
            pool_size: checked.pool_size,
            connect_timeout: checked.connect_timeout,
            command_timeout: checked.command_timeout,
            clock: checked.clock,
        })
    }
}
