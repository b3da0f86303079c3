//! The Redis harness for the conformance kit, and raw-command helpers.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::{DistributedCache, Error, ErrorKind, Result};
use cache_redis::RedisCache;
use cache_testkit::redis_server::{RedisCluster, RedisServer};
use cache_testkit::{async_trait, Harness, Outage};
use redis::{Cmd, Value};

/// Keys up to this many bytes in the kit's caches: the default (512 MiB,
/// Redis's limit) would make the kit's key-limit case write 1 GiB of keys.
pub const TEST_MAX_KEY_BYTES: usize = 4096;

/// Where the harness's caches point.
pub enum Store {
    Server(Arc<RedisServer>),
    Cluster(Arc<RedisCluster>),
}

impl Store {
    pub fn url(&self) -> String {
        match self {
            Store::Server(s) => s.url(),
            Store::Cluster(c) => c.url(),
        }
    }
}

/// Sends one raw command to the store (routed by key on a cluster).
pub async fn raw(store: &Store, cmd: &Cmd) -> redis::RedisResult<Value> {
    match store {
        Store::Server(s) => {
            let client = redis::Client::open(s.url())?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            cmd.query_async(&mut conn).await
        }
        Store::Cluster(c) => {
            let client = redis::cluster::ClusterClient::new(c.node_urls())?;
            let mut conn = client.get_async_connection().await?;
            cmd.query_async(&mut conn).await
        }
    }
}

/// Builds a command from string arguments.
pub fn cmd(args: &[&str]) -> Cmd {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c
}

pub struct RedisHarness {
    pub store: Store,
}

pub async fn standalone() -> RedisHarness {
    RedisHarness {
        store: Store::Server(RedisServer::shared()),
    }
}

pub async fn cluster() -> RedisHarness {
    let cluster = tokio::task::spawn_blocking(RedisCluster::shared)
        .await
        .expect("starting the cluster panicked");
    RedisHarness {
        store: Store::Cluster(cluster),
    }
}

/// Foreign data the harness writes, and how (arguments after the key).
const FOREIGN: &[(&str, &[&str])] = &[
    ("string value", &["SET", "{k}", "hello"]),
    ("list", &["RPUSH", "{k}", "a", "b"]),
    ("set", &["SADD", "{k}", "a"]),
    (
        "hash without data",
        &["HSET", "{k}", "absexp", "-1", "sldexp", "-1"],
    ),
    (
        "hash without absexp",
        &["HSET", "{k}", "sldexp", "-1", "data", "x"],
    ),
    (
        "hash without sldexp",
        &["HSET", "{k}", "absexp", "-1", "data", "x"],
    ),
    (
        "absexp not a number",
        &["HSET", "{k}", "absexp", "soon", "sldexp", "-1", "data", "x"],
    ),
    (
        "absexp empty",
        &["HSET", "{k}", "absexp", "", "sldexp", "-1", "data", "x"],
    ),
    (
        "absexp with a space",
        &[
            "HSET",
            "{k}",
            "absexp",
            " 638396640000000000",
            "sldexp",
            "-1",
            "data",
            "x",
        ],
    ),
    (
        "sldexp negative other than -1",
        &["HSET", "{k}", "absexp", "-1", "sldexp", "-5", "data", "x"],
    ),
    (
        "sldexp zero",
        &["HSET", "{k}", "absexp", "-1", "sldexp", "0", "data", "x"],
    ),
    (
        "sldexp fractional",
        &["HSET", "{k}", "absexp", "-1", "sldexp", "12.5", "data", "x"],
    ),
    (
        "absexp beyond year 9999",
        &[
            "HSET",
            "{k}",
            "absexp",
            "3155378976000000000",
            "sldexp",
            "-1",
            "data",
            "x",
        ],
    ),
    (
        "absexp overflowing 64 bits",
        &[
            "HSET",
            "{k}",
            "absexp",
            "99999999999999999999999",
            "sldexp",
            "600000000",
            "data",
            "x",
        ],
    ),
    (
        "sliding entry with huge sldexp",
        &[
            "HSET", "{k}", "absexp", "-1", "sldexp", "1e400", "data", "x",
        ],
    ),
    (
        "hash with unrelated fields only",
        &["HSET", "{k}", "name", "x"],
    ),
];

pub fn namespaced(ns: &str, key: &str) -> String {
    format!("{ns}{key}")
}

pub async fn write_foreign(store: &Store, ns: &str, key: &str, variant: usize) -> Result<()> {
    let Some((_, args)) = FOREIGN.get(variant) else {
        return Err(Error::unsupported("no such foreign variant"));
    };
    let full = namespaced(ns, key);
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "{k}" { full.as_str() } else { *a })
        .collect();
    raw(store, &cmd(&args))
        .await
        .map(drop)
        .map_err(|e| Error::new(ErrorKind::Backend, format!("raw write failed: {e}")))
}

#[async_trait]
impl Harness for RedisHarness {
    async fn cache(&self, namespace: &str) -> Result<Arc<dyn DistributedCache>> {
        let cache = RedisCache::builder()
            .url(&self.store.url())
            .instance_name(namespace)
            .max_key_bytes(TEST_MAX_KEY_BYTES)
            .connect_timeout(Duration::from_secs(2))
            .command_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Arc::new(cache))
    }

    fn foreign_data(&self) -> Vec<&'static str> {
        FOREIGN.iter().map(|(name, _)| *name).collect()
    }

    async fn write_foreign(&self, namespace: &str, key: &str, variant: usize) -> Result<()> {
        write_foreign(&self.store, namespace, key, variant).await
    }

    async fn outage(&self) -> Option<Box<dyn Outage>> {
        match &self.store {
            Store::Server(_) => Some(Box::new(ServerOutage::start().await)),
            Store::Cluster(_) => Some(Box::new(ClusterOutage::start().await)),
        }
    }

    fn requires_every_rule(&self) -> bool {
        true
    }
}

pub const OUTAGE_CONNECT: Duration = Duration::from_secs(1);
pub const OUTAGE_COMMAND: Duration = Duration::from_secs(1);

/// A cache on a server of its own, for rule 15.
pub struct ServerOutage {
    server: RedisServer,
    cache: Arc<RedisCache>,
}

impl ServerOutage {
    pub async fn start() -> ServerOutage {
        let server = RedisServer::start();
        let cache = RedisCache::builder()
            .url(&server.url())
            .connect_timeout(OUTAGE_CONNECT)
            .command_timeout(OUTAGE_COMMAND)
            .build()
            .expect("cache over the outage server");
        ServerOutage {
            server,
            cache: Arc::new(cache),
        }
    }
}

#[async_trait]
impl Outage for ServerOutage {
    fn cache(&self) -> Arc<dyn DistributedCache> {
        self.cache.clone()
    }

    fn timeout(&self) -> Duration {
        OUTAGE_CONNECT + OUTAGE_COMMAND
    }

    async fn stop(&mut self) {
        self.server.stop();
    }

    async fn start(&mut self) {
        self.server.restart();
    }
}

/// A cache on a cluster of its own, for rule 15 over a cluster.
pub struct ClusterOutage {
    cluster: Option<RedisCluster>,
    cache: Arc<RedisCache>,
}

impl ClusterOutage {
    pub async fn start() -> ClusterOutage {
        let cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
            .await
            .expect("starting the cluster panicked");
        let cache = RedisCache::builder()
            .url(&cluster.url())
            .connect_timeout(OUTAGE_CONNECT)
            .command_timeout(OUTAGE_COMMAND)
            .build()
            .expect("cache over the outage cluster");
        ClusterOutage {
            cluster: Some(cluster),
            cache: Arc::new(cache),
        }
    }
}

#[async_trait]
impl Outage for ClusterOutage {
    fn cache(&self) -> Arc<dyn DistributedCache> {
        self.cache.clone()
    }

    fn timeout(&self) -> Duration {
        OUTAGE_CONNECT + OUTAGE_COMMAND
    }

    async fn stop(&mut self) {
        if let Some(c) = self.cluster.as_mut() {
            c.stop();
        }
    }

    async fn start(&mut self) {
        // Restarting waits for the cluster to re-form: off the runtime.
        if let Some(mut c) = self.cluster.take() {
            let c = tokio::task::spawn_blocking(move || {
                c.restart();
                c
            })
            .await
            .expect("restarting the cluster panicked");
            self.cluster = Some(c);
        }
    }
}
