//! `outdial simulate` at the size of issue 12: 50,000 contacts, 40 numbers capped at 100 calls a
//! day, 5 simulated days, the three strategies side by side. Prints the table the command prints
//! and the wall time against the 60-second ceiling, and plays the first strategy a second time
//! to show that the same seed gives the same figures.
//!
//! Not a criterion bench: one play of five days is the measurement. `OUTDIAL_BENCH_CONTACTS`
//! and `OUTDIAL_BENCH_DAYS` shrink it (CI smoke-runs it small).

use std::error::Error;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use outdial::campaign::{Campaign, Overrides, Strategy};
use outdial::simulate::{Played, Simulation, table};

/// The ceiling issue 12 sets for the whole comparison, on 2 cores.
const CEILING: Duration = Duration::from_secs(60);
const NUMBERS: usize = 40;
/// Area codes across the four main US zones; the pool takes the first 40, one number each, and
/// the contacts are spread over all of them, so some callees have no local number.
const AREA_CODES: [u16; 56] = [
    212, 718, 917, 516, 631, 914, 201, 973, 215, 412, 617, 508, 202, 301, 410, 703, 804, 919, 704,
    404, 770, 305, 786, 407, 813, 904, 312, 773, 847, 630, 313, 248, 216, 614, 317, 414, 612, 651,
    314, 816, // the pool's 40
    214, 972, 713, 281, 512, 210, 303, 720, 602, 480, 801, 702, 213, 310, 415, 206,
];

fn campaign_text(numbers: &[String]) -> String {
    let numbers = numbers
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"name = "simulate-bench"
agent = "simulate-bench-agent"
contacts = "contacts.csv"

[pacing]
calls_per_second = 0.1
max_live_calls = 20

[rotation]
numbers = [{numbers}]
max_calls_per_number_per_day = 100
min_seconds_between_calls_per_number = 30

[window]
start = "09:00"
end = "20:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat"]

[retry]
max_attempts = 3
redial_after_minutes = 120
"#
    )
}

fn main() -> Result<(), Box<dyn Error>> {
    let contacts: u32 = env_or("OUTDIAL_BENCH_CONTACTS", 50_000);
    let days: u32 = env_or("OUTDIAL_BENCH_DAYS", 5);
    let dir = tempfile::tempdir()?;
    let numbers: Vec<String> = AREA_CODES[..NUMBERS]
        .iter()
        .enumerate()
        .map(|(i, npa)| format!("+1{npa}5550{:03}", 100 + i))
        .collect();
    let file = dir.path().join("campaign.toml");
    std::fs::write(&file, campaign_text(&numbers))?;
    let mut csv = String::from("phone,name\n");
    for i in 0..contacts {
        let npa = AREA_CODES[i as usize % AREA_CODES.len()];
        let exchange = 234 + (i / 10_000) % 700;
        csv.push_str(&format!("+1{npa}{exchange}{:04},Person {i}\n", i % 10_000));
    }
    std::fs::write(dir.path().join("contacts.csv"), csv)?;
    let campaign = Campaign::load(&file, &Overrides::default())?;
    let simulation = Simulation {
        campaign,
        // A Monday, before any window opens.
        start: "2026-12-07T00:00:00Z".parse()?,
        days: NonZeroU32::new(days).ok_or("OUTDIAL_BENCH_DAYS must be at least 1")?,
        seed: 12,
    };
    println!(
        "simulate: {contacts} contacts, {NUMBERS} numbers capped at 100 a day, {days} days, \
         3 strategies side by side, seed 12"
    );
    let began = Instant::now();
    let played: Vec<Played> = simulation
        .play_all(&Strategy::ALL)?
        .into_iter()
        .map(|play| play.played)
        .collect();
    let wall = began.elapsed();
    print!("{}", table(&played));
    println!(
        "wall time {:.1} s for the three plays (ceiling {} s): {}",
        wall.as_secs_f64(),
        CEILING.as_secs(),
        if wall <= CEILING { "within" } else { "OVER" }
    );
    let again = simulation.play(Strategy::ALL[0])?.played;
    let same = serde_json::to_value(&again)? == serde_json::to_value(&played[0])?;
    println!(
        "the same seed played again ({}): {}",
        again.strategy,
        if same {
            "the same figures"
        } else {
            "DIFFERENT figures"
        }
    );
    assert!(same, "a simulation must repeat with its seed");
    Ok(())
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
