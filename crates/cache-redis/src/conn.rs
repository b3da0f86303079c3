//! Connections: [`Connector`] holds a bb8 pool of multiplexed connections
//! for one server, or one cluster connection, both made lazily: building a
//! cache does no I/O, the first operation (or `ping`) connects.
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
//! wait for a new connection also listens to the pool's announced connect
//! failures and fails with the first one (the shared
//! [`ConnectFailures`] of `cache_abstractions::support::connect`). The next
//! operation asks bb8 again, which starts a
//! new connect: that is how the same cache recovers when the server is
//! back. All of this is off the hot path: an operation that finds its lane
//! filled never touches the pool.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cache_abstractions::support::connect::{Checkout, ConnectFailures};
use cache_abstractions::{Error, ErrorKind, Result};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
#[cfg(any(feature = "tls-rustls", feature = "tls-native-tls"))]
use redis::TlsCertificates;
use redis::{
    AsyncConnectionConfig, Client, Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture,
    Value,
};
use tokio::sync::OnceCell;

use crate::config::Config;
use crate::error;
use crate::telemetry;
use crate::url::Target;

/// Where an operation gets its connection; made without I/O.
pub(crate) struct Connector {
    kind: Kind,
    pool_size: u32,
    connect_timeout: Duration,
    command_timeout: Duration,
}

enum Kind {
    /// One server: a bb8 pool of multiplexed connections, made on first use
    /// (bb8 spawns its upkeep task on the runtime that makes it).
    Pool {
        client: Client,
        config: AsyncConnectionConfig,
        pool: OnceLock<bb8::Pool<Manager>>,
        lanes: Lanes,
        /// Failed connects, to fail an operation waiting for one at once.
        failures: ConnectFailures<RedisError>,
    },
    /// A cluster: one connection that routes by slot and reconnects itself,
    /// made by the first operation that needs it (a failed attempt leaves
    /// it unmade, so the next operation tries again).
    Cluster {
        client: ClusterClient,
        conn: OnceCell<ClusterConnection>,
    },
}

impl Connector {
    /// Checks the settings the driver checks, without connecting.
    pub(crate) fn new(config: &Config) -> Result<Connector> {
        let kind = match &config.target {
            Target::Standalone(url) => standalone(config, url)?,
            Target::Cluster(nodes) => cluster(config, nodes)?,
        };
        Ok(Connector {
            kind,
            pool_size: config.pool_size,
            connect_timeout: config.connect_timeout,
            command_timeout: config.command_timeout,
        })
    }

    /// The longest wait for a command's reply.
    pub(crate) fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// A connection for one operation, and for a pooled one the lease
    /// that lets the operation flag it as broken.
    pub(crate) async fn acquire(&self, op: &'static str) -> Result<(Conn, Option<Lease>)> {
        if let Kind::Pool { lanes, .. } = &self.kind {
            let lane = lanes.pick();
            if let Some((conn, lease)) = lanes.get(lane) {
                return Ok((conn, Some(lease)));
            }
            return Box::pin(self.acquire_slow(op, Some(lane))).await;
        }
        // Boxed, as the pool's slow path: every operation's future holds
        // this one's state, and the bb8 checkout's is large.
        Box::pin(self.acquire_slow(op, None)).await
    }

    /// A lane's connection from the pool (`lane`), or the cluster connection.
    async fn acquire_slow(
        &self,
        op: &'static str,
        lane: Option<usize>,
    ) -> Result<(Conn, Option<Lease>)> {
        let (client, config, pool, lanes, failures) = match &self.kind {
            Kind::Cluster { client, conn } => {
                let budget = self.connect_timeout.saturating_add(self.command_timeout);
                // The deadline covers the wait behind another caller's
                // attempt too: after a failed attempt the next waiter makes
                // its own, and a caller must not queue for several budgets.
                let init = conn.get_or_try_init(|| async {
                    client
                        .get_async_connection()
                        .await
                        .map_err(|e| error::from_connect(op, e))
                });
                let conn = tokio::time::timeout(budget, init)
                    .await
                    .map_err(|_| error::timed_out(op, budget))??;
                return Ok((Conn::Cluster(conn.clone()), None));
            }
            Kind::Pool {
                client,
                config,
                pool,
                lanes,
                failures,
            } => (client, config, pool, lanes, failures),
        };
        let lane = lane.unwrap_or_else(|| lanes.pick());
        // Off the hot path (a lane refills about once a second).
        let pool = pool.get_or_init(|| {
            bb8::Pool::builder()
                .max_size(self.pool_size)
                .min_idle(Some(1))
                // A refused connect fails the operation waiting for it at
                // once instead of being retried until the connect timeout;
                // the next operation tries again.
                .retry_connection(false)
                .error_sink(failures.sink())
                // A health check per checkout would double the round trips;
                // broken connections are flagged by the operations instead.
                .test_on_check_out(false)
                .connection_timeout(self.connect_timeout)
                .build_unchecked(Manager::new(client.clone(), config.clone()))
        });
        // Skip connections an operation saw break: dropping their guard
        // makes bb8 discard them and connect anew.
        for _ in 0..=self.pool_size {
            let checked_out = telemetry::POOL
                .checkout(self.pool_size, || pool.state(), failures.checkout(pool))
                .await;
            let guard = checked_out.map_err(|e| {
                let error = match e {
                    Checkout::Failed(e) => error::from_connect(op, e),
                    Checkout::TimedOut { last_failure } => {
                        error::pool_timeout(op, self.connect_timeout, last_failure)
                    }
                };
                telemetry::POOL.checkout_failed(&error);
                error
            })?;
            if let Some((conn, lease)) = lanes.put(lane, &guard) {
                return Ok((conn, Some(lease)));
            }
        }
        Err(Error::new(
            ErrorKind::Connection,
            format!("redis {op}: no healthy connection in the pool"),
        ))
    }

    /// Flags a leased connection as broken.
    pub(crate) fn mark_broken(&self, lease: Lease) {
        if let Kind::Pool { lanes, .. } = &self.kind {
            lanes.mark_broken(lease);
        }
    }
}

fn standalone(config: &Config, url: &str) -> Result<Kind> {
    let client = client(config, url)?;
    let driver = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.command_timeout));
    Ok(Kind::Pool {
        client,
        config: driver,
        pool: OnceLock::new(),
        lanes: Lanes::new(config.pool_size as usize),
        failures: ConnectFailures::new(),
    })
}

/// The driver's client for one server (credentials and TLS applied), no I/O.
pub(crate) fn client(config: &Config, url: &str) -> Result<Client> {
    // The driver's parse error may quote the URL, and so a password:
    // report the failure without it.
    let mut info = url
        .into_connection_info()
        .map_err(|_| Error::config("invalid redis URL (the URL is not repeated here)"))?;
    let mut settings = info.redis_settings().clone();
    if let Some(user) = &config.username {
        settings = settings.set_username(user);
    }
    if let Some(password) = &config.password {
        settings = settings.set_password(password);
    }
    info = info.set_redis_settings(settings);
    if url.to_ascii_lowercase().starts_with("rediss") {
        install_crypto_provider();
    }
    match &config.tls_root_cert {
        #[cfg(any(feature = "tls-rustls", feature = "tls-native-tls"))]
        Some(pem) => Client::build_with_tls(
            info,
            TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            },
        ),
        #[cfg(not(any(feature = "tls-rustls", feature = "tls-native-tls")))]
        Some(_) => return Err(no_tls()),
        None => Client::open(info),
    }
    .map_err(|e| Error::config(format!("invalid redis settings ({})", e.category())))
}

/// redis-rs takes a custom root certificate for a cluster only with rustls.
#[cfg(feature = "tls-rustls")]
fn cluster_root_certificate(
    builder: ClusterClientBuilder,
    pem: &[u8],
) -> Result<ClusterClientBuilder> {
    Ok(builder.certs(TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    }))
}

#[cfg(not(feature = "tls-rustls"))]
fn cluster_root_certificate(_: ClusterClientBuilder, _: &[u8]) -> Result<ClusterClientBuilder> {
    Err(Error::config(
        "tls_root_certificate for a cluster needs the tls-rustls feature (the default); \
         with native-tls, add the CA to the system trust store",
    ))
}

#[cfg(not(any(feature = "tls-rustls", feature = "tls-native-tls")))]
fn no_tls() -> Error {
    Error::config("tls_root_certificate needs a TLS feature of cache-redis (tls-rustls, the default, or tls-native-tls)")
}

/// With rustls, makes sure a process-wide crypto provider exists: ring,
/// unless the application installed one (then that one is used). rustls
/// cannot pick one by itself when its dependency graph enables two.
///
/// ring rather than rustls's default aws-lc-rs: it builds in seconds with
/// only a C compiler. rustls 0.23.48 deprecates it for lacking
/// post-quantum key exchange; an app that wants that installs aws-lc-rs's
/// provider before its first TLS connection, and this one is never made.
#[allow(deprecated)]
fn install_crypto_provider() {
    #[cfg(feature = "tls-rustls")]
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

fn cluster(config: &Config, nodes: &[String]) -> Result<Kind> {
    let mut builder = ClusterClientBuilder::new(nodes.to_vec())
        .connection_timeout(config.connect_timeout)
        .response_timeout(config.command_timeout)
        .retries(3);
    if let Some(user) = &config.username {
        builder = builder.username(user);
    }
    if let Some(password) = &config.password {
        builder = builder.password(password);
    }
    if nodes
        .iter()
        .any(|n| n.to_ascii_lowercase().starts_with("rediss"))
    {
        install_crypto_provider();
    }
    if let Some(pem) = &config.tls_root_cert {
        builder = cluster_root_certificate(builder, pem)?;
    }
    let client = builder
        .build()
        .map_err(|e| Error::config(format!("invalid redis cluster settings ({})", e.category())))?;
    Ok(Kind::Cluster {
        client,
        conn: OnceCell::new(),
    })
}

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

impl bb8::ManageConnection for Manager {
    type Connection = Pooled;
    type Error = RedisError;

    async fn connect(&self) -> Result<Pooled, RedisError> {
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        telemetry::connected();
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
        let stale = c.uses.is_multiple_of(AGE_CHECK_EVERY) && c.since.elapsed() >= LANE_TTL;
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
