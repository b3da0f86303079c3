//! What a backend provides so the kit can test it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cache_abstractions::{DistributedCache, Result};

/// A backend under test: makes caches and, where the backend can, breaks
/// things on purpose (foreign data, a server outage).
///
/// Only [`cache`](Harness::cache) is required. Rules that need one of the
/// optional hooks are skipped with a visible reason when it is missing.
#[async_trait]
pub trait Harness: Send + Sync + 'static {
    /// A cache over the store under test. Caches made with different
    /// namespaces (a Redis instance name, a SQL Server table, a separate
    /// in-process cache) must never see each other's entries (rule 13).
    ///
    /// Every case uses fresh random keys, so a harness may return caches over
    /// one shared server to all cases at once.
    async fn cache(&self, namespace: &str) -> Result<Arc<dyn DistributedCache>>;

    /// Names of the kinds of foreign or corrupt data this harness can write
    /// under a key (rule 14), e.g. `"wrong redis type"`. Empty: rule 14 is
    /// skipped.
    fn foreign_data(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Writes foreign data number `variant` (an index into
    /// [`foreign_data`](Harness::foreign_data)) under `key`, as the cache for
    /// `namespace` would see it.
    async fn write_foreign(&self, namespace: &str, key: &str, variant: usize) -> Result<()> {
        let _ = (namespace, key, variant);
        Err(cache_abstractions::Error::unsupported(
            "this harness writes no foreign data",
        ))
    }

    /// A cache on a server of its own that the kit may stop and start
    /// (rule 15). `None`: rule 15 is skipped.
    async fn outage(&self) -> Option<Box<dyn Outage>> {
        None
    }

    /// Whether this backend must pass every case with no skip: a skipped
    /// case then fails, as with `CACHE_TESTKIT_STRICT=1`. Backends with a
    /// server and full fault hooks (Redis) say `true`, so a missing fixture
    /// can never pass silently.
    fn requires_every_rule(&self) -> bool {
        false
    }

    /// Why rule 15 or rule 14 cannot apply, shown when they are skipped.
    fn skip_reason(&self) -> &'static str {
        "the harness provides no way to inject this fault"
    }
}

/// A cache whose server the kit can take down and bring back.
#[async_trait]
pub trait Outage: Send + Sync {
    /// The cache under test; the kit keeps using this same instance across
    /// the outage.
    fn cache(&self) -> Arc<dyn DistributedCache>;

    /// The longest an operation may take to fail while the server is down
    /// (the cache's configured timeouts).
    fn timeout(&self) -> Duration;

    /// How long the cache may take to work again once the server is back
    /// (reconnect back-off included). 20 s unless the fixture says otherwise.
    fn recovery_timeout(&self) -> Duration {
        Duration::from_secs(20)
    }

    /// Stops the server (connections break, new ones are refused).
    async fn stop(&mut self);

    /// Starts the server again on the same address.
    async fn start(&mut self);
}
