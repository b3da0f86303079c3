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

use crate::decode;
use crate::sqltime::SqlInstant;

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
