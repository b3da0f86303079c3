//! Opening a cache from a URL or connection string, and keeping the
//! passwords in them out of every message.

use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::DistributedCache;

use crate::failure::Failure;

/// Settings beside the URL that some backends need.
#[derive(Clone, Debug, Default)]
// Each backend reads only its own fields: a build without the other one
// leaves them unread.
#[cfg_attr(not(all(feature = "redis", feature = "sqlserver")), allow(dead_code))]
pub struct BackendFlags {
    /// Redis: the key prefix (.NET's `InstanceName`).
    pub instance_name: Option<String>,
    /// SQL Server: the table's schema.
    pub schema: String,
    /// SQL Server: the cache table (required there).
    pub table: Option<String>,
    /// Connect and command timeout for network backends.
    pub timeout: Option<Duration>,
    /// Connections to keep (SQL Server's pool; Redis multiplexes a few).
    pub pool_size: Option<u32>,
}

/// Which backend a URL names, decided without any I/O.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `memory://`, with an optional size limit in bytes.
    Memory {
        /// `?capacity=`: the size limit in bytes.
        capacity: Option<u64>,
    },
    /// One of the Redis schemes; the URL as given.
    Redis(String),
    /// `sqlserver://` or an ADO.NET connection string, as given.
    SqlServer(String),
}

impl Target {
    /// A short name for reports: `memory`, `redis`, `sqlserver`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Memory { .. } => "memory",
            Target::Redis(_) => "redis",
            Target::SqlServer(_) => "sqlserver",
        }
    }
}

const REDIS_SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "redis+unix",
    "unix",
    "redis+cluster",
    "rediss+cluster",
];

const SUPPORTED: &str = "memory://, redis://, rediss://, redis+unix://, unix://, \
    redis+cluster://, rediss+cluster://, sqlserver:// or an ADO.NET connection string \
    (Server=...;Database=...)";

/// Splits `scheme:rest` if `s` starts with a URL scheme (RFC 3986: a letter,
/// then letters, digits, `+`, `-`, `.`).
fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = s.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    if first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        Some((scheme, rest))
    } else {
        None
    }
}

/// Whether `s` looks like an ADO.NET connection string: `key=value;...`
/// whose first key is a server keyword.
fn is_connection_string(s: &str) -> bool {
    let Some((first_key, _)) = s.split_once('=') else {
        return false;
    };
    let k = first_key.trim().to_ascii_lowercase();
    matches!(
        k.as_str(),
        "server"
            | "data source"
            | "address"
            | "addr"
            | "network address"
            | "host"
            | "database"
            | "initial catalog"
            | "user id"
            | "uid"
            | "integrated security"
            | "trusted_connection"
            | "encrypt"
            | "trustservercertificate"
            | "application name"
    )
}

/// Decides which backend `url` names, checking everything that can be
/// checked without I/O. Errors are usage errors (exit 2).
pub fn classify(url: &str) -> Result<Target, Failure> {
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(Failure::usage(format!(
            "the cache URL is empty; expected {SUPPORTED}"
        )));
    }
    if let Some((scheme, rest)) = split_scheme(trimmed) {
        let lower = scheme.to_ascii_lowercase();
        if lower == "memory" {
            return parse_memory(rest).map(|capacity| Target::Memory { capacity });
        }
        if REDIS_SCHEMES.contains(&lower.as_str()) {
            return Ok(Target::Redis(trimmed.to_string()));
        }
        if lower == "sqlserver" || lower == "mssql" {
            return Ok(Target::SqlServer(trimmed.to_string()));
        }
        // `localhost:6379` parses as scheme `localhost`.
        if rest.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
            return Err(Failure::usage(format!(
                "'{}' is not a cache URL (no scheme); did you mean redis://{}?",
                redact(trimmed),
                redact(trimmed)
            )));
        }
        return Err(Failure::usage(format!(
            "unknown URL scheme '{scheme}' in '{}'; expected {SUPPORTED}",
            redact(trimmed)
        )));
    }
    if is_connection_string(trimmed) {
        return Ok(Target::SqlServer(trimmed.to_string()));
    }
    Err(Failure::usage(format!(
        "'{}' is not a cache URL; expected {SUPPORTED}",
        redact(trimmed)
    )))
}

/// The part of a `memory:` URL after the scheme: `//` or `` plus an optional
/// `?capacity=SIZE`.
fn parse_memory(rest: &str) -> Result<Option<u64>, Failure> {
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (host, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !host.is_empty() && host != "/" {
        return Err(Failure::usage(format!(
            "memory:// takes no host or path (got '{host}'); use memory:// or memory://?capacity=64MiB"
        )));
    }
    let mut capacity = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "capacity" => {
                let bytes = crate::cli::parse_size(value)
                    .map_err(|e| Failure::usage(format!("memory:// capacity: {e}")))?;
                if bytes == 0 {
                    return Err(Failure::usage("memory:// capacity must be greater than zero"));
                }
                capacity = Some(bytes);
            }
            other => {
                return Err(Failure::usage(format!(
                    "unknown memory:// parameter '{other}'; the only one is capacity (e.g. memory://?capacity=64MiB)"
                )))
            }
        }
    }
    Ok(capacity)
}

/// Opens the cache `url` names. Usage errors (exit 2) for what is wrong
/// with the URL itself, cache errors (exit 3) for what the backend reports.
pub async fn open(url: &str, flags: &BackendFlags) -> Result<Arc<dyn DistributedCache>, Failure> {
    match classify(url)? {
        Target::Memory { capacity } => {
            let mut builder = cache_memory::MemoryCache::builder();
            if let Some(bytes) = capacity {
                builder = builder.capacity_bytes(bytes);
            }
            Ok(Arc::new(builder.build()?))
        }
        Target::Redis(url) => open_redis(&url, flags).await,
        Target::SqlServer(conn) => open_sqlserver(&conn, flags).await,
    }
}

#[cfg(feature = "redis")]
async fn open_redis(url: &str, flags: &BackendFlags) -> Result<Arc<dyn DistributedCache>, Failure> {
    let mut builder = cache_redis::RedisCache::builder().url(url);
    if let Some(name) = &flags.instance_name {
        builder = builder.instance_name(name);
    }
    if let Some(t) = flags.timeout.filter(|t| !t.is_zero()) {
        builder = builder.connect_timeout(t).command_timeout(t);
    }
    // build() connects lazily; ping keeps connect errors at open.
    let cache = builder.build()?;
    cache.ping().await?;
    Ok(Arc::new(cache))
}

#[cfg(not(feature = "redis"))]
async fn open_redis(
    _url: &str,
    _flags: &BackendFlags,
) -> Result<Arc<dyn DistributedCache>, Failure> {
    Err(Failure::usage(
        "this cachectl was built without Redis support; rebuild with `--features redis`",
    ))
}

#[cfg(feature = "sqlserver")]
async fn open_sqlserver(
    conn: &str,
    flags: &BackendFlags,
) -> Result<Arc<dyn DistributedCache>, Failure> {
    let Some(table) = &flags.table else {
        return Err(Failure::usage(
            "SQL Server needs the cache table: pass --table NAME (or set CACHE_SQL_TABLE)",
        ));
    };
    let mut builder = cache_sqlserver::SqlServerCache::builder()
        .connection_string(conn)
        .schema(&flags.schema)
        .table(table)
        // A command line must not delete other apps' expired rows behind their back.
        .background_cleanup(false);
    if let Some(t) = flags.timeout.filter(|t| !t.is_zero()) {
        builder = builder.connect_timeout(t).command_timeout(t);
    }
    if let Some(n) = flags.pool_size {
        builder = builder.pool_size(n.max(1));
    }
    Ok(Arc::new(builder.build().await?))
}

#[cfg(not(feature = "sqlserver"))]
async fn open_sqlserver(
    _conn: &str,
    _flags: &BackendFlags,
) -> Result<Arc<dyn DistributedCache>, Failure> {
    Err(Failure::usage(
        "this cachectl was built without SQL Server support; rebuild with `--features sqlserver`",
    ))
}

/// Query and connection-string keys whose values are secrets.
fn is_secret_key(key: &str) -> bool {
    matches!(
        key.trim().to_ascii_lowercase().as_str(),
        "password" | "pwd" | "pass" | "passwd" | "secret" | "token"
    )
}

/// `url` with its secrets replaced by `***`: the password in
/// `user:pass@`, and `password=`-like query or connection-string values.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    for secret in secrets(url) {
        out = out.replace(&secret, "***");
    }
    out
}

/// The secrets in `url`, as written and percent-decoded, longest first
/// (so a secret that contains another is replaced whole).
pub fn secrets(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Some((_, rest)) = split_scheme(url).filter(|(_, r)| r.starts_with("//")) {
        let after = &rest[2..];
        let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let authority = &after[..authority_end];
        if let Some((userinfo, _host)) = authority.rsplit_once('@') {
            if let Some((_user, pass)) = userinfo.split_once(':') {
                found.push(pass.to_string());
            }
        }
        if let Some(q) = after.find('?') {
            let query = &after[q + 1..];
            let query = query.split('#').next().unwrap_or("");
            for pair in query.split('&') {
                if let Some((k, v)) = pair.split_once('=') {
                    if is_secret_key(k) {
                        found.push(v.to_string());
                    }
                }
            }
        }
    } else {
        for (k, raw, value) in connection_pairs(url) {
            if is_secret_key(&k) {
                found.push(raw);
                found.push(value);
            }
        }
    }
    let decoded: Vec<String> = found.iter().filter_map(|s| percent_decode(s)).collect();
    found.extend(decoded);
    found.retain(|s| !s.is_empty());
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found.dedup();
    found
}

/// The `key=value` pairs of an ADO.NET connection string: the key, the value
/// as written (quotes included) and the value unquoted. A value quoted with
/// `'` or `"` may hold `;`, and the quote doubled stands for itself.
fn connection_pairs(s: &str) -> Vec<(String, String, String)> {
    let mut pairs = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().trim_start_matches(';').trim().to_string();
        let after = &rest[eq + 1..];
        let lead = after.len() - after.trim_start().len();
        let body = &after[lead..];
        let (raw_len, value) = match body.chars().next() {
            Some(q @ ('\'' | '"')) => {
                let mut value = String::new();
                let mut chars = body.char_indices().skip(1).peekable();
                let mut end = body.len();
                while let Some((i, c)) = chars.next() {
                    if c == q {
                        if chars.peek().map(|&(_, n)| n) == Some(q) {
                            value.push(q);
                            chars.next();
                            continue;
                        }
                        end = i + c.len_utf8();
                        break;
                    }
                    value.push(c);
                }
                (end, value)
            }
            _ => {
                let end = body.find(';').unwrap_or(body.len());
                (end, body[..end].trim().to_string())
            }
        };
        let raw = body[..raw_len].trim_end().to_string();
        pairs.push((key, raw, value));
        let consumed = eq + 1 + lead + raw_len;
        rest = &rest[consumed.min(rest.len())..];
        rest = rest.find(';').map_or("", |i| &rest[i + 1..]);
    }
    pairs
}

/// `%XX` decoding; `None` when `s` has no escapes or they are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Scrubs the secrets of one URL out of any message.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for the secrets in `url`.
    pub fn new(url: &str) -> Self {
        Redactor {
            secrets: secrets(url),
        }
    }

    /// `message` with every secret replaced by `***`.
    pub fn scrub(&self, message: &str) -> String {
        let mut out = message.to_string();
        for s in &self.secrets {
            out = out.replace(s, "***");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_forms() {
        assert_eq!(classify("memory://"), Ok(Target::Memory { capacity: None }));
        assert_eq!(classify("memory:"), Ok(Target::Memory { capacity: None }));
        assert_eq!(classify("MEMORY://"), Ok(Target::Memory { capacity: None }));
        assert_eq!(
            classify("memory://?capacity=64MiB"),
            Ok(Target::Memory {
                capacity: Some(64 << 20)
            })
        );
        assert_eq!(
            classify("memory://?capacity=1000"),
            Ok(Target::Memory {
                capacity: Some(1000)
            })
        );
        assert!(classify("memory://host").is_err());
        assert!(classify("memory://?capacity=0").is_err());
        assert!(classify("memory://?capacity=lots").is_err());
        assert!(classify("memory://?size=1").is_err());
    }

    #[test]
    fn redis_and_sqlserver_forms() {
        for url in [
            "redis://localhost:6379/0",
            "rediss://u:p@h:6380",
            "redis+unix:///tmp/r.sock",
            "unix:///tmp/r.sock",
            "redis+cluster://a:7000,b:7001",
            "rediss+cluster://a:7000",
        ] {
            assert_eq!(classify(url), Ok(Target::Redis(url.into())), "{url}");
        }
        for conn in [
            "sqlserver://sa:pw@localhost:1433/app",
            "Server=localhost;Database=app;User Id=sa;Password=x",
            "Data Source=tcp:host,1433;Initial Catalog=app",
            "server = h; database = d",
        ] {
            assert_eq!(classify(conn), Ok(Target::SqlServer(conn.into())), "{conn}");
        }
    }

    #[test]
    fn bad_urls_are_usage_errors_without_secrets() {
        let e = classify("mongodb://u:hunter2@h/db").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.message().contains("unknown URL scheme 'mongodb'"),
            "{e:?}"
        );
        assert!(!e.message().contains("hunter2"), "{e:?}");
        assert!(e.message().contains("u:***@h"), "{e:?}");
        let e = classify("localhost:6379").unwrap_err();
        assert!(
            e.message().contains("did you mean redis://localhost:6379"),
            "{e:?}"
        );
        assert!(classify("").is_err());
        assert!(classify("just words").is_err());
        assert!(classify("Foo=bar").is_err());
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("redis://user:s3cret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(redact("redis://:s3cret@host"), "redis://:***@host");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(redact("redis://user@host"), "redis://user@host");
        assert_eq!(
            redact("redis+unix:///tmp/s.sock?db=1&pass=pw1"),
            "redis+unix:///tmp/s.sock?db=1&pass=***"
        );
        assert_eq!(
            redact("Server=h;User Id=sa;Password=Pa55word!;Database=d"),
            "Server=h;User Id=sa;Password=***;Database=d"
        );
        assert_eq!(redact("Server=h;pwd='xy'"), "Server=h;pwd=***");
        assert_eq!(
            redact("Server=h;Password='p;w''x';Database=d"),
            "Server=h;Password=***;Database=d"
        );
        assert_eq!(
            Redactor::new("Server=h;Password=\"a;b\"").scrub("login a;b failed"),
            "login *** failed"
        );
        let r = Redactor::new("redis://u:p%40ss@h");
        assert_eq!(
            r.scrub("auth failed for p@ss and p%40ss"),
            "auth failed for *** and ***"
        );
    }
}
