//! The control: the whole kit against the correct reference backend. Every
//! case must pass and none may be skipped (the reference provides foreign
//! data and an outage fixture), so a failure here is a bug in the kit or in
//! the reference, never in a backend.

mod reference;

use reference::RefHarness;

async fn harness() -> RefHarness {
    RefHarness::correct()
}

// The correct reference says `requires_every_rule`, so a skipped case fails
// here: "every case passes, none skipped" is checked, not assumed.
cache_testkit::conformance_suite!(harness);
