//! The backplane: tells the other instances of a [`HybridCache`](crate::HybridCache) that a key,
//! a tag or everything changed, so they drop their local copies at once
//! instead of serving them until their local expiration.
//!
//! - Every instance publishes, after a local `set`, `remove`,
//!   `remove_by_tag` or [`HybridCache::clear_local_everywhere`](crate::HybridCache::clear_local_everywhere), a
//!   [`Message`] carrying its own [`InstanceId`]; it ignores messages with
//!   its own id.
//! - Publishing is off the caller's path: one task per cache sends the
//!   messages in order; a failed publish is logged and counted, never
//!   returned (the distributed tier already holds the truth; the backplane
//!   only shortens the staleness window).
//! - **Outages.** A transport reports [`Event::Connected`] and
//!   [`Event::Disconnected`]. While it is not connected (before the first
//!   connect included) an instance cannot hear of changes, so its local tier
//!   is cleared every [`outage_local_expiration`](crate::HybridCacheBuilder::outage_local_expiration):
//!   no local copy is served longer than that after the backplane went
//!   down. Every (re)connect clears the local tier once, because messages
//!   sent while it was away are lost.
//!
//! Transports: [`MemoryBackplane`] (instances in one process; tests) and,
//! with the `redis` feature, Redis pub/sub (`cache_redis::RedisBackplane`),
//! optionally with server-assisted invalidation
//! (`RedisBackplane::server_assisted`: writes by other applications evict
//! local copies too).
//!
//! ```
//! use cache_hybrid::{HybridCache, HybridEntryOptions, MemoryBackplane};
//! use cache_memory::MemoryCache;
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> cache_abstractions::Result<()> {
//! let shared = Arc::new(MemoryCache::new()); // Redis in production
//! let bus = Arc::new(MemoryBackplane::new()); // cache_redis::RedisBackplane
//! let make = || {
//!     HybridCache::builder()
//!         .distributed(shared.clone())
//!         .backplane(bus.clone())
//!         .outage_local_expiration(Duration::from_secs(5))
//!         .build()
//! };
//! let (a, b) = (make()?, make()?);
//! # while b.stats().backplane_connects == 0 { tokio::task::yield_now().await; }
//! let options = HybridEntryOptions::new();
//! a.set("price", &10, &options).await?;
//! assert_eq!(b.get::<i32>("price").await?.unwrap().value, 10); // now local in b
//! a.set("price", &12, &options).await?; // b's copy is dropped on the message
//! # while b.stats().backplane_messages < 2 { tokio::task::yield_now().await; }
//! assert_eq!(b.get::<i32>("price").await?.unwrap().value, 12);
//! # Ok(()) }
//! ```

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use cache_abstractions::{Error, Result};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use tokio::sync::{broadcast, mpsc};

use crate::builder::Invalidation;
use crate::cache::Inner;
use crate::outcome::Counters;

/// How long, by default, a local copy may be served while the backplane is
/// down (see [`HybridCacheBuilder::outage_local_expiration`](crate::HybridCacheBuilder::outage_local_expiration)).
pub const DEFAULT_OUTAGE_LOCAL_EXPIRATION: Duration = Duration::from_secs(5);

/// Messages waiting to be published at most (beyond it they are dropped,
/// logged and counted: the outage rules then bound the staleness).
const PUBLISH_QUEUE: usize = 10_000;

/// Identifies one cache instance on the backplane (random per build).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InstanceId(pub u128);

impl InstanceId {
    /// The sender of the invalidations a server reports itself (Redis
    /// `CLIENT TRACKING`): writes by anyone, this instance included, so no
    /// instance skips them. Never a [`random`](Self::random) id.
    pub const SERVER: InstanceId = InstanceId(0);

    /// A fresh random id (never [`SERVER`](Self::SERVER)).
    pub fn random() -> InstanceId {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        // Two independently seeded SipHash states: 128 random bits, no
        // extra dependency (RandomState is seeded from the OS once per thread
        // and then incremented, so the counter and the pid are mixed in too).
        let mut halves = [0u64; 2];
        for half in &mut halves {
            let mut h = RandomState::new().build_hasher();
            h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            h.write_u32(std::process::id());
            *half = h.finish();
        }
        InstanceId(((u128::from(halves[0]) << 64) | u128::from(halves[1])).max(1))
    }
}

/// What changed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The entry under this key was set or removed.
    Key(String),
    /// Every entry carrying this tag created at or before this instant
    /// (microseconds since the Unix epoch) is invalid.
    Tag(String, u64),
    /// Drop every local copy.
    All,
}

/// One backplane message: who sent it and what changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The sending instance (receivers skip their own messages).
    pub sender: InstanceId,
    /// What changed.
    pub change: Change,
}

/// Wire format version 1: `0xB1`, sender (16 bytes, big endian), kind
/// (`K` key, `T` tag, `A` all), for a tag the instant (8 bytes, big
/// endian), then the key or tag in UTF-8.
const WIRE_V1: u8 = 0xB1;

impl Message {
    /// The message's bytes (format version 1, see docs/hybrid.md).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(32);
        out.put_u8(WIRE_V1);
        out.put_u128(self.sender.0);
        match &self.change {
            Change::Key(key) => {
                out.put_u8(b'K');
                out.put_slice(key.as_bytes());
            }
            Change::Tag(tag, at) => {
                out.put_u8(b'T');
                out.put_u64(*at);
                out.put_slice(tag.as_bytes());
            }
            Change::All => out.put_u8(b'A'),
        }
        out.freeze()
    }

    /// Parses [`encode`](Self::encode)'s output; anything else (another
    /// version, truncated, not UTF-8) is `None`.
    pub fn decode(bytes: &[u8]) -> Option<Message> {
        let (&version, rest) = bytes.split_first()?;
        if version != WIRE_V1 || rest.len() < 17 {
            return None;
        }
        let (sender, rest) = rest.split_at(16);
        let sender = InstanceId(u128::from_be_bytes(sender.try_into().ok()?));
        let (&kind, rest) = rest.split_first()?;
        let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_owned);
        let change = match kind {
            b'K' => Change::Key(text(rest)?),
            b'T' if rest.len() >= 8 => {
                let (at, tag) = rest.split_at(8);
                Change::Tag(text(tag)?, u64::from_be_bytes(at.try_into().ok()?))
            }
            b'A' if rest.is_empty() => Change::All,
            _ => return None,
        };
        Some(Message { sender, change })
    }
}

/// What a subscription delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Subscribed (first time or again after an outage).
    Connected,
    /// The subscription is lost; messages may be missed until the next `Connected`.
    Disconnected,
    /// A message from some instance (possibly this one).
    Message(Message),
}

/// A transport for invalidation messages between instances.
pub trait Backplane: Send + Sync + fmt::Debug + 'static {
    /// Sends `message` to every subscriber (the sender's included).
    fn publish(&self, message: &Message) -> BoxFuture<'_, Result<()>>;

    /// Starts a subscription: connection events and messages, until the
    /// stream is dropped. A transport that loses its connection reports
    /// [`Event::Disconnected`], reconnects and resubscribes by itself, and
    /// reports [`Event::Connected`] again. Called within a tokio runtime.
    fn subscribe(&self) -> Result<BoxStream<'static, Event>>;
}

/// A backplane between instances in one process (tests, or several caches
/// in one service). Clones share the channel. Always connected.
#[derive(Clone, Debug)]
pub struct MemoryBackplane {
    channel: broadcast::Sender<Message>,
}

impl Default for MemoryBackplane {
    fn default() -> Self {
        MemoryBackplane::new()
    }
}

impl MemoryBackplane {
    /// A new channel.
    pub fn new() -> Self {
        MemoryBackplane {
            channel: broadcast::channel(PUBLISH_QUEUE).0,
        }
    }
}

impl Backplane for MemoryBackplane {
    fn publish(&self, message: &Message) -> BoxFuture<'_, Result<()>> {
        // No subscriber is not an error: nobody holds a copy to evict.
        let _ = self.channel.send(message.clone());
        Box::pin(async { Ok(()) })
    }

    fn subscribe(&self) -> Result<BoxStream<'static, Event>> {
        let receiver = self.channel.subscribe();
        let messages = futures::stream::unfold(receiver, |mut rx| async move {
            let event = match rx.recv().await {
                Ok(m) => Event::Message(m),
                // A lagging receiver missed messages: as after an outage,
                // a (re)connect makes it drop its local copies.
                Err(broadcast::error::RecvError::Lagged(_)) => Event::Connected,
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((event, rx))
        });
        Ok(futures::stream::iter([Event::Connected])
            .chain(messages)
            .boxed())
    }
}

/// The publishing half, held by the cache's invalidation hook.
pub(crate) struct Publisher {
    id: InstanceId,
    queue: mpsc::Sender<Message>,
}

impl Publisher {
    pub(crate) fn id(&self) -> InstanceId {
        self.id
    }

    /// Queues a message; never blocks the caller. A full queue drops it
    /// (logged): the receivers' local copies then live until their local
    /// expiration, as without a backplane.
    pub(crate) fn send(&self, what: Invalidation<'_>) {
        let change = match what {
            Invalidation::Key(k) => Change::Key(k.to_owned()),
            Invalidation::Tag(t, at) => Change::Tag(t.to_owned(), at),
            Invalidation::All => Change::All,
        };
        let message = Message {
            sender: self.id,
            change,
        };
        if self.queue.try_send(message).is_err() {
            tracing::warn!(target: "cache_hybrid", "backplane publish queue full; message dropped");
        }
    }
}

/// The backplane settings of a build.
pub(crate) struct Attachment {
    pub(crate) backplane: Arc<dyn Backplane>,
    pub(crate) outage_local_expiration: Duration,
}

/// Starts the publisher task (the listener starts once the cache exists:
/// [`listen`]).
pub(crate) fn start_publisher(attachment: &Attachment) -> Result<Arc<Publisher>> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        Error::config("a HybridCache with a backplane must be built within a tokio runtime")
    })?;
    let (queue, mut rx) = mpsc::channel::<Message>(PUBLISH_QUEUE);
    let backplane = Arc::clone(&attachment.backplane);
    runtime.spawn(async move {
        // Ends when the cache (the only sender) is dropped.
        while let Some(message) = rx.recv().await {
            if let Err(e) = backplane.publish(&message).await {
                tracing::warn!(target: "cache_hybrid", error = %e, "backplane publish failed");
            }
        }
    });
    Ok(Arc::new(Publisher {
        id: InstanceId::random(),
        queue,
    }))
}

/// Subscribes and applies what arrives to the cache behind `inner` until
/// the cache is dropped.
pub(crate) fn listen(inner: &Arc<Inner>, attachment: &Attachment, me: InstanceId) -> Result<()> {
    let mut events = attachment.backplane.subscribe()?;
    let weak: Weak<Inner> = Arc::downgrade(inner);
    let outage_ttl = attachment.outage_local_expiration;
    tokio::spawn(async move {
        let mut connected = false;
        let mut sweep = tokio::time::interval(outage_ttl);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let event = tokio::select! {
                event = events.next() => match event {
                    Some(e) => Some(e),
                    None => return,
                },
                _ = sweep.tick() => None,
            };
            let Some(inner) = weak.upgrade() else { return };
            match event {
                // Not connected: nothing local may outlive the outage bound.
                None if !connected => inner.local.clear(),
                None => {}
                Some(Event::Connected) => {
                    // What was published while we were away is lost.
                    inner.local.clear();
                    connected = true;
                    Counters::bump(&inner.counters.backplane_connects);
                }
                Some(Event::Disconnected) => {
                    connected = false;
                    sweep.reset();
                    tracing::warn!(target: "cache_hybrid", "backplane disconnected; local copies live at most {outage_ttl:?}");
                }
                Some(Event::Message(m)) if m.sender == me => {}
                Some(Event::Message(m)) => {
                    Counters::bump(&inner.counters.backplane_messages);
                    apply(&inner, m.change).await;
                }
            }
        }
    });
    Ok(())
}

async fn apply(inner: &Inner, change: Change) {
    match change {
        Change::Key(key) => {
            let _ = cache_abstractions::DistributedCache::remove(&inner.local, &key).await;
        }
        Change::Tag(tag, at) => inner.tags.record(&tag, at, inner.now()),
        Change::All => inner.local.clear(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_junk_is_none() {
        let sender = InstanceId::random();
        for change in [
            Change::Key("product:1".into()),
            Change::Key(String::new()),
            Change::Tag("catalog".into(), 1_700_000_000_000_000),
            Change::All,
        ] {
            let m = Message { sender, change };
            assert_eq!(Message::decode(&m.encode()), Some(m));
        }
        let good = Message {
            sender,
            change: Change::Tag("t".into(), 5),
        }
        .encode();
        for cut in 0..good.len() - 1 {
            assert_eq!(Message::decode(&good[..cut]), None, "cut at {cut}");
        }
        let mut other_version = good.to_vec();
        other_version[0] = 0xB2;
        assert_eq!(Message::decode(&other_version), None);
        let mut bad_utf8 = good.to_vec();
        bad_utf8.push(0xFF);
        assert_eq!(Message::decode(&bad_utf8), None);
    }

    #[test]
    fn ids_differ() {
        assert_ne!(InstanceId::random(), InstanceId::random());
    }
}
