//! [`PostgresCacheBuilder`]: every setting, validated in `build` (no I/O)
//! into a plain [`Config`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::support::settings::{Limits, TableSettings};
use cache_abstractions::{Clock, Error, OpenOptions, Result};

use crate::cache::{Inner, PostgresCache};
use crate::conn::{Manager, Pool};
use crate::connstr::Target;
use crate::statements::Statements;
use crate::table::TableName;
use crate::tls;

pub use cache_abstractions::support::settings::{
    DEFAULT_SLIDING_EXPIRATION, DEFAULT_SWEEP_BATCH_SIZE, DEFAULT_SWEEP_INTERVAL,
    MIN_SWEEP_INTERVAL,
};
const MAX_SWEEP_BATCH_SIZE: u32 = 100_000;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// The schema when none is given (PostgreSQL's default).
pub const DEFAULT_SCHEMA: &str = "public";

/// Builds a [`PostgresCache`]. [`build`](Self::build) validates every
/// setting and never connects: the first operation (or
/// [`PostgresCache::ping`]) does, so an app can start while the database is
/// still coming up.
///
/// Required: the connection ([`connection_string`](Self::connection_string)
/// or [`from_url`](Self::from_url)) and the [`table`](Self::table).
/// Defaults: schema `public`, 20-minute sliding window for empty options, 10
/// pooled connections, 15 s connect timeout, 30 s command timeout, expired
/// rows swept every 30 minutes in batches of 1000.
///
/// ```
/// use cache_postgres::PostgresCache;
/// use std::time::Duration;
///
/// let cache = PostgresCache::builder()
///     .connection_string("host=db.internal user=app password=secret dbname=app")
///     .table("cache")
///     .default_sliding_expiration(Duration::from_secs(600))
///     .build()?; // validates; does not connect
/// assert!(!format!("{cache:?}").contains("secret"));
/// # Ok::<(), cache_abstractions::Error>(())
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct PostgresCacheBuilder {
    connection_string: Option<String>,
    settings: TableSettings,
}

impl fmt::Debug for PostgresCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresCacheBuilder")
            .field(
                "connection_string",
                &self.connection_string.as_deref().map(crate::redact),
            )
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl PostgresCacheBuilder {
    /// A builder from a `postgres://` / `postgresql://` URL or a libpq
    /// `key=value` string, and the shared options (timeout, pool size,
    /// schema, table, clock). No I/O.
    ///
    /// ```
    /// use cache_abstractions::OpenOptions;
    /// use cache_postgres::PostgresCacheBuilder;
    ///
    /// let options = OpenOptions::new().table("cache").pool_size(4);
    /// let cache = PostgresCacheBuilder::from_url("postgres://app@db/app", &options)?.build()?;
    /// assert_eq!(cache.table().table(), "cache");
    /// # Ok::<(), cache_abstractions::Error>(())
    /// ```
    pub fn from_url(text: &str, options: &OpenOptions) -> Result<Self> {
        // Parsed here so a bad URL is reported by `from_url` itself.
        Target::parse(text)?;
        let mut b = PostgresCacheBuilder::default().connection_string(text);
        b.settings = TableSettings::from_options(options);
        Ok(b)
    }

    /// The server: a `postgres://` URL or a libpq `key=value` string.
    /// TLS follows its `sslmode` (libpq's meanings; default `prefer`) and
    /// `sslrootcert` (a PEM file, or `system`, the default).
    pub fn connection_string(mut self, text: &str) -> Self {
        self.connection_string = Some(text.to_owned());
        self
    }

    /// The table's schema (default `public`).
    pub fn schema(mut self, schema: &str) -> Self {
        self.settings.schema = Some(schema.to_owned());
        self
    }

    /// The table, taken as written (quoted in SQL). A .NET app's
    /// `TableName = "Cache"` is the table `cache`: see [`TableName::dotnet`].
    pub fn table(mut self, table: &str) -> Self {
        self.settings.table = Some(table.to_owned());
        self
    }

    /// The sliding window of entries set with empty options (default 20 min).
    pub fn default_sliding_expiration(mut self, d: Duration) -> Self {
        self.settings.default_sliding_expiration = Some(d);
        self
    }

    /// How often an instance sweeps expired rows (default 30 min, at least 5).
    pub fn expired_items_deletion_interval(mut self, d: Duration) -> Self {
        self.settings.sweep_interval = Some(d);
        self
    }

    /// Whether this instance sweeps expired rows in the background (default
    /// true). Turn it off where another process does it.
    pub fn background_sweep(mut self, on: bool) -> Self {
        self.settings.background_sweep = Some(on);
        self
    }

    /// Rows per sweep `DELETE` (default 1000).
    pub fn sweep_batch_size(mut self, rows: u32) -> Self {
        self.settings.sweep_batch_size = Some(rows);
        self
    }

    /// The most connections kept (default 10).
    pub fn pool_size(mut self, n: u32) -> Self {
        self.settings.pool_size = Some(n);
        self
    }

    /// How long opening a connection may take (default 15 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.settings.connect_timeout = Some(d);
        self
    }

    /// How long one statement may take (default 30 s).
    pub fn command_timeout(mut self, d: Duration) -> Self {
        self.settings.command_timeout = Some(d);
        self
    }

    /// The clock "now" is read from (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.settings.clock = Some(clock);
        self
    }

    /// Validates the settings and makes the cache, without any I/O but
    /// reading `sslrootcert` when `sslmode` is `verify-ca`/`verify-full`.
    /// Errors are [`ErrorKind::Config`](cache_abstractions::ErrorKind::Config)
    /// naming the setting; they never quote the connection string.
    pub fn build(self) -> Result<PostgresCache> {
        let config = self.validate()?;
        let tls = tls::connector(config.target.ssl_mode, &config.target.root_certs)?;
        let statements = Arc::new(Statements::new(&config.table));
        let manager = Manager::new(
            config.target.clone(),
            tls,
            config.connect_timeout,
            Arc::clone(&statements),
        );
        let pool = Pool::new(manager, config.pool_size);
        Ok(PostgresCache::from_inner(Inner::new(
            config, pool, statements,
        )))
    }

    fn validate(self) -> Result<Config> {
        let text = self
            .connection_string
            .ok_or_else(|| Error::config("the connection string is required"))?;
        let mut target = Target::parse(&text)?;
        let table = TableName::new(
            self.settings.schema.as_deref().unwrap_or(DEFAULT_SCHEMA),
            self.settings.table.as_deref().ok_or_else(|| {
                Error::config("the cache table is required (builder.table, OpenOptions::table)")
            })?,
        )?;
        let checked = self.settings.check(&Limits {
            batch_setting: "sweep_batch_size",
            max_batch: MAX_SWEEP_BATCH_SIZE,
            connect_timeout: target
                .pg
                .get_connect_timeout()
                .copied()
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        })?;
        target.pg.connect_timeout(checked.connect_timeout);
        Ok(Config {
            target,
            table,
            default_sliding: checked.default_sliding,
            sweep_interval: checked.sweep_interval,
            background_sweep: checked.background_sweep,
            sweep_batch_size: checked.sweep_batch_size,
            pool_size: checked.pool_size,
            connect_timeout: checked.connect_timeout,
            command_timeout: checked.command_timeout,
            clock: checked.clock,
        })
    }
}

/// Every setting, validated: what the cache is made from.
pub(crate) struct Config {
    pub(crate) target: Target,
    pub(crate) table: TableName,
    pub(crate) default_sliding: Duration,
    pub(crate) sweep_interval: Duration,
    pub(crate) background_sweep: bool,
    pub(crate) sweep_batch_size: u32,
    pub(crate) pool_size: u32,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_abstractions::ErrorKind;

    fn base() -> PostgresCacheBuilder {
        PostgresCacheBuilder::default()
            .connection_string("host=db user=u password=hunter2")
            .table("cache")
    }

    #[test]
    fn each_bad_setting_is_a_config_error() {
        for b in [
            PostgresCacheBuilder::default().table("t"),
            base().table(""),
            base().default_sliding_expiration(Duration::ZERO),
            base().expired_items_deletion_interval(Duration::from_secs(60)),
            base().sweep_batch_size(0),
            base().pool_size(0),
            base().command_timeout(Duration::ZERO),
            base().connection_string("host=db sslmode=verify-full sslrootcert=/nonexistent/ca.pem"),
        ] {
            let e = b.build().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{e}");
            assert!(!e.to_string().contains("hunter2"));
        }
        let e = PostgresCacheBuilder::default()
            .connection_string("host=db")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("table"), "{e}");
    }

    #[test]
    fn build_needs_no_runtime_and_no_server() {
        let cache = base().build().unwrap();
        assert_eq!(cache.table().quoted(), r#""public"."cache""#);
        let shown = format!("{cache:?} {:?}", base());
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn from_url_takes_the_shared_options() {
        let o = OpenOptions::new()
            .schema("app")
            .table("c")
            .pool_size(3)
            .timeout(Duration::from_secs(2));
        let b = PostgresCacheBuilder::from_url("postgres://u@h/db", &o).unwrap();
        let c = b.validate().unwrap();
        assert_eq!(c.table.quoted(), r#""app"."c""#);
        assert_eq!(
            (c.pool_size, c.connect_timeout, c.command_timeout),
            (3, Duration::from_secs(2), Duration::from_secs(2))
        );
        let e = PostgresCacheBuilder::from_url("postgres://u:hunter2@h/db?sslmode=bogus", &o)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!e.to_string().contains("hunter2"));
    }
}
