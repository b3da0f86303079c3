//! The whole conformance kit against a real server: each namespace is a
//! table of its own; foreign data is rows no working cache writes; the
//! outage is a loopback proxy in front of the server that the kit can cut.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use cache_abstractions::{DistributedCache, Error, Result};
use cache_sqlserver::{SqlServerCache, TableName};
use cache_testkit::{async_trait, Harness, Outage};

use crate::common::{self, Tables};
use crate::proxy::Proxy;

pub struct SqlHarness {
    cs: String,
    tables: Tables,
    namespaces: Mutex<HashMap<String, TableName>>,
}

/// Builds the harness (fails the test when no server is configured: see
/// `common::connection_string`).
pub fn harness() -> Option<SqlHarness> {
    let cs = common::connection_string("a conformance case")?;
    Some(SqlHarness {
        tables: Tables::new(&cs),
        cs,
        namespaces: Mutex::default(),
    })
}

const FOREIGN: &[&str] = &[
    "a row with a negative sliding expiration",
    "a row with a zero sliding expiration",
    "a row with a sliding expiration beyond DATEADD's range",
    "a row whose absolute expiration has passed but ExpiresAtTime has not",
];

#[async_trait]
impl Harness for SqlHarness {
    async fn cache(&self, namespace: &str) -> Result<Arc<dyn DistributedCache>> {
        let existing = self.namespaces.lock().unwrap().get(namespace).cloned();
        let table = match existing {
            Some(t) => t,
            None => {
                let t = self.tables.create("kit").await;
                self.namespaces
                    .lock()
                    .unwrap()
                    .insert(namespace.to_owned(), t.clone());
                t
            }
        };
        Ok(Arc::new(common::cache_over(&self.cs, &table).await))
    }

    fn foreign_data(&self) -> Vec<&'static str> {
        FOREIGN.to_vec()
    }

    async fn write_foreign(&self, namespace: &str, key: &str, variant: usize) -> Result<()> {
        let table = self
            .namespaces
            .lock()
            .unwrap()
            .get(namespace)
            .cloned()
            .ok_or_else(|| Error::config("no table for this namespace yet"))?;
        let now = SystemTime::now();
        let hour = Duration::from_secs(3600);
        let (expires, sliding, absolute) = match variant {
            0 => (now + hour, Some(-60i64), None),
            1 => (now + hour, Some(0), None),
            2 => (now + hour, Some(i64::MAX), None),
            _ => (now + hour, None, Some(now - hour)),
        };
        let mut raw = common::raw(&self.cs).await;
        let sql = format!(
            "INSERT INTO {} (Id, Value, ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration) VALUES (@P1, @P2, @P3, @P4, @P5)",
            table.quoted()
        );
        let params = [
            tiberius::ColumnData::String(Some(key.to_owned().into())),
            tiberius::ColumnData::Binary(Some(b"foreign".to_vec().into())),
            common::dto(expires),
            tiberius::ColumnData::I64(sliding),
            absolute.map_or(tiberius::ColumnData::DateTimeOffset(None), common::dto),
        ];
        common::query(&mut raw, &sql, &params).await;
        Ok(())
    }

    async fn outage(&self) -> Option<Box<dyn Outage>> {
        let table = self.tables.create("outage").await;
        let proxy = Proxy::start(&self.cs).await;
        let cache = SqlServerCache::builder()
            .connection(proxy.connection())
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
        Duration::from_secs(10)
    }

    async fn stop(&mut self) {
        self.proxy.stop();
    }

    async fn start(&mut self) {
        self.proxy.resume().await;
    }
}

// `make` is an expression evaluated inside each generated test.
cache_testkit::conformance_suite!({
    let Some(h) = harness() else { return };
    move || async move { h }
});
