//! The campaign pipeline behind `outdial run`: contacts → eligibility (journal, do-not-call,
//! calling window) → caller-ID choice (rotation under caps) → pacing → create the call → follow it
//! to its outcome → journal.
//!
//! One task, the [`Dialer`], owns the journal writes, the rotation and the tally. Each call lives
//! in its own task ([`crate::call`]) and reports back over a channel, so a slow request never
//! holds up the schedule and a failed call is an outcome to record, never an error that ends the
//! run. Work that must wait (a redial, an uncertain call's look-up) sits in the journal's due
//! queue, on disk, so memory does not grow with the campaign.

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::api::{ApiError, CallState, Synthflow};
use crate::budget::Share;
use crate::call::{Calls, CreateError, Report as CallReport, SharedCaps};
use crate::campaign::{ApiKey, Campaign};
use crate::caps::{self, Elsewhere};
use crate::clock::Clock;
use crate::contacts::{ContactReader, ContactsError, ReadMark, Row};
use crate::error::Error;
use crate::follow::Follower;
use crate::history::Attempt;
use crate::journal::{Entry, Journal, Refusal, SkippedRow, State};
use crate::pacing::Slot;
use crate::phone::Phone;
use crate::progress::{Display, Progress};
use crate::report::{Phase, Report, RunFigures, Tally};
use crate::rotation::Match;
use crate::rules::{Listing, REMOVED, Rules, Verdict, WindowCheck};
use crate::store::Admit;
use crate::suppression::{self, DoNotCall, Unreadable};
use crate::survey::Reading;
pub use crate::survey::survey;

/// A row of the CSV, with where the row after it starts (`None` for a transcoded file).
type ReadRow = (Row, Option<ReadMark>);

/// Where the CSV's rows come from.
enum Rows {
    /// A reader on a blocking thread, ahead of the dialer by a bounded channel: a slow disk
    /// never holds up the schedule, and memory stays flat.
    Threaded(mpsc::Receiver<Result<ReadRow, ContactsError>>),
    /// Read on the dialer's own task, under a virtual clock: a reader thread would hold time
    /// still for as long as it lives (tokio does not move a paused clock while blocking work
    /// runs), or, were it a plain thread, let time jump while the dialer waits for a row.
    InLine(Box<ContactReader<File>>),
}

impl Rows {
    /// The next row, `None` at the end of the file.
    async fn next(&mut self) -> Option<Result<ReadRow, ContactsError>> {
        match self {
            Rows::Threaded(rows) => rows.recv().await,
            Rows::InLine(reader) => {
                let row = reader.next()?;
                Some(row.map(|row| (row, reader.resume_point())))
            }
        }
    }
}

/// How often the progress display is refreshed.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// How a run ended, when it did not fail.
#[derive(Debug)]
pub enum Ending {
    /// Every contact is settled.
    Complete,
    /// Ctrl-C: dispatching stopped, requests in flight were answered, the journal is saved.
    Interrupted,
    /// The account refused (401/402/403); the remaining contacts stay pending.
    AccountRefused(ApiError),
    /// The same refusal hit create request after create request: the campaign file (its agent
    /// or its base URL) is wrong, not the contacts. They stay pending.
    CampaignRefused(CampaignMistake),
    /// A do-not-call list stayed unreadable past `suppress.unreadable_limit_seconds`; the
    /// remaining contacts stay pending.
    ListUnreadable(Unreadable),
}

/// A refusal that hit every create request of a run alike, and what to fix for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignMistake {
    pub status: u16,
    pub detail: String,
    pub agent: String,
    /// How many create requests it refused before the run stopped.
    pub refused: usize,
}

impl std::fmt::Display for CampaignMistake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let CampaignMistake {
            status,
            detail,
            agent,
            refused,
        } = self;
        let names_agent = names_agent(detail, agent);
        let fix = match status {
            404 if names_agent => format!(
                "the API does not know agent `{agent}`: check `agent` in the campaign file (and that the key is of the agent's workspace)"
            ),
            404 => "the API has no such route: check `api.base_url` in the campaign file (the wrong region's base URL, or a wrong path such as /v3?)".to_owned(),
            _ if names_agent => format!(
                "the API refuses agent `{agent}`: check `agent` in the campaign file"
            ),
            _ => "check the campaign file's `agent`, `api.base_url` and `[rotation] numbers` against the message".to_owned(),
        };
        write!(
            f,
            "the Synthflow API refused {refused} create requests in a row the same way ({status}: {detail}), so the campaign is at fault, not the contacts: {fix}"
        )
    }
}

/// The result of `run`: how it ended and the figures for the summary.
#[derive(Debug)]
pub struct Finish {
    pub ending: Ending,
    pub report: Report,
    /// fsyncs the journal made for the `dialing` marks (group commit).
    pub journal_flushes: u64,
}

/// Runs a campaign on an open journal: checks the contacts file, resolves the pool, then dials
/// until every contact is settled, `shutdown` resolves, or the account refuses.
pub async fn launch(
    campaign: &Campaign,
    journal: &Journal,
    key: ApiKey,
    display: Display,
    shutdown: impl Future<Output = ()>,
) -> Result<Finish, Error> {
    let rows = survey(campaign, journal).await?;
    let api = Synthflow::new(&campaign.api.base_url, key)?;
    let pool = resolve_pool(campaign, &api).await?;
    let progress = display.for_rows(rows);
    let share = Share::alone(&campaign.pacing);
    Dialer::new(campaign, api, journal, &pool, share, progress.as_ref())?
        .with_rows_in_file(rows)
        .run(shutdown)
        .await
}

/// The pool a campaign dials from: its own `rotation.numbers`, else the agent's attached numbers.
pub async fn resolve_pool(campaign: &Campaign, api: &Synthflow) -> Result<Vec<Phone>, Error> {
    if !campaign.rotation.numbers.is_empty() {
        return Ok(campaign.rotation.numbers.clone());
    }
    let agent = api
        .agent(&campaign.agent)
        .await
        .map_err(|source| Error::Agent {
            agent: campaign.agent.clone(),
            source,
        })?;
    let pool: Vec<Phone> = agent
        .attached
        .iter()
        .filter_map(|n| match Phone::parse(&n.number, campaign.default_country) {
            Ok(phone) => Some(phone),
            Err(e) => {
                tracing::warn!(slug = %n.slug, "attached number is not usable as a caller ID: {e}");
                None
            }
        })
        .collect();
    if pool.is_empty() {
        return Err(Error::EmptyPool {
            agent: campaign.agent.clone(),
        });
    }
    Ok(pool)
}

/// Whether a refusal's text is about the agent (its id, or the words the vendor uses for it).
fn names_agent(detail: &str, agent: &str) -> bool {
    let lower = detail.to_lowercase();
    detail.contains(agent) || lower.contains("agent") || lower.contains("model_id")
}

/// A refusal that can be the campaign's rather than the contact's: a 404 (no such agent, no
/// such route: no contact makes a create request 404), or one whose text names the agent. A
/// 400 about the callee is the contact's own, however many contacts get the same text.
fn may_be_campaign_wide(status: u16, detail: &str, agent: &str) -> bool {
    status == 404 || names_agent(detail, agent)
}

/// Identical refusals of create requests in a row, with no call created in between. A refusal
/// that hits [`CAMPAIGN_WIDE`] contacts alike is the campaign's (a wrong agent id, a wrong base
/// URL), not theirs: its contacts are kept pending until the streak proves one or the other.
#[derive(Default)]
struct Streak {
    /// The status and text every create of the streak was refused with.
    refusal: Option<(u16, String)>,
    /// The contacts refused in the streak, as they were when refused (`dialing`); pending in the
    /// journal meanwhile.
    refused: Vec<Entry>,
}

/// Identical refusals in a row that make a refusal campaign-wide.
const CAMPAIGN_WIDE: usize = 3;

impl Streak {
    /// One more refusal; returns the contacts of a streak it breaks (a different refusal).
    fn refused(&mut self, status: u16, detail: &str, entry: Entry) -> Vec<Entry> {
        let same = self
            .refusal
            .as_ref()
            .is_some_and(|(s, d)| *s == status && d == detail);
        let broken = if same { Vec::new() } else { self.broken() };
        self.refusal = Some((status, detail.to_owned()));
        self.refused.push(entry);
        broken
    }

    /// A call was created, or another answer came: the refused contacts were refused for
    /// themselves.
    fn broken(&mut self) -> Vec<Entry> {
        self.refusal = None;
        std::mem::take(&mut self.refused)
    }

    fn mistake(&self, agent: &str) -> Option<CampaignMistake> {
        let (status, detail) = self.refusal.clone()?;
        (self.refused.len() >= CAMPAIGN_WIDE).then(|| CampaignMistake {
            status,
            detail,
            agent: agent.to_owned(),
            refused: self.refused.len(),
        })
    }
}

/// The pipeline's one owner of journal writes, the rules' state and the tally.
pub struct Dialer<'a> {
    campaign: &'a Campaign,
    journal: &'a Journal,
    rules: Rules,
    /// Every instant the run reads; the system clock but in tests.
    clock: Clock,
    /// When the unreadable list last told about became unreadable, so it is said once.
    told_unreadable: Option<Timestamp>,
    /// The due moment last announced as idle time, so it is said once.
    announced: Option<Timestamp>,
    /// The campaign's part of its account's pace and of the caps.
    share: Share,
    calls: Calls,
    reports: mpsc::UnboundedReceiver<CallReport>,
    /// Every call task, owned: a task that panics ends the run loudly instead of leaving it
    /// waiting for a report that never comes.
    tasks: JoinSet<()>,
    /// Set to true when the run stops: live calls stop being followed.
    stop_following: watch::Sender<bool>,
    progress: &'a dyn Progress,
    run: u64,
    tally: Tally,
    /// The tally as earlier runs left it, so this run's own pace can be told apart.
    tally_at_start: Tally,
    /// Data rows of the contacts file, as the survey counted them (`None` when not surveyed).
    rows_in_file: Option<u64>,
    /// On the machine's clock, as are the two below, even under a virtual one: they pace what
    /// people watching see, not the calls.
    started: Instant,
    /// When the progress display was last updated: a report a few times a second is plenty.
    last_shown: Instant,
    last_snapshot: Instant,
    /// The CSV stream, until it runs out.
    rows: Option<Rows>,
    /// Where this run's reading of the CSV began and how far it got; set when `run` starts.
    reading: Option<Reading>,
    /// The contact taken up next, waiting for its slot in the schedule.
    held: Option<Entry>,
    /// Contacts to send again soon (after a 429, a refused caller ID, a call not found).
    again: VecDeque<Entry>,
    /// Refusals that may be the campaign's rather than the contacts'.
    streak: Streak,
    /// Set when dispatching must stop (Ctrl-C, account refused, campaign refused).
    stopping: Option<Ending>,
}

/// A [`Dialer`] that has taken up what earlier runs left, ready to dial.
pub struct Resumed<'a>(Dialer<'a>);

impl Resumed<'_> {
    /// Runs the campaign to its end, or until `shutdown` resolves (see [`Dialer::run`]).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<Finish, Error> {
        self.0.dial_all(shutdown).await
    }
}

impl<'a> Dialer<'a> {
    pub fn new(
        campaign: &'a Campaign,
        api: Synthflow,
        journal: &'a Journal,
        pool: &[Phone],
        share: Share,
        progress: &'a dyn Progress,
    ) -> Result<Dialer<'a>, Error> {
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (stop_following, stop) = watch::channel(false);
        let pacer = share.pacer().clone();
        let clock = Clock::System;
        let do_not_call = DoNotCall::watch(
            &campaign.suppress.files,
            campaign.default_country,
            suppression::RECHECK,
        )?;
        for list in do_not_call.counts() {
            progress.note(&format!("do-not-call list {list}"));
        }
        let follower = Follower::start(
            api.clone(),
            campaign.agent.clone(),
            pacer.clone(),
            campaign.retry.max_call,
        );
        let calls = Calls {
            api,
            agent: campaign.agent.clone(),
            follower,
            pacer: pacer.clone(),
            reports: reports_tx,
            stop,
            clock,
            shared_caps: share.shared().map(|ledger| SharedCaps {
                ledger: Arc::clone(ledger),
                cap_per_day: campaign.rotation.max_calls_per_number_per_day,
                cooldown: campaign.rotation.min_gap_per_number,
            }),
        };
        Ok(Dialer {
            campaign,
            journal,
            rules: Rules::new(campaign, pool, do_not_call, share.ledger()),
            clock,
            told_unreadable: None,
            announced: None,
            share,
            calls,
            reports,
            tasks: JoinSet::new(),
            stop_following,
            progress,
            run: journal.begin_run()?,
            tally: Tally::default(),
            tally_at_start: Tally::default(),
            rows_in_file: None,
            started: Instant::now(),
            last_shown: Instant::now()
                .checked_sub(PROGRESS_EVERY)
                .unwrap_or_else(Instant::now),
            last_snapshot: Instant::now(),
            rows: None,
            reading: None,
            held: None,
            again: VecDeque::new(),
            streak: Streak::default(),
            stopping: None,
        })
    }

    /// Reads every instant from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Clock) -> Dialer<'a> {
        self.clock = clock;
        self.calls.clock = clock;
        self
    }

    /// Totals count `rows` data rows in the contacts file from the start (the survey's count).
    pub fn with_rows_in_file(mut self, rows: u64) -> Dialer<'a> {
        self.rows_in_file = Some(rows);
        self
    }

    /// Runs the campaign to its end, or until `shutdown` resolves (Ctrl-C). A call task that
    /// panics ends the run with [`Error::TaskPanicked`]; its contact stays `dialing` in the
    /// journal, so the next run looks its call up before dialling anyone again.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<Finish, Error> {
        self.resumed()?.run(shutdown).await
    }

    /// The dialer with what earlier runs left taken up (see [`Dialer::take_up_earlier_runs`]),
    /// ready to dial. Campaigns that share caps all take theirs up before any of them dials.
    pub fn resumed(mut self) -> Result<Resumed<'a>, Error> {
        self.take_up_earlier_runs()?;
        self.tally_at_start = self.tally.clone();
        Ok(Resumed(self))
    }

    async fn dial_all(mut self, shutdown: impl Future<Output = ()>) -> Result<Finish, Error> {
        tokio::pin!(shutdown);
        self.rows = Some(self.stream_contacts()?);
        loop {
            if self.held.is_none() && self.stopping.is_none() {
                self.held = self.next_work().await?;
                if let Some(mut uncertain) = self.held.take_if(|e| e.state != State::Pending) {
                    self.start_looking_up(&mut uncertain)?;
                    self.calls.find(&mut self.tasks, uncertain);
                    continue;
                }
            }
            if self.held.is_none()
                && self.tasks.is_empty()
                && (self.stopping.is_some() || self.all_done()?)
            {
                break;
            }
            let waiting = match &self.held {
                None => self.journal.next_due()?,
                Some(_) => None,
            };
            let wake = waiting.as_ref().and_then(|e| e.due_at);
            self.say_when_idle(waiting.as_ref());
            // Biased, reports before joins: a task's reports are queued before it ends, so a
            // task is joined only once all it said has been handled.
            tokio::select! {
                biased;
                () = shutdown.as_mut(), if self.stopping.is_none() => {
                    self.progress.note("stopping: letting the requests in flight finish (Ctrl-C again to quit at once)");
                    self.stop(Ending::Interrupted);
                }
                Some(report) = self.reports.recv() => self.handle(report)?,
                Some(joined) = self.tasks.join_next() => self.joined(joined)?,
                slot = self.share.slot(), if self.held.is_some() && self.stopping.is_none() => {
                    let entry = self.held.take().expect("guarded by the branch condition");
                    self.dial(entry, slot)?;
                }
                () = sleep_until(self.clock, wake), if wake.is_some() && self.stopping.is_none() => {}
            }
            if self.stopping.is_some()
                && let Some(held) = self.held.take()
            {
                // Left `pending` in the journal: the next run takes it up. Kept in hand so
                // that no saved mark passes its row.
                self.write_if_new(&held)?;
                self.again.push_front(held);
            }
            self.save_mark_when_due()?;
            self.show_progress();
        }
        self.finish()
    }

    /// An uncertain contact goes to its look-up task, and off the due queue for good: its row
    /// read again meanwhile (a resume reads on from a mark a little before where the last run
    /// got to) rewrites the entry, and with its look-up time still set that write would queue it
    /// again, for a second look-up task. Two look-ups that both find nothing would each hand the
    /// contact back to be dialled: two calls for one attempt. A run that stops during the
    /// look-up leaves it `uncertain`, and the next run looks it up after its grace.
    fn start_looking_up(&mut self, entry: &mut Entry) -> Result<(), Error> {
        let before = entry.clone();
        entry.looking_up();
        self.record(&before, entry)
    }

    /// A call task ended; one that panicked ends the run (the journal is saved first).
    fn joined(&mut self, joined: Result<(), tokio::task::JoinError>) -> Result<(), Error> {
        let Err(error) = joined else { return Ok(()) };
        let message = match error.try_into_panic() {
            Ok(panic) => panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned()),
            Err(cancelled) => cancelled.to_string(),
        };
        let _ = self.stop_following.send(true);
        self.tasks.abort_all();
        self.journal.flush()?;
        Err(Error::TaskPanicked(message))
    }

    /// Picks up where earlier runs left: the tally, the rotation's order, calls still to follow,
    /// and contacts whose create request may have made a call (looked up once their grace is over).
    /// Reads what the journal keeps for this (its tally, its index of open entries, the recent
    /// call starts), never every entry: a resume's cost does not grow with the journal.
    fn take_up_earlier_runs(&mut self) -> Result<(), Error> {
        let started = Instant::now();
        let grace = span(self.campaign.retry.reconcile_grace);
        self.tally = self.journal.tally();
        let mut open = 0;
        for entry in self.journal.open_entries() {
            let mut entry = entry?;
            open += 1;
            match entry.state {
                State::Placed => self.calls.follow(&mut self.tasks, entry),
                State::Dialing | State::Uncertain { .. } => {
                    entry.look_up_after(grace);
                    self.journal.put(&entry)?;
                }
                // Re-queue waiting contacts: a due key taken but not acted on before a stop is gone.
                State::Pending if entry.due_at.is_some() => self.journal.put(&entry)?,
                _ => {}
            }
        }
        // Each number's latest calls, as many as the journal keeps (see `caps::starts_needed`),
        // are all the caps can need, and the latest is its place in the rotation's order.
        let per_number = caps::starts_needed(self.campaign.rotation.max_calls_per_number_per_day);
        let mut latest = Vec::new();
        let rereads = self.attempts_to_reread();
        for caller in self.rules.numbers() {
            let starts = self.journal.latest_starts(&caller, per_number)?;
            for at in &starts {
                self.rules.record_call(&caller, *at);
            }
            if rereads > 0 {
                let latest = self.journal.latest_attempts(&caller, rereads)?;
                self.rules.observe(&caller, &latest);
            }
            latest.extend(starts.first().map(|at| (caller, *at)));
        }
        self.rules.restore(latest);
        self.restore_health()?;
        tracing::info!(
            open,
            ms = started.elapsed().as_millis(),
            "resume state read"
        );
        Ok(())
    }

    /// Attempts read per number on a resume, once, for both number health's window (with the
    /// calls still live among the latest, which do not count) and a learning strategy's memory.
    fn attempts_to_reread(&self) -> usize {
        let health = match self.campaign.health.enabled {
            true => {
                let window = self.campaign.health.window_calls.get();
                (window + self.campaign.pacing.max_live_calls.get()) as usize
            }
            false => 0,
        };
        let learning = match self.campaign.rotation.learns() {
            true => crate::rotation::REMEMBERED,
            false => 0,
        };
        health.max(learning)
    }

    /// Streams the CSV (see [`Rows`]). A resume of the same file reads on from where earlier
    /// runs saved their mark; a run that reads the file from its start forgets the skipped rows
    /// of earlier runs' files.
    fn stream_contacts(&mut self) -> Result<Rows, Error> {
        let (reading, mut reader) = Reading::open(self.campaign, self.journal, self.run)?;
        match reading.resumed_from() {
            Some(mark) => {
                self.progress.note(&format!(
                    "contacts file unchanged since an earlier run: reading on from line {}",
                    mark.line
                ));
                self.tally.skipped_rows = self.skipped_rows_before(mark.line)?;
            }
            None => self.journal.clear_skipped_rows()?,
        }
        self.reading = Some(reading);
        if self.clock.is_virtual() {
            return Ok(Rows::InLine(Box::new(reader)));
        }
        let (rows_tx, rows_rx) = mpsc::channel(256);
        tokio::task::spawn_blocking(move || {
            while let Some(row) = reader.next() {
                let fatal = row.is_err();
                let row = row.map(|row| (row, reader.resume_point()));
                if rows_tx.blocking_send(row).is_err() || fatal {
                    return;
                }
            }
        });
        Ok(Rows::Threaded(rows_rx))
    }

    /// Skipped rows that earlier runs recorded before `line`.
    fn skipped_rows_before(&self, line: u64) -> Result<u64, Error> {
        let mut count = 0;
        for row in self.journal.skipped_rows() {
            if row?.line >= line {
                break;
            }
            count += 1;
        }
        Ok(count)
    }

    /// Saves how far the CSV was read, every so many rows, at a moment when no contact of an
    /// admitted row waits in memory (held, to send again, or in a streak of refusals): such a
    /// contact is `pending` in the journal, and only its row would bring it back after a crash.
    fn save_mark_when_due(&mut self) -> Result<(), Error> {
        let nothing_in_hand = self.nothing_in_hand();
        match &mut self.reading {
            Some(reading) if nothing_in_hand && reading.mark_due() => {
                reading.save_mark(self.journal)
            }
            _ => Ok(()),
        }
    }

    /// Whether no contact waits in memory: none held for its slot, to send again, or refused
    /// in a streak.
    fn nothing_in_hand(&self) -> bool {
        self.held.is_none() && self.again.is_empty() && self.streak.refused.is_empty()
    }

    /// The next contact to take up now: one to send again, one that is due, or the next new one
    /// from the CSV. `None` when nothing is to be done before the next due moment.
    async fn next_work(&mut self) -> Result<Option<Entry>, Error> {
        while let Some(mut entry) = self.next_waiting()? {
            self.refresh(&mut entry)?;
            // Held before it takes a slot in the schedule: see `Verdict::Hold`.
            let held =
                entry.state == State::Pending && self.listing(&entry) == Listing::NotYetKnown;
            if !held {
                return Ok(Some(entry));
            }
        }
        while let Some(rows) = &mut self.rows {
            match rows.next().await {
                None => {
                    self.rows = None;
                    self.settle_removed()?;
                }
                Some(row) => {
                    let (row, next) = row?;
                    let admitted = self.admit(row)?;
                    if let Some(reading) = &mut self.reading {
                        reading.admitted(next);
                    }
                    if let Some(entry) = admitted {
                        return Ok(Some(entry));
                    }
                }
            }
        }
        Ok(None)
    }

    /// One to send again, else one that is due now.
    fn next_waiting(&mut self) -> Result<Option<Entry>, Error> {
        match self.again.pop_front() {
            Some(entry) => Ok(Some(entry)),
            None => Ok(self.journal.take_due(self.clock.now())?),
        }
    }

    /// Nothing is left: the CSV is read and nothing waits in the due queue.
    fn all_done(&self) -> Result<bool, Error> {
        Ok(self.rows.is_none() && self.again.is_empty() && self.journal.next_due()?.is_none())
    }

    /// A copy of an entry kept while a task ran or while it waited in a queue misses a listing
    /// by this run's CSV made meanwhile: take it from the journal, so that the copy's write does
    /// not undo it (and the contact is not taken for removed).
    fn refresh(&self, entry: &mut Entry) -> Result<(), Error> {
        if let Some(stored) = self.journal.get(entry.phone())?
            && stored.run > entry.run
        {
            entry.listed(stored.contact, stored.run);
        }
        Ok(())
    }

    /// Whether this run's CSV lists `entry`: known for sure only once the CSV is read.
    fn listing(&self, entry: &Entry) -> Listing {
        match (self.lists(entry), self.rows.is_some()) {
            (true, _) => Listing::Listed,
            (false, true) => Listing::NotYetKnown,
            (false, false) => Listing::Removed,
        }
    }

    /// Whether this run's CSV has listed `entry` so far: this run read its row, or an earlier run
    /// read it in this very file (a resume reads on from where that run got to).
    fn lists(&self, entry: &Entry) -> bool {
        match &self.reading {
            Some(reading) => reading.lists(entry.run),
            None => entry.run == self.run,
        }
    }

    /// Brings one CSV row into the journal; returns the entry when it is to be dialled now.
    fn admit(&mut self, row: Row) -> Result<Option<Entry>, Error> {
        let contact = match row {
            Row::Contact(contact) => contact,
            Row::Rejected(rejected) => {
                self.skip_row(rejected.into())?;
                return Ok(None);
            }
        };
        match self.journal.get(&contact.phone)? {
            // Not written yet: its first write is its dial's (`dialing`, or why it waits or is
            // skipped), one batch instead of two, each key of which sled compresses on its own.
            // Until then it is held, so no saved mark passes its row and a crash reads it again.
            None => {
                let entry = Entry::new(contact, self.run, self.clock.now());
                self.tally.count(&entry);
                Ok(Some(entry))
            }
            // The same row read again (a resume reads on from a mark a little before where the
            // last run stopped) is no duplicate of itself.
            Some(first) if self.lists(&first) && first.contact.line != contact.line => {
                self.skip_row(SkippedRow::duplicate(contact, first.contact.line))?;
                Ok(None)
            }
            Some(mut known) => {
                let before = known.clone();
                let held = self.held_for_zone(&known);
                known.listed(contact, self.run);
                if held && self.rules.zones(&known.contact).is_ok() {
                    known.set(State::Pending, self.clock.now());
                }
                // A contact waiting for a moment is queued again by this write.
                self.record(&before, &known)?;
                // One already in hand (a resume dialled it from the due queue before reading
                // its row again) is dialled from there, not a second time from here.
                let to_dial = known.state == State::Pending
                    && known.due_at.is_none()
                    && !self.in_hand(known.phone());
                Ok(to_dial.then_some(known))
            }
        }
    }

    /// Writes a contact admitted from the CSV that is left undialled (the run stops), so that
    /// the journal counts it `pending` as the run's own figures do.
    fn write_if_new(&self, entry: &Entry) -> Result<(), Error> {
        if self.journal.get(entry.phone())?.is_none() {
            self.journal.put(entry)?;
        }
        Ok(())
    }

    /// Whether `phone`'s contact waits in memory: held for its slot, to send again, or refused
    /// in a streak.
    fn in_hand(&self, phone: &Phone) -> bool {
        let held = self.held.iter();
        let waiting = self.again.iter().chain(&self.streak.refused);
        held.chain(waiting).any(|entry| entry.phone() == phone)
    }

    fn skip_row(&mut self, row: SkippedRow) -> Result<(), Error> {
        tracing::info!(line = row.line, "row skipped: {}", row.reason);
        self.journal.skip_row(&row)?;
        self.tally.skipped_rows += 1;
        Ok(())
    }

    /// Decides, at the moment of dialling, whether and from which number this contact may be
    /// called; then makes the `dialing` mark and starts the call's task, which sends the create
    /// request once the mark is durable.
    fn dial(&mut self, mut entry: Entry, slot: Slot) -> Result<(), Error> {
        self.refresh(&mut entry)?;
        let before = entry.clone();
        let now = self.clock.now();
        let listing = self.listing(&entry);
        let choice = match self.rules.verdict(&entry, listing, now) {
            Verdict::Dial(choice) => choice,
            Verdict::Wait(until) => {
                entry.wait_until(until, now);
                return self.record(&before, &entry);
            }
            // Unchanged in the journal: the CSV queues it again when it lists it, and the end of
            // the CSV settles it as removed when it does not.
            Verdict::Hold => return Ok(()),
            Verdict::Skip(reason) => {
                entry.skip(reason, now);
                return self.record(&before, &entry);
            }
            Verdict::PoolExhausted => {
                self.write_if_new(&entry)?;
                return Err(Error::PoolExhausted);
            }
            Verdict::ListUnreadable(trouble) => {
                let next_look = self.hold_for(trouble, now);
                entry.wait_until(next_look, now);
                return self.record(&before, &entry);
            }
        };
        let keep = caps::starts_needed(self.campaign.rotation.max_calls_per_number_per_day);
        self.journal.note_start(&choice.caller_id, now, keep)?;
        entry.dialing(&choice, now);
        self.record(&before, &entry)?;
        let durable = self.journal.durable();
        self.calls.create(&mut self.tasks, entry, durable, slot);
        Ok(())
    }

    /// Skipped, never dialled, and still unplaced: a later CSV that gives the zone releases it.
    fn held_for_zone(&self, entry: &Entry) -> bool {
        matches!(entry.state, State::Skipped { .. })
            && entry.attempts == 0
            && self.rules.zones(&entry.contact).is_err()
    }

    /// Nobody is dialled while a do-not-call list cannot be read: the contact waits for the
    /// list's next look; past `suppress.unreadable_limit_seconds` the run stops, contacts pending.
    fn hold_for(&mut self, trouble: Unreadable, now: Timestamp) -> Timestamp {
        let next_look = now
            .saturating_add(span(suppression::RECHECK))
            .unwrap_or(now);
        if trouble.lasted(now) > self.campaign.suppress.unreadable_limit {
            self.stop(Ending::ListUnreadable(trouble));
        } else if self.told_unreadable != Some(trouble.since) {
            self.told_unreadable = Some(trouble.since);
            self.progress.note(&format!(
                "nobody is called while a do-not-call list cannot be read: {trouble}"
            ));
        }
        next_look
    }

    fn handle(&mut self, report: CallReport) -> Result<(), Error> {
        match report {
            CallReport::Sending { caller, at } => {
                self.rules.sent(&caller, at);
                Ok(())
            }
            CallReport::Created { entry, result } => self.settle_create(entry, result),
            CallReport::Found { entry, result } => self.settle_search(entry, result),
            CallReport::Ended { phone, result } => self.settle_end(&phone, result),
        }
    }

    /// Records a create request's answer.
    fn settle_create(
        &mut self,
        mut entry: Entry,
        result: Result<String, CreateError>,
    ) -> Result<(), Error> {
        self.refresh(&mut entry)?;
        let before = entry.clone();
        let now = self.clock.now();
        if created_nothing(&result) {
            self.forget_start(&entry)?;
        }
        let outcome = match result {
            Ok(call_id) => {
                self.share.pacer().accepted();
                self.settle_streak_as_failed()?;
                entry.placed(call_id, now);
                Ok(())
            }
            Err(CreateError::NotSent(e)) => {
                entry.undo_attempt(e.to_string(), now);
                Err(Error::Journal(e))
            }
            Err(CreateError::Api(e)) => {
                self.settle_refusal(&mut entry, e)?;
                Ok(())
            }
            Err(CreateError::CallerTaken(refused)) => {
                self.taken_elsewhere(&mut entry, refused, now);
                Ok(())
            }
            Err(CreateError::StoreUnavailable(e)) => {
                // Asked again with the next slot, which waits for the store to answer.
                entry.undo_attempt(e.to_string(), now);
                self.again.push_back(entry.clone());
                Ok(())
            }
        };
        self.record(&before, &entry)?;
        outcome
    }

    /// The shared store refused the entry's caller ID (other processes used it up): the caps
    /// learn it, and the contact is dialled again at once, from another number if one is free.
    fn taken_elsewhere(&mut self, entry: &mut Entry, refused: Admit, now: Timestamp) {
        let caller = entry
            .caller_id
            .clone()
            .expect("a dialled entry has a caller ID");
        let taken = match refused {
            Admit::CapReached { calls, .. } => Elsewhere::DayFull { calls },
            Admit::CoolingDown { until } => Elsewhere::CalledAt(
                until
                    .checked_sub(span(self.campaign.rotation.min_gap_per_number))
                    .unwrap_or(now),
            ),
            Admit::Admitted => return,
        };
        self.rules.taken_elsewhere(&caller, now, taken);
        entry.undo_attempt(
            format!("caller ID {caller} was used up by another process's calls"),
            now,
        );
        self.again.push_back(entry.clone());
    }

    /// A create request that made no call does not use up its caller ID's caps.
    fn forget_start(&mut self, entry: &Entry) -> Result<(), Error> {
        if let (Some(caller), Some(at)) = (&entry.caller_id, entry.dialed_at) {
            self.rules.forget_call(caller, at);
            self.journal.forget_start(caller, at)?;
        }
        Ok(())
    }

    /// An API error for one create request: decide what it means for the contact and the run.
    fn settle_refusal(&mut self, entry: &mut Entry, error: ApiError) -> Result<(), Error> {
        let phone = entry.phone().masked().to_string();
        let now = self.clock.now();
        match &error {
            e if e.may_have_created() => {
                tracing::warn!(%phone, "create request uncertain: {e}");
                let look_up = self.after(self.campaign.retry.reconcile_grace);
                entry.uncertain(e.to_string(), look_up, now);
            }
            ApiError::Account { .. } => {
                entry.undo_attempt(error.to_string(), now);
                self.stop(Ending::AccountRefused(error));
            }
            ApiError::RateLimited { retry_after } => {
                let pause = self.share.pacer().rate_limited(*retry_after);
                tracing::info!(?pause, "429 from the API: pausing and slowing down");
                entry.undo_attempt(error.to_string(), now);
                self.again.push_back(entry.clone());
            }
            ApiError::Refused { detail, .. } if refuses_caller_id(detail) => {
                let caller = entry
                    .caller_id
                    .clone()
                    .expect("a dialled entry has a caller ID");
                if self.rules.retire(&caller) {
                    self.progress.note(&format!(
                        "caller ID {caller} refused by the API and taken out of rotation: {detail}"
                    ));
                    self.journal.record_refusal(&Refusal {
                        number: caller.clone(),
                        run: self.run,
                        at: now,
                        detail: detail.clone(),
                    })?;
                }
                entry.undo_attempt(error.to_string(), now);
                self.again.push_back(entry.clone());
            }
            ApiError::Refused { status, detail }
                if may_be_campaign_wide(*status, detail, &self.campaign.agent) =>
            {
                tracing::warn!(%phone, "call refused: {error}");
                let refused = entry.clone();
                entry.undo_attempt(error.to_string(), now);
                let broken = self.streak.refused(*status, detail, refused);
                self.settle_as_failed(broken)?;
                if let Some(mistake) = self.streak.mistake(&self.campaign.agent) {
                    self.stop(Ending::CampaignRefused(mistake));
                }
            }
            _ => {
                tracing::warn!(%phone, "call refused: {error}");
                entry.fail(error.to_string(), now);
            }
        }
        Ok(())
    }

    /// A call was created: the refusals before it were the contacts' own.
    fn settle_streak_as_failed(&mut self) -> Result<(), Error> {
        let refused = self.streak.broken();
        self.settle_as_failed(refused)
    }

    /// Contacts refused for themselves: `failed`, with the refusal as the reason.
    fn settle_as_failed(&mut self, refused: Vec<Entry>) -> Result<(), Error> {
        let now = self.clock.now();
        for mut entry in refused {
            let Some(before) = self.journal.get(entry.phone())? else {
                continue;
            };
            let reason = before.last_error.clone().unwrap_or_default();
            entry.fail(reason, now);
            self.record(&before, &entry)?;
        }
        Ok(())
    }

    /// Settles a contact whose creation was uncertain from what the search found.
    fn settle_search(
        &mut self,
        mut entry: Entry,
        result: Result<Option<String>, ApiError>,
    ) -> Result<(), Error> {
        self.refresh(&mut entry)?;
        let before = entry.clone();
        let now = self.clock.now();
        match result {
            Ok(Some(call_id)) => entry.placed(call_id, now),
            Ok(None) if entry.attempts >= self.campaign.retry.max_attempts.get() => {
                let reason = no_call_reason(&entry);
                entry.fail(reason, now);
            }
            Ok(None) => {
                entry.not_found(now);
                self.again.push_back(entry.clone());
            }
            Err(e @ ApiError::Account { .. }) => self.stop(Ending::AccountRefused(e)),
            Err(e) => {
                tracing::warn!(phone = %entry.phone().masked(), "could not look the call up: {e}");
                let look_up = self.after(self.campaign.retry.reconcile_grace);
                entry.wait_until(look_up, now);
            }
        }
        self.record(&before, &entry)
    }

    /// Records a call's end: its outcome, or a redial when nobody took it and attempts remain.
    fn settle_end(
        &mut self,
        phone: &Phone,
        result: Result<CallState, ApiError>,
    ) -> Result<(), Error> {
        let Some(mut entry) = self.journal.get(phone)? else {
            return Ok(());
        };
        let before = entry.clone();
        let now = self.clock.now();
        let ended = result.as_ref().ok().cloned();
        match result {
            Ok(call)
                if call.is_unanswered()
                    && entry.attempts < self.campaign.retry.max_attempts.get() =>
            {
                let when = self.after(self.campaign.retry.redial_after);
                entry.redial_at(when, call, now);
            }
            Ok(call) => entry.done(call, now),
            Err(e @ ApiError::Account { .. }) => self.stop(Ending::AccountRefused(e)),
            Err(e) => {
                tracing::warn!(phone = %phone.masked(), "call not followed to its end: {e}");
                entry.not_followed(e.to_string(), now);
            }
        }
        self.record(&before, &entry)?;
        match ended {
            Some(call) => self.judge_health(&before, call),
            None => Ok(()),
        }
    }

    /// After the call of `dialled` ended as `call`: the attempt joins its number's health window
    /// and the rotation's learning (both kept in memory, so a call's end costs no journal read),
    /// then the pool is judged; each number rested is journalled and said.
    fn judge_health(&mut self, dialled: &Entry, call: CallState) -> Result<(), Error> {
        let (Some(caller), Some(sent_at)) = (&dialled.caller_id, dialled.dialed_at) else {
            return Ok(());
        };
        self.rules.call_ended(&Attempt {
            callee: dialled.phone().clone(),
            number: dialled.attempts,
            caller_id: caller.clone(),
            tier: dialled.local_match.unwrap_or(Match::Other),
            sent_at,
            local: dialled.dialed_local,
            end: Some(call),
        });
        match self.campaign.health.enabled {
            true => self.judge_pool(),
            false => Ok(()),
        }
    }

    /// Number health judges the pool now; each number it rests is journalled and said.
    fn judge_pool(&mut self) -> Result<(), Error> {
        for rest in self.rules.judge(self.clock.now()) {
            self.journal.record_rest(&rest)?;
            self.progress.note(&format!(
                "caller ID {} rested until {}: {}",
                rest.number,
                rest.until.strftime("%Y-%m-%d %H:%M:%S UTC"),
                rest.why
            ));
        }
        Ok(())
    }

    /// Number health as earlier runs left it: the rests they decided and each number's window.
    fn restore_health(&mut self) -> Result<(), Error> {
        if !self.campaign.health.enabled {
            return Ok(());
        }
        for rest in self.journal.rests() {
            self.rules.restore_rest(rest?);
        }
        self.judge_pool()
    }

    /// Writes an entry and moves the tally along with it.
    fn record(&mut self, before: &Entry, after: &Entry) -> Result<(), Error> {
        self.journal.put(after)?;
        self.tally.shift(before, after);
        Ok(())
    }

    /// Stops dispatching (the first reason wins) and stops following live calls.
    fn stop(&mut self, ending: Ending) {
        if self.stopping.is_none() {
            match &ending {
                Ending::AccountRefused(error) => self.progress.note(&format!("stopping: {error}")),
                Ending::CampaignRefused(mistake) => {
                    self.progress.note(&format!("stopping: {mistake}"));
                }
                Ending::ListUnreadable(trouble) => self.progress.note(&format!(
                    "stopping: {trouble}, for longer than suppress.unreadable_limit_seconds"
                )),
                Ending::Complete | Ending::Interrupted => {}
            }
            self.stopping = Some(ending);
            let _ = self.stop_following.send(true);
        }
    }

    fn after(&self, wait: Duration) -> Timestamp {
        let now = self.clock.now();
        now.saturating_add(span(wait)).unwrap_or(now)
    }

    /// When the run has nothing to do but wait, says until when and why (once per wait).
    fn say_when_idle(&mut self, waiting: Option<&Entry>) {
        let Some((entry, wake)) = waiting.and_then(|e| Some((e, e.due_at?))) else {
            return;
        };
        let now = self.clock.now();
        let soon = now.duration_until(wake) < SignedDuration::from_secs(3);
        if !self.tasks.is_empty() || self.announced == Some(wake) || soon {
            return;
        }
        self.announced = Some(wake);
        let Ok(zones) = self.rules.zones(&entry.contact) else {
            return;
        };
        let message = if self.rules.window(&zones, now) == WindowCheck::Open {
            let wait = SignedDuration::from_secs(now.duration_until(wake).as_secs());
            format!(
                "nobody to call now: the next call is due in {wait:#} (a redial, or a number under its caps)"
            )
        } else {
            format!(
                "nobody can be called now: next window opens {}",
                self.rules.describe_opening(&zones, wake, now)
            )
        };
        self.progress.note(&message);
    }

    /// Once this run's CSV is read: contacts of earlier runs it no longer lists, and that wait to
    /// be dialled (new, or waiting for a window, a cap or a redial), are settled as skipped, so
    /// that nobody removed is called and every contact ends in one terminal state. Those in the
    /// send-again queue are settled when they come up; calls that may exist are still looked up.
    fn settle_removed(&mut self) -> Result<(), Error> {
        let queued: HashSet<&Phone> = self.again.iter().map(Entry::phone).collect();
        let mut removed = Vec::new();
        for entry in self.journal.open_entries() {
            let entry = entry?;
            if !self.lists(&entry)
                && entry.state == State::Pending
                && !queued.contains(entry.phone())
            {
                removed.push(entry);
            }
        }
        let now = self.clock.now();
        for mut entry in removed {
            let before = entry.clone();
            entry.skip(REMOVED.into(), now);
            self.record(&before, &entry)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Finish, Error> {
        let ending = self.stopping.take().unwrap_or(Ending::Complete);
        if matches!(ending, Ending::Complete) {
            // Fewer refusals than make one campaign-wide: the contacts' own.
            self.settle_streak_as_failed()?;
        }
        if self.nothing_in_hand()
            && let Some(reading) = &mut self.reading
        {
            reading.save_mark(self.journal)?;
        }
        self.journal.flush()?;
        let phase = match ending {
            Ending::Complete => Phase::Complete,
            _ => Phase::Stopped,
        };
        let report = self.report(phase);
        let _ = report.save_snapshot(self.journal.dir());
        self.progress.finish();
        Ok(Finish {
            ending,
            report,
            journal_flushes: self.journal.flush_count(),
        })
    }

    /// The figures as they stand, in `phase`.
    fn report(&self, phase: Phase) -> Report {
        let mut report = Report::new(
            &self.campaign.name,
            phase,
            self.tally.clone(),
            self.clock.now(),
        );
        report.rows_in_file = self.rows_in_file;
        report.requests = Some(self.calls.api.requests());
        report.run = Some(RunFigures {
            elapsed: self.started.elapsed(),
            live_calls: self.tasks.len() as u64,
            calls: self
                .tally
                .attempts
                .saturating_sub(self.tally_at_start.attempts),
            settled: (self.tally.settled() + self.tally.skipped_rows)
                .saturating_sub(self.tally_at_start.settled() + self.tally_at_start.skipped_rows),
        });
        report
    }

    /// Updates the progress display, and now and then the snapshot `outdial status` reads.
    fn show_progress(&mut self) {
        if self.last_shown.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last_shown = Instant::now();
        let mut report = self.report(Phase::Running);
        self.progress.update(&report);
        if self.last_snapshot.elapsed() >= Duration::from_secs(1) {
            self.last_snapshot = Instant::now();
            report.running = Some(format!("pid {}", std::process::id()));
            if let Err(e) = report.save_snapshot(self.journal.dir()) {
                tracing::debug!("status snapshot not written: {e}");
            }
        }
    }
}

/// The API answered that no call was created (or the request never left): a 429, a refusal,
/// the account. Not so for an answer that may have created one.
fn created_nothing(result: &Result<String, CreateError>) -> bool {
    match result {
        Ok(_) => false,
        Err(CreateError::NotSent(_) | CreateError::CallerTaken(_)) => true,
        Err(CreateError::StoreUnavailable(_)) => true,
        Err(CreateError::Api(e)) => !e.may_have_created(),
    }
}

/// Why attempts ran out without a call found for the latest: true to what the journal knows of
/// the earlier ones ("no call was created" only when none was).
fn no_call_reason(entry: &Entry) -> String {
    match entry.earlier_calls.len() {
        0 => format!("no call was created in {} attempts", entry.attempts),
        made => format!(
            "the latest of {} attempts made no call; {made} earlier attempt(s) made calls nobody answered",
            entry.attempts
        ),
    }
}

/// A configured wait as jiff counts it; waits too long for jiff are "forever".
fn span(wait: Duration) -> SignedDuration {
    SignedDuration::try_from(wait).unwrap_or(SignedDuration::MAX)
}

/// Sleeps until `wake` as `clock` reads it, or forever without one (a `select!` branch waiting
/// on it is then disabled anyway). `run` uses it for its deadline too.
pub async fn sleep_until(clock: Clock, wake: Option<Timestamp>) {
    match wake {
        Some(at) => {
            // A moment already past converts to no `Duration`: no wait.
            let wait = Duration::try_from(clock.now().duration_until(at)).unwrap_or(Duration::ZERO);
            tokio::time::sleep(wait).await
        }
        None => std::future::pending().await,
    }
}

/// The vendor's 400 for a caller ID it will not use names the field (CONTRACT A.1).
fn refuses_caller_id(detail: &str) -> bool {
    detail.contains("from_phone_number")
}
