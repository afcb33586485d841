//! SIGTERM and SIGHUP stop a run the way a first Ctrl-C does: dispatching stops, the journal is
//! saved, the summary and the resume command are printed, and the exit code says which signal
//! (143, 129); a second signal exits at once. Either way the resume calls nobody twice. Logs
//! written to anything but a terminal carry no colour codes.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Scenario, Settings, csv_of, numbers_in};

const POOL: &[&str] = &["+12125550101", "+14155550102"];

async fn send(child: &tokio::process::Child, signal: &str) {
    let pid = child.id().expect("still running").to_string();
    let sent = tokio::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success());
}

/// Starts a slow run, sends `signal` once it is dialling, and checks the stop and the resume.
async fn stop_with(signal: &str, code: i32) {
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
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    scenario.wait_for_requests(20).await;

    send(&child, signal).await;
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("stops within seconds")
        .unwrap();

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(code), "{signal}: {stdout}");
    assert!(
        stdout.contains(&format!("outdial resume {file}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("campaign test-campaign:"),
        "the summary: {stdout}"
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

/// SIGTERM (a supervisor stopping the job): exit 143 after a clean stop.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_cleanly_with_143() {
    stop_with("TERM", 143).await;
}

/// SIGHUP (the terminal closed): exit 129 after a clean stop.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_stops_cleanly_with_129() {
    stop_with("HUP", 129).await;
}

/// A SIGTERM and then a second one while slow requests are in flight: the process exits at
/// once with 143, and the resume finds those calls instead of making them again.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_exits_at_once_and_the_journal_holds() {
    use outdial::sandbox::{AgentSpec, Latency, Sandbox, SandboxConfig};
    let slow = Latency {
        min: Duration::from_secs(3),
        max: Duration::from_secs(3),
    };
    let agents = vec![AgentSpec {
        id: common::AGENT.into(),
        numbers: POOL.iter().map(|n| common::phone(n)).collect(),
    }];
    let sandbox = Sandbox::start(SandboxConfig {
        agents,
        latency: slow,
        call_duration: Duration::ZERO.into(),
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
    scenario.wait_for_requests(16).await;

    send(&child, "TERM").await;
    tokio::time::sleep(Duration::from_millis(200)).await; // the second one comes a moment later
    send(&child, "TERM").await;
    let started = tokio::time::Instant::now();
    let status = child.wait_with_output().await.unwrap().status;

    assert_eq!(status.code(), Some(143));
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

/// Logs at every level, written to a pipe, carry no ANSI escape: a log file stays plain text.
#[tokio::test(flavor = "multi_thread")]
async fn logs_to_a_pipe_have_no_colour_codes() {
    let phones = numbers_in(212, 0, 20);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    let file = scenario.campaign_file();
    let out = scenario
        .outdial(&["run", file.to_str().unwrap(), "-vvv"])
        .env_remove("NO_COLOR")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        ["TRACE", "DEBUG", "INFO"]
            .iter()
            .any(|level| stderr.contains(level)),
        "log lines were written: {stderr}"
    );
    assert!(
        !out.stderr.contains(&0x1b) && !out.stdout.contains(&0x1b),
        "an ESC byte in the output"
    );
}
