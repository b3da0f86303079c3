//! A background thread that reclaims expired entries while the cache is idle.
//!
//! moka applies expirations during ordinary operations; without traffic,
//! dead entries (and their memory) would stay. The thread holds the cache
//! only through moka's handle and exits as soon as the owning `MemoryCache`
//! is dropped, because dropping the reaper drops the channel it waits on.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::Duration;

use moka::sync::Cache;

use crate::format::Stored;

pub(crate) struct Reaper {
    _stop: Sender<()>,
}

impl Reaper {
    pub(crate) fn spawn(entries: Cache<String, Stored>, every: Duration) -> Reaper {
        let (stop, stopped) = mpsc::channel::<()>();
        let every = every.max(Duration::from_millis(10));
        let spawned = thread::Builder::new()
            .name("cache-memory-reaper".into())
            .spawn(move || {
                // Any other outcome (disconnected) means the cache was dropped.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    entries.run_pending_tasks();
                }
            });
        // Without a thread (resource exhaustion) reclaiming still happens on
        // ordinary operations; the cache stays correct.
        drop(spawned);
        Reaper { _stop: stop }
    }
}
