//! Caller-ID choice (`Rotation::choose`) with a pool of 10,000 numbers spread over every area
//! code of the bundled NANP table, for callees cycling over all those area codes: the cost of one
//! choice per call, for both strategies, with the whole pool eligible and with half of it capped.

use std::collections::HashSet;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use outdial::area_codes::{self, AreaCode};
use outdial::campaign::Strategy;
use outdial::phone::{Country, Phone};
use outdial::rotation::{Callee, Locale, Rotation};

const POOL: usize = 10_000;

/// Every area code the bundled table knows.
fn known_codes() -> Vec<u16> {
    (200..=999)
        .filter(|&npa| area_codes::place(AreaCode(npa)).is_some())
        .collect()
}

/// The `round`-th number in area code `npa` (distinct rounds, distinct numbers), or `None` where
/// the phone library rejects the code. Exchanges 202, 212, … end in 2, so none is an N11 code.
fn number(npa: u16, round: usize) -> Option<Phone> {
    let nxx = 202 + (round % 80) * 10;
    let line = round % 10_000;
    Phone::parse(&format!("+1{npa}{nxx}{line:04}"), Country::default()).ok()
}

/// `POOL` distinct numbers dealt over the area codes in turn, like a large, spread-out pool.
fn pool(codes: &[u16]) -> Vec<Phone> {
    let pool: Vec<Phone> = (0..)
        .filter_map(|i| number(codes[i % codes.len()], i / codes.len()))
        .take(POOL)
        .collect();
    assert_eq!(pool.iter().collect::<HashSet<_>>().len(), POOL, "distinct");
    pool
}

/// One first-attempt callee per area code.
fn callees(codes: &[u16]) -> Vec<Callee> {
    codes
        .iter()
        .filter_map(|&npa| number(npa, 7_777))
        .map(|phone| Callee {
            locale: Locale::of_number(&phone),
            phone,
            previous: None,
        })
        .collect()
}

fn choose(c: &mut Criterion) {
    let codes = known_codes();
    let pool = pool(&codes);
    let callees = callees(&codes);
    // Every other number at its cap, as on a busy day: the rotation must look past them.
    let capped: HashSet<Phone> = pool.iter().step_by(2).cloned().collect();

    let mut group = c.benchmark_group("choose");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    let strategies = [
        (Strategy::Region, "region"),
        (Strategy::RoundRobin, "round-robin"),
        (Strategy::Weighted, "weighted"),
    ];
    for (strategy, name) in strategies {
        let mut rotation = Rotation::new(strategy, &pool);
        let mut next = callees.iter().cycle();
        group.bench_function(BenchmarkId::new(name, "all eligible"), |b| {
            b.iter(|| {
                let callee = next.next().expect("cycles forever");
                black_box(rotation.choose(black_box(callee), |_| true))
            })
        });
        let mut rotation = Rotation::new(strategy, &pool);
        group.bench_function(BenchmarkId::new(name, "half capped"), |b| {
            b.iter(|| {
                let callee = next.next().expect("cycles forever");
                black_box(rotation.choose(black_box(callee), |p| !capped.contains(p)))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, choose);
criterion_main!(benches);
