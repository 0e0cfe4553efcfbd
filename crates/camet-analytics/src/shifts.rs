//! Planned time: shift occurrences, their breaks, the tenant's calendar of
//! holidays and shutdowns, and the planned set P of a line (spec §2, §10).
//!
//! P is formed in one place, [`plan`]: the occurrences of the shifts that
//! apply, each without its breaks, united, then without the calendar days
//! of the line, clipped to the range and to now. Planned stops recorded as
//! events (a reason of loss class `planned`) are a later subtraction from
//! [`Plan::set`], which is also where [`Plan::stops`] grows.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc, Weekday, WeekdaySet};
use chrono_tz::Tz;
use serde::Serialize;

use super::interval::{Interval, IntervalSet};
use super::time::{local_midnight, resolve_local, to_local};

/// Seconds in a wall-clock day.
const DAY_SECONDS: i64 = 86_400;

/// A break inside every occurrence of a shift, in local wall-clock times
/// (`12:00-12:30`; in a night shift `02:00-02:30` lies after midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShiftBreak {
    /// Local start.
    pub start_time: NaiveTime,
    /// Local end (a break ending at or before its start crosses midnight).
    pub end_time: NaiveTime,
}

/// A holiday or shutdown: the local days `start_date..=end_date`, from
/// 00:00 of the first to 24:00 of the last, on the listed lines (all lines
/// when the list is empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEntry {
    /// `entry_id`.
    pub entry_id: i32,
    /// First local day.
    pub start_date: NaiveDate,
    /// Last local day (included).
    pub end_date: NaiveDate,
    /// Lines it stops; empty means every line.
    pub line_ids: Vec<i32>,
}

impl CalendarEntry {
    /// True when the entry stops `line_id`.
    pub fn applies_to_line(&self, line_id: i32) -> bool {
        self.line_ids.is_empty() || self.line_ids.contains(&line_id)
    }

    /// `[00:00 of start_date, 00:00 of the day after end_date)` as instants,
    /// both midnights resolved like any wall-clock time (§1): a day whose
    /// midnight does not exist starts at the first instant that does.
    pub fn interval(&self, tz: Tz) -> Interval {
        let after = self.end_date.succ_opt().unwrap_or(self.end_date);
        Interval::new(local_midnight(tz, self.start_date), local_midnight(tz, after))
    }
}

/// Everything that decides planned time: the shifts (with their breaks),
/// the calendar, and the stops people explained with a planned reason.
/// Built from the plant configuration (and, for the reason stops, from the
/// persisted events of the lines asked about).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schedule {
    /// Every shift of the tenant (inactive ones too; [`plan`] filters).
    pub shifts: Vec<ShiftRule>,
    /// Every calendar entry of the tenant.
    pub calendar: Vec<CalendarEntry>,
    /// Per line, the time of stops whose reason has the loss class
    /// `planned`, when the tenant's rule takes them out of P (spec §10).
    /// Empty when the rule is off or nobody assigned such a reason.
    pub reason_stops: BTreeMap<i32, IntervalSet>,
}

impl Schedule {
    /// Shifts only, no calendar.
    pub fn of_shifts(shifts: Vec<ShiftRule>) -> Self {
        Schedule {
            shifts,
            ..Schedule::default()
        }
    }

    /// The planned-reason stops of `line_id` (empty when none).
    pub fn reason_stops_of(&self, line_id: i32) -> IntervalSet {
        self.reason_stops.get(&line_id).cloned().unwrap_or_default()
    }

    /// The calendar days that stop `line_id` and meet `range`.
    pub fn calendar_set(&self, line_id: i32, tz: Tz, range: &Interval) -> IntervalSet {
        IntervalSet::from_intervals(
            self.calendar
                .iter()
                .filter(|e| e.applies_to_line(line_id))
                .filter_map(|e| e.interval(tz).intersect(range)),
        )
    }
}

fn seconds_of_day(t: NaiveTime) -> i64 {
    i64::from(t.num_seconds_from_midnight())
}

/// A shift as configured by the plant, with wall-clock times in the tenant's
/// zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftRule {
    /// `shift_id` of the shift.
    pub shift_id: i32,
    /// Local start time of each occurrence.
    pub start_time: NaiveTime,
    /// Local end time of each occurrence.
    pub end_time: NaiveTime,
    /// When true the end falls on the next day even if `end_time > start_time`.
    pub is_overnight: bool,
    /// Weekdays on which an occurrence STARTS (`days_implemented`).
    pub days: WeekdaySet,
    /// Inactive shifts have no occurrence at all (`shift_status`).
    pub active: bool,
    /// Lines the shift applies to; `None` or empty means every line of the tenant.
    pub line_ids: Option<Vec<i32>>,
    /// Breaks inside each occurrence (validated on write: inside, not
    /// overlapping; the engine takes out whatever it is given).
    pub breaks: Vec<ShiftBreak>,
}

impl ShiftRule {
    /// True when the shift applies to `line_id` (an empty or absent list
    /// means all lines). Says nothing about `active`.
    pub fn applies_to_line(&self, line_id: i32) -> bool {
        match &self.line_ids {
            None => true,
            Some(ids) => ids.is_empty() || ids.contains(&line_id),
        }
    }

    /// True when an occurrence ends on the day after it starts: `is_overnight`
    /// or `end_time <= start_time` (so `08:00-08:00` lasts a whole day).
    pub fn ends_next_day(&self) -> bool {
        self.is_overnight || self.end_time <= self.start_time
    }

    /// Wall-clock length of an occurrence in seconds, before DST:
    /// `end - start`, plus a day when it ends on the next day.
    pub fn wall_seconds(&self) -> i64 {
        let span = seconds_of_day(self.end_time) - seconds_of_day(self.start_time);
        if self.ends_next_day() { span + DAY_SECONDS } else { span }
    }

    /// Where `b` lies in an occurrence, in wall-clock seconds from the
    /// occurrence's start: `(offset, length)`. A break time before the
    /// shift's start time of day lies after midnight (`02:00` in a
    /// `22:00-06:00` shift is 4 h in); a break ending at or before its start
    /// crosses midnight.
    pub fn break_offsets(&self, b: &ShiftBreak) -> (i64, i64) {
        let offset = (seconds_of_day(b.start_time) - seconds_of_day(self.start_time)).rem_euclid(DAY_SECONDS);
        let length = (seconds_of_day(b.end_time) - seconds_of_day(b.start_time)).rem_euclid(DAY_SECONDS);
        (offset, length)
    }

    /// The breaks of the occurrence starting on `date`, as instants (each
    /// end resolved like a shift's, §1: on a DST night a break may be
    /// longer, shorter or gone).
    pub fn breaks_on(&self, tz: Tz, date: NaiveDate) -> IntervalSet {
        let start = date.and_time(self.start_time);
        IntervalSet::from_intervals(self.breaks.iter().filter_map(|b| {
            let (offset, length) = self.break_offsets(b);
            let from = start.checked_add_signed(TimeDelta::seconds(offset))?;
            let to = from.checked_add_signed(TimeDelta::seconds(length))?;
            Some(Interval::new(resolve_local(tz, from), resolve_local(tz, to)))
        }))
    }

    /// The occurrence starting on `date` without its breaks.
    pub fn working_on(&self, tz: Tz, date: NaiveDate) -> IntervalSet {
        match self.occurrence_on(tz, date) {
            None => IntervalSet::new(),
            Some(occurrence) if self.breaks.is_empty() => IntervalSet::from_interval(occurrence),
            Some(occurrence) => IntervalSet::from_interval(occurrence).difference(&self.breaks_on(tz, date)),
        }
    }

    /// The occurrence that starts on local date `date`, if the shift is
    /// active and `date`'s weekday is one of its days.
    ///
    /// Both ends are resolved with [`resolve_local`], so on DST nights the
    /// occurrence is longer or shorter in real time (a 23:00-07:00 shift
    /// lasts 7 h or 9 h). `None` also when DST squeezes it to nothing
    /// (e.g. 02:00-02:30 on a spring-forward night in Madrid).
    pub fn occurrence_on(&self, tz: Tz, date: NaiveDate) -> Option<Interval> {
        if !self.active || !self.days.contains(date.weekday()) {
            return None;
        }
        let end_date = if self.ends_next_day() { date.succ_opt()? } else { date };
        let iv = Interval::new(
            resolve_local(tz, date.and_time(self.start_time)),
            resolve_local(tz, end_date.and_time(self.end_time)),
        );
        (!iv.is_empty()).then_some(iv)
    }

    /// Every occurrence that overlaps `range`, unclipped, in start order.
    ///
    /// Occurrences starting on local dates BEFORE the range's first date are
    /// included when they reach into it: a night shift that began yesterday
    /// overlaps today (the prototype missed these). An occurrence lasts less
    /// than two local days, so starting two dates early is enough.
    pub fn occurrences(&self, tz: Tz, range: &Interval) -> Vec<Interval> {
        self.dated_occurrences(tz, range)
            .into_iter()
            .map(|(_, iv)| iv)
            .collect()
    }

    /// [`ShiftRule::occurrences`] with the local date each one starts on.
    pub fn dated_occurrences(&self, tz: Tz, range: &Interval) -> Vec<(NaiveDate, Interval)> {
        let mut out = Vec::new();
        if range.is_empty() || !self.active {
            return out;
        }
        let first = to_local(range.start, tz).date();
        let last = to_local(range.end, tz).date();
        let mut date = first.pred_opt().and_then(|d| d.pred_opt()).unwrap_or(first);
        while date <= last {
            if let Some(iv) = self.occurrence_on(tz, date).filter(|iv| iv.intersect(range).is_some()) {
                out.push((date, iv));
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        out
    }

    /// The shift's working time meeting `range` (unclipped): its
    /// occurrences, each without its breaks.
    pub fn working(&self, tz: Tz, range: &Interval) -> IntervalSet {
        let pieces: Vec<IntervalSet> = self
            .dated_occurrences(tz, range)
            .into_iter()
            .map(|(date, _)| self.working_on(tz, date))
            .collect();
        IntervalSet::from_intervals(pieces.iter().flat_map(|p| p.intervals().iter().copied()))
    }

    /// This shift's occurrences inside `[range.start, min(range.end, now))`,
    /// ignoring which lines it applies to. Used for `shift_id` filters on
    /// counts and charts.
    pub fn occurrence_set(&self, tz: Tz, range: &Interval, now: DateTime<Utc>) -> IntervalSet {
        match range.clip_to_now(now) {
            Some(clipped) => IntervalSet::from_intervals(self.occurrences(tz, &clipped)).intersect_interval(&clipped),
            None => IntervalSet::new(),
        }
    }
}

/// Parses one `days_implemented` entry: English (`Monday`, `mon`) or Spanish
/// (`lunes`, `miércoles`/`miercoles`, ...) weekday names, case-insensitive.
pub fn parse_weekday(name: &str) -> Option<Weekday> {
    let lower = name.trim().to_lowercase();
    let day = match lower.as_str() {
        "monday" | "mon" | "lunes" | "lun" => Weekday::Mon,
        "tuesday" | "tue" | "martes" | "mar" => Weekday::Tue,
        "wednesday" | "wed" | "miércoles" | "miercoles" | "mié" | "mie" => Weekday::Wed,
        "thursday" | "thu" | "jueves" | "jue" => Weekday::Thu,
        "friday" | "fri" | "viernes" | "vie" => Weekday::Fri,
        "saturday" | "sat" | "sábado" | "sabado" | "sáb" | "sab" => Weekday::Sat,
        "sunday" | "sun" | "domingo" | "dom" => Weekday::Sun,
        _ => return None,
    };
    Some(day)
}

/// Parses a `days_implemented` list; the error is the first unknown name.
pub fn parse_days<I, S>(names: I) -> Result<WeekdaySet, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut set = WeekdaySet::EMPTY;
    for name in names {
        let name = name.as_ref();
        set.insert(parse_weekday(name).ok_or_else(|| name.to_owned())?);
    }
    Ok(set)
}

/// Why the planned set is what it is; lets the API explain an empty or
/// around-the-clock P.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanBasis {
    /// P is the union of the occurrences of these active shifts.
    Shifts {
        /// The shifts that formed P.
        shift_ids: Vec<i32>,
    },
    /// No active shift applies to the line: it runs 24/7.
    AroundTheClock,
    /// The `shift_id` filter names a shift that is unknown, inactive or does
    /// not apply to the line: P is empty.
    ShiftNotApplicable {
        /// The filter's shift id.
        shift_id: i32,
    },
}

/// The planned set P of a line over a range and how it was formed.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// P, already clipped to `[start, min(end, now))`.
    pub set: IntervalSet,
    /// Which rule produced it.
    pub basis: PlanBasis,
    /// Planned stops: the time of the chosen shifts' occurrences (of the
    /// whole clipped range for a line running 24/7) that breaks and calendar
    /// days took out of P, clipped like P.
    pub stops: IntervalSet,
}

/// The shifts that form P: active, applying to the line, and the filtered
/// one only with a `shift_filter`.
fn chosen_shifts(shifts: &[ShiftRule], line_id: i32, shift_filter: Option<i32>) -> Vec<&ShiftRule> {
    shifts
        .iter()
        .filter(|s| s.active && s.applies_to_line(line_id))
        .filter(|s| shift_filter.is_none_or(|id| s.shift_id == id))
        .collect()
}

/// The planned set P of `line_id` over `range` (spec §2 and §10): the one
/// place where P is formed.
///
/// - The shifts that count are those that are `active` and apply to the line.
/// - Without `shift_filter`: P is the union of their occurrences, each
///   without its breaks (overlapping and back-to-back shifts merge, never
///   double count; a break of one shift covered by another shift stays
///   planned); with none, the line runs 24/7 and P is the whole clipped
///   range.
/// - With `shift_filter = Some(id)`: P is only that shift's occurrences
///   without its breaks. If that shift is unknown, inactive or not
///   applicable to the line, P is EMPTY (not 24/7): the user asked for a
///   shift the line does not work, so nothing was planned; `basis` says so
///   for a warning.
/// - The calendar days of the line (holidays, shutdowns) are taken out,
///   whatever shift runs then, from a 24/7 line too; so are its
///   [`Schedule::reason_stops`].
/// - P is intersected with `[range.start, min(range.end, now))`.
pub fn plan(
    schedule: &Schedule,
    line_id: i32,
    tz: Tz,
    range: &Interval,
    now: DateTime<Utc>,
    shift_filter: Option<i32>,
) -> Plan {
    let chosen = chosen_shifts(&schedule.shifts, line_id, shift_filter);
    let basis = match shift_filter {
        Some(shift_id) if chosen.is_empty() => PlanBasis::ShiftNotApplicable { shift_id },
        None if chosen.is_empty() => PlanBasis::AroundTheClock,
        _ => {
            let mut shift_ids: Vec<i32> = chosen.iter().map(|s| s.shift_id).collect();
            shift_ids.sort_unstable();
            shift_ids.dedup();
            PlanBasis::Shifts { shift_ids }
        }
    };
    let Some(clipped) = range.clip_to_now(now) else {
        return Plan {
            set: IntervalSet::new(),
            basis,
            stops: IntervalSet::new(),
        };
    };
    // What would be planned without any planned stop, and the working time.
    let (scheduled, working) = if basis == PlanBasis::AroundTheClock {
        let all = IntervalSet::from_interval(clipped);
        (all.clone(), all)
    } else {
        let occurrences = IntervalSet::from_intervals(chosen.iter().flat_map(|s| s.occurrences(tz, &clipped)))
            .intersect_interval(&clipped);
        let working = chosen
            .iter()
            .fold(IntervalSet::new(), |acc, s| acc.union(&s.working(tz, &clipped)))
            .intersect_interval(&clipped);
        (occurrences, working)
    };
    let set = working
        .difference(&schedule.calendar_set(line_id, tz, &clipped))
        .difference(&schedule.reason_stops_of(line_id));
    let stops = scheduled.difference(&set);
    Plan { set, basis, stops }
}

/// Just the set of [`plan`].
pub fn planned_set(
    schedule: &Schedule,
    line_id: i32,
    tz: Tz,
    range: &Interval,
    now: DateTime<Utc>,
    shift_filter: Option<i32>,
) -> IntervalSet {
    plan(schedule, line_id, tz, range, now, shift_filter).set
}

/// The time over which `/metrics/summary` and charts count detections:
/// the whole clipped range `[start, min(end, now))`, or, with a `shift_id`
/// filter, only that shift's occurrences in it (empty when the shift is
/// unknown, inactive or does not apply to the line, exactly as in [`plan`],
/// so every endpoint agrees on what a shift filter means).
///
/// Breaks and calendar days are NOT taken out: these figures say what went
/// through the line in that time, and a unit made during a break of the
/// morning shift is the morning shift's.
pub fn counting_scope(
    schedule: &Schedule,
    line_id: i32,
    tz: Tz,
    range: &Interval,
    now: DateTime<Utc>,
    shift_filter: Option<i32>,
) -> IntervalSet {
    let Some(clipped) = range.clip_to_now(now) else {
        return IntervalSet::new();
    };
    match shift_filter {
        None => IntervalSet::from_interval(clipped),
        Some(id) => {
            let chosen = chosen_shifts(&schedule.shifts, line_id, Some(id));
            IntervalSet::from_intervals(chosen.iter().flat_map(|s| s.occurrences(tz, &clipped)))
                .intersect_interval(&clipped)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::interval::MICROS_PER_SECOND;
    use super::super::time::parse_instant;
    use super::*;
    use chrono::{TimeDelta, TimeZone};
    use chrono_tz::America::Santiago;
    use chrono_tz::Europe::Madrid;
    use proptest::prelude::*;

    const HOUR: i64 = 3600 * MICROS_PER_SECOND;

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("time")
    }

    fn shift(id: i32, start: NaiveTime, end: NaiveTime, overnight: bool) -> ShiftRule {
        ShiftRule {
            shift_id: id,
            start_time: start,
            end_time: end,
            is_overnight: overnight,
            days: WeekdaySet::ALL,
            active: true,
            line_ids: None,
            breaks: Vec::new(),
        }
    }

    fn sched(shifts: &[ShiftRule]) -> Schedule {
        Schedule::of_shifts(shifts.to_vec())
    }

    fn local(tz: Tz, s: &str) -> DateTime<Utc> {
        parse_instant(s, tz, "start_date").expect("test instant")
    }

    fn range(tz: Tz, a: &str, b: &str) -> Interval {
        Interval::new(local(tz, a), local(tz, b))
    }

    fn far_future() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).single().expect("t")
    }

    #[test]
    fn an_inactive_shift_has_no_occurrence_and_an_active_one_has_its_own() {
        let mut rule = shift(1, hm(6, 0), hm(14, 0), false);
        let day = range(Madrid, "2026-06-10T00:00", "2026-06-11T00:00");
        let own = Interval::new(local(Madrid, "2026-06-10T06:00"), local(Madrid, "2026-06-10T14:00"));
        assert_eq!(rule.occurrences(Madrid, &day), vec![own]);
        assert_eq!(rule.occurrence_set(Madrid, &day, far_future()).intervals(), &[own]);
        rule.active = false;
        assert!(rule.occurrences(Madrid, &day).is_empty());
        assert!(rule.occurrence_set(Madrid, &day, far_future()).intervals().is_empty());
    }

    #[test]
    fn weekday_names_in_english_and_spanish_long_and_short() {
        let expected = [
            (["monday", "mon", "lunes", "lun"], Weekday::Mon),
            (["tuesday", "tue", "martes", "mar"], Weekday::Tue),
            (["wednesday", "wed", "miercoles", "mie"], Weekday::Wed),
            (["thursday", "thu", "jueves", "jue"], Weekday::Thu),
            (["friday", "fri", "viernes", "vie"], Weekday::Fri),
            (["saturday", "sat", "sabado", "sab"], Weekday::Sat),
            (["sunday", "sun", "domingo", "dom"], Weekday::Sun),
        ];
        for (names, day) in expected {
            for name in names {
                assert_eq!(parse_weekday(name), Some(day), "{name}");
                assert_eq!(parse_weekday(&name.to_uppercase()), Some(day), "{name} in capitals");
            }
        }
        assert_eq!(parse_weekday("Miércoles"), Some(Weekday::Wed));
        assert_eq!(parse_weekday("sábado"), Some(Weekday::Sat));
        assert_eq!(parse_weekday("someday"), None);
    }

    #[test]
    fn night_shift_started_yesterday_counts_in_todays_range() {
        let night = shift(1, hm(22, 0), hm(6, 0), true);
        let today = range(Madrid, "2026-06-10T00:00", "2026-06-11T00:00");
        let p = planned_set(&sched(&[night]), 1, Madrid, &today, far_future(), None);
        // 00:00-06:00 from yesterday's occurrence, 22:00-24:00 from today's.
        assert_eq!(
            p.intervals(),
            &[
                range(Madrid, "2026-06-10T00:00", "2026-06-10T06:00"),
                range(Madrid, "2026-06-10T22:00", "2026-06-11T00:00"),
            ]
        );
        assert_eq!(p.total_micros(), 8 * HOUR);
    }

    #[test]
    fn occurrence_belongs_to_the_day_it_starts() {
        let mut night = shift(1, hm(22, 0), hm(6, 0), true);
        night.days = WeekdaySet::single(Weekday::Fri);
        // 2026-06-12 is a Friday: its occurrence runs into Saturday morning.
        let sat = range(Madrid, "2026-06-13T00:00", "2026-06-14T00:00");
        let p = planned_set(
            &sched(std::slice::from_ref(&night)),
            1,
            Madrid,
            &sat,
            far_future(),
            None,
        );
        assert_eq!(p.intervals(), &[range(Madrid, "2026-06-13T00:00", "2026-06-13T06:00")]);
        // Saturday itself starts no occurrence, so Sunday has nothing.
        let sun = range(Madrid, "2026-06-14T00:00", "2026-06-15T00:00");
        assert!(planned_set(&sched(&[night]), 1, Madrid, &sun, far_future(), None).is_empty());
    }

    #[test]
    fn end_not_after_start_ends_next_day_even_without_overnight_flag() {
        let s = shift(1, hm(22, 0), hm(6, 0), false);
        assert!(s.ends_next_day());
        let d = NaiveDate::from_ymd_opt(2026, 6, 10).expect("d");
        assert_eq!(s.occurrence_on(Madrid, d).map(|i| i.duration_micros()), Some(8 * HOUR));
        let whole_day = shift(2, hm(6, 0), hm(6, 0), false);
        assert_eq!(
            whole_day.occurrence_on(Madrid, d).map(|i| i.duration_micros()),
            Some(24 * HOUR)
        );
    }

    #[test]
    fn overnight_flag_moves_end_to_next_day_even_when_end_after_start() {
        let s = shift(1, hm(6, 0), hm(14, 0), true);
        let d = NaiveDate::from_ymd_opt(2026, 6, 10).expect("d");
        assert_eq!(s.occurrence_on(Madrid, d).map(|i| i.duration_micros()), Some(32 * HOUR));
    }

    #[test]
    fn night_shift_on_spring_forward_night_lasts_seven_hours() {
        let s = shift(1, hm(23, 0), hm(7, 0), true);
        let madrid = NaiveDate::from_ymd_opt(2026, 3, 28).expect("d");
        assert_eq!(
            s.occurrence_on(Madrid, madrid).map(|i| i.duration_micros()),
            Some(7 * HOUR)
        );
        // Santiago springs forward at 24:00 on 2026-09-05.
        let santiago = NaiveDate::from_ymd_opt(2026, 9, 5).expect("d");
        assert_eq!(
            s.occurrence_on(Santiago, santiago).map(|i| i.duration_micros()),
            Some(7 * HOUR)
        );
    }

    #[test]
    fn night_shift_on_fall_back_night_lasts_nine_hours() {
        let s = shift(1, hm(23, 0), hm(7, 0), true);
        let madrid = NaiveDate::from_ymd_opt(2026, 10, 24).expect("d");
        assert_eq!(
            s.occurrence_on(Madrid, madrid).map(|i| i.duration_micros()),
            Some(9 * HOUR)
        );
        // Santiago falls back at 24:00 on 2026-04-04.
        let santiago = NaiveDate::from_ymd_opt(2026, 4, 4).expect("d");
        assert_eq!(
            s.occurrence_on(Santiago, santiago).map(|i| i.duration_micros()),
            Some(9 * HOUR)
        );
    }

    #[test]
    fn shift_starting_in_dst_gap_starts_at_first_valid_instant() {
        let s = shift(1, hm(2, 30), hm(10, 30), false);
        let d = NaiveDate::from_ymd_opt(2026, 3, 29).expect("d");
        let occ = s.occurrence_on(Madrid, d).expect("occurrence");
        assert_eq!(occ.start, local(Madrid, "2026-03-29T03:00:00+02:00"));
        assert_eq!(occ.duration_micros(), 7 * HOUR + HOUR / 2);
        // Entirely inside the gap: nothing is planned.
        let inside = shift(2, hm(2, 0), hm(2, 30), false);
        assert_eq!(inside.occurrence_on(Madrid, d), None);
    }

    #[test]
    fn shift_starting_at_ambiguous_time_starts_at_earlier_instant() {
        let s = shift(1, hm(2, 30), hm(6, 0), false);
        let d = NaiveDate::from_ymd_opt(2026, 10, 25).expect("d");
        let occ = s.occurrence_on(Madrid, d).expect("occurrence");
        assert_eq!(occ.start, local(Madrid, "2026-10-25T02:30:00+02:00"));
        assert_eq!(occ.duration_micros(), 4 * HOUR + HOUR / 2);
    }

    #[test]
    fn santiago_day_shift_on_dst_sunday_starts_at_local_time() {
        // 2026-09-06 00:00 does not exist in Santiago: a 00:00-08:00 shift
        // starts at 01:00 and lasts 7 h.
        let s = shift(1, hm(0, 0), hm(8, 0), false);
        let d = NaiveDate::from_ymd_opt(2026, 9, 6).expect("d");
        let occ = s.occurrence_on(Santiago, d).expect("occurrence");
        assert_eq!(occ.start, local(Santiago, "2026-09-06T01:00:00-03:00"));
        assert_eq!(occ.duration_micros(), 7 * HOUR);
    }

    #[test]
    fn overlapping_and_back_to_back_shifts_are_merged_not_double_counted() {
        let morning = shift(1, hm(6, 0), hm(14, 0), false);
        let afternoon = shift(2, hm(14, 0), hm(22, 0), false);
        let overlap = shift(3, hm(12, 0), hm(16, 0), false);
        let day = range(Madrid, "2026-06-10T00:00", "2026-06-11T00:00");
        let p = planned_set(
            &sched(&[morning, afternoon, overlap]),
            1,
            Madrid,
            &day,
            far_future(),
            None,
        );
        assert_eq!(p.intervals(), &[range(Madrid, "2026-06-10T06:00", "2026-06-10T22:00")]);
        assert_eq!(p.total_micros(), 16 * HOUR);
    }

    #[test]
    fn line_without_applicable_shift_runs_around_the_clock() {
        let mut other_line = shift(1, hm(6, 0), hm(14, 0), false);
        other_line.line_ids = Some(vec![2]);
        let mut inactive = shift(2, hm(6, 0), hm(14, 0), false);
        inactive.active = false;
        let day = range(Madrid, "2026-06-10T00:00", "2026-06-11T00:00");
        let plan = plan(&sched(&[other_line, inactive]), 1, Madrid, &day, far_future(), None);
        assert_eq!(plan.basis, PlanBasis::AroundTheClock);
        assert_eq!(plan.set.intervals(), &[day]);
    }

    #[test]
    fn shift_applies_to_listed_lines_or_all_when_list_empty_or_null() {
        let mut s = shift(1, hm(6, 0), hm(14, 0), false);
        assert!(s.applies_to_line(7));
        s.line_ids = Some(vec![]);
        assert!(s.applies_to_line(7));
        s.line_ids = Some(vec![1, 2]);
        assert!(s.applies_to_line(2) && !s.applies_to_line(7));
    }

    #[test]
    fn inactive_shift_has_no_occurrences() {
        let mut s = shift(1, hm(6, 0), hm(14, 0), false);
        s.active = false;
        let d = NaiveDate::from_ymd_opt(2026, 6, 10).expect("d");
        assert_eq!(s.occurrence_on(Madrid, d), None);
    }

    #[test]
    fn planned_set_is_clipped_at_now() {
        let s = shift(1, hm(6, 0), hm(14, 0), false);
        let day = range(Madrid, "2026-06-10T00:00", "2026-06-11T00:00");
        let now = local(Madrid, "2026-06-10T09:30");
        let p = planned_set(&sched(std::slice::from_ref(&s)), 1, Madrid, &day, now, None);
        assert_eq!(p.intervals(), &[range(Madrid, "2026-06-10T06:00", "2026-06-10T09:30")]);
        // 24/7 line: also clipped.
        let p = planned_set(&sched(&[]), 1, Madrid, &day, now, None);
        assert_eq!(p.total_micros(), 9 * HOUR + HOUR / 2);
        // Range entirely in the future: nothing planned.
        let early = local(Madrid, "2026-06-09T12:00");
        assert!(planned_set(&sched(&[s]), 1, Madrid, &day, early, None).is_empty());
    }

    #[test]
    fn planned_set_is_intersected_with_the_range() {
        let s = shift(1, hm(6, 0), hm(14, 0), false);
        let r = range(Madrid, "2026-06-10T10:00", "2026-06-11T07:00");
        let p = planned_set(&sched(&[s]), 1, Madrid, &r, far_future(), None);
        assert_eq!(
            p.intervals(),
            &[
                range(Madrid, "2026-06-10T10:00", "2026-06-10T14:00"),
                range(Madrid, "2026-06-11T06:00", "2026-06-11T07:00"),
            ]
        );
    }

    #[test]
    fn shift_filter_keeps_only_that_shifts_occurrences() {
        let morning = shift(1, hm(6, 0), hm(14, 0), false);
        let afternoon = shift(2, hm(14, 0), hm(22, 0), false);
        let day = range(Madrid, "2026-06-10T00:00", "2026-06-11T00:00");
        let plan = plan(&sched(&[morning, afternoon]), 1, Madrid, &day, far_future(), Some(2));
        assert_eq!(plan.basis, PlanBasis::Shifts { shift_ids: vec![2] });
        assert_eq!(
            plan.set.intervals(),
            &[range(Madrid, "2026-06-10T14:00", "2026-06-10T22:00")]
        );
    }

    #[test]
    fn shift_filter_naming_a_shift_that_does_not_apply_gives_empty_plan() {
        let mut other = shift(5, hm(6, 0), hm(14, 0), false);
        other.line_ids = Some(vec![9]);
        let day = range(Madrid, "2026-06-10T00:00", "2026-06-11T00:00");
        for filter in [5, 42] {
            let p = plan(
                &sched(std::slice::from_ref(&other)),
                1,
                Madrid,
                &day,
                far_future(),
                Some(filter),
            );
            assert!(p.set.is_empty());
            assert_eq!(p.basis, PlanBasis::ShiftNotApplicable { shift_id: filter });
        }
    }

    #[test]
    fn summary_counts_whole_range_unless_a_shift_filter_is_given() {
        let morning = shift(1, hm(6, 0), hm(14, 0), false);
        let day = range(Madrid, "2026-06-10T00:00", "2026-06-11T00:00");
        let now = local(Madrid, "2026-06-10T20:00");
        let shifts = [morning];
        // Not only P: the whole clipped range.
        let all = counting_scope(&sched(&shifts), 1, Madrid, &day, now, None);
        assert_eq!(
            all.intervals(),
            &[range(Madrid, "2026-06-10T00:00", "2026-06-10T20:00")]
        );
        let only = counting_scope(&sched(&shifts), 1, Madrid, &day, now, Some(1));
        assert_eq!(
            only.intervals(),
            &[range(Madrid, "2026-06-10T06:00", "2026-06-10T14:00")]
        );
        assert!(counting_scope(&sched(&shifts), 1, Madrid, &day, now, Some(9)).is_empty());
    }

    #[test]
    fn weekday_names_parse_in_english_and_spanish() {
        assert_eq!(parse_weekday("Monday"), Some(Weekday::Mon));
        assert_eq!(parse_weekday(" MIÉRCOLES "), Some(Weekday::Wed));
        assert_eq!(parse_weekday("sabado"), Some(Weekday::Sat));
        assert_eq!(parse_weekday("funday"), None);
        assert_eq!(
            parse_days(["mon", "Friday"]),
            Ok(WeekdaySet::from_array([Weekday::Mon, Weekday::Fri]))
        );
        assert_eq!(parse_days(["mon", "x"]), Err("x".to_owned()));
    }

    fn brk(start: NaiveTime, end: NaiveTime) -> ShiftBreak {
        ShiftBreak {
            start_time: start,
            end_time: end,
        }
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    fn holiday(id: i32, from: NaiveDate, to: NaiveDate, line_ids: Vec<i32>) -> CalendarEntry {
        CalendarEntry {
            entry_id: id,
            start_date: from,
            end_date: to,
            line_ids,
        }
    }

    #[test]
    fn a_break_splits_the_occurrence_and_is_a_planned_stop() {
        let mut morning = shift(1, hm(6, 0), hm(14, 0), false);
        morning.breaks = vec![brk(hm(12, 0), hm(12, 30))];
        let day = range(Madrid, "2026-06-10T00:00", "2026-06-11T00:00");
        let plan = plan(&sched(&[morning]), 1, Madrid, &day, far_future(), None);
        // 06:00-12:00 and 12:30-14:00: 8 h - 30 min = 7.5 h.
        assert_eq!(
            plan.set.intervals(),
            &[
                range(Madrid, "2026-06-10T06:00", "2026-06-10T12:00"),
                range(Madrid, "2026-06-10T12:30", "2026-06-10T14:00"),
            ]
        );
        assert_eq!(plan.set.total_micros(), 7 * HOUR + HOUR / 2);
        assert_eq!(
            plan.stops.intervals(),
            &[range(Madrid, "2026-06-10T12:00", "2026-06-10T12:30")]
        );
    }

    #[test]
    fn a_night_shifts_break_after_midnight_lies_on_the_next_day() {
        let mut night = shift(1, hm(22, 0), hm(6, 0), true);
        night.days = WeekdaySet::single(Weekday::Wed);
        // 02:00-02:30 is 4 h into the occurrence; 23:45-00:15 crosses midnight.
        night.breaks = vec![brk(hm(2, 0), hm(2, 30)), brk(hm(23, 45), hm(0, 15))];
        assert_eq!(night.break_offsets(&night.breaks[0]), (4 * 3600, 1800));
        assert_eq!(night.break_offsets(&night.breaks[1]), (6300, 1800));
        let two_days = range(Madrid, "2026-06-10T00:00", "2026-06-12T00:00");
        let p = planned_set(&sched(&[night]), 1, Madrid, &two_days, far_future(), None);
        assert_eq!(
            p.intervals(),
            &[
                range(Madrid, "2026-06-10T22:00", "2026-06-10T23:45"),
                range(Madrid, "2026-06-11T00:15", "2026-06-11T02:00"),
                range(Madrid, "2026-06-11T02:30", "2026-06-11T06:00"),
            ]
        );
        assert_eq!(p.total_micros(), 7 * HOUR);
    }

    #[test]
    fn a_break_in_the_spring_forward_gap_is_gone_and_one_across_it_shrinks() {
        // Madrid, 2026-03-29: 02:00 jumps to 03:00.
        let mut night = shift(1, hm(22, 0), hm(6, 0), true);
        night.days = WeekdaySet::single(Weekday::Sat);
        night.breaks = vec![brk(hm(2, 0), hm(2, 30)), brk(hm(1, 30), hm(1, 45))];
        let d = date(2026, 3, 28);
        // 02:00-02:30 resolves to 03:00-03:00: nothing; 01:30-01:45 stays.
        assert_eq!(night.breaks_on(Madrid, d).total_micros(), HOUR / 4);
        // The occurrence lasts 7 real hours, less the 15 minutes.
        assert_eq!(night.working_on(Madrid, d).total_micros(), 7 * HOUR - HOUR / 4);
        night.breaks = vec![brk(hm(1, 30), hm(3, 30))];
        // 01:30 to 03:30 local is one real hour across the gap.
        assert_eq!(night.breaks_on(Madrid, d).total_micros(), HOUR);
    }

    #[test]
    fn a_break_covered_by_another_shift_stays_planned() {
        let mut morning = shift(1, hm(6, 0), hm(14, 0), false);
        morning.breaks = vec![brk(hm(12, 0), hm(12, 30))];
        let late = shift(2, hm(12, 0), hm(20, 0), false);
        let day = range(Madrid, "2026-06-10T00:00", "2026-06-11T00:00");
        let schedule = sched(&[morning, late]);
        let p = planned_set(&schedule, 1, Madrid, &day, far_future(), None);
        assert_eq!(p.intervals(), &[range(Madrid, "2026-06-10T06:00", "2026-06-10T20:00")]);
        // With the shift filter, only the morning shift and its break count.
        let own = planned_set(&schedule, 1, Madrid, &day, far_future(), Some(1));
        assert_eq!(own.total_micros(), 7 * HOUR + HOUR / 2);
        // Counting for the morning shift keeps its break: units made then are its.
        let scope = counting_scope(&schedule, 1, Madrid, &day, far_future(), Some(1));
        assert_eq!(
            scope.intervals(),
            &[range(Madrid, "2026-06-10T06:00", "2026-06-10T14:00")]
        );
    }

    #[test]
    fn calendar_days_take_out_whole_local_days_on_the_lines_they_name() {
        let night = shift(1, hm(22, 0), hm(6, 0), true);
        // Holiday on Thursday 2026-06-11 for every line; shutdown of line 2 on Friday.
        let schedule = Schedule {
            shifts: vec![night],
            reason_stops: BTreeMap::new(),
            calendar: vec![
                holiday(1, date(2026, 6, 11), date(2026, 6, 11), Vec::new()),
                holiday(2, date(2026, 6, 12), date(2026, 6, 12), vec![2]),
            ],
        };
        let r = range(Madrid, "2026-06-11T00:00", "2026-06-13T00:00");
        let line1 = plan(&schedule, 1, Madrid, &r, far_future(), None);
        // Wednesday's night 00:00-06:00 Thursday and Thursday's 22:00-24:00
        // are holiday; Thursday's night goes on 00:00-06:00 on Friday; then
        // Friday's 22:00-24:00.
        assert_eq!(
            line1.set.intervals(),
            &[
                range(Madrid, "2026-06-12T00:00", "2026-06-12T06:00"),
                range(Madrid, "2026-06-12T22:00", "2026-06-13T00:00"),
            ]
        );
        assert_eq!(line1.stops.total_micros(), 8 * HOUR);
        let line2 = planned_set(&schedule, 2, Madrid, &r, far_future(), None);
        assert!(line2.is_empty(), "{line2:?}");
    }

    #[test]
    fn stops_with_a_planned_reason_leave_p_of_their_line_only() {
        let day = shift(1, hm(6, 0), hm(14, 0), false);
        // Line 1 stopped 10:00-10:30 for a reason of class `planned`.
        let lunch = range(Madrid, "2026-06-10T10:00", "2026-06-10T10:30");
        let schedule = Schedule {
            shifts: vec![day],
            reason_stops: BTreeMap::from([(1, IntervalSet::from_interval(lunch))]),
            ..Schedule::default()
        };
        let r = range(Madrid, "2026-06-10T00:00", "2026-06-11T00:00");
        let line1 = plan(&schedule, 1, Madrid, &r, far_future(), None);
        assert_eq!(
            line1.set.intervals(),
            &[
                range(Madrid, "2026-06-10T06:00", "2026-06-10T10:00"),
                range(Madrid, "2026-06-10T10:30", "2026-06-10T14:00"),
            ]
        );
        assert_eq!(line1.stops.intervals(), &[lunch]);
        let line2 = plan(&schedule, 2, Madrid, &r, far_future(), None);
        assert_eq!(line2.set.total_micros(), 8 * HOUR);
        assert!(line2.stops.is_empty());
    }

    #[test]
    fn a_line_running_around_the_clock_loses_calendar_days_in_local_time() {
        // Santiago, 2026-09-06: midnight does not exist (00:00 jumps to 01:00),
        // so the day runs 01:00-24:00, 23 real hours.
        let schedule = Schedule {
            shifts: Vec::new(),
            calendar: vec![holiday(1, date(2026, 9, 6), date(2026, 9, 6), Vec::new())],
            reason_stops: BTreeMap::new(),
        };
        let r = range(Santiago, "2026-09-05T00:00", "2026-09-08T00:00");
        let plan = plan(&schedule, 1, Santiago, &r, far_future(), None);
        assert_eq!(plan.basis, PlanBasis::AroundTheClock);
        assert_eq!(plan.stops.total_micros(), 23 * HOUR);
        assert_eq!(plan.set.total_micros(), (24 + 24) * HOUR);
        assert_eq!(
            schedule.calendar[0].interval(Santiago).start,
            local(Santiago, "2026-09-06T01:00")
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn planned_stops_come_out_of_p_and_nothing_else_does(
            rule in arb_shift(),
            zone in arb_zone(),
            start in arb_start(),
            len_min in 1i64..(4 * 24 * 60),
            now_min in 0i64..(5 * 24 * 60),
            calendar in arb_calendar(),
        ) {
            // A shift longer than a day (overnight with its end after its
            // start; refused on write) overlaps its own next occurrence, which
            // may cover a break: P keeps what any occurrence works.
            prop_assume!(rule.wall_seconds() <= DAY_SECONDS);
            let r = Interval::new(start, start + TimeDelta::minutes(len_min));
            let now = start + TimeDelta::minutes(now_min);
            let Some(clipped) = r.clip_to_now(now) else { return Ok(()); };
            let mut bare = rule.clone();
            bare.breaks.clear();
            let without = planned_set(&sched(std::slice::from_ref(&bare)), 1, zone, &r, now, None);
            // Without breaks and calendar, P is the union of the occurrences.
            let occurrences = IntervalSet::from_intervals(bare.occurrences(zone, &clipped)).intersect_interval(&clipped);
            prop_assert_eq!(&without, &occurrences);
            // |P with breaks| = |P without| - |breaks inside it|; P meets no break.
            let breaks = IntervalSet::from_intervals(
                rule.dated_occurrences(zone, &clipped)
                    .into_iter()
                    .flat_map(|(d, _)| rule.breaks_on(zone, d).intervals().to_vec()),
            );
            let with_breaks = plan(&sched(std::slice::from_ref(&rule)), 1, zone, &r, now, None);
            prop_assert!(with_breaks.set.intersection(&breaks).is_empty());
            prop_assert_eq!(
                with_breaks.set.total_micros(),
                without.total_micros() - without.intersection(&breaks).total_micros()
            );
            prop_assert_eq!(with_breaks.stops.total_micros() + with_breaks.set.total_micros(), without.total_micros());
            // Calendar days of the line never stay in P; another line's do.
            let schedule = Schedule { shifts: vec![rule.clone()], calendar: calendar_of(&calendar, zone, start), reason_stops: BTreeMap::new() };
            let p = plan(&schedule, 1, zone, &r, now, None);
            let days_off = schedule.calendar_set(1, zone, &clipped);
            prop_assert!(p.set.intersection(&days_off).is_empty());
            prop_assert_eq!(&p.set, &with_breaks.set.difference(&days_off));
            prop_assert_eq!(p.stops.total_micros() + p.set.total_micros(), without.total_micros());
            // A line running around the clock loses the calendar days only.
            let around = plan(&Schedule { calendar: schedule.calendar.clone(), ..Schedule::default() }, 1, zone, &r, now, None);
            prop_assert_eq!(around.set.total_micros(), clipped.duration_micros() - days_off.total_micros());
        }
    }

    /// A shift with up to two breaks drawn inside its occurrence on a
    /// quarter-hour grid (they may overlap each other: the engine takes out
    /// their union whatever validation would say).
    fn arb_shift() -> impl Strategy<Value = ShiftRule> {
        arb_shift_without_breaks().prop_flat_map(|rule| {
            let quarters = (rule.wall_seconds() / 900).max(1);
            prop::collection::vec((0..quarters, 1i64..7), 0..3).prop_map(move |drawn| {
                let mut rule = rule.clone();
                let at = |quarter: i64| {
                    let secs = (seconds_of_day(rule.start_time) + quarter * 900).rem_euclid(DAY_SECONDS);
                    NaiveTime::from_num_seconds_from_midnight_opt(secs as u32, 0).expect("time of day")
                };
                rule.breaks = drawn
                    .into_iter()
                    .map(|(offset, len)| (offset, len.min(quarters - offset)))
                    .filter(|(_, len)| *len > 0)
                    .map(|(offset, len)| ShiftBreak {
                        start_time: at(offset),
                        end_time: at(offset + len),
                    })
                    .collect();
                rule
            })
        })
    }

    /// Calendar entries around the drawn range: (first day relative to the
    /// range's first local day, extra days, whether it stops only line 2).
    fn arb_calendar() -> impl Strategy<Value = Vec<(i64, i64, bool)>> {
        prop::collection::vec((-1i64..5, 0i64..2, prop::bool::weighted(0.25)), 0..3)
    }

    fn calendar_of(drawn: &[(i64, i64, bool)], zone: Tz, start: DateTime<Utc>) -> Vec<CalendarEntry> {
        let first = to_local(start, zone).date();
        drawn
            .iter()
            .enumerate()
            .map(|(i, (from, extra, other_line))| CalendarEntry {
                entry_id: i as i32 + 1,
                start_date: first + TimeDelta::days(*from),
                end_date: first + TimeDelta::days(from + extra),
                line_ids: if *other_line { vec![2] } else { Vec::new() },
            })
            .collect()
    }

    fn arb_shift_without_breaks() -> impl Strategy<Value = ShiftRule> {
        (
            0u32..24,
            prop::sample::select(vec![0u32, 15, 30]),
            0u32..24,
            prop::sample::select(vec![0u32, 30]),
            any::<bool>(),
            1u8..128,
            1i32..4,
        )
            .prop_map(|(sh, sm, eh, em, overnight, days, id)| ShiftRule {
                shift_id: id,
                start_time: hm(sh, sm),
                end_time: hm(eh, em),
                is_overnight: overnight,
                days: [
                    Weekday::Mon,
                    Weekday::Tue,
                    Weekday::Wed,
                    Weekday::Thu,
                    Weekday::Fri,
                    Weekday::Sat,
                    Weekday::Sun,
                ]
                .into_iter()
                .enumerate()
                .filter(|(i, _)| days & (1 << i) != 0)
                .fold(WeekdaySet::EMPTY, |mut acc, (_, d)| {
                    acc.insert(d);
                    acc
                }),
                active: true,
                line_ids: None,
                breaks: Vec::new(),
            })
    }

    fn arb_zone() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![
            Tz::UTC,
            Madrid,
            Santiago,
            chrono_tz::Asia::Kolkata,
            chrono_tz::Australia::Lord_Howe,
        ])
    }

    /// Starts near the 2026 DST transitions so that they are exercised often.
    fn arb_start() -> impl Strategy<Value = DateTime<Utc>> {
        (
            prop::sample::select(vec![
                "2026-03-27T00:00:00Z",
                "2026-04-03T00:00:00Z",
                "2026-09-04T00:00:00Z",
                "2026-10-23T00:00:00Z",
                "2026-10-02T00:00:00Z",
            ]),
            0i64..(4 * 24 * 60),
        )
            .prop_map(|(base, minutes)| {
                DateTime::parse_from_rfc3339(base).expect("base").with_timezone(&Utc) + TimeDelta::minutes(minutes)
            })
    }

    proptest! {
        #[test]
        fn planned_time_is_additive_over_any_split_of_the_range(
            shifts in prop::collection::vec(arb_shift(), 0..4),
            zone in arb_zone(),
            start in arb_start(),
            len_min in 1i64..(5 * 24 * 60),
            split_frac in 0.0f64..=1.0,
            now_min in 0i64..(6 * 24 * 60),
            filter in prop::option::of(1i32..4),
            calendar in arb_calendar(),
        ) {
            let end = start + TimeDelta::minutes(len_min);
            let mid = start + TimeDelta::seconds((len_min as f64 * 60.0 * split_frac) as i64);
            let now = start + TimeDelta::minutes(now_min);
            let schedule = Schedule { shifts: shifts.clone(), calendar: calendar_of(&calendar, zone, start), reason_stops: BTreeMap::new() };
            let whole = planned_set(&schedule, 1, zone, &Interval::new(start, end), now, filter);
            let left = planned_set(&schedule, 1, zone, &Interval::new(start, mid), now, filter);
            let right = planned_set(&schedule, 1, zone, &Interval::new(mid, end), now, filter);
            prop_assert_eq!(whole.total_micros(), left.total_micros() + right.total_micros());
            prop_assert_eq!(&whole, &left.union(&right));
            // Never more than the clipped range, never after now.
            prop_assert!(whole.total_micros() <= Interval::new(start, end.min(now)).duration_micros());
            prop_assert!(whole.intervals().iter().all(|i| i.end <= now && i.start >= start && i.end <= end));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn planned_set_equals_a_minute_by_minute_wall_clock_oracle(
            shifts in prop::collection::vec(arb_shift(), 1..4),
            zone in arb_zone(),
            start in arb_start(),
            len_min in 1i64..(3 * 24 * 60),
            calendar in arb_calendar(),
        ) {
            let end = start + TimeDelta::minutes(len_min);
            let schedule = Schedule { shifts: shifts.clone(), calendar: calendar_of(&calendar, zone, start), reason_stops: BTreeMap::new() };
            let p = planned_set(&schedule, 1, zone, &Interval::new(start, end), far_future(), None);
            let oracle = WallClockOracle::new(&schedule, zone, start, end);
            // Shift times, DST transitions and the drawn range all fall on
            // whole minutes, so probing every minute decides P exactly.
            let mut t = start;
            while t < end {
                prop_assert_eq!(p.contains(t), oracle.planned(t), "at {} ({})", t, zone);
                t += TimeDelta::minutes(1);
            }
            prop_assert_eq!(
                p.total_micros(),
                oracle.planned_minutes * 60 * MICROS_PER_SECOND,
                "P's length is the count of planned minutes"
            );
        }
    }

    /// An oracle for P that shares no code with `shifts` or `time`: it reads
    /// the tenant's wall clock minute by minute with chrono-tz and applies
    /// spec §2 literally. An occurrence starting on local date `d` runs from
    /// the first minute whose wall-clock reading is at or after `d start_time`
    /// (this is the earlier instant of an ambiguous time, and the transition
    /// for a time in a gap) to the first minute whose reading is at or after
    /// the end time, on the next date when the shift is overnight or its end
    /// is not after its start. A break runs from the first reading of its
    /// start time at or after the occurrence's start to the next reading of
    /// its end time after that; a calendar entry from the first reading at or
    /// after 00:00 of its first day to the first at or after 00:00 of the day
    /// after its last (spec §10). A minute is planned when an occurrence
    /// holds it outside that occurrence's breaks and no calendar day of the
    /// line holds it.
    struct WallClockOracle {
        /// Each occurrence and its breaks.
        occurrences: Vec<(Span, Vec<Span>)>,
        /// The calendar days of line 1.
        days_off: Vec<Span>,
        planned_minutes: i64,
    }

    /// `[from, to)` as instants.
    type Span = (DateTime<Utc>, DateTime<Utc>);

    impl WallClockOracle {
        fn new(schedule: &Schedule, zone: Tz, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
            let reading = |t: DateTime<Utc>| t.with_timezone(&zone).naive_local();
            // Minute-by-minute scan from far enough back: every zone drawn is
            // within UTC-5..UTC+14, so 15 h before the reading as UTC is earlier.
            let first_at_or_after = |wall: chrono::NaiveDateTime| {
                let mut t = wall.and_utc() - TimeDelta::hours(15);
                let limit = wall.and_utc() + TimeDelta::hours(15);
                while reading(t) < wall && t < limit {
                    t += TimeDelta::minutes(1);
                }
                t
            };
            // The first wall-clock reading of `time` at or after `from`
            // (on its date or the next): "local times inside the occurrence".
            let next_reading = |from: chrono::NaiveDateTime, time: NaiveTime, strictly_after: bool| {
                let same_day = from.date().and_time(time);
                let ok = if strictly_after {
                    same_day > from
                } else {
                    same_day >= from
                };
                if ok { same_day } else { same_day + TimeDelta::days(1) }
            };
            let mut occurrences = Vec::new();
            let first_date = reading(start).date() - TimeDelta::days(2);
            let last_date = reading(end).date();
            for s in schedule.shifts.iter().filter(|s| s.active) {
                let mut d = first_date;
                while d <= last_date {
                    if s.days.contains(d.weekday()) {
                        let next_day = s.is_overnight || s.end_time <= s.start_time;
                        let end_date = if next_day { d + TimeDelta::days(1) } else { d };
                        let a = first_at_or_after(d.and_time(s.start_time));
                        let b = first_at_or_after(end_date.and_time(s.end_time));
                        let breaks = s
                            .breaks
                            .iter()
                            .map(|brk| {
                                let from = next_reading(d.and_time(s.start_time), brk.start_time, false);
                                let to = next_reading(from, brk.end_time, true);
                                (first_at_or_after(from), first_at_or_after(to))
                            })
                            .collect();
                        occurrences.push(((a, b), breaks));
                    }
                    d += TimeDelta::days(1);
                }
            }
            let days_off = schedule
                .calendar
                .iter()
                .filter(|e| e.line_ids.is_empty() || e.line_ids.contains(&1))
                .map(|e| {
                    (
                        first_at_or_after(e.start_date.and_time(NaiveTime::MIN)),
                        first_at_or_after((e.end_date + TimeDelta::days(1)).and_time(NaiveTime::MIN)),
                    )
                })
                .collect();
            let mut oracle = WallClockOracle {
                occurrences,
                days_off,
                planned_minutes: 0,
            };
            let mut t = start;
            while t < end {
                oracle.planned_minutes += i64::from(oracle.planned(t));
                t += TimeDelta::minutes(1);
            }
            oracle
        }

        fn planned(&self, t: DateTime<Utc>) -> bool {
            let within = |&(a, b): &Span| a <= t && t < b;
            self.occurrences
                .iter()
                .any(|(occurrence, breaks)| within(occurrence) && !breaks.iter().any(within))
                && !self.days_off.iter().any(within)
        }
    }
}
