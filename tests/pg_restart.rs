//! The shared store restarting in the middle of a run (issue 13): the run waits while
//! PostgreSQL is away, goes on once it is back, and calls nobody twice. In a file of its own:
//! the restart cuts every session on the test server, so no other test may run beside it (test
//! binaries run one after another; the tests inside one run together).
//!
//! The server comes from `OUTDIAL_TEST_PG_URL` and `OUTDIAL_TEST_PG_DIR` (`.ci/pg start DIR`
//! writes both); without them this test says it skipped and passes, except under `CI=true`.

mod common;

use common::pg::{database, spawn_sharing};
use common::{Scenario, named_campaign, numbers_in};

const POOL: &[&str] = &["+12125550101", "+14155550102"];

/// The store restarts mid-run (every session cut): the run waits for it, goes on, and ends with
/// everyone called exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_store_restart_mid_run_pauses_and_nobody_is_called_twice() {
    let Some(db) =
        database("pg_restart::a_store_restart_mid_run_pauses_and_nobody_is_called_twice").await
    else {
        return;
    };
    let cluster = std::env::var("OUTDIAL_TEST_PG_DIR")
        .expect("OUTDIAL_TEST_PG_DIR names the test cluster (`.ci/pg start DIR` writes it)");
    let scenario = Scenario::start(POOL, common::Settings::default(), "phone\n").await;
    let phones = numbers_in(212, 0, 60);
    let file = named_campaign(
        scenario.dir.path(),
        "steady",
        &phones,
        "[pacing]\ncalls_per_second = 15\n",
    );
    let run = spawn_sharing(&scenario, &db, &file);
    scenario.wait_for_requests(10).await;
    let restarted = tokio::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/pg"))
        .args(["restart", &cluster])
        .status()
        .await
        .unwrap();
    assert!(restarted.success(), "the test cluster restarts");
    let before_the_end = scenario.sandbox.received().await.len();
    assert!(
        before_the_end < phones.len(),
        "the restart came too late to test anything"
    );
    let out = run.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    scenario.assert_each_called_once(&phones).await;
    db.drop().await;
}
