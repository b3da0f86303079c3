//! [`MemoryCacheBuilder`]: settings in, a checked [`Config`] out. No I/O.

use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::{url_scheme, Clock, Error, OpenOptions, Result};

use crate::cache::MemoryCache;
use crate::config::Config;
use crate::URL_SCHEMES;

/// Configures a [`MemoryCache`].
///
/// ```
/// use cache_memory::MemoryCache;
/// use cache_abstractions::ManualClock;
/// use std::sync::Arc;
///
/// let clock = ManualClock::starting_now();
/// let cache = MemoryCache::builder()
///     .capacity_bytes(64 * 1024 * 1024)
///     .clock(Arc::new(clock.clone()))
///     .reap_interval(None)
///     .build()?;
/// # let _ = cache;
/// # Ok::<(), cache_abstractions::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct MemoryCacheBuilder {
    config: Config,
}

impl MemoryCacheBuilder {
    /// A builder from a `memory://` URL and the shared options. No I/O.
    ///
    /// The URL takes no host or path; its query may set `capacity` (bytes,
    /// or with a `KiB`, `MiB` or `GiB` suffix). From the options only the
    /// clock applies (a memory cache has no server, pool or table).
    ///
    /// ```
    /// use cache_abstractions::OpenOptions;
    /// use cache_memory::MemoryCacheBuilder;
    ///
    /// let cache = MemoryCacheBuilder::from_url("memory://?capacity=64MiB", &OpenOptions::new())?
    ///     .build()?;
    /// # let _ = cache;
    /// # Ok::<(), cache_abstractions::Error>(())
    /// ```
    pub fn from_url(text: &str, options: &OpenOptions) -> Result<Self> {
        let scheme = url_scheme(text)
            .filter(|s| URL_SCHEMES.iter().any(|m| s.eq_ignore_ascii_case(m)))
            .ok_or_else(|| Error::config("not a memory:// URL"))?;
        let rest = &text[scheme.len() + 1..];
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (place, query) = rest.split_once('?').unwrap_or((rest, ""));
        if !place.is_empty() && place != "/" {
            return Err(Error::config(
                "a memory:// URL takes no host or path, only ?capacity=",
            ));
        }
        let mut builder = MemoryCacheBuilder::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "capacity" => builder = builder.capacity_bytes(parse_size(value)?),
                _ => {
                    // Name only a parameter that looks like one, never arbitrary text.
                    let shown = if name.len() <= 32
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        format!("`{name}`")
                    } else {
                        "a malformed one".to_owned()
                    };
                    return Err(Error::config(format!(
                        "unknown memory:// URL parameter {shown} (known: capacity)"
                    )));
                }
            }
        }
        if let Some(clock) = &options.clock {
            builder = builder.clock(Arc::clone(clock));
        }
        Ok(builder)
    }

    /// The size limit in bytes (keys, values and a fixed per-entry overhead).
    /// Past it, entries are evicted by quick_cache's S3-FIFO policy. An
    /// entry that cannot fit at all (key, value and overhead over one shard's
    /// share: 97% of the limit below 64 MiB, at least 32 MiB from there) is
    /// rejected by `set` with `Unsupported`; the cache's
    /// [`Capabilities::max_value_size`](cache_abstractions::Capabilities::max_value_size)
    /// says how large a value fits. Zero is refused by [`build`](Self::build).
    pub fn capacity_bytes(mut self, bytes: u64) -> Self {
        self.config.capacity = bytes;
        self
    }

    /// The clock expiry is judged by (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.config.clock = clock;
        self
    }

    /// How often a background thread reclaims expired entries while the
    /// cache is idle (default one minute; at least 10 ms); `None` leaves
    /// reclaiming to ordinary operations.
    pub fn reap_interval(mut self, interval: Option<Duration>) -> Self {
        self.config.reap_interval = interval;
        self
    }

    /// Checks the settings and builds the cache. Synchronous; no I/O.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](cache_abstractions::ErrorKind::Config) for a
    /// capacity of zero.
    pub fn build(self) -> Result<MemoryCache> {
        if self.config.capacity == 0 {
            return Err(Error::config(
                "memory cache capacity must be at least 1 byte",
            ));
        }
        Ok(MemoryCache::from_config(self.config))
    }
}

/// Bytes, with an optional binary suffix (`KiB`, `MiB`, `GiB`).
fn parse_size(text: &str) -> Result<u64> {
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let scale: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => {
            return Err(Error::config(
                "memory:// capacity takes bytes, or KiB, MiB, GiB",
            ))
        }
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| {
            Error::config("memory:// capacity must be a whole number of bytes within u64")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_CAPACITY_BYTES;
    use cache_abstractions::{ErrorKind, ManualClock};

    fn open(url: &str) -> Result<MemoryCacheBuilder> {
        MemoryCacheBuilder::from_url(url, &OpenOptions::new())
    }

    #[test]
    fn urls_that_open() {
        assert_eq!(
            open("memory://").unwrap().config.capacity,
            DEFAULT_CAPACITY_BYTES
        );
        assert_eq!(
            open("memory:").unwrap().config.capacity,
            DEFAULT_CAPACITY_BYTES
        );
        assert_eq!(
            open("MEMORY:///").unwrap().config.capacity,
            DEFAULT_CAPACITY_BYTES
        );
        assert_eq!(
            open("memory://?capacity=4096").unwrap().config.capacity,
            4096
        );
        assert_eq!(
            open("memory://?capacity=2MiB").unwrap().config.capacity,
            2 << 20
        );
        assert_eq!(
            open("memory://?capacity=1GiB&").unwrap().config.capacity,
            1 << 30
        );
    }

    #[test]
    fn urls_that_do_not() {
        for bad in [
            "redis://h",
            "memory://host",
            "memory://?capacity=",
            "memory://?capacity=-1",
            "memory://?capacity=1TB",
            "memory://?capacity=99999999999999999999",
            "memory://?capacity=20000000000GiB",
            "memory://?size=1",
            "Server=x",
        ] {
            let err = open(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
        }
        let err = open("memory://?pass%3Dsecret=1").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(open("memory://?size=1")
            .unwrap_err()
            .to_string()
            .contains("`size`"));
        let zero = open("memory://?capacity=0").unwrap().build().unwrap_err();
        assert_eq!(zero.kind(), ErrorKind::Config);
    }

    #[test]
    fn options_clock_is_used() {
        let clock = ManualClock::starting_now();
        let options = OpenOptions::new().clock(Arc::new(clock.clone()));
        let b = MemoryCacheBuilder::from_url("memory://", &options).unwrap();
        assert_eq!(b.config.clock.now(), clock.now());
    }
}
