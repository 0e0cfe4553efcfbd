//! Where planned time went (spec §10): availability losses by the loss
//! class of each stop's reason, micro-stops, speed loss, quality loss and
//! the fully productive rest, plus MTBF, MTTR and TEEP.
//!
//! Every part is whole microseconds, and the parts are defined so that
//! they add up to planned time exactly, whatever the rounding:
//!
//! ```text
//! operating        = planned − Σ stops
//! speed loss       = operating − ideal − micro-stops   (may be negative)
//! fully productive = ideal − quality loss
//! fully productive + quality + speed + micro-stops + Σ stops = planned
//! ```
//!
//! Ideal time and quality loss are exact rationals (counts × 3 600 s ÷ the
//! product's `production_std`) rounded once, half away from zero, to a
//! microsecond; everything else is derived from them by integer
//! arithmetic, so no figure is rounded twice and the sum stays exact.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::oee::{Ratio, round2};

/// Microseconds in one hour: `production_std` is in units per hour.
const MICROS_PER_HOUR: i128 = 3_600_000_000;

/// What kind of loss a stop is, from its assigned reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LossClass {
    /// Equipment failure.
    Breakdown,
    /// Changeover, adjustment.
    Setup,
    /// A short stop someone classified as such.
    MinorStop,
    /// Break, planned maintenance, no orders, meeting.
    Planned,
    /// No reason assigned yet.
    Unassigned,
}

impl LossClass {
    /// Every class, in report order.
    pub const ALL: [LossClass; 5] = [
        LossClass::Breakdown,
        LossClass::Setup,
        LossClass::MinorStop,
        LossClass::Planned,
        LossClass::Unassigned,
    ];

    /// The wire name (`breakdown`, `setup`, `minor_stop`, `planned`, `unassigned`).
    pub fn as_str(self) -> &'static str {
        match self {
            LossClass::Breakdown => "breakdown",
            LossClass::Setup => "setup",
            LossClass::MinorStop => "minor_stop",
            LossClass::Planned => "planned",
            LossClass::Unassigned => "unassigned",
        }
    }
}

impl fmt::Display for LossClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LossClass {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LossClass::ALL
            .into_iter()
            .find(|class| class.as_str() == s)
            .ok_or_else(|| {
                format!("unknown loss class {s:?} (one of breakdown, setup, minor_stop, planned, unassigned)")
            })
    }
}

/// One downtime event inside P, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassifiedStop {
    /// Its length.
    pub duration_micros: i64,
    /// Its reason's loss class (`Unassigned` without a reason).
    pub loss_class: LossClass,
    /// Its reason.
    pub reason_id: Option<i32>,
}

/// One product's counts inside P.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductFlow {
    /// Product.
    pub product_id: i32,
    /// Input-area detections.
    pub input_count: u64,
    /// Output-area detections.
    pub output_count: u64,
    /// Ideal rate, units per hour; `None`, zero or negative: unknown.
    pub production_std: Option<Decimal>,
}

/// Everything the split needs, already restricted to P by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct LossInput<'a> {
    /// |P|.
    pub planned_micros: i64,
    /// Downtime events inside P.
    pub stops: &'a [ClassifiedStop],
    /// Lengths of the micro-stops inside P (gaps longer than the line's
    /// micro-stop threshold and not longer than the downtime threshold).
    pub micro_stop_micros: &'a [i64],
    /// Counts per product (after any product filter).
    pub products: &'a [ProductFlow],
    /// Length of the range itself, clipped at now (TEEP's denominator).
    pub calendar_micros: i64,
}

/// Stops of one loss class and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LossBucket {
    /// Class.
    pub loss_class: LossClass,
    /// Reason (`None`: unassigned).
    pub reason_id: Option<i32>,
    /// Σ durations.
    pub micros: i64,
    /// Number of stops.
    pub count: u64,
}

/// The split of planned time, in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Losses {
    /// |P|.
    pub planned_micros: i64,
    /// Planned minus every stop.
    pub operating_micros: i64,
    /// Stops by class and reason, in class order then reason id.
    pub availability: Vec<LossBucket>,
    /// Number of micro-stops.
    pub micro_stop_count: u64,
    /// Σ micro-stop lengths.
    pub micro_stop_micros: i64,
    /// Σ input counts × ideal cycle time; `None` when a counted product
    /// has no positive `production_std` (as performance in §5).
    pub ideal_micros: Option<i64>,
    /// Operating − ideal − micro-stops.
    pub speed_loss_micros: Option<i64>,
    /// Σ max(input − output, 0) × ideal cycle time, per product.
    pub quality_loss_micros: Option<i64>,
    /// Ideal − quality loss.
    pub fully_productive_micros: Option<i64>,
    /// Operating time per breakdown; `None` without breakdowns.
    pub mtbf_micros: Option<i64>,
    /// Mean breakdown length; `None` without breakdowns.
    pub mttr_micros: Option<i64>,
    /// OEE × |P| ÷ calendar time, percent (2 decimals); `None` when OEE is
    /// or the calendar time is zero.
    pub teep: Option<Decimal>,
}

impl Losses {
    /// Σ of every part: equals `planned_micros` whenever the ideal time is
    /// known (the invariant the tests hold the split to).
    pub fn parts_sum(&self) -> Option<i64> {
        let parts = [
            self.fully_productive_micros?,
            self.quality_loss_micros?,
            self.speed_loss_micros?,
            self.micro_stop_micros,
        ];
        parts
            .into_iter()
            .chain(self.availability.iter().map(|b| b.micros))
            .try_fold(0i64, i64::checked_add)
    }
}

/// `Σ count × 3.6e9 / std` over products, exact, or `None` when a product
/// with a count has no positive rate (or an `i128` overflows).
fn ideal_of(items: impl Iterator<Item = (u64, Option<Decimal>)>) -> Option<Ratio> {
    let mut sum = Ratio::int(0);
    for (count, std) in items.filter(|(count, _)| *count > 0) {
        let std = std.filter(|s| *s > Decimal::ZERO)?;
        let term = Ratio::int(i128::from(count) * MICROS_PER_HOUR).div(Ratio::from_decimal(std)?)?;
        sum = sum.add(term)?;
    }
    Some(sum)
}

/// `num / den` rounded half away from zero; `None` when `den` is 0.
fn rounded_div(num: i128, den: i128) -> Option<i64> {
    Ratio::new(num, den)?.round0().and_then(|n| i64::try_from(n).ok())
}

/// Splits planned time into its losses (spec §10).
pub fn compute_losses(input: &LossInput<'_>) -> Losses {
    let planned = input.planned_micros;
    let mut buckets: BTreeMap<(LossClass, Option<i32>), (i64, u64)> = BTreeMap::new();
    for stop in input.stops {
        let entry = buckets.entry((stop.loss_class, stop.reason_id)).or_default();
        entry.0 = entry.0.saturating_add(stop.duration_micros);
        entry.1 += 1;
    }
    let availability: Vec<LossBucket> = buckets
        .into_iter()
        .map(|((loss_class, reason_id), (micros, count))| LossBucket {
            loss_class,
            reason_id,
            micros,
            count,
        })
        .collect();
    let downtime: i64 = availability.iter().map(|b| b.micros).fold(0, i64::saturating_add);
    let operating = planned.saturating_sub(downtime);
    let micro_stop_micros = input.micro_stop_micros.iter().copied().fold(0, i64::saturating_add);

    let ideal = ideal_of(input.products.iter().map(|p| (p.input_count, p.production_std)));
    let quality = ideal_of(
        input
            .products
            .iter()
            .map(|p| (p.input_count.saturating_sub(p.output_count), p.production_std)),
    );
    // Ideal only exists when every counted product has a rate, and then so
    // does the quality loss (its counts are at most the input counts).
    let ideal_micros = ideal.and_then(Ratio::round0).and_then(|n| i64::try_from(n).ok());
    let quality_loss_micros = ideal_micros
        .and(quality)
        .and_then(Ratio::round0)
        .and_then(|n| i64::try_from(n).ok());
    let (ideal_micros, quality_loss_micros) = match (ideal_micros, quality_loss_micros) {
        (Some(i), Some(q)) => (Some(i), Some(q)),
        _ => (None, None),
    };
    let speed_loss_micros = ideal_micros.map(|i| operating.saturating_sub(i).saturating_sub(micro_stop_micros));
    let fully_productive_micros = ideal_micros.zip(quality_loss_micros).map(|(i, q)| i - q);

    let breakdowns: Vec<&LossBucket> = availability
        .iter()
        .filter(|b| b.loss_class == LossClass::Breakdown)
        .collect();
    let breakdown_count: u64 = breakdowns.iter().map(|b| b.count).sum();
    let breakdown_micros: i64 = breakdowns.iter().map(|b| b.micros).sum();
    let (mtbf_micros, mttr_micros) = if breakdown_count == 0 {
        (None, None)
    } else {
        let n = i128::from(breakdown_count);
        (
            rounded_div(i128::from(operating), n),
            rounded_div(i128::from(breakdown_micros), n),
        )
    };

    let good: u64 = input.products.iter().map(|p| p.output_count).sum();
    let total: u64 = input.products.iter().map(|p| p.input_count).sum();
    let teep = ideal.and_then(|ideal| teep_percent(ideal, good, total, operating, input.calendar_micros));

    Losses {
        planned_micros: planned,
        operating_micros: operating,
        availability,
        micro_stop_count: input.micro_stop_micros.len() as u64,
        micro_stop_micros,
        ideal_micros,
        speed_loss_micros,
        quality_loss_micros,
        fully_productive_micros,
        mtbf_micros,
        mttr_micros,
        teep,
    }
}

/// TEEP = OEE × |P| ÷ calendar, exact: with OEE = (operating ÷ P) ×
/// (ideal ÷ operating) × quality, |P| cancels. Performance is 0 when
/// nothing operated (§5), and then TEEP is 0.
fn teep_percent(ideal: Ratio, good: u64, total: u64, operating: i64, calendar: i64) -> Option<Decimal> {
    if calendar <= 0 {
        return None;
    }
    if operating <= 0 {
        return Some(Decimal::ZERO);
    }
    let quality = if total == 0 {
        Ratio::int(1)
    } else {
        Ratio::new(i128::from(good), i128::from(total))?
    };
    let exact = ideal
        .mul(quality)?
        .mul(Ratio::int(100))?
        .div(Ratio::int(i128::from(calendar)))?;
    exact.round2().or_else(|| exact.to_decimal().map(round2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECOND: i64 = 1_000_000;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).expect("decimal literal")
    }

    fn stop(seconds: i64, loss_class: LossClass, reason_id: Option<i32>) -> ClassifiedStop {
        ClassifiedStop {
            duration_micros: seconds * SECOND,
            loss_class,
            reason_id,
        }
    }

    fn product(id: i32, input: u64, output: u64, std: &str) -> ProductFlow {
        ProductFlow {
            product_id: id,
            input_count: input,
            output_count: output,
            production_std: Some(d(std)),
        }
    }

    /// An 8-hour shift worked out by hand:
    /// - planned 28 800 s; stops: a 1 200 s breakdown (reason 7), two
    ///   setups of 600 s and 300 s (reason 9), one unassigned 400 s stop
    ///   → downtime 2 500 s, operating 26 300 s;
    /// - micro-stops 40 s + 50 s = 90 s;
    /// - product 1 at 3 600/h (1 s each): 20 000 in, 19 900 out;
    ///   product 2 at 1 200/h (3 s each): 1 500 in, 1 500 out
    ///   → ideal 20 000 + 4 500 = 24 500 s; quality loss 100 × 1 s = 100 s;
    /// - speed loss = 26 300 − 24 500 − 90 = 1 710 s;
    ///   fully productive = 24 500 − 100 = 24 400 s;
    ///   24 400 + 100 + 1 710 + 90 + 2 500 = 28 800 ✓;
    /// - MTBF = 26 300 s / 1; MTTR = 1 200 s;
    /// - TEEP over a 24 h calendar: ideal × good/total ÷ calendar
    ///   = 24 500 × 21 400/21 500 ÷ 86 400 = 28.2246…% → 28.22 (the same
    ///   as A × P × Q × 28 800 ÷ 86 400).
    #[test]
    fn a_shift_worked_out_by_hand() {
        let stops = [
            stop(1200, LossClass::Breakdown, Some(7)),
            stop(600, LossClass::Setup, Some(9)),
            stop(300, LossClass::Setup, Some(9)),
            stop(400, LossClass::Unassigned, None),
        ];
        let products = [product(1, 20_000, 19_900, "3600"), product(2, 1_500, 1_500, "1200")];
        let losses = compute_losses(&LossInput {
            planned_micros: 28_800 * SECOND,
            stops: &stops,
            micro_stop_micros: &[40 * SECOND, 50 * SECOND],
            products: &products,
            calendar_micros: 86_400 * SECOND,
        });
        assert_eq!(losses.operating_micros, 26_300 * SECOND);
        assert_eq!(
            losses.availability,
            vec![
                LossBucket {
                    loss_class: LossClass::Breakdown,
                    reason_id: Some(7),
                    micros: 1200 * SECOND,
                    count: 1
                },
                LossBucket {
                    loss_class: LossClass::Setup,
                    reason_id: Some(9),
                    micros: 900 * SECOND,
                    count: 2
                },
                LossBucket {
                    loss_class: LossClass::Unassigned,
                    reason_id: None,
                    micros: 400 * SECOND,
                    count: 1
                },
            ]
        );
        assert_eq!((losses.micro_stop_count, losses.micro_stop_micros), (2, 90 * SECOND));
        assert_eq!(losses.ideal_micros, Some(24_500 * SECOND));
        assert_eq!(losses.quality_loss_micros, Some(100 * SECOND));
        assert_eq!(losses.speed_loss_micros, Some(1_710 * SECOND));
        assert_eq!(losses.fully_productive_micros, Some(24_400 * SECOND));
        assert_eq!(losses.parts_sum(), Some(28_800 * SECOND));
        assert_eq!(losses.mtbf_micros, Some(26_300 * SECOND));
        assert_eq!(losses.mttr_micros, Some(1_200 * SECOND));
        assert_eq!(losses.teep, Some(d("28.22")));
    }

    /// Rates that do not divide an hour: 7 units at 7 200/h are 3.5 s, and
    /// 1 unit at 7/h is 514.285714… s; ideal 517.785714… s rounds to
    /// 517 785 714 µs (…2857 rounds down), and the sum stays exact.
    #[test]
    fn ideal_time_rounds_once_to_a_microsecond() {
        let products = [product(1, 7, 7, "7200"), product(2, 1, 0, "7")];
        let losses = compute_losses(&LossInput {
            planned_micros: 600 * SECOND,
            stops: &[],
            micro_stop_micros: &[],
            products: &products,
            calendar_micros: 600 * SECOND,
        });
        assert_eq!(losses.ideal_micros, Some(517_785_714));
        // Quality: one unit of product 2 lost, 514.2857142… s.
        assert_eq!(losses.quality_loss_micros, Some(514_285_714));
        assert_eq!(losses.parts_sum(), Some(600 * SECOND));
    }

    #[test]
    fn a_product_without_a_rate_leaves_the_rate_based_parts_unknown() {
        let products = [ProductFlow {
            production_std: None,
            ..product(1, 10, 10, "1")
        }];
        let losses = compute_losses(&LossInput {
            planned_micros: 600 * SECOND,
            stops: &[stop(100, LossClass::Breakdown, Some(1))],
            micro_stop_micros: &[],
            products: &products,
            calendar_micros: 600 * SECOND,
        });
        assert_eq!(losses.ideal_micros, None);
        assert_eq!(losses.speed_loss_micros, None);
        assert_eq!(losses.quality_loss_micros, None);
        assert_eq!(losses.fully_productive_micros, None);
        assert_eq!(losses.teep, None);
        // Availability and reliability do not need rates.
        assert_eq!(losses.operating_micros, 500 * SECOND);
        assert_eq!(losses.mtbf_micros, Some(500 * SECOND));
    }

    #[test]
    fn nothing_planned_or_nothing_counted_is_all_zero_not_an_error() {
        let losses = compute_losses(&LossInput {
            planned_micros: 0,
            stops: &[],
            micro_stop_micros: &[],
            products: &[],
            calendar_micros: 0,
        });
        assert_eq!(losses.parts_sum(), Some(0));
        assert_eq!(
            (losses.mtbf_micros, losses.mttr_micros, losses.teep),
            (None, None, None)
        );
    }

    #[test]
    fn loss_classes_round_trip_their_wire_names() {
        for class in LossClass::ALL {
            assert_eq!(class.as_str().parse::<LossClass>(), Ok(class));
        }
        assert!("breakdowns".parse::<LossClass>().is_err());
    }

    fn class() -> impl Strategy<Value = LossClass> {
        prop::sample::select(LossClass::ALL.to_vec())
    }

    proptest! {
        /// fully productive + every loss = planned, exactly, for any
        /// stops, micro-stops, counts and rates.
        #[test]
        fn the_parts_add_up_to_planned_time(
            planned in 0i64..(400 * 24 * 3600 * SECOND),
            stops in prop::collection::vec((0i64..(3600 * SECOND), class(), prop::option::of(1i32..20)), 0..30),
            micro in prop::collection::vec(1i64..(300 * SECOND), 0..30),
            products in prop::collection::vec((0u64..2_000_000, 0u64..2_000_000, 1u32..100_000, 0u32..3), 0..6),
        ) {
            let stops: Vec<ClassifiedStop> = stops
                .into_iter()
                .map(|(micros, loss_class, reason_id)| ClassifiedStop { duration_micros: micros, loss_class, reason_id })
                .collect();
            let products: Vec<ProductFlow> = products
                .into_iter()
                .enumerate()
                .map(|(i, (input, output, rate, scale))| ProductFlow {
                    product_id: i32::try_from(i).unwrap_or(0),
                    input_count: input,
                    output_count: output,
                    production_std: Some(Decimal::new(i64::from(rate), scale)),
                })
                .collect();
            let losses = compute_losses(&LossInput {
                planned_micros: planned,
                stops: &stops,
                micro_stop_micros: &micro,
                products: &products,
                calendar_micros: planned,
            });
            prop_assert_eq!(losses.parts_sum(), Some(planned));
            let counted: u64 = losses.availability.iter().map(|b| b.count).sum();
            prop_assert_eq!(counted, stops.len() as u64);
            if let (Some(q), Some(i)) = (losses.quality_loss_micros, losses.ideal_micros) {
                prop_assert!(0 <= q && q <= i);
            }
        }
    }
}
