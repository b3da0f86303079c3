//! The PostgreSQL backend beside raw tokio-postgres running the same
//! statements (`cache_postgres::schema::operation_sql`, prepared once) on
//! one connection each (the cache's pool holds one): the difference is the
//! crate's own cost (pool checkout, validation, timeouts, decoding,
//! `async_trait` boxing). Both sides talk plain TCP (`sslmode=disable`).
//!
//! Uses the server at `CACHE_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`, the machine's own); it makes a
//! uniquely named schema and drops it afterwards.
//!
//! `cargo bench -p cache-benches --bench postgres`. Each operation is one
//! round trip on both sides; the figures are in docs/performance.md
//! (`cargo xtask bench`, which sets `DISTCACHE_BENCH_RESULTS` so the paired
//! figures land in its results folder as JSON).

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cache_abstractions::{DistributedCache, EntryOptions};
use cache_postgres::{schema, PostgresCache, TableName};
use criterion::{criterion_group, criterion_main, Criterion};
use tokio::runtime::Runtime;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Statement};

const ENV: &str = "CACHE_TEST_POSTGRES";
const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const KEYS: usize = 256;
/// When set (by `cargo xtask bench`), the folder the paired figures are
/// written to as `postgres-paired.json`.
const RESULTS_ENV: &str = "DISTCACHE_BENCH_RESULTS";

struct Fixture {
    rt: Runtime,
    raw: Client,
    schema: String,
    cache: PostgresCache,
    sliding: Vec<String>,
    absolute: Vec<String>,
    value: Bytes,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
        if let Err(e) = self.rt.block_on(self.raw.batch_execute(&sql)) {
            eprintln!("postgres bench: could not drop schema {}: {e}", self.schema);
        }
    }
}

fn fixture() -> Fixture {
    let url = std::env::var(ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let raw = rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, NoTls)
            .await
            .unwrap_or_else(|e| panic!("postgres bench: cannot reach the server ({e})"));
        tokio::spawn(connection);
        client
    });
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let schema_name = format!("distcache_bench_{nanos:x}");
    rt.block_on(raw.batch_execute(&format!("CREATE SCHEMA \"{schema_name}\"")))
        .expect("create the bench schema");
    let table = TableName::new(&schema_name, "cache").expect("a valid name");
    rt.block_on(schema::create_table(
        &url,
        &table,
        &schema::TableOptions::default(),
    ))
    .expect("create the bench table");
    // The raw client has no TLS (NoTls); the cache's default `prefer` would
    // encrypt, so it is turned off here to compare the same wire traffic.
    let sep = if url.contains('?') { '&' } else { '?' };
    let cache = PostgresCache::builder()
        .connection_string(&format!("{url}{sep}sslmode=disable"))
        .schema(&schema_name)
        .table("cache")
        .pool_size(1)
        .background_sweep(false)
        .build()
        .expect("a cache");
    let value = Bytes::from(vec![7u8; 1024]);
    let sliding: Vec<String> = (0..KEYS).map(|i| format!("bench:s:{i:05}")).collect();
    let absolute: Vec<String> = (0..KEYS).map(|i| format!("bench:a:{i:05}")).collect();
    let slide = EntryOptions::new().sliding(Duration::from_secs(3600));
    let fixed = EntryOptions::new().expires_in(Duration::from_secs(3600));
    for (keys, options) in [(&sliding, &slide), (&absolute, &fixed)] {
        for k in keys {
            rt.block_on(cache.set(k, value.clone(), options))
                .expect("populate");
        }
    }
    Fixture {
        rt,
        raw,
        schema: schema_name,
        cache,
        sliding,
        absolute,
        value,
    }
}

fn postgres(c: &mut Criterion) {
    let f = fixture();
    let table = TableName::new(&f.schema, "cache").expect("a valid name");
    let sql = schema::operation_sql(&table);
    let prepare = |text: &str, types: &[Type]| -> Statement {
        f.rt.block_on(f.raw.prepare_typed(text, types))
            .expect("prepare")
    };
    let get = prepare(&sql.get, &[Type::VARCHAR, Type::TIMESTAMPTZ]);
    let set = prepare(
        &sql.set,
        &[
            Type::VARCHAR,
            Type::BYTEA,
            Type::TIMESTAMPTZ,
            Type::INT8,
            Type::TIMESTAMPTZ,
        ],
    );
    let mut i = 0;

    for (name, keys) in [
        ("postgres_get_sliding_1KiB", &f.sliding),
        ("postgres_get_absolute_1KiB", &f.absolute),
    ] {
        let mut g = c.benchmark_group(name);
        g.bench_function("cache", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                f.rt.block_on(f.cache.get(black_box(&keys[i])))
                    .expect("get")
                    .expect("a hit")
            })
        });
        g.bench_function("raw_tokio_postgres", |b| {
            b.iter(|| {
                i = (i + 1) % KEYS;
                let rows =
                    f.rt.block_on(f.raw.query(&get, &[&keys[i].as_str(), &SystemTime::now()]))
                        .expect("get");
                let value: Vec<u8> = rows[0].get(0);
                value
            })
        });
        g.finish();
    }

    let options = EntryOptions::new().sliding(Duration::from_secs(3600));
    let mut g = c.benchmark_group("postgres_set_1KiB");
    g.bench_function("cache", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            f.rt.block_on(
                f.cache
                    .set(black_box(&f.sliding[i]), f.value.clone(), &options),
            )
            .expect("set")
        })
    });
    g.bench_function("raw_tokio_postgres", |b| {
        b.iter(|| {
            i = (i + 1) % KEYS;
            let now = SystemTime::now();
            let expires = now + Duration::from_secs(3600);
            let absolute: Option<SystemTime> = None;
            f.rt.block_on(f.raw.execute(
                &set,
                &[
                    &f.sliding[i].as_str(),
                    &f.value.as_ref(),
                    &expires,
                    &Some(3600i64),
                    &absolute,
                ],
            ))
            .expect("set")
        })
    });
    g.finish();
}

/// Rounds of the paired comparison (each runs the cache's and the raw
/// operation once, in alternating order).
const PAIRED_ROUNDS: usize = 1500;

/// The same operations, cache and raw alternating one by one, so a busy
/// machine slows both alike: the ratio of the totals is the crate's cost
/// even when criterion's separate time windows see different loads.
fn paired(_: &mut Criterion) {
    let f = fixture();
    let table = TableName::new(&f.schema, "cache").expect("a valid name");
    let sql = schema::operation_sql(&table);
    let get =
        f.rt.block_on(
            f.raw
                .prepare_typed(&sql.get, &[Type::VARCHAR, Type::TIMESTAMPTZ]),
        )
        .expect("prepare");
    let mut record = Vec::new();
    for (name, keys) in [("get_sliding", &f.sliding), ("get_absolute", &f.absolute)] {
        let (mut cache, mut raw) = (Duration::ZERO, Duration::ZERO);
        for round in 0..PAIRED_ROUNDS {
            let key = keys[round % KEYS].as_str();
            let cache_op = || {
                let t = std::time::Instant::now();
                f.rt.block_on(f.cache.get(key))
                    .expect("get")
                    .expect("a hit");
                t.elapsed()
            };
            let raw_op = || {
                let t = std::time::Instant::now();
                let rows =
                    f.rt.block_on(f.raw.query(&get, &[&key, &SystemTime::now()]))
                        .expect("get");
                black_box(rows[0].get::<_, Vec<u8>>(0));
                t.elapsed()
            };
            if round % 2 == 0 {
                cache += cache_op();
                raw += raw_op();
            } else {
                raw += raw_op();
                cache += cache_op();
            }
        }
        let per = |d: Duration| d.as_secs_f64() * 1e6 / PAIRED_ROUNDS as f64;
        println!(
            "paired postgres_{name}_1KiB: cache {:.1} µs, raw tokio-postgres {:.1} µs, cache throughput {:.2}x raw",
            per(cache),
            per(raw),
            raw.as_secs_f64() / cache.as_secs_f64()
        );
        record.push(serde_json::json!({
            "op": name,
            "cache_us": per(cache),
            "raw_us": per(raw),
        }));
    }
    // For the report: `cargo xtask bench` names its results folder here.
    if let Some(dir) = std::env::var_os(RESULTS_ENV) {
        let version: String =
            f.rt.block_on(f.raw.query_one("SHOW server_version", &[]))
                .map(|row| row.get(0))
                .unwrap_or_else(|e| format!("unknown ({e})"));
        let json = serde_json::json!({
            "server_version": version,
            "rounds": PAIRED_ROUNDS,
            "pool_size": 1,
            "value_size": 1024,
            "ops": record,
        });
        let path = std::path::Path::new(&dir).join("postgres-paired.json");
        if let Err(e) = std::fs::write(&path, json.to_string()) {
            eprintln!("postgres bench: cannot write {}: {e}", path.display());
        }
    }
}

criterion_group! {
    name = benches;
    // Short and bounded: the machine is shared.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = postgres, paired
}
criterion_main!(benches);
