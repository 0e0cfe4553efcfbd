//! Pure planning of rollup reads and writes: which parts of a query's
//! windows can be answered from whole rollup units, which must come from raw
//! rows, and how a batch of detections aggregates into rollup rows. No I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};

use crate::analytics::interval::Interval;
use crate::db::line_tables::DetectionRow;

/// The width of a rollup unit. Units are aligned on UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    /// Per (area, minute): count, first and last instant (spans for gap analysis).
    Minute,
    /// Per (area, hour, product): count.
    Hour,
    /// Per (area, UTC day, product): count (the sum of the day's hours).
    Day,
}

impl Grain {
    /// Width in microseconds.
    pub fn micros(self) -> i64 {
        match self {
            Grain::Minute => 60_000_000,
            Grain::Hour => 3_600_000_000,
            Grain::Day => 86_400_000_000,
        }
    }

    /// Start of the unit holding `t`.
    pub fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let micros = t.timestamp_micros();
        let floored = micros - micros.rem_euclid(self.micros());
        DateTime::from_timestamp_micros(floored).unwrap_or(t)
    }

    /// Start of the first unit that begins at or after `t`.
    pub fn ceil(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let floored = self.floor(t);
        if floored == t {
            t
        } else {
            floored + TimeDelta::microseconds(self.micros())
        }
    }

    /// True when `t` is a unit boundary.
    pub fn is_aligned(self, t: DateTime<Utc>) -> bool {
        self.floor(t) == t
    }

    /// Naive (UTC) start of the unit holding `t`, as stored in the rollup tables.
    pub fn floor_naive(self, t: NaiveDateTime) -> NaiveDateTime {
        self.floor(t.and_utc()).naive_utc()
    }
}

/// How a query's windows divide between a rollup and the raw table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Unions of whole units lying before the watermark: read from the rollup.
    pub rolled: Vec<Interval>,
    /// Everything else (partial units at the edges, the time past the
    /// watermark): read from raw detections.
    pub raw: Vec<Interval>,
}

/// Splits `windows` (sorted, disjoint, half-open) into the whole `grain`
/// units that end at or before `watermark` and the rest. Without a watermark
/// nothing is rolled. The two parts partition the windows exactly, so
/// rolled-unit counts plus raw counts equal a raw count of the windows.
pub fn split(windows: &[Interval], grain: Grain, watermark: Option<DateTime<Utc>>) -> Split {
    let mut out = Split::default();
    for window in windows.iter().filter(|w| !w.is_empty()) {
        let Some(mark) = watermark else {
            out.raw.push(*window);
            continue;
        };
        let first = grain.ceil(window.start);
        let last = grain.floor(window.end.min(grain.floor(mark)));
        if first < last {
            if window.start < first {
                out.raw.push(Interval::new(window.start, first));
            }
            out.rolled.push(Interval::new(first, last));
            if last < window.end {
                out.raw.push(Interval::new(last, window.end));
            }
        } else {
            out.raw.push(*window);
        }
    }
    out
}

/// One (area, minute) rollup row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteRow {
    /// Area.
    pub area_id: i32,
    /// Minute start (UTC).
    pub minute: NaiveDateTime,
    /// Detections in that minute.
    pub n: i64,
    /// Earliest detection.
    pub first_at: NaiveDateTime,
    /// Latest detection.
    pub last_at: NaiveDateTime,
}

/// One (area, hour, product) rollup row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourRow {
    /// Area.
    pub area_id: i32,
    /// Hour start (UTC).
    pub hour: NaiveDateTime,
    /// Product.
    pub product_id: i32,
    /// Detections.
    pub n: i64,
}

/// One (area, UTC day, product) rollup row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRow {
    /// Area.
    pub area_id: i32,
    /// Day start (UTC midnight).
    pub day: NaiveDateTime,
    /// Product.
    pub product_id: i32,
    /// Detections.
    pub n: i64,
}

/// The day rows of hour rows, in key order.
pub fn days_of(hours: &[HourRow]) -> Vec<DayRow> {
    let mut days: BTreeMap<(i32, NaiveDateTime, i32), i64> = BTreeMap::new();
    for hour in hours {
        *days
            .entry((hour.area_id, Grain::Day.floor_naive(hour.hour), hour.product_id))
            .or_insert(0) += hour.n;
    }
    days.into_iter()
        .map(|((area_id, day, product_id), n)| DayRow {
            area_id,
            day,
            product_id,
            n,
        })
        .collect()
}

/// How a query's windows divide between the day and hour rollups and the
/// raw table: whole days where the windows allow, whole hours at their
/// edges, raw rows inside partial hours and after the watermark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Levels {
    /// Whole UTC days before the watermark.
    pub days: Vec<Interval>,
    /// Whole hours before the watermark, outside those days.
    pub hours: Vec<Interval>,
    /// The rest.
    pub raw: Vec<Interval>,
}

/// Splits `windows` over days, then hours, then raw rows (see [`Levels`]).
/// The three parts partition the windows exactly.
pub fn split_levels(windows: &[Interval], watermark: Option<DateTime<Utc>>) -> Levels {
    let days = split(windows, Grain::Day, watermark);
    let hours = split(&days.raw, Grain::Hour, watermark);
    Levels {
        days: days.rolled,
        hours: hours.rolled,
        raw: hours.raw,
    }
}

/// Aggregates detections into the rows to add to both rollups, in key order.
pub fn aggregate<'a, I>(rows: I) -> (Vec<MinuteRow>, Vec<HourRow>)
where
    I: IntoIterator<Item = &'a DetectionRow>,
{
    let mut minutes: BTreeMap<(i32, NaiveDateTime), MinuteRow> = BTreeMap::new();
    let mut hours: BTreeMap<(i32, NaiveDateTime, i32), i64> = BTreeMap::new();
    for row in rows {
        let minute = Grain::Minute.floor_naive(row.detected_at);
        minutes
            .entry((row.area_id, minute))
            .and_modify(|m| {
                m.n += 1;
                m.first_at = m.first_at.min(row.detected_at);
                m.last_at = m.last_at.max(row.detected_at);
            })
            .or_insert(MinuteRow {
                area_id: row.area_id,
                minute,
                n: 1,
                first_at: row.detected_at,
                last_at: row.detected_at,
            });
        let hour = Grain::Hour.floor_naive(row.detected_at);
        *hours.entry((row.area_id, hour, row.product_id)).or_insert(0) += 1;
    }
    let hours = hours
        .into_iter()
        .map(|((area_id, hour, product_id), n)| HourRow {
            area_id,
            hour,
            product_id,
            n,
        })
        .collect();
    (minutes.into_values().collect(), hours)
}

/// True when every bucket boundary strictly inside `range` is a `grain`
/// boundary, so a whole unit never straddles two buckets.
pub fn buckets_align(boundaries: impl IntoIterator<Item = DateTime<Utc>>, grain: Grain) -> bool {
    boundaries.into_iter().all(|b| grain.is_aligned(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone};
    use proptest::prelude::*;

    fn at(h: u32, m: u32, s: u32, micros: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, m, s).single().expect("valid") + TimeDelta::microseconds(micros.into())
    }

    #[test]
    fn whole_units_before_the_watermark_are_rolled_and_edges_are_raw() {
        let window = Interval::new(at(10, 0, 30, 0), at(10, 5, 10, 0));
        let out = split(&[window], Grain::Minute, Some(at(10, 4, 0, 0)));
        assert_eq!(out.rolled, vec![Interval::new(at(10, 1, 0, 0), at(10, 4, 0, 0))]);
        assert_eq!(
            out.raw,
            vec![
                Interval::new(at(10, 0, 30, 0), at(10, 1, 0, 0)),
                Interval::new(at(10, 4, 0, 0), at(10, 5, 10, 0))
            ]
        );
    }

    #[test]
    fn no_watermark_means_everything_is_raw() {
        let window = Interval::new(at(10, 0, 0, 0), at(12, 0, 0, 0));
        let out = split(&[window], Grain::Hour, None);
        assert!(out.rolled.is_empty());
        assert_eq!(out.raw, vec![window]);
    }

    #[test]
    fn a_watermark_inside_a_unit_rolls_only_units_before_it() {
        let window = Interval::new(at(10, 0, 0, 0), at(13, 0, 0, 0));
        let out = split(&[window], Grain::Hour, Some(at(12, 30, 0, 0)));
        assert_eq!(out.rolled, vec![Interval::new(at(10, 0, 0, 0), at(12, 0, 0, 0))]);
        assert_eq!(out.raw, vec![Interval::new(at(12, 0, 0, 0), at(13, 0, 0, 0))]);
    }

    #[test]
    fn a_window_shorter_than_a_unit_is_raw() {
        let window = Interval::new(at(10, 0, 10, 0), at(10, 0, 50, 0));
        let out = split(&[window], Grain::Minute, Some(at(11, 0, 0, 0)));
        assert!(out.rolled.is_empty());
        assert_eq!(out.raw, vec![window]);
    }

    #[test]
    fn aggregate_counts_per_minute_and_per_hour_product() {
        let row = |t: DateTime<Utc>, area, product| DetectionRow {
            detected_at: t.naive_utc(),
            area_id: area,
            product_id: product,
            external_id: None,
        };
        let rows = [
            row(at(10, 0, 5, 0), 1, 7),
            row(at(10, 0, 50, 1), 1, 8),
            row(at(10, 0, 1, 0), 1, 7),
            row(at(10, 59, 59, 999_999), 2, 7),
        ];
        let (minutes, hours) = aggregate(rows.iter());
        assert_eq!(minutes.len(), 2);
        assert_eq!(minutes[0].n, 3);
        assert_eq!(minutes[0].first_at, at(10, 0, 1, 0).naive_utc());
        assert_eq!(minutes[0].last_at, at(10, 0, 50, 1).naive_utc());
        assert_eq!(minutes[1].minute, at(10, 59, 0, 0).naive_utc());
        let per: Vec<(i32, i32, i64)> = hours.iter().map(|h| (h.area_id, h.product_id, h.n)).collect();
        assert_eq!(per, vec![(1, 7, 2), (1, 8, 1), (2, 7, 1)]);
    }

    #[test]
    fn days_sum_their_hours_per_area_and_product() {
        let hour = |d: u32, h: u32, area, product, n| HourRow {
            area_id: area,
            hour: Utc
                .with_ymd_and_hms(2026, 3, d, h, 0, 0)
                .single()
                .expect("valid")
                .naive_utc(),
            product_id: product,
            n,
        };
        let days = days_of(&[
            hour(1, 0, 1, 7, 2),
            hour(1, 23, 1, 7, 3),
            hour(2, 0, 1, 7, 4),
            hour(1, 5, 2, 7, 1),
        ]);
        let per: Vec<(i32, u32, i64)> = days.iter().map(|d| (d.area_id, d.day.day(), d.n)).collect();
        assert_eq!(per, vec![(1, 1, 5), (1, 2, 4), (2, 1, 1)]);
    }

    #[test]
    fn levels_take_whole_days_then_edge_hours_then_raw() {
        let day = |d: u32, h: u32, m: u32| Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).single().expect("valid");
        let window = Interval::new(day(1, 7, 30), day(4, 7, 0));
        let out = split_levels(&[window], Some(day(3, 12, 0)));
        assert_eq!(out.days, vec![Interval::new(day(2, 0, 0), day(3, 0, 0))]);
        assert_eq!(
            out.hours,
            vec![
                Interval::new(day(1, 8, 0), day(2, 0, 0)),
                Interval::new(day(3, 0, 0), day(3, 12, 0))
            ]
        );
        assert_eq!(
            out.raw,
            vec![
                Interval::new(day(1, 7, 30), day(1, 8, 0)),
                Interval::new(day(3, 12, 0), day(4, 7, 0))
            ]
        );
    }

    /// Any microsecond over four hours, or a whole minute / whole hour, so
    /// that windows and watermarks often sit exactly on unit boundaries.
    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            (0i64..4 * 3_600_000_000).prop_map(|us| at(8, 0, 0, 0) + TimeDelta::microseconds(us)),
            (0i64..4 * 60).prop_map(|m| at(8, 0, 0, 0) + TimeDelta::minutes(m)),
            (0i64..5).prop_map(|h| at(8, 0, 0, 0) + TimeDelta::hours(h)),
        ]
    }

    proptest! {
        /// Rolled and raw parts partition the windows: same total length,
        /// disjoint, rolled parts whole units before the watermark.
        #[test]
        fn split_partitions_the_windows(
            bounds in proptest::collection::vec(instant(), 0..8),
            mark in proptest::option::of(instant()),
            hourly in any::<bool>(),
        ) {
            let grain = if hourly { Grain::Hour } else { Grain::Minute };
            let mut sorted = bounds.clone();
            sorted.sort();
            sorted.dedup();
            let windows: Vec<Interval> = sorted.chunks_exact(2).map(|p| Interval::new(p[0], p[1])).collect();
            let out = split(&windows, grain, mark);
            let total: i64 = windows.iter().map(|w| w.duration_micros()).sum();
            let parts: i64 = out.rolled.iter().chain(&out.raw).map(|w| w.duration_micros()).sum();
            prop_assert_eq!(total, parts);
            let mut all: Vec<Interval> = out.rolled.iter().chain(&out.raw).copied().collect();
            all.sort_by_key(|w| w.start);
            for pair in all.windows(2) {
                prop_assert!(pair[0].end <= pair[1].start);
            }
            for r in &out.rolled {
                prop_assert!(grain.is_aligned(r.start) && grain.is_aligned(r.end));
                prop_assert!(mark.is_some_and(|m| r.end <= m));
                prop_assert!(windows.iter().any(|w| w.contains_interval(r)));
            }
            for r in &out.raw {
                prop_assert!(windows.iter().any(|w| w.contains_interval(r)), "raw {:?} inside a window", r);
            }
            // Maximality: a whole unit inside a window that ends at or before
            // the watermark is read from the rollup, never from raw rows (an
            // all-raw split would pass every check above).
            let unit = TimeDelta::microseconds(grain.micros());
            for r in &out.raw {
                let first = grain.ceil(r.start);
                let whole_unit_fits = first + unit <= r.end && mark.is_some_and(|m| first + unit <= m);
                prop_assert!(!whole_unit_fits, "raw part {:?} holds the settled unit at {}", r, first);
            }
            // Oracle by enumeration: every settled unit inside a window is
            // covered by exactly one rolled part; no other unit is.
            if let Some(m) = mark {
                let mut u = grain.floor(at(8, 0, 0, 0));
                while u < at(12, 0, 0, 1) {
                    let unit_iv = Interval::new(u, u + unit);
                    let settled = u + unit <= m && windows.iter().any(|w| w.contains_interval(&unit_iv));
                    let rolled = out.rolled.iter().filter(|r| r.contains_interval(&unit_iv)).count();
                    prop_assert_eq!(rolled, usize::from(settled), "unit at {}", u);
                    u += unit;
                }
            }
        }
    }
}
