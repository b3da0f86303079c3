//! What a user types as a cache address, through the `distcache` facade
//! with every backend on: `open` (no I/O) returns a cache or an error,
//! never panics; `redact` never panics, and neither it nor an error shows a
//! password.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

/// Marks the password: it must never appear in anything shown.
const SECRET: &str = "Sekr3tPw";

const SCHEMES: &[&str] = &[
    "memory",
    "redis",
    "rediss",
    "redis+cluster",
    "unix",
    "sqlserver",
    "mssql",
    "postgres",
    "postgresql",
    "ftp",
];

#[derive(Arbitrary, Debug)]
enum Input {
    Text(String),
    Url {
        scheme: u8,
        user: String,
        password: String,
        rest: String,
    },
    /// `Server=..;Password=..` (ADO.NET) or `host=.. password=..` (libpq).
    KeyValue {
        ado: bool,
        before: String,
        password: String,
        after: String,
    },
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// Opens and redacts `text`; with a secret, checks that it never shows.
fn check(text: &str, secret: Option<&str>) {
    let _inside = runtime().enter();
    let opened = distcache::open(text);
    let redacted = distcache::redact(text);
    if let Some(secret) = secret {
        assert!(
            !redacted.contains(secret),
            "redact({text:?}) = {redacted:?}"
        );
        if let Err(e) = &opened {
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains(secret), "error for {text:?} shows: {shown}");
        }
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Text(text) => check(&text, None),
        Input::Url {
            scheme,
            user,
            password,
            rest,
        } => {
            if [&user, &rest].iter().any(|s| s.contains(SECRET)) {
                return;
            }
            let scheme = SCHEMES[usize::from(scheme) % SCHEMES.len()];
            check(
                &format!("{scheme}://{user}:{SECRET}{password}@{rest}"),
                Some(SECRET),
            );
        }
        Input::KeyValue {
            ado,
            before,
            password,
            after,
        } => {
            // Other values hold no quote or separator, so the password
            // stays the password's (an unclosed quote would rightly swallow it).
            let clean = |s: &str| s.replace(['"', '\'', ';', ' ', '=', '\\'], "");
            // Never empty: libpq reads `host= password=x` as the host
            // "password=x" (blanks may follow '='), which is no leak.
            let (before, after) = (clean(&before) + "h", clean(&after) + "d");
            if before.contains(SECRET) || after.contains(SECRET) {
                return;
            }
            let text = if ado {
                format!(
                    "Server={before};Password={SECRET}{};Database={after}",
                    clean(&password)
                )
            } else {
                format!(
                    "host={before} password={SECRET}{} dbname={after}",
                    clean(&password)
                )
            };
            check(&text, Some(SECRET));
        }
    }
});
