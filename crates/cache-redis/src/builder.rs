//! [`RedisCacheBuilder`]: every setting, validated in `build`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::{Error, Result};
use redis::cluster::ClusterClientBuilder;
use redis::{AsyncConnectionConfig, Client, IntoConnectionInfo, TlsCertificates};

use crate::cache::{Backend, Inner, RedisCache};
use crate::config::Target;
use crate::conn::{FailureSink, Lanes, Manager};
use crate::errors;

/// The most Redis stores in one key or one bulk value (`proto-max-bulk-len`).
pub(crate) const REDIS_MAX_BULK: usize = 512 * 1024 * 1024;

/// Builds a [`RedisCache`]; start from [`RedisCache::builder`].
///
/// Only a URL (or [`cluster_nodes`](Self::cluster_nodes)) is required.
/// Defaults: no instance name, 1 pooled connection, 5 s connect timeout,
/// 5 s command timeout, keys up to Redis's 512 MiB.
///
/// ```no_run
/// use cache_redis::RedisCache;
/// use std::time::Duration;
///
/// # async fn demo() -> cache_abstractions::Result<()> {
/// let cache = RedisCache::builder()
///     .url("redis://cache.internal:6379/0")
///     .instance_name("orders:")
///     .pool_size(2)
///     .connect_timeout(Duration::from_secs(2))
///     .command_timeout(Duration::from_millis(500))
///     .build()
///     .await?;
/// # let _ = cache;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisCacheBuilder {
    url: Option<String>,
    cluster_nodes: Vec<String>,
    instance_name: String,
    username: Option<String>,
    password: Option<String>,
    pool_size: u32,
    connect_timeout: Duration,
    command_timeout: Duration,
    max_key_bytes: usize,
    scripting: bool,
    tls_root_cert: Option<Vec<u8>>,
}

impl Default for RedisCacheBuilder {
    fn default() -> Self {
        RedisCacheBuilder {
            url: None,
            cluster_nodes: Vec::new(),
            instance_name: String::new(),
            username: None,
            password: None,
            pool_size: 1,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
            max_key_bytes: REDIS_MAX_BULK,
            scripting: true,
            tls_root_cert: None,
        }
    }
}

impl fmt::Debug for RedisCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = self.url.as_deref().map(crate::config::redact);
        let nodes: Vec<String> = self
            .cluster_nodes
            .iter()
            .map(|n| crate::config::redact(n))
            .collect();
        f.debug_struct("RedisCacheBuilder")
            .field("url", &target)
            .field("cluster_nodes", &nodes)
            .field("instance_name", &self.instance_name)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("max_key_bytes", &self.max_key_bytes)
            .field("scripting", &self.scripting)
            .field("tls_root_cert", &self.tls_root_cert.is_some())
            .finish()
    }
}

impl RedisCacheBuilder {
    /// Where to connect; see the [crate docs](crate#urls) for the forms
    /// (`redis://`, `rediss://`, `redis+unix://`, `unix://`,
    /// `redis+cluster://`, `rediss+cluster://`).
    pub fn url(mut self, url: &str) -> Self {
        self.url = Some(url.to_string());
        self
    }

    /// Connects to a Redis Cluster through these seed nodes, each a
    /// `redis://` or `rediss://` URL; replaces [`url`](Self::url).
    pub fn cluster_nodes<I, S>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.cluster_nodes = nodes.into_iter().map(|n| n.as_ref().to_string()).collect();
        self
    }

    /// The key prefix, exactly as .NET's `RedisCacheOptions.InstanceName`:
    /// its bytes then the key's, no separator added (`"app:"` + `"user"` is
    /// the Redis key `app:user`).
    pub fn instance_name(mut self, name: &str) -> Self {
        self.instance_name = name.to_string();
        self
    }

    /// The ACL user name (overrides one in the URL).
    pub fn username(mut self, username: &str) -> Self {
        self.username = Some(username.to_string());
        self
    }

    /// The password (overrides one in the URL). Never shown by `Debug` or
    /// in errors.
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_string());
        self
    }

    /// How many multiplexed connections the pool keeps (at least 1; default 1).
    ///
    /// One connection carries any number of concurrent operations,
    /// pipelined, and that is usually fastest: on a 2-core machine, 50 tasks
    /// did about 17% fewer gets per second over 4 connections than over 1
    /// (more sockets, fewer commands per read and write). More connections
    /// help when one socket is the bottleneck: many client cores, or large
    /// values that would hold up small ones behind them.
    pub fn pool_size(mut self, size: u32) -> Self {
        self.pool_size = size;
        self
    }

    /// The longest wait for a connection, new or pooled (default 5 s).
    ///
    /// A connect attempt that fails outright (refused, reset, TLS or
    /// authentication failure) fails the operation waiting for it at once,
    /// without waiting out this timeout; the next operation tries again.
    /// Only a connect that hangs (say, a server that accepts the socket but
    /// never answers) takes the whole timeout, and ends in `Timeout`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest wait for a command's reply (default 5 s).
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// The longest Redis key, instance name included, in bytes (default and
    /// maximum: 512 MiB, Redis's limit). Longer keys fail with `InvalidKey`.
    pub fn max_key_bytes(mut self, max: usize) -> Self {
        self.max_key_bytes = max;
        self
    }

    /// Whether to use the server script for sliding reads (default true).
    /// With `false`, or when the server refuses scripting, a sliding `get`
    /// or `refresh` takes two round trips, as in .NET.
    pub fn scripting(mut self, enabled: bool) -> Self {
        self.scripting = enabled;
        self
    }

    /// A PEM CA certificate to verify `rediss://` servers against, instead
    /// of the system's trust store.
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_cert = Some(pem.into());
        self
    }

    /// Validates the settings and connects (one connection, or the cluster's
    /// slot map). Errors: `Config` for invalid settings, `Connection` or
    /// `Timeout` when the server cannot be reached.
    pub async fn build(self) -> Result<RedisCache> {
        let target = if self.cluster_nodes.is_empty() {
            match &self.url {
                Some(url) => Target::parse(url)?,
                None => return Err(Error::config("no redis URL or cluster nodes given")),
            }
        } else {
            Target::cluster_from_nodes(&self.cluster_nodes)?
        };
        self.validate()?;
        let backend = match &target {
            Target::Standalone(url) => self.standalone(url).await?,
            Target::Cluster(nodes) => self.cluster(nodes).await?,
        };
        Ok(RedisCache::from_inner(Arc::new(Inner::new(
            backend,
            target,
            self.instance_name,
            self.max_key_bytes,
            self.pool_size,
            self.connect_timeout,
            self.command_timeout,
            self.scripting,
        ))))
    }

    fn validate(&self) -> Result<()> {
        if self.pool_size == 0 {
            return Err(Error::config("pool_size must be at least 1"));
        }
        if self.connect_timeout.is_zero() || self.command_timeout.is_zero() {
            return Err(Error::config("timeouts must be greater than zero"));
        }
        if self.max_key_bytes > REDIS_MAX_BULK {
            return Err(Error::config("max_key_bytes must not exceed 512 MiB"));
        }
        if self.instance_name.len() >= self.max_key_bytes {
            return Err(Error::config(
                "instance_name leaves no room for keys within max_key_bytes",
            ));
        }
        Ok(())
    }

    async fn standalone(&self, url: &str) -> Result<Backend> {
        // The driver's parse error may quote the URL, and so a password:
        // report the failure without it.
        let mut info = url
            .into_connection_info()
            .map_err(|_| Error::config("invalid redis URL (the URL is not repeated here)"))?;
        let mut settings = info.redis_settings().clone();
        if let Some(user) = &self.username {
            settings = settings.set_username(user);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        info = info.set_redis_settings(settings);
        let client = match &self.tls_root_cert {
            Some(pem) => Client::build_with_tls(
                info,
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
            None => Client::open(info),
        }
        .map_err(|e| Error::config(format!("invalid redis settings ({})", e.category())))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.command_timeout));
        let manager = Manager::new(client, config);
        let sink = FailureSink::new();
        let failures = sink.source();
        let pool = bb8::Pool::builder()
            .max_size(self.pool_size)
            // One connection made up front proves the settings work.
            .min_idle(Some(1))
            // A refused connect fails the operation waiting for it (and
            // `build`) at once instead of being retried until the connect
            // timeout; the next operation tries again (see `conn`).
            .retry_connection(false)
            .error_sink(Box::new(sink))
            // A health check per checkout would double the round trips;
            // broken connections are flagged by the operations instead.
            .test_on_check_out(false)
            .connection_timeout(self.connect_timeout)
            .build(manager)
            .await
            .map_err(errors::from_connect)?;
        Ok(Backend::Pool {
            pool,
            lanes: Lanes::new(self.pool_size as usize),
            failures,
        })
    }

    async fn cluster(&self, nodes: &[String]) -> Result<Backend> {
        let mut builder = ClusterClientBuilder::new(nodes.to_vec())
            .connection_timeout(self.connect_timeout)
            .response_timeout(self.command_timeout)
            .retries(3);
        if let Some(user) = &self.username {
            builder = builder.username(user);
        }
        if let Some(password) = &self.password {
            builder = builder.password(password);
        }
        if self.tls_root_cert.is_some() {
            // redis-rs takes a custom root certificate for clusters only
            // with rustls; this crate uses native-tls (the system's OpenSSL).
            return Err(Error::config(
                "tls_root_certificate is not supported for clusters: add the CA to the system trust store",
            ));
        }
        let client = builder.build().map_err(|e| {
            Error::config(format!("invalid redis cluster settings ({})", e.category()))
        })?;
        let budget = self.connect_timeout.saturating_add(self.command_timeout);
        let conn = tokio::time::timeout(budget, client.get_async_connection())
            .await
            .map_err(|_| errors::timed_out("cluster connect", budget))?
            .map_err(errors::from_connect)?;
        Ok(Backend::Cluster(conn))
    }
}
