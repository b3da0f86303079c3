//! Shared fixtures: the server's URL, a schema per test that drops itself,
//! and raw tokio-postgres connections.

use std::time::Duration;

use cache_postgres::{schema, PostgresCache, PostgresCacheBuilder, TableName};
use rand::Rng;
use tokio_postgres::{Client, NoTls};

/// The variable that may name another server.
pub const ENV: &str = "CACHE_TEST_POSTGRES";
/// The server every machine of this project runs.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn url() -> String {
    std::env::var(ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// `url()` with a query parameter added.
pub fn url_with(param: &str) -> String {
    let base = url();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}{param}")
}

pub fn unique(tag: &str) -> String {
    let n: u64 = rand::rng().random();
    format!("distcache_test_{tag}_{n:016x}")
}

/// A raw connection, as another program (a .NET app) would have.
pub async fn raw() -> Client {
    let (client, connection) = tokio_postgres::connect(&url(), NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach the test PostgreSQL server at {} ({e}); \
                 the server suite needs it (set {ENV} to use another)",
                cache_postgres::redact(&url())
            )
        });
    tokio::spawn(connection);
    client
}

/// A schema of this test's own, dropped with everything in it when the
/// value is dropped (after a failed assertion too).
pub struct Schema {
    pub name: String,
}

impl Schema {
    pub async fn new(tag: &str) -> Schema {
        let name = unique(tag);
        let client = raw().await;
        client
            .batch_execute(&format!("CREATE SCHEMA \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("creating schema {name}: {e}"));
        Schema { name }
    }

    pub fn table(&self, table: &str) -> TableName {
        TableName::new(&self.name, table).expect("a valid name")
    }

    /// A fresh cache table made with this crate's DDL.
    pub async fn create_table(&self, table: &str) -> TableName {
        let t = self.table(table);
        let outcome = schema::create_table(&url(), &t, &schema::TableOptions::default())
            .await
            .unwrap_or_else(|e| panic!("creating {t}: {e}"));
        assert_eq!(outcome, schema::CreateOutcome::Created);
        t
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.name.clone();
        // On a thread of its own: works inside and outside a runtime.
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                let client = raw().await;
                if let Err(e) = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .await
                {
                    eprintln!("cache-postgres tests: could not drop schema {name}: {e}");
                }
            });
        });
        let _ = dropper.join();
    }
}

/// A builder over `table` with test timeouts.
pub fn builder(table: &TableName) -> PostgresCacheBuilder {
    PostgresCache::builder()
        .connection_string(&url())
        .schema(table.schema())
        .table(table.table())
        .connect_timeout(Duration::from_secs(10))
        .command_timeout(Duration::from_secs(30))
}

pub fn cache(table: &TableName) -> PostgresCache {
    builder(table).build().expect("a valid test configuration")
}

/// The number of rows in `table`.
pub async fn row_count(client: &Client, table: &TableName) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {}", table.quoted()), &[])
        .await
        .expect("count")
        .get(0)
}
