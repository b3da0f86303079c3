//! A background thread that reclaims expired entries.
//!
//! Expiry is lazy (a read of a dead entry evicts it), so without this
//! thread, dead entries that are never read again would keep their memory
//! until the size limit evicted them. The thread holds the store only
//! through its `Arc` and exits as soon as the owning `MemoryCache` is
//! dropped, because dropping the reaper drops the channel it waits on.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::store::Store;

pub(crate) struct Reaper {
    _stop: Sender<()>,
}

impl Reaper {
    pub(crate) fn spawn(store: Arc<Store>, every: Duration) -> Reaper {
        let (stop, stopped) = mpsc::channel::<()>();
        let every = every.max(Duration::from_millis(10));
        let spawned = thread::Builder::new()
            .name("cache-memory-reaper".into())
            .spawn(move || {
                // Any other outcome (disconnected) means the cache was dropped.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    store.sweep();
                }
            });
        // Without a thread (resource exhaustion) dead entries are still
        // invisible, and reclaimed when read or evicted.
        drop(spawned);
        Reaper { _stop: stop }
    }
}
