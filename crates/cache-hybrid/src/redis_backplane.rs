//! [`Backplane`] over Redis pub/sub: `cache_redis::RedisBackplane` (feature
//! `redis`). The transport (channel per instance name, dedicated
//! subscription connection, reconnect and resubscribe) lives in cache-redis;
//! this is the message mapping.

use cache_abstractions::Result;
use cache_redis::{PubSubEvent, RedisBackplane};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};

use crate::backplane::{Backplane, Event, Message};

impl Backplane for RedisBackplane {
    fn publish(&self, message: &Message) -> BoxFuture<'_, Result<()>> {
        let bytes = message.encode();
        Box::pin(async move { RedisBackplane::publish(self, &bytes).await })
    }

    fn subscribe(&self) -> Result<BoxStream<'static, Event>> {
        let events = RedisBackplane::subscribe(self);
        let stream = futures::stream::unfold(events, |mut rx| async move {
            loop {
                let event = match rx.recv().await? {
                    PubSubEvent::Connected => Event::Connected,
                    PubSubEvent::Disconnected(_) => Event::Disconnected,
                    PubSubEvent::Message(bytes) => match Message::decode(&bytes) {
                        Some(m) => Event::Message(m),
                        // Someone else's traffic on the channel: not ours to apply.
                        None => {
                            tracing::debug!(target: "cache_hybrid", len = bytes.len(), "foreign backplane message ignored");
                            continue;
                        }
                    },
                    // A transport event this version does not know: ignore it.
                    _ => continue,
                };
                return Some((event, rx));
            }
        });
        Ok(stream.boxed())
    }
}
