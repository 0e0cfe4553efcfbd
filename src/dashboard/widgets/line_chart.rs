//! `ProductionLineChart`: production over time (semantics §6, §7 `line_chart`),
//! with the stops when the show-stops filter is on.
//!
//! `data` keeps every bucket's count (0 included) for existing clients. The
//! Chart.js `chart` shows a bucket outside planned time as `null`, so the
//! line breaks over nights and weekends instead of dropping to 0 like a
//! stop, unless something was detected in it (production off shift is
//! shown, never hidden); its stops are label-indexed ranges to shade.

use super::shapes::{
    ChartColor, ChartDataset, ChartJs, ChartJsData, ChartNumber, ChartOptions, ChartType, LineChartData, Rendered,
    StopShading, StopView, WidgetKind,
};
use super::{DataQuery, Lang, Need, Scoped, Widget, WidgetError, WidgetParams, stop_ranges};
use crate::analytics::buckets::BucketInterval;

/// Detections per local bucket as one Chart.js line dataset.
pub struct ProductionLineChart;

/// More buckets than this draw without point markers.
const DENSE: usize = 96;

/// Shading colour of the stops.
const STOP_SHADE: &str = "rgba(239, 68, 68, 0.15)";

/// The value axis title: units per bucket.
fn units_per(interval: BucketInterval, lang: Lang) -> &'static str {
    match interval {
        BucketInterval::OneMinute => lang.text("Unidades por minuto", "Units per minute"),
        BucketInterval::FifteenMinutes => lang.text("Unidades por 15 min", "Units per 15 min"),
        BucketInterval::OneHour => lang.text("Unidades por hora", "Units per hour"),
        BucketInterval::OneDay => lang.text("Unidades por día", "Units per day"),
        BucketInterval::OneWeek => lang.text("Unidades por semana", "Units per week"),
        BucketInterval::OneMonth => lang.text("Unidades por mes", "Units per month"),
    }
}

fn dataset(lang: Lang, data: Vec<ChartNumber>, span_gaps: Option<bool>, point_radius: Option<u32>) -> ChartDataset {
    ChartDataset {
        label: Some(lang.text("Producción", "Production").to_owned()),
        data: data.into_iter().map(Into::into).collect(),
        border_color: Some(ChartColor::One("rgb(59, 130, 246)".into())),
        background_color: Some(ChartColor::One("rgba(59, 130, 246, 0.1)".into())),
        border_width: None,
        tension: Some(0.4),
        fill: Some(true),
        span_gaps,
        point_radius,
        ..ChartDataset::default()
    }
}

impl Widget for ProductionLineChart {
    fn class_name(&self) -> &'static str {
        "ProductionLineChart"
    }

    fn kind(&self) -> WidgetKind {
        WidgetKind::LineChart
    }

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
        let mut needs = vec![Need::Series(DataQuery::series(params)?)];
        if params.show_stops.unwrap_or(true) {
            needs.push(Need::Downtime(DataQuery::downtime(params)?));
        }
        Ok(needs)
    }

    fn render(&self, params: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Rendered, WidgetError> {
        let series = data.series()?;
        let stops = if params.show_stops.unwrap_or(true) {
            Some(data.downtime()?)
        } else {
            None
        };
        let counts = series.counts.iter().map(|&c| ChartNumber::count(c)).collect();
        let legacy = LineChartData {
            labels: series.labels.clone(),
            datasets: vec![dataset(lang, counts, None, None)],
            stops: stops.map(|stops| {
                stops
                    .iter()
                    .map(|s| StopView {
                        start: s.start.clone(),
                        end: s.end.clone(),
                        duration_seconds: s.duration_seconds,
                    })
                    .collect()
            }),
            data_as_of: Some(series.data_as_of.clone()),
        };
        let broken = series
            .counts
            .iter()
            .zip(&series.planned)
            .map(|(&count, &planned)| {
                if planned || count > 0 {
                    ChartNumber::count(count)
                } else {
                    ChartNumber::NULL
                }
            })
            .collect();
        // Markers on more points than fit a grid cell hide the line.
        let point_radius = if series.labels.len() > DENSE { 0 } else { 3 };
        let mut options = ChartOptions::with_axes(
            lang.locale(),
            Some(format!(
                "{} ({})",
                lang.text("Hora local", "Local time"),
                series.timezone
            )),
            units_per(series.interval, lang).to_owned(),
            true,
        );
        options.plugins.camet_stops = stops.map(|stops| StopShading {
            color: STOP_SHADE.to_owned(),
            ranges: stop_ranges(&series.bounds, stops),
        });
        let chart = ChartJs {
            kind: ChartType::Line,
            data: ChartJsData {
                labels: series.labels.clone(),
                datasets: vec![dataset(lang, broken, Some(false), Some(point_radius))],
            },
            options,
        };
        Ok(Rendered::LineChart { data: legacy, chart })
    }
}
