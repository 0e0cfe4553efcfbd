//! Time buckets for charts (spec §6).
//!
//! A [`BucketSeries`] is a list of consecutive, non-overlapping real
//! intervals covering `[start, min(end, now))`. Counts are assigned with
//! [`BucketSeries::bucket_index`] (binary search over bucket starts), from
//! raw instants or from pre-aggregated `(minute, count)` rows.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, LocalResult, Months, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Serialize, Serializer};

use super::error::AnalyticsError;
use super::interval::Interval;
use super::time::{local_label, local_midnight, to_local};

/// Most buckets one chart may have.
pub const MAX_BUCKETS: usize = 10_000;

/// A chart's bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BucketInterval {
    /// `1min`
    OneMinute,
    /// `15min`
    FifteenMinutes,
    /// `1hour`
    OneHour,
    /// `1day`
    OneDay,
    /// `1week` (weeks start on Monday)
    OneWeek,
    /// `1month` (months start on the 1st)
    OneMonth,
}

impl BucketInterval {
    /// Every interval, finest first.
    pub const ALL: [BucketInterval; 6] = [
        BucketInterval::OneMinute,
        BucketInterval::FifteenMinutes,
        BucketInterval::OneHour,
        BucketInterval::OneDay,
        BucketInterval::OneWeek,
        BucketInterval::OneMonth,
    ];

    /// The API name (`1min`, `15min`, `1hour`, `1day`, `1week`, `1month`).
    pub fn as_str(self) -> &'static str {
        match self {
            BucketInterval::OneMinute => "1min",
            BucketInterval::FifteenMinutes => "15min",
            BucketInterval::OneHour => "1hour",
            BucketInterval::OneDay => "1day",
            BucketInterval::OneWeek => "1week",
            BucketInterval::OneMonth => "1month",
        }
    }

    /// Parses an API name; anything else is an error listing the allowed values.
    pub fn parse(s: &str) -> Result<Self, AnalyticsError> {
        BucketInterval::ALL
            .into_iter()
            .find(|i| i.as_str() == s.trim())
            .ok_or_else(|| AnalyticsError::InvalidInterval { value: s.to_owned() })
    }

    /// Step in minutes for the sub-day intervals, `None` for calendar ones.
    pub fn step_minutes(self) -> Option<u32> {
        match self {
            BucketInterval::OneMinute => Some(1),
            BucketInterval::FifteenMinutes => Some(15),
            BucketInterval::OneHour => Some(60),
            _ => None,
        }
    }

    /// Longest real length a bucket can have: a DST shift (at most 2 h in
    /// tzdb, 30 min on Lord Howe) can only lengthen the hour bucket that holds
    /// it, the day, week and month around it. Dividing a range by it gives a
    /// lower bound of the bucket count, so a range it already puts over the
    /// limit is refused before any bucket is generated, and no range within
    /// the limit ever is.
    fn max_micros(self) -> i64 {
        const MIN: i64 = 60_000_000;
        const HOUR: i64 = 60 * MIN;
        const DAY: i64 = 24 * HOUR;
        match self {
            BucketInterval::OneMinute => MIN,
            BucketInterval::FifteenMinutes => 15 * MIN,
            BucketInterval::OneHour => 2 * HOUR,
            BucketInterval::OneDay => DAY + 2 * HOUR,
            BucketInterval::OneWeek => 7 * DAY + 2 * HOUR,
            BucketInterval::OneMonth => 31 * DAY + 2 * HOUR,
        }
    }

    /// Typical real length, used to suggest a coarser interval.
    fn nominal_micros(self) -> i64 {
        const MINUTE: i64 = 60_000_000;
        const DAY: i64 = 24 * 60 * MINUTE;
        match (self, self.step_minutes()) {
            (_, Some(step)) => i64::from(step) * MINUTE,
            (BucketInterval::OneWeek, None) => 7 * DAY,
            (BucketInterval::OneMonth, None) => 30 * DAY,
            (_, None) => DAY,
        }
    }
}

impl fmt::Display for BucketInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BucketInterval {
    type Err = AnalyticsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BucketInterval::parse(s)
    }
}

impl Serialize for BucketInterval {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One chart bucket: `[start, end)` in real time, labelled by its local start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    /// Real start; its local reading is the label.
    pub start: DateTime<Utc>,
    /// Real end = the next bucket's start.
    pub end: DateTime<Utc>,
    /// Local start as `YYYY-MM-DD HH:MM`; repeats on a fall-back night.
    pub label: String,
}

/// The buckets of a chart over a clipped range.
///
/// The first and last bucket may extend beyond the range (a 1hour chart from
/// 10:07 starts with the 10:00 bucket); counting only takes instants inside
/// the clipped range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketSeries {
    /// The bucket width.
    pub interval: BucketInterval,
    /// `[start, min(end, now))`, or `None` when the range lies in the future.
    pub range: Option<Interval>,
    /// Consecutive buckets (each `end` is the next `start`).
    pub buckets: Vec<Bucket>,
}

impl BucketSeries {
    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True when there is no bucket (the range lies in the future).
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The labels, in order (Chart.js `labels`).
    pub fn labels(&self) -> Vec<String> {
        self.buckets.iter().map(|b| b.label.clone()).collect()
    }

    /// Index of the bucket holding `t`, by binary search over bucket starts;
    /// `None` when `t` is outside the clipped range.
    pub fn bucket_index(&self, t: DateTime<Utc>) -> Option<usize> {
        if !self.range.is_some_and(|r| r.contains(t)) {
            return None;
        }
        // Buckets tile the clipped range end to start, so the last bucket
        // starting at or before `t` holds it.
        self.buckets.partition_point(|b| b.start <= t).checked_sub(1)
    }

    /// Counts instants (any order) per bucket; instants outside the clipped
    /// range are ignored.
    pub fn count_instants<I>(&self, instants: I) -> Vec<u64>
    where
        I: IntoIterator<Item = DateTime<Utc>>,
    {
        self.sum_counts(instants.into_iter().map(|t| (t, 1)))
    }

    /// Counts ascending instants per bucket in one linear pass.
    pub fn count_sorted(&self, sorted: &[DateTime<Utc>]) -> Vec<u64> {
        let mut counts = vec![0u64; self.buckets.len()];
        let Some(range) = self.range else {
            return counts;
        };
        let lo = sorted.partition_point(|t| *t < range.start);
        let hi = sorted.partition_point(|t| *t < range.end);
        let mut k = 0;
        for &t in &sorted[lo..hi] {
            while k < self.buckets.len() && self.buckets[k].end <= t {
                k += 1;
            }
            if let Some(c) = counts.get_mut(k) {
                *c += 1;
            }
        }
        counts
    }

    /// Adds pre-aggregated `(instant, count)` rows (e.g. per-minute rollups
    /// keyed by the minute's start) per bucket; rows outside the clipped
    /// range are ignored.
    ///
    /// A per-minute row is exact when its whole minute lies inside the
    /// clipped range (the caller passes raw instants for the partial minutes
    /// at the edges) and bucket boundaries fall on whole UTC minutes, which
    /// holds for every zone whose offset is a whole number of minutes (all
    /// current tzdb zones).
    pub fn sum_counts<I>(&self, rows: I) -> Vec<u64>
    where
        I: IntoIterator<Item = (DateTime<Utc>, u64)>,
    {
        let mut counts = vec![0u64; self.buckets.len()];
        for (t, n) in rows {
            if let Some(i) = self.bucket_index(t) {
                counts[i] = counts[i].saturating_add(n);
            }
        }
        counts
    }
}

/// Builds the buckets that intersect `[range.start, min(range.end, now))`.
///
/// Sub-day (`1min`, `15min`, `1hour`): bucket starts are exactly the real
/// instants whose local reading is a multiple of the step (minutes since
/// local midnight), and each bucket runs to the next such instant. Hence:
/// - on a fall-back night each repeated label starts its own real bucket
///   (`02:00` appears twice in Madrid on 2026-10-25);
/// - on a spring-forward night the skipped labels are absent;
/// - zones with a half-hour offset (Asia/Kolkata) get 1hour buckets starting
///   at hh:30 UTC, each 1 h long;
/// - when a transition shifts the offset by less than the step (Lord Howe's
///   30-minute change, with 1hour buckets) no aligned instant exists at the
///   usual place and the bucket straddling the change lasts 30 min more or
///   less. Buckets are still consecutive, non-overlapping and cover the range.
///
/// Day, week (Monday) and month (1st) buckets start at local midnight (its
/// first valid instant when midnight does not exist) and end at the next
/// one, so DST days last 23 or 25 h.
///
/// More than [`MAX_BUCKETS`] buckets is an error suggesting a coarser interval.
pub fn generate_buckets(
    interval: BucketInterval,
    tz: Tz,
    range: &Interval,
    now: DateTime<Utc>,
) -> Result<BucketSeries, AnalyticsError> {
    let Some(clipped) = range.clip_to_now(now) else {
        return Ok(BucketSeries {
            interval,
            range: None,
            buckets: Vec::new(),
        });
    };
    let too_many = || AnalyticsError::TooManyBuckets {
        interval,
        limit: MAX_BUCKETS,
        suggestion: BucketInterval::ALL
            .into_iter()
            .find(|i| *i > interval && clipped.duration_micros() / i.nominal_micros() + 2 <= MAX_BUCKETS as i64),
    };
    // A cheap lower bound of the count first, so a year of 1min buckets is
    // refused without generating half a million of them.
    if clipped.duration_micros() / interval.max_micros() > MAX_BUCKETS as i64 + 2 {
        return Err(too_many());
    }
    let starts = match interval.step_minutes() {
        Some(step) => sub_day_starts(tz, step, &clipped),
        None => calendar_starts(interval, tz, &clipped)?,
    };
    if starts.len() > MAX_BUCKETS + 1 {
        return Err(too_many());
    }
    let buckets = starts
        .windows(2)
        .map(|w| Bucket {
            start: w[0],
            end: w[1],
            label: local_label(w[0], tz),
        })
        .collect();
    Ok(BucketSeries {
        interval,
        range: Some(clipped),
        buckets,
    })
}

/// Aligned instants `a_0 <= start < a_1 < ... < a_n >= end`: bucket `i` is
/// `[a_i, a_{i+1})`.
///
/// Walks the LOCAL labels (multiples of `step`) and resolves each to all
/// its instants: none in a gap, two on a fall-back night. The walk starts
/// and ends with a margin (step + 3 h of real time, widened to 27 h if
/// that does not suffice) so that the aligned instants just outside the range
/// are found whatever the DST offsets.
fn sub_day_starts(tz: Tz, step: u32, range: &Interval) -> Vec<DateTime<Utc>> {
    let step_delta = TimeDelta::minutes(i64::from(step));
    for margin_hours in [3, 27] {
        let margin = step_delta + TimeDelta::hours(margin_hours);
        let (Some(from), Some(to)) = (
            range.start.checked_sub_signed(margin),
            range.end.checked_add_signed(margin),
        ) else {
            break;
        };
        // Local midnight is aligned for every step (each divides a day).
        let mut label = to_local(from, tz).date().and_time(NaiveTime::MIN);
        let last_label = to_local(to, tz);
        let mut aligned = Vec::new();
        while label <= last_label {
            match tz.from_local_datetime(&label) {
                LocalResult::Single(t) => aligned.push(t.with_timezone(&Utc)),
                LocalResult::Ambiguous(a, b) => {
                    aligned.push(a.with_timezone(&Utc));
                    aligned.push(b.with_timezone(&Utc));
                }
                LocalResult::None => {}
            }
            match label.checked_add_signed(step_delta) {
                Some(next) => label = next,
                None => break,
            }
        }
        // Labels of a repeated hour resolve to instants an hour apart, so
        // the walk yields them out of order.
        aligned.sort_unstable();
        aligned.dedup();
        let first = aligned.partition_point(|t| *t <= range.start);
        let last = aligned.partition_point(|t| *t < range.end);
        if first >= 1 && last < aligned.len() {
            return aligned[first - 1..=last].to_vec();
        }
    }
    // Unreachable for tzdb data; keeps the contract (consecutive intervals
    // covering the range) with a single bucket rather than panicking.
    vec![range.start, range.end]
}

/// Calendar bucket starts (local midnights) from the bucket holding
/// `range.start` to the first start at or after `range.end`.
fn calendar_starts(interval: BucketInterval, tz: Tz, range: &Interval) -> Result<Vec<DateTime<Utc>>, AnalyticsError> {
    let out_of_range = |field| AnalyticsError::OutOfRange { field };
    let first_day = to_local(range.start, tz).date();
    let mut date = match interval {
        BucketInterval::OneWeek => first_day
            .checked_sub_days(Days::new(u64::from(first_day.weekday().num_days_from_monday())))
            .ok_or(out_of_range("start_date"))?,
        BucketInterval::OneMonth => first_day.with_day(1).ok_or(out_of_range("start_date"))?,
        _ => first_day,
    };
    let next = |d: NaiveDate| -> Option<NaiveDate> {
        match interval {
            BucketInterval::OneWeek => d.checked_add_days(Days::new(7)),
            BucketInterval::OneMonth => d.checked_add_months(Months::new(1)),
            _ => d.checked_add_days(Days::new(1)),
        }
    };
    let mut last = local_midnight(tz, date);
    let mut starts = vec![last];
    while last < range.end && starts.len() <= MAX_BUCKETS + 1 {
        date = next(date).ok_or(out_of_range("end_date"))?;
        let start = local_midnight(tz, date);
        // A day skipped entirely (Pacific/Apia, 2011-12-30) resolves to the
        // next day's midnight: it gets no bucket rather than an empty one.
        if start > last {
            starts.push(start);
            last = start;
        }
    }
    Ok(starts)
}

#[cfg(test)]
mod tests {
    use super::super::time::{format_instant, parse_instant};
    use super::*;
    use chrono::{DurationRound, Timelike};
    use chrono_tz::America::Santiago;
    use chrono_tz::Asia::Kolkata;
    use chrono_tz::Australia::Lord_Howe;
    use chrono_tz::Europe::Madrid;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000_000;

    fn at(tz: Tz, s: &str) -> DateTime<Utc> {
        parse_instant(s, tz, "start_date").expect("test instant")
    }

    fn far_future() -> DateTime<Utc> {
        at(Tz::UTC, "2100-01-01T00:00Z")
    }

    fn series(interval: BucketInterval, tz: Tz, a: &str, b: &str) -> BucketSeries {
        generate_buckets(interval, tz, &Interval::new(at(tz, a), at(tz, b)), far_future()).expect("buckets")
    }

    fn labels(s: &BucketSeries) -> Vec<String> {
        s.labels()
    }

    fn lengths_h(s: &BucketSeries) -> Vec<i64> {
        s.buckets
            .iter()
            .map(|b| Interval::new(b.start, b.end).duration_micros() / HOUR)
            .collect()
    }

    #[test]
    fn interval_names_parse_and_unknown_names_list_allowed_values() {
        for i in BucketInterval::ALL {
            assert_eq!(BucketInterval::parse(i.as_str()), Ok(i));
            assert_eq!(i.as_str().parse::<BucketInterval>(), Ok(i));
        }
        let e = BucketInterval::parse("5min").expect_err("bad");
        assert_eq!(e.field(), "interval");
        assert!(e.to_string().contains("1min, 15min, 1hour, 1day, 1week, 1month"), "{e}");
    }

    #[test]
    fn fall_back_night_repeats_the_hour_label_madrid() {
        let s = series(BucketInterval::OneHour, Madrid, "2026-10-25T00:00", "2026-10-25T05:00");
        assert_eq!(
            labels(&s),
            [
                "2026-10-25 00:00",
                "2026-10-25 01:00",
                "2026-10-25 02:00",
                "2026-10-25 02:00",
                "2026-10-25 03:00",
                "2026-10-25 04:00"
            ]
        );
        assert!(lengths_h(&s).iter().all(|h| *h == 1));
        assert_eq!(format_instant(s.buckets[2].start, Madrid), "2026-10-25T02:00:00+02:00");
        assert_eq!(format_instant(s.buckets[3].start, Madrid), "2026-10-25T02:00:00+01:00");
    }

    #[test]
    fn spring_forward_night_skips_missing_hour_label_madrid() {
        let s = series(BucketInterval::OneHour, Madrid, "2026-03-29T00:00", "2026-03-29T05:00");
        assert_eq!(
            labels(&s),
            [
                "2026-03-29 00:00",
                "2026-03-29 01:00",
                "2026-03-29 03:00",
                "2026-03-29 04:00"
            ]
        );
        assert!(lengths_h(&s).iter().all(|h| *h == 1));
    }

    #[test]
    fn fall_back_night_repeats_the_hour_label_santiago() {
        let s = series(
            BucketInterval::OneHour,
            Santiago,
            "2026-04-04T22:00",
            "2026-04-05T01:00",
        );
        assert_eq!(
            labels(&s),
            [
                "2026-04-04 22:00",
                "2026-04-04 23:00",
                "2026-04-04 23:00",
                "2026-04-05 00:00"
            ]
        );
        assert!(lengths_h(&s).iter().all(|h| *h == 1));
    }

    #[test]
    fn spring_forward_night_skips_midnight_label_santiago() {
        let s = series(
            BucketInterval::OneHour,
            Santiago,
            "2026-09-05T22:00",
            "2026-09-06T03:00",
        );
        assert_eq!(
            labels(&s),
            [
                "2026-09-05 22:00",
                "2026-09-05 23:00",
                "2026-09-06 01:00",
                "2026-09-06 02:00"
            ]
        );
    }

    #[test]
    fn fifteen_minute_buckets_on_fall_back_night_repeat_each_label_once() {
        let s = series(
            BucketInterval::FifteenMinutes,
            Madrid,
            "2026-10-25T02:00",
            "2026-10-25T03:00",
        );
        // Range starts at the FIRST 02:00 and ends at 03:00 CET: 2 real hours.
        assert_eq!(s.len(), 8);
        let l = labels(&s);
        assert_eq!(&l[..4], &l[4..]);
        assert_eq!(l[0], "2026-10-25 02:00");
        assert_eq!(l[3], "2026-10-25 02:45");
    }

    #[test]
    fn half_hour_offset_zone_hour_buckets_start_on_local_hours() {
        let s = series(BucketInterval::OneHour, Kolkata, "2026-07-01T00:00", "2026-07-01T03:00");
        assert_eq!(labels(&s), ["2026-07-01 00:00", "2026-07-01 01:00", "2026-07-01 02:00"]);
        assert_eq!(s.buckets[0].start, at(Tz::UTC, "2026-06-30T18:30Z"));
        assert!(lengths_h(&s).iter().all(|h| *h == 1));
    }

    #[test]
    fn half_hour_dst_change_stretches_the_straddling_hour_bucket() {
        // Lord Howe: 02:00 +11 → 01:30 +10:30 on 2026-04-05.
        let s = series(
            BucketInterval::OneHour,
            Lord_Howe,
            "2026-04-05T00:00",
            "2026-04-05T04:00",
        );
        assert_eq!(
            labels(&s),
            [
                "2026-04-05 00:00",
                "2026-04-05 01:00",
                "2026-04-05 02:00",
                "2026-04-05 03:00"
            ]
        );
        let minutes: Vec<i64> = s
            .buckets
            .iter()
            .map(|b| Interval::new(b.start, b.end).duration_micros() / 60_000_000)
            .collect();
        assert_eq!(minutes, [60, 90, 60, 60]);
        for w in s.buckets.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
    }

    #[test]
    fn day_buckets_on_dst_days_last_23_and_25_hours_madrid() {
        let s = series(BucketInterval::OneDay, Madrid, "2026-03-28T00:00", "2026-03-31T00:00");
        assert_eq!(labels(&s), ["2026-03-28 00:00", "2026-03-29 00:00", "2026-03-30 00:00"]);
        assert_eq!(lengths_h(&s), [24, 23, 24]);
        let s = series(BucketInterval::OneDay, Madrid, "2026-10-24T00:00", "2026-10-27T00:00");
        assert_eq!(lengths_h(&s), [24, 25, 24]);
    }

    #[test]
    fn day_bucket_starts_at_first_valid_instant_when_midnight_does_not_exist_santiago() {
        let s = series(BucketInterval::OneDay, Santiago, "2026-09-05T00:00", "2026-09-08T00:00");
        assert_eq!(labels(&s), ["2026-09-05 00:00", "2026-09-06 01:00", "2026-09-07 00:00"]);
        assert_eq!(lengths_h(&s), [24, 23, 24]);
        assert_eq!(
            format_instant(s.buckets[1].start, Santiago),
            "2026-09-06T01:00:00-03:00"
        );
    }

    #[test]
    fn day_bucket_of_santiago_fall_back_lasts_25_hours() {
        let s = series(BucketInterval::OneDay, Santiago, "2026-04-03T00:00", "2026-04-06T00:00");
        assert_eq!(labels(&s), ["2026-04-03 00:00", "2026-04-04 00:00", "2026-04-05 00:00"]);
        assert_eq!(lengths_h(&s), [24, 25, 24]);
    }

    #[test]
    fn skipped_calendar_day_has_no_bucket_apia() {
        // Samoa moved across the date line: 2011-12-30 never happened there.
        let apia = chrono_tz::Pacific::Apia;
        let s = series(BucketInterval::OneDay, apia, "2011-12-29T00:00", "2012-01-01T00:00");
        assert_eq!(labels(&s), ["2011-12-29 00:00", "2011-12-31 00:00"]);
        assert_eq!(lengths_h(&s), [24, 24]);
        let h = series(BucketInterval::OneHour, apia, "2011-12-29T22:00", "2011-12-31T02:00");
        assert_eq!(
            labels(&h),
            [
                "2011-12-29 22:00",
                "2011-12-29 23:00",
                "2011-12-31 00:00",
                "2011-12-31 01:00"
            ]
        );
    }

    #[test]
    fn week_buckets_start_on_monday_local_midnight() {
        // 2026-03-25 is a Wednesday; the DST week is 167 h long.
        let s = series(BucketInterval::OneWeek, Madrid, "2026-03-25T10:00", "2026-04-01T00:00");
        assert_eq!(labels(&s), ["2026-03-23 00:00", "2026-03-30 00:00"]);
        assert_eq!(lengths_h(&s), [167, 168]);
    }

    #[test]
    fn month_buckets_start_on_the_first_local_midnight() {
        let s = series(BucketInterval::OneMonth, Madrid, "2026-02-15T00:00", "2026-04-02T00:00");
        assert_eq!(labels(&s), ["2026-02-01 00:00", "2026-03-01 00:00", "2026-04-01 00:00"]);
        assert_eq!(lengths_h(&s), [28 * 24, 31 * 24 - 1, 30 * 24]);
    }

    #[test]
    fn buckets_are_clipped_at_now_and_empty_ones_kept() {
        let range = Interval::new(at(Madrid, "2026-06-10T00:00"), at(Madrid, "2026-06-11T00:00"));
        let now = at(Madrid, "2026-06-10T05:30");
        let s = generate_buckets(BucketInterval::OneHour, Madrid, &range, now).expect("buckets");
        assert_eq!(s.len(), 6);
        assert_eq!(s.labels().last().map(String::as_str), Some("2026-06-10 05:00"));
        let counts = s.count_instants([at(Madrid, "2026-06-10T02:10"), at(Madrid, "2026-06-10T05:40")]);
        assert_eq!(counts, [0, 0, 1, 0, 0, 0]);
        // A range entirely in the future has no bucket.
        let early = at(Madrid, "2026-06-09T00:00");
        assert!(
            generate_buckets(BucketInterval::OneHour, Madrid, &range, early)
                .expect("ok")
                .is_empty()
        );
    }

    #[test]
    fn partial_edge_buckets_are_returned_but_count_only_inside_the_range() {
        let s = series(BucketInterval::OneHour, Madrid, "2026-06-10T10:07", "2026-06-10T12:30");
        assert_eq!(labels(&s), ["2026-06-10 10:00", "2026-06-10 11:00", "2026-06-10 12:00"]);
        assert_eq!(s.bucket_index(at(Madrid, "2026-06-10T10:05")), None);
        assert_eq!(s.bucket_index(at(Madrid, "2026-06-10T10:07")), Some(0));
        assert_eq!(s.bucket_index(at(Madrid, "2026-06-10T12:29")), Some(2));
        assert_eq!(s.bucket_index(at(Madrid, "2026-06-10T12:30")), None);
    }

    #[test]
    fn more_than_ten_thousand_buckets_is_an_error_suggesting_a_coarser_interval() {
        let range = Interval::new(at(Tz::UTC, "2026-01-01T00:00Z"), at(Tz::UTC, "2026-01-08T00:00Z"));
        let e = generate_buckets(BucketInterval::OneMinute, Tz::UTC, &range, far_future()).expect_err("10080");
        assert_eq!(
            e,
            AnalyticsError::TooManyBuckets {
                interval: BucketInterval::OneMinute,
                limit: MAX_BUCKETS,
                suggestion: Some(BucketInterval::FifteenMinutes)
            }
        );
        assert!(e.to_string().contains("15min"), "{e}");
        // Exactly 10 000 is fine.
        let ok = Interval::new(range.start, range.start + TimeDelta::minutes(10_000));
        assert_eq!(
            generate_buckets(BucketInterval::OneMinute, Tz::UTC, &ok, far_future()).map(|s| s.len()),
            Ok(10_000)
        );
        let over = Interval::new(range.start, range.start + TimeDelta::minutes(10_001));
        assert!(generate_buckets(BucketInterval::OneMinute, Tz::UTC, &over, far_future()).is_err());
    }

    #[test]
    fn every_interval_serves_exactly_the_bucket_limit_and_refuses_one_more() {
        // 2001-01-01 is a Monday and the first of a month, so every interval's
        // buckets start there and `edge(n)` is the end of the n-th bucket.
        let start = at(Tz::UTC, "2001-01-01T00:00Z");
        let edge = |interval: BucketInterval, n: i64| -> DateTime<Utc> {
            match interval {
                BucketInterval::OneMinute => start + TimeDelta::minutes(n),
                BucketInterval::FifteenMinutes => start + TimeDelta::minutes(15 * n),
                BucketInterval::OneHour => start + TimeDelta::hours(n),
                BucketInterval::OneDay => start + TimeDelta::days(n),
                BucketInterval::OneWeek => start + TimeDelta::weeks(n),
                BucketInterval::OneMonth => start
                    .checked_add_months(chrono::Months::new(u32::try_from(n).expect("months")))
                    .expect("in chrono's range"),
            }
        };
        let limit = i64::try_from(MAX_BUCKETS).expect("limit");
        for interval in BucketInterval::ALL {
            let at_limit = Interval::new(start, edge(interval, limit));
            assert_eq!(
                generate_buckets(interval, Tz::UTC, &at_limit, DateTime::<Utc>::MAX_UTC).map(|s| s.len()),
                Ok(MAX_BUCKETS),
                "{interval:?}: exactly the limit is served"
            );
            let over = Interval::new(start, edge(interval, limit + 1));
            assert!(
                matches!(
                    generate_buckets(interval, Tz::UTC, &over, DateTime::<Utc>::MAX_UTC),
                    Err(AnalyticsError::TooManyBuckets { .. })
                ),
                "{interval:?}: one bucket over the limit is refused"
            );
        }
    }

    #[test]
    fn the_suggested_interval_is_the_finest_that_fits() {
        use BucketInterval::*;
        // (asked, range in days, suggestion). A candidate fits when the range
        // over its nominal length (1 min, 15 min, 1 h, 24 h, 7 d, 30 d), plus
        // 2 for partial edge buckets, is at most 10 000.
        let cases = [
            // 15 min: 11 520 > 10 000; 1 h: 2 880.
            (OneMinute, 120, Some(OneHour)),
            // 1 h: 9 600 + 2 fits.
            (OneMinute, 400, Some(OneHour)),
            // 1 h: 10 080 + 2 does not; 1 day: 420.
            (OneMinute, 420, Some(OneDay)),
            // 12 000 hours; 1 day: 500.
            (OneHour, 500, Some(OneDay)),
            // 10 950 days; 1 week: 1 564.
            (OneDay, 10_950, Some(OneWeek)),
            // 73 000 days; 1 week: 10 428 does not fit; 1 month: 2 433.
            (OneDay, 73_000, Some(OneMonth)),
            // 10 714 weeks; 1 month: 2 500.
            (OneWeek, 75_000, Some(OneMonth)),
            // 10 520 months and nothing coarser.
            (OneMonth, 320_000, None),
        ];
        let start = at(Tz::UTC, "2001-01-01T00:00Z");
        let cases = cases.map(|(asked, days, suggestion)| (asked, TimeDelta::days(days), suggestion));
        // At the edge of fitting: 9 998 hours + 2 is exactly 10 000, 9 999 is not.
        let edges = [
            (OneMinute, TimeDelta::hours(9_998), Some(OneHour)),
            (OneMinute, TimeDelta::hours(9_999), Some(OneDay)),
        ];
        for (asked, length, suggestion) in cases.into_iter().chain(edges) {
            let days = length.num_days();
            let range = Interval::new(start, start + length);
            assert_eq!(
                generate_buckets(asked, Tz::UTC, &range, DateTime::<Utc>::MAX_UTC).map(|s| s.len()),
                Err(AnalyticsError::TooManyBuckets {
                    interval: asked,
                    limit: MAX_BUCKETS,
                    suggestion
                }),
                "{asked:?} over {days} days"
            );
        }
    }

    #[test]
    fn instants_on_bucket_edges_count_in_the_bucket_they_start() {
        let s = series(
            BucketInterval::OneHour,
            Tz::UTC,
            "2026-06-10T10:00Z",
            "2026-06-10T13:00Z",
        );
        let sorted = [
            at(Tz::UTC, "2026-06-10T10:00Z"),
            at(Tz::UTC, "2026-06-10T11:00Z"),
            at(Tz::UTC, "2026-06-10T11:00Z"),
            at(Tz::UTC, "2026-06-10T13:00Z") - TimeDelta::microseconds(1),
            at(Tz::UTC, "2026-06-10T13:00Z"),
        ];
        // The range start counts; an instant on an edge belongs to the bucket
        // it starts; the range end is outside.
        assert_eq!(s.count_sorted(&sorted), vec![1, 2, 1]);
        assert_eq!(s.count_instants(sorted.iter().copied()), vec![1, 2, 1]);
        assert_eq!(s.bucket_index(sorted[1]), Some(1));
        assert_eq!(s.bucket_index(sorted[4]), None);
    }

    #[test]
    fn pre_aggregated_minute_counts_land_in_the_same_buckets_as_raw_instants() {
        let s = series(
            BucketInterval::FifteenMinutes,
            Madrid,
            "2026-10-25T01:30",
            "2026-10-25T03:30",
        );
        let raw: Vec<DateTime<Utc>> = (0..180)
            .map(|m| at(Madrid, "2026-10-25T01:30") + TimeDelta::seconds(m * 47))
            .collect();
        let mut per_minute: Vec<(DateTime<Utc>, u64)> = Vec::new();
        for t in &raw {
            let m = t.duration_trunc(TimeDelta::minutes(1)).expect("trunc");
            match per_minute.last_mut() {
                Some((last, n)) if *last == m => *n += 1,
                _ => per_minute.push((m, 1)),
            }
        }
        assert_eq!(s.sum_counts(per_minute), s.count_instants(raw.iter().copied()));
        assert_eq!(s.count_sorted(&raw), s.count_instants(raw.iter().copied()));
    }

    fn arb_zone() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![Tz::UTC, Madrid, Santiago, Kolkata, Lord_Howe])
    }

    fn arb_start() -> impl Strategy<Value = DateTime<Utc>> {
        (
            prop::sample::select(vec![
                "2026-03-28T12:00:00Z",
                "2026-04-04T12:00:00Z",
                "2026-09-05T12:00:00Z",
                "2026-10-24T12:00:00Z",
                "2026-10-03T00:00:00Z",
            ]),
            0i64..(36 * 3600),
        )
            .prop_map(|(b, s)| DateTime::parse_from_rfc3339(b).expect("b").with_timezone(&Utc) + TimeDelta::seconds(s))
    }

    proptest! {
        #[test]
        fn bucket_counts_sum_to_the_instants_in_the_clipped_range(
            zone in arb_zone(),
            interval in prop::sample::select(BucketInterval::ALL.to_vec()),
            start in arb_start(),
            len_s in 1i64..(5 * 24 * 3600),
            now_s in 0i64..(6 * 24 * 3600),
            offsets in prop::collection::vec(-3600i64..(6 * 24 * 3600), 0..200),
        ) {
            // Keep 1min charts under the bucket limit.
            let len_s = if interval == BucketInterval::OneMinute { len_s % (9000 * 60) + 1 } else { len_s };
            let range = Interval::new(start, start + TimeDelta::seconds(len_s));
            let now = start + TimeDelta::seconds(now_s);
            let s = generate_buckets(interval, zone, &range, now).expect("buckets");
            let instants: Vec<DateTime<Utc>> = offsets.iter().map(|o| start + TimeDelta::seconds(*o)).collect();
            let inside = instants.iter().filter(|t| range.clip_to_now(now).is_some_and(|r| r.contains(**t))).count();
            let counts = s.count_instants(instants.iter().copied());
            prop_assert_eq!(counts.iter().sum::<u64>(), inside as u64);
            let mut sorted = instants.clone();
            sorted.sort_unstable();
            prop_assert_eq!(s.count_sorted(&sorted), counts.clone());
            // Each count matches a brute-force scan of its bucket.
            for (b, c) in s.buckets.iter().zip(&counts) {
                let brute = instants.iter().filter(|t| b.start <= **t && **t < b.end
                    && range.clip_to_now(now).is_some_and(|r| r.contains(**t))).count();
                prop_assert_eq!(*c, brute as u64);
            }
        }

        #[test]
        fn buckets_are_consecutive_aligned_and_cover_the_clipped_range(
            zone in arb_zone(),
            interval in prop::sample::select(BucketInterval::ALL.to_vec()),
            start in arb_start(),
            len_s in 1i64..(4 * 24 * 3600),
        ) {
            let range = Interval::new(start, start + TimeDelta::seconds(len_s));
            let s = generate_buckets(interval, zone, &range, far_future()).expect("buckets");
            prop_assert!(!s.is_empty());
            let first = &s.buckets[0];
            let last = &s.buckets[s.len() - 1];
            prop_assert!(first.start <= range.start && range.start < first.end);
            prop_assert!(last.start < range.end && range.end <= last.end);
            for w in s.buckets.windows(2) {
                prop_assert_eq!(w[0].end, w[1].start);
            }
            for b in &s.buckets {
                prop_assert!(b.start < b.end);
                let local = to_local(b.start, zone);
                prop_assert_eq!(&b.label, &local.format("%Y-%m-%d %H:%M").to_string());
                match interval.step_minutes() {
                    Some(step) => {
                        prop_assert_eq!((local.hour() * 60 + local.minute()) % step, 0);
                        prop_assert_eq!(local.second(), 0);
                        // Exactly one step long except across Lord Howe's 30-min shift.
                        let len = Interval::new(b.start, b.end).duration_micros();
                        if zone != Lord_Howe {
                            prop_assert_eq!(len, i64::from(step) * 60_000_000);
                        }
                    }
                    None => {
                        prop_assert_eq!(b.start, local_midnight(zone, local.date()));
                        if interval == BucketInterval::OneWeek {
                            prop_assert_eq!(local.weekday(), chrono::Weekday::Mon);
                        }
                        if interval == BucketInterval::OneMonth {
                            prop_assert_eq!(local.day(), 1);
                        }
                    }
                }
            }
            // No aligned instant was skipped: every minute boundary inside a
            // sub-day bucket reads as a non-multiple of the step.
            if let Some(step) = interval.step_minutes().filter(|s| *s > 1) {
                for b in s.buckets.iter().take(40) {
                    let mut t = b.start + TimeDelta::minutes(1);
                    while t < b.end {
                        let l = to_local(t, zone);
                        let aligned = (l.hour() * 60 + l.minute()).is_multiple_of(step) && l.second() == 0;
                        prop_assert!(!aligned, "missed {}", t);
                        t += TimeDelta::minutes(1);
                    }
                }
            }
        }
    }
}
