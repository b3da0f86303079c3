//! The backends this build can open, and how a URL picks one.
//!
//! Each entry only points at what its backend crate exports (its schemes,
//! its connection-string test, its builder and its redactor): the facade
//! parses nothing itself.

use std::sync::Arc;

use cache_abstractions::{url_scheme, DistributedCache, Error, OpenOptions, Result};

/// One backend crate, as the facade sees it.
pub(crate) struct Backend {
    /// A short name for reports: the backend crate without `cache-`.
    pub(crate) name: &'static str,
    /// Its name in traces and metrics: OpenTelemetry's `db.system.name`
    /// where one exists.
    #[cfg_attr(not(any(feature = "tracing", feature = "metrics")), allow(dead_code))]
    pub(crate) system: &'static str,
    /// The crate's `URL_SCHEMES`.
    pub(crate) schemes: &'static [&'static str],
    /// The crate's `is_connection_string`, for backends that take a
    /// scheme-less connection string.
    pub(crate) is_connection_string: Option<fn(&str) -> bool>,
    /// `<Backend>CacheBuilder::from_url(..)?.build()`.
    pub(crate) open: fn(&str, &OpenOptions) -> Result<Arc<dyn DistributedCache>>,
    /// The crate's `redact`.
    pub(crate) redact: fn(&str) -> String,
}

/// Every backend compiled in, by feature.
pub(crate) const BACKENDS: &[Backend] = &[
    #[cfg(feature = "memory")]
    Backend {
        name: "memory",
        system: "memory",
        schemes: cache_memory::URL_SCHEMES,
        is_connection_string: None,
        open: |text, options| {
            let cache = cache_memory::MemoryCacheBuilder::from_url(text, options)?.build()?;
            Ok(Arc::new(cache))
        },
        redact: cache_memory::redact,
    },
    #[cfg(feature = "redis")]
    Backend {
        name: "redis",
        system: "redis",
        schemes: cache_redis::URL_SCHEMES,
        is_connection_string: None,
        open: |text, options| {
            let cache = cache_redis::RedisCacheBuilder::from_url(text, options)?.build()?;
            Ok(Arc::new(cache))
        },
        redact: cache_redis::redact,
    },
    #[cfg(feature = "sqlserver")]
    Backend {
        name: "sqlserver",
        system: "microsoft.sql_server",
        schemes: cache_sqlserver::URL_SCHEMES,
        is_connection_string: Some(cache_sqlserver::is_connection_string),
        open: |text, options| {
            let cache = cache_sqlserver::SqlServerCacheBuilder::from_url(text, options)?.build()?;
            Ok(Arc::new(cache))
        },
        redact: cache_sqlserver::redact,
    },
    #[cfg(feature = "postgres")]
    Backend {
        name: "postgres",
        system: "postgresql",
        schemes: cache_postgres::URL_SCHEMES,
        is_connection_string: Some(cache_postgres::is_connection_string),
        open: |text, options| {
            let cache = cache_postgres::PostgresCacheBuilder::from_url(text, options)?.build()?;
            Ok(Arc::new(cache))
        },
        redact: cache_postgres::redact,
    },
];

/// What a text names.
pub(crate) enum Found<'a> {
    /// A backend compiled in.
    Backend(&'static Backend),
    /// A URL whose scheme no compiled-in backend opens; whether what
    /// follows the colon starts with a digit (`host:6379`, no scheme).
    UnknownScheme(&'a str, bool),
    /// Neither a URL nor a connection string any backend takes.
    Unrecognized,
}

/// Picks the backend for `text`: by its URL scheme, else by asking each
/// backend whether it is one of its connection strings.
pub(crate) fn find(text: &str) -> Found<'_> {
    if let Some(scheme) = url_scheme(text) {
        return BACKENDS
            .iter()
            .find(|b| b.schemes.iter().any(|s| s.eq_ignore_ascii_case(scheme)))
            .map_or_else(
                || {
                    let port_next =
                        text[scheme.len() + 1..].starts_with(|c: char| c.is_ascii_digit());
                    Found::UnknownScheme(scheme, port_next)
                },
                Found::Backend,
            );
    }
    BACKENDS
        .iter()
        .find(|b| b.is_connection_string.is_some_and(|is| is(text)))
        .map_or(Found::Unrecognized, Found::Backend)
}

/// Every scheme this build opens, for error messages.
pub(crate) fn known() -> String {
    let mut all: Vec<String> = BACKENDS
        .iter()
        .flat_map(|b| b.schemes.iter().map(|s| format!("{s}://")))
        .collect();
    if BACKENDS.iter().any(|b| b.is_connection_string.is_some()) {
        all.push("a connection string (Server=..;Database=..)".to_owned());
    }
    if all.is_empty() {
        return "nothing: enable a backend feature (memory, redis, sqlserver, postgres)".to_owned();
    }
    match all.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => all.join(", "),
    }
}

/// The error for text no backend takes. It names at most the scheme, and
/// only when the scheme is short and plain (a "scheme" can be a user name
/// typed without `redis://`), never the rest of the text.
pub(crate) fn not_openable(found: &Found<'_>) -> Error {
    match found {
        Found::UnknownScheme(scheme, true) if scheme.len() <= 24 => Error::config(format!(
            "`{scheme}:` followed by a port is a host without a URL scheme; \
             put one in front (this build opens {})",
            known()
        )),
        Found::UnknownScheme(scheme, false) if scheme.len() <= 24 => Error::config(format!(
            "unknown cache URL scheme `{scheme}`; this build opens {}",
            known()
        )),
        _ => Error::config(format!(
            "not a cache URL or connection string this build opens; it opens {}",
            known()
        )),
    }
}
