//! What outdial tells people about a campaign: counts per state, calls per caller ID, local-match
//! rate. One [`Tally`] serves the live progress, the end-of-run summary and `outdial status`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::api::Requests;
use crate::journal::{Entry, Journal, JournalError, State, StateKind};
use crate::rotation::Match;
use crate::survey::Surveyed;
use crate::table::Table;

/// Counts over a campaign's contacts; small whatever the number of contacts (bounded by the pool).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Contacts per state.
    pub states: BTreeMap<StateKind, u64>,
    /// Placed calls per caller ID.
    pub callers: BTreeMap<String, CallerTally>,
    /// Placed calls per local-presence match.
    pub matches: BTreeMap<Match, u64>,
    /// CSV rows that are not contacts (bad phone, duplicate row).
    pub skipped_rows: u64,
    /// Create requests sent (or possibly sent), all contacts together.
    #[serde(default)]
    pub attempts: u64,
    /// Finished calls per terminal status (completed, no-answer, …).
    #[serde(default)]
    pub outcomes: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallerTally {
    pub calls: u64,
    /// Of which to a callee with the same area code.
    pub local: u64,
}

/// A campaign's state for people and scripts: `outdial status`, the running process's snapshot,
/// the end of a run (`run --json`). Its JSON is one documented shape (README, "Status"), whatever
/// the campaign's phase: a field that does not apply is `null`, never missing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub campaign: String,
    pub phase: Phase,
    /// When these figures were taken.
    pub as_of: Option<Timestamp>,
    /// The figures come from a running process that has not refreshed them for longer than
    /// [`STALE_AFTER`]: it may be stuck, swapped out, or killed without a chance to say so.
    #[serde(default)]
    pub stale: bool,
    /// Data rows of the contacts file as the latest run checked it, so that totals hold from the
    /// start rather than counting the rows read so far.
    pub rows_in_file: Option<u64>,
    pub tally: Tally,
    /// Contacts whose create request may or may not have made a call (first few).
    pub uncertain: Vec<String>,
    /// The process running the campaign, while one does.
    pub running: Option<String>,
    /// This run's figures, while or after it runs.
    pub run: Option<RunFigures>,
    /// When the next waiting contact is due, and why ("next window opens 09:00 America/Chicago…").
    pub next: Option<String>,
    /// What the latest run asked of the call API (creates, list pages, single gets), kept in
    /// the snapshot so that `status` shows it after the run.
    pub requests: Option<Requests>,
}

/// Where a campaign is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No journal yet.
    NotStarted,
    /// A process holds the journal and dials.
    Running,
    /// Some contacts still need work, and no process is dialling.
    Stopped,
    /// Every contact is settled.
    Complete,
}

/// A run's own pace: what it did since it started, not what earlier runs did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFigures {
    #[serde(with = "seconds")]
    pub elapsed: Duration,
    /// Calls live now: created (or being created) and not yet ended.
    pub live_calls: u64,
    /// Create requests this run sent.
    pub calls: u64,
    /// Contacts this run settled.
    pub settled: u64,
}

/// A running process refreshes its snapshot every second; figures older than this are marked.
pub const STALE_AFTER: Duration = Duration::from_secs(10);

/// How long a run goes before its pace is shown.
pub const RATE_AFTER: Duration = Duration::from_secs(1);

impl RunFigures {
    /// Create requests per second over the run; `None` in its first [`RATE_AFTER`], when one
    /// call over a few milliseconds would read as hundreds a second.
    pub fn calls_per_second(&self) -> Option<f64> {
        (self.elapsed >= RATE_AFTER).then(|| self.calls as f64 / self.elapsed.as_secs_f64())
    }

    /// [`RunFigures::calls_per_second`] as people read it: `12.5 calls/s`, or `… calls/s`.
    pub fn pace(&self) -> String {
        self.calls_per_second()
            .map_or("… calls/s".to_owned(), |rate| {
                format!("{rate:.1} calls/s")
            })
    }

    /// How long the `remaining` contacts take at the pace contacts were settled so far; `None`
    /// until the run has settled some, and in its first [`RATE_AFTER`].
    pub fn eta(&self, remaining: u64) -> Option<Duration> {
        let per_second = self.settled as f64 / self.elapsed.as_secs_f64().max(1e-3);
        (self.settled > 0 && self.elapsed >= RATE_AFTER)
            .then(|| Duration::from_secs_f64(remaining as f64 / per_second))
    }
}

/// One number of a [`Tally`]. The journal keeps each under its own key, written in the same
/// batch as the entry that moves it, so a resume reads the tally instead of counting every entry.
/// Stored by postcard, so the order of the variants is part of the journal's format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Counter {
    State(StateKind),
    Attempts,
    Outcome(String),
    CallerCalls(String),
    CallerLocal(String),
    Match(Match),
}

impl Tally {
    pub fn count(&mut self, entry: &Entry) {
        self.add(entry, 1);
    }

    /// `before` became `after`.
    pub fn shift(&mut self, before: &Entry, after: &Entry) {
        self.add(before, -1);
        self.add(after, 1);
    }

    /// `before` (none for a new contact) became `after`; returns the counters whose value
    /// changed, for the journal to write.
    pub fn moved(&mut self, before: Option<&Entry>, after: &Entry) -> Vec<Counter> {
        let mut net: Vec<(Counter, i64)> = Vec::new();
        let leaving = before.into_iter().flat_map(|b| counters(b, -1));
        for (counter, n) in leaving.chain(counters(after, 1)) {
            match net.iter_mut().find(|(c, _)| *c == counter) {
                Some((_, sum)) => *sum += n,
                None => net.push((counter, n)),
            }
        }
        net.retain(|(_, n)| *n != 0);
        for (counter, n) in &net {
            let slot = self.slot(counter.clone());
            *slot = slot.saturating_add_signed(*n);
        }
        net.into_iter().map(|(counter, _)| counter).collect()
    }

    fn add(&mut self, entry: &Entry, sign: i64) {
        for (counter, n) in counters(entry, sign) {
            let slot = self.slot(counter);
            *slot = slot.saturating_add_signed(n);
        }
    }

    /// The value of one counter.
    pub fn get(&self, counter: &Counter) -> u64 {
        match counter {
            Counter::State(kind) => self.state(*kind),
            Counter::Attempts => self.attempts,
            Counter::Outcome(status) => self.outcomes.get(status).copied().unwrap_or(0),
            Counter::CallerCalls(caller) => self.callers.get(caller).map_or(0, |t| t.calls),
            Counter::CallerLocal(caller) => self.callers.get(caller).map_or(0, |t| t.local),
            Counter::Match(level) => self.matches.get(level).copied().unwrap_or(0),
        }
    }

    /// Sets one counter (a tally read back from the journal).
    pub fn set(&mut self, counter: Counter, value: u64) {
        *self.slot(counter) = value;
    }

    fn slot(&mut self, counter: Counter) -> &mut u64 {
        match counter {
            Counter::State(kind) => self.states.entry(kind).or_default(),
            Counter::Attempts => &mut self.attempts,
            Counter::Outcome(status) => self.outcomes.entry(status).or_default(),
            Counter::CallerCalls(caller) => &mut self.callers.entry(caller).or_default().calls,
            Counter::CallerLocal(caller) => &mut self.callers.entry(caller).or_default().local,
            Counter::Match(level) => self.matches.entry(level).or_default(),
        }
    }

    pub fn state(&self, kind: StateKind) -> u64 {
        self.states.get(&kind).copied().unwrap_or(0)
    }

    pub fn contacts(&self) -> u64 {
        self.states.values().sum()
    }

    /// Calls placed (created), whatever their outcome since.
    pub fn placed(&self) -> u64 {
        self.state(StateKind::Placed) + self.state(StateKind::Done)
    }

    /// Contacts that need no more work in this campaign.
    pub fn settled(&self) -> u64 {
        StateKind::ALL
            .into_iter()
            .filter(|kind| kind.is_terminal())
            .map(|kind| self.state(kind))
            .sum()
    }

    /// Share of placed calls that went out from a number with the callee's area code.
    pub fn local_match_rate(&self) -> Option<f64> {
        local_match_rate(&self.matches)
    }
}

/// What `entry` adds to a tally (`sign` 1) or takes from it (-1), counter by counter.
fn counters(entry: &Entry, sign: i64) -> Vec<(Counter, i64)> {
    let mut counted = vec![
        (Counter::State(entry.state.kind()), sign),
        (Counter::Attempts, sign * i64::from(entry.attempts)),
    ];
    if let State::Done { status, .. } = &entry.state {
        counted.push((Counter::Outcome(status.clone()), sign));
    }
    if !matches!(entry.state, State::Placed | State::Done { .. }) {
        return counted;
    }
    if let Some(caller) = &entry.caller_id {
        counted.push((Counter::CallerCalls(caller.to_string()), sign));
        if entry.local_match == Some(Match::AreaCode) {
            counted.push((Counter::CallerLocal(caller.to_string()), sign));
        }
    }
    if let Some(level) = entry.local_match {
        counted.push((Counter::Match(level), sign));
    }
    counted
}

impl Report {
    /// From the journal itself (no run going), as of `now`.
    pub fn of_journal(
        campaign: &str,
        journal: &Journal,
        now: Timestamp,
    ) -> Result<Report, JournalError> {
        let mut uncertain = Vec::new();
        let mut tally = journal.tally();
        for entry in journal.open_entries() {
            let entry = entry?;
            if matches!(entry.state, State::Uncertain { .. } | State::Dialing) {
                uncertain.push(entry.phone().to_string());
                if uncertain.len() == 20 {
                    break;
                }
            }
        }
        tally.skipped_rows = journal.skipped_rows().count() as u64;
        // The file's size as the journal's last survey of it counted, which any host reads (a
        // host that only ever ran a killed run, or none, has no snapshot to tell it), else as
        // the latest run on this host left it in its snapshot; the API requests from there.
        let surveyed = Surveyed::load(journal)?.map(|surveyed| surveyed.rows);
        let last = Report::load_snapshot(journal.dir());
        let mut report = Report::new(campaign, Phase::Stopped, tally, now);
        report.rows_in_file = surveyed.or(last.as_ref().and_then(|last| last.rows_in_file));
        report.requests = last.and_then(|last| last.requests);
        report.uncertain = uncertain;
        if report.remaining() == Some(0) {
            report.phase = Phase::Complete;
        }
        Ok(report)
    }

    /// A campaign that has no journal yet.
    pub fn not_started(campaign: &str, now: Timestamp) -> Report {
        Report::new(campaign, Phase::NotStarted, Tally::default(), now)
    }

    pub fn new(campaign: &str, phase: Phase, tally: Tally, as_of: Timestamp) -> Report {
        Report {
            campaign: campaign.to_owned(),
            phase,
            as_of: Some(as_of),
            stale: false,
            rows_in_file: None,
            tally,
            uncertain: Vec::new(),
            running: None,
            run: None,
            next: None,
            requests: None,
        }
    }

    /// Contacts (and rows) still to settle, when the file's size is known.
    pub fn remaining(&self) -> Option<u64> {
        let done = self.tally.settled() + self.tally.skipped_rows;
        self.rows_in_file.map(|rows| rows.saturating_sub(done))
    }

    /// Marks a running process's figures as stale when they are older than [`STALE_AFTER`].
    pub fn judge_freshness(&mut self, now: Timestamp) {
        let age = self.as_of.map(|at| now.duration_since(at).as_secs_f64());
        self.stale =
            self.phase == Phase::Running && age.is_none_or(|age| age > STALE_AFTER.as_secs_f64());
    }

    /// Where a running process leaves its latest figures, for `status` to read meanwhile.
    pub fn snapshot_path(journal_dir: &Path) -> std::path::PathBuf {
        journal_dir.join("status.json")
    }

    /// Writes the snapshot atomically (write aside, rename), so a reader never sees half of it.
    pub fn save_snapshot(&self, journal_dir: &Path) -> std::io::Result<()> {
        let path = Report::snapshot_path(journal_dir);
        let aside = path.with_extension("json.tmp");
        let mut file = crate::export::create_private(&aside)?;
        std::io::Write::write_all(
            &mut file,
            &serde_json::to_vec_pretty(self).expect("reports serialise"),
        )?;
        std::fs::rename(aside, path)
    }

    pub fn load_snapshot(journal_dir: &Path) -> Option<Report> {
        let bytes = std::fs::read(Report::snapshot_path(journal_dir)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.tally;
        if self.phase == Phase::NotStarted {
            return writeln!(f, "campaign {}: not started yet", self.campaign);
        }
        self.fmt_headline(f)?;
        if let Some(running) = &self.running {
            writeln!(f, "  running: {running}{}", self.freshness())?;
        }
        let states: Vec<String> = StateKind::ALL
            .into_iter()
            .filter(|kind| t.state(*kind) > 0)
            .map(|kind| format!("{} {}", kind.name(), t.state(kind)))
            .collect();
        if !states.is_empty() {
            writeln!(f, "  contacts: {}", states.join(" · "))?;
        }
        if !t.outcomes.is_empty() {
            let outcomes: Vec<String> =
                t.outcomes.iter().map(|(s, n)| format!("{s} {n}")).collect();
            writeln!(
                f,
                "  outcomes: {} ({} calls in all)",
                outcomes.join(" · "),
                t.attempts
            )?;
        }
        if t.skipped_rows > 0 {
            writeln!(
                f,
                "  CSV rows not dialled (bad or duplicate phone): {}",
                t.skipped_rows
            )?;
        }
        self.fmt_run(f)?;
        if let Some(next) = &self.next {
            writeln!(f, "  {next}")?;
        }
        if !self.uncertain.is_empty() {
            writeln!(
                f,
                "  uncertain (a run will look these up before dialling again): {}",
                self.uncertain.join(", ")
            )?;
        }
        self.fmt_local_presence(f)?;
        self.fmt_callers(f)?;
        if let Some(requests) = &self.requests {
            writeln!(f, "  requests to the call API: {requests}")?;
        }
        Ok(())
    }
}

impl Report {
    /// `campaign x: 130 rows in the file · 120 settled · 10 to go`.
    fn fmt_headline(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.tally;
        let settled = t.settled() + t.skipped_rows;
        match (self.rows_in_file, self.remaining()) {
            (Some(rows), Some(left)) => writeln!(
                f,
                "campaign {}: {rows} rows in the file · {settled} settled · {left} to go",
                self.campaign
            ),
            _ => writeln!(
                f,
                "campaign {}: {} contacts in the journal · {settled} settled",
                self.campaign,
                t.contacts()
            ),
        }
    }

    /// ` (stale: figures of 12:00:01 UTC, 42 s old …)` or ` (figures of 12:00:01 UTC)`.
    fn freshness(&self) -> String {
        let Some(at) = self.as_of else {
            return String::new();
        };
        let when = at.strftime("%H:%M:%S UTC");
        if self.stale {
            format!(
                " (STALE: figures of {when}, not refreshed since; the run may be stuck or stopped \
                 without saying so)"
            )
        } else {
            format!(" (figures of {when})")
        }
    }

    /// `this run: 3 calls live · 115 calls in 12.3 s (9.3 calls/s) · ETA 1m 05s`.
    fn fmt_run(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(run) = &self.run else {
            return Ok(());
        };
        let eta = match (self.phase, self.remaining().and_then(|left| run.eta(left))) {
            (Phase::Running, Some(eta)) => format!(" · ETA {}", short_duration(eta)),
            _ => String::new(),
        };
        writeln!(
            f,
            "  this run: {} calls live · {} calls in {} ({}){eta}",
            run.live_calls,
            run.calls,
            short_duration(run.elapsed),
            run.pace(),
        )
    }
}

/// `1h 2m`, `3m 5s`, `12.3s` (jiff's friendly format): as precise as a person needs, to the
/// tenth of a second under a minute, the second under an hour, the minute beyond.
pub fn short_duration(d: Duration) -> String {
    use jiff::fmt::friendly::{FractionalUnit, SpanPrinter};
    let (unit, increment, printer) = match d.as_secs() {
        0..60 => (
            jiff::Unit::Millisecond,
            100,
            SpanPrinter::new()
                .fractional(Some(FractionalUnit::Second))
                .precision(Some(1)),
        ),
        60..3600 => (jiff::Unit::Second, 1, SpanPrinter::new()),
        _ => (jiff::Unit::Minute, 1, SpanPrinter::new()),
    };
    let rounded = jiff::SignedDuration::try_from(d)
        .unwrap_or(jiff::SignedDuration::MAX)
        .round(
            jiff::SignedDurationRound::new()
                .smallest(unit)
                .increment(increment),
        )
        .unwrap_or(jiff::SignedDuration::MAX);
    printer.duration_to_string(&rounded)
}

impl Report {
    fn fmt_local_presence(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match local_presence(&self.tally.matches) {
            Some(shares) => writeln!(
                f,
                "  local presence (caller ID shares the callee's …): {shares}"
            ),
            None => Ok(()),
        }
    }

    fn fmt_callers(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tally.callers.is_empty() {
            return Ok(());
        }
        let mut table = Table::new(&["CALLER ID", "CALLS", "SAME AREA CODE"]);
        table.align_right(1);
        table.align_right(2);
        for (number, caller) in &self.tally.callers {
            table.push(vec![
                number.clone(),
                caller.calls.to_string(),
                caller.local.to_string(),
            ]);
        }
        writeln!(f, "  calls per caller ID:")?;
        for line in table.to_string().lines() {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

/// "35.9% area code, 40.8% state/province, …" for calls per match, or `None` for no calls.
pub fn local_presence(matches: &BTreeMap<Match, u64>) -> Option<String> {
    let calls: u64 = matches.values().sum();
    let share = |m: &Match| 100.0 * matches.get(m).copied().unwrap_or(0) as f64 / calls as f64;
    let levels = [
        Match::AreaCode,
        Match::Region,
        Match::TimeZone,
        Match::Other,
    ];
    (calls > 0).then(|| {
        levels
            .iter()
            .map(|m| format!("{:.1}% {}", share(m), m.name()))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// Share of calls from a number with the callee's area code, or `None` for no calls.
pub fn local_match_rate(matches: &BTreeMap<Match, u64>) -> Option<f64> {
    let calls: u64 = matches.values().sum();
    (calls > 0).then(|| matches.get(&Match::AreaCode).copied().unwrap_or(0) as f64 / calls as f64)
}

/// A `Duration` as fractional seconds in JSON.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(value.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Ok(Duration::try_from_secs_f64(secs).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durations read like a person would write them, as precise as each size needs.
    #[test]
    fn durations_are_short_and_friendly() {
        assert_eq!(short_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(short_duration(Duration::from_millis(200)), "0.2s");
        assert_eq!(short_duration(Duration::from_secs(185)), "3m 5s");
        assert_eq!(short_duration(Duration::from_secs(3_725)), "1h 2m");
        assert_eq!(short_duration(Duration::from_secs(90_000)), "25h");
    }

    /// A run's first call, 100 ms in, is no rate of 10 calls/s: pace and ETA wait for a second
    /// of figures, then say what they measure.
    #[test]
    fn pace_and_eta_wait_for_a_second_of_figures() {
        let mut run = RunFigures {
            elapsed: Duration::from_millis(100),
            live_calls: 1,
            calls: 1,
            settled: 1,
        };
        assert_eq!(run.calls_per_second(), None);
        assert_eq!(run.pace(), "… calls/s");
        assert_eq!(run.eta(10), None);
        run.elapsed = Duration::from_secs(4);
        run.calls = 10;
        assert_eq!(run.pace(), "2.5 calls/s");
        assert_eq!(run.eta(10), Some(Duration::from_secs(40)));
    }
}
