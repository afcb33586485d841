//! `status` and `run --json` tell the truth to people and scripts: totals count the whole file
//! from the start, figures a stuck run stopped refreshing are marked stale, `status --json` has
//! one shape in every phase with the same exit code as the text form, and `run --json` ends with
//! one summary whose exit code is the process's.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Scenario, Settings, csv_of, numbers_in};
use outdial::journal::Journal;
use outdial::report::{Phase, Report, Tally};
use serde_json::Value;

const POOL: &[&str] = &["+12125550101", "+12125550102"];

/// `outdial status FILE [--json]`: exit code, stdout.
async fn status(scenario: &Scenario, json: bool) -> (i32, String) {
    let file = scenario.campaign_file();
    let mut args = vec!["status", file.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    let out = scenario.outdial(&args).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap(), stdout)
}

async fn status_json(scenario: &Scenario) -> Value {
    let (code, stdout) = status(scenario, true).await;
    assert_eq!(code, 0, "{stdout}");
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}): {stdout}"))
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

/// Slow enough that a one-second run makes only a few calls and reads few rows.
fn slow() -> Settings {
    Settings {
        calls_per_second: 2.0,
        ..Settings::default()
    }
}

/// Not started, stopped with most of the file unread, and complete: the text and JSON forms exit
/// alike (0), the JSON has the same keys in each phase, and the totals count the file's 130 rows
/// from the start, not the rows a run had read when it stopped.
#[tokio::test(flavor = "multi_thread")]
async fn status_counts_the_whole_file_in_one_shape_in_every_phase() {
    let phones = numbers_in(212, 0, 130);
    let scenario = Scenario::start(POOL, slow(), &csv_of(&phones)).await;
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();

    let (code, text) = status(&scenario, false).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("not started yet"), "{text}");
    let not_started = status_json(&scenario).await;
    assert_eq!(not_started["phase"], "not_started");
    assert_eq!(not_started["rows_in_file"], Value::Null);

    let stopped_early = scenario
        .outdial(&["run", file, "--max-runtime", "1s"])
        .output()
        .await
        .unwrap();
    assert_eq!(stopped_early.status.code(), Some(75));
    let stopped = status_json(&scenario).await;
    assert_eq!(stopped["phase"], "stopped", "{stopped:#}");
    assert_eq!(stopped["rows_in_file"], 130, "{stopped:#}");
    // A run killed before its first snapshot leaves none: the journal still counts the file.
    std::fs::remove_file(Report::snapshot_path(&scenario.campaign().journal_dir)).unwrap();
    let unshown = status_json(&scenario).await;
    assert_eq!(unshown["rows_in_file"], 130, "{unshown:#}");
    assert_eq!(unshown["tally"], stopped["tally"], "{unshown:#}");
    let (_, text) = status(&scenario, false).await;
    let headline = text.lines().next().unwrap();
    let figures: Vec<u64> = headline
        .split(['·', ':'])
        .filter_map(|part| part.split_whitespace().next()?.parse().ok())
        .collect();
    let [rows, settled, to_go] = figures[..] else {
        panic!("rows, settled, to go: {text}");
    };
    assert_eq!(rows, 130, "{text}");
    assert!(settled < 20, "a slow run stopped after a second: {text}");
    assert_eq!(settled + to_go, 130, "{text}");

    scenario.write_campaign(&Settings::default());
    let done = scenario.outdial(&["run", file]).output().await.unwrap();
    assert_eq!(done.status.code(), Some(0));
    let complete = status_json(&scenario).await;
    assert_eq!(complete["phase"], "complete", "{complete:#}");
    assert_eq!(complete["tally"]["states"]["done"], 130, "{complete:#}");
    let (_, text) = status(&scenario, false).await;
    assert!(
        text.contains("130 rows in the file · 130 settled · 0 to go"),
        "{text}"
    );

    assert_eq!(keys(&not_started), keys(&stopped));
    assert_eq!(keys(&stopped), keys(&complete));
}

/// While a process holds the journal, `status` shows its snapshot; one not refreshed for longer
/// than the staleness limit is marked stale in text and JSON, a fresh one is not, and both have
/// the shape of every other phase.
#[tokio::test(flavor = "multi_thread")]
async fn figures_a_running_process_stopped_refreshing_are_marked_stale() {
    let phones = numbers_in(212, 0, 3);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    let campaign = scenario.campaign();
    // This test process holds the journal's lock, as a running `outdial run` would.
    let journal = Journal::open(&campaign.journal_dir, &campaign.name).unwrap();
    let now = jiff::Timestamp::now();
    let snapshot = |age: i64| {
        let mut report = Report::new(
            &campaign.name,
            Phase::Running,
            Tally::default(),
            now - jiff::SignedDuration::from_secs(age),
        );
        report.running = Some("pid 1".into());
        report.rows_in_file = Some(3);
        report.save_snapshot(journal.dir()).unwrap();
    };

    snapshot(1);
    let fresh = status_json(&scenario).await;
    assert_eq!(fresh["phase"], "running");
    assert_eq!(fresh["stale"], false, "{fresh:#}");
    let (_, text) = status(&scenario, false).await;
    assert!(text.contains("running: pid 1"), "{text}");
    assert!(!text.contains("STALE"), "{text}");

    let limit = outdial::report::STALE_AFTER.as_secs() as i64;
    snapshot(limit + 5);
    let stale = status_json(&scenario).await;
    assert_eq!(stale["stale"], true, "{stale:#}");
    let (_, text) = status(&scenario, false).await;
    assert!(text.contains("STALE"), "{text}");

    drop(journal);
    let stopped = status_json(&scenario).await;
    assert_eq!(keys(&fresh), keys(&stopped));
}

/// `run --json` prints exactly one JSON document on stdout: its `exit_code` is the process's,
/// its `ending` names why the run ended, a stopped run says how to resume, and the run's own
/// figures count only its own calls (a resume does not claim an earlier run's calls).
#[tokio::test(flavor = "multi_thread")]
async fn run_json_ends_with_one_summary_matching_the_exit_code() {
    let phones = numbers_in(212, 0, 40);
    let scenario = Scenario::start(POOL, slow(), &csv_of(&phones)).await;
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();
    let run_json = |args: Vec<&'static str>| {
        let mut all = vec!["run", file, "--json"];
        all.extend(args);
        let command = scenario.outdial(&all).output();
        async move {
            let out = tokio::time::timeout(Duration::from_secs(60), command)
                .await
                .expect("the run ends")
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let summary: Value = serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout}"));
            (out.status.code().unwrap(), summary)
        }
    };

    let (code, summary) = run_json(vec!["--max-runtime", "1s"]).await;
    assert_eq!(code, 75);
    assert_eq!(summary["exit_code"], 75, "{summary:#}");
    assert_eq!(summary["ending"], "deadline", "{summary:#}");
    assert!(
        summary["resume"]
            .as_str()
            .unwrap()
            .contains("outdial resume"),
        "{summary:#}"
    );
    assert_eq!(summary["report"]["phase"], "stopped", "{summary:#}");
    let first_run = scenario.sandbox.received().await.len();
    assert_eq!(summary["report"]["run"]["calls"], first_run, "{summary:#}");
    // The contact a stopped run had read but not yet dialled is in its journal, as in its
    // figures (a new contact is first written when it is dialled).
    let said: Tally = serde_json::from_value(summary["report"]["tally"].clone()).unwrap();
    let journal = common::open_journal(&scenario.campaign()).await;
    assert_eq!(
        journal.tally(),
        said,
        "the journal counts what the run said"
    );
    assert!(
        said.states.values().sum::<u64>() > first_run as u64,
        "{said:?}"
    );
    journal.close().await;

    scenario.write_campaign(&Settings::default());
    let (code, summary) = run_json(vec![]).await;
    assert_eq!(code, 0);
    assert_eq!(summary["exit_code"], 0, "{summary:#}");
    assert_eq!(summary["ending"], "complete", "{summary:#}");
    assert_eq!(summary["resume"], Value::Null);
    assert_eq!(summary["report"]["phase"], "complete");
    assert_eq!(summary["report"]["rows_in_file"], 40);
    let both_runs = scenario.sandbox.received().await.len();
    assert_eq!(both_runs, 40, "everyone called once");
    assert_eq!(
        summary["report"]["run"]["calls"],
        both_runs - first_run,
        "the resumed run counts its own calls only: {summary:#}"
    );
    assert_eq!(summary["report"]["run"]["live_calls"], 0, "{summary:#}");
}
