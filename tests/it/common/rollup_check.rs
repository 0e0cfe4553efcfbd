//! Checks that the stored minute and hour rollups and the stored gaps of a
//! line equal a recount of its raw rows, read with the plain raw-table
//! reader (never through the rollups): the oracle of the crash and
//! concurrency tests.

use camet::analytics::gaps::{Gap, GapFloor, gaps_between};
use camet::db::DbConn;
use camet::db::line_tables::{DetectionRow, day_table, gap_table, hour_table, minute_table};
use camet::detections::store::{self, DetectionFilter};
use camet::rollup::plan::{DayRow, HourRow, MinuteRow, aggregate, days_of};
use chrono::NaiveDateTime;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Integer, Timestamp};

#[derive(QueryableByName, Debug)]
struct MinuteDb {
    #[diesel(sql_type = Integer)]
    area_id: i32,
    #[diesel(sql_type = Timestamp)]
    minute_start: NaiveDateTime,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Timestamp)]
    first_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    last_at: NaiveDateTime,
}

#[derive(QueryableByName, Debug)]
struct DayDb {
    #[diesel(sql_type = Integer)]
    area_id: i32,
    #[diesel(sql_type = Timestamp)]
    day_start: NaiveDateTime,
    #[diesel(sql_type = Integer)]
    product_id: i32,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName, Debug)]
struct GapDb {
    #[diesel(sql_type = Integer)]
    area_id: i32,
    #[diesel(sql_type = Timestamp)]
    gap_start: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    gap_end: NaiveDateTime,
}

#[derive(QueryableByName, Debug)]
struct HourDb {
    #[diesel(sql_type = Integer)]
    area_id: i32,
    #[diesel(sql_type = Timestamp)]
    hour_start: NaiveDateTime,
    #[diesel(sql_type = Integer)]
    product_id: i32,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Every raw detection of the line in `[from, to)` (UTC).
pub async fn raw_rows(conn: &mut DbConn, line_id: i32, from: NaiveDateTime, to: NaiveDateTime) -> Vec<DetectionRow> {
    let filter = DetectionFilter {
        within: vec![(from, to)],
        product_ids: Vec::new(),
        area_ids: Vec::new(),
    };
    store::page(conn, line_id, &filter, None, 1_000_000)
        .await
        .expect("raw rows")
        .into_iter()
        .map(|d| DetectionRow {
            detected_at: d.detected_at,
            area_id: d.area_id,
            product_id: d.product_id,
            external_id: d.external_id,
        })
        .collect()
}

/// The stored minute and hour rollups equal the aggregates of the raw rows
/// (rows with a zero count are as good as absent).
pub async fn assert_rollups_equal_raw(conn: &mut DbConn, line_id: i32, raw: &[DetectionRow], when: &str) {
    use diesel_async::RunQueryDsl;
    let minutes_sql = format!(
        "SELECT area_id, minute_start, n, first_at, last_at FROM {} ORDER BY area_id, minute_start",
        minute_table(line_id).expect("table")
    );
    let hours_sql = format!(
        "SELECT area_id, hour_start, product_id, n FROM {} ORDER BY area_id, hour_start, product_id",
        hour_table(line_id).expect("table")
    );
    let minutes: Vec<MinuteDb> = camet::with_conn!(conn, |c| diesel::sql_query(minutes_sql.as_str())
        .load::<MinuteDb>(c)
        .await)
    .expect("minute rollups");
    let hours: Vec<HourDb> = camet::with_conn!(conn, |c| diesel::sql_query(hours_sql.as_str()).load::<HourDb>(c).await)
        .expect("hour rollups");
    let stored_minutes: Vec<MinuteRow> = minutes
        .into_iter()
        .filter(|m| m.n != 0)
        .map(|m| MinuteRow {
            area_id: m.area_id,
            minute: m.minute_start,
            n: m.n,
            first_at: m.first_at,
            last_at: m.last_at,
        })
        .collect();
    let stored_hours: Vec<HourRow> = hours
        .into_iter()
        .filter(|h| h.n != 0)
        .map(|h| HourRow {
            area_id: h.area_id,
            hour: h.hour_start,
            product_id: h.product_id,
            n: h.n,
        })
        .collect();
    let (expected_minutes, expected_hours) = aggregate(raw);
    assert_eq!(
        stored_minutes, expected_minutes,
        "{when}: minute rollups differ from a raw recount"
    );
    assert_eq!(
        stored_hours, expected_hours,
        "{when}: hour rollups differ from a raw recount"
    );
    let days_sql = format!(
        "SELECT area_id, day_start, product_id, n FROM {} ORDER BY area_id, day_start, product_id",
        day_table(line_id).expect("table")
    );
    let stored_days: Vec<DayRow> =
        camet::with_conn!(conn, |c| diesel::sql_query(days_sql.as_str()).load::<DayDb>(c).await)
            .expect("day rollups")
            .into_iter()
            .filter(|d| d.n != 0)
            .map(|d| DayRow {
                area_id: d.area_id,
                day: d.day_start,
                product_id: d.product_id,
                n: d.n,
            })
            .collect();
    assert_eq!(
        stored_days,
        days_of(&expected_hours),
        "{when}: day rollups differ from a raw recount"
    );
    assert_gaps_equal_raw(conn, line_id, raw, when).await;
}

/// The stored gaps equal the gaps of the raw rows, per area, with the
/// line's stored floor (the default floor when none is stored yet).
pub async fn assert_gaps_equal_raw(conn: &mut DbConn, line_id: i32, raw: &[DetectionRow], when: &str) {
    use diesel_async::RunQueryDsl;
    let floor = camet::rollup::store::gap_floor(conn, line_id)
        .await
        .expect("gap floor")
        .unwrap_or_default();
    let sql = format!(
        "SELECT area_id, gap_start, gap_end FROM {} ORDER BY area_id, gap_start",
        gap_table(line_id).expect("table")
    );
    let stored: Vec<(i32, Gap)> = camet::with_conn!(conn, |c| diesel::sql_query(sql.as_str()).load::<GapDb>(c).await)
        .expect("stored gaps")
        .into_iter()
        .map(|g| (g.area_id, Gap::between(g.gap_start.and_utc(), g.gap_end.and_utc())))
        .collect();
    assert_eq!(
        stored,
        expected_gaps(raw, floor),
        "{when}: stored gaps differ from the raw rows' gaps"
    );
}

fn expected_gaps(raw: &[DetectionRow], floor: GapFloor) -> Vec<(i32, Gap)> {
    let mut by_area: std::collections::BTreeMap<i32, Vec<chrono::DateTime<chrono::Utc>>> = Default::default();
    for row in raw {
        by_area.entry(row.area_id).or_default().push(row.detected_at.and_utc());
    }
    by_area
        .into_iter()
        .flat_map(|(area, mut instants)| {
            instants.sort_unstable();
            gaps_between(&instants, floor).into_iter().map(move |g| (area, g))
        })
        .collect()
}
