//! The one interpreter: runs a template version's typed steps over one input — an event, a
//! manual start's input, a segment of an audience sync — and returns what the run decided: its
//! status, each step's decision, the deliveries to make, the dedupe keys to claim, and when to
//! resume or expire. It writes nothing; `commit` records the outcome in one transaction.
//!
//! Resuming from step `n` (after a delay or an approval) evaluates the steps before it again —
//! they have no effects — except the delay or approval itself, which has been passed.

use super::fields;
use super::plan::Plan;
use super::steps::{self, DedupeClaim, Done, Flow, RunState};
use entity::documents::flow::{FlowDecision, SlotFlow};
use entity::documents::record::{Decision, RunRecord, StepDecision};
use entity::documents::template::{DeliverConfig, NotifyConfig, SlaConfig, Step, StepKind};
use entity::status::{DeliveryStatus, RunStatus};
use entity::{connection, delivery, instance};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What a run starts from.
#[derive(Debug, Clone)]
pub struct Input {
    pub payload: Value,
    /// When the input was accepted: the latency baseline of its deliveries.
    pub accepted_at: String,
    pub event_id: Option<String>,
    /// The run's identity within its instance: the event id, `tick:<time>`, `start:<id>`.
    pub trigger_key: String,
    /// The instances the input event's chain went through (workflows that started this one
    /// through `emit` steps), oldest first; empty for outside input.
    pub chain: Vec<i64>,
}

/// A bound slot as a run sees it.
#[derive(Debug, Clone)]
pub struct Destination {
    pub connection: i64,
    pub connector: String,
    pub flow: SlotFlow,
    /// The policy version the flow decision was made under; deliveries carry it.
    pub policy_version: Option<String>,
}

/// Slot → destination, read once per instance and batch.
pub type Destinations = BTreeMap<String, Destination>;

/// Reads where each bound slot of `inst` leads and what may reach it.
pub async fn destinations(
    db: &DatabaseConnection,
    inst: &instance::Model,
) -> Result<Destinations, DbErr> {
    let bindings: BTreeMap<String, i64> = serde_json::from_str(&inst.bindings).unwrap_or_default();
    let decision = FlowDecision::parse(&inst.flows).unwrap_or_default();
    let policy_version = decision.policy_version;
    let mut flows = decision.slots;
    let ids: Vec<i64> = bindings.values().copied().collect();
    let rows = connection::Entity::find()
        .filter(connection::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok(bindings
        .into_iter()
        .filter_map(|(slot, id)| {
            let row = rows.iter().find(|r| r.id == id)?;
            let flow = flows.remove(&slot).unwrap_or_default();
            Some((
                slot,
                Destination {
                    connection: id,
                    connector: row.connector.clone(),
                    flow,
                    policy_version: policy_version.clone(),
                },
            ))
        })
        .collect())
}

/// What the run decided.
#[derive(Debug)]
pub struct Outcome {
    pub status: RunStatus,
    /// The step the run stopped at, when it stopped early or waits.
    pub step: Option<String>,
    pub detail: Option<String>,
    pub record: RunRecord,
    /// Deliveries to create (without their run id).
    pub deliveries: Vec<delivery::ActiveModel>,
    pub dedupe: Vec<DedupeClaim>,
    /// Events emitted by `emit` steps, stored with the run.
    pub emits: Vec<super::emit::Emitted>,
    /// Continue from this step at this time (a delay).
    pub resume: Option<(u32, chrono::DateTime<chrono::Utc>)>,
    /// A run waiting for approval expires at this time.
    pub deadline: Option<chrono::DateTime<chrono::Utc>>,
    /// W3C traceparent of the run's span: its deliveries continue the trace.
    pub trace: Option<String>,
}

impl Outcome {
    /// A run that did nothing, for `reason`.
    pub fn ended(status: RunStatus, reason: String) -> Self {
        Self {
            status,
            step: None,
            detail: Some(reason),
            record: RunRecord::default(),
            deliveries: Vec::new(),
            dedupe: Vec::new(),
            emits: Vec::new(),
            resume: None,
            deadline: None,
            trace: None,
        }
    }
}

/// Runs `plan`'s steps for `input` from step `from_step`.
pub async fn interpret(
    db: &DatabaseConnection,
    plan: &Plan,
    inst: &instance::Model,
    dests: &Destinations,
    input: &Input,
    from_step: u32,
) -> Result<Outcome, DbErr> {
    let mut st = RunState {
        event: input.payload.clone(),
        params: serde_json::from_str(&inst.params).unwrap_or(Value::Null),
        record: None,
    };
    let all = 0..plan.def.steps.len();
    run_steps(db, plan, inst, dests, input, from_step, all, &mut st).await
}

/// Runs the steps in `range` over `st` (steps before `from_step` were passed before).
#[allow(clippy::too_many_arguments)]
pub async fn run_steps(
    db: &DatabaseConnection,
    plan: &Plan,
    inst: &instance::Model,
    dests: &Destinations,
    input: &Input,
    from_step: u32,
    range: std::ops::Range<usize>,
    st: &mut RunState,
) -> Result<Outcome, DbErr> {
    let mut out = Outcome::ended(RunStatus::Succeeded, String::new());
    out.detail = None;
    let start = range.start;
    for (offset, step) in plan.def.steps[range].iter().enumerate() {
        let i = start + offset;
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        let done = match &step.when {
            Some(when) if !super::cel::condition(when, &st.event, &st.params).unwrap_or(false) => {
                Done::go(
                    Decision::NotApplicable,
                    format!("not applicable: {when}"),
                    Value::Null,
                )
            }
            _ => {
                run_step(
                    db,
                    plan,
                    inst,
                    dests,
                    input,
                    step,
                    index < from_step,
                    st,
                    &mut out,
                )
                .await?
            }
        };
        let flow = done.flow.clone();
        out.record.steps.push(StepDecision {
            step: step.id.clone(),
            kind: step.kind.name().to_string(),
            decision: done.decision,
            detail: done.detail.clone(),
            data: done.data,
        });
        match flow {
            Flow::Continue => {}
            Flow::Stop(status) => {
                out.status = status;
                out.step = Some(step.id.clone());
                out.detail = Some(done.detail);
                break;
            }
            Flow::Wait { seconds } => {
                out.status = RunStatus::Waiting;
                out.step = Some(step.id.clone());
                out.detail = Some(done.detail);
                out.resume = Some((
                    index + 1,
                    chrono::Utc::now() + chrono::Duration::seconds(seconds),
                ));
                break;
            }
            Flow::Approve { hours } => {
                out.status = RunStatus::WaitingApproval;
                out.step = Some(step.id.clone());
                out.detail = Some(done.detail);
                out.deadline = hours.map(|h| {
                    chrono::Utc::now()
                        + chrono::Duration::hours(i64::try_from(h).unwrap_or(i64::MAX / 3_600_000))
                });
                break;
            }
        }
    }
    if out.status == RunStatus::Succeeded && out.detail.is_none() {
        out.detail = Some(match out.deliveries.len() {
            0 => "every step passed; nothing to deliver".to_string(),
            n => format!("{n} deliveries made"),
        });
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn run_step(
    db: &DatabaseConnection,
    plan: &Plan,
    inst: &instance::Model,
    dests: &Destinations,
    input: &Input,
    step: &Step,
    passed_before: bool,
    st: &mut RunState,
    out: &mut Outcome,
) -> Result<Done, DbErr> {
    Ok(match &step.kind {
        StepKind::Validate(cfg) => match steps::lookup(db, cfg, st).await? {
            Ok(()) => steps::validate(step, cfg, st, &input.accepted_at),
            Err(not_found) => not_found,
        },
        StepKind::Dedupe(cfg) => {
            let (done, claim) = steps::dedupe(step, cfg, st);
            out.dedupe.push(claim);
            done
        }
        StepKind::Enrich(cfg) => steps::enrich(db, cfg, st).await?,
        StepKind::Route(cfg) => steps::route(cfg, st),
        StepKind::Suppress(cfg) => steps::suppress(db, cfg, st).await?,
        StepKind::Map(cfg) => steps::map(step, cfg, st),
        StepKind::Delay(_) if passed_before => Done::go(Decision::Passed, "waited", Value::Null),
        StepKind::Delay(cfg) => steps::delay(cfg, st),
        StepKind::Sla(cfg) if passed_before => sla_check(db, cfg, st, out).await?,
        StepKind::Sla(cfg) => steps::sla_wait(cfg, st),
        StepKind::Approve(_) if passed_before => {
            Done::go(Decision::Passed, "approved", Value::Null)
        }
        StepKind::Approve(cfg) => Done {
            decision: Decision::WaitingApproval,
            detail: format!(
                "waiting for approval ({}){}",
                cfg.reason.as_deref().unwrap_or(&step.description),
                cfg.role
                    .as_deref()
                    .map(|r| format!(" by someone with role {r}"))
                    .unwrap_or_default()
            ),
            data: json!({"role": cfg.role, "timeout_hours": cfg.timeout_hours}),
            flow: Flow::Approve {
                hours: cfg.timeout_hours,
            },
        },
        StepKind::Deliver(cfg) => match dests.get(&cfg.slot) {
            None => unbound(&cfg.slot),
            Some(dest) => {
                let (row, done) = deliver(plan, inst, input, step, cfg, dest, st);
                out.deliveries.push(row);
                done
            }
        },
        StepKind::Notify(cfg) => match dests.get(&cfg.slot) {
            None => unbound(&cfg.slot),
            Some(dest) => {
                let (row, done) = notify(inst, input, step, cfg, dest, st);
                out.deliveries.push(row);
                done
            }
        },
        StepKind::Emit(cfg) => {
            let target = plan.emit_target(&step.id);
            let (emitted, done) =
                super::emit::emit(target, inst, input, step, cfg, st, plan.max_chain_depth);
            out.emits.extend(emitted);
            done
        }
    })
}

/// `sla` once its time has passed: was the watched delivery accepted and the owner set?
async fn sla_check(
    db: &DatabaseConnection,
    cfg: &SlaConfig,
    st: &mut RunState,
    out: &Outcome,
) -> Result<Done, DbErr> {
    use sea_orm::ActiveValue;
    let key = out
        .deliveries
        .iter()
        .find(|d| matches!(&d.step_id, ActiveValue::Set(s) | ActiveValue::Unchanged(s) if *s == cfg.watch))
        .and_then(|d| match &d.idempotency_key {
            ActiveValue::Set(k) | ActiveValue::Unchanged(k) => Some(k.clone()),
            ActiveValue::NotSet => None,
        });
    let status = match key {
        Some(k) => delivery::Entity::find()
            .filter(delivery::Column::IdempotencyKey.eq(k))
            .one(db)
            .await?
            .map(|d| d.status),
        None => None,
    };
    Ok(steps::sla_verdict(cfg, st, status))
}

fn unbound(slot: &str) -> Done {
    Done::go(
        Decision::NoDestination,
        format!("slot {slot} is not bound: nothing sent"),
        Value::Null,
    )
}

/// `dlv_` + 40 hex digits of SHA-256(instance, identity, step): one delivery per identity.
pub fn idempotency_key(instance_id: i64, identity: &str, step_id: &str) -> String {
    let digest = Sha256::digest(format!("{instance_id}\x1f{identity}\x1f{step_id}"));
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

/// A new delivery row (its run id is set when the run is recorded).
#[allow(clippy::too_many_arguments)]
pub fn delivery_row(
    inst: &instance::Model,
    step_id: &str,
    slot: &str,
    dest: &Destination,
    keys: (String, String),
    object: String,
    action: &str,
    record: Value,
    fields: String,
    accepted_at: &str,
) -> delivery::ActiveModel {
    let (idempotency_key, business_key) = keys;
    let now = entity::clock::now_string();
    delivery::ActiveModel {
        instance_id: Set(inst.id),
        step_id: Set(step_id.to_string()),
        slot: Set(slot.to_string()),
        connection_id: Set(dest.connection),
        connector: Set(dest.connector.clone()),
        idempotency_key: Set(idempotency_key),
        business_key: Set(business_key.chars().take(500).collect()),
        object: Set(object),
        action: Set(action.to_string()),
        record: Set(record.to_string()),
        status: Set(DeliveryStatus::Pending),
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
        fields: Set(Some(fields)),
        ..Default::default()
    }
}

fn deliver(
    plan: &Plan,
    inst: &instance::Model,
    input: &Input,
    step: &Step,
    cfg: &DeliverConfig,
    dest: &Destination,
    st: &RunState,
) -> (delivery::ActiveModel, Done) {
    let (fields_out, mut sent) = fields::outgoing(&dest.flow, st.record.as_ref(), &st.event);
    sent.policy_version = dest.policy_version.clone();
    let object = cfg.object.clone().unwrap_or_else(|| match &st.record {
        Some(rec) => rec.object.clone(),
        None => plan
            .input_contract
            .clone()
            .unwrap_or_else(|| "record".into()),
    });
    let explicit = cfg
        .idempotency_key
        .as_ref()
        .map(|k| k.to_vec())
        .unwrap_or_default();
    let identity = key_of(&explicit, &st.event)
        .or_else(|| key_of(&plan.input_key_fields, &st.event))
        .unwrap_or_else(|| input.trigger_key.clone());
    let record = Value::Object(fields_out);
    // The same record for the same business key is the same delivery (a re-sent event, a second
    // identical submission); a changed record is a new one, upserted under the same key.
    let digest = hex::encode(Sha256::digest(record.to_string()));
    let identity = format!("{identity}#{}", &digest[..16]);
    let dest_key = cfg.key.as_ref().map(|k| k.to_vec()).unwrap_or_default();
    let business_key = key_of(&dest_key, &record)
        .or_else(|| {
            plan.object_keys
                .get(&object)
                .and_then(|k| key_of(k, &record))
        })
        .unwrap_or_else(|| identity.clone());
    let data = json!({"slot": cfg.slot, "connector": dest.connector,
                      "sent": sent.sent.keys().collect::<Vec<_>>(),
                      "withheld": sent.withheld});
    let detail = if sent.withheld.is_empty() {
        format!(
            "{} field(s) to {} ({})",
            sent.sent.len(),
            cfg.slot,
            dest.connector
        )
    } else {
        format!(
            "{} field(s) to {} ({}); withheld by policy: {}",
            sent.sent.len(),
            cfg.slot,
            dest.connector,
            sent.withheld.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    let row = delivery_row(
        inst,
        &step.id,
        &cfg.slot,
        dest,
        (idempotency_key(inst.id, &identity, &step.id), business_key),
        object,
        cfg.action.as_str(),
        record,
        sent.to_json(),
        &input.accepted_at,
    );
    (row, Done::go(Decision::Delivery, detail, data))
}

fn notify(
    inst: &instance::Model,
    input: &Input,
    step: &Step,
    cfg: &NotifyConfig,
    dest: &Destination,
    st: &RunState,
) -> (delivery::ActiveModel, Done) {
    let text = steps::render(&cfg.message, st);
    let mut sent = entity::documents::record::DeliveryFields::default();
    let class = placeholders(&cfg.message)
        .iter()
        .filter_map(|f| dest.flow.fields.get(f))
        .max_by_key(|c| match c.as_str() {
            "sensitive" => 3,
            "personal" => 2,
            "hashed" => 1,
            _ => 0,
        })
        .cloned()
        .unwrap_or_else(|| "none".into());
    sent.sent.insert("text".into(), class);
    sent.sources
        .insert("text".into(), placeholders(&cfg.message));
    sent.policy_version = dest.policy_version.clone();
    let key = input
        .event_id
        .clone()
        .unwrap_or_else(|| input.trigger_key.clone());
    let row = delivery_row(
        inst,
        &step.id,
        &cfg.slot,
        dest,
        (idempotency_key(inst.id, &key, &step.id), key),
        "message".into(),
        "message",
        Value::Object(Map::from_iter([("text".to_string(), Value::String(text))])),
        sent.to_json(),
        &input.accepted_at,
    );
    let done = Done::go(
        Decision::Delivery,
        format!("message to {} ({})", cfg.slot, dest.connector),
        json!({"slot": cfg.slot, "connector": dest.connector, "sent": ["text"]}),
    );
    (row, done)
}

/// Input fields a message's `{{event.x}}` placeholders read.
fn placeholders(message: &str) -> Vec<String> {
    message
        .split("{{")
        .skip(1)
        .filter_map(|p| p.split("}}").next())
        .filter_map(|e| e.trim().strip_prefix("event."))
        .map(|f| f.split('.').next().unwrap_or(f).to_string())
        .collect()
}
