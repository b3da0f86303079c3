//! [`RedisCacheBuilder`]: every setting, validated into a [`Config`] by
//! `build`, which does no I/O.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::{Clock, Error, OpenOptions, Result, SystemClock};

use crate::cache::RedisCache;
use crate::config::{Config, REDIS_MAX_BULK};
use crate::url::{self, Target};

impl RedisCache {
    /// A builder for every setting.
    pub fn builder() -> RedisCacheBuilder {
        RedisCacheBuilder::default()
    }
}

/// Builds a [`RedisCache`]; start from [`RedisCache::builder`].
///
/// Only a URL (or [`cluster_nodes`](Self::cluster_nodes)) is required.
/// Defaults: no instance name, 1 pooled connection, 5 s connect timeout,
/// 5 s command timeout, keys up to Redis's 512 MiB, the system clock.
///
/// [`build`](Self::build) validates without I/O and never blocks; the first
/// operation, or [`ping`](cache_abstractions::DistributedCache::ping),
/// connects.
///
/// ```
/// use cache_abstractions::DistributedCache;
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
///     .build()?; // no I/O yet
/// cache.ping().await?; // connects: fail at startup, not on the first request
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
    clock: Option<Arc<dyn Clock>>,
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
            clock: None,
        }
    }
}

impl fmt::Debug for RedisCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = self.url.as_deref().map(url::redact);
        let nodes: Vec<String> = self.cluster_nodes.iter().map(|n| url::redact(n)).collect();
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
    /// A builder from a URL (any of [`URL_SCHEMES`](crate::URL_SCHEMES))
    /// and the settings shared by every backend: `timeout` sets both the
    /// connect and the command timeout, `pool_size`, `instance_name` and
    /// `clock` map onto the builder's settings of those names; `schema` and
    /// `table` (SQL settings) do not apply and are ignored. No I/O; the
    /// URL is checked here, and errors never repeat it.
    ///
    /// ```
    /// use cache_abstractions::OpenOptions;
    /// use cache_redis::RedisCacheBuilder;
    ///
    /// let options = OpenOptions::new().instance_name("shop:");
    /// let cache = RedisCacheBuilder::from_url("redis://127.0.0.1:6379/0", &options)?.build()?;
    /// assert_eq!(cache.instance_name(), "shop:");
    /// # Ok::<(), cache_abstractions::Error>(())
    /// ```
    pub fn from_url(text: &str, options: &OpenOptions) -> Result<Self> {
        Target::parse(text)?;
        let mut builder = RedisCache::builder().url(text);
        if let Some(timeout) = options.timeout {
            builder = builder.connect_timeout(timeout).command_timeout(timeout);
        }
        if let Some(size) = options.pool_size {
            builder = builder.pool_size(size);
        }
        if let Some(name) = &options.instance_name {
            builder = builder.instance_name(name);
        }
        if let Some(clock) = &options.clock {
            builder = builder.clock(Arc::clone(clock));
        }
        Ok(builder)
    }

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
    ///
    /// The exact guarantee: the Redis key is the name's bytes followed by
    /// the key's, so caches named `a` and `b` share a Redis key only when
    /// one name is a prefix of the other, `b` = `a` + `s`, and the cache
    /// named `a` uses a key starting with `s`. Names neither of which is a
    /// prefix of the other (`"shop:"` and `"shop1:"`) never share an entry;
    /// `"shop"` and `"shop1"` do (`"shop"` + `"1:cart"` is `"shop1"` +
    /// `":cart"`), and so do `"shop:"` and `"shop:eu:"` for the first
    /// cache's keys that start with `eu:`. This is .NET's layout, kept for
    /// compatibility; [`build`](Self::build) logs a warning (`tracing`,
    /// target `cache_redis::builder`) when a non-empty name does not end
    /// in one of `:` `/` `|` `.` `-` `_` `#`.
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

    /// The clock that dates entries: `absexp`, TTLs and sliding deadlines
    /// are computed from it (default: the system clock). Tests move a
    /// [`ManualClock`](cache_abstractions::ManualClock) instead of sleeping.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Validates the settings and makes the cache, without any I/O: it
    /// never blocks, and works outside a runtime. The first operation (or
    /// [`ping`](cache_abstractions::DistributedCache::ping)) connects.
    /// Errors: `Config` for invalid settings (never repeating a URL).
    pub fn build(self) -> Result<RedisCache> {
        RedisCache::new(self.into_config()?)
    }

    /// The validated settings.
    pub(crate) fn into_config(self) -> Result<Config> {
        let target = if self.cluster_nodes.is_empty() {
            match &self.url {
                Some(url) => Target::parse(url)?,
                None => return Err(Error::config("no redis URL or cluster nodes given")),
            }
        } else {
            Target::cluster_from_nodes(&self.cluster_nodes)?
        };
        self.validate()?;
        warn_on_unseparated(&self.instance_name);
        Ok(Config {
            target,
            username: self.username,
            password: self.password,
            tls_root_cert: self.tls_root_cert,
            instance_name: self.instance_name,
            max_key_bytes: self.max_key_bytes,
            pool_size: self.pool_size,
            connect_timeout: self.connect_timeout,
            command_timeout: self.command_timeout,
            scripting: self.scripting,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
        })
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
}

/// Characters that end an instance name safely: none of them is likely to
/// start a key, so `name` + key never equals another name + key.
const SEPARATORS: &[char] = &[':', '/', '|', '.', '-', '_', '#'];

/// Warns when `name` may run into another instance's keys (see
/// [`RedisCacheBuilder::instance_name`]).
fn warn_on_unseparated(name: &str) {
    if !name.is_empty() && !name.ends_with(SEPARATORS) {
        tracing::warn!(
            instance_name = name,
            "cache-redis: the instance name does not end in a separator such as ':'; \
             another instance whose name starts with this one plus a key's first \
             characters shares its keys (e.g. \"shop\" + \"1:cart\" = \"shop1\" + \":cart\")"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tracing::{field, span, Event, Metadata, Subscriber};

    /// Records the message of every warning.
    #[derive(Default)]
    struct Warnings(Arc<Mutex<Vec<String>>>);

    struct Message<'a>(&'a mut String);

    impl field::Visit for Message<'_> {
        fn record_debug(&mut self, f: &field::Field, value: &dyn fmt::Debug) {
            if f.name() == "message" {
                *self.0 = format!("{value:?}");
            }
        }
    }

    impl Subscriber for Warnings {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, event: &Event<'_>) {
            if *event.metadata().level() == tracing::Level::WARN {
                let mut text = String::new();
                event.record(&mut Message(&mut text));
                self.0.lock().unwrap().push(text);
            }
        }
        fn enter(&self, _: &span::Id) {}
        fn exit(&self, _: &span::Id) {}
    }

    fn warnings_building_with(name: &str) -> Vec<String> {
        let warnings = Warnings::default();
        let seen = Arc::clone(&warnings.0);
        tracing::subscriber::with_default(warnings, || {
            RedisCache::builder()
                .url("redis://127.0.0.1:1/")
                .instance_name(name)
                .build()
                .unwrap();
        });
        let seen = seen.lock().unwrap().clone();
        seen
    }

    #[test]
    fn an_instance_name_without_a_separator_is_warned_about() {
        let warned = warnings_building_with("shop");
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].contains("separator"), "{warned:?}");
        for quiet in ["", "shop:", "shop/", "shop."] {
            assert!(warnings_building_with(quiet).is_empty(), "{quiet:?}");
        }
    }

    #[test]
    fn build_does_no_io_and_needs_no_runtime() {
        // Port 1 refuses; build neither connects nor needs tokio.
        let cache = RedisCache::builder()
            .url("redis+cluster://127.0.0.1:1,127.0.0.1:2")
            .build()
            .unwrap();
        assert_eq!(cache.instance_name(), "");
        let err = RedisCache::builder()
            .url("http://user:hunter2@h")
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), cache_abstractions::ErrorKind::Config);
        assert!(!err.to_string().contains("hunter2"));
    }
}
