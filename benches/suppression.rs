//! Do-not-call lists: a list of a million entries must load in well under 2 s (it did in 18 s),
//! and a list that changes every second must not slow the dialler's checks (re-reading a
//! million lines once cut dialling to a third). Measures [`DoNotCall::load`] on a file on disk
//! and [`DoNotCall::check`] on a watched list, idle and while a line is appended every second.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use outdial::phone::{Country, Phone};
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
criterion_main!(benches);
