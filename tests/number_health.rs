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
use std::future::{Future, pending};
use std::time::Duration;

use common::{ALWAYS_OPEN, Notes, agent_with, campaign_text, csv_of, numbers_in, phone};
use jiff::Timestamp;
use outdial::campaign::{ApiKey, Campaign, Overrides};
use outdial::clock::Clock;
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
    write_campaign_with(dir, pool, enabled, "max_attempts = 1");
}

/// [`write_campaign`] with `retry` as the `[retry]` keys.
fn write_campaign_with(dir: &TempDir, pool: &[&str], enabled: bool, retry: &str) {
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
{retry}
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
    let notes = Notes::default();
    let ending = run_until(dir, sandbox, contacts, &notes, Clock::System, pending()).await;
    assert!(matches!(ending, dialer::Ending::Complete), "{ending:?}");
    notes
}

/// Runs the campaign over `contacts` against `sandbox`, reading `clock`, until it ends or
/// `shutdown` resolves, telling `notes` what it says.
async fn run_until(
    dir: &TempDir,
    sandbox: &Sandbox,
    contacts: &[String],
    notes: &Notes,
    clock: Clock,
    shutdown: impl Future<Output = ()>,
) -> dialer::Ending {
    std::fs::write(dir.path().join("contacts.csv"), csv_of(contacts)).unwrap();
    let campaign = campaign(dir, sandbox);
    let journal = common::open_journal(&campaign).await;
    dialer::survey(&campaign, &journal)
        .await
        .expect("valid contacts");
    let api = outdial::api::Synthflow::new(&campaign.api.base_url, ApiKey::new("test-key"))
        .expect("a valid URL");
    let pool = dialer::resolve_pool(&campaign, &api).await.expect("a pool");
    let finish = dialer::Dialer::new(
        &campaign,
        api,
        &journal,
        &pool,
        outdial::budget::Share::alone(&campaign.pacing),
        notes,
    )
    .expect("the dialer starts")
    .with_clock(clock)
    .run(shutdown)
    .await
    .expect("the run succeeds");
    journal.close().await;
    finish.ending
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

/// A redial is sticky to its number, unless that number rests: a resumed run rests a number at
/// once from the history earlier runs left, and the redials waiting for it go out from the rest
/// of the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sticky_redial_moves_off_a_resting_number() {
    let dir = TempDir::new().unwrap();
    let unanswered = sandbox(Outcome::NoAnswer).await;
    let answering = sandbox(Outcome::Completed).await;
    let mut all = vec![BURNT];
    all.extend(GOOD);
    let waiting = numbers_in(503, 0, 12);
    let retry = "max_attempts = 2\nredial_after_minutes = 60";

    // Run 1: twelve unanswered calls from the burnt number alone; each contact waits an hour
    // for its redial, sticky to that number. The run is stopped once it says it waits.
    write_campaign_with(&dir, &[BURNT], true, retry);
    let notes = Notes::default();
    let waits = notes.said("nobody to call now");
    run_until(&dir, &unanswered, &waiting, &notes, Clock::System, waits).await;

    // Run 2: the rest of the pool makes thirty calls that all complete; the redials still wait.
    write_campaign_with(&dir, &GOOD, true, retry);
    let mut contacts = waiting.clone();
    contacts.extend(numbers_in(503, 100, 30));
    let notes = Notes::default();
    let waits = notes.said("nobody to call now");
    run_until(&dir, &answering, &contacts, &notes, Clock::System, waits).await;
    let (rests, _) = journalled(&dir, &answering).await;
    assert!(rests.is_empty(), "{rests:?}");

    // Run 3, two hours on: the whole pool; the redials are due, and the burnt number rests as
    // the run starts, so each goes out from another number.
    write_campaign_with(&dir, &all, true, retry);
    let later = Clock::starting_at(Timestamp::now() + jiff::SignedDuration::from_hours(2));
    let notes = Notes::default();
    let ending = run_until(&dir, &answering, &contacts, &notes, later, pending()).await;
    assert!(matches!(ending, dialer::Ending::Complete), "{ending:?}");
    let (rests, _) = journalled(&dir, &answering).await;
    assert_eq!(rests.len(), 1, "{rests:?}");
    assert_eq!(rests[0].number, phone(BURNT));
    let redials: Vec<_> = answering
        .received()
        .await
        .into_iter()
        .filter(|c| c.call_id.is_some() && waiting.contains(c.phone.as_ref().unwrap()))
        .collect();
    assert_eq!(
        redials.len(),
        waiting.len(),
        "each waiting contact redialled once"
    );
    for call in &redials {
        assert_ne!(call.from_phone_number.as_deref(), Some(BURNT), "{call:?}");
    }
    let entries: Vec<_> = {
        let campaign = campaign(&dir, &answering);
        let journal = common::open_journal(&campaign).await;
        let entries = journal.entries().map(|e| e.expect("readable")).collect();
        journal.close().await;
        entries
    };
    for entry in entries
        .iter()
        .filter(|e| waiting.contains(&e.phone().to_string()))
    {
        assert_eq!(entry.attempts, 2, "{entry:?}");
        assert_ne!(entry.caller_id, Some(phone(BURNT)), "{entry:?}");
    }
}
