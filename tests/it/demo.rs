//! The demo plant on both backends: what `camet serve` seeds on an empty
//! embedded database and `camet demo` seeds anywhere.

use crate::common::{TestApp, backends};
use camet::db::decimal::DbDecimal;
use camet::db::schema::tenant::{area, product, shift};
use camet::with_conn;
use chrono::{Datelike, Timelike};
use diesel::{ExpressionMethods, QueryDsl, QueryableByName};
use diesel_async::RunQueryDsl;

#[derive(QueryableByName, Debug)]
struct AreaCount {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    area_id: i32,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[derive(QueryableByName, Debug)]
struct Instant {
    #[diesel(sql_type = diesel::sql_types::Timestamp)]
    detected_at: chrono::NaiveDateTime,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_plant_matches_the_original_design_and_its_detections_are_plausible() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let before = camet::clock::now_naive();
        let seed = camet::server::seed_demo_if_empty(&app.state).await.expect("seed");
        let seed = match backend {
            // The embedded default seeds itself; MySQL only on request.
            crate::common::Backend::Sqlite => seed.expect("seeded on empty SQLite"),
            crate::common::Backend::Mysql => {
                assert!(seed.is_none(), "never seeds MySQL unasked");
                camet::demo::seed(&app.state.databases, app.state.hashing, 7)
                    .await
                    .expect("camet demo")
            }
        };
        assert!(
            camet::server::seed_demo_if_empty(&app.state)
                .await
                .expect("second")
                .is_none(),
            "seeds once"
        );

        let tenant = camet::tenants::find(&app.state.databases, seed.tenant_id)
            .await
            .expect("find")
            .expect("tenant");
        assert_eq!(tenant.company_name, "Demo Plant");
        assert_eq!(tenant.timezone, "America/Santiago");

        let pool = app.state.databases.tenant(seed.tenant_id).await.expect("pool");
        let mut conn = pool.get().await.expect("conn");
        let types: Vec<(i32, String)> = with_conn!(&mut conn, |c| area::table
            .select((area::area_id, area::area_type))
            .order(area::area_order.asc())
            .load(c)
            .await)
        .expect("areas");
        let kinds: Vec<&str> = types.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(kinds, ["input", "process", "output"]);

        let weights: Vec<Option<DbDecimal>> = with_conn!(&mut conn, |c| product::table
            .select(product::product_weight)
            .order(product::product_id.asc())
            .load(c)
            .await)
        .expect("products");
        let weights: Vec<String> = weights
            .into_iter()
            .map(|w| w.expect("weight").0.normalize().to_string())
            .collect();
        assert_eq!(weights, ["5.5", "3.2"], "exact decimals round-trip on {backend:?}");

        let shifts: Vec<(chrono::NaiveTime, chrono::NaiveTime, bool)> = with_conn!(&mut conn, |c| shift::table
            .select((shift::start_time, shift::end_time, shift::is_overnight))
            .order(shift::shift_id.asc())
            .load(c)
            .await)
        .expect("shifts");
        let hours: Vec<(u32, u32, bool)> = shifts.iter().map(|(s, e, o)| (s.hour(), e.hour(), *o)).collect();
        assert_eq!(hours, [(7, 15, false), (15, 23, false), (23, 7, true)]);

        let counts: Vec<AreaCount> = with_conn!(&mut conn, |c| diesel::sql_query(
            "SELECT area_id, COUNT(*) AS n FROM detection_line_1 GROUP BY area_id ORDER BY area_id"
        )
        .load(c)
        .await)
        .expect("counts");
        assert_eq!(counts.len(), 3);
        let (input, process, output) = (counts[0].n, counts[1].n, counts[2].n);
        assert!(input >= process && process >= output && output > 0, "{counts:?}");
        assert_eq!((input + process + output) as usize, seed.detections);
        let reject_share = (input - output) as f64 / input as f64;
        assert!((0.005..0.10).contains(&reject_share), "rejects {reject_share}");
        assert_eq!(
            counts.iter().map(|c| c.area_id).collect::<Vec<_>>(),
            types.iter().map(|(id, _)| *id).collect::<Vec<_>>()
        );

        // Input detections happen on planned time only: Monday 07:00 to Saturday 07:00 local.
        let inputs: Vec<Instant> = with_conn!(&mut conn, |c| diesel::sql_query(format!(
            "SELECT detected_at FROM detection_line_1 WHERE area_id = {}",
            types[0].0
        ))
        .load(c)
        .await)
        .expect("instants");
        let tz: chrono_tz::Tz = "America/Santiago".parse().expect("tz");
        for i in &inputs {
            assert!(
                i.detected_at <= before + chrono::Duration::minutes(5),
                "not in the future"
            );
            let local = chrono::TimeZone::from_utc_datetime(&tz, &i.detected_at);
            let weekday = local.weekday().num_days_from_monday();
            let planned = match weekday {
                0 => local.hour() >= 7,
                1..=4 => true,
                5 => local.hour() < 7,
                _ => false,
            };
            assert!(planned, "input detection outside shifts: {local}");
        }
        drop(conn);
        app.stop().await;
    }
}

/// A snapshot read while the demo plant was half written (by a job of this
/// or another instance) must not pass for the finished plant: the seed bumps
/// the configuration version like every configuration write, so the cache
/// keeps the newer one whichever reload finishes last. Without the bump both
/// carried a new tenant's version and the later reload won (a flaky
/// `tenant::the_demo_enables_every_filter` showed it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_seed_moves_the_configuration_version_past_a_new_tenants() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let empty = camet::tenants::create(&app.state.databases, "Empty Works", "UTC")
            .await
            .expect("tenant");
        let new_tenant = app
            .state
            .cache
            .reload(&app.state.databases, empty)
            .await
            .expect("empty snapshot")
            .version;
        let seed = camet::demo::seed(&app.state.databases, app.state.hashing, 1)
            .await
            .expect("demo");
        let seeded = app
            .state
            .cache
            .reload(&app.state.databases, seed.tenant_id)
            .await
            .expect("demo snapshot");
        assert!(
            seeded.version > new_tenant,
            "{backend:?}: seeded plant at version {}, a new tenant at {new_tenant}",
            seeded.version
        );
        assert!(!seeded.lines.is_empty(), "{backend:?}");
        app.stop().await;
    }
}
