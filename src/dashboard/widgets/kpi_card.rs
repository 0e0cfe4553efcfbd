//! `KpiCard`: one number with its unit and label (semantics §7 `kpi_card`).

use serde_json::{Value, json};

use super::{DataQuery, Lang, Need, Scoped, Widget, WidgetError, WidgetParams};

/// A single KPI: OEE factors come from the OEE, counts and weights from the
/// summary (over the whole range, as the original cards counted).
pub struct KpiCard;

const FROM_OEE: [&str; 5] = ["oee", "availability", "performance", "quality", "good_units"];
const FROM_SUMMARY: [&str; 4] = [
    "total_production",
    "total_weight",
    "downtime_count",
    "total_downtime_seconds",
];

fn kpi_type(params: &WidgetParams) -> Result<&str, WidgetError> {
    let kind = params.kpi_type.as_deref().unwrap_or("oee");
    if FROM_OEE.contains(&kind) || FROM_SUMMARY.contains(&kind) {
        Ok(kind)
    } else {
        Err(WidgetError::invalid("params.kpi_type", format!("unknown KPI {kind:?}")))
    }
}

impl Widget for KpiCard {
    fn class_name(&self) -> &'static str {
        "KpiCard"
    }

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
        let query = DataQuery::kpi(params)?;
        Ok(vec![if FROM_OEE.contains(&kpi_type(params)?) {
            Need::Oee(query)
        } else {
            Need::Summary(query)
        }])
    }

    fn render(&self, params: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Value, WidgetError> {
        let kind = kpi_type(params)?;
        let (value, unit, label): (Value, &str, &str) = match kind {
            "oee" => (json!(data.oee()?.oee), "%", "OEE"),
            "availability" => (
                json!(data.oee()?.availability),
                "%",
                lang.text("Disponibilidad", "Availability"),
            ),
            "performance" => (
                json!(data.oee()?.performance),
                "%",
                lang.text("Rendimiento", "Performance"),
            ),
            "quality" => (json!(data.oee()?.quality), "%", lang.text("Calidad", "Quality")),
            "good_units" => (
                json!(data.oee()?.good_units),
                lang.text("unidades", "units"),
                lang.text("Unidades buenas", "Good units"),
            ),
            "total_production" => (
                json!(data.summary()?.total_production),
                lang.text("unidades", "units"),
                lang.text("Producción total", "Total production"),
            ),
            "total_weight" => (
                json!(data.summary()?.total_weight),
                "kg",
                lang.text("Peso total", "Total weight"),
            ),
            "downtime_count" => (
                json!(data.summary()?.downtime_count),
                lang.text("paradas", "stops"),
                lang.text("Paradas", "Stops"),
            ),
            _ => (
                json!(data.summary()?.total_downtime_seconds),
                "s",
                lang.text("Tiempo de parada", "Downtime"),
            ),
        };
        Ok(json!({"value": value, "unit": unit, "label": label, "kpi_type": kind}))
    }
}
