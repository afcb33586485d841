//! `outdial export`: a campaign's whole outcome, one row per row of the contacts file, in the
//! file's order: each contact with its own columns (so the export joins back to its source, a
//! CRM id for instance) and what outdial did, the rows that did not become contacts with their
//! reasons among them. As CSV for machines, or as a workbook for people (`--xlsx`), in which
//! phones are text and times are dates.
//!
//! Memory stays bounded at any size: the journal is keyed by phone, so the file's order comes
//! from an external sort of (line, phone) pairs ([`SortedPairs`]), and each row is read back
//! from the journal as it is written.

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::iter::Peekable;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use jiff::Timestamp;
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use crate::contacts::CustomVariable;
use crate::journal::{Entry, Journal, JournalError, SkippedRow, State};
use crate::sorted::{Sorted, SortedPairs, packed, unpacked};

/// The columns before the contact's own.
const LEADING: [&str; 3] = ["line", "phone", "name"];
/// outdial's columns, after the contact's own.
const OUTCOME: [&str; 12] = [
    "state",
    "reason",
    "attempts",
    "outcome",
    "end_call_reason",
    "duration_s",
    "call_id",
    "from_phone_number",
    "local_match",
    "last_error",
    "dialed_at",
    "updated_at",
];
/// What a contact's own column is called when its header is one of outdial's.
const OWN_PREFIX: &str = "contact_";
/// Data rows per worksheet: Excel's limit less the header row. A larger campaign continues on
/// a second sheet.
const ROWS_PER_SHEET: u32 = 1_048_575;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("cannot write the export: {0}")]
    Write(#[from] csv::Error),
    #[error("cannot write the workbook: {0}")]
    Workbook(#[from] XlsxError),
    #[error("cannot sort the contacts into the file's order (temporary files): {0}")]
    Scratch(#[from] std::io::Error),
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

/// Writes the export as CSV to `out`: instants as `2026-12-01T15:04:05Z`.
pub fn export(journal: &Journal, out: impl Write) -> Result<(), ExportError> {
    let rows = Rows::of(journal)?;
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(rows.header())?;
    for row in rows {
        csv.write_record(row?.iter().map(Cell::text))?;
    }
    csv.flush().map_err(csv::Error::from)?;
    Ok(())
}

/// Writes the export as an xlsx workbook at `path` (0600): phones and every column from the
/// contacts file as text, counts as numbers, instants as dates (UTC).
pub fn export_xlsx(journal: &Journal, path: &Path) -> Result<(), ExportError> {
    let rows = Rows::of(journal)?;
    let header = rows.header();
    let formats = Formats::new();
    let mut workbook = Workbook::new();
    let mut sheet = new_sheet(&mut workbook, &header, &formats, 1)?;
    let mut row_number = 0;
    for (index, row) in rows.enumerate() {
        let within = u32::try_from(index).unwrap_or(u32::MAX) % ROWS_PER_SHEET;
        if index > 0 && within == 0 {
            let sheets = u32::try_from(index).unwrap_or(u32::MAX) / ROWS_PER_SHEET + 1;
            sheet = new_sheet(&mut workbook, &header, &formats, sheets)?;
        }
        row_number = within + 1;
        for (column, cell) in row?.iter().enumerate() {
            let column = u16::try_from(column).unwrap_or(u16::MAX);
            cell.write(sheet, row_number, column, &formats)?;
        }
    }
    let last_column = u16::try_from(header.len().saturating_sub(1)).unwrap_or(u16::MAX);
    sheet.autofilter(0, 0, row_number, last_column)?;
    let file = create_private(path)?;
    workbook.save_to_writer(std::io::BufWriter::new(file))?;
    Ok(())
}

/// One sheet of the workbook, its header written and frozen.
fn new_sheet<'w>(
    workbook: &'w mut Workbook,
    header: &[String],
    formats: &Formats,
    number: u32,
) -> Result<&'w mut Worksheet, XlsxError> {
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name(match number {
        1 => "contacts".to_owned(),
        n => format!("contacts {n}"),
    })?;
    for (column, name) in header.iter().enumerate() {
        let column = u16::try_from(column).unwrap_or(u16::MAX);
        sheet.write_string_with_format(0, column, name, &formats.header)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(sheet)
}

/// The workbook's cell formats.
struct Formats {
    header: Format,
    text: Format,
    instant: Format,
}

impl Formats {
    fn new() -> Formats {
        Formats {
            header: Format::new().set_bold(),
            // `@`: a phone stays text even when a person edits the cell.
            text: Format::new().set_num_format("@"),
            instant: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
        }
    }
}

/// One cell of an exported row, typed for the workbook.
enum Cell {
    Text(String),
    Count(Option<u64>),
    Instant(Option<Timestamp>),
}

impl Cell {
    /// As CSV writes it.
    fn text(&self) -> String {
        match self {
            Cell::Text(text) => text.clone(),
            Cell::Count(count) => count.map(|n| n.to_string()).unwrap_or_default(),
            Cell::Instant(at) => at
                .map(|at| at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default(),
        }
    }

    fn write(
        &self,
        sheet: &mut Worksheet,
        row: u32,
        column: u16,
        formats: &Formats,
    ) -> Result<(), XlsxError> {
        match self {
            Cell::Text(text) if text.is_empty() => {}
            Cell::Text(text) => {
                sheet.write_string_with_format(row, column, text, &formats.text)?;
            }
            Cell::Count(Some(n)) => {
                sheet.write_number(row, column, *n as f64)?;
            }
            Cell::Instant(Some(at)) => {
                // Whole seconds, cut as the CSV's text cuts them.
                let second = Timestamp::from_second(at.as_second()).unwrap_or(*at);
                let utc = second.to_zoned(jiff::tz::TimeZone::UTC).datetime();
                sheet.write_datetime_with_format(row, column, utc, &formats.instant)?;
            }
            Cell::Count(None) | Cell::Instant(None) => {}
        }
        Ok(())
    }
}

/// An exported row: a contact, or a row of the file that did not become one.
enum Row {
    Contact(Box<Entry>),
    Skipped(SkippedRow),
}

/// The export's rows in the file's order, with the union of the contacts' own columns.
struct Rows<'j> {
    journal: &'j Journal,
    own_columns: Vec<String>,
    contacts: Peekable<Sorted>,
    skipped: Peekable<Box<dyn Iterator<Item = Result<SkippedRow, JournalError>> + 'j>>,
}

impl<'j> Rows<'j> {
    /// One pass over the journal: (line, phone) pairs to sort, and every own column's name.
    fn of(journal: &'j Journal) -> Result<Rows<'j>, ExportError> {
        let mut pairs = SortedPairs::new();
        let mut own_columns = Vec::new();
        let mut learn = |columns: &[CustomVariable]| {
            for column in columns {
                if !own_columns.contains(&column.key) {
                    own_columns.push(column.key.clone());
                }
            }
        };
        for entry in journal.entries() {
            let entry = entry?;
            learn(&entry.contact.custom_variables);
            pairs.push((entry.contact.line, packed(entry.phone())))?;
        }
        for row in journal.skipped_rows() {
            learn(&row?.custom_variables);
        }
        let contacts = pairs.sorted()?;
        let skipped: Box<dyn Iterator<Item = _> + 'j> = Box::new(journal.skipped_rows());
        Ok(Rows {
            journal,
            own_columns,
            contacts: contacts.peekable(),
            skipped: skipped.peekable(),
        })
    }

    fn header(&self) -> Vec<String> {
        let own = self.own_columns.iter().map(|key| {
            let taken = LEADING.contains(&key.as_str()) || OUTCOME.contains(&key.as_str());
            match taken {
                true => format!("{OWN_PREFIX}{key}"),
                false => key.clone(),
            }
        });
        let named = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        named(&LEADING)
            .into_iter()
            .chain(own)
            .chain(named(&OUTCOME))
            .collect()
    }

    /// The next row by line: a skipped row before a contact of the same line never happens
    /// (one line is one or the other), so ties go to the contact.
    fn next_row(&mut self) -> Result<Option<Row>, ExportError> {
        // An error is taken, and so returned, by the `take_` of its stream.
        let next_contact = match self.contacts.peek() {
            Some(Ok((line, _))) => Some(*line),
            Some(Err(_)) => return self.take_contact(),
            None => None,
        };
        let next_skipped = match self.skipped.peek() {
            Some(Ok(row)) => Some(row.line),
            Some(Err(_)) => return self.take_skipped(),
            None => None,
        };
        match (next_contact, next_skipped) {
            (Some(contact), Some(skipped)) if skipped < contact => self.take_skipped(),
            (Some(_), _) => self.take_contact(),
            (None, Some(_)) => self.take_skipped(),
            (None, None) => Ok(None),
        }
    }

    fn take_skipped(&mut self) -> Result<Option<Row>, ExportError> {
        Ok(self.skipped.next().transpose()?.map(Row::Skipped))
    }

    fn take_contact(&mut self) -> Result<Option<Row>, ExportError> {
        let Some((line, digits)) = self.contacts.next().transpose()? else {
            return Ok(None);
        };
        let entry = unpacked(digits)
            .map(|phone| self.journal.get(&phone))
            .transpose()?
            .flatten();
        match entry {
            Some(entry) => Ok(Some(Row::Contact(Box::new(entry)))),
            // Written between the two passes cannot happen (the journal is ours alone); a
            // contact that vanished would be damage, which `get` reports.
            None => Err(ExportError::Journal(JournalError::Corrupt {
                dir: self.journal.dir().to_owned(),
                why: format!("the contact of line {line} vanished while being exported"),
            })),
        }
    }

    fn cells(&self, row: &Row) -> Vec<Cell> {
        let (line, phone, name, own) = match row {
            Row::Contact(entry) => (
                entry.contact.line,
                entry.phone().to_string(),
                &entry.contact.name,
                &entry.contact.custom_variables,
            ),
            Row::Skipped(row) => (
                row.line,
                row.written.clone(),
                &row.name,
                &row.custom_variables,
            ),
        };
        let own_cell = |key: &String| {
            let value = own.iter().find(|c| &c.key == key);
            Cell::Text(value.map(|c| c.value.clone()).unwrap_or_default())
        };
        let mut cells = vec![
            Cell::Count(Some(line)),
            Cell::Text(phone),
            Cell::Text(name.clone()),
        ];
        cells.extend(self.own_columns.iter().map(own_cell));
        cells.extend(match row {
            Row::Contact(entry) => outcome_cells(entry),
            Row::Skipped(row) => skipped_cells(row),
        });
        cells
    }
}

/// Each row's cells, in the header's order.
impl Iterator for Rows<'_> {
    type Item = Result<Vec<Cell>, ExportError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.next_row().transpose()?;
        Some(row.map(|row| self.cells(&row)))
    }
}

/// outdial's columns for a contact.
fn outcome_cells(entry: &Entry) -> Vec<Cell> {
    let text = |v: Option<String>| Cell::Text(v.unwrap_or_default());
    let (reason, outcome, end_call_reason, duration) = match &entry.state {
        State::Done {
            status,
            end_call_reason,
            duration_s,
        } => (
            None,
            Some(status.clone()),
            end_call_reason.clone(),
            *duration_s,
        ),
        State::Failed { reason } | State::Skipped { reason } | State::Uncertain { reason } => {
            (Some(reason.clone()), None, None, None)
        }
        State::Pending | State::Dialing | State::Placed => (None, None, None, None),
    };
    vec![
        Cell::Text(entry.state.name().to_owned()),
        text(reason),
        Cell::Count(Some(u64::from(entry.attempts))),
        text(outcome),
        text(end_call_reason),
        Cell::Count(duration),
        text(entry.call_id.clone()),
        text(entry.caller_id.as_ref().map(|c| c.to_string())),
        text(entry.local_match.map(|m| m.name().to_owned())),
        text(entry.last_error.clone()),
        Cell::Instant(entry.dialed_at),
        Cell::Instant(Some(entry.updated_at)),
    ]
}

/// outdial's columns for a row that did not become a contact: skipped, and why.
fn skipped_cells(row: &SkippedRow) -> Vec<Cell> {
    let mut cells: Vec<Cell> = OUTCOME.iter().map(|_| Cell::Text(String::new())).collect();
    cells[0] = Cell::Text("skipped".to_owned());
    cells[1] = Cell::Text(row.reason.clone());
    cells[2] = Cell::Count(Some(0));
    cells
}
