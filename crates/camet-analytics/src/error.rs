//! Validation errors of the analytics engine.
//!
//! Every variant is caused by a request value (or a tenant setting) and maps
//! to a 422 whose `errors` entry is `{field: err.field(), message: err.to_string()}`.

use thiserror::Error;

use super::buckets::BucketInterval;

/// A request value the analytics engine cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AnalyticsError {
    /// An instant that is neither RFC 3339 nor a local date-time.
    #[error(
        "{field}: '{value}' is not a valid instant; use RFC 3339 (e.g. 2026-03-29T03:00:00+02:00) \
         or a local date-time in the tenant's time zone (YYYY-MM-DDTHH:MM[:SS[.ffffff]]){hint}"
    )]
    InvalidInstant {
        /// Request field that carried the value (`start_date`, `end_date`, ...).
        field: &'static str,
        /// The rejected input, as received.
        value: String,
        /// Extra advice, empty or starting with `; `.
        hint: &'static str,
    },
    /// A time zone name unknown to the IANA database.
    #[error("timezone: '{value}' is not an IANA time zone name (e.g. Europe/Madrid)")]
    InvalidTimezone {
        /// The rejected name.
        value: String,
    },
    /// `end_date <= start_date`.
    #[error("end_date must be later than start_date (the range is [start_date, end_date))")]
    EmptyRange,
    /// The range is longer than the configured maximum.
    #[error("end_date: the range may span at most {max_days} days")]
    RangeTooLong {
        /// The configured maximum, in days of 24 h.
        max_days: u32,
    },
    /// A date so far from today that calendar arithmetic leaves chrono's range.
    #[error("{field}: date is outside the supported calendar range")]
    OutOfRange {
        /// Request field the date came from.
        field: &'static str,
    },
    /// A downtime threshold that is not a positive number of seconds.
    #[error("downtime_threshold: must be a number of seconds greater than 0, got '{value}'")]
    InvalidThreshold {
        /// The rejected value, as text.
        value: String,
    },
    /// An unknown bucket interval name.
    #[error("interval: '{value}' is not supported; allowed values: 1min, 15min, 1hour, 1day, 1week, 1month")]
    InvalidInterval {
        /// The rejected name.
        value: String,
    },
    /// The chart would need more buckets than allowed.
    #[error(
        "interval: the range needs more than {limit} buckets of {interval}; {}",
        match suggestion {
            Some(s) => format!("use a coarser interval such as {s}"),
            None => "use a coarser interval or a shorter range".to_owned(),
        }
    )]
    TooManyBuckets {
        /// The requested interval.
        interval: BucketInterval,
        /// The bucket limit.
        limit: usize,
        /// The finest interval that fits the limit, if any.
        suggestion: Option<BucketInterval>,
    },
    /// A KPI needs an input or output area and the line has none.
    #[error("line_id: line {line_id} has no areas; this KPI needs an input and an output area")]
    NoAreas {
        /// The line without areas.
        line_id: i32,
    },
}

impl AnalyticsError {
    /// The request field to name in a 422 `errors` entry.
    pub fn field(&self) -> &'static str {
        match self {
            AnalyticsError::InvalidInstant { field, .. } | AnalyticsError::OutOfRange { field } => field,
            AnalyticsError::InvalidTimezone { .. } => "timezone",
            AnalyticsError::EmptyRange | AnalyticsError::RangeTooLong { .. } => "end_date",
            AnalyticsError::InvalidThreshold { .. } => "downtime_threshold",
            AnalyticsError::InvalidInterval { .. } | AnalyticsError::TooManyBuckets { .. } => "interval",
            AnalyticsError::NoAreas { .. } => "line_id",
        }
    }
}
