//! The campaign report's figures (`outdial report`): the funnel, when people answer, which
//! caller IDs work, whether local presence pays, where the pool has no number, pacing, ring
//! times, and what was skipped or held and why. Each figure is defined in the README ("Report").
//!
//! Computed in one pass over the journal's entries and one over its attempt history; memory is
//! bounded by the pool, the area codes and the hour × weekday grid, never by the campaign: no
//! set of contacts or list of attempts is kept.

mod charts;
pub mod page;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::api::CallState;
use crate::area_codes::AreaCode;
use crate::campaign::Campaign;
use crate::history::{Attempt, Reach, SHORT_CALL_SECONDS};
use crate::journal::{Entry, Journal, JournalError, SkippedRow, State};
use crate::phone::Phone;
use crate::rotation::{Locale, Match};
use crate::rules::REMOVED;
use crate::table::Table;
use crate::window::{CalleeZones, CallingHours};

/// How many bars the calls-over-time chart has at most, whatever the campaign's length.
const TIME_BUCKETS: u64 = 96;
/// Width of one ring-time bar, in seconds, and the number of bars (the last holds the rest).
const RING_BUCKET_SECONDS: u64 = 5;
const RING_BUCKETS: usize = 12;
/// How many coverage gaps of each kind the terminal summary lists.
const GAPS_SHOWN: usize = 10;
/// How many skipped contacts and rows the report names.
const EXAMPLES: usize = 10;

/// Everything `outdial report` shows. Its JSON is the shape documented in the README.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub campaign: String,
    /// When the figures were taken.
    pub as_of: Timestamp,
    /// Where they were read: the journal itself, or a copy taken while a run held it.
    pub source: Source,
    pub funnel: Funnel,
    /// Attempts and connections per callee-local weekday (1 = Monday) and hour: only the cells
    /// with attempts.
    pub heat_map: Vec<HeatCell>,
    pub callers: Vec<CallerFigures>,
    pub tiers: Vec<TierFigures>,
    /// `[rotation] arms`, in the campaign's order; empty without arms.
    pub arms: Vec<ArmFigures>,
    pub area_codes: Vec<AreaFigures>,
    pub states: Vec<StateFigures>,
    pub calls_over_time: Timeline,
    pub ring_times: RingTimes,
    /// Contacts and CSV rows never to be called, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Contacts waiting, by what they wait for.
    pub held: BTreeMap<HeldReason, u64>,
    /// The first few skipped contacts and rows, as the CSV wrote them, with their reasons.
    pub skipped_examples: Vec<SkippedExample>,
    pub api: ApiFigures,
}

/// One skipped contact or CSV row, as the file wrote it.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedExample {
    /// The CSV line.
    pub line: u64,
    /// The contact's name, or the row's phone cell as written when it is not a contact.
    pub written: String,
    pub reason: String,
}

/// Where the figures were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The journal, no run holding it.
    Journal,
    /// A copy of the journal taken while a run held it: as of the copy.
    RunningCopy,
}

/// Contacts → attempted → connected → contact → completed, each by the contact's latest call.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Funnel {
    pub contacts: u64,
    pub attempted: u64,
    pub connected: u64,
    pub contact: u64,
    pub completed: u64,
    /// Attempts, all contacts together.
    pub attempts: u64,
    /// Share of contacts attempted; `null` without contacts.
    pub penetration: Option<f64>,
    /// Attempts per attempted contact; `null` before any attempt.
    pub saturation: Option<f64>,
}

/// A share with its 95% Wilson score interval; `rate`, `low` and `high` are `null` for no trials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Rate {
    pub hits: u64,
    pub trials: u64,
    pub rate: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HeatCell {
    /// ISO weekday, 1 = Monday.
    pub weekday: u8,
    /// 0–23, the callee's local hour.
    pub hour: u8,
    pub attempts: u64,
    pub connected: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallerFigures {
    pub caller_id: String,
    pub attempts: u64,
    pub connection: Rate,
    pub short_calls: u64,
    /// Short calls per connected call; `null` before any connected call.
    pub short_call_rate: Option<f64>,
    /// Calls started on the report's UTC day (the day the caps count).
    pub calls_today: u64,
    /// `rotation.max_calls_per_number_per_day`, or `null` for no cap.
    pub cap: Option<u32>,
    pub health: Health,
    /// While it rests: until when, and number health's reason; `null` otherwise.
    pub resting_until: Option<Timestamp>,
    pub rest_why: Option<String>,
}

/// A number's health as the journal tells it: resting while a rest number health journalled
/// has not ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Active,
    Resting,
}

/// One A/B arm of `[rotation] arms`: its contacts (split by a hash of the phone), those its
/// calls reached, and its attempts' connection rate.
#[derive(Debug, Clone, Serialize)]
pub struct ArmFigures {
    pub strategy: String,
    pub contacts: u64,
    /// Contacts whose latest call reached a person.
    pub reached: Rate,
    pub connection: Rate,
    /// One-sided two-proportion z of this arm's connection rate above the first arm's (0 for
    /// the first), and whether it passes 1.96 either way (p < 0.05, two-sided).
    pub z_against_first: f64,
    pub significant: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TierFigures {
    /// `area_code`, `region`, `time_zone` or `other`.
    pub tier: Match,
    pub connection: Rate,
}

#[derive(Debug, Clone, Serialize)]
pub struct AreaFigures {
    pub area_code: u16,
    pub state: Option<String>,
    pub contacts: u64,
    /// Contacts whose latest call reached a person.
    pub reached: u64,
    /// `null` when the pool has a number of this area code; else the search that finds one.
    pub fill: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StateFigures {
    pub state: String,
    pub contacts: u64,
    pub reached: u64,
    pub fill: Option<String>,
}

/// Calls started per bucket of time since the campaign began, beside what the pacing allows.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub start: Timestamp,
    pub bucket_seconds: u64,
    pub calls: Vec<u64>,
    /// `pacing.calls_per_second` × `bucket_seconds`: the most a bucket can hold.
    pub pacing_limit: f64,
    /// The pool's daily caps together, per bucket's share of a day, when every number has a cap.
    pub caps_limit: Option<f64>,
}

/// How long phones rang before the call was answered or given up, from the vendor's
/// `telephony_ringing_duration`.
#[derive(Debug, Clone, Serialize)]
pub struct RingTimes {
    pub bucket_seconds: u64,
    /// Calls per bucket; the last bucket holds everything longer.
    pub calls: Vec<u64>,
    /// Ended calls the vendor gave no ringing time for.
    pub unknown: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    DoNotCall,
    Window,
    Duplicate,
    BadPhone,
    Removed,
    UnknownZone,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldReason {
    /// Outside the callee's calling hours now.
    Window,
    /// A redial, a look-up of an uncertain call, or a cap.
    Redial,
}

/// What the journal and the run's snapshot say of the API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApiFigures {
    /// Contacts whose create request may or may not have made a call, to be looked up.
    pub uncertain: u64,
    /// Calls whose status outdial could not classify (`unknown` or a status it does not know).
    pub unknown_outcomes: u64,
    /// Requests of the latest run (creates, list pages, single gets) from its snapshot, when
    /// there is one; `429`s and reconciliations are not kept by the journal (see the README).
    pub requests: Option<crate::api::Requests>,
}

impl Rate {
    /// `hits` of `trials` with its 95% Wilson score interval ([`crate::stats::wilson`]).
    pub fn wilson(hits: u64, trials: u64) -> Rate {
        let interval = crate::stats::wilson(hits, trials);
        Rate {
            hits,
            trials,
            rate: (trials > 0).then(|| hits as f64 / trials as f64),
            low: interval.map(|(low, _)| low),
            high: interval.map(|(_, high)| high),
        }
    }
}

impl Health {
    pub fn name(self) -> &'static str {
        match self {
            Health::Active => "active",
            Health::Resting => "resting",
        }
    }
}

impl SkipReason {
    /// The category of a skipped contact's reason, as the rules word it.
    fn of_contact(reason: &str) -> SkipReason {
        if reason.starts_with("on the do-not-call list") {
            SkipReason::DoNotCall
        } else if reason == REMOVED {
            SkipReason::Removed
        } else if reason.starts_with("time zone unknown") {
            SkipReason::UnknownZone
        } else if reason.contains("calling window never opens") {
            SkipReason::Window
        } else {
            SkipReason::Other
        }
    }

    /// The category of a CSV row that did not become a contact.
    fn of_row(row: &SkippedRow) -> SkipReason {
        match row.reason.starts_with("duplicate") {
            true => SkipReason::Duplicate,
            false => SkipReason::BadPhone,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SkipReason::DoNotCall => "do-not-call",
            SkipReason::Window => "window never opens",
            SkipReason::Duplicate => "duplicate row",
            SkipReason::BadPhone => "bad phone",
            SkipReason::Removed => "removed from the CSV",
            SkipReason::UnknownZone => "unknown time zone",
            SkipReason::Other => "other",
        }
    }
}

impl HeldReason {
    /// Why `entry` waits for a moment still ahead, or `None` when it does not wait.
    fn of(
        entry: &Entry,
        campaign: &Campaign,
        hours: &CallingHours,
        now: Timestamp,
    ) -> Option<HeldReason> {
        if !entry.is_waiting() || entry.due_at.is_none_or(|due| due <= now) {
            return None;
        }
        match CalleeZones::of_contact(&entry.contact, &campaign.window) {
            Ok(zones) if !hours.is_open(&zones, now) => Some(HeldReason::Window),
            _ => Some(HeldReason::Redial),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            HeldReason::Window => "outside calling hours",
            HeldReason::Redial => "redial, look-up or cap",
        }
    }
}

/// Counts of contacts by where they are, for the area code and state tables.
#[derive(Debug, Clone, Copy, Default)]
struct Coverage {
    contacts: u64,
    reached: u64,
}

impl Coverage {
    fn count(&mut self, reached: bool) {
        self.contacts += 1;
        self.reached += u64::from(reached);
    }
}

/// One caller ID's counts while the attempts are read.
#[derive(Debug, Clone, Copy, Default)]
struct CallerCounts {
    attempts: u64,
    connected: u64,
    short: u64,
    today: u64,
}

impl Figures {
    /// The figures of `campaign` from `journal`, at `now`.
    pub fn read(
        campaign: &Campaign,
        journal: &Journal,
        source: Source,
        now: Timestamp,
    ) -> Result<Figures, JournalError> {
        let mut figures = Figures::empty(campaign, journal.began(), source, now);
        let pool = figures.read_attempts(campaign, journal, now)?;
        figures.read_entries(campaign, journal, &pool, now)?;
        ArmFigures::compare(&mut figures.arms);
        for row in journal.skipped_rows() {
            let row = row?;
            *figures.skipped.entry(SkipReason::of_row(&row)).or_default() += 1;
            figures.example(row.line, &row.written, &row.reason);
        }
        Ok(figures)
    }

    fn empty(campaign: &Campaign, began: Timestamp, source: Source, now: Timestamp) -> Figures {
        Figures {
            campaign: campaign.name.clone(),
            as_of: now,
            source,
            funnel: Funnel::default(),
            heat_map: Vec::new(),
            callers: Vec::new(),
            tiers: Vec::new(),
            arms: campaign
                .rotation
                .arms
                .iter()
                .map(|strategy| ArmFigures::new(strategy.name()))
                .collect(),
            area_codes: Vec::new(),
            states: Vec::new(),
            calls_over_time: Timeline::new(campaign, began, now),
            ring_times: RingTimes {
                bucket_seconds: RING_BUCKET_SECONDS,
                calls: vec![0; RING_BUCKETS],
                unknown: 0,
            },
            skipped: BTreeMap::new(),
            held: BTreeMap::new(),
            skipped_examples: Vec::new(),
            api: ApiFigures::default(),
        }
    }

    /// The pass over the contacts: funnel, coverage, skipped and held.
    fn read_entries(
        &mut self,
        campaign: &Campaign,
        journal: &Journal,
        pool: &[Phone],
        now: Timestamp,
    ) -> Result<(), JournalError> {
        let hours = CallingHours::new(&campaign.window);
        let mut areas: BTreeMap<AreaCode, Coverage> = BTreeMap::new();
        let mut states: BTreeMap<String, Coverage> = BTreeMap::new();
        for entry in journal.entries() {
            let entry = entry?;
            let reached = self.funnel.count(&entry);
            if let Some(arm) = arm(&mut self.arms, entry.phone()) {
                arm.contacts += 1;
                arm.reached.hits += u64::from(reached);
            }
            let locale = Locale::of_contact(&entry.contact);
            if let Some(code) = locale.area_code {
                areas.entry(code).or_default().count(reached);
            }
            if let Some(region) = locale.region {
                states.entry(region.0).or_default().count(reached);
            }
            match &entry.state {
                State::Skipped { reason } => {
                    *self
                        .skipped
                        .entry(SkipReason::of_contact(reason))
                        .or_default() += 1;
                    self.example(entry.contact.line, &entry.contact.name, reason);
                }
                State::Uncertain { .. } => self.api.uncertain += 1,
                _ => {
                    if let Some(reason) = HeldReason::of(&entry, campaign, &hours, now) {
                        *self.held.entry(reason).or_default() += 1;
                    }
                }
            }
        }
        self.funnel.finish();
        self.coverage(pool, areas, states);
        Ok(())
    }

    /// The area code and state tables, with the search that fills each gap in `pool`.
    fn coverage(
        &mut self,
        pool: &[Phone],
        areas: BTreeMap<AreaCode, Coverage>,
        states: BTreeMap<String, Coverage>,
    ) {
        let pool: Vec<Locale> = pool.iter().map(Locale::of_number).collect();
        let pooled_codes: BTreeSet<AreaCode> = pool.iter().filter_map(|l| l.area_code).collect();
        let pooled_states: BTreeSet<String> = pool
            .iter()
            .filter_map(|l| Some(l.region.clone()?.0))
            .collect();
        self.area_codes = areas
            .into_iter()
            .map(|(code, c)| AreaFigures {
                area_code: code.0,
                state: crate::area_codes::place(code).and_then(|p| Some(p.region.clone()?.0)),
                contacts: c.contacts,
                reached: c.reached,
                fill: (!pooled_codes.contains(&code))
                    .then(|| format!("outdial numbers search --area-code {code}")),
            })
            .collect();
        self.area_codes
            .sort_by_key(|a| std::cmp::Reverse(a.contacts));
        self.states = states
            .into_iter()
            .map(|(state, c)| StateFigures {
                fill: (!pooled_states.contains(&state)).then(|| state_search(&state)),
                state,
                contacts: c.contacts,
                reached: c.reached,
            })
            .collect();
        self.states.sort_by_key(|s| std::cmp::Reverse(s.contacts));
    }

    /// The pass over the attempt history: callers, tiers, heat map, calls over time, ring times.
    /// Returns the pool as far as the journal knows it: the campaign's numbers and every
    /// caller ID that made a call (a pool taken from the agent is not in the campaign file).
    fn read_attempts(
        &mut self,
        campaign: &Campaign,
        journal: &Journal,
        now: Timestamp,
    ) -> Result<Vec<Phone>, JournalError> {
        let mut callers: BTreeMap<Phone, CallerCounts> = campaign
            .rotation
            .numbers
            .iter()
            .map(|n| (n.clone(), CallerCounts::default()))
            .collect();
        let mut tiers: BTreeMap<Match, (u64, u64)> = BTreeMap::new();
        let mut grid = [[(0u64, 0u64); 24]; 7];
        let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        for attempt in journal.attempts() {
            let attempt = attempt?;
            let connected = attempt.connected();
            let counts = callers.entry(attempt.caller_id.clone()).or_default();
            counts.attempts += 1;
            counts.connected += u64::from(connected);
            counts.short += u64::from(attempt.is_short(SHORT_CALL_SECONDS));
            counts.today +=
                u64::from(attempt.sent_at.to_zoned(jiff::tz::TimeZone::UTC).date() == today);
            let tier = tiers.entry(attempt.tier).or_default();
            *tier = (tier.0 + u64::from(connected), tier.1 + 1);
            if let Some(local) = attempt.local {
                let cell = &mut grid[usize::from(local.weekday.clamp(1, 7) - 1)]
                    [usize::from(local.hour.min(23))];
                *cell = (cell.0 + 1, cell.1 + u64::from(connected));
            }
            self.calls_over_time.count(attempt.sent_at);
            self.count_end(&attempt);
            if let Some(arm) = arm(&mut self.arms, &attempt.callee) {
                arm.connection.trials += 1;
                arm.connection.hits += u64::from(connected);
            }
        }
        self.heat_map = heat_cells(&grid);
        self.tiers = tiers
            .into_iter()
            .map(|(tier, (hits, trials))| TierFigures {
                tier,
                connection: Rate::wilson(hits, trials),
            })
            .collect();
        let cap = campaign
            .rotation
            .max_calls_per_number_per_day
            .map(|c| c.get());
        let pool = callers.keys().cloned().collect();
        let mut rests = BTreeMap::new();
        for rest in journal.rests() {
            let rest = rest?;
            rests.insert(rest.number.clone(), rest);
        }
        let resting = |caller: &Phone| rests.get(caller).filter(|rest| rest.until > now);
        self.callers = callers
            .into_iter()
            .map(|(caller, c)| CallerFigures {
                health: match resting(&caller) {
                    Some(_) => Health::Resting,
                    None => Health::Active,
                },
                resting_until: resting(&caller).map(|rest| rest.until),
                rest_why: resting(&caller).map(|rest| rest.why.clone()),
                caller_id: caller.as_str().to_owned(),
                attempts: c.attempts,
                connection: Rate::wilson(c.connected, c.attempts),
                short_calls: c.short,
                short_call_rate: (c.connected > 0).then(|| c.short as f64 / c.connected as f64),
                calls_today: c.today,
                cap,
            })
            .collect();
        Ok(pool)
    }

    fn example(&mut self, line: u64, written: &str, reason: &str) {
        if self.skipped_examples.len() < EXAMPLES {
            self.skipped_examples.push(SkippedExample {
                line,
                written: written.to_owned(),
                reason: reason.to_owned(),
            });
        }
    }

    /// Ring time and unknown outcomes of one ended attempt.
    fn count_end(&mut self, attempt: &Attempt) {
        let Some(end) = &attempt.end else { return };
        if Reach::of(end) == Reach::Unknown {
            self.api.unknown_outcomes += 1;
        }
        self.ring_times.count(end);
    }
}

impl Funnel {
    /// Counts one contact; returns whether its latest call reached a person.
    fn count(&mut self, entry: &Entry) -> bool {
        self.contacts += 1;
        self.attempts += u64::from(entry.attempts);
        if entry.attempts == 0 {
            return false;
        }
        self.attempted += 1;
        let reach = entry.last_end.as_ref().map(Reach::of);
        let connected = reach.is_some_and(Reach::connected);
        let person = reach == Some(Reach::Person);
        self.connected += u64::from(connected);
        self.contact += u64::from(person);
        self.completed += u64::from(person && entry.last_end.as_ref().is_some_and(completed));
        person
    }

    fn finish(&mut self) {
        self.penetration =
            (self.contacts > 0).then(|| self.attempted as f64 / self.contacts as f64);
        self.saturation =
            (self.attempted > 0).then(|| self.attempts as f64 / self.attempted as f64);
    }
}

/// A person's call that ran its course: longer than a short call (the hang-up of someone who
/// took the number for spam), so the agent had its conversation.
/// The A/B arm `callee` is in, when the campaign has arms.
fn arm<'a>(arms: &'a mut [ArmFigures], callee: &Phone) -> Option<&'a mut ArmFigures> {
    let index = crate::rotation::arm_of(callee, arms.len());
    arms.get_mut(index)
}

impl ArmFigures {
    fn new(strategy: &str) -> ArmFigures {
        ArmFigures {
            strategy: strategy.to_owned(),
            contacts: 0,
            reached: Rate::default(),
            connection: Rate::default(),
            z_against_first: 0.0,
            significant: false,
        }
    }

    /// Turns the counts into rates with intervals, and tests each arm against the first.
    fn compare(arms: &mut [ArmFigures]) {
        for arm in arms.iter_mut() {
            arm.reached = Rate::wilson(arm.reached.hits, arm.contacts);
            arm.connection = Rate::wilson(arm.connection.hits, arm.connection.trials);
        }
        let Some(first) = arms.first().map(|arm| arm.connection) else {
            return;
        };
        for arm in arms.iter_mut().skip(1) {
            let counts = |rate: &Rate| (rate.hits, rate.trials);
            arm.z_against_first = crate::stats::z_above(counts(&arm.connection), counts(&first));
            arm.significant = arm.z_against_first.abs() > crate::stats::Z_95;
        }
    }
}

fn completed(end: &CallState) -> bool {
    end.duration.is_some_and(|s| s > SHORT_CALL_SECONDS)
}

/// `outdial numbers search --state CA` for `US-CA` (the search takes the subdivision alone).
fn state_search(state: &str) -> String {
    let code = state.split_once('-').map_or(state, |(_, code)| code);
    format!("outdial numbers search --state {code}")
}

fn heat_cells(grid: &[[(u64, u64); 24]; 7]) -> Vec<HeatCell> {
    let mut cells = Vec::new();
    for (day, hours) in grid.iter().enumerate() {
        for (hour, &(attempts, connected)) in hours.iter().enumerate() {
            if attempts > 0 {
                cells.push(HeatCell {
                    weekday: day as u8 + 1,
                    hour: hour as u8,
                    attempts,
                    connected,
                });
            }
        }
    }
    cells
}

impl Timeline {
    /// Buckets from `began` to `now`, at most [`TIME_BUCKETS`] of them: whole seconds, or whole
    /// minutes once a bucket is longer than one.
    fn new(campaign: &Campaign, began: Timestamp, now: Timestamp) -> Timeline {
        let span = now.duration_since(began).as_secs().max(1).unsigned_abs();
        let bucket_seconds = match span.div_ceil(TIME_BUCKETS) {
            seconds @ 0..=60 => seconds.max(1),
            seconds => seconds.div_ceil(60) * 60,
        };
        let buckets = span.div_ceil(bucket_seconds) as usize;
        let pool = campaign.rotation.numbers.len() as f64;
        let caps = campaign.rotation.max_calls_per_number_per_day;
        Timeline {
            start: began,
            bucket_seconds,
            calls: vec![0; buckets.max(1)],
            pacing_limit: campaign.pacing.calls_per_second.per_second() * bucket_seconds as f64,
            caps_limit: caps
                .filter(|_| pool > 0.0)
                .map(|cap| f64::from(cap.get()) * pool * bucket_seconds as f64 / 86_400.0),
        }
    }

    fn count(&mut self, at: Timestamp) {
        let since = at.duration_since(self.start).max(SignedDuration::ZERO);
        let bucket = (since.as_secs() as u64 / self.bucket_seconds) as usize;
        if let Some(last) = self.calls.len().checked_sub(1) {
            self.calls[bucket.min(last)] += 1;
        }
    }
}

impl RingTimes {
    fn count(&mut self, end: &CallState) {
        match end.ringing_ms {
            Some(ms) => {
                let bucket = (ms / 1000 / self.bucket_seconds) as usize;
                let last = self.calls.len() - 1;
                self.calls[bucket.min(last)] += 1;
            }
            None => self.unknown += 1,
        }
    }
}

/// `41.2% (35.1–47.6%)`, or `–` for no trials.
pub fn percent_with_interval(rate: &Rate) -> String {
    match (rate.rate, rate.low, rate.high) {
        (Some(r), Some(low), Some(high)) => format!(
            "{:.1}% ({:.1}–{:.1}%)",
            100.0 * r,
            100.0 * low,
            100.0 * high
        ),
        _ => "–".to_owned(),
    }
}

/// `12.5%`, or `–` for none.
pub fn percent(share: Option<f64>) -> String {
    share.map_or("–".to_owned(), |s| format!("{:.1}%", 100.0 * s))
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = &self.funnel;
        let copy = match self.source {
            Source::Journal => "",
            Source::RunningCopy => " (a run is going: figures of a copy of its journal)",
        };
        writeln!(
            f,
            "campaign {}: report of {}{copy}",
            self.campaign,
            self.as_of.strftime("%Y-%m-%d %H:%M:%S UTC")
        )?;
        writeln!(
            f,
            "  funnel: {} contacts → {} attempted → {} connected → {} contact → {} completed",
            u.contacts, u.attempted, u.connected, u.contact, u.completed
        )?;
        writeln!(
            f,
            "  penetration {} · saturation {} attempts per attempted contact ({} attempts)",
            percent(u.penetration),
            u.saturation.map_or("–".to_owned(), |s| format!("{s:.2}")),
            u.attempts
        )?;
        self.fmt_callers(f)?;
        self.fmt_tiers(f)?;
        self.fmt_arms(f)?;
        self.fmt_best_hours(f)?;
        self.fmt_gaps(f)?;
        self.fmt_reasons(f)?;
        writeln!(
            f,
            "  API: {} uncertain creates to look up · {} unknown outcomes{}",
            self.api.uncertain,
            self.api.unknown_outcomes,
            self.api
                .requests
                .as_ref()
                .map_or(String::new(), |r| format!(" · latest run's requests: {r}"))
        )
    }
}

impl Figures {
    fn fmt_callers(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut table = Table::new(&[
            "CALLER ID",
            "ATTEMPTS",
            "CONNECTED (95% CI)",
            "SHORT",
            "TODAY/CAP",
            "HEALTH",
        ]);
        for column in 1..5 {
            table.align_right(column);
        }
        for c in &self.callers {
            let cap = c.cap.map_or("–".to_owned(), |cap| cap.to_string());
            table.push(vec![
                c.caller_id.clone(),
                c.attempts.to_string(),
                percent_with_interval(&c.connection),
                percent(c.short_call_rate),
                format!("{}/{cap}", c.calls_today),
                c.health.name().to_owned(),
            ]);
        }
        indented(f, "per caller ID:", &table)
    }

    fn fmt_tiers(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut table = Table::new(&[
            "CALLER ID SHARES THE CALLEE'S",
            "ATTEMPTS",
            "CONNECTED (95% CI)",
        ]);
        table.align_right(1);
        table.align_right(2);
        for t in &self.tiers {
            table.push(vec![
                t.tier.name().to_owned(),
                t.connection.trials.to_string(),
                percent_with_interval(&t.connection),
            ]);
        }
        indented(
            f,
            "does local presence pay? connection rate per tier:",
            &table,
        )
    }

    /// The A/B arms side by side, each tested against the first.
    fn fmt_arms(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.arms.is_empty() {
            return Ok(());
        }
        let mut table = Table::new(&[
            "ARM",
            "CONTACTS",
            "REACHED (95% CI)",
            "CONNECTED (95% CI)",
            "AGAINST THE FIRST",
        ]);
        for column in 1..=3 {
            table.align_right(column);
        }
        for (index, arm) in self.arms.iter().enumerate() {
            let verdict = match (index, arm.significant) {
                (0, _) => "—".to_owned(),
                (_, true) => format!("z = {:+.2}, significant (p < 0.05)", arm.z_against_first),
                (_, false) => format!("z = {:+.2}, not significant", arm.z_against_first),
            };
            table.push(vec![
                arm.strategy.clone(),
                arm.contacts.to_string(),
                percent_with_interval(&arm.reached),
                percent_with_interval(&arm.connection),
                verdict,
            ]);
        }
        indented(f, "A/B arms ([rotation] arms):", &table)
    }

    /// The three callee-local hours that answered best, ranked by the low end of their 95%
    /// interval, so that an hour with two lucky calls does not top one with two hundred.
    fn fmt_best_hours(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut cells: Vec<&HeatCell> = self.heat_map.iter().collect();
        let low = |c: &HeatCell| Rate::wilson(c.connected, c.attempts).low.unwrap_or(0.0);
        cells.sort_by(|a, b| low(b).total_cmp(&low(a)));
        let best: Vec<String> = cells
            .iter()
            .take(3)
            .map(|c| {
                let day = crate::history::LocalMoment {
                    hour: c.hour,
                    weekday: c.weekday,
                }
                .weekday();
                format!("{day:?} {:02}:00 {}/{}", c.hour, c.connected, c.attempts)
            })
            .collect();
        match best.is_empty() {
            true => Ok(()),
            false => writeln!(
                f,
                "  best callee-local hours (connected/attempts; the HTML page has the heat map): {}",
                best.join(" · ")
            ),
        }
    }

    /// The coverage gaps with the most contacts, and how many more there are; the JSON and the
    /// page list every area code and state.
    fn fmt_gaps(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gaps: Vec<&AreaFigures> = self
            .area_codes
            .iter()
            .filter(|a| a.fill.is_some())
            .collect();
        let mut table = Table::new(&["AREA CODE", "STATE", "CONTACTS", "REACHED", "FILL WITH"]);
        table.align_right(2);
        table.align_right(3);
        for a in gaps.iter().take(GAPS_SHOWN) {
            table.push(vec![
                a.area_code.to_string(),
                a.state.clone().unwrap_or_default(),
                a.contacts.to_string(),
                a.reached.to_string(),
                a.fill.clone().unwrap_or_default(),
            ]);
        }
        let heading = format!(
            "area codes without a number in the pool: {} of {}, most contacts first:",
            gaps.len(),
            self.area_codes.len()
        );
        indented(f, &heading, &table)?;
        more(f, gaps.len())?;
        let gaps: Vec<&StateFigures> = self.states.iter().filter(|s| s.fill.is_some()).collect();
        let mut table = Table::new(&["STATE", "CONTACTS", "REACHED", "FILL WITH"]);
        table.align_right(1);
        table.align_right(2);
        for s in gaps.iter().take(GAPS_SHOWN) {
            table.push(vec![
                s.state.clone(),
                s.contacts.to_string(),
                s.reached.to_string(),
                s.fill.clone().unwrap_or_default(),
            ]);
        }
        let heading = format!(
            "states without a number in the pool: {} of {}:",
            gaps.len(),
            self.states.len()
        );
        indented(f, &heading, &table)?;
        more(f, gaps.len())
    }

    fn fmt_reasons(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |pairs: Vec<(&str, u64)>| match pairs.is_empty() {
            true => "none".to_owned(),
            false => pairs
                .iter()
                .map(|(name, n)| format!("{name} {n}"))
                .collect::<Vec<_>>()
                .join(" · "),
        };
        let skipped = self.skipped.iter().map(|(r, n)| (r.name(), *n)).collect();
        let held = self.held.iter().map(|(r, n)| (r.name(), *n)).collect();
        writeln!(f, "  skipped: {}", list(skipped))?;
        writeln!(f, "  held: {}", list(held))
    }
}

/// `… and 12 more (report --json or --html lists them all)` when a table was cut.
fn more(f: &mut fmt::Formatter<'_>, rows: usize) -> fmt::Result {
    match rows.checked_sub(GAPS_SHOWN) {
        Some(hidden) if hidden > 0 => writeln!(
            f,
            "    … and {hidden} more (report --json or --html lists them all)"
        ),
        _ => Ok(()),
    }
}

/// A table under a heading, indented like `status`'s; nothing for an empty table.
fn indented(f: &mut fmt::Formatter<'_>, heading: &str, table: &Table) -> fmt::Result {
    let text = table.to_string();
    if text.lines().count() <= 1 {
        return Ok(());
    }
    writeln!(f, "  {heading}")?;
    for line in text.lines() {
        writeln!(f, "    {line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Wilson interval holds the observed rate, stays within 0–1, and narrows with trials.
    #[test]
    fn wilson_intervals_are_honest_at_the_edges() {
        let none = Rate::wilson(0, 0);
        assert_eq!(none.rate, None);
        for (hits, trials) in [(0, 1), (1, 1), (0, 50), (50, 50), (7, 20), (700, 2000)] {
            let r = Rate::wilson(hits, trials);
            let (p, low, high) = (r.rate.unwrap(), r.low.unwrap(), r.high.unwrap());
            assert!(
                (0.0..=p).contains(&low) && (p..=1.0).contains(&high),
                "{r:?}"
            );
        }
        let small = Rate::wilson(7, 20);
        let large = Rate::wilson(700, 2000);
        assert!(
            large.high.unwrap() - large.low.unwrap() < small.high.unwrap() - small.low.unwrap()
        );
        // A textbook value: 7 of 20 gives 0.181–0.567.
        assert!((small.low.unwrap() - 0.1812).abs() < 1e-3, "{small:?}");
        assert!((small.high.unwrap() - 0.5671).abs() < 1e-3, "{small:?}");
    }
}
