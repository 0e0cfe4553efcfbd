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
/// edges, raw rows inside partial hours and after the watermark. A day
/// mostly inside the windows is read as the whole day less its hours
/// outside them, when that takes fewer rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Levels {
    /// Whole UTC days before the watermark (added).
    pub days: Vec<Interval>,
    /// Whole hours before the watermark, outside those days (added).
    pub hours: Vec<Interval>,
    /// Whole hours of `days` that lie outside the windows (subtracted).
    pub less_hours: Vec<Interval>,
    /// The rest.
    pub raw: Vec<Interval>,
}

const HOURS_PER_DAY: i64 = 24;

/// Splits `windows` over days, then hours, then raw rows (see [`Levels`]).
/// Days plus hours less `less_hours` plus raw cover every instant of the
/// windows exactly once and nothing else. Counts are additive, so the day
/// rollup (the sum of its hours) less some hours is exact: a shift window
/// of 18 hours in a UTC day becomes one day less 6 hours, 7 rows per area
/// and product instead of 18.
pub fn split_levels(windows: &[Interval], watermark: Option<DateTime<Utc>>) -> Levels {
    let days = split(windows, Grain::Day, watermark);
    let hours = split(&days.raw, Grain::Hour, watermark);
    let mut levels = Levels {
        days: days.rolled,
        hours: Vec::new(),
        less_hours: Vec::new(),
        raw: hours.raw,
    };
    let settled_days_end = watermark.map(|mark| Grain::Day.floor(mark));
    let day = TimeDelta::microseconds(Grain::Day.micros());
    let mut by_day: BTreeMap<DateTime<Utc>, Vec<Interval>> = BTreeMap::new();
    for piece in hours.rolled {
        let mut start = piece.start;
        while start < piece.end {
            let day_start = Grain::Day.floor(start);
            let end = piece.end.min(day_start + day);
            by_day.entry(day_start).or_default().push(Interval::new(start, end));
            start = end;
        }
    }
    for (day_start, pieces) in by_day {
        let day_end = day_start + day;
        let inside: i64 = pieces.iter().map(|p| p.duration_micros()).sum::<i64>() / Grain::Hour.micros();
        let outside = HOURS_PER_DAY - inside;
        let settled = settled_days_end.is_some_and(|end| day_end <= end);
        if settled && 1 + outside < inside {
            levels.days.push(Interval::new(day_start, day_end));
            let mut cursor = day_start;
            for piece in &pieces {
                if cursor < piece.start {
                    levels.less_hours.push(Interval::new(cursor, piece.start));
                }
                cursor = piece.end;
            }
            if cursor < day_end {
                levels.less_hours.push(Interval::new(cursor, day_end));
            }
        } else {
            levels.hours.extend(pieces);
        }
    }
    levels.days = merge_adjacent(levels.days);
    levels.hours = merge_adjacent(levels.hours);
    levels
}

/// Sorts disjoint intervals and joins those that touch (fewer range pieces).
fn merge_adjacent(mut intervals: Vec<Interval>) -> Vec<Interval> {
    intervals.sort_by_key(|iv| iv.start);
    let mut merged: Vec<Interval> = Vec::with_capacity(intervals.len());
    for iv in intervals {
        match merged.last_mut() {
            Some(last) if last.end == iv.start => *last = Interval::new(last.start, iv.end),
            _ => merged.push(iv),
        }
    }
    merged
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
        let window = Interval::new(day(1, 13, 30), day(4, 7, 0));
        let out = split_levels(&[window], Some(day(3, 12, 0)));
        assert_eq!(out.days, vec![Interval::new(day(2, 0, 0), day(3, 0, 0))]);
        assert_eq!(
            out.hours,
            vec![
                Interval::new(day(1, 14, 0), day(2, 0, 0)),
                Interval::new(day(3, 0, 0), day(3, 12, 0))
            ]
        );
        assert!(out.less_hours.is_empty());
        assert_eq!(
            out.raw,
            vec![
                Interval::new(day(1, 13, 30), day(1, 14, 0)),
                Interval::new(day(3, 12, 0), day(4, 7, 0))
            ]
        );
    }

    #[test]
    fn a_settled_day_mostly_inside_the_windows_is_its_day_less_the_hours_outside() {
        let day = |d: u32, h: u32, m: u32| Utc.with_ymd_and_hms(2026, 3, d, h, m, 0).single().expect("valid");
        // Monday 06:00 to Saturday 06:00: 18 hours of the first day (one day
        // less 6 hours is 7 units), 6 of the last (kept as 6 hours).
        let window = Interval::new(day(2, 6, 0), day(7, 6, 0));
        let out = split_levels(&[window], Some(day(9, 0, 0)));
        assert_eq!(out.days, vec![Interval::new(day(2, 0, 0), day(7, 0, 0))]);
        assert_eq!(out.less_hours, vec![Interval::new(day(2, 0, 0), day(2, 6, 0))]);
        assert_eq!(out.hours, vec![Interval::new(day(7, 0, 0), day(7, 6, 0))]);
        assert!(out.raw.is_empty());
        // 13 hours inside (1 + 11 units is fewer than 13) against 12 (1 + 12 is not).
        let out = split_levels(&[Interval::new(day(2, 11, 0), day(3, 0, 0))], Some(day(9, 0, 0)));
        assert_eq!(out.less_hours, vec![Interval::new(day(2, 0, 0), day(2, 11, 0))]);
        let out = split_levels(&[Interval::new(day(2, 12, 0), day(3, 0, 0))], Some(day(9, 0, 0)));
        assert!(out.less_hours.is_empty() && out.days.is_empty());
        // A day not wholly before the watermark's day is never read whole.
        let out = split_levels(&[window], Some(day(2, 23, 0)));
        assert!(out.less_hours.is_empty() && out.days.is_empty());
        assert_eq!(out.hours, vec![Interval::new(day(2, 6, 0), day(2, 23, 0))]);
        // Two windows in one day: the day once, less the hours between them.
        let out = split_levels(
            &[
                Interval::new(day(2, 0, 0), day(2, 10, 0)),
                Interval::new(day(2, 12, 0), day(2, 23, 0)),
            ],
            Some(day(9, 0, 0)),
        );
        assert_eq!(out.days, vec![Interval::new(day(2, 0, 0), day(3, 0, 0))]);
        assert_eq!(
            out.less_hours,
            vec![
                Interval::new(day(2, 10, 0), day(2, 12, 0)),
                Interval::new(day(2, 23, 0), day(3, 0, 0))
            ]
        );
        assert!(out.hours.is_empty());
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

    /// Any minute or whole hour over four UTC days from 2026-03-01.
    fn instant_over_days() -> impl Strategy<Value = DateTime<Utc>> {
        prop_oneof![
            (0i64..4 * 24 * 60).prop_map(|m| at(0, 0, 0, 0) + TimeDelta::minutes(m)),
            (0i64..4 * 24).prop_map(|h| at(0, 0, 0, 0) + TimeDelta::hours(h)),
        ]
    }

    proptest! {
        /// Every hour of the horizon is counted once (days + hours -
        /// less_hours) exactly when it lies wholly inside the windows and
        /// outside the raw parts; raw parts lie inside the windows; the
        /// lengths add up; subtracted hours lie inside an added day.
        #[test]
        fn levels_cover_each_hour_once_with_signs(
            bounds in proptest::collection::vec(instant_over_days(), 0..10),
            mark in proptest::option::of(instant_over_days()),
        ) {
            let mut sorted = bounds.clone();
            sorted.sort();
            sorted.dedup();
            let windows: Vec<Interval> = sorted.chunks_exact(2).map(|p| Interval::new(p[0], p[1])).collect();
            let out = split_levels(&windows, mark);
            let length = |ivs: &[Interval]| ivs.iter().map(|w| w.duration_micros()).sum::<i64>();
            prop_assert_eq!(
                length(&out.days) + length(&out.hours) - length(&out.less_hours) + length(&out.raw),
                length(&windows)
            );
            for r in &out.raw {
                prop_assert!(windows.iter().any(|w| w.contains_interval(r)));
            }
            for less in &out.less_hours {
                prop_assert!(out.days.iter().any(|d| d.contains_interval(less)));
                prop_assert!(mark.is_some_and(|m| Grain::Day.ceil(less.end) <= Grain::Day.floor(m)));
            }
            let hour = TimeDelta::hours(1);
            let mut u = at(0, 0, 0, 0);
            while u < at(0, 0, 0, 0) + TimeDelta::days(5) {
                let unit = Interval::new(u, u + hour);
                let holding = |ivs: &[Interval]| ivs.iter().filter(|iv| iv.contains_interval(&unit)).count() as i64;
                let signed = holding(&out.days) + holding(&out.hours) - holding(&out.less_hours);
                let in_windows = windows.iter().any(|w| w.contains_interval(&unit));
                let touches_raw = out.raw.iter().any(|r| r.start < unit.end && unit.start < r.end);
                prop_assert!(signed == 0 || signed == 1, "hour {} counted {} times", u, signed);
                prop_assert_eq!(signed == 1, in_windows && !touches_raw, "hour {}", u);
                u += hour;
            }
        }
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
