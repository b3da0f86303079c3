//! The SQL Server backend beside raw tiberius running the same statements
//! on one dedicated connection: the difference is the crate's own cost
//! (pool checkout, validation, decoding, `async_trait` boxing).
//!
//! Runs only when `CACHE_TEST_SQLSERVER` holds a connection string; it
//! creates a uniquely named table and drops it afterwards. Without the
//! variable it prints why and measures nothing.
//!
//! `cargo bench -p cache-benches --bench sqlserver`. Each operation is one
//! round trip on both sides; see docs/backends/sqlserver.md.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cache_abstractions::support::dotnet::Ticks;
use cache_abstractions::{DistributedCache, EntryOptions};
use cache_sqlserver::{schema, ConnectionString, SqlServerCache, TableName};
use criterion::{criterion_group, criterion_main, Criterion};
use tiberius::{Client, ColumnData, ToSql};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

const ENV: &str = "CACHE_TEST_SQLSERVER";
const KEYS: usize = 256;

type Raw = Client<Compat<TcpStream>>;

struct Fixture {
    rt: Runtime,
    cs: String,
    table: TableName,
    cache: SqlServerCache,
    raw: Raw,
    keys: Vec<String>,
    value: Bytes,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let Ok(cs) = ConnectionString::parse(&self.cs) else {
            return;
        };
        let table = self.table.clone();
        if let Err(e) = self.rt.block_on(schema::drop_table(&cs, &table)) {
            eprintln!("sqlserver bench: could not drop {table}: {e}");
        }
    }
}

fn fixture() -> Option<Fixture> {
    let Ok(cs) = std::env::var(ENV) else {
        eprintln!("sqlserver bench: SKIPPED: {ENV} is not set (no SQL Server to measure)");
        return None;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let table = TableName::new("dbo", &format!("distcache_bench_{nanos:x}")).expect("a valid name");
    let connection = ConnectionString::parse(&cs).expect("the connection string parses");
    rt.block_on(schema::create_table(&connection, &table))
        .expect("create the bench table");
    let cache = SqlServerCache::builder()
        .connection(connection)
        .schema(table.schema())
        .table(table.table())
        .pool_size(1)
        .background_cleanup(false)
        .build()
        .expect("a cache");
    let raw = rt.block_on(raw_client(&cs));
    let keys: Vec<String> = (0..KEYS).map(|i| format!("bench:{i:05}")).collect();
    let value = Bytes::from(vec![7u8; 1024]);
    let options = EntryOptions::new().sliding(Duration::from_secs(3600));
    for k in &keys {
        rt.block_on(cache.set(k, value.clone(), &options))
            .expect("populate");
    }
    Some(Fixture {
        rt,
        cs,
        table,
        cache,
        raw,
        keys,
        value,
    })
}

async fn raw_client(cs: &str) -> Raw {
    let config = ConnectionString::parse(cs)
        .expect("parses")
        .tiberius_config();
    let tcp = TcpStream::connect(config.get_addr())
        .await
        .expect("reachable");
    tcp.set_nodelay(true).ok();
    Client::connect(config, tcp.compat_write())
        .await
        .expect("login")
}

fn now() -> ColumnData<'static> {
    at(Duration::ZERO)
}

/// `now + after` as a datetimeoffset(7) parameter, UTC.
fn at(after: Duration) -> ColumnData<'static> {
    const TICKS_PER_DAY: u64 = Ticks::PER_DAY.get() as u64;
    let ticks = Ticks::from_instant(SystemTime::now() + after).get() as u64;
    ColumnData::DateTimeOffset(Some(tiberius::time::DateTimeOffset::new(
        tiberius::time::DateTime2::new(
            tiberius::time::Date::new((ticks / TICKS_PER_DAY) as u32),
            tiberius::time::Time::new(ticks % TICKS_PER_DAY, 7),
        ),
        0,
    )))
}

/// The statements the crate sends (its `statements` module), for the
/// baseline: `@P1` the key, `@P2` its escaped Id, then the values.
const MATCHED: &str =
    "Id IN (@Id, @EscId) AND (CAST(Id AS varbinary(898)) = CAST(@Id AS varbinary(898)) \
                       OR CAST(Id AS varbinary(898)) = CAST(@EscId AS varbinary(898)))";

fn slide(t: &str) -> String {
    format!(
        "SET NOCOUNT ON;\nDECLARE @Id nvarchar(449) = @P1, @EscId nvarchar(449) = @P2, @UtcNow datetimeoffset = @P3;\n\
         UPDATE {t} SET ExpiresAtTime = CASE WHEN AbsoluteExpiration <= DATEADD(SECOND, SlidingExpirationInSeconds, @UtcNow) \
         THEN AbsoluteExpiration ELSE DATEADD(SECOND, SlidingExpirationInSeconds, @UtcNow) END \
         WHERE {MATCHED} AND @UtcNow <= ExpiresAtTime \
         AND SlidingExpirationInSeconds BETWEEN 1 AND 2147483647 \
         AND (AbsoluteExpiration IS NULL OR AbsoluteExpiration <> ExpiresAtTime);"
    )
}

fn get_sql(t: &str) -> String {
    format!(
        "{}\nSELECT Value, ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration FROM {t} \
         WHERE {MATCHED} AND @UtcNow <= ExpiresAtTime \
         AND (AbsoluteExpiration IS NULL OR @UtcNow <= AbsoluteExpiration);",
        slide(t)
    )
}

fn set_sql(t: &str) -> String {
    let columns = "(Id, Value, ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration)";
    let values = "@P3, @ExpiresAtTime, @SlidingExpirationInSeconds, @AbsoluteExpiration";
    format!(
        "SET NOCOUNT ON;\nDECLARE @Id nvarchar(449) = @P1, @EscId nvarchar(449) = @P2, @ExpiresAtTime datetimeoffset = @P4, \
         @SlidingExpirationInSeconds bigint = @P5, @AbsoluteExpiration datetimeoffset = @P6;\n\
         UPDATE {t} SET Value = @P3, ExpiresAtTime = @ExpiresAtTime, SlidingExpirationInSeconds = @SlidingExpirationInSeconds, \
         AbsoluteExpiration = @AbsoluteExpiration WHERE {MATCHED};\n\
         IF (@@ROWCOUNT = 0)\nBEGIN\n\
         IF EXISTS (SELECT 1 FROM {t} WHERE Id = @Id AND CAST(Id AS varbinary(898)) <> CAST(@Id AS varbinary(898)))\n\
         BEGIN\nINSERT INTO {t} {columns} VALUES (@EscId, {values});\nEND\n\
         ELSE\nBEGIN\nINSERT INTO {t} {columns} VALUES (@Id, {values});\nEND\nEND"
    )
}

/// The escaped Id the crate binds as `@P2` for the bench's keys (ASCII
/// letters, digits and `:` are kept as they are).
fn escaped(key: &str) -> String {
    format!("~~escaped~~{key}")
}

/// The parameters of the get and refresh statements: the key under its
/// own Id and its escaped Id, and now.
fn key_params(key: &str) -> [ColumnData<'static>; 3] {
    [
        ColumnData::String(Some(key.to_owned().into())),
        ColumnData::String(Some(escaped(key).into())),
        now(),
    ]
}

async fn raw_rows(raw: &mut Raw, sql: &str, params: &[ColumnData<'_>]) -> usize {
    let refs: Vec<&dyn ToSql> = params.iter().map(|p| p as &dyn ToSql).collect();
    let stream = raw.query(sql, &refs).await.expect("query");
    stream
        .into_results()
        .await
        .expect("results")
        .iter()
        .map(Vec::len)
        .sum()
}

fn sqlserver(c: &mut Criterion) {
    let Some(mut f) = fixture() else {
        return;
    };
    let t = f.table.quoted();
    let (get, refresh, set) = (get_sql(&t), slide(&t), set_sql(&t));
    let options = EntryOptions::new().sliding(Duration::from_secs(3600));

    let mut g = c.benchmark_group("sqlserver_get_hit_1KiB");
    let mut i = 0;
    g.bench_function("cache", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            f.rt.block_on(f.cache.get(black_box(&f.keys[i])))
                .expect("get")
        })
    });
    g.bench_function("raw_tiberius", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            let params = key_params(&f.keys[i]);
            f.rt.block_on(raw_rows(&mut f.raw, &get, &params))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("sqlserver_refresh");
    g.bench_function("cache", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            f.rt.block_on(f.cache.refresh(black_box(&f.keys[i])))
                .expect("refresh")
        })
    });
    g.bench_function("raw_tiberius", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            let params = key_params(&f.keys[i]);
            f.rt.block_on(raw_rows(&mut f.raw, &refresh, &params))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("sqlserver_set_1KiB");
    g.bench_function("cache", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            f.rt.block_on(
                f.cache
                    .set(black_box(&f.keys[i]), f.value.clone(), &options),
            )
            .expect("set")
        })
    });
    g.bench_function("raw_tiberius", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            let expires = at(Duration::from_secs(3600));
            let params = [
                ColumnData::String(Some(f.keys[i].as_str().into())),
                ColumnData::String(Some(escaped(&f.keys[i]).into())),
                ColumnData::Binary(Some(f.value.as_ref().into())),
                expires,
                ColumnData::I64(Some(3600)),
                ColumnData::DateTimeOffset(None),
            ];
            f.rt.block_on(raw_rows(&mut f.raw, &set, &params))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = sqlserver
}
criterion_main!(benches);
