//! The Synthflow client: the calls the dialer makes, with the
//! vendor's shapes (see `shared/api/CONTRACT.md`) and its errors sorted by what the dialer must do.

use std::time::Duration;

use reqwest::{Response, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::campaign::ApiKey;
use crate::contacts::CustomVariable;
use crate::phone::Phone;

mod list;
mod pool;
pub use list::AgentCall;
pub use pool::{Attach, Slug, SlugError};

pub const DEFAULT_BASE_URL: &str = "https://api.synthflow.ai/v2";

/// `GET /v2/calls` page size when looking for a call whose creation is uncertain.
const PAGE: usize = 100;

/// A Synthflow account, reached at `base` (`…/v2`) with one key. Cheap to clone.
#[derive(Clone)]
pub struct Synthflow {
    http: reqwest::Client,
    base: Url,
    key: ApiKey,
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

/// A call as `GET /v2/calls` lists it (only the fields the dialer reads).
#[derive(Debug, Clone, Deserialize)]
pub struct ListedCall {
    pub call_id: String,
    /// Epoch milliseconds, sent as a string.
    #[serde(default)]
    pub start_time: Option<StringOrNumber>,
}

/// A call's state as `GET /v2/calls/{id}` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallState {
    pub status: String,
    #[serde(default)]
    pub end_call_reason: Option<String>,
    /// Seconds.
    #[serde(default)]
    pub duration: Option<u64>,
}

impl CallState {
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
            base: base.clone(),
            key,
        })
    }

    /// An authenticated `GET`, its answer decoded or sorted into an [`ApiError`].
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        url: Url,
        query: &[(&str, String)],
    ) -> Result<T, ApiError> {
        read(
            self.http
                .get(url)
                .bearer_auth(self.key.expose())
                .query(query)
                .send()
                .await,
        )
        .await
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
        let sent = self
            .http
            .post(url)
            .bearer_auth(self.key.expose())
            .json(request)
            .send()
            .await;
        let body: Body = read(sent).await?;
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
        #[derive(Deserialize)]
        struct Body {
            response: Page,
        }
        #[derive(Deserialize)]
        struct Page {
            pagination: Pagination,
            calls: Vec<ListedCall>,
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
                ("lead_phone_number", phone.as_str().to_owned()),
                ("limit", PAGE.to_string()),
                ("offset", calls.len().to_string()),
            ];
            let page: Body = self.get(url.clone(), &query).await?;
            let got = page.response.calls.len();
            calls.extend(page.response.calls);
            if got == 0 || calls.len() >= page.response.pagination.total_records {
                return Ok(calls);
            }
        }
    }
}

impl ListedCall {
    pub fn start_ms(&self) -> Option<i64> {
        match self.start_time.as_ref()? {
            StringOrNumber::String(s) => s.trim().parse().ok(),
            StringOrNumber::Number(n) => Some(*n),
        }
    }
}

/// Sorts an answer into success (decoded) or an [`ApiError`].
async fn read<T: serde::de::DeserializeOwned>(
    sent: reqwest::Result<Response>,
) -> Result<T, ApiError> {
    let response = sent.map_err(|e| ApiError::Transport(describe(&e)))?;
    let status = response.status();
    let retry_after = retry_after(&response);
    let text = response
        .text()
        .await
        .map_err(|e| ApiError::Transport(describe(&e)))?;
    if status.is_success() {
        return serde_json::from_str(&text)
            .map_err(|e| ApiError::Unexpected(format!("{e} in {}", clip(&text))));
    }
    let detail = error_detail(&text);
    let code = status.as_u16();
    Err(match status {
        StatusCode::UNAUTHORIZED | StatusCode::PAYMENT_REQUIRED | StatusCode::FORBIDDEN => {
            ApiError::Account {
                status: code,
                detail,
            }
        }
        StatusCode::TOO_MANY_REQUESTS => ApiError::RateLimited { retry_after },
        s if s.is_server_error() => ApiError::Server {
            status: code,
            detail,
        },
        _ => ApiError::Refused {
            status: code,
            detail,
        },
    })
}

/// reqwest's error text without the URL (which is ours anyway) but with its cause chain.
pub(super) fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub(super) fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The vendor's error bodies are not uniform (CONTRACT A.0): try each known shape, else the text.
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
    detail.map(str::to_owned).unwrap_or_else(|| clip(text))
}

pub(super) fn clip(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None if text.is_empty() => "(empty body)".to_owned(),
        None => text.to_owned(),
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
}
