//! A run stopped at any moment resumes without calling anyone twice and without missing anyone.

mod common;

use common::{Scenario, Settings, csv_of, numbers_in, open_journal};
use outdial::campaign::ApiKey;
use outdial::dialer::{self, Ending};
use outdial::progress::Display;

const POOL: &[&str] = &[
    "+12125550101",
    "+14155550102",
    "+13125550104",
    "+17135550105",
];

fn many_contacts(n_per_code: u32) -> Vec<String> {
    [212, 415, 312, 713, 718, 907]
        .iter()
        .flat_map(|npa| numbers_in(*npa, 0, n_per_code))
        .collect()
}

/// Aborting the run's task midway (its futures dropped wherever they were), then running again,
/// leaves every contact called exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn an_aborted_run_resumes_without_calling_anyone_twice() {
    let phones = many_contacts(100);
    let settings = Settings {
        calls_per_second: 300.0,
        ..Settings::default()
    };
    let scenario = Scenario::start(POOL, settings, &csv_of(&phones)).await;
    let campaign = scenario.campaign();

    let task = tokio::spawn({
        let campaign = campaign.clone();
        async move {
            let journal = open_journal(&campaign).await;
            dialer::launch(
                &campaign,
                &journal,
                ApiKey::new("k"),
                Display::Quiet,
                std::future::pending(),
            )
            .await
        }
    });
    scenario.wait_for_requests(250).await;
    task.abort();
    assert!(
        task.await.unwrap_err().is_cancelled(),
        "the run was still going when aborted"
    );
    let sent_before_resume = scenario.sandbox.received().await.len();
    assert!(
        sent_before_resume < phones.len(),
        "the abort came too late to test anything"
    );

    let finish = scenario.run().await;

    assert!(
        matches!(finish.ending, Ending::Complete),
        "{:?}",
        finish.ending
    );
    scenario.assert_each_called_once(&phones).await;
    assert_eq!(finish.report.tally.placed(), phones.len() as u64);
}

/// The real binary killed with SIGKILL at three moments, resumed each time, then run to the end:
/// the sandbox's record shows every contact called exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_binary_killed_with_sigkill_resumes_without_calling_anyone_twice() {
    let phones = many_contacts(250);
    let settings = Settings {
        calls_per_second: 400.0,
        max_live_calls: 32,
        ..Settings::default()
    };
    let scenario = Scenario::start(POOL, settings, &csv_of(&phones)).await;
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();

    for (round, kill_after) in [200, 600, 1000].into_iter().enumerate() {
        let verb = if round == 0 { "run" } else { "resume" };
        let mut child = scenario.outdial(&[verb, file, "-q"]).spawn().unwrap();
        scenario.wait_for_requests(kill_after).await;
        child.start_kill().unwrap(); // SIGKILL
        let status = child.wait().await.unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "killed, not finished"
        );
    }
    let done = scenario
        .outdial(&["resume", file, "-q"])
        .output()
        .await
        .unwrap();

    assert!(
        done.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stdout).contains("complete"));
    scenario.assert_each_called_once(&phones).await;
}

/// `resume` is for ops scripts: it refuses to start a campaign that has no journal.
#[tokio::test(flavor = "multi_thread")]
async fn resume_refuses_a_campaign_without_a_journal() {
    let scenario =
        Scenario::start(POOL, Settings::default(), &csv_of(&numbers_in(212, 0, 3))).await;

    let out = scenario
        .outdial(&["resume", scenario.campaign_file().to_str().unwrap()])
        .output()
        .await
        .unwrap();

    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no journal") && stderr.contains("outdial run"),
        "{stderr}"
    );
    assert!(scenario.sandbox.received().await.is_empty());
}

/// Only one process runs a campaign: a second one exits 2 and names the first by its pid.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_process_on_the_same_campaign_exits_2_naming_the_first() {
    let settings = Settings {
        calls_per_second: 5.0,
        ..Settings::default()
    };
    let scenario = Scenario::start(POOL, settings, &csv_of(&numbers_in(212, 0, 100))).await;
    let file = scenario.campaign_file();
    let mut first = scenario
        .outdial(&["run", file.to_str().unwrap(), "-q"])
        .spawn()
        .unwrap();
    scenario.wait_for_requests(1).await;

    let second = scenario
        .outdial(&["run", file.to_str().unwrap()])
        .output()
        .await
        .unwrap();

    first.start_kill().unwrap();
    assert_eq!(second.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&second.stderr);
    let pid = first.id().map(|p| p.to_string()).unwrap_or_default();
    assert!(
        stderr.contains("already running") && stderr.contains(&format!("pid {pid}")),
        "{stderr}"
    );
}
