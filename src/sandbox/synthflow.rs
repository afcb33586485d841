//! The Synthflow `/v2` subset the dialer uses, in the vendor's exact shapes (api/CONTRACT.md
//! Part A): the assistant with its attached pool, call creation, one call, and the call list.
//!
//! Layers, outermost first: the answer delay and delivery (every route: latency, the latency
//! tail, slow and dropped answers), the create-call record (only `POST /calls`, outside the key
//! check so refused attempts are recorded too), the key check with the account's refusal, and
//! fault injection (only `POST /calls`: bursts of 429, 500s, marking answers to drop or delay).
//! The account's live and per-second limits are checked by the world's create itself, under
//! the same lock as the create, so two requests cannot both take the last slot.

use std::collections::HashMap;
use std::str::FromStr;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::header::{AUTHORIZATION, DATE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json, Router};
use serde_json::{Map, Value, json};

use super::App;
use super::faults::{AccountRefusal, Fate, Fault, Faults, RetryAfterForm};
use super::limits::LimitHit;
use super::stats::Served;
use super::world::{Agent, Call, CallFilter, CallRequest, ReceivedCall, Refusal, World};
use crate::phone::Phone;

mod pool;

/// Create-call bodies are a few hundred bytes; anything near this is a client bug.
const MAX_BODY_BYTES: usize = 1 << 20;
/// The vendor's documented default page size.
const DEFAULT_LIMIT: usize = 20;
/// The vendor documents no maximum; capping keeps a careless client from asking for everything.
const MAX_LIMIT: usize = 100;

/// The `/v2` router, to be nested under `/v2`.
pub(super) fn routes(app: &App) -> Router<App> {
    // Method-level layers, so only POSTs are recorded: a router-level layer would also wrap the
    // 405 answer to, say, `PUT /calls`.
    let create = post(create_call)
        .route_layer(from_fn_with_state(app.clone(), inject_faults))
        .route_layer(from_fn_with_state(app.clone(), authorize))
        .route_layer(from_fn_with_state(app.clone(), record_create));
    Router::new()
        .route("/assistants/{model_id}", get(get_assistant))
        .route("/calls", get(list_calls))
        .route("/calls/{call_id}", get(get_call))
        .route(
            "/assistants/{model_id}/phone_numbers",
            put(pool::attach_numbers),
        )
        .route(
            "/assistants/{model_id}/phone_numbers/{slug}",
            delete(pool::detach_number),
        )
        .route_layer(from_fn_with_state(app.clone(), authorize))
        .route("/calls", create)
        .route_layer(from_fn_with_state(app.clone(), delay_answer))
        .route_layer(from_fn_with_state(app.clone(), skewed_date))
        .route_layer(from_fn_with_state(app.clone(), quote_key))
        .route_layer(from_fn_with_state(app.clone(), count_route))
}

/// Counts every request by its route before anything else sees it, so the count is what the
/// client sent, whatever the answer.
async fn count_route(State(app): State<App>, request: Request, next: Next) -> Response {
    let path = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let route = format!("{} {path}", request.method());
    let query = request.uri().query().unwrap_or_default().to_owned();
    let at_ms = app.now_ms();
    app.world().served(Served {
        at_ms,
        route,
        query,
    });
    next.run(request).await
}

/// With the `quote_key` fault, rewrites every refusal to quote the bearer token it came with.
async fn quote_key(State(app): State<App>, request: Request, next: Next) -> Response {
    let token = bearer_token(request.headers()).map(str::to_owned);
    let response = next.run(request).await;
    let quoting = app.world().faults().quote_key;
    let refused = response.status().is_client_error() || response.status().is_server_error();
    match token {
        Some(token) if quoting && refused => {
            let description =
                format!("request refused (Authorization: Bearer {token}); key {token} was used");
            let detail = json!({ "status": "error", "description": description });
            let (parts, _) = response.into_parts();
            let body = Body::from(json!({ "detail": detail }).to_string());
            let mut quoted = Response::from_parts(parts, body);
            quoted
                .headers_mut()
                .remove(axum::http::header::CONTENT_LENGTH);
            quoted
        }
        _ => response,
    }
}

/// Dates every answer by the vendor's clock, skewed by the `clock_skew_ms` fault (hyper adds
/// its own `Date` only when an answer has none).
async fn skewed_date(State(app): State<App>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let skew_ms = app.world().faults().clock_skew_ms;
    let now = app.clock.now_system();
    let skew = Duration::from_millis(skew_ms.unsigned_abs());
    let theirs = if skew_ms >= 0 {
        now.checked_add(skew)
    } else {
        now.checked_sub(skew)
    };
    if let Some(date) = theirs.and_then(|t| HeaderValue::from_str(&httpdate::fmt_http_date(t)).ok())
    {
        response.headers_mut().insert(DATE, date);
    }
    response
}

/// A refusal in Synthflow's `{"detail": {status, description, request_id, category}}` shape.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    category: &'static str,
    description: String,
    /// Set when a fault or a limit, not the request, caused the refusal; tags the response.
    fault: Option<Fault>,
}

impl ApiError {
    fn new(status: StatusCode, category: &'static str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            category,
            description: description.into(),
            fault: None,
        }
    }

    fn caused_by(self, fault: Fault) -> ApiError {
        ApiError {
            fault: Some(fault),
            ..self
        }
    }

    /// 429 in the usual shape; the vendor documents no body for it (CONTRACT A.7).
    fn too_many(description: impl Into<String>, fault: Fault) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", description).caused_by(fault)
    }

    fn server_error() -> ApiError {
        let description = "Internal server error";
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            description,
        )
        .caused_by(Fault::ServerError)
    }

    fn account_refused(refusal: AccountRefusal) -> ApiError {
        let error = match refusal {
            AccountRefusal::PaymentRequired => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment_required",
                "Insufficient balance: top up the workspace to place calls",
            ),
            AccountRefusal::Forbidden => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "This API key has no access to this workspace",
            ),
        };
        error.caused_by(Fault::Refused)
    }

    fn bad_request(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", description)
    }

    fn not_found(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", description)
    }

    fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Invalid API key")
    }

    fn body_too_large() -> ApiError {
        let description = format!("request body is over {MAX_BODY_BYTES} bytes");
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "bad_request", description)
    }

    fn render(self, request_id: String) -> Response {
        let detail = json!({
            "status": "error",
            "description": self.description,
            "request_id": request_id,
            "category": self.category,
        });
        let mut response = (self.status, Json(json!({ "detail": detail }))).into_response();
        if let Some(fault) = self.fault {
            response.extensions_mut().insert(fault);
        }
        response
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> ApiError {
        match refusal {
            Refusal::UnknownAgent(_) => ApiError::not_found(refusal.to_string()),
            Refusal::NotAttached { .. } | Refusal::EmptyPool(_) => {
                ApiError::bad_request(refusal.to_string())
            }
            Refusal::OverLimit(hit) => {
                let fault = match hit {
                    LimitHit::Live { .. } => Fault::LiveLimit,
                    LimitHit::Rate { .. } => Fault::RateLimit,
                };
                ApiError::too_many(hit.to_string(), fault)
            }
        }
    }
}

/// Handles one request under a single lock of the world, so each answer sees one instant of it,
/// and renders a refusal with a request id from the seeded dice.
fn answer<R: IntoResponse>(
    app: &App,
    handle: impl FnOnce(&mut World, i64) -> Result<R, ApiError>,
) -> Response {
    let now_ms = app.now_ms();
    let mut world = app.world();
    match handle(&mut world, now_ms) {
        Ok(answer) => answer.into_response(),
        Err(error) => {
            let request_id = world.request_id();
            error.render(request_id)
        }
    }
}

fn refuse(app: &App, error: ApiError) -> Response {
    answer(app, |_, _| Err::<(), _>(error))
}

/// How the outermost layer must deliver an answer whose call was created, set by
/// [`inject_faults`] and acted on by [`delay_answer`] once the request is on the record.
#[derive(Debug, Clone, Copy)]
enum Delivery {
    /// Answer after this long instead of the usual latency.
    Late(Duration),
    /// Close the connection instead of answering.
    Severed,
}

/// Waits after handling and before answering: a client that gives up mid-wait leaves a created
/// call it never heard about, which is the vendor's real hazard with a non-idempotent POST.
/// Slow and dropped answers are delivered here, after the record is written, so a client that
/// hangs up cannot keep its request off the record.
async fn delay_answer(State(app): State<App>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let delivery = response.extensions().get::<Delivery>().copied();
    let pause = match delivery {
        Some(Delivery::Late(pause)) => pause,
        _ => app.world().answer_delay(),
    };
    let held = pause.is_zero() || app.hold(pause).await;
    match delivery {
        Some(Delivery::Severed) => sever(response),
        // The server is stopping: the client would not get this answer in time anyway.
        _ if !held => sever(response),
        _ => response,
    }
}

/// The key check, then the account's refusal: a wrong key is 401 even when the account would
/// refuse, because the vendor must know whose account it is before it can refuse it.
async fn authorize(State(app): State<App>, request: Request, next: Next) -> Response {
    let verdict = {
        let world = app.world();
        match bearer_token(request.headers()) {
            Some(token) if world.accepts(token) => world.refusal().map(ApiError::account_refused),
            _ => Some(ApiError::unauthorized()),
        }
    };
    match verdict {
        None => next.run(request).await,
        Some(error) => refuse(&app, error),
    }
}

/// Rolls the create's fate: a burst 429 or a 500 answers at once and creates nothing; a
/// dropped or slow fate lets the create through and marks its answer for [`delay_answer`].
async fn inject_faults(State(app): State<App>, request: Request, next: Next) -> Response {
    let fate = app.world().fate();
    match fate {
        Fate::Burst { retry_after, form } => burst_answer(&app, retry_after, form),
        Fate::ServerError => refuse(&app, ApiError::server_error()),
        Fate::Unreachable => {
            let description = "the callee cannot be reached: its carrier rejects the call";
            refuse(
                &app,
                ApiError::bad_request(description).caused_by(Fault::Unreachable),
            )
        }
        Fate::Plain => next.run(request).await,
        Fate::Dropped => mark_created(next.run(request).await, Fault::Dropped, Delivery::Severed),
        Fate::Slow(pause) => {
            mark_created(next.run(request).await, Fault::Slow, Delivery::Late(pause))
        }
    }
}

fn burst_answer(app: &App, retry_after: Option<u32>, form: RetryAfterForm) -> Response {
    let description = "Rate limit exceeded, please retry later";
    let mut response = refuse(app, ApiError::too_many(description, Fault::Burst));
    let header = form.header(retry_after, app.clock.now_system());
    if let Some(value) = header.and_then(|v| HeaderValue::from_str(&v).ok()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// Tags an answer that created a call; a create refused for its own reasons stays as it is,
/// since no call exists whose answer could be lost.
fn mark_created(mut response: Response, fault: Fault, delivery: Delivery) -> Response {
    if response.extensions().get::<CallCreated>().is_some() {
        response.extensions_mut().insert(fault);
        response.extensions_mut().insert(delivery);
    }
    response
}

/// The answer with a body that fails before its first byte. hyper writes the head together with
/// the first body bytes, so on the error it closes the connection with nothing sent: the client
/// sees the connection end without a status line (`tests/sandbox_faults.rs` checks this).
fn sever(response: Response) -> Response {
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Body::new(Severed))
}

/// A response body that is only an error.
struct Severed;

impl http_body::Body for Severed {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
        let error = io::Error::new(io::ErrorKind::ConnectionAborted, "sandbox: dropped answer");
        Poll::Ready(Some(Err(error)))
    }
}

/// The non-empty token of an `Authorization: Bearer <token>` header.
pub(super) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Marks an answer that created a call, for [`record_create`].
#[derive(Debug, Clone)]
struct CallCreated(String);

/// Puts every create-call request on the record with the answer it got, whatever that was.
async fn record_create(State(app): State<App>, request: Request, next: Next) -> Response {
    let at_ms = app.now_ms();
    let (parts, body) = request.into_parts();
    let (body, response) = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => {
            let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let request = Request::from_parts(parts, Body::from(bytes));
            (json, next.run(request).await)
        }
        Err(_) => (Value::Null, refuse(&app, ApiError::body_too_large())),
    };
    let call_id = response
        .extensions()
        .get::<CallCreated>()
        .map(|created| created.0.clone());
    let received = ReceivedCall {
        at_ms,
        phone: text_field(&body, "phone"),
        from_phone_number: text_field(&body, "from_phone_number"),
        model_id: text_field(&body, "model_id"),
        status: response.status().as_u16(),
        call_id,
        body,
        fault: response.extensions().get::<Fault>().copied(),
    };
    tracing::debug!(
        status = received.status,
        call_id = ?received.call_id,
        fault = ?received.fault,
        "create-call request"
    );
    app.world().record(received);
    response
}

fn text_field(body: &Value, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_string)
}

async fn get_assistant(State(app): State<App>, Path(model_id): Path<String>) -> Response {
    answer(&app, |world, _| {
        let agent = world
            .agent(&model_id)
            .ok_or_else(|| Refusal::UnknownAgent(model_id.clone()))?;
        Ok(Json(page(
            "assistants",
            vec![assistant_json(agent)],
            1,
            1,
            0,
        )))
    })
}

async fn create_call(State(app): State<App>, body: Bytes) -> Response {
    answer(&app, |world, now_ms| {
        let call = world.create_call(call_request(&body)?, now_ms)?;
        let created = json!({
            "status": "ok",
            "response": { "answer": "Call initiated", "call_id": call.id },
            "eta": 1,
        });
        Ok((Extension(CallCreated(call.id.clone())), Json(created)))
    })
}

async fn get_call(State(app): State<App>, Path(call_id): Path<String>) -> Response {
    answer(&app, |world, now_ms| {
        let faults = *world.faults();
        let not_found = || ApiError::not_found(format!("No call found with call_id {call_id}"));
        if faults.forget_calls {
            return Err(not_found());
        }
        let call = world.call(&call_id).ok_or_else(not_found)?;
        let shown = call_json(call, now_ms, &faults);
        Ok(Json(page("calls", vec![shown], 1, 1, 0)))
    })
}

async fn list_calls(
    State(app): State<App>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    answer(&app, |world, now_ms| {
        let faults = *world.faults();
        let mut query = ListQuery::parse(&params)?;
        // `from_date` is on the vendor's clock; calls are kept on ours.
        query.filter.from_ms =
            (query.filter.from_ms).map(|from_ms| from_ms.saturating_sub(faults.clock_skew_ms));
        let matching: Vec<&Call> = world
            .calls(&query.filter)
            .filter(|call| !faults.forget_calls && !faults.list_omits.hit(call.list_roll))
            .collect();
        let calls = matching
            .iter()
            .skip(query.offset)
            .take(query.limit)
            .map(|call| listed_call_json(call, now_ms, &faults))
            .collect();
        Ok(Json(page(
            "calls",
            calls,
            matching.len(),
            query.limit,
            query.offset,
        )))
    })
}

/// Checks a create-call body the way the vendor's schema does: three required strings, an E.164
/// callee, optional caller ID and `[{key, value}]` variables.
fn call_request(body: &[u8]) -> Result<CallRequest, ApiError> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::bad_request(format!("request body is not JSON: {error}")))?;
    let fields = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("request body must be a JSON object"))?;
    let model_id = required_text(fields, "model_id")?;
    let phone = required_text(fields, "phone")?;
    let name = required_text(fields, "name")?;
    let to = Phone::try_from(phone.to_string()).map_err(|error| {
        ApiError::bad_request(format!(
            "phone {phone} is not a valid E.164 number: {error}"
        ))
    })?;
    Ok(CallRequest {
        model_id: model_id.to_string(),
        to,
        name: name.to_string(),
        from: optional_text(fields, "from_phone_number")?.map(str::to_string),
        prompt_variables: prompt_variables(fields.get("custom_variables"))?,
    })
}

fn required_text<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, ApiError> {
    optional_text(fields, name)?.ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
}

/// A string field, with `null` meaning absent as most JSON clients write an unset option.
fn optional_text<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be a string"))),
    }
}

/// `custom_variables: [{key, value}]` as the `prompt_variables` object the call GET echoes.
fn prompt_variables(list: Option<&Value>) -> Result<Map<String, Value>, ApiError> {
    let items = match list {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::bad_request(
                "custom_variables must be an array of {\"key\": string, \"value\": string}",
            ));
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let key = item.get("key").and_then(Value::as_str);
            let value = item.get("value").and_then(Value::as_str);
            match (key, value) {
                (Some(key), Some(value)) => Ok((key.to_string(), Value::from(value))),
                _ => Err(ApiError::bad_request(format!(
                    "custom_variables[{index}] must be {{\"key\": string, \"value\": string}}"
                ))),
            }
        })
        .collect()
}

/// The query of `GET /v2/calls`, checked.
struct ListQuery {
    filter: CallFilter,
    limit: usize,
    offset: usize,
}

impl ListQuery {
    fn parse(params: &HashMap<String, String>) -> Result<ListQuery, ApiError> {
        let model_id = params
            .get("model_id")
            .map(|id| id.trim())
            .filter(|id| !id.is_empty())
            .ok_or_else(|| ApiError::bad_request("model_id is required"))?;
        let lead = params
            .get("lead_phone_number")
            .map(|raw| lead_phone(raw))
            .transpose()?;
        let limit = whole_number(params, "limit")?;
        Ok(ListQuery {
            filter: CallFilter {
                model_id: model_id.to_string(),
                lead,
                from_ms: whole_number(params, "from_date")?,
            },
            limit: limit.map_or(DEFAULT_LIMIT, |limit: usize| limit.min(MAX_LIMIT)),
            offset: whole_number(params, "offset")?.unwrap_or(0),
        })
    }
}

/// The whole number in query parameter `name`, if it is given.
fn whole_number<T: FromStr>(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, ApiError> {
    let Some(raw) = params.get(name) else {
        return Ok(None);
    };
    let number = raw.trim().parse().map_err(|_| {
        ApiError::bad_request(format!("{name} must be a whole number, got `{raw}`"))
    })?;
    Ok(Some(number))
}

/// The `lead_phone_number` filter. A `+` sent without `%2B` encoding arrives as a leading space;
/// it is put back rather than refused, since the intent is unambiguous.
fn lead_phone(raw: &str) -> Result<Phone, ApiError> {
    let e164 = match raw.strip_prefix(' ') {
        Some(rest) => format!("+{}", rest.trim()),
        None => raw.trim().to_string(),
    };
    Phone::try_from(e164).map_err(|_| {
        ApiError::bad_request(format!(
            "lead_phone_number `{raw}` is not an E.164 number (write + as %2B)"
        ))
    })
}

/// The paginated envelope shared by the assistant, call and list answers.
fn page(key: &str, items: Vec<Value>, total: usize, limit: usize, offset: usize) -> Value {
    let mut response = Map::new();
    response.insert(
        "pagination".to_string(),
        json!({ "total_records": total, "limit": limit, "offset": offset }),
    );
    response.insert(key.to_string(), Value::Array(items));
    json!({ "status": "ok", "response": response })
}

fn assistant_json(agent: &Agent) -> Value {
    let attached: Vec<Value> = agent
        .pool
        .iter()
        .map(|number| json!({ "number": number.as_str(), "sid": null, "slug": number.slug() }))
        .collect();
    json!({
        "model_id": agent.id,
        "type": "outbound",
        "name": agent.name,
        "phone_number": agent.pool.first().map_or("", Phone::as_str),
        "external_webhook_url": "",
        "is_recording": false,
        "attached_phone_numbers": attached,
        "actions": [],
        "input_variables": [],
    })
}

/// What the faults make of a call's status, `duration` and `start_time`.
struct Shown {
    status: &'static str,
    duration: Value,
    start_time: String,
}

impl Shown {
    fn of(call: &Call, now_ms: i64, faults: &Faults) -> Shown {
        let now = call.at(now_ms);
        Shown {
            status: faults.stuck.map_or(now.status, |stuck| stuck.status()),
            duration: faults.duration_shape.write(now.duration_secs),
            start_time: call
                .started_ms
                .saturating_add(faults.clock_skew_ms)
                .to_string(),
        }
    }
}

/// A call as `GET /v2/calls/{id}` shows it (CONTRACT A.2).
fn call_json(call: &Call, now_ms: i64, faults: &Faults) -> Value {
    let now = call.at(now_ms);
    let shown = Shown::of(call, now_ms, faults);
    json!({
        "call_id": call.id,
        "model_id": call.model_id,
        "campaign_type": "outbound",
        "phone_number_from": call.from.as_str(),
        "phone_number_to": call.to.as_str(),
        "name": call.name,
        "transcript": "",
        "duration": shown.duration,
        "recording_url": null,
        "end_call_reason": now.end_call_reason,
        "custom_end_call_reason": null,
        "error_message": "",
        "executed_actions": {},
        "prompt_variables": call.prompt_variables,
        "type_of_call": "outbound",
        "start_time": shown.start_time,
        "timezone": "",
        "telephony_ringing_duration": now.ringing_ms,
        "telephony_disconnect_reason": now.disconnect_reason,
        "status": shown.status,
    })
}

/// A call as `GET /v2/calls` lists it (CONTRACT A.3): note `call_status`, not `status`.
fn listed_call_json(call: &Call, now_ms: i64, faults: &Faults) -> Value {
    let now = call.at(now_ms);
    let shown = Shown::of(call, now_ms, faults);
    json!({
        "call_id": call.id,
        "model_id": call.model_id,
        "duration": shown.duration,
        "end_call_reason": now.end_call_reason,
        "lead_phone_number": call.to.as_str(),
        "call_status": shown.status,
        "start_time": shown.start_time,
        "lead_name": call.name,
        "name": call.name,
        "agent_phone_number": call.from.as_str(),
        "phone_number_from": call.from.as_str(),
        "phone_number_to": call.to.as_str(),
        "campaign_type": "outbound",
        "type_of_call": "outbound",
        "timezone": "",
        "telephony_disconnect_reason": now.disconnect_reason,
        "transcript": "",
        "recording_url": null,
        "error_message": "",
        "labels": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_needs_the_scheme_and_a_token() {
        let token = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, value.parse().unwrap());
            bearer_token(&headers).map(str::to_string)
        };
        assert_eq!(token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(token("bearer  abc ").as_deref(), Some("abc"));
        assert_eq!(token("Bearer "), None);
        assert_eq!(token("Basic abc"), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn lead_phone_restores_a_plus_decoded_as_space() {
        assert_eq!(lead_phone(" 14155552671").unwrap().as_str(), "+14155552671");
        assert_eq!(lead_phone("+14155552671").unwrap().as_str(), "+14155552671");
        assert!(lead_phone("14155552671").is_err());
        assert!(lead_phone("").is_err());
    }

    #[test]
    fn custom_variables_become_prompt_variables() {
        let list = json!([{ "key": "contact_id", "value": "c-7" }]);
        let variables = prompt_variables(Some(&list)).unwrap();
        assert_eq!(Value::Object(variables), json!({ "contact_id": "c-7" }));
        assert!(prompt_variables(Some(&json!([{ "key": "k" }]))).is_err());
        assert!(prompt_variables(Some(&json!("k=v"))).is_err());
    }
}
