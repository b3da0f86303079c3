//! Sharing a table with ASP.NET Core: .NET's statements (its
//! `SqlQueries.cs`, text unchanged) run here as Npgsql sends them: each
//! `;`-separated statement on its own, its `@name` parameters bound by
//! position with Npgsql's types. Rows .NET writes read right here, and rows
//! written here read right with .NET's statements.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use cache_abstractions::{Clock, DistributedCache, EntryOptions, ManualClock};
use cache_postgres::{PostgresCache, TableName};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use crate::common::{self, Schema};

// .NET's statements, verbatim; {0} is `schema.table`, unquoted as .NET pastes it.
const DOTNET_UPDATE: &str = "
        UPDATE {0}
        SET expiresAtTime = CASE WHEN EXTRACT(SECOND FROM AGE(absoluteExpiration, @utcNow)) <= slidingExpirationInSeconds THEN absoluteExpiration
        ELSE @utcNow + INTERVAL '1 second' * slidingExpirationInSeconds
        END
        WHERE id = @id
        AND expiresAtTime >= @utcNow
        AND slidingExpirationInSeconds IS NOT NULL
        AND (absoluteExpiration IS NULL OR absoluteExpiration <> expiresAtTime);
";
const DOTNET_SELECT: &str = "SELECT value FROM {0} WHERE id = @id AND expiresAtTime >= @utcNow;";
const DOTNET_SET: &str = "
        WITH _PARAMS (slidingExpirationInSeconds, absoluteExpiration, utcNow) AS
        ( VALUES (@slidingExpirationInSeconds, @absoluteExpiration::timestamp, @utcNow::timestamp) )
        INSERT INTO {0} (id, value, expiresAtTime, slidingExpirationInSeconds, absoluteExpiration)
        SELECT @id, @value, CASE
            WHEN slidingExpirationInSeconds IS NULL THEN absoluteExpiration::timestamp
            ELSE utcNow + INTERVAL '1 second' * slidingExpirationInSeconds::bigint
        END, slidingExpirationInSeconds::bigint, absoluteExpiration FROM _PARAMS
        ON CONFLICT (id) DO UPDATE
        SET value = EXCLUDED.value,
        expiresAtTime = EXCLUDED.expiresAtTime,
        slidingExpirationInSeconds = EXCLUDED.slidingExpirationInSeconds,
        absoluteExpiration = EXCLUDED.absoluteExpiration;
";
const DOTNET_DELETE_EXPIRED: &str = "DELETE FROM {0} WHERE expiresAtTime < @utcNow";
const DOTNET_CREATE: &str = "CREATE SCHEMA IF NOT EXISTS {schema};
        CREATE UNLOGGED TABLE IF NOT EXISTS {0} (
            id VARCHAR(449) COLLATE \"C\" PRIMARY KEY,
            value BYTEA NOT NULL,
            expiresattime TIMESTAMPTZ NOT NULL,
            slidingexpirationinseconds BIGINT NULL,
            absoluteexpiration TIMESTAMPTZ NULL
        )
 ;CREATE INDEX IF NOT EXISTS ix_expiresattime ON {0} (expiresattime) WITH (deduplicate_items=True)";

/// A column as information_schema describes it: name, type, length,
/// nullable, collation.
type Column = (String, String, Option<i32>, String, Option<String>);

/// The parameters of one .NET command, by name, with Npgsql's types.
struct Params<'a> {
    id: &'a str,
    value: Vec<u8>,
    sliding: Option<i64>,
    absolute: Option<SystemTime>,
    now: SystemTime,
}

impl Params<'_> {
    fn get(&self, name: &str) -> (&(dyn ToSql + Sync), Type) {
        match name {
            "id" => (&self.id, Type::VARCHAR),
            "value" => (&self.value, Type::BYTEA),
            "slidingExpirationInSeconds" => (&self.sliding, Type::INT8),
            "absoluteExpiration" => (&self.absolute, Type::TIMESTAMPTZ),
            "utcNow" => (&self.now, Type::TIMESTAMPTZ),
            other => panic!("no .NET parameter @{other}"),
        }
    }
}

/// Runs a .NET command as Npgsql does: statement by statement, `@name`
/// rewritten to `$n`. Returns the rows of the last statement.
async fn dotnet(client: &Client, template: &str, table: &TableName, p: &Params<'_>) -> Vec<Row> {
    let sql = template.replace("{0}", &format!("{}.{}", table.schema(), table.table()));
    let mut rows = Vec::new();
    for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
        let mut names: Vec<String> = Vec::new();
        let mut text = String::new();
        let mut chars = statement.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '@' {
                text.push(c);
                continue;
            }
            let mut name = String::new();
            while let Some(&n) = chars.peek() {
                if !n.is_ascii_alphanumeric() {
                    break;
                }
                name.push(n);
                chars.next();
            }
            let index = names.iter().position(|n| *n == name).unwrap_or_else(|| {
                names.push(name.clone());
                names.len() - 1
            });
            text.push_str(&format!("${}", index + 1));
        }
        let (values, types): (Vec<_>, Vec<_>) = names.iter().map(|n| p.get(n)).unzip();
        let st = client
            .prepare_typed(&text, &types)
            .await
            .unwrap_or_else(|e| panic!("{text}: {e}"));
        rows = client
            .query(&st, &values)
            .await
            .unwrap_or_else(|e| panic!("{text}: {e}"));
    }
    rows
}

fn params(id: &str, now: SystemTime) -> Params<'_> {
    Params {
        id,
        value: Vec::new(),
        sliding: None,
        absolute: None,
        now,
    }
}

/// .NET's `SetCacheItem` (options already resolved, as .NET does).
async fn dotnet_set(
    client: &Client,
    t: &TableName,
    key: &str,
    value: &[u8],
    now: SystemTime,
    sliding: Option<i64>,
    absolute: Option<SystemTime>,
) {
    let p = Params {
        value: value.to_vec(),
        sliding,
        absolute,
        ..params(key, now)
    };
    dotnet(client, DOTNET_SET, t, &p).await;
}

/// .NET's `GetCacheItem`: the sliding update, then the select.
async fn dotnet_get(client: &Client, t: &TableName, key: &str, now: SystemTime) -> Option<Vec<u8>> {
    let template = format!("{DOTNET_UPDATE}{DOTNET_SELECT}");
    let rows = dotnet(client, &template, t, &params(key, now)).await;
    rows.first().map(|r| r.get(0))
}

/// The row's expiry columns: (expiresattime, sliding, absolute).
async fn stored(
    client: &Client,
    t: &TableName,
    key: &str,
) -> Option<(SystemTime, Option<i64>, Option<SystemTime>)> {
    client
        .query_opt(
            &format!(
                "SELECT expiresattime, slidingexpirationinseconds, absoluteexpiration FROM {} WHERE id = $1",
                t.quoted()
            ),
            &[&key],
        )
        .await
        .unwrap()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
}

/// A table made by .NET's own DDL, and a Rust cache on it reading `clock`.
async fn dotnet_table(schema: &Schema, clock: &ManualClock) -> (TableName, PostgresCache) {
    let t = schema.table("dotnetcache");
    let client = common::raw().await;
    let ddl = DOTNET_CREATE
        .replace("{schema}", t.schema())
        .replace("{0}", &format!("{}.{}", t.schema(), t.table()));
    client.batch_execute(&ddl).await.unwrap();
    let cache = common::builder(&t)
        .clock(Arc::new(clock.clone()))
        .background_sweep(false)
        .build()
        .unwrap();
    (t, cache)
}

/// Instants as PostgreSQL stores them (microseconds).
fn micros(t: SystemTime) -> SystemTime {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap();
    SystemTime::UNIX_EPOCH + Duration::from_micros(d.as_micros() as u64)
}

#[tokio::test]
async fn this_crates_table_has_the_columns_dotnet_makes() {
    let schema = Schema::new("interop_ddl").await;
    let clock = ManualClock::starting_now();
    let (theirs, _) = dotnet_table(&schema, &clock).await;
    let ours = schema.create_table("ourcache").await;
    let client = common::raw().await;
    let describe = |t: &TableName| {
        let client = &client;
        let t = t.clone();
        async move {
            let cols: Vec<Column> = client
                .query(
                    "SELECT column_name::text, data_type::text, character_maximum_length, is_nullable::text, \
                     collation_name::text FROM information_schema.columns \
                     WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                    &[&t.schema(), &t.table()],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                .collect();
            let persistence: i8 = client
                .query_one(
                    "SELECT relpersistence FROM pg_class WHERE oid = $1::text::regclass",
                    &[&t.quoted()],
                )
                .await
                .unwrap()
                .get(0);
            (cols, persistence)
        }
    };
    let (a, b) = (describe(&theirs).await, describe(&ours).await);
    assert_eq!(a.0.len(), 5);
    assert_eq!(
        a, b,
        "same columns, types, nullability, collation, persistence"
    );
    assert_eq!(a.1, b'u' as i8, "unlogged, as .NET makes it");
}

#[tokio::test]
async fn rows_dotnet_writes_read_right_here() {
    let schema = Schema::new("interop_in").await;
    let clock = ManualClock::starting_now();
    let (t, cache) = dotnet_table(&schema, &clock).await;
    let client = common::raw().await;
    let now = clock.now();
    let all_bytes: Vec<u8> = (0..=255).collect();
    dotnet_set(&client, &t, "sliding", &all_bytes, now, Some(60), None).await;
    dotnet_set(
        &client,
        &t,
        "absolute",
        b"abs",
        now,
        None,
        Some(now + Duration::from_secs(30)),
    )
    .await;
    // .NET writes expiresAtTime = now + 60 s, past the absolute expiration.
    dotnet_set(
        &client,
        &t,
        "both",
        b"both",
        now,
        Some(60),
        Some(now + Duration::from_secs(5)),
    )
    .await;
    assert_eq!(
        stored(&client, &t, "both").await.unwrap().0,
        micros(now + Duration::from_secs(60)),
        ".NET's uncapped expiry"
    );

    clock.advance(Duration::from_secs(3));
    assert_eq!(
        cache.get("sliding").await.unwrap().as_deref(),
        Some(&all_bytes[..])
    );
    assert_eq!(
        cache.get("absolute").await.unwrap().as_deref(),
        Some(&b"abs"[..])
    );
    assert_eq!(
        cache.get("both").await.unwrap().as_deref(),
        Some(&b"both"[..])
    );
    // The read restarted the window: now + 60 s.
    let (expires, sliding, absolute) = stored(&client, &t, "sliding").await.unwrap();
    assert_eq!(
        (expires, sliding, absolute),
        (
            micros(clock.now() + Duration::from_secs(60)),
            Some(60),
            None
        )
    );
    // ... and capped the other at its absolute expiration.
    assert_eq!(
        stored(&client, &t, "both").await.unwrap().0,
        micros(now + Duration::from_secs(5))
    );

    // Past the absolute expiration: gone here, though .NET's expiry had not passed.
    clock.advance(Duration::from_secs(7));
    assert_eq!(cache.get("both").await.unwrap(), None);
    let info = cache.inspect("sliding").await.unwrap().unwrap();
    assert_eq!(
        (info.size, info.sliding_expiration),
        (256, Some(Duration::from_secs(60)))
    );
}

#[tokio::test]
async fn rows_written_here_read_right_with_dotnets_statements() {
    let schema = Schema::new("interop_out").await;
    let clock = ManualClock::starting_now();
    let (t, cache) = dotnet_table(&schema, &clock).await;
    let client = common::raw().await;
    let now = clock.now();
    cache
        .set(
            "sliding",
            "s".into(),
            &EntryOptions::new().sliding(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    cache
        .set(
            "absolute",
            "a".into(),
            &EntryOptions::new().expires_in(Duration::from_secs(30)),
        )
        .await
        .unwrap();
    cache
        .set("empty", "".into(), &EntryOptions::new())
        .await
        .unwrap();
    cache
        .set(
            "both",
            "b".into(),
            &EntryOptions::new()
                .sliding(Duration::from_secs(60))
                .expires_in(Duration::from_secs(5)),
        )
        .await
        .unwrap();

    // The columns .NET itself would have written (its uncapped case aside).
    assert_eq!(
        stored(&client, &t, "sliding").await.unwrap(),
        (micros(now + Duration::from_secs(60)), Some(60), None)
    );
    assert_eq!(
        stored(&client, &t, "empty").await.unwrap(),
        (
            micros(now + Duration::from_secs(20 * 60)),
            Some(20 * 60),
            None
        ),
        "empty options: .NET's 20-minute default window"
    );
    assert_eq!(
        stored(&client, &t, "both").await.unwrap(),
        (
            micros(now + Duration::from_secs(5)),
            Some(60),
            Some(micros(now + Duration::from_secs(5)))
        )
    );

    let later = now + Duration::from_secs(10);
    assert_eq!(
        dotnet_get(&client, &t, "sliding", later).await.as_deref(),
        Some(&b"s"[..])
    );
    assert_eq!(
        dotnet_get(&client, &t, "absolute", later).await.as_deref(),
        Some(&b"a"[..])
    );
    assert_eq!(
        dotnet_get(&client, &t, "empty", later).await.as_deref(),
        Some(&b""[..])
    );
    assert_eq!(
        dotnet_get(&client, &t, "both", later).await,
        None,
        "expired for .NET too"
    );
    // .NET's read slid the window; this crate reads the row it left.
    assert_eq!(
        stored(&client, &t, "sliding").await.unwrap().0,
        micros(later + Duration::from_secs(60))
    );
    clock.advance(Duration::from_secs(65));
    assert_eq!(
        cache.get("sliding").await.unwrap().as_deref(),
        Some(&b"s"[..])
    );

    // .NET's sweep deletes what expired here, and only that.
    let sweep_at = now + Duration::from_secs(40);
    dotnet(&client, DOTNET_DELETE_EXPIRED, &t, &params("", sweep_at)).await;
    let left: Vec<String> = client
        .query(&format!("SELECT id FROM {} ORDER BY id", t.quoted()), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, ["empty", "sliding"]);
}

#[tokio::test]
async fn dotnets_seconds_field_comparison_is_not_repeated_here() {
    // .NET compares EXTRACT(SECOND FROM AGE(absolute, now)), only the seconds
    // field: with 2 h 0 min 10 s left and a 20 s window it sees 10 <= 20 and
    // sets expiresAtTime to the absolute expiration, 2 hours away, so an
    // idle entry with a 20 s window lives for 2 hours.
    let schema = Schema::new("interop_age").await;
    let clock = ManualClock::starting_now();
    let (t, cache) = dotnet_table(&schema, &clock).await;
    let client = common::raw().await;
    let now = clock.now();
    let absolute = now + Duration::from_secs(2 * 3600 + 10);
    for key in ["rust", "dotnet"] {
        dotnet_set(&client, &t, key, b"v", now, Some(20), Some(absolute)).await;
    }
    assert_eq!(
        dotnet_get(&client, &t, "dotnet", now).await.as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(
        stored(&client, &t, "dotnet").await.unwrap().0,
        micros(absolute),
        ".NET's read pushed the expiry 2 h out"
    );
    assert_eq!(cache.get("rust").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert_eq!(
        stored(&client, &t, "rust").await.unwrap().0,
        micros(now + Duration::from_secs(20)),
        "here the window restarts: now + 20 s"
    );
}
