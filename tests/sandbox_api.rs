//! The sandbox over real HTTP: each test starts its own sandbox on 127.0.0.1:0 and talks to it
//! the way the dialer will, so the vendor shapes and behaviours are checked on the wire.

use std::io;
use std::time::{Duration, Instant};

use outdial::phone::{Country, Phone};
use outdial::sandbox::{
    AgentSpec, AgentSpecError, DEMO_AGENT_ID, Latency, LatencyError, ReceivedCall, Sandbox,
    SandboxConfig, demo_pool,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const CALLEE: &str = "+14155552671";
const KEY: &str = "test-key";

/// A running sandbox and a client that talks to it with a bearer key.
struct Harness {
    sandbox: Sandbox,
    http: reqwest::Client,
    key: String,
}

impl Harness {
    async fn start(config: SandboxConfig) -> Harness {
        let key = config.api_key.clone().unwrap_or_else(|| KEY.to_string());
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");
        Harness {
            sandbox,
            http: reqwest::Client::new(),
            key,
        }
    }

    async fn demo() -> Harness {
        Harness::start(SandboxConfig::default()).await
    }

    fn v2(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.synthflow_base())
    }

    /// GETs a `/v2` path with the key.
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let request = self.http.get(self.v2(path)).bearer_auth(&self.key);
        answer(request).await
    }

    /// POSTs a create-call body with the key.
    async fn create(&self, body: Value) -> (StatusCode, Value) {
        let request = self.http.post(self.v2("/calls")).bearer_auth(&self.key);
        answer(request.json(&body)).await
    }

    /// Creates a call that must succeed and returns its id.
    async fn dial(&self, phone: &str) -> String {
        let (status, body) = self.create(call_to(phone)).await;
        assert_eq!(status, StatusCode::OK, "create failed: {body}");
        body["response"]["call_id"]
            .as_str()
            .expect("call_id is a string")
            .to_string()
    }

    async fn list(&self, query: &str) -> (StatusCode, Value) {
        self.get(&format!("/calls?model_id={DEMO_AGENT_ID}&{query}"))
            .await
    }

    async fn sandbox_calls(&self) -> Vec<ReceivedCall> {
        let url = format!("http://{}/sandbox/calls", self.sandbox.addr());
        let (status, body) = answer(self.http.get(url)).await;
        assert_eq!(status, StatusCode::OK);
        serde_json::from_value(body["calls"].clone()).expect("calls are ReceivedCalls")
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("sandbox answers");
    let status = response.status();
    let text = response.text().await.expect("body is text");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn call_to(phone: &str) -> Value {
    json!({ "model_id": DEMO_AGENT_ID, "phone": phone, "name": "Ada Lovelace" })
}

fn phone(e164: &str) -> Phone {
    Phone::parse(e164, Country::default()).expect("test numbers are valid")
}

/// Asserts Synthflow's `{"detail": {…}}` error shape and returns the description.
fn detail(status: StatusCode, body: &Value, expected: StatusCode, category: &str) -> String {
    assert_eq!(status, expected, "unexpected answer: {body}");
    let detail = &body["detail"];
    assert_eq!(detail["status"], "error");
    assert_eq!(detail["category"], category);
    assert!(
        detail["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    detail["description"]
        .as_str()
        .expect("description is a string")
        .to_string()
}

fn call_ids(list: &Value) -> Vec<String> {
    list["response"]["calls"]
        .as_array()
        .expect("calls is an array")
        .iter()
        .map(|call| call["call_id"].as_str().expect("call_id").to_string())
        .collect()
}

#[tokio::test]
async fn assistant_shows_the_demo_agent_with_its_attached_pool() {
    // Proves the assistant answer has the vendor's array-wrapped shape with every pooled number.
    let app = Harness::demo().await;
    let (status, body) = app.get(&format!("/assistants/{DEMO_AGENT_ID}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    assert_eq!(
        body["response"]["pagination"],
        json!({ "total_records": 1, "limit": 1, "offset": 0 })
    );
    let assistant = &body["response"]["assistants"][0];
    assert_eq!(assistant["model_id"], DEMO_AGENT_ID);
    assert_eq!(assistant["type"], "outbound");
    assert_eq!(assistant["phone_number"], "+12125550101");
    assert_eq!(assistant["external_webhook_url"], "");
    assert_eq!(assistant["is_recording"], false);
    assert_eq!(assistant["actions"], json!([]));
    assert_eq!(assistant["input_variables"], json!([]));
    let attached = assistant["attached_phone_numbers"].as_array().unwrap();
    assert_eq!(attached.len(), demo_pool().len());
    assert_eq!(
        attached[1],
        json!({ "number": "+14155550102", "sid": null, "slug": "14155550102" })
    );
    app.sandbox.stop().await;
}

#[tokio::test]
async fn configured_agents_replace_the_demo_agent() {
    // Proves `agents` in the config decides which agents exist, pools and all.
    let spec: AgentSpec = "agent-7=+13125550104,+12125550101".parse().unwrap();
    let app = Harness::start(SandboxConfig {
        agents: vec![spec],
        ..SandboxConfig::default()
    })
    .await;
    let (status, body) = app.get("/assistants/agent-7").await;
    assert_eq!(status, StatusCode::OK);
    let assistant = &body["response"]["assistants"][0];
    assert_eq!(assistant["phone_number"], "+13125550104");
    assert_eq!(
        assistant["attached_phone_numbers"][1]["slug"],
        "12125550101"
    );
    let (status, body) = app.get(&format!("/assistants/{DEMO_AGENT_ID}")).await;
    detail(status, &body, StatusCode::NOT_FOUND, "not_found");
    app.sandbox.stop().await;
}

#[tokio::test]
async fn unknown_assistant_is_a_404_in_the_detail_shape() {
    // Proves an unknown model_id gets the vendor's structured not-found error.
    let app = Harness::demo().await;
    let (status, body) = app.get("/assistants/no-such-agent").await;
    let description = detail(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert!(description.contains("no-such-agent"), "{description}");
    app.sandbox.stop().await;
}

#[tokio::test]
async fn created_call_is_found_by_id_and_by_callee() {
    // Proves a created call reads back by id with every A.2 field and lists by a %2B-encoded phone.
    let app = Harness::demo().await;
    let mut body = call_to(CALLEE);
    body["from_phone_number"] = json!("+14155550102");
    body["custom_variables"] = json!([{ "key": "contact_id", "value": "c-42" }]);
    let (status, created) = app.create(body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["status"], "ok");
    assert_eq!(created["response"]["answer"], "Call initiated");
    assert_eq!(created["eta"], 1);
    let call_id = created["response"]["call_id"].as_str().unwrap();

    let (status, found) = app.get(&format!("/calls/{call_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["response"]["pagination"]["total_records"], 1);
    let call = &found["response"]["calls"][0];
    assert_eq!(call["call_id"], call_id);
    assert_eq!(call["model_id"], DEMO_AGENT_ID);
    assert_eq!(call["campaign_type"], "outbound");
    assert_eq!(call["type_of_call"], "outbound");
    assert_eq!(call["phone_number_from"], "+14155550102");
    assert_eq!(call["phone_number_to"], CALLEE);
    assert_eq!(call["name"], "Ada Lovelace");
    assert_eq!(call["prompt_variables"], json!({ "contact_id": "c-42" }));
    assert_eq!(call["recording_url"], Value::Null);
    assert_eq!(call["custom_end_call_reason"], Value::Null);
    assert_eq!(call["error_message"], "");
    assert_eq!(call["executed_actions"], json!({}));
    assert!(call["duration"].is_u64());
    let start: i64 = call["start_time"].as_str().unwrap().parse().unwrap();
    assert!(start > 1_600_000_000_000, "start_time is epoch ms: {start}");

    let (status, list) = app.list("lead_phone_number=%2B14155552671").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(call_ids(&list), [call_id]);
    let listed = &list["response"]["calls"][0];
    assert_eq!(listed["lead_phone_number"], CALLEE);
    assert_eq!(listed["agent_phone_number"], "+14155550102");
    assert_eq!(listed["lead_name"], "Ada Lovelace");
    assert_eq!(listed["labels"], json!([]));
    assert!(listed["call_status"].is_string());
    assert!(listed.get("status").is_none(), "the list says call_status");
    app.sandbox.stop().await;
}

#[tokio::test]
async fn listing_pages_through_all_calls_to_one_number() {
    // Proves limit/offset paging over 25 calls to one number gives 10, 10, 5 in creation order.
    let app = Harness::demo().await;
    let mut created = Vec::new();
    for _ in 0..25 {
        created.push(app.dial(CALLEE).await);
    }
    app.dial("+13125550199").await;

    let mut paged = Vec::new();
    for (offset, expected) in [(0, 10), (10, 10), (20, 5)] {
        let query = format!("lead_phone_number=%2B14155552671&limit=10&offset={offset}");
        let (status, page) = app.list(&query).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            page["response"]["pagination"],
            json!({ "total_records": 25, "limit": 10, "offset": offset })
        );
        let ids = call_ids(&page);
        assert_eq!(ids.len(), expected);
        paged.extend(ids);
    }
    assert_eq!(paged, created);
    app.sandbox.stop().await;
}

#[tokio::test]
async fn list_limit_defaults_to_20_and_is_capped_at_100() {
    // Proves the documented default page size and the sandbox's cap on oversized pages.
    let app = Harness::demo().await;
    for _ in 0..21 {
        app.dial(CALLEE).await;
    }
    let (_, page) = app.list("").await;
    assert_eq!(page["response"]["pagination"]["limit"], 20);
    assert_eq!(call_ids(&page).len(), 20);
    let (_, page) = app.list("limit=500").await;
    assert_eq!(page["response"]["pagination"]["limit"], 100);
    assert_eq!(call_ids(&page).len(), 21);
    app.sandbox.stop().await;
}

#[tokio::test]
async fn lead_filter_matches_the_caller_too_and_tolerates_an_unencoded_plus() {
    // Proves lead_phone_number matches either end of a call, even when `+` arrives as a space.
    let app = Harness::demo().await;
    let call_id = app.dial(CALLEE).await;
    let (_, by_caller) = app.list("lead_phone_number=%2B12125550101").await;
    assert_eq!(call_ids(&by_caller), std::slice::from_ref(&call_id));
    let (status, unencoded) = app.list("lead_phone_number=+14155552671").await;
    assert_eq!(status, StatusCode::OK, "{unencoded}");
    assert_eq!(call_ids(&unencoded), [call_id]);
    let (_, other) = app.list("lead_phone_number=%2B13125550199").await;
    assert!(call_ids(&other).is_empty());
    app.sandbox.stop().await;
}

#[tokio::test]
async fn from_date_keeps_calls_started_at_or_after_it() {
    // Proves from_date bounds the list by the calls' start_time in epoch ms.
    let app = Harness::demo().await;
    let call_id = app.dial(CALLEE).await;
    let (_, found) = app.get(&format!("/calls/{call_id}")).await;
    let start: i64 = found["response"]["calls"][0]["start_time"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (_, from_start) = app.list(&format!("from_date={start}")).await;
    assert_eq!(call_ids(&from_start), [call_id]);
    let (_, after) = app.list(&format!("from_date={}", start + 1)).await;
    assert!(call_ids(&after).is_empty());
    app.sandbox.stop().await;
}

#[tokio::test]
async fn list_refuses_a_missing_model_id_and_malformed_numbers() {
    // Proves the list query is checked, with 400s that name the offending parameter.
    let app = Harness::demo().await;
    let (status, body) = app.get("/calls?limit=5").await;
    assert!(detail(status, &body, StatusCode::BAD_REQUEST, "bad_request").contains("model_id"));
    for (query, name) in [
        ("limit=-1", "limit"),
        ("offset=x", "offset"),
        ("from_date=yesterday", "from_date"),
        ("lead_phone_number=555", "lead_phone_number"),
    ] {
        let (status, body) = app.list(query).await;
        let description = detail(status, &body, StatusCode::BAD_REQUEST, "bad_request");
        assert!(description.contains(name), "{query}: {description}");
    }
    app.sandbox.stop().await;
}

#[tokio::test]
async fn each_missing_required_field_is_a_400_naming_it() {
    // Proves model_id, phone and name are each required and each refusal says which one.
    let app = Harness::demo().await;
    for field in ["model_id", "phone", "name"] {
        let mut body = call_to(CALLEE);
        body.as_object_mut().unwrap().remove(field);
        let (status, answer) = app.create(body).await;
        let description = detail(status, &answer, StatusCode::BAD_REQUEST, "bad_request");
        assert!(description.contains(field), "{field}: {description}");

        let mut body = call_to(CALLEE);
        body[field] = json!(42);
        let (status, answer) = app.create(body).await;
        let description = detail(status, &answer, StatusCode::BAD_REQUEST, "bad_request");
        assert!(
            description.contains(field),
            "{field} as number: {description}"
        );
    }
    app.sandbox.stop().await;
}

#[tokio::test]
async fn a_callee_that_is_not_e164_is_a_400() {
    // Proves the sandbox accepts only canonical E.164 callees, as the vendor expects.
    let app = Harness::demo().await;
    for written in ["4155552671", "+1 415 555 2671", "+1415555", "call me"] {
        let (status, answer) = app.create(call_to(written)).await;
        let description = detail(status, &answer, StatusCode::BAD_REQUEST, "bad_request");
        assert!(description.contains("phone"), "{written}: {description}");
    }
    app.sandbox.stop().await;
}

#[tokio::test]
async fn an_unattached_caller_id_is_a_400_naming_number_and_agent() {
    // Proves from_phone_number must be in the agent's pool, like the vendor's "must match" rule.
    let app = Harness::demo().await;
    let mut body = call_to(CALLEE);
    body["from_phone_number"] = json!("+13125550199");
    let (status, answer) = app.create(body).await;
    let description = detail(status, &answer, StatusCode::BAD_REQUEST, "bad_request");
    assert!(description.contains("+13125550199"), "{description}");
    assert!(description.contains(DEMO_AGENT_ID), "{description}");
    app.sandbox.stop().await;
}

#[tokio::test]
async fn creating_a_call_for_an_unknown_agent_is_a_404() {
    // Proves a well-formed create for a model_id that does not exist is not found, not a 400.
    let app = Harness::demo().await;
    let mut body = call_to(CALLEE);
    body["model_id"] = json!("no-such-agent");
    let (status, answer) = app.create(body).await;
    detail(status, &answer, StatusCode::NOT_FOUND, "not_found");
    app.sandbox.stop().await;
}

#[tokio::test]
async fn unknown_call_id_is_a_404_in_the_detail_shape() {
    // Proves GET /v2/calls/{id} for an id never issued is a structured 404.
    let app = Harness::demo().await;
    let (status, body) = app.get("/calls/00000000-0000-4000-8000-000000000000").await;
    detail(status, &body, StatusCode::NOT_FOUND, "not_found");
    app.sandbox.stop().await;
}

#[tokio::test]
async fn requests_without_a_bearer_are_401() {
    // Proves every /v2 route refuses a missing or empty bearer with the vendor's 401 shape.
    let app = Harness::demo().await;
    let paths = [
        format!("/assistants/{DEMO_AGENT_ID}"),
        format!("/calls?model_id={DEMO_AGENT_ID}"),
        "/calls/anything".to_string(),
    ];
    for path in &paths {
        let (status, body) = answer(app.http.get(app.v2(path))).await;
        let description = detail(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(description, "Invalid API key");
    }
    let empty = app
        .http
        .post(app.v2("/calls"))
        .header("Authorization", "Bearer ");
    let (status, body) = answer(empty.json(&call_to(CALLEE))).await;
    detail(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    app.sandbox.stop().await;
}

#[tokio::test]
async fn a_wrong_key_is_401_when_a_key_is_set() {
    // Proves a configured api_key is the only bearer accepted.
    let app = Harness::start(SandboxConfig {
        api_key: Some("right".to_string()),
        ..SandboxConfig::default()
    })
    .await;
    let path = format!("/assistants/{DEMO_AGENT_ID}");
    let wrong = app.http.get(app.v2(&path)).bearer_auth("wrong");
    let (status, body) = answer(wrong).await;
    detail(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, _) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    app.sandbox.stop().await;
}

#[tokio::test]
async fn every_create_attempt_is_on_the_record() {
    // Proves /sandbox/calls lists accepted, refused, unauthenticated and non-JSON creates in order.
    let app = Harness::demo().await;
    let call_id = app.dial(CALLEE).await;
    let mut no_name = call_to(CALLEE);
    no_name.as_object_mut().unwrap().remove("name");
    app.create(no_name).await;
    let unauthenticated = app.http.post(app.v2("/calls")).json(&call_to(CALLEE));
    answer(unauthenticated).await;
    let garbage = app.http.post(app.v2("/calls")).bearer_auth(KEY);
    answer(garbage.body("phone=+14155552671")).await;

    let calls = app.sandbox_calls().await;
    assert_eq!(calls, app.sandbox.received().await);
    let statuses: Vec<u16> = calls.iter().map(|call| call.status).collect();
    assert_eq!(statuses, [200, 400, 401, 400]);
    assert_eq!(calls[0].call_id.as_deref(), Some(call_id.as_str()));
    assert_eq!(calls[0].phone.as_deref(), Some(CALLEE));
    assert_eq!(calls[0].model_id.as_deref(), Some(DEMO_AGENT_ID));
    assert_eq!(calls[0].from_phone_number, None);
    assert_eq!(calls[0].body, call_to(CALLEE));
    assert!(calls[1..].iter().all(|call| call.call_id.is_none()));
    assert_eq!(calls[3].body, Value::Null);
    assert!(calls.windows(2).all(|pair| pair[0].at_ms <= pair[1].at_ms));
    app.sandbox.stop().await;
}

#[tokio::test]
async fn only_posts_to_the_calls_route_are_recorded() {
    // Proves reads and wrong-method requests on /v2/calls stay off the create-call record.
    let app = Harness::demo().await;
    app.list("").await;
    let put = app.http.put(app.v2("/calls")).bearer_auth(KEY);
    let (status, _) = answer(put.json(&call_to(CALLEE))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(app.sandbox_calls().await.is_empty());
    app.sandbox.stop().await;
}

#[tokio::test]
async fn the_same_seed_gives_the_same_call_ids() {
    // Proves a seed makes call ids reproducible, whatever else the client asks in between.
    async fn ids(seed: u64, poll_between: bool) -> Vec<String> {
        let app = Harness::start(SandboxConfig {
            seed,
            ..SandboxConfig::default()
        })
        .await;
        let mut ids = Vec::new();
        for _ in 0..3 {
            ids.push(app.dial(CALLEE).await);
            if poll_between {
                app.get("/calls/not-a-call").await;
            }
        }
        app.sandbox.stop().await;
        ids
    }
    let first = ids(7, false).await;
    assert_eq!(first, ids(7, true).await);
    assert_ne!(first, ids(8, false).await);
}

#[tokio::test]
async fn calls_progress_from_queued_to_completed() {
    // Proves a call moves forward through the lifecycle and ends completed with its duration.
    let app = Harness::start(SandboxConfig {
        call_duration: Duration::from_millis(400).into(),
        ..SandboxConfig::default()
    })
    .await;
    let order = ["queued", "ringing", "in-progress", "completed"];
    let call_id = app.dial(CALLEE).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen: Vec<String> = Vec::new();
    let call = loop {
        let (_, body) = app.get(&format!("/calls/{call_id}")).await;
        let call = body["response"]["calls"][0].clone();
        let status = call["status"].as_str().unwrap().to_string();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "completed" {
            break call;
        }
        assert_eq!(call["end_call_reason"], Value::Null, "not ended yet");
        assert!(Instant::now() < deadline, "never completed; saw {seen:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let positions: Vec<usize> = seen
        .iter()
        .map(|status| order.iter().position(|known| known == status).unwrap())
        .collect();
    assert!(positions.is_sorted(), "went backwards: {seen:?}");
    assert_eq!(call["end_call_reason"], "human_ended_call");
    assert_eq!(call["duration"], 0, "400 ms is 0 whole seconds");
    let (_, list) = app.list("").await;
    assert_eq!(list["response"]["calls"][0]["call_status"], "completed");
    app.sandbox.stop().await;
}

#[tokio::test]
async fn a_zero_call_duration_completes_at_once_with_zero_seconds() {
    // Proves D = 0 makes a call terminal straight away, for tests that only care about outcomes.
    let app = Harness::start(SandboxConfig {
        call_duration: Duration::ZERO.into(),
        ..SandboxConfig::default()
    })
    .await;
    let call_id = app.dial(CALLEE).await;
    let (_, body) = app.get(&format!("/calls/{call_id}")).await;
    let call = &body["response"]["calls"][0];
    assert_eq!(call["status"], "completed");
    assert_eq!(call["duration"], 0);
    app.sandbox.stop().await;
}

#[tokio::test]
async fn latency_delays_every_v2_answer() {
    // Proves the configured latency is a lower bound on /v2 answer times.
    let app = Harness::start(SandboxConfig {
        latency: "60".parse().unwrap(),
        ..SandboxConfig::default()
    })
    .await;
    let started = Instant::now();
    app.get(&format!("/assistants/{DEMO_AGENT_ID}")).await;
    app.get("/calls/unknown").await;
    assert!(started.elapsed() >= Duration::from_millis(120));
    app.sandbox.stop().await;
}

#[tokio::test]
async fn unmatched_routes_get_the_gateway_404() {
    // Proves paths outside the served subset answer like the vendor's gateway.
    let app = Harness::demo().await;
    for path in ["/v3/calls", "/v2/nope", "/"] {
        let url = format!("http://{}{path}", app.sandbox.addr());
        let (status, body) = answer(app.http.get(url).bearer_auth(KEY)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            body,
            json!({ "error": "not_found", "message": "No route matched" })
        );
    }
    app.sandbox.stop().await;
}

#[tokio::test]
async fn base_urls_point_at_the_bound_port() {
    // Proves the advertised base URLs use the ephemeral port the sandbox actually bound.
    let app = Harness::demo().await;
    let port = app.sandbox.addr().port();
    assert_ne!(port, 0);
    assert_eq!(
        app.sandbox.synthflow_base(),
        format!("http://127.0.0.1:{port}/v2")
    );
    assert_eq!(
        app.sandbox.numbers_base(),
        format!("http://127.0.0.1:{port}/api/v1")
    );
    app.sandbox.stop().await;
}

#[tokio::test]
async fn serve_runs_on_a_given_listener_until_shutdown() {
    // Proves `serve` answers on the listener it is handed and returns once shutdown resolves.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    let server = tokio::spawn(outdial::sandbox::serve(
        listener,
        SandboxConfig::default(),
        shutdown,
    ));
    let url = format!("http://{addr}/sandbox/calls");
    let (status, body) = answer(reqwest::Client::new().get(url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "calls": [] }));
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_agent_configured_twice_is_refused_at_start() {
    // Proves an ambiguous configuration fails up front instead of serving one of the two.
    let spec: AgentSpec = "a=+12125550101".parse().unwrap();
    let config = SandboxConfig {
        agents: vec![spec.clone(), spec],
        ..SandboxConfig::default()
    };
    let error = Sandbox::start(config).await.expect_err("start fails");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("twice"), "{error}");
}

#[test]
fn agent_specs_parse_ids_and_pools() {
    // Proves the --agent syntax, including normalising numbers and allowing an empty pool.
    let spec: AgentSpec = " a1 = +14155550102, 212-555-0101 ".parse().unwrap();
    assert_eq!(
        spec,
        AgentSpec {
            id: "a1".to_string(),
            numbers: vec![phone("+14155550102"), phone("+12125550101")],
        }
    );
    let empty: AgentSpec = "a2=".parse().unwrap();
    assert!(empty.numbers.is_empty());
}

#[test]
fn bad_agent_specs_say_what_is_wrong() {
    // Proves each malformed --agent value gets an error naming the problem and the agent.
    let error = |written: &str| written.parse::<AgentSpec>().unwrap_err();
    assert!(matches!(error("a1"), AgentSpecError::MissingEquals(_)));
    assert!(matches!(error("=+14155550102"), AgentSpecError::EmptyId(_)));
    assert!(matches!(
        error("a1=+14155550102,,+12125550101"),
        AgentSpecError::EmptyNumber { position: 2, .. }
    ));
    assert!(matches!(
        error("a1=+14155550102,+14155550102"),
        AgentSpecError::Duplicate { .. }
    ));
    let bad = error("a1=+14155550102,banana");
    assert!(matches!(bad, AgentSpecError::BadNumber { .. }));
    let message = bad.to_string();
    assert!(
        message.contains("a1") && message.contains("banana"),
        "{message}"
    );
}

#[test]
fn latencies_parse_as_fixed_or_ranged_milliseconds() {
    // Proves the --latency syntax and its zero default.
    let ms = Duration::from_millis;
    assert_eq!(
        "50".parse::<Latency>().unwrap(),
        Latency {
            min: ms(50),
            max: ms(50)
        }
    );
    assert_eq!(
        " 20..80 ".parse::<Latency>().unwrap(),
        Latency {
            min: ms(20),
            max: ms(80)
        }
    );
    assert_eq!(
        Latency::default(),
        Latency {
            min: ms(0),
            max: ms(0)
        }
    );
}

#[test]
fn bad_latencies_say_what_is_wrong() {
    // Proves malformed --latency values are refused with a reason, never silently zeroed.
    let error = |written: &str| written.parse::<Latency>().unwrap_err();
    assert_eq!(error("80..20"), LatencyError::Reversed { min: 80, max: 20 });
    for written in ["", "fast", "-5", "1.5", "20..", "..80", "20...80"] {
        assert!(
            matches!(error(written), LatencyError::NotMillis(_)),
            "{written}"
        );
    }
}
