//! [`Backplane`] over Redis pub/sub: `cache_redis::RedisBackplane` (feature
//! `redis`). The transport (channel per instance name, dedicated
//! subscription connection, reconnect and resubscribe, server-assisted
//! invalidation) lives in cache-redis; this is the message mapping. A
//! server-reported invalidation becomes a message from
//! [`InstanceId::SERVER`]: one per key, or [`Change::All`] for a flush.

use cache_abstractions::Result;
use cache_redis::{PubSubEvent, RedisBackplane};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};

use std::collections::VecDeque;

use crate::backplane::{Backplane, Change, Event, InstanceId, Message};

impl Backplane for RedisBackplane {
    fn publish(&self, message: &Message) -> BoxFuture<'_, Result<()>> {
        let bytes = message.encode();
        Box::pin(async move { RedisBackplane::publish(self, &bytes).await })
    }

    fn subscribe(&self) -> Result<BoxStream<'static, Event>> {
        let events = RedisBackplane::subscribe(self);
        let from_server = |change| {
            Event::Message(Message {
                sender: InstanceId::SERVER,
                change,
            })
        };
        let state = (events, VecDeque::new());
        let stream = futures::stream::unfold(state, move |(mut rx, mut pending)| async move {
            loop {
                if let Some(event) = pending.pop_front() {
                    return Some((event, (rx, pending)));
                }
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
                    PubSubEvent::Invalidated(None) => from_server(Change::All),
                    PubSubEvent::Invalidated(Some(keys)) => {
                        pending.extend(keys.into_iter().map(|k| from_server(Change::Key(k))));
                        continue;
                    }
                    // A transport event this version does not know: ignore it.
                    _ => continue,
                };
                return Some((event, (rx, pending)));
            }
        });
        Ok(stream.boxed())
    }
}
