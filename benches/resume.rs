//! Resume: a journal holding N contacts already called (done, each with its call start), and a
//! contacts file listing them again plus a few new ones first; the real `outdial resume` binary
//! is started against the in-process sandbox and timed from its spawn to its first create
//! request. Its own log gives the two steps that are the journal's: the journal opened, and the
//! resume state read (the tally, the open entries, the recent call starts). Run for 100k and
//! 1M journalled contacts, to show that the journal's part does not grow with the journal.
//!
//! The time to the first create also includes the check of the whole contacts file before the
//! first call, which grows with the file, not the journal; it is printed as the remainder.
//!
//! `OUTDIAL_BENCH_CONTACTS` sets the largest size (default 1,000,000; the sizes run are 1/10 of
//! it and it); CI smoke-runs it small: `OUTDIAL_BENCH_CONTACTS=2000 cargo bench --bench resume`.

use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use outdial::contacts::Contact;
use outdial::journal::{Entry, Journal, State};
use outdial::phone::{Country, Phone};
use outdial::rotation::Match;
use outdial::sandbox::{AgentSpec, Sandbox, SandboxConfig};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const DEFAULT_CONTACTS: usize = 1_000_000;
const NEW_CONTACTS: usize = 10;
const AGENT: &str = "5f0c2a8e-bench-agent";
const AREA_CODES: [u16; 10] = [212, 312, 415, 512, 602, 713, 718, 804, 907, 919];

const CAMPAIGN: &str = r#"
name = "bench"
agent = "5f0c2a8e-bench-agent"
contacts = "contacts.csv"
default_country = "US"

[pacing]
calls_per_second = 1000000.0
max_live_calls = 64

[rotation]
strategy = "region"

[window]
start = "00:00"
end = "23:59:59"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"#;

/// What one resume took: the journal's two steps as the binary's log times them, and its first
/// create request from its spawn.
#[derive(Debug, Default)]
struct Figures {
    /// Opening the journal (sled's recovery, the checks of its identity and witness).
    open_ms: Option<u64>,
    /// Reading the resume state (tally, open entries, each number's latest calls).
    state_ms: Option<u64>,
    first_create: Duration,
}

/// The `ms=N` field of a log line.
fn ms_field(line: &str) -> Option<u64> {
    let rest = &line[line.find("ms=")? + 3..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let largest = contact_count();
    let pool = pool();
    println!("resume: journals of done contacts, {NEW_CONTACTS} new contacts first in the CSV");
    for journalled in [largest / 10, largest] {
        let dir = tempfile::tempdir()?;
        let built = Instant::now();
        build(dir.path(), journalled, &pool).await?;
        let built = built.elapsed();
        let figures = resume(dir.path(), &pool).await?;
        let ms = |d: Option<u64>| d.map_or("?".to_owned(), |d| d.to_string());
        println!(
            "{journalled:>9} journalled (built in {:.0} s): journal opened in {} ms, resume \
             state read in {} ms; first new create {} ms after spawn",
            built.as_secs_f64(),
            ms(figures.open_ms),
            ms(figures.state_ms),
            figures.first_create.as_millis()
        );
    }
    Ok(())
}

/// A campaign directory whose journal holds `journalled` contacts called once each and done,
/// their calls started over the past hour, and whose CSV lists them after new ones.
async fn build(dir: &Path, journalled: usize, pool: &[Phone]) -> Result<(), Box<dyn Error>> {
    std::fs::write(dir.join("bench.toml"), CAMPAIGN)?;
    let mut csv = String::with_capacity((journalled + NEW_CONTACTS) * 40);
    csv.push_str("phone,name,account\n");
    for i in 0..NEW_CONTACTS {
        writeln!(csv, "{},New {i},N{i:07}", number(i, 600))?;
    }
    let journal = Journal::open(&dir.join(".outdial").join("bench"), "bench")?;
    let run = journal.begin_run()?;
    let now = Timestamp::now();
    for i in 0..journalled {
        let phone = number(i, 0);
        let line = (NEW_CONTACTS + i + 2) as u64;
        writeln!(csv, "{phone},Contact {i},A{i:07}")?;
        let contact = Contact {
            phone: Phone::parse(&phone, Country::default())?,
            name: format!("Contact {i}"),
            line,
            time_zone: None,
            region: None,
            custom_variables: Vec::new(),
        };
        let at = now
            - SignedDuration::from_millis((journalled - i) as i64 * 3_600_000 / journalled as i64);
        let caller = &pool[i % pool.len()];
        let mut entry = Entry::new(contact, run, at);
        entry.attempts = 1;
        entry.caller_id = Some(caller.clone());
        entry.local_match = Some(Match::AreaCode);
        entry.dialed_at = Some(at);
        entry.call_id = Some(format!("call-{i}"));
        let done = State::Done {
            status: "completed".into(),
            end_call_reason: Some("human_goodbye".into()),
            duration_s: Some(42),
        };
        entry.set(done, at);
        journal.put(&entry)?;
        journal.note_start(caller, at, 2)?;
        if i % 10_000 == 9_999 {
            journal.flush()?; // as a run's group commits do: sled frees only flushed pages
        }
    }
    journal.flush()?;
    journal.close().await;
    std::fs::write(dir.join("contacts.csv"), csv)?;
    Ok(())
}

/// Starts `outdial resume` and times it to its first create request, reading its log for the
/// journal's steps; the process is killed then.
async fn resume(dir: &Path, pool: &[Phone]) -> Result<Figures, Box<dyn Error>> {
    let sandbox = Sandbox::start(SandboxConfig {
        agents: vec![AgentSpec {
            id: AGENT.to_owned(),
            numbers: pool.to_vec(),
        }],
        call_duration: Duration::ZERO.into(),
        ..SandboxConfig::default()
    })
    .await?;
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_outdial"))
        .args(["resume", dir.join("bench.toml").to_str().unwrap(), "-q"])
        .env("OUTDIAL_API_BASE", sandbox.synthflow_base())
        .env("SYNTHFLOW_API_KEY", "bench")
        .env("RUST_LOG", "outdial=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut log = BufReader::new(child.stderr.take().expect("piped")).lines();
    let mut figures = Figures::default();
    loop {
        tokio::select! {
            line = log.next_line() => match line? {
                Some(line) if line.contains("journal opened") => figures.open_ms = ms_field(&line),
                Some(line) if line.contains("resume state read") => {
                    figures.state_ms = ms_field(&line);
                }
                Some(_) => {}
                None => return Err("the run ended before its first create request".into()),
            },
            () = tokio::time::sleep(Duration::from_millis(1)) => {
                if sandbox.stats().create_requests > 0 {
                    figures.first_create = started.elapsed();
                    break;
                }
            }
        }
    }
    child.kill().await?;
    sandbox.stop().await;
    Ok(figures)
}

/// `OUTDIAL_BENCH_CONTACTS`, or the default.
fn contact_count() -> usize {
    match std::env::var("OUTDIAL_BENCH_CONTACTS") {
        Err(_) => DEFAULT_CONTACTS,
        Ok(text) => text
            .trim()
            .parse()
            .ok()
            .filter(|&n| n >= 10)
            .unwrap_or_else(|| {
                panic!("OUTDIAL_BENCH_CONTACTS={text}: give a whole number of at least 10")
            }),
    }
}

/// The `i`-th contact's phone; exchanges from `nxx_base` on (new contacts use their own).
fn number(i: usize, nxx_base: usize) -> String {
    let npa = AREA_CODES[i % AREA_CODES.len()];
    let round = i / AREA_CODES.len();
    let nxx = 202 + nxx_base + (round / 10_000 % 60) * 10;
    format!("+1{npa}{nxx}{:04}", round % 10_000)
}

fn pool() -> Vec<Phone> {
    AREA_CODES
        .iter()
        .map(|&npa| Phone::parse(&format!("+1{npa}5550100"), Country::default()).unwrap())
        .collect()
}
