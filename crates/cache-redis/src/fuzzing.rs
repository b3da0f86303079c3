//! Entry points for the fuzz targets (`fuzz/`) and property tests: the
//! decoders of outside data, which are private otherwise.
//!
//! **Not part of the API**: hidden from the docs, only built with the
//! `fuzzing` feature, and free to change in any release.

use std::time::{Duration, SystemTime};

use cache_abstractions::support::dotnet::Ticks;
use cache_abstractions::{EntryOptions, Result};
use redis::Value;

use crate::cache::{array, Raw};
use crate::format::{self, StoredExpiry};
use crate::url::Target;

/// An entry's expiry as the decoder read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedExpiry {
    /// The absolute expiration, if any.
    pub absolute: Option<SystemTime>,
    /// The sliding window, if any.
    pub sliding: Option<Duration>,
    /// The TTL the key should have at the decode's `now`, in milliseconds
    /// (`None`: no TTL).
    pub ttl_millis: Option<u64>,
}

fn decoded(expiry: StoredExpiry, now: Ticks) -> DecodedExpiry {
    DecodedExpiry {
        absolute: expiry.absolute(),
        sliding: expiry.sliding(),
        ttl_millis: expiry.ttl_millis(now),
    }
}

/// Decodes an entry's hash fields read at `now` exactly as `get` does:
/// `Ok(None)` for a miss (no fields, or past its absolute expiration), a
/// `CorruptEntry` error for anything malformed.
pub fn decode_hash(
    absexp: Option<&[u8]>,
    sldexp: Option<&[u8]>,
    data: Option<&[u8]>,
    now: SystemTime,
) -> Result<Option<DecodedExpiry>> {
    let raw = Raw {
        absexp: absexp.map(<[u8]>::to_vec),
        sldexp: sldexp.map(<[u8]>::to_vec),
        data: data.map(<[u8]>::to_vec),
        has_data: data.is_some(),
    };
    let now = Ticks::from_instant(now);
    Ok(raw.validate(now)?.map(|e| decoded(e, now)))
}

/// Decodes a server reply to a read (the `HMGET absexp sldexp data` array,
/// or the sliding script's array) given as RESP bytes. `None` when redis-rs
/// itself cannot parse the bytes (its parser is not ours to fuzz).
pub fn decode_reply(resp: &[u8], now: SystemTime) -> Option<Result<Option<DecodedExpiry>>> {
    let value: Value = redis::parse_redis_value(resp).ok()?;
    let now = Ticks::from_instant(now);
    Some(
        array(value)
            .and_then(Raw::from_values)
            .and_then(|raw| raw.validate(now))
            .map(|e| e.map(|e| decoded(e, now))),
    )
}

/// What `set` stores for `options` at `now`: the `absexp` and `sldexp`
/// fields and the key's TTL in milliseconds (`None`: no TTL).
pub fn encode_options(
    options: &EntryOptions,
    now: SystemTime,
) -> Result<(String, String, Option<u64>)> {
    let expiry = options.resolve(now)?;
    let (absexp, sldexp) = format::encode_expiry(&expiry);
    let ttl = format::ttl_millis(
        Ticks::from_instant(now),
        expiry.absolute.map(Ticks::from_instant),
        expiry.sliding.map(Ticks::from_duration),
    );
    Ok((absexp, sldexp, ttl))
}

/// Parses a Redis URL as the builder does (no I/O).
pub fn parse_url(url: &str) -> Result<()> {
    Target::parse(url).map(drop)
}

/// The invariants the fuzz targets and property tests check. Each function
/// panics (so libFuzzer and proptest report the input) when a decoder
/// breaks its contract; one copy serves both drivers.
pub mod check {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use cache_abstractions::{max_absolute_expiration, EntryOptions, ErrorKind, Result};

    use cache_abstractions::support::dotnet::{instant_after, Ticks};

    use super::{decode_hash, decode_reply, encode_options, parse_url, DecodedExpiry};
    use crate::redact as redact_url;

    /// The last instant .NET's `DateTime` holds.
    fn max_instant() -> SystemTime {
        max_absolute_expiration() + Duration::from_nanos(999_999_900)
    }

    /// `t` truncated to whole 100 ns ticks (towards the past).
    pub fn floor_to_tick(t: SystemTime) -> SystemTime {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => UNIX_EPOCH + (d - sub_tick(d)),
            Err(e) => {
                let d = e.duration();
                let rem = sub_tick(d);
                if rem.is_zero() {
                    t
                } else {
                    UNIX_EPOCH - (d - rem + Duration::from_nanos(100))
                }
            }
        }
    }

    fn sub_tick(d: Duration) -> Duration {
        Duration::from_nanos(u64::from(d.subsec_nanos() % 100))
    }

    /// `d` rounded up to whole ticks.
    pub fn ceil_to_tick(d: Duration) -> Duration {
        let rem = sub_tick(d);
        if rem.is_zero() {
            d
        } else {
            d - rem + Duration::from_nanos(100)
        }
    }

    fn only_corrupt<T: std::fmt::Debug>(r: &Result<T>, what: &str) {
        if let Err(e) = r {
            assert_eq!(
                e.kind(),
                ErrorKind::CorruptEntry,
                "{what}: a decode error must be CorruptEntry: {e:?}"
            );
        }
    }

    fn sane(d: &DecodedExpiry, now: SystemTime, what: &str) {
        if let Some(at) = d.absolute {
            assert!(
                at > floor_to_tick(now),
                "{what}: a live entry expired at {at:?}"
            );
            assert!(
                at <= max_instant(),
                "{what}: instant past the year 9999: {at:?}"
            );
        }
        if let Some(s) = d.sliding {
            assert!(!s.is_zero(), "{what}: zero sliding window");
            // Instants a caller computes from it must not overflow.
            assert!(
                now.checked_add(s).is_some(),
                "{what}: now + sliding overflows"
            );
        }
        assert_eq!(
            d.ttl_millis.is_some(),
            d.absolute.is_some() || d.sliding.is_some(),
            "{what}: a TTL exactly when the entry expires"
        );
        if let Some(ms) = d.ttl_millis {
            assert!(ms > 0, "{what}: a live entry must not get TTL 0");
        }
    }

    /// Whether `raw` is what .NET writes: `-1`, or a positive decimal
    /// number without sign, spaces or leading zeros.
    fn canonical(raw: &[u8]) -> bool {
        raw == b"-1"
            || (!raw.is_empty()
                && raw[0] != b'0'
                && raw.iter().all(u8::is_ascii_digit)
                && std::str::from_utf8(raw).is_ok_and(|s| s.parse::<i64>().is_ok()))
    }

    /// Hash fields read at `now`: a value or miss or `CorruptEntry`, never a
    /// panic; what decodes is sane, and canonical fields re-encode to
    /// exactly the same text.
    pub fn hash_fields(
        absexp: Option<&[u8]>,
        sldexp: Option<&[u8]>,
        data: Option<&[u8]>,
        now: SystemTime,
    ) {
        let r = decode_hash(absexp, sldexp, data, now);
        only_corrupt(&r, "hash");
        match r {
            Ok(Some(d)) => {
                sane(&d, now, "hash");
                assert!(data.is_some(), "an entry without data decoded");
                if let (Some(a), Some(s)) = (absexp, sldexp) {
                    if canonical(a) && canonical(s) {
                        let expiry = cache_abstractions::Expiry::new(d.absolute, d.sliding);
                        let (a2, s2) = crate::format::encode_expiry(&expiry);
                        assert_eq!(
                            (a2.as_bytes(), s2.as_bytes()),
                            (a, s),
                            "canonical fields do not re-encode to themselves"
                        );
                    }
                }
            }
            Ok(None) => assert!(
                (absexp.is_none() && sldexp.is_none() && data.is_none()) || absexp.is_some(),
                "a miss for a hash with fields but no absolute expiration"
            ),
            Err(_) => {}
        }
    }

    /// A RESP reply to a read: a value or miss or `CorruptEntry`.
    pub fn reply(resp: &[u8], now: SystemTime) {
        if let Some(r) = decode_reply(resp, now) {
            only_corrupt(&r, "reply");
            if let Ok(Some(d)) = r {
                sane(&d, now, "reply");
            }
        }
    }

    /// Options at `now` -> stored fields and TTL -> decoded options: the
    /// same instant (to the tick), the same window (rounded up to a tick),
    /// and a TTL never shorter than the options ask (rounded up to a ms,
    /// never 0). Invalid options are `InvalidOptions` naming the field.
    pub fn options_round_trip(options: &EntryOptions, now: SystemTime) {
        let expiry = match options.resolve(now) {
            Ok(e) => e,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidOptions, "resolve: {e:?}");
                assert!(e.field().is_some(), "InvalidOptions without a field: {e:?}");
                return;
            }
        };
        let (absexp, sldexp, ttl) = match encode_options(options, now) {
            Ok(stored) => stored,
            Err(e) => panic!("options that resolve must encode: {e:?}"),
        };
        let decoded = match decode_hash(
            Some(absexp.as_bytes()),
            Some(sldexp.as_bytes()),
            Some(b"v"),
            now,
        ) {
            Ok(d) => d,
            Err(e) => panic!("what set writes must decode ({absexp}, {sldexp}): {e:?}"),
        };
        let Some(d) = decoded else {
            // Only an absolute expiration within the tick of `now` reads
            // as already passed.
            let gap = expiry
                .absolute
                .and_then(|a| a.duration_since(now).ok())
                .expect("a miss needs an absolute expiration");
            assert!(gap < Duration::from_nanos(100), "live entry read as a miss");
            return;
        };
        sane(&d, now, "round trip");
        assert_eq!(d.absolute, expiry.absolute.map(floor_to_tick), "absolute");
        assert_eq!(d.sliding, expiry.sliding.map(ceil_to_tick), "sliding");
        let window = [
            expiry
                .absolute
                .map(|a| a.duration_since(now).unwrap_or_default()),
            expiry.sliding,
        ]
        .into_iter()
        .flatten()
        .min();
        match (window, ttl) {
            (None, None) => {}
            (Some(w), Some(ms)) => {
                let ttl = Duration::from_millis(ms);
                let tick = Duration::from_nanos(100);
                assert!(ms >= 1, "TTL 0 deletes the key");
                assert!(ttl + tick >= w, "TTL {ttl:?} shorter than the window {w:?}");
                assert!(
                    ttl <= w + Duration::from_millis(1) + tick,
                    "TTL {ttl:?} longer than the window {w:?} rounded up"
                );
            }
            other => panic!("expiry and TTL disagree: {other:?}"),
        }
    }

    /// Any text as a Redis URL: parsed or refused with `Config`; redaction
    /// never panics and is stable.
    pub fn url(text: &str) {
        if let Err(e) = parse_url(text) {
            assert_eq!(e.kind(), ErrorKind::Config, "url {text:?}: {e:?}");
        }
        let once = redact_url(text);
        assert_eq!(redact_url(&once), once, "redaction is not stable");
    }

    /// A URL whose password holds `secret`: neither the redacted URL nor a
    /// parse error shows it.
    pub fn url_hides(text: &str, secret: &str) {
        let redacted = redact_url(text);
        assert!(
            !redacted.contains(secret),
            "redact({text:?}) = {redacted:?}"
        );
        if let Err(e) = parse_url(text) {
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(secret), "error for {text:?} shows: {shown}");
        }
    }

    /// The shared .NET tick conversions: clamped to .NET's range, exact
    /// for 100 ns multiples, durations rounded up (never shortened), and
    /// instants computed from any window stay formattable.
    pub fn ticks(t: SystemTime, d: Duration, ticks: i64) {
        let tk = Ticks::from_instant(t);
        assert!(
            (Ticks::ZERO..=Ticks::MAX_DATETIME).contains(&tk),
            "ticks {tk} out of range"
        );
        let year1 = UNIX_EPOCH - Duration::from_secs(62_135_596_800);
        let in_range = t >= year1 && t <= max_instant();
        assert_eq!(
            Ticks::try_from_instant(t).is_some(),
            in_range,
            "try_from_instant({t:?})"
        );
        if in_range {
            assert_eq!(tk.to_instant(), floor_to_tick(t), "instant round trip");
        }
        let dt = Ticks::from_duration(d);
        assert!(dt >= Ticks::ZERO);
        if dt < Ticks::MAX {
            assert_eq!(dt.to_duration(), ceil_to_tick(d), "duration round trip");
        }
        assert!(
            Duration::from_millis(dt.to_millis_ceil()) >= dt.to_duration(),
            "milliseconds round up"
        );
        let any = Ticks::new(ticks);
        let at = any.to_instant();
        assert!(
            at >= year1 && at <= max_instant(),
            "to_instant({ticks}) = {at:?}"
        );
        if (Ticks::ZERO..=Ticks::MAX_DATETIME).contains(&any) {
            assert_eq!(Ticks::from_instant(at), any);
        }
        if ticks > 0 {
            assert_eq!(Ticks::from_duration(any.to_duration()), any);
        }
        let later = instant_after(t, d);
        assert!(
            later <= max_instant().max(t),
            "instant_after({t:?}, {d:?}) = {later:?}"
        );
    }
}
