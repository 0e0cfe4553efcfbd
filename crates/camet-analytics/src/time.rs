//! Tenant-local time: resolving wall-clock times, parsing and formatting API
//! instants, and validating query ranges (spec §1).
//!
//! Instants are `DateTime<Utc>` everywhere; the tenant's IANA zone is only
//! used to read or build wall-clock times.

use chrono::{
    DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, SubsecRound, TimeDelta,
    TimeZone, Utc,
};
use chrono_tz::Tz;

use super::error::AnalyticsError;
use super::interval::Interval;

/// Default maximum length of a query range, in days.
pub const DEFAULT_MAX_RANGE_DAYS: u32 = 400;

/// Parses a tenant's IANA time zone name (`UTC`, `Europe/Madrid`, ...).
pub fn parse_timezone(name: &str) -> Result<Tz, AnalyticsError> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| AnalyticsError::InvalidTimezone { value: name.to_owned() })
}

/// Drops sub-microsecond digits: instants are stored with µs precision, so
/// every instant entering the engine is cut the same way.
pub fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// The wall-clock reading of `t` in `tz`.
pub fn to_local(t: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// `t` with the tenant's UTC offset at that instant; serialises as RFC 3339
/// with that offset.
pub fn to_tenant_offset(t: DateTime<Utc>, tz: Tz) -> DateTime<FixedOffset> {
    t.with_timezone(&tz).fixed_offset()
}

/// RFC 3339 with the tenant's offset at `t`, e.g. `2026-03-29T03:00:00+02:00`.
/// Fractional seconds are printed only when non-zero (3, 6 or 9 digits); UTC
/// prints `+00:00` so every response uses the same shape.
pub fn format_instant(t: DateTime<Utc>, tz: Tz) -> String {
    to_tenant_offset(t, tz).to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// Chart label of an instant: its local reading `YYYY-MM-DD HH:MM`.
pub fn local_label(t: DateTime<Utc>, tz: Tz) -> String {
    to_local(t, tz).format("%Y-%m-%d %H:%M").to_string()
}

/// The instant a tenant means by the wall-clock time `local`.
///
/// - A time that exists once maps to that instant.
/// - An ambiguous time (fall-back) takes the EARLIER instant.
/// - A time that does not exist (spring-forward gap) moves FORWARD to the
///   first valid instant, i.e. the transition itself: in Europe/Madrid,
///   `2026-03-29 02:30` becomes `03:00+02:00`.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => first_instant_at_or_after(tz, local)
            // Only reachable at the very edge of chrono's calendar range.
            .unwrap_or_else(|| Utc.from_utc_datetime(&local)),
    }
}

/// `resolve_local` at local midnight of `date`.
pub fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    resolve_local(tz, date.and_time(NaiveTime::MIN))
}

/// Smallest whole-second instant whose local reading is `>= local`.
///
/// tzdb transitions fall on whole seconds, so for a time inside a gap this is
/// the transition instant. The search window of ±27 h contains every
/// possible offset (tzdb offsets stay within ±26 h). The binary search keeps
/// "reading < local" at `lo` and "reading >= local" at `hi`, so the result
/// always follows a gap; it is the FIRST such instant as long as the reading
/// is monotone in the window, i.e. unless a fall-back transition lies within
/// 27 h of the gap (the property test checks the current rules of the zones
/// used by the tests).
fn first_instant_at_or_after(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    const WINDOW: i64 = 27 * 3600;
    let local_at = |secs: i64| -> Option<NaiveDateTime> { DateTime::from_timestamp(secs, 0).map(|t| to_local(t, tz)) };
    let pivot = local.and_utc().timestamp();
    let (mut lo, mut hi) = (pivot.checked_sub(WINDOW)?, pivot.checked_add(WINDOW)?);
    if local_at(lo)? >= local || local_at(hi)? < local {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if local_at(mid)? >= local {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// Earliest instant the API accepts: 1970-01-01T00:00:00Z.
pub const EARLIEST_INSTANT: DateTime<Utc> = DateTime::UNIX_EPOCH;

/// Latest instant the API accepts: 9999-12-31T23:59:59.999999Z. Both backends store every
/// instant in between (MySQL `DATETIME(6)` starts at year 1000); outside it MySQL refuses what
/// SQLite keeps, which made year 0 a 500 on one backend and a 200 on the other.
pub fn latest_instant() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999))
        .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc())
}

/// Whether `t` lies in the range every API instant must lie in (see [`EARLIEST_INSTANT`],
/// [`latest_instant`]).
pub fn is_sane_instant(t: DateTime<Utc>) -> bool {
    (EARLIEST_INSTANT..=latest_instant()).contains(&t)
}

/// The hint of an instant outside [`is_sane_instant`]'s range.
pub const OUT_OF_RANGE_HINT: &str = "; instants must lie between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z";

/// Parses an API instant for request field `field`.
///
/// Accepted (ASCII, surrounding whitespace ignored):
/// - RFC 3339 with an offset: `2026-03-29T03:00:00+02:00`, `...Z`; seconds
///   may be omitted (`2026-03-29T03:00+02:00`), `±HHMM` is accepted too;
/// - a local date-time in `tz`: `YYYY-MM-DDTHH:MM[:SS[.fraction]]`, with `T`,
///   `t` or a space between date and time, resolved by [`resolve_local`];
/// - a bare date `YYYY-MM-DD`: local midnight of that date (the fields are
///   called `start_date`/`end_date`, and clients send plain dates).
///
/// Fractions longer than 6 digits are accepted and truncated to µs, as is
/// the result. A space before a trailing offset (`...T03:00:00 02:00`) is
/// rejected with a hint: it is what an unencoded `+` in a query string turns
/// into, and guessing the sign would be wrong for negative offsets.
///
/// Instants outside 1970-01-01T00:00:00Z ..= 9999-12-31T23:59:59.999999Z are
/// rejected (see [`is_sane_instant`]).
pub fn parse_instant(input: &str, tz: Tz, field: &'static str) -> Result<DateTime<Utc>, AnalyticsError> {
    let err = |hint: &'static str| AnalyticsError::InvalidInstant {
        field,
        value: input.to_owned(),
        hint,
    };
    let s = input.trim();
    if !s.is_ascii() {
        return Err(err(""));
    }
    let b = s.as_bytes();
    let date = parse_date(b).ok_or_else(|| err(""))?;
    if b.len() == 10 {
        let midnight = truncate_micros(local_midnight(tz, date));
        return if is_sane_instant(midnight) {
            Ok(midnight)
        } else {
            Err(err(OUT_OF_RANGE_HINT))
        };
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return Err(err(""));
    }
    let (time, rest) = parse_time(&b[11..]).ok_or_else(|| err(""))?;
    let naive = date.and_time(time);
    let instant = match rest {
        [] => resolve_local(tz, naive),
        [b' ', ..] => {
            return Err(err(
                "; a space before the offset usually means an unencoded '+' in the query string: send it as %2B",
            ));
        }
        offset => {
            let offset = parse_offset(offset).ok_or_else(|| err(""))?;
            match offset.from_local_datetime(&naive) {
                LocalResult::Single(t) => t.with_timezone(&Utc),
                _ => return Err(err("")),
            }
        }
    };
    let instant = truncate_micros(instant);
    if !is_sane_instant(instant) {
        return Err(err(OUT_OF_RANGE_HINT));
    }
    Ok(instant)
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter()
        .try_fold(0u32, |acc, d| acc.checked_mul(10)?.checked_add(u32::from(d - b'0')))
}

/// `YYYY-MM-DD` at the start of `b`.
fn parse_date(b: &[u8]) -> Option<NaiveDate> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = i32::try_from(digits(&b[0..4])?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(&b[5..7])?, digits(&b[8..10])?)
}

/// `HH:MM[:SS[.f{1,}]]` at the start of `b`, and what follows it.
fn parse_time(b: &[u8]) -> Option<(NaiveTime, &[u8])> {
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let (h, m) = (digits(&b[0..2])?, digits(&b[3..5])?);
    let mut rest = &b[5..];
    let (mut sec, mut nanos) = (0, 0);
    if let [b':', s1, s2, tail @ ..] = rest {
        sec = digits(&[*s1, *s2])?;
        rest = tail;
        if let [b'.', tail @ ..] = rest {
            let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            // Keep 9 digits (ns); truncation to µs happens on the instant.
            let kept = &tail[..n.min(9)];
            nanos = digits(kept)? * 10u32.pow(9 - kept.len() as u32);
            rest = &tail[n..];
        }
    }
    // from_hms_nano_opt rejects 24:00, :60 and anything out of range.
    Some((NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?, rest))
}

/// `Z`, `z`, `±HH:MM` or `±HHMM`.
fn parse_offset(b: &[u8]) -> Option<FixedOffset> {
    let (sign, hh, mm) = match b {
        [b'Z' | b'z'] => return FixedOffset::east_opt(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            (*sign, digits(&[*h1, *h2])?, digits(&[*m1, *m2])?)
        }
        _ => return None,
    };
    if hh > 23 || mm > 59 {
        return None;
    }
    let secs = i32::try_from(hh * 3600 + mm * 60).ok()?;
    FixedOffset::east_opt(if sign == b'-' { -secs } else { secs })
}

/// Validates a query range `[start, end)`: `end <= start` and ranges longer
/// than `max_days` days of 24 h are errors naming `end_date`.
pub fn validate_range(start: DateTime<Utc>, end: DateTime<Utc>, max_days: u32) -> Result<Interval, AnalyticsError> {
    if end <= start {
        return Err(AnalyticsError::EmptyRange);
    }
    if end - start > TimeDelta::days(i64::from(max_days)) {
        return Err(AnalyticsError::RangeTooLong { max_days });
    }
    Ok(Interval::new(start, end))
}

/// Parses and validates `start_date` and `end_date` (see [`parse_instant`]
/// and [`validate_range`]). Returns every field error found, so a 422 can
/// list both fields when both are malformed.
pub fn parse_range(start: &str, end: &str, tz: Tz, max_days: u32) -> Result<Interval, Vec<AnalyticsError>> {
    match (
        parse_instant(start, tz, "start_date"),
        parse_instant(end, tz, "end_date"),
    ) {
        (Ok(s), Ok(e)) => validate_range(s, e, max_days).map_err(|e| vec![e]),
        (s, e) => Err(s.err().into_iter().chain(e.err()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::Santiago;
    use chrono_tz::Asia::Kolkata;
    use chrono_tz::Europe::Madrid;
    use proptest::prelude::*;

    pub(crate) fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    fn naive(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("test local time")
    }

    #[test]
    fn malformed_dates_and_times_are_refused_not_read_as_something_else() {
        for bad in [
            // too short for a date
            "2026-01-1",
            // wrong date separators, first or second
            "2026/01/01T00:00Z",
            "2026-01/01T00:00Z",
            // a non-digit that digit arithmetic would read as 10
            "2026-01-0:T00:00Z",
            // wrong time separator
            "2026-01-01T12-30Z",
            // a decimal point without digits
            "2026-01-01T12:00:00.Z",
            // minutes of an offset beyond 59 (would read as +06:00)
            "2026-01-01T12:00+05:60",
            // an offset of a whole day
            "2026-01-01T12:00+24:00",
        ] {
            assert!(parse_instant(bad, Tz::UTC, "start_date").is_err(), "{bad} is refused");
        }
        assert_eq!(
            parse_instant("2026-01-01T12:30:00.5Z", Tz::UTC, "start_date"),
            Ok(utc("2026-01-01T12:30:00.5Z"))
        );
        // The widest offsets there are: 23:59 either way.
        assert_eq!(
            parse_instant("2026-01-01T23:59+23:59", Tz::UTC, "start_date"),
            Ok(utc("2026-01-01T00:00:00Z"))
        );
        assert_eq!(
            parse_instant("2026-01-01T00:00-2359", Tz::UTC, "start_date"),
            Ok(utc("2026-01-01T23:59:00Z"))
        );
    }

    #[test]
    fn dst_dates_of_2026_are_the_ones_the_tests_assume() {
        // Madrid: 02:00 CET -> 03:00 CEST on 03-29, 03:00 CEST -> 02:00 CET on 10-25.
        assert_eq!(
            format_instant(utc("2026-03-29T00:59:59Z"), Madrid),
            "2026-03-29T01:59:59+01:00"
        );
        assert_eq!(
            format_instant(utc("2026-03-29T01:00:00Z"), Madrid),
            "2026-03-29T03:00:00+02:00"
        );
        assert_eq!(
            format_instant(utc("2026-10-25T00:59:59Z"), Madrid),
            "2026-10-25T02:59:59+02:00"
        );
        assert_eq!(
            format_instant(utc("2026-10-25T01:00:00Z"), Madrid),
            "2026-10-25T02:00:00+01:00"
        );
        // Santiago: 24:00 -03 -> 23:00 -04 ending 04-04; 24:00 -04 -> 01:00 -03 on 09-06.
        assert_eq!(
            format_instant(utc("2026-04-05T02:59:59Z"), Santiago),
            "2026-04-04T23:59:59-03:00"
        );
        assert_eq!(
            format_instant(utc("2026-04-05T03:00:00Z"), Santiago),
            "2026-04-04T23:00:00-04:00"
        );
        assert_eq!(
            format_instant(utc("2026-09-06T03:59:59Z"), Santiago),
            "2026-09-05T23:59:59-04:00"
        );
        assert_eq!(
            format_instant(utc("2026-09-06T04:00:00Z"), Santiago),
            "2026-09-06T01:00:00-03:00"
        );
    }

    #[test]
    fn nonexistent_local_time_moves_forward_to_first_valid_instant() {
        assert_eq!(
            resolve_local(Madrid, naive("2026-03-29 02:30:00")),
            utc("2026-03-29T03:00:00+02:00")
        );
        assert_eq!(
            resolve_local(Madrid, naive("2026-03-29 02:00:00")),
            utc("2026-03-29T03:00:00+02:00")
        );
        assert_eq!(
            resolve_local(Madrid, naive("2026-03-29 03:00:00")),
            utc("2026-03-29T03:00:00+02:00")
        );
    }

    #[test]
    fn nonexistent_midnight_in_santiago_september_is_one_am() {
        let d = NaiveDate::from_ymd_opt(2026, 9, 6).expect("date");
        assert_eq!(local_midnight(Santiago, d), utc("2026-09-06T01:00:00-03:00"));
    }

    #[test]
    fn ambiguous_local_time_takes_the_earlier_instant() {
        assert_eq!(
            resolve_local(Madrid, naive("2026-10-25 02:30:00")),
            utc("2026-10-25T02:30:00+02:00")
        );
        assert_eq!(
            resolve_local(Santiago, naive("2026-04-04 23:30:00")),
            utc("2026-04-04T23:30:00-03:00")
        );
    }

    #[test]
    fn instant_with_offset_is_taken_as_is() {
        let t = parse_instant("2026-03-29T03:00:00+02:00", Santiago, "start_date").expect("ok");
        assert_eq!(t, utc("2026-03-29T01:00:00Z"));
        let z = parse_instant("2026-03-29T01:00:00z", Santiago, "start_date").expect("ok");
        assert_eq!(z, t);
        let compact = parse_instant("2026-03-28T21:00-0400", Madrid, "start_date").expect("ok");
        assert_eq!(compact, t);
    }

    #[test]
    fn instant_without_offset_is_local_time_in_tenant_zone() {
        let t = parse_instant("2026-07-01T08:00:00", Madrid, "start_date").expect("ok");
        assert_eq!(t, utc("2026-07-01T06:00:00Z"));
        assert_eq!(parse_instant("2026-07-01 08:00", Madrid, "start_date").expect("ok"), t);
        assert_eq!(
            parse_instant("2026-07-01t08:00:00.000000", Madrid, "start_date").expect("ok"),
            t
        );
        let k = parse_instant("2026-07-01T08:00", Kolkata, "start_date").expect("ok");
        assert_eq!(k, utc("2026-07-01T02:30:00Z"));
    }

    #[test]
    fn local_instant_in_dst_gap_or_overlap_follows_resolution_rules() {
        assert_eq!(
            parse_instant("2026-03-29T02:15", Madrid, "start_date").expect("ok"),
            utc("2026-03-29T01:00:00Z")
        );
        assert_eq!(
            parse_instant("2026-10-25T02:15", Madrid, "start_date").expect("ok"),
            utc("2026-10-25T00:15:00Z")
        );
    }

    #[test]
    fn bare_date_is_local_midnight() {
        assert_eq!(
            parse_instant("2026-09-06", Santiago, "start_date").expect("ok"),
            utc("2026-09-06T04:00:00Z")
        );
    }

    #[test]
    fn fractions_are_truncated_to_microseconds() {
        let t = parse_instant("2026-07-01T08:00:00.123456789Z", Madrid, "start_date").expect("ok");
        assert_eq!(t, utc("2026-07-01T08:00:00.123456Z"));
        let short = parse_instant("2026-07-01T08:00:00.5Z", Madrid, "start_date").expect("ok");
        assert_eq!(short, utc("2026-07-01T08:00:00.5Z"));
    }

    #[test]
    fn malformed_instants_are_rejected_naming_the_field() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-02-30",
            "2026-07-01T24:00:00Z",
            "2026-07-01T08:00:60Z",
            "2026-07-01T08:00:00.Z",
            "2026-07-01T08:00:00+24:00",
            "2026-07-01X08:00",
            "2026-07-01T8:00",
            "+2026-07-01T08:00",
            "2026-07-01T08:00:00Zjunk",
            "2026-07-01T08:00:00+02:00:00",
            "2026-07-01T08:00:00é",
        ] {
            let e = parse_instant(bad, Madrid, "end_date").expect_err(bad);
            assert_eq!(e.field(), "end_date", "{bad}");
            assert!(e.to_string().starts_with("end_date:"), "{e}");
        }
    }

    #[test]
    fn space_before_offset_hints_at_unencoded_plus() {
        let e = parse_instant("2026-07-01T08:00:00 02:00", Madrid, "start_date").expect_err("space");
        assert!(e.to_string().contains("%2B"), "{e}");
    }

    #[test]
    fn response_instants_carry_the_tenant_offset_at_that_instant() {
        assert_eq!(
            format_instant(utc("2026-01-15T12:00:00Z"), Madrid),
            "2026-01-15T13:00:00+01:00"
        );
        assert_eq!(
            format_instant(utc("2026-07-15T12:00:00Z"), Madrid),
            "2026-07-15T14:00:00+02:00"
        );
        assert_eq!(
            format_instant(utc("2026-07-15T12:00:00Z"), Kolkata),
            "2026-07-15T17:30:00+05:30"
        );
        assert_eq!(
            format_instant(utc("2026-07-15T12:00:00.25Z"), Tz::UTC),
            "2026-07-15T12:00:00.250+00:00"
        );
    }

    #[test]
    fn range_with_end_not_after_start_is_rejected() {
        let t = utc("2026-07-01T00:00:00Z");
        let e = validate_range(t, t, DEFAULT_MAX_RANGE_DAYS).expect_err("empty");
        assert_eq!(e, AnalyticsError::EmptyRange);
        assert_eq!(e.field(), "end_date");
        assert!(validate_range(t, t - TimeDelta::seconds(1), 400).is_err());
    }

    #[test]
    fn range_longer_than_max_days_is_rejected() {
        let s = utc("2026-01-01T00:00:00Z");
        assert!(validate_range(s, s + TimeDelta::days(400), DEFAULT_MAX_RANGE_DAYS).is_ok());
        let e = validate_range(s, s + TimeDelta::days(400) + TimeDelta::microseconds(1), 400).expect_err("too long");
        assert_eq!(e, AnalyticsError::RangeTooLong { max_days: 400 });
        assert!(validate_range(s, s + TimeDelta::days(8), 7).is_err());
    }

    #[test]
    fn instants_outside_1970_to_9999_are_rejected() {
        for bad in [
            "0000-01-01",
            "0000-01-01T00:00:00Z",
            "0001-06-01T12:00:00+02:00",
            "1969-12-31T23:59:59.999999Z",
            "1970-01-01T00:30:00+01:00",
        ] {
            let e = parse_instant(bad, Tz::UTC, "start_date").expect_err(bad);
            assert!(e.to_string().contains("between 1970-01-01"), "{bad}: {e}");
        }
        for good in [
            "1970-01-01",
            "1970-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "9999-12-31",
        ] {
            parse_instant(good, Tz::UTC, "start_date").expect(good);
        }
        // Local 9999-12-31T23:00 in Santiago is already in year 10000 in UTC.
        assert!(parse_instant("9999-12-31T23:00:00", Santiago, "end_date").is_err());
        assert!(is_sane_instant(EARLIEST_INSTANT) && is_sane_instant(latest_instant()));
    }

    #[test]
    fn parse_range_reports_both_bad_fields() {
        let errs = parse_range("x", "y", Madrid, 400).expect_err("both bad");
        let fields: Vec<_> = errs.iter().map(AnalyticsError::field).collect();
        assert_eq!(fields, ["start_date", "end_date"]);
        let ok = parse_range("2026-03-29", "2026-03-30", Madrid, 400).expect("ok");
        assert_eq!(ok.duration_micros(), 23 * 3600 * 1_000_000);
    }

    #[test]
    fn unknown_timezone_is_rejected() {
        assert_eq!(parse_timezone("Europe/Madrid"), Ok(Madrid));
        assert_eq!(parse_timezone("Mars/Olympus").expect_err("bad").field(), "timezone");
    }

    /// The UTC instants (whole seconds) at which `zone` changes its offset
    /// between 2023-11 and 2027-10, found by scanning hour by hour with
    /// chrono-tz directly (not with the code under test).
    fn transitions(zone: Tz) -> Vec<i64> {
        let offset = |secs: i64| {
            chrono::Offset::fix(
                DateTime::from_timestamp(secs, 0)
                    .expect("ts")
                    .with_timezone(&zone)
                    .offset(),
            )
            .local_minus_utc()
        };
        let mut out = Vec::new();
        let mut secs = 1_700_000_000i64;
        while secs < 1_830_000_000 {
            if offset(secs) != offset(secs + 3600) {
                // Narrow to the second: transitions fall on whole minutes, so
                // minute steps then second steps are exact.
                let mut lo = secs;
                while offset(lo + 60) == offset(secs) {
                    lo += 60;
                }
                while offset(lo + 1) == offset(secs) {
                    lo += 1;
                }
                out.push(lo + 1);
            }
            secs += 3600;
        }
        out
    }

    /// A local wall-clock reading (as naive seconds): half of the cases
    /// anywhere over four years, half within three hours of one of the
    /// zone's DST transitions (read on either side), so gaps and overlaps are
    /// drawn about half the time instead of ~3 %.
    fn local_reading(zone: Tz) -> BoxedStrategy<i64> {
        let near = transitions(zone);
        if near.is_empty() {
            return (1_700_000_000i64..1_830_000_000).boxed();
        }
        let near_local: Vec<i64> = near
            .iter()
            .flat_map(|&t| {
                [t - 1, t].map(|s| {
                    to_local(DateTime::from_timestamp(s, 0).expect("ts"), zone)
                        .and_utc()
                        .timestamp()
                })
            })
            .collect();
        prop_oneof![
            1 => 1_700_000_000i64..1_830_000_000,
            1 => (prop::sample::select(near_local), -3 * 3600i64..=3 * 3600).prop_map(|(t, d)| t + d),
        ]
        .boxed()
    }

    #[test]
    fn the_zones_drawn_by_the_property_have_the_transitions_it_aims_at() {
        // Eight years of transitions (two a year) per DST zone, none in Kolkata.
        assert_eq!(transitions(Madrid).len(), 8);
        assert_eq!(transitions(Santiago).len(), 8);
        assert_eq!(transitions(chrono_tz::Australia::Lord_Howe).len(), 8);
        assert!(transitions(Kolkata).is_empty());
        assert!(transitions(Madrid).contains(&utc("2026-03-29T01:00:00Z").timestamp()));
    }

    proptest! {
        #[test]
        fn resolved_local_time_reads_back_or_follows_a_gap(
            (zone, secs) in prop::sample::select(vec![Madrid, Santiago, Kolkata, chrono_tz::Australia::Lord_Howe])
                .prop_flat_map(|zone| (Just(zone), local_reading(zone))),
        ) {
            let local = DateTime::from_timestamp(secs, 0).expect("ts").naive_utc();
            let t = resolve_local(zone, local);
            // Parsing the same wall-clock reading without an offset follows the same rules.
            let text = local.format("%Y-%m-%dT%H:%M:%S").to_string();
            prop_assert_eq!(parse_instant(&text, zone, "start_date"), Ok(t));
            let back = to_local(t, zone);
            if back != local {
                // Only a gap may move a time, forward, to a transition instant.
                prop_assert!(zone.from_local_datetime(&local).single().is_none());
                prop_assert!(back > local);
                let before = to_local(t - TimeDelta::seconds(1), zone);
                prop_assert!(before < local);
            } else {
                // Ambiguous times take the earlier instant.
                if let LocalResult::Ambiguous(a, b) = zone.from_local_datetime(&local) {
                    prop_assert_eq!(t, a.min(b).with_timezone(&Utc));
                }
            }
        }

        #[test]
        fn formatted_instants_parse_back(secs in 0i64..4_000_000_000, micros in 0u32..1_000_000) {
            let t = DateTime::from_timestamp(secs, micros * 1000).expect("ts");
            for zone in [Madrid, Santiago, Kolkata, Tz::UTC] {
                let s = format_instant(t, zone);
                prop_assert_eq!(parse_instant(&s, Tz::UTC, "start_date"), Ok(t));
            }
        }
    }
}
