//! Shared helpers for the benchmarks and the report: a poll loop for
//! futures that never wait ([`block_on`]), the raw baselines every backend
//! is measured beside ([`Target`]), the load loops of the sweeps
//! ([`load`]), and the JSON records the report is written from
//! ([`results`]).
//!
//! The binaries in `src/bin` are run by `cargo xtask bench`:
//! `sweep` (throughput against concurrency, latency against value size),
//! `footprint` (resident memory per entry, each case in a fresh process)
//! and `report` (docs/performance.md and its SVG plots).

pub mod candidates;
pub mod load;
pub mod results;
mod target;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

pub use target::{Kind, Target};

/// Runs `fut` to completion on the calling thread by polling it in a loop
/// with a no-op waker.
///
/// Meant for futures that never wait (the memory backend's), so a benchmark
/// measures the call a user makes (including `async_trait`'s boxing) and no
/// runtime. A future that does return `Pending` is polled again at once,
/// which is correct but spins.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::hint::spin_loop();
    }
}

/// The key of entry `i` in every benchmark's key space: what a service
/// would use (`bench:` and a fixed-width number), 12 bytes long.
pub fn key(i: usize) -> String {
    format!("bench:{i:06}")
}

/// A value of `len` bytes, in an allocation of its own (as a value read
/// from a socket or serialised by a user would be).
pub fn value(len: usize, seed: u8) -> bytes::Bytes {
    let v: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_add(seed)).collect();
    bytes::Bytes::from(v)
}

/// A tiny xorshift generator for picking keys: no dependency, no lock, and
/// a few instructions per draw, so the load loops measure the cache.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (zero is replaced, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Self {
        XorShift(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_runs_a_ready_future() {
        assert_eq!(block_on(async { 42 }), 42);
    }

    #[test]
    fn xorshift_stays_below_the_bound() {
        let mut r = XorShift::new(7);
        assert!((0..10_000).all(|_| r.below(10) < 10));
    }
}
