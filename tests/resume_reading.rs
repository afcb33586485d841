//! A resume does not read the contacts file again: when the journal proves the file unchanged
//! (size, modification time, xxh3 of its bytes), the run reads on from the mark the last run
//! saved, and still calls nobody twice and loses nobody. Any change to the file — rows
//! appended, a row edited, the same size with other bytes and the old modification time, or
//! only the modification time — makes the run check and read it from its start, as a first run
//! does, so that nothing the change brought in is missed and removed contacts are still found.

mod common;

use std::time::{Duration, Instant};

use common::{Scenario, Settings, csv_of, numbers_in};
use outdial::contacts::ContactReader;
use outdial::phone::Country;
use outdial::survey::Surveyed;

/// Phones over four area codes, `n` in all.
fn phones(n: u32) -> Vec<String> {
    [212, 415, 312, 713]
        .iter()
        .flat_map(|npa| numbers_in(*npa, 0, n / 4))
        .collect()
}

/// Starts `verb` (run or resume) on the campaign and SIGKILLs it once the sandbox has received
/// at least `requests` create requests.
async fn kill_after(scenario: &Scenario, verb: &str, requests: usize) {
    let file = scenario.campaign_file();
    let mut child = scenario
        .outdial(&[verb, file.to_str().unwrap(), "-q"])
        .spawn()
        .unwrap();
    scenario.wait_for_requests(requests).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before it could be killed"
    );
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

/// Runs `resume` to its end; returns its stderr.
async fn resume_to_the_end(scenario: &Scenario) -> String {
    let file = scenario.campaign_file();
    let out = scenario
        .outdial(&["resume", file.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the resume failed: {stderr}");
    stderr
}

/// The mark the journal keeps: where the next run reads on.
async fn saved_mark_line(scenario: &Scenario) -> Option<u64> {
    let journal = common::open_journal(&scenario.campaign()).await;
    let surveyed = Surveyed::load(&journal).expect("the journal reads");
    journal.close().await;
    surveyed.and_then(|s| s.read).map(|read| read.next.line)
}

/// The line a resume said it read on from, if it said so.
fn read_on_from(stderr: &str) -> Option<u64> {
    let (_, rest) = stderr.split_once("reading on from line ")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Killed three times mid-campaign, each resume reading on from the saved mark: everyone is
/// called exactly once, and the last resume read on from a line past the first thousand rows.
#[tokio::test(flavor = "multi_thread")]
async fn resumes_read_on_from_the_mark_and_call_everyone_once() {
    let phones = phones(6_000);
    let scenario = Scenario::start(&["+12125550101"], Settings::default(), &csv_of(&phones)).await;
    kill_after(&scenario, "run", 1_500).await;
    kill_after(&scenario, "resume", 3_000).await;
    kill_after(&scenario, "resume", 4_500).await;
    let mark = saved_mark_line(&scenario).await.expect("a mark was saved");
    let stderr = resume_to_the_end(&scenario).await;
    assert_eq!(read_on_from(&stderr), Some(mark), "{stderr}");
    assert!(mark > 1_000, "the mark is at line {mark}");
    scenario.assert_each_called_once(&phones).await;
}

/// With 100,000 rows, a resume after SIGKILL sends its first new create in well under the time
/// one read of the file through the contacts parser takes (what a resume that reads the file
/// again from its start costs at least), and nobody has been called twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_resume_of_an_unchanged_100k_file_calls_again_long_before_a_full_read() {
    let phones = phones(100_000);
    let scenario = Scenario::start(&["+12125550101"], Settings::default(), &csv_of(&phones)).await;
    kill_after(&scenario, "run", 2_500).await;
    assert!(saved_mark_line(&scenario).await.is_some_and(|l| l > 1_000));

    let read_started = Instant::now();
    let contacts = scenario.dir.path().join("contacts.csv");
    let rows = ContactReader::open(&contacts, Country::default())
        .unwrap()
        .count();
    let full_read = read_started.elapsed();
    assert_eq!(rows, 100_000);

    let before = scenario.sandbox.received().await.len();
    let file = scenario.campaign_file();
    let started = Instant::now();
    let mut child = scenario
        .outdial(&["resume", file.to_str().unwrap(), "-q"])
        .spawn()
        .unwrap();
    scenario.wait_for_requests(before + 1).await;
    let first_new_create = started.elapsed();
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    assert!(
        first_new_create * 3 < full_read,
        "first new create after {first_new_create:?}; one read of the file takes {full_read:?}"
    );
    let twice: Vec<_> = (scenario.calls_per_phone().await)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "called twice: {twice:?}");
}

/// A first run over 3,000 contacts killed mid-way with a mark saved; `change` then edits the
/// file. Returns the scenario and the phones the sandbox had called by then.
async fn killed_then_changed(change: impl FnOnce(&std::path::Path, &mut Vec<String>)) -> Changed {
    let mut phones = phones(3_000);
    let scenario = Scenario::start(&["+12125550101"], Settings::default(), &csv_of(&phones)).await;
    kill_after(&scenario, "run", 1_500).await;
    let mark = saved_mark_line(&scenario).await;
    assert!(mark.is_some_and(|l| l > 1_000), "mark: {mark:?}");
    let called: Vec<String> = scenario.calls_per_phone().await.into_keys().collect();
    assert!(
        called.len() < 2_500,
        "{} called before the kill",
        called.len()
    );
    change(&scenario.dir.path().join("contacts.csv"), &mut phones);
    Changed {
        scenario,
        phones,
        called,
    }
}

struct Changed {
    scenario: Scenario,
    /// The phones of the changed file.
    phones: Vec<String>,
    /// The phones called before the change.
    called: Vec<String>,
}

impl Changed {
    /// Resumes to the end: it reads the file from its start, every phone of the changed file
    /// is called once, and nobody else but those called before the change.
    async fn resume_reads_it_all(&self) {
        let stderr = resume_to_the_end(&self.scenario).await;
        assert_eq!(read_on_from(&stderr), None, "{stderr}");
        let mut expected = self.phones.clone();
        expected.extend(
            self.called
                .iter()
                .filter(|p| !self.phones.contains(p))
                .cloned(),
        );
        self.scenario.assert_each_called_once(&expected).await;
    }
}

/// The modification time of `path`, to put back after an edit.
fn modified(path: &std::path::Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn set_modified(path: &std::path::Path, at: std::time::SystemTime) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_modified(at).unwrap();
}

/// Rows appended after the kill are all called, the earlier ones once.
#[tokio::test(flavor = "multi_thread")]
async fn appended_rows_are_read_and_called() {
    let changed = killed_then_changed(|csv, phones| {
        phones.extend(numbers_in(907, 0, 500));
        std::fs::write(csv, csv_of(phones)).unwrap();
    })
    .await;
    changed.resume_reads_it_all().await;
}

/// An edited row before the mark (another phone, a longer name) is read: its new phone is
/// called, though the mark had passed its line.
#[tokio::test(flavor = "multi_thread")]
async fn a_row_edited_before_the_mark_is_read_again() {
    let changed = killed_then_changed(|csv, phones| {
        phones[10] = numbers_in(907, 0, 1)[0].clone();
        let text = csv_of(phones).replace("Person 11,", "Person eleven,");
        std::fs::write(csv, text).unwrap();
    })
    .await;
    changed.resume_reads_it_all().await;
}

/// The same size and modification time with other bytes (a phone before the mark and the
/// last row's phone swapped for others of the same length): only the fingerprint tells, and
/// it does. The new phones are called; the last row's old phone, never called, never is.
#[tokio::test(flavor = "multi_thread")]
async fn same_size_and_time_with_other_bytes_is_another_file() {
    let removed = std::sync::Mutex::new(String::new());
    let changed = killed_then_changed(|csv, phones| {
        let (size, at) = (std::fs::metadata(csv).unwrap().len(), modified(csv));
        let replacements = numbers_in(907, 0, 2);
        phones[20] = replacements[0].clone();
        *removed.lock().unwrap() =
            std::mem::replace(phones.last_mut().unwrap(), replacements[1].clone());
        std::fs::write(csv, csv_of(phones)).unwrap();
        set_modified(csv, at);
        assert_eq!(std::fs::metadata(csv).unwrap().len(), size);
        assert_eq!(modified(csv), at);
    })
    .await;
    let removed = removed.into_inner().unwrap();
    assert!(!changed.called.contains(&removed));
    changed.resume_reads_it_all().await;
}

/// Only the modification time changed: the file is checked and read again from its start
/// (the rule is "any difference"), and nobody is called twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_touched_file_is_read_again_and_nobody_is_called_twice() {
    let changed = killed_then_changed(|csv, _| {
        set_modified(csv, modified(csv) + Duration::from_secs(3_600));
    })
    .await;
    changed.resume_reads_it_all().await;
}
