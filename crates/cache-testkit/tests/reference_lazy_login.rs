//! A correct backend that connects lazily, with a login slower than the
//! timing cases' slack, passes them: each timeline starts after a warm-up
//! operation, so the login is never counted (without it every attempt falls
//! behind and the case fails as inconclusive).

mod reference;

use std::time::Duration;

use reference::RefHarness;

/// Over the kit's 500 ms slack, like a T-SQL login on a slow link.
const LOGIN: Duration = Duration::from_millis(900);

fn run(case: &str) {
    cache_testkit::run_case(case, || async { RefHarness::correct_lazy_login(LOGIN) });
}

macro_rules! timing_cases {
    ($($case:ident),* $(,)?) => {$(
        #[test]
        fn $case() {
            run(stringify!($case));
        }
    )*};
}

timing_cases!(
    rule_03_overwrite_replaces_expiry,
    rule_03_overwrite_adds_expiry,
    rule_07_absolute_expiration,
    rule_07_reads_never_extend_absolute,
    rule_08_sliding_expires_when_idle,
    rule_08_get_restarts_window,
    rule_08_refresh_restarts_window,
    rule_08_sliding_capped_by_absolute,
    rule_11_expired_is_invisible,
    time_sub_granularity_rounds_up,
);
