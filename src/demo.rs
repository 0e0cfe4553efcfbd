//! The demo plant: what a newcomer sees on the first `camet serve` against an
//! empty embedded database (or with `camet demo` on any database).
//!
//! As the original design's `init_db.py`: tenant "Demo Plant"
//! (America/Santiago), one line with input/process/output areas, two products,
//! the three Monday-Friday shifts (07-15, 15-23, 23-07 overnight), seven days
//! of synthetic detections with some stops, and an admin with a random password.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use crate::auth::password::{self, HashingParams};
use crate::auth::roles::Role;
use crate::auth::users::{self, NewUser};
use crate::clock::{now_naive, now_utc};
use crate::db::Databases;
use crate::db::decimal::DbDecimal;
use crate::db::line_tables;
use crate::error::{AppError, AppResult};
use crate::plant::models::{NewArea, NewFilter, NewLine, NewProduct, NewShift};
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

const WEEKDAYS: [Weekday; 5] = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];

fn hm(h: u32, m: u32) -> AppResult<NaiveTime> {
    NaiveTime::from_hms_opt(h, m, 0).ok_or_else(|| AppError::internal("invalid demo time"))
}

fn decimal(text: &str) -> AppResult<Option<DbDecimal>> {
    text.parse::<Decimal>()
        .map(|d| Some(DbDecimal(d)))
        .map_err(AppError::internal)
}

/// Local wall time to an instant; a time inside a DST gap moves forward.
fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    let naive = date.and_time(time);
    (0..=3)
        .find_map(|h| tz.from_local_datetime(&(naive + Duration::hours(h))).earliest())
        .map(|t| t.with_timezone(&Utc))
}

/// The demo's planned intervals (its three shifts cover Monday 07:00 to
/// Saturday 07:00 local), clipped to `[from, to)`.
fn demo_planned(tz: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> AppResult<Vec<(DateTime<Utc>, DateTime<Utc>)>> {
    let seven = hm(7, 0)?;
    let first = from.with_timezone(&tz).date_naive() - Duration::days(1);
    let last = to.with_timezone(&tz).date_naive();
    let mut planned: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    let mut day = first;
    while day <= last {
        if WEEKDAYS.contains(&day.weekday())
            && let (Some(s), Some(e)) = (
                local_instant(tz, day, seven),
                local_instant(tz, day + Duration::days(1), seven),
            )
        {
            let (s, e) = (s.max(from), e.min(to));
            if s < e {
                match planned.last_mut() {
                    Some(prev) if prev.1 >= s => prev.1 = prev.1.max(e),
                    _ => planned.push((s, e)),
                }
            }
        }
        day += Duration::days(1);
    }
    Ok(planned)
}

/// Seeds the demo plant. `days` of detections end at the current instant.
pub async fn seed(databases: &Databases, hashing: HashingParams, days: i64) -> AppResult<DemoSeed> {
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
        },
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
            },
        )
        .await?;
    }

    for (name, class_name, description, default_value) in [
        (
            "Rango de Fechas",
            "DateRangeFilter",
            "Filtro de fecha inicio y fin",
            r#"{"preset":"last_7_days"}"#,
        ),
        (
            "Intervalo",
            "IntervalFilter",
            "Intervalo de agregación",
            r#"{"interval":"15min"}"#,
        ),
        ("Línea", "LineFilter", "Línea de producción", "null"),
        ("Productos", "ProductFilter", "Selección múltiple de productos", "[]"),
    ] {
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

    let to = now_utc();
    let from = to - Duration::days(days);
    let planned = demo_planned(tz, from, to)?;
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
    let detections = line_tables::insert_detections(&mut conn, line_id, &rows).await?;
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

    #[test]
    fn demo_planned_time_is_weekdays_from_seven_to_seven() {
        let tz: Tz = DEMO_TIMEZONE.parse().expect("zone");
        // Monday 2026-11-16 00:00 to Monday 2026-11-23 00:00 local (UTC-3 in November).
        let from = Utc.with_ymd_and_hms(2026, 11, 16, 3, 0, 0).single().expect("valid");
        let to = from + Duration::days(7);
        let planned = demo_planned(tz, from, to).expect("planned");
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
