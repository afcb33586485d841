//! No call holds a live slot for ever: a call that never shows a terminal status, one the vendor
//! does not know, or one whose status comes in odd shapes is settled and its slot freed, so the
//! campaign finishes.

mod common;

use std::time::{Duration, Instant};

use common::{ALWAYS_OPEN, Scenario, agent_with, campaign_text, csv_of, numbers_in};
use outdial::dialer::Ending;
use outdial::journal::State;
use outdial::sandbox::{DurationShape, Faults, SandboxConfig, StuckStatus};

const POOL: &[&str] = &["+12125550101"];
const CONTACTS: u32 = 3;

/// One live call at a time, so a stuck call would keep everyone else from being called;
/// `max_call_minutes = 0.05` (3 s) keeps the test short.
fn campaign() -> String {
    campaign_text(&format!(
        "[pacing]\ncalls_per_second = 500.0\nmax_live_calls = 1\n\n{ALWAYS_OPEN}\n\
         [retry]\nmax_call_minutes = 0.05\nreconcile_grace_seconds = 1\n"
    ))
}

fn sandbox(faults: Faults) -> SandboxConfig {
    SandboxConfig {
        agents: agent_with(POOL),
        call_duration: Duration::from_millis(200).into(),
        faults,
        ..SandboxConfig::default()
    }
}

/// Runs [`CONTACTS`] contacts against `faults`; returns the scenario and how long the run took
/// after checking that everyone was called once and the run completed.
async fn run_against(faults: Faults) -> (Scenario, Duration) {
    let phones = numbers_in(212, 0, CONTACTS);
    let scenario = Scenario::start_with(sandbox(faults), &campaign(), &csv_of(&phones)).await;
    let started = Instant::now();
    // A stuck call used to hold its slot for 6 h: fail, rather than hang, if one still does.
    let finish = tokio::time::timeout(Duration::from_secs(60), scenario.run())
        .await
        .expect("the run finished although its calls never ended");
    let took = started.elapsed();
    assert!(
        matches!(finish.ending, Ending::Complete),
        "{:?}",
        finish.ending
    );
    scenario.assert_each_called_once(&phones).await;
    (scenario, took)
}

/// Every contact is `done` with status `unknown` and a reason containing `why`, and the run
/// took about `max_call_minutes` per contact, not hours.
async fn assert_settled_unknown(scenario: &Scenario, took: Duration, why: &str) {
    let entries = scenario.journal_entries().await;
    assert_eq!(entries.len(), CONTACTS as usize);
    for (phone, entry) in entries {
        match &entry.state {
            State::Done {
                status,
                end_call_reason,
                ..
            } => {
                assert_eq!(status, "unknown", "{phone}");
                let reason = end_call_reason.as_deref().unwrap_or_default();
                assert!(reason.contains(why), "{phone}: {reason}");
            }
            other => panic!("{phone} is {other:?}, not done"),
        }
    }
    assert!(
        took < Duration::from_secs(30),
        "3 contacts at 3 s each took {took:?}"
    );
}

async fn stuck_in(status: StuckStatus) {
    let (scenario, took) = run_against(Faults {
        stuck: Some(status),
        ..Faults::default()
    })
    .await;
    assert_settled_unknown(&scenario, took, &format!("still `{}`", status.status())).await;
}

/// A call stuck `in-progress` is settled unknown after `max_call_minutes`.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_stuck_in_progress_frees_its_slot() {
    stuck_in(StuckStatus::InProgress).await;
}

/// A call stuck in `queue` is settled unknown after `max_call_minutes`.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_stuck_in_the_queue_frees_its_slot() {
    stuck_in(StuckStatus::Queue).await;
}

/// A call stuck `initiated` is settled unknown after `max_call_minutes`.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_stuck_initiated_frees_its_slot() {
    stuck_in(StuckStatus::Initiated).await;
}

/// A call stuck `paused` is settled unknown after `max_call_minutes`.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_stuck_paused_frees_its_slot() {
    stuck_in(StuckStatus::Paused).await;
}

/// A call in a status nobody documents is settled unknown after `max_call_minutes`.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_in_an_unheard_of_status_frees_its_slot() {
    stuck_in(StuckStatus::Unheard).await;
}

/// A call the vendor answers 404 for, past the grace, is settled unknown.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_the_api_does_not_know_frees_its_slot() {
    let (scenario, took) = run_against(Faults {
        forget_calls: true,
        ..Faults::default()
    })
    .await;
    assert_settled_unknown(&scenario, took, "404").await;
}

/// A `duration` written as a float, a string or a negative number never makes a call
/// unreadable: the calls end `completed` at once, with a duration where one can be read.
#[tokio::test(flavor = "multi_thread")]
async fn odd_duration_shapes_never_make_a_call_unreadable() {
    for (shape, readable) in [
        (DurationShape::Float, true),
        (DurationShape::String, true),
        (DurationShape::Negative, false),
    ] {
        let (scenario, took) = run_against(Faults {
            duration_shape: shape,
            ..Faults::default()
        })
        .await;
        assert!(
            took < Duration::from_secs(9),
            "{shape:?}: the calls waited for max_call_minutes ({took:?})"
        );
        for (phone, entry) in scenario.journal_entries().await {
            match entry.state {
                State::Done {
                    status, duration_s, ..
                } => {
                    assert_eq!(status, "completed", "{shape:?} {phone}");
                    assert_eq!(duration_s.is_some(), readable, "{shape:?} {phone}");
                }
                other => panic!("{shape:?}: {phone} is {other:?}"),
            }
        }
    }
}
