//! The cases that read `Capabilities`, against correct reference backends
//! that declare what the default reference does not: key limits in each
//! unit (one long, like SQL Server's 449 UTF-16 units, one like Memcached's
//! 250 bytes, one barely longer than the kit's key prefix) and a default
//! expiry (SQL Server's 20-minute sliding window, and a short one). Every
//! case must pass, none skipped.

mod reference;

use std::time::Duration;

use cache_abstractions::{Capabilities, EntryOptions, KeyLimit};

use reference::RefHarness;

fn run(cases: &[&str], caps: Capabilities) {
    for name in cases {
        let caps = caps.clone();
        cache_testkit::run_case(name, || async move { RefHarness::correct_with(caps) });
    }
}

const KEY_CASES: &[&str] = &[
    "rule_05_distinct_keys_never_collide",
    "rule_05_empty_key_rejected",
    "rule_05_key_length_limit",
];

#[test]
fn utf16_key_limit() {
    run(
        KEY_CASES,
        Capabilities::new().with_max_key_length(KeyLimit::Utf16Units(449)),
    );
}

#[test]
fn utf8_key_limit() {
    run(
        KEY_CASES,
        Capabilities::new().with_max_key_length(KeyLimit::Utf8Bytes(250)),
    );
}

#[test]
fn short_key_limit() {
    run(
        KEY_CASES,
        Capabilities::new().with_max_key_length(KeyLimit::Utf8Bytes(40)),
    );
}

#[test]
fn default_sliding_expiry() {
    run(
        &["rule_09_no_options_uses_default"],
        Capabilities::new()
            .with_default_options(EntryOptions::new().sliding(Duration::from_secs(20 * 60))),
    );
}

#[test]
fn short_default_expiry() {
    run(
        &["rule_09_no_options_uses_default"],
        Capabilities::new()
            .with_default_options(EntryOptions::new().expires_in(Duration::from_secs(1))),
    );
}
