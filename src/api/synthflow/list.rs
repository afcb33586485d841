//! Every call of an agent since a moment (CONTRACT A.3, `GET /v2/calls` without a phone filter),
//! for `outdial repair` to rebuild a journal from the vendor's own records, and one page of it
//! at a time for the follower, which reads the status of every live call from it.
//!
//! A child of the client module so it reaches the client's request plumbing without widening it.

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use super::{ApiError, CallState, PAGE, Sent, StringOrNumber, Synthflow, lenient, unknown_status};
use crate::phone::Phone;

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

/// A call as a page of `GET /v2/calls` shows its state: note `call_status`, not `status` (A.3).
/// Read as leniently as [`CallState`].
#[derive(Debug, Clone, Deserialize)]
pub struct CallInList {
    pub call_id: String,
    #[serde(
        rename = "call_status",
        default = "unknown_status",
        deserialize_with = "lenient::status"
    )]
    status: String,
    #[serde(default, deserialize_with = "lenient::text")]
    end_call_reason: Option<String>,
    #[serde(default, deserialize_with = "lenient::seconds")]
    duration: Option<u64>,
    #[serde(default, deserialize_with = "lenient::text")]
    telephony_disconnect_reason: Option<String>,
    /// Epoch milliseconds on the vendor's clock; absent while the call is queued (A.3).
    #[serde(default, deserialize_with = "lenient::start_time")]
    start_time: Option<StringOrNumber>,
}

impl CallInList {
    /// When the call started, on the vendor's clock, if the list says.
    pub fn started(&self) -> Option<Timestamp> {
        Timestamp::from_millisecond(self.start_time.as_ref()?.whole()?).ok()
    }

    /// The call's state, as `GET /v2/calls/{id}` would show it.
    pub fn state(self) -> CallState {
        CallState {
            status: self.status,
            end_call_reason: self.end_call_reason,
            duration: self.duration,
            // The list does not carry the ringing time (CONTRACT A.3).
            ringing_ms: None,
            disconnect_reason: self.telephony_disconnect_reason,
        }
    }
}

/// One page of `GET /v2/calls`, and how many calls the whole list has.
#[derive(Debug, Deserialize)]
pub struct ListPage {
    pub calls: Vec<CallInList>,
    pub total: usize,
}

impl Synthflow {
    /// The page at `offset` (at most 100 calls) of `model_id`'s calls that started at or after
    /// `since` (read on the vendor's clock).
    pub async fn calls_page(
        &self,
        model_id: &str,
        since: Timestamp,
        offset: usize,
    ) -> Result<ListPage, ApiError> {
        #[derive(Deserialize)]
        struct Body {
            response: Page,
        }
        #[derive(Deserialize)]
        struct Page {
            pagination: Pagination,
            calls: Vec<CallInList>,
        }
        #[derive(Deserialize)]
        struct Pagination {
            total_records: usize,
        }
        let query = [
            ("model_id", model_id.to_owned()),
            ("from_date", since.as_millisecond().to_string()),
            ("limit", PAGE.to_string()),
            ("offset", offset.to_string()),
        ];
        self.sent.add(Sent::ListPage);
        let body: Body = self.get(self.endpoint(&["calls"]), &query).await?;
        Ok(ListPage {
            calls: body.response.calls,
            total: body.response.pagination.total_records,
        })
    }

    /// Every call of `model_id` that started at or after `since` (all pages), in the order the
    /// vendor lists them (unspecified: callers sort).
    pub async fn agent_calls(
        &self,
        model_id: &str,
        since: Timestamp,
    ) -> Result<Vec<AgentCall>, ApiError> {
        self.list_calls(model_id, ("from_date", since.as_millisecond().to_string()))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(fields: Value) -> AgentCall {
        let mut call = serde_json::json!({ "call_id": "c-1" });
        call.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        serde_json::from_value(call).unwrap()
    }

    /// `lead_phone_number` names the caller or the callee: a call whose lead is the number it
    /// came from is not a call *to* that number, and `phone_number_to` wins when given.
    #[test]
    fn the_callee_is_never_the_caller() {
        let pool = "+12125550101";
        let contact = "+14155550102";
        let from_pool = listed(serde_json::json!({
            "lead_phone_number": pool, "phone_number_from": pool,
        }));
        assert_eq!(from_pool.callee(), None);
        let agent_side = listed(serde_json::json!({
            "lead_phone_number": pool, "agent_phone_number": pool,
        }));
        assert_eq!(agent_side.callee(), None);
        let explicit = listed(serde_json::json!({
            "lead_phone_number": pool, "phone_number_from": pool, "phone_number_to": contact,
        }));
        assert_eq!(explicit.callee().unwrap().as_str(), contact);
        let plain = listed(serde_json::json!({ "lead_phone_number": contact }));
        assert_eq!(plain.callee().unwrap().as_str(), contact);
    }

    /// Odd fields never make a call unreadable: a numeric start, a missing one, a null phone.
    #[test]
    fn listed_calls_are_read_leniently() {
        let call = listed(serde_json::json!({
            "start_time": 1_764_000_000_000i64, "lead_phone_number": null, "duration": 1.5,
        }));
        assert_eq!(call.start().unwrap().as_millisecond(), 1_764_000_000_000);
        assert_eq!(call.callee(), None);
        assert_eq!(listed(serde_json::json!({})).start(), None);
    }
}
