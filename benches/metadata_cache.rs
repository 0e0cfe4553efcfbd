//! How long the metadata cache takes to load a large plant: 100 lines (300
//! areas), 1 000 products, 50 shifts, 8 filters. Embedded SQLite always;
//! MySQL too when CAMET_BENCH_MYSQL_URL (e.g. mysql://camet:camet@127.0.0.1:3306)
//! is set. The issue's bar: well under a second.

use std::collections::HashMap;

use camet::clock::now_naive;
use camet::config::Config;
use camet::db::decimal::DbDecimal;
use camet::plant::models::{NewArea, NewFilter, NewLine, NewProduct, NewShift};
use camet::plant::store;
use chrono::NaiveTime;
use criterion::{Criterion, criterion_group, criterion_main};
use rust_decimal::Decimal;

async fn seeded_state(database_url: &str, data_dir: &str) -> (camet::app::SharedState, i32) {
    let env: HashMap<&str, &str> = HashMap::from([
        ("DATABASE_URL", database_url),
        ("CAMET_DATA_DIR", data_dir),
        ("CAMET_JWT_SECRET", "bench-secret-bench-secret-bench-secret-0000"),
        ("CAMET_LOG", "error"),
    ]);
    let config = Config::from_lookup(&|k| env.get(k).map(|v| v.to_string())).expect("config");
    let state = camet::server::prepare(config).await.expect("state");
    let tenant = camet::tenants::create(&state.databases, "Bench Plant", "Europe/Madrid")
        .await
        .expect("tenant");
    let pool = state.databases.tenant(tenant).await.expect("pool");
    let mut conn = pool.get().await.expect("conn");
    let now = now_naive();
    for l in 0..100 {
        let line = NewLine {
            line_name: format!("Line {l}"),
            line_code: format!("L{l:03}"),
            is_active: true,
            availability: Some(DbDecimal(Decimal::new(95, 0))),
            performance: Some(DbDecimal(Decimal::new(85, 0))),
            downtime_threshold: 300,
            created_at: now,
            updated_at: now,
            micro_stop_threshold: 30,
        };
        // Rows only: the cache does not read per-line tables.
        let line_id = store::insert_line_row(&mut conn, &line).await.expect("line");
        for (order, kind) in ["input", "process", "output"].into_iter().enumerate() {
            let area = NewArea {
                line_id,
                area_name: format!("{kind} {l}"),
                area_type: kind.into(),
                area_order: order as i32,
                coord_x1: Some(0),
                coord_y1: Some(0),
                coord_x2: Some(100),
                coord_y2: Some(100),
                is_active: true,
                created_at: now,
                updated_at: now,
            };
            store::insert_area(&mut conn, &area).await.expect("area");
        }
    }
    for p in 0..1000 {
        let product = NewProduct {
            product_name: format!("Product {p}"),
            product_code: format!("P{p:04}"),
            product_weight: Some(DbDecimal(Decimal::new(1234 + p, 3))),
            product_color: Some("#3b82f6".into()),
            production_std: Some(DbDecimal(Decimal::new(120, 0))),
            product_per_batch: Some(50),
            is_active: true,
            created_at: now,
            updated_at: now,
        };
        store::insert_product(&mut conn, &product).await.expect("product");
    }
    for s in 0..50u32 {
        let shift = NewShift {
            shift_name: format!("Shift {s}"),
            description: None,
            shift_status: true,
            days_implemented: r#"["Monday","Tuesday","Wednesday","Thursday","Friday"]"#.into(),
            start_time: NaiveTime::from_hms_opt(s % 24, 0, 0).unwrap_or_default(),
            end_time: NaiveTime::from_hms_opt((s + 8) % 24, 0, 0).unwrap_or_default(),
            is_overnight: (s % 24) + 8 >= 24,
            line_ids: Some(format!("[{}]", s + 1)),
            created_at: now,
            updated_at: now,
            // A lunch break in the middle of each 8-hour shift.
            breaks: format!(
                r#"[{{"start_time":"{:02}:00:00","end_time":"{:02}:30:00"}}]"#,
                (s + 4) % 24,
                (s + 4) % 24
            ),
        };
        store::insert_shift(&mut conn, &shift).await.expect("shift");
    }
    for (i, class) in camet::plant::inputs::FILTER_CLASSES.iter().enumerate() {
        let filter = NewFilter {
            filter_name: format!("Filter {i}"),
            class_name: (*class).into(),
            description: None,
            filter_status: true,
            default_value: Some("{}".into()),
            additional_filter: None,
            created_at: now,
            updated_at: now,
        };
        store::insert_filter(&mut conn, &filter).await.expect("filter");
    }
    (state, tenant)
}

fn load_large_plant(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().display().to_string();
    let mut targets = vec![("sqlite", format!("sqlite://{}/camet.db", data_dir), None)];
    if let Ok(server) = std::env::var("CAMET_BENCH_MYSQL_URL") {
        let name = format!("camet_bench_{}", std::process::id());
        targets.push((
            "mysql",
            format!("{}/{name}", server.trim_end_matches('/')),
            Some((server, name)),
        ));
    }
    for (backend, url, cleanup) in targets {
        let (state, tenant) = runtime.block_on(seeded_state(&url, &data_dir));
        let snapshot = runtime
            .block_on(state.cache.reload(&state.databases, tenant))
            .expect("load");
        assert_eq!(
            (snapshot.lines.len(), snapshot.products.len(), snapshot.shifts.len()),
            (100, 1000, 50)
        );
        c.bench_function(
            &format!("metadata_cache_load_100_lines_1000_products_50_shifts_{backend}"),
            |b| {
                b.to_async(&runtime)
                    .iter(|| async { state.cache.reload(&state.databases, tenant).await.expect("load") })
            },
        );
        if let Some((server, name)) = cleanup {
            runtime.block_on(async {
                for db in [name.clone(), format!("{name}_tenant_{tenant}")] {
                    let _ =
                        camet::db::dialect::mysql_drop_database(&server, &db, std::time::Duration::from_secs(10)).await;
                }
            });
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = load_large_plant
}
criterion_main!(benches);
