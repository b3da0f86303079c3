//! Entry options -> the stored .NET hash fields and TTL -> decoded options
//! (cache_redis::fuzzing::check::options_round_trip); the resolved absolute
//! expiration also goes through SQL Server's `datetimeoffset`.
#![no_main]

mod common;

use std::time::Duration;

use arbitrary::Arbitrary;
use cache_abstractions::EntryOptions;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    now: common::Now,
    /// Absolute expiration: (in the future?, offset).
    absolute: Option<(bool, Duration)>,
    relative: Option<Duration>,
    sliding: Option<Duration>,
}

fuzz_target!(|input: Input| {
    let now = input.now.get();
    let mut options = EntryOptions::new();
    if let Some((future, d)) = input.absolute {
        let at = if future {
            now.checked_add(d)
        } else {
            now.checked_sub(d)
        };
        match at {
            Some(at) => options = options.expires_at(at),
            None => return,
        }
    }
    if let Some(r) = input.relative {
        options = options.expires_in(r);
    }
    if let Some(s) = input.sliding {
        options = options.sliding(s);
    }
    cache_redis::fuzzing::check::options_round_trip(&options, now);
    if let Ok(expiry) = options.resolve(now) {
        if let Some(at) = expiry.absolute {
            cache_sqlserver::fuzzing::check::instant(at);
        }
    }
});
