//! The stored format shared with ASP.NET Core's `RedisCache`: a hash with the
//! fields `absexp`, `sldexp` (.NET ticks, `-1` for none) and `data`.
//!
//! Everything read back is validated here with exact integer arithmetic;
//! anything malformed is a [`CorruptEntry`](cache_abstractions::ErrorKind)
//! error, never a panic or a guessed value.

use std::time::{Duration, SystemTime};

use cache_abstractions::support::dotnet::Ticks;
use cache_abstractions::{Error, Expiry, Result};

/// Hash field of the absolute expiration instant.
pub(crate) const ABSEXP: &str = "absexp";
/// Hash field of the sliding window.
pub(crate) const SLDEXP: &str = "sldexp";
/// Hash field of the value.
pub(crate) const DATA: &str = "data";

/// What .NET writes for "not set".
const NONE: &[u8] = b"-1";
/// The largest `sldexp`: `TimeSpan.MaxValue.Ticks` (`i64::MAX`), as text.
pub(crate) const MAX_SLDEXP: &str = "9223372036854775807";
/// The largest `absexp`: `DateTime.MaxValue.Ticks`, as text.
pub(crate) const MAX_ABSEXP: &str = "3155378975999999999";

/// The Redis TTL, in whole milliseconds rounded up (never 0), of an entry
/// written or last read at `now`: `min(absexp - now, sliding)`.
/// `None` when the entry never expires, `Some(0)` when it is already dead.
pub(crate) fn ttl_millis(now: Ticks, absexp: Option<Ticks>, sldexp: Option<Ticks>) -> Option<u64> {
    let left = absexp.map(|a| a.saturating_sub(now));
    let ticks = match (left, sldexp) {
        (Some(a), Some(s)) => a.min(s),
        (Some(a), None) => a,
        (None, Some(s)) => s,
        (None, None) => return None,
    };
    Some(ticks.to_millis_ceil())
}

/// The `absexp` and `sldexp` field values for an expiry, as .NET writes
/// them (decimal ticks, `-1` for none).
pub(crate) fn encode_expiry(expiry: &Expiry) -> (String, String) {
    let abs = expiry
        .absolute
        .map_or_else(|| "-1".to_string(), |a| Ticks::from_instant(a).to_string());
    let sld = expiry
        .sliding
        .map_or_else(|| "-1".to_string(), |s| Ticks::from_duration(s).to_string());
    (abs, sld)
}

/// The validated expiry fields of a stored entry, in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoredExpiry {
    /// Absolute expiration instant, if any.
    pub(crate) absexp: Option<Ticks>,
    /// Sliding window, if any (up to `TimeSpan.MaxValue`).
    pub(crate) sldexp: Option<Ticks>,
}

impl StoredExpiry {
    /// Parses the two fields; `None` for either field is a hash without it.
    pub(crate) fn parse(absexp: Option<&[u8]>, sldexp: Option<&[u8]>) -> Result<StoredExpiry> {
        let absexp = parse_ticks(ABSEXP, absexp, MAX_ABSEXP)?;
        let sldexp = parse_ticks(SLDEXP, sldexp, MAX_SLDEXP)?;
        Ok(StoredExpiry { absexp, sldexp })
    }

    /// Whether the hard deadline has passed at `now_ticks`.
    pub(crate) fn is_expired(&self, now: Ticks) -> bool {
        self.absexp.is_some_and(|a| a <= now)
    }

    /// The TTL the entry should have at `now` (`None`: no TTL at all).
    pub(crate) fn ttl_millis(&self, now: Ticks) -> Option<u64> {
        ttl_millis(now, self.absexp, self.sldexp)
    }

    /// The absolute expiration as an instant (at most year 9999).
    pub(crate) fn absolute(&self) -> Option<SystemTime> {
        self.absexp.map(Ticks::to_instant)
    }

    /// The sliding window as a duration.
    pub(crate) fn sliding(&self) -> Option<Duration> {
        self.sldexp.map(Ticks::to_duration)
    }
}

/// `-1` is "none"; otherwise a positive decimal integer, at most `max`,
/// without sign, spaces or leading zeros: exactly what .NET's
/// `long.ToString()` writes for these fields. The server script
/// (`scripts.rs`) applies the very same test before it moves a TTL.
fn parse_ticks(field: &'static str, raw: Option<&[u8]>, max: &str) -> Result<Option<Ticks>> {
    let Some(raw) = raw else {
        return Err(Error::corrupt(format!("the hash has no {field} field")));
    };
    if raw == NONE {
        return Ok(None);
    }
    let well_formed = matches!(raw.first(), Some(b'1'..=b'9'))
        && raw.iter().all(u8::is_ascii_digit)
        && (raw.len() < max.len() || (raw.len() == max.len() && raw <= max.as_bytes()));
    let value = std::str::from_utf8(raw)
        .ok()
        .filter(|_| well_formed)
        .and_then(|s| s.parse::<i64>().ok());
    match value {
        Some(v) => Ok(Some(Ticks::new(v))),
        None if field == ABSEXP => Err(Error::corrupt(
            "field absexp is not -1 or .NET ticks of an instant up to the year 9999",
        )),
        None => Err(Error::corrupt(format!(
            "field {field} is not -1 or a positive number of .NET ticks"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_abstractions::ErrorKind;

    fn t(v: i64) -> Ticks {
        Ticks::new(v)
    }

    #[test]
    fn ttl_is_the_earlier_deadline_rounded_up_never_zero() {
        let now = t(1_000_000_000);
        assert_eq!(ttl_millis(now, None, None), None);
        assert_eq!(ttl_millis(now, None, Some(t(1))), Some(1));
        assert_eq!(
            ttl_millis(now, Some(t(now.get() + 20_000)), Some(t(50_000))),
            Some(2)
        );
        assert_eq!(ttl_millis(now, Some(t(now.get() + 20_001)), None), Some(3));
        assert_eq!(ttl_millis(now, Some(now), Some(t(10))), Some(0));
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
            b"007",
            b" 12",
            b"+12",
            b"1.5",
            b"9223372036854775808",
            b"9999999999999999999",
            b"99999999999999999999",
        ] {
            let err = StoredExpiry::parse(Some(b"-1"), Some(bad)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::CorruptEntry, "{bad:?}");
            let err = StoredExpiry::parse(Some(bad), Some(b"-1")).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::CorruptEntry, "{bad:?}");
        }
        let beyond = (Ticks::MAX_DATETIME.get() + 1).to_string();
        assert!(StoredExpiry::parse(Some(beyond.as_bytes()), Some(b"-1")).is_err());
        assert!(StoredExpiry::parse(Some(MAX_ABSEXP.as_bytes()), Some(b"-1")).is_ok());
        assert!(StoredExpiry::parse(None, Some(b"-1")).is_err());
    }

    #[test]
    fn timespan_max_value_decodes_and_saturates() {
        // What .NET writes for `SlidingExpiration = TimeSpan.MaxValue`.
        let e = StoredExpiry::parse(Some(b"-1"), Some(MAX_SLDEXP.as_bytes())).unwrap();
        assert_eq!(e.sldexp, Some(Ticks::MAX));
        assert_eq!(e.sliding(), Some(Ticks::MAX.to_duration()));
        let now = Ticks::from_instant(SystemTime::now());
        assert_eq!(e.ttl_millis(now), Some(922_337_203_685_478));
        let at_max = StoredExpiry::parse(Some(MAX_ABSEXP.as_bytes()), Some(b"-1")).unwrap();
        assert_eq!(at_max.absolute(), Some(Ticks::MAX_DATETIME.to_instant()));
    }

    #[test]
    fn expiry_encodes_as_dotnet_ticks() {
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        let e = Expiry::new(Some(at), Some(Duration::from_secs(60)));
        assert_eq!(
            encode_expiry(&e),
            ("638396640000000000".into(), "600000000".into())
        );
        assert_eq!(encode_expiry(&Expiry::NEVER), ("-1".into(), "-1".into()));
    }
}
