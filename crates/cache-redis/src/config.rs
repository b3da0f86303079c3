//! [`Config`]: the validated settings a [`RedisCache`](crate::RedisCache)
//! is made from (the builder's output; plain data, no behaviour).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::Clock;

use crate::url::Target;

/// The most Redis stores in one key or one bulk value (`proto-max-bulk-len`).
pub(crate) const REDIS_MAX_BULK: usize = 512 * 1024 * 1024;

/// Every setting, validated.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) target: Target,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) tls_root_cert: Option<Vec<u8>>,
    pub(crate) instance_name: String,
    pub(crate) max_key_bytes: usize,
    pub(crate) pool_size: u32,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) scripting: bool,
    pub(crate) clock: Arc<dyn Clock>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Target`'s Debug redacts; the password is never shown.
        f.debug_struct("Config")
            .field("target", &self.target)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("tls_root_cert", &self.tls_root_cert.is_some())
            .field("instance_name", &self.instance_name)
            .field("max_key_bytes", &self.max_key_bytes)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("scripting", &self.scripting)
            .finish_non_exhaustive()
    }
}
