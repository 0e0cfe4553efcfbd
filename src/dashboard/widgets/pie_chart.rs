//! `ProductDistributionPie`: output-area detections per product (semantics §7
//! `pie_chart`), coloured with each product's own colour when it has one.

use super::shapes::{
    ChartColor, ChartDataset, ChartJs, ChartJsData, ChartLegend, ChartNumber, ChartOptions, ChartPlugins, ChartType,
    Rendered, WidgetKind,
};
use super::{DataQuery, Lang, Need, Scoped, Widget, WidgetError, WidgetParams};

/// Colours for products without their own.
const PALETTE: [&str; 5] = [
    "rgb(59, 130, 246)",
    "rgb(16, 185, 129)",
    "rgb(249, 115, 22)",
    "rgb(139, 92, 246)",
    "rgb(236, 72, 153)",
];

/// Product names and counts from the summary.
pub struct ProductDistributionPie;

impl Widget for ProductDistributionPie {
    fn class_name(&self) -> &'static str {
        "ProductDistributionPie"
    }

    fn kind(&self) -> WidgetKind {
        WidgetKind::PieChart
    }

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
        Ok(vec![Need::Summary(DataQuery::kpi(params)?)])
    }

    fn render(&self, _: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Rendered, WidgetError> {
        let summary = data.summary()?;
        let mut labels = Vec::new();
        let mut counts = Vec::new();
        let mut colours = Vec::new();
        for (i, slice) in summary.product_slices.iter().enumerate() {
            labels.push(slice.product_name.clone());
            counts.push(ChartNumber::count(slice.count).into());
            colours.push(
                slice
                    .color
                    .clone()
                    .unwrap_or_else(|| PALETTE[i % PALETTE.len()].to_owned()),
            );
        }
        let data = ChartJsData {
            labels,
            datasets: vec![ChartDataset {
                label: None,
                data: counts,
                background_color: Some(ChartColor::PerLabel(colours)),
                border_width: Some(2),
                border_color: Some(ChartColor::One("#fff".into())),
                tension: None,
                fill: None,
                span_gaps: None,
                point_radius: None,
                ..ChartDataset::default()
            }],
        };
        let options = ChartOptions {
            responsive: true,
            maintain_aspect_ratio: false,
            locale: lang.locale().to_owned(),
            scales: None,
            plugins: ChartPlugins {
                legend: ChartLegend {
                    display: true,
                    position: Some("right".into()),
                },
                camet_stops: None,
            },
        };
        let chart = ChartJs {
            kind: ChartType::Pie,
            data: data.clone(),
            options,
        };
        Ok(Rendered::PieChart { data, chart })
    }
}
