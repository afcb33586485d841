//! Never twice, never lost (SPEC §5.1–5.2) under faults: the built binary against a sandbox that
//! answers 500s, drops connections after creating the call, answers too late, sends bursts of
//! 429, runs its clock behind ours, and leaves some calls unanswered so they are redialled;
//! killed with SIGKILL at a dozen random moments and resumed each time.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{AGENT, ALWAYS_OPEN, Scenario, campaign_text, csv_of, numbers_in, phone};
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
        // The vendor's clock 0.7 s behind ours: a lost create's call starts "before" its mark.
        clock_skew_ms: -700,
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
        // Unanswered calls are redialled (see the campaign's [retry]), so a redial must never be
        // mistaken for a second call of one attempt, nor an attempt's call for a redial's.
        outcomes: "completed=7,no-answer=3".parse().unwrap(),
        faults,
        seed: 2026,
        ..SandboxConfig::default()
    }
}

/// The campaign: fast, always open, and one redial at once for an unanswered call.
fn campaign() -> String {
    campaign_text(&format!(
        "[pacing]\ncalls_per_second = 300.0\nmax_live_calls = 24\n\n\
         [rotation]\nstrategy = \"region\"\n\n{ALWAYS_OPEN}\n\
         [retry]\nreconcile_grace_seconds = 1\nmax_attempts = 2\nredial_after_minutes = 0\n"
    ))
}

/// 2,100 contacts, twelve SIGKILLs at seeded random moments, a resume after each, then a run to
/// the end: no attempt ever has two created calls, and a second call goes only to a contact
/// whose first call nobody answered (the sandbox's record is the judge; a 500 or a 429 creates
/// nothing, so retrying those is not calling twice); the export shows every contact exactly
/// once, in a terminal state that agrees with the sandbox.
#[tokio::test(flavor = "multi_thread")]
async fn killed_a_dozen_times_under_faults_nobody_is_called_twice_or_lost() {
    killed_a_dozen_times(None).await;
}

/// The same through the shared store (PostgreSQL, `OUTDIAL_TEST_PG_URL`; skipped without it
/// outside CI): each killed process leaves its leases, caller-ID starts and campaign lock
/// behind in the store, its journal is kept there, and every other run is resumed on another
/// "host" (another directory, with its own copy of the campaign and no journal on its disk).
/// The guarantees hold all the same.
#[tokio::test(flavor = "multi_thread")]
async fn killed_a_dozen_times_through_the_shared_store_nobody_is_called_twice_or_lost() {
    let Some(db) = common::pg::database(
        "crash::killed_a_dozen_times_through_the_shared_store_nobody_is_called_twice_or_lost",
    )
    .await
    else {
        return;
    };
    killed_a_dozen_times(Some(&db)).await;
    db.drop().await;
}

/// Where the crash test runs outdial: one host, or through the store two hosts taking turns.
struct Hosts<'a> {
    scenario: &'a Scenario,
    store: Option<String>,
    /// The second host's directory: a copy of the campaign file and its contacts.
    other: Option<tempfile::TempDir>,
}

impl<'a> Hosts<'a> {
    fn new(scenario: &'a Scenario, store: Option<&common::pg::TestDb>) -> Hosts<'a> {
        let other = store.map(|_| {
            let dir = tempfile::TempDir::new().unwrap();
            for file in ["campaign.toml", "contacts.csv"] {
                std::fs::copy(scenario.dir.path().join(file), dir.path().join(file)).unwrap();
            }
            dir
        });
        Hosts {
            scenario,
            store: store.map(|db| db.url_text()),
            other,
        }
    }

    /// outdial on the host whose turn `turn` is, on its own copy of the campaign.
    fn outdial(&self, turn: usize, verb: &str) -> tokio::process::Command {
        let dir = match &self.other {
            Some(other) if turn % 2 == 1 => other.path(),
            _ => self.scenario.dir.path(),
        };
        let file = dir.join("campaign.toml");
        let mut command = self.scenario.outdial(&[verb, file.to_str().unwrap(), "-q"]);
        if let Some(url) = &self.store {
            command.env("OUTDIAL_STORE_URL", url);
        }
        command
    }

    async fn journal(&self) -> outdial::journal::Journal {
        common::open_journal_in(&self.scenario.campaign(), self.store.as_deref()).await
    }
}

/// The crash test, with the account shared through `store` when one is given.
async fn killed_a_dozen_times(store: Option<&common::pg::TestDb>) {
    let phones: Vec<String> = [212, 718, 415, 650, 312, 713, 907]
        .iter()
        .flat_map(|npa| numbers_in(*npa, 0, 300))
        .collect();
    let scenario =
        Scenario::start_with(faulty_sandbox_config(), &campaign(), &csv_of(&phones)).await;
    let hosts = Hosts::new(&scenario, store);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);

    let mut kills = 0;
    let mut target = 0;
    while kills < 12 {
        let verb = if kills == 0 { "run" } else { "resume" };
        let mut child = hosts.outdial(kills, verb).spawn().unwrap();
        target += rng.random_range(40..170);
        scenario.wait_for_requests(target).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..40))).await;
        if let Some(status) = child.try_wait().unwrap() {
            // Finished before this kill: nothing left to interrupt. A run that ended by
            // itself must have ended well; its stderr is above in the test's output.
            assert!(
                status.success(),
                "{verb} #{kills} ended by itself with {status} before its kill"
            );
            break;
        }
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        kills += 1;
    }
    assert!(
        kills >= 10,
        "only {kills} kills landed before the campaign ended"
    );
    let last = hosts.outdial(kills, "resume").output().await.unwrap();
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );

    let calls = created_calls_per_phone(&scenario.sandbox).await;
    let mut redialled = 0;
    for (phone, ids) in &calls {
        assert!(ids.len() <= 2, "{phone} has {} created calls", ids.len());
        if let [first, _] = ids.as_slice() {
            let status = call_status(&scenario.sandbox, first).await;
            assert_eq!(
                status,
                "no-answer",
                "{phone} was called again after a call that ended {status}; {}",
                what_happened_to(&hosts, phone).await
            );
            redialled += 1;
        }
    }
    assert!(
        redialled > 0,
        "no contact was redialled: the redials were not tried"
    );
    let created: HashMap<&String, usize> = calls.iter().map(|(p, ids)| (p, ids.len())).collect();
    let states = exported_states(&hosts).await;
    assert_eq!(
        states.len(),
        phones.len(),
        "every contact exported exactly once"
    );
    for phone in &phones {
        match states.get(phone).map(String::as_str) {
            Some("done") => assert!(
                created.get(phone).is_some_and(|n| *n >= 1),
                "{phone} is done but has no call"
            ),
            // Failed: no attempt was answered (a redial whose create made nothing fails too).
            Some("failed") => {
                for id in calls.get(phone).into_iter().flatten() {
                    let status = call_status(&scenario.sandbox, id).await;
                    assert_eq!(
                        status, "no-answer",
                        "{phone} failed after a call that ended {status}"
                    );
                }
            }
            other => panic!("{phone} ended {other:?}, not in a terminal state"),
        }
    }
    let stats = scenario.sandbox.stats();
    assert!(
        stats.server_errors > 0 && stats.dropped > 0,
        "the faults did happen: {stats:?}"
    );
    history_matches_the_vendor(&hosts).await;
    if let Some(db) = store {
        for dir in [scenario.dir.path(), hosts.other.as_ref().unwrap().path()] {
            let journal = dir.join(".outdial").join("test-campaign");
            assert!(
                journal.join("lock").exists() && !journal.join("sled").exists(),
                "each host ran with its journal in the store, none on its disk: {journal:?}"
            );
        }
        let records = db
            .inspect("SELECT count(*) FROM journal_records WHERE campaign = 'test-campaign'")
            .await;
        assert!(records > phones.len() as i64, "the store holds the journal");
    }
}

/// The attempt history survived every kill: each call the vendor created is one attempt, from
/// the same caller ID, ended as the vendor says; an attempt with no end is one whose create may
/// have made a call that a look-up then did not find; attempt numbers never repeat.
async fn history_matches_the_vendor(hosts: &Hosts<'_>) {
    let scenario = hosts.scenario;
    let journal = hosts.journal().await;
    let mut ended: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut unended: HashMap<String, usize> = HashMap::new();
    let mut numbers: HashMap<String, Vec<u32>> = HashMap::new();
    for attempt in journal.attempts() {
        let attempt = attempt.expect("every attempt record reads back");
        let callee = attempt.callee.as_str().to_owned();
        numbers
            .entry(callee.clone())
            .or_default()
            .push(attempt.number);
        match attempt.end {
            Some(end) => ended
                .entry((callee, attempt.caller_id.as_str().to_owned()))
                .or_default()
                .push(end.status),
            None => *unended.entry(callee).or_default() += 1,
        }
    }
    journal.close().await;
    let mut vendor: HashMap<(String, String), Vec<String>> = HashMap::new();
    for call in scenario.sandbox.received().await {
        if let Some(id) = call.call_id {
            let key = (
                call.phone.unwrap_or_default(),
                call.from_phone_number.unwrap_or_default(),
            );
            vendor
                .entry(key)
                .or_default()
                .push(call_status(&scenario.sandbox, &id).await);
        }
    }
    for statuses in vendor.values_mut().chain(ended.values_mut()) {
        statuses.sort();
    }
    assert_eq!(
        ended, vendor,
        "ended attempts are the vendor's calls, status for status"
    );
    for (callee, n) in &unended {
        let made: usize = vendor
            .iter()
            .filter(|((to, _), _)| to == callee)
            .map(|(_, s)| s.len())
            .sum();
        let attempts = numbers[callee].len();
        assert_eq!(
            attempts,
            made + n,
            "{callee}: an attempt without an end has a call"
        );
    }
    for (callee, mut seen) in numbers {
        let count = seen.len();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), count, "{callee} has an attempt number twice");
    }
}

/// What the sandbox and the journal know of `phone`, for a failure's message: every request for
/// it, its exported row, its attempts and its entry.
async fn what_happened_to(hosts: &Hosts<'_>, phone: &str) -> String {
    let scenario = hosts.scenario;
    let requests: Vec<_> = scenario
        .sandbox
        .received()
        .await
        .into_iter()
        .filter(|c| c.phone.as_deref() == Some(phone))
        .map(|c| (c.at_ms, c.status, c.call_id, c.fault))
        .collect();
    let export = hosts.outdial(0, "export").output().await.unwrap();
    let row: Vec<_> = String::from_utf8_lossy(&export.stdout)
        .lines()
        .filter(|l| l.contains(phone) || l.starts_with("line"))
        .map(str::to_owned)
        .collect();
    let journal = hosts.journal().await;
    let attempts: Vec<String> = journal
        .attempts()
        .filter_map(Result::ok)
        .filter(|a| a.callee.as_str() == phone)
        .map(|a| format!("{a:?}"))
        .collect();
    let entry = journal.get(&common::phone(phone)).unwrap();
    format!("requests {requests:?}; export {row:?}; attempts {attempts:?}; entry {entry:?}")
}

/// The calls the sandbox created, per callee, in the order their requests arrived.
async fn created_calls_per_phone(sandbox: &Sandbox) -> HashMap<String, Vec<String>> {
    let mut received = sandbox.received().await;
    received.sort_by_key(|c| c.at_ms);
    let mut calls: HashMap<String, Vec<String>> = HashMap::new();
    for call in received {
        if let Some(id) = call.call_id {
            calls
                .entry(call.phone.unwrap_or_default())
                .or_default()
                .push(id);
        }
    }
    calls
}

/// A call's status as the vendor reports it, over HTTP.
async fn call_status(sandbox: &Sandbox, call_id: &str) -> String {
    let url = format!("{}/calls/{call_id}", sandbox.synthflow_base());
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

/// phone → state, from `outdial export`; panics on a phone exported twice.
async fn exported_states(hosts: &Hosts<'_>) -> HashMap<String, String> {
    let out = hosts.outdial(0, "export").output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (phone, state) = (column("phone"), column("state"));
    let mut states = HashMap::new();
    for row in reader.records() {
        let row = row.unwrap();
        assert!(
            states
                .insert(row[phone].to_owned(), row[state].to_owned())
                .is_none(),
            "{} exported twice",
            &row[phone]
        );
    }
    states
}
