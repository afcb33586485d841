//! The Flowyte `/api/v1` subset in the vendor's shapes (api/CONTRACT.md Part B): number search,
//! holds, purchase, assignment, release, import, the wallet and agent publishing.
//!
//! Every answer is the `{success, data}` envelope or an RFC 9457 `application/problem+json`
//! refusal with a machine-readable `code`. A bearer key is required on every route. Purchase and
//! publish honour `Idempotency-Key`: a repeat with the same key and body gets the first
//! successful answer again (marked `Idempotent-Replayed: true`); the same key with another body
//! is refused (422). Refusals are not remembered, so a purchase refused for funds succeeds when
//! repeated with the same key after a top-up.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::App;
use super::market::{
    Feature, Hold, Kind, Listing, Market, Owned, Refusal, Remembered, Search, Version,
};
use super::synthflow::bearer_token;
use crate::area_codes::AreaCode;
use crate::phone::Phone;

/// The vendor's documented search page size: default 20, at most 50.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 50;
/// The one organisation every sandbox key belongs to.
const ORGANIZATION: &str = "org_sandbox";

/// The `/api/v1` router, to be nested under `/api/v1`.
pub(super) fn routes(app: &App) -> Router<App> {
    Router::new()
        .route("/numbers", get(owned))
        .route("/numbers/search", get(search))
        .route("/numbers/reserve", post(reserve))
        .route("/numbers/reserve/{id}", delete(unreserve))
        .route("/numbers/purchase", post(purchase))
        .route("/numbers/import", post(import))
        .route("/numbers/{id}", delete(release))
        .route("/numbers/{id}/assign", post(assign).delete(unassign))
        .route("/billing/wallet", get(wallet))
        .route("/agents/{id}/publish", post(publish))
        .route_layer(from_fn_with_state(app.clone(), authorize))
        .fallback(no_route)
}

/// An RFC 9457 refusal.
#[derive(Debug)]
struct Problem {
    status: StatusCode,
    code: &'static str,
    detail: String,
    /// `errors[{field, message}]`, for invalid input.
    errors: Vec<(String, String)>,
}

impl Problem {
    fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    fn invalid(field: &str, message: impl Into<String>) -> Problem {
        let message = message.into();
        Problem {
            errors: vec![(field.to_owned(), message.clone())],
            ..Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                format!("{field}: {message}"),
            )
        }
    }

    fn render(self, request_id: &str) -> Response {
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|(field, message)| json!({ "field": field, "message": message }))
            .collect();
        let body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
            "instance": format!("urn:flowyte:request:{request_id}"),
            "code": self.code,
            "errors": errors,
        });
        let mut response = (self.status, Json(body)).into_response();
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl From<Refusal> for Problem {
    fn from(refusal: Refusal) -> Problem {
        let (status, code) = match &refusal {
            Refusal::UnknownNumber(_) | Refusal::UnknownOwned(_) => {
                (StatusCode::NOT_FOUND, "number_not_found")
            }
            Refusal::UnknownReservation(_) => (StatusCode::NOT_FOUND, "reservation_not_found"),
            Refusal::UnknownAgent(_) => (StatusCode::NOT_FOUND, "agent_not_found"),
            Refusal::Held(_) => (StatusCode::CONFLICT, "number_held"),
            Refusal::Sold(_) => (StatusCode::CONFLICT, "number_unavailable"),
            Refusal::StaleReservation { .. } => (StatusCode::CONFLICT, "reservation_invalid"),
            Refusal::AlreadyOwned(_) => (StatusCode::CONFLICT, "number_already_owned"),
            Refusal::ForSale(_) => (StatusCode::CONFLICT, "number_in_inventory"),
            Refusal::Insufficient { .. } => (StatusCode::PAYMENT_REQUIRED, "insufficient_balance"),
        };
        Problem::new(status, code, refusal.to_string())
    }
}

/// Handles one request under one lock of the market and wraps the outcome.
fn answer(
    app: &App,
    handle: impl FnOnce(&mut Market, i64) -> Result<(StatusCode, Value), Problem>,
) -> Response {
    let now_ms = app.now_ms();
    let mut market = app.market();
    match handle(&mut market, now_ms) {
        Ok((status, data)) => (status, Json(envelope(data))).into_response(),
        Err(problem) => problem.render(&market.request_id()),
    }
}

/// Like [`answer`], for requests that may carry an `Idempotency-Key`: a repeat of a successful
/// request is answered from memory instead of acting again.
fn answer_once(
    app: &App,
    operation: &str,
    headers: &HeaderMap,
    request: &Value,
    handle: impl FnOnce(&mut Market, i64) -> Result<(StatusCode, Value), Problem>,
) -> Response {
    let Some(key) = idempotency_key(headers) else {
        return answer(app, handle);
    };
    let now_ms = app.now_ms();
    let mut market = app.market();
    if let Some(kept) = market.recall(operation, key) {
        if kept.request != *request {
            let reused = Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                format!("Idempotency-Key {key} was used with another request body"),
            );
            return reused.render(&market.request_id());
        }
        let mut replay = (status_of(kept.status), Json(kept.body.clone())).into_response();
        replay
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return replay;
    }
    match handle(&mut market, now_ms) {
        Ok((status, data)) => {
            let body = envelope(data);
            let kept = Remembered {
                request: request.clone(),
                status: status.as_u16(),
                body: body.clone(),
            };
            market.remember(operation, key, kept);
            (status, Json(body)).into_response()
        }
        Err(problem) => problem.render(&market.request_id()),
    }
}

fn status_of(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
}

fn envelope(data: Value) -> Value {
    json!({ "success": true, "data": data })
}

fn idempotency_key(headers: &HeaderMap) -> Option<&str> {
    let key = headers.get("idempotency-key")?.to_str().ok()?.trim();
    (!key.is_empty()).then_some(key)
}

async fn authorize(State(app): State<App>, request: Request, next: Next) -> Response {
    let authorized =
        bearer_token(request.headers()).is_some_and(|token| app.market().accepts(token));
    if authorized {
        next.run(request).await
    } else {
        let problem = Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid API key: send Authorization: Bearer flowyte_sk_…",
        );
        problem.render(&app.market().request_id())
    }
}

/// Unknown paths under `/api/v1`, in the vendor's error shape.
async fn no_route(State(app): State<App>) -> Response {
    let problem = Problem::new(StatusCode::NOT_FOUND, "route_not_found", "No route matched");
    problem.render(&app.market().request_id())
}

async fn search(State(app): State<App>, Query(params): Query<Vec<(String, String)>>) -> Response {
    answer(&app, |market, now_ms| {
        let query = search_query(&params)?;
        let found: Vec<Value> = market
            .search(&query, now_ms)
            .into_iter()
            .map(listing_json)
            .collect();
        Ok((StatusCode::OK, Value::Array(found)))
    })
}

/// `GET /numbers`: our extension of the contract (see `Flowyte::owned`), in id order.
async fn owned(State(app): State<App>) -> Response {
    answer(&app, |market, _| {
        let numbers = market.owned().map(|o| number_json(o, o.status())).collect();
        Ok((StatusCode::OK, Value::Array(numbers)))
    })
}

async fn reserve(State(app): State<App>, body: Bytes) -> Response {
    answer(&app, |market, now_ms| {
        let fields = json_object(&body)?;
        let e164 = e164_field(&fields, "e164")?;
        let hold = market.reserve(&e164, now_ms)?;
        Ok((StatusCode::CREATED, hold_json(hold, "active")))
    })
}

async fn unreserve(State(app): State<App>, Path(id): Path<String>) -> Response {
    answer(&app, |market, now_ms| {
        let hold = market.unreserve(&id, now_ms)?;
        Ok((StatusCode::OK, hold_json(&hold, "released")))
    })
}

async fn purchase(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match json_object(&body) {
        Ok(fields) => fields,
        Err(problem) => return answer(&app, |_, _| Err(problem)),
    };
    let request = Value::Object(fields.clone());
    answer_once(&app, "purchase", &headers, &request, |market, now_ms| {
        let e164 = e164_field(&fields, "e164")?;
        let reservation = optional_text(&fields, "reservationId")?;
        let owned = market.purchase(&e164, reservation, now_ms)?;
        Ok((StatusCode::CREATED, number_json(owned, owned.status())))
    })
}

async fn import(State(app): State<App>, body: Bytes) -> Response {
    answer(&app, |market, now_ms| {
        let fields = json_object(&body)?;
        let e164 = e164_field(&fields, "e164")?;
        let provider = optional_text(&fields, "provider")?
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| {
                Problem::invalid("provider", "is required: the carrier the number comes from")
            })?;
        let agent = optional_text(&fields, "agentId")?;
        let owned = market.import(&e164, provider.trim(), agent, now_ms)?;
        Ok((StatusCode::CREATED, number_json(owned, owned.status())))
    })
}

async fn assign(State(app): State<App>, Path(id): Path<String>, body: Bytes) -> Response {
    answer(&app, |market, _| {
        let fields = json_object(&body)?;
        let agent = optional_text(&fields, "agentId")?
            .filter(|a| !a.trim().is_empty())
            .ok_or_else(|| Problem::invalid("agentId", "is required"))?;
        let owned = market.assign(&id, agent.trim())?;
        Ok((StatusCode::OK, number_json(owned, owned.status())))
    })
}

async fn unassign(State(app): State<App>, Path(id): Path<String>) -> Response {
    answer(&app, |market, _| {
        let owned = market.unassign(&id)?;
        Ok((StatusCode::OK, number_json(owned, owned.status())))
    })
}

async fn release(State(app): State<App>, Path(id): Path<String>) -> Response {
    answer(&app, |market, _| {
        let gone = market.release(&id)?;
        Ok((StatusCode::OK, number_json(&gone, "released")))
    })
}

async fn wallet(State(app): State<App>) -> Response {
    answer(&app, |market, _| {
        let wallet = json!({
            "balanceUsd": market.balance().as_f64(),
            "autoReloadEnabled": false,
            "autoReloadThresholdUsd": null,
            "autoReloadAmountUsd": null,
        });
        Ok((StatusCode::OK, wallet))
    })
}

async fn publish(
    State(app): State<App>,
    Path(agent): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // An empty body is a publish without a note.
    let fields = if body.is_empty() {
        Ok(Map::new())
    } else {
        json_object(&body)
    };
    let fields = match fields {
        Ok(fields) => fields,
        Err(problem) => return answer(&app, |_, _| Err(problem)),
    };
    let request = json!({ "agent": agent, "body": fields });
    answer_once(&app, "publish", &headers, &request, |market, now_ms| {
        let note = optional_text(&fields, "note")?.map(str::to_owned);
        let version = market.publish(&agent, note, now_ms)?;
        Ok((StatusCode::CREATED, version_json(version)))
    })
}

/// The search parameters, checked the way the vendor documents them. Unknown ones are ignored.
fn search_query(params: &[(String, String)]) -> Result<Search, Problem> {
    let one: HashMap<&str, &str> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let text = |name: &str| one.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    Ok(Search {
        country: text("country").map(two_letters("country")).transpose()?,
        area_code: text("areaCode").map(area_code).transpose()?,
        locality: text("locality").map(str::to_owned),
        administrative_area: text("administrativeArea")
            .map(two_letters("administrativeArea"))
            .transpose()?,
        kind: text("numberType").map(kind).transpose()?,
        features: features(params)?,
        contains: text("contains").map(digits("contains")).transpose()?,
        starts_with: text("startsWith").map(digits("startsWith")).transpose()?,
        ends_with: text("endsWith").map(digits("endsWith")).transpose()?,
        best_effort: text("bestEffort").map_or(Ok(true), best_effort)?,
        limit: text("limit").map_or(Ok(DEFAULT_LIMIT), limit)?,
    })
}

fn area_code(written: &str) -> Result<AreaCode, Problem> {
    match written.parse::<u16>() {
        Ok(code) if written.len() == 3 && (200..1000).contains(&code) => Ok(AreaCode(code)),
        _ => Err(Problem::invalid(
            "areaCode",
            "must be a three-digit area code such as 415",
        )),
    }
}

fn two_letters(field: &'static str) -> impl Fn(&str) -> Result<String, Problem> {
    move |written| {
        if written.len() == 2 && written.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(written.to_ascii_uppercase())
        } else {
            Err(Problem::invalid(
                field,
                "must be a two-letter code such as CA",
            ))
        }
    }
}

fn kind(written: &str) -> Result<Kind, Problem> {
    Kind::parse(written).ok_or_else(|| {
        Problem::invalid("numberType", "must be local, toll_free, national or mobile")
    })
}

/// `features`, repeated or comma-joined.
fn features(params: &[(String, String)]) -> Result<Vec<Feature>, Problem> {
    params
        .iter()
        .filter(|(name, _)| name == "features")
        .flat_map(|(_, value)| value.split(','))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(|value| {
            Feature::parse(value).ok_or_else(|| {
                Problem::invalid(
                    "features",
                    format!("`{value}` is not one of voice, sms, mms, fax, emergency"),
                )
            })
        })
        .collect()
}

fn digits(field: &'static str) -> impl Fn(&str) -> Result<String, Problem> {
    move |written| {
        if (1..=10).contains(&written.len()) && written.bytes().all(|b| b.is_ascii_digit()) {
            Ok(written.to_owned())
        } else {
            Err(Problem::invalid(field, "must be 1 to 10 digits"))
        }
    }
}

fn best_effort(written: &str) -> Result<bool, Problem> {
    written
        .parse()
        .map_err(|_| Problem::invalid("bestEffort", "must be true or false"))
}

fn limit(written: &str) -> Result<usize, Problem> {
    match written.parse::<usize>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(Problem::invalid(
            "limit",
            format!("must be 1 to {MAX_LIMIT}"),
        )),
    }
}

fn json_object(body: &[u8]) -> Result<Map<String, Value>, Problem> {
    let invalid = |detail: String| Problem::new(StatusCode::BAD_REQUEST, "invalid_body", detail);
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(invalid("the request body must be a JSON object".to_owned())),
        Err(error) => Err(invalid(format!("the request body is not JSON: {error}"))),
    }
}

/// A string field; `null` counts as absent.
fn optional_text<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, Problem> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Problem::invalid(name, "must be a string")),
    }
}

fn e164_field(fields: &Map<String, Value>, name: &str) -> Result<Phone, Problem> {
    let written =
        optional_text(fields, name)?.ok_or_else(|| Problem::invalid(name, "is required"))?;
    Phone::try_from(written.to_owned()).map_err(|_| {
        Problem::invalid(
            name,
            format!("`{written}` is not an E.164 number such as +14155550102"),
        )
    })
}

fn listing_json(listing: &Listing) -> Value {
    let features: Vec<&str> = listing.features.iter().map(|f| f.as_str()).collect();
    json!({
        "e164": listing.e164.as_str(),
        "formatted": formatted(&listing.e164),
        "locality": listing.locality,
        "region": listing.region,
        "rateCenter": listing.locality.as_ref().map(|l| l.to_uppercase()),
        "features": features,
        "monthlyCost": listing.monthly.as_f64(),
        "setupCost": listing.setup.as_f64(),
        "currency": "USD",
        "reservable": true,
        "vanityFormat": null,
    })
}

/// `(415) 555-0102`, the national format.
fn formatted(e164: &Phone) -> String {
    let digits = e164.as_str().get(2..).unwrap_or_default();
    match (digits.get(..3), digits.get(3..6), digits.get(6..)) {
        (Some(npa), Some(exchange), Some(line)) => format!("({npa}) {exchange}-{line}"),
        _ => e164.to_string(),
    }
}

fn hold_json(hold: &Hold, status: &str) -> Value {
    json!({
        "id": hold.id,
        "e164": hold.e164.as_str(),
        "status": status,
        "createdAt": rfc3339(hold.created_ms),
        "expiresAt": rfc3339(hold.expires_ms),
    })
}

fn number_json(owned: &Owned, status: &str) -> Value {
    json!({
        "id": owned.id,
        "organizationId": ORGANIZATION,
        "e164": owned.e164.as_str(),
        "provider": owned.provider,
        "defaultAgentId": owned.agent,
        "monthlyCost": owned.monthly.as_f64(),
        "createdAt": rfc3339(owned.created_ms),
        "status": status,
    })
}

fn version_json(version: &Version) -> Value {
    json!({
        "agentId": version.agent,
        "version": version.number,
        "note": version.note,
        "publishedAt": rfc3339(version.at_ms),
    })
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The documented defaults apply, features may repeat or be comma-joined, and each bad
    /// parameter is named in the refusal.
    #[test]
    fn search_parameters_are_checked_as_documented() {
        let defaults = search_query(&[]).unwrap();
        assert!(defaults.best_effort);
        assert_eq!(defaults.limit, 20);
        let query = search_query(&params(&[
            ("features", "voice,sms"),
            ("features", "mms"),
            ("administrativeArea", "ca"),
            ("bestEffort", "false"),
        ]))
        .unwrap();
        assert_eq!(query.features, [Feature::Voice, Feature::Sms, Feature::Mms]);
        assert_eq!(query.administrative_area.as_deref(), Some("CA"));
        assert!(!query.best_effort);
        for (name, value) in [
            ("limit", "51"),
            ("limit", "0"),
            ("areaCode", "41"),
            ("numberType", "landline"),
            ("features", "telepathy"),
            ("contains", "55x"),
            ("bestEffort", "maybe"),
        ] {
            let problem = search_query(&params(&[(name, value)])).unwrap_err();
            assert_eq!(problem.errors[0].0, name);
        }
    }

    /// `formatted` is the NANP national form people read.
    #[test]
    fn numbers_are_formatted_nationally() {
        let phone = Phone::try_from("+14155550102".to_owned()).unwrap();
        assert_eq!(formatted(&phone), "(415) 555-0102");
    }
}
