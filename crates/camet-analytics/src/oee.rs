//! OEE and its factors (spec §5), and the exact weight total.
//!
//! Every percentage is computed exactly as a ratio of integers (`i128`) and
//! rounded once, half away from zero, to 2 decimals; OEE is formed from the
//! UNROUNDED factors. Should a ratio overflow `i128` (absurd inputs), the
//! same formulas run in `rust_decimal` (28 significant digits).

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Serialize, Serializer};

use super::downtime::{DowntimeEvent, total_downtime_micros};
use super::interval::micros_to_seconds;

/// Microseconds in one hour: `production_std` is in units per hour.
const MICROS_PER_HOUR: i128 = 3_600_000_000;

/// Production of one product inside P, at the input area.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductCount {
    /// `product_id`.
    pub product_id: i32,
    /// `product_name`, used in warnings.
    pub product_name: String,
    /// Input-area detections of this product inside P.
    pub input_count: u64,
    /// Ideal rate in units per hour; `None`, zero or negative means unknown.
    pub production_std: Option<Decimal>,
}

/// Everything OEE needs, already restricted to P by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct OeeInput<'a> {
    /// |P| in microseconds.
    pub planned_micros: i64,
    /// Downtime events inside P.
    pub events: &'a [DowntimeEvent],
    /// Input-area counts per product inside P (after any `product_ids` filter).
    pub products: &'a [ProductCount],
    /// Output-area detections inside P (after any `product_ids` filter).
    pub good_units: u64,
}

/// The fields of spec §5, ready to serialise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OeeResult {
    /// |P| in seconds.
    pub planned_time_seconds: f64,
    /// Sum of event durations, in seconds.
    pub total_downtime_seconds: f64,
    /// Number of events.
    pub downtime_count: u64,
    /// Planned minus downtime, in seconds.
    pub operating_time_seconds: f64,
    /// operating / planned × 100; 0 when planned is 0.
    #[serde(serialize_with = "decimal_number")]
    pub availability: Decimal,
    /// Input-area detections inside P.
    pub total_production: u64,
    /// Output-area detections inside P.
    pub good_units: u64,
    /// max(total_production − good_units, 0).
    pub rejected_units: u64,
    /// ideal time / operating × 100; 0 when operating is 0; `None` when a
    /// counted product lacks a positive `production_std`.
    #[serde(serialize_with = "option_decimal_number")]
    pub performance: Option<Decimal>,
    /// good / total × 100; 100 when total is 0.
    #[serde(serialize_with = "decimal_number")]
    pub quality: Decimal,
    /// availability × performance × quality / 10 000 from unrounded factors;
    /// `None` when performance is.
    #[serde(serialize_with = "option_decimal_number")]
    pub oee: Option<Decimal>,
    /// Human-readable reasons for `None` fields.
    pub warnings: Vec<String>,
}

/// Serialises a 2-decimal `Decimal` as a JSON number (not a string).
fn decimal_number<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    match d.to_f64() {
        Some(f) => s.serialize_f64(f),
        None => s.serialize_none(),
    }
}

fn option_decimal_number<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => decimal_number(d, s),
        None => s.serialize_none(),
    }
}

/// Rounds half away from zero to 2 decimals, the rule for every percentage
/// and weight.
pub fn round2(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// A non-negative-denominator fraction of `i128`, kept reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ratio {
    num: i128,
    den: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    a = a.abs();
    b = b.abs();
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Ratio {
    pub(crate) fn new(num: i128, den: i128) -> Option<Ratio> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den).max(1);
        let sign = if den < 0 { -1 } else { 1 };
        Some(Ratio {
            num: sign * (num / g),
            den: sign * (den / g),
        })
    }

    pub(crate) fn int(n: i128) -> Ratio {
        Ratio { num: n, den: 1 }
    }

    pub(crate) fn mul(self, o: Ratio) -> Option<Ratio> {
        // Cross-reduce first so that cancelling factors (operating time in
        // OEE) do not overflow.
        let g1 = gcd(self.num, o.den).max(1);
        let g2 = gcd(o.num, self.den).max(1);
        Ratio::new(
            (self.num / g1).checked_mul(o.num / g2)?,
            (self.den / g2).checked_mul(o.den / g1)?,
        )
    }

    pub(crate) fn div(self, o: Ratio) -> Option<Ratio> {
        self.mul(Ratio::new(o.den, o.num)?)
    }

    pub(crate) fn add(self, o: Ratio) -> Option<Ratio> {
        let g = gcd(self.den, o.den).max(1);
        let den = (self.den / g).checked_mul(o.den)?;
        let num = self
            .num
            .checked_mul(o.den / g)?
            .checked_add(o.num.checked_mul(self.den / g)?)?;
        Ratio::new(num, den)
    }

    pub(crate) fn from_decimal(d: Decimal) -> Option<Ratio> {
        let d = d.normalize();
        Ratio::new(d.mantissa(), 10i128.checked_pow(d.scale())?)
    }

    /// The ratio as a 28-digit decimal (inexact when it does not terminate).
    pub(crate) fn to_decimal(self) -> Option<Decimal> {
        Decimal::try_from_i128_with_scale(self.num, 0)
            .ok()?
            .checked_div(Decimal::try_from_i128_with_scale(self.den, 0).ok()?)
    }

    /// Exact rounding half away from zero to a whole number.
    pub(crate) fn round0(self) -> Option<i128> {
        let den = self.den.unsigned_abs();
        let (q, r) = (self.num.unsigned_abs() / den, self.num.unsigned_abs() % den);
        let whole = if r.checked_mul(2)? >= den { q + 1 } else { q };
        let whole = i128::try_from(whole).ok()?;
        Some(if self.num < 0 { -whole } else { whole })
    }

    /// Exact rounding half away from zero to 2 decimals.
    pub(crate) fn round2(self) -> Option<Decimal> {
        let scaled = self.num.unsigned_abs().checked_mul(100)?;
        let den = self.den.unsigned_abs();
        let (q, r) = (scaled / den, scaled % den);
        let cents = if r.checked_mul(2)? >= den { q + 1 } else { q };
        let cents = i128::try_from(cents).ok()?;
        Decimal::try_from_i128_with_scale(if self.num < 0 { -cents } else { cents }, 2).ok()
    }
}

/// `num × 100 / den` as an exact ratio, or `when_zero` when `den == 0`.
fn percent_ratio(num: i128, den: i128, when_zero: i128) -> Ratio {
    // num is an i64 or u64 count, so × 100 cannot overflow i128.
    Ratio::new(num * 100, den).unwrap_or(Ratio::int(when_zero))
}

/// Exact performance: ideal time (µs, Σ count × 3.6e9 / std) × 100 /
/// operating; `None` only if an `i128` overflows.
fn performance_ratio(operating: i64, counted: &[(u64, Decimal)]) -> Option<Ratio> {
    if operating == 0 {
        return Some(Ratio::int(0));
    }
    let ideal = counted.iter().try_fold(Ratio::int(0), |acc, &(count, std)| {
        // u64 × 3.6e9 < 7e28: fits i128.
        let term = Ratio::int(i128::from(count) * MICROS_PER_HOUR).div(Ratio::from_decimal(std)?)?;
        acc.add(term)
    })?;
    ideal.mul(Ratio::int(100))?.div(Ratio::int(i128::from(operating)))
}

/// Fallback performance in `rust_decimal`, unrounded.
fn decimal_performance(operating: i64, counted: &[(u64, Decimal)]) -> Option<Decimal> {
    if operating == 0 {
        return Some(Decimal::ZERO);
    }
    let ideal_hours = counted.iter().try_fold(Decimal::ZERO, |acc, &(count, std)| {
        acc.checked_add(Decimal::from(count).checked_div(std)?)
    })?;
    ideal_hours
        .checked_mul(Decimal::from(3_600_000_000i64))?
        .checked_mul(Decimal::ONE_HUNDRED)?
        .checked_div(Decimal::from(operating))
}

/// Fallback OEE in `rust_decimal` from unrounded factors.
fn decimal_oee(a: Ratio, p: Decimal, q: Ratio) -> Option<Decimal> {
    a.to_decimal()?
        .checked_mul(p)?
        .checked_mul(q.to_decimal()?)?
        .checked_div(Decimal::from(10_000))
}

/// Computes the fields of spec §5.
///
/// Choices where the spec is silent:
/// - when a counted product lacks a positive `production_std`, performance
///   and OEE are `None` even if operating time is 0 (the configuration
///   problem is worth reporting; 0 would hide it);
/// - operating time is clamped to `[0, planned]` so that inconsistent input
///   (events outside P) can never produce a negative availability;
/// - counts are not capped: quality and performance may exceed 100.
pub fn compute_oee(input: &OeeInput<'_>) -> OeeResult {
    let planned = input.planned_micros.max(0);
    let downtime = total_downtime_micros(input.events).clamp(0, planned);
    let operating = planned - downtime;
    let total_production: u64 = input
        .products
        .iter()
        .fold(0u64, |acc, p| acc.saturating_add(p.input_count));
    let good = input.good_units;

    let mut warnings = Vec::new();
    let mut counted: Vec<(u64, Decimal)> = Vec::new();
    let mut ideal_known = true;
    for p in input.products.iter().filter(|p| p.input_count > 0) {
        match p.production_std.filter(|s| *s > Decimal::ZERO) {
            Some(std) => counted.push((p.input_count, std)),
            None => {
                ideal_known = false;
                warnings.push(format!(
                    "product '{}' (id {}) has no positive production_std: performance and oee cannot be computed",
                    p.product_name, p.product_id
                ));
            }
        }
    }

    let a = percent_ratio(i128::from(operating), i128::from(planned), 0);
    let q = percent_ratio(i128::from(good), i128::from(total_production), 100);
    let (performance, oee) = if ideal_known {
        match performance_ratio(operating, &counted) {
            Some(p) => {
                let exact_oee = a
                    .mul(p)
                    .and_then(|ap| ap.mul(q))
                    .and_then(|apq| apq.div(Ratio::int(10_000)))
                    .and_then(Ratio::round2);
                let oee = exact_oee.or_else(|| {
                    let p_dec = p.to_decimal()?;
                    decimal_oee(a, p_dec, q).map(round2)
                });
                (p.round2(), oee)
            }
            None => {
                let p = decimal_performance(operating, &counted);
                (p.map(round2), p.and_then(|p| decimal_oee(a, p, q)).map(round2))
            }
        }
    } else {
        (None, None)
    };
    if ideal_known && (performance.is_none() || oee.is_none()) {
        warnings.push("performance or oee is too large to compute".to_owned());
    }

    OeeResult {
        planned_time_seconds: micros_to_seconds(planned),
        total_downtime_seconds: micros_to_seconds(downtime),
        downtime_count: input.events.len() as u64,
        operating_time_seconds: micros_to_seconds(operating),
        availability: a.round2().unwrap_or(Decimal::ZERO),
        total_production,
        good_units: good,
        rejected_units: total_production.saturating_sub(good),
        performance,
        quality: q.round2().unwrap_or(Decimal::ONE_HUNDRED),
        oee,
        warnings,
    }
}

/// Σ good units × `product_weight` (kg), exact, rounded half away from zero
/// to 2 decimals. Saturates at `Decimal::MAX` instead of overflowing.
pub fn total_weight<I>(items: I) -> Decimal
where
    I: IntoIterator<Item = (u64, Decimal)>,
{
    let sum = items.into_iter().fold(Decimal::ZERO, |acc, (units, weight)| {
        acc.saturating_add(Decimal::from(units).saturating_mul(weight))
    });
    round2(sum)
}

#[cfg(test)]
mod tests {
    use super::super::interval::MICROS_PER_SECOND;
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    const HOUR: i64 = 3600 * MICROS_PER_SECOND;

    /// Decimal literal (the main crate does not enable rust_decimal's `macros`).
    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).expect("decimal literal")
    }

    fn event(secs: i64) -> DowntimeEvent {
        let a = Utc.timestamp_opt(1_780_000_000, 0).single().expect("t");
        DowntimeEvent {
            start: a,
            end: a + chrono::TimeDelta::seconds(secs),
            duration_micros: secs * MICROS_PER_SECOND,
            ongoing: false,
        }
    }

    fn product(id: i32, count: u64, std: Option<Decimal>) -> ProductCount {
        ProductCount {
            product_id: id,
            product_name: format!("P{id}"),
            input_count: count,
            production_std: std,
        }
    }

    #[test]
    fn oee_factors_follow_the_iso_22400_definitions() {
        // 8 h planned, 1 h down, 600 in, 570 out, ideal 100/h.
        let events = [event(1800), event(1800)];
        let products = [product(1, 600, Some(d("100")))];
        let r = compute_oee(&OeeInput {
            planned_micros: 8 * HOUR,
            events: &events,
            products: &products,
            good_units: 570,
        });
        assert_eq!(r.planned_time_seconds, 28_800.0);
        assert_eq!(r.total_downtime_seconds, 3_600.0);
        assert_eq!(r.downtime_count, 2);
        assert_eq!(r.operating_time_seconds, 25_200.0);
        assert_eq!(r.availability, d("87.50"));
        assert_eq!(r.total_production, 600);
        assert_eq!(r.good_units, 570);
        assert_eq!(r.rejected_units, 30);
        // ideal 6 h / operating 7 h = 85.714285...
        assert_eq!(r.performance, Some(d("85.71")));
        assert_eq!(r.quality, d("95.00"));
        // 87.5 × 85.714285… × 95 / 10 000 = 71.25 exactly.
        assert_eq!(r.oee, Some(d("71.25")));
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn oee_uses_unrounded_factors() {
        // a = 100, p = 200/3 %, q = 200/3 %: oee = 44.444… → 44.44, while
        // the rounded factors would give 100 × 66.67 × 66.67 / 1e4 = 44.45.
        let r = compute_oee(&OeeInput {
            planned_micros: 3 * HOUR,
            events: &[],
            products: &[product(1, 3, Some(d("1.5")))],
            good_units: 2,
        });
        assert_eq!(r.performance, Some(d("66.67")));
        assert_eq!(r.quality, d("66.67"));
        assert_eq!(r.oee, Some(d("44.44")));
        assert_eq!(round2(d("100") * d("66.67") * d("66.67") / d("10000")), d("44.45"));
    }

    #[test]
    fn percentages_round_half_away_from_zero() {
        assert_eq!(round2(d("12.345")), d("12.35"));
        assert_eq!(round2(d("12.344999")), d("12.34"));
        assert_eq!(round2(d("-12.345")), d("-12.35"));
        // Availability exactly 99.125 % → 99.13 (banker's rounding would give 99.12).
        let r = compute_oee(&OeeInput {
            planned_micros: 8000,
            events: &[DowntimeEvent {
                duration_micros: 70,
                ..event(0)
            }],
            products: &[],
            good_units: 0,
        });
        assert_eq!(r.availability, d("99.13"));
    }

    #[test]
    fn exact_midpoint_survives_non_terminating_intermediate_factors() {
        // planned 4 h, operating 3 h, 53 units at 200/h all good:
        // a = 75 %, p = 0.265 h / 3 h = 8.8333…% (no finite decimal), and
        // OEE is exactly 6.625 → 6.63. Plain 28-digit decimals land on
        // 6.62499…98 and round to 6.62.
        let r = compute_oee(&OeeInput {
            planned_micros: 4 * HOUR,
            events: &[event(3600)],
            products: &[product(1, 53, Some(d("200")))],
            good_units: 53,
        });
        assert_eq!(r.availability, d("75.00"));
        assert_eq!(r.performance, Some(d("8.83")));
        assert_eq!(r.quality, d("100"));
        assert_eq!(r.oee, Some(d("6.63")));
        let (decimal_only, near_mid) = reference_oee(4 * HOUR, 3 * HOUR, &[(53, d("200"))], 53, 53);
        assert!(near_mid);
        assert_eq!(decimal_only, d("6.62"));
    }

    #[test]
    fn performance_falls_back_to_decimal_when_exact_ratio_overflows() {
        // A rate with 25 significant digits makes the exact i128 ratio
        // overflow; the 28-digit decimal path still answers.
        let std = Decimal::from_i128_with_scale(1_234_567_890_123_456_789_012_345, 28);
        let r = compute_oee(&OeeInput {
            planned_micros: 8 * HOUR,
            events: &[],
            products: &[product(1, 1000, Some(std))],
            good_units: 1000,
        });
        assert_eq!(performance_ratio(8 * HOUR, &[(1000, std)]), None);
        let reference = round2(Decimal::from(1000) / std / d("8") * d("100"));
        assert_eq!(r.performance, Some(reference));
        assert_eq!(r.oee, Some(reference));
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn ratios_are_kept_reduced_with_a_positive_denominator() {
        assert_eq!(Ratio::new(6, -4), Some(Ratio { num: -3, den: 2 }));
        assert_eq!(Ratio::new(0, 7), Some(Ratio { num: 0, den: 1 }));
        assert_eq!(Ratio::new(1, 0), None);
        assert_eq!(
            Ratio::new(10, 4).and_then(|r| r.mul(Ratio { num: 2, den: 5 })),
            Some(Ratio { num: 1, den: 1 })
        );
    }

    #[test]
    fn negative_ratios_round_half_away_from_zero() {
        // OEE figures are never negative; the rounding is still the stated one.
        assert_eq!(Ratio::new(-1, 3).and_then(Ratio::round2), Some(d("-0.33")));
        assert_eq!(Ratio::new(-1, 200).and_then(Ratio::round2), Some(d("-0.01")));
        assert_eq!(Ratio::new(1, 200).and_then(Ratio::round2), Some(d("0.01")));
    }

    #[test]
    fn an_oee_too_large_for_any_number_is_absent_with_a_warning_while_performance_stays() {
        // One unit at 1e-20 h per unit (ideal time 3.6e29 µs) over one hour:
        // performance = 3.6e29 × 100 / 3.6e9 = 1e22 %. Quality has no cap:
        // u64::MAX good units of 1 produced is 1.8e21 %. OEE = 100 × 1e22 ×
        // 1.8e21 / 10 000 ≈ 1.8e41 %: beyond i128 ratios and 28-digit decimals.
        let r = compute_oee(&OeeInput {
            planned_micros: HOUR,
            events: &[],
            products: &[product(1, 1, Some(d("0.00000000000000000001")))],
            good_units: u64::MAX,
        });
        assert_eq!(r.performance, Some(d("10000000000000000000000")));
        assert_eq!(r.oee, None);
        assert_eq!(
            r.warnings,
            vec!["performance or oee is too large to compute".to_owned()]
        );
    }

    #[test]
    fn availability_is_zero_when_nothing_is_planned() {
        let r = compute_oee(&OeeInput {
            planned_micros: 0,
            events: &[],
            products: &[],
            good_units: 0,
        });
        assert_eq!(r.availability, Decimal::ZERO);
        assert_eq!(r.performance, Some(Decimal::ZERO));
        assert_eq!(r.quality, d("100"));
        assert_eq!(r.oee, Some(Decimal::ZERO));
    }

    #[test]
    fn performance_is_zero_when_operating_time_is_zero() {
        let r = compute_oee(&OeeInput {
            planned_micros: HOUR,
            events: &[event(3600)],
            products: &[product(1, 5, Some(d("60")))],
            good_units: 0,
        });
        assert_eq!(r.operating_time_seconds, 0.0);
        assert_eq!(r.availability, Decimal::ZERO);
        assert_eq!(r.performance, Some(Decimal::ZERO));
        assert_eq!(r.quality, Decimal::ZERO);
        assert_eq!(r.oee, Some(Decimal::ZERO));
    }

    #[test]
    fn quality_is_100_when_nothing_was_produced() {
        let r = compute_oee(&OeeInput {
            planned_micros: HOUR,
            events: &[],
            products: &[product(1, 0, None)],
            good_units: 0,
        });
        assert_eq!(r.quality, d("100"));
        assert_eq!(r.performance, Some(Decimal::ZERO));
        // An uncounted product without a rate does not block performance.
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn counted_product_without_positive_std_nulls_performance_and_oee_with_warning() {
        for std in [None, Some(Decimal::ZERO), Some(d("-5"))] {
            let r = compute_oee(&OeeInput {
                planned_micros: HOUR,
                events: &[],
                products: &[product(1, 10, Some(d("60"))), product(2, 1, std)],
                good_units: 11,
            });
            assert_eq!(r.performance, None);
            assert_eq!(r.oee, None);
            assert_eq!(r.warnings.len(), 1);
            assert!(r.warnings[0].contains("'P2'"), "{}", r.warnings[0]);
            // The other factors are still there.
            assert_eq!(r.availability, d("100"));
            assert_eq!(r.quality, d("100"));
        }
    }

    #[test]
    fn performance_sums_ideal_time_over_products() {
        // 120 units at 60/h (2 h) + 90 at 30/h (3 h) = 5 h ideal in 8 h.
        let r = compute_oee(&OeeInput {
            planned_micros: 8 * HOUR,
            events: &[],
            products: &[product(1, 120, Some(d("60"))), product(2, 90, Some(d("30")))],
            good_units: 210,
        });
        assert_eq!(r.total_production, 210);
        assert_eq!(r.performance, Some(d("62.50")));
    }

    #[test]
    fn percentages_are_not_capped_at_100() {
        // More output than input (input sensor missed units), and an ideal
        // rate set too low: both above 100.
        let r = compute_oee(&OeeInput {
            planned_micros: HOUR,
            events: &[],
            products: &[product(1, 100, Some(d("50")))],
            good_units: 120,
        });
        assert_eq!(r.quality, d("120"));
        assert_eq!(r.performance, Some(d("200")));
        assert_eq!(r.rejected_units, 0);
        assert_eq!(r.oee, Some(d("240")));
    }

    #[test]
    fn rejected_units_never_go_negative() {
        let r = compute_oee(&OeeInput {
            planned_micros: HOUR,
            events: &[],
            products: &[product(1, 5, Some(d("60")))],
            good_units: 9,
        });
        assert_eq!(r.rejected_units, 0);
    }

    #[test]
    fn total_weight_is_exact_decimal_rounded_to_two_places() {
        // 0.1 + 0.2 style sums stay exact.
        assert_eq!(total_weight([(1, d("0.1")), (2, d("0.1"))]), d("0.30"));
        assert_eq!(total_weight([(3, d("1.005"))]), d("3.02"));
        assert_eq!(total_weight([(1, d("0.125"))]), d("0.13"));
        assert_eq!(total_weight(std::iter::empty()), Decimal::ZERO);
    }

    #[test]
    fn oee_result_serialises_percentages_as_numbers() {
        let r = compute_oee(&OeeInput {
            planned_micros: 8 * HOUR,
            events: &[],
            products: &[product(1, 1, None)],
            good_units: 1,
        });
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["availability"], serde_json::json!(100.0));
        assert_eq!(json["quality"], serde_json::json!(100.0));
        assert_eq!(json["performance"], serde_json::Value::Null);
        assert_eq!(json["oee"], serde_json::Value::Null);
        assert_eq!(json["planned_time_seconds"], serde_json::json!(28800.0));
        let fields: Vec<&str> = json.as_object().expect("object").keys().map(String::as_str).collect();
        for f in [
            "planned_time_seconds",
            "total_downtime_seconds",
            "downtime_count",
            "operating_time_seconds",
            "availability",
            "total_production",
            "good_units",
            "rejected_units",
            "performance",
            "quality",
            "oee",
            "warnings",
        ] {
            assert!(fields.contains(&f), "{f}");
        }
        assert_eq!(fields.len(), 12);
        let rounded = compute_oee(&OeeInput {
            planned_micros: 8000,
            events: &[DowntimeEvent {
                duration_micros: 70,
                ..event(0)
            }],
            products: &[],
            good_units: 0,
        });
        assert_eq!(
            serde_json::to_string(&serde_json::to_value(&rounded).expect("json")["availability"]).expect("s"),
            "99.13"
        );
    }

    /// Independent computation: unrounded factors in rust_decimal, product,
    /// rounding. Returns the value and whether it sits within 1e-20 of a
    /// rounding midpoint (where 28-digit decimals may legitimately round the
    /// other way than the exact result).
    fn reference_oee(
        planned: i64,
        operating: i64,
        counted: &[(u64, Decimal)],
        good: u64,
        total: u64,
    ) -> (Decimal, bool) {
        let a = if planned == 0 {
            Decimal::ZERO
        } else {
            Decimal::from(operating) * d("100") / Decimal::from(planned)
        };
        let ideal_h: Decimal = counted.iter().map(|(c, s)| Decimal::from(*c) / *s).sum();
        let p = if operating == 0 {
            Decimal::ZERO
        } else {
            ideal_h * d("3600") * Decimal::from(MICROS_PER_SECOND) * d("100") / Decimal::from(operating)
        };
        let q = if total == 0 {
            d("100")
        } else {
            Decimal::from(good) * d("100") / Decimal::from(total)
        };
        let raw = a * p * q / d("10000");
        let frac = (raw * d("100")).fract().abs();
        let near_mid = (frac - d("0.5")).abs() < d("0.000000000000000001");
        (round2(raw), near_mid)
    }

    proptest! {
        #[test]
        fn availability_stays_within_0_and_100(
            planned in 0i64..(400 * 24 * HOUR),
            downs in prop::collection::vec(0i64..(50 * HOUR), 0..6),
        ) {
            // Events as produced by gap analysis never exceed P; build them so.
            let mut left = planned;
            let events: Vec<DowntimeEvent> = downs.into_iter().map(|d| {
                let d = d.min(left);
                left -= d;
                DowntimeEvent { duration_micros: d, ..event(0) }
            }).collect();
            let r = compute_oee(&OeeInput { planned_micros: planned, events: &events, products: &[], good_units: 0 });
            prop_assert!(r.availability >= Decimal::ZERO && r.availability <= d("100"));
            prop_assert!(r.operating_time_seconds >= 0.0);
        }

        #[test]
        fn oee_equals_product_of_unrounded_factors(
            planned_s in 1i64..(31 * 24 * 3600),
            down_frac in 0u32..=100,
            counts in prop::collection::vec((0u64..50_000, 1i64..100_000, 0u32..3), 1..4),
            good_frac in 0u32..=120,
        ) {
            let planned = planned_s * MICROS_PER_SECOND;
            let down = planned / 100 * i64::from(down_frac);
            let products: Vec<ProductCount> = counts.iter().enumerate()
                .map(|(i, &(c, m, scale))| product(i as i32, c, Some(Decimal::new(m, scale))))
                .collect();
            let total: u64 = counts.iter().map(|c| c.0).sum();
            let good = total * u64::from(good_frac) / 100;
            let events = [DowntimeEvent { duration_micros: down, ..event(0) }];
            let r = compute_oee(&OeeInput { planned_micros: planned, events: &events, products: &products, good_units: good });
            let counted: Vec<(u64, Decimal)> = products.iter().filter(|p| p.input_count > 0)
                .filter_map(|p| p.production_std.map(|s| (p.input_count, s))).collect();
            let (reference, near_mid) = reference_oee(planned, planned - down, &counted, good, total);
            let oee = r.oee.expect("all products have a rate");
            if near_mid {
                prop_assert!((oee - reference).abs() <= d("0.01"));
            } else {
                prop_assert_eq!(oee, reference);
            }
        }
    }
}
