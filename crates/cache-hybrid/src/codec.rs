//! How typed values become bytes, and optional compression.

use bytes::Bytes;
use cache_abstractions::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::format::COMPRESSED;

/// The codec id of values stored through the bytes API (no serializer).
pub(crate) const RAW: u8 = 0;

/// How typed values are serialized. The codec's id is stored in every
/// payload; a payload written with another codec reads as a miss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// `serde_json` (id 1): readable, the default.
    #[default]
    Json,
    /// `postcard` (id 2): compact binary (feature `postcard`).
    #[cfg(feature = "postcard")]
    Postcard,
}

impl Codec {
    /// The id stored in the payload header.
    pub fn id(self) -> u8 {
        match self {
            Codec::Json => 1,
            #[cfg(feature = "postcard")]
            Codec::Postcard => 2,
        }
    }

    pub(crate) fn serialize<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>> {
        let out = match self {
            Codec::Json => serde_json::to_vec(value).map_err(|e| e.to_string()),
            #[cfg(feature = "postcard")]
            Codec::Postcard => postcard::to_stdvec(value).map_err(|e| e.to_string()),
        };
        out.map_err(|e| Error::serialization(format!("the value cannot be serialized: {e}")))
    }

    /// `None` when the bytes are not a `T` in this codec (a miss).
    pub(crate) fn deserialize<T: DeserializeOwned>(self, bytes: &[u8]) -> Option<T> {
        match self {
            Codec::Json => serde_json::from_slice(bytes).ok(),
            #[cfg(feature = "postcard")]
            Codec::Postcard => postcard::from_bytes(bytes).ok(),
        }
    }
}

/// Compresses `value` when compression is built in, `threshold` is reached
/// and it pays; returns the stored bytes and whether they are compressed.
pub(crate) fn compress(value: Bytes, threshold: Option<usize>) -> (Bytes, bool) {
    #[cfg(feature = "lz4")]
    if threshold.is_some_and(|t| value.len() >= t) {
        let packed = lz4_flex::compress_prepend_size(&value);
        if packed.len() < value.len() {
            return (Bytes::from(packed), true);
        }
    }
    let _ = threshold;
    (value, false)
}

/// The plain value from stored bytes; `None` when they don't decompress
/// (or compression isn't built in).
pub(crate) fn decompress(codec_byte: u8, stored: Bytes) -> Option<Bytes> {
    if codec_byte & COMPRESSED == 0 {
        return Some(stored);
    }
    #[cfg(feature = "lz4")]
    {
        lz4_flex::decompress_size_prepended(&stored)
            .ok()
            .map(Bytes::from)
    }
    #[cfg(not(feature = "lz4"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_mismatch_is_none() {
        let bytes = Codec::Json.serialize(&vec![1u32, 2]).unwrap();
        assert_eq!(
            Codec::Json.deserialize::<Vec<u32>>(&bytes),
            Some(vec![1, 2])
        );
        assert_eq!(Codec::Json.deserialize::<String>(&bytes), None);
    }

    #[test]
    fn uncompressed_passes_through() {
        let v = Bytes::from_static(b"abc");
        assert_eq!(compress(v.clone(), None), (v.clone(), false));
        assert_eq!(decompress(1, v.clone()), Some(v));
    }

    #[cfg(feature = "lz4")]
    #[test]
    fn lz4_round_trip_above_threshold() {
        let v = Bytes::from(vec![7u8; 4096]);
        let (packed, yes) = compress(v.clone(), Some(1024));
        assert!(yes && packed.len() < v.len());
        assert_eq!(decompress(1 | COMPRESSED, packed), Some(v));
        assert_eq!(
            decompress(1 | COMPRESSED, Bytes::from_static(b"junk")),
            None
        );
    }

    #[cfg(feature = "postcard")]
    #[test]
    fn postcard_round_trip() {
        let bytes = Codec::Postcard.serialize(&("a", 5u8)).unwrap();
        assert_eq!(
            Codec::Postcard.deserialize::<(String, u8)>(&bytes),
            Some(("a".into(), 5))
        );
    }
}
