//! `outdial status`: a campaign's progress, read from its journal, or from the running process's
//! snapshot while a run holds the journal.

use std::path::PathBuf;

use clap::Args;

use super::Global;
use jiff::Timestamp;

use super::output;
use crate::campaign::Campaign;
use crate::error::Error;
use crate::journal::{Journal, JournalError, Opening, State};
use crate::report::{Phase, Report};
use crate::window::{CalleeZones, CallingHours};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The campaign file (TOML)
    pub campaign: PathBuf,
    /// Print the figures as JSON
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: StatusArgs, global: &Global) -> Result<u8, Error> {
    let campaign = super::load(&args.campaign, global)?;
    let now = Timestamp::now();
    let mut held = None;
    let report = match Journal::open_campaign(&campaign, Opening::Existing) {
        Ok(journal) => {
            let mut report = Report::of_journal(&campaign.name, &journal, now)?;
            report.next = next_due(&campaign, &journal, now)?;
            held = held_for_zone(&campaign, &journal)?;
            report
        }
        Err(JournalError::Locked { owner, .. }) => {
            match Report::load_snapshot(&campaign.journal_dir) {
                Some(mut snapshot) => {
                    snapshot.judge_freshness(now);
                    snapshot
                }
                None => {
                    return Err(Error::Usage(format!(
                        "campaign {} is starting ({owner}); try again in a second",
                        campaign.name
                    )));
                }
            }
        }
        Err(JournalError::Missing { .. } | JournalError::MissingInStore { .. }) => {
            Report::not_started(&campaign.name, now)
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        output::json(&report);
        return Ok(0);
    }
    output::text(&report);
    if report.phase == Phase::NotStarted {
        output::line(format_args!(
            "  (no journal yet; `outdial run {}` starts it)",
            args.campaign.display()
        ));
    }
    if let Some(held) = held {
        output::line(held);
    }
    Ok(0)
}

/// `held, not called: 3 contacts, e.g. time zone unknown: AU (+61) …`: the contacts skipped
/// because nobody can tell their hours, which a CSV with their zone releases on the next run.
fn held_for_zone(campaign: &Campaign, journal: &Journal) -> Result<Option<String>, Error> {
    let mut held = 0u64;
    let mut example = None;
    for entry in journal.entries() {
        let entry = entry?;
        if !matches!(entry.state, State::Skipped { .. }) || entry.attempts > 0 {
            continue;
        }
        if let Err(unplaced) = CalleeZones::of_contact(&entry.contact, &campaign.window) {
            held += 1;
            example.get_or_insert(unplaced);
        }
    }
    Ok(example.map(|reason| format!("  held, not called: {held} contact(s), e.g. {reason}")))
}

/// What the earliest waiting contact waits for: its window, or a redial, look-up or cap.
fn next_due(
    campaign: &Campaign,
    journal: &Journal,
    now: Timestamp,
) -> Result<Option<String>, Error> {
    let Some(entry) = journal.next_due()? else {
        return Ok(None);
    };
    let Some(due) = entry.due_at else {
        return Ok(None);
    };
    let hours = CallingHours::new(&campaign.window);
    let zones = CalleeZones::of_contact(&entry.contact, &campaign.window);
    Ok(Some(match zones {
        Ok(zones) if !hours.is_open(&zones, now) && due > now => {
            format!(
                "next window opens {}",
                hours.describe_opening(&zones, due, now)
            )
        }
        _ => format!(
            "next call due {} (a redial, a look-up or a cap)",
            due.strftime("%Y-%m-%d %H:%M:%S UTC")
        ),
    }))
}
