//! [`Config`]: the validated settings a [`SqlServerCache`](crate::SqlServerCache)
//! is made from (the builder's output; plain data, no behaviour).

use std::sync::Arc;
use std::time::Duration;

use cache_abstractions::Clock;

use crate::connstr::ConnectionString;
use crate::ident::TableName;

/// Every setting, validated.
pub(crate) struct Config {
    pub(crate) connection: ConnectionString,
    pub(crate) table: TableName,
    pub(crate) default_sliding: Duration,
    pub(crate) deletion_interval: Duration,
    pub(crate) background_cleanup: bool,
    pub(crate) cleanup_batch_size: u32,
    pub(crate) pool_size: u32,
    pub(crate) connect_timeout: Duration,
    pub(crate) command_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}
