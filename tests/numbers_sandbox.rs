//! The sandbox's pool and numbers routes on the wire: the vendors' envelopes and error shapes,
//! and the Flowyte idempotency rule, checked with plain HTTP requests.

use outdial::sandbox::{DEMO_AGENT_ID, Sandbox, SandboxConfig};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).await.unwrap()
}

fn client() -> Client {
    Client::new()
}

async fn body(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// A POST to the Flowyte sandbox with a bearer key and, when given, an idempotency key.
async fn post(sandbox: &Sandbox, path: &str, key: Option<&str>, body: Value) -> Response {
    let mut request = client()
        .post(format!("{}{path}", sandbox.numbers_base()))
        .bearer_auth("flowyte_sk_test")
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

/// The same Idempotency-Key and body get the first version back, marked as a replay; a new
/// key publishes a new version.
#[tokio::test(flavor = "multi_thread")]
async fn publish_with_the_same_idempotency_key_returns_the_same_version() {
    let sandbox = sandbox().await;
    let path = format!("/agents/{DEMO_AGENT_ID}/publish");
    let note = json!({ "note": "first" });

    let first = post(&sandbox, &path, Some("key-1"), note.clone()).await;
    let replay = post(&sandbox, &path, Some("key-1"), note.clone()).await;
    let fresh = post(&sandbox, &path, Some("key-2"), note).await;

    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let (first, replay, fresh) = (body(first).await, body(replay).await, body(fresh).await);
    assert_eq!(first, replay);
    assert_eq!(first["data"]["version"], 1);
    assert_eq!(fresh["data"]["version"], 2);
}

/// A key reused with another body is refused (422) rather than answered with the wrong result.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_reused_with_another_body_is_refused() {
    let sandbox = sandbox().await;
    let path = format!("/agents/{DEMO_AGENT_ID}/publish");
    post(&sandbox, &path, Some("key-1"), json!({ "note": "a" })).await;

    let reused = post(&sandbox, &path, Some("key-1"), json!({ "note": "b" })).await;

    assert_eq!(reused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body(reused).await["code"], "idempotency_key_reused");
}

/// Successes use the `{success, data}` envelope; refusals are problem+json with a code.
#[tokio::test(flavor = "multi_thread")]
async fn answers_use_the_envelope_and_refusals_are_problem_json() {
    let sandbox = sandbox().await;

    let wallet = client()
        .get(format!("{}/billing/wallet", sandbox.numbers_base()))
        .bearer_auth("flowyte_sk_test")
        .send()
        .await
        .unwrap();
    let unknown = post(
        &sandbox,
        "/numbers/reserve",
        None,
        json!({ "e164": "+14155550199" }),
    )
    .await;
    let no_key = client()
        .get(format!("{}/billing/wallet", sandbox.numbers_base()))
        .send()
        .await
        .unwrap();

    let wallet = body(wallet).await;
    assert_eq!(wallet["success"], true);
    assert_eq!(wallet["data"]["balanceUsd"], 50.0);
    for (response, status, code) in [
        (unknown, 404, "number_not_found"),
        (no_key, 401, "unauthorized"),
    ] {
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem = body(response).await;
        assert_eq!(problem["status"], status);
        assert_eq!(problem["code"], code);
        for field in ["type", "title", "detail", "instance"] {
            assert!(problem[field].is_string(), "{field} in {problem}");
        }
    }
}

/// Synthflow's attach takes numbers or slugs, never both (400), and an unknown agent is a 404
/// in the `{"detail": {…}}` shape.
#[tokio::test(flavor = "multi_thread")]
async fn synthflow_attach_refuses_both_lists_and_unknown_agents() {
    let sandbox = sandbox().await;
    let attach = |agent: &str, body: Value| {
        client()
            .put(format!(
                "{}/assistants/{agent}/phone_numbers",
                sandbox.synthflow_base()
            ))
            .bearer_auth("test-key")
            .json(&body)
            .send()
    };
    let both = json!({ "phone_numbers": ["+13125550104"], "phone_number_slugs": ["13125550104"] });

    let mixed = attach(DEMO_AGENT_ID, both).await.unwrap();
    let unknown = attach("nobody", json!({ "phone_numbers": ["+13125550104"] }))
        .await
        .unwrap();

    assert_eq!(mixed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let detail = &body(unknown).await["detail"];
    for field in ["status", "description", "request_id", "category"] {
        assert!(detail[field].is_string(), "{field} in {detail}");
    }
}
