//! `outdial simulate`: the campaign played once per rotation strategy against the sandbox's
//! answer model, on a virtual clock, calling nobody (see [`crate::simulate`]).

use std::fmt::Write as _;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use jiff::Timestamp;
use jiff::civil::Weekday;
use serde::Serialize;

use super::{Global, output};
use crate::campaign::Strategy;
use crate::error::Error;
use crate::report::short_duration;
use crate::simulate::{Played, Simulation, table};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The campaign file (TOML); its contacts, pool, pacing, caps, windows and health are played
    pub campaign: PathBuf,
    /// The rotation strategies to compare, one play each
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "region,round-robin,weighted",
        value_name = "STRATEGY,…"
    )]
    pub strategy: Vec<Strategy>,
    /// How many days of calling to play
    #[arg(long, default_value = "5", value_name = "N")]
    pub days: NonZeroU32,
    /// Seeds the simulated vendor's dice (who answers, call lengths): the same seed, start and
    /// campaign give the same table
    #[arg(long, default_value = "1", value_name = "S")]
    pub seed: u64,
    /// When the simulated campaign starts (RFC 3339, e.g. 2026-12-07T13:00:00Z); by default the
    /// coming Monday at 00:00 UTC, so each contact's calling window opens in its own zone
    #[arg(long, value_name = "TIME")]
    pub start: Option<Timestamp>,
    /// Print the table as JSON
    #[arg(long)]
    pub json: bool,
}

/// What `--json` prints.
#[derive(Serialize)]
struct Simulated<'a> {
    campaign: &'a str,
    start: Timestamp,
    days: u32,
    seed: u64,
    numbers: usize,
    /// Wall-clock time the plays took, together.
    wall_seconds: f64,
    strategies: &'a [Played],
}

pub async fn run(args: SimulateArgs, global: &Global) -> Result<u8, Error> {
    let campaign = super::load(&args.campaign, global)?;
    let simulation = Simulation {
        start: args.start.unwrap_or_else(coming_monday),
        days: args.days,
        seed: args.seed,
        campaign,
    };
    let mut strategies = args.strategy.clone();
    strategies.dedup();
    let began = std::time::Instant::now();
    let plays = tokio::task::spawn_blocking({
        let simulation = simulation.clone();
        move || simulation.play_all(&strategies)
    })
    .await
    .expect("a simulation does not panic")?;
    let played: Vec<Played> = plays.into_iter().map(|play| play.played).collect();
    let simulated = Simulated {
        campaign: &simulation.campaign.name,
        start: simulation.start,
        days: simulation.days.get(),
        seed: simulation.seed,
        numbers: simulation.pool().len(),
        wall_seconds: began.elapsed().as_secs_f64(),
        strategies: &played,
    };
    match args.json {
        true => output::json(&simulated),
        false => output::text(describe(&simulated, &simulation)),
    }
    Ok(0)
}

/// The coming Monday (after today) at 00:00 UTC.
fn coming_monday() -> Timestamp {
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    today
        .nth_weekday(1, Weekday::Monday)
        .ok()
        .and_then(|monday| monday.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map_or_else(Timestamp::now, |zoned| zoned.timestamp())
}

fn describe(simulated: &Simulated, simulation: &Simulation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "simulated campaign {}: {} days from {}, seed {}, {} numbers, played in {} (calling nobody)",
        simulated.campaign,
        simulated.days,
        simulated.start,
        simulated.seed,
        simulated.numbers,
        short_duration(Duration::from_secs_f64(simulated.wall_seconds)),
    );
    if simulation.uses_demo_pool() {
        out.push_str("  the campaign lists no [rotation] numbers: the sandbox demo pool stands in for the agent's\n");
    }
    let labelling = simulation.answers().labelling;
    let _ = writeln!(
        out,
        "  people answer as the sandbox's answer model says; its carriers label a number past {} calls a day or {} a minute",
        labelling.day_calls, labelling.minute_calls
    );
    out.push_str(&table(simulated.strategies).to_string());
    out
}
