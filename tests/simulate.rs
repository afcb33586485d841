//! `outdial simulate` (issue 12): the campaign played on a virtual clock, in-process, with the
//! dialer of `run`. The guarantees of a run hold in a play — checked from the vendor's side,
//! each computed here from the received requests, not from what the dialer says — the same
//! seed gives the same play, and the command asks nothing of the network.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::process::Stdio;

use jiff::Timestamp;
use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use outdial::campaign::{Campaign, Overrides, Strategy};
use outdial::sandbox::{ReceivedCall, Sandbox, SandboxConfig};
use outdial::simulate::{Play, Simulation};

use common::{campaign_text, numbers_in};

/// One number in each of four single-zone area codes.
const POOL: [(&str, &str); 4] = [
    ("+12125550101", "America/New_York"),
    ("+13125550102", "America/Chicago"),
    ("+13035550103", "America/Denver"),
    ("+14155550104", "America/Los_Angeles"),
];
const CAP: usize = 15;
const GAP_SECONDS: i64 = 120;
const MAX_ATTEMPTS: usize = 2;
/// Friday 2026-12-04, 00:00 UTC: a Friday, a weekend with the window shut, and a Monday.
const START: &str = "2026-12-04T00:00:00Z";
const DAYS: u32 = 4;

fn tables() -> String {
    let numbers = POOL
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"[pacing]
calls_per_second = 2.0
max_live_calls = 6

[rotation]
numbers = [{numbers}]
max_calls_per_number_per_day = {CAP}
min_seconds_between_calls_per_number = {GAP_SECONDS}

[window]
start = "09:00"
end = "17:00"
days = ["mon", "tue", "wed", "thu", "fri"]

[retry]
max_attempts = {MAX_ATTEMPTS}
redial_after_minutes = 30
"#
    )
}

/// 240 callees over the pool's area codes (each zone is its area code's only one).
fn contacts() -> Vec<String> {
    [212, 312, 303, 415]
        .into_iter()
        .enumerate()
        .flat_map(|(i, npa)| numbers_in(npa, 100 * i as u32, 60))
        .collect()
}

fn zone_of(callee: &str) -> TimeZone {
    let zone = match &callee[..5] {
        "+1212" => "America/New_York",
        "+1312" => "America/Chicago",
        "+1303" => "America/Denver",
        "+1415" => "America/Los_Angeles",
        other => panic!("no test zone for {other}"),
    };
    TimeZone::get(zone).expect("the zone is in jiff's bundle")
}

fn simulation(dir: &tempfile::TempDir, seed: u64) -> Simulation {
    let file = dir.path().join("campaign.toml");
    std::fs::write(&file, campaign_text(&tables())).unwrap();
    std::fs::write(dir.path().join("contacts.csv"), common::csv_of(&contacts())).unwrap();
    Simulation {
        campaign: Campaign::load(&file, &Overrides::default()).unwrap(),
        start: START.parse().unwrap(),
        days: NonZeroU32::new(DAYS).unwrap(),
        seed,
    }
}

fn created(play: &Play) -> Vec<&ReceivedCall> {
    play.received
        .iter()
        .filter(|call| call.call_id.is_some())
        .collect()
}

fn moment(call: &ReceivedCall) -> Timestamp {
    Timestamp::from_millisecond(call.at_ms).unwrap()
}

#[test]
fn every_strategy_keeps_caps_cooldowns_windows_and_attempts_in_a_play() {
    let dir = tempfile::tempdir().unwrap();
    let simulation = simulation(&dir, 5);
    for play in simulation.play_all(&Strategy::ALL).unwrap() {
        let strategy = play.played.strategy;
        let calls = created(&play);
        assert!(
            calls.len() >= 2 * CAP * POOL.len() * 9 / 10,
            "{strategy}: the caps bind on both weekdays, so nearly every slot is used: {} calls",
            calls.len()
        );
        assert_eq!(
            play.played.attempts,
            calls.len() as u64,
            "{strategy}: the figures count what the vendor received"
        );
        let mut per_number_day: BTreeMap<(String, jiff::civil::Date), usize> = BTreeMap::new();
        let mut last_from: HashMap<String, Timestamp> = HashMap::new();
        let mut per_callee: HashMap<String, usize> = HashMap::new();
        let mut previous: Option<Timestamp> = None;
        for call in &calls {
            let at = moment(call);
            let from = call
                .from_phone_number
                .clone()
                .expect("every create names its caller ID");
            let callee = call.phone.clone().expect("every create names its callee");
            assert!(
                POOL.iter().any(|(n, _)| *n == from),
                "{strategy}: {from} is not in the pool"
            );
            *per_number_day
                .entry((from.clone(), at.to_zoned(TimeZone::UTC).date()))
                .or_default() += 1;
            if let Some(last) = last_from.insert(from.clone(), at) {
                let gap = at.duration_since(last).as_secs();
                assert!(
                    gap >= GAP_SECONDS,
                    "{strategy}: {from} called again after {gap} s"
                );
            }
            *per_callee.entry(callee.clone()).or_default() += 1;
            let local = at.to_zoned(zone_of(&callee));
            let weekday = local.weekday();
            assert!(
                !matches!(weekday, Weekday::Saturday | Weekday::Sunday),
                "{strategy}: {callee} called on a {weekday:?} ({local})"
            );
            assert!(
                (9..17).contains(&local.hour()),
                "{strategy}: {callee} called at {local}, outside 09:00–17:00"
            );
            if let Some(previous) = previous {
                assert!(
                    at.duration_since(previous).as_millis() >= 500,
                    "{strategy}: two creates {} ms apart at 2 calls/s",
                    at.duration_since(previous).as_millis()
                );
            }
            previous = Some(at);
        }
        for ((number, day), count) in &per_number_day {
            assert!(
                *count <= CAP,
                "{strategy}: {number} made {count} calls on {day}"
            );
        }
        for (callee, count) in &per_callee {
            assert!(
                *count <= MAX_ATTEMPTS,
                "{strategy}: {callee} called {count} times"
            );
        }
        let monday = per_number_day
            .keys()
            .filter(|(_, day)| day.weekday() == Weekday::Monday)
            .count();
        assert_eq!(
            monday,
            POOL.len(),
            "{strategy}: every number calls again on Monday"
        );
    }
}

#[test]
fn the_same_seed_plays_the_same_calls() {
    let dir = tempfile::tempdir().unwrap();
    let simulation = simulation(&dir, 9);
    let calls = |play: &Play| -> Vec<(i64, Option<String>, Option<String>)> {
        created(play)
            .into_iter()
            .map(|c| (c.at_ms, c.phone.clone(), c.from_phone_number.clone()))
            .collect()
    };
    for strategy in Strategy::ALL {
        let first = simulation.play(strategy).unwrap();
        let second = simulation.play(strategy).unwrap();
        assert!(!calls(&first).is_empty());
        assert_eq!(calls(&first), calls(&second), "{}", strategy.name());
        assert_eq!(
            serde_json::to_value(&first.played).unwrap(),
            serde_json::to_value(&second.played).unwrap(),
            "{}",
            strategy.name()
        );
    }
}

/// The command prints one row per strategy asked for, and sends nothing to the campaign's API:
/// its base URL points at a live sandbox that must see no request.
#[tokio::test]
async fn the_command_prints_one_row_per_strategy_and_asks_the_network_nothing() {
    let watched = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("campaign.toml");
    let api = format!("[api]\nbase_url = \"{}\"\n\n", watched.synthflow_base());
    let text = campaign_text(&format!("{api}{}", tables()));
    std::fs::write(&file, text).unwrap();
    std::fs::write(dir.path().join("contacts.csv"), common::csv_of(&contacts())).unwrap();
    let run = |extra: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_outdial"));
        command
            .arg("simulate")
            .arg(&file)
            .args(["--days", "1", "--start", START])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command.output()
    };
    let output = run(&["--strategy", "round-robin,weighted", "--json"])
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = json["strategies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["round-robin", "weighted"]);
    for row in json["strategies"].as_array().unwrap() {
        assert!(row["attempts"].as_u64().unwrap() > 0, "{row}");
        assert_eq!(row["contacts"].as_u64(), Some(240));
    }
    let text = run(&[]).await.unwrap();
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    for strategy in ["region", "round-robin", "weighted"] {
        assert!(
            text.lines().any(|line| line.starts_with(strategy)),
            "no row for {strategy} in:\n{text}"
        );
    }
    assert_eq!(watched.requests_served(), 0, "simulate sent a request");
    watched.stop().await;
}

#[tokio::test]
async fn an_unknown_strategy_is_refused_with_the_names_to_use() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_outdial"))
        .args(["simulate", "nowhere.toml", "--strategy", "region,zigzag"])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("zigzag"), "{said}");
    assert!(said.contains("round-robin"), "{said}");
}
