//! What state a line is in now, from its plan and its last output
//! detection; which shift occurrence is "to date"; which occurrences ended.
//! Pure: the evaluator ([`super::state`]) reads the inputs.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::analytics::interval::Interval;
use crate::analytics::shifts::{Schedule, ShiftRule, plan};
use crate::analytics::time::to_local;

/// A line's state (contract: `running|stopped|unplanned|no_data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineState {
    /// In planned time, output within the downtime threshold.
    Running,
    /// In planned time, no output for longer than the threshold.
    Stopped,
    /// Outside planned time (no shift, a break, a calendar day off).
    Unplanned,
    /// In planned time but the line has never had an output detection, or
    /// has no output area: nothing to judge by.
    NoData,
}

impl LineState {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            LineState::Running => "running",
            LineState::Stopped => "stopped",
            LineState::Unplanned => "unplanned",
            LineState::NoData => "no_data",
        }
    }

    /// From the wire name.
    pub fn parse(text: &str) -> Option<LineState> {
        [
            LineState::Running,
            LineState::Stopped,
            LineState::Unplanned,
            LineState::NoData,
        ]
        .into_iter()
        .find(|s| s.name() == text)
    }
}

/// How far around now the plan is computed: longer than any shift, break
/// or planned stretch that matters for "since".
const PLAN_REACH_DAYS: i64 = 8;

/// The planned time around now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planning {
    /// The planned stretch holding now (merged across shifts), if any.
    pub current: Option<Interval>,
    /// When the last planned stretch before now ended.
    pub last_end: Option<DateTime<Utc>>,
}

/// [`Planning`] of `line_id` at `now` (shifts, breaks and calendar; the
/// planned-reason stops are people's explanations of stops, not a plan).
pub fn planning(schedule: &Schedule, line_id: i32, tz: Tz, now: DateTime<Utc>) -> Planning {
    let reach = Duration::days(PLAN_REACH_DAYS);
    let range = Interval::new(now - reach, now + reach);
    let set = plan(schedule, line_id, tz, &range, range.end, None).set;
    Planning {
        current: set.interval_containing(now).copied(),
        last_end: set.intervals().iter().map(|iv| iv.end).filter(|end| *end <= now).max(),
    }
}

/// Everything [`classify`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// The instant judged.
    pub now: DateTime<Utc>,
    /// The line's planned time around it.
    pub planning: Planning,
    /// The latest output-area detection (none ever: `None`).
    pub last_output: Option<DateTime<Utc>>,
    /// Whether the line has an output area at all.
    pub has_output_area: bool,
    /// The line's downtime threshold, µs: a longer gap is a stop.
    pub threshold_micros: i64,
}

/// A state and, where the observation tells it, since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    /// The state.
    pub state: LineState,
    /// `stopped`: the last output (or the start of the planned stretch, if
    /// later); `unplanned`: the end of the last planned stretch. Otherwise
    /// none: the evaluator keeps the time it saw the change.
    pub since: Option<DateTime<Utc>>,
}

/// The state of a line (semantics of downtime: a gap longer than the
/// threshold inside planned time is a stop; it starts at the last output
/// detection, or where planned time starts if that is later).
pub fn classify(o: &Observation) -> Classified {
    let Some(stretch) = o.planning.current else {
        return Classified {
            state: LineState::Unplanned,
            since: o.planning.last_end,
        };
    };
    let last = match o.last_output {
        Some(last) if o.has_output_area => last,
        _ => {
            return Classified {
                state: LineState::NoData,
                since: None,
            };
        }
    };
    let start = last.max(stretch.start);
    let quiet = (o.now - start).num_microseconds().unwrap_or(i64::MAX);
    if quiet > o.threshold_micros {
        Classified {
            state: LineState::Stopped,
            since: Some(start),
        }
    } else {
        Classified {
            state: LineState::Running,
            since: None,
        }
    }
}

/// The time "shift to date" figures cover at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftToDate {
    /// The occurrence of `shift_id` holding now (the latest started, when
    /// shifts overlap).
    Shift {
        /// Shift.
        shift_id: i32,
        /// The whole occurrence (figures are clipped at now).
        occurrence: Interval,
    },
    /// No shift applies to the line (it runs around the clock): the local day.
    Day(Interval),
    /// Shifts apply but none is on now.
    Off,
}

fn applicable(rules: &[ShiftRule], line_id: i32) -> impl Iterator<Item = &ShiftRule> {
    rules.iter().filter(move |r| r.active && r.applies_to_line(line_id))
}

/// The shift occurrence (or day) `now` belongs to on `line_id`.
pub fn shift_to_date(rules: &[ShiftRule], line_id: i32, tz: Tz, now: DateTime<Utc>) -> ShiftToDate {
    let mut rules = applicable(rules, line_id).peekable();
    if rules.peek().is_none() {
        let date = to_local(now, tz).date();
        let start = crate::analytics::time::resolve_local(tz, date.and_time(chrono::NaiveTime::MIN));
        let end = date
            .succ_opt()
            .map(|next| crate::analytics::time::resolve_local(tz, next.and_time(chrono::NaiveTime::MIN)))
            .unwrap_or(now + Duration::days(1));
        return ShiftToDate::Day(Interval::new(start, end));
    }
    let instant = Interval::new(now, now + Duration::microseconds(1));
    rules
        .flat_map(|rule| {
            rule.occurrences(tz, &instant)
                .into_iter()
                .filter(|iv| iv.contains(now))
                .map(|iv| (rule.shift_id, iv))
        })
        .max_by_key(|(shift_id, iv)| (iv.start, std::cmp::Reverse(*shift_id)))
        .map_or(ShiftToDate::Off, |(shift_id, occurrence)| ShiftToDate::Shift {
            shift_id,
            occurrence,
        })
}

/// The occurrences of the shifts of `line_id` that ended in `(after, until]`.
pub fn shift_ends(
    rules: &[ShiftRule],
    line_id: i32,
    tz: Tz,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Vec<(i32, Interval)> {
    if until <= after {
        return Vec::new();
    }
    let range = Interval::new(after, until);
    let mut ended: Vec<(i32, Interval)> = applicable(rules, line_id)
        .flat_map(|rule| {
            rule.occurrences(tz, &range)
                .into_iter()
                .filter(|iv| iv.end > after && iv.end <= until)
                .map(|iv| (rule.shift_id, iv))
        })
        .collect();
    ended.sort_by_key(|(shift_id, iv)| (iv.end, *shift_id));
    ended
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, TimeZone};
    use proptest::prelude::*;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, m, s).single().expect("valid")
    }

    fn morning() -> ShiftRule {
        ShiftRule {
            shift_id: 1,
            start_time: NaiveTime::from_hms_opt(6, 0, 0).expect("time"),
            end_time: NaiveTime::from_hms_opt(14, 0, 0).expect("time"),
            is_overnight: false,
            days: crate::analytics::shifts::parse_days(["mon", "tue", "wed", "thu", "fri"]).expect("days"),
            active: true,
            line_ids: None,
            breaks: Vec::new(),
        }
    }

    fn observe(now: DateTime<Utc>, last_output: Option<DateTime<Utc>>) -> Classified {
        let schedule = Schedule::of_shifts(vec![morning()]);
        classify(&Observation {
            now,
            planning: planning(&schedule, 1, chrono_tz::UTC, now),
            last_output,
            has_output_area: true,
            threshold_micros: 60_000_000,
        })
    }

    #[test]
    fn a_gap_longer_than_the_threshold_in_a_shift_is_a_stop_since_the_last_output() {
        // 2026-03-02 is a Monday.
        assert_eq!(observe(at(9, 0, 0), Some(at(8, 59, 30))).state, LineState::Running);
        // Exactly the threshold is not a stop (strictly longer, as the KPIs).
        assert_eq!(observe(at(9, 0, 0), Some(at(8, 59, 0))).state, LineState::Running);
        let stopped = observe(at(9, 0, 0), Some(at(8, 58, 59)));
        assert_eq!(stopped.state, LineState::Stopped);
        assert_eq!(stopped.since, Some(at(8, 58, 59)));
    }

    #[test]
    fn a_stop_at_the_start_of_a_shift_starts_with_the_shift() {
        let stopped = observe(at(6, 5, 0), Some(at(1, 0, 0) - Duration::days(3)));
        assert_eq!(stopped.state, LineState::Stopped);
        assert_eq!(stopped.since, Some(at(6, 0, 0)));
        assert_eq!(observe(at(6, 0, 30), Some(at(5, 0, 0))).state, LineState::Running);
    }

    #[test]
    fn outside_the_shift_the_line_is_unplanned_since_the_shift_ended() {
        let off = observe(at(15, 0, 0), Some(at(13, 0, 0)));
        assert_eq!(off.state, LineState::Unplanned);
        assert_eq!(off.since, Some(at(14, 0, 0)));
    }

    #[test]
    fn a_line_that_never_produced_has_no_data() {
        assert_eq!(observe(at(9, 0, 0), None).state, LineState::NoData);
        assert_eq!(LineState::parse("no_data"), Some(LineState::NoData));
        assert_eq!(LineState::parse("idle"), None);
    }

    #[test]
    fn shift_to_date_is_the_occurrence_holding_now_or_the_day_without_shifts() {
        assert_eq!(
            shift_to_date(&[morning()], 1, chrono_tz::UTC, at(9, 0, 0)),
            ShiftToDate::Shift {
                shift_id: 1,
                occurrence: Interval::new(at(6, 0, 0), at(14, 0, 0))
            }
        );
        assert_eq!(
            shift_to_date(&[morning()], 1, chrono_tz::UTC, at(15, 0, 0)),
            ShiftToDate::Off
        );
        assert_eq!(
            shift_to_date(&[], 1, chrono_tz::UTC, at(15, 0, 0)),
            ShiftToDate::Day(Interval::new(at(0, 0, 0), at(0, 0, 0) + Duration::days(1)))
        );
    }

    #[test]
    fn each_shift_end_is_reported_once_across_consecutive_windows() {
        let rules = [morning()];
        let ends = shift_ends(&rules, 1, chrono_tz::UTC, at(13, 0, 0), at(14, 0, 0));
        assert_eq!(ends, vec![(1, Interval::new(at(6, 0, 0), at(14, 0, 0)))]);
        assert!(shift_ends(&rules, 1, chrono_tz::UTC, at(14, 0, 0), at(15, 0, 0)).is_empty());
    }

    proptest! {
        /// Whatever the cut points, windows that tile a week report every
        /// shift end exactly once.
        #[test]
        fn tiled_windows_report_every_end_once(cuts in proptest::collection::vec(1i64..20_000, 1..60)) {
            let rules = [morning()];
            let start = at(0, 0, 0);
            let end = start + Duration::days(7);
            let mut edges = vec![start];
            let mut t = start;
            for step in cuts {
                t += Duration::seconds(step * 30);
                if t >= end { break; }
                edges.push(t);
            }
            edges.push(end);
            let reported: usize = edges.windows(2).map(|w| shift_ends(&rules, 1, chrono_tz::UTC, w[0], w[1]).len()).sum();
            // Monday to Friday of that week.
            prop_assert_eq!(reported, 5);
        }

        /// A stop never starts before the planned stretch or after now.
        #[test]
        fn since_of_a_stop_is_inside_the_planned_stretch(minute in 0i64..(24 * 60), last_back in 0i64..100_000) {
            let now = at(0, 0, 0) + Duration::minutes(minute);
            let c = observe(now, Some(now - Duration::seconds(last_back)));
            if c.state == LineState::Stopped {
                let since = c.since.expect("a stop has a start");
                prop_assert!(since <= now);
                prop_assert!(since >= at(6, 0, 0));
            }
        }
    }
}
