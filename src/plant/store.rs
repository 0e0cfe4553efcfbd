//! Writes of plant configuration, each query written once for both backends.

use chrono::NaiveDateTime;
use diesel_async::RunQueryDsl;

use crate::db::dialect::DialectConn;
use crate::db::schema::tenant::{area, filter, product, production_line, shift};
use crate::db::{DbConn, line_tables};
use crate::error::{AppError, AppResult};
use crate::plant::models::{NewArea, NewFilter, NewLine, NewProduct, NewShift};
use crate::write_tx;

/// Inserts a row with `insert` and returns its generated id, in one transaction.
macro_rules! insert_returning_id {
    ($conn:expr, $table:expr, $row:expr) => {{
        let id = write_tx!($conn, |c| {
            diesel::insert_into($table).values($row).execute(c).await?;
            Ok::<_, AppError>(c.last_insert_id().await?)
        })?;
        i32::try_from(id).map_err(AppError::internal)
    }};
}

/// Inserts a line row only (no per-line tables); returns its id.
pub async fn insert_line_row(conn: &mut DbConn, line: &NewLine) -> AppResult<i32> {
    insert_returning_id!(conn, production_line::table, line)
}

/// Creates a line and its detection/downtime tables, with partitions laid out
/// around `now`. If the tables cannot be created the line row is removed
/// again, so no line exists without storage.
pub async fn create_line(conn: &mut DbConn, line: &NewLine, now: NaiveDateTime) -> AppResult<i32> {
    let line_id = insert_line_row(conn, line).await?;
    if let Err(error) = line_tables::create_line_tables(conn, line_id, now).await {
        let _ = crate::with_conn!(&mut *conn, |c| {
            use diesel::QueryDsl;
            diesel::delete(production_line::table.find(line_id)).execute(c).await
        });
        return Err(error);
    }
    Ok(line_id)
}

/// Inserts an area; returns its id.
pub async fn insert_area(conn: &mut DbConn, row: &NewArea) -> AppResult<i32> {
    insert_returning_id!(conn, area::table, row)
}

/// Inserts a product; returns its id.
pub async fn insert_product(conn: &mut DbConn, row: &NewProduct) -> AppResult<i32> {
    insert_returning_id!(conn, product::table, row)
}

/// Inserts a shift; returns its id.
pub async fn insert_shift(conn: &mut DbConn, row: &NewShift) -> AppResult<i32> {
    insert_returning_id!(conn, shift::table, row)
}

/// Inserts a filter; returns its id.
pub async fn insert_filter(conn: &mut DbConn, row: &NewFilter) -> AppResult<i32> {
    insert_returning_id!(conn, filter::table, row)
}
