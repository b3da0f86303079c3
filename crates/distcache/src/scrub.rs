//! [`Scrubber`]: the secrets of a program's input, hidden in anything it
//! prints, found with the one redactor ([`redact`](crate::redact)).

use std::ffi::OsString;

/// Hides the secrets of a program's input in any text it prints.
///
/// A tool prints more than the URL it was given: an argument parser echoes
/// a mistyped argument, a driver error may quote a setting. A `Scrubber`
/// asks [`redact`](crate::redact) which parts of each input are secret (a
/// password, a token; all of a text no backend can read) and hides those
/// parts wherever they appear.
///
/// ```
/// use distcache::Scrubber;
///
/// let scrubber = Scrubber::new(["get", "nosuch://me:hunter2@host"]);
/// let shown = scrubber.scrub("unexpected argument 'nosuch://me:hunter2@host'");
/// assert_eq!(shown, "unexpected argument 'nosuch:***'");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Scrubber {
    /// Longest first, so a secret that contains another is hidden whole.
    secrets: Vec<String>,
}

impl Scrubber {
    /// A scrubber for this process's arguments and the environment
    /// variables named (those that hold URLs, such as `CACHE_URL`).
    pub fn from_args_and_env(vars: &[&str]) -> Self {
        let args = std::env::args_os().skip(1);
        let env = vars.iter().filter_map(std::env::var_os);
        Scrubber::new(args.chain(env).map(lossy))
    }

    /// A scrubber for the secrets in `inputs`.
    pub fn new<I>(inputs: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut secrets = Vec::new();
        for input in inputs {
            let input = input.as_ref();
            secrets.extend(hidden_parts(input));
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

/// What [`redact`](crate::redact) hides in `text`: the pieces of `text` that stand
/// where its output has `***`. When the output does not line up with the
/// text piece by piece, all of `text` counts as secret.
fn hidden_parts(text: &str) -> Vec<String> {
    let shown = crate::redact(text);
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
        Scrubber::new(inputs).scrub(text)
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
