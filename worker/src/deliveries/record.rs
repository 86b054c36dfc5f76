//! Recording attempts. Attempts that end at about the same time are recorded together, in one
//! transaction (one commit for many deliveries under load, one per delivery when idle — no
//! waiting to fill a batch). For each attempt the transaction, in order:
//!
//! 1. deletes the job's queue row, fenced on the claim — a worker that lost its job (frozen past
//!    its lease, cut off from the database) finds nothing and records nothing;
//! 2. updates the delivery by compare-and-set (one statement for the lot): only if
//!    it still has the attempts the attempt started from and is neither delivered nor dead. A
//!    delivered delivery never goes back;
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
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use serde_json::{Value, json};
use std::collections::HashSet;
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

/// One delivery's change, ready to apply by compare-and-set.
struct Planned<'a> {
    op: usize,
    d: &'a delivery::Model,
    n: u32,
    nx: Next,
    history: String,
    /// Milliseconds from acceptance to now.
    latency: Option<i64>,
}

impl Planned<'_> {
    /// The latency to store: only a delivered delivery has one.
    fn delivered_latency(&self) -> Option<i64> {
        self.latency
            .filter(|_| self.nx.status == DeliveryStatus::Delivered)
    }
}

async fn commit(engine: &Engine, ops: Vec<Op>) -> Result<Vec<Recorded>, DbErr> {
    let tx = crate::db::begin_write(&engine.db).await?;
    let jobs: Vec<(i64, i32)> = ops.iter().map(|o| o.job).collect();
    let owned = queue::finish(&tx, &engine.node, &jobs).await?;
    let now = clock::now_string();
    let mut results = vec![Recorded::Stale; ops.len()];
    let mut planned = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let Some((d, n, outcome, took)) = &op.attempt else {
            continue;
        };
        if !owned.contains(&op.job.0) {
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
        planned.push(Planned {
            op: i,
            d,
            n: *n,
            history: Value::Array(history).to_string(),
            latency: clock::millis_since(&d.accepted_at),
            nx,
        });
    }
    let changed = apply(&tx, &planned, &now).await?;
    let mut retries = Vec::new();
    let mut applied = Vec::new();
    let mut tally = crate::health::Tally::default();
    let mut changes = Vec::new();
    for (p, _) in planned.iter().zip(changed).filter(|(_, changed)| *changed) {
        let (d, n, nx, latency) = (p.d, p.n, &p.nx, p.latency);
        if let Some(at) = nx.retry_at {
            retries.push(
                NewJob::deliver(d.id, n + 1, d.connection_id, at).traced(ops[p.op].trace.clone()),
            );
        }
        tally.attempt(d.instance_id, nx.status, n, latency, nx.code);
        changes.push(crate::changes::Change::delivery(
            d.instance_id,
            d.run_id,
            d.id,
        ));
        applied.push((nx.status, latency, d.connector.clone()));
        results[p.op] = Recorded::Applied(nx.status);
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

/// Statuses an attempt never moves a delivery out of.
const FINAL: [DeliveryStatus; 3] = [
    DeliveryStatus::Delivered,
    DeliveryStatus::Dead,
    DeliveryStatus::Refused,
];

/// Applies `planned` by compare-and-set — only where the delivery still has the attempts the
/// attempt started from and is not final — and says, for each, whether it changed. One
/// `UPDATE … FROM` a list of values for the lot (on SQLite, where each statement is also a hop to
/// the connection's thread, while the single writer is held), unless one delivery appears twice:
/// then which row wins would be arbitrary, so each goes alone, in order.
async fn apply<C: ConnectionTrait>(
    tx: &C,
    planned: &[Planned<'_>],
    now: &str,
) -> Result<Vec<bool>, DbErr> {
    let backend = tx.get_database_backend();
    if planned.is_empty() {
        return Ok(Vec::new());
    }
    let ids: HashSet<i64> = planned.iter().map(|p| p.d.id).collect();
    if ids.len() == planned.len() {
        let changed = apply_together(tx, backend, planned, now).await?;
        return Ok(planned.iter().map(|p| changed.contains(&p.d.id)).collect());
    }
    let mut changed = Vec::with_capacity(planned.len());
    for p in planned {
        let one = apply_together(tx, backend, std::slice::from_ref(p), now).await?;
        changed.push(!one.is_empty());
    }
    Ok(changed)
}

/// The one compare-and-set statement for `planned` (not empty, each delivery once).
async fn apply_together<C: ConnectionTrait>(
    tx: &C,
    backend: DbBackend,
    planned: &[Planned<'_>],
    now: &str,
) -> Result<HashSet<i64>, DbErr> {
    let mut values: Vec<sea_orm::Value> = vec![now.into()];
    let mut tuples = Vec::with_capacity(planned.len());
    for p in planned {
        let n = i32::try_from(p.n).unwrap_or(i32::MAX);
        let at = values.len() + 1;
        // PostgreSQL types the values by their casts; SQLite takes them as bound.
        let types = match backend {
            DbBackend::Postgres => [
                "::bigint", "::int", "::text", "::int", "::text", "::text", "::text", "::bigint",
            ],
            _ => [""; 8],
        };
        let tuple: Vec<String> = types
            .iter()
            .enumerate()
            .map(|(k, t)| format!("${}{t}", at + k))
            .collect();
        tuples.push(format!("({})", tuple.join(", ")));
        values.extend([
            p.d.id.into(),
            n.into(),
            p.nx.status.as_str().into(),
            p.nx.code.into(),
            p.nx.error.clone().into(),
            p.history.clone().into(),
            p.nx.retry_at.map(clock::format).into(),
            p.delivered_latency().into(),
        ]);
    }
    let finals: Vec<String> = FINAL.iter().map(|s| format!("'{}'", s.as_str())).collect();
    // A common table expression names the values' columns the same way on both backends
    // (SQLite ≥ 3.35 has `UPDATE … FROM` and `RETURNING`).
    let sql = format!(
        "WITH v(vid, attempts, status, code, error, history, next_at, latency) AS (VALUES {}) \
         UPDATE deliveries AS d SET attempts = v.attempts, status = v.status, \
         last_status_code = v.code, last_error = v.error, history = v.history, \
         next_attempt_at = v.next_at, updated_at = $1, latency_ms = COALESCE(v.latency, d.latency_ms) \
         FROM v WHERE d.id = v.vid AND d.attempts = v.attempts - 1 AND d.status NOT IN ({}) \
         RETURNING id",
        tuples.join(", "),
        finals.join(", ")
    );
    let mut changed = HashSet::new();
    for row in tx
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
    {
        changed.insert(row.try_get::<i64>("", "id")?);
    }
    Ok(changed)
}

#[cfg(test)]
#[path = "../../tests/support/mod.rs"]
mod test_support;

#[cfg(test)]
mod tests {
    //! Compare-and-set of attempts against a real database (a fresh SQLite file, or a fresh
    //! PostgreSQL database when `DATABASE_URL` points at one), recorded together as under load.

    use super::*;
    use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set, TransactionTrait};
    use test_support::fresh_db;

    async fn delivery(
        db: &DatabaseConnection,
        key: &str,
        status: DeliveryStatus,
        attempts: i32,
    ) -> delivery::Model {
        let now = clock::now_string();
        delivery::ActiveModel {
            run_id: Set(1),
            instance_id: Set(1),
            step_id: Set("forward".into()),
            slot: Set("hook".into()),
            connection_id: Set(1),
            connector: Set("webhook".into()),
            idempotency_key: Set(key.into()),
            business_key: Set(key.into()),
            object: Set("event".into()),
            action: Set("message".into()),
            record: Set("{}".into()),
            status: Set(status),
            attempts: Set(attempts),
            history: Set("[]".into()),
            accepted_at: Set(now.clone()),
            created_at: Set(now.clone()),
            updated_at: Set(now),
            replays: Set(0),
            ..Default::default()
        }
        .insert(db)
        .await
        .expect("insert delivery")
    }

    async fn reload(db: &DatabaseConnection, id: i64) -> delivery::Model {
        delivery::Entity::find_by_id(id)
            .one(db)
            .await
            .expect("read")
            .expect("row")
    }

    fn planned(op: usize, d: &delivery::Model, n: u32, status: DeliveryStatus) -> Planned<'_> {
        let retry = status == DeliveryStatus::Retrying;
        Planned {
            op,
            d,
            n,
            nx: Next {
                status,
                code: Some(if retry { 503 } else { 200 }),
                error: retry.then(|| "503 Service Unavailable".to_string()),
                retry_at: retry.then(|| chrono::Utc::now() + chrono::Duration::seconds(5)),
            },
            history: format!(r#"[{{"attempt":{n},"outcome":"{}"}}]"#, status.as_str()),
            latency: Some(42),
        }
    }

    #[tokio::test]
    async fn attempts_recorded_together_change_only_deliveries_still_where_they_started() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = fresh_db(dir.path()).await;
        let fresh = delivery(&db, "k1", DeliveryStatus::Pending, 0).await;
        let delivered = delivery(&db, "k2", DeliveryStatus::Delivered, 1).await;
        let moved_on = delivery(&db, "k3", DeliveryStatus::Retrying, 2).await;
        let failing = delivery(&db, "k4", DeliveryStatus::Pending, 0).await;
        let batch = [
            planned(0, &fresh, 1, DeliveryStatus::Delivered),
            // A stale attempt 1 of a delivery another worker already delivered.
            planned(1, &delivered, 1, DeliveryStatus::Retrying),
            // A stale attempt 2 of a delivery that has had its attempt 2 recorded.
            planned(2, &moved_on, 2, DeliveryStatus::Delivered),
            planned(3, &failing, 1, DeliveryStatus::Retrying),
        ];
        let tx = db.begin().await.expect("begin");
        let changed = apply(&tx, &batch, &clock::now_string())
            .await
            .expect("apply");
        tx.commit().await.expect("commit");
        assert_eq!(changed, [true, false, false, true]);

        let d1 = reload(&db, fresh.id).await;
        assert_eq!(
            (d1.status, d1.attempts, d1.latency_ms, d1.last_status_code),
            (DeliveryStatus::Delivered, 1, Some(42), Some(200))
        );
        assert!(d1.next_attempt_at.is_none());
        assert!(d1.history.contains(r#""outcome":"delivered""#));
        let d2 = reload(&db, delivered.id).await;
        assert_eq!(d2, delivered, "a delivered delivery never goes back");
        let d3 = reload(&db, moved_on.id).await;
        assert_eq!(d3, moved_on, "a stale attempt records nothing");
        let d4 = reload(&db, failing.id).await;
        assert_eq!(
            (
                d4.status,
                d4.attempts,
                d4.latency_ms,
                d4.last_error.as_deref()
            ),
            (
                DeliveryStatus::Retrying,
                1,
                None,
                Some("503 Service Unavailable")
            )
        );
        assert!(d4.next_attempt_at.is_some());
    }

    #[tokio::test]
    async fn two_attempts_of_one_delivery_in_one_batch_apply_in_order() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = fresh_db(dir.path()).await;
        let d = delivery(&db, "k1", DeliveryStatus::Pending, 0).await;
        // Attempt 1 failed and attempt 2 (its retry) succeeded, both recorded at once.
        let batch = [
            planned(0, &d, 1, DeliveryStatus::Retrying),
            planned(1, &d, 2, DeliveryStatus::Delivered),
        ];
        let tx = db.begin().await.expect("begin");
        let changed = apply(&tx, &batch, &clock::now_string())
            .await
            .expect("apply");
        tx.commit().await.expect("commit");
        assert_eq!(changed, [true, true]);
        let after = reload(&db, d.id).await;
        assert_eq!(
            (after.status, after.attempts),
            (DeliveryStatus::Delivered, 2)
        );
    }
}
