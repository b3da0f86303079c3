//! Choosing the cache backend from `CACHE_URL`. This is the only place
//! that names a backend; everything else holds an `Arc<dyn DistributedCache>`.

use std::sync::Arc;

use cache_abstractions::DistributedCache;

use crate::config::Config;

/// The URL schemes the Redis backend takes.
const REDIS_SCHEMES: [&str; 6] = [
    "redis",
    "rediss",
    "redis+unix",
    "unix",
    "redis+cluster",
    "rediss+cluster",
];

/// Opens the cache `config.cache_url` names; returns it with a short name
/// for the backend (`memory`, `redis`, `sqlserver`).
///
/// - `memory://`: in-process; every server has its own cache (fine for one
///   server, or tests; the point of the example is to see what it lacks).
/// - `redis://...` and the other Redis schemes: `instance_name` prefixes
///   every key, so several apps can share one Redis.
/// - `sqlserver://...` or an ADO.NET connection string (`Server=...;...`):
///   the table `sql_schema.sql_table`, made by `sql-cache create`.
pub async fn open(config: &Config) -> Result<(Arc<dyn DistributedCache>, &'static str), String> {
    let url = config.cache_url.trim();
    let scheme = url_scheme(url)
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    if scheme == "memory" {
        return Ok((Arc::new(cache_memory::MemoryCache::new()), "memory"));
    }
    if REDIS_SCHEMES.contains(&scheme.as_str()) {
        return open_redis(url, config).await.map(|cache| (cache, "redis"));
    }
    if scheme == "sqlserver" || (scheme.is_empty() && url.contains('=')) {
        return open_sqlserver(url, config)
            .await
            .map(|cache| (cache, "sqlserver"));
    }
    Err(format!(
        "CACHE_URL '{}' is not supported; use memory://, redis://host:port, \
         sqlserver://... or a SQL Server connection string",
        redact(url)
    ))
}

// A cache is an optimisation: wait for it briefly (`cache_timeout`), then
// serve from the upstream. The backends' own defaults (5 s) suit jobs that
// would rather wait than recompute.

#[cfg(feature = "redis")]
async fn open_redis(url: &str, config: &Config) -> Result<Arc<dyn DistributedCache>, String> {
    let cache = cache_redis::RedisCache::builder()
        .url(url)
        .instance_name(&config.instance_name)
        .connect_timeout(config.cache_timeout)
        .command_timeout(config.cache_timeout)
        .build()
        .map_err(|e| format!("cannot open Redis at {}: {e}", redact(url)))?;
    // build() connects lazily; ping keeps connect errors at startup.
    cache
        .ping()
        .await
        .map_err(|e| format!("cannot open Redis at {}: {e}", redact(url)))?;
    Ok(Arc::new(cache))
}

#[cfg(not(feature = "redis"))]
async fn open_redis(url: &str, _: &Config) -> Result<Arc<dyn DistributedCache>, String> {
    Err(format!(
        "CACHE_URL '{}' needs the `redis` feature (on by default); \
         rebuild without --no-default-features",
        redact(url)
    ))
}

#[cfg(feature = "sqlserver")]
async fn open_sqlserver(conn: &str, config: &Config) -> Result<Arc<dyn DistributedCache>, String> {
    let (schema, table) = (&config.sql_schema, &config.sql_table);
    // The backend's errors never contain the password.
    let cache = cache_sqlserver::SqlServerCache::builder()
        .connection_string(conn)
        .schema(schema)
        .table(table)
        .connect_timeout(config.cache_timeout)
        .command_timeout(config.cache_timeout)
        .build()
        .await
        .map_err(|e| format!("cannot open SQL Server table {schema}.{table}: {e}"))?;
    Ok(Arc::new(cache))
}

#[cfg(not(feature = "sqlserver"))]
async fn open_sqlserver(_: &str, _: &Config) -> Result<Arc<dyn DistributedCache>, String> {
    Err("a SQL Server CACHE_URL needs the `sqlserver` feature: \
         cargo run -p cache-example-web --features sqlserver"
        .to_string())
}

/// The scheme of `url` when it starts like a URL (`letters://`); `None` for
/// anything else, such as a connection string whose password holds `://`.
fn url_scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .then_some(scheme)
}

/// `url` with the password in `user:password@` replaced by `***`, for
/// messages. Anything that is not a URL (a connection string) is not shown.
pub fn redact(url: &str) -> String {
    let Some(scheme) = url_scheme(url) else {
        return "<connection string>".to_string();
    };
    let rest = &url[scheme.len() + 3..];
    // The user info ends at the last '@': a password may hold an unescaped
    // '/', '?' or '#', which would otherwise end the authority early and
    // leave the rest of the password in the message.
    let mut out = format!("{scheme}://");
    let rest = match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let (user, hidden) = match userinfo.split_once(':') {
                Some((u, _)) => (u, ":***"),
                None => (userinfo, ""),
            };
            if user.contains(['/', '?', '#', ';']) {
                // Not a plain `user:password@`: show nothing of it.
                return format!("{scheme}://***");
            }
            out.push_str(user);
            out.push_str(hidden);
            out.push('@');
            &rest[at + 1..]
        }
        None => rest,
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    out.push_str(authority);
    // Query parameters may carry passwords too (`?pass=`, `;password=`).
    match tail.find(['?', ';']) {
        Some(i) => {
            out.push_str(&tail[..i]);
            out.push_str("?***");
        }
        None => out.push_str(tail),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Config {
        Config::from_args(["--cache-url".to_string(), url.to_string()], |_| None)
            .expect("valid config")
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("redis://user:s3cret@host:6380/0"),
            "redis://user:***@host:6380/0"
        );
        assert_eq!(redact("rediss://:s3cret@host/"), "rediss://:***@host/");
        assert_eq!(
            redact("redis+unix:///tmp/r.sock?db=1&pass=s3cret"),
            "redis+unix:///tmp/r.sock?***"
        );
        assert_eq!(
            redact("Server=h;User Id=sa;Password=s3cret"),
            "<connection string>"
        );
        assert_eq!(redact("redis://host:6380"), "redis://host:6380");
        // A connection string whose password holds "://" is not a URL.
        assert_eq!(
            redact("Server=h;Password=s3cret://x"),
            "<connection string>"
        );
        // Unescaped '/', '?', '#' in a password do not end the user info.
        for url in [
            "redis://:pa/s3cret@host:6380/0",
            "redis://u:pa?s3cret@host",
            "rediss://u:pa#s3cret@host/1",
        ] {
            let shown = redact(url);
            assert!(!shown.contains("s3cret"), "{url} -> {shown}");
            assert!(shown.contains(":***@host"), "{url} -> {shown}");
        }
        // An '@' in a query is not user info; the query is still hidden.
        assert_eq!(
            redact("redis+unix:///s?user=a@b&pass=s3cret"),
            "redis+unix://***"
        );
        assert_eq!(redact("memory://"), "memory://");
    }

    #[tokio::test]
    async fn unknown_scheme_is_an_error() {
        let err = open(&config("ftp://user:pw@x")).await.unwrap_err();
        assert!(err.contains("not supported"), "{err}");
        assert!(!err.contains("pw"), "{err}");
        assert!(open(&config("memory://")).await.is_ok());
        // Not a URL: taken as a connection string (opened lazily with the
        // `sqlserver` feature, refused without it), and never echoed.
        if let Err(err) = open(&config("Server=h;Password=s3cret://x")).await {
            assert!(!err.contains("s3cret"), "{err}");
            assert!(err.contains("sqlserver"), "{err}");
        }
    }
}
