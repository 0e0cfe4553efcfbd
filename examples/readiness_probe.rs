//! A minimal client: asks a running Camet server whether it is ready, the way
//! a load balancer or an ERP integration would before pulling KPIs.
//!
//! ```sh
//! cargo run --release            # in one terminal
//! cargo run --example readiness_probe -- http://127.0.0.1:8080
//! ```

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let response = reqwest::get(format!("{base}/health/ready")).await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    println!("{status}: {}", serde_json::to_string_pretty(&body)?);
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("not ready: {}", body["detail"]).into())
    }
}
