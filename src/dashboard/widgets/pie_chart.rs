//! `ProductDistributionPie`: output-area detections per product (semantics §7
//! `pie_chart`), coloured with each product's own colour when it has one.

use serde_json::{Value, json};

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

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
        Ok(vec![Need::Summary(DataQuery::kpi(params)?)])
    }

    fn render(&self, _: &WidgetParams, data: &Scoped, _: Lang) -> Result<Value, WidgetError> {
        let summary = data.summary()?;
        let mut labels = Vec::new();
        let mut counts = Vec::new();
        let mut colours = Vec::new();
        for (i, slice) in summary.product_slices.iter().enumerate() {
            labels.push(slice.product_name.clone());
            counts.push(slice.count);
            colours.push(
                slice
                    .color
                    .clone()
                    .unwrap_or_else(|| PALETTE[i % PALETTE.len()].to_owned()),
            );
        }
        Ok(json!({
            "labels": labels,
            "datasets": [{"data": counts, "backgroundColor": colours, "borderWidth": 2, "borderColor": "#fff"}]
        }))
    }
}
