//! The chaos soak (cache_testkit::soak, docs/reliability.md) against the
//! test server, through the kit's `ChopProxy` on a loopback port: tasks
//! set, get, refresh and remove versioned values in a schema of their own
//! while the proxy stalls (the server looks frozen), cuts replies mid-way,
//! cuts every connection and refuses (the server looks down). No wrong
//! value, and no error slower than the configured timeouts, may appear.
//!
//! Bounded: `CACHE_SOAK_SECS` (default 10 s: each of the four faults once)
//! and at most [`MAX_OPS_PER_TASK`] operations per task. A second test runs
//! the same wiring over a cache that drops some writes, and must see them
//! counted: the soak can fail here.

use std::net::ToSocketAddrs;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_abstractions::{Capabilities, DistributedCache, EntryOptions, Result};
use cache_postgres::{PostgresCache, TableName};
use cache_testkit::async_trait;
use cache_testkit::proxy::{ChopProxy, ProxyChaos};
use cache_testkit::soak::{self, NoChaos, SoakConfig};

use crate::common::{self, Schema};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_OPS_PER_TASK: u64 = 50_000;

fn soak_duration() -> Duration {
    let secs = std::env::var("CACHE_SOAK_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(10);
    Duration::from_secs(secs)
}

/// A [`ChopProxy`] on a loopback port in front of the test server.
fn proxy() -> Arc<ChopProxy> {
    let config = tokio_postgres::Config::from_str(&common::url()).expect("the URL parses");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let upstream = (host.as_str(), port)
        .to_socket_addrs()
        .expect("the server's address resolves")
        .next()
        .expect("the server has an address");
    Arc::new(ChopProxy::start(upstream).expect("a proxy in front of the server"))
}

/// A cache over `table` that talks to the server through `proxy`.
fn cache_through(proxy: &ChopProxy, table: &TableName) -> PostgresCache {
    let config = tokio_postgres::Config::from_str(&common::url()).expect("the URL parses");
    let user = config.get_user().unwrap_or("postgres");
    let db = config.get_dbname().unwrap_or("test");
    PostgresCache::builder()
        .connection_string(&format!(
            "postgres://{user}@127.0.0.1:{}/{db}?sslmode=disable",
            proxy.port()
        ))
        .schema(table.schema())
        .table(table.table())
        .connect_timeout(CONNECT_TIMEOUT)
        .command_timeout(COMMAND_TIMEOUT)
        .background_sweep(false)
        .build()
        .expect("a valid configuration")
}

fn config(duration: Duration) -> SoakConfig {
    let mut config = SoakConfig::short(duration);
    config.max_ops_per_task = MAX_OPS_PER_TASK;
    config.op_timeout = CONNECT_TIMEOUT + COMMAND_TIMEOUT;
    // Longer than the command timeout, so operations fail during a stall;
    // four faults of 2 s in all fit in the default 10 s.
    config.fault_for = Duration::from_millis(1500);
    config.calm_for = Duration::from_millis(500);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn soak_through_proxy_faults_has_no_wrong_value() {
    let schema = Schema::new("soak").await;
    let table = schema.create_table("cache").await;
    let proxy = proxy();
    let cache = cache_through(&proxy, &table);
    let config = config(soak_duration());
    let mut chaos = ProxyChaos::new(Arc::clone(&proxy));
    let report = soak::run(Arc::new(cache), &mut chaos, &config).await;
    eprintln!("postgres soak ({:?}):\n{report}", config.duration);
    eprintln!(
        "proxy: {} connections accepted, {} replies cut mid-way",
        proxy.accepted(),
        proxy.replies_cut()
    );
    report.assert_clean();
    // The soak must have exercised what it claims to.
    assert!(report.hits > 0, "no get ever hit: {report}");
    assert!(
        report.errors > 0,
        "no fault ever failed an operation: {report}"
    );
    assert!(proxy.replies_cut() > 0, "no reply was cut");
    assert_eq!(
        report.faults.len(),
        ProxyChaos::FAULTS.len(),
        "not every fault ran"
    );
}

/// The PostgreSQL cache with one bug: every fifth `set` is acknowledged
/// but never sent.
#[derive(Debug)]
struct DropsWrites {
    cache: PostgresCache,
    sets: AtomicU64,
}

#[async_trait]
impl DistributedCache for DropsWrites {
    async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.cache.get(key).await
    }

    async fn set(&self, key: &str, value: Bytes, options: &EntryOptions) -> Result<()> {
        if self.sets.fetch_add(1, Ordering::Relaxed) % 5 == 4 {
            return Ok(());
        }
        self.cache.set(key, value, options).await
    }

    async fn refresh(&self, key: &str) -> Result<()> {
        self.cache.refresh(key).await
    }

    async fn remove(&self, key: &str) -> Result<()> {
        self.cache.remove(key).await
    }

    fn capabilities(&self) -> Capabilities {
        self.cache.capabilities()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_soak_counts_dropped_writes_through_the_same_wiring() {
    let schema = Schema::new("soak_bites").await;
    let table = schema.create_table("cache").await;
    let proxy = proxy();
    let cache = DropsWrites {
        cache: cache_through(&proxy, &table),
        sets: AtomicU64::new(0),
    };
    let mut config = config(Duration::from_secs(2));
    config.max_ops_per_task = 2_000;
    let report = soak::run(Arc::new(cache), &mut NoChaos, &config).await;
    assert!(
        report.stale + report.lost > 0,
        "dropped writes went unseen: {report}"
    );
    assert_eq!(
        report.wrong_key + report.torn + report.phantom,
        0,
        "{report}"
    );
}
