//! Reconciliation holds when the vendor's clock is off from ours, either way: a create whose
//! answer was lost is matched to its own call, never to another, and nobody is called twice.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{ALWAYS_OPEN, Scenario, agent_with, campaign_text, csv_of, numbers_in};
use outdial::dialer::Ending;
use outdial::journal::State;
use outdial::sandbox::{Faults, OutcomeMix, SandboxConfig, Share};

const POOL: &[&str] = &["+14155550101", "+14155550102", "+14155550103"];

/// A campaign over the test agent; `retry` is the `[retry]` table's body.
fn campaign(max_live_calls: u32, retry: &str) -> String {
    campaign_text(&format!(
        "[pacing]\ncalls_per_second = 500.0\nmax_live_calls = {max_live_calls}\n\n\
         [rotation]\nstrategy = \"region\"\n\n{ALWAYS_OPEN}\n[retry]\n{retry}\n"
    ))
}

/// A sandbox for [`POOL`] with `faults` from the first request on.
fn sandbox(seed: u64, outcomes: &str, faults: Faults) -> SandboxConfig {
    SandboxConfig {
        agents: agent_with(POOL),
        seed,
        call_duration: Duration::ZERO.into(),
        outcomes: outcomes.parse::<OutcomeMix>().unwrap(),
        faults,
        ..SandboxConfig::default()
    }
}

fn share(value: f64) -> Share {
    Share::new(value).unwrap()
}

/// Runs 60 contacts against a vendor whose clock is `skew_ms` off, with a third of the create
/// answers lost (and some late past the client's timeout when `slow`), and checks the sandbox's
/// record: each contact got exactly one call, and each settled with that very call.
async fn each_called_once_with_skew(skew_ms: i64, slow: bool) {
    let faults = Faults {
        clock_skew_ms: skew_ms,
        dropped: share(0.3),
        slow: share(if slow { 0.1 } else { 0.0 }),
        slow_delay: Duration::from_secs(16),
        ..Faults::default()
    };
    let phones = numbers_in(415, 0, 60);
    let scenario = Scenario::start_with(
        sandbox(7, "completed=1", faults),
        &campaign(16, "reconcile_grace_seconds = 1"),
        &csv_of(&phones),
    )
    .await;

    let finish = scenario.run().await;

    assert!(
        matches!(finish.ending, Ending::Complete),
        "{:?}",
        finish.ending
    );
    scenario.assert_each_called_once(&phones).await;
    let lost = scenario
        .sandbox
        .received()
        .await
        .iter()
        .filter(|c| c.fault.is_some())
        .count();
    assert!(
        lost >= 5,
        "only {lost} create answers were lost: nothing was reconciled"
    );
    // Each lost answer was reconciled by one search of the list, and the run counted it.
    let look_ups = finish.report.requests.map(|r| r.look_ups);
    assert_eq!(look_ups, Some(lost as u64), "reconciliations counted");
    assert_settled_with_own_calls(&scenario).await;
}

/// Every contact is `done` with the call the sandbox created *to* it.
async fn assert_settled_with_own_calls(scenario: &Scenario) {
    let callee_of: HashMap<String, String> = scenario
        .sandbox
        .received()
        .await
        .into_iter()
        .filter_map(|c| Some((c.call_id?, c.phone?)))
        .collect();
    for (phone, entry) in scenario.journal_entries().await {
        assert!(
            matches!(entry.state, State::Done { .. }),
            "{phone}: {:?}",
            entry.state
        );
        let call_id = entry
            .call_id
            .as_deref()
            .expect("a done contact has its call");
        assert_eq!(
            callee_of.get(call_id),
            Some(&phone),
            "{phone} was settled with call {call_id}, made to someone else"
        );
    }
}

/// The vendor's clock half a second behind ours: lost creates are still found.
#[tokio::test(flavor = "multi_thread")]
async fn nobody_is_called_twice_with_the_api_half_a_second_behind() {
    each_called_once_with_skew(-500, false).await;
}

/// The vendor's clock half a second ahead of ours.
#[tokio::test(flavor = "multi_thread")]
async fn nobody_is_called_twice_with_the_api_half_a_second_ahead() {
    each_called_once_with_skew(500, false).await;
}

/// The vendor's clock five seconds behind ours, with creates both dropped and answered late.
#[tokio::test(flavor = "multi_thread")]
async fn nobody_is_called_twice_with_the_api_five_seconds_behind_and_slow() {
    each_called_once_with_skew(-5_000, true).await;
}

/// The vendor's clock five seconds ahead of ours, with creates both dropped and answered late.
#[tokio::test(flavor = "multi_thread")]
async fn nobody_is_called_twice_with_the_api_five_seconds_ahead_and_slow() {
    each_called_once_with_skew(5_000, true).await;
}

/// A redial whose create is lost is matched to its own new call, not to the earlier attempt's
/// (which the vendor's list also holds, seconds before): nobody who answered is called again,
/// and nobody gets more calls than `max_attempts`.
#[tokio::test(flavor = "multi_thread")]
async fn a_redial_is_never_matched_to_the_earlier_attempts_call() {
    let faults = Faults {
        clock_skew_ms: -2_000,
        dropped: share(0.4),
        ..Faults::default()
    };
    let phones = numbers_in(415, 100, 40);
    let scenario = Scenario::start_with(
        sandbox(11, "completed=1,no-answer=2", faults),
        &campaign(
            8,
            "max_attempts = 3\nredial_after_minutes = 0\nreconcile_grace_seconds = 1",
        ),
        &csv_of(&phones),
    )
    .await;

    let finish = scenario.run().await;

    assert!(matches!(finish.ending, Ending::Complete));
    let entries = scenario.journal_entries().await;
    let calls = scenario.calls_per_phone().await;
    for phone in &phones {
        let entry = &entries[phone];
        let made = calls.get(phone).copied().unwrap_or(0);
        assert!(made <= 3, "{phone} got {made} calls, over max_attempts");
        assert_eq!(
            made,
            entry.earlier_calls.len() + 1,
            "{phone}: every call but the last is an earlier attempt's, the last its own"
        );
        if let State::Done { .. } = &entry.state {
            let call_id = entry.call_id.as_ref().expect("a done contact has its call");
            assert!(
                !entry.earlier_calls.contains(call_id),
                "{phone} settled with an earlier attempt's call"
            );
        }
    }
    let redialled = entries
        .values()
        .filter(|e| !e.earlier_calls.is_empty())
        .count();
    assert!(redialled >= 5, "only {redialled} contacts were redialled");
    assert_settled_with_own_calls(&scenario).await;
}

/// A contact whose phone is also one of the pool's caller IDs is matched only to calls *to*
/// it: the calls made *from* its number to other contacts (which the vendor's list returns for
/// `lead_phone_number` too) are never taken for its own, so it is still called, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_contact_that_is_also_a_caller_id_is_called_with_its_own_call() {
    // One call at a time, so the fault dice fall on the same requests every run: the seed was
    // chosen so that creates to the caller-ID contacts meet 500s (checked below).
    let faults = Faults {
        server_errors: share(0.5),
        clock_skew_ms: -500,
        ..Faults::default()
    };
    let mut phones: Vec<String> = POOL.iter().map(|p| p.to_string()).collect();
    phones.extend(numbers_in(415, 200, 30));
    let scenario = Scenario::start_with(
        sandbox(3, "completed=1", faults),
        &campaign(1, "max_attempts = 10\nreconcile_grace_seconds = 1"),
        &csv_of(&phones),
    )
    .await;

    let finish = scenario.run().await;

    assert!(matches!(finish.ending, Ending::Complete));
    let refused_pool_creates = scenario
        .sandbox
        .received()
        .await
        .iter()
        .filter(|c| c.status == 500 && POOL.contains(&c.phone.as_deref().unwrap_or("")))
        .count();
    assert!(
        refused_pool_creates > 0,
        "no create to a caller-ID contact met a 500, so none was looked up"
    );
    scenario.assert_each_called_once(&phones).await;
    assert_settled_with_own_calls(&scenario).await;
}
