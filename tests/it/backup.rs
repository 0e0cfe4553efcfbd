//! `camet backup` / `camet restore` of the embedded SQLite databases: a
//! backup taken while clients ingest holds every detection acknowledged
//! before it started and no half batch; restore refuses databases in use;
//! on MySQL both commands point at mariadb-dump and change nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{TimeZone, Utc};
use diesel::{Connection, RunQueryDsl};
use serde_json::json;

use crate::common::{Backend, TestApp, TestDb, mysql_or_skip};

/// Detections per ingested batch.
const BATCH: usize = 10;
/// Batches the ingest loop sends at most (all within the shift, before now).
const MAX_BATCHES: usize = 1_200;
/// Batches acknowledged before the backup starts.
const BEFORE: usize = 20;

async fn camet(env: std::collections::HashMap<String, String>, args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_camet"))
            .args(&args)
            .envs(env)
            .output()
            .expect("run camet")
    })
    .await
    .expect("join")
}

fn stdout_json(output: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("stdout is JSON ({e}): {text}"))
}

#[derive(diesel::QueryableByName)]
struct ExternalId {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    external_id: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_ingest_load_restores_every_acknowledged_detection_and_no_half_batch() {
    let app = TestApp::start(Backend::Sqlite).await;
    // Monday 12:00:30; the shift runs 08:00-12:00 and batch i sits at
    // 08:00 + 10·i seconds, so 1 200 batches end at 11:20.
    app.state
        .clock
        .pin(Utc.with_ymd_and_hms(2026, 11, 16, 12, 0, 30).single().expect("instant"));
    let plant = app
        .line_plant(
            "Backup",
            json!({"line_name": "B", "line_code": "B1", "downtime_threshold": 120}),
            &[json!({"product_name": "P", "product_code": "P", "production_std": 120, "product_weight": "1.5"})],
            &[json!({"shift_name": "Día", "days_implemented": ["Monday"], "start_time": "08:00", "end_time": "12:00", "is_overnight": false})],
        )
        .await;
    let start = Utc.with_ymd_and_hms(2026, 11, 16, 8, 0, 0).single().expect("instant");
    let (input, product, line_id) = (plant.input, plant.products[0], plant.line_id);
    let token = plant.token();
    let url = app.url(&format!("/api/v1/lines/{line_id}/detections"));
    let client = app.client.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let ingest = tokio::spawn({
        let stop = stop.clone();
        async move {
            for batch in 0..MAX_BATCHES {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let items: Vec<_> = (0..BATCH)
                    .map(|j| {
                        let at = start + chrono::Duration::seconds((batch * BATCH + j) as i64);
                        json!({"detected_at": at.to_rfc3339(), "area_id": input, "product_id": product, "external_id": format!("b{batch}-{j}")})
                    })
                    .collect();
                let response = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&items)
                    .send()
                    .await
                    .expect("ingest");
                assert_eq!(response.status(), 200, "batch {batch}");
                let _ = acked_tx.send(batch);
            }
        }
    });

    // Everything received here was acknowledged before the backup starts.
    let mut acked_before = BTreeSet::new();
    while acked_before.len() < BEFORE {
        let batch = tokio::time::timeout(Duration::from_secs(60), acked_rx.recv())
            .await
            .expect("ingest acknowledges within 60 s")
            .expect("ingest loop alive");
        acked_before.insert(batch);
    }
    while let Ok(batch) = acked_rx.try_recv() {
        acked_before.insert(batch);
    }
    let archive = app.db.dir.path().join("backup.tar");
    let output = camet(app.db.env(), vec!["backup".into(), archive.display().to_string()]).await;
    assert!(
        output.status.success(),
        "backup: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = stdout_json(&output);
    assert_eq!(report["tenants"], json!([plant.tenant.tenant_id]), "{report}");
    let mut acked_during = 0;
    while acked_rx.try_recv().is_ok() {
        acked_during += 1;
    }
    stop.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(60), ingest)
        .await
        .expect("ingest loop stops")
        .expect("ingest loop succeeded");
    eprintln!(
        "backup under load: {} batches acknowledged before it started, {acked_during} while it ran",
        acked_before.len()
    );

    // A second backup never overwrites the first.
    let again = camet(app.db.env(), vec!["backup".into(), archive.display().to_string()]).await;
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));

    // The server still has its databases open: restoring over them is refused.
    let refused = camet(app.db.env(), vec!["restore".into(), archive.display().to_string()]).await;
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("in use") && message.contains("--force"), "{message}");

    // Restored elsewhere, every acknowledged batch is there, each whole.
    let target = TestDb::new(Backend::Sqlite);
    let restored = camet(target.env(), vec!["restore".into(), archive.display().to_string()]).await;
    assert!(
        restored.status.success(),
        "restore: {}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert_eq!(stdout_json(&restored)["tenants"], json!([plant.tenant.tenant_id]));
    let tenant_file = target
        .dir
        .path()
        .join(format!("camet_tenant_{}.db", plant.tenant.tenant_id));
    let mut conn = diesel::SqliteConnection::establish(&tenant_file.display().to_string()).expect("open restored");
    let rows: Vec<ExternalId> = diesel::sql_query(format!("SELECT external_id FROM detection_line_{line_id}"))
        .load(&mut conn)
        .expect("read restored detections");
    let mut per_batch: BTreeMap<usize, usize> = BTreeMap::new();
    for row in &rows {
        let id = row.external_id.as_deref().expect("every row has its external id");
        let batch: usize = id
            .trim_start_matches('b')
            .split('-')
            .next()
            .and_then(|b| b.parse().ok())
            .unwrap_or_else(|| panic!("external id {id}"));
        *per_batch.entry(batch).or_default() += 1;
    }
    for batch in &acked_before {
        assert_eq!(
            per_batch.get(batch),
            Some(&BATCH),
            "batch {batch}, acknowledged before the backup, is whole in it"
        );
    }
    for (batch, count) in &per_batch {
        assert_eq!(*count, BATCH, "batch {batch} is whole or absent, never torn");
    }
    drop(conn);

    // The restored databases serve: migrate finds the tenant and its database.
    let migrated = camet(target.env(), vec!["migrate".into()]).await;
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert_eq!(stdout_json(&migrated)["tenants"], 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_a_file_that_is_not_a_backup_and_keeps_the_databases() {
    let target = TestDb::from_template(Backend::Sqlite);
    let bogus = target.dir.path().join("bogus.tar");
    std::fs::write(&bogus, b"not a tar archive at all").expect("write");
    let before = std::fs::read(target.dir.path().join("camet.db")).expect("global db");
    let output = camet(target.env(), vec!["restore".into(), bogus.display().to_string()]).await;
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("is not a camet backup"), "{message}");
    assert_eq!(
        std::fs::read(target.dir.path().join("camet.db")).expect("global db"),
        before,
        "the database is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_mysql_backup_and_restore_point_at_mariadb_dump_and_change_nothing() {
    let Some(_) = mysql_or_skip("backup::on_mysql_backup_and_restore_point_at_mariadb_dump") else {
        return;
    };
    let db = TestDb::new(Backend::Mysql);
    let archive = db.dir.path().join("backup.tar");
    for command in ["backup", "restore"] {
        let output = camet(db.env(), vec![command.into(), archive.display().to_string()]).await;
        assert_eq!(output.status.code(), Some(1), "{command}");
        let message = String::from_utf8_lossy(&output.stderr);
        assert_eq!(message.trim().lines().count(), 1, "{message}");
        assert!(
            message.contains("SQLite") && message.contains("mariadb-dump"),
            "{command}: {message}"
        );
        assert!(!archive.exists(), "{command} wrote nothing");
    }
}
