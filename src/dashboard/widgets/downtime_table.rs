//! `DowntimeTable`: the stops with start, end, duration `HH:MM:SS` and
//! reason (semantics §7 `table`).

use serde_json::{Value, json};

use super::{DataQuery, Lang, Need, Scoped, Widget, WidgetError, WidgetParams, hms};

/// Downtime events as table rows.
pub struct DowntimeTable;

impl Widget for DowntimeTable {
    fn class_name(&self) -> &'static str {
        "DowntimeTable"
    }

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
        Ok(vec![Need::Downtime(DataQuery::downtime(params)?)])
    }

    fn render(&self, _: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Value, WidgetError> {
        let rows: Vec<Value> = data
            .downtime()?
            .iter()
            .map(|s| {
                json!({
                    "start": s.start,
                    "end": s.end,
                    "duration": hms(s.duration_seconds),
                    "reason": s.reason.clone().unwrap_or_else(|| "N/A".to_owned()),
                    "ongoing": s.ongoing,
                })
            })
            .collect();
        Ok(json!({
            "columns": [
                lang.text("Inicio", "Start"),
                lang.text("Fin", "End"),
                lang.text("Duración", "Duration"),
                lang.text("Razón", "Reason")
            ],
            "rows": rows
        }))
    }
}
