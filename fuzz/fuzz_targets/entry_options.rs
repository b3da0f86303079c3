#![no_main]
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, UNIX_EPOCH};

fuzz_target!(|input: (u64, u32, Option<u64>, Option<u64>, Option<u64>)| {
    let (secs, nanos, abs, rel, sld) = input;
    let now = UNIX_EPOCH + Duration::new(secs % 400_000_000_000, nanos % 1_000_000_000);
    let mut o = cache_abstractions::EntryOptions::new();
    if let Some(a) = abs { o = o.expires_at(UNIX_EPOCH + Duration::from_nanos(a)); }
    if let Some(r) = rel { o = o.expires_in(Duration::from_nanos(r)); }
    if let Some(s) = sld { o = o.sliding(Duration::from_nanos(s)); }
    let _ = o.resolve(now);
});
