//! Files of the downtime list and of detection exports: their columns and
//! rows, and how a detection export is sent — CSV streamed page by page
//! (bounded memory, any length), XLSX built page by page up to
//! `CAMET_EXPORT_XLSX_MAX_ROWS`. Both hold one of the tenant's export slots
//! until the answer is sent or its client has gone.
//!
//! Once a streamed CSV has started, its status and headers are sent: an
//! error after that cannot become a problem+json. The stream then ends
//! with an error, so the connection is closed without the final chunk and
//! the client sees an incomplete transfer rather than a short file that
//! looks whole; the cause is logged with the request id.

use std::time::Duration;

use futures::{Stream, StreamExt};
use poem::Body;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::principal::Principal;
use crate::detections::{Detection, DetectionQuery};
use crate::error::{AppError, AppResult};
use crate::http::export_slots::ExportSlot;
use crate::http::formats::{
    AboutLine, ColumnKind, ColumnSpec, FileBody, Format, XlsxBook, csv_file, csv_header, csv_rows,
};
use crate::http::kpi_views::{DowntimeResponse, KpiFilters};

/// The columns of a downtime file: one row per event.
fn downtime_columns() -> Vec<ColumnSpec> {
    vec![
        ColumnSpec::new("line_id", ColumnKind::Integer),
        ColumnSpec::new("start", ColumnKind::DateTime),
        ColumnSpec::new("end", ColumnKind::DateTime),
        ColumnSpec::new("duration_seconds", ColumnKind::Number),
        ColumnSpec::new("ongoing", ColumnKind::Boolean),
    ]
}

/// The downtime events as a CSV or XLSX file; XLSX's "Query" sheet holds
/// the request, the threshold used, the count and total and `data_as_of`.
pub async fn downtime_file(format: Format, answer: &DowntimeResponse, filters: &KpiFilters) -> AppResult<FileBody> {
    let rows: Vec<Vec<Value>> = answer
        .events
        .iter()
        .map(|e| {
            vec![
                json!(answer.line_id),
                json!(e.start),
                json!(e.end),
                json!(e.duration_seconds),
                json!(e.ongoing),
            ]
        })
        .collect();
    let stem = format!("camet-downtime-line{}", answer.line_id);
    if format == Format::Csv {
        return Ok(FileBody::whole(format, csv_file(&downtime_columns(), &rows)?, &stem));
    }
    let about = vec![
        AboutLine::plain("line_id", json!(filters.line_id)),
        AboutLine::plain("start_date", json!(filters.start_date)),
        AboutLine::plain("end_date", json!(filters.end_date)),
        AboutLine::plain("shift_id", json!(filters.shift_id)),
        AboutLine::plain("downtime_threshold", json!(answer.downtime_threshold)),
        AboutLine::plain("downtime_count", json!(answer.downtime_count)),
        AboutLine::plain("total_downtime_seconds", json!(answer.total_downtime_seconds)),
        AboutLine {
            name: "data_as_of".into(),
            value: json!(answer.data_as_of),
            kind: ColumnKind::DateTime,
        },
    ];
    let mut book = XlsxBook::new("Downtime", downtime_columns())?;
    for row in &rows {
        book.push(row)?;
    }
    let bytes = finish(book, about).await?;
    Ok(FileBody::whole(format, bytes, &stem))
}

/// Compresses the workbook on a blocking thread: a large sheet takes a while.
async fn finish(book: XlsxBook, about: Vec<AboutLine>) -> AppResult<Vec<u8>> {
    tokio::task::spawn_blocking(move || book.finish(&about))
        .await
        .map_err(AppError::internal)?
}

/// The columns of a detection export: the fields of the JSON listing.
fn detection_columns() -> Vec<ColumnSpec> {
    vec![
        ColumnSpec::new("detection_id", ColumnKind::Integer),
        ColumnSpec::new("line_id", ColumnKind::Integer),
        ColumnSpec::new("detected_at", ColumnKind::DateTime),
        ColumnSpec::new("area_id", ColumnKind::Integer),
        ColumnSpec::new("area_name", ColumnKind::Text),
        ColumnSpec::new("product_id", ColumnKind::Integer),
        ColumnSpec::new("product_name", ColumnKind::Text),
        ColumnSpec::new("external_id", ColumnKind::Text),
    ]
}

/// A detection's cells, its instant in `tz` as `GET /data/detections` writes it.
fn detection_row(d: &Detection, tz: chrono_tz::Tz) -> Vec<Value> {
    vec![
        json!(d.detection_id),
        json!(d.line_id),
        json!(crate::analytics::time::format_instant(d.detected_at, tz)),
        json!(d.area_id),
        json!(d.area_name),
        json!(d.product_id),
        json!(d.product_name),
        json!(d.external_id),
    ]
}

/// Exports the detections `query` names as `format` (CSV or XLSX), holding
/// `slot` while it reads: for CSV until the stream ends or is dropped, for
/// XLSX until the workbook is built.
pub async fn detections(
    state: &AppState,
    principal: &Principal,
    query: &DetectionQuery,
    format: Format,
    slot: ExportSlot,
) -> AppResult<FileBody> {
    let snapshot = state.cache.get(&state.databases, principal.tenant_id).await?;
    let now = state.clock.now();
    let tz = snapshot.timezone;
    let plan = crate::detections::export::plan(snapshot, query, now, state.config.max_range_days)?;
    let pool = state.databases.tenant(principal.tenant_id).await?;
    let page_rows = state.config.export_page_rows;
    // A page is one statement: give it what one request may take.
    let page_deadline = Duration::from_secs(state.config.request_timeout_secs);
    let day = |at: &str| at.chars().filter(char::is_ascii_digit).take(8).collect::<String>();
    let stem = format!(
        "camet-detections-line{}-{}-{}",
        query.line_id,
        day(&query.start_date),
        day(&query.end_date)
    );
    if format == Format::Csv {
        let pages = plan.pages(pool, page_rows, page_deadline);
        return Ok(FileBody {
            body: csv_stream(pages, tz, slot)?,
            content_type: crate::http::formats::CSV_TYPE,
            filename: format!("{stem}.csv"),
        });
    }
    let cap = state.config.export_xlsx_max_rows;
    let too_many = |n: String| {
        AppError::invalid_field(
            "format",
            format!(
                "{n} detections are more than an XLSX export holds ({cap}, CAMET_EXPORT_XLSX_MAX_ROWS); \
                 use format=csv, which streams any number, or a shorter range"
            ),
        )
    };
    let total = plan.count(&pool).await?;
    if total > i64::from(cap) {
        return Err(too_many(total.to_string()));
    }
    let about = vec![
        AboutLine::plain("line_id", json!(query.line_id)),
        AboutLine::plain("start_date", json!(query.start_date)),
        AboutLine::plain("end_date", json!(query.end_date)),
        AboutLine::plain("product_ids", json!(query.product_ids)),
        AboutLine::plain("area_ids", json!(query.area_ids)),
        AboutLine::plain("shift_id", json!(query.shift_id)),
        AboutLine {
            name: "exported_at".into(),
            value: json!(crate::analytics::time::format_instant(now, tz)),
            kind: ColumnKind::DateTime,
        },
    ];
    let mut book = XlsxBook::new("Detections", detection_columns())?;
    let mut pages = std::pin::pin!(plan.pages(pool, page_rows, page_deadline));
    while let Some(page) = pages.next().await {
        for detection in page? {
            // Rows ingested while the export reads may pass the cap counted above.
            if book.row_count() >= cap {
                return Err(too_many(format!("more than {cap}")));
            }
            book.push(&detection_row(&detection, tz))?;
        }
    }
    let bytes = finish(book, about).await?;
    drop(slot);
    Ok(FileBody::whole(format, bytes, &stem))
}

/// The CSV body of an export: the header row, then one chunk per page.
fn csv_stream(
    pages: impl Stream<Item = AppResult<Vec<Detection>>> + Send + 'static,
    tz: chrono_tz::Tz,
    slot: ExportSlot,
) -> AppResult<Body> {
    let header = csv_header(&detection_columns())?;
    let request_id = crate::http::problem::current_request_id().unwrap_or_default();
    let rows = pages.map(move |page| {
        // The slot lives as long as this stream: freed when the body is sent or dropped.
        let _held = &slot;
        page.and_then(|detections| {
            let rows: Vec<Vec<Value>> = detections.iter().map(|d| detection_row(d, tz)).collect();
            csv_rows(rows.iter().map(Vec::as_slice))
        })
        .map_err(|error| {
            tracing::warn!(request_id = %request_id, %error, "detection export ended before its last row");
            std::io::Error::other("the export ended early")
        })
    });
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(header) }).chain(rows);
    Ok(Body::from_bytes_stream(stream))
}
