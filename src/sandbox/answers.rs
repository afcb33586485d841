//! How people answer: a seeded model of who picks up, when, and what carriers do to a caller ID
//! that calls too much (issue 10). Plain synchronous code with no HTTP and no clock: it is told
//! each call's caller ID, callee and moment, and draws from the RNG it is handed, so the sandbox
//! drives it on its own clock and a simulator can drive it in-process on a virtual one. The
//! same settings, the same calls in the same order and the same RNG give the same answers.
//!
//! - **When people answer.** The chance that a person picks up follows the callee's local hour
//!   ([`weekday_chance`]: low early in the morning and at lunch, highest late in the morning and
//!   early in the evening), times `weekend_factor` on Saturdays and Sundays. The callee's zone
//!   is the first zone of their area code in the bundled table (UTC when the table does not
//!   know it).
//! - **Local presence.** The chance is multiplied by the lift of the caller's locality tier to
//!   the callee ([`Match::between`]): area code, state, time zone or none. Every lift is 1 by
//!   default, so locality changes nothing unless a test or demo says it does.
//! - **Carrier labelling.** A caller ID that makes more than `day_calls` calls within 24 hours,
//!   or more than `minute_calls` within a minute (counting the call in hand), is labelled from
//!   that call on, for `days` days. While labelled, its answer chance is multiplied by
//!   `answer_factor`, a `blocked` share of its calls fail as carriers' blocks do (status
//!   `failed`, disconnect `forbidden`, no ringing), and a `short` share of its answered calls
//!   are hung up by the callee within [`SHORT_TALK_SECONDS`]. Healthy numbers get short calls
//!   too, at `short_share`. Every label given is kept in [`AnswerModel::labels`].
//! - **Unanswered calls** are busy at [`BUSY_SHARE`] (the line refuses at once), otherwise they
//!   ring for [`RING_TIMEOUT`] and end `no-answer`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::faults::Share;
use super::lifecycle::{CallLength, Disconnect, Outcome};
use crate::area_codes;
use crate::history::LocalMoment;
use crate::phone::Phone;
use crate::rotation::{Locale, Match};

/// How long an unanswered phone rings before the call gives up (`no-answer`).
pub const RING_TIMEOUT: Duration = Duration::from_secs(30);
/// The share of unanswered calls that meet a busy line instead of ringing out.
pub const BUSY_SHARE: f64 = 0.1;
/// A short call lasts from 1 to this many seconds before the callee hangs up: what people do
/// to a number they take for spam.
pub const SHORT_TALK_SECONDS: u64 = 5;
/// An answered phone rings between these many seconds first.
const ANSWER_RING_SECONDS: (u64, u64) = (3, 20);

/// The chance a person answers on a weekday, by the callee's local hour (0–23): low at night
/// and early in the morning, a dip at lunch, highest late in the morning and early in the
/// evening. Weekends multiply it by `weekend_factor`.
const WEEKDAY_CURVE: [f64; 24] = [
    0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.05, 0.10, // 00–07
    0.20, 0.28, 0.34, 0.36, 0.22, 0.24, 0.28, 0.30, // 08–15
    0.32, 0.38, 0.40, 0.33, 0.22, 0.12, 0.06, 0.03, // 16–23
];

/// The chance a person answers at `moment` on a weekday, before any weekend factor or lift.
pub fn weekday_chance(moment: LocalMoment) -> f64 {
    WEEKDAY_CURVE[usize::from(moment.hour.min(23))]
}

/// A multiplier of 0 or more, written `1.5`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Factor(f64);

/// Why a factor is not a finite number of 0 or more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("factor `{0}` is not a number of 0 or more: write 1 for no change, 1.5 for half again")]
pub struct FactorError(String);

impl Factor {
    pub const ONE: Factor = Factor(1.0);

    pub fn new(factor: f64) -> Result<Factor, FactorError> {
        if factor.is_finite() && factor >= 0.0 {
            Ok(Factor(factor))
        } else {
            Err(FactorError(factor.to_string()))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Factor {
    type Error = FactorError;

    fn try_from(factor: f64) -> Result<Self, Self::Error> {
        Factor::new(factor)
    }
}

impl From<Factor> for f64 {
    fn from(factor: Factor) -> f64 {
        factor.0
    }
}

impl std::str::FromStr for Factor {
    type Err = FactorError;

    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let written = written.trim();
        let factor = written
            .parse()
            .map_err(|_| FactorError(written.to_string()))?;
        Factor::new(factor)
    }
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The answer chance's multiplier for each locality tier; all 1 by default (no lift), since
/// whether local presence lifts answers is exactly what outdial must measure, not assume.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierLift {
    pub area_code: Factor,
    pub region: Factor,
    pub time_zone: Factor,
    pub none: Factor,
}

impl Default for TierLift {
    fn default() -> Self {
        TierLift {
            area_code: Factor::ONE,
            region: Factor::ONE,
            time_zone: Factor::ONE,
            none: Factor::ONE,
        }
    }
}

impl TierLift {
    pub fn of(&self, tier: Match) -> Factor {
        match tier {
            Match::AreaCode => self.area_code,
            Match::Region => self.region,
            Match::TimeZone => self.time_zone,
            Match::Other => self.none,
        }
    }
}

/// Why a `--answer-lift` value is not `TIER=FACTOR,…`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierLiftError {
    #[error("`{0}` is not a tier: use area_code, region, time_zone or none")]
    UnknownTier(String),
    #[error("`{0}` is not TIER=FACTOR, e.g. area_code=1.3")]
    NotAPair(String),
    #[error("{tier}: {source}")]
    BadFactor { tier: String, source: FactorError },
}

impl std::str::FromStr for TierLift {
    type Err = TierLiftError;

    /// `area_code=1.3,region=1.1`; tiers left out keep 1.
    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let mut lift = TierLift::default();
        for item in written.split(',').map(str::trim) {
            let (tier, factor) = item
                .split_once('=')
                .ok_or_else(|| TierLiftError::NotAPair(item.to_string()))?;
            let tier = tier.trim();
            let slot = match tier {
                "area_code" => &mut lift.area_code,
                "region" => &mut lift.region,
                "time_zone" => &mut lift.time_zone,
                "none" => &mut lift.none,
                other => return Err(TierLiftError::UnknownTier(other.to_string())),
            };
            *slot = factor.parse().map_err(|source| TierLiftError::BadFactor {
                tier: tier.to_string(),
                source,
            })?;
        }
        Ok(lift)
    }
}

/// When carriers label a caller ID, for how long, and what a label does to its calls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Labelling {
    /// More calls than this within 24 hours of sandbox time labels the number.
    pub day_calls: u32,
    /// More calls than this within one minute of sandbox time labels the number.
    pub minute_calls: u32,
    /// How long a label lasts, in sandbox days (fractions allowed).
    pub days: Factor,
    /// A labelled number's answer chance is multiplied by this.
    pub answer_factor: Share,
    /// The share of a labelled number's calls that carriers block.
    pub blocked: Share,
    /// The share of a labelled number's answered calls that are short.
    pub short: Share,
}

impl Default for Labelling {
    fn default() -> Self {
        Labelling {
            day_calls: 100,
            minute_calls: 10,
            days: Factor(7.0),
            answer_factor: Share::new(0.25).expect("0.25 is a share"),
            blocked: Share::new(0.3).expect("0.3 is a share"),
            short: Share::new(0.6).expect("0.6 is a share"),
        }
    }
}

impl Labelling {
    /// A label of `number` from `at`, lasting `days`.
    fn from(&self, number: &Phone, at: Timestamp, why: Overuse, calls: u32) -> Label {
        let length = SignedDuration::try_from_secs_f64(self.days.get() * 86_400.0).unwrap_or(DAY);
        Label {
            number: number.clone(),
            since: at,
            until: at.checked_add(length).unwrap_or(Timestamp::MAX),
            why,
            calls,
        }
    }
}

/// Labels longer than this are surely a typo (and would overflow a timestamp sooner or later).
const MAX_LABEL_DAYS: f64 = 3_650.0;

/// The model's knobs, as flags, `SandboxConfig::answers` and `PUT /sandbox/answers` give them;
/// every field left out takes its documented default.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnswerSettings {
    /// Saturdays and Sundays multiply the answer chance by this.
    pub weekend_factor: Share,
    /// The share of a healthy number's answered calls that are short anyway.
    pub short_share: Share,
    pub lift: TierLift,
    pub labelling: Labelling,
}

impl Default for AnswerSettings {
    fn default() -> Self {
        AnswerSettings {
            weekend_factor: Share::new(0.6).expect("0.6 is a share"),
            short_share: Share::new(0.1).expect("0.1 is a share"),
            lift: TierLift::default(),
            labelling: Labelling::default(),
        }
    }
}

/// Why answer settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerSettingsError {
    #[error("labelling.days {0} is over {MAX_LABEL_DAYS}: write the label's length in days")]
    TooManyDays(String),
}

impl AnswerSettings {
    /// Checks what serde's types cannot.
    pub fn check(&self) -> Result<(), AnswerSettingsError> {
        let days = self.labelling.days.get();
        if days > MAX_LABEL_DAYS {
            return Err(AnswerSettingsError::TooManyDays(days.to_string()));
        }
        Ok(())
    }
}

/// One call the model is asked about.
#[derive(Debug, Clone, Copy)]
pub struct Dial<'a> {
    pub caller: &'a Phone,
    pub callee: &'a Phone,
    /// The sandbox's moment of the call (or a simulator's virtual one).
    pub at: Timestamp,
}

/// How one call goes, in simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub outcome: Outcome,
    /// How long the callee's phone rang.
    pub ringing: Duration,
    /// How long the call talked after the answer; zero when nobody answered.
    pub talk: Duration,
    pub disconnect: Disconnect,
    /// Whether the caller ID was labelled when it made this call.
    pub labelled: bool,
}

/// Why a number was labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overuse {
    /// More than `day_calls` calls within 24 hours.
    Day,
    /// More than `minute_calls` calls within a minute.
    Burst,
    /// The sandbox was told to label it (`POST /sandbox/labels`), as a test or demo does to
    /// burn one number at a moment of its choosing.
    Told,
}

/// One label a carrier gave a caller ID: the ground truth `GET /sandbox/stats` lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub number: Phone,
    /// The moment of the call that crossed the line; that call is the first labelled one.
    pub since: Timestamp,
    /// The first moment the number is no longer labelled.
    pub until: Timestamp,
    pub why: Overuse,
    /// How many calls were in the window (24 hours or a minute) when it crossed the line; 0
    /// for a label the sandbox was told to give.
    pub calls: u32,
}

impl Label {
    /// Whether the label is in effect at `at`.
    pub fn covers(&self, at: Timestamp) -> bool {
        self.since <= at && at < self.until
    }
}

/// What a caller ID did lately, as the carriers see it.
#[derive(Debug, Default)]
struct Caller {
    /// The moments of its calls within the last 24 hours, oldest first.
    recent: VecDeque<Timestamp>,
    /// Its latest label, an index into [`AnswerModel::labels`].
    label: Option<usize>,
}

const DAY: SignedDuration = SignedDuration::from_hours(24);
const MINUTE: SignedDuration = SignedDuration::from_mins(1);

/// The answer model with what it remembers of each caller ID.
#[derive(Debug)]
pub struct AnswerModel {
    settings: AnswerSettings,
    /// How long an answered, not short, call talks.
    talk: CallLength,
    callers: HashMap<Phone, Caller>,
    labels: Vec<Label>,
}

/// The draws one call takes, all of them whatever the call turns out to be, so that one call's
/// fate never shifts the draws of the calls after it.
struct Rolls {
    blocked: f64,
    answered: f64,
    short: f64,
    busy: f64,
    ring: Duration,
    short_talk: Duration,
    talk: Duration,
}

impl Rolls {
    fn draw(rng: &mut impl Rng, talk: &CallLength) -> Rolls {
        let (ring_min, ring_max) = ANSWER_RING_SECONDS;
        Rolls {
            blocked: rng.random(),
            answered: rng.random(),
            short: rng.random(),
            busy: rng.random(),
            ring: Duration::from_millis(rng.random_range(ring_min * 1000..=ring_max * 1000)),
            short_talk: Duration::from_secs(rng.random_range(1..=SHORT_TALK_SECONDS)),
            talk: talk.pick(rng),
        }
    }
}

impl AnswerModel {
    /// A model with no history; answered calls talk for a length drawn from `talk`.
    pub fn new(settings: AnswerSettings, talk: CallLength) -> AnswerModel {
        AnswerModel {
            settings,
            talk,
            callers: HashMap::new(),
            labels: Vec::new(),
        }
    }

    pub fn settings(&self) -> &AnswerSettings {
        &self.settings
    }

    /// Every label given so far, oldest first, including those that have ended.
    pub fn labels(&self) -> &[Label] {
        &self.labels
    }

    /// How the call `dial` goes; the call counts towards its caller ID's labelling. Calls are
    /// expected in the order of their moments, as a clock gives them.
    pub fn call(&mut self, dial: Dial<'_>, rng: &mut impl Rng) -> Answer {
        let labelled = self.count(dial.caller, dial.at);
        let rolls = Rolls::draw(rng, &self.talk);
        let labelling = self.settings.labelling;
        if labelled && labelling.blocked.hit(rolls.blocked) {
            return blocked();
        }
        let mut chance = self.chance(dial);
        let mut short = self.settings.short_share;
        if labelled {
            chance *= labelling.answer_factor.get();
            short = labelling.short;
        }
        let answer = if rolls.answered >= chance {
            unanswered(&rolls)
        } else if short.hit(rolls.short) {
            conversation(rolls.ring, rolls.short_talk)
        } else {
            conversation(rolls.ring, rolls.talk)
        };
        Answer { labelled, ..answer }
    }

    /// The chance a person answers `dial` from a healthy number: the hour curve, the weekend
    /// factor and the tier's lift, at most 1.
    pub fn chance(&self, dial: Dial<'_>) -> f64 {
        let moment = LocalMoment::of(dial.at, &callee_zone(dial.callee));
        let mut chance = weekday_chance(moment);
        if moment.weekday >= 6 {
            chance *= self.settings.weekend_factor.get();
        }
        let tier = Match::between(
            &Locale::of_number(dial.callee),
            &Locale::of_number(dial.caller),
        );
        (chance * self.settings.lift.of(tier).get()).min(1.0)
    }

    /// Labels `number` from `at` for the configured days, as carriers might at any time; a
    /// label already in effect then is kept as it is. Returns the label in effect.
    pub fn label(&mut self, number: &Phone, at: Timestamp) -> &Label {
        let record = self.callers.entry(number.clone()).or_default();
        let index = match record.label {
            Some(index) if self.labels[index].covers(at) => index,
            _ => {
                let index = self.labels.len();
                record.label = Some(index);
                let label = self.settings.labelling.from(number, at, Overuse::Told, 0);
                self.labels.push(label);
                index
            }
        };
        &self.labels[index]
    }

    /// Counts a call by `caller` at `at`, labelling the number when this call crosses a line;
    /// true when the number is labelled for this call.
    fn count(&mut self, caller: &Phone, at: Timestamp) -> bool {
        let record = self.callers.entry(caller.clone()).or_default();
        let day_ago = at.checked_sub(DAY).unwrap_or(Timestamp::MIN);
        while record.recent.front().is_some_and(|&t| t <= day_ago) {
            record.recent.pop_front();
        }
        record.recent.push_back(at);
        if let Some(index) = record.label
            && self.labels[index].covers(at)
        {
            return true;
        }
        let Some((why, calls)) = overuse(&record.recent, at, &self.settings.labelling) else {
            return false;
        };
        record.label = Some(self.labels.len());
        let label = self.settings.labelling.from(caller, at, why, calls);
        self.labels.push(label);
        true
    }
}

/// Whether the calls in `recent` (the last 24 hours, ending with the one at `at`) cross a
/// labelling line, and which, with the count that crossed it.
fn overuse(
    recent: &VecDeque<Timestamp>,
    at: Timestamp,
    rules: &Labelling,
) -> Option<(Overuse, u32)> {
    let day = u32::try_from(recent.len()).unwrap_or(u32::MAX);
    if day > rules.day_calls {
        return Some((Overuse::Day, day));
    }
    let minute_ago = at.checked_sub(MINUTE).unwrap_or(Timestamp::MIN);
    // The moments are in call order, so the minute's calls are a tail found by bisection.
    let minute = recent.len() - recent.partition_point(|&t| t <= minute_ago);
    let minute = u32::try_from(minute).unwrap_or(u32::MAX);
    (minute > rules.minute_calls).then_some((Overuse::Burst, minute))
}

/// The callee's zone: the first of their area code's zones, or UTC when the table has none.
fn callee_zone(callee: &Phone) -> TimeZone {
    let place = callee.area_code().and_then(area_codes::place);
    place
        .and_then(|place| place.time_zones.first())
        .and_then(|name| TimeZone::get(name).ok())
        .unwrap_or(TimeZone::UTC)
}

/// A carrier's block: the call fails before it rings.
fn blocked() -> Answer {
    Answer {
        outcome: Outcome::Failed,
        ringing: Duration::ZERO,
        talk: Duration::ZERO,
        disconnect: Disconnect::Forbidden,
        labelled: true,
    }
}

fn unanswered(rolls: &Rolls) -> Answer {
    let (outcome, ringing) = if rolls.busy < BUSY_SHARE {
        (Outcome::Busy, Duration::ZERO)
    } else {
        (Outcome::NoAnswer, RING_TIMEOUT)
    };
    Answer {
        outcome,
        ringing,
        talk: Duration::ZERO,
        disconnect: outcome.disconnect(),
        labelled: false,
    }
}

/// A person answered after `ringing` and hung up after `talk`.
fn conversation(ringing: Duration, talk: Duration) -> Answer {
    Answer {
        outcome: Outcome::Completed,
        ringing,
        talk,
        disconnect: Disconnect::CalleeHangup,
        labelled: false,
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    /// New York.
    const CALLEE: &str = "+12125552671";
    /// Same area code as the callee.
    const LOCAL: &str = "+12125550101";
    /// Los Angeles: no tier in common with the callee.
    const FAR: &str = "+13105550103";

    fn phone(e164: &str) -> Phone {
        Phone::try_from(e164.to_string()).unwrap()
    }

    /// Tuesday 1 December 2026 at `hh:mm` in New York.
    fn new_york(hh: i8, mm: i8) -> Timestamp {
        jiff::civil::date(2026, 12, 1)
            .at(hh, mm, 0, 0)
            .in_tz("America/New_York")
            .unwrap()
            .timestamp()
    }

    fn talk() -> CallLength {
        "30..90".parse().unwrap()
    }

    /// Settings that never label, so statistics see the curve alone.
    fn never_labelling() -> AnswerSettings {
        let mut settings = AnswerSettings::default();
        settings.labelling.day_calls = u32::MAX;
        settings.labelling.minute_calls = u32::MAX;
        settings
    }

    fn labelling(day_calls: u32, minute_calls: u32, days: f64) -> AnswerSettings {
        let mut settings = AnswerSettings::default();
        settings.labelling.day_calls = day_calls;
        settings.labelling.minute_calls = minute_calls;
        settings.labelling.days = Factor::new(days).unwrap();
        settings
    }

    fn dial<'a>(caller: &'a Phone, callee: &'a Phone, at: Timestamp) -> Dial<'a> {
        Dial { caller, callee, at }
    }

    /// What `calls` calls from `caller` at `at` came to, as shares of all calls.
    #[derive(Debug)]
    struct Tally {
        answered: f64,
        blocked: f64,
        /// Of the answered calls.
        short: f64,
    }

    fn tally(model: &mut AnswerModel, caller: &str, at: Timestamp, calls: u32, seed: u64) -> Tally {
        let (caller, callee) = (phone(caller), phone(CALLEE));
        let mut rng = StdRng::seed_from_u64(seed);
        let answers: Vec<Answer> = (0..calls)
            .map(|_| model.call(dial(&caller, &callee, at), &mut rng))
            .collect();
        let share = |count: usize, of: usize| count as f64 / of.max(1) as f64;
        let answered: Vec<&Answer> = answers
            .iter()
            .filter(|a| a.outcome == Outcome::Completed)
            .collect();
        let blocked = answers
            .iter()
            .filter(|a| a.outcome == Outcome::Failed && a.disconnect == Disconnect::Forbidden)
            .count();
        let short = answered
            .iter()
            .filter(|a| a.talk.as_secs() <= SHORT_TALK_SECONDS)
            .count();
        Tally {
            answered: share(answered.len(), answers.len()),
            blocked: share(blocked, answers.len()),
            short: share(short, answered.len()),
        }
    }

    fn near(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() < 0.02
    }

    /// The same settings, calls and seed give the same answers and labels; another seed does not.
    #[test]
    fn same_seed_same_calls_same_answers() {
        let run = |seed: u64| {
            let mut model = AnswerModel::new(labelling(20, 4, 1.0), talk());
            let mut rng = StdRng::seed_from_u64(seed);
            let callers = [phone(LOCAL), phone(FAR), phone("+13125550104")];
            let callee = phone(CALLEE);
            let answers: Vec<Answer> = (0..300)
                .map(|i| {
                    let at = new_york(9, 0) + SignedDuration::from_secs(i * 7);
                    let caller = &callers[(i % 3) as usize];
                    model.call(dial(caller, &callee, at), &mut rng)
                })
                .collect();
            (answers, model.labels().to_vec())
        };
        let (answers, labels) = run(7);
        assert_eq!(run(7), (answers.clone(), labels.clone()));
        assert!(
            !labels.is_empty(),
            "the run is busy enough to label numbers"
        );
        assert_ne!(run(8).0, answers);
        let outcomes: std::collections::HashSet<Outcome> =
            answers.iter().map(|answer| answer.outcome).collect();
        assert!(outcomes.len() >= 3, "{outcomes:?}");
    }

    /// The chance follows the callee's own local hour (not the caller's, not UTC), drops at
    /// lunch and in the early morning, and weekends take the weekend factor.
    #[test]
    fn the_chance_follows_the_callee_local_hour_and_weekday() {
        let model = AnswerModel::new(never_labelling(), talk());
        let (far, new_yorker, angeleno) = (phone(FAR), phone(CALLEE), phone("+13105552671"));
        let chance = |callee: &Phone, at| model.chance(dial(&far, callee, at));
        assert_eq!(chance(&new_yorker, new_york(11, 0)), 0.36);
        assert_eq!(chance(&new_yorker, new_york(7, 30)), 0.10);
        assert_eq!(chance(&new_yorker, new_york(12, 15)), 0.22);
        assert_eq!(chance(&new_yorker, new_york(18, 0)), 0.40);
        // 11:00 in New York is 08:00 in Los Angeles.
        assert_eq!(chance(&angeleno, new_york(11, 0)), 0.20);
        let saturday = new_york(11, 0) + SignedDuration::from_hours(24 * 4);
        assert!((chance(&new_yorker, saturday) - 0.36 * 0.6).abs() < 1e-12);
        let sunday = saturday + SignedDuration::from_hours(24);
        assert!((chance(&new_yorker, sunday) - 0.36 * 0.6).abs() < 1e-12);
        let monday = sunday + SignedDuration::from_hours(24);
        assert_eq!(chance(&new_yorker, monday), 0.36);
        // Drawn calls follow the chance.
        let mut model = AnswerModel::new(never_labelling(), talk());
        let late_morning = tally(&mut model, FAR, new_york(11, 0), 20_000, 1);
        let early = tally(&mut model, FAR, new_york(7, 0), 20_000, 2);
        let weekend = tally(&mut model, FAR, saturday, 20_000, 3);
        assert!(near(late_morning.answered, 0.36), "{late_morning:?}");
        assert!(near(early.answered, 0.10), "{early:?}");
        assert!(near(weekend.answered, 0.216), "{weekend:?}");
        assert_eq!(
            late_morning.blocked, 0.0,
            "healthy numbers are never blocked"
        );
        assert!(near(late_morning.short, 0.1), "{late_morning:?}");
    }

    /// Every tier answers alike by default; a lift multiplies only its own tier's chance, and
    /// the chance never passes 1.
    #[test]
    fn a_tier_lift_lifts_only_its_tier() {
        let callee = phone(CALLEE);
        let callers = [
            (LOCAL, Match::AreaCode),
            ("+16465550100", Match::Region),
            ("+13055550106", Match::TimeZone),
            (FAR, Match::Other),
        ];
        let plain = AnswerModel::new(never_labelling(), talk());
        for (caller, tier) in callers {
            let caller = phone(caller);
            let locales = (Locale::of_number(&callee), Locale::of_number(&caller));
            assert_eq!(Match::between(&locales.0, &locales.1), tier);
            assert_eq!(plain.chance(dial(&caller, &callee, new_york(11, 0))), 0.36);
        }
        let mut settings = never_labelling();
        settings.lift = "area_code=2,time_zone=0.5".parse().unwrap();
        let lifted = AnswerModel::new(settings, talk());
        let chance = |caller: &str, at| lifted.chance(dial(&phone(caller), &callee, at));
        assert_eq!(chance(LOCAL, new_york(11, 0)), 0.72);
        assert_eq!(chance("+16465550100", new_york(11, 0)), 0.36);
        assert_eq!(chance("+13055550106", new_york(11, 0)), 0.18);
        assert_eq!(chance(FAR, new_york(11, 0)), 0.36);
        settings.lift = "area_code=10".parse().unwrap();
        let capped = AnswerModel::new(settings, talk());
        assert_eq!(
            capped.chance(dial(&phone(LOCAL), &callee, new_york(11, 0))),
            1.0
        );
        let mut model = AnswerModel::new(settings, talk());
        assert_eq!(
            tally(&mut model, LOCAL, new_york(11, 0), 2_000, 4).answered,
            1.0
        );
        assert!(matches!(
            "area=2".parse::<TierLift>(),
            Err(TierLiftError::UnknownTier(_))
        ));
        assert!("none=-1".parse::<TierLift>().is_err());
        assert!("none".parse::<TierLift>().is_err());
    }

    /// Calls `caller` once at each moment, returning whether each call was labelled.
    fn labelled_at(model: &mut AnswerModel, caller: &str, moments: &[Timestamp]) -> Vec<bool> {
        let (caller, callee) = (phone(caller), phone(CALLEE));
        let mut rng = StdRng::seed_from_u64(5);
        moments
            .iter()
            .map(|&at| model.call(dial(&caller, &callee, at), &mut rng).labelled)
            .collect()
    }

    fn hours_after(start: Timestamp, hours: &[i64]) -> Vec<Timestamp> {
        hours
            .iter()
            .map(|&h| start + SignedDuration::from_hours(h))
            .collect()
    }

    /// The call that makes N+1 within 24 hours is the first labelled one; the label lasts D
    /// days to the millisecond, then ends; other numbers are untouched.
    #[test]
    fn a_label_starts_past_n_calls_a_day_and_lasts_d_days() {
        let mut model = AnswerModel::new(labelling(5, u32::MAX, 2.0), talk());
        let start = new_york(9, 0);
        let first_five = hours_after(start, &[0, 1, 2, 3, 4]);
        assert_eq!(labelled_at(&mut model, LOCAL, &first_five), [false; 5]);
        assert!(model.labels().is_empty());
        let crossing = start + SignedDuration::from_hours(5);
        assert_eq!(labelled_at(&mut model, LOCAL, &[crossing]), [true]);
        let until = crossing + SignedDuration::from_hours(48);
        assert_eq!(
            model.labels(),
            [Label {
                number: phone(LOCAL),
                since: crossing,
                until,
                why: Overuse::Day,
                calls: 6,
            }]
        );
        assert_eq!(labelled_at(&mut model, FAR, &[crossing]), [false]);
        let last_labelled = until - SignedDuration::from_millis(1);
        assert_eq!(
            labelled_at(
                &mut model,
                LOCAL,
                &[
                    crossing + SignedDuration::from_hours(30),
                    last_labelled,
                    until
                ]
            ),
            [true, true, false]
        );
        assert_eq!(
            model.labels().len(),
            1,
            "the label ended and no new one began"
        );
        assert!(model.labels()[0].covers(last_labelled));
        assert!(!model.labels()[0].covers(until));
    }

    /// The 24 hours are a sliding window: a call exactly 24 h after the first no longer counts
    /// it, one a millisecond earlier does.
    #[test]
    fn the_day_is_a_sliding_window() {
        let start = new_york(9, 0);
        let five = hours_after(start, &[0, 1, 2, 3, 4]);
        let mut model = AnswerModel::new(labelling(5, u32::MAX, 1.0), talk());
        labelled_at(&mut model, LOCAL, &five);
        let a_day_later = start + SignedDuration::from_hours(24);
        assert_eq!(labelled_at(&mut model, LOCAL, &[a_day_later]), [false]);
        let mut model = AnswerModel::new(labelling(5, u32::MAX, 1.0), talk());
        labelled_at(&mut model, LOCAL, &five);
        let just_inside = a_day_later - SignedDuration::from_millis(1);
        assert_eq!(labelled_at(&mut model, LOCAL, &[just_inside]), [true]);
    }

    /// More than M calls within a minute labels the number for a burst; the same calls spread
    /// over a minute or more do not.
    #[test]
    fn a_burst_past_m_calls_a_minute_labels_the_number() {
        let start = new_york(9, 0);
        let at = |secs: &[i64]| -> Vec<Timestamp> {
            secs.iter()
                .map(|&s| start + SignedDuration::from_millis(s))
                .collect()
        };
        let mut model = AnswerModel::new(labelling(u32::MAX, 3, 1.0), talk());
        let spread = at(&[0, 20_000, 40_000, 60_000, 80_000, 100_000]);
        assert_eq!(labelled_at(&mut model, LOCAL, &spread), [false; 6]);
        let mut model = AnswerModel::new(labelling(u32::MAX, 3, 1.0), talk());
        let burst = at(&[0, 15_000, 30_000, 59_999]);
        assert_eq!(
            labelled_at(&mut model, LOCAL, &burst),
            [false, false, false, true]
        );
        let label = &model.labels()[0];
        assert_eq!((label.why, label.calls), (Overuse::Burst, 4));
        assert_eq!(label.since, burst[3]);
    }

    /// While labelled, a number's calls are blocked at the blocked share, the rest are answered
    /// at the chance times the answer factor, and answered calls are short at the short share.
    #[test]
    fn a_labelled_number_is_answered_less_blocked_and_hung_up_on() {
        let at = new_york(11, 0);
        let mut burnt = AnswerModel::new(labelling(0, u32::MAX, 3_650.0), talk());
        let labelled = tally(&mut burnt, LOCAL, at, 40_000, 6);
        assert!(near(labelled.blocked, 0.3), "{labelled:?}");
        assert!(near(labelled.answered, 0.7 * 0.36 * 0.25), "{labelled:?}");
        assert!((labelled.short - 0.6).abs() < 0.05, "{labelled:?}");
        let mut healthy = AnswerModel::new(never_labelling(), talk());
        let healthy = tally(&mut healthy, LOCAL, at, 40_000, 6);
        assert_eq!(healthy.blocked, 0.0);
        assert!(near(healthy.answered, 0.36), "{healthy:?}");
        assert!(near(healthy.short, 0.1), "{healthy:?}");
    }

    /// Blocked calls never ring; answered ones ring, talk and are ended by the callee;
    /// unanswered ones ring out or meet a busy line.
    #[test]
    fn each_answer_reports_its_telephony() {
        let mut model = AnswerModel::new(labelling(0, u32::MAX, 3_650.0), talk());
        let (caller, callee) = (phone(LOCAL), phone(CALLEE));
        let mut rng = StdRng::seed_from_u64(9);
        for _ in 0..2_000 {
            let answer = model.call(dial(&caller, &callee, new_york(11, 0)), &mut rng);
            let expected = match answer.outcome {
                Outcome::Failed => (Duration::ZERO, Duration::ZERO, Disconnect::Forbidden),
                Outcome::Busy => (Duration::ZERO, Duration::ZERO, Disconnect::CalleeHangup),
                Outcome::NoAnswer => (RING_TIMEOUT, Duration::ZERO, Disconnect::CallerHangup),
                Outcome::Completed => {
                    assert!((3..=20).contains(&answer.ringing.as_secs()), "{answer:?}");
                    assert!(!answer.talk.is_zero());
                    (answer.ringing, answer.talk, Disconnect::CalleeHangup)
                }
                other => panic!("the model never gives {other}"),
            };
            assert_eq!((answer.ringing, answer.talk, answer.disconnect), expected);
        }
    }

    /// A label the sandbox is told to give starts at once, lasts the configured days, acts like
    /// any other, and is not doubled while it is in effect.
    #[test]
    fn a_told_label_burns_the_number_from_that_moment() {
        let mut model = AnswerModel::new(labelling(u32::MAX, u32::MAX, 1.0), talk());
        let at = new_york(10, 0);
        assert_eq!(labelled_at(&mut model, LOCAL, &[at]), [false]);
        let later = at + SignedDuration::from_mins(5);
        let label = model.label(&phone(LOCAL), later).clone();
        assert_eq!(
            (label.since, label.why, label.calls),
            (later, Overuse::Told, 0)
        );
        assert_eq!(label.until, later + SignedDuration::from_hours(24));
        assert_eq!(
            model.label(&phone(LOCAL), label.until - SignedDuration::from_secs(1)),
            &label
        );
        assert_eq!(model.labels().len(), 1);
        assert_eq!(
            labelled_at(&mut model, LOCAL, &[later, label.until]),
            [true, false]
        );
    }

    #[test]
    fn absurd_label_lengths_are_refused() {
        assert!(labelling(1, 1, 3_650.0).check().is_ok());
        assert!(labelling(1, 1, 3_651.0).check().is_err());
        assert!(Factor::new(f64::NAN).is_err());
        let json = serde_json::json!({ "labelling": { "days": -1 } });
        assert!(serde_json::from_value::<AnswerSettings>(json).is_err());
        let json = serde_json::json!({ "labeling": {} });
        let error = serde_json::from_value::<AnswerSettings>(json).unwrap_err();
        assert!(error.to_string().contains("labeling"), "{error}");
    }
}
