//! The kit bites: every deliberately broken reference backend fails the case
//! written for its rule, for the reason that case checks.
//!
//! All variants run at once, each in its own task on one runtime, the first
//! time any test here asks for the results; every `catches_*` test then
//! reads its variant's verdict. The timing cases sleep a few seconds, so
//! this keeps the whole file to about the longest case, whatever the number
//! of test threads. `BITES_VERBOSE=1` prints each variant's failure message.

mod reference;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cache_testkit::Outcome;
use reference::{Fault, RefHarness};

/// A broken variant, the rule it breaks, the case that must catch it, and
/// a phrase the case's failure message must contain (so it is caught for
/// the right reason, not by accident).
#[derive(Debug)]
struct Bite {
    fault: Fault,
    rule: &'static str,
    case: &'static str,
    because: &'static str,
}

/// What running a variant's case concluded.
#[derive(Debug, Clone)]
enum Verdict {
    /// The case failed, with this message.
    Caught(String),
    /// The case did not fail.
    Missed(Outcome),
    /// The case ran for over [`CASE_LIMIT`] (the kit should fail, not hang).
    Hung,
}

/// Longer than any case takes against a broken backend.
const CASE_LIMIT: Duration = Duration::from_secs(60);

macro_rules! bites {
    ($($test:ident: $fault:ident => $rule:literal, $case:ident, $because:literal;)*) => {
        const BITES: &[Bite] = &[$(
            Bite {
                fault: Fault::$fault,
                rule: $rule,
                case: stringify!($case),
                because: $because,
            },
        )*];

        $(
            #[test]
            fn $test() {
                expect_caught(Fault::$fault);
            }
        )*

        /// Fails to compile when a fault has no bite.
        #[allow(dead_code)]
        fn every_fault_has_a_bite(fault: Fault) {
            match fault {
                $(Fault::$fault)|* => {}
            }
        }
    };
}

bites! {
    catches_truncated_large_values: TruncatesLargeValues => "1", rule_01_round_trip_16mib, "round trip of 16 MiB";
    catches_values_cut_at_zero_byte: StopsAtZeroByte => "1", rule_01_round_trip_small_values, "round trip of one zero byte";
    catches_lossy_utf8_values: LossyUtf8Values => "1", rule_01_round_trip_small_values, "round trip of invalid utf-8";
    catches_dropped_empty_values: DropsEmptyValues => "1", rule_01_round_trip_small_values, "round trip of empty";
    catches_miss_as_error: MissIsError => "2", rule_02_miss_returns_none, "get of a missing key: unexpected error";
    catches_old_expiry_kept_on_overwrite: KeepsOldExpiryOnOverwrite => "3", rule_03_overwrite_replaces_expiry, "then with none, after 2.5 s: expected";
    catches_remove_of_missing_key_erroring: RemoveMissingErrors => "4", rule_04_missing_key_remove_and_refresh, "remove of a missing key: unexpected error";
    catches_refresh_creating_entries: RefreshMissingCreates => "4", rule_04_missing_key_remove_and_refresh, "get after refresh/remove of a missing key";
    catches_remove_clearing_everything: RemoveClearsEverything => "4", rule_04_remove_deletes_only_its_key, "other key: expected";
    catches_accepted_empty_key: AcceptsEmptyKey => "5", rule_05_empty_key_rejected, "expected an error of kind InvalidKey";
    catches_empty_key_checked_on_set_only: EmptyKeyCheckedOnSetOnly => "5", rule_05_empty_key_rejected, "get(\"\")";
    catches_case_insensitive_keys: CaseInsensitiveKeys => "5", rule_05_distinct_keys_never_collide, "collides with a similar key";
    catches_trimmed_keys: TrimsKeys => "5", rule_05_distinct_keys_never_collide, "collides with a similar key";
    catches_collation_equal_keys: CollationEqualKeys => "5", rule_05_distinct_keys_never_collide, "collides with a similar key";
    catches_long_keys_truncated_silently: TruncatesLongKeysSilently => "5", rule_05_distinct_keys_never_collide, "collides with a similar key";
    catches_keys_truncated_at_declared_limit: TruncatesKeysAtDeclaredLimit => "5", rule_05_key_length_limit, "one unit over the declared";
    catches_key_limit_in_wrong_unit: MeasuresKeysInWrongUnit => "5", rule_05_key_length_limit, "exactly at the declared";
    catches_key_limit_counting_chars: CountsKeyCharsNotBytes => "5", rule_05_key_length_limit, "one unit over the declared";
    catches_accepted_invalid_options: AcceptsInvalidOptions => "6", rule_06_invalid_options_rejected, "accepted invalid options";
    catches_invalid_options_without_field: InvalidOptionsWithoutField => "6", rule_06_invalid_options_rejected, "names the wrong field";
    catches_options_validated_after_write: ValidatesOptionsAfterWrite => "6", rule_06_invalid_options_rejected, "entry after a rejected";
    catches_overflow_on_huge_durations: OverflowsOnHugeDurations => "6", rule_06_invalid_options_rejected, "overflow";
    catches_ignored_absolute_expiry: IgnoresAbsoluteExpiry => "7", rule_07_absolute_expiration, "2.2 s after set: expected a miss";
    catches_later_absolute_winning: LaterAbsoluteWins => "7", rule_07_absolute_expiration, "2.2 s after set: expected a miss";
    catches_relative_expiry_acting_as_sliding: RelativeExpiryActsAsSliding => "7", rule_07_reads_never_extend_absolute, "accesses extended it";
    catches_ignored_sliding_expiry: IgnoresSlidingExpiry => "8", rule_08_sliding_expires_when_idle, "idle for 3.2 s: expected a miss";
    catches_get_not_restarting_window: GetDoesNotSlide => "8", rule_08_get_restarts_window, "read every second";
    catches_refresh_not_restarting_window: RefreshDoesNotSlide => "8", rule_08_refresh_restarts_window, "refreshed 1 s and 2 s after set";
    catches_get_making_entries_immortal: GetMakesImmortal => "8", rule_08_get_restarts_window, "3 s idle";
    catches_inspect_restarting_window: InspectSlides => "8", rule_08_get_restarts_window, "inspect restarted the window";
    catches_uncapped_sliding_window: SlidingNotCapped => "8", rule_08_sliding_capped_by_absolute, "3 s after set";
    catches_window_uncapped_on_set: SlidingUncappedOnSet => "8", rule_08_sliding_capped_by_absolute, "(unread): expected a miss";
    catches_hidden_default_expiry: HiddenDefaultExpiry => "9", rule_09_no_options_uses_default, "default options not applied";
    catches_ignored_declared_default: IgnoresDeclaredDefault => "9", rule_09_no_options_uses_default, "default options not applied";
    catches_non_atomic_set: NonAtomicSet => "10", rule_10_set_is_atomic, "value stored without its expiry";
    catches_expired_entries_returned: ReturnsExpiredEntries => "11", rule_11_expired_is_invisible, "expected a miss";
    catches_sliding_before_expiry_check: SlidesBeforeExpiryCheck => "11", rule_11_expired_is_invisible, "sliding 1 s entry after 2.2 s read first";
    catches_refresh_reviving_expired: RefreshRevivesExpired => "11", rule_11_expired_is_invisible, "sliding 1 s entry after 2.2 s and a refresh";
    catches_torn_values_under_concurrency: TearsUnderConcurrency => "12", rule_12_concurrent_access_never_tears, "torn or mixed";
    catches_responses_mixed_up: MixesUpResponses => "12", rule_12_concurrent_access_never_tears, "read from slot";
    catches_shared_namespaces: SharedNamespaces => "13", rule_13_namespaces_are_isolated, "B reading a key only A set";
    catches_panic_on_corrupt_entry: PanicsOnCorruptEntry => "14", rule_14_foreign_data_is_corrupt_or_miss, "reference backend";
    catches_foreign_bytes_returned: ReturnsForeignBytes => "14", rule_14_foreign_data_is_corrupt_or_miss, "returned a value";
    catches_hang_while_down: HangsWhileDown => "15", rule_15_backend_down_fails_fast_and_recovers, "it hangs";
    catches_wrong_error_kind_while_down: WrongErrorKindWhileDown => "15", rule_15_backend_down_fails_fast_and_recovers, "expected Connection or Timeout";
    catches_no_recovery: NeverRecovers => "15", rule_15_backend_down_fails_fast_and_recovers, "did not recover";
    catches_io_before_validation: IoBeforeValidation => "15", rule_15_backend_down_fails_fast_and_recovers, "I/O before validation";
    catches_mix_left_by_cancelled_set: CancelledSetLeavesMix => "16", rule_16_cancellation_leaves_old_or_new, "neither the old nor the new";
    catches_cache_wedged_by_cancelled_set: CancelledSetWedges => "16", rule_16_cancellation_leaves_old_or_new, "unexpected error";
    catches_sub_second_truncated_to_zero: TruncatesSubSecond => "Time", time_sub_granularity_rounds_up, "rounded down to zero";
    catches_get_now_ignoring_expiry: GetNowIgnoresExpiry => "get_now", get_now_agrees_with_get, "get_now of a 1 s absolute entry 2 s after set";
    catches_get_now_not_restarting_window: GetNowDoesNotSlide => "get_now", get_now_agrees_with_get, "read with get_now every second";
}

/// Every variant's verdict, computed once for the whole file.
fn verdicts() -> &'static HashMap<Fault, Verdict> {
    static VERDICTS: OnceLock<HashMap<Fault, Verdict>> = OnceLock::new();
    VERDICTS.get_or_init(run_all)
}

/// The message a panic carried.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(s) => (*s).to_owned(),
            Err(_) => "(a panic without a message)".to_owned(),
        },
    }
}

/// Runs every variant's case concurrently, each in its own task.
fn run_all() -> HashMap<Fault, Verdict> {
    // The kit fails by panicking; those panics are the expected outcome
    // here, so keep them off stderr (their messages are in the verdicts).
    let default_hook = Arc::new(std::panic::take_hook());
    std::panic::set_hook(Box::new(move |info| {
        let quiet = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("bites"));
        if !quiet {
            default_hook(info);
        }
    }));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_name("bites-worker")
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let verdicts = runtime.block_on(async {
        let runs = BITES.iter().map(|bite| async move {
            let harness = RefHarness::broken(bite.fault);
            let task =
                tokio::spawn(
                    async move { cache_testkit::run_case_with(bite.case, &harness).await },
                );
            let abort = task.abort_handle();
            let verdict = match tokio::time::timeout(CASE_LIMIT, task).await {
                Err(_) => {
                    abort.abort();
                    Verdict::Hung
                }
                Ok(Ok(outcome)) => Verdict::Missed(outcome),
                Ok(Err(e)) if e.is_panic() => Verdict::Caught(panic_message(e.into_panic())),
                Ok(Err(e)) => Verdict::Caught(format!("(task ended: {e})")),
            };
            (bite.fault, verdict)
        });
        futures::future::join_all(runs).await
    });
    if verbose() {
        eprintln!(
            "bites: {} variants in {:.1} s",
            BITES.len(),
            started.elapsed().as_secs_f64()
        );
        for (fault, verdict) in &verdicts {
            eprintln!("bites: {fault:?}: {verdict:?}");
        }
    }
    verdicts.into_iter().collect()
}

fn verbose() -> bool {
    std::env::var("BITES_VERBOSE").is_ok_and(|v| v == "1")
}

fn bite(fault: Fault) -> &'static Bite {
    BITES
        .iter()
        .find(|b| b.fault == fault)
        .expect("every fault has a bite")
}

/// Why `bite`'s verdict is not "caught for the right reason", if it is not.
fn miss(bite: &Bite, verdict: &Verdict) -> Option<String> {
    let Bite {
        fault,
        rule,
        case,
        because,
    } = bite;
    match verdict {
        Verdict::Caught(msg) if msg.contains(because) => None,
        Verdict::Caught(msg) => Some(format!(
            "{fault:?} (rule {rule}): {case} failed, but not for the reason it targets \
             (expected a message containing {because:?}): {msg}"
        )),
        Verdict::Missed(outcome) => Some(format!(
            "{fault:?} (rule {rule}): {case} did not catch it ({outcome:?})"
        )),
        Verdict::Hung => Some(format!(
            "{fault:?} (rule {rule}): {case} ran for over {CASE_LIMIT:?} instead of failing"
        )),
    }
}

fn expect_caught(fault: Fault) {
    let bite = bite(fault);
    if let Some(why) = miss(bite, &verdicts()[&fault]) {
        panic!("{why}");
    }
}

/// All misses at once, so one run shows every gap in the kit.
#[test]
fn every_broken_variant_is_caught() {
    let misses: Vec<String> = BITES
        .iter()
        .filter_map(|b| miss(b, &verdicts()[&b.fault]))
        .collect();
    assert!(
        misses.is_empty(),
        "{} of {} broken variants got past the kit:\n{}",
        misses.len(),
        BITES.len(),
        misses.join("\n")
    );
}

/// Every bite names a case the kit has.
#[test]
fn every_bite_names_a_case() {
    for b in BITES {
        assert!(
            cache_testkit::case(b.case).is_some(),
            "{:?} names no case: {}",
            b.fault,
            b.case
        );
    }
}

/// The README's claim, "It bites: N deliberately broken backends, N
/// caught", and its table agree with this file: at least N variants, at
/// least N caught, and each variant listed with its case.
#[test]
fn readme_bite_count_holds() {
    let readme = include_str!("../README.md");
    let claim = readme
        .lines()
        .find_map(|l| l.split("It bites: ").nth(1))
        .expect("README says \"It bites: N deliberately broken backends, N caught\"");
    let numbers: Vec<usize> = claim
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("a number"))
        .collect();
    let [documented, documented_caught] = numbers[..] else {
        panic!("cannot read two numbers from {claim:?}");
    };
    assert_eq!(
        BITES.len(),
        documented,
        "README documents {documented} broken variants; this file has {}",
        BITES.len()
    );
    let caught = BITES
        .iter()
        .filter(|b| miss(b, &verdicts()[&b.fault]).is_none())
        .count();
    assert!(
        caught >= documented_caught,
        "README says {documented_caught} caught; only {caught} are"
    );
    for b in BITES {
        let row = format!("`{:?}`", b.fault);
        let line = readme
            .lines()
            .find(|l| l.contains(&row))
            .unwrap_or_else(|| panic!("README's table has no row for {row}"));
        assert!(
            line.contains(b.case),
            "README's row for {row} does not name its case {}: {line}",
            b.case
        );
    }
}

/// Not a check, a map: every variant against every case (but the 16 MiB
/// one), printing which cases fail each. Slow (~30 s);
/// `cargo test -p cache-testkit --test bites -- --ignored --nocapture fault_matrix`.
#[test]
#[ignore = "a diagnostic map, not a check; run by hand"]
fn fault_matrix() {
    let _ = verdicts(); // installs the quiet panic hook
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_name("bites-matrix")
        .enable_all()
        .build()
        .expect("tokio runtime");
    let cases: Vec<&'static str> = cache_testkit::CASES
        .iter()
        .copied()
        .filter(|c| *c != "rule_01_round_trip_16mib")
        .collect();
    for chunk in BITES.chunks(10) {
        let rows = runtime.block_on(futures::future::join_all(chunk.iter().map(|bite| {
            let cases = cases.clone();
            async move {
                let runs = cases.into_iter().map(|case| async move {
                    let harness = RefHarness::broken(bite.fault);
                    let task =
                        tokio::spawn(
                            async move { cache_testkit::run_case_with(case, &harness).await },
                        );
                    match tokio::time::timeout(CASE_LIMIT, task).await {
                        Ok(Ok(_)) => None,
                        Ok(Err(e)) if e.is_panic() => {
                            let msg = panic_message(e.into_panic());
                            Some(format!(
                                "{case} ({})",
                                msg.chars().take(100).collect::<String>()
                            ))
                        }
                        _ => Some(format!("{case} (hung)")),
                    }
                });
                let failed: Vec<String> = futures::future::join_all(runs)
                    .await
                    .into_iter()
                    .flatten()
                    .collect();
                (bite.fault, failed)
            }
        })));
        for (fault, failed) in rows {
            eprintln!(
                "matrix: {fault:?}: {} case(s): {}",
                failed.len(),
                failed.join(", ")
            );
        }
    }
}
