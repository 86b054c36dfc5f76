//! Switchyard's data plane: running workflows. It owns the job queue (`queue`), the steps of a
//! run and the one interpreter that evaluates them (`runs`), deliveries with their attempts,
//! retries, dead letters and per-destination isolation (`deliveries`), scheduled syncs and
//! exports (`schedules`), and the connectors that reach destinations (`connectors`, behind the
//! network guard in `net`).
//!
//! It never consults the policy engine: what may flow where was decided by the control plane
//! and is stored with each instance as data (`entity::documents::flow`), with the policy version
//! it was decided under; a delivery goes out only under a decision of the version in force
//! (`policy`). Both `switchyard serve`
//! and `switchyard worker` call [`run`].

pub mod alerts;
pub mod catalog;
pub mod changes;
pub mod config;
pub mod connectors;
pub mod db;
pub mod deliveries;
pub mod drift;
pub mod engine;
pub mod health;
pub mod jobs;
pub mod net;
pub mod policy;
pub mod queue;
pub mod retry;
pub mod runs;
pub mod schedules;
pub mod schema;
pub mod secrets;
pub mod trace;

pub use engine::Engine;

use apalis::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex as AsyncMutex, mpsc, watch};

async fn handle_runs(
    batch: Vec<queue::Claimed>,
    engine: Data<Arc<Engine>>,
) -> Result<(), BoxDynError> {
    let limit = engine.cfg.job_timeout();
    match tokio::time::timeout(limit, runs::handle_batch(Arc::clone(&engine), batch)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "a batch of runs failed; its jobs are retried when their leases run out");
            Err(e.into())
        }
        Err(_) => Err(format!("a batch of runs exceeded {} s", limit.as_secs()).into()),
    }
}

async fn handle_delivery(
    job: queue::Claimed,
    engine: Data<Arc<Engine>>,
) -> Result<(), BoxDynError> {
    let limit = engine.cfg.job_timeout();
    let id = job.id;
    let slot = deliveries::attempt::LaneSlot::new(&job.lane);
    // The attempt runs on its own task: if this worker is restarted, the attempt still finishes
    // and records its outcome under its lease.
    let mut task = tokio::spawn(deliveries::attempt::handle(
        Arc::clone(&engine),
        job,
        slot.clone(),
    ));
    match tokio::time::timeout(limit, &mut task).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e.into()),
        Ok(Err(e)) => {
            deliveries::attempt::abandon(&engine, id, &slot).await;
            Err(format!("delivery attempt panicked: {e}").into())
        }
        Err(_) => {
            // Stuck though its worker is alive: give the job back so it is tried again.
            task.abort();
            deliveries::attempt::abandon(&engine, id, &slot).await;
            Err(format!(
                "a delivery attempt exceeded {} s and was given back",
                limit.as_secs()
            )
            .into())
        }
    }
}

/// Runs this process's consumers — steps, deliveries, schedules — until `shutdown` turns
/// true; in-flight jobs then get `grace` to finish, and jobs held but not started are given
/// back to the queue for other workers.
pub async fn run(
    engine: Arc<Engine>,
    shutdown: watch::Receiver<bool>,
    grace: Duration,
) -> Result<(), String> {
    if let Err(e) = queue::legacy::adopt(&engine.db).await {
        tracing::warn!(error = %e, "adopting jobs of an earlier version failed; retrying at the next start");
    }
    deliveries::record::Recorder::spawn(&engine);
    queue::wake::spawn_listener(&engine.db, Arc::clone(&engine.wake));
    engine.set_running(true);
    let (run_tx, run_rx) = mpsc::channel::<Vec<queue::Claimed>>(2);
    let (dlv_tx, dlv_rx) = mpsc::channel::<queue::Claimed>(engine.cfg.concurrency);
    let run_rx = Arc::new(AsyncMutex::new(run_rx));
    let dlv_rx = Arc::new(AsyncMutex::new(dlv_rx));
    let feeders = [
        tokio::spawn(queue::backend::feed_runs(
            Arc::clone(&engine),
            run_tx,
            shutdown.clone(),
        )),
        tokio::spawn(queue::backend::feed_deliveries(
            Arc::clone(&engine),
            dlv_tx,
            shutdown.clone(),
        )),
        tokio::spawn(queue::backend::heartbeat(
            Arc::clone(&engine),
            shutdown.clone(),
        )),
    ];
    let mut stop = shutdown.clone();
    let signal = async move {
        let _ = stop.wait_for(|s| *s).await;
        Ok(())
    };
    let (e1, e2, e3, e4) = (
        Arc::clone(&engine),
        Arc::clone(&engine),
        Arc::clone(&engine),
        Arc::clone(&engine),
    );
    let concurrency = engine.cfg.concurrency;
    let restarts = Arc::clone(&engine);
    let monitor = Monitor::new()
        .register(move |_| {
            WorkerBuilder::new(format!("switchyard-runs-{}", e1.node))
                .backend(queue::backend::fed(Arc::clone(&run_rx)))
                .data(Arc::clone(&e1))
                .concurrency(2)
                .build(handle_runs)
        })
        .register(move |_| {
            WorkerBuilder::new(format!("switchyard-deliveries-{}", e2.node))
                .backend(queue::backend::fed(Arc::clone(&dlv_rx)))
                .data(Arc::clone(&e2))
                .concurrency(concurrency)
                .build(handle_delivery)
        })
        .register(move |_| {
            WorkerBuilder::new(format!("switchyard-scheduler-{}", e3.node))
                .backend(apalis_cron::CronScheduler::new(schedules::every_quarter_minute()))
                .data(Arc::clone(&e3))
                .build(schedules::on_tick)
        })
        .register(move |_| {
            WorkerBuilder::new(format!("switchyard-alerts-{}", e4.node))
                .backend(apalis_cron::CronScheduler::new(alerts::every_minute()))
                .data(Arc::clone(&e4))
                .build(alerts::on_tick)
        })
        .should_restart(move |worker, error| {
            tracing::warn!(worker = %worker.name(), error = ?error, "worker stopped; restarting it");
            restarts.health.failed(worker.name(), &format!("{error:?}"));
            true
        });
    let result = monitor
        .shutdown_timeout(grace)
        .run_with_signal(signal)
        .await;
    engine.set_running(false);
    for f in feeders {
        f.abort();
    }
    let left = engine.held_ids();
    if !left.is_empty()
        && let Err(e) =
            queue::release(&engine.db, &engine.node, &left, entity::clock::now_ms()).await
    {
        tracing::warn!(error = %e, "could not give unfinished jobs back; their leases will run out");
    }
    result.map_err(|e| format!("workers: {e}"))
}
