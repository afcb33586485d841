//! Memory: the real `outdial run` binary dials a whole campaign against the in-process sandbox
//! (calls end at once, pacing off, 64 live), while this bench samples the process's resident
//! memory from `/proc/PID/status` (VmRSS now, VmHWM its peak so far) and prints it as the
//! dialled count passes each checkpoint (10k, 100k, 1M). Then `outdial status` and
//! `outdial export` are run on the finished journal and their peaks printed too, and the
//! journal's bytes on disk per contact.
//!
//! Not a criterion bench: one campaign takes minutes. The memory must stay flat after warm-up
//! and under 100 MB at any size.
//!
//! `OUTDIAL_BENCH_CONTACTS` sets the number of contacts (default 1,000,000); CI smoke-runs it
//! small: `OUTDIAL_BENCH_CONTACTS=2000 cargo bench --bench memory`.

use std::error::Error;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use outdial::phone::{Country, Phone};
use outdial::sandbox::{AgentSpec, Sandbox, SandboxConfig};
use tokio::process::{Child, Command};

const DEFAULT_CONTACTS: usize = 1_000_000;
const CHECKPOINTS: [usize; 3] = [10_000, 100_000, 1_000_000];
const AGENT: &str = "5f0c2a8e-bench-agent";
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
const CEILING_MB: f64 = 100.0;

const CAMPAIGN: &str = r#"
name = "bench"
agent = "5f0c2a8e-bench-agent"
contacts = "contacts.csv"
default_country = "US"

[pacing]
calls_per_second = 1000000.0
max_live_calls = 64
# Calls end at once: reads at their default budget (2 list pages a second) would set the pace
# (about 60 calls/s, 4.6 hours for 1M); unpaced, the journal does, as in a busy campaign.
reads_per_second = 1000000.0

[rotation]
strategy = "region"

[window]
start = "00:00"
end = "23:59:59"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"#;

/// A process's memory as `/proc/PID/status` tells it, in kB.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rss_kb: u64,
    peak_kb: u64,
}

impl Memory {
    /// `None` once the process is gone.
    fn of(pid: u32) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        };
        Some(Memory {
            rss_kb: field("VmRSS:")?,
            peak_kb: field("VmHWM:")?,
        })
    }

    fn mb(kb: u64) -> f64 {
        kb as f64 / 1024.0
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let contacts = contact_count();
    let pool = pool();
    let sandbox = Sandbox::start(SandboxConfig {
        agents: vec![AgentSpec {
            id: AGENT.to_owned(),
            numbers: pool.clone(),
        }],
        call_duration: Duration::ZERO.into(),
        ..SandboxConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bench.toml");
    std::fs::write(&file, CAMPAIGN)?;
    std::fs::write(dir.path().join("contacts.csv"), contacts_csv(contacts))?;
    println!(
        "memory: {contacts} contacts, pool of {}, instant calls, 64 live",
        pool.len()
    );

    let started = Instant::now();
    let run = outdial(&sandbox, &["run", file.to_str().unwrap(), "-q"]).spawn()?;
    let peak = follow_run(run, &sandbox, contacts, started).await?;
    let accepted = sandbox.stats().creates_accepted;
    assert_eq!(accepted as usize, contacts, "every contact called once");

    let journal = dir.path().join(".outdial").join("bench");
    let disk = bytes_on_disk(&journal);
    println!(
        "journal on disk: {:.1} MB = {:.0} B per contact",
        disk as f64 / 1e6,
        disk as f64 / contacts as f64
    );
    let mut peaks = vec![("run", peak)];
    for command in ["status", "export", "report"] {
        let child = outdial(&sandbox, &[command, file.to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()?;
        let (peak, took) = peak_of(child).await?;
        println!(
            "{command}: peak {:.1} MB in {:.1} s",
            Memory::mb(peak),
            took.as_secs_f64()
        );
        peaks.push((command, peak));
    }
    for (command, peak) in peaks {
        assert!(
            Memory::mb(peak) <= CEILING_MB,
            "{command} peaked at {:.1} MB, over {CEILING_MB} MB",
            Memory::mb(peak)
        );
    }
    Ok(())
}

/// Samples the run's memory until it ends, printing it at each checkpoint; returns its peak.
async fn follow_run(
    mut run: Child,
    sandbox: &Sandbox,
    contacts: usize,
    started: Instant,
) -> Result<u64, Box<dyn Error>> {
    let pid = run.id().expect("the run is going");
    let mut checkpoints = CHECKPOINTS
        .into_iter()
        .filter(|&n| n <= contacts)
        .peekable();
    let mut last = Memory::default();
    loop {
        if let Some(memory) = Memory::of(pid) {
            last = memory;
        }
        let dialled = sandbox.stats().creates_accepted as usize;
        if let Some(&checkpoint) = checkpoints.peek()
            && dialled >= checkpoint
        {
            checkpoints.next();
            println!(
                "after {dialled:>9} dialled ({:>6.0} s): RSS {:>6.1} MB, peak {:>6.1} MB",
                started.elapsed().as_secs_f64(),
                Memory::mb(last.rss_kb),
                Memory::mb(last.peak_kb)
            );
        }
        if let Some(status) = run.try_wait()? {
            assert!(status.success(), "the run failed: {status}");
            break;
        }
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    println!(
        "run: {contacts} contacts in {:.0} s, peak {:.1} MB",
        started.elapsed().as_secs_f64(),
        Memory::mb(last.peak_kb)
    );
    Ok(last.peak_kb)
}

/// The peak memory of a short command (the last VmHWM seen before it ended), and its time.
async fn peak_of(mut child: Child) -> Result<(u64, Duration), Box<dyn Error>> {
    let started = Instant::now();
    let pid = child.id().expect("the command is going");
    let mut peak = 0;
    loop {
        if let Some(memory) = Memory::of(pid) {
            peak = peak.max(memory.peak_kb);
        }
        if let Some(status) = child.try_wait()? {
            assert!(status.success(), "the command failed: {status}");
            return Ok((peak, started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The real binary, pointed at the sandbox.
fn outdial(sandbox: &Sandbox, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_outdial"));
    command
        .args(args)
        .env("OUTDIAL_API_BASE", sandbox.synthflow_base())
        .env("SYNTHFLOW_API_KEY", "bench")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Bytes the files under `dir` take on disk (allocated blocks, so sparse files count as stored).
fn bytes_on_disk(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for item in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let Ok(meta) = item.metadata() else { continue };
        total += match meta.is_dir() {
            true => bytes_on_disk(&item.path()),
            false => meta.blocks() * 512,
        };
    }
    total
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

/// Area codes with a number of the pool each: contacts are dealt over them in turn.
const AREA_CODES: [u16; 10] = [212, 312, 415, 512, 602, 713, 718, 804, 907, 919];

/// The `i`-th contact's phone: distinct for up to 80 × 10,000 per area code.
fn number(npa: u16, i: usize) -> String {
    let nxx = 202 + (i / 10_000 % 80) * 10;
    format!("+1{npa}{nxx}{:04}", i % 10_000)
}

fn pool() -> Vec<Phone> {
    AREA_CODES
        .iter()
        .map(|&npa| Phone::parse(&format!("+1{npa}5550100"), Country::default()).unwrap())
        .collect()
}

/// The contacts file: `phone,name,account`.
fn contacts_csv(contacts: usize) -> String {
    let mut csv = String::with_capacity(contacts * 40);
    csv.push_str("phone,name,account\n");
    for i in 0..contacts {
        let npa = AREA_CODES[i % AREA_CODES.len()];
        let phone = number(npa, i / AREA_CODES.len());
        writeln!(csv, "{phone},Contact {i},A{i:07}").expect("writing to a String");
    }
    csv
}
