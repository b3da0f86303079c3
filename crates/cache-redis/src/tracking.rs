//! Server-assisted invalidation for [`RedisBackplane::server_assisted`](crate::RedisBackplane::server_assisted):
//! one RESP3 connection carries both the channel's messages and the
//! server's `invalidate` pushes.
//!
//! - `CLIENT TRACKING ON BCAST PREFIX <instance name>`: broadcast mode, so
//!   the server reports every write to a key under the instance name,
//!   whoever made it, without this client having read the key first
//!   (default mode would need every read to go through this connection).
//! - `SUBSCRIBE <channel>` on the same connection (RESP3 allows commands
//!   and pushes on one connection), so one connection's state decides
//!   connected or not, and the reconnect rules of the pub/sub backplane
//!   apply unchanged: the cache drops its local tier on every (re)connect.
//! - An `invalidate` push names keys with the prefix, stripped here; a
//!   `null` one (`FLUSHDB`, `FLUSHALL`) means everything.
//! - A lost connection (reported by the driver as a `Disconnection` push,
//!   or a health-check `PING` without an answer) ends the session; the
//!   tracking state lives on the connection, so the next session enables
//!   it again.

use std::sync::Arc;

use bytes::Bytes;
use cache_abstractions::{Error, ErrorKind, Result};
use redis::{AsyncConnectionConfig, Client, ProtocolVersion, PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use crate::backplane::{retrying, PubSubEvent, Session, SessionEnd, Shared};
use crate::error;

/// The server-assisted subscription loop.
pub(crate) async fn subscriber(shared: Arc<Shared>, tx: mpsc::UnboundedSender<PubSubEvent>) {
    retrying(shared, tx, tracked_session).await;
}

/// The backplane's client with RESP3 (pushes need it); same server,
/// credentials and TLS settings. No I/O.
fn resp3_client(shared: &Shared) -> Result<Client> {
    let info = shared.client.get_connection_info().clone();
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    Client::open(info.set_redis_settings(settings))
        .map_err(|e| Error::config(format!("invalid redis settings ({})", e.category())))
}

fn lost(what: &'static str) -> SessionEnd {
    SessionEnd::Lost(Error::new(
        ErrorKind::Connection,
        format!("redis backplane: {what}"),
    ))
}

/// One session: connect (RESP3), enable tracking, subscribe, report, and
/// forward pushes until the connection is lost.
fn tracked_session(shared: Arc<Shared>, tx: mpsc::UnboundedSender<PubSubEvent>) -> Session {
    Box::pin(async move {
        let client = match resp3_client(&shared) {
            Ok(client) => client,
            Err(e) => return SessionEnd::NotConnected(e),
        };
        let (push_tx, mut pushes) = mpsc::unbounded_channel::<PushInfo>();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(shared.connect_timeout))
            .set_response_timeout(Some(shared.command_timeout))
            .set_push_sender(push_tx);
        let mut conn = match client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(conn) => conn,
            Err(e) => return SessionEnd::NotConnected(error::from_connect("backplane connect", e)),
        };
        let mut tracking = redis::cmd("CLIENT");
        tracking.arg("TRACKING").arg("ON").arg("BCAST");
        if !shared.key_prefix.is_empty() {
            tracking.arg("PREFIX").arg(&shared.key_prefix);
        }
        if let Err(e) = tracking.query_async::<Value>(&mut conn).await {
            return SessionEnd::NotConnected(error::from_redis("backplane CLIENT TRACKING", e));
        }
        if let Err(e) = conn.subscribe(&shared.channel).await {
            return SessionEnd::NotConnected(error::from_redis("backplane subscribe", e));
        }
        if tx.send(PubSubEvent::Connected).is_err() {
            return SessionEnd::Stop;
        }
        let mut health = tokio::time::interval(shared.command_timeout);
        health.tick().await;
        loop {
            tokio::select! {
                push = pushes.recv() => {
                    let event = match push {
                        None => return lost("the tracking connection closed"),
                        Some(push) => match push.kind {
                            PushKind::Disconnection => return lost("the tracking connection closed"),
                            PushKind::Message => match push.data.get(1) {
                                Some(Value::BulkString(payload)) => {
                                    PubSubEvent::Message(Bytes::copy_from_slice(payload))
                                }
                                _ => continue,
                            },
                            PushKind::Invalidate => {
                                PubSubEvent::Invalidated(invalidated(&push.data, &shared.key_prefix))
                            }
                            // Subscription confirmations and the like.
                            _ => continue,
                        },
                    };
                    if tx.send(event).is_err() {
                        return SessionEnd::Stop;
                    }
                }
                _ = health.tick() => {
                    let mut conn = conn.clone();
                    let command = redis::cmd("PING");
                    let ping = command.query_async::<Value>(&mut conn);
                    match tokio::time::timeout(shared.command_timeout, ping).await {
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

/// The keys of an `invalidate` push's data, `prefix` stripped; `None` for
/// the `null` one (everything). A key outside the prefix or not UTF-8 is
/// not one of this cache's keys: skipped.
fn invalidated(data: &[Value], prefix: &str) -> Option<Vec<String>> {
    let keys = match data.first() {
        Some(Value::Array(keys) | Value::Set(keys)) => keys,
        // Null (and anything this version cannot read): assume the worst.
        _ => return None,
    };
    Some(
        keys.iter()
            .filter_map(|key| match key {
                Value::BulkString(bytes) => std::str::from_utf8(bytes).ok(),
                Value::SimpleString(s) => Some(s.as_str()),
                _ => None,
            })
            .filter_map(|key| key.strip_prefix(prefix))
            .map(str::to_owned)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_strip_the_prefix_and_null_is_everything() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let data = [Value::Array(vec![
            bulk("shop:product:1"),
            bulk("other:x"),
            Value::BulkString(vec![b's', b'h', b'o', b'p', b':', 0xFF]),
            bulk("shop:"),
        ])];
        assert_eq!(
            invalidated(&data, "shop:"),
            Some(vec!["product:1".to_string(), String::new()])
        );
        assert_eq!(invalidated(&[Value::Nil], "shop:"), None);
        assert_eq!(invalidated(&[], "shop:"), None);
        assert_eq!(
            invalidated(&[Value::Array(vec![bulk("k")])], ""),
            Some(vec!["k".to_string()])
        );
    }
}
