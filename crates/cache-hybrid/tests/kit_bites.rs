//! The hybrid kit bites: deliberately broken hybrids (no single flight,
//! tags ignored, a local tier that never expires) each fail the case
//! written for what they break, for the reason that case checks; the real
//! HybridCache passes the same cases (tests/kit.rs).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cache_abstractions::{DistributedCache, Result};
use cache_hybrid::{Fetched, HybridCache, HybridEntryOptions};
use cache_memory::MemoryCache;
use cache_testkit::async_trait;
use cache_testkit::hybrid::{
    run_hybrid_case_with, Factory, HybridHarness, HybridUnderTest, KitSettings,
};

#[derive(Clone, Copy, Debug)]
enum Broken {
    /// get, then factory, then set: every concurrent caller runs the factory.
    NoSingleFlight,
    /// remove_by_tag does nothing.
    TagsIgnored,
    /// A second local tier in front that keeps every value forever.
    LocalNeverExpires,
}

struct Wrapper {
    real: HybridCache,
    broken: Broken,
    forever: Mutex<HashMap<String, Bytes>>,
}

#[async_trait]
impl HybridUnderTest for Wrapper {
    async fn get_or_create(
        &self,
        key: &str,
        options: &HybridEntryOptions,
        factory: Factory,
    ) -> Result<Fetched<Bytes>> {
        match self.broken {
            Broken::NoSingleFlight => {
                if let Some(hit) = self.real.get_bytes(key).await? {
                    return Ok(hit);
                }
                let value = factory().await.map_err(|e| {
                    cache_abstractions::Error::new(
                        cache_abstractions::ErrorKind::Backend,
                        e.to_string(),
                    )
                })?;
                self.real.set_bytes(key, value.clone(), options).await?;
                let made = self
                    .real
                    .get_or_create_bytes(key, options, move || async move {
                        Ok::<_, std::io::Error>(value)
                    })
                    .await?;
                Ok(made)
            }
            Broken::TagsIgnored => self.real.get_or_create_bytes(key, options, factory).await,
            Broken::LocalNeverExpires => {
                let kept = self.forever.lock().unwrap().get(key).cloned();
                if let Some(v) = kept {
                    // Served as if from the local tier.
                    return self
                        .real
                        .get_or_create_bytes(key, options, move || async move {
                            Ok::<_, std::io::Error>(v)
                        })
                        .await
                        .map(|mut f| {
                            f.value = self.forever.lock().unwrap()[key].clone();
                            f
                        });
                }
                let made = self.real.get_or_create_bytes(key, options, factory).await?;
                self.forever
                    .lock()
                    .unwrap()
                    .insert(key.to_owned(), made.value.clone());
                Ok(made)
            }
        }
    }
    async fn get(&self, key: &str) -> Result<Option<Fetched<Bytes>>> {
        self.real.get_bytes(key).await
    }
    async fn set(&self, key: &str, value: Bytes, options: &HybridEntryOptions) -> Result<()> {
        self.real.set_bytes(key, value, options).await
    }
    async fn remove(&self, key: &str) -> Result<()> {
        self.forever.lock().unwrap().remove(key);
        self.real.remove(key).await
    }
    async fn remove_by_tag(&self, tag: &str) -> Result<()> {
        match self.broken {
            Broken::TagsIgnored => Ok(()),
            _ => self.real.remove_by_tag(tag).await,
        }
    }
}

struct BrokenHarness {
    broken: Broken,
    tiers: Mutex<HashMap<String, Arc<MemoryCache>>>,
}

#[async_trait]
impl HybridHarness for BrokenHarness {
    async fn tier(&self, namespace: &str) -> Option<Arc<dyn DistributedCache>> {
        let mut map = self.tiers.lock().unwrap();
        Some(
            map.entry(namespace.to_owned())
                .or_insert_with(|| Arc::new(MemoryCache::new()))
                .clone(),
        )
    }

    fn build(
        &self,
        tier: Option<Arc<dyn DistributedCache>>,
        settings: &KitSettings,
    ) -> Arc<dyn HybridUnderTest> {
        let mut b = HybridCache::builder().tag_check_interval(settings.tag_check_interval);
        if let Some(t) = tier {
            b = b.distributed(t);
        }
        Arc::new(Wrapper {
            real: b.build().expect("valid settings"),
            broken: self.broken,
            forever: Mutex::default(),
        })
    }
}

/// Runs `case` against the broken hybrid; returns the failure message, or
/// fails the test when the case passed.
async fn must_fail(broken: Broken, case: &'static str) -> String {
    let harness = BrokenHarness {
        broken,
        tiers: Mutex::default(),
    };
    let run = tokio::spawn(async move { run_hybrid_case_with(case, &harness).await });
    match run.await {
        Ok(outcome) => panic!("the kit missed {broken:?}: {case} concluded {outcome:?}"),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        }
        Err(e) => panic!("{case} did not finish: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_single_flight_is_caught() {
    let why = must_fail(
        Broken::NoSingleFlight,
        "single_flight_100_callers_one_factory_call",
    )
    .await;
    assert!(
        why.contains("exactly 1 factory call"),
        "caught for another reason: {why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_tags_are_caught() {
    let why = must_fail(Broken::TagsIgnored, "tags_invalidate_across_instances").await;
    assert!(
        why.contains("removed by tag"),
        "caught for another reason: {why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_tier_that_never_expires_is_caught() {
    let why = must_fail(
        Broken::LocalNeverExpires,
        "local_never_outlives_distributed",
    )
    .await;
    assert!(
        why.contains("outlived the distributed expiration"),
        "caught for another reason: {why}"
    );
}
