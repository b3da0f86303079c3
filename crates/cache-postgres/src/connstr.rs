//! Connection text: a `postgres://` URL or a libpq `key=value` string, as
//! psql and libpq take them. tokio-postgres parses most of it; the TLS
//! settings it lacks (`sslmode=verify-ca|verify-full`, `sslrootcert`) are
//! taken out first and handled here, and passwords are hidden for display.

use std::path::PathBuf;
use std::str::FromStr;

use cache_abstractions::{Error, Result};

/// URL schemes this backend opens (lower case), as libpq accepts them.
pub const URL_SCHEMES: &[&str] = &["postgres", "postgresql"];

/// Every keyword libpq knows (PostgreSQL 17's `libpq-connect` list). A
/// scheme-less text is a libpq connection string only when all its keys
/// are among these, so an ADO.NET string (`Server=..;`) never passes.
const LIBPQ_KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "requiressl",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
];

/// Keys whose values are secrets.
const SECRET_KEYS: &[&str] = &["password", "sslpassword"];

/// How the connection is encrypted and what is checked: libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, without checking its certificate
    /// (libpq's default).
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is not checked (as in libpq).
    Require,
    /// TLS, and the certificate must chain to a trusted root.
    VerifyCa,
    /// TLS, a trusted chain, and the certificate must name the host.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self> {
        Ok(match value {
            "disable" => SslMode::Disable,
            // `allow` tries plain first; TLS-if-offered is the closest safe match.
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(Error::config(
                    "sslmode must be disable, allow, prefer, require, verify-ca or verify-full",
                ))
            }
        })
    }

    /// Whether the server's certificate is checked against trusted roots.
    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// Where trusted root certificates come from (libpq's `sslrootcert`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RootCerts {
    /// The operating system's trust store (`sslrootcert=system`, and the
    /// default here).
    #[default]
    System,
    /// A PEM file of one or more certificates.
    File(PathBuf),
}

/// A parsed connection text: the driver's settings and the TLS settings,
/// with a redacted form for messages.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) pg: tokio_postgres::Config,
    pub(crate) ssl_mode: SslMode,
    pub(crate) root_certs: RootCerts,
    pub(crate) redacted: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("server", &self.redacted)
            .field("ssl_mode", &self.ssl_mode)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// Parses a URL or libpq string. Errors never quote the text (it may
    /// hold a password).
    pub(crate) fn parse(text: &str) -> Result<Target> {
        let redacted = redact(text);
        let (rest, taken) = if is_url(text) {
            take_from_url(text)?
        } else {
            take_from_key_values(text)?
        };
        let mut ssl_mode = SslMode::default();
        let mut root_certs = RootCerts::default();
        for (key, value) in taken {
            match key.as_str() {
                "sslmode" => ssl_mode = SslMode::parse(&value)?,
                _ => {
                    root_certs = match value.as_str() {
                        "system" | "" => RootCerts::System,
                        path => RootCerts::File(PathBuf::from(path)),
                    }
                }
            }
        }
        let mut pg = tokio_postgres::Config::from_str(&rest)
            .map_err(|e| Error::config(format!("invalid PostgreSQL connection string ({e})")))?;
        if pg.get_hosts().is_empty() {
            pg.host("localhost");
        }
        if pg.get_user().is_none() {
            // libpq's default: the operating system user's name.
            let user = std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_else(|_| "postgres".to_owned());
            pg.user(&user);
        }
        pg.ssl_mode(match ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        Ok(Target {
            pg,
            ssl_mode,
            root_certs,
            redacted,
        })
    }

    /// The first host, for messages and TLS server names.
    pub(crate) fn host_label(&self) -> String {
        match self.pg.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_owned(),
        }
    }
}

fn is_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    URL_SCHEMES
        .iter()
        .any(|s| lower.starts_with(s) && lower[s.len()..].starts_with("://"))
}

/// Whether `text` is a libpq `key=value` connection string (not a URL):
/// it parses as one and every key is a libpq keyword.
///
/// ```
/// use cache_postgres::is_connection_string;
///
/// assert!(is_connection_string("host=db port=5432 dbname=app user=svc password='s 3'"));
/// assert!(!is_connection_string("postgres://svc@db/app"));
/// assert!(!is_connection_string("Server=db;Database=app")); // ADO.NET
/// assert!(!is_connection_string(""));
/// ```
pub fn is_connection_string(text: &str) -> bool {
    match key_values(text) {
        Ok(pairs) => {
            !pairs.is_empty()
                && pairs
                    .iter()
                    .all(|(k, _)| LIBPQ_KEYWORDS.contains(&k.as_str()))
        }
        Err(_) => false,
    }
}

/// The text with every secret hidden: the URL's password and the
/// `password` / `sslpassword` values. Never fails; a text that doesn't
/// parse is hidden from the first secret key on.
///
/// ```
/// use cache_postgres::redact;
///
/// assert_eq!(redact("postgres://svc:s3cret@db:5432/app"), "postgres://svc:***@db:5432/app");
/// assert_eq!(redact("host=db password='a b' user=svc"), "host=db password=*** user=svc");
/// ```
pub fn redact(text: &str) -> String {
    if is_url(text) {
        return redact_url(text);
    }
    match key_values(text) {
        Ok(pairs) if is_connection_string(text) => pairs
            .iter()
            .map(|(k, v)| {
                if SECRET_KEYS.contains(&k.as_str()) {
                    format!("{k}=***")
                } else {
                    format!("{k}={}", quote(v))
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        _ => hide_from_secret(text),
    }
}

/// Everything from the first secret-looking word on, hidden.
fn hide_from_secret(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    match SECRET_KEYS
        .iter()
        .chain(["pass", "pwd"].iter())
        .filter_map(|k| lower.find(k))
        .min()
    {
        // `find` on the ASCII-lowercased copy gives byte offsets valid in `text`.
        Some(at) => format!("{}***", &text[..at]),
        None => text.to_owned(),
    }
}

fn redact_url(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return hide_from_secret(text);
    };
    let (head, rest) = text.split_at(start);
    // The user info runs to the LAST '@' before the query: a password may
    // hold an unescaped '/', '?' or '#'.
    let (authority_and_path, query) = match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let after = &rest[at + 1..];
            let user = match userinfo.find(':') {
                Some(colon) => format!("{}:***", &userinfo[..colon]),
                None => userinfo.to_owned(),
            };
            let (addr, query) = split_query(after);
            (format!("{user}@{addr}"), query)
        }
        None => {
            let (addr, query) = split_query(rest);
            (addr.to_owned(), query)
        }
    };
    let mut out = format!("{head}{authority_and_path}");
    if let Some(query) = query {
        let parts: Vec<String> = query
            .split('&')
            .map(|pair| {
                let key = pair.split('=').next().unwrap_or("");
                if SECRET_KEYS.contains(&percent_decode(key).as_str()) {
                    format!("{key}=***")
                } else {
                    pair.to_owned()
                }
            })
            .collect();
        out.push('?');
        out.push_str(&parts.join("&"));
    }
    out
}

fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (s, None),
    }
}

/// Keys handled here rather than by tokio-postgres.
const TAKEN_KEYS: &[&str] = &["sslmode", "sslrootcert"];

type Taken = Vec<(String, String)>;

/// The URL without the taken query parameters, and their decoded values.
fn take_from_url(text: &str) -> Result<(String, Taken)> {
    let (base, query) = split_query(text.trim());
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(k);
        if TAKEN_KEYS.contains(&key.as_str()) {
            taken.push((key, percent_decode(v)));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, taken))
}

/// The libpq string without the taken keys, and their values.
fn take_from_key_values(text: &str) -> Result<(String, Taken)> {
    let pairs = key_values(text).map_err(|why| {
        Error::config(format!(
            "not a postgres:// URL nor a libpq key=value connection string ({why})"
        ))
    })?;
    if pairs.is_empty() {
        return Err(Error::config("the connection string is empty"));
    }
    let (taken, kept): (Taken, Taken) = pairs
        .into_iter()
        .partition(|(k, _)| TAKEN_KEYS.contains(&k.as_str()));
    let rest = kept
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect::<Vec<_>>()
        .join(" ");
    Ok((rest, taken))
}

/// A libpq value, quoted when it needs to be.
fn quote(v: &str) -> String {
    if !v.is_empty() && !v.contains([' ', '\t', '\n', '\r', '\'', '\\']) {
        return v.to_owned();
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('\'');
    for c in v.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Splits a libpq connection string into its pairs, as libpq's
/// `conninfo_parse` does: `key = value` separated by white space, values
/// optionally single-quoted, backslash escaping the next character. The
/// error names what is wrong, never the text.
fn key_values(text: &str) -> std::result::Result<Vec<(String, String)>, &'static str> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err("a keyword without '=' and a value");
        }
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err("a keyword that is not a word");
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("an unterminated quoted value"),
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err("an unterminated quoted value"),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_follow_libpq_quoting() {
        let pairs =
            key_values(r"host=db  port = 5433 password='it''s' user=a\ b options='-c x=\'y\''")
                .unwrap_err();
        // libpq has no '' escape: the second quote ends the value, then `s'` has no '='.
        assert_eq!(pairs, "a keyword without '=' and a value");
        let pairs =
            key_values(r"host=db  port = 5433 password='it\'s' user=a\ b dbname=''").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("host".into(), "db".into()),
                ("port".into(), "5433".into()),
                ("password".into(), "it's".into()),
                ("user".into(), "a b".into()),
                ("dbname".into(), "".into()),
            ]
        );
        assert!(key_values("host='db").is_err());
        assert!(key_values("host").is_err());
    }

    #[test]
    fn connection_strings_are_libpq_only() {
        assert!(is_connection_string("host=/var/run/postgresql dbname=test"));
        assert!(is_connection_string("  user=postgres  "));
        assert!(!is_connection_string("Host=db;Username=x;Password=y"));
        assert!(!is_connection_string("Server=db"));
        assert!(!is_connection_string("postgresql://db/test"));
        assert!(!is_connection_string("host=db bogus=1"));
        assert!(!is_connection_string("   "));
    }

    #[test]
    fn redaction_hides_every_secret() {
        for (text, want) in [
            ("postgres://u:p%40ss/w?rd@h/db", "postgres://u:***@h/db"),
            (
                "postgresql://u@h:5432/db?password=x&sslmode=require",
                "postgresql://u@h:5432/db?password=***&sslmode=require",
            ),
            ("postgres://h/db", "postgres://h/db"),
            (
                "host=h password=hunter2 sslpassword='k y'",
                "host=h password=*** sslpassword=***",
            ),
            ("host=h password='unterminated", "host=h ***"),
            ("Server=h;Password=hunter2", "Server=h;***"),
        ] {
            let got = redact(text);
            assert_eq!(got, want, "{text}");
            assert!(!got.contains("hunter2") && !got.contains("p%40ss"));
        }
    }

    #[test]
    fn targets_take_tls_settings_out_of_the_text() {
        let t = Target::parse(
            "postgres://u:pw@db:5433/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(t.ssl_mode, SslMode::VerifyFull);
        assert_eq!(t.root_certs, RootCerts::File("/etc/ca.pem".into()));
        assert_eq!(t.pg.get_application_name(), Some("x"));
        assert_eq!(t.pg.get_ports(), &[5433]);
        assert_eq!(t.host_label(), "db");
        let t = Target::parse("host=db user=u sslmode=verify-ca sslrootcert=system").unwrap();
        assert_eq!(t.ssl_mode, SslMode::VerifyCa);
        assert_eq!(t.root_certs, RootCerts::System);
        let t = Target::parse("dbname=x").unwrap();
        assert_eq!(t.ssl_mode, SslMode::Prefer);
        assert_eq!(t.host_label(), "localhost");
    }

    #[test]
    fn bad_text_is_a_config_error_without_the_text() {
        for bad in [
            "host=db password=hunter2 sslmode=sometimes",
            "host=db password=hunter2 frobnicate=1",
            "postgres://u:hunter2@db/app?port=notanumber",
            "password='hunter2",
        ] {
            let e = Target::parse(bad).unwrap_err();
            assert_eq!(e.kind(), cache_abstractions::ErrorKind::Config, "{bad}");
            assert!(!format!("{e} {e:?}").contains("hunter2"), "{bad}: {e}");
        }
    }
}
