//! [`RedisBackplane`]: Redis pub/sub for invalidation messages between the
//! instances of a hybrid (two-tier) cache, with reconnect and resubscribe.
//!
//! This crate knows the messages only as bytes; `cache-hybrid` (feature
//! `redis`) implements its `Backplane` trait over this type. That keeps the
//! dependency pointing one way: the hybrid layer depends on a backend, never
//! the other way round.
//!
//! - **One channel per instance name**: `<instance name>` +
//!   [`BACKPLANE_CHANNEL_SUFFIX`]; caches sharing keys share the channel,
//!   others do not hear each other.
//! - **A dedicated connection** subscribes (a subscribed connection can run
//!   nothing else); publishing uses a second, multiplexed one.
//! - **Reconnect**: when the subscription's connection ends, or the server
//!   does not answer a health-check `PING` (every `command timeout`) within
//!   the command timeout, the subscriber reports
//!   [`PubSubEvent::Disconnected`], reconnects with a backoff (50 ms
//!   doubling to 2 s), resubscribes and reports [`PubSubEvent::Connected`].
//! - **Server-assisted invalidation** ([`RedisBackplane::server_assisted`]):
//!   the subscription runs on a RESP3 connection that also has
//!   `CLIENT TRACKING ON BCAST PREFIX <instance name>`, so a write by
//!   *anyone* (another app, `redis-cli`) to a key under the instance name is
//!   reported as [`PubSubEvent::Invalidated`] (docs/hybrid.md, "server-assisted
//!   invalidation").

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_abstractions::{Error, OpenOptions, Result};
use futures::StreamExt;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Value};
use tokio::sync::{mpsc, Mutex};

use crate::builder::RedisCacheBuilder;
use crate::error;
use crate::url::Target;

/// Appended to the instance name to make the backplane channel.
pub const BACKPLANE_CHANNEL_SUFFIX: &str = "__backplane";

const FIRST_RETRY: Duration = Duration::from_millis(50);
const LAST_RETRY: Duration = Duration::from_secs(2);

/// What a [`RedisBackplane::subscribe`] receiver gets.
#[derive(Debug)]
#[non_exhaustive]
pub enum PubSubEvent {
    /// Subscribed (the first time, or again after a lost connection).
    Connected,
    /// The subscription was lost (messages published until the next
    /// `Connected` are not delivered). Reported once per outage.
    Disconnected(Error),
    /// A message published on the channel (by anyone, this process included).
    Message(Bytes),
    /// Server-assisted invalidation only: these keys (the instance name
    /// stripped) were written or deleted by someone (this process
    /// included); `None`: possibly every key (a `FLUSHDB`/`FLUSHALL`, or
    /// the server dropped its tracking state).
    Invalidated(Option<Vec<String>>),
}

/// Redis pub/sub on one channel, for invalidation messages. Clones share
/// the publishing connection. Building does no I/O.
///
/// ```no_run
/// use cache_abstractions::OpenOptions;
/// use cache_redis::{PubSubEvent, RedisBackplane};
///
/// # async fn demo() -> cache_abstractions::Result<()> {
/// let options = OpenOptions::new().instance_name("shop:");
/// let backplane = RedisBackplane::from_url("redis://127.0.0.1:6379/", &options)?;
/// let mut events = backplane.subscribe();
/// backplane.publish(b"product:7 changed").await?;
/// while let Some(event) = events.recv().await {
///     if let PubSubEvent::Message(bytes) = event {
///         println!("{} bytes", bytes.len());
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBackplane {
    shared: Arc<Shared>,
    server_assisted: bool,
}

pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) channel: String,
    /// The instance name: the prefix tracked in server-assisted mode.
    pub(crate) key_prefix: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    publisher: Mutex<Option<MultiplexedConnection>>,
}

impl fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client's connection info holds the password: not shown.
        f.debug_struct("RedisBackplane")
            .field("channel", &self.shared.channel)
            .field("command_timeout", &self.shared.command_timeout)
            .field("server_assisted", &self.server_assisted)
            .finish_non_exhaustive()
    }
}

impl RedisCacheBuilder {
    /// A backplane with this builder's server, credentials, TLS settings,
    /// timeouts and instance name (its channel). No I/O.
    ///
    /// # Errors
    ///
    /// `Config` for invalid settings, or cluster nodes (a cluster
    /// backplane is not supported yet: use one node's URL).
    pub fn build_backplane(self) -> Result<RedisBackplane> {
        let config = self.into_config()?;
        let Target::Standalone(url) = &config.target else {
            return Err(Error::config(
                "the Redis backplane needs one server's URL, not cluster nodes",
            ));
        };
        Ok(RedisBackplane {
            shared: Arc::new(Shared {
                client: crate::conn::client(&config, url)?,
                channel: format!("{}{BACKPLANE_CHANNEL_SUFFIX}", config.instance_name),
                key_prefix: config.instance_name.clone(),
                connect_timeout: config.connect_timeout,
                command_timeout: config.command_timeout,
                publisher: Mutex::new(None),
            }),
            server_assisted: false,
        })
    }
}

impl RedisBackplane {
    /// A backplane for the server at `url`, on the channel of
    /// `options.instance_name` (as [`RedisCacheBuilder::from_url`] takes
    /// them). No I/O.
    pub fn from_url(url: &str, options: &OpenOptions) -> Result<RedisBackplane> {
        RedisCacheBuilder::from_url(url, options)?.build_backplane()
    }

    /// The pub/sub channel.
    pub fn channel(&self) -> &str {
        &self.shared.channel
    }

    /// With `true`, subscriptions also ask the server to report writes to
    /// the keys under the instance name (RESP3 `CLIENT TRACKING ON BCAST
    /// PREFIX <instance name>`): a write by another application, which
    /// publishes nothing, then evicts the local copies as a message would,
    /// as [`PubSubEvent::Invalidated`]. Needs Redis 6 or later. The
    /// messages on the channel still arrive (tags and "clear everything"
    /// are not key writes). No I/O.
    pub fn server_assisted(mut self, on: bool) -> RedisBackplane {
        self.server_assisted = on;
        self
    }

    /// Whether [`server_assisted`](Self::server_assisted) is on.
    pub fn is_server_assisted(&self) -> bool {
        self.server_assisted
    }

    /// Publishes `payload` on the channel.
    ///
    /// # Errors
    ///
    /// `Connection`, `Timeout` or `Authentication` when the server cannot
    /// be reached; the next call connects again.
    pub async fn publish(&self, payload: &[u8]) -> Result<()> {
        // Holding the lock while publishing keeps messages in order.
        let mut slot = self.shared.publisher.lock().await;
        let reused = slot.is_some();
        match self.publish_on(&mut slot, payload).await {
            // A kept connection may have died with the server since its
            // last use (a restart): one more try on a fresh one.
            Err(_) if reused && slot.is_none() => self.publish_on(&mut slot, payload).await,
            done => done,
        }
    }

    /// One PUBLISH on the kept connection (made first if there is none);
    /// a connection that failed is dropped from `slot`.
    async fn publish_on(
        &self,
        slot: &mut Option<MultiplexedConnection>,
        payload: &[u8],
    ) -> Result<()> {
        let shared = &self.shared;
        let mut conn = match slot.as_ref() {
            Some(conn) => conn.clone(),
            None => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(shared.connect_timeout))
                    .set_response_timeout(Some(shared.command_timeout));
                let conn = shared
                    .client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(|e| error::from_connect("publish", e))?;
                slot.insert(conn).clone()
            }
        };
        let sent: redis::RedisResult<Value> = redis::cmd("PUBLISH")
            .arg(&shared.channel)
            .arg(payload)
            .query_async(&mut conn)
            .await;
        sent.map(|_| ()).map_err(|e| {
            if error::breaks_connection(&e) {
                *slot = None;
            }
            error::from_redis("publish", e)
        })
    }

    /// Subscribes on a connection of its own, on a task that reconnects and
    /// resubscribes until the receiver is dropped. Must be called within a
    /// tokio runtime.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<PubSubEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        if self.server_assisted {
            tokio::spawn(crate::tracking::subscriber(Arc::clone(&self.shared), tx));
        } else {
            tokio::spawn(subscriber(Arc::clone(&self.shared), tx));
        }
        rx
    }
}

/// The pub/sub subscription loop: connect, subscribe, forward, and on any
/// loss report it once and start again.
async fn subscriber(shared: Arc<Shared>, tx: mpsc::UnboundedSender<PubSubEvent>) {
    retrying(shared, tx, subscribed_session).await;
}

/// What one connected session of a subscriber returns: how it ended
/// (`None`: the receiver is gone, stop).
pub(crate) type Session = std::pin::Pin<Box<dyn std::future::Future<Output = SessionEnd> + Send>>;

/// How a session ended.
pub(crate) enum SessionEnd {
    /// Could not connect or subscribe (nothing was reported).
    NotConnected(Error),
    /// Was connected (reported), then lost the connection.
    Lost(Error),
    /// The receiver is gone.
    Stop,
}

/// The reconnect loop shared by both subscribers: run a session, report a
/// loss once, back off, start again.
pub(crate) async fn retrying(
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<PubSubEvent>,
    session: fn(Arc<Shared>, mpsc::UnboundedSender<PubSubEvent>) -> Session,
) {
    let mut retry = FIRST_RETRY;
    // The first failure to subscribe after a start or a loss is a warning
    // (a server without CLIENT TRACKING, an ACL refusing SUBSCRIBE: the
    // cache then runs under the outage rules); the retries are debug.
    let mut warned = false;
    loop {
        match session(Arc::clone(&shared), tx.clone()).await {
            SessionEnd::Stop => return,
            SessionEnd::Lost(lost) => {
                retry = FIRST_RETRY;
                warned = false;
                tracing::warn!(channel = %shared.channel, error = %lost, "redis backplane: subscription lost; reconnecting");
                if tx.send(PubSubEvent::Disconnected(lost)).is_err() {
                    return;
                }
            }
            SessionEnd::NotConnected(e) if !warned => {
                warned = true;
                tracing::warn!(channel = %shared.channel, error = %e, "redis backplane: cannot subscribe; retrying");
            }
            SessionEnd::NotConnected(e) => {
                tracing::debug!(channel = %shared.channel, error = %e, "redis backplane: cannot subscribe yet");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            () = tx.closed() => return,
        }
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// One pub/sub session: connect, subscribe, report, forward until lost.
fn subscribed_session(shared: Arc<Shared>, tx: mpsc::UnboundedSender<PubSubEvent>) -> Session {
    Box::pin(async move {
        let (mut sink, mut stream) = match subscribed(&shared).await {
            Ok(halves) => halves,
            Err(e) => return SessionEnd::NotConnected(e),
        };
        if tx.send(PubSubEvent::Connected).is_err() {
            return SessionEnd::Stop;
        }
        let mut health = tokio::time::interval(shared.command_timeout);
        health.tick().await;
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(m) => {
                        let bytes = Bytes::copy_from_slice(m.get_payload_bytes());
                        if tx.send(PubSubEvent::Message(bytes)).is_err() {
                            return SessionEnd::Stop;
                        }
                    }
                    None => return SessionEnd::Lost(Error::new(
                        cache_abstractions::ErrorKind::Connection,
                        "redis backplane: the subscription's connection closed",
                    )),
                },
                _ = health.tick() => {
                    let ping = tokio::time::timeout(shared.command_timeout, sink.ping::<Value>());
                    match ping.await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return SessionEnd::Lost(error::from_redis("backplane ping", e)),
                        Err(_) => return SessionEnd::Lost(error::timed_out("backplane ping", shared.command_timeout)),
                    }
                }
                () = tx.closed() => return SessionEnd::Stop,
            }
        }
    })
}

/// A fresh connection subscribed to the channel, within the timeouts.
async fn subscribed(shared: &Shared) -> Result<(redis::aio::PubSubSink, redis::aio::PubSubStream)> {
    let connect = tokio::time::timeout(shared.connect_timeout, shared.client.get_async_pubsub());
    let pubsub = connect
        .await
        .map_err(|_| error::timed_out("backplane connect", shared.connect_timeout))?
        .map_err(|e| error::from_connect("backplane subscribe", e))?;
    let (mut sink, stream) = pubsub.split();
    tokio::time::timeout(shared.command_timeout, sink.subscribe(&shared.channel))
        .await
        .map_err(|_| error::timed_out("backplane subscribe", shared.command_timeout))?
        .map_err(|e| error::from_redis("backplane subscribe", e))?;
    Ok((sink, stream))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_channel_per_instance_name_and_no_cluster() {
        let options = OpenOptions::new().instance_name("shop:");
        let b = RedisBackplane::from_url("redis://127.0.0.1:1/", &options).unwrap();
        assert_eq!(b.channel(), "shop:__backplane");
        let debug = format!(
            "{:?}",
            RedisBackplane::from_url("redis://u:secret@127.0.0.1:1/", &options).unwrap()
        );
        assert!(!debug.contains("secret"), "{debug}");
        let cluster = crate::RedisCache::builder()
            .cluster_nodes(["redis://127.0.0.1:1", "redis://127.0.0.1:2"])
            .build_backplane()
            .unwrap_err();
        assert_eq!(cluster.kind(), cache_abstractions::ErrorKind::Config);
    }
}
