//! Scheduled work. An apalis-cron worker ticks every 15 seconds; on each tick it stages, for
//! every active instance of a scheduled template, the most recent firing of the template's
//! cron expression that has not been staged yet (the outbox key `tick:<instance>:<time>` makes
//! that idempotent across processes and restarts). Missed firings collapse into one: a sync
//! sends differences, so catching up once is enough.
//!
//! What a tick does depends on the template: an audience sync (`audience`) or an export of
//! the trigger contract's events since the last successful one (reporting export), which
//! fans each event out into a normal run.

use super::{Engine, outbox, runner};
use crate::audit::now_string;
use crate::catalog::definitions::Trigger;
use apalis::prelude::*;
use entity::{event, instance, sync_state};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::Value;
use std::str::FromStr;
use std::sync::Arc;
use worker::jobs::{Job, JobV1};

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

async fn stage_due(engine: &Engine) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let instances = instance::Entity::find()
        .filter(instance::Column::Status.eq("active"))
        .filter(instance::Column::TriggerContract.is_null())
        .all(&engine.db)
        .await?;
    let mut rows = Vec::new();
    for inst in instances {
        let plan = engine.plan(&inst.template, &inst.template_version).await?;
        let Trigger::Schedule { cron } = &plan.def.trigger else {
            continue;
        };
        let Some(at) = latest_firing(cron, now) else {
            continue;
        };
        let created = chrono::DateTime::parse_from_rfc3339(&inst.created_at)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or(now);
        if at < created {
            continue;
        }
        let job = Job::V1(JobV1::Tick {
            instance_id: inst.id,
            tick: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
        rows.push(outbox::row(&job, now));
    }
    if rows.is_empty() {
        return Ok(());
    }
    let tx = crate::db::begin_write(&engine.db).await?;
    outbox::stage(&tx, rows).await?;
    outbox::commit(tx).await?;
    Ok(())
}

/// Runs the scheduled work of `instance_id` for `tick`.
pub async fn run_tick(engine: &Engine, instance_id: i64, tick: &str) -> anyhow::Result<()> {
    let Some(inst) = instance::Entity::find_by_id(instance_id)
        .one(&engine.db)
        .await?
    else {
        return Ok(());
    };
    let trigger_key = format!("tick:{tick}");
    let run = runner::run_row(&engine.db, inst.id, None, &trigger_key).await?;
    if run.status != "running" {
        return super::deliver::attempt_new(engine, run.id).await;
    }
    let plan = engine.plan(&inst.template, &inst.template_version).await?;
    let is_audience = plan.def.steps.iter().any(|s| {
        s.step_type == "deliver"
            && s.config.get("object").and_then(Value::as_str) == Some("segment")
    });
    if inst.status != "active" {
        return finish_run(
            engine,
            &run,
            "skipped",
            &format!("instance is {}", inst.status),
        )
        .await;
    }
    if is_audience {
        return super::audience::sync(engine, &inst, &plan, &run, tick).await;
    }
    let Some(contract) = plan.def.reads.first().map(|r| r.contract.clone()) else {
        return finish_run(engine, &run, "skipped", "the template reads no contract").await;
    };
    if !contract.starts_with("event.") {
        return finish_run(
            engine,
            &run,
            "skipped",
            "scheduled checks of this template are not implemented yet",
        )
        .await;
    }
    export(engine, &inst, &run, &contract).await
}

async fn finish_run(
    engine: &Engine,
    run: &entity::run::Model,
    status: &str,
    detail: &str,
) -> anyhow::Result<()> {
    let mut active = run.clone().into_active_model();
    active.status = Set(status.to_string());
    active.detail = Set(Some(detail.to_string()));
    active.finished_at = Set(Some(now_string()));
    active.update(&engine.db).await?;
    Ok(())
}

/// Reporting export: every event of `contract` received since the last export (or within
/// `lookback_days`) becomes a run of this instance; each event is exported once per instance.
async fn export(
    engine: &Engine,
    inst: &instance::Model,
    run: &entity::run::Model,
    contract: &str,
) -> anyhow::Result<()> {
    let params: Value = serde_json::from_str(&inst.params).unwrap_or(Value::Null);
    let state = sync_state::Entity::find_by_id(inst.id)
        .one(&engine.db)
        .await?;
    let since = match state.as_ref().and_then(|s| s.last_success_at.clone()) {
        Some(t) => t,
        None => {
            let days = params
                .get("lookback_days")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            (chrono::Utc::now() - chrono::Duration::days(days))
                .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                .to_string()
        }
    };
    let started = now_string();
    let ids: Vec<String> = event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(event::Column::EventType.eq(contract))
        .filter(event::Column::ReceivedAt.gte(since.as_str()))
        .order_by_asc(event::Column::ReceivedAt)
        .limit(100_000)
        .into_tuple()
        .all(&engine.db)
        .await?;
    let now = chrono::Utc::now();
    let rows: Vec<_> = ids
        .iter()
        .map(|id| {
            let job = Job::V1(JobV1::Run {
                instance_id: inst.id,
                event_id: id.clone(),
                from_step: None,
            });
            outbox::row(&job, now)
        })
        .collect();
    let tx = crate::db::begin_write(&engine.db).await?;
    outbox::stage(&tx, rows).await?;
    let mut record = match state {
        Some(s) => s.into_active_model(),
        None => sync_state::ActiveModel {
            instance_id: Set(inst.id),
            audience_size: Set(0),
            ..Default::default()
        },
    };
    record.last_success_at = Set(Some(started));
    record.last_run_id = Set(Some(run.id));
    record.updated_at = Set(now_string());
    sync_state::Entity::insert(record.clone())
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(sync_state::Column::InstanceId)
                .update_columns([
                    sync_state::Column::LastSuccessAt,
                    sync_state::Column::LastRunId,
                    sync_state::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&tx)
        .await?;
    let mut active = run.clone().into_active_model();
    active.status = Set("succeeded".into());
    active.detail = Set(Some(format!(
        "{} {contract} events queued for export",
        ids.len()
    )));
    active.finished_at = Set(Some(now_string()));
    active.update(&tx).await?;
    outbox::commit(tx).await?;
    Ok(())
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
