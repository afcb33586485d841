//! The journal's format: entries in a binary encoding behind a version byte, a journal written in
//! the JSON format of earlier versions migrated on open, and the resume state kept beside the
//! entries (the tally, the index of open entries) true to the entries after any stop.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Scenario, Settings, csv_of, numbers_in, open_journal};
use outdial::journal::{Entry, Journal, State};
use outdial::report::{Counter, Tally};
use outdial::rotation::Match;

const POOL: &[&str] = &["+12125550101", "+14155550102", "+13125550104"];

fn contacts(n_per_code: u32) -> Vec<String> {
    [212, 415, 312, 907]
        .iter()
        .flat_map(|npa| numbers_in(*npa, 0, n_per_code))
        .collect()
}

/// Every entry of the journal, closed again after.
async fn entries_of(scenario: &Scenario) -> Vec<Entry> {
    let journal = open_journal(&scenario.campaign()).await;
    let entries = journal.entries().map(|e| e.unwrap()).collect();
    journal.close().await;
    entries
}

/// Rewrites a journal as format 1 (`outdial-journal/1`) stored it, in a new sled database made
/// with sled's defaults as format 1 made it (uncompressed): each entry as JSON text under its
/// phone (the serde shape of `Entry`, which format 1 wrote), no tally, no index, the call starts
/// in the `starts` tree keyed by moment then caller ID, format 1's stamp; every other record
/// (the commit number the witness checks, the runs, the due queue) copied as it was.
fn downgrade_to_format_1(dir: &Path, entries: &[Entry]) {
    let made = dir.join("sled-format-1");
    {
        let db = raw_sled(dir);
        let old = sled::open(&made).unwrap();
        for name in db.tree_names() {
            let (from, to) = (db.open_tree(&name).unwrap(), old.open_tree(&name).unwrap());
            match &name[..] {
                b"contacts" => {
                    for entry in entries {
                        let json = serde_json::to_vec(entry).unwrap();
                        to.insert(entry.phone().as_str(), json).unwrap();
                    }
                }
                b"starts_by_caller" => {
                    let starts = old.open_tree("starts").unwrap();
                    for key in call_starts(&db) {
                        let (caller, moment) = key.split_at(key.len() - 9);
                        starts.insert([&moment[1..], caller].concat(), &[]).unwrap();
                    }
                }
                _ => {
                    for item in from.iter() {
                        let (key, value) = item.unwrap();
                        to.insert(key, value).unwrap();
                    }
                }
            }
        }
        old.insert("format", "outdial-journal/1").unwrap();
        old.flush().unwrap();
    }
    std::fs::remove_dir_all(dir.join("sled")).unwrap();
    std::fs::rename(&made, dir.join("sled")).unwrap();
}

/// Half the entries rewritten as format 1 stored them (JSON) in place, and format 1's stamp: what
/// a migration interrupted midway leaves.
fn half_downgraded(dir: &Path, entries: &[Entry]) {
    let db = raw_sled(dir);
    let contacts = db.open_tree("contacts").unwrap();
    for entry in entries.iter().take(entries.len() / 2) {
        let json = serde_json::to_vec(entry).unwrap();
        contacts.insert(entry.phone().as_str(), json).unwrap();
    }
    db.insert("format", "outdial-journal/1").unwrap();
    db.flush().unwrap();
}

/// The journal's sled database, opened by itself (compressed as format 2 makes it, or not as
/// format 1 did). Retried (bounded) while the process's last holder lets go: sled's own flusher
/// thread releases the file lock a moment after the drop.
fn raw_sled(dir: &Path) -> sled::Db {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = |compressed| {
            sled::Config::new()
                .path(dir.join("sled"))
                .use_compression(compressed)
                .open()
        };
        match open(true).or_else(|_| open(false)) {
            Ok(db) => return db,
            Err(e) if Instant::now() < deadline => {
                tracing::debug!("sled not free yet: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("the journal's database stays locked: {e}"),
        }
    }
}

/// The keys of today's call starts tree: caller ID, `/`, moment.
fn call_starts(db: &sled::Db) -> BTreeSet<Vec<u8>> {
    let tree = db.open_tree("starts_by_caller").unwrap();
    tree.iter().keys().map(|k| k.unwrap().to_vec()).collect()
}

/// The format stamp and the first byte of every entry, read from sled itself.
fn stored_format(dir: &Path) -> (String, BTreeSet<u8>) {
    let db = raw_sled(dir);
    let format = db.get("format").unwrap().unwrap();
    let contacts = db.open_tree("contacts").unwrap();
    let first_bytes = contacts
        .scan_prefix(b"+")
        .values()
        .map(|v| v.unwrap()[0])
        .collect();
    (String::from_utf8(format.to_vec()).unwrap(), first_bytes)
}

/// The journal's own tally and open index agree with a count over all of its entries.
fn assert_resume_state_true(journal: &Journal) {
    let entries: Vec<Entry> = journal.entries().map(|e| e.unwrap()).collect();
    let mut counted = Tally::default();
    for entry in &entries {
        counted.count(entry);
    }
    assert_eq!(
        without_zeros(journal.tally()),
        without_zeros(counted),
        "the tally kept in the journal differs from a count of its entries"
    );
    let open: BTreeSet<String> = entries
        .iter()
        .filter(|e| {
            matches!(
                e.state,
                State::Pending | State::Dialing | State::Placed | State::Uncertain { .. }
            )
        })
        .map(|e| e.phone().to_string())
        .collect();
    let indexed: BTreeSet<String> = journal
        .open_entries()
        .map(|e| e.unwrap().phone().to_string())
        .collect();
    assert_eq!(
        indexed, open,
        "the open index differs from the open entries"
    );
}

/// The campaign is over: everyone called exactly once, nothing left open, and the journal's
/// resume state true to its entries.
async fn assert_finished_calling_each_once(scenario: &Scenario, phones: &[String]) {
    scenario.assert_each_called_once(phones).await;
    let journal = open_journal(&scenario.campaign()).await;
    assert_resume_state_true(&journal);
    assert_eq!(journal.tally().placed(), phones.len() as u64);
    assert_eq!(journal.open_entries().count(), 0, "nothing is left open");
    journal.close().await;
}

/// A tally without the counters that went back to zero (a count never creates them).
fn without_zeros(mut tally: Tally) -> Tally {
    tally.states.retain(|_, n| *n > 0);
    tally.outcomes.retain(|_, n| *n > 0);
    tally.matches.retain(|_, n| *n > 0);
    tally.callers.retain(|_, t| t.calls > 0 || t.local > 0);
    tally
}

/// A journal written in format 1 (JSON entries) by a run killed midway is migrated when it is next
/// opened (`status`): every entry rewritten in the binary encoding, the call starts carried over,
/// the stamp bumped, the tally and open index built; and the resumed run finishes the campaign
/// calling nobody twice and missing nobody.
#[tokio::test(flavor = "multi_thread")]
async fn a_format_1_journal_is_migrated_on_open_and_resumes_calling_nobody_twice() {
    let phones = contacts(100);
    let settings = Settings {
        calls_per_second: 200.0,
        ..Settings::default()
    };
    let scenario = Scenario::start(POOL, settings, &csv_of(&phones)).await;
    scenario.run_killed_after(120).await;
    let dir = scenario.campaign().journal_dir;
    let entries = entries_of(&scenario).await;
    let starts = call_starts(&raw_sled(&dir));
    assert!(!starts.is_empty(), "the kill came before any call started");
    assert!(
        entries.iter().any(|e| e.state.is_terminal())
            && scenario.sandbox.received().await.len() < phones.len(),
        "the kill left no campaign half-done to migrate"
    );
    downgrade_to_format_1(&dir, &entries);
    assert_eq!(
        stored_format(&dir),
        ("outdial-journal/1".to_owned(), BTreeSet::from([b'{'])),
        "the journal is in format 1 before the run"
    );

    scenario.outdial_succeeds("status").await;
    assert_eq!(
        stored_format(&dir),
        ("outdial-journal/4".to_owned(), BTreeSet::from([3])),
        "opening it (here for `status`) rewrote every entry in the binary encoding and bumped \
         the stamp"
    );
    {
        let db = raw_sled(&dir);
        assert_eq!(
            call_starts(&db),
            starts,
            "the call starts of format 1 were carried over (the caps count them)"
        );
        assert!(!db.tree_names().iter().any(|name| name == b"starts"));
    }

    scenario.outdial_succeeds("resume").await;

    assert_finished_calling_each_once(&scenario, &phones).await;
}

/// A migration interrupted midway (some entries still JSON, others already binary, an index
/// mark and counters left from the attempt that did not finish, wrong) is done again on the
/// next open, and the tally and index it builds are true to the entries, whatever was left.
#[tokio::test(flavor = "multi_thread")]
async fn a_migration_interrupted_midway_is_done_again_and_counts_true() {
    let phones = contacts(25);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    scenario.run().await;
    let dir = scenario.campaign().journal_dir;
    let entries = entries_of(&scenario).await;
    half_downgraded(&dir, &entries);
    {
        let db = raw_sled(&dir);
        let contacts = db.open_tree("contacts").unwrap();
        let done = Counter::State(outdial::journal::StateKind::Done);
        let mut key = b"tally/".to_vec();
        key.extend(postcard::to_stdvec(&done).unwrap());
        contacts.insert(key, &999u64.to_be_bytes()).unwrap();
        let mut key = b"tally/".to_vec();
        key.extend(postcard::to_stdvec(&Counter::Match(Match::Other)).unwrap());
        contacts.insert(key, &7u64.to_be_bytes()).unwrap();
        let mark = format!("open/{}", entries[0].phone());
        contacts.insert(mark.as_bytes(), &[]).unwrap();
        contacts
            .insert(b"counts/caller/+12125550101", &[1, 50, 0])
            .unwrap();
        db.flush().unwrap();
    }

    let journal = Journal::open(&dir, &scenario.campaign().name).expect("the journal opens");

    assert_resume_state_true(&journal);
    assert_eq!(journal.tally().placed(), phones.len() as u64);
    journal.close().await;
    assert_eq!(
        stored_format(&dir),
        ("outdial-journal/4".to_owned(), BTreeSet::from([3]))
    );
}

/// Every counter of `tally` as format 2 kept it: one key each, `tally/` then the counter in
/// postcard, the value big-endian.
fn counters_of_format_2(tally: &Tally) -> Vec<(Vec<u8>, u64)> {
    let mut counters: Vec<(Counter, u64)> = vec![(Counter::Attempts, tally.attempts)];
    counters.extend(tally.states.iter().map(|(k, n)| (Counter::State(*k), *n)));
    counters
        .extend((tally.outcomes.iter()).map(|(status, n)| (Counter::Outcome(status.clone()), *n)));
    counters.extend(tally.matches.iter().map(|(m, n)| (Counter::Match(*m), *n)));
    for (caller, counts) in &tally.callers {
        counters.push((Counter::CallerCalls(caller.clone()), counts.calls));
        counters.push((Counter::CallerLocal(caller.clone()), counts.local));
    }
    let key = |counter: &Counter| [b"tally/".to_vec(), postcard::to_stdvec(counter).unwrap()];
    (counters.iter())
        .map(|(counter, n)| (key(counter).concat(), *n))
        .collect()
}

/// Rewrites a journal's counters as format 2 kept them (one key each) and stamps it format 2.
fn downgrade_to_format_2(dir: &Path, tally: &Tally) {
    let db = raw_sled(dir);
    let contacts = db.open_tree("contacts").unwrap();
    for key in contacts.scan_prefix(b"counts/").keys() {
        contacts.remove(key.unwrap()).unwrap();
    }
    for (key, n) in counters_of_format_2(tally) {
        contacts.insert(key, &n.to_be_bytes()).unwrap();
    }
    db.insert("format", "outdial-journal/2").unwrap();
    db.flush().unwrap();
}

/// Stamps the journal in `dir` with `format`, and nothing else.
fn stamp_format(dir: &Path, format: &str) {
    let db = raw_sled(dir);
    db.insert("format", format).unwrap();
    db.flush().unwrap();
}

/// The keys of the journal's `contacts` tree under `prefix`.
fn keys_under(dir: &Path, prefix: &[u8]) -> usize {
    let db = raw_sled(dir);
    db.open_tree("contacts")
        .unwrap()
        .scan_prefix(prefix)
        .count()
}

/// The contacts (`n_per_code` per area code) of a campaign whose run was SIGKILLed after
/// `requests` requests, and the tally its journal held then: calls placed from more than one
/// number, some of them ended, or the kill left too little to test.
async fn killed_midway(n_per_code: u32, requests: usize) -> (Vec<String>, Scenario, Tally) {
    let phones = contacts(n_per_code);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    scenario.run_killed_after(requests).await;
    let journal = open_journal(&scenario.campaign()).await;
    let tally = journal.tally();
    journal.close().await;
    assert!(
        tally.placed() > 0 && tally.callers.len() > 1 && !tally.outcomes.is_empty(),
        "the kill left too little: {tally:?}"
    );
    (phones, scenario, tally)
}

/// A journal written in format 2 (each of the tally's counters under a key of its own) by a run
/// killed midway has its counters folded into format 3's groups when it is next opened, the
/// tally unchanged; and the resumed run finishes calling nobody twice and missing nobody.
#[tokio::test(flavor = "multi_thread")]
async fn a_format_2_journal_has_its_counters_folded_on_open_and_resumes_calling_nobody_twice() {
    let (phones, scenario, tally) = killed_midway(60, 80).await;
    let dir = scenario.campaign().journal_dir;
    downgrade_to_format_2(&dir, &tally);
    assert_eq!(stored_format(&dir).0, "outdial-journal/2");
    assert_eq!(keys_under(&dir, b"counts/"), 0);

    scenario.outdial_succeeds("status").await;
    assert_eq!(stored_format(&dir).0, "outdial-journal/4");
    assert_eq!(
        keys_under(&dir, b"tally/"),
        0,
        "format 2's counters are gone"
    );
    assert_eq!(
        keys_under(&dir, b"counts/"),
        1 + tally.callers.len(),
        "one group for the campaign, one per caller ID"
    );
    let journal = open_journal(&scenario.campaign()).await;
    assert_eq!(journal.tally(), tally, "folding changed the tally");
    journal.close().await;

    scenario.outdial_succeeds("resume").await;

    assert_finished_calling_each_once(&scenario, &phones).await;
}

/// A fold interrupted after its batch and before the stamp (format 2's stamp over format 3's
/// counters) finds nothing to fold and only bumps the stamp: the counters are not reset.
#[tokio::test(flavor = "multi_thread")]
async fn a_fold_interrupted_before_its_stamp_keeps_the_folded_counters() {
    let phones = contacts(10);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    scenario.run().await;
    let dir = scenario.campaign().journal_dir;
    stamp_format(&dir, "outdial-journal/2");

    let journal = Journal::open(&dir, &scenario.campaign().name).expect("the journal opens");

    assert_eq!(journal.tally().placed(), phones.len() as u64);
    assert_resume_state_true(&journal);
    journal.close().await;
    assert_eq!(stored_format(&dir).0, "outdial-journal/4");
}

/// A format-3 journal (written before batches went through the redo record) has the same records
/// as format 4: opening it only moves its stamp on, so that an outdial of format 3 would refuse it
/// from then on rather than leave a batch a crash cut short half written.
#[tokio::test(flavor = "multi_thread")]
async fn a_format_3_journal_is_restamped_on_open_and_resumes_calling_nobody_twice() {
    let (phones, scenario, tally) = killed_midway(40, 50).await;
    let dir = scenario.campaign().journal_dir;
    stamp_format(&dir, "outdial-journal/3");

    scenario.outdial_succeeds("status").await;
    assert_eq!(stored_format(&dir).0, "outdial-journal/4");
    let journal = open_journal(&scenario.campaign()).await;
    assert_eq!(journal.tally(), tally, "the restamp changed the tally");
    assert_resume_state_true(&journal);
    journal.close().await;

    scenario.outdial_succeeds("resume").await;

    assert_finished_calling_each_once(&scenario, &phones).await;
}

/// The tally and the open index are written in the same atomic batch as the entry that moves
/// them, so a binary SIGKILLed at any of several moments leaves them true to its entries; and
/// the runs resumed from that state alone call everyone exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn the_resume_state_stays_true_to_the_entries_through_sigkills() {
    let phones = contacts(150);
    let settings = Settings {
        calls_per_second: 300.0,
        max_live_calls: 32,
        ..Settings::default()
    };
    let scenario = Scenario::start(POOL, settings, &csv_of(&phones)).await;
    for kill_after in [50, 200, 400] {
        scenario.run_killed_after(kill_after).await;
        let journal = open_journal(&scenario.campaign()).await;
        assert_resume_state_true(&journal);
        journal.close().await;
    }
    let file = scenario.campaign_file();
    let done = scenario
        .outdial(&["resume", file.to_str().unwrap(), "-q"])
        .output()
        .await
        .unwrap();

    assert!(done.status.success());
    scenario.assert_each_called_once(&phones).await;
    let journal = open_journal(&scenario.campaign()).await;
    assert_resume_state_true(&journal);
    journal.close().await;
    let kept = call_starts(&raw_sled(&scenario.campaign().journal_dir)).len();
    assert!(
        kept <= POOL.len() * 2,
        "{kept} call starts kept for {} calls: without a daily cap, two per number are all \
         the caps can need",
        phones.len()
    );
}

/// The small named records kept for the run's own parts (`meta_get`/`meta_put`) survive closing
/// and reopening the journal, and an absent one reads as absent, never as empty.
#[tokio::test(flavor = "multi_thread")]
async fn meta_records_survive_reopening() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("journal");
    let journal = Journal::open(&path, "c").unwrap();
    assert_eq!(journal.meta_get("csv").unwrap(), None);
    journal.meta_put("csv", b"line 42").unwrap();
    journal.meta_put("empty", b"").unwrap();
    journal.flush().unwrap();
    journal.close().await;

    let journal = Journal::open(&path, "c").unwrap();
    assert_eq!(journal.meta_get("csv").unwrap(), Some(b"line 42".to_vec()));
    assert_eq!(journal.meta_get("empty").unwrap(), Some(Vec::new()));
    assert_eq!(journal.meta_get("other").unwrap(), None);
    journal.close().await;
}

/// Calls from one number started in the same millisecond are one key in the starts tree, which
/// counts them: each counts, survives reopening, and a taken-back one (a 429) takes back one;
/// a start written before counts were kept (an empty value) is one, and a damaged count is
/// refused, never read as some other number of calls.
#[tokio::test(flavor = "multi_thread")]
async fn call_starts_in_one_millisecond_each_count() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("journal");
    let caller = outdial::phone::Phone::from_stored("+12125550101").unwrap();
    let at: jiff::Timestamp = "2026-06-10T12:00:00Z".parse().unwrap();
    let earlier = at - jiff::SignedDuration::from_secs(1);
    let journal = Journal::open(&path, "c").unwrap();
    journal.note_start(&caller, earlier, 10).unwrap();
    for _ in 0..3 {
        journal.note_start(&caller, at, 10).unwrap();
    }
    journal.flush().unwrap();
    journal.close().await;

    let journal = Journal::open(&path, "c").unwrap();
    assert_eq!(
        journal.latest_starts(&caller, 10).unwrap(),
        [at, at, at, earlier]
    );
    assert_eq!(journal.latest_starts(&caller, 2).unwrap(), [at, at]);
    journal.forget_start(&caller, at).unwrap();
    assert_eq!(
        journal.latest_starts(&caller, 10).unwrap(),
        [at, at, earlier]
    );
    journal.forget_start(&caller, at).unwrap();
    journal.forget_start(&caller, at).unwrap();
    assert_eq!(journal.latest_starts(&caller, 10).unwrap(), [earlier]);
    journal.flush().unwrap();
    journal.close().await;

    let db = raw_sled(&path);
    let tree = db.open_tree("starts_by_caller").unwrap();
    let (key, value) = tree.iter().next().unwrap().unwrap();
    assert!(
        value.is_empty(),
        "one start is written as before counts were kept"
    );
    tree.insert(&key, &[0, 0, 1][..]).unwrap();
    db.flush().unwrap();
    drop((tree, db));
    let journal = Journal::open(&path, "c").unwrap();
    let damaged = journal.latest_starts(&caller, 10).unwrap_err().to_string();
    assert!(damaged.contains("count is damaged"), "{damaged}");
    journal.close().await;
}

/// A journal stamped with a later format than this build reads is refused before anything is
/// sent, with exit 2 and a message that names the format and says to use the outdial that wrote
/// it; the journal is left as it was.
#[tokio::test(flavor = "multi_thread")]
async fn a_journal_of_a_later_format_is_refused_and_left_alone() {
    let phones = contacts(5);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    scenario.run().await;
    let dir = scenario.campaign().journal_dir;
    let before = scenario.sandbox.received().await.len();
    stamp_format(&dir, "outdial-journal/5");

    let file = scenario.campaign_file();
    let out = scenario
        .outdial(&["resume", file.to_str().unwrap()])
        .output()
        .await
        .unwrap();

    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("outdial-journal/5") && stderr.contains("newer"),
        "{stderr}"
    );
    assert_eq!(scenario.sandbox.received().await.len(), before);
    assert_eq!(stored_format(&dir).0, "outdial-journal/5");
}

/// A waiting entry for `phone` (a contact outside its window), due at `due`.
fn waiting(phone: &str, line: u64, run: u64, due: jiff::Timestamp) -> Entry {
    let contact = outdial::contacts::Contact {
        phone: outdial::phone::Phone::parse(phone, outdial::phone::Country::default()).unwrap(),
        name: format!("Line {line}"),
        line,
        time_zone: None,
        region: None,
        custom_variables: Vec::new(),
    };
    let mut entry = Entry::new(contact, run, due - jiff::SignedDuration::from_hours(9));
    entry.wait_until(due, due - jiff::SignedDuration::from_hours(9));
    entry
}

/// Contacts due at one moment (a window opening) leave the due queue with their area codes
/// mixed, not area code by area code as phone order had them: each local number is then free
/// again, its cooldown past, when its next local callee comes.
#[tokio::test(flavor = "multi_thread")]
async fn contacts_due_together_leave_with_their_area_codes_mixed() {
    let dir = tempfile::TempDir::new().unwrap();
    let journal = Journal::open(&dir.path().join("journal"), "c").unwrap();
    let run = journal.begin_run().unwrap();
    let opening: jiff::Timestamp = "2026-12-07T14:00:00Z".parse().unwrap();
    let codes = ["212", "312", "415"];
    for (i, code) in codes.iter().enumerate() {
        for n in 0..10u64 {
            let phone = format!("+1{code}555{:04}", 100 + n);
            journal
                .put(&waiting(&phone, i as u64 * 10 + n + 2, run, opening))
                .unwrap();
        }
    }
    let mut order = Vec::new();
    while let Some(entry) = journal.take_due(opening).unwrap() {
        order.push(entry.phone().as_str()[2..5].to_owned());
    }
    assert_eq!(
        order.len(),
        30,
        "every waiting contact leaves once: {order:?}"
    );
    for code in codes {
        assert_eq!(order.iter().filter(|c| *c == code).count(), 10, "{order:?}");
        assert!(
            order[..10].iter().any(|c| c == code),
            "the first ten mix every area code, {code} missing: {order:?}"
        );
    }
    let longest_block = order
        .chunk_by(|a, b| a == b)
        .map(<[String]>::len)
        .max()
        .unwrap();
    assert!(longest_block <= 4, "a block of {longest_block}: {order:?}");
    journal.close().await;
}

/// A due key written before the mix (moment, then phone) is still taken after an upgrade, at its
/// moment and not before: a journal's waiting contacts are never lost to a new key shape.
#[tokio::test(flavor = "multi_thread")]
async fn a_due_key_written_before_the_mix_is_still_taken() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("journal");
    let opening: jiff::Timestamp = "2026-12-07T14:00:00Z".parse().unwrap();
    let journal = Journal::open(&path, "c").unwrap();
    let run = journal.begin_run().unwrap();
    journal
        .put(&waiting("+12125550101", 2, run, opening))
        .unwrap();
    journal.flush().unwrap();
    journal.close().await;

    let db = raw_sled(&path);
    let due = db.open_tree("due").unwrap();
    due.clear().unwrap();
    let mut old_key = opening.as_millisecond().to_be_bytes().to_vec();
    old_key.extend_from_slice(b"+12125550101");
    due.insert(old_key, &[]).unwrap();
    db.flush().unwrap();
    drop((due, db));

    let journal = Journal::open(&path, "c").unwrap();
    let before = opening - jiff::SignedDuration::from_secs(1);
    assert!(
        journal.take_due(before).unwrap().is_none(),
        "not before its moment"
    );
    let taken = journal
        .take_due(opening)
        .unwrap()
        .expect("taken at its moment");
    assert_eq!(taken.phone().as_str(), "+12125550101");
    assert!(journal.take_due(opening).unwrap().is_none(), "taken once");
    journal.close().await;
}
