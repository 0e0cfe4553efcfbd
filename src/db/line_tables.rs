//! Per-line storage, as in the original design: each production line gets
//! `detection_line_<id>` and `downtime_events_<id>`. Table names are built
//! only from the integer line id, never from client strings. On MySQL the
//! detection table is partitioned by month with a catch-all `pmax` partition.

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use diesel_async::SimpleAsyncConnection;

use crate::db::{Backend, DbConn};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Name of line `line_id`'s detection table.
pub fn detection_table(line_id: i32) -> AppResult<String> {
    positive(line_id).map(|id| format!("detection_line_{id}"))
}

/// Name of line `line_id`'s idempotency keys table (external ids already ingested).
pub fn key_table(line_id: i32) -> AppResult<String> {
    positive(line_id).map(|id| format!("detection_key_{id}"))
}

/// Name of line `line_id`'s per-(area, minute) rollup: count, first and last instant.
pub fn minute_table(line_id: i32) -> AppResult<String> {
    positive(line_id).map(|id| format!("detection_minute_{id}"))
}

/// Name of line `line_id`'s per-(area, hour, product) rollup: count.
pub fn hour_table(line_id: i32) -> AppResult<String> {
    positive(line_id).map(|id| format!("detection_hour_{id}"))
}

/// Name of line `line_id`'s per-(area, UTC day, product) rollup: count.
pub fn day_table(line_id: i32) -> AppResult<String> {
    positive(line_id).map(|id| format!("detection_day_{id}"))
}

/// Name of line `line_id`'s stored gaps: per area, the gaps longer than the
/// gap floor between consecutive detections.
pub fn gap_table(line_id: i32) -> AppResult<String> {
    positive(line_id).map(|id| format!("detection_gap_{id}"))
}

/// Name of line `line_id`'s downtime events table.
pub fn downtime_table(line_id: i32) -> AppResult<String> {
    positive(line_id).map(|id| format!("downtime_events_{id}"))
}

fn positive(line_id: i32) -> AppResult<i32> {
    if line_id > 0 {
        Ok(line_id)
    } else {
        Err(AppError::internal(format!(
            "invalid line id {line_id} for a table name"
        )))
    }
}

/// The first day of the month `months` after the month of `day`.
pub fn month_start_after(day: NaiveDate, months: i32) -> Option<NaiveDate> {
    let index = day.year() * 12 + day.month0() as i32 + months;
    NaiveDate::from_ymd_opt(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1)
}

/// MySQL partition clause: one partition per month from the month before
/// `now` to `months_ahead` months after it, plus `pmax`. Values older than the
/// first boundary land in the first partition.
fn mysql_partitions(now: NaiveDateTime, months_ahead: i32) -> AppResult<String> {
    let today = now.date();
    let mut parts = Vec::new();
    for offset in -1..=months_ahead {
        let (Some(start), Some(next)) = (month_start_after(today, offset), month_start_after(today, offset + 1)) else {
            return Err(AppError::internal("month arithmetic out of range"));
        };
        parts.push(format!(
            "PARTITION p{:04}{:02} VALUES LESS THAN ('{}')",
            start.year(),
            start.month(),
            next.format("%Y-%m-%d")
        ));
    }
    parts.push("PARTITION pmax VALUES LESS THAN (MAXVALUE)".to_owned());
    Ok(format!(
        "PARTITION BY RANGE COLUMNS(detected_at) ({})",
        parts.join(", ")
    ))
}

/// DDL creating line `line_id`'s tables, for the given backend. Idempotent.
pub fn create_statements(backend: Backend, line_id: i32, now: NaiveDateTime, months_ahead: i32) -> AppResult<String> {
    let det = detection_table(line_id)?;
    let down = downtime_table(line_id)?;
    let keys = key_table(line_id)?;
    let minutes = minute_table(line_id)?;
    let hours = hour_table(line_id)?;
    let gaps = gap_table(line_id)?;
    let days = day_table(line_id)?;
    Ok(match backend {
        Backend::Mysql => format!(
            "CREATE TABLE IF NOT EXISTS {det} (
                detection_id BIGINT NOT NULL AUTO_INCREMENT,
                detected_at DATETIME(6) NOT NULL,
                area_id INT NOT NULL,
                product_id INT NOT NULL,
                external_id VARCHAR(100) NULL,
                PRIMARY KEY (detection_id, detected_at),
                KEY idx_time_area_product (detected_at, area_id, product_id)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin {partitions};
            CREATE TABLE IF NOT EXISTS {down} (
                event_id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                start_time DATETIME(6) NOT NULL,
                end_time DATETIME(6) NOT NULL,
                duration_us BIGINT NOT NULL,
                is_ongoing BOOLEAN NOT NULL DEFAULT FALSE,
                reason_code VARCHAR(40) NULL,
                reason VARCHAR(500) NULL,
                created_at DATETIME(6) NOT NULL,
                updated_at DATETIME(6) NOT NULL,
                reason_id INT NULL,
                incident_id INT NULL,
                UNIQUE KEY uq_downtime_start (start_time),
                KEY idx_downtime_time (start_time, end_time),
                KEY idx_downtime_reason (reason_id)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
            CREATE TABLE IF NOT EXISTS {keys} (
                external_id VARCHAR(100) NOT NULL PRIMARY KEY,
                ingested_at DATETIME(6) NOT NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
            CREATE TABLE IF NOT EXISTS {minutes} (
                area_id INT NOT NULL,
                minute_start DATETIME(6) NOT NULL,
                n BIGINT NOT NULL,
                first_at DATETIME(6) NOT NULL,
                last_at DATETIME(6) NOT NULL,
                PRIMARY KEY (area_id, minute_start)
            ) ENGINE=InnoDB;
            CREATE TABLE IF NOT EXISTS {hours} (
                area_id INT NOT NULL,
                hour_start DATETIME(6) NOT NULL,
                product_id INT NOT NULL,
                n BIGINT NOT NULL,
                PRIMARY KEY (area_id, hour_start, product_id)
            ) ENGINE=InnoDB;
            CREATE TABLE IF NOT EXISTS {gaps} (
                area_id INT NOT NULL,
                gap_start DATETIME(6) NOT NULL,
                gap_end DATETIME(6) NOT NULL,
                duration_us BIGINT NOT NULL,
                length_class INT NOT NULL,
                PRIMARY KEY (area_id, gap_start),
                KEY idx_gap_class (area_id, length_class, gap_start)
            ) ENGINE=InnoDB;
            CREATE TABLE IF NOT EXISTS {days} (
                area_id INT NOT NULL,
                day_start DATETIME(6) NOT NULL,
                product_id INT NOT NULL,
                n BIGINT NOT NULL,
                PRIMARY KEY (area_id, day_start, product_id)
            ) ENGINE=InnoDB;",
            partitions = mysql_partitions(now, months_ahead)?
        ),
        Backend::Sqlite => format!(
            "CREATE TABLE IF NOT EXISTS {det} (
                detection_id INTEGER PRIMARY KEY AUTOINCREMENT,
                detected_at TIMESTAMP NOT NULL,
                area_id INTEGER NOT NULL,
                product_id INTEGER NOT NULL,
                external_id TEXT NULL
            );
            CREATE INDEX IF NOT EXISTS idx_{det}_detected_at ON {det} (detected_at);
            DROP INDEX IF EXISTS idx_{det}_area_product;
            CREATE INDEX IF NOT EXISTS idx_{det}_area_time ON {det} (area_id, detected_at, product_id);
            CREATE INDEX IF NOT EXISTS idx_{det}_time_area_product ON {det} (detected_at, area_id, product_id);
            CREATE INDEX IF NOT EXISTS idx_{det}_external_id ON {det} (external_id);
            {planner_stats}
            CREATE TABLE IF NOT EXISTS {down} (
                event_id INTEGER PRIMARY KEY AUTOINCREMENT,
                start_time TIMESTAMP NOT NULL,
                end_time TIMESTAMP NOT NULL,
                duration_us BIGINT NOT NULL,
                is_ongoing BOOLEAN NOT NULL DEFAULT 0,
                reason_code TEXT NULL,
                reason TEXT NULL,
                created_at TIMESTAMP NOT NULL,
                updated_at TIMESTAMP NOT NULL,
                reason_id INT NULL,
                incident_id INT NULL,
                CONSTRAINT uq_{down}_start UNIQUE (start_time)
            );
            CREATE INDEX IF NOT EXISTS idx_{down}_time ON {down} (start_time, end_time);
            CREATE TABLE IF NOT EXISTS {keys} (
                external_id TEXT NOT NULL PRIMARY KEY,
                ingested_at TIMESTAMP NOT NULL
            );
            CREATE TABLE IF NOT EXISTS {minutes} (
                area_id INTEGER NOT NULL,
                minute_start TIMESTAMP NOT NULL,
                n BIGINT NOT NULL,
                first_at TIMESTAMP NOT NULL,
                last_at TIMESTAMP NOT NULL,
                PRIMARY KEY (area_id, minute_start)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS {hours} (
                area_id INTEGER NOT NULL,
                hour_start TIMESTAMP NOT NULL,
                product_id INTEGER NOT NULL,
                n BIGINT NOT NULL,
                PRIMARY KEY (area_id, hour_start, product_id)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS {gaps} (
                area_id INTEGER NOT NULL,
                gap_start TIMESTAMP NOT NULL,
                gap_end TIMESTAMP NOT NULL,
                duration_us BIGINT NOT NULL,
                length_class INTEGER NOT NULL,
                PRIMARY KEY (area_id, gap_start)
            ) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS idx_{gaps}_class ON {gaps} (area_id, length_class, gap_start);
            CREATE TABLE IF NOT EXISTS {days} (
                area_id INTEGER NOT NULL,
                day_start TIMESTAMP NOT NULL,
                product_id INTEGER NOT NULL,
                n BIGINT NOT NULL,
                PRIMARY KEY (area_id, day_start, product_id)
            ) WITHOUT ROWID;",
            planner_stats = sqlite_planner_stats(&det)
        ),
    })
}

/// Fixed SQLite planner statistics for a detection table. Without them
/// SQLite prefers an equality on `area_id` (three values in a line) to a
/// range on `detected_at`, and a raw read of one area over minutes scans
/// every row the area ever had; nor does it split an OR of time windows
/// into index ranges. These rows say what every line looks like (many rows,
/// few areas, nearly unique instants), so each window is a range of
/// `(area_id, detected_at)` whatever the table holds. `ANALYZE
/// sqlite_schema` creates `sqlite_stat1` when missing and makes the
/// planner reload it.
fn sqlite_planner_stats(table: &str) -> String {
    format!(
        "ANALYZE sqlite_schema;
            DELETE FROM sqlite_stat1 WHERE tbl = '{table}';
            INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
                ('{table}', 'idx_{table}_area_time', '10000000 2500000 2 1'),
                ('{table}', 'idx_{table}_detected_at', '10000000 2'),
                ('{table}', 'idx_{table}_time_area_product', '10000000 2 1 1'),
                ('{table}', 'idx_{table}_external_id', '10000000 1');
            ANALYZE sqlite_schema;"
    )
}

/// Creates line `line_id`'s detection and downtime tables. DDL commits
/// implicitly on MySQL, so callers run this outside data transactions.
pub async fn create_line_tables(conn: &mut DbConn, line_id: i32, now: NaiveDateTime) -> AppResult<()> {
    let ddl = create_statements(conn.backend(), line_id, now, 3)?;
    with_conn!(conn, |c| c.batch_execute(&ddl).await)?;
    if conn.backend() == Backend::Mysql {
        drop_retired_indexes(conn, line_id).await?;
    }
    upgrade_downtime_table(conn, line_id).await?;
    Ok(())
}

/// Columns later versions added to `downtime_events_<id>`, with their
/// definition (both backends), in the order they were added: appended by
/// `ALTER TABLE` to a table created before them, so an upgraded table has
/// the columns of a new one in the same order.
const ADDED_DOWNTIME_COLUMNS: [(&str, &str); 2] = [
    // The reason of the tenant's tree (downtime_reason), issue 14.
    ("reason_id", "INT NULL"),
    // The incident the stop belongs to.
    ("incident_id", "INT NULL"),
];

#[derive(diesel::QueryableByName)]
struct ColumnName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// Adds to line `line_id`'s downtime table the columns it lacks (a table
/// created by an earlier version), and the index on `reason_id`.
/// Idempotent; runs at every start for every line (`ensure_all`).
pub async fn upgrade_downtime_table(conn: &mut DbConn, line_id: i32) -> AppResult<()> {
    use diesel_async::RunQueryDsl;
    let table = downtime_table(line_id)?;
    let sql = match conn.backend() {
        Backend::Mysql => {
            "SELECT CAST(column_name AS CHAR) AS name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = ?"
        }
        Backend::Sqlite => "SELECT name FROM pragma_table_info(?)",
    };
    let present: Vec<String> = with_conn!(conn, |c, DB| diesel::sql_query(sql)
        .into_boxed::<DB>()
        .bind::<diesel::sql_types::Text, _>(table.as_str())
        .load::<ColumnName>(c)
        .await)?
    .into_iter()
    .map(|c| c.name.to_ascii_lowercase())
    .collect();
    let missing: Vec<(&str, &str)> = ADDED_DOWNTIME_COLUMNS
        .into_iter()
        .filter(|(name, _)| !present.iter().any(|p| p == name))
        .collect();
    let ddl = match conn.backend() {
        Backend::Mysql if missing.is_empty() => return Ok(()),
        Backend::Mysql => {
            let mut parts: Vec<String> = missing
                .iter()
                .map(|(name, definition)| format!("ADD COLUMN {name} {definition}"))
                .collect();
            if missing.iter().any(|(name, _)| *name == "reason_id") {
                parts.push("ADD KEY idx_downtime_reason (reason_id)".to_owned());
            }
            format!("ALTER TABLE {table} {}", parts.join(", "))
        }
        Backend::Sqlite => {
            let mut statements: Vec<String> = missing
                .iter()
                .map(|(name, definition)| format!("ALTER TABLE {table} ADD COLUMN {name} {definition};"))
                .collect();
            statements.push(format!(
                "CREATE INDEX IF NOT EXISTS idx_{table}_reason ON {table} (reason_id);"
            ));
            statements.join("\n")
        }
    };
    with_conn!(conn, |c| c.batch_execute(&ddl).await)?;
    Ok(())
}

/// Secondary indexes that earlier versions put on a MySQL detection table
/// and no query uses any more: `idx_detected_at` is a prefix of
/// `idx_time_area_product`, area reads go through the rollups or a time
/// range, and `external_id` uniqueness lives in the key table. Each cost
/// every ingested row a B-tree insert (a third of ingest throughput,
/// docs/performance.md).
const RETIRED_MYSQL_INDEXES: [&str; 3] = ["idx_detected_at", "idx_area_product", "idx_external_id"];

#[derive(diesel::QueryableByName)]
struct IndexName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    index_name: String,
}

/// Drops whichever retired index a line's MySQL detection table still has
/// (MySQL, unlike MariaDB, has no `DROP INDEX IF EXISTS`). Dropping a
/// secondary index is an in-place metadata change in InnoDB.
async fn drop_retired_indexes(conn: &mut DbConn, line_id: i32) -> AppResult<()> {
    use diesel_async::RunQueryDsl;
    let table = detection_table(line_id)?;
    let sql = format!(
        "SELECT DISTINCT CAST(index_name AS CHAR) AS index_name FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name = ? AND index_name IN ({})",
        vec!["?"; RETIRED_MYSQL_INDEXES.len()].join(", ")
    );
    let present = with_conn!(conn, |c, DB| {
        let mut query = diesel::sql_query(sql.as_str())
            .into_boxed::<DB>()
            .bind::<diesel::sql_types::Text, _>(table.as_str());
        for name in RETIRED_MYSQL_INDEXES {
            query = query.bind::<diesel::sql_types::Text, _>(name);
        }
        query.load::<IndexName>(c).await
    })?;
    if present.is_empty() {
        return Ok(());
    }
    let drops: Vec<String> = present
        .iter()
        .filter(|row| RETIRED_MYSQL_INDEXES.contains(&row.index_name.as_str()))
        .map(|row| format!("DROP INDEX {}", row.index_name))
        .collect();
    let ddl = format!("ALTER TABLE {table} {}", drops.join(", "));
    with_conn!(conn, |c| c.batch_execute(&ddl).await)?;
    Ok(())
}

/// Creates whatever per-line table of any existing line is missing (tables
/// that a later version added, such as the rollups). Idempotent; runs after
/// a tenant's migrations.
pub async fn ensure_all(pool: &crate::db::DbPool, now: NaiveDateTime) -> AppResult<usize> {
    use crate::db::schema::tenant::production_line;
    use diesel::QueryDsl;
    use diesel_async::RunQueryDsl;
    let mut conn = pool.get().await?;
    let ids: Vec<i32> = with_conn!(&mut conn, |c| production_line::table
        .select(production_line::line_id)
        .load::<i32>(c)
        .await)?;
    for id in &ids {
        create_line_tables(&mut conn, *id, now).await?;
    }
    Ok(ids.len())
}

/// One detection to store: instant (UTC), area, product, optional external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionRow {
    /// When the unit was seen (UTC, microseconds).
    pub detected_at: NaiveDateTime,
    /// Area of the line that saw it.
    pub area_id: i32,
    /// Product recognised.
    pub product_id: i32,
    /// Idempotency key of the sender, when it gives one.
    pub external_id: Option<String>,
}

/// Rows per INSERT statement: well under SQLite's 32 766 bound variables
/// and MySQL's packet limit, large enough to amortise round trips.
const INSERT_CHUNK: usize = 1000;

/// Writes detection rows on a concrete connection, inside the caller's
/// transaction, as multi-row statements (see
/// [`BulkInsert`](crate::db::dialect::BulkInsert)).
pub trait DetectionWriter: Send {
    /// Inserts `rows` into `table` (a name from [`detection_table`]); returns how many.
    fn insert_detection_rows(
        &mut self,
        table: &str,
        rows: &[&DetectionRow],
    ) -> impl std::future::Future<Output = diesel::QueryResult<usize>> + Send;

    /// Records idempotency keys in the key table `table`, all or none: a
    /// key already stored fails the statement as a unique violation.
    fn insert_detection_keys(
        &mut self,
        table: &str,
        keys: &[&str],
        now: NaiveDateTime,
    ) -> impl std::future::Future<Output = diesel::QueryResult<()>> + Send;
}

crate::impl_for_connections!(DetectionWriter {
    async fn insert_detection_rows(&mut self, table: &str, rows: &[&DetectionRow]) -> diesel::QueryResult<usize> {
        use crate::db::dialect::{BulkInsert, BulkValue};
        let head = format!("INSERT INTO {table} (detected_at, area_id, product_id, external_id) VALUES ");
        for chunk in rows.chunks(INSERT_CHUNK) {
            self.bulk_insert(&head, chunk, "", |row| {
                [
                    BulkValue::Timestamp(row.detected_at),
                    BulkValue::Int(row.area_id.into()),
                    BulkValue::Int(row.product_id.into()),
                    BulkValue::Text(row.external_id.as_deref()),
                ]
            })
            .await?;
        }
        Ok(rows.len())
    }

    async fn insert_detection_keys(&mut self, table: &str, keys: &[&str], now: NaiveDateTime) -> diesel::QueryResult<()> {
        use crate::db::dialect::{BulkInsert, BulkValue};
        let head = format!("INSERT INTO {table} (external_id, ingested_at) VALUES ");
        self.bulk_insert(&head, keys, "", |key| [BulkValue::Text(Some(key)), BulkValue::Timestamp(now)])
            .await
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    /// The SQLite plan of a raw read of one area over two windows: a range
    /// of `(area_id, detected_at)` per window, never a scan of the area.
    #[test]
    fn sqlite_reads_one_area_over_windows_as_index_ranges() {
        use diesel::connection::SimpleConnection;
        use diesel::{Connection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct PlanRow {
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("plan.db");
        let mut conn = diesel::SqliteConnection::establish(path.to_str().expect("utf-8")).expect("open");
        let now = NaiveDate::from_ymd_opt(2026, 11, 29)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("valid date");
        conn.batch_execute(&create_statements(Backend::Sqlite, 1, now, 3).expect("ddl"))
            .expect("create");
        // Twice, as every start does for every line.
        conn.batch_execute(&create_statements(Backend::Sqlite, 1, now, 3).expect("ddl"))
            .expect("create again");
        let plan: Vec<String> = diesel::sql_query(
            "EXPLAIN QUERY PLAN SELECT product_id, COUNT(*) FROM detection_line_1 \
             WHERE ((detected_at >= '2026-01-01' AND detected_at < '2026-01-02') \
             OR (detected_at >= '2026-01-03' AND detected_at < '2026-01-04')) AND area_id IN (3) GROUP BY product_id",
        )
        .load::<PlanRow>(&mut conn)
        .expect("plan")
        .into_iter()
        .map(|r| r.detail)
        .collect();
        let ranges = plan
            .iter()
            .filter(|d| d.contains("idx_detection_line_1_area_time (area_id=? AND detected_at>? AND detected_at<?)"))
            .count();
        assert_eq!(ranges, 2, "{plan:?}");
        assert!(!plan.iter().any(|d| d.starts_with("SCAN")), "{plan:?}");
    }

    #[test]
    fn table_names_come_only_from_positive_ids() {
        assert_eq!(detection_table(7).ok().as_deref(), Some("detection_line_7"));
        assert_eq!(downtime_table(7).ok().as_deref(), Some("downtime_events_7"));
        assert!(detection_table(0).is_err());
        assert!(detection_table(-3).is_err());
    }

    #[test]
    fn mysql_partitions_cover_previous_month_to_months_ahead_plus_pmax() {
        let now = NaiveDate::from_ymd_opt(2026, 12, 15)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .expect("valid date");
        let clause = mysql_partitions(now, 3).expect("partitions");
        assert!(clause.contains("PARTITION p202611 VALUES LESS THAN ('2026-12-01')"));
        assert!(clause.contains("PARTITION p202612 VALUES LESS THAN ('2027-01-01')"));
        assert!(clause.contains("PARTITION p202703 VALUES LESS THAN ('2027-04-01')"));
        assert!(clause.ends_with("PARTITION pmax VALUES LESS THAN (MAXVALUE))"));
    }
}
