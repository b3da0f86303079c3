//! The expiry of one `set` on a remote store: [`SetExpiry`].
//!
//! The rules themselves are the crate's: [`EntryOptions::resolve`] checks
//! the options and gives an [`Expiry`] (the earlier absolute instant wins),
//! [`Expiry::deadline_from`] is the sliding window capped at the absolute
//! expiration, [`round_up`](crate::round_up) rounds a window to the
//! store's granularity. What a backend adds is *when* to resolve: once
//! before any I/O, so bad options fail without a round trip, and again
//! once a connection is in hand, so a slow connect does not eat into the
//! entry's lifetime.
//!
//! ```
//! use cache_abstractions::support::expiry::SetExpiry;
//! use cache_abstractions::EntryOptions;
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let defaults = EntryOptions::new().sliding(Duration::from_secs(1200));
//! let start = UNIX_EPOCH + Duration::from_secs(1_000);
//! let none = EntryOptions::new();
//! let expiry = SetExpiry::new(&none, &defaults, start)?;
//! // Empty options take the cache's defaults (.NET's DefaultSlidingExpiration).
//! assert_eq!(expiry.first().sliding, Some(Duration::from_secs(1200)));
//! # Ok::<(), cache_abstractions::Error>(())
//! ```

use std::time::SystemTime;

use crate::{EntryOptions, Expiry, Result};

/// The options of one `set`, resolved before any I/O and again at the
/// time of the write.
#[derive(Clone, Copy, Debug)]
pub struct SetExpiry<'a> {
    options: &'a EntryOptions,
    first: Expiry,
}

impl<'a> SetExpiry<'a> {
    /// `options`, or the cache's `defaults` when they are empty, resolved
    /// at `now`: an `InvalidOptions` error here means no I/O happens.
    pub fn new(
        options: &'a EntryOptions,
        defaults: &'a EntryOptions,
        now: SystemTime,
    ) -> Result<SetExpiry<'a>> {
        let options = if options.is_empty() {
            defaults
        } else {
            options
        };
        Ok(SetExpiry {
            options,
            first: options.resolve(now)?,
        })
    }

    /// The expiry resolved before any I/O.
    pub fn first(&self) -> Expiry {
        self.first
    }

    /// The expiry as of `now`, the time of the write (a relative
    /// expiration counts from here). An absolute instant that passed while
    /// connecting gives the first resolution: the entry is dead either way,
    /// and the write still replaces what was there.
    pub fn at(&self, now: SystemTime) -> Expiry {
        self.options.resolve(now).unwrap_or(self.first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use std::time::{Duration, UNIX_EPOCH};

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn empty_options_take_the_defaults_and_given_ones_win() {
        let defaults = EntryOptions::new().sliding(Duration::from_secs(60));
        let none = EntryOptions::new();
        let e = SetExpiry::new(&none, &defaults, t(10)).unwrap();
        assert_eq!(e.first(), Expiry::new(None, Some(Duration::from_secs(60))));
        let given = EntryOptions::new().expires_at(t(100));
        let e = SetExpiry::new(&given, &defaults, t(10)).unwrap();
        assert_eq!(e.first(), Expiry::new(Some(t(100)), None));
    }

    #[test]
    fn bad_options_fail_before_any_io() {
        let defaults = EntryOptions::new();
        let past = EntryOptions::new().expires_at(t(5));
        let e = SetExpiry::new(&past, &defaults, t(10)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOptions);
    }

    #[test]
    fn the_write_time_counts_and_a_passed_instant_keeps_the_first() {
        let defaults = EntryOptions::new();
        let relative = EntryOptions::new().expires_in(Duration::from_secs(30));
        let e = SetExpiry::new(&relative, &defaults, t(10)).unwrap();
        assert_eq!(e.first().absolute, Some(t(40)));
        assert_eq!(e.at(t(15)).absolute, Some(t(45)), "counted from the write");
        let absolute = EntryOptions::new().expires_at(t(12));
        let e = SetExpiry::new(&absolute, &defaults, t(10)).unwrap();
        assert_eq!(e.at(t(20)), e.first(), "passed while connecting");
    }
}
