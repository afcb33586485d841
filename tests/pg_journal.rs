//! The journal kept in the shared store (PostgreSQL, `OUTDIAL_TEST_PG_URL`; skipped without it
//! outside CI): it keeps what the sled journal keeps, read back in the same order; a campaign
//! killed on one host resumes on another; and a journal is never looked for in the wrong place.

mod common;

use common::{Scenario, Settings, csv_of, numbers_in, phone};
use jiff::{SignedDuration, Timestamp};
use outdial::api::CallState;
use outdial::contacts::Contact;
use outdial::journal::{Compression, Entry, Journal, Opening, Refusal};
use outdial::rotation::{Choice, Match};
use outdial::store::{Origin, StoreUrl};

const POOL: &[&str] = &["+12125550101", "+14155550102", "+13125550104"];

fn contact(phone_text: &str, line: u64) -> Contact {
    Contact {
        phone: phone(phone_text),
        name: format!("Line {line}"),
        line,
        time_zone: None,
        region: None,
        custom_variables: Vec::new(),
    }
}

fn ended(status: &str) -> CallState {
    serde_json::from_value(serde_json::json!({"status": status, "duration": 31})).unwrap()
}

/// Plays the same life on `journal`: 1,300 contacts (past two pages of the store's scans), each
/// in one of the states a run leaves, from three caller IDs, with starts kept, a refusal, a meta
/// record and a skipped row.
fn play(journal: &Journal, began: Timestamp) {
    let run = journal.begin_run().unwrap();
    let callers: Vec<_> = POOL.iter().map(|n| phone(n)).collect();
    let phones = [212, 415, 312, 907]
        .iter()
        .flat_map(|npa| numbers_in(*npa, 0, 325));
    for (i, p) in phones.enumerate() {
        let at = began + SignedDuration::from_millis(i as i64 * 250);
        let mut entry = Entry::new(contact(&p, i as u64 + 2), run, at);
        let choice = Choice {
            caller_id: callers[i % callers.len()].clone(),
            local_match: Match::Other,
            local: None,
        };
        match i % 5 {
            0 => {}
            1 => entry.wait_until(at + SignedDuration::from_mins((i % 7) as i64), at),
            2 => entry.dialing(&choice, at),
            3 => {
                entry.dialing(&choice, at);
                entry.placed(format!("call-{i}"), at);
            }
            _ => {
                entry.dialing(&choice, at);
                entry.placed(format!("call-{i}"), at);
                entry.done(ended(if i % 2 == 0 { "completed" } else { "failed" }), at);
            }
        }
        journal.put(&entry).unwrap();
        if i % 5 >= 2 {
            journal.note_start(&choice.caller_id, at, 40).unwrap();
        }
    }
    journal
        .record_refusal(&Refusal {
            number: callers[1].clone(),
            run,
            at: began,
            detail: "not attached".into(),
        })
        .unwrap();
    journal.meta_put("csv", b"read to line 1301").unwrap();
    journal.flush().unwrap();
}

/// Everything a resume, `status` and `export` read from a journal, as text.
fn read_back(journal: &Journal, at: Timestamp) -> Vec<String> {
    let mut seen = vec![format!("{:?}", journal.tally())];
    seen.push(format!("runs {}", journal.latest_run().unwrap()));
    for entry in journal.entries() {
        let e = entry.unwrap();
        seen.push(format!("entry {} {:?} {}", e.phone(), e.state, e.attempts));
    }
    for entry in journal.open_entries() {
        seen.push(format!("open {}", entry.unwrap().phone()));
    }
    for attempt in journal.attempts() {
        seen.push(format!("attempt {:?}", attempt.unwrap()));
    }
    for caller in journal.callers().unwrap() {
        let latest = journal.latest_attempts(&caller, 3).unwrap();
        seen.push(format!("latest attempts {caller} {latest:?}"));
        let starts = journal.latest_starts(&caller, 600).unwrap();
        seen.push(format!("starts {caller} {}: {starts:?}", starts.len()));
    }
    for refusal in journal.refusals() {
        seen.push(format!("refusal {:?}", refusal.unwrap()));
    }
    seen.push(format!("meta {:?}", journal.meta_get("csv").unwrap()));
    seen.push(format!(
        "next due {:?}",
        journal.next_due().unwrap().map(|e| e.phone().clone())
    ));
    while let Some(due) = journal.take_due(at).unwrap() {
        seen.push(format!("due {}", due.phone()));
    }
    seen
}

fn store_url(db: &common::pg::TestDb) -> StoreUrl {
    StoreUrl::parse(&db.url_text(), Origin::Environment).unwrap()
}

/// The same writes, made to a sled journal and to one in the store, read back the same: every
/// entry, the open index, the tally, the attempt history by caller, the starts kept for the
/// caps, the refusals, the meta records and the due queue, in the same order. The store's is
/// read again from another directory (another host), after it was closed.
#[tokio::test(flavor = "multi_thread")]
async fn the_store_keeps_what_the_disk_keeps() {
    let Some(db) = common::pg::database("pg_journal::the_store_keeps_what_the_disk_keeps").await
    else {
        return;
    };
    let url = store_url(&db);
    let dirs = tempfile::TempDir::new().unwrap();
    let began: Timestamp = "2026-12-02T14:00:00Z".parse().unwrap();
    let later = began + SignedDuration::from_hours(1);

    let on_disk =
        Journal::open_or_create(&dirs.path().join("disk"), "c", began, Compression::Plain).unwrap();
    let host_a = dirs.path().join("host-a");
    let in_store = Journal::open_in_store(&host_a, "c", &url, Opening::StartOrResume).unwrap();
    play(&on_disk, began);
    play(&in_store, began);
    let disk_reads = read_back(&on_disk, began - SignedDuration::from_secs(1));
    let store_reads = read_back(&in_store, began - SignedDuration::from_secs(1));
    assert!(
        disk_reads.len() > 2_600,
        "{} records read",
        disk_reads.len()
    );
    assert_eq!(disk_reads[0], store_reads[0], "the tally");
    for (disk, store) in disk_reads.iter().zip(&store_reads).skip(2) {
        assert_eq!(disk, store);
    }
    assert_eq!(disk_reads.len(), store_reads.len());
    let began_in_store = in_store.began();
    in_store.close().await;

    let host_b = dirs.path().join("host-b");
    let reopened = Journal::open_in_store(&host_b, "c", &url, Opening::Existing).unwrap();
    let disk_due = read_back(&on_disk, later);
    let store_due = read_back(&reopened, later);
    assert_eq!(
        disk_due[0], store_due[0],
        "the tally, read from the store on open"
    );
    assert_eq!(disk_due[1..], store_due[1..]);
    assert!(
        store_due.iter().filter(|r| r.starts_with("due ")).count() > 200,
        "the waiting contacts come due"
    );
    assert!(
        !host_b.join("sled").exists(),
        "nothing kept on host B's disk"
    );
    assert_eq!(
        reopened.began(),
        began_in_store,
        "when the campaign began is kept"
    );
    reopened.close().await;
    on_disk.close().await;
    db.drop().await;
}

/// Killed with SIGKILL on one host mid-run, the campaign resumes on another (its own copy of the
/// campaign and contacts, no journal on its disk) through the store: everyone is called once,
/// and `status` on either host, or on a third that never ran it, reads the finished campaign.
#[tokio::test(flavor = "multi_thread")]
async fn a_campaign_killed_on_one_host_resumes_on_another() {
    let Some(db) =
        common::pg::database("pg_journal::a_campaign_killed_on_one_host_resumes_on_another").await
    else {
        return;
    };
    let phones = numbers_in(212, 0, 150);
    let settings = Settings {
        calls_per_second: 40.0,
        ..Settings::default()
    };
    let scenario = Scenario::start(POOL, settings, &csv_of(&phones)).await;
    let host_b = tempfile::TempDir::new().unwrap();
    // Host C only ever asks for the status: it has never run the campaign.
    let host_c = tempfile::TempDir::new().unwrap();
    for host in [&host_b, &host_c] {
        for file in ["campaign.toml", "contacts.csv"] {
            std::fs::copy(scenario.dir.path().join(file), host.path().join(file)).unwrap();
        }
    }
    let on = |dir: &std::path::Path, verb: &str| {
        common::pg::through(&scenario, &db, verb, &dir.join("campaign.toml"))
    };

    let mut child = on(scenario.dir.path(), "run").spawn().unwrap();
    scenario.wait_for_requests(40).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let made = scenario.sandbox.received().await.len();
    assert!(made < phones.len(), "killed midway: {made} requests");
    // As if killed before its first status snapshot (written each second): what host A's
    // `status` knows of the file must then come from the store's journal, as on host C.
    let snapshot = outdial::report::Report::snapshot_path(&scenario.campaign().journal_dir);
    let _ = std::fs::remove_file(snapshot);

    let resumed = on(host_b.path(), "resume").output().await.unwrap();
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    scenario.assert_each_called_once(&phones).await;
    assert!(
        !host_b.path().join(".outdial/test-campaign/sled").exists(),
        "host B resumed from the store, not from a journal of its own"
    );
    for host in [scenario.dir.path(), host_b.path(), host_c.path()] {
        let status = on(host, "status").arg("--json").output().await.unwrap();
        let report: serde_json::Value = serde_json::from_slice(&status.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&status.stderr)));
        assert_eq!(report["phase"], "complete", "{report}");
        assert_eq!(report["tally"]["states"]["done"], 150, "{report}");
    }
    db.drop().await;
}

/// A campaign never run through the store is "not started yet" to `status`, and `resume` does
/// not silently start it; one whose journal is on this disk is not silently started afresh in
/// the store (which would call its contacts again): both are refused, exit 2, each with the way
/// forward; `repair` says the store's journal is PostgreSQL's to keep.
#[tokio::test(flavor = "multi_thread")]
async fn a_journal_is_never_looked_for_in_the_wrong_place() {
    let Some(db) =
        common::pg::database("pg_journal::a_journal_is_never_looked_for_in_the_wrong_place").await
    else {
        return;
    };
    let phones = numbers_in(415, 0, 5);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    let file = scenario.campaign_file();
    let through_store = |verb: &str| common::pg::through(&scenario, &db, verb, &file);

    let status = through_store("status").output().await.unwrap();
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert_eq!(
        status.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(stdout.contains("not started yet"), "{stdout}");

    let resume = through_store("resume").output().await.unwrap();
    let stderr = String::from_utf8_lossy(&resume.stderr);
    assert_eq!(resume.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no journal in the store") && stderr.contains("outdial run"),
        "{stderr}"
    );

    scenario.run().await;
    let before = scenario.sandbox.received().await.len();
    let run = through_store("run").output().await.unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("keeps its journal on this disk") && stderr.contains("OUTDIAL_STORE_URL"),
        "{stderr}"
    );
    assert_eq!(
        scenario.sandbox.received().await.len(),
        before,
        "nobody called"
    );

    let repair = through_store("repair").output().await.unwrap();
    let stderr = String::from_utf8_lossy(&repair.stderr);
    assert_eq!(repair.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("PostgreSQL keeps whole"), "{stderr}");
    let records = db.inspect("SELECT count(*) FROM journal_records").await;
    assert_eq!(records, 0, "nothing was written to the store");
    db.drop().await;
}
