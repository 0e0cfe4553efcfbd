//! `LossWaterfall`: where the calendar time of the range went
//! (`docs/dashboards.md`, "Loss widgets"; semantics §10): calendar time → planned → operating → net
//! (ideal) → fully productive, each a bar from zero, with the loss between
//! two of them as a floating bar `[low, high]`: not planned time (planned
//! stops), availability losses (every stop), micro-stops and speed loss,
//! quality loss. The figures are those of `GET /metrics/losses` with the
//! same params; calendar time is the range clipped at now.

use crate::analytics::interval::micros_to_seconds;

use super::shapes::{
    ChartColor, ChartDataset, ChartDatum, ChartJs, ChartJsData, ChartNumber, ChartOptions, ChartType, Rendered,
    WaterfallData, WaterfallStep, WidgetKind,
};
use super::{DataQuery, Lang, LossesData, Need, Scoped, Widget, WidgetError, WidgetParams};

/// The loss split as a waterfall.
pub struct LossWaterfall;

/// A step: a time (a bar from zero) or the loss between two times.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Time,
    Loss,
}

/// One bar before it becomes chart data: its key, labels, kind, colour and
/// its value and span in microseconds (none when it cannot be computed).
struct Step {
    key: &'static str,
    es: &'static str,
    en: &'static str,
    kind: Kind,
    color: &'static str,
    micros: Option<i64>,
    span: Option<(i64, i64)>,
}

const TIME: &str = "rgba(37, 99, 235, 0.8)";
const PRODUCTIVE: &str = "rgba(22, 163, 74, 0.8)";

/// The steps of `data`: each loss spans from the time after it to the
/// time before it (reversed when the loss is negative, as a speed loss can be).
fn steps(data: &LossesData) -> Vec<Step> {
    let losses = &data.line.losses;
    let calendar = data.calendar_micros;
    let planned = losses.planned_micros;
    let operating = losses.operating_micros;
    let net = losses.ideal_micros;
    let productive = losses.fully_productive_micros;
    let time = |key, es, en, color, micros: Option<i64>| Step {
        key,
        es,
        en,
        kind: Kind::Time,
        color,
        micros,
        span: micros.map(|m| (0, m)),
    };
    let loss = |key, es, en, color, before: Option<i64>, after: Option<i64>| {
        let pair = before.zip(after);
        Step {
            key,
            es,
            en,
            kind: Kind::Loss,
            color,
            micros: pair.map(|(b, a)| b - a),
            span: pair.map(|(b, a)| (a.min(b), a.max(b))),
        }
    };
    vec![
        time("calendar", "Tiempo calendario", "Calendar time", TIME, Some(calendar)),
        loss(
            "not_planned",
            "No planificado",
            "Not planned",
            "rgba(156, 163, 175, 0.8)",
            Some(calendar),
            Some(planned),
        ),
        time("planned", "Tiempo planificado", "Planned time", TIME, Some(planned)),
        loss(
            "availability_loss",
            "Pérdidas de disponibilidad",
            "Availability losses",
            "rgba(220, 38, 38, 0.8)",
            Some(planned),
            Some(operating),
        ),
        time("operating", "Tiempo operativo", "Operating time", TIME, Some(operating)),
        loss(
            "performance_loss",
            "Microparadas y velocidad",
            "Micro-stops and speed loss",
            "rgba(234, 179, 8, 0.8)",
            Some(operating),
            net,
        ),
        time("net", "Tiempo neto (ideal)", "Net (ideal) time", TIME, net),
        loss(
            "quality_loss",
            "Pérdida de calidad",
            "Quality loss",
            "rgba(249, 115, 22, 0.8)",
            net,
            productive,
        ),
        time(
            "fully_productive",
            "Tiempo plenamente productivo",
            "Fully productive time",
            PRODUCTIVE,
            productive,
        ),
    ]
}

impl Widget for LossWaterfall {
    fn class_name(&self) -> &'static str {
        "LossWaterfall"
    }

    fn kind(&self) -> WidgetKind {
        WidgetKind::WaterfallChart
    }

    fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
        Ok(vec![Need::Losses(DataQuery::kpi(params)?)])
    }

    fn render(&self, _: &WidgetParams, data: &Scoped, lang: Lang) -> Result<Rendered, WidgetError> {
        let losses = data.losses()?;
        let steps = steps(losses);
        let seconds = |m: i64| ChartNumber::real(micros_to_seconds(m));
        let axis = lang.text("Tiempo (s)", "Time (s)").to_owned();
        let dataset = ChartDataset {
            label: Some(axis.clone()),
            data: steps
                .iter()
                .map(|s| match s.span {
                    Some((low, high)) => ChartDatum::Span(seconds(low), seconds(high)),
                    None => ChartDatum::Value(ChartNumber::NULL),
                })
                .collect(),
            background_color: Some(ChartColor::PerLabel(steps.iter().map(|s| s.color.to_owned()).collect())),
            border_width: Some(0),
            ..ChartDataset::default()
        };
        let chart = ChartJs {
            kind: ChartType::Bar,
            data: ChartJsData {
                labels: steps.iter().map(|s| lang.text(s.es, s.en).to_owned()).collect(),
                datasets: vec![dataset],
            },
            options: ChartOptions::with_axes(lang.locale(), None, axis, false),
        };
        let data = WaterfallData {
            steps: steps
                .iter()
                .map(|s| WaterfallStep {
                    key: s.key.to_owned(),
                    label: lang.text(s.es, s.en).to_owned(),
                    kind: match s.kind {
                        Kind::Time => "time",
                        Kind::Loss => "loss",
                    }
                    .to_owned(),
                    seconds: s.micros.map_or(ChartNumber::NULL, seconds),
                })
                .collect(),
            warnings: losses.line.warnings.clone(),
            data_as_of: losses.data_as_of.clone(),
        };
        Ok(Rendered::WaterfallChart { data, chart })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::downtime::DowntimeThreshold;
    use crate::analytics::interval::Interval;
    use crate::analytics::losses::{ClassifiedStop, LossClass, LossInput, ProductFlow, compute_losses};
    use crate::dashboard::widgets::shapes::ChartDatum;
    use crate::kpi::losses::LineLosses;
    use rust_decimal::Decimal;

    const S: i64 = 1_000_000;

    /// The known day of `tests/it/losses.rs`, with or without ideal rates.
    fn known_day(rates: bool) -> LossesData {
        let stops: Vec<ClassifiedStop> = [600, 1200, 5370]
            .into_iter()
            .map(|s| ClassifiedStop {
                duration_micros: s * S,
                loss_class: LossClass::Unassigned,
                reason_id: None,
            })
            .collect();
        let flow = |product_id, input_count, output_count, std: i64| ProductFlow {
            product_id,
            input_count,
            output_count,
            production_std: rates.then(|| Decimal::from(std)),
        };
        let products = [flow(1, 3, 2, 100), flow(2, 1, 1, 60)];
        let losses = compute_losses(&LossInput {
            planned_micros: 7200 * S,
            stops: &stops,
            micro_stop_micros: &[],
            products: &products,
            calendar_micros: 86_400 * S,
        });
        let threshold = |s| DowntimeThreshold::from_seconds(s).expect("a threshold");
        LossesData {
            line: LineLosses {
                line_id: 1,
                range: Interval::new(chrono::DateTime::UNIX_EPOCH, chrono::DateTime::UNIX_EPOCH),
                downtime_threshold: threshold(300),
                micro_stop_threshold: threshold(30),
                losses,
                warnings: Vec::new(),
                planned_stops_reduce_planned_time: true,
                data_as_of: chrono::DateTime::UNIX_EPOCH,
            },
            calendar_micros: 86_400 * S,
            data_as_of: String::new(),
        }
    }

    fn rendered(data: LossesData) -> (WaterfallData, ChartJs) {
        let query = DataQuery {
            line_id: 1,
            range: Interval::new(chrono::DateTime::UNIX_EPOCH, chrono::DateTime::UNIX_EPOCH),
            product_ids: vec![],
            area_ids: vec![],
            shift_id: None,
            threshold: None,
            interval: None,
        };
        let scoped = Scoped::new(vec![(
            Need::Losses(query),
            std::sync::Arc::new(Ok(crate::dashboard::widgets::NeedData::Losses(data))),
        )]);
        match LossWaterfall.render(&WidgetParams::default(), &scoped, Lang::En) {
            Ok(Rendered::WaterfallChart { data, chart }) => (data, chart),
            other => panic!("a waterfall, not {other:?}"),
        }
    }

    #[test]
    fn each_loss_is_the_step_between_the_times_around_it() {
        let (data, chart) = rendered(known_day(true));
        let seconds: Vec<Option<f64>> = data
            .steps
            .iter()
            .map(|s| s.seconds.0.as_ref().and_then(|n| n.as_f64()))
            .collect();
        let expected = [86_400.0, 79_200.0, 7_200.0, 7_170.0, 30.0, -138.0, 168.0, 36.0, 132.0];
        assert_eq!(seconds, expected.map(Some).to_vec());
        // Each time minus the loss after it is the next time.
        for i in (0..8).step_by(2) {
            assert_eq!(expected[i] - expected[i + 1], expected[i + 2], "step {i}");
        }
        let spans: Vec<(f64, f64)> = chart.data.datasets[0]
            .data
            .iter()
            .map(|d| match d {
                ChartDatum::Span(low, high) => (
                    low.0.as_ref().and_then(|n| n.as_f64()).unwrap_or(f64::NAN),
                    high.0.as_ref().and_then(|n| n.as_f64()).unwrap_or(f64::NAN),
                ),
                ChartDatum::Value(_) => panic!("every bar floats"),
            })
            .collect();
        assert_eq!(spans[1], (7_200.0, 86_400.0));
        assert_eq!(spans[5], (30.0, 168.0), "a negative loss spans upwards, sorted");
        assert_eq!(chart.data.labels.len(), 9);
    }

    #[test]
    fn without_ideal_rates_the_last_four_steps_are_null() {
        let (data, chart) = rendered(known_day(false));
        let known: Vec<bool> = data.steps.iter().map(|s| s.seconds.0.is_some()).collect();
        assert_eq!(known, [true, true, true, true, true, false, false, false, false]);
        assert_eq!(
            chart.data.datasets[0].data[8],
            ChartDatum::Value(crate::dashboard::widgets::shapes::ChartNumber::NULL)
        );
    }
}
