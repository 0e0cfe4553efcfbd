//! Wall-clock helpers. Instants are truncated to microseconds because MySQL
//! `DATETIME(6)` keeps microseconds while SQLite would keep nanoseconds: both
//! backends must store and return the same value.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

/// Now, in UTC, truncated to microseconds.
pub fn now_utc() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Now as the naive UTC value stored in `TIMESTAMP`/`DATETIME(6)` columns.
pub fn now_naive() -> NaiveDateTime {
    now_utc().naive_utc()
}

/// A stored instant truncated to microseconds.
pub fn truncate_naive(t: NaiveDateTime) -> NaiveDateTime {
    t.trunc_subsecs(6)
}
