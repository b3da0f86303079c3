//! The one error type every backend returns.

use std::borrow::Cow;
use std::fmt;

/// A boxed error from a backend's driver, kept as the [`Error`]'s source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shorthand for `Result<T, cache_abstractions::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, independent of the backend.
///
/// Match on this rather than on message text. New kinds may be added, so a
/// `match` needs a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The key is empty or longer than the backend can store whole (contract rule 5).
    /// Raised before any I/O.
    InvalidKey,
    /// The entry options are invalid (contract rule 6); [`Error::field`] names the field.
    /// Raised before any I/O.
    InvalidOptions,
    /// The backend could not be reached, or the connection broke.
    Connection,
    /// The backend did not answer within the configured timeout.
    Timeout,
    /// The stored data under the key is not an entry this library can read
    /// (foreign type, malformed field, impossible row). See contract rule 14.
    CorruptEntry,
    /// The backend does not support this operation or configuration.
    Unsupported,
    /// The configuration (URL, connection string, builder) is invalid.
    Config,
    /// The server rejected the login: a wrong user or password, or none given
    /// where one is required (Redis `NOAUTH`). Not retryable: a rotated
    /// password needs new configuration, not another attempt. Distinct from
    /// [`Config`](ErrorKind::Config), which means the settings themselves are
    /// malformed.
    Authentication,
    /// A value could not be serialized or deserialized (for example by
    /// `DistributedCacheExt::set_json`, feature `serde`):
    /// the caller's type and the stored bytes disagree, not the server's fault.
    Serialization,
    /// The backend refused or failed the operation for another reason.
    Backend,
}

impl ErrorKind {
    /// Whether retrying the same operation later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorKind::Connection | ErrorKind::Timeout)
    }

    fn describe(self) -> &'static str {
        match self {
            ErrorKind::InvalidKey => "invalid key",
            ErrorKind::InvalidOptions => "invalid entry options",
            ErrorKind::Connection => "connection error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::CorruptEntry => "corrupt or foreign entry",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Config => "invalid configuration",
            ErrorKind::Authentication => "authentication failed",
            ErrorKind::Serialization => "serialization error",
            ErrorKind::Backend => "backend error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A cache error: a [`kind`](Error::kind), a message, optionally the options
/// field at fault, and optionally the backend's own error as `source`.
///
/// `Display` shows the kind and message only, never the source: print the
/// chain with a reporter (anyhow's `{:#}`, or walk
/// [`source`](std::error::Error::source)), which then shows each cause once.
///
/// ```
/// use cache_abstractions::{Error, ErrorKind};
///
/// let e = Error::invalid_options("sliding_expiration", "must be greater than zero");
/// assert_eq!(e.kind(), ErrorKind::InvalidOptions);
/// assert_eq!(e.field(), Some("sliding_expiration"));
/// assert!(!e.is_retryable());
/// assert_eq!(
///     e.to_string(),
///     "invalid entry options: sliding_expiration must be greater than zero"
/// );
/// ```
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
    field: Option<&'static str>,
    retryable: Option<bool>,
    source: Option<BoxError>,
}

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Error {
            kind,
            message: message.into(),
            field: None,
            retryable: None,
            source: None,
        }
    }

    /// An [`ErrorKind::InvalidKey`] error.
    pub fn invalid_key(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::InvalidKey, message)
    }

    /// An [`ErrorKind::InvalidOptions`] error naming the field at fault.
    pub fn invalid_options(field: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        let mut e = Error::new(ErrorKind::InvalidOptions, message);
        e.field = Some(field);
        e
    }

    /// An [`ErrorKind::CorruptEntry`] error.
    pub fn corrupt(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::CorruptEntry, message)
    }

    /// An [`ErrorKind::Unsupported`] error.
    pub fn unsupported(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Unsupported, message)
    }

    /// An [`ErrorKind::Config`] error.
    pub fn config(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Config, message)
    }

    /// An [`ErrorKind::Authentication`] error.
    pub fn authentication(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Authentication, message)
    }

    /// An [`ErrorKind::Serialization`] error.
    pub fn serialization(message: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Serialization, message)
    }

    /// Attaches the underlying error (for example the driver's).
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Overrides whether a retry may help (by default it follows the kind).
    #[must_use]
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = Some(retryable);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// For [`ErrorKind::InvalidOptions`]: the name of the field at fault.
    pub fn field(&self) -> Option<&'static str> {
        self.field
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable.unwrap_or_else(|| self.kind.is_retryable())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(field) = self.field {
            d.field("field", &field);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.kind)?;
        if let Some(field) = self.field {
            write!(f, "{field} ")?;
        }
        // The source is not repeated here: it is the error's `source()`,
        // which reporters (anyhow's `{:#}`, tracing, eyre) print after this
        // text. Printing it here too would show every cause twice.
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_follows_kind_unless_overridden() {
        assert!(Error::new(ErrorKind::Timeout, "x").is_retryable());
        assert!(Error::new(ErrorKind::Connection, "x").is_retryable());
        assert!(!Error::corrupt("x").is_retryable());
        assert!(!Error::authentication("x").is_retryable());
        assert!(!Error::serialization("x").is_retryable());
        assert!(!Error::new(ErrorKind::Timeout, "x")
            .with_retryable(false)
            .is_retryable());
    }

    #[test]
    fn display_leaves_the_source_to_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::new(ErrorKind::Connection, "cannot reach 127.0.0.1:1").with_source(io);
        assert_eq!(e.to_string(), "connection error: cannot reach 127.0.0.1:1");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("refused"));
    }
}
