//! `outdial simulate`: a campaign played against the sandbox's answer model, once per rotation
//! strategy, on a virtual clock, with the same dialer code as `run`.
//!
//! Each play is its own world: a current-thread runtime whose clock is paused (tokio's
//! `start_paused`), so time moves only when every task waits on a timer, and then straight to
//! the earliest; an in-process sandbox answering through its router ([`InProcess`]), reached by
//! the dialer's own API client with an in-process transport; and a scratch journal. Nothing
//! waits on a socket or a thread, so a play is deterministic: the same campaign, start, days and
//! seed give the same figures. The plays run on threads of their own, side by side.

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroU32;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::api::Synthflow;
use crate::budget::Share;
use crate::campaign::{ApiKey, Campaign, Strategy};
use crate::clock::Clock;
use crate::dialer::{Dialer, Ending, survey};
use crate::error::Error;
use crate::figures::{Figures, Rate, Source, percent, percent_with_interval};
use crate::journal::Journal;
use crate::phone::Phone;
use crate::progress::Silent;
use crate::report::short_duration;
use crate::rotation::Match;
use crate::sandbox::answers::AnswerSettings;
use crate::sandbox::{AgentSpec, CallLength, InProcess, ReceivedCall, SandboxConfig};
use crate::table::Table;

/// How long an answered call's conversation lasts in the simulated world, drawn per call.
const TALK: &str = "30..180";
/// The base URL the in-process client is given: never resolved, as no request leaves.
const BASE: &str = "http://simulated.invalid/v2";

/// What to play: a campaign from `start`, for `days`, with the vendor's dice seeded by `seed`.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub campaign: Campaign,
    pub start: Timestamp,
    pub days: NonZeroU32,
    pub seed: u64,
}

/// One strategy's play: its figures, and what the simulated vendor received.
#[derive(Debug, Clone)]
pub struct Play {
    pub played: Played,
    /// Every create request, as the vendor saw it, with its (virtual) moment.
    pub received: Vec<ReceivedCall>,
}

/// One strategy's figures, as `simulate` prints them.
#[derive(Debug, Clone, Serialize)]
pub struct Played {
    pub strategy: &'static str,
    /// Data rows in the contacts file.
    pub contacts: u64,
    /// Contacts whose latest call reached a person, with its 95% interval over `contacts`.
    pub reached: Rate,
    /// Attempts that connected (a person or a machine answered), with its 95% interval.
    pub connection: Rate,
    pub attempts: u64,
    /// Caller IDs the answer model's carriers labelled as spam.
    pub labelled: usize,
    /// Caller IDs number health rested.
    pub rested: usize,
    pub calls_per_number: Spread,
    /// The share of attempts whose caller ID shared the callee's area code.
    pub local_match: Option<f64>,
    /// From the start to the last contact settled; `null` when contacts were left when the
    /// days ran out.
    pub makespan_seconds: Option<u64>,
    /// Contacts not settled when the days ran out.
    pub left: u64,
}

/// Calls per number over the whole pool, numbers never used counting zero.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Spread {
    pub max: u64,
    pub median: f64,
}

impl Simulation {
    /// Plays each of `strategies`, side by side; the figures come back in their order.
    pub fn play_all(&self, strategies: &[Strategy]) -> Result<Vec<Play>, Error> {
        std::thread::scope(|scope| {
            let plays: Vec<_> = strategies
                .iter()
                .map(|&strategy| scope.spawn(move || self.play(strategy)))
                .collect();
            plays
                .into_iter()
                .map(|play| {
                    play.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }

    /// Plays the campaign with `strategy`, on a runtime of its own with a paused clock.
    pub fn play(&self, strategy: Strategy) -> Result<Play, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .map_err(|source| Error::Io {
                context: "starting the simulation's runtime".into(),
                source,
            })?;
        runtime.block_on(self.play_in_runtime(strategy))
    }

    async fn play_in_runtime(&self, strategy: Strategy) -> Result<Play, Error> {
        let clock = Clock::virtual_from(self.start);
        let mut campaign = self.campaign.clone();
        campaign.rotation.strategy = strategy;
        campaign.rotation.arms.clear();
        let pool = self.pool();
        let vendor =
            InProcess::new(&self.vendor(&campaign, &pool), clock).map_err(|source| Error::Io {
                context: "starting the simulated vendor".into(),
                source,
            })?;
        let base = BASE.parse().expect("the simulated base URL is a URL");
        let api = Synthflow::in_process(&base, ApiKey::new("simulated"), vendor.router(), clock)?;
        let scratch = tempfile::Builder::new()
            .prefix("outdial-simulate-")
            .tempdir()
            .map_err(|source| Error::Io {
                context: "making the simulation's scratch journal directory".into(),
                source,
            })?;
        let journal = Journal::scratch(scratch.path(), &campaign.name, self.start)?;
        let rows = survey(&campaign, &journal).await?;
        let days = tokio::time::sleep(Duration::from_secs(86_400 * u64::from(self.days.get())));
        let share = Share::alone(&campaign.pacing);
        let finish = Dialer::new(&campaign, api, &journal, &pool, share, &Silent)?
            .with_clock(clock)
            .with_rows_in_file(rows)
            .run(days)
            .await?;
        let makespan = matches!(finish.ending, Ending::Complete).then(|| {
            clock
                .now()
                .duration_since(self.start)
                .as_secs()
                .unsigned_abs()
        });
        let figures = Figures::read(&campaign, &journal, Source::Journal, clock.now())?;
        let rested = journal
            .rests()
            .map(|rest| rest.map(|rest| rest.number))
            .collect::<Result<BTreeSet<Phone>, _>>()?;
        let labelled: BTreeSet<Phone> = vendor
            .stats()
            .labelled
            .into_iter()
            .map(|l| l.number)
            .collect();
        let played = Played {
            strategy: strategy.name(),
            contacts: rows,
            reached: Rate::wilson(figures.funnel.contact, rows),
            connection: connection(&figures),
            attempts: figures.funnel.attempts,
            labelled: labelled.len(),
            rested: rested.len(),
            calls_per_number: spread(&figures, &pool),
            local_match: local_match(&figures),
            makespan_seconds: makespan,
            left: finish.report.remaining().unwrap_or(0),
        };
        journal.close().await;
        Ok(Play {
            played,
            received: vendor.received(),
        })
    }

    /// The caller IDs: the campaign's own, else the sandbox demo agent's, since a simulation
    /// asks no real account for the agent's numbers.
    pub fn pool(&self) -> Vec<Phone> {
        match self.uses_demo_pool() {
            true => crate::sandbox::demo_pool(),
            false => self.campaign.rotation.numbers.clone(),
        }
    }

    /// Whether the campaign lists no numbers, so the demo pool stands in for the agent's.
    pub fn uses_demo_pool(&self) -> bool {
        self.campaign.rotation.numbers.is_empty()
    }

    /// How people answer in the simulated world: the sandbox's answer model as it comes.
    pub fn answers(&self) -> AnswerSettings {
        AnswerSettings::default()
    }

    /// The simulated vendor: the campaign's agent with the pool, people answering as the answer
    /// model says (carriers labelling numbers that call too much), from the simulation's start.
    fn vendor(&self, campaign: &Campaign, pool: &[Phone]) -> SandboxConfig {
        SandboxConfig {
            agents: vec![AgentSpec {
                id: campaign.agent.clone(),
                numbers: pool.to_vec(),
            }],
            seed: self.seed,
            call_duration: TALK.parse::<CallLength>().expect("the talk length parses"),
            answers: Some(self.answers()),
            clock_start: Some(self.start),
            ..SandboxConfig::default()
        }
    }
}

/// Connected attempts over attempts, every caller ID together.
fn connection(figures: &Figures) -> Rate {
    let (hits, trials) = figures
        .callers
        .iter()
        .fold((0, 0), |(hits, trials), caller| {
            (
                hits + caller.connection.hits,
                trials + caller.connection.trials,
            )
        });
    Rate::wilson(hits, trials)
}

fn spread(figures: &Figures, pool: &[Phone]) -> Spread {
    let made: HashMap<&str, u64> = figures
        .callers
        .iter()
        .map(|caller| (caller.caller_id.as_str(), caller.attempts))
        .collect();
    let mut calls: Vec<u64> = pool
        .iter()
        .map(|number| made.get(number.as_str()).copied().unwrap_or(0))
        .collect();
    calls.sort_unstable();
    let median = match calls.len() {
        0 => 0.0,
        n if n % 2 == 1 => calls[n / 2] as f64,
        n => (calls[n / 2 - 1] + calls[n / 2]) as f64 / 2.0,
    };
    Spread {
        max: calls.last().copied().unwrap_or(0),
        median,
    }
}

/// The share of attempts from a number of the callee's own area code.
fn local_match(figures: &Figures) -> Option<f64> {
    let all: u64 = figures
        .tiers
        .iter()
        .map(|tier| tier.connection.trials)
        .sum();
    let local: u64 = figures
        .tiers
        .iter()
        .filter(|tier| tier.tier == Match::AreaCode)
        .map(|tier| tier.connection.trials)
        .sum();
    (all > 0).then(|| local as f64 / all as f64)
}

/// One row per play, as `simulate` prints them.
pub fn table(played: &[Played]) -> Table {
    let mut table = Table::new(&[
        "strategy",
        "reached",
        "connection (95%)",
        "attempts",
        "labelled",
        "rested",
        "calls/number max",
        "median",
        "local match",
        "makespan",
    ]);
    for played in played {
        table.push(vec![
            played.strategy.to_owned(),
            format!("{} of {}", played.reached.hits, played.contacts),
            percent_with_interval(&played.connection),
            played.attempts.to_string(),
            played.labelled.to_string(),
            played.rested.to_string(),
            played.calls_per_number.max.to_string(),
            format!("{:.1}", played.calls_per_number.median),
            percent(played.local_match),
            makespan(played),
        ]);
    }
    for column in [1, 3, 4, 5, 6, 7, 8] {
        table.align_right(column);
    }
    table
}

fn makespan(played: &Played) -> String {
    match played.makespan_seconds {
        Some(seconds) => short_duration(Duration::from_secs(seconds)),
        None => format!("{} left", played.left),
    }
}
