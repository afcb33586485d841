//! Calls are followed to their terminal status (SPEC §2 `[pacing]`, §5): a live slot is held
//! until the call has ended, so the dialer stays inside the account's concurrency and rate limits
//! without a single 429, and the journal keeps each call's final status, end reason and length.

mod common;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use common::{ALWAYS_OPEN, Notes, Scenario, agent_with, campaign_text, csv_of, numbers_in};
use outdial::dialer::Ending;
use outdial::sandbox::{Limits, SandboxConfig, TimeScale};

const POOL: &[&str] = &["+12125550101", "+14155550102", "+13125550104"];

/// The real pay-as-you-go account's shape: 5 live calls, 2 new calls per second.
fn limited_sandbox(call_seconds: &str, outcomes: &str) -> SandboxConfig {
    SandboxConfig {
        agents: agent_with(POOL),
        call_duration: call_seconds.parse().unwrap(),
        outcomes: outcomes.parse().unwrap(),
        time_scale: TimeScale::new(60.0).unwrap(),
        limits: Limits {
            max_live: NonZeroU32::new(5),
            max_cps: NonZeroU32::new(2),
        },
        seed: 11,
        ..SandboxConfig::default()
    }
}

fn campaign(calls_per_second: f64, max_live_calls: u32, max_attempts: u32) -> String {
    campaign_text(&format!(
        "[pacing]\ncalls_per_second = {calls_per_second}\nmax_live_calls = {max_live_calls}\n\n\
         {ALWAYS_OPEN}\n[retry]\nmax_attempts = {max_attempts}\nredial_after_minutes = 0\n"
    ))
}

/// 40 contacts (4 area codes) against the limited account, paced by the campaign at
/// `calls_per_second` with 5 live calls; calls of 2–3 s so that the live limit binds too.
async fn dial_40_against_the_limited_account(calls_per_second: f64) -> Scenario {
    let phones = forty_phones();
    // 120–180 simulated seconds at 60× are 2–3 s real: 5 slots turn over at about 2 calls/s,
    // the same as the start rate, so both limits are pressed at once.
    let scenario = Scenario::start_with(
        limited_sandbox("120..180", "completed=1"),
        &campaign(calls_per_second, 5, 3),
        &csv_of(&phones),
    )
    .await;
    let finish = scenario.run().await;
    assert!(
        matches!(finish.ending, Ending::Complete),
        "{:?}",
        finish.ending
    );
    scenario
}

fn forty_phones() -> Vec<String> {
    [212, 415, 312, 907]
        .iter()
        .flat_map(|npa| numbers_in(*npa, 0, 10))
        .collect()
}

/// The account never saw more than 5 calls live (and did see 5, so the limit was pressed),
/// answered no 429 of any kind, and every contact is done after exactly one call.
async fn assert_inside_the_limits_and_each_called_once(scenario: &Scenario) {
    let stats = scenario.sandbox.stats();
    let received = scenario.sandbox.received().await;
    let refused: Vec<(i64, Option<&String>)> = received
        .iter()
        .filter(|c| c.status == 429)
        .map(|c| (c.at_ms - received[0].at_ms, c.phone.as_ref()))
        .collect();
    assert_eq!(
        stats.too_many_requests.total(),
        0,
        "the account answered 429 (ms since the first create, phone): {refused:?}; {stats:?}"
    );
    assert!(stats.max_live <= 5, "more than 5 calls live: {stats:?}");
    assert!(
        stats.max_live >= 4,
        "the live limit was never pressed, so the test proves little: {stats:?}"
    );
    assert_eq!(stats.creates_accepted, 40, "{stats:?}");
    let phones = forty_phones();
    scenario.assert_each_called_once(&phones).await;
    let rows = scenario.export_rows().await;
    for phone in &phones {
        let row = &rows[phone];
        assert_eq!(row["state"], "done", "{phone}: {row:?}");
        assert_eq!(row["outcome"], "completed", "{phone}: {row:?}");
        assert_eq!(row["attempts"], "1", "{phone}: {row:?}");
    }
}

/// With the campaign's pacing set exactly to the account's limits (5 live, 2/s), 40 contacts
/// are each called once, the account never sees more than 5 live, and never answers 429.
#[tokio::test(flavor = "multi_thread")]
async fn paced_exactly_at_the_account_limits_no_429_and_never_more_than_5_live() {
    let scenario = dial_40_against_the_limited_account(2.0).await;
    assert_inside_the_limits_and_each_called_once(&scenario).await;
}

/// The same run paced 5% under the account's rate (1.9/s): zero 429s, never more than 5 live,
/// every contact called once. A live slot is freed only once the call's terminal status has
/// been seen, never on the create's answer, so the live limit is never overrun.
#[tokio::test(flavor = "multi_thread")]
async fn paced_just_under_the_account_limits_no_429_and_never_more_than_5_live() {
    let scenario = dial_40_against_the_limited_account(1.9).await;
    assert_inside_the_limits_and_each_called_once(&scenario).await;
}

/// Calls still live when a run stops are followed by the next run to their end: they hold their
/// live slots meanwhile (the account, at 5 live, answers no 429 while the resumed run dials the
/// rest), end `done` with their outcome and length, and are never created again.
#[tokio::test(flavor = "multi_thread")]
async fn calls_live_at_a_stop_are_followed_by_the_next_run_inside_the_live_limit() {
    let phones = numbers_in(212, 300, 10);
    let mut config = limited_sandbox("240", "completed=1");
    config.limits.max_cps = None;
    // 240 simulated seconds at 60×: each call is live for 4 s.
    let scenario = Scenario::start_with(config, &campaign(50.0, 5, 1), &csv_of(&phones)).await;
    let notes = Notes::default();

    let stopped = scenario
        .run_noting(&notes, scenario.wait_for_requests(5))
        .await;

    assert!(matches!(stopped.ending, Ending::Interrupted));
    assert_eq!(
        stopped
            .report
            .tally
            .state(outdial::journal::StateKind::Placed),
        5,
        "{:?}",
        stopped.report.tally
    );
    let finish = scenario.run().await;

    assert!(matches!(finish.ending, Ending::Complete));
    let stats = scenario.sandbox.stats();
    assert_eq!(
        stats.too_many_requests.total(),
        0,
        "the resumed run dialled over the calls it was still following: {stats:?}"
    );
    assert!(stats.max_live <= 5, "{stats:?}");
    scenario.assert_each_called_once(&phones).await;
    let rows = scenario.export_rows().await;
    for phone in &phones {
        let row = &rows[phone];
        assert_eq!(
            (
                row["state"].as_str(),
                row["outcome"].as_str(),
                row["duration_s"].as_str()
            ),
            ("done", "completed", "240"),
            "{row:?}"
        );
    }
}

/// What the vendor reports when a call has ended, by status, for calls of 60 simulated seconds:
/// the end reason and the whole seconds of talk (the sandbox's documented lifecycle).
fn expected_end(status: &str) -> (&'static str, &'static str) {
    match status {
        "completed" => ("human_ended_call", "60"),
        "left_voicemail" => ("voicemail_message_left", "30"),
        "hangup_on_voicemail" => ("voicemail", "24"),
        "no-answer" => ("timeout", "0"),
        "busy" | "failed" => ("error", "0"),
        other => panic!("unexpected status {other}"),
    }
}

/// Each contact's journal entry (via `outdial export`) holds its call's terminal status, end
/// reason and duration exactly as the vendor reports them once the call has ended, for every
/// kind of outcome; the sandbox's own answer for each call id is the judge.
#[tokio::test(flavor = "multi_thread")]
async fn the_journal_keeps_each_calls_final_status_reason_and_duration() {
    let phones: Vec<String> = [212, 415, 312]
        .iter()
        .flat_map(|npa| numbers_in(*npa, 100, 12))
        .collect();
    let mix = "completed=3,no-answer=2,busy=1,failed=1,left_voicemail=1,hangup_on_voicemail=1";
    let mut config = limited_sandbox("60", mix);
    config.limits = Limits::default();
    // One attempt: the call in the journal is the contact's only call, so no redial muddles it.
    let scenario = Scenario::start_with(config, &campaign(20.0, 12, 1), &csv_of(&phones)).await;

    let finish = scenario.run().await;

    assert!(matches!(finish.ending, Ending::Complete));
    let vendor = vendor_view(&scenario).await;
    let rows = scenario.export_rows().await;
    let mut statuses: HashMap<String, usize> = HashMap::new();
    for phone in &phones {
        let row = &rows[phone];
        let call_id = &row["call_id"];
        let (status, reason, duration) = vendor
            .get(call_id)
            .unwrap_or_else(|| panic!("{phone}: call {call_id:?} unknown to the sandbox"));
        assert_eq!(row["state"], "done", "{phone}: {row:?}");
        assert_eq!(&row["outcome"], status, "{phone}: {row:?}");
        assert_eq!(&row["end_call_reason"], reason, "{phone}: {row:?}");
        assert_eq!(&row["duration_s"], duration, "{phone}: {row:?}");
        let (expected_reason, expected_duration) = expected_end(status);
        assert_eq!(
            (reason.as_str(), duration.as_str()),
            (expected_reason, expected_duration),
            "{phone}: the sandbox's own lifecycle"
        );
        *statuses.entry(status.clone()).or_default() += 1;
    }
    assert!(
        statuses.len() >= 4,
        "the mix should have produced several outcomes: {statuses:?}"
    );
}

/// call id → (status, end_call_reason, duration) as `GET /v2/calls/{id}` answers now.
async fn vendor_view(scenario: &Scenario) -> HashMap<String, (String, String, String)> {
    let http = reqwest::Client::new();
    let mut view = HashMap::new();
    for call in scenario.sandbox.received().await {
        let Some(call_id) = call.call_id else {
            continue;
        };
        let url = format!("{}/calls/{call_id}", scenario.sandbox.synthflow_base());
        let answer: serde_json::Value = http
            .get(url)
            .bearer_auth("test-key")
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let call = &answer["response"]["calls"][0];
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        view.insert(
            call_id,
            (
                text(&call["status"]),
                text(&call["end_call_reason"]),
                text(&call["duration"]),
            ),
        );
    }
    view
}
