//! `ProductionLineChart`: production over time (semantics §6, §7 `line_chart`),
//! with the stops when the show-stops filter is on.

use serde_json::{Value, json};

use super::{DataQuery, Lang, Need, Scoped, Widget, WidgetError, WidgetParams};

/// Detections per local bucket as one Chart.js line dataset.
pub struct ProductionLineChart;

impl Widget for ProductionLineChart {
    fn class_name(&self) -> &'static str {
        "ProductionLineChart"
    }

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
        let mut needs = vec![Need::Series(DataQuery::series(params)?)];
        if params.show_stops.unwrap_or(true) {
            needs.push(Need::Downtime(DataQuery::downtime(params)?));
        }
        Ok(needs)
    }

    fn render(&self, params: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Value, WidgetError> {
        let series = data.series()?;
        let mut out = json!({
            "labels": series.labels,
            "datasets": [{
                "label": lang.text("Producción", "Production"),
                "data": series.counts,
                "borderColor": "rgb(59, 130, 246)",
                "backgroundColor": "rgba(59, 130, 246, 0.1)",
                "tension": 0.4,
                "fill": true
            }],
            "data_as_of": series.data_as_of,
        });
        if params.show_stops.unwrap_or(true) {
            let stops: Vec<Value> = data
                .downtime()?
                .iter()
                .map(|s| json!({"start": s.start, "end": s.end, "duration_seconds": s.duration_seconds}))
                .collect();
            out["stops"] = Value::Array(stops);
        }
        Ok(out)
    }
}
