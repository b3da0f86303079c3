//! Per-entry options: expiration in each tier, tier flags, tags, resilience.

use std::time::Duration;

use cache_abstractions::{EntryOptions, Error, Result};

/// The most tags one entry may carry (the payload header counts them in one byte).
pub const MAX_TAGS: usize = 255;
/// The longest tag, in UTF-8 bytes.
pub const MAX_TAG_LEN: usize = 1024;

/// Which tiers an operation may read or write. Everything is on by default.
///
/// ```
/// use cache_hybrid::Flags;
///
/// let flags = Flags::default().without_local_read().without_distributed_write();
/// assert!(!flags.local_read && flags.local_write);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Flags {
    /// Read the in-process tier.
    pub local_read: bool,
    /// Write the in-process tier.
    pub local_write: bool,
    /// Read the distributed tier.
    pub distributed_read: bool,
    /// Write the distributed tier.
    pub distributed_write: bool,
}

impl Default for Flags {
    fn default() -> Self {
        Flags {
            local_read: true,
            local_write: true,
            distributed_read: true,
            distributed_write: true,
        }
    }
}

impl Flags {
    /// Never read the in-process tier.
    #[must_use]
    pub fn without_local_read(mut self) -> Self {
        self.local_read = false;
        self
    }
    /// Never write the in-process tier.
    #[must_use]
    pub fn without_local_write(mut self) -> Self {
        self.local_write = false;
        self
    }
    /// Never read the distributed tier.
    #[must_use]
    pub fn without_distributed_read(mut self) -> Self {
        self.distributed_read = false;
        self
    }
    /// Never write the distributed tier.
    #[must_use]
    pub fn without_distributed_write(mut self) -> Self {
        self.distributed_write = false;
        self
    }
    /// Neither read nor write the distributed tier.
    #[must_use]
    pub fn local_only(self) -> Self {
        self.without_distributed_read().without_distributed_write()
    }
}

/// How one entry is cached: .NET's `HybridCacheEntryOptions` plus
/// FusionCache's resilience settings.
///
/// - [`distributed`](Self::distributed): absolute, relative and sliding
///   expiration in the distributed tier ([`EntryOptions`], as for any
///   `DistributedCache`).
/// - [`local_expiration`](Self::local_expiration): how long the in-process
///   copy lives. It is always capped so the local copy never outlives the
///   distributed entry (for sliding entries: half the window, see
///   docs/hybrid.md).
/// - [`flags`](Self::flags), [`tags`](Self::tags).
/// - [`fail_safe`](Self::fail_safe), [`soft_timeout`](Self::soft_timeout),
///   [`hard_timeout`](Self::hard_timeout), [`eager_refresh`](Self::eager_refresh).
///
/// ```
/// use cache_hybrid::HybridEntryOptions;
/// use std::time::Duration;
///
/// let options = HybridEntryOptions::new()
///     .expires_in(Duration::from_secs(600))
///     .local_expiration(Duration::from_secs(60))
///     .tag("product")
///     .fail_safe(Duration::from_secs(3600))
///     .soft_timeout(Duration::from_millis(100));
/// assert_eq!(options.tags, ["product"]);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[must_use]
pub struct HybridEntryOptions {
    /// Expiration in the distributed tier.
    pub distributed: EntryOptions,
    /// How long the in-process copy lives at most.
    pub local_expiration: Option<Duration>,
    /// Which tiers to read and write.
    pub flags: Flags,
    /// Tags for [`HybridCache::remove_by_tag`](crate::HybridCache::remove_by_tag).
    pub tags: Vec<String>,
    /// Fail-safe maximum duration past expiration, if enabled.
    pub fail_safe: Option<Duration>,
    /// Factory soft timeout (needs a stale copy to apply).
    pub soft_timeout: Option<Duration>,
    /// Factory hard timeout.
    pub hard_timeout: Option<Duration>,
    /// Eager-refresh fraction of the local life.
    pub eager_refresh: Option<f64>,
}

/// The distributed expiration when none is given: 5 minutes, as .NET's HybridCache.
pub const DEFAULT_EXPIRATION: Duration = Duration::from_secs(300);

impl Default for HybridEntryOptions {
    fn default() -> Self {
        HybridEntryOptions {
            distributed: EntryOptions::new().expires_in(DEFAULT_EXPIRATION),
            local_expiration: None,
            flags: Flags::default(),
            tags: Vec::new(),
            fail_safe: None,
            soft_timeout: None,
            hard_timeout: None,
            eager_refresh: None,
        }
    }
}

impl HybridEntryOptions {
    /// The defaults: 5 minutes in both tiers, every tier on, no tags, no
    /// fail-safe, no timeouts, no eager refresh.
    pub fn new() -> Self {
        HybridEntryOptions::default()
    }

    /// Replaces the distributed expiration with `options` (absolute,
    /// relative, sliding). Empty options mean the distributed backend's
    /// default; the local copy then lives [`local_expiration`](Self::local_expiration)
    /// (or the 5-minute default).
    pub fn distributed(mut self, options: EntryOptions) -> Self {
        self.distributed = options;
        self
    }

    /// Expire `after` from the write, in both tiers (replaces the distributed options).
    pub fn expires_in(mut self, after: Duration) -> Self {
        self.distributed = EntryOptions::new().expires_in(after);
        self
    }

    /// Expire when not read for `window` (replaces the distributed options).
    pub fn sliding(mut self, window: Duration) -> Self {
        self.distributed = EntryOptions::new().sliding(window);
        self
    }

    /// How long the in-process copy lives; capped by the distributed expiration.
    pub fn local_expiration(mut self, after: Duration) -> Self {
        self.local_expiration = Some(after);
        self
    }

    /// Which tiers to read and write.
    pub fn flags(mut self, flags: Flags) -> Self {
        self.flags = flags;
        self
    }

    /// Adds a tag ([`HybridCache::remove_by_tag`](crate::HybridCache::remove_by_tag)
    /// removes every entry carrying it).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Adds several tags.
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Fail-safe: keep each copy up to `max_duration` past its expiration,
    /// and serve it (marked stale) when the factory fails or times out.
    pub fn fail_safe(mut self, max_duration: Duration) -> Self {
        self.fail_safe = Some(max_duration);
        self
    }

    /// With a stale copy at hand (see [`fail_safe`](Self::fail_safe)), a
    /// factory slower than `after` is left running in the background (it
    /// updates both tiers when done) and the stale copy is returned.
    pub fn soft_timeout(mut self, after: Duration) -> Self {
        self.soft_timeout = Some(after);
        self
    }

    /// A factory slower than `after` is cancelled; the call fails with
    /// `Timeout` (or returns the stale copy under fail-safe).
    pub fn hard_timeout(mut self, after: Duration) -> Self {
        self.hard_timeout = Some(after);
        self
    }

    /// A `get_or_create` that hits a local copy older than `fraction`
    /// (0 < fraction < 1) of its local life starts a background refresh.
    pub fn eager_refresh(mut self, fraction: f64) -> Self {
        self.eager_refresh = Some(fraction);
        self
    }

    /// Checks what [`EntryOptions::resolve`] does not: tags, timeouts, the
    /// eager-refresh fraction. Errors are `InvalidOptions` naming the field.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.tags.len() > MAX_TAGS {
            return Err(Error::invalid_options("tags", "at most 255 tags per entry"));
        }
        if self
            .tags
            .iter()
            .any(|t| t.is_empty() || t.len() > MAX_TAG_LEN)
        {
            return Err(Error::invalid_options(
                "tags",
                "a tag must be 1 to 1024 bytes long",
            ));
        }
        let zero = |d: Option<Duration>| d.is_some_and(|d| d.is_zero());
        if zero(self.local_expiration) {
            return Err(Error::invalid_options(
                "local_expiration",
                "must be greater than zero",
            ));
        }
        if zero(self.fail_safe) {
            return Err(Error::invalid_options(
                "fail_safe",
                "must be greater than zero",
            ));
        }
        if zero(self.soft_timeout) {
            return Err(Error::invalid_options(
                "soft_timeout",
                "must be greater than zero",
            ));
        }
        if zero(self.hard_timeout) {
            return Err(Error::invalid_options(
                "hard_timeout",
                "must be greater than zero",
            ));
        }
        if let Some(f) = self.eager_refresh {
            if !(f > 0.0 && f < 1.0) {
                return Err(Error::invalid_options(
                    "eager_refresh",
                    "must be a fraction strictly between 0 and 1",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_abstractions::ErrorKind;

    #[test]
    fn invalid_fields_are_named() {
        let cases = [
            (HybridEntryOptions::new().tag(""), "tags"),
            (HybridEntryOptions::new().tag("x".repeat(1025)), "tags"),
            (
                HybridEntryOptions::new().tags((0..256).map(|i| i.to_string())),
                "tags",
            ),
            (
                HybridEntryOptions::new().local_expiration(Duration::ZERO),
                "local_expiration",
            ),
            (
                HybridEntryOptions::new().fail_safe(Duration::ZERO),
                "fail_safe",
            ),
            (
                HybridEntryOptions::new().soft_timeout(Duration::ZERO),
                "soft_timeout",
            ),
            (
                HybridEntryOptions::new().hard_timeout(Duration::ZERO),
                "hard_timeout",
            ),
            (
                HybridEntryOptions::new().eager_refresh(1.0),
                "eager_refresh",
            ),
            (
                HybridEntryOptions::new().eager_refresh(f64::NAN),
                "eager_refresh",
            ),
        ];
        for (o, field) in cases {
            let e = o.validate().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOptions);
            assert_eq!(e.field(), Some(field));
        }
        assert!(HybridEntryOptions::new()
            .tag("a")
            .eager_refresh(0.8)
            .validate()
            .is_ok());
    }
}
