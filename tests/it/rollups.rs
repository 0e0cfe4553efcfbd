//! Rollups are an implementation detail: every answer read through them must
//! equal the raw scan of the same request (semantics §8). A property test
//! drives random detections (ingested, written straight into the raw table
//! before and after the watermark, backfilled then refreshed) and random
//! requests (windows with edges inside minutes, DST nights, thresholds below
//! and above a minute, filters, bucket widths, empty lines) on both
//! backends, and compares rollup reads with raw-scan references.
//! HTTP tests cover the refresh endpoint, the watermark job and `data_as_of`.

use std::sync::atomic::{AtomicI32, Ordering};

use crate::common::{TestApp, backends};
use camet::analytics::buckets::{BucketInterval, generate_buckets};
use camet::analytics::downtime::{DowntimeThreshold, downtime_events};
use camet::analytics::interval::{Interval, IntervalSet};
use camet::db::DbConn;
use camet::db::line_tables::{DetectionRow, DetectionWriter, create_line_tables, detection_table};
use camet::detections::store::insert_detections;
use camet::detections::store::{self, DetectionFilter};
use camet::rollup::plan::Grain;
use camet::rollup::{read, store as rollups};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};

/// Hours of data around each anchor.
const SPAN_HOURS: i64 = 10;

/// Nights when clocks change, so local buckets are 23/25 h or skip labels.
fn anchors() -> Vec<(DateTime<Utc>, Tz)> {
    let utc = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().expect("valid anchor");
    vec![
        // Chile falls back at 2026-04-05 00:00 local (03:00 UTC).
        (utc(2026, 4, 4, 22), chrono_tz::America::Santiago),
        // Chile springs forward at 2026-09-06 00:00 local (04:00 UTC).
        (utc(2026, 9, 5, 23), chrono_tz::America::Santiago),
        // Madrid falls back at 2026-10-25 03:00 local (01:00 UTC).
        (utc(2026, 10, 24, 20), chrono_tz::Europe::Madrid),
        // Half-hour zone: local hours are not UTC hours.
        (utc(2026, 6, 1, 0), chrono_tz::Asia::Kolkata),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Path {
    /// Through the ingest path (rollups maintained in the same transaction).
    Ingested,
    /// Straight into the raw table before the watermark moves.
    DirectEarly,
    /// Straight into the raw table after the watermark moved, at or after it.
    DirectLate,
    /// Straight into the raw table before the watermark, then refreshed.
    Backfilled,
}

#[derive(Debug, Clone)]
struct Case {
    anchor: usize,
    rows: Vec<(i64, i32, i32, Path)>,
    watermark: Option<i64>,
    now: i64,
    windows: Vec<i64>,
    planned: Vec<i64>,
    threshold_ms: i64,
    floor_s: i64,
    far: Vec<(i64, i32, i32)>,
    products: Vec<i32>,
    areas: Vec<i32>,
    interval: BucketInterval,
    range: (i64, i64),
}

fn micros_in_span() -> impl Strategy<Value = i64> {
    let span = SPAN_HOURS * 3_600_000_000;
    prop_oneof![
        0..span,
        // Whole minutes and seconds, to hit unit edges exactly.
        (0..SPAN_HOURS * 60).prop_map(|m| m * 60_000_000),
        (0..SPAN_HOURS * 3600).prop_map(|s| s * 1_000_000),
    ]
}

/// Up to 200 days either side of the anchor: rows and plans far apart, so
/// ranges run from minutes to a year.
fn micros_far() -> impl Strategy<Value = i64> {
    let day = 86_400_000_000i64;
    prop_oneof![(-200 * day..-day), (SPAN_HOURS * 3_600_000_000 + day..200 * day),]
}

/// A window bound: mostly inside the span, sometimes far away.
fn bound() -> impl Strategy<Value = i64> {
    prop_oneof![6 => micros_in_span(), 1 => micros_far()]
}

fn path() -> impl Strategy<Value = Path> {
    prop_oneof![
        4 => Just(Path::Ingested),
        2 => Just(Path::DirectEarly),
        1 => Just(Path::DirectLate),
        1 => Just(Path::Backfilled),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let rows = proptest::collection::vec((micros_in_span(), 1..=3i32, 1..=4i32, path()), 0..600);
    (
        0..anchors().len(),
        rows,
        proptest::option::weighted(0.85, micros_in_span()),
        micros_in_span(),
        proptest::collection::vec(bound(), 0..8),
        proptest::collection::vec(bound(), 0..8),
        (
            prop_oneof![
                Just(2_000i64),
                Just(4_500),
                Just(5_000),
                Just(10_000),
                Just(30_000),
                Just(60_000),
                Just(61_500),
                Just(120_000),
                Just(300_000),
                Just(3_600_000)
            ],
            prop_oneof![Just(1i64), Just(5), Just(30), Just(90)],
            proptest::collection::vec((micros_far(), 1..=3i32, 1..=4i32), 0..6),
        ),
        proptest::collection::vec(1..=4i32, 0..3),
        proptest::collection::vec(1..=3i32, 0..2),
        prop_oneof![
            Just(BucketInterval::OneMinute),
            Just(BucketInterval::FifteenMinutes),
            Just(BucketInterval::OneHour),
            Just(BucketInterval::OneDay)
        ],
        (micros_in_span(), micros_in_span()),
    )
        .prop_map(
            |(
                anchor,
                rows,
                watermark,
                now,
                windows,
                planned,
                (threshold_ms, floor_s, far),
                products,
                areas,
                interval,
                range,
            )| Case {
                anchor,
                rows,
                watermark,
                now,
                windows,
                planned,
                threshold_ms,
                floor_s,
                far,
                products,
                areas,
                interval,
                range,
            },
        )
}

fn set_from(base: DateTime<Utc>, bounds: &[i64]) -> IntervalSet {
    let mut sorted = bounds.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    IntervalSet::from_intervals(sorted.chunks_exact(2).map(|p| {
        Interval::new(
            base + TimeDelta::microseconds(p[0]),
            base + TimeDelta::microseconds(p[1]),
        )
    }))
}

fn naive_windows(set: &IntervalSet) -> Vec<(chrono::NaiveDateTime, chrono::NaiveDateTime)> {
    set.intervals()
        .iter()
        .map(|i| (i.start.naive_utc(), i.end.naive_utc()))
        .collect()
}

async fn write_raw(conn: &mut DbConn, line_id: i32, rows: &[DetectionRow]) {
    let table = detection_table(line_id).expect("table");
    let refs: Vec<&DetectionRow> = rows.iter().collect();
    camet::with_conn!(conn, |c| c.insert_detection_rows(&table, &refs).await).expect("direct write");
}

static NEXT_LINE: AtomicI32 = AtomicI32::new(1);

/// Writes the case's rows, moves the watermark, and compares every rollup
/// read with its raw-scan reference.
async fn check(app: &TestApp, tenant_id: i32, case: Case) -> Result<(), TestCaseError> {
    let (base, tz) = anchors()[case.anchor];
    let at = |us: i64| base + TimeDelta::microseconds(us);
    let line_id = NEXT_LINE.fetch_add(1, Ordering::SeqCst);
    let pool = app.state.databases.tenant(tenant_id).await.expect("pool");
    let mut conn = pool.get().await.expect("conn");
    create_line_tables(&mut conn, line_id, base.naive_utc())
        .await
        .expect("tables");
    let now = at(case.now);
    let watermark = case.watermark.map(|w| camet::rollup::plan::Grain::Minute.floor(at(w)));
    let row = |(us, area, product, _): &(i64, i32, i32, Path)| DetectionRow {
        detected_at: at(*us).naive_utc(),
        area_id: *area,
        product_id: *product,
        external_id: None,
    };
    let of = |wanted: fn(&Path) -> bool| -> Vec<DetectionRow> {
        case.rows.iter().filter(|r| wanted(&r.3)).map(row).collect()
    };
    let floor = camet::analytics::GapFloor::from_seconds(case.floor_s).expect("floor");
    let far: Vec<DetectionRow> = case
        .far
        .iter()
        .map(|(us, area, product)| DetectionRow {
            detected_at: at(*us).naive_utc(),
            area_id: *area,
            product_id: *product,
            external_id: None,
        })
        .collect();
    // Phase 1: history, part ingested (with rows months away, so gaps and
    // ranges run up to a year), part written directly.
    let ingested = of(|p| matches!(p, Path::Ingested));
    let (early_ingest, late_ingest) = ingested.split_at(ingested.len() / 2);
    insert_detections(&mut conn, line_id, early_ingest, now.naive_utc(), floor)
        .await
        .expect("ingest");
    insert_detections(&mut conn, line_id, &far, now.naive_utc(), floor)
        .await
        .expect("ingest far rows");
    write_raw(&mut conn, line_id, &of(|p| matches!(p, Path::DirectEarly))).await;
    // Phase 2: the watermark job folds direct writes in.
    if let Some(mark) = watermark {
        rollups::rebuild(&mut conn, line_id, Interval::new(base, mark), Some(mark), now, floor)
            .await
            .expect("rebuild");
    }
    // Phase 3: more ingests in two batches (also before the watermark, into
    // stored gaps), direct writes past it, and a backfill before it followed
    // by a refresh of its range.
    let (late_a, late_b) = late_ingest.split_at(late_ingest.len() / 3);
    for batch in [late_a, late_b] {
        insert_detections(&mut conn, line_id, batch, now.naive_utc(), floor)
            .await
            .expect("ingest");
    }
    let late: Vec<DetectionRow> = of(|p| matches!(p, Path::DirectLate))
        .into_iter()
        .filter(|r| watermark.is_none_or(|m| r.detected_at >= m.naive_utc()))
        .collect();
    write_raw(&mut conn, line_id, &late).await;
    let backfill = of(|p| matches!(p, Path::Backfilled));
    write_raw(&mut conn, line_id, &backfill).await;
    if let (Some(first), Some(last)) = (
        backfill.iter().map(|r| r.detected_at).min(),
        backfill.iter().map(|r| r.detected_at).max(),
    ) {
        let span = Interval::new(first.and_utc(), last.and_utc() + TimeDelta::microseconds(1));
        rollups::rebuild(&mut conn, line_id, span, None, now, floor)
            .await
            .expect("refresh");
    }

    // Counts per product over random windows with edges inside minutes.
    let windows = set_from(base, &case.windows);
    let filter = DetectionFilter {
        within: naive_windows(&windows),
        product_ids: case.products.clone(),
        area_ids: case.areas.clone(),
    };
    // The case's own watermark, with the floor the line's gaps were built with.
    let rolled = rollups::Rolled {
        watermark,
        gap_floor: rollups::gap_floor(&mut conn, line_id).await.expect("gap floor"),
    };
    let fast = read::counts_by_product(&mut conn, line_id, &filter, rolled)
        .await
        .expect("rollup counts");
    let exact = store::counts_by_product(&mut conn, line_id, &filter)
        .await
        .expect("raw counts");
    prop_assert_eq!(fast, exact, "counts by product");

    // The grouped query's one-pass counts of many cells (overlapping ones
    // too) equal a raw count of each cell.
    let planned_cells = set_from(base, &case.planned);
    let cells: Vec<Vec<Interval>> = [
        windows.clone(),
        planned_cells.clone(),
        windows.intersection(&planned_cells),
        windows.union(&planned_cells),
    ]
    .iter()
    .map(|set| set.intervals().to_vec())
    .collect();
    let grouped = read::counts_of_cells(&mut conn, line_id, &cells, &filter, rolled)
        .await
        .expect("cell counts");
    for (cell, counted) in cells.iter().zip(grouped) {
        let raw = DetectionFilter {
            within: cell
                .iter()
                .map(|iv| (iv.start.naive_utc(), iv.end.naive_utc()))
                .collect(),
            ..filter.clone()
        };
        let mut exact: std::collections::BTreeMap<i32, std::collections::BTreeMap<i32, u64>> = Default::default();
        for (area, product, n) in store::counts_by_area_and_product(&mut conn, line_id, &raw)
            .await
            .expect("raw cell counts")
        {
            if n > 0 {
                *exact.entry(area).or_default().entry(product).or_insert(0) += n;
            }
        }
        prop_assert_eq!(counted, exact, "cell {:?}", cell);
    }

    // Gap analysis over a random planned set, clipped at now.
    let planned = set_from(base, &case.planned);
    let threshold = DowntimeThreshold::from_seconds_f64(case.threshold_ms as f64 / 1000.0).expect("threshold");
    let gaps = read::GapQuery {
        planned: &planned,
        threshold,
        now,
    };
    let fast = read::downtime_events(&mut conn, line_id, 3, &gaps, rolled, None)
        .await
        .expect("rollup events");
    // The same through minute rows read once for the whole span (as a KPI
    // request shares them with its chart).
    let whole = Interval::new(base - TimeDelta::days(1), base + TimeDelta::days(2));
    let shared = read::minute_rows(&mut conn, line_id, 3, whole, watermark)
        .await
        .expect("minute rows");
    let cached = read::downtime_events(&mut conn, line_id, 3, &gaps, rolled, Some(&shared))
        .await
        .expect("shared events");
    prop_assert_eq!(&fast, &cached, "downtime events from shared minute rows");
    let outputs = store::instants(
        &mut conn,
        line_id,
        &DetectionFilter {
            within: naive_windows(&planned),
            product_ids: Vec::new(),
            area_ids: vec![3],
        },
    )
    .await
    .expect("raw instants");
    let instants: Vec<DateTime<Utc>> = outputs.into_iter().map(|t| t.and_utc()).collect();
    prop_assert_eq!(
        fast,
        downtime_events(&planned, &instants, threshold, now),
        "downtime events"
    );

    // Local-time buckets over a random range (DST nights, half-hour zones).
    let (a, b) = (case.range.0.min(case.range.1), case.range.0.max(case.range.1));
    let range = Interval::new(at(a), at(b) + TimeDelta::minutes(1));
    let series = generate_buckets(case.interval, tz, &range, now).expect("buckets");
    let scope = series.range.map_or_else(IntervalSet::new, IntervalSet::from_interval);
    let filter = DetectionFilter {
        within: naive_windows(&scope),
        product_ids: case.products.clone(),
        area_ids: if case.areas.is_empty() {
            vec![3]
        } else {
            case.areas.clone()
        },
    };
    let fast = read::bucket_counts(&mut conn, line_id, &filter, &series, watermark, None)
        .await
        .expect("rollup buckets");
    let cached = read::bucket_counts(&mut conn, line_id, &filter, &series, watermark, Some(&shared))
        .await
        .expect("shared buckets");
    prop_assert_eq!(&fast, &cached, "bucket counts from shared minute rows");
    let raw: Vec<DateTime<Utc>> = store::instants(&mut conn, line_id, &filter)
        .await
        .expect("raw instants")
        .into_iter()
        .map(|t| t.and_utc())
        .collect();
    prop_assert_eq!(fast, series.count_sorted(&raw), "bucket counts");
    Ok(())
}

#[test]
fn rollup_answers_equal_raw_scan_answers() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for backend in backends() {
        let app = runtime.block_on(TestApp::start(backend));
        let tenant_id = runtime
            .block_on(camet::tenants::create(&app.state.databases, "Rollups", "UTC"))
            .expect("tenant");
        let cases = if backend == crate::common::Backend::Sqlite {
            48
        } else {
            24
        };
        let mut runner = TestRunner::new(RunnerConfig {
            cases,
            failure_persistence: None,
            ..RunnerConfig::default()
        });
        let result = runner.run(&case(), |case| runtime.block_on(check(&app, tenant_id, case)));
        if let Err(failure) = result {
            panic!("{backend:?}: {failure}");
        }
        runtime.block_on(app.stop());
    }
}

// ---- over HTTP -----------------------------------------------------------

struct Plant {
    token: String,
    tenant_id: i32,
    line_id: i64,
    input: i64,
    output: i64,
    product: i64,
}

async fn plant(app: &TestApp) -> Plant {
    let plant = app
        .line_plant(
            "Rollup",
            json!({"line_name": "R", "line_code": "R1", "downtime_threshold": 120}),
            &[json!({"product_name": "P", "product_code": "P", "production_std": 120, "product_weight": "1.5"})],
            &[json!({"shift_name": "Día", "days_implemented": ["Monday"], "start_time": "08:00", "end_time": "12:00", "is_overnight": false})],
        )
        .await;
    Plant {
        token: plant.token(),
        tenant_id: plant.tenant.tenant_id,
        line_id: plant.line_id,
        input: plant.input,
        output: plant.output,
        product: plant.products[0],
    }
}

async fn direct(app: &TestApp, p: &Plant, rows: &[(&str, i64)]) {
    let pool = app.state.databases.tenant(p.tenant_id).await.expect("pool");
    let mut conn = pool.get().await.expect("conn");
    let rows: Vec<DetectionRow> = rows
        .iter()
        .map(|(t, area)| DetectionRow {
            detected_at: chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").expect("instant"),
            area_id: i32::try_from(*area).expect("id"),
            product_id: i32::try_from(p.product).expect("id"),
            external_id: None,
        })
        .collect();
    write_raw(&mut conn, i32::try_from(p.line_id).expect("id"), &rows).await;
}

async fn summary(app: &TestApp, p: &Plant) -> Value {
    app.post_ok(
        &p.token,
        "/api/v1/metrics/summary",
        json!({"line_id": p.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watermark_job_and_the_refresh_endpoint_keep_kpis_exact() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        let d = |t: &str, area: i64| json!({"detected_at": format!("2026-11-16T{t}Z"), "area_id": area, "product_id": p.product});
        let at = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .expect("fixture instant")
                .to_utc()
        };
        // The line's first detections arrive through the API at 10:00:30:
        // ingest rolled them up, so the line's watermark starts there.
        app.state.clock.pin(at("2026-11-16T10:00:30Z"));
        app.post_ok(
            &p.token,
            &format!("/api/v1/lines/{}/detections", p.line_id),
            json!([
                d("08:00:10", p.input),
                d("08:00:20", p.output),
                d("09:30:05", p.input),
                d("09:30:45", p.output)
            ]),
        )
        .await;
        // Another system writes rows straight into the table, after the watermark.
        direct(
            &app,
            &p,
            &[("2026-11-16 10:15:30", p.input), ("2026-11-16 10:15:40", p.output)],
        )
        .await;
        // "Now" is the fixture's next morning, whatever day the test runs.
        let now = at("2026-11-17T06:00:30Z");
        app.state.clock.pin(now);
        let before = summary(&app, &p).await;
        assert_eq!(before["total_production"], 3, "{before}");
        // Rows after the watermark come from the raw table; the answer says
        // up to when direct writes are folded in.
        assert_eq!(before["data_as_of"], "2026-11-16T10:00:00+00:00", "{before}");

        // The job folds them into the rollups and sets the watermark.
        let advanced = crate::common::advance_rollups(&app.state, now).await.expect("advance");
        assert_eq!(advanced, 1, "the plant's one line");
        let after = summary(&app, &p).await;
        for field in [
            "total_production",
            "total_weight",
            "product_distribution",
            "downtime_count",
            "total_downtime_seconds",
        ] {
            assert_eq!(before[field], after[field], "{field}: raw {before} vs rollups {after}");
        }
        // data_as_of is now the watermark: now - settle (120 s), floored to the minute.
        assert_eq!(after["data_as_of"], "2026-11-17T05:58:00+00:00", "{after}");

        // A late backfill before the watermark needs a refresh.
        direct(&app, &p, &[("2026-11-16 11:00:00", p.input)]).await;
        let refreshed = app
            .post_ok(
                &p.token,
                &format!("/api/v1/lines/{}/rollups/refresh", p.line_id),
                json!({"start_date": "2026-11-16T10:59:00Z", "end_date": "2026-11-16T11:01:00Z"}),
            )
            .await;
        // Widened to whole UTC hours: 10:00-12:00 holds the two direct rows and the backfill.
        assert_eq!(refreshed["hours"], 2, "{refreshed}");
        assert_eq!(refreshed["detections"], 3, "{refreshed}");
        assert_eq!(refreshed["rebuilt_from"], "2026-11-16T10:00:00+00:00", "{refreshed}");
        assert_eq!(refreshed["rebuilt_to"], "2026-11-16T12:00:00+00:00", "{refreshed}");
        let last = summary(&app, &p).await;
        assert_eq!(last["total_production"], 4, "{last}");

        // Bad ranges and unknown lines are problems, viewers may not refresh.
        let bad = app
            .authed(
                reqwest::Method::POST,
                &format!("/api/v1/lines/{}/rollups/refresh", p.line_id),
                &p.token,
            )
            .json(&json!({"start_date": "2026-11-17T00:00:00Z", "end_date": "2026-11-16T00:00:00Z"}))
            .send()
            .await
            .expect("request");
        crate::common::expect_problem(bad, 422).await;
        let missing = app
            .authed(reqwest::Method::POST, "/api/v1/lines/9999/rollups/refresh", &p.token)
            .json(&json!({"start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"}))
            .send()
            .await
            .expect("request");
        crate::common::expect_problem(missing, 404).await;
        app.stop().await;
    }
}

/// A new line backfilled through the API is trusted from its first request:
/// ingest gives it a watermark (rollups and gaps hold all it stored), KPIs
/// read rollups and gaps at once, and the watermark job's first run checks
/// that the raw table holds nothing else and rebuilds only its trailing
/// window, not the history ingest already rolled up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_lines_first_backfill_is_trusted_at_once_and_not_rebuilt() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let p = plant(&app).await;
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-17T06:00:30Z")
            .expect("fixture instant")
            .to_utc();
        app.state.clock.pin(now);
        let d = |t: &str, area: i64| json!({"detected_at": format!("2026-11-16T{t}Z"), "area_id": area, "product_id": p.product});
        // Output every 4 s with one 40 s stop (10:00:00 → 10:00:40) inside the 08:00-12:00 shift.
        let mut items = Vec::new();
        let mut t = chrono::NaiveTime::from_hms_opt(8, 0, 0).expect("time");
        let end = chrono::NaiveTime::from_hms_opt(12, 0, 0).expect("time");
        while t < end {
            items.push(d(&t.format("%H:%M:%S").to_string(), p.output));
            items.push(d(&t.format("%H:%M:%S").to_string(), p.input));
            let step = if t == chrono::NaiveTime::from_hms_opt(10, 0, 0).expect("time") {
                40
            } else {
                4
            };
            t += TimeDelta::seconds(step);
        }
        let count = items.len() / 2;
        app.post_ok(
            &p.token,
            &format!("/api/v1/lines/{}/detections", p.line_id),
            Value::Array(items),
        )
        .await;
        let line = i32::try_from(p.line_id).expect("id");
        let pool = app.state.databases.tenant(p.tenant_id).await.expect("pool");
        let mut conn = pool.get().await.expect("conn");
        assert_eq!(
            rollups::watermark(&mut conn, line).await.expect("watermark"),
            Some(Grain::Minute.floor(now)),
            "{backend:?}: ingest set the watermark"
        );
        assert_eq!(
            rollups::gap_floor(&mut conn, line).await.expect("floor"),
            Some(app.state.config.gap_floor()),
            "{backend:?}"
        );
        // A 30 s threshold (under the minute rollup, over the gap floor):
        // the one 40 s stop; the shift's last output at 11:59:56 leaves 4 s.
        let oee = app
            .post_ok(
                &p.token,
                "/api/v1/metrics/oee",
                json!({"line_id": p.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z", "downtime_threshold": 30}),
            )
            .await;
        assert_eq!(oee["downtime_count"], 1, "{backend:?}: {oee}");
        assert_eq!(oee["total_downtime_seconds"], 40.0, "{backend:?}: {oee}");
        assert_eq!(oee["good_units"], count, "{backend:?}: {oee}");
        assert_eq!(oee["data_as_of"], "2026-11-17T06:00:00+00:00", "{backend:?}: {oee}");

        // The first run rebuilds its trailing window only (06:00 − 10 min,
        // whole hours: from 05:00), none of the backfilled day.
        let (mark, rebuilt) = rollups::advance(
            &mut conn,
            line,
            now,
            chrono::Duration::seconds(120),
            chrono::Duration::seconds(600),
            app.state.config.gap_floor(),
        )
        .await
        .expect("advance");
        assert_eq!(mark, Grain::Minute.floor(now - TimeDelta::seconds(120)), "{backend:?}");
        assert_eq!(
            rebuilt.start,
            Some(
                chrono::DateTime::parse_from_rfc3339("2026-11-17T05:00:00Z")
                    .expect("t")
                    .to_utc()
            ),
            "{backend:?}: {rebuilt:?}"
        );
        assert_eq!(rebuilt.rows, 0, "{backend:?}: {rebuilt:?}");
        drop(conn);
        let again = app
            .post_ok(
                &p.token,
                "/api/v1/metrics/oee",
                json!({"line_id": p.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z", "downtime_threshold": 30}),
            )
            .await;
        for field in [
            "downtime_count",
            "total_downtime_seconds",
            "good_units",
            "total_production",
        ] {
            assert_eq!(oee[field], again[field], "{backend:?}: {field}");
        }
        app.stop().await;
    }
}
