//! [`PostgresCache`]: the [`DistributedCache`] over the .NET cache table.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use cache_abstractions::{
    Capabilities, DistributedCache, EntryInfo, EntryOptions, Error, KeyLimit, Result,
};
use tokio_postgres::Row;

use crate::builder::{Config, PostgresCacheBuilder};
use crate::conn::Pool;
use crate::format::{self, NewRow, MAX_KEY_UNITS, MAX_VALUE_BYTES};
use crate::statements::{Op, Statements};
use crate::sweep::{self, SweepOutcome};
use cache_abstractions::support::expiry::SetExpiry;
use cache_abstractions::support::statement::at_most_one;
use cache_abstractions::support::sweep::Schedule;

/// A [`DistributedCache`] over a PostgreSQL table in the layout of .NET's
/// `Microsoft.Extensions.Caching.Postgres`, sharing entries both ways with
/// ASP.NET Core apps that use it.
///
/// Every operation is one statement on a pooled connection, prepared once
/// per connection: `get` restarts the sliding window and reads the value in
/// one round trip, `set` is one `INSERT .. ON CONFLICT DO UPDATE`.
///
/// ```no_run
/// use cache_abstractions::{DistributedCache, EntryOptions, OpenOptions};
/// use cache_postgres::PostgresCacheBuilder;
///
/// # async fn run() -> cache_abstractions::Result<()> {
/// let cache = PostgresCacheBuilder::from_url(
///     "postgres://app@db.internal/app?sslmode=verify-full",
///     &OpenOptions::new().table("cache"),
/// )?
/// .build()?; // no I/O yet: the first operation connects
/// cache.set("greeting", "hello".into(), &EntryOptions::new()).await?;
/// assert_eq!(cache.get("greeting").await?.as_deref(), Some(&b"hello"[..]));
/// # Ok(())
/// # }
/// ```
///
/// # Keys
///
/// At most 449 UTF-16 code units (what .NET counts; the column holds 449
/// characters), no NUL character (PostgreSQL text cannot hold one); other
/// keys are refused with
/// [`ErrorKind::InvalidKey`](cache_abstractions::ErrorKind::InvalidKey)
/// before any I/O. The `id` column's collation is `"C"`: keys compare byte
/// for byte, so distinct keys never meet.
#[derive(Clone)]
pub struct PostgresCache {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: Config,
    pool: Pool,
    statements: Arc<Statements>,
    capabilities: Capabilities,
    schedule: Option<Schedule>,
}

impl Inner {
    /// The cache from its settings and its (not yet connected) pool.
    pub(crate) fn new(config: Config, pool: Pool, statements: Arc<Statements>) -> Inner {
        let capabilities = Capabilities::new()
            .with_max_key_length(KeyLimit::Utf16Units(MAX_KEY_UNITS))
            .with_max_value_size(Some(MAX_VALUE_BYTES))
            .with_expiry_granularity(std::time::Duration::from_secs(1))
            .with_default_options(EntryOptions::new().sliding(config.default_sliding))
            .with_shared(true);
        let schedule = config.background_sweep.then(|| {
            Schedule::new(
                config.sweep_interval,
                config.clock.now(),
                "cache-postgres",
                &config.table,
            )
        });
        Inner {
            config,
            pool,
            statements,
            capabilities,
            schedule,
        }
    }
}

impl fmt::Debug for PostgresCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner.config;
        f.debug_struct("PostgresCache")
            .field("server", &c.target.redacted)
            .field("table", &c.table)
            .field("default_sliding", &c.default_sliding)
            .field("command_timeout", &c.command_timeout)
            .finish_non_exhaustive()
    }
}

impl PostgresCache {
    /// A builder with every option at its default; set at least the
    /// connection and the table.
    pub fn builder() -> PostgresCacheBuilder {
        PostgresCacheBuilder::default()
    }

    pub(crate) fn from_inner(inner: Inner) -> PostgresCache {
        PostgresCache {
            inner: Arc::new(inner),
        }
    }

    /// The table this cache uses.
    pub fn table(&self) -> &crate::TableName {
        &self.inner.config.table
    }

    /// Connects (when no pooled connection is open) and round-trips a
    /// statement on the cache table, so a missing table, a refused login or
    /// an unreachable server shows at start-up rather than on first use.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.inner.pool.get().await?;
        let key = "\u{1}distcache-ping";
        let now = self.now();
        conn.query(
            Op::Inspect,
            &[&key, &now],
            self.inner.config.command_timeout,
        )
        .await
        .map(|_| ())
    }

    /// Deletes expired rows now, in batches, unless another instance is
    /// doing so. The cache also does this by itself in the background, at
    /// most once per sweep interval. It runs on a connection of its own, so
    /// the pool's connections stay free for the cache's operations.
    pub async fn delete_expired_items(&self) -> Result<SweepOutcome> {
        let mut conn = self.inner.pool.dedicated().await?;
        sweep::run(
            &mut conn,
            &self.inner.statements,
            self.now(),
            self.inner.config.sweep_batch_size,
            self.inner.config.command_timeout,
        )
        .await
    }

    fn now(&self) -> SystemTime {
        self.inner.config.clock.now()
    }

    /// Rule 5 before any I/O: not empty, at most 449 UTF-16 units, no NUL.
    fn check_key(&self, key: &str) -> Result<()> {
        self.inner.capabilities.validate_key(key)?;
        if key.contains('\0') {
            return Err(Error::invalid_key(
                "a key must not contain a NUL character (PostgreSQL text cannot hold one)",
            ));
        }
        Ok(())
    }

    /// Runs `op`, reading the clock once the connection is in hand (the
    /// time of the statement, not of the wait for a connection), within the
    /// command timeout; then starts a due background sweep.
    async fn rows(&self, op: Op, key: &str) -> Result<Vec<Row>> {
        let mut conn = self.inner.pool.get().await?;
        let now = self.now();
        let rows = conn
            .query(op, &[&key, &now], self.inner.config.command_timeout)
            .await?;
        drop(conn);
        self.maybe_sweep(now);
        Ok(rows)
    }

    /// Starts a background sweep when one is due; never waits for it.
    fn maybe_sweep(&self, now: SystemTime) {
        if let Some(schedule) = &self.inner.schedule {
            let cache = self.clone();
            schedule.spawn_if_due(now, || async move { cache.delete_expired_items().await });
        }
    }
}

#[async_trait]
impl DistributedCache for PostgresCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.check_key(key)?;
        let rows = self.rows(Op::Get, key).await?;
        at_most_one(rows)?.map(|r| format::value_of(&r)).transpose()
    }

    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        self.check_key(key)?;
        // Validated before any I/O; resolved again once a connection is in
        // hand, so a slow connect does not eat into the entry's lifetime.
        let expiry = SetExpiry::new(
            options,
            &self.inner.capabilities.default_options,
            self.now(),
        )?;
        self.inner.capabilities.validate_value(value.len())?;
        let mut conn = self.inner.pool.get().await?;
        let now = self.now();
        let row = NewRow::new(&expiry.at(now), now);
        conn.execute(
            Op::Set,
            &[
                &key,
                &value.as_ref(),
                &row.expires_at,
                &row.sliding_seconds,
                &row.absolute,
            ],
            self.inner.config.command_timeout,
        )
        .await?;
        drop(conn);
        self.maybe_sweep(now);
        Ok(())
    }

    async fn refresh(&self, key: &str) -> Result<()> {
        self.check_key(key)?;
        self.rows(Op::Refresh, key).await.map(|_| ())
    }

    async fn remove(&self, key: &str) -> Result<()> {
        self.check_key(key)?;
        let mut conn = self.inner.pool.get().await?;
        let now = self.now();
        conn.execute(Op::Remove, &[&key], self.inner.config.command_timeout)
            .await?;
        drop(conn);
        self.maybe_sweep(now);
        Ok(())
    }

    async fn inspect(&self, key: &str) -> Result<Option<EntryInfo>> {
        self.check_key(key)?;
        let rows = self.rows(Op::Inspect, key).await?;
        at_most_one(rows)?.map(|r| format::info_of(&r)).transpose()
    }

    async fn ping(&self) -> Result<()> {
        PostgresCache::ping(self).await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities.clone()
    }
}
