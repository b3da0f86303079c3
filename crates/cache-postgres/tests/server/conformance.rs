//! The whole conformance kit, strict, against the real server: each
//! namespace is a table in the test's own schema; foreign data is rows no
//! working writer stores; the outage is a loopback proxy the kit can cut.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cache_abstractions::{DistributedCache, Error, Result};
use cache_postgres::{PostgresCache, TableName};
use cache_testkit::{async_trait, Harness, Outage};
use tokio::sync::Mutex;

use crate::common::{self, Schema};
use crate::proxy::Proxy;

pub struct PgHarness {
    schema: Schema,
    tables: Mutex<HashMap<String, TableName>>,
}

async fn harness() -> PgHarness {
    PgHarness {
        schema: Schema::new("kit").await,
        tables: Mutex::default(),
    }
}

const FOREIGN: &[&str] = &[
    "a row with a negative sliding expiration",
    "a row with a zero sliding expiration",
    "a row with a sliding expiration beyond any interval",
    "a row whose absolute expiration has passed but expiresattime has not",
];

impl PgHarness {
    async fn table_of(&self, namespace: &str) -> TableName {
        let mut tables = self.tables.lock().await;
        if let Some(t) = tables.get(namespace) {
            return t.clone();
        }
        let t = self
            .schema
            .create_table(&format!("ns{}", tables.len()))
            .await;
        tables.insert(namespace.to_owned(), t.clone());
        t
    }
}

#[async_trait]
impl Harness for PgHarness {
    async fn cache(&self, namespace: &str) -> Result<Arc<dyn DistributedCache>> {
        let table = self.table_of(namespace).await;
        Ok(Arc::new(common::cache(&table)))
    }

    fn foreign_data(&self) -> Vec<&'static str> {
        FOREIGN.to_vec()
    }

    async fn write_foreign(&self, namespace: &str, key: &str, variant: usize) -> Result<()> {
        let table = self
            .tables
            .lock()
            .await
            .get(namespace)
            .cloned()
            .ok_or_else(|| Error::config("no table for this namespace yet"))?;
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let (sliding, absolute): (Option<i64>, Option<SystemTime>) = match variant {
            0 => (Some(-60), None),
            1 => (Some(0), None),
            2 => (Some(i64::MAX), None),
            _ => (None, Some(now - hour)),
        };
        let client = common::raw().await;
        client
            .execute(
                &format!(
                    "INSERT INTO {} (id, value, expiresattime, slidingexpirationinseconds, absoluteexpiration) \
                     VALUES ($1, $2, $3, $4, $5)",
                    table.quoted()
                ),
                &[&key, &&b"foreign"[..], &(now + hour), &sliding, &absolute],
            )
            .await
            .map_err(|e| Error::config("writing foreign data").with_source(e))?;
        Ok(())
    }

    async fn outage(&self) -> Option<Box<dyn Outage>> {
        let table = self.schema.create_table("outage").await;
        let proxy = Proxy::start().await;
        let cache = PostgresCache::builder()
            .connection_string(&proxy.url())
            .schema(table.schema())
            .table(table.table())
            .connect_timeout(Duration::from_secs(5))
            .command_timeout(Duration::from_secs(5))
            .build()
            .expect("a valid configuration");
        Some(Box::new(ProxyOutage {
            cache: Arc::new(cache),
            proxy,
        }))
    }

    fn requires_every_rule(&self) -> bool {
        true
    }
}

struct ProxyOutage {
    cache: Arc<dyn DistributedCache>,
    proxy: Proxy,
}

#[async_trait]
impl Outage for ProxyOutage {
    fn cache(&self) -> Arc<dyn DistributedCache> {
        Arc::clone(&self.cache)
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(5)
    }

    async fn stop(&mut self) {
        self.proxy.stop();
    }

    async fn start(&mut self) {
        self.proxy.resume().await;
    }
}

cache_testkit::conformance_suite!(harness);
