//! The agent's pool routes (CONTRACT A.5, A.6): attach numbers or slugs, detach one slug.
//!
//! A child of the `/v2` module so it shares its error shape and single-lock [`answer`].
//! Attaching adds to the pool and skips numbers already in it (the vendor leaves re-attaching
//! undocumented; additive and idempotent is the least surprising reading).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::{ApiError, App, Refusal, answer};
use crate::phone::Phone;

/// `PUT /v2/assistants/{model_id}/phone_numbers`
pub(super) async fn attach_numbers(
    State(app): State<App>,
    Path(model_id): Path<String>,
    body: Bytes,
) -> Response {
    answer(&app, |world, _| {
        let numbers = attach_request(&body)?;
        let agent = world
            .agent_mut(&model_id)
            .ok_or_else(|| Refusal::UnknownAgent(model_id.clone()))?;
        for number in numbers {
            if !agent.pool.contains(&number) {
                agent.pool.push(number);
            }
        }
        Ok(Json(json!({ "status": "ok" })))
    })
}

/// `DELETE /v2/assistants/{model_id}/phone_numbers/{slug}`
pub(super) async fn detach_number(
    State(app): State<App>,
    Path((model_id, slug)): Path<(String, String)>,
) -> Response {
    answer(&app, |world, _| {
        let agent = world
            .agent_mut(&model_id)
            .ok_or_else(|| Refusal::UnknownAgent(model_id.clone()))?;
        let index = agent
            .pool
            .iter()
            .position(|number| number.slug() == slug)
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "Phone number {slug} is not attached to assistant {model_id}"
                ))
            })?;
        agent.pool.remove(index);
        Ok(Json(json!({ "status": "ok" })))
    })
}

/// The numbers an attach body names: exactly one of the two lists, not empty.
fn attach_request(body: &[u8]) -> Result<Vec<Phone>, ApiError> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("request body is not JSON: {error}")))?;
    let numbers = body.get("phone_numbers").filter(|v| !v.is_null());
    let slugs = body.get("phone_number_slugs").filter(|v| !v.is_null());
    let (list, by_slug) = match (numbers, slugs) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "send either phone_numbers or phone_number_slugs, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "phone_numbers or phone_number_slugs is required",
            ));
        }
        (Some(list), None) => (list, false),
        (None, Some(list)) => (list, true),
    };
    let field = if by_slug {
        "phone_number_slugs"
    } else {
        "phone_numbers"
    };
    let items = list
        .as_array()
        .filter(|items| !items.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(format!("{field} must be a non-empty array of strings"))
        })?;
    items
        .iter()
        .map(|item| {
            let text = item
                .as_str()
                .ok_or_else(|| ApiError::bad_request(format!("{field} must hold strings")))?;
            if by_slug { slug(text) } else { e164(text) }
        })
        .collect()
}

fn e164(text: &str) -> Result<Phone, ApiError> {
    Phone::try_from(text.to_owned())
        .map_err(|_| ApiError::bad_request(format!("{text} is not an E.164 phone number")))
}

/// A slug names a number of the workspace; one that is no valid number cannot be in it.
fn slug(text: &str) -> Result<Phone, ApiError> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| Phone::try_from(format!("+{text}")).ok())
        .flatten()
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "No phone number with slug {text} in this workspace"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exactly one list is accepted; both, neither, or an empty one is a 400.
    #[test]
    fn an_attach_body_names_numbers_or_slugs_not_both() {
        let read = |body: Value| attach_request(body.to_string().as_bytes());
        let numbers = read(json!({ "phone_numbers": ["+14155550102"] })).unwrap();
        let slugs = read(json!({ "phone_number_slugs": ["14155550102"] })).unwrap();
        assert_eq!(numbers, slugs);
        let both =
            json!({ "phone_numbers": ["+14155550102"], "phone_number_slugs": ["14155550102"] });
        for bad in [both, json!({}), json!({ "phone_numbers": [] })] {
            assert_eq!(read(bad).unwrap_err().status.as_u16(), 400);
        }
        let unknown = read(json!({ "phone_number_slugs": ["1415"] })).unwrap_err();
        assert_eq!(unknown.status.as_u16(), 404);
    }
}
