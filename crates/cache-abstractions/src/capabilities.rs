//! What a backend declares about itself, and the key validation every
//! backend shares.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::options::EntryOptions;

/// How a backend measures its longest storable key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyLimit {
    /// No limit beyond memory.
    Unlimited,
    /// At most this many UTF-8 bytes.
    Utf8Bytes(usize),
    /// At most this many UTF-16 code units (SQL Server's `nvarchar`).
    Utf16Units(usize),
}

impl KeyLimit {
    /// The length of `key` in this limit's unit, and the limit (if any).
    fn measure(self, key: &str) -> Option<(usize, usize, &'static str)> {
        match self {
            KeyLimit::Unlimited => None,
            KeyLimit::Utf8Bytes(max) => Some((key.len(), max, "UTF-8 bytes")),
            KeyLimit::Utf16Units(max) => {
                Some((key.encode_utf16().count(), max, "UTF-16 code units"))
            }
        }
    }
}

/// What a backend can do and how it behaves where the contract leaves a choice.
///
/// The conformance kit reads these to decide which rules apply; a rule that
/// does not is skipped with a visible reason.
///
/// ```
/// use cache_abstractions::{Capabilities, KeyLimit};
/// use std::time::Duration;
///
/// let caps = Capabilities::new()
///     .with_max_key_length(KeyLimit::Utf16Units(449))
///     .with_expiry_granularity(Duration::from_secs(1));
/// assert!(caps.validate_key("user:42").is_ok());
/// assert!(caps.validate_key(&"k".repeat(450)).is_err());
/// assert!(caps.validate_key("").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The longest key the backend stores whole.
    pub max_key_length: KeyLimit,
    /// The largest value the backend stores, if it has a limit.
    pub max_value_size: Option<usize>,
    /// The unit durations are rounded up to.
    pub expiry_granularity: Duration,
    /// The options used when `set` is given empty options (contract rule 9).
    pub default_options: EntryOptions,
    /// Whether entries are visible to other processes (false for in-process caches).
    pub shared: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::new()
    }
}

impl Capabilities {
    /// No key limit, millisecond granularity, no default expiry, not shared.
    pub fn new() -> Self {
        Capabilities {
            max_key_length: KeyLimit::Unlimited,
            max_value_size: None,
            expiry_granularity: Duration::from_millis(1),
            default_options: EntryOptions::new(),
            shared: false,
        }
    }

    /// Sets [`max_key_length`](Self::max_key_length).
    #[must_use]
    pub fn with_max_key_length(mut self, limit: KeyLimit) -> Self {
        self.max_key_length = limit;
        self
    }

    /// Sets [`max_value_size`](Self::max_value_size).
    #[must_use]
    pub fn with_max_value_size(mut self, max: Option<usize>) -> Self {
        self.max_value_size = max;
        self
    }

    /// Sets [`expiry_granularity`](Self::expiry_granularity).
    #[must_use]
    pub fn with_expiry_granularity(mut self, granularity: Duration) -> Self {
        self.expiry_granularity = granularity;
        self
    }

    /// Sets [`default_options`](Self::default_options).
    #[must_use]
    pub fn with_default_options(mut self, options: EntryOptions) -> Self {
        self.default_options = options;
        self
    }

    /// Sets [`shared`](Self::shared).
    #[must_use]
    pub fn with_shared(mut self, shared: bool) -> Self {
        self.shared = shared;
        self
    }

    /// Checks a key against contract rule 5: not empty, and not longer than
    /// [`max_key_length`](Self::max_key_length). Backends call this before any I/O.
    pub fn validate_key(&self, key: &str) -> Result<()> {
        if key.is_empty() {
            return Err(Error::invalid_key("key must not be empty"));
        }
        if let Some((len, max, unit)) = self.max_key_length.measure(key) {
            if len > max {
                return Err(Error::invalid_key(format!(
                    "key is {len} {unit} long; this backend stores at most {max}"
                )));
            }
        }
        Ok(())
    }

    /// Checks a value's size against [`max_value_size`](Self::max_value_size).
    pub fn validate_value(&self, len: usize) -> Result<()> {
        match self.max_value_size {
            Some(max) if len > max => Err(Error::new(
                crate::ErrorKind::Unsupported,
                format!("value is {len} bytes; this backend stores at most {max}"),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn utf16_counts_code_units_not_chars_or_bytes() {
        let caps = Capabilities::new().with_max_key_length(KeyLimit::Utf16Units(2));
        // One astral character is two UTF-16 units and four UTF-8 bytes.
        assert!(caps.validate_key("😀").is_ok());
        assert_eq!(
            caps.validate_key("😀a").unwrap_err().kind(),
            ErrorKind::InvalidKey
        );
        // Two BMP characters of three UTF-8 bytes each fit in two units.
        assert!(caps.validate_key("€€").is_ok());
    }

    #[test]
    fn utf8_limit_counts_bytes() {
        let caps = Capabilities::new().with_max_key_length(KeyLimit::Utf8Bytes(3));
        assert!(caps.validate_key("€").is_ok());
        assert!(caps.validate_key("€a").is_err());
    }

    #[test]
    fn empty_key_is_rejected_everywhere() {
        let err = Capabilities::new().validate_key("").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidKey);
    }
}
