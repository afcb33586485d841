//! The sandbox's faults, call lifecycle and account limits over real HTTP: each test starts its
//! own sandbox on 127.0.0.1:0 and checks what a client meets on the wire against what the sandbox
//! says happened (`/sandbox/calls`, `/sandbox/stats`), since later dialer work is judged by both.

mod common;

use std::io;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use common::{Scenario, Settings, csv_of, numbers_in, open_journal};
use outdial::api::{ApiError, CallRequest, Synthflow};
use outdial::campaign::ApiKey;
use outdial::dialer::{self, Ending};
use outdial::progress::Display;
use outdial::sandbox::{
    AccountRefusal, Bursts, DEMO_AGENT_ID, Fault, Faults, LatencyTail, Limits, ReceivedCall,
    Sandbox, SandboxConfig, Share, Stats,
};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const KEY: &str = "test-key";

/// A running sandbox and a client that talks to it with a bearer key.
struct Harness {
    sandbox: Sandbox,
    http: reqwest::Client,
}

/// A create request's answer as the client got it, or the transport error it got instead.
type Answer = reqwest::Result<(StatusCode, HeaderMap, Value)>;

impl Harness {
    async fn start(config: SandboxConfig) -> Harness {
        Harness {
            sandbox: Sandbox::start(config).await.expect("sandbox starts"),
            http: reqwest::Client::new(),
        }
    }

    async fn with_faults(seed: u64, faults: Faults) -> Harness {
        Harness::start(SandboxConfig {
            seed,
            faults,
            ..SandboxConfig::default()
        })
        .await
    }

    fn v2(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.synthflow_base())
    }

    fn sandbox_url(&self, path: &str) -> String {
        format!("http://{}/sandbox{path}", self.sandbox.addr())
    }

    /// POSTs a create to `phone` with `http`, reading the whole answer.
    async fn create_with(&self, http: &reqwest::Client, phone: &str) -> Answer {
        let body = json!({ "model_id": DEMO_AGENT_ID, "phone": phone, "name": "Ada" });
        let request = http.post(self.v2("/calls")).bearer_auth(KEY).json(&body);
        read(request).await
    }

    async fn create(&self, phone: &str) -> Answer {
        self.create_with(&self.http, phone).await
    }

    /// A create whose answer must arrive; returns its status and body.
    async fn answered(&self, phone: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.create(phone).await.expect("the create is answered");
        (status, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let request = self.http.get(self.v2(path)).bearer_auth(KEY);
        let (status, _, body) = read(request).await.expect("the GET is answered");
        (status, body)
    }

    /// The calls the vendor lists for `phone`: how a dialer reconciles an uncertain create.
    async fn calls_to(&self, phone: &str) -> Vec<Value> {
        let encoded = phone.replace('+', "%2B");
        let path = format!("/calls?model_id={DEMO_AGENT_ID}&lead_phone_number={encoded}");
        let (status, body) = self.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["response"]["calls"].as_array().unwrap().clone()
    }

    /// Every call of the demo agent, as the list shows them (up to 100).
    async fn all_calls(&self) -> Vec<Value> {
        let path = format!("/calls?model_id={DEMO_AGENT_ID}&limit=100");
        let (status, body) = self.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["response"]["calls"].as_array().unwrap().clone()
    }

    /// How many calls the vendor has for the demo agent.
    async fn total_calls(&self) -> usize {
        let path = format!("/calls?model_id={DEMO_AGENT_ID}&limit=1");
        let (_, body) = self.get(&path).await;
        body["response"]["pagination"]["total_records"]
            .as_u64()
            .unwrap() as usize
    }

    async fn received(&self) -> Vec<ReceivedCall> {
        self.sandbox.received().await
    }

    /// The stats over HTTP, checked against the in-process view.
    async fn stats(&self) -> Stats {
        let response = self.http.get(self.sandbox_url("/stats")).send().await;
        let stats: Stats = response.unwrap().json().await.unwrap();
        assert_eq!(stats, self.sandbox.stats());
        stats
    }

    async fn put_faults(&self, faults: Value) -> (StatusCode, Value) {
        let request = self.http.put(self.sandbox_url("/faults")).json(&faults);
        let (status, _, body) = read(request).await.expect("the PUT is answered");
        (status, body)
    }
}

async fn read(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, headers, body))
}

/// `n` distinct callees.
fn callees(n: u32) -> Vec<String> {
    numbers_in(415, 0, n)
}

/// Asserts Synthflow's `{"detail": {…}}` error shape and returns the description.
fn detail(status: StatusCode, body: &Value, expected: StatusCode, category: &str) -> String {
    assert_eq!(status, expected, "unexpected answer: {body}");
    let detail = &body["detail"];
    assert_eq!(detail["status"], "error");
    assert_eq!(detail["category"], category, "{body}");
    assert!(detail["request_id"].is_string());
    detail["description"].as_str().unwrap().to_string()
}

fn share(value: f64) -> Share {
    Share::new(value).unwrap()
}

fn non_zero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

/// The bound on a polling loop, so a test waits on the thing itself but never forever.
struct Deadline {
    at: Instant,
    what: &'static str,
}

impl Deadline {
    fn after(limit: Duration, what: &'static str) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
            what,
        }
    }

    /// Fails the test once the deadline has passed, else pauses briefly before the next poll.
    async fn tick(&self) {
        assert!(
            Instant::now() < self.at,
            "{} did not happen in time",
            self.what
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_server_error_creates_nothing() {
    // Proves a 500 fault answers in the vendor's error shape and leaves no call behind.
    let app = Harness::with_faults(
        1,
        Faults {
            server_errors: Share::ALWAYS,
            ..Faults::default()
        },
    )
    .await;
    let phone = &callees(1)[0];
    let (status, body) = app.answered(phone).await;
    detail(
        status,
        &body,
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
    );
    assert!(app.calls_to(phone).await.is_empty());
    let received = app.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].status, 500);
    assert_eq!(received[0].call_id, None);
    assert_eq!(received[0].fault, Some(Fault::ServerError));
    let stats = app.stats().await;
    assert_eq!((stats.server_errors, stats.creates_accepted), (1, 0));
    app.sandbox.stop().await;
}

#[tokio::test]
async fn a_dropped_answer_is_a_transport_error_but_the_call_exists() {
    // Proves a dropped create reaches the client as a connection error, never a status, while
    // the call it created is there to be found by phone.
    let app = Harness::with_faults(
        1,
        Faults {
            dropped: Share::ALWAYS,
            ..Faults::default()
        },
    )
    .await;
    let phone = &callees(1)[0];
    let body = json!({ "model_id": DEMO_AGENT_ID, "phone": phone, "name": "Ada" });
    let sent = app.http.post(app.v2("/calls")).bearer_auth(KEY).json(&body);
    let error = sent
        .send()
        .await
        .expect_err("not even a status line arrives");
    assert!(error.is_request() && !error.is_timeout(), "{error:?}");

    let listed = app.calls_to(phone).await;
    assert_eq!(listed.len(), 1, "the call exists");
    let received = app.received().await;
    assert_eq!(received[0].status, 200);
    assert_eq!(received[0].fault, Some(Fault::Dropped));
    assert_eq!(
        received[0].call_id.as_deref(),
        listed[0]["call_id"].as_str()
    );
    assert_eq!(app.stats().await.dropped, 1);
    app.sandbox.stop().await;
}

#[tokio::test]
async fn a_slow_answer_outlasts_a_short_timeout_and_the_call_exists() {
    // Proves a slow create times the client out after the call was created, and that the
    // sandbox still stops promptly once that client has hung up.
    let app = Harness::with_faults(
        1,
        Faults {
            slow: Share::ALWAYS,
            ..Faults::default()
        },
    )
    .await;
    assert_eq!(app.sandbox.faults().slow_delay, Duration::from_secs(20));
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let phone = &callees(1)[0];
    let error = app
        .create_with(&impatient, phone)
        .await
        .expect_err("the client gives up first");
    assert!(error.is_timeout(), "{error}");

    assert_eq!(app.calls_to(phone).await.len(), 1, "the call exists");
    let received = app.received().await;
    assert!(received[0].call_id.is_some());
    assert_eq!(received[0].fault, Some(Fault::Slow));
    assert_eq!(app.stats().await.slow, 1);
    let stopped = tokio::time::timeout(Duration::from_secs(10), app.sandbox.stop()).await;
    assert!(
        stopped.is_ok(),
        "a slow answer nobody waits for held up the stop"
    );
}

#[tokio::test]
async fn a_slow_answer_arrives_after_the_slow_delay() {
    // Proves a patient client gets the slow create's ordinary success, no sooner than slow_ms.
    let app = Harness::with_faults(
        1,
        Faults {
            slow: Share::ALWAYS,
            slow_delay: Duration::from_millis(300),
            ..Faults::default()
        },
    )
    .await;
    let started = Instant::now();
    let (status, body) = app.answered(&callees(1)[0]).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::OK);
    assert!(body["response"]["call_id"].is_string());
    app.sandbox.stop().await;
}

/// Sends `n` creates one after another and returns what the sandbox says happened to each.
async fn fates(app: &Harness, n: u32) -> Vec<(u16, Option<Fault>, bool)> {
    for phone in callees(n) {
        // Dropped answers are errors here; the record says what happened.
        let _ = app.create(&phone).await;
    }
    app.received()
        .await
        .iter()
        .map(|call| (call.status, call.fault, call.call_id.is_some()))
        .collect()
}

fn mixed_faults() -> Faults {
    Faults {
        server_errors: share(0.1),
        dropped: share(0.05),
        slow: share(0.05),
        slow_delay: Duration::from_millis(1),
        bursts: Bursts {
            chance: share(0.02),
            length: non_zero(3),
            retry_after: None,
        },
        ..Faults::default()
    }
}

#[tokio::test]
async fn the_same_seed_gives_the_same_faults() {
    // Proves the sequence of fates is a function of the seed alone.
    let run = |seed: u64| async move {
        let app = Harness::with_faults(seed, mixed_faults()).await;
        let fates = fates(&app, 150).await;
        app.sandbox.stop().await;
        fates
    };
    let first = run(7).await;
    assert!(first.iter().any(|(_, fault, _)| fault.is_some()));
    assert_eq!(first, run(7).await);
    assert_ne!(first, run(8).await);
}

#[tokio::test]
async fn fault_shares_are_roughly_right_over_a_thousand_creates() {
    // Proves each share is honoured within sampling error and the stats agree with the record.
    let app = Harness::with_faults(42, mixed_faults()).await;
    let fates = fates(&app, 1_000).await;
    let count = |fault: Fault| fates.iter().filter(|(_, f, _)| *f == Some(fault)).count();
    let (errors, dropped, slow) = (
        count(Fault::ServerError),
        count(Fault::Dropped),
        count(Fault::Slow),
    );
    let bursts = count(Fault::Burst);
    // Expected: 10% of the creates outside bursts, 5%, 5%; about 6% of creates in bursts.
    assert!((60..=140).contains(&errors), "500s: {errors}");
    assert!((25..=80).contains(&dropped), "dropped: {dropped}");
    assert!((25..=80).contains(&slow), "slow: {slow}");
    assert!((20..=110).contains(&bursts), "in bursts: {bursts}");
    for (status, fault, created) in &fates {
        let expected_created = matches!(fault, None | Some(Fault::Dropped | Fault::Slow));
        assert_eq!(*created, expected_created, "{status} {fault:?}");
    }
    let stats = app.stats().await;
    assert_eq!(stats.create_requests, 1_000);
    assert_eq!(stats.server_errors as usize, errors);
    assert_eq!(stats.dropped as usize, dropped);
    assert_eq!(stats.slow as usize, slow);
    assert_eq!(stats.too_many_requests.burst as usize, bursts);
    let created = fates.iter().filter(|(_, _, created)| *created).count();
    assert_eq!(stats.creates_accepted as usize, created);
    assert_eq!(app.total_calls().await, created);
    app.sandbox.stop().await;
}

/// Faults with bursts starting at `chance`, `length` creates long.
fn bursty(chance: f64, length: u32, retry_after: Option<u32>) -> Faults {
    Faults {
        bursts: Bursts {
            chance: share(chance),
            length: non_zero(length),
            retry_after,
        },
        ..Faults::default()
    }
}

#[tokio::test]
async fn bursts_of_429_carry_retry_after_and_create_nothing() {
    // Proves burst 429s come in runs of the burst length, with the configured Retry-After,
    // and that none of them creates a call.
    let app = Harness::with_faults(3, bursty(0.1, 4, Some(2))).await;
    let mut in_burst = Vec::new();
    for phone in callees(300) {
        let (status, headers, body) = app.create(&phone).await.expect("answered");
        let limited = status == StatusCode::TOO_MANY_REQUESTS;
        if limited {
            detail(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
            assert_eq!(headers["retry-after"], "2");
            assert!(
                app.calls_to(&phone).await.is_empty(),
                "a 429 created a call"
            );
        } else {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        in_burst.push(limited);
    }
    let runs: Vec<usize> = in_burst
        .split(|limited| !limited)
        .map(<[bool]>::len)
        .filter(|len| *len > 0)
        .collect();
    assert!(runs.len() >= 5, "too few bursts to judge: {runs:?}");
    let complete = &runs[..runs.len() - 1];
    assert!(complete.iter().all(|len| len % 4 == 0), "{runs:?}");
    let limited = in_burst.iter().filter(|limited| **limited).count() as u64;
    assert_eq!(app.stats().await.too_many_requests.burst, limited);
    app.sandbox.stop().await;
}

#[tokio::test]
async fn bursts_without_retry_after_send_no_header() {
    // Proves a burst configured without Retry-After answers a bare 429, as the vendor documents.
    let app = Harness::with_faults(3, bursty(1.0, 1, None)).await;
    for phone in callees(3) {
        let (status, headers, _) = app.create(&phone).await.expect("answered");
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(headers.get("retry-after").is_none());
    }
    let received = app.received().await;
    assert!(received.iter().all(|call| call.fault == Some(Fault::Burst)));
    assert!(received.iter().all(|call| call.call_id.is_none()));
    app.sandbox.stop().await;
}

/// Every /v2 route a dialer uses, answered under a refusal.
async fn assert_refused_everywhere(app: &Harness, status: StatusCode, category: &str) {
    let phone = &callees(1)[0];
    let paths = [
        format!("/assistants/{DEMO_AGENT_ID}"),
        format!("/calls?model_id={DEMO_AGENT_ID}"),
        "/calls/any-call-id".to_string(),
    ];
    for path in &paths {
        let (got, body) = app.get(path).await;
        detail(got, &body, status, category);
    }
    let (got, body) = app.answered(phone).await;
    detail(got, &body, status, category);
}

#[tokio::test]
async fn a_refusal_answers_every_route_until_it_is_lifted_at_runtime() {
    // Proves 402 and 403 refusals cover every /v2 route, create nothing, are recorded, and can
    // be switched over HTTP and in-process while the sandbox serves.
    let refusing = Faults {
        refuse: Some(AccountRefusal::PaymentRequired),
        ..Faults::default()
    };
    let app = Harness::with_faults(1, refusing).await;
    let phone = &callees(1)[0];
    assert_refused_everywhere(&app, StatusCode::PAYMENT_REQUIRED, "payment_required").await;
    assert_eq!(app.received().await[0].fault, Some(Fault::Refused));

    let (status, now) = app.put_faults(json!({})).await;
    assert_eq!(status, StatusCode::OK, "{now}");
    assert_eq!(now["refuse"], Value::Null);
    assert_eq!(app.answered(phone).await.0, StatusCode::OK);

    let forbidding = Faults {
        refuse: Some(AccountRefusal::Forbidden),
        ..Faults::default()
    };
    app.sandbox.set_faults(forbidding).unwrap();
    assert_refused_everywhere(&app, StatusCode::FORBIDDEN, "forbidden").await;
    let (_, _, shown) = read(app.http.get(app.sandbox_url("/faults")))
        .await
        .unwrap();
    assert_eq!(shown["refuse"], 403);

    let stats = app.stats().await;
    assert_eq!((stats.refused, stats.creates_accepted), (2, 1));
    app.sandbox.set_faults(Faults::default()).unwrap();
    assert_eq!(app.calls_to(phone).await.len(), 1);
    app.sandbox.stop().await;
}

#[tokio::test]
async fn a_wrong_key_is_401_even_while_the_account_refuses() {
    // Proves the key check comes before the refusal: an unknown key cannot learn the account's state.
    let app = Harness::start(SandboxConfig {
        api_key: Some(KEY.to_string()),
        faults: Faults {
            refuse: Some(AccountRefusal::Forbidden),
            ..Faults::default()
        },
        ..SandboxConfig::default()
    })
    .await;
    let wrong = app.http.get(app.v2("/calls/x")).bearer_auth("wrong-key");
    let (status, _, body) = read(wrong).await.unwrap();
    detail(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    app.sandbox.stop().await;
}

#[tokio::test]
async fn bad_faults_are_refused_and_change_nothing() {
    // Proves PUT /sandbox/faults and start-up both refuse impossible faults with a reason.
    let app = Harness::with_faults(1, Faults::default()).await;
    for (bad, says) in [
        (json!({ "dropped": 1.5 }), "from 0 to 1"),
        (json!({ "server_errors": 0.6, "slow": 0.6 }), "add up"),
        (json!({ "refuse": 404 }), "402 or 403"),
        (json!({ "dropd": 0.1 }), "unknown field"),
        (json!([1]), "not valid JSON"),
    ] {
        let (status, body) = app.put_faults(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(says), "{bad}: {message}");
    }
    assert_eq!(app.sandbox.faults(), Faults::default());

    let impossible = Faults {
        dropped: share(0.7),
        slow: share(0.7),
        ..Faults::default()
    };
    assert!(app.sandbox.set_faults(impossible).is_err());
    let config = SandboxConfig {
        faults: impossible,
        ..SandboxConfig::default()
    };
    let error = Sandbox::start(config).await.expect_err("refused at start");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    app.sandbox.stop().await;
}

#[tokio::test]
async fn the_latency_tail_delays_its_share_of_answers() {
    // Proves a tail at share 1 delays every /v2 answer by its delay, and lifting it ends that.
    let tail = Faults {
        tail: LatencyTail {
            share: Share::ALWAYS,
            delay: Duration::from_millis(250),
        },
        ..Faults::default()
    };
    let app = Harness::with_faults(1, tail).await;
    let started = Instant::now();
    app.get(&format!("/assistants/{DEMO_AGENT_ID}")).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    app.sandbox.set_faults(Faults::default()).unwrap();
    let started = Instant::now();
    app.get(&format!("/assistants/{DEMO_AGENT_ID}")).await;
    assert!(started.elapsed() < Duration::from_millis(250));
    app.sandbox.stop().await;
}

#[tokio::test]
async fn the_dialer_client_sorts_each_fault_as_the_dialer_must_handle_it() {
    // Proves what the dialer sees: 500 and a dropped answer may have created a call, a burst is
    // a retryable 429 with its Retry-After, a refusal is an account error.
    let app = Harness::with_faults(1, Faults::default()).await;
    let base = reqwest::Url::parse(&app.sandbox.synthflow_base()).unwrap();
    let client = Synthflow::new(&base, ApiKey::new(KEY)).unwrap();
    let phones = callees(5);
    let dial = async |index: usize, faults: Faults| {
        app.sandbox.set_faults(faults).unwrap();
        let request = CallRequest {
            model_id: DEMO_AGENT_ID,
            phone: &phones[index],
            name: "Ada",
            from_phone_number: "+12125550101",
            custom_variables: &[],
        };
        client
            .create_call(&request)
            .await
            .expect_err("the fault shows")
    };
    let server = dial(
        0,
        Faults {
            server_errors: Share::ALWAYS,
            ..Faults::default()
        },
    )
    .await;
    assert!(
        matches!(server, ApiError::Server { status: 500, .. }),
        "{server:?}"
    );
    assert!(server.may_have_created());
    let dropped = dial(
        1,
        Faults {
            dropped: Share::ALWAYS,
            ..Faults::default()
        },
    )
    .await;
    assert!(matches!(dropped, ApiError::Transport(_)), "{dropped:?}");
    assert!(dropped.may_have_created());
    let burst = dial(2, bursty(1.0, 1, Some(3))).await;
    let retry_after = Some(Duration::from_secs(3));
    assert!(matches!(burst, ApiError::RateLimited { retry_after: r } if r == retry_after));
    let refused = Faults {
        refuse: Some(AccountRefusal::PaymentRequired),
        ..Faults::default()
    };
    let refused = dial(3, refused).await;
    assert!(
        matches!(refused, ApiError::Account { status: 402, .. }),
        "{refused:?}"
    );
    app.sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_run_stops_and_a_later_run_completes_once_lifted() {
    // Proves the runtime switch serves crash tests: a run against a refusing account calls
    // nobody, and once the refusal is lifted a later run calls everyone exactly once.
    let phones = numbers_in(212, 0, 20);
    let scenario = Scenario::start(&["+12125550101"], Settings::default(), &csv_of(&phones)).await;
    let refusing = Faults {
        refuse: Some(AccountRefusal::PaymentRequired),
        ..Faults::default()
    };
    scenario.sandbox.set_faults(refusing).unwrap();
    let campaign = scenario.campaign();
    {
        let journal = open_journal(&campaign).await;
        let first = dialer::launch(
            &campaign,
            &journal,
            ApiKey::new(KEY),
            Display::Quiet,
            std::future::pending(),
        )
        .await;
        let stopped = match &first {
            Err(_) => true,
            Ok(finish) => matches!(finish.ending, Ending::AccountRefused(_)),
        };
        assert!(stopped, "the refused run did not stop: {first:?}");
    }
    assert!(scenario.calls_per_phone().await.is_empty());

    scenario.sandbox.set_faults(Faults::default()).unwrap();
    let finish = scenario.run().await;
    assert!(
        matches!(finish.ending, Ending::Complete),
        "{:?}",
        finish.ending
    );
    scenario.assert_each_called_once(&phones).await;
}

/// The `end_call_reason` and the `duration` range (simulated seconds) each status must come
/// with, for calls drawn from 30..90 s.
fn expected_ending(status: &str) -> (&'static str, std::ops::RangeInclusive<u64>) {
    match status {
        "completed" => ("human_ended_call", 30..=90),
        "left_voicemail" => ("voicemail_message_left", 15..=45),
        "hangup_on_voicemail" => ("voicemail", 12..=36),
        "no-answer" => ("timeout", 0..=0),
        "busy" | "failed" => ("error", 0..=0),
        other => panic!("not a terminal status of the mix: {other}"),
    }
}

const LIVE: [&str; 3] = ["queued", "ringing", "in-progress"];

#[tokio::test]
async fn calls_reach_the_mixed_terminal_statuses_in_scaled_time() {
    // Proves the outcome mix, the length range and the time scale together: 80 calls of 30–90
    // simulated seconds all end within real seconds, each status of the mix shows up, and each
    // ending has its reason and a duration that fits it.
    let app = Harness::start(SandboxConfig {
        seed: 5,
        call_duration: "30..90".parse().unwrap(),
        outcomes: "completed=40,no-answer=20,busy=10,failed=10,left_voicemail=10,\
                   hangup_on_voicemail=10"
            .parse()
            .unwrap(),
        time_scale: "300".parse().unwrap(),
        ..SandboxConfig::default()
    })
    .await;
    for phone in callees(80) {
        assert_eq!(app.answered(&phone).await.0, StatusCode::OK);
    }
    let deadline = Deadline::after(Duration::from_secs(20), "every call ending");
    let calls = loop {
        let calls = app.all_calls().await;
        let live = |call: &Value| LIVE.contains(&call["call_status"].as_str().unwrap());
        if !calls.iter().any(live) {
            break calls;
        }
        deadline.tick().await;
    };
    let mut seen = std::collections::HashSet::new();
    for call in &calls {
        let status = call["call_status"].as_str().unwrap();
        let (reason, durations) = expected_ending(status);
        assert_eq!(call["end_call_reason"], reason, "{call}");
        let duration = call["duration"].as_u64().unwrap();
        assert!(durations.contains(&duration), "{status} lasted {duration}s");
        seen.insert(status.to_string());
    }
    assert_eq!(seen.len(), 6, "only {seen:?}");
    let id = calls[0]["call_id"].as_str().unwrap();
    let (_, one) = app.get(&format!("/calls/{id}")).await;
    assert_eq!(
        one["response"]["calls"][0]["status"],
        calls[0]["call_status"]
    );
    app.sandbox.stop().await;
}

/// Polls call `id` until it ends and returns the statuses it showed, in order, and the call.
async fn watch_call(app: &Harness, id: &str) -> (Vec<String>, Value) {
    let deadline = Deadline::after(Duration::from_secs(20), "the call ending");
    let mut seen: Vec<String> = Vec::new();
    loop {
        let (_, body) = app.get(&format!("/calls/{id}")).await;
        let call = body["response"]["calls"][0].clone();
        let status = call["status"].as_str().unwrap().to_string();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if !LIVE.contains(&status.as_str()) {
            return (seen, call);
        }
        deadline.tick().await;
    }
}

fn in_order(seen: &[String], order: &[&str]) -> bool {
    let positions: Option<Vec<usize>> = seen
        .iter()
        .map(|status| order.iter().position(|known| known == status))
        .collect();
    positions.is_some_and(|positions| positions.is_sorted())
}

#[tokio::test]
async fn an_unanswered_call_rings_then_ends_without_talk() {
    // Proves a busy call never goes in-progress and ends after ringing with no duration, at the
    // real time the time scale gives.
    let app = Harness::start(SandboxConfig {
        call_duration: Duration::from_secs(120).into(),
        outcomes: "busy=1".parse().unwrap(),
        time_scale: "60".parse().unwrap(),
        ..SandboxConfig::default()
    })
    .await;
    let started = Instant::now();
    let (_, created) = app.answered(&callees(1)[0]).await;
    let id = created["response"]["call_id"].as_str().unwrap();
    let (seen, call) = watch_call(&app, id).await;
    // Ringing lasts from 10% to 30% of 120 simulated seconds: 0.2 to 0.6 real seconds.
    assert!(started.elapsed() >= Duration::from_millis(590));
    assert!(in_order(&seen, &["queued", "ringing", "busy"]), "{seen:?}");
    assert!(seen.contains(&"ringing".to_string()), "{seen:?}");
    assert_eq!(call["duration"], 0);
    assert_eq!(call["end_call_reason"], "error");
    app.sandbox.stop().await;
}

#[tokio::test]
async fn a_completed_call_talks_for_its_scaled_length() {
    // Proves a completed call passes in-progress and reports its simulated length as duration
    // after the scaled real time.
    let app = Harness::start(SandboxConfig {
        call_duration: Duration::from_secs(60).into(),
        time_scale: "60".parse().unwrap(),
        ..SandboxConfig::default()
    })
    .await;
    let started = Instant::now();
    let (_, created) = app.answered(&callees(1)[0]).await;
    let id = created["response"]["call_id"].as_str().unwrap();
    let (seen, call) = watch_call(&app, id).await;
    assert!(started.elapsed() >= Duration::from_millis(990));
    let order = ["queued", "ringing", "in-progress", "completed"];
    assert!(in_order(&seen, &order), "{seen:?}");
    assert!(seen.contains(&"in-progress".to_string()), "{seen:?}");
    assert_eq!(call["duration"], 60);
    assert_eq!(call["end_call_reason"], "human_ended_call");
    app.sandbox.stop().await;
}

#[tokio::test]
async fn the_live_call_limit_answers_429_until_a_call_ends() {
    // Proves max_live: a create while the limit's calls are live is a 429 that creates nothing,
    // a slot frees when a call ends, and the stats show the peak and the cause.
    let app = Harness::start(SandboxConfig {
        call_duration: Duration::from_secs(5).into(),
        time_scale: "10".parse().unwrap(),
        limits: Limits {
            max_live: Some(non_zero(2)),
            max_cps: None,
        },
        ..SandboxConfig::default()
    })
    .await;
    let phones = callees(3);
    let (_, first) = app.answered(&phones[0]).await;
    assert_eq!(app.answered(&phones[1]).await.0, StatusCode::OK);
    let (status, body) = app.answered(&phones[2]).await;
    let description = detail(status, &body, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(description.contains("Concurrency limit"), "{description}");
    assert!(app.calls_to(&phones[2]).await.is_empty());
    assert_eq!(app.received().await[2].fault, Some(Fault::LiveLimit));

    watch_call(&app, first["response"]["call_id"].as_str().unwrap()).await;
    assert_eq!(app.answered(&phones[2]).await.0, StatusCode::OK);
    let stats = app.stats().await;
    assert_eq!(stats.max_live, 2);
    assert_eq!(stats.too_many_requests.live_limit, 1);
    assert_eq!(stats.creates_accepted, 3);
    app.sandbox.stop().await;
}

#[tokio::test]
async fn the_calls_per_second_limit_answers_429_within_a_second() {
    // Proves max_cps: no one-second window holds more accepted creates than the limit, the
    // excess is a 429 that creates nothing, and the window slides on.
    let app = Harness::start(SandboxConfig {
        call_duration: Duration::ZERO.into(),
        limits: Limits {
            max_live: None,
            max_cps: Some(non_zero(3)),
        },
        ..SandboxConfig::default()
    })
    .await;
    let phones = callees(11);
    let started = Instant::now();
    for phone in &phones[..10] {
        app.answered(phone).await;
    }
    let burst_took = started.elapsed();
    let received = app.received().await;
    let accepted: Vec<i64> = received
        .iter()
        .filter(|call| call.call_id.is_some())
        .map(|call| call.at_ms)
        .collect();
    for (index, start) in accepted.iter().enumerate() {
        let within = accepted[index..]
            .iter()
            .filter(|t| **t < start + 1_000)
            .count();
        assert!(within <= 3, "{within} accepted within a second of {start}");
    }
    if burst_took < Duration::from_millis(900) {
        assert_eq!(accepted.len(), 3, "ten creates in {burst_took:?}");
    }
    for call in received.iter().filter(|call| call.call_id.is_none()) {
        assert_eq!((call.status, call.fault), (429, Some(Fault::RateLimit)));
    }
    let limited = app.stats().await.too_many_requests.rate_limit;
    assert_eq!(limited as usize, 10 - accepted.len());

    let deadline = Deadline::after(Duration::from_secs(5), "a create accepted again");
    while app.answered(&phones[10]).await.0 != StatusCode::OK {
        deadline.tick().await;
    }
    let last = app.received().await.last().unwrap().at_ms;
    assert!(
        last >= accepted[accepted.len() - 3] + 990,
        "the window did not slide"
    );
    app.sandbox.stop().await;
}

#[tokio::test]
async fn stopping_cuts_a_slow_answer_short() {
    // Proves a client still waiting on a slow answer does not hold up the sandbox's stop; it
    // sees the connection end instead.
    let app = Harness::with_faults(
        1,
        Faults {
            slow: Share::ALWAYS,
            ..Faults::default()
        },
    )
    .await;
    let phone = callees(1).remove(0);
    let (http, url) = (app.http.clone(), app.v2("/calls"));
    let waiting = tokio::spawn(async move {
        let body = json!({ "model_id": DEMO_AGENT_ID, "phone": phone, "name": "Ada" });
        read(http.post(url).bearer_auth(KEY).json(&body)).await
    });
    let deadline = Deadline::after(Duration::from_secs(5), "the slow create arriving");
    while app.received().await.is_empty() {
        deadline.tick().await;
    }
    let started = Instant::now();
    app.sandbox.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let answer = waiting.await.unwrap();
    assert!(answer.is_err(), "{answer:?}");
}

/// `list_omits` leaves the same calls out of every listing while `GET /v2/calls/{id}` still
/// knows them, and `forget_calls` empties the list too; every `/v2` request is counted by route
/// (in the stats and, with its time, at `/sandbox/requests`), whatever its answer.
#[tokio::test]
async fn the_list_can_omit_calls_and_every_request_is_counted_by_route() {
    let harness = Harness::with_faults(
        5,
        Faults {
            list_omits: Share::new(0.5).unwrap(),
            ..Faults::default()
        },
    )
    .await;
    let mut ids = Vec::new();
    for phone in callees(40) {
        let (status, body) = harness.answered(&phone).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(body["response"]["call_id"].as_str().unwrap().to_owned());
    }
    let listed = |calls: Vec<Value>| -> Vec<String> {
        calls
            .iter()
            .map(|c| c["call_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = listed(harness.all_calls().await);
    assert!(
        (8..=32).contains(&first.len()),
        "{} of 40 listed at a share of 0.5",
        first.len()
    );
    assert_eq!(
        listed(harness.all_calls().await),
        first,
        "the same calls go missing"
    );
    assert_eq!(harness.total_calls().await, first.len());
    for id in ids.iter().filter(|id| !first.contains(id)) {
        let (status, _) = harness.get(&format!("/calls/{id}")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "an unlisted call is still known alone"
        );
    }
    let unlisted = ids.len() - first.len();
    let (status, _) = harness.put_faults(json!({ "forget_calls": true })).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        harness.all_calls().await.is_empty(),
        "forgotten calls are listed"
    );

    let counted = harness.stats().await.requests;
    let expected = [
        ("POST /v2/calls", 40),
        ("GET /v2/calls", 4),
        ("GET /v2/calls/{call_id}", unlisted as u64),
    ];
    for (route, n) in expected {
        assert_eq!(counted.get(route).copied(), Some(n), "{route}: {counted:?}");
    }
    let served: Value = harness
        .http
        .get(harness.sandbox_url("/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let served = served["requests"].as_array().unwrap();
    assert_eq!(served.len() as u64, counted.values().sum::<u64>());
    assert!(
        served
            .windows(2)
            .all(|w| w[0]["at_ms"].as_i64() <= w[1]["at_ms"].as_i64())
    );
}
