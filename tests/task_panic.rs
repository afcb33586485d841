//! Tasks are owned (issue 8, points 11 and 14): call tasks live in the dialer's `JoinSet`, so a
//! panic in any of them ends the run with exit 1 and a message instead of leaving it waiting
//! forever for a report that never comes; and since the journal was written first, the contact
//! whose task panicked is looked up, not called again, by the next run.
//!
//! The panic comes from the debug-build hook `OUTDIAL_TEST_PANIC_AFTER_CREATE` (see
//! `call.rs`): a create task panics right after its call is created, the worst moment, as a bug
//! in a call task would.

mod common;

use std::time::Duration;

use common::{Scenario, Settings, csv_of, numbers_in};

/// The real binary with the hook set: exit 1 within the bound (no hang), the message names the
/// panic and what to do; a run without the hook then settles everyone with one call each, the
/// calls created before the panic included.
#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_call_task_ends_the_run_with_exit_1_and_no_one_is_called_twice() {
    let phones = numbers_in(212, 0, 12);
    let settings = Settings {
        max_live_calls: 2,
        ..Settings::default()
    };
    let scenario = Scenario::start(&["+12125550101"], settings, &csv_of(&phones)).await;
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();

    let run = scenario
        .outdial(&["run", "--quiet", file])
        .env("OUTDIAL_TEST_PANIC_AFTER_CREATE", "1")
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the run ended instead of hanging")
        .unwrap();

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("a call task panicked"), "{stderr}");
    assert!(stderr.contains("outdial resume"), "{stderr}");
    let created_before = scenario.calls_per_phone().await.len();
    assert!(created_before >= 1, "the panic came after a create");

    let out = scenario
        .outdial(&["run", "--quiet", file])
        .output()
        .await
        .unwrap();

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    scenario.assert_each_called_once(&phones).await;
}
