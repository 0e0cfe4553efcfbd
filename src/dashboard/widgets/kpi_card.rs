//! `KpiCard`: one number with its unit and label (semantics §7 `kpi_card`).

use super::shapes::{ChartNumber, KpiCardData, Rendered, WidgetKind};
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

    fn kind(&self) -> WidgetKind {
        WidgetKind::KpiCard
    }

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
        let query = DataQuery::kpi(params)?;
        Ok(vec![if FROM_OEE.contains(&kpi_type(params)?) {
            Need::Oee(query)
        } else {
            Need::Summary(query)
        }])
    }

    fn render(&self, params: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Rendered, WidgetError> {
        let kind = kpi_type(params)?;
        let (value, unit, label): (ChartNumber, &str, &str) = match kind {
            "oee" => (ChartNumber::maybe(data.oee()?.oee), "%", "OEE"),
            "availability" => (
                ChartNumber::real(data.oee()?.availability),
                "%",
                lang.text("Disponibilidad", "Availability"),
            ),
            "performance" => (
                ChartNumber::maybe(data.oee()?.performance),
                "%",
                lang.text("Rendimiento", "Performance"),
            ),
            "quality" => (
                ChartNumber::real(data.oee()?.quality),
                "%",
                lang.text("Calidad", "Quality"),
            ),
            "good_units" => (
                ChartNumber::count(data.oee()?.good_units),
                lang.text("unidades", "units"),
                lang.text("Unidades buenas", "Good units"),
            ),
            "total_production" => (
                ChartNumber::count(data.summary()?.total_production),
                lang.text("unidades", "units"),
                lang.text("Producción total", "Total production"),
            ),
            "total_weight" => (
                ChartNumber::real(data.summary()?.total_weight),
                "kg",
                lang.text("Peso total", "Total weight"),
            ),
            "downtime_count" => (
                ChartNumber::count(data.summary()?.downtime_count),
                lang.text("paradas", "stops"),
                lang.text("Paradas", "Stops"),
            ),
            _ => (
                ChartNumber::real(data.summary()?.total_downtime_seconds),
                "s",
                lang.text("Tiempo de parada", "Downtime"),
            ),
        };
        Ok(Rendered::KpiCard(KpiCardData {
            value,
            unit: unit.to_owned(),
            label: label.to_owned(),
            kpi_type: kind.to_owned(),
        }))
    }
}
