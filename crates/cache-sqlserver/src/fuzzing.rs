//! Entry points for the fuzz targets (`fuzz/`) and property tests: the
//! decoders of outside data, which are private otherwise.
//!
//! **Not part of the API**: hidden from the docs, only built with the
//! `fuzzing` feature, and free to change in any release.

use std::time::SystemTime;

use bytes::Bytes;
use cache_abstractions::{EntryInfo, Result};
use tiberius::time::DateTimeOffset;
use tiberius::ColumnData;

use crate::format as decode;

use crate::sqltime::SqlInstant;
/// The crate the fuzz inputs are built with, for drivers without it.
pub use arbitrary;

/// Decodes a `get` row (`Value, ExpiresAtTime, SlidingExpirationInSeconds,
/// AbsoluteExpiration`) exactly as the cache does.
pub fn decode_entry(cells: Vec<ColumnData<'static>>) -> Result<(Bytes, EntryInfo)> {
    decode::entry(cells).map(|e| (e.value, e.info))
}

/// Decodes an `inspect` row (`DATALENGTH(Value), ExpiresAtTime, …`).
pub fn decode_info(cells: Vec<ColumnData<'static>>) -> Result<EntryInfo> {
    decode::info(cells)
}

/// Reads a `datetimeoffset` cell's value as an instant.
pub fn instant_from_tds(value: DateTimeOffset) -> Result<SystemTime> {
    SqlInstant::from_tds(value).map(SqlInstant::to_system_time)
}

/// Writes an instant as a `datetimeoffset` (an error outside years 1 to 9999).
pub fn instant_to_tds(t: SystemTime) -> Result<DateTimeOffset> {
    SqlInstant::from_system_time(t).map(SqlInstant::to_tds)
}

/// One cell of a row as a table may hold it, built from fuzz bytes (the
/// fuzz targets and property tests both go through [`arbitrary`]).
#[derive(Clone, Debug, arbitrary::Arbitrary)]
pub enum Cell {
    /// `varbinary`.
    Binary(Option<Vec<u8>>),
    /// `bigint`.
    I64(Option<i64>),
    /// `int`.
    I32(Option<i32>),
    /// `smallint`.
    I16(Option<i16>),
    /// `tinyint`.
    U8(Option<u8>),
    /// `datetimeoffset`: days since 0001-01-01, time increments, scale,
    /// offset in minutes.
    DateTimeOffset(Option<(u32, u64, u8, i16)>),
    /// `nvarchar`.
    Text(Option<String>),
    /// `float`.
    F64(Option<f64>),
    /// `bit`.
    Bit(Option<bool>),
}

impl Cell {
    /// The cell as tiberius hands it to the decoder.
    pub fn to_column(&self) -> ColumnData<'static> {
        use tiberius::time::{Date, DateTime2, Time};
        match self {
            Cell::Binary(b) => ColumnData::Binary(b.clone().map(Into::into)),
            Cell::I64(n) => ColumnData::I64(*n),
            Cell::I32(n) => ColumnData::I32(*n),
            Cell::I16(n) => ColumnData::I16(*n),
            Cell::U8(n) => ColumnData::U8(*n),
            Cell::DateTimeOffset(v) => ColumnData::DateTimeOffset(v.map(|(d, t, s, o)| {
                // A TDS date is 3 bytes on the wire.
                let date = Date::new(d & 0x00FF_FFFF);
                DateTimeOffset::new(DateTime2::new(date, Time::new(t, s)), o)
            })),
            Cell::Text(s) => ColumnData::String(s.clone().map(Into::into)),
            Cell::F64(f) => ColumnData::F64(*f),
            Cell::Bit(b) => ColumnData::Bit(*b),
        }
    }
}

/// The invariants the fuzz targets and property tests check; each panics
/// when a decoder breaks its contract.
pub mod check {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use cache_abstractions::{max_absolute_expiration, ErrorKind, MAX_SLIDING_EXPIRATION};

    use super::{decode_entry, decode_info, instant_from_tds, instant_to_tds, Cell};
    use crate::ConnectionString;

    fn max_instant() -> SystemTime {
        max_absolute_expiration() + Duration::from_nanos(999_999_900)
    }

    fn sane(info: &cache_abstractions::EntryInfo) {
        for at in [info.absolute_expiration, info.expires_at]
            .into_iter()
            .flatten()
        {
            assert!(at <= max_instant(), "instant past the year 9999: {at:?}");
        }
        if let Some(s) = info.sliding_expiration {
            assert!(!s.is_zero() && s <= MAX_SLIDING_EXPIRATION, "sliding {s:?}");
        }
    }

    /// Any row: an entry or `CorruptEntry`, never a panic; what decodes is
    /// in range.
    pub fn row(cells: &[Cell]) {
        let columns = || cells.iter().map(Cell::to_column).collect::<Vec<_>>();
        match decode_entry(columns()) {
            Ok((value, info)) => {
                assert_eq!(info.size, value.len(), "size and value disagree");
                sane(&info);
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::CorruptEntry, "entry: {e:?}"),
        }
        match decode_info(columns()) {
            Ok(info) => sane(&info),
            Err(e) => assert_eq!(e.kind(), ErrorKind::CorruptEntry, "info: {e:?}"),
        }
    }

    /// An instant -> `datetimeoffset` -> instant: exact to the tick inside
    /// years 1 to 9999, an `InvalidOptions` error outside.
    pub fn instant(t: SystemTime) {
        match instant_to_tds(t) {
            Ok(tds) => {
                let back = instant_from_tds(tds).expect("what is written must read back");
                let since = |t: SystemTime| match t.duration_since(UNIX_EPOCH) {
                    Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
                    Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
                };
                let (t, back) = (since(t), since(back));
                assert_eq!(back, t.div_euclid(100) * 100, "truncated to the tick");
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidOptions, "{e:?}"),
        }
    }

    /// Any text as a connection string: parsed, or refused with `Config`
    /// or `Unsupported`; what parses prints (password hidden) as a string
    /// that parses to the same settings.
    pub fn connection_string(text: &str) {
        let cs = match ConnectionString::parse(text) {
            Ok(cs) => cs,
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::Config | ErrorKind::Unsupported),
                    "{text:?}: {e:?}"
                );
                return;
            }
        };
        let shown = cs.redacted();
        let again = ConnectionString::parse(&shown)
            .unwrap_or_else(|e| panic!("{text:?} prints as {shown:?}, which does not parse: {e}"));
        assert_eq!(
            (again.host(), again.port(), again.database(), again.user()),
            (cs.host(), cs.port(), cs.database(), cs.user()),
            "{text:?} prints as {shown:?}, which parses differently"
        );
        assert_eq!(again.encrypt(), cs.encrypt(), "{shown:?}");
        assert_eq!(
            again.trust_server_certificate(),
            cs.trust_server_certificate()
        );
    }

    /// A connection string whose password holds `secret`: neither its
    /// printed forms nor a parse error show it.
    pub fn connection_string_hides(text: &str, secret: &str) {
        match ConnectionString::parse(text) {
            Ok(cs) => {
                let shown = format!("{cs} {cs:?}");
                assert!(!shown.contains(secret), "{text:?} shows as {shown}");
            }
            Err(e) => {
                let shown = format!("{e} {e:?}");
                assert!(!shown.contains(secret), "error for {text:?} shows: {shown}");
            }
        }
    }
}
