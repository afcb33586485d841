//! Makespan: how long a campaign paced to the pay-as-you-go account (5 calls live, 1 new call per
//! second) takes against the in-process sandbox enforcing those very limits, compared with the
//! least time any dialer could take.
//!
//! Two lower bounds, N contacts, calls of D seconds, L live, rate r:
//! - the start rate: the last call cannot start before (N−1)/r and then lasts D;
//! - the live limit: N·D seconds of calls over L slots, whose first calls cannot all start at
//!   once (the k-th start is at k/r at the earliest), so N·D/L + (L−1)/(2r).
//!
//! The ideal is the larger; the run should come within 5% of it without a single 429. With
//! r = 1 and L = 5, the live limit dominates once D > 5 s.
//!
//! Not a criterion bench: one campaign takes minutes, so it runs once and prints its figures, and
//! where the time went: how late each call's end was seen (the status poll cadence), and how long
//! a create took from the dial decision to the API (the `dialing` mark's fsync and the request).
//!
//! `OUTDIAL_BENCH_CONTACTS` (default 200) and `OUTDIAL_BENCH_CALL_SECONDS` (default 7) change
//! the size; the default takes about 5 minutes. The account's scenario of 500 contacts:
//! `OUTDIAL_BENCH_CONTACTS=500 OUTDIAL_BENCH_CALL_SECONDS=6 cargo bench --bench makespan`.

use std::collections::HashMap;
use std::error::Error;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use outdial::api::Synthflow;
use outdial::campaign::{ApiKey, Campaign, Overrides};
use outdial::dialer::{self, Dialer, Ending};
use outdial::journal::{Journal, State};
use outdial::phone::{Country, Phone};
use outdial::progress::Silent;
use outdial::sandbox::{AgentSpec, Limits, Sandbox, SandboxConfig};

const DEFAULT_CONTACTS: usize = 200;
const DEFAULT_CALL_SECONDS: f64 = 7.0;
/// The pay-as-you-go account: calls live at once, and new calls per second.
const LIVE: u32 = 5;
const RATE: u32 = 1;
const AGENT: &str = "makespan-bench-agent";
const POOL: [&str; 4] = [
    "+12125550101",
    "+14155550102",
    "+13125550104",
    "+17135550105",
];

/// The campaign paced exactly to the account: what its owner would write.
fn campaign_text() -> String {
    format!(
        r#"name = "makespan"
agent = "{AGENT}"
contacts = "contacts.csv"

[pacing]
calls_per_second = {RATE}.0
max_live_calls = {LIVE}

[window]
start = "00:00"
end = "23:59:59"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

[retry]
max_attempts = 1
"#
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let contacts: usize = setting("OUTDIAL_BENCH_CONTACTS", DEFAULT_CONTACTS);
    let call_seconds: f64 = setting("OUTDIAL_BENCH_CALL_SECONDS", DEFAULT_CALL_SECONDS);
    let call = Duration::from_secs_f64(call_seconds);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "makespan: {contacts} contacts, calls of {call_seconds} s, campaign at {LIVE} live and \
         {RATE} call/s against a sandbox enforcing the same limits; {cores} cores"
    );

    let sandbox = Sandbox::start(SandboxConfig {
        agents: vec![AgentSpec {
            id: AGENT.to_owned(),
            numbers: POOL.iter().map(|n| phone(n)).collect(),
        }],
        call_duration: call.into(),
        limits: Limits {
            max_live: NonZeroU32::new(LIVE),
            max_cps: NonZeroU32::new(RATE),
        },
        ..SandboxConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("makespan.toml");
    std::fs::write(&file, campaign_text())?;
    std::fs::write(dir.path().join("contacts.csv"), contacts_csv(contacts))?;
    let campaign = Campaign::load(
        &file,
        &Overrides {
            api_base: Some(sandbox.synthflow_base()),
        },
    )?;
    let journal = Journal::open(&campaign.journal_dir, &campaign.name)?;

    let started = Instant::now();
    let ending = dial(&campaign, &journal).await?;
    let makespan = started.elapsed();

    assert!(
        matches!(ending, Ending::Complete),
        "the campaign did not complete: {ending:?}"
    );
    let bounds = Bounds::new(contacts, call_seconds);
    let ratio = makespan.as_secs_f64() / bounds.ideal();
    let stats = sandbox.stats();
    let refused = &stats.too_many_requests;
    println!("  rate bound  (N-1)/r + D          {:>8.1} s", bounds.rate);
    println!("  live bound  N*D/L + (L-1)/(2r)   {:>8.1} s", bounds.live);
    println!(
        "  ideal (the larger)               {:>8.1} s",
        bounds.ideal()
    );
    println!(
        "  actual makespan                  {:>8.1} s",
        makespan.as_secs_f64()
    );
    println!(
        "  ratio actual/ideal               {ratio:>8.3}  within 5%: {}",
        if ratio <= 1.05 { "yes" } else { "NO" }
    );
    println!(
        "  429s: {} (burst {}, live limit {}, rate limit {}) — must be 0: {}",
        refused.total(),
        refused.burst,
        refused.live_limit,
        refused.rate_limit,
        if refused.total() == 0 { "ok" } else { "FAIL" }
    );
    println!(
        "  creates accepted {} of {} requests; most calls live at the account: {}",
        stats.creates_accepted, stats.create_requests, stats.max_live
    );
    print_refusals(&sandbox).await;
    let lags = Lags::measure(&sandbox, &journal, call, contacts).await?;
    lags.print(&stats, sandbox.requests_served(), contacts, call_seconds);
    drop(journal);
    sandbox.stop().await;
    Ok(())
}

/// Each 429: when it came, and how long after the create accepted before it (the account takes
/// one per second: under 1000 ms is too soon).
async fn print_refusals(sandbox: &Sandbox) {
    let received = sandbox.received().await;
    let Some(first) = received.first().map(|c| c.at_ms) else {
        return;
    };
    let mut last_accepted = None;
    for call in &received {
        if call.call_id.is_some() {
            last_accepted = Some(call.at_ms);
        } else if call.status == 429 {
            let since = last_accepted.map_or(String::from("-"), |at| (call.at_ms - at).to_string());
            println!(
                "    429 at +{:.3} s, {since} ms after the previous accepted create",
                (call.at_ms - first) as f64 / 1000.0
            );
        }
    }
}

/// Dials the campaign to its end, the way `outdial run` does.
async fn dial(campaign: &Campaign, journal: &Journal) -> Result<Ending, Box<dyn Error>> {
    dialer::survey(campaign, journal).await?;
    let api = Synthflow::new(&campaign.api.base_url, ApiKey::new("bench"))?;
    let pool = dialer::resolve_pool(campaign, &api).await?;
    let finish = Dialer::new(
        campaign,
        api,
        journal,
        &pool,
        outdial::budget::Share::alone(&campaign.pacing),
        &Silent,
    )?
    .run(std::future::pending())
    .await?;
    Ok(finish.ending)
}

/// The two lower bounds on the makespan, in seconds (see the module documentation).
struct Bounds {
    rate: f64,
    live: f64,
}

impl Bounds {
    fn new(contacts: usize, call_seconds: f64) -> Bounds {
        let (n, rate, live) = (contacts as f64, f64::from(RATE), f64::from(LIVE));
        Bounds {
            rate: (n - 1.0) / rate + call_seconds,
            live: n * call_seconds / live + (live - 1.0) / (2.0 * rate),
        }
    }

    fn ideal(&self) -> f64 {
        self.rate.max(self.live)
    }
}

/// Where the time beyond the calls themselves went, per call (milliseconds).
struct Lags {
    /// From the call's end at the sandbox to the dialer recording it (`done` in the journal).
    end_seen: Vec<i64>,
    /// From the dial decision (`dialed_at`) to the create's arrival at the sandbox.
    create: Vec<i64>,
}

impl Lags {
    async fn measure(
        sandbox: &Sandbox,
        journal: &Journal,
        call: Duration,
        contacts: usize,
    ) -> Result<Lags, Box<dyn Error>> {
        let created: HashMap<String, i64> = sandbox
            .received()
            .await
            .into_iter()
            .filter(|c| c.call_id.is_some())
            .map(|c| (c.phone.unwrap_or_default(), c.at_ms))
            .collect();
        assert_eq!(created.len(), contacts, "each contact called once");
        let call_ms = call.as_millis() as i64;
        let mut lags = Lags {
            end_seen: Vec::new(),
            create: Vec::new(),
        };
        for entry in journal.entries() {
            let entry = entry?;
            assert!(
                matches!(&entry.state, State::Done { status, .. } if status == "completed"),
                "{entry:?}"
            );
            let at = created[entry.phone().as_str()];
            lags.end_seen
                .push(entry.updated_at.as_millisecond() - (at + call_ms));
            let dialed = entry.dialed_at.expect("dialled").as_millisecond();
            lags.create.push(at - dialed);
        }
        Ok(lags)
    }

    fn print(
        mut self,
        stats: &outdial::sandbox::Stats,
        served: usize,
        contacts: usize,
        call_seconds: f64,
    ) {
        let end = summary(&mut self.end_seen);
        let create = summary(&mut self.create);
        println!("  call end seen by the dialer after it happened: {end}");
        println!("  dial decision -> create at the API:           {create}");
        let mean_hold = call_seconds + mean(&self.end_seen) / 1000.0 + mean(&self.create) / 1000.0;
        println!(
            "  a live slot is held {mean_hold:.3} s per call on average: {contacts} calls over \
             {LIVE} slots need at least {:.1} s",
            contacts as f64 * mean_hold / f64::from(LIVE)
        );
        // Everything served but the creates and the one pool look-up is a status poll.
        let polls = served as u64 - stats.create_requests - 1;
        println!(
            "  status polls: {polls} ({:.1} per call)",
            polls as f64 / contacts as f64
        );
    }
}

fn mean(values: &[i64]) -> f64 {
    values.iter().sum::<i64>() as f64 / values.len().max(1) as f64
}

/// `mean 180 ms, p50 170, p95 330, max 360`.
fn summary(values: &mut [i64]) -> String {
    values.sort_unstable();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    format!(
        "mean {:.0} ms, p50 {}, p95 {}, max {}",
        mean(values),
        at(0.5),
        at(0.95),
        at(1.0)
    )
}

/// `name` from the environment, or the default.
fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Err(_) => default,
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text}: give a positive number")),
    }
}

fn phone(e164: &str) -> Phone {
    Phone::parse(e164, Country::default()).expect("bench numbers are valid")
}

/// `n` contacts spread over the pool's area codes.
fn contacts_csv(n: usize) -> String {
    let mut csv = String::from("phone,name\n");
    for i in 0..n {
        let npa = [212, 415, 312, 713][i % 4];
        csv.push_str(&format!(
            "+1{npa}{}{:04},Person {i}\n",
            234 + i / 10_000,
            i % 10_000
        ));
    }
    csv
}
