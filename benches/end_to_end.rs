//! End-to-end throughput: a whole campaign dialled by the real `outdial run` binary against the
//! in-process sandbox, with pacing effectively off, 64 calls live, and the real journal in a
//! temporary directory, whose `dialing` marks are made durable by group commit before each create
//! request leaves. Every call is followed to its (instant) end.
//!
//! Beside it, in the same run and against the same sandbox, the raw ceiling of that endpoint: the
//! same HTTP client (`Synthflow::create_call`) sending as many create requests with the same
//! concurrency, and nothing else (no journal, no rules, no following). The ratio of the two is
//! what the dialer's own work costs; the CPU the `outdial` process used (its rusage, read once
//! it has been waited for) divided by the calls is its cost per call.
//!
//! Not a criterion bench: one campaign takes seconds, so each measure is taken three times and
//! the medians are printed. The sandbox's record is checked after each run: exactly one create
//! request per contact, no phone twice.
//!
//! `OUTDIAL_BENCH_CONTACTS` sets the number of contacts (default 20,000), so CI can smoke-run it
//! small: `OUTDIAL_BENCH_CONTACTS=200 cargo bench --bench end_to_end`.

use std::collections::HashSet;
use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use outdial::api::{CallRequest, Synthflow};
use outdial::area_codes::{self, AreaCode};
use outdial::campaign::ApiKey;
use outdial::phone::{Country, Phone};
use outdial::sandbox::{AgentSpec, Sandbox, SandboxConfig};

const DEFAULT_CONTACTS: usize = 20_000;
const RUNS: usize = 3;
const POOL: usize = 50;
const LIVE: usize = 64;
const AGENT: &str = "5f0c2a8e-bench-agent";

/// Pacing off in all but name (the rates must be positive), so the dialer, the journal and the
/// HTTP round trip set the pace: the reads budget too, or calls that end at once would be
/// noticed at its pace (2 sweeps/s by default) rather than the dialer's.
const CAMPAIGN: &str = r#"
name = "bench"
agent = "5f0c2a8e-bench-agent"
contacts = "contacts.csv"
default_country = "US"

[pacing]
calls_per_second = 1000000.0
max_live_calls = 64
reads_per_second = 1000000.0

[rotation]
strategy = "region"

[window]
start = "00:00"
end = "23:59:59"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"#;

/// What one campaign run measured.
struct Figures {
    wall: Duration,
    cpu: Duration,
    /// The bench process's own CPU meanwhile: the sandbox serving the run, on the same cores.
    sandbox_cpu: Duration,
    /// List pages and single looks the sandbox served, per call: how the follower kept up.
    reads_per_call: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let contacts = contact_count();
    let codes = area_codes_in_table();
    let pool = pool(&codes);
    let phones = phones(&codes, contacts);
    let csv = contacts_csv(&phones);
    println!(
        "end_to_end: {contacts} contacts, pool of {} numbers over as many area codes, {LIVE} live, \
         {RUNS} runs",
        pool.len()
    );
    let (mut ceilings, mut rates, mut cpus) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=RUNS {
        let ceiling = raw_ceiling(&pool, &phones).await?;
        let figures = dial_campaign(&pool, &csv, contacts).await?;
        let rate = contacts as f64 / figures.wall.as_secs_f64();
        let cpu_ms = figures.cpu.as_secs_f64() * 1000.0 / contacts as f64;
        println!(
            "run {run}: raw ceiling {ceiling:.0} creates/s; outdial {contacts} calls in {:.2} s = \
             {rate:.0} calls/s ({:.2}x the ceiling), {cpu_ms:.3} ms CPU per call, {:.2} reads \
             per call; the sandbox meanwhile {:.3} ms CPU per call, the two together {:.2} cores",
            figures.wall.as_secs_f64(),
            rate / ceiling,
            figures.reads_per_call,
            figures.sandbox_cpu.as_secs_f64() * 1000.0 / contacts as f64,
            (figures.cpu + figures.sandbox_cpu).as_secs_f64() / figures.wall.as_secs_f64(),
        );
        ceilings.push(ceiling);
        rates.push(rate);
        cpus.push(cpu_ms);
    }
    let (ceiling, rate, cpu) = (median(ceilings), median(rates), median(cpus));
    println!(
        "median: raw ceiling {ceiling:.0} creates/s; outdial {rate:.0} calls/s = {:.2}x the \
         ceiling; {cpu:.3} ms CPU per call",
        rate / ceiling
    );
    Ok(())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `OUTDIAL_BENCH_CONTACTS`, or the default.
fn contact_count() -> usize {
    match std::env::var("OUTDIAL_BENCH_CONTACTS") {
        Err(_) => DEFAULT_CONTACTS,
        Ok(text) => text
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| {
                panic!("OUTDIAL_BENCH_CONTACTS={text}: give a whole number above 0")
            }),
    }
}

/// A sandbox whose calls end at once: the bench measures the dialer, not call lengths.
async fn sandbox(pool: &[Phone]) -> Result<Sandbox, Box<dyn Error>> {
    Ok(Sandbox::start(SandboxConfig {
        agents: vec![AgentSpec {
            id: AGENT.to_owned(),
            numbers: pool.to_vec(),
        }],
        call_duration: Duration::ZERO.into(),
        ..SandboxConfig::default()
    })
    .await?)
}

/// Create requests per second that the sandbox's endpoint takes from the dialer's own HTTP client
/// with `LIVE` requests in flight and nothing else to do.
async fn raw_ceiling(pool: &[Phone], phones: &[Phone]) -> Result<f64, Box<dyn Error>> {
    let sandbox = sandbox(pool).await?;
    let base = reqwest::Url::parse(&sandbox.synthflow_base())?;
    let api = Synthflow::new(&base, ApiKey::new("bench"))?;
    let phones: Arc<Vec<String>> = Arc::new(phones.iter().map(ToString::to_string).collect());
    let caller = pool[0].to_string();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..LIVE {
        let (api, phones, next, caller) =
            (api.clone(), phones.clone(), next.clone(), caller.clone());
        senders.spawn(async move {
            while let Some(phone) = phones.get(next.fetch_add(1, Ordering::Relaxed)) {
                let request = CallRequest {
                    model_id: AGENT,
                    phone,
                    name: "Ceiling",
                    from_phone_number: &caller,
                    custom_variables: &[],
                };
                api.create_call(&request)
                    .await
                    .expect("a create request of the ceiling");
            }
        });
    }
    while let Some(joined) = senders.join_next().await {
        joined?;
    }
    let rate = phones.len() as f64 / started.elapsed().as_secs_f64();
    check_received(&sandbox, phones.len()).await;
    sandbox.stop().await;
    Ok(rate)
}

/// One campaign from a fresh sandbox and directory, dialled by the real binary: the time from its
/// start to its exit, and the CPU it used.
async fn dial_campaign(
    pool: &[Phone],
    csv: &str,
    contacts: usize,
) -> Result<Figures, Box<dyn Error>> {
    let sandbox = sandbox(pool).await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bench.toml");
    std::fs::write(&file, CAMPAIGN)?;
    std::fs::write(dir.path().join("contacts.csv"), csv)?;

    let cpu_before = children_cpu();
    let sandbox_cpu_before = own_cpu();
    let started = Instant::now();
    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_outdial"))
        .args(["run", "--quiet"])
        .arg(&file)
        .env("OUTDIAL_API_BASE", sandbox.synthflow_base())
        .env("SYNTHFLOW_API_KEY", "bench")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .status()
        .await?;
    let wall = started.elapsed();
    let cpu = children_cpu().saturating_sub(cpu_before);
    let sandbox_cpu = own_cpu().saturating_sub(sandbox_cpu_before);
    assert!(status.success(), "outdial run ended with {status}");

    check_received(&sandbox, contacts).await;
    let reads = sandbox
        .served()
        .iter()
        .filter(|served| served.route.starts_with("GET "))
        .count();
    sandbox.stop().await;
    check_journal_dir(dir.path());
    Ok(Figures {
        wall,
        cpu,
        sandbox_cpu,
        reads_per_call: reads as f64 / contacts as f64,
    })
}

/// User and system CPU of every child process waited for so far.
fn children_cpu() -> Duration {
    cpu_of(libc::RUSAGE_CHILDREN)
}

/// User and system CPU of this process: the sandbox's serving, and the bench's own waiting.
fn own_cpu() -> Duration {
    cpu_of(libc::RUSAGE_SELF)
}

fn cpu_of(who: libc::c_int) -> Duration {
    // SAFETY: getrusage writes only into the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(who, &mut usage);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The vendor's side of the wire: one create request per contact, no phone twice.
async fn check_received(sandbox: &Sandbox, contacts: usize) {
    let received = sandbox.received().await;
    let phones: HashSet<&str> = received.iter().filter_map(|c| c.phone.as_deref()).collect();
    assert_eq!(
        received.len(),
        contacts,
        "the sandbox received {} create requests for {contacts} contacts",
        received.len()
    );
    assert_eq!(
        phones.len(),
        contacts,
        "the sandbox received {} distinct phones for {contacts} contacts",
        phones.len()
    );
}

/// The journal was really on disk, beside the campaign file.
fn check_journal_dir(dir: &Path) {
    let journal = dir.join(".outdial").join("bench").join("sled");
    assert!(journal.is_dir(), "no journal at {}", journal.display());
}

/// Every area code of the bundled table, in numeric order.
fn area_codes_in_table() -> Vec<u16> {
    (200..=999)
        .filter(|&npa| area_codes::place(AreaCode(npa)).is_some())
        .collect()
}

/// The `round`-th number of area code `npa`: distinct rounds give distinct numbers, for up to
/// 800 × 10,000 rounds. Exchanges 202, 212, … end in 2, so none is an N11 code. `None` where the
/// phone library rejects the number (some NANP countries allow only some exchanges).
fn number(npa: u16, round: usize) -> Option<Phone> {
    let nxx = 202 + (round / 10_000 % 80) * 10;
    let line = round % 10_000;
    Phone::parse(&format!("+1{npa}{nxx}{line:04}"), Country::default()).ok()
}

/// `POOL` caller IDs in area codes spread evenly over the table.
fn pool(codes: &[u16]) -> Vec<Phone> {
    let step = codes.len() / POOL;
    let pool: Vec<Phone> = codes
        .iter()
        .step_by(step)
        .filter_map(|&npa| number(npa, 9_999))
        .take(POOL)
        .collect();
    assert!(
        pool.len() >= POOL * 9 / 10,
        "only {} pool numbers",
        pool.len()
    );
    pool
}

/// The contacts' phones, dealt over every area code in turn.
fn phones(codes: &[u16], contacts: usize) -> Vec<Phone> {
    (0..)
        .filter_map(|i| number(codes[i % codes.len()], i / codes.len()))
        .take(contacts)
        .collect()
}

/// The contacts file: `phone,name,account`.
fn contacts_csv(phones: &[Phone]) -> String {
    let mut csv = String::with_capacity(phones.len() * 40);
    csv.push_str("phone,name,account\n");
    for (i, phone) in phones.iter().enumerate() {
        writeln!(csv, "{phone},Contact {i},A{i:07}").expect("writing to a String");
    }
    csv
}
