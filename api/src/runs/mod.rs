//! The runs service: what people do to runs — start a manual workflow, approve or reject a run
//! waiting at an `approve` step, run a scheduled workflow now, replay dead letters. Each write follows one order:
//! authorize (a denial is audited) → load → check → one transaction {change, audit entry, jobs}
//! → result; then this process's workers are woken (other processes hear of the jobs through
//! PostgreSQL NOTIFY, or their next poll). GraphQL resolvers only map arguments and results.

pub mod replay;

use crate::access::{self, Ask};
use crate::audit::{self, Actor, Change};
use crate::catalog::{self, definitions::Kind};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use entity::documents::record::RunRecord;
use entity::documents::template::{StepKind, Trigger};
use entity::status::RunStatus;
use entity::{instance, run};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;
use worker::jobs::{Job, JobV1};
use worker::queue::{self, NewJob};

/// Wakes this process's run consumer after a commit that staged jobs.
pub fn wake(state: &AppState) {
    if let Some(engine) = &state.engine {
        engine.wake.all();
    }
}

/// Loads instance `id`, or `NOT_FOUND` naming the argument.
async fn instance(state: &AppState, id: i64, field: &str) -> ApiResult<instance::Model> {
    instance::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{field}: no instance {id}")))
}

/// Approves (`approve`) or rejects a run waiting at an `approve` step. Needs `approve_run` on
/// the workflow (with the caller's relation to its owner), a different person than the owner
/// (four eyes) and, when the step names one, the step's role.
pub async fn decide(
    state: &AppState,
    actor: &Actor,
    id: i64,
    approve: bool,
) -> ApiResult<run::Model> {
    let verb = if approve { "run.approve" } else { "run.reject" };
    let target = format!("run:{id}");
    let row = run::Entity::find_by_id(id)
        .one(&state.db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("id: no run {id}")))?;
    let inst = instance(state, row.instance_id, "id").await?;
    let (obj, owner) = (
        access::workflow_object(&inst.template),
        access::instance_owner(&inst),
    );
    access::authorize(
        &state.db,
        &state.policy,
        actor,
        Ask::owned(&obj, "approve_run", &owner),
        (verb, &target),
    )
    .await?;
    if inst.owner == actor.sub {
        audit::record_denied(&state.db, actor, verb, &target).await?;
        return Err(ApiError::Forbidden(
            "four eyes: the owner of the workflow cannot approve its runs".into(),
        ));
    }
    if row.started_by.as_deref() == Some(actor.sub.as_str()) {
        audit::record_denied(&state.db, actor, verb, &target).await?;
        return Err(ApiError::Forbidden(
            "four eyes: the person who started a run cannot approve it".into(),
        ));
    }
    if row.status != RunStatus::WaitingApproval {
        return Err(ApiError::Conflict(format!(
            "status: run {id} is {}, not waiting for approval",
            row.status.as_str()
        )));
    }
    // The version the run started on (it finishes on it after a migration).
    let run_version = row
        .template_version
        .clone()
        .unwrap_or_else(|| inst.template_version.clone());
    let version = catalog::version(&state.db, Kind::Template, &inst.template, &run_version)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("template version {run_version}")))?;
    let def = crate::catalog::definitions::template(&version.definition)?;
    let index = def
        .steps
        .iter()
        .position(|s| Some(&s.id) == row.step.as_ref())
        .ok_or_else(|| ApiError::internal("the run's approve step is gone"))?;
    let step_role = match &def.steps[index].kind {
        StepKind::Approve(cfg) => cfg.role.clone(),
        _ => None,
    };
    let mut record = RunRecord::parse(row.decisions.as_deref());
    let signoff = signoff_state(&record, &def.steps[index].id);
    let has = |role: &str| actor.roles.iter().any(|r| r == role);
    // The step's own role decides first; a compliance sign-off the policy requires (subject
    // `signoff`, `workflow:<template>`, action `compliance`) comes after it, by compliance.
    let needed_role = match (&signoff, &step_role) {
        (Some(_), _) => Some(COMPLIANCE_ROLE.to_string()),
        (None, role) => role.clone(),
    };
    if let Some(role) = &needed_role
        && !has(role)
    {
        audit::record_denied(&state.db, actor, verb, &target).await?;
        let why = if signoff.is_some() {
            format!(
                "step `{}` was approved by {}; the policy requires a compliance sign-off, by someone with role {role}",
                def.steps[index].id,
                signoff.as_deref().unwrap_or_default()
            )
        } else {
            format!(
                "step `{}` must be decided by someone with role {role}",
                def.steps[index].id
            )
        };
        return Err(ApiError::Forbidden(why));
    }
    if signoff.as_deref() == Some(actor.sub.as_str()) {
        audit::record_denied(&state.db, actor, verb, &target).await?;
        return Err(ApiError::Forbidden(
            "four eyes: the compliance sign-off must come from someone other than the first approver"
                .into(),
        ));
    }
    let policy_wants_signoff = approve
        && signoff.is_none()
        && step_role.as_deref() != Some(COMPLIANCE_ROLE)
        && state
            .policy
            .decide_for(&["signoff".to_string()], &obj, "compliance")
            .allowed;
    if policy_wants_signoff && !has(COMPLIANCE_ROLE) {
        // First approval: the run keeps waiting, now for compliance.
        mark_signoff(&mut record, &def.steps[index].id, &actor.sub);
        let tx = worker::db::begin_write(&state.db).await?;
        let mut active: run::ActiveModel = row.into();
        active.detail = Set(Some(format!(
            "approved by {}; waiting for a compliance sign-off (required by policy) by someone with role {COMPLIANCE_ROLE}",
            actor.sub
        )));
        active.decisions = Set(Some(record.to_json()));
        let updated = active.update(&tx).await?;
        audit::record(
            &tx,
            actor,
            Change {
                action: verb.into(),
                target,
                before: Some(json!({ "status": RunStatus::WaitingApproval.as_str() })),
                after: Some(json!({
                    "status": updated.status.as_str(),
                    "step": def.steps[index].id,
                    "waiting_for": "compliance sign-off",
                })),
            },
        )
        .await?;
        tx.commit().await?;
        return Ok(updated);
    }
    let tx = worker::db::begin_write(&state.db).await?;
    if approve {
        let job = Job::V1(JobV1::Continue {
            run_id: row.id,
            from_step: u32::try_from(index + 1).unwrap_or(u32::MAX),
        });
        queue::stage(&tx, vec![NewJob::run(job, chrono::Utc::now())]).await?;
    }
    let before = row.status;
    let mut active: run::ActiveModel = row.into();
    active.status = Set(if approve {
        RunStatus::Running
    } else {
        RunStatus::Rejected
    });
    active.detail = Set(Some(match &signoff {
        Some(first) if approve => format!("approved by {first}; signed off by {}", actor.sub),
        _ => format!(
            "{} by {}",
            if approve { "approved" } else { "rejected" },
            actor.sub
        ),
    }));
    active.deadline_at = Set(None);
    if !approve {
        active.finished_at = Set(Some(audit::now_string()));
    }
    let updated = active.update(&tx).await?;
    audit::record(
        &tx,
        actor,
        Change {
            action: verb.into(),
            target,
            before: Some(json!({ "status": before.as_str() })),
            after: Some(json!({
                "status": updated.status.as_str(),
                "step": def.steps[index].id,
                "role": needed_role,
            })),
        },
    )
    .await?;
    tx.commit().await?;
    wake(state);
    Ok(updated)
}

/// The role that gives compliance sign-off.
const COMPLIANCE_ROLE: &str = "compliance";

/// Who approved `step` first, when the run now waits for the compliance sign-off after them.
fn signoff_state(record: &RunRecord, step: &str) -> Option<String> {
    record
        .steps
        .iter()
        .rev()
        .find(|d| d.step == step)
        .and_then(|d| d.data.get("approved_by"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// Notes on `step`'s decision that `by` approved it and compliance must sign off next.
fn mark_signoff(record: &mut RunRecord, step: &str, by: &str) {
    if let Some(d) = record.steps.iter_mut().rev().find(|d| d.step == step) {
        if !d.data.is_object() {
            d.data = json!({});
        }
        d.data["approved_by"] = json!(by);
        d.data["waiting_for"] = json!("compliance sign-off");
        d.detail = format!("approved by {by}; waiting for a compliance sign-off");
    }
}

/// Starts a run of a manual-trigger workflow (e.g. campaign approval) with `input` as the
/// run's input. Needs `run` on the workflow; refused for workflows that start on events or a
/// schedule. The caller becomes the run's starter, who may not approve it (four eyes).
pub async fn start(
    state: &AppState,
    actor: &Actor,
    id: i64,
    input: Option<serde_json::Value>,
) -> ApiResult<run::Model> {
    let target = format!("instance:{id}");
    let row = instance(state, id, "instance").await?;
    let (obj, owner) = (
        access::workflow_object(&row.template),
        access::instance_owner(&row),
    );
    access::authorize(
        &state.db,
        &state.policy,
        actor,
        Ask::owned(&obj, "run", &owner),
        ("run.start", &target),
    )
    .await?;
    if row.status != "active" {
        return Err(ApiError::Conflict(format!(
            "status: instance {id} is {}, not active",
            row.status
        )));
    }
    let version = catalog::version(
        &state.db,
        Kind::Template,
        &row.template,
        &row.template_version,
    )
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("template version {}", row.template_version)))?;
    let def = crate::catalog::definitions::template(&version.definition)?;
    match &def.trigger {
        Trigger::Manual => {}
        Trigger::Event { contract, .. } => {
            return Err(ApiError::bad_input(
                "instance",
                format!(
                    "workflow {id} ({}) starts on `{contract}` events, not by hand: send the event instead",
                    row.template
                ),
            ));
        }
        Trigger::Schedule { cron } => {
            return Err(ApiError::bad_input(
                "instance",
                format!(
                    "workflow {id} ({}) runs on a schedule ({cron}), not by hand: use runInstanceNow",
                    row.template
                ),
            ));
        }
    }
    let input = match input {
        None | Some(serde_json::Value::Null) => serde_json::Value::Object(Default::default()),
        Some(v @ serde_json::Value::Object(_)) => v,
        Some(_) => return Err(ApiError::bad_input("input", "must be a JSON object")),
    };
    let text = input.to_string();
    if text.len() > MAX_INPUT_BYTES {
        return Err(ApiError::bad_input(
            "input",
            format!("is {} bytes; at most {MAX_INPUT_BYTES}", text.len()),
        ));
    }
    let now = audit::now_string();
    let tx = worker::db::begin_write(&state.db).await?;
    let run = run::ActiveModel {
        instance_id: Set(id),
        event_id: Set(None),
        trigger_key: Set(format!("start:{}", uuid::Uuid::now_v7().simple())),
        status: Set(RunStatus::Running),
        step: Set(None),
        detail: Set(Some(format!("started by {}", actor.sub))),
        started_at: Set(now),
        input: Set(Some(text)),
        started_by: Set(Some(actor.sub.clone())),
        template_version: Set(Some(row.template_version.clone())),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    let job = Job::V1(JobV1::Continue {
        run_id: run.id,
        from_step: 0,
    });
    queue::stage(&tx, vec![NewJob::run(job, chrono::Utc::now())]).await?;
    audit::record(
        &tx,
        actor,
        Change {
            action: "run.start".into(),
            target: format!("run:{}", run.id),
            before: None,
            after: Some(json!({
                "instance": id,
                "template": row.template,
                "version": row.template_version,
                // Field names only: a start's input may carry personal data, and the audit
                // log keeps everything forever.
                "input_fields": input.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
            })),
        },
    )
    .await?;
    tx.commit().await?;
    wake(state);
    Ok(run)
}

/// Largest input of a manual start.
const MAX_INPUT_BYTES: usize = 64 * 1024;

/// Runs a scheduled workflow (audience sync, reporting export) now instead of waiting for its
/// schedule. Returns the tick it was queued for.
pub async fn run_now(state: &AppState, actor: &Actor, id: i64) -> ApiResult<String> {
    let target = format!("instance:{id}");
    let row = instance(state, id, "id").await?;
    let (obj, owner) = (
        access::workflow_object(&row.template),
        access::instance_owner(&row),
    );
    access::authorize(
        &state.db,
        &state.policy,
        actor,
        Ask::owned(&obj, "run", &owner),
        ("instance.run_now", &target),
    )
    .await?;
    if row.status != "active" {
        return Err(ApiError::Conflict(format!(
            "status: instance {id} is {}",
            row.status
        )));
    }
    if row.trigger_contract.is_some() {
        return Err(ApiError::bad_input(
            "id",
            "this instance runs on events, not on a schedule",
        ));
    }
    let tick = audit::now_string();
    let job = Job::V1(JobV1::Tick {
        instance_id: id,
        tick: tick.clone(),
    });
    let tx = worker::db::begin_write(&state.db).await?;
    queue::stage(&tx, vec![NewJob::run(job, chrono::Utc::now())]).await?;
    audit::record(
        &tx,
        actor,
        Change {
            action: "instance.run_now".into(),
            target,
            before: None,
            after: Some(json!({ "tick": tick })),
        },
    )
    .await?;
    tx.commit().await?;
    wake(state);
    Ok(tick)
}

/// Replays dead letters (see `replay`), then wakes the workers.
pub async fn replay(
    state: &AppState,
    actor: &Actor,
    selection: replay::Selection,
) -> ApiResult<Vec<replay::Replayed>> {
    let out = replay::replay(&state.db, &state.policy, actor, selection).await?;
    wake(state);
    Ok(out)
}
