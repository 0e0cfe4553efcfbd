//! Background jobs of a server instance: metadata-cache refresh (notice
//! other instances' writes), audit outbox forwarding, and partition
//! maintenance. A failing run is logged and retried at the next tick, never
//! fatal; jobs stop with the server.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::SharedState;

/// Handles of the running jobs.
pub struct Jobs {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

impl Jobs {
    /// Asks every job to stop and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}

fn every<F, Fut>(name: &'static str, period: Duration, mut stop: watch::Receiver<bool>, mut run: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = crate::AppResult<()>> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if let Err(error) = run().await {
                        tracing::warn!(job = name, %error, "background job failed; retrying at the next tick");
                    }
                }
                _ = stop.changed() => break,
            }
        }
    })
}

/// Starts every job for this server instance.
pub fn spawn_all(state: SharedState) -> Jobs {
    let (stop, receiver) = watch::channel(false);
    let mut handles = Vec::new();

    let cache_state = state.clone();
    handles.push(every(
        "metadata_cache_refresh",
        Duration::from_secs(state.config.cache_refresh_secs),
        receiver.clone(),
        move || {
            let state = cache_state.clone();
            async move {
                let reloaded = state.cache.refresh_changed(&state.databases).await?;
                if reloaded > 0 {
                    tracing::info!(reloaded, "configuration changed elsewhere; cache reloaded");
                }
                Ok(())
            }
        },
    ));

    let outbox_state = state.clone();
    handles.push(every(
        "audit_outbox_forward",
        Duration::from_secs(30),
        receiver.clone(),
        move || {
            let state = outbox_state.clone();
            async move {
                for tenant_id in crate::tenants::all_ids(&state.databases).await? {
                    crate::audit::forward_outbox(&state.databases, tenant_id).await?;
                }
                Ok(())
            }
        },
    ));

    let partition_state: Arc<_> = state.clone();
    handles.push(every(
        "partition_maintenance",
        Duration::from_secs(6 * 3600),
        receiver,
        move || {
            let state = partition_state.clone();
            async move { crate::plant::partitions::maintain_all(&state).await.map(|_| ()) }
        },
    ));

    Jobs { stop, handles }
}
