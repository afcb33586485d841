//! The attempt history (issue 10): every attempt is kept in the journal with its caller ID,
//! attempt number, locality tier, moment, the callee's local hour and weekday, and how its call
//! ended; it grows with attempts, not with the status reads that follow each call. (That it
//! survives SIGKILLs and resumes is checked by `crash.rs`, against the vendor's record.)

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{ALWAYS_OPEN, Scenario, agent_with, campaign_text, csv_of, numbers_in, phone};
use outdial::history::{Attempt, LocalMoment};
use outdial::rotation::{Locale, Match};
use outdial::sandbox::{SandboxConfig, TimeScale};

const POOL: &[&str] = &["+12125550101", "+14155550102", "+13125550104"];

/// Each contact's created calls in the order the sandbox received them: (caller ID, call id).
async fn vendor_calls(scenario: &Scenario) -> HashMap<String, Vec<(String, String)>> {
    let mut received = scenario.sandbox.received().await;
    received.sort_by_key(|call| call.at_ms);
    let mut calls: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for call in received {
        if let Some(id) = call.call_id {
            let from = call.from_phone_number.unwrap_or_default();
            calls
                .entry(call.phone.unwrap_or_default())
                .or_default()
                .push((from, id));
        }
    }
    calls
}

/// The vendor's status for one call, over HTTP.
async fn status_of(scenario: &Scenario, call_id: &str) -> String {
    let url = format!("{}/calls/{call_id}", scenario.sandbox.synthflow_base());
    let body: serde_json::Value = reqwest::Client::new()
        .get(url)
        .bearer_auth("test-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["response"]["calls"][0]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Every attempt in the journal, by callee, in attempt order.
async fn history(scenario: &Scenario) -> HashMap<String, Vec<Attempt>> {
    let journal = common::open_journal(&scenario.campaign()).await;
    let mut by_callee: HashMap<String, Vec<Attempt>> = HashMap::new();
    for attempt in journal.attempts() {
        let attempt = attempt.expect("every attempt record reads back");
        by_callee
            .entry(attempt.callee.as_str().to_owned())
            .or_default()
            .push(attempt);
    }
    journal.close().await;
    for attempts in by_callee.values_mut() {
        attempts.sort_by_key(|a| a.number);
    }
    by_callee
}

/// Contacts in New York (212: the pool has a number there), Chicago (773: a number in the
/// state), and Honolulu (808: nothing near); about half of all calls ring out and are redialled,
/// up to three attempts. Each created call is one attempt, numbered 1, 2, 3 in the order the
/// vendor received them, from the caller ID the vendor saw, in the tier the two numbers' places
/// give, stamped with the callee's own wall-clock hour and weekday (computed here from the zone
/// each area code is in), and ended with the status the vendor reports — earlier attempts keep
/// their `no-answer` after the contact has moved on.
#[tokio::test(flavor = "multi_thread")]
async fn every_attempt_is_kept_with_its_caller_tier_moment_and_end() {
    let zones = [
        (212, "America/New_York"),
        (773, "America/Chicago"),
        (808, "Pacific/Honolulu"),
    ];
    let phones: Vec<String> = zones
        .iter()
        .flat_map(|(npa, _)| numbers_in(*npa, 0, 8))
        .collect();
    let config = SandboxConfig {
        agents: agent_with(POOL),
        call_duration: Duration::ZERO.into(),
        outcomes: "completed=1,no-answer=1".parse().unwrap(),
        seed: 10,
        ..SandboxConfig::default()
    };
    let campaign = campaign_text(&format!(
        "[pacing]\ncalls_per_second = 100.0\nmax_live_calls = 8\nreads_per_second = 50.0\n\n\
         [rotation]\nstrategy = \"region\"\n\n{ALWAYS_OPEN}\n\
         [retry]\nmax_attempts = 3\nredial_after_minutes = 0\n"
    ));
    let scenario = Scenario::start_with(config, &campaign, &csv_of(&phones)).await;
    let started = jiff::Timestamp::now();
    scenario.run().await;
    let ended = jiff::Timestamp::now();

    let vendor = vendor_calls(&scenario).await;
    let history = history(&scenario).await;
    let entries = scenario.journal_entries().await;
    let mut redialled = 0;
    for callee in &phones {
        let calls = &vendor[callee];
        let attempts = &history[callee];
        assert_eq!(
            attempts.len(),
            calls.len(),
            "{callee}: one attempt per call"
        );
        assert_eq!(attempts.len() as u32, entries[callee].attempts);
        redialled += usize::from(calls.len() > 1);
        let npa: u16 = callee[2..5].parse().unwrap();
        let zone = zones.iter().find(|(n, _)| *n == npa).unwrap().1;
        let zone = jiff::tz::TimeZone::get(zone).unwrap();
        for (k, (attempt, (from, id))) in attempts.iter().zip(calls).enumerate() {
            assert_eq!(
                attempt.number as usize,
                k + 1,
                "{callee}: numbered in order"
            );
            assert_eq!(
                attempt.caller_id.as_str(),
                from,
                "{callee}: the caller ID sent"
            );
            let tier = Match::between(
                &Locale::of_number(&phone(callee)),
                &Locale::of_number(&phone(from)),
            );
            assert_eq!(attempt.tier, tier, "{callee} from {from}");
            assert!(started <= attempt.sent_at && attempt.sent_at <= ended);
            let civil = attempt.sent_at.to_zoned(zone.clone());
            let expected = LocalMoment {
                hour: civil.hour() as u8,
                weekday: civil.weekday().to_monday_one_offset() as u8,
            };
            assert_eq!(attempt.local, Some(expected), "{callee}: local moment");
            let end = attempt.end.as_ref().expect("every call here ended");
            assert_eq!(end.status, status_of(&scenario, id).await, "{callee}");
        }
    }
    assert!(redialled > 0, "some contacts were redialled");
    let tiers: std::collections::BTreeSet<Match> =
        history.values().flatten().map(|a| a.tier).collect();
    assert!(
        tiers.contains(&Match::AreaCode) && tiers.contains(&Match::Other),
        "the campaign spans tiers: {tiers:?}"
    );
}

/// Calls of uneven lengths, three live at a time, are swept many times while they last, yet the
/// history holds exactly one record per created call: status reads write nothing.
#[tokio::test(flavor = "multi_thread")]
async fn history_grows_with_attempts_not_with_status_reads() {
    let phones = numbers_in(212, 0, 12);
    let config = SandboxConfig {
        agents: agent_with(POOL),
        // 20–60 simulated seconds at 40×: each call is live for 0.5–1.5 real seconds.
        call_duration: "20..60".parse().unwrap(),
        time_scale: TimeScale::new(40.0).unwrap(),
        seed: 11,
        ..SandboxConfig::default()
    };
    let campaign = campaign_text(&format!(
        "[pacing]\ncalls_per_second = 50.0\nmax_live_calls = 3\nreads_per_second = 50.0\n\n\
         [rotation]\nstrategy = \"region\"\n\n{ALWAYS_OPEN}"
    ));
    let scenario = Scenario::start_with(config, &campaign, &csv_of(&phones)).await;
    scenario.run().await;

    let stats = scenario.sandbox.stats();
    let reads: u64 = stats
        .requests
        .iter()
        .filter(|(route, _)| route.starts_with("GET /v2/calls"))
        .map(|(_, n)| n)
        .sum();
    assert!(
        reads >= 2 * stats.creates_accepted,
        "the calls were read more often than created: {reads} reads for {} calls",
        stats.creates_accepted
    );
    let records: usize = history(&scenario).await.values().map(Vec::len).sum();
    assert_eq!(records as u64, stats.creates_accepted);
}
