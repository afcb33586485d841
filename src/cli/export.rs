//! `outdial export`: one CSV row per contact, to a file or stdout.

use std::io::{BufWriter, ErrorKind};
use std::path::PathBuf;

use clap::Args;

use super::Global;
use crate::error::Error;
use crate::export::{ExportError, create_private, export};
use crate::journal::Journal;

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The campaign file (TOML)
    pub campaign: PathBuf,
    /// Write to this file instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub async fn run(args: ExportArgs, global: &Global) -> Result<u8, Error> {
    let campaign = super::load(&args.campaign, global)?;
    let journal = Journal::open_existing(&campaign.journal_dir, &campaign.name)?;
    let written = match &args.output {
        Some(path) => {
            let file = create_private(path).map_err(|source| Error::Io {
                context: format!("cannot create {}", path.display()),
                source,
            })?;
            export(&journal, BufWriter::new(file))
        }
        None => export(&journal, std::io::stdout().lock()),
    };
    match written {
        Ok(()) => Ok(0),
        // `outdial export x.toml | head` is a success.
        Err(ExportError::Write(e)) if matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == ErrorKind::BrokenPipe) => {
            Ok(0)
        }
        Err(ExportError::Journal(e)) => Err(e.into()),
        Err(ExportError::Write(e)) => Err(Error::Io {
            context: "cannot write the export".into(),
            source: e.into(),
        }),
    }
}
