//! The campaign file (SPEC §2): TOML read into raw serde types, then checked into a [`Campaign`]
//! that cannot be wrong. Every error names the file, the key and, where it can, the line.

use std::collections::BTreeSet;
use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::civil::{Date, Time, Weekday};
use reqwest::Url;
use serde::Deserialize;
use toml::Spanned;

use crate::contacts::{ContactsFile, ContactsFormat, Delimiter, Encoding};
use crate::phone::{Country, Phone};

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
    pub suppress: Vec<PathBuf>,
    /// `.outdial/<name>/` beside the campaign file.
    pub journal_dir: PathBuf,
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
}

/// A positive, finite number of call creations per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallRate(f64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    Region,
    RoundRobin,
}

#[derive(Debug, Clone)]
pub struct RotationPolicy {
    pub strategy: Strategy,
    /// Explicit pool; empty means the agent's `attached_phone_numbers`.
    pub numbers: Vec<Phone>,
    pub max_calls_per_number_per_day: Option<NonZeroU32>,
    pub min_gap_per_number: Duration,
}

/// Calling hours in the callee's local time.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub start: Time,
    pub end: Time,
    pub days: BTreeSet<WeekdayKey>,
    pub holidays: BTreeSet<Date>,
    /// For callees whose zone neither the CSV nor the area-code table tells (a validated IANA name).
    pub fallback_time_zone: String,
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
}

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
        match std::env::var(&self.key_env) {
            Ok(key) if !key.trim().is_empty() => Ok(ApiKey(key.trim().to_owned())),
            _ => Err(ConfigError::MissingKey {
                file: campaign_file.to_owned(),
                var: self.key_env.clone(),
            }),
        }
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

impl CallRate {
    pub fn new(per_second: f64) -> Option<CallRate> {
        (per_second.is_finite() && per_second > 0.0).then_some(CallRate(per_second))
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
        }
    }
}

impl WeekdayKey {
    pub fn of(day: Weekday) -> WeekdayKey {
        WeekdayKey(day.to_monday_one_offset())
    }
}

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
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRotation {
    strategy: Option<Strategy>,
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
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: Option<Spanned<i64>>,
    redial_after_minutes: Option<Spanned<i64>>,
    reconcile_grace_seconds: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSuppress {
    #[serde(default)]
    files: Vec<Spanned<String>>,
}

// ---- checking -------------------------------------------------------------------------------

/// Turns raw values into checked ones, locating each error in the file.
struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn campaign(&self, raw: RawCampaign, overrides: &Overrides) -> Result<Campaign, ConfigError> {
        let dir = self.file.parent().unwrap_or(Path::new(".")).to_owned();
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
            suppress: raw
                .suppress
                .files
                .into_iter()
                .map(|f| dir.join(f.into_inner()))
                .collect(),
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
                CallRate::new(*r).ok_or_else(|| "must be a number above zero, e.g. 1.0".to_owned())
            })?,
            None => CallRate(1.0),
        };
        let max_live_calls = self.positive(raw.max_live_calls, "pacing.max_live_calls", 5)?;
        Ok(Pacing {
            calls_per_second,
            max_live_calls,
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
            .map(|v| self.positive(Some(v), "rotation.max_calls_per_number_per_day", 1))
            .transpose()?;
        let gap = self.at_least_zero(
            raw.min_seconds_between_calls_per_number,
            "rotation.min_seconds_between_calls_per_number",
            0,
        )?;
        Ok(RotationPolicy {
            strategy: raw.strategy.unwrap_or(Strategy::Region),
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
        let days = match raw.days {
            Some(days) => days
                .iter()
                .map(|d| self.parse_with(d, "window.days", |s| weekday(s)))
                .collect::<Result<_, _>>()?,
            None => default.days,
        };
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
        Ok(Window {
            start,
            end,
            days,
            holidays,
            fallback_time_zone,
        })
    }

    fn retry(&self, raw: RawRetry) -> Result<RetryPolicy, ConfigError> {
        let max_attempts = self.positive(raw.max_attempts, "retry.max_attempts", 3)?;
        let minutes =
            self.at_least_zero(raw.redial_after_minutes, "retry.redial_after_minutes", 60)?;
        let grace = self.at_least_zero(
            raw.reconcile_grace_seconds,
            "retry.reconcile_grace_seconds",
            30,
        )?;
        Ok(RetryPolicy {
            max_attempts,
            redial_after: Duration::from_secs(minutes * 60),
            reconcile_grace: Duration::from_secs(grace),
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

    fn positive(
        &self,
        value: Option<Spanned<i64>>,
        key: &'static str,
        default: u32,
    ) -> Result<NonZeroU32, ConfigError> {
        match value {
            None => Ok(NonZeroU32::new(default).expect("defaults are positive")),
            Some(v) => self.parse_with(&v, key, |n| {
                u32::try_from(*n)
                    .ok()
                    .and_then(NonZeroU32::new)
                    .ok_or_else(|| format!("must be a whole number of 1 or more, not {n}"))
            }),
        }
    }

    fn at_least_zero(
        &self,
        value: Option<Spanned<i64>>,
        key: &'static str,
        default: u64,
    ) -> Result<u64, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) => self.parse_with(&v, key, |n| {
                u64::try_from(*n).map_err(|_| format!("must be 0 or more, not {n}"))
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

fn weekday(text: &str) -> Result<WeekdayKey, String> {
    let day = match text.to_ascii_lowercase().get(..3) {
        Some("mon") => Weekday::Monday,
        Some("tue") => Weekday::Tuesday,
        Some("wed") => Weekday::Wednesday,
        Some("thu") => Weekday::Thursday,
        Some("fri") => Weekday::Friday,
        Some("sat") => Weekday::Saturday,
        Some("sun") => Weekday::Sunday,
        _ => return Err(format!("has \"{text}\": use \"mon\", \"tue\", … \"sun\"")),
    };
    Ok(WeekdayKey::of(day))
}
