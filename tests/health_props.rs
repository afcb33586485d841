//! Property tests for number health (src/health.rs): the share at rest is never exceeded, no
//! number is judged before `min_calls`, decisions follow from the history alone, and a clearly
//! bad number among good ones rests and comes back by itself after `rest_days`.
//!
//! 256 cases per property by default; `PROPTEST_CASES=20000` searches harder.

use std::num::NonZeroU32;
use std::sync::OnceLock;

use jiff::{SignedDuration, Timestamp};
use outdial::api::CallState;
use outdial::campaign::Health as Policy;
use outdial::health::{Health, Rest, Standing};
use outdial::history::Attempt;
use outdial::phone::{Country, Phone};
use outdial::rotation::Match;
use proptest::prelude::*;

/// What one call reached, as health tells them apart.
#[derive(Debug, Clone, Copy)]
enum Ended {
    Unanswered,
    Talked,
    Short,
}

fn start() -> Timestamp {
    "2026-12-01T12:00:00Z".parse().expect("valid")
}

/// The `i`th number of a pool (up to 16), parsed once: parsing is slow next to judging.
fn caller(i: usize) -> Phone {
    static POOL: OnceLock<Vec<Phone>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        (0..16)
            .map(|i| Phone::parse(&format!("+1206555{i:04}"), Country::default()).expect("valid"))
            .collect()
    });
    pool[i].clone()
}

fn state(ended: Ended) -> CallState {
    let (status, reason, disconnect, seconds) = match ended {
        Ended::Unanswered => ("no-answer", "timeout", None, 0),
        Ended::Talked => ("completed", "human_ended_call", Some("callee_hangup"), 60),
        Ended::Short => ("completed", "human_ended_call", Some("callee_hangup"), 3),
    };
    CallState {
        status: status.into(),
        end_call_reason: Some(reason.into()),
        duration: Some(seconds),
        ringing_ms: None,
        disconnect_reason: disconnect.map(Into::into),
    }
}

/// `calls` from `number`, a minute apart from `from`, newest first as the journal gives them.
fn history(number: &Phone, calls: &[Ended], from: Timestamp) -> Vec<Attempt> {
    let mut attempts: Vec<Attempt> = calls
        .iter()
        .enumerate()
        .map(|(i, ended)| Attempt {
            callee: caller(15),
            number: 1,
            caller_id: number.clone(),
            tier: Match::Other,
            sent_at: from + SignedDuration::from_mins(i as i64),
            local: None,
            end: Some(state(*ended)),
        })
        .collect();
    attempts.reverse();
    attempts
}

fn policy(min_calls: u32, share: f64) -> Policy {
    Policy {
        window_calls: NonZeroU32::new(min_calls * 3).expect("positive"),
        min_calls: NonZeroU32::new(min_calls).expect("positive"),
        rest_days: NonZeroU32::new(14).expect("positive"),
        max_resting_share: share,
        ..Policy::default()
    }
}

fn ended() -> impl Strategy<Value = Ended> {
    prop_oneof![
        Just(Ended::Unanswered),
        Just(Ended::Talked),
        Just(Ended::Short)
    ]
}

/// A pool of 2–12 numbers, each with 0–60 calls whose mix is drawn per number (so some numbers
/// are much worse than others).
fn pool_histories() -> impl Strategy<Value = Vec<Vec<Ended>>> {
    let number = (0u32..=100, 0usize..=60).prop_flat_map(|(bad_percent, n)| {
        proptest::collection::vec(
            prop_oneof![
                (100 - bad_percent) => prop_oneof![Just(Ended::Talked), ended()],
                bad_percent => Just(Ended::Unanswered),
            ],
            n,
        )
    });
    proptest::collection::vec(number, 2..=12)
}

fn health_of(policy: Policy, histories: &[Vec<Ended>], order: &[usize]) -> Health {
    let pool: Vec<Phone> = order.iter().map(|&i| caller(i)).collect();
    let mut health = Health::new(policy, &pool);
    for &i in order {
        health.observe(&caller(i), &history(&caller(i), &histories[i], start()));
    }
    health
}

fn resting_count(health: &Health, pool: usize, at: Timestamp) -> usize {
    (0..pool)
        .filter(|&i| health.resting(&caller(i), at).is_some())
        .count()
}

proptest! {
    /// However the pool's histories look, and as the days go by with rests ending and new ones
    /// decided, never more than `floor(max_resting_share × pool size)` numbers rest at once.
    #[test]
    fn never_more_than_the_share_rests(
        histories in pool_histories(),
        share in 0.0f64..=1.0,
        min_calls in 5u32..=20,
        days in proptest::collection::vec(0i64..=20, 1..6),
    ) {
        let pool = histories.len();
        let order: Vec<usize> = (0..pool).collect();
        let mut health = health_of(policy(min_calls, share), &histories, &order);
        let allowed = (share * pool as f64).floor() as usize;
        let mut at = start() + SignedDuration::from_hours(2);
        for day in days {
            at += SignedDuration::from_hours(24 * day);
            health.judge(at);
            let resting = resting_count(&health, pool, at);
            prop_assert!(resting <= allowed, "{resting} rest, share allows {allowed}");
        }
    }

    /// A number with fewer than `min_calls` ended calls in its window is never rested, and
    /// every rest was decided from at least `min_calls` calls of the number and of the pool.
    #[test]
    fn no_number_is_judged_before_min_calls(
        histories in pool_histories(),
        min_calls in 5u32..=40,
    ) {
        let order: Vec<usize> = (0..histories.len()).collect();
        let mut health = health_of(policy(min_calls, 1.0), &histories, &order);
        let at = start() + SignedDuration::from_hours(2);
        for rest in health.judge(at) {
            prop_assert!(rest.figures.attempts >= min_calls, "{rest:?}");
            prop_assert!(rest.pool.attempts >= min_calls, "{rest:?}");
            let index = (0..histories.len()).find(|&i| caller(i) == rest.number).unwrap();
            prop_assert!(histories[index].len() >= min_calls as usize);
        }
        for (i, calls) in histories.iter().enumerate() {
            if calls.len() < min_calls as usize {
                prop_assert!(health.resting(&caller(i), at).is_none());
                prop_assert_eq!(health.standing(&caller(i), at), Standing::Unjudged);
            }
        }
    }

    /// The same history gives the same decisions, whatever order the pool is listed in and the
    /// numbers' calls are seen in: decisions follow from the history alone.
    #[test]
    fn decisions_follow_from_the_history_alone(
        histories in pool_histories(),
        share in 0.0f64..=1.0,
        min_calls in 5u32..=20,
        seed in any::<u64>(),
    ) {
        let order: Vec<usize> = (0..histories.len()).collect();
        let mut shuffled = order.clone();
        // A seeded Fisher–Yates: the second Health sees the pool in another order.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let at = start() + SignedDuration::from_hours(2);
        let first: Vec<Rest> = health_of(policy(min_calls, share), &histories, &order).judge(at);
        let second: Vec<Rest> = health_of(policy(min_calls, share), &histories, &shuffled).judge(at);
        prop_assert_eq!(first, second);
    }

    /// The window a run keeps call by call, as calls end in any order, is the window read back
    /// from the journal: both judge the same, and give the same figures.
    #[test]
    fn the_window_kept_call_by_call_is_the_one_read_back(
        histories in pool_histories(),
        min_calls in 5u32..=20,
        seed in any::<u64>(),
    ) {
        let order: Vec<usize> = (0..histories.len()).collect();
        let read_back = health_of(policy(min_calls, 0.5), &histories, &order);
        let pool: Vec<Phone> = order.iter().map(|&i| caller(i)).collect();
        let mut kept = Health::new(policy(min_calls, 0.5), &pool);
        let mut ends: Vec<Attempt> = order
            .iter()
            .flat_map(|&i| history(&caller(i), &histories[i], start()))
            .collect();
        let mut state = seed | 1;
        for i in (1..ends.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ends.swap(i, (state % (i as u64 + 1)) as usize);
        }
        for attempt in &ends {
            kept.ended(attempt);
        }
        let at = start() + SignedDuration::from_hours(2);
        for number in &pool {
            prop_assert_eq!(kept.figures(number, at), read_back.figures(number, at));
        }
        prop_assert_eq!(kept.clone().judge(at), read_back.clone().judge(at));
    }

    /// Among 3–11 good numbers, one that connects far less (or has mostly short calls) is
    /// rested until exactly `rest_days` later, is not chosen back a second before, comes back
    /// by itself then, and starts afresh: it is not judged on the calls before its rest.
    #[test]
    fn a_bad_number_rests_and_comes_back(
        good in 3usize..=11,
        calls in 20usize..=60,
        bad_kind in prop_oneof![Just(Ended::Unanswered), Just(Ended::Short)],
        good_noise in proptest::collection::vec(ended(), 0..4),
    ) {
        let mut histories: Vec<Vec<Ended>> = (0..good)
            .map(|_| {
                let mut h = vec![Ended::Talked; calls];
                h.extend(&good_noise);
                h
            })
            .collect();
        histories.push(vec![bad_kind; calls]);
        let bad = caller(good);
        let order: Vec<usize> = (0..=good).collect();
        let mut health = health_of(policy(20, 0.25), &histories, &order);
        let at = start() + SignedDuration::from_hours(2);
        let rests = health.judge(at);
        prop_assert_eq!(rests.len(), 1, "{:?}", rests);
        prop_assert_eq!(&rests[0].number, &bad);
        let until = at + SignedDuration::from_hours(24 * 14);
        prop_assert_eq!(rests[0].until, until);
        prop_assert!(health.resting(&bad, until - SignedDuration::from_secs(1)).is_some());
        prop_assert!(health.judge(until - SignedDuration::from_secs(1)).is_empty());
        prop_assert!(health.resting(&bad, until).is_none());
        prop_assert_eq!(health.standing(&bad, until), Standing::Unjudged);
        prop_assert!(health.judge(until).is_empty());
    }
}

/// With `health.enabled = false`, the worst number is never rested, and a rest an earlier run
/// decided does not keep it out.
#[test]
fn health_off_rests_nobody() {
    let mut histories = vec![vec![Ended::Talked; 30]; 4];
    histories.push(vec![Ended::Unanswered; 30]);
    let order: Vec<usize> = (0..5).collect();
    let at = start() + SignedDuration::from_hours(2);
    let mut on = health_of(policy(20, 0.25), &histories, &order);
    let rest = on
        .judge(at)
        .pop()
        .expect("the bad number rests while health is on");
    let off = Policy {
        enabled: false,
        ..policy(20, 0.25)
    };
    let mut health = health_of(off, &histories, &order);
    health.restore(rest);
    assert!(health.judge(at).is_empty());
    assert!(health.resting(&caller(4), at).is_none());
    assert_eq!(health.standing(&caller(4), at), Standing::Off);
}

/// The 95% interval holds the rate and stays within [0, 1], even at 0 and 1 and for few calls.
#[test]
fn the_interval_holds_the_rate() {
    use outdial::health::Rate;
    for (of, calls) in [(0, 1), (1, 1), (0, 50), (50, 50), (7, 20), (1, 3)] {
        let rate = Rate::of(of, calls);
        assert!(rate.low <= rate.rate && rate.rate <= rate.high, "{rate:?}");
        assert!(rate.low >= 0.0 && rate.high <= 1.0, "{rate:?}");
        assert!(rate.high - rate.low > 0.0, "{rate:?}");
    }
    // A known figure: 7 of 20 is 0.181–0.567 (Wilson, 95%).
    let rate = Rate::of(7, 20);
    assert!((rate.low - 0.181).abs() < 0.001, "{rate:?}");
    assert!((rate.high - 0.567).abs() < 0.001, "{rate:?}");
}
