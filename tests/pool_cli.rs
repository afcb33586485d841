//! `outdial pool list|attach|detach`: the real binary against a sandbox agent's pool, over HTTP.

use outdial::phone::{Country, Phone};
use outdial::sandbox::{AgentSpec, Sandbox, SandboxConfig};
use serde_json::Value;

const AGENT: &str = "pool-agent";
const POOL: [&str; 2] = ["+14155550102", "+12125550101"];

/// A sandbox whose one agent has [`POOL`] attached.
async fn sandbox(api_key: Option<&str>) -> Sandbox {
    let numbers = POOL
        .iter()
        .map(|n| Phone::parse(n, Country::default()).unwrap())
        .collect();
    let config = SandboxConfig {
        agents: vec![AgentSpec {
            id: AGENT.into(),
            numbers,
        }],
        api_key: api_key.map(str::to_owned),
        ..SandboxConfig::default()
    };
    Sandbox::start(config).await.expect("the sandbox starts")
}

/// What one run of the binary left behind.
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the real binary against `sandbox` with a key in the environment and no terminal.
async fn outdial(sandbox: &Sandbox, args: &[&str], env: &[(&str, Option<&str>)]) -> Out {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_outdial"));
    command
        .args(args)
        .env("OUTDIAL_API_BASE", sandbox.synthflow_base())
        .env("SYNTHFLOW_API_KEY", "test-key")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let out = command.output().await.expect("the binary runs");
    Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn run(sandbox: &Sandbox, args: &[&str]) -> Out {
    outdial(sandbox, args, &[]).await
}

/// The pool as `pool list --json` shows it.
async fn pool(sandbox: &Sandbox) -> Value {
    let out = run(sandbox, &["pool", "list", "--agent", AGENT, "--json"]).await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    serde_json::from_str(&out.stdout).expect("pool list --json is JSON")
}

fn numbers_of(pool: &Value) -> Vec<String> {
    pool["numbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["number"].as_str().unwrap().to_owned())
        .collect()
}

/// The table names each number with its slug and the region and zone of its area code.
#[tokio::test(flavor = "multi_thread")]
async fn list_shows_each_number_with_its_region_and_time_zone() {
    let sandbox = sandbox(None).await;

    let out = run(&sandbox, &["pool", "list", "--agent", AGENT]).await;

    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let row = out
        .stdout
        .lines()
        .find(|line| line.starts_with("+14155550102"))
        .unwrap_or_else(|| panic!("no row for +14155550102 in\n{}", out.stdout));
    for cell in ["14155550102", "US-CA", "America/Los_Angeles"] {
        assert!(row.contains(cell), "{row}");
    }
    assert!(out.stdout.contains("US-NY"), "{}", out.stdout);
}

/// `--json` carries number, slug, sid, region and time zones for every attached number.
#[tokio::test(flavor = "multi_thread")]
async fn list_json_has_number_slug_sid_region_and_time_zones() {
    let sandbox = sandbox(None).await;

    let pool = pool(&sandbox).await;

    assert_eq!(pool["agent"], AGENT);
    assert_eq!(numbers_of(&pool), POOL);
    let first = &pool["numbers"][0];
    assert_eq!(first["slug"], "14155550102");
    assert!(first["sid"].is_null());
    assert_eq!(first["region"], "US-CA");
    assert_eq!(first["time_zones"][0], "America/Los_Angeles");
}

/// Attaching by number adds to the pool; what was attached stays, and a number written the
/// way people write it is normalised first.
#[tokio::test(flavor = "multi_thread")]
async fn attach_by_number_adds_to_the_pool() {
    let sandbox = sandbox(None).await;

    let out = run(
        &sandbox,
        &[
            "pool",
            "attach",
            "--agent",
            AGENT,
            "--number",
            "+13125550104,(305) 555-0106",
        ],
    )
    .await;

    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.contains("the pool now has 4"), "{}", out.stdout);
    let numbers = numbers_of(&pool(&sandbox).await);
    assert_eq!(
        numbers,
        [POOL[0], POOL[1], "+13125550104", "+13055550106"].map(String::from)
    );
}

/// Attaching by slug attaches the number the slug names; the JSON output is the new pool.
#[tokio::test(flavor = "multi_thread")]
async fn attach_by_slug_adds_the_number_it_names() {
    let sandbox = sandbox(None).await;

    let out = run(
        &sandbox,
        &[
            "pool",
            "attach",
            "--agent",
            AGENT,
            "--slug",
            "16175550107",
            "--json",
        ],
    )
    .await;

    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let pool: Value = serde_json::from_str(&out.stdout).expect("attach --json is JSON");
    assert!(numbers_of(&pool).contains(&"+16175550107".to_owned()));
    assert_eq!(pool["numbers"][2]["region"], "US-MA");
}

/// Numbers and slugs in one attach are refused with exit 2 before any request is sent.
#[tokio::test(flavor = "multi_thread")]
async fn numbers_and_slugs_together_are_refused_before_any_request() {
    let sandbox = sandbox(None).await;

    let out = run(
        &sandbox,
        &[
            "pool",
            "attach",
            "--agent",
            AGENT,
            "--number",
            "+13125550104",
            "--slug",
            "16175550107",
        ],
    )
    .await;

    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--number and --slug cannot be combined"),
        "{}",
        out.stderr
    );
    assert_eq!(sandbox.requests_served(), 0);
}

/// Detach accepts the E.164 number and detaches its slug; the rest of the pool stays.
#[tokio::test(flavor = "multi_thread")]
async fn detach_by_e164_takes_out_that_number() {
    let sandbox = sandbox(None).await;

    let out = run(
        &sandbox,
        &["pool", "detach", "--agent", AGENT, "--slug", "+14155550102"],
    )
    .await;

    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("detached 14155550102"),
        "{}",
        out.stdout
    );
    assert_eq!(numbers_of(&pool(&sandbox).await), [POOL[1]]);
}

/// Detach by slug works too, and detaching it again is a 404: exit 1 with the vendor's reason.
#[tokio::test(flavor = "multi_thread")]
async fn detaching_a_number_twice_exits_1_the_second_time() {
    let sandbox = sandbox(None).await;
    let detach = ["pool", "detach", "--agent", AGENT, "--slug", "12125550101"];

    let first = run(&sandbox, &detach).await;
    let second = run(&sandbox, &detach).await;

    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert_eq!(second.code, Some(1), "{}", second.stderr);
    assert!(second.stderr.contains("not attached"), "{}", second.stderr);
    assert_eq!(numbers_of(&pool(&sandbox).await), [POOL[0]]);
}

/// An agent the account does not have is a runtime 404 (exit 1) naming the agent.
#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_agent_exits_1_naming_it() {
    let sandbox = sandbox(None).await;

    let out = run(&sandbox, &["pool", "list", "--agent", "no-such-agent"]).await;

    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("no-such-agent"), "{}", out.stderr);
}

/// A key the vendor refuses (401) is account-level: exit 3, naming the variable to fix.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_exits_3() {
    let sandbox = sandbox(Some("the-right-key")).await;

    let out = run(&sandbox, &["pool", "list", "--agent", AGENT]).await;

    assert_eq!(out.code, Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("SYNTHFLOW_API_KEY"), "{}", out.stderr);
}

/// Without a key in the environment nothing is sent and the variable is named (exit 2).
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_key_exits_2_before_any_request() {
    let sandbox = sandbox(None).await;

    let out = outdial(
        &sandbox,
        &["pool", "list", "--agent", AGENT],
        &[("SYNTHFLOW_API_KEY", None)],
    )
    .await;

    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("SYNTHFLOW_API_KEY"), "{}", out.stderr);
    assert_eq!(sandbox.requests_served(), 0);
}
