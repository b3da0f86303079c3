//! .NET ticks: the 100-nanosecond unit of `DateTime`, `DateTimeOffset` and
//! `TimeSpan`, in which ASP.NET Core's caches store expirations.
//!
//! An instant is ticks since 0001-01-01T00:00:00Z
//! (`ticks = unix_nanos / 100 + 621_355_968_000_000_000`); a duration is
//! plain ticks (1 s = 10 000 000).
//!
//! Every conversion here saturates or clamps instead of failing or
//! panicking: an instant is clamped to .NET's `DateTime` range (years 1 to
//! 9999), a duration saturates at `TimeSpan.MaxValue` (`i64::MAX` ticks,
//! about 29 227 years). So a decoder that accepts anything .NET can write
//! (for example `SlidingExpiration = TimeSpan.MaxValue`) never produces an
//! instant that arithmetic or formatting cannot handle.
//!
//! ```
//! use cache_abstractions::support::dotnet::Ticks;
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let t = UNIX_EPOCH + Duration::from_secs(1_704_067_200); // 2024-01-01T00:00:00Z
//! assert_eq!(Ticks::from_instant(t).get(), 638_396_640_000_000_000);
//! assert_eq!(Ticks::new(638_396_640_000_000_000).to_instant(), t);
//! assert_eq!(Ticks::from_duration(Duration::from_secs(1)), Ticks::PER_SECOND);
//! // TimeSpan.MaxValue as a window, added to now, stops at 9999-12-31.
//! let end = Ticks::from_instant(t).saturating_add(Ticks::MAX).to_instant();
//! assert_eq!(end, Ticks::MAX_DATETIME.to_instant());
//! ```

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NANOS_PER_TICK: i128 = 100;

/// A count of .NET ticks (100 ns): an instant since 0001-01-01T00:00:00Z or
/// a duration, as the context says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticks(i64);

impl Ticks {
    /// Zero ticks (as an instant: 0001-01-01T00:00:00Z, `DateTime.MinValue`).
    pub const ZERO: Ticks = Ticks(0);
    /// Ticks in one millisecond.
    pub const PER_MILLISECOND: Ticks = Ticks(10_000);
    /// Ticks in one second.
    pub const PER_SECOND: Ticks = Ticks(10_000_000);
    /// Ticks in one day (SQL Server's `datetimeoffset` counts days, then
    /// ticks of the day).
    pub const PER_DAY: Ticks = Ticks(864_000_000_000);
    /// 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Ticks = Ticks(621_355_968_000_000_000);
    /// `DateTime.MaxValue`: 9999-12-31T23:59:59.9999999Z, the last instant
    /// .NET (and SQL Server's `datetimeoffset`) can hold.
    pub const MAX_DATETIME: Ticks = Ticks(3_155_378_975_999_999_999);
    /// `TimeSpan.MaxValue`: the longest duration .NET writes.
    pub const MAX: Ticks = Ticks(i64::MAX);

    /// Ticks from their count.
    pub const fn new(ticks: i64) -> Ticks {
        Ticks(ticks)
    }

    /// The count.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// An instant as ticks, truncated to 100 ns and clamped to
    /// [`ZERO`](Self::ZERO) ..= [`MAX_DATETIME`](Self::MAX_DATETIME).
    pub fn from_instant(t: SystemTime) -> Ticks {
        let ticks = unix_nanos(t).div_euclid(NANOS_PER_TICK) + i128::from(Self::UNIX_EPOCH.0);
        Ticks(clamp_i64(ticks.clamp(0, i128::from(Self::MAX_DATETIME.0))))
    }

    /// An instant as ticks, or `None` when it lies outside .NET's `DateTime`
    /// range (years 1 to 9999); truncated to 100 ns.
    pub fn try_from_instant(t: SystemTime) -> Option<Ticks> {
        let ticks = unix_nanos(t).div_euclid(NANOS_PER_TICK) + i128::from(Self::UNIX_EPOCH.0);
        (0..=i128::from(Self::MAX_DATETIME.0))
            .contains(&ticks)
            .then(|| Ticks(clamp_i64(ticks)))
    }

    /// These ticks as an instant, first clamped to .NET's `DateTime` range
    /// (years 1 to 9999). On a platform whose `SystemTime` cannot reach
    /// year 1, earlier instants read as the earliest it can.
    pub fn to_instant(self) -> SystemTime {
        let ticks = self.0.clamp(0, Self::MAX_DATETIME.0);
        let since_epoch = ticks - Self::UNIX_EPOCH.0;
        let magnitude = Ticks(since_epoch.saturating_abs()).to_duration();
        if since_epoch >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH.checked_sub(magnitude).unwrap_or(UNIX_EPOCH)
        }
    }

    /// A duration as ticks, rounded up (so no window shrinks), saturating
    /// at [`MAX`](Self::MAX).
    pub fn from_duration(d: Duration) -> Ticks {
        let ticks = d.as_nanos().div_ceil(NANOS_PER_TICK as u128);
        Ticks(i64::try_from(ticks).unwrap_or(i64::MAX))
    }

    /// These ticks as a duration; a negative count is zero.
    pub fn to_duration(self) -> Duration {
        let ticks = u64::try_from(self.0).unwrap_or(0);
        let per_second = Self::PER_SECOND.0 as u64;
        // Below 10^7 ticks, times 100, is below 10^9: fits u32.
        Duration::new(ticks / per_second, (ticks % per_second) as u32 * 100)
    }

    /// Whole milliseconds, rounded up (a negative count is 0).
    pub fn to_millis_ceil(self) -> u64 {
        let ticks = u64::try_from(self.0).unwrap_or(0);
        ticks.div_ceil(Self::PER_MILLISECOND.0 as u64)
    }

    /// `self + other`, saturating at the bounds of `i64`.
    #[must_use]
    pub const fn saturating_add(self, other: Ticks) -> Ticks {
        Ticks(self.0.saturating_add(other.0))
    }

    /// `self - other`, saturating at the bounds of `i64`.
    #[must_use]
    pub const fn saturating_sub(self, other: Ticks) -> Ticks {
        Ticks(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Ticks {
    /// The decimal count, as .NET's `long.ToString()` writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// `now + d`, clamped to `DateTime.MaxValue` (9999-12-31T23:59:59.9999999Z):
/// for an expiry computed from a TTL or window that may reach past year
/// 9999, as a remaining-time reply or `TimeSpan.MaxValue` can.
pub fn instant_after(now: SystemTime, d: Duration) -> SystemTime {
    let max = Ticks::MAX_DATETIME.to_instant();
    now.checked_add(d).map_or(max, |t| t.min(max))
}

fn unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => i128::try_from(e.duration().as_nanos()).map_or(i128::MIN, |n| -n),
    }
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_match_dotnet_and_clamp() {
        assert_eq!(Ticks::from_instant(UNIX_EPOCH), Ticks::UNIX_EPOCH);
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(
            Ticks::from_instant(t).get(),
            17_000_000_001_234_567 + Ticks::UNIX_EPOCH.get()
        );
        assert_eq!(
            Ticks::from_instant(t).to_instant(),
            UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_700)
        );
        let max = crate::max_absolute_expiration();
        assert_eq!(
            Ticks::from_instant(max),
            Ticks::MAX_DATETIME.saturating_sub(Ticks::new(9_999_999))
        );
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(Ticks::from_instant(far), Ticks::MAX_DATETIME);
        assert_eq!(Ticks::try_from_instant(far), None);
        assert_eq!(Ticks::try_from_instant(max), Some(Ticks::from_instant(max)));
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(Ticks::from_instant(before).to_instant(), before);
    }

    #[test]
    fn out_of_range_ticks_become_instants_formatting_can_handle() {
        for raw in [i64::MAX, Ticks::MAX_DATETIME.get() + 1] {
            assert_eq!(
                Ticks::new(raw).to_instant(),
                Ticks::MAX_DATETIME.to_instant()
            );
        }
        assert!(Ticks::new(-5).to_instant() <= UNIX_EPOCH);
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            instant_after(now, Ticks::MAX.to_duration()),
            Ticks::MAX_DATETIME.to_instant()
        );
        assert_eq!(
            instant_after(now, Duration::MAX),
            Ticks::MAX_DATETIME.to_instant()
        );
        assert_eq!(
            instant_after(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }

    #[test]
    fn durations_round_up_and_saturate() {
        assert_eq!(Ticks::from_duration(Duration::from_nanos(1)), Ticks::new(1));
        assert_eq!(Ticks::from_duration(Duration::MAX), Ticks::MAX);
        assert_eq!(Ticks::new(10_000_001).to_duration(), Duration::new(1, 100));
        assert_eq!(Ticks::new(-1).to_duration(), Duration::ZERO);
        assert_eq!(Ticks::MAX.to_duration().as_secs(), 922_337_203_685);
        assert_eq!(Ticks::new(20_001).to_millis_ceil(), 3);
        assert_eq!(Ticks::MAX.to_millis_ceil(), 922_337_203_685_478);
        assert_eq!(Ticks::MAX.saturating_add(Ticks::new(1)), Ticks::MAX);
        assert_eq!(Ticks::new(42).to_string(), "42");
    }
}
