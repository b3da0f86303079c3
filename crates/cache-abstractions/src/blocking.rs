//! Synchronous access to any [`DistributedCache`] (.NET has `Get` beside
//! `GetAsync`; so do we).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use tokio::runtime::{Handle, Runtime};

use crate::cache::{DistributedCache, EntryInfo};
use crate::error::{Error, ErrorKind, Result};
use crate::ext::DistributedCacheExt;
use crate::options::EntryOptions;

/// The four cache operations for synchronous code, with the same semantics
/// as the async ones.
///
/// A `BlockingCache` runs each call to completion on a tokio runtime: its own
/// (one worker thread, which also keeps a backend's connection tasks going
/// between calls) from [`new`](Self::new) and [`build`](Self::build), or one
/// you already run, from [`with_handle`](Self::with_handle). Clones share the
/// cache and the runtime.
///
/// # Inside an async runtime
///
/// Blocking a thread that drives async tasks would stall every task on it
/// (tokio forbids it with a panic), so every call first checks
/// [`Handle::try_current`]: on a thread inside a runtime's context it
/// returns an [`ErrorKind::Unsupported`] error at once, without blocking and
/// without any panic (no message on stderr, no panic hook, fine under
/// `panic = "abort"`). That includes `tokio::task::spawn_blocking` closures,
/// which run inside the runtime's context: there, call the async API through
/// `Handle::current().block_on(cache.get(key))`. From async code, use the
/// async trait directly. Use the blocking facade from plain threads.
///
/// ```
/// use cache_abstractions::{BlockingCache, DistributedCache, EntryOptions};
/// # use cache_abstractions::{async_trait, Bytes, Capabilities, Result};
/// # use std::{collections::HashMap, sync::{Arc, Mutex}};
/// # #[derive(Debug, Default)] struct MapCache(Mutex<HashMap<String, Bytes>>);
/// # #[async_trait] impl DistributedCache for MapCache {
/// #   async fn get(&self, k: &str) -> Result<Option<Bytes>> { Ok(self.0.lock().unwrap().get(k).cloned()) }
/// #   async fn set(&self, k: &str, v: Bytes, _: &EntryOptions) -> Result<()> { self.0.lock().unwrap().insert(k.into(), v); Ok(()) }
/// #   async fn refresh(&self, _: &str) -> Result<()> { Ok(()) }
/// #   async fn remove(&self, k: &str) -> Result<()> { self.0.lock().unwrap().remove(k); Ok(()) }
/// #   fn capabilities(&self) -> Capabilities { Capabilities::new() }
/// # }
///
/// let cache = BlockingCache::new(Arc::new(MapCache::default()))?;
/// cache.set("k", "v", &EntryOptions::new())?;
/// assert_eq!(cache.get("k")?.as_deref(), Some(&b"v"[..]));
/// cache.remove("k")?;
/// assert_eq!(cache.get("k")?, None);
/// # Ok::<(), cache_abstractions::Error>(())
/// ```
pub struct BlockingCache<C: ?Sized> {
    cache: Arc<C>,
    runtime: Executor,
}

#[derive(Clone)]
enum Executor {
    Owned(Arc<OwnedRuntime>),
    Borrowed(Handle),
}

/// Refuses to block a thread inside a runtime's context (see "Inside an
/// async runtime" above), before anything could panic.
fn refuse_inside_runtime() -> Result<()> {
    if Handle::try_current().is_ok() {
        return Err(Error::unsupported(
            "blocking cache call made inside an async runtime; use the async API \
             (or Handle::block_on from spawn_blocking), or call from a plain thread",
        ));
    }
    Ok(())
}

/// Shuts its runtime down without blocking, so dropping the last
/// `BlockingCache` is safe even inside async code.
struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl<C: ?Sized> Clone for BlockingCache<C> {
    fn clone(&self) -> Self {
        BlockingCache {
            cache: Arc::clone(&self.cache),
            runtime: self.runtime.clone(),
        }
    }
}

impl<C: ?Sized + fmt::Debug> fmt::Debug for BlockingCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runtime = match self.runtime {
            Executor::Owned(_) => "owned",
            Executor::Borrowed(_) => "handle",
        };
        f.debug_struct("BlockingCache")
            .field("cache", &self.cache)
            .field("runtime", &runtime)
            .finish()
    }
}

fn own_runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("blocking-cache")
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::Backend, "cannot start a tokio runtime").with_source(e))
}

impl<C: DistributedCache + ?Sized> BlockingCache<C> {
    /// Wraps `cache`, running calls on a runtime of its own.
    ///
    /// If the backend keeps connections tied to the runtime that created them
    /// (Redis, SQL Server), create it with [`build`](Self::build) instead, or
    /// use [`with_handle`](Self::with_handle) with the runtime it lives on.
    pub fn new(cache: Arc<C>) -> Result<Self> {
        Ok(BlockingCache {
            cache,
            runtime: Executor::Owned(Arc::new(OwnedRuntime(Some(own_runtime()?)))),
        })
    }

    /// Wraps `cache`, running calls on the runtime behind `handle`.
    ///
    /// Calls block the calling thread until done, so the runtime must be
    /// running elsewhere (a multi-thread runtime, or a current-thread one
    /// driven by another thread).
    pub fn with_handle(cache: Arc<C>, handle: Handle) -> Self {
        BlockingCache {
            cache,
            runtime: Executor::Borrowed(handle),
        }
    }

    /// The async cache behind this facade.
    pub fn inner(&self) -> &Arc<C> {
        &self.cache
    }

    fn block_on<F: Future>(&self, fut: F) -> Result<F::Output> {
        refuse_inside_runtime()?;
        match &self.runtime {
            Executor::Owned(rt) => match &rt.0 {
                Some(rt) => Ok(rt.block_on(fut)),
                None => Err(Error::new(ErrorKind::Backend, "runtime is shut down")),
            },
            Executor::Borrowed(handle) => Ok(handle.block_on(fut)),
        }
    }

    /// Blocking [`DistributedCache::get`].
    pub fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.block_on(self.cache.get(key))?
    }

    /// Blocking [`DistributedCache::set`].
    pub fn set(&self, key: &str, value: impl Into<Bytes>, options: &EntryOptions) -> Result<()> {
        self.block_on(self.cache.set(key, value.into(), options))?
    }

    /// Blocking [`DistributedCache::refresh`].
    pub fn refresh(&self, key: &str) -> Result<()> {
        self.block_on(self.cache.refresh(key))?
    }

    /// Blocking [`DistributedCache::remove`].
    pub fn remove(&self, key: &str) -> Result<()> {
        self.block_on(self.cache.remove(key))?
    }

    /// Blocking [`DistributedCache::inspect`].
    pub fn inspect(&self, key: &str) -> Result<Option<EntryInfo>> {
        self.block_on(self.cache.inspect(key))?
    }

    /// Blocking [`DistributedCacheExt::get_string`].
    pub fn get_string(&self, key: &str) -> Result<Option<String>> {
        self.block_on(self.cache.get_string(key))?
    }

    /// Blocking [`DistributedCacheExt::set_string`].
    pub fn set_string(&self, key: &str, value: &str, options: &EntryOptions) -> Result<()> {
        self.block_on(self.cache.set_string(key, value, options))?
    }
}

impl<C: DistributedCache> BlockingCache<C> {
    /// Creates the cache on this facade's own runtime, so connection tasks
    /// the backend spawns live there, and wraps it.
    ///
    /// ```no_run
    /// # use cache_abstractions::{BlockingCache, DistributedCache};
    /// # async fn connect() -> cache_abstractions::Result<std::sync::Arc<dyn DistributedCache>> { unimplemented!() }
    /// // e.g. `RedisCache::connect(url)` in place of `connect()`:
    /// let _cache = BlockingCache::build_arc(connect())?;
    /// # Ok::<(), cache_abstractions::Error>(())
    /// ```
    pub fn build<F>(make: F) -> Result<BlockingCache<C>>
    where
        F: Future<Output = Result<C>>,
    {
        Self::build_arc(async { make.await.map(Arc::new) })
    }
}

impl<C: DistributedCache + ?Sized> BlockingCache<C> {
    /// Like [`build`](BlockingCache::build), for a constructor that returns an `Arc`
    /// (for example `Arc<dyn DistributedCache>`).
    pub fn build_arc<F>(make: F) -> Result<BlockingCache<C>>
    where
        F: Future<Output = Result<Arc<C>>>,
    {
        refuse_inside_runtime()?;
        let rt = own_runtime()?;
        let cache = rt.block_on(make)?;
        Ok(BlockingCache {
            cache,
            runtime: Executor::Owned(Arc::new(OwnedRuntime(Some(rt)))),
        })
    }
}
