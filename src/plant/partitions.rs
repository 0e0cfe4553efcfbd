//! Monthly partitions of the per-line detection tables (MySQL/MariaDB): keep
//! the next months ready ahead of time and, only when a retention is
//! configured, drop the oldest. Only one server instance maintains a tenant
//! at a time (a named database lock). SQLite tables are not partitioned;
//! there maintenance is a no-op and listings say so.

use chrono::{Datelike, NaiveDate};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use serde::Serialize;

use crate::db::line_tables::{day_table, detection_table, gap_table, hour_table, minute_table, month_start_after};
use crate::db::{DbConn, DbPool};
use crate::error::{AppError, AppResult};
use crate::plant::PlantContext;

/// One partition of a detection table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, poem_openapi::Object)]
pub struct PartitionInfo {
    /// Partition name (`pYYYYMM` or `pmax`).
    pub name: String,
    /// Upper bound (exclusive): a date, or `MAXVALUE`.
    pub less_than: String,
    /// Approximate row count (from the engine's statistics).
    pub approx_rows: i64,
}

/// The partitions of one line's detection table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, poem_openapi::Object)]
pub struct LinePartitions {
    /// Line.
    pub line_id: i32,
    /// Table name.
    pub table: String,
    /// False on SQLite (or a table created without partitions).
    pub partitioned: bool,
    /// Partitions in order.
    pub partitions: Vec<PartitionInfo>,
}

/// What one maintenance run changed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq, poem_openapi::Object)]
pub struct MaintenanceReport {
    /// Tenant.
    pub tenant_id: i32,
    /// `table.partition` created.
    pub created: Vec<String>,
    /// `table.partition` dropped (only with a retention configured).
    pub dropped: Vec<String>,
    /// False when another instance held the lock (nothing was done).
    pub ran: bool,
}

#[derive(QueryableByName)]
struct PartitionRow {
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    less_than: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    approx_rows: Option<i64>,
}

#[derive(QueryableByName)]
struct LockRow {
    #[diesel(sql_type = Nullable<BigInt>)]
    acquired: Option<i64>,
}

async fn mysql_partitions(conn: &mut diesel_async::AsyncMysqlConnection, table: &str) -> AppResult<Vec<PartitionInfo>> {
    let rows: Vec<PartitionRow> = diesel::sql_query(
        "SELECT CAST(PARTITION_NAME AS CHAR) AS name, CAST(PARTITION_DESCRIPTION AS CHAR) AS less_than, \
         CAST(TABLE_ROWS AS SIGNED) AS approx_rows FROM information_schema.PARTITIONS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY PARTITION_ORDINAL_POSITION",
    )
    .bind::<Text, _>(table)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            Some(PartitionInfo {
                name: r.name?,
                less_than: r.less_than.unwrap_or_default().trim_matches('\'').to_owned(),
                approx_rows: r.approx_rows.unwrap_or(0),
            })
        })
        .collect())
}

/// Every line's detection partitions.
pub async fn list(state: &PlantContext<'_>, tenant_id: i32) -> AppResult<Vec<LinePartitions>> {
    let snapshot = state.cache.get(state.databases, tenant_id).await?;
    let pool = state.databases.tenant(tenant_id).await?;
    let mut conn = pool.get().await?;
    let mut out = Vec::new();
    for line_id in snapshot.lines.keys() {
        let table = detection_table(*line_id)?;
        let partitions = match &mut conn {
            DbConn::Mysql(c) => mysql_partitions(c, &table).await?,
            DbConn::Sqlite(_) => Vec::new(),
        };
        out.push(LinePartitions {
            line_id: *line_id,
            table,
            partitioned: !partitions.is_empty(),
            partitions,
        });
    }
    Ok(out)
}

fn partition_name(month: NaiveDate) -> String {
    format!("p{:04}{:02}", month.year(), month.month())
}

/// What maintenance should do to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPlan {
    /// Months to split off `pmax`, in order: name and exclusive upper bound.
    pub add: Vec<(String, NaiveDate)>,
    /// Partitions to drop (retention).
    pub drop: Vec<String>,
}

/// What maintenance should do to one table's partitions. Pure, so the rules
/// are tested without a database.
pub fn plan(
    existing: &[PartitionInfo],
    today: NaiveDate,
    months_ahead: u32,
    retention_months: Option<u32>,
) -> AppResult<PartitionPlan> {
    let bounds: Vec<NaiveDate> = existing
        .iter()
        .filter_map(|p| NaiveDate::parse_from_str(&p.less_than, "%Y-%m-%d").ok())
        .collect();
    let highest = bounds.iter().max().copied();
    let mut add = Vec::new();
    for offset in 0..=months_ahead as i32 {
        let (Some(start), Some(end)) = (month_start_after(today, offset), month_start_after(today, offset + 1)) else {
            return Err(AppError::internal("month arithmetic out of range"));
        };
        // Only months beyond the last bounded partition can be split off pmax.
        if highest.is_none_or(|h| end > h) && !existing.iter().any(|p| p.name == partition_name(start)) {
            add.push((partition_name(start), end));
        }
    }
    let mut drop = Vec::new();
    if let Some(keep) = retention_months {
        let cutoff = month_start_after(today, -(keep as i32))
            .ok_or_else(|| AppError::internal("month arithmetic out of range"))?;
        for p in existing {
            if let Ok(bound) = NaiveDate::parse_from_str(&p.less_than, "%Y-%m-%d")
                && bound <= cutoff
            {
                drop.push(p.name.clone());
            }
        }
    }
    Ok(PartitionPlan { add, drop })
}

/// Maintains one tenant's detection partitions, under a database lock.
pub async fn maintain_tenant(
    state: &PlantContext<'_>,
    tenant_id: i32,
    today: NaiveDate,
) -> AppResult<MaintenanceReport> {
    let mut report = MaintenanceReport {
        tenant_id,
        ..MaintenanceReport::default()
    };
    let pool = state.databases.tenant(tenant_id).await?;
    let DbPool::Mysql(_) = &pool else {
        report.ran = true;
        return Ok(report);
    };
    let snapshot = state.cache.get(state.databases, tenant_id).await?;
    let mut conn = pool.get().await?;
    let DbConn::Mysql(c) = &mut conn else {
        return Ok(report);
    };
    let c: &mut diesel_async::AsyncMysqlConnection = c;
    // GET_LOCK is per connection and per server: the name includes the database.
    let lock: LockRow =
        diesel::sql_query("SELECT CAST(GET_LOCK(CONCAT('camet_partitions_', DATABASE()), 0) AS SIGNED) AS acquired")
            .get_result(c)
            .await?;
    if lock.acquired != Some(1) {
        tracing::info!(tenant_id, "partition maintenance already running on another instance");
        return Ok(report);
    }
    let result = async {
        for line_id in snapshot.lines.keys() {
            let table = detection_table(*line_id)?;
            let existing = mysql_partitions(c, &table).await?;
            if existing.is_empty() {
                continue;
            }
            let PartitionPlan { add, drop } =
                plan(&existing, today, state.config.partition_months_ahead, state.config.partition_retention_months)?;
            for (name, end) in add {
                let ddl = format!(
                    "ALTER TABLE {table} REORGANIZE PARTITION pmax INTO (PARTITION {name} VALUES LESS THAN ('{}'), PARTITION pmax VALUES LESS THAN (MAXVALUE))",
                    end.format("%Y-%m-%d")
                );
                c.batch_execute(&ddl).await?;
                report.created.push(format!("{table}.{name}"));
            }
            let mut dropped_before: Option<String> = None;
            for name in drop {
                c.batch_execute(&format!("ALTER TABLE {table} DROP PARTITION {name}")).await?;
                report.dropped.push(format!("{table}.{name}"));
                if let Some(bound) = existing.iter().find(|p| p.name == name).map(|p| p.less_than.clone()) {
                    dropped_before = dropped_before.max(Some(bound));
                }
            }
            // Rollups must not keep counting detections that retention
            // removed, nor gaps keep opening at them.
            if let Some(bound) = dropped_before {
                let day = NaiveDate::parse_from_str(&bound, "%Y-%m-%d").map_err(AppError::internal)?;
                let cutoff = day.and_time(chrono::NaiveTime::MIN);
                for (rollup, column) in [
                    (minute_table(*line_id)?, "minute_start"),
                    (hour_table(*line_id)?, "hour_start"),
                    (day_table(*line_id)?, "day_start"),
                    (gap_table(*line_id)?, "gap_start"),
                ] {
                    diesel::sql_query(format!("DELETE FROM {rollup} WHERE {column} < ?"))
                        .bind::<diesel::sql_types::Timestamp, _>(cutoff)
                        .execute(c)
                        .await?;
                }
            }
        }
        Ok::<_, AppError>(())
    }
    .await;
    let released =
        diesel::sql_query("SELECT CAST(RELEASE_LOCK(CONCAT('camet_partitions_', DATABASE())) AS SIGNED) AS acquired")
            .get_result::<LockRow>(c)
            .await;
    if let Err(e) = released {
        tracing::warn!(tenant_id, error = %e, "could not release the partition lock; it ends with the connection");
    }
    result?;
    report.ran = true;
    if !report.created.is_empty() || !report.dropped.is_empty() {
        tracing::info!(tenant_id, created = ?report.created, dropped = ?report.dropped, "detection partitions maintained");
    }
    Ok(report)
}

/// Maintains every tenant (the job and `camet partitions maintain`).
pub async fn maintain_all(state: &PlantContext<'_>) -> AppResult<Vec<MaintenanceReport>> {
    let today = state.clock.now().date_naive();
    let mut reports = Vec::new();
    for tenant_id in crate::tenants::all_ids(state.databases).await? {
        reports.push(maintain_tenant(state, tenant_id, today).await?);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn part(name: &str, less_than: &str) -> PartitionInfo {
        PartitionInfo {
            name: name.into(),
            less_than: less_than.into(),
            approx_rows: 0,
        }
    }

    #[test]
    fn adds_only_the_missing_months_after_the_last_bound() {
        let existing = [
            part("p202611", "2026-12-01"),
            part("p202612", "2027-01-01"),
            part("pmax", "MAXVALUE"),
        ];
        let PartitionPlan { add, drop } = plan(&existing, day(2026, 12, 15), 3, None).expect("plan");
        let names: Vec<&str> = add.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["p202701", "p202702", "p202703"]);
        assert_eq!(add[2].1, day(2027, 4, 1));
        assert!(drop.is_empty(), "nothing is dropped without a retention");
    }

    #[test]
    fn retention_drops_only_partitions_wholly_older_than_the_cutoff() {
        let existing = [
            part("p202601", "2026-02-01"),
            part("p202602", "2026-03-01"),
            part("p202603", "2026-04-01"),
            part("pmax", "MAXVALUE"),
        ];
        let drop = plan(&existing, day(2026, 6, 10), 1, Some(3)).expect("plan").drop;
        assert_eq!(drop, ["p202601", "p202602"]);
    }

    #[test]
    fn an_up_to_date_table_needs_nothing() {
        let existing = [
            part("p202612", "2027-01-01"),
            part("p202701", "2027-02-01"),
            part("pmax", "MAXVALUE"),
        ];
        let PartitionPlan { add, drop } = plan(&existing, day(2026, 12, 1), 1, None).expect("plan");
        assert!(add.is_empty() && drop.is_empty());
    }
}
