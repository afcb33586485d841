//! `outdial status`: a campaign's progress, read from its journal, or from the running process's
//! snapshot while a run holds the journal.

use std::path::PathBuf;

use clap::Args;

use super::Global;
use crate::error::Error;
use crate::journal::{Journal, JournalError};
use crate::report::Report;

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
    let report = match Journal::open_existing(&campaign.journal_dir, &campaign.name) {
        Ok(journal) => Report::of_journal(&campaign.name, &journal)?,
        Err(JournalError::Locked { owner, .. }) => {
            match Report::load_snapshot(&campaign.journal_dir) {
                Some(snapshot) => snapshot,
                None => {
                    return Err(Error::Usage(format!(
                        "campaign {} is starting ({owner}); try again in a second",
                        campaign.name
                    )));
                }
            }
        }
        Err(JournalError::Missing { .. }) if !args.json => {
            println!(
                "campaign {}: not started yet (no journal at {})",
                campaign.name,
                campaign.journal_dir.display()
            );
            return Ok(0);
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("reports serialise")
        );
    } else {
        print!("{report}");
    }
    Ok(0)
}
