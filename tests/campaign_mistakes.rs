//! Campaign-wide mistakes stop the run, not the contacts (issue 8, point 7): when the same
//! refusal hits create request after create request (an agent id typo, a base URL with the wrong
//! path), outdial stops after a few requests, exits 2 naming the cause and the fix, and leaves
//! every contact pending with no attempt used, so that the fixed campaign calls everyone once.

mod common;

use common::{AGENT, ALWAYS_OPEN, Scenario, agent_with, campaign_text, csv_of, numbers_in};
use outdial::journal::State;
use outdial::sandbox::SandboxConfig;

const POOL: &[&str] = &["+12125550101", "+14155550102"];
/// Requests in flight at once: the run may send this many beyond the ones that prove the streak.
const LIVE: usize = 4;

/// A campaign for `agent` over the explicit pool (so no agent look-up happens before the first
/// create request: the create requests are what meet the mistake).
fn campaign(agent: &str) -> String {
    let numbers: Vec<String> = POOL.iter().map(|n| format!("\"{n}\"")).collect();
    campaign_text(&format!(
        "[pacing]\ncalls_per_second = 200.0\nmax_live_calls = {LIVE}\n\n\
         [rotation]\nstrategy = \"region\"\nnumbers = [{}]\n\n{ALWAYS_OPEN}",
        numbers.join(", ")
    ))
    .replace(
        &format!("agent = \"{AGENT}\""),
        &format!("agent = \"{agent}\""),
    )
}

async fn scenario(agent: &str, phones: &[String]) -> Scenario {
    let config = SandboxConfig {
        agents: agent_with(POOL),
        call_duration: std::time::Duration::ZERO.into(),
        ..SandboxConfig::default()
    };
    Scenario::start_with(config, &campaign(agent), &csv_of(phones)).await
}

/// Runs the real binary against `base` and returns (exit code, stdout, stderr).
async fn run(scenario: &Scenario, base: &str) -> (i32, String, String) {
    let file = scenario.campaign_file();
    let out = scenario
        .outdial(&["run", "--quiet", file.to_str().unwrap()])
        .env("OUTDIAL_API_BASE", base)
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every contact is pending, with no attempt counted and no error that would settle it.
async fn assert_all_pending(scenario: &Scenario, phones: &[String]) {
    let entries = scenario.journal_entries().await;
    for phone in phones {
        // A contact the stopped run never reached has no entry yet: pending all the same.
        if let Some(entry) = entries.get(phone) {
            assert_eq!(entry.state, State::Pending, "{entry:?}");
            assert_eq!(entry.attempts, 0, "{entry:?}");
        }
    }
}

/// An agent id typo with an explicit pool: the run stops after a few refused creates (never
/// one per contact), exits 2 naming the agent and the key to fix, creates no call, and leaves
/// every contact pending; with the id fixed, the next run calls each contact exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_agent_stops_the_run_and_the_fixed_campaign_calls_everyone_once() {
    let phones = numbers_in(212, 0, 40);
    let scenario = scenario("agent-typo", &phones).await;
    let base = scenario.sandbox.synthflow_base();

    let (code, _, stderr) = run(&scenario, &base).await;

    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("agent-typo"), "{stderr}");
    assert!(stderr.contains("check `agent`"), "{stderr}");
    let received = scenario.sandbox.received().await;
    assert!(
        received.len() <= 3 + LIVE,
        "{} create requests for a campaign-wide refusal",
        received.len()
    );
    assert!(received.iter().all(|c| c.call_id.is_none()));
    assert_all_pending(&scenario, &phones).await;

    std::fs::write(scenario.campaign_file(), campaign(AGENT)).unwrap();
    let (code, stdout, stderr) = run(&scenario, &base).await;

    assert_eq!(code, 0, "{stdout}{stderr}");
    scenario.assert_each_called_once(&phones).await;
}

/// A base URL with the wrong path (a 404 on every route): the run stops, exits 2 and points at
/// `api.base_url`; the right base URL then calls each contact exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_base_path_stops_the_run_and_the_right_one_calls_everyone_once() {
    let phones = numbers_in(415, 0, 40);
    let scenario = scenario(AGENT, &phones).await;
    let base = scenario.sandbox.synthflow_base();

    let (code, _, stderr) = run(&scenario, &format!("{base}/v3")).await;

    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("api.base_url"), "{stderr}");
    assert!(stderr.contains("404"), "{stderr}");
    assert_all_pending(&scenario, &phones).await;

    let (code, stdout, stderr) = run(&scenario, &base).await;

    assert_eq!(code, 0, "{stdout}{stderr}");
    scenario.assert_each_called_once(&phones).await;
}

/// Refusals that are the contacts' own (a 400 "cannot be reached", the same text for each, from
/// the sandbox's `unreachable` fault) never stop the run, even many in a row or all of them:
/// those contacts end `failed` with the vendor's reason after one request each, the others are
/// called once, and the run completes.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_of_the_contacts_own_fail_only_those_contacts() {
    for share in [0.4, 1.0] {
        let phones = numbers_in(212, 0, 30);
        let mut config = SandboxConfig {
            agents: agent_with(POOL),
            call_duration: std::time::Duration::ZERO.into(),
            seed: 11,
            ..SandboxConfig::default()
        };
        config.faults.unreachable = outdial::sandbox::Share::new(share).unwrap();
        let scenario = Scenario::start_with(config, &campaign(AGENT), &csv_of(&phones)).await;

        let finish = scenario.run().await;

        assert!(
            matches!(finish.ending, outdial::dialer::Ending::Complete),
            "share {share}: {:?}",
            finish.ending
        );
        let received = scenario.sandbox.received().await;
        let refused: Vec<String> = received
            .iter()
            .filter(|c| c.status == 400)
            .filter_map(|c| c.phone.clone())
            .collect();
        assert!(!refused.is_empty(), "share {share}: nothing was refused");
        assert_eq!(
            received.len(),
            phones.len(),
            "share {share}: one request each"
        );
        let entries = scenario.journal_entries().await;
        for phone in &phones {
            let entry = &entries[phone];
            if refused.contains(phone) {
                let State::Failed { reason } = &entry.state else {
                    panic!("share {share}: {entry:?}");
                };
                assert!(reason.contains("cannot be reached"), "{reason}");
            } else {
                assert!(matches!(entry.state, State::Done { .. }), "{entry:?}");
            }
        }
    }
}
