//! `outdial export`: one row per row of the contacts file, as CSV (to a file or stdout) or as
//! an xlsx workbook.

use std::io::{BufWriter, ErrorKind};
use std::path::{Path, PathBuf};

use clap::Args;

use super::Global;
use crate::error::Error;
use crate::export::{ExportError, create_private, export, export_xlsx};
use crate::journal::{Journal, Opening};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The campaign file (TOML)
    pub campaign: PathBuf,
    /// Write the CSV to this file instead of stdout
    #[arg(short, long, value_name = "FILE", conflicts_with = "xlsx")]
    pub output: Option<PathBuf>,
    /// Write an xlsx workbook to this file instead: phones as text, times as dates (UTC)
    #[arg(long, value_name = "FILE")]
    pub xlsx: Option<PathBuf>,
}

pub async fn run(args: ExportArgs, global: &Global) -> Result<u8, Error> {
    let campaign = super::load(&args.campaign, global)?;
    let journal = Journal::open_campaign(&campaign, Opening::Existing)?;
    let written = match (&args.xlsx, &args.output) {
        (Some(path), _) => export_xlsx(&journal, path).map_err(|e| in_file(e, path)),
        (None, Some(path)) => {
            let file = create_private(path).map_err(|source| Error::Io {
                context: format!("cannot create {}", path.display()),
                source,
            })?;
            export(&journal, BufWriter::new(file)).map_err(|e| in_file(e, path))
        }
        (None, None) => match export(&journal, std::io::stdout().lock()) {
            // `outdial export x.toml | head` is a success.
            Err(ExportError::Write(e)) if is_broken_pipe(&e) => Ok(()),
            written => written.map_err(|e| in_file(e, Path::new("stdout"))),
        },
    };
    written.map(|()| 0)
}

fn is_broken_pipe(e: &csv::Error) -> bool {
    matches!(e.kind(), csv::ErrorKind::Io(io) if io.kind() == ErrorKind::BrokenPipe)
}

/// The error of an export written to `path`.
fn in_file(error: ExportError, path: &Path) -> Error {
    let context = format!("cannot write the export to {}", path.display());
    match error {
        ExportError::Journal(e) => e.into(),
        ExportError::Write(e) => Error::Io {
            context,
            source: e.into(),
        },
        ExportError::Scratch(source) => Error::Io { context, source },
        ExportError::Workbook(e) => Error::Io {
            context,
            source: std::io::Error::other(e),
        },
    }
}
