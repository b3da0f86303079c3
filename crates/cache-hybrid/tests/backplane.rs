//! The backplane in one process: three instances over a cache-memory tier
//! and a MemoryBackplane; outages through a backplane the test switches off.

mod scenarios;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_abstractions::{DistributedCache, ErrorKind, Result};
use cache_hybrid::backplane::{Event, Message};
use cache_hybrid::{Backplane, HybridCache, MemoryBackplane};
use cache_memory::MemoryCache;
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use scenarios::*;
use tokio::sync::mpsc;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_one_instance_evict_the_others_local_copies() {
    let tier: Arc<dyn DistributedCache> = Arc::new(MemoryCache::new());
    let bus: Arc<dyn Backplane> = Arc::new(MemoryBackplane::new());
    let [a, b, c] = [(); 3].map(|_| instance(tier.clone(), bus.clone(), HOUR));
    changes_reach_the_others(&a, &b, &c).await;
}

#[test]
fn a_backplane_needs_a_runtime_at_build() {
    let err = HybridCache::builder()
        .backplane(Arc::new(MemoryBackplane::new()))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

/// A MemoryBackplane whose subscriptions the test can disconnect and
/// reconnect (by injecting the events a real transport reports).
#[derive(Debug, Default)]
struct Switched {
    bus: MemoryBackplane,
    controls: Mutex<Vec<mpsc::UnboundedSender<Event>>>,
}

impl Switched {
    fn emit(&self, event: Event) {
        for c in self.controls.lock().unwrap().iter() {
            let _ = c.send(event.clone());
        }
    }
}

impl Backplane for Switched {
    fn publish(&self, message: &Message) -> BoxFuture<'_, Result<()>> {
        self.bus.publish(message)
    }

    fn subscribe(&self) -> Result<BoxStream<'static, Event>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.controls.lock().unwrap().push(tx);
        let control =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
        Ok(futures::stream::select(self.bus.subscribe()?, control).boxed())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_down_local_copies_live_at_most_the_outage_bound_and_a_reconnect_drops_them() {
    let tier: Arc<dyn DistributedCache> = Arc::new(MemoryCache::new());
    let switched = Arc::new(Switched::default());
    let bus: Arc<dyn Backplane> = switched.clone();
    let outage = Duration::from_millis(200);
    let a = instance(tier.clone(), bus.clone(), outage);
    let b = instance(tier.clone(), bus.clone(), outage);
    connected(&[&a, &b], 1).await;

    // Down: a change made behind B's back (straight in the shared tier, as
    // a message lost in the outage would be) shows within the outage bound.
    seed(&a, &[&b], "out:1", "old", "t").await;
    switched.emit(Event::Disconnected);
    tier.set("out:1", a_payload_of(&a, "new").await, &Default::default())
        .await
        .unwrap();
    let fresh = || async { value(&b, "out:1").await.as_deref() == Some("new") };
    assert!(eventually(PROPAGATION_BOUND, fresh).await);

    // Connected again: B cleared once (it may have missed messages), and
    // local copies live long again.
    switched.emit(Event::Connected);
    connected(&[&a, &b], 2).await;
    seed(&a, &[&b], "out:2", "old", "t").await;
    tier.set("out:2", a_payload_of(&a, "new").await, &Default::default())
        .await
        .unwrap();
    tokio::time::sleep(outage * 3).await;
    let kept = b.get::<String>("out:2").await.unwrap().unwrap();
    assert_eq!(
        (kept.value.as_str(), kept.source),
        ("old", cache_hybrid::Source::Local),
        "connected: the local copy is kept (no sweep)"
    );

    // A reconnect after a lost subscription drops what B holds.
    switched.emit(Event::Disconnected);
    switched.emit(Event::Connected);
    connected(&[&a, &b], 3).await;
    let fresh = || async { value(&b, "out:2").await.as_deref() == Some("new") };
    assert!(eventually(PROPAGATION_BOUND, fresh).await);
}

/// The distributed-tier bytes `a` would store for the string `v` (written
/// by a helper key, read back raw).
async fn a_payload_of(a: &HybridCache, v: &str) -> bytes::Bytes {
    let options = cache_hybrid::HybridEntryOptions::new().expires_in(HOUR);
    a.set("helper:payload", v, &options).await.unwrap();
    a.distributed()
        .unwrap()
        .get("helper:payload")
        .await
        .unwrap()
        .unwrap()
}
