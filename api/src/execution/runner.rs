//! Running an instance's steps for one event. A run is unique per (instance, trigger), so the
//! same job arriving twice — a re-queued orphan, a duplicate push — continues the same run and
//! creates the same deliveries (unique idempotency keys), never a second effect.
//!
//! Order: steps are evaluated; the deliveries they produce, the run's outcome and any resume
//! job (after a `delay`) are written in one transaction; then each new delivery gets its first
//! attempt right away. A crash before that attempt is recorded leaves the job unacknowledged,
//! so apalis runs it again and the attempt is made then.

use super::steps::{self, Flow, RunState};
use super::{Engine, Plan, deliver, outbox};
use crate::audit::now_string;
use crate::catalog::definitions::Step;
use entity::{delivery, event, instance, run};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use worker::jobs::{Job, JobV1};

/// Finds or creates the run of `instance_id` for `trigger_key`.
pub async fn run_row(
    db: &DatabaseConnection,
    instance_id: i64,
    event_id: Option<&str>,
    trigger_key: &str,
) -> Result<run::Model, DbErr> {
    run::Entity::insert(run::ActiveModel {
        instance_id: Set(instance_id),
        event_id: Set(event_id.map(str::to_string)),
        trigger_key: Set(trigger_key.to_string()),
        status: Set("running".into()),
        started_at: Set(now_string()),
        ..Default::default()
    })
    .on_conflict_do_nothing_on([run::Column::InstanceId, run::Column::TriggerKey])
    .exec_without_returning(db)
    .await?;
    run::Entity::find()
        .filter(run::Column::InstanceId.eq(instance_id))
        .filter(run::Column::TriggerKey.eq(trigger_key))
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("run {instance_id}/{trigger_key}")))
}

fn is_final(status: &str) -> bool {
    matches!(status, "succeeded" | "skipped" | "rejected" | "failed")
}

/// Handles `Run { instance_id, event_id, from_step }`.
pub async fn run_event(
    engine: &Engine,
    instance_id: i64,
    event_id: &str,
    from_step: Option<u32>,
) -> anyhow::Result<()> {
    let db = &engine.db;
    let Some(inst) = instance::Entity::find_by_id(instance_id).one(db).await? else {
        return Ok(());
    };
    let Some(ev) = event::Entity::find_by_id(event_id.to_string())
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let run = run_row(db, inst.id, Some(event_id), event_id).await?;
    let parked = matches!(run.status.as_str(), "waiting" | "waiting_approval");
    if is_final(&run.status) || (parked && from_step.is_none()) {
        // Done before (this job is a repeat): only make sure first attempts happened.
        return deliver::attempt_new(engine, run.id).await;
    }
    let payload: Value = serde_json::from_str(&ev.payload).unwrap_or(Value::Null);
    execute(
        engine,
        &inst,
        &run,
        payload,
        &ev.received_at,
        Some(event_id),
        from_step,
    )
    .await
}

/// Evaluates the steps of `inst` for `payload` within `run` and records the outcome.
pub async fn execute(
    engine: &Engine,
    inst: &instance::Model,
    run: &run::Model,
    payload: Value,
    accepted_at: &str,
    event_id: Option<&str>,
    from_step: Option<u32>,
) -> anyhow::Result<()> {
    let db = &engine.db;
    if inst.status != "active" {
        let reason = format!("instance is {}", inst.status);
        finish(
            engine,
            run,
            "skipped",
            None,
            Some(reason),
            accepted_at,
            vec![],
            None,
        )
        .await?;
        return Ok(());
    }
    let plan = engine.plan(&inst.template, &inst.template_version).await?;
    let mut st = RunState {
        event: payload,
        params: serde_json::from_str(&inst.params).unwrap_or(Value::Null),
        record: None,
    };
    let mut created: Vec<delivery::ActiveModel> = Vec::new();
    let mut outcome: (&'static str, Option<String>, Option<String>) = ("succeeded", None, None);
    let mut resume: Option<(u32, i64)> = None;
    // Read when the first deliver/notify step needs it: most skipped runs never do.
    let mut destinations: Option<BTreeMap<String, super::Destination>> = None;
    let no_destinations = BTreeMap::new();
    for (i, step) in plan.def.steps.iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        if let Some(when) = &step.when
            && !super::cel_eval::condition(when, &st.event, &st.params).unwrap_or(false)
        {
            continue;
        }
        let flow = match step.step_type.as_str() {
            "validate" => steps::validate(step, &st).map_err(anyhow::Error::msg)?,
            "dedupe" => steps::dedupe(db, inst.id, run.id, step, &st).await?,
            "enrich" => steps::enrich(db, step, &mut st).await?,
            "route" => steps::route(step, &mut st),
            "suppress" => steps::suppress(db, step, &st).await?,
            "map" => match steps::map(step, &mut st) {
                Ok(f) => f,
                Err(e) => Flow::Stop {
                    status: "failed",
                    reason: e,
                },
            },
            "delay" if from_step.is_some_and(|f| index < f) => Flow::Continue,
            "delay" => steps::delay(step, &st),
            "approve" if from_step.is_some_and(|f| index < f) => Flow::Continue,
            "approve" => Flow::Stop {
                status: "waiting_approval",
                reason: format!(
                    "waiting for approval ({}): approve or reject this run",
                    step.config
                        .get("reason")
                        .and_then(Value::as_str)
                        .unwrap_or(&step.description)
                ),
            },
            "deliver" | "notify" => {
                if destinations.is_none() {
                    destinations = Some(engine.destinations(inst).await?);
                }
                let ctx = NewDelivery {
                    plan: &plan,
                    inst,
                    run,
                    destinations: destinations.as_ref().unwrap_or(&no_destinations),
                    event_id,
                    accepted_at,
                };
                if let Some(row) = new_delivery(&ctx, step, &st) {
                    created.push(row);
                }
                Flow::Continue
            }
            _ => Flow::Continue,
        };
        match flow {
            Flow::Continue => {}
            Flow::Stop { status, reason } => {
                outcome = (status, Some(step.id.clone()), Some(reason));
                break;
            }
            Flow::Wait { seconds, reason } => {
                outcome = ("waiting", Some(step.id.clone()), Some(reason));
                resume = Some((index + 1, seconds));
                break;
            }
        }
    }
    let resume_job = resume.and_then(|(next, seconds)| {
        event_id.map(|id| {
            (
                Job::V1(JobV1::Run {
                    instance_id: inst.id,
                    event_id: id.to_string(),
                    from_step: Some(next),
                }),
                chrono::Utc::now() + chrono::Duration::seconds(seconds),
            )
        })
    });
    let (status, step, detail) = outcome;
    finish(
        engine,
        run,
        status,
        step,
        detail,
        accepted_at,
        created,
        resume_job,
    )
    .await?;
    deliver::attempt_new(engine, run.id).await
}

#[allow(clippy::too_many_arguments)]
async fn finish(
    engine: &Engine,
    run: &run::Model,
    status: &str,
    step: Option<String>,
    detail: Option<String>,
    accepted_at: &str,
    created: Vec<delivery::ActiveModel>,
    resume: Option<(Job, chrono::DateTime<chrono::Utc>)>,
) -> Result<(), DbErr> {
    let tx = crate::db::begin_write(&engine.db).await?;
    for chunk in created.chunks(200) {
        delivery::Entity::insert_many(chunk.to_vec())
            .on_conflict_do_nothing_on([delivery::Column::IdempotencyKey])
            .exec_without_returning(&tx)
            .await?;
    }
    if let Some((job, at)) = resume {
        outbox::stage(&tx, vec![outbox::row(&job, at)]).await?;
    }
    let now = chrono::Utc::now();
    let latency = chrono::DateTime::parse_from_rfc3339(accepted_at)
        .ok()
        .map(|t| (now - t.with_timezone(&chrono::Utc)).num_milliseconds());
    let mut active: run::ActiveModel = run.clone().into();
    active.status = Set(status.to_string());
    active.step = Set(step);
    active.detail = Set(detail);
    let parked = matches!(status, "waiting" | "waiting_approval");
    active.finished_at = Set((!parked).then(now_string));
    active.latency_ms = Set(latency);
    active.update(&tx).await?;
    outbox::commit(tx).await?;
    metrics::counter!("switchyard_runs_total", "status" => status.to_string()).increment(1);
    Ok(())
}

/// `dlv_` + 40 hex digits of SHA-256(instance, business key, step).
pub fn idempotency_key(instance_id: i64, business_key: &str, step_id: &str) -> String {
    let digest = Sha256::digest(format!("{instance_id}\x1f{business_key}\x1f{step_id}"));
    format!("dlv_{}", &hex::encode(digest)[..40])
}

fn key_of(fields: &[String], source: &Value) -> Option<String> {
    if fields.is_empty() {
        return None;
    }
    let parts: Option<Vec<String>> = fields
        .iter()
        .map(|f| {
            steps::path(source, f).map(|v| match v {
                Value::String(s) => s.to_lowercase(),
                other => other.to_string(),
            })
        })
        .collect();
    parts.map(|p| p.join("|"))
}

/// The delivery a `deliver` or `notify` step makes, limited to the fields the instance's stored
/// flow decision lets reach the slot. `None` when the slot is not bound.
struct NewDelivery<'a> {
    plan: &'a Plan,
    inst: &'a instance::Model,
    run: &'a run::Model,
    /// Bound slots with their allowed fields.
    destinations: &'a BTreeMap<String, super::Destination>,
    event_id: Option<&'a str>,
    accepted_at: &'a str,
}

fn new_delivery(
    ctx: &NewDelivery<'_>,
    step: &Step,
    st: &RunState,
) -> Option<delivery::ActiveModel> {
    let NewDelivery {
        plan,
        inst,
        run,
        destinations,
        event_id,
        accepted_at,
    } = *ctx;
    let slot = step.config.get("slot").and_then(Value::as_str)?;
    let dest = destinations.get(slot)?;
    let allowed = &dest.allowed;
    let fallback_key = event_id.map_or_else(|| run.trigger_key.clone(), str::to_string);
    let (object, action, record, business_key, id_basis) = if step.step_type == "notify" {
        let message = step
            .config
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("");
        let text = steps::render(message, st);
        let record = serde_json::json!({ "text": text });
        (
            "message".to_string(),
            "message",
            record,
            fallback_key.clone(),
            fallback_key,
        )
    } else {
        let mut fields = Map::new();
        let object = match &st.record {
            Some(rec) => {
                for (name, value) in &rec.fields {
                    let sources = rec.sources.get(name);
                    if sources.is_none_or(|s| s.iter().all(|f| allowed.contains_key(f))) {
                        fields.insert(name.clone(), value.clone());
                    }
                }
                rec.object.clone()
            }
            None => {
                for name in allowed.keys() {
                    if let Some(v) = steps::path(&st.event, name) {
                        fields.insert(name.clone(), v.clone());
                    }
                }
                plan.trigger_contract
                    .clone()
                    .unwrap_or_else(|| "record".into())
            }
        };
        let object = step
            .config
            .get("object")
            .and_then(Value::as_str)
            .map_or(object, str::to_string);
        let action = match step.config.get("action").and_then(Value::as_str) {
            Some("append") => "append",
            Some("remove") => "remove",
            Some("post_message") => "message",
            _ => "upsert",
        };
        let explicit: Vec<String> = match step
            .config
            .get("key")
            .or(step.config.get("idempotency_key"))
        {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => vec![],
        };
        let id_basis = key_of(&explicit, &st.event)
            .or_else(|| key_of(&plan.trigger_key_fields, &st.event))
            .unwrap_or_else(|| fallback_key.clone());
        let record = Value::Object(fields);
        // The same record for the same business key is the same delivery (a re-sent event, a
        // second identical submission); a changed record is a new one, upserted under the same
        // business key at the destination.
        let digest = hex::encode(Sha256::digest(record.to_string()));
        let id_basis = format!("{id_basis}#{}", &digest[..16]);
        let business_key = key_of(&explicit, &record)
            .or_else(|| {
                plan.object_keys
                    .get(&object)
                    .and_then(|k| key_of(k, &record))
            })
            .unwrap_or_else(|| id_basis.clone());
        (object, action, record, business_key, id_basis)
    };
    let now = now_string();
    Some(delivery::ActiveModel {
        run_id: Set(run.id),
        instance_id: Set(inst.id),
        step_id: Set(step.id.clone()),
        slot: Set(slot.to_string()),
        connection_id: Set(dest.connection),
        connector: Set(dest.connector.clone()),
        idempotency_key: Set(idempotency_key(inst.id, &id_basis, &step.id)),
        business_key: Set(business_key.chars().take(500).collect()),
        object: Set(object),
        action: Set(action.to_string()),
        record: Set(record.to_string()),
        status: Set("pending".into()),
        attempts: Set(0),
        last_status_code: Set(None),
        last_error: Set(None),
        latency_ms: Set(None),
        history: Set("[]".into()),
        accepted_at: Set(accepted_at.to_string()),
        created_at: Set(now.clone()),
        updated_at: Set(now),
        next_attempt_at: Set(None),
        replays: Set(0),
        ..Default::default()
    })
}
