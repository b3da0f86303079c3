//! Everything cachectl prints passes through here. The secrets of every
//! text the user typed (each argument, the URL variable) are found with the
//! one redactor, `distcache::redact`, and hidden in any message, clap's
//! included: a URL typed in the wrong place is echoed by clap as given.

use std::ffi::OsString;

/// The variable `--url` falls back to.
pub const URL_ENV: &str = "CACHE_URL";

/// Hides the secrets of the user's input in any text.
#[derive(Clone, Debug, Default)]
pub struct Scrubber {
    /// Longest first, so a secret that contains another is hidden whole.
    secrets: Vec<String>,
}

impl Scrubber {
    /// A scrubber for this process's arguments and `CACHE_URL`.
    pub fn from_environment() -> Self {
        let args = std::env::args_os().skip(1);
        let env = std::env::var_os(URL_ENV);
        Scrubber::new(args.chain(env).map(lossy))
    }

    /// A scrubber for the secrets in `inputs`.
    pub fn new(inputs: impl IntoIterator<Item = String>) -> Self {
        let mut secrets = Vec::new();
        for input in inputs {
            secrets.extend(hidden_parts(&input));
            // `--flag=value`: clap quotes the value alone.
            if let Some((flag, value)) = input.split_once('=') {
                if flag.starts_with('-') {
                    secrets.extend(hidden_parts(value));
                }
            }
        }
        secrets.retain(|s| !s.trim().is_empty());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Scrubber { secrets }
    }

    /// `text` with every secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

fn lossy(s: OsString) -> String {
    s.to_string_lossy().into_owned()
}

/// What `distcache::redact` hides in `text`: the pieces of `text` that stand
/// where its output has `***`. When the output does not line up with the
/// text piece by piece, all of `text` counts as secret.
fn hidden_parts(text: &str) -> Vec<String> {
    let shown = distcache::redact(text);
    if shown == text {
        return Vec::new();
    }
    let whole = || vec![text.to_owned(), text.trim().to_owned()];
    let pieces: Vec<&str> = shown.split("***").collect();
    let Some(rest) = text.trim().strip_prefix(pieces[0]) else {
        return whole();
    };
    let mut rest = rest;
    let mut hidden = Vec::new();
    for (i, piece) in pieces.iter().enumerate().skip(1) {
        let last = i + 1 == pieces.len();
        let at = if last {
            rest.strip_suffix(piece).map(str::len)
        } else if piece.is_empty() {
            Some(0)
        } else {
            rest.find(piece)
        };
        let Some(at) = at else {
            return whole();
        };
        hidden.push(rest[..at].to_owned());
        rest = &rest[at + piece.len()..];
    }
    hidden
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(inputs: &[&str], text: &str) -> String {
        Scrubber::new(inputs.iter().map(|s| s.to_string())).scrub(text)
    }

    #[test]
    fn the_parts_the_redactor_hides_are_hidden_anywhere() {
        // No scheme, and an unknown scheme: the redactor hides all after it.
        assert_eq!(
            scrub(
                &["app:hunter2@host:6379"],
                "unexpected 'app:hunter2@host:6379'"
            ),
            "unexpected 'app:***'"
        );
        assert_eq!(
            scrub(
                &[":hunter2@host:6379"],
                "bad ':hunter2@host:6379' and hunter2"
            ),
            "bad '***' and hunter2"
        );
        assert_eq!(
            scrub(
                &["--timeout=nosuch://u:p/w?#@h"],
                "invalid value 'nosuch://u:p/w?#@h'"
            ),
            "invalid value 'nosuch:***'"
        );
        // Plain words stay readable.
        assert_eq!(
            scrub(&["gett", "key"], "unrecognized subcommand 'gett'"),
            "unrecognized subcommand 'gett'"
        );
    }

    #[test]
    fn a_memory_url_has_nothing_to_hide() {
        assert_eq!(
            hidden_parts("memory://?capacity=1MiB"),
            Vec::<String>::new()
        );
    }
}
