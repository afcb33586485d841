//! End-to-end throughput: a whole campaign dialled against the in-process sandbox, the way
//! `outdial run` does it (see `src/cli/run.rs::launch`), with pacing effectively off, 64 create
//! requests in flight, and the real journal in a temporary directory, whose `dialing` marks the
//! dialer makes durable by group commit before each create request leaves.
//!
//! Not a criterion bench: one campaign takes seconds, so it is run three times and the figures of
//! each run are printed, then the median rate. The sandbox's record of what it received is checked
//! after each run: exactly one create request per contact, no phone twice.
//!
//! `OUTDIAL_BENCH_CONTACTS` sets the number of contacts (default 20,000), so CI can smoke-run it
//! small: `OUTDIAL_BENCH_CONTACTS=200 cargo bench --bench end_to_end`.

use std::collections::HashSet;
use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use outdial::api::Synthflow;
use outdial::area_codes::{self, AreaCode};
use outdial::campaign::{ApiKey, Campaign, Overrides};
use outdial::dialer::{self, Dialer, Ending};
use outdial::journal::Journal;
use outdial::phone::{Country, Phone};
use outdial::progress::Silent;
use outdial::sandbox::{AgentSpec, Sandbox, SandboxConfig};

const DEFAULT_CONTACTS: usize = 20_000;
const RUNS: usize = 3;
const POOL: usize = 50;
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

/// What one run measured.
struct Figures {
    contacts: usize,
    wall: Duration,
    journal_flushes: u64,
}

impl Figures {
    fn calls_per_second(&self) -> f64 {
        self.contacts as f64 / self.wall.as_secs_f64()
    }

    fn marks_per_flush(&self) -> f64 {
        self.contacts as f64 / self.journal_flushes.max(1) as f64
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let contacts = contact_count();
    let codes = area_codes_in_table();
    let pool = pool(&codes);
    let csv = contacts_csv(&codes, contacts);
    println!(
        "end_to_end: {contacts} contacts, pool of {} numbers over as many area codes, \
         {RUNS} runs",
        pool.len()
    );
    let mut rates = Vec::with_capacity(RUNS);
    for run in 1..=RUNS {
        let figures = dial_campaign(&pool, &csv, contacts).await?;
        println!(
            "run {run}: {} contacts in {:.2} s = {:.0} calls/s; {} journal fsyncs, \
             {:.1} dialing marks per fsync",
            figures.contacts,
            figures.wall.as_secs_f64(),
            figures.calls_per_second(),
            figures.journal_flushes,
            figures.marks_per_flush(),
        );
        rates.push(figures.calls_per_second());
    }
    rates.sort_by(f64::total_cmp);
    println!("median: {:.0} calls/s", rates[RUNS / 2]);
    Ok(())
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

/// One campaign from a fresh sandbox, directory and journal: set-up is not timed, the rest is
/// what `launch` does.
async fn dial_campaign(
    pool: &[Phone],
    csv: &str,
    contacts: usize,
) -> Result<Figures, Box<dyn Error>> {
    let sandbox = Sandbox::start(SandboxConfig {
        agents: vec![AgentSpec {
            id: AGENT.to_owned(),
            numbers: pool.to_vec(),
        }],
        // Calls end at once: the bench measures the dialer, not call lengths.
        call_duration: Duration::ZERO.into(),
        ..SandboxConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bench.toml");
    std::fs::write(&file, CAMPAIGN)?;
    std::fs::write(dir.path().join("contacts.csv"), csv)?;

    let started = Instant::now();
    let overrides = Overrides {
        api_base: Some(sandbox.synthflow_base()),
    };
    let campaign = Campaign::load(&file, &overrides)?;
    let journal = Journal::open(&campaign.journal_dir, &campaign.name)?;
    dialer::survey(&campaign).await?;
    let api = Synthflow::new(&campaign.api.base_url, ApiKey::new("bench"))?;
    let pool = dialer::resolve_pool(&campaign, &api).await?;
    let dialer = Dialer::new(&campaign, api, &journal, &pool, &Silent)?;
    let finish = dialer.run(std::future::pending()).await?;
    let wall = started.elapsed();

    assert!(
        matches!(finish.ending, Ending::Complete),
        "the campaign did not complete: {:?}",
        finish.ending
    );
    check_received(&sandbox, contacts).await;
    drop(journal);
    sandbox.stop().await;
    check_journal_dir(dir.path());
    Ok(Figures {
        contacts,
        wall,
        journal_flushes: finish.journal_flushes,
    })
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

/// The contacts file: `phone,name,account`, contacts dealt over every area code in turn.
fn contacts_csv(codes: &[u16], contacts: usize) -> String {
    let mut csv = String::with_capacity(contacts * 40);
    csv.push_str("phone,name,account\n");
    let phones = (0..)
        .filter_map(|i| number(codes[i % codes.len()], i / codes.len()))
        .take(contacts);
    for (i, phone) in phones.enumerate() {
        writeln!(csv, "{phone},Contact {i},A{i:07}").expect("writing to a String");
    }
    csv
}
