//! Redials (SPEC §2 `[retry]`, §4 sticky caller IDs): a call nobody took (no-answer, busy,
//! voicemail) is dialled again, up to `max_attempts` in all, after `redial_after_minutes`, from
//! the caller ID of the first attempt while that number is usable; an answered call never is.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::{AGENT, ALWAYS_OPEN, Notes, Scenario, agent_with, campaign_text, csv_of, numbers_in};
use jiff::{SignedDuration, Timestamp};
use outdial::dialer::Ending;
use outdial::journal::State;
use outdial::sandbox::{SandboxConfig, TimeScale};

const POOL: &[&str] = &["+12125550101", "+14155550102", "+13125550104"];

/// Calls of 10 simulated seconds at 20×: an unanswered call rings out 150 ms after its creation.
fn sandbox(pool: &[&str], outcomes: &str) -> SandboxConfig {
    SandboxConfig {
        agents: agent_with(pool),
        call_duration: Duration::from_secs(10).into(),
        time_scale: TimeScale::new(20.0).unwrap(),
        outcomes: outcomes.parse().unwrap(),
        seed: 3,
        ..SandboxConfig::default()
    }
}

fn campaign(
    strategy: &str,
    rotation: &str,
    max_attempts: u32,
    redial_after_minutes: u32,
) -> String {
    campaign_text(&format!(
        "[pacing]\ncalls_per_second = 100.0\nmax_live_calls = 16\n\n\
         [rotation]\nstrategy = \"{strategy}\"\n{rotation}\n{ALWAYS_OPEN}\n\
         [retry]\nmax_attempts = {max_attempts}\nredial_after_minutes = {redial_after_minutes}\n"
    ))
}

/// Created calls per callee, in the order the sandbox received them: the caller ID of each.
async fn callers_by_callee(scenario: &Scenario) -> HashMap<String, Vec<String>> {
    let mut calls: HashMap<String, Vec<String>> = HashMap::new();
    for call in scenario.sandbox.received().await {
        if call.call_id.is_some() {
            calls
                .entry(call.phone.unwrap_or_default())
                .or_default()
                .push(call.from_phone_number.unwrap_or_default());
        }
    }
    calls
}

/// Nine contacts in three area codes, all in the pool's area codes or none of them.
fn nine_phones() -> Vec<String> {
    [212, 907, 415]
        .iter()
        .flat_map(|npa| numbers_in(*npa, 0, 3))
        .collect()
}

/// For each outcome nobody took — `no-answer`, `busy`, `left_voicemail`, `hangup_on_voicemail` —
/// with `max_attempts = 3` and no wait between attempts: every contact gets exactly 3 created
/// calls, all from the caller ID of its first (round-robin would otherwise move on to the next
/// number), then ends `done` with that outcome and 3 attempts.
#[tokio::test(flavor = "multi_thread")]
async fn unanswered_calls_are_redialled_up_to_max_attempts_from_the_same_caller_id() {
    for outcome in ["no-answer", "busy", "left_voicemail", "hangup_on_voicemail"] {
        let phones = nine_phones();
        let scenario = Scenario::start_with(
            sandbox(POOL, &format!("{outcome}=1")),
            &campaign("round-robin", "", 3, 0),
            &csv_of(&phones),
        )
        .await;

        let finish = scenario.run().await;

        assert!(matches!(finish.ending, Ending::Complete), "{outcome}");
        let calls = callers_by_callee(&scenario).await;
        assert_eq!(calls.len(), phones.len(), "{outcome}: {calls:?}");
        let mut first_callers = BTreeSet::new();
        for phone in &phones {
            let callers = &calls[phone];
            assert_eq!(callers.len(), 3, "{outcome}: {phone} got {callers:?}");
            assert!(
                callers.iter().all(|c| *c == callers[0]),
                "{outcome}: {phone} was redialled from another number: {callers:?}"
            );
            first_callers.insert(callers[0].clone());
        }
        assert_eq!(
            first_callers.len(),
            POOL.len(),
            "{outcome}: the first attempts rotate over the pool"
        );
        let rows = scenario.export_rows().await;
        for phone in &phones {
            let row = &rows[phone];
            assert_eq!(row["state"], "done", "{outcome}: {row:?}");
            assert_eq!(row["outcome"], outcome, "{outcome}: {row:?}");
            assert_eq!(row["attempts"], "3", "{outcome}: {row:?}");
            assert_eq!(
                row["from_phone_number"], calls[phone][0],
                "{outcome}: {row:?}"
            );
        }
        assert_eq!(finish.report.tally.attempts, 27, "{outcome}");
    }
}

/// Answered calls (`completed`) and calls the carrier could not place (`failed`, not in the
/// redial list of SPEC §2) are never dialled again, however many attempts remain.
#[tokio::test(flavor = "multi_thread")]
async fn completed_and_failed_calls_are_never_redialled() {
    for outcome in ["completed", "failed"] {
        let phones = nine_phones();
        let scenario = Scenario::start_with(
            sandbox(POOL, &format!("{outcome}=1")),
            &campaign("round-robin", "", 3, 0),
            &csv_of(&phones),
        )
        .await;

        scenario.run().await;

        scenario.assert_each_called_once(&phones).await;
        let rows = scenario.export_rows().await;
        for phone in &phones {
            let row = &rows[phone];
            assert_eq!(
                (
                    row["state"].as_str(),
                    row["outcome"].as_str(),
                    row["attempts"].as_str()
                ),
                ("done", outcome, "1"),
                "{row:?}"
            );
        }
    }
}

/// Sticky gives way to the caps: with one call per number per day, a 212 contact's first call
/// goes out from the local 212 number, which is then at its cap, so the redial goes out from the
/// other number (and does not wait for tomorrow); the contact ends after its 2 attempts.
#[tokio::test(flavor = "multi_thread")]
async fn a_redial_moves_to_another_number_when_the_first_is_at_its_cap() {
    let pool = &["+12125550101", "+14155550102"];
    let phones = numbers_in(212, 0, 1);
    let scenario = Scenario::start_with(
        sandbox(pool, "no-answer=1"),
        &campaign("region", "max_calls_per_number_per_day = 1", 2, 0),
        &csv_of(&phones),
    )
    .await;

    let finish = scenario.run().await;

    assert!(matches!(finish.ending, Ending::Complete));
    let calls = callers_by_callee(&scenario).await;
    assert_eq!(
        calls[&phones[0]],
        ["+12125550101", "+14155550102"],
        "local number first, the other one for the redial"
    );
    let row = &scenario.export_rows().await[&phones[0]];
    assert_eq!(
        (
            row["state"].as_str(),
            row["outcome"].as_str(),
            row["attempts"].as_str()
        ),
        ("done", "no-answer", "2"),
        "{row:?}"
    );
}

/// Sticky gives way when the number leaves the pool mid-run: the first call goes out from the
/// local 212 number; while it rings (1.5 s) that number is detached from the agent, so the
/// sticky redial is refused as a caller ID; the dialer takes the number out of rotation, says
/// so, and redials from the other number without counting the refused request as an attempt;
/// `pool health` then shows the number refused by the API, and why.
#[tokio::test(flavor = "multi_thread")]
async fn a_redial_moves_to_another_number_when_the_first_is_detached_mid_run() {
    let pool = &["+12125550101", "+14155550102"];
    let phones = numbers_in(212, 0, 1);
    let mut config = sandbox(pool, "no-answer=1");
    // 100 simulated seconds at 20×: the first call rings for 1.5 s, time enough to detach.
    config.call_duration = Duration::from_secs(100).into();
    let scenario =
        Scenario::start_with(config, &campaign("region", "", 2, 0), &csv_of(&phones)).await;
    let notes = Notes::default();

    let detach = async {
        scenario.wait_for_requests(1).await;
        let url = format!(
            "{}/assistants/{AGENT}/phone_numbers/12125550101",
            scenario.sandbox.synthflow_base()
        );
        let answer = reqwest::Client::new()
            .delete(url)
            .bearer_auth("test-key")
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{answer:?}");
        let still_ringing = scenario.sandbox.received().await.len() == 1;
        assert!(
            still_ringing,
            "detached only after the redial: the test proves nothing"
        );
    };
    let (finish, ()) = tokio::join!(scenario.run_noting(&notes, std::future::pending()), detach);

    assert!(matches!(finish.ending, Ending::Complete));
    let received: Vec<(Option<String>, u16)> = scenario
        .sandbox
        .received()
        .await
        .into_iter()
        .map(|c| (c.from_phone_number, c.status))
        .collect();
    assert_eq!(received.len(), 3, "{received:?}");
    assert_eq!(received[0], (Some("+12125550101".into()), 200));
    assert_eq!(
        received[1].0.as_deref(),
        Some("+12125550101"),
        "sticky first"
    );
    assert!(received[1].1 >= 400, "refused as a caller ID: {received:?}");
    assert_eq!(received[2], (Some("+14155550102".into()), 200));
    notes.wait_for("+12125550101").await;
    let row = &scenario.export_rows().await[&phones[0]];
    assert_eq!(
        (
            row["state"].as_str(),
            row["outcome"].as_str(),
            row["attempts"].as_str()
        ),
        ("done", "no-answer", "2"),
        "the refused request is not an attempt: {row:?}"
    );
    // `pool health` says which number the API refused in the latest run, and why.
    let out = scenario
        .outdial(&[
            "pool",
            "health",
            scenario.campaign_file().to_str().unwrap(),
            "--json",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let health: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let state_of = |number: &str| {
        let numbers = health["numbers"].as_array().unwrap();
        let entry = numbers.iter().find(|n| n["number"] == number).unwrap();
        (
            entry["state"].clone(),
            entry["why"].as_str().unwrap_or("").to_owned(),
        )
    };
    let (state, why) = state_of("+12125550101");
    assert_eq!(state, "refused", "{health}");
    assert!(why.contains("refused by the API"), "{why}");
    assert_eq!(state_of("+14155550102").0, "active");
}

/// A redial waits `redial_after_minutes`: with 60, the first wave rings out, the run says it
/// has nothing to do until the redial is due and makes no second call; stopped then, the
/// journal holds every contact `pending` after 1 attempt, due about 60 minutes after its call.
#[tokio::test(flavor = "multi_thread")]
async fn a_redial_waits_redial_after_minutes() {
    let phones = nine_phones();
    let scenario = Scenario::start_with(
        sandbox(POOL, "no-answer=1"),
        &campaign("round-robin", "", 3, 60),
        &csv_of(&phones),
    )
    .await;
    let notes = Notes::default();

    let finish = scenario
        .run_noting(&notes, notes.said("nobody to call now"))
        .await;
    let stopped_at = Timestamp::now();

    assert!(matches!(finish.ending, Ending::Interrupted));
    let idle = notes.wait_for("nobody to call now").await;
    assert!(idle.contains("due in 59m"), "{idle}");
    let calls = callers_by_callee(&scenario).await;
    assert_eq!(scenario.sandbox.received().await.len(), phones.len());
    assert!(calls.values().all(|c| c.len() == 1), "{calls:?}");
    let entries = scenario.journal_entries().await;
    for phone in &phones {
        let entry = &entries[phone];
        assert_eq!(entry.state, State::Pending, "{phone}: {entry:?}");
        assert_eq!(entry.attempts, 1, "{phone}: {entry:?}");
        let due = entry.due_at.expect("a redial has a due time");
        let ahead = stopped_at.duration_until(due);
        assert!(
            ahead > SignedDuration::from_mins(59) && ahead <= SignedDuration::from_mins(60),
            "{phone}: due {due}, {ahead:#} after the stop"
        );
        let dialed = entry.dialed_at.expect("it was dialled");
        let wait = dialed.duration_until(due);
        assert!(
            wait >= SignedDuration::from_mins(60)
                && wait < SignedDuration::from_mins(60) + SignedDuration::from_secs(5),
            "{phone}: due {wait:#} after its call was dialled"
        );
    }
}
