//! Crash safety on both backends: the real `camet` binary is killed with
//! SIGKILL while four clients ingest batches concurrently, then restarted on
//! the same databases. Every batch must be all-or-nothing (and every
//! acknowledged one complete), retrying every batch must give exactly the
//! expected rows, and the rollups must equal a recount of the raw rows.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use camet::db::DbConn;
use camet::db::line_tables::DetectionRow;
use camet::detections::store::{self, DetectionFilter};
use chrono::{NaiveDate, TimeDelta};
use serde_json::{Value, json};

use crate::common::rollup_check::{self, assert_rollups_equal_raw};
use crate::common::{Backend, PASSWORD, TestDb, backends};

const CLIENTS: usize = 4;
const BATCHES: usize = 12;
const ROWS: usize = 40;

/// The `camet serve` process; killed when dropped, so a failing test leaves
/// nothing running.
struct Served {
    child: Child,
    base: String,
}

impl Served {
    /// Starts `camet serve` over `db` and waits (at most 90 s) for its address.
    fn start(db: &TestDb) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_camet"))
            .args(["serve", "--no-demo"])
            .envs(db.env())
            // The watermark job never runs during the test: the rollups
            // checked are the ones ingest maintained.
            .env("CAMET_ROLLUP_JOB_SECS", "86400")
            .current_dir(db.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("CAMET_TEST_SHOW_SERVER").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("spawn camet");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        // Drains stdout until the process ends (a closed pipe would make
        // the server's own prints fail).
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut served = Served {
            child,
            base: String::new(),
        };
        while served.base.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("camet serve prints its address within 90 s");
            if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://")) {
                served.base = url.to_owned();
            }
        }
        served
    }

    /// SIGKILL, and reap the process.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Client `c`'s batch `b`: `ROWS` detections with external ids `c<c>-b<b>-r<r>`,
/// a few seconds apart on a fixed Monday, across both areas.
fn batch(c: usize, b: usize, areas: (i64, i64), product: i64) -> Value {
    let day = NaiveDate::from_ymd_opt(2026, 11, 16)
        .and_then(|d| d.and_hms_opt(6, 0, 0))
        .expect("date");
    let items: Vec<Value> = (0..ROWS)
        .map(|r| {
            let n = (c * BATCHES + b) * ROWS + r;
            let at = day + TimeDelta::seconds(i64::try_from(n * 7).expect("small"));
            json!({
                "detected_at": format!("{}Z", at.format("%Y-%m-%dT%H:%M:%S")),
                "area_id": if r % 2 == 0 { areas.0 } else { areas.1 },
                "product_id": product,
                "external_id": format!("c{c}-b{b}-r{r}"),
            })
        })
        .collect();
    Value::Array(items)
}

async fn post(client: &reqwest::Client, base: &str, token: &str, path: &str, body: &Value) -> reqwest::Response {
    client
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn created_id(response: reqwest::Response, key: &str) -> i64 {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert!(status.is_success(), "{status} {body}");
    body[key].as_i64().unwrap_or_else(|| panic!("{key} in {body}"))
}

/// Every raw detection of the line on the test day.
async fn raw_rows(conn: &mut DbConn, line_id: i32) -> Vec<DetectionRow> {
    let day = NaiveDate::from_ymd_opt(2026, 11, 16)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("date");
    rollup_check::raw_rows(conn, line_id, day, day + TimeDelta::days(1)).await
}

/// Rows per batch `(client, batch)`, from the external ids; panics on a duplicate id.
fn rows_per_batch(raw: &[DetectionRow], when: &str) -> HashMap<(usize, usize), usize> {
    let mut seen = std::collections::HashSet::new();
    let mut per_batch = HashMap::new();
    for row in raw {
        let id = row.external_id.as_deref().expect("every test row has an external id");
        assert!(seen.insert(id.to_owned()), "{when}: {id} stored twice");
        let mut parts = id.split('-');
        let c = parts
            .next()
            .and_then(|p| p.strip_prefix('c')?.parse().ok())
            .expect("client");
        let b = parts
            .next()
            .and_then(|p| p.strip_prefix('b')?.parse().ok())
            .expect("batch");
        *per_batch.entry((c, b)).or_insert(0) += 1;
    }
    per_batch
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_concurrent_ingest_loses_no_acknowledged_batch_and_splits_none() {
    for backend in backends() {
        crash_and_recover(backend).await;
    }
}

async fn crash_and_recover(backend: Backend) {
    let db = TestDb::new(backend);
    // A tenant and its admin, created as the CLI would (this also migrates).
    let state = camet::server::prepare(db.config(&[])).await.expect("prepare");
    let tenant_id = camet::tenants::create(&state.databases, "Crash Plant", "UTC")
        .await
        .expect("tenant");
    camet::auth::users::create(
        &state.databases,
        state.hashing,
        &camet::auth::users::NewUser {
            tenant_id,
            username: "crash_admin".to_owned(),
            email: "crash_admin@example.com".to_owned(),
            role: camet::auth::roles::Role::Admin,
            password: PASSWORD.to_owned(),
        },
    )
    .await
    .expect("user");
    drop(state);

    let http = client();
    let mut served = Served::start(&db);
    let login = |base: String| {
        let http = http.clone();
        async move {
            let response = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"username": "crash_admin", "password": PASSWORD}))
                .send()
                .await
                .expect("login");
            assert_eq!(response.status(), 200, "{backend:?}: login");
            let body: Value = response.json().await.expect("json");
            body["access_token"].as_str().expect("token").to_owned()
        }
    };
    let token = login(served.base.clone()).await;
    let base = served.base.clone();
    let line_id = created_id(
        post(
            &http,
            &base,
            &token,
            "/api/v1/production/lines",
            &json!({"line_name": "K", "line_code": "K9"}),
        )
        .await,
        "line_id",
    )
    .await;
    let area = |name: &str, kind: &str, order: i32| json!({"line_id": line_id, "area_name": name, "area_type": kind, "area_order": order});
    let input = created_id(
        post(
            &http,
            &base,
            &token,
            "/api/v1/production/areas",
            &area("In", "input", 1),
        )
        .await,
        "area_id",
    )
    .await;
    let output = created_id(
        post(
            &http,
            &base,
            &token,
            "/api/v1/production/areas",
            &area("Out", "output", 2),
        )
        .await,
        "area_id",
    )
    .await;
    let product = created_id(
        post(
            &http,
            &base,
            &token,
            "/api/v1/production/products",
            &json!({"product_name": "P", "product_code": "P1"}),
        )
        .await,
        "product_id",
    )
    .await;
    let ingest_path = format!("/api/v1/lines/{line_id}/detections");

    // Four clients ingest their batches one after the other; each stops at
    // its first failure (the server is gone).
    let acked = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (http, base, token, path, acked) = (
            http.clone(),
            base.clone(),
            token.clone(),
            ingest_path.clone(),
            acked.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut done = Vec::new();
            for b in 0..BATCHES {
                let body = batch(c, b, (input, output), product);
                let sent = http
                    .post(format!("{base}{path}"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().is_success() => {
                        done.push(b);
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => break,
                }
            }
            (c, done)
        }));
    }
    // SIGKILL once a few batches are in (bounded wait: 120 s).
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked.load(Ordering::SeqCst) < CLIENTS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    served.kill();
    let mut acknowledged = Vec::new();
    for handle in clients {
        let (c, done) = tokio::time::timeout(Duration::from_secs(60), handle)
            .await
            .expect("clients stop once the server is gone")
            .expect("client task");
        acknowledged.extend(done.into_iter().map(|b| (c, b)));
    }
    assert!(
        acknowledged.len() >= CLIENTS,
        "{backend:?}: {} batches acknowledged before the kill",
        acknowledged.len()
    );
    assert!(
        acknowledged.len() < CLIENTS * BATCHES,
        "{backend:?}: every batch finished before the kill; the test proved nothing"
    );

    // Restart on the same databases.
    let served = Served::start(&db);
    let base = served.base.clone();
    let token = login(base.clone()).await;
    let databases = camet::db::Databases::open(&db.config(&[])).await.expect("open");
    let pool = databases.tenant(tenant_id).await.expect("tenant pool");
    let mut conn = pool.get().await.expect("conn");
    let line = i32::try_from(line_id).expect("id");

    // No partial batch; every acknowledged batch complete.
    let raw = raw_rows(&mut conn, line).await;
    let per_batch = rows_per_batch(&raw, "after the crash");
    for (&(c, b), &n) in &per_batch {
        assert_eq!(n, ROWS, "{backend:?}: batch c{c}-b{b} is partial after the crash");
    }
    for (c, b) in &acknowledged {
        assert_eq!(
            per_batch.get(&(*c, *b)),
            Some(&ROWS),
            "{backend:?}: acknowledged batch c{c}-b{b} lost"
        );
    }
    assert_rollups_equal_raw(&mut conn, line, &raw, &format!("{backend:?} after the crash")).await;

    // Every batch retried: only the missing ones are inserted, exactly once.
    let mut inserted_total = 0;
    for c in 0..CLIENTS {
        for b in 0..BATCHES {
            let response = post(
                &http,
                &base,
                &token,
                &ingest_path,
                &batch(c, b, (input, output), product),
            )
            .await;
            assert!(
                response.status().is_success(),
                "{backend:?}: retry c{c}-b{b}: {}",
                response.status()
            );
            let outcome: Value = response.json().await.expect("json");
            let present = per_batch.contains_key(&(c, b));
            let (inserted, duplicates) = if present { (0, ROWS) } else { (ROWS, 0) };
            assert_eq!(
                outcome,
                json!({"received": ROWS, "inserted": inserted, "duplicates": duplicates}),
                "{backend:?}: retry c{c}-b{b}"
            );
            inserted_total += outcome["inserted"].as_u64().unwrap_or_default();
        }
    }
    assert_eq!(
        usize::try_from(inserted_total).expect("small") + raw.len(),
        CLIENTS * BATCHES * ROWS
    );
    let raw = raw_rows(&mut conn, line).await;
    assert_eq!(
        raw.len(),
        CLIENTS * BATCHES * ROWS,
        "{backend:?}: rows after the retries"
    );
    let per_batch = rows_per_batch(&raw, "after the retries");
    assert_eq!(per_batch.len(), CLIENTS * BATCHES);
    assert!(per_batch.values().all(|&n| n == ROWS));
    assert_rollups_equal_raw(&mut conn, line, &raw, &format!("{backend:?} after the retries")).await;

    // A refresh from the raw rows changes nothing.
    let refreshed = post(
        &http,
        &base,
        &token,
        &format!("/api/v1/lines/{line_id}/rollups/refresh"),
        &json!({"start_date": "2026-11-16T00:00:00Z", "end_date": "2026-11-17T00:00:00Z"}),
    )
    .await;
    assert!(
        refreshed.status().is_success(),
        "{backend:?}: refresh {}",
        refreshed.status()
    );
    let refreshed: Value = refreshed.json().await.expect("json");
    assert_eq!(refreshed["detections"], json!(CLIENTS * BATCHES * ROWS), "{refreshed}");
    assert_rollups_equal_raw(&mut conn, line, &raw, &format!("{backend:?} after a refresh")).await;
    let counts: BTreeMap<i32, u64> = store::counts_by_product(
        &mut conn,
        line,
        &DetectionFilter {
            within: vec![(
                raw.iter().map(|r| r.detected_at).min().expect("rows"),
                raw.iter().map(|r| r.detected_at).max().expect("rows") + TimeDelta::seconds(1),
            )],
            product_ids: Vec::new(),
            area_ids: Vec::new(),
        },
    )
    .await
    .expect("counts")
    .into_iter()
    .collect();
    assert_eq!(counts.values().sum::<u64>(), (CLIENTS * BATCHES * ROWS) as u64);
    drop(conn);
    drop(served);
}
