//! Per-caller-ID caps (SPEC §2 `[rotation]`, §4 "caps are hard"): a daily cap per UTC day and a
//! cooldown between two calls of a number are never exceeded, whatever the order of requests;
//! refusals always have a reason; `next_allowed` is the first allowed instant; days roll over at
//! UTC midnight. Every instant is fixed: no real clock.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::LazyLock;
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use outdial::caps::Caps;
use outdial::phone::{Country, Phone};
use proptest::prelude::*;

// ---- helpers --------------------------------------------------------------------------------

/// The pool, parsed once: the properties ask about numbers hundreds of thousands of times.
static NUMBERS: LazyLock<Vec<Phone>> = LazyLock::new(|| {
    (0..3)
        .map(|i| Phone::parse(&format!("+1 415 234 56{i:02}"), Country::default()).unwrap())
        .collect()
});

fn number(index: usize) -> &'static Phone {
    &NUMBERS[index]
}

fn utc(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn day(at: Timestamp) -> Date {
    at.to_zoned(TimeZone::UTC).date()
}

fn secs(n: i64) -> SignedDuration {
    SignedDuration::from_secs(n)
}

fn caps(max_per_day: u32, gap_secs: u64) -> Caps {
    Caps::new(NonZeroU32::new(max_per_day), Duration::from_secs(gap_secs))
}

/// Two hours before a UTC midnight, so that sequences cross day boundaries.
const BASE: &str = "2025-06-10T22:00:00Z";

// ---- fixed cases ----------------------------------------------------------------------------

/// A full day opens again exactly at the next UTC midnight, where the count starts from zero.
#[test]
fn a_full_day_rolls_over_at_utc_midnight() {
    let mut caps = caps(2, 0);
    let caller = number(1);
    caps.record(caller, utc("2025-06-10T23:58:00Z"));
    caps.record(caller, utc("2025-06-10T23:59:00Z"));
    assert!(!caps.allows(caller, utc("2025-06-10T23:59:59Z")));
    let midnight = utc("2025-06-11T00:00:00Z");
    assert_eq!(
        caps.next_allowed(caller, utc("2025-06-10T23:59:30Z")),
        midnight
    );
    assert!(caps.allows(caller, midnight));
    assert_eq!(caps.used_on(caller, utc("2025-06-10T12:00:00Z")), 2);
    assert_eq!(caps.used_on(caller, midnight), 0);
    caps.record(caller, midnight);
    assert_eq!(caps.used_on(caller, midnight), 1);
}

/// The cooldown is measured from the latest call, to the nanosecond, and holds across midnight.
#[test]
fn the_cooldown_runs_from_the_latest_call() {
    let mut caps = caps(100, 60);
    let caller = number(1);
    caps.record(caller, utc("2025-06-10T23:59:30Z"));
    let after = utc("2025-06-11T00:00:30Z");
    assert!(!caps.allows(caller, after - SignedDuration::from_nanos(1)));
    assert!(caps.allows(caller, after));
    assert_eq!(
        caps.next_allowed(caller, utc("2025-06-10T23:59:31Z")),
        after
    );
}

/// Numbers are counted separately: one at its cap does not hold another back.
#[test]
fn each_number_has_its_own_caps() {
    let mut caps = caps(1, 3600);
    caps.record(number(1), utc(BASE));
    assert!(!caps.allows(number(1), utc(BASE) + secs(1)));
    assert!(caps.allows(number(2), utc(BASE) + secs(1)));
}

/// Without a daily cap or cooldown every instant from the latest call on is allowed.
#[test]
fn no_cap_and_no_gap_allow_back_to_back_calls() {
    let mut caps = Caps::new(None, Duration::ZERO);
    let caller = number(1);
    for _ in 0..1000 {
        caps.record(caller, utc(BASE));
    }
    assert!(caps.allows(caller, utc(BASE)));
    assert_eq!(caps.used_on(caller, utc(BASE)), 1000);
}

/// Journal entries come back in phone order, not time order: the count and cooldown still see
/// every call of the latest day, and calls of an earlier day do not count against it.
#[test]
fn records_in_any_order_count_the_latest_day() {
    let mut caps = caps(3, 600);
    let caller = number(1);
    caps.record(caller, utc("2025-06-11T09:00:00Z"));
    caps.record(caller, utc("2025-06-10T09:00:00Z"));
    caps.record(caller, utc("2025-06-11T08:00:00Z"));
    assert_eq!(caps.used_on(caller, utc("2025-06-11T12:00:00Z")), 2);
    assert_eq!(
        caps.next_allowed(caller, utc("2025-06-11T08:30:00Z")),
        utc("2025-06-11T09:10:00Z")
    );
}

/// Only the latest call is kept, so an instant before it cannot be vouched for and is refused.
#[test]
fn an_instant_before_the_latest_call_is_refused() {
    let mut caps = Caps::new(None, Duration::ZERO);
    let caller = number(1);
    caps.record(caller, utc(BASE));
    assert!(!caps.allows(caller, utc(BASE) - secs(1)));
    assert_eq!(caps.next_allowed(caller, utc(BASE) - secs(1)), utc(BASE));
}

/// An absurd cooldown from a config file saturates instead of panicking: the number is used once.
#[test]
fn a_huge_cooldown_does_not_panic() {
    let mut caps = Caps::new(None, Duration::MAX);
    let caller = number(1);
    caps.record(caller, utc(BASE));
    assert!(!caps.allows(caller, Timestamp::MAX - secs(1)));
    assert_eq!(caps.next_allowed(caller, utc(BASE)), Timestamp::MAX);
}

// ---- properties -----------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Limits {
    max_per_day: Option<u32>,
    gap: i64,
}

impl Limits {
    fn caps(&self) -> Caps {
        let max = self.max_per_day.and_then(NonZeroU32::new);
        Caps::new(max, Duration::from_secs(self.gap.unsigned_abs()))
    }
}

fn limits() -> impl Strategy<Value = Limits> {
    let max = prop_oneof![1 => Just(None), 4 => (1..6u32).prop_map(Some)];
    let gap = prop_oneof![Just(0i64), 1..900i64, 3000..90_000i64];
    (max, gap).prop_map(|(max_per_day, gap)| Limits { max_per_day, gap })
}

/// Requests over three numbers and about two days from [`BASE`], either moving forward in steps
/// (a running dialer) or in any order (a journal read back).
fn requests() -> impl Strategy<Value = Vec<(usize, Timestamp)>> {
    let forward = proptest::collection::vec((0..3usize, 0..1200i64), 1..150).prop_map(|steps| {
        let mut t = utc(BASE);
        steps
            .into_iter()
            .map(|(n, step)| {
                t += secs(step);
                (n, t)
            })
            .collect()
    });
    let any_order =
        proptest::collection::vec((0..3usize, 0..2 * 86_400i64), 1..150).prop_map(|calls| {
            calls
                .into_iter()
                .map(|(n, s)| (n, utc(BASE) + secs(s)))
                .collect()
        });
    prop_oneof![forward, any_order]
}

/// Calls of one number on one UTC day, and all its calls.
#[derive(Default)]
struct Ledger {
    calls: HashMap<usize, Vec<Timestamp>>,
}

impl Ledger {
    fn add(&mut self, n: usize, at: Timestamp) {
        self.calls.entry(n).or_default().push(at);
    }

    fn on_day(&self, n: usize, at: Timestamp) -> u32 {
        let calls = self.calls.get(&n).map_or(&[][..], Vec::as_slice);
        calls.iter().filter(|&&c| day(c) == day(at)).count() as u32
    }

    fn latest(&self, n: usize) -> Option<Timestamp> {
        self.calls.get(&n).and_then(|c| c.iter().max().copied())
    }

    /// Why a call from `n` at `at` must be refused, if it must.
    fn must_refuse(&self, limits: &Limits, n: usize, at: Timestamp) -> bool {
        let too_soon = self.latest(n).is_some_and(|l| at < l + secs(limits.gap));
        let day_full = limits.max_per_day.is_some_and(|m| self.on_day(n, at) >= m);
        too_soon || day_full
    }
}

proptest! {
    /// A caller that records a call only when `allows` says yes never exceeds the daily cap in a
    /// UTC day nor calls a number twice within the cooldown; every refusal has one of those
    /// reasons (so the property cannot hold by refusing everything); `used_on` counts truly.
    #[test]
    fn allowed_calls_never_exceed_a_cap(limits in limits(), requests in requests()) {
        let mut caps = limits.caps();
        let mut ledger = Ledger::default();
        for &(n, at) in &requests {
            let allowed = caps.allows(number(n), at);
            prop_assert_eq!(allowed, !ledger.must_refuse(&limits, n, at), "{} at {}", n, at);
            if allowed {
                caps.record(number(n), at);
                ledger.add(n, at);
            }
            // Days before a number's latest call are forgotten by design: they read 0.
            let forgotten = ledger.latest(n).is_some_and(|l| day(at) < day(l));
            let used = if forgotten { 0 } else { ledger.on_day(n, at) };
            prop_assert_eq!(caps.used_on(number(n), at), used);
        }
        for calls in ledger.calls.values_mut() {
            calls.sort();
            for pair in calls.windows(2) {
                prop_assert!(pair[1].duration_since(pair[0]) >= secs(limits.gap), "{:?}", pair);
            }
            if let Some(max) = limits.max_per_day {
                for &call in calls.iter() {
                    prop_assert!(calls.iter().filter(|&&c| day(c) == day(call)).count() as u32 <= max);
                }
            }
        }
    }

    /// After a journal of any calls in any order (even ones breaking today's caps), a new call is
    /// allowed exactly when it is after the latest call by the cooldown and its UTC day has room.
    #[test]
    fn resumed_caps_respect_every_earlier_call(
        limits in limits(),
        history in requests(),
        (n, later) in (0..3usize, 0..3 * 86_400i64),
    ) {
        let mut caps = limits.caps();
        let mut ledger = Ledger::default();
        for &(m, at) in &history {
            caps.record(number(m), at);
            ledger.add(m, at);
        }
        let at = utc(BASE) + secs(later);
        prop_assert_eq!(caps.allows(number(n), at), !ledger.must_refuse(&limits, n, at));
    }

    /// `next_allowed` is allowed, not before the instant asked about, and no whole second
    /// before it is (every second near both ends, a sample of the seconds between).
    #[test]
    fn next_allowed_is_the_first_allowed_instant(
        limits in limits(),
        history in requests(),
        (n, later) in (0..3usize, 0..3 * 86_400i64),
        samples in proptest::collection::vec(any::<proptest::sample::Index>(), 200),
    ) {
        let mut caps = limits.caps();
        for &(m, at) in &history {
            if caps.allows(number(m), at) {
                caps.record(number(m), at);
            }
        }
        let at = utc(BASE) + secs(later);
        let next = caps.next_allowed(number(n), at);
        prop_assert!(next >= at);
        prop_assert!(caps.allows(number(n), next));
        let span = next.duration_since(at).as_secs();
        let near_ends = (0..span.min(1800)).chain((span - 1800).max(0)..span);
        let between = samples.iter().map(|i| i.index(span.max(1) as usize) as i64).filter(|&s| s < span);
        for s in near_ends.chain(between) {
            prop_assert!(!caps.allows(number(n), at + secs(s)), "{} allowed before {}", at + secs(s), next);
        }
    }
}
