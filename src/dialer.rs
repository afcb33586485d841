//! The campaign pipeline behind `outdial run`: contacts → eligibility (journal, do-not-call,
//! calling window) → caller-ID choice (rotation under caps) → pacing → create the call → follow it
//! to its outcome → journal.
//!
//! One task, the [`Dialer`], owns the journal writes, the rotation and the tally. Each call lives
//! in its own task ([`crate::call`]) and reports back over a channel, so a slow request never
//! holds up the schedule and a failed call is an outcome to record, never an error that ends the
//! run. Work that must wait (a redial, an uncertain call's look-up) sits in the journal's due
//! queue, on disk, so memory does not grow with the campaign.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{mpsc, watch};

use crate::api::{ApiError, CallState, Synthflow};
use crate::call::{Calls, CreateError, Report as CallReport};
use crate::campaign::{ApiKey, Campaign};
use crate::caps::Caps;
use crate::contacts::{ContactReader, ContactsError, Row};
use crate::error::Error;
use crate::journal::{Entry, Journal, SkippedRow, State};
use crate::pacing::{Pacer, Slot};
use crate::phone::Phone;
use crate::progress::{Display, Progress};
use crate::report::{Report, Tally};
use crate::rotation::{Callee, Choice, Locale, Rotation};
use crate::suppression::{self, Check, DoNotCall, Unreadable};
use crate::window::{CalleeZones, CallingHours};

/// How a run ended, when it did not fail.
#[derive(Debug)]
pub enum Ending {
    /// Every contact is settled.
    Complete,
    /// Ctrl-C: dispatching stopped, requests in flight were answered, the journal is saved.
    Interrupted,
    /// The account refused (401/402/403); the remaining contacts stay pending.
    AccountRefused(ApiError),
    /// A do-not-call list stayed unreadable past `suppress.unreadable_limit_seconds`; the
    /// remaining contacts stay pending.
    ListUnreadable(Unreadable),
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
    journal: &'a Journal,
    rotation: Rotation,
    hours: CallingHours,
    caps: Caps,
    do_not_call: DoNotCall,
    /// When the unreadable list last told about became unreadable, so it is said once.
    told_unreadable: Option<Timestamp>,
    /// The due moment last announced as idle time, so it is said once.
    announced: Option<Timestamp>,
    pacer: Arc<Pacer>,
    calls: Calls,
    reports: mpsc::UnboundedReceiver<CallReport>,
    /// Set to true when the run stops: live calls stop being followed.
    stop_following: watch::Sender<bool>,
    progress: &'a dyn Progress,
    run: u64,
    tally: Tally,
    started: Instant,
    last_snapshot: Instant,
    /// The CSV stream, until it runs out.
    rows: Option<mpsc::Receiver<Result<Row, ContactsError>>>,
    /// The contact taken up next, waiting for its slot in the schedule.
    held: Option<Entry>,
    /// Contacts to send again soon (after a 429, a refused caller ID, a call not found).
    again: VecDeque<Entry>,
    /// Call tasks alive; each ends with [`CallReport::Finished`].
    live: usize,
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
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (stop_following, stop) = watch::channel(false);
        let pacer = Arc::new(Pacer::new(&campaign.pacing));
        let do_not_call = DoNotCall::watch(
            &campaign.suppress.files,
            campaign.default_country,
            suppression::RECHECK,
        )?;
        for list in do_not_call.counts() {
            progress.note(&format!("do-not-call list {list}"));
        }
        let calls = Calls {
            api,
            agent: campaign.agent.clone(),
            pacer: pacer.clone(),
            reports: reports_tx,
            stop,
        };
        Ok(Dialer {
            campaign,
            journal,
            rotation: Rotation::new(campaign.rotation.strategy, pool),
            hours: CallingHours::new(&campaign.window),
            caps: Caps::new(
                campaign.rotation.max_calls_per_number_per_day,
                campaign.rotation.min_gap_per_number,
            ),
            do_not_call,
            told_unreadable: None,
            announced: None,
            pacer,
            calls,
            reports,
            stop_following,
            progress,
            run: journal.begin_run()?,
            tally: Tally::default(),
            started: Instant::now(),
            last_snapshot: Instant::now(),
            rows: None,
            held: None,
            again: VecDeque::new(),
            live: 0,
            stopping: None,
        })
    }

    /// Runs the campaign to its end, or until `shutdown` resolves (Ctrl-C).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<Finish, Error> {
        tokio::pin!(shutdown);
        self.take_up_earlier_runs()?;
        self.rows = Some(self.stream_contacts()?);
        loop {
            if self.held.is_none() && self.stopping.is_none() {
                self.held = self.next_work().await?;
                if let Some(uncertain) = self.held.take_if(|e| e.state != State::Pending) {
                    self.spawn(|calls| calls.find(uncertain));
                    continue;
                }
            }
            if self.held.is_none()
                && self.live == 0
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
            tokio::select! {
                biased;
                () = shutdown.as_mut(), if self.stopping.is_none() => {
                    self.progress.note("stopping: letting the requests in flight finish (Ctrl-C again to quit at once)");
                    self.stop(Ending::Interrupted);
                }
                Some(report) = self.reports.recv() => self.handle(report)?,
                slot = self.pacer.slot(), if self.held.is_some() && self.stopping.is_none() => {
                    let entry = self.held.take().expect("guarded by the branch condition");
                    self.dial(entry, slot)?;
                }
                () = sleep_until(wake), if wake.is_some() && self.stopping.is_none() => {}
            }
            if self.stopping.is_some() {
                self.held = None; // still `pending` in the journal: the next run takes it up
            }
            self.show_progress();
        }
        self.finish()
    }

    /// Picks up where earlier runs left: the tally, the rotation's order, calls still to follow,
    /// and contacts whose create request may have made a call (looked up once their grace is over).
    fn take_up_earlier_runs(&mut self) -> Result<(), Error> {
        let mut latest: BTreeMap<Phone, Timestamp> = BTreeMap::new();
        let grace = span(self.campaign.retry.reconcile_grace);
        for entry in self.journal.entries() {
            let mut entry = entry?;
            if let (Some(caller), Some(at)) = (&entry.caller_id, entry.dialed_at) {
                let seen = latest.entry(caller.clone()).or_insert(at);
                *seen = (*seen).max(at);
            }
            self.tally.count(&entry);
            match entry.state {
                State::Placed => self.spawn(|calls| calls.follow(entry)),
                State::Dialing | State::Uncertain { .. } => {
                    let dialed = entry.dialed_at.unwrap_or(Timestamp::UNIX_EPOCH);
                    entry.due_at = Some(
                        entry
                            .due_at
                            .unwrap_or(dialed.saturating_add(grace).unwrap_or(dialed)),
                    );
                    self.journal.put(&entry)?;
                }
                // Re-queue waiting contacts: a due key taken but not acted on before a stop is gone.
                State::Pending if entry.due_at.is_some() => self.journal.put(&entry)?,
                _ => {}
            }
        }
        self.rotation.restore(latest);
        // A day and a cooldown back are all the caps can need.
        let lookback =
            SignedDuration::from_hours(48).max(span(self.campaign.rotation.min_gap_per_number));
        let since = Timestamp::now()
            .checked_sub(lookback)
            .unwrap_or(Timestamp::MIN);
        for start in self.journal.starts_since(since) {
            let (caller, at) = start?;
            self.caps.record(&caller, at);
        }
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

    /// The next contact to take up now: one to send again, one that is due, or the next new one
    /// from the CSV. `None` when nothing is to be done before the next due moment.
    async fn next_work(&mut self) -> Result<Option<Entry>, Error> {
        if let Some(entry) = self.again.pop_front() {
            return Ok(Some(entry));
        }
        if let Some(entry) = self.journal.take_due(Timestamp::now())? {
            return Ok(Some(entry));
        }
        while let Some(rows) = &mut self.rows {
            match rows.recv().await {
                None => self.rows = None,
                Some(row) => {
                    if let Some(entry) = self.admit(row?)? {
                        return Ok(Some(entry));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Nothing is left: the CSV is read and nothing waits in the due queue.
    fn all_done(&self) -> Result<bool, Error> {
        Ok(self.rows.is_none() && self.again.is_empty() && self.journal.next_due()?.is_none())
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
                Ok((known.state == State::Pending && known.due_at.is_none()).then_some(known))
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

    /// Decides, at the moment of dialling, whether and from which number this contact may be
    /// called; then makes the `dialing` mark and starts the call's task, which sends the create
    /// request once the mark is durable.
    fn dial(&mut self, mut entry: Entry, slot: Slot) -> Result<(), Error> {
        let before = entry.clone();
        let now = Timestamp::now();
        let choice = match self.verdict(&entry, now)? {
            Verdict::Dial(choice) => choice,
            Verdict::Wait(until) => {
                entry.due_at = Some(until);
                return self.record(&before, &entry);
            }
            Verdict::Skip(reason) => {
                entry.set(State::Skipped { reason });
                return self.record(&before, &entry);
            }
        };
        self.caps.record(&choice.caller_id, now);
        self.journal.note_start(&choice.caller_id, now)?;
        entry.attempts += 1;
        entry.caller_id = Some(choice.caller_id);
        entry.local_match = Some(choice.local_match);
        entry.dialed_at = Some(now);
        entry.due_at = None;
        entry.call_id = None;
        entry.set(State::Dialing);
        self.record(&before, &entry)?;
        let durable = self.journal.durable();
        self.spawn(|calls| calls.create(entry, durable, slot));
        Ok(())
    }

    /// The rules, checked right before each dial: do-not-call lists (re-read when they change),
    /// the callee's calling hours, and a caller ID under its caps.
    fn verdict(&mut self, entry: &Entry, now: Timestamp) -> Result<Verdict, Error> {
        match self.do_not_call.check(entry.phone()) {
            Check::Clear => {}
            Check::Listed(list) => {
                return Ok(Verdict::Skip(format!(
                    "on the do-not-call list {}",
                    list.display()
                )));
            }
            Check::Unreadable(trouble) => return Ok(self.hold_for(trouble, now)),
        }
        let zones = self.zones(entry);
        if !self.hours.is_open(&zones, now) {
            return Ok(match self.hours.next_opening(&zones, now) {
                Some(opening) => Verdict::Wait(opening),
                None => Verdict::Skip(format!(
                    "the calling window never opens in {} within 400 days",
                    zones.names().join(", ")
                )),
            });
        }
        let callee = Callee {
            locale: Locale::of_contact(&entry.contact),
            previous: entry.caller_id.clone(),
        };
        let caps = &self.caps;
        if let Some(choice) = self
            .rotation
            .choose(&callee, |number| caps.allows(number, now))
        {
            return Ok(Verdict::Dial(choice));
        }
        let free_again = self
            .rotation
            .active()
            .map(|number| caps.next_allowed(number, now))
            .min();
        free_again.map(Verdict::Wait).ok_or(Error::PoolExhausted)
    }

    /// Nobody is dialled while a do-not-call list cannot be read: the contact waits for the
    /// list's next look; past `suppress.unreadable_limit_seconds` the run stops, contacts pending.
    fn hold_for(&mut self, trouble: Unreadable, now: Timestamp) -> Verdict {
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
        Verdict::Wait(next_look)
    }

    /// The zones the callee may be in; the window must be open in all of them.
    fn zones(&self, entry: &Entry) -> CalleeZones {
        CalleeZones::of_contact(&entry.contact, &self.campaign.window.fallback_time_zone)
    }

    /// Starts a call task and counts it live until it reports `Finished`.
    fn spawn(&mut self, start: impl FnOnce(&Calls)) {
        self.live += 1;
        start(&self.calls);
    }

    fn handle(&mut self, report: CallReport) -> Result<(), Error> {
        match report {
            CallReport::Sending { caller, at } => {
                self.caps.sent(&caller, at);
                Ok(())
            }
            CallReport::Created { entry, result } => self.settle_create(entry, result),
            CallReport::Found { entry, result } => self.settle_search(entry, result),
            CallReport::Ended { phone, result } => self.settle_end(&phone, result),
            CallReport::Finished => {
                self.live -= 1;
                Ok(())
            }
        }
    }

    /// Records a create request's answer.
    fn settle_create(
        &mut self,
        mut entry: Entry,
        result: Result<String, CreateError>,
    ) -> Result<(), Error> {
        let before = entry.clone();
        let outcome = match result {
            Ok(call_id) => {
                self.pacer.accepted();
                entry.call_id = Some(call_id);
                entry.last_error = None;
                entry.set(State::Placed);
                Ok(())
            }
            Err(CreateError::NotSent(e)) => {
                undo_attempt(&mut entry, e.to_string());
                Err(Error::Journal(e))
            }
            Err(CreateError::Api(e)) => {
                self.settle_refusal(&mut entry, e);
                Ok(())
            }
        };
        self.record(&before, &entry)?;
        outcome
    }

    /// An API error for one create request: decide what it means for the contact and the run.
    fn settle_refusal(&mut self, entry: &mut Entry, error: ApiError) {
        let phone = entry.phone().masked().to_string();
        match &error {
            e if e.may_have_created() => {
                tracing::warn!(%phone, "create request uncertain: {e}");
                entry.last_error = Some(e.to_string());
                entry.due_at = Some(self.after(self.campaign.retry.reconcile_grace));
                entry.set(State::Uncertain {
                    reason: e.to_string(),
                });
            }
            ApiError::Account { .. } => {
                undo_attempt(entry, error.to_string());
                self.stop(Ending::AccountRefused(error));
            }
            ApiError::RateLimited { retry_after } => {
                let pause = self.pacer.rate_limited(*retry_after);
                tracing::info!(?pause, "429 from the API: pausing and slowing down");
                undo_attempt(entry, error.to_string());
                self.again.push_back(entry.clone());
            }
            ApiError::Refused { detail, .. } if refuses_caller_id(detail) => {
                let caller = entry
                    .caller_id
                    .take()
                    .expect("a dialled entry has a caller ID");
                if self.rotation.retire(&caller) {
                    self.progress.note(&format!(
                        "caller ID {caller} refused by the API and taken out of rotation: {detail}"
                    ));
                }
                undo_attempt(entry, error.to_string());
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

    /// Settles a contact whose creation was uncertain from what the search found.
    fn settle_search(
        &mut self,
        mut entry: Entry,
        result: Result<Option<String>, ApiError>,
    ) -> Result<(), Error> {
        let before = entry.clone();
        match result {
            Ok(Some(call_id)) => {
                entry.call_id = Some(call_id);
                entry.due_at = None;
                entry.set(State::Placed);
            }
            Ok(None) if entry.attempts >= self.campaign.retry.max_attempts.get() => {
                let reason = format!("no call was created in {} attempts", entry.attempts);
                entry.set(State::Failed { reason });
            }
            Ok(None) => {
                entry.due_at = None;
                entry.set(State::Pending);
                self.again.push_back(entry.clone());
            }
            Err(e @ ApiError::Account { .. }) => self.stop(Ending::AccountRefused(e)),
            Err(e) => {
                tracing::warn!(phone = %entry.phone().masked(), "could not look the call up: {e}");
                entry.due_at = Some(self.after(self.campaign.retry.reconcile_grace));
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
        match result {
            Ok(call)
                if call.is_unanswered()
                    && entry.attempts < self.campaign.retry.max_attempts.get() =>
            {
                entry.last_error = Some(format!("attempt {}: {}", entry.attempts, call.status));
                entry.due_at = Some(self.after(self.campaign.retry.redial_after));
                entry.set(State::Pending);
            }
            Ok(call) => {
                let CallState {
                    status,
                    end_call_reason,
                    duration,
                } = call;
                entry.set(State::Done {
                    status,
                    end_call_reason,
                    duration_s: duration,
                });
            }
            Err(e @ ApiError::Account { .. }) => self.stop(Ending::AccountRefused(e)),
            Err(e) => {
                tracing::warn!(phone = %phone.masked(), "call not followed to its end: {e}");
                entry.last_error = Some(e.to_string());
            }
        }
        self.record(&before, &entry)
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
        let now = Timestamp::now();
        now.saturating_add(span(wait)).unwrap_or(now)
    }

    /// When the run has nothing to do but wait, says until when and why (once per wait).
    fn say_when_idle(&mut self, waiting: Option<&Entry>) {
        let Some((entry, wake)) = waiting.and_then(|e| Some((e, e.due_at?))) else {
            return;
        };
        let now = Timestamp::now();
        let soon = now.duration_until(wake) < SignedDuration::from_secs(3);
        if self.live > 0 || self.announced == Some(wake) || soon {
            return;
        }
        self.announced = Some(wake);
        let zones = self.zones(entry);
        let message = if self.hours.is_open(&zones, now) {
            let wait = SignedDuration::from_secs(now.duration_until(wake).as_secs());
            format!(
                "nobody to call now: the next call is due in {wait:#} (a redial, or a number under its caps)"
            )
        } else {
            format!(
                "nobody can be called now: next window opens {}",
                self.hours.describe_opening(&zones, wake, now)
            )
        };
        self.progress.note(&message);
    }

    /// Contacts that earlier runs knew but this run's CSV no longer lists, and that were never
    /// dialled, are settled as skipped, so that every contact ends in one terminal state.
    fn settle_removed(&mut self) -> Result<(), Error> {
        let mut removed = Vec::new();
        for entry in self.journal.entries() {
            let entry = entry?;
            if entry.run != self.run && entry.state == State::Pending && entry.due_at.is_none() {
                removed.push(entry);
            }
        }
        for mut entry in removed {
            let before = entry.clone();
            entry.set(State::Skipped {
                reason: "no longer in the contacts file".into(),
            });
            self.record(&before, &entry)?;
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
            next: None,
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
                "pid {}, {} call(s) live, figures of {}",
                std::process::id(),
                self.live,
                Timestamp::now().strftime("%H:%M:%S UTC")
            ));
            if let Err(e) = report.save_snapshot(self.journal.dir()) {
                tracing::debug!("status snapshot not written: {e}");
            }
        }
    }
}

/// What the rules say of a contact at the moment of dialling.
enum Verdict {
    Dial(Choice),
    /// Not before this moment (its window opens, or a caller ID comes off its caps).
    Wait(Timestamp),
    Skip(String),
}

/// The API said no call was created: the attempt does not count.
fn undo_attempt(entry: &mut Entry, why: String) {
    entry.attempts = entry.attempts.saturating_sub(1);
    entry.last_error = Some(why);
    entry.set(State::Pending);
}

/// A configured wait as jiff counts it; waits too long for jiff are "forever".
fn span(wait: Duration) -> SignedDuration {
    SignedDuration::try_from(wait).unwrap_or(SignedDuration::MAX)
}

/// Sleeps until `wake`, or forever without one (the branch is then disabled anyway).
async fn sleep_until(wake: Option<Timestamp>) {
    match wake {
        Some(at) => {
            // A moment already past converts to no `Duration`: no wait.
            let wait =
                Duration::try_from(Timestamp::now().duration_until(at)).unwrap_or(Duration::ZERO);
            tokio::time::sleep(wait).await
        }
        None => std::future::pending().await,
    }
}

/// The vendor's 400 for a caller ID it will not use names the field (CONTRACT A.1).
fn refuses_caller_id(detail: &str) -> bool {
    detail.contains("from_phone_number")
}
