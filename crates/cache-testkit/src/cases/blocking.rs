//! The blocking facade: the same semantics from synchronous code.

use std::thread;
use std::time::{Duration, Instant};

use cache_abstractions::{BlockingCache, EntryOptions, ErrorKind};
use tokio::runtime::Handle;

use crate::harness::Harness;
use crate::runner::Outcome;
use crate::support::*;

/// The four operations through [`BlockingCache`] from a plain thread,
/// including an expiry and validation errors.
pub async fn blocking_facade_from_plain_thread(h: &dyn Harness) -> Outcome {
    let cache = fresh(h).await;
    let blocking = BlockingCache::with_handle(cache, Handle::current());
    let worker = thread::spawn(move || {
        let k = key("blocking");
        let b = &blocking;
        ok(b.set(&k, "v", &EntryOptions::new()), "blocking set");
        expect_value(
            ok(b.get(&k), "blocking get"),
            Some(b"v"),
            "blocking round trip",
        );
        ok(
            b.set_string(&k, "text ✓", &EntryOptions::new()),
            "blocking set_string",
        );
        assert_eq!(
            ok(b.get_string(&k), "blocking get_string").as_deref(),
            Some("text ✓")
        );
        ok(b.refresh(&k), "blocking refresh");
        ok(b.remove(&k), "blocking remove");
        expect_value(ok(b.get(&k), "blocking get"), None, "after blocking remove");
        fails_with(b.get(""), ErrorKind::InvalidKey, "blocking get(\"\")");
        fails_with(
            b.set(&k, "v", &EntryOptions::new().sliding(Duration::ZERO)),
            ErrorKind::InvalidOptions,
            "blocking set with zero sliding",
        );
        // The expiry, judged only when set and get took under SLACK (an
        // overloaded machine could let the 1 s pass in between): at most
        // three tries.
        let mut tries = 0;
        let e = loop {
            let e = key("blocking-expiry");
            let started = Instant::now();
            ok(b.set(&e, "v", &expires_in(1.0)), "blocking set with expiry");
            let got = ok(b.get(&e), "get");
            if started.elapsed() <= SLACK {
                expect_value(got, Some(b"v"), "blocking entry right after set");
                break e;
            }
            tries += 1;
            assert!(
                tries < 3,
                "inconclusive: a blocking set and get took over {SLACK:?} three times \
                 (an overloaded machine?)"
            );
        };
        thread::sleep(Duration::from_millis(2200));
        expect_value(
            ok(b.get(&e), "get"),
            None,
            "blocking entry with 1 s expiry after 2.2 s",
        );
    });
    // Wait without blocking this runtime's worker threads.
    let joined = tokio::task::spawn_blocking(move || worker.join()).await;
    match joined {
        Ok(Ok(())) => Outcome::Passed,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(e) => panic!("joining the blocking worker failed: {e}"),
    }
}

/// A blocking call made inside an async runtime returns an `Unsupported`
/// error rather than stalling the runtime or panicking.
pub async fn blocking_facade_inside_runtime_is_an_error(h: &dyn Harness) -> Outcome {
    let cache = fresh(h).await;
    let blocking = BlockingCache::with_handle(cache, Handle::current());
    fails_with(
        blocking.get(&key("inside")),
        ErrorKind::Unsupported,
        "blocking get inside the runtime",
    );
    Outcome::Passed
}
