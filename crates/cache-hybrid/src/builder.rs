//! [`HybridCacheBuilder`]: the tiers and the defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::{Clock, DistributedCache, Error, Result, SystemClock};
use cache_memory::MemoryCache;

use crate::backplane::{self, Attachment, Backplane, DEFAULT_OUTAGE_LOCAL_EXPIRATION};
use crate::cache::{HybridCache, Inner};
use crate::codec::Codec;
use crate::options::{HybridEntryOptions, DEFAULT_EXPIRATION};
use crate::tags::Tags;

/// The local tier's default size limit: 64 MiB of keys, payloads and bookkeeping.
pub const DEFAULT_LOCAL_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;
/// How long a tag's invalidation instant is trusted before it is read
/// again from the distributed tier: the longest another instance can still
/// serve an entry after `remove_by_tag`.
pub const DEFAULT_TAG_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Where tag instants live in the distributed tier: `<prefix><tag>`.
pub const DEFAULT_TAG_KEY_PREFIX: &str = "__hybrid_tag:";
/// Payloads at least this long are compressed (feature `lz4`).
pub const DEFAULT_COMPRESSION_THRESHOLD: usize = 1024;

/// Called after a local change that other instances may need to hear about
/// (the place for a backplane to publish from).
pub type InvalidationHook = Arc<dyn Fn(Invalidation<'_>) + Send + Sync>;

/// What changed, for an [`InvalidationHook`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalidation<'a> {
    /// The entry under this key was set or removed.
    Key(&'a str),
    /// Every entry carrying this tag was invalidated (at this instant, in
    /// microseconds since the Unix epoch).
    Tag(&'a str, u64),
    /// Every local copy was dropped ([`HybridCache::clear_local_everywhere`]).
    All,
}

/// Configures a [`HybridCache`]. Every setting has a default; `build` does
/// no I/O.
///
/// ```
/// use cache_hybrid::{HybridCache, HybridEntryOptions};
/// use cache_memory::MemoryCache;
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let shared = Arc::new(MemoryCache::new()); // e.g. distcache::open("redis://…")?
/// let cache = HybridCache::builder()
///     .distributed(shared)
///     .local_capacity_bytes(16 * 1024 * 1024)
///     .default_options(HybridEntryOptions::new().expires_in(Duration::from_secs(60)))
///     .tag_check_interval(Duration::from_millis(500))
///     .build()?;
/// # let _ = cache;
/// # Ok::<(), cache_abstractions::Error>(())
/// ```
#[must_use]
pub struct HybridCacheBuilder {
    distributed: Option<Arc<dyn DistributedCache>>,
    local_capacity: u64,
    defaults: HybridEntryOptions,
    default_local_expiration: Duration,
    tag_check_interval: Duration,
    tag_prefix: String,
    codec: Codec,
    compression_threshold: Option<usize>,
    clock: Arc<dyn Clock>,
    hook: Option<InvalidationHook>,
    backplane: Option<Arc<dyn Backplane>>,
    outage_local_expiration: Duration,
}

impl fmt::Debug for HybridCacheBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HybridCacheBuilder")
            .field("distributed", &self.distributed)
            .field("local_capacity", &self.local_capacity)
            .field("defaults", &self.defaults)
            .field("tag_check_interval", &self.tag_check_interval)
            .field("codec", &self.codec)
            .field("backplane", &self.backplane)
            .finish_non_exhaustive()
    }
}

impl Default for HybridCacheBuilder {
    fn default() -> Self {
        HybridCacheBuilder {
            distributed: None,
            local_capacity: DEFAULT_LOCAL_CAPACITY_BYTES,
            defaults: HybridEntryOptions::new(),
            default_local_expiration: DEFAULT_EXPIRATION,
            tag_check_interval: DEFAULT_TAG_CHECK_INTERVAL,
            tag_prefix: DEFAULT_TAG_KEY_PREFIX.to_owned(),
            codec: Codec::default(),
            compression_threshold: Some(DEFAULT_COMPRESSION_THRESHOLD),
            clock: Arc::new(SystemClock),
            hook: None,
            backplane: None,
            outage_local_expiration: DEFAULT_OUTAGE_LOCAL_EXPIRATION,
        }
    }
}

impl HybridCacheBuilder {
    /// The distributed tier (any backend). Without one the cache is local only.
    pub fn distributed(mut self, cache: Arc<dyn DistributedCache>) -> Self {
        self.distributed = Some(cache);
        self
    }

    /// The local tier's size limit in bytes (keys, payloads, per-entry
    /// overhead); least-useful entries are evicted past it.
    pub fn local_capacity_bytes(mut self, bytes: u64) -> Self {
        self.local_capacity = bytes;
        self
    }

    /// The options of calls that pass none ([`HybridCache::get`],
    /// [`HybridCache::get_or_create_default`]): 5 minutes by default.
    pub fn default_options(mut self, options: HybridEntryOptions) -> Self {
        self.defaults = options;
        self
    }

    /// How long a local copy lives when its options set no
    /// `local_expiration` (default 5 minutes; always capped by the
    /// distributed expiration).
    pub fn default_local_expiration(mut self, after: Duration) -> Self {
        self.default_local_expiration = after;
        self
    }

    /// How long a tag's invalidation instant is cached before it is read
    /// again (default 1 s): the window in which another instance can still
    /// return an entry removed by tag.
    pub fn tag_check_interval(mut self, every: Duration) -> Self {
        self.tag_check_interval = every;
        self
    }

    /// The distributed-tier key prefix of tag instants (default `__hybrid_tag:`).
    pub fn tag_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.tag_prefix = prefix.into();
        self
    }

    /// How typed values are serialized (default JSON).
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// Distributed payloads at least this long are LZ4-compressed when the
    /// `lz4` feature is on (default 1 KiB); `None` never compresses.
    pub fn compression_threshold(mut self, bytes: Option<usize>) -> Self {
        self.compression_threshold = bytes;
        self
    }

    /// The clock expiration is judged by, in both the local tier and the
    /// payload headers (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Called after every local `set`, `remove` and `remove_by_tag`: where a
    /// backplane tells the other instances.
    pub fn on_invalidation(mut self, hook: InvalidationHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// Tells the other instances on `backplane` about every local `set`,
    /// `remove` and `remove_by_tag`, and evicts local copies on what they
    /// tell (see the [`backplane`](crate::backplane) module). `build` must
    /// then run within a tokio runtime (it starts the backplane's tasks).
    pub fn backplane(mut self, backplane: Arc<dyn Backplane>) -> Self {
        self.backplane = Some(backplane);
        self
    }

    /// While the backplane is down (or not yet connected), the local tier
    /// is cleared this often, so no local copy is served longer than this
    /// without the backplane (default 5 s). Only with a backplane.
    pub fn outage_local_expiration(mut self, at_most: Duration) -> Self {
        self.outage_local_expiration = at_most;
        self
    }

    /// Builds the cache. Synchronous, no I/O; a tokio runtime is needed only
    /// by the calls (and by `build` itself with a backplane).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](cache_abstractions::ErrorKind::Config) for a
    /// local capacity of zero, a zero tag check interval or outage
    /// expiration, or a backplane outside a tokio runtime.
    pub fn build(self) -> Result<HybridCache> {
        if self.outage_local_expiration.is_zero() {
            return Err(Error::config(
                "the outage local expiration must be greater than zero",
            ));
        }
        if self.tag_check_interval.is_zero() {
            return Err(Error::config(
                "the tag check interval must be greater than zero",
            ));
        }
        self.defaults.validate()?;
        let local = MemoryCache::builder()
            .capacity_bytes(self.local_capacity)
            .clock(Arc::clone(&self.clock))
            .build()?;
        let capabilities = match &self.distributed {
            Some(d) => d.capabilities(),
            None => cache_abstractions::DistributedCache::capabilities(&local),
        };
        let attachment = self.backplane.map(|backplane| Attachment {
            backplane,
            outage_local_expiration: self.outage_local_expiration,
        });
        let publisher = attachment
            .as_ref()
            .map(backplane::start_publisher)
            .transpose()?;
        let hook = match (&publisher, self.hook) {
            (Some(p), user) => {
                let p = Arc::clone(p);
                Some(Arc::new(move |what: Invalidation<'_>| {
                    p.send(what);
                    if let Some(user) = &user {
                        user(what);
                    }
                }) as InvalidationHook)
            }
            (None, user) => user,
        };
        let cache = HybridCache::from_inner(Inner {
            local,
            distributed: self.distributed,
            capabilities,
            clock: self.clock,
            codec: self.codec,
            compression_threshold: self.compression_threshold,
            defaults: self.defaults,
            default_local_expiration: self.default_local_expiration,
            tags: Tags::new(self.tag_check_interval, self.tag_prefix),
            hook,
            flights: Default::default(),
            counters: Default::default(),
        });
        if let (Some(attachment), Some(publisher)) = (&attachment, &publisher) {
            cache.listen(attachment, publisher.id())?;
        }
        Ok(cache)
    }
}
