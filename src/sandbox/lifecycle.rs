//! How a created call lives (SPEC §6, CONTRACT A.2): the length it is given, the outcome it
//! reaches and how fast simulated time runs. A call's whole future is drawn once, at creation, as
//! a [`Plan`]; its status at any instant is then a pure function of the time since creation, so
//! no timer task runs and every view of a call agrees at a given instant.
//!
//! The phases are fractions of the drawn length `L` (simulated time): `queued` for the first 10%,
//! `ringing` until 30%, then the outcome decides. A call nobody answers (`no-answer`, `busy`,
//! `failed`) ends when the ringing ends; a voicemail talks briefly; a `completed` call talks until
//! `L`. With a single length and outcome this is exactly the sandbox's original behaviour.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rand::Rng;

use super::answers::Answer;

/// How long a simulated call lasts, drawn uniformly from `min..=max` for each call; written `2`,
/// `0.4` or `30..90` (seconds, simulated: divided by the [`TimeScale`] in real time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLength {
    pub min: Duration,
    pub max: Duration,
}

impl CallLength {
    /// Every call lasts exactly `length`.
    pub const fn fixed(length: Duration) -> CallLength {
        CallLength {
            min: length,
            max: length,
        }
    }

    /// One call's length from the seeded `rng`, so a replayed run gets the same calls.
    pub(crate) fn pick(&self, rng: &mut impl Rng) -> Duration {
        let spread = self.max.saturating_sub(self.min).as_nanos();
        let spread = u64::try_from(spread).unwrap_or(u64::MAX);
        self.min + Duration::from_nanos(rng.random_range(0..=spread))
    }
}

/// A fixed length converts, so `call_duration: Duration::from_secs(2).into()` reads naturally.
impl From<Duration> for CallLength {
    fn from(length: Duration) -> CallLength {
        CallLength::fixed(length)
    }
}

/// Why a `--call-seconds` value is not `S` or `MIN..MAX`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallLengthError {
    #[error("call length `{0}` is not a number of seconds of 0 or more: write 2, 0.5 or 30..90")]
    NotSeconds(String),
    #[error("call length {0} ends before it starts: write the smaller number first")]
    Reversed(String),
}

impl FromStr for CallLength {
    type Err = CallLengthError;

    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let (min, max) = match written.split_once("..") {
            Some((min, max)) => (seconds(min)?, seconds(max)?),
            None => (seconds(written)?, seconds(written)?),
        };
        if min > max {
            return Err(CallLengthError::Reversed(written.trim().to_string()));
        }
        Ok(CallLength { min, max })
    }
}

fn seconds(written: &str) -> Result<Duration, CallLengthError> {
    let written = written.trim();
    written
        .parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| CallLengthError::NotSeconds(written.to_string()))
}

impl fmt::Display for CallLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (min, max) = (self.min.as_secs_f64(), self.max.as_secs_f64());
        if self.min == self.max {
            write!(f, "{min}")
        } else {
            write!(f, "{min}..{max}")
        }
    }
}

/// The terminal state a call reaches, named by the vendor's `status` value (CONTRACT A.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Picked up, talked, hung up.
    Completed,
    /// Rang out.
    NoAnswer,
    /// The line was busy.
    Busy,
    /// The carrier could not place the call.
    Failed,
    /// Voicemail answered and the agent left a message.
    LeftVoicemail,
    /// Voicemail answered and the agent hung up at once.
    HangupOnVoicemail,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Completed,
        Outcome::NoAnswer,
        Outcome::Busy,
        Outcome::Failed,
        Outcome::LeftVoicemail,
        Outcome::HangupOnVoicemail,
    ];

    /// The vendor's `status` (A.2) / `call_status` (A.3) value.
    pub fn status(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::NoAnswer => "no-answer",
            Outcome::Busy => "busy",
            Outcome::Failed => "failed",
            Outcome::LeftVoicemail => "left_voicemail",
            Outcome::HangupOnVoicemail => "hangup_on_voicemail",
        }
    }

    /// The `end_call_reason` the vendor's enum has for it. `left_voicemail` ↔
    /// `voicemail_message_left` is documented; the vendor documents no reason for a call that
    /// never connected, so those use the closest enum values (`timeout` for ringing out,
    /// `error` for busy and failed).
    pub fn end_call_reason(self) -> &'static str {
        match self {
            Outcome::Completed => "human_ended_call",
            Outcome::NoAnswer => "timeout",
            Outcome::Busy | Outcome::Failed => "error",
            Outcome::LeftVoicemail => "voicemail_message_left",
            Outcome::HangupOnVoicemail => "voicemail",
        }
    }

    /// Who or what ends a call with this outcome, unless a carrier's block says otherwise: the
    /// callee for a conversation or a busy line, the caller (the agent) for a voicemail or a
    /// phone that rang out, the network for a call that could not be placed.
    pub fn disconnect(self) -> Disconnect {
        match self {
            Outcome::Completed | Outcome::Busy => Disconnect::CalleeHangup,
            Outcome::NoAnswer | Outcome::LeftVoicemail | Outcome::HangupOnVoicemail => {
                Disconnect::CallerHangup
            }
            Outcome::Failed => Disconnect::Error,
        }
    }

    /// Whether someone (or a machine) picked up; only then is there talk and a `duration`.
    pub fn answered(self) -> bool {
        matches!(
            self,
            Outcome::Completed | Outcome::LeftVoicemail | Outcome::HangupOnVoicemail
        )
    }

    /// Where in the drawn length the call ends, in tenths: unanswered calls end with the ringing
    /// (3/10), a voicemail after a short talk, a conversation at the full length.
    fn ends_at_tenths(self) -> u32 {
        match self {
            Outcome::Completed => 10,
            Outcome::LeftVoicemail => 5,
            Outcome::HangupOnVoicemail => 4,
            Outcome::NoAnswer | Outcome::Busy | Outcome::Failed => 3,
        }
    }
}

impl FromStr for Outcome {
    type Err = OutcomeMixError;

    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let written = written.trim();
        Outcome::ALL
            .into_iter()
            .find(|outcome| outcome.status() == written)
            .ok_or_else(|| OutcomeMixError::UnknownOutcome(written.to_string()))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.status())
    }
}

/// Who or what ended a call: the vendor's `telephony_disconnect_reason` (CONTRACT A.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disconnect {
    CalleeHangup,
    CallerHangup,
    /// The network could not place or keep the call.
    Error,
    /// A carrier refused the call, as it does to numbers labelled as spam.
    Forbidden,
}

impl Disconnect {
    pub fn as_str(self) -> &'static str {
        match self {
            Disconnect::CalleeHangup => "callee_hangup",
            Disconnect::CallerHangup => "caller_hangup",
            Disconnect::Error => "error",
            Disconnect::Forbidden => "forbidden",
        }
    }
}

/// Which outcomes calls reach, by relative weight; written
/// `completed=60,no-answer=20,busy=10,left_voicemail=5,failed=5`. The default is all
/// `completed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeMix {
    /// Outcomes with a weight above zero, each once; never empty.
    weights: Vec<(Outcome, u32)>,
}

/// Why an `--outcomes` value is not `STATUS=WEIGHT,…`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutcomeMixError {
    #[error(
        "`{0}` is not an outcome: use completed, no-answer, busy, failed, left_voicemail or \
         hangup_on_voicemail"
    )]
    UnknownOutcome(String),
    #[error("`{0}` is not STATUS=WEIGHT with a whole-number weight, e.g. completed=60")]
    NotAWeight(String),
    #[error("{0} is given twice in the outcome mix: give each outcome once")]
    Duplicate(Outcome),
    #[error("the outcome mix has no weight above zero: give at least one, e.g. completed=1")]
    Empty,
}

impl OutcomeMix {
    /// A mix from `(outcome, weight)` pairs; zero weights are dropped.
    pub fn new(weights: impl IntoIterator<Item = (Outcome, u32)>) -> Result<Self, OutcomeMixError> {
        let mut kept: Vec<(Outcome, u32)> = Vec::new();
        for (outcome, weight) in weights {
            if kept.iter().any(|(seen, _)| *seen == outcome) {
                return Err(OutcomeMixError::Duplicate(outcome));
            }
            kept.push((outcome, weight));
        }
        kept.retain(|(_, weight)| *weight > 0);
        if kept.is_empty() {
            return Err(OutcomeMixError::Empty);
        }
        Ok(OutcomeMix { weights: kept })
    }

    /// Every call reaches `outcome`.
    pub fn only(outcome: Outcome) -> OutcomeMix {
        OutcomeMix {
            weights: vec![(outcome, 1)],
        }
    }

    /// One call's outcome from the seeded `rng`.
    fn pick(&self, rng: &mut impl Rng) -> Outcome {
        let total: u64 = self.weights.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut roll = rng.random_range(0..total);
        for (outcome, weight) in &self.weights {
            let weight = u64::from(*weight);
            if roll < weight {
                return *outcome;
            }
            roll -= weight;
        }
        // Unreachable while the weights sum to `total`; the last outcome is the honest fallback.
        self.weights[self.weights.len() - 1].0
    }
}

impl Default for OutcomeMix {
    fn default() -> Self {
        OutcomeMix::only(Outcome::Completed)
    }
}

impl FromStr for OutcomeMix {
    type Err = OutcomeMixError;

    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let pairs = written
            .split(',')
            .map(|item| {
                let (name, weight) = item
                    .split_once('=')
                    .ok_or_else(|| OutcomeMixError::NotAWeight(item.trim().to_string()))?;
                let weight = weight
                    .trim()
                    .parse()
                    .map_err(|_| OutcomeMixError::NotAWeight(item.trim().to_string()))?;
                Ok((name.parse()?, weight))
            })
            .collect::<Result<Vec<_>, OutcomeMixError>>()?;
        OutcomeMix::new(pairs)
    }
}

impl fmt::Display for OutcomeMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self
            .weights
            .iter()
            .map(|(outcome, weight)| format!("{outcome}={weight}"))
            .collect();
        f.write_str(&items.join(","))
    }
}

/// Simulated seconds per real second: with `60`, a 90 s call is over in 1.5 s. Lets tests and
/// demos see whole lifecycles quickly while the calls still report their simulated `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeScale(f64);

/// Why a `--time-scale` value is not a positive number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "time scale `{0}` is not a number above 0: write 1 for real time, 60 for a minute a second"
)]
pub struct TimeScaleError(String);

impl TimeScale {
    pub const REAL_TIME: TimeScale = TimeScale(1.0);

    pub fn new(factor: f64) -> Result<TimeScale, TimeScaleError> {
        if factor.is_finite() && factor > 0.0 {
            Ok(TimeScale(factor))
        } else {
            Err(TimeScaleError(factor.to_string()))
        }
    }

    pub fn factor(self) -> f64 {
        self.0
    }

    /// Whole real milliseconds for `simulated` time, rounded to the nearest.
    fn real_ms(self, simulated: Duration) -> i64 {
        let ms = (simulated.as_secs_f64() * 1000.0 / self.0).round();
        // `as` saturates, which is the right answer for lengths beyond any test's patience.
        ms as i64
    }
}

impl Default for TimeScale {
    fn default() -> Self {
        TimeScale::REAL_TIME
    }
}

impl FromStr for TimeScale {
    type Err = TimeScaleError;

    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let factor = written
            .trim()
            .parse()
            .map_err(|_| TimeScaleError(written.trim().to_string()))?;
        TimeScale::new(factor)
    }
}

impl fmt::Display for TimeScale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The three lifecycle knobs together: what [`Lifecycle::plan`] draws a call's future from.
#[derive(Debug, Clone)]
pub(crate) struct Lifecycle {
    pub length: CallLength,
    pub outcomes: OutcomeMix,
    pub scale: TimeScale,
}

impl Lifecycle {
    /// A new call's future: its length, then its outcome, from the seeded `rng`.
    pub fn plan(&self, rng: &mut impl Rng) -> Plan {
        let length = self.length.pick(rng);
        let outcome = self.outcomes.pick(rng);
        // Saturating, so an absurd `--call-seconds` makes a call that never ends rather than a panic.
        let tenths = |tenths: u32| length.saturating_mul(tenths) / 10;
        let ends = tenths(outcome.ends_at_tenths());
        Plan {
            ringing_from_ms: self.scale.real_ms(tenths(1)),
            talking_from_ms: self.scale.real_ms(tenths(3)),
            ends_ms: self.scale.real_ms(ends),
            outcome,
            duration_secs: if outcome.answered() {
                ends.as_secs()
            } else {
                0
            },
            ringing: tenths(3).saturating_sub(tenths(1)),
            disconnect: outcome.disconnect(),
        }
    }

    /// The plan of a call the answer model decided: [`QUEUED`], then `answer`'s ringing, then
    /// its talk (none for a call nobody answered).
    pub fn plan_answer(&self, answer: &Answer) -> Plan {
        let talking_from = QUEUED.saturating_add(answer.ringing);
        let ends = talking_from.saturating_add(answer.talk);
        Plan {
            ringing_from_ms: self.scale.real_ms(QUEUED),
            talking_from_ms: self.scale.real_ms(talking_from),
            ends_ms: self.scale.real_ms(ends),
            outcome: answer.outcome,
            duration_secs: answer.talk.as_secs(),
            ringing: answer.ringing,
            disconnect: answer.disconnect,
        }
    }
}

/// How long a call the answer model decides stays `queued` (simulated time) before it rings.
pub const QUEUED: Duration = Duration::from_secs(1);

/// The sandbox's own time: it starts at `start` when the sandbox starts and runs at the
/// [`TimeScale`], as call lifecycles do, so with `--time-scale 60` a sandbox day passes in 24
/// real minutes. The answer model reads its moments from here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SandboxClock {
    /// Epoch ms (real) when the sandbox started.
    pub real_start_ms: i64,
    pub start: Timestamp,
    pub scale: TimeScale,
}

impl SandboxClock {
    /// The sandbox moment at real epoch ms `now_ms`.
    pub fn at(&self, now_ms: i64) -> Timestamp {
        let elapsed_ms = now_ms.saturating_sub(self.real_start_ms) as f64 * self.scale.factor();
        let elapsed = SignedDuration::from_millis(elapsed_ms.round() as i64);
        self.start.checked_add(elapsed).unwrap_or(Timestamp::MAX)
    }
}

/// How one call goes, decided when it is created. Times are real milliseconds since creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub ringing_from_ms: i64,
    /// When an answered call turns `in-progress`; unanswered calls end here or earlier.
    pub talking_from_ms: i64,
    /// When the call reaches its outcome, so also when it stops counting as live.
    pub ends_ms: i64,
    pub outcome: Outcome,
    /// The simulated whole seconds the vendor reports as `duration` once the call has ended.
    pub duration_secs: u64,
    /// How long the phone rang (simulated), reported as `telephony_ringing_duration`.
    pub ringing: Duration,
    /// Who or what ended the call, reported as `telephony_disconnect_reason`.
    pub disconnect: Disconnect,
}

/// A call as seen at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub status: &'static str,
    /// Whole seconds, 0 until the call has ended and for calls nobody answered.
    pub duration_secs: u64,
    /// `None` until the call has ended.
    pub end_call_reason: Option<&'static str>,
    /// Milliseconds the phone rang; `None` until the call has ended.
    pub ringing_ms: Option<u64>,
    /// `None` until the call has ended.
    pub disconnect_reason: Option<&'static str>,
}

impl Plan {
    /// The call `elapsed_ms` after its creation.
    pub fn at(&self, elapsed_ms: i64) -> Snapshot {
        let live = |status| Snapshot {
            status,
            duration_secs: 0,
            end_call_reason: None,
            ringing_ms: None,
            disconnect_reason: None,
        };
        if elapsed_ms >= self.ends_ms {
            Snapshot {
                status: self.outcome.status(),
                duration_secs: self.duration_secs,
                end_call_reason: Some(self.outcome.end_call_reason()),
                ringing_ms: Some(u64::try_from(self.ringing.as_millis()).unwrap_or(u64::MAX)),
                disconnect_reason: Some(self.disconnect.as_str()),
            }
        } else if elapsed_ms < self.ringing_from_ms {
            live("queued")
        } else if elapsed_ms < self.talking_from_ms {
            live("ringing")
        } else {
            live("in-progress")
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn lifecycle(length: &str, outcomes: &str, scale: f64) -> Lifecycle {
        Lifecycle {
            length: length.parse().unwrap(),
            outcomes: outcomes.parse().unwrap(),
            scale: TimeScale::new(scale).unwrap(),
        }
    }

    fn statuses(plan: &Plan) -> Vec<&'static str> {
        let mut seen: Vec<&'static str> = Vec::new();
        for ms in 0..=plan.ends_ms + 1 {
            let status = plan.at(ms).status;
            if seen.last() != Some(&status) {
                seen.push(status);
            }
        }
        seen
    }

    #[test]
    fn a_completed_call_passes_every_live_status() {
        let plan = lifecycle("10", "completed=1", 1.0).plan(&mut StdRng::seed_from_u64(1));
        assert_eq!(
            statuses(&plan),
            ["queued", "ringing", "in-progress", "completed"]
        );
        assert_eq!(plan.at(999).status, "queued");
        assert_eq!(plan.at(1_000).status, "ringing");
        assert_eq!(plan.at(3_000).status, "in-progress");
        assert_eq!(plan.at(9_999).end_call_reason, None);
        assert_eq!(
            plan.at(10_000),
            Snapshot {
                status: "completed",
                duration_secs: 10,
                end_call_reason: Some("human_ended_call"),
                ringing_ms: Some(2_000),
                disconnect_reason: Some("callee_hangup"),
            }
        );
    }

    #[test]
    fn unanswered_calls_end_after_ringing_without_talk() {
        for outcome in ["no-answer", "busy", "failed"] {
            let plan =
                lifecycle("10", &format!("{outcome}=1"), 1.0).plan(&mut StdRng::seed_from_u64(1));
            assert_eq!(statuses(&plan), ["queued", "ringing", outcome]);
            assert_eq!(plan.ends_ms, 3_000);
            assert_eq!(plan.at(3_000).duration_secs, 0);
        }
    }

    #[test]
    fn voicemails_end_after_a_short_talk() {
        let plan = lifecycle("10", "left_voicemail=1", 1.0).plan(&mut StdRng::seed_from_u64(1));
        assert_eq!(
            statuses(&plan),
            ["queued", "ringing", "in-progress", "left_voicemail"]
        );
        let end = plan.at(plan.ends_ms);
        assert_eq!(end.duration_secs, 5);
        assert_eq!(end.end_call_reason, Some("voicemail_message_left"));
    }

    #[test]
    fn the_time_scale_shortens_real_time_but_not_the_reported_duration() {
        let plan = lifecycle("60", "completed=1", 60.0).plan(&mut StdRng::seed_from_u64(1));
        assert_eq!(plan.ends_ms, 1_000);
        assert_eq!(plan.ringing_from_ms, 100);
        assert_eq!(plan.at(1_000).duration_secs, 60);
    }

    #[test]
    fn a_zero_length_call_is_over_at_once() {
        let plan = lifecycle("0", "completed=1", 1.0).plan(&mut StdRng::seed_from_u64(1));
        assert_eq!(plan.at(0).status, "completed");
    }

    #[test]
    fn lengths_and_outcomes_follow_their_ranges_and_weights() {
        let life = lifecycle("30..90", "completed=3,busy=1", 1.0);
        let mut rng = StdRng::seed_from_u64(9);
        let plans: Vec<Plan> = (0..4_000).map(|_| life.plan(&mut rng)).collect();
        let completed: Vec<&Plan> = plans
            .iter()
            .filter(|plan| plan.outcome == Outcome::Completed)
            .collect();
        assert!(
            (2_800..3_200).contains(&completed.len()),
            "{}",
            completed.len()
        );
        assert!(
            completed
                .iter()
                .all(|p| (30..=90).contains(&p.duration_secs))
        );
        assert!(completed.iter().any(|p| p.duration_secs < 40));
        assert!(completed.iter().any(|p| p.duration_secs >= 80));
    }

    #[test]
    fn outcome_mixes_parse_and_say_what_is_wrong() {
        let mix: OutcomeMix = "completed=60, no-answer=20,busy=0".parse().unwrap();
        assert_eq!(mix.to_string(), "completed=60,no-answer=20");
        let error = |written: &str| written.parse::<OutcomeMix>().unwrap_err();
        assert!(matches!(
            error("answered=1"),
            OutcomeMixError::UnknownOutcome(_)
        ));
        assert!(matches!(error("completed"), OutcomeMixError::NotAWeight(_)));
        assert!(matches!(
            error("completed=-1"),
            OutcomeMixError::NotAWeight(_)
        ));
        assert!(matches!(
            error("busy=1,busy=2"),
            OutcomeMixError::Duplicate(Outcome::Busy)
        ));
        assert_eq!(error("busy=0"), OutcomeMixError::Empty);
    }

    #[test]
    fn call_lengths_and_time_scales_parse() {
        let length: CallLength = " 30..90 ".parse().unwrap();
        assert_eq!(length.min, Duration::from_secs(30));
        assert_eq!(length.to_string(), "30..90");
        assert_eq!("0.4".parse::<CallLength>().unwrap().to_string(), "0.4");
        assert!(matches!(
            "90..30".parse::<CallLength>(),
            Err(CallLengthError::Reversed(_))
        ));
        for bad in ["", "-1", "NaN", "1..", "inf"] {
            assert!(bad.parse::<CallLength>().is_err(), "{bad}");
        }
        assert_eq!("60".parse::<TimeScale>().unwrap().factor(), 60.0);
        for bad in ["0", "-2", "fast", "inf"] {
            assert!(bad.parse::<TimeScale>().is_err(), "{bad}");
        }
    }
}
