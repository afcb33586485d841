//! `outdial repair`: check a campaign's journal against the vendor's records, or rebuild it.

use std::path::PathBuf;

use clap::Args;
use jiff::Timestamp;

use super::Global;
use crate::api::Synthflow;
use crate::error::Error;
use crate::repair::{self, Mode};

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// The campaign file (TOML)
    pub campaign: PathBuf,
    /// Say what would change, and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// When the campaign's first run began (e.g. 2026-11-30T09:00:00Z); needed only when the
    /// journal's witness is gone too
    #[arg(long, value_name = "TIME")]
    pub since: Option<Timestamp>,
}

pub async fn run(args: RepairArgs, global: &Global) -> Result<u8, Error> {
    let campaign = super::load(&args.campaign, global)?;
    let key = campaign.api.key(&campaign.file)?;
    let api = Synthflow::new(&campaign.api.base_url, key)?;
    let mode = if args.dry_run {
        Mode::Check
    } else {
        Mode::Apply
    };
    let repair = repair::repair(&campaign, &api, args.since, mode).await?;
    super::output::text(&repair);
    Ok(0)
}
