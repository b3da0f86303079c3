//! Rows back into entries. The table may hold rows written by .NET, by older
//! versions of this crate or by hand, so every cell is checked: a NULL where
//! none can be, a wrong type, or an impossible value is a
//! [`CorruptEntry`](cache_abstractions::ErrorKind::CorruptEntry), never a
//! panic or a wrong value.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use cache_abstractions::{EntryInfo, Error, Result};
use tiberius::ColumnData;

use crate::sqltime::SqlInstant;

/// The largest window `DATEADD(SECOND, …)` can add; larger values cannot
/// have been written by a working cache.
const MAX_SLIDING_SECONDS: i64 = i32::MAX as i64;

/// The value and metadata of a row read by `get`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredEntry {
    pub(crate) value: Bytes,
    pub(crate) info: EntryInfo,
}

/// Decodes `Value, ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration`.
pub(crate) fn entry(cells: Vec<ColumnData<'static>>) -> Result<StoredEntry> {
    let [value, expires, sliding, absolute] = four(cells)?;
    let value = match value {
        ColumnData::Binary(Some(b)) => Bytes::from(b.into_owned()),
        ColumnData::Binary(None) => return Err(Error::corrupt("the row's Value is NULL")),
        other => return Err(wrong_type("Value", "varbinary", &other)),
    };
    let size = value.len();
    let info = metadata(size, expires, sliding, absolute)?;
    Ok(StoredEntry { value, info })
}

/// Decodes `DATALENGTH(Value), ExpiresAtTime, SlidingExpirationInSeconds, AbsoluteExpiration`.
pub(crate) fn info(cells: Vec<ColumnData<'static>>) -> Result<EntryInfo> {
    let [size, expires, sliding, absolute] = four(cells)?;
    let size = match integer(&size) {
        Some(Some(n)) => usize::try_from(n)
            .map_err(|_| Error::corrupt(format!("the row's Value has a negative length {n}")))?,
        Some(None) => return Err(Error::corrupt("the row's Value is NULL")),
        None => return Err(wrong_type("DATALENGTH(Value)", "bigint", &size)),
    };
    metadata(size, expires, sliding, absolute)
}

/// Decodes the single `bigint`/`int` of a one-cell row.
pub(crate) fn count(cells: Vec<ColumnData<'static>>) -> Result<i64> {
    match cells.as_slice() {
        [cell] => match integer(cell) {
            Some(Some(n)) => Ok(n),
            _ => Err(Error::new(
                cache_abstractions::ErrorKind::Backend,
                format!("expected one integer from the server, got {cell:?}"),
            )),
        },
        _ => Err(Error::new(
            cache_abstractions::ErrorKind::Backend,
            format!("expected one column from the server, got {}", cells.len()),
        )),
    }
}

fn four(cells: Vec<ColumnData<'static>>) -> Result<[ColumnData<'static>; 4]> {
    let n = cells.len();
    <[ColumnData<'static>; 4]>::try_from(cells)
        .map_err(|_| Error::corrupt(format!("expected 4 columns, the server sent {n}")))
}

fn metadata(
    size: usize,
    expires: ColumnData<'static>,
    sliding: ColumnData<'static>,
    absolute: ColumnData<'static>,
) -> Result<EntryInfo> {
    let expires_at = match instant("ExpiresAtTime", expires)? {
        Some(t) => t,
        None => return Err(Error::corrupt("the row's ExpiresAtTime is NULL")),
    };
    let sliding = match integer(&sliding) {
        Some(None) => None,
        Some(Some(n)) if (1..=MAX_SLIDING_SECONDS).contains(&n) => {
            Some(Duration::from_secs(n.unsigned_abs()))
        }
        Some(Some(n)) => {
            return Err(Error::corrupt(format!(
                "the row's SlidingExpirationInSeconds is {n}, outside 1 ..= {MAX_SLIDING_SECONDS}"
            )))
        }
        None => return Err(wrong_type("SlidingExpirationInSeconds", "bigint", &sliding)),
    };
    let absolute = instant("AbsoluteExpiration", absolute)?;
    Ok(EntryInfo::new(size, absolute, sliding, Some(expires_at)))
}

fn instant(column: &str, cell: ColumnData<'static>) -> Result<Option<SystemTime>> {
    match cell {
        ColumnData::DateTimeOffset(None) => Ok(None),
        ColumnData::DateTimeOffset(Some(dto)) => SqlInstant::from_tds(dto)
            .map(|i| Some(i.to_system_time()))
            .map_err(|e| Error::corrupt(format!("the row's {column}: {}", e.message()))),
        other => Err(wrong_type(column, "datetimeoffset", &other)),
    }
}

/// Any integer cell (a hand-made table may use `int`); `None` for other types.
fn integer(cell: &ColumnData<'_>) -> Option<Option<i64>> {
    match *cell {
        ColumnData::I64(n) => Some(n),
        ColumnData::I32(n) => Some(n.map(i64::from)),
        ColumnData::I16(n) => Some(n.map(i64::from)),
        ColumnData::U8(n) => Some(n.map(i64::from)),
        _ => None,
    }
}

fn wrong_type(column: &str, want: &str, got: &ColumnData<'_>) -> Error {
    // Name the variant only: a cell's content may be a cached secret.
    let kind = format!("{got:?}");
    let kind = kind.split('(').next().unwrap_or("unknown");
    Error::corrupt(format!("the row's {column} is {kind}, expected {want}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_abstractions::ErrorKind;
    use std::time::UNIX_EPOCH;

    fn dto(secs: u64) -> ColumnData<'static> {
        let t = UNIX_EPOCH + Duration::from_secs(secs);
        ColumnData::DateTimeOffset(Some(SqlInstant::from_system_time(t).unwrap().to_tds()))
    }

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn bin(b: &'static [u8]) -> ColumnData<'static> {
        ColumnData::Binary(Some(b.into()))
    }

    #[test]
    fn decodes_a_full_row() {
        let e = entry(vec![
            bin(b"v"),
            dto(100),
            ColumnData::I64(Some(60)),
            dto(200),
        ])
        .unwrap();
        assert_eq!(e.value, Bytes::from_static(b"v"));
        assert_eq!(
            e.info,
            EntryInfo::new(1, Some(t(200)), Some(Duration::from_secs(60)), Some(t(100)))
        );
    }

    #[test]
    fn nullable_columns_may_be_null() {
        let e = entry(vec![
            bin(b""),
            dto(100),
            ColumnData::I64(None),
            ColumnData::DateTimeOffset(None),
        ])
        .unwrap();
        assert_eq!(e.value.len(), 0);
        assert_eq!(e.info, EntryInfo::new(0, None, None, Some(t(100))));
    }

    #[test]
    fn impossible_rows_are_corrupt() {
        let cases: Vec<(&str, Vec<ColumnData<'static>>)> = vec![
            (
                "NULL value",
                vec![
                    ColumnData::Binary(None),
                    dto(1),
                    ColumnData::I64(None),
                    dto(2),
                ],
            ),
            (
                "text value",
                vec![
                    ColumnData::String(Some("x".into())),
                    dto(1),
                    ColumnData::I64(None),
                    dto(2),
                ],
            ),
            (
                "NULL ExpiresAtTime",
                vec![
                    bin(b"v"),
                    ColumnData::DateTimeOffset(None),
                    ColumnData::I64(None),
                    dto(2),
                ],
            ),
            (
                "datetime ExpiresAtTime",
                vec![
                    bin(b"v"),
                    ColumnData::I64(Some(1)),
                    ColumnData::I64(None),
                    dto(2),
                ],
            ),
            (
                "zero sliding",
                vec![bin(b"v"), dto(1), ColumnData::I64(Some(0)), dto(2)],
            ),
            (
                "negative sliding",
                vec![bin(b"v"), dto(1), ColumnData::I64(Some(-5)), dto(2)],
            ),
            (
                "huge sliding",
                vec![bin(b"v"), dto(1), ColumnData::I64(Some(i64::MAX)), dto(2)],
            ),
            (
                "text sliding",
                vec![
                    bin(b"v"),
                    dto(1),
                    ColumnData::String(Some("60".into())),
                    dto(2),
                ],
            ),
            (
                "text absolute",
                vec![
                    bin(b"v"),
                    dto(1),
                    ColumnData::I64(None),
                    ColumnData::String(None),
                ],
            ),
            (
                "three columns",
                vec![bin(b"v"), dto(1), ColumnData::I64(None)],
            ),
        ];
        for (name, cells) in cases {
            let e = entry(cells).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::CorruptEntry, "{name}: {e}");
        }
    }

    #[test]
    fn corrupt_messages_never_carry_cell_content() {
        let e = entry(vec![
            ColumnData::String(Some("secret".into())),
            dto(1),
            ColumnData::I64(None),
            dto(2),
        ])
        .unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(e.to_string().contains("String"), "{e}");
    }

    #[test]
    fn info_reads_the_length() {
        let i = info(vec![
            ColumnData::I64(Some(42)),
            dto(5),
            ColumnData::I32(Some(7)),
            ColumnData::DateTimeOffset(None),
        ])
        .unwrap();
        assert_eq!(
            i,
            EntryInfo::new(42, None, Some(Duration::from_secs(7)), Some(t(5)))
        );
        for bad in [
            ColumnData::I64(None),
            ColumnData::I64(Some(-1)),
            ColumnData::Bit(Some(true)),
        ] {
            let e = info(vec![
                bad,
                dto(5),
                ColumnData::I64(None),
                ColumnData::DateTimeOffset(None),
            ])
            .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::CorruptEntry);
        }
    }

    #[test]
    fn counts() {
        assert_eq!(count(vec![ColumnData::I64(Some(3))]).unwrap(), 3);
        assert_eq!(count(vec![ColumnData::I32(Some(-1))]).unwrap(), -1);
        assert!(count(vec![]).is_err());
        assert!(count(vec![ColumnData::I64(None)]).is_err());
    }
}
