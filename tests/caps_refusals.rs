//! Caps count calls, not refusals (issue 8, point 10): a create request that made no call (a
//! 429, a refusal) does not use up its caller ID's daily cap, in memory or in the journal's
//! record of starts that a resumed run counts from.

mod common;

use std::collections::HashMap;

use common::{ALWAYS_OPEN, Notes, Scenario, agent_with, campaign_text, csv_of, numbers_in};
use jiff::Timestamp;
use outdial::clock::Clock;
use outdial::dialer::Ending;
use outdial::sandbox::{Bursts, Faults, SandboxConfig, Share};

const A: &str = "+12125550101";
const B: &str = "+14155550102";
const CAP: usize = 5;

fn campaign() -> String {
    campaign_text(&format!(
        "[pacing]\ncalls_per_second = 200.0\nmax_live_calls = 4\n\n\
         [rotation]\nstrategy = \"round-robin\"\nmax_calls_per_number_per_day = {CAP}\n\n{ALWAYS_OPEN}"
    ))
}

/// Bursts of 429 (each create has a 30% chance to start a burst of 2), answered with
/// `Retry-After: 0` so the test does not sit out pauses.
fn bursty(seed: u64) -> SandboxConfig {
    SandboxConfig {
        agents: agent_with(&[A, B]),
        call_duration: std::time::Duration::ZERO.into(),
        seed,
        faults: Faults {
            bursts: Bursts {
                chance: Share::new(0.3).unwrap(),
                length: std::num::NonZeroU32::new(2).unwrap(),
                retry_after: Some(0),
            },
            ..Faults::default()
        },
        ..SandboxConfig::default()
    }
}

/// With a cap of 5 and 2 numbers, 10 contacts and 429 bursts: every number makes exactly 5 real
/// calls, all 10 contacts are called once, and the run completes instead of waiting for the
/// next UTC day (the clock is noon UTC, so the day cannot roll over during the test). Tried
/// under several seeds, so the 429s land at different points of the run.
#[tokio::test(flavor = "multi_thread")]
async fn refused_creates_do_not_use_up_the_daily_cap() {
    let noon: Timestamp = "2026-06-10T12:00:00Z".parse().unwrap();
    for seed in [1, 7, 42] {
        let phones = numbers_in(212, 0, 2 * CAP as u32);
        let scenario = Scenario::start_with(bursty(seed), &campaign(), &csv_of(&phones)).await;
        let notes = Notes::default();

        let finish = scenario
            .run_noting_at(
                &notes,
                Clock::starting_at(noon),
                notes.said("nobody to call now"),
            )
            .await;

        let refused = scenario
            .sandbox
            .received()
            .await
            .iter()
            .filter(|c| c.status == 429)
            .count();
        assert!(refused > 0, "seed {seed}: the sandbox sent no 429");
        assert!(
            matches!(finish.ending, Ending::Complete),
            "seed {seed}: the run waited ({:?}) after {refused} 429s: {:?}",
            notes.all(),
            scenario.calls_per_caller_id().await
        );
        assert_eq!(
            scenario.calls_per_caller_id().await,
            HashMap::from([(A.to_owned(), CAP), (B.to_owned(), CAP)]),
            "seed {seed}"
        );
        scenario.assert_each_called_once(&phones).await;
    }
}

/// The journal's record of starts forgets refusals too: a first run with 429 bursts places 8
/// calls under a cap of 5 per number; a resumed run the same (simulated) day with 2 more
/// contacts has exactly 2 calls of cap left, and makes them, completing with 5 calls per number.
#[tokio::test(flavor = "multi_thread")]
async fn a_resumed_run_counts_created_calls_only() {
    let noon: Timestamp = "2026-06-10T12:00:00Z".parse().unwrap();
    let phones = numbers_in(212, 0, 2 * CAP as u32 - 2);
    let scenario = Scenario::start_with(bursty(7), &campaign(), &csv_of(&phones)).await;
    let notes = Notes::default();
    let finish = scenario
        .run_noting_at(
            &notes,
            Clock::starting_at(noon),
            notes.said("nobody to call now"),
        )
        .await;
    assert!(
        matches!(finish.ending, Ending::Complete),
        "{:?}",
        notes.all()
    );

    let mut more = phones.clone();
    more.extend(numbers_in(415, 0, 2));
    scenario.write_contacts(&csv_of(&more));
    let notes = Notes::default();
    let later = noon
        .checked_add(jiff::SignedDuration::from_mins(1))
        .unwrap();
    let resumed = scenario
        .run_noting_at(
            &notes,
            Clock::starting_at(later),
            notes.said("nobody to call now"),
        )
        .await;

    let refused = scenario
        .sandbox
        .received()
        .await
        .iter()
        .filter(|c| c.status == 429)
        .count();
    assert!(refused > 0, "the sandbox sent no 429");
    assert!(
        matches!(resumed.ending, Ending::Complete),
        "{:?}",
        notes.all()
    );
    assert_eq!(
        scenario.calls_per_caller_id().await,
        HashMap::from([(A.to_owned(), CAP), (B.to_owned(), CAP)])
    );
    scenario.assert_each_called_once(&more).await;
}
