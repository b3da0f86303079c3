//! [`StoredKey`]: a key as the store holds it, inline when short.
//!
//! Most cache keys are short (`user:42:cart`), and a `String` would cost a
//! heap block of its own per entry (32 bytes of glibc chunk for a 12-byte
//! key) beside the store's slot. Keys of up to [`INLINE`] bytes live in the
//! slot itself; longer ones take one boxed slice.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// The longest key kept inline: what fits beside a length byte and the
/// enum's tag in the 24 bytes a `String` would take.
pub(crate) const INLINE: usize = 22;

/// A key's bytes. The store looks keys up by `&[u8]` (the key's UTF-8
/// bytes, so two keys are equal exactly when their strings are); `Hash`,
/// `Eq` and `Borrow<[u8]>` all go through [`as_bytes`](Self::as_bytes), as
/// `Borrow` requires.
#[derive(Clone, Debug)]
pub(crate) enum StoredKey {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl StoredKey {
    pub(crate) fn new(key: &str) -> Self {
        let key = key.as_bytes();
        match u8::try_from(key.len()) {
            Ok(len) if key.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..key.len()].copy_from_slice(key);
                StoredKey::Inline { len, bytes }
            }
            _ => StoredKey::Heap(key.into()),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            StoredKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            StoredKey::Heap(b) => b,
        }
    }
}

impl Borrow<[u8]> for StoredKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for StoredKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for StoredKey {}

impl Hash for StoredKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn short_keys_are_inline_long_ones_boxed_and_both_hash_as_bytes() {
        let hasher = std::collections::hash_map::RandomState::new();
        for (key, inline) in [
            ("", true),
            ("bench:000000", true),
            ("k".repeat(INLINE).as_str(), true),
            ("k".repeat(INLINE + 1).as_str(), false),
            ("ключ:ünïcode", true),
        ] {
            let stored = StoredKey::new(key);
            assert_eq!(matches!(stored, StoredKey::Inline { .. }), inline, "{key}");
            assert_eq!(stored.as_bytes(), key.as_bytes());
            assert_eq!(hasher.hash_one(&stored), hasher.hash_one(key.as_bytes()));
        }
        // Trailing zero bytes of the inline buffer never make keys equal.
        assert_ne!(StoredKey::new("a"), StoredKey::new("a\0"));
        assert_eq!(std::mem::size_of::<StoredKey>(), 24);
    }
}
