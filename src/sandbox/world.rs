//! The simulated vendor's state: agents with their pools, the calls created so far, every
//! create-call request received, and the seeded dice. Plain synchronous code that knows nothing
//! about HTTP and takes the time as an argument, so its rules can be tested without a server or
//! a clock.

use std::collections::HashMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::answers::{AnswerModel, AnswerSettings, AnswerSettingsError, Dial, Label};
use super::config::{Latency, SandboxConfig};
use super::faults::{AccountRefusal, Fate, Fault, FaultDice, Faults, FaultsError};
use super::lifecycle::{Lifecycle, Plan, SandboxClock, Snapshot};
use super::limits::{Gate, LimitHit, Limits};
use super::stats::{Served, Stats};
use crate::phone::Phone;

/// One `POST /v2/calls` request as the sandbox received it, accepted or not, so tests can check
/// duplicates, pacing and caller-ID rotation from the vendor's side of the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReceivedCall {
    /// Epoch milliseconds when the request arrived (before any answer delay).
    pub at_ms: i64,
    /// `body.phone` as sent (not normalised), `None` when absent or not a string.
    pub phone: Option<String>,
    pub from_phone_number: Option<String>,
    pub model_id: Option<String>,
    /// The HTTP status the sandbox answered.
    pub status: u16,
    /// Set when the request created a call.
    pub call_id: Option<String>,
    /// The whole request body, `null` when it was not JSON.
    pub body: Value,
    /// Set when an injected fault or an account limit, not the request, decided the answer.
    /// A dropped or slow create has a `call_id` too: the call exists though its answer was lost.
    #[serde(default)]
    pub fault: Option<Fault>,
}

/// An outbound agent as the vendor knows it.
#[derive(Debug)]
pub(crate) struct Agent {
    pub id: String,
    pub name: String,
    /// Attached numbers in attachment order; the first is the agent's default caller ID.
    pub pool: Vec<Phone>,
}

/// A create-call request that has passed wire validation (fields present, callee E.164).
#[derive(Debug)]
pub(crate) struct CallRequest {
    pub model_id: String,
    pub to: Phone,
    pub name: String,
    /// The caller ID asked for, as written; checked against the agent's pool.
    pub from: Option<String>,
    pub prompt_variables: Map<String, Value>,
}

/// Why the vendor refuses to create a call for a well-formed request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("No assistant found with model_id {0}")]
    UnknownAgent(String),
    #[error("from_phone_number {from} is not attached to agent {agent}")]
    NotAttached { from: String, agent: String },
    #[error("agent {0} has no attached phone number to call from")]
    EmptyPool(String),
    #[error("{0}")]
    OverLimit(LimitHit),
}

/// Why a configuration cannot start a sandbox.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("agent {0} is configured twice: give each --agent a distinct id")]
    DuplicateAgent(String),
    #[error(transparent)]
    Faults(#[from] FaultsError),
    #[error(transparent)]
    Answers(#[from] AnswerSettingsError),
}

/// A created call. Its status is not stored but derived from its plan and the time since
/// creation (see [`Call::at`]).
#[derive(Debug)]
pub(crate) struct Call {
    pub id: String,
    pub model_id: String,
    pub from: Phone,
    pub to: Phone,
    pub name: String,
    pub prompt_variables: Map<String, Value>,
    /// Epoch ms.
    pub created_ms: i64,
    /// Epoch ms; the vendor's `start_time`: the creation, or earlier by the `start_spread_ms`
    /// fault's draw.
    pub started_ms: i64,
    pub plan: Plan,
    /// A roll in `0..1` drawn at creation: the list leaves the call out while it is below the
    /// `list_omits` fault's share, so the same calls stay missing all along.
    pub list_roll: f64,
}

impl Call {
    /// The call at `now_ms`, as its plan says.
    pub fn at(&self, now_ms: i64) -> Snapshot {
        self.plan.at(now_ms.saturating_sub(self.created_ms).max(0))
    }

    /// Epoch ms when the call reaches its outcome and stops being live.
    pub fn ends_ms(&self) -> i64 {
        self.created_ms.saturating_add(self.plan.ends_ms)
    }
}

/// Which calls a list request wants.
#[derive(Debug, Default)]
pub(crate) struct CallFilter {
    pub model_id: String,
    /// Matches the callee or the caller.
    pub lead: Option<Phone>,
    /// Keeps calls with `start_time >= from_ms`.
    pub from_ms: Option<i64>,
}

impl CallFilter {
    fn matches(&self, call: &Call) -> bool {
        call.model_id == self.model_id
            && self
                .lead
                .as_ref()
                .is_none_or(|lead| *lead == call.to || *lead == call.from)
            && self.from_ms.is_none_or(|from| call.started_ms >= from)
    }
}

/// Independent seeded random streams, one per purpose, so that (for example) how often a client
/// polls cannot change which call ids a replayed run gets.
#[derive(Debug)]
struct Dice {
    call_ids: StdRng,
    request_ids: StdRng,
    latency: StdRng,
    /// Each created call's length and outcome.
    plans: StdRng,
    /// Each created call's roll for the list's omissions.
    listing: StdRng,
    /// How far before its creation each call's `start_time` falls (`start_spread_ms`).
    starts: StdRng,
    /// The answer model's draws, apart from `plans`, so turning the model on or off leaves
    /// every other stream as it was.
    answers: StdRng,
    faults: FaultDice,
}

impl Dice {
    fn new(seed: u64) -> Dice {
        let stream = |purpose: u64| {
            StdRng::seed_from_u64(seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        };
        Dice {
            call_ids: stream(1),
            request_ids: stream(2),
            latency: stream(3),
            plans: stream(4),
            listing: stream(7),
            starts: stream(9),
            answers: stream(8),
            faults: FaultDice::new(stream(5), stream(6)),
        }
    }
}

/// A random version-4 UUID in its usual text form, from the given seeded stream.
fn uuid_like(rng: &mut StdRng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Everything the simulated vendor remembers, behind one lock in the server.
#[derive(Debug)]
pub(crate) struct World {
    agents: Vec<Agent>,
    /// In creation order, which is also the list order.
    calls: Vec<Call>,
    /// Call id → index into `calls`.
    call_index: HashMap<String, usize>,
    received: Vec<ReceivedCall>,
    /// Every `/v2` request, on any route, in arrival order.
    served: Vec<Served>,
    api_key: Option<String>,
    latency: Latency,
    lifecycle: Lifecycle,
    /// How people answer; `None` leaves outcomes to the lifecycle's outcome mix.
    answering: Option<AnswerModel>,
    /// The sandbox's own time, which the answer model reads.
    clock: SandboxClock,
    faults: Faults,
    limits: Limits,
    gate: Gate,
    /// Counted as requests are recorded; `max_live` is filled in from the gate when read.
    stats: Stats,
    dice: Dice,
}

impl World {
    /// A fresh world whose sandbox clock starts at real epoch ms `now_ms`.
    pub fn new(config: &SandboxConfig, now_ms: i64) -> Result<World, ConfigError> {
        let mut agents: Vec<Agent> = Vec::new();
        for (index, spec) in config.agents_or_demo().into_iter().enumerate() {
            if agents.iter().any(|agent| agent.id == spec.id) {
                return Err(ConfigError::DuplicateAgent(spec.id));
            }
            agents.push(Agent {
                id: spec.id,
                name: format!("Sandbox agent {}", index + 1),
                pool: spec.numbers,
            });
        }
        config.faults.check()?;
        if let Some(answers) = &config.answers {
            answers.check()?;
        }
        let start = config
            .clock_start
            .unwrap_or_else(|| jiff::Timestamp::from_millisecond(now_ms).unwrap_or_default());
        Ok(World {
            agents,
            calls: Vec::new(),
            call_index: HashMap::new(),
            received: Vec::new(),
            served: Vec::new(),
            api_key: config.api_key.clone(),
            latency: config.latency,
            lifecycle: Lifecycle {
                length: config.call_duration,
                outcomes: config.outcomes.clone(),
                scale: config.time_scale,
            },
            answering: config
                .answers
                .map(|settings| AnswerModel::new(settings, config.call_duration)),
            clock: SandboxClock {
                real_start_ms: now_ms,
                start,
                scale: config.time_scale,
            },
            faults: config.faults,
            limits: config.limits,
            gate: Gate::default(),
            stats: Stats::default(),
            dice: Dice::new(config.seed),
        })
    }

    /// Whether `token` (already known to be non-empty) may use the API.
    pub fn accepts(&self, token: &str) -> bool {
        self.api_key.as_deref().is_none_or(|key| key == token)
    }

    pub fn agent(&self, model_id: &str) -> Option<&Agent> {
        self.agents.iter().find(|agent| agent.id == model_id)
    }

    pub fn call(&self, call_id: &str) -> Option<&Call> {
        self.call_index
            .get(call_id)
            .map(|&index| &self.calls[index])
    }

    /// The calls `filter` keeps, in creation order.
    pub fn calls<'a>(&'a self, filter: &'a CallFilter) -> impl Iterator<Item = &'a Call> + 'a {
        // Calls are kept in creation order, so those a `from_date` keeps are a tail: found by
        // bisection, with a second's slack for two requests that read the time in one order and
        // took the lock in the other. A follower's list then costs the calls since, not all.
        // A call starts at its creation or before, so none created earlier is wanted.
        let first = filter.from_ms.map_or(0, |from| {
            let slack = from.saturating_sub(1_000);
            self.calls.partition_point(|call| call.created_ms < slack)
        });
        self.calls[first..]
            .iter()
            .filter(|call| filter.matches(call))
    }

    /// Creates a call from `request` at `now_ms`; without `from`, the pool's first number calls.
    /// The account's limits come first, as the vendor counts attempts before looking at them.
    pub fn create_call(&mut self, request: CallRequest, now_ms: i64) -> Result<&Call, Refusal> {
        self.gate
            .admit(&self.limits, now_ms)
            .map_err(Refusal::OverLimit)?;
        let agent = self
            .agent(&request.model_id)
            .ok_or_else(|| Refusal::UnknownAgent(request.model_id.clone()))?;
        let from = caller_id(agent, request.from.as_deref())?;
        let plan = self.plan(&from, &request.to, now_ms);
        let call = Call {
            id: uuid_like(&mut self.dice.call_ids),
            model_id: request.model_id,
            from,
            to: request.to,
            name: request.name,
            prompt_variables: request.prompt_variables,
            created_ms: now_ms,
            started_ms: now_ms.saturating_sub(i64::from(
                self.dice
                    .starts
                    .random_range(0..=self.faults.start_spread_ms),
            )),
            plan,
            list_roll: self.dice.listing.random(),
        };
        self.gate.accepted(now_ms, call.ends_ms());
        let index = self.calls.len();
        self.call_index.insert(call.id.clone(), index);
        self.calls.push(call);
        Ok(&self.calls[index])
    }

    /// How a new call from `from` to `to` at `now_ms` goes: the answer model's say when it is
    /// on, else the outcome mix's.
    fn plan(&mut self, from: &Phone, to: &Phone, now_ms: i64) -> Plan {
        let Some(model) = &mut self.answering else {
            return self.lifecycle.plan(&mut self.dice.plans);
        };
        let dial = Dial {
            caller: from,
            callee: to,
            at: self.clock.at(now_ms),
        };
        let answer = model.call(dial, &mut self.dice.answers);
        self.lifecycle.plan_answer(&answer)
    }

    /// The answer model's settings, `None` when it is off.
    pub fn answers(&self) -> Option<AnswerSettings> {
        self.answering.as_ref().map(|model| *model.settings())
    }

    /// Turns the answer model on with `settings` (afresh: no calls counted, no labels) or off
    /// with `None`, from the next call on.
    pub fn set_answers(
        &mut self,
        settings: Option<AnswerSettings>,
    ) -> Result<(), AnswerSettingsError> {
        if let Some(settings) = &settings {
            settings.check()?;
        }
        self.answering = settings.map(|settings| AnswerModel::new(settings, self.lifecycle.length));
        Ok(())
    }

    /// The sandbox's moment at real epoch ms `now_ms`.
    pub fn sandbox_now(&self, now_ms: i64) -> jiff::Timestamp {
        self.clock.at(now_ms)
    }

    /// Labels `number` from the sandbox moment at `now_ms`, as carriers might at any time;
    /// `None` while the answer model is off, as then nothing would act on a label.
    pub fn label(&mut self, number: &Phone, now_ms: i64) -> Option<Label> {
        let at = self.clock.at(now_ms);
        let model = self.answering.as_mut()?;
        Some(model.label(number, at).clone())
    }

    /// Every label the answer model gave so far, oldest first.
    pub fn labels(&self) -> &[Label] {
        self.answering.as_ref().map_or(&[], AnswerModel::labels)
    }

    pub fn record(&mut self, received: ReceivedCall) {
        self.stats.count(&received);
        self.received.push(received);
    }

    /// Counts one `/v2` request on `route`.
    pub fn served(&mut self, served: Served) {
        *self.stats.requests.entry(served.route.clone()).or_default() += 1;
        self.served.push(served);
    }

    /// Every `/v2` request so far, in arrival order.
    pub fn served_requests(&self) -> &[Served] {
        &self.served
    }

    pub fn stats(&self) -> Stats {
        Stats {
            max_live: self.gate.peak_live() as u64,
            labelled: self.labels().to_vec(),
            ..self.stats.clone()
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replaces the faults from the next request on, ending any burst in progress.
    pub fn set_faults(&mut self, faults: Faults) -> Result<(), FaultsError> {
        faults.check()?;
        self.faults = faults;
        self.dice.faults.calm();
        Ok(())
    }

    /// The refusal every `/v2` request gets, if the account is refusing.
    pub fn refusal(&self) -> Option<AccountRefusal> {
        self.faults.refuse
    }

    /// The fate of the next authorised create request.
    pub fn fate(&mut self) -> Fate {
        self.dice.faults.roll(&self.faults)
    }

    /// Every create-call request so far, in the order they were answered.
    pub fn received(&self) -> &[ReceivedCall] {
        &self.received
    }

    /// A fresh id for an error answer.
    pub fn request_id(&mut self) -> String {
        uuid_like(&mut self.dice.request_ids)
    }

    /// How long the next answer waits: now and then the tail's long delay, else the latency.
    /// Rolls nothing for knobs that are off, so a sandbox without a tail replays as before.
    pub fn answer_delay(&mut self) -> Duration {
        let tail = self.faults.tail;
        if tail.share.get() > 0.0 && self.dice.latency.random::<f64>() < tail.share.get() {
            return tail.delay;
        }
        if self.latency.is_zero() {
            return Duration::ZERO;
        }
        self.latency.pick(&mut self.dice.latency)
    }

    /// The agent, to change its pool.
    pub fn agent_mut(&mut self, model_id: &str) -> Option<&mut Agent> {
        self.agents.iter_mut().find(|agent| agent.id == model_id)
    }
}

/// The number `agent` calls from: the one asked for if it is attached, else the pool's first.
fn caller_id(agent: &Agent, asked: Option<&str>) -> Result<Phone, Refusal> {
    match asked {
        Some(asked) => agent
            .pool
            .iter()
            .find(|number| number.as_str() == asked)
            .cloned()
            .ok_or_else(|| Refusal::NotAttached {
                from: asked.to_string(),
                agent: agent.id.clone(),
            }),
        None => agent
            .pool
            .first()
            .cloned()
            .ok_or_else(|| Refusal::EmptyPool(agent.id.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::config::DEMO_AGENT_ID;

    fn request(to: &str, from: Option<&str>) -> CallRequest {
        CallRequest {
            model_id: DEMO_AGENT_ID.to_string(),
            to: Phone::try_from(to.to_string()).unwrap(),
            name: "Ada".to_string(),
            from: from.map(str::to_string),
            prompt_variables: Map::new(),
        }
    }

    fn world(call_duration: Duration) -> World {
        World::new(
            &SandboxConfig {
                call_duration: call_duration.into(),
                ..SandboxConfig::default()
            },
            0,
        )
        .unwrap()
    }

    #[test]
    fn status_follows_the_fractions_of_the_call_length() {
        let mut world = world(Duration::from_secs(10));
        let call = world
            .create_call(request("+14155552671", None), 1_000)
            .unwrap();
        let status_at = |ms: i64| call.at(1_000 + ms).status;
        assert_eq!(status_at(0), "queued");
        assert_eq!(status_at(999), "queued");
        assert_eq!(status_at(1_000), "ringing");
        assert_eq!(status_at(3_000), "in-progress");
        assert_eq!(status_at(9_999), "in-progress");
        assert_eq!(
            call.at(11_000),
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
    fn a_zero_length_call_is_over_at_once() {
        let mut world = world(Duration::ZERO);
        let call = world.create_call(request("+14155552671", None), 5).unwrap();
        assert_eq!(call.at(5).status, "completed");
    }

    #[test]
    fn caller_id_defaults_to_the_first_attached_number() {
        let mut world = world(Duration::ZERO);
        let call = world.create_call(request("+14155552671", None), 0).unwrap();
        assert_eq!(call.from.as_str(), "+12125550101");
    }

    #[test]
    fn an_unattached_caller_id_is_refused() {
        let mut world = world(Duration::ZERO);
        let refusal = world
            .create_call(request("+14155552671", Some("+14155552671")), 0)
            .unwrap_err();
        assert!(matches!(refusal, Refusal::NotAttached { .. }));
    }

    #[test]
    fn a_create_over_the_live_limit_creates_nothing_until_a_call_ends() {
        let mut world = World::new(
            &SandboxConfig {
                call_duration: Duration::from_secs(1).into(),
                limits: Limits {
                    max_live: std::num::NonZeroU32::new(1),
                    max_cps: None,
                },
                ..SandboxConfig::default()
            },
            0,
        )
        .unwrap();
        world.create_call(request("+14155552671", None), 0).unwrap();
        let refusal = world
            .create_call(request("+14155552672", None), 999)
            .unwrap_err();
        assert!(matches!(
            refusal,
            Refusal::OverLimit(LimitHit::Live { max: 1 })
        ));
        assert_eq!(world.calls.len(), 1);
        world
            .create_call(request("+14155552672", None), 1_000)
            .unwrap();
        assert_eq!(world.stats().max_live, 1);
    }

    #[test]
    fn call_ids_look_like_v4_uuids() {
        let id = uuid_like(&mut StdRng::seed_from_u64(1));
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&id[14..15], "4");
    }
}
