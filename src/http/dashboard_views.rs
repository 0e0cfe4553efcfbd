//! The HTTP views of dashboards: layouts, catalog rows, active filters and
//! widget results, typed by `widget_type`, with each widget's `data` and
//! Chart.js `chart`. They mirror the plain values of [`crate::dashboard`]
//! field for field and carry the poem-openapi derives (their names and
//! docs are the schemas of the OpenAPI document), so the domain knows
//! nothing of poem. Conversions destructure every domain value, so a field
//! added there fails to compile here until its view shows it.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::{Number, Value};

use crate::dashboard::catalog as catalog_domain;
use crate::dashboard::filters as filters_domain;
use crate::dashboard::orchestrator as run_domain;
use crate::dashboard::widgets as widgets_domain;
use crate::dashboard::widgets::shapes as shapes_domain;
use crate::dashboard::widgets::shapes::{Rendered, WidgetKind};

/// A number of a chart or a card, or `null` when there is none (a bucket
/// outside planned time, an OEE without planned time). Kept as the JSON
/// number it was made from, so counts stay integers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChartNumber(pub Option<Number>);

impl Type for ChartNumber {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "number_or_null".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            nullable: true,
            ..MetaSchema::new("number")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for ChartNumber {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::Null => Ok(ChartNumber(None)),
            Value::Number(n) => Ok(ChartNumber(Some(n))),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for ChartNumber {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.clone().map_or(Value::Null, Value::Number))
    }
}

/// One value of a dataset: a number or `null`, or a floating bar's
/// `[low, high]`. (Hand-written, like [`ChartColor`].)
#[derive(Debug, Clone, PartialEq)]
pub enum ChartDatum {
    /// A number, or `null`.
    Value(ChartNumber),
    /// A floating bar from the first number to the second.
    Span(ChartNumber, ChartNumber),
}

impl Type for ChartDatum {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "number_or_range".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let range = MetaSchema {
            items: Some(Box::new(MetaSchemaRef::Inline(Box::new(MetaSchema::new("number"))))),
            min_items: Some(2),
            max_items: Some(2),
            ..MetaSchema::new("array")
        };
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            one_of: vec![ChartNumber::schema_ref(), MetaSchemaRef::Inline(Box::new(range))],
            ..MetaSchema::ANY
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for ChartDatum {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::Array(pair) => match <[Value; 2]>::try_from(pair) {
                Ok([Value::Number(low), Value::Number(high)]) => {
                    Ok(ChartDatum::Span(ChartNumber(Some(low)), ChartNumber(Some(high))))
                }
                Ok(pair) => Err(ParseError::expected_type(Value::Array(pair.into()))),
                Err(other) => Err(ParseError::expected_type(Value::Array(other))),
            },
            other => ChartNumber::parse_from_json(Some(other))
                .map(ChartDatum::Value)
                .map_err(ParseError::propagate),
        }
    }
}

impl ToJSON for ChartDatum {
    fn to_json(&self) -> Option<Value> {
        match self {
            ChartDatum::Value(n) => n.to_json(),
            ChartDatum::Span(low, high) => Some(Value::Array(vec![
                low.to_json().unwrap_or_default(),
                high.to_json().unwrap_or_default(),
            ])),
        }
    }
}

/// A Chart.js colour: one CSS colour for the dataset, or one per label.
/// (A hand-written type: a derived union would declare itself an object.)
#[derive(Debug, Clone, PartialEq)]
pub enum ChartColor {
    /// One CSS colour.
    One(String),
    /// One CSS colour per label.
    PerLabel(Vec<String>),
}

impl Type for ChartColor {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "color_or_colors".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            one_of: vec![String::schema_ref(), <Vec<String>>::schema_ref()],
            ..MetaSchema::ANY
        }))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for ChartColor {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let value = value.unwrap_or_default();
        if let Value::String(one) = value {
            return Ok(ChartColor::One(one));
        }
        <Vec<String>>::parse_from_json(Some(value))
            .map(ChartColor::PerLabel)
            .map_err(ParseError::propagate)
    }
}

impl ToJSON for ChartColor {
    fn to_json(&self) -> Option<Value> {
        match self {
            ChartColor::One(one) => one.to_json(),
            ChartColor::PerLabel(each) => each.to_json(),
        }
    }
}

/// One Chart.js dataset.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
#[oai(rename_all = "camelCase")]
pub struct ChartDataset {
    /// Chart type of this dataset in a mixed chart (a `line` over bars);
    /// absent: the chart's type.
    #[oai(rename = "type", skip_serializing_if_is_none, nullable)]
    pub kind: Option<ChartType>,
    /// Legend text (absent on pies, whose legend shows the labels).
    #[oai(skip_serializing_if_is_none, nullable)]
    pub label: Option<String>,
    /// One value per label; `null` draws nothing (the line breaks there);
    /// a floating bar (the loss waterfall) is `[low, high]`.
    pub data: Vec<ChartDatum>,
    /// The value axis (a key of `options.scales`) of this dataset; absent: `y`.
    #[oai(rename = "yAxisID", skip_serializing_if_is_none, nullable)]
    pub y_axis_id: Option<String>,
    /// Drawing order: a lower order is drawn over a higher one.
    #[oai(skip_serializing_if_is_none, nullable)]
    pub order: Option<i32>,
    /// Line or border colour.
    #[oai(skip_serializing_if_is_none, nullable)]
    pub border_color: Option<ChartColor>,
    /// Fill colour.
    #[oai(skip_serializing_if_is_none, nullable)]
    pub background_color: Option<ChartColor>,
    /// Border width, pixels.
    #[oai(skip_serializing_if_is_none, nullable)]
    pub border_width: Option<u32>,
    /// Bezier curve tension of a line (0: straight segments).
    #[oai(skip_serializing_if_is_none, nullable)]
    pub tension: Option<f64>,
    /// Fill the area under a line.
    #[oai(skip_serializing_if_is_none, nullable)]
    pub fill: Option<bool>,
    /// `false`: a `null` value breaks the line instead of being bridged.
    #[oai(skip_serializing_if_is_none, nullable)]
    pub span_gaps: Option<bool>,
    /// Radius of a line's point markers, pixels (0 on dense series).
    #[oai(skip_serializing_if_is_none, nullable)]
    pub point_radius: Option<u32>,
}

/// Chart.js `data`: labels and datasets.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct ChartJsData {
    /// One label per value (for time series: local bucket starts `YYYY-MM-DD HH:MM`).
    pub labels: Vec<String>,
    /// The datasets.
    pub datasets: Vec<ChartDataset>,
}

/// A Chart.js chart type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "lowercase")]
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
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct AxisTitle {
    /// Shown.
    pub display: bool,
    /// Text, with the unit.
    pub text: String,
}

/// One Chart.js axis.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
#[oai(rename_all = "camelCase")]
pub struct ChartAxis {
    /// Its title.
    pub title: AxisTitle,
    /// Start a value axis at zero.
    #[oai(skip_serializing_if_is_none, nullable)]
    pub begin_at_zero: Option<bool>,
    /// `left` or `right` (a second value axis).
    #[oai(skip_serializing_if_is_none, nullable)]
    pub position: Option<String>,
    /// Lowest value shown.
    #[oai(skip_serializing_if_is_none, nullable)]
    pub min: Option<f64>,
    /// Highest value shown.
    #[oai(skip_serializing_if_is_none, nullable)]
    pub max: Option<f64>,
}

/// Chart.js `scales` of a chart with axes.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct ChartScales {
    /// Category (label) axis.
    pub x: ChartAxis,
    /// Value axis.
    pub y: ChartAxis,
    /// A second value axis, on the right (the Pareto's cumulative percent).
    #[oai(skip_serializing_if_is_none, nullable)]
    pub y1: Option<ChartAxis>,
}

/// Chart.js legend options.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct ChartLegend {
    /// Shown.
    pub display: bool,
    /// `top`, `right`, …
    #[oai(skip_serializing_if_is_none, nullable)]
    pub position: Option<String>,
}

/// A stop placed on the labels: shade from the left edge of label `from`
/// to the right edge of label `to` (both indices into `data.labels`,
/// inclusive). Indices, not label text, because a label repeats on a
/// fall-back night.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
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
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct StopShading {
    /// CSS colour of the shading.
    pub color: String,
    /// The stops, in time order.
    pub ranges: Vec<StopRange>,
}

/// Chart.js `options.plugins`.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct ChartPlugins {
    /// The legend.
    pub legend: ChartLegend,
    /// The stops to shade (production chart with `show_stops`).
    #[oai(skip_serializing_if_is_none, nullable)]
    pub camet_stops: Option<StopShading>,
}

/// Chart.js `options`.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
#[oai(rename_all = "camelCase")]
pub struct ChartOptions {
    /// Resize with the container.
    pub responsive: bool,
    /// `false`: fill the container's height (a grid cell) too.
    pub maintain_aspect_ratio: bool,
    /// Locale of number formatting: the language of the request (`es`, `en`).
    pub locale: String,
    /// Axes with their titles and units (charts with axes).
    #[oai(skip_serializing_if_is_none, nullable)]
    pub scales: Option<ChartScales>,
    /// Legend and the stops.
    pub plugins: ChartPlugins,
}

/// A Chart.js configuration: `new Chart(ctx, chart)` draws it as it is.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct ChartJs {
    /// Chart.js type.
    #[oai(rename = "type")]
    pub kind: ChartType,
    /// Labels and datasets (a bucket outside planned time is `null`).
    pub data: ChartJsData,
    /// Options: titled axes with units, locale, legend, stops.
    pub options: ChartOptions,
}

/// A stop as the production chart's `data.stops` lists it.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
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
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct LineChartData {
    /// Local bucket starts `YYYY-MM-DD HH:MM` (an external series: its own labels).
    pub labels: Vec<String>,
    /// One dataset; here every bucket holds its count, 0 included (see `chart` for the planned-time breaks).
    pub datasets: Vec<ChartDataset>,
    /// The stops, with `show_stops` (production chart only).
    #[oai(skip_serializing_if_is_none, nullable)]
    pub stops: Option<Vec<StopView>>,
    /// See the KPI responses' `data_as_of` (production chart only).
    #[oai(skip_serializing_if_is_none, nullable)]
    pub data_as_of: Option<String>,
}

/// `data` of a `kpi_card`.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
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
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct TableColumn {
    /// Key of the row field.
    pub key: String,
    /// Heading, in the request's language.
    pub label: String,
}

/// One downtime event as a table row.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
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
    #[oai(nullable)]
    pub reason_id: Option<i32>,
    /// Its name in the request's language.
    #[oai(nullable)]
    pub reason_name: Option<String>,
    /// CSS colour: the reason's, else its loss class's default (grey when unassigned).
    pub color: String,
    /// `breakdown`, `setup`, `minor_stop`, `planned` or `unassigned`.
    pub loss_class: String,
    /// The free text written on the stop (the comment).
    #[oai(nullable)]
    pub comment: Option<String>,
}

/// `data` of a `table`.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct TableData {
    /// Columns in display order; each `key` is a field of every row.
    pub columns: Vec<TableColumn>,
    /// The rows.
    pub rows: Vec<DowntimeRow>,
}

/// One bar of a Pareto chart: the stops of one reason.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct ParetoBar {
    /// The reason; none: the stops without one.
    #[oai(nullable)]
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
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct ParetoData {
    /// The bars in chart order (seconds descending).
    pub bars: Vec<ParetoBar>,
    /// Σ of every bar, seconds.
    pub total_seconds: f64,
}

/// One step of the loss waterfall.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
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
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct WaterfallData {
    /// The steps in chart order.
    pub steps: Vec<WaterfallStep>,
    /// Why a step is `null` (as `/metrics/losses`).
    pub warnings: Vec<String>,
    /// Up to when direct writes to the raw table are included.
    pub data_as_of: String,
}

/// What every widget result holds, whatever its type.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct WidgetCommon {
    /// Catalog id.
    pub widget_id: i32,
    /// Catalog name.
    pub widget_name: String,
    /// Its cell of the layout (absent for a single widget's data).
    #[oai(nullable)]
    pub layout: Option<LayoutCell>,
    /// Why this widget has no data (`data` and `chart` are then `null`).
    #[oai(nullable)]
    pub error: Option<WidgetError>,
    /// Time to its data: its slowest need plus rendering.
    pub elapsed_ms: f64,
}

/// A `line_chart` result: the production chart or an external series.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct LineChartWidget {
    /// Id, name, layout, error, timing.
    #[oai(flatten)]
    pub common: WidgetCommon,
    /// Labels and counts (every bucket, 0 included), stops, `data_as_of`.
    #[oai(nullable)]
    pub data: Option<LineChartData>,
    /// Chart.js configuration: `new Chart(ctx, chart)`.
    #[oai(nullable)]
    pub chart: Option<ChartJs>,
}

/// A `comparison_bar` result: input, output and rejected units.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct ComparisonBarWidget {
    /// Id, name, layout, error, timing.
    #[oai(flatten)]
    pub common: WidgetCommon,
    /// Labels and one dataset.
    #[oai(nullable)]
    pub data: Option<ChartJsData>,
    /// Chart.js configuration: `new Chart(ctx, chart)`.
    #[oai(nullable)]
    pub chart: Option<ChartJs>,
}

/// A `pie_chart` result: output per product.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct PieChartWidget {
    /// Id, name, layout, error, timing.
    #[oai(flatten)]
    pub common: WidgetCommon,
    /// Product names and one dataset.
    #[oai(nullable)]
    pub data: Option<ChartJsData>,
    /// Chart.js configuration: `new Chart(ctx, chart)`.
    #[oai(nullable)]
    pub chart: Option<ChartJs>,
}

/// A `kpi_card` result.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct KpiCardWidget {
    /// Id, name, layout, error, timing.
    #[oai(flatten)]
    pub common: WidgetCommon,
    /// `{value, unit, label, kpi_type}`.
    #[oai(nullable)]
    pub data: Option<KpiCardData>,
}

/// A `table` result: the downtime events.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct TableWidget {
    /// Id, name, layout, error, timing.
    #[oai(flatten)]
    pub common: WidgetCommon,
    /// `{columns:[{key, label}], rows}`.
    #[oai(nullable)]
    pub data: Option<TableData>,
}

/// A `pareto_chart` result: downtime per reason with the cumulative percent.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct ParetoChartWidget {
    /// Id, name, layout, error, timing.
    #[oai(flatten)]
    pub common: WidgetCommon,
    /// The bars, longest first.
    #[oai(nullable)]
    pub data: Option<ParetoData>,
    /// Chart.js configuration (bars and a `line` dataset on the `y1` axis): `new Chart(ctx, chart)`.
    #[oai(nullable)]
    pub chart: Option<ChartJs>,
}

/// A `waterfall_chart` result: the loss split from calendar time to fully productive time.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct WaterfallChartWidget {
    /// Id, name, layout, error, timing.
    #[oai(flatten)]
    pub common: WidgetCommon,
    /// The steps.
    #[oai(nullable)]
    pub data: Option<WaterfallData>,
    /// Chart.js configuration (floating bars `[low, high]`): `new Chart(ctx, chart)`.
    #[oai(nullable)]
    pub chart: Option<ChartJs>,
}

/// A widget the server cannot run (not in the catalog, or a catalog row of
/// an unknown type whose class is not registered): only its `error`.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct UnknownWidget {
    /// Id, name, layout, error, timing.
    #[oai(flatten)]
    pub common: WidgetCommon,
}

/// One widget's answer, typed by `widget_type`.
#[derive(Debug, Clone, PartialEq, poem_openapi::Union)]
#[oai(discriminator_name = "widget_type", one_of)]
pub enum WidgetResult {
    /// `line_chart`.
    #[oai(mapping = "line_chart")]
    LineChart(LineChartWidget),
    /// `comparison_bar`.
    #[oai(mapping = "comparison_bar")]
    ComparisonBar(ComparisonBarWidget),
    /// `pie_chart`.
    #[oai(mapping = "pie_chart")]
    PieChart(PieChartWidget),
    /// `kpi_card`.
    #[oai(mapping = "kpi_card")]
    KpiCard(KpiCardWidget),
    /// `table`.
    #[oai(mapping = "table")]
    Table(TableWidget),
    /// `pareto_chart`.
    #[oai(mapping = "pareto_chart")]
    ParetoChart(ParetoChartWidget),
    /// `waterfall_chart`.
    #[oai(mapping = "waterfall_chart")]
    WaterfallChart(WaterfallChartWidget),
    /// `unknown`.
    #[oai(mapping = "unknown")]
    Unknown(UnknownWidget),
}

/// A whole run.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct RunResponse {
    /// Every widget of the layout, in layout order.
    pub widgets: Vec<WidgetResult>,
    /// Timings and what was shared.
    pub meta: Value,
}

/// One catalog row.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct CatalogWidget {
    /// Id (referenced by layouts).
    pub widget_id: i32,
    /// Human name.
    pub widget_name: String,
    /// Output shape: `line_chart`, `pie_chart`, `comparison_bar`, `kpi_card`,
    /// `table`, `pareto_chart`, `waterfall_chart`.
    pub widget_type: String,
    /// Registered implementation (see `GET /dashboard/widgets/catalog`).
    pub class_name: String,
    /// `internal` (detections) or `external` (data broker).
    pub source_type: String,
    /// JSON Schema of the widget's params.
    pub required_params: Value,
}

/// One widget placed on the 12-column grid, with optional fixed params
/// (e.g. `{"kpi_type": "oee"}`) merged over the run's filters.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct LayoutCell {
    /// Catalog widget.
    pub widget_id: i32,
    /// Column (0-11).
    pub x: i32,
    /// Row.
    pub y: i32,
    /// Width in columns (1-12).
    pub w: i32,
    /// Height in rows.
    pub h: i32,
    /// Params fixed for this cell.
    #[oai(nullable)]
    pub params: Option<Value>,
}

/// A dashboard layout.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct Layout {
    /// Cells in display order.
    pub grid: Vec<LayoutCell>,
}

/// A tenant's active filter, as `GET /dashboard/filters` shows it.
#[derive(Debug, Clone, poem_openapi::Object)]
pub struct ActiveFilter {
    /// Row id.
    pub filter_id: i32,
    /// Name.
    pub filter_name: String,
    /// Type.
    pub class_name: String,
    /// The request field it reads in `POST /dashboard/run {filters}`.
    pub key: String,
    /// Description.
    #[oai(nullable)]
    pub description: Option<String>,
    /// Default value (the tenant's, else the type's).
    pub default: Value,
    /// Choices.
    pub options: Value,
}

/// Why one widget has no data; returned in its `error`, never failing the run.
#[derive(Debug, Clone, PartialEq, poem_openapi::Object)]
pub struct WidgetError {
    /// `invalid_params`, `unknown_widget`, `not_found`, `external_timeout`,
    /// `external_unreachable`, `external_bad_status`, `external_invalid_json`,
    /// `external_unknown_api`, `external_token_missing`, `bad_external_data`,
    /// `unavailable` or `internal`.
    pub kind: String,
    /// Human explanation (safe to show).
    pub message: String,
    /// The failing param, when one is at fault.
    #[oai(nullable)]
    pub field: Option<String>,
}

/// Each value of a list through its view.
fn all<T, U: From<T>>(values: Vec<T>) -> Vec<U> {
    values.into_iter().map(U::from).collect()
}

impl From<shapes_domain::ChartNumber> for ChartNumber {
    fn from(shapes_domain::ChartNumber(n): shapes_domain::ChartNumber) -> Self {
        ChartNumber(n)
    }
}

impl From<shapes_domain::ChartDatum> for ChartDatum {
    fn from(datum: shapes_domain::ChartDatum) -> Self {
        match datum {
            shapes_domain::ChartDatum::Value(n) => ChartDatum::Value(n.into()),
            shapes_domain::ChartDatum::Span(low, high) => ChartDatum::Span(low.into(), high.into()),
        }
    }
}

impl From<shapes_domain::ChartColor> for ChartColor {
    fn from(colour: shapes_domain::ChartColor) -> Self {
        match colour {
            shapes_domain::ChartColor::One(one) => ChartColor::One(one),
            shapes_domain::ChartColor::PerLabel(each) => ChartColor::PerLabel(each),
        }
    }
}

impl From<shapes_domain::ChartDataset> for ChartDataset {
    fn from(d: shapes_domain::ChartDataset) -> Self {
        let shapes_domain::ChartDataset {
            kind,
            label,
            data,
            y_axis_id,
            order,
            border_color,
            background_color,
            border_width,
            tension,
            fill,
            span_gaps,
            point_radius,
        } = d;
        ChartDataset {
            kind: kind.map(ChartType::from),
            label,
            data: all(data),
            y_axis_id,
            order,
            border_color: border_color.map(ChartColor::from),
            background_color: background_color.map(ChartColor::from),
            border_width,
            tension,
            fill,
            span_gaps,
            point_radius,
        }
    }
}

impl From<shapes_domain::ChartJsData> for ChartJsData {
    fn from(d: shapes_domain::ChartJsData) -> Self {
        let shapes_domain::ChartJsData { labels, datasets } = d;
        ChartJsData {
            labels,
            datasets: all(datasets),
        }
    }
}

impl From<shapes_domain::ChartType> for ChartType {
    fn from(kind: shapes_domain::ChartType) -> Self {
        match kind {
            shapes_domain::ChartType::Line => ChartType::Line,
            shapes_domain::ChartType::Bar => ChartType::Bar,
            shapes_domain::ChartType::Pie => ChartType::Pie,
            shapes_domain::ChartType::Doughnut => ChartType::Doughnut,
        }
    }
}

impl From<shapes_domain::ChartAxis> for ChartAxis {
    fn from(axis: shapes_domain::ChartAxis) -> Self {
        let shapes_domain::ChartAxis {
            title: shapes_domain::AxisTitle { display, text },
            begin_at_zero,
            position,
            min,
            max,
        } = axis;
        ChartAxis {
            title: AxisTitle { display, text },
            begin_at_zero,
            position,
            min,
            max,
        }
    }
}

impl From<shapes_domain::StopRange> for StopRange {
    fn from(r: shapes_domain::StopRange) -> Self {
        let shapes_domain::StopRange {
            from,
            to,
            start,
            end,
            duration_seconds,
            ongoing,
        } = r;
        StopRange {
            from,
            to,
            start,
            end,
            duration_seconds,
            ongoing,
        }
    }
}

impl From<shapes_domain::ChartOptions> for ChartOptions {
    fn from(o: shapes_domain::ChartOptions) -> Self {
        let shapes_domain::ChartOptions {
            responsive,
            maintain_aspect_ratio,
            locale,
            scales,
            plugins:
                shapes_domain::ChartPlugins {
                    legend: shapes_domain::ChartLegend { display, position },
                    camet_stops,
                },
        } = o;
        ChartOptions {
            responsive,
            maintain_aspect_ratio,
            locale,
            scales: scales.map(|shapes_domain::ChartScales { x, y, y1 }| ChartScales {
                x: x.into(),
                y: y.into(),
                y1: y1.map(ChartAxis::from),
            }),
            plugins: ChartPlugins {
                legend: ChartLegend { display, position },
                camet_stops: camet_stops.map(|shapes_domain::StopShading { color, ranges }| StopShading {
                    color,
                    ranges: all(ranges),
                }),
            },
        }
    }
}

impl From<shapes_domain::ChartJs> for ChartJs {
    fn from(c: shapes_domain::ChartJs) -> Self {
        let shapes_domain::ChartJs { kind, data, options } = c;
        ChartJs {
            kind: kind.into(),
            data: data.into(),
            options: options.into(),
        }
    }
}

impl From<shapes_domain::LineChartData> for LineChartData {
    fn from(d: shapes_domain::LineChartData) -> Self {
        let shapes_domain::LineChartData {
            labels,
            datasets,
            stops,
            data_as_of,
        } = d;
        LineChartData {
            labels,
            datasets: all(datasets),
            stops: stops.map(|stops| {
                stops
                    .into_iter()
                    .map(
                        |shapes_domain::StopView {
                             start,
                             end,
                             duration_seconds,
                         }| StopView {
                            start,
                            end,
                            duration_seconds,
                        },
                    )
                    .collect()
            }),
            data_as_of,
        }
    }
}

impl From<shapes_domain::KpiCardData> for KpiCardData {
    fn from(d: shapes_domain::KpiCardData) -> Self {
        let shapes_domain::KpiCardData {
            value,
            unit,
            label,
            kpi_type,
        } = d;
        KpiCardData {
            value: value.into(),
            unit,
            label,
            kpi_type,
        }
    }
}

impl From<shapes_domain::TableData> for TableData {
    fn from(d: shapes_domain::TableData) -> Self {
        let shapes_domain::TableData { columns, rows } = d;
        TableData {
            columns: columns
                .into_iter()
                .map(|shapes_domain::TableColumn { key, label }| TableColumn { key, label })
                .collect(),
            rows: rows
                .into_iter()
                .map(
                    |shapes_domain::DowntimeRow {
                         start,
                         end,
                         duration,
                         reason,
                         ongoing,
                         reason_id,
                         reason_name,
                         color,
                         loss_class,
                         comment,
                     }| DowntimeRow {
                        start,
                        end,
                        duration,
                        reason,
                        ongoing,
                        reason_id,
                        reason_name,
                        color,
                        loss_class,
                        comment,
                    },
                )
                .collect(),
        }
    }
}

impl From<shapes_domain::ParetoData> for ParetoData {
    fn from(d: shapes_domain::ParetoData) -> Self {
        let shapes_domain::ParetoData { bars, total_seconds } = d;
        ParetoData {
            bars: bars
                .into_iter()
                .map(
                    |shapes_domain::ParetoBar {
                         reason_id,
                         label,
                         loss_class,
                         color,
                         seconds,
                         count,
                         cumulative_percent,
                     }| ParetoBar {
                        reason_id,
                        label,
                        loss_class,
                        color,
                        seconds,
                        count,
                        cumulative_percent,
                    },
                )
                .collect(),
            total_seconds,
        }
    }
}

impl From<shapes_domain::WaterfallData> for WaterfallData {
    fn from(d: shapes_domain::WaterfallData) -> Self {
        let shapes_domain::WaterfallData {
            steps,
            warnings,
            data_as_of,
        } = d;
        WaterfallData {
            steps: steps
                .into_iter()
                .map(
                    |shapes_domain::WaterfallStep {
                         key,
                         label,
                         kind,
                         seconds,
                     }| WaterfallStep {
                        key,
                        label,
                        kind,
                        seconds: seconds.into(),
                    },
                )
                .collect(),
            warnings,
            data_as_of,
        }
    }
}

impl From<widgets_domain::WidgetError> for WidgetError {
    fn from(e: widgets_domain::WidgetError) -> Self {
        let widgets_domain::WidgetError { kind, message, field } = e;
        WidgetError { kind, message, field }
    }
}

impl From<catalog_domain::LayoutCell> for LayoutCell {
    fn from(c: catalog_domain::LayoutCell) -> Self {
        let catalog_domain::LayoutCell {
            widget_id,
            x,
            y,
            w,
            h,
            params,
        } = c;
        LayoutCell {
            widget_id,
            x,
            y,
            w,
            h,
            params,
        }
    }
}

impl From<LayoutCell> for catalog_domain::LayoutCell {
    fn from(c: LayoutCell) -> Self {
        let LayoutCell {
            widget_id,
            x,
            y,
            w,
            h,
            params,
        } = c;
        catalog_domain::LayoutCell {
            widget_id,
            x,
            y,
            w,
            h,
            params,
        }
    }
}

impl From<catalog_domain::Layout> for Layout {
    fn from(layout: catalog_domain::Layout) -> Self {
        Layout { grid: all(layout.grid) }
    }
}

impl From<Layout> for catalog_domain::Layout {
    fn from(layout: Layout) -> Self {
        catalog_domain::Layout { grid: all(layout.grid) }
    }
}

impl From<catalog_domain::CatalogWidget> for CatalogWidget {
    fn from(w: catalog_domain::CatalogWidget) -> Self {
        let catalog_domain::CatalogWidget {
            widget_id,
            widget_name,
            widget_type,
            class_name,
            source_type,
            required_params,
        } = w;
        CatalogWidget {
            widget_id,
            widget_name,
            widget_type,
            class_name,
            source_type,
            required_params,
        }
    }
}

impl From<filters_domain::ActiveFilter> for ActiveFilter {
    fn from(f: filters_domain::ActiveFilter) -> Self {
        let filters_domain::ActiveFilter {
            filter_id,
            filter_name,
            class_name,
            key,
            description,
            default,
            options,
        } = f;
        ActiveFilter {
            filter_id,
            filter_name,
            class_name,
            key,
            description,
            default,
            options,
        }
    }
}

impl From<run_domain::WidgetResult> for WidgetResult {
    /// The result typed by `widget_type`: a rendered widget by what it
    /// rendered, a failed one by the kind the orchestrator found for it
    /// (`data` and `chart` then `null`), else `unknown`.
    fn from(result: run_domain::WidgetResult) -> Self {
        let run_domain::WidgetResult {
            widget_id,
            widget_name,
            layout,
            elapsed_ms,
            kind,
            outcome,
        } = result;
        let (rendered, error) = match outcome {
            Ok(rendered) => (Some(rendered), None),
            Err(error) => (None, Some(WidgetError::from(error))),
        };
        let common = WidgetCommon {
            widget_id,
            widget_name,
            layout: layout.map(LayoutCell::from),
            error,
            elapsed_ms,
        };
        match rendered {
            Some(Rendered::LineChart { data, chart }) => WidgetResult::LineChart(LineChartWidget {
                common,
                data: Some(data.into()),
                chart: Some(chart.into()),
            }),
            Some(Rendered::ComparisonBar { data, chart }) => WidgetResult::ComparisonBar(ComparisonBarWidget {
                common,
                data: Some(data.into()),
                chart: Some(chart.into()),
            }),
            Some(Rendered::PieChart { data, chart }) => WidgetResult::PieChart(PieChartWidget {
                common,
                data: Some(data.into()),
                chart: Some(chart.into()),
            }),
            Some(Rendered::KpiCard(data)) => WidgetResult::KpiCard(KpiCardWidget {
                common,
                data: Some(data.into()),
            }),
            Some(Rendered::Table(data)) => WidgetResult::Table(TableWidget {
                common,
                data: Some(data.into()),
            }),
            Some(Rendered::ParetoChart { data, chart }) => WidgetResult::ParetoChart(ParetoChartWidget {
                common,
                data: Some(data.into()),
                chart: Some(chart.into()),
            }),
            Some(Rendered::WaterfallChart { data, chart }) => WidgetResult::WaterfallChart(WaterfallChartWidget {
                common,
                data: Some(data.into()),
                chart: Some(chart.into()),
            }),
            None => match kind {
                Some(WidgetKind::LineChart) => WidgetResult::LineChart(LineChartWidget {
                    common,
                    data: None,
                    chart: None,
                }),
                Some(WidgetKind::ComparisonBar) => WidgetResult::ComparisonBar(ComparisonBarWidget {
                    common,
                    data: None,
                    chart: None,
                }),
                Some(WidgetKind::PieChart) => WidgetResult::PieChart(PieChartWidget {
                    common,
                    data: None,
                    chart: None,
                }),
                Some(WidgetKind::KpiCard) => WidgetResult::KpiCard(KpiCardWidget { common, data: None }),
                Some(WidgetKind::Table) => WidgetResult::Table(TableWidget { common, data: None }),
                Some(WidgetKind::ParetoChart) => WidgetResult::ParetoChart(ParetoChartWidget {
                    common,
                    data: None,
                    chart: None,
                }),
                Some(WidgetKind::WaterfallChart) => WidgetResult::WaterfallChart(WaterfallChartWidget {
                    common,
                    data: None,
                    chart: None,
                }),
                None => WidgetResult::Unknown(UnknownWidget { common }),
            },
        }
    }
}

impl From<run_domain::RunResponse> for RunResponse {
    fn from(run: run_domain::RunResponse) -> Self {
        let run_domain::RunResponse { widgets, meta } = run;
        RunResponse {
            widgets: all(widgets),
            meta,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_json_form_and_undefined_ones_are_null() {
        let json = |n: shapes_domain::ChartNumber| ChartNumber::from(n).to_json();
        assert_eq!(json(shapes_domain::ChartNumber::count(3)), Some(serde_json::json!(3)));
        assert_eq!(
            json(shapes_domain::ChartNumber::real(1.75)),
            Some(serde_json::json!(1.75))
        );
        assert_eq!(json(shapes_domain::ChartNumber::real(f64::NAN)), Some(Value::Null));
        assert_eq!(json(shapes_domain::ChartNumber::maybe(None)), Some(Value::Null));
        assert_eq!(
            ChartNumber::parse_from_json(Some(serde_json::json!(2))).ok(),
            Some(ChartNumber::from(shapes_domain::ChartNumber::count(2)))
        );
        assert!(ChartNumber::parse_from_json(Some(serde_json::json!("2"))).is_err());
    }

    #[test]
    fn colours_are_a_string_or_a_list_and_read_back() {
        for (colour, json) in [
            (ChartColor::One("#fff".into()), serde_json::json!("#fff")),
            (
                ChartColor::PerLabel(vec!["red".into(), "blue".into()]),
                serde_json::json!(["red", "blue"]),
            ),
        ] {
            assert_eq!(colour.to_json(), Some(json.clone()));
            assert_eq!(ChartColor::parse_from_json(Some(json)).ok(), Some(colour));
        }
        assert!(ChartColor::parse_from_json(Some(serde_json::json!(3))).is_err());
        // No `type` beside the oneOf: a string is not an object.
        let MetaSchemaRef::Inline(schema) = ChartColor::schema_ref() else {
            panic!("inline schema")
        };
        assert_eq!((schema.ty, schema.one_of.len()), ("", 2));
    }
}
