//! ADO.NET connection strings and SQL Server URLs: any text parses or is
//! refused, prints as what it parsed to, and never shows a password
//! (cache_sqlserver::fuzzing::check).
#![no_main]

use arbitrary::Arbitrary;
use cache_sqlserver::fuzzing::check;
use libfuzzer_sys::fuzz_target;

const KEYWORDS: &[&str] = &[
    "Server",
    "Data Source",
    "Database",
    "User Id",
    "Encrypt",
    "TrustServerCertificate",
    "Connect Timeout",
    "Application Name",
];
const PASSWORD_KEYWORDS: &[&str] = &["Password", "PWD", " password "];
const SECRET: &str = "Sekr3tPw";

#[derive(Arbitrary, Debug)]
enum Input {
    Text(String),
    Pairs {
        before: Vec<(u8, String)>,
        keyword: u8,
        quote: u8,
        tail: String,
        after: Vec<(u8, String)>,
    },
}

/// Plain `keyword=value` pairs. Their values hold no quote or ';': an
/// unclosed quote would rightly make the password part of another value.
fn pairs(list: &[(u8, String)]) -> Vec<String> {
    list.iter()
        .map(|(k, v)| {
            let keyword = KEYWORDS[usize::from(*k) % KEYWORDS.len()];
            format!("{keyword}={}", v.replace(['"', '\'', ';'], ""))
        })
        .collect()
}

fuzz_target!(|input: Input| {
    match input {
        Input::Text(text) => check::connection_string(&text),
        Input::Pairs {
            before,
            keyword,
            quote,
            tail,
            after,
        } => {
            if before.iter().chain(&after).any(|(_, v)| v.contains(SECRET)) {
                return;
            }
            let keyword = PASSWORD_KEYWORDS[usize::from(keyword) % PASSWORD_KEYWORDS.len()];
            let quote = ["", "\"", "'"][usize::from(quote) % 3];
            let mut parts = pairs(&before);
            parts.push(format!("{keyword}={quote}{SECRET}{tail}{quote}"));
            parts.extend(pairs(&after));
            let text = parts.join(";");
            check::connection_string(&text);
            check::connection_string_hides(&text, SECRET);
        }
    }
});
