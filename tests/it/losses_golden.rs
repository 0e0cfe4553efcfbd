//! The golden day of the losses (issue 14), on both backends, every figure
//! worked out by hand here.
//!
//! Plant (UTC): one line, downtime threshold 300 s, micro-stop threshold
//! 60 s; product A at 120 u/h (ideal 30 s each); one shift Monday and
//! Tuesday 08:00-12:00 with a break 10:00-10:30; Tuesday 2026-11-17 is a
//! holiday for every line. Range: Monday 2026-11-16 00:00 - Wednesday
//! 00:00 (calendar time 172 800 s).
//!
//! P = Monday 08:00-10:00 and 10:30-12:00 = 7 200 + 5 400 = 12 600 s (the
//! break and the whole holiday are out).
//!
//! Output detections on Monday (A): 08:01, 08:03, 08:13, 08:14, 08:44,
//! 08:46:30, 09:06:30, 09:07, 09:37, 09:38, 10:31, 10:33, 11:00, then
//! every minute 11:01 … 11:59: 13 + 59 = 72. Inputs: one 10 s before each
//! output, plus two rejects (08:02 and 11:30:30): 74. Tuesday's test run
//! (2 in, 2 out at 09:00 and 09:05) is on the holiday: outside P.
//!
//! Gaps of the output timeline inside P (points: the detections and the
//! ends of P's two pieces):
//! - 08:00→08:01 60 s; 08:01→08:03 120 s (micro-stop); 08:03→08:13 600 s
//!   (stop S1); 08:13→08:14 60; 08:14→08:44 1 800 (S2); 08:44→08:46:30
//!   150 (micro); 08:46:30→09:06:30 1 200 (S3); 09:06:30→09:07 30;
//!   09:07→09:37 1 800 (S4); 09:37→09:38 60; 09:38→10:00 1 320 (S5);
//! - 10:30→10:31 60; 10:31→10:33 120 (micro); 10:33→11:00 1 620 (S6);
//!   then 60 s gaps to 12:00.
//! - Gaps of exactly 60 s are not micro-stops (strictly longer).
//!
//! Reasons: S1 mechanical failure (breakdown), S2 changeover (setup), S3
//! blocked (minor_stop), S4 meeting (planned); S5 and S6 unassigned.
//!
//! Rule on (default): S4 leaves P: P = 12 600 − 1 800 = 10 800 s; stops
//! 600 + 1 800 + 1 200 + 1 320 + 1 620 = 6 540 s (5); operating 4 260 s;
//! micro-stops 3, 390 s; ideal 74 × 30 = 2 220 s; quality loss 2 × 30 =
//! 60 s; speed loss 4 260 − 2 220 − 390 = 1 650 s; fully productive
//! 2 220 − 60 = 2 160 s; 2 160 + 60 + 1 650 + 390 + 6 540 = 10 800 ✓.
//! Availability 4 260 / 10 800 = 39.44 %; performance 2 220 / 4 260 =
//! 52.11 %; quality 72 / 74 = 97.30 %; OEE = 2 220 × 72 / (10 800 × 74) =
//! 20.00 %; MTBF 4 260 s (one breakdown); MTTR 600 s; TEEP 20 % × 10 800
//! / 172 800 = 1.25 %.
//!
//! Rule off: S4 is a stop of class planned: P 12 600 s; stops 8 340 s (6);
//! operating 4 260 s; availability 33.81 %; OEE = 159 840 / 932 400 =
//! 17.14 %; the parts add up to 12 600 s.

use crate::common::{TestApp, backends};
use reqwest::Method;
use serde_json::{Value, json};

const RANGE: (&str, &str) = ("2026-11-16T00:00:00Z", "2026-11-18T00:00:00Z");

struct Golden {
    admin: String,
    viewer: String,
    line_id: i64,
}

fn id(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// "HH:MM:SS" plus `seconds`.
fn shifted(at: &str, seconds: i64) -> String {
    let t = chrono::NaiveTime::parse_from_str(at, "%H:%M:%S").expect("time") + chrono::Duration::seconds(seconds);
    t.format("%H:%M:%S").to_string()
}

async fn golden_plant(app: &TestApp) -> Golden {
    let tenant = app.tenant_fixture("Golden").await;
    let token = tenant.admin.1.clone();
    let (line_id, input, output) = app
        .line_with_areas(
            &token,
            json!({"line_name": "G", "line_code": "G1", "downtime_threshold": 300, "micro_stop_threshold": 60}),
        )
        .await;
    let product = id(
        &app.post_ok(
            &token,
            "/api/v1/production/products",
            json!({"product_name": "Producto A", "product_code": "A", "production_std": 120}),
        )
        .await,
        "product_id",
    );
    app.post_ok(
        &token,
        "/api/v1/production/shifts",
        json!({"shift_name": "Día", "days_implemented": ["Monday", "Tuesday"], "start_time": "08:00", "end_time": "12:00",
               "is_overnight": false, "breaks": [{"start_time": "10:00", "end_time": "10:30"}]}),
    )
    .await;
    app.post_ok(
        &token,
        "/api/v1/production/calendar",
        json!({"name": "Feriado", "start_date": "2026-11-17", "end_date": "2026-11-17", "line_ids": []}),
    )
    .await;
    let d = |day: &str, at: &str, area: i64| json!({"detected_at": format!("2026-11-{day}T{at}Z"), "area_id": area, "product_id": product});
    let mut outputs: Vec<String> = [
        "08:01:00", "08:03:00", "08:13:00", "08:14:00", "08:44:00", "08:46:30", "09:06:30", "09:07:00", "09:37:00",
        "09:38:00", "10:31:00", "10:33:00", "11:00:00",
    ]
    .map(str::to_owned)
    .to_vec();
    outputs.extend((1..=59).map(|minute| format!("11:{minute:02}:00")));
    assert_eq!(outputs.len(), 72);
    let mut batch = Vec::new();
    for at in &outputs {
        batch.push(d("16", at, output));
        batch.push(d("16", &shifted(at, -10), input));
    }
    batch.push(d("16", "08:02:00", input));
    batch.push(d("16", "11:30:30", input));
    for at in ["09:00:00", "09:05:00"] {
        batch.push(d("17", at, input));
        batch.push(d("17", &shifted(at, 20), output));
    }
    app.post_ok(&token, &format!("/api/v1/lines/{line_id}/detections"), json!(batch))
        .await;
    Golden {
        admin: token,
        viewer: tenant.viewer.1.clone(),
        line_id,
    }
}

async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.authed(Method::GET, path, token).send().await.expect("get");
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

fn range_query(golden: &Golden) -> String {
    format!("line_id={}&start_date={}&end_date={}", golden.line_id, RANGE.0, RANGE.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_golden_day_of_losses() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        let golden = golden_plant(&app).await;
        // One downtime job run makes the events of the ingested day.
        camet::kpi::pending::recalculate_all(&app.state.databases, &app.state.cache, chrono::Utc::now())
            .await
            .expect("downtime job");
        let events = get_json(
            &app,
            &golden.viewer,
            &format!(
                "/api/v1/downtime/{}/events?start_date={}&end_date={}",
                golden.line_id, RANGE.0, RANGE.1
            ),
        )
        .await;
        let events = events.as_array().cloned().unwrap_or_default();
        let durations: Vec<f64> = events
            .iter()
            .map(|e| e["duration_seconds"].as_f64().unwrap_or(-1.0))
            .collect();
        assert_eq!(
            durations,
            [600.0, 1800.0, 1200.0, 1800.0, 1320.0, 1620.0],
            "{backend:?}: {events:?}"
        );
        let reasons = get_json(&app, &golden.admin, "/api/v1/production/downtime-reasons?limit=1000").await;
        let reason = |code: &str| {
            reasons["items"]
                .as_array()
                .and_then(|items| items.iter().find(|r| r["code"] == code))
                .map(|r| id(r, "reason_id"))
                .unwrap_or_else(|| panic!("reason {code}"))
        };
        let (mechanical, changeover, blocked, meeting) = (
            reason("BRK-MECH"),
            reason("SET-CHANGEOVER"),
            reason("MIN-BLOCKED"),
            reason("PLN-MEETING"),
        );
        for (event, reason_id) in [
            (&events[0], mechanical),
            (&events[1], changeover),
            (&events[2], blocked),
            (&events[3], meeting),
        ] {
            app.post_ok(
                &golden.admin,
                &format!("/api/v1/downtime/{}/reasons", golden.line_id),
                json!({"event_ids": [event["event_id"]], "reason_id": reason_id}),
            )
            .await;
        }

        // Rule on (the default).
        let body = json!({"line_id": golden.line_id, "start_date": RANGE.0, "end_date": RANGE.1});
        let oee = app.post_ok(&golden.viewer, "/api/v1/metrics/oee", body.clone()).await;
        for (key, value) in [
            ("planned_time_seconds", json!(10800.0)),
            ("total_downtime_seconds", json!(6540.0)),
            ("downtime_count", json!(5)),
            ("operating_time_seconds", json!(4260.0)),
            ("availability", json!(39.44)),
            ("total_production", json!(74)),
            ("good_units", json!(72)),
            ("rejected_units", json!(2)),
            ("performance", json!(52.11)),
            ("quality", json!(97.3)),
            ("oee", json!(20.0)),
            ("planned_stops_reduce_planned_time", json!(true)),
        ] {
            assert_eq!(oee[key], value, "{backend:?} {key}: {oee}");
        }
        let losses = get_json(
            &app,
            &golden.viewer,
            &format!("/api/v1/metrics/losses?{}", range_query(&golden)),
        )
        .await;
        assert_eq!(
            losses["losses"],
            json!([
                {"loss_class": "breakdown", "reason_id": mechanical, "seconds": 600.0, "count": 1},
                {"loss_class": "setup", "reason_id": changeover, "seconds": 1800.0, "count": 1},
                {"loss_class": "minor_stop", "reason_id": blocked, "seconds": 1200.0, "count": 1},
                {"loss_class": "unassigned", "reason_id": null, "seconds": 2940.0, "count": 2}
            ]),
            "{backend:?}: {losses}"
        );
        for (key, value) in [
            ("planned_time_seconds", json!(10800.0)),
            ("operating_time_seconds", json!(4260.0)),
            ("micro_stop_threshold_seconds", json!(60.0)),
            ("micro_stops", json!({"count": 3, "seconds": 390.0})),
            ("ideal_time_seconds", json!(2220.0)),
            ("quality_loss_seconds", json!(60.0)),
            ("speed_loss_seconds", json!(1650.0)),
            ("fully_productive_seconds", json!(2160.0)),
            ("mtbf_seconds", json!(4260.0)),
            ("mttr_seconds", json!(600.0)),
            ("teep", json!(1.25)),
        ] {
            assert_eq!(losses[key], value, "{backend:?} {key}: {losses}");
        }
        assert_eq!(crate::common::loss_parts_micros(&losses), 10_800_000_000);
        // Tuesday's test run is in the summary (it counts the whole range),
        // not in the OEE.
        let summary = app
            .post_ok(&golden.viewer, "/api/v1/metrics/summary", body.clone())
            .await;
        assert_eq!(summary["total_production"], 76, "{backend:?}: {summary}");

        // Rule off: the meeting is a planned-class stop inside P.
        let response = app
            .authed(Method::PUT, "/api/v1/tenant/rules", &golden.admin)
            .json(&json!({"planned_stops_reduce_planned_time": false}))
            .send()
            .await
            .expect("rules");
        assert_eq!(response.status(), 200);
        let oee = app.post_ok(&golden.viewer, "/api/v1/metrics/oee", body.clone()).await;
        for (key, value) in [
            ("planned_time_seconds", json!(12600.0)),
            ("total_downtime_seconds", json!(8340.0)),
            ("downtime_count", json!(6)),
            ("operating_time_seconds", json!(4260.0)),
            ("availability", json!(33.81)),
            ("oee", json!(17.14)),
            ("planned_stops_reduce_planned_time", json!(false)),
        ] {
            assert_eq!(oee[key], value, "{backend:?} {key}: {oee}");
        }
        let losses = get_json(
            &app,
            &golden.viewer,
            &format!("/api/v1/metrics/losses?{}", range_query(&golden)),
        )
        .await;
        assert_eq!(
            losses["losses"][3],
            json!({"loss_class": "planned", "reason_id": meeting, "seconds": 1800.0, "count": 1}),
            "{backend:?}: {losses}"
        );
        assert_eq!(crate::common::loss_parts_micros(&losses), 12_600_000_000);
        app.stop().await;
    }
}
