//! Runs, deliveries and dead letters of workflow instances; replaying dead letters; running a
//! scheduled instance now. Everything here belongs to the instance's owner: reading needs `read`
//! on `workflow:<template>`, changing needs `replay`, `run` or `approve_run` on it, each decided
//! with the caller's relation to that owner. Record values are shown as `visibility` allows.

use super::{actor, state};
use crate::access::{self, Ask};
use crate::audit::{self, Change};
use crate::catalog::{self, definitions::Kind};
use crate::error::ApiError;
use crate::execution::{outbox, replay};
use crate::policy::Owner;
use crate::visibility;
use async_graphql::{Context, Object, Result, SimpleObject};
use entity::{delivery, instance, run};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Value, json};
use worker::jobs::{Job, JobV1};

/// One unit of work of an instance: an event it handled, or a scheduled sync.
#[derive(SimpleObject)]
pub struct Run {
    pub id: i64,
    pub instance: i64,
    pub event_id: Option<String>,
    /// `running`, `succeeded`, `skipped`, `rejected`, `failed` or `waiting`.
    pub status: String,
    /// The step the run stopped at, when it stopped early.
    pub step: Option<String>,
    /// Why it stopped or what it did, in words.
    pub detail: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// From the event being accepted to the run finishing its steps.
    pub latency_ms: Option<i64>,
}

/// One record sent (or to be sent) to one destination.
#[derive(SimpleObject)]
pub struct Delivery {
    pub id: i64,
    pub run: i64,
    pub instance: i64,
    pub step: String,
    pub slot: String,
    pub connection: i64,
    pub connector: String,
    /// Sent as `webhook-id`, SQL upsert key, CRM external id: one effect per key.
    pub idempotency_key: String,
    /// `pending`, `retrying`, `delivered` or `dead` (a dead letter).
    pub status: String,
    pub attempts: i32,
    /// HTTP status of the last attempt, when there was one.
    pub response_code: Option<i32>,
    pub error: Option<String>,
    /// From the event being accepted to this delivery succeeding.
    pub latency_ms: Option<i64>,
    /// Every attempt: {attempt, at, status_code, error, duration_ms, outcome}; masked values are
    /// scrubbed from the errors too.
    pub history: Value,
    /// The record as sent (only the fields allowed to reach this destination). Personal and
    /// sensitive values read `[masked: <class>]` unless the policy lets you read that class
    /// for this workflow (`data:<class>:<template>`); reading them in full is audited.
    pub record: Value,
    pub next_attempt_at: Option<String>,
    pub replays: i32,
    pub created_at: String,
    pub updated_at: String,
}

fn to_run(m: run::Model) -> Run {
    Run {
        id: m.id,
        instance: m.instance_id,
        event_id: m.event_id,
        status: m.status,
        step: m.step,
        detail: m.detail,
        started_at: m.started_at,
        finished_at: m.finished_at,
        latency_ms: m.latency_ms,
    }
}

fn to_delivery(m: delivery::Model) -> Delivery {
    let parse = |s: &str| serde_json::from_str(s).unwrap_or(Value::Null);
    Delivery {
        history: parse(&m.history),
        record: parse(&m.record),
        id: m.id,
        run: m.run_id,
        instance: m.instance_id,
        step: m.step_id,
        slot: m.slot,
        connection: m.connection_id,
        connector: m.connector,
        idempotency_key: m.idempotency_key,
        status: m.status,
        attempts: m.attempts,
        response_code: m.last_status_code,
        error: m.last_error,
        latency_ms: m.latency_ms,
        next_attempt_at: m.next_attempt_at,
        replays: m.replays,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// The answer for one dead letter of a replay.
#[derive(SimpleObject)]
pub struct ReplayResult {
    pub delivery: i64,
    pub replayed: bool,
    /// Why it was not replayed (policy or contract changed, instance retired, …).
    pub reason: Option<String>,
}

/// Instance `id` with its policy object (`workflow:<template>`) and owner.
async fn find_instance(ctx: &Context<'_>, id: i64) -> Result<(instance::Model, String, Owner)> {
    let row = instance::Entity::find_by_id(id)
        .one(&state(ctx)?.db)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::NotFound(format!("instance: no instance {id}")))?;
    let (obj, owner) = (
        access::workflow_object(&row.template),
        access::instance_owner(&row),
    );
    Ok((row, obj, owner))
}

/// Loads instance `id` if the caller may `act` on it (`workflow:<template>`, its owner).
async fn instance_for(ctx: &Context<'_>, id: i64, act: &str) -> Result<instance::Model> {
    let (row, obj, owner) = find_instance(ctx, id).await?;
    access::check(
        &state(ctx)?.policy,
        actor(ctx)?,
        Ask::owned(&obj, act, &owner),
    )?;
    Ok(row)
}

/// Loads instance `id` for a change (`verb` on `target`) the caller may `act` on; a denial is
/// recorded in the audit log.
async fn instance_to_change(
    ctx: &Context<'_>,
    id: i64,
    act: &str,
    audit: (&str, &str),
) -> Result<instance::Model> {
    let st = state(ctx)?;
    let (row, obj, owner) = find_instance(ctx, id).await?;
    let ask = Ask::owned(&obj, act, &owner);
    access::authorize(&st.db, &st.policy, actor(ctx)?, ask, audit).await?;
    Ok(row)
}

/// Deliveries as the caller may see them (masked; full reads audited on `target`).
async fn visible(
    ctx: &Context<'_>,
    inst: &instance::Model,
    rows: Vec<delivery::Model>,
    target: &str,
) -> Result<Vec<Delivery>> {
    let st = state(ctx)?;
    let rows = visibility::deliveries(&st.db, &st.policy, actor(ctx)?, inst, rows, target).await?;
    Ok(rows.into_iter().map(to_delivery).collect())
}

fn limit(first: Option<i32>) -> Result<u64> {
    Ok(super::page_size(first.or(Some(50)))?)
}

#[derive(Default)]
pub struct RunQuery;

#[Object]
impl RunQuery {
    /// Runs of an instance, newest first (up to `first`, default 50, at most 100).
    async fn runs(&self, ctx: &Context<'_>, instance: i64, first: Option<i32>) -> Result<Vec<Run>> {
        let inst = instance_for(ctx, instance, "read").await?;
        let st = state(ctx)?;
        let rows = run::Entity::find()
            .filter(run::Column::InstanceId.eq(instance))
            .order_by_desc(run::Column::Id)
            .limit(limit(first)?)
            .all(&st.db)
            .await
            .map_err(ApiError::from)?;
        let target = format!("instance:{instance}");
        let rows = visibility::runs(&st.db, &st.policy, actor(ctx)?, &inst, rows, &target).await?;
        Ok(rows.into_iter().map(to_run).collect())
    }

    /// Deliveries of a run.
    async fn deliveries(&self, ctx: &Context<'_>, run: i64) -> Result<Vec<Delivery>> {
        let st = state(ctx)?;
        let row = run::Entity::find_by_id(run)
            .one(&st.db)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::NotFound(format!("run: no run {run}")))?;
        let inst = instance_for(ctx, row.instance_id, "read").await?;
        let rows = delivery::Entity::find()
            .filter(delivery::Column::RunId.eq(run))
            .order_by_asc(delivery::Column::Id)
            .all(&st.db)
            .await
            .map_err(ApiError::from)?;
        visible(ctx, &inst, rows, &format!("run:{run}")).await
    }

    /// Deliveries of an instance that exhausted their retries or failed permanently.
    async fn dead_letters(
        &self,
        ctx: &Context<'_>,
        instance: i64,
        first: Option<i32>,
    ) -> Result<Vec<Delivery>> {
        let inst = instance_for(ctx, instance, "read").await?;
        let rows = delivery::Entity::find()
            .filter(delivery::Column::InstanceId.eq(instance))
            .filter(delivery::Column::Status.eq("dead"))
            .order_by_desc(delivery::Column::Id)
            .limit(limit(first)?)
            .all(&state(ctx)?.db)
            .await
            .map_err(ApiError::from)?;
        visible(ctx, &inst, rows, &format!("instance:{instance}")).await
    }
}

#[derive(Default)]
pub struct RunMutation;

#[Object]
impl RunMutation {
    /// Gives dead letters one more attempt — by `ids`, or all of an `instance` — after checking
    /// that current policy and contracts still let their data reach the destination. Needs
    /// `replay` on each workflow, for its owner.
    async fn replay_dead_letters(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<i64>>,
        instance: Option<i64>,
    ) -> Result<Vec<ReplayResult>> {
        let st = state(ctx)?;
        let selection = match (ids, instance) {
            (Some(ids), None) => replay::Selection::Ids(ids),
            (None, Some(i)) => replay::Selection::Instance(i),
            _ => {
                return Err(ApiError::bad_input("ids", "give either `ids` or `instance`").into());
            }
        };
        let out = replay::replay(&st.db, &st.policy, actor(ctx)?, selection).await?;
        Ok(out
            .into_iter()
            .map(|r| ReplayResult {
                delivery: r.delivery_id,
                replayed: r.replayed,
                reason: r.reason,
            })
            .collect())
    }

    /// Lets a run waiting at an `approve` step continue. Needs `approve_run` on the workflow
    /// and a different person than the instance's owner (four eyes).
    async fn approve_run(&self, ctx: &Context<'_>, id: i64) -> Result<Run> {
        decide_run(ctx, id, true).await
    }

    /// Ends a run waiting at an `approve` step without delivering anything.
    async fn reject_run(&self, ctx: &Context<'_>, id: i64) -> Result<Run> {
        decide_run(ctx, id, false).await
    }

    /// Runs a scheduled instance (audience sync, reporting export) now instead of waiting for
    /// its schedule. Returns the tick it was queued for.
    async fn run_instance_now(&self, ctx: &Context<'_>, id: i64) -> Result<String> {
        let st = state(ctx)?;
        let act = actor(ctx)?;
        let target = format!("instance:{id}");
        let row = instance_to_change(ctx, id, "run", ("instance.run_now", &target)).await?;
        if row.status != "active" {
            return Err(
                ApiError::Conflict(format!("status: instance {id} is {}", row.status)).into(),
            );
        }
        if row.trigger_contract.is_some() {
            return Err(ApiError::bad_input(
                "id",
                "this instance runs on events, not on a schedule",
            )
            .into());
        }
        let tick = audit::now_string();
        let job = Job::V1(JobV1::Tick {
            instance_id: id,
            tick: tick.clone(),
        });
        let tx = crate::db::begin_write(&st.db)
            .await
            .map_err(ApiError::from)?;
        outbox::stage(&tx, vec![outbox::row(&job, chrono::Utc::now())])
            .await
            .map_err(ApiError::from)?;
        audit::record(
            &tx,
            act,
            Change {
                action: "instance.run_now".into(),
                target,
                before: None,
                after: Some(json!({ "tick": tick })),
            },
        )
        .await
        .map_err(ApiError::from)?;
        outbox::commit(tx).await.map_err(ApiError::from)?;
        Ok(tick)
    }
}

/// Approves (continues) or rejects a run parked at an `approve` step.
async fn decide_run(ctx: &Context<'_>, id: i64, approve: bool) -> Result<Run> {
    use sea_orm::{ActiveModelTrait, Set};
    let st = state(ctx)?;
    let act = actor(ctx)?;
    let verb = if approve { "run.approve" } else { "run.reject" };
    let target = format!("run:{id}");
    let row = run::Entity::find_by_id(id)
        .one(&st.db)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::NotFound(format!("id: no run {id}")))?;
    let inst = instance_to_change(ctx, row.instance_id, "approve_run", (verb, &target)).await?;
    if inst.owner == act.sub {
        audit::record_denied(&st.db, act, verb, &target)
            .await
            .map_err(ApiError::from)?;
        return Err(ApiError::Forbidden(
            "four eyes: the owner of the workflow cannot approve its runs".into(),
        )
        .into());
    }
    if row.status != "waiting_approval" {
        return Err(ApiError::Conflict(format!(
            "status: run {id} is {}, not waiting for approval",
            row.status
        ))
        .into());
    }
    let version = catalog::version(
        &st.db,
        Kind::Template,
        &inst.template,
        &inst.template_version,
    )
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("template version {}", inst.template_version)))?;
    let def: crate::catalog::definitions::TemplateDef =
        crate::catalog::definitions::typed(&version.definition)?;
    let index = def
        .steps
        .iter()
        .position(|s| Some(&s.id) == row.step.as_ref())
        .ok_or_else(|| ApiError::internal("the run's approve step is gone"))?;
    let tx = crate::db::begin_write(&st.db)
        .await
        .map_err(ApiError::from)?;
    if approve && let Some(event_id) = row.event_id.clone() {
        let job = Job::V1(JobV1::Run {
            instance_id: inst.id,
            event_id,
            from_step: Some(u32::try_from(index + 1).unwrap_or(u32::MAX)),
        });
        outbox::stage(&tx, vec![outbox::row(&job, chrono::Utc::now())])
            .await
            .map_err(ApiError::from)?;
    }
    let before = row.status.clone();
    let mut active: run::ActiveModel = row.into();
    active.status = Set(if approve { "running" } else { "rejected" }.into());
    active.detail = Set(Some(format!(
        "{} by {}",
        if approve { "approved" } else { "rejected" },
        act.sub
    )));
    if !approve {
        active.finished_at = Set(Some(audit::now_string()));
    }
    let updated = active.update(&tx).await.map_err(ApiError::from)?;
    audit::record(
        &tx,
        act,
        Change {
            action: verb.into(),
            target,
            before: Some(json!({ "status": before })),
            after: Some(json!({ "status": updated.status })),
        },
    )
    .await
    .map_err(ApiError::from)?;
    outbox::commit(tx).await.map_err(ApiError::from)?;
    Ok(to_run(updated))
}
