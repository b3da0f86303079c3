//! Inputs shared by the targets.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;

/// A "now" in the years 1970 to 2200, to the nanosecond.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Now {
    secs: u64,
    nanos: u32,
}

impl Now {
    pub fn get(self) -> SystemTime {
        UNIX_EPOCH + Duration::new(self.secs % 7_258_118_400, self.nanos % 1_000_000_000)
    }
}
