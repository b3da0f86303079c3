//! The caches under test: the memory backend, and the raw baselines a user
//! could take instead (moka used directly, a `RwLock<HashMap>`), behind one
//! interface so every load loop runs the same code against each.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::RwLock;

use bytes::Bytes;
use cache_abstractions::{DistributedCache, EntryOptions};
use cache_memory::MemoryCache;

/// Which cache a [`Target`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `cache_memory::MemoryCache` through the `DistributedCache` trait.
    Memory,
    /// `moka::sync::Cache<String, Bytes>` used directly (baseline).
    Moka,
    /// `RwLock<HashMap<String, Bytes>>` from std (baseline).
    RwLock,
    /// No cache: a few hundred instructions of arithmetic per call and no
    /// shared memory, so it scales with the cores that are actually free.
    /// Run beside the others, it tells how much of the machine the
    /// benchmark had (not in [`Kind::ALL`]).
    Probe,
}

impl Kind {
    /// Every kind, the backend first.
    pub const ALL: [Kind; 3] = [Kind::Memory, Kind::Moka, Kind::RwLock];

    /// The short name used in results and plots.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Memory => "memory",
            Kind::Moka => "moka (raw)",
            Kind::RwLock => "RwLock<HashMap> (raw)",
            Kind::Probe => "CPU probe",
        }
    }

    /// The command-line spelling.
    pub fn arg(self) -> &'static str {
        match self {
            Kind::Memory => "memory",
            Kind::Moka => "moka",
            Kind::RwLock => "rwlock",
            Kind::Probe => "probe",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Kind::ALL
            .into_iter()
            .chain([Kind::Probe])
            .find(|k| k.arg() == s)
            .ok_or_else(|| format!("unknown cache {s:?} (memory, moka, rwlock)"))
    }
}

/// One cache under test.
pub enum Target {
    /// The memory backend.
    Memory(MemoryCache),
    /// moka, raw.
    Moka(moka::sync::Cache<String, Bytes>),
    /// A `RwLock<HashMap>`, raw.
    RwLock(RwLock<HashMap<String, Bytes>>),
    /// No cache; see [`Kind::Probe`].
    Probe,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Target").field(&self.kind()).finish()
    }
}

impl Target {
    /// A fresh, empty cache of `kind` that holds at least `capacity_bytes`
    /// of values without evicting.
    pub fn new(kind: Kind, capacity_bytes: u64) -> Self {
        match kind {
            Kind::Memory => Target::Memory(
                MemoryCache::builder()
                    .capacity_bytes(capacity_bytes)
                    .build()
                    .expect("a non-zero capacity is valid"),
            ),
            // Sized in entries, as a user of moka would without a weigher;
            // large enough that nothing is evicted in any benchmark.
            Kind::Moka => Target::Moka(moka::sync::Cache::new(1 << 24)),
            Kind::RwLock => Target::RwLock(RwLock::new(HashMap::new())),
            Kind::Probe => Target::Probe,
        }
    }

    /// Which cache this is.
    pub fn kind(&self) -> Kind {
        match self {
            Target::Memory(_) => Kind::Memory,
            Target::Moka(_) => Kind::Moka,
            Target::RwLock(_) => Kind::RwLock,
            Target::Probe => Kind::Probe,
        }
    }

    /// Reads `key`.
    pub async fn get(&self, key: &str) -> Option<Bytes> {
        match self {
            Target::Memory(c) => c.get(key).await.expect("memory get"),
            Target::Moka(c) => c.get(key),
            Target::RwLock(m) => m.read().expect("lock").get(key).cloned(),
            Target::Probe => {
                spin(key);
                None
            }
        }
    }

    /// Writes `value` under `key` (no expiry).
    pub async fn set(&self, key: &str, value: Bytes) {
        match self {
            Target::Memory(c) => c
                .set(key, value, &EntryOptions::new())
                .await
                .expect("memory set"),
            Target::Moka(c) => c.insert(key.to_owned(), value),
            Target::RwLock(m) => {
                m.write().expect("lock").insert(key.to_owned(), value);
            }
            Target::Probe => spin(key),
        }
    }
}

/// About a hundred nanoseconds of register-only arithmetic.
fn spin(key: &str) {
    let mut x = std::hint::black_box(key.len() as u64 | 1);
    for _ in 0..256 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    std::hint::black_box(x);
}
