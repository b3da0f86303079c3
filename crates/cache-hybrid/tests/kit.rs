//! The hybrid kit (cache-testkit, feature `hybrid`) against three tier
//! combinations: local only, cache-memory as the distributed tier, and a
//! real redis-server (the testkit's throwaway fixture) through cache-redis.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_abstractions::DistributedCache;
use cache_memory::MemoryCache;
use cache_redis::RedisCache;
use cache_testkit::hybrid::HybridHarness;
use cache_testkit::redis_server::RedisServer;
use cache_testkit::{async_trait, Outage};

/// No distributed tier.
struct LocalOnly;

#[async_trait]
impl HybridHarness for LocalOnly {
    async fn tier(&self, _: &str) -> Option<Arc<dyn DistributedCache>> {
        None
    }
}

/// One `MemoryCache` per namespace, shared by the instances built over it.
#[derive(Default)]
struct OverMemory(Mutex<HashMap<String, Arc<MemoryCache>>>);

#[async_trait]
impl HybridHarness for OverMemory {
    async fn tier(&self, namespace: &str) -> Option<Arc<dyn DistributedCache>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let tier = map
            .entry(namespace.to_owned())
            .or_insert_with(|| Arc::new(MemoryCache::new()));
        Some(tier.clone())
    }
}

/// One redis-server for the test (`RedisServer::shared`: killed when the
/// test's harness drops it; a `static` would leave it running after the
/// test process); a namespace is an instance name.
struct OverRedis(Arc<RedisServer>);

const TIMEOUT: Duration = Duration::from_secs(1);

fn redis(url: &str, instance_name: &str) -> Arc<RedisCache> {
    let cache = RedisCache::builder()
        .url(url)
        .instance_name(instance_name)
        .connect_timeout(TIMEOUT)
        .command_timeout(TIMEOUT)
        .build()
        .expect("a cache over the test redis-server");
    Arc::new(cache)
}

#[async_trait]
impl HybridHarness for OverRedis {
    async fn tier(&self, namespace: &str) -> Option<Arc<dyn DistributedCache>> {
        Some(redis(&self.0.url(), namespace))
    }

    async fn outage(&self) -> Option<Box<dyn Outage>> {
        let server = RedisServer::start();
        let cache = redis(&server.url(), "outage:");
        Some(Box::new(RedisOutage { server, cache }))
    }
}

/// A redis-server of its own that the kit stops and restarts.
struct RedisOutage {
    server: RedisServer,
    cache: Arc<RedisCache>,
}

#[async_trait]
impl Outage for RedisOutage {
    fn cache(&self) -> Arc<dyn DistributedCache> {
        self.cache.clone()
    }
    fn timeout(&self) -> Duration {
        TIMEOUT * 2
    }
    async fn stop(&mut self) {
        self.server.stop();
    }
    async fn start(&mut self) {
        self.server.restart();
    }
}

mod local_only {
    cache_testkit::hybrid_suite!(|| async { super::LocalOnly });
}

mod over_memory {
    cache_testkit::hybrid_suite!(|| async { super::OverMemory::default() });
}

mod over_redis {
    cache_testkit::hybrid_suite!(|| async { super::OverRedis(super::RedisServer::shared()) });
}
