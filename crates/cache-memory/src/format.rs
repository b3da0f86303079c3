//! One stored entry: the value, its resolved expiry, and (for sliding
//! entries) the deadline that reads push forward.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cache_abstractions::{Bytes, EntryInfo, Expiry};

/// Microseconds since the Unix epoch; `NEVER` for no deadline. u64
/// microseconds reach past year 500,000, so every instant the options allow
/// (up to year 9999) is kept as it is. (Microseconds stopped at year 2554,
/// and a later expiration read as "never".)
pub(crate) type Micros = u64;
pub(crate) const NEVER: Micros = u64::MAX;
/// The granularity of every instant and window kept here.
pub(crate) const GRANULARITY: Duration = Duration::from_micros(1);

/// "Now": rounded down, so an entry is never judged later than it is.
pub(crate) fn to_micros(t: SystemTime) -> Micros {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(NEVER - 1))
        .unwrap_or(0)
}

/// A deadline: rounded up, so durations below a microsecond are never
/// rounded down (to zero). Never `NEVER`.
fn deadline_micros(t: SystemTime) -> Micros {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos().div_ceil(1000)).unwrap_or(NEVER - 1))
        .unwrap_or(0)
        .min(NEVER - 1)
}

fn from_micros(n: Micros) -> Option<SystemTime> {
    (n != NEVER).then(|| UNIX_EPOCH + Duration::from_micros(n))
}

/// A window in microseconds, rounded up.
fn micros_of(d: Duration) -> Micros {
    u64::try_from(d.as_nanos().div_ceil(1000)).unwrap_or(NEVER - 1)
}

/// What the store holds under a key. The store hands out clones on every
/// read, so state that reads change must be shared: only sliding entries
/// need that, and only they pay for an `Arc` (no heap block of its own for
/// the common case, and no reference count to bump on a read).
#[derive(Clone, Debug)]
pub(crate) enum Stored {
    /// No sliding window: nothing changes after `set`.
    Fixed { value: Bytes, deadline: Micros },
    /// A sliding window: reads move the shared deadline.
    Sliding(Arc<SlidingEntry>),
}

#[derive(Debug)]
pub(crate) struct SlidingEntry {
    value: Bytes,
    absolute: Micros,
    window: Duration,
    /// The instant after which the entry is dead. Reads move it forward with
    /// `fetch_max`, so concurrent reads never move it back.
    deadline: AtomicU64,
}

impl Stored {
    pub(crate) fn new(value: Bytes, expiry: Expiry, now: SystemTime) -> Self {
        let deadline = expiry.deadline_from(now).map_or(NEVER, deadline_micros);
        match expiry.sliding {
            None => Stored::Fixed { value, deadline },
            Some(window) => Stored::Sliding(Arc::new(SlidingEntry {
                value,
                absolute: expiry.absolute.map_or(NEVER, deadline_micros),
                window,
                deadline: AtomicU64::new(deadline),
            })),
        }
    }

    pub(crate) fn value(&self) -> &Bytes {
        match self {
            Stored::Fixed { value, .. } => value,
            Stored::Sliding(s) => &s.value,
        }
    }

    pub(crate) fn into_value(self) -> Bytes {
        match self {
            Stored::Fixed { value, .. } => value,
            Stored::Sliding(s) => s.value.clone(),
        }
    }

    fn deadline(&self) -> Micros {
        match self {
            Stored::Fixed { deadline, .. } => *deadline,
            Stored::Sliding(s) => s.deadline.load(Ordering::Acquire),
        }
    }

    /// True for entries that can never expire: no clock read needed.
    pub(crate) fn never_expires(&self) -> bool {
        matches!(
            self,
            Stored::Fixed {
                deadline: NEVER,
                ..
            }
        )
    }

    pub(crate) fn is_alive(&self, now: Micros) -> bool {
        now < self.deadline()
    }

    /// Restarts the sliding window from `now` (capped at the absolute
    /// expiration). The caller has just seen the entry alive at `now`.
    pub(crate) fn touch(&self, now: Micros) {
        if let Stored::Sliding(s) = self {
            let slid = now.saturating_add(micros_of(s.window)).min(NEVER - 1);
            s.deadline.fetch_max(slid.min(s.absolute), Ordering::AcqRel);
        }
    }

    pub(crate) fn info(&self) -> EntryInfo {
        let (absolute, sliding) = match self {
            Stored::Fixed { deadline, .. } => (*deadline, None),
            Stored::Sliding(s) => (s.absolute, Some(s.window)),
        };
        EntryInfo::new(
            self.value().len(),
            from_micros(absolute),
            sliding,
            from_micros(self.deadline()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn sliding_touch_moves_forward_but_not_past_absolute() {
        let e = Stored::new(
            Bytes::new(),
            Expiry::new(Some(at(110)), Some(Duration::from_secs(5))),
            at(100),
        );
        assert!(e.is_alive(to_micros(at(104))));
        assert!(!e.is_alive(to_micros(at(105))));
        // The store hands out clones: a touch through one is seen through all.
        let clone = e.clone();
        clone.touch(to_micros(at(104)));
        assert!(e.is_alive(to_micros(at(108))));
        e.touch(to_micros(at(108)));
        assert!(e.is_alive(to_micros(at(109))));
        assert!(
            !e.is_alive(to_micros(at(110))),
            "capped at the absolute expiration"
        );
        // A stale, earlier touch never moves the deadline back.
        e.touch(to_micros(at(101)));
        assert!(e.is_alive(to_micros(at(109))));
    }

    #[test]
    fn no_expiry_lives_forever_inline() {
        let e = Stored::new(Bytes::new(), Expiry::NEVER, at(100));
        assert!(e.never_expires());
        assert!(matches!(e, Stored::Fixed { .. }));
        assert!(e.is_alive(u64::MAX - 1));
        assert_eq!(e.info().expires_at, None);
    }

    #[test]
    fn absolute_only_is_inline_and_reports_its_deadline() {
        let e = Stored::new(
            Bytes::from_static(b"abc"),
            Expiry::new(Some(at(150)), None),
            at(100),
        );
        assert!(!e.never_expires());
        e.touch(to_micros(at(140)));
        assert!(!e.is_alive(to_micros(at(150))));
        let info = e.info();
        assert_eq!(info.size, 3);
        assert_eq!(info.absolute_expiration, Some(at(150)));
        assert_eq!(info.expires_at, Some(at(150)));
        assert_eq!(info.sliding_expiration, None);
    }

    #[test]
    fn sub_microsecond_durations_round_up_never_to_zero() {
        let now = at(100) + Duration::from_nanos(123);
        let e = Stored::new(
            Bytes::new(),
            Expiry::new(None, Some(Duration::from_nanos(300))),
            now,
        );
        assert!(e.is_alive(to_micros(now)), "rounded down to zero");
        e.touch(to_micros(now));
        assert!(!e.is_alive(to_micros(now + Duration::from_micros(2))));
    }

    #[test]
    fn instants_past_2554_are_kept() {
        let year_9999 = cache_abstractions::max_absolute_expiration();
        let e = Stored::new(Bytes::new(), Expiry::new(Some(year_9999), None), at(100));
        assert!(!e.never_expires());
        assert_eq!(e.info().absolute_expiration, Some(year_9999));
        assert!(e.is_alive(to_micros(year_9999) - 1));
        assert!(!e.is_alive(to_micros(year_9999)));
    }

    #[test]
    fn stored_stays_small() {
        // Inline in the store's slot: a Bytes and a deadline.
        assert!(std::mem::size_of::<Stored>() <= 48);
    }
}
