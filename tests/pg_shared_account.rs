//! Several outdial processes on one account through the shared store (issue 13): real processes,
//! one sandbox, one PostgreSQL database. Their starts and live calls stay inside the account's
//! limits together (zero 429s), a number's cooldown counts every process's calls, and the same
//! campaign cannot run twice (as on two hosts, each with a journal of its own).
//!
//! The server comes from `OUTDIAL_TEST_PG_URL` (see `tests/common/pg.rs`); without it these tests
//! say they skipped and pass, except under `CI=true`, where they fail.

mod common;

use common::pg::{database, spawn_sharing};
use common::{Said, Scenario, limited_account, named_campaign, numbers_in};

const POOL: &[&str] = &["+12125550101", "+14155550102"];

/// Two processes, one campaign each, both paced at the whole account's limits (2 starts a
/// second, 3 live): through the store they are admitted together (no account lock refuses the
/// second) and keep to the limits together, so the account answers no 429 and never has more than
/// 3 live; everyone is called once.
#[tokio::test(flavor = "multi_thread")]
async fn two_processes_keep_to_the_accounts_limits_together() {
    let Some(db) =
        database("pg_shared_account::two_processes_keep_to_the_accounts_limits_together").await
    else {
        return;
    };
    let scenario = Scenario::start_with(limited_account(POOL, 2, 3), "", "phone\n").await;
    let pacing = "[pacing]\ncalls_per_second = 2\nmax_live_calls = 3\nreads_per_second = 20\n";
    let (a_phones, b_phones) = (numbers_in(212, 0, 8), numbers_in(415, 0, 8));
    let a = named_campaign(scenario.dir.path(), "a", &a_phones, pacing);
    let b = named_campaign(scenario.dir.path(), "b", &b_phones, pacing);
    let first = spawn_sharing(&scenario, &db, &a);
    let second = spawn_sharing(&scenario, &db, &b);
    for run in [first, second] {
        let out = run.wait_with_output().await.unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stats = scenario.sandbox.stats();
    assert_eq!(stats.too_many_requests.total(), 0, "no 429s: {stats:?}");
    assert!(stats.max_live <= 3, "more than 3 live: {stats:?}");
    let everyone: Vec<String> = a_phones.into_iter().chain(b_phones).collect();
    scenario.assert_each_called_once(&everyone).await;
    assert_eq!(
        db.inspect("SELECT count(*) FROM leases").await,
        0,
        "every lease was given back"
    );
    db.drop().await;
}

/// A cooldown of an hour on two numbers, three contacts in each of two processes' campaigns: two
/// calls in all, one per number, whichever process made them (each process alone would make
/// two). Both processes then say they have nobody to call now.
#[tokio::test(flavor = "multi_thread")]
async fn a_cooldown_counts_every_processs_calls() {
    let Some(db) = database("pg_shared_account::a_cooldown_counts_every_processs_calls").await
    else {
        return;
    };
    let scenario = Scenario::start(POOL, common::Settings::default(), "phone\n").await;
    let cooled = "[rotation]\nmin_seconds_between_calls_per_number = 3600\n";
    let a = named_campaign(scenario.dir.path(), "a", &numbers_in(212, 0, 3), cooled);
    let b = named_campaign(scenario.dir.path(), "b", &numbers_in(415, 0, 3), cooled);
    let mut first = spawn_sharing(&scenario, &db, &a);
    let mut second = spawn_sharing(&scenario, &db, &b);
    Said::of(&mut first)
        .until_all(&["nobody to call now"])
        .await;
    Said::of(&mut second)
        .until_all(&["nobody to call now"])
        .await;
    let per_number = scenario.calls_per_caller_id().await;
    let expected = POOL.iter().map(|n| (n.to_string(), 1)).collect();
    assert_eq!(per_number, expected, "one call per number in the hour");
    for mut run in [first, second] {
        run.start_kill().unwrap();
        run.wait().await.unwrap();
    }
    db.drop().await;
}

/// The same campaign started from two directories (two journals, as on two hosts): the second
/// is refused with exit 2, naming the first's host and pid, and calls nobody.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_campaign_runs_once_across_hosts() {
    let Some(db) = database("pg_shared_account::the_same_campaign_runs_once_across_hosts").await
    else {
        return;
    };
    let scenario = Scenario::start(POOL, common::Settings::default(), "phone\n").await;
    let slow = "[pacing]\ncalls_per_second = 1\n";
    let here = named_campaign(scenario.dir.path(), "spring", &numbers_in(212, 0, 30), slow);
    let elsewhere = tempfile::TempDir::new().unwrap();
    let there = named_campaign(elsewhere.path(), "spring", &numbers_in(415, 0, 3), slow);
    let mut first = spawn_sharing(&scenario, &db, &here);
    scenario.wait_for_requests(1).await;
    let out = spawn_sharing(&scenario, &db, &there)
        .wait_with_output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let pid = first.id().unwrap();
    assert!(
        stderr.contains("campaign `spring` is already running")
            && stderr.contains(&format!("pid {pid}")),
        "{stderr}"
    );
    let calls = scenario.calls_per_phone().await;
    assert!(
        calls.keys().all(|phone| phone.starts_with("+1212")),
        "the refused run called someone: {calls:?}"
    );
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    db.drop().await;
}

/// Exactly once through the store: bad rows and a duplicate are skipped, every valid contact is
/// called once, and the campaign run again calls nobody.
#[tokio::test(flavor = "multi_thread")]
async fn through_the_store_every_contact_is_called_exactly_once() {
    let Some(db) =
        database("pg_shared_account::through_the_store_every_contact_is_called_exactly_once").await
    else {
        return;
    };
    let scenario = Scenario::start(POOL, common::Settings::default(), "phone\n").await;
    let phones: Vec<String> = numbers_in(212, 0, 100)
        .into_iter()
        .chain(numbers_in(907, 0, 100))
        .collect();
    let fast = "[pacing]\ncalls_per_second = 200\nmax_live_calls = 16\nreads_per_second = 50\n";
    let file = named_campaign(scenario.dir.path(), "once", &phones, fast);
    let csv = scenario.dir.path().join("once.csv");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text.push_str("not a phone,Bad Row,x\n");
    text.push_str(&format!("{},Same Person,x\n", phones[7]));
    std::fs::write(&csv, text).unwrap();
    for _ in 0..2 {
        let out = spawn_sharing(&scenario, &db, &file)
            .wait_with_output()
            .await
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        scenario.assert_each_called_once(&phones).await;
    }
    db.drop().await;
}

/// A create the account refuses with 429 makes no call, so through the store it does not use up
/// its number's daily cap either: with a cap of 5, two numbers, ten contacts and bursts of 429,
/// the run completes (the caps, counting only calls, let each number make its five) instead of
/// waiting for the next day, and the store's record of starts holds exactly the calls made.
#[tokio::test(flavor = "multi_thread")]
async fn through_the_store_refused_creates_do_not_use_up_the_daily_cap() {
    let test = "pg_shared_account::through_the_store_refused_creates_do_not_use_up_the_daily_cap";
    let Some(db) = database(test).await else {
        return;
    };
    let config = outdial::sandbox::SandboxConfig {
        agents: common::agent_with(POOL),
        call_duration: std::time::Duration::ZERO.into(),
        seed: 7,
        faults: outdial::sandbox::Faults {
            bursts: outdial::sandbox::Bursts {
                chance: outdial::sandbox::Share::new(0.3).unwrap(),
                length: std::num::NonZeroU32::new(2).unwrap(),
                retry_after: Some(0),
            },
            ..outdial::sandbox::Faults::default()
        },
        ..outdial::sandbox::SandboxConfig::default()
    };
    let scenario = Scenario::start_with(config, "", "phone\n").await;
    let phones = numbers_in(212, 0, 10);
    let capped = "[pacing]\ncalls_per_second = 200\nmax_live_calls = 4\nreads_per_second = 50\n\n\
                  [rotation]\nstrategy = \"round-robin\"\nmax_calls_per_number_per_day = 5\n";
    let file = named_campaign(scenario.dir.path(), "capped", &phones, capped);

    let run = spawn_sharing(&scenario, &db, &file).wait_with_output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("the run waits for another day: refused creates used up the caps")
        .unwrap();

    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    scenario.assert_each_called_once(&phones).await;
    let stats = scenario.sandbox.stats();
    assert!(
        stats.too_many_requests.total() > 0,
        "no 429 was answered: nothing was tried ({stats:?})"
    );
    let starts = db.inspect("SELECT count(*) FROM caller_id_starts").await;
    assert_eq!(
        starts,
        phones.len() as i64,
        "the store counts {starts} starts for {} calls",
        phones.len()
    );
    db.drop().await;
}
