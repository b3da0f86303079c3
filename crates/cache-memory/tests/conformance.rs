//! The whole conformance kit against the memory backend.

use std::sync::Arc;

use cache_abstractions::{DistributedCache, Result};
use cache_memory::MemoryCache;
use cache_testkit::{async_trait, Harness};

/// Each namespace is a separate in-process cache, as two app instances
/// would each have their own.
struct Memory;

#[async_trait]
impl Harness for Memory {
    async fn cache(&self, _namespace: &str) -> Result<Arc<dyn DistributedCache>> {
        Ok(Arc::new(MemoryCache::new()))
    }

    fn skip_reason(&self) -> &'static str {
        "an in-process cache has no server to lose and stores only typed entries, \
         so no foreign data can exist under a key"
    }
}

async fn harness() -> Memory {
    Memory
}

cache_testkit::conformance_suite!(harness);
