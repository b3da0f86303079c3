//! Property tests of the stored format (see docs/reliability.md): options
//! -> .NET hash fields -> options round-trips, and any stored form decodes
//! to a value, a miss or `CorruptEntry`, never a panic. The invariants are
//! the ones the fuzz targets check (`cache_redis::fuzzing::check`, one
//! copy for both); the last two properties run them through a real
//! redis-server.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cache_abstractions::{DistributedCache, EntryOptions, ErrorKind};
use cache_redis::fuzzing::check;
use cache_redis::RedisCache;
use cache_testkit::redis_server::RedisServer;
use proptest::prelude::*;

/// Instants from 1970 to 2200, to the nanosecond.
fn instant() -> impl Strategy<Value = SystemTime> {
    (0u64..7_258_118_400, 0u32..1_000_000_000).prop_map(|(s, n)| UNIX_EPOCH + Duration::new(s, n))
}

/// Durations from 0 to far past every limit, biased towards the edges.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..1_000_000_000).prop_map(Duration::from_nanos),
        (0u64..=u64::from(u32::MAX) * 2, 0u32..1_000_000_000)
            .prop_map(|(s, n)| Duration::new(s, n)),
        Just(Duration::ZERO),
        Just(cache_abstractions::MAX_SLIDING_EXPIRATION),
        Just(cache_abstractions::MAX_SLIDING_EXPIRATION + Duration::from_nanos(1)),
        Just(Duration::MAX),
    ]
}

/// Options with any mix of the three settings, the absolute instant up to
/// 300 years either side of `now`.
fn options(now: SystemTime) -> impl Strategy<Value = EntryOptions> {
    let offset = (any::<bool>(), 0u64..9_467_280_000, 0u32..1_000_000_000);
    (
        proptest::option::of(offset),
        proptest::option::of(duration()),
        proptest::option::of(duration()),
    )
        .prop_map(move |(abs, rel, sld)| {
            let mut o = EntryOptions::new();
            if let Some((future, s, n)) = abs {
                let d = Duration::new(s, n);
                o = o.expires_at(if future { now + d } else { now - d });
            }
            if let Some(r) = rel {
                o = o.expires_in(r);
            }
            if let Some(s) = sld {
                o = o.sliding(s);
            }
            o
        })
}

/// A hash field as a stored entry may hold it: what .NET writes, numbers
/// at and past every limit, and junk.
fn field() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(prop_oneof![
        Just(b"-1".to_vec()),
        any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        any::<i128>().prop_map(|n| n.to_string().into_bytes()),
        (0i64..=3_155_378_975_999_999_999).prop_map(|n| n.to_string().into_bytes()),
        "[0-9+ .e-]{0,24}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..24),
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn options_round_trip_through_the_dotnet_hash(
        (now, options) in instant().prop_flat_map(|now| (Just(now), options(now)))
    ) {
        check::options_round_trip(&options, now);
    }

    #[test]
    fn any_hash_fields_decode_to_a_value_a_miss_or_corrupt(
        absexp in field(),
        sldexp in field(),
        data in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        now in instant(),
    ) {
        check::hash_fields(absexp.as_deref(), sldexp.as_deref(), data.as_deref(), now);
    }

    #[test]
    fn tick_conversions_clamp_and_round_trip(
        secs in any::<i64>(),
        nanos in 0u32..1_000_000_000,
        d in duration(),
        ticks in any::<i64>(),
    ) {
        let t = if secs >= 0 {
            UNIX_EPOCH.checked_add(Duration::new(secs.unsigned_abs(), nanos))
        } else {
            UNIX_EPOCH.checked_sub(Duration::new(secs.unsigned_abs(), nanos))
        };
        if let Some(t) = t {
            check::ticks(t, d, ticks);
        }
    }

    #[test]
    fn any_text_is_a_url_or_a_config_error(text in "\\PC{0,40}|redis(s)?(\\+cluster|\\+unix)?://\\PC{0,40}") {
        check::url(&text);
    }

    #[test]
    fn a_password_never_shows(
        scheme in "redis|rediss|redis\\+cluster|rediss\\+cluster|redis\\+unix|unix|rdis|[a-z]{1,6}",
        user in "[a-z]{0,6}",
        password in "[a-zA-Z0-9/?#@:%;=&]{0,12}",
        rest in "[a-z0-9.:,/?=&#]{0,20}",
    ) {
        let secret = "Sekr3tPw";
        let url = format!("{scheme}://{user}:{secret}{password}@{rest}");
        check::url_hides(&url, secret);
    }
}

/// One redis-server and one cache for a server-backed property, held by
/// the test that runs it: in a `static` it would never be dropped, and the
/// server would outlive the test process (nextest runs one test a process).
struct Fixture {
    rt: tokio::runtime::Runtime,
    server: Arc<RedisServer>,
    cache: RedisCache,
}

fn fixture() -> Fixture {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = RedisServer::shared();
    let cache = rt
        .block_on(async { RedisCache::builder().url(&server.url()).build() })
        .expect("cache");
    Fixture { rt, server, cache }
}

/// Runs `test` on 64 cases of `strategy`, as `proptest!` would (shrinking
/// included), with the fixture made once by the caller.
fn run_cases<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(64));
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}\n{runner}");
    }
}

async fn raw(server: &RedisServer, args: &[&[u8]]) -> redis::RedisResult<redis::Value> {
    let client = redis::Client::open(server.url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("command name"));
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(&mut conn).await
}

/// Set with options, then `inspect` reads what the server holds: the
/// same absolute instant (to the tick) and sliding window.
#[test]
fn options_survive_a_real_server() {
    let f = fixture();
    let (rt, cache) = (&f.rt, &f.cache);
    let strategy = (
        options(SystemTime::now() + Duration::from_secs(5)),
        "[a-z]{12}",
    );
    run_cases(strategy, |(opts, key)| {
        let key = format!("prop:{key}");
        let now = SystemTime::now();
        let Ok(expiry) = opts.resolve(now) else {
            let e = rt
                .block_on(cache.set(&key, "v".into(), &opts))
                .expect_err("invalid options");
            prop_assert_eq!(e.kind(), ErrorKind::InvalidOptions);
            return Ok(());
        };
        // Only entries that outlive the test's own round trips.
        if expiry
            .absolute
            .is_some_and(|a| a < now + Duration::from_secs(2))
            || expiry.sliding.is_some_and(|s| s < Duration::from_secs(2))
        {
            return Ok(());
        }
        rt.block_on(cache.set(&key, "v".into(), &opts))
            .expect("set");
        let info = rt
            .block_on(cache.inspect(&key))
            .expect("inspect")
            .expect("entry");
        // `set` resolved relative times at its own clock reading, a moment
        // after ours: compare to the tick only where no relative time is in play.
        if opts.absolute_expiration_relative_to_now().is_none() {
            prop_assert_eq!(
                info.absolute_expiration,
                expiry.absolute.map(check::floor_to_tick)
            );
        }
        prop_assert_eq!(
            info.sliding_expiration,
            expiry.sliding.map(check::ceil_to_tick)
        );
        rt.block_on(cache.remove(&key)).expect("remove");
        Ok(())
    });
}

/// Whatever hash sits under a key, `get` and `inspect` return a value,
/// a miss or `CorruptEntry`: never a panic, never another error.
#[test]
fn any_stored_hash_reads_as_a_value_a_miss_or_corrupt() {
    let f = fixture();
    let (rt, server, cache) = (&f.rt, &*f.server, &f.cache);
    let strategy = (
        field(),
        field(),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        "[a-z]{12}",
    );
    run_cases(strategy, |(absexp, sldexp, data, key)| {
        let key = format!("prop:{key}");
        let mut args: Vec<&[u8]> = vec![b"HSET", key.as_bytes()];
        for (name, value) in [("absexp", &absexp), ("sldexp", &sldexp), ("data", &data)] {
            if let Some(v) = value {
                args.push(name.as_bytes());
                args.push(v);
            }
        }
        rt.block_on(async {
            raw(server, &[b"DEL", key.as_bytes()]).await.expect("DEL");
            if args.len() > 2 {
                raw(server, &args).await.expect("HSET");
            }
        });
        for (op, r) in [
            ("get", rt.block_on(cache.get(&key)).map(drop)),
            ("inspect", rt.block_on(cache.inspect(&key)).map(drop)),
            ("refresh", rt.block_on(cache.refresh(&key))),
        ] {
            if let Err(e) = r {
                prop_assert_eq!(e.kind(), ErrorKind::CorruptEntry, "{} {:?}", op, e);
            }
        }
        rt.block_on(cache.remove(&key)).expect("remove");
        Ok(())
    });
}

/// Edges the fuzz targets reached (docs/reliability.md): the last
/// nanosecond of year 9999 truncates to the last tick, so it is in range.
#[test]
fn tick_edges() {
    let last_second = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    for nanos in [0, 999_999_900, 999_999_999] {
        check::ticks(
            last_second + Duration::from_nanos(nanos),
            Duration::MAX,
            i64::MAX,
        );
    }
    check::ticks(
        UNIX_EPOCH - Duration::from_secs(62_135_596_800),
        Duration::ZERO,
        0,
    );
}
