//! A fixed number of calls of one hot operation, for callgrind:
//!
//! ```text
//! profile <case> <calls>
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_loop*' profile memory-get 100000
//! ```
//!
//! Cases: `memory-get`, `moka-get`, `memory-sliding-get`, `memory-set`,
//! `moka-set` (1 KiB values, 1024 keys populated first). Only
//! [`measured_loop`] is collected, so instructions divided by calls is the
//! cost of one call.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use cache_abstractions::{DistributedCache, EntryOptions};
use cache_benches::{block_on, key, value, Kind, Target};
use cache_memory::MemoryCache;

const KEYS: usize = 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(case), Some(calls)) = (args.first(), args.get(1).and_then(|n| n.parse().ok())) else {
        eprintln!(
            "usage: profile <memory-get|moka-get|memory-sliding-get|memory-set|moka-set> <calls>"
        );
        return ExitCode::FAILURE;
    };
    let keys: Vec<String> = (0..KEYS).map(key).collect();
    let v = value(1024, 5);
    let op: Op = match case.as_str() {
        "memory-get" => Op::Get(populated(Kind::Memory, &keys, &v)),
        "moka-get" => Op::Get(populated(Kind::Moka, &keys, &v)),
        "memory-set" => Op::Set(populated(Kind::Memory, &keys, &v)),
        "moka-set" => Op::Set(populated(Kind::Moka, &keys, &v)),
        "memory-sliding-get" => {
            let cache = MemoryCache::new();
            let options = EntryOptions::new().sliding(Duration::from_secs(300));
            for (i, k) in keys.iter().enumerate() {
                block_on(cache.set(k, value(v.len(), i as u8), &options)).expect("set");
            }
            Op::Get(Target::Memory(cache))
        }
        other => {
            eprintln!("profile: unknown case {other:?}");
            return ExitCode::FAILURE;
        }
    };
    measured_loop(&op, &keys, &v, calls);
    ExitCode::SUCCESS
}

enum Op {
    Get(Target),
    Set(Target),
}

fn populated(kind: Kind, keys: &[String], v: &Bytes) -> Target {
    let t = Target::new(kind, 1 << 30);
    // A value of its own per key, as in a real cache.
    for (i, k) in keys.iter().enumerate() {
        block_on(t.set(k, value(v.len(), i as u8)));
    }
    t
}

/// The calls callgrind collects.
#[inline(never)]
fn measured_loop(op: &Op, keys: &[String], v: &Bytes, calls: usize) {
    for i in 0..calls {
        let k = &keys[i & (KEYS - 1)];
        match op {
            Op::Get(t) => {
                black_box(block_on(t.get(black_box(k))));
            }
            Op::Set(t) => block_on(t.set(black_box(k), v.clone())),
        }
    }
}
