//! Start-up at scale: how long `outdial run` takes from process start to its first create
//! request with a contacts file of millions of rows, the same after a SIGKILL (a resume, the
//! file unchanged), and what `outdial plan` costs in time and peak memory on that file.
//!
//! Not a criterion bench: each figure is one process over a file of about half a gigabyte, so
//! it runs once and prints. The file is generated in a temporary directory (never committed);
//! the release binary runs against the in-process sandbox, which tells when the first create
//! arrived. Memory is the process's own `VmHWM` (peak resident set) from `/proc`.
//!
//! `OUTDIAL_BENCH_ROWS` (default 10,000,000) sets the file's size.

use std::error::Error;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use outdial::sandbox::{DEMO_AGENT_ID, Sandbox, SandboxConfig};

const DEFAULT_ROWS: u64 = 10_000_000;
/// Area codes the generated phones cycle through, 8 million numbers each.
const AREA_CODES: [u32; 4] = [212, 415, 312, 713];

fn campaign_text(base: &str) -> String {
    format!(
        r#"name = "startup"
agent = "{DEMO_AGENT_ID}"
contacts = "contacts.csv"

[api]
base_url = "{base}"

[pacing]
calls_per_second = 20.0
max_live_calls = 8

[window]
start = "00:00"
end = "23:59:59"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
"#
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let rows: u64 = std::env::var("OUTDIAL_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ROWS);
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("contacts.csv");
    let made = Instant::now();
    let bytes = write_contacts(&csv, rows)?;
    println!(
        "startup: {rows} rows, {:.0} MB, written in {:.1} s; {} cores, load {}",
        bytes as f64 / 1e6,
        made.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")?.trim()
    );
    let read = read_speed(&csv)?;
    println!("  reading the file (page cache), no parsing: {read:.0} MB/s");

    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    let campaign = dir.path().join("startup.toml");
    std::fs::write(&campaign, campaign_text(&sandbox.synthflow_base()))?;

    let first = until_create(&sandbox, &campaign, 0).await?;
    println!(
        "  first run: process start → first create   {:>7.2} s   (peak RSS {} MiB)",
        first.elapsed.as_secs_f64(),
        first.peak_kib / 1024
    );
    let requests = sandbox.stats().create_requests;
    let resumed = until_create(&sandbox, &campaign, requests).await?;
    println!(
        "  resume after SIGKILL → first new create   {:>7.2} s   (peak RSS {} MiB)",
        resumed.elapsed.as_secs_f64(),
        resumed.peak_kib / 1024
    );
    check_once(&sandbox).await;

    let plan = plan(&campaign)?;
    println!(
        "  plan: {:>7.2} s, peak RSS {} MiB; it says: {}",
        plan.elapsed.as_secs_f64(),
        plan.peak_kib / 1024,
        plan.said
    );
    sandbox.stop().await;
    Ok(())
}

/// Writes `rows` contacts (phone, name and three custom columns); returns the file's size.
fn write_contacts(path: &Path, rows: u64) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    writeln!(out, "phone,name,company,plan,note")?;
    for i in 0..rows {
        let area = AREA_CODES[(i / 8_000_000) as usize % AREA_CODES.len()];
        let exchange = 200 + (i / 10_000) % 800;
        let line = i % 10_000;
        writeln!(
            out,
            "+1{area}{exchange:03}{line:04},Contact {i},Acme {},gold,renewal due",
            i % 97
        )?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// MB/s of a plain read of the file: the floor under any check of it.
fn read_speed(path: &Path) -> std::io::Result<f64> {
    let started = Instant::now();
    let mut file = File::open(path)?;
    let mut buf = vec![0; 1 << 20];
    let mut total = 0u64;
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => total += n as u64,
        }
    }
    Ok(total as f64 / 1e6 / started.elapsed().as_secs_f64())
}

struct Measured {
    elapsed: Duration,
    peak_kib: u64,
}

/// Starts `outdial run`, waits for the sandbox to receive a create request beyond `requests_before`,
/// then kills the process with SIGKILL, as a crash would.
async fn until_create(
    sandbox: &Sandbox,
    campaign: &Path,
    requests_before: u64,
) -> Result<Measured, Box<dyn Error>> {
    let started = Instant::now();
    let mut child = outdial(&["run", "-q"], campaign)?;
    loop {
        if sandbox.stats().create_requests > requests_before {
            break;
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!("outdial run ended before its first create: {status}").into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    let peak_kib = peak_kib(&child).unwrap_or(0);
    child.kill()?;
    child.wait()?;
    Ok(Measured { elapsed, peak_kib })
}

/// No phone was called twice across the runs.
async fn check_once(sandbox: &Sandbox) {
    let mut phones: Vec<String> = sandbox
        .received()
        .await
        .into_iter()
        .filter(|c| c.call_id.is_some())
        .filter_map(|c| c.phone)
        .collect();
    let made = phones.len();
    phones.sort();
    phones.dedup();
    assert_eq!(made, phones.len(), "a phone was called twice");
    println!("  {made} calls made over both runs, no phone twice");
}

struct Planned {
    elapsed: Duration,
    peak_kib: u64,
    said: String,
}

/// Runs `outdial plan`, sampling its peak memory until it ends.
fn plan(campaign: &Path) -> Result<Planned, Box<dyn Error>> {
    let started = Instant::now();
    let mut child = outdial(&["plan"], campaign)?;
    let mut peak_kib = 0;
    while child.try_wait()?.is_none() {
        peak_kib = peak_kib.max(peak_kib_of(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_string(&mut out)?;
    let said = out
        .lines()
        .find(|l| l.contains("planned in"))
        .unwrap_or("(no time given)")
        .trim()
        .to_owned();
    Ok(Planned {
        elapsed,
        peak_kib,
        said,
    })
}

fn outdial(args: &[&str], campaign: &Path) -> std::io::Result<Child> {
    Command::new(env!("CARGO_BIN_EXE_outdial"))
        .args(args)
        .arg(campaign)
        .env("SYNTHFLOW_API_KEY", "bench")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
}

fn peak_kib(child: &Child) -> Option<u64> {
    peak_kib_of(child.id())
}

/// `VmHWM` of a process: its peak resident set, in KiB.
fn peak_kib_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
