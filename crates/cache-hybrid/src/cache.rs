//! [`HybridCache`]: reads, writes and get-or-create across the two tiers.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Buf, Bytes};
use cache_abstractions::{
    max_absolute_expiration, BoxError, Capabilities, Clock, DistributedCache, EntryOptions, Error,
    ErrorKind, Result,
};
use cache_memory::MemoryCache;
use futures::future::{BoxFuture, FutureExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::builder::{HybridCacheBuilder, Invalidation, InvalidationHook};
use crate::codec::{self, Codec, RAW};
use crate::flight::{Done, Failure, FlightGuard, Flights, Outcome};
use crate::format::{from_micros, to_micros, Header, Payload, COMPRESSED};
use crate::options::HybridEntryOptions;
use crate::outcome::{Counters, FactoryError, Fetched, HybridStats, Source};
use crate::tags::Tags;

/// The value-making half of a get-or-create, type-erased: bytes in the
/// cache's codec, or the failure every waiter gets.
type Make = Box<dyn FnOnce() -> BoxFuture<'static, std::result::Result<Bytes, Failure>> + Send>;

/// A bounded in-process tier in front of an optional distributed tier, with
/// per-key stampede protection, tags and fail-safe. Clones share everything.
///
/// ```
/// use cache_hybrid::{HybridCache, HybridEntryOptions};
/// use cache_memory::MemoryCache;
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> cache_abstractions::Result<()> {
/// let cache = HybridCache::new(Arc::new(MemoryCache::new()));
/// let options = HybridEntryOptions::new()
///     .expires_in(Duration::from_secs(300))
///     .tag("products");
/// let name: String = cache
///     .get_or_create("product:7", &options, || async {
///         Ok::<_, std::io::Error>("a slow lookup".to_string())
///     })
///     .await?
///     .into_value();
/// assert_eq!(name, "a slow lookup");
/// cache.remove_by_tag("products").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HybridCache {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) local: MemoryCache,
    pub(crate) distributed: Option<Arc<dyn DistributedCache>>,
    /// The key limits of the tier with the stricter ones (the distributed one).
    pub(crate) capabilities: Capabilities,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) codec: Codec,
    pub(crate) compression_threshold: Option<usize>,
    pub(crate) defaults: HybridEntryOptions,
    pub(crate) default_local_expiration: Duration,
    pub(crate) tags: Tags,
    pub(crate) hook: Option<InvalidationHook>,
    pub(crate) flights: Arc<Flights>,
    pub(crate) counters: Counters,
}

impl fmt::Debug for HybridCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HybridCache")
            .field("local", &self.inner.local)
            .field("distributed", &self.inner.distributed)
            .field("codec", &self.inner.codec)
            .finish_non_exhaustive()
    }
}

/// A fresh local copy found by [`Inner::local_fresh`].
struct LocalHit {
    value: Bytes,
    created_at: u64,
    expires_at: Option<u64>,
}

/// What a tier holds under a key, as far as this reader is concerned.
enum Read {
    Fresh(Payload),
    /// Past its logical expiration but still kept (fail-safe).
    Stale(Payload),
    Miss,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Nothing usable locally: try the distributed tier, then the factory.
    Miss,
    /// Eager refresh: straight to the factory, nobody waits.
    Refresh,
}

impl HybridCache {
    /// A builder with every default (local only until
    /// [`distributed`](HybridCacheBuilder::distributed) is set).
    pub fn builder() -> HybridCacheBuilder {
        HybridCacheBuilder::default()
    }

    /// A cache over `distributed` with every default; any backend, opened
    /// from its URL through the `distcache` facade:
    ///
    /// ```
    /// use cache_hybrid::HybridCache;
    ///
    /// // "redis://host:6379/", "sqlserver://...", "memory://" ...
    /// let cache = HybridCache::new(distcache::open("memory://")?);
    /// # let _ = cache;
    /// # Ok::<(), cache_abstractions::Error>(())
    /// ```
    pub fn new(distributed: Arc<dyn DistributedCache>) -> Self {
        HybridCache::builder()
            .distributed(distributed)
            .build()
            .expect("the default settings are valid")
    }

    /// A cache with no distributed tier, with every default.
    pub fn local_only() -> Self {
        HybridCache::builder()
            .build()
            .expect("the default settings are valid")
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        HybridCache {
            inner: Arc::new(inner),
        }
    }

    /// The distributed tier, if any.
    pub fn distributed(&self) -> Option<&Arc<dyn DistributedCache>> {
        self.inner.distributed.as_ref()
    }

    /// Counters since the cache was built.
    pub fn stats(&self) -> HybridStats {
        self.inner.counters.snapshot()
    }

    /// The local tier (its size, for `metrics.rs`).
    #[cfg(feature = "metrics")]
    pub(crate) fn local_tier(&self) -> &MemoryCache {
        &self.inner.local
    }

    /// The value under `key`, or the one `factory` makes (then cached in
    /// both tiers). Concurrent calls for one key share one factory run; see
    /// the crate docs for cancellation, panics, errors and fail-safe.
    ///
    /// The factory runs on a tokio task of its own (hence `'static`), so a
    /// caller that is cancelled does not cancel it: the others get its value.
    pub async fn get_or_create<T, F, Fut, E>(
        &self,
        key: &str,
        options: &HybridEntryOptions,
        factory: F,
    ) -> Result<Fetched<T>>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let codec = self.inner.codec;
        // Boxed only when a factory may run (not on a local hit).
        let make = move || -> Make {
            Box::new(move || {
                async move {
                    let value = factory()
                        .await
                        .map_err(|e| Failure::factory(FactoryError::new(e.into())))?;
                    codec
                        .serialize(&value)
                        .map(Bytes::from)
                        .map_err(|e| Failure::new(e.kind(), e.message().to_owned()))
                }
                .boxed()
            })
        };
        self.get_or_create_with(
            key,
            options,
            codec.id(),
            |b: Bytes| codec.deserialize(&b),
            make,
        )
        .await
    }

    /// [`get_or_create`](Self::get_or_create) with the builder's default options.
    pub async fn get_or_create_default<T, F, Fut, E>(
        &self,
        key: &str,
        factory: F,
    ) -> Result<Fetched<T>>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<T, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let defaults = self.inner.defaults.clone();
        self.get_or_create(key, &defaults, factory).await
    }

    /// [`get_or_create`](Self::get_or_create) for raw bytes (no serializer).
    pub async fn get_or_create_bytes<F, Fut, E>(
        &self,
        key: &str,
        options: &HybridEntryOptions,
        factory: F,
    ) -> Result<Fetched<Bytes>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = std::result::Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let make = move || -> Make {
            Box::new(move || {
                async move {
                    factory()
                        .await
                        .map_err(|e| Failure::factory(FactoryError::new(e.into())))
                }
                .boxed()
            })
        };
        self.get_or_create_with(key, options, RAW, Some, make).await
    }

    /// The typed value under `key` in either tier, without a factory.
    /// A value of another type or codec is a miss.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<Fetched<T>>> {
        let codec = self.inner.codec;
        self.get_with(key, codec.id(), |b: Bytes| codec.deserialize(&b))
            .await
    }

    /// The bytes stored under `key` by the bytes API, in either tier.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Fetched<Bytes>>> {
        self.get_with(key, RAW, Some).await
    }

    /// Stores `value` in both tiers (as the flags allow). A distributed-tier
    /// failure is returned, after the local tier was written.
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
        options: &HybridEntryOptions,
    ) -> Result<()> {
        let codec = self.inner.codec;
        let bytes = Bytes::from(codec.serialize(value)?);
        self.set_encoded(key, bytes, codec.id(), options).await
    }

    /// Stores raw bytes in both tiers.
    pub async fn set_bytes(
        &self,
        key: &str,
        value: Bytes,
        options: &HybridEntryOptions,
    ) -> Result<()> {
        self.set_encoded(key, value, RAW, options).await
    }

    /// Removes `key` from both tiers. A distributed-tier failure is
    /// returned, after the local copy was removed.
    pub async fn remove(&self, key: &str) -> Result<()> {
        self.validate_key(key)?;
        self.evict_local(key).await;
        self.notify(Invalidation::Key(key));
        match &self.inner.distributed {
            Some(d) => d
                .remove(key)
                .await
                .inspect_err(|e| self.inner.distributed_failed("remove", e)),
            None => Ok(()),
        }
    }

    /// Invalidates every entry carrying `tag`, in this instance at once and
    /// in every instance sharing the distributed tier within the tag check
    /// interval. A distributed-tier failure is returned (this instance is
    /// invalidated regardless).
    pub async fn remove_by_tag(&self, tag: &str) -> Result<()> {
        if tag.is_empty() {
            return Err(Error::invalid_options("tags", "a tag must not be empty"));
        }
        let now = self.inner.now();
        self.notify(Invalidation::Tag(tag, now));
        self.inner
            .tags
            .invalidate(tag, now, self.inner.distributed.as_ref())
            .await
            .inspect_err(|e| self.inner.distributed_failed("remove_by_tag", e))
    }

    /// Drops this instance's local copy of `key` only (for a backplane
    /// that heard of a change elsewhere).
    pub async fn evict_local(&self, key: &str) {
        // The key was validated by the caller or comes from another
        // instance that validated it; an invalid key has no local copy.
        let _ = self.inner.local.remove(key).await;
    }

    /// Records that `tag` was invalidated at `at_micros` (microseconds since
    /// the Unix epoch, as [`Invalidation::Tag`] carries it) in this
    /// instance only, without waiting for the tag check interval (for a
    /// backplane that heard of it from another instance).
    pub fn evict_local_tag(&self, tag: &str, at_micros: u64) {
        self.inner.tags.record(tag, at_micros, self.inner.now());
    }

    /// Drops every local copy, in this instance and (through the backplane,
    /// if any) in every other one. The distributed tier is untouched.
    pub fn clear_local_everywhere(&self) {
        self.inner.local.clear();
        self.notify(Invalidation::All);
    }

    pub(crate) fn listen(
        &self,
        attachment: &crate::backplane::Attachment,
        me: crate::backplane::InstanceId,
    ) -> Result<()> {
        crate::backplane::listen(&self.inner, attachment, me)
    }

    fn notify(&self, what: Invalidation<'_>) {
        if let Some(hook) = &self.inner.hook {
            hook(what);
        }
    }

    fn validate_key(&self, key: &str) -> Result<()> {
        self.inner.capabilities.validate_key(key)
    }

    async fn set_encoded(
        &self,
        key: &str,
        value: Bytes,
        codec: u8,
        options: &HybridEntryOptions,
    ) -> Result<()> {
        self.validate_key(key)?;
        options.validate()?;
        let (_, distributed) = self.inner.write(key, value, codec, options, None).await?;
        self.notify(Invalidation::Key(key));
        distributed
    }

    /// A read of either tier. The common case, a fresh local copy, is
    /// answered before anything waits (see [`Inner::local_fresh`]); the
    /// rest is boxed, so the hot path's future stays small.
    async fn get_with<V>(
        &self,
        key: &str,
        codec: u8,
        decode: impl Fn(Bytes) -> Option<V>,
    ) -> Result<Option<Fetched<V>>> {
        self.validate_key(key)?;
        let inner = &self.inner;
        let (at, now) = inner.clock_now();
        if let Some(hit) = inner.local_fresh(key, codec, at, now) {
            if let Some(v) = decode(hit.value) {
                Counters::bump(&inner.counters.local_hits);
                return Ok(Some(Fetched::new(v, Source::Local, false)));
            }
        }
        Box::pin(self.get_slow(key, codec, &decode, now)).await
    }

    async fn get_slow<V>(
        &self,
        key: &str,
        codec: u8,
        decode: &impl Fn(Bytes) -> Option<V>,
        now: u64,
    ) -> Result<Option<Fetched<V>>> {
        let inner = &self.inner;
        if let Read::Fresh(p) = inner.read_local(key, codec, now).await {
            if let Some(v) = decode(p.value) {
                Counters::bump(&inner.counters.local_hits);
                return Ok(Some(Fetched::new(v, Source::Local, false)));
            }
        }
        Counters::bump(&inner.counters.local_misses);
        if let Read::Fresh(p) = inner.read_distributed(key, codec, now).await {
            if let Some(v) = decode(p.value.clone()) {
                let defaults = inner.defaults.clone();
                inner.write_local(key, &p, &defaults, false, now).await;
                Counters::bump(&inner.counters.distributed_hits);
                return Ok(Some(Fetched::new(v, Source::Distributed, false)));
            }
        }
        inner.distributed_missed();
        Ok(None)
    }

    /// Get-or-create; a fresh local copy is answered before anything
    /// waits, and `make` (the boxed factory) is built only when needed.
    async fn get_or_create_with<V>(
        &self,
        key: &str,
        options: &HybridEntryOptions,
        codec: u8,
        decode: impl Fn(Bytes) -> Option<V>,
        make: impl FnOnce() -> Make,
    ) -> Result<Fetched<V>> {
        self.validate_key(key)?;
        options.validate()?;
        let inner = &self.inner;
        let (at, now) = inner.clock_now();
        if options.flags.local_read {
            if let Some(hit) = inner.local_fresh(key, codec, at, now) {
                let (created_at, expires_at) = (hit.created_at, hit.expires_at);
                if let Some(v) = decode(hit.value) {
                    Counters::bump(&inner.counters.local_hits);
                    self.maybe_refresh_early(
                        key, options, codec, created_at, expires_at, now, make,
                    );
                    return Ok(Fetched::new(v, Source::Local, false));
                }
            }
        }
        Box::pin(self.get_or_create_slow(key, options, codec, &decode, make, now)).await
    }

    async fn get_or_create_slow<V>(
        &self,
        key: &str,
        options: &HybridEntryOptions,
        codec: u8,
        decode: &impl Fn(Bytes) -> Option<V>,
        make: impl FnOnce() -> Make,
        now: u64,
    ) -> Result<Fetched<V>> {
        let inner = &self.inner;
        let mut stale = None;
        if options.flags.local_read {
            match inner.read_local(key, codec, now).await {
                Read::Fresh(p) => {
                    let (created_at, expires_at) = (p.created_at, p.expires_at);
                    if let Some(v) = decode(p.value) {
                        Counters::bump(&inner.counters.local_hits);
                        self.maybe_refresh_early(
                            key, options, codec, created_at, expires_at, now, make,
                        );
                        return Ok(Fetched::new(v, Source::Local, false));
                    }
                }
                Read::Stale(p) => stale = Some((p, Source::Local)),
                Read::Miss => {}
            }
            Counters::bump(&inner.counters.local_misses);
        }
        let (waiter, _) = inner.flights.join_or_start(key, |guard| {
            run_flight(
                Arc::clone(inner),
                guard,
                key.to_owned(),
                options.clone(),
                codec,
                stale,
                make(),
                Kind::Miss,
            )
            .boxed()
        })?;
        let done = waiter.await.map_err(|f| f.to_error())?;
        let value = decode(done.payload.value.clone()).ok_or_else(|| {
            Error::serialization(
                "the value does not decode as the requested type (two types under one key?)",
            )
        })?;
        Ok(Fetched::new(value, done.source, done.stale))
    }

    /// Starts a background refresh when the local copy is past the eager
    /// fraction of its life and none is running.
    #[allow(clippy::too_many_arguments)]
    fn maybe_refresh_early(
        &self,
        key: &str,
        options: &HybridEntryOptions,
        codec: u8,
        created_at: u64,
        expires_at: Option<u64>,
        now: u64,
        make: impl FnOnce() -> Make,
    ) {
        let (Some(fraction), Some(expires)) = (options.eager_refresh, expires_at) else {
            return;
        };
        let life = expires.saturating_sub(created_at) as f64;
        let due = created_at.saturating_add((life * fraction) as u64);
        if now < due || self.inner.flights.is_running(key) {
            return;
        }
        let inner = &self.inner;
        // Fire and forget: a failure is counted and logged in the flight.
        let _ = inner.flights.join_or_start(key, |guard| {
            run_flight(
                Arc::clone(inner),
                guard,
                key.to_owned(),
                options.clone(),
                codec,
                None,
                make(),
                Kind::Refresh,
            )
            .boxed()
        });
    }
}

/// One computation for one key: the distributed tier, then the factory.
#[allow(clippy::too_many_arguments)]
async fn run_flight(
    inner: Arc<Inner>,
    guard: FlightGuard,
    key: String,
    options: HybridEntryOptions,
    codec: u8,
    mut stale: Option<(Payload, Source)>,
    make: Make,
    kind: Kind,
) -> Outcome {
    let now = inner.now();
    if kind == Kind::Miss && options.flags.distributed_read {
        match inner.read_distributed(&key, codec, now).await {
            Read::Fresh(p) => {
                if options.flags.local_write {
                    inner.write_local(&key, &p, &options, false, now).await;
                }
                Counters::bump(&inner.counters.distributed_hits);
                return Ok(Arc::new(Done {
                    payload: p,
                    source: Source::Distributed,
                    stale: false,
                }));
            }
            Read::Stale(p) => {
                inner.distributed_missed();
                if stale
                    .as_ref()
                    .is_none_or(|(s, _)| s.created_at < p.created_at)
                {
                    stale = Some((p, Source::Distributed));
                }
            }
            Read::Miss => inner.distributed_missed(),
        }
    }
    // A stale copy is only usable within the reader's fail-safe window.
    let stale = options.fail_safe.and_then(|fs| {
        let fs = micros(fs);
        stale.filter(|(p, _)| p.expires_at.is_none_or(|e| now <= e.saturating_add(fs)))
    });
    Counters::bump(&inner.counters.factory_calls);
    let mut task = tokio::spawn(make());
    if let (Some(soft), Some((p, source))) = (options.soft_timeout, &stale) {
        if let Ok(joined) = tokio::time::timeout(soft, &mut task).await {
            return inner
                .finish(&key, &options, codec, stale, joined_result(joined), now)
                .await;
        }
        // Slow: serve the stale copy; the factory goes on and updates both
        // tiers. The guard moves along, so callers arriving meanwhile join
        // this (finished) flight instead of starting another factory.
        let remaining = options.hard_timeout.map(|h| h.saturating_sub(soft));
        let background = Arc::clone(&inner);
        let served = Done {
            payload: p.clone(),
            source: *source,
            stale: true,
        };
        tokio::spawn(async move {
            let result = wait(task, remaining).await;
            let _ = background
                .finish(&key, &options, codec, None, result, now)
                .await;
            drop(guard);
        });
        Counters::bump(&inner.counters.stale_served);
        return Ok(Arc::new(served));
    }
    let result = wait(task, options.hard_timeout).await;
    let outcome = inner
        .finish(&key, &options, codec, stale, result, now)
        .await;
    drop(guard);
    outcome
}

type Joined = std::result::Result<std::result::Result<Bytes, Failure>, tokio::task::JoinError>;

/// The factory's result, its panic, or its hard timeout (the task is then aborted).
async fn wait(
    mut task: JoinHandle<std::result::Result<Bytes, Failure>>,
    hard: Option<Duration>,
) -> std::result::Result<Bytes, Failure> {
    let joined = match hard {
        None => (&mut task).await,
        Some(limit) => match tokio::time::timeout(limit, &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                task.abort();
                return Err(Failure::new(
                    ErrorKind::Timeout,
                    format!("the factory did not finish within the hard timeout of {limit:?}"),
                ));
            }
        },
    };
    joined_result(joined)
}

fn joined_result(joined: Joined) -> std::result::Result<Bytes, Failure> {
    joined.unwrap_or_else(|e| {
        let why = if e.is_panic() {
            let payload = e.into_panic();
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text payload".to_owned());
            format!("the factory panicked: {text}")
        } else {
            "the factory's task was cancelled (runtime shutting down?)".to_owned()
        };
        Err(Failure::new(ErrorKind::Backend, why))
    })
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Inner {
    pub(crate) fn now(&self) -> u64 {
        to_micros(self.clock.now())
    }

    /// One reading of the clock, as an instant (for the local tier) and in
    /// microseconds (for payload headers).
    fn clock_now(&self) -> (SystemTime, u64) {
        let at = self.clock.now();
        (at, to_micros(at))
    }

    /// The local tier's hot path: a fresh copy in `codec` whose tags (if
    /// any) are known valid from the instants cached here, read without
    /// waiting, with one clock reading shared with the store, the header
    /// read in place and the value handed out without a copy or a second
    /// reference count. `None` leaves every other case (absent, stale,
    /// a tag instant to fetch, foreign) to [`read_local`](Self::read_local).
    fn local_fresh(&self, key: &str, codec: u8, at: SystemTime, now: u64) -> Option<LocalHit> {
        let mut bytes = self.local.get_sync_at(key, at).ok()??;
        let h = Header::parse(&bytes, false)?;
        if h.codec != codec || h.is_expired(now) {
            return None;
        }
        if h.has_tags()
            && self
                .tags
                .cached_verdict(h.tags(), h.created_at, self.distributed.is_some(), now)
                != Some(false)
        {
            return None;
        }
        let (created_at, expires_at, value_at) = (h.created_at, h.expires_at, h.value_at);
        bytes.advance(value_at);
        Some(LocalHit {
            value: bytes,
            created_at,
            expires_at,
        })
    }

    /// Counts a read of the distributed tier that found nothing usable
    /// (none without a distributed tier: nothing was read).
    fn distributed_missed(&self) {
        if self.distributed.is_some() {
            Counters::bump(&self.counters.distributed_misses);
        }
    }

    fn distributed_failed(&self, op: &str, e: &Error) {
        Counters::bump(&self.counters.distributed_errors);
        tracing::warn!(target: "cache_hybrid", operation = op, error = %e, "distributed tier failed");
    }

    /// The factory's outcome: cache and share a value; on failure serve the
    /// stale copy under fail-safe, else share the failure (nothing cached).
    async fn finish(
        &self,
        key: &str,
        options: &HybridEntryOptions,
        codec: u8,
        stale: Option<(Payload, Source)>,
        result: std::result::Result<Bytes, Failure>,
        started: u64,
    ) -> Outcome {
        match result {
            // A distributed-tier failure is logged, never returned here.
            // Created-at is when the computation started: a remove_by_tag
            // while the factory ran invalidates what it made (its data may
            // predate the invalidation).
            Ok(value) => match self.write(key, value, codec, options, Some(started)).await {
                Ok((payload, _)) => Ok(Arc::new(Done {
                    payload,
                    source: Source::Factory,
                    stale: false,
                })),
                // Options that don't resolve now (an absolute expiration
                // that passed while the factory ran).
                Err(e) => Err(Failure::new(e.kind(), e.message().to_owned())),
            },
            Err(failure) => {
                Counters::bump(&self.counters.factory_errors);
                tracing::warn!(target: "cache_hybrid", key, error = %failure.to_error(), "factory failed");
                match stale {
                    Some((payload, source)) => {
                        Counters::bump(&self.counters.stale_served);
                        Ok(Arc::new(Done {
                            payload,
                            source,
                            stale: true,
                        }))
                    }
                    None => Err(failure),
                }
            }
        }
    }

    async fn read_local(&self, key: &str, codec: u8, now: u64) -> Read {
        // The concrete store's synchronous get: no boxed future per hit.
        let Ok(Some(bytes)) = self.local.get_sync(key) else {
            return Read::Miss;
        };
        match Payload::decode(&bytes, false) {
            Some(p) if p.codec == codec => {
                if self.invalidated(&p, now).await {
                    let _ = self.local.remove(key).await;
                    return Read::Miss;
                }
                classify(p, now)
            }
            _ => Read::Miss,
        }
    }

    /// A payload from the distributed tier in its local form (uncompressed),
    /// or a miss: absent, unreachable, foreign, corrupt, other codec, tagged out.
    async fn read_distributed(&self, key: &str, codec: u8, now: u64) -> Read {
        let Some(d) = &self.distributed else {
            return Read::Miss;
        };
        let bytes = match d.get(key).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Read::Miss,
            Err(e) => {
                self.distributed_failed("get", &e);
                return Read::Miss;
            }
        };
        let Some(mut p) = Payload::decode(&bytes, true) else {
            return Read::Miss;
        };
        if p.codec & !COMPRESSED != codec {
            return Read::Miss;
        }
        let Some(value) = codec::decompress(p.codec, p.value.clone()) else {
            return Read::Miss;
        };
        p.codec = codec;
        p.value = value;
        if self.invalidated(&p, now).await {
            return Read::Miss;
        }
        classify(p, now)
    }

    async fn invalidated(&self, p: &Payload, now: u64) -> bool {
        !p.tags.is_empty()
            && self
                .tags
                .any_invalidated(&p.tags, p.created_at, self.distributed.as_ref(), now, |e| {
                    self.distributed_failed("tag check", e)
                })
                .await
    }

    /// Writes a fresh value to both tiers (as the flags allow), local first.
    /// Returns its local-form payload and the distributed write's result
    /// (logged and counted here; `set` returns it, get-or-create does not).
    /// Fails only on options that don't resolve.
    async fn write(
        &self,
        key: &str,
        value: Bytes,
        codec: u8,
        options: &HybridEntryOptions,
        created_at: Option<u64>,
    ) -> Result<(Payload, Result<()>)> {
        let now = self.now();
        let distributed_options = if options.distributed.is_empty() {
            match &self.distributed {
                Some(d) => d.capabilities().default_options,
                None => EntryOptions::new(),
            }
        } else {
            options.distributed.clone()
        };
        let expiry = distributed_options.resolve(from_micros(now))?;
        let payload = Payload {
            codec,
            created_at: created_at.unwrap_or(now).min(now),
            expires_at: expiry.absolute.map(to_micros),
            sliding: expiry.sliding.map(micros),
            tags: options.tags.clone(),
            value,
        };
        let shared = self
            .distributed
            .as_ref()
            .filter(|_| options.flags.distributed_write);
        if options.flags.local_write {
            self.write_local(key, &payload, options, shared.is_none(), now)
                .await;
        }
        if let Some(d) = shared {
            let (stored, compressed) =
                codec::compress(payload.value.clone(), self.compression_threshold);
            let on_wire = Payload {
                codec: if compressed {
                    codec | COMPRESSED
                } else {
                    codec
                },
                value: stored,
                ..payload.clone()
            };
            // Fail-safe keeps the entry physically past its logical expiration.
            let mut physical = EntryOptions::new();
            if let Some(abs) = expiry.absolute {
                let keep = options
                    .fail_safe
                    .and_then(|fs| abs.checked_add(fs))
                    .unwrap_or(abs)
                    .min(max_absolute_expiration());
                physical = physical.expires_at(keep);
            }
            if let Some(w) = expiry.sliding {
                physical = physical.sliding(w);
            }
            let written = d.set(key, on_wire.encode(), &physical).await;
            if let Err(e) = &written {
                self.distributed_failed("set", e);
            }
            return Ok((payload, written));
        }
        Ok((payload, Ok(())))
    }

    /// Writes the local copy of `p`: it lives until the earliest of its
    /// logical expiration, the local expiration and (for a sliding entry
    /// shared with other instances) half the window, so it never outlives
    /// the distributed entry; fail-safe keeps it physically longer.
    /// `only_copy`: there is no distributed copy, so the local tier is the
    /// store (it slides itself, and only an explicit local expiration caps it).
    async fn write_local(
        &self,
        key: &str,
        p: &Payload,
        options: &HybridEntryOptions,
        only_copy: bool,
        now: u64,
    ) {
        let cap = if only_copy {
            options.local_expiration
        } else {
            Some(
                options
                    .local_expiration
                    .unwrap_or(self.default_local_expiration),
            )
        };
        let earliest = |a: Option<u64>, b: u64| Some(a.map_or(b, |a| a.min(b)));
        let mut deadline = cap.map(|d| now.saturating_add(micros(d)));
        if let Some(e) = p.expires_at {
            deadline = earliest(deadline, e);
        }
        let mut physical = EntryOptions::new();
        match p.sliding {
            Some(w) if only_copy => physical = physical.sliding(Duration::from_micros(w)),
            Some(w) => deadline = earliest(deadline, now.saturating_add((w / 2).max(1))),
            None => {}
        }
        if let Some(d) = deadline {
            if d <= now {
                return;
            }
            let keep = options
                .fail_safe
                .map_or(d, |fs| d.saturating_add(micros(fs)));
            physical = physical.expires_at(from_micros(keep).min(max_absolute_expiration()));
        }
        let local = Payload {
            expires_at: deadline,
            ..p.clone()
        };
        if let Err(e) = self.local.set(key, local.encode(), &physical).await {
            tracing::debug!(target: "cache_hybrid", key, error = %e, "not kept in the local tier");
        }
    }
}

fn classify(p: Payload, now: u64) -> Read {
    if p.is_expired(now) {
        Read::Stale(p)
    } else {
        Read::Fresh(p)
    }
}
