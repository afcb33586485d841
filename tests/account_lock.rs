//! One account, one run per machine without a shared store (issue 13): while a run holds the
//! account, a second run of another campaign on the same account is refused with exit 2, naming
//! the holder and the ways forward, and calls nobody; a run on another account is not refused;
//! and a run killed with SIGKILL blocks nobody, though its lock file stays behind.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Scenario, Settings, csv_of, numbers_in};

const POOL: &[&str] = &["+12125550101"];

/// A second campaign beside the scenario's own, on the same agent and account: `other.toml`
/// over `phones`.
fn second_campaign(scenario: &Scenario, phones: &[String]) -> PathBuf {
    let first = std::fs::read_to_string(scenario.campaign_file()).unwrap();
    let text = first
        .replace("name = \"test-campaign\"", "name = \"other-campaign\"")
        .replace("contacts = \"contacts.csv\"", "contacts = \"other.csv\"");
    assert_ne!(text, first, "the second campaign differs from the first");
    std::fs::write(scenario.dir.path().join("other.csv"), csv_of(phones)).unwrap();
    let file = scenario.dir.path().join("other.toml");
    std::fs::write(&file, text).unwrap();
    file
}

/// The account lock files under the scenario's state directory.
fn lock_files(state: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(state.join("accounts")) {
        Ok(listing) => listing.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Waits (bounded) until a lock file names `pid` as its holder: the run has taken the account.
async fn wait_for_holder(state: &Path, pid: u32) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(60);
    let needle = format!("\"pid\":{pid}");
    loop {
        for file in lock_files(state) {
            if std::fs::read_to_string(&file).is_ok_and(|text| text.contains(&needle)) {
                return file;
            }
        }
        assert!(
            Instant::now() < deadline,
            "run {pid} never took the account"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Starts the scenario's own campaign as the run that holds the account (its progress unshown).
fn spawn_holder(scenario: &Scenario) -> tokio::process::Child {
    scenario
        .outdial(&["run", scenario.campaign_file().to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// A slow campaign (one call a second over 30 contacts) keeps its run going while the test
/// starts others.
async fn slow_scenario() -> Scenario {
    let settings = Settings {
        calls_per_second: 1.0,
        ..Settings::default()
    };
    Scenario::start(POOL, settings, &csv_of(&numbers_in(212, 0, 30))).await
}

/// While one run holds the account, a run of another campaign on it exits 2 naming the holder
/// (pid, campaign, host, since when) and both ways forward, and calls none of its contacts.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_on_the_same_account_is_refused() {
    let scenario = slow_scenario().await;
    let state = scenario.dir.path().join("state");
    let mut first = spawn_holder(&scenario);
    let pid = first.id().unwrap();
    wait_for_holder(&state, pid).await;
    let others = numbers_in(415, 0, 3);
    let other = second_campaign(&scenario, &others);
    let out = scenario
        .outdial(&["run", other.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for words in [
        format!("pid {pid}").as_str(),
        "campaign `test-campaign`",
        "host ",
        "since ",
        "run both campaigns in one process",
        "[store] url = \"postgres://",
    ] {
        assert!(stderr.contains(words), "`{words}` missing from: {stderr}");
    }
    assert!(!stderr.contains("test-key"), "the key leaked: {stderr}");
    let calls = scenario.calls_per_phone().await;
    assert!(
        others.iter().all(|p| !calls.contains_key(p)),
        "the refused run called someone"
    );
    first.start_kill().unwrap();
    first.wait().await.unwrap();
}

/// A run with another key is another account: it runs to its end while the first holds its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_on_another_account_is_not_refused() {
    let scenario = slow_scenario().await;
    let state = scenario.dir.path().join("state");
    let mut first = spawn_holder(&scenario);
    wait_for_holder(&state, first.id().unwrap()).await;
    let others = numbers_in(415, 0, 2);
    let other = second_campaign(&scenario, &others);
    let out = scenario
        .outdial(&["run", other.to_str().unwrap()])
        .env("SYNTHFLOW_API_KEY", "another-accounts-key")
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = scenario.calls_per_phone().await;
    assert!(others.iter().all(|p| calls.get(p) == Some(&1)), "{calls:?}");
    assert_eq!(
        lock_files(&state).len(),
        1,
        "only the holder's lock file is left: the finished run removed its own"
    );
    first.start_kill().unwrap();
    first.wait().await.unwrap();
}

/// After the holder is killed with SIGKILL, its lock file stays but holds nobody: a run of
/// another campaign on the same account is admitted and completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_holder_blocks_nobody() {
    let scenario = slow_scenario().await;
    let state = scenario.dir.path().join("state");
    let mut first = spawn_holder(&scenario);
    let stale = wait_for_holder(&state, first.id().unwrap()).await;
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    assert!(stale.exists(), "SIGKILL leaves the lock file behind");
    let others = numbers_in(415, 0, 2);
    let other = second_campaign(&scenario, &others);
    let out = scenario
        .outdial(&["run", other.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        lock_files(&state).is_empty(),
        "a clean end removes the lock file"
    );
}
