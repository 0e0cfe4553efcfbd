//! The metadata cache (the original design's `MetadataCache`): per tenant, all
//! lines, areas, products, shifts (with their breaks), calendar entries,
//! filters and downtime reasons in memory, so configuration
//! reads, filter options and the enrichment of detections never touch the
//! database.
//!
//! A snapshot is immutable and tagged with the tenant's `config_version`.
//! Every write through the API bumps that version in its own transaction and
//! reloads the snapshot before responding; other server instances poll the
//! version every few seconds and reload when it moved.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::{AsyncConnection, RunQueryDsl};
use tokio::sync::RwLock;

use crate::analytics::shifts::{CalendarEntry, Schedule, ShiftBreak, ShiftRule, parse_days};
use crate::db::schema::tenant::{
    area, calendar_entry, config_version, downtime_reason, filter, plant_settings, product, production_line, shift,
};
use crate::db::{Databases, DbPool};
use crate::error::AppResult;
use crate::plant::models::{AreaRow, CalendarRow, FilterRow, LineRow, ProductRow, ShiftRow, stored_breaks};
use crate::with_conn;

/// A tenant's whole plant configuration at one version.
#[derive(Debug, Clone, Default)]
pub struct PlantSnapshot {
    /// The `config_version` it was read at.
    pub version: i64,
    /// The tenant's IANA time zone (from the global tenant row), so hot
    /// paths (ingest, KPIs) never query the global database for it.
    pub timezone: chrono_tz::Tz,
    /// Lines by id (inactive ones too; callers filter).
    pub lines: BTreeMap<i32, LineRow>,
    /// Areas by id.
    pub areas: BTreeMap<i32, AreaRow>,
    /// Products by id.
    pub products: BTreeMap<i32, ProductRow>,
    /// Shifts by id.
    pub shifts: BTreeMap<i32, ShiftRow>,
    /// Filters by id.
    pub filters: BTreeMap<i32, FilterRow>,
    /// Downtime reasons by id (the tree: a few dozen rows).
    pub reasons: BTreeMap<i32, crate::reasons::ReasonRow>,
    /// The tenant's language (`es` or `en`, from the global tenant row):
    /// it picks a reason's `name`.
    pub language: &'static str,
    /// Calendar entries (holidays, shutdowns) by id.
    pub calendar: BTreeMap<i32, CalendarRow>,
    /// The tenant's rule (semantics §10): stops whose reason has the loss
    /// class `planned` leave the planned time (true, the default) or stay
    /// downtime (false).
    pub planned_stops_reduce_planned_time: bool,
    /// When it was loaded.
    pub loaded_at: Option<DateTime<Utc>>,
}

impl PlantSnapshot {
    /// The areas of `line_id`, by `area_order`.
    pub fn areas_of_line(&self, line_id: i32) -> Vec<&AreaRow> {
        let mut areas: Vec<&AreaRow> = self.areas.values().filter(|a| a.line_id == line_id).collect();
        areas.sort_by_key(|a| (a.area_order, a.area_id));
        areas
    }

    /// The input and output areas of a line (semantics §3), from its active areas.
    pub fn line_areas(
        &self,
        line_id: i32,
    ) -> Result<crate::analytics::areas::LineAreas, crate::analytics::error::AnalyticsError> {
        use crate::analytics::areas::{AreaRef, AreaType, select_areas};
        let refs: Vec<AreaRef> = self
            .areas_of_line(line_id)
            .into_iter()
            .filter(|a| a.is_active)
            .map(|a| AreaRef {
                area_id: a.area_id,
                area_type: AreaType::parse(&a.area_type),
                area_order: a.area_order,
            })
            .collect();
        select_areas(line_id, &refs)
    }

    /// A product's production counted `n` times, with its ideal rate, as
    /// the OEE engine takes it (an unknown id keeps a readable name).
    pub fn product_count(&self, product_id: i32, n: u64) -> crate::analytics::oee::ProductCount {
        let product = self.products.get(&product_id);
        crate::analytics::oee::ProductCount {
            product_id,
            product_name: product
                .map(|p| p.product_name.clone())
                .unwrap_or_else(|| format!("product {product_id}")),
            input_count: n,
            production_std: product.and_then(|p| p.production_std).map(|d| d.0),
        }
    }

    /// Σ units × product weight, kg, 2 decimals (a product without a
    /// weight weighs nothing).
    pub fn weight_of(&self, counts: impl IntoIterator<Item = (i32, u64)>) -> rust_decimal::Decimal {
        crate::analytics::oee::total_weight(counts.into_iter().map(|(id, n)| {
            let weight = self
                .products
                .get(&id)
                .and_then(|p| p.product_weight)
                .map(|w| w.0)
                .unwrap_or(rust_decimal::Decimal::ZERO);
            (n, weight)
        }))
    }

    /// The shifts (with their breaks) and the calendar as the analytics
    /// engine takes them: everything that decides planned time, so every
    /// computation of P reads the same. A shift or entry whose stored JSON
    /// cannot be read is skipped (and logged): validation on write makes
    /// that impossible through the API.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            shifts: self.shift_rules(),
            calendar: self
                .calendar
                .values()
                .filter_map(|e| match e.lines() {
                    Some(line_ids) => Some(CalendarEntry {
                        entry_id: e.entry_id,
                        start_date: e.start_date,
                        end_date: e.end_date,
                        line_ids,
                    }),
                    None => {
                        tracing::warn!(entry_id = e.entry_id, "calendar entry with unreadable line_ids skipped");
                        None
                    }
                })
                .collect(),
            reason_stops: Default::default(),
        }
    }

    /// The shifts as rules for the analytics engine (see [`Self::schedule`]).
    pub fn shift_rules(&self) -> Vec<ShiftRule> {
        self.shifts
            .values()
            .filter_map(|s| {
                let rule = (|| {
                    let names: Vec<String> = serde_json::from_str(&s.days_implemented).ok()?;
                    let days = parse_days(names.iter().map(String::as_str)).ok()?;
                    let line_ids: Option<Vec<i32>> = match &s.line_ids {
                        None => None,
                        Some(text) => serde_json::from_str(text).ok()?,
                    };
                    Some(ShiftRule {
                        shift_id: s.shift_id,
                        start_time: s.start_time,
                        end_time: s.end_time,
                        is_overnight: s.is_overnight,
                        days,
                        active: s.shift_status,
                        line_ids,
                        breaks: stored_breaks(&s.breaks)
                            .into_iter()
                            .map(|b| ShiftBreak {
                                start_time: b.start_time,
                                end_time: b.end_time,
                            })
                            .collect(),
                    })
                })();
                if rule.is_none() {
                    tracing::warn!(shift_id = s.shift_id, "shift with unreadable days or lines skipped");
                }
                rule
            })
            .collect()
    }
}

/// Snapshots of every tenant seen so far.
#[derive(Default)]
pub struct MetadataCache {
    snapshots: RwLock<HashMap<i32, Arc<PlantSnapshot>>>,
}

async fn read_version(pool: &DbPool) -> AppResult<i64> {
    let mut conn = pool.get().await?;
    Ok(with_conn!(&mut conn, |c| config_version::table
        .select(config_version::version)
        .filter(config_version::id.eq(1))
        .first::<i64>(c)
        .await)?)
}

/// Reads a consistent snapshot (one read transaction).
async fn load(pool: &DbPool) -> AppResult<PlantSnapshot> {
    let mut conn = pool.get().await?;
    let snapshot = with_conn!(&mut conn, |c| c
        .transaction(async |c| {
            let version = config_version::table
                .select(config_version::version)
                .filter(config_version::id.eq(1))
                .first::<i64>(c)
                .await?;
            let lines = production_line::table.select(LineRow::as_select()).load(c).await?;
            let areas = area::table.select(AreaRow::as_select()).load(c).await?;
            let products = product::table.select(ProductRow::as_select()).load(c).await?;
            let shifts = shift::table.select(ShiftRow::as_select()).load(c).await?;
            let filters = filter::table.select(FilterRow::as_select()).load(c).await?;
            let reasons = downtime_reason::table
                .select(crate::reasons::ReasonRow::as_select())
                .load(c)
                .await?;
            let calendar = calendar_entry::table.select(CalendarRow::as_select()).load(c).await?;
            let planned_stops_reduce_planned_time = plant_settings::table
                .select(plant_settings::planned_stops_reduce_planned_time)
                .filter(plant_settings::id.eq(1))
                .first::<bool>(c)
                .await
                .optional()?
                .unwrap_or(true);
            Ok::<_, diesel::result::Error>(PlantSnapshot {
                version,
                timezone: chrono_tz::Tz::UTC,
                lines: lines.into_iter().map(|r| (r.line_id, r)).collect(),
                areas: areas.into_iter().map(|r| (r.area_id, r)).collect(),
                products: products.into_iter().map(|r| (r.product_id, r)).collect(),
                shifts: shifts.into_iter().map(|r| (r.shift_id, r)).collect(),
                filters: filters.into_iter().map(|r| (r.filter_id, r)).collect(),
                reasons: reasons.into_iter().map(|r| (r.reason_id, r)).collect(),
                language: "es",
                calendar: calendar.into_iter().map(|r| (r.entry_id, r)).collect(),
                planned_stops_reduce_planned_time,
                loaded_at: Some(crate::clock::now_utc()),
            })
        })
        .await)?;
    Ok(snapshot)
}

impl MetadataCache {
    /// The tenant's snapshot, loading it on first use.
    pub async fn get(&self, databases: &Databases, tenant_id: i32) -> AppResult<Arc<PlantSnapshot>> {
        if let Some(snapshot) = self.snapshots.read().await.get(&tenant_id) {
            return Ok(snapshot.clone());
        }
        self.reload(databases, tenant_id).await
    }

    /// Reloads the tenant's snapshot now (after a write, or when its version moved).
    pub async fn reload(&self, databases: &Databases, tenant_id: i32) -> AppResult<Arc<PlantSnapshot>> {
        let pool = databases.tenant(tenant_id).await?;
        let mut snapshot = load(&pool).await?;
        let tenant = crate::tenants::find(databases, tenant_id)
            .await?
            .ok_or_else(|| crate::error::AppError::NotFound(format!("tenant {tenant_id} not found")))?;
        snapshot.timezone = tenant.tz();
        snapshot.language = tenant.language();
        let fresh = Arc::new(snapshot);
        let mut snapshots = self.snapshots.write().await;
        // Two reloads may race; never replace a newer snapshot with an older one.
        match snapshots.get(&tenant_id) {
            Some(current) if current.version > fresh.version => Ok(current.clone()),
            _ => {
                snapshots.insert(tenant_id, fresh.clone());
                Ok(fresh)
            }
        }
    }

    /// Compares each cached tenant's version with the database and reloads
    /// the ones that changed (writes made by other server instances).
    /// Returns how many were reloaded.
    pub async fn refresh_changed(&self, databases: &Databases) -> AppResult<usize> {
        let cached: Vec<(i32, i64)> = self
            .snapshots
            .read()
            .await
            .iter()
            .map(|(id, s)| (*id, s.version))
            .collect();
        let mut reloaded = 0;
        for (tenant_id, version) in cached {
            let pool = databases.tenant(tenant_id).await?;
            if read_version(&pool).await? != version {
                self.reload(databases, tenant_id).await?;
                reloaded += 1;
            }
        }
        Ok(reloaded)
    }

    /// Number of tenants cached (readiness reports it).
    pub async fn tenants_loaded(&self) -> usize {
        self.snapshots.read().await.len()
    }
}
