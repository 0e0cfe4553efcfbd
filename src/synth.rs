//! Synthetic detections for demos and benchmarks: a seeded, pure generator
//! (no I/O) producing what vision sensors on a three-area line would record.
//!
//! Model: units arrive at the input area as a Poisson process at the line's
//! rate while the line is planned and not stopped; each unit reaches the
//! process and output areas after short random transit times unless it is
//! rejected on the way. Random stops (no arrivals for a few minutes) give gap
//! analysis something to find.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::db::line_tables::DetectionRow;

/// The three sensor areas of a line, in flow order.
#[derive(Debug, Clone, Copy)]
pub struct LineAreas {
    /// Input area id.
    pub input: i32,
    /// Process area id (None on two-area lines).
    pub process: Option<i32>,
    /// Output area id.
    pub output: i32,
}

/// Knobs of the generator.
#[derive(Debug, Clone)]
pub struct SynthParams {
    /// Units per hour entering the line while it runs.
    pub units_per_hour: f64,
    /// Products with their relative weights in the mix.
    pub product_mix: Vec<(i32, f64)>,
    /// Share of units lost between input and output (0..1).
    pub reject_rate: f64,
    /// Chance per planned hour that the line stops.
    pub stop_chance_per_hour: f64,
    /// Stop length range, minutes.
    pub stop_minutes: (i64, i64),
    /// RNG seed: the same seed gives the same detections.
    pub seed: u64,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            units_per_hour: 100.0,
            product_mix: Vec::new(),
            reject_rate: 0.03,
            stop_chance_per_hour: 0.12,
            stop_minutes: (8, 35),
            seed: 42,
        }
    }
}

fn pick_product(rng: &mut StdRng, mix: &[(i32, f64)], total_weight: f64) -> Option<i32> {
    let mut roll = rng.random::<f64>() * total_weight;
    for (id, weight) in mix {
        if roll < *weight {
            return Some(*id);
        }
        roll -= weight;
    }
    mix.last().map(|(id, _)| *id)
}

/// Generates detections inside the given planned intervals (UTC, sorted,
/// disjoint), sorted by instant. Instants are truncated to microseconds.
pub fn generate(
    planned: &[(DateTime<Utc>, DateTime<Utc>)],
    areas: LineAreas,
    params: &SynthParams,
) -> Vec<DetectionRow> {
    let mut rng = StdRng::seed_from_u64(params.seed);
    let total_weight: f64 = params.product_mix.iter().map(|(_, w)| w.max(0.0)).sum();
    let mut rows = Vec::new();
    if params.units_per_hour <= 0.0 || total_weight <= 0.0 {
        return rows;
    }
    let mean_gap_secs = 3600.0 / params.units_per_hour;
    let stop_chance_per_sec = params.stop_chance_per_hour / 3600.0;
    for &(start, end) in planned {
        let mut t = start;
        while t < end {
            // Exponential inter-arrival time: a Poisson process.
            let gap = -mean_gap_secs * (1.0 - rng.random::<f64>()).ln();
            // A stop may begin during this gap.
            let stop_secs = if rng.random::<f64>() < stop_chance_per_sec * gap {
                60 * rng.random_range(params.stop_minutes.0..=params.stop_minutes.1.max(params.stop_minutes.0))
            } else {
                0
            };
            t += Duration::microseconds((gap * 1e6) as i64) + Duration::seconds(stop_secs);
            if t >= end {
                break;
            }
            let Some(product_id) = pick_product(&mut rng, &params.product_mix, total_weight) else {
                break;
            };
            let at_input = t.trunc_subsecs(6);
            rows.push(row(at_input, areas.input, product_id));
            let rejected = rng.random::<f64>() < params.reject_rate;
            let reject_before_process = rejected && rng.random::<bool>();
            let mut at = at_input;
            if let Some(process) = areas.process {
                if reject_before_process {
                    continue;
                }
                at += Duration::milliseconds(rng.random_range(15_000..45_000));
                rows.push(row(at, process, product_id));
            }
            if rejected {
                continue;
            }
            at += Duration::milliseconds(rng.random_range(20_000..60_000));
            rows.push(row(at, areas.output, product_id));
        }
    }
    rows.sort_by_key(|r| r.detected_at);
    rows
}

fn row(at: DateTime<Utc>, area_id: i32, product_id: i32) -> DetectionRow {
    DetectionRow {
        detected_at: at.naive_utc(),
        area_id,
        product_id,
        external_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn params() -> SynthParams {
        SynthParams {
            product_mix: vec![(1, 0.6), (2, 0.4)],
            ..SynthParams::default()
        }
    }

    fn eight_hours() -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let start = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).single().expect("valid");
        vec![(start, start + Duration::hours(8))]
    }

    const AREAS: LineAreas = LineAreas {
        input: 10,
        process: Some(11),
        output: 12,
    };

    #[test]
    fn same_seed_same_detections() {
        assert_eq!(
            generate(&eight_hours(), AREAS, &params()),
            generate(&eight_hours(), AREAS, &params())
        );
    }

    #[test]
    fn output_never_exceeds_input_and_rate_is_plausible() {
        let rows = generate(&eight_hours(), AREAS, &params());
        let count = |area| rows.iter().filter(|r| r.area_id == area).count();
        let (input, process, output) = (count(10), count(11), count(12));
        assert!(output <= process && process <= input, "{input} {process} {output}");
        // 100 units/hour for 8 hours, minus stops.
        assert!((500..=900).contains(&input), "input {input}");
        assert!(output >= input * 9 / 10);
    }

    #[test]
    fn input_detections_stay_inside_planned_time_and_are_sorted() {
        let planned = eight_hours();
        let rows = generate(&planned, AREAS, &params());
        assert!(rows.windows(2).all(|w| w[0].detected_at <= w[1].detected_at));
        for r in rows.iter().filter(|r| r.area_id == 10) {
            assert!(r.detected_at >= planned[0].0.naive_utc() && r.detected_at < planned[0].1.naive_utc());
        }
    }
}
