//! Opening a cache from a URL: the settings every backend's from-URL
//! constructor shares, and the scheme reader the facade dispatches on.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;

/// Settings given beside a URL or connection string, shared by every
/// backend's `from_url` constructor (and by `distcache::open_with`).
///
/// Every field is optional: `None` keeps the backend's default (or what the
/// URL itself says). A backend ignores settings that mean nothing to it
/// (a table name for Redis, a pool size for memory).
///
/// ```
/// use cache_abstractions::OpenOptions;
/// use std::time::Duration;
///
/// let options = OpenOptions::new()
///     .timeout(Duration::from_secs(2))
///     .instance_name("shop:");
/// assert_eq!(options.timeout, Some(Duration::from_secs(2)));
/// assert_eq!(options.instance_name.as_deref(), Some("shop:"));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Connect and command timeout (network backends).
    pub timeout: Option<Duration>,
    /// How many connections to keep (pooled backends).
    pub pool_size: Option<u32>,
    /// Key prefix (Redis; .NET's `InstanceName`).
    pub instance_name: Option<String>,
    /// Table schema (SQL backends).
    pub schema: Option<String>,
    /// Cache table (SQL backends).
    pub table: Option<String>,
    /// The clock the backend reads "now" from (tests inject a
    /// [`ManualClock`](crate::ManualClock)); by default the system clock.
    pub clock: Option<Arc<dyn Clock>>,
    /// Traces and metrics of every operation: `distcache::open_with` wraps
    /// what it opens in [`Instrumented`](crate::Instrumented), named after
    /// the backend. Off (`None`) by default.
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tracing", feature = "metrics"))))]
    pub instrumentation: Option<crate::instrument::Instrumentation>,
}

impl OpenOptions {
    /// Options with nothing set: every backend default applies.
    pub fn new() -> Self {
        OpenOptions::default()
    }

    /// Sets [`timeout`](Self::timeout).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets [`pool_size`](Self::pool_size).
    #[must_use]
    pub fn pool_size(mut self, size: u32) -> Self {
        self.pool_size = Some(size);
        self
    }

    /// Sets [`instance_name`](Self::instance_name).
    #[must_use]
    pub fn instance_name(mut self, name: impl Into<String>) -> Self {
        self.instance_name = Some(name.into());
        self
    }

    /// Sets [`schema`](Self::schema).
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Sets [`table`](Self::table).
    #[must_use]
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }

    /// Sets [`clock`](Self::clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Sets [`instrumentation`](Self::instrumentation): the opened cache is
    /// traced and measured (install the metrics recorder first).
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tracing", feature = "metrics"))))]
    #[must_use]
    pub fn instrument(mut self, how: crate::instrument::Instrumentation) -> Self {
        self.instrumentation = Some(how);
        self
    }
}

/// The scheme of `text` as RFC 3986 defines it (a letter, then letters,
/// digits, `+`, `-` or `.`, then `:`), or `None` when `text` does not start
/// with one (a connection string such as `Server=db;Password=..`).
///
/// The scheme is returned as written; compare it case-insensitively.
///
/// ```
/// use cache_abstractions::url_scheme;
///
/// assert_eq!(url_scheme("redis+cluster://h:7000"), Some("redis+cluster"));
/// assert_eq!(url_scheme("memory://"), Some("memory"));
/// assert_eq!(url_scheme("Server=db;Password=x"), None);
/// assert_eq!(url_scheme("app:pw@host:6379"), Some("app")); // not a URL we know, but a scheme
/// assert_eq!(url_scheme("1redis://h"), None);
/// ```
pub fn url_scheme(text: &str) -> Option<&str> {
    let end = text.find(':')?;
    let scheme = &text[..end];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_rules() {
        assert_eq!(url_scheme("redis://h"), Some("redis"));
        assert_eq!(url_scheme("REDISS://h"), Some("REDISS"));
        assert_eq!(url_scheme("unix:///tmp/redis.sock"), Some("unix"));
        assert_eq!(url_scheme("a.b-c+d:rest"), Some("a.b-c+d"));
        assert_eq!(url_scheme(""), None);
        assert_eq!(url_scheme(":pw@host:6379"), None);
        assert_eq!(url_scheme("no colon"), None);
        assert_eq!(url_scheme("Data Source=x;Password=a:b"), None);
        assert_eq!(url_scheme("ré://x"), None);
        assert_eq!(url_scheme("-x://"), None);
    }

    #[test]
    fn setters_fill_fields() {
        let clock: Arc<dyn Clock> = Arc::new(crate::SystemClock);
        let o = OpenOptions::new()
            .timeout(Duration::from_millis(5))
            .pool_size(3)
            .instance_name("i")
            .schema("s")
            .table("t")
            .clock(clock);
        assert_eq!(o.timeout, Some(Duration::from_millis(5)));
        assert_eq!(o.pool_size, Some(3));
        assert_eq!(o.instance_name.as_deref(), Some("i"));
        assert_eq!(o.schema.as_deref(), Some("s"));
        assert_eq!(o.table.as_deref(), Some("t"));
        assert!(o.clock.is_some());
        assert!(OpenOptions::new().timeout.is_none());
    }
}
