//! Runs, deliveries and dead letters of workflow instances, and what people do to them
//! (start a manual workflow, approve or reject a waiting run, run a scheduled instance now,
//! replay dead letters).
//! Everything here belongs to the instance's owner: reading needs `read` on
//! `workflow:<template>` with the caller's relation to that owner, and record values are shown
//! as `visibility` allows. The writes live in the runs service (`crate::runs`); resolvers only
//! map arguments and results.

use super::{actor, state};
use crate::access::{self, Ask};
use crate::error::ApiError;
use crate::policy::Owner;
use crate::runs::replay;
use crate::visibility;
use async_graphql::{Context, Object, Result, SimpleObject};
use entity::status::DeliveryStatus;
use entity::{delivery, instance, run};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;

/// One unit of work of an instance: an event it handled, or a scheduled sync.
#[derive(SimpleObject)]
pub struct Run {
    pub id: i64,
    pub instance: i64,
    pub event_id: Option<String>,
    /// `running`, `succeeded`, `skipped`, `rejected`, `failed`, `waiting`, `waiting_approval`
    /// or `expired`.
    pub status: String,
    /// The step the run stopped at, when it stopped early.
    pub step: Option<String>,
    /// Why it stopped or what it did, in words.
    pub detail: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// From the event being accepted to the run finishing its steps.
    pub latency_ms: Option<i64>,
    /// Who started it by hand (`startRun`); empty for event and scheduled runs.
    pub started_by: Option<String>,
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

pub(super) fn to_run(m: run::Model) -> Run {
    Run {
        id: m.id,
        instance: m.instance_id,
        event_id: m.event_id,
        status: m.status.as_str().to_string(),
        step: m.step,
        detail: m.detail,
        started_at: m.started_at,
        finished_at: m.finished_at,
        latency_ms: m.latency_ms,
        started_by: m.started_by,
    }
}

pub(super) fn to_delivery(m: delivery::Model) -> Delivery {
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
        status: m.status.as_str().to_string(),
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
            .filter(delivery::Column::Status.eq(DeliveryStatus::Dead.as_str()))
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
        let out = crate::runs::replay(st, actor(ctx)?, selection).await?;
        Ok(out
            .into_iter()
            .map(|r| ReplayResult {
                delivery: r.delivery_id,
                replayed: r.replayed,
                reason: r.reason,
            })
            .collect())
    }

    /// Lets a run waiting at an `approve` step continue. Needs `approve_run` on the workflow, a
    /// different person than the instance's owner (four eyes), and the step's role if it names one.
    async fn approve_run(&self, ctx: &Context<'_>, id: i64) -> Result<Run> {
        let run = crate::runs::decide(state(ctx)?, actor(ctx)?, id, true).await?;
        Ok(to_run(run))
    }

    /// Ends a run waiting at an `approve` step without delivering anything.
    async fn reject_run(&self, ctx: &Context<'_>, id: i64) -> Result<Run> {
        let run = crate::runs::decide(state(ctx)?, actor(ctx)?, id, false).await?;
        Ok(to_run(run))
    }

    /// Starts a run of a manual-trigger workflow (campaign approval) with `input` (a JSON
    /// object, default `{}`) as what its steps read as `event`. Needs `run` on the workflow;
    /// audited as `run.start`. Refused for workflows that start on events or on a schedule.
    /// The caller may not approve the run they started (four eyes).
    async fn start_run(
        &self,
        ctx: &Context<'_>,
        instance: i64,
        input: Option<Value>,
    ) -> Result<Run> {
        let run = crate::runs::start(state(ctx)?, actor(ctx)?, instance, input).await?;
        Ok(to_run(run))
    }

    /// Runs a scheduled instance (audience sync, reporting export) now instead of waiting for
    /// its schedule. Returns the tick it was queued for.
    async fn run_instance_now(&self, ctx: &Context<'_>, id: i64) -> Result<String> {
        Ok(crate::runs::run_now(state(ctx)?, actor(ctx)?, id).await?)
    }
}
