//! Runs: evaluating a workflow's steps for an input and recording what they decided.
//!
//! A batch of run jobs is handled together: the instances, events and existing runs it needs
//! are read in one query each, every run is interpreted (`interpret`, one interpreter for event,
//! scheduled and manual runs), and everything is recorded in one transaction (`commit`).
//! Scheduled ticks (`crate::schedules`) and expiries take their own transactions.

pub mod cel;
pub mod commit;
pub mod emit;
pub mod fanout;
pub mod fields;
pub mod interpret;
pub mod plan;
pub mod steps;

use crate::engine::Engine;
use crate::jobs::{Job, JobV1};
use crate::queue::Claimed;
use commit::{RunRef, Work};
use entity::documents::template::{OnTimeout, StepKind};
use entity::status::RunStatus;
use entity::{event, instance, run};
use interpret::{Destinations, Input, Outcome};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Handles one batch of claimed run jobs.
pub async fn handle_batch(engine: Arc<Engine>, batch: Vec<Claimed>) -> Result<(), String> {
    let ids: Vec<i64> = batch.iter().map(|c| c.id).collect();
    let result = handle(&engine, batch).await;
    engine.unhold(ids);
    result.map_err(|e| e.to_string())
}

struct EventJob {
    job: (i64, i32),
    trace: Option<String>,
    instance_id: i64,
    event_id: String,
    from_step: Option<u32>,
}

async fn handle(engine: &Arc<Engine>, batch: Vec<Claimed>) -> Result<(), DbErr> {
    let mut events = Vec::new();
    let mut works = Vec::new();
    for c in batch {
        let job = (c.id, c.claims);
        match c.job {
            Job::V1(JobV1::Run {
                instance_id,
                event_id,
                from_step,
            }) => events.push(EventJob {
                job,
                trace: c.trace.clone(),
                instance_id,
                event_id,
                from_step,
            }),
            Job::V1(JobV1::Continue { run_id, from_step }) => {
                works.push(continue_run(engine, job, run_id, from_step).await?);
            }
            Job::V1(JobV1::Tick { instance_id, tick }) => {
                if let Err(e) = crate::schedules::run_tick(engine, job, instance_id, &tick).await {
                    tracing::warn!(instance = instance_id, tick = %tick, error = %e, "scheduled run failed; it will be retried");
                }
            }
            Job::V1(JobV1::Expire { run_id }) => expire(engine, job, run_id).await?,
            Job::V1(JobV1::Deliver { .. }) => {
                tracing::error!(job = c.id, "a delivery job reached the run consumer");
            }
        }
    }
    works.extend(event_runs(engine, events).await?);
    commit::record(engine, works).await
}

/// Interprets the runs of a batch of `Run` jobs.
async fn event_runs(engine: &Engine, jobs: Vec<EventJob>) -> Result<Vec<Work>, DbErr> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let db = &engine.db;
    let mut instance_ids: Vec<i64> = jobs.iter().map(|j| j.instance_id).collect();
    instance_ids.sort_unstable();
    instance_ids.dedup();
    let event_ids: Vec<&str> = jobs.iter().map(|j| j.event_id.as_str()).collect();
    let instances: HashMap<i64, instance::Model> = instance::Entity::find()
        .filter(instance::Column::Id.is_in(instance_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|i| (i.id, i))
        .collect();
    let events: HashMap<String, event::Model> = event::Entity::find()
        .filter(event::Column::Id.is_in(event_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id.clone(), e))
        .collect();
    // Only a job resuming from a step needs its run read first. Any other job's run is
    // recorded in the transaction that deletes the job, so a job claimed again after its lease
    // ran out has nothing recorded; a job staged again for the same event is interpreted again,
    // and its run insert (unique per instance and trigger) finds the run and records nothing.
    // Reading runs for every job cost a query whose plan, made while `runs` was small, became
    // a scan of the whole table as it grew (21 ms a batch at 20,000 runs).
    let resuming: Vec<&EventJob> = jobs.iter().filter(|j| j.from_step.is_some()).collect();
    let existing: HashMap<(i64, String), run::Model> = if resuming.is_empty() {
        HashMap::new()
    } else {
        let mut ids: Vec<i64> = resuming.iter().map(|j| j.instance_id).collect();
        ids.sort_unstable();
        ids.dedup();
        run::Entity::find()
            .filter(run::Column::InstanceId.is_in(ids))
            .filter(run::Column::TriggerKey.is_in(resuming.iter().map(|j| j.event_id.as_str())))
            .all(db)
            .await?
            .into_iter()
            .map(|r| ((r.instance_id, r.trigger_key.clone()), r))
            .collect()
    };
    let mut dests: HashMap<i64, Destinations> = HashMap::new();
    let mut works = Vec::with_capacity(jobs.len());
    for j in jobs {
        let (Some(inst), Some(ev)) = (instances.get(&j.instance_id), events.get(&j.event_id))
        else {
            works.push(Work::finish_only(j.job));
            continue;
        };
        let prior = existing.get(&(inst.id, j.event_id.clone()));
        let run = match (prior, j.from_step) {
            // A repeated job: the run is recorded already.
            (Some(_), None) => {
                works.push(Work::finish_only(j.job));
                continue;
            }
            (Some(r), Some(_)) if !matches!(r.status, RunStatus::Waiting | RunStatus::Running) => {
                works.push(Work::finish_only(j.job));
                continue;
            }
            (Some(r), Some(_)) => RunRef::Existing(r.clone()),
            (None, _) => RunRef::New {
                instance_id: inst.id,
                event_id: Some(ev.id.clone()),
                trigger_key: ev.id.clone(),
                accepted_at: ev.received_at.clone(),
                version: inst.template_version.clone(),
            },
        };
        let input = Input {
            payload: serde_json::from_str(&ev.payload).unwrap_or(Value::Null),
            accepted_at: ev.received_at.clone(),
            event_id: Some(ev.id.clone()),
            trigger_key: ev.id.clone(),
            chain: ev.chain(),
        };
        let span = tracing::info_span!("run", instance = inst.id, template = %inst.template, event = %ev.id);
        crate::trace::adopt(&span, j.trace.as_deref());
        let pinned = match &run {
            RunRef::Existing(r) => pinned(inst, r),
            RunRef::New { .. } => None,
        };
        let inst = pinned.as_ref().unwrap_or(inst);
        let outcome = {
            use tracing::Instrument;
            let run = async {
                let mut o =
                    evaluate(engine, inst, &mut dests, &input, j.from_step.unwrap_or(0)).await?;
                o.trace = crate::trace::current();
                Ok::<_, DbErr>(o)
            };
            run.instrument(span).await?
        };
        works.push(Work {
            job: j.job,
            result: Some((run, outcome, inst.template.clone())),
        });
    }
    Ok(works)
}

/// The outcome of running `inst`'s steps for `input` (a skipped run when it is not active).
pub async fn evaluate(
    engine: &Engine,
    inst: &instance::Model,
    dests: &mut HashMap<i64, Destinations>,
    input: &Input,
    from_step: u32,
) -> Result<Outcome, DbErr> {
    if inst.status != "active" {
        return Ok(Outcome::ended(
            RunStatus::Skipped,
            format!("the workflow is {}", inst.status),
        ));
    }
    let plan = match engine
        .plans
        .get(&engine.db, &inst.template, &inst.template_version)
        .await
    {
        Ok(p) => p,
        Err(e) => return Ok(Outcome::ended(RunStatus::Failed, e)),
    };
    let d = match dests.entry(inst.id) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(interpret::destinations(&engine.db, inst).await?)
        }
    };
    interpret::interpret(&engine.db, &plan, inst, d, input, from_step).await
}

/// `inst` as run `r` sees it: on the template version the run started on, when the workflow
/// has moved to another one since (`migrateInstance`); `None` when they are the same.
fn pinned(inst: &instance::Model, r: &run::Model) -> Option<instance::Model> {
    let v = r.template_version.as_ref()?;
    (*v != inst.template_version).then(|| instance::Model {
        template_version: v.clone(),
        ..inst.clone()
    })
}

/// `Continue { run_id, from_step }`: a manual start, or a run resumed after a delay or an
/// approval.
async fn continue_run(
    engine: &Engine,
    job: (i64, i32),
    run_id: i64,
    from_step: u32,
) -> Result<Work, DbErr> {
    let db = &engine.db;
    let Some(run) = run::Entity::find_by_id(run_id).one(db).await? else {
        return Ok(Work::finish_only(job));
    };
    if !matches!(run.status, RunStatus::Running | RunStatus::Waiting) {
        return Ok(Work::finish_only(job));
    }
    let Some(inst) = instance::Entity::find_by_id(run.instance_id)
        .one(db)
        .await?
    else {
        return Ok(Work::finish_only(job));
    };
    let (payload, accepted_at, chain) = match &run.event_id {
        Some(id) => match event::Entity::find_by_id(id.clone()).one(db).await? {
            Some(ev) => (
                serde_json::from_str(&ev.payload).unwrap_or(Value::Null),
                ev.received_at.clone(),
                ev.chain(),
            ),
            None => return Ok(Work::finish_only(job)),
        },
        None => (
            run.input
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or_else(|| Value::Object(serde_json::Map::new())),
            run.started_at.clone(),
            Vec::new(),
        ),
    };
    let input = Input {
        payload,
        accepted_at,
        event_id: run.event_id.clone(),
        trigger_key: run.trigger_key.clone(),
        chain,
    };
    let inst = pinned(&inst, &run).unwrap_or(inst);
    let outcome = evaluate(engine, &inst, &mut HashMap::new(), &input, from_step).await?;
    Ok(Work {
        job,
        result: Some((RunRef::Existing(run), outcome, inst.template)),
    })
}

/// `Expire { run_id }`: a run still waiting for approval at its deadline ends as its approve
/// step's `on_timeout` says (`rejected` or `expired`), and the workflow's owner is told.
async fn expire(engine: &Engine, job: (i64, i32), run_id: i64) -> Result<(), DbErr> {
    use sea_orm::{ActiveModelTrait, Set};
    let db = &engine.db;
    let tx = crate::db::begin_write(db).await?;
    let owned = crate::queue::finish(&tx, &engine.node, &[job]).await?;
    let run = run::Entity::find_by_id(run_id).one(&tx).await?;
    let due = run.as_ref().is_some_and(|r| {
        r.status == RunStatus::WaitingApproval
            && r.deadline_at
                .as_deref()
                .and_then(entity::clock::parse)
                .is_some_and(|d| d <= chrono::Utc::now())
    });
    if owned.is_empty() || !due {
        return tx.commit().await;
    }
    let Some(run) = run else {
        return tx.commit().await;
    };
    let inst = instance::Entity::find_by_id(run.instance_id)
        .one(&tx)
        .await?;
    // The approve step's `on_timeout` decides how the run ends: `rejected` or `expired`.
    let version = run
        .template_version
        .clone()
        .or_else(|| inst.as_ref().map(|i| i.template_version.clone()));
    let on_timeout = match (&inst, version) {
        (Some(i), Some(v)) => engine
            .plans
            .get(db, &i.template, &v)
            .await
            .ok()
            .and_then(|p| {
                p.def.steps.iter().find_map(|s| match &s.kind {
                    StepKind::Approve(c) if run.step.as_deref() == Some(s.id.as_str()) => {
                        Some(c.on_timeout)
                    }
                    _ => None,
                })
            }),
        _ => None,
    }
    .unwrap_or(OnTimeout::Expire);
    let (status, verb) = match on_timeout {
        OnTimeout::Reject => (RunStatus::Rejected, "rejected"),
        OnTimeout::Expire => (RunStatus::Expired, "expired"),
    };
    let detail = format!(
        "{verb}: nobody approved step {} before {}",
        run.step.clone().unwrap_or_default(),
        run.deadline_at.clone().unwrap_or_default()
    );
    let mut active: run::ActiveModel = run.clone().into();
    active.status = Set(status);
    active.detail = Set(Some(detail.clone()));
    active.finished_at = Set(Some(entity::clock::now_string()));
    active.update(&tx).await?;
    let mut tally = crate::health::Tally::default();
    tally.run(run.instance_id, status, false);
    tally.flush(&tx).await?;
    if let Some(inst) = inst {
        // The workflow's owner, and whoever started the run by hand if that is someone else.
        let mut recipients = vec![inst.owner.clone()];
        if let Some(starter) = &run.started_by
            && *starter != inst.owner
        {
            recipients.push(starter.clone());
        }
        for recipient in recipients {
            entity::notification::ActiveModel {
                recipient: Set(recipient),
                topic: Set("approval_expired".into()),
                target: Set(format!("run:{}", run.id)),
                message: Set(format!(
                    "Run {} of workflow '{}' {detail}",
                    run.id, inst.name
                )),
                created_at: Set(entity::clock::now_string()),
                ..Default::default()
            }
            .insert(&tx)
            .await?;
        }
    }
    tx.commit().await
}
