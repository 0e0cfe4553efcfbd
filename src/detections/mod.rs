//! Detections: ingest (validated against the line's areas and the tenant's
//! products, all-or-nothing, idempotent on `external_id`) and keyset-paginated
//! listing enriched from the metadata cache (an application-side join, as
//! the original design has it). Rows that another system writes straight
//! into a line's table are read like any other.
//!
//! Functions take the tenant's snapshot, its database pool and config
//! values; the request and answer shapes, the ingest metrics and the audit
//! forwarding are the HTTP layer's (`http::data_api`,
//! `http::data_views`).

pub mod export;
pub mod generate;
pub mod store;

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::analytics::gaps::GapFloor;
use crate::analytics::interval::Interval;
use crate::analytics::time::{parse_instant, parse_range};
use crate::auth::principal::Principal;
use crate::db::DbPool;
use crate::db::line_tables::DetectionRow;
use crate::error::{AppError, AppResult, FieldError};
use crate::plant::cache::PlantSnapshot;
use crate::plant::models::LineRow;

/// Most items one ingest request may carry.
pub const MAX_BATCH: usize = 10_000;
/// The instants a batch's `detected_at` may take, relative to the server clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestWindow {
    /// How far back a detection may lie (`CAMET_INGEST_HORIZON_DAYS`).
    pub horizon_days: u32,
    /// How far ahead a detection may lie: sensor clocks drift a little (`CAMET_INGEST_MAX_FUTURE_SECS`).
    pub max_future_secs: u32,
}

/// What ingest takes from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestSettings {
    /// The instants a detection may take.
    pub window: IngestWindow,
    /// The floor of the gaps stored with each batch (`CAMET_GAP_FLOOR_SECS`).
    pub gap_floor: GapFloor,
}

impl IngestSettings {
    /// The settings of `config`.
    pub fn from_config(config: &crate::config::Config) -> Self {
        IngestSettings {
            window: IngestWindow {
                horizon_days: config.ingest_horizon_days,
                max_future_secs: config.ingest_max_future_secs,
            },
            gap_floor: config.gap_floor(),
        }
    }
}

/// Field errors reported at most in one 422.
const MAX_REPORTED_ERRORS: usize = 100;

/// One detection as sent by a sensor pipeline, not yet validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDetection {
    /// When the unit was seen: RFC 3339; without an offset it is local time in the tenant's zone.
    pub detected_at: String,
    /// Area of this line that saw it.
    pub area_id: i32,
    /// Product recognised.
    pub product_id: i32,
    /// The sender's id of this event; a repeated one is not counted twice.
    pub external_id: Option<String>,
}

/// What an ingest did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// Items received.
    pub received: usize,
    /// Items stored.
    pub inserted: usize,
    /// Items skipped because their `external_id` was already stored.
    pub duplicates: usize,
    /// The items stored, per UTC minute and area.
    pub per_minute: Vec<store::MinuteCount>,
}

/// The line, if it belongs to the caller's tenant.
pub fn line_of(snapshot: &PlantSnapshot, line_id: i32) -> AppResult<&LineRow> {
    snapshot
        .lines
        .get(&line_id)
        .ok_or_else(|| AppError::NotFound(format!("line {line_id} not found")))
}

/// Validates every item; returns the rows or one 422 naming each failing index.
pub fn validate_batch(
    snapshot: &PlantSnapshot,
    line_id: i32,
    tz: Tz,
    items: &[NewDetection],
    now: DateTime<Utc>,
    window: IngestWindow,
) -> AppResult<Vec<DetectionRow>> {
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(AppError::invalid_field(
            "items",
            format!("a batch holds 1 to {MAX_BATCH} detections, got {}", items.len()),
        ));
    }
    let latest = now + chrono::Duration::seconds(i64::from(window.max_future_secs));
    let earliest = now - chrono::Duration::days(i64::from(window.horizon_days));
    let mut errors = Vec::new();
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut fail = |field: &str, message: String| {
            if errors.len() < MAX_REPORTED_ERRORS {
                errors.push(FieldError::new(format!("[{i}].{field}"), message));
            }
        };
        let at = match parse_instant(&item.detected_at, tz, "detected_at") {
            Ok(at) if at > latest => {
                fail(
                    "detected_at",
                    format!(
                        "lies in the future ({} s beyond the server clock)",
                        (at - now).num_seconds()
                    ),
                );
                None
            }
            Ok(at) if at < earliest => {
                fail(
                    "detected_at",
                    format!(
                        "lies more than {} days in the past (before {})",
                        window.horizon_days,
                        earliest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                );
                None
            }
            Ok(at) => Some(at),
            Err(e) => {
                fail("detected_at", e.to_string());
                None
            }
        };
        match snapshot.areas.get(&item.area_id) {
            Some(area) if area.line_id == line_id && area.is_active => {}
            Some(area) if area.line_id == line_id => fail("area_id", format!("area {} is deleted", item.area_id)),
            _ => fail(
                "area_id",
                format!("area {} is not an area of line {line_id}", item.area_id),
            ),
        }
        match snapshot.products.get(&item.product_id) {
            Some(product) if product.is_active => {}
            Some(_) => fail("product_id", format!("product {} is deleted", item.product_id)),
            None => fail("product_id", format!("product {} does not exist", item.product_id)),
        }
        let external_id = item.external_id.as_deref().map(str::trim).filter(|s| !s.is_empty());
        if external_id.is_some_and(|s| s.chars().any(char::is_control)) {
            fail("external_id", "must not contain control characters".into());
        }
        if let Some(at) = at {
            rows.push(DetectionRow {
                detected_at: at.naive_utc(),
                area_id: item.area_id,
                product_id: item.product_id,
                external_id: external_id.map(str::to_owned),
            });
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(AppError::invalid_fields(errors))
    }
}

/// Retries of a batch whose keys another writer stored first: enough for
/// several writers sharing `external_id`s.
const MAX_CONFLICT_RETRIES: u32 = 7;
/// Retries of a batch that lost a lock (deadlock victim or lock timeout).
/// Writers sharing keys on MariaDB choose each other as deadlock victims,
/// which costs no waiting; with one retry, two losses in a row (seen under a
/// loaded test run) answered 503 to a batch that did nothing wrong.
const MAX_CONTENTION_RETRIES: u32 = 3;

/// Ingests a batch into a line of `principal`'s tenant (`snapshot`, `pool`):
/// everything or nothing. The connection is taken only once the batch is
/// valid, and given back before this returns; the audit entry waits in the
/// tenant's outbox for the caller to forward.
#[allow(clippy::too_many_arguments)]
pub async fn ingest(
    pool: &DbPool,
    snapshot: &PlantSnapshot,
    principal: &Principal,
    client: &crate::audit::ClientInfo,
    line_id: i32,
    items: &[NewDetection],
    now: DateTime<Utc>,
    settings: IngestSettings,
) -> AppResult<Ingested> {
    let line = line_of(snapshot, line_id)?;
    if !line.is_active {
        return Err(AppError::invalid_field("line_id", format!("line {line_id} is deleted")));
    }
    let tz = snapshot.timezone;
    let rows = validate_batch(snapshot, line_id, tz, items, now, settings.window)?;
    let mut conn = pool.get().await?;
    let audit = crate::audit::AuditEntry::new(
        "detections.ingest",
        Some(principal.tenant_id),
        principal.user_id,
        client,
    )
    .entity("line", line_id);
    let (mut conflicts, mut contentions) = (0, 0);
    let stored = loop {
        match store::store_batch(&mut conn, line_id, &rows, now.naive_utc(), settings.gap_floor, &audit).await {
            // Another request stored one of our keys between our check and our
            // insert: the transaction rolled back as a whole, so trying again is
            // safe, and each retry sees more of the others' keys as stored. With
            // several writers sharing keys a retry can collide again, so allow a
            // few; a collision costs no waiting.
            Err(AppError::Conflict(_)) if conflicts < MAX_CONFLICT_RETRIES => conflicts += 1,
            // Another writer or a rollup rebuild chose us as a deadlock victim,
            // or made us wait past the statement timeout: a few more times,
            // after a short random pause so the same writers do not collide
            // again in step; no more, because an attempt may cost a whole
            // timeout and the client wants a 503 soon.
            Err(error) if contentions < MAX_CONTENTION_RETRIES && error.is_lock_contention() => {
                contentions += 1;
                let pause = rand::random_range(5..=25 * u64::from(contentions));
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            }
            other => break other?,
        }
    };
    Ok(Ingested {
        received: items.len(),
        inserted: stored.inserted,
        duplicates: stored.duplicates,
        per_minute: stored.per_minute,
    })
}

/// A detection enriched with names from the metadata cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// Id (unique per line).
    pub detection_id: i64,
    /// Line.
    pub line_id: i32,
    /// When.
    pub detected_at: DateTime<Utc>,
    /// Area.
    pub area_id: i32,
    /// Area name (from the cache).
    pub area_name: Option<String>,
    /// Product.
    pub product_id: i32,
    /// Product name (from the cache).
    pub product_name: Option<String>,
    /// The sender's id, if any.
    pub external_id: Option<String>,
}

/// A page of detections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Rows in (detected_at, detection_id) order.
    pub items: Vec<Detection>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
    /// Rows matching the filters in all.
    pub total: i64,
}

/// What a detections query asks for.
#[derive(Debug, Clone)]
pub struct DetectionQuery {
    /// Line.
    pub line_id: i32,
    /// Range start (RFC 3339 or local).
    pub start_date: String,
    /// Range end.
    pub end_date: String,
    /// Only these products.
    pub product_ids: Vec<i32>,
    /// Only these areas.
    pub area_ids: Vec<i32>,
    /// Only inside this shift's occurrences.
    pub shift_id: Option<i32>,
    /// Page size.
    pub limit: i64,
    /// Opaque position from the previous page.
    pub cursor: Option<String>,
}

fn encode_cursor(at: NaiveDateTime, id: i64) -> String {
    format!("{}_{id}", at.and_utc().timestamp_micros())
}

fn decode_cursor(cursor: &str) -> AppResult<(NaiveDateTime, i64)> {
    let bad = || AppError::invalid_field("cursor", "is not a cursor returned by this endpoint");
    let (micros, id) = cursor.split_once('_').ok_or_else(bad)?;
    let micros: i64 = micros.parse().map_err(|_| bad())?;
    let id: i64 = id.parse().map_err(|_| bad())?;
    let at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    Ok((at.naive_utc(), id))
}

/// The intervals a query counts over: the range clipped at `now`, or with a
/// shift filter only that shift's occurrences in it.
pub fn scope(
    snapshot: &PlantSnapshot,
    line_id: i32,
    tz: Tz,
    range: &Interval,
    now: DateTime<Utc>,
    shift_id: Option<i32>,
) -> Vec<(NaiveDateTime, NaiveDateTime)> {
    store::DetectionFilter::windows(
        crate::analytics::shifts::counting_scope(&snapshot.schedule(), line_id, tz, range, now, shift_id).intervals(),
    )
}

/// A stored detection of `line_id` with its names from the snapshot.
pub fn enrich(row: store::StoredDetection, line_id: i32, snapshot: &PlantSnapshot) -> Detection {
    Detection {
        detection_id: row.detection_id,
        line_id,
        detected_at: row.detected_at.and_utc(),
        area_id: row.area_id,
        area_name: snapshot.areas.get(&row.area_id).map(|a| a.area_name.clone()),
        product_id: row.product_id,
        product_name: snapshot.products.get(&row.product_id).map(|p| p.product_name.clone()),
        external_id: row.external_id,
    }
}

/// Lists a line's detections (of the tenant of `snapshot` and `pool`) over
/// a range of at most `max_range_days`; the connection is taken once the
/// query is valid.
pub async fn list(
    pool: &DbPool,
    snapshot: &PlantSnapshot,
    query: &DetectionQuery,
    now: DateTime<Utc>,
    max_range_days: u32,
) -> AppResult<Page> {
    line_of(snapshot, query.line_id)?;
    let tz = snapshot.timezone;
    let range = parse_range(&query.start_date, &query.end_date, tz, max_range_days)?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let filter = store::DetectionFilter {
        within: scope(snapshot, query.line_id, tz, &range, now, query.shift_id),
        product_ids: query.product_ids.clone(),
        area_ids: query.area_ids.clone(),
    };
    let mut conn = pool.get().await?;
    let mut rows = store::page(&mut conn, query.line_id, &filter, after, query.limit + 1).await?;
    let total = store::count(&mut conn, query.line_id, &filter).await?;
    let next_cursor = if rows.len() as i64 > query.limit {
        rows.truncate(query.limit as usize);
        rows.last().map(|r| encode_cursor(r.detected_at, r.detection_id))
    } else {
        None
    };
    let items = rows.into_iter().map(|r| enrich(r, query.line_id, snapshot)).collect();
    Ok(Page {
        items,
        next_cursor,
        total,
    })
}
