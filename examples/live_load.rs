//! Live benchmark for `docs/performance.md` (`benches/live.sh` runs it):
//! the time from an ingest's response on one instance to its `production`
//! event on a stream held on another instance, and the memory of many idle
//! streams on one instance.
//!
//! ```sh
//! cargo run --release --example live_load -- --ingest http://127.0.0.1:18081 \
//!     --stream http://127.0.0.1:18082 --username admin --password "$PW" \
//!     --line-id 1 --input-area 1 --output-area 3 --product-id 1 \
//!     --batches 300 --idle-streams 1000 --server-pid "$PID"
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// Instance the batches are posted to.
    #[arg(long)]
    ingest: String,
    /// Instance the stream is held on (and the idle streams opened on).
    #[arg(long)]
    stream: String,
    /// User to log in as.
    #[arg(long)]
    username: String,
    /// Password (or `CAMET_LOAD_PASSWORD`).
    #[arg(long, env = "CAMET_LOAD_PASSWORD")]
    password: String,
    /// Line ingested into.
    #[arg(long)]
    line_id: i64,
    /// Its input area.
    #[arg(long)]
    input_area: i64,
    /// Its output area.
    #[arg(long)]
    output_area: i64,
    /// A product.
    #[arg(long)]
    product_id: i64,
    /// Batches timed, one after another.
    #[arg(long, default_value_t = 300)]
    batches: usize,
    /// Idle streams opened on `--stream` afterwards (0: none).
    #[arg(long, default_value_t = 1000)]
    idle_streams: usize,
    /// Pid of the `--stream` server, to read its RSS.
    #[arg(long)]
    server_pid: Option<u32>,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn login(client: &reqwest::Client, base: &str, username: &str, password: &str) -> Result<String, String> {
    let answer: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("login failed: {answer}"))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| e.to_string())?;
    let token = login(&client, &args.ingest, &args.username, &args.password).await?;

    // The stream on the other instance, read by a task that stamps arrivals.
    let response = client
        .get(format!("{}/api/v1/stream", args.stream))
        .bearer_auth(&token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("stream: {}", response.status()));
    }
    let (sender, mut arrivals) = tokio::sync::mpsc::unbounded_channel::<(Instant, Value)>();
    let line_id = args.line_id;
    tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut buffer = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            let at = Instant::now();
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                if !frame.contains("event: production") {
                    continue;
                }
                let data = frame.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or("{}");
                if let Ok(value) = serde_json::from_str::<Value>(data)
                    && value["line_id"] == line_id
                    && sender.send((at, value)).is_err()
                {
                    return;
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut latencies = Vec::with_capacity(args.batches);
    let mut from_send = Vec::with_capacity(args.batches);
    let mut responses = Vec::with_capacity(args.batches);
    for i in 0..args.batches {
        let now = chrono::Utc::now();
        let batch: Vec<Value> = (0..5)
            .flat_map(|k| {
                let at = (now - chrono::Duration::milliseconds(50 * (5 - k))).to_rfc3339();
                [
                    json!({"detected_at": at, "area_id": args.input_area, "product_id": args.product_id}),
                    json!({"detected_at": at, "area_id": args.output_area, "product_id": args.product_id}),
                ]
            })
            .collect();
        let sent = Instant::now();
        let posted = client
            .post(format!("{}/api/v1/lines/{}/detections", args.ingest, args.line_id))
            .bearer_auth(&token)
            .json(&batch)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let answered = Instant::now();
        if !posted.status().is_success() {
            return Err(format!("batch {i}: {}", posted.status()));
        }
        match tokio::time::timeout(Duration::from_secs(5), arrivals.recv()).await {
            // The event may arrive before the response does: the server
            // publishes before it answers. Signed, in ms after the response.
            Ok(Some((at, _))) => {
                let after_response = if at >= answered {
                    at.duration_since(answered).as_secs_f64()
                } else {
                    -answered.duration_since(at).as_secs_f64()
                };
                latencies.push(after_response * 1000.0);
                from_send.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                responses.push(answered.duration_since(sent).as_secs_f64() * 1000.0);
            }
            _ => {
                return Err(format!(
                    "batch {i}: no production event on the other instance within 5 s"
                ));
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (what, mut values) in [
        (
            "ingest response -> event on the other instance (negative: before the response)",
            latencies,
        ),
        ("request sent -> event on the other instance", from_send),
        ("request sent -> ingest response", responses),
    ] {
        values.sort_by(f64::total_cmp);
        println!(
            "{what} ({} batches of 10): p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            values.len(),
            percentile(&values, 50.0),
            percentile(&values, 95.0),
            percentile(&values, 99.0),
            values.last().copied().unwrap_or(f64::NAN)
        );
    }

    if args.idle_streams > 0 {
        let before = args.server_pid.and_then(rss_kib);
        let mut held = Vec::with_capacity(args.idle_streams);
        let started = Instant::now();
        for i in 0..args.idle_streams {
            let response = client
                .get(format!("{}/api/v1/stream", args.stream))
                .bearer_auth(&token)
                .send()
                .await
                .map_err(|e| format!("idle stream {i}: {e}"))?;
            if response.status() != 200 {
                return Err(format!("idle stream {i}: {}", response.status()));
            }
            held.push(response);
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let after = args.server_pid.and_then(rss_kib);
        println!(
            "{} idle streams opened in {:.1} s; server RSS {} KiB -> {} KiB ({:.1} KiB per stream)",
            held.len(),
            started.elapsed().as_secs_f64(),
            before.map_or("?".into(), |v| v.to_string()),
            after.map_or("?".into(), |v| v.to_string()),
            match (before, after) {
                (Some(b), Some(a)) => (a.saturating_sub(b)) as f64 / held.len() as f64,
                _ => f64::NAN,
            }
        );
    }
    Ok(())
}
