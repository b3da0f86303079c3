//! Redis URLs as a user may type them: any text parses or is refused with
//! `Config`, redaction is stable, and a password never shows
//! (cache_redis::fuzzing::check::{url, url_hides}).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

const SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "redis+cluster",
    "rediss+cluster",
    "redis+unix",
    "unix",
    "http",
    "",
];

/// Marks the password: it must never appear in anything shown.
const SECRET: &str = "Sekr3tPw";

#[derive(Arbitrary, Debug)]
enum Input {
    Text(String),
    WithPassword {
        scheme: u8,
        user: String,
        password: String,
        rest: String,
    },
}

fuzz_target!(|input: Input| {
    match input {
        Input::Text(text) => cache_redis::fuzzing::check::url(&text),
        Input::WithPassword {
            scheme,
            user,
            password,
            rest,
        } => {
            // The secret must not be made of parts shown for other reasons.
            if [&user, &rest].iter().any(|s| s.contains(SECRET)) {
                return;
            }
            let scheme = SCHEMES[usize::from(scheme) % SCHEMES.len()];
            let url = format!("{scheme}://{user}:{SECRET}{password}@{rest}");
            cache_redis::fuzzing::check::url(&url);
            cache_redis::fuzzing::check::url_hides(&url, SECRET);
        }
    }
});
