//! One stored entry: the value, its resolved expiry, and (for sliding
//! entries) the deadline that reads push forward.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cache_abstractions::{Bytes, EntryInfo, Expiry};

/// Nanoseconds since the Unix epoch; `NEVER` for no deadline. u64 reaches
/// the year 2554; later deadlines saturate to `NEVER`, which no clock reaches.
pub(crate) type Nanos = u64;
pub(crate) const NEVER: Nanos = u64::MAX;

pub(crate) fn to_nanos(t: SystemTime) -> Nanos {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(NEVER))
        .unwrap_or(0)
}

fn from_nanos(n: Nanos) -> Option<SystemTime> {
    (n != NEVER).then(|| UNIX_EPOCH + Duration::from_nanos(n))
}

fn nanos_of(d: Duration) -> Nanos {
    u64::try_from(d.as_nanos()).unwrap_or(NEVER)
}

/// What moka holds under a key. moka hands out clones on every read, so
/// state that reads change must be shared: only sliding entries need that,
/// and only they pay for an `Arc` (one heap block fewer per entry for the
/// common case, and no reference count to bump on a read).
#[derive(Clone, Debug)]
pub(crate) enum Stored {
    /// No sliding window: nothing changes after `set`.
    Fixed { value: Bytes, deadline: Nanos },
    /// A sliding window: reads move the shared deadline.
    Sliding(Arc<SlidingEntry>),
}

#[derive(Debug)]
pub(crate) struct SlidingEntry {
    value: Bytes,
    absolute: Nanos,
    window: Duration,
    /// The instant after which the entry is dead. Reads move it forward with
    /// `fetch_max`, so concurrent reads never move it back.
    deadline: AtomicU64,
}

impl Stored {
    pub(crate) fn new(value: Bytes, expiry: Expiry, now: SystemTime) -> Self {
        let deadline = expiry.deadline_from(now).map_or(NEVER, to_nanos);
        match expiry.sliding {
            None => Stored::Fixed { value, deadline },
            Some(window) => Stored::Sliding(Arc::new(SlidingEntry {
                value,
                absolute: expiry.absolute.map_or(NEVER, to_nanos),
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

    fn deadline(&self) -> Nanos {
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

    pub(crate) fn is_alive(&self, now: Nanos) -> bool {
        now < self.deadline()
    }

    /// Restarts the sliding window from `now` (capped at the absolute
    /// expiration). The caller has just seen the entry alive at `now`.
    pub(crate) fn touch(&self, now: Nanos) {
        if let Stored::Sliding(s) = self {
            let slid = now.saturating_add(nanos_of(s.window));
            s.deadline.fetch_max(slid.min(s.absolute), Ordering::AcqRel);
        }
    }

    /// How long from `now` until the entry is dead; `None` for never.
    pub(crate) fn time_to_live(&self, now: Nanos) -> Option<Duration> {
        let deadline = self.deadline();
        (deadline != NEVER).then(|| Duration::from_nanos(deadline.saturating_sub(now)))
    }

    /// For sliding entries, the longest a read at `now` can extend the
    /// entry: the window, or less when the absolute expiration is nearer.
    pub(crate) fn window_from(&self, now: Nanos) -> Option<Duration> {
        match self {
            Stored::Fixed { .. } => None,
            Stored::Sliding(s) => {
                let to_absolute = Duration::from_nanos(s.absolute.saturating_sub(now));
                Some(s.window.min(to_absolute))
            }
        }
    }

    pub(crate) fn info(&self) -> EntryInfo {
        let (absolute, sliding) = match self {
            Stored::Fixed { deadline, .. } => (*deadline, None),
            Stored::Sliding(s) => (s.absolute, Some(s.window)),
        };
        EntryInfo::new(
            self.value().len(),
            from_nanos(absolute),
            sliding,
            from_nanos(self.deadline()),
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
        assert!(e.is_alive(to_nanos(at(104))));
        assert!(!e.is_alive(to_nanos(at(105))));
        // moka hands out clones: a touch through one is seen through all.
        let clone = e.clone();
        clone.touch(to_nanos(at(104)));
        assert!(e.is_alive(to_nanos(at(108))));
        e.touch(to_nanos(at(108)));
        assert!(e.is_alive(to_nanos(at(109))));
        assert!(
            !e.is_alive(to_nanos(at(110))),
            "capped at the absolute expiration"
        );
        // A stale, earlier touch never moves the deadline back.
        e.touch(to_nanos(at(101)));
        assert!(e.is_alive(to_nanos(at(109))));
        assert_eq!(
            e.window_from(to_nanos(at(108))),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn no_expiry_lives_forever_inline() {
        let e = Stored::new(Bytes::new(), Expiry::NEVER, at(100));
        assert!(e.never_expires());
        assert!(matches!(e, Stored::Fixed { .. }));
        assert!(e.is_alive(u64::MAX - 1));
        assert_eq!(e.time_to_live(0), None);
        assert_eq!(e.info().expires_at, None);
        assert_eq!(e.window_from(0), None);
    }

    #[test]
    fn absolute_only_is_inline_and_reports_its_deadline() {
        let e = Stored::new(
            Bytes::from_static(b"abc"),
            Expiry::new(Some(at(150)), None),
            at(100),
        );
        assert!(!e.never_expires());
        e.touch(to_nanos(at(140)));
        assert!(!e.is_alive(to_nanos(at(150))));
        let info = e.info();
        assert_eq!(info.size, 3);
        assert_eq!(info.absolute_expiration, Some(at(150)));
        assert_eq!(info.expires_at, Some(at(150)));
        assert_eq!(info.sliding_expiration, None);
    }

    #[test]
    fn stored_stays_small() {
        // Inline in moka's value slot: a Bytes and a deadline.
        assert!(std::mem::size_of::<Stored>() <= 48);
    }
}
