//! Deterministic fault injection: what can go wrong between the dialer and the vendor, as a
//! [`Faults`] value that can be set at start (flags) and changed while serving
//! (`PUT /sandbox/faults`, [`super::Sandbox::set_faults`]).
//!
//! Every authorised `POST /v2/calls` rolls two seeded dice, whatever its fate turns out to be:
//! one for bursts of 429, one for its fate (500, dropped, slow or plain). So the `n`-th create's
//! fate depends only on the seed and `n`, and a replayed run fails the same way.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

/// A probability in `0..=1`, written `0.05`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Share(f64);

/// Why a share is not a number between 0 and 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("share `{0}` is not a number from 0 to 1: write 0.05 for 5%")]
pub struct ShareError(String);

impl Share {
    pub const NEVER: Share = Share(0.0);
    pub const ALWAYS: Share = Share(1.0);

    pub fn new(share: f64) -> Result<Share, ShareError> {
        if (0.0..=1.0).contains(&share) {
            Ok(Share(share))
        } else {
            Err(ShareError(share.to_string()))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// Whether a uniform `roll` in `0..1` falls in this share (always for 1, never for 0).
    pub(crate) fn hit(self, roll: f64) -> bool {
        roll < self.0
    }
}

impl TryFrom<f64> for Share {
    type Error = ShareError;

    fn try_from(share: f64) -> Result<Self, Self::Error> {
        Share::new(share)
    }
}

impl From<Share> for f64 {
    fn from(share: Share) -> f64 {
        share.0
    }
}

impl FromStr for Share {
    type Err = ShareError;

    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let share = written
            .trim()
            .parse()
            .map_err(|_| ShareError(written.trim().to_string()))?;
        Share::new(share)
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A share of `/v2` answers (every route) that wait `delay` instead of the usual latency: the
/// long tail real APIs have, kept below the client's timeout unless a test wants otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencyTail {
    pub share: Share,
    #[serde(rename = "ms", with = "millis")]
    pub delay: Duration,
}

impl Default for LatencyTail {
    fn default() -> Self {
        LatencyTail {
            share: Share::NEVER,
            delay: Duration::from_secs(3),
        }
    }
}

/// A few refusals in a row: enough for a client to have to back off more than once.
const DEFAULT_BURST_LENGTH: NonZeroU32 = NonZeroU32::new(3).expect("3 is not zero");

/// Bursts of 429 on `POST /v2/calls`: each create outside a burst starts one with `chance`; a
/// burst answers that create and the next `length - 1` with 429, creating nothing. Counted in
/// requests, not time, so a burst does not depend on how fast the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Bursts {
    pub chance: Share,
    pub length: NonZeroU32,
    /// Seconds for the `Retry-After` header; `None` sends none, as the vendor documents none.
    #[serde(rename = "retry_after_s")]
    pub retry_after: Option<u32>,
}

impl Default for Bursts {
    fn default() -> Self {
        Bursts {
            chance: Share::NEVER,
            length: DEFAULT_BURST_LENGTH,
            retry_after: None,
        }
    }
}

/// The account refusing every `/v2` request, as when it is out of credit or the key lost
/// access: the dialer must stop, and succeed once the refusal is lifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub enum AccountRefusal {
    /// 402: out of credit.
    PaymentRequired,
    /// 403: the key may not use this workspace.
    Forbidden,
}

/// Why a refusal is not 402 or 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refusal `{0}` is not a status the sandbox can refuse with: write 402 or 403")]
pub struct AccountRefusalError(String);

impl AccountRefusal {
    pub fn status(self) -> u16 {
        match self {
            AccountRefusal::PaymentRequired => 402,
            AccountRefusal::Forbidden => 403,
        }
    }
}

impl TryFrom<u16> for AccountRefusal {
    type Error = AccountRefusalError;

    fn try_from(status: u16) -> Result<Self, Self::Error> {
        match status {
            402 => Ok(AccountRefusal::PaymentRequired),
            403 => Ok(AccountRefusal::Forbidden),
            other => Err(AccountRefusalError(other.to_string())),
        }
    }
}

impl From<AccountRefusal> for u16 {
    fn from(refusal: AccountRefusal) -> u16 {
        refusal.status()
    }
}

impl FromStr for AccountRefusal {
    type Err = AccountRefusalError;

    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let written = written.trim();
        written
            .parse::<u16>()
            .map_err(|_| AccountRefusalError(written.to_string()))?
            .try_into()
    }
}

/// How a burst's 429 writes `Retry-After`: as the vendor might, or as a careless server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfterForm {
    /// `retry_after_s` whole seconds (no header without it).
    #[default]
    Seconds,
    /// An HTTP date `retry_after_s` seconds from now (RFC 9110 allows either form).
    HttpDate,
    /// Twenty digits, whatever `retry_after_s` says: more seconds than any clock can hold.
    Huge,
}

/// Why a `--retry-after-form` value is not one the sandbox can write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Retry-After form `{0}` is not one of seconds, http_date, huge")]
pub struct RetryAfterFormError(String);

impl RetryAfterForm {
    /// The header's value for a burst that asks for `seconds`, if it sends one at all.
    pub fn header(self, seconds: Option<u32>, now: std::time::SystemTime) -> Option<String> {
        match (self, seconds) {
            (RetryAfterForm::Huge, _) => Some("99999999999999999999".to_owned()),
            (RetryAfterForm::Seconds, Some(s)) => Some(s.to_string()),
            (RetryAfterForm::HttpDate, Some(s)) => {
                let at = now + Duration::from_secs(u64::from(s));
                Some(httpdate::fmt_http_date(at))
            }
            (_, None) => None,
        }
    }
}

impl FromStr for RetryAfterForm {
    type Err = RetryAfterFormError;

    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let quoted = serde_json::Value::String(written.trim().to_owned());
        serde_json::from_value(quoted).map_err(|_| RetryAfterFormError(written.trim().to_owned()))
    }
}

/// A status a call can be stuck in: the vendor's non-terminal ones, and one nobody documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StuckStatus {
    InProgress,
    Queue,
    Initiated,
    Paused,
    /// A status outside CONTRACT A.2, as a vendor may add one any day.
    Unheard,
}

/// Why a `--stuck-status` value is not one the sandbox can show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "stuck status `{0}` is not one of in-progress, queue, initiated, paused, unheard (a status nobody documents)"
)]
pub struct StuckStatusError(String);

impl StuckStatus {
    /// The `status` (A.2) / `call_status` (A.3) value shown.
    pub fn status(self) -> &'static str {
        match self {
            StuckStatus::InProgress => "in-progress",
            StuckStatus::Queue => "queue",
            StuckStatus::Initiated => "initiated",
            StuckStatus::Paused => "paused",
            StuckStatus::Unheard => "transferring-to-an-unheard-of-state",
        }
    }
}

impl FromStr for StuckStatus {
    type Err = StuckStatusError;

    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let quoted = serde_json::Value::String(written.trim().to_owned());
        serde_json::from_value(quoted).map_err(|_| StuckStatusError(written.trim().to_owned()))
    }
}

/// How a call's `duration` is written (A.2 and A.3): the vendor's whole number, or an odd shape
/// a client must read without losing the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationShape {
    #[default]
    Whole,
    /// `12.5`
    Float,
    /// `"12"`
    String,
    /// `-12`
    Negative,
}

/// Why a `--duration-shape` value is not one the sandbox can write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("duration shape `{0}` is not one of whole, float, string, negative")]
pub struct DurationShapeError(String);

impl DurationShape {
    /// `seconds` as this shape writes it.
    pub fn write(self, seconds: u64) -> serde_json::Value {
        match self {
            DurationShape::Whole => seconds.into(),
            DurationShape::Float => (seconds as f64 + 0.5).into(),
            DurationShape::String => seconds.to_string().into(),
            DurationShape::Negative => (-(seconds as i64) - 1).into(),
        }
    }
}

impl FromStr for DurationShape {
    type Err = DurationShapeError;

    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let quoted = serde_json::Value::String(written.trim().to_owned());
        serde_json::from_value(quoted).map_err(|_| DurationShapeError(written.trim().to_owned()))
    }
}

/// What goes wrong, and how often. `Default` is nothing: the sandbox's original behaviour.
///
/// The three create shares (`server_errors`, `dropped`, `slow`) are slices of one roll, so they
/// must add up to at most 1; [`Faults::check`] says so before a sandbox takes them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub tail: LatencyTail,
    /// Creates answered 500 before anything is created.
    pub server_errors: Share,
    /// Creates that create the call, then lose the connection instead of answering: the client
    /// sees a transport error and cannot know the call exists.
    pub dropped: Share,
    /// Creates that create the call, then answer only after `slow_delay`.
    pub slow: Share,
    /// Creates refused 400 because the callee cannot be reached: a refusal that is the
    /// contact's own, not the campaign's, with the same text for every contact.
    pub unreachable: Share,
    /// Above the client's 15 s timeout by default, so a slow answer is a timeout to the dialer.
    #[serde(rename = "slow_ms", with = "millis")]
    pub slow_delay: Duration,
    pub bursts: Bursts,
    /// How the bursts' `Retry-After` is written.
    pub retry_after_form: RetryAfterForm,
    /// Refuse every `/v2` request (after the key check) with this status.
    pub refuse: Option<AccountRefusal>,
    /// How far the vendor's clock is ahead of ours (negative: behind), in ms: its calls'
    /// `start_time`, the `from_date` it filters on and its `Date` header all read that clock.
    pub clock_skew_ms: i64,
    /// The vendor's hosts' clocks disagree by up to this many ms: each call's `start_time` is
    /// its creation less a draw below this, so a call may show an earlier start than one
    /// created before it. The list's `from_date` filters on the shown start.
    pub start_spread_ms: u32,
    /// Every call shows this non-terminal status, whatever its plan, as calls the vendor never
    /// finishes do.
    pub stuck: Option<StuckStatus>,
    /// `GET /v2/calls/{id}` answers 404 for every call, and the list shows none, as for calls
    /// the vendor lost.
    pub forget_calls: bool,
    /// The share of calls `GET /v2/calls` never lists (the same calls every time), as a list
    /// that lags or drops records does; `GET /v2/calls/{id}` still knows them.
    pub list_omits: Share,
    /// How `duration` is written.
    pub duration_shape: DurationShape,
    /// Every refusal (4xx, 5xx) quotes the request's bearer token back, as careless servers do:
    /// the client must keep it out of its logs, journal and exports.
    pub quote_key: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            tail: LatencyTail::default(),
            server_errors: Share::NEVER,
            dropped: Share::NEVER,
            slow: Share::NEVER,
            unreachable: Share::NEVER,
            slow_delay: Duration::from_secs(20),
            bursts: Bursts::default(),
            retry_after_form: RetryAfterForm::Seconds,
            refuse: None,
            clock_skew_ms: 0,
            start_spread_ms: 0,
            stuck: None,
            forget_calls: false,
            list_omits: Share::NEVER,
            duration_shape: DurationShape::Whole,
            quote_key: false,
        }
    }
}

/// Why a [`Faults`] value cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultsError {
    #[error(
        "the create fault shares add up to {total} (500s {server_errors} + dropped {dropped} + \
         slow {slow} + unreachable {unreachable}): they share one roll, so keep the sum at 1 or \
         below"
    )]
    SharesOverOne {
        total: f64,
        server_errors: f64,
        dropped: f64,
        slow: f64,
        unreachable: f64,
    },
}

impl Faults {
    /// Refuses shares that cannot all hold at once.
    pub fn check(&self) -> Result<(), FaultsError> {
        let (server_errors, dropped, slow) = (self.server_errors.0, self.dropped.0, self.slow.0);
        let unreachable = self.unreachable.0;
        let total = server_errors + dropped + slow + unreachable;
        // A little slack so that 0.7 + 0.2 + 0.1 is not refused for its rounding.
        if total > 1.0 + 1e-9 {
            return Err(FaultsError::SharesOverOne {
                total,
                server_errors,
                dropped,
                slow,
                unreachable,
            });
        }
        Ok(())
    }

    /// The fate a `roll` in `0..1` gives outside a burst: the shares are consecutive slices.
    fn fate_of(&self, roll: f64) -> Fate {
        let mut edge = self.server_errors.0;
        if roll < edge {
            return Fate::ServerError;
        }
        edge += self.dropped.0;
        if roll < edge {
            return Fate::Dropped;
        }
        edge += self.slow.0;
        if roll < edge {
            return Fate::Slow(self.slow_delay);
        }
        edge += self.unreachable.0;
        if roll < edge {
            return Fate::Unreachable;
        }
        Fate::Plain
    }
}

/// What the sandbox's knobs, rather than the request itself, did to a create request. Kept on
/// the request's record (`GET /sandbox/calls`) and counted in the stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// 429 from a burst; nothing created.
    Burst,
    /// 429 because the live-call limit was reached; nothing created.
    LiveLimit,
    /// 429 because the calls-per-second limit was reached; nothing created.
    RateLimit,
    /// 500; nothing created.
    ServerError,
    /// Created, then the connection was dropped without an answer.
    Dropped,
    /// Created, then answered after the slow delay.
    Slow,
    /// 402 or 403 from an account refusal; nothing created.
    Refused,
    /// 400: the callee cannot be reached; nothing created.
    Unreachable,
}

/// What a create request's dice decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Burst {
        retry_after: Option<u32>,
        form: RetryAfterForm,
    },
    ServerError,
    Dropped,
    Slow(Duration),
    Unreachable,
    Plain,
}

/// The two seeded streams faults are drawn from, and the burst in progress.
#[derive(Debug)]
pub(crate) struct FaultDice {
    bursts: StdRng,
    fates: StdRng,
    /// Creates still to answer 429 in the current burst.
    burst_left: u32,
}

impl FaultDice {
    pub fn new(bursts: StdRng, fates: StdRng) -> FaultDice {
        FaultDice {
            bursts,
            fates,
            burst_left: 0,
        }
    }

    /// The next create's fate. Both dice roll every time, so changing one share never shifts
    /// the rolls the other faults see.
    pub fn roll(&mut self, faults: &Faults) -> Fate {
        let burst_roll: f64 = self.bursts.random();
        let fate_roll: f64 = self.fates.random();
        if self.burst_left == 0 && faults.bursts.chance.hit(burst_roll) {
            self.burst_left = faults.bursts.length.get();
        }
        if self.burst_left > 0 {
            self.burst_left -= 1;
            return Fate::Burst {
                retry_after: faults.bursts.retry_after,
                form: faults.retry_after_form,
            };
        }
        faults.fate_of(fate_roll)
    }

    /// Ends a burst in progress, so new faults start from a clean slate.
    pub fn calm(&mut self) {
        self.burst_left = 0;
    }
}

/// A `Duration` as whole milliseconds on the wire (`PUT /sandbox/faults`).
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        serializer.serialize_u64(ms)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use serde_json::json;

    use super::*;

    fn dice(seed: u64) -> FaultDice {
        FaultDice::new(StdRng::seed_from_u64(seed), StdRng::seed_from_u64(!seed))
    }

    fn share(value: f64) -> Share {
        Share::new(value).unwrap()
    }

    #[test]
    fn shares_at_the_edges_always_or_never_hit() {
        let faults = Faults {
            server_errors: Share::ALWAYS,
            ..Faults::default()
        };
        let mut dice = dice(3);
        assert!((0..500).all(|_| dice.roll(&faults) == Fate::ServerError));
        assert!((0..500).all(|_| dice.roll(&Faults::default()) == Fate::Plain));
    }

    #[test]
    fn fates_follow_their_shares() {
        let faults = Faults {
            server_errors: share(0.1),
            dropped: share(0.2),
            slow: share(0.3),
            ..Faults::default()
        };
        let mut dice = dice(11);
        let fates: Vec<Fate> = (0..10_000).map(|_| dice.roll(&faults)).collect();
        let count = |fate: Fate| fates.iter().filter(|f| **f == fate).count();
        assert!((900..1_100).contains(&count(Fate::ServerError)));
        assert!((1_850..2_150).contains(&count(Fate::Dropped)));
        assert!((2_800..3_200).contains(&count(Fate::Slow(faults.slow_delay))));
    }

    #[test]
    fn a_burst_answers_its_whole_length() {
        let faults = Faults {
            bursts: Bursts {
                chance: share(0.1),
                length: NonZeroU32::new(4).unwrap(),
                retry_after: Some(2),
            },
            ..Faults::default()
        };
        let mut dice = dice(5);
        let bursting: Vec<bool> = (0..2_000)
            .map(|_| matches!(dice.roll(&faults), Fate::Burst { .. }))
            .collect();
        let runs: Vec<usize> = bursting
            .split(|in_burst| !in_burst)
            .map(<[bool]>::len)
            .filter(|len| *len > 0)
            .collect();
        assert!(runs.len() > 20, "bursts started {} times", runs.len());
        let last = runs.len() - 1;
        assert!(
            runs[..last].iter().all(|len| len % 4 == 0),
            "a burst was cut short: {runs:?}"
        );
    }

    #[test]
    fn create_shares_over_one_are_refused() {
        let faults = Faults {
            server_errors: share(0.5),
            dropped: share(0.4),
            slow: share(0.2),
            ..Faults::default()
        };
        assert!(matches!(
            faults.check(),
            Err(FaultsError::SharesOverOne { .. })
        ));
        let exact = Faults {
            slow: share(0.1),
            ..faults
        };
        assert_eq!(exact.check(), Ok(()));
    }

    #[test]
    fn faults_read_from_partial_json_with_defaults() {
        let faults: Faults = serde_json::from_value(json!({
            "dropped": 0.25,
            "slow_ms": 1500,
            "bursts": { "chance": 0.5, "retry_after_s": 3 },
            "refuse": 402,
        }))
        .unwrap();
        assert_eq!(faults.dropped, share(0.25));
        assert_eq!(faults.slow_delay, Duration::from_millis(1500));
        assert_eq!(faults.bursts.length.get(), 3);
        assert_eq!(faults.bursts.retry_after, Some(3));
        assert_eq!(faults.refuse, Some(AccountRefusal::PaymentRequired));
        let odd: Faults = serde_json::from_value(json!({
            "clock_skew_ms": -5000,
            "stuck": "in-progress",
            "forget_calls": true,
            "duration_shape": "negative",
        }))
        .unwrap();
        assert_eq!(odd.clock_skew_ms, -5000);
        assert_eq!(odd.stuck, Some(StuckStatus::InProgress));
        assert!(odd.forget_calls);
        assert_eq!(odd.duration_shape.write(3), json!(-4));
        assert_eq!("unheard".parse(), Ok(StuckStatus::Unheard));
        assert!("done".parse::<StuckStatus>().is_err());
        let round_trip: Faults =
            serde_json::from_value(serde_json::to_value(faults).unwrap()).unwrap();
        assert_eq!(round_trip, faults);
    }

    #[test]
    fn bad_fault_json_is_refused() {
        for bad in [
            json!({ "dropped": 1.5 }),
            json!({ "refuse": 404 }),
            json!({ "bursts": { "length": 0 } }),
            json!({ "droped": 0.1 }),
        ] {
            assert!(
                serde_json::from_value::<Faults>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn flags_parse_shares_and_refusals() {
        assert_eq!("0.05".parse::<Share>().unwrap(), share(0.05));
        for bad in ["-0.1", "1.01", "NaN", "5%"] {
            assert!(bad.parse::<Share>().is_err(), "{bad}");
        }
        assert_eq!(
            "403".parse::<AccountRefusal>().unwrap(),
            AccountRefusal::Forbidden
        );
        assert!("401".parse::<AccountRefusal>().is_err());
    }
}
