//! `DowntimeTable`: the stops with start, end, duration `HH:MM:SS`, the
//! assigned reason (name, colour, loss class) and the comment (semantics §7
//! `table`). Each column names the row field it shows.

use crate::analytics::losses::LossClass;
use crate::reasons::default_color;

use super::shapes::{DowntimeRow, Rendered, TableColumn, TableData, WidgetKind};
use super::{DataQuery, Lang, Need, Scoped, StopRow, Widget, WidgetError, WidgetParams, hms};

/// Downtime events as table rows.
pub struct DowntimeTable;

/// One stop as a row: the assigned reason's name in `lang` shows as its
/// `reason`; without one, the code or text written on the stop, else `N/A`.
fn row(stop: &StopRow, lang: Lang) -> DowntimeRow {
    let name = stop.assigned.as_ref().map(|r| r.name(lang).to_owned());
    let reason = name
        .clone()
        .or_else(|| stop.reason.clone())
        .unwrap_or_else(|| "N/A".to_owned());
    let (color, loss_class) = match &stop.assigned {
        Some(r) => (r.color.clone(), r.loss_class),
        None => (default_color(LossClass::Unassigned).to_owned(), LossClass::Unassigned),
    };
    DowntimeRow {
        start: stop.start.clone(),
        end: stop.end.clone(),
        duration: hms(stop.duration_seconds),
        reason,
        ongoing: stop.ongoing,
        reason_id: stop.assigned.as_ref().map(|r| r.reason_id),
        reason_name: name,
        color,
        loss_class: loss_class.as_str().to_owned(),
        comment: stop.comment.clone(),
    }
}

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
        let rows = data.downtime()?.iter().map(|s| row(s, lang)).collect();
        let column = |key: &str, label: &str| TableColumn {
            key: key.to_owned(),
            label: label.to_owned(),
        };
        Ok(Rendered::Table(TableData {
            columns: vec![
                column("start", lang.text("Inicio", "Start")),
                column("end", lang.text("Fin", "End")),
                column("duration", lang.text("Duración", "Duration")),
                // The comment is a row field, not a column: a column's
                // field is never null, and most stops have no comment.
                column("reason", lang.text("Razón", "Reason")),
            ],
            rows,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::interval::Interval;
    use crate::dashboard::widgets::AssignedReason;

    fn stop(reason: Option<&str>, comment: Option<&str>, assigned: Option<AssignedReason>) -> StopRow {
        StopRow {
            start: "2026-11-16T08:00:00Z".into(),
            end: "2026-11-16T08:10:00Z".into(),
            duration_seconds: 600.0,
            duration_micros: 600_000_000,
            ongoing: false,
            reason: reason.map(Into::into),
            comment: comment.map(Into::into),
            assigned,
            span: Interval::new(chrono::DateTime::UNIX_EPOCH, chrono::DateTime::UNIX_EPOCH),
        }
    }

    #[test]
    fn rows_name_the_assigned_reason_and_keep_the_comment() {
        let jam = AssignedReason {
            reason_id: 7,
            name_es: "Atasco".into(),
            name_en: "Jam".into(),
            color: "#dc2626".into(),
            loss_class: LossClass::Breakdown,
        };
        let assigned = row(&stop(Some("cinta"), Some("cinta"), Some(jam)), Lang::En);
        assert_eq!(
            (
                assigned.reason.as_str(),
                assigned.reason_id,
                assigned.reason_name.as_deref()
            ),
            ("Jam", Some(7), Some("Jam"))
        );
        assert_eq!(
            (assigned.color.as_str(), assigned.loss_class.as_str()),
            ("#dc2626", "breakdown")
        );
        assert_eq!(assigned.comment.as_deref(), Some("cinta"));
        // Free text without a reason of the tree reads as before.
        let written = row(&stop(Some("JAM"), None, None), Lang::Es);
        assert_eq!((written.reason.as_str(), written.reason_id), ("JAM", None));
        assert_eq!(written.loss_class, "unassigned");
        let nothing = row(&stop(None, None, None), Lang::Es);
        assert_eq!((nothing.reason.as_str(), nothing.color.as_str()), ("N/A", "#9ca3af"));
    }
}
