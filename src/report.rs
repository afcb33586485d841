//! What outdial tells people about a campaign: counts per state, calls per caller ID, local-match
//! rate. One [`Tally`] serves the live progress, the end-of-run summary and `outdial status`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::Requests;
use crate::journal::{Entry, Journal, JournalError, State, StateKind};
use crate::rotation::Match;

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

/// A campaign's state for people: `outdial status`, the live snapshot, the end of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub campaign: String,
    pub tally: Tally,
    /// Contacts whose create request may or may not have made a call (first few).
    pub uncertain: Vec<String>,
    /// Set while a run is going: who runs it and how fresh these figures are.
    pub live: Option<String>,
    /// When the next waiting contact is due, and why ("next window opens 09:00 America/Chicago…").
    #[serde(default)]
    pub next: Option<String>,
    #[serde(with = "seconds", default)]
    pub elapsed: Option<Duration>,
    /// What the latest run asked of the call API (creates, list pages, single gets), kept in
    /// the snapshot so that `status` shows it after the run.
    #[serde(default)]
    pub requests: Option<Requests>,
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

    fn add(&mut self, entry: &Entry, sign: i64) {
        let apply = |n: &mut u64| *n = n.saturating_add_signed(sign);
        apply(self.states.entry(entry.state.kind()).or_default());
        self.attempts = self
            .attempts
            .saturating_add_signed(sign * i64::from(entry.attempts));
        if let State::Done { status, .. } = &entry.state {
            apply(self.outcomes.entry(status.clone()).or_default());
        }
        if !matches!(entry.state, State::Placed | State::Done { .. }) {
            return;
        }
        if let Some(caller) = &entry.caller_id {
            let tally = self.callers.entry(caller.to_string()).or_default();
            apply(&mut tally.calls);
            if entry.local_match == Some(Match::AreaCode) {
                apply(&mut tally.local);
            }
        }
        if let Some(level) = entry.local_match {
            apply(self.matches.entry(level).or_default());
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

impl Report {
    /// From the journal itself (no run going).
    pub fn of_journal(campaign: &str, journal: &Journal) -> Result<Report, JournalError> {
        let mut uncertain = Vec::new();
        let mut tally = Tally::default();
        for entry in journal.entries() {
            let entry = entry?;
            if matches!(entry.state, State::Uncertain { .. } | State::Dialing)
                && uncertain.len() < 20
            {
                uncertain.push(entry.phone().to_string());
            }
            tally.count(&entry);
        }
        tally.skipped_rows = journal.skipped_rows().count() as u64;
        Ok(Report {
            campaign: campaign.to_owned(),
            tally,
            uncertain,
            live: None,
            next: None,
            elapsed: None,
            requests: None,
        })
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
        writeln!(f, "campaign {}: {} contacts", self.campaign, t.contacts())?;
        if let Some(live) = &self.live {
            writeln!(f, "  running: {live}")?;
        }
        let states: Vec<String> = StateKind::ALL
            .into_iter()
            .filter(|kind| t.state(*kind) > 0)
            .map(|kind| format!("{} {}", kind.name(), t.state(kind)))
            .collect();
        writeln!(
            f,
            "  {}",
            if states.is_empty() {
                "nothing yet".to_owned()
            } else {
                states.join(" · ")
            }
        )?;
        if !t.outcomes.is_empty() {
            let outcomes: Vec<String> =
                t.outcomes.iter().map(|(s, n)| format!("{s} {n}")).collect();
            writeln!(
                f,
                "  outcomes: {} ({} attempts in all)",
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
        if let Some(elapsed) = self.elapsed {
            let rate = t.placed() as f64 / elapsed.as_secs_f64().max(1e-3);
            writeln!(
                f,
                "  time taken: {:.1}s ({rate:.1} calls/s)",
                elapsed.as_secs_f64()
            )?;
        }
        Ok(())
    }
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
        writeln!(f, "  calls per caller ID (of which same area code):")?;
        for (number, caller) in &self.tally.callers {
            writeln!(
                f,
                "    {number:<16} {:>6}  ({})",
                caller.calls, caller.local
            )?;
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

/// `Option<Duration>` as fractional seconds in JSON.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let secs = Option::<f64>::deserialize(d)?;
        Ok(secs
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64))
    }
}
