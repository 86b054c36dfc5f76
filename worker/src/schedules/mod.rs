//! Scheduled work. An apalis-cron worker ticks every 15 seconds; on each tick it stages, for
//! every active instance of a scheduled template, the most recent firing of the template's cron
//! expression (the job's dedupe key `tick:<instance>:<time>` makes that idempotent across
//! processes and restarts; the run's trigger key `tick:<time>` makes running it twice record
//! one run). Missed firings collapse into one: a sync sends differences, so catching up once is
//! enough.
//!
//! What a tick does depends on the template: an audience sync (`audience`), or an export of the
//! input contract's events since the last one (`export`), which gives each event a normal run.

pub mod audience;
pub mod export;

use crate::engine::Engine;
use crate::jobs::{Job, JobV1};
use crate::queue::{self, NewJob};
use apalis::prelude::*;
use entity::documents::template::{StepKind, Trigger};
use entity::status::RunStatus;
use entity::{instance, run};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};
use std::str::FromStr;
use std::sync::Arc;

/// The scheduler's own rhythm.
pub fn every_quarter_minute() -> cron::Schedule {
    // A constant, valid expression.
    cron::Schedule::from_str("*/15 * * * * *").unwrap_or_else(|_| unreachable!())
}

/// The latest firing of `expr` at or before `now`, looking back one week.
pub fn latest_firing(
    expr: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let schedule = cron::Schedule::from_str(expr).ok()?;
    schedule
        .after(&(now - chrono::Duration::days(7)))
        .take_while(|t| *t <= now)
        .last()
}

/// The apalis-cron handler: stages due ticks.
pub async fn on_tick(
    _tick: apalis_cron::Tick,
    engine: Data<Arc<Engine>>,
) -> Result<(), BoxDynError> {
    stage_due(&engine).await.map_err(Into::into)
}

async fn stage_due(engine: &Engine) -> Result<(), DbErr> {
    let now = chrono::Utc::now();
    let instances = instance::Entity::find()
        .filter(instance::Column::Status.eq("active"))
        .filter(instance::Column::TriggerContract.is_null())
        .all(&engine.db)
        .await?;
    let mut jobs = Vec::new();
    for inst in instances {
        let Ok(plan) = engine
            .plans
            .get(&engine.db, &inst.template, &inst.template_version)
            .await
        else {
            continue;
        };
        let Trigger::Schedule { cron } = &plan.def.trigger else {
            continue;
        };
        let Some(at) = latest_firing(cron, now) else {
            continue;
        };
        let created = entity::clock::parse(&inst.created_at).unwrap_or(now);
        if at < created {
            continue;
        }
        jobs.push(NewJob::run(
            Job::V1(JobV1::Tick {
                instance_id: inst.id,
                tick: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }),
            now,
        ));
    }
    if jobs.is_empty() {
        return Ok(());
    }
    let tx = crate::db::begin_write(&engine.db).await?;
    queue::stage(&tx, jobs).await?;
    tx.commit().await?;
    engine.wake.runs_queued();
    Ok(())
}

/// A scheduled run's row, created in `tx` unless it exists (then `None`: a repeated tick).
pub async fn new_run<C: ConnectionTrait>(
    tx: &C,
    inst: &instance::Model,
    trigger_key: &str,
    input: Option<String>,
) -> Result<Option<run::Model>, DbErr> {
    let row = run::ActiveModel {
        instance_id: Set(inst.id),
        event_id: Set(None),
        trigger_key: Set(trigger_key.to_string()),
        status: Set(RunStatus::Running),
        started_at: Set(entity::clock::now_string()),
        input: Set(input),
        ..Default::default()
    };
    match run::Entity::insert(row)
        .on_conflict_do_nothing_on([run::Column::InstanceId, run::Column::TriggerKey])
        .exec_with_returning(tx)
        .await?
    {
        sea_orm::TryInsertResult::Inserted(m) => Ok(Some(m)),
        _ => Ok(None),
    }
}

/// Ends a scheduled run with `status` and `detail` (and its decision record).
pub async fn end_run<C: ConnectionTrait>(
    tx: &C,
    run: &run::Model,
    status: RunStatus,
    detail: &str,
    record: &entity::documents::record::RunRecord,
) -> Result<(), DbErr> {
    use sea_orm::ActiveModelTrait;
    let mut active: run::ActiveModel = run.clone().into();
    active.status = Set(status);
    active.detail = Set(Some(detail.to_string()));
    active.decisions = Set(Some(record.to_json()));
    active.finished_at = Set(Some(entity::clock::now_string()));
    active.update(tx).await?;
    let mut tally = crate::health::Tally::default();
    tally.run(run.instance_id, status, false);
    tally.flush(tx).await?;
    metrics::counter!("switchyard_runs_total", "template" => "scheduled", "status" => status.as_str())
        .increment(1);
    Ok(())
}

/// Runs the scheduled work of `instance_id` for `tick`, in its own transaction.
pub async fn run_tick(
    engine: &Arc<Engine>,
    job: (i64, i32),
    instance_id: i64,
    tick: &str,
) -> Result<(), DbErr> {
    let Some(inst) = instance::Entity::find_by_id(instance_id)
        .one(&engine.db)
        .await?
    else {
        return finish_only(engine, job).await;
    };
    let plan = match engine
        .plans
        .get(&engine.db, &inst.template, &inst.template_version)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(instance = instance_id, error = %e, "scheduled run skipped");
            return finish_only(engine, job).await;
        }
    };
    let trigger_key = format!("tick:{tick}");
    let is_audience =
        plan.def.steps.iter().any(
            |s| matches!(&s.kind, StepKind::Deliver(c) if c.object.as_deref() == Some("segment")),
        );
    if inst.status != "active" {
        return ended(
            engine,
            job,
            &inst,
            &trigger_key,
            RunStatus::Skipped,
            &format!("the workflow is {}", inst.status),
        )
        .await;
    }
    if is_audience {
        return audience::sync(engine, job, &inst, &plan, &trigger_key, tick).await;
    }
    if plan.input_contract.as_deref() == Some(crate::alerts::notify::CONTRACT) {
        return crate::alerts::notify::tick(engine, job, &inst, &plan, &trigger_key).await;
    }
    match plan.input_contract.as_deref() {
        Some(c) if c.starts_with("event.") => export::export(engine, job, &inst, &trigger_key, c).await,
        _ => {
            ended(
                engine,
                job,
                &inst,
                &trigger_key,
                RunStatus::Failed,
                "this template's scheduled checks are evaluated by the alert rules; this run checked nothing",
            )
            .await
        }
    }
}

async fn finish_only(engine: &Engine, job: (i64, i32)) -> Result<(), DbErr> {
    let tx = crate::db::begin_write(&engine.db).await?;
    queue::finish(&tx, &engine.node, &[job]).await?;
    tx.commit().await
}

async fn ended(
    engine: &Engine,
    job: (i64, i32),
    inst: &instance::Model,
    trigger_key: &str,
    status: RunStatus,
    detail: &str,
) -> Result<(), DbErr> {
    let tx = crate::db::begin_write(&engine.db).await?;
    if queue::finish(&tx, &engine.node, &[job]).await?.is_empty() {
        return tx.commit().await;
    }
    if let Some(run) = new_run(&tx, inst, trigger_key, None).await? {
        end_run(&tx, &run, status, detail, &Default::default()).await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_firing_of_a_quarter_hour_schedule() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T10:22:31Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let at = latest_firing("0 */15 * * * *", now).expect("fires");
        assert_eq!(at.to_rfc3339(), "2026-11-27T10:15:00+00:00");
    }
}
