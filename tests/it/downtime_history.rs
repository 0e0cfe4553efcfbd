//! Persisted downtime events follow the data, not a trailing window
//! (issue "losses", item 1), on both backends: ingest marks the span its
//! rows cover, one run of the downtime job recomputes it, a viewer reads
//! the events of a past day without anyone asking for a recalculation, and
//! a reason a person assigned survives a backfill that splits its stop.
//!
//! The day is the hand-checked one of `kpi.rs` (Monday 2026-11-16, shift
//! 08:00-10:00, threshold 300 s): stops 08:00:30-08:10:30,
//! 08:10:30-08:30:30 and 08:30:30-10:00. "Now" is pinned to the next
//! morning, far outside the job's trailing window (2 h).

use crate::common::{TestApp, backends};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};

fn next_morning() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-17T06:00:00Z")
        .expect("fixture instant")
        .to_utc()
}

/// The events of the day as a viewer reads them, and the pending header.
async fn events(app: &TestApp, token: &str, line_id: i64) -> (Vec<Value>, String) {
    let response = app
        .authed(
            Method::GET,
            &format!("/api/v1/downtime/{line_id}/events?start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z"),
            token,
        )
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    let pending = response
        .headers()
        .get("x-events-pending")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("missing")
        .to_owned();
    let list: Vec<Value> = response.json().await.expect("json");
    (list, pending)
}

fn starts(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["start"].as_str()).collect()
}

async fn run_job(app: &TestApp) {
    camet::kpi::pending::recalculate_all(&app.state.databases, &app.state.cache, next_morning())
        .await
        .expect("pending job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_reads_yesterdays_events_after_one_job_run_and_reasons_survive_a_backfill() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        app.state.clock.pin(next_morning());
        let plant = app
            .line_plant(
                "History",
                json!({"line_name": "H", "line_code": "H1", "downtime_threshold": 300}),
                &[
                    json!({"product_name": "Producto A", "product_code": "A", "production_std": 100}),
                    json!({"product_name": "Producto B", "product_code": "B", "production_std": 60}),
                ],
                &[json!({"shift_name": "Mañana", "days_implemented": ["Monday"], "start_time": "08:00", "end_time": "10:00", "is_overnight": false})],
            )
            .await;
        let (admin, viewer) = (plant.token(), plant.tenant.viewer.1.clone());
        let (a, b) = (plant.products[0], plant.products[1]);
        app.post_ok(
            &admin,
            &format!("/api/v1/lines/{}/detections", plant.line_id),
            crate::common::known_day_detections(plant.input, plant.output, a, b),
        )
        .await;

        // Before the job: nothing stored yet, and the answer says why.
        let (before, pending) = events(&app, &viewer, plant.line_id).await;
        assert!(before.is_empty(), "{backend:?}: {before:?}");
        assert_eq!(pending, "true", "{backend:?}");

        run_job(&app).await;
        let (after, pending) = events(&app, &viewer, plant.line_id).await;
        assert_eq!(
            starts(&after),
            [
                "2026-11-16T08:00:30+00:00",
                "2026-11-16T08:10:30+00:00",
                "2026-11-16T08:30:30+00:00"
            ],
            "{backend:?}"
        );
        assert_eq!(pending, "false", "{backend:?}");

        // A person explains the 20-minute stop.
        let stop = &after[1];
        let event_id = stop["event_id"].as_i64().expect("event id");
        let put = app
            .authed(
                Method::PUT,
                &format!("/api/v1/downtime/{}/{event_id}", plant.line_id),
                &admin,
            )
            .json(&json!({"reason_code": "JAM", "reason": "Atasco en la salida"}))
            .send()
            .await
            .expect("put");
        assert_eq!(put.status(), 200, "{backend:?}");

        // A late unit at 08:20:30 splits that stop in two.
        app.post_ok(
            &admin,
            &format!("/api/v1/lines/{}/detections", plant.line_id),
            json!([{"detected_at": "2026-11-16T08:20:30Z", "area_id": plant.output, "product_id": a}]),
        )
        .await;
        let (_, pending) = events(&app, &viewer, plant.line_id).await;
        assert_eq!(pending, "true", "{backend:?}: the backfill waits for the job");
        run_job(&app).await;
        let (split, pending) = events(&app, &viewer, plant.line_id).await;
        assert_eq!(pending, "false", "{backend:?}");
        assert_eq!(
            starts(&split),
            [
                "2026-11-16T08:00:30+00:00",
                "2026-11-16T08:10:30+00:00",
                "2026-11-16T08:20:30+00:00",
                "2026-11-16T08:30:30+00:00"
            ],
            "{backend:?}"
        );
        let explained: Vec<&Value> = split.iter().filter(|e| e["reason_code"] == "JAM").collect();
        assert!(
            !explained.is_empty(),
            "{backend:?}: the reason survives the split: {split:?}"
        );
        assert!(
            explained
                .iter()
                .all(|e| e["start"] == "2026-11-16T08:10:30+00:00" || e["start"] == "2026-11-16T08:20:30+00:00"),
            "{backend:?}: the reason stays on the pieces of its own stop: {split:?}"
        );
        assert_eq!(split[0]["reason_code"], Value::Null, "{backend:?}");
        assert_eq!(split[3]["reason_code"], Value::Null, "{backend:?}");

        // A second run with nothing pending changes nothing.
        run_job(&app).await;
        let (again, _) = events(&app, &viewer, plant.line_id).await;
        assert_eq!(again, split, "{backend:?}");
        app.stop().await;
    }
}
