//! `outdial numbers …`, `outdial wallet` and `outdial agent publish`: the real binary against the
//! sandbox's Flowyte API, from search to release, including the refusals a person must act on.

use outdial::sandbox::{AgentSpec, Sandbox, SandboxConfig, Usd};
use serde_json::Value;

const AGENT: &str = "numbers-agent";

/// A sandbox with 2000 numbers for sale (every area code several times) and `wallet` dollars.
async fn sandbox(wallet: Usd) -> Sandbox {
    let config = SandboxConfig {
        agents: vec![AgentSpec {
            id: AGENT.into(),
            numbers: Vec::new(),
        }],
        inventory: 2000,
        wallet,
        ..SandboxConfig::default()
    };
    Sandbox::start(config).await.expect("the sandbox starts")
}

async fn with_fifty_dollars() -> Sandbox {
    sandbox(Usd::from_dollars(50)).await
}

/// What one run of the binary left behind.
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    fn json(&self) -> Value {
        assert_eq!(self.code, Some(0), "{}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs the real binary against `sandbox`, with a Flowyte key and no terminal on stdin.
async fn outdial_with(sandbox: &Sandbox, args: &[&str], key: Option<&str>) -> Out {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_outdial"));
    command
        .args(args)
        .env("OUTDIAL_NUMBERS_API_BASE", sandbox.numbers_base())
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    match key {
        Some(key) => command.env("FLOWYTE_API_KEY", key),
        None => command.env_remove("FLOWYTE_API_KEY"),
    };
    let out = command.output().await.expect("the binary runs");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn outdial(sandbox: &Sandbox, args: &[&str]) -> Out {
    outdial_with(sandbox, args, Some("flowyte_sk_test")).await
}

/// The first number `search --json` lists for `filters`.
async fn offer(sandbox: &Sandbox, filters: &[&str]) -> Value {
    let args = [&["numbers", "search", "--json"], filters].concat();
    let found = outdial(sandbox, &args).await.json();
    found["numbers"][0].clone()
}

/// A local number for sale in California.
async fn a_local_number(sandbox: &Sandbox) -> String {
    let offer = offer(sandbox, &["--state", "CA", "--type", "local"]).await;
    offer["e164"]
        .as_str()
        .expect("a number for sale")
        .to_owned()
}

/// Buys a local number and returns its id.
async fn bought(sandbox: &Sandbox) -> String {
    let e164 = a_local_number(sandbox).await;
    let number = outdial(sandbox, &["numbers", "buy", &e164, "--json"])
        .await
        .json();
    number["id"].as_str().unwrap().to_owned()
}

async fn balance(sandbox: &Sandbox) -> f64 {
    let wallet = outdial(sandbox, &["wallet", "--json"]).await.json();
    wallet["balanceUsd"].as_f64().unwrap()
}

/// The table shows each number with its place, features and price.
#[tokio::test(flavor = "multi_thread")]
async fn search_lists_number_place_features_and_price() {
    let sandbox = with_fifty_dollars().await;

    let out = outdial(
        &sandbox,
        &[
            "numbers", "search", "--state", "CA", "--type", "local", "--limit", "3",
        ],
    )
    .await;

    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let rows: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("+1")).collect();
    assert_eq!(rows.len(), 3, "{}", out.stdout);
    for row in rows {
        assert!(row.contains(", CA") && row.contains("voice"), "{row}");
        assert!(row.contains("$1.15") && row.contains("$1.00"), "{row}");
    }
}

/// `--json` lists the vendor's fields, and every filter given holds for every number.
#[tokio::test(flavor = "multi_thread")]
async fn search_json_honours_the_filters() {
    let sandbox = with_fifty_dollars().await;

    let found = outdial(
        &sandbox,
        &[
            "numbers",
            "search",
            "--state",
            "tx",
            "--features",
            "voice,sms",
            "--limit",
            "5",
            "--json",
        ],
    )
    .await
    .json();

    assert_eq!(found["widened"], false);
    let numbers = found["numbers"].as_array().unwrap();
    assert_eq!(numbers.len(), 5);
    for number in numbers {
        assert!(number["e164"].as_str().unwrap().starts_with("+1"));
        assert_eq!(number["region"], "TX");
        assert!(number["locality"].is_string());
        let features = number["features"].as_array().unwrap();
        assert!(features.contains(&"sms".into()), "{number}");
        assert!(number["monthlyCost"].is_f64() && number["setupCost"].is_f64());
        assert_eq!(number["currency"], "USD");
    }
}

/// A strict search that matches nothing finds nothing; without --strict the vendor widens
/// (here to the same area code without the digit pattern) and the output says so.
#[tokio::test(flavor = "multi_thread")]
async fn strict_finds_only_exact_matches_and_best_effort_widens() {
    let sandbox = with_fifty_dollars().await;
    let impossible = [
        "numbers",
        "search",
        "--area-code",
        "415",
        "--contains",
        "0000000000",
    ];

    let strict = outdial(
        &sandbox,
        &[&impossible[..], &["--strict", "--json"]].concat(),
    )
    .await
    .json();
    let widened = outdial(&sandbox, &[&impossible[..], &["--json"]].concat())
        .await
        .json();
    let text = outdial(&sandbox, &impossible).await;

    assert_eq!(strict["numbers"].as_array().unwrap().len(), 0);
    assert_eq!(widened["widened"], true);
    let numbers = widened["numbers"].as_array().unwrap();
    assert!(!numbers.is_empty());
    assert!(
        numbers
            .iter()
            .all(|n| n["e164"].as_str().unwrap().starts_with("+1415"))
    );
    assert!(text.stdout.contains("no exact match"), "{}", text.stdout);
}

/// A reservation is printed with its id and expiry, and shows how to buy under it.
#[tokio::test(flavor = "multi_thread")]
async fn reserve_prints_the_reservation_and_its_expiry() {
    let sandbox = with_fifty_dollars().await;
    let e164 = a_local_number(&sandbox).await;

    let out = outdial(&sandbox, &["numbers", "reserve", &e164]).await;

    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("as reservation res_"), "{}", out.stdout);
    assert!(out.stdout.contains(" until 20"), "{}", out.stdout);
    assert!(out.stdout.contains("--reservation res_"), "{}", out.stdout);
}

/// Holding a number someone already holds is a 409: exit 1, advising a new search.
#[tokio::test(flavor = "multi_thread")]
async fn reserving_a_held_number_exits_1_advising_to_search_again() {
    let sandbox = with_fifty_dollars().await;
    let e164 = a_local_number(&sandbox).await;
    let first = outdial(&sandbox, &["numbers", "reserve", &e164, "--json"])
        .await
        .json();
    assert_eq!(first["e164"], e164.as_str());
    assert!(first["expiresAt"].is_string());

    let second = outdial(&sandbox, &["numbers", "reserve", &e164]).await;

    assert_eq!(second.code, Some(1), "{}", second.stderr);
    assert!(
        second.stderr.contains("can no longer be held") && second.stderr.contains("search again"),
        "{}",
        second.stderr
    );
}

/// Buying under a reservation prints the new number's id and takes setup plus the first
/// month from the wallet.
#[tokio::test(flavor = "multi_thread")]
async fn buy_under_a_reservation_prints_the_number_id_and_debits_the_wallet() {
    let sandbox = with_fifty_dollars().await;
    let offer = offer(&sandbox, &["--state", "NY", "--type", "local"]).await;
    let e164 = offer["e164"].as_str().unwrap();
    let price = offer["setupCost"].as_f64().unwrap() + offer["monthlyCost"].as_f64().unwrap();
    let hold = outdial(&sandbox, &["numbers", "reserve", e164, "--json"])
        .await
        .json();
    let reservation = hold["id"].as_str().unwrap();

    let out = outdial(
        &sandbox,
        &["numbers", "buy", e164, "--reservation", reservation],
    )
    .await;

    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("as number num_"), "{}", out.stdout);
    assert!((balance(&sandbox).await - (50.0 - price)).abs() < 0.005);
}

/// The same purchase run twice is one purchase: the Idempotency-Key derived from the
/// operation gets the first answer back instead of a 409, and the wallet pays once.
#[tokio::test(flavor = "multi_thread")]
async fn buying_the_same_number_again_is_one_purchase() {
    let sandbox = with_fifty_dollars().await;
    let e164 = a_local_number(&sandbox).await;
    let buy = ["numbers", "buy", e164.as_str(), "--json"];

    let first = outdial(&sandbox, &buy).await.json();
    let again = outdial(&sandbox, &buy).await.json();

    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["e164"], e164.as_str());
    assert_eq!(first["status"], "available");
    assert!((balance(&sandbox).await - (50.0 - 2.15)).abs() < 0.005);
}

/// A wallet too small for the purchase is a 402: exit 3, showing the balance and how to top
/// up; nothing is bought.
#[tokio::test(flavor = "multi_thread")]
async fn buy_with_a_short_wallet_exits_3_showing_balance_and_top_up() {
    let sandbox = sandbox(Usd::from_cents(100)).await;
    let e164 = a_local_number(&sandbox).await;

    let out = outdial(&sandbox, &["numbers", "buy", &e164]).await;

    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("the wallet holds $1.00"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("top up"), "{}", out.stderr);
    let still_for_sale = outdial(&sandbox, &["numbers", "reserve", &e164]).await;
    assert_eq!(still_for_sale.code, Some(0), "{}", still_for_sale.stderr);
}

/// Assigning sets the agent and reminds to publish, since calls use the published version.
#[tokio::test(flavor = "multi_thread")]
async fn assign_sets_the_agent_and_reminds_to_publish() {
    let sandbox = with_fifty_dollars().await;
    let id = bought(&sandbox).await;

    let text = outdial(&sandbox, &["numbers", "assign", &id, "--agent", AGENT]).await;
    let json = outdial(
        &sandbox,
        &["numbers", "assign", &id, "--agent", AGENT, "--json"],
    )
    .await;

    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(
        text.stdout
            .contains(&format!("outdial agent publish {AGENT}")),
        "{}",
        text.stdout
    );
    let number = json.json();
    assert_eq!(number["status"], "assigned");
    assert_eq!(number["defaultAgentId"], AGENT);
    assert!(json.stderr.contains("publish"), "{}", json.stderr);
}

/// Unassigning says plainly that the number is still owned and billed.
#[tokio::test(flavor = "multi_thread")]
async fn unassign_says_the_number_is_still_owned_and_billed() {
    let sandbox = with_fifty_dollars().await;
    let id = bought(&sandbox).await;
    let assigned = ["numbers", "assign", &id, "--agent", AGENT, "--json"];
    assert_eq!(
        outdial(&sandbox, &assigned).await.json()["status"],
        "assigned"
    );

    let text = outdial(&sandbox, &["numbers", "unassign", &id]).await;
    let json = outdial(&sandbox, &["numbers", "unassign", &id, "--json"])
        .await
        .json();

    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(
        text.stdout.contains("still yours and still billed"),
        "{}",
        text.stdout
    );
    assert_eq!(json["status"], "available");
    assert!(json["defaultAgentId"].is_null());
}

/// Without --yes and without a terminal, release is refused (exit 2) before any request, and
/// the number is still owned: it can still be assigned.
#[tokio::test(flavor = "multi_thread")]
async fn release_without_yes_on_a_non_terminal_is_refused() {
    let sandbox = with_fifty_dollars().await;
    let id = bought(&sandbox).await;
    let served = sandbox.requests_served();

    let out = outdial(&sandbox, &["numbers", "release", &id]).await;

    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert_eq!(sandbox.requests_served(), served);
    let assign = outdial(&sandbox, &["numbers", "assign", &id, "--agent", AGENT]).await;
    assert_eq!(assign.code, Some(0), "{}", assign.stderr);
}

/// With --yes the number is released for good: it can no longer be assigned (404, exit 1).
#[tokio::test(flavor = "multi_thread")]
async fn release_with_yes_gives_the_number_up() {
    let sandbox = with_fifty_dollars().await;
    let id = bought(&sandbox).await;

    let released = outdial(&sandbox, &["numbers", "release", &id, "--yes", "--json"])
        .await
        .json();
    let assign = outdial(&sandbox, &["numbers", "assign", &id, "--agent", AGENT]).await;

    assert_eq!(released["status"], "released");
    assert_eq!(assign.code, Some(1), "{}", assign.stderr);
    assert!(assign.stderr.contains(&id), "{}", assign.stderr);
}

/// An imported number comes with its provider and agent, and costs the wallet nothing.
#[tokio::test(flavor = "multi_thread")]
async fn import_brings_in_an_own_number_without_charge() {
    let sandbox = with_fifty_dollars().await;

    let number = outdial(
        &sandbox,
        &[
            "numbers",
            "import",
            "--number",
            "+13125550123",
            "--provider",
            "twilio",
            "--agent",
            AGENT,
            "--json",
        ],
    )
    .await
    .json();

    assert_eq!(number["e164"], "+13125550123");
    assert_eq!(number["provider"], "twilio");
    assert_eq!(number["status"], "assigned");
    assert_eq!(balance(&sandbox).await, 50.0);
}

/// The wallet shows its balance and auto-reload setting, as text and as JSON.
#[tokio::test(flavor = "multi_thread")]
async fn wallet_shows_balance_and_auto_reload() {
    let sandbox = sandbox(Usd::from_cents(1234)).await;

    let text = outdial(&sandbox, &["wallet"]).await;
    let json = outdial(&sandbox, &["wallet", "--json"]).await.json();

    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(text.stdout.contains("balance: $12.34"), "{}", text.stdout);
    assert!(text.stdout.contains("auto-reload: off"), "{}", text.stdout);
    assert_eq!(json["balanceUsd"], 12.34);
    assert_eq!(json["autoReloadEnabled"], false);
}

/// Each publish makes a new version and says calls use the last published one.
#[tokio::test(flavor = "multi_thread")]
async fn publish_creates_versions_and_explains_which_one_calls_use() {
    let sandbox = with_fifty_dollars().await;

    let text = outdial(&sandbox, &["agent", "publish", AGENT]).await;
    let json = outdial(
        &sandbox,
        &[
            "agent",
            "publish",
            AGENT,
            "--note",
            "new caller IDs",
            "--json",
        ],
    )
    .await
    .json();

    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(text.stdout.contains("version 1"), "{}", text.stdout);
    assert!(
        text.stdout.contains("last published version"),
        "{}",
        text.stdout
    );
    assert_eq!(json["version"], 2);
    assert_eq!(json["note"], "new caller IDs");
    assert_eq!(json["agentId"], AGENT);
}

/// A key the vendor refuses is account-level (exit 3); no key at all is bad input (exit 2)
/// and sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_exits_3_and_a_missing_key_exits_2() {
    let config = SandboxConfig {
        api_key: Some("flowyte_sk_right".into()),
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::start(config).await.unwrap();

    let missing = outdial_with(&sandbox, &["wallet"], None).await;
    assert_eq!(missing.code, Some(2), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("FLOWYTE_API_KEY"),
        "{}",
        missing.stderr
    );
    assert_eq!(sandbox.requests_served(), 0);

    let refused = outdial_with(&sandbox, &["wallet"], Some("flowyte_sk_wrong")).await;
    assert_eq!(refused.code, Some(3), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("FLOWYTE_API_KEY"),
        "{}",
        refused.stderr
    );
}

/// A plain-http numbers base on another host is refused: the key must not travel in clear.
#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_a_remote_numbers_api_is_refused() {
    let sandbox = with_fifty_dollars().await;

    let out = outdial(
        &sandbox,
        &[
            "--numbers-api-base",
            "http://numbers.example.com/api/v1",
            "wallet",
        ],
    )
    .await;

    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("only https"), "{}", out.stderr);
}

/// `numbers list` shows every number you own with the agent answering it (or none), as a table
/// and as JSON; bought and imported numbers alike, released ones gone.
#[tokio::test(flavor = "multi_thread")]
async fn list_shows_the_numbers_you_own_with_their_agent() {
    let sandbox = with_fifty_dollars().await;
    let empty = outdial(&sandbox, &["numbers", "list"]).await;
    assert_eq!(empty.code, Some(0), "{}", empty.stderr);
    assert!(
        empty.stdout.contains("you own no numbers"),
        "{}",
        empty.stdout
    );
    let answered = bought(&sandbox).await;
    let idle = bought(&sandbox).await;
    let gone = bought(&sandbox).await;
    let assign = outdial(
        &sandbox,
        &["numbers", "assign", &answered, "--agent", AGENT],
    )
    .await;
    assert_eq!(assign.code, Some(0), "{}", assign.stderr);
    let release = outdial(&sandbox, &["numbers", "release", &gone, "--yes"]).await;
    assert_eq!(release.code, Some(0), "{}", release.stderr);

    let table = outdial(&sandbox, &["numbers", "list"]).await;
    let json = outdial(&sandbox, &["numbers", "list", "--json"])
        .await
        .json();

    assert_eq!(table.code, Some(0), "{}", table.stderr);
    let row = |id: &str| {
        table
            .stdout
            .lines()
            .find(|line| line.contains(id))
            .unwrap_or_else(|| panic!("no row for {id} in\n{}", table.stdout))
            .to_owned()
    };
    assert!(row(&answered).contains(AGENT));
    assert!(!row(&idle).contains(AGENT));
    assert!(!table.stdout.contains(&gone), "{}", table.stdout);
    let numbers = json["numbers"].as_array().expect("a list of numbers");
    assert_eq!(numbers.len(), 2, "{json}");
    let agent_of = |id: &str| {
        numbers
            .iter()
            .find(|n| n["id"] == id)
            .map(|n| n["defaultAgentId"].clone())
    };
    assert_eq!(agent_of(&answered), Some(Value::from(AGENT)));
    assert_eq!(agent_of(&idle), Some(Value::Null));
}

/// After a purchase the next step offered is `pool attach` (what puts a number into rotation),
/// with the number filled in; not `assign`, which only sets who answers it.
#[tokio::test(flavor = "multi_thread")]
async fn buy_suggests_pool_attach() {
    let sandbox = with_fifty_dollars().await;
    let e164 = a_local_number(&sandbox).await;

    let out = outdial(&sandbox, &["numbers", "buy", &e164]).await;

    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "outdial pool attach --agent AGENT_ID --number {e164}"
        )),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("numbers assign"), "{}", out.stdout);
}

/// Buying a number that is on hold without naming the hold gets one message, the same with and
/// without `--json` and whoever holds it: it is on hold, and how to buy it under the reservation.
#[tokio::test(flavor = "multi_thread")]
async fn buying_a_held_number_without_its_reservation_gets_one_message() {
    let sandbox = with_fifty_dollars().await;
    let e164 = a_local_number(&sandbox).await;
    let hold = outdial(&sandbox, &["numbers", "reserve", &e164, "--json"])
        .await
        .json();
    assert!(hold["id"].is_string());

    let text = outdial(&sandbox, &["numbers", "buy", &e164]).await;
    let json = outdial(&sandbox, &["numbers", "buy", &e164, "--json"]).await;

    assert_eq!(text.code, Some(1), "{}", text.stderr);
    assert_eq!(json.code, Some(1), "{}", json.stderr);
    assert_eq!(text.stderr, json.stderr);
    let advice = format!("outdial numbers buy {e164} --reservation ID");
    assert_eq!(text.stderr.matches(&advice).count(), 1, "{}", text.stderr);
    assert!(!text.stderr.contains("reserve another"), "{}", text.stderr);
    assert!((balance(&sandbox).await - 50.0).abs() < 0.005);
}
