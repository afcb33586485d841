//! Reading a contacts CSV: the first stage of every run and every `plan`, so its rows per second
//! bound how fast a large campaign can start. Measures [`ContactReader`] end to end on a file on
//! disk: CSV parsing, UTF-8 and size checks, phone parsing, custom variables.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use outdial::contacts::{ContactReader, Row};
use outdial::phone::Country;

const ROWS: u64 = 100_000;

/// Writes `ROWS` contacts with a name and three custom columns, phones spread over a few area
/// codes and written in the mixed styles real lists have.
fn write_contacts(path: &Path) {
    let mut out = BufWriter::new(File::create(path).expect("create the bench CSV"));
    writeln!(out, "phone,name,plan,renewal_date,account").unwrap();
    let area_codes = [212, 415, 312, 713, 305, 206, 617, 404];
    for i in 0..ROWS {
        let npa = area_codes[i as usize % area_codes.len()];
        let (nxx, line) = (200 + i / 10_000, i % 10_000);
        let phone = match i % 3 {
            0 => format!("+1 ({npa}) {nxx}-{line:04}"),
            1 => format!("{npa}.{nxx}.{line:04}"),
            _ => format!("{npa}{nxx}{line:04}"),
        };
        writeln!(
            out,
            "{phone},\"Customer, No. {i}\",gold,2025-0{}-15,A{i:07}",
            1 + i % 9
        )
        .unwrap();
    }
    out.flush().unwrap();
}

/// Reads the whole file; returns the number of contacts so the work cannot be optimised away.
fn read_all(path: &Path) -> u64 {
    let country: Country = "US".parse().unwrap();
    let reader = ContactReader::open(path, country).expect("open the bench CSV");
    let mut contacts = 0;
    for row in reader {
        if let Row::Contact(contact) = row.expect("the bench CSV is valid") {
            black_box(&contact);
            contacts += 1;
        }
    }
    contacts
}

fn bench_read(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("contacts.csv");
    write_contacts(&path);
    assert_eq!(read_all(&path), ROWS, "every generated row is a contact");

    let mut group = c.benchmark_group("contacts");
    group.throughput(Throughput::Elements(ROWS));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("read_100k_rows", |b| b.iter(|| read_all(black_box(&path))));
    group.finish();
}

criterion_group!(benches, bench_read);
criterion_main!(benches);
