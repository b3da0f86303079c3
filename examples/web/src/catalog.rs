//! The simulated upstream: a slow, expensive product lookup, standing in for
//! the database query or remote API a real service would cache.
//!
//! It counts how often it is really called, so you (and the end-to-end test)
//! can see exactly which requests the cache spared.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Product ids the catalog knows: `1..=MAX_PRODUCT_ID`.
pub const MAX_PRODUCT_ID: u64 = 10_000;

/// A product, as the upstream returns it and as it is cached (JSON).
///
/// `computed_by` and `computed_at_ms` record which server did the expensive
/// lookup and when, so a response served from the cache shows where its
/// data came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// The product id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its price in cents.
    pub price_cents: u64,
    /// The server that called the upstream for this value (or stored the
    /// last `PUT`).
    pub computed_by: String,
    /// When it did, in milliseconds since the Unix epoch.
    pub computed_at_ms: u64,
}

/// The slow upstream. Clones share the call counter.
#[derive(Clone, Debug)]
pub struct Catalog {
    delay: Duration,
    calls: Arc<AtomicU64>,
}

impl Catalog {
    /// A catalog that takes `delay` per lookup.
    pub fn new(delay: Duration) -> Catalog {
        Catalog {
            delay,
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many lookups this process has made.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Looks a product up the slow way: counts the call, waits the
    /// configured delay, and returns the product (`None` when the id does
    /// not exist). `server` is recorded as the product's `computed_by`.
    pub async fn fetch(&self, id: u64, server: &str) -> Option<Product> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        if !(1..=MAX_PRODUCT_ID).contains(&id) {
            return None;
        }
        const ADJECTIVES: [&str; 8] = [
            "Sturdy", "Shiny", "Quiet", "Nimble", "Cosy", "Brave", "Tiny", "Grand",
        ];
        const NOUNS: [&str; 8] = [
            "Kettle", "Lamp", "Backpack", "Chair", "Teapot", "Umbrella", "Notebook", "Clock",
        ];
        // Deterministic, so every server computes the same product for an id.
        let a = ADJECTIVES[(id % 8) as usize];
        let n = NOUNS[((id / 8) % 8) as usize];
        let computed_at_ms = now_ms();
        Some(Product {
            id,
            name: format!("{a} {n} #{id}"),
            price_cents: 499 + (id * 7919) % 20_000,
            computed_by: server.to_string(),
            computed_at_ms,
        })
    }
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_every_call_found_or_not() {
        let catalog = Catalog::new(Duration::ZERO);
        let p = catalog.fetch(42, "a").await.unwrap();
        assert_eq!(p.id, 42);
        assert_eq!(p.computed_by, "a");
        assert!(catalog.fetch(0, "a").await.is_none());
        assert!(catalog.fetch(MAX_PRODUCT_ID + 1, "a").await.is_none());
        assert_eq!(catalog.calls(), 3);
        // Same id, same product on any server (except who computed it when).
        let q = catalog.fetch(42, "b").await.unwrap();
        assert_eq!((p.name, p.price_cents), (q.name, q.price_cents));
    }
}
