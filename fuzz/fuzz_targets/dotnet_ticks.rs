//! .NET tick conversions (Redis's fields) and SQL Server's `datetimeoffset`
//! for any instant, duration and tick count.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (i64, u32, Duration, i64)| {
    let (secs, nanos, d, ticks) = input;
    let offset = Duration::new(secs.unsigned_abs(), nanos % 1_000_000_000);
    let t = if secs >= 0 {
        UNIX_EPOCH.checked_add(offset)
    } else {
        UNIX_EPOCH.checked_sub(offset)
    };
    let Some(t) = t else { return };
    cache_redis::fuzzing::check::ticks(t, d, ticks);
    cache_sqlserver::fuzzing::check::instant(t);
});
