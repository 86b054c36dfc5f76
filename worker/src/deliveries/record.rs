//! Recording attempts. Attempts that end at about the same time are recorded together, in one
//! transaction (one commit for many deliveries under load, one per delivery when idle — no
//! waiting to fill a batch). For each attempt the transaction, in order:
//!
//! 1. deletes the job's queue row, fenced on the claim — a worker that lost its job (frozen past
//!    its lease, cut off from the database) finds nothing and records nothing;
//! 2. updates the delivery by compare-and-set: only if it still has the attempts the attempt
//!    started from and is neither delivered nor dead. A delivered delivery never goes back;
//! 3. stages the next attempt when the schedule has one, or leaves a dead letter.
//!
//! A failed transaction fails every attempt in it; their jobs stay claimed until the lease runs
//! out and are retried then, with the same idempotency key.

use crate::connectors::Outcome;
use crate::engine::{Engine, lock};
use crate::queue::{self, NewJob};
use entity::clock;
use entity::delivery;
use entity::status::DeliveryStatus;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most attempts recorded in one transaction.
const BATCH: usize = 256;

/// An attempt to record: the job's claim, and — unless the job needed no attempt — the
/// delivery as it was when the attempt started, the attempt number, its outcome and duration.
pub struct Op {
    pub job: (i64, i32),
    /// The job's trace, continued by its retry.
    pub trace: Option<String>,
    pub attempt: Option<(delivery::Model, u32, Outcome, Duration)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded; the delivery is now in this status.
    Applied(DeliveryStatus),
    /// The job was no longer ours, or the delivery had moved on: nothing recorded.
    Stale,
}

type Reply = oneshot::Sender<Result<Recorded, String>>;

pub struct Recorder {
    tx: mpsc::UnboundedSender<(Op, Reply)>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<(Op, Reply)>>>,
}

impl Default for Recorder {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

impl Recorder {
    /// Records `op` (with whatever else is waiting) and returns what happened to it.
    pub async fn record(&self, op: Op) -> Result<Recorded, String> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((op, reply))
            .map_err(|_| "the recorder has stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the recorder has stopped".to_string())?
    }

    /// Starts the recording loop (once per engine).
    pub fn spawn(engine: &Arc<Engine>) {
        let Some(mut rx) = lock(&engine.recorder.rx).take() else {
            return;
        };
        let engine = Arc::clone(engine);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(op) => batch.push(op),
                        Err(_) => break,
                    }
                }
                let (ops, replies): (Vec<Op>, Vec<Reply>) = batch.into_iter().unzip();
                match commit(&engine, ops).await {
                    Ok(results) => {
                        for (reply, r) in replies.into_iter().zip(results) {
                            let _ = reply.send(Ok(r));
                        }
                    }
                    Err(e) => {
                        let msg = format!("recording attempts: {e}");
                        tracing::warn!(error = %msg, "attempts not recorded; they will be retried");
                        for reply in replies {
                            let _ = reply.send(Err(msg.clone()));
                        }
                    }
                }
            }
        });
    }
}

/// What one outcome changes on its delivery.
struct Next {
    status: DeliveryStatus,
    code: Option<i32>,
    error: Option<String>,
    retry_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn next(engine: &Engine, n: u32, outcome: &Outcome) -> Next {
    let (code, error, retry_after) = match outcome {
        Outcome::Delivered { status } => (*status, None, None),
        Outcome::Retry {
            status,
            error,
            retry_after,
        } => (*status, Some(error.clone()), *retry_after),
        Outcome::Permanent { status, error } => (*status, Some(error.clone()), None),
        Outcome::Refused { error } => (None, Some(error.clone()), None),
    };
    let delay = match outcome {
        Outcome::Retry { .. } => engine.schedule.delay_before(n + 1, retry_after),
        _ => None,
    };
    let status = match (outcome, delay) {
        (Outcome::Delivered { .. }, _) => DeliveryStatus::Delivered,
        (Outcome::Refused { .. }, _) => DeliveryStatus::Refused,
        (Outcome::Retry { .. }, Some(_)) => DeliveryStatus::Retrying,
        _ => DeliveryStatus::Dead,
    };
    Next {
        status,
        code: code.map(i32::from),
        error: error.map(|e| e.chars().take(1000).collect()),
        retry_at: delay.map(|d| {
            chrono::Utc::now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero())
        }),
    }
}

async fn commit(engine: &Engine, ops: Vec<Op>) -> Result<Vec<Recorded>, DbErr> {
    let tx = crate::db::begin_write(&engine.db).await?;
    let jobs: Vec<(i64, i32)> = ops.iter().map(|o| o.job).collect();
    let owned = queue::finish(&tx, &engine.node, &jobs).await?;
    let now = clock::now_string();
    let mut results = Vec::with_capacity(ops.len());
    let mut retries = Vec::new();
    let mut applied = Vec::new();
    let mut tally = crate::health::Tally::default();
    let mut changes = Vec::new();
    for op in &ops {
        let Some((d, n, outcome, took)) = &op.attempt else {
            results.push(Recorded::Stale);
            continue;
        };
        if !owned.contains(&op.job.0) {
            results.push(Recorded::Stale);
            continue;
        }
        let nx = next(engine, *n, outcome);
        let mut history: Vec<Value> = serde_json::from_str(&d.history).unwrap_or_default();
        history.push(json!({
            "attempt": n,
            "at": now,
            "status_code": nx.code,
            "error": nx.error,
            "duration_ms": u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
            "outcome": nx.status.as_str(),
        }));
        let latency = clock::millis_since(&d.accepted_at);
        let mut update = delivery::Entity::update_many()
            .col_expr(
                delivery::Column::Attempts,
                Expr::value(i32::try_from(*n).unwrap_or(i32::MAX)),
            )
            .col_expr(delivery::Column::Status, Expr::value(nx.status.as_str()))
            .col_expr(delivery::Column::LastStatusCode, Expr::value(nx.code))
            .col_expr(delivery::Column::LastError, Expr::value(nx.error.clone()))
            .col_expr(
                delivery::Column::History,
                Expr::value(Value::Array(history).to_string()),
            )
            .col_expr(
                delivery::Column::NextAttemptAt,
                Expr::value(nx.retry_at.map(clock::format)),
            )
            .col_expr(delivery::Column::UpdatedAt, Expr::value(now.clone()));
        if nx.status == DeliveryStatus::Delivered {
            update = update.col_expr(delivery::Column::LatencyMs, Expr::value(latency));
        }
        let changed = update
            .filter(delivery::Column::Id.eq(d.id))
            .filter(delivery::Column::Attempts.eq(i32::try_from(*n).unwrap_or(i32::MAX) - 1))
            .filter(delivery::Column::Status.is_not_in([
                DeliveryStatus::Delivered.as_str(),
                DeliveryStatus::Dead.as_str(),
                DeliveryStatus::Refused.as_str(),
            ]))
            .exec(&tx)
            .await?
            .rows_affected;
        if changed == 0 {
            results.push(Recorded::Stale);
            continue;
        }
        if let Some(at) = nx.retry_at {
            retries
                .push(NewJob::deliver(d.id, n + 1, d.connection_id, at).traced(op.trace.clone()));
        }
        tally.attempt(d.instance_id, nx.status, *n, latency, nx.code);
        changes.push(crate::changes::Change::delivery(
            d.instance_id,
            d.run_id,
            d.id,
        ));
        applied.push((nx.status, latency, d.connector.clone()));
        results.push(Recorded::Applied(nx.status));
    }
    queue::stage(&tx, retries).await?;
    if !engine.cfg.observe {
        // Measuring what observation costs (`execution.observe = false`): no health
        // aggregates, live updates or metrics.
        return tx.commit().await.map(|()| results);
    }
    // Counters and live-update notices in one round trip.
    let mut writes = crate::db::Writes::default();
    tally.stage(tx.get_database_backend(), &mut writes);
    crate::changes::stage(tx.get_database_backend(), &changes, &mut writes);
    writes.run(&tx).await?;
    tx.commit().await?;
    engine.changes.committed(&changes);
    for (status, latency, connector) in applied {
        metrics::counter!("switchyard_delivery_attempts_total", "outcome" => status.as_str(), "connector" => connector.clone())
            .increment(1);
        if let (Some(ms), DeliveryStatus::Delivered) = (latency, status) {
            #[allow(clippy::cast_precision_loss)]
            metrics::histogram!("switchyard_delivery_latency_seconds", "connector" => connector)
                .record(ms as f64 / 1000.0);
        }
    }
    Ok(results)
}
