//! `ExternalSeriesChart`: a series from an external API (weather, ERP...)
//! mapped into a Chart.js line dataset. The data broker fetches it and hands
//! over only the labels and values found at the JSON pointers the operator
//! fixed for that API in `external_apis.yml`; clients cannot choose them.

use serde_json::Value;

use super::shapes::{
    ChartColor, ChartDataset, ChartJs, ChartJsData, ChartNumber, ChartOptions, ChartType, LineChartData, Rendered,
    WidgetKind,
};
use super::{Lang, Need, Scoped, Widget, WidgetError, WidgetParams};

/// Labels and values found at the API's two operator-configured JSON pointers.
pub struct ExternalSeriesChart;

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Widget for ExternalSeriesChart {
    fn class_name(&self) -> &'static str {
        "ExternalSeriesChart"
    }

    fn kind(&self) -> WidgetKind {
        WidgetKind::LineChart
    }

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
        // A caller-chosen pointer could select any part of the answer, such as the request
        // headers (bearer token included) that an echoing API sends back.
        for (field, given) in [
            ("params.labels_pointer", &params.labels_pointer),
            ("params.values_pointer", &params.values_pointer),
        ] {
            if given.is_some() {
                return Err(WidgetError::invalid(
                    field,
                    "is fixed per API by the operator in external_apis.yml and cannot be set by a request",
                ));
            }
        }
        let api_id = params
            .api_id
            .clone()
            .ok_or_else(|| WidgetError::invalid("params.api_id", "an external API id is required"))?;
        let query = params
            .query
            .iter()
            .flatten()
            .filter_map(|(k, v)| scalar_text(v).map(|v| (k.clone(), v)))
            .collect();
        Ok(vec![Need::External { api_id, query }])
    }

    fn render(&self, params: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Rendered, WidgetError> {
        let answer = data.external()?;
        // The broker's selection: `{"labels": …, "values": …}` (see `DataBroker::fetch_series`).
        let array = |part: &str| {
            answer.get(part).and_then(Value::as_array).ok_or_else(|| {
                WidgetError::new(
                    "bad_external_data",
                    format!("the API's answer has no array at its configured {part}_pointer"),
                )
            })
        };
        let labels: Vec<String> = array("labels")?
            .iter()
            .map(|v| scalar_text(v).unwrap_or_default())
            .collect();
        let values: Vec<ChartNumber> = array("values")?.iter().map(ChartNumber::from_json).collect();
        if labels.len() != values.len() {
            return Err(WidgetError::new(
                "bad_external_data",
                format!("{} labels but {} values", labels.len(), values.len()),
            ));
        }
        let label = params
            .label
            .clone()
            .unwrap_or_else(|| lang.text("Serie externa", "External series").to_owned());
        let dataset = |span_gaps: Option<bool>| ChartDataset {
            label: Some(label.clone()),
            data: values.iter().cloned().map(Into::into).collect(),
            border_color: Some(ChartColor::One("rgb(249, 115, 22)".into())),
            background_color: None,
            border_width: None,
            tension: Some(0.4),
            fill: Some(false),
            span_gaps,
            point_radius: None,
            ..ChartDataset::default()
        };
        // The API's labels are its own (hours, days, names): only the value axis has a known title.
        let options = ChartOptions::with_axes(lang.locale(), None, label.clone(), true);
        let chart = ChartJs {
            kind: ChartType::Line,
            data: ChartJsData {
                labels: labels.clone(),
                datasets: vec![dataset(Some(false))],
            },
            options,
        };
        Ok(Rendered::LineChart {
            data: LineChartData {
                labels,
                datasets: vec![dataset(None)],
                stops: None,
                data_as_of: None,
            },
            chart,
        })
    }
}
