//! `--max-runtime` and `--until` end a run like a first Ctrl-C, with exit 75: a run waiting for a
//! closed window does not sleep for hours holding its lock; it stops at its deadline, the journal
//! stays consistent, and a later run goes on from it without calling anyone twice. Bad values are exit 2 before any request.

mod common;

use std::time::Duration;

use common::{Scenario, Settings, csv_of, numbers_in};

const POOL: &[&str] = &["+12125550101"];

/// A campaign whose window is closed all day today and tomorrow (every weekday but the day after
/// tomorrow's, in every zone), so that a run can only wait.
fn closed_window(scenario: &Scenario) {
    let text = std::fs::read_to_string(scenario.campaign_file()).unwrap();
    let later = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(3))
        .unwrap();
    let day = later.strftime("%a").to_string().to_ascii_lowercase();
    let text = text.replace(
        "days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]",
        &format!("days = [\"{day}\"]"),
    );
    std::fs::write(scenario.campaign_file(), text).unwrap();
}

/// A run with a closed window and `--max-runtime 2s` exits 75 within seconds, having called
/// nobody; `status` reads the journal (the lock is free), a second run stops the same way, and
/// every contact in the journal is still pending.
#[tokio::test(flavor = "multi_thread")]
async fn max_runtime_ends_a_run_waiting_for_its_window() {
    let phones = numbers_in(212, 0, 30);
    let scenario = Scenario::start(POOL, Settings::default(), &csv_of(&phones)).await;
    closed_window(&scenario);
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();

    let started = std::time::Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        scenario
            .outdial(&["run", file, "--max-runtime", "2s"])
            .output(),
    )
    .await
    .expect("the run ends at its deadline")
    .unwrap();
    let elapsed = started.elapsed();

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(75),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        elapsed >= Duration::from_secs(2),
        "not before its deadline: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(15), "promptly: {elapsed:?}");
    assert!(stdout.contains("time is up"), "{stdout}");
    assert!(
        stdout.contains(&format!("outdial resume {file}")),
        "{stdout}"
    );
    assert!(
        scenario.sandbox.received().await.is_empty(),
        "nobody is called in a closed window"
    );

    let status = scenario.outdial(&["status", file]).output().await.unwrap();
    let status_text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "the lock is free");
    // The run reads the CSV as it dials, so the journal holds the contacts read so far.
    assert!(status_text.contains("pending"), "{status_text}");
    assert!(!status_text.contains("dialing"), "{status_text}");
    assert!(status_text.contains("next window opens"), "{status_text}");

    // A second run stops the same way and still calls nobody; every contact read is pending,
    // none left `dialing`, in the export.
    let again = scenario
        .outdial(&["run", file, "--max-runtime", "1s"])
        .output()
        .await
        .unwrap();
    assert_eq!(again.status.code(), Some(75));
    assert!(scenario.sandbox.received().await.is_empty());
    let export = scenario.outdial(&["export", file]).output().await.unwrap();
    let mut rows = csv::Reader::from_reader(export.stdout.as_slice());
    let state = rows.headers().unwrap().iter().position(|h| h == "state");
    let state = state.expect("the export has a state column");
    let states: Vec<String> = rows
        .records()
        .map(|row| row.unwrap()[state].to_owned())
        .collect();
    assert!(!states.is_empty(), "{states:?}");
    assert!(states.iter().all(|s| s == "pending"), "{states:?}");
}

/// `--until` with an RFC 3339 instant two seconds ahead stops the same way, mid-campaign: the
/// contacts dialled so far are settled and the resume completes without calling anyone twice.
#[tokio::test(flavor = "multi_thread")]
async fn until_ends_a_slow_run_mid_campaign() {
    let phones = numbers_in(415, 0, 200);
    let settings = Settings {
        calls_per_second: 20.0,
        ..Settings::default()
    };
    let scenario = Scenario::start(POOL, settings, &csv_of(&phones)).await;
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();
    let until = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(2))
        .unwrap()
        .to_string();

    let out = tokio::time::timeout(
        Duration::from_secs(30),
        scenario.outdial(&["run", file, "--until", &until]).output(),
    )
    .await
    .expect("the run ends at its deadline")
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = scenario.sandbox.received().await.len();
    assert!(
        sent > 0 && sent < phones.len(),
        "stopped mid-campaign after {sent}"
    );

    let resumed = scenario
        .outdial(&["resume", file, "-q"])
        .output()
        .await
        .unwrap();
    assert_eq!(resumed.status.code(), Some(0));
    scenario.assert_each_called_once(&phones).await;
}

/// A duration or a time that cannot be read, a zero duration and an instant already past are
/// exit 2 naming the flag, before any request.
#[tokio::test(flavor = "multi_thread")]
async fn bad_limits_are_refused_before_any_request() {
    let scenario =
        Scenario::start(POOL, Settings::default(), &csv_of(&numbers_in(212, 0, 3))).await;
    let file = scenario.campaign_file();
    let file = file.to_str().unwrap();
    let cases: [&[&str]; 5] = [
        &["--max-runtime", "soon"],
        &["--max-runtime", "0s"],
        &["--until", "25:00"],
        &["--until", "teatime"],
        &["--until", "2001-01-01T00:00:00Z"],
    ];
    for case in cases {
        let mut args = vec!["run", file];
        args.extend_from_slice(case);
        let out = scenario.outdial(&args).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{case:?}: {stderr}");
        assert!(
            stderr.contains(case[0]),
            "{case:?} names the flag: {stderr}"
        );
    }
    assert!(scenario.sandbox.received().await.is_empty());
}
