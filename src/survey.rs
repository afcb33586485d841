//! The contacts file around a run: the whole-file check before the first call (a file broken
//! on its last row costs no call), skipped when the journal proves the file unchanged, and the
//! mark of how far the run has read it, so that a resume reads only the rest.
//!
//! What the journal keeps, under one key of its `meta` tree, is a [`Surveyed`]: the file's
//! identity (size, modification time, xxh3 of its bytes) after a check that passed, its row
//! count, and, once a run has read some of it, where to read on. Any difference in the identity
//! means another file: it is checked again in full and read from its start, as on a first run.

use std::fs::File;

use serde::{Deserialize, Serialize};

use crate::campaign::Campaign;
use crate::contacts::{self, ContactReader, ContactsFile, FileIdentity, ReadMark, Stat};
use crate::error::Error;
use crate::journal::{Journal, JournalError};

/// The journal's `meta` key of the [`Surveyed`] record.
const KEY: &str = "contacts";

/// Rows admitted between two saved marks. A mark costs one commit of the journal (it is
/// written only once the rows before it are on disk), so a resume reads at most this many rows
/// again, and a run makes at most one extra commit per this many rows.
const ROWS_PER_MARK: u64 = 1000;

/// Rows the survey reads in full, phones included, to build the phone parser's tables.
const WARM_UP_ROWS: usize = 16;

/// What the journal knows of the contacts file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Surveyed {
    pub identity: FileIdentity,
    /// Data rows (blank rows not counted), for the progress bar.
    pub rows: u64,
    /// How far runs have read this very file; `None` until one has saved a mark.
    pub read: Option<ReadTo>,
}

/// How far runs have read the surveyed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadTo {
    /// The run that began reading this file at its start: every contact that a run since then
    /// has listed is in the file, so it counts as listed by this run too.
    pub listed_since: u64,
    /// Where the first row not known to be in the journal starts: every row before it is.
    pub next: ReadMark,
}

impl Surveyed {
    /// The record, if the journal holds one it can read (one it cannot is as none: the file is
    /// then checked and read in full, the safe side).
    pub fn load(journal: &Journal) -> Result<Option<Surveyed>, JournalError> {
        let bytes = journal.meta_get(KEY)?;
        Ok(bytes.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    fn save(record: Option<&Surveyed>, journal: &Journal) -> Result<(), Error> {
        let bytes = match record {
            Some(record) => serde_json::to_vec(record).expect("the record serialises"),
            None => Vec::new(),
        };
        Ok(journal.meta_put(KEY, &bytes)?)
    }
}

/// Checks the contacts file before anything is dialled, unless the journal proves it the same
/// file a check already passed (same size and modification time, then same xxh3 of every
/// byte). Returns the number of data rows.
pub async fn survey(campaign: &Campaign, journal: &Journal) -> Result<u64, Error> {
    let file = campaign.contacts.clone();
    let country = campaign.default_country;
    let known = Surveyed::load(journal)?;
    let surveyed = tokio::task::spawn_blocking(move || -> Result<_, Error> {
        let survey = match known.filter(|known| unchanged(&file, &known.identity)) {
            Some(known) => Survey::Unchanged(known),
            None => Survey::Checked(contacts::check(&file)?),
        };
        // The first rows read in full, as the run will read them: the phone parser builds its
        // tables lazily over its first numbers (seconds in a debug build on a loaded machine).
        // That must happen here, not in the stream while the first create request waits, where
        // it delays that request past the next one from the same caller ID (tests/
        // rules_in_a_run.rs: creates at least the cooldown apart at the API). One row was not
        // enough; two were; 16 cost nothing.
        let _ = ContactReader::open(&file, country)?
            .take(WARM_UP_ROWS)
            .count();
        Ok(survey)
    });
    match surveyed.await.expect("the survey does not panic")? {
        Survey::Unchanged(known) => {
            tracing::debug!(
                rows = known.rows,
                "contacts file unchanged: not checked again"
            );
            Ok(known.rows)
        }
        Survey::Checked(checked) => {
            let record = checked.identity.map(|identity| Surveyed {
                identity,
                rows: checked.rows,
                read: None,
            });
            Surveyed::save(record.as_ref(), journal)?;
            Ok(checked.rows)
        }
    }
}

enum Survey {
    Unchanged(Surveyed),
    Checked(contacts::Checked),
}

/// Whether the file is still the one `identity` describes: the stat first (cheap), then every
/// byte. A file that cannot be read is not "unchanged": the check then says what is wrong.
fn unchanged(file: &ContactsFile, identity: &FileIdentity) -> bool {
    Stat::read(&file.path).is_ok_and(|stat| stat == identity.stat)
        && FileIdentity::read(&file.path).is_ok_and(|read| read.as_ref() == Some(identity))
}

/// This run's reading of the contacts file: where it started, how far it got, and the marks it
/// saves as it goes.
#[derive(Debug)]
pub struct Reading {
    /// The record this run keeps up to date; `None` when there is none to keep (the file changed
    /// while it was checked, or it is transcoded, whose offsets are not the file's).
    surveyed: Option<Surveyed>,
    /// Contacts of this run and of runs since this one are listed by this run's file.
    listed_since: u64,
    /// Where this run began reading, when it read on from an earlier run's mark.
    resumed_from: Option<ReadMark>,
    /// Where the row after the last one admitted starts.
    read_to: Option<ReadMark>,
    /// Rows admitted since the last saved mark.
    unsaved: u64,
}

impl Reading {
    /// Opens the contacts file for run `run`: read on from the saved mark when the file is the
    /// one surveyed and a run has read part of it, else from its start.
    pub fn open(
        campaign: &Campaign,
        journal: &Journal,
        run: u64,
    ) -> Result<(Reading, ContactReader<File>), Error> {
        let file = &campaign.contacts;
        let country = campaign.default_country;
        // The survey proved the file unchanged moments ago; its stat guards the moments since.
        let surveyed = Surveyed::load(journal)?
            .filter(|s| Stat::read(&file.path).is_ok_and(|stat| stat == s.identity.stat));
        if let Some(surveyed) = surveyed.clone()
            && let Some(read) = surveyed.read
        {
            let reader = ContactReader::open_at(file, country, read.next)?;
            let reading = Reading {
                surveyed: Some(surveyed),
                listed_since: read.listed_since,
                resumed_from: Some(read.next),
                read_to: Some(read.next),
                unsaved: 0,
            };
            return Ok((reading, reader));
        }
        let reader = ContactReader::open(file, country)?;
        let read_to = reader.resume_point();
        let reading = Reading {
            surveyed: surveyed.filter(|_| read_to.is_some()),
            listed_since: run,
            resumed_from: None,
            read_to,
            unsaved: 0,
        };
        Ok((reading, reader))
    }

    /// Whether a contact last listed by run `run` is listed by this run's file.
    pub fn lists(&self, run: u64) -> bool {
        run >= self.listed_since
    }

    /// Where this run began reading, when it read on from an earlier run's mark: the rows
    /// before it were read (and their skipped rows kept) by earlier runs.
    pub fn resumed_from(&self) -> Option<ReadMark> {
        self.resumed_from
    }

    /// A row is in the journal; the next starts at `next`.
    pub fn admitted(&mut self, next: Option<ReadMark>) {
        self.read_to = next;
        self.unsaved += 1;
    }

    /// Whether enough rows were admitted since the last mark to save another.
    pub fn mark_due(&self) -> bool {
        self.unsaved >= ROWS_PER_MARK && self.surveyed.is_some()
    }

    /// Saves how far the file was read. Call it only when no contact of an admitted row waits
    /// in memory to be dialled (such a contact is found again only by reading its row). The
    /// journal is committed first, so the mark never reaches disk before the rows it passes.
    pub fn save_mark(&mut self, journal: &Journal) -> Result<(), Error> {
        let (Some(surveyed), Some(next)) = (&mut self.surveyed, self.read_to) else {
            return Ok(());
        };
        journal.flush()?;
        surveyed.read = Some(ReadTo {
            listed_since: self.listed_since,
            next,
        });
        Surveyed::save(Some(surveyed), journal)?;
        self.unsaved = 0;
        Ok(())
    }
}
