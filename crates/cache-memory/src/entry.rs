//! One stored entry: the value, its resolved expiry, and the deadline that
//! sliding reads push forward.

use std::sync::atomic::{AtomicU64, Ordering};
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

#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) value: Bytes,
    absolute: Nanos,
    sliding: Option<Duration>,
    /// The instant after which the entry is dead. Sliding reads move it
    /// forward with `fetch_max`, so concurrent reads never move it back.
    deadline: AtomicU64,
}

impl Entry {
    pub(crate) fn new(value: Bytes, expiry: Expiry, now: SystemTime) -> Self {
        let deadline = expiry.deadline_from(now).map_or(NEVER, to_nanos);
        Entry {
            value,
            absolute: expiry.absolute.map_or(NEVER, to_nanos),
            sliding: expiry.sliding,
            deadline: AtomicU64::new(deadline),
        }
    }

    pub(crate) fn is_alive(&self, now: Nanos) -> bool {
        now < self.deadline.load(Ordering::Acquire)
    }

    /// Restarts the sliding window from `now` (capped at the absolute
    /// expiration). The caller has just seen the entry alive at `now`.
    pub(crate) fn touch(&self, now: Nanos) {
        if let Some(window) = self.sliding {
            let slid = now.saturating_add(u64::try_from(window.as_nanos()).unwrap_or(NEVER));
            self.deadline
                .fetch_max(slid.min(self.absolute), Ordering::AcqRel);
        }
    }

    /// How long from `now` until the entry is dead; `None` for never.
    pub(crate) fn time_to_live(&self, now: Nanos) -> Option<Duration> {
        let deadline = self.deadline.load(Ordering::Acquire);
        (deadline != NEVER).then(|| Duration::from_nanos(deadline.saturating_sub(now)))
    }

    /// The longest a sliding read can extend the entry from `now`.
    pub(crate) fn window_from(&self, now: Nanos) -> Option<Option<Duration>> {
        self.sliding.map(|w| {
            let to_absolute = (self.absolute != NEVER)
                .then(|| Duration::from_nanos(self.absolute.saturating_sub(now)));
            Some(to_absolute.map_or(w, |a| a.min(w)))
        })
    }

    pub(crate) fn info(&self) -> EntryInfo {
        EntryInfo::new(
            self.value.len(),
            from_nanos(self.absolute),
            self.sliding,
            from_nanos(self.deadline.load(Ordering::Acquire)),
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
        let e = Entry::new(
            Bytes::new(),
            Expiry::new(Some(at(110)), Some(Duration::from_secs(5))),
            at(100),
        );
        assert!(e.is_alive(to_nanos(at(104))));
        assert!(!e.is_alive(to_nanos(at(105))));
        e.touch(to_nanos(at(104)));
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
    }

    #[test]
    fn no_expiry_lives_forever() {
        let e = Entry::new(Bytes::new(), Expiry::NEVER, at(100));
        assert!(e.is_alive(u64::MAX - 1));
        assert_eq!(e.time_to_live(0), None);
        assert_eq!(e.info().expires_at, None);
    }
}
