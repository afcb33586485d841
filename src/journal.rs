//! The journal (SPEC §5): a sled database beside the campaign file, keyed by the contact's E.164
//! phone, holding each contact's state. It is what makes a campaign resumable after `kill -9`:
//! a contact is marked `dialing` and that mark is on disk *before* its create request leaves.
//! Every flush that makes such marks durable is a numbered commit, recorded both inside sled and
//! in a [witness](witness) file beside it, so a journal that lost durable writes is refused.
//!
//! A campaign run through the shared store keeps the same records as rows in PostgreSQL instead
//! (see [`tree`]), each write committed before it returns, so that it can resume on any host.

mod record;
mod redo;
mod tree;
mod witness;

use std::fs::{self, File, TryLockError};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::api::CallState;
use crate::campaign::Campaign;
use crate::contacts::{Contact, CustomVariable, Rejected};
use crate::health::Rest;
use crate::history::{Attempt, LocalMoment};
use crate::phone::Phone;
use crate::report::{Counter, Tally};
use crate::rotation::{Choice, Match};
use crate::store::{StoreError, StoreUrl};
use redo::{Redo, Unfinished};
use tree::{Batch, Failure, SharedJournal, Tree};
use witness::Witness;

/// Format 4: as format 3, its batches written through a redo record (see [`redo`]). An outdial
/// that does not know the record would not finish a batch a crash cut short, so the stamp moves
/// on and such an outdial refuses the journal as newer.
const FORMAT: &str = "outdial-journal/4";
/// Format 3: entries in postcard behind a version byte (see [`record`]), with the tally's
/// counters (grouped, see [`Counts`]) and the open entries' index kept beside them. Its records
/// are format 4's: migrated on open by its stamp alone.
const FORMAT_3: &str = "outdial-journal/3";
/// Format 2: as format 3, but each of the tally's counters under a key of its own. Migrated on
/// open (see [`migrate_counters`]).
const FORMAT_2: &str = "outdial-journal/2";
/// Format 1: entries as JSON text, no tally, no index. Migrated on open (see [`migrate`]).
const FORMAT_1: &str = "outdial-journal/1";
/// Keys of the `contacts` tree. Entries are under the phone itself (`+…`); beside them, under
/// prefixes that never start a phone, the index of open entries and the tally's counters. One
/// tree, because only writes to one tree can be one atomic batch: an entry, its index mark and
/// the counters it moves are on disk together or not at all.
const OPEN: &[u8] = b"open/";
/// The tally's counters (format 3): the campaign's under [`CAMPAIGN_COUNTS`], each caller ID's
/// under [`CALLER_COUNTS`] and the number.
const COUNTS: &[u8] = b"counts/";
const CAMPAIGN_COUNTS: &[u8] = b"counts/campaign";
const CALLER_COUNTS: &[u8] = b"counts/caller/";
/// Format 2's counters, one key each: `tally/` then the [`Counter`] in postcard.
const COUNTERS_2: &[u8] = b"tally/";
/// The attempt history, under `attempt/` + caller ID + `/` + moment + callee (see
/// [`attempt_key`]): in the same tree as the entries, so an attempt's record is written in the
/// same batch as the entry it follows from, and by caller then time, so one number's latest
/// attempts are one short scan.
const ATTEMPT: &[u8] = b"attempt/";
const ENTRY: &[u8] = b"+";
/// sled's page cache, counted in bytes as stored: in memory its nodes take several times that.
/// Its default (1 GB) let a run's memory grow with the journal; the journal's hot pages (the open
/// index, the due queue, the newest entries) are a small part of it.
const CACHE_BYTES: u64 = 4 * 1024 * 1024;
/// What a journal directory may hold; anything else means it is not ours.
const OWN_FILES: [&str; 6] = [
    "lock",
    "sled",
    "status.json",
    "status.json.tmp",
    witness::FILE,
    witness::SCRATCH,
];
/// Caller IDs the API refused, in the meta tree under this prefix then the number.
const REFUSED: &[u8] = b"refused/";
/// sled's copy of the commit number (big-endian u64) that the witness must not exceed.
const COMMIT_KEY: &str = "commit";

/// One campaign's journal, open and locked by this process.
pub struct Journal {
    /// The journal's own records: its format stamp, its campaign, its runs.
    root: Tree,
    /// Entries by phone, the index of open ones and the tally: see [`OPEN`].
    contacts: Tree,
    /// The tally as the counters in `contacts` hold it, moved by every [`Journal::put`].
    tally: Mutex<Tally>,
    /// CSV rows that are not contacts (bad phone, duplicate), keyed by line; cleared by a run that
    /// reads its CSV from the start.
    rows: Tree,
    /// Contacts waiting for a moment (a redial, an uncertain call's look-up, a window, a cap),
    /// keyed by that moment then phone, so the earliest is first. A key whose entry has since
    /// moved on is dropped when it comes up, rather than hunted down on every write.
    due: Tree,
    /// Every call started, keyed by caller ID then moment (see [`start_key`]): a resumed run
    /// reads each number's latest calls from it, for its caps and the rotation's order, without
    /// reading the calls of every other day.
    starts: Tree,
    /// Small records any part of the run keeps across runs (where the CSV was read up to, …),
    /// by name: see [`Journal::meta_get`].
    meta: Tree,
    /// Number health's decisions, keyed by when each was made then the number (see
    /// [`time_key`]), as JSON: a resume takes the rests back, and `pool health` says why.
    health: Tree,
    /// Where the trees are kept, and what makes their writes durable there.
    keeping: Keeping,
    /// On this disk whichever keeps the trees: the lock that keeps a second process of this host
    /// out, and `status.json`.
    dir: PathBuf,
    /// Held for the journal's life: the OS lock that keeps a second process out (none when a
    /// journal in the store is only read, see [`Opening::Reading`]).
    _lock: Option<File>,
}

/// Where a journal's trees are kept.
enum Keeping {
    /// sled, in `sled/` under the journal's directory: the default, for one process.
    Disk(DiskKeeping),
    /// Rows in the shared store (`[store] url`), each write committed before it returns, so
    /// that a campaign can resume on another host.
    Shared {
        store: Arc<SharedJournal>,
        began: Timestamp,
    },
}

/// A sled journal's database and the group commit that makes its writes durable.
struct DiskKeeping {
    db: sled::Db,
    /// Group commit: callers queue here; one flush answers everyone queued before it started.
    flush_requests: mpsc::UnboundedSender<oneshot::Sender<Result<(), String>>>,
    /// The group-commit task, joined by [`Journal::close`]: it holds the database, and with it
    /// sled's lock, until it ends.
    flusher: JoinHandle<()>,
    /// Makes the numbered commits and keeps the witness; shared with the group-commit task.
    committer: Arc<Committer>,
    /// How many fsyncs the group commit has made, to show what durability costs.
    flushes: Arc<AtomicU64>,
    durability: Durability,
}

/// The trees of a journal just opened, before its tally is read from them.
struct Trees {
    root: Tree,
    contacts: Tree,
    rows: Tree,
    due: Tree,
    starts: Tree,
    meta: Tree,
    health: Tree,
}

impl Trees {
    fn journal(
        self,
        keeping: Keeping,
        dir: &Path,
        lock: Option<File>,
    ) -> Result<Journal, JournalError> {
        let tally = read_tally(&self.contacts).map_err(|why| JournalError::Corrupt {
            dir: dir.to_owned(),
            why,
        })?;
        Ok(Journal {
            root: self.root,
            contacts: self.contacts,
            tally: Mutex::new(tally),
            rows: self.rows,
            due: self.due,
            starts: self.starts,
            meta: self.meta,
            health: self.health,
            keeping,
            dir: dir.to_owned(),
            _lock: lock,
        })
    }
}

/// Whether a journal may be created by opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// `outdial run`: created on the first run, resumed after.
    StartOrResume,
    /// `outdial resume`, `status`, `export`, …: it must exist.
    Existing,
    /// It must exist, and is only read, also while a run holds it: a journal in the store is
    /// then read as it stands (its lock on this host is not taken); a sled journal cannot be
    /// opened by two processes, so this is [`Opening::Existing`] for it.
    Reading,
}

/// Whether sled compresses a journal it makes (`[journal] compress`). A journal keeps what it was
/// made with: sled cannot change it across restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    /// Plain: a resume's open reads the log since the last open without decompressing each
    /// message (sled 0.34 makes a zstd context per message, dear on a virtual machine).
    #[default]
    Plain,
    /// zstd: 2 to 2.4 times smaller on disk, at the CPU cost above for every write and read.
    Zstd,
}

/// How a journal is made if it does not exist yet.
#[derive(Debug, Clone, Copy)]
struct Making {
    /// The campaign's start, written into the witness.
    began: Timestamp,
    compression: Compression,
}

/// What [`Journal::durable`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// The disk (group commit): a campaign's journal.
    Disk,
    /// Nothing: a simulation's scratch journal, thrown away after it. Waiting for a thread's
    /// fsync would hold its virtual clock still, and cost it its speed.
    Scratch,
}

/// The API refused a caller ID: in which run, when, and what it said.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    pub number: Phone,
    pub run: u64,
    pub at: Timestamp,
    pub detail: String,
}

/// Everything the journal knows of one contact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// The contact as the latest CSV that listed it wrote it.
    pub contact: Contact,
    pub state: State,
    /// Create requests sent (or possibly sent) for this contact, all causes together.
    pub attempts: u32,
    pub caller_id: Option<Phone>,
    pub local_match: Option<Match>,
    pub call_id: Option<String>,
    /// When the latest `dialing` mark was written; a call found for this contact counts only if
    /// it started no earlier than this moment, less the skew and margin `call` allows.
    pub dialed_at: Option<Timestamp>,
    pub updated_at: Timestamp,
    pub last_error: Option<String>,
    /// The latest run whose contacts file listed this contact (to spot duplicate rows).
    pub run: u64,
    /// Not to be taken up before this moment (redial, look-up after the grace period, window).
    #[serde(default)]
    pub due_at: Option<Timestamp>,
    /// The calls of this contact's earlier attempts: a look-up for the latest attempt must never
    /// take one of them for its own.
    #[serde(default)]
    pub earlier_calls: Vec<String>,
    /// The callee's local hour and weekday when the latest attempt was sent.
    #[serde(skip)]
    pub dialed_local: Option<LocalMoment>,
    /// How the latest attempt's call ended, whether or not the contact is settled: the attempt
    /// history's record of it follows from this (see [`Journal::put`]).
    #[serde(skip)]
    pub last_end: Option<CallState>,
}

/// SPEC §5's states. `Dialing` and `Uncertain` are never terminal: a run reconciles them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    Pending,
    Dialing,
    Placed,
    Done {
        status: String,
        end_call_reason: Option<String>,
        duration_s: Option<u64>,
    },
    Failed {
        reason: String,
    },
    Skipped {
        reason: String,
    },
    Uncertain {
        reason: String,
    },
}

/// A CSV row that did not become a contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedRow {
    pub line: u64,
    pub written: String,
    pub reason: String,
    /// The row's name and own columns (absent from rows skipped by earlier versions).
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub custom_variables: Vec<CustomVariable>,
}

impl From<Rejected> for SkippedRow {
    fn from(row: Rejected) -> SkippedRow {
        SkippedRow {
            line: row.line,
            written: row.written,
            reason: row.reason,
            name: row.name,
            custom_variables: row.custom_variables,
        }
    }
}

impl SkippedRow {
    /// A row whose phone an earlier row, on line `first`, already lists.
    pub fn duplicate(contact: Contact, first: u64) -> SkippedRow {
        SkippedRow {
            line: contact.line,
            written: contact.phone.to_string(),
            reason: format!("duplicate of line {first}"),
            name: contact.name,
            custom_variables: contact.custom_variables,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "campaign `{campaign}` is already running ({owner}); wait for it to finish or stop it, then run again"
    )]
    Locked { campaign: String, owner: String },
    #[error(
        "no journal at {dir}: campaign `{campaign}` has not been started; use `outdial run` to start it"
    )]
    Missing { campaign: String, dir: PathBuf },
    #[error(
        "{dir} is not an outdial journal ({why}); move it away or give the campaign another name"
    )]
    Foreign { dir: PathBuf, why: String },
    #[error(
        "the journal at {dir} is damaged ({why}); it was left as is: run `outdial repair CAMPAIGN.toml` to rebuild it from the vendor's call records (the damaged one is moved aside), or restore it from a backup"
    )]
    Corrupt { dir: PathBuf, why: String },
    #[error(
        "the journal at {dir} is in format `{format}`, newer than this outdial reads (`{FORMAT}`); run the campaign with the outdial that wrote it, or a later one"
    )]
    Newer { dir: PathBuf, format: String },
    #[error("journal at {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("journal at {dir} could not be written: {why}")]
    Storage { dir: PathBuf, why: String },
    #[error(
        "campaign `{campaign}` has no journal in the store at {at}: it has not been started through this store; use `outdial run` to start it"
    )]
    MissingInStore { campaign: String, at: String },
    #[error(
        "campaign `{campaign}` keeps its journal on this disk at {dir}, as it did before it named a shared store, whose journals are kept in the store: resume it without the store (remove [store] url and unset OUTDIAL_STORE_URL), or give the campaign another name to start it through the store"
    )]
    KeptOnDisk { campaign: String, dir: PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl State {
    /// Which of SPEC §5's states this is, without its details.
    pub fn kind(&self) -> StateKind {
        match self {
            State::Pending => StateKind::Pending,
            State::Dialing => StateKind::Dialing,
            State::Placed => StateKind::Placed,
            State::Done { .. } => StateKind::Done,
            State::Failed { .. } => StateKind::Failed,
            State::Skipped { .. } => StateKind::Skipped,
            State::Uncertain { .. } => StateKind::Uncertain,
        }
    }

    /// Short name for tallies and status output.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Terminal for this run: nothing more will be sent for the contact.
    pub fn is_terminal(&self) -> bool {
        self.kind().is_terminal()
    }
}

/// A state without its details: what tallies count by. Ordered as a contact's life goes, so a
/// summary lists them in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    Pending,
    Dialing,
    Placed,
    Done,
    Uncertain,
    Failed,
    Skipped,
}

impl StateKind {
    pub const ALL: [StateKind; 7] = [
        StateKind::Pending,
        StateKind::Dialing,
        StateKind::Placed,
        StateKind::Done,
        StateKind::Uncertain,
        StateKind::Failed,
        StateKind::Skipped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StateKind::Pending => "pending",
            StateKind::Dialing => "dialing",
            StateKind::Placed => "placed",
            StateKind::Done => "done",
            StateKind::Failed => "failed",
            StateKind::Skipped => "skipped",
            StateKind::Uncertain => "uncertain",
        }
    }

    /// Nothing more will be sent for a contact in this state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StateKind::Placed | StateKind::Done | StateKind::Failed | StateKind::Skipped
        )
    }
}

/// The tree of call starts. Format 1 kept them in `starts`, keyed by moment then caller ID.
const STARTS: &str = "starts_by_caller";

/// A call start's key: the caller ID, a `/` (no phone is a prefix of another's key), then the
/// moment (ms, big-endian), so one number's starts are together and in time order.
fn start_key(caller: &Phone, at: Timestamp) -> Vec<u8> {
    let mut key = caller.as_str().as_bytes().to_vec();
    key.push(b'/');
    key.extend_from_slice(&at.as_millisecond().to_be_bytes());
    key
}

/// How many calls from one number started in one millisecond: the value under its start's key.
/// Two can (no cooldown and a fast pace, or a clock that stands still), and a start is one key,
/// so the key counts them. An empty value, as outdial wrote every start before, is one.
fn starts_in(value: &[u8]) -> Option<u32> {
    match value {
        [] => Some(1),
        count => <[u8; 4]>::try_from(count)
            .ok()
            .map(u32::from_be_bytes)
            .filter(|n| *n > 0),
    }
}

/// The value [`starts_in`] reads as `count`: empty for one, as before counts were kept.
fn starts_value(count: u32) -> Vec<u8> {
    match count {
        1 => Vec::new(),
        count => count.to_be_bytes().to_vec(),
    }
}

/// An attempt's key in the history: caller ID, `/`, the moment (ms, big-endian), callee.
fn attempt_key(caller: &Phone, at: Timestamp, callee: &Phone) -> Vec<u8> {
    let mut key = [ATTEMPT, &start_key(caller, at)].concat();
    key.extend_from_slice(callee.as_str().as_bytes());
    key
}

/// A due queue key: the moment (ms, big-endian), [`DUE_MIXED`], a hash of the phone, then the
/// phone. Contacts due at one moment (a calling window opening) leave in hash order, which mixes
/// their area codes: in phone order a zone's callees came area code by area code, so each local
/// number, at its cooldown after one of them, lost the rest of its block to other numbers. The
/// hash has a seed of its own, so the order is not the A/B arms' split ([`crate::rotation::arm_of`]).
fn due_key(at: Timestamp, phone: &Phone) -> Vec<u8> {
    let mut key = at.as_millisecond().to_be_bytes().to_vec();
    key.push(DUE_MIXED);
    let hash = xxhash_rust::xxh3::xxh3_64_with_seed(phone.as_str().as_bytes(), DUE_SEED);
    key.extend_from_slice(&hash.to_be_bytes());
    key.extend_from_slice(phone.as_str().as_bytes());
    key
}

/// The byte after a due key's moment that says a hash follows; keys written before it have the
/// phone there, which starts with `+`.
const DUE_MIXED: u8 = 0;
/// The due order's hash seed (any constant other than the arms' unseeded hash).
const DUE_SEED: u64 = 0x6475_655f_6d69_7865;

/// The phone a due key names, in either shape.
fn due_phone(key: &[u8]) -> Option<Phone> {
    stored_phone(match key.get(8)? {
        &DUE_MIXED => key.get(17..)?,
        _ => &key[8..],
    })
}

/// A phone as the journal stores it in its keys, or `None` if the bytes are not one.
fn stored_phone(bytes: &[u8]) -> Option<Phone> {
    Phone::from_stored(std::str::from_utf8(bytes).ok()?).ok()
}

/// A key that sorts by time: the moment (ms, big-endian) then the phone.
fn time_key(at: Timestamp, phone: &Phone) -> Vec<u8> {
    let mut key = at.as_millisecond().to_be_bytes().to_vec();
    key.extend_from_slice(phone.as_str().as_bytes());
    key
}

/// A contact's transitions (SPEC §5). The dialer decides *when*; these say *what* each step
/// changes, so that a state is never half-set by poking fields, and each stamps `updated_at`
/// with the instant the dialer's clock gave.
impl Entry {
    /// A contact seen for the first time, listed by run `run`.
    pub fn new(contact: Contact, run: u64, at: Timestamp) -> Entry {
        Entry {
            contact,
            state: State::Pending,
            attempts: 0,
            caller_id: None,
            local_match: None,
            call_id: None,
            dialed_at: None,
            updated_at: at,
            last_error: None,
            run,
            due_at: None,
            earlier_calls: Vec::new(),
            dialed_local: None,
            last_end: None,
        }
    }

    /// Waiting for its `due_at`: a pending contact to dial, or a call to look up.
    pub fn is_waiting(&self) -> bool {
        matches!(
            self.state,
            State::Pending | State::Uncertain { .. } | State::Dialing
        )
    }

    pub fn phone(&self) -> &Phone {
        &self.contact.phone
    }

    /// Listed again by the CSV of run `run`, as `contact` now writes it.
    pub fn listed(&mut self, contact: Contact, run: u64) {
        self.contact = contact;
        self.run = run;
    }

    /// Not to be dialled before `until` (its window opens, a caller ID comes off its caps).
    pub fn wait_until(&mut self, until: Timestamp, at: Timestamp) {
        self.due_at = Some(until);
        self.updated_at = at;
    }

    /// The `dialing` mark: an attempt from `choice`'s caller ID starts at `at`. Written (and
    /// durable) before the create request leaves.
    pub fn dialing(&mut self, choice: &Choice, at: Timestamp) {
        self.attempts += 1;
        self.caller_id = Some(choice.caller_id.clone());
        self.local_match = Some(choice.local_match);
        self.dialed_at = Some(at);
        self.dialed_local = choice.local;
        self.last_end = None;
        self.due_at = None;
        // An earlier attempt's call is never taken for this one's (see `call::Attempt`).
        self.earlier_calls.extend(self.call_id.take());
        self.set(State::Dialing, at);
    }

    /// The vendor created the call `call_id` (answered, or found by a look-up).
    pub fn placed(&mut self, call_id: String, at: Timestamp) {
        self.call_id = Some(call_id);
        self.last_error = None;
        self.due_at = None;
        self.set(State::Placed, at);
    }

    /// The API said no call was created: the attempt does not count, the contact is pending.
    /// Its mark goes with it, so the attempt history forgets it too.
    pub fn undo_attempt(&mut self, why: String, at: Timestamp) {
        self.attempts = self.attempts.saturating_sub(1);
        self.dialed_at = None;
        self.dialed_local = None;
        self.last_error = Some(why);
        self.set(State::Pending, at);
    }

    /// The create request may have made a call: look it up at `look_up_at`.
    pub fn uncertain(&mut self, why: String, look_up_at: Timestamp, at: Timestamp) {
        self.last_error = Some(why.clone());
        self.due_at = Some(look_up_at);
        self.set(State::Uncertain { reason: why }, at);
    }

    /// A look-up found no call for the attempt: the contact may be dialled again now (the
    /// attempt still counts, as the request may have reached the vendor).
    pub fn not_found(&mut self, at: Timestamp) {
        self.due_at = None;
        self.set(State::Pending, at);
    }

    /// Nobody took the call, which ended as `call`: dial again at `when`.
    pub fn redial_at(&mut self, when: Timestamp, call: CallState, at: Timestamp) {
        let why = format!("attempt {}: {}", self.attempts, call.status);
        self.last_end = Some(call);
        self.last_error = Some(why);
        self.due_at = Some(when);
        self.set(State::Pending, at);
    }

    /// A run found this contact `dialing` or `uncertain`: its call is looked up once its mark is
    /// `grace` old (or when a look-up was already due).
    pub fn look_up_after(&mut self, grace: jiff::SignedDuration) {
        let dialed = self.dialed_at.unwrap_or(Timestamp::UNIX_EPOCH);
        let after_grace = dialed.saturating_add(grace).unwrap_or(dialed);
        self.due_at = Some(self.due_at.unwrap_or(after_grace));
    }

    /// The look-up of this uncertain contact's call starts now: it leaves the due queue, so that
    /// nothing that writes the entry meanwhile queues it for a second look-up.
    pub fn looking_up(&mut self) {
        self.due_at = None;
    }

    /// The call could not be followed to its end (the run goes on; a later run follows it).
    pub fn not_followed(&mut self, why: String, at: Timestamp) {
        self.last_error = Some(why);
        self.updated_at = at;
    }

    /// The call reached a terminal status.
    pub fn done(&mut self, call: CallState, at: Timestamp) {
        let state = State::Done {
            status: call.status.clone(),
            end_call_reason: call.end_call_reason.clone(),
            duration_s: call.duration,
        };
        self.last_end = Some(call);
        self.set(state, at);
    }

    /// Nothing more will be tried: the vendor refused, or attempts ran out.
    pub fn fail(&mut self, reason: String, at: Timestamp) {
        self.last_error = Some(reason.clone());
        self.set(State::Failed { reason }, at);
    }

    /// Never to be dialled: a do-not-call list, a window that never opens, gone from the CSV.
    pub fn skip(&mut self, reason: String, at: Timestamp) {
        self.due_at = None;
        self.set(State::Skipped { reason }, at);
    }

    /// Moves to `state`, stamping the time.
    pub fn set(&mut self, state: State, at: Timestamp) {
        self.state = state;
        self.updated_at = at;
    }
}

impl Journal {
    /// Opens the campaign's journal, creating it (plain) on the first run.
    pub fn open(dir: &Path, campaign: &str) -> Result<Journal, JournalError> {
        Self::open_or_create(dir, campaign, Timestamp::now(), Compression::default())
    }

    /// Creates a journal for a campaign that began at `began` (now, or `outdial repair`
    /// rebuilding one), made with `compression`, or opens the one already there as it was made.
    pub fn open_or_create(
        dir: &Path,
        campaign: &str,
        began: Timestamp,
        compression: Compression,
    ) -> Result<Journal, JournalError> {
        Self::create_dir(dir)?;
        let making = Making { began, compression };
        Self::open_dir(dir, campaign, making, Durability::Disk)
    }

    /// `dir` made private (0700), and made first if it is missing.
    fn create_dir(dir: &Path) -> Result<(), JournalError> {
        let io = |source| JournalError::Io {
            dir: dir.to_owned(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)
    }

    /// A new journal in the empty directory `dir` for a simulated campaign that begins at
    /// `began`: the same records as a run's, but never waited on to be durable, as it is thrown
    /// away after the simulation.
    pub fn scratch(dir: &Path, campaign: &str, began: Timestamp) -> Result<Journal, JournalError> {
        Self::create_dir(dir)?;
        let making = Making {
            began,
            compression: Compression::Plain,
        };
        Self::open_dir(dir, campaign, making, Durability::Scratch)
    }

    /// Opens a journal that must already exist (`outdial resume`, `outdial status`).
    pub fn open_existing(dir: &Path, campaign: &str) -> Result<Journal, JournalError> {
        if !dir.join("sled").exists() && !dir.join(witness::FILE).exists() {
            return Err(JournalError::Missing {
                campaign: campaign.to_owned(),
                dir: dir.to_owned(),
            });
        }
        // It exists, so how it would be made does not matter.
        let making = Making {
            began: Timestamp::now(),
            compression: Compression::default(),
        };
        Self::open_dir(dir, campaign, making, Durability::Disk)
    }

    /// Opens the journal in `dir`, or makes it as `making` says.
    fn open_dir(
        dir: &Path,
        campaign: &str,
        making: Making,
        durability: Durability,
    ) -> Result<Journal, JournalError> {
        let started = std::time::Instant::now();
        check_own_directory(dir)?;
        let lock = lock(dir, campaign)?;
        let witness = witness_of(dir, campaign, making.began)?;
        let db = open_sled_as_witnessed(dir, &witness, making.compression, durability)?;
        let storage = |e: sled::Error| JournalError::Storage {
            dir: dir.to_owned(),
            why: e.to_string(),
        };
        let redo = Arc::new(Redo::open(&db).map_err(|unfinished| match unfinished {
            Unfinished::Damaged(why) => JournalError::Corrupt {
                dir: dir.to_owned(),
                why,
            },
            Unfinished::Storage(e) => storage(e),
        })?);
        let disk = |tree: sled::Tree| Tree::Disk {
            tree,
            redo: redo.clone(),
        };
        let root = disk((*db).clone());
        check_identity(&root, dir, campaign, witness.commit > 0, witness.began)?;
        let committer = Arc::new(Committer::check(db.clone(), dir, witness)?);
        let contacts = db.open_tree("contacts").map_err(storage)?;
        let starts = db.open_tree(STARTS).map_err(storage)?;
        let format = db.get("format").map_err(storage)?;
        let migration = match format.as_deref() {
            Some(f) if f == FORMAT_1.as_bytes() => {
                Some((FORMAT_1, migrate(&db, &contacts, &starts)))
            }
            Some(f) if f == FORMAT_2.as_bytes() => {
                Some((FORMAT_2, migrate_counters(&db, &contacts)))
            }
            Some(f) if f == FORMAT_3.as_bytes() => Some((FORMAT_3, restamp(&db))),
            _ => None,
        };
        if let Some((from, migrated)) = migration {
            // What stops a migration is a record the older format cannot have written: damage.
            migrated.map_err(|why| JournalError::Corrupt {
                dir: dir.to_owned(),
                why: format!("migrating it from {from} to {FORMAT}: {why}"),
            })?;
            committer.commit().map_err(|why| JournalError::Storage {
                dir: dir.to_owned(),
                why,
            })?;
        }
        let tree = |name: &str| db.open_tree(name).map(disk).map_err(storage);
        let trees = Trees {
            root,
            contacts: disk(contacts),
            rows: tree("rows")?,
            due: tree("due")?,
            starts: disk(starts),
            meta: tree("meta")?,
            health: tree("health")?,
        };
        let flushes = Arc::new(AtomicU64::new(0));
        let (flush_requests, flusher) = spawn_group_commit(committer.clone(), flushes.clone());
        let keeping = Keeping::Disk(DiskKeeping {
            db,
            flush_requests,
            flusher,
            committer,
            flushes,
            durability,
        });
        let journal = trees.journal(keeping, dir, Some(lock))?;
        tracing::info!(ms = started.elapsed().as_millis(), "journal opened");
        Ok(journal)
    }

    /// Opens the journal `campaign` keeps: in the shared store when it runs through one
    /// (`OUTDIAL_STORE_URL`, or its file's `[store] url`), else in sled under its directory.
    pub fn open_campaign(campaign: &Campaign, opening: Opening) -> Result<Journal, JournalError> {
        let store = crate::store::url_for(campaign)?;
        Self::open_kept(campaign, store.as_ref(), opening)
    }

    /// Opens `campaign`'s journal in `store` (already read from the environment or its file),
    /// or in sled under its directory without one.
    pub fn open_kept(
        campaign: &Campaign,
        store: Option<&StoreUrl>,
        opening: Opening,
    ) -> Result<Journal, JournalError> {
        let (dir, name) = (&campaign.journal_dir, campaign.name.as_str());
        match (store, opening) {
            (Some(url), _) => Self::open_in_store(dir, name, url, opening),
            (None, Opening::StartOrResume) => {
                Self::open_or_create(dir, name, Timestamp::now(), campaign.journal_compression)
            }
            (None, Opening::Existing | Opening::Reading) => Self::open_existing(dir, name),
        }
    }

    /// Opens the campaign's journal in the store at `url`, creating it unless it must exist.
    /// `dir` is made on this host if it is missing: a campaign resumed on another host has its
    /// lock and status snapshot there, and its records in the store.
    pub fn open_in_store(
        dir: &Path,
        campaign: &str,
        url: &StoreUrl,
        opening: Opening,
    ) -> Result<Journal, JournalError> {
        let started = std::time::Instant::now();
        Self::create_dir(dir)?;
        check_own_directory(dir)?;
        if dir.join("sled").exists() {
            return Err(JournalError::KeptOnDisk {
                campaign: campaign.to_owned(),
                dir: dir.to_owned(),
            });
        }
        let lock = match opening {
            Opening::Reading => None,
            Opening::StartOrResume | Opening::Existing => Some(lock(dir, campaign)?),
        };
        let store = Arc::new(SharedJournal::connect(url, campaign)?);
        let tree = |name| Tree::Shared {
            store: store.clone(),
            name,
        };
        let root = tree("root");
        let storage = |why| JournalError::Storage {
            dir: dir.to_owned(),
            why,
        };
        let existed = root.get("format").map_err(storage)?.is_some();
        if !existed && opening != Opening::StartOrResume {
            return Err(JournalError::MissingInStore {
                campaign: campaign.to_owned(),
                at: url.at().to_owned(),
            });
        }
        check_identity(&root, dir, campaign, existed, Timestamp::now())?;
        let began = root.get("began").map_err(storage)?;
        let began = began
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .and_then(|ms| Timestamp::from_millisecond(i64::from_be_bytes(ms)).ok())
            .ok_or_else(|| JournalError::Corrupt {
                dir: dir.to_owned(),
                why: "its record of when the campaign began is missing or damaged".into(),
            })?;
        let trees = Trees {
            root,
            contacts: tree("contacts"),
            rows: tree("rows"),
            due: tree("due"),
            starts: tree(STARTS),
            meta: tree("meta"),
            health: tree("health"),
        };
        let journal = trees.journal(Keeping::Shared { store, began }, dir, lock)?;
        tracing::info!(
            ms = started.elapsed().as_millis(),
            at = url.at(),
            "journal opened in the store"
        );
        Ok(journal)
    }

    /// Moves the journal in `dir` aside, to `<dir>.damaged-<UTC time>` beside it, so that a
    /// new one can be built in its place; returns where it went. Refused while a run holds it.
    pub fn set_aside(dir: &Path, campaign: &str) -> Result<PathBuf, JournalError> {
        let _lock = lock(dir, campaign)?;
        let stamp = Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
        let mut name = dir.file_name().unwrap_or_default().to_owned();
        name.push(format!(".damaged-{stamp}"));
        let aside = dir.with_file_name(name);
        fs::rename(dir, &aside).map_err(|source| JournalError::Io {
            dir: dir.to_owned(),
            source,
        })?;
        Ok(aside)
    }

    /// When the campaign whose journal is in `dir` began, as its witness says, if it can be read
    /// (also from a journal that is otherwise damaged).
    pub fn began_in(dir: &Path) -> Option<Timestamp> {
        Witness::read(dir).ok().flatten().map(|w| w.began)
    }

    /// When this campaign began: its first run.
    pub fn began(&self) -> Timestamp {
        match &self.keeping {
            Keeping::Disk(disk) => disk.committer.witness().began,
            Keeping::Shared { began, .. } => *began,
        }
    }

    /// Closes the journal: the group-commit task is joined and the database dropped (or the
    /// store's connection closed), so when this returns the OS locks are free and another open
    /// succeeds at once.
    pub async fn close(self) {
        let Journal {
            root,
            contacts,
            rows,
            due,
            starts,
            meta,
            health,
            keeping,
            dir,
            _lock,
            ..
        } = self;
        drop((root, contacts, rows, due, starts, meta, health));
        match keeping {
            Keeping::Disk(DiskKeeping {
                db,
                flush_requests,
                flusher,
                committer,
                ..
            }) => {
                drop(flush_requests);
                let _ = flusher.await;
                drop((committer, db));
                let sled_file = dir.join("sled").join("db");
                let _ =
                    tokio::task::spawn_blocking(move || wait_for_sled_release(&sled_file)).await;
            }
            // The last handle: its thread ends once its request in hand is answered.
            Keeping::Shared { store, .. } => {
                let _ = tokio::task::spawn_blocking(move || drop(store)).await;
            }
        }
        drop(_lock);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts a new run and returns its number (1 for the first run).
    /// Read, then written: the campaign's lock (the journal's own, or the store's) keeps every
    /// other writer out.
    pub fn begin_run(&self) -> Result<u64, JournalError> {
        let next = self.latest_run()? + 1;
        self.root
            .insert("runs", next.to_be_bytes())
            .map_err(|e| self.storage(e))?;
        Ok(next)
    }

    pub fn get(&self, phone: &Phone) -> Result<Option<Entry>, JournalError> {
        match self
            .contacts
            .get(phone.as_str())
            .map_err(|e| self.storage(e))?
        {
            Some(bytes) => self.decode(phone, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The campaign's tally, as the journal's counters hold it (no entry is read).
    pub fn tally(&self) -> Tally {
        self.lock_tally().clone()
    }

    /// Writes an entry (in memory and the OS; on disk at the next flush), and queues it when it
    /// waits for a moment. Its mark in the open index and the tally's counters it moves are
    /// written in the same atomic batch.
    pub fn put(&self, entry: &Entry) -> Result<(), JournalError> {
        let key = entry.phone().as_str().as_bytes();
        let before = self.get(entry.phone())?;
        let mut batch = Batch::default();
        batch.insert(key, record::encode(entry));
        // The mark is written only when the entry joins or leaves the index: every key in a
        // batch is a log message of its own (compressed on its own in a compressed journal).
        let was_open = before.as_ref().is_some_and(|b| is_open(&b.state));
        let mark = [OPEN, key].concat();
        match (was_open, is_open(&entry.state)) {
            (false, true) => batch.insert(&mark, []),
            (true, false) => batch.remove(&mark),
            _ => {}
        }
        self.keep_history(&mut batch, before.as_ref(), entry);
        let mut tally = self.lock_tally();
        let moved = tally.moved(before.as_ref(), entry);
        for counts in Counts::moved_by(moved) {
            batch.insert(counts.key(), counts.encode(&tally));
        }
        self.contacts.apply(batch).map_err(|e| self.storage(e))?;
        drop(tally);
        if let Some(at) = entry.due_at.filter(|_| entry.is_waiting()) {
            self.due
                .insert(due_key(at, entry.phone()), [])
                .map_err(|e| self.storage(e))?;
        }
        Ok(())
    }

    /// The attempt history follows from the entry's moves: a new `dialing` mark, or an end,
    /// writes the latest attempt's record; an attempt taken back (no call was made) removes it.
    fn keep_history(&self, batch: &mut Batch, before: Option<&Entry>, after: &Entry) {
        let key = |entry: &Entry| {
            Some(attempt_key(
                entry.caller_id.as_ref()?,
                entry.dialed_at?,
                entry.phone(),
            ))
        };
        let taken_back = before.filter(|b| b.attempts > after.attempts);
        if let Some(taken_back) = taken_back.and_then(key) {
            batch.remove(taken_back);
        }
        let unchanged = before.is_some_and(|b| {
            b.dialed_at == after.dialed_at
                && b.caller_id == after.caller_id
                && b.last_end == after.last_end
                && b.attempts == after.attempts
        });
        if let (false, Some(key), Some(record)) =
            (unchanged, key(after), record::encode_attempt(after))
        {
            batch.insert(key, record);
        }
    }

    /// The latest `n` attempts made from `caller`, newest first.
    pub fn latest_attempts(&self, caller: &Phone, n: usize) -> Result<Vec<Attempt>, JournalError> {
        let prefix = [ATTEMPT, caller.as_str().as_bytes(), b"/"].concat();
        let items = self.contacts.scan_prefix_rev(&prefix).take(n);
        items.map(|item| self.attempt_of(item)).collect()
    }

    /// Every attempt, by caller ID then time, read from disk as it goes.
    pub fn attempts(&self) -> impl Iterator<Item = Result<Attempt, JournalError>> + '_ {
        self.contacts
            .scan_prefix(ATTEMPT)
            .map(|item| self.attempt_of(item))
    }

    /// Every caller ID the history holds, in key order: one seek per number, never a read of
    /// every attempt.
    pub fn callers(&self) -> Result<Vec<Phone>, JournalError> {
        let mut callers = Vec::new();
        let mut from = ATTEMPT.to_vec();
        while let Some((key, _)) = self
            .contacts
            .first_from(&from)
            .map_err(|e| self.storage(e))?
        {
            let Some(rest) = key.strip_prefix(ATTEMPT) else {
                break;
            };
            let slash = rest.iter().position(|&b| b == b'/');
            let caller = slash
                .map(|at| &rest[..at])
                .ok_or_else(|| self.corrupt(&key, "an attempt's key is damaged"))?;
            callers.push(self.phone_of(caller)?);
            // `0` is the byte after `/`: the first key past this caller's attempts.
            from = [ATTEMPT, caller, b"0"].concat();
        }
        Ok(callers)
    }

    fn attempt_of(&self, item: Result<tree::Pair, Failure>) -> Result<Attempt, JournalError> {
        let (key, value) = item.map_err(|e| self.storage(e))?;
        let rest = &key[ATTEMPT.len()..];
        let slash = rest.iter().position(|&b| b == b'/');
        let parts = slash.and_then(|at| Some((&rest[..at], rest.get(at + 1 + 8..)?)));
        let (caller, callee) =
            parts.ok_or_else(|| self.corrupt(&key, "an attempt's key is damaged"))?;
        let (caller, callee) = (self.phone_of(caller)?, self.phone_of(callee)?);
        record::decode_attempt(caller, callee, &value)
            .map_err(|why| self.corrupt(&key, format!("an attempt is damaged: {why}")))
    }

    /// The latest run's number (0 before any run).
    pub fn latest_run(&self) -> Result<u64, JournalError> {
        let runs = self.root.get("runs").map_err(|e| self.storage(e))?;
        let bytes = runs.and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok());
        Ok(bytes.map_or(0, u64::from_be_bytes))
    }

    /// Keeps that the API refused `refusal.number` as a caller ID (it left the rotation for
    /// that run), for `pool health`; a later refusal of the same number replaces it.
    pub fn record_refusal(&self, refusal: &Refusal) -> Result<(), JournalError> {
        let key = [REFUSED, refusal.number.as_str().as_bytes()].concat();
        let bytes = serde_json::to_vec(refusal).expect("a refusal always serialises");
        self.meta.insert(key, bytes).map_err(|e| self.storage(e))?;
        Ok(())
    }

    /// Every caller ID the API refused, the latest refusal of each.
    pub fn refusals(&self) -> impl Iterator<Item = Result<Refusal, JournalError>> + '_ {
        self.meta.scan_prefix(REFUSED).map(|item| {
            let (key, value) = item.map_err(|e| self.storage(e))?;
            serde_json::from_slice(&value).map_err(|e| self.corrupt(&key, e))
        })
    }

    /// The small record kept under `key` by [`Journal::meta_put`], if any.
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, JournalError> {
        let value = self.meta.get(key).map_err(|e| self.storage(e))?;
        Ok(value.map(|bytes| bytes.to_vec()))
    }

    /// Keeps a small record under `key` (durable with the next flush, like every write). Meant
    /// for state a resume needs that belongs to no contact, such as how far the CSV was read.
    pub fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), JournalError> {
        self.meta.insert(key, value).map_err(|e| self.storage(e))?;
        Ok(())
    }

    /// Keeps a decision to rest a number (durable with the next flush, like every write).
    pub fn record_rest(&self, rest: &Rest) -> Result<(), JournalError> {
        let bytes = serde_json::to_vec(rest).expect("a rest always serialises");
        self.health
            .insert(time_key(rest.at, &rest.number), bytes)
            .map_err(|e| self.storage(e))?;
        Ok(())
    }

    /// Every rest decided, oldest first.
    pub fn rests(&self) -> impl Iterator<Item = Result<Rest, JournalError>> + '_ {
        self.health.iter().map(|item| {
            let (key, value) = item.map_err(|e| self.storage(e))?;
            serde_json::from_slice(&value).map_err(|e| self.corrupt(&key, e))
        })
    }

    /// Records that a call from `caller` starts at `at` (durable with the next flush, like the
    /// `dialing` mark written beside it), and lets go of this number's oldest start beyond its
    /// newest `keep` (see [`crate::caps::starts_needed`]): the tree stays the size of the pool,
    /// whatever the campaign's, and one start let go per start noted drains a backlog too.
    pub fn note_start(
        &self,
        caller: &Phone,
        at: Timestamp,
        keep: usize,
    ) -> Result<(), JournalError> {
        let key = start_key(caller, at);
        let already = self.starts_under(&key)?;
        self.starts
            .insert(&key, starts_value(already.saturating_add(1)))
            .map_err(|e| self.storage(e))?;
        let prefix = &key[..key.len() - 8];
        let beyond = self.starts.scan_prefix_rev(prefix).nth(keep);
        if let Some(oldest) = beyond {
            let (oldest, _) = oldest.map_err(|e| self.storage(e))?;
            self.starts.remove(oldest).map_err(|e| self.storage(e))?;
        }
        Ok(())
    }

    /// Takes back a start noted by [`Journal::note_start`] whose create request made no call (a
    /// 429, a refusal): caps count calls, not refusals.
    pub fn forget_start(&self, caller: &Phone, at: Timestamp) -> Result<(), JournalError> {
        let key = start_key(caller, at);
        match self.starts_under(&key)? {
            0 | 1 => self.starts.remove(&key),
            more => self.starts.insert(&key, starts_value(more - 1)),
        }
        .map_err(|e| self.storage(e))?;
        Ok(())
    }

    /// How many starts the key holds (none when it is absent).
    fn starts_under(&self, key: &[u8]) -> Result<u32, JournalError> {
        match self.starts.get(key).map_err(|e| self.storage(e))? {
            None => Ok(0),
            Some(value) => self.start_count(key, &value),
        }
    }

    /// The count stored as `value` under the start `key`; a damaged one is refused.
    fn start_count(&self, key: &[u8], value: &[u8]) -> Result<u32, JournalError> {
        starts_in(value).ok_or_else(|| self.corrupt(key, "a call start's count is damaged"))
    }

    /// The latest `n` calls started from `caller`, newest first.
    pub fn latest_starts(&self, caller: &Phone, n: usize) -> Result<Vec<Timestamp>, JournalError> {
        let prefix = start_key(caller, Timestamp::UNIX_EPOCH);
        let prefix = &prefix[..prefix.len() - 8];
        let mut latest = Vec::with_capacity(n.min(64));
        for item in self.starts.scan_prefix_rev(prefix) {
            let (key, value) = item.map_err(|e| self.storage(e))?;
            let millis = <[u8; 8]>::try_from(&key[prefix.len()..]).map(i64::from_be_bytes);
            let at = millis
                .ok()
                .and_then(|ms| Timestamp::from_millisecond(ms).ok())
                .ok_or_else(|| self.corrupt(&key, "a call start's time is damaged"))?;
            let count = self.start_count(&key, &value)?;
            let room = n - latest.len();
            latest.extend(std::iter::repeat_n(at, room.min(count as usize)));
            if latest.len() == n {
                break;
            }
        }
        Ok(latest)
    }

    /// The waiting contact due first, if any waits.
    pub fn next_due(&self) -> Result<Option<Entry>, JournalError> {
        loop {
            let Some((key, _)) = self.due.first().map_err(|e| self.storage(e))? else {
                return Ok(None);
            };
            match self.due_entry(&key)? {
                Some(entry) => return Ok(Some(entry)),
                None => {
                    self.due.remove(key).map_err(|e| self.storage(e))?;
                }
            }
        }
    }

    /// Takes the earliest waiting contact that is due at `now`, if any.
    pub fn take_due(&self, now: Timestamp) -> Result<Option<Entry>, JournalError> {
        while let Some((key, _)) = self.due.first().map_err(|e| self.storage(e))? {
            let entry = self.due_entry(&key)?;
            if entry
                .as_ref()
                .is_some_and(|e| e.due_at.is_some_and(|at| at > now))
            {
                return Ok(None);
            }
            self.due.remove(key).map_err(|e| self.storage(e))?;
            if entry.is_some() {
                return Ok(entry);
            }
        }
        Ok(None)
    }

    /// The entry a due key stands for, unless it has moved on since the key was written.
    fn due_entry(&self, key: &[u8]) -> Result<Option<Entry>, JournalError> {
        let Some(phone) = due_phone(key) else {
            return Ok(None);
        };
        let at = i64::from_be_bytes(key[..8].try_into().expect("due keys start with 8 bytes"));
        let entry = self.get(&phone)?;
        Ok(entry.filter(|e| e.is_waiting() && e.due_at.map(|t| t.as_millisecond()) == Some(at)))
    }

    /// Resolves once everything written before this call is on disk. Concurrent callers share
    /// one fsync (group commit), so durability does not cost one fsync per call. In the store,
    /// each write has committed before it returned: nothing is left to wait for.
    pub fn durable(&self) -> impl Future<Output = Result<(), JournalError>> + Send + 'static {
        let (done, flushed) = oneshot::channel();
        let queued = match &self.keeping {
            Keeping::Disk(DiskKeeping {
                durability: Durability::Disk,
                flush_requests,
                ..
            }) => flush_requests.send(done).is_ok(),
            Keeping::Disk(_) | Keeping::Shared { .. } => done.send(Ok(())).is_ok(),
        };
        let dir = self.dir.clone();
        async move {
            let answer = if queued { flushed.await.ok() } else { None };
            match answer {
                Some(Ok(())) => Ok(()),
                Some(Err(why)) => Err(JournalError::Storage { dir, why }),
                None => Err(JournalError::Storage {
                    dir,
                    why: "the journal was closed".into(),
                }),
            }
        }
    }

    /// Commits now, waiting for the disk (end of run, interrupt).
    pub fn flush(&self) -> Result<(), JournalError> {
        let Keeping::Disk(disk) = &self.keeping else {
            return Ok(());
        };
        disk.committer
            .commit()
            .map_err(|why| JournalError::Storage {
                dir: self.dir.clone(),
                why,
            })
    }

    /// What durability has cost so far: the group commit's fsyncs, or the store's transactions.
    pub fn flush_count(&self) -> u64 {
        match &self.keeping {
            Keeping::Disk(disk) => disk.flushes.load(Ordering::Relaxed),
            Keeping::Shared { store, .. } => store.writes(),
        }
    }

    /// Every contact, in phone order, read from disk as it goes.
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry, JournalError>> + '_ {
        self.contacts.scan_prefix(ENTRY).map(|item| {
            let (key, value) = item.map_err(|e| self.storage(e))?;
            let phone = self.phone_of(&key)?;
            self.decode(&phone, &value)
        })
    }

    /// The contacts not settled for good (pending, dialing, placed and still followed,
    /// uncertain), in phone order, from the open index: a resume reads these, not every entry.
    pub fn open_entries(&self) -> impl Iterator<Item = Result<Entry, JournalError>> + '_ {
        self.contacts.scan_prefix(OPEN).filter_map(|item| {
            let found = item.map_err(|e| self.storage(e)).and_then(|(key, _)| {
                let phone = self.phone_of(&key[OPEN.len()..])?;
                self.get(&phone)
            });
            // A mark without its entry cannot be written (one batch), but is no contact either.
            found.transpose()
        })
    }

    fn phone_of(&self, key: &[u8]) -> Result<Phone, JournalError> {
        stored_phone(key).ok_or_else(|| JournalError::Corrupt {
            dir: self.dir.clone(),
            why: format!("key {} is not a phone", String::from_utf8_lossy(key)),
        })
    }

    fn lock_tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets the skipped rows of earlier runs: this run reads its CSV from the start.
    pub fn clear_skipped_rows(&self) -> Result<(), JournalError> {
        self.rows.clear().map_err(|e| self.storage(e))
    }

    pub fn skip_row(&self, row: &SkippedRow) -> Result<(), JournalError> {
        let bytes = serde_json::to_vec(row).expect("rows always serialise");
        self.rows
            .insert(row.line.to_be_bytes(), bytes)
            .map_err(|e| self.storage(e))?;
        Ok(())
    }

    /// The rows of the latest run's CSV that did not become contacts, in line order.
    pub fn skipped_rows(&self) -> impl Iterator<Item = Result<SkippedRow, JournalError>> + '_ {
        self.rows.iter().map(|item| {
            let (key, value) = item.map_err(|e| self.storage(e))?;
            serde_json::from_slice(&value).map_err(|e| self.corrupt(&key, e))
        })
    }

    fn decode(&self, phone: &Phone, bytes: &[u8]) -> Result<Entry, JournalError> {
        record::decode(phone, bytes).map_err(|e| self.corrupt(phone.as_str().as_bytes(), e))
    }

    fn corrupt(&self, key: &[u8], error: impl std::fmt::Display) -> JournalError {
        let why = format!(
            "entry {} cannot be read: {error}",
            String::from_utf8_lossy(key)
        );
        JournalError::Corrupt {
            dir: self.dir.clone(),
            why,
        }
    }

    fn storage(&self, why: Failure) -> JournalError {
        JournalError::Storage {
            dir: self.dir.clone(),
            why,
        }
    }
}

/// A directory holding files we did not write is someone else's: never reuse or reset it.
fn check_own_directory(dir: &Path) -> Result<(), JournalError> {
    let listing = fs::read_dir(dir).map_err(|source| JournalError::Io {
        dir: dir.to_owned(),
        source,
    })?;
    for item in listing.flatten() {
        let name = item.file_name();
        if !OWN_FILES.iter().any(|own| name == *own) {
            let why = format!("it holds {}", name.to_string_lossy());
            return Err(JournalError::Foreign {
                dir: dir.to_owned(),
                why,
            });
        }
    }
    Ok(())
}

/// Takes the OS lock on `lock` and writes who holds it, so that a second process can say so.
fn lock(dir: &Path, campaign: &str) -> Result<File, JournalError> {
    let path = dir.join("lock");
    let io = |source| JournalError::Io {
        dir: dir.to_owned(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let owner = fs::read_to_string(&path).unwrap_or_default();
            let owner = if owner.trim().is_empty() {
                "another process".to_owned()
            } else {
                owner.trim().to_owned()
            };
            return Err(JournalError::Locked {
                campaign: campaign.to_owned(),
                owner,
            });
        }
        Err(TryLockError::Error(source)) => return Err(io(source)),
    }
    file.set_len(0).map_err(io)?;
    let started = Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC");
    write!(file, "pid {}, started {started}", std::process::id()).map_err(io)?;
    Ok(file)
}

/// Opens sled, making a new journal with `compression`. One already made stays as it was made
/// (compressed by versions from format 2 until `[journal] compress` came, plain before and
/// since): sled refuses to change compression across restarts, and says so before it reads
/// anything, so it is opened again the other way.
fn open_sled(
    dir: &Path,
    compression: Compression,
    durability: Durability,
) -> Result<sled::Db, JournalError> {
    if let Err(why) = check_snapshots(&dir.join("sled")) {
        return Err(JournalError::Corrupt {
            dir: dir.to_owned(),
            why,
        });
    }
    // Our own lock is held; sled's may still be let go by the threads of a journal this
    // process just dropped, or by a process exiting this moment.
    wait_for_sled_release(&dir.join("sled").join("db"));
    match durability {
        Durability::Disk => {
            let zstd = compression == Compression::Zstd;
            match open_sled_with(dir, zstd) {
                Err(sled::Error::Unsupported(why)) if why.contains("use_compression") => {
                    open_sled_with(dir, !zstd)
                }
                opened => opened,
            }
        }
        Durability::Scratch => open_scratch_sled(dir),
    }
    .map_err(|error| match error {
        sled::Error::Io(source) => JournalError::Io {
            dir: dir.to_owned(),
            source,
        },
        e => JournalError::Corrupt {
            dir: dir.to_owned(),
            why: e.to_string(),
        },
    })
}

/// sled 0.34 reads a compressed snapshot's length from eight bytes its checksum does not cover,
/// and allocates that much before decompressing: a flipped bit there asks for gigabytes, and
/// the process aborts (no panic to catch). So before sled opens, each snapshot's length is
/// checked against the size its zstd frame declares, which the checksum does cover: a mismatch
/// is damage. A file whose frame declares no size (an uncompressed journal's) is left to sled.
fn check_snapshots(sled_dir: &Path) -> Result<(), String> {
    let Ok(listing) = fs::read_dir(sled_dir) else {
        return Ok(());
    };
    for item in listing.flatten() {
        let name = item.file_name().to_string_lossy().into_owned();
        if !name.starts_with("snap.") || name.ends_with(".in___motion") {
            continue;
        }
        let bytes = fs::read(item.path())
            .map_err(|e| format!("its snapshot {name} cannot be read: {e}"))?;
        let Some(body_len) = bytes.len().checked_sub(12) else {
            continue;
        };
        let length = u64::from_le_bytes(bytes[body_len..body_len + 8].try_into().expect("8 bytes"));
        let declared = zstd_safe::get_frame_content_size(&bytes[..body_len]);
        let sized =
            declared != zstd_safe::CONTENTSIZE_UNKNOWN && declared != zstd_safe::CONTENTSIZE_ERROR;
        if sized && declared != length {
            return Err(format!(
                "its snapshot {name} is damaged: it gives its length as {length} bytes, its \
                 contents {declared}"
            ));
        }
    }
    Ok(())
}

/// sled's own open, its panics on damaged files taken for damage.
fn open_sled_with(dir: &Path, compressed: bool) -> Result<sled::Db, sled::Error> {
    let config = sled::Config::new()
        .path(dir.join("sled"))
        .cache_capacity(CACHE_BYTES)
        .use_compression(compressed);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open())).unwrap_or_else(|_| {
        Err(sled::Error::Unsupported(
            "the database could not be opened".into(),
        ))
    })
}

/// sled for a scratch journal: uncompressed, never flushed in the background, removed when
/// dropped. Compression and background flushes were most of a simulation's time, and nothing
/// reads the files back.
fn open_scratch_sled(dir: &Path) -> Result<sled::Db, sled::Error> {
    sled::Config::new()
        .path(dir.join("sled"))
        .cache_capacity(CACHE_BYTES)
        .temporary(true)
        .flush_every_ms(None)
        .open()
}

/// A new journal is stamped with our format, the campaign's name and when it `began`, in one
/// batch; an old one must match the format and the name. A journal that `existed` before this
/// open but has no stamp is damaged, never reset.
fn check_identity(
    root: &Tree,
    dir: &Path,
    campaign: &str,
    existed: bool,
    began: Timestamp,
) -> Result<(), JournalError> {
    let storage = |why| JournalError::Storage {
        dir: dir.to_owned(),
        why,
    };
    let format = root.get("format").map_err(storage)?;
    match format.as_deref() {
        None if !existed => {
            let mut stamp = Batch::default();
            stamp.insert("format", FORMAT);
            stamp.insert("campaign", campaign);
            stamp.insert("began", began.as_millisecond().to_be_bytes());
            root.apply(stamp).map_err(storage)?;
            root.flush().map_err(storage)
        }
        Some(f)
            if [FORMAT, FORMAT_3, FORMAT_2, FORMAT_1]
                .iter()
                .any(|known| f == known.as_bytes()) =>
        {
            let owner = root.get("campaign").map_err(storage)?.unwrap_or_default();
            if owner == campaign.as_bytes() {
                return Ok(());
            }
            let why = format!(
                "it belongs to campaign `{}`",
                String::from_utf8_lossy(&owner)
            );
            Err(JournalError::Foreign {
                dir: dir.to_owned(),
                why,
            })
        }
        Some(f) if f.starts_with(b"outdial-journal/") => Err(JournalError::Newer {
            dir: dir.to_owned(),
            format: String::from_utf8_lossy(f).into_owned(),
        }),
        Some(_) => Err(JournalError::Foreign {
            dir: dir.to_owned(),
            why: "its format stamp is not outdial's".into(),
        }),
        None => Err(JournalError::Corrupt {
            dir: dir.to_owned(),
            why: "its database has lost outdial's format stamp".into(),
        }),
    }
}

/// The group-commit task: waits for a request, takes every request queued meanwhile, makes one
/// commit for all of them. Requests queued during a commit wait for the next one, which covers
/// them. It ends when the journal's sender is dropped ([`Journal::close`]).
fn spawn_group_commit(
    committer: Arc<Committer>,
    flushes: Arc<AtomicU64>,
) -> (
    mpsc::UnboundedSender<oneshot::Sender<Result<(), String>>>,
    JoinHandle<()>,
) {
    let (requests, mut queue) = mpsc::unbounded_channel::<oneshot::Sender<Result<(), String>>>();
    let flusher = tokio::spawn(async move {
        while let Some(first) = queue.recv().await {
            let mut waiting = vec![first];
            while let Ok(more) = queue.try_recv() {
                waiting.push(more);
            }
            let committer = committer.clone();
            let result = tokio::task::spawn_blocking(move || committer.commit())
                .await
                .unwrap_or_else(|e| Err(e.to_string()));
            flushes.fetch_add(1, Ordering::Relaxed);
            for waiter in waiting {
                let _ = waiter.send(result.clone());
            }
        }
    });
    (requests, flusher)
}

/// The journal's witness: read and checked against the campaign, or written first thing for a
/// new journal, before sled exists, so that a database without a witness is never a crash's
/// leftover but a damaged (or foreign) journal.
fn witness_of(dir: &Path, campaign: &str, began: Timestamp) -> Result<Witness, JournalError> {
    let corrupt = |why: String| JournalError::Corrupt {
        dir: dir.to_owned(),
        why,
    };
    match Witness::read(dir).map_err(corrupt)? {
        Some(witness) if witness.campaign == campaign => Ok(witness),
        Some(witness) => Err(JournalError::Foreign {
            dir: dir.to_owned(),
            why: format!("it belongs to campaign `{}`", witness.campaign),
        }),
        None if dir.join("sled").exists() => Err(corrupt(
            "its witness file is missing, so writes it may have lost cannot be ruled out".into(),
        )),
        None => {
            let witness = Witness::new(campaign, began);
            witness.create(dir).map_err(|source| JournalError::Io {
                dir: dir.to_owned(),
                source,
            })?;
            Ok(witness)
        }
    }
}

/// Opens sled as the witness allows. Before the first commit nothing can have been dialled, so a
/// database a crash left half-made is started afresh; after it, a missing or unreadable one is
/// damage.
fn open_sled_as_witnessed(
    dir: &Path,
    witness: &Witness,
    compression: Compression,
    durability: Durability,
) -> Result<sled::Db, JournalError> {
    let path = dir.join("sled");
    if witness.commit > 0 && !path.exists() {
        return Err(JournalError::Corrupt {
            dir: dir.to_owned(),
            why: format!(
                "its database is gone, though {} commits were made durable",
                witness.commit
            ),
        });
    }
    match open_sled(dir, compression, durability) {
        Err(JournalError::Corrupt { .. }) if witness.commit == 0 => {
            fs::remove_dir_all(&path).map_err(|source| JournalError::Io {
                dir: dir.to_owned(),
                source,
            })?;
            open_sled(dir, compression, durability)
        }
        opened => opened,
    }
}

/// Waits (up to a second) until nobody holds sled's file lock on `file`: sled 0.34's own I/O
/// threads can keep its database a moment after its last handle is dropped, and an open right
/// after a close (or a drop, or another process's exit) must not find it held.
fn wait_for_sled_release(file: &Path) {
    let Ok(probe) = File::open(file) else {
        return;
    };
    for _ in 0..1000 {
        match probe.try_lock() {
            Err(TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(1))
            }
            // Free (the probe's own lock goes with it), or nothing to wait for.
            Ok(()) | Err(TryLockError::Error(_)) => return,
        }
    }
}

/// Makes numbered commits: the number goes into sled, sled flushes, then the witness records it.
struct Committer {
    db: sled::Db,
    /// The latest witness written, and its file; the lock also keeps two commits from writing
    /// it at once.
    witness: Mutex<(Witness, File)>,
}

impl Committer {
    /// Checks that sled holds at least the commit its witness records: fewer means durable writes
    /// were lost, and the journal is refused before anything reads it.
    fn check(db: sled::Db, dir: &Path, mut witness: Witness) -> Result<Committer, JournalError> {
        let corrupt = |why: String| JournalError::Corrupt {
            dir: dir.to_owned(),
            why,
        };
        let held = match db.get(COMMIT_KEY) {
            Ok(None) => 0,
            Ok(Some(bytes)) => <[u8; 8]>::try_from(bytes.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt("its commit number is damaged".into()))?,
            Err(e) => return Err(corrupt(e.to_string())),
        };
        if held < witness.commit {
            return Err(corrupt(format!(
                "its database holds commit {held} but its witness saw commit {} made durable: \
                 writes were lost (a truncated or damaged file, or an older copy restored)",
                witness.commit
            )));
        }
        witness.commit = held;
        let file = Witness::open_for_writing(dir).map_err(|source| JournalError::Io {
            dir: dir.to_owned(),
            source,
        })?;
        Ok(Committer {
            db,
            witness: Mutex::new((witness, file)),
        })
    }

    /// A copy of the latest witness.
    fn witness(&self) -> Witness {
        self.lock().0.clone()
    }

    /// Makes everything written so far durable as the next commit, then records it in the
    /// witness. Only then are the callers answered, so a create request never leaves before the
    /// witness can tell its mark's loss.
    fn commit(&self) -> Result<(), String> {
        let mut guard = self.lock();
        let (witness, file) = &mut *guard;
        let next = witness.commit + 1;
        self.db
            .insert(COMMIT_KEY, &next.to_be_bytes())
            .map_err(|e| e.to_string())?;
        self.db.flush().map_err(|e| e.to_string())?;
        witness.commit = next;
        witness
            .record(file)
            .map_err(|e| format!("its witness could not be written: {e}"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Witness, File)> {
        self.witness
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether an entry in `state` belongs in the open index: work is left for it (a dial, a look-up,
/// a call to follow to its end).
fn is_open(state: &State) -> bool {
    matches!(
        state,
        State::Pending | State::Dialing | State::Placed | State::Uncertain { .. }
    )
}

/// Where the journal keeps a group of the tally's counters: those of the campaign as a whole,
/// or one caller ID's. A contact's move shifts up to six counters in at most two groups, and a
/// put writes one key per group it moved.
#[derive(Debug, PartialEq)]
enum Counts {
    Campaign,
    Caller(String),
}

impl From<Counter> for Counts {
    fn from(counter: Counter) -> Counts {
        match counter {
            Counter::CallerCalls(caller) | Counter::CallerLocal(caller) => Counts::Caller(caller),
            Counter::State(_) | Counter::Attempts | Counter::Outcome(_) | Counter::Match(_) => {
                Counts::Campaign
            }
        }
    }
}

impl Counts {
    /// The groups `moved` touches, each once.
    fn moved_by(moved: Vec<Counter>) -> Vec<Counts> {
        let mut groups: Vec<Counts> = Vec::with_capacity(2);
        for counts in moved.into_iter().map(Counts::from) {
            if !groups.contains(&counts) {
                groups.push(counts);
            }
        }
        groups
    }

    /// Every group `tally` holds.
    fn all(tally: &Tally) -> impl Iterator<Item = Counts> + '_ {
        let callers = tally.callers.keys().map(|c| Counts::Caller(c.clone()));
        std::iter::once(Counts::Campaign).chain(callers)
    }

    fn key(&self) -> Vec<u8> {
        match self {
            Counts::Campaign => CAMPAIGN_COUNTS.to_vec(),
            Counts::Caller(caller) => [CALLER_COUNTS, caller.as_bytes()].concat(),
        }
    }

    /// This group's counters as `tally` holds them, as stored.
    fn encode(&self, tally: &Tally) -> Vec<u8> {
        match self {
            Counts::Campaign => record::encode_campaign_counts(tally),
            Counts::Caller(caller) => record::encode_caller_counts(
                &tally.callers.get(caller).cloned().unwrap_or_default(),
            ),
        }
    }
}

/// The tally the counters of `contacts` hold.
fn read_tally(contacts: &Tree) -> Result<Tally, String> {
    let mut tally = Tally::default();
    for item in contacts.scan_prefix(COUNTS) {
        let (key, value) = item?;
        if key == CAMPAIGN_COUNTS {
            record::decode_campaign_counts(&value, &mut tally)?;
        } else if let Some(caller) = key.strip_prefix(CALLER_COUNTS) {
            let caller = String::from_utf8(caller.to_vec())
                .map_err(|_| "a caller ID's counters are under a damaged key".to_owned())?;
            let counts = record::decode_caller_counts(&value)?;
            tally.callers.insert(caller, counts);
        } else {
            return Err(format!(
                "unknown counters {}",
                String::from_utf8_lossy(&key)
            ));
        }
    }
    Ok(tally)
}

/// The tally format 2's counters (one key each) hold.
fn read_counters_2(contacts: &sled::Tree) -> Result<Tally, String> {
    let mut tally = Tally::default();
    for item in contacts.scan_prefix(COUNTERS_2) {
        let (key, value) = item.map_err(|e| e.to_string())?;
        let counter: Counter = postcard::from_bytes(&key[COUNTERS_2.len()..])
            .map_err(|e| format!("a tally counter cannot be read: {e}"))?;
        let value = <[u8; 8]>::try_from(value.as_ref())
            .map_err(|_| "a tally counter's value is damaged".to_owned())?;
        tally.set(counter, u64::from_be_bytes(value));
    }
    Ok(tally)
}

/// Every group of `tally`'s counters, written into `batch`.
fn write_tally(batch: &mut sled::Batch, tally: &Tally) {
    for counts in Counts::all(tally) {
        batch.insert(counts.key(), counts.encode(tally));
    }
}

/// Brings a format-2 journal to format 3: its counters, one key each, are folded into their
/// groups in one atomic batch, then the stamp is bumped. A migration interrupted after the batch
/// finds no format-2 counters left and only bumps the stamp.
fn migrate_counters(db: &sled::Db, contacts: &sled::Tree) -> Result<(), String> {
    let mut batch = sled::Batch::default();
    let mut folded = false;
    for key in contacts.scan_prefix(COUNTERS_2).keys() {
        batch.remove(key.map_err(|e| e.to_string())?);
        folded = true;
    }
    if folded {
        write_tally(&mut batch, &read_counters_2(contacts)?);
        contacts.apply_batch(batch).map_err(|e| e.to_string())?;
    }
    restamp(db)
}

/// Stamps the journal with today's format, the last step of every migration.
fn restamp(db: &sled::Db) -> Result<(), String> {
    db.insert("format", FORMAT)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Entries rewritten per batch while migrating: bounds the memory a migration holds.
const MIGRATION_BATCH: usize = 10_000;

/// Brings a format-1 journal to today's format in place: every JSON entry is rewritten in the
/// binary encoding, the open index and the tally are built, then the format stamp is bumped.
/// Entries are rewritten in batches (a crash midway leaves both encodings, which both read);
/// the index and the tally are rebuilt from scratch by every attempt and written in the last
/// batch, before the stamp, so a migration interrupted anywhere is simply done again.
fn migrate(db: &sled::Db, contacts: &sled::Tree, starts: &sled::Tree) -> Result<(), String> {
    migrate_starts(db, starts)?;
    let mut stale = sled::Batch::default();
    for item in contacts
        .scan_prefix(OPEN)
        .chain(contacts.scan_prefix(COUNTERS_2))
        .chain(contacts.scan_prefix(COUNTS))
    {
        stale.remove(item.map_err(|e| e.to_string())?.0);
    }
    contacts.apply_batch(stale).map_err(|e| e.to_string())?;
    let mut tally = Tally::default();
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    for item in contacts.scan_prefix(ENTRY) {
        let (key, value) = item.map_err(|e| e.to_string())?;
        let phone = stored_phone(&key)
            .ok_or_else(|| format!("key {} is not a phone", String::from_utf8_lossy(&key)))?;
        let entry = record::decode(&phone, &value)
            .map_err(|e| format!("entry {phone} cannot be read: {e}"))?;
        tally.count(&entry);
        if is_open(&entry.state) {
            batch.insert([OPEN, &key].concat(), &[]);
        }
        if record::is_format_1(&value) {
            batch.insert(&key, record::encode(&entry));
        }
        in_batch += 1;
        if in_batch == MIGRATION_BATCH {
            contacts
                .apply_batch(std::mem::take(&mut batch))
                .map_err(|e| e.to_string())?;
            in_batch = 0;
        }
    }
    write_tally(&mut batch, &tally);
    contacts.apply_batch(batch).map_err(|e| e.to_string())?;
    restamp(db)?;
    db.drop_tree("starts").map_err(|e| e.to_string())?;
    Ok(())
}

/// Copies format 1's call starts (moment then caller ID) into today's tree (caller ID then
/// moment). Copying the same key twice is harmless, so an interrupted copy is simply redone.
fn migrate_starts(db: &sled::Db, starts: &sled::Tree) -> Result<(), String> {
    let old = db.open_tree("starts").map_err(|e| e.to_string())?;
    let mut batch = sled::Batch::default();
    for key in old.iter().keys() {
        let key = key.map_err(|e| e.to_string())?;
        let at = <[u8; 8]>::try_from(key.get(..8).unwrap_or_default())
            .ok()
            .and_then(|ms| Timestamp::from_millisecond(i64::from_be_bytes(ms)).ok());
        let caller = stored_phone(&key[8.min(key.len())..]);
        let (Some(at), Some(caller)) = (at, caller) else {
            return Err("a call start cannot be read".into());
        };
        batch.insert(start_key(&caller, at), &[]);
    }
    starts.apply_batch(batch).map_err(|e| e.to_string())
}
