//! Both migration sets (SQLite and MySQL) give the same schema, for the
//! global and the tenant databases and the per-line tables: the same tables
//! and columns in the same order, each column's type (through the mapping
//! below), nullability and primary-key membership, and the same unique
//! indexes (compared by their column lists, since SQLite names the ones made
//! by `UNIQUE` constraints itself).
//!
//! Type mapping, SQLite declared type -> MySQL `DATA_TYPE`:
//!
//! | SQLite                          | MySQL                               |
//! |---------------------------------|-------------------------------------|
//! | `INTEGER`                       | `int` or `bigint` (SQLite integers are 64-bit) |
//! | `INT`                           | `int`                               |
//! | `BIGINT`                        | `bigint`                            |
//! | `BOOLEAN`                       | `tinyint` (`tinyint(1)`)            |
//! | `TIMESTAMP`, `DATETIME(6)`      | `datetime` (`datetime(6)`)          |
//! | `TEXT`, `VARCHAR(n)`            | `varchar`, `char` or `text`         |
//! | `TEXT` listed in `TYPED_TEXT`   | the type listed there (`decimal` kept exact as text on SQLite, `time`, `date`) |
//!
//! Nullability must be equal; primary keys too, except that MySQL adds
//! `detected_at` to a per-line detection table's key (see `mysql_only_primary`).

use std::collections::BTreeMap;

use crate::common::{Backend, TestApp, mysql_or_skip};
use camet::with_conn;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

/// SQLite `TEXT` columns that hold a typed value MySQL stores natively:
/// exact decimals (SQLite binds `Numeric` as a double, so they are text
/// there), times of day and calendar dates.
const TYPED_TEXT: &[(&str, &str, &str)] = &[
    ("product", "product_weight", "decimal"),
    ("production_line", "availability", "decimal"),
    ("production_line", "performance", "decimal"),
    ("product", "production_std", "decimal"),
    ("shift", "start_time", "time"),
    ("shift", "end_time", "time"),
    ("calendar_entry", "start_date", "date"),
    ("calendar_entry", "end_date", "date"),
];

/// Columns in MySQL's primary key only: a partitioned table's primary key
/// must contain the partitioning column (per-line detection tables are
/// partitioned by month on `detected_at`; SQLite has no partitions).
fn mysql_only_primary(table: &str, column: &str) -> bool {
    table.starts_with("detection_line_") && column == "detected_at"
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_type: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    nullable: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    primary: i32,
}

#[derive(QueryableByName)]
struct UniqueRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    index_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

/// One column as compared: name, type, nullable, part of the primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    name: String,
    column_type: String,
    nullable: bool,
    primary: bool,
}

#[derive(Debug, Default)]
struct Schema {
    columns: BTreeMap<String, Vec<Column>>,
    /// Per table, the column lists of its unique indexes (sorted).
    unique: BTreeMap<String, Vec<Vec<String>>>,
}

impl Schema {
    fn tables(&self) -> Vec<&String> {
        self.columns.keys().collect()
    }

    fn column_names(&self) -> BTreeMap<&String, Vec<&str>> {
        self.columns
            .iter()
            .map(|(t, cs)| (t, cs.iter().map(|c| c.name.as_str()).collect()))
            .collect()
    }
}

async fn schema(pool: &camet::db::DbPool) -> Schema {
    let mut conn = pool.get().await.expect("conn");
    let (columns_sql, unique_sql) = match conn.backend() {
        camet::db::Backend::Sqlite => (
            "SELECT m.name AS table_name, p.name AS column_name, p.type AS column_type, \
             CASE WHEN p.\"notnull\" = 0 AND p.pk = 0 THEN 1 ELSE 0 END AS nullable, \
             CASE WHEN p.pk > 0 THEN 1 ELSE 0 END AS \"primary\" \
             FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations' \
             ORDER BY m.name, p.cid",
            "SELECT m.name AS table_name, il.name AS index_name, ii.name AS column_name \
             FROM sqlite_master m, pragma_index_list(m.name) il, pragma_index_info(il.name) ii \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations' \
             AND il.\"unique\" = 1 AND il.origin <> 'pk' ORDER BY m.name, il.name, ii.seqno",
        ),
        camet::db::Backend::Mysql => (
            "SELECT CAST(table_name AS CHAR) AS table_name, CAST(column_name AS CHAR) AS column_name, \
             CAST(data_type AS CHAR) AS column_type, \
             CAST(CASE WHEN is_nullable = 'YES' THEN 1 ELSE 0 END AS SIGNED) AS nullable, \
             CAST(CASE WHEN column_key = 'PRI' THEN 1 ELSE 0 END AS SIGNED) AS `primary` \
             FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND table_name <> '__diesel_schema_migrations' ORDER BY table_name, ordinal_position",
            "SELECT CAST(table_name AS CHAR) AS table_name, CAST(index_name AS CHAR) AS index_name, \
             CAST(column_name AS CHAR) AS column_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name <> '__diesel_schema_migrations' \
             AND non_unique = 0 AND index_name <> 'PRIMARY' ORDER BY table_name, index_name, seq_in_index",
        ),
    };
    let rows: Vec<ColumnRow> =
        with_conn!(&mut conn, |c| diesel::sql_query(columns_sql).load(c).await).expect("columns");
    let uniques: Vec<UniqueRow> =
        with_conn!(&mut conn, |c| diesel::sql_query(unique_sql).load(c).await).expect("unique indexes");
    let mut schema = Schema::default();
    for row in rows {
        schema.columns.entry(row.table_name).or_default().push(Column {
            name: row.column_name,
            column_type: row.column_type.to_lowercase(),
            nullable: row.nullable != 0,
            primary: row.primary != 0,
        });
    }
    let mut indexes: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for row in uniques {
        indexes
            .entry((row.table_name, row.index_name))
            .or_default()
            .push(row.column_name);
    }
    for ((table, _), columns) in indexes {
        schema.unique.entry(table).or_default().push(columns);
    }
    for lists in schema.unique.values_mut() {
        lists.sort();
    }
    schema
}

/// The MySQL `DATA_TYPE`s a SQLite column's declared type may map to.
fn mysql_types_for(table: &str, column: &Column) -> Vec<&'static str> {
    if let Some((_, _, typed)) = TYPED_TEXT.iter().find(|(t, c, _)| *t == table && *c == column.name) {
        return vec![typed];
    }
    let declared = column.column_type.as_str();
    match declared {
        "integer" => vec!["int", "bigint"],
        "int" => vec!["int"],
        "bigint" => vec!["bigint"],
        "boolean" => vec!["tinyint"],
        "timestamp" | "datetime" | "datetime(6)" => vec!["datetime"],
        "text" => vec!["varchar", "char", "text", "mediumtext", "longtext"],
        other if other.starts_with("varchar") => vec!["varchar", "char"],
        _ => vec![],
    }
}

/// Every difference between the SQLite and the MySQL schema, as sentences.
fn differences(what: &str, sqlite: &Schema, mysql: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    if sqlite.column_names() != mysql.column_names() {
        out.push(format!(
            "{what}: tables or columns differ: SQLite {:?} vs MySQL {:?}",
            sqlite.column_names(),
            mysql.column_names()
        ));
        return out;
    }
    for (table, columns) in &sqlite.columns {
        for (s, m) in columns.iter().zip(&mysql.columns[table]) {
            let allowed = mysql_types_for(table, s);
            if !allowed.contains(&m.column_type.as_str()) {
                out.push(format!(
                    "{what}: {table}.{}: SQLite {} maps to {allowed:?}, MySQL has {}",
                    s.name, s.column_type, m.column_type
                ));
            }
            if s.nullable != m.nullable {
                out.push(format!(
                    "{what}: {table}.{}: nullable on SQLite {}, on MySQL {}",
                    s.name, s.nullable, m.nullable
                ));
            }
            if s.primary != m.primary && !(m.primary && mysql_only_primary(table, &s.name)) {
                out.push(format!(
                    "{what}: {table}.{}: primary key on SQLite {}, on MySQL {}",
                    s.name, s.primary, m.primary
                ));
            }
        }
    }
    if sqlite.unique != mysql.unique {
        out.push(format!(
            "{what}: unique indexes differ: SQLite {:?} vs MySQL {:?}",
            sqlite.unique, mysql.unique
        ));
    }
    out
}

async fn schemas(backend: Backend) -> (Schema, Schema) {
    let app = TestApp::start(backend).await;
    let tenant_id = camet::tenants::create(&app.state.databases, "Schema", "UTC")
        .await
        .expect("tenant");
    let pool = app.state.databases.tenant(tenant_id).await.expect("pool");
    let mut conn = pool.get().await.expect("conn");
    let fixed = chrono::NaiveDate::from_ymd_opt(2026, 11, 16)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("date");
    camet::db::line_tables::create_line_tables(&mut conn, 1, fixed)
        .await
        .expect("line tables");
    drop(conn);
    let global = schema(app.state.databases.global()).await;
    let tenant = schema(&pool).await;
    app.stop().await;
    (global, tenant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_mysql_migrations_give_the_same_tables_columns_types_and_unique_indexes() {
    let (sqlite_global, sqlite_tenant) = schemas(Backend::Sqlite).await;
    assert!(sqlite_global.columns.contains_key("app_user") && sqlite_tenant.columns.contains_key("detection_line_1"));
    // The SQLite side is read correctly: a known unique index and a known nullable column.
    assert!(
        sqlite_global.unique["app_user"].contains(&vec!["tenant_id".to_owned(), "username".to_owned()]),
        "{:?}",
        sqlite_global.unique
    );
    assert!(
        sqlite_global.columns["app_user"]
            .iter()
            .any(|c| c.name == "locked_until" && c.nullable && c.column_type == "timestamp")
    );
    // Every declared SQLite type is in the mapping.
    for schema in [&sqlite_global, &sqlite_tenant] {
        for (table, columns) in &schema.columns {
            for column in columns {
                assert!(
                    !mysql_types_for(table, column).is_empty(),
                    "{table}.{}: SQLite type {} has no MySQL mapping",
                    column.name,
                    column.column_type
                );
            }
        }
    }
    if mysql_or_skip("migrations: the SQLite schema was not compared with MySQL").is_none() {
        return;
    }
    let (mysql_global, mysql_tenant) = schemas(Backend::Mysql).await;
    let mut all = differences("global", &sqlite_global, &mysql_global);
    all.extend(differences("tenant", &sqlite_tenant, &mysql_tenant));
    assert!(all.is_empty(), "the migration sets differ:\n{}", all.join("\n"));
    assert_eq!(sqlite_global.tables(), mysql_global.tables());
}

#[derive(QueryableByName)]
struct IndexName {
    #[diesel(sql_type = diesel::sql_types::Text)]
    index_name: String,
}

/// A MySQL line created by an earlier version keeps secondary indexes that
/// only slowed ingest; laying the line's tables out again (as every start
/// does for existing lines) drops them and keeps the one reads use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_lines_retired_detection_indexes_are_dropped_when_its_tables_are_laid_out() {
    if mysql_or_skip("migrations: retired MySQL indexes").is_none() {
        return;
    }
    let app = TestApp::start(Backend::Mysql).await;
    let tenant_id = camet::tenants::create(&app.state.databases, "Indexes", "UTC")
        .await
        .expect("tenant");
    let pool = app.state.databases.tenant(tenant_id).await.expect("pool");
    let mut conn = pool.get().await.expect("conn");
    let now = chrono::Utc::now().naive_utc();
    camet::db::line_tables::create_line_tables(&mut conn, 1, now)
        .await
        .expect("line tables");
    let indexes = async |conn: &mut camet::db::DbConn| -> Vec<String> {
        let mut names: Vec<String> = with_conn!(conn, |c| diesel::sql_query(
            "SELECT DISTINCT CAST(index_name AS CHAR) AS index_name FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = 'detection_line_1'"
        )
        .load::<IndexName>(c)
        .await)
        .expect("indexes")
        .into_iter()
        .map(|row| row.index_name)
        .collect();
        names.sort();
        names
    };
    assert_eq!(indexes(&mut conn).await, ["PRIMARY", "idx_time_area_product"]);
    // The layout of an earlier version.
    with_conn!(&mut conn, |c| diesel::sql_query(
        "ALTER TABLE detection_line_1 ADD KEY idx_detected_at (detected_at), \
         ADD KEY idx_area_product (area_id, product_id), ADD KEY idx_external_id (external_id)"
    )
    .execute(c)
    .await)
    .expect("old indexes");
    assert_eq!(indexes(&mut conn).await.len(), 5);
    // What `ensure_all` does for every existing line at start.
    camet::db::line_tables::create_line_tables(&mut conn, 1, now)
        .await
        .expect("line tables again");
    assert_eq!(indexes(&mut conn).await, ["PRIMARY", "idx_time_area_product"]);
    drop(conn);
    app.stop().await;
}
