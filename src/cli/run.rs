//! `outdial run` and `outdial resume`, and how a run is asked to stop: Ctrl-C, SIGTERM, SIGHUP,
//! `--max-runtime` or `--until`. Each ends the run the same way (stop dispatching, let requests in
//! flight finish, save, summary, resume hint) with its own exit code.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use clap::Args;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use super::{Global, output};
use crate::api::Synthflow;
use crate::budget;
use crate::campaign::{ApiKey, Campaign};
use crate::clock::Clock;
use crate::dialer::{self, Dialer, Ending, Finish};
use crate::error::Error;
use crate::journal::{Journal, Opening};
use crate::progress::Display;
use crate::report::Report;
use crate::store::account::{AccountLock, account_id};
use crate::store::ledger::{KeptLock, LockState};
use crate::store::{Store, StoreError, StoreUrl};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The campaign file (TOML); several run side by side under one budget per account
    #[arg(required = true, value_name = "CAMPAIGN")]
    pub campaigns: Vec<PathBuf>,
    /// Stop cleanly after this long, e.g. `2h30m`, `45m` or `PT2H` (exit 75; resume later)
    #[arg(long, value_name = "DURATION", value_parser = max_runtime)]
    pub max_runtime: Option<SignedDuration>,
    /// Stop cleanly at this time: `18:00` (local time today) or an RFC 3339 timestamp such as
    /// `2026-12-01T18:00:00-05:00` (exit 75; resume later)
    #[arg(long, value_name = "TIME", value_parser = until)]
    pub until: Option<Timestamp>,
    /// End with one JSON summary on stdout (progress and notes stay on stderr)
    #[arg(long)]
    pub json: bool,
}

/// Whether a missing journal may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journaling {
    StartOrResume,
    ResumeOnly,
}

/// What asked a run to stop before its campaign was complete. Each has its own exit code, so
/// that a script or a supervisor can tell a deadline from an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    /// Ctrl-C (SIGINT): 130, as shells report it.
    Interrupt,
    /// SIGTERM (`kill`, systemd, Kubernetes): 143.
    Terminate,
    /// SIGHUP (the terminal went away): 129.
    HangUp,
    /// `--max-runtime` or `--until` was reached: 75 (EX_TEMPFAIL, "try again later").
    Deadline,
}

impl StopRequest {
    pub fn exit_code(self) -> u8 {
        match self {
            StopRequest::Interrupt => 130,
            StopRequest::Terminate => 143,
            StopRequest::HangUp => 129,
            StopRequest::Deadline => 75,
        }
    }

    /// The ending's name in `run --json`.
    fn name(self) -> &'static str {
        match self {
            StopRequest::Interrupt => "interrupted",
            StopRequest::Terminate => "terminated",
            StopRequest::HangUp => "hung_up",
            StopRequest::Deadline => "deadline",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            StopRequest::Interrupt => "interrupted",
            StopRequest::Terminate => "terminated (SIGTERM)",
            StopRequest::HangUp => "hung up (SIGHUP)",
            StopRequest::Deadline => "time is up (--max-runtime/--until)",
        }
    }
}

pub async fn run(args: RunArgs, global: &Global, journaling: Journaling) -> Result<u8, Error> {
    let campaigns = args
        .campaigns
        .iter()
        .map(|file| super::load(file, global))
        .collect::<Result<Vec<_>, _>>()?;
    let keys = campaigns
        .iter()
        .map(|campaign| campaign.api.key(&campaign.file))
        .collect::<Result<Vec<_>, _>>()?;
    let deadline = deadline(args.max_runtime, args.until, Timestamp::now())?;
    let mut stops = Stops::listen(deadline)?;
    let display = Display::chosen_by(global.quiet);
    let runs = launch_all(&campaigns, keys, journaling, display, stops.requested()).await?;
    let summaries: Vec<_> = campaigns
        .iter()
        .zip(&runs)
        .filter_map(|(campaign, run)| {
            Some(Summary::of(campaign, run.as_ref().ok()?, stops.first()))
        })
        .collect();
    let code = match (campaigns.len(), summaries.as_slice()) {
        (_, []) => 0,
        (1, [one]) => one.show(args.json),
        (_, several) => Several::of(several).show(args.json),
    };
    let first_error = runs.into_iter().find_map(Result::err);
    match first_error {
        Some(error) => Err(error),
        None => Ok(code),
    }
}

/// The earlier of the two limits, as an instant; a limit already past is bad input, since a run
/// that stops before it starts is surely not what was meant.
fn deadline(
    max_runtime: Option<SignedDuration>,
    until: Option<Timestamp>,
    now: Timestamp,
) -> Result<Option<Timestamp>, Error> {
    let after_runtime = max_runtime.map(|d| now.saturating_add(d).unwrap_or(Timestamp::MAX));
    let deadline = after_runtime.into_iter().chain(until).min();
    match deadline {
        Some(at) if at <= now => Err(Error::Usage(format!(
            "--until {at} is already past: give a later time, or a date with it"
        ))),
        _ => Ok(deadline),
    }
}

/// Opens the journal the way `journaling` allows, takes the account on this machine (a second
/// run on it is refused), and runs the campaign until it is complete, `stop` resolves, or the
/// account refuses.
pub async fn launch(
    campaign: &Campaign,
    key: ApiKey,
    journaling: Journaling,
    display: Display,
    stop: impl Future<Output = ()>,
) -> Result<Finish, Error> {
    let campaigns = std::slice::from_ref(campaign);
    let mut runs = launch_all(campaigns, vec![key], journaling, display, stop).await?;
    runs.pop().expect("one run for one campaign")
}

/// [`launch`] for several campaigns side by side, each with its own journal, rules and figures,
/// sharing one budget per account (see [`budget::shares`]). Nobody is called unless every
/// campaign opens, checks and takes up its earlier runs; a run that fails midway stops the
/// others, which then end as interrupted. One result per campaign, in their order.
pub async fn launch_all(
    campaigns: &[Campaign],
    keys: Vec<ApiKey>,
    journaling: Journaling,
    display: Display,
    stop: impl Future<Output = ()>,
) -> Result<Vec<Result<Finish, Error>>, Error> {
    refuse_repeats(campaigns)?;
    // Before the journals, which are kept in the store when there is one.
    let store_url = store_url(campaigns)?;
    let mut journals = Vec::with_capacity(campaigns.len());
    let opened = open_journals(campaigns, store_url.as_ref(), journaling, &mut journals);
    let runs = match opened {
        Ok(()) => dial_all(campaigns, &journals, store_url, keys, display, stop).await,
        Err(error) => Err(error),
    };
    for journal in journals {
        journal.close().await;
    }
    runs
}

/// One campaign given twice would be two runs of one journal.
fn refuse_repeats(campaigns: &[Campaign]) -> Result<(), Error> {
    for (i, campaign) in campaigns.iter().enumerate() {
        let earlier = campaigns[..i]
            .iter()
            .find(|c| c.journal_dir == campaign.journal_dir && c.name == campaign.name);
        if let Some(earlier) = earlier {
            return Err(Error::Usage(format!(
                "{} and {} are the same campaign `{}` (one journal in {}): give each campaign once",
                earlier.file.display(),
                campaign.file.display(),
                campaign.name,
                campaign.journal_dir.display()
            )));
        }
    }
    Ok(())
}

fn open_journals(
    campaigns: &[Campaign],
    store: Option<&StoreUrl>,
    journaling: Journaling,
    journals: &mut Vec<Journal>,
) -> Result<(), Error> {
    for campaign in campaigns {
        journals.push(match journaling {
            Journaling::StartOrResume => {
                Journal::open_kept(campaign, store, Opening::StartOrResume)?
            }
            Journaling::ResumeOnly => Journal::open_kept(campaign, store, Opening::Existing)?,
        });
    }
    Ok(())
}

/// Takes each account (after the journals, so that the same campaign run twice is named as
/// such), prepares every campaign, then dials them all until each ends.
async fn dial_all(
    campaigns: &[Campaign],
    journals: &[Journal],
    store_url: Option<StoreUrl>,
    keys: Vec<ApiKey>,
    display: Display,
    stop: impl Future<Output = ()>,
) -> Result<Vec<Result<Finish, Error>>, Error> {
    let store = shared_store(store_url).await?;
    let held = hold(campaigns, &keys, store.as_ref()).await?;
    let mut rows = Vec::with_capacity(campaigns.len());
    for (campaign, journal) in campaigns.iter().zip(journals) {
        rows.push(dialer::survey(campaign, journal).await?);
    }
    let with_keys: Vec<_> = campaigns.iter().zip(&keys).collect();
    let (shares, notes) = budget::shares(&with_keys, store.as_ref());
    let progress = match campaigns {
        [_] => vec![display.for_rows(rows[0])],
        several => {
            let named: Vec<_> = several
                .iter()
                .map(|c| c.name.as_str())
                .zip(rows.iter().copied())
                .collect();
            display.for_campaigns(&named)
        }
    };
    for note in &notes {
        progress[0].note(note);
    }
    let mut dialers = Vec::with_capacity(campaigns.len());
    for (i, (campaign, key)) in campaigns.iter().zip(keys).enumerate() {
        let api = Synthflow::new(&campaign.api.base_url, key)?;
        let pool = dialer::resolve_pool(campaign, &api).await?;
        let share = match held.lock_state(i) {
            Some(lock) => shares[i].clone().guarded_by(lock),
            None => shares[i].clone(),
        };
        let dialer = Dialer::new(
            campaign,
            api,
            &journals[i],
            &pool,
            share,
            progress[i].as_ref(),
        )?;
        dialers.push(dialer.with_rows_in_file(rows[i]).resumed()?);
    }
    let (halt, halted) = watch::channel(false);
    let runs =
        futures_util::future::join_all(dialers.into_iter().enumerate().map(|(i, dialer)| {
            let mut halted = halted.clone();
            let lock = held.lock_state(i);
            let halt = &halt;
            async move {
                let run = dialer.run(async move {
                    tokio::select! {
                        _ = halted.wait_for(|halted| *halted) => {}
                        () = taken_away(lock) => {}
                    }
                });
                let finish = run.await;
                if finish.is_err() {
                    let _ = halt.send(true);
                }
                finish
            }
        }));
    tokio::pin!(runs, stop);
    let finishes = tokio::select! {
        biased;
        finishes = &mut runs => finishes,
        () = &mut stop => {
            let _ = halt.send(true);
            runs.await
        }
    };
    let finishes = finishes
        .into_iter()
        .enumerate()
        .map(|(i, finish)| match held.taken(i) {
            Some(taken) => Err(taken.into()),
            None => finish,
        })
        .collect();
    held.release().await;
    Ok(finishes)
}

/// Resolves once another process has taken the campaign from this run (see [`LockState`]).
async fn taken_away(lock: Option<watch::Receiver<LockState>>) {
    if let Some(mut lock) = lock
        && lock
            .wait_for(|state| matches!(state, LockState::TakenBy(_)))
            .await
            .is_ok()
    {
        return;
    }
    std::future::pending().await
}

/// The shared store the campaigns name (`OUTDIAL_STORE_URL` wins over every file). Campaigns run
/// together share their account, so they share one store or none: without the variable, files
/// that name different ones are refused.
fn store_url(campaigns: &[Campaign]) -> Result<Option<StoreUrl>, Error> {
    if let Some(url) = StoreUrl::from_environment()? {
        return Ok(Some(url));
    }
    let first = &campaigns[0];
    if let Some(other) = campaigns.iter().find(|c| c.store_url != first.store_url) {
        return Err(Error::Usage(format!(
            "{} and {} name different stores in [store] url: campaigns run together share their accounts, so give them the same store (or none), or set OUTDIAL_STORE_URL",
            first.file.display(),
            other.file.display()
        )));
    }
    Ok(crate::store::url_for(first)?)
}

/// The store at `url`, connected and migrated; `None` without one.
async fn shared_store(url: Option<StoreUrl>) -> Result<Option<Arc<Store>>, Error> {
    let Some(url) = url else {
        return Ok(None);
    };
    let store = Store::connect(&url).await?;
    // A run resumed after a `kill -9` on this host finds its predecessor's slots free at once.
    match store.release_leases_of_dead_processes().await {
        Ok(0) => {}
        Ok(n) => tracing::info!("gave back {n} live-call leases of processes that are gone"),
        Err(e) => tracing::warn!("{e}; the leases of processes that are gone expire by themselves"),
    }
    Ok(Some(Arc::new(store)))
}

/// What a run holds while it dials: without a store, each account's lock on this machine (a
/// second run on the account would double its budget); with one, each campaign's lock in the
/// store (the account's limits are shared there, and the same campaign must not run on two
/// hosts, each with a journal of its own).
enum Holds {
    Accounts(Vec<AccountLock>),
    /// One per campaign, in their order.
    Campaigns(Vec<KeptLock>),
}

impl Holds {
    /// Lets go at the run's end. A lock not given back here (a failure, a panic) goes with its
    /// process or its session all the same.
    async fn release(self) {
        match self {
            Holds::Accounts(locks) => drop(locks),
            Holds::Campaigns(locks) => {
                for lock in locks {
                    lock.release().await;
                }
            }
        }
    }

    /// What campaign `i`'s lock in the store says, as it changes; `None` without a store.
    fn lock_state(&self, i: usize) -> Option<watch::Receiver<LockState>> {
        match self {
            Holds::Accounts(_) => None,
            Holds::Campaigns(locks) => Some(locks[i].state()),
        }
    }

    /// Why campaign `i` had to stop, if another process took it while its lock was lost.
    fn taken(&self, i: usize) -> Option<StoreError> {
        match self {
            Holds::Accounts(_) => None,
            Holds::Campaigns(locks) => locks[i].taken(),
        }
    }
}

async fn hold(
    campaigns: &[Campaign],
    keys: &[ApiKey],
    store: Option<&Arc<Store>>,
) -> Result<Holds, Error> {
    if let Some(store) = store {
        let mut locks = Vec::with_capacity(campaigns.len());
        for campaign in campaigns {
            locks.push(KeptLock::take(Arc::clone(store), &campaign.name).await?);
        }
        return Ok(Holds::Campaigns(locks));
    }
    let mut accounts = Vec::new();
    let mut taken = Vec::new();
    for (campaign, key) in campaigns.iter().zip(keys) {
        let account = account_id(&campaign.api.base_url, key);
        if !taken.contains(&account) {
            accounts.push(AccountLock::for_campaign(campaign, key)?);
            taken.push(account);
        }
    }
    Ok(Holds::Accounts(accounts))
}

/// The signals and the deadline a run listens to. The handlers are installed before the run
/// starts, so that a SIGTERM in its first moments is a clean stop, not the default death.
pub struct Stops {
    /// Interrupt, terminate, hang-up; taken by the one future that waits on them.
    signals: Option<[Signal; 3]>,
    deadline: Option<Timestamp>,
    /// The first request, kept for the exit code once the run has ended.
    first: Arc<OnceLock<StopRequest>>,
}

impl Stops {
    pub fn listen(deadline: Option<Timestamp>) -> Result<Stops, Error> {
        let install = |kind: SignalKind| {
            signal(kind).map_err(|source| Error::Io {
                context: "cannot install a signal handler".into(),
                source,
            })
        };
        let signals = [
            install(SignalKind::interrupt())?,
            install(SignalKind::terminate())?,
            install(SignalKind::hangup())?,
        ];
        Ok(Stops {
            signals: Some(signals),
            deadline,
            first: Arc::default(),
        })
    }

    /// Resolves at the first request; a second signal then ends the process at once (the
    /// journal is consistent at every moment, so nothing is lost). Only the first call of it
    /// listens; any later one never resolves.
    pub fn requested(&mut self) -> impl Future<Output = ()> + use<> {
        let first = Arc::clone(&self.first);
        let deadline = self.deadline;
        let signals = self.signals.take();
        async move {
            let Some([mut interrupt, mut terminate, mut hang_up]) = signals else {
                return std::future::pending().await;
            };
            let request = tokio::select! {
                _ = interrupt.recv() => StopRequest::Interrupt,
                _ = terminate.recv() => StopRequest::Terminate,
                _ = hang_up.recv() => StopRequest::HangUp,
                () = dialer::sleep_until(Clock::System, deadline) => StopRequest::Deadline,
            };
            let _ = first.set(request);
            tokio::spawn(async move {
                let again = tokio::select! {
                    _ = interrupt.recv() => StopRequest::Interrupt,
                    _ = terminate.recv() => StopRequest::Terminate,
                    _ = hang_up.recv() => StopRequest::HangUp,
                };
                output::warn("asked again: exiting now; the journal is consistent");
                std::process::exit(i32::from(again.exit_code()));
            });
        }
    }

    /// The first stop request, if any came.
    pub fn first(&self) -> Option<StopRequest> {
        self.first.get().copied()
    }
}

/// How a run ended, for people (text) and scripts (`run --json`: one JSON document on stdout).
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub campaign: &'a str,
    /// `complete`, `interrupted`, `terminated`, `hung_up`, `deadline`, `account_refused`,
    /// `campaign_refused` or `list_unreadable`.
    pub ending: &'static str,
    pub exit_code: u8,
    /// What went wrong, when the run was refused or could not go on.
    pub error: Option<String>,
    /// What happened and what to do next, in a sentence.
    pub outcome: String,
    /// The command that continues the campaign, unless it is complete.
    pub resume: Option<String>,
    pub report: &'a Report,
    /// The campaign file, for the command that continues several campaigns together.
    #[serde(skip)]
    pub file: &'a std::path::Path,
}

/// How several campaigns run side by side ended (`run a.toml b.toml`): each one's summary, in
/// their order, then one exit code (the first campaign's that did not complete, 0 when all
/// did) and one command that continues together those not complete.
#[derive(Debug, Serialize)]
pub struct Several<'s, 'a> {
    pub campaigns: &'s [Summary<'a>],
    pub exit_code: u8,
    pub resume: Option<String>,
}

impl<'s, 'a> Several<'s, 'a> {
    pub fn of(campaigns: &'s [Summary<'a>]) -> Several<'s, 'a> {
        let unfinished: Vec<_> = campaigns.iter().filter(|s| s.exit_code != 0).collect();
        let exit_code = unfinished.first().map_or(0, |s| s.exit_code);
        let files: Vec<_> = unfinished
            .iter()
            .map(|s| s.file.display().to_string())
            .collect();
        Several {
            campaigns,
            exit_code,
            resume: (!files.is_empty()).then(|| format!("outdial resume {}", files.join(" "))),
        }
    }

    /// Prints every summary (text, or one JSON document with `json`); returns the exit code.
    pub fn show(&self, json: bool) -> u8 {
        if json {
            output::json(self);
            return self.exit_code;
        }
        for summary in self.campaigns {
            output::line(format_args!("\n== campaign {} ==", summary.campaign));
            summary.print();
        }
        if let Some(resume) = &self.resume {
            output::line(format_args!("\nto continue them together: `{resume}`"));
        }
        self.exit_code
    }
}

impl<'a> Summary<'a> {
    /// `stopped_by` is the request that ended an interrupted run (a Ctrl-C when nothing says
    /// otherwise).
    pub fn of(
        campaign: &'a Campaign,
        finish: &'a Finish,
        stopped_by: Option<StopRequest>,
    ) -> Summary<'a> {
        let resume = campaign.resume_command();
        let (ending, exit_code, error, outcome) = match &finish.ending {
            Ending::Complete => (
                "complete",
                0,
                None,
                format!("complete: every contact of {} is settled", campaign.name),
            ),
            Ending::Interrupted => {
                let request = stopped_by.unwrap_or(StopRequest::Interrupt);
                (
                    request.name(),
                    request.exit_code(),
                    None,
                    format!(
                        "{}: the journal is saved; continue with `{resume}`",
                        request.describe()
                    ),
                )
            }
            Ending::AccountRefused(error) => (
                "account_refused",
                3,
                Some(error.to_string()),
                format!(
                    "stopped: the remaining contacts are still pending; after fixing it, `{resume}`"
                ),
            ),
            Ending::CampaignRefused(mistake) => (
                "campaign_refused",
                2,
                Some(mistake.to_string()),
                format!(
                    "stopped: nobody was called twice and the refused contacts are still pending; after fixing the campaign file, `{resume}`"
                ),
            ),
            Ending::ListUnreadable(trouble) => (
                "list_unreadable",
                2,
                Some(format!(
                    "{trouble}, for longer than suppress.unreadable_limit_seconds ({}s)",
                    campaign.suppress.unreadable_limit.as_secs()
                )),
                format!(
                    "stopped: nobody was called while the list could not be read; the remaining contacts are still pending; after fixing it, `{resume}`"
                ),
            ),
        };
        Summary {
            campaign: &campaign.name,
            ending,
            exit_code,
            error,
            outcome,
            resume: (exit_code != 0).then_some(resume),
            report: &finish.report,
            file: &campaign.file,
        }
    }

    /// Prints the summary (text, or one JSON document with `json`); returns the exit code.
    pub fn show(&self, json: bool) -> u8 {
        if json {
            output::json(self);
        } else {
            self.print();
        }
        self.exit_code
    }

    /// The report, any error on stderr, and what happened with what to do next.
    pub fn print(&self) {
        output::text(self.report);
        if let Some(error) = &self.error {
            output::warn(format_args!("error: {error}"));
        }
        output::line(&self.outcome);
    }
}

/// Prints the summary and what to do next; returns the exit code.
pub fn conclude(campaign: &Campaign, finish: &Finish, stopped_by: Option<StopRequest>) -> u8 {
    Summary::of(campaign, finish, stopped_by).show(false)
}

/// `--max-runtime`: jiff's friendly format (`2h30m`) or ISO 8601 (`PT2H30M`), above zero.
fn max_runtime(written: &str) -> Result<SignedDuration, String> {
    let duration: SignedDuration = written
        .trim()
        .parse()
        .map_err(|_| format!("\"{written}\" is not a duration such as 2h30m, 45m or 90s"))?;
    if duration <= SignedDuration::ZERO {
        return Err(format!("\"{written}\" must be longer than zero"));
    }
    Ok(duration)
}

/// `--until`: an RFC 3339 timestamp, or a time of day read in the local time zone today.
fn until(written: &str) -> Result<Timestamp, String> {
    let written = written.trim();
    if let Ok(at) = written.parse::<Timestamp>() {
        return Ok(at);
    }
    let time: jiff::civil::Time = written.parse().map_err(|_| {
        format!(
            "\"{written}\" is neither a time of day such as 18:00 nor an RFC 3339 timestamp such as 2026-12-01T18:00:00Z"
        )
    })?;
    let zone = jiff::tz::TimeZone::system();
    let today = Timestamp::now().to_zoned(zone.clone()).date();
    today
        .to_datetime(time)
        .to_zoned(zone)
        .map(|z| z.timestamp())
        .map_err(|e| format!("\"{written}\" does not exist today here: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Friendly and ISO durations are read; nothing, zero and negatives are refused.
    #[test]
    fn max_runtime_reads_friendly_durations_and_refuses_empty_ones() {
        assert_eq!(max_runtime("2h30m"), Ok(SignedDuration::from_mins(150)));
        assert_eq!(max_runtime("PT2S"), Ok(SignedDuration::from_secs(2)));
        assert!(max_runtime("0s").is_err());
        assert!(max_runtime("-5m").is_err());
        assert!(max_runtime("soon").is_err());
    }

    /// The earlier limit wins, and a limit already past is refused.
    #[test]
    fn the_deadline_is_the_earlier_limit_and_never_past() {
        let now: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let until: Timestamp = "2026-12-01T12:30:00Z".parse().unwrap();
        let hour = Some(SignedDuration::from_hours(1));
        assert_eq!(deadline(hour, Some(until), now).unwrap(), Some(until));
        assert_eq!(
            deadline(hour, None, now).unwrap(),
            Some("2026-12-01T13:00:00Z".parse().unwrap())
        );
        assert_eq!(deadline(None, None, now).unwrap(), None);
        let past: Timestamp = "2026-12-01T11:00:00Z".parse().unwrap();
        assert!(deadline(None, Some(past), now).is_err());
    }
}
