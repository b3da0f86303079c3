//! Connection strings: the ADO.NET form .NET apps already use, and a
//! `sqlserver://` URL form for command lines. The password is kept out of
//! every `Debug`, `Display` and error message.

use std::fmt;
use std::time::Duration;

use cache_abstractions::{Error, Result};

/// The default TCP port of SQL Server.
const DEFAULT_PORT: u16 = 1433;
/// ADO.NET's default `Connect Timeout`.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// How the connection is encrypted (ADO.NET's `Encrypt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Encrypt {
    /// TLS for the whole session; the default, as in Microsoft.Data.SqlClient
    /// 4 and later (`Encrypt=true|yes|mandatory`).
    Mandatory,
    /// Only the login packet is encrypted (`Encrypt=false|no|optional`).
    Optional,
}

/// A parsed connection string.
///
/// ```
/// use cache_sqlserver::ConnectionString;
///
/// let cs: ConnectionString =
///     "Server=tcp:db.example.com,1433;Database=app;User Id=svc;Password='p;w';TrustServerCertificate=true"
///         .parse()?;
/// assert_eq!(cs.host(), "db.example.com");
/// assert_eq!(cs.port(), 1433);
/// assert_eq!(cs.database(), Some("app"));
/// assert!(!format!("{cs:?}").contains("p;w"));
/// # Ok::<(), cache_abstractions::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    host: String,
    port: u16,
    database: Option<String>,
    user: Option<String>,
    password: Option<String>,
    encrypt: Encrypt,
    trust_server_certificate: bool,
    host_name_in_certificate: Option<String>,
    connect_timeout: Duration,
    application_name: Option<String>,
}

impl ConnectionString {
    /// Parses the ADO.NET form (`Server=tcp:host,port;Database=…;User Id=…;
    /// Password=…;Encrypt=…;TrustServerCertificate=…;Connect Timeout=…`) or a
    /// URL `sqlserver://user:password@host:port/database?encrypt=…`.
    ///
    /// Keywords are case-insensitive; values may be quoted with `'` or `"`
    /// (the quote doubled inside), which is how a `;` gets into a password.
    /// Unknown keywords are an error, as in ADO.NET, so a typo never goes
    /// unnoticed; keywords that only matter to .NET's driver (pooling, MARS,
    /// …) are accepted and ignored. Errors never quote a value.
    pub fn parse(s: &str) -> Result<Self> {
        let trimmed = s.trim();
        // Compare bytes: a multi-byte character near the start (in a URL's
        // password, say) must not send a URL down the ADO.NET path, whose
        // errors would quote it.
        let starts_with = |prefix: &str| {
            trimmed
                .as_bytes()
                .get(..prefix.len())
                .is_some_and(|b| b.eq_ignore_ascii_case(prefix.as_bytes()))
        };
        if starts_with("sqlserver://") || starts_with("mssql://") {
            return parse_url(trimmed);
        }
        let mut b = Builder::default();
        for (key, value) in pairs(s)? {
            b.set(&key, value)?;
        }
        b.finish()
    }

    /// The same settings for another address (a proxy, a replica); the
    /// server certificate is still checked against the original host name.
    #[must_use]
    pub fn with_address(mut self, host: &str, port: u16) -> Self {
        if self.host_name_in_certificate.is_none() {
            self.host_name_in_certificate = Some(self.host.clone());
        }
        self.host = host.to_owned();
        self.port = port;
        self
    }

    /// The server's host name or address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port (1433 unless given).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database (`Database` / `Initial Catalog`), if given.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The SQL login, if given.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether a password was given (the password itself is not exposed).
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The encryption mode.
    pub fn encrypt(&self) -> Encrypt {
        self.encrypt
    }

    /// Whether the server's certificate is accepted without validation.
    pub fn trust_server_certificate(&self) -> bool {
        self.trust_server_certificate
    }

    /// How long opening a connection may take (`Connect Timeout`, 15 s by default).
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The same connection string with the password replaced by `***`, for
    /// logs and messages.
    pub fn redacted(&self) -> String {
        // Quoted when needed, so the text parses back to the same host.
        let mut s = format!(
            "Server={}",
            quote_value(&format!("tcp:{},{}", self.host, self.port))
        );
        if let Some(db) = &self.database {
            s.push_str(&format!(";Database={}", quote_value(db)));
        }
        if let Some(user) = &self.user {
            s.push_str(&format!(";User Id={}", quote_value(user)));
        }
        if self.password.is_some() {
            s.push_str(";Password=***");
        }
        s.push_str(match self.encrypt {
            Encrypt::Mandatory => ";Encrypt=true",
            Encrypt::Optional => ";Encrypt=false",
        });
        if self.trust_server_certificate {
            s.push_str(";TrustServerCertificate=true");
        }
        s
    }

    /// The same settings as a tiberius configuration, for the workspace's
    /// benchmarks and server tests that talk to the server directly. Not
    /// part of the API (it would put tiberius in this crate's semver
    /// surface): only with the doc-hidden feature `internals`. It holds the
    /// password: don't log it.
    #[cfg(feature = "internals")]
    #[doc(hidden)]
    pub fn tiberius_config(&self) -> tiberius::Config {
        self.driver_config()
    }

    /// The same settings as a tiberius configuration (holds the password).
    pub(crate) fn driver_config(&self) -> tiberius::Config {
        let mut c = tiberius::Config::new();
        c.host(&self.host);
        c.port(self.port);
        if let Some(db) = &self.database {
            c.database(db);
        }
        if let Some(user) = &self.user {
            c.authentication(tiberius::AuthMethod::sql_server(
                user,
                self.password.as_deref().unwrap_or(""),
            ));
        }
        c.encryption(match self.encrypt {
            Encrypt::Mandatory => tiberius::EncryptionLevel::Required,
            Encrypt::Optional => tiberius::EncryptionLevel::Off,
        });
        if self.trust_server_certificate {
            c.trust_cert();
        }
        if let Some(h) = &self.host_name_in_certificate {
            c.hostname_in_certificate(h);
        }
        c.application_name(
            self.application_name
                .as_deref()
                .unwrap_or("cache-sqlserver"),
        );
        c
    }
}

impl std::str::FromStr for ConnectionString {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ConnectionString::parse(s)
    }
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("encrypt", &self.encrypt)
            .field("trust_server_certificate", &self.trust_server_certificate)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl fmt::Display for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The URL schemes [`ConnectionString::parse`] takes (lower case).
pub const URL_SCHEMES: &[&str] = &["sqlserver", "mssql"];

/// Keywords that name the server: a text holding one is a connection string.
const SERVER_KEYS: &[&str] = &[
    "server",
    "data source",
    "address",
    "addr",
    "network address",
];

/// Whether `text` is an ADO.NET connection string (`Server=…;…`, no URL
/// scheme): it splits into `key=value` pairs and one names the server.
/// Cheap and without I/O; the facade uses it to route scheme-less text.
///
/// ```
/// assert!(cache_sqlserver::is_connection_string("Server=tcp:db,1433;Password=x"));
/// assert!(cache_sqlserver::is_connection_string("Data Source=db;User Id=u"));
/// assert!(!cache_sqlserver::is_connection_string("redis://db:6379"));
/// assert!(!cache_sqlserver::is_connection_string("app:pw@db:6379"));
/// ```
pub fn is_connection_string(text: &str) -> bool {
    pairs(text).is_ok_and(|pairs| {
        pairs
            .iter()
            .any(|(key, _)| SERVER_KEYS.contains(&normalize_key(key).as_str()))
    })
}

/// `text` (a connection string or `sqlserver://` URL) with every secret
/// hidden; never fails. A string that parses is shown in its normalized
/// form with `Password=***`; one that does not has every value hidden
/// (a misspelled keyword may hold the password; keywords are shown
/// normalized), and text that is not
/// even `key=value` pairs is shown as `<unparsable connection string>`.
///
/// ```
/// assert_eq!(
///     cache_sqlserver::redact("Server=db;User Id=app;Password=hunter2"),
///     "Server=tcp:db,1433;User Id=app;Password=***;Encrypt=true"
/// );
/// assert_eq!(
///     cache_sqlserver::redact("Server=db;Pasword=hunter2"),
///     "server=***;pasword=***"
/// );
/// ```
pub fn redact(text: &str) -> String {
    if let Ok(cs) = ConnectionString::parse(text) {
        return cs.redacted();
    }
    let trimmed = text.trim();
    let scheme = cache_abstractions::url_scheme(trimmed).map(str::to_ascii_lowercase);
    if let Some(scheme) = scheme.filter(|s| URL_SCHEMES.contains(&s.as_str())) {
        // Up to the last '@' is user info (a password may hold '/', '?',
        // '#' or '@'); the query may hold a password too.
        let rest = trimmed.split_once("://").map_or("", |(_, r)| r);
        let host = rest.rfind('@').map_or(rest, |at| &rest[at + 1..]);
        let host = host.split(['/', '?', '#']).next().unwrap_or("");
        return format!("{scheme}://***@{host}");
    }
    match pairs(text) {
        Ok(pairs) if !pairs.is_empty() => pairs
            .iter()
            .map(|(key, _)| format!("{}=***", key.trim()))
            .collect::<Vec<_>>()
            .join(";"),
        _ => "<unparsable connection string>".to_owned(),
    }
}

fn quote_value(v: &str) -> String {
    // '=' too: a value starting with it would read back as an escaped '=' in the key.
    if v.contains([';', '\'', '"', '=']) || v.trim() != v {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_owned()
    }
}

/// Splits `key=value;…` by ADO.NET's rules: `==` in a key is a literal `=`;
/// a value starting with `'` or `"` runs to the matching quote, doubled
/// quotes standing for one; unquoted values are trimmed and end at `;`.
fn pairs(s: &str) -> Result<Vec<(String, String)>> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        // Key.
        let mut key = String::new();
        loop {
            match chars.get(i) {
                None => {
                    if key.trim().is_empty() {
                        return Ok(out);
                    }
                    // The text is not quoted: it is as likely the tail of an
                    // unquoted password holding a ';' as a keyword.
                    return Err(Error::config(format!(
                        "connection string: segment {} has no '=' and value",
                        out.len() + 1
                    )));
                }
                Some(';') if key.trim().is_empty() => {
                    i += 1;
                    key.clear();
                }
                Some(';') => {
                    return Err(Error::config(format!(
                        "connection string: segment {} has no '=' and value",
                        out.len() + 1
                    )))
                }
                Some('=') if chars.get(i + 1) == Some(&'=') => {
                    key.push('=');
                    i += 2;
                }
                Some('=') => {
                    i += 1;
                    break;
                }
                Some(c) => {
                    key.push(*c);
                    i += 1;
                }
            }
        }
        let key = normalize_key(&key);
        if key.is_empty() {
            return Err(Error::config("connection string: a value has no keyword"));
        }
        // Value.
        while chars.get(i).is_some_and(|c| c.is_whitespace() && *c != ';') {
            i += 1;
        }
        let mut value = String::new();
        match chars.get(i) {
            Some(&q) if q == '\'' || q == '"' => {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(Error::config(format!(
                            "connection string: the quoted value of {key:?} has no closing quote"
                        )))
                        }
                        Some(&c) if c == q && chars.get(i + 1) == Some(&q) => {
                            value.push(q);
                            i += 2;
                        }
                        Some(&c) if c == q => {
                            i += 1;
                            break;
                        }
                        Some(&c) => {
                            value.push(c);
                            i += 1;
                        }
                    }
                }
                while chars.get(i).is_some_and(|c| c.is_whitespace()) {
                    i += 1;
                }
                match chars.get(i) {
                    None => {}
                    Some(';') => i += 1,
                    Some(_) => {
                        return Err(Error::config(format!(
                            "connection string: unexpected text after the quoted value of {key:?}"
                        )))
                    }
                }
            }
            _ => {
                while let Some(&c) = chars.get(i) {
                    i += 1;
                    if c == ';' {
                        break;
                    }
                    value.push(c);
                }
                value = value.trim().to_owned();
            }
        }
        out.push((key, value));
    }
    Ok(out)
}

/// Lower case, inner runs of white space as one space.
fn normalize_key(key: &str) -> String {
    key.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

#[derive(Default)]
struct Builder {
    server: Option<String>,
    database: Option<String>,
    user: Option<String>,
    password: Option<String>,
    encrypt: Option<Encrypt>,
    trust: bool,
    host_name_in_certificate: Option<String>,
    connect_timeout: Option<Duration>,
    application_name: Option<String>,
}

/// Keywords of .NET's drivers that do not change how this crate connects.
const IGNORED: &[&str] = &[
    "persist security info",
    "persistsecurityinfo",
    "multipleactiveresultsets",
    "multiple active result sets",
    "pooling",
    "max pool size",
    "min pool size",
    "connection lifetime",
    "load balance timeout",
    "application intent",
    "applicationintent",
    "multisubnetfailover",
    "multi subnet failover",
    "packet size",
    "workstation id",
    "wsid",
    "connect retry count",
    "connectretrycount",
    "connect retry interval",
    "connectretryinterval",
    "command timeout",
    "enlist",
    "transaction binding",
    "type system version",
    "current language",
    "language",
];

impl Builder {
    fn set(&mut self, key: &str, value: String) -> Result<()> {
        match key {
            "server" | "data source" | "address" | "addr" | "network address" => {
                self.server = Some(value)
            }
            "database" | "initial catalog" => self.database = non_empty(value),
            "user id" | "uid" | "user" | "username" | "user name" => self.user = non_empty(value),
            "password" | "pwd" => self.password = Some(value),
            "encrypt" => self.encrypt = Some(match value.to_ascii_lowercase().as_str() {
                "true" | "yes" | "mandatory" => Encrypt::Mandatory,
                "false" | "no" | "optional" => Encrypt::Optional,
                "strict" => return Err(Error::config(
                    "connection string: Encrypt=strict (TDS 8) is not supported; use Encrypt=true",
                )),
                _ => {
                    return Err(bad_value(
                        key,
                        "true, false, yes, no, mandatory or optional",
                    ))
                }
            }),
            "trustservercertificate" | "trust server certificate" => {
                self.trust = boolean(key, &value)?
            }
            "hostnameincertificate" | "host name in certificate" => {
                self.host_name_in_certificate = non_empty(value)
            }
            "connect timeout" | "connection timeout" | "timeout" => {
                let secs: u64 = value
                    .parse()
                    .map_err(|_| bad_value(key, "a whole number of seconds"))?;
                // ADO.NET: 0 means wait forever; a cache must not hang.
                if secs == 0 {
                    return Err(bad_value(key, "at least 1 second"));
                }
                self.connect_timeout = Some(Duration::from_secs(secs));
            }
            "application name" | "app" => self.application_name = non_empty(value),
            "integrated security" | "trusted_connection" | "trusted connection" => {
                let on = matches!(value.to_ascii_lowercase().as_str(), "true" | "yes" | "sspi");
                if on {
                    return Err(Error::unsupported(
                        "connection string: integrated (Windows) security is not supported; use User Id and Password",
                    ));
                }
            }
            "authentication" => {
                let v = value.to_ascii_lowercase();
                if v != "sqlpassword" && v != "sql password" {
                    return Err(Error::unsupported(
                        "connection string: only Authentication=SqlPassword is supported",
                    ));
                }
            }
            k if IGNORED.contains(&k) => {}
            k => {
                return Err(Error::config(format!(
                    "connection string: unknown keyword {k:?}"
                )))
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<ConnectionString> {
        let server = self.server.ok_or_else(|| {
            Error::config("connection string: Server (or Data Source) is missing")
        })?;
        let (host, port) = parse_server(&server)?;
        Ok(ConnectionString {
            host,
            port,
            database: self.database,
            user: self.user,
            password: self.password,
            encrypt: self.encrypt.unwrap_or(Encrypt::Mandatory),
            trust_server_certificate: self.trust,
            host_name_in_certificate: self.host_name_in_certificate,
            connect_timeout: self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            application_name: self.application_name,
        })
    }
}

fn non_empty(v: String) -> Option<String> {
    (!v.is_empty()).then_some(v)
}

fn boolean(key: &str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(bad_value(key, "true or false")),
    }
}

fn bad_value(key: &str, want: &str) -> Error {
    Error::config(format!("connection string: {key:?} must be {want}"))
}

/// `tcp:host,port`, `host,port`, `host`, `(local)`, `.`; named instances
/// need their port (no SQL Browser lookup), other protocols are refused.
fn parse_server(server: &str) -> Result<(String, u16)> {
    let mut s = server.trim();
    if let Some((proto, rest)) = s.split_once(':') {
        match proto.trim().to_ascii_lowercase().as_str() {
            "tcp" => s = rest.trim(),
            "np" | "lpc" | "admin" => {
                return Err(Error::unsupported(format!(
                    "connection string: the {proto:?} protocol is not supported; use tcp:host,port"
                )))
            }
            // Not a protocol prefix: an IPv6 address or a typo; reported below.
            _ => {}
        }
    }
    let (host_part, port) = match s.rsplit_once(',') {
        Some((h, p)) => {
            let port = p
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| {
                    Error::config("connection string: the Server's port is not a valid port number")
                })?;
            (h.trim(), Some(port))
        }
        None => (s, None),
    };
    let (host, instance) = match host_part.split_once('\\') {
        Some((h, i)) => (h.trim(), Some(i.trim())),
        None => (host_part, None),
    };
    if instance.is_some() && port.is_none() {
        return Err(Error::unsupported(
            "connection string: named instances need a port (Server=tcp:host,port); SQL Browser lookup is not supported",
        ));
    }
    let host = match host.to_ascii_lowercase().as_str() {
        "" => {
            return Err(Error::config(
                "connection string: the Server has no host name",
            ))
        }
        "." | "(local)" | "(localdb)" => "localhost".to_owned(),
        _ => host.to_owned(),
    };
    if host.contains([':', ' ', '/'])
        && !host.starts_with('[')
        && host.parse::<std::net::Ipv6Addr>().is_err()
    {
        return Err(Error::config(
            "connection string: the Server is not a host name or address",
        ));
    }
    Ok((host, port.unwrap_or(DEFAULT_PORT)))
}

fn parse_url(s: &str) -> Result<ConnectionString> {
    let url = url::Url::parse(s).map_err(|e| Error::config(format!("SQL Server URL: {e}")))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| Error::config("SQL Server URL: the host is missing"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let decode = |v: &str, what: &str| -> Result<String> {
        url::form_urlencoded::parse(format!("v={}", v.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| Error::config(format!("SQL Server URL: the {what} is not valid")))
    };
    let mut b = Builder {
        server: Some(format!("tcp:{host},{}", url.port().unwrap_or(DEFAULT_PORT))),
        ..Builder::default()
    };
    if !url.username().is_empty() {
        b.user = Some(decode(url.username(), "user name")?);
    }
    if let Some(p) = url.password() {
        b.password = Some(decode(p, "password")?);
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() {
        b.database = Some(decode(db, "database")?);
    }
    for (k, v) in url.query_pairs() {
        let key = normalize_key(&k.replace(['_', '-'], " "));
        // URL parameters come camel-cased (trustServerCertificate): accept the squashed form too.
        let key = match key.as_str() {
            "trust server certificate" | "trustservercertificate" => {
                "trustservercertificate".to_owned()
            }
            "connect timeout" | "connecttimeout" | "connection timeout" => {
                "connect timeout".to_owned()
            }
            "application name" | "applicationname" => "application name".to_owned(),
            "host name in certificate" | "hostnameincertificate" => {
                "hostnameincertificate".to_owned()
            }
            _ => key,
        };
        if matches!(
            key.as_str(),
            "password" | "pwd" | "user id" | "uid" | "user" | "server" | "database"
        ) {
            return Err(Error::config(format!(
                "SQL Server URL: give {key:?} in the URL itself, not as a parameter"
            )));
        }
        b.set(&key, v.into_owned())?;
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_abstractions::ErrorKind;

    fn parse(s: &str) -> ConnectionString {
        ConnectionString::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn ado_form_with_every_spelling() {
        let cs = parse("Server=tcp:127.0.0.1,14330;Database=cache;User Id=sa;Password=Secret1!;Encrypt=False;TrustServerCertificate=True;Connect Timeout=5");
        assert_eq!((cs.host(), cs.port()), ("127.0.0.1", 14330));
        assert_eq!(cs.database(), Some("cache"));
        assert_eq!(cs.user(), Some("sa"));
        assert_eq!(cs.password.as_deref(), Some("Secret1!"));
        assert_eq!(cs.encrypt(), Encrypt::Optional);
        assert!(cs.trust_server_certificate());
        assert_eq!(cs.connect_timeout(), Duration::from_secs(5));

        let cs = parse("data source = db.local ; initial catalog=app;UID=u;PWD=p;");
        assert_eq!((cs.host(), cs.port()), ("db.local", 1433));
        assert_eq!(cs.database(), Some("app"));
        assert_eq!((cs.user(), cs.password.as_deref()), (Some("u"), Some("p")));
        assert_eq!(
            cs.encrypt(),
            Encrypt::Mandatory,
            "Encrypt defaults to true as in SqlClient 4+"
        );
        assert!(!cs.trust_server_certificate());
        assert_eq!(cs.connect_timeout(), Duration::from_secs(15));

        // The issue's example, lower-case keywords and `user=`.
        let cs = parse(
            "server=tcp:127.0.0.1,1433;user=sa;password=x;database=d;TrustServerCertificate=true",
        );
        assert_eq!(cs.user(), Some("sa"));
    }

    #[test]
    fn server_forms() {
        assert_eq!(parse("Server=.").host(), "localhost");
        assert_eq!(parse("Server=(local)").host(), "localhost");
        assert_eq!(parse("Server=h,1500").port(), 1500);
        assert_eq!(parse("Server=tcp:h\\SQLEXPRESS,1500").host(), "h");
        assert_eq!(parse("Server=TCP: h , 7").port(), 7);
        for bad in [
            "Server=h\\SQLEXPRESS",
            "Server=np:\\\\.\\pipe\\sql",
            "Server=h,x",
            "Server=h,0",
            "Server=",
            "Database=x",
        ] {
            assert!(ConnectionString::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quoting_rules() {
        let cs = parse("Server=h;Password='a;b''c';User Id=\"x\"\"y\"");
        assert_eq!(cs.password.as_deref(), Some("a;b'c"));
        assert_eq!(cs.user(), Some("x\"y"));
        let cs = parse("Server=h;Password=\" spaced \" ;Database=d");
        assert_eq!(cs.password.as_deref(), Some(" spaced "));
        assert_eq!(cs.database(), Some("d"));
        // Unquoted values are trimmed; quotes inside are literal.
        let cs = parse("Server=h;Password= it's ");
        assert_eq!(cs.password.as_deref(), Some("it's"));
        // Empty segments and a trailing ';' are fine; the last duplicate wins.
        let cs = parse(";;Server=a;;Server=b;");
        assert_eq!(cs.host(), "b");
    }

    #[test]
    fn bad_strings_are_config_errors_without_values() {
        for bad in [
            "Server=h;Password='unterminated",
            "Server=h;Password='x' junk",
            "Server=h;Bogus=1",
            "Server=h;Encrypt=maybe",
            "Server=h;TrustServerCertificate=perhaps",
            "Server=h;Connect Timeout=soon",
            "Server=h;Connect Timeout=0",
            "Server=h;novalue",
            "=x;Server=h",
        ] {
            let e = ConnectionString::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{bad}: {e}");
        }
        let e = ConnectionString::parse("Server=h;Password='hunter2").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        // An unquoted password holding ';': its tail is not a keyword, and
        // the error must not quote it.
        let e = ConnectionString::parse("Server=h;Password=hun;ter2").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(!e.to_string().contains("ter2"), "{e}");
        // A URL with a multi-byte character near its start is still a URL,
        // and its password stays out of the error.
        for url in ["mssql://u:p\u{e4}ss@", "sqlserver://\u{e4}:p\u{e4}ss@"] {
            let e = ConnectionString::parse(url).unwrap_err();
            assert!(!e.to_string().contains("p\u{e4}ss"), "{e}");
            assert!(e.to_string().contains("URL"), "{e}");
        }
        assert_eq!(
            ConnectionString::parse("Server=h;Integrated Security=true")
                .unwrap_err()
                .kind(),
            ErrorKind::Unsupported
        );
        // Keywords .NET's driver uses for itself are accepted.
        parse("Server=h;MultipleActiveResultSets=true;Pooling=false;Integrated Security=false");
    }

    #[test]
    fn password_never_shows() {
        let cs = parse("Server=h;User Id=u;Password=hunter2;Database=d");
        for text in [format!("{cs:?}"), cs.to_string(), cs.redacted()] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("***"), "{text}");
        }
        assert!(cs.has_password());
        assert_eq!(
            cs.redacted(),
            "Server=tcp:h,1433;Database=d;User Id=u;Password=***;Encrypt=true"
        );
    }

    #[test]
    fn redacted_form_parses_back() {
        let cs = parse("Server=h,1;User Id='a;b';TrustServerCertificate=true;Encrypt=no");
        let again = parse(&cs.redacted());
        assert_eq!(again.user(), Some("a;b"));
        assert_eq!(again.encrypt(), Encrypt::Optional);
        assert!(again.trust_server_certificate());
    }

    #[test]
    fn url_form() {
        let cs = parse("sqlserver://sa:p%40ss%3Bw@db.example:14330/cache?trustServerCertificate=true&encrypt=true&connect_timeout=3");
        assert_eq!((cs.host(), cs.port()), ("db.example", 14330));
        assert_eq!(cs.user(), Some("sa"));
        assert_eq!(cs.password.as_deref(), Some("p@ss;w"));
        assert_eq!(cs.database(), Some("cache"));
        assert!(cs.trust_server_certificate());
        assert_eq!(cs.connect_timeout(), Duration::from_secs(3));
        let cs = parse("mssql://localhost");
        assert_eq!((cs.host(), cs.port(), cs.user()), ("localhost", 1433, None));
        assert!(ConnectionString::parse("sqlserver://h?bogus=1").is_err());
        assert!(ConnectionString::parse("sqlserver://h?password=x").is_err());
        let e = ConnectionString::parse("sqlserver://u:topsecret@h?bogus=1").unwrap_err();
        assert!(!e.to_string().contains("topsecret"));
        assert!(!format!("{:?}", parse("sqlserver://u:topsecret@h")).contains("topsecret"));
    }

    #[test]
    fn with_address_keeps_the_certificate_name() {
        let cs = parse("Server=tcp:db.example,1433;Password=p").with_address("127.0.0.1", 9);
        assert_eq!((cs.host(), cs.port()), ("127.0.0.1", 9));
        assert_eq!(cs.host_name_in_certificate.as_deref(), Some("db.example"));
        assert!(cs.has_password());
    }

    #[test]
    fn driver_config_carries_the_settings() {
        let cs =
            parse("Server=tcp:h,1500;Database=d;User Id=u;Password=p;TrustServerCertificate=true");
        let c = cs.driver_config();
        assert_eq!(c.get_addr(), "h:1500");
    }
}
