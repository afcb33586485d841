//! Calling hours in the callee's local time (SPEC §2 `[window]`): whether a call may start at an
//! instant, and the exact instant it next may, across DST and across every zone a callee may be in.
//!
//! Each allowed local date has one window, the instants from the first moment its clock shows
//! `start` to the first moment it shows `end`. Defining the window by instants rather than by
//! clock readings settles DST: a `start` in a skipped hour opens at the first valid instant after
//! it, and a clock turned back in a repeated hour neither reopens a window that closed nor closes
//! one that opened.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use crate::campaign::{UnknownZone, WeekdayKey, Window};
use crate::history::LocalMoment;

/// How far [`CallingHours::next_opening`] looks ahead. Beyond a year's list of holidays with room
/// to spare; a window that does not open within it (no days allowed, zones whose windows never
/// overlap) is reported as never opening instead of being searched for forever.
const HORIZON: SignedDuration = SignedDuration::from_hours(400 * 24);

/// The zones a callee may be in: the CSV `timezone` column, else every zone of the NANP area code
/// (from the table), else the one clock of the phone's country. Where several, the window must be
/// open in ALL, because calling someone at 08:00 who might be where it is 07:00 is the error to
/// avoid. A callee none of these places is [`Unplaced`], unless `window.unknown_zone = "fallback"`
/// puts them in `window.timezone`.
#[derive(Debug, Clone, PartialEq)]
pub struct CalleeZones(Vec<TimeZone>);

/// Why a callee's hours cannot be known: their phone's country has several clocks (or none that
/// outdial can tell) and the contacts file gives no `timezone`. Such a callee is held, not called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "time zone unknown: {place} and the contacts file gives no `timezone`; add a timezone column (an IANA name such as Australia/Sydney), or set window.unknown_zone = \"fallback\" to use window.timezone"
)]
pub struct Unplaced {
    /// `AU (+61) spans several time zones`, for the reason.
    place: String,
}

impl CalleeZones {
    /// Unknown names are skipped (a typo in one CSV cell must not stop a campaign) and the next
    /// source is used when none is left. If even `fallback` is unknown (the campaign check rules
    /// that out), UTC stands in so that the set is never empty.
    pub fn of(
        contact_zone: Option<&str>,
        area_code_zones: &[String],
        fallback: &str,
    ) -> CalleeZones {
        let sources = [
            known(contact_zone.into_iter()),
            known(area_code_zones.iter().map(String::as_str)),
            known(std::iter::once(fallback)),
        ];
        let zones = sources.into_iter().find(|zones| !zones.is_empty());
        CalleeZones(zones.unwrap_or_else(|| vec![TimeZone::UTC]))
    }

    /// The zones of a contact: its CSV `timezone`, else its area code's, else its country's one
    /// clock; else `window.timezone` if `window.unknown_zone` allows it, or [`Unplaced`].
    pub fn of_contact(
        contact: &crate::contacts::Contact,
        window: &Window,
    ) -> Result<CalleeZones, Unplaced> {
        let place = contact.phone.area_code().and_then(crate::area_codes::place);
        let area_code_zones = place.map_or(&[][..], |p| p.time_zones.as_slice());
        let found = |zones: Vec<TimeZone>| (!zones.is_empty()).then_some(zones);
        // Each source is asked only when the ones before it place nobody: the country's is a
        // libphonenumber look-up, a fifth of `plan`'s time when it was asked of every contact.
        let placed = found(known(contact.time_zone.as_deref().into_iter()))
            .or_else(|| found(known(area_code_zones.iter().map(String::as_str))))
            .or_else(|| {
                contact
                    .phone
                    .country()
                    .and_then(one_clock)
                    .map(|zone| vec![zone])
            });
        match (placed, window.unknown_zone) {
            (Some(zones), _) => Ok(CalleeZones(zones)),
            (None, UnknownZone::Fallback) => {
                Ok(CalleeZones::of(None, &[], &window.fallback_time_zone))
            }
            (None, UnknownZone::Hold) => Err(Unplaced {
                place: describe_place(&contact.phone),
            }),
        }
    }

    /// The callee's local hour and weekday at `at`, in the first of their zones (the one the
    /// CSV or the area code names first).
    pub fn local_moment(&self, at: Timestamp) -> LocalMoment {
        LocalMoment::of(at, &self.0[0])
    }

    /// IANA names, in the order given, for messages and `status`.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(zone_name).collect()
    }
}

/// `AU (+61) spans several time zones` or `+882… belongs to no single country`.
fn describe_place(phone: &crate::phone::Phone) -> String {
    let calling_code = phone.calling_code();
    match phone.country() {
        Some(country) => format!(
            "{} (+{calling_code}) spans several time zones",
            country.code()
        ),
        None => format!("+{calling_code} belongs to no single country"),
    }
}

/// The zone of each country whose zones all keep one clock, from the bundled country-to-zones
/// table (see `src/data/README.md`); decided once, as every non-NANP dial asks.
static ONE_CLOCK: LazyLock<HashMap<String, TimeZone>> = LazyLock::new(|| {
    include_str!("data/country-zones.tsv")
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (country, zones) = line.split_once('\t')?;
            let zone = shared_clock(&known(zones.split_whitespace()))?;
            Some((country.to_owned(), zone))
        })
        .collect()
});

/// 2020-01-01: zones of one country that have shown the same clock since then, and will as far as
/// the bundled database knows, count as one (Europe/Berlin and Europe/Busingen, Argentina's
/// provinces). Older differences do not matter for calls made now.
const SAME_CLOCK_SINCE: Timestamp = Timestamp::constant(1_577_836_800, 0);
/// How many clock changes [`one_clock`] compares: beyond 2040 at two a year.
const CLOCK_CHANGES_COMPARED: usize = 100;

/// The zone of a country whose zones all show one clock, or `None` for a country with several
/// clocks (AU, ES with the Canaries) or none in the table.
pub fn one_clock(country: crate::phone::Country) -> Option<TimeZone> {
    ONE_CLOCK.get(country.code()).cloned()
}

/// The first of `zones` when all of them show its clock.
fn shared_clock(zones: &[TimeZone]) -> Option<TimeZone> {
    let first = zones.first()?;
    zones
        .iter()
        .all(|zone| same_clock(first, zone))
        .then(|| first.clone())
}

/// Whether two zones have had the same offset since [`SAME_CLOCK_SINCE`] and change it at the
/// same instants to the same offsets.
fn same_clock(a: &TimeZone, b: &TimeZone) -> bool {
    let changes = |zone: &TimeZone| {
        zone.following(SAME_CLOCK_SINCE)
            .take(CLOCK_CHANGES_COMPARED)
            .map(|t| (t.timestamp(), t.offset()))
            .collect::<Vec<_>>()
    };
    a.to_offset(SAME_CLOCK_SINCE) == b.to_offset(SAME_CLOCK_SINCE) && changes(a) == changes(b)
}

/// The zones among `names` that the bundled database knows, without repeats.
fn known<'a>(names: impl Iterator<Item = &'a str>) -> Vec<TimeZone> {
    let mut zones: Vec<TimeZone> = Vec::new();
    for zone in names.filter_map(|name| TimeZone::get(name.trim()).ok()) {
        if !zones.contains(&zone) {
            zones.push(zone);
        }
    }
    zones
}

fn zone_name(zone: &TimeZone) -> String {
    zone.iana_name().unwrap_or("UTC").to_owned()
}

/// The campaign's `[window]`, ready to answer questions about instants.
#[derive(Debug, Clone)]
pub struct CallingHours {
    start: Time,
    end: Time,
    /// Indexed by weekday, Monday = 0: a lookup per candidate day instead of a set search.
    days: [bool; 7],
    holidays: BTreeSet<Date>,
}

impl CallingHours {
    /// A window whose `end` is not after its `start`, or with no days, never opens (the campaign
    /// check refuses the first; neither panics here).
    pub fn new(window: &Window) -> CallingHours {
        let mut days = [false; 7];
        for WeekdayKey(day) in &window.days {
            let index = usize::try_from(*day).ok().and_then(|d| d.checked_sub(1));
            if let Some(slot) = index.and_then(|i| days.get_mut(i)) {
                *slot = true;
            }
        }
        CallingHours {
            start: window.start,
            end: window.end,
            days,
            holidays: window.holidays.clone(),
        }
    }

    /// Open at `at` in every zone: local time in [start, end), local weekday in `days`, local
    /// date not in `holidays` (with the DST reading of the module documentation).
    pub fn is_open(&self, zones: &CalleeZones, at: Timestamp) -> bool {
        zones.0.iter().all(|zone| self.open_in(zone, at))
    }

    /// The earliest instant >= `after` at which the window is open in every zone, or `None` if
    /// there is none within 400 days. Exact: it moves a candidate from window opening to window
    /// opening until every zone agrees, so the cost is a few zone look-ups per day crossed.
    pub fn next_opening(&self, zones: &CalleeZones, after: Timestamp) -> Option<Timestamp> {
        let horizon = after.checked_add(HORIZON).unwrap_or(Timestamp::MAX);
        let mut candidate = after;
        loop {
            let mut agreed = true;
            for zone in &zones.0 {
                let next = self.next_open_in(zone, candidate)?;
                if next > horizon {
                    return None;
                }
                agreed &= next == candidate;
                candidate = next;
            }
            if agreed {
                return Some(candidate);
            }
        }
    }

    /// How a person should read an opening: `09:00 America/Chicago, in 2h14m` in the first zone's
    /// local time, with the weekday and date in front when that is not the local date of `now`.
    pub fn describe_opening(
        &self,
        zones: &CalleeZones,
        opening: Timestamp,
        now: Timestamp,
    ) -> String {
        let zone = zones.0.first().cloned().unwrap_or(TimeZone::UTC);
        let local = zone.to_datetime(opening);
        let when = if local.date() == zone.to_datetime(now).date() {
            local.strftime("%H:%M").to_string()
        } else {
            local.strftime("%a %Y-%m-%d %H:%M").to_string()
        };
        format!(
            "{when} {}, {}",
            zone_name(&zone),
            wait(opening.duration_since(now))
        )
    }

    fn open_in(&self, zone: &TimeZone, at: Timestamp) -> bool {
        let date = zone.to_datetime(at).date();
        // A clock turned back across midnight can show the day before a window that is open.
        let dates = [Some(date), date.tomorrow().ok()];
        dates
            .into_iter()
            .flatten()
            .filter_map(|day| self.span(zone, day))
            .any(|(opens, closes)| opens <= at && at < closes)
    }

    /// The earliest instant >= `from` at which the window is open in `zone`, searching one day
    /// past the horizon so that `next_opening` can tell "beyond the horizon" from "never".
    fn next_open_in(&self, zone: &TimeZone, from: Timestamp) -> Option<Timestamp> {
        // A window of an earlier date closed before `from`, whose clock already passed its end.
        let mut day = zone.to_datetime(from).date();
        for _ in 0..=HORIZON.as_hours() / 24 + 2 {
            match self.span(zone, day) {
                Some((opens, closes)) if closes > from => return Some(opens.max(from)),
                _ => day = day.tomorrow().ok()?,
            }
        }
        None
    }

    /// The window of one local date in one zone as instants `[opens, closes)`, or `None` when the
    /// date is not a calling day or the window is empty (both ends in one skipped hour).
    fn span(&self, zone: &TimeZone, day: Date) -> Option<(Timestamp, Timestamp)> {
        if !self.calls_on(day) {
            return None;
        }
        let opens = first_instant_showing(zone, day.to_datetime(self.start))?;
        let closes = first_instant_showing(zone, day.to_datetime(self.end))?;
        (opens < closes).then_some((opens, closes))
    }

    fn calls_on(&self, day: Date) -> bool {
        let weekday = usize::from(day.weekday().to_monday_zero_offset().unsigned_abs());
        self.days[weekday] && !self.holidays.contains(&day)
    }
}

/// The first instant at which `zone`'s clock shows `local` or later: in a repeated hour the first
/// pass, in a skipped hour the transition that skips it.
fn first_instant_showing(zone: &TimeZone, local: DateTime) -> Option<Timestamp> {
    let ambiguous = zone.to_ambiguous_timestamp(local);
    let earlier = ambiguous.earlier().ok()?;
    match ambiguous.offset() {
        AmbiguousOffset::Gap { .. } => zone.following(earlier).next().map(|t| t.timestamp()),
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => Some(earlier),
    }
}

/// `in 2h14m`, rounded up to the minute so that a future opening never reads "in 0m".
fn wait(until: SignedDuration) -> String {
    if until <= SignedDuration::ZERO {
        return "now".to_owned();
    }
    let seconds = until.as_secs() + i64::from(until.subsec_nanos() > 0);
    let minutes = seconds.saturating_add(59) / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes % 1440 / 60, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("in {minutes}m"),
        (0, _) => format!("in {hours}h{minutes}m"),
        _ => format!("in {days}d{hours}h"),
    }
}
