//! What durability of the `dialing` marks costs: one fsync per mark (what a naive journal does)
//! against the group commit the dialer uses, with 64 requests waiting on their marks at once.
//! Prints marks per second for each; `OUTDIAL_BENCH_MARKS` sets how many marks (default 2,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use outdial::contacts::Contact;
use outdial::journal::{Entry, Journal, State};
use outdial::phone::{Country, Phone};

const WRITERS: usize = 64;

fn main() {
    let marks: usize = std::env::var("OUTDIAL_BENCH_MARKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut per_mark = Vec::new();
    let mut grouped = Vec::new();
    for _ in 0..3 {
        per_mark.push(runtime.block_on(fsync_per_mark(marks)));
        grouped.push(runtime.block_on(group_commit(marks)));
    }
    let (one, many) = (median(per_mark), median(grouped));
    println!("journal: {marks} durable dialing marks, median of 3 runs");
    println!(
        "  one fsync per mark        {:>9.0} marks/s",
        marks as f64 / one.0.as_secs_f64()
    );
    println!(
        "  group commit, {WRITERS} waiting   {:>9.0} marks/s  ({:.1} marks per fsync)",
        marks as f64 / many.0.as_secs_f64(),
        marks as f64 / many.1 as f64
    );
}

/// Each mark written, then flushed, before the next: the cost the group commit avoids.
async fn fsync_per_mark(marks: usize) -> (Duration, u64) {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j"), "bench").unwrap();
    let started = Instant::now();
    for i in 0..marks {
        journal.put(&dialing(i)).unwrap();
        journal.flush().unwrap();
    }
    (started.elapsed(), marks as u64)
}

/// Marks written as the dialer writes them, each writer awaiting `durable()` before its next.
async fn group_commit(marks: usize) -> (Duration, u64) {
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(Journal::open(&dir.path().join("j"), "bench").unwrap());
    let started = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let journal = journal.clone();
        writers.spawn(async move {
            for i in (w..marks).step_by(WRITERS) {
                journal.put(&dialing(i)).unwrap();
                journal.durable().await.unwrap();
            }
        });
    }
    while writers.join_next().await.is_some() {}
    (started.elapsed(), journal.flush_count())
}

fn dialing(i: usize) -> Entry {
    let phone = Phone::parse(
        &format!("+1212{:03}{:04}", 234 + i / 10_000, i % 10_000),
        Country::default(),
    )
    .unwrap();
    let contact = Contact {
        phone,
        name: format!("Person {i}"),
        line: i as u64 + 2,
        time_zone: None,
        region: None,
        custom_variables: vec![],
    };
    let now = jiff::Timestamp::now();
    let mut entry = Entry::new(contact, 1, now);
    entry.set(State::Dialing, now);
    entry
}

fn median(mut runs: Vec<(Duration, u64)>) -> (Duration, u64) {
    runs.sort();
    runs[runs.len() / 2]
}
