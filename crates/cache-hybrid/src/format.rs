//! The payload stored in each tier: a small versioned header, then the value.
//!
//! Byte by byte (all integers little-endian; docs/hybrid.md has the table):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 2 | magic `0xFF 0x68` (`0xFF` never starts UTF-8 text or JSON) |
//! | 2 | 1 | format version, `1` |
//! | 3 | 1 | codec id (bits 0–6) and `0x80` when the value is LZ4-compressed |
//! | 4 | 8 | created-at, microseconds since the Unix epoch |
//! | 12 | 8 | logical expiration, microseconds since the epoch; `0` = none |
//! | 20 | 8 | distributed sliding window in microseconds; `0` = none |
//! | 28 | 4 | CRC-32 (IEEE) of every other byte: offsets 0–27, then 32 to the end |
//! | 32 | 1 | tag count `n` |
//! | 33 | … | `n` tags, each a `u16` length then that many UTF-8 bytes |
//! | … | … | the value, encoded by the codec (compressed when flagged) |
//!
//! Anything else under a key (another magic, version or codec, a bad
//! checksum, a truncated header, tags that are not UTF-8) decodes to `None`:
//! a miss, never a wrong value.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};

/// The first two bytes of every payload.
pub(crate) const MAGIC: [u8; 2] = [0xFF, 0x68];
/// The only layout this version reads and writes.
pub(crate) const VERSION: u8 = 1;
/// Bytes before the tag section.
pub(crate) const FIXED_LEN: usize = 33;
/// Where the checksum is.
const CRC_AT: usize = 28;
/// The codec byte's compression flag.
pub(crate) const COMPRESSED: u8 = 0x80;

/// Microseconds since the Unix epoch (0 for instants before it, saturating).
pub(crate) fn to_micros(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub(crate) fn from_micros(m: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(m)
}

/// A decoded header, borrowing nothing: the value is a cheap slice of the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Payload {
    /// Codec id and compression flag, as stored.
    pub codec: u8,
    pub created_at: u64,
    /// Logical expiration (micros since the epoch), if any.
    pub expires_at: Option<u64>,
    /// The distributed entry's sliding window (micros), if any: the local
    /// copy must not outlive an idle distributed entry.
    pub sliding: Option<u64>,
    pub tags: Vec<String>,
    /// The value bytes as stored (still compressed when flagged).
    pub value: Bytes,
}

impl Payload {
    /// Whether the entry is past its logical expiration at `now_micros`.
    pub(crate) fn is_expired(&self, now_micros: u64) -> bool {
        self.expires_at.is_some_and(|e| now_micros >= e)
    }

    /// Encodes the header and value into one buffer.
    pub(crate) fn encode(&self) -> Bytes {
        let tags_len: usize = self.tags.iter().map(|t| 2 + t.len()).sum();
        let mut out = BytesMut::with_capacity(FIXED_LEN + tags_len + self.value.len());
        out.put_slice(&MAGIC);
        out.put_u8(VERSION);
        out.put_u8(self.codec);
        out.put_u64_le(self.created_at);
        out.put_u64_le(self.expires_at.unwrap_or(0));
        out.put_u64_le(self.sliding.unwrap_or(0));
        out.put_u32_le(0); // checksum, filled in below
                           // Callers validate tag counts and lengths (HybridEntryOptions::validate).
        out.put_u8(u8::try_from(self.tags.len()).unwrap_or(u8::MAX));
        for tag in self.tags.iter().take(usize::from(u8::MAX)) {
            let len = u16::try_from(tag.len()).unwrap_or(u16::MAX);
            out.put_u16_le(len);
            out.put_slice(&tag.as_bytes()[..usize::from(len)]);
        }
        out.put_slice(&self.value);
        let crc = checksum(&out);
        out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        out.freeze()
    }

    /// Decodes a payload; `verify` checks the checksum (payloads from the
    /// distributed tier; the local tier holds only what this process wrote).
    pub(crate) fn decode(bytes: &Bytes, verify: bool) -> Option<Payload> {
        let h = Header::parse(bytes, verify)?;
        Some(Payload {
            codec: h.codec,
            created_at: h.created_at,
            expires_at: h.expires_at,
            sliding: h.sliding,
            tags: h.tags().map(str::to_owned).collect(),
            value: bytes.slice(h.value_at..),
        })
    }
}

/// A payload's header read in place: no allocation, no reference count
/// touched (the local tier's hot path decides from it alone).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header<'a> {
    pub codec: u8,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub sliding: Option<u64>,
    /// The tag section after its count byte, checked: whole, UTF-8.
    tags: &'a [u8],
    tag_count: u8,
    /// Where the value starts.
    pub value_at: usize,
}

impl<'a> Header<'a> {
    /// The header of `b`, or `None` for anything that is not a payload of
    /// this version (see the module docs); `verify` checks the checksum.
    pub(crate) fn parse(b: &'a [u8], verify: bool) -> Option<Header<'a>> {
        if b.len() < FIXED_LEN || b[..2] != MAGIC || b[2] != VERSION {
            return None;
        }
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        if verify {
            let crc = u32::from_le_bytes(b[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes"));
            if checksum(b) != crc {
                return None;
            }
        }
        let tag_count = b[FIXED_LEN - 1];
        let mut at = FIXED_LEN;
        for _ in 0..tag_count {
            let len = usize::from(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?));
            std::str::from_utf8(b.get(at + 2..at + 2 + len)?).ok()?;
            at += 2 + len;
        }
        Some(Header {
            codec: b[3],
            created_at: u64_at(4),
            expires_at: Some(u64_at(12)).filter(|&e| e != 0),
            sliding: Some(u64_at(20)).filter(|&e| e != 0),
            tags: &b[FIXED_LEN..at],
            tag_count,
            value_at: at,
        })
    }

    /// Whether the entry is past its logical expiration at `now_micros`.
    pub(crate) fn is_expired(&self, now_micros: u64) -> bool {
        self.expires_at.is_some_and(|e| now_micros >= e)
    }

    pub(crate) fn has_tags(&self) -> bool {
        self.tag_count != 0
    }

    /// The tags, in order (the section was checked by [`parse`](Self::parse)).
    pub(crate) fn tags(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut rest = self.tags;
        (0..self.tag_count).map_while(move |_| {
            let len = usize::from(u16::from_le_bytes(rest.get(..2)?.try_into().ok()?));
            let tag = std::str::from_utf8(rest.get(2..2 + len)?).ok()?;
            rest = &rest[2 + len..];
            Some(tag)
        })
    }
}

/// CRC-32 of the payload without its checksum field.
fn checksum(b: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&b[..CRC_AT]);
    h.update(&b[CRC_AT + 4..]);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Payload {
        Payload {
            codec: 1,
            created_at: 1_700_000_000_000_000,
            expires_at: Some(1_700_000_300_000_000),
            sliding: Some(60_000_000),
            tags: vec!["a".into(), "ünï".into()],
            value: Bytes::from_static(b"{\"x\":1}"),
        }
    }

    #[test]
    fn round_trip() {
        let p = sample();
        let bytes = p.encode();
        assert_eq!(&bytes[..4], &[0xFF, 0x68, 1, 1]);
        assert_eq!(Payload::decode(&bytes, true), Some(p));
    }

    #[test]
    fn the_header_is_read_in_place() {
        let p = sample();
        let bytes = p.encode();
        let h = Header::parse(&bytes, true).unwrap();
        assert_eq!(h.tags().collect::<Vec<_>>(), ["a", "ünï"]);
        assert!(h.has_tags());
        assert_eq!(&bytes[h.value_at..], &p.value[..]);
        assert_eq!(
            (h.created_at, h.expires_at, h.sliding),
            (p.created_at, p.expires_at, p.sliding)
        );
        assert!(!h.is_expired(1_700_000_299_999_999) && h.is_expired(1_700_000_300_000_000));
        let untagged = Payload {
            tags: Vec::new(),
            ..p
        }
        .encode();
        let h = Header::parse(&untagged, false).unwrap();
        assert!(!h.has_tags() && h.tags().next().is_none());
        assert_eq!(h.value_at, FIXED_LEN);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_a_miss_when_verified() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            let cut = bytes.slice(..n);
            // A truncation that keeps a valid tag section but cuts the value
            // fails the checksum.
            assert_eq!(Payload::decode(&cut, true), None, "truncated to {n}");
        }
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut v = bytes.to_vec();
                v[i] ^= 1 << bit;
                assert_eq!(Payload::decode(&Bytes::from(v), true), None, "flip at {i}");
            }
        }
    }

    #[test]
    fn foreign_data_is_a_miss() {
        for foreign in [
            &b""[..],
            b"hello",
            b"{\"x\":1}",
            &[0xFF, 0x68, 2, 1],
            &[0u8; 64],
        ] {
            assert_eq!(
                Payload::decode(&Bytes::copy_from_slice(foreign), true),
                None
            );
        }
    }
}
