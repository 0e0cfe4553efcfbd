//! Throughput of the synthetic detection generator (demo seeding and the
//! load tooling depend on it being far faster than any database insert).

use camet::synth::{LineAreas, SynthParams, generate};
use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

fn one_week_of_detections(c: &mut Criterion) {
    let start = Utc
        .with_ymd_and_hms(2026, 11, 2, 10, 0, 0)
        .single()
        .expect("valid instant");
    let planned = vec![(start, start + Duration::days(5))];
    let areas = LineAreas {
        input: 1,
        process: Some(2),
        output: 3,
    };
    let params = SynthParams {
        units_per_hour: 3600.0,
        product_mix: vec![(1, 0.5), (2, 0.3), (3, 0.2)],
        ..SynthParams::default()
    };
    c.bench_function("synth_5_days_at_1_per_second", |b| {
        b.iter(|| generate(&planned, areas, &params).len())
    });
}

criterion_group!(benches, one_week_of_detections);
criterion_main!(benches);
