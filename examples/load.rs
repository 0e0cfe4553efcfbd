//! Load tool: drives a running Camet server over HTTP and prints latency
//! percentiles and throughput, for `docs/performance.md`.
//!
//! ```sh
//! # KPI latency (each request repeated, after warm-up):
//! cargo run --release --example load -- --base http://127.0.0.1:8080 \
//!     --username admin --password "$PW" requests --repeat 50 \
//!     --post /api/v1/metrics/oee '{"line_id":1,"start_date":"2026-10-24T00:00:00","end_date":"2026-11-23T00:00:00"}'
//! # Ingest throughput (batches of synthetic detections, concurrent clients):
//! cargo run --release --example load -- --base http://127.0.0.1:8080 \
//!     --username admin --password "$PW" ingest --line-id 1 --areas 1,2,3 --products 1,2 \
//!     --batches 40 --batch-size 10000 --concurrency 4 --from 2026-12-01T00:00:00Z
//! ```
//!
//! `requests` takes any number of `--post PATH BODY` / `--get PATH` and
//! reports each separately; `--repeat` runs per request after `--warmup`.

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// User to log in as.
    #[arg(long)]
    username: String,
    /// Password (or `CAMET_LOAD_PASSWORD`).
    #[arg(long, env = "CAMET_LOAD_PASSWORD")]
    password: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Latency of the given requests, run one after another.
    Requests {
        /// Timed runs per request.
        #[arg(long, default_value_t = 50)]
        repeat: usize,
        /// Untimed runs first (warm caches).
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// `PATH BODY` of a POST, repeatable.
        #[arg(long, num_args = 2, value_names = ["PATH", "BODY"])]
        post: Vec<String>,
        /// `PATH` of a GET, repeatable.
        #[arg(long)]
        get: Vec<String>,
    },
    /// Ingest throughput with concurrent clients.
    Ingest {
        /// Line to ingest into.
        #[arg(long)]
        line_id: i64,
        /// Area ids, comma separated (cycled through).
        #[arg(long, value_delimiter = ',')]
        areas: Vec<i64>,
        /// Product ids, comma separated (cycled through).
        #[arg(long, value_delimiter = ',')]
        products: Vec<i64>,
        /// Number of batches.
        #[arg(long, default_value_t = 40)]
        batches: usize,
        /// Detections per batch (at most 10 000).
        #[arg(long, default_value_t = 10_000)]
        batch_size: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// First detection instant (RFC 3339); detections are 100 ms apart.
        #[arg(long)]
        from: String,
    },
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

async fn login(client: &reqwest::Client, args: &Args) -> Result<String, String> {
    let response = client
        .post(format!("{}/api/v1/auth/login", args.base))
        .json(&json!({"username": args.username, "password": args.password}))
        .send()
        .await
        .map_err(|e| format!("login: {e}"))?;
    let body: Value = response.json().await.map_err(|e| format!("login: {e}"))?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("login refused: {body}"))
}

async fn timed(request: reqwest::RequestBuilder) -> Result<Duration, String> {
    let started = Instant::now();
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(started.elapsed())
}

async fn requests(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    (repeat, warmup): (usize, usize),
    posts: &[String],
    gets: &[String],
) -> Result<(), String> {
    let mut plan: Vec<(String, Option<Value>)> = gets.iter().map(|p| (p.clone(), None)).collect();
    for pair in posts.chunks_exact(2) {
        let body: Value = serde_json::from_str(&pair[1]).map_err(|e| format!("body of {}: {e}", pair[0]))?;
        plan.push((pair[0].clone(), Some(body)));
    }
    println!("| request | runs | p50 ms | p95 ms | p99 ms | max ms |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (path, body) in &plan {
        let build = || {
            let url = format!("{base}{path}");
            match body {
                Some(body) => client.post(url).bearer_auth(token).json(body),
                None => client.get(url).bearer_auth(token),
            }
        };
        for _ in 0..warmup {
            timed(build()).await?;
        }
        let mut times = Vec::with_capacity(repeat);
        for _ in 0..repeat {
            times.push(timed(build()).await?);
        }
        times.sort();
        println!(
            "| {} {path} | {repeat} | {} | {} | {} | {} |",
            if body.is_some() { "POST" } else { "GET" },
            ms(percentile(&times, 50.0)),
            ms(percentile(&times, 95.0)),
            ms(percentile(&times, 99.0)),
            ms(times.last().copied().unwrap_or_default()),
        );
    }
    Ok(())
}

struct IngestPlan {
    line_id: i64,
    areas: Vec<i64>,
    products: Vec<i64>,
    batches: usize,
    batch_size: usize,
    concurrency: usize,
    from: chrono::DateTime<chrono::Utc>,
    /// Makes every run's external ids new, so reruns measure inserts, not duplicates.
    nonce: u128,
}

fn batch(plan: &IngestPlan, index: usize) -> Value {
    let items: Vec<Value> = (0..plan.batch_size)
        .map(|i| {
            let n = index * plan.batch_size + i;
            let at = plan.from + chrono::TimeDelta::milliseconds(100 * n as i64);
            json!({
                "detected_at": at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "area_id": plan.areas[n % plan.areas.len()],
                "product_id": plan.products[(n / plan.areas.len()) % plan.products.len()],
                "external_id": format!("load-{}-{n}", plan.nonce),
            })
        })
        .collect();
    Value::Array(items)
}

async fn ingest(client: &reqwest::Client, base: &str, token: &str, plan: IngestPlan) -> Result<(), String> {
    if plan.areas.is_empty() || plan.products.is_empty() {
        return Err("--areas and --products must not be empty".into());
    }
    // Bodies are built before the clock starts: only the server is measured.
    let bodies: Vec<String> = (0..plan.batches).map(|i| batch(&plan, i).to_string()).collect();
    let url = format!("{base}/api/v1/lines/{}/detections", plan.line_id);
    let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..plan.concurrency {
        let (queue, client, url, token) = (queue.clone(), client.clone(), url.clone(), token.to_owned());
        workers.push(tokio::spawn(async move {
            let mut times = Vec::new();
            loop {
                let next = queue.lock().map_err(|_| "queue poisoned".to_owned())?.pop();
                let Some(body) = next else { break };
                let request = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body);
                times.push(timed(request).await?);
            }
            Ok::<_, String>(times)
        }));
    }
    let mut times = Vec::new();
    for worker in workers {
        times.extend(worker.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed();
    times.sort();
    let total = plan.batches * plan.batch_size;
    println!(
        "ingested {total} detections in {:.2} s with {} clients: {:.0} detections/s; batch p50 {} ms, p95 {} ms, max {} ms",
        elapsed.as_secs_f64(),
        plan.concurrency,
        total as f64 / elapsed.as_secs_f64(),
        ms(percentile(&times, 50.0)),
        ms(percentile(&times, 95.0)),
        ms(times.last().copied().unwrap_or_default()),
    );
    Ok(())
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(120)).build() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(1);
        }
    };
    let result = async {
        let token = login(&client, &args).await?;
        match &args.scenario {
            Scenario::Requests {
                repeat,
                warmup,
                post,
                get,
            } => requests(&client, &args.base, &token, (*repeat, *warmup), post, get).await,
            Scenario::Ingest {
                line_id,
                areas,
                products,
                batches,
                batch_size,
                concurrency,
                from,
            } => {
                let from = chrono::DateTime::parse_from_rfc3339(from)
                    .map_err(|e| format!("--from: {e}"))?
                    .with_timezone(&chrono::Utc);
                let plan = IngestPlan {
                    line_id: *line_id,
                    areas: areas.clone(),
                    products: products.clone(),
                    batches: *batches,
                    batch_size: (*batch_size).min(10_000),
                    concurrency: (*concurrency).max(1),
                    from,
                    nonce: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or_default(),
                };
                ingest(&client, &args.base, &token, plan).await
            }
        }
    }
    .await;
    if let Err(error) = result {
        eprintln!("load: {error}");
        std::process::exit(1);
    }
}
