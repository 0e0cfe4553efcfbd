//! `InputOutputComparison`: input, output and rejected units over the range
//! (semantics §7 `comparison_bar`, counts of §5 over the range, not only P).

use super::shapes::{
    ChartColor, ChartDataset, ChartJs, ChartJsData, ChartNumber, ChartOptions, ChartType, Rendered, WidgetKind,
};
use super::{DataQuery, Lang, Need, Scoped, Widget, WidgetError, WidgetParams};

/// Three bars from the summary.
pub struct InputOutputComparison;

impl Widget for InputOutputComparison {
    fn class_name(&self) -> &'static str {
        "InputOutputComparison"
    }

    fn kind(&self) -> WidgetKind {
        WidgetKind::ComparisonBar
    }

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
        Ok(vec![Need::Summary(DataQuery::kpi(params)?)])
    }

    fn render(&self, _: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Rendered, WidgetError> {
        let summary = data.summary()?;
        let input = summary.total_production;
        let output: u64 = summary.product_distribution.values().sum();
        let rejected = input.saturating_sub(output);
        let colours = |list: [&str; 3]| Some(ChartColor::PerLabel(list.iter().map(|&c| c.to_owned()).collect()));
        let data = ChartJsData {
            labels: vec![
                lang.text("Entrada", "Input").to_owned(),
                lang.text("Salida", "Output").to_owned(),
                lang.text("Descarte", "Rejected").to_owned(),
            ],
            datasets: vec![ChartDataset {
                label: Some(lang.text("Unidades", "Units").to_owned()),
                data: [input, output, rejected]
                    .into_iter()
                    .map(|n| ChartNumber::count(n).into())
                    .collect(),
                background_color: colours([
                    "rgba(16, 185, 129, 0.8)",
                    "rgba(59, 130, 246, 0.8)",
                    "rgba(239, 68, 68, 0.8)",
                ]),
                border_color: colours(["rgb(16, 185, 129)", "rgb(59, 130, 246)", "rgb(239, 68, 68)"]),
                border_width: Some(2),
                tension: None,
                fill: None,
                span_gaps: None,
                point_radius: None,
                ..ChartDataset::default()
            }],
        };
        let options = ChartOptions::with_axes(lang.locale(), None, lang.text("Unidades", "Units").to_owned(), false);
        let chart = ChartJs {
            kind: ChartType::Bar,
            data: data.clone(),
            options,
        };
        Ok(Rendered::ComparisonBar { data, chart })
    }
}
