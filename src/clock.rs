//! Time: the injectable clock that requests and jobs ask for "now", and
//! wall-clock helpers. Instants are truncated to microseconds because MySQL
//! `DATETIME(6)` keeps microseconds while SQLite would keep nanoseconds: both
//! backends must store and return the same value.
//!
//! Every decision that depends on the current instant (token expiry, the
//! planned set clipped at now, job windows, ingest horizons) reads
//! [`Clock::now`] from the application state, so a test can pin the clock to
//! its fixture's dates and never depends on the day it runs.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// Marks "no fixed instant: read the system clock".
const SYSTEM: i64 = i64::MIN;

/// The source of "now" for one server: the system clock, or an instant a test
/// pinned (and may move). Cheap to read from any thread.
#[derive(Debug)]
pub struct Clock {
    /// Microseconds since the Unix epoch of the pinned instant, or [`SYSTEM`].
    pinned_micros: AtomicI64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock {
            pinned_micros: AtomicI64::new(SYSTEM),
        }
    }

    /// A clock pinned at `at` until [`Clock::pin`] or [`Clock::unpin`] moves it.
    pub fn pinned(at: DateTime<Utc>) -> Clock {
        let clock = Clock::system();
        clock.pin(at);
        clock
    }

    /// Pins the clock at `at` (truncated to microseconds).
    pub fn pin(&self, at: DateTime<Utc>) {
        self.pinned_micros.store(at.timestamp_micros(), Ordering::Relaxed);
    }

    /// Returns to the system clock.
    pub fn unpin(&self) {
        self.pinned_micros.store(SYSTEM, Ordering::Relaxed);
    }

    /// Now, in UTC, truncated to microseconds.
    pub fn now(&self) -> DateTime<Utc> {
        match self.pinned_micros.load(Ordering::Relaxed) {
            SYSTEM => now_utc(),
            micros => DateTime::from_timestamp_micros(micros).unwrap_or_else(now_utc),
        }
    }

    /// Now as the naive UTC value stored in `TIMESTAMP`/`DATETIME(6)` columns.
    pub fn now_naive(&self) -> NaiveDateTime {
        self.now().naive_utc()
    }
}

/// The system clock now, in UTC, truncated to microseconds. Prefer the
/// state's [`Clock`] wherever a request or job decides something by it.
pub fn now_utc() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The system clock now as the naive UTC value stored in `TIMESTAMP`/`DATETIME(6)` columns.
pub fn now_naive() -> NaiveDateTime {
    now_utc().naive_utc()
}

/// A stored instant truncated to microseconds.
pub fn truncate_naive(t: NaiveDateTime) -> NaiveDateTime {
    t.trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_clock_answers_its_instant_until_moved_or_unpinned() {
        let at = DateTime::parse_from_rfc3339("2026-11-16T10:00:00.123456Z").map(|t| t.to_utc());
        let at = at.expect("fixture instant");
        let clock = Clock::pinned(at);
        assert_eq!(clock.now(), at);
        assert_eq!(clock.now(), at, "a pinned clock does not advance");
        let later = at + chrono::Duration::days(400);
        clock.pin(later);
        assert_eq!(clock.now_naive(), later.naive_utc());
        clock.unpin();
        let system = clock.now();
        assert!(
            (system - now_utc()).num_seconds().abs() < 60,
            "back on the system clock"
        );
        assert_ne!(system, later);
    }
}
