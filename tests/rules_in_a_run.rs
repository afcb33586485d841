//! The rules checked right before each dial hold in real runs (SPEC §2, §4): per-number caps and
//! cooldowns are never exceeded (even across a restart), nobody is called outside their calling
//! window, and a number added to a do-not-call file while the campaign runs is not called after.

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

use common::{ALWAYS_OPEN, Notes, Scenario, agent_with, campaign_text, csv_of, numbers_in};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use outdial::clock::Clock;
use outdial::dialer::Ending;
use outdial::journal::State;
use outdial::sandbox::SandboxConfig;
use tokio::io::{AsyncBufReadExt, BufReader};

const A: &str = "+12125550101";
const B: &str = "+14155550102";

/// Calls that end at once: these tests are about when and from where calls start.
fn sandbox(pool: &[&str]) -> SandboxConfig {
    SandboxConfig {
        agents: agent_with(pool),
        call_duration: Duration::ZERO.into(),
        ..SandboxConfig::default()
    }
}

fn campaign(calls_per_second: f64, more_tables: &str) -> String {
    campaign_text(&format!(
        "[pacing]\ncalls_per_second = {calls_per_second}\nmax_live_calls = 16\n\n{more_tables}"
    ))
}

/// A UTC noon for the dialer's clock, far from the midnight when daily caps reset.
fn noon() -> Timestamp {
    "2026-06-10T12:00:00Z".parse().unwrap()
}

fn utc_day(at: Timestamp) -> jiff::civil::Date {
    at.to_zoned(TimeZone::UTC).date()
}

fn next_utc_midnight(at: Timestamp) -> Timestamp {
    utc_day(at)
        .tomorrow()
        .unwrap()
        .to_zoned(TimeZone::UTC)
        .unwrap()
        .timestamp()
}

// ---- caps -----------------------------------------------------------------------------------

/// `max_calls_per_number_per_day = 3` with a pool of 2 and 10 contacts: exactly 6 calls go out,
/// 3 from each number; the run then says it has nobody to call (the other 4 wait, `pending`, due
/// at the next UTC midnight, when the caps reset). A resumed run the same UTC day counts the
/// first run's calls from the journal and makes no call either, not even to contacts added to
/// the file meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn daily_caps_are_never_exceeded_even_across_a_restart() {
    // Noon UTC on the dialer's clock: the day cannot roll over during the test.
    caps_hold_across_a_restart(Clock::starting_at(noon())).await;
}

/// As above, with every call of the first run started in the same millisecond (a clock that
/// stands still; in production, no cooldown and a fast pace): the journal keeps one key per
/// number and moment, and the resumed run must still count each call, not each moment.
#[tokio::test(flavor = "multi_thread")]
async fn daily_caps_count_calls_started_in_one_millisecond_across_a_restart() {
    caps_hold_across_a_restart(Clock::Fixed(noon())).await;
}

/// The first run on `first_clock` (from noon UTC), the second a minute after noon.
async fn caps_hold_across_a_restart(first_clock: Clock) {
    let started = noon();
    let phones = numbers_in(212, 0, 10);
    let rules = format!(
        "[rotation]\nstrategy = \"region\"\nmax_calls_per_number_per_day = 3\n\n{ALWAYS_OPEN}"
    );
    let scenario =
        Scenario::start_with(sandbox(&[A, B]), &campaign(100.0, &rules), &csv_of(&phones)).await;

    let first = Notes::default();
    let finish = scenario
        .run_noting_at(&first, first_clock, first.said("nobody to call now"))
        .await;

    assert!(matches!(finish.ending, Ending::Interrupted));
    let idle = first.wait_for("nobody to call now").await;
    assert!(idle.contains("under its caps"), "{idle}");
    let by_caller = scenario.calls_per_caller_id().await;
    assert_eq!(by_caller, HashMap::from([(A.into(), 3), (B.into(), 3)]));
    assert_eq!(
        scenario.sandbox.received().await.len(),
        6,
        "no refused create either"
    );
    let midnight = next_utc_midnight(started);
    assert_waiting_for_midnight(&scenario, &phones, midnight).await;

    // New contacts, due at once: only the caps, as the resume reads them back, hold them.
    let phones: Vec<String> = phones.into_iter().chain(numbers_in(212, 50, 4)).collect();
    scenario.write_contacts(&csv_of(&phones));
    let second = Notes::default();
    let resumed = scenario
        .run_noting_at(
            &second,
            Clock::starting_at(started.checked_add(SignedDuration::from_mins(1)).unwrap()),
            second.said("nobody to call now"),
        )
        .await;

    assert!(matches!(resumed.ending, Ending::Interrupted));
    assert_eq!(
        scenario.sandbox.received().await.len(),
        6,
        "the resumed run called despite the caps: {:?}",
        scenario.calls_per_caller_id().await
    );
    assert_waiting_for_midnight(&scenario, &phones, midnight).await;
}

/// 6 contacts done, the others pending with no attempt, due at `midnight`.
async fn assert_waiting_for_midnight(scenario: &Scenario, phones: &[String], midnight: Timestamp) {
    let entries = scenario.journal_entries().await;
    let mut done = 0;
    for phone in phones {
        let entry = &entries[phone];
        match &entry.state {
            State::Done { .. } => done += 1,
            State::Pending => {
                assert_eq!(entry.attempts, 0, "{entry:?}");
                assert_eq!(entry.due_at, Some(midnight), "{entry:?}");
            }
            other => panic!("{phone} is {other:?}"),
        }
    }
    assert_eq!(done, 6);
}

/// Gaps in ms between consecutive dial decisions (journal `dialed_at`) and between consecutive
/// create requests as the API received them, for 8 contacts dialled from a pool of one number
/// with `min_seconds_between_calls_per_number = 1`.
async fn gaps_under_a_one_second_cooldown() -> (Vec<i64>, Vec<i64>) {
    let phones = numbers_in(212, 0, 8);
    let rules = format!("[rotation]\nmin_seconds_between_calls_per_number = 1\n\n{ALWAYS_OPEN}");
    let scenario =
        Scenario::start_with(sandbox(&[A]), &campaign(100.0, &rules), &csv_of(&phones)).await;

    let finish = scenario.run().await;

    assert!(matches!(finish.ending, Ending::Complete));
    scenario.assert_each_called_once(&phones).await;
    let mut dialed: Vec<i64> = scenario
        .journal_entries()
        .await
        .values()
        .map(|e| e.dialed_at.expect("dialled").as_millisecond())
        .collect();
    dialed.sort();
    let arrivals = scenario.create_arrivals().await;
    let gaps = |times: &[i64]| times.windows(2).map(|w| w[1] - w[0]).collect();
    (gaps(&dialed), gaps(&arrivals))
}

/// With a pool of one and a 1 s cooldown, the dialer never decides to dial from that number
/// less than 1000 ms after its previous dial (journal `dialed_at`).
#[tokio::test(flavor = "multi_thread")]
async fn the_dialer_spaces_its_dials_from_one_number_by_the_cooldown() {
    let (dials, _) = gaps_under_a_one_second_cooldown().await;
    assert!(
        dials.iter().all(|gap| *gap >= 1000),
        "dial decisions closer than the cooldown: {dials:?} ms"
    );
}

/// With a pool of one and a 1 s cooldown, consecutive creates from that number reach the API
/// at least 1000 ms apart.
#[tokio::test(flavor = "multi_thread")]
async fn creates_from_one_number_reach_the_api_at_least_the_cooldown_apart() {
    let (dials, arrivals) = gaps_under_a_one_second_cooldown().await;
    assert!(
        arrivals.iter().all(|gap| *gap >= 1000),
        "creates from {A} closer than the cooldown at the API: {arrivals:?} ms \
         (dial decisions: {dials:?} ms)"
    );
}

/// Redials count toward the daily cap like first calls: with a pool of one number capped at 4
/// calls a day and 2 contacts nobody answers (3 attempts each), exactly 4 calls go out, then
/// the run waits for the caps to reset, the contacts with attempts left `pending` until the
/// next UTC midnight.
#[tokio::test(flavor = "multi_thread")]
async fn redials_count_toward_the_daily_cap() {
    // Noon UTC on the dialer's clock: the day cannot roll over during the test.
    let started = noon();
    let phones = numbers_in(212, 0, 2);
    let mut config = sandbox(&[A]);
    config.outcomes = "no-answer=1".parse().unwrap();
    let rules = format!(
        "[rotation]\nmax_calls_per_number_per_day = 4\n\n{ALWAYS_OPEN}\n\
         [retry]\nmax_attempts = 3\nredial_after_minutes = 0\n"
    );
    let scenario = Scenario::start_with(config, &campaign(100.0, &rules), &csv_of(&phones)).await;
    let notes = Notes::default();

    let finish = scenario
        .run_noting_at(
            &notes,
            Clock::starting_at(started),
            notes.said("nobody to call now"),
        )
        .await;

    assert!(matches!(finish.ending, Ending::Interrupted));
    assert_eq!(scenario.sandbox.received().await.len(), 4);
    let entries = scenario.journal_entries().await;
    let attempts: u32 = entries.values().map(|e| e.attempts).sum();
    assert_eq!(attempts, 4, "{entries:?}");
    // Which contact's redials came first is the race of its end against the other's first
    // dial: one may have had all three attempts (done), never both.
    let mut waiting = 0;
    for entry in entries.values() {
        match entry.state {
            State::Pending => {
                assert!(entry.attempts < 3, "{entry:?}");
                assert_eq!(entry.due_at, Some(next_utc_midnight(started)), "{entry:?}");
                waiting += 1;
            }
            State::Done { .. } => assert_eq!(entry.attempts, 3, "{entry:?}"),
            _ => panic!("neither waiting for midnight nor done: {entry:?}"),
        }
    }
    assert!(waiting >= 1, "{entries:?}");
}

// ---- calling windows ------------------------------------------------------------------------

/// Calling hours for the window tests; the CSV's `timezone` column places each callee.
const DAYTIME: &str = r#"[window]
start = "08:00"
end = "18:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"#;

/// A fixed-offset zone whose clock now shows `hour` o'clock (Etc/GMT-14 … Etc/GMT+12 cover
/// every hour of the day), so that an open or closed window never depends on when the test runs.
fn zone_showing(hour: i8) -> String {
    let utc_hour = Timestamp::now().to_zoned(TimeZone::UTC).hour();
    let mut offset = (hour - utc_hour).rem_euclid(24);
    if offset > 14 {
        offset -= 24;
    }
    // POSIX sign: Etc/GMT-3 is three hours *ahead* of UTC.
    let name = match offset {
        0 => "Etc/GMT".to_owned(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    };
    let shown = Timestamp::now()
        .to_zoned(TimeZone::get(&name).unwrap())
        .hour();
    assert_eq!(shown, hour, "{name}");
    name
}

fn csv_in_zones(phones: &[(String, String)]) -> String {
    let mut csv = String::from("phone,name,timezone\n");
    for (i, (phone, zone)) in phones.iter().enumerate() {
        csv.push_str(&format!("{phone},Person {i},{zone}\n"));
    }
    csv
}

/// Callees whose local time is 01:xx (window 08:00–18:00): the binary calls nobody, says on
/// stderr when the next window opens and in which zone, and while it sleeps a SIGINT ends it
/// at once with exit 130, every contact still `pending`.
#[tokio::test(flavor = "multi_thread")]
async fn outside_the_window_nobody_is_called_and_ctrl_c_ends_the_wait() {
    let night = zone_showing(1);
    let phones: Vec<(String, String)> = numbers_in(212, 0, 4)
        .into_iter()
        .map(|p| (p, night.clone()))
        .collect();
    let scenario = Scenario::start_with(
        sandbox(&[A]),
        &campaign(100.0, DAYTIME),
        &csv_in_zones(&phones),
    )
    .await;
    let file = scenario.campaign_file();
    let mut child = scenario
        .outdial(&["run", file.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();

    let said = tokio::time::timeout(Duration::from_secs(20), async {
        let mut seen = Vec::new();
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.contains("next window opens") {
                return line;
            }
            seen.push(line);
        }
        panic!("stderr ended without an opening time: {seen:?}");
    })
    .await
    .expect("the run says when the window opens");
    assert!(said.contains(&format!("08:00 {night}")), "{said}");

    let interrupted = Instant::now();
    let pid = child.id().unwrap().to_string();
    let kill = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(kill.success());
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("Ctrl-C ends the wait")
        .unwrap();

    assert_eq!(out.status.code(), Some(130));
    assert!(
        interrupted.elapsed() < Duration::from_secs(3),
        "took {:?} to stop",
        interrupted.elapsed()
    );
    assert!(scenario.sandbox.received().await.is_empty());
    let rows = scenario.export_rows().await;
    assert!(
        phones.iter().all(|(p, _)| rows[p]["state"] == "pending"),
        "{rows:?}"
    );
}

/// A CSV mixing callees at 13:xx local time with callees at 01:xx: the first are each called
/// once, the others are not called but wait, `pending`, due at 08:00 in their own zone, 6–7
/// hours ahead (5–7 should the hour turn while the test runs).
#[tokio::test(flavor = "multi_thread")]
async fn open_window_callees_are_called_while_closed_window_ones_wait() {
    let (day, night) = (zone_showing(13), zone_showing(1));
    let awake = numbers_in(212, 0, 4);
    let asleep = numbers_in(212, 100, 4);
    let mut contacts: Vec<(String, String)> = Vec::new();
    for (a, s) in awake.iter().zip(&asleep) {
        contacts.push((s.clone(), night.clone()));
        contacts.push((a.clone(), day.clone()));
    }
    let scenario = Scenario::start_with(
        sandbox(&[A]),
        &campaign(100.0, DAYTIME),
        &csv_in_zones(&contacts),
    )
    .await;
    let notes = Notes::default();

    let finish = scenario
        .run_noting(&notes, notes.said("next window opens"))
        .await;
    let stopped = Timestamp::now();

    assert!(matches!(finish.ending, Ending::Interrupted));
    scenario.assert_each_called_once(&awake).await;
    let entries = scenario.journal_entries().await;
    let zone = TimeZone::get(&night).unwrap();
    for phone in &asleep {
        let entry = &entries[phone];
        assert_eq!(entry.state, State::Pending, "{entry:?}");
        assert_eq!(entry.attempts, 0, "{entry:?}");
        let due = entry.due_at.expect("waits for its window");
        let local = due.to_zoned(zone.clone());
        assert_eq!((local.hour(), local.minute()), (8, 0), "{entry:?}");
        let ahead = stopped.until(due).unwrap();
        assert!(
            ahead.compare(5.hours()).unwrap().is_ge() && ahead.compare(7.hours()).unwrap().is_le(),
            "{phone} due {due}, {ahead:#} ahead"
        );
    }
}

// ---- do-not-call lists ----------------------------------------------------------------------

/// A redial is a dial like any other: a contact whose first call rang out (2 s of ringing) and
/// whose number was added to the do-not-call file meanwhile is not redialled; it ends `skipped`
/// after its one attempt, while the other contact gets its 3 attempts.
#[tokio::test(flavor = "multi_thread")]
async fn a_number_added_to_the_do_not_call_list_while_it_rang_is_not_redialled() {
    let phones = numbers_in(212, 0, 2);
    let mut config = sandbox(&[A]);
    config.outcomes = "no-answer=1".parse().unwrap();
    // 100 simulated seconds at 15×: every call rings out after 2 s.
    config.call_duration = Duration::from_secs(100).into();
    config.time_scale = outdial::sandbox::TimeScale::new(15.0).unwrap();
    let rules = format!(
        "{ALWAYS_OPEN}\n[retry]\nmax_attempts = 3\nredial_after_minutes = 0\n\n\
         [suppress]\nfiles = [\"dnc.txt\"]\n"
    );
    let scenario = Scenario::start_with(config, &campaign(100.0, &rules), &csv_of(&phones)).await;
    let dnc = scenario.dir.path().join("dnc.txt");
    std::fs::write(&dnc, "# nobody yet\n").unwrap();

    let add = async {
        scenario.wait_for_requests(2).await;
        let mut file = std::fs::OpenOptions::new().append(true).open(&dnc).unwrap();
        writeln!(file, "{}", phones[0]).unwrap();
        assert_eq!(scenario.sandbox.received().await.len(), 2, "added too late");
    };
    let (finish, ()) = tokio::join!(scenario.run(), add);

    assert!(matches!(finish.ending, Ending::Complete));
    let calls = scenario.calls_per_phone().await;
    assert_eq!(calls.get(&phones[0]), Some(&1), "{calls:?}");
    assert_eq!(calls.get(&phones[1]), Some(&3), "{calls:?}");
    let rows = scenario.export_rows().await;
    let suppressed = &rows[&phones[0]];
    assert_eq!(
        (
            suppressed["state"].as_str(),
            suppressed["attempts"].as_str()
        ),
        ("skipped", "1"),
        "{suppressed:?}"
    );
    assert!(suppressed["reason"].contains("dnc.txt"), "{suppressed:?}");
    let other = &rows[&phones[1]];
    assert_eq!(
        (
            other["state"].as_str(),
            other["outcome"].as_str(),
            other["attempts"].as_str()
        ),
        ("done", "no-answer", "3"),
        "{other:?}"
    );
}

/// A do-not-call file with two numbers from the start; once the campaign (4 calls/s) has made
/// its first calls, five numbers further down the list are appended to the file (one written
/// the way a person would). None of the seven is ever called; all end `skipped`, the reason
/// naming the list; everyone else is called exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn numbers_added_to_a_do_not_call_file_mid_run_are_not_called() {
    let phones = numbers_in(212, 0, 30);
    let listed_first: Vec<String> = vec![phones[3].clone(), phones[10].clone()];
    let added_later: Vec<String> = phones[16..21].to_vec();
    let rules = format!("{ALWAYS_OPEN}\n[suppress]\nfiles = [\"dnc.txt\"]\n");
    let scenario =
        Scenario::start_with(sandbox(&[A, B]), &campaign(4.0, &rules), &csv_of(&phones)).await;
    let dnc = scenario.dir.path().join("dnc.txt");
    std::fs::write(
        &dnc,
        format!("# do not call\n{}\n", listed_first.join("\n")),
    )
    .unwrap();

    let add = async {
        scenario.wait_for_requests(4).await;
        let called = scenario.calls_per_phone().await;
        assert!(
            added_later.iter().all(|p| !called.contains_key(p)),
            "too late: the numbers to suppress were already called"
        );
        let mut file = std::fs::OpenOptions::new().append(true).open(&dnc).unwrap();
        // +1 212 234 0016 as a person writes it, the rest in E.164.
        let by_hand = format!(
            "1 ({}) {}-{}",
            &added_later[0][2..5],
            &added_later[0][5..8],
            &added_later[0][8..]
        );
        writeln!(file, "{by_hand}").unwrap();
        for phone in &added_later[1..] {
            writeln!(file, "{phone}").unwrap();
        }
    };
    let (finish, ()) = tokio::join!(scenario.run(), add);

    assert!(matches!(finish.ending, Ending::Complete));
    let suppressed: Vec<&String> = listed_first.iter().chain(&added_later).collect();
    let called: Vec<String> = phones
        .iter()
        .filter(|p| !suppressed.contains(p))
        .cloned()
        .collect();
    scenario.assert_each_called_once(&called).await;
    let rows = scenario.export_rows().await;
    for phone in suppressed {
        let row = &rows[phone];
        assert_eq!(row["state"], "skipped", "{row:?}");
        assert!(
            row["reason"].contains("do-not-call list") && row["reason"].contains("dnc.txt"),
            "{row:?}"
        );
        assert_eq!(row["attempts"], "0", "{row:?}");
    }
}
