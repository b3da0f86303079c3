//! `Display` never repeats the source: reporters print each cause once.

use cache_abstractions::{Error, ErrorKind};

fn layered() -> Error {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "port 1 refused");
    Error::new(ErrorKind::Connection, "cannot reach cache at 127.0.0.1:1").with_source(io)
}

#[test]
fn anyhow_alternate_prints_each_cause_once() {
    let report = anyhow::Error::new(layered()).context("loading the session");
    let text = format!("{report:#}");
    assert_eq!(
        text,
        "loading the session: connection error: cannot reach cache at 127.0.0.1:1: port 1 refused"
    );
    assert_eq!(text.matches("port 1 refused").count(), 1);
}

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("session store failed")]
    Cache(#[from] Error),
}

#[test]
fn thiserror_wrapper_chain_has_each_cause_once() {
    let wrapped = AppError::from(layered());
    let mut chain = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(&wrapped);
    while let Some(e) = next {
        chain.push(e.to_string());
        next = e.source();
    }
    assert_eq!(
        chain,
        [
            "session store failed",
            "connection error: cannot reach cache at 127.0.0.1:1",
            "port 1 refused"
        ]
    );
    let joined = format!("{:#}", anyhow::Error::new(wrapped));
    assert_eq!(joined.matches("port 1 refused").count(), 1, "{joined}");
    assert_eq!(joined.matches("cannot reach").count(), 1, "{joined}");
}
