//! Never twice, never lost (SPEC §5.1–5.2) under faults: the built binary against a sandbox that
//! answers 500s, drops connections after creating the call, answers too late, and sends bursts
//! of 429, killed with SIGKILL at a dozen random moments and resumed each time.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{AGENT, Scenario, Settings, csv_of, numbers_in, phone};
use outdial::sandbox::{AgentSpec, Bursts, Faults, Latency, Sandbox, SandboxConfig, Share};
use rand::{Rng, SeedableRng};

const POOL: &[&str] = &[
    "+12125550101",
    "+14155550102",
    "+13125550104",
    "+17135550105",
];

fn faulty_sandbox_config() -> SandboxConfig {
    let faults = Faults {
        server_errors: Share::new(0.03).unwrap(),
        dropped: Share::new(0.03).unwrap(),
        // Past the client's 15 s timeout; rare, as each one holds a live slot that long.
        slow: Share::new(0.002).unwrap(),
        slow_delay: Duration::from_secs(16),
        bursts: Bursts {
            chance: Share::new(0.01).unwrap(),
            retry_after: Some(1),
            ..Bursts::default()
        },
        ..Faults::default()
    };
    SandboxConfig {
        agents: vec![AgentSpec {
            id: AGENT.into(),
            numbers: POOL.iter().map(|n| phone(n)).collect(),
        }],
        latency: Latency {
            min: Duration::from_millis(1),
            max: Duration::from_millis(15),
        },
        call_duration: Duration::ZERO.into(),
        faults,
        seed: 2026,
        ..SandboxConfig::default()
    }
}

/// 2,100 contacts, twelve SIGKILLs at seeded random moments, a resume after each, then a run to
/// the end: no phone ever has two created calls (the sandbox's record is the judge; a 500 or a
/// 429 creates nothing, so retrying those is not calling twice), and the export shows every
/// contact exactly once, in a terminal state that agrees with the sandbox.
#[tokio::test(flavor = "multi_thread")]
async fn killed_a_dozen_times_under_faults_nobody_is_called_twice_or_lost() {
    let phones: Vec<String> = [212, 718, 415, 650, 312, 713, 907]
        .iter()
        .flat_map(|npa| numbers_in(*npa, 0, 300))
        .collect();
    let settings = Settings {
        calls_per_second: 300.0,
        max_live_calls: 24,
        ..Settings::default()
    };
    let scenario = Scenario::start(POOL, settings, &csv_of(&phones)).await;
    let scenario = Scenario {
        sandbox: Sandbox::start(faulty_sandbox_config()).await.unwrap(),
        ..scenario
    };
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);

    let mut kills = 0;
    let mut target = 0;
    while kills < 12 {
        let verb = if kills == 0 { "run" } else { "resume" };
        let mut child = scenario.outdial(&[verb, file, "-q"]).spawn().unwrap();
        target += rng.random_range(40..170);
        scenario.wait_for_requests(target).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..40))).await;
        if child.try_wait().unwrap().is_some() {
            break; // finished before this kill: nothing left to interrupt
        }
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        kills += 1;
    }
    assert!(
        kills >= 10,
        "only {kills} kills landed before the campaign ended"
    );
    let last = scenario
        .outdial(&["resume", file, "-q"])
        .output()
        .await
        .unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );

    let created = created_calls_per_phone(&scenario.sandbox).await;
    let twice: Vec<_> = created.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "phones with two created calls: {twice:?}");
    let states = exported_states(&scenario).await;
    assert_eq!(
        states.len(),
        phones.len(),
        "every contact exported exactly once"
    );
    for phone in &phones {
        match states.get(phone).map(String::as_str) {
            Some("done") => assert_eq!(
                created.get(phone),
                Some(&1),
                "{phone} is done but has no call"
            ),
            Some("failed") => assert_eq!(created.get(phone), None, "{phone} failed but was called"),
            other => panic!("{phone} ended {other:?}, not in a terminal state"),
        }
    }
    let stats = scenario.sandbox.stats();
    assert!(
        stats.server_errors > 0 && stats.dropped > 0,
        "the faults did happen: {stats:?}"
    );
}

async fn created_calls_per_phone(sandbox: &Sandbox) -> HashMap<String, usize> {
    let mut calls = HashMap::new();
    for call in sandbox
        .received()
        .await
        .into_iter()
        .filter(|c| c.call_id.is_some())
    {
        *calls.entry(call.phone.unwrap_or_default()).or_insert(0) += 1;
    }
    calls
}

/// phone → state, from `outdial export`; panics on a phone exported twice.
async fn exported_states(scenario: &Scenario) -> HashMap<String, String> {
    let out = scenario
        .outdial(&["export", scenario.campaign_file().to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let mut states = HashMap::new();
    for row in reader.records() {
        let row = row.unwrap();
        assert!(
            states
                .insert(row[0].to_owned(), row[3].to_owned())
                .is_none(),
            "{} exported twice",
            &row[0]
        );
    }
    states
}
