//! Tests behind claims the documents make and no other test checked (issue
//! 10 item 6), each on both backends:
//! - concurrent ingest of batches that share `external_id`s stores each event
//!   once (docs/detections.md, "Idempotent on `external_id`");
//! - concurrent rollup refreshes, and ingest while a rebuild runs, leave the
//!   rollups equal to a recount of the raw rows;
//! - the watermark lifecycle (advance twice, the trailing window, a refresh
//!   longer than a day).
//!
//! Time is pinned (`state.clock`), so nothing depends on today's date; loops
//! are bounded in count, and no assertion is about wall-clock time.

use std::collections::HashSet;
use std::sync::Arc;

use camet::db::DbConn;
use camet::db::line_tables::DetectionRow;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::common::rollup_check::{self, assert_rollups_equal_raw};
use crate::common::{LinePlant, TestApp, backends};

/// The fixed "now" of these tests: the morning after the fixture days.
fn pinned_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-18T06:00:00Z")
        .expect("fixture instant")
        .to_utc()
}

/// Midnight UTC starting 2026-11-16 (a Monday), the first fixture day.
fn day_start() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 11, 16)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("date")
}

async fn plant(app: &TestApp, name: &str) -> LinePlant {
    app.line_plant(
        name,
        json!({"line_name": "L", "line_code": "L1", "downtime_threshold": 300}),
        &[json!({"product_name": "Producto A", "product_code": "A", "production_std": 100, "product_weight": "2.5"})],
        &[],
    )
    .await
}

/// Event `n` of the test: a fixed instant on the first day (13 s apart from
/// 06:00 UTC on), alternating areas; the same `n` always gives the same event.
fn event(p: &LinePlant, n: usize) -> Value {
    let at = day_start() + TimeDelta::hours(6) + TimeDelta::seconds(i64::try_from(n * 13).expect("small"));
    json!({
        "detected_at": format!("{}Z", at.format("%Y-%m-%dT%H:%M:%S")),
        "area_id": if n.is_multiple_of(2) { p.input } else { p.output },
        "product_id": p.products[0],
        "external_id": format!("ev-{n}"),
    })
}

/// Every raw detection of the line over the fixture days.
async fn raw_rows(conn: &mut DbConn, line_id: i32) -> Vec<DetectionRow> {
    rollup_check::raw_rows(
        conn,
        line_id,
        day_start() - TimeDelta::days(60),
        day_start() + TimeDelta::days(60),
    )
    .await
}

/// Each external id appears on exactly one raw row; returns the set of them.
fn unique_external_ids(raw: &[DetectionRow], when: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for row in raw {
        let id = row.external_id.clone().expect("every test row has an external id");
        assert!(seen.insert(id.clone()), "{when}: {id} stored twice");
    }
    seen
}

async fn tenant_conn(app: &TestApp, p: &LinePlant) -> DbConn {
    let pool = app.state.databases.tenant(p.tenant.tenant_id).await.expect("pool");
    pool.get().await.expect("conn")
}

/// POSTs `body` and returns (status, JSON body).
async fn post(app: &TestApp, token: &str, path: &str, body: &Value) -> (u16, Value) {
    let response = app
        .authed(reqwest::Method::POST, path, token)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Concurrent clients each send the same batches.
const WRITERS: usize = 6;
/// Ids of writer `w` are `w*STRIDE .. w*STRIDE+SPAN`: neighbours share
/// `SPAN - STRIDE` of them, and every id except the first/last strides is
/// shared by two writers.
const STRIDE: usize = 25;
const SPAN: usize = 60;
/// Each writer sends its batch this many times (a retry after a timeout).
const ROUNDS: usize = 2;

/// The stored result: one row per external id, rollups equal raw, the
/// answers' `inserted` adding up to the distinct ids. A 409 Conflict (which
/// docs/detections.md does not list for ingest) is retried by the client, up
/// to 5 times, as a gateway would.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_sharing_external_ids_store_each_event_once() {
    concurrent_shared_ids(false).await;
}

/// The same, with no 409/503 allowed: a batch that did nothing wrong is
/// stored, however many writers share its ids. (It failed on MariaDB while
/// ingest retried a conflicting transaction only once: the retry collided
/// again, giving 409 "Duplicate entry 'ev-N' for key 'PRIMARY'" or a 503.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_batches_sharing_external_ids_never_answer_409_or_503() {
    concurrent_shared_ids(true).await;
}

async fn concurrent_shared_ids(strict: bool) {
    for backend in backends() {
        let app = Arc::new(TestApp::start(backend).await);
        app.state.clock.pin(pinned_now());
        let p = Arc::new(plant(&app, "Concurrent").await);
        let path = format!("/api/v1/lines/{}/detections", p.line_id);
        let barrier = Arc::new(tokio::sync::Barrier::new(WRITERS));
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (app, p, path, barrier) = (app.clone(), p.clone(), path.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                // Inside one batch an id repeats too (the first of the span).
                let mut items: Vec<Value> = (w * STRIDE..w * STRIDE + SPAN).map(|n| event(&p, n)).collect();
                items.push(event(&p, w * STRIDE));
                let body = Value::Array(items);
                barrier.wait().await;
                let mut answers = Vec::new();
                let mut conflicts = 0;
                for _ in 0..ROUNDS {
                    let mut answer = post(&app, &p.token(), &path, &body).await;
                    for _ in 0..5 {
                        if strict || (answer.0 != 409 && answer.0 != 503) {
                            break;
                        }
                        conflicts += 1;
                        answer = post(&app, &p.token(), &path, &body).await;
                    }
                    answers.push(answer);
                }
                (answers, conflicts)
            }));
        }
        let mut inserted = 0;
        let mut conflicts = 0;
        for task in tasks {
            let (answers, c) = task.await.expect("writer task");
            conflicts += c;
            for (status, body) in answers {
                assert_eq!(status, 200, "{backend:?}: every batch is accepted: {body}");
                assert_eq!(body["received"], SPAN + 1, "{backend:?}: {body}");
                let (i, d) = (
                    body["inserted"].as_u64().expect("inserted"),
                    body["duplicates"].as_u64().expect("duplicates"),
                );
                assert_eq!(i + d, (SPAN + 1) as u64, "{backend:?}: {body}");
                inserted += i;
            }
        }
        if conflicts > 0 {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "{backend:?}: {conflicts} ingest answers were 409/503 and retried by the client"
            );
        }
        let distinct = (WRITERS - 1) * STRIDE + SPAN;
        assert_eq!(
            inserted, distinct as u64,
            "{backend:?}: the answers claim each distinct event inserted exactly once"
        );

        let mut conn = tenant_conn(&app, &p).await;
        let raw = raw_rows(&mut conn, i32::try_from(p.line_id).expect("id")).await;
        assert_eq!(raw.len(), distinct, "{backend:?}: one row per external id");
        let ids = unique_external_ids(&raw, &format!("{backend:?}"));
        let expected: HashSet<String> = (0..distinct).map(|n| format!("ev-{n}")).collect();
        assert_eq!(ids, expected, "{backend:?}: exactly the sent ids");
        // Each row is the event its id names (no row took another's values).
        for row in &raw {
            let n: usize = row
                .external_id
                .as_deref()
                .and_then(|id| id.strip_prefix("ev-")?.parse().ok())
                .expect("id");
            let at = day_start() + TimeDelta::hours(6) + TimeDelta::seconds(i64::try_from(n * 13).expect("small"));
            assert_eq!(row.detected_at, at, "{backend:?}: ev-{n}");
        }
        assert_rollups_equal_raw(
            &mut conn,
            i32::try_from(p.line_id).expect("id"),
            &raw,
            &format!("{backend:?} after concurrent ingest"),
        )
        .await;
        drop(conn);

        // Over HTTP: the summary counts the input area's events (even n) once.
        let (status, summary) = post(
            &app,
            &p.token(),
            "/api/v1/metrics/summary",
            &json!({"line_id": p.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"}),
        )
        .await;
        assert_eq!(status, 200, "{summary}");
        assert_eq!(
            summary["total_production"],
            distinct.div_ceil(2),
            "{backend:?}: {summary}"
        );
        drop(p);
        Arc::into_inner(app).expect("tasks are done").stop().await;
    }
}

/// Refreshes running at once, and ingest while a rebuild runs: afterwards
/// the rollups equal a raw recount and the KPIs count every row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_and_ingest_during_a_rebuild_keep_rollups_exact() {
    const BATCHES: usize = 8;
    const ROWS: usize = 50;
    const REFRESHES: usize = 3;
    for backend in backends() {
        let app = Arc::new(TestApp::start(backend).await);
        app.state.clock.pin(pinned_now());
        let p = Arc::new(plant(&app, "Rebuild").await);
        let line = i32::try_from(p.line_id).expect("id");
        let ingest = format!("/api/v1/lines/{}/detections", p.line_id);
        let refresh = format!("/api/v1/lines/{}/rollups/refresh", p.line_id);
        // A first half, then the watermark moves past it so rollups are in use.
        let first: Vec<Value> = (0..BATCHES * ROWS / 2).map(|n| event(&p, n * 2)).collect();
        app.post_ok(&p.token(), &ingest, Value::Array(first)).await;
        let advanced = crate::common::advance_rollups(&app.state, pinned_now())
            .await
            .expect("advance");
        assert_eq!(advanced, 1, "{backend:?}: the one line");

        // Now, at once: refreshes of both days, ingest batches (odd events,
        // in the same hours the rebuild rewrites), and a watermark advance.
        let barrier = Arc::new(tokio::sync::Barrier::new(REFRESHES + BATCHES + 1));
        let mut refreshes = Vec::new();
        for _ in 0..REFRESHES {
            let (app, p, refresh, barrier) = (app.clone(), p.clone(), refresh.clone(), barrier.clone());
            refreshes.push(tokio::spawn(async move {
                barrier.wait().await;
                post(
                    &app,
                    &p.token(),
                    &refresh,
                    &json!({"start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-18T00:00:00Z"}),
                )
                .await
            }));
        }
        let mut writers = Vec::new();
        for b in 0..BATCHES {
            let (app, p, ingest, barrier) = (app.clone(), p.clone(), ingest.clone(), barrier.clone());
            writers.push(tokio::spawn(async move {
                let items: Vec<Value> = (b * ROWS / 2..(b + 1) * ROWS / 2)
                    .map(|n| event(&p, n * 2 + 1))
                    .collect();
                barrier.wait().await;
                post(&app, &p.token(), &ingest, &Value::Array(items)).await
            }));
        }
        let job = {
            let (app, barrier) = (app.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                crate::common::advance_rollups(&app.state, pinned_now() + TimeDelta::minutes(5)).await
            })
        };
        for task in refreshes {
            let (status, body) = task.await.expect("refresh task");
            assert_eq!(status, 200, "{backend:?}: refresh {body}");
            assert_eq!(body["hours"], 48, "{backend:?}: two whole days {body}");
        }
        for task in writers {
            let (status, body) = task.await.expect("writer task");
            assert_eq!(status, 200, "{backend:?}: ingest {body}");
            assert_eq!(
                body,
                json!({"received": ROWS / 2, "inserted": ROWS / 2, "duplicates": 0}),
                "{backend:?}"
            );
        }
        assert_eq!(job.await.expect("job task").expect("advance"), 1, "{backend:?}");

        let mut conn = tenant_conn(&app, &p).await;
        let raw = raw_rows(&mut conn, line).await;
        assert_eq!(raw.len(), BATCHES * ROWS, "{backend:?}: every row stored once");
        unique_external_ids(&raw, &format!("{backend:?}"));
        assert_rollups_equal_raw(&mut conn, line, &raw, &format!("{backend:?} after the race")).await;
        drop(conn);
        // Even events went to the input area: half of all.
        let (status, summary) = post(
            &app,
            &p.token(),
            "/api/v1/metrics/summary",
            &json!({"line_id": p.line_id, "start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"}),
        )
        .await;
        assert_eq!(status, 200, "{summary}");
        assert_eq!(
            summary["total_production"],
            BATCHES * ROWS / 2,
            "{backend:?}: {summary}"
        );
        drop(p);
        Arc::into_inner(app).expect("tasks are done").stop().await;
    }
}

/// Writes rows straight into the line's raw table (as another system may),
/// bypassing the rollups: `(instant "YYYY-MM-DD HH:MM:SS", area)`.
async fn write_direct(app: &TestApp, p: &LinePlant, rows: &[(&str, i64)]) {
    use camet::db::line_tables::{DetectionWriter, detection_table};
    let mut conn = tenant_conn(app, p).await;
    let rows: Vec<DetectionRow> = rows
        .iter()
        .map(|(t, area)| DetectionRow {
            detected_at: NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").expect("instant"),
            area_id: i32::try_from(*area).expect("id"),
            product_id: i32::try_from(p.products[0]).expect("id"),
            external_id: None,
        })
        .collect();
    let refs: Vec<&DetectionRow> = rows.iter().collect();
    let table = detection_table(i32::try_from(p.line_id).expect("id")).expect("table");
    camet::with_conn!(&mut conn, |c| c.insert_detection_rows(&table, &refs).await).expect("direct write");
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("instant").to_utc()
}

async fn watermark_of(app: &TestApp, p: &LinePlant) -> Option<DateTime<Utc>> {
    let mut conn = tenant_conn(app, p).await;
    camet::rollup::store::watermark(&mut conn, i32::try_from(p.line_id).expect("id"))
        .await
        .expect("watermark")
}

/// Runs the watermark job at `now` (clock pinned there too); one line.
async fn advance_at(app: &TestApp, now: DateTime<Utc>) {
    app.state.clock.pin(now);
    let advanced = crate::common::advance_rollups(&app.state, now).await.expect("advance");
    assert_eq!(advanced, 1, "the plant's one line advanced");
}

/// Whether the stored rollups equal a raw recount right now.
async fn check_rollups(app: &TestApp, p: &LinePlant, when: &str) -> usize {
    let line = i32::try_from(p.line_id).expect("id");
    let mut conn = tenant_conn(app, p).await;
    let raw = raw_rows(&mut conn, line).await;
    assert_rollups_equal_raw(&mut conn, line, &raw, when).await;
    raw.len()
}

/// A fresh token of the plant's admin: tokens expire by the pinned clock,
/// which these tests move by hours.
async fn fresh_token(app: &TestApp, name: &str) -> String {
    app.login_ok(&format!("{}_admin", name.to_lowercase())).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned()
}

async fn input_count(app: &TestApp, p: &LinePlant, start: &str, end: &str) -> Value {
    let summary = app
        .post_ok(
            &fresh_token(app, "Watermark").await,
            "/api/v1/metrics/summary",
            json!({"line_id": p.line_id, "start_date": start, "end_date": end}),
        )
        .await;
    summary["total_production"].clone()
}

/// The watermark lifecycle with the default settle (120 s) and trailing
/// window (600 s): the first run takes the whole history, a second run at the
/// same instant is a no-op, a later one moves exactly to `now − settle`
/// floored to the minute; a late direct write inside the trailing window is
/// folded in by the next run, one older than it is not (until a refresh, as
/// docs/detections.md says); and a refresh longer than a day (rebuilt in
/// day-long steps) counts every row once, rows on the step edges included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watermark_advances_exactly_keeps_its_trailing_window_and_multi_day_refreshes_are_exact() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        app.state.clock.pin(utc("2026-11-17T06:00:30Z"));
        let p = plant(&app, "Watermark").await;
        let (i, o) = (p.input, p.output);
        app.post_ok(
            &p.token(),
            &format!("/api/v1/lines/{}/detections", p.line_id),
            known_day_detections_for(&p),
        )
        .await;
        // The line's first ingest gave it a provisional watermark (its
        // rollups hold everything it stored) at the ingest's minute.
        assert_eq!(
            watermark_of(&app, &p).await,
            Some(utc("2026-11-17T06:00:00Z")),
            "{backend:?}: set by ingest"
        );
        // Written before any run: the first run must notice it and take it in.
        write_direct(&app, &p, &[("2026-11-16 13:00:00", i), ("2026-11-16 13:00:05", o)]).await;

        // First run: the raw table holds rows the rollups lack, so the whole
        // history; watermark = 06:00:30 − 120 s, floored.
        advance_at(&app, utc("2026-11-17T06:00:30Z")).await;
        assert_eq!(
            watermark_of(&app, &p).await,
            Some(utc("2026-11-17T05:58:00Z")),
            "{backend:?}"
        );
        assert_eq!(check_rollups(&app, &p, &format!("{backend:?} first run")).await, 11);
        // Same instant again: nothing moves, nothing changes.
        advance_at(&app, utc("2026-11-17T06:00:30Z")).await;
        assert_eq!(
            watermark_of(&app, &p).await,
            Some(utc("2026-11-17T05:58:00Z")),
            "{backend:?}"
        );
        check_rollups(&app, &p, &format!("{backend:?} second run")).await;
        // An hour later: exactly 07:07:30 − 120 s = 07:05:30 → 07:05:00.
        advance_at(&app, utc("2026-11-17T07:07:30Z")).await;
        assert_eq!(
            watermark_of(&app, &p).await,
            Some(utc("2026-11-17T07:05:00Z")),
            "{backend:?}"
        );
        check_rollups(&app, &p, &format!("{backend:?} third run")).await;

        // Rebuilds are widened to whole hours, so the trailing window shows
        // only across an hour edge. 06:57 is 8 min before the watermark
        // (07:05): the next run rebuilds from 07:05 − 10 min = 06:55, so from
        // 06:00, and takes it in (without the window it would start at 07:00).
        write_direct(&app, &p, &[("2026-11-17 06:57:00", i)]).await;
        advance_at(&app, utc("2026-11-17T07:17:30Z")).await;
        assert_eq!(
            watermark_of(&app, &p).await,
            Some(utc("2026-11-17T07:15:00Z")),
            "{backend:?}"
        );
        check_rollups(
            &app,
            &p,
            &format!("{backend:?} after a write inside the trailing window"),
        )
        .await;
        // 06:50 is 25 min before the watermark (07:15): the next run starts
        // at 07:05 → 07:00 and misses it, until a refresh.
        write_direct(&app, &p, &[("2026-11-17 06:50:00", i)]).await;
        advance_at(&app, utc("2026-11-17T07:27:30Z")).await;
        assert_eq!(
            watermark_of(&app, &p).await,
            Some(utc("2026-11-17T07:25:00Z")),
            "{backend:?}"
        );
        // The hour 06:00-07:00 is wholly before the watermark: read from the
        // hour rollup, which holds 06:57 and not 06:50.
        let day2 = ("2026-11-17T00:00:00Z", "2026-11-17T07:00:00Z");
        assert_eq!(
            input_count(&app, &p, day2.0, day2.1).await,
            1,
            "{backend:?}: a write older than the trailing window is not seen before a refresh"
        );
        let refreshed = app
            .post_ok(
                &fresh_token(&app, "Watermark").await,
                &format!("/api/v1/lines/{}/rollups/refresh", p.line_id),
                json!({"start_date": "2026-11-17T06:30:00Z", "end_date": "2026-11-17T06:59:00Z"}),
            )
            .await;
        assert_eq!(refreshed["hours"], 1, "{refreshed}");
        assert_eq!(refreshed["detections"], 2, "{refreshed}");
        assert_eq!(refreshed["data_as_of"], "2026-11-17T07:25:00+00:00", "{refreshed}");
        assert_eq!(input_count(&app, &p, day2.0, day2.1).await, 2, "{backend:?}");
        check_rollups(&app, &p, &format!("{backend:?} after the refresh")).await;

        // Backfill over three days, with rows on the day-long step edges and
        // on the last microsecond-free second before each, then one refresh
        // of 72 hours.
        let backfill = [
            ("2026-11-13 00:00:00", i),
            ("2026-11-13 23:59:59", i),
            ("2026-11-14 00:00:00", i),
            ("2026-11-14 12:00:00", o),
            ("2026-11-14 23:59:59", i),
            ("2026-11-15 00:00:00", i),
            ("2026-11-15 23:59:59", i),
        ];
        write_direct(&app, &p, &backfill).await;
        assert_eq!(
            input_count(&app, &p, "2026-11-13T00:00:00Z", "2026-11-16T00:00:00Z").await,
            0,
            "{backend:?}: before the refresh the whole days are read from empty rollups"
        );
        let refreshed = app
            .post_ok(
                &fresh_token(&app, "Watermark").await,
                &format!("/api/v1/lines/{}/rollups/refresh", p.line_id),
                json!({"start_date": "2026-11-13T00:00:00Z", "end_date": "2026-11-16T00:00:00Z"}),
            )
            .await;
        assert_eq!(refreshed["hours"], 72, "{backend:?}: {refreshed}");
        assert_eq!(refreshed["detections"], 7, "{backend:?}: {refreshed}");
        assert_eq!(refreshed["rebuilt_from"], "2026-11-13T00:00:00+00:00", "{refreshed}");
        assert_eq!(refreshed["rebuilt_to"], "2026-11-16T00:00:00+00:00", "{refreshed}");
        assert_eq!(
            input_count(&app, &p, "2026-11-13T00:00:00Z", "2026-11-16T00:00:00Z").await,
            6,
            "{backend:?}: six input rows over the three days"
        );
        assert_eq!(
            check_rollups(&app, &p, &format!("{backend:?} after a 72 h refresh")).await,
            11 + 2 + 7,
            "{backend:?}: 9 ingested, 2 + 2 direct, 7 backfilled"
        );
        app.stop().await;
    }
}

/// The known day of tests/it/kpi.rs on this plant's areas, product A only.
fn known_day_detections_for(p: &LinePlant) -> Value {
    crate::common::known_day_detections(p.input, p.output, p.products[0], p.products[0])
}

/// A Madrid tenant with a Saturday overnight shift 22:00-06:00 local on the
/// night clocks fall back (2026-10-25 03:00 CEST → 02:00 CET, at 01:00 UTC),
/// end to end over HTTP: local instants with and without offsets, OEE,
/// summary and downtime. Figures by hand:
/// - planned: Sat 22:00 CEST = 20:00 UTC to Sun 06:00 CET = 05:00 UTC, 9 h
///   (not 8) = 32 400 s;
/// - outputs (UTC) 20:30, 22:00, 00:30 (sent as the ambiguous local
///   "02:30" without offset: the earlier, CEST, instant), 01:20 (sent as the
///   second 02:20, "+01:00"), 04:30; one more at 05:30, after the shift;
/// - threshold 3 600 s, gaps longer than it inside planned time: 20:30-22:00
///   (5 400 s), 22:00-00:30 (9 000 s), 01:20-04:30 (11 400 s); 20:00-20:30,
///   00:30-01:20 and 04:30-05:00 are shorter: 3 events, 25 800 s; operating
///   32 400 − 25 800 = 6 600 s;
/// - inputs: 11 inside the shift, one at 19:00 UTC before it and one at
///   05:30 after it (13 in the whole range, 11 counted by OEE);
/// - availability 6 600 / 32 400 = 20.370..% → 20.37; performance: ideal
///   11 × 36 s = 396 s over 6 600 s = 6.00 %; quality 5 / 11 = 45.4545..%
///   → 45.45; OEE 396 × 5 / (32 400 × 11) = 0.5555..% → 0.56; weight
///   5 × 2.5 = 12.5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_madrid_overnight_shift_across_the_fall_back_night_over_http() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        app.state.clock.pin(utc("2026-10-26T00:00:00Z"));
        let tenant_id = camet::tenants::create(&app.state.databases, "Madrid DST", "Europe/Madrid")
            .await
            .expect("tenant");
        app.create_user(tenant_id, "madrid_admin", camet::auth::roles::Role::Admin)
            .await;
        let token = fresh_token(&app, "Madrid").await;
        let id = |v: Value, key: &str| v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v}"));
        let (line, input, output) = app
            .line_with_areas(
                &token,
                json!({"line_name": "M", "line_code": "M1", "downtime_threshold": 3600}),
            )
            .await;
        let product = id(
            app.post_ok(
                &token,
                "/api/v1/production/products",
                json!({"product_name": "P", "product_code": "P", "production_std": 100, "product_weight": "2.5"}),
            )
            .await,
            "product_id",
        );
        let shift = id(
            app.post_ok(
                &token,
                "/api/v1/production/shifts",
                json!({"shift_name": "Noche", "days_implemented": ["sábado"], "start_time": "22:00", "end_time": "06:00", "is_overnight": true}),
            )
            .await,
            "shift_id",
        );
        let d = |at: &str, area: i64| json!({"detected_at": at, "area_id": area, "product_id": product});
        let mut items = vec![
            d("2026-10-24T22:30:00+02:00", output),
            d("2026-10-25T00:00:00+02:00", output),
            // Ambiguous local time without offset: the earlier (CEST) instant, 00:30 UTC.
            d("2026-10-25T02:30:00", output),
            // The second 02:20 of the night, CET: 01:20 UTC.
            d("2026-10-25T02:20:00+01:00", output),
            d("2026-10-25T05:30:00+01:00", output),
            d("2026-10-25T06:30:00+01:00", output),
            // Inputs outside the shift: 21:00 CEST (19:00 UTC), 06:30 CET (05:30 UTC).
            d("2026-10-24T21:00:00+02:00", input),
            d("2026-10-25T05:30:00Z", input),
        ];
        // Eleven inputs inside the shift, every 40 min from 20:10 UTC (last 02:50 UTC).
        for k in 0..11 {
            let at = utc("2026-10-24T20:10:00Z") + TimeDelta::minutes(40 * k);
            items.push(d(&at.to_rfc3339(), input));
        }
        let stored = app
            .post_ok(&token, &format!("/api/v1/lines/{line}/detections"), Value::Array(items))
            .await;
        assert_eq!(stored["inserted"], 19, "{backend:?}: {stored}");

        // The range in local time without offsets: Sat 12:00 CEST to Sun
        // 12:00 CET, 25 h.
        let range = json!({"line_id": line, "start_date": "2026-10-24T12:00:00", "end_date": "2026-10-25T12:00:00"});
        let oee = app.post_ok(&token, "/api/v1/metrics/oee", range.clone()).await;
        assert_eq!(oee["planned_time_seconds"], 32400.0, "{backend:?}: {oee}");
        assert_eq!(oee["downtime_count"], 3, "{backend:?}: {oee}");
        assert_eq!(oee["total_downtime_seconds"], 25800.0, "{backend:?}: {oee}");
        assert_eq!(oee["operating_time_seconds"], 6600.0, "{backend:?}: {oee}");
        assert_eq!(oee["availability"], 20.37, "{backend:?}: {oee}");
        assert_eq!(oee["total_production"], 11, "{backend:?}: {oee}");
        assert_eq!(oee["good_units"], 5, "{backend:?}: {oee}");
        assert_eq!(oee["rejected_units"], 6, "{backend:?}: {oee}");
        assert_eq!(oee["performance"], 6.0, "{backend:?}: {oee}");
        assert_eq!(oee["quality"], 45.45, "{backend:?}: {oee}");
        assert_eq!(oee["oee"], 0.56, "{backend:?}: {oee}");
        assert_eq!(oee["total_weight"], 12.5, "{backend:?}: {oee}");
        // The same through the shift filter.
        let mut by_shift = range.clone();
        by_shift["shift_id"] = json!(shift);
        let shifted = app.post_ok(&token, "/api/v1/metrics/oee", by_shift.clone()).await;
        for field in ["planned_time_seconds", "total_production", "good_units", "oee"] {
            assert_eq!(shifted[field], oee[field], "{backend:?}: {field}: {shifted}");
        }
        // Summary: the whole range counts all 13 inputs; by shift only 11.
        let summary = app.post_ok(&token, "/api/v1/metrics/summary", range.clone()).await;
        assert_eq!(summary["total_production"], 13, "{backend:?}: {summary}");
        let summary = app.post_ok(&token, "/api/v1/metrics/summary", by_shift).await;
        assert_eq!(summary["total_production"], 11, "{backend:?}: {summary}");

        // The stops, in the tenant's offsets: the second straddles the change.
        let events: Value = app
            .authed(
                reqwest::Method::GET,
                &format!(
                    "/api/v1/downtime?line_id={line}&start_date=2026-10-24T12:00:00%2B02:00&end_date=2026-10-25T12:00:00%2B01:00"
                ),
                &token,
            )
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(
            events["events"],
            json!([
                {"start": "2026-10-24T22:30:00+02:00", "end": "2026-10-25T00:00:00+02:00", "duration_seconds": 5400.0, "ongoing": false},
                {"start": "2026-10-25T00:00:00+02:00", "end": "2026-10-25T02:30:00+02:00", "duration_seconds": 9000.0, "ongoing": false},
                {"start": "2026-10-25T02:20:00+01:00", "end": "2026-10-25T05:30:00+01:00", "duration_seconds": 11400.0, "ongoing": false},
            ]),
            "{backend:?}: {events}"
        );
        app.stop().await;
    }
}

/// Partition retention (docs/configuration.md, `CAMET_PARTITION_RETENTION_MONTHS`)
/// drops whole months of raw rows on MySQL/MariaDB; the rollups of those
/// months must go with them, so KPIs never count rows that no longer exist.
/// With a 1-month retention, maintenance on 2026-12-10 drops October
/// (bound 2026-11-01 ≤ cutoff 2026-11-01) and keeps November. SQLite is not
/// partitioned: there maintenance changes nothing, and October still counts.
///
/// The line's detection table is re-created with partitions laid out from
/// the pinned date, because line creation lays them out from the wall clock
/// (`now_naive()` in src/plant/service.rs), which would tie the test to today.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_retention_drops_the_rollups_of_the_months_it_drops() {
    use camet::db::line_tables::{create_line_tables, detection_table};
    for backend in backends() {
        let app = TestApp::start_with(backend, &[("CAMET_PARTITION_RETENTION_MONTHS", "1")]).await;
        app.state.clock.pin(pinned_now());
        let p = plant(&app, "Retention").await;
        let line = i32::try_from(p.line_id).expect("id");
        {
            use diesel_async::SimpleAsyncConnection;
            let mut conn = tenant_conn(&app, &p).await;
            let table = detection_table(line).expect("table");
            camet::with_conn!(&mut conn, |c| c.batch_execute(&format!("DROP TABLE {table}")).await)
                .expect("drop the wall-clock table");
            create_line_tables(&mut conn, line, pinned_now().naive_utc())
                .await
                .expect("tables laid out from the pinned date");
        }
        let october = |t: &str, area: i64| json!({"detected_at": format!("2026-10-20T{t}Z"), "area_id": area, "product_id": p.products[0]});
        let mut items = vec![
            october("08:00:00", p.input),
            october("08:05:00", p.input),
            october("08:06:00", p.output),
        ];
        items.extend(known_day_detections_for(&p).as_array().cloned().unwrap_or_default());
        app.post_ok(
            &p.token(),
            &format!("/api/v1/lines/{}/detections", p.line_id),
            Value::Array(items),
        )
        .await;
        advance_at(&app, utc("2026-11-18T06:00:30Z")).await;
        let october_range = ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z");
        let november_range = ("2026-11-01T00:00:00Z", "2026-11-18T00:00:00Z");
        assert_eq!(input_count_as(&app, &p, october_range).await, 2, "{backend:?}");
        assert_eq!(input_count_as(&app, &p, november_range).await, 5, "{backend:?}");
        assert_eq!(
            check_rollups(&app, &p, &format!("{backend:?} before maintenance")).await,
            12
        );

        let today = NaiveDate::from_ymd_opt(2026, 12, 10).expect("date");
        let report = camet::plant::partitions::maintain_tenant(&app.state.plant(), p.tenant.tenant_id, today)
            .await
            .expect("maintain");
        assert!(report.ran, "{backend:?}: {report:?}");
        let table = detection_table(line).expect("table");
        match backend {
            crate::common::Backend::Mysql => {
                assert_eq!(report.dropped, vec![format!("{table}.p202610")], "{report:?}");
                assert_eq!(report.created, vec![format!("{table}.p202703")], "{report:?}");
                assert_eq!(input_count_as(&app, &p, october_range).await, 0, "{backend:?}");
                assert_eq!(input_count_as(&app, &p, november_range).await, 5, "{backend:?}");
                assert_eq!(
                    check_rollups(&app, &p, &format!("{backend:?} after retention")).await,
                    9
                );
            }
            crate::common::Backend::Sqlite => {
                assert!(report.dropped.is_empty() && report.created.is_empty(), "{report:?}");
                assert_eq!(input_count_as(&app, &p, october_range).await, 2, "{backend:?}");
                assert_eq!(
                    check_rollups(&app, &p, &format!("{backend:?} after maintenance")).await,
                    12
                );
            }
        }
        app.stop().await;
    }
}

/// Input-area count of `range` through the plant's own (still valid) token.
async fn input_count_as(app: &TestApp, p: &LinePlant, range: (&str, &str)) -> Value {
    let summary = app
        .post_ok(
            &p.token(),
            "/api/v1/metrics/summary",
            json!({"line_id": p.line_id, "start_date": range.0, "end_date": range.1}),
        )
        .await;
    summary["total_production"].clone()
}
