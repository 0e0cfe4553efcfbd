//! Stored gaps: the gaps longer than a floor between consecutive detections
//! of one area, which is all that gap analysis needs for any threshold at or
//! above that floor (semantics §4). A store keeps them exact as detections
//! arrive in any order ([`split_gap`]); readers turn them into downtime
//! events whose cost follows stops, not detections
//! ([`downtime_events_from_gaps`]), joining raw instants after a cut where
//! the store may still be incomplete ([`timeline_gaps`]).
//!
//! Why it is exact: a gap of consecutive detections no longer than the floor
//! is no longer than T, and every piece of it inside the planned set is
//! shorter still, so it can never be an event. The events of
//! [`super::downtime::downtime_events`] are exactly the pieces, inside the
//! planned set clipped at `now`, of the gaps between consecutive detections
//! (counting the unbounded gaps before the first and after the last one)
//! that are longer than T.

use chrono::{DateTime, TimeDelta, Utc};

use super::downtime::{DowntimeEvent, DowntimeThreshold, clip_plan_to_now};
use super::interval::{IntervalSet, MICROS_PER_SECOND};

/// The gap floor: only gaps longer than it (strictly) are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GapFloor {
    micros: i64,
}

impl GapFloor {
    /// The default floor, 5 s: below the shortest micro-stop threshold plants use.
    pub const DEFAULT_SECONDS: i64 = 5;

    /// From microseconds; `None` unless positive.
    pub fn from_micros(micros: i64) -> Option<Self> {
        (micros > 0).then_some(GapFloor { micros })
    }

    /// From whole seconds; `None` unless positive and at most a day.
    pub fn from_seconds(seconds: i64) -> Option<Self> {
        (1..=86_400).contains(&seconds).then(|| GapFloor {
            micros: seconds * MICROS_PER_SECOND,
        })
    }

    /// The floor in microseconds.
    pub fn micros(self) -> i64 {
        self.micros
    }

    /// True when stored gaps answer gap analysis with this threshold.
    pub fn serves(self, threshold: DowntimeThreshold) -> bool {
        threshold.micros() >= self.micros
    }
}

impl Default for GapFloor {
    fn default() -> Self {
        GapFloor {
            micros: Self::DEFAULT_SECONDS * MICROS_PER_SECOND,
        }
    }
}

/// The time between two consecutive detections of one area. `after` is the
/// detection before the gap (`None`: there is none, the gap runs from the
/// beginning of time); `before` the detection after it (`None`: to the end
/// of time). A store holds only gaps with both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Gap {
    /// The detection that opens the gap.
    pub after: Option<DateTime<Utc>>,
    /// The detection that closes it.
    pub before: Option<DateTime<Utc>>,
}

impl Gap {
    /// A gap with both ends.
    pub fn between(after: DateTime<Utc>, before: DateTime<Utc>) -> Self {
        Gap {
            after: Some(after),
            before: Some(before),
        }
    }

    /// True when `t` lies strictly inside the gap.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.after.is_none_or(|a| a < t) && self.before.is_none_or(|b| t < b)
    }

    /// Length in microseconds, `None` when unbounded.
    pub fn micros(&self) -> Option<i64> {
        match (self.after, self.before) {
            (Some(a), Some(b)) => Some((b - a).num_microseconds().unwrap_or(i64::MAX)),
            _ => None,
        }
    }

    /// True when the gap is longer than `micros` (unbounded gaps always are).
    pub fn longer_than(&self, micros: i64) -> bool {
        self.micros().is_none_or(|m| m > micros)
    }
}

fn longer_than_floor(after: DateTime<Utc>, before: DateTime<Utc>, floor: GapFloor) -> bool {
    before - after > TimeDelta::microseconds(floor.micros)
}

/// The gaps longer than `floor` between consecutive instants of `instants`
/// (ascending; equal instants are no gap). Only bounded gaps.
pub fn gaps_between(instants: &[DateTime<Utc>], floor: GapFloor) -> Vec<Gap> {
    instants
        .windows(2)
        .filter(|w| longer_than_floor(w[0], w[1], floor))
        .map(|w| Gap::between(w[0], w[1]))
        .collect()
}

/// The stored gaps that replace `gap` once the new detections `inside`
/// (ascending, each strictly inside `gap`) are added: the gaps longer than
/// `floor` among `[gap.after, inside.., gap.before]`, bounded ones only.
/// A new detection outside every stored gap (and outside the unbounded gaps
/// before the first and after the last detection) changes nothing: its
/// neighbours were at most `floor` apart.
pub fn split_gap(gap: Gap, inside: &[DateTime<Utc>], floor: GapFloor) -> Vec<Gap> {
    let points: Vec<DateTime<Utc>> = gap
        .after
        .into_iter()
        .chain(inside.iter().copied())
        .chain(gap.before)
        .collect();
    gaps_between(&points, floor)
}

/// The gap list of one area up to the end of a query, built from what a
/// store knows before `cut` and raw instants from `cut` on:
///
/// - `stored`: bounded stored gaps that open before `cut`, ascending. Gaps
///   no longer than the threshold of the caller may be left out.
/// - `first`, `last`: the store's first and last detection of the area.
/// - `raw`: every detection in `[cut, end)`, ascending, where `end` is at
///   or after the end of the planned set the events are asked for.
///
/// Before `cut` the store must be complete; after it, it may miss
/// detections (rows not yet folded in), which `raw` supplies.
pub fn timeline_gaps(
    stored: &[Gap],
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    cut: DateTime<Utc>,
    raw: &[DateTime<Utc>],
    floor: GapFloor,
) -> Vec<Gap> {
    let mut known: Vec<Gap> = Vec::with_capacity(stored.len() + 2);
    match (first, last) {
        (Some(first), Some(last)) => {
            known.push(Gap {
                after: None,
                before: Some(first),
            });
            known.extend(stored.iter().copied());
            known.push(Gap {
                after: Some(last),
                before: None,
            });
        }
        _ => known.push(Gap {
            after: None,
            before: None,
        }),
    }
    let mut out: Vec<Gap> = Vec::with_capacity(known.len() + raw.len() / 8 + 2);
    for gap in known.into_iter().filter(|g| g.after.is_none_or(|a| a < cut)) {
        if gap.before.is_some_and(|b| b <= cut) {
            out.push(gap);
        } else {
            // The one gap holding `cut`: it closes at the first detection
            // the store may not know yet.
            let before = match (gap.before, raw.first()) {
                (Some(b), Some(r)) => Some(b.min(*r)),
                (None, Some(r)) => Some(*r),
                (b, None) => b,
            };
            out.push(Gap {
                after: gap.after,
                before,
            });
        }
    }
    out.extend(gaps_between(raw, floor));
    if let Some(last_raw) = raw.last() {
        out.push(Gap {
            after: Some(*last_raw),
            before: None,
        });
    }
    out
}

/// Downtime events from gaps (semantics §4): the pieces of each gap inside
/// the planned set clipped at `now` that are longer than `threshold`; a
/// piece ending at `now` is ongoing.
///
/// Contract: `gaps` are ascending and disjoint and include every gap
/// between consecutive detections that is longer than `threshold`,
/// including the unbounded ones before the first and after the last
/// detection (a single unbounded gap when there is none). Gaps no longer
/// than `threshold` may be present or not. Then the events equal those of
/// [`super::downtime::downtime_events`] on the detections themselves.
pub fn downtime_events_from_gaps(
    planned: &IntervalSet,
    gaps: &[Gap],
    threshold: DowntimeThreshold,
    now: DateTime<Utc>,
) -> Vec<DowntimeEvent> {
    let t = threshold.as_delta();
    let plan = clip_plan_to_now(planned, now);
    let mut events = Vec::new();
    let mut g = 0;
    for iv in plan.intervals() {
        // Skip gaps that close at or before this interval starts.
        while gaps.get(g).is_some_and(|gap| gap.before.is_some_and(|b| b <= iv.start)) {
            g += 1;
        }
        let mut k = g;
        while let Some(gap) = gaps.get(k) {
            if gap.after.is_some_and(|a| a >= iv.end) {
                break;
            }
            let start = gap.after.map_or(iv.start, |a| a.max(iv.start));
            let end = gap.before.map_or(iv.end, |b| b.min(iv.end));
            if end - start > t {
                events.push(DowntimeEvent::new(start, end, end == now));
            }
            k += 1;
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downtime::downtime_events;
    use crate::interval::Interval;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(sec: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + sec, 0).single().expect("t")
    }

    fn floor(s: i64) -> GapFloor {
        GapFloor::from_seconds(s).expect("floor")
    }

    fn thr(s: i64) -> DowntimeThreshold {
        DowntimeThreshold::from_seconds(s).expect("threshold")
    }

    fn plan(ivs: &[(i64, i64)]) -> IntervalSet {
        IntervalSet::from_intervals(ivs.iter().map(|&(a, b)| Interval::new(t(a), t(b))))
    }

    /// What a store holds after every batch: split each gap (bounded or
    /// not) that a new instant falls into.
    fn maintain(stored: &mut Vec<Gap>, known: &mut Vec<DateTime<Utc>>, batch: &[DateTime<Utc>], floor: GapFloor) {
        let mut batch = batch.to_vec();
        batch.sort_unstable();
        let mut open: Vec<Gap> = Vec::new();
        match (known.first(), known.last()) {
            (Some(f), Some(l)) => {
                open.push(Gap {
                    after: None,
                    before: Some(*f),
                });
                open.extend(stored.iter().copied());
                open.push(Gap {
                    after: Some(*l),
                    before: None,
                });
            }
            _ => open.push(Gap {
                after: None,
                before: None,
            }),
        }
        for gap in open {
            let inside: Vec<DateTime<Utc>> = batch.iter().copied().filter(|x| gap.contains(*x)).collect();
            if inside.is_empty() {
                continue;
            }
            stored.retain(|s| *s != gap);
            stored.extend(split_gap(gap, &inside, floor));
        }
        stored.sort_unstable();
        known.extend(batch);
        known.sort_unstable();
    }

    #[test]
    fn floors_are_positive_and_at_most_a_day() {
        assert!(GapFloor::from_seconds(0).is_none());
        assert!(GapFloor::from_seconds(86_401).is_none());
        assert_eq!(GapFloor::default(), floor(5));
        assert!(floor(5).serves(thr(5)));
        assert!(!floor(5).serves(thr(4)));
        assert!(GapFloor::from_micros(0).is_none());
    }

    #[test]
    fn a_gap_equal_to_the_floor_is_not_stored() {
        let gaps = gaps_between(&[t(0), t(5), t(11), t(11)], floor(5));
        assert_eq!(gaps, vec![Gap::between(t(5), t(11))]);
    }

    #[test]
    fn a_backfilled_detection_splits_the_gap_it_falls_into() {
        let gap = Gap::between(t(0), t(100));
        assert_eq!(
            split_gap(gap, &[t(40), t(43)], floor(5)),
            vec![Gap::between(t(0), t(40)), Gap::between(t(43), t(100))]
        );
        let head = Gap {
            after: None,
            before: Some(t(100)),
        };
        assert_eq!(split_gap(head, &[t(90)], floor(5)), vec![Gap::between(t(90), t(100))]);
    }

    #[test]
    fn events_are_the_pieces_of_long_gaps_inside_the_plan() {
        let p = plan(&[(0, 100), (200, 300)]);
        let gaps = vec![
            Gap {
                after: None,
                before: Some(t(10)),
            },
            Gap::between(t(10), t(50)),
            Gap::between(t(50), t(250)),
            Gap::between(t(250), t(280)),
            Gap {
                after: Some(t(280)),
                before: None,
            },
        ];
        let events = downtime_events_from_gaps(&p, &gaps, thr(9), t(290));
        let raw = downtime_events(&p, &[t(10), t(50), t(250), t(280)], thr(9), t(290));
        assert_eq!(events, raw);
        assert_eq!(events.len(), 6);
        assert!(events[5].ongoing);
    }

    #[test]
    fn the_gap_holding_the_cut_closes_at_the_first_raw_detection() {
        // The store knows 0 and 100 (a gap); a detection at 60 was written
        // after the cut at 50 and only raw rows know it.
        let gaps = timeline_gaps(
            &[Gap::between(t(0), t(100))],
            Some(t(0)),
            Some(t(100)),
            t(50),
            &[t(60), t(100)],
            floor(5),
        );
        assert_eq!(
            gaps,
            vec![
                Gap {
                    after: None,
                    before: Some(t(0)),
                },
                Gap::between(t(0), t(60)),
                Gap::between(t(60), t(100)),
                Gap {
                    after: Some(t(100)),
                    before: None,
                },
            ]
        );
    }

    fn arb_instants() -> impl Strategy<Value = Vec<DateTime<Utc>>> {
        // Clusters of detections so that short and long gaps both occur.
        prop::collection::vec((0i64..6_000, 0i64..3_000_000), 0..200).prop_map(|v| {
            let mut d: Vec<DateTime<Utc>> = v
                .into_iter()
                .map(|(s, us)| t(s) + TimeDelta::microseconds(us))
                .collect();
            d.sort_unstable();
            d
        })
    }

    fn arb_plan() -> impl Strategy<Value = IntervalSet> {
        prop::collection::vec((-500i64..6_500, 1i64..2_000), 0..5)
            .prop_map(|v| IntervalSet::from_intervals(v.into_iter().map(|(a, len)| Interval::new(t(a), t(a + len)))))
    }

    proptest! {
        #[test]
        fn stores_kept_batch_by_batch_equal_gaps_of_all_detections(
            batches in prop::collection::vec(arb_instants(), 1..5),
            floor_s in 1i64..20,
        ) {
            let f = floor(floor_s);
            let mut stored = Vec::new();
            let mut known = Vec::new();
            for batch in &batches {
                maintain(&mut stored, &mut known, batch, f);
            }
            prop_assert_eq!(stored, gaps_between(&known, f));
        }

        #[test]
        fn gap_analysis_from_a_store_and_raw_rows_equals_raw_gap_analysis(
            dets in arb_instants(),
            unfolded in arb_instants(),
            p in arb_plan(),
            floor_s in 1i64..20,
            extra_s in 0i64..120,
            cut_s in -100i64..6_500,
            now_s in 0i64..7_000,
            drop_short in any::<bool>(),
        ) {
            let f = floor(floor_s);
            let threshold = thr(floor_s + extra_s);
            let now = t(now_s);
            let cut = t(cut_s);
            // The store knows every detection before the cut and, after it,
            // only some (the others were written straight to the raw table).
            let mut truth: Vec<DateTime<Utc>> = dets.iter().copied().chain(unfolded.iter().copied()).collect();
            truth.sort_unstable();
            let mut store_knows: Vec<DateTime<Utc>> = dets.clone();
            store_knows.extend(unfolded.iter().copied().filter(|u| *u < cut));
            store_knows.sort_unstable();
            let stored: Vec<Gap> = gaps_between(&store_knows, f)
                .into_iter()
                .filter(|g| g.after.is_some_and(|a| a < cut))
                .filter(|g| !drop_short || g.longer_than(threshold.micros()))
                .collect();
            let end = t(9_000);
            let raw: Vec<DateTime<Utc>> = truth.iter().copied().filter(|d| *d >= cut && *d < end).collect();
            let gaps = timeline_gaps(&stored, store_knows.first().copied(), store_knows.last().copied(), cut, &raw, f);
            let expected = downtime_events(&p, &truth, threshold, now);
            prop_assert_eq!(downtime_events_from_gaps(&p, &gaps, threshold, now), expected);
        }
    }
}
