//! SQL over the per-line detection tables, written once for both backends
//! with bound parameters (the table name comes only from the integer line id).

use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;

use crate::db::DbConn;
use crate::db::line_tables::{DetectionRow, DetectionWriter, detection_table, key_table};
use crate::error::{AppError, AppResult};
use crate::rollup::store::RollupWriter;

/// Rows per multi-row statement (bind variables stay well under both
/// backends' limits).
const CHUNK: usize = 1000;

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    external_id: String,
}

/// Outcome of storing a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stored {
    /// Rows written.
    pub inserted: usize,
    /// Rows skipped because their `external_id` was already stored.
    pub duplicates: usize,
    /// The rows written, counted per UTC minute and area, in that order.
    pub per_minute: Vec<MinuteCount>,
}

/// Rows of one area written in one UTC minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteCount {
    /// Minute start (UTC).
    pub minute: NaiveDateTime,
    /// Area.
    pub area_id: i32,
    /// Rows.
    pub n: u64,
}

fn per_minute(rows: &[&DetectionRow]) -> Vec<MinuteCount> {
    let mut counts: std::collections::BTreeMap<(NaiveDateTime, i32), u64> = std::collections::BTreeMap::new();
    for row in rows {
        let minute = crate::rollup::plan::Grain::Minute.floor_naive(row.detected_at);
        *counts.entry((minute, row.area_id)).or_insert(0) += 1;
    }
    counts
        .into_iter()
        .map(|((minute, area_id), n)| MinuteCount { minute, area_id, n })
        .collect()
}

/// Stores a validated batch and adds it to the line's rollups in one
/// transaction, so it is visible to every query once this returns: detections whose
/// `external_id` is already known for the line are skipped (a retried event
/// is not counted twice); the new keys are recorded in the same transaction.
/// A concurrent writer storing the same key makes this transaction fail on
/// the key's uniqueness instead of double counting (the caller retries).
pub async fn store_batch(
    conn: &mut DbConn,
    line_id: i32,
    rows: &[DetectionRow],
    now: NaiveDateTime,
    floor: crate::analytics::gaps::GapFloor,
    audit: &crate::audit::AuditEntry,
) -> AppResult<Stored> {
    use crate::audit::OutboxConn;
    let detections = detection_table(line_id)?;
    let keys = key_table(line_id)?;
    crate::write_tx!(conn, |c, DB| {
        // Keys go in first, optimistically: a batch of new keys (the usual
        // case) costs one INSERT per chunk and no lookup. A chunk holding a
        // stored key fails as one statement (nothing of it stays) and is
        // then split into the stored keys and the rest.
        let mut seen_in_batch = std::collections::HashSet::new();
        let wanted: Vec<&str> = rows
            .iter()
            .filter_map(|r| r.external_id.as_deref())
            .filter(|key| seen_in_batch.insert(*key))
            .collect();
        let mut known = std::collections::HashSet::new();
        for chunk in wanted.chunks(CHUNK) {
            match c.insert_detection_keys(&keys, chunk, now).await {
                Ok(_) => continue,
                Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {}
                Err(other) => return Err(other.into()),
            }
            let placeholders = vec!["?"; chunk.len()].join(", ");
            let mut query = diesel::sql_query(format!(
                "SELECT external_id FROM {keys} WHERE external_id IN ({placeholders})"
            ))
            .into_boxed::<DB>();
            for key in chunk {
                query = query.bind::<Text, _>(*key);
            }
            let stored: std::collections::HashSet<String> = query
                .load::<KeyRow>(c)
                .await?
                .into_iter()
                .map(|row| row.external_id)
                .collect();
            let rest: Vec<&str> = chunk.iter().copied().filter(|key| !stored.contains(*key)).collect();
            // A key another writer stored after our lookup fails here as a
            // Conflict: the caller retries the whole batch.
            if !rest.is_empty() {
                c.insert_detection_keys(&keys, &rest, now).await?;
            }
            known.extend(stored);
        }
        let mut first_of_key = std::collections::HashSet::new();
        let fresh: Vec<&DetectionRow> = rows
            .iter()
            .filter(|r| match r.external_id.as_deref() {
                None => true,
                Some(key) => !known.contains(key) && first_of_key.insert(key),
            })
            .collect();
        let was_empty = !fresh.is_empty() && c.line_is_empty(line_id).await?;
        c.insert_detection_rows(&detections, &fresh).await?;
        let stored = Stored {
            inserted: fresh.len(),
            duplicates: rows.len() - fresh.len(),
            per_minute: per_minute(&fresh),
        };
        let entry = audit.clone().values::<(), _>(
            None,
            Some(&serde_json::json!({"received": rows.len(), "inserted": stored.inserted, "duplicates": stored.duplicates})),
        );
        c.write_outbox(&entry).await?;
        // Raw rows, keys and audit go in beside other batches; only the
        // rollups and gaps of the line are maintained one batch at a time,
        // last, so the line is locked for as short a time as possible.
        c.lock_line(line_id).await?;
        c.add_to_rollups(line_id, &fresh, floor).await?;
        c.trust_new_line(line_id, was_empty, now, floor).await?;
        Ok::<_, AppError>(stored)
    })
}

/// A stored detection.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct StoredDetection {
    /// Id (unique per line).
    #[diesel(sql_type = BigInt)]
    pub detection_id: i64,
    /// When (UTC).
    #[diesel(sql_type = Timestamp)]
    pub detected_at: NaiveDateTime,
    /// Area.
    #[diesel(sql_type = Integer)]
    pub area_id: i32,
    /// Product.
    #[diesel(sql_type = Integer)]
    pub product_id: i32,
    /// Sender's id, if any.
    #[diesel(sql_type = Nullable<Text>)]
    pub external_id: Option<String>,
}

/// Which detections of a line a query wants.
#[derive(Debug, Clone, Default)]
pub struct DetectionFilter {
    /// Only inside these intervals (UTC, half-open, sorted, disjoint); empty means nothing.
    pub within: Vec<(NaiveDateTime, NaiveDateTime)>,
    /// Only these products (empty: all).
    pub product_ids: Vec<i32>,
    /// Only these areas (empty: all).
    pub area_ids: Vec<i32>,
}

impl DetectionFilter {
    /// The `within` form of intervals (UTC, half-open).
    pub fn windows(intervals: &[crate::analytics::interval::Interval]) -> Vec<(NaiveDateTime, NaiveDateTime)> {
        intervals
            .iter()
            .map(|iv| (iv.start.naive_utc(), iv.end.naive_utc()))
            .collect()
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The WHERE clause of a filter and the number of `?` it binds, in order:
/// each interval's two bounds, then products, then areas.
fn where_clause(filter: &DetectionFilter) -> String {
    let windows = filter
        .within
        .iter()
        .map(|_| "(detected_at >= ? AND detected_at < ?)")
        .collect::<Vec<_>>()
        .join(" OR ");
    let mut clause = format!("({windows})");
    if !filter.product_ids.is_empty() {
        clause.push_str(&format!(
            " AND product_id IN ({})",
            vec!["?"; filter.product_ids.len()].join(", ")
        ));
    }
    if !filter.area_ids.is_empty() {
        clause.push_str(&format!(
            " AND area_id IN ({})",
            vec!["?"; filter.area_ids.len()].join(", ")
        ));
    }
    clause
}

macro_rules! bind_filter {
    ($query:expr, $filter:expr) => {{
        let mut query = $query;
        for (start, end) in &$filter.within {
            query = query.bind::<Timestamp, _>(*start).bind::<Timestamp, _>(*end);
        }
        for id in &$filter.product_ids {
            query = query.bind::<Integer, _>(*id);
        }
        for id in &$filter.area_ids {
            query = query.bind::<Integer, _>(*id);
        }
        query
    }};
}

/// One page of a line's detections in (detected_at, detection_id) order,
/// after the keyset position `after`. Rows inserted later before the
/// position never shift later pages (keyset, not offset).
pub async fn page(
    conn: &mut DbConn,
    line_id: i32,
    filter: &DetectionFilter,
    after: Option<(NaiveDateTime, i64)>,
    limit: i64,
) -> AppResult<Vec<StoredDetection>> {
    if filter.within.is_empty() {
        return Ok(Vec::new());
    }
    let table = detection_table(line_id)?;
    let keyset = if after.is_some() {
        " AND (detected_at > ? OR (detected_at = ? AND detection_id > ?))"
    } else {
        ""
    };
    let sql = format!(
        "SELECT detection_id, detected_at, area_id, product_id, external_id FROM {table} WHERE {}{keyset} \
         ORDER BY detected_at, detection_id LIMIT ?",
        where_clause(filter)
    );
    let rows = crate::with_conn!(conn, |c, DB| {
        let mut query = bind_filter!(diesel::sql_query(sql.as_str()).into_boxed::<DB>(), filter);
        if let Some((at, id)) = after {
            query = query
                .bind::<Timestamp, _>(at)
                .bind::<Timestamp, _>(at)
                .bind::<BigInt, _>(id);
        }
        query.bind::<BigInt, _>(limit).load::<StoredDetection>(c).await
    })?;
    Ok(rows)
}

/// How many of a line's detections match.
pub async fn count(conn: &mut DbConn, line_id: i32, filter: &DetectionFilter) -> AppResult<i64> {
    if filter.within.is_empty() {
        return Ok(0);
    }
    let table = detection_table(line_id)?;
    let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE {}", where_clause(filter));
    let row = crate::with_conn!(conn, |c, DB| {
        bind_filter!(diesel::sql_query(sql.as_str()).into_boxed::<DB>(), filter)
            .get_result::<Count>(c)
            .await
    })?;
    Ok(row.n)
}

#[derive(QueryableByName)]
struct InstantRow {
    #[diesel(sql_type = Timestamp)]
    detected_at: NaiveDateTime,
}

#[derive(QueryableByName)]
struct ProductCountRow {
    #[diesel(sql_type = Integer)]
    product_id: i32,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Every matching instant, ascending (the raw input of gap analysis).
pub async fn instants(conn: &mut DbConn, line_id: i32, filter: &DetectionFilter) -> AppResult<Vec<NaiveDateTime>> {
    if filter.within.is_empty() {
        return Ok(Vec::new());
    }
    let table = detection_table(line_id)?;
    let sql = format!(
        "SELECT detected_at FROM {table} WHERE {} ORDER BY detected_at",
        where_clause(filter)
    );
    let rows = crate::with_conn!(conn, |c, DB| {
        bind_filter!(diesel::sql_query(sql.as_str()).into_boxed::<DB>(), filter)
            .load::<InstantRow>(c)
            .await
    })?;
    Ok(rows.into_iter().map(|r| r.detected_at).collect())
}

/// A count per area and product, as raw and rollup reads return it.
#[derive(QueryableByName)]
pub(crate) struct AreaProductCountRow {
    #[diesel(sql_type = Integer)]
    pub(crate) area_id: i32,
    #[diesel(sql_type = Integer)]
    pub(crate) product_id: i32,
    #[diesel(sql_type = BigInt)]
    pub(crate) n: i64,
}

/// Matching detections counted per area and product: `(area, product, n)`.
pub async fn counts_by_area_and_product(
    conn: &mut DbConn,
    line_id: i32,
    filter: &DetectionFilter,
) -> AppResult<Vec<(i32, i32, u64)>> {
    if filter.within.is_empty() {
        return Ok(Vec::new());
    }
    let table = detection_table(line_id)?;
    let sql = format!(
        "SELECT area_id, product_id, COUNT(*) AS n FROM {table} WHERE {} GROUP BY area_id, product_id",
        where_clause(filter)
    );
    let rows = crate::with_conn!(conn, |c, DB| {
        bind_filter!(diesel::sql_query(sql.as_str()).into_boxed::<DB>(), filter)
            .load::<AreaProductCountRow>(c)
            .await
    })?;
    Ok(rows
        .into_iter()
        .map(|r| (r.area_id, r.product_id, u64::try_from(r.n).unwrap_or(0)))
        .collect())
}

/// Matching detections counted per product.
pub async fn counts_by_product(
    conn: &mut DbConn,
    line_id: i32,
    filter: &DetectionFilter,
) -> AppResult<Vec<(i32, u64)>> {
    if filter.within.is_empty() {
        return Ok(Vec::new());
    }
    let table = detection_table(line_id)?;
    let sql = format!(
        "SELECT product_id, COUNT(*) AS n FROM {table} WHERE {} GROUP BY product_id ORDER BY product_id",
        where_clause(filter)
    );
    let rows = crate::with_conn!(conn, |c, DB| {
        bind_filter!(diesel::sql_query(sql.as_str()).into_boxed::<DB>(), filter)
            .load::<ProductCountRow>(c)
            .await
    })?;
    Ok(rows
        .into_iter()
        .map(|r| (r.product_id, u64::try_from(r.n).unwrap_or(0)))
        .collect())
}

/// Inserts detections into line `line_id`'s table and its rollups in one
/// transaction: either every row is stored or none is (demo and synthetic
/// data; API ingest adds idempotency keys and audit in `detections::store`).
pub async fn insert_detections(
    conn: &mut DbConn,
    line_id: i32,
    rows: &[DetectionRow],
    now: NaiveDateTime,
    floor: crate::analytics::gaps::GapFloor,
) -> AppResult<usize> {
    let table = crate::db::line_tables::detection_table(line_id)?;
    let refs: Vec<&DetectionRow> = rows.iter().collect();
    crate::write_tx!(conn, |c| {
        let was_empty = !refs.is_empty() && c.line_is_empty(line_id).await?;
        let inserted = c.insert_detection_rows(&table, &refs).await?;
        c.lock_line(line_id).await?;
        c.add_to_rollups(line_id, &refs, floor).await?;
        c.trust_new_line(line_id, was_empty, now, floor).await?;
        Ok::<_, AppError>(inserted)
    })
}
