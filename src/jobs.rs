//! Background jobs of a server instance: metadata-cache refresh (notice
//! other instances' writes), audit outbox forwarding, downtime
//! recalculation, rollup watermarks, live line states, KPIs and alerts,
//! partition maintenance and outgoing deliveries (webhooks, alert e-mail).
//! A failing run is logged and retried at the next tick, never
//! fatal; jobs stop with the server.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::SharedState;
use crate::http::metrics::JobMetrics;

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

fn every<F, Fut>(
    name: &'static str,
    period: Duration,
    stop: watch::Receiver<bool>,
    metrics: JobMetrics,
    run: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = crate::AppResult<()>> + Send,
{
    every_or_woken(name, period, stop, metrics, run, std::future::pending::<()>)
}

/// [`every`], also running as soon as `wake()` resolves (then a full
/// period passes before the next tick).
fn every_or_woken<F, Fut, W, WFut>(
    name: &'static str,
    period: Duration,
    mut stop: watch::Receiver<bool>,
    metrics: JobMetrics,
    mut run: F,
    wake: W,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = crate::AppResult<()>> + Send,
    W: Fn() -> WFut + Send + Sync + 'static,
    WFut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = async {
                    tokio::select! {
                        _ = ticker.tick() => {}
                        _ = wake() => ticker.reset(),
                    }
                } => {
                    let started = std::time::Instant::now();
                    // A stop request also ends a run in progress: each run is
                    // a set of transactions, and the next one (on this or
                    // another instance) redoes what an abandoned one left.
                    // Its connections are closed, not pooled, since their
                    // state is unknown.
                    let Some(outcome) = crate::db::abandon_on(run(), stop.changed()).await else {
                        break;
                    };
                    metrics.observe(name, outcome.is_err(), started.elapsed().as_secs_f64());
                    if let Err(error) = outcome {
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
    let metrics = state.metrics.jobs();

    let cache_state = state.clone();
    handles.push(every(
        "metadata_cache_refresh",
        Duration::from_secs(state.config.cache_refresh_secs),
        receiver.clone(),
        metrics.clone(),
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
        metrics.clone(),
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

    let downtime_state = state.clone();
    let period = Duration::from_secs(state.config.downtime_job_secs);
    handles.push(every(
        "downtime_recalculation",
        period,
        receiver.clone(),
        metrics.clone(),
        move || {
            let state = downtime_state.clone();
            async move {
                // The lease outlives one period a little, so a crashed holder is replaced next time.
                if !take_lease(&state, "downtime_recalculation", period + Duration::from_secs(60)).await? {
                    return Ok(());
                }
                let window = chrono::Duration::seconds(state.config.downtime_window_secs as i64);
                let now = state.clock.now();
                // Spans whose rows changed first (history, whenever it
                // arrived), then the trailing window, where an ongoing stop
                // grows with no new row to mark it.
                crate::kpi::pending::recalculate_all(&state.databases, &state.cache, now).await?;
                crate::kpi::persisted::recalculate_recent(&state.databases, &state.cache, window, now)
                    .await
                    .map(|_| ())
            }
        },
    ));

    let rollup_state = state.clone();
    let period = Duration::from_secs(state.config.rollup_job_secs);
    handles.push(every(
        "rollup_watermark",
        period,
        receiver.clone(),
        metrics.clone(),
        move || {
            let state = rollup_state.clone();
            async move {
                if !take_lease(&state, "rollup_watermark", period + Duration::from_secs(60)).await? {
                    return Ok(());
                }
                let settings = crate::rollup::store::RollupSettings::from_config(&state.config)?;
                crate::rollup::store::advance_all(&state.databases, &state.cache, settings, state.clock.now())
                    .await
                    .map(|_| ())
            }
        },
    ));

    // Live: line states (and shift ends), shift-to-date KPIs, alert rules.
    // Each runs on the one instance holding its lease, so every change is
    // published, delivered and fired once.
    let live = state.config.live.clone();
    for (name, secs) in [
        ("live_state", live.tick_secs),
        ("live_kpi", live.kpi_secs),
        ("alert_evaluation", live.alert_job_secs),
    ] {
        let live_state = state.clone();
        let period = Duration::from_secs(secs);
        handles.push(every(name, period, receiver.clone(), metrics.clone(), move || {
            let state = live_state.clone();
            async move {
                if !take_lease(&state, name, period + Duration::from_secs(30)).await? {
                    return Ok(());
                }
                let now = state.clock.now();
                let out = crate::live::evaluator::Outlets { bus: &state.live };
                match name {
                    "live_state" => {
                        crate::live::evaluator::tick_states(&state.databases, &state.cache, &out, now).await
                    }
                    "live_kpi" => {
                        crate::live::evaluator::publish_kpis(&state.databases, &state.cache, &state.live, now).await
                    }
                    _ => crate::live::evaluator::evaluate_alerts(&state.databases, &state.cache, &out, now).await,
                }
            }
        }));
    }

    let partition_state: Arc<_> = state.clone();
    handles.push(every(
        "partition_maintenance",
        Duration::from_secs(6 * 3600),
        receiver.clone(),
        metrics.clone(),
        move || {
            let state = partition_state.clone();
            async move { crate::plant::partitions::maintain_all(&state.plant()).await.map(|_| ()) }
        },
    ));

    handles.push(notify_delivery(state.clone(), receiver, metrics.clone()));

    Jobs { stop, handles }
}

/// Sends due webhook deliveries and alert mail of every tenant
/// ([`crate::notify`]), one instance at a time (lease), every
/// `CAMET_DELIVERY_JOB_SECS` and soon after something is queued. A
/// configuration it cannot use (SMTP) is logged once and mail stays off.
fn notify_delivery(state: SharedState, stop: watch::Receiver<bool>, metrics: JobMetrics) -> JoinHandle<()> {
    use crate::notify::{mail, webhooks};
    let settings = &state.config.notify;
    let period = Duration::from_secs(settings.delivery_job_secs);
    let retry_base = Duration::from_millis(settings.webhook_retry_base_ms);
    let sender = webhooks::Sender::new(webhooks::DeliverySettings {
        allow_private: settings.webhooks_allow_private,
        retry_base,
        max_attempts: i32::try_from(settings.webhook_max_attempts).unwrap_or(8),
    });
    let mailer = settings.smtp_url.as_ref().and_then(|url| {
        mail::Mailer::new(&mail::MailSettings {
            url: url.expose().to_owned(),
            from: settings.smtp_from.clone(),
            retry_base,
        })
        .map_err(|error| tracing::error!(%error, "alert e-mail is off"))
        .ok()
    });
    let shared = Arc::new((sender, mailer));
    every_or_woken(
        "notify_delivery",
        period,
        stop,
        metrics,
        move || {
            let state = state.clone();
            let shared = shared.clone();
            async move {
                let (sender, mailer) = &*shared;
                let sender = match sender {
                    Ok(sender) => sender,
                    Err(error) => return Err(error.clone()),
                };
                for tenant_id in crate::tenants::all_ids(&state.databases).await? {
                    // Renewed per tenant: a run is bounded per tenant, not in all.
                    if !take_lease(&state, "notify_delivery", period + Duration::from_secs(60)).await? {
                        return Ok(());
                    }
                    let pool = state.databases.tenant(tenant_id).await?;
                    webhooks::deliver_due(&pool, sender).await?;
                    if let Some(mailer) = mailer {
                        mail::send_due(&pool, mailer).await?;
                    }
                }
                Ok(())
            }
        },
        crate::notify::woken,
    )
}

/// Takes (or renews) the lease `name` for `ttl`; false when another live
/// instance holds it. Works the same on SQLite and MySQL: a row per job,
/// updated only when expired or already ours.
pub async fn take_lease(state: &crate::app::AppState, name: &str, ttl: Duration) -> crate::AppResult<bool> {
    use crate::db::schema::global::job_lease;
    use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    let now = crate::clock::now_naive();
    let until = now + chrono::Duration::from_std(ttl).map_err(crate::AppError::internal)?;
    let me = state.instance_id.as_str();
    let mut conn = state.databases.global().get().await?;
    let taken = crate::write_tx!(&mut conn, |c| {
        let exists = job_lease::table
            .filter(job_lease::name.eq(name))
            .count()
            .get_result::<i64>(c)
            .await?
            > 0;
        if !exists {
            diesel::insert_into(job_lease::table)
                .values((
                    job_lease::name.eq(name),
                    job_lease::holder.eq(me),
                    job_lease::expires_at.eq(until),
                ))
                .execute(c)
                .await?;
            return Ok::<_, crate::AppError>(true);
        }
        let taken = diesel::update(
            job_lease::table
                .filter(job_lease::name.eq(name))
                .filter(job_lease::expires_at.lt(now).or(job_lease::holder.eq(me))),
        )
        .set((job_lease::holder.eq(me), job_lease::expires_at.eq(until)))
        .execute(c)
        .await?;
        Ok(taken == 1)
    });
    match taken {
        // Another instance created the lease row between our check and our
        // insert (a unique violation, told by its kind): it holds the lease.
        Err(crate::AppError::Conflict(_)) => Ok(false),
        // Two instances renewing at once on MySQL: one is the deadlock victim.
        Err(error) if error.is_lock_contention() => Ok(false),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::metrics::{HttpMetrics, Snapshot};

    #[tokio::test]
    async fn each_run_is_counted_and_a_failed_one_too() {
        let metrics = HttpMetrics::default();
        let (stop, receiver) = watch::channel(false);
        let (ran_tx, mut ran_rx) = tokio::sync::mpsc::unbounded_channel();
        // The first tick is immediate; the next one an hour away.
        let handle = every(
            "flaky",
            Duration::from_secs(3600),
            receiver,
            metrics.jobs(),
            move || {
                let ran = ran_tx.clone();
                async move {
                    let _ = ran.send(());
                    Err(crate::AppError::internal("boom"))
                }
            },
        );
        ran_rx.recv().await.expect("the job ran");
        let _ = stop.send(true);
        handle.await.expect("job task");
        let text = metrics.render(&Snapshot::default());
        assert!(text.contains(r#"camet_job_runs_total{job="flaky"} 1"#), "{text}");
        assert!(text.contains(r#"camet_job_failures_total{job="flaky"} 1"#), "{text}");
        assert!(
            text.contains(r#"camet_job_duration_seconds_count{job="flaky"} 1"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn stopping_ends_a_run_in_progress_instead_of_waiting_for_it() {
        let metrics = HttpMetrics::default();
        let (stop, receiver) = watch::channel(false);
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = every(
            "stuck",
            Duration::from_secs(3600),
            receiver,
            metrics.jobs(),
            move || {
                let started = started_tx.clone();
                async move {
                    let _ = started.send(());
                    std::future::pending::<()>().await;
                    Ok(())
                }
            },
        );
        started_rx.recv().await.expect("the run started");
        let _ = stop.send(true);
        // A hang guard only: without cancellation this never returns.
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("the job stops while its run is in progress")
            .expect("job task");
        let text = metrics.render(&Snapshot::default());
        assert!(
            !text.contains(r#"job="stuck""#),
            "an abandoned run is not counted: {text}"
        );
    }
}
