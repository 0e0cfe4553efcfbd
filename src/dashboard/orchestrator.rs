//! Runs widgets: validates each widget's params against its catalog schema,
//! collects the needs of every widget, computes each distinct need once (all
//! concurrently; external ones through the data broker, bounded by their
//! API's timeout), hands each widget only what it declared, and returns
//! every widget's data or its own error with timings.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, FutureExt, Shared};
use serde_json::{Map, Value, json};

use crate::analytics::interval::{Interval, micros_to_seconds};
use crate::analytics::time::format_instant;
use crate::auth::principal::Principal;
use crate::dashboard::catalog::{self, CatalogWidget, LayoutCell};
use crate::dashboard::filters::{self, FilterContext};
use crate::dashboard::widgets::shapes::{Rendered, WidgetKind};
use crate::dashboard::widgets::{
    self, AssignedReason, Lang, LossesData, Need, NeedData, Scoped, StopRow, Widget, WidgetError, WidgetParams,
};
use crate::error::{AppError, AppResult};
use crate::plant::cache::PlantSnapshot;

/// Fills absent top-level params from the schema's `default`s.
fn apply_defaults(schema: &Value, params: &mut Map<String, Value>) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            if let (false, Some(default)) = (params.contains_key(name), property.get("default")) {
                params.insert(name.clone(), default.clone());
            }
        }
    }
}

/// Validates params against a catalog schema; the error names the field.
pub fn validate_params(schema: &Value, params: &Value) -> Result<(), WidgetError> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| WidgetError::new("internal", format!("the widget's schema is invalid: {e}")))?;
    if let Some(error) = validator.iter_errors(params).next() {
        let path = error.instance_path().to_string();
        let field = if path.is_empty() {
            "params".to_owned()
        } else {
            format!("params{}", path.replace('/', "."))
        };
        return Err(WidgetError::invalid(field, error.to_string()));
    }
    Ok(())
}

/// A widget ready to run: its type, validated params and declared needs.
pub struct Prepared {
    /// Implementation.
    pub widget: &'static dyn Widget,
    /// Params.
    pub params: WidgetParams,
    /// What it needs.
    pub needs: Vec<Need>,
}

/// Looks the widget's class up and validates its params.
/// Looks the widget's class up, validates its params and types them once
/// (the range in `tz`, at most `max_range_days`).
pub fn prepare(
    entry: &CatalogWidget,
    mut params: Map<String, Value>,
    tz: chrono_tz::Tz,
    max_range_days: u32,
) -> Result<Prepared, WidgetError> {
    let widget = widgets::lookup(&entry.class_name).ok_or_else(|| {
        WidgetError::new(
            "unknown_widget",
            format!("widget class {:?} is not registered on this server", entry.class_name),
        )
    })?;
    apply_defaults(&entry.required_params, &mut params);
    let params = Value::Object(params);
    validate_params(&entry.required_params, &params)?;
    let params: WidgetParams =
        serde_json::from_value(params).map_err(|e| WidgetError::invalid("params", e.to_string()))?;
    let params = params.typed(tz, max_range_days)?;
    let needs = widget.needs(&params)?;
    Ok(Prepared { widget, params, needs })
}

type Computed = HashMap<Need, (Arc<Result<NeedData, WidgetError>>, Duration)>;

/// What a dashboard reads, handed in by its caller (never the whole
/// application state, so this module stays below the web layer): the
/// global database with the catalog and templates, the tenant's database
/// and cached configuration, the data broker and the longest range allowed.
pub struct Sources<'a> {
    /// The service's databases (the global one holds the catalog and the templates).
    pub databases: &'a crate::db::Databases,
    /// The tenant's database.
    pub pool: crate::db::DbPool,
    /// Its cached configuration.
    pub snapshot: Arc<PlantSnapshot>,
    /// External APIs.
    pub broker: &'a crate::broker::DataBroker,
    /// Longest range of a run or a widget, days (`CAMET_MAX_RANGE_DAYS`).
    pub max_range_days: u32,
}

/// What a person said about a stop, read from its persisted event.
struct Said {
    /// Its comment, else its code (the table's `reason` text).
    text: Option<String>,
    comment: Option<String>,
    assigned: Option<AssignedReason>,
}

/// The reason `reason_id` of the tenant's tree as widgets show it (none
/// when it left the tree: such a stop reads as unassigned, as in
/// `/metrics/losses`).
fn assigned_reason(snapshot: &PlantSnapshot, reason_id: Option<i32>) -> Option<AssignedReason> {
    let reason = snapshot.reasons.get(&reason_id?)?;
    let loss_class = reason.loss();
    let color = if reason.color.trim().is_empty() {
        crate::reasons::default_color(loss_class).to_owned()
    } else {
        reason.color.clone()
    };
    Some(AssignedReason {
        reason_id: reason.reason_id,
        name_es: reason.name_es.clone(),
        name_en: reason.name_en.clone(),
        color,
        loss_class,
    })
}

/// The stops of `prepared` with what was said about them on their
/// persisted events (reason of the tree, comment, code), joined on their
/// start instants.
async fn stops(sources: &Sources<'_>, prepared: &crate::kpi::Prepared, now: DateTime<Utc>) -> AppResult<Vec<StopRow>> {
    let downtime = crate::kpi::downtime(prepared, now);
    let snapshot = &sources.snapshot;
    let tz = snapshot.timezone;
    let said: HashMap<DateTime<Utc>, Said> =
        match (downtime.events.as_slice().first(), downtime.events.as_slice().last()) {
            (Some(first), Some(last)) => {
                let window = Interval::new(first.start, last.end + chrono::Duration::microseconds(1));
                let mut conn = sources.pool.get().await?;
                crate::kpi::persisted::list(&mut conn, snapshot, downtime.line_id, window)
                    .await?
                    .into_iter()
                    .map(|record| {
                        let said = Said {
                            text: record.reason.clone().or(record.reason_code),
                            comment: record.reason,
                            assigned: assigned_reason(snapshot, record.reason_id),
                        };
                        (record.start, said)
                    })
                    .collect()
            }
            _ => HashMap::new(),
        };
    Ok(downtime
        .events
        .iter()
        .map(|e| {
            let said = said.get(&e.start);
            StopRow {
                reason: said.and_then(|s| s.text.clone()),
                comment: said.and_then(|s| s.comment.clone()),
                assigned: said.and_then(|s| s.assigned.clone()),
                start: format_instant(e.start, tz),
                end: format_instant(e.end, tz),
                duration_seconds: micros_to_seconds(e.duration_micros),
                duration_micros: e.duration_micros,
                ongoing: e.ongoing,
                span: Interval::new(e.start, e.end),
            }
        })
        .collect())
}

/// The loss split of `prepared` as `GET /metrics/losses` computes it, with
/// the calendar time of its range (clipped at now).
async fn losses(sources: &Sources<'_>, prepared: &crate::kpi::Prepared, now: DateTime<Utc>) -> AppResult<LossesData> {
    let snapshot = &sources.snapshot;
    let mut conn = sources.pool.get().await?;
    let classes = crate::kpi::losses::stop_classes(&mut conn, snapshot, prepared).await?;
    let line = crate::kpi::losses::losses(&mut conn, snapshot, prepared, &classes, now).await?;
    let calendar_micros = line
        .range
        .clip_to_now(now)
        .map_or(0, |clipped| clipped.duration_micros());
    let data_as_of = format_instant(line.data_as_of, snapshot.timezone);
    Ok(LossesData {
        line,
        calendar_micros,
        data_as_of,
    })
}

/// Basis shared by the OEE, summary and downtime needs of one line, range,
/// shift and threshold, computed by whichever needs it first.
type SharedPrepared<'a> = Shared<BoxFuture<'a, Result<Arc<crate::kpi::Prepared>, WidgetError>>>;

/// The key of the [`SharedPrepared`] a need uses (its query without products).
fn prepared_key(need: &Need) -> Option<widgets::DataQuery> {
    match need {
        Need::Oee(q) | Need::Summary(q) | Need::Downtime(q) => Some(widgets::DataQuery {
            product_ids: Vec::new(),
            ..q.clone()
        }),
        // The loss split counts the products of its context's query, so
        // it keeps them: without a product filter it shares the context
        // of the OEE and the stops.
        Need::Losses(q) => Some(q.clone()),
        // A chart of the output area over all products reuses the minute
        // rows the gap analysis of the same range read.
        Need::Series(q) if q.product_ids.is_empty() && q.area_ids.is_empty() => Some(widgets::DataQuery {
            interval: None,
            ..q.clone()
        }),
        Need::Series(_) | Need::External { .. } => None,
    }
}

async fn shared(prepared: Option<SharedPrepared<'_>>) -> Result<Arc<crate::kpi::Prepared>, WidgetError> {
    match prepared {
        Some(future) => future.await,
        None => Err(WidgetError::internal("KPI need without its shared context")),
    }
}

/// The product filter of a need, each id checked against the configuration.
fn products_of(snapshot: &PlantSnapshot, q: &widgets::DataQuery) -> AppResult<Vec<i32>> {
    let unknown = crate::kpi::unknown_ids(snapshot, &q.product_ids, None);
    if unknown.is_empty() {
        Ok(crate::query::model::distinct(q.product_ids.clone()))
    } else {
        Err(AppError::invalid_fields(unknown))
    }
}

async fn compute(
    sources: &Sources<'_>,
    need: &Need,
    prepared: Option<SharedPrepared<'_>>,
    now: DateTime<Utc>,
) -> Result<NeedData, WidgetError> {
    let snapshot = &sources.snapshot;
    Ok(match need {
        Need::Oee(q) => {
            let prepared = shared(prepared).await?;
            let products = products_of(snapshot, q)?;
            let mut conn = sources.pool.get().await?;
            NeedData::Oee(crate::kpi::oee(&mut conn, snapshot, &prepared, &products, now).await?)
        }
        Need::Summary(q) => {
            let prepared = shared(prepared).await?;
            let products = products_of(snapshot, q)?;
            let mut conn = sources.pool.get().await?;
            NeedData::Summary(crate::kpi::summary(&mut conn, snapshot, &prepared, &products, now).await?)
        }
        Need::Series(q) => {
            let filters = crate::kpi::series::SeriesFilters {
                line_id: q.line_id,
                range: q.range,
                interval: q
                    .interval
                    .unwrap_or(crate::analytics::buckets::BucketInterval::FifteenMinutes),
                product_ids: q.product_ids.clone(),
                area_ids: q.area_ids.clone(),
                shift_id: q.shift_id,
            };
            // The KPI context can fail where a chart still works (a line
            // without an input area): the chart then reads on its own.
            let context = match prepared {
                Some(shared) => shared.await.ok(),
                None => None,
            };
            let rows = context.as_deref().and_then(crate::kpi::Prepared::minute_rows);
            let mut conn = sources.pool.get().await?;
            let series = crate::kpi::series::production_series(&mut conn, snapshot, &filters, now, rows).await?;
            NeedData::Series(series)
        }
        Need::Downtime(_) => {
            let prepared = shared(prepared).await?;
            NeedData::Downtime(stops(sources, &prepared, now).await?)
        }
        Need::Losses(_) => {
            let prepared = shared(prepared).await?;
            NeedData::Losses(losses(sources, &prepared, now).await?)
        }
        Need::External { api_id, query } => {
            let request = crate::broker::BrokerRequest {
                query: query.clone(),
                body: None,
            };
            let answer = sources
                .broker
                .fetch_series(api_id, &request)
                .await
                .map_err(|e| WidgetError::new(&format!("external_{}", e.kind()), e.message_for(api_id)))?;
            NeedData::External(answer)
        }
    })
}

/// The single-line query of `key`, typed once, and its basis.
async fn prepare_kpi(
    sources: &Sources<'_>,
    key: &widgets::DataQuery,
    now: DateTime<Utc>,
    keep_minutes: bool,
) -> AppResult<crate::kpi::Prepared> {
    let query = crate::kpi::checked_query(&key.line_request(), &sources.snapshot)?;
    let mut conn = sources.pool.get().await?;
    crate::kpi::prepare(&mut conn, &sources.snapshot, query, now, keep_minutes).await
}

/// Computes every distinct need once, concurrently.
async fn compute_all<'a>(sources: &Sources<'_>, needs: impl Iterator<Item = &'a Need>, now: DateTime<Utc>) -> Computed {
    let mut distinct: Vec<&Need> = Vec::new();
    for need in needs {
        if !distinct.contains(&need) {
            distinct.push(need);
        }
    }
    let mut prepared: HashMap<widgets::DataQuery, SharedPrepared<'_>> = HashMap::new();
    // Only KPI needs create a shared context; a chart joins one if it
    // exists, and only then is the context asked to keep its minute rows.
    let (charts, kpis): (Vec<&Need>, Vec<&Need>) = distinct
        .iter()
        .copied()
        .partition(|need| matches!(need, Need::Series(_)));
    let chart_keys: Vec<widgets::DataQuery> = charts.into_iter().filter_map(prepared_key).collect();
    for key in kpis.into_iter().filter_map(prepared_key) {
        let keep_minutes = chart_keys.contains(&key);
        prepared.entry(key.clone()).or_insert_with(|| {
            async move {
                prepare_kpi(sources, &key, now, keep_minutes)
                    .await
                    .map(Arc::new)
                    .map_err(WidgetError::from)
            }
            .boxed()
            .shared()
        });
    }
    let runs = distinct.into_iter().map(|need| {
        let context = prepared_key(need).and_then(|key| prepared.get(&key).cloned());
        async move {
            let started = Instant::now();
            let result = compute(sources, need, context, now).await;
            (need.clone(), (Arc::new(result), started.elapsed()))
        }
    });
    futures::future::join_all(runs).await.into_iter().collect()
}

/// Hands a widget exactly its declared needs and renders it; returns its
/// data or error and the time of its slowest need plus rendering.
fn render(prepared: &Prepared, computed: &Computed, lang: Lang) -> (Result<Rendered, WidgetError>, Duration) {
    let started = Instant::now();
    let mut waited = Duration::ZERO;
    let scope = Scoped::new(
        prepared
            .needs
            .iter()
            .filter_map(|need| {
                computed.get(need).map(|(data, took)| {
                    waited = waited.max(*took);
                    (need.clone(), data.clone())
                })
            })
            .collect(),
    );
    let result = render_isolated(prepared.widget, &prepared.params, &scope, lang);
    (result, waited + started.elapsed())
}

/// Renders one widget so that a bug in it (a panic) fails only that widget,
/// as an `internal` error, instead of the whole run.
fn render_isolated(
    widget: &dyn Widget,
    params: &WidgetParams,
    scope: &Scoped,
    lang: Lang,
) -> Result<Rendered, WidgetError> {
    // Rendering only reads `params` and `scope` and returns a new value, so
    // nothing it shares is left half-changed by an unwind.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| widget.render(params, scope, lang))).unwrap_or_else(|_| {
        tracing::error!(widget = widget.class_name(), "widget panicked while rendering");
        Err(WidgetError::internal(
            "this widget failed to render; the failure is logged",
        ))
    })
}

/// One widget's answer: who it is, where it sits, how long it took, and
/// what it rendered or why it has none. The web layer turns it into the
/// result typed by `widget_type`.
#[derive(Debug, Clone, PartialEq)]
pub struct WidgetResult {
    /// Catalog id.
    pub widget_id: i32,
    /// Catalog name.
    pub widget_name: String,
    /// Its cell of the layout (absent for a single widget's data).
    pub layout: Option<LayoutCell>,
    /// Time to its data: its slowest need plus rendering.
    pub elapsed_ms: f64,
    /// The type of its results: what it rendered, else what its registered
    /// class renders, else what its catalog row says; `None` when the
    /// server cannot tell (`unknown`).
    pub kind: Option<WidgetKind>,
    /// Its data, or why it has none.
    pub outcome: Result<Rendered, WidgetError>,
}

impl WidgetResult {
    /// The type of a failed widget's results: what its registered class
    /// renders, else what its catalog row says.
    fn kind_of(entry: Option<&CatalogWidget>) -> Option<WidgetKind> {
        let entry = entry?;
        widgets::lookup(&entry.class_name)
            .map(|w| w.kind())
            .or_else(|| WidgetKind::parse(&entry.widget_type))
    }

    fn new(
        widget_id: i32,
        entry: Option<&CatalogWidget>,
        layout: Option<LayoutCell>,
        outcome: Result<Rendered, WidgetError>,
        took: Duration,
    ) -> Self {
        let kind = match &outcome {
            Ok(rendered) => Some(rendered.kind()),
            Err(_) => Self::kind_of(entry),
        };
        WidgetResult {
            widget_id,
            widget_name: entry.map(|e| e.widget_name.clone()).unwrap_or_default(),
            layout,
            elapsed_ms: millis(took),
            kind,
            outcome,
        }
    }
}

/// A whole run.
#[derive(Debug, Clone)]
pub struct RunResponse {
    /// Every widget of the layout, in layout order.
    pub widgets: Vec<WidgetResult>,
    /// Timings and what was shared.
    pub meta: Value,
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Runs the caller's role layout with the given filters.
pub async fn run(
    sources: &Sources<'_>,
    principal: &Principal,
    filter_input: &Map<String, Value>,
    lang: Lang,
    now: DateTime<Utc>,
) -> AppResult<RunResponse> {
    let started = Instant::now();
    let snapshot = &sources.snapshot;
    let ctx = FilterContext {
        snapshot,
        tz: snapshot.timezone,
        now,
        max_range_days: sources.max_range_days,
    };
    let resolved = filters::resolve(filter_input, &ctx)?;
    let base = resolved.to_params(snapshot.timezone);
    let layout = catalog::layout_for(sources.databases, principal.tenant_id, principal.role).await?;
    let entries = catalog::load_in(sources.databases, lang).await?;

    let prepared: Vec<(LayoutCell, Option<&CatalogWidget>, Result<Prepared, WidgetError>)> = layout
        .grid
        .into_iter()
        .map(|cell| {
            let entry = entries.get(&cell.widget_id);
            let prepared = match entry {
                None => Err(WidgetError::new(
                    "unknown_widget",
                    format!("widget {} is not in the catalog", cell.widget_id),
                )),
                Some(entry) => {
                    let mut params = if entry.source_type == "external" {
                        Map::new()
                    } else {
                        base.clone()
                    };
                    if let Some(Value::Object(fixed)) = &cell.params {
                        params.extend(fixed.clone());
                    }
                    prepare(entry, params, snapshot.timezone, sources.max_range_days)
                }
            };
            (cell, entry, prepared)
        })
        .collect();

    let computing = Instant::now();
    let all_needs = prepared
        .iter()
        .filter_map(|(_, _, p)| p.as_ref().ok())
        .flat_map(|p| p.needs.iter());
    let computed = compute_all(sources, all_needs, now).await;
    let computing = computing.elapsed();

    let widgets: Vec<WidgetResult> = prepared
        .into_iter()
        .map(|(cell, entry, prepared)| {
            let (outcome, took) = match &prepared {
                Ok(p) => render(p, &computed, lang),
                Err(e) => (Err(e.clone()), Duration::ZERO),
            };
            WidgetResult::new(cell.widget_id, entry, Some(cell), outcome, took)
        })
        .collect();
    let slowest = widgets.iter().map(|w| w.elapsed_ms).fold(0.0, f64::max);
    let meta = json!({
        "elapsed_ms": millis(started.elapsed()),
        "computing_ms": millis(computing),
        "slowest_widget_ms": slowest,
        "widgets": widgets.len(),
        "computations": computed.len(),
        "filters": {
            "line_id": resolved.line_id,
            "start_date": base.get("start_date"),
            "end_date": base.get("end_date"),
            "interval": resolved.interval,
        },
    });
    Ok(RunResponse { widgets, meta })
}

/// One widget's data for explicit params; bad params are a 422 naming the field.
pub async fn widget_data(
    sources: &Sources<'_>,
    widget_id: i32,
    params: Map<String, Value>,
    lang: Lang,
    now: DateTime<Utc>,
) -> AppResult<WidgetResult> {
    let started = Instant::now();
    let entries = catalog::load_in(sources.databases, lang).await?;
    let entry = entries
        .get(&widget_id)
        .ok_or_else(|| AppError::NotFound(format!("widget {widget_id} not found")))?;
    let outcome = match prepare(entry, params, sources.snapshot.timezone, sources.max_range_days) {
        Err(WidgetError {
            field: Some(field),
            message,
            ..
        }) => return Err(AppError::invalid_field(field, message)),
        // An unregistered class is the server's problem, reported like in a run.
        Err(error) => Err(error),
        Ok(prepared) => {
            let computed = compute_all(sources, prepared.needs.iter(), now).await;
            render(&prepared, &computed, lang).0
        }
    };
    Ok(WidgetResult::new(
        widget_id,
        Some(entry),
        None,
        outcome,
        started.elapsed(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::widgets::DataQuery;
    use crate::dashboard::widgets::shapes::KpiCardData;

    /// Declares one need and reports what it was handed (as its card's label).
    struct Spy;
    impl Widget for Spy {
        fn class_name(&self) -> &'static str {
            "Spy"
        }
        fn kind(&self) -> WidgetKind {
            WidgetKind::KpiCard
        }
        fn needs(&self, params: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
            Ok(vec![Need::Downtime(DataQuery::downtime(params)?)])
        }
        fn render(&self, _: &WidgetParams, data: &Scoped, _: Lang) -> Result<Rendered, WidgetError> {
            let seen = json!({
                "handed": data.needs().len(),
                "downtime": data.downtime().is_ok(),
                "oee": data.oee().is_ok(),
                "series": data.series().is_ok(),
                "external": data.external().is_ok(),
            });
            Ok(Rendered::KpiCard(KpiCardData {
                value: widgets::shapes::ChartNumber::NULL,
                unit: String::new(),
                label: seen.to_string(),
                kpi_type: "spy".into(),
            }))
        }
    }

    /// What the spy saw, from its rendered card.
    fn seen(out: Result<Rendered, WidgetError>) -> Value {
        match out.expect("rendered") {
            Rendered::KpiCard(card) => serde_json::from_str(&card.label).expect("the spy's report"),
            other => panic!("the spy renders a card, not {other:?}"),
        }
    }

    #[test]
    fn a_widget_receives_only_the_data_it_declared() {
        let params = WidgetParams {
            line_id: Some(1),
            start_date: Some("2026-11-16T00:00:00Z".into()),
            end_date: Some("2026-11-17T00:00:00Z".into()),
            ..WidgetParams::default()
        }
        .typed(chrono_tz::UTC, 31)
        .expect("typed");
        let needs = Spy.needs(&params).expect("needs");
        let query = DataQuery::series(&params).expect("query");
        // The run computed much more for other widgets.
        let mut computed: Computed = HashMap::new();
        computed.insert(
            needs[0].clone(),
            (Arc::new(Ok(NeedData::Downtime(Vec::new()))), Duration::from_millis(3)),
        );
        computed.insert(
            Need::External {
                api_id: "erp".into(),
                query: vec![],
            },
            (
                Arc::new(Ok(NeedData::External(json!({"secret": 1})))),
                Duration::from_millis(1),
            ),
        );
        computed.insert(
            Need::Series(query),
            (Arc::new(Err(WidgetError::internal("x"))), Duration::ZERO),
        );
        let prepared = Prepared {
            widget: &Spy,
            params,
            needs,
        };
        let (out, took) = render(&prepared, &computed, Lang::Es);
        assert_eq!(
            seen(out),
            json!({"handed": 1, "downtime": true, "oee": false, "series": false, "external": false})
        );
        assert!(took >= Duration::from_millis(3), "its time includes its need's");
    }

    /// A widget with a bug.
    struct Panicker;
    impl Widget for Panicker {
        fn class_name(&self) -> &'static str {
            "Panicker"
        }
        fn kind(&self) -> WidgetKind {
            WidgetKind::Table
        }
        fn needs(&self, _: &WidgetParams) -> Result<Vec<Need>, WidgetError> {
            Ok(Vec::new())
        }
        fn render(&self, _: &WidgetParams, _: &Scoped, _: Lang) -> Result<Rendered, WidgetError> {
            panic!("a bug in one widget")
        }
    }

    #[test]
    fn a_panicking_widget_fails_alone_as_an_internal_error() {
        let computed: Computed = HashMap::new();
        let broken = Prepared {
            widget: &Panicker,
            params: WidgetParams::default(),
            needs: Vec::new(),
        };
        let (out, _) = render(&broken, &computed, Lang::En);
        let error = out.expect_err("the panic is this widget's error");
        assert_eq!(error.kind, "internal");
        // The next widget of the same run still renders.
        let fine = Prepared {
            widget: &Spy,
            params: WidgetParams::default(),
            needs: Vec::new(),
        };
        let (out, _) = render(&fine, &computed, Lang::En);
        assert_eq!(seen(out)["handed"], 0);
    }

    #[test]
    fn schema_defaults_fill_absent_params_and_errors_name_the_field() {
        let schema = json!({"type": "object", "properties": {"kpi_type": {"type": "string", "enum": ["oee"], "default": "oee"}, "line_id": {"type": "integer"}}});
        let mut params = Map::new();
        apply_defaults(&schema, &mut params);
        assert_eq!(params.get("kpi_type"), Some(&json!("oee")));
        let error = validate_params(&schema, &json!({"line_id": "one"})).expect_err("invalid");
        assert_eq!(error.field.as_deref(), Some("params.line_id"));
    }
}
