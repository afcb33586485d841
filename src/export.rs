//! `outdial export`: the journal as CSV, one row per contact, then the CSV rows that did not
//! become contacts, so that a campaign's whole outcome can be read in a spreadsheet.

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::journal::{Entry, Journal, JournalError, SkippedRow, State};

const HEADER: [&str; 15] = [
    "phone",
    "name",
    "line",
    "state",
    "reason",
    "call_id",
    "from_phone_number",
    "local_match",
    "attempts",
    "outcome",
    "end_call_reason",
    "duration_s",
    "last_error",
    "dialed_at",
    "updated_at",
];

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("cannot write the export: {0}")]
    Write(#[from] csv::Error),
}

/// Creates (or empties) `path` readable and writable by its owner only (0600): exports and status
/// snapshots hold callees' phone numbers and names. An existing file's wider mode is narrowed
/// too, since `mode` applies only to files it creates.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(0o600))?;
    Ok(file)
}

/// Writes every contact, then every skipped row, to `out`.
pub fn export(journal: &Journal, out: impl Write) -> Result<(), ExportError> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(HEADER)?;
    for entry in journal.entries() {
        csv.write_record(contact_row(&entry?))?;
    }
    for row in journal.skipped_rows() {
        csv.write_record(skipped_row(&row?))?;
    }
    csv.flush().map_err(csv::Error::from)?;
    Ok(())
}

fn contact_row(entry: &Entry) -> [String; 15] {
    let (reason, outcome, end_call_reason, duration) = match &entry.state {
        State::Done {
            status,
            end_call_reason,
            duration_s,
        } => (
            String::new(),
            status.clone(),
            end_call_reason.clone().unwrap_or_default(),
            duration_s.map(|d| d.to_string()).unwrap_or_default(),
        ),
        State::Failed { reason } | State::Skipped { reason } | State::Uncertain { reason } => {
            (reason.clone(), String::new(), String::new(), String::new())
        }
        State::Pending | State::Dialing | State::Placed => Default::default(),
    };
    let text = |v: Option<String>| v.unwrap_or_default();
    [
        entry.phone().to_string(),
        entry.contact.name.clone(),
        entry.contact.line.to_string(),
        entry.state.name().to_owned(),
        reason,
        text(entry.call_id.clone()),
        text(entry.caller_id.as_ref().map(|c| c.to_string())),
        text(entry.local_match.map(|m| m.name().to_owned())),
        entry.attempts.to_string(),
        outcome,
        end_call_reason,
        duration,
        text(entry.last_error.clone()),
        text(entry.dialed_at.map(|t| t.to_string())),
        entry.updated_at.to_string(),
    ]
}

fn skipped_row(row: &SkippedRow) -> [String; 15] {
    let mut cells: [String; 15] = Default::default();
    cells[0] = row.written.clone();
    cells[2] = row.line.to_string();
    cells[3] = "skipped".to_owned();
    cells[4] = row.reason.clone();
    cells
}
