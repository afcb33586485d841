//! `outdial run` and `outdial resume`.

use std::path::PathBuf;

use clap::Args;

use super::Global;
use crate::campaign::{ApiKey, Campaign};
use crate::dialer::{self, Ending, Finish};
use crate::error::Error;
use crate::journal::Journal;
use crate::progress::Display;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The campaign file (TOML)
    pub campaign: PathBuf,
}

/// Whether a missing journal may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journaling {
    StartOrResume,
    ResumeOnly,
}

pub async fn run(args: RunArgs, global: &Global, journaling: Journaling) -> Result<u8, Error> {
    let campaign = super::load(&args.campaign, global)?;
    let key = campaign.api.key(&campaign.file)?;
    let finish = launch(&campaign, key, journaling, Display::chosen_by(global.quiet)).await?;
    Ok(conclude(&campaign, &finish))
}

/// Opens the journal the way `journaling` allows and runs the campaign until it is complete,
/// Ctrl-C, or the account refuses.
pub async fn launch(
    campaign: &Campaign,
    key: ApiKey,
    journaling: Journaling,
    display: Display,
) -> Result<Finish, Error> {
    let journal = match journaling {
        Journaling::StartOrResume => Journal::open(&campaign.journal_dir, &campaign.name)?,
        Journaling::ResumeOnly => Journal::open_existing(&campaign.journal_dir, &campaign.name)?,
    };
    dialer::launch(campaign, &journal, key, display, interrupt()).await
}

/// Resolves at the first Ctrl-C; a second one ends the process at once (the journal is
/// consistent at every moment, so nothing is lost).
async fn interrupt() {
    if tokio::signal::ctrl_c().await.is_err() {
        return std::future::pending().await;
    }
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted again: exiting now; the journal is consistent");
            std::process::exit(130);
        }
    });
}

/// Prints the summary and what to do next; returns the exit code.
pub fn conclude(campaign: &Campaign, finish: &Finish) -> u8 {
    print!("{}", finish.report);
    match &finish.ending {
        Ending::Complete => {
            println!("complete: every contact of {} is settled", campaign.name);
            0
        }
        Ending::Interrupted => {
            println!(
                "interrupted: the journal is saved; continue with `{}`",
                campaign.resume_command()
            );
            130
        }
        Ending::AccountRefused(error) => {
            eprintln!("error: {error}");
            println!(
                "stopped: the remaining contacts are still pending; after fixing it, `{}`",
                campaign.resume_command()
            );
            3
        }
        Ending::ListUnreadable(trouble) => {
            eprintln!(
                "error: {trouble}, for longer than suppress.unreadable_limit_seconds ({}s)",
                campaign.suppress.unreadable_limit.as_secs()
            );
            println!(
                "stopped: nobody was called while the list could not be read; the remaining contacts are still pending; after fixing it, `{}`",
                campaign.resume_command()
            );
            2
        }
    }
}
