//! A reader that goes away (`outdial status X | head -1`) is not a failure: every command that
//! writes to stdout ends with its own exit code and no panic, whether the reader closed before
//! the first byte or after the first line, and a run still settles everyone exactly once.

mod common;

use std::process::{Output, Stdio};
use std::time::Duration;

use common::{Scenario, Settings, csv_of, numbers_in};
use tokio::io::{AsyncBufReadExt, BufReader};

const POOL: &[&str] = &["+12125550101", "+14155550102"];

/// When the reader closes its end of the pipe.
#[derive(Debug, Clone, Copy)]
enum Reader {
    /// Before the command writes anything.
    GoneAtOnce,
    /// After reading one line, like `head -1`.
    AfterOneLine,
}

/// Runs the real binary with stdout on a pipe whose reader leaves as `reader` says; stderr is
/// collected. With `stderr_closed`, stderr's reader is gone from the start as well.
async fn run_into_closed_pipe(
    scenario: &Scenario,
    args: &[&str],
    reader: Reader,
    stderr_closed: bool,
) -> Output {
    let mut command = scenario.outdial(args);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    if stderr_closed {
        drop(child.stderr.take());
    }
    match reader {
        Reader::GoneAtOnce => drop(stdout),
        Reader::AfterOneLine => {
            let mut first = String::new();
            BufReader::new(stdout).read_line(&mut first).await.unwrap();
            assert!(!first.is_empty(), "{args:?} wrote a first line");
        }
    }
    tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the command ends")
        .unwrap()
}

fn assert_quiet_end(out: &Output, code: i32, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert!(!stderr.contains("cannot write"), "{what}: {stderr}");
}

/// `run`, then `status` (text and JSON), `plan` (text and JSON) and `export`, each with the
/// reader gone at once and after one line: exit 0, no panic, nobody called twice or missed.
#[tokio::test(flavor = "multi_thread")]
async fn every_command_ends_quietly_when_its_reader_goes_away() {
    let phones = numbers_in(212, 0, 300);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();

    let out = run_into_closed_pipe(&scenario, &["run", file], Reader::GoneAtOnce, false).await;
    assert_quiet_end(&out, 0, "run");
    scenario.assert_each_called_once(&phones).await;
    // A second run writes its summary into a pipe read for one line only.
    let out = run_into_closed_pipe(&scenario, &["run", file], Reader::AfterOneLine, false).await;
    assert_quiet_end(&out, 0, "run | head -1");
    scenario.assert_each_called_once(&phones).await;

    let commands: [&[&str]; 5] = [
        &["status", file],
        &["status", file, "--json"],
        &["plan", file],
        &["plan", file, "--json"],
        &["export", file],
    ];
    for args in commands {
        for reader in [Reader::GoneAtOnce, Reader::AfterOneLine] {
            let out = run_into_closed_pipe(&scenario, args, reader, false).await;
            assert_quiet_end(&out, 0, &format!("{args:?} {reader:?}"));
        }
    }
}

/// A run whose stdout and stderr readers are both gone, with logs at debug level and progress
/// lines on stderr, still completes with exit 0 and calls everyone once.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_with_both_readers_gone_completes() {
    let phones = numbers_in(415, 0, 200);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    let file = scenario.campaign_file();
    let out = run_into_closed_pipe(
        &scenario,
        &["run", file.to_str().unwrap(), "-vv"],
        Reader::GoneAtOnce,
        true,
    )
    .await;
    assert_eq!(out.status.code(), Some(0));
    scenario.assert_each_called_once(&phones).await;
}
