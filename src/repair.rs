//! `outdial repair`: checks a campaign's journal against the vendor's own records, or rebuilds a
//! damaged or lost one from them, so that the next run calls nobody twice.
//!
//! The vendor's record is every call of the agent since the campaign began (`GET /v2/calls` with
//! `from_date`, every page), matched to the contacts of the CSV by the number called. A contact
//! the vendor called and the journal does not know as called becomes `placed` with the newest
//! such call: the next run follows that call to its end, and redials it only as the retry policy
//! says. A damaged journal is moved aside, never edited, and a new one is built in its place.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};

use crate::api::{AgentCall, Synthflow};
use crate::campaign::Campaign;
use crate::contacts::{Contact, ContactReader, Row};
use crate::error::Error;
use crate::journal::{Entry, Journal, JournalError, State};
use crate::phone::Phone;

/// How far before the campaign's start the vendor's calls are read, and how much earlier than
/// a `dialing` mark a call may start and still be that mark's call: the vendor's clock and ours
/// differ by seconds, and counting a call too many never calls anyone.
const CLOCK_MARGIN: SignedDuration = SignedDuration::from_mins(10);

/// Whether repair may change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Look and say what would change (`--dry-run`).
    Check,
    /// Make the changes.
    Apply,
}

/// The journal as repair found it.
#[derive(Debug)]
pub enum Condition {
    Healthy,
    /// Refused when opened, or an entry cannot be read.
    Damaged {
        why: String,
    },
    Missing,
}

/// One contact whose journal entry changes.
#[derive(Debug)]
pub struct Change {
    pub phone: Phone,
    /// The state the journal had for it, if it knew it.
    pub was: Option<&'static str>,
    pub call_id: String,
    pub started: Option<Timestamp>,
    pub calls: usize,
}

/// What repair found and did.
#[derive(Debug)]
pub struct Repair {
    pub campaign: String,
    pub condition: Condition,
    pub since: Timestamp,
    /// Calls of the agent the vendor listed since `since`.
    pub calls: usize,
    /// Of those, calls to contacts of the CSV, and how many contacts they reached.
    pub calls_to_contacts: usize,
    pub contacts_called: usize,
    pub contacts: usize,
    pub changes: Vec<Change>,
    /// Where the damaged journal was moved, when it was.
    pub set_aside: Option<PathBuf>,
    pub mode: Mode,
}

/// Checks or rebuilds `campaign`'s journal from `api`'s records. `since` overrides when the
/// campaign began (needed when the journal and its witness are both gone).
pub async fn repair(
    campaign: &Campaign,
    api: &Synthflow,
    since: Option<Timestamp>,
    mode: Mode,
) -> Result<Repair, Error> {
    if let Some(url) = crate::store::url_for(campaign)? {
        return Err(Error::Usage(format!(
            "campaign `{}` keeps its journal in the store at {}, which PostgreSQL keeps whole (restore it from the database's backups if it was lost); `outdial repair` rebuilds journals kept on this disk",
            campaign.name,
            url.at()
        )));
    }
    let dir = &campaign.journal_dir;
    let (journal, condition) = inspect(campaign).await?;
    let began = match &journal {
        Some(journal) => Some(journal.began()),
        None => Journal::began_in(dir),
    };
    let since = since.or(began).ok_or_else(|| {
        Error::Usage(format!(
            "repair cannot tell when campaign `{}` began: its journal's witness is gone; give the time of its first run with --since, e.g. --since 2026-11-30T09:00:00Z",
            campaign.name
        ))
    })?;
    let listed = api.agent_calls(&campaign.agent, less_margin(since)).await?;
    let contacts = read_contacts(campaign)?;
    let by_callee = calls_by_callee(&listed);
    let mut report = Repair {
        campaign: campaign.name.clone(),
        condition,
        since,
        calls: listed.len(),
        calls_to_contacts: 0,
        contacts_called: 0,
        contacts: contacts.len(),
        changes: Vec::new(),
        set_aside: None,
        mode,
    };
    let mut updates = Vec::new();
    let now = Timestamp::now();
    for (phone, contact) in &contacts {
        let Some(calls) = by_callee.get(phone) else {
            continue;
        };
        report.calls_to_contacts += calls.len();
        report.contacts_called += 1;
        let known = match &journal {
            Some(journal) => journal.get(phone)?,
            None => None,
        };
        if let Some((entry, change)) = update(contact, known.as_ref(), calls, now) {
            report.changes.push(change);
            updates.push((entry, calls.clone()));
        }
    }
    let nothing_to_do = matches!(report.condition, Condition::Healthy) && updates.is_empty();
    if mode == Mode::Apply && !nothing_to_do {
        report.set_aside = write(campaign, journal, &report.condition, since, &updates).await?;
    } else if let Some(journal) = journal {
        journal.close().await;
    }
    Ok(report)
}

/// Opens the journal to see what state it is in; a readable one stays open (and locked).
async fn inspect(campaign: &Campaign) -> Result<(Option<Journal>, Condition), Error> {
    match Journal::open_existing(&campaign.journal_dir, &campaign.name) {
        Ok(journal) => match known_entries(&journal) {
            Ok(_) => Ok((Some(journal), Condition::Healthy)),
            Err(JournalError::Corrupt { why, .. }) => {
                journal.close().await;
                Ok((None, Condition::Damaged { why }))
            }
            Err(e) => Err(e.into()),
        },
        Err(JournalError::Corrupt { why, .. }) => Ok((None, Condition::Damaged { why })),
        Err(JournalError::Missing { .. }) => Ok((None, Condition::Missing)),
        Err(e) => Err(e.into()),
    }
}

/// `at`, earlier by the clock margin.
fn less_margin(at: Timestamp) -> Timestamp {
    at.checked_sub(CLOCK_MARGIN).unwrap_or(Timestamp::MIN)
}

/// Reads every entry, so that one that cannot be read shows as damage now.
fn known_entries(journal: &Journal) -> Result<usize, JournalError> {
    journal
        .entries()
        .try_fold(0, |n, entry| entry.map(|_| n + 1))
}

/// The CSV's contacts by phone (the first row of each phone, as a run takes them).
fn read_contacts(campaign: &Campaign) -> Result<BTreeMap<Phone, Contact>, Error> {
    let mut contacts = BTreeMap::new();
    for row in ContactReader::open(&campaign.contacts, campaign.default_country)? {
        if let Row::Contact(contact) = row? {
            contacts.entry(contact.phone.clone()).or_insert(contact);
        }
    }
    Ok(contacts)
}

/// The vendor's calls grouped by the number called, oldest first (unstarted calls last).
fn calls_by_callee(listed: &[AgentCall]) -> HashMap<Phone, Vec<AgentCall>> {
    let mut by_callee: HashMap<Phone, Vec<AgentCall>> = HashMap::new();
    for call in listed {
        if let Some(callee) = call.callee() {
            by_callee.entry(callee).or_default().push(call.clone());
        }
    }
    for calls in by_callee.values_mut() {
        calls.sort_by_key(|call| call.start().unwrap_or(Timestamp::MAX));
    }
    by_callee
}

/// The entry a contact should have when the vendor made `calls` to it and the journal knows it
/// as `known`: `None` when the journal already knows its newest call (or it is skipped, which
/// never calls anyone).
fn update(
    contact: &Contact,
    known: Option<&Entry>,
    calls: &[AgentCall],
    now: Timestamp,
) -> Option<(Entry, Change)> {
    let newest = calls.last()?;
    if let Some(entry) = known {
        let knows_newest = entry.call_id.as_deref() == Some(newest.call_id.as_str());
        let marked_since_newest = match (entry.dialed_at, newest.start()) {
            (Some(mark), Some(start)) => start < less_margin(mark),
            _ => false,
        };
        if knows_newest || marked_since_newest || matches!(entry.state, State::Skipped { .. }) {
            return None;
        }
    }
    let mut entry = known
        .cloned()
        .unwrap_or_else(|| Entry::new(contact.clone(), 0, now));
    let change = Change {
        phone: contact.phone.clone(),
        was: known.map(|e| e.state.name()),
        call_id: newest.call_id.clone(),
        started: newest.start(),
        calls: calls.len(),
    };
    entry.attempts = entry
        .attempts
        .max(u32::try_from(calls.len()).unwrap_or(u32::MAX));
    entry.caller_id = newest.caller().or(entry.caller_id);
    entry.dialed_at = newest.start().or(entry.dialed_at);
    entry.placed(newest.call_id.clone(), now);
    Some((entry, change))
}

/// Writes the updates: into the healthy journal, or into a new one built where the damaged one
/// was (moved aside first) or where none is. Returns where a damaged journal went.
async fn write(
    campaign: &Campaign,
    journal: Option<Journal>,
    condition: &Condition,
    since: Timestamp,
    updates: &[(Entry, Vec<AgentCall>)],
) -> Result<Option<PathBuf>, Error> {
    let dir = &campaign.journal_dir;
    let set_aside = match condition {
        Condition::Damaged { .. } => Some(Journal::set_aside(dir, &campaign.name)?),
        Condition::Healthy | Condition::Missing => None,
    };
    let journal = match journal {
        Some(journal) => journal,
        None => Journal::open_or_create(dir, &campaign.name, since, campaign.journal_compression)?,
    };
    let run = journal.begin_run()?;
    let keep = crate::caps::starts_needed(campaign.rotation.max_calls_per_number_per_day);
    for (entry, calls) in updates {
        let mut entry = entry.clone();
        entry.run = entry.run.max(run);
        journal.put(&entry)?;
        for call in calls {
            if let (Some(caller), Some(start)) = (call.caller(), call.start()) {
                journal.note_start(&caller, start, keep)?;
            }
        }
    }
    journal.flush()?;
    journal.close().await;
    Ok(set_aside)
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let condition = match &self.condition {
            Condition::Healthy => "readable".to_owned(),
            Condition::Damaged { why } => format!("damaged ({why})"),
            Condition::Missing => "missing".to_owned(),
        };
        writeln!(f, "campaign {}: journal {condition}", self.campaign)?;
        writeln!(
            f,
            "the vendor lists {} calls of the agent since {} (campaign start, less {CLOCK_MARGIN:#} for clock skew); {} of them to {} of the {} contacts in the CSV",
            self.calls,
            self.since.strftime("%Y-%m-%d %H:%M:%S UTC"),
            self.calls_to_contacts,
            self.contacts_called,
            self.contacts
        )?;
        let verb = match self.mode {
            Mode::Check => "would mark",
            Mode::Apply => "marked",
        };
        for change in &self.changes {
            let started = change
                .started
                .map(|t| t.strftime(", started %Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default();
            writeln!(
                f,
                "  {}: {} → {verb} placed with call {}{started} ({} call(s) in all)",
                change.phone,
                change.was.unwrap_or("not in the journal"),
                change.call_id,
                change.calls
            )?;
        }
        if let Some(aside) = &self.set_aside {
            writeln!(f, "the damaged journal was moved to {}", aside.display())?;
        }
        let built = !matches!(self.condition, Condition::Healthy);
        match (self.mode, built, self.changes.len()) {
            (Mode::Check, _, _) => writeln!(f, "dry run: nothing was changed"),
            (Mode::Apply, true, n) => writeln!(
                f,
                "built a new journal with {n} contacts placed; the next run follows their calls and calls only the others"
            ),
            (Mode::Apply, false, 0) => {
                writeln!(f, "the journal agrees with the vendor: nothing to change")
            }
            (Mode::Apply, false, n) => {
                writeln!(f, "{n} contacts updated; the next run follows their calls")
            }
        }
    }
}
