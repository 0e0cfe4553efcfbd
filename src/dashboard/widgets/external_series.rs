//! `ExternalSeriesChart`: a series from an external API (weather, ERP...)
//! mapped into a Chart.js line dataset. The data broker fetches it; this
//! widget only picks the labels and values out of the answer.

use serde_json::{Value, json};

use super::{Lang, Need, Scoped, Widget, WidgetError, WidgetParams};

/// Labels and values found at two JSON pointers of the API's answer.
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

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
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

    fn render(&self, params: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Value, WidgetError> {
        let answer = data.external()?;
        let labels_at = params.labels_pointer.as_deref().unwrap_or("/labels");
        let values_at = params.values_pointer.as_deref().unwrap_or("/values");
        let array = |at: &str| {
            answer
                .pointer(at)
                .and_then(Value::as_array)
                .ok_or_else(|| WidgetError::new("bad_external_data", format!("the API's answer has no array at {at}")))
        };
        let labels: Vec<String> = array(labels_at)?
            .iter()
            .map(|v| scalar_text(v).unwrap_or_default())
            .collect();
        let values: Vec<Value> = array(values_at)?
            .iter()
            .map(|v| if v.is_number() { v.clone() } else { Value::Null })
            .collect();
        if labels.len() != values.len() {
            return Err(WidgetError::new(
                "bad_external_data",
                format!("{} labels but {} values", labels.len(), values.len()),
            ));
        }
        Ok(json!({
            "labels": labels,
            "datasets": [{
                "label": params.label.clone().unwrap_or_else(|| lang.text("Serie externa", "External series").to_owned()),
                "data": values,
                "borderColor": "rgb(249, 115, 22)",
                "tension": 0.4,
                "fill": false
            }]
        }))
    }
}
