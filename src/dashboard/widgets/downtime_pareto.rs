//! `DowntimePareto`: downtime seconds per reason, longest first, with the
//! cumulative percent on a second axis (`docs/dashboards.md`, "Loss widgets"). The
//! stops are those of the downtime table (the line's events over the range
//! at its threshold); each takes the reason assigned on its persisted
//! event, and the stops without one form their own bar. A bar has its
//! reason's colour (else its loss class's default colour, see
//! [`crate::reasons::default_color`]).

use crate::analytics::losses::LossClass;
use crate::reasons::default_color;

use super::shapes::{
    ChartAxis, ChartColor, ChartDataset, ChartDatum, ChartJs, ChartJsData, ChartNumber, ChartOptions, ChartType,
    ParetoBar, ParetoData, Rendered, WidgetKind,
};
use super::{DataQuery, Lang, Need, Scoped, StopRow, Widget, WidgetError, WidgetParams};
use crate::analytics::interval::micros_to_seconds;

/// Colour of the cumulative-percent line.
const LINE_COLOR: &str = "rgb(17, 24, 39)";

/// Downtime per reason as a Pareto chart.
pub struct DowntimePareto;

/// The bars of `stops`: grouped by assigned reason, seconds descending
/// (ties: by reason id, the unassigned bar last), each with the percent of
/// all downtime up to and including it.
pub fn pareto_bars(stops: &[StopRow], lang: Lang) -> Vec<ParetoBar> {
    /// The stops of one reason, summed exactly.
    struct Group {
        reason_id: Option<i32>,
        label: String,
        class: LossClass,
        color: String,
        micros: i64,
        count: u64,
    }
    let mut groups: Vec<Group> = Vec::new();
    for stop in stops {
        let reason_id = stop.assigned.as_ref().map(|r| r.reason_id);
        match groups.iter_mut().find(|g| g.reason_id == reason_id) {
            Some(group) => {
                group.micros += stop.duration_micros;
                group.count += 1;
            }
            None => {
                let (label, class, color) = match &stop.assigned {
                    Some(r) => (r.name(lang).to_owned(), r.loss_class, r.color.clone()),
                    None => (
                        lang.text("Sin asignar", "Unassigned").to_owned(),
                        LossClass::Unassigned,
                        default_color(LossClass::Unassigned).to_owned(),
                    ),
                };
                groups.push(Group {
                    reason_id,
                    label,
                    class,
                    color,
                    micros: stop.duration_micros,
                    count: 1,
                });
            }
        }
    }
    groups.sort_by(|a, b| {
        b.micros
            .cmp(&a.micros)
            .then_with(|| a.reason_id.is_none().cmp(&b.reason_id.is_none()))
            .then_with(|| a.reason_id.cmp(&b.reason_id))
    });
    let total: i64 = groups.iter().map(|g| g.micros).sum();
    let mut running: i64 = 0;
    groups
        .into_iter()
        .map(|g| {
            running += g.micros;
            ParetoBar {
                reason_id: g.reason_id,
                label: g.label,
                loss_class: g.class.as_str().to_owned(),
                color: g.color,
                seconds: micros_to_seconds(g.micros),
                count: g.count,
                cumulative_percent: percent(running, total),
            }
        })
        .collect()
}

/// `part` of `whole` in percent, rounded to two decimals (100 for the whole).
fn percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    // Integer hundredths of a percent, rounded half up: exact for any
    // realistic downtime (i128 cannot overflow here).
    let hundredths = (i128::from(part) * 20_000 + i128::from(whole)) / (2 * i128::from(whole));
    hundredths as f64 / 100.0
}

impl Widget for DowntimePareto {
    fn class_name(&self) -> &'static str {
        "DowntimePareto"
    }

    fn kind(&self) -> WidgetKind {
        WidgetKind::ParetoChart
    }

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
        Ok(vec![Need::Downtime(DataQuery::downtime(params)?)])
    }

    fn render(&self, _: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Rendered, WidgetError> {
        let bars = pareto_bars(data.downtime()?, lang);
        let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
        let colours: Vec<String> = bars.iter().map(|b| b.color.clone()).collect();
        let seconds_axis = lang.text("Tiempo de paro (s)", "Downtime (s)").to_owned();
        let percent_axis = lang.text("% acumulado", "Cumulative %").to_owned();
        let datasets = vec![
            ChartDataset {
                kind: Some(ChartType::Line),
                label: Some(percent_axis.clone()),
                data: bars
                    .iter()
                    .map(|b| ChartDatum::Value(ChartNumber::real(b.cumulative_percent)))
                    .collect(),
                y_axis_id: Some("y1".into()),
                order: Some(0),
                border_color: Some(ChartColor::One(LINE_COLOR.into())),
                background_color: Some(ChartColor::One(LINE_COLOR.into())),
                border_width: Some(2),
                tension: Some(0.0),
                fill: Some(false),
                point_radius: Some(3),
                ..ChartDataset::default()
            },
            ChartDataset {
                kind: Some(ChartType::Bar),
                label: Some(seconds_axis.clone()),
                data: bars
                    .iter()
                    .map(|b| ChartDatum::Value(ChartNumber::real(b.seconds)))
                    .collect(),
                y_axis_id: Some("y".into()),
                order: Some(1),
                background_color: Some(ChartColor::PerLabel(colours.clone())),
                border_color: Some(ChartColor::PerLabel(colours)),
                border_width: Some(1),
                ..ChartDataset::default()
            },
        ];
        let mut options = ChartOptions::with_axes(
            lang.locale(),
            Some(lang.text("Razón", "Reason").to_owned()),
            seconds_axis,
            true,
        );
        if let Some(scales) = options.scales.as_mut() {
            scales.y1 = Some(ChartAxis {
                position: Some("right".into()),
                min: Some(0.0),
                max: Some(100.0),
                ..ChartAxis::titled(Some(percent_axis), Some(true))
            });
        }
        let total_seconds = micros_to_seconds(data.downtime()?.iter().map(|s| s.duration_micros).sum());
        let chart = ChartJs {
            kind: ChartType::Bar,
            data: ChartJsData { labels, datasets },
            options,
        };
        Ok(Rendered::ParetoChart {
            data: ParetoData { bars, total_seconds },
            chart,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::interval::Interval;
    use crate::dashboard::widgets::AssignedReason;

    fn stop(seconds: i64, reason: Option<(i32, LossClass)>) -> StopRow {
        StopRow {
            start: String::new(),
            end: String::new(),
            duration_seconds: seconds as f64,
            duration_micros: seconds * 1_000_000,
            ongoing: false,
            reason: None,
            comment: None,
            assigned: reason.map(|(reason_id, loss_class)| AssignedReason {
                reason_id,
                name_es: format!("R{reason_id}"),
                name_en: format!("Reason {reason_id}"),
                color: default_color(loss_class).to_owned(),
                loss_class,
            }),
            span: Interval::new(chrono::DateTime::UNIX_EPOCH, chrono::DateTime::UNIX_EPOCH),
        }
    }

    #[test]
    fn bars_are_grouped_by_reason_longest_first_with_the_running_percent() {
        let stops = [
            stop(600, Some((2, LossClass::Setup))),
            stop(1200, Some((1, LossClass::Breakdown))),
            stop(5370, None),
            stop(300, Some((2, LossClass::Setup))),
            stop(30, None),
        ];
        let bars = pareto_bars(&stops, Lang::En);
        let seen: Vec<(Option<i32>, &str, f64, u64, f64)> = bars
            .iter()
            .map(|b| (b.reason_id, b.label.as_str(), b.seconds, b.count, b.cumulative_percent))
            .collect();
        // Total 7 500 s: 5 400 → 72 %, + 1 200 → 88 %, + 900 → 100 %.
        assert_eq!(
            seen,
            vec![
                (None, "Unassigned", 5400.0, 2, 72.0),
                (Some(1), "Reason 1", 1200.0, 1, 88.0),
                (Some(2), "Reason 2", 900.0, 2, 100.0),
            ]
        );
        assert_eq!(bars[0].color, "#9ca3af");
        assert_eq!(bars[1].loss_class, "breakdown");
        assert!(pareto_bars(&[], Lang::Es).is_empty());
    }

    #[test]
    fn percents_round_half_up_to_hundredths() {
        assert_eq!(percent(1, 3), 33.33);
        assert_eq!(percent(2, 3), 66.67);
        assert_eq!(percent(3, 3), 100.0);
        assert_eq!(percent(0, 0), 0.0);
    }

    #[test]
    fn ties_keep_reasons_before_the_unassigned_bar() {
        let bars = pareto_bars(&[stop(60, None), stop(60, Some((3, LossClass::Planned)))], Lang::Es);
        let ids: Vec<Option<i32>> = bars.iter().map(|b| b.reason_id).collect();
        assert_eq!(ids, vec![Some(3), None]);
        assert_eq!(bars[1].label, "Sin asignar");
    }
}
