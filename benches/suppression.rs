//! Do-not-call lists: a list of a million entries must load in well under 2 s (it did in 18 s),
//! and a list that changes every second must not slow dialling (re-reading a million lines once
//! cut dialling to a third). Measures [`DoNotCall::load`] on a file on disk and
//! [`DoNotCall::check`] on a watched list, idle and while a line is appended every second (with
//! criterion), then a whole campaign dialled against the in-process sandbox with the
//! million-entry list, idle and appended every second (calls per second of each, printed).

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use outdial::api::Synthflow;
use outdial::campaign::{ApiKey, Campaign, Overrides};
use outdial::dialer::{Dialer, Ending};
use outdial::journal::Journal;
use outdial::phone::{Country, Phone};
use outdial::progress::Silent;
use outdial::sandbox::{AgentSpec, Sandbox, SandboxConfig};
use outdial::suppression::{Check, DoNotCall, RECHECK};

const ENTRIES: u64 = 1_000_000;

/// The `i`-th listed number: 1M distinct valid NANP numbers over a few area codes.
fn number(i: u64) -> (u64, u64, u64) {
    let area_codes = [212, 415, 312, 713, 305, 206, 617, 404];
    let npa = area_codes[(i % 8) as usize];
    let (nxx, line) = (234 + (i / 8) / 10_000, (i / 8) % 10_000);
    (npa, nxx, line)
}

/// Writes `ENTRIES` numbers in the spellings lists have: E.164, national with punctuation,
/// plain digits, and now and then a name after a tab or a comment.
fn write_list(path: &Path) {
    let mut out = BufWriter::new(File::create(path).expect("create the bench list"));
    writeln!(out, "# do not call, exported 2026-11-30").unwrap();
    for i in 0..ENTRIES {
        let (npa, nxx, line) = number(i);
        match i % 4 {
            0 => writeln!(out, "+1{npa}{nxx}{line:04}"),
            1 => writeln!(out, "({npa}) {nxx}-{line:04}"),
            2 => writeln!(out, "{npa}{nxx}{line:04}\tCustomer {i}"),
            _ => writeln!(out, "1-{npa}-{nxx}-{line:04}  # asked {i}"),
        }
        .unwrap();
    }
    out.flush().unwrap();
}

/// Writes `n` numbers that the fast reading leaves to the phone parser (an extension), to
/// measure what each line would cost without it.
fn write_parsed_list(path: &Path, n: u64) {
    let mut out = BufWriter::new(File::create(path).expect("create the bench list"));
    for i in 0..n {
        let (npa, nxx, line) = number(i);
        writeln!(out, "+1 {npa} {nxx} {line:04} ext. {}", i % 100).unwrap();
    }
    out.flush().unwrap();
}

fn us() -> Country {
    "US".parse().unwrap()
}

fn bench_load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("dnc.txt");
    write_list(&path);
    let files = [path];
    let loaded = DoNotCall::load(&files, us()).expect("the bench list loads");
    assert_eq!(
        loaded.counts()[0].numbers as u64,
        ENTRIES,
        "every entry counts"
    );
    let mut group = c.benchmark_group("do_not_call_load");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(ENTRIES));
    group.bench_function("1M entries", |b| {
        b.iter(|| black_box(DoNotCall::load(&files, us()).expect("the bench list loads")))
    });
    group.finish();

    // Where the time went before: every line through libphonenumber.
    const PARSED: u64 = 20_000;
    let parsed = [dir.path().join("parsed.txt")];
    write_parsed_list(&parsed[0], PARSED);
    let mut group = c.benchmark_group("do_not_call_load");
    group.sample_size(10);
    group.throughput(Throughput::Elements(PARSED));
    group.bench_function("20k entries through the phone parser", |b| {
        b.iter(|| black_box(DoNotCall::load(&parsed, us()).expect("the bench list loads")))
    });
    group.finish();
}

/// Phones to check: half listed, half not, so both answers are measured.
fn callees() -> Vec<Phone> {
    (0..1024)
        .map(|i| {
            let (npa, nxx, line) = number(i * 977);
            let nxx = if i % 2 == 0 { nxx } else { 999 };
            Phone::parse(&format!("+1{npa}{nxx}{line:04}"), us()).unwrap()
        })
        .collect()
}

/// Appends a line every second until told to stop, as an opt-out feed does.
fn append_every_second(path: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut i = ENTRIES;
        while !stop.load(Ordering::Relaxed) {
            let mut file = File::options().append(true).open(&path).unwrap();
            let (npa, nxx, line) = number(i);
            writeln!(file, "+1{npa}{nxx}{line:04}").unwrap();
            i += 1;
            std::thread::sleep(Duration::from_secs(1));
        }
    })
}

fn bench_check(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("dnc.txt");
    write_list(&path);
    let files = [path.clone()];
    let dnc = DoNotCall::watch(&files, us(), RECHECK).expect("the bench list loads");
    let phones = callees();
    let mut group = c.benchmark_group("do_not_call_check");
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(phones.len() as u64));
    let check_all = |dnc: &DoNotCall| {
        let listed = phones
            .iter()
            .filter(|p| matches!(dnc.check(p), Check::Listed(_)))
            .count();
        assert_eq!(listed, phones.len() / 2, "half the callees are listed");
    };
    group.bench_function("list idle", |b| b.iter(|| check_all(&dnc)));
    let stop = Arc::new(AtomicBool::new(false));
    let appender = append_every_second(path, stop.clone());
    group.bench_function("list appended every second", |b| b.iter(|| check_all(&dnc)));
    stop.store(true, Ordering::Relaxed);
    appender.join().unwrap();
    group.finish();
}

criterion_group!(benches, bench_load, bench_check);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::args().any(|arg| arg == "--list" || arg == "--test") {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(dial_with_a_list());
}

// ---- a whole campaign -----------------------------------------------------------------------

const CONTACTS: u64 = 3_000;
const AGENT: &str = "bench-agent";

/// Pacing off in all but name, 64 calls live: the dialer, the journal and the sandbox set the
/// pace, and the do-not-call check sits in front of every dial.
const CAMPAIGN: &str = r#"
name = "bench"
agent = "bench-agent"
contacts = "contacts.csv"

[pacing]
calls_per_second = 1000000.0
max_live_calls = 64
reads_per_second = 1000000.0

[window]
start = "00:00"
end = "23:59:59"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

[suppress]
files = ["dnc.txt"]
"#;

/// Dials the same campaign with the million-entry list idle, then appended every second, three
/// times each, and prints the calls per second of each run and the medians.
async fn dial_with_a_list() {
    let mut medians = Vec::new();
    for list in [List::Idle, List::AppendedEverySecond] {
        let mut rates = Vec::new();
        for _ in 0..3 {
            rates.push(dial_campaign(list).await);
        }
        rates.sort_by(f64::total_cmp);
        println!(
            "campaign, 1M-entry list {list:?}: {rates:.0?} calls/s, median {:.0}",
            rates[1]
        );
        medians.push(rates[1]);
    }
    println!(
        "dialling with the list appended every second runs at {:.0}% of the idle rate",
        100.0 * medians[1] / medians[0]
    );
}

/// What happens to the list while the campaign dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Idle,
    AppendedEverySecond,
}

/// One campaign from a fresh sandbox, directory and journal; returns calls per second.
async fn dial_campaign(list: List) -> f64 {
    let pool = vec![Phone::parse("+12125550101", us()).unwrap()];
    let sandbox = Sandbox::start(SandboxConfig {
        agents: vec![AgentSpec {
            id: AGENT.to_owned(),
            numbers: pool.clone(),
        }],
        call_duration: Duration::ZERO.into(),
        ..SandboxConfig::default()
    })
    .await
    .expect("the sandbox starts");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("bench.toml");
    std::fs::write(&file, CAMPAIGN).unwrap();
    write_list(&dir.path().join("dnc.txt"));
    let mut csv = String::from("phone,name\n");
    for i in 0..CONTACTS {
        // Exchange 999: on no list.
        csv.push_str(&format!("+1617999{i:04},Person {i}\n"));
    }
    std::fs::write(dir.path().join("contacts.csv"), csv).unwrap();

    let overrides = Overrides {
        api_base: Some(sandbox.synthflow_base()),
    };
    let campaign = Campaign::load(&file, &overrides).expect("the bench campaign is valid");
    let journal = Journal::open(&campaign.journal_dir, &campaign.name).expect("a journal");
    let api = Synthflow::new(&campaign.api.base_url, ApiKey::new("bench")).unwrap();
    let dialer = Dialer::new(
        &campaign,
        api,
        &journal,
        &pool,
        outdial::budget::Share::alone(&campaign.pacing),
        &Silent,
    )
    .expect("the dialer starts");
    let stop = Arc::new(AtomicBool::new(false));
    let appender = (list == List::AppendedEverySecond)
        .then(|| append_every_second(dir.path().join("dnc.txt"), stop.clone()));
    let started = std::time::Instant::now();
    let finish = dialer
        .run(std::future::pending())
        .await
        .expect("the run ends");
    let wall = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    if let Some(appender) = appender {
        appender.join().unwrap();
    }
    assert!(matches!(finish.ending, Ending::Complete));
    assert_eq!(sandbox.received().await.len() as u64, CONTACTS);
    drop(journal);
    sandbox.stop().await;
    CONTACTS as f64 / wall.as_secs_f64()
}
