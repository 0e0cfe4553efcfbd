//! The typed shapes of widget results: each widget type's `data` and the
//! Chart.js configuration (`chart`) of chart widgets, `{type, data,
//! options}`, which a client passes unchanged to `new Chart(ctx, chart)`.
//!
//! Plain domain values: the web layer's views (`http::dashboard_views`)
//! mirror them field for field, document them in the OpenAPI and write
//! their JSON, so this module knows nothing of poem.

use serde_json::{Number, Value};

/// A number of a chart or a card, or `null` when there is none (a bucket
/// outside planned time, an OEE without planned time). Kept as the JSON
/// number it was made from, so counts stay integers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChartNumber(pub Option<Number>);

impl ChartNumber {
    /// No value.
    pub const NULL: ChartNumber = ChartNumber(None);

    /// A count.
    pub fn count(n: u64) -> Self {
        ChartNumber(Some(n.into()))
    }

    /// A real number; not-a-number and infinities have no JSON form and read as `null`.
    pub fn real(x: f64) -> Self {
        ChartNumber(Number::from_f64(x))
    }

    /// A real number that may be absent.
    pub fn maybe(x: Option<f64>) -> Self {
        x.map_or(Self::NULL, Self::real)
    }

    /// A JSON value that should be a number; anything else is `null`.
    pub fn from_json(v: &Value) -> Self {
        ChartNumber(v.as_number().cloned())
    }
}

/// One value of a dataset: a number (or `null`), or a floating bar's
/// `[low, high]` (Chart.js draws a bar from `low` to `high`).
#[derive(Debug, Clone, PartialEq)]
pub enum ChartDatum {
    /// A number, or `null`.
    Value(ChartNumber),
    /// A floating bar from the first number to the second.
    Span(ChartNumber, ChartNumber),
}

impl From<ChartNumber> for ChartDatum {
    fn from(n: ChartNumber) -> Self {
        ChartDatum::Value(n)
    }
}

/// A Chart.js colour: one CSS colour for the dataset, or one per label.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartColor {
    /// One CSS colour.
    One(String),
    /// One CSS colour per label.
    PerLabel(Vec<String>),
}

/// One Chart.js dataset.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChartDataset {
    /// Chart type of this dataset in a mixed chart (a `line` over bars);
    /// absent: the chart's type.
    pub kind: Option<ChartType>,
    /// Legend text (absent on pies, whose legend shows the labels).
    pub label: Option<String>,
    /// One value per label; `null` draws nothing (the line breaks there);
    /// a floating bar is `[low, high]`.
    pub data: Vec<ChartDatum>,
    /// The value axis (a key of `options.scales`) of this dataset; absent: `y`.
    pub y_axis_id: Option<String>,
    /// Drawing order: a lower order is drawn over a higher one.
    pub order: Option<i32>,
    /// Line or border colour.
    pub border_color: Option<ChartColor>,
    /// Fill colour.
    pub background_color: Option<ChartColor>,
    /// Border width, pixels.
    pub border_width: Option<u32>,
    /// Bezier curve tension of a line (0: straight segments).
    pub tension: Option<f64>,
    /// Fill the area under a line.
    pub fill: Option<bool>,
    /// `false`: a `null` value breaks the line instead of being bridged.
    pub span_gaps: Option<bool>,
    /// Radius of a line's point markers, pixels (0 on dense series).
    pub point_radius: Option<u32>,
}

/// Chart.js `data`: labels and datasets.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartJsData {
    /// One label per value (for time series: local bucket starts `YYYY-MM-DD HH:MM`).
    pub labels: Vec<String>,
    /// The datasets.
    pub datasets: Vec<ChartDataset>,
}

/// A Chart.js chart type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartType {
    /// `line`
    Line,
    /// `bar`
    Bar,
    /// `pie`
    Pie,
    /// `doughnut`
    Doughnut,
}

/// An axis title.
#[derive(Debug, Clone, PartialEq)]
pub struct AxisTitle {
    /// Shown.
    pub display: bool,
    /// Text, with the unit.
    pub text: String,
}

/// One Chart.js axis.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartAxis {
    /// Its title.
    pub title: AxisTitle,
    /// Start a value axis at zero.
    pub begin_at_zero: Option<bool>,
    /// `left` or `right` (a second value axis).
    pub position: Option<String>,
    /// Lowest value shown.
    pub min: Option<f64>,
    /// Highest value shown.
    pub max: Option<f64>,
}

impl ChartAxis {
    /// An axis titled `text` when given.
    pub fn titled(text: Option<String>, begin_at_zero: Option<bool>) -> Self {
        ChartAxis {
            title: AxisTitle {
                display: text.is_some(),
                text: text.unwrap_or_default(),
            },
            begin_at_zero,
            position: None,
            min: None,
            max: None,
        }
    }
}

/// Chart.js `scales` of a chart with axes.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartScales {
    /// Category (label) axis.
    pub x: ChartAxis,
    /// Value axis.
    pub y: ChartAxis,
    /// A second value axis, on the right (the Pareto's cumulative percent).
    pub y1: Option<ChartAxis>,
}

/// Chart.js legend options.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartLegend {
    /// Shown.
    pub display: bool,
    /// `top`, `right`, …
    pub position: Option<String>,
}

/// A stop placed on the labels: shade from the left edge of label `from`
/// to the right edge of label `to` (both indices into `data.labels`,
/// inclusive). Indices, not label text, because a label repeats on a
/// fall-back night.
#[derive(Debug, Clone, PartialEq)]
pub struct StopRange {
    /// Index of the label whose bucket holds the stop's start.
    pub from: u32,
    /// Index of the label whose bucket holds the stop's last instant.
    pub to: u32,
    /// Start, tenant offset (RFC 3339).
    pub start: String,
    /// End, tenant offset (RFC 3339).
    pub end: String,
    /// Duration, seconds.
    pub duration_seconds: f64,
    /// The line is still stopped.
    pub ongoing: bool,
}

/// Options of the `camet_stops` plugin (a few lines of client code, see
/// `docs/dashboards.md`): the ranges to shade and their colour. Chart.js
/// ignores it when no such plugin is registered.
#[derive(Debug, Clone, PartialEq)]
pub struct StopShading {
    /// CSS colour of the shading.
    pub color: String,
    /// The stops, in time order.
    pub ranges: Vec<StopRange>,
}

/// Chart.js `options.plugins`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartPlugins {
    /// The legend.
    pub legend: ChartLegend,
    /// The stops to shade (production chart with `show_stops`).
    pub camet_stops: Option<StopShading>,
}

/// Chart.js `options`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartOptions {
    /// Resize with the container.
    pub responsive: bool,
    /// `false`: fill the container's height (a grid cell) too.
    pub maintain_aspect_ratio: bool,
    /// Locale of number formatting: the language of the request (`es`, `en`).
    pub locale: String,
    /// Axes with their titles and units (charts with axes).
    pub scales: Option<ChartScales>,
    /// Legend and the stops.
    pub plugins: ChartPlugins,
}

/// A Chart.js configuration: `new Chart(ctx, chart)` draws it as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartJs {
    /// Chart.js type.
    pub kind: ChartType,
    /// Labels and datasets (a bucket outside planned time is `null`).
    pub data: ChartJsData,
    /// Options: titled axes with units, locale, legend, stops.
    pub options: ChartOptions,
}

impl ChartOptions {
    /// Options of a chart with axes: the value axis `y` titled with its
    /// unit, the label axis titled when `x` says what the labels are.
    pub fn with_axes(locale: &str, x: Option<String>, y: String, legend: bool) -> Self {
        ChartOptions {
            responsive: true,
            maintain_aspect_ratio: false,
            locale: locale.to_owned(),
            scales: Some(ChartScales {
                x: ChartAxis::titled(x, None),
                y: ChartAxis::titled(Some(y), Some(true)),
                y1: None,
            }),
            plugins: ChartPlugins {
                legend: ChartLegend {
                    display: legend,
                    position: None,
                },
                camet_stops: None,
            },
        }
    }
}

/// A stop as the production chart's `data.stops` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct StopView {
    /// Start, tenant offset (RFC 3339).
    pub start: String,
    /// End, tenant offset (RFC 3339).
    pub end: String,
    /// Duration, seconds.
    pub duration_seconds: f64,
}

/// `data` of a `line_chart`: the production chart (with `stops` and
/// `data_as_of`) or an external series (without them).
#[derive(Debug, Clone, PartialEq)]
pub struct LineChartData {
    /// Local bucket starts `YYYY-MM-DD HH:MM` (an external series: its own labels).
    pub labels: Vec<String>,
    /// One dataset; here every bucket holds its count, 0 included (see `chart` for the planned-time breaks).
    pub datasets: Vec<ChartDataset>,
    /// The stops, with `show_stops` (production chart only).
    pub stops: Option<Vec<StopView>>,
    /// See the KPI responses' `data_as_of` (production chart only).
    pub data_as_of: Option<String>,
}

/// `data` of a `kpi_card`.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiCardData {
    /// The figure; `null` when it is undefined (no planned time).
    pub value: ChartNumber,
    /// `%`, `kg`, `s`, units or stops, in the request's language.
    pub unit: String,
    /// Human label.
    pub label: String,
    /// Which KPI: `oee`, `availability`, `performance`, `quality`,
    /// `total_production`, `good_units`, `total_weight`, `downtime_count`,
    /// `total_downtime_seconds`.
    pub kpi_type: String,
}

/// A table column: `key` names the row field it shows.
#[derive(Debug, Clone, PartialEq)]
pub struct TableColumn {
    /// Key of the row field.
    pub key: String,
    /// Heading, in the request's language.
    pub label: String,
}

/// One downtime event as a table row.
#[derive(Debug, Clone, PartialEq)]
pub struct DowntimeRow {
    /// Start, tenant offset (RFC 3339).
    pub start: String,
    /// End, tenant offset (RFC 3339).
    pub end: String,
    /// Duration `HH:MM:SS` (hours may exceed 24).
    pub duration: String,
    /// The assigned reason's name in the request's language; without one,
    /// the code or text written on the persisted event; else `N/A`.
    pub reason: String,
    /// The line is still stopped.
    pub ongoing: bool,
    /// The reason of the tenant's tree assigned to the stop.
    pub reason_id: Option<i32>,
    /// Its name in the request's language.
    pub reason_name: Option<String>,
    /// CSS colour: the reason's, else its loss class's default (grey when unassigned).
    pub color: String,
    /// `breakdown`, `setup`, `minor_stop`, `planned` or `unassigned`.
    pub loss_class: String,
    /// The free text written on the stop (the comment).
    pub comment: Option<String>,
}

/// `data` of a `table`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableData {
    /// Columns in display order; each `key` is a field of every row.
    pub columns: Vec<TableColumn>,
    /// The rows.
    pub rows: Vec<DowntimeRow>,
}

/// One bar of a Pareto chart: the stops of one reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ParetoBar {
    /// The reason; none: the stops without one.
    pub reason_id: Option<i32>,
    /// Its name in the request's language (`Sin asignar` / `Unassigned`).
    pub label: String,
    /// `breakdown`, `setup`, `minor_stop`, `planned` or `unassigned`.
    pub loss_class: String,
    /// CSS colour of the bar.
    pub color: String,
    /// Σ durations, seconds.
    pub seconds: f64,
    /// Number of stops.
    pub count: u64,
    /// Percent of all downtime in this bar and the bars before it.
    pub cumulative_percent: f64,
}

/// `data` of a `pareto_chart`: downtime per reason, longest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ParetoData {
    /// The bars in chart order (seconds descending).
    pub bars: Vec<ParetoBar>,
    /// Σ of every bar, seconds.
    pub total_seconds: f64,
}

/// One step of the loss waterfall.
#[derive(Debug, Clone, PartialEq)]
pub struct WaterfallStep {
    /// `calendar`, `not_planned`, `planned`, `availability_loss`,
    /// `operating`, `performance_loss`, `net`, `quality_loss` or
    /// `fully_productive`.
    pub key: String,
    /// Its label in the request's language.
    pub label: String,
    /// `time` (a bar from zero) or `loss` (a bar from the time after it to the time before it).
    pub kind: String,
    /// The time or loss, seconds (a speed loss may be negative); `null`
    /// when it cannot be computed (a product without `production_std`).
    pub seconds: ChartNumber,
}

/// `data` of a `waterfall_chart`: the loss split of `/metrics/losses` as steps.
#[derive(Debug, Clone, PartialEq)]
pub struct WaterfallData {
    /// The steps in chart order.
    pub steps: Vec<WaterfallStep>,
    /// Why a step is `null` (as `/metrics/losses`).
    pub warnings: Vec<String>,
    /// Up to when direct writes to the raw table are included.
    pub data_as_of: String,
}

/// What a widget type renders.
#[derive(Debug, Clone, PartialEq)]
pub enum Rendered {
    /// A line chart: its data and its Chart.js configuration.
    LineChart {
        /// `data`.
        data: LineChartData,
        /// `chart`.
        chart: ChartJs,
    },
    /// A bar chart.
    ComparisonBar {
        /// `data`.
        data: ChartJsData,
        /// `chart`.
        chart: ChartJs,
    },
    /// A pie chart.
    PieChart {
        /// `data`.
        data: ChartJsData,
        /// `chart`.
        chart: ChartJs,
    },
    /// A KPI card.
    KpiCard(KpiCardData),
    /// A table.
    Table(TableData),
    /// A Pareto chart: bars and a cumulative-percent line.
    ParetoChart {
        /// `data`.
        data: ParetoData,
        /// `chart`.
        chart: ChartJs,
    },
    /// A waterfall of floating bars.
    WaterfallChart {
        /// `data`.
        data: WaterfallData,
        /// `chart`.
        chart: ChartJs,
    },
}

/// The output shape of a widget type: the `widget_type` of its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WidgetKind {
    /// `line_chart`
    LineChart,
    /// `comparison_bar`
    ComparisonBar,
    /// `pie_chart`
    PieChart,
    /// `kpi_card`
    KpiCard,
    /// `table`
    Table,
    /// `pareto_chart`
    ParetoChart,
    /// `waterfall_chart`
    WaterfallChart,
}

impl WidgetKind {
    /// Every kind.
    pub const ALL: [WidgetKind; 7] = [
        WidgetKind::LineChart,
        WidgetKind::ComparisonBar,
        WidgetKind::PieChart,
        WidgetKind::KpiCard,
        WidgetKind::Table,
        WidgetKind::ParetoChart,
        WidgetKind::WaterfallChart,
    ];

    /// The `widget_type` name.
    pub fn as_str(self) -> &'static str {
        match self {
            WidgetKind::LineChart => "line_chart",
            WidgetKind::ComparisonBar => "comparison_bar",
            WidgetKind::PieChart => "pie_chart",
            WidgetKind::KpiCard => "kpi_card",
            WidgetKind::Table => "table",
            WidgetKind::ParetoChart => "pareto_chart",
            WidgetKind::WaterfallChart => "waterfall_chart",
        }
    }

    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<WidgetKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl Rendered {
    /// Its kind.
    pub fn kind(&self) -> WidgetKind {
        match self {
            Rendered::LineChart { .. } => WidgetKind::LineChart,
            Rendered::ComparisonBar { .. } => WidgetKind::ComparisonBar,
            Rendered::PieChart { .. } => WidgetKind::PieChart,
            Rendered::KpiCard(_) => WidgetKind::KpiCard,
            Rendered::Table(_) => WidgetKind::Table,
            Rendered::ParetoChart { .. } => WidgetKind::ParetoChart,
            Rendered::WaterfallChart { .. } => WidgetKind::WaterfallChart,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_from_their_names() {
        for kind in WidgetKind::ALL {
            assert_eq!(WidgetKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(WidgetKind::parse("bar_chart"), None);
        assert_eq!(WidgetKind::parse("pareto_chart"), Some(WidgetKind::ParetoChart));
    }
}
