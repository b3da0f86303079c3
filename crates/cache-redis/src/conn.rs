//! Connections: a bb8 pool of multiplexed connections for one server, or one
//! cluster connection.
//!
//! A multiplexed connection pipelines every command sent through any of its
//! clones, so an operation checks a connection out only long enough to clone
//! it and hands the pool slot back at once: concurrent operations share
//! connections instead of queueing for exclusive ones (measured on loopback:
//! about 4x the throughput of exclusive checkout). bb8 still owns the
//! connections: it creates them, replaces broken ones, and keeps `pool_size`
//! of them.
//!
//! bb8-redis's manager is not used because it cannot carry the connect and
//! response timeouts or a TLS root certificate; [`Manager`] is the same
//! small trait impl with those settings, plus a broken flag (see below).
//!
//! Failing fast: the pool is built with `retry_connection(false)`, so a
//! refused connect is not retried inside bb8 until the connect timeout
//! runs out; and since bb8 lets a waiting checkout find out about a failed
//! connect only when its own timeout expires, an operation that has to
//! wait for a new connection also listens to [`ConnectFailures`] and fails
//! with the first one ([`FailureSink`] says why bb8's error sink carries
//! them). The next operation asks bb8 again, which starts a
//! new connect: that is how the same cache recovers when the server is
//! back. All of this is off the hot path: an operation that finds its lane
//! filled never touches the pool.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, RedisError, RedisFuture, Value};
use tokio::sync::watch;

/// A pooled multiplexed connection and whether an operation saw it break.
///
/// A multiplexed connection cannot tell from outside that its socket died
/// (e.g. when the server restarted), so operations that get an I/O error
/// through a clone set the shared flag; bb8 then drops the connection
/// through [`Manager::has_broken`] and makes a new one.
pub(crate) struct Pooled {
    conn: MultiplexedConnection,
    broken: Arc<AtomicBool>,
}

/// Makes and checks the pool's connections.
pub(crate) struct Manager {
    client: Client,
    config: AsyncConnectionConfig,
}

impl Manager {
    pub(crate) fn new(client: Client, config: AsyncConnectionConfig) -> Manager {
        Manager { client, config }
    }
}

/// Where failed connect attempts are announced (the last one stays, so a
/// pool timeout can say why).
pub(crate) type FailureSource = Arc<watch::Sender<Option<RedisError>>>;

/// bb8's error sink: announces each connect attempt that bb8 gave up on.
///
/// bb8 calls it after it has released the attempt's place in the pool, so
/// an operation that hears of the failure and stops waiting leaves no
/// pending attempt behind: the next operation's checkout starts a new one.
/// (Announcing from [`Manager`]'s `connect` instead would race with that
/// release, and a checkout in between would wait, without any attempt
/// under way, for bb8's timeout.)
#[derive(Clone)]
pub(crate) struct FailureSink(FailureSource);

impl FailureSink {
    pub(crate) fn new() -> FailureSink {
        FailureSink(Arc::new(watch::Sender::new(None)))
    }

    pub(crate) fn source(&self) -> FailureSource {
        Arc::clone(&self.0)
    }
}

impl fmt::Debug for FailureSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FailureSink")
    }
}

impl bb8::ErrorSink<RedisError> for FailureSink {
    fn sink(&self, error: RedisError) {
        self.0.send_replace(Some(error));
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<RedisError>> {
        Box::new(self.clone())
    }
}

/// A subscription to failed connect attempts, made before asking the pool
/// for a connection so that a connect bb8 starts for it is seen.
pub(crate) struct ConnectFailures(watch::Receiver<Option<RedisError>>);

impl ConnectFailures {
    pub(crate) fn subscribe(source: &FailureSource) -> ConnectFailures {
        ConnectFailures(source.subscribe())
    }

    /// The next connect failure after the subscription was made.
    pub(crate) async fn next(&mut self) -> RedisError {
        loop {
            if self.0.changed().await.is_err() {
                // The pool is gone; the pool's own future decides.
                return std::future::pending().await;
            }
            if let Some(e) = self.0.borrow_and_update().clone() {
                return e;
            }
        }
    }
}

impl bb8::ManageConnection for Manager {
    type Connection = Pooled;
    type Error = RedisError;

    async fn connect(&self) -> Result<Pooled, RedisError> {
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        Ok(Pooled {
            conn,
            broken: Arc::default(),
        })
    }

    async fn is_valid(&self, pooled: &mut Pooled) -> Result<(), RedisError> {
        let result: Result<String, RedisError> = Cmd::ping().query_async(&mut pooled.conn).await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                pooled.broken.store(true, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.broken.load(Ordering::Relaxed)
    }
}

/// One operation's connection: a clone of a pooled multiplexed connection,
/// or of the cluster connection.
#[derive(Clone)]
pub(crate) enum Conn {
    /// A clone of a pooled connection.
    Single(MultiplexedConnection),
    /// A clone of the cluster connection (it routes and reconnects itself).
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}

/// How long a lane reuses its clone before asking the pool again, so bb8
/// stays in charge of which connections live (lifetime, replacement).
const LANE_TTL: Duration = Duration::from_secs(1);

/// A lane's connection, as checked out of the pool.
struct Cached {
    conn: MultiplexedConnection,
    /// The pooled connection's flag (see [`Pooled`]).
    broken: Arc<AtomicBool>,
    since: Instant,
    generation: u64,
    /// Clones handed out; the age is read only every [`AGE_CHECK_EVERY`].
    uses: u32,
}

/// How often (in uses) a lane reads the clock to check its age: a clock
/// read per operation shows in a profile; one per 256 does not.
const AGE_CHECK_EVERY: u32 = 256;

/// Which lane, and which of its connections, an operation used: enough to
/// flag that very connection as broken later.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lease {
    lane: usize,
    generation: u64,
}

/// Clones of pooled connections, cached per lane for about [`LANE_TTL`].
///
/// A bb8 checkout takes the pool's lock twice (out and back) and a few
/// atomic reference counts; under many concurrent operations that is a
/// noticeable share of the client's CPU per get. A lane hands out a clone
/// of its connection under a short lock instead; operations are spread
/// over the lanes round-robin.
pub(crate) struct Lanes {
    lanes: Box<[Mutex<Option<Cached>>]>,
    next: AtomicUsize,
    generation: AtomicU64,
}

impl Lanes {
    pub(crate) fn new(count: usize) -> Lanes {
        Lanes {
            lanes: (0..count.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
        }
    }

    /// The lane for this operation.
    pub(crate) fn pick(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len()
    }

    /// A clone of the lane's connection, if it is fresh and not broken.
    pub(crate) fn get(&self, lane: usize) -> Option<(Conn, Lease)> {
        let mut slot = self.lanes.get(lane)?.lock().ok()?;
        let c = slot.as_mut()?;
        c.uses = c.uses.wrapping_add(1);
        let stale = c.uses % AGE_CHECK_EVERY == 0 && c.since.elapsed() >= LANE_TTL;
        if stale || c.broken.load(Ordering::Relaxed) {
            return None;
        }
        Some((
            Conn::Single(c.conn.clone()),
            Lease {
                lane,
                generation: c.generation,
            },
        ))
    }

    /// Caches a connection just checked out of the pool in the lane and
    /// returns a clone; `None` if an operation already saw it break.
    pub(crate) fn put(&self, lane: usize, pooled: &Pooled) -> Option<(Conn, Lease)> {
        if pooled.broken.load(Ordering::Relaxed) {
            return None;
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        if let Some(Ok(mut slot)) = self.lanes.get(lane).map(Mutex::lock) {
            *slot = Some(Cached {
                conn: pooled.conn.clone(),
                broken: Arc::clone(&pooled.broken),
                since: Instant::now(),
                generation,
                uses: 0,
            });
        }
        Some((
            Conn::Single(pooled.conn.clone()),
            Lease { lane, generation },
        ))
    }

    /// Flags the leased connection as broken (bb8 then replaces it) and
    /// empties its lane, unless the lane has moved on to another one.
    pub(crate) fn mark_broken(&self, lease: Lease) {
        if let Some(Ok(mut slot)) = self.lanes.get(lease.lane).map(Mutex::lock) {
            if let Some(c) = slot.as_ref().filter(|c| c.generation == lease.generation) {
                c.broken.store(true, Ordering::Relaxed);
                *slot = None;
            }
        }
    }
}
