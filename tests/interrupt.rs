//! Ctrl-C (SPEC §5.4): stop dispatching, let requests in flight finish, save, say how to resume,
//! exit 130; a second Ctrl-C exits at once. Either way the resumed campaign calls nobody twice.

mod common;

use std::time::Duration;

use common::{AGENT, Scenario, Settings, csv_of, numbers_in, phone};
use outdial::sandbox::{AgentSpec, Latency, Sandbox, SandboxConfig};

const POOL: &[&str] = &["+12125550101", "+14155550102"];

async fn interrupt(child: &tokio::process::Child) {
    let pid = child.id().expect("still running").to_string();
    let sent = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
}

/// One Ctrl-C: exit 130 with the resume command; the resume completes with nobody called twice.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_saves_and_says_how_to_resume() {
    let phones = numbers_in(212, 0, 200);
    let settings = Settings {
        calls_per_second: 40.0,
        ..Settings::default()
    };
    let scenario = Scenario::start(POOL, settings, &csv_of(&phones)).await;
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();
    let child = scenario
        .outdial(&["run", file])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    scenario.wait_for_requests(20).await;

    interrupt(&child).await;
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("stops within seconds")
        .unwrap();

    assert_eq!(out.status.code(), Some(130));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("outdial resume {file}")),
        "{stdout}"
    );
    assert!(
        scenario.sandbox.received().await.len() < phones.len(),
        "it stopped dispatching"
    );
    let resumed = scenario
        .outdial(&["resume", file, "-q"])
        .output()
        .await
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    scenario.assert_each_called_once(&phones).await;
}

/// A second Ctrl-C does not wait for slow requests in flight, and the journal is still
/// consistent: the resume finds those calls instead of making them again.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_ctrl_c_exits_at_once_and_the_journal_holds() {
    let slow = Latency {
        min: Duration::from_secs(3),
        max: Duration::from_secs(3),
    };
    let agents = vec![AgentSpec {
        id: AGENT.into(),
        numbers: POOL.iter().map(|n| phone(n)).collect(),
    }];
    let sandbox = Sandbox::start(SandboxConfig {
        agents,
        latency: slow,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let phones = numbers_in(415, 0, 40);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    let scenario = Scenario {
        sandbox,
        ..scenario
    };
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();
    let child = scenario.outdial(&["run", file]).spawn().unwrap();
    scenario.wait_for_requests(16).await; // every slot holds a request the sandbox answers slowly

    interrupt(&child).await;
    tokio::time::sleep(Duration::from_millis(200)).await; // the second press comes a moment later
    interrupt(&child).await;
    let started = tokio::time::Instant::now();
    let status = child.wait_with_output().await.unwrap().status;

    assert_eq!(status.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "it waited for the slow requests"
    );
    let resumed = scenario
        .outdial(&["resume", file, "-q"])
        .output()
        .await
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    scenario.assert_each_called_once(&phones).await;
}
