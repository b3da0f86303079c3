//! Shared fixtures: the connection string, unique tables that drop
//! themselves, and raw tiberius connections.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_abstractions::support::dotnet::Ticks;
use cache_sqlserver::{schema, ConnectionString, SqlServerCache, TableName};

/// .NET ticks in a day.
const TICKS_PER_DAY: u64 = Ticks::PER_DAY.get() as u64;
use rand::Rng;
use tiberius::Client;
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

/// The variable that holds the connection string.
pub const ENV: &str = "CACHE_TEST_SQLSERVER";

/// The connection string. This suite is only built with the `server-tests`
/// feature, which asks for a server: without one every test fails (a
/// skipped server test must never count as a pass).
pub fn connection_string(test: &str) -> Option<String> {
    match std::env::var(ENV) {
        Ok(s) if !s.trim().is_empty() => Some(s),
        _ => panic!(
            "cache-sqlserver: {test}: the server suite was built (feature server-tests) \
             but {ENV} is not set; set it to a connection string, or build without the feature"
        ),
    }
}

/// A table name no other run uses.
pub fn unique_table(tag: &str) -> TableName {
    let suffix: u64 = rand::rng().random();
    let name = format!("distcache_test_{tag}_{suffix:016x}");
    TableName::new("dbo", &name).expect("a valid generated name")
}

/// Tables created for a test, dropped when it is dropped (after a failed
/// assertion too). Dropping runs on a thread of its own, so it works inside
/// and outside a runtime.
#[derive(Debug, Clone)]
pub struct Tables {
    cs: String,
    created: Arc<Mutex<Vec<TableName>>>,
}

impl Tables {
    pub fn new(cs: &str) -> Self {
        Tables {
            cs: cs.to_owned(),
            created: Arc::default(),
        }
    }

    /// Creates a fresh table and remembers it for dropping.
    pub async fn create(&self, tag: &str) -> TableName {
        let table = unique_table(tag);
        // Remember before creating: a half-made table is dropped as well.
        self.created.lock().unwrap().push(table.clone());
        let outcome = schema::create_table(&parse(&self.cs), &table)
            .await
            .unwrap_or_else(|e| panic!("creating {table}: {e}"));
        assert_eq!(outcome, schema::CreateOutcome::Created);
        table
    }

    /// Remembers a table made elsewhere (by the tool) for dropping.
    pub fn adopt(&self, table: &TableName) {
        self.created.lock().unwrap().push(table.clone());
    }
}

impl Drop for Tables {
    fn drop(&mut self) {
        // Only the last clone drops the tables.
        if Arc::strong_count(&self.created) > 1 {
            return;
        }
        let tables: Vec<TableName> =
            std::mem::take(&mut *self.created.lock().unwrap_or_else(|p| p.into_inner()));
        if tables.is_empty() {
            return;
        }
        let cs = self.cs.clone();
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                for t in tables {
                    if let Err(e) = schema::drop_table(&parse(&cs), &t).await {
                        eprintln!("cache-sqlserver tests: could not drop {t}: {e}");
                    }
                }
            });
        });
        let _ = dropper.join();
    }
}

/// The test server's connection string, parsed.
pub fn parse(cs: &str) -> ConnectionString {
    ConnectionString::parse(cs).expect("CACHE_TEST_SQLSERVER parses")
}

/// A cache over `table` with short timeouts for tests.
pub async fn cache_over(cs: &str, table: &TableName) -> SqlServerCache {
    SqlServerCache::builder()
        .connection_string(cs)
        .schema(table.schema())
        .table(table.table())
        .connect_timeout(Duration::from_secs(10))
        .command_timeout(Duration::from_secs(30))
        .build()
        .expect("a valid test configuration")
}

pub type Raw = Client<Compat<TcpStream>>;

/// A plain tiberius connection with the same settings, for writing and
/// reading rows the way other programs (.NET) do.
pub async fn raw(cs: &str) -> Raw {
    let config = ConnectionString::parse(cs)
        .expect("CACHE_TEST_SQLSERVER parses")
        .tiberius_config();
    let tcp = TcpStream::connect(config.get_addr())
        .await
        .expect("the test server is reachable");
    tcp.set_nodelay(true).ok();
    Client::connect(config, tcp.compat_write())
        .await
        .expect("the test server accepts the login")
}

/// A datetimeoffset(7) parameter at `t`, UTC.
pub fn dto(t: std::time::SystemTime) -> tiberius::ColumnData<'static> {
    let ticks = ticks(t);
    let days = (ticks / TICKS_PER_DAY) as u32;
    let time = tiberius::time::Time::new(ticks % TICKS_PER_DAY, 7);
    tiberius::ColumnData::DateTimeOffset(Some(tiberius::time::DateTimeOffset::new(
        tiberius::time::DateTime2::new(tiberius::time::Date::new(days), time),
        0,
    )))
}

/// Ticks (100 ns since 0001-01-01) of a datetimeoffset cell.
pub fn ticks_of(cell: &tiberius::ColumnData<'_>) -> Option<u64> {
    match cell {
        tiberius::ColumnData::DateTimeOffset(Some(d)) => {
            let dt = d.datetime2();
            let scale = dt.time().scale();
            Some(
                u64::from(dt.date().days()) * TICKS_PER_DAY
                    + dt.time().increments() * 10u64.pow(u32::from(7 - scale)),
            )
        }
        _ => None,
    }
}

/// .NET ticks of a `SystemTime`, truncated to 100 ns.
pub fn ticks(t: std::time::SystemTime) -> u64 {
    Ticks::from_instant(t).get() as u64
}

/// Runs `sql` with `params` and returns every row as cells.
pub async fn query(
    client: &mut Raw,
    sql: &str,
    params: &[tiberius::ColumnData<'_>],
) -> Vec<Vec<tiberius::ColumnData<'static>>> {
    let refs: Vec<&dyn tiberius::ToSql> =
        params.iter().map(|p| p as &dyn tiberius::ToSql).collect();
    let stream = client
        .query(sql, &refs)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    stream
        .into_results()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .flatten()
        .map(|row| row.into_iter().collect())
        .collect()
}
