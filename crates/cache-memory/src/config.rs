//! [`Config`]: the checked settings a [`MemoryCache`](crate::MemoryCache) is
//! made from (the builder's output; plain data, no behaviour).

use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::{Clock, SystemClock};

use crate::{DEFAULT_CAPACITY_BYTES, DEFAULT_REAP_INTERVAL};

/// Every setting; [`MemoryCacheBuilder::build`](crate::MemoryCacheBuilder::build) checks them.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) capacity: u64,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) reap_interval: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            capacity: DEFAULT_CAPACITY_BYTES,
            clock: Arc::new(SystemClock),
            reap_interval: Some(DEFAULT_REAP_INTERVAL),
        }
    }
}
