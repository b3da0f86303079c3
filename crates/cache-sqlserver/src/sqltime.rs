//! Instants as SQL Server `datetimeoffset` values, without a date-time crate.
//!
//! A TDS `datetimeoffset` carries the UTC date (days since 0001-01-01), the
//! UTC time of day (in 10^-scale second increments) and an offset that only
//! affects display. Every instant this crate writes has offset +00:00, as
//! .NET's cache writes them.

use std::time::SystemTime;

use cache_abstractions::support::dotnet::Ticks;
use cache_abstractions::{Error, Result};
use tiberius::time::{Date, DateTime2, DateTimeOffset, Time};

/// 100-ns ticks in a day.
const TICKS_PER_DAY: u64 = Ticks::PER_DAY.get() as u64;
/// Ticks of 9999-12-31T23:59:59.9999999, the last instant `datetimeoffset`
/// holds (.NET's `DateTime.MaxValue`).
const MAX_TICKS: u64 = Ticks::MAX_DATETIME.get() as u64;

/// An instant in .NET ticks (100 ns since 0001-01-01T00:00:00Z), the
/// resolution of both `datetimeoffset(7)` and .NET's `DateTimeOffset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SqlInstant(u64);

impl SqlInstant {
    /// `t` truncated to 100 ns; an error outside 0001-01-01 ..= 9999-12-31.
    pub(crate) fn from_system_time(t: SystemTime) -> Result<Self> {
        match Ticks::try_from_instant(t).and_then(|t| u64::try_from(t.get()).ok()) {
            Some(ticks) => Ok(SqlInstant(ticks)),
            None => Err(Error::invalid_options(
                "absolute_expiration",
                "the instant lies outside the range SQL Server's datetimeoffset holds (years 1 to 9999)",
            )),
        }
    }

    /// 9999-12-31T23:59:59.9999999Z.
    pub(crate) fn max() -> Self {
        SqlInstant(MAX_TICKS)
    }

    /// The instant as a `SystemTime`.
    pub(crate) fn to_system_time(self) -> SystemTime {
        // Always in range (at most MAX_TICKS), so the conversion is exact.
        Ticks::new(i64::try_from(self.0).unwrap_or(i64::MAX)).to_instant()
    }

    /// .NET ticks (the `UtcTicks` of a `DateTimeOffset`).
    #[cfg(test)]
    pub(crate) fn ticks(self) -> u64 {
        self.0
    }

    /// The TDS value, UTC with offset +00:00.
    pub(crate) fn to_tds(self) -> DateTimeOffset {
        // Both parts are in range by construction: days < 2^24, ticks < a day.
        let days = u32::try_from(self.0 / TICKS_PER_DAY).unwrap_or(0);
        let time = Time::new(self.0 % TICKS_PER_DAY, 7);
        DateTimeOffset::new(DateTime2::new(Date::new(days), time), 0)
    }

    /// Reads a TDS value of any scale; malformed parts are a corrupt entry.
    pub(crate) fn from_tds(value: DateTimeOffset) -> Result<Self> {
        let dt = value.datetime2();
        let scale = dt.time().scale();
        if scale > 7 {
            return Err(Error::corrupt(format!(
                "datetimeoffset with impossible scale {scale}"
            )));
        }
        let ticks_of_day = dt
            .time()
            .increments()
            .checked_mul(10u64.pow(u32::from(7 - scale)))
            .filter(|t| *t < TICKS_PER_DAY)
            .ok_or_else(|| Error::corrupt("datetimeoffset with a time of day past midnight"))?;
        let ticks = u64::from(dt.date().days())
            .checked_mul(TICKS_PER_DAY)
            .and_then(|d| d.checked_add(ticks_of_day))
            .filter(|t| *t <= MAX_TICKS)
            .ok_or_else(|| Error::corrupt("datetimeoffset after the year 9999"))?;
        Ok(SqlInstant(ticks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    const UNIX_EPOCH_TICKS: u64 = Ticks::UNIX_EPOCH.get() as u64;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn ticks_match_dotnet() {
        // The interop spec: ticks = unix_nanos / 100 + 621_355_968_000_000_000.
        let t = at(1_700_000_000, 123_456_789);
        let i = SqlInstant::from_system_time(t).unwrap();
        assert_eq!(i.ticks(), 17_000_000_001_234_567 + UNIX_EPOCH_TICKS);
        // Truncated to 100 ns on the way in.
        assert_eq!(i.to_system_time(), at(1_700_000_000, 123_456_700));
    }

    #[test]
    fn tds_parts_are_utc_days_and_increments() {
        let i = SqlInstant::from_system_time(at(86_400 + 1, 0)).unwrap();
        let dto = i.to_tds();
        assert_eq!(dto.offset(), 0);
        assert_eq!(dto.datetime2().date().days(), 719_163);
        assert_eq!(dto.datetime2().time().increments(), 10_000_000);
        assert_eq!(dto.datetime2().time().scale(), 7);
        assert_eq!(SqlInstant::from_tds(dto).unwrap(), i);
    }

    #[test]
    fn reads_other_scales_and_offsets() {
        // 00:00:01.5 at scale 3, shown at +02:00: the stored parts are UTC.
        let dto = DateTimeOffset::new(DateTime2::new(Date::new(719_162), Time::new(1_500, 3)), 120);
        let i = SqlInstant::from_tds(dto).unwrap();
        assert_eq!(i.to_system_time(), at(1, 500_000_000));
    }

    #[test]
    fn impossible_values_are_corrupt_not_panics() {
        use cache_abstractions::ErrorKind;
        let bad_scale = DateTimeOffset::new(DateTime2::new(Date::new(1), Time::new(1, 9)), 0);
        let past_midnight =
            DateTimeOffset::new(DateTime2::new(Date::new(1), Time::new(TICKS_PER_DAY, 7)), 0);
        let overflow = DateTimeOffset::new(DateTime2::new(Date::new(1), Time::new(u64::MAX, 0)), 0);
        let after_9999 =
            DateTimeOffset::new(DateTime2::new(Date::new(3_652_059), Time::new(0, 7)), 0);
        for dto in [bad_scale, past_midnight, overflow, after_9999] {
            assert_eq!(
                SqlInstant::from_tds(dto).unwrap_err().kind(),
                ErrorKind::CorruptEntry
            );
        }
    }

    #[test]
    fn range_is_year_1_to_9999() {
        let max =
            UNIX_EPOCH + Duration::from_secs(cache_abstractions::MAX_ABSOLUTE_EXPIRATION_UNIX_SECS);
        assert!(SqlInstant::from_system_time(max).is_ok());
        assert!(SqlInstant::from_system_time(max + Duration::from_secs(1)).is_err());
        let before = UNIX_EPOCH - Duration::from_secs(10);
        let i = SqlInstant::from_system_time(before).unwrap();
        assert_eq!(i.to_system_time(), before);
    }
}
