//! Entry options (when an entry expires) and their validation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// The latest absolute expiration any backend accepts, in seconds after the
/// Unix epoch: 9999-12-31T23:59:59Z, the end of .NET's `DateTimeOffset` range
/// (so every entry can be shared with ASP.NET Core apps).
pub const MAX_ABSOLUTE_EXPIRATION_UNIX_SECS: u64 = 253_402_300_799;

/// [`MAX_ABSOLUTE_EXPIRATION_UNIX_SECS`] as an instant.
pub fn max_absolute_expiration() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(MAX_ABSOLUTE_EXPIRATION_UNIX_SECS)
}

/// The longest sliding window any backend accepts: `i32::MAX` seconds
/// (about 68 years), the most SQL Server's `DATEADD(SECOND, …)` can add.
/// Every backend applies the same limit, so options valid for one backend
/// are valid for all.
pub const MAX_SLIDING_EXPIRATION: Duration = Duration::from_secs(i32::MAX as u64);

/// When a cache entry expires: ASP.NET Core's `DistributedCacheEntryOptions`.
///
/// All three settings may be combined. With an absolute instant *and* a
/// duration relative to now, the earlier of the two wins. A sliding window
/// never extends past the absolute expiration. With no setting at all the
/// backend's documented default applies (see
/// [`Capabilities::default_options`](crate::Capabilities::default_options)).
///
/// ```
/// use cache_abstractions::EntryOptions;
/// use std::time::Duration;
///
/// let options = EntryOptions::new()
///     .expires_in(Duration::from_secs(3600))
///     .sliding(Duration::from_secs(300));
/// assert_eq!(options.sliding_expiration(), Some(Duration::from_secs(300)));
/// assert!(!options.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct EntryOptions {
    absolute_expiration: Option<SystemTime>,
    absolute_expiration_relative_to_now: Option<Duration>,
    sliding_expiration: Option<Duration>,
}

impl EntryOptions {
    /// Options with nothing set: the backend's default applies.
    pub fn new() -> Self {
        EntryOptions::default()
    }

    /// Expire at the instant `at` (.NET `AbsoluteExpiration`).
    #[must_use]
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.absolute_expiration = Some(at);
        self
    }

    /// Expire `after` from the time of the `set` (.NET
    /// `AbsoluteExpirationRelativeToNow`).
    #[must_use]
    pub fn expires_in(mut self, after: Duration) -> Self {
        self.absolute_expiration_relative_to_now = Some(after);
        self
    }

    /// Expire when not read or refreshed for `window` (.NET `SlidingExpiration`).
    #[must_use]
    pub fn sliding(mut self, window: Duration) -> Self {
        self.sliding_expiration = Some(window);
        self
    }

    /// The absolute expiration instant, if set.
    pub fn absolute_expiration(&self) -> Option<SystemTime> {
        self.absolute_expiration
    }

    /// The absolute expiration relative to the time of `set`, if set.
    pub fn absolute_expiration_relative_to_now(&self) -> Option<Duration> {
        self.absolute_expiration_relative_to_now
    }

    /// The sliding window, if set.
    pub fn sliding_expiration(&self) -> Option<Duration> {
        self.sliding_expiration
    }

    /// Whether nothing is set (the backend's default applies).
    pub fn is_empty(&self) -> bool {
        self.absolute_expiration.is_none()
            && self.absolute_expiration_relative_to_now.is_none()
            && self.sliding_expiration.is_none()
    }

    /// Validates the options (contract rule 6) and resolves them against
    /// `now` into an [`Expiry`] (rule 7: the earlier absolute instant wins).
    ///
    /// Backends call this before any I/O. Errors are
    /// [`ErrorKind::InvalidOptions`](crate::ErrorKind::InvalidOptions) naming
    /// the field: a zero duration, an absolute expiration at or before `now`,
    /// or a value beyond [`max_absolute_expiration`] /
    /// [`MAX_SLIDING_EXPIRATION`].
    ///
    /// ```
    /// use cache_abstractions::{EntryOptions, ErrorKind};
    /// use std::time::{Duration, SystemTime};
    ///
    /// let now = SystemTime::now();
    /// let err = EntryOptions::new().expires_at(now).resolve(now).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidOptions);
    /// assert_eq!(err.field(), Some("absolute_expiration"));
    ///
    /// let expiry = EntryOptions::new()
    ///     .expires_at(now + Duration::from_secs(10))
    ///     .expires_in(Duration::from_secs(5))
    ///     .resolve(now)?;
    /// assert_eq!(expiry.absolute, Some(now + Duration::from_secs(5)));
    /// # Ok::<(), cache_abstractions::Error>(())
    /// ```
    pub fn resolve(&self, now: SystemTime) -> Result<Expiry> {
        if let Some(at) = self.absolute_expiration {
            if at <= now {
                return Err(Error::invalid_options(
                    "absolute_expiration",
                    "must be later than now",
                ));
            }
            if at > max_absolute_expiration() {
                return Err(Error::invalid_options(
                    "absolute_expiration",
                    "must not be later than 9999-12-31T23:59:59Z",
                ));
            }
        }
        let relative = match self.absolute_expiration_relative_to_now {
            None => None,
            Some(d) if d.is_zero() => {
                return Err(Error::invalid_options(
                    "absolute_expiration_relative_to_now",
                    "must be greater than zero",
                ))
            }
            Some(d) => match now.checked_add(d) {
                Some(at) if at <= max_absolute_expiration() => Some(at),
                _ => {
                    return Err(Error::invalid_options(
                        "absolute_expiration_relative_to_now",
                        "must not reach past 9999-12-31T23:59:59Z",
                    ))
                }
            },
        };
        if let Some(d) = self.sliding_expiration {
            if d.is_zero() {
                return Err(Error::invalid_options(
                    "sliding_expiration",
                    "must be greater than zero",
                ));
            }
            if d > MAX_SLIDING_EXPIRATION {
                return Err(Error::invalid_options(
                    "sliding_expiration",
                    "must not exceed 2147483647 seconds",
                ));
            }
        }
        let absolute = match (self.absolute_expiration, relative) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(Expiry {
            absolute,
            sliding: self.sliding_expiration,
        })
    }
}

/// Options resolved against the time of `set`: what a backend stores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Expiry {
    /// The hard deadline, if any.
    pub absolute: Option<SystemTime>,
    /// The sliding window, if any.
    pub sliding: Option<Duration>,
}

impl Expiry {
    /// No expiry at all.
    pub const NEVER: Expiry = Expiry {
        absolute: None,
        sliding: None,
    };

    /// An expiry from its parts (no validation; see [`EntryOptions::resolve`]).
    pub fn new(absolute: Option<SystemTime>, sliding: Option<Duration>) -> Self {
        Expiry { absolute, sliding }
    }

    /// The instant after which the entry is dead if it is written or last
    /// accessed at `now`: `now + sliding`, capped at the absolute expiration
    /// (contract rule 8). `None` when the entry never expires.
    ///
    /// ```
    /// use cache_abstractions::Expiry;
    /// use std::time::{Duration, UNIX_EPOCH};
    ///
    /// let now = UNIX_EPOCH + Duration::from_secs(100);
    /// let e = Expiry::new(Some(now + Duration::from_secs(5)), Some(Duration::from_secs(60)));
    /// assert_eq!(e.deadline_from(now), Some(now + Duration::from_secs(5)));
    /// ```
    pub fn deadline_from(&self, now: SystemTime) -> Option<SystemTime> {
        let slide = self.sliding.and_then(|s| now.checked_add(s));
        match (self.absolute, slide) {
            (Some(a), Some(s)) => Some(a.min(s)),
            (Some(a), None) => Some(a),
            (None, Some(s)) => Some(s),
            // A sliding window so long that it overflows SystemTime: never.
            (None, None) => None,
        }
    }

    /// Whether the entry never expires.
    pub fn is_never(&self) -> bool {
        self.absolute.is_none() && self.sliding.is_none()
    }
}

/// Rounds `d` up to a whole multiple of `granularity` (never down to zero),
/// as the contract's "Time" section requires of every backend.
///
/// ```
/// use cache_abstractions::round_up;
/// use std::time::Duration;
///
/// let ms = Duration::from_millis(1);
/// assert_eq!(round_up(Duration::from_micros(300), ms), ms);
/// assert_eq!(round_up(Duration::from_millis(1500), Duration::from_secs(1)), Duration::from_secs(2));
/// assert_eq!(round_up(Duration::ZERO, ms), ms);
/// ```
pub fn round_up(d: Duration, granularity: Duration) -> Duration {
    let g = granularity.as_nanos().max(1);
    let units = d.as_nanos().div_ceil(g).max(1);
    let nanos = units.saturating_mul(g);
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    // The remainder is below one second, so it fits in u32.
    let sub = u32::try_from(nanos % 1_000_000_000).unwrap_or(0);
    Duration::new(secs, sub)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn empty_resolves_to_never() {
        let e = EntryOptions::new().resolve(t(10)).unwrap();
        assert!(e.is_never());
        assert_eq!(e.deadline_from(t(10)), None);
    }

    #[test]
    fn each_invalid_field_is_named() {
        let now = t(1000);
        let cases = [
            (EntryOptions::new().expires_at(now), "absolute_expiration"),
            (EntryOptions::new().expires_at(t(1)), "absolute_expiration"),
            (
                EntryOptions::new().expires_at(max_absolute_expiration() + Duration::from_secs(1)),
                "absolute_expiration",
            ),
            (
                EntryOptions::new().expires_in(Duration::ZERO),
                "absolute_expiration_relative_to_now",
            ),
            (
                EntryOptions::new().expires_in(Duration::MAX),
                "absolute_expiration_relative_to_now",
            ),
            (
                EntryOptions::new().sliding(Duration::ZERO),
                "sliding_expiration",
            ),
            (
                EntryOptions::new().sliding(MAX_SLIDING_EXPIRATION + Duration::from_secs(1)),
                "sliding_expiration",
            ),
        ];
        for (opts, field) in cases {
            let err = opts.resolve(now).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidOptions, "{opts:?}");
            assert_eq!(err.field(), Some(field), "{opts:?}");
        }
    }

    #[test]
    fn earlier_absolute_wins() {
        let now = t(100);
        let a = EntryOptions::new()
            .expires_at(t(105))
            .expires_in(Duration::from_secs(10));
        assert_eq!(a.resolve(now).unwrap().absolute, Some(t(105)));
        let b = EntryOptions::new()
            .expires_at(t(150))
            .expires_in(Duration::from_secs(10));
        assert_eq!(b.resolve(now).unwrap().absolute, Some(t(110)));
    }

    #[test]
    fn sliding_is_capped_by_absolute() {
        let e = Expiry::new(Some(t(105)), Some(Duration::from_secs(10)));
        assert_eq!(e.deadline_from(t(100)), Some(t(105)));
        assert_eq!(e.deadline_from(t(90)), Some(t(100)));
        let s = Expiry::new(None, Some(Duration::from_secs(10)));
        assert_eq!(s.deadline_from(t(100)), Some(t(110)));
    }

    #[test]
    fn round_up_never_reaches_zero() {
        let s = Duration::from_secs(1);
        assert_eq!(round_up(Duration::from_millis(300), s), s);
        assert_eq!(round_up(Duration::from_secs(2), s), Duration::from_secs(2));
        assert_eq!(
            round_up(Duration::from_nanos(2_000_000_001), s),
            Duration::from_secs(3)
        );
        assert_eq!(round_up(Duration::MAX, s).as_secs(), u64::MAX);
    }
}
