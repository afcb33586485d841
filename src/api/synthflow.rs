//! The Synthflow client: the calls the dialer makes, with the
//! vendor's shapes (see `shared/api/CONTRACT.md`) and its errors sorted by what the dialer must do.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Response, Url};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::http::{Class, Scrubber, Transport, clip};

use crate::campaign::ApiKey;
use crate::clock::Clock;
use crate::contacts::CustomVariable;
use crate::phone::Phone;

mod count;
mod list;
mod pool;
pub use count::Requests;
use count::{Counters, Sent};
pub use list::{AgentCall, CallInList, ListPage};
pub use pool::{Attach, Slug, SlugError};

pub const DEFAULT_BASE_URL: &str = "https://api.synthflow.ai/v2";

/// `GET /v2/calls` page size when looking for a call whose creation is uncertain.
const PAGE: usize = 100;

/// A Synthflow account, reached at `base` (`…/v2`) with one key. Cheap to clone.
#[derive(Clone)]
pub struct Synthflow {
    /// Builds the requests; `transport` carries them.
    http: reqwest::Client,
    transport: Transport,
    /// The clock the vendor's `Date` is compared with: the machine's, but under `simulate`.
    clock: Clock,
    base: Url,
    key: ApiKey,
    /// Scrubs the key out of whatever the server says before it goes anywhere.
    scrubber: Scrubber,
    /// How far the vendor's clock was ahead of ours at its latest answer (its `Date` header),
    /// shared by all clones: reconciliation compares the vendor's `start_time` with our marks.
    clock_ahead_ms: Arc<Mutex<Option<i64>>>,
    /// Requests sent by this client and its clones, by kind.
    sent: Arc<Counters>,
}

/// The agent (assistant) and its caller-ID pool.
#[derive(Debug, Clone)]
pub struct Agent {
    pub model_id: String,
    pub attached: Vec<AttachedNumber>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AttachedNumber {
    pub number: String,
    pub sid: Option<String>,
    pub slug: String,
}

/// One `POST /v2/calls` body.
#[derive(Debug, Serialize)]
pub struct CallRequest<'a> {
    pub model_id: &'a str,
    pub phone: &'a str,
    pub name: &'a str,
    pub from_phone_number: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub custom_variables: &'a [CustomVariable],
}

/// A call as `GET /v2/calls` lists it (only the fields the dialer reads). Every field but the
/// id is read leniently: one odd field never makes a call unreadable (and so unmatched).
#[derive(Debug, Clone, Deserialize)]
pub struct ListedCall {
    pub call_id: String,
    /// Epoch milliseconds, sent as a string.
    #[serde(default, deserialize_with = "lenient::start_time")]
    pub start_time: Option<StringOrNumber>,
    /// The callee. `lead_phone_number` in the query matches the caller *or* the callee, so this
    /// tells a call *to* a contact from one *from* it (when the contact is also a caller ID).
    #[serde(default, deserialize_with = "lenient::text")]
    pub phone_number_to: Option<String>,
    /// The lead (callee) as the list item names it; stands in when `phone_number_to` is absent.
    #[serde(default, deserialize_with = "lenient::text")]
    pub lead_phone_number: Option<String>,
}

/// A call's state as `GET /v2/calls/{id}` reports it. Read leniently: a field of an odd shape
/// reads as absent (or, for the status, as a status we do not know, which is not terminal).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallState {
    #[serde(default = "unknown_status", deserialize_with = "lenient::status")]
    pub status: String,
    #[serde(default, deserialize_with = "lenient::text")]
    pub end_call_reason: Option<String>,
    /// Seconds.
    #[serde(default, deserialize_with = "lenient::seconds")]
    pub duration: Option<u64>,
    /// How long the callee's phone rang, in milliseconds (`telephony_ringing_duration`); only
    /// `GET /v2/calls/{id}` gives it.
    #[serde(
        default,
        rename = "telephony_ringing_duration",
        deserialize_with = "lenient::seconds"
    )]
    pub ringing_ms: Option<u64>,
    /// Who or what ended the call (`telephony_disconnect_reason`: `callee_hangup`,
    /// `caller_hangup`, `error`, `forbidden`, `unknown`), as the vendor wrote it.
    #[serde(
        default,
        rename = "telephony_disconnect_reason",
        deserialize_with = "lenient::text"
    )]
    pub disconnect_reason: Option<String>,
}

/// The status of a call whose status is not known: not terminal, not unanswered.
pub const UNKNOWN_STATUS: &str = "unknown";

fn unknown_status() -> String {
    UNKNOWN_STATUS.to_owned()
}

impl CallState {
    /// The state a call is settled with when it never showed a terminal status: status
    /// `unknown`, and why in place of the vendor's end reason.
    pub fn unknown(why: String) -> CallState {
        CallState {
            status: unknown_status(),
            end_call_reason: Some(why),
            duration: None,
            ringing_ms: None,
            disconnect_reason: None,
        }
    }

    /// CONTRACT A.2: the statuses a call ends in. Anything else, including statuses we do not
    /// know, is still going: waiting longer is safer than settling a live call.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.status.as_str(),
            "completed"
                | "no-answer"
                | "busy"
                | "failed"
                | "canceled"
                | "user-canceled"
                | "hangup_on_voicemail"
                | "left_voicemail"
                | "spam"
        )
    }

    /// Nobody took the call (no answer, busy, a voicemail): worth another try later.
    pub fn is_unanswered(&self) -> bool {
        let voicemail_reason = self
            .end_call_reason
            .as_deref()
            .is_some_and(|r| r.starts_with("voicemail"));
        matches!(
            self.status.as_str(),
            "no-answer" | "busy" | "left_voicemail" | "hangup_on_voicemail"
        ) || voicemail_reason
    }
}

/// The vendor sends numbers as strings in some fields; accept either.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StringOrNumber {
    String(String),
    Number(i64),
}

impl StringOrNumber {
    /// The whole number it holds (epoch milliseconds, for a `start_time`), if it holds one.
    pub fn whole(&self) -> Option<i64> {
        match self {
            StringOrNumber::String(s) => s.trim().parse().ok(),
            StringOrNumber::Number(n) => Some(*n),
        }
    }
}

/// What went wrong with a request, sorted by what the dialer does about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// 401/402/403: the account or key, not the contact. Stop dispatching.
    #[error("{} from the Synthflow API: {detail} — {}", status, account_advice(*status))]
    Account { status: u16, detail: String },
    /// 429: over the account's rate or concurrency; nothing was created. Wait and retry.
    #[error("429 Too Many Requests from the Synthflow API")]
    RateLimited { retry_after: Option<Duration> },
    /// Another 4xx: this request was refused; nothing was created.
    #[error("{status} from the Synthflow API: {detail}")]
    Refused { status: u16, detail: String },
    /// 5xx: the server failed; a create request may or may not have created a call.
    #[error("{status} from the Synthflow API: {detail}")]
    Server { status: u16, detail: String },
    /// No answer (timeout, connection lost): a create request may or may not have created a call.
    #[error("no answer from the Synthflow API: {0}")]
    Transport(String),
    /// An answer we could not read.
    #[error("unexpected answer from the Synthflow API: {0}")]
    Unexpected(String),
}

impl ApiError {
    /// The vendor does not know what was asked for (a call id, an agent).
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Refused { status: 404, .. })
    }

    /// True when a create request that failed this way may nevertheless have created a call.
    pub fn may_have_created(&self) -> bool {
        matches!(
            self,
            ApiError::Server { .. } | ApiError::Transport(_) | ApiError::Unexpected(_)
        )
    }
}

fn account_advice(status: u16) -> &'static str {
    match status {
        401 => {
            "check the API key in the variable named by api.key_env (SYNTHFLOW_API_KEY by default)"
        }
        402 => "the account is out of credit: top it up in the Synthflow dashboard",
        _ => {
            "the key lacks permission for this agent or workspace: check the agent id and the key's workspace"
        }
    }
}

impl Synthflow {
    pub fn new(base: &Url, key: ApiKey) -> Result<Synthflow, ApiError> {
        let http = super::http_client().map_err(|e| ApiError::Transport(e.to_string()))?;
        Ok(Synthflow {
            http,
            transport: Transport::Network,
            clock: Clock::System,
            base: base.clone(),
            scrubber: Scrubber::new(key.clone()),
            key,
            clock_ahead_ms: Arc::new(Mutex::new(None)),
            sent: Arc::default(),
        })
    }

    /// The same account reached through `router` in this process, its answers dated against
    /// `clock`: `simulate`'s sandbox, with no socket and no real time.
    pub fn in_process(
        base: &Url,
        key: ApiKey,
        router: axum::Router,
        clock: Clock,
    ) -> Result<Synthflow, ApiError> {
        let mut api = Synthflow::new(base, key)?;
        api.transport = Transport::InProcess(router);
        api.clock = clock;
        Ok(api)
    }

    /// The clock this client reads the vendor's `Date` against (see [`Synthflow::clock_ahead_ms`]).
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Sends one request by this client's transport.
    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Result<Response> {
        self.transport.send(request).await
    }

    /// How far the vendor's clock was ahead of ours (negative: behind) at its latest answer,
    /// in milliseconds, good to about a second; `None` before any answer carried a `Date`.
    pub fn clock_ahead_ms(&self) -> Option<i64> {
        *self
            .clock_ahead_ms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The requests sent so far by this client and its clones.
    pub fn requests(&self) -> Requests {
        self.sent.read()
    }

    /// An authenticated `GET`, its answer decoded or sorted into an [`ApiError`].
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        url: Url,
        query: &[(&str, String)],
    ) -> Result<T, ApiError> {
        let request = self
            .http
            .get(url)
            .bearer_auth(self.key.expose())
            .query(query);
        self.read(self.send(request).await).await
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

    /// `GET /v2/assistants/{id}`: the agent and its attached numbers.
    pub async fn agent(&self, model_id: &str) -> Result<Agent, ApiError> {
        #[derive(Deserialize)]
        struct Body {
            response: Assistants,
        }
        #[derive(Deserialize)]
        struct Assistants {
            assistants: Vec<Assistant>,
        }
        #[derive(Deserialize)]
        struct Assistant {
            model_id: String,
            #[serde(default)]
            attached_phone_numbers: Vec<AttachedNumber>,
        }
        let url = self.endpoint(&["assistants", model_id]);
        let body: Body = self.get(url, &[]).await?;
        let assistant =
            body.response
                .assistants
                .into_iter()
                .next()
                .ok_or_else(|| ApiError::Refused {
                    status: 404,
                    detail: format!("no agent with id {model_id}"),
                })?;
        Ok(Agent {
            model_id: assistant.model_id,
            attached: assistant.attached_phone_numbers,
        })
    }

    /// `POST /v2/calls`. Not idempotent: a failure for which [`ApiError::may_have_created`] is true
    /// must be reconciled through [`Synthflow::calls_to`] before the contact is dialled again.
    pub async fn create_call(&self, request: &CallRequest<'_>) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct Body {
            response: Created,
        }
        #[derive(Deserialize)]
        struct Created {
            call_id: String,
        }
        let url = self.endpoint(&["calls"]);
        self.sent.add(Sent::Create);
        let request = self
            .http
            .post(url)
            .bearer_auth(self.key.expose())
            .json(request);
        let sent = self.send(request).await;
        let read = self.read(sent).await;
        if let Err(ApiError::RateLimited { .. }) = &read {
            self.sent.add(Sent::RateLimited);
        }
        let body: Body = read?;
        self.sent.add(Sent::CallCreated);
        Ok(body.response.call_id)
    }

    /// `GET /v2/calls/{id}`: where a call is in its life. A call created a moment ago may answer
    /// 404 for a while (CONTRACT A.2).
    pub async fn call(&self, call_id: &str) -> Result<CallState, ApiError> {
        #[derive(Deserialize)]
        struct Body {
            response: Calls,
        }
        #[derive(Deserialize)]
        struct Calls {
            calls: Vec<CallState>,
        }
        let url = self.endpoint(&["calls", call_id]);
        self.sent.add(Sent::CallGet);
        let body: Body = self.get(url, &[]).await?;
        body.response
            .calls
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::Refused {
                status: 404,
                detail: format!("no call with id {call_id}"),
            })
    }

    /// Every call of `model_id` to or from `phone` (all pages), for reconciling uncertain creates.
    pub async fn calls_to(
        &self,
        model_id: &str,
        phone: &Phone,
    ) -> Result<Vec<ListedCall>, ApiError> {
        self.sent.add(Sent::LookUp);
        self.list_calls(model_id, ("lead_phone_number", phone.as_str().to_owned()))
            .await
    }

    /// `GET /v2/calls` for `model_id` narrowed by one `filter`, every page read, each call in
    /// the shape `T` its caller needs.
    async fn list_calls<T: serde::de::DeserializeOwned>(
        &self,
        model_id: &str,
        filter: (&str, String),
    ) -> Result<Vec<T>, ApiError> {
        #[derive(Deserialize)]
        struct Body<T> {
            response: Page<T>,
        }
        #[derive(Deserialize)]
        struct Page<T> {
            pagination: Pagination,
            calls: Vec<T>,
        }
        #[derive(Deserialize)]
        struct Pagination {
            total_records: usize,
        }
        let url = self.endpoint(&["calls"]);
        let mut calls = Vec::new();
        loop {
            let query = [
                ("model_id", model_id.to_owned()),
                (filter.0, filter.1.clone()),
                ("limit", PAGE.to_string()),
                ("offset", calls.len().to_string()),
            ];
            self.sent.add(Sent::ListPage);
            let page: Body<T> = self.get(url.clone(), &query).await?;
            let got = page.response.calls.len();
            calls.extend(page.response.calls);
            if got == 0 || calls.len() >= page.response.pagination.total_records {
                return Ok(calls);
            }
        }
    }
}

impl ListedCall {
    /// The number this call went to, when the list item says.
    pub fn callee(&self) -> Option<&str> {
        self.phone_number_to
            .as_deref()
            .or(self.lead_phone_number.as_deref())
    }

    pub fn start_ms(&self) -> Option<i64> {
        self.start_time.as_ref()?.whole()
    }
}

impl Synthflow {
    /// Sorts an answer into success (decoded) or an [`ApiError`], its text scrubbed of the key.
    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        sent: reqwest::Result<Response>,
    ) -> Result<T, ApiError> {
        let answer = self
            .scrubber
            .receive(sent, self.clock.now_system())
            .await
            .map_err(ApiError::Transport)?;
        if let Some(ahead) = answer.clock_ahead_ms {
            *self
                .clock_ahead_ms
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(ahead);
        }
        let text = answer.text;
        if answer.class == Class::Success {
            return serde_json::from_str(&text)
                .map_err(|e| ApiError::Unexpected(format!("{e} in {}", clip(&text))));
        }
        let detail = error_detail(&text);
        let status = answer.status.as_u16();
        Err(match answer.class {
            Class::Account => ApiError::Account { status, detail },
            Class::RateLimited => ApiError::RateLimited {
                retry_after: answer.retry_after,
            },
            Class::Server => ApiError::Server { status, detail },
            Class::Success | Class::Refused => ApiError::Refused { status, detail },
        })
    }
}

/// The vendor's error bodies are not uniform (CONTRACT A.0): try each known shape, else the text.
/// Always clipped: a server can say anything at any length.
fn error_detail(text: &str) -> String {
    let Ok(body) = serde_json::from_str::<Value>(text) else {
        return clip(text);
    };
    let described = body["detail"]["description"]
        .as_str()
        .or_else(|| body["message"].as_str());
    let detail = described
        .or_else(|| body["detail"].as_str())
        .or_else(|| body["error"].as_str());
    clip(detail.unwrap_or(text))
}

/// Readers for the fields the dialer can live without: an odd shape reads as absent.
mod lenient {
    use super::*;

    /// A string, or nothing.
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Value::deserialize(d)?.as_str().map(str::to_owned))
    }

    /// A status string; any other JSON becomes its text, a status nobody knows.
    pub fn status<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(status) => status,
            Value::Null => unknown_status(),
            other => other.to_string(),
        })
    }

    /// A whole count (seconds, milliseconds) from a number, a float or a numeric string;
    /// negative or other shapes: none.
    pub fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let seconds = match Value::deserialize(d)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        Ok(seconds
            .filter(|s| s.is_finite() && *s >= 0.0 && *s < u64::MAX as f64)
            .map(|s| s.round() as u64))
    }

    /// Epoch milliseconds as a string or a number (a float is cut to whole milliseconds).
    pub fn start_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<StringOrNumber>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Some(StringOrNumber::String(s)),
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .map(StringOrNumber::Number),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each documented error body shape yields its human text.
    #[test]
    fn error_bodies_of_every_vendor_shape_are_read() {
        let shaped = r#"{"detail":{"status":"error","description":"Assistant not found","request_id":"r","category":"not_found"}}"#;
        assert_eq!(error_detail(shaped), "Assistant not found");
        assert_eq!(
            error_detail(r#"{"error":"not_found","message":"No route matched"}"#),
            "No route matched"
        );
        assert_eq!(error_detail(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(
            error_detail("<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
        assert_eq!(error_detail(""), "(empty body)");
    }

    /// A call's state reads whatever shape its fields come in; odd ones read as absent.
    #[test]
    fn odd_field_shapes_never_make_a_call_unreadable() {
        let state = |json: &str| serde_json::from_str::<CallState>(json).unwrap();
        assert_eq!(
            state(r#"{"status":"completed","duration":12}"#).duration,
            Some(12)
        );
        assert_eq!(
            state(r#"{"status":"completed","duration":12.6}"#).duration,
            Some(13)
        );
        assert_eq!(
            state(r#"{"status":"completed","duration":"7"}"#).duration,
            Some(7)
        );
        assert_eq!(
            state(r#"{"status":"completed","duration":-3}"#).duration,
            None
        );
        assert_eq!(
            state(r#"{"status":"completed","duration":"soon"}"#).duration,
            None
        );
        assert_eq!(
            state(r#"{"status":"completed","duration":1e300}"#).duration,
            None
        );
        let odd = state(r#"{"status":7,"end_call_reason":{"x":1},"extra":[1]}"#);
        assert!(!odd.is_terminal(), "a status nobody knows is not terminal");
        assert_eq!(odd.end_call_reason, None);
        assert_eq!(state("{}").status, UNKNOWN_STATUS);
        let listed: ListedCall = serde_json::from_str(
            r#"{"call_id":"c","start_time":1.7e12,"phone_number_to":5,"lead_phone_number":"+1"}"#,
        )
        .unwrap();
        assert_eq!(listed.start_ms(), Some(1_700_000_000_000));
        assert_eq!(listed.callee(), Some("+1"));
    }
}
