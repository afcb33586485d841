//! The sandbox's answer model over real HTTP: each test starts its own sandbox on 127.0.0.1:0,
//! places calls the way the dialer does, and checks what `GET /sandbox/stats` says carriers
//! labelled and what every call reports of its telephony.

use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use outdial::phone::Phone;
use outdial::sandbox::answers::{AnswerSettings, Label, Overuse};
use outdial::sandbox::{AgentSpec, OutcomeMix, Sandbox, SandboxConfig, TimeScale};
use reqwest::StatusCode;
use serde_json::{Value, json};

const AGENT: &str = "agent-under-test";
/// The caller ID that is overused.
const BUSY_NUMBER: &str = "+12125550101";
/// A caller ID that calls little.
const QUIET_NUMBER: &str = "+13105550103";
/// New York callees.
const CALLEES: [&str; 6] = [
    "+12125552671",
    "+12125552672",
    "+12125552673",
    "+12125552674",
    "+12125552675",
    "+12125552676",
];

fn phone(e164: &str) -> Phone {
    Phone::try_from(e164.to_string()).unwrap()
}

/// Tuesday 1 December 2026, 11:00 in New York: a good hour to call.
fn tuesday_late_morning() -> Timestamp {
    "2026-12-01T16:00:00Z".parse().unwrap()
}

fn config(answers: Option<AnswerSettings>) -> SandboxConfig {
    SandboxConfig {
        agents: vec![AgentSpec {
            id: AGENT.into(),
            numbers: vec![phone(BUSY_NUMBER), phone(QUIET_NUMBER)],
        }],
        call_duration: "30..90".parse().unwrap(),
        // A sandbox day passes in 86.4 real seconds; a 30 s ring in 30 ms.
        time_scale: TimeScale::new(1_000.0).unwrap(),
        answers,
        clock_start: Some(tuesday_late_morning()),
        ..SandboxConfig::default()
    }
}

/// Labels after more than `day_calls` calls a day (and never for a burst, which would depend on
/// how fast the test runs), with every labelled call blocked, so a labelled call is plain to
/// see on the wire.
fn labelling_after(day_calls: u32) -> AnswerSettings {
    let mut settings = AnswerSettings::default();
    settings.labelling.day_calls = day_calls;
    settings.labelling.minute_calls = u32::MAX;
    settings.labelling.blocked = "1".parse().unwrap();
    settings
}

struct Harness {
    sandbox: Sandbox,
    http: reqwest::Client,
}

impl Harness {
    async fn start(config: SandboxConfig) -> Harness {
        Harness {
            sandbox: Sandbox::start(config).await.expect("the sandbox starts"),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.sandbox.addr())
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request
            .bearer_auth("test-key")
            .send()
            .await
            .expect("the sandbox answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(self.http.get(self.url(path))).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// Places a call from `from` to `to` and returns its id.
    async fn dial(&self, from: &str, to: &str) -> String {
        let body =
            json!({ "model_id": AGENT, "phone": to, "name": "Ada", "from_phone_number": from });
        let request = self.http.post(self.url("/v2/calls")).json(&body);
        let (status, body) = self.send(request).await;
        assert_eq!(status, StatusCode::OK, "create failed: {body}");
        body["response"]["call_id"].as_str().unwrap().to_string()
    }

    async fn labels(&self) -> Vec<Label> {
        let stats = self.get("/sandbox/stats").await;
        serde_json::from_value(stats["labelled"].clone()).expect("labelled is a list of labels")
    }

    /// The call as `GET /v2/calls/{id}` shows it once it has reached its outcome.
    async fn ended(&self, call_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let body = self.get(&format!("/v2/calls/{call_id}")).await;
            let call = body["response"]["calls"][0].clone();
            if !call["end_call_reason"].is_null() {
                return call;
            }
            assert!(
                Instant::now() < deadline,
                "call {call_id} never ended: {call}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every call of the agent as `GET /v2/calls` lists it.
    async fn listed(&self) -> Vec<Value> {
        let body = self
            .get(&format!("/v2/calls?model_id={AGENT}&limit=100"))
            .await;
        body["response"]["calls"].as_array().unwrap().clone()
    }

    async fn post_label(&self, body: Value) -> (StatusCode, Value) {
        let request = self.http.post(self.url("/sandbox/labels")).json(&body);
        self.send(request).await
    }

    /// The sandbox's moment now.
    async fn clock(&self) -> Timestamp {
        let body = self.get("/sandbox/clock").await;
        body["now"].as_str().unwrap().parse().unwrap()
    }

    async fn put_answers(&self, body: Value) -> (StatusCode, Value) {
        let request = self.http.put(self.url("/sandbox/answers")).json(&body);
        self.send(request).await
    }
}

/// A number is labelled by exactly the call that makes more than N in a sandbox day, and from
/// that call on its calls are blocked as carriers block them; a quiet number is never touched.
#[tokio::test]
async fn the_call_that_crosses_the_day_line_labels_its_number() {
    let harness = Harness::start(config(Some(labelling_after(3)))).await;
    let mut busy_calls = Vec::new();
    for (index, callee) in CALLEES.iter().enumerate().take(3) {
        busy_calls.push(harness.dial(BUSY_NUMBER, callee).await);
        assert_eq!(harness.labels().await, [], "after call {}", index + 1);
    }
    let quiet_calls = [
        harness.dial(QUIET_NUMBER, CALLEES[0]).await,
        harness.dial(QUIET_NUMBER, CALLEES[1]).await,
    ];
    assert_eq!(
        harness.labels().await,
        [],
        "another number's calls do not count"
    );
    busy_calls.push(harness.dial(BUSY_NUMBER, CALLEES[3]).await);
    let labels = harness.labels().await;
    assert_eq!(labels.len(), 1, "{labels:?}");
    let label = &labels[0];
    assert_eq!(label.number, phone(BUSY_NUMBER));
    assert_eq!((label.why, label.calls), (Overuse::Day, 4));
    assert!(label.since > tuesday_late_morning(), "{label:?}");
    assert_eq!(
        label.until.duration_since(label.since),
        SignedDuration::from_hours(7 * 24)
    );
    busy_calls.push(harness.dial(BUSY_NUMBER, CALLEES[4]).await);
    assert_eq!(
        harness.labels().await.len(),
        1,
        "one label, not one per call"
    );

    for (index, call_id) in busy_calls.iter().enumerate() {
        let call = harness.ended(call_id).await;
        let blocked =
            call["status"] == "failed" && call["telephony_disconnect_reason"] == "forbidden";
        assert_eq!(
            blocked,
            index >= 3,
            "busy number's call {}: {call}",
            index + 1
        );
        if blocked {
            assert_eq!(call["telephony_ringing_duration"], 0, "{call}");
        }
    }
    for call_id in &quiet_calls {
        let call = harness.ended(call_id).await;
        assert_ne!(call["telephony_disconnect_reason"], "forbidden", "{call}");
    }
}

/// More than M calls within a sandbox minute labels a number for a burst, though it is far
/// from the day's line.
#[tokio::test]
async fn a_burst_within_a_sandbox_minute_labels_its_number() {
    let mut settings = AnswerSettings::default();
    settings.labelling.minute_calls = 2;
    // Real time, so three calls a few milliseconds apart are well within one sandbox minute.
    let config = SandboxConfig {
        time_scale: TimeScale::REAL_TIME,
        ..config(Some(settings))
    };
    let harness = Harness::start(config).await;
    harness.dial(BUSY_NUMBER, CALLEES[0]).await;
    harness.dial(BUSY_NUMBER, CALLEES[1]).await;
    assert_eq!(harness.labels().await, []);
    harness.dial(BUSY_NUMBER, CALLEES[2]).await;
    let labels = harness.labels().await;
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert_eq!(
        (&labels[0].number, labels[0].why, labels[0].calls),
        (&phone(BUSY_NUMBER), Overuse::Burst, 3)
    );
}

/// With the model off, every outcome of the mix reports a ringing time (the phase its status
/// showed `ringing`) and a disconnect reason that agrees with it, in the call and in the list;
/// neither is given before the call ends.
#[tokio::test]
async fn every_call_reports_its_telephony_with_the_model_off() {
    let outcomes: OutcomeMix =
        "completed=1,no-answer=1,busy=1,failed=1,left_voicemail=1,hangup_on_voicemail=1"
            .parse()
            .unwrap();
    let config = SandboxConfig {
        call_duration: Duration::from_secs(10).into(),
        time_scale: TimeScale::new(100.0).unwrap(),
        outcomes,
        ..config(None)
    };
    let live = Harness::start(SandboxConfig {
        time_scale: TimeScale::REAL_TIME,
        ..config.clone()
    })
    .await;
    let id = live.dial(BUSY_NUMBER, CALLEES[0]).await;
    let call = live.get(&format!("/v2/calls/{id}")).await;
    let call = &call["response"]["calls"][0];
    assert_eq!(
        call["status"], "queued",
        "a 10 s call is queued for its first second"
    );
    assert!(call["telephony_disconnect_reason"].is_null(), "{call}");
    assert!(call["telephony_ringing_duration"].is_null(), "{call}");

    let harness = Harness::start(config).await;
    let mut ids = Vec::new();
    for _ in 0..8 {
        for callee in CALLEES {
            ids.push(harness.dial(BUSY_NUMBER, callee).await);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for id in &ids {
        let call = harness.ended(id).await;
        let status = call["status"].as_str().unwrap().to_string();
        let expected = match status.as_str() {
            "completed" | "busy" => "callee_hangup",
            "no-answer" | "left_voicemail" | "hangup_on_voicemail" => "caller_hangup",
            "failed" => "error",
            other => panic!("unexpected status {other}"),
        };
        assert_eq!(call["telephony_disconnect_reason"], expected, "{call}");
        // Ringing runs from 10% to 30% of the 10 s call.
        assert_eq!(call["telephony_ringing_duration"], 2_000, "{call}");
        seen.insert(status);
    }
    assert_eq!(seen.len(), 6, "every outcome was drawn: {seen:?}");
    let listed = harness.listed().await;
    assert_eq!(listed.len(), ids.len());
    for item in listed {
        let call = harness.ended(item["call_id"].as_str().unwrap()).await;
        assert_eq!(
            item["telephony_disconnect_reason"], call["telephony_disconnect_reason"],
            "{item}"
        );
    }
}

/// With the model on, each call's telephony agrees with how it went: a conversation rang
/// 3–20 s and was ended by the callee, a no-answer rang the full 30 s, a busy line and a block
/// did not ring.
#[tokio::test]
async fn every_call_reports_its_telephony_with_the_model_on() {
    let mut settings = labelling_after(30);
    settings.labelling.blocked = "0.5".parse().unwrap();
    let harness = Harness::start(config(Some(settings))).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        for callee in CALLEES {
            ids.push(harness.dial(BUSY_NUMBER, callee).await);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for id in &ids {
        let call = harness.ended(id).await;
        let ringing = call["telephony_ringing_duration"].as_u64().unwrap();
        let reason = call["telephony_disconnect_reason"].as_str().unwrap();
        let status = call["status"].as_str().unwrap();
        match status {
            "completed" => {
                assert!((3_000..=20_000).contains(&ringing), "{call}");
                assert_eq!(reason, "callee_hangup");
                assert!(call["duration"].as_u64().unwrap() >= 1, "{call}");
            }
            "no-answer" => assert_eq!((ringing, reason), (30_000, "caller_hangup"), "{call}"),
            "busy" => assert_eq!((ringing, reason), (0, "callee_hangup"), "{call}"),
            "failed" => assert_eq!((ringing, reason), (0, "forbidden"), "{call}"),
            other => panic!("the model never gives {other}: {call}"),
        }
        seen.insert(status.to_string());
    }
    assert!(
        seen.contains("completed") && seen.contains("no-answer") && seen.contains("failed"),
        "{seen:?}"
    );
}

/// `PUT /sandbox/answers` turns the model on (fields left out take their defaults) and off
/// (`null`), each time afresh; a bad body is a 400 naming what is wrong and changes nothing.
#[tokio::test]
async fn the_model_is_set_and_cleared_at_runtime() {
    let harness = Harness::start(config(None)).await;
    assert_eq!(harness.get("/sandbox/answers").await, Value::Null);
    harness.dial(BUSY_NUMBER, CALLEES[0]).await;

    let (status, body) = harness
        .put_answers(json!({ "labelling": { "day_calls": 1 } }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let shown = harness.get("/sandbox/answers").await;
    assert_eq!(shown["labelling"]["day_calls"], 1);
    assert_eq!(shown["labelling"]["minute_calls"], 10, "a default: {shown}");
    assert_eq!(shown["weekend_factor"], 0.6, "a default: {shown}");
    harness.dial(BUSY_NUMBER, CALLEES[1]).await;
    assert_eq!(
        harness.labels().await,
        [],
        "calls before the model do not count"
    );
    harness.dial(BUSY_NUMBER, CALLEES[2]).await;
    assert_eq!(harness.labels().await.len(), 1);

    for (bad, named) in [
        (json!({ "labelling": { "dayz": 1 } }), "dayz"),
        (
            json!({ "weekend_factor": 2 }),
            "`weekend_factor`: share `2`",
        ),
        (
            json!({ "lift": { "area_code": -1 } }),
            "`lift.area_code`: factor",
        ),
        (json!({ "labelling": { "days": 100000 } }), "labelling.days"),
        (json!([1]), "answer settings"),
    ] {
        let (status, body) = harness.put_answers(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(named), "{bad}: {message}");
    }
    assert_eq!(
        harness.labels().await.len(),
        1,
        "a refused body changes nothing"
    );

    let (status, _) = harness.put_answers(Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(harness.get("/sandbox/answers").await, Value::Null);
    assert_eq!(harness.labels().await, [], "off means no labels");
}

/// Two sandboxes with the same seed and clock answer the same calls alike.
#[tokio::test]
async fn the_same_seed_answers_the_same_calls_alike() {
    async fn outcomes(seed: u64) -> Vec<(Value, Value, Value)> {
        // A sandbox hour passes in 36 real seconds, so a slow machine still places every call
        // within the 11:00 hour, where the answer chance is the same for both runs.
        let harness = Harness::start(SandboxConfig {
            seed,
            time_scale: TimeScale::new(100.0).unwrap(),
            ..config(Some(labelling_after(20)))
        })
        .await;
        let mut ids = Vec::new();
        for from in [BUSY_NUMBER, QUIET_NUMBER] {
            for _ in 0..5 {
                for callee in CALLEES {
                    ids.push(harness.dial(from, callee).await);
                }
            }
        }
        let mut seen = Vec::new();
        for id in &ids {
            let call = harness.ended(id).await;
            seen.push((
                call["status"].clone(),
                call["duration"].clone(),
                call["telephony_ringing_duration"].clone(),
            ));
        }
        seen
    }
    let first = outcomes(11).await;
    assert_eq!(outcomes(11).await, first);
    assert_ne!(outcomes(12).await, first);
}

/// `POST /sandbox/labels` burns one number at the sandbox's present moment (between two reads
/// of `GET /sandbox/clock`): from then on its calls are blocked, and no other number's are;
/// with the model off it is refused, as nothing would act on it.
#[tokio::test]
async fn a_number_can_be_labelled_on_demand() {
    let harness = Harness::start(config(None)).await;
    let told = json!({ "number": BUSY_NUMBER });
    let (status, body) = harness.post_label(told.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("PUT /sandbox/answers")
    );

    let harness = Harness::start(config(Some(labelling_after(u32::MAX)))).await;
    let before_label = harness.dial(BUSY_NUMBER, CALLEES[0]).await;
    let clock_before = harness.clock().await;
    assert!(clock_before >= tuesday_late_morning());
    let (status, body) = harness.post_label(told.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let clock_after = harness.clock().await;
    let label: Label = serde_json::from_value(body).unwrap();
    assert_eq!(
        (&label.number, label.why),
        (&phone(BUSY_NUMBER), Overuse::Told)
    );
    assert!(
        clock_before <= label.since && label.since <= clock_after,
        "{label:?}"
    );
    assert_eq!(harness.labels().await, std::slice::from_ref(&label));
    let (_, again) = harness.post_label(told).await;
    assert_eq!(
        again["since"],
        json!(label.since),
        "a label in effect is kept"
    );

    let after_label = harness.dial(BUSY_NUMBER, CALLEES[1]).await;
    let quiet = harness.dial(QUIET_NUMBER, CALLEES[2]).await;
    let reason = |call: Value| call["telephony_disconnect_reason"].clone();
    assert_ne!(reason(harness.ended(&before_label).await), "forbidden");
    assert_eq!(reason(harness.ended(&after_label).await), "forbidden");
    assert_ne!(reason(harness.ended(&quiet).await), "forbidden");

    for (bad, named) in [
        (json!({ "number": "12" }), "E.164"),
        (json!({ "numbr": BUSY_NUMBER }), "numbr"),
    ] {
        let (status, body) = harness.post_label(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["message"].as_str().unwrap().contains(named), "{body}");
    }
}
