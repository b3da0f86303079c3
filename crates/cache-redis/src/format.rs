//! The stored format shared with ASP.NET Core's `RedisCache`: a hash with the
//! fields `absexp`, `sldexp` (.NET ticks, `-1` for none) and `data`.
//!
//! Everything read back is validated here with exact integer arithmetic;
//! anything malformed is a [`CorruptEntry`](cache_abstractions::ErrorKind)
//! error, never a panic or a guessed value.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cache_abstractions::{Error, Expiry, Result};

/// Hash field of the absolute expiration instant.
pub(crate) const ABSEXP: &str = "absexp";
/// Hash field of the sliding window.
pub(crate) const SLDEXP: &str = "sldexp";
/// Hash field of the value.
pub(crate) const DATA: &str = "data";

/// .NET ticks (100 ns) at 1970-01-01T00:00:00Z.
pub(crate) const TICKS_AT_UNIX_EPOCH: i64 = 621_355_968_000_000_000;
/// `DateTime.MaxValue.Ticks`: 9999-12-31T23:59:59.9999999.
pub(crate) const MAX_TICKS: i64 = 3_155_378_975_999_999_999;
const NANOS_PER_TICK: i128 = 100;
const TICKS_PER_MILLI: i64 = 10_000;
/// What .NET writes for "not set".
const NONE: &[u8] = b"-1";

/// An instant as .NET ticks (UTC). Instants before the Unix epoch count
/// backwards; the result is clamped to .NET's range.
pub(crate) fn instant_to_ticks(t: SystemTime) -> i64 {
    let nanos: i128 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    let ticks = nanos.div_euclid(NANOS_PER_TICK) + TICKS_AT_UNIX_EPOCH as i128;
    ticks.clamp(0, MAX_TICKS as i128) as i64
}

/// .NET ticks as an instant (only called with validated, positive ticks).
pub(crate) fn ticks_to_instant(ticks: i64) -> SystemTime {
    let since_epoch = i128::from(ticks) - i128::from(TICKS_AT_UNIX_EPOCH);
    let nanos = since_epoch * NANOS_PER_TICK;
    let abs = nanos.unsigned_abs();
    // Validated ticks are below 3.2e18, so the seconds fit in u64.
    let magnitude = Duration::new(
        u64::try_from(abs / 1_000_000_000).unwrap_or(u64::MAX),
        (abs % 1_000_000_000) as u32,
    );
    if nanos >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// A duration as ticks, rounded up so that no window shrinks (saturating).
pub(crate) fn duration_to_ticks(d: Duration) -> i64 {
    let ticks = d.as_nanos().div_ceil(NANOS_PER_TICK as u128);
    i64::try_from(ticks).unwrap_or(i64::MAX)
}

/// Ticks as a duration (only called with validated, positive ticks).
pub(crate) fn ticks_to_duration(ticks: i64) -> Duration {
    let ticks = u64::try_from(ticks).unwrap_or(0);
    Duration::from_secs(ticks / 10_000_000) + Duration::from_nanos((ticks % 10_000_000) * 100)
}

/// The Redis TTL, in whole milliseconds rounded up (never 0), of an entry
/// written or last read at `now_ticks`: `min(absexp - now, sliding)`.
/// `None` when the entry never expires, `Some(0)` when it is already dead.
pub(crate) fn ttl_millis(now_ticks: i64, absexp: Option<i64>, sldexp: Option<i64>) -> Option<u64> {
    let left = absexp.map(|a| a.saturating_sub(now_ticks));
    let ticks = match (left, sldexp) {
        (Some(a), Some(s)) => a.min(s),
        (Some(a), None) => a,
        (None, Some(s)) => s,
        (None, None) => return None,
    };
    if ticks <= 0 {
        return Some(0);
    }
    // ceil(ticks / 10_000) without overflow.
    let ms = ticks / TICKS_PER_MILLI + i64::from(ticks % TICKS_PER_MILLI != 0);
    Some(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// The `absexp` and `sldexp` field values for an expiry, as .NET writes
/// them (decimal ticks, `-1` for none).
pub(crate) fn encode_expiry(expiry: &Expiry) -> (String, String) {
    let abs = expiry
        .absolute
        .map_or_else(|| "-1".to_string(), |a| instant_to_ticks(a).to_string());
    let sld = expiry
        .sliding
        .map_or_else(|| "-1".to_string(), |s| duration_to_ticks(s).to_string());
    (abs, sld)
}

/// The validated expiry fields of a stored entry, in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoredExpiry {
    /// Absolute expiration instant, if any.
    pub(crate) absexp: Option<i64>,
    /// Sliding window, if any.
    pub(crate) sldexp: Option<i64>,
}

impl StoredExpiry {
    /// Parses the two fields; `None` for either field is a hash without it.
    pub(crate) fn parse(absexp: Option<&[u8]>, sldexp: Option<&[u8]>) -> Result<StoredExpiry> {
        let absexp = parse_ticks(ABSEXP, absexp)?;
        if absexp.is_some_and(|a| a > MAX_TICKS) {
            return Err(Error::corrupt(
                "field absexp lies beyond the year 9999 (.NET's DateTime range)",
            ));
        }
        let sldexp = parse_ticks(SLDEXP, sldexp)?;
        Ok(StoredExpiry { absexp, sldexp })
    }

    /// Whether the hard deadline has passed at `now_ticks`.
    pub(crate) fn is_expired(&self, now_ticks: i64) -> bool {
        self.absexp.is_some_and(|a| a <= now_ticks)
    }

    /// The TTL a read at `now_ticks` sets: only sliding entries slide.
    pub(crate) fn slide_millis(&self, now_ticks: i64) -> Option<u64> {
        self.sldexp?;
        ttl_millis(now_ticks, self.absexp, self.sldexp)
    }

    /// The absolute expiration as an instant.
    pub(crate) fn absolute(&self) -> Option<SystemTime> {
        self.absexp.map(ticks_to_instant)
    }

    /// The sliding window as a duration.
    pub(crate) fn sliding(&self) -> Option<Duration> {
        self.sldexp.map(ticks_to_duration)
    }
}

/// `-1` is "none"; otherwise a positive decimal integer without sign or
/// spaces (what .NET's `long.ToString()` writes for these fields).
fn parse_ticks(field: &'static str, raw: Option<&[u8]>) -> Result<Option<i64>> {
    let Some(raw) = raw else {
        return Err(Error::corrupt(format!("the hash has no {field} field")));
    };
    if raw == NONE {
        return Ok(None);
    }
    let digits_only = !raw.is_empty() && raw.iter().all(u8::is_ascii_digit);
    let value = std::str::from_utf8(raw)
        .ok()
        .filter(|_| digits_only)
        .and_then(|s| s.parse::<i64>().ok());
    match value {
        Some(v) if v > 0 => Ok(Some(v)),
        _ => Err(Error::corrupt(format!(
            "field {field} is not -1 or a positive number of .NET ticks"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_abstractions::ErrorKind;

    #[test]
    fn epoch_and_known_instants_match_dotnet() {
        assert_eq!(instant_to_ticks(UNIX_EPOCH), TICKS_AT_UNIX_EPOCH);
        // 2024-01-01T00:00:00Z is 638_396_640_000_000_000 ticks in .NET.
        let t = UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        assert_eq!(instant_to_ticks(t), 638_396_640_000_000_000);
        assert_eq!(ticks_to_instant(638_396_640_000_000_000), t);
        // 9999-12-31T23:59:59Z (the contract's maximum) stays in range.
        let max = cache_abstractions::max_absolute_expiration();
        assert_eq!(instant_to_ticks(max), MAX_TICKS - 9_999_999);
    }

    #[test]
    fn durations_round_trip_and_round_up() {
        assert_eq!(duration_to_ticks(Duration::from_secs(1)), 10_000_000);
        assert_eq!(duration_to_ticks(Duration::from_nanos(1)), 1);
        assert_eq!(ticks_to_duration(10_000_001), Duration::new(1, 100));
    }

    #[test]
    fn ttl_is_the_earlier_deadline_rounded_up_never_zero() {
        let now = 1_000_000_000;
        assert_eq!(ttl_millis(now, None, None), None);
        assert_eq!(ttl_millis(now, None, Some(1)), Some(1));
        assert_eq!(ttl_millis(now, Some(now + 20_000), Some(50_000)), Some(2));
        assert_eq!(ttl_millis(now, Some(now + 20_001), None), Some(3));
        assert_eq!(ttl_millis(now, Some(now), Some(10)), Some(0));
    }

    #[test]
    fn parses_what_dotnet_writes_and_rejects_the_rest() {
        let e = StoredExpiry::parse(Some(b"-1"), Some(b"3000000000")).unwrap();
        assert_eq!(e.absexp, None);
        assert_eq!(e.sliding(), Some(Duration::from_secs(300)));
        for bad in [
            &b""[..],
            b"abc",
            b"-2",
            b"0",
            b" 12",
            b"+12",
            b"1.5",
            b"99999999999999999999",
        ] {
            let err = StoredExpiry::parse(Some(bad), Some(b"-1")).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::CorruptEntry, "{bad:?}");
        }
        let beyond = (MAX_TICKS + 1).to_string();
        assert!(StoredExpiry::parse(Some(beyond.as_bytes()), Some(b"-1")).is_err());
        assert!(StoredExpiry::parse(None, Some(b"-1")).is_err());
    }

    #[test]
    fn expiry_encodes_as_dotnet_ticks() {
        let at = UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        let e = Expiry::new(Some(at), Some(Duration::from_secs(60)));
        assert_eq!(
            encode_expiry(&e),
            ("638396640000000000".into(), "600000000".into())
        );
        assert_eq!(encode_expiry(&Expiry::NEVER), ("-1".into(), "-1".into()));
    }
}
