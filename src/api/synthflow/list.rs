//! Every call of an agent since a moment (CONTRACT A.3, `GET /v2/calls` without a phone filter),
//! for `outdial repair` to rebuild a journal from the vendor's own records.
//!
//! A child of the client module so it reaches the client's request plumbing without widening it.

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::{ApiError, Synthflow};
use crate::phone::Phone;

/// Page size when listing an agent's calls.
const PAGE: usize = 100;

/// A call as `GET /v2/calls` lists it, read leniently: only the id is required, since one odd
/// field must not hide a call that was made.
#[derive(Debug, Clone, Deserialize)]
pub struct AgentCall {
    pub call_id: String,
    /// The caller *or* the callee (CONTRACT A.3).
    #[serde(default)]
    lead_phone_number: Value,
    #[serde(default)]
    phone_number_to: Value,
    #[serde(default)]
    phone_number_from: Value,
    #[serde(default)]
    agent_phone_number: Value,
    /// Epoch milliseconds, as a string or a number.
    #[serde(default)]
    start_time: Value,
}

impl AgentCall {
    /// The number called: `phone_number_to` when the vendor gives it, else `lead_phone_number`
    /// unless that is the number the call came from (then the lead is the caller, not a callee).
    pub fn callee(&self) -> Option<Phone> {
        let phone = |value: &Value| {
            value
                .as_str()
                .and_then(|text| Phone::try_from(text.trim().to_owned()).ok())
        };
        if let Some(to) = phone(&self.phone_number_to) {
            return Some(to);
        }
        let lead = phone(&self.lead_phone_number)?;
        (Some(&lead) != self.caller().as_ref()).then_some(lead)
    }

    /// The caller ID the call went out from, when the vendor says.
    pub fn caller(&self) -> Option<Phone> {
        [&self.phone_number_from, &self.agent_phone_number]
            .into_iter()
            .find_map(|value| Phone::try_from(value.as_str()?.trim().to_owned()).ok())
    }

    /// When the call started, if it has.
    pub fn start(&self) -> Option<Timestamp> {
        let ms = match &self.start_time {
            Value::String(text) => text.trim().parse().ok()?,
            Value::Number(n) => n.as_i64()?,
            _ => return None,
        };
        Timestamp::from_millisecond(ms).ok()
    }
}

impl Synthflow {
    /// Every call of `model_id` that started at or after `since` (all pages), in the order the
    /// vendor lists them (unspecified: callers sort).
    pub async fn agent_calls(
        &self,
        model_id: &str,
        since: Timestamp,
    ) -> Result<Vec<AgentCall>, ApiError> {
        #[derive(Deserialize)]
        struct Body {
            response: Page,
        }
        #[derive(Deserialize)]
        struct Page {
            pagination: Pagination,
            calls: Vec<AgentCall>,
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
                ("from_date", since.as_millisecond().to_string()),
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
