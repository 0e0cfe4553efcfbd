//! An [`Answer`] as a table: typed columns, one row per group, totals,
//! and with a comparison `<measure>_previous` and `<measure>_delta`.
//! Values are JSON values (numbers, strings, null); writers for JSON and
//! CSV sit in the HTTP layer.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};

use crate::analytics::losses::{LossClass, Losses};
use crate::analytics::time::format_instant;
use crate::plant::cache::PlantSnapshot;
use crate::query::model::{Dimension, Grain, KpiQuery, Measure, ValueKind};
use crate::query::run::{Answer, Parts, RowKey};

/// A column of the answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Column {
    /// The row key.
    pub key: String,
    /// A heading.
    pub label: String,
    /// Unit (`s`, `units`, `kg`, `%`), empty when none.
    pub unit: String,
    /// `integer`, `number`, `percent`, `string` or `datetime`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl Column {
    fn new(key: &str, label: &str, unit: &str, kind: &str) -> Self {
        Self {
            key: key.to_owned(),
            label: label.to_owned(),
            unit: unit.to_owned(),
            kind: kind.to_owned(),
        }
    }
}

/// The answer as a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Columns, in row order.
    pub columns: Vec<Column>,
    /// Rows: one value per column.
    pub rows: Vec<Vec<Value>>,
    /// Totals of the measure columns (and their comparisons), by key.
    pub totals: serde_json::Map<String, Value>,
}

fn kind_name(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Integer => "integer",
        ValueKind::Number => "number",
        ValueKind::Percent => "percent",
    }
}

fn decimal(d: Decimal) -> Value {
    d.to_f64().map_or(Value::Null, |f| json!(f))
}

/// Microseconds as a JSON number of seconds.
fn seconds(micros: i64) -> Value {
    json!(crate::analytics::interval::micros_to_seconds(micros))
}

/// Σ seconds and number of the stops of `class`.
fn class_seconds(losses: &Losses, class: LossClass) -> Value {
    seconds(
        losses
            .availability
            .iter()
            .filter(|bucket| bucket.loss_class == class)
            .map(|bucket| bucket.micros)
            .sum(),
    )
}

/// The value of `measure` over `parts`.
fn measure_values(parts: &Parts, snapshot: &PlantSnapshot, measures: &[Measure]) -> Vec<Value> {
    let (oee, weight) = parts.figures(snapshot);
    let losses = measures
        .iter()
        .any(|m| m.is_loss())
        .then(|| parts.loss_split(snapshot, 0));
    let loss = |f: &dyn Fn(&Losses) -> Value| losses.as_ref().map_or(Value::Null, f);
    let optional = |micros: Option<i64>| micros.map_or(Value::Null, seconds);
    measures
        .iter()
        .map(|m| match m {
            Measure::PlannedTimeSeconds => json!(oee.planned_time_seconds),
            Measure::OperatingTimeSeconds => json!(oee.operating_time_seconds),
            Measure::TotalDowntimeSeconds => json!(oee.total_downtime_seconds),
            Measure::DowntimeCount => json!(oee.downtime_count),
            Measure::TotalProduction => json!(oee.total_production),
            Measure::GoodUnits => json!(oee.good_units),
            Measure::RejectedUnits => json!(oee.rejected_units),
            Measure::TotalWeight => decimal(weight),
            Measure::Availability => decimal(oee.availability),
            Measure::Performance => oee.performance.map_or(Value::Null, decimal),
            Measure::Quality => decimal(oee.quality),
            Measure::Oee => oee.oee.map_or(Value::Null, decimal),
            Measure::IdealTimeSeconds => loss(&|l| optional(l.ideal_micros)),
            Measure::FullyProductiveSeconds => loss(&|l| optional(l.fully_productive_micros)),
            Measure::QualityLossSeconds => loss(&|l| optional(l.quality_loss_micros)),
            Measure::SpeedLossSeconds => loss(&|l| optional(l.speed_loss_micros)),
            Measure::MicroStopSeconds => loss(&|l| seconds(l.micro_stop_micros)),
            Measure::MicroStopCount => loss(&|l| json!(l.micro_stop_count)),
            Measure::BreakdownSeconds => loss(&|l| class_seconds(l, LossClass::Breakdown)),
            Measure::SetupSeconds => loss(&|l| class_seconds(l, LossClass::Setup)),
            Measure::MinorStopSeconds => loss(&|l| class_seconds(l, LossClass::MinorStop)),
            Measure::PlannedStopSeconds => loss(&|l| class_seconds(l, LossClass::Planned)),
            Measure::UnassignedStopSeconds => loss(&|l| class_seconds(l, LossClass::Unassigned)),
            Measure::MtbfSeconds => loss(&|l| optional(l.mtbf_micros)),
            Measure::MttrSeconds => loss(&|l| optional(l.mttr_micros)),
        })
        .collect()
}

/// current − previous, both numbers; else null.
fn delta(current: &Value, previous: &Value) -> Value {
    match (current.as_f64(), previous.as_f64()) {
        (Some(c), Some(p)) => json!(((c - p) * 1e6).round() / 1e6),
        _ => Value::Null,
    }
}

/// How a row is matched with the comparison's: its key without the
/// instant (the ordinal of its time cell stays).
fn comparable(key: &RowKey) -> (Option<i32>, Option<usize>, Option<Option<i32>>, Option<i32>) {
    (
        key.line_id,
        key.time.map(|(_, ordinal)| ordinal),
        key.shift_id,
        key.product_id,
    )
}

/// Lays out `answer` (and `previous`, the same query over the compared
/// range) as a table.
pub fn table(query: &KpiQuery, snapshot: &PlantSnapshot, answer: &Answer, previous: Option<&Answer>) -> Table {
    let tz = snapshot.timezone;
    let mut columns = Vec::new();
    if query.has(Dimension::Line) {
        columns.push(Column::new("line_id", "Line id", "", "integer"));
        columns.push(Column::new("line_name", "Line", "", "string"));
    }
    if query.grain.is_some() {
        columns.push(Column::new("bucket_start", "Start", "", "datetime"));
    }
    let by_shift = query.has(Dimension::Shift) || query.grain == Some(Grain::Shift);
    if by_shift {
        columns.push(Column::new("shift_id", "Shift id", "", "integer"));
        columns.push(Column::new("shift_name", "Shift", "", "string"));
    }
    if query.has(Dimension::Product) {
        columns.push(Column::new("product_id", "Product id", "", "integer"));
        columns.push(Column::new("product_name", "Product", "", "string"));
    }
    for m in &query.measures {
        columns.push(Column::new(m.key(), m.label(), m.unit(), kind_name(m.kind())));
        if previous.is_some() {
            columns.push(Column::new(
                &format!("{}_previous", m.key()),
                &format!("{} (previous)", m.label()),
                m.unit(),
                kind_name(m.kind()),
            ));
            columns.push(Column::new(
                &format!("{}_delta", m.key()),
                &format!("{} (change)", m.label()),
                m.unit(),
                "number",
            ));
        }
    }
    let earlier: BTreeMap<_, &Parts> = previous
        .map(|p| p.rows.iter().map(|(k, v)| (comparable(k), v)).collect())
        .unwrap_or_default();
    let empty = Parts::default();
    let with_comparison = |values: Vec<Value>, before: Option<Vec<Value>>| -> Vec<Value> {
        match before {
            None => values,
            Some(before) => values
                .into_iter()
                .zip(before)
                .flat_map(|(now, then)| {
                    let change = delta(&now, &then);
                    [now, then, change]
                })
                .collect(),
        }
    };
    let rows = answer
        .rows
        .iter()
        .map(|(key, parts)| {
            let mut row = Vec::new();
            if let Some(line_id) = key.line_id {
                row.push(json!(line_id));
                row.push(snapshot.lines.get(&line_id).map_or(Value::Null, |l| json!(l.line_name)));
            }
            if query.grain.is_some() {
                row.push(
                    key.time
                        .map_or(Value::Null, |(start, _)| json!(format_instant(start, tz))),
                );
            }
            if by_shift {
                let shift = key.shift_id.flatten();
                row.push(shift.map_or(Value::Null, |id| json!(id)));
                row.push(
                    shift
                        .and_then(|id| snapshot.shifts.get(&id))
                        .map_or(Value::Null, |s| json!(s.shift_name)),
                );
            }
            if let Some(product_id) = key.product_id {
                row.push(json!(product_id));
                row.push(
                    snapshot
                        .products
                        .get(&product_id)
                        .map_or(Value::Null, |p| json!(p.product_name)),
                );
            }
            let values = measure_values(parts, snapshot, &query.measures);
            let before = previous.map(|_| {
                measure_values(
                    earlier.get(&comparable(key)).copied().unwrap_or(&empty),
                    snapshot,
                    &query.measures,
                )
            });
            row.extend(with_comparison(values, before));
            row
        })
        .collect();
    let total_values = with_comparison(
        measure_values(&answer.totals, snapshot, &query.measures),
        previous.map(|p| measure_values(&p.totals, snapshot, &query.measures)),
    );
    let measure_columns = columns.iter().skip(columns.len() - total_values.len());
    let totals = measure_columns.map(|c| c.key.clone()).zip(total_values).collect();
    Table { columns, rows, totals }
}
