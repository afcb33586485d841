//! The journal's state machine, driven by the real dialer against a sandbox whose answers are
//! drawn by proptest (outcomes, 500s, dropped connections, 429 bursts, do-not-call entries,
//! rows removed between runs, attempt limits): every contact ends in exactly one terminal state
//! (`done`, `failed` or `skipped`), the run's own tally (moved along transition by transition)
//! equals a recount of the journal, and nobody gets more calls than `max_attempts`.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{ALWAYS_OPEN, Scenario, agent_with, campaign_text, csv_of, numbers_in, open_journal};
use outdial::dialer::Ending;
use outdial::journal::StateKind;
use outdial::report::Report;
use outdial::sandbox::{Bursts, Faults, SandboxConfig, Share, TimeScale};
use proptest::prelude::*;

const POOL: &[&str] = &["+12125550101", "+14155550102", "+13125550104"];

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    contacts: u32,
    outcomes: &'static str,
    server_errors: f64,
    dropped: f64,
    bursts: f64,
    max_attempts: u32,
    /// Every n-th contact is on the do-not-call list.
    do_not_call_every: usize,
    /// The first run is stopped after this many create requests; the second drops every
    /// `removed_every`-th row before resuming.
    stop_after: usize,
    removed_every: usize,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        4u32..24,
        prop::sample::select(vec![
            "completed=1",
            "no-answer=1",
            "completed=2,no-answer=1,busy=1",
            "left_voicemail=1,failed=1",
        ]),
        0.0..0.15f64,
        0.0..0.1f64,
        0.0..0.1f64,
        1u32..4,
        2usize..6,
        0usize..10,
        2usize..6,
    )
        .prop_map(
            |(
                seed,
                contacts,
                outcomes,
                server_errors,
                dropped,
                bursts,
                max_attempts,
                dnc,
                stop,
                removed,
            )| Case {
                seed,
                contacts,
                outcomes,
                server_errors,
                dropped,
                bursts,
                max_attempts,
                do_not_call_every: dnc,
                stop_after: stop,
                removed_every: removed,
            },
        )
}

fn sandbox(case: &Case) -> SandboxConfig {
    SandboxConfig {
        agents: agent_with(POOL),
        seed: case.seed,
        call_duration: Duration::from_secs(2).into(),
        time_scale: TimeScale::new(50.0).unwrap(),
        outcomes: case.outcomes.parse().unwrap(),
        faults: Faults {
            server_errors: Share::new(case.server_errors).unwrap(),
            dropped: Share::new(case.dropped).unwrap(),
            bursts: Bursts {
                chance: Share::new(case.bursts).unwrap(),
                // One 429 at a time: each doubles the gap between starts, and long bursts would
                // make a case last minutes without testing anything more.
                length: std::num::NonZeroU32::MIN,
                retry_after: Some(0),
            },
            ..Faults::default()
        },
        ..SandboxConfig::default()
    }
}

fn campaign(case: &Case) -> String {
    campaign_text(&format!(
        "[pacing]\ncalls_per_second = 300.0\nmax_live_calls = 8\n\n{ALWAYS_OPEN}\n\
         [retry]\nmax_attempts = {}\nredial_after_minutes = 0\nreconcile_grace_seconds = 0\n\n\
         [suppress]\nfiles = [\"dnc.txt\"]\n",
        case.max_attempts
    ))
}

async fn check(case: Case) {
    let phones = numbers_in(212, 0, case.contacts);
    let scenario = Scenario::start_with(sandbox(&case), &campaign(&case), &csv_of(&phones)).await;
    let listed: Vec<String> = phones
        .iter()
        .step_by(case.do_not_call_every)
        .cloned()
        .collect();
    std::fs::write(scenario.dir.path().join("dnc.txt"), listed.join("\n")).unwrap();

    let notes = common::Notes::default();
    let first = scenario
        .run_noting(&notes, scenario.wait_for_requests(case.stop_after))
        .await;
    assert_tally_is_the_journal(&scenario, &first.report).await;

    let kept: Vec<String> = phones
        .iter()
        .enumerate()
        .filter(|(i, _)| i % case.removed_every != 1)
        .map(|(_, p)| p.clone())
        .collect();
    scenario.write_contacts(&csv_of(&kept));
    let second = scenario.run_noting(&notes, std::future::pending()).await;

    assert!(
        matches!(second.ending, Ending::Complete),
        "{:?}",
        notes.all()
    );
    assert_tally_is_the_journal(&scenario, &second.report).await;
    let entries = scenario.journal_entries().await;
    let calls = scenario.calls_per_phone().await;
    for phone in &phones {
        let calls = calls.get(phone).copied().unwrap_or(0);
        assert!(
            calls <= case.max_attempts as usize,
            "{phone}: {calls} calls"
        );
        if listed.contains(phone) {
            assert_eq!(calls, 0, "{phone} is on the do-not-call list");
        }
        // A contact the first run never reached and the second no longer lists has no entry.
        let Some(entry) = entries.get(phone) else {
            assert!(!kept.contains(phone), "{phone} listed but never taken up");
            continue;
        };
        let kind = entry.state.kind();
        assert!(
            matches!(
                kind,
                StateKind::Done | StateKind::Failed | StateKind::Skipped
            ),
            "{phone} ended {kind:?}: {entry:?}"
        );
    }
}

/// The tally a run kept as it went equals the journal's own count, state by state.
async fn assert_tally_is_the_journal(scenario: &Scenario, report: &Report) {
    let journal = open_journal(&scenario.campaign()).await;
    let recount = Report::of_journal("test-campaign", &journal, jiff::Timestamp::now()).unwrap();
    let live: BTreeMap<_, _> = report
        .tally
        .states
        .iter()
        .filter(|(_, n)| **n > 0)
        .collect();
    let counted: BTreeMap<_, _> = recount
        .tally
        .states
        .iter()
        .filter(|(_, n)| **n > 0)
        .collect();
    assert_eq!(live, counted);
    assert_eq!(report.tally.attempts, recount.tally.attempts);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Whatever the vendor answers and whatever the next run's file drops, every contact ends in
    /// exactly one terminal state, and the run's tally is the journal's.
    #[test]
    fn every_contact_ends_in_exactly_one_terminal_state(case in cases()) {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(check(case));
    }
}
