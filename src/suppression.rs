//! Do-not-call lists (SPEC §2 `[suppress]`), checked right before each dial and re-read when a
//! file changes, so that a number added while a campaign runs is not called afterwards.
//!
//! Two file formats: one phone per line (blank lines and `#` comments ignored, also after a
//! number), or a CSV whose header names a `phone` (or `phone_number`, `number`) column. A line
//! that is not a phone is skipped with a warning naming file and line: a list must never stop a
//! campaign on one bad line, but nobody should believe a number is suppressed when it is not.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use crate::phone::{Country, Phone};

/// How often files are looked at by default: often enough that a number added by hand is honoured
/// within a second, rarely enough that a fast campaign does not stat every file before every dial.
const DEFAULT_RECHECK: Duration = Duration::from_secs(1);

/// Header names of the phone column, most specific first, as in the contacts file (SPEC §3).
const PHONE_HEADERS: [&str; 3] = ["phone", "phone_number", "number"];

/// The campaign's do-not-call files, re-read when any of them changes on disk (checked by
/// modification time and length at most once per `recheck` interval, default 1 s), so a number
/// added while a campaign runs is not called afterwards.
pub struct DoNotCall {
    files: Vec<ListFile>,
    default_country: Country,
    recheck: Duration,
    /// When the files were last looked at.
    checked_at: Instant,
}

/// One do-not-call file and the numbers it held when last read.
struct ListFile {
    path: PathBuf,
    /// Modification time and length when last read; a change in either means "read it again".
    seen: Stamp,
    phones: HashSet<Phone>,
    /// The file could not be looked at on the last check. It keeps its last numbers (a list that
    /// vanishes must not un-suppress anyone) and is warned about once, not on every check.
    gone: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

/// A do-not-call file that cannot be used at start; the campaign must not run without it.
#[derive(Debug, thiserror::Error)]
pub enum SuppressionError {
    #[error(
        "do-not-call file {}: cannot read it ({source}) — check the path in `suppress.files` of the campaign file and that the file is readable",
        .file.display()
    )]
    Read { file: PathBuf, source: io::Error },

    #[error(
        "do-not-call file {}, line {line}: a CSV header without a phone column (found {}) — name the column of phone numbers `phone` (or `phone_number`, `number`), or write one phone per line",
        .file.display(),
        .headers.join(", ")
    )]
    NoPhoneColumn {
        file: PathBuf,
        line: u64,
        headers: Vec<String>,
    },
}

impl DoNotCall {
    /// Reads every file; one that is missing, unreadable or a CSV without a phone column is an
    /// error naming it, since starting a campaign without its do-not-call list is never meant.
    pub fn load(
        files: &[PathBuf],
        default_country: Country,
    ) -> Result<DoNotCall, SuppressionError> {
        let files = files
            .iter()
            .map(|path| ListFile::load(path, default_country))
            .collect::<Result<_, _>>()?;
        Ok(DoNotCall {
            files,
            default_country,
            recheck: DEFAULT_RECHECK,
            checked_at: Instant::now(),
        })
    }

    /// Looks at the files at most once per `recheck` (zero: before every answer, for tests).
    pub fn with_recheck(mut self, recheck: Duration) -> DoNotCall {
        self.recheck = recheck;
        self
    }

    /// Whether `phone` is on a list, re-reading changed files first. Returns the file that lists
    /// it (the first one, in campaign order, when several do).
    pub fn lists(&mut self, phone: &Phone) -> Option<&Path> {
        self.recheck_if_due();
        self.files
            .iter()
            .find(|file| file.phones.contains(phone))
            .map(|file| file.path.as_path())
    }

    /// How many distinct numbers the lists hold together, for the start-up summary.
    pub fn len(&self) -> usize {
        let all: HashSet<&Phone> = self.files.iter().flat_map(|f| &f.phones).collect();
        all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.iter().all(|f| f.phones.is_empty())
    }

    fn recheck_if_due(&mut self) {
        if self.checked_at.elapsed() < self.recheck {
            return;
        }
        self.checked_at = Instant::now();
        for file in &mut self.files {
            file.recheck(self.default_country);
        }
    }
}

impl fmt::Debug for DoNotCall {
    /// Files and counts only: the numbers themselves do not belong in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut files = f.debug_map();
        for file in &self.files {
            files.entry(&file.path, &file.phones.len());
        }
        files.finish()
    }
}

impl ListFile {
    fn load(path: &Path, country: Country) -> Result<ListFile, SuppressionError> {
        // Stamp first: a write racing the read then shows up as a change on the next check.
        let seen = stamp(path)?;
        Ok(ListFile {
            path: path.to_owned(),
            seen,
            phones: read_list(path, country)?,
            gone: false,
        })
    }

    /// Re-reads the file if it changed. Failures keep the last numbers and are logged once per
    /// change of the file, so a broken list neither un-suppresses anyone nor floods the log.
    fn recheck(&mut self, country: Country) {
        let now = match stamp(&self.path) {
            Ok(now) => now,
            Err(error) => return self.lost(&error),
        };
        if now == self.seen && !self.gone {
            return;
        }
        self.seen = now;
        self.gone = false;
        match read_list(&self.path, country) {
            Ok(phones) => {
                let (file, numbers) = (self.path.display(), phones.len());
                tracing::info!(%file, numbers, "do-not-call file changed; re-read it");
                self.phones = phones;
            }
            Err(error) => {
                let kept = self.phones.len();
                tracing::warn!("{error}; keeping its previous {kept} numbers");
            }
        }
    }

    fn lost(&mut self, error: &SuppressionError) {
        if !self.gone {
            let kept = self.phones.len();
            tracing::warn!("{error}; keeping its last {kept} numbers until it is back");
        }
        self.gone = true;
    }
}

fn stamp(path: &Path) -> Result<Stamp, SuppressionError> {
    let meta = std::fs::metadata(path).map_err(|source| SuppressionError::Read {
        file: path.to_owned(),
        source,
    })?;
    Ok(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}

/// Every phone of one file, in whichever of the two formats it is written.
fn read_list(path: &Path, country: Country) -> Result<HashSet<Phone>, SuppressionError> {
    let bytes = std::fs::read(path).map_err(|source| SuppressionError::Read {
        file: path.to_owned(),
        source,
    })?;
    // Bad bytes spoil only their own line, which then fails to parse and is reported.
    let text = String::from_utf8_lossy(&bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut list = Collector {
        path,
        country,
        phones: HashSet::new(),
    };
    match first_entry(text) {
        Some(first) if first.contains(',') || phone_header(first) => csv_list(text, &mut list)?,
        _ => plain_list(text, &mut list),
    }
    Ok(list.phones)
}

/// The phones of a file and where they come from, for the warnings about lines skipped.
struct Collector<'a> {
    path: &'a Path,
    country: Country,
    phones: HashSet<Phone>,
}

impl Collector<'_> {
    fn add(&mut self, line: u64, written: &str) {
        match Phone::parse(written, self.country) {
            Ok(phone) => {
                self.phones.insert(phone);
            }
            // The reason, never the text: a near-miss phone number must not reach the log whole.
            Err(error) => tracing::warn!(
                file = %self.path.display(),
                line,
                "do-not-call entry skipped: {error}"
            ),
        }
    }
}

/// The text of a line of the one-phone-per-line format, without its comment.
fn entry(line: &str) -> &str {
    line.split('#').next().unwrap_or_default().trim()
}

/// The first line that is neither blank nor a comment.
fn first_entry(text: &str) -> Option<&str> {
    text.lines().map(entry).find(|line| !line.is_empty())
}

/// A one-column CSV whose header is just `phone` has no comma, but is still a header.
fn phone_header(line: &str) -> bool {
    let mut cells = line.split(',').map(|c| c.trim().trim_matches('"').trim());
    cells.any(|cell| PHONE_HEADERS.iter().any(|h| cell.eq_ignore_ascii_case(h)))
}

fn plain_list(text: &str, list: &mut Collector<'_>) {
    for (number, line) in (1..).zip(text.lines()) {
        let written = entry(line);
        if !written.is_empty() {
            list.add(number, written);
        }
    }
}

/// A CSV list: the phone column of every row after the header.
fn csv_list(text: &str, list: &mut Collector<'_>) -> Result<(), SuppressionError> {
    let (body, origin) = csv_body(text);
    // Line `n` of the body is line `origin[n - 1]` of the file.
    let file_line = |position: Option<&csv::Position>| {
        let index = position.and_then(|p| usize::try_from(p.line()).ok()?.checked_sub(1));
        index.and_then(|i| origin.get(i)).copied().unwrap_or(0)
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body.as_bytes());
    let headers = header_cells_of(&mut reader);
    let Some(column) = phone_column(&headers) else {
        let line = origin.first().copied().unwrap_or(1);
        let file = list.path.to_owned();
        return Err(SuppressionError::NoPhoneColumn {
            file,
            line,
            headers,
        });
    };
    for record in reader.records() {
        match record {
            Ok(row) => list.add(
                file_line(row.position()),
                row.get(column).unwrap_or_default(),
            ),
            Err(error) => tracing::warn!(
                file = %list.path.display(),
                line = file_line(error.position()),
                "do-not-call row skipped, not readable as CSV: {error}"
            ),
        }
    }
    Ok(())
}

/// The lines a CSV reader should see, without blank and comment lines, and the file's number of
/// each: the reader numbers a record from where it started looking, skipped blank lines
/// included, so blanking comments would shift every line number after them.
fn csv_body(text: &str) -> (String, Vec<u64>) {
    let mut body = String::with_capacity(text.len());
    let mut origin = Vec::new();
    for (number, line) in (1..).zip(text.lines()) {
        let start = line.trim_start();
        if !start.is_empty() && !start.starts_with('#') {
            body.push_str(line);
            body.push('\n');
            origin.push(number);
        }
    }
    (body, origin)
}

/// The phone column by header, most specific name first.
fn phone_column(headers: &[String]) -> Option<usize> {
    PHONE_HEADERS
        .iter()
        .find_map(|name| headers.iter().position(|h| h.eq_ignore_ascii_case(name)))
}

fn header_cells_of(reader: &mut csv::Reader<&[u8]>) -> Vec<String> {
    reader
        .headers()
        .map(|h| h.iter().map(str::to_owned).collect())
        .unwrap_or_default()
}
