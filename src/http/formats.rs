//! Answer formats of the tabular endpoints (`/metrics/query`, `/downtime`,
//! `/data/detections/export`): which format a request asks for (`format=`
//! wins over `Accept`), the response type that carries JSON or a file with
//! its `Content-Disposition` name, and the two file writers: RFC 4180 CSV
//! and XLSX with typed cells. Handlers build rows of JSON values with typed
//! columns; nothing here knows KPIs or detections.

use chrono::DateTime;
use poem::http::{HeaderMap, StatusCode, header};
use poem::{Body, IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use rust_xlsxwriter::{Format as CellFormat, Workbook, Worksheet, XlsxError};
use serde_json::Value;

use crate::error::{AppError, AppResult};

/// `Content-Type` of CSV answers.
pub const CSV_TYPE: &str = "text/csv; charset=utf-8";
/// `Content-Type` of XLSX answers.
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// Rows of an Excel worksheet, the header row included.
pub const EXCEL_MAX_ROWS: u32 = 1_048_576;

/// How an answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `text/csv`: RFC 4180, UTF-8, a header row.
    Csv,
    /// An Excel workbook.
    Xlsx,
}

impl Format {
    /// The name `format=` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
        }
    }

    fn from_name(name: &str) -> Option<Format> {
        [Format::Json, Format::Csv, Format::Xlsx]
            .into_iter()
            .find(|f| f.name() == name)
    }

    fn from_media_type(media: &str) -> Option<Format> {
        match media {
            "application/json" => Some(Format::Json),
            "text/csv" => Some(Format::Csv),
            XLSX_TYPE => Some(Format::Xlsx),
            _ => None,
        }
    }
}

/// The format a request asks for among `offered` (the first is the
/// default). `format=` wins over `Accept`; a `format` that is unknown or
/// not offered here is a 422 naming `format`. `Accept` is read with its
/// `q` weights; when it names none of the offered types (or only `*/*`),
/// the default is sent rather than a 406, as browsers and BI tools send
/// broad `Accept` headers.
pub fn negotiate(requested: Option<&str>, headers: &HeaderMap, offered: &[Format]) -> AppResult<Format> {
    let default = offered.first().copied().unwrap_or(Format::Json);
    let names = || offered.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ");
    match requested.map(str::trim).map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => {}
        Some(name) => {
            return match Format::from_name(name) {
                Some(format) if offered.contains(&format) => Ok(format),
                Some(format) => Err(AppError::invalid_field(
                    "format",
                    format!("{} is not offered here; one of {}", format.name(), names()),
                )),
                None => Err(AppError::invalid_field(
                    "format",
                    format!("unknown format {name:?}; one of {}", names()),
                )),
            };
        }
    }
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let mut best: Option<(f32, Format)> = None;
    for entry in accept.split(',') {
        let mut parts = entry.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let format = Format::from_media_type(&media).filter(|f| offered.contains(f));
        if let Some(format) = format
            && q > 0.0
            && best.is_none_or(|(best_q, _)| q > best_q)
        {
            best = Some((q, format));
        }
    }
    Ok(best.map_or(default, |(_, format)| format))
}

/// What a column holds, which decides its cells in a spreadsheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Whole numbers.
    Integer,
    /// Decimal numbers.
    Number,
    /// Percentages as 0-100 numbers (XLSX: the fraction, formatted `0.00%`).
    Percent,
    /// Text.
    Text,
    /// An RFC 3339 instant with the tenant's offset (XLSX: its local reading
    /// as an Excel date-time, as the zone is the tenant's).
    DateTime,
    /// true or false.
    Boolean,
}

impl ColumnKind {
    /// The kind a table column names (`integer`, `number`, `percent`,
    /// `datetime`, `boolean`; anything else is text).
    pub fn from_name(name: &str) -> ColumnKind {
        match name {
            "integer" => ColumnKind::Integer,
            "number" => ColumnKind::Number,
            "percent" => ColumnKind::Percent,
            "datetime" => ColumnKind::DateTime,
            "boolean" => ColumnKind::Boolean,
            _ => ColumnKind::Text,
        }
    }
}

/// A column of a file answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSpec {
    /// Its key: the header cell, the same as the JSON key.
    pub key: String,
    /// What its cells hold.
    pub kind: ColumnKind,
}

impl ColumnSpec {
    /// A column named `key` holding `kind`.
    pub fn new(key: impl Into<String>, kind: ColumnKind) -> Self {
        Self { key: key.into(), kind }
    }
}

/// The text of one CSV cell: JSON strings as they are, numbers and
/// booleans as JSON writes them, null empty.
fn csv_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// The CSV header row (the column keys), CRLF-terminated.
pub fn csv_header(columns: &[ColumnSpec]) -> AppResult<Vec<u8>> {
    let mut writer = csv_writer();
    writer
        .write_record(columns.iter().map(|c| c.key.as_str()))
        .map_err(AppError::internal)?;
    writer.into_inner().map_err(AppError::internal)
}

/// CSV records of `rows`, each CRLF-terminated: a chunk a stream can send
/// after the header.
pub fn csv_rows<'a>(rows: impl IntoIterator<Item = &'a [Value]>) -> AppResult<Vec<u8>> {
    let mut writer = csv_writer();
    for row in rows {
        writer
            .write_record(row.iter().map(csv_cell))
            .map_err(AppError::internal)?;
    }
    writer.into_inner().map_err(AppError::internal)
}

/// A whole CSV file: the header row, then the rows.
pub fn csv_file(columns: &[ColumnSpec], rows: &[Vec<Value>]) -> AppResult<Vec<u8>> {
    let mut bytes = csv_header(columns)?;
    bytes.extend(csv_rows(rows.iter().map(Vec::as_slice))?);
    Ok(bytes)
}

fn xlsx_error(error: XlsxError) -> AppError {
    AppError::internal(format!("writing a workbook: {error}"))
}

/// One line of the second sheet: a name, a value and how to show it.
#[derive(Debug, Clone)]
pub struct AboutLine {
    /// What the value is (`start_date`, `row_count`, `total.oee`).
    pub name: String,
    /// The value: text, number, boolean, null (blank); lists and objects as JSON text.
    pub value: Value,
    /// How to show it (percent, date-time or as it comes).
    pub kind: ColumnKind,
}

impl AboutLine {
    /// A line shown as its value comes.
    pub fn plain(name: impl Into<String>, value: Value) -> Self {
        Self {
            name: name.into(),
            value,
            kind: ColumnKind::Text,
        }
    }
}

/// The cell formats of a workbook.
struct CellFormats {
    header: CellFormat,
    percent: CellFormat,
    datetime: CellFormat,
}

/// An XLSX answer being written: a data sheet of typed cells under a bold,
/// frozen header row, then a sheet "Query" saying what was asked. The data
/// sheet is in constant-memory mode (rows go to a temporary file as they
/// are written), so memory stays bounded by a row however long the sheet.
pub struct XlsxBook {
    workbook: Workbook,
    columns: Vec<ColumnSpec>,
    formats: CellFormats,
    next_row: u32,
}

impl XlsxBook {
    /// A workbook whose first sheet, `sheet`, has these columns.
    pub fn new(sheet: &str, columns: Vec<ColumnSpec>) -> AppResult<Self> {
        let formats = CellFormats {
            header: CellFormat::new().set_bold(),
            percent: CellFormat::new().set_num_format("0.00%"),
            datetime: CellFormat::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
        };
        let mut workbook = Workbook::new();
        let worksheet = workbook.add_worksheet_with_constant_memory().map_err(xlsx_error)?;
        worksheet.set_name(sheet).map_err(xlsx_error)?;
        for (col, column) in (0u16..).zip(&columns) {
            let width: f64 = match column.kind {
                ColumnKind::DateTime => 20.0,
                ColumnKind::Text => 18.0,
                _ => 12.0,
            };
            worksheet
                .set_column_width(col, width.max(column.key.len() as f64 + 2.0))
                .map_err(xlsx_error)?;
            worksheet
                .write_string_with_format(0, col, &column.key, &formats.header)
                .map_err(xlsx_error)?;
        }
        worksheet.set_freeze_panes(1, 0).map_err(xlsx_error)?;
        Ok(Self {
            workbook,
            columns,
            formats,
            next_row: 1,
        })
    }

    /// Data rows written so far.
    pub fn row_count(&self) -> u32 {
        self.next_row - 1
    }

    /// Appends a row: one value per column, in column order.
    pub fn push(&mut self, row: &[Value]) -> AppResult<()> {
        if self.next_row >= EXCEL_MAX_ROWS {
            return Err(AppError::invalid_field(
                "format",
                format!(
                    "more than {} rows do not fit in an Excel sheet; use format=csv",
                    EXCEL_MAX_ROWS - 1
                ),
            ));
        }
        let worksheet = self.workbook.worksheet_from_index(0).map_err(xlsx_error)?;
        for (col, (column, value)) in (0u16..).zip(self.columns.iter().zip(row)) {
            write_cell(worksheet, &self.formats, self.next_row, col, column.kind, value)?;
        }
        self.next_row += 1;
        Ok(())
    }

    /// Adds the sheet "Query" (`about`, then the data row count) and
    /// returns the file. Compressing a large sheet takes a while: callers
    /// on the async runtime run this on a blocking thread.
    pub fn finish(mut self, about: &[AboutLine]) -> AppResult<Vec<u8>> {
        let rows = self.row_count();
        let formats = &self.formats;
        let worksheet = self.workbook.add_worksheet();
        worksheet.set_name("Query").map_err(xlsx_error)?;
        worksheet.set_column_width(0, 28).map_err(xlsx_error)?;
        worksheet.set_column_width(1, 40).map_err(xlsx_error)?;
        worksheet
            .write_string_with_format(0, 0, "field", &formats.header)
            .map_err(xlsx_error)?;
        worksheet
            .write_string_with_format(0, 1, "value", &formats.header)
            .map_err(xlsx_error)?;
        let count = AboutLine {
            name: "row_count".into(),
            value: rows.into(),
            kind: ColumnKind::Integer,
        };
        for (row, line) in (1u32..).zip(about.iter().chain([&count])) {
            worksheet.write_string(row, 0, &line.name).map_err(xlsx_error)?;
            let value = match &line.value {
                list @ (Value::Array(_) | Value::Object(_)) => Value::String(list.to_string()),
                other => other.clone(),
            };
            write_cell(worksheet, formats, row, 1, line.kind, &value)?;
        }
        worksheet.set_freeze_panes(1, 0).map_err(xlsx_error)?;
        self.workbook.save_to_buffer().map_err(xlsx_error)
    }
}

/// Writes `value` as a cell of `kind`: numbers as numbers, percentages as
/// their fraction, instants as local Excel date-times, null as a blank.
/// A value that does not fit its column's kind is written as what it is.
fn write_cell(
    worksheet: &mut Worksheet,
    formats: &CellFormats,
    row: u32,
    col: u16,
    kind: ColumnKind,
    value: &Value,
) -> AppResult<()> {
    let written = match (kind, value) {
        (_, Value::Null) => return Ok(()),
        (ColumnKind::Percent, Value::Number(n)) => {
            worksheet.write_number_with_format(row, col, n.as_f64().unwrap_or(f64::NAN) / 100.0, &formats.percent)
        }
        (ColumnKind::DateTime, Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(instant) => worksheet.write_datetime_with_format(row, col, instant.naive_local(), &formats.datetime),
            Err(_) => worksheet.write_string(row, col, s),
        },
        (_, Value::Number(n)) => worksheet.write_number(row, col, n.as_f64().unwrap_or(f64::NAN)),
        (_, Value::Bool(b)) => worksheet.write_boolean(row, col, *b),
        (_, Value::String(s)) => worksheet.write_string(row, col, s),
        (_, other) => worksheet.write_string(row, col, other.to_string()),
    };
    written.map(|_| ()).map_err(xlsx_error)
}

/// The `Content-Disposition` of a file answer.
fn attachment(filename: &str) -> String {
    format!("attachment; filename=\"{filename}\"")
}

/// A file answer: its body, type and name.
pub struct FileBody {
    /// The bytes (whole, or a stream).
    pub body: Body,
    /// `CSV_TYPE` or `XLSX_TYPE`.
    pub content_type: &'static str,
    /// The name offered to save it under (ASCII, no quotes).
    pub filename: String,
}

impl FileBody {
    /// A whole file of `format` (CSV or XLSX) named `<stem>.<format>`.
    pub fn whole(format: Format, bytes: Vec<u8>, stem: &str) -> Self {
        Self {
            body: Body::from(bytes),
            content_type: if format == Format::Xlsx { XLSX_TYPE } else { CSV_TYPE },
            filename: format!("{stem}.{}", format.name()),
        }
    }
}

impl IntoResponse for FileBody {
    fn into_response(self) -> Response {
        Response::builder()
            .status(StatusCode::OK)
            .content_type(self.content_type)
            .header(header::CONTENT_DISPOSITION, attachment(&self.filename))
            .body(self.body)
    }
}

fn file_media_types() -> Vec<MetaMediaType> {
    vec![
        MetaMediaType {
            content_type: CSV_TYPE,
            schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new("string"))),
        },
        MetaMediaType {
            content_type: XLSX_TYPE,
            schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary"))),
        },
    ]
}

fn disposition_header() -> poem_openapi::registry::MetaHeader {
    poem_openapi::registry::MetaHeader {
        name: "Content-Disposition".into(),
        description: Some("`attachment; filename=\"…\"` on CSV and XLSX answers.".into()),
        required: false,
        deprecated: false,
        schema: String::schema_ref(),
    }
}

/// An answer as JSON (`T`), or as a CSV or XLSX file.
pub enum Formatted<T> {
    /// The JSON answer.
    Json(T),
    /// A CSV or XLSX file.
    File(FileBody),
}

impl<T: ToJSON + Send> IntoResponse for Formatted<T> {
    fn into_response(self) -> Response {
        match self {
            Formatted::Json(value) => Json(value).into_response(),
            Formatted::File(file) => file.into_response(),
        }
    }
}

impl<T: ToJSON + Send> ApiResponse for Formatted<T> {
    fn meta() -> MetaResponses {
        let mut content = vec![MetaMediaType {
            content_type: "application/json; charset=utf-8",
            schema: T::schema_ref(),
        }];
        content.extend(file_media_types());
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The answer as JSON (the default), or its rows as CSV or XLSX (`format=` or `Accept`).",
                status: Some(200),
                status_range: None,
                content,
                headers: vec![disposition_header()],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// A CSV or XLSX file only (an export).
pub struct FileAnswer(pub FileBody);

impl IntoResponse for FileAnswer {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl ApiResponse for FileAnswer {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The rows as CSV (streamed) or XLSX, as an attachment.",
                status: Some(200),
                status_range: None,
                content: file_media_types(),
                headers: vec![disposition_header()],
            }],
        }
    }

    fn register(_registry: &mut Registry) {}
}

#[cfg(test)]
mod tests {
    use poem::http::HeaderValue;
    use serde_json::json;

    use super::*;

    const ALL: [Format; 3] = [Format::Json, Format::Csv, Format::Xlsx];

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).expect("header"));
        headers
    }

    #[test]
    fn format_wins_over_accept_and_accept_is_read_with_its_weights() {
        let none = HeaderMap::new();
        assert_eq!(negotiate(None, &none, &ALL).ok(), Some(Format::Json));
        assert_eq!(
            negotiate(Some(" XLSX "), &accept("text/csv"), &ALL).ok(),
            Some(Format::Xlsx)
        );
        assert_eq!(negotiate(None, &accept("text/csv"), &ALL).ok(), Some(Format::Csv));
        assert_eq!(negotiate(None, &accept(XLSX_TYPE), &ALL).ok(), Some(Format::Xlsx));
        assert_eq!(
            negotiate(None, &accept("text/csv;q=0.5, application/json"), &ALL).ok(),
            Some(Format::Json)
        );
        assert_eq!(
            negotiate(None, &accept("text/csv;q=0, */*"), &ALL).ok(),
            Some(Format::Json)
        );
        // Nothing offered in Accept: the operation's default, not a 406.
        assert_eq!(
            negotiate(None, &accept("image/png"), &[Format::Csv, Format::Xlsx]).ok(),
            Some(Format::Csv)
        );
    }

    #[test]
    fn an_unknown_or_unoffered_format_is_a_422_naming_format() {
        for bad in ["pdf", "json"] {
            let error = negotiate(Some(bad), &HeaderMap::new(), &[Format::Csv, Format::Xlsx]).expect_err(bad);
            assert_eq!(error.status(), 422);
            match error {
                AppError::Validation { errors, .. } => assert_eq!(errors[0].field, "format"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn csv_quotes_as_rfc_4180_says_and_leaves_null_empty() {
        let columns = [
            ColumnSpec::new("name", ColumnKind::Text),
            ColumnSpec::new("n", ColumnKind::Integer),
            ColumnSpec::new("ok", ColumnKind::Boolean),
        ];
        let rows = vec![
            vec![json!("Línea \"A\", 1"), json!(3), json!(true)],
            vec![Value::Null, json!(2.5), json!(false)],
        ];
        let text = String::from_utf8(csv_file(&columns, &rows).expect("csv")).expect("utf-8");
        assert_eq!(text, "name,n,ok\r\n\"Línea \"\"A\"\", 1\",3,true\r\n,2.5,false\r\n");
    }

    #[test]
    fn xlsx_cells_are_typed_and_the_query_sheet_follows() {
        use calamine::{Data, Reader, Xlsx};
        let columns = vec![
            ColumnSpec::new("line_name", ColumnKind::Text),
            ColumnSpec::new("bucket_start", ColumnKind::DateTime),
            ColumnSpec::new("good_units", ColumnKind::Integer),
            ColumnSpec::new("oee", ColumnKind::Percent),
            ColumnSpec::new("ongoing", ColumnKind::Boolean),
        ];
        let mut book = XlsxBook::new("KPIs", columns).expect("book");
        book.push(&[
            json!("Línea 1"),
            json!("2026-11-16T08:30:00+01:00"),
            json!(42),
            json!(87.5),
            json!(true),
        ])
        .expect("row");
        book.push(&[Value::Null, Value::Null, json!(0), Value::Null, json!(false)])
            .expect("row");
        let bytes = book
            .finish(&[
                AboutLine::plain("grain", json!("1day")),
                AboutLine::plain("line_ids", json!([1, 2])),
            ])
            .expect("file");
        let mut workbook: Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).expect("xlsx");
        assert_eq!(workbook.sheet_names(), ["KPIs", "Query"]);
        let data = workbook.worksheet_range("KPIs").expect("data sheet");
        assert_eq!(data.get((0, 3)), Some(&Data::String("oee".into())));
        assert_eq!(data.get((1, 0)), Some(&Data::String("Línea 1".into())));
        // 2026-11-16 08:30 local: days since 1899-12-30.
        match data.get((1, 1)) {
            Some(Data::DateTime(at)) => assert!((at.as_f64() - (46_342.0 + 8.5 / 24.0)).abs() < 1e-9, "{at:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(data.get((1, 2)), Some(&Data::Float(42.0)));
        assert_eq!(data.get((1, 3)), Some(&Data::Float(0.875)));
        assert_eq!(data.get((1, 4)), Some(&Data::Bool(true)));
        assert!(matches!(data.get((2, 0)), None | Some(Data::Empty)));
        let about = workbook.worksheet_range("Query").expect("query sheet");
        assert_eq!(about.get((1, 1)), Some(&Data::String("1day".into())));
        assert_eq!(about.get((2, 1)), Some(&Data::String("[1,2]".into())));
        assert_eq!(about.get((3, 0)), Some(&Data::String("row_count".into())));
        assert_eq!(about.get((3, 1)), Some(&Data::Float(2.0)));
    }
}
