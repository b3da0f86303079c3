//! Real TLS against the test server (Debian's PostgreSQL runs with
//! `ssl = on` and the machine's self-signed "snakeoil" certificate, issued
//! to `localhost`): each `sslmode` encrypts and checks what libpq does.

use std::str::FromStr;

use cache_abstractions::ErrorKind;
use cache_postgres::PostgresCache;

use crate::common::{self, Schema};

const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// A libpq string for the test server with `extra` settings and a unique
/// application name, which is returned too.
fn conninfo(host: &str, extra: &str) -> (String, String) {
    let config = tokio_postgres::Config::from_str(&common::url()).expect("the URL parses");
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("postgres");
    let db = config.get_dbname().unwrap_or("test");
    let app = common::unique("tls");
    (
        format!("host={host} hostaddr=127.0.0.1 port={port} user={user} dbname={db} application_name={app} {extra}"),
        app,
    )
}

/// Whether the server sees the connection of application `app` encrypted.
async fn encrypted(app: &str) -> bool {
    common::raw()
        .await
        .query_one(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .expect("the cache's connection is open")
        .get(0)
}

async fn ping(schema: &Schema, text: &str) -> cache_abstractions::Result<PostgresCache> {
    let t = schema.create_table(&common::unique("t")).await;
    let cache = PostgresCache::builder()
        .connection_string(text)
        .schema(t.schema())
        .table(t.table())
        .build()?;
    cache.ping().await?;
    Ok(cache)
}

fn server_has_tls() {
    assert!(
        std::path::Path::new(SNAKEOIL).exists(),
        "the TLS tests need the server's certificate at {SNAKEOIL} (Debian's ssl-cert)"
    );
}

#[tokio::test]
async fn require_encrypts_without_checking_the_certificate() {
    server_has_tls();
    let schema = Schema::new("tls_require").await;
    let (text, app) = conninfo("127.0.0.1", "sslmode=require");
    let _cache = ping(&schema, &text).await.unwrap();
    assert!(encrypted(&app).await);
}

#[tokio::test]
async fn disable_does_not_encrypt() {
    let schema = Schema::new("tls_disable").await;
    let (text, app) = conninfo("127.0.0.1", "sslmode=disable");
    let _cache = ping(&schema, &text).await.unwrap();
    assert!(!encrypted(&app).await);
}

#[tokio::test]
async fn verify_full_checks_the_chain_and_the_host_name() {
    server_has_tls();
    let schema = Schema::new("tls_full").await;
    let (text, app) = conninfo(
        "localhost",
        &format!("sslmode=verify-full sslrootcert={SNAKEOIL}"),
    );
    let _cache = ping(&schema, &text).await.unwrap();
    assert!(encrypted(&app).await);
    // The certificate names localhost, not 127.0.0.1.
    let (text, _) = conninfo(
        "127.0.0.1",
        &format!("sslmode=verify-full sslrootcert={SNAKEOIL}"),
    );
    let e = ping(&schema, &text).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
}

#[tokio::test]
async fn verify_ca_checks_the_chain_only() {
    server_has_tls();
    let schema = Schema::new("tls_ca").await;
    let (text, app) = conninfo(
        "127.0.0.1",
        &format!("sslmode=verify-ca sslrootcert={SNAKEOIL}"),
    );
    let _cache = ping(&schema, &text).await.unwrap();
    assert!(encrypted(&app).await);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused() {
    server_has_tls();
    // Trust some other self-signed certificate: the server's no longer chains.
    let other = std::env::temp_dir().join(format!("{}.pem", common::unique("ca")));
    std::fs::write(&other, OTHER_CA).unwrap();
    let schema = Schema::new("tls_untrusted").await;
    let (text, _) = conninfo(
        "localhost",
        &format!("sslmode=verify-ca sslrootcert={}", other.display()),
    );
    let e = ping(&schema, &text).await.unwrap_err();
    let _ = std::fs::remove_file(&other);
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
}

/// A self-signed CA certificate (EC P-256, CN=distcache-test-ca) that signed
/// nothing the server holds.
const OTHER_CA: &str = "\
-----BEGIN CERTIFICATE-----
MIIBjzCCATWgAwIBAgIUMikoHopmZZcquj21nFZgQ4nleHcwCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRZGlzdGNhY2hlLXRlc3QtY2EwIBcNMjYxMjA1MjMxOTQ3WhgP
MjEyNjExMTEyMzE5NDdaMBwxGjAYBgNVBAMMEWRpc3RjYWNoZS10ZXN0LWNhMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAET+VOC7unYWur/67AVCgtur/FWSwEaYSt
IMYy+IsdFKGWXW3193l1AtQYywwyoFgtaiG4WjmHzyQcuGveZ4N4RKNTMFEwHQYD
VR0OBBYEFG+RuaLq9r39y9W5Woa+XappAjAFMB8GA1UdIwQYMBaAFG+RuaLq9r39
y9W5Woa+XappAjAFMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIg
HHXtJdpOSesR9dm2DXV9Nm/d2bjNG7U7QfxblqZuN/gCIQCjdgeSAUWxrqDcRGdO
rrVo3t4+gReSZd7vB87FhccFAA==
-----END CERTIFICATE-----
";
