//! How a command ends: success, a miss, or a failure with its exit code.

use std::fmt;
use std::process::ExitCode;

use distcache::Error;

/// Exit status for success.
pub const EXIT_OK: u8 = 0;
/// Exit status for a miss (`get`, `inspect`).
pub const EXIT_MISS: u8 = 1;
/// Exit status for bad usage: arguments, durations, timestamps, URLs.
pub const EXIT_USAGE: u8 = 2;
/// Exit status for an error from the cache or its backend.
pub const EXIT_CACHE: u8 = 3;

/// A command that succeeded, or found nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Ok,
    /// No entry under the key; the message goes to stderr.
    Miss(String),
}

impl Outcome {
    /// The process exit status.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Ok => EXIT_OK,
            Outcome::Miss(_) => EXIT_MISS,
        }
    }
}

/// A command that failed: one line for stderr and an exit status.
#[derive(PartialEq, Eq)]
pub struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// A usage error (exit 2): nothing was sent to the cache.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    /// A cache or backend error (exit 3).
    pub fn cache(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_CACHE,
            message: message.into(),
        }
    }

    /// The process exit status.
    pub fn exit_code(&self) -> u8 {
        self.code
    }

    /// The message, without the `cachectl: error:` prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The exit code as a process status.
    pub fn process_exit(&self) -> ExitCode {
        ExitCode::from(self.exit_code())
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Failure({}: {})", self.code, self.message)
    }
}

impl From<Error> for Failure {
    /// Any error from the cache (exit 3), with its causes, on one line.
    fn from(e: Error) -> Self {
        Failure::cache(one_line(&chain(&e)))
    }
}

/// The error and each of its causes once, joined by `: ` (what anyhow's
/// `{:#}` prints; `Error`'s own `Display` leaves the causes out).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// `s` on one line: newlines and tabs become spaces, runs of spaces collapse.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_space = false;
    for c in s.trim().chars() {
        let space = c.is_whitespace();
        if space && last_space {
            continue;
        }
        out.push(if space { ' ' } else { c });
        last_space = space;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use distcache::ErrorKind;

    #[test]
    fn cache_errors_are_exit_3_on_one_line() {
        let f = Failure::from(Error::new(ErrorKind::Connection, "refused\n  at host\tx"));
        assert_eq!(f.exit_code(), EXIT_CACHE);
        assert_eq!(f.message(), "connection error: refused at host x");
        let io = std::io::Error::other("reset");
        let f = Failure::from(Error::new(ErrorKind::Connection, "lost").with_source(io));
        assert_eq!(f.message(), "connection error: lost: reset");
    }
}
