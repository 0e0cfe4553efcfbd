//! Persisted downtime events: recomputing a window without duplicating
//! events or losing reason codes (spec §4, last rule).
//!
//! The storage layer loads the stored events of a window, recomputes the
//! events with [`super::downtime::downtime_events`] (the line's own
//! threshold) and applies the [`ReconcilePlan`] from [`reconcile_events`] in
//! one transaction. Both steps here are pure.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::downtime::DowntimeEvent;
use super::interval::{Interval, IntervalSet};

/// The window to recompute so that its edges are true points of the gap
/// analysis (a detection or a boundary of P), never a cut through a stop.
///
/// A gap analysis over `[ws, we)` treats `ws` and `we` as boundaries; if a
/// stop spans `ws`, it would come out truncated (or vanish below T). So:
/// - if `ws` lies inside an interval I of `planned`, the window starts at the
///   last detection before `ws` within I (`last_before`), or at `I.start`
///   when there is none in I;
/// - if `we` lies inside an interval J, the window ends at the first
///   detection at or after `we` within J (`first_from_end`), or at `J.end`.
///
/// `planned` must be P computed (and clipped at `now`) over a range reaching
/// back far enough before `ws` to contain the start of the interval holding
/// it; for a 24/7 line P has no boundary, and the lookback bounds how far a
/// stop is traced back. `last_before` is the latest output-area detection
/// `< ws`, `first_from_end` the earliest `>= we`, both of the line.
pub fn expand_window(
    planned: &IntervalSet,
    window: Interval,
    last_before: Option<DateTime<Utc>>,
    first_from_end: Option<DateTime<Utc>>,
) -> Interval {
    let start = match planned.interval_containing(window.start) {
        Some(i) => last_before
            .filter(|d| *d >= i.start && *d < window.start)
            .unwrap_or(i.start),
        None => window.start,
    };
    let end = match planned.interval_containing(window.end) {
        Some(j) => first_from_end
            .filter(|d| *d >= window.end && *d < j.end)
            .unwrap_or(j.end),
        None => window.end,
    };
    Interval::new(start, end)
}

/// A row of `downtime_events_{line}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Primary key.
    pub event_id: i64,
    /// Stored start.
    pub start: DateTime<Utc>,
    /// Stored end.
    pub end: DateTime<Utc>,
    /// Stored `ongoing` flag.
    pub ongoing: bool,
    /// Reason code a person assigned, if any.
    pub reason_code: Option<String>,
    /// Free-text reason (the comment) a person assigned, if any.
    pub reason: Option<String>,
    /// Reason of the tenant's reason tree a person assigned, if any.
    pub reason_id: Option<i32>,
    /// Incident a person attached the stop to, if any.
    pub incident_id: Option<i32>,
}

impl StoredEvent {
    fn has_reason(&self) -> bool {
        self.reason_pair() != Explanation::default()
    }

    fn reason_pair(&self) -> Explanation {
        Explanation {
            reason_code: self.reason_code.clone(),
            reason: self.reason.clone(),
            reason_id: self.reason_id,
            incident_id: self.incident_id,
        }
    }

    fn overlap_micros(&self, e: &DowntimeEvent) -> i64 {
        Interval::new(self.start, self.end)
            .intersect(&e.interval())
            .map_or(0, |i| i.duration_micros())
    }
}

/// Everything a person gave a downtime event: it travels as one piece, so
/// a recomputation never mixes the explanations of two stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Explanation {
    reason_code: Option<String>,
    reason: Option<String>,
    reason_id: Option<i32>,
    incident_id: Option<i32>,
}

/// An event to write, with the reason it carries over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventWrite {
    /// The recomputed event.
    pub event: DowntimeEvent,
    /// Reason code carried over from the stored event(s) it replaces.
    pub reason_code: Option<String>,
    /// Reason carried over from the stored event(s) it replaces.
    pub reason: Option<String>,
    /// Reason id carried over from the stored event(s) it replaces.
    pub reason_id: Option<i32>,
    /// Incident carried over from the stored event(s) it replaces.
    pub incident_id: Option<i32>,
}

/// What to do to the stored events of a window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcilePlan {
    /// New rows.
    pub inserts: Vec<EventWrite>,
    /// Rows to overwrite, by `event_id` (ids stay stable for clients).
    pub updates: Vec<(i64, EventWrite)>,
    /// Rows to delete: superseded and without a reason that would be lost.
    pub deletes: Vec<i64>,
    /// Rows left untouched because deleting them would lose a reason that
    /// no recomputed event could carry (the stop vanished with late data, or
    /// two explained stops merged). Worth a warning or review flag.
    pub orphaned: Vec<i64>,
}

/// Reconciles the stored events of a window with the recomputed ones.
///
/// `stored` are the rows overlapping the window (see [`expand_window`]),
/// `fresh` the events recomputed over it. Rules:
/// - each fresh event reuses the unclaimed stored row it overlaps most
///   (ties: earlier start, then lower id), else it is inserted; an identical
///   row is left alone, so recomputing twice changes nothing;
/// - a fresh event keeps the reason of the row it reuses; if that row has
///   none, it inherits the reason of the overlapping row with a reason that
///   it overlaps most. So when late detections split an explained stop, every
///   part keeps the explanation;
/// - unclaimed rows are deleted unless they hold a reason that no fresh event
///   overlapping them carries (the same code on another stop does not
///   count): those are reported in `orphaned` and kept.
pub fn reconcile_events(stored: &[StoredEvent], fresh: &[DowntimeEvent]) -> ReconcilePlan {
    let mut plan = ReconcilePlan::default();
    let mut claimed = vec![false; stored.len()];
    // The reasons fresh events carry, with the stop that carries each: a
    // stored reason counts as kept only on a stop overlapping its own.
    let mut carried: Vec<(&DowntimeEvent, Explanation)> = Vec::new();
    // Most overlap first; then earlier start, then lower id.
    let best = |e: &DowntimeEvent, eligible: &dyn Fn(usize) -> bool| -> Option<usize> {
        stored
            .iter()
            .enumerate()
            .filter(|(i, s)| eligible(*i) && s.overlap_micros(e) > 0)
            .max_by(|(_, a), (_, b)| {
                a.overlap_micros(e)
                    .cmp(&b.overlap_micros(e))
                    .then(b.start.cmp(&a.start))
                    .then(b.event_id.cmp(&a.event_id))
            })
            .map(|(i, _)| i)
    };
    for e in fresh {
        let row = best(e, &|i| !claimed[i]);
        let reason_row = row
            .filter(|&i| stored[i].has_reason())
            .or_else(|| best(e, &|i| stored[i].has_reason()));
        let explanation = reason_row.map_or_else(Explanation::default, |i| stored[i].reason_pair());
        if explanation != Explanation::default() {
            carried.push((e, explanation.clone()));
        }
        let write = EventWrite {
            event: e.clone(),
            reason_code: explanation.reason_code,
            reason: explanation.reason,
            reason_id: explanation.reason_id,
            incident_id: explanation.incident_id,
        };
        match row {
            Some(i) => {
                claimed[i] = true;
                let s = &stored[i];
                let same = s.start == e.start
                    && s.end == e.end
                    && s.ongoing == e.ongoing
                    && s.reason_code == write.reason_code
                    && s.reason == write.reason
                    && s.reason_id == write.reason_id
                    && s.incident_id == write.incident_id;
                if !same {
                    plan.updates.push((s.event_id, write));
                }
            }
            None => plan.inserts.push(write),
        }
    }
    for (i, s) in stored.iter().enumerate() {
        if claimed[i] {
            continue;
        }
        let kept_on_its_stop = carried
            .iter()
            .any(|(e, pair)| *pair == s.reason_pair() && s.overlap_micros(e) > 0);
        if s.has_reason() && !kept_on_its_stop {
            plan.orphaned.push(s.event_id);
        } else {
            plan.deletes.push(s.event_id);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::super::downtime::{DowntimeThreshold, downtime_events};
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(sec: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + sec, 0).single().expect("t")
    }

    fn ev(a: i64, b: i64, ongoing: bool) -> DowntimeEvent {
        DowntimeEvent {
            start: t(a),
            end: t(b),
            duration_micros: (b - a) * 1_000_000,
            ongoing,
        }
    }

    fn row(id: i64, a: i64, b: i64, reason: Option<&str>) -> StoredEvent {
        StoredEvent {
            event_id: id,
            start: t(a),
            end: t(b),
            ongoing: false,
            reason_code: reason.map(str::to_owned),
            reason: None,
            reason_id: None,
            incident_id: None,
        }
    }

    /// Applies a plan to a table, as the storage layer would.
    fn apply(stored: &[StoredEvent], plan: &ReconcilePlan) -> Vec<StoredEvent> {
        let mut table: Vec<StoredEvent> = stored
            .iter()
            .filter(|s| !plan.deletes.contains(&s.event_id))
            .cloned()
            .collect();
        for (id, w) in &plan.updates {
            if let Some(s) = table.iter_mut().find(|s| s.event_id == *id) {
                *s = StoredEvent {
                    event_id: *id,
                    start: w.event.start,
                    end: w.event.end,
                    ongoing: w.event.ongoing,
                    reason_code: w.reason_code.clone(),
                    reason: w.reason.clone(),
                    reason_id: w.reason_id,
                    incident_id: w.incident_id,
                };
            }
        }
        let first_id = table.iter().map(|s| s.event_id).max().unwrap_or(0) + 1000;
        for (id, w) in (first_id..).zip(&plan.inserts) {
            table.push(StoredEvent {
                event_id: id,
                start: w.event.start,
                end: w.event.end,
                ongoing: w.event.ongoing,
                reason_code: w.reason_code.clone(),
                reason: w.reason.clone(),
                reason_id: w.reason_id,
                incident_id: w.incident_id,
            });
        }
        table
    }

    #[test]
    fn recomputing_the_same_window_twice_changes_nothing() {
        let fresh = [ev(0, 100, false), ev(200, 400, false)];
        let first = reconcile_events(&[], &fresh);
        assert_eq!(first.inserts.len(), 2);
        let table = apply(&[], &first);
        let second = reconcile_events(&table, &fresh);
        assert_eq!(second, ReconcilePlan::default());
    }

    #[test]
    fn ongoing_event_is_extended_in_place_keeping_its_reason() {
        let mut stored = row(7, 100, 300, Some("JAM"));
        stored.ongoing = true;
        let plan = reconcile_events(&[stored], &[ev(100, 450, false)]);
        assert!(plan.inserts.is_empty() && plan.deletes.is_empty());
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(plan.updates[0].0, 7);
        assert_eq!(plan.updates[0].1.reason_code.as_deref(), Some("JAM"));
    }

    #[test]
    fn late_detections_splitting_an_explained_stop_keep_the_reason_on_every_part() {
        let plan = reconcile_events(
            &[row(7, 100, 1000, Some("JAM"))],
            &[ev(100, 400, false), ev(600, 1000, false)],
        );
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(plan.inserts.len(), 1);
        assert_eq!(plan.inserts[0].reason_code.as_deref(), Some("JAM"));
        assert!(plan.deletes.is_empty() && plan.orphaned.is_empty());
    }

    #[test]
    fn a_comment_alone_is_carried_to_the_merged_stop_and_its_row_then_goes() {
        // Row 1 (0–40 s) holds only a free-text reason; row 2 (40–100 s) none.
        // Late data merges them into one stop 0–100 s: row 2 overlaps most
        // and is reused, taking row 1's comment, so row 1 can be deleted
        // without losing anything.
        let mut commented = row(1, 0, 40, None);
        commented.reason = Some("belt jam".to_owned());
        let plan = reconcile_events(&[commented, row(2, 40, 100, None)], &[ev(0, 100, false)]);
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(plan.updates[0].0, 2);
        assert_eq!(plan.updates[0].1.reason.as_deref(), Some("belt jam"));
        assert_eq!(plan.updates[0].1.reason_code, None);
        assert_eq!(plan.deletes, vec![1]);
        assert!(plan.orphaned.is_empty() && plan.inserts.is_empty());
    }

    #[test]
    fn a_reason_id_and_incident_alone_travel_with_every_part_of_a_split_stop() {
        let mut explained = row(7, 100, 1000, None);
        explained.reason_id = Some(12);
        explained.incident_id = Some(3);
        explained.reason = Some("cinta".to_owned());
        let plan = reconcile_events(&[explained], &[ev(100, 400, false), ev(600, 1000, false)]);
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(plan.inserts.len(), 1);
        for write in plan.updates.iter().map(|(_, w)| w).chain(&plan.inserts) {
            assert_eq!((write.reason_id, write.incident_id), (Some(12), Some(3)), "{plan:?}");
            assert_eq!(write.reason.as_deref(), Some("cinta"));
        }
        assert!(plan.deletes.is_empty() && plan.orphaned.is_empty());
        // A vanished stop that only has a reason id is kept for review.
        let mut only_id = row(9, 2000, 2100, None);
        only_id.reason_id = Some(12);
        assert_eq!(reconcile_events(&[only_id], &[]).orphaned, vec![9]);
    }

    #[test]
    fn vanished_stop_is_deleted_unless_a_person_explained_it() {
        let plan = reconcile_events(&[row(1, 0, 100, None), row(2, 200, 300, Some("JAM"))], &[]);
        assert_eq!(plan.deletes, vec![1]);
        assert_eq!(plan.orphaned, vec![2]);
    }

    #[test]
    fn a_reason_is_not_kept_by_another_stop_with_the_same_code() {
        // Stop 2 vanished with late data; stop 1 still exists with the same
        // code. Row 2's explanation must not be deleted because "JAM" lives
        // on elsewhere: it is an orphan, kept for review.
        let plan = reconcile_events(
            &[row(1, 0, 100, Some("JAM")), row(2, 500, 600, Some("JAM"))],
            &[ev(0, 100, false)],
        );
        assert_eq!(
            plan,
            ReconcilePlan {
                orphaned: vec![2],
                ..ReconcilePlan::default()
            }
        );
    }

    #[test]
    fn merged_explained_stops_keep_both_reasons() {
        let plan = reconcile_events(
            &[row(1, 0, 100, Some("JAM")), row(2, 150, 300, Some("SETUP"))],
            &[ev(0, 300, false)],
        );
        // Row 2 overlaps most: it is reused with its own reason; row 1 is kept.
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(plan.updates[0].0, 2);
        assert_eq!(plan.updates[0].1.reason_code.as_deref(), Some("SETUP"));
        assert_eq!(plan.orphaned, vec![1]);
        assert!(plan.deletes.is_empty());
    }

    #[test]
    fn window_edges_move_to_true_points_of_the_gap_analysis() {
        let p = IntervalSet::from_interval(Interval::new(t(0), t(10_000)));
        let w = Interval::new(t(1000), t(2000));
        // Last detection before ws at 900, first at/after we at 2500.
        assert_eq!(
            expand_window(&p, w, Some(t(900)), Some(t(2500))),
            Interval::new(t(900), t(2500))
        );
        // No detection inside the planned interval: its boundaries.
        assert_eq!(expand_window(&p, w, None, None), Interval::new(t(0), t(10_000)));
        // Detections outside the interval do not count.
        let p2 = IntervalSet::from_interval(Interval::new(t(500), t(2200)));
        assert_eq!(
            expand_window(&p2, w, Some(t(400)), Some(t(3000))),
            Interval::new(t(500), t(2200))
        );
        // Edges outside P stay.
        let p3 = IntervalSet::from_interval(Interval::new(t(1200), t(1800)));
        assert_eq!(expand_window(&p3, w, Some(t(900)), Some(t(2500))), w);
    }

    #[test]
    fn expanded_window_recomputation_equals_full_recomputation() {
        // A stop spans the window start: a naive window truncates it, the
        // expanded window finds it whole.
        let p = IntervalSet::from_interval(Interval::new(t(0), t(10_000)));
        let dets = [t(100), t(150), t(900), t(1300), t(1350), t(2500), t(2550)];
        let thr = DowntimeThreshold::from_seconds(300).expect("thr");
        let full = downtime_events(&p, &dets, thr, t(20_000));
        let w = Interval::new(t(1000), t(2000));
        let naive = downtime_events(&p.intersect_interval(&w), &dets, thr, t(20_000));
        assert_eq!(naive, vec![ev(1350, 2000, false)]);
        let x = expand_window(&p, w, Some(t(900)), Some(t(2500)));
        let expanded = downtime_events(&p.intersect_interval(&x), &dets, thr, t(20_000));
        assert_eq!(expanded, vec![ev(900, 1300, false), ev(1350, 2500, false)]);
        assert!(expanded.iter().all(|e| full.contains(e)));
    }

    fn arb_rows() -> impl Strategy<Value = Vec<StoredEvent>> {
        // Codes and reason ids independently: a row may have either, both or none.
        prop::collection::vec(
            (0i64..50, 1i64..20, prop::option::of(0u8..3), prop::option::of(1i32..3)),
            0..6,
        )
        .prop_map(|v| {
            let mut start = 0;
            v.into_iter()
                .enumerate()
                .map(|(i, (gap, len, r, reason_id))| {
                    start += gap;
                    let mut s = row(i as i64 + 1, start, start + len, r.map(|k| ["A", "B", "C"][k as usize]));
                    s.reason_id = reason_id;
                    start += len;
                    s
                })
                .collect()
        })
    }

    fn arb_fresh() -> impl Strategy<Value = Vec<DowntimeEvent>> {
        prop::collection::vec((0i64..50, 1i64..30), 0..6).prop_map(|v| {
            let mut start = 0;
            v.into_iter()
                .map(|(gap, len)| {
                    start += gap;
                    let e = ev(start, start + len, false);
                    start += len;
                    e
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn reconciling_never_duplicates_events_nor_loses_reasons(stored in arb_rows(), fresh in arb_fresh()) {
            let plan = reconcile_events(&stored, &fresh);
            let table = apply(&stored, &plan);
            // Every fresh event is in the table exactly once.
            for e in &fresh {
                let n = table.iter().filter(|s| s.start == e.start && s.end == e.end).count();
                prop_assert_eq!(n, 1);
            }
            // Apart from orphans, the table is exactly the fresh events.
            let non_orphans = table.iter().filter(|s| !plan.orphaned.contains(&s.event_id)).count();
            prop_assert_eq!(non_orphans, fresh.len());
            // Every reason stays on the stop it explained: either its row is
            // kept untouched (an orphan), or a row with the same reason
            // overlaps the stretch of time it explained. (A reason found on
            // any row with the same code, e.g. on another stop, does not count.)
            for s in stored.iter().filter(|s| s.has_reason()) {
                let kept = plan.orphaned.contains(&s.event_id) && table.contains(s);
                let explained = Interval::new(s.start, s.end);
                let carried = table.iter().any(|x| {
                    x.reason_pair() == s.reason_pair() && Interval::new(x.start, x.end).intersect(&explained).is_some()
                });
                prop_assert!(kept || carried, "reason {:?} of row {} lost from its stop: {:?}", s.reason_code, s.event_id, table);
            }
            // Idempotent.
            prop_assert_eq!(reconcile_events(&table, &fresh).inserts.len(), 0);
        }
    }
}
