//! Three outdial processes running two campaigns each share one account through PostgreSQL
//! (issue 13): the account allows 5 starts a second and 20 calls live, and the sandbox enforces
//! both. Six numbers, each capped per day so that the pool can make five calls for every six
//! contacts: the caps bind, and the store must keep them over all processes.
//!
//! Prints the account's throughput (accepted creates per second from the first to the last)
//! against its 5 starts/s (the target is at least 95%), the 429s (must be 0), the most calls
//! live (at most 20), and each number's calls against its cap (no overrun). Not a criterion
//! bench: one run takes a minute, so it runs once and prints its figures.
//!
//! Needs a PostgreSQL server: `OUTDIAL_TEST_PG_URL` (as the tests; `.ci/pg start DIR` makes one);
//! without it the bench says so and does nothing. `OUTDIAL_BENCH_CONTACTS` (default 60) is the
//! contacts per campaign; `OUTDIAL_BENCH_CALL_SECONDS` (default `1..3`) the calls' length.

use std::collections::HashMap;
use std::error::Error;
use std::num::NonZeroU32;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use outdial::phone::{Country, Phone};
use outdial::sandbox::{AgentSpec, Limits, Sandbox, SandboxConfig};

const RATE: u32 = 5;
const LIVE: u32 = 20;
const PROCESSES: usize = 3;
const CAMPAIGNS_PER_PROCESS: usize = 2;
const AGENT: &str = "shared-account-bench-agent";
const POOL: [&str; 6] = [
    "+12125550101",
    "+14155550102",
    "+13125550104",
    "+17135550105",
    "+16175550106",
    "+13055550107",
];
const DEFAULT_CONTACTS: usize = 60;
/// Calls short enough that the start rate binds, not the live bound: 20 live at 5 starts/s
/// hold calls of up to 4 s, less the moment a call's end takes to be seen.
const DEFAULT_CALL_SECONDS: &str = "1..3";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let Ok(server) = std::env::var("OUTDIAL_TEST_PG_URL") else {
        println!(
            "shared_account: skipped, no PostgreSQL server (OUTDIAL_TEST_PG_URL is unset); \
             `d=$(mktemp -d); .ci/pg start $d && . $d/env && cargo bench --bench shared_account; .ci/pg stop $d`"
        );
        return Ok(());
    };
    let per_campaign: usize = std::env::var("OUTDIAL_BENCH_CONTACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CONTACTS);
    let call_seconds =
        std::env::var("OUTDIAL_BENCH_CALL_SECONDS").unwrap_or_else(|_| DEFAULT_CALL_SECONDS.into());
    let campaigns = PROCESSES * CAMPAIGNS_PER_PROCESS;
    let cap = (per_campaign * 5 / 6).max(1);
    let expected = cap * POOL.len();
    println!(
        "shared_account: {PROCESSES} processes x {CAMPAIGNS_PER_PROCESS} campaigns x {per_campaign} contacts, \
         one account at {RATE} starts/s and {LIVE} live, calls of {call_seconds} s, {} numbers \
         capped at {cap} a day ({expected} calls possible); {}",
        POOL.len(),
        machine()
    );

    let database = Database::create(&server).await?;
    let sandbox = Sandbox::start(SandboxConfig {
        agents: vec![AgentSpec {
            id: AGENT.to_owned(),
            numbers: POOL.iter().map(|n| phone(n)).collect(),
        }],
        call_duration: call_seconds.parse()?,
        limits: Limits {
            max_live: NonZeroU32::new(LIVE),
            max_cps: NonZeroU32::new(RATE),
        },
        ..SandboxConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let files: Vec<String> = (0..campaigns)
        .map(|i| write_campaign(dir.path(), i, per_campaign, cap))
        .collect::<Result<_, _>>()?;

    let mut children = Vec::new();
    for pair in files.chunks(CAMPAIGNS_PER_PROCESS) {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_outdial"));
        command
            .arg("run")
            .arg("-q")
            .args(pair)
            .env("OUTDIAL_API_BASE", sandbox.synthflow_base())
            .env("OUTDIAL_STORE_URL", database.url(&server))
            .env("SYNTHFLOW_API_KEY", "bench-key")
            .env("OUTDIAL_STATE_DIR", dir.path().join("state"))
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        children.push(command.spawn()?);
    }
    let deadline = Instant::now() + Duration::from_secs(60 + 2 * expected as u64 / RATE as u64);
    while (sandbox.stats().creates_accepted as usize) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Room for a call past the caps to show itself, were one to be made.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for child in &children {
        if let Some(pid) = child.id() {
            tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await?;
        }
    }
    for child in &mut children {
        child.wait().await?;
    }

    let received = sandbox.received().await;
    let mut accepted: Vec<i64> = received
        .iter()
        .filter(|c| c.call_id.is_some())
        .map(|c| c.at_ms)
        .collect();
    accepted.sort_unstable();
    let span_s = match (accepted.first(), accepted.last()) {
        (Some(first), Some(last)) if last > first => (last - first) as f64 / 1000.0,
        _ => f64::NAN,
    };
    let throughput = (accepted.len().saturating_sub(1)) as f64 / span_s;
    let share = throughput / f64::from(RATE);
    let mut per_number: HashMap<String, usize> = HashMap::new();
    for call in received.iter().filter(|c| c.call_id.is_some()) {
        *per_number
            .entry(call.from_phone_number.clone().unwrap_or_default())
            .or_insert(0) += 1;
    }
    let most = per_number.values().copied().max().unwrap_or(0);
    let stats = sandbox.stats();
    println!(
        "  calls accepted           {} of {expected} possible",
        accepted.len()
    );
    println!(
        "  account throughput       {throughput:.3} starts/s = {:.1}% of {RATE}/s  (>= 95%: {})",
        share * 100.0,
        if share >= 0.95 { "yes" } else { "NO" }
    );
    println!(
        "  429s                     {}  (must be 0: {})",
        stats.too_many_requests.total(),
        if stats.too_many_requests.total() == 0 {
            "ok"
        } else {
            "FAIL"
        }
    );
    println!(
        "  most calls live          {}  (at most {LIVE}: {})",
        stats.max_live,
        if stats.max_live <= u64::from(LIVE) {
            "ok"
        } else {
            "FAIL"
        }
    );
    println!(
        "  calls per number         most {most}, cap {cap}  (overruns: {})",
        per_number.values().filter(|n| **n > cap).count()
    );
    database.drop().await?;
    Ok(())
}

/// Campaign `i` (of six): its own area code's contacts, the whole account's limits in its
/// `[pacing]`, the pool's daily cap in its `[rotation]`.
fn write_campaign(
    dir: &Path,
    i: usize,
    contacts: usize,
    cap: usize,
) -> Result<String, std::io::Error> {
    let npa = [212, 415, 312, 713, 617, 305][i % 6];
    let mut csv = String::from("phone\n");
    for n in 0..contacts {
        csv.push_str(&format!(
            "+1{npa}{:03}{:04}\n",
            234 + n / 10_000,
            n % 10_000
        ));
    }
    let name = format!("campaign-{i}");
    std::fs::write(dir.join(format!("{name}.csv")), csv)?;
    let text = format!(
        r#"name = "{name}"
agent = "{AGENT}"
contacts = "{name}.csv"

[pacing]
calls_per_second = {RATE}
max_live_calls = {LIVE}

[rotation]
strategy = "round-robin"
max_calls_per_number_per_day = {cap}

[window]
start = "00:00"
end = "23:59:59"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

[retry]
max_attempts = 1
"#
    );
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text)?;
    Ok(file.to_string_lossy().into_owned())
}

/// A database of the bench's own on the server, dropped at the end.
struct Database {
    admin: tokio_postgres::Client,
    name: String,
}

impl Database {
    async fn create(server: &str) -> Result<Database, Box<dyn Error>> {
        let mut config = tokio_postgres::Config::from_str(server)?;
        if config.get_password().is_none()
            && let Ok(password) = std::env::var("PGPASSWORD")
        {
            config.password(password);
        }
        let (admin, connection) = config.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        let name = format!("outdial_bench_{}", std::process::id());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        Ok(Database { admin, name })
    }

    /// The server's URL with this database for its path.
    fn url(&self, server: &str) -> String {
        let (before_query, query) = server.split_once('?').unwrap_or((server, ""));
        let authority = before_query
            .rsplit_once('/')
            .filter(|(authority, _)| !authority.ends_with('/'))
            .map_or(before_query, |(authority, _)| authority);
        match query {
            "" => format!("{authority}/{}", self.name),
            query => format!("{authority}/{}?{query}", self.name),
        }
    }

    async fn drop(self) -> Result<(), Box<dyn Error>> {
        self.admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await?;
        Ok(())
    }
}

fn phone(e164: &str) -> Phone {
    Phone::parse(e164, Country::default()).expect("the bench's numbers are valid")
}

/// The cores and the CPU model, for the figures' machine.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "an unknown CPU".into());
    format!("{cores} cores of {model}")
}
