//! The campaign file (SPEC §2): TOML read into raw serde types, then checked into a [`Campaign`]
//! that cannot be wrong. Every error names the file, the key and, where it can, the line.

use std::collections::BTreeSet;
use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use reqwest::Url;
use serde::Deserialize;
use toml::Spanned;

use crate::contacts::{ContactsFile, ContactsFormat, Delimiter, Encoding};
use crate::journal::Compression;
use crate::phone::{Country, Phone};
use crate::rotation::Match;

/// A checked campaign: everything `run`, `plan` and `status` need, resolved and validated.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub name: String,
    pub file: PathBuf,
    /// Synthflow `model_id` of the outbound agent.
    pub agent: String,
    /// The `contacts` path with its `contacts_delimiter` and `contacts_encoding`.
    pub contacts: ContactsFile,
    pub default_country: Country,
    pub api: Api,
    pub pacing: Pacing,
    pub rotation: RotationPolicy,
    pub window: Window,
    pub retry: RetryPolicy,
    pub suppress: Suppress,
    /// Number health: when a caller ID is rested (`[health]`, see [`crate::health`]).
    pub health: Health,
    /// `.outdial/<name>/` beside the campaign file, wherever the path it was given by leads.
    pub journal_dir: PathBuf,
    /// `[store] url`: the PostgreSQL store that shares the account's limits and the numbers'
    /// caps with other processes (`OUTDIAL_STORE_URL` wins over it; see [`crate::store`]).
    /// Checked at load: a connection string without a password.
    pub store_url: Option<String>,
    /// `[journal] compress`: how a new sled journal is made (one already made keeps its own).
    pub journal_compression: Compression,
}

#[derive(Debug, Clone)]
pub struct Api {
    pub base_url: Url,
    /// Name of the environment variable holding the key; the key itself is read only when needed.
    pub key_env: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub calls_per_second: CallRate,
    pub max_live_calls: NonZeroU32,
    /// The budget of status reads (list pages and single gets), kept apart from the create
    /// schedule so that following calls never delays a create (`pacing.reads_per_second`).
    pub reads_per_second: ReadRate,
    /// The campaign's share of its account's turns when one process runs several campaigns on
    /// the account (`pacing.weight`, 1 by default): a campaign of weight 3 starts three calls
    /// for each one of a campaign of weight 1 while both have calls to start.
    pub weight: f64,
}

impl Pacing {
    /// The heaviest weight `pacing.weight` takes.
    pub const MAX_WEIGHT: f64 = 1000.0;

    /// The limits of an account that several campaign files describe, each maybe differently:
    /// the strictest of each, as the account's real limit is surely no looser than the
    /// strictest file says. The weight is the campaign's own and stays `self`'s.
    pub fn strictest(self, other: &Pacing) -> Pacing {
        Pacing {
            calls_per_second: if other.calls_per_second.per_second()
                < self.calls_per_second.per_second()
            {
                other.calls_per_second
            } else {
                self.calls_per_second
            },
            max_live_calls: self.max_live_calls.min(other.max_live_calls),
            reads_per_second: if other.reads_per_second.per_second()
                < self.reads_per_second.per_second()
            {
                other.reads_per_second
            } else {
                self.reads_per_second
            },
            weight: self.weight,
        }
    }
}

/// A number of call creations per second within [`CallRate::SLOWEST`, `CallRate::FASTEST`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallRate(f64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    Region,
    RoundRobin,
    Weighted,
}

/// Among numbers of one tier, which `region` calls first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TieBreak {
    /// The least recently used.
    Lru,
    /// The one with the fewest calls today (then the least recently used).
    LeastUsedToday,
}

#[derive(Debug, Clone)]
pub struct RotationPolicy {
    pub strategy: Strategy,
    /// The tiers of local presence in the order `region` and `weighted` try them; always ends
    /// with [`Match::Other`] (any number).
    pub tiers: Vec<Match>,
    pub tie_break: TieBreak,
    /// A/B arms: contacts split between these strategies by a hash of their phone; empty for
    /// one strategy.
    pub arms: Vec<Strategy>,
    /// Explicit pool; empty means the agent's `attached_phone_numbers`.
    pub numbers: Vec<Phone>,
    pub max_calls_per_number_per_day: Option<NonZeroU32>,
    pub min_gap_per_number: Duration,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        RotationPolicy {
            strategy: Strategy::Region,
            tiers: Match::TIERS.to_vec(),
            tie_break: TieBreak::Lru,
            arms: Vec::new(),
            numbers: Vec::new(),
            max_calls_per_number_per_day: None,
            min_gap_per_number: Duration::ZERO,
        }
    }
}

impl RotationPolicy {
    /// Whether a strategy in use learns from outcomes (and so must hear earlier runs' too).
    pub fn learns(&self) -> bool {
        self.strategy == Strategy::Weighted || self.arms.contains(&Strategy::Weighted)
    }
}

impl Strategy {
    /// Every strategy, in the order `simulate` plays them by default.
    pub const ALL: [Strategy; 3] = [Strategy::Region, Strategy::RoundRobin, Strategy::Weighted];

    /// The name the campaign file uses.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Region => "region",
            Strategy::RoundRobin => "round-robin",
            Strategy::Weighted => "weighted",
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;

    /// A strategy by the name the campaign file uses (`outdial simulate --strategy`).
    fn from_str(written: &str) -> Result<Strategy, String> {
        Strategy::ALL
            .into_iter()
            .find(|strategy| strategy.name() == written.trim())
            .ok_or_else(|| {
                format!("`{written}` is not a strategy: write region, round-robin or weighted")
            })
    }
}

/// Calling hours in the callee's local time.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub start: Time,
    pub end: Time,
    pub days: BTreeSet<WeekdayKey>,
    pub holidays: BTreeSet<Date>,
    /// For callees whose zone neither the CSV nor the phone tells (a validated IANA name), when
    /// `unknown_zone` opts into it.
    pub fallback_time_zone: String,
    /// What to do with a callee whose zone cannot be placed (`window.unknown_zone`).
    pub unknown_zone: UnknownZone,
}

/// `window.unknown_zone`: whether a callee outdial cannot place in one zone set is held or
/// called in `window.timezone`'s hours. Holding is the default, since a guess may wake someone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownZone {
    /// Skipped with the reason "time zone unknown", never called on a guess.
    #[default]
    Hold,
    /// Called within the window as read in `window.timezone`.
    Fallback,
}

/// A weekday that can live in a set (jiff's `Weekday` is not `Ord`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WeekdayKey(pub i8);

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: NonZeroU32,
    pub redial_after: Duration,
    /// How long a call whose creation is uncertain may take to show up in `GET /v2/calls`
    /// before we conclude it was never created and dial again.
    pub reconcile_grace: Duration,
    /// The longest a call may go without a terminal status before it is looked up once more and
    /// settled `done` with status `unknown`, freeing its live slot (`retry.max_call_minutes`).
    pub max_call: Duration,
}

/// `retry.max_call_minutes` by default: longer than nearly any AI-agent call, short enough that
/// a call the vendor never finishes frees its slot the same half hour.
pub const DEFAULT_MAX_CALL: Duration = Duration::from_secs(30 * 60);
/// What `retry.max_call_minutes` may be: from 3 seconds (tests, demos) to a day.
const MAX_CALL_MINUTES: std::ops::RangeInclusive<f64> = 0.05..=1440.0;
/// The do-not-call lists and how long a run may wait for one that cannot be read.
#[derive(Debug, Clone, Default)]
pub struct Suppress {
    pub files: Vec<PathBuf>,
    /// How long a list may stay unreadable while the run holds everyone before the run stops,
    /// contacts pending (`suppress.unreadable_limit_seconds`).
    pub unreadable_limit: Duration,
}

/// `suppress.unreadable_limit_seconds` when the file does not say: five minutes ride out a list
/// being replaced by hand or by a slow sync, and stop a run whose list is really gone.
const UNREADABLE_LIMIT_SECONDS: u32 = 300;
/// Longest `suppress.unreadable_limit_seconds`: a run that holds everyone for more than a day
/// is stuck, not waiting.
const MAX_UNREADABLE_LIMIT_SECONDS: u32 = 86_400;

/// `[health]`: how each caller ID's recent calls are judged against the rest of the pool, and
/// how long a number found significantly worse rests (see [`crate::health`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Health {
    /// `false` turns number health off: nobody is judged, nobody rests.
    pub enabled: bool,
    /// At most this many of a number's latest ended calls are judged.
    pub window_calls: NonZeroU32,
    /// Only calls sent within this many days are judged.
    pub window_days: NonZeroU32,
    /// A number is not judged before this many ended calls in its window.
    pub min_calls: NonZeroU32,
    /// How long a rested number stays out of rotation.
    pub rest_days: NonZeroU32,
    /// The share of the pool that may rest at once, from 0 to 1 (rounded down to whole numbers).
    pub max_resting_share: f64,
    /// A connected call the callee ended within this many seconds is a short call.
    pub short_call_seconds: u64,
}

impl Default for Health {
    /// The defaults: the latest 150 calls within 21 days, judged from 50, rested 14 days,
    /// never more than a quarter of the pool at once.
    fn default() -> Self {
        Health {
            enabled: true,
            window_calls: NonZeroU32::new(150).expect("positive"),
            window_days: NonZeroU32::new(21).expect("positive"),
            min_calls: NonZeroU32::new(50).expect("positive"),
            rest_days: NonZeroU32::new(14).expect("positive"),
            max_resting_share: 0.25,
            short_call_seconds: crate::history::SHORT_CALL_SECONDS,
        }
    }
}

/// Longest `health.window_calls`: the window is read again after every call of its number.
const MAX_WINDOW_CALLS: u32 = 10_000;
/// Longest `health.window_days` and `health.rest_days`: a year.
const MAX_HEALTH_DAYS: u32 = 365;
/// Longest `health.short_call_seconds`: ten minutes is a conversation, not a hang-up.
const MAX_SHORT_CALL_SECONDS: u64 = 600;

/// What the command line and environment override (`--api-base`, `OUTDIAL_API_BASE`).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub api_base: Option<String>,
}

/// A campaign file that cannot be used, and where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("campaign file {file} is not UTF-8 text: save it as UTF-8 and run again")]
    NotUtf8 { file: PathBuf },
    #[error("cannot read campaign file {file}: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("campaign file {file}: {detail}")]
    Syntax { file: PathBuf, detail: String },
    #[error("campaign file {file}, line {line}: `{key}` {problem}")]
    Value {
        file: PathBuf,
        line: usize,
        key: &'static str,
        problem: String,
    },
    #[error("campaign file {file}: `{key}` {problem}")]
    Setting {
        file: PathBuf,
        key: &'static str,
        problem: String,
    },
    #[error(
        "the API key variable `{var}` named by `api.key_env` in {file} is not set: export {var}=<your key> and run again"
    )]
    MissingKey { file: PathBuf, var: String },
    #[error(
        "the API key variable `{var}` named by `api.key_env` in {file} holds a control character, a space or a non-ASCII character (a pasted newline?): set it to the key alone and run again"
    )]
    MalformedKey { file: PathBuf, var: String },
}

impl Campaign {
    /// Reads and checks a campaign file; nothing outside the file is touched except that the
    /// contacts and suppression paths are resolved relative to it.
    pub fn load(file: &Path, overrides: &Overrides) -> Result<Campaign, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| match source.kind() {
            std::io::ErrorKind::InvalidData => ConfigError::NotUtf8 {
                file: file.to_owned(),
            },
            _ => ConfigError::Read {
                file: file.to_owned(),
                source,
            },
        })?;
        Campaign::from_text(file, &text, overrides)
    }

    /// Checks a campaign file's text; `file` names it in errors and anchors its relative paths.
    pub fn from_text(
        file: &Path,
        text: &str,
        overrides: &Overrides,
    ) -> Result<Campaign, ConfigError> {
        let raw: RawCampaign = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: file.to_owned(),
            detail: e.to_string(),
        })?;
        Checker { file, text }.campaign(raw, overrides)
    }

    /// The command that resumes this campaign, for messages.
    pub fn resume_command(&self) -> String {
        format!("outdial resume {}", self.file.display())
    }
}

impl Api {
    /// Reads the key from the environment; it never comes from a flag or a file.
    pub fn key(&self, campaign_file: &Path) -> Result<ApiKey, ConfigError> {
        let var = self.key_env.clone();
        let file = campaign_file.to_owned();
        // A non-Unicode value cannot be a key either: it is malformed, not missing.
        let key = match std::env::var(&self.key_env) {
            Ok(key) => key,
            Err(std::env::VarError::NotPresent) => {
                return Err(ConfigError::MissingKey { file, var });
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(ConfigError::MalformedKey { file, var });
            }
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(ConfigError::MissingKey { file, var });
        }
        // Only visible ASCII can travel in an `Authorization` header as sent; anything else
        // would make every request fail in a way that looks like a network fault.
        if !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ConfigError::MalformedKey { file, var });
        }
        Ok(ApiKey(key.to_owned()))
    }
}

/// A secret API key. It has no `Display`, and `Debug` shows nothing of it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    /// The only way to the secret: for the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Status reads per second, within [`ReadRate::SLOWEST`, `ReadRate::FASTEST`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadRate(f64);

impl ReadRate {
    /// `pacing.reads_per_second` when the file does not say: one list page every half second
    /// notices an ended call within about a second, and is a light client for any API.
    pub const DEFAULT: ReadRate = ReadRate(2.0);
    /// A read every ten seconds: slower would leave ended calls holding their slots too long.
    pub const SLOWEST: f64 = 0.1;
    /// As fast as [`CallRate::FASTEST`] (the throughput bench reads "unpaced").
    pub const FASTEST: f64 = 1_000_000.0;

    pub fn new(per_second: f64) -> Option<ReadRate> {
        (ReadRate::SLOWEST..=ReadRate::FASTEST)
            .contains(&per_second)
            .then_some(ReadRate(per_second))
    }

    pub fn per_second(self) -> f64 {
        self.0
    }

    /// Time between two reads.
    pub fn interval(self) -> Duration {
        Duration::from_secs_f64(1.0 / self.0).max(Duration::from_nanos(1))
    }
}

impl CallRate {
    /// One call a day: slower is not a campaign, and a longer interval than a day gains nothing.
    pub const SLOWEST: f64 = 1.0 / 86_400.0;
    /// Far above any account's limit (the bench uses it as "unpaced"), and an interval of 1 µs.
    pub const FASTEST: f64 = 1_000_000.0;

    pub fn new(per_second: f64) -> Option<CallRate> {
        (CallRate::SLOWEST..=CallRate::FASTEST)
            .contains(&per_second)
            .then_some(CallRate(per_second))
    }

    pub fn per_second(self) -> f64 {
        self.0
    }

    /// Time between two call starts on the absolute schedule.
    pub fn interval(self) -> Duration {
        Duration::from_secs_f64(1.0 / self.0).max(Duration::from_nanos(1))
    }
}

impl Default for Window {
    /// SPEC §2: 09:00–20:00, Monday to Saturday, no holidays.
    fn default() -> Self {
        Window {
            start: Time::constant(9, 0, 0, 0),
            end: Time::constant(20, 0, 0, 0),
            days: (1..=6).map(WeekdayKey).collect(),
            holidays: BTreeSet::new(),
            fallback_time_zone: "America/New_York".to_owned(),
            unknown_zone: UnknownZone::Hold,
        }
    }
}

/// How far ahead [`Window::first_calling_day`] looks: the calling-hours search's own horizon.
const CALLING_DAY_HORIZON: i32 = 400;

impl Window {
    /// The first date from `from` (one day earlier, for zones behind UTC) within the horizon that
    /// is a calling day and no holiday; `None` means the window can never open.
    pub fn first_calling_day(&self, from: Date) -> Option<Date> {
        let start = from.yesterday().unwrap_or(from);
        start
            .series(jiff::Span::new().days(1))
            .take(usize::try_from(CALLING_DAY_HORIZON).unwrap_or(0) + 2)
            .find(|day| {
                self.days.contains(&WeekdayKey::of(day.weekday())) && !self.holidays.contains(day)
            })
    }
}

impl WeekdayKey {
    pub fn of(day: Weekday) -> WeekdayKey {
        WeekdayKey(day.to_monday_one_offset())
    }
}

// ---- bounds ----------------------------------------------------------------------------------
// Each is far beyond any sensible campaign, and keeps the arithmetic made with it exact.

/// Calls live at once: no account allows more, and each holds a slot and a poll budget.
const MAX_LIVE_CALLS: u32 = 1_000;
/// Attempts per contact: more is harassment, not persistence.
const MAX_ATTEMPTS: u32 = 100;
const MAX_CALLS_PER_NUMBER_PER_DAY: u32 = 100_000;
const SECONDS_PER_DAY: u64 = 86_400;
/// 30 days: a redial later than that belongs to another campaign.
const MAX_REDIAL_AFTER_MINUTES: u64 = 30 * 24 * 60;
/// An hour: a call that has not shown up in the vendor's list by then was not created.
const MAX_RECONCILE_GRACE_SECONDS: u64 = 3_600;

// ---- raw file shape -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCampaign {
    name: Option<Spanned<String>>,
    agent: Spanned<String>,
    contacts: Spanned<String>,
    contacts_delimiter: Option<Spanned<String>>,
    contacts_encoding: Option<Spanned<String>>,
    default_country: Option<Spanned<String>>,
    #[serde(default)]
    api: RawApi,
    #[serde(default)]
    pacing: RawPacing,
    #[serde(default)]
    rotation: RawRotation,
    window: Option<RawWindow>,
    #[serde(default)]
    retry: RawRetry,
    #[serde(default)]
    suppress: RawSuppress,
    #[serde(default)]
    health: RawHealth,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    journal: RawJournal,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawJournal {
    compress: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStore {
    url: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApi {
    region: Option<Spanned<String>>,
    base_url: Option<Spanned<String>>,
    key_env: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPacing {
    calls_per_second: Option<Spanned<f64>>,
    max_live_calls: Option<Spanned<i64>>,
    reads_per_second: Option<Spanned<f64>>,
    weight: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRotation {
    strategy: Option<Strategy>,
    tiers: Option<Spanned<Vec<String>>>,
    tie_break: Option<TieBreak>,
    arms: Option<Spanned<Vec<Strategy>>>,
    #[serde(default)]
    numbers: Vec<Spanned<String>>,
    max_calls_per_number_per_day: Option<Spanned<i64>>,
    min_seconds_between_calls_per_number: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    start: Option<Spanned<String>>,
    end: Option<Spanned<String>>,
    days: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    holidays: Vec<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    unknown_zone: Option<UnknownZone>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: Option<Spanned<i64>>,
    redial_after_minutes: Option<Spanned<i64>>,
    reconcile_grace_seconds: Option<Spanned<i64>>,
    max_call_minutes: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSuppress {
    #[serde(default)]
    files: Vec<Spanned<String>>,
    unreadable_limit_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    enabled: Option<bool>,
    window_calls: Option<Spanned<i64>>,
    window_days: Option<Spanned<i64>>,
    min_calls: Option<Spanned<i64>>,
    rest_days: Option<Spanned<i64>>,
    max_resting_share: Option<Spanned<f64>>,
    short_call_seconds: Option<Spanned<i64>>,
}

/// The directory the campaign file really lives in, through symlinks and relative paths: its
/// journal, lock, contacts and lists are found from there, so that every path to the same file
/// is the same campaign. A file that cannot be resolved (text checked without a file) is taken
/// as written.
fn home_of(file: &Path) -> PathBuf {
    let real = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
    real.parent().unwrap_or(Path::new(".")).to_owned()
}

// ---- checking -------------------------------------------------------------------------------

/// Turns raw values into checked ones, locating each error in the file.
struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn campaign(&self, raw: RawCampaign, overrides: &Overrides) -> Result<Campaign, ConfigError> {
        let dir = home_of(self.file);
        let name = match raw.name {
            Some(name) => self.name(name)?,
            None => self.stem()?,
        };
        let agent = self.non_empty(raw.agent, "agent")?;
        let contacts = ContactsFile {
            path: dir.join(self.non_empty(raw.contacts, "contacts")?),
            format: ContactsFormat {
                delimiter: self.optional(&raw.contacts_delimiter, "contacts_delimiter", |d| {
                    Delimiter::parse(d)
                })?,
                encoding: self.optional(&raw.contacts_encoding, "contacts_encoding", |e| {
                    Encoding::parse(e)
                })?,
            },
        };
        let default_country = match raw.default_country {
            Some(code) => self.parse_with(&code, "default_country", |c| c.parse())?,
            None => Country::default(),
        };
        Ok(Campaign {
            journal_dir: dir.join(".outdial").join(&name),
            name,
            file: self.file.to_owned(),
            agent,
            contacts,
            default_country,
            api: self.api(raw.api, overrides)?,
            pacing: self.pacing(raw.pacing)?,
            rotation: self.rotation(raw.rotation, default_country)?,
            window: raw
                .window
                .map(|w| self.window(w))
                .transpose()?
                .unwrap_or_default(),
            retry: self.retry(raw.retry)?,
            suppress: self.suppress(raw.suppress, &dir)?,
            health: self.health(raw.health)?,
            store_url: self.optional(&raw.store.url, "store.url", |url| {
                let origin = crate::store::Origin::CampaignFile(self.file);
                crate::store::StoreUrl::parse(url, origin)
                    .map(|_| url.to_owned())
                    .map_err(|e| e.to_string())
            })?,
            journal_compression: match raw.journal.compress {
                Some(true) => Compression::Zstd,
                Some(false) | None => Compression::Plain,
            },
        })
    }

    fn health(&self, raw: RawHealth) -> Result<Health, ConfigError> {
        let default = Health::default();
        let window_calls = self.count(
            raw.window_calls,
            "health.window_calls",
            default.window_calls.get(),
            MAX_WINDOW_CALLS,
        )?;
        let min_calls = self.count(
            raw.min_calls,
            "health.min_calls",
            default.min_calls.get(),
            MAX_WINDOW_CALLS,
        )?;
        if min_calls > window_calls {
            return Err(self.setting(
                "health.min_calls",
                format!("({min_calls}) must not be above health.window_calls ({window_calls}), or no number could ever be judged: lower it or widen the window"),
            ));
        }
        let days = |value, key, default: NonZeroU32| {
            self.count(value, key, default.get(), MAX_HEALTH_DAYS)
        };
        let max_resting_share = match raw.max_resting_share {
            Some(share) => self.parse_with(&share, "health.max_resting_share", |s| {
                (0.0..=1.0).contains(s).then_some(*s).ok_or_else(|| {
                    format!("must be a share of the pool from 0 to 1, e.g. 0.25, not {s}")
                })
            })?,
            None => default.max_resting_share,
        };
        let short_call_seconds = match raw.short_call_seconds {
            Some(seconds) => self.parse_with(&seconds, "health.short_call_seconds", |n| {
                u64::try_from(*n)
                    .ok()
                    .filter(|n| (1..=MAX_SHORT_CALL_SECONDS).contains(n))
                    .ok_or_else(|| {
                        format!("must be a whole number of seconds from 1 to {MAX_SHORT_CALL_SECONDS}, not {n}")
                    })
            })?,
            None => default.short_call_seconds,
        };
        Ok(Health {
            enabled: raw.enabled.unwrap_or(default.enabled),
            window_calls,
            window_days: days(raw.window_days, "health.window_days", default.window_days)?,
            min_calls,
            rest_days: days(raw.rest_days, "health.rest_days", default.rest_days)?,
            max_resting_share,
            short_call_seconds,
        })
    }

    fn suppress(&self, raw: RawSuppress, dir: &Path) -> Result<Suppress, ConfigError> {
        let key = "suppress.unreadable_limit_seconds";
        let limit = match raw.unreadable_limit_seconds {
            None => UNREADABLE_LIMIT_SECONDS,
            Some(seconds) => self.parse_with(&seconds, key, |n| {
                u32::try_from(*n)
                    .ok()
                    .filter(|n| (1..=MAX_UNREADABLE_LIMIT_SECONDS).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "must be a whole number of seconds from 1 to {MAX_UNREADABLE_LIMIT_SECONDS}, not {n}"
                        )
                    })
            })?,
        };
        Ok(Suppress {
            files: raw
                .files
                .into_iter()
                .map(|f| dir.join(f.into_inner()))
                .collect(),
            unreadable_limit: Duration::from_secs(limit.into()),
        })
    }

    fn api(&self, raw: RawApi, overrides: &Overrides) -> Result<Api, ConfigError> {
        // Checked even when a base URL overrides it: a typo must not wait for the day it counts.
        let region: Option<ApiRegion> = self.optional(&raw.region, "api.region", |r| r.parse())?;
        let base_url = match (&overrides.api_base, raw.base_url) {
            (Some(flag), _) => base_url(flag).map_err(|problem| ConfigError::Setting {
                file: self.file.to_owned(),
                key: "--api-base / OUTDIAL_API_BASE",
                problem,
            })?,
            (None, Some(url)) => self.parse_with(&url, "api.base_url", |u| base_url(u))?,
            (None, None) => region.unwrap_or_default().base_url(),
        };
        let key_env = match raw.key_env {
            Some(var) => self.non_empty(var, "api.key_env")?,
            None => "SYNTHFLOW_API_KEY".to_owned(),
        };
        Ok(Api { base_url, key_env })
    }

    fn pacing(&self, raw: RawPacing) -> Result<Pacing, ConfigError> {
        let calls_per_second = match raw.calls_per_second {
            Some(rate) => self.parse_with(&rate, "pacing.calls_per_second", |r| {
                CallRate::new(*r).ok_or_else(|| {
                    format!(
                        "must be a number above zero, from {:.7} (one call a day) to {} calls per second, e.g. 1.0, not {r}",
                        CallRate::SLOWEST,
                        CallRate::FASTEST
                    )
                })
            })?,
            None => CallRate(1.0),
        };
        let max_live_calls = self.count(
            raw.max_live_calls,
            "pacing.max_live_calls",
            5,
            MAX_LIVE_CALLS,
        )?;
        let reads_per_second = match raw.reads_per_second {
            Some(rate) => self.parse_with(&rate, "pacing.reads_per_second", |r| {
                ReadRate::new(*r).ok_or_else(|| {
                    format!(
                        "must be a number of status reads per second from {} to {}, e.g. 2.0, not {r}",
                        ReadRate::SLOWEST,
                        ReadRate::FASTEST
                    )
                })
            })?,
            None => ReadRate::DEFAULT,
        };
        let weight = match raw.weight {
            Some(weight) => self.parse_with(&weight, "pacing.weight", |w| {
                (*w > 0.0 && *w <= Pacing::MAX_WEIGHT).then_some(*w).ok_or_else(|| {
                    format!(
                        "must be a share above 0 and at most {}, e.g. 1 (the default) or 3 for three times the turns of a weight-1 campaign, not {w}",
                        Pacing::MAX_WEIGHT
                    )
                })
            })?,
            None => 1.0,
        };
        Ok(Pacing {
            calls_per_second,
            max_live_calls,
            reads_per_second,
            weight,
        })
    }

    fn rotation(&self, raw: RawRotation, country: Country) -> Result<RotationPolicy, ConfigError> {
        let numbers = raw
            .numbers
            .iter()
            .map(|n| {
                self.parse_with(n, "rotation.numbers", |s| {
                    Phone::parse(s, country).map_err(|e| e.to_string())
                })
            })
            .collect::<Result<_, _>>()?;
        let max_per_day = raw
            .max_calls_per_number_per_day
            .map(|v| {
                let key = "rotation.max_calls_per_number_per_day";
                self.count(Some(v), key, 1, MAX_CALLS_PER_NUMBER_PER_DAY)
            })
            .transpose()?;
        let gap = self.within(
            raw.min_seconds_between_calls_per_number,
            "rotation.min_seconds_between_calls_per_number",
            0,
            SECONDS_PER_DAY,
        )?;
        let tiers = match &raw.tiers {
            Some(tiers) => self.parse_with(tiers, "rotation.tiers", |t| tiers_in_order(t))?,
            None => Match::TIERS.to_vec(),
        };
        let arms = match &raw.arms {
            Some(arms) => self.parse_with(arms, "rotation.arms", |arms| match arms.len() {
                2.. => Ok(arms.clone()),
                n => Err(format!(
                    "must name two or more strategies to compare, such as [\"region\", \"weighted\"], not {n}"
                )),
            })?,
            None => Vec::new(),
        };
        Ok(RotationPolicy {
            strategy: raw.strategy.unwrap_or(Strategy::Region),
            tiers,
            tie_break: raw.tie_break.unwrap_or(TieBreak::Lru),
            arms,
            numbers,
            max_calls_per_number_per_day: max_per_day,
            min_gap_per_number: Duration::from_secs(gap),
        })
    }

    fn window(&self, raw: RawWindow) -> Result<Window, ConfigError> {
        let default = Window::default();
        let time = |v: &Option<Spanned<String>>, key, fallback| match v {
            Some(t) => self.parse_with(t, key, |s| {
                s.parse::<Time>()
                    .map_err(|_| format!("must be a time of day such as \"09:00\", not \"{s}\""))
            }),
            None => Ok(fallback),
        };
        let start = time(&raw.start, "window.start", default.start)?;
        let end = time(&raw.end, "window.end", default.end)?;
        if end <= start {
            return Err(self.setting(
                "window.end",
                format!("({end}) must be later than window.start ({start})"),
            ));
        }
        let days: BTreeSet<WeekdayKey> = match raw.days {
            Some(days) => days
                .iter()
                .map(|d| self.parse_with(d, "window.days", |s| weekday(s)))
                .collect::<Result<_, _>>()?,
            None => default.days,
        };
        if days.is_empty() {
            return Err(self.setting(
                "window.days",
                "is empty, so nobody could ever be called: list the calling days, e.g. [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]".into(),
            ));
        }
        let holidays = raw
            .holidays
            .iter()
            .map(|d| {
                self.parse_with(d, "window.holidays", |s| {
                    s.parse::<Date>().map_err(|_| {
                        format!("must be an ISO date such as \"2026-12-25\", not \"{s}\"")
                    })
                })
            })
            .collect::<Result<_, _>>()?;
        let fallback_time_zone = match raw.timezone {
            Some(zone) => self.parse_with(&zone, "window.timezone", |z| {
                jiff::tz::db().get(z).map(|_| z.clone()).map_err(|_| {
                    format!("\"{z}\" is not an IANA time zone such as \"America/Chicago\"")
                })
            })?,
            None => default.fallback_time_zone,
        };
        let window = Window {
            start,
            end,
            days,
            holidays,
            fallback_time_zone,
            unknown_zone: raw.unknown_zone.unwrap_or_default(),
        };
        let today = Timestamp::now().to_zoned(TimeZone::UTC).date();
        if window.first_calling_day(today).is_none() {
            return Err(self.setting(
                "window.holidays",
                format!("cover every calling day of `window.days` for the next {CALLING_DAY_HORIZON} days, so nobody could be called: remove some holidays or add days"),
            ));
        }
        Ok(window)
    }

    fn retry(&self, raw: RawRetry) -> Result<RetryPolicy, ConfigError> {
        let max_attempts = self.count(raw.max_attempts, "retry.max_attempts", 3, MAX_ATTEMPTS)?;
        let minutes = self.within(
            raw.redial_after_minutes,
            "retry.redial_after_minutes",
            60,
            MAX_REDIAL_AFTER_MINUTES,
        )?;
        let grace = self.within(
            raw.reconcile_grace_seconds,
            "retry.reconcile_grace_seconds",
            30,
            MAX_RECONCILE_GRACE_SECONDS,
        )?;
        let max_call = match raw.max_call_minutes {
            Some(minutes) => self.parse_with(&minutes, "retry.max_call_minutes", |m| {
                MAX_CALL_MINUTES
                    .contains(m)
                    .then(|| Duration::from_secs_f64(m * 60.0))
                    .ok_or_else(|| {
                        format!(
                            "must be a number of minutes from {} to {} (fractions allowed), not {m}",
                            MAX_CALL_MINUTES.start(),
                            MAX_CALL_MINUTES.end()
                        )
                    })
            })?,
            None => DEFAULT_MAX_CALL,
        };
        Ok(RetryPolicy {
            max_attempts,
            redial_after: Duration::from_secs(minutes * 60),
            reconcile_grace: Duration::from_secs(grace),
            max_call,
        })
    }

    fn name(&self, name: Spanned<String>) -> Result<String, ConfigError> {
        self.parse_with(&name, "name", |n| {
            let ok = !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && !n.starts_with('.');
            ok.then(|| n.clone()).ok_or_else(|| {
                "must be letters, digits, '-', '_' or '.', as it names the journal directory"
                    .to_owned()
            })
        })
    }

    fn stem(&self) -> Result<String, ConfigError> {
        let stem = self
            .file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let ok = !stem.is_empty()
            && stem
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        ok.then(|| stem.to_owned()).ok_or_else(|| {
            self.setting(
                "name",
                "is missing and the file name cannot stand in for it: add name = \"my-campaign\""
                    .into(),
            )
        })
    }

    fn non_empty(&self, value: Spanned<String>, key: &'static str) -> Result<String, ConfigError> {
        self.parse_with(&value, key, |s| {
            (!s.trim().is_empty())
                .then(|| s.trim().to_owned())
                .ok_or_else(|| "must not be empty".to_owned())
        })
    }

    /// A whole number from 1 to `max`.
    fn count(
        &self,
        value: Option<Spanned<i64>>,
        key: &'static str,
        default: u32,
        max: u32,
    ) -> Result<NonZeroU32, ConfigError> {
        match value {
            None => Ok(NonZeroU32::new(default).expect("defaults are positive")),
            Some(v) => self.parse_with(&v, key, |n| {
                u32::try_from(*n)
                    .ok()
                    .filter(|n| *n <= max)
                    .and_then(NonZeroU32::new)
                    .ok_or_else(|| format!("must be a whole number from 1 to {max}, not {n}"))
            }),
        }
    }

    /// A whole number from 0 to `max`.
    fn within(
        &self,
        value: Option<Spanned<i64>>,
        key: &'static str,
        default: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) => self.parse_with(&v, key, |n| {
                u64::try_from(*n)
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| format!("must be a whole number from 0 to {max}, not {n}"))
            }),
        }
    }

    /// Applies `check` to a value and, when it fails, points at the value's line.
    fn parse_with<T, U>(
        &self,
        value: &Spanned<T>,
        key: &'static str,
        check: impl FnOnce(&T) -> Result<U, String>,
    ) -> Result<U, ConfigError> {
        check(value.get_ref()).map_err(|problem| ConfigError::Value {
            file: self.file.to_owned(),
            line: self.text[..value.span().start.min(self.text.len())]
                .matches('\n')
                .count()
                + 1,
            key,
            problem,
        })
    }

    /// An optional value, checked by `parse` when present.
    fn optional<T>(
        &self,
        value: &Option<Spanned<String>>,
        key: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        value
            .as_ref()
            .map(|v| self.parse_with(v, key, |s| parse(s)))
            .transpose()
    }

    fn setting(&self, key: &'static str, problem: String) -> ConfigError {
        ConfigError::Setting {
            file: self.file.to_owned(),
            key,
            problem,
        }
    }
}

/// `[rotation] tiers`: known names, each once, ending with `any` (so every callee can be
/// called from some number).
fn tiers_in_order(written: &[String]) -> Result<Vec<Match>, String> {
    let mut tiers = Vec::with_capacity(written.len());
    for name in written {
        let tier = Match::TIERS
            .into_iter()
            .find(|tier| tier.key() == name)
            .ok_or_else(|| {
                format!("`{name}` is not a tier: use area_code, state, time_zone and any")
            })?;
        if tiers.contains(&tier) {
            return Err(format!("names `{name}` twice"));
        }
        tiers.push(tier);
    }
    match tiers.last() {
        Some(Match::Other) => Ok(tiers),
        _ => Err("must end with \"any\", so that a callee with no local number is still called (e.g. [\"area_code\", \"state\", \"any\"])".into()),
    }
}

/// The Synthflow cluster a workspace lives on; each answers only for its own workspaces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ApiRegion {
    Us,
    Eu,
    /// The legacy cluster, `api.synthflow.ai`, where workspaces lived before the regional ones.
    #[default]
    Global,
}

impl ApiRegion {
    /// The cluster's API base URL (hosts from the vendor contract, CONTRACT.md A.0).
    pub fn base_url(self) -> Url {
        let url = match self {
            ApiRegion::Us => "https://api.us.synthflow.ai/v2",
            ApiRegion::Eu => "https://api.eu.synthflow.ai/v2",
            ApiRegion::Global => crate::api::DEFAULT_BASE_URL,
        };
        Url::parse(url).expect("a region's URL parses")
    }
}

impl std::str::FromStr for ApiRegion {
    type Err = String;

    fn from_str(written: &str) -> Result<ApiRegion, String> {
        match written.trim().to_ascii_lowercase().as_str() {
            "us" => Ok(ApiRegion::Us),
            "eu" => Ok(ApiRegion::Eu),
            "global" => Ok(ApiRegion::Global),
            _ => Err(format!(
                "must be \"us\", \"eu\" or \"global\" (the cluster of your Synthflow workspace), not \"{}\"",
                written.chars().take(40).collect::<String>()
            )),
        }
    }
}

/// https only, except on loopback (the sandbox): a key must not cross a network in clear text.
/// Public so that every vendor base URL (`--api-base`, `--numbers-api-base`) obeys the same rule.
pub fn base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| {
        format!("is not a URL ({e}): write the whole address, starting with https://")
    })?;
    // A password here would be sent to the server and could end up in logs and messages.
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "holds a user name or password (`user:pass@`): remove it; the key is read from the variable named by api.key_env".to_owned(),
        );
    }
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!(
            "uses http:// to {}: only https is allowed, except for loopback addresses such as 127.0.0.1",
            url.host_str().unwrap_or("?")
        )),
        other => Err(format!("has scheme {other}: use https://")),
    }
}

/// A weekday by its English name or three-letter abbreviation, in any case; nothing else, so
/// that a typo such as "monkey" is refused instead of read as Monday.
fn weekday(text: &str) -> Result<WeekdayKey, String> {
    const DAYS: [(&str, &str, Weekday); 7] = [
        ("mon", "monday", Weekday::Monday),
        ("tue", "tuesday", Weekday::Tuesday),
        ("wed", "wednesday", Weekday::Wednesday),
        ("thu", "thursday", Weekday::Thursday),
        ("fri", "friday", Weekday::Friday),
        ("sat", "saturday", Weekday::Saturday),
        ("sun", "sunday", Weekday::Sunday),
    ];
    let written = text.trim().to_ascii_lowercase();
    DAYS.iter()
        .find(|(short, long, _)| written == *short || written == *long)
        .map(|(_, _, day)| WeekdayKey::of(*day))
        .ok_or_else(|| {
            format!(
                "has \"{text}\": use \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\" or \"sun\" (or the full English names)"
            )
        })
}
