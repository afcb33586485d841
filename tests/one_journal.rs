//! One campaign, one journal: the campaign file reached through a symlink, a symlinked directory
//! or a relative path from another working directory finds the same journal and the same lock;
//! and a closed journal's lock is free at once.

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;

use common::{Scenario, Settings, csv_of, numbers_in};
use outdial::journal::Journal;
use tempfile::TempDir;

const POOL: &[&str] = &["+12125550101"];

/// Ways to reach `scenario`'s campaign file other than its own path: a symlink to the file (with
/// one to the contacts beside it, as a person linking a campaign's files would), a symlink to its
/// directory, and a relative path from another working directory. Each is (cwd, path argument).
fn other_paths(scenario: &Scenario, elsewhere: &Path) -> Vec<(std::path::PathBuf, String)> {
    let real = scenario.campaign_file();
    let links = elsewhere.join("links");
    std::fs::create_dir_all(&links).unwrap();
    symlink(&real, links.join("campaign.toml")).unwrap();
    symlink(
        scenario.dir.path().join("contacts.csv"),
        links.join("contacts.csv"),
    )
    .unwrap();
    symlink(scenario.dir.path(), elsewhere.join("linked-dir")).unwrap();
    let cwd = elsewhere.join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let relative = pathdiff(&real, &cwd);
    vec![
        (
            elsewhere.to_owned(),
            links.join("campaign.toml").display().to_string(),
        ),
        (
            elsewhere.to_owned(),
            elsewhere
                .join("linked-dir/campaign.toml")
                .display()
                .to_string(),
        ),
        (cwd, relative),
    ]
}

/// `target` written relative to `from` (both absolute), through `..` as far as needed.
fn pathdiff(target: &Path, from: &Path) -> String {
    let ups = from.components().count() - 1;
    format!(
        "{}{}",
        "../".repeat(ups),
        target.strip_prefix("/").unwrap().display()
    )
}

/// While the journal is held through the campaign's real path, a run through each other path
/// exits 2 naming the holder, and sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn another_path_to_a_running_campaign_finds_its_lock() {
    let phones = numbers_in(212, 0, 5);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    let elsewhere = TempDir::new().unwrap();
    let campaign = scenario.campaign();
    let held = Journal::open(&campaign.journal_dir, &campaign.name).unwrap();
    for (cwd, path) in other_paths(&scenario, elsewhere.path()) {
        let out = scenario
            .outdial(&["run", &path])
            .current_dir(&cwd)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "run {path} from {cwd:?}: {stderr}"
        );
        assert!(stderr.contains("already running"), "{path}: {stderr}");
    }
    assert!(scenario.sandbox.received().await.is_empty());
    held.close().await;
}

/// After a completed run, running the campaign through each other path reports it complete and
/// calls nobody.
#[tokio::test(flavor = "multi_thread")]
async fn another_path_to_a_completed_campaign_calls_nobody() {
    let phones = numbers_in(415, 0, 8);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    let elsewhere = TempDir::new().unwrap();
    let out = scenario
        .outdial(&["run", scenario.campaign_file().to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let sent = scenario.sandbox.received().await.len();
    assert_eq!(sent, phones.len());
    for (cwd, path) in other_paths(&scenario, elsewhere.path()) {
        let out = scenario
            .outdial(&["run", &path])
            .current_dir(&cwd)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "run {path} from {cwd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("complete"), "{path}: {stdout}");
        assert_eq!(
            scenario.sandbox.received().await.len(),
            sent,
            "run {path} from {cwd:?} called someone again"
        );
    }
    scenario.assert_each_called_once(&phones).await;
    assert!(!elsewhere.path().join("links/.outdial").exists());
}

/// `Journal::close().await` returns only when the locks are free: an open right after it, in the
/// same process, succeeds at once, many times over, with a commit made before each close.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_journal_can_be_opened_again_at_once() {
    let dir = TempDir::new().unwrap();
    let journal_dir = dir.path().join("j");
    for round in 0..20 {
        let journal = Journal::open(&journal_dir, "closing").unwrap_or_else(|e| {
            panic!("round {round}: the journal closed before is still held: {e}")
        });
        journal.durable().await.unwrap();
        journal.close().await;
    }
}
