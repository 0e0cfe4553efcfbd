//! The widget registry. A catalog row names a widget class; the class
//! declares exactly which data it needs ([`Need`]) and turns that data, and
//! nothing else ([`Scoped`]), into its typed data ([`shapes`]) and, for
//! charts, a Chart.js configuration. Widgets never fetch:
//! the orchestrator computes each distinct need once per run and hands it
//! out. Adding a widget type is one module here plus one line in
//! [`registry`].

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::analytics::buckets::BucketInterval;
use crate::analytics::downtime::DowntimeThreshold;
use crate::analytics::interval::Interval;
use crate::analytics::losses::LossClass;
use crate::kpi::series::Series;
use crate::kpi::{Oee, Summary};

mod comparison_bar;
mod downtime_pareto;
mod downtime_table;
mod external_series;
mod kpi_card;
mod line_chart;
mod loss_waterfall;
mod pie_chart;
pub mod shapes;

use shapes::{Rendered, StopRange, WidgetKind};

/// Language of human labels (semantics §7: Spanish unless asked for English).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Spanish (default).
    #[default]
    Es,
    /// English.
    En,
}

impl Lang {
    /// `lang=en` or an `Accept-Language` starting with `en` selects English.
    pub fn pick(explicit: Option<&str>, accept_language: Option<&str>) -> Lang {
        let wants_en = |s: &str| s.trim().to_ascii_lowercase().starts_with("en");
        match explicit {
            Some(lang) => {
                if wants_en(lang) {
                    Lang::En
                } else {
                    Lang::Es
                }
            }
            None if accept_language.is_some_and(wants_en) => Lang::En,
            None => Lang::Es,
        }
    }

    /// Its locale tag, for number formatting in charts.
    pub fn locale(self) -> &'static str {
        self.text("es", "en")
    }

    /// The label in this language.
    pub fn text(self, es: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Es => es,
            Lang::En => en,
        }
    }
}

/// The params a widget receives, already validated against its schema.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WidgetParams {
    /// Line.
    pub line_id: Option<i32>,
    /// Range start.
    pub start_date: Option<String>,
    /// Range end.
    pub end_date: Option<String>,
    /// Products.
    #[serde(default)]
    pub product_ids: Vec<i32>,
    /// Areas.
    #[serde(default)]
    pub area_ids: Vec<i32>,
    /// Shift.
    pub shift_id: Option<i32>,
    /// Downtime threshold, seconds.
    pub downtime_threshold: Option<f64>,
    /// Bucket width.
    pub interval: Option<String>,
    /// Charts carry the stops.
    pub show_stops: Option<bool>,
    /// KPI of a card.
    pub kpi_type: Option<String>,
    /// External API.
    pub api_id: Option<String>,
    /// External query parameters.
    pub query: Option<Map<String, Value>>,
    /// JSON pointer to the labels in an external answer.
    pub labels_pointer: Option<String>,
    /// JSON pointer to the values in an external answer.
    pub values_pointer: Option<String>,
    /// Dataset label of an external series.
    pub label: Option<String>,
    /// The range, threshold and bucket width typed once ([`WidgetParams::typed`]).
    #[serde(skip)]
    pub scope: TypedScope,
}

/// The values of a widget's params that need the tenant's zone or a
/// unit to mean anything, typed once before any need is declared.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TypedScope {
    /// `[start_date, end_date)` in the tenant's zone, when both are given.
    pub range: Option<Interval>,
    /// The downtime threshold, when given.
    pub threshold: Option<DowntimeThreshold>,
    /// The bucket width, when given.
    pub interval: Option<BucketInterval>,
}

impl WidgetParams {
    /// Types the range (in `tz`, at most `max_range_days`), the threshold
    /// and the bucket width; a bad value is an error naming its param.
    pub fn typed(mut self, tz: chrono_tz::Tz, max_range_days: u32) -> Result<Self, WidgetError> {
        if let (Some(start), Some(end)) = (&self.start_date, &self.end_date) {
            let range = crate::analytics::time::parse_range(start, end, tz, max_range_days).map_err(|errors| {
                let first = errors.into_iter().next();
                let field = first.as_ref().map_or("start_date", |e| e.field());
                WidgetError::invalid(
                    format!("params.{field}"),
                    first.map_or_else(|| "invalid range".to_owned(), |e| e.to_string()),
                )
            })?;
            self.scope.range = Some(range);
        }
        if let Some(seconds) = self.downtime_threshold {
            let threshold = DowntimeThreshold::from_seconds_f64(seconds)
                .map_err(|e| WidgetError::invalid("params.downtime_threshold", e.to_string()))?;
            self.scope.threshold = Some(threshold);
        }
        if let Some(name) = &self.interval {
            let interval =
                BucketInterval::parse(name).map_err(|e| WidgetError::invalid("params.interval", e.to_string()))?;
            self.scope.interval = Some(interval);
        }
        Ok(self)
    }
}

/// The detections query behind an internal need, typed and normalised so
/// widgets asking the same question share one computation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataQuery {
    /// Line.
    pub line_id: i32,
    /// `[start, end)`.
    pub range: Interval,
    /// Products.
    pub product_ids: Vec<i32>,
    /// Areas (series only).
    pub area_ids: Vec<i32>,
    /// Shift.
    pub shift_id: Option<i32>,
    /// Threshold (downtime-bearing needs only); none: the line's own.
    pub threshold: Option<DowntimeThreshold>,
    /// Bucket width (series only).
    pub interval: Option<BucketInterval>,
}

impl DataQuery {
    fn base(params: &WidgetParams) -> Result<DataQuery, WidgetError> {
        let (Some(line_id), Some(range)) = (params.line_id, params.scope.range) else {
            return Err(WidgetError::invalid(
                "params",
                "line_id, start_date and end_date are required",
            ));
        };
        Ok(DataQuery {
            line_id,
            range,
            product_ids: params.product_ids.clone(),
            area_ids: Vec::new(),
            shift_id: params.shift_id,
            threshold: params.scope.threshold,
            interval: None,
        })
    }

    /// OEE and summary: line, range, products, shift, threshold.
    pub fn kpi(params: &WidgetParams) -> Result<DataQuery, WidgetError> {
        Self::base(params)
    }

    /// Downtime events: products do not apply (a stopped line is stopped).
    pub fn downtime(params: &WidgetParams) -> Result<DataQuery, WidgetError> {
        Ok(DataQuery {
            product_ids: Vec::new(),
            ..Self::base(params)?
        })
    }

    /// Bucketed counts: areas and interval too. The threshold does not
    /// change the counts but is kept so a chart can find the KPI context
    /// (and its minute rows) of the same run.
    pub fn series(params: &WidgetParams) -> Result<DataQuery, WidgetError> {
        Ok(DataQuery {
            area_ids: params.area_ids.clone(),
            interval: Some(params.scope.interval.unwrap_or(BucketInterval::FifteenMinutes)),
            ..Self::base(params)?
        })
    }

    /// The line request of an OEE, summary or downtime need.
    pub fn line_request(&self) -> crate::kpi::LineRequest {
        crate::kpi::LineRequest {
            line_id: self.line_id,
            range: self.range,
            product_ids: self.product_ids.clone(),
            shift_id: self.shift_id,
            threshold: self.threshold,
        }
    }
}

/// One piece of data a widget declares it needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Need {
    /// OEE and its factors (semantics §5).
    Oee(DataQuery),
    /// The production summary (semantics §5, last rule).
    Summary(DataQuery),
    /// Detections per bucket (semantics §6).
    Series(DataQuery),
    /// Downtime events with their reasons (semantics §4).
    Downtime(DataQuery),
    /// The loss split of `/metrics/losses` (semantics §10).
    Losses(DataQuery),
    /// An external API's JSON answer, through the data broker.
    External {
        /// API of `external_apis.yml`.
        api_id: String,
        /// Query parameters.
        query: Vec<(String, String)>,
    },
}

/// A downtime event for tables and charts.
#[derive(Debug, Clone, PartialEq)]
pub struct StopRow {
    /// Start, tenant offset.
    pub start: String,
    /// End, tenant offset.
    pub end: String,
    /// Duration, seconds.
    pub duration_seconds: f64,
    /// Duration, microseconds (exact, for sums).
    pub duration_micros: i64,
    /// Still stopped.
    pub ongoing: bool,
    /// Text given on the persisted event, if any: its comment, else its code.
    pub reason: Option<String>,
    /// The comment written on the persisted event.
    pub comment: Option<String>,
    /// The reason of the tenant's tree assigned on the persisted event
    /// (none when unassigned, or when the reason left the tree).
    pub assigned: Option<AssignedReason>,
    /// `[start, end)` as real instants (to place the stop on a chart's buckets).
    pub span: Interval,
}

/// A reason of the tenant's tree as the widgets show it.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignedReason {
    /// Id.
    pub reason_id: i32,
    /// Spanish name.
    pub name_es: String,
    /// English name.
    pub name_en: String,
    /// CSS colour: the reason's, else its loss class's default.
    pub color: String,
    /// Its loss class.
    pub loss_class: LossClass,
}

impl AssignedReason {
    /// Its name in `lang`.
    pub fn name(&self, lang: Lang) -> &str {
        match lang {
            Lang::Es => &self.name_es,
            Lang::En => &self.name_en,
        }
    }
}

/// The loss split of one line and range, with the calendar time it is
/// measured against (the range clipped at now).
#[derive(Debug, Clone)]
pub struct LossesData {
    /// As `GET /metrics/losses` computes it.
    pub line: crate::kpi::losses::LineLosses,
    /// The range clipped at now, microseconds.
    pub calendar_micros: i64,
    /// `data_as_of`, tenant offset.
    pub data_as_of: String,
}

/// The data of one need.
#[derive(Debug, Clone)]
pub enum NeedData {
    /// See [`Need::Oee`].
    Oee(Oee),
    /// See [`Need::Summary`].
    Summary(Summary),
    /// See [`Need::Series`].
    Series(Series),
    /// See [`Need::Downtime`].
    Downtime(Vec<StopRow>),
    /// See [`Need::Losses`].
    Losses(LossesData),
    /// See [`Need::External`].
    External(Value),
}

/// What a widget was handed: exactly the needs it declared, each with its
/// data or the error computing it.
#[derive(Debug, Clone, Default)]
pub struct Scoped {
    items: Vec<(Need, Arc<Result<NeedData, WidgetError>>)>,
}

impl Scoped {
    /// Builds the scope of one widget.
    pub fn new(items: Vec<(Need, Arc<Result<NeedData, WidgetError>>)>) -> Self {
        Scoped { items }
    }

    /// The needs present (for tests and diagnostics).
    pub fn needs(&self) -> Vec<&Need> {
        self.items.iter().map(|(n, _)| n).collect()
    }

    fn find(&self, pick: impl Fn(&Need) -> bool, what: &str) -> Result<&NeedData, WidgetError> {
        match self.items.iter().find(|(n, _)| pick(n)) {
            Some((_, data)) => data.as_ref().as_ref().map_err(Clone::clone),
            None => Err(WidgetError::internal(format!("the widget did not declare {what} data"))),
        }
    }

    /// The OEE it declared.
    pub fn oee(&self) -> Result<&Oee, WidgetError> {
        match self.find(|n| matches!(n, Need::Oee(_)), "OEE")? {
            NeedData::Oee(d) => Ok(d),
            _ => Err(WidgetError::internal("OEE need holds other data")),
        }
    }

    /// The summary it declared.
    pub fn summary(&self) -> Result<&Summary, WidgetError> {
        match self.find(|n| matches!(n, Need::Summary(_)), "summary")? {
            NeedData::Summary(d) => Ok(d),
            _ => Err(WidgetError::internal("summary need holds other data")),
        }
    }

    /// The series it declared.
    pub fn series(&self) -> Result<&Series, WidgetError> {
        match self.find(|n| matches!(n, Need::Series(_)), "series")? {
            NeedData::Series(d) => Ok(d),
            _ => Err(WidgetError::internal("series need holds other data")),
        }
    }

    /// The stops it declared.
    pub fn downtime(&self) -> Result<&[StopRow], WidgetError> {
        match self.find(|n| matches!(n, Need::Downtime(_)), "downtime")? {
            NeedData::Downtime(d) => Ok(d),
            _ => Err(WidgetError::internal("downtime need holds other data")),
        }
    }

    /// The loss split it declared.
    pub fn losses(&self) -> Result<&LossesData, WidgetError> {
        match self.find(|n| matches!(n, Need::Losses(_)), "losses")? {
            NeedData::Losses(d) => Ok(d),
            _ => Err(WidgetError::internal("losses need holds other data")),
        }
    }

    /// The external answer it declared.
    pub fn external(&self) -> Result<&Value, WidgetError> {
        match self.find(|n| matches!(n, Need::External { .. }), "external")? {
            NeedData::External(d) => Ok(d),
            _ => Err(WidgetError::internal("external need holds other data")),
        }
    }
}

/// Why one widget has no data; returned in its `error`, never failing the run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WidgetError {
    /// `invalid_params`, `unknown_widget`, `not_found`, `external_timeout`,
    /// `external_unreachable`, `external_bad_status`, `external_invalid_json`,
    /// `external_unknown_api`, `external_token_missing`, `bad_external_data`,
    /// `unavailable` or `internal`.
    pub kind: String,
    /// Human explanation (safe to show).
    pub message: String,
    /// The failing param, when one is at fault.
    pub field: Option<String>,
}

impl WidgetError {
    /// A param failed validation.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        WidgetError {
            kind: "invalid_params".into(),
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// Any other kind.
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        WidgetError {
            kind: kind.into(),
            message: message.into(),
            field: None,
        }
    }

    /// A bug or an unexpected failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("internal", message)
    }
}

impl From<crate::error::AppError> for WidgetError {
    fn from(error: crate::error::AppError) -> Self {
        use crate::error::AppError;
        match error {
            AppError::Validation { errors, message } => match errors.first() {
                Some(first) => WidgetError::invalid(format!("params.{}", first.field), first.message.clone()),
                None => WidgetError::invalid("params", message),
            },
            AppError::NotFound(m) => WidgetError::new("not_found", m),
            AppError::DatabaseUnavailable(_) => {
                WidgetError::new("unavailable", "a database is temporarily unavailable")
            }
            other => {
                tracing::error!(error = %other, "widget data failed");
                WidgetError::internal("an unexpected error occurred; it has been logged")
            }
        }
    }
}

/// A widget type.
pub trait Widget: Send + Sync {
    /// The class name stored in `widget_catalog.class_name`.
    fn class_name(&self) -> &'static str;
    /// Its output shape (the `widget_type` of its results).
    fn kind(&self) -> WidgetKind;
    /// Exactly the data it needs for these params.
    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError>;
    /// Its data (and a chart's Chart.js configuration) from the data it declared.
    fn render(&self, params: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Rendered, WidgetError>;
}

/// Every widget type.
pub fn registry() -> &'static [&'static dyn Widget] {
    &[
        &line_chart::ProductionLineChart,
        &kpi_card::KpiCard,
        &comparison_bar::InputOutputComparison,
        &pie_chart::ProductDistributionPie,
        &downtime_table::DowntimeTable,
        &external_series::ExternalSeriesChart,
        &downtime_pareto::DowntimePareto,
        &loss_waterfall::LossWaterfall,
    ]
}

/// The widget type registered under `class_name`.
pub fn lookup(class_name: &str) -> Option<&'static dyn Widget> {
    registry().iter().copied().find(|w| w.class_name() == class_name)
}

/// Places each stop on the chart's buckets (`bounds`, consecutive, in label
/// order): `from` is the bucket holding its start, `to` the bucket holding
/// its last instant (the end is exclusive, so a stop ending exactly on a
/// bucket boundary does not reach the next label). A stop outside every
/// bucket is left out; one reaching past either end is clipped to it.
pub fn stop_ranges(bounds: &[Interval], stops: &[StopRow]) -> Vec<StopRange> {
    let (Some(first), Some(last)) = (bounds.first(), bounds.last()) else {
        return Vec::new();
    };
    stops
        .iter()
        .filter(|s| s.span.start < last.end && s.span.end > first.start && !s.span.is_empty())
        .map(|s| {
            // The first bucket ending after the start; the last one starting before the end.
            let from = bounds.partition_point(|b| b.end <= s.span.start);
            let to = bounds.partition_point(|b| b.start < s.span.end).saturating_sub(1);
            StopRange {
                from: u32::try_from(from).unwrap_or(u32::MAX),
                to: u32::try_from(to.max(from)).unwrap_or(u32::MAX),
                start: s.start.clone(),
                end: s.end.clone(),
                duration_seconds: s.duration_seconds,
                ongoing: s.ongoing,
            }
        })
        .collect()
}

/// `HH:MM:SS` of a duration in seconds (hours may exceed 24).
pub fn hms(seconds: f64) -> String {
    let total = seconds.max(0.0).floor() as u64;
    format!("{:02}:{:02}:{:02}", total / 3600, (total % 3600) / 60, total % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_follow_the_parameter_then_the_header() {
        assert_eq!(Lang::pick(None, None), Lang::Es);
        assert_eq!(Lang::pick(None, Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::pick(Some("es"), Some("en")), Lang::Es);
        assert_eq!(Lang::pick(Some("en"), None), Lang::En);
    }

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(hms(0.0), "00:00:00");
        assert_eq!(hms(3725.9), "01:02:05");
        assert_eq!(hms(90_061.0), "25:01:01");
    }

    fn at(text: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("fixture instant")
            .to_utc()
    }

    fn stop(start: &str, end: &str) -> StopRow {
        StopRow {
            start: start.into(),
            end: end.into(),
            duration_seconds: 0.0,
            duration_micros: 0,
            ongoing: false,
            reason: None,
            comment: None,
            assigned: None,
            span: Interval::new(at(start), at(end)),
        }
    }

    #[test]
    fn stops_index_the_buckets_holding_their_first_and_last_instants() {
        // Hourly buckets 08:00, 09:00, 10:00, 11:00 (indices 0..=3).
        let bounds: Vec<Interval> = (8..12)
            .map(|h| {
                Interval::new(
                    at(&format!("2026-11-16T{h:02}:00:00Z")),
                    at(&format!("2026-11-16T{:02}:00:00Z", h + 1)),
                )
            })
            .collect();
        let ranges = stop_ranges(
            &bounds,
            &[
                // Inside one bucket.
                stop("2026-11-16T08:10:00Z", "2026-11-16T08:20:00Z"),
                // Ends exactly on 10:00: its last instant is in the 09:00 bucket.
                stop("2026-11-16T08:30:30Z", "2026-11-16T10:00:00Z"),
                // Starts exactly on 10:00: in the 10:00 bucket, not 09:00.
                stop("2026-11-16T10:00:00Z", "2026-11-16T11:30:00Z"),
                // Reaches past both ends: clipped to the first and last bucket.
                stop("2026-11-16T07:00:00Z", "2026-11-16T13:00:00Z"),
                // Entirely after the buckets: left out.
                stop("2026-11-16T12:00:00Z", "2026-11-16T12:30:00Z"),
            ],
        );
        let spans: Vec<(u32, u32)> = ranges.iter().map(|r| (r.from, r.to)).collect();
        assert_eq!(spans, vec![(0, 0), (0, 1), (2, 3), (0, 3)]);
        assert_eq!(ranges[1].start, "2026-11-16T08:30:30Z");
        assert!(stop_ranges(&[], &[stop("2026-11-16T08:10:00Z", "2026-11-16T08:20:00Z")]).is_empty());
    }

    #[test]
    fn every_widget_type_says_its_catalog_type() {
        for entry in crate::dashboard::catalog::builtin() {
            let widget = lookup(&entry.class_name).expect("registered");
            assert_eq!(widget.kind().as_str(), entry.widget_type, "{}", entry.class_name);
        }
    }

    #[test]
    fn class_names_are_unique() {
        let mut names: Vec<&str> = registry().iter().map(|w| w.class_name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), registry().len());
        for entry in crate::dashboard::catalog::builtin() {
            assert!(lookup(&entry.class_name).is_some(), "{}", entry.class_name);
        }
    }

    #[test]
    fn params_are_typed_once_and_a_bad_value_names_its_param() {
        let params = |start: &str, threshold: Option<f64>, interval: Option<&str>| WidgetParams {
            line_id: Some(1),
            start_date: Some(start.into()),
            end_date: Some("2026-11-17T00:00:00".into()),
            downtime_threshold: threshold,
            interval: interval.map(Into::into),
            ..WidgetParams::default()
        };
        let madrid = chrono_tz::Europe::Madrid;
        let typed = params("2026-11-16T00:00:00", Some(30.5), Some("1hour"))
            .typed(madrid, 31)
            .expect("typed");
        let range = typed.scope.range.expect("range");
        assert_eq!(
            range.start.to_rfc3339(),
            "2026-11-15T23:00:00+00:00",
            "local midnight in Madrid"
        );
        assert_eq!(typed.scope.threshold.map(|t| t.micros()), Some(30_500_000));
        assert_eq!(typed.scope.interval, Some(BucketInterval::OneHour));
        let query = DataQuery::series(&typed).expect("query");
        assert_eq!((query.range, query.interval), (range, Some(BucketInterval::OneHour)));
        for (bad, field) in [
            (params("not a date", None, None), "params.start_date"),
            (
                params("2026-11-16T00:00:00", Some(-1.0), None),
                "params.downtime_threshold",
            ),
            (params("2026-11-16T00:00:00", None, Some("2min")), "params.interval"),
        ] {
            let error = bad.typed(madrid, 31).expect_err("refused");
            assert_eq!(error.field.as_deref(), Some(field), "{error:?}");
        }
    }

    #[test]
    fn a_widget_can_read_only_what_it_declared() {
        let query = DataQuery {
            line_id: 1,
            range: Interval::new(chrono::DateTime::UNIX_EPOCH, chrono::DateTime::UNIX_EPOCH),
            product_ids: vec![],
            area_ids: vec![],
            shift_id: None,
            threshold: None,
            interval: None,
        };
        let scoped = Scoped::new(vec![(
            Need::Downtime(query),
            Arc::new(Ok(NeedData::Downtime(Vec::new()))),
        )]);
        assert!(scoped.downtime().is_ok());
        let denied = scoped.oee().expect_err("undeclared");
        assert_eq!(denied.kind, "internal");
        assert!(scoped.series().is_err() && scoped.summary().is_err() && scoped.external().is_err());
    }
}
