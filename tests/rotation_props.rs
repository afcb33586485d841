//! Property tests for caller-ID rotation (SPEC §4): round-robin fairness, local presence against
//! an oracle written here from the area-code table, least-recently-used among equals, sticky
//! retries, and never choosing a number that is retired or not eligible, whatever the strategy;
//! the weighted strategy's lean towards numbers that connect.
//!
//! 256 cases per property by default; `PROPTEST_CASES=20000` searches harder.

use std::collections::{BTreeSet, HashMap, HashSet};

use outdial::area_codes::{self, AreaCode};
use outdial::campaign;
use outdial::phone::{Country, Phone};
use outdial::rotation::{Callee, Locale, Match, Rotation};
use proptest::prelude::*;
use proptest::sample::Index;

/// Real area codes over several states, one province and several zones, so that every tier of
/// local presence (area code, state, zone, none) comes up when pools are small.
const CODES: [u16; 32] = [
    212, 718, 917, 516, // US-NY, America/New_York
    415, 650, 408, 310, 619, // US-CA, America/Los_Angeles
    312, 773, 847, // US-IL, America/Chicago
    713, 214, 512, // US-TX, America/Chicago
    305, 786, 407, // US-FL, America/New_York
    617, 508, // US-MA, America/New_York
    206, 425, // US-WA, America/Los_Angeles
    404, 678, // US-GA, America/New_York
    602, 480, // US-AZ, America/Phoenix
    720, 303, // US-CO, America/Denver
    416, 647, // CA-ON, America/Toronto
    907, // US-AK, America/Adak and America/Anchorage
    808, // US-HI, Pacific/Honolulu
];

const STRATEGIES: [campaign::Strategy; 3] = [
    campaign::Strategy::RoundRobin,
    campaign::Strategy::Region,
    campaign::Strategy::Weighted,
];

// ---- generators -----------------------------------------------------------------------------

/// A valid NANP number: the NPA given, an exchange in 200..=999 that is not an N11 service code.
fn phone(npa: u16, nxx: u16, line: u16) -> Phone {
    let written = format!("+1{npa}{nxx}{line:04}");
    Phone::parse(&written, Country::default())
        .unwrap_or_else(|e| panic!("{written} should be a valid number: {e}"))
}

fn exchange() -> impl Strategy<Value = u16> {
    (200u16..=999).prop_filter("N11 codes are not exchanges", |nxx| nxx % 100 != 11)
}

/// Distinct numbers in the given area codes, in generation order (the pool's order).
fn pool_in(codes: Vec<u16>, size: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Phone>> {
    let codes = prop::sample::select(codes);
    prop::collection::btree_set((codes, exchange(), 0u16..10_000), size)
        .prop_map(|set| {
            set.into_iter()
                .map(|(npa, nxx, line)| phone(npa, nxx, line))
        })
        .prop_map(|phones| phones.collect::<Vec<_>>())
        .prop_shuffle()
}

/// A pool spread over [`CODES`].
fn pool(size: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Phone>> {
    pool_in(CODES.to_vec(), size)
}

/// Which numbers of a pool (by position) are eligible for one call, each with probability `p`.
fn mask(len: usize, p: f64) -> impl Strategy<Value = Vec<bool>> {
    prop::collection::vec(prop::bool::weighted(p), len)
}

/// The numbers of `pool` whose position is marked.
fn marked<'p>(pool: &'p [Phone], mask: &[bool]) -> HashSet<&'p Phone> {
    pool.iter()
        .zip(mask)
        .filter(|&(_, &on)| on)
        .map(|(p, _)| p)
        .collect()
}

fn code() -> impl Strategy<Value = u16> {
    prop::sample::select(CODES.to_vec())
}

fn any_strategy() -> impl Strategy<Value = campaign::Strategy> {
    prop::sample::select(STRATEGIES.to_vec())
}

/// Any rotation a campaign file can describe: a strategy or A/B arms of them, tiers in any order
/// (ending with `any`), either tie-break.
fn any_policy() -> impl Strategy<Value = campaign::RotationPolicy> {
    let local = vec![Match::AreaCode, Match::Region, Match::TimeZone];
    let tiers = prop::sample::subsequence(local, 0..=3)
        .prop_shuffle()
        .prop_map(|mut tiers| {
            tiers.push(Match::Other);
            tiers
        });
    let arms = prop::option::of(prop::collection::vec(any_strategy(), 2..4));
    let tie_break = prop::sample::select(vec![
        campaign::TieBreak::Lru,
        campaign::TieBreak::LeastUsedToday,
    ]);
    (any_strategy(), tiers, tie_break, arms).prop_map(|(strategy, tiers, tie_break, arms)| {
        campaign::RotationPolicy {
            strategy,
            tiers,
            tie_break,
            arms: arms.unwrap_or_default(),
            ..campaign::RotationPolicy::default()
        }
    })
}

/// A first-attempt callee in area code `npa`, located from the table.
fn callee(npa: u16) -> Callee {
    let code = AreaCode(npa);
    let place = area_codes::place(code).expect("every code of CODES is in the table");
    Callee {
        phone: phone(npa, 234, 5678),
        locale: Locale {
            area_code: Some(code),
            region: place.region.clone(),
            time_zones: place.time_zones.clone(),
        },
        previous: None,
    }
}

/// Every eligible number, for `choose` calls where caps play no part.
fn anyone(_: &Phone) -> bool {
    true
}

// ---- the oracle -----------------------------------------------------------------------------

/// How local `caller` is to a callee in `callee_npa`, from the table alone: same area code, else
/// same state or province, else a shared time zone, else nothing.
fn locality(callee_npa: u16, caller: &Phone) -> Match {
    let caller_npa = caller.area_code().expect("pools hold NANP numbers").0;
    if caller_npa == callee_npa {
        return Match::AreaCode;
    }
    let place = |npa| area_codes::place(AreaCode(npa)).expect("codes come from the table");
    let (callee, caller) = (place(callee_npa), place(caller_npa));
    if callee.region.is_some() && callee.region == caller.region {
        Match::Region
    } else if callee
        .time_zones
        .iter()
        .any(|z| caller.time_zones.contains(z))
    {
        Match::TimeZone
    } else {
        Match::Other
    }
}

// ---- properties -----------------------------------------------------------------------------

proptest! {
    // Round-robin with every number eligible hands out pool[i mod len] for call i, whoever the
    // callee, so per-number counts never differ by more than one.
    #[test]
    fn round_robin_cycles_in_pool_order_and_is_fair(
        pool in pool(1..40),
        callees in prop::collection::vec(code(), 0..200),
    ) {
        let mut rotation = Rotation::new(campaign::Strategy::RoundRobin, &pool);
        let mut counts: HashMap<Phone, usize> = pool.iter().map(|p| (p.clone(), 0)).collect();
        for (i, &npa) in callees.iter().enumerate() {
            let choice = rotation.choose(&callee(npa), anyone).expect("every number is eligible");
            prop_assert_eq!(&choice.caller_id, &pool[i % pool.len()], "call {}", i);
            *counts.get_mut(&choice.caller_id).expect("the choice is in the pool") += 1;
        }
        let (min, max) = (counts.values().min().unwrap(), counts.values().max().unwrap());
        prop_assert!(max - min <= 1, "counts {:?}", counts.values().collect::<Vec<_>>());
    }

    // Region picks, call after call, a number of the most local tier that any usable number
    // reaches, as the oracle computes it from the table, with numbers retired or ineligible.
    #[test]
    fn region_picks_the_most_local_eligible_tier(
        pool in pool(1..12),
        calls in prop::collection::vec(
            (code(), mask(12, 0.5), prop::option::weighted(0.1, any::<Index>())),
            1..60,
        ),
    ) {
        let mut rotation = Rotation::new(campaign::Strategy::Region, &pool);
        let mut retired: HashSet<Phone> = HashSet::new();
        for (call, (npa, eligible_by_index, retire)) in calls.into_iter().enumerate() {
            if let Some(index) = retire {
                let phone = index.get(&pool);
                prop_assert_eq!(rotation.retire(phone), retired.insert(phone.clone()));
            }
            let eligible = marked(&pool, &eligible_by_index);
            let best = pool
                .iter()
                .filter(|p| eligible.contains(p) && !retired.contains(*p))
                .map(|p| locality(npa, p))
                .min();
            let choice = rotation.choose(&callee(npa), |p| eligible.contains(p));
            prop_assert_eq!(
                choice.as_ref().map(|c| c.local_match),
                best,
                "call {} to area code {}: chose {:?}", call, npa, choice
            );
            if let Some(choice) = choice {
                prop_assert_eq!(choice.local_match, locality(npa, &choice.caller_id));
            }
        }
    }

    // Among numbers equally local (one area code), the least recently used goes first, so n
    // calls to that area code spread over its k numbers within one of each other, and the
    // numbers of other area codes in the pool are never used.
    #[test]
    fn least_recently_used_among_equals_spreads_evenly(
        npa in code(),
        local in prop::collection::btree_set((exchange(), 0u16..10_000), 1..20),
        others in pool(0..20),
        calls in 0usize..200,
    ) {
        let local: Vec<Phone> =
            local.into_iter().map(|(nxx, line)| phone(npa, nxx, line)).collect();
        let mut pool: Vec<Phone> =
            others.into_iter().filter(|p| p.area_code() != Some(AreaCode(npa))).collect();
        pool.extend(local.iter().cloned());
        let mut rotation = Rotation::new(campaign::Strategy::Region, &pool);
        let mut counts: HashMap<Phone, usize> = local.iter().map(|p| (p.clone(), 0)).collect();
        for _ in 0..calls {
            let choice = rotation.choose(&callee(npa), anyone).expect("every number is eligible");
            prop_assert_eq!(choice.local_match, Match::AreaCode);
            *counts.get_mut(&choice.caller_id).expect("an area-code number is chosen") += 1;
        }
        let (min, max) = (counts.values().min().unwrap(), counts.values().max().unwrap());
        prop_assert!(max - min <= 1, "counts {:?}", counts.values().collect::<Vec<_>>());
    }

    // A retry gets its previous caller ID back while that number is in the pool, not retired and
    // eligible, whatever the strategy, arms, tiers, tie-break and the rotation's history (what
    // it learned included); otherwise another usable number.
    #[test]
    fn retries_are_sticky_while_the_previous_number_is_usable(
        policy in any_policy(),
        pool in pool(1..20),
        history in prop::collection::vec(code(), 0..30),
        npa in code(),
        previous in any::<Index>(),
        fate in prop::sample::select(vec!["usable", "retired", "ineligible"]),
    ) {
        let mut rotation = Rotation::of_policy(&policy, &pool, 7);
        for &earlier in &history {
            let choice = rotation.choose(&callee(earlier), anyone).expect("every number is eligible");
            rotation.learn(&choice.caller_id, earlier % 2 == 0);
        }
        let previous = previous.get(&pool).clone();
        let mut retry = callee(npa);
        retry.previous = Some(previous.clone());
        if fate == "retired" {
            prop_assert!(rotation.retire(&previous));
        }
        let eligible = |p: &Phone| fate != "ineligible" || *p != previous;
        let choice = rotation.choose(&retry, eligible);
        match (fate, choice) {
            ("usable", Some(choice)) => prop_assert_eq!(choice.caller_id, previous),
            (_, Some(choice)) => prop_assert_ne!(choice.caller_id, previous),
            (_, None) => prop_assert!(
                pool.len() == 1 && fate != "usable",
                "no choice from {} numbers",
                pool.len()
            ),
        }
    }

    // Whatever the rotation (every strategy, A/B arms, tiers, tie-break, seed, outcomes learned)
    // and the sequence of eligibility masks (caps, cooldowns, rests) and retirements, `choose`
    // only returns a number of the pool that is eligible and not retired, and returns None
    // exactly when there is none.
    #[test]
    fn choose_never_returns_an_unusable_number(
        policy in any_policy(),
        seed in any::<u64>(),
        pool in pool(1..15),
        steps in prop::collection::vec(
            (
                code(),
                mask(15, 0.6),
                prop::option::weighted(0.15, any::<Index>()),
                prop::option::of(any::<Index>()),
            ),
            1..80,
        ),
    ) {
        let mut rotation = Rotation::of_policy(&policy, &pool, seed);
        let mut retired: BTreeSet<Phone> = BTreeSet::new();
        for (npa, eligible_by_index, retire, previous) in steps {
            if let Some(index) = retire {
                let phone = index.get(&pool).clone();
                rotation.retire(&phone);
                retired.insert(phone);
            }
            let eligible = marked(&pool, &eligible_by_index);
            let mut next = callee(npa);
            next.previous = previous.map(|i| i.get(&pool).clone());
            let usable = pool.iter().any(|p| eligible.contains(p) && !retired.contains(p));
            match rotation.choose(&next, |p| eligible.contains(p)) {
                Some(choice) => {
                    rotation.learn(&choice.caller_id, npa % 3 == 0);
                    prop_assert!(pool.contains(&choice.caller_id));
                    prop_assert!(eligible.contains(&choice.caller_id), "chose an ineligible one");
                    prop_assert!(!retired.contains(&choice.caller_id), "chose a retired number");
                }
                None => prop_assert!(!usable, "None although a usable number is in the pool"),
            }
        }
    }
}

/// `weighted` leans on what each number's calls achieve: among four numbers of one area code,
/// one connecting 80% of its calls, two 50%, and one gone bad (5%), over 2,000 calls with
/// outcomes drawn from those rates, the best number gets the most calls and the bad one the
/// fewest, under a tenth; every number keeps getting some (it is still sampled).
#[test]
fn weighted_gives_more_calls_to_numbers_that_connect() {
    use rand::{Rng, SeedableRng};
    let pool: Vec<Phone> = (0..4).map(|i| phone(212, 555, 100 + i)).collect();
    let rates = [0.8, 0.5, 0.5, 0.05];
    let policy = campaign::RotationPolicy {
        strategy: campaign::Strategy::Weighted,
        ..campaign::RotationPolicy::default()
    };
    let mut rotation = Rotation::of_policy(&policy, &pool, 1);
    let mut outcomes = rand::rngs::StdRng::seed_from_u64(2);
    let mut calls = [0u32; 4];
    for _ in 0..2_000 {
        let choice = rotation.choose(&callee(212), anyone).expect("all usable");
        let index = pool.iter().position(|p| *p == choice.caller_id).unwrap();
        calls[index] += 1;
        let connected = outcomes.random_bool(rates[index]);
        rotation.learn(&choice.caller_id, connected);
    }
    assert!(calls[0] > calls[1] && calls[0] > calls[2], "{calls:?}");
    assert!(calls[3] < 200 && calls[3] > 0, "{calls:?}");
}
