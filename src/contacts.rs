//! The contacts CSV (SPEC §3), streamed row by row into [`Contact`]s.
//!
//! A campaign's contact list may be far larger than memory, so [`ContactReader`] holds one row at a
//! time and remembers nothing about the rows it has yielded (duplicates are the journal's business).
//! A row that cannot become a contact is a [`Rejected`] value, never an error: one bad phone number
//! must not stop a campaign. Only a file that cannot be read as CSV at all is a [`ContactsError`].
//!
//! Files arrive as spreadsheets save them: `,`, `;` or tab between cells (detected from the header
//! line, or given as [`ContactsFormat::delimiter`]), UTF-8, UTF-16 with a byte order mark, or a
//! legacy encoding such as Windows-1252 named by [`ContactsFormat::encoding`]. Decoding streams
//! (encoding_rs_io), so memory still does not grow with the file.
//!
//! [`check`] reads a whole file as CSV without reading any phone, at about the disk's speed, and
//! fingerprints it ([`identity`]) on the way. A UTF-8 file can be read on from a [`ReadMark`]
//! ([`ContactReader::open_at`]), so that a resumed run does not read again what it has.

mod identity;

pub use identity::{FileIdentity, Stat};

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::iter::FusedIterator;
use std::mem;
use std::path::{Path, PathBuf};

use csv::{ByteRecord, StringRecord};
use encoding_rs_io::{DecodeReaderBytes, DecodeReaderBytesBuilder};
use serde::{Deserialize, Serialize};

use crate::area_codes::Region;
use crate::phone::{Country, Phone};
use identity::{Fingerprint, Fingerprinted};

/// The largest cell accepted. Real cells are short; a bigger one is almost always an unclosed quote
/// that swallowed the rest of the file, which must be a clear error rather than a silent, huge
/// custom variable.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// The most bytes one row may span. The csv parser buffers a whole row before it can be checked
/// against [`MAX_FIELD_BYTES`], so without this bound a runaway field would be read into memory
/// entire. It leaves room for a couple of hundred cells of the largest size.
pub const MAX_ROW_BYTES: u64 = 16 * 1024 * 1024;

/// How many characters of a cell a rejection quotes: enough to find the row, never a whole blob.
const EXCERPT_CHARS: usize = 40;

/// Header names of the phone column, most specific first, as [`header_key`] spells them (case,
/// spaces, `_`, `-` and `.` ignored): `Phone Number`, `phone_number` and `PHONE-NUMBER` are one
/// name. When a file has both `phone` and `number` (an account number, say), `phone` holds the
/// phones and `number` is a custom variable.
pub const PHONE_HEADERS: [&str; 13] = [
    "phone",
    "phonenumber",
    "phoneno",
    "mobile",
    "mobilephone",
    "mobilenumber",
    "cell",
    "cellphone",
    "cellnumber",
    "telephone",
    "telephonenumber",
    "tel",
    "number",
];

/// The delimiters detected from the header line, the most usual first (it wins a tie).
const DETECTED_DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How much of the file is read to find the header line's delimiter: a header row is far shorter.
const HEADER_PEEK_BYTES: usize = 64 * 1024;

/// The longest header that is quoted back in an error. A longer "header" is not a column name,
/// and the file it comes from may be anything, so it is not echoed.
const MAX_HEADER_CHARS: usize = 64;

/// How the contacts file is written; each part is detected when not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContactsFormat {
    /// `None`: the one of `,` `;` tab `|` that the header line uses most (`,` if none).
    pub delimiter: Option<Delimiter>,
    /// `None`: UTF-8, or UTF-16 LE/BE or UTF-8 when the file starts with that byte order mark.
    pub encoding: Option<Encoding>,
}

/// The byte between cells: one ASCII character that is not a letter, digit, quote or newline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiter(u8);

impl Delimiter {
    /// From a campaign file's spelling: the character itself, or `tab` / `\t` for a tab.
    pub fn parse(written: &str) -> Result<Delimiter, String> {
        let byte = match written {
            "tab" | "\\t" | "\t" => b'\t',
            one if one.len() == 1 => one.as_bytes()[0],
            _ => 0,
        };
        let usable = byte == b'\t' || (byte.is_ascii_punctuation() && byte != b'"') || byte == b' ';
        match usable {
            true => Ok(Delimiter(byte)),
            false => Err(format!(
                "must be one character such as \",\", \";\", \"|\" or \"tab\", not \"{}\"",
                excerpt(written)
            )),
        }
    }

    fn byte(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            b'\t' => f.write_str("tab"),
            byte => write!(f, "{}", char::from(byte)),
        }
    }
}

/// A text encoding other than UTF-8, by its WHATWG label (`windows-1252`, `latin1`, `utf-16le`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding(&'static encoding_rs::Encoding);

impl Encoding {
    pub fn parse(label: &str) -> Result<Encoding, String> {
        encoding_rs::Encoding::for_label(label.trim().as_bytes())
            .map(Encoding)
            .ok_or_else(|| {
                format!(
                    "is not an encoding outdial knows (\"{}\"): use a label such as \"utf-8\", \"windows-1252\" or \"utf-16le\"",
                    excerpt(label)
                )
            })
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

/// The contacts file of a campaign: where it is and how it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactsFile {
    pub path: PathBuf,
    pub format: ContactsFormat,
}

impl From<&Path> for ContactsFile {
    fn from(path: &Path) -> Self {
        ContactsFile {
            path: path.to_owned(),
            format: ContactsFormat::default(),
        }
    }
}

impl From<&PathBuf> for ContactsFile {
    fn from(path: &PathBuf) -> Self {
        ContactsFile::from(path.as_path())
    }
}

impl From<&ContactsFile> for ContactsFile {
    fn from(file: &ContactsFile) -> Self {
        file.clone()
    }
}

/// One person to call, as read from one CSV row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub phone: Phone,
    /// Trimmed; `""` when the file has no `name` column or the cell is empty (Synthflow requires a
    /// name, so the caller decides what to send).
    pub name: String,
    /// 1-based line where the row starts (the header is usually line 1), for messages and exports.
    pub line: u64,
    /// From a `timezone` column: a known IANA zone, in its canonical spelling. Overrides the zones
    /// the area code implies.
    pub time_zone: Option<String>,
    /// From a `region` column, in `US-CA` form. Overrides the region the area code implies.
    pub region: Option<Region>,
    /// Every other column with a non-empty header, in header order, empty values included, so the
    /// agent's prompt variables are always defined.
    pub custom_variables: Vec<CustomVariable>,
}

/// One `custom_variables` entry of a call: a column header and this row's cell, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomVariable {
    pub key: String,
    pub value: String,
}

/// A row that cannot become a contact; never stops the campaign.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub line: u64,
    /// The phone cell as written, trimmed, at most 40 characters, to show the user which row.
    pub written: String,
    pub reason: String,
    /// The row's name and own columns, so an export still joins it back to its source.
    pub name: String,
    pub custom_variables: Vec<CustomVariable>,
}

/// What one data row of the file is.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    Contact(Contact),
    Rejected(Rejected),
}

/// A column, as error messages name it: `column 3 (email)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// 1-based, as spreadsheets count.
    pub number: usize,
    /// `None` for a column beyond the header or with an empty header.
    pub header: Option<String>,
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.header {
            Some(header) => write!(f, "column {} ({header})", self.number),
            None => write!(f, "column {}", self.number),
        }
    }
}

/// A contacts file that cannot be read as CSV at all (exit code 2 upstream). Every variant names the
/// file and, where it applies, line and column, and its message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ContactsError {
    #[error("contacts file {}: cannot open it — check the `contacts` path in the campaign file", .file.display())]
    Open { file: PathBuf, source: io::Error },

    #[error("contacts file {}, line {line}: reading failed — check that the file is readable and run again", .file.display())]
    Read {
        file: PathBuf,
        line: u64,
        source: io::Error,
    },

    /// A FIFO, a device or a directory: reading it could block forever or never end.
    #[error("contacts file {} is not a regular file (a pipe, a device or a folder) — point `contacts` at a saved CSV file", .file.display())]
    NotAFile { file: PathBuf },

    #[error("contacts file {} is empty — it needs a header row naming a `phone` column, then one row per contact", .file.display())]
    Empty { file: PathBuf },

    /// The first line is no header row (binary data, a PDF, a TOML file…). Its content is never
    /// quoted: the file may be anything, secrets included.
    #[error("contacts file {}, line {line}: this does not look like a contacts CSV (its first line is not a row of column names) — check the `contacts` path in the campaign file", .file.display())]
    NotContacts { file: PathBuf, line: u64 },

    /// The header row holds another delimiter than the one it was split on.
    #[error("contacts file {}, line {line}: the header row is not split by \"{used}\" but looks \"{seen}\"-separated — set `contacts_delimiter = \"{seen}\"` in the campaign file (or remove the key to detect it)", .file.display())]
    WrongDelimiter {
        file: PathBuf,
        line: u64,
        used: Delimiter,
        seen: Delimiter,
    },

    #[error("contacts file {}, line {line}: no phone column among {} — name the column of phone numbers `phone` (or `Phone Number`, `Mobile`, `Cell`, `Tel`, `Telephone`, `number`)", .file.display(), quoted_list(.headers))]
    NoPhoneColumn {
        file: PathBuf,
        line: u64,
        /// The (trimmed, non-empty) header names that were found.
        headers: Vec<String>,
    },

    #[error("contacts file {} has a header row but no contacts — add one row per contact under the header", .file.display())]
    NoContacts { file: PathBuf },

    #[error("contacts file {}, line {line}, {column}: not valid UTF-8 — save the file as UTF-8, or name its encoding with `contacts_encoding = \"windows-1252\"` (say) in the campaign file", .file.display())]
    NotUtf8 {
        file: PathBuf,
        line: u64,
        column: Column,
    },

    /// A CSV error other than I/O. The parser takes any bytes (a stray quote becomes cell content),
    /// so none is known to occur; the variant keeps a future one from being a panic or a skip.
    #[error("contacts file {}, line {line}: not readable as CSV ({detail}) — fix that row and run again", .file.display())]
    Malformed {
        file: PathBuf,
        line: u64,
        detail: String,
    },

    #[error("contacts file {}, line {line}: a quote (\") opened on this row is never closed, so the rest of the file would be read as one cell — close the quote and run again", .file.display())]
    UnclosedQuote { file: PathBuf, line: u64 },

    #[error("contacts file {}, line {line}, {column}: a cell larger than 64 KiB — is a quote (\") left unclosed? Fix that row and run again", .file.display())]
    FieldTooLarge {
        file: PathBuf,
        line: u64,
        column: Column,
    },

    /// A row past [`MAX_ROW_BYTES`], stopped before it is all in memory; `line` is where it starts.
    #[error("contacts file {}, line {line}: a row larger than 16 MiB — is a quote (\") left unclosed? Fix that row and run again", .file.display())]
    RowTooLarge { file: PathBuf, line: u64 },
}

fn quoted_list(headers: &[String]) -> String {
    if headers.is_empty() {
        return "the header row (it names no columns)".to_owned();
    }
    let quoted: Vec<String> = headers.iter().map(|h| format!("\"{h}\"")).collect();
    format!("the headers {}", quoted.join(", "))
}

/// Streams a contacts CSV: memory does not grow with the number of rows.
///
/// Yields one [`Row`] per data row, blank rows skipped. After the first `Err` the reader is
/// finished, since what follows a broken row cannot be trusted to be rows at all.
pub struct ContactReader<R: Read> {
    records: Records<R>,
    columns: Columns,
    defaults: Defaults,
    /// Whether a data row has been yielded: a file with none is [`ContactsError::NoContacts`].
    rows_seen: bool,
    finished: bool,
}

impl ContactReader<File> {
    /// Opens the file and reads its header row. Anything but a regular file is refused before it
    /// is opened: opening a FIFO waits for a writer, and reading a device may never end.
    pub fn open(
        file: impl Into<ContactsFile>,
        default_country: Country,
    ) -> Result<Self, ContactsError> {
        let ContactsFile { path, format } = file.into();
        let open_error = |source| ContactsError::Open {
            file: path.clone(),
            source,
        };
        if !std::fs::metadata(&path).map_err(open_error)?.is_file() {
            return Err(ContactsError::NotAFile { file: path });
        }
        let mut reader = File::open(&path).map_err(open_error)?;
        let origin = raw_origin(&mut reader, format).map_err(open_error)?;
        let mut contacts = Self::with_format(reader, &path, default_country, format)?;
        contacts.records.origin_byte = origin;
        Ok(contacts)
    }

    /// Opens the file, reads its header row, and reads on from `mark` (taken from
    /// [`ContactReader::resume_point`] on the same file): the rows before it are not read again.
    pub fn open_at(
        file: impl Into<ContactsFile>,
        default_country: Country,
        mark: ReadMark,
    ) -> Result<Self, ContactsError> {
        let file = file.into();
        let mut contacts = Self::open(&file, default_country)?;
        let header_end = contacts.resume_point();
        if header_end.is_none_or(|end| end.byte > mark.byte) {
            return Ok(contacts); // transcoded, or a mark inside the header: read it all
        }
        let read_error = |source| ContactsError::Read {
            file: file.path.clone(),
            line: mark.line,
            source,
        };
        let mut rest = File::open(&file.path).map_err(read_error)?;
        rest.seek(SeekFrom::Start(mark.byte)).map_err(read_error)?;
        contacts.records = contacts.records.read_on(rest, mark);
        contacts.rows_seen = true;
        Ok(contacts)
    }
}

/// Checks the whole contacts file as CSV — framing, encoding, cell and row sizes, the header —
/// without reading any phone, and fingerprints it in the same read. The phones are read where
/// they are used, when a row is admitted; a bad phone is a rejected row there, never a fault of
/// the file.
pub fn check(file: impl Into<ContactsFile>) -> Result<Checked, ContactsError> {
    let ContactsFile { path, format } = file.into();
    let open_error = |source| ContactsError::Open {
        file: path.clone(),
        source,
    };
    let metadata = std::fs::metadata(&path).map_err(open_error)?;
    if !metadata.is_file() {
        return Err(ContactsError::NotAFile { file: path });
    }
    let mut print = Fingerprint::default();
    let inner = File::open(&path).map_err(open_error)?;
    let reader = Fingerprinted {
        inner,
        print: &mut print,
    };
    let mut contacts = ContactReader::with_format(reader, &path, Country::default(), format)?;
    let mut rows = 0;
    while contacts.records.advance()?.is_some() {
        rows += 1;
    }
    drop(contacts);
    if rows == 0 {
        return Err(ContactsError::NoContacts { file: path });
    }
    let after = Stat::read(&path).map_err(open_error)?;
    Ok(Checked {
        rows,
        identity: print.identity(Stat::of(&metadata), after),
    })
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// Data rows, blank rows not counted.
    pub rows: u64,
    /// `None` when the file changed while it was read.
    pub identity: Option<FileIdentity>,
}

/// Where a row starts in the contacts file: the byte offset of its first byte in the file (byte
/// order mark included) and its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadMark {
    pub byte: u64,
    pub line: u64,
}

/// The file offset of the text's first byte, after any UTF-8 byte order mark; `None` when the
/// text is transcoded (UTF-16, a legacy encoding), whose offsets are not the file's.
fn raw_origin(file: &mut File, format: ContactsFormat) -> io::Result<Option<u64>> {
    let mut head = Vec::with_capacity(BOM.len());
    file.by_ref()
        .take(BOM.len() as u64)
        .read_to_end(&mut head)?;
    file.rewind()?;
    let origin = match format.encoding {
        _ if head.starts_with(BOM) => Some(BOM.len() as u64),
        _ if head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff") => None,
        Some(encoding) if encoding.0 != encoding_rs::UTF_8 => None,
        _ => Some(0),
    };
    Ok(origin)
}

impl<R: Read> ContactReader<R> {
    /// Reads the header row from `reader`, detecting its format; `source` names the file in
    /// error messages.
    pub fn from_reader(
        reader: R,
        source: &Path,
        default_country: Country,
    ) -> Result<Self, ContactsError> {
        Self::with_format(reader, source, default_country, ContactsFormat::default())
    }

    /// Reads the header row from `reader` written in `format`.
    pub fn with_format(
        reader: R,
        source: &Path,
        default_country: Country,
        format: ContactsFormat,
    ) -> Result<Self, ContactsError> {
        let mut records = Records::new(reader, source, format)?;
        let Some(line) = records.advance()? else {
            return Err(ContactsError::Empty {
                file: source.to_owned(),
            });
        };
        records.headers = header_names(&records.cells);
        let columns =
            Columns::find(&records.headers).ok_or_else(|| records.no_phone_column(line))?;
        tracing::debug!(
            file = %source.display(),
            phone = %records.headers[columns.phone],
            custom_variables = columns.custom.len(),
            "contacts header read"
        );
        Ok(ContactReader {
            records,
            columns,
            defaults: Defaults::new(default_country),
            rows_seen: false,
            finished: false,
        })
    }

    /// Where the next row starts, for [`ContactReader::open_at`]; `None` for a transcoded file.
    pub fn resume_point(&self) -> Option<ReadMark> {
        let records = &self.records;
        Some(ReadMark {
            byte: records.origin_byte? + records.csv.position().byte(),
            line: records.line_here(),
        })
    }

    fn next_row(&mut self) -> Result<Option<Row>, ContactsError> {
        let Some(line) = self.records.advance()? else {
            if self.rows_seen {
                return Ok(None);
            }
            return Err(ContactsError::NoContacts {
                file: self.records.file.clone(),
            });
        };
        self.rows_seen = true;
        Ok(Some(self.columns.row(
            &self.records.cells,
            line,
            &self.defaults,
        )))
    }
}

impl<R: Read> Iterator for ContactReader<R> {
    type Item = Result<Row, ContactsError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let item = self.next_row().transpose();
        self.finished = !matches!(item, Some(Ok(_)));
        item
    }
}

impl<R: Read> FusedIterator for ContactReader<R> {}

/// The file's text as UTF-8: the peeked head (to find the delimiter) and then the rest, decoded.
type Decoded<R> = io::Chain<Cursor<Vec<u8>>, DecodeReaderBytes<R, Vec<u8>>>;

/// The CSV layer: rows of UTF-8 cells with exact line numbers, and the fatal errors of reading them.
struct Records<R> {
    csv: csv::Reader<Source<Decoded<R>>>,
    delimiter: Delimiter,
    /// The current row, reused for every row (its buffers keep their capacity), so reading a row
    /// allocates only what the yielded [`Row`] owns.
    cells: StringRecord,
    /// Names the file in errors.
    file: PathBuf,
    /// Trimmed header names, to name columns in errors; empty while the header itself is read.
    headers: Vec<String>,
    /// The file offset of the parser's first byte; `None` when the text is transcoded.
    origin_byte: Option<u64>,
    /// The line of the parser's first byte.
    origin_line: u64,
}

impl<R: Read> Records<R> {
    fn new(reader: R, file: &Path, format: ContactsFormat) -> Result<Self, ContactsError> {
        let mut text = DecodeReaderBytesBuilder::new()
            .encoding(format.encoding.map(|e| e.0))
            // A byte order mark says more than a setting: it wins over a named encoding.
            .bom_override(true)
            .strip_bom(true)
            // UTF-8 is checked cell by cell (`decode`), which names the line of a bad byte.
            .utf8_passthru(true)
            .build(reader);
        let head = peek_header(&mut text).map_err(|source| ContactsError::Read {
            file: file.to_owned(),
            line: 1,
            source,
        })?;
        let delimiter = format.delimiter.unwrap_or_else(|| detect_delimiter(&head));
        Ok(Records {
            csv: parser(Cursor::new(head).chain(text), delimiter),
            delimiter,
            cells: StringRecord::new(),
            file: file.to_owned(),
            headers: Vec::new(),
            origin_byte: None,
            origin_line: 1,
        })
    }

    /// The same file's records, read on from `rest`, a reader of its UTF-8 bytes from `mark`.
    fn read_on(self, rest: R, mark: ReadMark) -> Records<R> {
        let text = DecodeReaderBytesBuilder::new()
            .utf8_passthru(true)
            .bom_sniffing(false)
            .build(rest);
        Records {
            csv: parser(Cursor::new(Vec::new()).chain(text), self.delimiter),
            origin_byte: Some(mark.byte),
            origin_line: mark.line,
            ..self
        }
    }

    /// The line the parser is on.
    fn line_here(&self) -> u64 {
        self.origin_line - 1 + self.csv.position().line()
    }

    /// Why the header row names no phone column: not a header row at all (nothing quoted), another
    /// delimiter, or (only then, with the headers quoted) no column of a phone name.
    fn no_phone_column(&self, line: u64) -> ContactsError {
        let file = self.file.clone();
        if !self.headers.iter().all(|h| is_plausible_header(h)) {
            return ContactsError::NotContacts { file, line };
        }
        let used = self.delimiter;
        let seen = DETECTED_DELIMITERS
            .into_iter()
            .filter(|&d| d != used.byte())
            .find(|&d| self.headers.iter().any(|h| h.as_bytes().contains(&d)));
        match seen {
            Some(seen) => ContactsError::WrongDelimiter {
                file,
                line,
                used,
                seen: Delimiter(seen),
            },
            None => ContactsError::NoPhoneColumn {
                file,
                line,
                headers: self
                    .headers
                    .iter()
                    .filter(|h| !h.is_empty())
                    .cloned()
                    .collect(),
            },
        }
    }

    /// Reads up to the next row that is not blank; returns its line, or `None` at the end.
    ///
    /// Rows whose cells are all empty are skipped like empty lines: spreadsheets export trailing
    /// `,,,` rows, and they hold no contact to report on.
    fn advance(&mut self) -> Result<Option<u64>, ContactsError> {
        while let Some(line) = self.read_record()? {
            if !self.cells.iter().all(|cell| cell.trim().is_empty()) {
                return Ok(Some(line));
            }
        }
        Ok(None)
    }

    /// Reads one CSV record into `cells`; returns its line, or `None` at the end.
    fn read_record(&mut self) -> Result<Option<u64>, ContactsError> {
        let mut record = mem::take(&mut self.cells).into_byte_record();
        let line_before = self.line_here();
        match self.csv.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(error) => return Err(self.csv_error(error, line_before)),
        }
        let line = self.start_line(&record);
        let next_row_start = self.csv.position().byte();
        // A quote left open swallows everything after it into the file's last record, which
        // the parser accepts; only the record's raw bytes can tell.
        let source = self.csv.get_ref();
        if source.ends_at(next_row_start) && source.row_has_open_quote() {
            return Err(ContactsError::UnclosedQuote {
                file: self.file.clone(),
                line,
            });
        }
        self.csv.get_mut().allow_row_from(next_row_start);
        self.check_sizes(&record, line)?;
        self.cells = self.decode(record, line)?;
        Ok(Some(line))
    }

    /// The line on which the record just read starts.
    ///
    /// The parser's own record position is the line after the previous record, which is wrong
    /// after skipped empty lines. Instead, count back from the parser's current line (one more than
    /// the newlines consumed) over the newlines inside the record's quoted cells and the newline
    /// that ended it, if the file did not end it.
    fn start_line(&self, record: &ByteRecord) -> u64 {
        let inside = record.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
        let ending = u64::from(!self.csv.get_ref().ends_at(self.csv.position().byte()));
        self.line_here().saturating_sub(inside + ending).max(1)
    }

    fn check_sizes(&self, record: &ByteRecord, line: u64) -> Result<(), ContactsError> {
        match record.iter().position(|cell| cell.len() > MAX_FIELD_BYTES) {
            Some(index) => Err(ContactsError::FieldTooLarge {
                file: self.file.clone(),
                line,
                column: self.column(index),
            }),
            None => Ok(()),
        }
    }

    /// Checks the record is UTF-8 once, in place, without copying it.
    fn decode(&self, record: ByteRecord, line: u64) -> Result<StringRecord, ContactsError> {
        StringRecord::from_byte_record(record).map_err(|error| ContactsError::NotUtf8 {
            file: self.file.clone(),
            line,
            column: self.column(error.utf8_error().field()),
        })
    }

    fn column(&self, index: usize) -> Column {
        Column {
            number: index + 1,
            header: self.headers.get(index).filter(|h| !h.is_empty()).cloned(),
        }
    }

    /// `line` is where the failed read began: the parser's position is mid-row by now.
    fn csv_error(&self, error: csv::Error, line: u64) -> ContactsError {
        let file = self.file.clone();
        let detail = error.to_string();
        match error.into_kind() {
            csv::ErrorKind::Io(source) if is_over_budget(&source) => {
                ContactsError::RowTooLarge { file, line }
            }
            csv::ErrorKind::Io(source) => ContactsError::Read { file, line, source },
            _ => ContactsError::Malformed { file, line, detail },
        }
    }
}

/// The CSV parser over the file's text, reading rows split by `delimiter`.
fn parser<R: Read>(text: Decoded<R>, delimiter: Delimiter) -> csv::Reader<Source<Decoded<R>>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter.byte())
        // `\n` alone ends a row (a CRLF row's `\r` is dropped by `cell`): the parser then
        // consumes each row's newline with the row, which `start_line` relies on.
        .terminator(csv::Terminator::Any(b'\n'))
        // Fewer, larger reads: the whole-file check runs at the disk's speed.
        .buffer_capacity(256 * 1024)
        .from_reader(Source::new(text, delimiter))
}

/// The cell at `index`, `""` past the end of a short row. A CRLF row's last cell keeps its `\r`
/// from the parser (only `\n` ends rows, see [`Records::new`]); it is dropped here.
fn cell(cells: &StringRecord, index: usize) -> &str {
    let value = cells.get(index).unwrap_or("");
    if index + 1 == cells.len() {
        value.strip_suffix('\r').unwrap_or(value)
    } else {
        value
    }
}

/// Header names are matched trimmed (the parser has removed any byte order mark, see
/// [`Source::read_start`]).
fn header_names(cells: &StringRecord) -> Vec<String> {
    (0..cells.len())
        .map(|index| cell(cells, index).trim().to_owned())
        .collect()
}

/// A header as it is matched: lower case, without spaces, `_`, `-` or `.`, so that `Phone Number`,
/// `phone_number` and `PHONE-NUMBER` are one name.
fn header_key(header: &str) -> String {
    header
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `header` can be a column name worth quoting back: short, printable, and not the first
/// line of another kind of file (a TOML `key = value` or `[table]`, a `#` comment, a PDF's `%PDF`,
/// markup, JSON).
fn is_plausible_header(header: &str) -> bool {
    header.chars().count() <= MAX_HEADER_CHARS
        && !header
            .chars()
            .any(|c| (c.is_control() && c != '\t') || c == char::REPLACEMENT_CHARACTER || c == '=')
        && !header.starts_with(['#', '%', '[', '{', '<'])
}

/// Reads the start of the text, up to the end of its first line (or [`HEADER_PEEK_BYTES`]).
fn peek_header(text: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut chunk = [0; 4096];
    while head.len() < HEADER_PEEK_BYTES && !head.contains(&b'\n') {
        match text.read(&mut chunk) {
            Ok(0) => break,
            Ok(read) => head.extend_from_slice(&chunk[..read]),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(head)
}

/// The delimiter the header line uses most, counting only outside quotes; `,` when none is used.
fn detect_delimiter(head: &[u8]) -> Delimiter {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut counts = [0usize; DETECTED_DELIMITERS.len()];
    let mut quoted = false;
    for &byte in line {
        quoted ^= byte == b'"';
        if let Some(i) = DETECTED_DELIMITERS
            .iter()
            .position(|&d| d == byte && !quoted)
        {
            counts[i] += 1;
        }
    }
    let best = (0..counts.len())
        .rev()
        .max_by_key(|&i| counts[i])
        .filter(|&i| counts[i] > 0)
        .unwrap_or(0);
    Delimiter(DETECTED_DELIMITERS[best])
}

/// Which column plays which part, found once from the header row.
#[derive(Debug)]
struct Columns {
    phone: usize,
    name: Option<usize>,
    time_zone: Option<usize>,
    region: Option<usize>,
    /// Every other column with a non-empty header: its index and its key.
    custom: Vec<(usize, String)>,
}

impl Columns {
    /// `None` when no column holds phones. Of repeated headers the first counts; the others are
    /// custom variables.
    fn find(headers: &[String]) -> Option<Columns> {
        let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
        let named = |name: &str| keys.iter().position(|key| key == name);
        let phone = PHONE_HEADERS.into_iter().find_map(named)?;
        let (name, time_zone, region) = (named("name"), named("timezone"), named("region"));
        let roles = [Some(phone), name, time_zone, region];
        let custom = headers
            .iter()
            .enumerate()
            .filter(|&(index, header)| !header.is_empty() && !roles.contains(&Some(index)))
            .map(|(index, header)| (index, header.clone()))
            .collect();
        Some(Columns {
            phone,
            name,
            time_zone,
            region,
            custom,
        })
    }

    fn row(&self, cells: &StringRecord, line: u64, defaults: &Defaults) -> Row {
        let written = cell(cells, self.phone).trim();
        match self.contact(cells, written, line, defaults) {
            Ok(contact) => Row::Contact(contact),
            Err(reason) => Row::Rejected(Rejected {
                line,
                written: excerpt(written),
                reason,
                name: self.name.map_or("", |i| cell(cells, i).trim()).to_owned(),
                custom_variables: self.custom_variables(cells),
            }),
        }
    }

    /// The contact of one row, or why there is none.
    fn contact(
        &self,
        cells: &StringRecord,
        written: &str,
        line: u64,
        defaults: &Defaults,
    ) -> Result<Contact, String> {
        let phone = parse_phone(written, defaults.country)?;
        let given = |column: Option<usize>| {
            column
                .map(|index| cell(cells, index).trim())
                .filter(|value| !value.is_empty())
        };
        let time_zone = given(self.time_zone).map(parse_time_zone).transpose()?;
        let region = given(self.region)
            .map(|written| parse_region(written, defaults))
            .transpose()?;
        Ok(Contact {
            phone,
            name: given(self.name).unwrap_or_default().to_owned(),
            line,
            time_zone,
            region,
            custom_variables: self.custom_variables(cells),
        })
    }

    fn custom_variables(&self, cells: &StringRecord) -> Vec<CustomVariable> {
        self.custom
            .iter()
            .map(|(index, key)| CustomVariable {
                key: key.clone(),
                value: cell(cells, *index).to_owned(),
            })
            .collect()
    }
}

/// What a row may leave out: the country of phones and regions written without one.
struct Defaults {
    country: Country,
    /// The ISO code that prefixes a bare subdivision (`CA` → `US-CA`); `None` if unknown.
    country_code: Option<String>,
}

impl Defaults {
    fn new(country: Country) -> Self {
        Defaults {
            country,
            country_code: iso_code(country),
        }
    }
}

/// The ISO 3166 code of `country`, when it can prefix a subdivision.
fn iso_code(country: Country) -> Option<String> {
    let code = country.code();
    is_alpha2(code).then(|| code.to_owned())
}

fn parse_phone(written: &str, country: Country) -> Result<Phone, String> {
    if written.is_empty() {
        return Err("no phone number".to_owned());
    }
    Phone::parse(written, country).map_err(|error| error.to_string())
}

/// A known IANA zone, in its canonical spelling (the lookup ignores case).
fn parse_time_zone(written: &str) -> Result<String, String> {
    match jiff::tz::db().get(written) {
        Ok(zone) if !zone.is_unknown() => Ok(zone.iana_name().unwrap_or(written).to_owned()),
        _ => Err(format!(
            "unknown time zone \"{}\" (expected an IANA name such as America/New_York)",
            excerpt(written)
        )),
    }
}

/// `US-CA` form, upper-cased; a bare `CA` is a subdivision of the default country.
fn parse_region(written: &str, defaults: &Defaults) -> Result<Region, String> {
    let code = written.to_ascii_uppercase();
    let is_subdivision =
        |s: &str| (1..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric());
    match (code.split_once('-'), &defaults.country_code) {
        (Some((country, subdivision)), _) if is_alpha2(country) && is_subdivision(subdivision) => {
            Ok(Region(code))
        }
        (None, Some(country)) if is_alpha2(&code) => Ok(Region(format!("{country}-{code}"))),
        _ => Err(format!(
            "region \"{}\" is not a subdivision code such as US-CA (or CA, for the default country)",
            excerpt(written)
        )),
    }
}

fn is_alpha2(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic())
}

/// At most [`EXCERPT_CHARS`] characters of `text`.
fn excerpt(text: &str) -> String {
    text.chars().take(EXCERPT_CHARS).collect()
}

/// The raw bytes of the contacts file, metered as the csv parser pulls them in.
///
/// Three things need the metering: [`MAX_ROW_BYTES`] is enforced here, where bytes enter memory;
/// knowing where the file ends lets [`Records::start_line`] tell a row ended by a newline from one
/// ended by the end of the file; and the first read is shaped so that the parser always sees a
/// whole byte order mark.
struct Source<R> {
    inner: R,
    /// The byte between cells, for [`Source::row_has_open_quote`].
    delimiter: u8,
    /// Bytes handed to the parser so far; comparable to the parser's byte positions.
    consumed: u64,
    /// No byte past this offset is handed over: the start of the current row plus the budget.
    limit: u64,
    /// Whether `inner` has reported the end of the file.
    at_end: bool,
    /// The raw bytes handed over since the current row began (at most the row budget plus one
    /// read), to tell a quote left open at the end of the file.
    row: VecDeque<u8>,
    /// Offset of `row`'s first byte.
    row_start: u64,
}

/// The UTF-8 byte order mark, which some editors (Excel among them) put at the start of a file.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// The least the first read hands the parser, if the file has it: see [`Source::read_start`].
const FIRST_READ: usize = BOM.len() + 1;

/// The marker inside the I/O error a [`Source`] returns when a row exceeds [`MAX_ROW_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error("row larger than {MAX_ROW_BYTES} bytes")]
struct OverBudget;

fn is_over_budget(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<OverBudget>())
}

impl<R> Source<R> {
    fn new(inner: R, delimiter: Delimiter) -> Self {
        Source {
            inner,
            delimiter: delimiter.byte(),
            consumed: 0,
            limit: MAX_ROW_BYTES,
            at_end: false,
            row: VecDeque::new(),
            row_start: 0,
        }
    }

    /// Grants the next row, which starts at byte `start`, its budget.
    fn allow_row_from(&mut self, start: u64) {
        self.limit = start.saturating_add(MAX_ROW_BYTES);
        let done = usize::try_from(start.saturating_sub(self.row_start)).unwrap_or(usize::MAX);
        self.row.drain(..done.min(self.row.len()));
        self.row_start = start;
    }

    /// Whether the current row, read with the parser's quoting rules (RFC 4180 doubled quotes,
    /// a quote only opens a field at its start), ends inside a quoted field.
    fn row_has_open_quote(&self) -> bool {
        #[derive(PartialEq)]
        enum Lex {
            FieldStart,
            Unquoted,
            Quoted,
            QuoteInQuoted,
        }
        let delimiter = self.delimiter;
        let state = self
            .row
            .iter()
            .fold(Lex::FieldStart, |state, &byte| match (state, byte) {
                (Lex::FieldStart, b'"') | (Lex::QuoteInQuoted, b'"') => Lex::Quoted,
                (Lex::Quoted, b'"') => Lex::QuoteInQuoted,
                (Lex::Quoted, _) => Lex::Quoted,
                (_, b'\n') => Lex::FieldStart,
                (_, byte) if byte == delimiter => Lex::FieldStart,
                _ => Lex::Unquoted,
            });
        state == Lex::Quoted
    }

    /// Whether byte offset `byte` is the end of the file.
    fn ends_at(&self, byte: u64) -> bool {
        self.at_end && byte == self.consumed
    }
}

impl<R: Read> Source<R> {
    /// The parser strips a byte order mark only when its first input holds all three bytes, and
    /// takes a first input of nothing but the mark for the end of the file. So the first read is
    /// filled past the mark, however the inner reader splits the file. Otherwise a BOM arriving
    /// in pieces would become part of the first header (and change how its quotes are read), and
    /// one arriving alone would make the file look empty.
    fn read_start(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < FIRST_READ {
            match self.inner.read(&mut buf[filled..FIRST_READ]) {
                Ok(0) => {
                    self.at_end = true;
                    break;
                }
                Ok(read) => {
                    self.row.extend(&buf[filled..filled + read]);
                    filled += read;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // Hand over what was read; the inner reader reports the error again next time.
                Err(_) if filled > 0 => break,
                Err(error) => return Err(error),
            }
        }
        self.consumed += filled as u64;
        Ok(filled)
    }

    /// At the limit, a row that ends exactly there must still read: one byte more tells the end of
    /// the file (fine) from a row that goes on (over budget).
    fn probe_end(&mut self) -> io::Result<usize> {
        let mut probe = [0; 1];
        match self.inner.read(&mut probe)? {
            0 => {
                self.at_end = true;
                Ok(0)
            }
            _ => Err(io::Error::other(OverBudget)),
        }
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.consumed == 0 && !self.at_end && buf.len() >= FIRST_READ {
            return self.read_start(buf);
        }
        let allowed = self.limit.saturating_sub(self.consumed);
        if allowed == 0 && !buf.is_empty() {
            return self.probe_end();
        }
        let len = usize::try_from(allowed).map_or(buf.len(), |allowed| allowed.min(buf.len()));
        let read = self.inner.read(&mut buf[..len])?;
        self.row.extend(&buf[..read]);
        self.consumed += read as u64;
        self.at_end |= read == 0 && len > 0;
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(code: &str) -> Defaults {
        Defaults::new(code.parse().unwrap())
    }

    /// The ISO code is recovered from `Country`'s Debug form; this pins that form.
    #[test]
    fn the_default_countrys_iso_code_is_known() {
        assert_eq!(iso_code(Country::default()).as_deref(), Some("US"));
        assert_eq!(iso_code("ca".parse().unwrap()).as_deref(), Some("CA"));
    }

    /// Regions are upper-cased, bare codes take the default country, anything else is refused.
    #[test]
    fn regions_are_read_in_iso_form() {
        let us = defaults("US");
        let region = |written| parse_region(written, &us).map(|r| r.0);
        assert_eq!(region("US-CA").unwrap(), "US-CA");
        assert_eq!(region("ca-on").unwrap(), "CA-ON");
        assert_eq!(region("ca").unwrap(), "US-CA");
        assert_eq!(region("GB-LND").unwrap(), "GB-LND");
        assert_eq!(region("FR-75C").unwrap(), "FR-75C");
        for bad in [
            "California",
            "USA-CA",
            "US-",
            "US-CALI",
            "U",
            "US_CA",
            "ÜS-CA",
            "US-C A",
        ] {
            let reason = region(bad).unwrap_err();
            assert!(reason.contains("not a subdivision code"), "{bad}: {reason}");
        }
    }

    /// Time zones are looked up case-insensitively and stored canonically; Etc/Unknown is refused.
    #[test]
    fn time_zones_are_canonical_iana_names() {
        assert_eq!(
            parse_time_zone("america/new_york").unwrap(),
            "America/New_York"
        );
        assert_eq!(parse_time_zone("UTC").unwrap(), "UTC");
        assert!(parse_time_zone("Etc/Unknown").is_err());
        assert!(
            parse_time_zone("Mars/Olympus_Mons")
                .unwrap_err()
                .contains("unknown time zone")
        );
        assert!(parse_time_zone("../../etc/passwd").is_err());
    }

    /// A source hands over at most the budget of a row past its start, but a row ending exactly
    /// at the budget still reads to the end of the file.
    #[test]
    fn the_row_budget_is_exact() {
        let data = [b'x'; 10];
        let mut source = Source::new(&data[..], Delimiter(b','));
        source.limit = 10;
        let mut buf = Vec::new();
        assert_eq!(source.read_to_end(&mut buf).unwrap(), 10);
        assert!(source.ends_at(10));

        let mut source = Source::new(&data[..], Delimiter(b','));
        source.limit = 9;
        let error = source.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(is_over_budget(&error));
    }
}
