//! What several outdial processes must share to run one account together (issue 13).
//!
//! On one machine without a shared store, [`account`] keeps a second run on the same account
//! out (a per-account OS file lock). With a shared store (`[store] url`, or `OUTDIAL_STORE_URL`),
//! PostgreSQL holds the account's ledger for processes on several hosts, and each campaign's
//! journal (see `journal::tree`), so that any host can resume it. The ledger's primitives:
//!
//! - a **campaign lock** ([`Store::lock_campaign`]): one process runs a campaign, whichever host;
//! - the account's **start-rate schedule** ([`Store::next_start`]): one GCRA row;
//! - **live-call leases** ([`Store::lease`]): at most `max_live` calls at once, expiring unrenewed;
//! - **per-number starts** ([`Store::record_start`]): daily caps and cooldowns, checked and
//!   recorded in one transaction.
//!
//! Each primitive is one atomic statement or one short transaction on the server, and reads the
//! server's clock where hosts must agree on time, so hosts' clock skew does not matter. The schema
//! is in `migrations/`, embedded in the binary and applied on connect.

pub mod account;
pub mod ledger;
mod postgres;

use std::time::Instant;

use jiff::{Timestamp, ToSpan};

pub use postgres::{CampaignLock, JournalPage, JournalTree, Store, StoreUrl};

/// Where a store URL was written: a campaign file may not hold a password, the environment may.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// `[store] url` in this campaign file.
    CampaignFile(&'a std::path::Path),
    /// `OUTDIAL_STORE_URL`.
    Environment,
}

/// The variable that names the store, and wins over the campaign file's `[store] url`.
pub const STORE_URL_ENV: &str = "OUTDIAL_STORE_URL";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "{file}: [store] url holds a password; passwords come only from the environment: remove it from the file and set PGPASSWORD, or put the whole URL in {STORE_URL_ENV}"
    )]
    PasswordInFile { file: std::path::PathBuf },
    #[error(
        "{origin}: the store URL is not a PostgreSQL connection string ({why}); write it as postgres://USER@HOST:5432/DATABASE"
    )]
    BadUrl { origin: String, why: String },
    #[error(
        "{origin}: {why}; sslrootcert (or PGSSLROOTCERT) names a PEM file of the certificates that may sign the server's, such as the CA bundle your PostgreSQL provider publishes"
    )]
    RootCert { origin: String, why: String },
    #[error(
        "{origin}: {why}; sslcert and sslkey (or PGSSLCERT and PGSSLKEY) name the PEM files of the client certificate and of its private key, given together"
    )]
    ClientCert { origin: String, why: String },
    #[error(
        "cannot connect to the store at {at}: {why}; check that PostgreSQL runs there and accepts this user (its password comes from PGPASSWORD or {STORE_URL_ENV})"
    )]
    Connect { at: String, why: String },
    #[error(
        "the store at {at} could not be brought to outdial's schema: {why}; check that the user may create tables in that database, and that no newer outdial has migrated it"
    )]
    Migrate { at: String, why: String },
    #[error(
        "{what} failed on the store at {at}: {why}{}",
        if *.transient { "; the store is unreachable or restarting: try again once it is back" } else { "" }
    )]
    Query {
        at: String,
        what: &'static str,
        why: String,
        /// The connection was lost or the server is restarting: the same request may succeed
        /// later, so a run pauses rather than stops.
        transient: bool,
    },
    #[error(
        "campaign `{campaign}` is already running through the shared store at {at} ({holder}); wait for it to finish or stop it, then run again"
    )]
    CampaignLocked {
        campaign: String,
        at: String,
        holder: CampaignHolder,
    },
    #[error(
        "the lock of campaign `{campaign}` on the store at {at} was lost (its connection closed): another process may take the campaign; stop dispatching and take the lock again before going on"
    )]
    LockLost { campaign: String, at: String },
}

impl StoreError {
    /// Whether the same request may succeed once the server is back (a lost connection, a
    /// restart): the caller pauses and retries rather than ending the run.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Query { transient, .. } => *transient,
            StoreError::Connect { .. } | StoreError::LockLost { .. } => true,
            _ => false,
        }
    }
}

/// The store `campaign` runs through, if any: `OUTDIAL_STORE_URL`, else its file's `[store] url`.
pub fn url_for(campaign: &crate::campaign::Campaign) -> Result<Option<StoreUrl>, StoreError> {
    if let Some(url) = StoreUrl::from_environment()? {
        return Ok(Some(url));
    }
    let origin = Origin::CampaignFile(&campaign.file);
    let url = campaign.store_url.as_deref();
    url.map(|url| StoreUrl::parse(url, origin)).transpose()
}

/// Who holds a campaign's lock, as its row in the store says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CampaignHolder {
    /// A process named by its row while its session holds the lock.
    Process {
        host: String,
        pid: i64,
        since: Timestamp,
    },
    /// A session that has taken the lock and not yet written its row.
    Starting,
}

impl std::fmt::Display for CampaignHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CampaignHolder::Process { host, pid, since } => write!(
                f,
                "pid {pid} on host {host}, since {}",
                since.strftime("%Y-%m-%d %H:%M:%S UTC")
            ),
            CampaignHolder::Starting => f.write_str("a process that is just starting"),
        }
    }
}

/// The answer of the account's start-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTurn {
    /// Start the call now.
    Now,
    /// A start is booked for this caller at this moment (on this host's monotonic clock): wait
    /// until then and start; no second request is needed.
    WaitUntil(Instant),
}

/// A live-call slot held in the store until released, or until it expires unrenewed. Not
/// `Clone`: one lease is released once.
#[derive(Debug, PartialEq, Eq)]
pub struct Lease {
    pub id: i64,
    pub account: String,
}

/// How a live-call lease was renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Before it expired.
    InTime,
    /// After it had expired (the store was out of reach too long): taken back, even past
    /// `max_live`, so that no new lease is given until enough calls end.
    TakenBack,
}

/// Whether a caller ID may start a call, checked against every process's starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// The start is recorded: go ahead.
    Admitted,
    /// The number already started `calls` calls on this day, its cap.
    CapReached { calls: u32, cap: u32 },
    /// Another start from the number is within the cooldown; it may start again at `until`.
    CoolingDown { until: Timestamp },
}

/// The day a daily cap counts over, as an instant range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Day {
    /// The UTC day of `at`, as [`crate::caps::Caps`] counts a cap's day.
    pub fn utc_of(at: Timestamp) -> Day {
        let date = at.to_zoned(jiff::tz::TimeZone::UTC).date();
        let start = date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .expect("midnight UTC exists")
            .timestamp();
        let end = start
            .checked_add(24.hours())
            .expect("a day after a valid instant is valid");
        Day { start, end }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UTC day runs from midnight to midnight and holds the instant it was made from.
    #[test]
    fn a_utc_day_holds_its_instant() {
        let at: Timestamp = "2026-12-01T23:59:59Z".parse().unwrap();
        let day = Day::utc_of(at);
        assert_eq!(day.start, "2026-12-01T00:00:00Z".parse().unwrap());
        assert_eq!(day.end, "2026-12-02T00:00:00Z".parse().unwrap());
        assert!(day.start <= at && at < day.end);
    }
}
