//! Property of the history-complete events (issue 14, Tests), on both
//! backends: after random late backfills (each followed by a downtime job
//! run, some by a rollup watermark run), the persisted events equal the
//! events computed from scratch over all the detections, and every reason
//! a person assigned is still there, on the parts of its own stop only.
//!
//! A seeded generator makes each case reproducible: a failure names its
//! seed. Late detections only split gaps, so an explained stop may become
//! several stops, each of which must keep its comment; a stop that never
//! overlapped an explained one must have none.

use crate::common::{TestApp, backends};
use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

/// Cases per backend (each a tenant of its own; about a second each).
const CASES: u64 = 4;

fn next_morning() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-17T06:00:00Z")
        .expect("fixture instant")
        .to_utc()
}

fn shift_start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-16T08:00:00Z")
        .expect("fixture instant")
        .to_utc()
}

/// A small deterministic generator (xorshift64*): the suite needs no
/// randomness crate and a seed reproduces a case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 instant")
        .to_utc()
}

fn span(event: &Value) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        instant(event["start"].as_str().expect("start")),
        instant(event["end"].as_str().expect("end")),
    )
}

fn overlaps(a: (DateTime<Utc>, DateTime<Utc>), b: (DateTime<Utc>, DateTime<Utc>)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

const DAY: &str = "start_date=2026-11-16T00:00:00Z&end_date=2026-11-17T00:00:00Z";

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.authed(Method::GET, path, token).send().await.expect("get");
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("json")
}

async fn persisted(app: &TestApp, token: &str, line_id: i64) -> Vec<Value> {
    get(app, token, &format!("/api/v1/downtime/{line_id}/events?{DAY}"))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn ingest(app: &TestApp, token: &str, line_id: i64, batch: &[Value]) {
    app.post_ok(token, &format!("/api/v1/lines/{line_id}/detections"), json!(batch))
        .await;
}

async fn run_job(app: &TestApp) {
    camet::kpi::pending::recalculate_all(&app.state.databases, &app.state.cache, next_morning())
        .await
        .expect("downtime job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persisted_events_after_random_backfills_equal_a_fresh_computation_and_keep_every_reason() {
    for backend in backends() {
        let app = TestApp::start(backend).await;
        app.state.clock.pin(next_morning());
        // Explained stops that late units split, over all cases: the
        // property is only tested where this happens.
        let mut split_explained = 0;
        for seed in 1..=CASES {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x1000_0001));
            let plant = app
                .line_plant(
                    &format!("Property {seed}"),
                    json!({"line_name": "P", "line_code": "P1", "downtime_threshold": 300}),
                    &[json!({"product_name": "Producto A", "product_code": "A", "production_std": 100})],
                    &[json!({"shift_name": "Mañana", "days_implemented": ["Monday"], "start_time": "08:00", "end_time": "10:00", "is_overnight": false})],
                )
                .await;
            let (admin, line_id) = (plant.token(), plant.line_id);
            let detection = |at: DateTime<Utc>| json!({"detected_at": at.to_rfc3339(), "area_id": plant.output, "product_id": plant.products[0]});
            // 8-20 output units at distinct seconds of the shift; about half
            // arrive first, the rest late in one to three batches.
            let mut seconds: Vec<i64> = (0..8 + rng.below(13)).map(|_| rng.below(7200) as i64).collect();
            seconds.sort_unstable();
            seconds.dedup();
            let (mut first, mut late) = (Vec::new(), Vec::new());
            for s in seconds {
                if rng.below(2) == 0 { first.push(s) } else { late.push(s) }
            }
            if !first.is_empty() {
                ingest(
                    &app,
                    &admin,
                    line_id,
                    &first
                        .iter()
                        .map(|s| detection(shift_start() + Duration::seconds(*s)))
                        .collect::<Vec<_>>(),
                )
                .await;
            }
            run_job(&app).await;

            // A person explains about half of the stops, each with its own comment.
            let jam = get(&app, &admin, "/api/v1/production/downtime-reasons?limit=1000").await["items"]
                .as_array()
                .and_then(|items| items.iter().find(|r| r["code"] == "BRK-JAM"))
                .and_then(|r| r["reason_id"].as_i64())
                .expect("the default tree's jam");
            let mut explained = Vec::new();
            for (i, event) in persisted(&app, &admin, line_id).await.iter().enumerate() {
                if rng.below(2) == 0 {
                    continue;
                }
                let comment = format!("seed {seed} stop {i}");
                app.post_ok(
                    &admin,
                    &format!("/api/v1/downtime/{line_id}/reasons"),
                    json!({"event_ids": [event["event_id"]], "reason_id": jam, "comment": comment}),
                )
                .await;
                explained.push((span(event), comment));
            }

            // Late batches, each followed by the job; some by a watermark run too.
            let batches = 1 + rng.below(3) as usize;
            let size = late.len().div_ceil(batches).max(1);
            for batch in late.chunks(size) {
                ingest(
                    &app,
                    &admin,
                    line_id,
                    &batch
                        .iter()
                        .map(|s| detection(shift_start() + Duration::seconds(*s)))
                        .collect::<Vec<_>>(),
                )
                .await;
                if rng.below(2) == 0 {
                    crate::common::advance_rollups(&app.state, next_morning())
                        .await
                        .expect("watermark job");
                }
                run_job(&app).await;
            }

            let stored = persisted(&app, &admin, line_id).await;
            let fresh = get(&app, &admin, &format!("/api/v1/downtime?line_id={line_id}&{DAY}")).await;
            let fresh: Vec<(DateTime<Utc>, DateTime<Utc>)> = fresh["events"]
                .as_array()
                .map(|events| events.iter().map(span).collect())
                .unwrap_or_default();
            let stored_spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = stored.iter().map(span).collect();
            assert_eq!(
                stored_spans, fresh,
                "{backend:?} seed {seed}: persisted vs from scratch"
            );
            for (original, comment) in &explained {
                let carriers: Vec<&Value> = stored.iter().filter(|e| e["reason"] == comment.as_str()).collect();
                assert!(
                    !carriers.is_empty(),
                    "{backend:?} seed {seed}: {comment} was lost: {stored:?}"
                );
                if carriers.len() > 1 {
                    split_explained += 1;
                }
                for carrier in carriers {
                    assert!(
                        overlaps(span(carrier), *original),
                        "{backend:?} seed {seed}: {comment} moved to another stop: {carrier}"
                    );
                    assert_eq!(carrier["reason_id"], jam, "{backend:?} seed {seed}");
                }
            }
            for event in &stored {
                if !explained.iter().any(|(original, _)| overlaps(span(event), *original)) {
                    assert_eq!(event["reason"], Value::Null, "{backend:?} seed {seed}: {event}");
                    assert_eq!(event["reason_id"], Value::Null, "{backend:?} seed {seed}: {event}");
                }
            }
        }
        assert!(split_explained > 0, "{backend:?}: no case split an explained stop");
        app.stop().await;
    }
}
