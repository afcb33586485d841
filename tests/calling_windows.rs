//! Calling windows (SPEC §2 `[window]`): open and closed by local time, day and holiday; the
//! intersection of every zone a callee may be in; DST in both hemispheres; the next opening, exact
//! to the second, checked against a brute-force oracle. Every instant is fixed: no real clock.

use std::collections::BTreeSet;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};
use outdial::area_codes::{self, AreaCode};
use outdial::campaign::{WeekdayKey, Window};
use outdial::window::{CalleeZones, CallingHours};
use proptest::prelude::*;

// ---- helpers --------------------------------------------------------------------------------

/// A window from `start` to `end` on the days named (`"mon tue"`), with the holidays given.
fn hours(start: &str, end: &str, days: &str, holidays: &[&str]) -> CallingHours {
    CallingHours::new(&Window {
        start: start.parse().unwrap(),
        end: end.parse().unwrap(),
        days: days.split_whitespace().map(weekday).collect(),
        holidays: holidays.iter().map(|d| d.parse().unwrap()).collect(),
        fallback_time_zone: "America/New_York".to_owned(),
        unknown_zone: Default::default(),
    })
}

const EVERY_DAY: &str = "mon tue wed thu fri sat sun";

fn weekday(name: &str) -> WeekdayKey {
    let day = match name {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        other => panic!("not a day: {other}"),
    };
    WeekdayKey::of(day)
}

/// A callee in exactly these zones.
fn zones(names: &[&str]) -> CalleeZones {
    let names: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
    CalleeZones::of(None, &names, "UTC")
}

/// An instant written as a zoned datetime, e.g. `2025-03-07T20:30[America/New_York]`; an explicit
/// offset (`01:10-05:00[...]`) picks one pass of a repeated hour.
fn at(text: &str) -> Timestamp {
    text.parse::<Zoned>().unwrap().timestamp()
}

fn utc(text: &str) -> Timestamp {
    text.parse().unwrap()
}

// ---- callee zones ---------------------------------------------------------------------------

/// The CSV zone wins over the area code's zones, which win over the campaign's fallback.
#[test]
fn callee_zones_come_from_the_csv_then_the_area_code_then_the_fallback() {
    let area = vec!["America/Denver".to_owned(), "America/Boise".to_owned()];
    let csv = CalleeZones::of(Some("America/Chicago"), &area, "America/New_York");
    assert_eq!(csv.names(), ["America/Chicago"]);
    let by_area = CalleeZones::of(None, &area, "America/New_York");
    assert_eq!(by_area.names(), ["America/Denver", "America/Boise"]);
    let fallback = CalleeZones::of(None, &[], "America/New_York");
    assert_eq!(fallback.names(), ["America/New_York"]);
}

/// A misspelt zone is skipped rather than trusted or fatal, and an unknown fallback still leaves
/// a zone to check against.
#[test]
fn unknown_zone_names_are_skipped() {
    let area = vec!["Mars/Olympus".to_owned(), "America/Denver".to_owned()];
    let zones = CalleeZones::of(Some("America/Chicag"), &area, "America/New_York");
    assert_eq!(zones.names(), ["America/Denver"]);
    let nothing_known = CalleeZones::of(Some("x"), &["y".to_owned()], "z");
    assert_eq!(nothing_known.names(), ["UTC"]);
}

// ---- open or closed -------------------------------------------------------------------------

/// The window includes its start and excludes its end, in the callee's local time.
#[test]
fn open_from_start_until_just_before_end() {
    let hours = hours("09:00", "20:00", EVERY_DAY, &[]);
    let ny = zones(&["America/New_York"]);
    assert!(!hours.is_open(&ny, at("2025-06-10T08:59:59[America/New_York]")));
    assert!(hours.is_open(&ny, at("2025-06-10T09:00[America/New_York]")));
    assert!(hours.is_open(&ny, at("2025-06-10T19:59:59[America/New_York]")));
    assert!(!hours.is_open(&ny, at("2025-06-10T20:00[America/New_York]")));
}

/// One instant is inside calling hours in New York and outside them in Los Angeles.
#[test]
fn the_callees_local_time_decides() {
    let hours = hours("09:00", "20:00", EVERY_DAY, &[]);
    let instant = at("2025-06-10T10:00[America/New_York]");
    assert!(hours.is_open(&zones(&["America/New_York"]), instant));
    assert!(!hours.is_open(&zones(&["America/Los_Angeles"]), instant));
}

/// Days not listed and holidays are closed all day, judged by the callee's local date.
#[test]
fn closed_on_days_not_listed_and_on_holidays() {
    let hours = hours("09:00", "20:00", "mon tue wed thu fri", &["2025-07-04"]);
    let ny = zones(&["America/New_York"]);
    assert!(hours.is_open(&ny, at("2025-07-03T12:00[America/New_York]")));
    assert!(
        !hours.is_open(&ny, at("2025-07-04T12:00[America/New_York]")),
        "holiday"
    );
    assert!(
        !hours.is_open(&ny, at("2025-07-05T12:00[America/New_York]")),
        "saturday"
    );
    // Friday 2025-07-11 19:30 in Los Angeles is already Saturday in UTC: still Friday locally.
    let la = zones(&["America/Los_Angeles"]);
    assert!(hours.is_open(&la, at("2025-07-11T19:30[America/Los_Angeles]")));
}

/// Area code 208 spans three zones, so its window opens with the westernmost and closes with the
/// easternmost.
#[test]
fn area_code_208_must_be_open_in_all_its_zones() {
    let place = area_codes::place(AreaCode(208)).unwrap();
    let idaho = CalleeZones::of(None, &place.time_zones, "America/New_York");
    assert_eq!(idaho.names().len(), 3);
    let hours = hours("09:00", "20:00", EVERY_DAY, &[]);
    let boise_nine = at("2025-06-10T09:00[America/Boise]");
    assert!(!hours.is_open(&idaho, boise_nine), "08:00 in Los Angeles");
    let opening = at("2025-06-10T09:00[America/Los_Angeles]");
    assert_eq!(hours.next_opening(&idaho, boise_nine), Some(opening));
    assert!(hours.is_open(&idaho, at("2025-06-10T18:59:59[America/Los_Angeles]")));
    assert!(
        !hours.is_open(&idaho, at("2025-06-10T19:00[America/Los_Angeles]")),
        "20:00 in Boise"
    );
}

// ---- DST ------------------------------------------------------------------------------------

/// A start in New York's skipped hour opens at the first instant after the jump, 03:00 EDT.
#[test]
fn spring_forward_start_in_the_skipped_hour_opens_when_the_clock_jumps() {
    let hours = hours("02:30", "04:00", EVERY_DAY, &[]);
    let ny = zones(&["America/New_York"]);
    let midnight = at("2025-03-09T00:00[America/New_York]");
    let jump = utc("2025-03-09T07:00:00Z");
    assert_eq!(hours.next_opening(&ny, midnight), Some(jump));
    assert!(!hours.is_open(&ny, jump - SignedDuration::from_secs(1)));
    assert!(hours.is_open(&ny, jump));
    assert!(!hours.is_open(&ny, at("2025-03-09T04:00[America/New_York]")));
}

/// An ordinary window on the spring-forward day opens at 09:00 EDT, an hour earlier in UTC than
/// the day before.
#[test]
fn spring_forward_day_opens_at_local_nine() {
    let hours = hours("09:00", "20:00", EVERY_DAY, &[]);
    let ny = zones(&["America/New_York"]);
    let saturday = hours.next_opening(&ny, utc("2025-03-08T12:00:00Z"));
    let sunday = hours.next_opening(&ny, utc("2025-03-09T12:00:00Z"));
    assert_eq!(saturday, Some(utc("2025-03-08T14:00:00Z")));
    assert_eq!(sunday, Some(utc("2025-03-09T13:00:00Z")));
}

/// A window that closed in New York's repeated hour does not reopen when the clock goes back.
#[test]
fn fall_back_does_not_reopen_a_closed_window() {
    let hours = hours("00:00", "01:30", EVERY_DAY, &[]);
    let ny = zones(&["America/New_York"]);
    assert!(hours.is_open(&ny, at("2025-11-02T01:29-04:00[America/New_York]")));
    let second_pass = at("2025-11-02T01:10-05:00[America/New_York]");
    assert!(!hours.is_open(&ny, second_pass));
    let next_midnight = at("2025-11-03T00:00[America/New_York]");
    assert_eq!(hours.next_opening(&ny, second_pass), Some(next_midnight));
}

/// A window that opened in the repeated hour stays open when the clock goes back below its start.
#[test]
fn fall_back_does_not_close_an_open_window() {
    let hours = hours("01:30", "03:00", EVERY_DAY, &[]);
    let ny = zones(&["America/New_York"]);
    let first_pass = at("2025-11-02T01:30-04:00[America/New_York]");
    assert_eq!(
        hours.next_opening(&ny, at("2025-11-02T00:00[America/New_York]")),
        Some(first_pass)
    );
    assert!(hours.is_open(&ny, at("2025-11-02T01:10-05:00[America/New_York]")));
    assert!(!hours.is_open(&ny, at("2025-11-02T03:00[America/New_York]")));
}

/// Sydney springs forward in October: a start at 02:15 opens at the jump to 03:00 AEDT.
#[test]
fn sydney_spring_forward_opens_at_the_jump() {
    let hours = hours("02:15", "05:00", EVERY_DAY, &[]);
    let sydney = zones(&["Australia/Sydney"]);
    let evening = at("2025-10-04T22:00[Australia/Sydney]");
    assert_eq!(
        hours.next_opening(&sydney, evening),
        Some(utc("2025-10-04T16:00:00Z"))
    );
}

/// Sydney falls back in April: a window inside the repeated hour opens on the first pass only.
#[test]
fn sydney_fall_back_opens_the_window_once() {
    let hours = hours("02:00", "02:30", EVERY_DAY, &[]);
    let sydney = zones(&["Australia/Sydney"]);
    let first_pass = utc("2025-04-05T15:00:00Z");
    let evening = at("2025-04-05T22:00[Australia/Sydney]");
    assert_eq!(hours.next_opening(&sydney, evening), Some(first_pass));
    assert!(hours.is_open(&sydney, utc("2025-04-05T15:29:59Z")));
    assert!(
        !hours.is_open(&sydney, utc("2025-04-05T16:10:00Z")),
        "second 02:10"
    );
    let next_day = at("2025-04-07T02:00[Australia/Sydney]");
    assert_eq!(
        hours.next_opening(&sydney, utc("2025-04-05T15:30:00Z")),
        Some(next_day)
    );
}

/// St John's fell back at 00:01 until 2011, turning Sunday back into Saturday: Sunday's window,
/// already open, stays open while the clock shows Saturday again.
#[test]
fn a_clock_turned_back_across_midnight_keeps_the_new_days_window() {
    let hours = hours("00:00", "00:30", EVERY_DAY, &[]);
    let st_johns = zones(&["America/St_Johns"]);
    let sunday = utc("2010-11-07T02:30:00Z");
    assert_eq!(
        hours.next_opening(&st_johns, utc("2010-11-07T01:00:00Z")),
        Some(sunday)
    );
    let saturday_again = utc("2010-11-07T03:00:00Z");
    assert_eq!(
        TimeZone::get("America/St_Johns")
            .unwrap()
            .to_datetime(saturday_again)
            .to_string(),
        "2010-11-06T23:30:00"
    );
    assert!(hours.is_open(&st_johns, saturday_again));
    assert!(
        !hours.is_open(&st_johns, utc("2010-11-07T04:00:00Z")),
        "Sunday 00:30 NST"
    );
}

// ---- next opening ---------------------------------------------------------------------------

/// Friday after hours waits for Monday when the weekend is excluded (and Monday is in EDT now).
#[test]
fn friday_evening_waits_for_monday_morning() {
    let hours = hours("09:00", "20:00", "mon tue wed thu fri", &[]);
    let ny = zones(&["America/New_York"]);
    let friday = at("2025-03-07T20:30[America/New_York]");
    let monday = at("2025-03-10T09:00[America/New_York]");
    assert_eq!(hours.next_opening(&ny, friday), Some(monday));
}

/// Holidays in a row are skipped, weekend included.
#[test]
fn next_opening_skips_holidays() {
    let hours = hours(
        "09:00",
        "20:00",
        "mon tue wed thu fri",
        &["2025-12-25", "2025-12-26"],
    );
    let ny = zones(&["America/New_York"]);
    let christmas_eve = at("2025-12-24T21:00[America/New_York]");
    let after = at("2025-12-29T09:00[America/New_York]");
    assert_eq!(hours.next_opening(&ny, christmas_eve), Some(after));
}

/// Inside the window, the next opening is now, to the nanosecond.
#[test]
fn next_opening_inside_the_window_is_now() {
    let hours = hours("09:00", "20:00", EVERY_DAY, &[]);
    let now = at("2025-06-10T12:34:56.789[America/New_York]");
    assert_eq!(
        hours.next_opening(&zones(&["America/New_York"]), now),
        Some(now)
    );
}

/// A window with no days, or zones whose windows never overlap, never opens.
#[test]
fn a_window_that_never_opens_has_no_next_opening() {
    let now = utc("2025-06-10T12:00:00Z");
    let no_days = hours("09:00", "20:00", "", &[]);
    assert_eq!(
        no_days.next_opening(&zones(&["America/New_York"]), now),
        None
    );
    let short = hours("09:00", "10:00", EVERY_DAY, &[]);
    let far_apart = zones(&["America/New_York", "Asia/Tokyo"]);
    assert_eq!(short.next_opening(&far_apart, now), None);
}

/// The description is in the first zone's local time, with the wait rounded up to the minute.
#[test]
fn describe_opening_reads_like_a_person_would_say_it() {
    let hours = hours("09:00", "20:00", EVERY_DAY, &[]);
    let chicago = zones(&["America/Chicago", "America/New_York"]);
    let now = at("2025-06-10T06:46:30[America/Chicago]");
    let opening = at("2025-06-10T09:00[America/Chicago]");
    let text = hours.describe_opening(&chicago, opening, now);
    assert_eq!(text, "09:00 America/Chicago, in 2h14m");
    let monday = at("2025-06-16T09:00[America/Chicago]");
    let text = hours.describe_opening(&chicago, monday, now);
    assert_eq!(text, "Mon 2025-06-16 09:00 America/Chicago, in 6d2h");
    assert_eq!(
        hours.describe_opening(&chicago, now, now),
        "06:46 America/Chicago, now"
    );
}

// ---- properties -----------------------------------------------------------------------------

/// Zones with DST in both hemispheres, half-hour and 45-minute offsets, no DST, a 30-minute DST
/// shift (Lord Howe), and midnight transitions (Santiago).
const ZONES: [&str; 12] = [
    "America/New_York",
    "America/Los_Angeles",
    "America/Denver",
    "America/Boise",
    "America/Phoenix",
    "America/St_Johns",
    "America/Santiago",
    "Europe/London",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Chatham",
];

/// How far the brute-force oracle looks ahead.
const ORACLE_DAYS: i64 = 3;

/// The window's rule written independently of the crate, minute by minute: the window of a date
/// opens when a zone's clock first shows `start` and closes when it first shows `end`, so an
/// instant is open when the highest reading the clock has shown so far is inside its date's
/// window. (Zone offsets and window bounds are whole minutes, so whole minutes see every change.)
struct Oracle {
    window: Window,
    zones: Vec<TimeZone>,
}

impl Oracle {
    /// Whether each whole minute of `[from, until)` is open, in order.
    fn minutes(&self, from: Timestamp, until: Timestamp) -> Vec<(Timestamp, bool)> {
        // A day of history covers the largest step back of any clock.
        let history = from - SignedDuration::from_hours(24);
        let mut highest = vec![jiff::civil::DateTime::MIN; self.zones.len()];
        let mut open = Vec::new();
        for minute in whole_minutes(history - SignedDuration::from_secs(1), until) {
            for (zone, high) in self.zones.iter().zip(&mut highest) {
                *high = (*high).max(zone.to_datetime(minute));
            }
            if minute >= from {
                open.push((
                    minute,
                    highest.iter().all(|&reading| self.shows_open(reading)),
                ));
            }
        }
        open
    }

    fn shows_open(&self, reading: jiff::civil::DateTime) -> bool {
        let day = reading.date();
        self.window.days.contains(&WeekdayKey::of(day.weekday()))
            && !self.window.holidays.contains(&day)
            && self.window.start <= reading.time()
            && reading.time() < self.window.end
    }
}

#[derive(Debug, Clone)]
struct Case {
    window: Window,
    names: Vec<&'static str>,
    at: Timestamp,
}

impl Case {
    fn hours(&self) -> CallingHours {
        CallingHours::new(&self.window)
    }

    fn zones(&self) -> CalleeZones {
        zones(&self.names)
    }

    fn oracle(&self) -> Oracle {
        let zones = self
            .names
            .iter()
            .map(|n| TimeZone::get(n).unwrap())
            .collect();
        Oracle {
            window: self.window.clone(),
            zones,
        }
    }
}

/// A minute of the day, half the time in the small hours where DST transitions happen.
fn minute_of_day() -> impl Strategy<Value = i32> {
    prop_oneof![0..300i32, 0..1439i32]
}

fn window() -> impl Strategy<Value = (i32, i32, u8)> {
    (minute_of_day(), 1..1440i32, 1..128u8).prop_map(|(start, length, days)| {
        let end = (start + length).min(1439);
        (start.min(end - 1), end, days)
    })
}

/// An instant in 2005–2026, half the time within two days of a DST transition of the first zone.
/// The early years hold transitions at 00:01 (St John's until 2011), which turn the date back.
fn instant(zone: &str, seed: i64, near_transition: bool, offset: i64) -> Timestamp {
    let years = SignedDuration::from_secs(seed.rem_euclid(22 * 365 * 86_400));
    let base = utc("2005-01-01T00:00:00Z") + years;
    if !near_transition {
        return base;
    }
    let tz = TimeZone::get(zone).unwrap();
    match tz.following(base).next() {
        Some(transition) => transition.timestamp() + SignedDuration::from_secs(offset),
        None => base,
    }
}

fn case() -> impl Strategy<Value = Case> {
    let zone_set = proptest::sample::subsequence(ZONES.to_vec(), 1..=3).prop_shuffle();
    let holidays = proptest::collection::vec(-1..=4i64, 0..3);
    let when = (any::<i64>(), any::<bool>(), -2 * 86_400..2 * 86_400i64);
    (zone_set, window(), holidays, when).prop_map(
        |(names, (start, end, days), holidays, (seed, near, offset))| {
            let at = instant(names[0], seed, near, offset);
            let today = at.to_zoned(TimeZone::UTC).date();
            let window = Window {
                start: minute(start),
                end: minute(end),
                days: (1..=7)
                    .filter(|d| days & (1 << (d - 1)) != 0)
                    .map(WeekdayKey)
                    .collect(),
                holidays: holidays
                    .iter()
                    .map(|&d| today + jiff::Span::new().days(d))
                    .collect::<BTreeSet<Date>>(),
                fallback_time_zone: "UTC".to_owned(),
                unknown_zone: Default::default(),
            };
            Case { window, names, at }
        },
    )
}

fn minute(of_day: i32) -> Time {
    Time::new((of_day / 60) as i8, (of_day % 60) as i8, 0, 0).unwrap()
}

/// The whole minutes after `from` and before `until`.
fn whole_minutes(from: Timestamp, until: Timestamp) -> impl Iterator<Item = Timestamp> {
    let first = from.as_second().div_euclid(60) + 1;
    (first..)
        .map(|m| Timestamp::from_second(m * 60).unwrap())
        .take_while(move |&m| m < until)
}

proptest! {
    /// `is_open` agrees with the oracle on every whole minute of the next days; `next_opening` is
    /// open, the second before it is closed, and no whole minute before it is open by the oracle.
    #[test]
    fn next_opening_is_the_first_open_instant(case in case()) {
        let (hours, zones, at) = (case.hours(), case.zones(), case.at);
        let reach = at + SignedDuration::from_hours(24 * ORACLE_DAYS);
        let oracle = case.oracle().minutes(at, reach);
        for &(minute, open) in &oracle {
            prop_assert_eq!(hours.is_open(&zones, minute), open, "at {}", minute);
        }
        let opening = hours.next_opening(&zones, at);
        if let Some(opening) = opening {
            prop_assert!(opening >= at);
            prop_assert!(hours.is_open(&zones, opening), "opening {} is closed", opening);
            if opening > at {
                prop_assert!(!hours.is_open(&zones, opening - SignedDuration::from_secs(1)));
            }
        }
        prop_assert!(!hours.is_open(&zones, at) || opening == Some(at));
        let first_open = oracle.iter().find(|&&(minute, open)| open && minute > at);
        if let Some(&(minute, _)) = first_open {
            prop_assert!(opening.is_some_and(|o| o <= minute), "{} open, before {:?}", minute, opening);
        }
        if let Some(o) = opening.filter(|&o| o > at && o < reach) {
            prop_assert!(first_open.is_some_and(|&(minute, _)| minute == o), "oracle: {:?}", first_open);
        }
    }

    /// An instant is open exactly when the next opening from it is itself; instants are drawn
    /// just after real openings so that both answers come up often.
    #[test]
    fn open_now_means_opening_now(case in case(), later in 0..7200i64) {
        let (hours, zones) = (case.hours(), case.zones());
        let Some(opening) = hours.next_opening(&zones, case.at) else {
            return Ok(());
        };
        let t = opening + SignedDuration::from_secs(later);
        prop_assert_eq!(hours.is_open(&zones, t), hours.next_opening(&zones, t) == Some(t));
    }
}
