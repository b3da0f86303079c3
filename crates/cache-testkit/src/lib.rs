//! The conformance kit for [`DistributedCache`](cache_abstractions::DistributedCache)
//! backends: every rule of the cache contract as a named test.
//!
//! A backend's test file implements [`Harness`] (at least
//! [`Harness::cache`]) and calls [`conformance_suite!`] once:
//!
//! ```ignore
//! use cache_testkit::{async_trait, Harness};
//!
//! struct MyHarness;
//!
//! #[async_trait]
//! impl Harness for MyHarness {
//!     async fn cache(&self, namespace: &str) -> cache_abstractions::Result<std::sync::Arc<dyn cache_abstractions::DistributedCache>> {
//!         Ok(std::sync::Arc::new(MyCache::with_prefix(namespace)))
//!     }
//! }
//!
//! async fn harness() -> MyHarness { MyHarness }
//!
//! cache_testkit::conformance_suite!(harness);
//! ```
//!
//! Each case then shows up as its own test (`rule_08_get_restarts_window`,
//! …). A rule the backend cannot support (no outage fixture, no way to
//! write foreign data, values over its size limit) is skipped with a line on
//! stderr saying why; set `CACHE_TESTKIT_STRICT=1` to make skips fail.
//!
//! With the `redis-server` feature the kit also ships `redis_server`
//! fixtures: throwaway `redis-server` processes on free loopback ports.
//! With `telemetry`, `telemetry::Capture`: the events, spans and metrics a
//! backend emits, caught for its telemetry tests.

mod cases;
mod harness;
#[cfg(feature = "hybrid")]
pub mod hybrid;
pub mod proxy;
#[cfg(feature = "redis-server")]
pub mod redis_server;
mod runner;
pub mod soak;
mod support;
#[cfg(feature = "telemetry")]
pub mod telemetry;

pub use async_trait::async_trait;
/// The `cache-abstractions` the kit is built against: name the trait through
/// it (`cache_testkit::cache_abstractions::DistributedCache`) and a test can
/// never hold a second copy of it.
pub use cache_abstractions;
pub use harness::{Harness, Outage};
pub use runner::{run_case, run_case_with, CaseFn, Outcome, STRICT_ENV};

/// Declares the case list once: the registry ([`CASES`], [`case`]) and the
/// exported [`conformance_suite!`] macro are both generated from it, so they
/// can never disagree.
macro_rules! define_kit {
    ($d:tt; $($module:ident :: $name:ident),* $(,)?) => {
        /// The names of every case, in contract order.
        pub const CASES: &[&str] = &[$(stringify!($name)),*];

        /// The case called `name`, if there is one.
        pub fn case(name: &str) -> Option<CaseFn> {
            match name {
                $(stringify!($name) => Some(|h| Box::pin(cases::$module::$name(h))),)*
                _ => None,
            }
        }

        /// Declares one `#[test]` per case of the kit, each running against
        /// the harness that `$make` (an `async fn() -> impl Harness`, or a
        /// closure returning such a future) builds.
        ///
        /// ```ignore
        /// cache_testkit::conformance_suite!(my_harness);
        /// ```
        #[macro_export]
        macro_rules! conformance_suite {
            ($d make:expr) => {
                $(
                    #[test]
                    fn $name() {
                        $d crate::run_case(stringify!($name), $d make);
                    }
                )*
            };
        }
    };
}

define_kit!($;
    basic::rule_01_round_trip_small_values,
    basic::rule_01_round_trip_all_byte_values,
    basic::rule_01_round_trip_1mib,
    basic::rule_01_round_trip_16mib,
    basic::rule_02_miss_returns_none,
    expiry::rule_03_overwrite_replaces_expiry,
    expiry::rule_03_overwrite_adds_expiry,
    basic::rule_04_missing_key_remove_and_refresh,
    basic::rule_04_remove_deletes_only_its_key,
    basic::rule_05_distinct_keys_never_collide,
    basic::rule_05_empty_key_rejected,
    basic::rule_05_key_length_limit,
    basic::rule_06_invalid_options_rejected,
    expiry::rule_07_absolute_expiration,
    expiry::rule_07_reads_never_extend_absolute,
    expiry::rule_08_sliding_expires_when_idle,
    expiry::rule_08_get_restarts_window,
    expiry::rule_08_refresh_restarts_window,
    expiry::rule_08_sliding_capped_by_absolute,
    expiry::rule_09_no_options_uses_default,
    faults::rule_10_set_is_atomic,
    expiry::rule_11_expired_is_invisible,
    faults::rule_12_concurrent_access_never_tears,
    faults::rule_13_namespaces_are_isolated,
    faults::rule_14_foreign_data_is_corrupt_or_miss,
    faults::rule_15_backend_down_fails_fast_and_recovers,
    faults::rule_16_cancellation_leaves_old_or_new,
    expiry::time_sub_granularity_rounds_up,
    now::get_now_agrees_with_get,
    blocking::blocking_facade_from_plain_thread,
    blocking::blocking_facade_inside_runtime_is_an_error,
);
