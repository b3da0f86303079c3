//! Sharing a table with ASP.NET Core: rows written with .NET's exact
//! statements read right here, and rows written here carry the values .NET
//! writes and read right with .NET's statements.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cache_abstractions::{DistributedCache, EntryOptions, ManualClock};
use cache_sqlserver::{SqlServerCache, TableName};
use tiberius::ColumnData;

use crate::common::{self, Raw, Tables};

/// .NET's `SetCacheItem` (Microsoft.Extensions.Caching.SqlServer,
/// SqlQueries.cs), with its named parameters bound from `@P1..@P5`.
fn dotnet_set(t: &TableName) -> String {
    format!(
        "DECLARE @Id nvarchar(449) = @P1, @Value varbinary(max) = @P2, @UtcNow datetimeoffset = @P3, \
         @SlidingExpirationInSeconds bigint = @P4, @AbsoluteExpiration datetimeoffset = @P5; \
         DECLARE @ExpiresAtTime DATETIMEOFFSET; \
         SET @ExpiresAtTime = (CASE WHEN (@SlidingExpirationInSeconds IS NUll) THEN @AbsoluteExpiration \
         ELSE DATEADD(SECOND, Convert(bigint, @SlidingExpirationInSeconds), @UtcNow) END);\
         UPDATE {0} SET Value = @Value, ExpiresAtTime = @ExpiresAtTime,\
         SlidingExpirationInSeconds = @SlidingExpirationInSeconds, AbsoluteExpiration = @AbsoluteExpiration \
         WHERE Id = @Id \
         IF (@@ROWCOUNT = 0) \
         BEGIN \
         INSERT INTO {0} (Id, Value, ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration) \
         VALUES (@Id, @Value, @ExpiresAtTime, @SlidingExpirationInSeconds, @AbsoluteExpiration); \
         END ",
        t.quoted()
    )
}

/// .NET's `GetCacheItem`: the sliding update, then the select, one batch.
fn dotnet_get(t: &TableName) -> String {
    format!(
        "DECLARE @Id nvarchar(449) = @P1, @UtcNow datetimeoffset = @P2; \
         UPDATE {0} SET ExpiresAtTime = (CASE WHEN DATEDIFF(SECOND, @UtcNow, AbsoluteExpiration) <= SlidingExpirationInSeconds \
         THEN AbsoluteExpiration ELSE DATEADD(SECOND, SlidingExpirationInSeconds, @UtcNow) END) \
         WHERE Id = @Id AND @UtcNow <= ExpiresAtTime AND SlidingExpirationInSeconds IS NOT NULL \
         AND (AbsoluteExpiration IS NULL OR AbsoluteExpiration <> ExpiresAtTime) ;\
         SELECT Value FROM {0} WHERE Id = @Id AND @UtcNow <= ExpiresAtTime;",
        t.quoted()
    )
}

/// The get of newer .NET releases: a NOLOCK read, then an optimistic update
/// that only ever extends ExpiresAtTime (to now + window, uncapped).
fn dotnet_get_newer(t: &TableName) -> String {
    format!(
        "DECLARE @id nvarchar(449) = @P1, @UtcNow datetimeoffset = @P2; \
         declare @value varbinary(max), @slideSeconds bigint, @oldExpire datetimeoffset; \
         select @value = Value, @slideSeconds = SlidingExpirationInSeconds, @oldExpire = ExpiresAtTime \
         from {0} (nolock) where Id = @id and @UtcNow <= ExpiresAtTime; \
         if @slideSeconds > 0 \
         begin \
           declare @newExpire datetimeoffset = DATEADD(SECOND, @slideSeconds, @UtcNow); \
           if @newExpire > @oldExpire \
           begin \
             update {0} set ExpiresAtTime = @newExpire where Id = @id and ExpiresAtTime = @oldExpire \
           end \
         end \
         select @value",
        t.quoted()
    )
}

async fn dotnet_read_newer(
    raw: &mut Raw,
    t: &TableName,
    key: &str,
    now: SystemTime,
) -> Option<Vec<u8>> {
    let params = [
        ColumnData::String(Some(key.to_owned().into())),
        common::dto(now),
    ];
    let rows = common::query(raw, &dotnet_get_newer(t), &params).await;
    match rows
        .into_iter()
        .next()
        .and_then(|row| row.into_iter().next())
    {
        Some(ColumnData::Binary(Some(b))) => Some(b.into_owned()),
        Some(ColumnData::Binary(None)) | None => None,
        other => panic!("newer .NET's get read {other:?}"),
    }
}

async fn dotnet_write(
    raw: &mut Raw,
    t: &TableName,
    key: &str,
    value: &[u8],
    now: SystemTime,
    sliding: Option<i64>,
    absolute: Option<SystemTime>,
) {
    let params = [
        ColumnData::String(Some(key.to_owned().into())),
        ColumnData::Binary(Some(value.to_vec().into())),
        common::dto(now),
        ColumnData::I64(sliding),
        absolute.map_or(ColumnData::DateTimeOffset(None), common::dto),
    ];
    common::query(raw, &dotnet_set(t), &params).await;
}

async fn dotnet_read(raw: &mut Raw, t: &TableName, key: &str, now: SystemTime) -> Option<Vec<u8>> {
    let params = [
        ColumnData::String(Some(key.to_owned().into())),
        common::dto(now),
    ];
    let rows = common::query(raw, &dotnet_get(t), &params).await;
    rows.into_iter()
        .next()
        .map(|row| match row.into_iter().next() {
            Some(ColumnData::Binary(Some(b))) => b.into_owned(),
            other => panic!(".NET's get read {other:?}"),
        })
}

/// The raw row: (ExpiresAtTime ticks, SlidingExpirationInSeconds, AbsoluteExpiration ticks, offset minutes).
async fn raw_row(raw: &mut Raw, t: &TableName, key: &str) -> (u64, Option<i64>, Option<u64>, i16) {
    let sql = format!(
        "SELECT ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration, DATEPART(TZOFFSET, ExpiresAtTime) \
         FROM {} WHERE Id = @P1",
        t.quoted()
    );
    let rows = common::query(
        raw,
        &sql,
        &[ColumnData::String(Some(key.to_owned().into()))],
    )
    .await;
    let row = rows
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no row for {key:?}"));
    let sliding = match &row[1] {
        ColumnData::I64(n) => *n,
        other => panic!("sliding is {other:?}"),
    };
    let offset = match &row[3] {
        ColumnData::I32(Some(n)) => *n as i16,
        other => panic!("offset is {other:?}"),
    };
    (
        common::ticks_of(&row[0]).expect("ExpiresAtTime is set"),
        sliding,
        common::ticks_of(&row[2]),
        offset,
    )
}

fn whole_second_now() -> SystemTime {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[tokio::test]
async fn rows_written_by_dotnet_read_right() {
    let Some(cs) = common::connection_string("rows_written_by_dotnet_read_right") else {
        return;
    };
    let tables = Tables::new(&cs);
    let t = tables.create("dotnet_rows").await;
    let mut raw = common::raw(&cs).await;
    let now = whole_second_now();
    let hour = Duration::from_secs(3600);
    dotnet_write(
        &mut raw,
        &t,
        "dotnet:sliding",
        b"slides",
        now,
        Some(60),
        None,
    )
    .await;
    dotnet_write(
        &mut raw,
        &t,
        "dotnet:absolute",
        b"fixed",
        now,
        None,
        Some(now + hour),
    )
    .await;
    // .NET leaves ExpiresAtTime uncapped: now + 1 h, past the 30 s deadline.
    dotnet_write(
        &mut raw,
        &t,
        "dotnet:uncapped",
        b"both",
        now,
        Some(3600),
        Some(now + Duration::from_secs(30)),
    )
    .await;

    let clock = ManualClock::new(now + Duration::from_secs(5));
    let cache = SqlServerCache::builder()
        .connection_string(&cs)
        .schema(t.schema())
        .table(t.table())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    assert_eq!(
        cache.get("dotnet:sliding").await.unwrap().as_deref(),
        Some(&b"slides"[..])
    );
    assert_eq!(
        cache.get("dotnet:absolute").await.unwrap().as_deref(),
        Some(&b"fixed"[..])
    );
    assert_eq!(
        cache.get("dotnet:uncapped").await.unwrap().as_deref(),
        Some(&b"both"[..])
    );

    let info = cache
        .inspect("dotnet:sliding")
        .await
        .unwrap()
        .expect("present");
    assert_eq!(info.sliding_expiration, Some(Duration::from_secs(60)));
    assert_eq!(info.absolute_expiration, None);
    // Our get at now+5 s slid the window exactly as .NET's would.
    assert_eq!(info.expires_at, Some(now + Duration::from_secs(65)));
    assert_eq!(info.size, 6);
    let info = cache
        .inspect("dotnet:absolute")
        .await
        .unwrap()
        .expect("present");
    assert_eq!(info.absolute_expiration, Some(now + hour));
    assert_eq!(info.sliding_expiration, None);

    // Newer .NET slides without capping: ExpiresAtTime ends up past the
    // 30 s deadline of this row.
    dotnet_write(
        &mut raw,
        &t,
        "dotnet:slid-past",
        b"past",
        now,
        Some(60),
        Some(now + Duration::from_secs(30)),
    )
    .await;
    let read = dotnet_read_newer(
        &mut raw,
        &t,
        "dotnet:slid-past",
        now + Duration::from_secs(20),
    )
    .await;
    assert_eq!(read.as_deref(), Some(&b"past"[..]));
    assert_eq!(
        raw_row(&mut raw, &t, "dotnet:slid-past").await.0,
        common::ticks(now + Duration::from_secs(80))
    );

    // Past the hard deadline such rows are dead here, whatever their ExpiresAtTime says.
    clock.set(now + Duration::from_secs(31));
    assert_eq!(cache.get("dotnet:uncapped").await.unwrap(), None);
    assert_eq!(cache.get("dotnet:slid-past").await.unwrap(), None);
    assert_eq!(cache.inspect("dotnet:slid-past").await.unwrap(), None);
    // The sliding row, idle past its window, is gone too.
    clock.set(now + Duration::from_secs(5 + 61));
    assert_eq!(cache.get("dotnet:sliding").await.unwrap(), None);
    assert_eq!(
        cache.get("dotnet:absolute").await.unwrap().as_deref(),
        Some(&b"fixed"[..])
    );
}

#[tokio::test]
async fn rows_written_here_carry_dotnet_values() {
    let Some(cs) = common::connection_string("rows_written_here_carry_dotnet_values") else {
        return;
    };
    let tables = Tables::new(&cs);
    let t = tables.create("our_rows").await;
    let mut raw = common::raw(&cs).await;
    let now = whole_second_now();
    let clock = ManualClock::new(now);
    let cache = SqlServerCache::builder()
        .connection_string(&cs)
        .schema(t.schema())
        .table(t.table())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let s = |n: u64| Duration::from_secs(n);
    cache
        .set(
            "ours:sliding",
            "a".into(),
            &EntryOptions::new().sliding(s(90)),
        )
        .await
        .unwrap();
    cache
        .set(
            "ours:both",
            "b".into(),
            &EntryOptions::new().sliding(s(90)).expires_at(now + s(30)),
        )
        .await
        .unwrap();
    cache
        .set(
            "ours:absolute",
            "c".into(),
            &EntryOptions::new().expires_in(s(45)),
        )
        .await
        .unwrap();
    cache
        .set("ours:default", "d".into(), &EntryOptions::new())
        .await
        .unwrap();
    cache
        .set(
            "ours:sub-second",
            "e".into(),
            &EntryOptions::new().sliding(Duration::from_millis(300)),
        )
        .await
        .unwrap();

    let tk = common::ticks;
    assert_eq!(
        raw_row(&mut raw, &t, "ours:sliding").await,
        (tk(now + s(90)), Some(90), None, 0)
    );
    // Capped at the absolute expiration (.NET would write now + 90 s).
    assert_eq!(
        raw_row(&mut raw, &t, "ours:both").await,
        (tk(now + s(30)), Some(90), Some(tk(now + s(30))), 0)
    );
    assert_eq!(
        raw_row(&mut raw, &t, "ours:absolute").await,
        (tk(now + s(45)), None, Some(tk(now + s(45))), 0)
    );
    assert_eq!(
        raw_row(&mut raw, &t, "ours:default").await,
        (tk(now + s(1200)), Some(1200), None, 0)
    );
    assert_eq!(
        raw_row(&mut raw, &t, "ours:sub-second").await.1,
        Some(1),
        "rounded up, never to zero"
    );

    // .NET's own get reads them and slides the window the same way.
    let later = now + s(10);
    assert_eq!(
        dotnet_read(&mut raw, &t, "ours:sliding", later)
            .await
            .as_deref(),
        Some(&b"a"[..])
    );
    assert_eq!(
        raw_row(&mut raw, &t, "ours:sliding").await.0,
        tk(later + s(90))
    );
    assert_eq!(
        dotnet_read(&mut raw, &t, "ours:both", later)
            .await
            .as_deref(),
        Some(&b"b"[..])
    );
    assert_eq!(raw_row(&mut raw, &t, "ours:both").await.0, tk(now + s(30)));
    assert_eq!(
        dotnet_read(&mut raw, &t, "ours:absolute", later)
            .await
            .as_deref(),
        Some(&b"c"[..])
    );
    assert_eq!(
        dotnet_read(&mut raw, &t, "ours:both", now + s(31)).await,
        None
    );
}

#[tokio::test]
async fn longest_key_is_stored_whole_and_values_are_raw_bytes() {
    let Some(cs) =
        common::connection_string("longest_key_is_stored_whole_and_values_are_raw_bytes")
    else {
        return;
    };
    let tables = Tables::new(&cs);
    let t = tables.create("long_keys").await;
    let cache = common::cache_over(&cs, &t).await;
    let key = "é".repeat(449);
    cache
        .set(&key, "v".into(), &EntryOptions::new())
        .await
        .unwrap();
    let mut raw = common::raw(&cs).await;
    let sql = format!("SELECT DATALENGTH(Id), Value FROM {}", t.quoted());
    let rows = common::query(&mut raw, &sql, &[]).await;
    assert_eq!(rows.len(), 1);
    // DATALENGTH is int for nvarchar(449).
    assert!(
        matches!(
            rows[0][0],
            ColumnData::I32(Some(898)) | ColumnData::I64(Some(898))
        ),
        "{:?}",
        rows[0][0]
    );
    assert_eq!(rows[0][1], ColumnData::Binary(Some(b"v".to_vec().into())));
    // .NET reads our UTF-8 string values with GetString: plain bytes, no framing.
    let value = dotnet_read(&mut raw, &t, &key, SystemTime::now()).await;
    assert_eq!(value.as_deref(), Some(&b"v"[..]));
}

#[tokio::test]
async fn collation_equal_keys_stay_distinct_and_the_first_is_shared_with_dotnet() {
    let Some(cs) = common::connection_string(
        "collation_equal_keys_stay_distinct_and_the_first_is_shared_with_dotnet",
    ) else {
        return;
    };
    let tables = Tables::new(&cs);
    let t = tables.create("collation").await;
    let cache = common::cache_over(&cs, &t).await;
    // Pairs SQL_Latin1_General_CP1_CS_AS calls equal.
    let pairs = [
        ("ss", "ß"),
        ("k", "k "),
        ("e\u{301}", "\u{e9}"),
        ("w", "\u{ff57}"),
    ];
    for (first, second) in pairs {
        cache
            .set(
                first,
                Bytes::from(format!("first {first}")),
                &EntryOptions::new(),
            )
            .await
            .unwrap();
        cache
            .set(
                second,
                Bytes::from(format!("second {second}")),
                &EntryOptions::new(),
            )
            .await
            .unwrap();
    }
    let mut raw = common::raw(&cs).await;
    for (first, second) in pairs {
        assert_eq!(
            cache.get(first).await.unwrap(),
            Some(Bytes::from(format!("first {first}")))
        );
        assert_eq!(
            cache.get(second).await.unwrap(),
            Some(Bytes::from(format!("second {second}")))
        );
        // The first keeps its own text as Id, so .NET reads it.
        let dotnet = dotnet_read(&mut raw, &t, first, SystemTime::now()).await;
        assert_eq!(dotnet, Some(format!("first {first}").into_bytes()));
    }
    // Where the collation equates them, the second lives under an escaped Id.
    let equal = common::query(
        &mut raw,
        "SELECT CASE WHEN N'ss' = N'\u{df}' COLLATE SQL_Latin1_General_CP1_CS_AS THEN 1 ELSE 0 END",
        &[],
    )
    .await;
    let id = if equal[0][0] == ColumnData::I32(Some(1)) {
        "~~escaped~~%00DF"
    } else {
        "ß"
    };
    let sql = format!(
        "SELECT COUNT_BIG(*) FROM {} WHERE CAST(Id AS varbinary(898)) = CAST(@P1 AS varbinary(898))",
        t.quoted()
    );
    let rows = common::query(&mut raw, &sql, &[ColumnData::String(Some(id.into()))]).await;
    assert_eq!(
        rows[0][0],
        ColumnData::I64(Some(1)),
        "ß stored under {id:?}"
    );
    // The next set updates it in place.
    cache
        .set("ß", "again".into(), &EntryOptions::new())
        .await
        .unwrap();
    assert_eq!(
        cache.get("ß").await.unwrap().as_deref(),
        Some(&b"again"[..])
    );
    // Removing the first leaves the second.
    cache.remove("ss").await.unwrap();
    assert_eq!(cache.get("ss").await.unwrap(), None);
    assert_eq!(
        cache.get("ß").await.unwrap().as_deref(),
        Some(&b"again"[..])
    );
    let total = common::query(
        &mut raw,
        &format!("SELECT COUNT_BIG(*) FROM {}", t.quoted()),
        &[],
    )
    .await;
    assert_eq!(total[0][0], ColumnData::I64(Some(7)));
}
