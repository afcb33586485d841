//! Requests per call (issue 9): what following calls costs the vendor's API. A campaign of calls
//! of realistic length (about 60 s, then about 20 s), 10 live, the default reads budget, against
//! the in-process sandbox, which counts every `/v2` request by route. Prints, for each length,
//! the requests per call by kind (the sandbox's count, checked against outdial's own) and how
//! long after the sandbox ended a call the journal settled it (median and 90th percentile).
//!
//! Beside each figure it prints the warm-up (list pages read before the sandbox ended its first
//! call, when no length is known yet) and a floor measured in the same run: when ends come at
//! moments nobody can foresee, noticing half of them within 2 s takes at least one read per 4 s
//! while they come (a read noticing within 2 s only the ends of the 2 s before it), whatever
//! the schedule. Calls of one fixed length can be foreseen and go below it.
//!
//! Not a criterion bench: one campaign takes minutes. `OUTDIAL_BENCH_CALLS` sets the calls per
//! length (default 40); `OUTDIAL_BENCH_LENGTHS` the lengths, simulated seconds as the sandbox's
//! `--call-seconds` reads them (default `50..70,15..25,60`: about a minute, about 20 s, exactly
//! a minute); `OUTDIAL_BENCH_SCALE` makes simulated time run that many times faster
//! (default 1, real time). The follower's gaps and the reads budget are in real time, so only
//! a scale of 1 gives the request count a real account would see; a larger one is for a quick
//! look (`OUTDIAL_BENCH_CALLS=20 OUTDIAL_BENCH_SCALE=6 cargo bench --bench requests_per_call`).

use std::collections::BTreeMap;
use std::error::Error;
use std::time::Instant;

use outdial::campaign::{ApiKey, Campaign, Overrides};
use outdial::dialer::{self, Ending};
use outdial::journal::Journal;
use outdial::phone::{Country, Phone};
use outdial::progress::Display;
use outdial::sandbox::{AgentSpec, Sandbox, SandboxConfig, TimeScale};

const AGENT: &str = "5f0c2a8e-bench-agent";
const LIVE: u32 = 10;
/// The list route, as the sandbox names it in its record of requests.
const LIST: &str = "GET /v2/calls";

/// Creates paced well above what 10 live calls of a minute need, so the live limit sets the
/// pace, as on a real account; reads at their default budget.
const CAMPAIGN: &str = r#"
name = "requests-per-call"
agent = "5f0c2a8e-bench-agent"
contacts = "contacts.csv"

[pacing]
calls_per_second = 5.0
max_live_calls = 10

[window]
start = "00:00"
end = "23:59:59"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

[retry]
max_attempts = 1
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let calls = env_number("OUTDIAL_BENCH_CALLS", 40.0) as u32;
    let scale = env_number("OUTDIAL_BENCH_SCALE", 1.0);
    println!(
        "requests_per_call: {calls} calls per length, {LIVE} live, reads budget 2/s (default), \
         time scale {scale}"
    );
    let lengths = std::env::var("OUTDIAL_BENCH_LENGTHS").unwrap_or("50..70,15..25,60".into());
    for length in lengths.split(',') {
        let figures = campaign(length, scale, calls).await?;
        println!("calls of {length} s: {figures}");
    }
    Ok(())
}

/// What one campaign cost and how soon its ends were seen.
struct Figures {
    calls: u64,
    /// Requests per route, as the sandbox counted them.
    routes: BTreeMap<String, u64>,
    /// From the sandbox's end of each call to the journal's `done`, in ms, sorted.
    delays_ms: Vec<i64>,
    /// List pages the sandbox served before it ended its first call.
    warm_up_pages: u64,
    /// From the sandbox's first end of a call to its last, in ms.
    ends_span_ms: i64,
    wall: std::time::Duration,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per_call =
            |route: &str| self.routes.get(route).copied().unwrap_or(0) as f64 / self.calls as f64;
        let (create, list, get) = (
            per_call("POST /v2/calls"),
            per_call(LIST),
            per_call("GET /v2/calls/{call_id}"),
        );
        let at = |q: usize| {
            self.delays_ms[(self.delays_ms.len() * q / 100).min(self.delays_ms.len() - 1)]
        };
        // One read per 4 s while ends come, at the least, for a 2-s median (see the top).
        let floor = self.ends_span_ms as f64 / 4000.0 / self.calls as f64;
        let steady = list - self.warm_up_pages as f64 / self.calls as f64;
        write!(
            f,
            "{} calls in {:.0} s: {:.2} requests per call ({create:.2} create + {list:.2} list \
             pages + {get:.2} single gets); end noticed after {} ms median, {} ms p90; \
             {} list pages before the first end, {steady:.2} per call after it; floor for ends \
             at unforeseeable moments: {:.2} list pages per call ({:.2} requests)",
            self.calls,
            self.wall.as_secs_f64(),
            create + list + get,
            at(50),
            at(90),
            self.warm_up_pages,
            floor,
            create + floor,
        )
    }
}

/// One campaign of `calls` calls of `length` simulated seconds, from a fresh sandbox and journal.
async fn campaign(length: &str, scale: f64, calls: u32) -> Result<Figures, Box<dyn Error>> {
    let sandbox = Sandbox::start(SandboxConfig {
        agents: vec![AgentSpec {
            id: AGENT.to_owned(),
            numbers: vec![phone("+12125550101"), phone("+14155550102")],
        }],
        call_duration: length.parse()?,
        time_scale: TimeScale::new(scale)?,
        seed: 7,
        ..SandboxConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("campaign.toml");
    std::fs::write(&file, CAMPAIGN)?;
    let mut csv = String::from("phone,name\n");
    for i in 0..calls {
        csv.push_str(&format!("+1415555{:04},Person {i}\n", 1000 + i));
    }
    std::fs::write(dir.path().join("contacts.csv"), csv)?;
    let overrides = Overrides {
        api_base: Some(sandbox.synthflow_base()),
    };
    let campaign = Campaign::load(&file, &overrides)?;
    let journal = Journal::open(&campaign.journal_dir, &campaign.name)?;
    let started = Instant::now();
    let finish = dialer::launch(
        &campaign,
        &journal,
        ApiKey::new("bench"),
        Display::Quiet,
        std::future::pending(),
    )
    .await?;
    let wall = started.elapsed();
    assert!(
        matches!(finish.ending, Ending::Complete),
        "{:?}",
        finish.ending
    );
    let mut delays_ms = Vec::new();
    let (mut first_end, mut last_end) = (i64::MAX, i64::MIN);
    for entry in journal.entries() {
        let entry = entry?;
        let call_id = entry.call_id.as_deref().expect("every contact was called");
        let ended = sandbox
            .call_ends_ms(call_id)
            .expect("the sandbox made the call");
        delays_ms.push(entry.updated_at.as_millisecond() - ended);
        (first_end, last_end) = (first_end.min(ended), last_end.max(ended));
    }
    delays_ms.sort_unstable();
    let mut routes = BTreeMap::new();
    let mut warm_up_pages = 0;
    for request in sandbox.served() {
        if request.route == LIST && request.at_ms < first_end {
            warm_up_pages += 1;
        }
        *routes.entry(request.route).or_insert(0u64) += 1;
    }
    let ours = finish.report.requests.expect("the run counts its requests");
    let theirs = |route: &str| routes.get(route).copied().unwrap_or(0);
    assert_eq!(
        (ours.creates, ours.list_pages, ours.call_gets),
        (
            theirs("POST /v2/calls"),
            theirs(LIST),
            theirs("GET /v2/calls/{call_id}")
        ),
        "outdial's count differs from the sandbox's"
    );
    drop(journal);
    sandbox.stop().await;
    Ok(Figures {
        calls: ours.calls_created.max(1),
        routes,
        delays_ms,
        warm_up_pages,
        ends_span_ms: last_end - first_end,
        wall,
    })
}

fn phone(e164: &str) -> Phone {
    Phone::parse(e164, Country::default()).expect("bench numbers are valid")
}

/// A positive number from the environment, or `default`.
fn env_number(name: &str, default: f64) -> f64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(text) => text
            .trim()
            .parse()
            .ok()
            .filter(|n: &f64| *n > 0.0)
            .unwrap_or_else(|| panic!("{name}={text}: give a number above 0")),
    }
}
