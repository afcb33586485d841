//! `outdial pool fill-gaps`: from the plan's coverage gaps to local numbers in the agent's pool in
//! one step, against the sandbox's two vendors, never past `--max` or `--budget`, and never
//! without a yes.

mod common;

use common::numbers_in;
use outdial::sandbox::{AgentSpec, Sandbox, SandboxConfig, Usd};
use serde_json::Value;
use tempfile::TempDir;

const AGENT: &str = "gap-agent";
/// The one number the pool starts with: area code 212.
const POOL: &str = "+12125550101";
/// What a local number costs in the sandbox: $1.00 setup and $1.15 for the first month.
const LOCAL: f64 = 2.15;

/// A sandbox whose agent has [`POOL`], with local numbers for sale everywhere and $50 in the
/// wallet; and a campaign whose contacts leave gaps of 5 (415), 4 (312), 3 (713) and 2 (305)
/// contacts, plus 2 in 212 that the pool covers.
struct Setup {
    sandbox: Sandbox,
    dir: TempDir,
}

impl Setup {
    async fn start() -> Setup {
        let config = SandboxConfig {
            agents: vec![AgentSpec {
                id: AGENT.into(),
                numbers: vec![common::phone(POOL)],
            }],
            inventory: 2000,
            wallet: Usd::from_dollars(50),
            ..SandboxConfig::default()
        };
        let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
        let dir = TempDir::new().unwrap();
        let mut csv = String::from("phone\n");
        for (npa, n) in [(305, 2), (212, 2), (713, 3), (415, 5), (312, 4)] {
            for phone in numbers_in(npa, 0, n) {
                csv.push_str(&phone);
                csv.push('\n');
            }
        }
        std::fs::write(dir.path().join("contacts.csv"), csv).unwrap();
        let campaign = format!("agent = \"{AGENT}\"\ncontacts = \"contacts.csv\"\n");
        std::fs::write(dir.path().join("gaps.toml"), campaign).unwrap();
        Setup { sandbox, dir }
    }

    fn campaign(&self) -> String {
        self.dir.path().join("gaps.toml").display().to_string()
    }

    /// Runs the real binary with both vendors pointed at the sandbox and no terminal on stdin.
    async fn outdial(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_outdial"))
            .args(args)
            .env("OUTDIAL_API_BASE", self.sandbox.synthflow_base())
            .env("OUTDIAL_NUMBERS_API_BASE", self.sandbox.numbers_base())
            .env("SYNTHFLOW_API_KEY", "test-key")
            .env("FLOWYTE_API_KEY", "flowyte_sk_test")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .expect("the binary runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn json(&self, args: &[&str]) -> Value {
        let (code, stdout, stderr) = self.outdial(args).await;
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        serde_json::from_str(&stdout).expect("JSON on stdout")
    }

    async fn fill_gaps(&self, extra: &[&str]) -> (Option<i32>, String, String) {
        let campaign = self.campaign();
        let args = [&["pool", "fill-gaps", campaign.as_str()], extra].concat();
        self.outdial(&args).await
    }

    /// The agent's pool, as the Synthflow side of the sandbox reports it.
    async fn pool(&self) -> Vec<String> {
        let pool = self
            .json(&["pool", "list", "--agent", AGENT, "--json"])
            .await;
        pool["numbers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["number"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn balance(&self) -> f64 {
        self.json(&["wallet", "--json"]).await["balanceUsd"]
            .as_f64()
            .unwrap()
    }

    /// The area codes the plan still lists as gaps.
    async fn gaps(&self) -> Vec<u64> {
        let plan = self.json(&["plan", &self.campaign(), "--json"]).await;
        plan["gaps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|gap| gap["area_code"].as_u64().unwrap())
            .collect()
    }
}

fn area_codes(pool: &[String]) -> Vec<&str> {
    pool.iter().map(|n| &n[2..5]).collect()
}

/// With `--yes`, the largest gaps get a local number each: reserved, bought, attached to the
/// agent's pool, so the plan no longer lists them; the output shows what it did and spent.
#[tokio::test(flavor = "multi_thread")]
async fn fill_gaps_buys_and_attaches_local_numbers_for_the_largest_gaps() {
    let setup = Setup::start().await;
    assert_eq!(setup.gaps().await, [415, 312, 713, 305]);

    let (code, stdout, stderr) = setup
        .fill_gaps(&["--max", "2", "--budget", "20", "--yes"])
        .await;

    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(area_codes(&setup.pool().await), ["212", "415", "312"]);
    assert_eq!(setup.gaps().await, [713, 305]);
    assert!((setup.balance().await - (50.0 - 2.0 * LOCAL)).abs() < 0.005);
    assert!(stdout.contains("2 number(s) for $4.30"), "{stdout}");
    assert!(
        stdout.contains("bought and attached 2 number(s), spent $4.30"),
        "{stdout}"
    );
}

/// `--budget` and `--max` are never exceeded, whatever their values: the number bought is the
/// most that fits both, at the listed price, and the wallet loses no more than the budget.
#[tokio::test(flavor = "multi_thread")]
async fn fill_gaps_never_exceeds_the_budget_or_the_max() {
    // (max, budget, numbers bought)
    let cases = [
        ("10", "2.14", 0),
        ("10", "2.15", 1),
        ("10", "6.44", 2),
        ("10", "6.45", 3),
        ("10", "500", 4),
        ("1", "500", 1),
        ("3", "500", 3),
    ];
    for (max, budget, expected) in cases {
        let setup = Setup::start().await;

        let (code, stdout, stderr) = setup
            .fill_gaps(&["--max", max, "--budget", budget, "--yes"])
            .await;

        assert_eq!(code, Some(0), "max {max} budget {budget}: {stderr}");
        let pool = setup.pool().await;
        assert_eq!(
            pool.len(),
            1 + expected,
            "max {max} budget {budget}: {stdout}"
        );
        let spent = 50.0 - setup.balance().await;
        assert!(
            spent <= budget.parse::<f64>().unwrap() + 1e-9,
            "spent {spent} of {budget}"
        );
        assert!((spent - expected as f64 * LOCAL).abs() < 0.005, "{stdout}");
        if expected < 4 && budget != "500" {
            assert!(stdout.contains("past the budget"), "{stdout}");
        }
    }
}

/// Without `--yes` and without a terminal to ask on, nothing is bought: exit 2 saying to pass
/// `--yes`, after showing what would be bought and its cost.
#[tokio::test(flavor = "multi_thread")]
async fn fill_gaps_without_yes_and_without_a_terminal_exits_2_buying_nothing() {
    let setup = Setup::start().await;

    let (code, stdout, stderr) = setup.fill_gaps(&["--max", "2", "--budget", "20"]).await;

    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(stdout.contains("$4.30"), "{stdout}");
    assert_eq!(setup.pool().await, [POOL]);
    assert!((setup.balance().await - 50.0).abs() < 0.005);
}

/// Flags that cannot be honoured are exit 2 before any request: a max of 0, a budget that is
/// not a positive amount.
#[tokio::test(flavor = "multi_thread")]
async fn fill_gaps_refuses_a_zero_max_or_a_bad_budget() {
    let setup = Setup::start().await;
    for flags in [
        ["--max", "0", "--budget", "10"],
        ["--max", "2", "--budget", "0"],
        ["--max", "2", "--budget", "-5"],
        ["--max", "2", "--budget", "NaN"],
        ["--max", "2", "--budget", "lots"],
    ] {
        let (code, _, stderr) = setup.fill_gaps(&[&flags[..], &["--yes"]].concat()).await;
        assert_eq!(code, Some(2), "{flags:?}: {stderr}");
    }
    assert!((setup.balance().await - 50.0).abs() < 0.005);
    assert_eq!(setup.pool().await, [POOL]);
}
