//! One delivery attempt: the job `Deliver { delivery_id, attempt }`. It calls the connection's
//! connector once with the delivery's idempotency key, then hands the outcome to the recorder,
//! which records it only if the delivery is still where the attempt started from (see
//! `record`). An attempt already recorded, or a delivery already delivered or dead, makes no
//! call: the job just finishes. A worker whose lease ran out while it was frozen makes no call
//! either — another worker holds the job now.

use super::lanes::Health;
use super::record::{Op, Recorded};
use crate::connectors::{Action, Delivery, Outcome};
use crate::engine::Engine;
use crate::jobs::{Job, JobV1};
use crate::policy::Verdict;
use crate::queue::{self, Claimed};
use entity::delivery;
use sea_orm::EntityTrait;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longest one connector call may take (connectors have their own, shorter timeouts).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// How soon a delivery waiting for a flow decision under the policy in force looks again.
const POLICY_WAIT_MS: i64 = 1_000;

fn action(name: &str) -> Action {
    match name {
        "remove" => Action::Remove,
        "message" => Action::Message,
        "append" => Action::Append,
        _ => Action::Upsert,
    }
}

/// A delivery job's slot in its destination's lane. It is given back once — as soon as the
/// destination has answered (or no call is made), before the outcome is recorded: recording is
/// this process's work, not the destination's, so a destination's share of slots bounds only
/// calls waiting for it. The worker's own slot (`execution.concurrency`) stays taken until the
/// attempt is recorded. Shared with [`abandon`], so a stuck attempt's slot is not freed twice.
#[derive(Clone)]
pub struct LaneSlot {
    lane: String,
    given_back: Arc<AtomicBool>,
}

impl LaneSlot {
    pub fn new(lane: &str) -> Self {
        Self {
            lane: lane.to_string(),
            given_back: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Frees the slot with what the attempt showed of the destination's health; parks the lane
    /// or releases its waiting deliveries when that changed the breaker. Does nothing the
    /// second time.
    pub async fn give_back(&self, engine: &Engine, health: Health) {
        if self.given_back.swap(true, Ordering::AcqRel) {
            return;
        }
        let lane = &self.lane;
        let change = engine.lanes.done(lane, health, entity::clock::now_ms());
        // Jobs given back (parked) or made due (reopened) wait in the queue.
        let released = change.parked.is_some() || change.reopened.is_some();
        if let Some((jobs, until)) = change.parked {
            let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
            engine.forget_fresh(jobs.iter().filter_map(delivery_of));
            if let Err(e) = queue::release(&engine.db, &engine.node, &ids, until).await {
                tracing::warn!(error = %e, "could not give parked deliveries back; their leases will run out");
            }
            engine.unhold(ids);
            tracing::info!(lane = %lane, "destination parked after repeated failures");
            metrics::counter!("switchyard_destinations_parked_total").increment(1);
        }
        if let Some(lane) = change.reopened {
            match queue::pull_forward(&engine.db, &lane).await {
                Ok(n) => {
                    tracing::info!(lane = %lane, released = n, "destination answers again; its waiting deliveries are due now")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not release a destination's waiting deliveries")
                }
            }
        }
        if released {
            engine.wake.deliveries_queued();
        } else {
            engine.wake.deliveries.notify_one();
        }
    }
}

/// Runs one claimed delivery job holding `slot` in its lane.
pub async fn handle(engine: Arc<Engine>, job: Claimed, slot: LaneSlot) -> Result<(), String> {
    use tracing::Instrument;
    let span = tracing::info_span!("delivery.attempt", job = job.id, lane = %job.lane);
    crate::trace::adopt(&span, job.trace.as_deref());
    handle_in_span(engine, job, slot).instrument(span).await
}

async fn handle_in_span(engine: Arc<Engine>, job: Claimed, slot: LaneSlot) -> Result<(), String> {
    let result = match &job.job {
        Job::V1(JobV1::Deliver {
            delivery_id,
            attempt,
        }) => attempt_one(&engine, &job, &slot, *delivery_id, *attempt).await,
        other => Err(format!("not a delivery job: {other:?}")),
    };
    // Paths that made no call give the slot back here (no-op when the attempt already did).
    slot.give_back(&engine, Health::Unknown).await;
    // This attempt's worker slot is free now: the feeder may pass on another job.
    engine.wake.deliveries.notify_one();
    result
}

/// An attempt that never finished (stuck past the job timeout, or panicked): its lane slot is
/// freed (unless the destination had already answered) and its job given back, due now, to be
/// tried again under the same idempotency key.
pub async fn abandon(engine: &Engine, job_id: i64, slot: &LaneSlot) {
    slot.give_back(engine, Health::Down).await;
    engine.unhold([job_id]);
    if let Err(e) =
        queue::release(&engine.db, &engine.node, &[job_id], entity::clock::now_ms()).await
    {
        tracing::warn!(error = %e, "could not give an abandoned attempt back; its lease will run out");
    }
    engine.wake.deliveries_queued();
}

/// Reads the deliveries of claimed jobs in one query, for their attempts to start from (one
/// round trip per claim instead of one per attempt). A failed read is only logged: each attempt
/// then reads its own delivery.
pub(crate) async fn preload(engine: &Engine, jobs: &[Claimed]) {
    use sea_orm::{ColumnTrait, QueryFilter};
    let ids: Vec<i64> = jobs.iter().filter_map(delivery_of).collect();
    if ids.len() < 2 {
        return;
    }
    match delivery::Entity::find()
        .filter(delivery::Column::Id.is_in(ids))
        .all(&engine.db)
        .await
    {
        Ok(rows) => engine.keep_fresh(rows),
        Err(e) => {
            tracing::warn!(error = %e, "could not read claimed deliveries ahead; each attempt reads its own")
        }
    }
}

fn delivery_of(job: &Claimed) -> Option<i64> {
    match job.job {
        Job::V1(JobV1::Deliver { delivery_id, .. }) => Some(delivery_id),
        _ => None,
    }
}

async fn attempt_one(
    engine: &Engine,
    job: &Claimed,
    slot: &LaneSlot,
    delivery_id: i64,
    n: u32,
) -> Result<(), String> {
    let d = match engine.take_fresh(delivery_id) {
        Some(d) => d,
        None => match delivery::Entity::find_by_id(delivery_id)
            .one(&engine.db)
            .await
        {
            Ok(Some(d)) => d,
            Ok(None) => return finish_only(engine, job).await,
            Err(e) => {
                engine.unhold([job.id]);
                return Err(format!("loading delivery {delivery_id}: {e}"));
            }
        },
    };
    let expected = i64::from(n) - 1;
    if d.status.is_final() || i64::from(d.attempts) != expected {
        // Already recorded, delivered or dead: a repeated or outdated job.
        return finish_only(engine, job).await;
    }
    if !engine.still_holds(job.id) {
        // Frozen past the lease: someone else has this job now.
        engine.unhold([job.id]);
        return Ok(());
    }
    // Sent only under a flow decision of the policy in force (see `crate::policy`).
    let started = Instant::now();
    let (d, outcome) = match crate::policy::check(engine, d).await {
        Verdict::Send(d) => {
            let outcome = call(engine, &d).await;
            (*d, outcome)
        }
        Verdict::Refuse(d, error) => (*d, Outcome::Refused { error }),
        Verdict::Wait(why) => {
            tracing::info!(delivery = delivery_id, %why, "delivery waits for a flow decision under the policy in force");
            let again = entity::clock::now_ms() + POLICY_WAIT_MS;
            if let Err(e) = queue::release(&engine.db, &engine.node, &[job.id], again).await {
                tracing::warn!(error = %e, "could not put a waiting delivery back; its lease will run out");
            }
            engine.unhold([job.id]);
            return Ok(());
        }
    };
    let took = started.elapsed();
    let health = match &outcome {
        Outcome::Delivered { .. } => Health::Up,
        Outcome::Permanent {
            status: Some(_), ..
        } => Health::Up,
        Outcome::Permanent { status: None, .. } | Outcome::Refused { .. } => Health::Unknown,
        Outcome::Retry { .. } => Health::Down,
    };
    // The destination has answered: its lane slot is free while the outcome is recorded.
    slot.give_back(engine, health).await;
    let result = engine
        .recorder
        .record(Op {
            job: (job.id, job.claims),
            trace: job.trace.clone(),
            attempt: Some((d, n, outcome, took)),
        })
        .await;
    engine.unhold([job.id]);
    result.map(|_: Recorded| ())
}

/// Finishes a job that needs no attempt.
async fn finish_only(engine: &Engine, job: &Claimed) -> Result<(), String> {
    let result = engine
        .recorder
        .record(Op {
            job: (job.id, job.claims),
            trace: None,
            attempt: None,
        })
        .await
        .map(|_| ());
    engine.unhold([job.id]);
    result
}

async fn call(engine: &Engine, d: &delivery::Model) -> Outcome {
    let connector = match engine.connectors.get(engine, d.connection_id).await {
        Ok(Ok(c)) => c,
        Ok(Err(error)) => {
            return Outcome::Permanent {
                status: None,
                error,
            };
        }
        Err(e) => {
            return Outcome::Retry {
                status: None,
                error: format!("loading the connection: {e}"),
                retry_after: None,
            };
        }
    };
    let delivery = Delivery {
        idempotency_key: d.idempotency_key.clone(),
        business_key: d.business_key.clone(),
        object: d.object.clone(),
        action: action(&d.action),
        record: serde_json::from_str(&d.record).unwrap_or(Value::Null),
        attempted_at: chrono::Utc::now(),
    };
    match tokio::time::timeout(ATTEMPT_TIMEOUT, connector.deliver(&delivery)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Retry {
            status: None,
            error: format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()),
            retry_after: None,
        },
    }
}
