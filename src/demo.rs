//! The demo plant: what a newcomer sees on the first `camet serve` against an
//! empty embedded database (or with `camet demo` on any database).
//!
//! As the original design's `init_db.py`: tenant "Demo Plant"
//! (America/Santiago), one line with input/process/output areas, two products,
//! the three Monday-Friday shifts (07-15, 15-23, 23-07 overnight), every
//! dashboard filter enabled (so each one can be tried), seven days of
//! synthetic detections with some stops, and an admin with a random password.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::analytics::interval::Interval;
use crate::analytics::shifts::{Schedule, ShiftRule, parse_days, planned_set};
use crate::auth::password::{self, HashingParams};
use crate::auth::roles::Role;
use crate::auth::users::{self, NewUser};
use crate::clock::{now_naive, now_utc};
use crate::dashboard::filters;
use crate::dashboard::widgets::Lang;
use crate::db::Databases;
use crate::db::decimal::DbDecimal;
use crate::error::{AppError, AppResult};
use crate::plant::models::{NewArea, NewFilter, NewLine, NewProduct, NewShift};
use crate::plant::service::VersionConn;
use crate::plant::store;
use crate::synth::{self, LineAreas, SynthParams};
use crate::tenants;

/// Name of the demo tenant.
pub const DEMO_TENANT: &str = "Demo Plant";
/// Time zone of the demo tenant.
pub const DEMO_TIMEZONE: &str = "America/Santiago";
/// Username of the demo admin.
pub const DEMO_ADMIN: &str = "admin";

/// What was created, to print once.
#[derive(Debug, Clone)]
pub struct DemoSeed {
    /// Tenant id.
    pub tenant_id: i32,
    /// Line id.
    pub line_id: i32,
    /// Admin username.
    pub username: String,
    /// Admin password (random; shown once).
    pub password: String,
    /// Detections written.
    pub detections: usize,
}

/// One demo shift: name, description, local start, local end, overnight.
type DemoShift = (&'static str, &'static str, NaiveTime, NaiveTime, bool);

/// The demo's three shifts, Monday to Friday.
fn demo_shifts() -> AppResult<Vec<DemoShift>> {
    Ok(vec![
        ("Turno Mañana", "Turno de 7:00 a 15:00", hm(7, 0)?, hm(15, 0)?, false),
        ("Turno Tarde", "Turno de 15:00 a 23:00", hm(15, 0)?, hm(23, 0)?, false),
        ("Turno Noche", "Turno de 23:00 a 7:00", hm(23, 0)?, hm(7, 0)?, true),
    ])
}

fn hm(h: u32, m: u32) -> AppResult<NaiveTime> {
    NaiveTime::from_hms_opt(h, m, 0).ok_or_else(|| AppError::internal("invalid demo time"))
}

fn decimal(text: &str) -> AppResult<Option<DbDecimal>> {
    text.parse::<Decimal>()
        .map(|d| Some(DbDecimal(d)))
        .map_err(AppError::internal)
}

/// When the demo line is planned over `[from, to)`, by the same rules the KPIs use.
fn demo_planned(
    tz: Tz,
    line_id: i32,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> AppResult<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let days = parse_days(WEEKDAY_NAMES).map_err(AppError::internal)?;
    let rules: Vec<ShiftRule> = demo_shifts()?
        .into_iter()
        .enumerate()
        .map(|(i, (_, _, start_time, end_time, is_overnight))| ShiftRule {
            shift_id: i as i32 + 1,
            start_time,
            end_time,
            is_overnight,
            days,
            active: true,
            line_ids: None,
            breaks: Vec::new(),
        })
        .collect();
    let set = planned_set(
        &Schedule::of_shifts(rules),
        line_id,
        tz,
        &Interval::new(from, to),
        to,
        None,
    );
    Ok(set.intervals().iter().map(|iv| (iv.start, iv.end)).collect())
}

const WEEKDAY_NAMES: [&str; 5] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];

/// Seeds the demo plant. `days` of detections end at the current instant.
pub async fn seed(databases: &Databases, hashing: HashingParams, days: i64) -> AppResult<DemoSeed> {
    seed_with_progress(databases, hashing, days, &crate::progress::Silent).await
}

/// Rows written per insert call while seeding, so progress moves.
const SEED_CHUNK_ROWS: usize = 20_000;

/// [`seed`], reporting the detections written to `progress`.
pub async fn seed_with_progress(
    databases: &Databases,
    hashing: HashingParams,
    days: i64,
    progress: &dyn crate::progress::Progress,
) -> AppResult<DemoSeed> {
    let tenant_id = tenants::create(databases, DEMO_TENANT, DEMO_TIMEZONE).await?;
    let tz: Tz = DEMO_TIMEZONE.parse().map_err(AppError::internal)?;
    let pool = databases.tenant(tenant_id).await?;
    let mut conn = pool.get().await?;
    let now = now_naive();

    let line_id = store::create_line(
        &mut conn,
        &NewLine {
            line_name: "Línea Principal".into(),
            line_code: "LP01".into(),
            is_active: true,
            availability: decimal("95")?,
            performance: decimal("85")?,
            downtime_threshold: 300,
            created_at: now,
            updated_at: now,
            micro_stop_threshold: 30,
        },
        now,
    )
    .await?;

    let mut area_ids = Vec::new();
    for (order, (name, kind)) in [("Entrada", "input"), ("Proceso", "process"), ("Salida", "output")]
        .into_iter()
        .enumerate()
    {
        let x = order as i32 * 100;
        let id = store::insert_area(
            &mut conn,
            &NewArea {
                line_id,
                area_name: name.into(),
                area_type: kind.into(),
                area_order: order as i32 + 1,
                coord_x1: Some(x),
                coord_y1: Some(0),
                coord_x2: Some(x + 100),
                coord_y2: Some(100),
                is_active: true,
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
        area_ids.push(id);
    }

    let mut product_ids = Vec::new();
    for (name, code, weight, color, std, batch) in [
        ("Producto A", "PA001", "5.5", "#ef4444", "100", 50),
        ("Producto B", "PB001", "3.2", "#3b82f6", "120", 60),
    ] {
        let id = store::insert_product(
            &mut conn,
            &NewProduct {
                product_name: name.into(),
                product_code: code.into(),
                product_weight: decimal(weight)?,
                product_color: Some(color.into()),
                production_std: decimal(std)?,
                product_per_batch: Some(batch),
                is_active: true,
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
        product_ids.push(id);
    }

    let weekdays =
        serde_json::to_string(&["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]).map_err(AppError::internal)?;
    for (name, description, start, end, overnight) in [
        ("Turno Mañana", "Turno de 7:00 a 15:00", hm(7, 0)?, hm(15, 0)?, false),
        ("Turno Tarde", "Turno de 15:00 a 23:00", hm(15, 0)?, hm(23, 0)?, false),
        ("Turno Noche", "Turno de 23:00 a 7:00", hm(23, 0)?, hm(7, 0)?, true),
    ] {
        store::insert_shift(
            &mut conn,
            &NewShift {
                shift_name: name.into(),
                description: Some(description.into()),
                shift_status: true,
                days_implemented: weekdays.clone(),
                start_time: start,
                end_time: end,
                is_overnight: overnight,
                line_ids: None,
                created_at: now,
                updated_at: now,
                // The demo's shifts run without breaks (see `demo_planned`).
                breaks: "[]".into(),
            },
        )
        .await?;
    }

    // The built-in names and descriptions, so `lang` translates them.
    for (class_name, default_value) in [
        ("DateRangeFilter", r#"{"preset":"last_7_days"}"#),
        ("IntervalFilter", r#"{"interval":"15min"}"#),
        ("LineFilter", "null"),
        ("ProductFilter", "[]"),
        ("AreaFilter", "[]"),
        ("ShiftFilter", "null"),
        ("DowntimeThresholdFilter", "null"),
        ("ShowStopsFilter", "true"),
    ] {
        let (Some(name), Some(description)) = (
            filters::builtin_name(class_name, Lang::Es),
            filters::builtin_description(class_name, Lang::Es),
        ) else {
            return Err(AppError::internal(format!("{class_name} is not a registered filter")));
        };
        store::insert_filter(
            &mut conn,
            &NewFilter {
                filter_name: name.into(),
                class_name: class_name.into(),
                description: Some(description.into()),
                filter_status: true,
                default_value: Some(default_value.into()),
                additional_filter: Some("{}".into()),
                created_at: now,
                updated_at: now,
            },
        )
        .await?;
    }
    // Like every configuration write: a snapshot read while the plant was
    // half written (a job on another instance, or this one's) carries the
    // old version, so it can never stand for the finished plant.
    crate::with_conn!(&mut conn, |c| c.bump_config_version(now).await)?;

    let to = now_utc();
    let from = to - Duration::days(days);
    let planned = demo_planned(tz, line_id, from, to)?;
    let rows = synth::generate(
        &planned,
        LineAreas {
            input: area_ids[0],
            process: Some(area_ids[1]),
            output: area_ids[2],
        },
        &SynthParams {
            product_mix: vec![(product_ids[0], 0.6), (product_ids[1], 0.4)],
            seed: 20_260_101,
            ..SynthParams::default()
        },
    );
    // Units still in transit at `now` would be detections from the future.
    let rows: Vec<_> = rows.into_iter().filter(|r| r.detected_at < to.naive_utc()).collect();
    progress.start(rows.len() as u64, "detections");
    let mut detections = 0;
    for chunk in rows.chunks(SEED_CHUNK_ROWS) {
        // The default floor: a deployment configured otherwise has the gaps
        // rebuilt by the watermark job's first run.
        detections += crate::detections::store::insert_detections(
            &mut conn,
            line_id,
            chunk,
            now,
            crate::analytics::GapFloor::default(),
        )
        .await?;
        progress.advance(chunk.len() as u64);
    }
    drop(conn);

    let password = password::generate();
    users::create(
        databases,
        hashing,
        &NewUser {
            tenant_id,
            username: DEMO_ADMIN.into(),
            email: "admin@demo.local".into(),
            role: Role::Admin,
            password: password.clone(),
        },
    )
    .await?;

    Ok(DemoSeed {
        tenant_id,
        line_id,
        username: DEMO_ADMIN.into(),
        password,
        detections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn demo_planned_time_is_weekdays_from_seven_to_seven() {
        let tz: Tz = DEMO_TIMEZONE.parse().expect("zone");
        // Monday 2026-11-16 00:00 to Monday 2026-11-23 00:00 local (UTC-3 in November).
        let from = Utc.with_ymd_and_hms(2026, 11, 16, 3, 0, 0).single().expect("valid");
        let to = from + Duration::days(7);
        let planned = demo_planned(tz, 1, from, to).expect("planned");
        assert_eq!(planned.len(), 1);
        assert_eq!(
            planned[0].0,
            Utc.with_ymd_and_hms(2026, 11, 16, 10, 0, 0).single().expect("valid")
        );
        assert_eq!(
            planned[0].1,
            Utc.with_ymd_and_hms(2026, 11, 21, 10, 0, 0).single().expect("valid")
        );
    }
}
