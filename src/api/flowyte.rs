//! The Flowyte client: number search, holds, purchase and assignment, the prepaid wallet, and
//! agent publishing, in the vendor's shapes (`shared/api/CONTRACT.md` Part B). Errors are sorted
//! like the Synthflow client's, keeping the vendor's machine-readable `code` so commands can
//! branch on status and code, never on wording.

use std::fmt;
use std::time::Duration;

use reqwest::{RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::http::{Class, Scrubber, clip};
use crate::area_codes::AreaCode;
use crate::campaign::ApiKey;
use crate::phone::Phone;

pub const DEFAULT_BASE_URL: &str = "https://builder.flowyte.com/api/v1";

/// A Flowyte organisation, reached at `base` (`…/api/v1`) with one key. Cheap to clone.
#[derive(Clone)]
pub struct Flowyte {
    http: reqwest::Client,
    base: Url,
    key: ApiKey,
    /// Scrubs the key out of whatever the server says before it goes anywhere.
    scrubber: Scrubber,
}

/// What `GET /numbers/search` asks for. `best_effort` lets the vendor widen a query that
/// matches nothing; off, only exact matches come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub area_code: Option<AreaCode>,
    pub locality: Option<String>,
    /// Two-letter state or province, e.g. `CA` or `ON`.
    pub administrative_area: Option<String>,
    pub number_type: Option<NumberType>,
    /// Every one of these must be supported.
    pub features: Vec<Feature>,
    pub contains: Option<Digits>,
    pub starts_with: Option<Digits>,
    pub ends_with: Option<Digits>,
    pub best_effort: bool,
    /// 1 to 50.
    pub limit: u8,
}

/// The vendor's number types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberType {
    Local,
    TollFree,
    Mobile,
    National,
}

/// The vendor's number capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    Voice,
    Sms,
    Mms,
    Fax,
    Emergency,
}

/// A digit pattern for `contains`/`startsWith`/`endsWith`, matched against the national number
/// (the ten digits after +1). Letters are turned into their keypad digits, so `CALL` is `2255`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digits(String);

/// Why a pattern cannot be matched against a ten-digit number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a digit pattern: use 1 to 10 digits or letters, e.g. 555 or CALL")]
pub struct DigitsError(String);

/// One number for sale, as the search lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    pub e164: Phone,
    #[serde(default)]
    pub formatted: Option<String>,
    /// City; `null` for numbers without a place (toll-free).
    #[serde(default)]
    pub locality: Option<String>,
    /// Two-letter state or province.
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub rate_center: Option<String>,
    /// Kept as the vendor's strings, so a capability we do not know yet still shows.
    #[serde(default)]
    pub features: Vec<String>,
    pub monthly_cost: f64,
    #[serde(default)]
    pub setup_cost: f64,
    #[serde(default = "usd")]
    pub currency: String,
    #[serde(default = "yes")]
    pub reservable: bool,
    #[serde(default)]
    pub vanity_format: Option<String>,
}

/// A hold on a number for sale: free, and it lapses by itself (about 30 minutes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    pub id: String,
    pub e164: Phone,
    #[serde(default)]
    pub expires_at: Option<jiff::Timestamp>,
    #[serde(default)]
    pub status: Option<String>,
}

/// A number the organisation owns (bought or imported), and the agent answering it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnedNumber {
    pub id: String,
    pub e164: Phone,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub default_agent_id: Option<String>,
    #[serde(default)]
    pub monthly_cost: Option<f64>,
    #[serde(default)]
    pub created_at: Option<String>,
    /// `available`, `assigned`, or `released` after a release.
    #[serde(default)]
    pub status: Option<String>,
}

/// `POST /numbers/import`: bring a number the organisation already rents from its own carrier.
///
/// CONTRACT B.1 did not capture this body. We send `e164` (the key every other numbers call
/// uses), `provider` (the label the number object carries) and `agentId` (the name `assign`
/// uses), so a vendor that names them differently answers 400/422 rather than misreading them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Import {
    pub e164: Phone,
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
}

/// The prepaid balance that purchases and monthly rentals draw on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Wallet {
    pub balance_usd: f64,
    #[serde(default)]
    pub auto_reload_enabled: bool,
    #[serde(default)]
    pub auto_reload_threshold_usd: Option<f64>,
    #[serde(default)]
    pub auto_reload_amount_usd: Option<f64>,
}

/// The frozen version a publish created. CONTRACT B.1 says only "new frozen version"; these
/// are the fields we expect, each optional so another shape still reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Published {
    #[serde(default)]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub version: Option<u64>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub published_at: Option<String>,
}

/// The `Idempotency-Key` of one mutating request. The vendor answers a repeated key with the
/// first answer, so a repeated request cannot buy or publish twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

/// A refusal in the vendor's RFC 9457 shape, reduced to what a person and a program need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: u16,
    /// The machine-readable reason, e.g. `insufficient_balance`, when the vendor sent one.
    pub code: Option<String>,
    pub detail: String,
}

/// What went wrong with a Flowyte request, sorted by what the caller does about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FlowyteError {
    /// 401/402/403: the key, its scopes or the wallet, not this request. A person must act.
    #[error("the Flowyte API answered {0} — {advice}", advice = account_advice(.0.status))]
    Account(Problem),
    /// 429: nothing was done; wait and retry.
    #[error("429 Too Many Requests from the Flowyte API: wait a minute and run the command again")]
    RateLimited { retry_after: Option<Duration> },
    /// Another 4xx: this request was refused; nothing was done.
    #[error("the Flowyte API answered {0}")]
    Refused(Problem),
    /// 5xx: the server failed; a purchase may or may not have happened, which the idempotency
    /// key makes safe to find out by running the same command again.
    #[error("the Flowyte API answered {0}: run the same command again (it is safe to repeat)")]
    Server(Problem),
    /// No answer (timeout, connection lost).
    #[error("no answer from the Flowyte API: {0}")]
    Transport(String),
    /// An answer we could not read.
    #[error("unexpected answer from the Flowyte API: {0}")]
    Unexpected(String),
}

impl FlowyteError {
    /// The refusal when the vendor answered with `status`, to branch on (409 on a hold, 402 on
    /// a purchase).
    pub fn problem(&self, status: u16) -> Option<&Problem> {
        match self {
            FlowyteError::Account(p) | FlowyteError::Refused(p) | FlowyteError::Server(p)
                if p.status == status =>
            {
                Some(p)
            }
            _ => None,
        }
    }
}

fn account_advice(status: u16) -> &'static str {
    match status {
        401 => "check the key in FLOWYTE_API_KEY (it looks like flowyte_sk_…)",
        402 => {
            "the prepaid wallet is short: top it up in the Flowyte dashboard (Billing), then run the same command again"
        }
        _ => {
            "the key lacks a scope this needs (numbers:read, numbers:write, billing:read or agents:write) or belongs to another organisation"
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

impl Flowyte {
    pub fn new(base: &Url, key: ApiKey) -> Result<Flowyte, FlowyteError> {
        let http = super::http_client().map_err(|e| FlowyteError::Transport(e.to_string()))?;
        Ok(Flowyte {
            http,
            base: base.clone(),
            scrubber: Scrubber::new(key.clone()),
            key,
        })
    }

    /// `GET /numbers/search`.
    pub async fn search(&self, query: &SearchQuery) -> Result<Vec<Offer>, FlowyteError> {
        let request = self.http.get(self.endpoint(&["numbers", "search"]));
        self.send(request.query(&query.pairs())).await
    }

    /// `GET /numbers`: the numbers the organisation owns, with the agent answering each.
    ///
    /// CONTRACT B.1 lists no such route. This is the REST-usual listing of the collection that
    /// `DELETE /numbers/{id}` addresses, answered with the number objects a purchase returns; a
    /// vendor without it answers 404, which the command reports as it is.
    pub async fn owned(&self) -> Result<Vec<OwnedNumber>, FlowyteError> {
        let request = self.http.get(self.endpoint(&["numbers"]));
        self.send(request).await
    }

    /// `POST /numbers/reserve`: holds `e164` for about 30 minutes, free of charge.
    pub async fn reserve(&self, e164: &Phone) -> Result<Reservation, FlowyteError> {
        let request = self.http.post(self.endpoint(&["numbers", "reserve"]));
        self.send(request.json(&json!({ "e164": e164 }))).await
    }

    /// `POST /numbers/purchase`: buys `e164` (under `reservation` when one is held), paid from
    /// the wallet: the setup cost and the first month.
    pub async fn purchase(
        &self,
        e164: &Phone,
        reservation: Option<&str>,
        key: &IdempotencyKey,
    ) -> Result<OwnedNumber, FlowyteError> {
        let mut body = json!({ "e164": e164 });
        if let Some(id) = reservation {
            body["reservationId"] = Value::from(id);
        }
        let request = self.http.post(self.endpoint(&["numbers", "purchase"]));
        self.send(key.attach(request).json(&body)).await
    }

    /// `POST /numbers/{id}/assign`: makes `agent_id` answer the number.
    pub async fn assign(&self, id: &str, agent_id: &str) -> Result<OwnedNumber, FlowyteError> {
        let request = self.http.post(self.endpoint(&["numbers", id, "assign"]));
        self.send(request.json(&json!({ "agentId": agent_id })))
            .await
    }

    /// `DELETE /numbers/{id}/assign`: no agent answers it any more; still owned and billed.
    pub async fn unassign(&self, id: &str) -> Result<OwnedNumber, FlowyteError> {
        let request = self.http.delete(self.endpoint(&["numbers", id, "assign"]));
        self.send(request).await
    }

    /// `DELETE /numbers/{id}`: gives the number back to the carrier. Irreversible.
    pub async fn release(&self, id: &str) -> Result<OwnedNumber, FlowyteError> {
        let request = self.http.delete(self.endpoint(&["numbers", id]));
        self.send(request).await
    }

    /// `POST /numbers/import` (see [`Import`] for the body we chose).
    pub async fn import(&self, import: &Import) -> Result<OwnedNumber, FlowyteError> {
        let request = self.http.post(self.endpoint(&["numbers", "import"]));
        self.send(request.json(import)).await
    }

    /// `GET /billing/wallet`.
    pub async fn wallet(&self) -> Result<Wallet, FlowyteError> {
        let request = self.http.get(self.endpoint(&["billing", "wallet"]));
        self.send(request).await
    }

    /// `POST /agents/{id}/publish`: freezes the agent's current draft as the version calls use.
    pub async fn publish(
        &self,
        agent_id: &str,
        note: Option<&str>,
        key: &IdempotencyKey,
    ) -> Result<Published, FlowyteError> {
        let body = match note {
            Some(note) => json!({ "note": note }),
            None => json!({}),
        };
        let request = self
            .http
            .post(self.endpoint(&["agents", agent_id, "publish"]));
        self.send(key.attach(request).json(&body)).await
    }

    /// The base URL with `segments` appended, each percent-encoded as a path segment.
    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("http(s) base URLs have paths")
            .pop_if_empty()
            .extend(segments);
        url
    }

    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, FlowyteError> {
        let sent = request.bearer_auth(self.key.expose()).send().await;
        let answer = self
            .scrubber
            .receive(sent, std::time::SystemTime::now())
            .await
            .map_err(FlowyteError::Transport)?;
        read(answer)
    }
}

impl SearchQuery {
    /// The query string, in the vendor's parameter names. `features` is comma-joined, which
    /// the vendor accepts as well as repeats.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        let mut add = |name, value: Option<String>| {
            if let Some(value) = value {
                pairs.push((name, value));
            }
        };
        add("areaCode", self.area_code.map(|code| code.to_string()));
        add("locality", self.locality.clone());
        add("administrativeArea", self.administrative_area.clone());
        add(
            "numberType",
            self.number_type.map(|t| t.as_str().to_owned()),
        );
        add("contains", self.contains.as_ref().map(|d| d.0.clone()));
        add("startsWith", self.starts_with.as_ref().map(|d| d.0.clone()));
        add("endsWith", self.ends_with.as_ref().map(|d| d.0.clone()));
        if !self.features.is_empty() {
            let features: Vec<&str> = self.features.iter().map(|f| f.as_str()).collect();
            add("features", Some(features.join(",")));
        }
        add("bestEffort", Some(self.best_effort.to_string()));
        add("limit", Some(self.limit.to_string()));
        pairs
    }

    /// Whether `offer` meets the place and digit filters exactly, so a widened best-effort
    /// answer can be told apart from an exact one. Type and features are not in the answer.
    pub fn is_exact(&self, offer: &Offer) -> bool {
        let same = |asked: &Option<String>, got: &Option<String>| match asked {
            None => true,
            Some(asked) => got
                .as_deref()
                .is_some_and(|got| got.trim().eq_ignore_ascii_case(asked.trim())),
        };
        let national = offer.e164.as_str().strip_prefix("+1").unwrap_or_default();
        self.area_code
            .is_none_or(|code| offer.e164.area_code() == Some(code))
            && same(&self.locality, &offer.locality)
            && same(&self.administrative_area, &offer.region)
            && self
                .contains
                .as_ref()
                .is_none_or(|d| national.contains(&d.0))
            && self
                .starts_with
                .as_ref()
                .is_none_or(|d| national.starts_with(&d.0))
            && self
                .ends_with
                .as_ref()
                .is_none_or(|d| national.ends_with(&d.0))
    }
}

impl NumberType {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberType::Local => "local",
            NumberType::TollFree => "toll_free",
            NumberType::Mobile => "mobile",
            NumberType::National => "national",
        }
    }
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Voice => "voice",
            Feature::Sms => "sms",
            Feature::Mms => "mms",
            Feature::Fax => "fax",
            Feature::Emergency => "emergency",
        }
    }
}

impl Digits {
    /// Reads `1`–`10` digits or letters; letters become their keypad digits.
    pub fn parse(written: &str) -> Result<Digits, DigitsError> {
        let written = written.trim();
        let digits: Option<String> = written.chars().map(keypad).collect();
        match digits {
            Some(digits) if (1..=10).contains(&digits.len()) => Ok(Digits(digits)),
            _ => Err(DigitsError(written.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The digit a character dials: itself for digits, its key for letters (ITU E.161).
fn keypad(c: char) -> Option<char> {
    let key = match c.to_ascii_uppercase() {
        d @ '0'..='9' => d,
        'A'..='C' => '2',
        'D'..='F' => '3',
        'G'..='I' => '4',
        'J'..='L' => '5',
        'M'..='O' => '6',
        'P'..='S' => '7',
        'T'..='V' => '8',
        'W'..='Z' => '9',
        _ => return None,
    };
    Some(key)
}

impl IdempotencyKey {
    /// The key of an operation that must happen once however often it is asked for: the same
    /// `operation` and `parts` always give the same key (a 128-bit FNV-1a hash, stable across
    /// builds and machines, unlike std's hasher).
    pub fn derive(operation: &str, parts: &[&str]) -> IdempotencyKey {
        const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
        const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
        let mut hash = OFFSET;
        for part in std::iter::once(operation).chain(parts.iter().copied()) {
            // The unit separator keeps ("ab", "c") and ("a", "bc") apart.
            for byte in part.bytes().chain([0x1f]) {
                hash ^= u128::from(byte);
                hash = hash.wrapping_mul(PRIME);
            }
        }
        IdempotencyKey(format!("outdial-{operation}-{hash:032x}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn attach(&self, request: RequestBuilder) -> RequestBuilder {
        request.header("Idempotency-Key", &self.0)
    }
}

fn usd() -> String {
    "USD".to_owned()
}

fn yes() -> bool {
    true
}

/// Sorts an answer (already scrubbed) into success (the envelope's `data`, decoded) or a
/// [`FlowyteError`].
fn read<T: DeserializeOwned>(answer: super::http::Answer) -> Result<T, FlowyteError> {
    #[derive(Deserialize)]
    struct Envelope<T> {
        data: T,
    }
    let text = answer.text;
    if answer.class == Class::Success {
        return serde_json::from_str::<Envelope<T>>(&text)
            .map(|envelope| envelope.data)
            .map_err(|e| FlowyteError::Unexpected(format!("{e} in {}", clip(&text))));
    }
    let problem = problem(answer.status, &text);
    Err(match answer.class {
        Class::Account => FlowyteError::Account(problem),
        Class::RateLimited => FlowyteError::RateLimited {
            retry_after: answer.retry_after,
        },
        Class::Server => FlowyteError::Server(problem),
        Class::Success | Class::Refused => FlowyteError::Refused(problem),
    })
}

/// Reads an error body leniently: RFC 9457 problem+json (`detail`, else `title`, plus
/// `errors[].field/message`), else the envelope's `message`, else the raw text.
fn problem(status: StatusCode, text: &str) -> Problem {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let code = body["code"].as_str().map(str::to_owned);
    let said = body["detail"]
        .as_str()
        .or_else(|| body["title"].as_str())
        .or_else(|| body["message"].as_str());
    let mut detail = clip(said.unwrap_or(text));
    let fields: Vec<String> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some(format!(
                "{}: {}",
                e["field"].as_str()?,
                e["message"].as_str()?
            ))
        })
        .collect();
    if !fields.is_empty() {
        detail = format!("{detail} ({})", fields.join("; "));
    }
    Problem {
        status: status.as_u16(),
        code,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Problem+json yields its code and detail with the field errors; other bodies still read.
    #[test]
    fn error_bodies_are_read_leniently() {
        let body = r#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"invalid query","code":"invalid_parameter","errors":[{"field":"limit","message":"must be 1 to 50"}]}"#;
        let read = problem(StatusCode::BAD_REQUEST, body);
        assert_eq!(read.code.as_deref(), Some("invalid_parameter"));
        assert_eq!(read.detail, "invalid query (limit: must be 1 to 50)");
        let envelope = problem(
            StatusCode::CONFLICT,
            r#"{"success":false,"message":"held"}"#,
        );
        assert_eq!((envelope.code, envelope.detail.as_str()), (None, "held"));
        assert_eq!(problem(StatusCode::BAD_GATEWAY, "<html>").detail, "<html>");
    }

    /// The same operation gives the same key; any different part gives another.
    #[test]
    fn idempotency_keys_follow_the_operation() {
        let key = IdempotencyKey::derive("purchase", &["+14155550102", "res_1"]);
        assert_eq!(
            key,
            IdempotencyKey::derive("purchase", &["+14155550102", "res_1"])
        );
        assert_ne!(
            key,
            IdempotencyKey::derive("purchase", &["+14155550102", "res_2"])
        );
        assert_ne!(
            IdempotencyKey::derive("purchase", &["ab", "c"]),
            IdempotencyKey::derive("purchase", &["a", "bc"])
        );
        assert!(key.as_str().starts_with("outdial-purchase-"));
    }

    /// Vanity letters become keypad digits; anything else is refused.
    #[test]
    fn digit_patterns_accept_digits_and_keypad_letters() {
        assert_eq!(Digits::parse("call").unwrap().as_str(), "2255");
        assert_eq!(Digits::parse("555").unwrap().as_str(), "555");
        assert!(Digits::parse("").is_err());
        assert!(Digits::parse("55-5").is_err());
        assert!(Digits::parse("12345678901").is_err());
    }

    /// The query uses the vendor's parameter names and always states bestEffort.
    #[test]
    fn search_query_uses_the_vendor_parameter_names() {
        let query = SearchQuery {
            area_code: Some(AreaCode(415)),
            locality: None,
            administrative_area: Some("CA".into()),
            number_type: Some(NumberType::TollFree),
            features: vec![Feature::Voice, Feature::Sms],
            contains: None,
            starts_with: None,
            ends_with: Some(Digits::parse("00").unwrap()),
            best_effort: false,
            limit: 5,
        };
        let pairs = query.pairs();
        let get = |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("areaCode"), Some("415"));
        assert_eq!(get("administrativeArea"), Some("CA"));
        assert_eq!(get("numberType"), Some("toll_free"));
        assert_eq!(get("features"), Some("voice,sms"));
        assert_eq!(get("endsWith"), Some("00"));
        assert_eq!(get("bestEffort"), Some("false"));
        assert_eq!(get("limit"), Some("5"));
        assert_eq!(get("locality"), None);
    }
}
