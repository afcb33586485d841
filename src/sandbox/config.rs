//! What a sandbox starts with: its agents and pools, the accepted key, the seed, the timing
//! knobs, the call lifecycle, the faults and the account's limits. Parsed from the
//! `outdial sandbox` flags (`--agent`, `--latency`, …), so parse errors say exactly which part of
//! a flag is wrong.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use rand::Rng;

use super::answers::AnswerSettings;
use super::faults::Faults;
use super::lifecycle::{CallLength, OutcomeMix, TimeScale};
use super::limits::Limits;
use super::market::Usd;
use crate::phone::{Country, Phone, PhoneError};

/// The agent of `campaigns/demo/`, served when no agent is configured.
pub const DEMO_AGENT_ID: &str = "0ae2859d-c25c-4d56-a9f3-809387b725ce";

/// The demo pool: fictional 555-01xx numbers spread over area codes in several states and one
/// Canadian province, so local-presence rotation has something to choose from.
const DEMO_POOL: [&str; 12] = [
    "+12125550101",
    "+14155550102",
    "+13105550103",
    "+13125550104",
    "+17135550105",
    "+13055550106",
    "+16175550107",
    "+12065550108",
    "+14045550109",
    "+16025550110",
    "+17205550111",
    "+14165550112",
];

/// The demo agent's attached pool (used when no agent is configured).
pub fn demo_pool() -> Vec<Phone> {
    DEMO_POOL
        .iter()
        .map(|e164| Phone::try_from(e164.to_string()).expect("the demo pool is canonical E.164"))
        .collect()
}

/// Enough numbers for sale to cover every US and Canadian area code at least once.
pub const DEFAULT_INVENTORY: usize = 500;
/// Enough for a couple of dozen local numbers, little enough to meet a 402 when buying in bulk.
pub const DEFAULT_WALLET: Usd = Usd::from_dollars(50);

/// How a sandbox starts. `Default` is the demo world: one agent, no key check, no latency, calls
/// that all complete after 2 s, no faults and no limits.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Outbound agents with their attached pools; empty means the demo agent with [`demo_pool`].
    pub agents: Vec<AgentSpec>,
    /// The one accepted bearer token; `None` accepts any non-empty one, so demos need no secret.
    pub api_key: Option<String>,
    /// Seeds every random choice (ids, latency, call plans, faults), so a run can be replayed.
    pub seed: u64,
    /// Delay added to every `/v2` answer.
    pub latency: Latency,
    /// Simulated call length, drawn per call: a call is `queued`, `ringing`, maybe
    /// `in-progress`, then its outcome (see `lifecycle`). A fixed `Duration` converts with `into`.
    pub call_duration: CallLength,
    /// Which terminal status calls reach, by weight.
    pub outcomes: OutcomeMix,
    /// Simulated seconds per real second for call lifecycles and the sandbox clock.
    pub time_scale: TimeScale,
    /// How people answer (see `answers`); `None`, the default, leaves outcomes to `outcomes`.
    pub answers: Option<AnswerSettings>,
    /// The sandbox clock's moment at start-up; `None` starts it at the real time. It then runs
    /// at `time_scale`.
    pub clock_start: Option<Timestamp>,
    /// What goes wrong; changeable while serving with [`super::Sandbox::set_faults`].
    pub faults: Faults,
    /// The account's concurrency and calls-per-second limits.
    pub limits: Limits,
    /// Numbers for sale on the numbers API, spread over every area code (see `inventory`).
    pub inventory: usize,
    /// The numbers API's prepaid wallet at start-up.
    pub wallet: Usd,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            agents: Vec::new(),
            api_key: None,
            seed: 0,
            latency: Latency::default(),
            call_duration: CallLength::fixed(Duration::from_secs(2)),
            outcomes: OutcomeMix::default(),
            time_scale: TimeScale::default(),
            answers: None,
            clock_start: None,
            faults: Faults::default(),
            limits: Limits::default(),
            inventory: DEFAULT_INVENTORY,
            wallet: DEFAULT_WALLET,
        }
    }
}

impl SandboxConfig {
    /// The agents to serve, with the demo agent standing in for an empty list.
    pub(crate) fn agents_or_demo(&self) -> Vec<AgentSpec> {
        if self.agents.is_empty() {
            vec![AgentSpec {
                id: DEMO_AGENT_ID.to_string(),
                numbers: demo_pool(),
            }]
        } else {
            self.agents.clone()
        }
    }
}

/// One outbound agent and the numbers attached to it, written `ID=+14155550102,+12125550101`.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    pub id: String,
    pub numbers: Vec<Phone>,
}

/// Why an `--agent` value is not `ID=E164,E164,…`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentSpecError {
    #[error("`{0}` has no `=`: write the agent as ID=+14155550102,+12125550101")]
    MissingEquals(String),
    #[error("`{0}` has no agent id before `=`: write the agent as ID=+14155550102,+12125550101")]
    EmptyId(String),
    #[error("agent {agent}: number #{position} is empty (stray comma?)")]
    EmptyNumber { agent: String, position: usize },
    #[error("agent {agent}: `{written}` is not a phone number: {source}")]
    BadNumber {
        agent: String,
        written: String,
        source: PhoneError,
    },
    #[error("agent {agent}: {number} is listed twice")]
    Duplicate { agent: String, number: String },
}

impl FromStr for AgentSpec {
    type Err = AgentSpecError;

    /// `ID=` alone is an agent with an empty pool, which is how a test gets a pool-less agent.
    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let (id, numbers) = written
            .split_once('=')
            .ok_or_else(|| AgentSpecError::MissingEquals(written.to_string()))?;
        let id = id.trim();
        if id.is_empty() {
            return Err(AgentSpecError::EmptyId(written.to_string()));
        }
        let numbers = if numbers.trim().is_empty() {
            Vec::new()
        } else {
            parse_pool(id, numbers)?
        };
        Ok(AgentSpec {
            id: id.to_string(),
            numbers,
        })
    }
}

/// Parses the comma-separated pool of agent `agent`, refusing blanks and duplicates because
/// both are almost certainly typos in the flag.
fn parse_pool(agent: &str, written: &str) -> Result<Vec<Phone>, AgentSpecError> {
    let mut pool: Vec<Phone> = Vec::new();
    for (index, item) in written.split(',').map(str::trim).enumerate() {
        if item.is_empty() {
            return Err(AgentSpecError::EmptyNumber {
                agent: agent.to_string(),
                position: index + 1,
            });
        }
        let phone =
            Phone::parse(item, Country::default()).map_err(|source| AgentSpecError::BadNumber {
                agent: agent.to_string(),
                written: item.to_string(),
                source,
            })?;
        if pool.contains(&phone) {
            return Err(AgentSpecError::Duplicate {
                agent: agent.to_string(),
                number: phone.to_string(),
            });
        }
        pool.push(phone);
    }
    Ok(pool)
}

/// A delay drawn uniformly from `min..=max` for every `/v2` answer; written `50` or `20..80` (ms).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Latency {
    pub min: Duration,
    pub max: Duration,
}

/// Why a `--latency` value is not `MS` or `MIN..MAX`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LatencyError {
    #[error("latency `{0}` is not a whole number of milliseconds: write 50 or 20..80")]
    NotMillis(String),
    #[error("latency range {min}..{max} ends before it starts: write the smaller number first")]
    Reversed { min: u64, max: u64 },
}

impl Latency {
    /// Picks one answer's delay with the seeded `rng`, so a replayed run waits the same way.
    pub(crate) fn pick(&self, rng: &mut impl Rng) -> Duration {
        let spread = self.max.saturating_sub(self.min).as_nanos();
        let spread = u64::try_from(spread).unwrap_or(u64::MAX);
        self.min + Duration::from_nanos(rng.random_range(0..=spread))
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.max.is_zero()
    }
}

impl FromStr for Latency {
    type Err = LatencyError;

    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let (min, max) = match written.split_once("..") {
            Some((min, max)) => (millis(min)?, millis(max)?),
            None => {
                let fixed = millis(written)?;
                (fixed, fixed)
            }
        };
        if min > max {
            return Err(LatencyError::Reversed { min, max });
        }
        Ok(Latency {
            min: Duration::from_millis(min),
            max: Duration::from_millis(max),
        })
    }
}

fn millis(written: &str) -> Result<u64, LatencyError> {
    written
        .trim()
        .parse()
        .map_err(|_| LatencyError::NotMillis(written.trim().to_string()))
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (min, max) = (self.min.as_millis(), self.max.as_millis());
        if min == max {
            write!(f, "{min}")
        } else {
            write!(f, "{min}..{max}")
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn demo_pool_has_the_twelve_documented_numbers() {
        let pool = demo_pool();
        assert_eq!(pool.len(), 12);
        assert_eq!(pool[0].as_str(), "+12125550101");
        assert_eq!(pool[11].as_str(), "+14165550112");
    }

    #[test]
    fn latency_round_trips_through_display() {
        for written in ["0", "50", "20..80"] {
            let latency: Latency = written.parse().unwrap();
            assert_eq!(latency.to_string(), written);
        }
    }

    #[test]
    fn latency_pick_stays_in_range() {
        let mut rng = StdRng::seed_from_u64(7);
        let latency: Latency = "20..80".parse().unwrap();
        for _ in 0..1000 {
            let pause = latency.pick(&mut rng);
            assert!((Duration::from_millis(20)..=Duration::from_millis(80)).contains(&pause));
        }
        let fixed: Latency = "50".parse().unwrap();
        assert_eq!(fixed.pick(&mut rng), Duration::from_millis(50));
    }
}
