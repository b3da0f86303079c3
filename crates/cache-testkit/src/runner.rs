//! Running one case: a runtime, a harness, and loud skips.

use std::future::Future;
use std::pin::Pin;

use crate::harness::Harness;

/// What a case concluded, when it did not panic (a failed assertion panics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every check of the rule held.
    Passed,
    /// The rule does not apply to this backend, and why.
    Skipped(String),
}

/// A case of the kit: an async check of one rule against a harness.
pub type CaseFn = for<'a> fn(&'a dyn Harness) -> Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// Set to `1` to make every skipped case fail instead, for CI jobs where a
/// backend is expected to support every rule.
pub const STRICT_ENV: &str = "CACHE_TESTKIT_STRICT";

/// Runs the case `name` against the harness `make` builds, on a fresh
/// multi-thread runtime. Panics (failing the test) when the rule is broken,
/// the name is unknown, or the case is skipped in strict mode.
///
/// This is what [`conformance_suite!`](crate::conformance_suite) calls; call
/// it directly to run a single case.
pub fn run_case<H, F, Fut>(name: &str, make: F)
where
    H: Harness,
    F: FnOnce() -> Fut,
    Fut: Future<Output = H>,
{
    let Some(case) = crate::case(name) else {
        panic!("cache-testkit: no case named {name:?}");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cache-testkit: cannot start a tokio runtime");
    let (outcome, every_rule) = runtime.block_on(async {
        let harness = make().await;
        (case(&harness).await, harness.requires_every_rule())
    });
    report(name, &outcome, every_rule);
}

/// Runs one case against an already built harness; returns its outcome, or
/// panics when the rule is broken. Used by the kit's own tests against
/// deliberately broken backends.
pub async fn run_case_with(name: &str, harness: &dyn Harness) -> Outcome {
    let Some(case) = crate::case(name) else {
        panic!("cache-testkit: no case named {name:?}");
    };
    case(harness).await
}

fn report(name: &str, outcome: &Outcome, every_rule: bool) {
    if let Outcome::Skipped(reason) = outcome {
        let strict = every_rule || std::env::var(STRICT_ENV).is_ok_and(|v| v == "1");
        // stderr is shown by `cargo test -- --nocapture` and by nextest's
        // `--no-capture`/failure output; the strict switch makes it a failure.
        eprintln!("cache-testkit: SKIPPED {name}: {reason}");
        if strict {
            panic!(
                "cache-testkit: {name} was skipped ({reason}), but this backend must pass \
                 every rule ({STRICT_ENV}=1 or Harness::requires_every_rule)"
            );
        }
    }
}
