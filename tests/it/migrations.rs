//! Both migration sets (SQLite and MySQL) give the same tables and columns,
//! for the global and the tenant databases, and per-line tables match too.

use std::collections::BTreeMap;

use crate::common::{Backend, TestApp, mysql_or_skip};
use camet::with_conn;
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
}

type Schema = BTreeMap<String, Vec<String>>;

async fn columns(pool: &camet::db::DbPool) -> Schema {
    let mut conn = pool.get().await.expect("conn");
    let sql = match conn.backend() {
        camet::db::Backend::Sqlite => {
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations' \
             ORDER BY m.name, p.cid"
        }
        camet::db::Backend::Mysql => {
            "SELECT CAST(table_name AS CHAR) AS table_name, CAST(column_name AS CHAR) AS column_name \
             FROM information_schema.columns WHERE table_schema = DATABASE() \
             AND table_name <> '__diesel_schema_migrations' ORDER BY table_name, ordinal_position"
        }
    };
    let rows: Vec<Column> = with_conn!(&mut conn, |c| diesel::sql_query(sql).load(c).await).expect("columns");
    let mut schema = Schema::new();
    for row in rows {
        schema.entry(row.table_name).or_default().push(row.column_name);
    }
    schema
}

async fn schemas(backend: Backend) -> (Schema, Schema) {
    let app = TestApp::start(backend).await;
    let tenant_id = camet::tenants::create(&app.state.databases, "Schema", "UTC")
        .await
        .expect("tenant");
    let pool = app.state.databases.tenant(tenant_id).await.expect("pool");
    let mut conn = pool.get().await.expect("conn");
    camet::db::line_tables::create_line_tables(&mut conn, 1, camet::clock::now_naive())
        .await
        .expect("line tables");
    drop(conn);
    let global = columns(app.state.databases.global()).await;
    let tenant = columns(&pool).await;
    app.stop().await;
    (global, tenant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_mysql_migrations_give_the_same_tables_and_columns() {
    let (sqlite_global, sqlite_tenant) = schemas(Backend::Sqlite).await;
    assert!(sqlite_global.contains_key("app_user") && sqlite_tenant.contains_key("detection_line_1"));
    if mysql_or_skip("migrations: the SQLite schema was not compared with MySQL").is_none() {
        return;
    }
    let (mysql_global, mysql_tenant) = schemas(Backend::Mysql).await;
    assert_eq!(sqlite_global, mysql_global, "global database schemas differ");
    assert_eq!(sqlite_tenant, mysql_tenant, "tenant database schemas differ");
}
