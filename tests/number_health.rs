//! Number health in a real campaign on the in-process sandbox: a caller ID whose calls failed is
//! rested once the pool has shown what a healthy number does, is never chosen while it rests
//! (in that run and after a resume), `pool health --json` says so, and `enabled = false` turns it
//! all off.
//!
//! The sandbox answers the same whatever number calls, so the failing number makes its calls
//! against a sandbox whose calls all fail (run 1, from that number alone), and the campaign then
//! goes on against one whose calls all complete, from the whole pool.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{ALWAYS_OPEN, Notes, agent_with, campaign_text, csv_of, numbers_in, phone};
use jiff::Timestamp;
use outdial::campaign::{ApiKey, Campaign, Overrides};
use outdial::dialer;
use outdial::health::Rest;
use outdial::journal::Journal;
use outdial::sandbox::{CallLength, Outcome, OutcomeMix, Sandbox, SandboxConfig, TimeScale};
use serde_json::Value;
use tempfile::TempDir;

const BURNT: &str = "+12065550100";
const GOOD: [&str; 3] = ["+14155550101", "+12125550102", "+13125550103"];

/// A sandbox whose calls all reach `outcome`, the failing one at once, the completed ones after
/// 30 simulated seconds (0.1 s), so that they are not short calls.
async fn sandbox(outcome: Outcome) -> Sandbox {
    let mut pool = vec![BURNT];
    pool.extend(GOOD);
    let config = SandboxConfig {
        agents: agent_with(&pool),
        call_duration: match outcome {
            Outcome::Completed => CallLength::fixed(Duration::from_secs(30)),
            _ => Duration::ZERO.into(),
        },
        time_scale: TimeScale::new(300.0).expect("a valid scale"),
        outcomes: OutcomeMix::only(outcome),
        ..SandboxConfig::default()
    };
    Sandbox::start(config).await.expect("the sandbox starts")
}

/// The campaign over `pool`, round-robin, one attempt per contact, with small `[health]` keys.
fn write_campaign(dir: &TempDir, pool: &[&str], enabled: bool) {
    let numbers: Vec<String> = pool.iter().map(|n| format!("\"{n}\"")).collect();
    let tables = format!(
        r#"[pacing]
calls_per_second = 500
max_live_calls = 2
reads_per_second = 50

[rotation]
strategy = "round-robin"
numbers = [{}]

{ALWAYS_OPEN}
[retry]
max_attempts = 1
reconcile_grace_seconds = 1

[health]
enabled = {enabled}
window_calls = 40
min_calls = 10
rest_days = 14
max_resting_share = 0.25
"#,
        numbers.join(", ")
    );
    std::fs::write(dir.path().join("campaign.toml"), campaign_text(&tables)).unwrap();
}

fn campaign(dir: &TempDir, sandbox: &Sandbox) -> Campaign {
    let overrides = Overrides {
        api_base: Some(sandbox.synthflow_base()),
    };
    Campaign::load(&dir.path().join("campaign.toml"), &overrides).expect("a valid campaign")
}

/// Runs the campaign over `contacts` against `sandbox` to its end, keeping what it says.
async fn run(dir: &TempDir, sandbox: &Sandbox, contacts: &[String]) -> Notes {
    std::fs::write(dir.path().join("contacts.csv"), csv_of(contacts)).unwrap();
    let campaign = campaign(dir, sandbox);
    let journal = common::open_journal(&campaign).await;
    dialer::survey(&campaign, &journal)
        .await
        .expect("valid contacts");
    let api = outdial::api::Synthflow::new(&campaign.api.base_url, ApiKey::new("test-key"))
        .expect("a valid URL");
    let pool = dialer::resolve_pool(&campaign, &api).await.expect("a pool");
    let notes = Notes::default();
    let finish = dialer::Dialer::new(&campaign, api, &journal, &pool, &notes)
        .expect("the dialer starts")
        .run(std::future::pending())
        .await
        .expect("the run succeeds");
    assert!(matches!(finish.ending, dialer::Ending::Complete));
    journal.close().await;
    notes
}

/// What the journal holds: the rests decided, and each attempt's caller ID and moment.
async fn journalled(dir: &TempDir, sandbox: &Sandbox) -> (Vec<Rest>, Vec<(String, Timestamp)>) {
    let campaign = campaign(dir, sandbox);
    let journal: Journal = common::open_journal(&campaign).await;
    let rests = journal.rests().map(|r| r.expect("readable")).collect();
    let attempts = journal
        .attempts()
        .map(|a| a.expect("readable"))
        .map(|a| (a.caller_id.to_string(), a.sent_at))
        .collect();
    journal.close().await;
    (rests, attempts)
}

/// Calls the sandbox created, per caller ID, with the moment each create arrived.
async fn created_by_caller(sandbox: &Sandbox) -> HashMap<String, Vec<i64>> {
    let mut calls: HashMap<String, Vec<i64>> = HashMap::new();
    for call in sandbox.received().await {
        if call.call_id.is_some() {
            let caller = call.from_phone_number.unwrap_or_default();
            calls.entry(caller).or_default().push(call.at_ms);
        }
    }
    calls
}

/// `outdial pool health campaign.toml` with `extra` flags, its standard output.
async fn pool_health(dir: &TempDir, sandbox: &Sandbox, extra: &[&str]) -> Vec<u8> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_outdial"))
        .args(["pool", "health", "campaign.toml"])
        .args(extra)
        .current_dir(dir.path())
        .env("OUTDIAL_API_BASE", sandbox.synthflow_base())
        .env_remove("RUST_LOG")
        .output()
        .await
        .expect("the binary runs");
    assert!(
        output.status.success(),
        "pool health failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A caller ID whose calls failed is rested once the rest of the pool has `min_calls` calls,
/// within `min_calls` of its own calls; it is never chosen while it rests, in that run or after
/// a resume; the rest is journalled with its figures, said in one line, and `pool health`
/// shows it; with `enabled = false` it is called again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_number_rests_and_is_never_chosen_while_it_rests() {
    let dir = TempDir::new().unwrap();
    let failing = sandbox(Outcome::Failed).await;
    let answering = sandbox(Outcome::Completed).await;
    let mut all = vec![BURNT];
    all.extend(GOOD);

    // Run 1: twelve calls from the burnt number alone, all failed. One number is the whole
    // pool, so there is nothing to judge it against: it must not rest.
    write_campaign(&dir, &[BURNT], true);
    run(&dir, &failing, &numbers_in(503, 0, 12)).await;
    let (rests, _) = journalled(&dir, &failing).await;
    assert!(
        rests.is_empty(),
        "rested with no pool to compare: {rests:?}"
    );

    // Run 2: the whole pool against a sandbox where every call completes.
    write_campaign(&dir, &all, true);
    let notes = run(&dir, &answering, &numbers_in(503, 100, 60)).await;
    let (rests, attempts) = journalled(&dir, &answering).await;
    assert_eq!(rests.len(), 1, "one rest: {rests:?}");
    let rest = &rests[0];
    assert_eq!(rest.number, phone(BURNT));
    assert!(
        rest.figures.attempts >= 10 && rest.pool.attempts >= 10,
        "{rest:?}"
    );
    assert!(
        rest.figures.connection.rate < rest.pool.connection.rate,
        "{rest:?}"
    );
    assert!(rest.z_connection > outdial::health::CRITICAL_Z, "{rest:?}");
    let days = rest.until.duration_since(rest.at).as_hours() / 24;
    assert_eq!(days, 14, "{rest:?}");
    let said: Vec<String> = notes
        .all()
        .into_iter()
        .filter(|n| n.contains(&format!("caller ID {BURNT} rested until")))
        .collect();
    assert_eq!(said.len(), 1, "said once: {:?}", notes.all());

    // Never chosen while it rests: neither the journal nor the sandbox has a call from it
    // after the decision, and it was decided within min_calls of its own calls in this run.
    let created = created_by_caller(&answering).await;
    let burnt_calls = created.get(BURNT).cloned().unwrap_or_default();
    let rested_ms = rest.at.as_millisecond();
    assert!(
        burnt_calls.iter().all(|&at| at <= rested_ms),
        "called from {BURNT} after it was rested at {rested_ms}: {burnt_calls:?}"
    );
    assert!(
        burnt_calls.len() <= 10,
        "rested late: {} calls",
        burnt_calls.len()
    );
    let late: Vec<_> = attempts
        .iter()
        .filter(|(caller, at)| caller == BURNT && *at >= rest.at)
        .collect();
    assert!(
        late.is_empty(),
        "journalled attempts after the rest: {late:?}"
    );
    // The other numbers took the calls, so nobody was lost: all 60 were called.
    let total: usize = created.values().map(Vec::len).sum();
    assert_eq!(total, 60);

    // Run 3, a resume on new contacts: the rest comes back from the journal.
    let before = created_by_caller(&answering).await;
    run(&dir, &answering, &numbers_in(503, 200, 20)).await;
    let after = created_by_caller(&answering).await;
    let count = |calls: &HashMap<String, Vec<i64>>| calls.get(BURNT).map_or(0, Vec::len);
    assert_eq!(
        count(&after),
        count(&before),
        "a resumed run chose the resting number"
    );
    let (rests_after, _) = journalled(&dir, &answering).await;
    assert_eq!(rests_after, rests, "the resume decided again");

    // `pool health --json` says which number rests, until when and why.
    let json = pool_health(&dir, &answering, &["--json"]).await;
    let view: Value = serde_json::from_slice(&json).expect("pool health prints JSON");
    let numbers = view["numbers"].as_array().expect("numbers");
    assert_eq!(numbers.len(), 4, "{view}");
    for number in numbers {
        let is_burnt = number["number"] == BURNT;
        let state = if is_burnt { "resting" } else { "active" };
        assert_eq!(number["state"], state, "{number}");
        assert!(number["connection"]["low"].as_f64() <= number["connection"]["rate"].as_f64());
        if is_burnt {
            assert_eq!(number["why"], rest.why.as_str());
            let until: Timestamp = number["resting_until"].as_str().unwrap().parse().unwrap();
            assert_eq!(until, rest.until);
        } else {
            assert!(number["attempts"].as_u64().unwrap() >= 10, "{number}");
        }
    }
    assert_eq!(view["policy"]["min_calls"], 10);
    let text = String::from_utf8(pool_health(&dir, &answering, &[]).await).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(BURNT))
        .expect("a line per number");
    assert!(line.contains("resting until"), "{text}");
    assert!(text.contains("1 resting"), "{text}");

    // Run 4, health off: the resting number is in rotation again.
    write_campaign(&dir, &all, false);
    run(&dir, &answering, &numbers_in(503, 300, 8)).await;
    let off = created_by_caller(&answering).await;
    assert!(
        count(&off) > count(&after),
        "health off still rested {BURNT}"
    );
}
