//! Which `Id` a key is stored under.
//!
//! .NET's table compares `Id` with `SQL_Latin1_General_CP1_CS_AS`, which
//! treats distinct strings as one key: trailing spaces are ignored, `ß`
//! equals `ss`, `é` equals `e` + U+0301, full-width `ｋ` equals `k`. The
//! primary key then allows only one of them, and .NET silently answers one
//! key with the other's value.
//!
//! Here a key is stored under its own text (so .NET apps share it) unless a
//! *different* key that the collation calls equal already holds that `Id`;
//! then it is stored under an escaped `Id` that no other key's text or
//! escape can equal under the collation: a marker, then the key with every
//! character outside `[A-Za-z0-9:._]` written as `%` and four hex digits
//! per UTF-16 unit. Reads look under both and compare bytes, so a key is
//! never answered with another key's value.

use std::borrow::Cow;

use cache_abstractions::{Error, Result};

/// Starts every escaped `Id`. A key that itself starts with it is always
/// stored escaped, so plain and escaped `Id`s never mix.
pub(crate) const ESCAPE_MARKER: &str = "~~escaped~~";

/// The longest `Id`, in UTF-16 units.
const MAX_ID_UNITS: usize = 449;

/// The `Id`s a key may be stored under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredIds<'a> {
    /// The key's own text (its escape, for a key that starts with the marker).
    pub(crate) plain: Cow<'a, str>,
    /// The escaped form; `None` when it would be longer than the column
    /// (such a key can only be stored under its own text).
    pub(crate) escaped: Option<String>,
}

/// The `Id`s for `key` (already validated: non-empty, at most 449 units).
/// A key that starts with the marker but whose escape is too long for the
/// column is refused before any I/O: under its own text it could pass for
/// another key's escape.
pub(crate) fn stored_ids(key: &str) -> Result<StoredIds<'_>> {
    let escaped = escape(key);
    let fits = escaped.encode_utf16().count() <= MAX_ID_UNITS;
    let escaped = fits.then_some(escaped);
    let plain = match (key.starts_with(ESCAPE_MARKER), &escaped) {
        (false, _) => Cow::Borrowed(key),
        (true, Some(e)) => Cow::Owned(e.clone()),
        (true, None) => {
            return Err(Error::invalid_key(format!(
                "a key starting with {ESCAPE_MARKER:?} (this crate's marker for escaped keys) \
                 is stored escaped, and this one is too long for that"
            )))
        }
    };
    Ok(StoredIds { plain, escaped })
}

fn escape(key: &str) -> String {
    let mut out = String::with_capacity(ESCAPE_MARKER.len() + key.len());
    out.push_str(ESCAPE_MARKER);
    let mut units = [0u16; 2];
    for c in key.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_') {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut units).iter() {
                out.push_str(&format!("%{unit:04X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_keep_their_text() {
        let ids = stored_ids("user:42").unwrap();
        assert_eq!(ids.plain, "user:42");
        assert_eq!(ids.escaped.as_deref(), Some("~~escaped~~user:42"));
    }

    #[test]
    fn escapes_are_ascii_and_distinct_where_the_collation_is_not() {
        let keys = [
            "k", "k ", "k  ", "ß", "ss", "\u{e9}", "e\u{301}", "\u{ff4b}", "K", "%0020", "😀",
            "a-b",
        ];
        let escaped: Vec<String> = keys
            .iter()
            .map(|k| stored_ids(k).unwrap().escaped.unwrap())
            .collect();
        for e in &escaped {
            let body = &e[ESCAPE_MARKER.len()..];
            assert!(
                body.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '%')),
                "{e}"
            );
            assert!(!e.ends_with(' '));
        }
        let mut unique = escaped.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "{escaped:?}");
        assert_eq!(escaped[1], "~~escaped~~k%0020");
        assert_eq!(escaped[3], "~~escaped~~%00DF");
        assert_eq!(escaped[10], "~~escaped~~%D83D%DE00");
    }

    #[test]
    fn keys_that_look_escaped_are_always_escaped() {
        let ids = stored_ids("~~escaped~~k").unwrap();
        assert_eq!(ids.plain, "~~escaped~~%007E%007Eescaped%007E%007Ek");
        assert_eq!(ids.escaped.as_deref(), Some(ids.plain.as_ref()));
    }

    #[test]
    fn escapes_longer_than_the_column_are_dropped() {
        let long = "é".repeat(449);
        let ids = stored_ids(&long).unwrap();
        assert_eq!(ids.plain, long);
        assert_eq!(ids.escaped, None);
        // Plain ASCII up to 438 characters still has an escape.
        assert!(stored_ids(&"a".repeat(438)).unwrap().escaped.is_some());
        assert!(stored_ids(&"a".repeat(439)).unwrap().escaped.is_none());
        let marked = format!("{ESCAPE_MARKER}{}", "b".repeat(430));
        assert_eq!(
            stored_ids(&marked).unwrap_err().kind(),
            cache_abstractions::ErrorKind::InvalidKey
        );
    }
}
