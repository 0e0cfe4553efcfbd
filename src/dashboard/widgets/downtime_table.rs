//! `DowntimeTable`: the stops with start, end, duration `HH:MM:SS` and
//! reason (semantics §7 `table`). Each column names the row field it shows.

use super::shapes::{DowntimeRow, Rendered, TableColumn, TableData, WidgetKind};
use super::{DataQuery, Lang, Need, Scoped, Widget, WidgetError, WidgetParams, hms};

/// Downtime events as table rows.
pub struct DowntimeTable;

impl Widget for DowntimeTable {
    fn class_name(&self) -> &'static str {
        "DowntimeTable"
    }

    fn kind(&self) -> WidgetKind {
        WidgetKind::Table
    }

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
        Ok(vec![Need::Downtime(DataQuery::downtime(params)?)])
    }

    fn render(&self, _: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Rendered, WidgetError> {
        let rows = data
            .downtime()?
            .iter()
            .map(|s| DowntimeRow {
                start: s.start.clone(),
                end: s.end.clone(),
                duration: hms(s.duration_seconds),
                reason: s.reason.clone().unwrap_or_else(|| "N/A".to_owned()),
                ongoing: s.ongoing,
            })
            .collect();
        let column = |key: &str, label: &str| TableColumn {
            key: key.to_owned(),
            label: label.to_owned(),
        };
        Ok(Rendered::Table(TableData {
            columns: vec![
                column("start", lang.text("Inicio", "Start")),
                column("end", lang.text("Fin", "End")),
                column("duration", lang.text("Duración", "Duration")),
                column("reason", lang.text("Razón", "Reason")),
            ],
            rows,
        }))
    }
}
