//! `outdial report`: the campaign's figures for people (terminal), scripts (`--json`) and
//! browsers (`--html FILE`, one self-contained page), from the journal, during a run and after.
//!
//! While a run holds the journal, nothing may open it: sled allows one process, and the run's
//! lock says so. The report then copies the journal's files into a private temporary directory
//! and opens the copy: the witness first, then sled, so the copy's database is never behind its
//! witness (a copy caught mid-write that is refused is taken again, up to [`COPY_TRIES`] times,
//! and the report fails rather than guess). The run is never paused or touched, and its
//! `status.json` snapshot adds what only the run knows (its requests to the API).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use jiff::Timestamp;

use super::{Global, output};
use crate::campaign::Campaign;
use crate::error::Error;
use crate::figures::{Figures, Source, page};
use crate::journal::{Journal, JournalError, Opening};
use crate::report::Report;

/// How many copies of a running campaign's journal the report takes before it gives up.
const COPY_TRIES: u32 = 5;
/// Files of the journal directory a copy leaves out: the run's lock and its snapshot.
const NOT_COPIED: [&str; 3] = ["lock", "status.json", "status.json.tmp"];

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The campaign file (TOML)
    pub campaign: PathBuf,
    /// Print the figures as JSON (the shape is in the README, "Report")
    #[arg(long)]
    pub json: bool,
    /// Also write the report as one self-contained HTML page to FILE
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

pub async fn run(args: ReportArgs, global: &Global) -> Result<u8, Error> {
    let campaign = super::load(&args.campaign, global)?;
    let figures = read(&campaign, Timestamp::now()).await?;
    if let Some(path) = &args.html {
        write_page(&figures, path)?;
    }
    if args.json {
        output::json(&figures);
        return Ok(0);
    }
    output::text(&figures);
    if let Some(path) = &args.html {
        output::line(format_args!("  report page: {}", path.display()));
    }
    Ok(0)
}

/// The campaign's figures at `now`, from its journal or, while a run holds it, from a copy.
pub async fn read(campaign: &Campaign, now: Timestamp) -> Result<Figures, Error> {
    let dir = &campaign.journal_dir;
    let mut figures = match Journal::open_campaign(campaign, Opening::Existing) {
        Ok(journal) => {
            let figures = Figures::read(campaign, &journal, Source::Journal, now);
            journal.close().await;
            figures?
        }
        Err(JournalError::Locked { .. }) => read_running(campaign, now).await?,
        Err(e) => return Err(e.into()),
    };
    figures.api.requests = Report::load_snapshot(dir).and_then(|snapshot| snapshot.requests);
    Ok(figures)
}

/// Reads the campaign's figures now and writes its HTML page to `path` (the demo's ending).
pub async fn write_html(campaign: &Campaign, path: &Path) -> Result<(), Error> {
    write_page(&read(campaign, Timestamp::now()).await?, path)
}

/// Writes the HTML page to `path`, readable by its owner only (it names contacts).
pub fn write_page(figures: &Figures, path: &Path) -> Result<(), Error> {
    let html = page::render(figures).map_err(|e| Error::Io {
        context: "cannot draw the report's charts".into(),
        source: std::io::Error::other(e),
    })?;
    let io = |source| Error::Io {
        context: format!("cannot write the report page {}", path.display()),
        source,
    };
    let mut file = crate::export::create_private(path).map_err(io)?;
    file.write_all(html.as_bytes()).map_err(io)
}

/// The figures of a campaign whose journal a run holds: from a copy of it, or, in the store, from
/// the journal as it stands.
async fn read_running(campaign: &Campaign, now: Timestamp) -> Result<Figures, Error> {
    if crate::store::url_for(campaign)?.is_some() {
        // In the store, the running campaign's journal is read as it stands.
        let journal = Journal::open_campaign(campaign, Opening::Reading)?;
        let figures = Figures::read(campaign, &journal, Source::RunningCopy, now);
        journal.close().await;
        return Ok(figures?);
    }
    let mut last = None;
    for _ in 0..COPY_TRIES {
        let copy = copy_journal(&campaign.journal_dir)?;
        match Journal::open_existing(copy.path(), &campaign.name) {
            Ok(journal) => {
                let figures = Figures::read(campaign, &journal, Source::RunningCopy, now);
                journal.close().await;
                return Ok(figures?);
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let why = last.map_or_else(String::new, |e| format!(": {e}"));
    Err(Error::Usage(format!(
        "campaign {} is running and its journal changed under every copy the report took{why}; \
         try again in a moment, or after the run",
        campaign.name
    )))
}

/// A private copy of the journal in `dir`: every file but the lock and the snapshot, the
/// witness before the database.
fn copy_journal(dir: &Path) -> Result<tempfile::TempDir, Error> {
    let io = |source| Error::Io {
        context: format!(
            "cannot copy the running campaign's journal {}",
            dir.display()
        ),
        source,
    };
    let copy = tempfile::Builder::new()
        .prefix("outdial-report-")
        .tempdir()
        .map_err(io)?;
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|item| item.ok().map(|item| item.file_name()))
        .filter(|name| !NOT_COPIED.iter().any(|skip| name == *skip))
        .collect();
    // The database last, so it is no older than the witness copied before it.
    names.sort_by_key(|name| name == "sled");
    for name in names {
        copy_tree(&dir.join(&name), &copy.path().join(&name)).map_err(io)?;
    }
    Ok(copy)
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if !fs::metadata(from)?.is_dir() {
        return fs::copy(from, to).map(drop);
    }
    fs::create_dir(to)?;
    for item in fs::read_dir(from)? {
        let name = item?.file_name();
        match copy_tree(&from.join(&name), &to.join(&name)) {
            // sled removes an old snapshot file as it writes a new one.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            other => other?,
        }
    }
    Ok(())
}
