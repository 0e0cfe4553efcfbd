//! The pure engine's cost over a month and over a year of three Monday-Friday
//! shifts in a DST zone: planning, and gap analysis over per-minute spans.
//! KPI requests pay these on top of their queries; the ratio year/month
//! shows whether cost follows the range (planned intervals) or the data.

use camet::analytics::downtime::{DetectionSpan, DowntimeThreshold, downtime_events_from_spans};
use camet::analytics::interval::Interval;
use camet::analytics::shifts::{Schedule, ShiftRule, parse_days, planned_set};
use chrono::{Duration, NaiveTime, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

fn rules() -> Vec<ShiftRule> {
    let days = parse_days(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]).expect("days");
    let at = |h| NaiveTime::from_hms_opt(h, 0, 0).expect("time");
    [(1, 6, 14, false), (2, 14, 22, false), (3, 22, 6, true)]
        .into_iter()
        .map(|(id, start, end, overnight)| ShiftRule {
            shift_id: id,
            start_time: at(start),
            end_time: at(end),
            is_overnight: overnight,
            days,
            active: true,
            line_ids: None,
            breaks: Vec::new(),
        })
        .collect()
}

fn engine(c: &mut Criterion) {
    let tz = chrono_tz::America::Santiago;
    let end = Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).single().expect("end");
    let now = end + Duration::days(1);
    let rules = Schedule::of_shifts(rules());
    for days in [30, 365] {
        let range = Interval::new(end - Duration::days(days), end);
        c.bench_function(&format!("planned_set_{days}_days"), |b| {
            b.iter(|| planned_set(&rules, 1, tz, &range, now, None).intervals().len())
        });
        // One span per minute of the last 30 days, as the minute rollup gives.
        let planned = planned_set(&rules, 1, tz, &range, now, None);
        let spans: Vec<DetectionSpan> = (0..30 * 24 * 60)
            .map(|m| end - Duration::days(30) + Duration::minutes(m))
            .filter(|t| planned.contains(*t) && planned.contains(*t + Duration::seconds(59)))
            .map(|t| DetectionSpan {
                first: t + Duration::seconds(1),
                last: t + Duration::seconds(58),
            })
            .collect();
        let threshold = DowntimeThreshold::from_seconds(300).expect("threshold");
        c.bench_function(&format!("gap_analysis_spans_{days}_days"), |b| {
            b.iter(|| downtime_events_from_spans(&planned, spans.iter().copied(), threshold, now).map(|e| e.len()))
        });
    }
}

criterion_group!(benches, engine);
criterion_main!(benches);
