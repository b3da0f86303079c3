//! The blocking facade, the extension trait and the forwarding impls, over a
//! tiny map-backed cache (backends have their own conformance suites).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use cache_abstractions::{
    async_trait, BlockingCache, Bytes, Capabilities, DistributedCache, DistributedCacheExt,
    EntryInfo, EntryOptions, ErrorKind, Result,
};

#[derive(Debug, Default)]
struct MapCache {
    entries: Mutex<HashMap<String, Bytes>>,
    refreshed: Mutex<Vec<String>>,
}

#[async_trait]
impl DistributedCache for MapCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.capabilities().validate_key(key)?;
        Ok(self.entries.lock().unwrap().get(key).cloned())
    }
    fn get_now(&self, key: &str) -> Option<Result<Option<Bytes>>> {
        // In memory: answers at once (the default would say `None`).
        Some(
            self.capabilities()
                .validate_key(key)
                .map(|()| self.entries.lock().unwrap().get(key).cloned()),
        )
    }
    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        self.capabilities().validate_key(key)?;
        options.resolve(SystemTime::now())?;
        self.entries.lock().unwrap().insert(key.into(), value);
        Ok(())
    }
    async fn refresh(&self, key: &str) -> Result<()> {
        self.refreshed.lock().unwrap().push(key.into());
        Ok(())
    }
    async fn remove(&self, key: &str) -> Result<()> {
        self.entries.lock().unwrap().remove(key);
        Ok(())
    }
    async fn inspect(&self, key: &str) -> Result<Option<EntryInfo>> {
        Ok(self
            .entries
            .lock()
            .unwrap()
            .get(key)
            .map(|v| EntryInfo::new(v.len(), None, None, None)))
    }
    async fn ping(&self) -> Result<()> {
        self.refreshed.lock().unwrap().push("<ping>".into());
        Ok(())
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new().with_shared(true)
    }
}

/// A cache that implements only the required methods, to see the defaults.
#[derive(Debug, Default)]
struct Minimal(MapCache);

#[async_trait]
impl DistributedCache for Minimal {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.0.get(key).await
    }
    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        self.0.set(key, value, options).await
    }
    async fn refresh(&self, key: &str) -> Result<()> {
        self.0.refresh(key).await
    }
    async fn remove(&self, key: &str) -> Result<()> {
        self.0.remove(key).await
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }
}

#[tokio::test]
async fn default_ping_is_one_harmless_round_trip_and_default_inspect_is_unsupported() {
    let cache = Minimal::default();
    cache.ping().await.unwrap();
    // The default refreshes a probe key: one round trip, no entry created.
    assert_eq!(*cache.0.refreshed.lock().unwrap(), ["distcache:ping"]);
    assert!(cache.0.entries.lock().unwrap().is_empty());
    let err = cache.inspect("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
}

#[test]
fn blocking_facade_from_a_plain_thread() {
    let cache = BlockingCache::new(Arc::new(MapCache::default())).unwrap();
    let worker = {
        let cache = cache.clone();
        std::thread::spawn(move || {
            cache.set("k", "v", &EntryOptions::new()).unwrap();
            cache.set_string("s", "text", &EntryOptions::new()).unwrap();
            cache.refresh("k").unwrap();
        })
    };
    worker.join().unwrap();
    assert_eq!(cache.get("k").unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(cache.get_string("s").unwrap().as_deref(), Some("text"));
    assert_eq!(cache.inspect("k").unwrap().map(|i| i.size), Some(1));
    assert_eq!(
        *cache.inner().refreshed.lock().unwrap(),
        vec!["k".to_string()]
    );
    cache.remove("k").unwrap();
    assert_eq!(cache.get("k").unwrap(), None);
    let err = cache
        .set("k", "v", &EntryOptions::new().sliding(Duration::ZERO))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidOptions);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_facade_inside_a_runtime_is_an_error_not_a_panic() {
    let cache = BlockingCache::new(Arc::new(MapCache::default())).unwrap();
    let err = cache.get("k").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    // Dropping the facade (and its runtime) inside async code must not panic.
    drop(cache);
    // spawn_blocking runs inside the runtime's context: refused too, and
    // Handle::block_on is the way there.
    let inner = Arc::new(MapCache::default());
    let on_handle =
        BlockingCache::with_handle(Arc::clone(&inner), tokio::runtime::Handle::current());
    tokio::task::spawn_blocking(move || {
        let err = on_handle.set("k", "v", &EntryOptions::new()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        let handle = tokio::runtime::Handle::current();
        handle
            .block_on(inner.set("k", "v".into(), &EntryOptions::new()))
            .unwrap();
        assert_eq!(
            handle.block_on(inner.get("k")).unwrap().as_deref(),
            Some(&b"v"[..])
        );
    })
    .await
    .unwrap();
    // From a plain thread the borrowed handle works.
    let plain = BlockingCache::with_handle(
        Arc::new(MapCache::default()),
        tokio::runtime::Handle::current(),
    );
    let worker = std::thread::spawn(move || {
        plain.set("k", "v", &EntryOptions::new()).unwrap();
        plain.get("k").unwrap()
    });
    let got = tokio::task::spawn_blocking(move || worker.join().unwrap())
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some(&b"v"[..]));
    let built = BlockingCache::build(async { Ok(MapCache::default()) });
    assert_eq!(built.unwrap_err().kind(), ErrorKind::Unsupported);
}

#[test]
fn build_creates_the_cache_on_the_facade_runtime() {
    let cache = BlockingCache::build(async {
        // Proves the constructor runs inside the facade's runtime.
        tokio::runtime::Handle::current();
        Ok(MapCache::default())
    })
    .unwrap();
    cache.set("k", "v", &EntryOptions::new()).unwrap();
    let dynamic: BlockingCache<dyn DistributedCache> = BlockingCache::build_arc(async {
        Ok(Arc::new(MapCache::default()) as Arc<dyn DistributedCache>)
    })
    .unwrap();
    dynamic.set("k", "v", &EntryOptions::new()).unwrap();
    assert!(format!("{dynamic:?}").contains("owned"));
}

#[tokio::test]
async fn get_string_of_invalid_utf8_is_corrupt() {
    let cache = MapCache::default();
    cache
        .set("k", Bytes::from_static(&[0xff, 0xfe]), &EntryOptions::new())
        .await
        .unwrap();
    let err = cache.get_string("k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CorruptEntry);
    assert_eq!(cache.get_string("missing").await.unwrap(), None);
    cache.set_default("d", "x".into()).await.unwrap();
    assert_eq!(cache.get_string("d").await.unwrap().as_deref(), Some("x"));
}

#[tokio::test]
async fn forwarding_impls_reach_the_inner_cache() {
    let inner = Arc::new(MapCache::default());
    let as_dyn: Arc<dyn DistributedCache> = inner.clone();
    let boxed: Box<dyn DistributedCache> = Box::new(MapCache::default());
    let by_ref: &dyn DistributedCache = &*inner;
    for cache in [&as_dyn as &dyn DistributedCache, &boxed, &by_ref] {
        cache
            .set("k", "v".into(), &EntryOptions::new())
            .await
            .unwrap();
        assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        let answered = cache
            .get_now("k")
            .expect("the inner cache's answer, not the default");
        assert_eq!(answered.unwrap().as_deref(), Some(&b"v"[..]));
        cache.refresh("k").await.unwrap();
        assert_eq!(cache.inspect("k").await.unwrap().map(|i| i.size), Some(1));
        assert!(cache.capabilities().shared);
        cache.ping().await.unwrap();
        cache.remove("k").await.unwrap();
        assert_eq!(cache.get_string("k").await.unwrap(), None);
    }
    // Each forwarder reached the inner cache's own ping, not the default.
    assert_eq!(
        inner
            .refreshed
            .lock()
            .unwrap()
            .iter()
            .filter(|k| *k == "<ping>")
            .count(),
        2
    );
}

#[cfg(feature = "serde")]
#[tokio::test]
async fn json_round_trip_and_wrong_shape() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct User {
        id: u64,
        name: String,
    }
    let cache = MapCache::default();
    let ada = User {
        id: 1,
        name: "Ada".into(),
    };
    cache
        .set_json("u", &ada, &EntryOptions::new())
        .await
        .unwrap();
    assert_eq!(cache.get_json::<User>("u").await.unwrap(), Some(ada));
    cache
        .set_string("bad", "[1,2]", &EntryOptions::new())
        .await
        .unwrap();
    let err = cache.get_json::<User>("bad").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert!(!err.is_retryable());
    // JSON object keys must be strings: serde_json refuses a tuple key.
    let unserializable: HashMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
    let err = cache
        .set_json("t", &unserializable, &EntryOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Serialization);
    assert!(cache.entries.lock().unwrap().get("t").is_none());
}
