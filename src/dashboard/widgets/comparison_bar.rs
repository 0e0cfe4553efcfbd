//! `InputOutputComparison`: input, output and rejected units over the range
//! (semantics §7 `comparison_bar`, counts of §5 over the range, not only P).

use serde_json::{Value, json};

use super::{DataQuery, Lang, Need, Scoped, Widget, WidgetError, WidgetParams};

/// Three bars from the summary.
pub struct InputOutputComparison;

impl Widget for InputOutputComparison {
    fn class_name(&self) -> &'static str {
        "InputOutputComparison"
    }

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
        Ok(vec![Need::Summary(DataQuery::kpi(params)?)])
    }

    fn render(&self, _: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Value, WidgetError> {
        let summary = data.summary()?;
        let input = summary.total_production;
        let output: u64 = summary.product_distribution.values().sum();
        let rejected = input.saturating_sub(output);
        Ok(json!({
            "labels": [
                lang.text("Entrada", "Input"),
                lang.text("Salida", "Output"),
                lang.text("Descarte", "Rejected")
            ],
            "datasets": [{
                "label": lang.text("Unidades", "Units"),
                "data": [input, output, rejected],
                "backgroundColor": ["rgba(16, 185, 129, 0.8)", "rgba(59, 130, 246, 0.8)", "rgba(239, 68, 68, 0.8)"],
                "borderColor": ["rgb(16, 185, 129)", "rgb(59, 130, 246)", "rgb(239, 68, 68)"],
                "borderWidth": 2
            }]
        }))
    }
}
