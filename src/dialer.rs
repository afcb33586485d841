//! The campaign pipeline behind `outdial run`: contacts → eligibility (journal) → caller-ID
//! choice → pacing → create call → journal.
//!
//! One task, the [`Dialer`], owns the journal writes, the rotation and the tally; create requests
//! run as their own tasks and report back over a channel, so a slow request never holds up the
//! schedule and a failed call is an outcome to record, never an error that ends the run.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::mpsc;

use crate::api::{ApiError, CallRequest, ListedCall, Synthflow};
use crate::campaign::{ApiKey, Campaign};
use crate::contacts::{ContactReader, ContactsError, Row};
use crate::error::Error;
use crate::journal::{Entry, Journal, JournalError, SkippedRow, State};
use crate::pacing::{Pacer, Slot};
use crate::phone::Phone;
use crate::progress::{Display, Progress};
use crate::report::{Report, Tally};
use crate::rotation::{Callee, Locale, Rotation};

/// How a run ended, when it did not fail.
#[derive(Debug)]
pub enum Ending {
    /// Every contact is settled.
    Complete,
    /// Ctrl-C: dispatching stopped, requests in flight were answered, the journal is saved.
    Interrupted,
    /// The account refused (401/402/403); the remaining contacts stay pending.
    AccountRefused(ApiError),
}

/// The result of `run`: how it ended and the figures for the summary.
#[derive(Debug)]
pub struct Finish {
    pub ending: Ending,
    pub report: Report,
    /// fsyncs the journal made for the `dialing` marks (group commit).
    pub journal_flushes: u64,
}

/// A create request's answer, back at the dialer.
struct Attempt {
    entry: Entry,
    result: Result<String, AttemptError>,
}

enum AttemptError {
    Api(ApiError),
    /// The `dialing` mark could not be made durable, so the request was never sent.
    NotSent(JournalError),
}

/// Where the next contacts come from: the CSV on the first pass, then the journal's leftovers.
enum Feed {
    Csv(mpsc::Receiver<Result<Row, ContactsError>>),
    Leftovers(std::vec::IntoIter<Phone>),
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
    let rows = survey(campaign).await?;
    let api = Synthflow::new(&campaign.api.base_url, key)?;
    let pool = resolve_pool(campaign, &api).await?;
    let progress = display.for_rows(rows);
    Dialer::new(campaign, api, journal, &pool, progress.as_ref())?
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

/// Reads the whole contacts file once before anything is dialled, so that a broken file stops the
/// campaign before its first call rather than midway. Returns the number of data rows.
pub async fn survey(campaign: &Campaign) -> Result<u64, Error> {
    let path = campaign.contacts.clone();
    let country = campaign.default_country;
    let counted = tokio::task::spawn_blocking(move || {
        let mut rows = 0;
        for row in ContactReader::open(&path, country)? {
            row?;
            rows += 1;
        }
        Ok::<u64, ContactsError>(rows)
    });
    Ok(counted.await.expect("the survey does not panic")?)
}

/// The pipeline's one owner of journal writes, rotation and tally.
pub struct Dialer<'a> {
    campaign: &'a Campaign,
    api: Synthflow,
    journal: &'a Journal,
    rotation: Rotation,
    pacer: Pacer,
    progress: &'a dyn Progress,
    run: u64,
    tally: Tally,
    started: Instant,
    last_snapshot: Instant,
    /// Contacts to send again soon (after a 429, or when their caller ID was refused).
    again: VecDeque<Entry>,
    attempts_tx: mpsc::UnboundedSender<Attempt>,
    attempts_rx: mpsc::UnboundedReceiver<Attempt>,
    in_flight: usize,
    /// Set when dispatching must stop (Ctrl-C, account refused).
    stopping: Option<Ending>,
}

impl<'a> Dialer<'a> {
    pub fn new(
        campaign: &'a Campaign,
        api: Synthflow,
        journal: &'a Journal,
        pool: &[Phone],
        progress: &'a dyn Progress,
    ) -> Result<Dialer<'a>, Error> {
        let (attempts_tx, attempts_rx) = mpsc::unbounded_channel();
        Ok(Dialer {
            campaign,
            api,
            journal,
            rotation: Rotation::new(campaign.rotation.strategy, pool),
            pacer: Pacer::new(&campaign.pacing),
            progress,
            run: journal.begin_run()?,
            tally: Tally::default(),
            started: Instant::now(),
            last_snapshot: Instant::now(),
            again: VecDeque::new(),
            attempts_tx,
            attempts_rx,
            in_flight: 0,
            stopping: None,
        })
    }

    /// Runs the campaign to its end, or until `shutdown` resolves (Ctrl-C).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<Finish, Error> {
        tokio::pin!(shutdown);
        self.restore_from_journal()?;
        self.reconcile(&mut shutdown).await?;
        let mut feed = Feed::Csv(self.stream_contacts()?);
        loop {
            self.dispatch_all(&mut feed, &mut shutdown).await?;
            if self.stopping.is_some() {
                break;
            }
            self.reconcile(&mut shutdown).await?;
            let leftovers = self.leftovers()?;
            if leftovers.is_empty() || self.stopping.is_some() {
                break;
            }
            feed = Feed::Leftovers(leftovers.into_iter());
        }
        self.finish()
    }

    /// Picks up where earlier runs left: the tally, and the rotation's usage order.
    fn restore_from_journal(&mut self) -> Result<(), Error> {
        let mut latest: BTreeMap<Phone, Timestamp> = BTreeMap::new();
        for entry in self.journal.entries() {
            let entry = entry?;
            if let (Some(caller), Some(at)) = (&entry.caller_id, entry.dialed_at) {
                let seen = latest.entry(caller.clone()).or_insert(at);
                *seen = (*seen).max(at);
            }
            self.tally.count(&entry);
        }
        self.rotation.restore(latest);
        Ok(())
    }

    /// Streams the CSV from a blocking thread; the channel's bound keeps memory flat.
    fn stream_contacts(&self) -> Result<mpsc::Receiver<Result<Row, ContactsError>>, Error> {
        let reader = ContactReader::open(&self.campaign.contacts, self.campaign.default_country)?;
        let (rows_tx, rows_rx) = mpsc::channel(256);
        tokio::task::spawn_blocking(move || {
            for row in reader {
                let fatal = row.is_err();
                if rows_tx.blocking_send(row).is_err() || fatal {
                    return;
                }
            }
        });
        Ok(rows_rx)
    }

    /// Dispatches every contact the feed yields, recording answers as they come, then waits for
    /// the requests still in flight.
    async fn dispatch_all(
        &mut self,
        feed: &mut Feed,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<(), Error> {
        let mut next: Option<Entry> = None;
        let mut fed_out = false;
        loop {
            if next.is_none() && self.stopping.is_none() {
                next = self.again.pop_front();
                if next.is_none() && !fed_out {
                    next = self.next_dialable(feed).await?;
                    fed_out = next.is_none();
                }
            }
            if next.is_none() && self.in_flight == 0 {
                return Ok(());
            }
            tokio::select! {
                biased;
                () = shutdown.as_mut(), if self.stopping.is_none() => {
                    self.stopping = Some(Ending::Interrupted);
                    self.progress.note("stopping: letting the requests in flight finish (Ctrl-C again to quit at once)");
                }
                Some(attempt) = self.attempts_rx.recv() => self.settle(attempt)?,
                slot = self.pacer.slot(), if next.is_some() && self.stopping.is_none() => {
                    let entry = next.take().expect("guarded by the branch condition");
                    self.dial(entry, slot)?;
                }
            }
            if self.stopping.is_some() {
                next = None; // still `pending` in the journal: the next run dials it
            }
            self.show_progress();
        }
    }

    /// The next contact to dial from the feed, recording on the way the rows that are not.
    async fn next_dialable(&mut self, feed: &mut Feed) -> Result<Option<Entry>, Error> {
        loop {
            let admitted = match feed {
                Feed::Csv(rows) => match rows.recv().await {
                    None => return Ok(None),
                    Some(row) => self.admit(row?)?,
                },
                Feed::Leftovers(phones) => match phones.next() {
                    None => return Ok(None),
                    Some(phone) => self
                        .journal
                        .get(&phone)?
                        .filter(|e| e.state == State::Pending),
                },
            };
            if admitted.is_some() {
                return Ok(admitted);
            }
        }
    }

    /// Brings one CSV row into the journal; returns the entry when it is to be dialled now.
    fn admit(&mut self, row: Row) -> Result<Option<Entry>, Error> {
        let contact = match row {
            Row::Contact(contact) => contact,
            Row::Rejected(rejected) => {
                self.skip_row(rejected.line, rejected.written, rejected.reason)?;
                return Ok(None);
            }
        };
        match self.journal.get(&contact.phone)? {
            None => {
                let entry = Entry::new(contact, self.run);
                self.journal.put(&entry)?;
                self.tally.count(&entry);
                Ok(Some(entry))
            }
            Some(first) if first.run == self.run => {
                let reason = format!("duplicate of line {}", first.contact.line);
                self.skip_row(contact.line, contact.phone.to_string(), reason)?;
                Ok(None)
            }
            Some(mut known) => {
                known.contact = contact;
                known.run = self.run;
                self.journal.put(&known)?;
                Ok((known.state == State::Pending).then_some(known))
            }
        }
    }

    fn skip_row(&mut self, line: u64, written: String, reason: String) -> Result<(), Error> {
        tracing::info!(line, "row skipped: {reason}");
        self.journal.skip_row(&SkippedRow {
            line,
            written,
            reason,
        })?;
        self.tally.skipped_rows += 1;
        Ok(())
    }

    /// Chooses the caller ID, makes the `dialing` mark, and sends the create request once the
    /// mark is durable.
    fn dial(&mut self, mut entry: Entry, slot: Slot) -> Result<(), Error> {
        let before = entry.clone();
        let callee = Callee {
            locale: Locale::of_contact(&entry.contact),
            previous: entry.caller_id.clone(),
        };
        let choice = self
            .rotation
            .choose(&callee, |_| true)
            .ok_or(Error::PoolExhausted)?;
        entry.attempts += 1;
        entry.caller_id = Some(choice.caller_id);
        entry.local_match = Some(choice.local_match);
        entry.dialed_at = Some(Timestamp::now());
        entry.call_id = None;
        entry.set(State::Dialing);
        self.journal.put(&entry)?;
        self.tally.shift(&before, &entry);
        let durable = self.journal.durable();
        let api = self.api.clone();
        let agent = self.campaign.agent.clone();
        let answers = self.attempts_tx.clone();
        self.in_flight += 1;
        tokio::spawn(async move {
            let _slot = slot;
            let result = match durable.await {
                Ok(()) => api
                    .create_call(&request(&agent, &entry))
                    .await
                    .map_err(AttemptError::Api),
                Err(e) => Err(AttemptError::NotSent(e)),
            };
            let _ = answers.send(Attempt { entry, result });
        });
        Ok(())
    }

    /// Records a create request's answer.
    fn settle(&mut self, Attempt { mut entry, result }: Attempt) -> Result<(), Error> {
        self.in_flight -= 1;
        let before = entry.clone();
        let outcome = match result {
            Ok(call_id) => {
                self.pacer.accepted();
                entry.call_id = Some(call_id);
                entry.last_error = None;
                entry.set(State::Placed);
                Ok(())
            }
            Err(AttemptError::NotSent(e)) => {
                self.undo_attempt(&mut entry, e.to_string());
                Err(Error::Journal(e))
            }
            Err(AttemptError::Api(e)) => {
                self.settle_refusal(&mut entry, e);
                Ok(())
            }
        };
        self.journal.put(&entry)?;
        self.tally.shift(&before, &entry);
        outcome
    }

    /// An API error for one create request: decide what it means for the contact and the run.
    fn settle_refusal(&mut self, entry: &mut Entry, error: ApiError) {
        let phone = entry.phone().masked().to_string();
        match &error {
            e if e.may_have_created() => {
                tracing::warn!(%phone, "create request uncertain: {e}");
                entry.last_error = Some(e.to_string());
                entry.set(State::Uncertain {
                    reason: e.to_string(),
                });
            }
            ApiError::Account { .. } => {
                self.undo_attempt(entry, error.to_string());
                if self.stopping.is_none() {
                    self.progress.note(&format!("stopping: {error}"));
                    self.stopping = Some(Ending::AccountRefused(error));
                }
            }
            ApiError::RateLimited { retry_after } => {
                let pause = self.pacer.rate_limited(*retry_after);
                tracing::info!(?pause, "429 from the API: pausing and slowing down");
                self.undo_attempt(entry, error.to_string());
                self.again.push_back(entry.clone());
            }
            ApiError::Refused { detail, .. } if refuses_caller_id(detail) => {
                let caller = entry
                    .caller_id
                    .clone()
                    .expect("a dialled entry has a caller ID");
                if self.rotation.retire(&caller) {
                    self.progress.note(&format!(
                        "caller ID {caller} refused by the API and taken out of rotation: {detail}"
                    ));
                }
                self.undo_attempt(entry, error.to_string());
                entry.caller_id = None;
                self.again.push_back(entry.clone());
            }
            _ => {
                tracing::warn!(%phone, "call refused: {error}");
                entry.last_error = Some(error.to_string());
                entry.set(State::Failed {
                    reason: error.to_string(),
                });
            }
        }
    }

    /// The API said no call was created: the attempt does not count.
    fn undo_attempt(&self, entry: &mut Entry, why: String) {
        entry.attempts = entry.attempts.saturating_sub(1);
        entry.last_error = Some(why);
        entry.set(State::Pending);
    }

    /// Settles every `dialing` or `uncertain` contact by looking for its call: found → `placed`;
    /// not found once the grace period has passed → `pending` again (or `failed` when out of
    /// attempts). Contacts still within their grace period are looked up again after it.
    async fn reconcile(
        &mut self,
        shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Result<(), Error> {
        let mut open =
            self.entries_where(|e| matches!(e.state, State::Dialing | State::Uncertain { .. }))?;
        while !open.is_empty() && self.stopping.is_none() {
            let mut young = Vec::new();
            for (entry, calls) in self.search_calls(open).await {
                if let Some(entry) = self.settle_search(entry, calls)? {
                    young.push(entry);
                }
            }
            if self.stopping.is_some() {
                return Ok(());
            }
            let Some(wait) = young.iter().map(|e| self.grace_left(e)).max() else {
                break;
            };
            self.progress.note(&format!(
                "{} contact(s) with an uncertain call: looking again in {:.0}s before dialling them again",
                young.len(),
                wait.as_secs_f64().ceil()
            ));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.as_mut() => { self.stopping = Some(Ending::Interrupted); }
            }
            open = young;
        }
        Ok(())
    }

    /// Looks up the calls of each contact, as many at once as calls may be live, so that a
    /// restart after a crash with many requests in flight does not crawl through them one by one.
    async fn search_calls(
        &self,
        entries: Vec<Entry>,
    ) -> Vec<(Entry, Result<Vec<ListedCall>, ApiError>)> {
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(
            self.campaign.pacing.max_live_calls.get() as usize,
        ));
        let mut searches = tokio::task::JoinSet::new();
        for entry in entries {
            let (api, agent, limit) =
                (self.api.clone(), self.campaign.agent.clone(), limit.clone());
            searches.spawn(async move {
                let _turn = limit
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let calls = api.calls_to(&agent, entry.phone()).await;
                (entry, calls)
            });
        }
        let mut found = Vec::new();
        while let Some(search) = searches.join_next().await {
            found.push(search.expect("a call search does not panic"));
        }
        found
    }

    /// Settles one contact of [`Dialer::reconcile`] from what the search found; gives the entry
    /// back when it is still too young to tell.
    fn settle_search(
        &mut self,
        mut entry: Entry,
        calls: Result<Vec<ListedCall>, ApiError>,
    ) -> Result<Option<Entry>, Error> {
        let before = entry.clone();
        let since_ms = entry.dialed_at.map_or(i64::MIN, |t| t.as_millisecond());
        let calls = match calls {
            Ok(calls) => calls,
            Err(e @ ApiError::Account { .. }) => {
                self.stopping.get_or_insert(Ending::AccountRefused(e));
                return Ok(None);
            }
            Err(e) => {
                tracing::warn!(phone = %entry.phone().masked(), "could not look the call up: {e}");
                return Ok(Some(entry));
            }
        };
        // A listed call without a start time may be one still queued: count it, never call twice.
        let ours = calls
            .iter()
            .find(|c| c.start_ms().is_none_or(|ms| ms >= since_ms));
        if let Some(call) = ours {
            entry.call_id = Some(call.call_id.clone());
            entry.set(State::Placed);
        } else if self.grace_left(&entry) > Duration::ZERO {
            return Ok(Some(entry));
        } else if entry.attempts >= self.campaign.retry.max_attempts.get() {
            let reason = format!("no call was created in {} attempts", entry.attempts);
            entry.set(State::Failed { reason });
        } else {
            entry.set(State::Pending);
        }
        self.journal.put(&entry)?;
        self.tally.shift(&before, &entry);
        Ok(None)
    }

    fn grace_left(&self, entry: &Entry) -> Duration {
        let dialed = entry.dialed_at.unwrap_or(Timestamp::UNIX_EPOCH);
        let age = Timestamp::now().duration_since(dialed).unsigned_abs();
        self.campaign.retry.reconcile_grace.saturating_sub(age)
    }

    /// Contacts of this run that are pending again after reconciliation.
    fn leftovers(&self) -> Result<Vec<Phone>, Error> {
        let pending = self.entries_where(|e| e.run == self.run && e.state == State::Pending)?;
        Ok(pending.into_iter().map(|e| e.contact.phone).collect())
    }

    /// The journal's entries that `keep` selects (few, by construction of each caller's filter).
    fn entries_where(&self, keep: impl Fn(&Entry) -> bool) -> Result<Vec<Entry>, Error> {
        let mut kept = Vec::new();
        for entry in self.journal.entries() {
            let entry = entry?;
            if keep(&entry) {
                kept.push(entry);
            }
        }
        Ok(kept)
    }

    /// Contacts that earlier runs knew but this run's CSV no longer lists are settled as skipped,
    /// so that every contact ends in one terminal state.
    fn settle_removed(&mut self) -> Result<(), Error> {
        let removed = self.entries_where(|e| e.run != self.run && e.state == State::Pending)?;
        for mut entry in removed {
            let before = entry.clone();
            entry.set(State::Skipped {
                reason: "no longer in the contacts file".into(),
            });
            self.journal.put(&entry)?;
            self.tally.shift(&before, &entry);
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Finish, Error> {
        let ending = self.stopping.take().unwrap_or(Ending::Complete);
        if matches!(ending, Ending::Complete) {
            self.settle_removed()?;
        }
        self.journal.flush()?;
        let report = self.report();
        let _ = report.save_snapshot(self.journal.dir());
        self.progress.finish();
        Ok(Finish {
            ending,
            report,
            journal_flushes: self.journal.flush_count(),
        })
    }

    fn report(&self) -> Report {
        Report {
            campaign: self.campaign.name.clone(),
            tally: self.tally.clone(),
            uncertain: Vec::new(),
            live: None,
            elapsed: Some(self.started.elapsed()),
        }
    }

    /// Updates the progress display, and now and then the snapshot `outdial status` reads.
    fn show_progress(&mut self) {
        self.progress.update(&self.tally);
        if self.last_snapshot.elapsed() >= Duration::from_secs(1) {
            self.last_snapshot = Instant::now();
            let mut report = self.report();
            report.live = Some(format!(
                "pid {}, figures of {}",
                std::process::id(),
                Timestamp::now().strftime("%H:%M:%S UTC")
            ));
            if let Err(e) = report.save_snapshot(self.journal.dir()) {
                tracing::debug!("status snapshot not written: {e}");
            }
        }
    }
}

/// The vendor's 400 for a caller ID it will not use names the field (CONTRACT A.1).
fn refuses_caller_id(detail: &str) -> bool {
    detail.contains("from_phone_number")
}

fn request<'e>(agent: &'e str, entry: &'e Entry) -> CallRequest<'e> {
    CallRequest {
        model_id: agent,
        phone: entry.phone().as_str(),
        name: &entry.contact.name,
        from_phone_number: entry.caller_id.as_ref().map_or("", |c| c.as_str()),
        custom_variables: &entry.contact.custom_variables,
    }
}
