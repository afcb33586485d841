//! Never guess a callee's hours: a callee outside the NANP is placed by their phone's country when
//! it keeps one clock, held (skipped with the reason, never called) when it has several and the
//! CSV gives no zone, and put in `window.timezone` only when the campaign opts in.

mod common;

use std::time::Duration;

use common::{AGENT, Scenario, Settings, phone};
use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use outdial::campaign::{UnknownZone, Window};
use outdial::contacts::Contact;
use outdial::window::{CalleeZones, CallingHours, one_clock};

const POOL: &[&str] = &["+12125550101"];
const LONDON: &str = "+442079460958";
const SYDNEY: &str = "+61293744000";
const MADRID: &str = "+34912345678";

fn contact(e164: &str, time_zone: Option<&str>) -> Contact {
    Contact {
        phone: phone(e164),
        name: String::new(),
        line: 2,
        time_zone: time_zone.map(str::to_owned),
        region: None,
        custom_variables: Vec::new(),
    }
}

fn window(unknown_zone: UnknownZone) -> Window {
    Window {
        unknown_zone,
        fallback_time_zone: "America/New_York".to_owned(),
        ..Window::default()
    }
}

fn zones_of(e164: &str, time_zone: Option<&str>, unknown: UnknownZone) -> Option<Vec<String>> {
    CalleeZones::of_contact(&contact(e164, time_zone), &window(unknown))
        .ok()
        .map(|zones| zones.names())
}

/// Every country of the bundled table with one clock is placed in a zone jiff knows, and a
/// country with several clocks is not: the table and the rule hold for the whole world.
#[test]
fn countries_with_one_clock_are_placed_and_others_are_not() {
    let one =
        |code: &str| one_clock(code.parse().unwrap()).map(|z| z.iana_name().unwrap().to_owned());
    assert_eq!(one("GB").as_deref(), Some("Europe/London"));
    assert_eq!(one("FR").as_deref(), Some("Europe/Paris"));
    assert_eq!(one("IN").as_deref(), Some("Asia/Kolkata"));
    // Two zones, one clock: Büsingen keeps Berlin's time.
    assert_eq!(one("DE").as_deref(), Some("Europe/Berlin"));
    for several in [
        "AU", "US", "CA", "BR", "RU", "ES", "PT", "NZ", "MX", "ID", "CN",
    ] {
        assert_eq!(one(several), None, "{several} has several clocks");
    }
    let mut placed = 0;
    for code in [
        "AD", "AE", "AR", "AT", "BE", "CH", "EG", "GR", "IE", "IT", "JP", "KE", "NG", "NL", "PL",
        "SE", "ZA",
    ] {
        let zone = one(code).unwrap_or_else(|| panic!("{code} keeps one clock"));
        assert!(
            TimeZone::get(&zone).is_ok(),
            "{code}: {zone} is in jiff's database"
        );
        placed += 1;
    }
    assert_eq!(placed, 17);
}

/// A London number is judged in London's hours, not the campaign's fallback zone: at 20:38 in
/// London (15:38 in New York) a 09:00–20:00 window is closed for it, and at 10:00 London open.
#[test]
fn a_london_number_is_judged_in_londons_hours_at_injected_instants() {
    let zones = CalleeZones::of_contact(&contact(LONDON, None), &window(UnknownZone::Hold))
        .expect("GB has one clock");
    assert_eq!(zones.names(), ["Europe/London"]);
    let hours = CallingHours::new(&Window::default());
    let evening: Timestamp = "2026-06-03T19:38:00Z".parse().unwrap(); // 20:38 BST, a Wednesday
    let morning: Timestamp = "2026-06-03T09:00:00Z".parse().unwrap(); // 10:00 BST
    assert!(!hours.is_open(&zones, evening));
    assert!(hours.is_open(&zones, morning));
    let next = hours.next_opening(&zones, evening).unwrap();
    assert_eq!(
        next,
        "2026-06-04T08:00:00Z".parse().unwrap(),
        "09:00 BST the next day"
    );
    // In winter London is on GMT: 09:00 local is 09:00 UTC.
    let winter: Timestamp = "2026-12-02T08:30:00Z".parse().unwrap();
    assert_eq!(
        hours.next_opening(&zones, winter).unwrap(),
        "2026-12-02T09:00:00Z".parse().unwrap()
    );
}

/// A Sydney number without a `timezone` is unplaced with a reason that says what to do; with one
/// it is placed; a Madrid number (mainland and Canaries) is unplaced too; the opt-in key puts
/// them in `window.timezone`; an unknown zone name in the CSV never stands in for one.
#[test]
fn several_clocks_hold_the_callee_unless_a_zone_is_given_or_the_campaign_opts_in() {
    let held = CalleeZones::of_contact(&contact(SYDNEY, None), &window(UnknownZone::Hold))
        .expect_err("AU has several clocks");
    let reason = held.to_string();
    for says in [
        "time zone unknown",
        "AU",
        "+61",
        "timezone column",
        "window.unknown_zone",
    ] {
        assert!(reason.contains(says), "{says} in: {reason}");
    }
    assert_eq!(
        zones_of(SYDNEY, Some("Australia/Sydney"), UnknownZone::Hold).unwrap(),
        ["Australia/Sydney"]
    );
    assert_eq!(zones_of(MADRID, None, UnknownZone::Hold), None);
    assert_eq!(
        zones_of(SYDNEY, None, UnknownZone::Fallback).unwrap(),
        ["America/New_York"]
    );
    assert_eq!(
        zones_of(LONDON, None, UnknownZone::Fallback).unwrap(),
        ["Europe/London"]
    );
    assert_eq!(
        zones_of("+14155550102", None, UnknownZone::Hold).unwrap(),
        ["America/Los_Angeles"],
        "NANP area codes still place callees"
    );
}

// ---- whole runs against the sandbox ---------------------------------------------------------

/// `[window]` lines open for about an hour either side of now in `zone`, and so closed in every
/// zone four or more hours away. Near local midnight it first waits for the date to turn, so
/// that the window never wraps.
async fn window_open_now_in(zone: &str) -> String {
    let tz = TimeZone::get(zone).unwrap();
    let local = loop {
        let local = Timestamp::now().to_zoned(tz.clone());
        if local.time() < Time::constant(23, 55, 0, 0) {
            break local;
        }
        let midnight = local.tomorrow().unwrap().start_of_day().unwrap();
        let wait = Timestamp::now().duration_until(midnight.timestamp());
        tokio::time::sleep(Duration::try_from(wait).unwrap_or_default() + Duration::from_secs(1))
            .await;
    };
    let start = local.checked_sub(1.hour()).unwrap();
    let start = if start.date() < local.date() {
        Time::midnight()
    } else {
        start.time()
    };
    let end = local.checked_add(1.hour()).unwrap();
    let end = if end.date() > local.date() {
        Time::constant(23, 59, 59, 0)
    } else {
        end.time()
    };
    format!(
        "[window]\nstart = \"{}\"\nend = \"{}\"\ndays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]\n",
        start.strftime("%H:%M:%S"),
        end.strftime("%H:%M:%S"),
    )
}

fn campaign_text(window: &str, extra_window_keys: &str) -> String {
    format!(
        "name = \"zones\"\nagent = \"{AGENT}\"\ncontacts = \"contacts.csv\"\n\n[pacing]\ncalls_per_second = 100\n\n{window}{extra_window_keys}\n[retry]\nreconcile_grace_seconds = 1\n"
    )
}

async fn scenario(csv: &str, campaign: &str) -> Scenario {
    let scenario = Scenario::start(POOL, Settings::default(), csv).await;
    std::fs::write(scenario.campaign_file(), campaign).unwrap();
    scenario
}

async fn run_binary(scenario: &Scenario, args: &[&str]) -> std::process::Output {
    let file = scenario.campaign_file();
    let mut all = vec!["run", file.to_str().unwrap()];
    all.extend_from_slice(args);
    tokio::time::timeout(Duration::from_secs(60), scenario.outdial(&all).output())
        .await
        .expect("the run ends")
        .unwrap()
}

async fn status(scenario: &Scenario) -> String {
    let file = scenario.campaign_file();
    let out = scenario
        .outdial(&["status", file.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// With the window open now in London and closed in New York (the old fallback), the London
/// number is called; with the window open in New York and closed in London, it is not called
/// and waits for London's opening, which `status` names.
#[tokio::test(flavor = "multi_thread")]
async fn a_london_number_is_called_only_in_londons_window() {
    let csv = format!("phone,name\n{LONDON},Ada\n");
    let open = scenario(
        &csv,
        &campaign_text(&window_open_now_in("Europe/London").await, ""),
    )
    .await;
    let out = run_binary(&open, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    open.assert_each_called_once(&[LONDON.to_owned()]).await;

    let closed = scenario(
        &csv,
        &campaign_text(&window_open_now_in("America/New_York").await, ""),
    )
    .await;
    let out = run_binary(&closed, &["--max-runtime", "3s"]).await;
    assert_eq!(
        out.status.code(),
        Some(75),
        "stopped by its deadline, still waiting"
    );
    assert!(
        closed.calls_per_phone().await.is_empty(),
        "London was called outside its hours"
    );
    let status = status(&closed).await;
    assert!(status.contains("pending 1"), "{status}");
    assert!(status.contains("Europe/London"), "{status}");
}

/// A Sydney number without a `timezone` column is held: the run completes without calling it,
/// and `plan` and `status` give the reason; the same journal with a CSV that gives its zone
/// calls it once, in Sydney's hours. A Madrid number (several clocks) is held alongside.
#[tokio::test(flavor = "multi_thread")]
async fn a_sydney_number_is_held_without_a_zone_and_called_with_one() {
    let window = window_open_now_in("Australia/Sydney").await;
    let scenario = scenario(
        &format!("phone,name\n{SYDNEY},Bo\n{MADRID},Cy\n"),
        &campaign_text(&window, ""),
    )
    .await;
    let file = scenario.campaign_file();
    let plan = scenario
        .outdial(&["plan", file.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let plan_text = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(plan_text.contains("held, not called: 2"), "{plan_text}");
    assert!(plan_text.contains("time zone unknown"), "{plan_text}");

    let out = run_binary(&scenario, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "held contacts do not keep the run from finishing"
    );
    assert!(
        !scenario.calls_per_phone().await.contains_key(SYDNEY),
        "Sydney was called on a guess"
    );
    let status = status(&scenario).await;
    assert!(status.contains("held, not called: 2"), "{status}");
    assert!(status.contains("time zone unknown"), "{status}");

    scenario.write_contacts(&format!(
        "phone,name,timezone\n{SYDNEY},Bo,Australia/Sydney\n{MADRID},Cy,\n"
    ));
    let out = run_binary(&scenario, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = scenario.calls_per_phone().await;
    assert_eq!(
        calls.get(SYDNEY),
        Some(&1),
        "released by its zone: {calls:?}"
    );
    assert_eq!(calls.get(MADRID), None, "still held: {calls:?}");
    assert_eq!(calls.len(), 1, "{calls:?}");
}

/// `window.unknown_zone = "fallback"` calls a Sydney number in `window.timezone`'s hours: open
/// there now, it is called.
#[tokio::test(flavor = "multi_thread")]
async fn the_fallback_key_puts_unplaced_callees_in_the_campaign_zone() {
    let window = window_open_now_in("America/Chicago").await;
    let keys = "timezone = \"America/Chicago\"\nunknown_zone = \"fallback\"\n";
    let scenario = scenario(
        &format!("phone,name\n{SYDNEY},Bo\n"),
        &campaign_text(&window, keys),
    )
    .await;
    let out = run_binary(&scenario, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    scenario.assert_each_called_once(&[SYDNEY.to_owned()]).await;
}
