//! Half-open time intervals and normalised sets of them.
//!
//! Durations are integer microseconds (`i64`): the database stores instants
//! with microsecond precision, so sums of durations stay exact.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// Microseconds in one second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;

/// Whole microseconds from `a` to `b` (negative when `b < a`), saturating
/// instead of overflowing for spans beyond ±292 000 years.
pub fn micros_between(a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    delta_micros(b - a)
}

/// Whole microseconds of a `TimeDelta`, saturating at the `i64` limits.
pub fn delta_micros(d: TimeDelta) -> i64 {
    d.num_microseconds()
        .unwrap_or(if d < TimeDelta::zero() { i64::MIN } else { i64::MAX })
}

/// Converts microseconds to seconds for JSON output.
pub fn micros_to_seconds(micros: i64) -> f64 {
    // Split so that values beyond 2^53 µs (285 years) keep their µs digits as
    // well as an f64 can.
    (micros / MICROS_PER_SECOND) as f64 + (micros % MICROS_PER_SECOND) as f64 / 1e6
}

/// A half-open interval `[start, end)` of real instants.
///
/// An interval with `end <= start` is empty; [`IntervalSet`] never stores one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Interval {
    /// First instant inside the interval.
    pub start: DateTime<Utc>,
    /// First instant after the interval.
    pub end: DateTime<Utc>,
}

impl Interval {
    /// Builds `[start, end)`; empty when `end <= start`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        Interval { start, end }
    }

    /// True when no instant lies inside.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Length in microseconds (0 when empty).
    pub fn duration_micros(&self) -> i64 {
        if self.is_empty() {
            0
        } else {
            micros_between(self.start, self.end)
        }
    }

    /// True when `start <= t < end`.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.start <= t && t < self.end
    }

    /// True when every instant of `other` lies in `self` (an empty `other`
    /// is contained in anything).
    pub fn contains_interval(&self, other: &Interval) -> bool {
        other.is_empty() || (self.start <= other.start && other.end <= self.end)
    }

    /// The common part, or `None` when it is empty.
    pub fn intersect(&self, other: &Interval) -> Option<Interval> {
        let iv = Interval::new(self.start.max(other.start), self.end.min(other.end));
        (!iv.is_empty()).then_some(iv)
    }

    /// `[start, min(end, now))`: the part of a query range that has already
    /// happened. `None` when `now <= start`.
    pub fn clip_to_now(&self, now: DateTime<Utc>) -> Option<Interval> {
        let iv = Interval::new(self.start, self.end.min(now));
        (!iv.is_empty()).then_some(iv)
    }
}

/// A set of instants stored as sorted, disjoint, non-empty intervals where
/// back-to-back intervals are merged (`[a,b) ∪ [b,c)` is stored as `[a,c)`),
/// so each stored interval is a maximal interval of the set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct IntervalSet {
    intervals: Vec<Interval>,
}

impl IntervalSet {
    /// The empty set.
    pub fn new() -> Self {
        IntervalSet::default()
    }

    /// The set covering exactly `iv` (empty when `iv` is empty).
    pub fn from_interval(iv: Interval) -> Self {
        let mut intervals = Vec::new();
        if !iv.is_empty() {
            intervals.push(iv);
        }
        IntervalSet { intervals }
    }

    /// Normalises any intervals (unsorted, overlapping, empty) into a set.
    pub fn from_intervals<I: IntoIterator<Item = Interval>>(intervals: I) -> Self {
        let mut v: Vec<Interval> = intervals.into_iter().filter(|i| !i.is_empty()).collect();
        v.sort_unstable_by_key(|i| i.start);
        let mut merged: Vec<Interval> = Vec::with_capacity(v.len());
        for iv in v {
            match merged.last_mut() {
                // `<=` merges back-to-back intervals as well as overlapping ones.
                Some(last) if iv.start <= last.end => last.end = last.end.max(iv.end),
                _ => merged.push(iv),
            }
        }
        IntervalSet { intervals: merged }
    }

    /// The maximal intervals, sorted by start.
    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }

    /// True when the set holds no instant.
    pub fn is_empty(&self) -> bool {
        self.intervals.is_empty()
    }

    /// Total length in microseconds; never double counts since the stored
    /// intervals are disjoint.
    pub fn total_micros(&self) -> i64 {
        self.intervals
            .iter()
            .fold(0i64, |acc, i| acc.saturating_add(i.duration_micros()))
    }

    /// Union of two sets.
    pub fn union(&self, other: &IntervalSet) -> IntervalSet {
        IntervalSet::from_intervals(self.intervals.iter().chain(other.intervals.iter()).copied())
    }

    /// The part of the set inside `iv`.
    pub fn intersect_interval(&self, iv: &Interval) -> IntervalSet {
        if iv.is_empty() {
            return IntervalSet::new();
        }
        // Skip intervals ending at or before iv.start without scanning them.
        let first = self.intervals.partition_point(|i| i.end <= iv.start);
        let intervals = self.intervals[first..]
            .iter()
            .take_while(|i| i.start < iv.end)
            .filter_map(|i| i.intersect(iv))
            .collect();
        // Intersections of disjoint, non-adjacent intervals with one interval
        // stay disjoint and non-adjacent: no re-normalisation needed.
        IntervalSet { intervals }
    }

    /// Intersection of two sets.
    pub fn intersection(&self, other: &IntervalSet) -> IntervalSet {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.intervals.len() && j < other.intervals.len() {
            let (a, b) = (&self.intervals[i], &other.intervals[j]);
            if let Some(c) = a.intersect(b) {
                out.push(c);
            }
            if a.end <= b.end {
                i += 1;
            } else {
                j += 1;
            }
        }
        IntervalSet { intervals: out }
    }

    /// The instants of the set that are not in `other` (planned stops
    /// taken out of shift occurrences), in O(n + m).
    pub fn difference(&self, other: &IntervalSet) -> IntervalSet {
        let mut out = Vec::with_capacity(self.intervals.len());
        let mut first = 0;
        for a in &self.intervals {
            // Intervals of `other` ending at or before `a` cannot reach a later one either.
            while other.intervals.get(first).is_some_and(|b| b.end <= a.start) {
                first += 1;
            }
            let mut from = a.start;
            for b in other.intervals[first..].iter().take_while(|b| b.start < a.end) {
                if b.start > from {
                    out.push(Interval::new(from, b.start));
                }
                from = from.max(b.end);
                if from >= a.end {
                    break;
                }
            }
            if from < a.end {
                out.push(Interval::new(from, a.end));
            }
        }
        // Pieces of one interval are separated by `other`, pieces of two by
        // the gaps of `self`: still sorted, disjoint and non-adjacent.
        IntervalSet { intervals: out }
    }

    /// The maximal interval containing `t`, if any (binary search).
    pub fn interval_containing(&self, t: DateTime<Utc>) -> Option<&Interval> {
        let idx = self.intervals.partition_point(|i| i.start <= t);
        idx.checked_sub(1)
            .and_then(|k| self.intervals.get(k))
            .filter(|i| i.contains(t))
    }

    /// True when `t` lies in the set.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.interval_containing(t).is_some()
    }

    /// True when all of `iv` lies inside ONE maximal interval of the set
    /// (an empty `iv` is always contained).
    pub fn contains_interval(&self, iv: &Interval) -> bool {
        iv.is_empty()
            || self
                .interval_containing(iv.start)
                .is_some_and(|i| i.contains_interval(iv))
    }

    /// How many of the ascending `sorted` instants lie in the set, in
    /// O(k log n) for k intervals.
    pub fn count_sorted(&self, sorted: &[DateTime<Utc>]) -> usize {
        self.intervals
            .iter()
            .map(|i| {
                let lo = sorted.partition_point(|t| *t < i.start);
                let hi = sorted.partition_point(|t| *t < i.end);
                hi.saturating_sub(lo)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use proptest::prelude::*;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_775_000_000 + min * 60, 0).single().expect("valid")
    }

    fn iv(a: i64, b: i64) -> Interval {
        Interval::new(t(a), t(b))
    }

    #[test]
    fn durations_beyond_the_microsecond_range_saturate_with_their_sign() {
        // i64 microseconds reach about ±292 000 years; 300 000 years do not fit.
        let far = TimeDelta::days(300_000 * 366);
        assert_eq!(delta_micros(far), i64::MAX);
        assert_eq!(delta_micros(-far), i64::MIN);
        assert_eq!(delta_micros(TimeDelta::seconds(-3)), -3_000_000);
    }

    #[test]
    fn sets_count_sorted_instants_half_open_and_know_when_empty() {
        let set = IntervalSet::from_intervals([iv(0, 10), iv(15, 20)]);
        // 0 and 5 are in [0, 10); 10 is not; 15 is in [15, 20); 20 is not.
        let instants = [t(0), t(5), t(10), t(15), t(20)];
        assert_eq!(set.count_sorted(&instants), 3);
        // Each interval on its own too (a wrong bound can hide in the sum).
        assert_eq!(IntervalSet::from_intervals([iv(0, 10)]).count_sorted(&instants), 2);
        assert_eq!(IntervalSet::from_intervals([iv(15, 20)]).count_sorted(&instants), 1);
        assert!(!set.is_empty());
        assert!(IntervalSet::new().is_empty());
        assert!(IntervalSet::from_intervals([iv(3, 3)]).is_empty());
    }

    #[test]
    fn interval_is_half_open() {
        let i = iv(0, 10);
        assert!(i.contains(t(0)));
        assert!(!i.contains(t(10)));
        assert_eq!(i.duration_micros(), 600 * MICROS_PER_SECOND);
    }

    #[test]
    fn back_to_back_intervals_merge_into_one() {
        let s = IntervalSet::from_intervals([iv(10, 20), iv(0, 10)]);
        assert_eq!(s.intervals(), &[iv(0, 20)]);
    }

    #[test]
    fn overlapping_intervals_are_not_double_counted() {
        let s = IntervalSet::from_intervals([iv(0, 30), iv(10, 20), iv(25, 40)]);
        assert_eq!(s.intervals(), &[iv(0, 40)]);
        assert_eq!(s.total_micros(), 40 * 60 * MICROS_PER_SECOND);
    }

    #[test]
    fn empty_intervals_are_dropped() {
        let s = IntervalSet::from_intervals([iv(5, 5), iv(9, 3)]);
        assert!(s.is_empty());
        assert_eq!(s.total_micros(), 0);
    }

    #[test]
    fn clip_to_now_keeps_only_the_past() {
        assert_eq!(iv(0, 10).clip_to_now(t(4)), Some(iv(0, 4)));
        assert_eq!(iv(0, 10).clip_to_now(t(20)), Some(iv(0, 10)));
        assert_eq!(iv(0, 10).clip_to_now(t(0)), None);
    }

    #[test]
    fn intersect_interval_cuts_edges() {
        let s = IntervalSet::from_intervals([iv(0, 10), iv(20, 30), iv(40, 50)]);
        assert_eq!(
            s.intersect_interval(&iv(5, 45)).intervals(),
            &[iv(5, 10), iv(20, 30), iv(40, 45)]
        );
    }

    #[test]
    fn contains_uses_half_open_membership() {
        let s = IntervalSet::from_intervals([iv(0, 10), iv(20, 30)]);
        assert!(s.contains(t(0)) && s.contains(t(25)));
        assert!(!s.contains(t(10)) && !s.contains(t(30)) && !s.contains(t(-1)));
        assert!(s.contains_interval(&iv(21, 30)));
        assert!(!s.contains_interval(&iv(5, 25)));
    }

    #[test]
    fn count_sorted_counts_instants_inside_the_set() {
        let s = IntervalSet::from_intervals([iv(0, 10), iv(20, 30)]);
        let pts = [t(-1), t(0), t(9), t(10), t(20), t(30)];
        assert_eq!(s.count_sorted(&pts), 3);
    }

    #[test]
    fn micros_to_seconds_keeps_fractions() {
        assert_eq!(micros_to_seconds(1_500_000), 1.5);
        assert_eq!(micros_to_seconds(-1_500_000), -1.5);
    }

    fn arb_set() -> impl Strategy<Value = IntervalSet> {
        prop::collection::vec((0i64..500, 0i64..60), 0..8)
            .prop_map(|v| IntervalSet::from_intervals(v.into_iter().map(|(a, len)| iv(a, a + len))))
    }

    fn brute_minutes(s: &IntervalSet) -> Vec<i64> {
        (-10..600).filter(|m| s.contains(t(*m))).collect()
    }

    proptest! {
        #[test]
        fn union_is_commutative_and_never_double_counts(a in arb_set(), b in arb_set()) {
            let ab = a.union(&b);
            prop_assert_eq!(&ab, &b.union(&a));
            let inter = a.intersection(&b);
            prop_assert_eq!(
                ab.total_micros(),
                a.total_micros() + b.total_micros() - inter.total_micros()
            );
            prop_assert_eq!(a.union(&a), a.clone());
            // Stored intervals are sorted, disjoint and non-adjacent.
            for w in ab.intervals().windows(2) {
                prop_assert!(w[0].end < w[1].start);
            }
            // Same membership as the naive union (minute grid).
            let naive: Vec<i64> = (-10..600).filter(|m| a.contains(t(*m)) || b.contains(t(*m))).collect();
            prop_assert_eq!(brute_minutes(&ab), naive);
        }

        #[test]
        fn intersection_matches_pointwise_membership(a in arb_set(), b in arb_set(), lo in 0i64..500, len in 0i64..200) {
            let inter = a.intersection(&b);
            let naive: Vec<i64> = (-10..600).filter(|m| a.contains(t(*m)) && b.contains(t(*m))).collect();
            prop_assert_eq!(brute_minutes(&inter), naive);
            let w = iv(lo, lo + len);
            let cut = a.intersect_interval(&w);
            prop_assert_eq!(&cut, &a.intersection(&IntervalSet::from_interval(w)));
        }

        #[test]
        fn difference_matches_pointwise_membership_and_adds_up(a in arb_set(), b in arb_set()) {
            let diff = a.difference(&b);
            let naive: Vec<i64> = (-10..600).filter(|m| a.contains(t(*m)) && !b.contains(t(*m))).collect();
            prop_assert_eq!(brute_minutes(&diff), naive);
            prop_assert_eq!(diff.total_micros(), a.total_micros() - a.intersection(&b).total_micros());
            for w in diff.intervals().windows(2) {
                prop_assert!(w[0].end < w[1].start);
            }
            prop_assert!(diff.intervals().iter().all(|i| !i.is_empty()));
            prop_assert_eq!(a.difference(&IntervalSet::new()), a.clone());
        }
    }
}
