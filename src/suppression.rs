//! Do-not-call lists (SPEC §2 `[suppress]`), checked right before each dial. They fail closed:
//! while a list cannot be read (missing, unreadable, an encoding outdial cannot decode, a CSV
//! without its phone column) the check answers [`Check::Unreadable`] for everyone, and a list
//! caught in the middle of a rewrite never un-suppresses anyone.
//!
//! Two file formats: one phone per line (blank lines and `#` comments ignored, also after a
//! number; anything after a tab is another column, such as a name), or a CSV (comma- or
//! tab-separated) whose header names a `phone` (or `phone_number`, `number`) column. Text is
//! UTF-8, or UTF-8 or UTF-16 (LE or BE) with a byte-order mark; full-width forms (`＋１ ４１５…`)
//! read as their ASCII letters, as Unicode NFKC has them. A phone is read the way the contacts'
//! phones are, except that an extension is dropped: the list forbids the whole number. A line
//! that is not a phone is skipped with a warning naming file and line: a list must never stop a
//! campaign on one bad line, but nobody should believe a number is suppressed when it is not.
//!
//! A run watches its lists from a thread of their own ([`DoNotCall::watch`]): it looks at each
//! file's identity (length, modification time, inode) once per interval, re-reads a file that
//! changed and swaps the new numbers in whole, so a check on the dialler's task is one lookup
//! under a read lock and never waits for a million lines to be parsed.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use jiff::Timestamp;
use serde::Serialize;

use crate::phone::{Country, Phone};

/// How often a watched list is looked at: often enough that a number added by hand is honoured
/// within a second, rarely enough that looking costs nothing.
pub const RECHECK: Duration = Duration::from_secs(1);

/// How long a changed file must stay the same before numbers taken off it are released (at
/// least two looks): long enough for a writer that truncates a list and then writes it again.
const SETTLE: Duration = Duration::from_secs(2);

/// Header names of the phone column, most specific first, as in the contacts file (SPEC §3).
const PHONE_HEADERS: [&str; 3] = ["phone", "phone_number", "number"];

/// Skipped lines warned about one by one per read of a file; past this, one line says how many
/// more there are, so a list of a million bad lines does not bury the log.
const WARNED_LINES: usize = 100;

/// The campaign's do-not-call lists, as last read.
pub struct DoNotCall {
    /// The lists as last read. The reloader swaps the whole `Arc` in, so a check holds the lock
    /// only for the time of a clone, never while a file is parsed.
    shown: Arc<RwLock<Arc<Lists>>>,
    /// The thread that re-reads changed files, while the lists are watched.
    reloader: Option<Reloader>,
}

/// What the lists say of one phone at the moment of dialling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// On no list, and every list could be read: the phone may be dialled.
    Clear,
    /// On this list (the first one, in campaign order, when several hold it).
    Listed(PathBuf),
    /// A list cannot be read: nobody may be dialled until it can.
    Unreadable(Unreadable),
}

/// A list that cannot be read, why, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub file: PathBuf,
    /// The whole message: the file, what is wrong, what to do.
    pub why: String,
    pub since: Timestamp,
}

/// How many numbers one list gave, and how many of its lines were not phones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListCount {
    pub file: PathBuf,
    pub numbers: usize,
    pub skipped_lines: usize,
}

/// A do-not-call file that cannot be used; at start the campaign must not run without it.
#[derive(Debug, thiserror::Error)]
pub enum SuppressionError {
    #[error(
        "do-not-call file {}: cannot read it ({source}) — check the path in `suppress.files` of the campaign file and that the file is readable",
        .file.display()
    )]
    Read { file: PathBuf, source: io::Error },

    #[error(
        "do-not-call file {}: cannot decode it: {problem} — save it as UTF-8 (or UTF-16 with a byte-order mark)",
        .file.display()
    )]
    Undecodable {
        file: PathBuf,
        problem: &'static str,
    },

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

    #[error("do-not-call lists: cannot start the thread that watches them: {source}")]
    Watch { source: io::Error },
}

impl DoNotCall {
    /// Reads every file once, for a plan: one that is missing, unreadable, undecodable or a CSV
    /// without a phone column is an error naming it, since starting a campaign without its
    /// do-not-call list is never meant.
    pub fn load(
        files: &[PathBuf],
        default_country: Country,
    ) -> Result<DoNotCall, SuppressionError> {
        let reader = Reader::open(files, default_country)?;
        Ok(DoNotCall {
            shown: Arc::new(RwLock::new(reader.lists())),
            reloader: None,
        })
    }

    /// Reads every file as [`DoNotCall::load`] does, then watches them from a thread of their
    /// own, looking at each file `every` interval; the thread ends when this value is dropped.
    pub fn watch(
        files: &[PathBuf],
        default_country: Country,
        every: Duration,
    ) -> Result<DoNotCall, SuppressionError> {
        let reader = Reader::open(files, default_country)?;
        let shown = Arc::new(RwLock::new(reader.lists()));
        let reloader = Reloader::start(reader, shown.clone(), every)?;
        Ok(DoNotCall {
            shown,
            reloader: Some(reloader),
        })
    }

    /// What the lists say of `phone` now.
    pub fn check(&self, phone: &Phone) -> Check {
        let lists = self.current();
        let key = key_of(phone);
        if let Some(list) = lists.0.iter().find(|list| list.holds(key)) {
            return Check::Listed(list.path.clone());
        }
        if let Some(trouble) = lists.0.iter().find_map(|list| list.trouble.clone()) {
            return Check::Unreadable(trouble);
        }
        match &self.reloader {
            Some(reloader) if reloader.has_died() => Check::Unreadable(reloader.death(&lists)),
            _ => Check::Clear,
        }
    }

    /// How many numbers each list gave, in campaign order, for `plan` and the start of a run.
    pub fn counts(&self) -> Vec<ListCount> {
        self.current().0.iter().map(Listing::count).collect()
    }

    fn current(&self) -> Arc<Lists> {
        self.shown
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl fmt::Debug for DoNotCall {
    /// Files and counts only: the numbers themselves do not belong in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut files = f.debug_map();
        for count in self.counts() {
            files.entry(&count.file, &count.numbers);
        }
        files.finish()
    }
}

impl Unreadable {
    /// How long the list has been unreadable at `now` (zero if the clocks disagree).
    pub fn lasted(&self, now: Timestamp) -> Duration {
        Duration::try_from(self.since.duration_until(now)).unwrap_or(Duration::ZERO)
    }
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.why)
    }
}

impl fmt::Display for ListCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} numbers", self.file.display(), self.numbers)?;
        if self.skipped_lines > 0 {
            write!(f, " ({} lines skipped, not phones)", self.skipped_lines)?;
        }
        Ok(())
    }
}

// ---- what a check looks at ------------------------------------------------------------------

/// Every list as last read, in campaign order: what one check looks at.
struct Lists(Vec<Listing>);

/// One list as last read.
#[derive(Clone)]
struct Listing {
    path: PathBuf,
    /// The numbers of the file as last read.
    numbers: Arc<Numbers>,
    /// The numbers before the file last changed, still honoured until the change has settled: a
    /// read in the middle of a rewrite (truncated, half written) must never un-suppress anyone.
    earlier: Option<Arc<Numbers>>,
    /// Set while the file cannot be read.
    trouble: Option<Unreadable>,
}

/// The phones of one read of a file, as E.164 digits, and the lines that were not phones.
#[derive(Default)]
struct Numbers {
    phones: HashSet<u64>,
    skipped: Vec<Skipped>,
}

/// A line of a list that is not a phone, and why.
#[derive(Clone, PartialEq, Eq)]
struct Skipped {
    line: u64,
    why: String,
}

impl Listing {
    fn holds(&self, key: u64) -> bool {
        self.numbers.phones.contains(&key)
            || self
                .earlier
                .as_ref()
                .is_some_and(|earlier| earlier.phones.contains(&key))
    }

    fn count(&self) -> ListCount {
        ListCount {
            file: self.path.clone(),
            numbers: self.numbers.phones.len(),
            skipped_lines: self.numbers.skipped.len(),
        }
    }
}

/// A phone's E.164 digits as one number: E.164 has at most 15 digits and no country code starts
/// with 0, so two phones never share one, and a million of them take 8 MB, not 50.
fn key_of(phone: &Phone) -> u64 {
    phone
        .slug()
        .parse()
        .expect("an E.164 number is at most 15 digits")
}

// ---- reading and re-reading -----------------------------------------------------------------

/// The files and what is known of each: owned by whoever reads them (the start, the reloader).
struct Reader {
    files: Vec<ListFile>,
    country: Country,
}

/// One file and when it was last seen to change.
struct ListFile {
    listing: Listing,
    /// The file's identity when last read; a change in it means "read it again".
    identity: Option<Identity>,
    /// When the file was last read after a change: the change has settled once the file has
    /// stayed the same for [`SETTLE`] since.
    changed_at: Instant,
}

/// What tells, without reading a file, that it may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    len: u64,
    modified: Option<SystemTime>,
    /// Device and inode: a file replaced by a rename is another file, even with the same length
    /// and modification time (as from a backup).
    inode: (u64, u64),
}

impl Reader {
    fn open(paths: &[PathBuf], country: Country) -> Result<Reader, SuppressionError> {
        let files = paths
            .iter()
            .map(|path| ListFile::open(path, country))
            .collect::<Result<_, _>>()?;
        Ok(Reader { files, country })
    }

    fn lists(&self) -> Arc<Lists> {
        Arc::new(Lists(
            self.files.iter().map(|file| file.listing.clone()).collect(),
        ))
    }

    /// Looks at every file, re-reading those that changed. Returns whether anything did.
    fn refresh(&mut self, settle: Duration) -> bool {
        let mut changed = false;
        for file in &mut self.files {
            changed |= file.refresh(self.country, settle);
        }
        changed
    }
}

impl ListFile {
    fn open(path: &Path, country: Country) -> Result<ListFile, SuppressionError> {
        // Identity first: a write racing the read then shows up as a change on the next look.
        let identity = identity_of(path)?;
        let numbers = read_list(path, country)?;
        warn_skipped(path, &numbers.skipped, &[]);
        Ok(ListFile {
            listing: Listing {
                path: path.to_owned(),
                numbers: Arc::new(numbers),
                earlier: None,
                trouble: None,
            },
            identity: Some(identity),
            changed_at: Instant::now(),
        })
    }

    /// Re-reads the file if it changed, or settles its last change. Returns whether what a check
    /// sees changed.
    fn refresh(&mut self, country: Country, settle: Duration) -> bool {
        let path = self.listing.path.clone();
        let identity = match identity_of(&path) {
            Ok(identity) => identity,
            Err(error) => return self.fail(error),
        };
        if Some(identity) == self.identity && self.listing.trouble.is_none() {
            return self.settle(settle);
        }
        match read_list(&path, country) {
            Ok(numbers) => {
                self.take(numbers, identity);
                true
            }
            Err(error) => self.fail(error),
        }
    }

    /// A new read: its numbers, with the earlier ones still honoured until the change settles.
    fn take(&mut self, numbers: Numbers, identity: Identity) {
        let listing = &mut self.listing;
        warn_skipped(&listing.path, &numbers.skipped, &listing.numbers.skipped);
        if listing.earlier.is_none() {
            listing.earlier = Some(listing.numbers.clone());
        }
        if listing.trouble.take().is_some() {
            let file = listing.path.display();
            tracing::warn!(%file, "do-not-call file can be read again; dialling resumes");
        }
        listing.numbers = Arc::new(numbers);
        self.identity = Some(identity);
        self.changed_at = Instant::now();
    }

    /// A file unchanged for `settle` since its last change is taken as written: numbers taken
    /// off it are released.
    fn settle(&mut self, settle: Duration) -> bool {
        if self.listing.earlier.is_none() || self.changed_at.elapsed() < settle {
            return false;
        }
        self.listing.earlier = None;
        let (file, numbers) = (
            self.listing.path.display(),
            self.listing.numbers.phones.len(),
        );
        tracing::info!(%file, numbers, "do-not-call file changed; re-read it");
        true
    }

    /// The file cannot be read: nobody is to be dialled until it can. Said once per episode.
    fn fail(&mut self, error: SuppressionError) -> bool {
        if self.listing.trouble.is_some() {
            return false;
        }
        tracing::info!("{error}");
        self.listing.trouble = Some(Unreadable {
            file: self.listing.path.clone(),
            why: error.to_string(),
            since: Timestamp::now(),
        });
        true
    }
}

fn identity_of(path: &Path) -> Result<Identity, SuppressionError> {
    let meta = std::fs::metadata(path).map_err(|source| SuppressionError::Read {
        file: path.to_owned(),
        source,
    })?;
    Ok(Identity {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode: inode(&meta),
    })
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// Warns about each skipped line not skipped in the read before (by line and reason), so a
/// list re-read every second does not repeat itself.
fn warn_skipped(path: &Path, skipped: &[Skipped], before: &[Skipped]) {
    let file = path.display();
    let mut new = skipped.iter().filter(|s| !before.contains(s));
    for Skipped { line, why } in new.by_ref().take(WARNED_LINES) {
        // The reason, never the text: a near-miss phone number must not reach the log whole.
        tracing::warn!(%file, line, "do-not-call entry skipped: {why}");
    }
    let more = new.count();
    if more > 0 {
        tracing::warn!(%file, "{more} more do-not-call lines skipped, not phones");
    }
}

// ---- the thread that watches ----------------------------------------------------------------

/// The thread that re-reads changed files, off the dialler's task.
struct Reloader {
    /// Dropping it ends the thread: its wait sees the channel closed.
    _stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Reloader {
    fn start(
        mut reader: Reader,
        shown: Arc<RwLock<Arc<Lists>>>,
        every: Duration,
    ) -> Result<Reloader, SuppressionError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let settle = SETTLE.max(every * 2);
        let thread = std::thread::Builder::new()
            .name("do-not-call".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if reader.refresh(settle) {
                        *shown.write().unwrap_or_else(PoisonError::into_inner) = reader.lists();
                    }
                }
            })
            .map_err(|source| SuppressionError::Watch { source })?;
        Ok(Reloader {
            _stop: stop,
            thread,
        })
    }

    /// A reloader that ended on its own has panicked: the lists are no longer watched.
    fn has_died(&self) -> bool {
        self.thread.is_finished()
    }

    /// What a check answers once nobody watches the lists any more: they may have changed.
    fn death(&self, lists: &Lists) -> Unreadable {
        let file = lists
            .0
            .first()
            .map(|list| list.path.clone())
            .unwrap_or_default();
        Unreadable {
            why: format!(
                "do-not-call file {}: the thread that re-reads it has stopped — stop the run and start it again",
                file.display()
            ),
            file,
            since: Timestamp::UNIX_EPOCH,
        }
    }
}

// ---- one read of one file -------------------------------------------------------------------

/// Every phone of one file, in whichever of the two formats it is written.
fn read_list(path: &Path, country: Country) -> Result<Numbers, SuppressionError> {
    let bytes = std::fs::read(path).map_err(|source| SuppressionError::Read {
        file: path.to_owned(),
        source,
    })?;
    let text = decode(&bytes).map_err(|problem| SuppressionError::Undecodable {
        file: path.to_owned(),
        problem,
    })?;
    let text = fold_full_width(text);
    let mut list = Collector::new(country, text.len());
    match first_entry(&text) {
        Some(first) if first.contains(',') => csv_list(&text, b',', path, &mut list)?,
        Some(first) if phone_header(first) => csv_list(&text, b'\t', path, &mut list)?,
        _ => plain_list(&text, &mut list),
    }
    Ok(list.numbers)
}

/// The text of a file: UTF-8, or UTF-8 or UTF-16 (LE or BE) after a byte-order mark. Anything
/// else cannot be read safely: a list read wrongly would suppress nobody.
fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, &'static str> {
    let text = match encoding_rs::Encoding::for_bom(bytes) {
        Some((encoding, bom)) if encoding == encoding_rs::UTF_8 => {
            std::str::from_utf8(&bytes[bom..])
                .map(Cow::Borrowed)
                .map_err(|_| "it starts with a UTF-8 byte-order mark but is not UTF-8")?
        }
        Some((encoding, bom)) => encoding
            .decode_without_bom_handling_and_without_replacement(&bytes[bom..])
            .ok_or("it starts with a UTF-16 byte-order mark but is not UTF-16")?,
        None => std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|_| "it is not UTF-8, nor UTF-16 with a byte-order mark")?,
    };
    if text.contains('\0') {
        return Err("it holds NUL characters (UTF-16 without a byte-order mark?)");
    }
    Ok(text)
}

/// Full-width forms (U+FF01–U+FF5E, and the ideographic space) as the ASCII they stand for, as
/// Unicode NFKC folds them: `＋１ ４１５` is `+1 415`.
fn fold_full_width(text: Cow<'_, str>) -> Cow<'_, str> {
    if text.is_ascii() {
        return text;
    }
    let folded = text
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect();
    Cow::Owned(folded)
}

/// The phones of one read and the lines that were not phones.
struct Collector {
    country: Country,
    /// The default country is NANP's: ten plain digits are a national number under `+1`.
    national_nanp: bool,
    numbers: Numbers,
}

impl Collector {
    fn new(country: Country, bytes: usize) -> Collector {
        Collector {
            country,
            national_nanp: matches!(country.code(), "US" | "CA"),
            numbers: Numbers {
                // About 13 bytes a line: room enough that a big list is not rehashed as it grows.
                phones: HashSet::with_capacity(bytes / 13),
                skipped: Vec::new(),
            },
        }
    }

    /// One entry: the fast reading when it is plainly a NANP number, else the phone parser's.
    fn add(&mut self, line: u64, written: &str) {
        let key = match plain_nanp(written, self.national_nanp) {
            Some(key) => key,
            None => match Phone::parse_listed(written, self.country) {
                Ok(phone) => key_of(&phone),
                Err(error) => {
                    let why = error.to_string();
                    return self.numbers.skipped.push(Skipped { line, why });
                }
            },
        };
        self.numbers.phones.insert(key);
    }
}

/// The E.164 digits of a number written plainly in NANP form (`+1 415 555 2671`,
/// `(415) 555-2671`, `1.415.555.2671` when `national`): digits, an opening `+`, and spaces,
/// dashes, dots and brackets, with an area code and exchange that start with 2–9. Anything
/// else is `None`, for the phone parser to read. The phone parser takes such a line as the
/// same number (a test compares the two). This reading does not ask whether the number is
/// valid, which costs most of the parser's time and does not matter here: an entry that is not
/// a valid number never equals the valid phone of a contact.
fn plain_nanp(written: &str, national: bool) -> Option<u64> {
    const NANP: u64 = 10_000_000_000;
    let (international, digits) = match written.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, written),
    };
    if !international && !national {
        return None;
    }
    let (mut value, mut count) = (0_u64, 0_u32);
    for byte in digits.bytes() {
        match byte {
            b'0'..=b'9' if count < 11 => {
                value = value * 10 + u64::from(byte - b'0');
                count += 1;
            }
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            _ => return None,
        }
    }
    let subscriber = match count {
        11 if value / NANP == 1 => value - NANP,
        10 if !international => value,
        _ => return None,
    };
    let area_code_lead = subscriber / 1_000_000_000;
    let exchange_lead = subscriber / 1_000_000 % 10;
    (area_code_lead >= 2 && exchange_lead >= 2).then_some(NANP + subscriber)
}

/// The text of a line of the one-phone-per-line format: before any comment, and before a tab
/// (what follows is another column, such as a name).
fn entry(line: &str) -> &str {
    let before_comment = line.split('#').next().unwrap_or_default();
    before_comment.split('\t').next().unwrap_or_default().trim()
}

/// The first line that is neither blank nor a comment, whole (a header's tabs included).
fn first_entry(text: &str) -> Option<&str> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .find(|line| !line.is_empty())
}

/// A header names a phone column: a one-column CSV whose header is just `phone` has no comma,
/// and a tab-separated one has none either.
fn phone_header(line: &str) -> bool {
    let mut cells = line
        .split([',', '\t'])
        .map(|c| c.trim().trim_matches('"').trim());
    cells.any(|cell| PHONE_HEADERS.iter().any(|h| cell.eq_ignore_ascii_case(h)))
}

fn plain_list(text: &str, list: &mut Collector) {
    for (number, line) in (1..).zip(text.lines()) {
        let written = entry(line);
        if !written.is_empty() {
            list.add(number, written);
        }
    }
}

/// A CSV list: the phone column of every row after the header.
fn csv_list(
    text: &str,
    delimiter: u8,
    path: &Path,
    list: &mut Collector,
) -> Result<(), SuppressionError> {
    let (body, origin) = csv_body(text);
    // Line `n` of the body is line `origin[n - 1]` of the file.
    let file_line = |position: Option<&csv::Position>| {
        let index = position.and_then(|p| usize::try_from(p.line()).ok()?.checked_sub(1));
        index.and_then(|i| origin.get(i)).copied().unwrap_or(0)
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body.as_bytes());
    let headers = header_cells_of(&mut reader);
    let Some(column) = phone_column(&headers) else {
        let line = origin.first().copied().unwrap_or(1);
        let file = path.to_owned();
        return Err(SuppressionError::NoPhoneColumn {
            file,
            line,
            headers,
        });
    };
    let mut row = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut row) {
            Ok(false) => return Ok(()),
            Ok(true) => list.add(
                file_line(row.position()),
                row.get(column).unwrap_or_default(),
            ),
            Err(error) => list.numbers.skipped.push(Skipped {
                line: file_line(error.position()),
                why: format!("not readable as CSV: {error}"),
            }),
        }
    }
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A line as people write NANP numbers: optional `+1`/`1`, punctuation between the groups,
    /// any digits (so also area codes and exchanges that start with 0 or 1).
    fn spelling() -> impl Strategy<Value = String> {
        let prefix = prop::sample::select(vec!["", "+1", "+1 ", "1 ", "1-", "+", "+ 1 ", "(1) "]);
        let sep = prop::sample::select(vec!["", " ", "-", ".", ") ", "("]);
        (
            prefix,
            "[0-9]{3}",
            sep.clone(),
            "[0-9]{3}",
            sep,
            "[0-9]{4}",
            "[0-9]{0,2}",
        )
            .prop_map(|(p, a, s1, b, s2, c, tail)| format!("{p}{a}{s1}{b}{s2}{c}{tail}"))
    }

    proptest! {
        /// The fast reading agrees with the phone parser: whenever the parser reads a phone,
        /// the fast reading gives those digits or leaves the line to the parser. Where the
        /// parser refuses an odd spelling of plain NANP digits (`+120-12000000`), the fast
        /// reading holds exactly the digits written: a list then suppresses more, never less.
        #[test]
        fn the_fast_reading_agrees_with_the_phone_parser(line in spelling()) {
            let country = Country::default();
            let fast = plain_nanp(&line, true);
            match (Phone::parse_listed(&line, country), fast) {
                (Ok(phone), Some(key)) => prop_assert_eq!(key, key_of(&phone), "{}", line),
                (Err(_), Some(key)) => {
                    let digits: String = line.chars().filter(char::is_ascii_digit).collect();
                    let written = if digits.len() == 10 { format!("1{digits}") } else { digits };
                    prop_assert_eq!(key.to_string(), written, "{}", line);
                }
                (_, None) => {}
            }
        }
    }

    /// The spelling the proptest above once shrank to: the parser refuses it, and the fast
    /// reading holds the digits as written, so the list suppresses them.
    #[test]
    fn an_odd_spelling_the_parser_refuses_is_held_as_written() {
        let line = "+120-12000000";
        assert!(Phone::parse_listed(line, Country::default()).is_err());
        assert_eq!(plain_nanp(line, true), Some(12_012_000_000));
    }

    /// Outside NANP countries, ten plain digits are not a `+1` number.
    #[test]
    fn national_digits_are_read_fast_only_for_nanp_countries() {
        assert_eq!(plain_nanp("4155552671", true), Some(14_155_552_671));
        assert_eq!(plain_nanp("4155552671", false), None);
        assert_eq!(plain_nanp("+1 415 555 2671", false), Some(14_155_552_671));
    }
}
