//! `outdial pool health`: each number of a campaign's pool as number health sees it, from the
//! journal alone (no request is sent): its window, connection rate with a 95% interval,
//! short-call rate, calls today against its cap, and whether it rests, until when and why.

use std::path::PathBuf;

use clap::Args;
use jiff::Timestamp;
use serde::Serialize;

use super::super::output;
use super::super::{Global, load};
use crate::campaign::{Campaign, Health as Policy};
use crate::caps::{self, Caps};
use crate::error::Error;
use crate::health::{CRITICAL_Z, Health, Rate, Standing};
use crate::journal::{Journal, JournalError, Opening};
use crate::phone::Phone;
use crate::table::Table;

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  outdial pool health spring.toml
  outdial pool health spring.toml --json")]
pub struct HealthArgs {
    /// The campaign file (TOML)
    campaign: PathBuf,
    /// Print the pool's health as JSON
    #[arg(long)]
    json: bool,
}

/// The pool's health as `--json` prints it.
#[derive(Debug, Serialize)]
struct PoolHealth {
    campaign: String,
    at: Timestamp,
    policy: PolicyView,
    numbers: Vec<NumberHealth>,
}

/// The `[health]` keys in force, and the test's critical z.
#[derive(Debug, Serialize)]
struct PolicyView {
    enabled: bool,
    window_calls: u32,
    window_days: u32,
    min_calls: u32,
    rest_days: u32,
    max_resting_share: f64,
    short_call_seconds: u64,
    critical_z: f64,
}

#[derive(Debug, Serialize)]
struct NumberHealth {
    number: Phone,
    /// Ended attempts in its window.
    attempts: u32,
    connection: Rate,
    short_calls: Rate,
    /// Calls started today (UTC day), as the caps count them.
    calls_today: u32,
    /// `rotation.max_calls_per_number_per_day`, if set.
    cap: Option<u32>,
    state: State,
    /// When its rest ends, while it rests.
    resting_until: Option<Timestamp>,
    why: String,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum State {
    Active,
    Resting,
    /// The API refused it as a caller ID in the latest run, which then went on without it.
    Refused,
}

pub fn run(args: HealthArgs, global: &Global) -> Result<u8, Error> {
    let campaign = load(&args.campaign, global)?;
    let now = Timestamp::now();
    let view = match Journal::open_campaign(&campaign, Opening::Existing) {
        Ok(journal) => PoolHealth::of(&campaign, &journal, now)?,
        Err(JournalError::Missing { .. } | JournalError::MissingInStore { .. }) => {
            PoolHealth::not_started(&campaign, now)
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        output::json(&view);
    } else if view.numbers.is_empty() {
        output::line(format_args!(
            "campaign {}: no calls yet and no `rotation.numbers`: nothing to judge",
            view.campaign
        ));
    } else {
        output::line(view.summary());
        output::text(view.table());
    }
    Ok(0)
}

impl PoolHealth {
    /// Each number the campaign lists or has called from, judged as a run would judge it now.
    fn of(campaign: &Campaign, journal: &Journal, now: Timestamp) -> Result<PoolHealth, Error> {
        let pool = pool_of(campaign, journal)?;
        let policy = campaign.health;
        let mut health = Health::new(policy, &pool);
        for rest in journal.rests() {
            health.restore(rest?);
        }
        let reads = (policy.window_calls.get() + campaign.pacing.max_live_calls.get()) as usize;
        let max_per_day = campaign.rotation.max_calls_per_number_per_day;
        let mut caps = Caps::new(max_per_day, campaign.rotation.min_gap_per_number);
        let mut today = Vec::with_capacity(pool.len());
        for number in &pool {
            let latest = journal.latest_attempts(number, reads)?;
            health.observe(number, &latest);
            for at in journal.latest_starts(number, caps::starts_needed(max_per_day))? {
                caps.record(number, at);
            }
            // Without a cap only the latest start is kept: today's calls are counted from the
            // attempts read for the window instead.
            let from_history = latest.iter().filter(|a| same_utc_day(a.sent_at, now));
            today.push(match max_per_day {
                Some(_) => caps.used_on(number, now),
                None => from_history.count() as u32,
            });
        }
        let latest_run = journal.latest_run()?;
        let mut refused = std::collections::HashMap::new();
        for refusal in journal.refusals() {
            let refusal = refusal?;
            if refusal.run == latest_run {
                refused.insert(refusal.number.clone(), refusal);
            }
        }
        let numbers = pool
            .iter()
            .zip(today)
            .map(|(number, calls_today)| NumberHealth::of(&health, number, now, calls_today))
            .map(|mut n| {
                n.cap = max_per_day.map(|cap| cap.get());
                if let Some(refusal) = refused.get(&n.number) {
                    n.state = State::Refused;
                    n.why = format!(
                        "refused by the API as a caller ID at {} (run {}, which went on without it): {}",
                        refusal.at.strftime("%Y-%m-%d %H:%M UTC"),
                        refusal.run,
                        refusal.detail
                    );
                }
                n
            })
            .collect();
        Ok(PoolHealth {
            campaign: campaign.name.clone(),
            at: now,
            policy: PolicyView::of(&policy),
            numbers,
        })
    }

    fn not_started(campaign: &Campaign, now: Timestamp) -> PoolHealth {
        let health = Health::new(campaign.health, &campaign.rotation.numbers);
        PoolHealth {
            campaign: campaign.name.clone(),
            at: now,
            policy: PolicyView::of(&campaign.health),
            numbers: campaign
                .rotation
                .numbers
                .iter()
                .map(|n| NumberHealth::of(&health, n, now, 0))
                .collect(),
        }
    }

    fn summary(&self) -> String {
        let resting = self
            .numbers
            .iter()
            .filter(|n| matches!(n.state, State::Resting))
            .count();
        format!(
            "campaign {}: {} number(s), {resting} resting (at most {:.0}% of the pool may rest)",
            self.campaign,
            self.numbers.len(),
            self.policy.max_resting_share * 100.0
        )
    }

    fn table(&self) -> Table {
        let mut table = Table::new(&[
            "NUMBER",
            "CALLS",
            "CONNECTED (95%)",
            "SHORT",
            "TODAY",
            "STATE",
            "WHY",
        ]);
        for n in &self.numbers {
            let state = match (n.state, n.resting_until) {
                (State::Resting, Some(until)) => {
                    format!("resting until {}", until.strftime("%Y-%m-%d %H:%M UTC"))
                }
                (State::Refused, _) => "refused by the API".to_owned(),
                _ => "active".to_owned(),
            };
            let cap = n.cap.map_or_else(|| "-".to_owned(), |c| c.to_string());
            table.push(vec![
                n.number.to_string(),
                n.attempts.to_string(),
                format!(
                    "{:.0}% ({:.0}–{:.0}%)",
                    n.connection.rate * 100.0,
                    n.connection.low * 100.0,
                    n.connection.high * 100.0
                ),
                format!("{:.0}%", n.short_calls.rate * 100.0),
                format!("{}/{cap}", n.calls_today),
                state,
                n.why.clone(),
            ]);
        }
        for column in 1..=4 {
            table.align_right(column);
        }
        table
    }
}

impl NumberHealth {
    fn of(health: &Health, number: &Phone, now: Timestamp, calls_today: u32) -> NumberHealth {
        let figures = health.figures(number, now);
        let pool = health.pool_figures(number, now);
        let min = health.policy().min_calls.get();
        let (state, resting_until, why) = match health.standing(number, now) {
            Standing::Off => (
                State::Active,
                None,
                "health is off (`health.enabled = false`)".into(),
            ),
            Standing::Resting(rest) => (State::Resting, Some(rest.until), rest.why),
            Standing::Unjudged if figures.attempts < min => (
                State::Active,
                None,
                format!(
                    "not judged yet: {} of {min} calls in its window",
                    figures.attempts
                ),
            ),
            Standing::Unjudged => (
                State::Active,
                None,
                format!(
                    "not judged yet: the rest of the pool has {} of {min} calls",
                    pool.attempts
                ),
            ),
            Standing::Healthy => (
                State::Active,
                None,
                format!(
                    "healthy: connects {:.0}% against the pool's {:.0}%",
                    figures.connection.rate * 100.0,
                    pool.connection.rate * 100.0
                ),
            ),
            Standing::Worse { z } => (
                State::Active,
                None,
                format!("significantly worse (z = {z:.2}), but the share that may rest is used up"),
            ),
        };
        NumberHealth {
            number: number.clone(),
            attempts: figures.attempts,
            connection: figures.connection,
            short_calls: figures.short_calls,
            calls_today,
            cap: None,
            state,
            resting_until,
            why,
        }
    }
}

impl PolicyView {
    fn of(policy: &Policy) -> PolicyView {
        PolicyView {
            enabled: policy.enabled,
            window_calls: policy.window_calls.get(),
            window_days: policy.window_days.get(),
            min_calls: policy.min_calls.get(),
            rest_days: policy.rest_days.get(),
            max_resting_share: policy.max_resting_share,
            short_call_seconds: policy.short_call_seconds,
            critical_z: CRITICAL_Z,
        }
    }
}

/// The campaign's `rotation.numbers`, then every other number the journal has called from or
/// rested, in the order first seen.
fn pool_of(campaign: &Campaign, journal: &Journal) -> Result<Vec<Phone>, Error> {
    let mut pool = campaign.rotation.numbers.clone();
    let mut add = |number: &Phone| {
        if !pool.contains(number) {
            pool.push(number.clone());
        }
    };
    for caller in journal.callers()? {
        add(&caller);
    }
    for rest in journal.rests() {
        add(&rest?.number);
    }
    Ok(pool)
}

fn same_utc_day(a: Timestamp, b: Timestamp) -> bool {
    let day = |t: Timestamp| t.to_zoned(jiff::tz::TimeZone::UTC).date();
    day(a) == day(b)
}
