//! Downtime by gap analysis of output-area detections inside the planned set
//! (spec §4).
//!
//! Two entry points give identical events: [`downtime_events`] scans raw
//! instants; [`downtime_events_from_spans`] works from per-minute
//! `(first, last)` summaries (plus raw instants where a minute is cut by a
//! boundary of P), which is what rollups store.

use std::borrow::Cow;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use thiserror::Error;

use super::error::AnalyticsError;
use super::interval::{Interval, IntervalSet, MICROS_PER_SECOND, micros_between, micros_to_seconds};

/// Threshold T: a gap between detections longer than T (strictly) inside the
/// planned set is a downtime event. Always > 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct DowntimeThreshold {
    micros: i64,
}

impl DowntimeThreshold {
    /// Largest accepted threshold (one year): beyond it every gap is below T
    /// anyway and the microsecond arithmetic stays far from overflow.
    pub const MAX_SECONDS: i64 = 366 * 24 * 3600;

    /// From whole seconds (`downtime_threshold`); must be in `1..=MAX_SECONDS`.
    pub fn from_seconds(seconds: i64) -> Result<Self, AnalyticsError> {
        if !(1..=Self::MAX_SECONDS).contains(&seconds) {
            return Err(AnalyticsError::InvalidThreshold {
                value: seconds.to_string(),
            });
        }
        Ok(DowntimeThreshold {
            micros: seconds * MICROS_PER_SECOND,
        })
    }

    /// From fractional seconds (a JSON number); must be finite, at least
    /// 1 µs once rounded to whole microseconds, and at most `MAX_SECONDS`.
    pub fn from_seconds_f64(seconds: f64) -> Result<Self, AnalyticsError> {
        let err = || AnalyticsError::InvalidThreshold {
            value: seconds.to_string(),
        };
        if !seconds.is_finite() || seconds <= 0.0 || seconds > Self::MAX_SECONDS as f64 {
            return Err(err());
        }
        let micros = (seconds * 1e6).round() as i64;
        if micros < 1 {
            return Err(err());
        }
        Ok(DowntimeThreshold { micros })
    }

    /// T in microseconds.
    pub fn micros(self) -> i64 {
        self.micros
    }

    /// T as a `TimeDelta`.
    pub fn as_delta(self) -> TimeDelta {
        TimeDelta::microseconds(self.micros)
    }
}

/// One downtime event `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DowntimeEvent {
    /// The last detection before the stop, or the start of the planned interval.
    pub start: DateTime<Utc>,
    /// The first detection after the stop, the end of the planned interval,
    /// or `now` when ongoing.
    pub end: DateTime<Utc>,
    /// `end - start` in microseconds.
    pub duration_micros: i64,
    /// True when the gap runs up to `now`: the line is still stopped.
    pub ongoing: bool,
}

impl DowntimeEvent {
    pub(crate) fn new(start: DateTime<Utc>, end: DateTime<Utc>, ongoing: bool) -> Self {
        DowntimeEvent {
            start,
            end,
            duration_micros: micros_between(start, end),
            ongoing,
        }
    }

    /// `end - start` in seconds, for output.
    pub fn duration_seconds(&self) -> f64 {
        micros_to_seconds(self.duration_micros)
    }

    /// `[start, end)`.
    pub fn interval(&self) -> Interval {
        Interval::new(self.start, self.end)
    }
}

/// Total duration (µs) of a list of events.
pub fn total_downtime_micros(events: &[DowntimeEvent]) -> i64 {
    events.iter().fold(0i64, |acc, e| acc.saturating_add(e.duration_micros))
}

/// P without anything at or after `now`: nothing after `now` is a downtime.
pub fn clip_plan_to_now(planned: &IntervalSet, now: DateTime<Utc>) -> IntervalSet {
    planned.intersect_interval(&Interval::new(DateTime::<Utc>::MIN_UTC, now))
}

/// Gap analysis over raw detection instants (spec §4).
///
/// For each maximal interval I of `planned` (clipped at `now`), the points
/// `[I.start, t1..tn, I.end]` where `t` are the `detections` inside I; every
/// gap between consecutive points longer than `threshold` (strictly) is an
/// event. An interval without detections is one event when `|I| > T`. The
/// last gap of an interval that ends at `now` is `ongoing`.
///
/// `detections` are ALL output-area detections (product filters do not
/// apply); ascending order is expected and restored by sorting a copy if the
/// caller did not provide it. Instants outside `planned` are ignored.
pub fn downtime_events(
    planned: &IntervalSet,
    detections: &[DateTime<Utc>],
    threshold: DowntimeThreshold,
    now: DateTime<Utc>,
) -> Vec<DowntimeEvent> {
    let detections: Cow<'_, [DateTime<Utc>]> = if detections.is_sorted() {
        Cow::Borrowed(detections)
    } else {
        let mut v = detections.to_vec();
        v.sort_unstable();
        Cow::Owned(v)
    };
    let t = threshold.as_delta();
    let mut events = Vec::new();
    for iv in clip_plan_to_now(planned, now).intervals() {
        let lo = detections.partition_point(|d| *d < iv.start);
        let hi = detections.partition_point(|d| *d < iv.end);
        let mut prev = iv.start;
        for &d in &detections[lo..hi] {
            if d - prev > t {
                events.push(DowntimeEvent::new(prev, d, false));
            }
            prev = d;
        }
        if iv.end - prev > t {
            events.push(DowntimeEvent::new(prev, iv.end, iv.end == now));
        }
    }
    events
}

/// Detections summarised as their first and last instant, e.g. all the
/// detections of one minute. A single raw instant is a span with
/// `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DetectionSpan {
    /// Earliest detection of the span.
    pub first: DateTime<Utc>,
    /// Latest detection of the span.
    pub last: DateTime<Utc>,
}

impl DetectionSpan {
    /// A span of one raw detection.
    pub fn instant(t: DateTime<Utc>) -> Self {
        DetectionSpan { first: t, last: t }
    }
}

/// Why spans cannot be used for gap analysis. These are caller bugs (never a
/// request's fault): fall back to raw instants or fix the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SpanError {
    /// `first > last`, or the span starts before the previous span ends.
    #[error("span {index} is out of order or overlaps the previous span")]
    Unordered {
        /// Position in the input.
        index: usize,
    },
    /// `last - first > T`: a gap longer than T could hide inside the span.
    #[error("span {index} is wider than the threshold; use raw instants or per-minute spans with T >= 60 s")]
    TooWide {
        /// Position in the input.
        index: usize,
    },
    /// The span has detections on both sides of a boundary of P (or of
    /// `now`): the boundary's gaps cannot be known. Pass that minute's raw
    /// instants instead.
    #[error("span {index} crosses a boundary of the planned set; pass its raw instants instead")]
    StraddlesPlan {
        /// Position in the input.
        index: usize,
    },
}

/// Gap analysis from spans; yields exactly the events of [`downtime_events`]
/// on the underlying instants.
///
/// Why this is exact: every gap between two detections of one span is at
/// most `last - first <= T`, so it can never be an event; the remaining gaps
/// are between consecutive spans (`last` of one to `first` of the next) and
/// between a boundary of P and the nearest span, which only need the span
/// ends. That holds as long as each span lies inside ONE maximal interval of
/// the planned set clipped at `now` (or entirely outside it).
///
/// Contract, checked (an `Err` rather than a wrong number):
/// - spans are in ascending order and do not overlap;
/// - `last - first <= threshold` (per-minute summaries satisfy it whenever
///   T >= 60 s);
/// - a span touching P does not cross any boundary of P clipped at `now`:
///   use per-minute spans for minutes that lie entirely inside one interval
///   of [`clip_plan_to_now`] (see [`IntervalSet::contains_interval`]) and raw
///   instants ([`DetectionSpan::instant`]) for the minutes cut by a boundary.
pub fn downtime_events_from_spans<I>(
    planned: &IntervalSet,
    spans: I,
    threshold: DowntimeThreshold,
    now: DateTime<Utc>,
) -> Result<Vec<DowntimeEvent>, SpanError>
where
    I: IntoIterator<Item = DetectionSpan>,
{
    let t = threshold.as_delta();
    let plan = clip_plan_to_now(planned, now);
    let ivs = plan.intervals();
    let mut events = Vec::new();
    let mut k = 0;
    // Last point seen inside ivs[k]; starts at the interval's start.
    let mut cursor = ivs.first().map(|i| i.start);
    let mut prev_last: Option<DateTime<Utc>> = None;

    let close = |events: &mut Vec<DowntimeEvent>, iv: &Interval, cursor: DateTime<Utc>| {
        if iv.end - cursor > t {
            events.push(DowntimeEvent::new(cursor, iv.end, iv.end == now));
        }
    };

    for (index, span) in spans.into_iter().enumerate() {
        if span.first > span.last || prev_last.is_some_and(|p| span.first < p) {
            return Err(SpanError::Unordered { index });
        }
        prev_last = Some(span.last);
        if span.last - span.first > t {
            return Err(SpanError::TooWide { index });
        }
        // Close every interval that ends before this span begins.
        while let (Some(iv), Some(c)) = (ivs.get(k), cursor) {
            if iv.end > span.first {
                break;
            }
            close(&mut events, iv, c);
            k += 1;
            cursor = ivs.get(k).map(|i| i.start);
        }
        let (Some(iv), Some(c)) = (ivs.get(k), cursor) else {
            continue; // after the last interval of P
        };
        if span.first < iv.start {
            if span.last >= iv.start {
                return Err(SpanError::StraddlesPlan { index });
            }
            continue; // between intervals of P: not planned time
        }
        if span.last >= iv.end {
            return Err(SpanError::StraddlesPlan { index });
        }
        if span.first - c > t {
            events.push(DowntimeEvent::new(c, span.first, false));
        }
        cursor = Some(span.last);
    }
    while let (Some(iv), Some(c)) = (ivs.get(k), cursor) {
        close(&mut events, iv, c);
        k += 1;
        cursor = ivs.get(k).map(|i| i.start);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DurationRound, TimeDelta, TimeZone};
    use proptest::prelude::*;

    fn t(sec: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + sec, 0).single().expect("t")
    }

    fn plan(ivs: &[(i64, i64)]) -> IntervalSet {
        IntervalSet::from_intervals(ivs.iter().map(|&(a, b)| Interval::new(t(a), t(b))))
    }

    fn thr(s: i64) -> DowntimeThreshold {
        DowntimeThreshold::from_seconds(s).expect("threshold")
    }

    fn ev(a: i64, b: i64, ongoing: bool) -> DowntimeEvent {
        DowntimeEvent::new(t(a), t(b), ongoing)
    }

    const LATER: i64 = 1_000_000;

    #[test]
    fn thresholds_are_bounded_to_one_year_and_one_microsecond() {
        // 366 days = 31 622 400 s, written out so the bound itself is pinned.
        assert_eq!(DowntimeThreshold::MAX_SECONDS, 31_622_400);
        assert!(DowntimeThreshold::from_seconds(31_622_400).is_ok());
        assert!(DowntimeThreshold::from_seconds(31_622_401).is_err());
        assert!(DowntimeThreshold::from_seconds(0).is_err());
        let micros = |s: f64| DowntimeThreshold::from_seconds_f64(s).map(DowntimeThreshold::micros);
        assert_eq!(micros(31_622_400.0), Ok(31_622_400_000_000));
        assert_eq!(micros(0.000_001), Ok(1));
        assert_eq!(micros(2.5), Ok(2_500_000));
        for refused in [
            31_622_400.5,
            0.000_000_4,
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert!(micros(refused).is_err(), "{refused} is refused");
        }
    }

    #[test]
    fn event_durations_read_in_seconds() {
        assert_eq!(ev(0, 90, false).duration_seconds(), 90.0);
        let half = DowntimeEvent::new(t(0), t(1) + TimeDelta::milliseconds(500), false);
        assert_eq!(half.duration_seconds(), 1.5);
    }

    #[test]
    fn a_detection_at_now_is_outside_the_range_so_the_stop_is_ongoing() {
        // Planned [0, 100), now = 100: the detection at 100 is not inside
        // [start, now), so the stop from 10 runs until now and is ongoing.
        let events = downtime_events(&plan(&[(0, 100)]), &[t(10), t(100)], thr(30), t(100));
        assert_eq!(events, vec![ev(10, 100, true)]);
    }

    #[test]
    fn gap_longer_than_threshold_is_an_event() {
        let p = plan(&[(0, 1000)]);
        let d = [t(10), t(20), t(200), t(250), t(990)];
        let events = downtime_events(&p, &d, thr(60), t(LATER));
        assert_eq!(events, vec![ev(20, 200, false), ev(250, 990, false)]);
        assert_eq!(events[0].duration_micros, 180 * MICROS_PER_SECOND);
    }

    #[test]
    fn gap_equal_to_threshold_is_not_an_event() {
        let p = plan(&[(0, 200)]);
        let d = [t(60), t(120), t(140)];
        assert!(downtime_events(&p, &d, thr(60), t(LATER)).is_empty());
        // One microsecond more is.
        let d2 = [t(60), t(120) + TimeDelta::microseconds(1), t(140)];
        assert_eq!(downtime_events(&p, &d2, thr(60), t(LATER)).len(), 1);
    }

    #[test]
    fn interval_boundaries_are_points_of_the_gap_analysis() {
        let p = plan(&[(0, 1000)]);
        let d = [t(100), t(150)];
        assert_eq!(
            downtime_events(&p, &d, thr(60), t(LATER)),
            vec![ev(0, 100, false), ev(150, 1000, false)]
        );
    }

    #[test]
    fn interval_without_detections_is_one_event_when_longer_than_threshold() {
        let p = plan(&[(0, 100), (200, 250)]);
        assert_eq!(downtime_events(&p, &[], thr(60), t(LATER)), vec![ev(0, 100, false)]);
    }

    #[test]
    fn gaps_outside_the_planned_set_are_not_downtime() {
        // Night between two shifts: the last detection of the first shift
        // and the first of the next do not form an event across the night.
        let p = plan(&[(0, 1000), (50_000, 51_000)]);
        let d = [t(10), t(500), t(990), t(50_010), t(50_500), t(50_990)];
        assert!(downtime_events(&p, &d, thr(600), t(LATER)).is_empty());
        // Without clipping to P, the night would be a 49 020 s stop.
        let unclipped = plan(&[(0, 51_000)]);
        assert_eq!(
            downtime_events(&unclipped, &d, thr(600), t(LATER)),
            vec![ev(990, 50_010, false)]
        );
    }

    #[test]
    fn detections_outside_the_plan_are_ignored() {
        let p = plan(&[(100, 200)]);
        // t(0) and t(300) lie outside P; t(200) is I.end, outside the
        // half-open interval, so the gap 150→200 still counts.
        let d = [t(0), t(150), t(200), t(300)];
        assert_eq!(
            downtime_events(&p, &d, thr(30), t(LATER)),
            vec![ev(100, 150, false), ev(150, 200, false)]
        );
    }

    #[test]
    fn final_gap_of_interval_ending_at_now_is_ongoing() {
        let p = plan(&[(0, 1000)]);
        let d = [t(10), t(100)];
        let events = downtime_events(&p, &d, thr(60), t(500));
        assert_eq!(events, vec![ev(10, 100, false), ev(100, 500, true)]);
        // An interval ending before now is never ongoing.
        let events = downtime_events(&p, &d, thr(60), t(5000));
        assert_eq!(events.last(), Some(&ev(100, 1000, false)));
    }

    #[test]
    fn nothing_after_now_is_downtime() {
        let p = plan(&[(0, 1000)]);
        let events = downtime_events(&p, &[t(10)], thr(60), t(50));
        assert!(events.is_empty());
        let events = downtime_events(&p, &[], thr(60), t(61));
        assert_eq!(events, vec![ev(0, 61, true)]);
    }

    #[test]
    fn unsorted_detections_are_sorted_first() {
        let p = plan(&[(0, 1000)]);
        let sorted = [t(10), t(100), t(900)];
        let shuffled = [t(900), t(10), t(100)];
        assert_eq!(
            downtime_events(&p, &shuffled, thr(60), t(LATER)),
            downtime_events(&p, &sorted, thr(60), t(LATER))
        );
    }

    #[test]
    fn threshold_must_be_positive() {
        for bad in [0, -5] {
            let e = DowntimeThreshold::from_seconds(bad).expect_err("bad");
            assert_eq!(e.field(), "downtime_threshold");
        }
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-9] {
            assert!(DowntimeThreshold::from_seconds_f64(bad).is_err(), "{bad}");
        }
        assert_eq!(
            DowntimeThreshold::from_seconds_f64(1.5).map(DowntimeThreshold::micros),
            Ok(1_500_000)
        );
    }

    #[test]
    fn spans_reject_straddling_wide_and_unordered_input() {
        let p = plan(&[(60, 600)]);
        let span = |a: i64, b: i64| DetectionSpan {
            first: t(a),
            last: t(b),
        };
        assert_eq!(
            downtime_events_from_spans(&p, [span(30, 70)], thr(60), t(LATER)),
            Err(SpanError::StraddlesPlan { index: 0 })
        );
        assert_eq!(
            downtime_events_from_spans(&p, [span(590, 610)], thr(60), t(LATER)),
            Err(SpanError::StraddlesPlan { index: 0 })
        );
        assert_eq!(
            downtime_events_from_spans(&p, [span(100, 200)], thr(60), t(LATER)),
            Err(SpanError::TooWide { index: 0 })
        );
        assert_eq!(
            downtime_events_from_spans(&p, [span(100, 120), span(110, 130)], thr(60), t(LATER)),
            Err(SpanError::Unordered { index: 1 })
        );
        // A span crossing `now` straddles the clipped plan.
        assert_eq!(
            downtime_events_from_spans(&p, [span(100, 130)], thr(60), t(120)),
            Err(SpanError::StraddlesPlan { index: 0 })
        );
        // Spans wholly outside P are ignored.
        assert_eq!(
            downtime_events_from_spans(&p, [span(0, 30), span(100, 130), span(700, 750)], thr(60), t(LATER)),
            Ok(vec![ev(130, 600, false)])
        );
    }

    #[test]
    fn spans_at_exact_edges_follow_the_raw_rules() {
        // Planned [60, 600) and [700, 900), T = 60 s. Every figure below is a
        // case where "longer than T" or a half-open edge decides.
        let p = plan(&[(60, 600), (700, 900)]);
        let span = |a: i64, b: i64| DetectionSpan {
            first: t(a),
            last: t(b),
        };
        let from_spans =
            |spans: &[DetectionSpan]| downtime_events_from_spans(&p, spans.iter().copied(), thr(60), t(LATER));
        let raw = |instants: &[i64]| {
            let instants: Vec<DateTime<Utc>> = instants.iter().map(|&s| t(s)).collect();
            downtime_events(&p, &instants, thr(60), t(LATER))
        };
        // A span starting exactly at a planned start is inside; detections
        // every T from 60 to 540 leave gaps of exactly T, and the last gap
        // 540→600 is exactly T too: [60, 600) has no event; [700, 900) is empty.
        let every_minute: Vec<i64> = (1..=9).map(|m| m * 60).collect();
        let edges: Vec<DetectionSpan> = every_minute.iter().map(|&s| span(s, s)).collect();
        assert_eq!(from_spans(&edges), Ok(vec![ev(700, 900, false)]));
        assert_eq!(raw(&every_minute), vec![ev(700, 900, false)]);
        // A span exactly T wide is accepted; two detections at the same
        // instant (a span starting where the previous ended) are in order.
        assert_eq!(
            from_spans(&[span(60, 120), span(120, 120), span(120, 180), span(600, 600)]),
            Ok(vec![ev(180, 600, false), ev(700, 900, false)])
        );
        // A span exactly at a planned end is outside it (half-open), and the
        // next interval's stop is still found.
        assert_eq!(
            from_spans(&[span(560, 560), span(600, 600), span(760, 790)]),
            Ok(vec![ev(60, 560, false), ev(790, 900, false)])
        );
        assert_eq!(
            raw(&[560, 600, 760, 790]),
            vec![ev(60, 560, false), ev(790, 900, false)]
        );
    }

    /// Random plan, detections and `now`; builds per-minute summaries the
    /// way a rollup-backed caller would.
    fn minute_spans(plan: &IntervalSet, dets: &[DateTime<Utc>], now: DateTime<Utc>) -> Vec<DetectionSpan> {
        let clipped = clip_plan_to_now(plan, now);
        let mut out = Vec::new();
        let mut i = 0;
        while i < dets.len() {
            let minute = dets[i].duration_trunc(TimeDelta::minutes(1)).expect("trunc");
            let j = i + dets[i..].partition_point(|d| *d < minute + TimeDelta::minutes(1));
            let whole = Interval::new(minute, minute + TimeDelta::minutes(1));
            if clipped.contains_interval(&whole) {
                out.push(DetectionSpan {
                    first: dets[i],
                    last: dets[j - 1],
                });
            } else {
                out.extend(dets[i..j].iter().map(|d| DetectionSpan::instant(*d)));
            }
            i = j;
        }
        out
    }

    fn arb_case() -> impl Strategy<Value = (IntervalSet, Vec<DateTime<Utc>>, i64, DateTime<Utc>)> {
        (
            prop::collection::vec((0i64..20_000, 1i64..5_000), 0..5),
            // Clustered detections so both short and long gaps occur.
            prop::collection::vec((0i64..25_000, 0i64..1_000_000), 0..300),
            60i64..900,
            0i64..30_000,
        )
            .prop_map(|(ivs, dets, thr_s, now_s)| {
                let p = IntervalSet::from_intervals(ivs.into_iter().map(|(a, len)| Interval::new(t(a), t(a + len))));
                let mut d: Vec<DateTime<Utc>> = dets
                    .into_iter()
                    .map(|(s, us)| t(s) + TimeDelta::microseconds(us))
                    .collect();
                d.sort_unstable();
                (p, d, thr_s, t(now_s))
            })
    }

    proptest! {
        #[test]
        fn summary_gap_analysis_equals_raw_gap_analysis_for_threshold_at_least_a_minute(
            (p, dets, thr_s, now) in arb_case()
        ) {
            let raw = downtime_events(&p, &dets, thr(thr_s), now);
            let spans = minute_spans(&p, &dets, now);
            let from_spans = downtime_events_from_spans(&p, spans, thr(thr_s), now);
            prop_assert_eq!(from_spans, Ok(raw));
        }

        #[test]
        fn downtime_lies_within_planned_time((p, dets, thr_s, now) in arb_case()) {
            let events = downtime_events(&p, &dets, thr(thr_s), now);
            let total = total_downtime_micros(&events);
            prop_assert!(total >= 0);
            prop_assert!(total <= clip_plan_to_now(&p, now).total_micros());
            for e in &events {
                prop_assert!(e.duration_micros > thr_s * MICROS_PER_SECOND);
                prop_assert!(p.contains_interval(&e.interval()));
                prop_assert!(e.end <= now);
                prop_assert_eq!(e.ongoing, e.end == now);
                // No detection strictly inside an event.
                prop_assert!(!dets.iter().any(|d| e.start < *d && *d < e.end));
            }
            for w in events.windows(2) {
                prop_assert!(w[0].end <= w[1].start);
            }
            // Hence availability from real events stays within [0, 100].
            let oee = super::super::oee::compute_oee(&super::super::oee::OeeInput {
                planned_micros: clip_plan_to_now(&p, now).total_micros(),
                events: &events,
                products: &[],
                good_units: 0,
            });
            prop_assert!(oee.availability >= rust_decimal::Decimal::ZERO);
            prop_assert!(oee.availability <= rust_decimal::Decimal::ONE_HUNDRED);
        }
    }
}
