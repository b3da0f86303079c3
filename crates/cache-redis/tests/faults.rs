//! Faults and configurations: a server killed mid-operation and restarted,
//! refused connects failing at once,
//! a hung server, scripting disabled (renamed commands, ACL), NOSCRIPT after
//! SCRIPT FLUSH, one round trip per sliding get (INFO commandstats), ACL
//! users and passwords kept out of errors, unix sockets, database indexes,
//! TLS with a certificate made in the test, and large values.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_abstractions::{DistributedCache, EntryOptions, ErrorKind};
use cache_redis::RedisCache;
use cache_testkit::redis_server::{RedisServer, TlsFiles};
use common::{cmd, raw, Store};

const CONNECT: Duration = Duration::from_secs(1);
const COMMAND: Duration = Duration::from_secs(1);

async fn quick_cache(url: &str) -> RedisCache {
    RedisCache::builder()
        .url(url)
        .connect_timeout(CONNECT)
        .command_timeout(COMMAND)
        .build()
        .unwrap()
}

fn is_outage(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::Connection | ErrorKind::Timeout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_operation_then_restarted_same_instance_recovers() {
    let mut server = RedisServer::start();
    let cache = Arc::new(quick_cache(&server.url()).await);
    let value = bytes::Bytes::from(vec![7u8; 64 * 1024]);
    // Load from many tasks, kill the server under it.
    let mut tasks = Vec::new();
    for t in 0..16u32 {
        let cache = Arc::clone(&cache);
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            let mut failures = 0;
            let stop_at = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < stop_at {
                let key = format!("load:{t}");
                let started = Instant::now();
                let r = if t.is_multiple_of(2) {
                    cache.set(&key, value.clone(), &EntryOptions::new()).await
                } else {
                    cache.get(&key).await.map(drop)
                };
                slowest = slowest.max(started.elapsed());
                if let Err(e) = r {
                    assert!(is_outage(e.kind()), "error during the outage: {e}");
                    failures += 1;
                }
            }
            (slowest, failures)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop();
    let mut failures = 0;
    for t in tasks {
        let (slowest, f) = t.await.unwrap();
        failures += f;
        assert!(
            slowest <= CONNECT + COMMAND + Duration::from_secs(2),
            "an operation took {slowest:?} with the server down"
        );
    }
    assert!(
        failures > 0,
        "no operation failed while the server was down"
    );
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match cache.set("after", "ok".into(), &EntryOptions::new()).await {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => {
                assert!(is_outage(e.kind()), "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no recovery within 5 s of the restart: {e}"),
        }
    }
    assert_eq!(
        cache.get("after").await.unwrap().as_deref(),
        Some(&b"ok"[..])
    );
    // Every pooled connection was replaced: a burst of concurrent
    // operations all succeed.
    let burst = (0..32).map(|i| {
        let cache = Arc::clone(&cache);
        async move { cache.get(&format!("load:{i}")).await }
    });
    for r in futures::future::join_all(burst).await {
        r.unwrap();
    }
}

/// A refused connect fails the operation waiting for it at once, not when
/// the connect timeout runs out (bb8 alone would retry until then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connect_fails_at_once_and_the_same_instance_recovers() {
    // Long timeouts, so an operation that waited for one is caught.
    const LONG: Duration = Duration::from_secs(5);
    // Generous: a refused connect on loopback takes microseconds.
    const PROMPT: Duration = Duration::from_secs(1);
    let mut server = RedisServer::start();
    for pool_size in [1, 3] {
        let cache = Arc::new(
            RedisCache::builder()
                .url(&server.url())
                .pool_size(pool_size)
                .connect_timeout(LONG)
                .command_timeout(LONG)
                .build()
                .unwrap(),
        );
        let sliding = EntryOptions::new().sliding(Duration::from_secs(60));
        cache.set("k", "v".into(), &sliding).await.unwrap();
        server.stop();
        // Several rounds: the first meets the dead pooled connection, the
        // later ones an empty pool whose connects are refused.
        for round in 0..3 {
            for op in ["get", "set", "refresh", "remove"] {
                let started = Instant::now();
                let result = match op {
                    "get" => cache.get("k").await.map(drop),
                    "set" => cache.set("k", "w".into(), &sliding).await,
                    "refresh" => cache.refresh("k").await,
                    _ => cache.remove("k").await,
                };
                let took = started.elapsed();
                let err = result.expect_err("the server is down");
                if round == 0 && op == "get" && err.kind() == ErrorKind::Timeout {
                    // The very first request may be written to the pooled
                    // connection before its reader has seen the server's
                    // close; it then ends at the command timeout, as rule 15
                    // allows. Everything after it must fail at once.
                    assert!(
                        took < LONG + PROMPT,
                        "pool {pool_size}: the first get took {took:?}: {err}"
                    );
                    continue;
                }
                assert_eq!(
                    err.kind(),
                    ErrorKind::Connection,
                    "pool {pool_size}, round {round}, {op}: {err}"
                );
                assert!(
                    took < PROMPT,
                    "pool {pool_size}, round {round}, {op} took {took:?}: {err}"
                );
            }
        }
        // Many operations waiting at once all fail promptly too.
        let started = Instant::now();
        let burst = (0..20).map(|i| {
            let cache = Arc::clone(&cache);
            async move { cache.get(&format!("b{i}")).await }
        });
        for r in futures::future::join_all(burst).await {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::Connection);
        }
        let took = started.elapsed();
        assert!(took < PROMPT, "pool {pool_size}: a burst took {took:?}");

        server.restart();
        // The same instance works again; the server is up, so the first
        // try should do, but allow a busy machine a moment.
        let deadline = Instant::now() + LONG;
        loop {
            match cache.set("k", "again".into(), &sliding).await {
                Ok(()) => break,
                Err(e) if Instant::now() < deadline => {
                    assert!(is_outage(e.kind()), "{e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("pool {pool_size}: no recovery after the restart: {e}"),
            }
        }
        assert_eq!(
            cache.get("k").await.unwrap().as_deref(),
            Some(&b"again"[..])
        );
        cache.refresh("k").await.unwrap();
        cache.remove("k").await.unwrap();
        assert_eq!(cache.get("k").await.unwrap(), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_times_out_within_the_command_timeout() {
    let server = RedisServer::start();
    let cache = quick_cache(&server.url()).await;
    cache
        .set("k", "v".into(), &EntryOptions::new())
        .await
        .unwrap();
    // CLIENT PAUSE stalls every other client's commands for 3 s.
    server.command(&["CLIENT", "PAUSE", "3000", "ALL"]).unwrap();
    let started = Instant::now();
    let err = cache.get("k").await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // The contract allows the timeout plus 2 s; a busy machine needs slack.
    assert!(took < COMMAND + Duration::from_secs(2), "took {took:?}");
    server.command(&["CLIENT", "UNPAUSE"]).unwrap();
    assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_fails_fast_at_connect() {
    // A port nobody listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = Instant::now();
    let err = RedisCache::builder()
        .url(&format!("redis://127.0.0.1:{port}/"))
        .connect_timeout(CONNECT)
        .build()
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert!(is_outage(err.kind()), "{err}");
    assert!(started.elapsed() < CONNECT + Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_times_out_at_connect() {
    // Accepts connections (the kernel completes the handshake) and never
    // answers: a connect attempt hangs rather than being refused.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let started = Instant::now();
    let err = RedisCache::builder()
        .url(&format!("redis://127.0.0.1:{port}/"))
        .connect_timeout(CONNECT)
        .command_timeout(COMMAND)
        .build()
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        took < CONNECT + COMMAND + Duration::from_secs(2),
        "took {took:?}"
    );
    drop(silent);
}

/// INFO commandstats as command -> calls.
fn commandstats(server: &RedisServer) -> HashMap<String, u64> {
    let info = server.command(&["INFO", "commandstats"]).unwrap();
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

/// Commands received from clients (not those run inside scripts) since
/// the last reset, less the INFO calls used to read them.
fn top_level(stats: &HashMap<String, u64>) -> HashMap<String, u64> {
    let inner = ["hmget", "pexpire", "hexists"];
    stats
        .iter()
        .filter(|(name, _)| {
            !inner.contains(&name.as_str()) && *name != "info" && *name != "config|resetstat"
        })
        .map(|(n, c)| (n.clone(), *c))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sliding_get_is_one_round_trip() {
    let server = RedisServer::start();
    let cache = quick_cache(&server.url()).await;
    let sliding = EntryOptions::new().sliding(Duration::from_secs(60));
    cache.set("s", "v".into(), &sliding).await.unwrap();
    // Load the script, then measure one get and one refresh.
    cache.get("s").await.unwrap();
    server.command(&["CONFIG", "RESETSTAT"]).unwrap();
    assert_eq!(cache.get("s").await.unwrap().as_deref(), Some(&b"v"[..]));
    let stats = commandstats(&server);
    assert_eq!(stats.get("evalsha"), Some(&1), "{stats:?}");
    assert_eq!(
        top_level(&stats),
        HashMap::from([("evalsha".into(), 1)]),
        "{stats:?}"
    );
    // Inside that one EVALSHA: the read and the slide.
    assert_eq!(stats.get("hmget"), Some(&1), "{stats:?}");
    assert_eq!(stats.get("pexpire"), Some(&1), "{stats:?}");

    server.command(&["CONFIG", "RESETSTAT"]).unwrap();
    cache.refresh("s").await.unwrap();
    let stats = commandstats(&server);
    assert_eq!(
        top_level(&stats),
        HashMap::from([("evalsha".into(), 1)]),
        "{stats:?}"
    );

    // A set is one MULTI/EXEC round trip.
    server.command(&["CONFIG", "RESETSTAT"]).unwrap();
    cache.set("s", "w".into(), &sliding).await.unwrap();
    let stats = commandstats(&server);
    for c in ["multi", "del", "hset", "pexpire", "exec"] {
        assert_eq!(stats.get(c), Some(&1), "{c}: {stats:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noscript_after_script_flush_reloads() {
    let server = RedisServer::start();
    let cache = quick_cache(&server.url()).await;
    let sliding = EntryOptions::new().sliding(Duration::from_secs(60));
    cache.set("s", "v".into(), &sliding).await.unwrap();
    cache.get("s").await.unwrap();
    server.command(&["SCRIPT", "FLUSH"]).unwrap();
    assert_eq!(cache.get("s").await.unwrap().as_deref(), Some(&b"v"[..]));
    assert!(cache.uses_scripting());
    server.command(&["CONFIG", "RESETSTAT"]).unwrap();
    cache.get("s").await.unwrap();
    assert_eq!(commandstats(&server).get("evalsha"), Some(&1));
}

async fn check_fallback_slides(server: &RedisServer, cache: &RedisCache) {
    let sliding = EntryOptions::new().sliding(Duration::from_secs(10));
    cache.set("s", "v".into(), &sliding).await.unwrap();
    server.command(&["PEXPIRE", "s", "2000"]).unwrap();
    assert_eq!(cache.get("s").await.unwrap().as_deref(), Some(&b"v"[..]));
    let t: i64 = server.command(&["PTTL", "s"]).unwrap().parse().unwrap();
    assert!(
        (8_000..=10_000).contains(&t),
        "TTL after a fallback get: {t}"
    );
    server.command(&["PEXPIRE", "s", "2000"]).unwrap();
    cache.refresh("s").await.unwrap();
    let t: i64 = server.command(&["PTTL", "s"]).unwrap().parse().unwrap();
    assert!(
        (8_000..=10_000).contains(&t),
        "TTL after a fallback refresh: {t}"
    );
    assert!(!cache.uses_scripting());
    // Corrupt data is still reported, not slid.
    server.command(&["SET", "str", "x"]).unwrap();
    assert_eq!(
        cache.get("str").await.unwrap_err().kind(),
        ErrorKind::CorruptEntry
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_eval_falls_back_to_two_commands() {
    let server = RedisServer::builder()
        .args(["--rename-command", "EVALSHA", ""])
        .args(["--rename-command", "EVAL", ""])
        .start();
    let cache = quick_cache(&server.url()).await;
    assert!(cache.uses_scripting());
    check_fallback_slides(&server, &cache).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_without_scripting_falls_back_and_passwords_stay_secret() {
    let server = RedisServer::start();
    server
        .command(&[
            "ACL",
            "SETUSER",
            "app",
            "on",
            ">s3cr3t-pw",
            "~*",
            "+@all",
            "-@scripting",
        ])
        .unwrap();
    let url = format!("redis://app:s3cr3t-pw@127.0.0.1:{}/", server.port());
    let cache = quick_cache(&url).await;
    assert!(!format!("{cache:?}").contains("s3cr3t-pw"));
    check_fallback_slides(&server, &cache).await;

    // The same user and password through the builder.
    let cache = RedisCache::builder()
        .url(&server.url())
        .username("app")
        .password("s3cr3t-pw")
        .build()
        .unwrap();
    cache
        .set("b", "v".into(), &EntryOptions::new())
        .await
        .unwrap();

    // A wrong password: an Authentication error that never shows the password.
    let bad = format!("redis://app:wr0ng-pw@127.0.0.1:{}/", server.port());
    let err = RedisCache::builder()
        .url(&bad)
        .connect_timeout(CONNECT)
        .build()
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("wr0ng-pw"), "{shown}");
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert!(!err.is_retryable());
    let builder = RedisCache::builder().url(&bad).password("other-secret");
    let shown = format!("{builder:?}");
    assert!(
        !shown.contains("wr0ng-pw") && !shown.contains("other-secret"),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripting_can_be_disabled_in_the_builder() {
    let server = RedisServer::start();
    let cache = RedisCache::builder()
        .url(&server.url())
        .scripting(false)
        .build()
        .unwrap();
    check_fallback_slides(&server, &cache).await;
    assert_eq!(commandstats(&server).get("evalsha"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_and_database_index() {
    let sock = std::env::temp_dir().join(format!("cache-redis-test-{}.sock", std::process::id()));
    let server = RedisServer::builder()
        .arg("--unixsocket")
        .arg(sock.to_str().unwrap())
        .args(["--unixsocketperm", "700"])
        .start();
    let cache = quick_cache(&format!("redis+unix://{}", sock.display())).await;
    cache
        .set("u", "via socket".into(), &EntryOptions::new())
        .await
        .unwrap();
    assert_eq!(
        server.command(&["HGET", "u", "data"]).unwrap(),
        "via socket"
    );

    let cache = quick_cache(&format!("redis://127.0.0.1:{}/3", server.port())).await;
    cache
        .set("in-db-3", "v".into(), &EntryOptions::new())
        .await
        .unwrap();
    assert_eq!(server.command(&["EXISTS", "in-db-3"]).unwrap(), "0");
    // The fixture's raw commands run on database 0: look in 3 by URL.
    let db3 = quick_cache(&format!("{}3", server.url())).await;
    assert_eq!(
        db3.get("in-db-3").await.unwrap().as_deref(),
        Some(&b"v"[..])
    );
    let _ = std::fs::remove_file(&sock);
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is required for the TLS test (apt-get install -y openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1/localhost, made now.
fn make_certs(dir: &Path) -> TlsFiles {
    std::fs::create_dir_all(dir).unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=cache-redis test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    TlsFiles {
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
        ca: dir.join("ca.crt"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_certificate_made_in_the_test() {
    let dir = std::env::temp_dir().join(format!("cache-redis-tls-{}", std::process::id()));
    let files = make_certs(&dir);
    let ca = std::fs::read(&files.ca).unwrap();
    let server = RedisServer::builder().tls(files).start();
    let url = server.url();
    assert!(url.starts_with("rediss://"));
    let cache = RedisCache::builder()
        .url(&url)
        .tls_root_certificate(ca)
        .connect_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let sliding = EntryOptions::new().sliding(Duration::from_secs(30));
    cache
        .set("tls", "secret value".into(), &sliding)
        .await
        .unwrap();
    assert_eq!(
        cache.get("tls").await.unwrap().as_deref(),
        Some(&b"secret value"[..])
    );
    cache.refresh("tls").await.unwrap();
    cache.remove("tls").await.unwrap();

    // Without the CA the server's certificate is not trusted.
    let err = RedisCache::builder()
        .url(&url)
        .connect_timeout(Duration::from_secs(3))
        .build()
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Connection | ErrorKind::Config),
        "{err}"
    );
    // A plain connection to the TLS port fails too, within the timeout.
    let plain = url.replace("rediss://", "redis://");
    let started = Instant::now();
    let err = RedisCache::builder()
        .url(&plain)
        .connect_timeout(CONNECT)
        .command_timeout(COMMAND)
        .build()
        .unwrap()
        .ping()
        .await
        .unwrap_err();
    assert!(is_outage(err.kind()), "{err}");
    assert!(started.elapsed() < CONNECT + COMMAND + Duration::from_secs(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_up_to_64_mib_and_foreign_keys() {
    let server = RedisServer::shared();
    let cache = RedisCache::builder()
        .url(&server.url())
        .command_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let big: Vec<u8> = (0..64 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let big = bytes::Bytes::from(big);
    cache
        .set("big", big.clone(), &EntryOptions::new())
        .await
        .unwrap();
    assert!(cache.get("big").await.unwrap() == Some(big));
    let info = cache.inspect("big").await.unwrap().unwrap();
    assert_eq!(info.size, 64 * 1024 * 1024);
    cache.remove("big").await.unwrap();

    let store = Store::Server(server);
    raw(&store, &cmd(&["RPUSH", "a-list", "x"])).await.unwrap();
    assert_eq!(
        cache.get("a-list").await.unwrap_err().kind(),
        ErrorKind::CorruptEntry
    );
    assert_eq!(
        cache.inspect("a-list").await.unwrap_err().kind(),
        ErrorKind::CorruptEntry
    );
    cache.remove("a-list").await.unwrap();

    // The default key limit is Redis's own, less the instance name.
    let caps = RedisCache::builder()
        .url(&store.url())
        .instance_name("pfx:")
        .build()
        .unwrap()
        .capabilities();
    assert_eq!(
        caps.max_key_length,
        cache_abstractions::KeyLimit::Utf8Bytes(512 * 1024 * 1024 - 4)
    );
    assert_eq!(caps.max_value_size, Some(512 * 1024 * 1024));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gets_of_non_sliding_entries_use_plain_hmget_and_switch_back() {
    let server = RedisServer::start();
    let cache = quick_cache(&server.url()).await;
    cache
        .set("plain", "p".into(), &EntryOptions::new())
        .await
        .unwrap();
    let sliding = EntryOptions::new().sliding(Duration::from_secs(10));
    cache.set("slides", "s".into(), &sliding).await.unwrap();
    for _ in 0..20 {
        cache.get("plain").await.unwrap();
    }
    server.command(&["CONFIG", "RESETSTAT"]).unwrap();
    assert_eq!(
        cache.get("plain").await.unwrap().as_deref(),
        Some(&b"p"[..])
    );
    let stats = commandstats(&server);
    assert_eq!(top_level(&stats), HashMap::new(), "{stats:?}");
    assert_eq!(stats.get("hmget"), Some(&1), "{stats:?}");

    // The first sliding entry found this way is slid by the script (a
    // second round trip), and gets go back to one script call each.
    server.command(&["PEXPIRE", "slides", "2000"]).unwrap();
    assert_eq!(
        cache.get("slides").await.unwrap().as_deref(),
        Some(&b"s"[..])
    );
    let t: i64 = server
        .command(&["PTTL", "slides"])
        .unwrap()
        .parse()
        .unwrap();
    assert!((8_000..=10_000).contains(&t), "{t}");
    server.command(&["CONFIG", "RESETSTAT"]).unwrap();
    cache.get("slides").await.unwrap();
    let stats = commandstats(&server);
    assert_eq!(
        top_level(&stats),
        HashMap::from([("evalsha".into(), 1)]),
        "{stats:?}"
    );
}
