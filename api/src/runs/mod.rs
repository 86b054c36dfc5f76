//! The runs service: what people do to runs — approve or reject a run waiting at an `approve`
//! step, run a scheduled workflow now, replay dead letters. Each write follows one order:
//! authorize (a denial is audited) → load → check → one transaction {change, audit entry, jobs}
//! → result; then this process's workers are woken (other processes hear of the jobs through
//! PostgreSQL NOTIFY, or their next poll). GraphQL resolvers only map arguments and results.

pub mod replay;

use crate::access::{self, Ask};
use crate::audit::{self, Actor, Change};
use crate::catalog::{self, definitions::Kind};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use entity::documents::template::StepKind;
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
    if row.status != RunStatus::WaitingApproval {
        return Err(ApiError::Conflict(format!(
            "status: run {id} is {}, not waiting for approval",
            row.status.as_str()
        )));
    }
    let version = catalog::version(
        &state.db,
        Kind::Template,
        &inst.template,
        &inst.template_version,
    )
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("template version {}", inst.template_version)))?;
    let def = crate::catalog::definitions::template(&version.definition)?;
    let index = def
        .steps
        .iter()
        .position(|s| Some(&s.id) == row.step.as_ref())
        .ok_or_else(|| ApiError::internal("the run's approve step is gone"))?;
    if let StepKind::Approve(cfg) = &def.steps[index].kind
        && let Some(role) = &cfg.role
        && !actor.roles.iter().any(|r| r == role)
    {
        audit::record_denied(&state.db, actor, verb, &target).await?;
        return Err(ApiError::Forbidden(format!(
            "step `{}` must be decided by someone with role {role}",
            def.steps[index].id
        )));
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
    active.detail = Set(Some(format!(
        "{} by {}",
        if approve { "approved" } else { "rejected" },
        actor.sub
    )));
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
            after: Some(json!({ "status": updated.status.as_str() })),
        },
    )
    .await?;
    tx.commit().await?;
    wake(state);
    Ok(updated)
}

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
