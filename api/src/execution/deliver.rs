//! Delivery attempts. Each attempt calls the connector once, then records — in one
//! transaction — the attempt in the delivery's history, its new status, and, when it must be
//! tried again, the next attempt's job in the outbox (so a retry can never be lost). After the
//! last attempt of the schedule, or on a permanent failure, the delivery is a dead letter.
//!
//! An attempt already recorded is never made again: a repeated job is a no-op. An attempt
//! interrupted by a crash is made again, with the same idempotency key, so the destination
//! sees one effect.

use super::{Engine, outbox};
use crate::audit::now_string;
use entity::{connection, delivery};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use worker::connectors::{self, Action, Delivery, Outcome};
use worker::jobs::{Job, JobV1};

/// Makes the first attempt of every delivery of `run_id` that has none yet.
pub async fn attempt_new(engine: &Engine, run_id: i64) -> anyhow::Result<()> {
    let fresh = delivery::Entity::find()
        .filter(delivery::Column::RunId.eq(run_id))
        .filter(delivery::Column::Status.eq("pending"))
        .filter(delivery::Column::Attempts.eq(0))
        .order_by_asc(delivery::Column::Id)
        .all(&engine.db)
        .await?;
    for d in fresh {
        attempt(engine, d.id, 1).await?;
    }
    Ok(())
}

fn action(name: &str) -> Action {
    match name {
        "remove" => Action::Remove,
        "message" => Action::Message,
        "append" => Action::Append,
        _ => Action::Upsert,
    }
}

/// Decrypted settings of a connection: public settings plus opened secrets.
fn settings(engine: &Engine, conn: &connection::Model) -> anyhow::Result<Value> {
    let mut all: serde_json::Map<String, Value> = serde_json::from_str(&conn.settings)?;
    if !conn.secret.is_empty() {
        let opened = engine.secrets.open(&conn.secret)?;
        let secret: serde_json::Map<String, Value> = serde_json::from_slice(&opened)?;
        all.extend(secret);
    }
    Ok(Value::Object(all))
}

async fn call(engine: &Engine, d: &delivery::Model) -> Outcome {
    let conn = match connection::Entity::find_by_id(d.connection_id)
        .one(&engine.db)
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Outcome::Permanent {
                status: None,
                error: format!("connection {} no longer exists", d.connection_id),
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
    let settings = match settings(engine, &conn) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::Permanent {
                status: None,
                error: format!("connection settings cannot be opened: {e}"),
            };
        }
    };
    let connector = match connectors::build(&conn.connector, &settings, &engine.net) {
        Ok(c) => c,
        Err(e) => {
            return Outcome::Permanent {
                status: None,
                error: e.to_string(),
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
    match tokio::time::timeout(engine.attempt_timeout, connector.deliver(&delivery)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Retry {
            status: None,
            error: format!("no answer within {} s", engine.attempt_timeout.as_secs()),
            retry_after: None,
        },
    }
}

/// Makes attempt `n` (1-based) of delivery `id` unless it was made already.
pub async fn attempt(engine: &Engine, id: i64, n: u32) -> anyhow::Result<()> {
    let Some(d) = delivery::Entity::find_by_id(id).one(&engine.db).await? else {
        return Ok(());
    };
    let done_before = i64::from(d.attempts) >= i64::from(n);
    if done_before || matches!(d.status.as_str(), "delivered" | "dead" | "refused") {
        return Ok(());
    }
    let started = Instant::now();
    let outcome = call(engine, &d).await;
    record(engine, d, n, outcome, started.elapsed()).await
}

async fn record(
    engine: &Engine,
    d: delivery::Model,
    n: u32,
    outcome: Outcome,
    took: Duration,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let (status_code, error, retry_after) = match &outcome {
        Outcome::Delivered { status } => (*status, None, None),
        Outcome::Retry {
            status,
            error,
            retry_after,
        } => (*status, Some(error.clone()), *retry_after),
        Outcome::Permanent { status, error } => (*status, Some(error.clone()), None),
    };
    let next_delay = match outcome {
        Outcome::Retry { .. } => engine.schedule.delay_before(n + 1, retry_after),
        _ => None,
    };
    let status = match (&outcome, next_delay) {
        (Outcome::Delivered { .. }, _) => "delivered",
        (Outcome::Retry { .. }, Some(_)) => "retrying",
        _ => "dead",
    };
    let mut history: Vec<Value> = serde_json::from_str(&d.history).unwrap_or_default();
    history.push(json!({
        "attempt": n,
        "at": now_string(),
        "status_code": status_code,
        "error": error,
        "duration_ms": u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        "outcome": status,
    }));
    let latency = chrono::DateTime::parse_from_rfc3339(&d.accepted_at)
        .ok()
        .map(|t| (now - t.with_timezone(&chrono::Utc)).num_milliseconds());
    let tx = crate::db::begin_write(&engine.db).await?;
    let mut next_at = None;
    if let Some(delay) = next_delay {
        let at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
        next_at = Some(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let job = Job::V1(JobV1::Deliver {
            delivery_id: d.id,
            attempt: n + 1,
        });
        outbox::stage(&tx, vec![outbox::row(&job, at)]).await?;
    }
    if status == "delivered" {
        super::audience::on_delivered(&tx, &d).await?;
    }
    let mut active: delivery::ActiveModel = d.into();
    active.attempts = Set(i32::try_from(n).unwrap_or(i32::MAX));
    active.status = Set(status.to_string());
    active.last_status_code = Set(status_code.map(i32::from));
    active.last_error = Set(error.map(|e| e.chars().take(1000).collect()));
    active.history = Set(Value::Array(history).to_string());
    active.next_attempt_at = Set(next_at);
    active.updated_at = Set(now_string());
    if status == "delivered" {
        active.latency_ms = Set(latency);
    }
    active.update(&tx).await?;
    outbox::commit(tx).await?;
    metrics::counter!("switchyard_delivery_attempts_total", "outcome" => status).increment(1);
    if let (Some(ms), "delivered") = (latency, status) {
        #[allow(clippy::cast_precision_loss)]
        metrics::histogram!("switchyard_delivery_latency_seconds").record(ms as f64 / 1000.0);
    }
    Ok(())
}
