//! `/api/v1/metrics/query` (POST with a JSON body, GET with query
//! parameters for spreadsheets and BI tools): parse into a typed
//! [`KpiQuery`](crate::query::model::KpiQuery), authorize, run, and write
//! the table as JSON, CSV or XLSX (`format=` or `Accept`, see
//! [`crate::http::formats`]). The rules are in [`crate::query`] and
//! `docs/query.md`.

use poem::http::HeaderMap;
use poem::web::Data;
use poem_openapi::OpenApi;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use serde_json::{Value, json};

use crate::app::SharedState;
use crate::auth::principal::Principal;
use crate::error::{AppError, AppResult, FieldError};
use crate::http::ApiTags;
use crate::http::caller::{Caller, ReadData};
use crate::http::conditional::{Conditional, Precondition, settled};
use crate::http::data_api::id_list;
use crate::http::formats::{
    AboutLine, ColumnKind, ColumnSpec, FileBody, Format, Formatted, XlsxBook, csv_file, negotiate,
};
use crate::http::problem::ApiError;
use crate::query::model::{QueryForm, parse};
use crate::query::table::{Table, table};

/// The answer: JSON `{query, columns, rows, totals, meta}`, or the rows as a file.
pub type TableResponse = Formatted<Value>;

/// A KPI query (every field optional except a range: `start_date` and
/// `end_date`, or `preset`).
#[derive(Debug, Clone, Default, poem_openapi::Object)]
pub struct QueryRequest {
    /// Lines; omitted or empty: every active line of the tenant.
    #[oai(validator(max_items = 1000))]
    #[oai(nullable)]
    pub line_ids: Option<Vec<i32>>,
    /// Range start: RFC 3339, or tenant local time without an offset. Inclusive.
    #[oai(validator(max_length = 64))]
    #[oai(nullable)]
    pub start_date: Option<String>,
    /// Range end, exclusive.
    #[oai(validator(max_length = 64))]
    #[oai(nullable)]
    pub end_date: Option<String>,
    /// Instead of the dates: `today`, `yesterday`, `this_week`, `last_week`,
    /// `this_month`, `last_month`, `last_7_days`, `last_30_days` (whole local
    /// days in the tenant's zone; the last two end at today's midnight), or
    /// `current_shift` / `previous_shift` (the occurrence of the lines'
    /// shifts running now / the latest that ended).
    #[oai(validator(max_length = 32))]
    #[oai(nullable)]
    pub preset: Option<String>,
    /// Omitted: one row per group; `shift` (one row per shift occurrence,
    /// on the day it starts), `1hour`, `1day`, `1week`, `1month`.
    #[oai(validator(max_length = 16))]
    #[oai(nullable)]
    pub grain: Option<String>,
    /// Any of `line`, `shift`, `product`.
    #[oai(validator(max_items = 3))]
    #[oai(nullable)]
    pub dimensions: Option<Vec<String>>,
    /// Any of the OEE fields and the loss measures (`docs/query.md`);
    /// omitted: the twelve OEE fields.
    #[oai(validator(max_items = 25))]
    #[oai(nullable)]
    pub measures: Option<Vec<String>>,
    /// Only these products.
    #[oai(validator(max_items = 1000))]
    #[oai(nullable)]
    pub product_ids: Option<Vec<i32>>,
    /// Not supported (422): OEE counts each line's input and output areas.
    #[oai(validator(max_items = 1000))]
    #[oai(nullable)]
    pub area_ids: Option<Vec<i32>>,
    /// Only these shifts' occurrences.
    #[oai(validator(max_items = 1000))]
    #[oai(nullable)]
    pub shift_ids: Option<Vec<i32>>,
    /// Seconds (> 0); omitted: each line's own threshold.
    #[oai(nullable)]
    pub downtime_threshold: Option<f64>,
    /// `previous_period` or `previous_year`.
    #[oai(validator(max_length = 32))]
    #[oai(nullable)]
    pub compare: Option<String>,
    /// `json` (default), `csv` or `xlsx`; or ask by `Accept` (`text/csv`,
    /// `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`).
    #[oai(validator(max_length = 8))]
    #[oai(nullable)]
    pub format: Option<String>,
}

impl QueryRequest {
    fn form(&self) -> QueryForm {
        QueryForm {
            line_ids: self.line_ids.clone(),
            start_date: self.start_date.clone(),
            end_date: self.end_date.clone(),
            preset: self.preset.clone(),
            grain: self.grain.clone(),
            dimensions: self.dimensions.clone(),
            measures: self.measures.clone(),
            product_ids: self.product_ids.clone(),
            area_ids: self.area_ids.clone(),
            shift_ids: self.shift_ids.clone(),
            downtime_threshold: self.downtime_threshold,
            compare: self.compare.clone(),
        }
    }
}

/// The table as a CSV or XLSX file. Neither has a totals row, so every
/// row of the data is a group and a pivot table over it counts nothing
/// twice; XLSX lists the totals on its "Query" sheet (`total.<key>`), beside
/// the echoed query, `data_as_of` and the row count.
async fn file_of(format: Format, table: &Table, echo: &Value, data_as_of: &str, stem: &str) -> AppResult<FileBody> {
    let columns: Vec<ColumnSpec> = table
        .columns
        .iter()
        .map(|c| ColumnSpec::new(c.key.clone(), ColumnKind::from_name(&c.kind)))
        .collect();
    if format == Format::Csv {
        return Ok(FileBody::whole(format, csv_file(&columns, &table.rows)?, stem));
    }
    let mut about: Vec<AboutLine> = echo
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| AboutLine::plain(name.clone(), value.clone()))
        .collect();
    about.push(AboutLine {
        name: "data_as_of".into(),
        value: data_as_of.into(),
        kind: ColumnKind::DateTime,
    });
    for column in &columns {
        if let Some(total) = table.totals.get(&column.key) {
            about.push(AboutLine {
                name: format!("total.{}", column.key),
                value: total.clone(),
                kind: column.kind,
            });
        }
    }
    let mut book = XlsxBook::new("KPIs", columns)?;
    for row in &table.rows {
        book.push(row)?;
    }
    let bytes = tokio::task::spawn_blocking(move || book.finish(&about))
        .await
        .map_err(AppError::internal)??;
    Ok(FileBody::whole(format, bytes, stem))
}

/// The rows of `table` as JSON objects keyed by column.
fn row_objects(table: &Table) -> Vec<Value> {
    table
        .rows
        .iter()
        .map(|row| {
            Value::Object(
                table
                    .columns
                    .iter()
                    .map(|c| c.key.clone())
                    .zip(row.iter().cloned())
                    .collect(),
            )
        })
        .collect()
}

async fn answer(
    state: &SharedState,
    principal: &Principal,
    request: &QueryRequest,
    headers: &HeaderMap,
) -> AppResult<Conditional<TableResponse>> {
    let format = negotiate(
        request.format.as_deref(),
        headers,
        &[Format::Json, Format::Csv, Format::Xlsx],
    )?;
    let form = request.form();
    let now = state.clock.now();
    let started = std::time::Instant::now();
    let work = async {
        let snapshot = state.cache.get(&state.databases, principal.tenant_id).await?;
        let query = parse(&form, &snapshot, now, state.config.max_range_days).map_err(AppError::invalid_fields)?;
        let cells = crate::query::run::estimated_cells(&query, &snapshot, now);
        let limit = state.config.query_max_cells;
        if cells > limit {
            return Err(AppError::invalid_fields(vec![FieldError::new(
                "grain",
                format!(
                    "the answer would have about {cells} rows, over the limit of {limit}: \
                     use a coarser grain, fewer dimensions or a shorter range"
                ),
            )]));
        }
        let pool = state.databases.tenant(principal.tenant_id).await?;
        let current = crate::query::run::run(&pool, &snapshot, &query, now).await?;
        let earlier = match query.compare {
            Some(compare) => {
                let range = compare.earlier(&query.range, snapshot.timezone).ok_or_else(|| {
                    AppError::invalid_fields(vec![FieldError::new("compare", "the earlier range cannot be formed")])
                })?;
                let earlier_query = crate::query::model::KpiQuery { range, ..query.clone() };
                Some(crate::query::run::run(&pool, &snapshot, &earlier_query, now).await?)
            }
            None => None,
        };
        // JSON only: CSV and XLSX hold the rows, which a pivot sums itself.
        let subtotals = match query.subtotal_query().filter(|_| format == Format::Json) {
            Some(sub) => {
                let answer = crate::query::run::run(&pool, &snapshot, &sub, now).await?;
                Some((sub, answer))
            }
            None => None,
        };
        Ok((snapshot, query, current, earlier, subtotals))
    };
    let (snapshot, query, current, earlier, subtotals) =
        crate::query_log::timed(state, principal, "query", &form, work).await?;
    let laid_out = table(&query, &snapshot, &current, earlier.as_ref());
    let tz = snapshot.timezone;
    let echo = json!({
        "line_ids": query.lines,
        "start_date": crate::analytics::time::format_instant(query.range.start, tz),
        "end_date": crate::analytics::time::format_instant(query.range.end, tz),
        "preset": query.preset.map(|p| p.as_str()),
        "grain": query.grain.map(|g| g.as_str()),
        "dimensions": query.dimensions.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
        "measures": query.measures.iter().map(|m| m.key()).collect::<Vec<_>>(),
        "product_ids": query.product_ids,
        "shift_ids": query.shift_ids,
        "downtime_threshold": query.threshold.map(|t| t.micros() as f64 / 1e6),
        "compare": query.compare.map(|c| c.as_str()),
    });
    let data_as_of = crate::analytics::time::format_instant(current.data_as_of.map_or(now, |w| w.min(now)), tz);
    // The compared range lies before the asked one: the asked range decides.
    let is_settled = settled(query.range.end, current.data_as_of.map(|w| w.min(now)));
    let content = || {
        json!({
            "query": echo,
            "columns": laid_out.columns,
            "rows": laid_out.rows,
            "totals": laid_out.totals,
            "data_as_of": data_as_of,
            "warnings": current.warnings,
            "planned_stops_reduce_planned_time": snapshot.planned_stops_reduce_planned_time,
        })
    };
    let tag = match Precondition::check(is_settled, content, format.name(), headers) {
        Precondition::Held(tag) => return Ok(Conditional::NotModified { tag }),
        Precondition::Write(tag) => tag,
    };
    let answer = |answer: TableResponse| Conditional::Fresh { answer, tag };
    if format != Format::Json {
        let stem = format!(
            "camet-query-{}",
            crate::analytics::time::to_local(query.range.start, tz).format("%Y%m%d")
        );
        return Ok(answer(Formatted::File(
            file_of(format, &laid_out, &echo, &data_as_of, &stem).await?,
        )));
    }
    let subtotal_rows = subtotals.map(|(sub, answer)| row_objects(&table(&sub, &snapshot, &answer, None)));
    Ok(answer(Formatted::Json(json!({
        "query": echo,
        "columns": laid_out.columns,
        "rows": row_objects(&laid_out),
        "subtotals": subtotal_rows,
        "totals": laid_out.totals,
        "meta": {
            "data_as_of": data_as_of,
            "row_count": laid_out.rows.len(),
            "warnings": current.warnings,
            "planned_stops_reduce_planned_time": snapshot.planned_stops_reduce_planned_time,
            "elapsed_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        },
    }))))
}

/// The KPI query.
pub struct QueryApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Kpi")]
impl QueryApi {
    /// KPIs of many lines at once, grouped by line, shift and product, over
    /// time (`grain`), optionally compared with an earlier range; JSON, CSV or XLSX.
    ///
    /// Each row's figures follow `docs/semantics.md` §9: a cell's planned set
    /// is its line's P inside the cell, its downtime the line's events clipped
    /// to it, its ratios derived from its summed parts (never averaged).
    /// `totals` is the ungrouped query over the same lines and filters.
    #[oai(path = "/metrics/query", method = "post")]
    async fn query(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        headers: &HeaderMap,
        body: Json<QueryRequest>,
    ) -> Result<Conditional<TableResponse>, ApiError> {
        Ok(answer(&state, &caller, &body.0, headers).await?)
    }

    /// The same query as a GET (lists comma-separated), for spreadsheets
    /// ("from web") and BI tools that can only GET.
    #[oai(path = "/metrics/query", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn query_get(
        &self,
        state: Data<&SharedState>,
        caller: Caller<ReadData>,
        headers: &HeaderMap,
        /// Lines (comma-separated ids); omitted: every active line.
        line_ids: Query<Option<String>>,
        /// Range start, inclusive.
        #[oai(validator(max_length = 64))]
        start_date: Query<Option<String>>,
        /// Range end, exclusive.
        #[oai(validator(max_length = 64))]
        end_date: Query<Option<String>>,
        /// A named range instead of the dates.
        #[oai(validator(max_length = 32))]
        preset: Query<Option<String>>,
        /// `shift`, `1hour`, `1day`, `1week` or `1month`.
        #[oai(validator(max_length = 16))]
        grain: Query<Option<String>>,
        /// Comma-separated: `line`, `shift`, `product`.
        #[oai(validator(max_length = 64))]
        dimensions: Query<Option<String>>,
        /// Comma-separated OEE fields; omitted: all.
        #[oai(validator(max_length = 400))]
        measures: Query<Option<String>>,
        /// Comma-separated product ids.
        product_ids: Query<Option<String>>,
        /// Not supported (422).
        area_ids: Query<Option<String>>,
        /// Comma-separated shift ids.
        shift_ids: Query<Option<String>>,
        /// Seconds.
        downtime_threshold: Query<Option<f64>>,
        /// `previous_period` or `previous_year`.
        #[oai(validator(max_length = 32))]
        compare: Query<Option<String>>,
        /// `json`, `csv` or `xlsx`; or ask by `Accept`.
        #[oai(validator(max_length = 8))]
        format: Query<Option<String>>,
    ) -> Result<Conditional<TableResponse>, ApiError> {
        let ids = |field: &str, raw: &Option<String>| -> AppResult<Option<Vec<i32>>> {
            raw.is_some().then(|| id_list(field, raw.as_deref())).transpose()
        };
        let names = |raw: &Option<String>| {
            raw.as_deref().map(|s| {
                s.split(',')
                    .map(|n| n.trim().to_owned())
                    .filter(|n| !n.is_empty())
                    .collect()
            })
        };
        let request = QueryRequest {
            line_ids: ids("line_ids", &line_ids.0)?,
            start_date: start_date.0,
            end_date: end_date.0,
            preset: preset.0,
            grain: grain.0,
            dimensions: names(&dimensions.0),
            measures: names(&measures.0),
            product_ids: ids("product_ids", &product_ids.0)?,
            area_ids: ids("area_ids", &area_ids.0)?,
            shift_ids: ids("shift_ids", &shift_ids.0)?,
            downtime_threshold: downtime_threshold.0,
            compare: compare.0,
            format: format.0,
        };
        Ok(answer(&state, &caller, &request, headers).await?)
    }
}
