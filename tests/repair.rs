//! `outdial repair` recovers a campaign whose journal was damaged, lost, or put back to an older
//! copy, from the vendor's own call records: after it, the campaign completes with every contact
//! called exactly once. `--dry-run` changes nothing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Scenario, Settings, csv_of, numbers_in};

const POOL: &[&str] = &["+12125550101", "+14155550102"];

/// A campaign of 40 contacts killed with SIGKILL after a dozen create requests, so that some
/// contacts were called and some not, some perhaps mid-request.
async fn killed_midway(npa: u16) -> (Scenario, Vec<String>) {
    let phones = numbers_in(npa, 0, 40);
    let settings = Settings {
        calls_per_second: 20.0,
        ..Settings::default()
    };
    let scenario = Scenario::start(POOL, settings, &csv_of(&phones)).await;
    let mut child = scenario
        .outdial(&["run", scenario.campaign_file().to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    scenario.wait_for_requests(12).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let sent = scenario.sandbox.received().await.len();
    assert!(
        sent < phones.len(),
        "the kill came too late to test anything"
    );
    (scenario, phones)
}

fn journal_dir(scenario: &Scenario) -> PathBuf {
    scenario.dir.path().join(".outdial/test-campaign")
}

async fn outdial(scenario: &Scenario, args: &[&str]) -> std::process::Output {
    let file = scenario.campaign_file();
    let mut all = args.to_vec();
    all.insert(1, file.to_str().unwrap());
    scenario.outdial(&all).output().await.unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file under `dir` with its bytes, to show that nothing changed; except the lock file,
/// which names whoever last opened the journal, not what it holds.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for item in std::fs::read_dir(dir).unwrap().flatten() {
        let path = item.path();
        if item.file_name() == "lock" {
            continue;
        } else if path.is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    files
}

fn truncate_database(journal: &Path) {
    let db = journal.join("sled/db");
    let len = db.metadata().unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len / 3)
        .unwrap();
}

/// A journal damaged mid-campaign is refused; `repair --dry-run` changes no byte and leaves it
/// refused; `repair` moves it aside and rebuilds it from the vendor's calls; the next run
/// completes with every contact called exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_journal_damaged_mid_campaign_is_rebuilt_and_the_campaign_completes() {
    let (scenario, phones) = killed_midway(212).await;
    let journal = journal_dir(&scenario);
    truncate_database(&journal);
    let refused = outdial(&scenario, &["run"]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));

    let before = snapshot(scenario.dir.path());
    let dry = outdial(&scenario, &["repair", "--dry-run"]).await;
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert!(text(&dry).contains("damaged"), "{}", text(&dry));
    assert!(text(&dry).contains("would mark"), "{}", text(&dry));
    assert!(text(&dry).contains("nothing was changed"), "{}", text(&dry));
    assert_eq!(
        snapshot(scenario.dir.path()),
        before,
        "--dry-run changed files"
    );
    let still = outdial(&scenario, &["run"]).await;
    assert_eq!(still.status.code(), Some(2), "{}", text(&still));

    let sent = scenario.sandbox.received().await.len();
    let repaired = outdial(&scenario, &["repair"]).await;
    assert_eq!(repaired.status.code(), Some(0), "{}", text(&repaired));
    assert!(text(&repaired).contains("moved to"), "{}", text(&repaired));
    assert_eq!(
        scenario.sandbox.received().await.len(),
        sent,
        "repair sent a create request"
    );
    let aside: Vec<_> = std::fs::read_dir(scenario.dir.path().join(".outdial"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "the damaged journal is kept aside");

    let resumed = outdial(&scenario, &["run"]).await;
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
    scenario.assert_each_called_once(&phones).await;
    let rows = scenario.export_rows().await;
    assert_eq!(rows.len(), phones.len(), "every contact is in the journal");
}

/// A journal directory lost altogether: repair asks for `--since` (exit 2, nothing written);
/// with it, it builds a new journal, and the next run calls only those never called.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_journal_is_rebuilt_from_the_vendors_calls_since_a_given_time() {
    let began = jiff::Timestamp::now();
    let (scenario, phones) = killed_midway(415).await;
    std::fs::remove_dir_all(journal_dir(&scenario)).unwrap();

    let unknown = outdial(&scenario, &["repair"]).await;
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    assert!(text(&unknown).contains("--since"), "{}", text(&unknown));
    assert!(!journal_dir(&scenario).join("sled").exists());

    let since = began.to_string();
    let repaired = outdial(&scenario, &["repair", "--since", &since]).await;
    assert_eq!(repaired.status.code(), Some(0), "{}", text(&repaired));
    let resumed = outdial(&scenario, &["run"]).await;
    assert_eq!(resumed.status.code(), Some(0), "{}", text(&resumed));
    scenario.assert_each_called_once(&phones).await;
}

/// An older copy of the whole journal (database and witness together) is beyond the witness: it
/// opens. `repair --dry-run` lists the contacts the vendor called that it does not know, changing
/// nothing; `repair` marks them, and the next run calls nobody again.
#[tokio::test(flavor = "multi_thread")]
async fn a_readable_journal_behind_the_vendor_is_brought_up_to_date() {
    let phones = numbers_in(312, 0, 30);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones[..10])).await;
    let journal = journal_dir(&scenario);
    let older = scenario.dir.path().join("older");
    assert!(outdial(&scenario, &["run"]).await.status.success());
    std::fs::rename(&journal, &older).unwrap();
    // The older copy stays aside while the full campaign runs in a journal of its own history.
    copy_dir(&older, &journal);
    scenario.write_contacts(&csv_of(&phones));
    assert!(outdial(&scenario, &["run"]).await.status.success());
    scenario.assert_each_called_once(&phones).await;
    std::fs::remove_dir_all(&journal).unwrap();
    std::fs::rename(&older, &journal).unwrap();

    // sled rewrites its files when it opens a database, so what must not change is what the
    // journal holds, as `export` shows it.
    let before = scenario.export_rows().await;
    let dry = outdial(&scenario, &["repair", "--dry-run"]).await;
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    let report = text(&dry);
    let listed = phones[10..].iter().filter(|p| report.contains(*p)).count();
    assert_eq!(
        listed, 20,
        "the dry run names each contact it would mark: {report}"
    );
    assert_eq!(
        scenario.export_rows().await,
        before,
        "--dry-run changed the journal"
    );

    let repaired = outdial(&scenario, &["repair"]).await;
    assert_eq!(repaired.status.code(), Some(0), "{}", text(&repaired));
    let sent = scenario.sandbox.received().await.len();
    let rerun = outdial(&scenario, &["run"]).await;
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun));
    assert_eq!(
        scenario.sandbox.received().await.len(),
        sent,
        "the run after repair called someone again"
    );
    let again = outdial(&scenario, &["repair", "--dry-run"]).await;
    assert!(
        text(&again).contains("readable") && !text(&again).contains("would mark"),
        "{}",
        text(&again)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(item.file_name());
        if item.path().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), target).unwrap();
        }
    }
}
